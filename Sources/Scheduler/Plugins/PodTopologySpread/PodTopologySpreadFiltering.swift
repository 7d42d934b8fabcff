import APICore
import APIMachinery

/// The two domains with the fewest matching pods seen for a constraint: `first` always holds the
/// minimum; `second` is at least as large (not necessarily the second smallest). Two suffice
/// because preemption changes the counts of one node at a time, on its own copy of the state.
struct CriticalPaths {
    var first: (value: String, num: Int) = ("", Int(Int32.max))
    var second: (value: String, num: Int) = ("", Int(Int32.max))

    mutating func update(_ value: String, _ num: Int) {
        if value == first.value || value == second.value {
            if value == first.value { first.num = num } else { second.num = num }
            if first.num > second.num { swap(&first, &second) }
        } else if num < first.num {
            second = first
            first = (value, num)
        } else if num < second.num {
            second = (value, num)
        }
    }
}

extension PodTopologySpread {
    /// What Filter reads: per hard constraint, the matching pods of each eligible domain and the
    /// domains with the fewest.
    final class PreFilterState: StateData {
        let constraints: [SpreadConstraint]
        /// Does the incoming pod itself match each constraint's selector?
        let selfMatch: [Bool]
        /// Per constraint: topology value → matching pods (every eligible domain has an entry).
        var matchNum: [[String: Int]]
        var paths: [CriticalPaths]

        init(_ constraints: [SpreadConstraint], selfMatch: [Bool], matchNum: [[String: Int]], paths: [CriticalPaths]) {
            self.constraints = constraints
            self.selfMatch = selfMatch
            self.matchNum = matchNum
            self.paths = paths
        }

        func clone() -> StateData {
            PreFilterState(constraints, selfMatch: selfMatch, matchNum: matchNum, paths: paths)
        }

        /// The global minimum of a constraint's skew; 0 while fewer domains than `minDomains` exist.
        @inline(__always)
        func minMatchNum(_ i: Int) -> Int {
            matchNum[i].count < Int(constraints[i].minDomains) ? 0 : paths[i].first.num
        }
    }

    public func preFilter(_ state: CycleState, _ pod: PodInfo, _ snapshot: Snapshot) -> (PreFilterResult?, Status?) {
        let constraints: [SpreadConstraint]
        switch self.constraints(of: pod.pod, action: Self.doNotSchedule) {
        case .success(let c): constraints = c
        case .failure(let e): return (nil, .error("get constraints from pod: \(e)"))
        }
        if constraints.isEmpty { return (nil, .skip) }

        let ns = pod.namespace
        let inclusion = InclusionCheck(pod.pod, constraints)
        var matchNum = [[String: Int]](repeating: [:], count: constraints.count)
        for ni in snapshot.nodeInfoList {
            guard let node = ni.node else { continue }
            let labels = node.metadata.labels
            // Only nodes carrying every topology key form domains.
            guard Self.hasAllKeys(labels, constraints) else { continue }
            var memo = InclusionCheck.Node()
            for (i, c) in constraints.enumerated() {
                if inclusion.needed && !inclusion.includes(c, node, &memo) { continue }
                let count = Self.countMatching(ni.pods, c.selector, namespace: ns)
                matchNum[i][labels[c.topologyKey]!, default: 0] += count
            }
        }
        var paths = [CriticalPaths](repeating: CriticalPaths(), count: constraints.count)
        for i in constraints.indices {
            for (value, num) in matchNum[i] { paths[i].update(value, num) }
        }
        let selfMatch = constraints.map { $0.selector.matches(pod.labels) }
        state.write(PreFilterState(constraints, selfMatch: selfMatch, matchNum: matchNum, paths: paths))
        return (nil, nil)
    }

    public func addPod(_ state: CycleState, _ pod: PodInfo, _ other: PodInfo, on node: NodeInfo) {
        update(state, pod, other, node, delta: 1)
    }

    public func removePod(_ state: CycleState, _ pod: PodInfo, _ other: PodInfo, on node: NodeInfo) {
        update(state, pod, other, node, delta: -1)
    }

    /// Counts `other` in (or out of) its node's domains, for the constraints it matches and that
    /// count the node.
    func update(_ state: CycleState, _ pod: PodInfo, _ other: PodInfo, _ ni: NodeInfo, delta: Int) {
        guard let s = state.read(PreFilterState.self), other.namespace == pod.namespace, let node = ni.node else {
            return
        }
        let labels = node.metadata.labels
        guard Self.hasAllKeys(labels, s.constraints) else { return }
        let inclusion = InclusionCheck(pod.pod, s.constraints)
        var memo = InclusionCheck.Node()
        for (i, c) in s.constraints.enumerated() {
            if !c.selector.matches(other.labels) { continue }
            if inclusion.needed && !inclusion.includes(c, node, &memo) { continue }
            let v = labels[c.topologyKey]!
            let n = s.matchNum[i][v, default: 0] + delta
            s.matchNum[i][v] = n
            s.paths[i].update(v, n)
        }
    }

    /// Placing the pod here must keep `matching here + itself − global minimum` within `maxSkew`
    /// for every hard constraint; a node without a constraint's topology key cannot take it.
    public func filter(_ state: CycleState, _ pod: PodInfo, _ node: NodeInfo) -> Status? {
        guard let s = state.read(PreFilterState.self) else {
            return .error("reading \"PreFilterPodTopologySpread\" from cycleState: not found")
        }
        if s.constraints.isEmpty { return nil }
        guard node.hasNode else { return .error("node not found") }
        let labels = node.labels
        for i in s.constraints.indices {
            let c = s.constraints[i]
            guard let value = labels[c.topologyKey] else { return Self.nodeLabelNotMatch }
            let skew = (s.matchNum[i][value] ?? 0) + (s.selfMatch[i] ? 1 : 0) - s.minMatchNum(i)
            if skew > Int(c.maxSkew) { return Self.constraintsNotMatch }
        }
        return nil
    }
}
