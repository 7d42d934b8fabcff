import APICore
import APIMachinery
import CRI
import Foundation
import Synchronization
import Testing

@testable import Kubelet

/// Local ephemeral storage eviction as upstream's eviction manager does it (`localStorageEviction`):
/// an emptyDir over its `sizeLimit`, a pod over its containers' summed `ephemeral-storage` limits, a
/// container's writable layer and logs over its own limit, in that order, with upstream's messages,
/// and no node pressure needed.
@Suite("local ephemeral storage eviction")
struct LocalStorageEvictionTests {
    static let mi: Int64 = 1024 * 1024

    static func pod(
        _ containers: [CoreV1.Container], volumes: [CoreV1.Volume] = [], initContainers: [CoreV1.Container] = []
    ) -> CoreV1.Pod {
        var p = CoreV1.Pod()
        p.metadata.uid = "u1"
        p.metadata.name = "p"
        p.metadata.namespace = "default"
        p.spec.containers = containers
        p.spec.initContainers = initContainers
        p.spec.volumes = volumes
        p.status.phase = "Running"
        return p
    }

    static func container(_ name: String, limit: Quantity? = nil, sidecar: Bool = false) -> CoreV1.Container {
        var c = CoreV1.Container(name: name)
        if let limit { c.resources.limits["ephemeral-storage"] = limit }
        if sidecar { c.restartPolicy = "Always" }
        return c
    }

    static func emptyDir(_ name: String, sizeLimit: Quantity?, medium: String = "") -> CoreV1.Volume {
        var v = CoreV1.Volume(name: name)
        v.volumeSource.emptyDir = CoreV1.EmptyDirVolumeSource(medium: medium, sizeLimit: sizeLimit)
        return v
    }

    struct Case: CustomTestStringConvertible, Sendable {
        let name: String
        let pod: CoreV1.Pod
        let usage: PodStorageUsage
        let want: String?
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(
            name: "an emptyDir over its sizeLimit",
            pod: pod([container("c")], volumes: [emptyDir("cache", sizeLimit: "1Mi")]),
            usage: PodStorageUsage(emptyDirs: ["cache": 2 * mi], total: 2 * mi),
            want: "Usage of EmptyDir volume \"cache\" exceeds the limit \"1Mi\". "),
        Case(
            name: "an emptyDir exactly at its sizeLimit stays (usage must exceed the limit)",
            pod: pod([container("c")], volumes: [emptyDir("cache", sizeLimit: "1Mi")]),
            usage: PodStorageUsage(emptyDirs: ["cache": mi], total: mi), want: nil),
        Case(
            name: "an emptyDir without a sizeLimit is not judged",
            pod: pod([container("c")], volumes: [emptyDir("cache", sizeLimit: nil)]),
            usage: PodStorageUsage(emptyDirs: ["cache": 100 * mi], total: 100 * mi), want: nil),
        Case(
            name: "a memory-backed emptyDir is not measured, so never judged here",
            pod: pod([container("c")], volumes: [emptyDir("shm", sizeLimit: "1Mi", medium: "Memory")]),
            usage: PodStorageUsage(total: 0), want: nil),
        Case(
            name: "the pod over its containers' summed limits",
            pod: pod([container("a", limit: "1Mi"), container("b", limit: "2Mi")]),
            usage: PodStorageUsage(containers: ["a": 0, "b": 0], total: 4 * mi),
            want: "Pod ephemeral local storage usage exceeds the total limit of containers 3Mi. "),
        Case(
            name: "a container without a limit still lets the others' sum bound the pod",
            pod: pod([container("a", limit: "1Mi"), container("b")]),
            usage: PodStorageUsage(containers: ["a": 0, "b": 2 * mi], total: 2 * mi),
            want: "Pod ephemeral local storage usage exceeds the total limit of containers 1Mi. "),
        Case(
            name: "a sidecar's limit counts in the pod's sum",
            pod: pod([container("a", limit: "1Mi")], initContainers: [container("s", limit: "1Mi", sidecar: true)]),
            usage: PodStorageUsage(containers: ["a": mi / 2, "s": mi / 2], total: 3 * mi / 2), want: nil),
        Case(
            name: "a container's writable layer and logs over its own limit",
            pod: pod([container("a", limit: "1Mi"), container("b", limit: "10Mi")]),
            usage: PodStorageUsage(containers: ["a": 2 * mi, "b": 0], total: 2 * mi),
            want: "Container a exceeded its local ephemeral storage limit \"1Mi\". "),
        Case(
            name: "the emptyDir check comes first",
            pod: pod([container("a", limit: "1Mi")], volumes: [emptyDir("cache", sizeLimit: "1Mi")]),
            usage: PodStorageUsage(emptyDirs: ["cache": 2 * mi], containers: ["a": 2 * mi], total: 4 * mi),
            want: "Usage of EmptyDir volume \"cache\" exceeds the limit \"1Mi\". "),
        Case(
            name: "the pod check comes before the container's",
            pod: pod([container("a", limit: "1Mi"), container("b", limit: "1Mi")]),
            usage: PodStorageUsage(containers: ["a": 3 * mi, "b": 0], total: 3 * mi),
            want: "Pod ephemeral local storage usage exceeds the total limit of containers 2Mi. "),
        Case(
            name: "within every limit",
            pod: pod([container("a", limit: "1Mi")], volumes: [emptyDir("cache", sizeLimit: "1Mi")]),
            usage: PodStorageUsage(emptyDirs: ["cache": mi / 2], containers: ["a": mi / 4], total: 3 * mi / 4),
            want: nil),
    ]

    @Test("localStorageEviction's checks and messages", arguments: cases)
    func violation(_ c: Case) {
        #expect(LocalStorageEviction.violation(c.pod, usage: c.usage) == c.want)
    }

    @Test("the pod limit: app containers and sidecars summed, the larger init phase, overhead on a non-zero limit")
    func podLimit() {
        var p = Self.pod(
            [Self.container("a", limit: "100Mi")],
            initContainers: [Self.container("s", limit: "50Mi", sidecar: true), Self.container("i", limit: "1Gi")])
        p.spec.overhead = ["ephemeral-storage": "10Mi"]
        #expect(LocalStorageEviction.podLimit(p)?.value == (1024 + 50 + 10) * Self.mi)
        #expect(LocalStorageEviction.podLimit(Self.pod([Self.container("a")])) == nil)
    }

    @Test("an evicted pod: Failed, reason Evicted, the message, and no condition added")
    func status() {
        var s = CoreV1.PodStatus()
        s.phase = "Running"
        let out = LocalStorageEviction.failedStatus(s, message: "m")
        #expect(out.phase == "Failed")
        #expect(out.reason == "Evicted")
        #expect(out.message == "m")
        #expect(out.conditions.isEmpty)
    }

    @Test("disk usage counts allocated bytes under a directory, a hard-linked file once")
    func diskUsage() throws {
        let dir = try temporaryDirectory("du")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let empty = DiskUsage.bytes(dir)
        let data = Data(repeating: 7, count: 256 * 1024)
        try FileManager.default.createDirectory(atPath: dir + "/sub", withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: dir + "/sub/a", contents: data)
        let withFile = DiskUsage.bytes(dir)
        #expect(withFile >= empty + 256 * 1024)
        try FileManager.default.linkItem(atPath: dir + "/sub/a", toPath: dir + "/b")
        #expect(DiskUsage.bytes(dir) == withFile, "a second name for a file takes no more disk")
        #expect(DiskUsage.bytes(dir + "/missing") == 0)
    }

    @Test("measuring a pod: emptyDirs and logs from the kubelet's directories, writable layers from the runtime")
    func measure() throws {
        let root = try temporaryDirectory("measure")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let p = Self.pod(
            [Self.container("a", limit: "1Mi")],
            volumes: [Self.emptyDir("cache", sizeLimit: "1Mi"), Self.emptyDir("shm", sizeLimit: nil, medium: "Memory")])
        let dir = PodDirectory(root: root, uid: "u1")
        let cache = dir.volume(plugin: "empty-dir", name: "cache")
        try FileManager.default.createDirectory(atPath: cache, withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: cache + "/f", contents: Data(repeating: 1, count: 512 * 1024))
        let logs = RuntimeConfigs.podLogDir(p, in: root + "/logs") + "/a"
        try FileManager.default.createDirectory(atPath: logs, withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: logs + "/0.log", contents: Data(repeating: 2, count: 128 * 1024))
        let shared = LocalStorageEviction.measure(
            p, layers: ["a": 300_000], rootDir: root, podLogsDir: root + "/logs", dedicatedImageFS: false)
        let cacheBytes = DiskUsage.bytes(cache)
        let logBytes = DiskUsage.bytes(logs)
        #expect(shared.emptyDirs == ["cache": cacheBytes], "the memory-backed emptyDir is not measured")
        #expect(shared.containers == ["a": logBytes + 300_000])
        #expect(shared.total == cacheBytes + logBytes + 300_000)
        let dedicated = LocalStorageEviction.measure(
            p, layers: ["a": 300_000], rootDir: root, podLogsDir: root + "/logs", dedicatedImageFS: true)
        #expect(dedicated.containers == ["a": logBytes], "a dedicated image filesystem leaves the layer out")
        #expect(dedicated.total == shared.total, "the pod's total counts the layer either way")
    }

    final class Ended: Sendable {
        let pods = Mutex<[(uid: String, grace: Int64, status: CoreV1.PodStatus)]>([])
    }

    @Test("the manager evicts every pod over a local limit in one cycle, without pressure, and never a critical pod")
    func manager() async {
        let ended = Ended()
        var over = Self.pod([Self.container("a", limit: "1Mi")])
        over.metadata.uid = "over"
        var within = over
        within.metadata.uid = "within"
        var unlimited = Self.pod([Self.container("a")])
        unlimited.metadata.uid = "unlimited"
        var critical = over
        critical.metadata.uid = "critical"
        critical.spec.priority = Eviction.systemCriticalPriority
        let pods = [over, within, unlimited, critical]
        let measured = Mutex<[String]>([])
        let readings = EvictionReadings(
            signals: { ["memory.available": SignalObservation(available: 4 << 30, capacity: 8 << 30)] },
            podUsage: { _, _ in (0, [:]) },
            localStorage: { pods in
                measured.withLock { $0 = pods.map(\.metadata.uid) }
                var out: [String: PodStorageUsage] = [:]
                for p in pods {
                    let used: Int64 = p.metadata.uid == "within" ? Self.mi / 2 : 2 * Self.mi
                    out[p.metadata.uid] = PodStorageUsage(containers: ["a": used], total: used)
                }
                return out
            })
        let actions = EvictionManager.Actions(
            activePods: { pods.filter { p in !ended.pods.withLock { $0.contains { $0.uid == p.metadata.uid } } } },
            endPod: { pod, grace, _, status in
                ended.pods.withLock { $0.append((pod.metadata.uid, grace, status(pod.status))) }
            },
            reclaimDisk: {})
        let m = EvictionManager(config: .defaults, actions: actions, readings: readings, log: { _ in })
        #expect(await m.synchronize(now: .now) == "over")
        #expect(measured.withLock { $0 } == ["over", "within"], "only limited, non-critical pods are measured")
        let got = ended.pods.withLock { $0 }
        #expect(got.map(\.uid) == ["over"])
        #expect(got.first?.grace == Eviction.immediateGracePeriodSeconds)
        #expect(got.first?.status.reason == "Evicted")
        #expect(
            got.first?.status.message == "Pod ephemeral local storage usage exceeds the total limit of containers 1Mi. "
        )
        #expect(m.pressure == Pressure(), "no node condition comes of it")
        #expect(await m.synchronize(now: .now) == nil)
    }

    @Test("the in-memory runtime reports each container's writable layer through ListContainerStats")
    func runtimeStats() async throws {
        let rt = InMemoryRuntime()
        var sb = Runtime_V1_PodSandboxConfig()
        sb.metadata.uid = "u1"
        sb.labels = [RuntimeLabels.podUID: "u1"]
        let sandbox = try await rt.runPodSandbox(sb, runtimeHandler: "")
        var spec = Runtime_V1_ImageSpec()
        spec.image = "busybox"
        let image = try await rt.pullImage(spec, auth: nil, sandboxConfig: nil)
        var c = Runtime_V1_ContainerConfig()
        c.metadata.name = "a"
        c.image.image = image
        c.labels = [RuntimeLabels.podUID: "u1", RuntimeLabels.containerName: "a"]
        let id = try await rt.createContainer(sandboxID: sandbox, config: c, sandboxConfig: sb)
        try rt.setWritableLayer(id, bytes: 4096)
        let stats = try await rt.listContainerStats(podUID: "u1")
        #expect(stats.map(\.attributes.metadata.name) == ["a"])
        #expect(stats.first?.writableLayer.usedBytes.value == 4096)
        #expect(try await rt.listContainerStats(podUID: "other").isEmpty)
    }
}
