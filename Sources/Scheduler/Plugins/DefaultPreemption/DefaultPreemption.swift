import APICore
import APIMachinery
import ControllerRuntime
import Foundation
import KubeClient
import Synchronization

/// An API write preemption makes, as recorded by the plugin (pods named `namespace/name`).
public enum PreemptionAction: Equatable, Sendable, CustomStringConvertible {
    /// The `DisruptionTarget` condition patched onto a victim's status, with its message.
    case markDisruptionTarget(String, message: String)
    /// A victim deleted.
    case delete(String)
    /// A lower-priority pod nominated to the chosen node has its `status.nominatedNodeName` cleared.
    case clearNominatedNodeName(String)

    public var description: String {
        switch self {
        case .markDisruptionTarget(let p, _): return "patch status of \(p): DisruptionTarget"
        case .delete(let p): return "delete \(p)"
        case .clearNominatedNodeName(let p): return "patch status of \(p): nominatedNodeName cleared"
        }
    }
}

/// How preemption reaches the API server: a status patch (strategic merge) and a pod delete.
/// Without a client both do nothing, so the plugin can run in tests that only read its recorded
/// actions; tests may also inject failures.
public struct PreemptionAPI: Sendable {
    public var patchPodStatus: @Sendable (_ pod: CoreV1.Pod, _ body: [UInt8]) async throws -> Void
    public var deletePod: @Sendable (_ pod: CoreV1.Pod) async throws -> Void

    public init(
        patchPodStatus: @escaping @Sendable (_ pod: CoreV1.Pod, _ body: [UInt8]) async throws -> Void,
        deletePod: @escaping @Sendable (_ pod: CoreV1.Pod) async throws -> Void
    ) {
        self.patchPodStatus = patchPodStatus
        self.deletePod = deletePod
    }

    /// Upstream's `util.PatchPodStatus` and `util.DeletePod` through a client.
    public static func client(_ client: KubeClient?) -> PreemptionAPI {
        guard let client else { return PreemptionAPI(patchPodStatus: { _, _ in }, deletePod: { _ in }) }
        return PreemptionAPI(
            patchPodStatus: { pod, body in
                _ = try await client.patch(
                    CoreV1.Pod.self, pod.metadata.name, namespace: pod.metadata.namespace, type: .strategicMerge,
                    body: body, subresource: "status")
            },
            deletePod: { pod in
                try await client.delete(CoreV1.Pod.self, pod.metadata.name, namespace: pod.metadata.namespace)
            })
    }
}

/// `DefaultPreemption`: when no node fits a pod, finds a node where evicting lower-priority pods
/// makes room, evicts them and nominates the pod to that node (upstream's DefaultPreemption
/// plugin and preemption `Evaluator`, with the candidate prepared synchronously).
public final class DefaultPreemption: PostFilterPlugin {
    public static let name = "DefaultPreemption"
    public var name: String { Self.name }
    public let args: DefaultPreemptionArgs
    let api: PreemptionAPI
    /// Where the dry run starts among `n` potential nodes (upstream's `getOffsetRand`).
    let randomOffset: @Sendable (_ n: Int32) -> Int32
    /// The time a pod without a start time counts as started at.
    let now: @Sendable () -> Time
    let log = Mutex<[PreemptionAction]>([])

    public init(
        args: DefaultPreemptionArgs = DefaultPreemptionArgs(), handle: Handle, api: PreemptionAPI? = nil,
        randomOffset: @escaping @Sendable (_ n: Int32) -> Int32 = { Int32.random(in: 0..<$0) },
        now: @escaping @Sendable () -> Time = DefaultPreemption.wallClock
    ) throws {
        let errs = args.validationErrors()
        if !errs.isEmpty { throw SchedulerConfigurationError(errs.aggregate) }
        self.args = args
        self.api = api ?? .client(handle.client)
        self.randomOffset = randomOffset
        self.now = now
    }

    @Sendable public static func wallClock() -> Time {
        let t = Date().timeIntervalSince1970
        let s = t.rounded(.down)
        return Time(seconds: Int64(s), nanos: Int32((t - s) * 1e9))
    }

    /// Every API write attempted so far, in order.
    public var actions: [PreemptionAction] { log.withLock { $0 } }

    /// Upstream's `GetOffsetAndNumCandidates`.
    public func offsetAndNumCandidates(_ numNodes: Int32) -> (offset: Int32, count: Int32) {
        (randomOffset(numNodes), args.numCandidates(numNodes: numNodes))
    }

    public func postFilter(_ state: CycleState, _ pod: PodInfo, _ diagnosis: Diagnosis, _ framework: Framework) async
        -> (PostFilterResult?, Status)
    {
        let (result, status) = await preempt(state, pod, diagnosis, framework)
        if status.message.isEmpty { return (result, status) }
        return (result, Status(status.code, reasons: ["preemption: " + status.message]))
    }

    /// Upstream's `Evaluator.Preempt`. A nil result leaves the pod's nomination as it is; a result
    /// with an empty node clears it.
    func preempt(_ state: CycleState, _ pod: PodInfo, _ diagnosis: Diagnosis, _ framework: Framework) async
        -> (PostFilterResult?, Status)
    {
        let handle = framework.handle
        // The latest copy of the pod: its nomination may have been written since it was queued.
        guard let latest = handle.listers.pods.get(pod.key) else {
            return (nil, .error("pod \"\(pod.name)\" not found"))
        }
        let nominated = latest.status.nominatedNodeName
        if let why = Preemption.ineligibility(
            latest, nominatedNodeStatus: diagnosis.status(of: nominated), snapshot: handle.snapshot)
        {
            return (nil, .unschedulable(why))
        }
        let allNodes = handle.snapshot.nodeInfoList
        if allNodes.isEmpty { return (nil, .error("no nodes available")) }
        let now = now()
        let (candidates, statuses, errors) = findCandidates(state, pod, diagnosis, framework, now: now)
        if candidates.isEmpty {
            if !errors.isEmpty { return (nil, Status(.error, reasons: [errors.aggregate])) }
            var d = Diagnosis()
            d.nodeToStatus = statuses
            d.absentNodesStatus = .unresolvable(Preemption.notHelpful)
            let fit = FitError(numAllNodes: allNodes.count, diagnosis: d)
            return (PostFilterResult(nominatedNodeName: ""), .unschedulable(fit.message))
        }
        guard let node = Preemption.pickOneNode(candidates, now: now),
            let best = candidates.first(where: { $0.nodeName == node })
        else {
            return (nil, .unschedulable(Preemption.noCandidate))
        }
        if let s = await prepare(best, preemptor: pod, framework) { return (nil, s) }
        return (PostFilterResult(nominatedNodeName: best.nodeName), .success)
    }

    /// Upstream's `findCandidates` and `DryRunPreemption`: the nodes the filters rejected as
    /// Unschedulable (not unresolvable) are tried, starting at a random offset, until enough
    /// candidates are found (at least one not breaking a budget). Candidates breaking no budget
    /// come first. Nodes tried without success get their status.
    func findCandidates(
        _ state: CycleState, _ pod: PodInfo, _ diagnosis: Diagnosis, _ framework: Framework, now: Time
    ) -> (candidates: [PreemptionCandidate], statuses: [String: Status], errors: [String]) {
        let handle = framework.handle
        let potential = handle.snapshot.nodeInfoList.filter { diagnosis.status(of: $0.name)?.code == .unschedulable }
        if potential.isEmpty { return ([], [:], []) }
        let budgets = handle.listers.podDisruptionBudgets.list().map(DisruptionBudget.init)
        let (offset, count) = offsetAndNumCandidates(Int32(potential.count))
        return dryRun(
            state, pod, potential, budgets: budgets, offset: Int(offset), count: Int(count), framework, now: now)
    }

    /// Upstream's `DryRunPreemption`, one node after another.
    func dryRun(
        _ state: CycleState, _ pod: PodInfo, _ nodes: [NodeInfo], budgets: [DisruptionBudget], offset: Int, count: Int,
        _ framework: Framework, now: Time
    ) -> (candidates: [PreemptionCandidate], statuses: [String: Status], errors: [String]) {
        var nonViolating: [PreemptionCandidate] = []
        var violating: [PreemptionCandidate] = []
        var statuses: [String: Status] = [:]
        var errors: [String] = []
        for i in nodes.indices {
            let ni = nodes[(offset + i) % nodes.count].clone()
            let (victims, violations, status) = Preemption.selectVictims(
                on: ni, for: pod, state: state.clone(), framework: framework, budgets: budgets, now: now)
            if status == nil && !victims.isEmpty {
                let c = PreemptionCandidate(nodeName: ni.name, victims: victims, numPDBViolations: violations)
                if violations == 0 {
                    if nonViolating.count < count { nonViolating.append(c) }
                } else if violating.count < count {
                    violating.append(c)
                }
                if !nonViolating.isEmpty && nonViolating.count + violating.count >= count { break }
                continue
            }
            let s = status ?? .error("expected at least one victim pod on node \"\(ni.name)\"")
            if s.code == .error { errors.append(s.message) }
            statuses[ni.name] = s
        }
        return (nonViolating + violating, statuses, errors)
    }

    // MARK: preparing the chosen node

    static func key(_ pod: CoreV1.Pod) -> String { "\(pod.metadata.namespace)/\(pod.metadata.name)" }

    /// Upstream's `prepareCandidate`: each victim not already being deleted is marked and deleted
    /// (the first failure stops it); lower-priority pods nominated to the node lose their
    /// nomination (failures there are not fatal). nil is success.
    func prepare(_ c: PreemptionCandidate, preemptor: PodInfo, _ framework: Framework) async -> Status? {
        for v in c.victims where v.pod.metadata.deletionTimestamp == nil {
            do {
                try await preemptPod(v.pod, preemptor: preemptor.pod, node: c.nodeName, framework.handle.recorder)
            } catch {
                return .error("\(error)")
            }
        }
        let nominator = framework.handle.nominator
        for p in nominator.nominated(on: c.nodeName) where p.priority < preemptor.priority {
            await clearNomination(p, framework)
        }
        return nil
    }

    /// Upstream's `PreemptPod`: the victim gets a `DisruptionTarget` condition (unless it has the
    /// same one already), then is deleted, and a `Preempted` event about it names the preemptor.
    /// A victim already gone is no failure (and gets no event).
    func preemptPod(
        _ victim: CoreV1.Pod, preemptor: CoreV1.Pod, node: String, _ recorder: EventRecorder?
    ) async throws {
        let message = "\(preemptor.spec.schedulerName): preempting to accommodate a higher priority pod"
        if let body = Self.disruptionTargetPatch(victim, message: message, now: now()) {
            log.withLock { $0.append(.markDisruptionTarget(Self.key(victim), message: message)) }
            do {
                try await api.patchPodStatus(victim, body)
            } catch  where error.isNotFound {
                return
            }
        }
        log.withLock { $0.append(.delete(Self.key(victim))) }
        do {
            try await api.deletePod(victim)
        } catch  where error.isNotFound {
            return
        }
        recorder?.normal(
            victim, related: preemptor, reason: "Preempted", action: "Preempting",
            note: "Preempted by pod \(preemptor.metadata.uid) on node \(node)")
    }

    /// The status patch adding the condition, or nil when the victim has it already (upstream's
    /// `UpdatePodCondition` reporting no change). The transition time moves only with the status.
    static func disruptionTargetPatch(_ victim: CoreV1.Pod, message: String, now: Time) -> [UInt8]? {
        let old = victim.status.conditions.first { $0.type == Preemption.disruptionTarget }
        let generation = victim.metadata.generation
        if let old, old.status == "True", old.reason == Preemption.preemptionByScheduler, old.message == message,
            old.lastProbeTime == nil, old.observedGeneration == generation
        {
            return nil
        }
        let transition = old?.status == "True" ? (old?.lastTransitionTime ?? now) : now
        return PodConditionPatch.body(
            type: Preemption.disruptionTarget, status: "True", reason: Preemption.preemptionByScheduler,
            message: message, lastTransitionTime: transition, observedGeneration: generation)
    }

    /// Upstream's `clearNominatedNodeName` for one pod: its status loses the nomination, and so
    /// does the scheduler's record of it.
    func clearNomination(_ p: PodInfo, _ framework: Framework) async {
        let pod = framework.handle.listers.pods.get(p.key) ?? p.pod
        log.withLock { $0.append(.clearNominatedNodeName(Self.key(pod))) }
        framework.handle.nominator.set(p, node: "")
        try? await api.patchPodStatus(pod, Array(#"{"status":{"nominatedNodeName":null}}"#.utf8))
    }
}

extension [String] {
    /// Upstream's error aggregate message: one error alone, or `[a, b]`.
    fileprivate var aggregate: String { count == 1 ? self[0] : "[" + joined(separator: ", ") + "]" }
}
