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
    }

    let state = Mutex(State())
    public let limiter: ControllerRateLimiter<Key>

    public init(limiter: ControllerRateLimiter<Key> = ControllerRateLimiter()) { self.limiter = limiter }

    public func add(_ key: Key) {
        let waiter: CheckedContinuation<Key?, Never>? = state.withLock { s in
            if s.shuttingDown || s.dirty.contains(key) { return nil }
            s.dirty.insert(key)
            if s.processing.contains(key) { return nil }
            if !s.waiters.isEmpty {
                s.dirty.remove(key)
                s.processing.insert(key)
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
    public func addRateLimited(_ key: Key) { add(key, after: limiter.when(key)) }

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
            return s.dirty.contains(key)
        }
        if requeue {
            let waiter: CheckedContinuation<Key?, Never>? = state.withLock { s in
                guard s.dirty.contains(key), !s.processing.contains(key) else { return nil }
                if !s.waiters.isEmpty {
                    s.dirty.remove(key)
                    s.processing.insert(key)
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
