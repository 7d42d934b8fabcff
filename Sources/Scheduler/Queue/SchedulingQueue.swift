import APICore
import Foundation
import Synchronization

/// A pending pod in the queue, with its scheduling history.
public final class QueuedPodInfo: @unchecked Sendable {
    public internal(set) var podInfo: PodInfo
    /// When it was last added or failed (the backoff counts from here).
    public internal(set) var timestamp: Double
    /// When it first entered the queue (QueueSort's tie-break).
    public internal(set) var initialTimestamp: Double
    public internal(set) var attempts = 0
    /// Plugins that rejected it in its last attempt; only events they care about retry it.
    public internal(set) var unschedulablePlugins: Set<String> = []
    public internal(set) var pendingPlugins: Set<String> = []
    /// Held back by a PreEnqueue plugin (scheduling gates).
    public internal(set) var gatingPlugin: String?

    init(_ p: PodInfo, now: Double) {
        podInfo = p
        timestamp = now
        initialTimestamp = now
    }

    public var pod: CoreV1.Pod { podInfo.pod }
    var id: String { SchedulerCache.podID(podInfo.pod) }
}

/// The scheduling queue (upstream's `PriorityQueue`): an active heap in QueueSort order, a backoff
/// heap by expiry, and the unschedulable pool that waits for a cluster event; PreEnqueue plugins
/// keep gated pods out of the active heap. Time comes from `now` (seconds, monotonic) so tests
/// drive it; `flushBackoffCompleted` and `flushUnschedulableLeftover` are called periodically by
/// the scheduler.
public final class SchedulingQueue: Sendable {
    public struct Options: Sendable {
        public var initialBackoff: Double = 1
        public var maxBackoff: Double = 10
        /// How long a pod may sit unschedulable before it is retried anyway.
        public var maxInUnschedulable: Double = 300
        public init() {}
    }

    struct State {
        var active: KeyedHeap<QueuedPodInfo>
        var backoff: KeyedHeap<QueuedPodInfo>
        var unschedulable: [String: QueuedPodInfo] = [:]
        var inFlight: [String: QueuedPodInfo] = [:]
        var schedulingCycle: Int64 = 0
        var moveRequestCycle: Int64 = -1
        var waiter: CheckedContinuation<QueuedPodInfo?, Never>?
        var closed = false
    }

    let state: Mutex<State>
    let options: Options
    let now: @Sendable () -> Double
    let preEnqueue: @Sendable (PodInfo) -> (plugin: String, status: Status)?
    /// Which plugins each event may help (from the plugins' `eventsToRegister`).
    let interests: [(event: ClusterEvent, plugins: Set<String>)]

    public init(
        options: Options = Options(), less: @escaping @Sendable (QueuedPodInfo, QueuedPodInfo) -> Bool,
        preEnqueue: @escaping @Sendable (PodInfo) -> (plugin: String, status: Status)? = { _ in nil },
        interests: [(event: ClusterEvent, plugins: Set<String>)] = [],
        now: @escaping @Sendable () -> Double = SchedulingQueue.monotonicNow
    ) {
        self.options = options
        self.now = now
        self.preEnqueue = preEnqueue
        self.interests = interests
        let opts = options
        state = Mutex(
            State(
                active: KeyedHeap(key: { $0.id }, less: less),
                backoff: KeyedHeap(
                    key: { $0.id },
                    less: { a, b in
                        Self.backoffExpiry(a, opts) < Self.backoffExpiry(b, opts)
                    })))
    }

    public static let monotonicNow: @Sendable () -> Double = {
        let t = ContinuousClock.now - start
        return Double(t.components.seconds) + Double(t.components.attoseconds) / 1e18
    }
    static let start = ContinuousClock.now

    /// Upstream's backoff: none before any attempt, then the initial duration doubled per attempt
    /// after the first, capped.
    static func backoffDuration(_ attempts: Int, _ o: Options) -> Double {
        var d = o.initialBackoff
        if attempts <= 0 { return 0 }
        if attempts == 1 { return min(d, o.maxBackoff) }
        for _ in 1..<attempts {
            d *= 2
            if d > o.maxBackoff { return o.maxBackoff }
        }
        return d
    }

    static func backoffExpiry(_ p: QueuedPodInfo, _ o: Options) -> Double {
        p.timestamp + backoffDuration(p.attempts, o)
    }

    func isBackingOff(_ p: QueuedPodInfo, _ t: Double) -> Bool {
        p.attempts > 0 && Self.backoffExpiry(p, options) > t
    }

    // MARK: adding

    /// A new pending pod (or one seen pending again).
    public func add(_ info: PodInfo) {
        let t = now()
        let qp = QueuedPodInfo(info, now: t)
        let wake = state.withLock { s -> (CheckedContinuation<QueuedPodInfo?, Never>, QueuedPodInfo)? in
            if s.active.contains(qp.id) || s.backoff.contains(qp.id) || s.unschedulable[qp.id] != nil
                || s.inFlight[qp.id] != nil
            {
                return nil
            }
            return self.moveToActive(&s, qp)
        }
        if let (c, p) = wake { c.resume(returning: p) }
    }

    /// Into the active heap unless a PreEnqueue plugin holds it; answers a waiting pop to wake.
    func moveToActive(_ s: inout State, _ qp: QueuedPodInfo) -> (
        CheckedContinuation<QueuedPodInfo?, Never>, QueuedPodInfo
    )? {
        if let gate = preEnqueue(qp.podInfo) {
            qp.gatingPlugin = gate.plugin
            s.unschedulable[qp.id] = qp
            return nil
        }
        qp.gatingPlugin = nil
        s.unschedulable[qp.id] = nil
        s.backoff.remove(qp.id)
        if let w = s.waiter {
            s.waiter = nil
            s.inFlight[qp.id] = qp
            s.schedulingCycle += 1
            qp.attempts += 1
            return (w, qp)
        }
        s.active.upsert(qp)
        return nil
    }

    /// The pod's spec or labels changed while it waits.
    public func update(_ info: PodInfo) {
        let id = SchedulerCache.podID(info.pod)
        let wake = state.withLock { s -> (CheckedContinuation<QueuedPodInfo?, Never>, QueuedPodInfo)? in
            if let qp = s.active.get(id) {
                qp.podInfo = info
                s.active.upsert(qp)
                return nil
            }
            if let qp = s.backoff.get(id) {
                qp.podInfo = info
                s.backoff.upsert(qp)
                return nil
            }
            if let qp = s.inFlight[id] {
                qp.podInfo = info
                return nil
            }
            if let qp = s.unschedulable[id] {
                qp.podInfo = info
                // A change to the pod itself may make it schedulable: retry (after its backoff).
                if qp.gatingPlugin == nil && isBackingOff(qp, now()) {
                    s.unschedulable[id] = nil
                    s.backoff.upsert(qp)
                    return nil
                }
                return self.moveToActive(&s, qp)
            }
            let qp = QueuedPodInfo(info, now: now())
            return self.moveToActive(&s, qp)
        }
        if let (c, p) = wake { c.resume(returning: p) }
    }

    public func delete(_ pod: CoreV1.Pod) {
        let id = SchedulerCache.podID(pod)
        state.withLock { s in
            s.active.remove(id)
            s.backoff.remove(id)
            s.unschedulable[id] = nil
        }
    }

    /// Takes the next pod, waiting while the active heap is empty; nil once closed.
    public func pop() async -> QueuedPodInfo? {
        await withCheckedContinuation { (c: CheckedContinuation<QueuedPodInfo?, Never>) in
            let ready = state.withLock { s -> QueuedPodInfo?? in
                if s.closed { return .some(nil) }
                if let p = s.active.pop() {
                    s.inFlight[p.id] = p
                    s.schedulingCycle += 1
                    p.attempts += 1
                    return .some(p)
                }
                s.waiter = c
                return nil
            }
            if let r = ready { c.resume(returning: r) }
        }
    }

    /// The pop without waiting (tests).
    public func tryPop() -> QueuedPodInfo? {
        state.withLock { s in
            guard let p = s.active.pop() else { return nil }
            s.inFlight[p.id] = p
            s.schedulingCycle += 1
            p.attempts += 1
            return p
        }
    }

    public var schedulingCycle: Int64 { state.withLock { $0.schedulingCycle } }

    /// A pod's attempt ended (scheduled or not).
    public func done(_ pod: CoreV1.Pod) {
        _ = state.withLock { $0.inFlight.removeValue(forKey: SchedulerCache.podID(pod)) }
    }

    /// After a failed attempt: to the backoff heap when a cluster event arrived during the attempt
    /// (or the failure was an error), else to the unschedulable pool to wait for one.
    public func addUnschedulable(_ qp: QueuedPodInfo, cycle: Int64, plugins: Set<String>, pending: Set<String> = []) {
        let t = now()
        state.withLock { s in
            s.inFlight[qp.id] = nil
            if s.active.contains(qp.id) || s.backoff.contains(qp.id) || s.unschedulable[qp.id] != nil { return }
            qp.timestamp = t
            qp.unschedulablePlugins = plugins
            qp.pendingPlugins = pending
            if s.moveRequestCycle >= cycle || plugins.isEmpty {
                s.backoff.upsert(qp)
            } else {
                s.unschedulable[qp.id] = qp
            }
        }
    }

    /// Moves backed-off pods whose backoff is over to the active heap.
    public func flushBackoffCompleted() {
        let t = now()
        let wake = state.withLock { s -> (CheckedContinuation<QueuedPodInfo?, Never>, QueuedPodInfo)? in
            var wake: (CheckedContinuation<QueuedPodInfo?, Never>, QueuedPodInfo)?
            while let p = s.backoff.first, !isBackingOff(p, t) {
                s.backoff.remove(p.id)
                if let w = moveToActive(&s, p) { wake = w }
            }
            return wake
        }
        if let (c, p) = wake { c.resume(returning: p) }
    }

    /// Retries pods that waited in the unschedulable pool longer than `maxInUnschedulable`.
    public func flushUnschedulableLeftover() {
        let t = now()
        let stale = state.withLock { s in
            s.unschedulable.values.filter { $0.gatingPlugin == nil && t - $0.timestamp > options.maxInUnschedulable }
        }
        if !stale.isEmpty { move(stale, event: .wildcard) }
    }

    /// A cluster event: unschedulable pods rejected by a plugin that registered interest in it go
    /// back to the active heap (or to backoff while they still back off).
    public func moveAllToActiveOrBackoff(_ event: ClusterEvent, precheck: ((PodInfo) -> Bool)? = nil) {
        let interested: Set<String>? =
            event == .wildcard
            ? nil
            : interests.reduce(into: Set<String>()) { acc, i in if i.event.covers(event) { acc.formUnion(i.plugins) } }
        let candidates = state.withLock { s -> [QueuedPodInfo] in
            s.moveRequestCycle = s.schedulingCycle
            return s.unschedulable.values.filter { qp in
                guard qp.gatingPlugin == nil else { return false }
                guard let interested else { return true }
                let rejectors = qp.unschedulablePlugins.union(qp.pendingPlugins)
                return rejectors.isEmpty || !rejectors.isDisjoint(with: interested)
            }
        }
        move(candidates.filter { precheck?($0.podInfo) ?? true }, event: event)
    }

    func move(_ pods: [QueuedPodInfo], event: ClusterEvent) {
        let t = now()
        var wakes: [(CheckedContinuation<QueuedPodInfo?, Never>, QueuedPodInfo)] = []
        state.withLock { s in
            for qp in pods where s.unschedulable[qp.id] === qp {
                if isBackingOff(qp, t) {
                    s.unschedulable[qp.id] = nil
                    s.backoff.upsert(qp)
                } else if let w = moveToActive(&s, qp) {
                    wakes.append(w)
                }
            }
        }
        for (c, p) in wakes { c.resume(returning: p) }
    }

    public func close() {
        let w = state.withLock { s -> CheckedContinuation<QueuedPodInfo?, Never>? in
            s.closed = true
            let w = s.waiter
            s.waiter = nil
            return w
        }
        w?.resume(returning: nil)
    }

    /// Counts per sub-queue (metrics `scheduler_pending_pods`, tests).
    public var counts: (active: Int, backoff: Int, unschedulable: Int, gated: Int) {
        state.withLock { s in
            let gated = s.unschedulable.values.filter { $0.gatingPlugin != nil }.count
            return (s.active.count, s.backoff.count, s.unschedulable.count - gated, gated)
        }
    }

    public func contains(_ pod: CoreV1.Pod) -> Bool {
        let id = SchedulerCache.podID(pod)
        return state.withLock { s in
            s.active.contains(id) || s.backoff.contains(id) || s.unschedulable[id] != nil || s.inFlight[id] != nil
        }
    }
}
