import APICore
import APIMachinery
import CRI
import Testing

@testable import Kubelet

/// The pod cgroup's limits as upstream's `ResourceConfigForPod` derives them, and the order an
/// in-place resize changes them in (`doPodResizeAction`). Expected values are worked out from
/// upstream's rules by hand: 1024 shares a core (at least 2, at most 262144), a quota of the limit's
/// share of a 100 ms period (at least 1 ms), requests and limits summed as `PodRequests`/`PodLimits`.
@Suite("Pod cgroup limits")
struct PodCgroupConfigTests {
    static let mi: Int64 = 1024 * 1024

    static func container(
        _ name: String, requests: [String: Quantity] = [:], limits: [String: Quantity] = [:],
        sidecar: Bool = false
    ) -> CoreV1.Container {
        var c = CoreV1.Container(name: name)
        c.resources = CoreV1.ResourceRequirements(limits: limits, requests: requests)
        if sidecar { c.restartPolicy = "Always" }
        return c
    }

    /// Requests equal to limits (what the API server's defaulting gives a container naming limits only).
    static func guaranteed(_ name: String, cpu: Quantity, memory: Quantity, sidecar: Bool = false)
        -> CoreV1.Container
    {
        container(
            name, requests: ["cpu": cpu, "memory": memory], limits: ["cpu": cpu, "memory": memory], sidecar: sidecar)
    }

    static func pod(
        _ containers: [CoreV1.Container], initContainers: [CoreV1.Container] = [],
        overhead: [String: Quantity] = [:], podLevel: CoreV1.ResourceRequirements? = nil
    ) -> CoreV1.Pod {
        var p = CoreV1.Pod()
        p.metadata.uid = "u1"
        p.metadata.name = "p"
        p.spec.containers = containers
        p.spec.initContainers = initContainers
        p.spec.overhead = overhead
        p.spec.resources = podLevel
        return p
    }

    struct Case: CustomTestStringConvertible, Sendable {
        let name: String
        let pod: CoreV1.Pod
        var settings = PodCgroupSettings(fsRoot: "/nonexistent", podLevelResources: true)
        let want: PodCgroupConfig
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(
            name: "BestEffort: the minimal shares and nothing else",
            pod: pod([container("a"), container("b")]), want: PodCgroupConfig(cpuShares: 2)),
        Case(
            name: "Guaranteed: shares from the summed requests, quota and memory from the summed limits",
            pod: pod([guaranteed("a", cpu: "250m", memory: "64Mi"), guaranteed("b", cpu: "250m", memory: "64Mi")]),
            want: PodCgroupConfig(cpuShares: 512, cpuQuota: 50_000, cpuPeriod: 100_000, memoryLimit: 128 * mi)),
        Case(
            name: "Burstable with every limit declared: quota and memory limit as well",
            pod: pod([
                container(
                    "a", requests: ["cpu": "100m", "memory": "32Mi"], limits: ["cpu": "200m", "memory": "64Mi"]),
                container(
                    "b", requests: ["cpu": "100m", "memory": "64Mi"], limits: ["cpu": "300m", "memory": "64Mi"]),
            ]),
            want: PodCgroupConfig(cpuShares: 204, cpuQuota: 50_000, cpuPeriod: 100_000, memoryLimit: 128 * mi)),
        Case(
            name: "Burstable with one container lacking a cpu limit: no quota, the memory limit stays",
            pod: pod([
                container("a", requests: ["cpu": "100m"], limits: ["cpu": "200m", "memory": "64Mi"]),
                container("b", requests: ["cpu": "100m", "memory": "64Mi"], limits: ["memory": "64Mi"]),
            ]),
            want: PodCgroupConfig(cpuShares: 204, memoryLimit: 128 * mi)),
        Case(
            name: "an init container without a memory limit leaves the pod without one",
            pod: pod(
                [container("a", requests: ["cpu": "100m"], limits: ["cpu": "200m", "memory": "64Mi"])],
                initContainers: [container("init", requests: ["cpu": "100m"], limits: ["cpu": "100m"])]),
            want: PodCgroupConfig(cpuShares: 102, cpuQuota: 20_000, cpuPeriod: 100_000)),
        Case(
            name: "init containers: the larger of an init container and the app containers' sum counts",
            pod: pod(
                [container("a", requests: ["cpu": "200m"], limits: ["cpu": "500m", "memory": "64Mi"])],
                initContainers: [guaranteed("init", cpu: "1", memory: "32Mi")]),
            want: PodCgroupConfig(cpuShares: 1024, cpuQuota: 100_000, cpuPeriod: 100_000, memoryLimit: 64 * mi)),
        Case(
            name: "a sidecar adds to the app containers and to every init container after it",
            pod: pod(
                [guaranteed("a", cpu: "200m", memory: "64Mi")],
                initContainers: [
                    guaranteed("sidecar", cpu: "100m", memory: "16Mi", sidecar: true),
                    guaranteed("init", cpu: "500m", memory: "32Mi"),
                ]),
            // Steady state 300m/80Mi; the init phase 600m/48Mi: cpu from the init phase, memory steady.
            want: PodCgroupConfig(cpuShares: 614, cpuQuota: 60_000, cpuPeriod: 100_000, memoryLimit: 80 * mi)),
        Case(
            name: "pod overhead adds to requests and to the limits there are",
            pod: pod([guaranteed("a", cpu: "100m", memory: "64Mi")], overhead: ["cpu": "50m", "memory": "10Mi"]),
            want: PodCgroupConfig(cpuShares: 153, cpuQuota: 15_000, cpuPeriod: 100_000, memoryLimit: 74 * mi)),
        Case(
            name: "overhead of a pod without limits makes no limit",
            pod: pod([container("a", requests: ["cpu": "100m"])], overhead: ["cpu": "50m", "memory": "10Mi"]),
            want: PodCgroupConfig(cpuShares: 153)),
        Case(
            name: "pod-level resources replace the containers' sums and declare the limits",
            pod: pod(
                [container("a", requests: ["cpu": "100m"])],
                podLevel: CoreV1.ResourceRequirements(
                    limits: ["cpu": "2", "memory": "1Gi"], requests: ["cpu": "1", "memory": "512Mi"])),
            want: PodCgroupConfig(cpuShares: 1024, cpuQuota: 200_000, cpuPeriod: 100_000, memoryLimit: 1024 * mi)),
        Case(
            name: "with the PodLevelResources gate off the containers' sums count",
            pod: pod(
                [container("a", requests: ["cpu": "100m"])],
                podLevel: CoreV1.ResourceRequirements(
                    limits: ["cpu": "2", "memory": "1Gi"], requests: ["cpu": "1", "memory": "512Mi"])),
            settings: PodCgroupSettings(fsRoot: "/nonexistent", podLevelResources: false),
            want: PodCgroupConfig(cpuShares: 102)),
        Case(
            name: "CFS quota not enforced (--cpu-cfs-quota=false): the quota is -1",
            pod: pod([guaranteed("a", cpu: "1", memory: "64Mi")]),
            settings: PodCgroupSettings(fsRoot: "/nonexistent", enforceCPULimits: false),
            want: PodCgroupConfig(cpuShares: 1024, cpuQuota: -1, cpuPeriod: 100_000, memoryLimit: 64 * mi)),
        Case(
            name: "the node's per-pod PID limit applies to every pod, BestEffort too",
            pod: pod([container("a")]), settings: PodCgroupSettings(fsRoot: "/nonexistent", podPidsLimit: 1024),
            want: PodCgroupConfig(cpuShares: 2, pidsLimit: 1024)),
    ]

    @Test("ResourceConfigForPod's rules", arguments: cases)
    func forPod(_ c: Case) {
        #expect(PodCgroupConfig.forPod(c.pod, settings: c.settings) == c.want)
    }

    @Test(
        "MilliCPUToShares: 1024 a core, at least 2 (also for none), at most 262144",
        arguments: [(Int64(0), Int64(2)), (1, 2), (100, 102), (1000, 1024), (300_000, 262_144)])
    func shares(_ milli: Int64, _ want: Int64) {
        #expect(PodCgroupConfig.shares(milliCPU: milli) == want)
    }

    @Test(
        "MilliCPUToQuota: the limit's share of 100 ms, at least 1 ms; 0 without a limit",
        arguments: [(Int64(0), Int64(0)), (5, 1000), (250, 25_000), (2000, 200_000)])
    func quota(_ milli: Int64, _ want: Int64) {
        #expect(PodCgroupConfig.quota(milliCPU: milli) == want)
    }

    @Test("the QoS parents: BestEffort at the minimum, Burstable the shares of its pods' summed requests")
    func qosShares() {
        let pods = [
            Self.pod([Self.container("a", requests: ["cpu": "300m"])]),
            Self.pod([Self.container("b", requests: ["cpu": "200m", "memory": "1Mi"])]),
            Self.pod([Self.guaranteed("g", cpu: "1", memory: "1Mi")]),
            Self.pod([Self.container("e")]),
        ]
        let s = PodCgroupConfig.qosShares(pods)
        #expect(s.burstable == 512)
        #expect(s.bestEffort == 2)
    }

    // MARK: resize order

    struct ResizeCase: CustomTestStringConvertible, Sendable {
        let name: String
        let current: PodCgroupConfig
        let desired: PodCgroupConfig
        let change: Set<String>
        var usage: Int64 = 10 * PodCgroupConfigTests.mi
        let want: PodCgroupResize.Plan
        var testDescription: String { name }
    }

    static let base = PodCgroupConfig(cpuShares: 512, cpuQuota: 50_000, cpuPeriod: 100_000, memoryLimit: 128 * mi)
    static func with(shares: Int64 = 512, quota: Int64? = 50_000, memory: Int64? = 128 * mi) -> PodCgroupConfig {
        PodCgroupConfig(
            cpuShares: shares, cpuQuota: quota, cpuPeriod: quota == nil ? nil : 100_000, memoryLimit: memory)
    }

    static let resizeCases: [ResizeCase] = [
        ResizeCase(
            name: "nothing changes: no step", current: base, desired: base, change: [], want: .init()),
        ResizeCase(
            name: "memory grows: the pod limit is raised before the containers'",
            current: base, desired: with(memory: 256 * mi), change: ["memory"],
            want: .init(steps: [.podMemoryLimit(256 * mi), .containers(resource: "memory")])),
        ResizeCase(
            name: "memory shrinks: the containers' limits are lowered before the pod's",
            current: base, desired: with(memory: 64 * mi), change: ["memory"],
            want: .init(steps: [.containers(resource: "memory"), .podMemoryLimit(64 * mi)])),
        ResizeCase(
            name: "memory shrinks to the pod's usage or below: refused, nothing done, cpu neither",
            current: base, desired: with(shares: 1024, quota: 100_000, memory: 64 * mi), change: ["memory", "cpu"],
            usage: 64 * mi,
            want: .init(
                steps: [],
                refusal: "aborting attempt to set pod memory limit less than current memory usage for pod web")),
        ResizeCase(
            name: "cpu grows: quota, then shares, then the containers",
            current: base, desired: with(shares: 1024, quota: 100_000), change: ["cpu"],
            want: .init(steps: [
                .podCPUQuota(quota: 100_000, period: 100_000), .podCPUShares(1024), .containers(resource: "cpu"),
            ])),
        ResizeCase(
            name: "cpu shrinks: the containers, then shares, then quota",
            current: base, desired: with(shares: 256, quota: 25_000), change: ["cpu"],
            want: .init(steps: [
                .containers(resource: "cpu"), .podCPUShares(256), .podCPUQuota(quota: 25_000, period: 100_000),
            ])),
        ResizeCase(
            name: "memory before cpu: memory grows, cpu shrinks",
            current: base, desired: with(shares: 256, quota: 25_000, memory: 256 * mi), change: ["memory", "cpu"],
            want: .init(steps: [
                .podMemoryLimit(256 * mi), .containers(resource: "memory"), .containers(resource: "cpu"),
                .podCPUShares(256), .podCPUQuota(quota: 25_000, period: 100_000),
            ])),
        ResizeCase(
            name: "a pod without a memory limit keeps none; its containers still change, whatever the usage",
            current: with(memory: nil), desired: with(memory: nil), change: ["memory"], usage: 1 << 40,
            want: .init(steps: [.containers(resource: "memory")])),
        ResizeCase(
            name: "shares grow under an unchanged quota: shares before the containers",
            current: base, desired: with(shares: 1024), change: ["cpu"],
            want: .init(steps: [.podCPUShares(1024), .containers(resource: "cpu")])),
    ]

    @Test("doPodResizeAction's order", arguments: resizeCases)
    func resizeOrder(_ c: ResizeCase) {
        let plan = PodCgroupResize.plan(
            podName: "web", current: c.current, desired: c.desired, containersChange: c.change, memoryUsage: c.usage)
        #expect(plan == c.want)
    }

    @Test("a resize's container updates go in two phases: memory alone first, then cpu with memory already set")
    func phases() {
        var have = Runtime_V1_LinuxContainerResources()
        have.cpuShares = 102
        have.cpuQuota = 20_000
        have.cpuPeriod = 100_000
        have.memoryLimitInBytes = 64 * Self.mi
        var running = K.running("app", id: "c1")
        running.resources = have
        var both = have
        both.cpuShares = 204
        both.memoryLimitInBytes = 128 * Self.mi
        var cpuOnly = have
        cpuOnly.cpuQuota = 40_000
        var other = K.running("side", id: "c2")
        other.resources = have
        let rt = K.rt([K.sandbox()], [running, other])
        let split = PodResize.phases(
            [
                PodResize.Update(id: "c1", name: "app", linux: both),
                PodResize.Update(id: "c2", name: "side", linux: cpuOnly),
            ], runtime: rt)
        var memoryStep = have
        memoryStep.memoryLimitInBytes = 128 * Self.mi
        #expect(split.memory == [PodResize.Update(id: "c1", name: "app", linux: memoryStep)])
        #expect(
            split.cpu == [
                PodResize.Update(id: "c1", name: "app", linux: both),
                PodResize.Update(id: "c2", name: "side", linux: cpuOnly),
            ])
    }
}
