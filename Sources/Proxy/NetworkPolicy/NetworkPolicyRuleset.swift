/// One family's compiled NetworkPolicy table: its two policy chains (rules change only when
/// policies change) and its named sets with their elements (pod addresses, which change as pods
/// come and go). Planning a transaction is a pure function of the old and the new ruleset.
public struct NetworkPolicyRuleset: Equatable, Sendable {
    public var family: IPFamily
    /// The regular chains `egress` and `ingress`, rules in order.
    public var chains: [NFTChain]
    /// Every named set, by name.
    public var sets: [String: NFTSet]
    /// Each set's elements (`10.42.0.5`, `10.42.0.5 . 8080`, `10.42.0.5 . 10.42.0.5`).
    public var elements: [String: Set<String>]

    public init(
        family: IPFamily, chains: [NFTChain] = [], sets: [String: NFTSet] = [:], elements: [String: Set<String>] = [:]
    ) {
        self.family = family
        self.chains = chains
        self.sets = sets
        self.elements = elements
    }

    public func chain(_ name: String) -> [String]? { chains.first { $0.name == name }?.rules }

    var writer: NFTWriter { NFTWriter(family: family, table: NetworkPolicyRules.table) }

    /// A transaction that makes the table exactly this ruleset: an existing table of ours is
    /// deleted in the same transaction, so the kernel never holds a half-written one.
    public func planFull() -> String {
        let w = writer
        var lines = ["add table \(w.prefix)", "delete table \(w.prefix)", "add table \(w.prefix)"]
        for name in sets.keys.sorted() { lines.append(w.addSet(sets[name]!)) }
        for name in sets.keys.sorted() { lines += addElements(name, elements[name] ?? []) }
        for c in chains { lines.append(w.addChain(c.name, comment: c.comment)) }
        lines.append(
            "add chain \(w.prefix) \(NetworkPolicyRules.forward) { type filter hook forward priority "
                + "\(NetworkPolicyRules.forwardPriority) ; policy accept ; }")
        for c in chains {
            for r in c.rules { lines.append(w.addRule(c.name, r)) }
        }
        for r in NetworkPolicyRules.forwardRules(family) { lines.append(w.addRule(NetworkPolicyRules.forward, r)) }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The transaction from `self` (what the kernel holds) to `new`: sets that appear are added,
    /// elements added and deleted, a chain whose rules differ is flushed and written again, and sets
    /// no rule names any more are deleted last. When only pods changed, only elements change.
    public func planUpdate(to new: NetworkPolicyRuleset) -> String {
        let w = writer
        var lines: [String] = []
        for name in new.sets.keys.sorted() where sets[name] == nil { lines.append(w.addSet(new.sets[name]!)) }
        for name in new.sets.keys.sorted() {
            let want = new.elements[name] ?? []
            let have = sets[name] == nil ? [] : (elements[name] ?? [])
            lines += deleteElements(name, have.subtracting(want))
            lines += addElements(name, want.subtracting(have))
        }
        let old = Dictionary(chains.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for c in new.chains where old[c.name] != c {
            if old[c.name] == nil {
                lines.append(w.addChain(c.name, comment: c.comment))
            } else {
                lines.append(w.flushChain(c.name))
            }
            for r in c.rules { lines.append(w.addRule(c.name, r)) }
        }
        for name in sets.keys.sorted() where new.sets[name] == nil { lines.append(w.deleteSet(name)) }
        return lines.isEmpty ? "" : lines.joined(separator: "\n") + "\n"
    }

    /// Deletes the table (an absent one is no error).
    public static func planCleanup(family: IPFamily) -> String {
        let prefix = "\(family.nft) \(NetworkPolicyRules.table)"
        return "add table \(prefix)\ndelete table \(prefix)\n"
    }

    func addElements(_ set: String, _ items: Set<String>) -> [String] {
        items.isEmpty ? [] : ["add element \(writer.prefix) \(set) { \(items.sorted().joined(separator: ", ")) }"]
    }

    func deleteElements(_ set: String, _ items: Set<String>) -> [String] {
        items.isEmpty ? [] : ["delete element \(writer.prefix) \(set) { \(items.sorted().joined(separator: ", ")) }"]
    }
}
