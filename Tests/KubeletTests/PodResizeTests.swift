import APICore
import APIMachinery
import CRI
import Testing

@testable import Kubelet

/// The node's side of an in-place resize: admission against allocatable (upstream's `Infeasible`
/// and `Deferred` with their messages), the cgroup changes for running containers (cpu shares 1024
/// per core, a CFS quota of a 100 ms period, the memory limit), restarts by resize policy, and the
/// status (`allocatedResources`, `resources`, `PodResizePending`, `PodResizeInProgress`).
@Suite("Pod resize on the node")
struct PodResizeTests {
    static func requirements(cpu: Quantity, memory: Quantity, cpuLimit: Quantity? = nil, memoryLimit: Quantity? = nil)
        -> CoreV1.ResourceRequirements
    {
        var r = CoreV1.ResourceRequirements(requests: ["cpu": cpu, "memory": memory])
        if let cpuLimit { r.limits["cpu"] = cpuLimit }
        if let memoryLimit { r.limits["memory"] = memoryLimit }
        return r
    }

    static func pod(_ r: CoreV1.ResourceRequirements, policy: [String: String] = [:]) -> CoreV1.Pod {
        K.pod(["app"]) { p in
            p.metadata.generation = 2
            p.spec.containers[0].resources = r
            p.spec.containers[0].resizePolicy = policy.sorted { $0.key < $1.key }.map {
                CoreV1.ContainerResizePolicy(resourceName: $0.key, restartPolicy: $0.value)
            }
        }
    }

    static let small = requirements(cpu: "100m", memory: "64Mi", cpuLimit: "200m", memoryLimit: "128Mi")
    static let large = requirements(cpu: "500m", memory: "128Mi", cpuLimit: "1", memoryLimit: "256Mi")
    static let allocatable: [String: Quantity] = ["cpu": "2", "memory": "1Gi"]

    struct AdmitCase: CustomTestStringConvertible, Sendable {
        let name: String
        let want: CoreV1.ResourceRequirements
        let others: [PodResize.Allocation]
        let pending: PodResize.Pending?
        var testDescription: String { name }
    }

    static let admitCases: [AdmitCase] = [
        AdmitCase(name: "nothing changed", want: small, others: [], pending: nil),
        AdmitCase(name: "an increase that fits", want: large, others: [["x": small]], pending: nil),
        AdmitCase(
            name: "more cpu than the node has: Infeasible",
            want: requirements(cpu: "3", memory: "64Mi", cpuLimit: "3", memoryLimit: "128Mi"), others: [],
            pending: .infeasible("Node didn't have enough capacity: cpu, requested: 3000, capacity: 2000")),
        AdmitCase(
            name: "more memory than the node has: Infeasible, memory named first",
            want: requirements(cpu: "3", memory: "2Gi", cpuLimit: "3", memoryLimit: "2Gi"), others: [],
            pending: .infeasible(
                "Node didn't have enough capacity: memory, requested: 2147483648, capacity: 1073741824")
        ),
        AdmitCase(
            name: "other pods leave too little cpu: Deferred",
            want: large, others: [["x": requirements(cpu: "1600m", memory: "64Mi")]],
            pending: .deferred("Node didn't have enough resource: cpu, requested: 500, used: 1600, capacity: 2000")),
    ]

    @Test("admission of a resize", arguments: admitCases)
    func admit(_ c: AdmitCase) {
        let p = Self.pod(c.want)
        let a = PodResize.admit(
            pod: p, previous: ["app": Self.small], allocatable: Self.allocatable, others: c.others)
        #expect(a.pending == c.pending)
        // Until the node takes it, the previous allocation stays.
        let expected = c.pending == nil ? c.want : Self.small
        #expect(PodResize.same(a.allocated["app"]!, expected))
    }

    static func running(applied r: CoreV1.ResourceRequirements) -> RuntimePod {
        var c = K.running("app")
        var spec = CoreV1.Container(name: "app", image: "busybox")
        spec.resources = r
        c.resources = RuntimeConfigs.linuxResources(spec)
        return K.rt([K.sandbox()], [c])
    }

    @Test("an admitted resize updates the running container's cgroup limits in place")
    func updateInPlace() {
        let p = Self.pod(Self.large)
        let act = PodResize.actuate(pod: p, allocated: ["app": Self.large], runtime: Self.running(applied: Self.small))
        #expect(act.restarts.isEmpty)
        #expect(act.updates.count == 1)
        let u = act.updates[0]
        #expect(u.id == "c-app")
        #expect(u.linux.cpuShares == 512)
        #expect(u.linux.cpuPeriod == 100_000)
        #expect(u.linux.cpuQuota == 100_000)
        #expect(u.linux.memoryLimitInBytes == 268_435_456)
        // Without swap held at the memory limit before, none is set now.
        #expect(u.linux.memorySwapLimitInBytes == 0)
    }

    @Test("memory+swap held at the memory limit moves with it (cgroup v1 refuses a memory limit above it)")
    func swapFollows() {
        let p = Self.pod(Self.large)
        var rt = Self.running(applied: Self.small)
        rt.containers[0].resources?.memorySwapLimitInBytes = 134_217_728
        let act = PodResize.actuate(pod: p, allocated: ["app": Self.large], runtime: rt)
        #expect(act.updates.map(\.linux.memorySwapLimitInBytes) == [268_435_456])
    }

    @Test("nothing to do when the applied limits are the allocation's, or the runtime reports none")
    func nothingToDo() {
        let p = Self.pod(Self.large)
        #expect(
            PodResize.actuate(pod: p, allocated: ["app": Self.large], runtime: Self.running(applied: Self.large))
                == PodResize.Actuation())
        let unknown = K.rt([K.sandbox()], [K.running("app")])
        #expect(PodResize.actuate(pod: p, allocated: ["app": Self.large], runtime: unknown) == PodResize.Actuation())
    }

    @Test("a memory change with resizePolicy RestartContainer restarts the container; cpu alone does not")
    func restartPolicy() {
        let p = Self.pod(Self.large, policy: ["memory": "RestartContainer", "cpu": "NotRequired"])
        let act = PodResize.actuate(pod: p, allocated: ["app": Self.large], runtime: Self.running(applied: Self.small))
        #expect(act.restarts == ["c-app"])
        #expect(act.updates.isEmpty)
        let cpuOnly = Self.requirements(cpu: "500m", memory: "64Mi", cpuLimit: "1", memoryLimit: "128Mi")
        let q = Self.pod(cpuOnly, policy: ["memory": "RestartContainer", "cpu": "NotRequired"])
        let act2 = PodResize.actuate(
            pod: q, allocated: ["app": cpuOnly], runtime: Self.running(applied: Self.small))
        #expect(act2.restarts.isEmpty)
        #expect(act2.updates.map(\.linux.cpuShares) == [512])
    }

    static func status(_ p: CoreV1.Pod) -> CoreV1.PodStatus {
        var s = CoreV1.PodStatus()
        s.containerStatuses = [CoreV1.ContainerStatus(name: "app", image: "busybox")]
        return s
    }

    @Test("a deferred resize: allocation and resources stay, PodResizePending says why")
    func reportPending() {
        let p = Self.pod(Self.large)
        var s = Self.status(p)
        let admission = PodResize.Admission(
            allocated: ["app": Self.small], pending: .deferred("Node didn't have enough resource: cpu"))
        PodResize.report(
            &s, pod: p, admission: admission, runtime: Self.running(applied: Self.small), inProgressError: nil,
            now: Time(seconds: 100))
        #expect(s.containerStatuses[0].allocatedResources == Self.small.requests)
        #expect(s.containerStatuses[0].resources.map { PodResize.same($0, Self.small) } == true)
        #expect(s.conditions.map(\.type) == ["PodResizePending"])
        #expect(s.conditions.first?.reason == "Deferred")
        #expect(s.conditions.first?.status == "True")
        #expect(s.conditions.first?.observedGeneration == 2)
        #expect(s.observedGeneration == 2)
    }

    @Test("an admitted resize not yet applied is in progress; once applied the condition goes")
    func reportInProgress() {
        let p = Self.pod(Self.large)
        var s = Self.status(p)
        let admission = PodResize.Admission(allocated: ["app": Self.large], pending: nil)
        PodResize.report(
            &s, pod: p, admission: admission, runtime: Self.running(applied: Self.small), inProgressError: nil,
            now: Time(seconds: 100))
        #expect(s.conditions.map(\.type) == ["PodResizeInProgress"])
        #expect(s.containerStatuses[0].allocatedResources == Self.large.requests)
        // What runs is still the old: 100m of shares (102 → 99m read back), 200m and 128Mi of limits.
        #expect(s.containerStatuses[0].resources?.limits["cpu"]?.milliValue == 200)
        #expect(s.containerStatuses[0].resources?.limits["memory"]?.value == 134_217_728)
        var done = Self.status(p)
        done.conditions = s.conditions
        PodResize.report(
            &done, pod: p, admission: admission, runtime: Self.running(applied: Self.large), inProgressError: nil,
            now: Time(seconds: 200))
        #expect(done.conditions.isEmpty)
        #expect(done.containerStatuses[0].resources.map { PodResize.same($0, Self.large) } == true)
    }

    @Test("after a kubelet restart the allocation comes back from the reported status")
    func reported() {
        var p = Self.pod(Self.large)
        var st = CoreV1.ContainerStatus(name: "app", image: "busybox")
        st.allocatedResources = Self.small.requests
        st.resources = Self.small
        p.status.containerStatuses = [st]
        #expect(PodResize.reported(p)["app"].map { PodResize.same($0, Self.small) } == true)
        p.status.containerStatuses = []
        #expect(PodResize.reported(p)["app"].map { PodResize.same($0, Self.large) } == true)
    }
}
