import APICore
import APIMachinery

/// `PrioritySort`: higher `spec.priority` first, then the one queued earlier.
public final class PrioritySort: QueueSortPlugin {
    public static let name = "PrioritySort"
    public var name: String { Self.name }
    public init() {}

    public func less(_ a: QueuedPodInfo, _ b: QueuedPodInfo) -> Bool {
        let pa = a.podInfo.priority
        let pb = b.podInfo.priority
        return pa > pb || (pa == pb && a.timestamp < b.timestamp)
    }
}

/// `SchedulingGates`: a pod with `spec.schedulingGates` stays out of the active queue until they
/// are all removed.
public final class SchedulingGates: PreEnqueuePlugin, EnqueueExtensions {
    public static let name = "SchedulingGates"
    public var name: String { Self.name }
    public init() {}

    public func preEnqueue(_ pod: PodInfo) -> Status? {
        let gates = pod.pod.spec.schedulingGates
        if gates.isEmpty { return nil }
        return .unresolvable("waiting for scheduling gates: [\(gates.map(\.name).joined(separator: " "))]")
    }

    public func eventsToRegister() -> [ClusterEvent] { [ClusterEvent(.pod, .updatePodSchedulingGatesEliminated)] }
}

/// `NodeUnschedulable`: nodes with `spec.unschedulable` take only pods tolerating the
/// `node.kubernetes.io/unschedulable:NoSchedule` taint.
public final class NodeUnschedulable: FilterPlugin, EnqueueExtensions {
    public static let name = "NodeUnschedulable"
    public static let reason = "node(s) were unschedulable"
    static let taint = CoreV1.Taint(key: "node.kubernetes.io/unschedulable", effect: "NoSchedule")
    public var name: String { Self.name }
    public init() {}

    public func filter(_ state: CycleState, _ pod: PodInfo, _ node: NodeInfo) -> Status? {
        guard node.hasNode else { return .unresolvable("node not found") }
        guard node.unschedulable else { return nil }
        if pod.pod.spec.tolerations.contains(where: { $0.tolerates(Self.taint) }) { return nil }
        return .unresolvable(Self.reason)
    }

    public func eventsToRegister() -> [ClusterEvent] {
        [ClusterEvent(.node, [.add, .updateNodeTaint]), ClusterEvent(.pod, .updatePodToleration)]
    }
}

/// `NodeName`: a pod naming `spec.nodeName` fits only that node.
public final class NodeName: FilterPlugin, EnqueueExtensions {
    public static let name = "NodeName"
    public static let reason = "node(s) didn't match the requested node name"
    public var name: String { Self.name }
    public init() {}

    public func filter(_ state: CycleState, _ pod: PodInfo, _ node: NodeInfo) -> Status? {
        let want = pod.pod.spec.nodeName
        if want.isEmpty || want == node.name { return nil }
        return .unresolvable(Self.reason)
    }

    public func eventsToRegister() -> [ClusterEvent] { [ClusterEvent(.node, .add)] }
}

/// `TaintToleration`: a node's NoSchedule and NoExecute taints must be tolerated; each untolerated
/// PreferNoSchedule taint lowers the score.
public final class TaintToleration: FilterPlugin, PreScorePlugin, ScorePlugin, EnqueueExtensions {
    public static let name = "TaintToleration"
    public var name: String { Self.name }
    public init() {}

    public func filter(_ state: CycleState, _ pod: PodInfo, _ node: NodeInfo) -> Status? {
        guard node.hasNode else { return .unresolvable("invalid nodeInfo") }
        for t in node.taints where t.effect == "NoSchedule" || t.effect == "NoExecute" {
            if !pod.pod.spec.tolerations.contains(where: { $0.tolerates(t) }) {
                return .unresolvable("node(s) had untolerated taint {\(t.key): \(t.value)}")
            }
        }
        return nil
    }

    final class PreScoreState: StateData {
        let tolerations: [CoreV1.Toleration]
        init(_ t: [CoreV1.Toleration]) { tolerations = t }
        func clone() -> StateData { self }
    }

    public func preScore(_ state: CycleState, _ pod: PodInfo, _ nodes: [NodeInfo], _ snapshot: Snapshot) -> Status? {
        state.write(
            PreScoreState(pod.pod.spec.tolerations.filter { $0.effect.isEmpty || $0.effect == "PreferNoSchedule" }))
        return nil
    }

    public func score(_ state: CycleState, _ pod: PodInfo, _ node: NodeInfo) -> Int64 {
        let taints = node.taints
        if taints.isEmpty { return 0 }
        let tolerations = state.read(PreScoreState.self)?.tolerations ?? []
        var n: Int64 = 0
        for t in taints where t.effect == "PreferNoSchedule" {
            if !tolerations.contains(where: { $0.tolerates(t) }) { n += 1 }
        }
        return n
    }

    public func normalize(_ state: CycleState, _ pod: PodInfo, _ scores: inout [NodeScore]) {
        defaultNormalizeScore(&scores, reverse: true)
    }

    public func eventsToRegister() -> [ClusterEvent] {
        [ClusterEvent(.node, [.add, .updateNodeTaint]), ClusterEvent(.pod, .updatePodToleration)]
    }
}

/// `NodeAffinity`: `nodeSelector` and required node affinity must hold (and the profile's
/// `addedAffinity`); preferred terms add their weights to the score.
public final class NodeAffinity: PreFilterPlugin, FilterPlugin, PreScorePlugin, ScorePlugin, EnqueueExtensions {
    public static let name = "NodeAffinity"
    public static let reasonPod = "node(s) didn't match Pod's node affinity/selector"
    public static let reasonEnforced = "node(s) didn't match scheduler-enforced node affinity"
    public static let reasonConflict = "pod affinity terms conflict"
    public var name: String { Self.name }
    let added: CoreV1.NodeAffinity?

    public init(addedAffinity: CoreV1.NodeAffinity? = nil) { added = addedAffinity }

    public func preFilter(_ state: CycleState, _ pod: PodInfo, _ snapshot: Snapshot) -> (PreFilterResult?, Status?) {
        let spec = pod.pod.spec
        let required = spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution
        if spec.nodeSelector.isEmpty && required == nil && added?.requiredDuringSchedulingIgnoredDuringExecution == nil
        {
            return (nil, .skip)
        }
        guard let terms = required?.nodeSelectorTerms else { return (nil, nil) }
        // Terms naming nodes by metadata.name narrow the candidates (OR of terms, AND within one).
        var names: Set<String>?
        for t in terms {
            var termNames: Set<String>?
            for r in t.matchFields where r.key == "metadata.name" && r.operator == "In" {
                let s = Set(r.values)
                termNames = termNames.map { $0.intersection(s) } ?? s
            }
            guard let termNames else { return (nil, nil) }
            names = (names ?? []).union(termNames)
        }
        if let names, names.isEmpty { return (nil, .unresolvable(Self.reasonConflict)) }
        return (names.map { PreFilterResult(nodeNames: $0) }, nil)
    }

    public func filter(_ state: CycleState, _ pod: PodInfo, _ node: NodeInfo) -> Status? {
        guard let n = node.node else { return .unresolvable("node not found") }
        if let sel = added?.requiredDuringSchedulingIgnoredDuringExecution, !sel.matches(n) {
            return .unresolvable(Self.reasonEnforced)
        }
        if !pod.pod.spec.requiredNodeAffinityMatches(n) { return .unresolvable(Self.reasonPod) }
        return nil
    }

    final class PreScoreState: StateData {
        let terms: [CoreV1.PreferredSchedulingTerm]
        init(_ t: [CoreV1.PreferredSchedulingTerm]) { terms = t }
        func clone() -> StateData { self }
    }

    public func preScore(_ state: CycleState, _ pod: PodInfo, _ nodes: [NodeInfo], _ snapshot: Snapshot) -> Status? {
        let terms =
            (pod.pod.spec.affinity?.nodeAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? [])
            + (added?.preferredDuringSchedulingIgnoredDuringExecution ?? [])
        if terms.isEmpty { return .skip }
        state.write(PreScoreState(terms))
        return nil
    }

    public func score(_ state: CycleState, _ pod: PodInfo, _ node: NodeInfo) -> Int64 {
        guard let n = node.node, let terms = state.read(PreScoreState.self)?.terms else { return 0 }
        var total: Int64 = 0
        for t in terms where t.weight != 0 && t.preference.matches(n) { total += Int64(t.weight) }
        return total
    }

    public func normalize(_ state: CycleState, _ pod: PodInfo, _ scores: inout [NodeScore]) {
        defaultNormalizeScore(&scores, reverse: false)
    }

    public func eventsToRegister() -> [ClusterEvent] { [ClusterEvent(.node, [.add, .updateNodeLabel])] }
}

/// `NodePorts`: the pod's host ports must be free on the node.
public final class NodePorts: PreFilterPlugin, FilterPlugin, EnqueueExtensions {
    public static let name = "NodePorts"
    public static let reason = "node(s) didn't have free ports for the requested pod ports"
    public var name: String { Self.name }
    public init() {}

    public func preFilter(_ state: CycleState, _ pod: PodInfo, _ snapshot: Snapshot) -> (PreFilterResult?, Status?) {
        pod.hostPorts.isEmpty ? (nil, .skip) : (nil, nil)
    }

    public func filter(_ state: CycleState, _ pod: PodInfo, _ node: NodeInfo) -> Status? {
        for hp in pod.hostPorts where node.portConflicts(hp) { return .unschedulable(Self.reason) }
        return nil
    }

    public func eventsToRegister() -> [ClusterEvent] {
        [ClusterEvent(.assignedPod, .delete), ClusterEvent(.node, [.add, .update])]
    }
}
