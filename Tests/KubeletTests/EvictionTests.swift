import APICore
import APIMachinery
import Foundation
import Kubelet
import Synchronization
import Testing

/// Node-pressure eviction and graceful node shutdown as upstream documents them: the default hard
/// thresholds, soft thresholds acting only after their grace period, pressure conditions held for
/// the transition period, the minimum reclaim, the ranking (usage above requests, then priority,
/// then usage above requests), the messages, admission under pressure, and shutdown's ordering.
@Suite("node-pressure eviction")
struct EvictionTests {
    static let mi: Int64 = 1024 * 1024
    static let gi: Int64 = 1024 * mi
    let t0 = ContinuousClock.now

    static func memory(_ availableMi: Int64, capacityGi: Int64 = 4) -> [String: SignalObservation] {
        ["memory.available": SignalObservation(available: availableMi * mi, capacity: capacityGi * gi)]
    }

    static func rule(_ signal: String, _ value: String, hard: Bool = true, grace: Int64 = 0, reclaim: String? = nil)
        -> EvictionRule
    {
        func parse(_ v: String) -> EvictionThreshold.Value {
            v.hasSuffix("%") ? .percentage(Float(v.dropLast())! / 100) : .quantity(try! Quantity(parsing: v))
        }
        return EvictionRule(
            signal: signal, value: parse(value), hard: hard, gracePeriod: .seconds(grace),
            minimumReclaim: reclaim.map(parse))
    }

    // MARK: configuration

    @Test("upstream's Linux defaults: five hard thresholds, nothing soft, a 5m transition period")
    func defaults() throws {
        let c = try EvictionConfig.parse(hard: nil)
        #expect(
            c.rules.map(\.signal) == [
                "imagefs.available", "imagefs.inodesFree", "memory.available", "nodefs.available", "nodefs.inodesFree",
            ])
        #expect(c.rules.allSatisfy { $0.hard })
        #expect(
            c.rules.first { $0.signal == "memory.available" }?.value
                == .quantity(Quantity(100 * Self.mi, format: .binarySI)))
        #expect(c.rules.first { $0.signal == "imagefs.available" }?.value == .percentage(Float(15) / 100))
        #expect(c.pressureTransitionPeriod == .seconds(300))
        #expect(c == .defaults)
    }

    @Test(
        "flags parse as upstream; a given --eviction-hard replaces the defaults",
        arguments: [
            (
                "memory.available<1Gi", nil, nil, nil, ["memory.available/hard"]
            ),
            (
                "memory.available<500Mi,nodefs.available<5%", "memory.available<1Gi", "memory.available=1m30s",
                "memory.available=0Mi,nodefs.available=500Mi",
                ["memory.available/hard", "nodefs.available/hard", "memory.available/soft"]
            ),
        ] as [(String, String?, String?, String?, [String])])
    func flags(hard: String, soft: String?, grace: String?, reclaim: String?, want: [String]) throws {
        let c = try EvictionConfig.parse(hard: hard, soft: soft, softGracePeriod: grace, minimumReclaim: reclaim)
        #expect(c.rules.map { "\($0.signal)/\($0.hard ? "hard" : "soft")" } == want)
        if soft != nil {
            let s = c.rules.first { !$0.hard }!
            #expect(s.gracePeriod == .seconds(90))
            #expect(s.minimumReclaim?.isZeroQuantity == true, "a 0Mi minimum reclaim is allowed")
            #expect(
                c.rules.first { $0.signal == "nodefs.available" }?.minimumReclaim
                    == .quantity(try Quantity(parsing: "500Mi")))
        }
    }

    @Test(
        "bad settings are refused",
        arguments: [
            ("memory.available=1Gi", nil, nil, nil),  // wrong operator
            ("disk.available<1Gi", nil, nil, nil),  // unknown signal
            (nil, "memory.available<1Gi", nil, nil),  // soft without a grace period
            (nil, nil, "memory.available=30s", nil),  // a grace period without a soft threshold
            (nil, "memory.available<1Gi", "memory.available=soon", nil),  // not a duration
            ("memory.available<1Gi", nil, nil, "pid.available=10"),  // reclaim without a threshold
        ] as [(String?, String?, String?, String?)])
    func refused(hard: String?, soft: String?, grace: String?, reclaim: String?) {
        #expect(throws: EvictionThreshold.ParseError.self) {
            try EvictionConfig.parse(hard: hard, soft: soft, softGracePeriod: grace, minimumReclaim: reclaim)
        }
    }

    // MARK: thresholds

    @Test(
        "a threshold is crossed when available falls below it (a percentage of capacity)",
        arguments: [
            ("100Mi", 99, false, true), ("100Mi", 100, false, false), ("100Mi", 150, false, false),
            ("10%", 409, false, true),  // 10% of 4Gi is 409.6Mi
            ("10%", 410, false, false),
            ("100Mi", 150, true, true),  // with a 100Mi minimum reclaim, 150Mi is not enough
            ("100Mi", 250, true, false),
        ] as [(String, Int64, Bool, Bool)])
    func crossing(threshold: String, availableMi: Int64, withReclaim: Bool, crossed: Bool) {
        let r = Self.rule("memory.available", threshold, reclaim: "100Mi")
        #expect(Eviction.crossed(r, Self.memory(availableMi), withMinimumReclaim: withReclaim) == crossed)
    }

    @Test("a hard threshold acts at once and raises MemoryPressure")
    func hardAtOnce() {
        let config = EvictionConfig(rules: [Self.rule("memory.available", "100Mi")])
        let s = Eviction.step(config: config, observations: Self.memory(50), state: EvictionState(), now: t0)
        #expect(s.reclaim?.signal == "memory.available")
        #expect(s.state.conditions == ["MemoryPressure"])
        #expect(s.state.pressure == Pressure(memory: true))
    }

    @Test("a soft threshold raises the condition at once but acts only after its grace period, crossed throughout")
    func softGrace() {
        let config = EvictionConfig(rules: [Self.rule("memory.available", "1Gi", hard: false, grace: 90)])
        var state = EvictionState()
        // (seconds after t0, available Mi, expect action, expect pressure)
        let timeline: [(Int64, Int64, Bool, Bool)] = [
            (0, 500, false, true), (60, 500, false, true), (90, 500, true, true),
            (100, 2048, false, true),  // back above: the grace period starts over, the condition holds
            (110, 500, false, true), (190, 500, false, true), (200, 500, true, true),
        ]
        for (at, available, acts, pressure) in timeline {
            let s = Eviction.step(
                config: config, observations: Self.memory(available), state: state, now: t0 + .seconds(at))
            #expect((s.reclaim != nil) == acts, "at \(at)s")
            #expect(s.state.pressure.memory == pressure, "at \(at)s")
            state = s.state
        }
    }

    @Test("a pressure condition stays for the transition period after the threshold was last crossed")
    func transition() {
        var config = EvictionConfig(rules: [Self.rule("nodefs.available", "10%")])
        config.pressureTransitionPeriod = .seconds(300)
        let low = ["nodefs.available": SignalObservation(available: 5, capacity: 100)]
        let fine = ["nodefs.available": SignalObservation(available: 50, capacity: 100)]
        var s = Eviction.step(config: config, observations: low, state: EvictionState(), now: t0)
        #expect(s.state.pressure == Pressure(disk: true))
        s = Eviction.step(config: config, observations: fine, state: s.state, now: t0 + .seconds(10))
        #expect(s.state.pressure.disk, "still within 5m of the last crossing")
        #expect(s.reclaim == nil)
        s = Eviction.step(config: config, observations: fine, state: s.state, now: t0 + .seconds(299))
        #expect(s.state.pressure.disk)
        s = Eviction.step(config: config, observations: fine, state: s.state, now: t0 + .seconds(300))
        #expect(!s.state.pressure.disk)
        #expect(s.state.conditions.isEmpty)
    }

    @Test("a threshold that drove eviction stays armed until its minimum reclaim is met")
    func minimumReclaim() {
        let config = EvictionConfig(rules: [Self.rule("memory.available", "100Mi", reclaim: "200Mi")])
        var s = Eviction.step(config: config, observations: Self.memory(50), state: EvictionState(), now: t0)
        #expect(s.reclaim != nil)
        s = Eviction.step(config: config, observations: Self.memory(250), state: s.state, now: t0 + .seconds(10))
        #expect(s.reclaim?.signal == "memory.available", "250Mi < 100Mi + 200Mi")
        s = Eviction.step(config: config, observations: Self.memory(350), state: s.state, now: t0 + .seconds(20))
        #expect(s.reclaim == nil)
    }

    @Test("memory is reclaimed before disk; each signal raises its own condition")
    func priorities() {
        let config = EvictionConfig(rules: [
            Self.rule("nodefs.available", "10%"), Self.rule("pid.available", "100"),
            Self.rule("memory.available", "100Mi"),
        ])
        var obs = Self.memory(10)
        obs["nodefs.available"] = SignalObservation(available: 1, capacity: 100)
        obs["pid.available"] = SignalObservation(available: 50, capacity: 4_194_304)
        let s = Eviction.step(config: config, observations: obs, state: EvictionState(), now: t0)
        #expect(s.actionable.map(\.signal) == ["memory.available", "nodefs.available", "pid.available"])
        #expect(s.state.conditions == ["MemoryPressure", "DiskPressure", "PIDPressure"])
    }

    @Test("signals map to conditions and starved resources as upstream names them")
    func signalNames() {
        let table: [(String, String, String)] = [
            ("memory.available", "MemoryPressure", "memory"),
            ("nodefs.available", "DiskPressure", "ephemeral-storage"),
            ("nodefs.inodesFree", "DiskPressure", "inodes"),
            ("imagefs.available", "DiskPressure", "ephemeral-storage"),
            ("imagefs.inodesFree", "DiskPressure", "inodes"),
            ("pid.available", "PIDPressure", "pids"),
        ]
        for (signal, condition, resource) in table {
            #expect(Eviction.condition(for: signal) == condition)
            #expect(Eviction.resource(for: signal) == resource)
        }
    }

    // MARK: ranking

    @Test("memory: pods over their requests first, then lower priority, then the larger use beyond the request")
    func rankMemory() {
        let pods = [
            PodUsage(key: "guaranteed-high", priority: 1000, usage: 100, request: 200),
            PodUsage(key: "under-low", priority: 0, usage: 50, request: 100),
            PodUsage(key: "over-high-big", priority: 1000, usage: 900, request: 100),
            PodUsage(key: "over-low-small", priority: 0, usage: 150, request: 100),
            PodUsage(key: "over-low-big", priority: 0, usage: 600, request: 100),
            PodUsage(key: "best-effort", priority: 0, usage: 10, request: 0),
            PodUsage(key: "no-stats", priority: 5000, usage: nil, request: 0),
        ]
        #expect(
            Eviction.rank(pods, resource: "memory").map(\.key) == [
                "no-stats", "over-low-big", "over-low-small", "best-effort", "over-high-big", "under-low",
                "guaranteed-high",
            ])
    }

    @Test("pids: lower priority first, then more processes")
    func rankPIDs() {
        let pods = [
            PodUsage(key: "high-many", priority: 10, usage: 500, request: 0),
            PodUsage(key: "low-few", priority: 0, usage: 5, request: 0),
            PodUsage(key: "low-many", priority: 0, usage: 50, request: 0),
        ]
        #expect(Eviction.rank(pods, resource: "pids").map(\.key) == ["low-many", "low-few", "high-many"])
    }

    @Test("a pod's request: the larger of its containers' sum and an init container's, plus overhead")
    func podRequest() throws {
        var pod = CoreV1.Pod()
        var a = CoreV1.Container(name: "a")
        a.resources.requests["memory"] = try Quantity(parsing: "100Mi")
        var b = CoreV1.Container(name: "b")
        b.resources.requests["memory"] = try Quantity(parsing: "50Mi")
        pod.spec.containers = [a, b]
        #expect(Eviction.podRequest(pod, resource: "memory") == 150 * Self.mi)
        var i = CoreV1.Container(name: "init")
        i.resources.requests["memory"] = try Quantity(parsing: "200Mi")
        pod.spec.initContainers = [i]
        #expect(Eviction.podRequest(pod, resource: "memory") == 200 * Self.mi)
        pod.spec.overhead["memory"] = try Quantity(parsing: "10Mi")
        #expect(Eviction.podRequest(pod, resource: "memory") == 210 * Self.mi)
    }

    // MARK: texts and statuses

    @Test("the eviction message names the resource, threshold, available amount and each container over its request")
    func message() {
        let m = Eviction.message(
            resource: "memory", threshold: Quantity(100 * Self.mi, format: .binarySI),
            available: Quantity(50 * Self.mi, format: .binarySI),
            containers: [
                .init(name: "app", usage: 200 * Self.mi, request: 100 * Self.mi),
                .init(name: "quiet", usage: 10 * Self.mi, request: 100 * Self.mi),
            ])
        #expect(
            m
                == "The node was low on resource: memory. Threshold quantity: 100Mi, available: 50Mi. Container app was using 200Mi, request is 100Mi, has larger consumption of memory. "
        )
        #expect(
            Eviction.message(resource: "pids", threshold: nil, available: nil, containers: [])
                == "The node was low on resource: pids. ")
    }

    @Test("an evicted pod is Failed, reason Evicted, with a DisruptionTarget condition by the kubelet")
    func evictedStatus() {
        var old = CoreV1.PodStatus()
        old.phase = "Running"
        old.conditions = [CoreV1.PodCondition(type: "Ready", status: "True")]
        let s = Eviction.failedStatus(old, reason: "Evicted", message: "m", now: Time(seconds: 7))
        #expect(s.phase == "Failed")
        #expect(s.reason == "Evicted")
        #expect(s.message == "m")
        let d = s.conditions.first { $0.type == "DisruptionTarget" }
        #expect(d?.status == "True")
        #expect(d?.reason == "TerminationByKubelet")
        #expect(s.conditions.contains { $0.type == "Ready" })
    }

    @Test(
        "hard evictions kill with upstream's immediate grace (1 s); soft ones give the pod's grace, capped by the maximum when set"
    )
    func grace() {
        var pod = CoreV1.Pod()
        pod.spec.terminationGracePeriodSeconds = 60
        #expect(
            Eviction.gracePeriod(pod, rule: Self.rule("memory.available", "1Mi"), maxPodGracePeriodSeconds: 30) == 1)
        let soft = Self.rule("memory.available", "1Mi", hard: false, grace: 10)
        #expect(Eviction.gracePeriod(pod, rule: soft, maxPodGracePeriodSeconds: 30) == 30)
        #expect(Eviction.gracePeriod(pod, rule: soft, maxPodGracePeriodSeconds: 0) == 60)
    }

    // MARK: admission

    static func pod(requests: Bool = false, priority: Int32? = nil, tolerateMemory: Bool = false) -> CoreV1.Pod {
        var p = CoreV1.Pod()
        var c = CoreV1.Container(name: "c")
        if requests { c.resources.requests["memory"] = Quantity(1 * mi, format: .binarySI) }
        p.spec.containers = [c]
        p.spec.priority = priority
        if tolerateMemory {
            p.spec.tolerations = [
                CoreV1.Toleration(key: "node.kubernetes.io/memory-pressure", operator: "Exists", effect: "NoSchedule")
            ]
        }
        return p
    }

    @Test(
        "admission under pressure: memory pressure refuses BestEffort pods only, other pressure every pod; critical pods pass",
        arguments: [
            ([], pod(), nil),
            (["MemoryPressure"], pod(), "The node had condition: [MemoryPressure]. "),
            (["MemoryPressure"], pod(requests: true), nil),
            (["MemoryPressure"], pod(tolerateMemory: true), nil),
            (["MemoryPressure"], pod(priority: 2_000_000_000), nil),
            (["DiskPressure"], pod(requests: true), "The node had condition: [DiskPressure]. "),
            (
                ["MemoryPressure", "DiskPressure"], pod(requests: true),
                "The node had condition: [MemoryPressure DiskPressure]. "
            ),
        ] as [([String], CoreV1.Pod, String?)])
    func admission(conditions: [String], pod: CoreV1.Pod, want: String?) {
        #expect(Eviction.admissionRejection(pod, conditions: conditions) == want)
    }

    // MARK: the manager with made-up readings

    final class Record: Sendable {
        let ended = Mutex<[(uid: String, grace: Int64, status: CoreV1.PodStatus)]>([])
        let reclaims = Mutex(0)
        let available = Mutex<Int64>(4096)
    }

    static func runningPod(_ uid: String, requestMi: Int64?, priority: Int32 = 0) -> CoreV1.Pod {
        var p = CoreV1.Pod()
        p.metadata.uid = uid
        p.metadata.name = uid
        p.metadata.namespace = "default"
        var c = CoreV1.Container(name: "main")
        if let requestMi { c.resources.requests["memory"] = Quantity(requestMi * mi, format: .binarySI) }
        p.spec.containers = [c]
        p.spec.priority = priority
        p.status.phase = "Running"
        return p
    }

    @Test("the manager reports pressure, refuses BestEffort pods, and evicts one pod per cycle, the top of the ranking")
    func manager() async {
        let record = Record()
        let pods = [
            Self.runningPod("small-besteffort", requestMi: nil),
            Self.runningPod("hungry", requestMi: 100),
            Self.runningPod("critical", requestMi: nil, priority: 2_000_000_000),
        ]
        let usage: [String: Int64] = ["small-besteffort": 20, "hungry": 300, "critical": 900]
        let readings = EvictionReadings(
            signals: { Self.memory(record.available.withLock { $0 }) },
            podUsage: { pod, _ in
                let u = (usage[pod.metadata.uid] ?? 0) * Self.mi
                return (u, ["main": u])
            })
        let actions = EvictionManager.Actions(
            activePods: { pods.filter { p in !record.ended.withLock { $0.contains { $0.uid == p.metadata.uid } } } },
            endPod: { pod, grace, _, status in
                record.ended.withLock { $0.append((pod.metadata.uid, grace, status(pod.status))) }
            },
            reclaimDisk: { record.reclaims.withLock { $0 += 1 } })
        let m = EvictionManager(
            config: .defaults, actions: actions, readings: readings, wallClock: { Time(seconds: 1000) }, log: { _ in })
        let t = ContinuousClock.now

        #expect(await m.synchronize(now: t) == nil)
        #expect(m.pressure == Pressure())
        #expect(m.admit(Self.pod()) == nil)

        record.available.withLock { $0 = 50 }
        #expect(await m.synchronize(now: t + .seconds(10)) == "hungry")
        #expect(m.pressure == Pressure(memory: true))
        #expect(
            m.admit(Self.pod())
                == PodRejection(reason: "Evicted", message: "The node had condition: [MemoryPressure]. "))
        #expect(m.admit(Self.pod(requests: true)) == nil)
        let first = record.ended.withLock { $0 }
        #expect(first.count == 1)
        #expect(first.first?.grace == 1)
        #expect(first.first?.status.reason == "Evicted")
        #expect(
            first.first?.status.message
                == "The node was low on resource: memory. Threshold quantity: 100Mi, available: 50Mi. Container main was using 300Mi, request is 100Mi, has larger consumption of memory. "
        )

        #expect(await m.synchronize(now: t + .seconds(20)) == "small-besteffort")
        #expect(await m.synchronize(now: t + .seconds(30)) == nil, "critical pods are never evicted")
        #expect(record.reclaims.withLock { $0 } == 0, "memory pressure reclaims no disk")

        m.markShuttingDown()
        #expect(
            m.admit(Self.pod(requests: true))
                == PodRejection(reason: "NodeShutdown", message: "Pod was rejected as the node is shutting down."))
    }

    @Test("disk pressure first reclaims node-level disk, and evicts no pod when that was enough")
    func diskReclaim() async {
        let record = Record()
        let free = Mutex<Int64>(5)
        let readings = EvictionReadings(
            signals: { ["nodefs.available": SignalObservation(available: free.withLock { $0 }, capacity: 100)] },
            podUsage: { _, _ in (1, [:]) })
        let actions = EvictionManager.Actions(
            activePods: { [Self.runningPod("p", requestMi: nil)] },
            endPod: { pod, grace, _, status in
                record.ended.withLock { $0.append((pod.metadata.uid, grace, status(pod.status))) }
            },
            reclaimDisk: {
                record.reclaims.withLock { $0 += 1 }
                free.withLock { $0 = 50 }
            })
        let m = EvictionManager(config: .defaults, actions: actions, readings: readings, log: { _ in })
        #expect(await m.synchronize(now: .now) == nil)
        #expect(record.reclaims.withLock { $0 } == 1)
        #expect(record.ended.withLock { $0.isEmpty })
        #expect(m.pressure == Pressure(disk: true), "the condition holds for the transition period")
    }
}

extension EvictionThreshold.Value {
    var isZeroQuantity: Bool {
        if case .quantity(let q) = self { return q.isZero }
        return false
    }
}

@Suite("graceful node shutdown")
struct NodeShutdownTests {
    static func pod(_ uid: String, priority: Int32? = nil, grace: Int64? = 30, phase: String = "Running") -> CoreV1.Pod
    {
        var p = CoreV1.Pod()
        p.metadata.uid = uid
        p.spec.priority = priority
        p.spec.terminationGracePeriodSeconds = grace
        p.status.phase = phase
        return p
    }

    @Test("off at 0s; regular pods first with the period less the critical share, then critical pods")
    func plan() {
        let pods = [
            Self.pod("web", grace: 30), Self.pod("quick", grace: 3),
            Self.pod("dns", priority: 2_000_000_000, grace: 30),
            Self.pod("node-critical", priority: 2_000_001_000, grace: 5), Self.pod("done", phase: "Succeeded"),
        ]
        #expect(NodeShutdown.plan(pods, config: ShutdownConfig()).isEmpty)
        let groups = NodeShutdown.plan(
            pods, config: ShutdownConfig(gracePeriodSeconds: 30, criticalPodsGracePeriodSeconds: 10))
        #expect(
            groups == [
                .init(
                    periodSeconds: 20,
                    kills: [.init(uid: "web", gracePeriodSeconds: 20), .init(uid: "quick", gracePeriodSeconds: 3)]),
                .init(
                    periodSeconds: 10,
                    kills: [
                        .init(uid: "dns", gracePeriodSeconds: 10), .init(uid: "node-critical", gracePeriodSeconds: 5),
                    ]),
            ])
        let noCritical = NodeShutdown.plan(pods, config: ShutdownConfig(gracePeriodSeconds: 10))
        #expect(noCritical.map(\.periodSeconds) == [10, 0])
        #expect(noCritical[1].kills.allSatisfy { $0.gracePeriodSeconds == 0 })
    }

    @Test("the critical share may not exceed the period")
    func validation() {
        #expect(ShutdownConfig(gracePeriodSeconds: 10, criticalPodsGracePeriodSeconds: 20).validate() != nil)
        #expect(ShutdownConfig(gracePeriodSeconds: 30, criticalPodsGracePeriodSeconds: 10).validate() == nil)
    }

    @Test("a pod ended by shutdown: Failed, reason Terminated, upstream's message, DisruptionTarget by the kubelet")
    func status() {
        let s = NodeShutdown.status(CoreV1.PodStatus(), now: Time(seconds: 1))
        #expect(s.phase == "Failed")
        #expect(s.reason == "Terminated")
        #expect(s.message == "Pod was terminated in response to imminent node shutdown.")
        #expect(s.conditions.first { $0.type == "DisruptionTarget" }?.reason == "TerminationByKubelet")
    }
}
