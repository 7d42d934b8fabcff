import APICore

/// The three kinds of container probe; the raw value is how upstream names a kind in its events
/// (`Liveness probe failed: …`).
public enum ProbeKind: String, Hashable, Sendable, CaseIterable {
    case liveness = "Liveness"
    case readiness = "Readiness"
    case startup = "Startup"

    /// What a probe reports before it has proven anything (upstream's initial values): a container is
    /// not ready until its readiness probe passes, alive until its liveness probe fails, and neither
    /// started nor failed until its startup probe decides.
    public var initialResult: ProbeResult {
        switch self {
        case .liveness: .success
        case .readiness: .failure
        case .startup: .unknown
        }
    }

    /// The container's probe of this kind, if it has one.
    public func probe(of c: CoreV1.Container) -> CoreV1.Probe? {
        switch self {
        case .liveness: c.livenessProbe
        case .readiness: c.readinessProbe
        case .startup: c.startupProbe
        }
    }
}

/// A probe's timing with the API's defaults for fields left at zero (the API server defaults them,
/// but a pod from elsewhere may not have them).
public struct ProbeTiming: Equatable, Sendable {
    public var initialDelay: Duration
    public var period: Duration
    public var timeout: Duration
    public var successThreshold: Int
    public var failureThreshold: Int

    public init(
        initialDelay: Duration = .zero, period: Duration = .seconds(10), timeout: Duration = .seconds(1),
        successThreshold: Int = 1, failureThreshold: Int = 3
    ) {
        self.initialDelay = initialDelay
        self.period = period
        self.timeout = timeout
        self.successThreshold = successThreshold
        self.failureThreshold = failureThreshold
    }

    public init(_ p: CoreV1.Probe) {
        self.init(
            initialDelay: .seconds(max(0, p.initialDelaySeconds)),
            period: .seconds(p.periodSeconds > 0 ? p.periodSeconds : 10),
            timeout: .seconds(p.timeoutSeconds > 0 ? p.timeoutSeconds : 1),
            successThreshold: Int(p.successThreshold > 0 ? p.successThreshold : 1),
            failureThreshold: Int(p.failureThreshold > 0 ? p.failureThreshold : 3))
    }
}

/// What a probe worker sees of its container instance and pod at one tick.
public struct ProbeTarget: Equatable, Sendable {
    public enum Container: Equatable, Sendable {
        /// Created, not yet running.
        case waiting
        /// Running for this long (by the wall clock, since the runtime started it).
        case running(for: Duration)
        /// Exited, or no longer known to the runtime.
        case gone
    }

    public var container: Container
    /// The container's startup probe has succeeded (or it has none).
    public var started: Bool
    /// The pod is being deleted.
    public var deleting: Bool
    /// The pod reached Succeeded or Failed, or is no longer the one the worker was made for.
    public var podDone: Bool

    public init(container: Container, started: Bool = true, deleting: Bool = false, podDone: Bool = false) {
        self.container = container
        self.started = started
        self.deleting = deleting
        self.podDone = podDone
    }
}

/// A worker's decision at one tick.
public struct ProbeStep: Equatable, Sendable {
    public enum Action: Equatable, Sendable {
        /// Run the probe now and `record` its result.
        case probe
        /// Nothing to do until `nextRun`.
        case wait
        /// The worker is done: its container instance or pod went away.
        case stop
    }

    public var action: Action
    /// A result to publish now (changed from the last one published), if any.
    public var publish: ProbeResult?
    public var nextRun: ContinuousClock.Instant

    public init(_ action: Action, publish: ProbeResult? = nil, nextRun: ContinuousClock.Instant) {
        self.action = action
        self.publish = publish
        self.nextRun = nextRun
    }
}

/// The decision logic of one probe worker (upstream's `worker.doProbe`), for one container instance
/// and one probe kind, as a value: the shell feeds it the container's state and the clock, runs the
/// probe when told, and publishes what it returns. A result is published only after
/// `successThreshold`/`failureThreshold` equal results in a row; a liveness or startup failure puts the
/// worker on hold (its container is about to be restarted, as a new instance with a worker of its own).
public struct ProbeWorkerState: Equatable, Sendable {
    public let kind: ProbeKind
    public let timing: ProbeTiming
    /// The result published last.
    public private(set) var result: ProbeResult
    /// The last probe's verdict and how many probes in a row gave it.
    public private(set) var lastResult: ProbeResult = .unknown
    public private(set) var resultRun = 0
    public private(set) var onHold = false
    /// The ticker: probes are due every `period` from the worker's start, whatever triggers run between.
    public private(set) var nextTick: ContinuousClock.Instant

    public init(kind: ProbeKind, timing: ProbeTiming, start: ContinuousClock.Instant) {
        self.kind = kind
        self.timing = timing
        result = kind.initialResult
        nextTick = start
    }

    /// Moves the ticker past `now`, as a ticker that drops the ticks a slow receiver missed.
    mutating func advance(_ now: ContinuousClock.Instant) -> ContinuousClock.Instant {
        while nextTick <= now { nextTick = nextTick.advanced(by: timing.period) }
        return nextTick
    }

    mutating func set(_ r: ProbeResult) -> ProbeResult? {
        if r == result { return nil }
        result = r
        return r
    }

    /// What to do at `now` (a tick or a trigger).
    public mutating func step(_ target: ProbeTarget, now: ContinuousClock.Instant) -> ProbeStep {
        let next = advance(now)
        if target.podDone { return ProbeStep(.stop, nextRun: next) }
        let runningFor: Duration
        switch target.container {
        case .gone:
            // A container that is no longer running is neither ready nor alive.
            return ProbeStep(.stop, publish: set(.failure), nextRun: next)
        case .waiting:
            return ProbeStep(.wait, nextRun: next)
        case .running(let d):
            runningFor = d
        }
        if target.deleting && kind != .readiness {
            // A pod on its way out is not restarted for a failing liveness or startup probe.
            return ProbeStep(.stop, publish: set(.success), nextRun: next)
        }
        if onHold { return ProbeStep(.wait, nextRun: next) }
        if runningFor < timing.initialDelay { return ProbeStep(.wait, nextRun: next) }
        // Startup is probed until it succeeds; the other probes only after that.
        if target.started == (kind == .startup) { return ProbeStep(.wait, nextRun: next) }
        return ProbeStep(.probe, nextRun: next)
    }

    /// Takes one probe's verdict (`.success` or `.failure`; a probe that errored is not recorded) and
    /// returns the result to publish, if it changed.
    public mutating func record(_ verdict: ProbeResult) -> ProbeResult? {
        if verdict == lastResult {
            resultRun += 1
        } else {
            lastResult = verdict
            resultRun = 1
        }
        if verdict == .failure && resultRun < timing.failureThreshold { return nil }
        if verdict == .success && resultRun < timing.successThreshold { return nil }
        let changed = set(verdict)
        if verdict == .failure && kind != .readiness {
            onHold = true
            resultRun = 0
        }
        return changed
    }
}
