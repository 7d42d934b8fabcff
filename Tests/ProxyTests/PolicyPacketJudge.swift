@testable import Proxy

/// A packet of a new connection, as the forward hook sees it.
struct PolicyPacket: CustomStringConvertible, Sendable {
    var src: String
    var dst: String
    var proto: String
    var port: Int

    init(_ src: String, _ dst: String, proto: String = "tcp", port: Int = 80) {
        self.src = src
        self.dst = dst
        self.proto = proto
        self.port = port
    }

    var description: String { "\(src) → \(dst) \(proto)/\(port)" }
}

/// Walks a compiled NetworkPolicy table for one new packet the way nft would: the forward chain's
/// self rule, then `egress`, then `ingress`, each rule's matches in order, `return` leaving the
/// chain, `drop` ending it. It reads only the rule forms the compiler writes and fails on others,
/// so a new form cannot pass unjudged.
enum PolicyPacketJudge {
    struct Unknown: Error, CustomStringConvertible {
        var description: String
    }

    static func allows(_ rs: NetworkPolicyRuleset, _ p: PolicyPacket) throws -> Bool {
        if rs.elements[NetworkPolicyRules.localSelf]?.contains("\(p.src) . \(p.dst)") == true { return true }
        for chain in [NetworkPolicyRules.egress, NetworkPolicyRules.ingress] {
            guard let rules = rs.chain(chain) else { throw Unknown(description: "no chain \(chain)") }
            if try !run(rules, rs, p) { return false }
        }
        return true
    }

    /// Whether the chain lets the packet on (returns, or runs out of rules) rather than dropping it.
    static func run(_ rules: [String], _ rs: NetworkPolicyRuleset, _ p: PolicyPacket) throws -> Bool {
        for rule in rules {
            var text = rule
            if let r = text.range(of: " comment \"") { text = String(text[..<r.lowerBound]) }
            var tokens = text.split(separator: " ").map(String.init)
            let verdict = tokens.removeLast()
            guard try matches(tokens, rs, p) else { continue }
            switch verdict {
            case "return": return true
            case "drop": return false
            default: throw Unknown(description: "verdict \(verdict)")
            }
        }
        return true
    }

    static func matches(_ t: [String], _ rs: NetworkPolicyRuleset, _ p: PolicyPacket) throws -> Bool {
        var i = 0
        func next() throws -> String {
            guard i < t.count else { throw Unknown(description: "rule ends early: \(t)") }
            defer { i += 1 }
            return t[i]
        }
        while i < t.count {
            let word = try next()
            switch word {
            case "ip", "ip6":
                let field = try next()
                guard field == "saddr" || field == "daddr" else { throw Unknown(description: field) }
                let addr = field == "saddr" ? p.src : p.dst
                var value = try next()
                if value == "." {
                    // `ip daddr . th dport @set`
                    guard try next() == "th", try next() == "dport" else { throw Unknown(description: "\(t)") }
                    let set = try next()
                    guard set.hasPrefix("@") else { throw Unknown(description: set) }
                    if !["tcp", "udp", "sctp"].contains(p.proto) { return false }
                    if rs.elements[String(set.dropFirst())]?.contains("\(addr) . \(p.port)") != true { return false }
                    continue
                }
                var negate = false
                if value == "!=" {
                    negate = true
                    value = try next()
                }
                var hit: Bool
                if value.hasPrefix("@") {
                    guard let items = rs.elements[String(value.dropFirst())] else {
                        throw Unknown(description: "no set \(value)")
                    }
                    hit = items.contains(addr)
                } else if value == "{" {
                    hit = false
                    while true {
                        let item = try next()
                        if item == "}" { break }
                        hit = try hit || contains(item.hasSuffix(",") ? String(item.dropLast()) : item, addr)
                    }
                } else {
                    hit = try contains(value, addr)
                }
                if hit == negate { return false }
            case "meta":
                guard try next() == "l4proto" else { throw Unknown(description: "\(t)") }
                if try next() != p.proto { return false }
            case "th":
                guard try next() == "dport" else { throw Unknown(description: "\(t)") }
                let v = try next()
                let bounds = v.split(separator: "-").compactMap { Int($0) }
                guard !bounds.isEmpty else { throw Unknown(description: v) }
                if p.port < bounds[0] || p.port > bounds[bounds.count - 1] { return false }
            default:
                throw Unknown(description: "match \(word) in \(t)")
            }
        }
        return true
    }

    /// Whether an IPv4 CIDR (or address) holds an address; an address of the other family never.
    static func contains(_ cidr: String, _ addr: String) throws -> Bool {
        let parts = cidr.split(separator: "/")
        guard let net = v4(String(parts[0])) else { throw Unknown(description: "CIDR \(cidr)") }
        guard let a = v4(addr) else { return false }
        let bits = parts.count > 1 ? Int(parts[1]) ?? 32 : 32
        let mask: UInt32 = bits == 0 ? 0 : ~UInt32(0) << (32 - bits)
        return a & mask == net & mask
    }

    static func v4(_ s: String) -> UInt32? {
        let o = s.split(separator: ".").compactMap { UInt32($0) }
        guard o.count == 4, o.allSatisfy({ $0 < 256 }) else { return nil }
        return o.reduce(0) { $0 << 8 | $1 }
    }
}
