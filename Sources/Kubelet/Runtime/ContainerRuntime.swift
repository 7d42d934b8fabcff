import CRI
import GRPCCore

/// The kubelet's seam to a container runtime: CRI's RuntimeService and ImageService calls, in CRI's
/// own messages. `CRIRuntime` speaks them to containerd over its socket; `InMemoryRuntime` keeps them in
/// memory (unit tests and hollow nodes). The kubelet calls nothing else of a runtime.
public protocol ContainerRuntime: Sendable {
    func version() async throws -> Runtime_V1_VersionResponse
    func status() async throws -> Runtime_V1_StatusResponse

    func runPodSandbox(_ config: Runtime_V1_PodSandboxConfig, runtimeHandler: String) async throws -> String
    func stopPodSandbox(_ id: String) async throws
    func removePodSandbox(_ id: String) async throws
    func podSandboxStatus(_ id: String) async throws -> Runtime_V1_PodSandboxStatus
    /// Every sandbox, or those of one pod (by the pod UID label).
    func listPodSandbox(podUID: String?) async throws -> [Runtime_V1_PodSandbox]

    func createContainer(
        sandboxID: String, config: Runtime_V1_ContainerConfig, sandboxConfig: Runtime_V1_PodSandboxConfig
    ) async throws -> String
    func startContainer(_ id: String) async throws
    /// Stops with SIGTERM (or the image's stop signal), then SIGKILL after `timeout` seconds.
    func stopContainer(_ id: String, timeout: Int64) async throws
    func removeContainer(_ id: String) async throws
    /// Every container, or those of one pod (by the pod UID label).
    func listContainers(podUID: String?) async throws -> [Runtime_V1_Container]
    func containerStatus(_ id: String) async throws -> Runtime_V1_ContainerStatus
    /// Changes a running container's cgroup limits in place (CRI `UpdateContainerResources`).
    func updateContainerResources(_ id: String, linux: Runtime_V1_LinuxContainerResources) async throws
    /// What the runtime measures of every container, or those of one pod (CRI `ListContainerStats`):
    /// the local storage eviction reads each writable layer's bytes from it.
    func listContainerStats(podUID: String?) async throws -> [Runtime_V1_ContainerStats]
    func execSync(_ id: String, command: [String], timeout: Int64) async throws -> Runtime_V1_ExecSyncResponse
    /// The URL of the runtime's streaming server that serves this exec, attach or port-forward once.
    func exec(_ request: Runtime_V1_ExecRequest) async throws -> String
    func attach(_ request: Runtime_V1_AttachRequest) async throws -> String
    func portForward(_ request: Runtime_V1_PortForwardRequest) async throws -> String

    /// Pulls an image; returns its reference (digest).
    func pullImage(
        _ image: Runtime_V1_ImageSpec, auth: Runtime_V1_AuthConfig?, sandboxConfig: Runtime_V1_PodSandboxConfig?
    ) async throws -> String
    /// The image, or nil when the runtime does not have it.
    func imageStatus(_ image: Runtime_V1_ImageSpec) async throws -> Runtime_V1_Image?
    func listImages() async throws -> [Runtime_V1_Image]
    func removeImage(_ image: Runtime_V1_ImageSpec) async throws
}

/// The labels and annotations the kubelet puts on what it creates, by which it finds its pods again
/// (upstream's names, so a node's containers read the same to anyone listing them).
extension ContainerRuntime {
    public func listPodSandbox() async throws -> [Runtime_V1_PodSandbox] { try await listPodSandbox(podUID: nil) }
    public func listContainers() async throws -> [Runtime_V1_Container] { try await listContainers(podUID: nil) }

    /// A runtime without stats answers as CRI's unimplemented call does.
    public func listContainerStats(podUID: String?) async throws -> [Runtime_V1_ContainerStats] {
        throw RPCError(code: .unimplemented, message: "ListContainerStats is not supported")
    }

    /// A runtime that cannot resize answers as CRI's unimplemented call does.
    public func updateContainerResources(_ id: String, linux: Runtime_V1_LinuxContainerResources) async throws {
        throw RPCError(code: .unimplemented, message: "UpdateContainerResources is not supported")
    }
}

public enum RuntimeLabels {
    public static let podName = "io.kubernetes.pod.name"
    public static let podNamespace = "io.kubernetes.pod.namespace"
    public static let podUID = "io.kubernetes.pod.uid"
    public static let containerName = "io.kubernetes.container.name"
    public static let containerHash = "io.kubernetes.container.hash"
    public static let restartCount = "io.kubernetes.container.restartCount"
    public static let terminationMessagePath = "io.kubernetes.container.terminationMessagePath"
    public static let terminationMessagePolicy = "io.kubernetes.container.terminationMessagePolicy"
    public static let terminationGracePeriod = "io.kubernetes.pod.terminationGracePeriod"
}

extension RuntimePod {
    /// Groups what the runtime lists into pods by the pod UID label, newest sandbox and container
    /// instance first. `sandboxIPs` holds the network status of each sandbox (by ID) when known.
    public static func group(
        sandboxes: [Runtime_V1_PodSandbox], sandboxIPs: [String: [String]] = [:], hostNetwork: Set<String> = [],
        containers: [Runtime_V1_ContainerStatus]
    ) -> [String: RuntimePod] {
        var pods: [String: RuntimePod] = [:]
        for s in sandboxes {
            let uid = s.metadata.uid.isEmpty ? (s.labels[RuntimeLabels.podUID] ?? "") : s.metadata.uid
            if uid.isEmpty { continue }
            var p = pods[uid] ?? RuntimePod(uid: uid, name: s.metadata.name, namespace: s.metadata.namespace)
            p.sandboxes.append(
                RuntimeSandbox(
                    id: s.id, attempt: s.metadata.attempt, state: s.state == .sandboxReady ? .ready : .notReady,
                    createdAt: s.createdAt, ips: sandboxIPs[s.id] ?? [], hostNetwork: hostNetwork.contains(s.id)))
            pods[uid] = p
        }
        for c in containers {
            guard let uid = c.labels[RuntimeLabels.podUID] else { continue }
            var p =
                pods[uid]
                ?? RuntimePod(
                    uid: uid, name: c.labels[RuntimeLabels.podName] ?? "",
                    namespace: c.labels[RuntimeLabels.podNamespace] ?? "")
            p.containers.append(RuntimeContainer(c))
            pods[uid] = p
        }
        for (uid, var p) in pods {
            p.sandboxes.sort { $0.createdAt > $1.createdAt }
            p.containers.sort { $0.createdAt > $1.createdAt }
            pods[uid] = p
        }
        return pods
    }
}

extension RuntimeContainer {
    public init(_ c: Runtime_V1_ContainerStatus) {
        let state: State =
            switch c.state {
            case .containerCreated: .created
            case .containerRunning: .running
            case .containerExited: .exited
            default: .unknown
            }
        self.init(
            id: c.id, name: c.metadata.name.isEmpty ? (c.labels[RuntimeLabels.containerName] ?? "") : c.metadata.name,
            restartCount: Int32(c.annotations[RuntimeLabels.restartCount] ?? "") ?? Int32(c.metadata.attempt),
            state: state, createdAt: c.createdAt, startedAt: c.startedAt, finishedAt: c.finishedAt,
            exitCode: c.exitCode, reason: c.reason, message: c.message, image: c.image.image, imageRef: c.imageRef,
            specHash: UInt64(c.annotations[RuntimeLabels.containerHash] ?? "", radix: 16) ?? 0,
            resources: c.hasResources && c.resources.hasLinux ? c.resources.linux : nil)
    }
}
