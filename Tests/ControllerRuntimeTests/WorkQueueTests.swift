import Synchronization
import Testing

@testable import ControllerRuntime

@Suite("work queue and rate limiter")
struct WorkQueueTests {
    @Test("a key added twice while queued is handed out once")
    func dedupe() async {
        let q = WorkQueue<String>()
        q.add("a")
        q.add("b")
        q.add("a")
        #expect(q.count == 2)
        #expect(await q.get() == "a")
        #expect(await q.get() == "b")
        #expect(q.count == 0)
    }

    @Test("a key added while being processed is queued again only when its worker is done")
    func noConcurrentProcessing() async {
        let q = WorkQueue<String>()
        q.add("a")
        let first = await q.get()
        #expect(first == "a")
        q.add("a")
        #expect(q.count == 0, "held back while a worker has it")
        q.done("a")
        #expect(q.count == 1)
        #expect(await q.get() == "a")
        q.done("a")
        #expect(q.count == 0)
    }

    @Test("a waiting worker gets a key added later, and nil after shutdown")
    func waitingWorkers() async {
        let q = WorkQueue<Int>()
        async let got = q.get()
        try? await Task.sleep(for: .milliseconds(20))
        q.add(7)
        #expect(await got == 7)
        async let none = q.get()
        try? await Task.sleep(for: .milliseconds(20))
        q.shutDown()
        #expect(await none == nil)
    }

    @Test("delayed adds arrive after their delay")
    func delayed() async throws {
        let q = WorkQueue<String>()
        let start = ContinuousClock.now
        q.add("x", after: .milliseconds(100))
        #expect(q.count == 0)
        #expect(await q.get() == "x")
        #expect(ContinuousClock.now - start >= .milliseconds(95))
    }

    @Test("per-item backoff doubles from 5 ms to its cap, and forget resets it (client-go's default limiter)")
    func backoff() {
        let l = ControllerRateLimiter<String>(
            base: .milliseconds(5), cap: .seconds(1000), qps: 1_000_000, burst: 1_000_000)
        #expect(l.when("a") == .milliseconds(5))
        #expect(l.when("a") == .milliseconds(10))
        #expect(l.when("a") == .milliseconds(20))
        #expect(l.when("b") == .milliseconds(5), "per item")
        #expect(l.retries("a") == 3)
        for _ in 0..<30 { _ = l.when("a") }
        #expect(l.when("a") == .seconds(1000))
        l.forget("a")
        #expect(l.when("a") == .milliseconds(5))
    }

    @Test("the overall bucket limits retries across items once its burst is spent")
    func bucket() {
        let l = ControllerRateLimiter<Int>(base: .nanoseconds(1), cap: .seconds(1), qps: 10, burst: 2)
        #expect(l.when(1) < .milliseconds(1))
        #expect(l.when(2) < .milliseconds(1))
        let third = l.when(3)
        #expect(third > .milliseconds(90) && third <= .milliseconds(100))
    }

    @Test("workers process every key once and retry failures with backoff")
    func workers() async {
        let q = WorkQueue<Int>()
        let seen = Mutex<[Int: Int]>([:])
        for i in 0..<50 { q.add(i) }
        let task = Task {
            await q.runWorkers(4) { key in
                let n = seen.withLock { s in
                    s[key, default: 0] += 1
                    return s[key]!
                }
                // Key 7 fails twice before it succeeds.
                if key == 7 && n < 3 { throw CancellationError() }
            }
        }
        for _ in 0..<200 {
            if seen.withLock({ $0.count == 50 && $0[7] == 3 }) { break }
            try? await Task.sleep(for: .milliseconds(10))
        }
        task.cancel()
        await task.value
        #expect(seen.withLock { $0.count } == 50)
        #expect(seen.withLock { $0.filter { $0.key != 7 }.allSatisfy { $0.value == 1 } })
        #expect(seen.withLock { $0[7] } == 3)
    }
}
