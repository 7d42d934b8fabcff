import APICoordination
import APICore
import APIMachinery
import CRI
import Foundation
import KubeClient
import Synchronization
import Testing

@testable import Kubelet

/// Builders for the node status cases: a 4-CPU machine with 8Gi of memory, 100Gi of disk and both
/// huge page sizes empty, and a kubelet configuration with upstream's defaults.
enum N {
    static let t0 = Time(seconds: 1_700_000_000)
    static func at(_ seconds: Int64) -> Time { Time(seconds: t0.seconds + seconds) }

    static func machine(_ edit: (inout MachineInfo) -> Void = { _ in }) -> MachineInfo {
        var m = MachineInfo(
            cpus: 4, memoryBytes: 8 * 1024 * 1024 * 1024, ephemeralStorageBytes: 100 * 1024 * 1024 * 1024,
            maxPIDs: 4_194_304, hostname: "node-a", machineID: "mid", systemUUID: "uuid", bootID: "boot",
            kernelVersion: "6.1.0-18-amd64", osImage: "Debian GNU/Linux 12 (bookworm)", architecture: "amd64",
            hostIPs: ["10.0.0.5"], swapBytes: 0,
            hugePages: [.init(pageSizeKiB: 2048, pages: 0), .init(pageSizeKiB: 1_048_576, pages: 0)])
        edit(&m)
        return m
    }

    static func config(_ edit: (inout NodeConfig) -> Void = { _ in }) -> NodeConfig {
        var c = NodeConfig(
            nodeName: "node-a", kubeletVersion: "v1.36.2-k8swift", containerRuntimeVersion: "containerd://1.6.20~ds1")
        edit(&c)
        return c
    }

    static func q(_ s: String) -> Quantity { try! Quantity(parsing: s) }

    static func condition(_ type: String, _ status: Bool, reason: String = "", message: String = "")
        -> Runtime_V1_RuntimeCondition
    {
        var c = Runtime_V1_RuntimeCondition()
        c.type = type
        c.status = status
        c.reason = reason
        c.message = message
        return c
    }

    static func runtimeStatus(_ conditions: [Runtime_V1_RuntimeCondition]) -> Runtime_V1_RuntimeStatus {
        var s = Runtime_V1_RuntimeStatus()
        s.conditions = conditions
        return s
    }

    static let bothReady = runtimeStatus([condition("RuntimeReady", true), condition("NetworkReady", true)])

    /// Runtime health after one CRI `Status` answer at t0, read at `readAt` seconds later.
    static func health(_ status: Runtime_V1_RuntimeStatus?, readAt: Int64 = 0) -> RuntimeHealth {
        var s = RuntimeState()
        if let status { s.record(status, now: t0) }
        return s.health(now: at(readAt))
    }

    static func status(
        config: NodeConfig = N.config(), machine: MachineInfo = N.machine(), previous: CoreV1.NodeStatus = .init(),
        runtime: RuntimeHealth = .ready, images: [CoreV1.ContainerImage] = [], pressure: Pressure = Pressure(),
        now: Time = N.t0
    ) -> CoreV1.NodeStatus {
        NodeStatusBuilder.status(
            config: config, machine: machine, previous: previous, runtime: runtime, images: images, pressure: pressure,
            now: now)
    }

    static func image(_ id: String, size: UInt64, tags: [String] = [], digests: [String] = []) -> Runtime_V1_Image {
        var i = Runtime_V1_Image()
        i.id = id
        i.size = size
        i.repoTags = tags
        i.repoDigests = digests
        return i
    }
}

struct AllocatableCase: CustomTestStringConvertible, Sendable {
    let rule: String
    var config = N.config()
    var machine = N.machine()
    /// Expected allocatable, canonical quantity strings.
    let want: [String: String]
    var testDescription: String { rule }
}

struct ReadyCase: CustomTestStringConvertible, Sendable {
    let rule: String
    let runtime: RuntimeHealth
    let status: String
    let reason: String
    let message: String
    var testDescription: String { rule }
}

struct UpdateCase: CustomTestStringConvertible, Sendable {
    let rule: String
    var edit: @Sendable (inout CoreV1.NodeStatus) -> Void = { _ in }
    var lastReport = N.at(-10)
    let want: Bool
    var testDescription: String { rule }
}

@Suite("Node status: what the kubelet reports of its node (upstream's node status setters)")
struct NodeStatusTests {
    // MARK: capacity and allocatable

    @Test("capacity: cpu in whole cores, memory and disk in binary units, pods from maxPods, each huge page size")
    func capacity() {
        let s = N.status()
        #expect(
            s.capacity.mapValues(\.string) == [
                "cpu": "4", "memory": "8Gi", "ephemeral-storage": "100Gi", "pods": "110", "hugepages-2Mi": "0",
                "hugepages-1Gi": "0",
            ])
    }

    static let allocatableCases: [AllocatableCase] = [
        AllocatableCase(
            rule:
                "defaults: memory.available<100Mi and nodefs.available<10% (computed as int64(capacity × float32 0.1))",
            want: [
                "cpu": "4", "memory": "8092Mi", "ephemeral-storage": "96636764000", "pods": "110", "hugepages-2Mi": "0",
                "hugepages-1Gi": "0",
            ]),
        AllocatableCase(
            rule: "imagefs and inodes thresholds reserve nothing; without hard thresholds allocatable is capacity",
            config: N.config { $0.evictionHard = [] },
            want: [
                "cpu": "4", "memory": "8Gi", "ephemeral-storage": "100Gi", "pods": "110", "hugepages-2Mi": "0",
                "hugepages-1Gi": "0",
            ]),
        AllocatableCase(
            rule: "kube-reserved + system-reserved + hard eviction add up per resource",
            config: N.config {
                $0.kubeReserved = ["cpu": N.q("100m"), "memory": N.q("256Mi")]
                $0.systemReserved = ["cpu": N.q("200m"), "memory": N.q("512Mi"), "ephemeral-storage": N.q("1Gi")]
                $0.evictionHard = [EvictionThreshold(signal: "memory.available", value: .quantity(N.q("500Mi")))]
            },
            want: [
                "cpu": "3700m", "memory": "6924Mi", "ephemeral-storage": "99Gi", "pods": "110", "hugepages-2Mi": "0",
                "hugepages-1Gi": "0",
            ]),
        AllocatableCase(
            rule: "a reservation larger than capacity leaves zero, never a negative allocatable",
            config: N.config { $0.kubeReserved = ["cpu": N.q("5")] },
            want: [
                "cpu": "0", "memory": "8092Mi", "ephemeral-storage": "96636764000", "pods": "110", "hugepages-2Mi": "0",
                "hugepages-1Gi": "0",
            ]),
        AllocatableCase(
            rule: "pods are not a container manager resource: kube-reserved pods is ignored",
            config: N.config { $0.kubeReserved = ["pods": N.q("10")] },
            want: [
                "cpu": "4", "memory": "8092Mi", "ephemeral-storage": "96636764000", "pods": "110", "hugepages-2Mi": "0",
                "hugepages-1Gi": "0",
            ]),
        AllocatableCase(
            rule: "memory.available as a percentage: float32 0.1 of 8Gi is 858993472 bytes, not 858993459",
            config: N.config { $0.evictionHard = try! EvictionThreshold.parse(["memory.available": "10%"]) },
            want: [
                "cpu": "4", "memory": "7730941120", "ephemeral-storage": "100Gi", "pods": "110", "hugepages-2Mi": "0",
                "hugepages-1Gi": "0",
            ]),
        AllocatableCase(
            rule: "huge pages are taken out of allocatable memory",
            machine: N.machine { $0.hugePages = [.init(pageSizeKiB: 2048, pages: 512)] },
            want: [
                "cpu": "4", "memory": "7068Mi", "ephemeral-storage": "96636764000", "pods": "110",
                "hugepages-2Mi": "1Gi",
            ]),
    ]

    @Test("allocatable = capacity − kube-reserved − system-reserved − hard eviction", arguments: allocatableCases)
    func allocatable(_ c: AllocatableCase) {
        let s = N.status(config: c.config, machine: c.machine)
        #expect(s.allocatable.mapValues(\.string) == c.want)
    }

    @Test("extended resources someone else put in capacity stay, and are allocatable in full")
    func extendedResources() {
        var previous = CoreV1.NodeStatus()
        previous.capacity["example.com/dongle"] = N.q("3")
        previous.allocatable["example.com/gone"] = N.q("1")
        let s = N.status(previous: previous)
        #expect(s.capacity["example.com/dongle"]?.string == "3")
        #expect(s.allocatable["example.com/dongle"]?.string == "3")
        #expect(s.allocatable["example.com/gone"] == nil)
    }

    @Test("eviction thresholds parse as upstream: 0% and 100% are dropped, out-of-range and non-positive refused")
    func evictionParsing() throws {
        let parsed = try EvictionThreshold.parse([
            "memory.available": "100Mi", "nodefs.available": "10%", "imagefs.available": "0%",
            "nodefs.inodesFree": "100%",
        ])
        #expect(parsed.map(\.signal) == ["memory.available", "nodefs.available"])
        #expect(parsed[1].value == .percentage(Float(10) / 100))
        #expect(throws: EvictionThreshold.ParseError.self) { try EvictionThreshold.parse(["memory.available": "150%"]) }
        #expect(throws: EvictionThreshold.ParseError.self) { try EvictionThreshold.parse(["memory.available": "-5%"]) }
        #expect(throws: EvictionThreshold.ParseError.self) { try EvictionThreshold.parse(["memory.available": "0"]) }
        #expect(throws: EvictionThreshold.ParseError.self) { try EvictionThreshold.parse(["disk.available": "1Gi"]) }
        let defaults = EvictionThreshold.defaults
        #expect(
            defaults.map(\.signal) == [
                "imagefs.available", "imagefs.inodesFree", "memory.available", "nodefs.available",
                "nodefs.inodesFree",
            ])
    }

    // MARK: conditions

    @Test("a new node gets MemoryPressure, DiskPressure, PIDPressure, Ready in that order with upstream's texts")
    func newConditions() {
        let s = N.status()
        #expect(s.conditions.map(\.type) == ["MemoryPressure", "DiskPressure", "PIDPressure", "Ready"])
        #expect(s.conditions.map(\.status) == ["False", "False", "False", "True"])
        #expect(
            s.conditions.map(\.reason) == [
                "KubeletHasSufficientMemory", "KubeletHasNoDiskPressure", "KubeletHasSufficientPID", "KubeletReady",
            ])
        #expect(
            s.conditions.map(\.message) == [
                "kubelet has sufficient memory available", "kubelet has no disk pressure",
                "kubelet has sufficient PID available", "kubelet is posting ready status",
            ])
        for c in s.conditions {
            #expect(c.lastHeartbeatTime == N.t0)
            #expect(c.lastTransitionTime == N.t0)
        }
    }

    @Test("pressure turns each condition True with upstream's reason and message")
    func pressureConditions() {
        let s = N.status(pressure: Pressure(memory: true, disk: true, pid: true))
        let byType = Dictionary(uniqueKeysWithValues: s.conditions.map { ($0.type, $0) })
        #expect(byType["MemoryPressure"]?.status == "True")
        #expect(byType["MemoryPressure"]?.reason == "KubeletHasInsufficientMemory")
        #expect(byType["MemoryPressure"]?.message == "kubelet has insufficient memory available")
        #expect(byType["DiskPressure"]?.reason == "KubeletHasDiskPressure")
        #expect(byType["DiskPressure"]?.message == "kubelet has disk pressure")
        #expect(byType["PIDPressure"]?.reason == "KubeletHasInsufficientPID")
        #expect(byType["PIDPressure"]?.message == "kubelet has insufficient PID available")
    }

    static let cniMissing = N.condition(
        "NetworkReady", false, reason: "NetworkPluginNotReady",
        message: "Network plugin returns error: cni plugin not initialized")

    static let readyCases: [ReadyCase] = [
        ReadyCase(
            rule: "runtime and network ready: KubeletReady",
            runtime: N.health(N.bothReady), status: "True", reason: "KubeletReady",
            message: "kubelet is posting ready status"),
        ReadyCase(
            rule: "network not ready: the CRI condition printed as Type=bool reason:… message:…",
            runtime: N.health(N.runtimeStatus([N.condition("RuntimeReady", true), cniMissing])), status: "False",
            reason: "KubeletNotReady",
            message:
                "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized"
        ),
        ReadyCase(
            rule: "a condition the runtime does not report prints as <nil>",
            runtime: N.health(N.runtimeStatus([N.condition("RuntimeReady", true)])), status: "False",
            reason: "KubeletNotReady", message: "container runtime network not ready: <nil>"),
        ReadyCase(
            rule: "runtime not ready: never synced, its error, then the network's, aggregated in brackets",
            runtime: N.health(
                N.runtimeStatus([N.condition("RuntimeReady", false, reason: "Down", message: "shim gone"), cniMissing])),
            status: "False", reason: "KubeletNotReady",
            message:
                "[container runtime status check may not have completed yet, container runtime not ready: RuntimeReady=false reason:Down message:shim gone, container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized]"
        ),
        ReadyCase(
            rule: "before the first Status answer: not completed yet, network state unknown",
            runtime: N.health(nil), status: "False", reason: "KubeletNotReady",
            message: "[container runtime status check may not have completed yet, network state unknown]"),
        ReadyCase(
            rule: "a ready answer counts for 30 s: at 29 s still ready",
            runtime: N.health(N.bothReady, readAt: 29), status: "True", reason: "KubeletReady",
            message: "kubelet is posting ready status"),
        ReadyCase(
            rule: "a ready answer counts for 30 s: at 30 s the runtime is down",
            runtime: N.health(N.bothReady, readAt: 30), status: "False", reason: "KubeletNotReady",
            message: "container runtime is down"),
    ]

    @Test("Ready follows the runtime's and network's errors", arguments: readyCases)
    func ready(_ c: ReadyCase) throws {
        let s = N.status(runtime: c.runtime)
        let ready = try #require(s.conditions.first { $0.type == "Ready" })
        #expect(ready.status == c.status)
        #expect(ready.reason == c.reason)
        #expect(ready.message == c.message)
    }

    @Test("a failed Status call changes nothing: the runtime's last answer stands")
    func failedStatusKeepsState() {
        var s = RuntimeState()
        s.record(N.runtimeStatus([N.condition("RuntimeReady", true), Self.cniMissing]), now: N.t0)
        // No further answer: 10 s later the same network error, the runtime still within its 30 s.
        #expect(
            s.health(now: N.at(10))
                == RuntimeHealth(
                    runtimeErrors: [],
                    networkErrors: [
                        "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized"
                    ]))
        s.record(N.bothReady, now: N.at(20))
        #expect(s.health(now: N.at(45)).isReady)
    }

    @Test("missing capacities make the node not ready")
    func missingCapacity() {
        var s = CoreV1.NodeStatus()
        NodeStatusBuilder.setReadyCondition(&s, runtime: .ready, now: N.t0)
        #expect(
            s.conditions.first?.message == "missing node capacity for resources: cpu, memory, pods, ephemeral-storage")
    }

    // MARK: transitions

    @Test("an unchanged status keeps its transition time; heartbeats move to now")
    func transitionKept() {
        let first = N.status(runtime: N.health(N.bothReady), now: N.t0)
        let second = N.status(previous: first, runtime: N.health(N.bothReady), now: N.at(10))
        for c in second.conditions {
            #expect(c.lastTransitionTime == N.t0, "\(c.type)")
            #expect(c.lastHeartbeatTime == N.at(10), "\(c.type)")
        }
    }

    @Test("a changed status moves the transition time to now")
    func transitionChanged() throws {
        let first = N.status(now: N.t0)
        let second = N.status(
            previous: first, runtime: RuntimeHealth(runtimeErrors: ["container runtime is down"]),
            pressure: Pressure(memory: true), now: N.at(10))
        let ready = try #require(second.conditions.first { $0.type == "Ready" })
        #expect(ready.lastTransitionTime == N.at(10))
        let memory = try #require(second.conditions.first { $0.type == "MemoryPressure" })
        #expect(memory.lastTransitionTime == N.at(10))
        let disk = try #require(second.conditions.first { $0.type == "DiskPressure" })
        #expect(disk.lastTransitionTime == N.t0)
    }

    @Test("pressure reason and message are written on transition only; order and foreign conditions are kept")
    func conditionsInPlace() {
        var previous = CoreV1.NodeStatus()
        previous.conditions = [
            CoreV1.NodeCondition(type: "Ready", status: "True", lastTransitionTime: N.t0, reason: "KubeletReady"),
            CoreV1.NodeCondition(
                type: "NetworkUnavailable", status: "False", lastTransitionTime: N.t0, reason: "RouteCreated"),
            CoreV1.NodeCondition(
                type: "MemoryPressure", status: "False", lastTransitionTime: N.t0, reason: "Custom", message: "kept"),
        ]
        let s = N.status(previous: previous, now: N.at(10))
        #expect(
            s.conditions.map(\.type) == [
                "Ready", "NetworkUnavailable", "MemoryPressure", "DiskPressure", "PIDPressure",
            ])
        #expect(s.conditions[1] == previous.conditions[1])
        #expect(s.conditions[2].reason == "Custom")
        #expect(s.conditions[2].message == "kept")
        #expect(s.conditions[2].lastHeartbeatTime == N.at(10))
    }

    // MARK: the Node object

    @Test("the registered Node: kubelet labels, --node-labels over them, attach-detach annotation, taints, CIDR")
    func initialNode() {
        let taint = CoreV1.Taint(key: "dedicated", value: "db", effect: "NoSchedule")
        let config = N.config {
            $0.labels = ["team": "a", "kubernetes.io/hostname": "override"]
            $0.registerWithTaints = [taint]
            $0.podCIDR = "10.42.0.0/24"
            $0.providerID = "k8swift://node-a"
        }
        let node = NodeStatusBuilder.initialNode(config: config, machine: N.machine(), now: N.t0)
        #expect(node.metadata.name == "node-a")
        #expect(
            node.metadata.labels == [
                "kubernetes.io/hostname": "override", "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
                "beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": "amd64", "team": "a",
            ])
        #expect(node.metadata.annotations == ["volumes.kubernetes.io/controller-managed-attach-detach": "true"])
        #expect(node.spec.taints == [taint])
        #expect(node.spec.podCIDR == "10.42.0.0/24")
        #expect(node.spec.podCIDRs == ["10.42.0.0/24"])
        #expect(node.spec.providerID == "k8swift://node-a")
        #expect(node.spec.unschedulable == false)
        #expect(node.status.conditions.count == 4)
    }

    @Test("addresses: an InternalIP per host IP, then the Hostname; endpoints and node info")
    func addressesAndInfo() {
        let s = N.status(machine: N.machine { $0.hostIPs = ["10.0.0.5", "fd00::5"] })
        #expect(
            s.addresses == [
                CoreV1.NodeAddress(type: "InternalIP", address: "10.0.0.5"),
                CoreV1.NodeAddress(type: "InternalIP", address: "fd00::5"),
                CoreV1.NodeAddress(type: "Hostname", address: "node-a"),
            ])
        #expect(s.daemonEndpoints.kubeletEndpoint.Port == 10250)
        let i = s.nodeInfo
        #expect(i.machineID == "mid")
        #expect(i.systemUUID == "uuid")
        #expect(i.bootID == "boot")
        #expect(i.kernelVersion == "6.1.0-18-amd64")
        #expect(i.osImage == "Debian GNU/Linux 12 (bookworm)")
        #expect(i.containerRuntimeVersion == "containerd://1.6.20~ds1")
        #expect(i.kubeletVersion == "v1.36.2-k8swift")
        #expect(i.operatingSystem == "linux")
        #expect(i.architecture == "amd64")
        // DisableNodeKubeProxyVersion defaults on since 1.33: the field is cleared, even if set before.
        var previous = CoreV1.NodeStatus()
        previous.nodeInfo.kubeProxyVersion = "v1.32.0"
        #expect(N.status(previous: previous).nodeInfo.kubeProxyVersion == "")
    }

    // MARK: images

    @Test("images: largest first, equal sizes by image ID descending, digests before tags, five names at most")
    func imagesOrder() {
        let list = [
            N.image("sha256:a", size: 10, tags: ["small:1"]),
            N.image("sha256:b", size: 30, tags: ["big:1", "big:2"], digests: ["big@sha256:1"]),
            N.image("sha256:c", size: 20, tags: ["mid:c"]),
            N.image("sha256:d", size: 20, tags: ["mid:d"]),
            N.image(
                "sha256:e", size: 5, tags: ["t1", "t2", "t3", "t4"], digests: ["d1", "d2"]),
        ]
        let images = NodeStatusBuilder.images(from: list)
        #expect(
            images.map(\.names) == [
                ["big@sha256:1", "big:1", "big:2"], ["mid:d"], ["mid:c"], ["small:1"], ["d1", "d2", "t1", "t2", "t3"],
            ])
        #expect(images.map(\.sizeBytes) == [30, 20, 20, 10, 5])
    }

    @Test("images: at most 50 (nodeStatusMaxImages), the largest ones")
    func imagesCap() {
        let list = (1...60).map { N.image("sha256:\($0)", size: UInt64($0), tags: ["img:\($0)"]) }
        let images = NodeStatusBuilder.images(from: list)
        #expect(images.count == 50)
        #expect(images.first?.sizeBytes == 60)
        #expect(images.last?.sizeBytes == 11)
    }

    // MARK: when to write

    static let updateCases: [UpdateCase] = [
        UpdateCase(rule: "nothing but heartbeats changed, within the report frequency: no write", want: false),
        UpdateCase(
            rule: "nothing changed but 5 minutes passed since the last report: write", lastReport: N.at(-290),
            want: true),
        UpdateCase(rule: "299 s since the last report: no write yet", lastReport: N.at(-289), want: false),
        UpdateCase(rule: "never reported: write", lastReport: Time(), want: true),
        UpdateCase(
            rule: "a condition's message changed: write",
            edit: { s in s.conditions[3].message = "container runtime is down" }, want: true),
        UpdateCase(
            rule: "a transition time changed: write", edit: { s in s.conditions[0].lastTransitionTime = N.at(5) },
            want: true),
        UpdateCase(
            rule: "the same conditions in another order: no write", edit: { s in s.conditions.reverse() }, want: false),
        UpdateCase(
            rule: "quantities compare by value (8Gi = 8192Mi): no write",
            edit: { s in s.capacity["memory"] = N.q("8192Mi") }, want: false),
        UpdateCase(
            rule: "an address changed: write", edit: { s in s.addresses[0].address = "10.0.0.6" }, want: true),
        UpdateCase(
            rule: "images changed: write",
            edit: { s in s.images = [CoreV1.ContainerImage(names: ["x"], sizeBytes: 1)] }, want: true),
    ]

    @Test(
        "status is written when anything but heartbeats changed, or when the report frequency passed",
        arguments: updateCases)
    func needsUpdate(_ c: UpdateCase) {
        let old = N.status(now: N.t0)
        var new = N.status(previous: old, now: N.at(10))
        c.edit(&new)
        #expect(
            NodeStatusBuilder.needsUpdate(
                old: old, new: new, lastReport: c.lastReport, now: N.at(10), reportFrequency: .seconds(300)) == c.want)
    }

    // MARK: registration and lease

    @Test("re-registration puts the default labels and annotation back; --node-labels, other labels, taints stay")
    func reconcileExisting() {
        let initial = NodeStatusBuilder.initialNode(
            config: N.config { $0.labels = ["team": "new"] }, machine: N.machine(), now: N.t0)
        var existing = CoreV1.Node()
        existing.metadata.name = "node-a"
        existing.metadata.labels = ["kubernetes.io/hostname": "old", "team": "old", "extra": "x"]
        existing.spec.taints = [CoreV1.Taint(key: "k", effect: "NoExecute")]
        existing.status.capacity = ["cpu": N.q("4"), "hugepages-32Mi": N.q("0")]
        existing.status.allocatable = ["cpu": N.q("4"), "hugepages-32Mi": N.q("0")]
        let r = NodeStatusBuilder.reconcileExisting(existing, with: initial)
        #expect(r.metadataChanged)
        #expect(
            r.node.metadata.labels == [
                "kubernetes.io/hostname": "node-a", "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
                "beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": "amd64", "team": "old", "extra": "x",
            ])
        #expect(r.node.metadata.annotations["volumes.kubernetes.io/controller-managed-attach-detach"] == "true")
        #expect(r.node.spec.taints == existing.spec.taints)
        // Huge page sizes follow the machine: 32Mi goes, 2Mi and 1Gi come.
        #expect(r.statusChanged)
        #expect(r.node.status.capacity.keys.sorted() == ["cpu", "hugepages-1Gi", "hugepages-2Mi"])

        let again = NodeStatusBuilder.reconcileExisting(r.node, with: initial)
        #expect(!again.metadataChanged)
        #expect(!again.statusChanged)
    }

    @Test("a new lease: held by the node in kube-node-lease, 40 s, renewed now, owned by the Node")
    func newLease() {
        let now = MicroTime(seconds: N.t0.seconds, nanos: 123_456_000)
        let l = NodeHeartbeat.lease(base: nil, nodeName: "node-a", nodeUID: "u-1", durationSeconds: 40, now: now)
        #expect(l.metadata.name == "node-a")
        #expect(l.metadata.namespace == "kube-node-lease")
        #expect(l.spec.holderIdentity == "node-a")
        #expect(l.spec.leaseDurationSeconds == 40)
        #expect(l.spec.renewTime == now)
        #expect(
            l.metadata.ownerReferences == [
                MetaV1.OwnerReference(apiVersion: "v1", kind: "Node", name: "node-a", uid: "u-1")
            ])
    }

    @Test("a renewal asserts duration and renew time, keeps the holder and an existing owner")
    func renewedLease() {
        var base = NodeHeartbeat.lease(
            base: nil, nodeName: "node-a", nodeUID: "u-1", durationSeconds: 40, now: MicroTime(seconds: 1))
        base.spec.leaseDurationSeconds = 15
        base.spec.holderIdentity = "someone"
        let now = MicroTime(seconds: N.t0.seconds)
        let l = NodeHeartbeat.lease(base: base, nodeName: "node-a", nodeUID: "u-2", durationSeconds: 40, now: now)
        #expect(l.spec.leaseDurationSeconds == 40)
        #expect(l.spec.renewTime == now)
        #expect(l.spec.holderIdentity == "someone")
        #expect(l.metadata.ownerReferences.map(\.uid) == ["u-1"])
        #expect(
            NodeConfig(nodeName: "n", kubeletVersion: "", containerRuntimeVersion: "").nodeLeaseRenewInterval
                == .seconds(10))
    }

    // MARK: machine

    @Test("os-release: PRETTY_NAME unquoted, Linux without one")
    func osImage() {
        #expect(
            MachineInfo.prettyName("NAME=\"Debian\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n")
                == "Debian GNU/Linux 12 (bookworm)")
        #expect(MachineInfo.prettyName("NAME=Alpine\n") == "Linux")
    }

    @Test("reading this machine gives sizes, identities and Go's architecture name")
    func readMachine() {
        let m = MachineInfo.read(rootDir: "/nonexistent/var/lib/kubelet")
        #expect(m.cpus >= 1)
        #expect(m.memoryBytes > 0)
        #expect(m.ephemeralStorageBytes > 0)
        #expect(m.maxPIDs > 0)
        #expect(["amd64", "arm64"].contains(m.architecture))
        #expect(!m.hostIPs.isEmpty)
        #expect(!m.kernelVersion.isEmpty)
        #expect(m.hostname == m.hostname.lowercased())
        #expect(!m.systemUUID.isEmpty || m.machineID.isEmpty)
    }
}

// MARK: - the shell against a fake API

/// An API server holding Nodes and Leases in memory: create (409 AlreadyExists), get (404), update of
/// the main resource (status kept) and of `status` (only status taken).
final class FakeNodeAPI: KubeTransport {
    struct State {
        var nodes: [String: CoreV1.Node] = [:]
        var leases: [String: CoordinationV1.Lease] = [:]
        var writes: [String] = []
        var version = 1
    }
    let state = Mutex(State())

    static let leases = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases"

    func send(_ request: KubeRequest, timeout: Swift.Duration?) async throws -> KubeResponse {
        if request.method != "GET" { state.withLock { $0.writes.append("\(request.method) \(request.path)") } }
        let parts = request.path.split(separator: "/").map(String.init)
        if request.path.hasPrefix("/api/v1/nodes") {
            return try node(request, name: parts.count > 3 ? parts[3] : nil, status: parts.count > 4)
        }
        if request.path.hasPrefix(Self.leases) {
            return try lease(request, name: parts.count > 6 ? parts[6] : nil)
        }
        return Self.failure(404, "NotFound", "no route")
    }

    func node(_ request: KubeRequest, name: String?, status: Bool) throws -> KubeResponse {
        switch request.method {
        case "GET":
            guard let name, let n = state.withLock({ $0.nodes[name] }) else { return Self.failure(404, "NotFound", "") }
            return Self.ok(n)
        case "POST":
            var n = try JSONReader.decode(CoreV1.Node.self, from: request.body ?? [])
            return state.withLock { s in
                guard s.nodes[n.metadata.name] == nil else { return Self.failure(409, "AlreadyExists", "exists") }
                s.version += 1
                n.metadata.uid = "uid-\(n.metadata.name)"
                n.metadata.resourceVersion = "\(s.version)"
                s.nodes[n.metadata.name] = n
                return Self.ok(n, code: 201)
            }
        case "PUT":
            let sent = try JSONReader.decode(CoreV1.Node.self, from: request.body ?? [])
            return state.withLock { s in
                guard let name, var stored = s.nodes[name] else { return Self.failure(404, "NotFound", "") }
                if status {
                    stored.status = sent.status
                } else {
                    stored.metadata.labels = sent.metadata.labels
                    stored.metadata.annotations = sent.metadata.annotations
                    stored.spec = sent.spec
                }
                s.version += 1
                stored.metadata.resourceVersion = "\(s.version)"
                s.nodes[name] = stored
                return Self.ok(stored)
            }
        default: return Self.failure(405, "MethodNotAllowed", "")
        }
    }

    func lease(_ request: KubeRequest, name: String?) throws -> KubeResponse {
        switch request.method {
        case "GET":
            guard let name, let l = state.withLock({ $0.leases[name] }) else {
                return Self.failure(404, "NotFound", "")
            }
            return Self.ok(l)
        case "POST", "PUT":
            var l = try JSONReader.decode(CoordinationV1.Lease.self, from: request.body ?? [])
            return state.withLock { s in
                if request.method == "POST", s.leases[l.metadata.name] != nil {
                    return Self.failure(409, "AlreadyExists", "exists")
                }
                s.version += 1
                l.metadata.resourceVersion = "\(s.version)"
                s.leases[l.metadata.name] = l
                return Self.ok(l, code: request.method == "POST" ? 201 : 200)
            }
        default: return Self.failure(405, "MethodNotAllowed", "")
        }
    }

    static func ok<T: JSONObjectEncodable>(_ obj: T, code: Int = 200) -> KubeResponse {
        var w = JSONWriter()
        obj.encodeJSON(&w)
        return KubeResponse(status: code, headers: [("Content-Type", "application/json")], body: w.bytes)
    }

    static func failure(_ code: Int, _ reason: String, _ message: String) -> KubeResponse {
        KubeResponse(
            status: code, headers: [("Content-Type", "application/json")],
            body: Array(
                #"{"kind":"Status","apiVersion":"v1","status":"Failure","message":"\#(message)","reason":"\#(reason)","code":\#(code)}"#
                    .utf8))
    }

    func shutdown() async {}

    var writes: [String] { state.withLock { $0.writes } }
    func node(_ name: String) -> CoreV1.Node? { state.withLock { $0.nodes[name] } }
    func lease(_ name: String) -> CoordinationV1.Lease? { state.withLock { $0.leases[name] } }
}

/// A wall clock the test moves.
final class TestWallClock: Sendable {
    let time = Mutex(N.t0)
    func advance(_ seconds: Int64) { time.withLock { $0 = Time(seconds: $0.seconds + seconds, nanos: $0.nanos) } }
    var now: @Sendable () -> Time { { self.time.withLock { $0 } } }
}

@Suite("Node heartbeat: registration, status writes and the node lease against an API")
struct NodeStatusHeartbeatTests {
    func heartbeat(_ api: FakeNodeAPI, _ clock: TestWallClock, config: NodeConfig = N.config()) throws -> NodeHeartbeat
    {
        var cfg = ClientConfig(server: "https://x")
        cfg.wireFormat = .json
        let client = try KubeClient(config: cfg, transport: api)
        return NodeHeartbeat(
            client: client, config: config, machine: N.machine(), runtimeHealth: { .ready }, images: { [] },
            now: clock.now)
    }

    @Test("register creates the Node; status is written once, then only on change or after the report frequency")
    func registerAndReport() async throws {
        let api = FakeNodeAPI()
        let clock = TestWallClock()
        let hb = try heartbeat(api, clock)
        #expect(await hb.tryRegister())
        #expect(api.node("node-a")?.metadata.labels["kubernetes.io/hostname"] == "node-a")

        #expect(try await hb.updateStatus())
        let ready = api.node("node-a")?.status.conditions.first { $0.type == "Ready" }
        #expect(ready?.status == "True")
        clock.advance(10)
        #expect(try await hb.updateStatus() == false)
        clock.advance(290)
        #expect(try await hb.updateStatus())
        #expect(api.writes.filter { $0 == "PUT /api/v1/nodes/node-a/status" }.count == 2)
    }

    @Test("registering over an existing Node reconciles the default labels through the main resource")
    func registerExisting() async throws {
        let api = FakeNodeAPI()
        var old = CoreV1.Node()
        old.metadata.name = "node-a"
        old.metadata.uid = "uid-old"
        old.metadata.labels = ["kubernetes.io/hostname": "stale", "team": "a"]
        old.spec.taints = [CoreV1.Taint(key: "k", effect: "NoSchedule")]
        api.state.withLock { $0.nodes["node-a"] = old }
        let hb = try heartbeat(api, TestWallClock())
        #expect(await hb.tryRegister())
        let now = try #require(api.node("node-a"))
        #expect(now.metadata.labels["kubernetes.io/hostname"] == "node-a")
        #expect(now.metadata.labels["team"] == "a")
        #expect(now.spec.taints == old.spec.taints)
        #expect(api.writes.contains("PUT /api/v1/nodes/node-a"))
    }

    @Test("the pod CIDR the controller manager set is read back; a missing os label is restored")
    func podCIDRAndLabels() async throws {
        let api = FakeNodeAPI()
        var n = CoreV1.Node()
        n.metadata.name = "node-a"
        n.metadata.uid = "uid-node-a"
        n.metadata.labels = ["kubernetes.io/arch": "amd64"]
        n.spec.podCIDR = "10.42.1.0/24"
        n.spec.podCIDRs = ["10.42.1.0/24"]
        api.state.withLock { $0.nodes["node-a"] = n }
        let hb = try heartbeat(api, TestWallClock())
        #expect(hb.podCIDR == nil)
        #expect(try await hb.updateStatus())
        #expect(hb.podCIDR == "10.42.1.0/24")
        #expect(api.node("node-a")?.metadata.labels["kubernetes.io/os"] == "linux")
    }

    @Test("the lease waits for the Node, is created owned by it, then renewed with the clock")
    func lease() async throws {
        let api = FakeNodeAPI()
        let clock = TestWallClock()
        let hb = try heartbeat(api, clock)
        await #expect(throws: (any Error).self) { try await hb.renewLease() }
        #expect(api.lease("node-a") == nil)

        #expect(await hb.tryRegister())
        try await hb.renewLease()
        let created = try #require(api.lease("node-a"))
        #expect(created.spec.holderIdentity == "node-a")
        #expect(created.spec.leaseDurationSeconds == 40)
        #expect(created.spec.renewTime == MicroTime(seconds: N.t0.seconds))
        #expect(created.metadata.ownerReferences.map(\.uid) == ["uid-node-a"])

        clock.advance(10)
        try await hb.renewLease()
        #expect(api.lease("node-a")?.spec.renewTime == MicroTime(seconds: N.t0.seconds + 10))
        #expect(api.writes.filter { $0.hasPrefix("PUT " + FakeNodeAPI.leases) }.count == 1)
    }
}
