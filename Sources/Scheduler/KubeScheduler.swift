import APICore
import APIMachinery
import APIPolicy
import APIStorage
import ControllerRuntime
import Foundation
import Synchronization

/// The running scheduler: informers feed the cache and the queue; one loop takes pods off the queue
/// and runs scheduling cycles; bindings run concurrently behind it (upstream's `Scheduler`).
public final class KubeScheduler: Sendable {
    public struct Options: Sendable {
        public var percentageOfNodesToScore: Int32 = 0
        public var queue = SchedulingQueue.Options()
        /// Bindings in flight at once.
        public var maxBindingsInFlight = 256
        /// The event recorder's reporting instance suffix (upstream uses the host name).
        public var instance = ProcessInfo.processInfo.hostName
        public init() {}
    }

    public let client: KubeClient
    public let cache = SchedulerCache()
    public let queue: SchedulingQueue
    public let profiles: [String: Framework]
    public let snapshot: Snapshot
    public let informers: InformerFactory
    public let podInformer: Informer<CoreV1.Pod>
    let algorithm: Mutex<SchedulingAlgorithm>
    let options: Options
    let bindingSlots: BindingSlots
    let log: @Sendable (String) -> Void
    let metrics = SchedulerMetrics()

    /// Builds the scheduler from a configuration's profiles; `build` makes each profile's framework
    /// from the shared handle.
    public init(
        client: KubeClient, configuration: SchedulerConfiguration, options: Options = Options(),
        log: @escaping @Sendable (String) -> Void = { _ in }
    ) throws {
        self.client = client
        self.options = options
        self.log = log
        informers = InformerFactory(client: client)
        // Terminal pods hold nothing: the scheduler's pod informer leaves them out, as upstream's.
        podInformer = Informer<CoreV1.Pod>(
            client: client, fieldSelector: "status.phase!=Succeeded,status.phase!=Failed",
            transform: Informer<CoreV1.Pod>.stripManagedFields)
        informers.adopt(podInformer)
        let listers = Listers(factory: informers, pods: podInformer.store)
        snapshot = Snapshot()
        let nsStore = listers.namespaces
        snapshot.namespaceLabels = { nsStore.get(name: $0)?.metadata.labels }
        // One handle per profile (its own event recorder); the nominator and snapshot are shared.
        let nominator = Nominator()
        var profiles: [String: Framework] = [:]
        for p in configuration.profiles {
            let name = p.schedulerName
            let recorder = EventRecorder(client: client, controller: name, instance: "\(name)-\(options.instance)")
            let handle = Handle(
                client: client, listers: listers, nominator: nominator, snapshot: snapshot, recorder: recorder)
            profiles[name] = try PluginRegistry.framework(for: p, handle: handle)
        }
        self.profiles = profiles
        let frozen = profiles
        guard let first = configuration.profiles.first, let sorter = profiles[first.schedulerName]?.queueSort else {
            throw SchedulerConfigurationError(
                "profiles[0].plugins.queueSort: Required value: one queue sort plugin is required")
        }
        let frameworks = Array(profiles.values)
        let interests = frameworks.flatMap(\.eventInterests)
        queue = SchedulingQueue(
            options: options.queue, less: { sorter.less($0, $1) },
            preEnqueue: { pod in frozen[pod.pod.spec.schedulerName]?.runPreEnqueue(pod) },
            interests: interests)
        algorithm = Mutex(SchedulingAlgorithm(percentageOfNodesToScore: configuration.percentageOfNodesToScore ?? 0))
        bindingSlots = BindingSlots(options.maxBindingsInFlight)
        registerHandlers()
    }

    func responsible(for pod: CoreV1.Pod) -> Bool { profiles[pod.spec.schedulerName] != nil }

    // MARK: event handlers

    func registerHandlers() {
        podInformer.addHandler { [self] ev in
            switch ev {
            case .added(let p): podAdded(p)
            case .updated(let old, let new): podUpdated(old, new)
            case .deleted(let p): podDeleted(p)
            }
        }
        informers.informer(CoreV1.Node.self).addHandler { [self] ev in
            switch ev {
            case .added(let n):
                cache.addNode(n)
                queue.moveAllToActiveOrBackoff(ClusterEvent(.node, .add))
            case .updated(let old, let new):
                cache.updateNode(new)
                let actions = Self.nodeUpdateActions(old, new)
                if !actions.isEmpty { queue.moveAllToActiveOrBackoff(ClusterEvent(.node, actions)) }
            case .deleted(let n):
                cache.removeNode(n.metadata.name)
            }
        }
        func relay<T: KubeObject>(_ t: T.Type, _ resource: ClusterEvent.Resource) {
            informers.informer(t).addHandler { [self] ev in
                let action: ClusterEvent.Action
                switch ev {
                case .added: action = .add
                case .updated: action = .updateOther
                case .deleted: action = .delete
                }
                queue.moveAllToActiveOrBackoff(ClusterEvent(resource, action))
            }
        }
        relay(CoreV1.PersistentVolume.self, .persistentVolume)
        relay(CoreV1.PersistentVolumeClaim.self, .persistentVolumeClaim)
        relay(StorageV1.StorageClass.self, .storageClass)
        relay(StorageV1.CSINode.self, .csiNode)
        relay(StorageV1.CSIDriver.self, .csiDriver)
        relay(CoreV1.Namespace.self, .namespace)
        relay(PolicyV1.PodDisruptionBudget.self, .podDisruptionBudget)
    }

    func podAdded(_ p: CoreV1.Pod) {
        if !p.spec.nodeName.isEmpty {
            cache.addPod(p)
            queue.moveAllToActiveOrBackoff(ClusterEvent(.assignedPod, .add))
        } else if responsible(for: p) && p.metadata.deletionTimestamp == nil {
            queue.add(PodInfo(p))
        }
    }

    func podUpdated(_ old: CoreV1.Pod, _ new: CoreV1.Pod) {
        if !new.spec.nodeName.isEmpty {
            if old.spec.nodeName.isEmpty {
                queue.delete(old)
                profiles.values.first?.handle.nominator.remove(new)
                cache.addPod(new)
                queue.moveAllToActiveOrBackoff(ClusterEvent(.assignedPod, .add))
                return
            }
            cache.updatePod(new)
            var actions: ClusterEvent.Action = []
            if old.metadata.labels != new.metadata.labels { actions.insert(.updatePodLabel) }
            if Self.scaledDown(old, new) { actions.insert(.updatePodScaleDown) }
            if !actions.isEmpty { queue.moveAllToActiveOrBackoff(ClusterEvent(.assignedPod, actions)) }
            return
        }
        guard responsible(for: new) else { return }
        if new.metadata.deletionTimestamp != nil {
            queue.delete(new)
            return
        }
        // Our own status writes (conditions, nomination) change nothing the cycle looks at.
        if old.spec == new.spec && old.metadata.labels == new.metadata.labels
            && old.metadata.annotations == new.metadata.annotations
        {
            return
        }
        queue.update(PodInfo(new))
        if old.spec.schedulingGates.count > 0 && new.spec.schedulingGates.isEmpty {
            queue.moveAllToActiveOrBackoff(ClusterEvent(.unscheduledPod, .updatePodSchedulingGatesEliminated))
        }
    }

    func podDeleted(_ p: CoreV1.Pod) {
        if !p.spec.nodeName.isEmpty || cache.nodeOf(p) != nil {
            cache.removePod(p)
            queue.moveAllToActiveOrBackoff(ClusterEvent(.assignedPod, .delete))
        } else {
            queue.delete(p)
        }
        profiles.values.first?.handle.nominator.remove(p)
    }

    /// What a node update changed, as the queue's events name it (heartbeats change nothing).
    static func nodeUpdateActions(_ old: CoreV1.Node, _ new: CoreV1.Node) -> ClusterEvent.Action {
        var a: ClusterEvent.Action = []
        if old.status.allocatable != new.status.allocatable { a.insert(.updateNodeAllocatable) }
        if old.metadata.labels != new.metadata.labels { a.insert(.updateNodeLabel) }
        if old.spec.taints != new.spec.taints || old.spec.unschedulable != new.spec.unschedulable {
            a.insert(.updateNodeTaint)
        }
        let oc = old.status.conditions.map { "\($0.type)=\($0.status)" }
        let nc = new.status.conditions.map { "\($0.type)=\($0.status)" }
        if oc != nc { a.insert(.updateNodeCondition) }
        if old.metadata.annotations != new.metadata.annotations { a.insert(.updateNodeAnnotation) }
        return a
    }

    static func now() -> Time { Time(seconds: Int64(Date().timeIntervalSince1970)) }

    static func scaledDown(_ old: CoreV1.Pod, _ new: CoreV1.Pod) -> Bool {
        let o = old.spec.schedulingRequests
        let n = new.spec.schedulingRequests
        return n.milliCPU < o.milliCPU || n.memory < o.memory || n.ephemeralStorage < o.ephemeralStorage
    }

    // MARK: running

    /// Starts the informers, waits for their first state, then schedules until cancelled.
    public func run() async {
        informers.start()
        await informers.waitForSync()
        await podInformer.waitForSync()
        log("informers synced: \(cache.nodeCount) nodes, \(podInformer.store.count) pods")
        let flusher = Task {
            var n = 0
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                queue.flushBackoffCompleted()
                n += 1
                if n % 30 == 0 { queue.flushUnschedulableLeftover() }
            }
        }
        await withTaskCancellationHandler {
            while !Task.isCancelled {
                guard let qp = await queue.pop() else { break }
                await scheduleOne(qp)
            }
        } onCancel: {
            queue.close()
        }
        flusher.cancel()
        await bindingSlots.drain()
        informers.stop()
    }

    /// One scheduling cycle, then the binding cycle started behind it.
    func scheduleOne(_ qp: QueuedPodInfo) async {
        let podInfo = qp.podInfo
        guard let fwk = profiles[podInfo.pod.spec.schedulerName] else {
            queue.done(podInfo.pod)
            return
        }
        // A pod deleted or bound meanwhile is not scheduled again.
        guard let cur = podInformer.store.get(podInfo.key), cur.metadata.uid == podInfo.uid,
            cur.spec.nodeName.isEmpty, cur.metadata.deletionTimestamp == nil
        else {
            queue.done(podInfo.pod)
            return
        }
        if cache.isAssumed(podInfo.pod) {
            queue.done(podInfo.pod)
            return
        }
        let cycle = queue.schedulingCycle
        cache.updateSnapshot(snapshot)
        let state = CycleState()
        let start = ContinuousClock.now
        let result: ScheduleResult
        do {
            result = try algorithm.withLock { a throws(SchedulingAlgorithm.Failure) in
                try a.schedule(fwk, state, podInfo, snapshot)
            }
        } catch {
            await handleScheduleFailure(fwk, state, qp, error, cycle: cycle)
            metrics.attempt("unschedulable", since: start)
            return
        }
        // Assume: the next cycles see the pod on its node before the binding is written.
        var assumedPod = podInfo.pod
        assumedPod.spec.nodeName = result.suggestedHost
        let assumed = PodInfo(assumedPod)
        cache.assume(assumed, on: result.suggestedHost)
        if let s = fwk.runReserve(state, assumed, node: result.suggestedHost) {
            fwk.runUnreserve(state, assumed, node: result.suggestedHost)
            cache.forget(assumed)
            await fail(fwk, qp, status: s, cycle: cycle, plugins: [s.plugin])
            return
        }
        let (permit, wait) = fwk.runPermit(state, assumed, node: result.suggestedHost)
        if let permit, permit.code != .wait {
            fwk.runUnreserve(state, assumed, node: result.suggestedHost)
            cache.forget(assumed)
            await fail(fwk, qp, status: permit, cycle: cycle, plugins: [permit.plugin])
            return
        }
        metrics.attempt("scheduled", since: start)
        // A pod nominated elsewhere by an earlier preemption is nominated no more.
        fwk.handle.nominator.remove(podInfo.pod)
        await bindingSlots.acquire()
        Task {
            if permit?.code == .wait { try? await Task.sleep(for: wait) }
            await bind(fwk, state, qp, assumed, node: result.suggestedHost, cycle: cycle)
            bindingSlots.release()
        }
    }

    func bind(
        _ fwk: Framework, _ state: CycleState, _ qp: QueuedPodInfo, _ assumed: PodInfo, node: String, cycle: Int64
    )
        async
    {
        var status = await fwk.runPreBind(state, assumed, node: node)
        if status == nil { status = await fwk.runBind(state, assumed, node: node) }
        if let status {
            fwk.runUnreserve(state, assumed, node: node)
            cache.forget(assumed)
            queue.moveAllToActiveOrBackoff(ClusterEvent(.assignedPod, .delete))
            await fail(fwk, qp, status: status, cycle: cycle, plugins: [])
            return
        }
        metrics.bound()
        fwk.handle.recorder?.normal(
            assumed.pod, reason: "Scheduled", action: "Binding",
            note: "Successfully assigned \(assumed.namespace)/\(assumed.name) to \(node)")
        await fwk.runPostBind(state, assumed, node: node)
        queue.done(assumed.pod)
    }

    func handleScheduleFailure(
        _ fwk: Framework, _ state: CycleState, _ qp: QueuedPodInfo, _ failure: SchedulingAlgorithm.Failure, cycle: Int64
    ) async {
        switch failure {
        case .noNodes:
            await fail(
                fwk, qp, status: .unresolvable(SchedulingAlgorithm.noNodesAvailable), cycle: cycle, plugins: [],
                message: SchedulingAlgorithm.noNodesAvailable)
        case .error(let s):
            await fail(fwk, qp, status: s, cycle: cycle, plugins: [])
        case .fit(var fitError):
            // PostFilter (preemption) may free a node for the pod later.
            var nominated: String?
            if !fwk.postFilter.isEmpty {
                let (r, s) = await fwk.runPostFilter(state, qp.podInfo, fitError.diagnosis)
                fitError.diagnosis.postFilterMessage = s.message
                if s.isSuccess || s.isRejected { nominated = r?.nominatedNodeName }
            }
            if let nominated {
                fwk.handle.nominator.set(qp.podInfo, node: nominated)
            }
            await fail(
                fwk, qp, status: Status(.unschedulable), cycle: cycle,
                plugins: fitError.diagnosis.unschedulablePlugins, pending: fitError.diagnosis.pendingPlugins,
                message: fitError.message, nominatedNode: nominated)
        }
    }

    /// Requeues the pod, records FailedScheduling and writes the PodScheduled condition.
    func fail(
        _ fwk: Framework, _ qp: QueuedPodInfo, status: Status, cycle: Int64, plugins: Set<String>,
        pending: Set<String> = [], message: String? = nil, nominatedNode: String? = nil
    ) async {
        let pod = qp.podInfo.pod
        let msg = message ?? status.message
        let reason = status.isRejected ? "Unschedulable" : "SchedulerError"
        // Gone or bound meanwhile: nothing to report.
        guard let cur = podInformer.store.get(qp.podInfo.key), cur.metadata.uid == pod.metadata.uid,
            cur.spec.nodeName.isEmpty
        else {
            queue.done(pod)
            return
        }
        queue.addUnschedulable(qp, cycle: cycle, plugins: plugins.subtracting([""]), pending: pending)
        fwk.handle.recorder?.warning(cur, reason: "FailedScheduling", action: "Scheduling", note: msg)
        await updateCondition(cur, reason: reason, message: msg, nominatedNode: nominatedNode)
    }

    /// Writes `PodScheduled=False` (and the nominated node) when it changes, as a strategic merge
    /// patch of the status.
    func updateCondition(_ pod: CoreV1.Pod, reason: String, message: String, nominatedNode: String?) async {
        let old = pod.status.conditions.first { $0.type == "PodScheduled" }
        let nominationChanges = nominatedNode.map { $0 != pod.status.nominatedNodeName } ?? false
        if let old, old.status == "False", old.reason == reason, old.message == message, !nominationChanges { return }
        let transition =
            old?.status == "False" ? (old?.lastTransitionTime ?? Self.now()) : Self.now()
        let body = PodConditionPatch.body(
            type: "PodScheduled", status: "False", reason: reason, message: message, lastTransitionTime: transition,
            nominatedNodeName: nominationChanges ? nominatedNode : nil)
        Task { [client] in
            _ = try? await client.patch(
                CoreV1.Pod.self, pod.metadata.name, namespace: pod.metadata.namespace, type: .strategicMerge,
                body: body, subresource: "status")
        }
    }
}

/// A counting semaphore for bindings in flight.
final class BindingSlots: Sendable {
    struct State {
        var free: Int
        var waiters: [CheckedContinuation<Void, Never>] = []
        var drainers: [CheckedContinuation<Void, Never>] = []
        let total: Int
    }
    let state: Mutex<State>

    init(_ n: Int) { state = Mutex(State(free: n, total: n)) }

    func acquire() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let now = state.withLock { s -> Bool in
                if s.free > 0 {
                    s.free -= 1
                    return true
                }
                s.waiters.append(c)
                return false
            }
            if now { c.resume() }
        }
    }

    func release() {
        let (w, d) = state.withLock { s -> (CheckedContinuation<Void, Never>?, [CheckedContinuation<Void, Never>]) in
            if !s.waiters.isEmpty { return (s.waiters.removeFirst(), []) }
            s.free += 1
            if s.free == s.total {
                let d = s.drainers
                s.drainers = []
                return (nil, d)
            }
            return (nil, [])
        }
        w?.resume()
        for c in d { c.resume() }
    }

    /// Waits until every binding has finished.
    func drain() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let done = state.withLock { s -> Bool in
                if s.free == s.total { return true }
                s.drainers.append(c)
                return false
            }
            if done { c.resume() }
        }
    }
}

extension KubeScheduler {
    /// The scheduler's metrics in Prometheus text format.
    public func metricsText() -> String { metrics.render(queue: queue) }
}
