import APICore
import APIMachinery

extension InterPodAffinity {
    /// What Filter reads: per topology pair, how many placed pods' required anti-affinity terms
    /// match the incoming pod, and how many placed pods match its required affinity (all terms)
    /// and anti-affinity (each term).
    final class PreFilterState: StateData {
        var existingAntiAffinity: TopologyCounts
        var affinity: TopologyCounts
        var antiAffinity: TopologyCounts
        let affinityTerms: [IncomingTerm]
        let antiAffinityTerms: [IncomingTerm]
        /// The incoming pod matches all its own affinity terms (it may start its own group).
        let matchesOwnAffinity: Bool
        /// Labels of the incoming pod's namespace, for placed pods' namespace selectors.
        let namespaceLabels: [String: String]
        let fetchNamespace: @Sendable (String) -> [String: String]?

        init(
            existingAntiAffinity: TopologyCounts, affinity: TopologyCounts, antiAffinity: TopologyCounts,
            affinityTerms: [IncomingTerm], antiAffinityTerms: [IncomingTerm], matchesOwnAffinity: Bool,
            namespaceLabels: [String: String], fetchNamespace: @escaping @Sendable (String) -> [String: String]?
        ) {
            self.existingAntiAffinity = existingAntiAffinity
            self.affinity = affinity
            self.antiAffinity = antiAffinity
            self.affinityTerms = affinityTerms
            self.antiAffinityTerms = antiAffinityTerms
            self.matchesOwnAffinity = matchesOwnAffinity
            self.namespaceLabels = namespaceLabels
            self.fetchNamespace = fetchNamespace
        }

        func clone() -> StateData {
            PreFilterState(
                existingAntiAffinity: existingAntiAffinity, affinity: affinity, antiAffinity: antiAffinity,
                affinityTerms: affinityTerms, antiAffinityTerms: antiAffinityTerms,
                matchesOwnAffinity: matchesOwnAffinity, namespaceLabels: namespaceLabels,
                fetchNamespace: fetchNamespace)
        }

        /// Counts `other` (placed on a node with these labels) in or out.
        func update(_ incoming: PodInfo, _ other: PodInfo, _ labels: [String: String], _ delta: Int64) {
            for t in other.requiredAntiAffinity where t.matches(incoming: incoming, namespaceLabels: namespaceLabels) {
                existingAntiAffinity.add(labels, t.topologyKey, delta)
            }
            var ns = NamespaceLabels(fetchNamespace)
            if InterPodAffinity.matchesAll(affinityTerms, other, &ns) {
                for t in affinityTerms { affinity.add(labels, t.term.topologyKey, delta) }
            }
            for t in antiAffinityTerms where t.matches(other, &ns) {
                antiAffinity.add(labels, t.term.topologyKey, delta)
            }
        }
    }

    /// Does the pod match every term (and there is at least one)?
    static func matchesAll(_ terms: [IncomingTerm], _ pod: PodInfo, _ ns: inout NamespaceLabels) -> Bool {
        if terms.isEmpty { return false }
        for t in terms where !t.matches(pod, &ns) { return false }
        return true
    }

    public func preFilter(_ state: CycleState, _ pod: PodInfo, _ snapshot: Snapshot) -> (PreFilterResult?, Status?) {
        if pod.parseError {
            return (nil, Status(.unschedulableAndUnresolvable, Self.parseErrorMessage(pod.pod)))
        }
        let fetch = snapshot.namespaceLabels
        let nsLabels = fetch(pod.namespace) ?? [:]

        // Placed pods whose required anti-affinity the incoming pod would violate.
        var existing = TopologyCounts()
        for ni in snapshot.havePodsWithRequiredAntiAffinityList {
            guard ni.hasNode else { continue }
            let labels = ni.labels
            for p in ni.podsWithRequiredAntiAffinity {
                for t in p.requiredAntiAffinity where t.matches(incoming: pod, namespaceLabels: nsLabels) {
                    existing.add(labels, t.topologyKey, 1)
                }
            }
        }

        // Placed pods matching the incoming pod's required terms.
        let affinityTerms = pod.requiredAffinity.map(IncomingTerm.init)
        let antiTerms = pod.requiredAntiAffinity.map(IncomingTerm.init)
        var affinity = TopologyCounts()
        var anti = TopologyCounts()
        var ns = NamespaceLabels(fetch)
        if !affinityTerms.isEmpty || !antiTerms.isEmpty {
            for ni in snapshot.nodeInfoList {
                guard ni.hasNode else { continue }
                let labels = ni.labels
                for p in ni.pods {
                    if Self.matchesAll(affinityTerms, p, &ns) {
                        for t in affinityTerms { affinity.add(labels, t.term.topologyKey, 1) }
                    }
                    for t in antiTerms where t.matches(p, &ns) { anti.add(labels, t.term.topologyKey, 1) }
                }
            }
        }

        if existing.isEmpty && affinityTerms.isEmpty && antiTerms.isEmpty { return (nil, .skip) }
        let matchesOwn = Self.matchesAll(affinityTerms, pod, &ns)
        state.write(
            PreFilterState(
                existingAntiAffinity: existing, affinity: affinity, antiAffinity: anti, affinityTerms: affinityTerms,
                antiAffinityTerms: antiTerms, matchesOwnAffinity: matchesOwn, namespaceLabels: nsLabels,
                fetchNamespace: fetch))
        return (nil, nil)
    }

    public func addPod(_ state: CycleState, _ pod: PodInfo, _ other: PodInfo, on node: NodeInfo) {
        guard let s = state.read(PreFilterState.self), node.hasNode else { return }
        let labels = node.labels
        s.update(pod, other, labels, 1)
    }

    public func removePod(_ state: CycleState, _ pod: PodInfo, _ other: PodInfo, on node: NodeInfo) {
        guard let s = state.read(PreFilterState.self), node.hasNode else { return }
        let labels = node.labels
        s.update(pod, other, labels, -1)
    }

    public func filter(_ state: CycleState, _ pod: PodInfo, _ node: NodeInfo) -> Status? {
        guard let s = state.read(PreFilterState.self) else {
            return .error("reading \"PreFilterInterPodAffinity\" from cycleState: not found")
        }
        guard node.hasNode else { return .error("node not found") }
        let labels = node.labels
        if !Self.satisfiesAffinity(s, labels) { return Self.affinityRulesNotMatch }
        if !s.antiAffinity.isEmpty {
            for t in s.antiAffinityTerms {
                if let v = labels[t.term.topologyKey],
                    s.antiAffinity[TopologyPair(key: t.term.topologyKey, value: v)] > 0
                {
                    return Self.antiAffinityRulesNotMatch
                }
            }
        }
        if !s.existingAntiAffinity.isEmpty && s.existingAntiAffinity.anyPositive(labels) {
            return Self.existingAntiAffinityRulesNotMatch
        }
        return nil
    }

    /// Every affinity term's topology key is on the node and its domain holds a matching pod; or no
    /// pod matches anywhere yet and the pod matches its own terms (the first of a group).
    static func satisfiesAffinity(_ s: PreFilterState, _ labels: [String: String]) -> Bool {
        var podsExist = true
        for t in s.affinityTerms {
            guard let v = labels[t.term.topologyKey] else { return false }
            if s.affinity[TopologyPair(key: t.term.topologyKey, value: v)] <= 0 { podsExist = false }
        }
        if podsExist { return true }
        return s.affinity.isEmpty && s.matchesOwnAffinity
    }
}
