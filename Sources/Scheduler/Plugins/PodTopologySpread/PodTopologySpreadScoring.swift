import APICore
import Foundation

extension PodTopologySpread {
    /// What Score reads: per soft constraint, matching pods per topology value of the candidate
    /// nodes (hostname constraints are counted per node during Score) and the constraint's weight.
    final class PreScoreState: StateData {
        let constraints: [SpreadConstraint]
        /// Candidate nodes missing a topology key: they score 0.
        let ignoredNodes: Set<String>
        let counts: [[String: Int64]]
        /// `log(domains + 2)`: counts in topologies with many domains weigh more.
        let weights: [Double]

        init(_ c: [SpreadConstraint], ignoredNodes: Set<String>, counts: [[String: Int64]], weights: [Double]) {
            constraints = c
            self.ignoredNodes = ignoredNodes
            self.counts = counts
            self.weights = weights
        }

        func clone() -> StateData { self }
    }

    public func preScore(_ state: CycleState, _ pod: PodInfo, _ nodes: [NodeInfo], _ snapshot: Snapshot) -> Status? {
        let all = snapshot.nodeInfoList
        if all.isEmpty { return .skip }
        // Own (or List-defaulted) constraints need every topology key on a node; System defaults
        // let nodes without a zone still spread by hostname.
        let requireAllKeys = !pod.pod.spec.topologySpreadConstraints.isEmpty || !systemDefaulted
        let constraints: [SpreadConstraint]
        switch self.constraints(of: pod.pod, action: Self.scheduleAnyway) {
        case .success(let c): constraints = c
        case .failure(let e): return .error("calculating preScoreState: \(e)")
        }
        if constraints.isEmpty { return .skip }

        var ignored = Set<String>()
        var counts = [[String: Int64]](repeating: [:], count: constraints.count)
        var domains = [Int](repeating: 0, count: constraints.count)
        for ni in nodes {
            guard let node = ni.node else { continue }
            let labels = node.metadata.labels
            if requireAllKeys && !Self.hasAllKeys(labels, constraints) {
                ignored.insert(node.metadata.name)
                continue
            }
            for (i, c) in constraints.enumerated() where !c.isHostname {
                let value = labels[c.topologyKey] ?? ""
                if counts[i][value] == nil {
                    counts[i][value] = 0
                    domains[i] += 1
                }
            }
        }
        let weights = constraints.indices.map { i in
            Self.topologyWeight(constraints[i].isHostname ? nodes.count - ignored.count : domains[i])
        }

        let ns = pod.namespace
        let inclusion = InclusionCheck(pod.pod, constraints)
        for ni in all {
            guard let node = ni.node else { continue }
            let labels = node.metadata.labels
            if requireAllKeys && !Self.hasAllKeys(labels, constraints) { continue }
            var memo = InclusionCheck.Node()
            for (i, c) in constraints.enumerated() {
                if inclusion.needed && !inclusion.includes(c, node, &memo) { continue }
                // Only domains of candidate nodes are counted (hostname ones during Score).
                let value = labels[c.topologyKey] ?? ""
                guard let cur = counts[i][value] else { continue }
                counts[i][value] = cur + Int64(Self.countMatching(ni.pods, c.selector, namespace: ns))
            }
        }
        state.write(PreScoreState(constraints, ignoredNodes: ignored, counts: counts, weights: weights))
        return nil
    }

    /// The raw score: per constraint, the matching pods of the node's domain times the weight, plus
    /// `maxSkew − 1` (which dampens small differences); lower is better until normalized.
    public func score(_ state: CycleState, _ pod: PodInfo, _ node: NodeInfo) -> Int64 {
        guard let s = state.read(PreScoreState.self), node.hasNode else { return 0 }
        if !s.ignoredNodes.isEmpty && s.ignoredNodes.contains(node.name) { return 0 }
        let labels = node.labels
        var score = 0.0
        for i in s.constraints.indices {
            let c = s.constraints[i]
            guard let value = labels[c.topologyKey] else { continue }
            let count =
                c.isHostname
                ? Int64(Self.countMatching(node.pods, c.selector, namespace: pod.namespace))
                : s.counts[i][value] ?? 0
            score += Double(count) * s.weights[i] + Double(c.maxSkew - 1)
        }
        return Int64(score.rounded())
    }

    /// Reverses and scales: the lowest raw score becomes 100 (relative to the highest); ignored
    /// nodes get 0; all zeros give every node 100.
    public func normalize(_ state: CycleState, _ pod: PodInfo, _ scores: inout [NodeScore]) {
        guard let s = state.read(PreScoreState.self) else { return }
        let checkIgnored = !s.ignoredNodes.isEmpty
        var minScore = Int64.max
        var maxScore: Int64 = 0
        for ns in scores {
            if checkIgnored && s.ignoredNodes.contains(ns.name) { continue }
            minScore = min(minScore, ns.score)
            maxScore = max(maxScore, ns.score)
        }
        for i in scores.indices {
            if checkIgnored && s.ignoredNodes.contains(scores[i].name) {
                scores[i].score = 0
            } else if maxScore == 0 {
                scores[i].score = maxNodeScore
            } else {
                scores[i].score = maxNodeScore * (maxScore + minScore - scores[i].score) / maxScore
            }
        }
    }

    /// `log(size + 2)`: at least log 2 when no node has the topology.
    static func topologyWeight(_ size: Int) -> Double { log(Double(size + 2)) }
}
