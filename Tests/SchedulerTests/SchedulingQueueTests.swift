import APICore
import APIMachinery
import Synchronization
import Testing

@testable import Scheduler

/// A clock the queue tests move by hand (seconds).
final class QueueTestClock: Sendable {
    let seconds = Mutex<Double>(0)
    var now: Double { seconds.withLock { $0 } }
    func set(_ t: Double) { seconds.withLock { $0 = t } }
}

/// A queue ordered by PrioritySort with SchedulingGates as its PreEnqueue plugin, on a manual clock.
/// NodeResourcesFit registers for nodes being added, VolumeBinding for persistent volumes being added.
struct QueueFixture {
    static let nodeAdded = ClusterEvent(.node, .add)
    static let pvAdded = ClusterEvent(.persistentVolume, .add)

    let clock = QueueTestClock()
    let queue: SchedulingQueue

    init(options: SchedulingQueue.Options = SchedulingQueue.Options()) {
        let sort = PrioritySort()
        let gates = SchedulingGates()
        let clock = self.clock
        queue = SchedulingQueue(
            options: options, less: { sort.less($0, $1) },
            preEnqueue: { pod in gates.preEnqueue(pod).map { (SchedulingGates.name, $0) } },
            interests: [(Self.nodeAdded, [NodeResourcesFit.name]), (Self.pvAdded, ["VolumeBinding"])],
            now: { clock.now })
    }

    /// Adds the pod at time `t`.
    func add(_ pod: CoreV1.Pod, at t: Double) {
        clock.set(t)
        queue.add(PodInfo(pod))
    }

    /// Pops the next pod and fails it at time `t` as rejected by `plugins`, with `event` (if any)
    /// arriving while it was being scheduled.
    @discardableResult
    func popAndFail(
        at t: Double, plugins: Set<String> = [NodeResourcesFit.name], eventDuringAttempt: ClusterEvent? = nil
    )
        -> QueuedPodInfo?
    {
        clock.set(t)
        guard let qp = queue.tryPop() else { return nil }
        let cycle = queue.schedulingCycle
        if let eventDuringAttempt { queue.moveAllToActiveOrBackoff(eventDuringAttempt) }
        queue.addUnschedulable(qp, cycle: cycle, plugins: plugins)
        return qp
    }

    var counts: [String: Int] {
        let c = queue.counts
        return ["active": c.active, "backoff": c.backoff, "unschedulable": c.unschedulable, "gated": c.gated]
    }

    static func counts(active: Int = 0, backoff: Int = 0, unschedulable: Int = 0, gated: Int = 0) -> [String: Int] {
        ["active": active, "backoff": backoff, "unschedulable": unschedulable, "gated": gated]
    }
}

struct BackoffCase: CustomTestStringConvertible, Sendable {
    let name: String
    var initial: Double = 1
    var max: Double = 10
    let attempts: Int
    let want: Double
    var testDescription: String { name }
}

@Suite("SchedulingQueue")
struct SchedulingQueueTests {
    typealias Q = QueueFixture

    @Test("PrioritySort pops higher priority first, then the pod queued earlier")
    func prioritySortOrder() {
        let f = Q()
        f.add(Fixture.pod("low", priority: 1), at: 0)
        f.add(Fixture.pod("mid-late", priority: 5), at: 3)
        f.add(Fixture.pod("high", priority: 10), at: 1)
        f.add(Fixture.pod("mid-early", priority: 5), at: 2)
        f.add(Fixture.pod("default-priority"), at: -1)
        var order: [String] = []
        while let qp = f.queue.tryPop() { order.append(qp.pod.metadata.name) }
        #expect(order == ["high", "mid-early", "mid-late", "low", "default-priority"])
    }

    static let backoffCases: [BackoffCase] = [
        BackoffCase(name: "a pod never attempted gets no backoff", attempts: 0, want: 0),
        BackoffCase(name: "the first attempt backs off the initial 1s", attempts: 1, want: 1),
        BackoffCase(name: "the second attempt doubles it to 2s", attempts: 2, want: 2),
        BackoffCase(name: "the third attempt doubles again to 4s", attempts: 3, want: 4),
        BackoffCase(name: "the fourth attempt reaches 8s", attempts: 4, want: 8),
        BackoffCase(name: "the fifth attempt would be 16s: capped at the 10s maximum", attempts: 5, want: 10),
        BackoffCase(name: "later attempts stay at the maximum", attempts: 30, want: 10),
        BackoffCase(
            name: "podInitialBackoffSeconds 2: the first attempt backs off 2s", initial: 2, max: 5, attempts: 1, want: 2
        ),
        BackoffCase(name: "podMaxBackoffSeconds 5 caps 2s·2·2 at 5s", initial: 2, max: 5, attempts: 3, want: 5),
        BackoffCase(name: "initial equal to the maximum never grows", initial: 3, max: 3, attempts: 4, want: 3),
    ]

    @Test("Backoff is the initial duration doubled per attempt after the first, capped", arguments: backoffCases)
    func backoffDuration(_ c: BackoffCase) {
        var o = SchedulingQueue.Options()
        o.initialBackoff = c.initial
        o.maxBackoff = c.max
        #expect(SchedulingQueue.backoffDuration(c.attempts, o) == c.want)
    }

    @Test("A failed pod waits in the unschedulable pool; an event its rejecting plugin registered moves it")
    func eventMovesRejectedPod() {
        let f = Q()
        f.add(Fixture.pod("p"), at: 0)
        #expect(f.popAndFail(at: 0)?.attempts == 1)
        #expect(f.counts == Q.counts(unschedulable: 1))
        // VolumeBinding did not reject the pod: a new persistent volume cannot help it.
        f.clock.set(0.5)
        f.queue.moveAllToActiveOrBackoff(Q.pvAdded)
        #expect(f.counts == Q.counts(unschedulable: 1))
        // A new node may fit it, but it is still within its 1s backoff: to the backoff queue.
        f.queue.moveAllToActiveOrBackoff(Q.nodeAdded)
        #expect(f.counts == Q.counts(backoff: 1))
    }

    @Test("A registered event after the backoff has expired moves the pod straight to the active queue")
    func eventAfterBackoffMovesToActive() {
        let f = Q()
        f.add(Fixture.pod("p"), at: 0)
        f.popAndFail(at: 0)
        f.clock.set(1)
        f.queue.moveAllToActiveOrBackoff(Q.nodeAdded)
        #expect(f.counts == Q.counts(active: 1))
        #expect(f.queue.tryPop()?.attempts == 2)
    }

    @Test("The wildcard event moves pods rejected by any plugin")
    func wildcardMovesAll() {
        let f = Q()
        f.add(Fixture.pod("p"), at: 0)
        f.popAndFail(at: 0, plugins: ["SomePlugin"])
        f.clock.set(5)
        f.queue.moveAllToActiveOrBackoff(.wildcard)
        #expect(f.counts == Q.counts(active: 1))
    }

    @Test("An event arriving while the pod was being scheduled sends the failed pod to backoff, not the pool")
    func moveRequestDuringAttempt() {
        let f = Q()
        f.add(Fixture.pod("p"), at: 0)
        f.popAndFail(at: 0, eventDuringAttempt: Q.nodeAdded)
        #expect(f.counts == Q.counts(backoff: 1))
    }

    @Test("A pod failing with an error (no rejecting plugin) goes to backoff")
    func errorGoesToBackoff() {
        let f = Q()
        f.add(Fixture.pod("p"), at: 0)
        f.popAndFail(at: 0, plugins: [])
        #expect(f.counts == Q.counts(backoff: 1))
    }

    @Test("flushBackoffCompleted moves a pod to the active queue once its backoff has expired")
    func flushBackoffCompleted() {
        let f = Q()
        f.add(Fixture.pod("p"), at: 0)
        f.popAndFail(at: 0, eventDuringAttempt: Q.nodeAdded)
        f.clock.set(0.9)
        f.queue.flushBackoffCompleted()
        #expect(f.counts == Q.counts(backoff: 1))
        f.clock.set(1)
        f.queue.flushBackoffCompleted()
        #expect(f.counts == Q.counts(active: 1))
        // The second failure (at t=1) backs off 2s: until t=3.
        #expect(f.popAndFail(at: 1, eventDuringAttempt: Q.nodeAdded)?.attempts == 2)
        f.clock.set(2.9)
        f.queue.flushBackoffCompleted()
        #expect(f.counts == Q.counts(backoff: 1))
        f.clock.set(3)
        f.queue.flushBackoffCompleted()
        #expect(f.counts == Q.counts(active: 1))
    }

    @Test("The backoff queue releases pods by backoff expiry, whatever their priority")
    func backoffExpiryOrder() {
        let f = Q()
        f.add(Fixture.pod("low", priority: 1), at: 0)
        f.popAndFail(at: 0, eventDuringAttempt: Q.nodeAdded)  // backs off until t=1
        f.add(Fixture.pod("high", priority: 100), at: 0.5)
        f.popAndFail(at: 0.5, eventDuringAttempt: Q.nodeAdded)  // backs off until t=1.5
        f.clock.set(1.2)
        f.queue.flushBackoffCompleted()
        #expect(f.counts == Q.counts(active: 1, backoff: 1))
        #expect(f.queue.tryPop()?.pod.metadata.name == "low")
    }

    @Test("flushUnschedulableLeftover retries a pod that waited in the pool longer than 5 minutes")
    func flushUnschedulableLeftover() {
        let f = Q()
        f.add(Fixture.pod("p"), at: 0)
        f.popAndFail(at: 0)
        f.clock.set(300)
        f.queue.flushUnschedulableLeftover()
        #expect(f.counts == Q.counts(unschedulable: 1))
        f.clock.set(301)
        f.queue.flushUnschedulableLeftover()
        #expect(f.counts == Q.counts(active: 1))
    }

    @Test("SchedulingGates keep a gated pod out of the active queue until an update removes its gates")
    func schedulingGates() {
        let f = Q()
        let gated = Fixture.pod("p") { $0.spec.schedulingGates = [.init(name: "example.com/wait")] }
        f.add(gated, at: 0)
        #expect(f.counts == Q.counts(gated: 1))
        #expect(f.queue.tryPop() == nil)
        // Neither an event nor the leftover flush releases it.
        f.clock.set(1000)
        f.queue.moveAllToActiveOrBackoff(.wildcard)
        f.queue.flushUnschedulableLeftover()
        #expect(f.counts == Q.counts(gated: 1))
        // An update that keeps a gate keeps it gated.
        var twoGates = gated
        twoGates.spec.schedulingGates.append(.init(name: "example.com/other"))
        f.queue.update(PodInfo(twoGates))
        #expect(f.counts == Q.counts(gated: 1))
        var ungated = gated
        ungated.spec.schedulingGates = []
        f.queue.update(PodInfo(ungated))
        #expect(f.counts == Q.counts(active: 1))
        #expect(f.queue.tryPop()?.pod.spec.schedulingGates == [])
    }

    @Test("SchedulingGates answers UnschedulableAndUnresolvable naming the gates")
    func schedulingGatesStatus() {
        let p = Fixture.pod("p") { $0.spec.schedulingGates = [.init(name: "a"), .init(name: "b")] }
        #expect(SchedulingGates().preEnqueue(PodInfo(p)) == .unresolvable("waiting for scheduling gates: [a b]"))
        #expect(SchedulingGates().preEnqueue(PodInfo(Fixture.pod("q"))) == nil)
    }

    @Test("delete removes a pod from the active, backoff, unschedulable and gated sub-queues")
    func deleteFromEverySubQueue() {
        let f = Q()
        let pods = ["in-backoff", "in-pool", "in-active", "gated"].enumerated().map { i, name in
            Fixture.pod(name, priority: Int32(10 - i)) { p in
                if name == "gated" { p.spec.schedulingGates = [.init(name: "g")] }
            }
        }
        for p in pods { f.add(p, at: 0) }
        f.popAndFail(at: 0, eventDuringAttempt: Q.nodeAdded)
        f.popAndFail(at: 0)
        #expect(f.counts == Q.counts(active: 1, backoff: 1, unschedulable: 1, gated: 1))
        for p in pods { f.queue.delete(p) }
        #expect(f.counts == Q.counts())
        #expect(pods.allSatisfy { !f.queue.contains($0) })
    }

    @Test("Adding a pod already queued does not queue it twice")
    func addIsIdempotent() {
        let f = Q()
        f.add(Fixture.pod("p"), at: 0)
        f.add(Fixture.pod("p"), at: 1)
        #expect(f.counts == Q.counts(active: 1))
    }

    @Test("pop waits while the active queue is empty and is woken by add")
    func popWaitsForAdd() async throws {
        let f = Q()
        let queue = f.queue
        let popped = Task { await queue.pop() }
        // Wait for pop to park, then add.
        for _ in 0..<5000 where queue.state.withLock({ $0.waiter == nil }) {
            try await Task.sleep(for: .milliseconds(1))
        }
        #expect(queue.state.withLock { $0.waiter != nil })
        // If add never woke the waiter, closing the queue ends it with nil instead of hanging.
        let watchdog = Task {
            try await Task.sleep(for: .seconds(10))
            queue.close()
        }
        f.add(Fixture.pod("p"), at: 0)
        let got = await popped.value
        watchdog.cancel()
        #expect(got?.pod.metadata.name == "p")
        #expect(got?.attempts == 1)
        #expect(queue.contains(Fixture.pod("p")))
    }

    @Test("close ends a waiting pop with nil")
    func closeEndsPop() async {
        let f = Q()
        f.queue.close()
        #expect(await f.queue.pop() == nil)
    }
}
