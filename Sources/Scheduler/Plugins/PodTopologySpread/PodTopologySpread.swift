import APIApps
import APICore
import APIMachinery

/// `PodTopologySpread`: keeps the pods a constraint selects evenly spread over the domains of a
/// topology key. `DoNotSchedule` constraints filter (the skew a placement would cause must stay
/// within `maxSkew`), `ScheduleAnyway` constraints score (domains with fewer matching pods win).
/// Pods without constraints of their own get the profile's default constraints, with a selector
/// deduced from the Services, ReplicationControllers, ReplicaSets and StatefulSets they belong to.
public final class PodTopologySpread: PreFilterPlugin, FilterPlugin, PreScorePlugin, ScorePlugin, EnqueueExtensions {
    public static let name = "PodTopologySpread"
    public static let reasonConstraintsNotMatch = "node(s) didn't match pod topology spread constraints"
    public static let reasonNodeLabelNotMatch = reasonConstraintsNotMatch + " (missing required label)"
    public var name: String { Self.name }

    static let hostnameKey = "kubernetes.io/hostname"
    static let zoneKey = "topology.kubernetes.io/zone"
    static let doNotSchedule = "DoNotSchedule"
    static let scheduleAnyway = "ScheduleAnyway"

    /// What a pod without constraints of its own gets under `System` defaulting: soft spreading over
    /// hosts (skew 3) and zones (skew 5).
    public static let systemDefaultConstraints: [CoreV1.TopologySpreadConstraint] = [
        CoreV1.TopologySpreadConstraint(maxSkew: 3, topologyKey: hostnameKey, whenUnsatisfiable: scheduleAnyway),
        CoreV1.TopologySpreadConstraint(maxSkew: 5, topologyKey: zoneKey, whenUnsatisfiable: scheduleAnyway),
    ]

    /// Where default constraints come from (`PodTopologySpreadArgs.defaultingType`).
    public enum DefaultingType: String, Sendable {
        case system = "System"
        case list = "List"
    }

    let defaultConstraints: [CoreV1.TopologySpreadConstraint]
    /// True under `System` defaulting: scoring then keeps nodes missing the zone label (hostname
    /// spreading still applies to them).
    let systemDefaulted: Bool
    let listers: Listers

    static let constraintsNotMatch = Status(.unschedulable, reasonConstraintsNotMatch)
    static let nodeLabelNotMatch = Status(.unschedulableAndUnresolvable, reasonNodeLabelNotMatch)

    public init(
        defaultingType: DefaultingType = .system, defaultConstraints: [CoreV1.TopologySpreadConstraint] = [],
        listers: Listers = Listers()
    ) {
        systemDefaulted = defaultingType == .system
        self.defaultConstraints = systemDefaulted ? Self.systemDefaultConstraints : defaultConstraints
        self.listers = listers
    }

    public func eventsToRegister() -> [ClusterEvent] {
        [
            // A matching pod placed, relabelled or gone changes the counts; a new toleration matters
            // to constraints honouring taints.
            ClusterEvent(.pod, [.add, .updatePodLabel, .updatePodToleration, .delete]),
            // Nodes bring, move or drop domains.
            ClusterEvent(.node, [.add, .delete, .updateNodeLabel, .updateNodeTaint]),
        ]
    }

    // MARK: constraints

    /// The pod's constraints of one kind (`DoNotSchedule` or `ScheduleAnyway`): its own, or the
    /// defaults when it names none. A message prefix tells which source failed to parse.
    func constraints(of pod: CoreV1.Pod, action: String) -> Result<[SpreadConstraint], ConstraintError> {
        let hard = action == Self.doNotSchedule
        if !pod.spec.topologySpreadConstraints.isEmpty {
            do {
                return .success(
                    try Self.parse(pod.spec.topologySpreadConstraints, podLabels: pod.metadata.labels, action))
            } catch {
                let what = hard ? "obtaining pod's hard" : "obtaining pod's soft"
                return .failure(ConstraintError("\(what) topology spread constraints: \(error)"))
            }
        }
        do {
            return .success(try defaults(for: pod, action))
        } catch {
            let what = hard ? "setting default hard" : "setting default soft"
            return .failure(ConstraintError("\(what) topology spread constraints: \(error)"))
        }
    }

    struct ConstraintError: Error, CustomStringConvertible {
        var description: String
        init(_ d: String) { description = d }
    }

    /// Upstream's `filterTopologySpreadConstraints`: the constraints with the given action, the label
    /// selector parsed (a missing one selects nothing) and the pod's values of `matchLabelKeys` added.
    static func parse(
        _ specs: [CoreV1.TopologySpreadConstraint], podLabels: [String: String], _ action: String
    ) throws(LabelSelectorError) -> [SpreadConstraint] {
        var out: [SpreadConstraint] = []
        for c in specs where c.whenUnsatisfiable == action {
            var selector = try LabelSelector.from(c.labelSelector)
            if !c.matchLabelKeys.isEmpty {
                var fromPod: [String: String] = [:]
                for k in c.matchLabelKeys { if let v = podLabels[k] { fromPod[k] = v } }
                // A selector that selects nothing stays so; otherwise the pod's values join it.
                if !fromPod.isEmpty && !selector.matchesNothing {
                    var reqs: [LabelRequirement] = []
                    for k in fromPod.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) {
                        if let r = try? LabelRequirement(key: k, op: .equals, values: [fromPod[k]!]) { reqs.append(r) }
                    }
                    selector = LabelSelector(reqs + selector.requirements)
                }
            }
            out.append(
                SpreadConstraint(
                    maxSkew: c.maxSkew, topologyKey: c.topologyKey, selector: selector,
                    minDomains: c.minDomains ?? 1, honorNodeAffinity: (c.nodeAffinityPolicy ?? "Honor") == "Honor",
                    honorNodeTaints: (c.nodeTaintsPolicy ?? "Ignore") == "Honor"))
        }
        return out
    }

    /// Upstream's `buildDefaultConstraints`: the default constraints of the action, all with the
    /// selector of the pod's workload; none when that selector is empty.
    func defaults(for pod: CoreV1.Pod, _ action: String) throws(LabelSelectorError) -> [SpreadConstraint] {
        let parsed = try Self.parse(defaultConstraints, podLabels: pod.metadata.labels, action)
        if parsed.isEmpty { return [] }
        let selector = defaultSelector(for: pod)
        if selector.isEmpty { return [] }
        return parsed.map { c in
            SpreadConstraint(
                maxSkew: c.maxSkew, topologyKey: c.topologyKey, selector: selector, minDomains: c.minDomains,
                honorNodeAffinity: c.honorNodeAffinity, honorNodeTaints: c.honorNodeTaints)
        }
    }

    /// Upstream's `DefaultSelector`: the selectors of the Services in the pod's namespace that select
    /// it, merged, plus the selector of its controlling ReplicationController, ReplicaSet or
    /// StatefulSet.
    func defaultSelector(for pod: CoreV1.Pod) -> LabelSelector {
        let ns = pod.metadata.namespace
        let podLabels = pod.metadata.labels
        var set: [String: String] = [:]
        for svc in listers.services.list(namespace: ns) {
            // A Service without a selector selects nothing.
            let sel = svc.spec.selector
            if sel.isEmpty { continue }
            if sel.allSatisfy({ podLabels[$0.key] == $0.value }) { set.merge(sel) { _, new in new } }
        }
        var extra: [LabelRequirement] = []
        if let owner = pod.metadata.ownerReferences.first(where: { $0.controller == true }) {
            switch (owner.apiVersion, owner.kind) {
            case ("v1", "ReplicationController"):
                if let rc = listers.replicationControllers.get(namespace: ns, name: owner.name) {
                    set.merge(rc.spec.selector) { _, new in new }
                }
            case ("apps/v1", "ReplicaSet"):
                if let rs = listers.replicaSets.get(namespace: ns, name: owner.name),
                    let s = try? LabelSelector.from(rs.spec.selector), !s.matchesNothing
                {
                    extra = s.requirements
                }
            case ("apps/v1", "StatefulSet"):
                if let ss = listers.statefulSets.get(namespace: ns, name: owner.name),
                    let s = try? LabelSelector.from(ss.spec.selector), !s.matchesNothing
                {
                    extra = s.requirements
                }
            default:
                break
            }
        }
        var reqs: [LabelRequirement] = []
        for (k, v) in set {
            if let r = try? LabelRequirement(key: k, op: .equals, values: [v]) { reqs.append(r) }
        }
        return LabelSelector(reqs + extra)
    }

    // MARK: helpers

    /// Does the node carry every constraint's topology key?
    @inline(__always)
    static func hasAllKeys(_ labels: [String: String], _ constraints: [SpreadConstraint]) -> Bool {
        for c in constraints where labels[c.topologyKey] == nil { return false }
        return true
    }

    /// Matching pods on a node: same namespace as the incoming pod, not being deleted. An empty
    /// selector counts none (upstream's `countPodsMatchSelector`).
    static func countMatching(_ pods: [PodInfo], _ selector: LabelSelector, namespace: String) -> Int {
        if selector.isEmpty { return 0 }
        var n = 0
        for p in pods {
            if p.pod.metadata.deletionTimestamp != nil || p.pod.metadata.namespace != namespace { continue }
            if selector.matches(p.pod.metadata.labels) { n += 1 }
        }
        return n
    }
}

/// One spread constraint ready for evaluation (upstream's internal `topologySpreadConstraint`).
struct SpreadConstraint: Sendable {
    let maxSkew: Int32
    let topologyKey: String
    let selector: LabelSelector
    /// 1 when the pod leaves it unset.
    let minDomains: Int32
    /// `nodeAffinityPolicy: Honor` (the default): only nodes matching the pod's node affinity count.
    let honorNodeAffinity: Bool
    /// `nodeTaintsPolicy: Honor`: only nodes whose NoSchedule/NoExecute taints the pod tolerates count.
    let honorNodeTaints: Bool

    var isHostname: Bool { topologyKey == PodTopologySpread.hostnameKey }
}

/// Which of a pod's constraints count a node as a domain (the inclusion policies), with the two
/// node checks done at most once per node.
struct InclusionCheck {
    let pod: CoreV1.Pod
    let needed: Bool

    init(_ pod: CoreV1.Pod, _ constraints: [SpreadConstraint]) {
        self.pod = pod
        needed = constraints.contains { $0.honorNodeAffinity || $0.honorNodeTaints }
    }

    /// The verdict per constraint for one node.
    struct Node {
        var affinity: Bool?
        var taints: Bool?
    }

    func includes(_ c: SpreadConstraint, _ node: CoreV1.Node, _ memo: inout Node) -> Bool {
        if c.honorNodeAffinity {
            if memo.affinity == nil { memo.affinity = pod.spec.requiredNodeAffinityMatches(node) }
            if memo.affinity == false { return false }
        }
        if c.honorNodeTaints {
            if memo.taints == nil { memo.taints = Self.toleratesBlockingTaints(node, pod.spec.tolerations) }
            if memo.taints == false { return false }
        }
        return true
    }

    /// Every NoSchedule and NoExecute taint of the node is tolerated.
    static func toleratesBlockingTaints(_ node: CoreV1.Node, _ tolerations: [CoreV1.Toleration]) -> Bool {
        for t in node.spec.taints where t.effect == "NoSchedule" || t.effect == "NoExecute" {
            if !tolerations.contains(where: { $0.tolerates(t) }) { return false }
        }
        return true
    }
}
