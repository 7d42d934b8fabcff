import APICore
import APIMachinery

extension InterPodAffinity {
    /// What Score reads: topology key → value → summed weight (positive for affinity, negative for
    /// anti-affinity).
    final class PreScoreState: StateData {
        let topologyScore: [String: [String: Int64]]
        init(_ s: [String: [String: Int64]]) { topologyScore = s }
        func clone() -> StateData { self }
    }

    /// Adds `weight` to the domain of the existing pod's node when the term matches.
    @inline(__always)
    static func add(
        _ score: inout [String: [String: Int64]], _ key: String, _ labels: [String: String], _ weight: Int64
    ) {
        guard let value = labels[key] else { return }
        score[key, default: [:]][value, default: 0] += weight
    }

    public func preScore(_ state: CycleState, _ pod: PodInfo, _ nodes: [NodeInfo], _ snapshot: Snapshot) -> Status? {
        let spec = pod.pod.spec.affinity
        let hasPreferred =
            !(spec?.podAffinity?.preferredDuringSchedulingIgnoredDuringExecution.isEmpty ?? true)
            || !(spec?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution.isEmpty ?? true)
        if ignorePreferredTermsOfExistingPods && !hasPreferred { return .skip }
        if pod.parseError { return .error("failed to parse pod: \(Self.parseErrorMessage(pod.pod))") }

        // Without preferred terms of its own, only pods with affinity can contribute.
        let candidates = hasPreferred ? snapshot.nodeInfoList : snapshot.havePodsWithAffinityList
        let fetch = snapshot.namespaceLabels
        let nsLabels = fetch(pod.namespace) ?? [:]
        var ns = NamespaceLabels(fetch)
        let preferred = pod.preferredAffinity.map(IncomingTerm.init)
        let preferredAnti = pod.preferredAntiAffinity.map(IncomingTerm.init)
        let hardWeight = Int64(hardPodAffinityWeight)

        var score: [String: [String: Int64]] = [:]
        for ni in candidates {
            let labels = ni.labels
            guard ni.hasNode, !labels.isEmpty else { continue }
            for existing in hasPreferred ? ni.pods : ni.podsWithAffinity {
                // The incoming pod's preferred terms against the existing pod.
                for t in preferred where t.matches(existing, &ns) {
                    Self.add(&score, t.term.topologyKey, labels, Int64(t.term.weight))
                }
                for t in preferredAnti where t.matches(existing, &ns) {
                    Self.add(&score, t.term.topologyKey, labels, -Int64(t.term.weight))
                }
                // The existing pod's terms against the incoming pod.
                if hardWeight > 0 {
                    for t in existing.requiredAffinity where t.matches(incoming: pod, namespaceLabels: nsLabels) {
                        Self.add(&score, t.topologyKey, labels, hardWeight)
                    }
                }
                for t in existing.preferredAffinity where t.matches(incoming: pod, namespaceLabels: nsLabels) {
                    Self.add(&score, t.topologyKey, labels, Int64(t.weight))
                }
                for t in existing.preferredAntiAffinity where t.matches(incoming: pod, namespaceLabels: nsLabels) {
                    Self.add(&score, t.topologyKey, labels, -Int64(t.weight))
                }
            }
        }
        if score.isEmpty { return .skip }
        state.write(PreScoreState(score))
        return nil
    }

    /// The summed weights of the domains the node belongs to.
    public func score(_ state: CycleState, _ pod: PodInfo, _ node: NodeInfo) -> Int64 {
        guard let s = state.read(PreScoreState.self), node.hasNode else { return 0 }
        let labels = node.labels
        var total: Int64 = 0
        for (key, values) in s.topologyScore {
            if let v = labels[key] { total += values[v] ?? 0 }
        }
        return total
    }

    /// Maps the lowest raw score to 0 and the highest to 100 (all equal: 0).
    public func normalize(_ state: CycleState, _ pod: PodInfo, _ scores: inout [NodeScore]) {
        guard let s = state.read(PreScoreState.self), !s.topologyScore.isEmpty, !scores.isEmpty else { return }
        var lo = Int64.max
        var hi = Int64.min
        for ns in scores {
            lo = min(lo, ns.score)
            hi = max(hi, ns.score)
        }
        let diff = hi - lo
        for i in scores.indices {
            var f = 0.0
            if diff > 0 { f = Double(maxNodeScore) * (Double(scores[i].score - lo) / Double(diff)) }
            scores[i].score = Int64(f)
        }
    }
}
