import Synchronization

/// One container's kill, from its preStop hook to its StopContainer, shared by every kill of that
/// container asked for meanwhile: they wait for its result instead of running the hook again, and one
/// with less grace brings its deadline forward (upstream's pod worker kills a pod once and only ever
/// shortens a kill in progress). A kill that succeeded stays, so a late caller with an old view of the
/// container gets its result at once.
final class ContainerTermination: Sendable {
    /// Upstream's `minimumGracePeriodInSeconds`: StopContainer never gets less, so a container always
    /// has a moment between SIGTERM and SIGKILL.
    static let minimumGracePeriodSeconds: Int64 = 2

    enum Phase {
        case hook
        /// StopContainer was sent; the runtime sends SIGKILL at `killAt`.
        case stopping(killAt: ContinuousClock.Instant)
        case done(Result<Void, any Error>)
    }

    struct State {
        var deadline: ContinuousClock.Instant
        var phase = Phase.hook
        var waiters: [UInt64: CheckedContinuation<Result<Void, any Error>, Never>] = [:]
        var nextWaiter: UInt64 = 0
    }

    let state: Mutex<State>

    init(deadline: ContinuousClock.Instant) { state = Mutex(State(deadline: deadline)) }

    /// Whole seconds, rounded up: a grace period of `g` less a hook that took `t` leaves `g - ⌊t⌋`, as
    /// upstream subtracts the hook's whole seconds.
    static func seconds(_ d: Duration) -> Int64 {
        let (s, atto) = d.components
        return atto > 0 ? s + 1 : s
    }

    /// What is left of the grace period now, in whole seconds (0 once it is over).
    func remainingSeconds(now: ContinuousClock.Instant = .now) -> Int64 {
        max(0, Self.seconds(state.withLock { $0.deadline } - now))
    }

    var isFinished: Bool {
        state.withLock {
            if case .done = $0.phase { return true }
            return false
        }
    }

    /// Brings the deadline forward to `deadline` when that is earlier. When StopContainer is already
    /// on its way with a later SIGKILL, returns the timeout the caller sends in a StopContainer of its
    /// own (the runtime kills at the earlier of the two); nil when nothing more is to be sent.
    func shorten(to deadline: ContinuousClock.Instant, now: ContinuousClock.Instant = .now) -> Int64? {
        state.withLock { s in
            if deadline < s.deadline { s.deadline = deadline }
            guard case .stopping(let killAt) = s.phase else { return nil }
            let timeout = max(Self.seconds(deadline - now), Self.minimumGracePeriodSeconds)
            guard now + .seconds(timeout) < killAt else { return nil }
            s.phase = .stopping(killAt: now + .seconds(timeout))
            return timeout
        }
    }

    /// Runs `op` (the preStop hook) until it ends or the deadline passes, whichever is first; the
    /// deadline is looked at again as it may be brought forward meanwhile. nil when the time ran out.
    func untilDeadline<T: Sendable>(_ op: @escaping @Sendable () async -> T) async -> T? {
        await withTaskGroup(of: T?.self) { g in
            g.addTask { await op() }
            g.addTask {
                while true {
                    let deadline = self.state.withLock { $0.deadline }
                    let now = ContinuousClock.now
                    if now >= deadline { return nil }
                    do {
                        try await Task.sleep(until: min(deadline, now + .milliseconds(250)), clock: .continuous)
                    } catch {
                        return nil
                    }
                }
            }
            let first = await g.next() ?? nil
            g.cancelAll()
            return first
        }
    }

    /// The StopContainer timeout once the hook is over: what is left, at least the minimum.
    func beginStop(now: ContinuousClock.Instant = .now) -> Int64 {
        state.withLock { s in
            let timeout = max(Self.seconds(s.deadline - now), Self.minimumGracePeriodSeconds)
            s.phase = .stopping(killAt: now + .seconds(timeout))
            return timeout
        }
    }

    /// Records the kill's result and wakes everyone waiting for it.
    func finish(_ result: Result<Void, any Error>) {
        let waiters = state.withLock { s in
            s.phase = .done(result)
            defer { s.waiters = [:] }
            return Array(s.waiters.values)
        }
        for w in waiters { w.resume(returning: result) }
    }

    /// The kill's result once it is done; a cancelled caller stops waiting (the kill goes on).
    func result() async -> Result<Void, any Error> {
        let id = state.withLock { s in
            defer { s.nextWaiter += 1 }
            return s.nextWaiter
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Result<Void, any Error>, Never>) in
                let ready = state.withLock { s -> Result<Void, any Error>? in
                    if case .done(let r) = s.phase { return r }
                    if Task.isCancelled { return .failure(CancellationError()) }
                    s.waiters[id] = c
                    return nil
                }
                if let ready { c.resume(returning: ready) }
            }
        } onCancel: {
            let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.resume(returning: .failure(CancellationError()))
        }
    }
}
