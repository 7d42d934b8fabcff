/// What one family's proxier last applied to the kernel: each Service's rules, the shared
/// sets' and maps' elements (key → value and owning Service), and chains flushed because no
/// Service uses them any more, waiting to be deleted. Planning a sync is a pure function of this
/// state and the new rules; the shell applies the plan's script and then keeps `plan.next`.
public struct ProxierState: Equatable, Sendable {
    public struct Owned: Equatable, Sendable {
        public var value: String?
        public var owner: String
    }

    /// Rules per Service (`namespace/name`).
    public var services: [String: ServiceRules] = [:]
    /// Elements per container (`service-ips`, …), by key.
    public var elements: [String: [String: Owned]] = [:]
    /// Stale chains and when (seconds on the caller's clock) they were flushed.
    public var staleChains: [String: Double] = [:]

    public init() {}
}

/// One `nft -f` transaction and the state the kernel holds once it succeeds.
public struct SyncPlan: Sendable {
    public var script: String
    public var next: ProxierState
    /// Chains the script writes (added, or flushed and written again).
    public var writtenChains: Set<String>
    /// Chains the script flushes because they are no longer used.
    public var flushedStaleChains: Set<String>
}

extension ProxierState {
    /// A full sync: the fixed setup, every Service's chains made (or flushed) and written, every
    /// shared set and map refilled, affinity sets added (kept with their entries when they
    /// exist), then chains and affinity sets listed in the table that no Service uses any more
    /// flushed (chains, deleted later) or deleted (sets).
    public static func planFull(
        settings: ProxierSettings, services: [String: ServiceRules], existingChains: [String],
        existingSets: [String], recreateBaseChains: Bool, deleteTableFirst: Bool = false, now: Double
    ) -> SyncPlan {
        let w = NFTWriter(family: settings.family)
        var lines: [String] = []
        if deleteTableFirst {
            lines.append("add table \(w.prefix)")
            lines.append("delete table \(w.prefix)")
        }
        lines += ProxyRules.setup(settings, recreateBaseChains: recreateBaseChains || deleteTableFirst)
        var next = ProxierState()
        next.services = services
        var written: Set<String> = []
        let names = services.keys.sorted()
        for n in names {
            for set in services[n]!.sets { lines.append(w.addSet(set)) }
        }
        for n in names {
            for c in services[n]!.chains {
                lines.append(w.addChain(c.name, comment: c.comment))
                lines.append(w.flushChain(c.name))
                written.insert(c.name)
            }
        }
        for n in names {
            for c in services[n]!.chains {
                for rule in c.rules { lines.append(w.addRule(c.name, rule)) }
            }
        }
        for n in names {
            for e in services[n]!.elements where next.elements[e.container]?[e.key] == nil {
                next.elements[e.container, default: [:]][e.key] = Owned(value: e.value, owner: n)
                lines.append(w.addElement(e))
            }
        }
        var flushed: Set<String> = []
        if !deleteTableFirst {
            for c in existingChains where ProxyRules.isServiceChain(c) && !written.contains(c) {
                lines.append(w.flushChain(c))
                flushed.insert(c)
                next.staleChains[c] = now
            }
            let wantedSets = Set(services.values.flatMap { $0.sets.map(\.name) })
            for s in existingSets where ProxyRules.isAffinitySet(s) && !wantedSets.contains(s) {
                lines.append(w.deleteSet(s))
            }
        }
        return SyncPlan(
            script: lines.joined(separator: "\n") + "\n", next: next, writtenChains: written,
            flushedStaleChains: flushed)
    }

    /// A partial sync: only the Services in `changes` (new rules, or nil once gone) are compared
    /// with what was applied for them; their new or different chains are written, their unused
    /// chains flushed (and deleted by a later `planStaleChainDeletion`), their elements in the
    /// shared maps added, replaced or deleted, and their unused affinity sets deleted. Nothing of
    /// any other Service is touched.
    public func planPartial(settings: ProxierSettings, changes: [String: ServiceRules?], now: Double) -> SyncPlan {
        let w = NFTWriter(family: settings.family)
        var next = self
        var addSets: [String] = []
        var addChains: [String] = []
        var flushes: [String] = []
        var rules: [String] = []
        var elementDeletes: [String] = []
        var elementAdds: [String] = []
        var deleteSets: [String] = []
        var written: Set<String> = []
        var flushedStale: Set<String> = []

        for name in changes.keys.sorted() {
            let old = services[name] ?? ServiceRules()
            let new = (changes[name] ?? nil) ?? ServiceRules()
            let oldChains = Dictionary(old.chains.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
            let newChainNames = new.chainNames
            let oldSets = Dictionary(old.sets.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
            let newSets = Dictionary(new.sets.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
            // A changed affinity set is deleted and made again, so every chain of the Service
            // (the ones that name it) is emptied first.
            let setChanged = newSets.contains { oldSets[$0.key] != nil && oldSets[$0.key] != $0.value }

            for s in new.sets where oldSets[s.name] == nil { addSets.append(w.addSet(s)) }
            for c in new.chains {
                if let was = oldChains[c.name] {
                    guard was != c || setChanged else { continue }
                    flushes.append(w.flushChain(c.name))
                } else {
                    addChains.append(w.addChain(c.name, comment: c.comment))
                    if next.staleChains.removeValue(forKey: c.name) != nil { flushes.append(w.flushChain(c.name)) }
                }
                written.insert(c.name)
                for r in c.rules { rules.append(w.addRule(c.name, r)) }
            }
            for c in old.chains where !newChainNames.contains(c.name) {
                flushes.append(w.flushChain(c.name))
                flushedStale.insert(c.name)
                next.staleChains[c.name] = now
            }
            for (n, s) in newSets where oldSets[n] != nil && oldSets[n] != s {
                // Deleted after the flushes above, added again before the rules that use it.
                flushes.append(w.deleteSet(n))
                flushes.append(w.addSet(s))
            }
            for s in old.sets where newSets[s.name] == nil { deleteSets.append(w.deleteSet(s.name)) }

            // Elements: keys this Service owned and no longer wants go; new or changed ones come.
            var wanted: [String: [String: NFTElement]] = [:]
            for e in new.elements where wanted[e.container]?[e.key] == nil {
                wanted[e.container, default: [:]][e.key] = e
            }
            for e in old.elements {
                guard next.elements[e.container]?[e.key]?.owner == name else { continue }
                if let want = wanted[e.container]?[e.key], want.value == next.elements[e.container]?[e.key]?.value {
                    continue
                }
                elementDeletes.append(w.deleteElement(container: e.container, key: e.key))
                next.elements[e.container]?[e.key] = nil
            }
            for container in wanted.keys.sorted() {
                for (key, e) in wanted[container]!.sorted(by: { $0.key < $1.key }) {
                    if let have = next.elements[container]?[key] {
                        if have.owner == name && have.value == e.value { continue }
                        if have.owner != name {
                            // Another Service holds the key (a shared external IP and port): theirs stays.
                            continue
                        }
                    }
                    next.elements[container, default: [:]][key] = Owned(value: e.value, owner: name)
                    elementAdds.append(w.addElement(e))
                }
            }
            if let n = changes[name] ?? nil { next.services[name] = n } else { next.services[name] = nil }
        }
        let lines = addSets + addChains + flushes + rules + elementDeletes + elementAdds + deleteSets
        return SyncPlan(
            script: lines.isEmpty ? "" : lines.joined(separator: "\n") + "\n", next: next, writtenChains: written,
            flushedStaleChains: flushedStale)
    }

    /// Deletes chains flushed at least `age` seconds ago (upstream waits: kernels before 6.2 see a
    /// chain as still referenced for a moment after the map element pointing at it is deleted).
    public func planStaleChainDeletion(settings: ProxierSettings, now: Double, age: Double = 1) -> SyncPlan {
        let w = NFTWriter(family: settings.family)
        var next = self
        var lines: [String] = []
        for (c, at) in staleChains.sorted(by: { $0.key < $1.key }) where now - at >= age {
            lines.append(w.deleteChain(c))
            next.staleChains[c] = nil
        }
        return SyncPlan(
            script: lines.isEmpty ? "" : lines.joined(separator: "\n") + "\n", next: next, writtenChains: [],
            flushedStaleChains: [])
    }
}
