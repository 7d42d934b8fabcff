import APICore
import APIMachinery
import CRI
import Foundation
import GRPCCore
import KubeClient
import Synchronization
import Testing

@testable import Kubelet

@Suite("In-memory runtime: CRI's behaviour without processes")
struct InMemoryRuntimeTests {
    static func sandboxConfig(uid: String, hostNetwork: Bool = false) -> Runtime_V1_PodSandboxConfig {
        var c = Runtime_V1_PodSandboxConfig()
        c.metadata.name = "p-" + uid
        c.metadata.namespace = "ns"
        c.metadata.uid = uid
        c.labels = [RuntimeLabels.podUID: uid, RuntimeLabels.podName: "p-" + uid]
        c.linux.securityContext.namespaceOptions.network = hostNetwork ? .node : .pod
        return c
    }

    static func containerConfig(_ name: String, uid: String, image: String) -> Runtime_V1_ContainerConfig {
        var c = Runtime_V1_ContainerConfig()
        c.metadata.name = name
        c.image.image = image
        c.labels = [RuntimeLabels.podUID: uid, RuntimeLabels.containerName: name]
        c.annotations = [RuntimeLabels.restartCount: "0"]
        return c
    }

    @Test(
        "image names are normalised as containerd names them",
        arguments: [
            ("nginx", "docker.io/library/nginx:latest"),
            ("nginx:1.25", "docker.io/library/nginx:1.25"),
            ("bitnami/redis", "docker.io/bitnami/redis:latest"),
            ("registry.k8s.io/pause:3.10.2", "registry.k8s.io/pause:3.10.2"),
            ("localhost:5000/busybox", "localhost:5000/busybox:latest"),
            ("127.0.0.1:5000/app:v1", "127.0.0.1:5000/app:v1"),
            ("quay.io/x/y@sha256:abc", "quay.io/x/y@sha256:abc"),
        ])
    func normalize(image: String, expected: String) {
        #expect(InMemoryRuntime.normalize(image) == expected)
    }

    @Test("each sandbox gets its own IP of the node's range, host-network ones none, and a removed one frees it")
    func sandboxIPs() async throws {
        let rt = InMemoryRuntime(podNetwork: "10.64.3.0/24")
        let a = try await rt.runPodSandbox(Self.sandboxConfig(uid: "a"), runtimeHandler: "")
        let b = try await rt.runPodSandbox(Self.sandboxConfig(uid: "b"), runtimeHandler: "")
        let h = try await rt.runPodSandbox(Self.sandboxConfig(uid: "h", hostNetwork: true), runtimeHandler: "")
        let ipA = try await rt.podSandboxStatus(a).network.ip
        let ipB = try await rt.podSandboxStatus(b).network.ip
        #expect(ipA == "10.64.3.2")
        #expect(ipB == "10.64.3.3")
        let host = try await rt.podSandboxStatus(h)
        #expect(host.network.ip == "")
        #expect(host.linux.namespaces.options.network == .node)
        #expect(try await rt.listPodSandbox(podUID: "a").map(\.id) == [a])
        #expect(try await rt.listPodSandbox().count == 3)
        try await rt.stopPodSandbox(a)
        #expect(try await rt.podSandboxStatus(a).state == .sandboxNotready)
        try await rt.removePodSandbox(a)
        await #expect(throws: RPCError.self) { try await rt.podSandboxStatus(a) }
        // Round robin: the next address is new; the freed one comes back once the range wraps.
        let c = try await rt.runPodSandbox(Self.sandboxConfig(uid: "c"), runtimeHandler: "")
        #expect(try await rt.podSandboxStatus(c).network.ip == "10.64.3.4")
    }

    @Test("a range of 253 addresses refuses the 254th sandbox, as host-local IPAM does")
    func rangeExhausted() async throws {
        let rt = InMemoryRuntime(podNetwork: "10.64.0")
        for i in 0..<253 { _ = try await rt.runPodSandbox(Self.sandboxConfig(uid: "u\(i)"), runtimeHandler: "") }
        await #expect(throws: RPCError.self) {
            try await rt.runPodSandbox(Self.sandboxConfig(uid: "last"), runtimeHandler: "")
        }
    }

    @Test("containers go created → running → exited with their times, labels kept; stop exits 143 Error")
    func containerLifecycle() async throws {
        let clock = Mutex<Int64>(1_000)
        let rt = InMemoryRuntime(now: { clock.withLock { $0 } })
        let sb = try await rt.runPodSandbox(Self.sandboxConfig(uid: "u"), runtimeHandler: "")
        let cfg = Self.containerConfig("app", uid: "u", image: "nginx:1.25")
        // Not pulled yet: the runtime refuses, as containerd does for a missing image.
        await #expect(throws: RPCError.self) {
            try await rt.createContainer(sandboxID: sb, config: cfg, sandboxConfig: Self.sandboxConfig(uid: "u"))
        }
        var spec = Runtime_V1_ImageSpec()
        spec.image = "nginx:1.25"
        let ref = try await rt.pullImage(spec, auth: nil, sandboxConfig: nil)
        #expect(ref.hasPrefix("sha256:"))
        var byID = cfg
        byID.image.image = ref
        byID.image.userSpecifiedImage = "nginx:1.25"
        clock.withLock { $0 = 2_000 }
        let id = try await rt.createContainer(
            sandboxID: sb, config: byID, sandboxConfig: Self.sandboxConfig(uid: "u"))
        var st = try await rt.containerStatus(id)
        #expect(st.state == .containerCreated)
        #expect(st.createdAt == 2_000)
        #expect(st.labels[RuntimeLabels.containerName] == "app")
        #expect(st.annotations[RuntimeLabels.restartCount] == "0")
        #expect(st.image.image == "docker.io/library/nginx:1.25")
        #expect(st.imageRef.hasPrefix("docker.io/library/nginx@sha256:"))
        clock.withLock { $0 = 3_000 }
        try await rt.startContainer(id)
        st = try await rt.containerStatus(id)
        #expect(st.state == .containerRunning)
        #expect(st.startedAt == 3_000)
        #expect(try await rt.execSync(id, command: ["true"], timeout: 1).exitCode == 0)
        clock.withLock { $0 = 4_000 }
        try await rt.stopContainer(id, timeout: 30)
        st = try await rt.containerStatus(id)
        #expect(st.state == .containerExited)
        #expect(st.finishedAt == 4_000)
        #expect(st.exitCode == 143)
        #expect(st.reason == "Error")
        await #expect(throws: RPCError.self) { try await rt.execSync(id, command: ["true"], timeout: 1) }
        #expect(try await rt.listContainers(podUID: "u").map(\.id) == [id])
        #expect(try await rt.listContainers(podUID: "other").isEmpty)
        try await rt.removePodSandbox(sb)
        #expect(try await rt.listContainers().isEmpty)
    }

    @Test("pulled images are listed with names and digests; the sandbox image is there, pinned, from the start")
    func images() async throws {
        let rt = InMemoryRuntime()
        var spec = Runtime_V1_ImageSpec()
        spec.image = "registry.k8s.io/pause:3.10.2"
        let pause = try #require(try await rt.imageStatus(spec))
        #expect(pause.pinned)
        spec.image = "busybox"
        #expect(try await rt.imageStatus(spec) == nil)
        _ = try await rt.pullImage(spec, auth: nil, sandboxConfig: nil)
        let busybox = try #require(try await rt.imageStatus(spec))
        #expect(busybox.repoTags == ["docker.io/library/busybox:latest"])
        spec.image = "docker.io/library/busybox:latest"
        #expect(try await rt.imageStatus(spec)?.id == busybox.id)
        let names = NodeStatusBuilder.images(from: try await rt.listImages()).flatMap(\.names)
        #expect(names.contains("docker.io/library/busybox:latest"))
        #expect(names.contains("registry.k8s.io/pause:3.10.2"))
        try await rt.removeImage(spec)
        #expect(try await rt.listImages().count == 1)
    }

    @Test("exec, attach and port-forward streams are refused as unimplemented")
    func streamingUnsupported() async throws {
        let rt = InMemoryRuntime()
        do {
            _ = try await rt.exec(Runtime_V1_ExecRequest())
            Issue.record("exec succeeded")
        } catch let e as RPCError {
            #expect(e.code == .unimplemented)
        }
        await #expect(throws: RPCError.self) { try await rt.attach(Runtime_V1_AttachRequest()) }
        await #expect(throws: RPCError.self) { try await rt.portForward(Runtime_V1_PortForwardRequest()) }
    }
}

/// An API server for one kubelet's pod writes: pod status updates and deletions are recorded, events
/// accepted, anything else not found.
final class FakePodAPI: KubeTransport {
    struct State {
        var statuses: [String: CoreV1.PodStatus] = [:]
        var deletes: [String] = []
        var statusWrites = 0
    }
    let state = Mutex(State())

    func send(_ request: KubeRequest, timeout: Swift.Duration?) async throws -> KubeResponse {
        let parts = request.path.split(separator: "/").map(String.init)
        if request.method == "PUT", parts.count == 7, parts[4] == "pods", parts[6] == "status" {
            let pod = try JSONReader.decode(CoreV1.Pod.self, from: request.body ?? [])
            state.withLock {
                $0.statuses[pod.metadata.name] = pod.status
                $0.statusWrites += 1
            }
            return FakeNodeAPI.ok(pod)
        }
        if request.method == "DELETE", parts.count == 6, parts[4] == "pods" {
            state.withLock { $0.deletes.append(parts[5]) }
            return FakeNodeAPI.ok(CoreV1.Pod())
        }
        if request.method == "POST", request.path.contains("/events") {
            return KubeResponse(
                status: 201, headers: [("Content-Type", "application/json")], body: request.body ?? [])
        }
        return FakeNodeAPI.failure(404, "NotFound", "not found")
    }

    func shutdown() async {}
}

@Suite("Hollow kubelet: the real pod sync over the in-memory runtime")
struct HollowKubeletTests {
    static func kubelet(_ api: FakePodAPI, _ runtime: InMemoryRuntime) throws -> Kubelet {
        var cfg = ClientConfig(server: "https://x")
        cfg.wireFormat = .json
        let client = try KubeClient(config: cfg, transport: api)
        var o = Kubelet.Options(nodeName: "hollow-node-0", nodeHostname: "hollow-node-0", podLogsDir: "/nonexistent")
        o.rootDirectory = "/nonexistent/kubelet"
        o.hostIPs = ["10.128.0.1"]
        o.hollow = true
        return Kubelet(client: client, runtime: runtime, options: o)
    }

    static func pod(_ name: String, containers: [String] = ["app", "sidecar"]) -> CoreV1.Pod {
        var p = CoreV1.Pod()
        p.metadata.name = name
        p.metadata.namespace = "default"
        p.metadata.uid = "uid-" + name
        p.spec.nodeName = "hollow-node-0"
        p.spec.containers = containers.map { CoreV1.Container(name: $0, image: "nginx:1.25") }
        p.spec.restartPolicy = "Always"
        // Volumes would be set up on the host by a real node: a hollow one must not touch the disk.
        var v = CoreV1.Volume()
        v.name = "scratch"
        var empty = CoreV1.EmptyDirVolumeSource()
        empty.medium = "Memory"
        v.volumeSource.emptyDir = empty
        p.spec.volumes = [v]
        var m = CoreV1.VolumeMount()
        m.name = "scratch"
        m.mountPath = "/scratch"
        p.spec.containers[0].volumeMounts = [m]
        p.status.phase = "Pending"
        return p
    }

    @Test("a pod runs: sandbox with an IP of the node's range, containers running, status Running and Ready")
    func podRuns() async throws {
        let api = FakePodAPI()
        let runtime = InMemoryRuntime(podNetwork: "10.64.7")
        let kubelet = try Self.kubelet(api, runtime)
        let pod = Self.pod("web")
        await kubelet.sync(pod)
        let status = try #require(api.state.withLock { $0.statuses["web"] })
        #expect(status.phase == "Running")
        #expect(status.podIP == "10.64.7.2")
        #expect(status.podIPs.map(\.ip) == ["10.64.7.2"])
        #expect(status.hostIP == "10.128.0.1")
        let conditions = Dictionary(uniqueKeysWithValues: status.conditions.map { ($0.type, $0.status) })
        #expect(conditions["Ready"] == "True")
        #expect(conditions["ContainersReady"] == "True")
        #expect(conditions["PodReadyToStartContainers"] == "True")
        #expect(status.containerStatuses.count == 2)
        let ids = Set(try await runtime.listContainers().map(\.id))
        for c in status.containerStatuses {
            #expect(ids.contains(String(c.containerID.split(separator: "/").last ?? "")))
            #expect(c.ready)
            #expect(c.state.running != nil)
            #expect(c.imageID.hasPrefix("docker.io/library/nginx@sha256:"))
        }
        #expect(!FileManager.default.fileExists(atPath: "/nonexistent"))
        // Synced again with nothing changed and the status as the API keeps it (times in whole
        // seconds): no second container or sandbox, and no status write.
        var synced = pod
        synced.status = status
        await kubelet.sync(synced)
        #expect(try await runtime.listContainers().count == 2)
        #expect(try await runtime.listPodSandbox().count == 1)
        #expect(api.state.withLock { $0.statusWrites } == 1)
    }

    @Test("a container that exits is restarted: restart count 1, last state terminated with its exit code")
    func restartAfterExit() async throws {
        let api = FakePodAPI()
        let runtime = InMemoryRuntime()
        let kubelet = try Self.kubelet(api, runtime)
        var pod = Self.pod("crash", containers: ["app"])
        await kubelet.sync(pod)
        let first = try #require(try await runtime.listContainers().first)
        try runtime.exitContainer(first.id, exitCode: 3)
        pod.status = try #require(api.state.withLock { $0.statuses["crash"] })
        await kubelet.sync(pod)
        let status = try #require(api.state.withLock { $0.statuses["crash"] })
        let c = try #require(status.containerStatuses.first)
        #expect(c.restartCount == 1)
        #expect(c.state.running != nil)
        #expect(c.lastState.terminated?.exitCode == 3)
        #expect(c.lastState.terminated?.reason == "Error")
    }

    @Test("a deleted pod's containers stop, the kubelet ends the deletion, and the relist clean-up empties the runtime")
    func deletion() async throws {
        let api = FakePodAPI()
        let runtime = InMemoryRuntime()
        let kubelet = try Self.kubelet(api, runtime)
        var pod = Self.pod("gone")
        await kubelet.sync(pod)
        pod.status = try #require(api.state.withLock { $0.statuses["gone"] })
        pod.metadata.deletionTimestamp = Time(seconds: Int64(Date().timeIntervalSince1970))
        pod.metadata.deletionGracePeriodSeconds = 30
        await kubelet.sync(pod)
        #expect(api.state.withLock { $0.deletes } == ["gone"])
        let states = try await runtime.listContainers().map(\.state)
        #expect(states == [.containerExited, .containerExited])
        #expect(try await runtime.listPodSandbox().map(\.state) == [.sandboxNotready])
        // The pod is gone from the API: the relist removes what is left.
        await kubelet.cleanUp(try await kubelet.relist(), known: [:])
        #expect(try await runtime.listContainers().isEmpty)
        #expect(try await runtime.listPodSandbox().isEmpty)
    }

    @Test("probes other than exec, and HTTP hooks, succeed on a hollow node without a connection")
    func simulatedProbes() async throws {
        let api = FakePodAPI()
        let runtime = InMemoryRuntime()
        let kubelet = try Self.kubelet(api, runtime)
        let pod = Self.pod("probed", containers: ["app"])
        var get = CoreV1.HTTPGetAction()
        get.path = "/healthz"
        get.port = .int(8080)
        var http = CoreV1.Probe()
        http.handler.httpGet = get
        var socket = CoreV1.TCPSocketAction()
        socket.port = .int(5432)
        var tcp = CoreV1.Probe()
        tcp.handler.tcpSocket = socket
        // 192.0.2.1 (TEST-NET-1) answers nothing: a real probe would fail or time out.
        for probe in [http, tcp] {
            let r = await kubelet.runProbe(
                probe, kind: .readiness, prober: Prober(runtime: runtime), pod: pod, container: pod.spec.containers[0],
                containerID: "none", podIP: "192.0.2.1", timeout: .seconds(1))
            #expect(r == .success)
        }
        var c = pod.spec.containers[0]
        var hook = CoreV1.LifecycleHandler()
        hook.httpGet = get
        var lifecycle = CoreV1.Lifecycle()
        lifecycle.postStart = hook
        c.lifecycle = lifecycle
        #expect(await kubelet.runPostStart(c, pod, id: "none", podIP: "192.0.2.1"))
    }
}
