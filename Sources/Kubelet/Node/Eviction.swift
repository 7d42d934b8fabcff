import APICore
import APIMachinery
import Foundation

// Node-pressure eviction as upstream's kubelet decides it, without I/O: which thresholds the node's
// observed signals cross (hard at once, soft after their grace period), which node conditions that
// raises (held for the pressure transition period), which pod goes first, and the texts the pod and
// its event carry. `EvictionManager` reads the signals and acts.

/// One eviction threshold as the manager applies it: the signal, the amount, whether it is hard (act
/// at once, kill with a one-second grace) or soft (act once crossed for `gracePeriod`), and the minimum reclaim
/// that keeps it armed until the signal is that far beyond the threshold again.
public struct EvictionRule: Sendable, Equatable, Hashable {
    public var signal: String
    public var value: EvictionThreshold.Value
    public var hard: Bool
    public var gracePeriod: Swift.Duration
    public var minimumReclaim: EvictionThreshold.Value?

    public init(
        signal: String, value: EvictionThreshold.Value, hard: Bool, gracePeriod: Swift.Duration = .zero,
        minimumReclaim: EvictionThreshold.Value? = nil
    ) {
        self.signal = signal
        self.value = value
        self.hard = hard
        self.gracePeriod = gracePeriod
        self.minimumReclaim = minimumReclaim
    }

    public func hash(into h: inout Hasher) {
        h.combine(signal)
        h.combine(hard)
    }

    public static func == (a: EvictionRule, b: EvictionRule) -> Bool {
        a.signal == b.signal && a.hard == b.hard && a.value == b.value && a.gracePeriod == b.gracePeriod
            && a.minimumReclaim == b.minimumReclaim
    }
}

/// The kubelet's eviction settings (`--eviction-hard`, `--eviction-soft`, `--eviction-soft-grace-period`,
/// `--eviction-minimum-reclaim`, `--eviction-pressure-transition-period`, `--eviction-max-pod-grace-period`).
public struct EvictionConfig: Sendable, Equatable {
    public var rules: [EvictionRule]
    /// How long a pressure condition stays true after its threshold was last crossed.
    public var pressureTransitionPeriod: Swift.Duration = .seconds(300)
    /// The longest grace a soft eviction gives a pod; 0 or less leaves the pod's own.
    public var maxPodGracePeriodSeconds: Int64 = 0
    /// How often the manager looks (upstream's housekeeping interval).
    public var monitoringInterval: Swift.Duration = .seconds(10)

    public init(rules: [EvictionRule]) { self.rules = rules }

    /// Upstream's defaults: the Linux hard thresholds, nothing soft.
    public static var defaults: EvictionConfig {
        EvictionConfig(
            rules: EvictionThreshold.defaults.map { EvictionRule(signal: $0.signal, value: $0.value, hard: true) })
    }

    /// The hard thresholds only, as node allocatable reads them.
    public var hardThresholds: [EvictionThreshold] {
        rules.filter(\.hard).map { EvictionThreshold(signal: $0.signal, value: $0.value) }
    }

    /// Builds the configuration from the flags' texts. `hard` nil keeps upstream's defaults; a given
    /// `hard` replaces them all (signals left out get no threshold, as upstream). Every soft threshold
    /// needs a grace period; a grace period or minimum reclaim for a signal without a threshold is
    /// refused.
    public static func parse(
        hard: String?, soft: String? = nil, softGracePeriod: String? = nil, minimumReclaim: String? = nil,
        pressureTransitionPeriod: String? = nil, maxPodGracePeriodSeconds: Int64 = 0
    ) throws(EvictionThreshold.ParseError) -> EvictionConfig {
        let hardMap = try hard.map { text throws(EvictionThreshold.ParseError) in try pairs(text, separator: "<") }
        let hardThresholds = try EvictionThreshold.parse(hardMap ?? EvictionThreshold.defaultHard)
        let softThresholds = try EvictionThreshold.parse(try pairs(soft ?? "", separator: "<"))
        var graces: [String: Swift.Duration] = [:]
        for (signal, text) in try pairs(softGracePeriod ?? "", separator: "=") {
            guard EvictionThreshold.signals.contains(signal) else {
                throw .init(description: "unsupported eviction signal \(signal)")
            }
            guard let ns = GoDuration.parse(text), ns >= 0 else {
                throw .init(description: "invalid eviction grace period for \(signal): \(text)")
            }
            graces[signal] = .nanoseconds(ns)
        }
        var reclaims: [String: EvictionThreshold.Value] = [:]
        for t in try EvictionThreshold.parse(try pairs(minimumReclaim ?? "", separator: "="), allowZero: true) {
            reclaims[t.signal] = t.value
        }
        var rules: [EvictionRule] = []
        for t in hardThresholds {
            rules.append(EvictionRule(signal: t.signal, value: t.value, hard: true, minimumReclaim: reclaims[t.signal]))
        }
        for t in softThresholds {
            guard let grace = graces[t.signal] else {
                throw .init(description: "grace period must be specified for the soft eviction threshold \(t.signal)")
            }
            rules.append(
                EvictionRule(
                    signal: t.signal, value: t.value, hard: false, gracePeriod: grace,
                    minimumReclaim: reclaims[t.signal]))
        }
        for signal in graces.keys.sorted() where !softThresholds.contains(where: { $0.signal == signal }) {
            throw .init(description: "eviction grace period for \(signal) has no soft threshold")
        }
        for signal in reclaims.keys.sorted() where !rules.contains(where: { $0.signal == signal }) {
            throw .init(description: "eviction minimum reclaim for \(signal) has no threshold")
        }
        var config = EvictionConfig(rules: rules)
        if let text = pressureTransitionPeriod {
            guard let ns = GoDuration.parse(text), ns >= 0 else {
                throw .init(description: "invalid eviction pressure transition period: \(text)")
            }
            config.pressureTransitionPeriod = .nanoseconds(ns)
        }
        config.maxPodGracePeriodSeconds = maxPodGracePeriodSeconds
        return config
    }

    /// `a<1,b<2` or `a=1,b=2` as a map; a repeated key keeps its last value.
    static func pairs(_ text: String, separator: Character) throws(EvictionThreshold.ParseError) -> [String: String] {
        var out: [String: String] = [:]
        for item in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !item.isEmpty {
            guard let i = item.firstIndex(of: separator) else {
                throw .init(
                    description: "invalid eviction setting \"\(item)\": expected <signal>\(separator)<value>")
            }
            out[String(item[..<i]).trimmingCharacters(in: .whitespaces)] = String(item[item.index(after: i)...])
                .trimmingCharacters(in: .whitespaces)
        }
        return out
    }
}

/// What one signal measures now: the amount available and the capacity a percentage is taken of.
public struct SignalObservation: Sendable, Equatable {
    public var available: Int64
    public var capacity: Int64

    public init(available: Int64, capacity: Int64) {
        self.available = available
        self.capacity = capacity
    }
}

/// What the manager remembers between cycles.
public struct EvictionState: Sendable, Equatable {
    /// When each threshold was first seen crossed (continuously since).
    public var firstObserved: [EvictionRule: ContinuousClock.Instant] = [:]
    /// When each node condition's threshold was last seen crossed.
    public var conditionLastObserved: [String: ContinuousClock.Instant] = [:]
    /// The thresholds that drove eviction last cycle: they stay armed until their minimum reclaim is met.
    public var met: [EvictionRule] = []
    /// The node conditions reported now.
    public var conditions: [String] = []

    public init() {}

    public var pressure: Pressure {
        Pressure(
            memory: conditions.contains("MemoryPressure"), disk: conditions.contains("DiskPressure"),
            pid: conditions.contains("PIDPressure"))
    }
}

/// The outcome of one cycle: the state to keep, and the threshold to relieve first (nil: nothing to do).
public struct EvictionStep: Sendable, Equatable {
    public var state: EvictionState
    /// The thresholds whose grace periods have passed, most urgent first.
    public var actionable: [EvictionRule]
    public var reclaim: EvictionRule? { actionable.first }
}

/// How a pod stands for ranking: its priority, and per container what it uses and requests of the
/// resource being reclaimed (nil usage: no stats).
public struct PodUsage: Sendable, Equatable {
    public struct Container: Sendable, Equatable {
        public var name: String
        public var usage: Int64
        public var request: Int64

        public init(name: String, usage: Int64, request: Int64) {
            self.name = name
            self.usage = usage
            self.request = request
        }
    }

    public var key: String
    public var priority: Int32
    /// The pod's total usage; nil when the node has no stats for it.
    public var usage: Int64?
    /// The pod's request of the resource (its effective request, init containers included).
    public var request: Int64
    public var containers: [Container]

    public init(key: String, priority: Int32, usage: Int64?, request: Int64, containers: [Container] = []) {
        self.key = key
        self.priority = priority
        self.usage = usage
        self.request = request
        self.containers = containers
    }
}

public enum Eviction {
    public static let reason = "Evicted"
    /// Priority at and above which a pod is critical: never evicted, always admitted.
    public static let systemCriticalPriority: Int32 = 2_000_000_000

    /// The node condition a signal raises.
    public static func condition(for signal: String) -> String? {
        switch signal {
        case "memory.available", "allocatableMemory.available": return "MemoryPressure"
        case "nodefs.available", "nodefs.inodesFree", "imagefs.available", "imagefs.inodesFree",
            "containerfs.available", "containerfs.inodesFree":
            return "DiskPressure"
        case "pid.available": return "PIDPressure"
        default: return nil
        }
    }

    /// The resource a signal starves, as eviction messages and annotations name it.
    public static func resource(for signal: String) -> String? {
        switch signal {
        case "memory.available", "allocatableMemory.available": return "memory"
        case "nodefs.available", "imagefs.available", "containerfs.available": return "ephemeral-storage"
        case "nodefs.inodesFree", "imagefs.inodesFree", "containerfs.inodesFree": return "inodes"
        case "pid.available": return "pids"
        default: return nil
        }
    }

    /// The amount a rule stands for against a capacity (a percentage of it, truncated).
    public static func amount(_ value: EvictionThreshold.Value, capacity: Int64) -> Int64 {
        switch value {
        case .quantity(let q): return q.value
        case .percentage(let p): return Int64(Double(capacity) * Double(p))
        }
    }

    /// Whether a rule's threshold is crossed: available below the threshold (plus the minimum reclaim
    /// when `withMinimumReclaim`). A signal not observed crosses nothing.
    public static func crossed(
        _ rule: EvictionRule, _ observations: [String: SignalObservation], withMinimumReclaim: Bool
    ) -> Bool {
        guard let o = observations[rule.signal] else { return false }
        var threshold = amount(rule.value, capacity: o.capacity)
        if withMinimumReclaim, let r = rule.minimumReclaim { threshold += amount(r, capacity: o.capacity) }
        return threshold > o.available
    }

    /// One cycle of upstream's synchronize: thresholds crossed now, plus those that drove eviction last
    /// time and have not yet reclaimed their minimum; conditions raised by any of them (even before a
    /// soft grace period passes) and held for the transition period; and the thresholds whose grace
    /// periods passed, memory first.
    public static func step(
        config: EvictionConfig, observations: [String: SignalObservation], state: EvictionState,
        now: ContinuousClock.Instant
    ) -> EvictionStep {
        var crossedNow = config.rules.filter { crossed($0, observations, withMinimumReclaim: false) }
        for rule in state.met where !crossedNow.contains(rule) {
            if crossed(rule, observations, withMinimumReclaim: true) { crossedNow.append(rule) }
        }
        var next = EvictionState()
        for rule in crossedNow { next.firstObserved[rule] = state.firstObserved[rule] ?? now }
        next.conditionLastObserved = state.conditionLastObserved
        for rule in crossedNow {
            if let c = condition(for: rule.signal) { next.conditionLastObserved[c] = now }
        }
        next.conditionLastObserved = next.conditionLastObserved.filter { _, at in
            at.duration(to: now) < config.pressureTransitionPeriod
        }
        next.conditions = ["MemoryPressure", "DiskPressure", "PIDPressure"].filter {
            next.conditionLastObserved[$0] != nil
        }
        let actionable = crossedNow.filter { rule in
            guard let first = next.firstObserved[rule] else { return false }
            return first.duration(to: now) >= rule.gracePeriod
        }
        next.met = actionable
        return EvictionStep(state: next, actionable: byEvictionPriority(actionable))
    }

    /// Memory thresholds first, then the others in their order (upstream's eviction priority).
    static func byEvictionPriority(_ rules: [EvictionRule]) -> [EvictionRule] {
        let memory = rules.filter { resource(for: $0.signal) == "memory" }
        return memory + rules.filter { resource(for: $0.signal) != "memory" }
    }

    // MARK: ranking

    /// Pods in eviction order for a starved resource. Memory and disk: pods without stats first, then
    /// pods using more than they request, then lower priority, then the larger use beyond the request.
    /// PIDs: lower priority, then more processes.
    public static func rank(_ pods: [PodUsage], resource: String) -> [PodUsage] {
        if resource == "pids" {
            return pods.enumerated().sorted { a, b in
                let (x, y) = (a.element, b.element)
                if x.priority != y.priority { return x.priority < y.priority }
                if (x.usage ?? 0) != (y.usage ?? 0) { return (x.usage ?? 0) > (y.usage ?? 0) }
                return a.offset < b.offset
            }.map(\.element)
        }
        return pods.enumerated().sorted { a, b in
            let (x, y) = (a.element, b.element)
            guard let xu = x.usage, let yu = y.usage else {
                if (x.usage == nil) != (y.usage == nil) { return x.usage == nil }
                return a.offset < b.offset
            }
            let xOver = xu > x.request
            let yOver = yu > y.request
            if xOver != yOver { return xOver }
            if x.priority != y.priority { return x.priority < y.priority }
            if xu - x.request != yu - y.request { return xu - x.request > yu - y.request }
            return a.offset < b.offset
        }.map(\.element)
    }

    /// A pod's effective request of a resource (upstream's pod request): the larger of its regular
    /// and sidecar containers' sum and any one init container's (sidecars before it included).
    public static func podRequest(_ pod: CoreV1.Pod, resource: String) -> Int64 {
        func request(_ c: CoreV1.Container) -> Int64 { c.resources.requests[resource]?.value ?? 0 }
        var sum = pod.spec.containers.reduce(0) { $0 + request($1) }
        var sidecars: Int64 = 0
        var initMax: Int64 = 0
        for c in pod.spec.initContainers {
            if c.restartPolicy == "Always" {
                sidecars += request(c)
                initMax = max(initMax, sidecars)
            } else {
                initMax = max(initMax, sidecars + request(c))
            }
        }
        sum += sidecars
        var total = max(sum, initMax)
        if let overhead = pod.spec.overhead[resource] { total += overhead.value }
        return total
    }

    /// Critical pods are never evicted and always admitted: static and mirror pods, and pods at or
    /// above system-critical priority.
    public static func isCritical(_ pod: CoreV1.Pod) -> Bool {
        if pod.metadata.annotations["kubernetes.io/config.mirror"] != nil { return true }
        if let source = pod.metadata.annotations["kubernetes.io/config.source"], source != "api" { return true }
        return (pod.spec.priority ?? 0) >= systemCriticalPriority
    }

    // MARK: texts

    /// The message of an evicted pod (its status and its Evicted event): the starved resource, the
    /// threshold and what was available, and each container using more than it requested.
    public static func message(
        resource: String, threshold: Quantity?, available: Quantity?, containers: [PodUsage.Container]
    ) -> String {
        var m = "The node was low on resource: \(resource). "
        if let threshold, let available {
            m += "Threshold quantity: \(threshold.string), available: \(available.string). "
        }
        for c in containers where c.usage > c.request {
            m +=
                "Container \(c.name) was using \(quantity(c.usage, resource: resource).string), request is \(quantity(c.request, resource: resource).string), has larger consumption of \(resource). "
        }
        return m
    }

    /// A resource amount as upstream prints it: bytes in binary units, counts as plain numbers.
    public static func quantity(_ n: Int64, resource: String) -> Quantity {
        resource == "memory" || resource == "ephemeral-storage" ? Quantity(n, format: .binarySI) : Quantity(n)
    }

    /// The threshold and available amounts a rule reports in an eviction message.
    public static func thresholdInfo(_ rule: EvictionRule, _ observations: [String: SignalObservation]) -> (
        threshold: Quantity, available: Quantity
    )? {
        guard let o = observations[rule.signal] else { return nil }
        return (
            Quantity(amount(rule.value, capacity: o.capacity), format: .binarySI),
            Quantity(o.available, format: .binarySI)
        )
    }

    /// Upstream's `immediateEvictionGracePeriodSeconds`: the grace override of a hard eviction (the
    /// preStop hooks get that second; StopContainer still gets its minimum of 2 s).
    public static let immediateGracePeriodSeconds: Int64 = 1

    /// The grace an evicted pod gets: one second for a hard threshold; for a soft one the pod's own,
    /// capped by `--eviction-max-pod-grace-period` when that is positive.
    public static func gracePeriod(_ pod: CoreV1.Pod, rule: EvictionRule, maxPodGracePeriodSeconds: Int64) -> Int64 {
        if rule.hard { return immediateGracePeriodSeconds }
        let own = pod.spec.terminationGracePeriodSeconds ?? 30
        return maxPodGracePeriodSeconds > 0 ? min(own, maxPodGracePeriodSeconds) : own
    }

    /// The status of an evicted pod: Failed, reason Evicted, the message, and a DisruptionTarget
    /// condition saying the kubelet ended it.
    public static func failedStatus(
        _ status: CoreV1.PodStatus, reason: String, message: String, now: Time
    ) -> CoreV1.PodStatus {
        var s = status
        s.phase = "Failed"
        s.reason = reason
        s.message = message
        s.conditions.removeAll { $0.type == "DisruptionTarget" }
        s.conditions.append(
            CoreV1.PodCondition(
                type: "DisruptionTarget", status: "True", lastTransitionTime: now, reason: "TerminationByKubelet",
                message: message))
        return s
    }

    // MARK: admission

    /// Why a new pod may not start on a node under pressure, or nil to admit it: critical pods are
    /// admitted; under memory pressure alone, pods that are not BestEffort or tolerate the
    /// memory-pressure taint are too; any other pressure refuses every pod.
    public static func admissionRejection(_ pod: CoreV1.Pod, conditions: [String]) -> String? {
        guard !conditions.isEmpty, !isCritical(pod) else { return nil }
        if conditions == ["MemoryPressure"] {
            if RuntimeConfigs.qosClass(pod) != "BestEffort" { return nil }
            let tolerated = pod.spec.tolerations.contains { t in
                let keyMatches = t.key.isEmpty ? t.operator == "Exists" : t.key == "node.kubernetes.io/memory-pressure"
                let effectMatches = t.effect.isEmpty || t.effect == "NoSchedule"
                let valueMatches = t.operator == "Exists" || (t.value.isEmpty)
                return keyMatches && effectMatches && valueMatches
            }
            if tolerated { return nil }
        }
        return "The node had condition: [\(conditions.joined(separator: " "))]. "
    }
}

extension EvictionThreshold {
    /// `parse`, optionally keeping zero quantities (a minimum reclaim of `0Mi` is valid).
    static func parse(_ settings: [String: String], allowZero: Bool) throws(ParseError) -> [EvictionThreshold] {
        guard allowZero else { return try parse(settings) }
        var kept: [String: String] = [:]
        var zeros: [EvictionThreshold] = []
        for (k, v) in settings {
            if let q = try? Quantity(parsing: v), q.isZero, EvictionThreshold.signals.contains(k) {
                zeros.append(EvictionThreshold(signal: k, value: .quantity(q)))
            } else {
                kept[k] = v
            }
        }
        return (try parse(kept) + zeros).sorted { $0.signal < $1.signal }
    }
}
