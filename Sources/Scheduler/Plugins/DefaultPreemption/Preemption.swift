import APICore
import APIMachinery
import APIPolicy

/// A node where evicting some pods would let the preemptor fit: the pods to evict there, most
/// important first, and how many of them evicting breaks a PodDisruptionBudget (upstream's
/// `Candidate` and its `Victims`).
public struct PreemptionCandidate: Sendable {
    public var nodeName: String
    public var victims: [PodInfo]
    public var numPDBViolations: Int

    public init(nodeName: String, victims: [PodInfo], numPDBViolations: Int = 0) {
        self.nodeName = nodeName
        self.victims = victims
        self.numPDBViolations = numPDBViolations
    }
}

/// A PodDisruptionBudget made ready for matching victims (its selector parsed once).
public struct DisruptionBudget: Sendable {
    public var namespace: String
    /// nil: the selector does not parse, and so matches no pod.
    public var selector: LabelSelector?
    public var disruptionsAllowed: Int32
    /// Pods the API server already counted as disrupted: evicting them again costs nothing.
    public var disruptedPods: Set<String>

    public init(_ pdb: PolicyV1.PodDisruptionBudget) {
        namespace = pdb.metadata.namespace
        selector = try? LabelSelector.from(pdb.spec.selector)
        disruptionsAllowed = pdb.status.disruptionsAllowed
        disruptedPods = Set(pdb.status.disruptedPods.keys)
    }

    /// A missing or empty selector matches nothing here, unlike elsewhere.
    func covers(_ pod: PodInfo) -> Bool {
        guard pod.namespace == namespace, let selector, !selector.isEmpty else { return false }
        return selector.matches(pod.labels)
    }
}

/// The pure parts of upstream's preemption (`pkg/scheduler/framework/preemption` and the
/// DefaultPreemption plugin): who may preempt, which pods to evict on a node, which node to pick.
/// Nothing here writes to the API.
public enum Preemption {
    public static let notHelpful = "Preemption is not helpful for scheduling"
    public static let noVictims = "No preemption victims found for incoming pod"
    public static let policyNever = "not eligible due to preemptionPolicy=Never."
    public static let terminatingVictim = "not eligible due to a terminating pod on the nominated node."
    public static let noCandidate = "no candidate node for preemption"
    public static let disruptionTarget = "DisruptionTarget"
    public static let preemptionByScheduler = "PreemptionByScheduler"

    // MARK: ordering

    /// A pod's start time; one not started yet counts as starting now (`GetPodStartTime`).
    static func startTime(_ pod: CoreV1.Pod, now: Time) -> Time { pod.status.startTime ?? now }

    /// Upstream's `MoreImportantPod`: higher priority, then the one running longer.
    public static func moreImportant(_ a: PodInfo, _ b: PodInfo, now: Time) -> Bool {
        if a.priority != b.priority { return a.priority > b.priority }
        return startTime(a.pod, now: now) < startTime(b.pod, now: now)
    }

    /// Most important first; pods equal in importance keep their order.
    static func byImportance(_ pods: [PodInfo], now: Time) -> [PodInfo] {
        pods.enumerated().sorted { x, y in
            if moreImportant(x.element, y.element, now: now) { return true }
            if moreImportant(y.element, x.element, now: now) { return false }
            return x.offset < y.offset
        }.map(\.element)
    }

    // MARK: eligibility

    /// Is the pod being deleted because the scheduler preempted it (`podTerminatingByPreemption`)?
    public static func terminatingByPreemption(_ pod: CoreV1.Pod) -> Bool {
        guard pod.metadata.deletionTimestamp != nil,
            let c = pod.status.conditions.first(where: { $0.type == disruptionTarget })
        else { return false }
        return c.status == "True" && c.reason == preemptionByScheduler
    }

    /// Upstream's `PodEligibleToPreemptOthers`: nil when the pod may preempt, else why not. A pod
    /// that never preempts is refused, and so is one whose nominated node still holds a
    /// lower-priority pod its earlier preemption is terminating (unless the filters found that
    /// node unusable for good, when it may preempt elsewhere).
    public static func ineligibility(_ pod: CoreV1.Pod, nominatedNodeStatus: Status?, snapshot: Snapshot) -> String? {
        if pod.spec.preemptionPolicy == "Never" { return policyNever }
        let nominated = pod.status.nominatedNodeName
        guard !nominated.isEmpty else { return nil }
        // A node the filters did not record is unusable for good, as upstream's default status says.
        if (nominatedNodeStatus?.code ?? .unschedulableAndUnresolvable) == .unschedulableAndUnresolvable {
            return nil
        }
        guard let ni = snapshot.get(nominated) else { return nil }
        let priority = pod.spec.priority ?? 0
        for p in ni.pods where p.priority < priority && terminatingByPreemption(p.pod) {
            return terminatingVictim
        }
        return nil
    }

    // MARK: victims

    /// Upstream's `filterPodsWithPDBViolation`: splits pods (order kept) into those whose eviction
    /// would exceed some budget's allowed disruptions, counting down the budgets as it goes, and
    /// the rest.
    public static func splitByPDBViolation(_ pods: [PodInfo], _ budgets: [DisruptionBudget]) -> (
        violating: [PodInfo], nonViolating: [PodInfo]
    ) {
        var allowed = budgets.map(\.disruptionsAllowed)
        var violating: [PodInfo] = []
        var nonViolating: [PodInfo] = []
        for p in pods {
            var violated = false
            if !p.labels.isEmpty {
                for (i, b) in budgets.enumerated() where b.covers(p) && !b.disruptedPods.contains(p.name) {
                    allowed[i] -= 1
                    if allowed[i] < 0 { violated = true }
                }
            }
            if violated { violating.append(p) } else { nonViolating.append(p) }
        }
        return (violating, nonViolating)
    }

    /// Upstream's `SelectVictimsOnNode`: the fewest lower-priority pods to evict from `node` so
    /// the pod fits. `node` and `state` are the caller's copies and are changed. Every
    /// lower-priority pod is removed; if the pod still does not fit, that filter status is
    /// answered. Then pods are put back one at a time while the pod still fits, first those whose
    /// eviction would break a budget, then the others, each group most important first; the ones
    /// that cannot come back are the victims (most important first), with how many of them break
    /// a budget. A nil status is success.
    public static func selectVictims(
        on node: NodeInfo, for pod: PodInfo, state: CycleState, framework: Framework,
        budgets: [DisruptionBudget], now: Time
    ) -> (victims: [PodInfo], numPDBViolations: Int, status: Status?) {
        let potential = node.pods.filter { $0.priority < pod.priority }
        for v in potential {
            node.remove(v)
            framework.runRemovePod(state, pod, v, on: node)
        }
        if potential.isEmpty { return ([], 0, .unresolvable(noVictims)) }
        if let s = framework.runFilterWithNominatedPods(state, pod, node) { return ([], 0, s) }
        let (violating, nonViolating) = splitByPDBViolation(byImportance(potential, now: now), budgets)
        var victims: [PodInfo] = []
        func reprieve(_ p: PodInfo) -> Bool {
            node.add(p)
            framework.runAddPod(state, pod, p, on: node)
            if framework.runFilterWithNominatedPods(state, pod, node) == nil { return true }
            node.remove(p)
            framework.runRemovePod(state, pod, p, on: node)
            victims.append(p)
            return false
        }
        var numViolating = 0
        for p in violating where !reprieve(p) { numViolating += 1 }
        for p in nonViolating { _ = reprieve(p) }
        if !violating.isEmpty && !nonViolating.isEmpty { victims = byImportance(victims, now: now) }
        return (victims, numViolating, nil)
    }

    // MARK: choosing the node

    /// The earliest start among the highest-priority victims (`GetEarliestPodStartTime`).
    static func earliestStartOfHighest(_ victims: [PodInfo], now: Time) -> Time? {
        guard let first = victims.first else { return nil }
        var earliest = startTime(first.pod, now: now)
        var top = first.priority
        for v in victims {
            if v.priority == top {
                earliest = min(earliest, startTime(v.pod, now: now))
            } else if v.priority > top {
                top = v.priority
                earliest = startTime(v.pod, now: now)
            }
        }
        return earliest
    }

    /// Upstream's `pickOneNodeForPreemption` with its default criteria, each deciding only
    /// among the nodes tied on the ones before: fewest budget violations, the lowest
    /// highest-priority victim, the smallest sum of victim priorities, the fewest victims, the
    /// latest start of the highest-priority victims; then the first candidate.
    public static func pickOneNode(_ candidates: [PreemptionCandidate], now: Time) -> String? {
        var nodes = candidates.filter { !$0.victims.isEmpty }
        guard !nodes.isEmpty else { return candidates.first?.nodeName }
        /// Keeps the nodes with the highest key; true when one is left.
        func keepHighest<K: Comparable>(_ key: (PreemptionCandidate) -> K) -> Bool {
            let keys = nodes.map(key)
            let best = keys.max()!
            nodes = zip(nodes, keys).filter { $0.1 == best }.map(\.0)
            return nodes.count == 1
        }
        // Negated so that smaller is better; priorities are shifted to be non-negative first, so
        // that more victims of negative priority never sum to less.
        if keepHighest({ -$0.numPDBViolations }) { return nodes[0].nodeName }
        if keepHighest({ -Int64($0.victims[0].priority) }) { return nodes[0].nodeName }
        if keepHighest({ c in -c.victims.reduce(Int64(0)) { $0 + Int64($1.priority) + Int64(Int32.max) + 1 } }) {
            return nodes[0].nodeName
        }
        if keepHighest({ -$0.victims.count }) { return nodes[0].nodeName }
        if keepHighest({ earliestStartOfHighest($0.victims, now: now)! }) { return nodes[0].nodeName }
        return nodes[0].nodeName
    }
}
