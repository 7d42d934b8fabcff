import APICore
import APIMachinery
import CRI
import Foundation
import KubeClient
import Synchronization
import Testing

@testable import Kubelet

/// The in-memory runtime with its exec and StopContainer calls recorded, and an exec that can be held
/// (a preStop hook that takes its time).
final class RecordingRuntime: ContainerRuntime {
    enum Call: Equatable, Sendable {
        case exec(id: String, command: [String])
        case stop(id: String, timeout: Int64)
    }

    let inner = InMemoryRuntime()
    let calls = Mutex<[Call]>([])
    /// While true, an exec waits (until released or cancelled).
    let holdExec = Mutex(false)

    var recorded: [Call] { calls.withLock { $0 } }

    func version() async throws -> Runtime_V1_VersionResponse { try await inner.version() }
    func status() async throws -> Runtime_V1_StatusResponse { try await inner.status() }
    func runPodSandbox(_ config: Runtime_V1_PodSandboxConfig, runtimeHandler: String) async throws -> String {
        try await inner.runPodSandbox(config, runtimeHandler: runtimeHandler)
    }
    func stopPodSandbox(_ id: String) async throws { try await inner.stopPodSandbox(id) }
    func removePodSandbox(_ id: String) async throws { try await inner.removePodSandbox(id) }
    func podSandboxStatus(_ id: String) async throws -> Runtime_V1_PodSandboxStatus {
        try await inner.podSandboxStatus(id)
    }
    func listPodSandbox(podUID: String?) async throws -> [Runtime_V1_PodSandbox] {
        try await inner.listPodSandbox(podUID: podUID)
    }
    func createContainer(
        sandboxID: String, config: Runtime_V1_ContainerConfig, sandboxConfig: Runtime_V1_PodSandboxConfig
    ) async throws -> String {
        try await inner.createContainer(sandboxID: sandboxID, config: config, sandboxConfig: sandboxConfig)
    }
    func startContainer(_ id: String) async throws { try await inner.startContainer(id) }
    func stopContainer(_ id: String, timeout: Int64) async throws {
        calls.withLock { $0.append(.stop(id: id, timeout: timeout)) }
        try await inner.stopContainer(id, timeout: timeout)
    }
    func removeContainer(_ id: String) async throws { try await inner.removeContainer(id) }
    func listContainers(podUID: String?) async throws -> [Runtime_V1_Container] {
        try await inner.listContainers(podUID: podUID)
    }
    func containerStatus(_ id: String) async throws -> Runtime_V1_ContainerStatus {
        try await inner.containerStatus(id)
    }
    func execSync(_ id: String, command: [String], timeout: Int64) async throws -> Runtime_V1_ExecSyncResponse {
        calls.withLock { $0.append(.exec(id: id, command: command)) }
        while holdExec.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(10)) }
        return try await inner.execSync(id, command: command, timeout: timeout)
    }
    func exec(_ request: Runtime_V1_ExecRequest) async throws -> String { try await inner.exec(request) }
    func attach(_ request: Runtime_V1_AttachRequest) async throws -> String { try await inner.attach(request) }
    func portForward(_ request: Runtime_V1_PortForwardRequest) async throws -> String {
        try await inner.portForward(request)
    }
    func pullImage(
        _ image: Runtime_V1_ImageSpec, auth: Runtime_V1_AuthConfig?, sandboxConfig: Runtime_V1_PodSandboxConfig?
    ) async throws -> String {
        try await inner.pullImage(image, auth: auth, sandboxConfig: sandboxConfig)
    }
    func imageStatus(_ image: Runtime_V1_ImageSpec) async throws -> Runtime_V1_Image? {
        try await inner.imageStatus(image)
    }
    func listImages() async throws -> [Runtime_V1_Image] { try await inner.listImages() }
    func removeImage(_ image: Runtime_V1_ImageSpec) async throws { try await inner.removeImage(image) }
}

/// Pods the node ends itself (graceful shutdown, pressure eviction) are killed as upstream's `killPod`
/// kills them: the preStop hook first, the node's grace period overriding the pod's for the whole kill,
/// StopContainer never with less than 2 s, and one kill per container however many are asked for.
@Suite("Node kills: preStop hooks and grace overrides when the node ends a pod")
struct NodeKillTests {
    static let hook = ["sh", "-c", "echo bye > /tmp/bye"]

    static func kubelet(_ api: FakePodAPI, _ runtime: RecordingRuntime) throws -> Kubelet {
        var cfg = ClientConfig(server: "https://x")
        cfg.wireFormat = .json
        let client = try KubeClient(config: cfg, transport: api)
        var o = Kubelet.Options(nodeName: "node-0", nodeHostname: "node-0", podLogsDir: "/nonexistent")
        o.rootDirectory = "/nonexistent/kubelet"
        o.hostIPs = ["10.128.0.1"]
        o.hollow = true
        return Kubelet(client: client, runtime: runtime, options: o)
    }

    /// A running pod of one container with an exec preStop hook and 30 s of grace of its own.
    static func runningPod(_ kubelet: Kubelet, _ api: FakePodAPI) async throws -> (pod: CoreV1.Pod, id: String) {
        var pod = CoreV1.Pod()
        pod.metadata.name = "web"
        pod.metadata.namespace = "default"
        pod.metadata.uid = "uid-web"
        pod.spec.nodeName = "node-0"
        pod.spec.restartPolicy = "Always"
        pod.spec.terminationGracePeriodSeconds = 30
        var c = CoreV1.Container(name: "app", image: "nginx:1.25")
        var exec = CoreV1.ExecAction()
        exec.command = hook
        var handler = CoreV1.LifecycleHandler()
        handler.exec = exec
        var lifecycle = CoreV1.Lifecycle()
        lifecycle.preStop = handler
        c.lifecycle = lifecycle
        pod.spec.containers = [c]
        pod.status.phase = "Pending"
        await kubelet.sync(pod)
        pod.status = try #require(api.state.withLock { $0.statuses["web"] })
        #expect(pod.status.phase == "Running")
        let id = try #require(pod.status.containerStatuses.first?.containerID.split(separator: "/").last)
        return (pod, String(id))
    }

    static func shutdownStatus(_ s: CoreV1.PodStatus) -> CoreV1.PodStatus {
        NodeShutdown.status(s, now: Time(seconds: Int64(Date().timeIntervalSince1970)))
    }

    final class Flag: Sendable {
        let value = Mutex(false)
    }

    /// Waits (at most 30 s: the machine may be starved) until `f` holds.
    static func until(_ f: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while !f() && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
    }

    @Test("a node kill runs the preStop exec before StopContainer, which gets the node's override, not the pod's 30 s")
    func hookThenOverride() async throws {
        let api = FakePodAPI()
        let runtime = RecordingRuntime()
        let kubelet = try Self.kubelet(api, runtime)
        let (pod, id) = try await Self.runningPod(kubelet, api)
        await kubelet.endPod(pod, gracePeriodSeconds: 7, event: nil, finalStatus: Self.shutdownStatus)
        // Upstream's killContainer: the override replaces the grace before the hook; the stop gets
        // what the (instant) hook left of it.
        #expect(runtime.recorded == [.exec(id: id, command: Self.hook), .stop(id: id, timeout: 7)])
        let status = try #require(api.state.withLock { $0.statuses["web"] })
        #expect(status.phase == "Failed")
        #expect(status.reason == "Terminated")
        #expect(try await runtime.containerStatus(id).state == .containerExited)
    }

    @Test("the override is floored at upstream's 2 s minimum; with no grace at all the hook does not run")
    func minimumGrace() async throws {
        for (grace, hookRuns) in [(Int64(0), false), (1, true)] {
            let api = FakePodAPI()
            let runtime = RecordingRuntime()
            let kubelet = try Self.kubelet(api, runtime)
            let (pod, id) = try await Self.runningPod(kubelet, api)
            await kubelet.endPod(pod, gracePeriodSeconds: grace, event: nil, finalStatus: Self.shutdownStatus)
            let expected: [RecordingRuntime.Call] =
                (hookRuns ? [.exec(id: id, command: Self.hook)] : []) + [.stop(id: id, timeout: 2)]
            #expect(runtime.recorded == expected, "grace \(grace)")
        }
    }

    @Test("a second kill of a container being killed (the pod's own sync) runs no second hook and waits for the first")
    func secondKillWaits() async throws {
        let api = FakePodAPI()
        let runtime = RecordingRuntime()
        let kubelet = try Self.kubelet(api, runtime)
        let (pod, id) = try await Self.runningPod(kubelet, api)
        runtime.holdExec.withLock { $0 = true }
        let first = Task {
            await kubelet.endPod(pod, gracePeriodSeconds: 20, event: nil, finalStatus: Self.shutdownStatus)
        }
        try await Self.until {
            runtime.recorded.count == 1 && api.state.withLock { $0.statuses["web"]?.phase } == "Failed"
        }
        // The final status reaches the pod's worker, whose sync kills what still runs.
        var failed = pod
        failed.status = try #require(api.state.withLock { $0.statuses["web"] })
        let done = Flag()
        let second = Task { [failed] in
            await kubelet.sync(failed)
            done.value.withLock { $0 = true }
        }
        try await Task.sleep(for: .milliseconds(500))
        #expect(!done.value.withLock { $0 }, "the sync's kill waits for the hook in progress")
        #expect(runtime.recorded == [.exec(id: id, command: Self.hook)])
        runtime.holdExec.withLock { $0 = false }
        await first.value
        await second.value
        #expect(runtime.recorded == [.exec(id: id, command: Self.hook), .stop(id: id, timeout: 20)])
    }

    @Test("a second kill with less grace (a hard eviction during shutdown) cuts the first one's hook short")
    func secondKillShortens() async throws {
        let api = FakePodAPI()
        let runtime = RecordingRuntime()
        let kubelet = try Self.kubelet(api, runtime)
        let (pod, id) = try await Self.runningPod(kubelet, api)
        runtime.holdExec.withLock { $0 = true }
        let started = ContinuousClock.now
        let first = Task {
            await kubelet.endPod(pod, gracePeriodSeconds: 30, event: nil, finalStatus: Self.shutdownStatus)
        }
        try await Self.until { runtime.recorded.count == 1 }
        try await kubelet.killContainer(
            pod, id: id, name: "app", running: true, note: "Stopping container app", podIP: "",
            gracePeriodOverride: Eviction.immediateGracePeriodSeconds)
        await first.value
        let took = ContinuousClock.now - started
        // The hook had 1 s left once the second kill came, then StopContainer got the minimum.
        #expect(runtime.recorded == [.exec(id: id, command: Self.hook), .stop(id: id, timeout: 2)])
        // Without the shortening the held hook would run out the first kill's 30 s; the bound sits just
        // below that rather than near the expected ~1 s, so a starved machine does not fail it.
        #expect(took >= .milliseconds(900) && took < .seconds(29), "took \(took)")
    }

    @Test("a shorter kill arriving while StopContainer runs sends its own, earlier one; a longer one sends none")
    func shortenWhileStopping() {
        let now = ContinuousClock.now
        let kill = ContainerTermination(deadline: now + .seconds(30))
        #expect(kill.beginStop(now: now) == 30)
        #expect(kill.shorten(to: now + .seconds(40), now: now) == nil)
        #expect(kill.shorten(to: now + .seconds(5), now: now) == 5)
        #expect(kill.shorten(to: now, now: now) == 2)
        let fresh = ContainerTermination(deadline: now + .seconds(30))
        #expect(fresh.shorten(to: now + .seconds(3), now: now) == nil, "during the hook only the deadline moves")
        #expect(fresh.remainingSeconds(now: now) == 3)
    }
}
