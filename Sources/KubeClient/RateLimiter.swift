import Synchronization

/// A token bucket: `qps` tokens a second, holding at most `burst`; each request takes one, waiting
/// for it when none is left (client-go's client-side QPS/burst limiter). Waiters are served in
/// order because each reserves its token's time before sleeping.
public final class TokenBucket: Sendable {
    struct State {
        var tokens: Double
        var last: ContinuousClock.Instant
    }

    public let qps: Double
    public let burst: Int
    private let state: Mutex<State>

    public init(qps: Double, burst: Int) {
        self.qps = qps
        self.burst = max(1, burst)
        state = Mutex(State(tokens: Double(max(1, burst)), last: .now))
    }

    /// How long the caller must wait for a token taken now (zero when one is available); the token is
    /// reserved either way.
    public func reserve(now: ContinuousClock.Instant = .now) -> Swift.Duration {
        state.withLock { s in
            let elapsed = now - s.last
            let secs = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            s.tokens = min(Double(burst), s.tokens + max(0, secs) * qps)
            s.last = now
            s.tokens -= 1
            if s.tokens >= 0 { return .zero }
            return .nanoseconds(Int64(-s.tokens / qps * 1e9))
        }
    }

    /// Waits for a token.
    public func wait() async throws {
        let d = reserve()
        if d > .zero { try await Task.sleep(for: d) }
    }
}
