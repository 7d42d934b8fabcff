import Foundation
import KubeClient
import Synchronization

/// Upstream's default controller rate limiter: the larger of a per-item exponential backoff
/// (5 ms doubling to 1000 s) and an overall token bucket (10 per second, burst 100).
public final class ControllerRateLimiter<Key: Hashable & Sendable>: Sendable {
    let base: Duration
    let cap: Duration
    let bucket: TokenBucket
    let failures = Mutex<[Key: Int]>([:])

    public init(
        base: Swift.Duration = .milliseconds(5), cap: Swift.Duration = .seconds(1000), qps: Double = 10,
        burst: Int = 100
    ) {
        self.base = base
        self.cap = cap
        bucket = TokenBucket(qps: qps, burst: burst)
    }

    /// The delay before `item` may be retried; each call counts one more failure.
    public func when(_ item: Key) -> Swift.Duration {
        let n = failures.withLock { f -> Int in
            let n = f[item, default: 0]
            f[item] = n + 1
            return n
        }
        let exp = n >= 40 ? cap : min(cap, base * (1 << n))
        return max(exp, bucket.reserve())
    }

    public func forget(_ item: Key) { _ = failures.withLock { $0.removeValue(forKey: item) } }
    public func retries(_ item: Key) -> Int { failures.withLock { $0[item, default: 0] } }
}

/// A work queue of keys (client-go's `workqueue`): a key added while queued is queued once; a key
/// added while a worker processes it is queued again only when that worker is done, so no two
/// workers ever hold the same key; delayed and rate-limited re-adds.
public final class WorkQueue<Key: Hashable & Sendable>: Sendable {
    struct State {
        var queue: [Key] = []
        var head = 0
        var dirty: Set<Key> = []
        var processing: Set<Key> = []
        var waiters: [CheckedContinuation<Key?, Never>] = []
        var shuttingDown = false
        /// With metrics: when each queued key was added, and when each key in process was handed out.
        var addedAt: [Key: ContinuousClock.Instant] = [:]
        var startedAt: [Key: ContinuousClock.Instant] = [:]
    }

    let state = Mutex(State())
    public let limiter: ControllerRateLimiter<Key>
    /// The queue's name in client-go's `workqueue_*` metrics; nil keeps it out of them.
    public let name: String?

    public init(name: String? = nil, limiter: ControllerRateLimiter<Key> = ControllerRateLimiter()) {
        self.limiter = limiter
        self.name = name
        if let name {
            MetricRegistry.shared.addCollector { [weak self] in self?.collect(name) }
        }
    }

    static var durationBounds: [Double] { (0..<10).map { pow(10, Double($0 - 8)) } }

    /// Depth and in-process work, read when metrics are rendered.
    func collect(_ name: String) {
        let now = ContinuousClock.now
        let (depth, running) = state.withLock { s in (s.queue.count - s.head, s.startedAt.values.map { now - $0 }) }
        let m = MetricRegistry.shared
        m.set("workqueue_depth", help: "Current depth of workqueue", labels: ["name": name], Double(depth))
        m.set(
            "workqueue_unfinished_work_seconds",
            help:
                "How many seconds of work has been done that is in progress and hasn't been observed by work_duration. Large values indicate stuck threads. One can deduce the number of stuck threads by observing the rate at which this increases.",
            labels: ["name": name], running.reduce(0) { $0 + MetricRegistry.seconds($1) })
        m.set(
            "workqueue_longest_running_processor_seconds",
            help: "How many seconds has the longest running processor for workqueue been running.",
            labels: ["name": name], running.map(MetricRegistry.seconds).max() ?? 0)
    }

    func noteAdded(_ key: Key, _ s: inout State) {
        guard let name else { return }
        s.addedAt[key] = s.addedAt[key] ?? .now
        MetricRegistry.shared.increment(
            "workqueue_adds_total", help: "Total number of adds handled by workqueue", labels: ["name": name])
    }

    func noteStarted(_ key: Key, _ s: inout State) {
        guard let name else { return }
        let now = ContinuousClock.now
        if let added = s.addedAt.removeValue(forKey: key) {
            MetricRegistry.shared.observe(
                "workqueue_queue_duration_seconds",
                help: "How long in seconds an item stays in workqueue before being requested.",
                bounds: Self.durationBounds, labels: ["name": name], MetricRegistry.seconds(now - added))
        }
        s.startedAt[key] = now
    }

    func noteDone(_ key: Key, _ s: inout State) {
        guard let name, let started = s.startedAt.removeValue(forKey: key) else { return }
        MetricRegistry.shared.observe(
            "workqueue_work_duration_seconds", help: "How long in seconds processing an item from workqueue takes.",
            bounds: Self.durationBounds, labels: ["name": name], MetricRegistry.seconds(.now - started))
    }

    public func add(_ key: Key) {
        let waiter: CheckedContinuation<Key?, Never>? = state.withLock { s in
            if s.shuttingDown || s.dirty.contains(key) { return nil }
            s.dirty.insert(key)
            noteAdded(key, &s)
            if s.processing.contains(key) { return nil }
            if !s.waiters.isEmpty {
                s.dirty.remove(key)
                s.processing.insert(key)
                noteStarted(key, &s)
                return s.waiters.removeFirst()
            }
            s.queue.append(key)
            return nil
        }
        waiter?.resume(returning: key)
    }

    /// Adds after a delay.
    public func add(_ key: Key, after delay: Swift.Duration) {
        if delay <= .zero { return add(key) }
        Task {
            try? await Task.sleep(for: delay)
            self.add(key)
        }
    }

    /// Adds after the rate limiter's delay for this key (a failed attempt).
    public func addRateLimited(_ key: Key) {
        if let name {
            MetricRegistry.shared.increment(
                "workqueue_retries_total", help: "Total number of retries handled by workqueue", labels: ["name": name])
        }
        add(key, after: limiter.when(key))
    }

    /// Clears the key's failure count (a successful attempt).
    public func forget(_ key: Key) { limiter.forget(key) }

    /// The next key to process, waiting for one; nil once the queue shuts down.
    public func get() async -> Key? {
        await withCheckedContinuation { (c: CheckedContinuation<Key?, Never>) in
            let ready: Key?? = state.withLock { s in
                if s.head < s.queue.count {
                    let k = s.queue[s.head]
                    s.head += 1
                    if s.head > 1024 && s.head * 2 > s.queue.count {
                        s.queue.removeFirst(s.head)
                        s.head = 0
                    }
                    s.dirty.remove(k)
                    s.processing.insert(k)
                    noteStarted(k, &s)
                    return .some(k)
                }
                if s.shuttingDown { return .some(nil) }
                s.waiters.append(c)
                return .none
            }
            if let r = ready { c.resume(returning: r) }
        }
    }

    /// Marks a key processed; if it was added meanwhile it is queued again.
    public func done(_ key: Key) {
        let requeue = state.withLock { s in
            s.processing.remove(key)
            noteDone(key, &s)
            return s.dirty.contains(key)
        }
        if requeue {
            let waiter: CheckedContinuation<Key?, Never>? = state.withLock { s in
                guard s.dirty.contains(key), !s.processing.contains(key) else { return nil }
                if !s.waiters.isEmpty {
                    s.dirty.remove(key)
                    s.processing.insert(key)
                    noteStarted(key, &s)
                    return s.waiters.removeFirst()
                }
                s.queue.append(key)
                return nil
            }
            waiter?.resume(returning: key)
        }
    }

    /// Stops handing out keys; waiting workers get nil.
    public func shutDown() {
        let waiters = state.withLock { s in
            s.shuttingDown = true
            let w = s.waiters
            s.waiters = []
            return w
        }
        for w in waiters { w.resume(returning: nil) }
    }

    /// Keys queued and not yet handed out.
    public var count: Int { state.withLock { $0.queue.count - $0.head } }

    /// Runs `workers` workers until cancelled: each takes a key, reconciles it, forgets it on success
    /// and re-adds it rate-limited on failure.
    public func runWorkers(_ workers: Int, _ reconcile: @escaping @Sendable (Key) async throws -> Void) async {
        await withTaskCancellationHandler {
            await withTaskGroup(of: Void.self) { group in
                for _ in 0..<max(1, workers) {
                    group.addTask {
                        while let key = await self.get() {
                            do {
                                try await reconcile(key)
                                self.forget(key)
                            } catch {
                                self.addRateLimited(key)
                            }
                            self.done(key)
                        }
                    }
                }
            }
        } onCancel: {
            self.shutDown()
        }
    }
}
