import CRI
import GRPCCore
import GRPCNIOTransportHTTP2

/// `ContainerRuntime` over CRI v1 gRPC on a unix socket (containerd's CRI plugin).
public final class CRIRuntime: ContainerRuntime {
    typealias Transport = HTTP2ClientTransport.Posix
    let client: GRPCClient<Transport>
    let runtime: Runtime_V1_RuntimeService.Client<Transport>
    let images: Runtime_V1_ImageService.Client<Transport>
    let runner: Task<Void, Never>
    /// Deadline of a call (pulls get their own, longer one).
    let timeout: Duration

    /// `endpoint`: `unix:///path/to/containerd.sock` or a bare path.
    public init(endpoint: String, timeout: Duration = .seconds(120)) throws {
        var path = endpoint
        if path.hasPrefix("unix://") { path.removeFirst(7) }
        let transport = try HTTP2ClientTransport.Posix(
            target: .unixDomainSocket(path: path), transportSecurity: .plaintext,
            config: .defaults { c in
                c.backoff = .init(initial: .milliseconds(100), max: .seconds(2), multiplier: 1.6, jitter: 0.2)
                c.http2.maxFrameSize = 1 << 20
            })
        client = GRPCClient(transport: transport)
        runtime = .init(wrapping: client)
        images = .init(wrapping: client)
        self.timeout = timeout
        let c = client
        runner = Task { try? await c.runConnections() }
    }

    deinit {
        client.beginGracefulShutdown()
        runner.cancel()
    }

    public func close() {
        client.beginGracefulShutdown()
        runner.cancel()
    }

    /// Runs an idempotent call again (three times at most, shortly after) when the runtime's
    /// connection was unavailable: a dropped HTTP/2 connection fails the calls in flight on it, and
    /// the next attempt goes over a new one (gRPC's rule: UNAVAILABLE is safe to retry).
    func retrying<T: Sendable>(_ call: () async throws -> T) async throws -> T {
        var attempt = 0
        while true {
            do {
                return try await call()
            } catch let e as RPCError where e.code == .unavailable && attempt < 3 {
                attempt += 1
                try await Task.sleep(for: .milliseconds(100 * attempt))
            }
        }
    }

    var options: CallOptions {
        var o = CallOptions.defaults
        o.timeout = timeout
        return o
    }

    public func version() async throws -> Runtime_V1_VersionResponse {
        var r = Runtime_V1_VersionRequest()
        r.version = "v1"
        return try await retrying { try await runtime.version(r, options: options) }
    }

    public func status() async throws -> Runtime_V1_StatusResponse {
        try await retrying { try await runtime.status(Runtime_V1_StatusRequest(), options: options) }
    }

    public func runPodSandbox(_ config: Runtime_V1_PodSandboxConfig, runtimeHandler: String) async throws -> String {
        var r = Runtime_V1_RunPodSandboxRequest()
        r.config = config
        r.runtimeHandler = runtimeHandler
        return try await runtime.runPodSandbox(r, options: options).podSandboxID
    }

    public func stopPodSandbox(_ id: String) async throws {
        var r = Runtime_V1_StopPodSandboxRequest()
        r.podSandboxID = id
        _ = try await retrying { try await runtime.stopPodSandbox(r, options: options) }
    }

    public func removePodSandbox(_ id: String) async throws {
        var r = Runtime_V1_RemovePodSandboxRequest()
        r.podSandboxID = id
        _ = try await retrying { try await runtime.removePodSandbox(r, options: options) }
    }

    public func podSandboxStatus(_ id: String) async throws -> Runtime_V1_PodSandboxStatus {
        var r = Runtime_V1_PodSandboxStatusRequest()
        r.podSandboxID = id
        return try await retrying { try await runtime.podSandboxStatus(r, options: options).status }
    }

    public func listPodSandbox(podUID: String?) async throws -> [Runtime_V1_PodSandbox] {
        var r = Runtime_V1_ListPodSandboxRequest()
        if let podUID { r.filter.labelSelector = [RuntimeLabels.podUID: podUID] }
        return try await retrying { try await runtime.listPodSandbox(r, options: options).items }
    }

    public func createContainer(
        sandboxID: String, config: Runtime_V1_ContainerConfig, sandboxConfig: Runtime_V1_PodSandboxConfig
    ) async throws -> String {
        var r = Runtime_V1_CreateContainerRequest()
        r.podSandboxID = sandboxID
        r.config = config
        r.sandboxConfig = sandboxConfig
        return try await runtime.createContainer(r, options: options).containerID
    }

    public func startContainer(_ id: String) async throws {
        var r = Runtime_V1_StartContainerRequest()
        r.containerID = id
        _ = try await runtime.startContainer(r, options: options)
    }

    public func stopContainer(_ id: String, timeout seconds: Int64) async throws {
        var r = Runtime_V1_StopContainerRequest()
        r.containerID = id
        r.timeout = seconds
        var o = options
        o.timeout = timeout + .seconds(seconds)
        _ = try await retrying { try await runtime.stopContainer(r, options: o) }
    }

    public func removeContainer(_ id: String) async throws {
        var r = Runtime_V1_RemoveContainerRequest()
        r.containerID = id
        _ = try await retrying { try await runtime.removeContainer(r, options: options) }
    }

    public func listContainers(podUID: String?) async throws -> [Runtime_V1_Container] {
        var r = Runtime_V1_ListContainersRequest()
        if let podUID { r.filter.labelSelector = [RuntimeLabels.podUID: podUID] }
        return try await retrying { try await runtime.listContainers(r, options: options).containers }
    }

    public func containerStatus(_ id: String) async throws -> Runtime_V1_ContainerStatus {
        var r = Runtime_V1_ContainerStatusRequest()
        r.containerID = id
        return try await retrying { try await runtime.containerStatus(r, options: options).status }
    }

    public func updateContainerResources(_ id: String, linux: Runtime_V1_LinuxContainerResources) async throws {
        var r = Runtime_V1_UpdateContainerResourcesRequest()
        r.containerID = id
        r.linux = linux
        _ = try await retrying { try await runtime.updateContainerResources(r, options: options) }
    }

    public func listContainerStats(podUID: String?) async throws -> [Runtime_V1_ContainerStats] {
        var r = Runtime_V1_ListContainerStatsRequest()
        if let podUID { r.filter.labelSelector = [RuntimeLabels.podUID: podUID] }
        return try await retrying { try await runtime.listContainerStats(r, options: options).stats }
    }

    public func execSync(_ id: String, command: [String], timeout seconds: Int64) async throws
        -> Runtime_V1_ExecSyncResponse
    {
        var r = Runtime_V1_ExecSyncRequest()
        r.containerID = id
        r.cmd = command
        r.timeout = seconds
        var o = options
        if seconds > 0 { o.timeout = .seconds(seconds) + .seconds(5) }
        return try await runtime.execSync(r, options: o)
    }

    public func exec(_ request: Runtime_V1_ExecRequest) async throws -> String {
        try await retrying { try await runtime.exec(request, options: options).url }
    }

    public func attach(_ request: Runtime_V1_AttachRequest) async throws -> String {
        try await retrying { try await runtime.attach(request, options: options).url }
    }

    public func portForward(_ request: Runtime_V1_PortForwardRequest) async throws -> String {
        try await retrying { try await runtime.portForward(request, options: options).url }
    }

    public func pullImage(
        _ image: Runtime_V1_ImageSpec, auth: Runtime_V1_AuthConfig?, sandboxConfig: Runtime_V1_PodSandboxConfig?
    ) async throws -> String {
        var r = Runtime_V1_PullImageRequest()
        r.image = image
        if let auth { r.auth = auth }
        if let sandboxConfig { r.sandboxConfig = sandboxConfig }
        var o = options
        o.timeout = .seconds(600)
        return try await images.pullImage(r, options: o).imageRef
    }

    public func imageStatus(_ image: Runtime_V1_ImageSpec) async throws -> Runtime_V1_Image? {
        var r = Runtime_V1_ImageStatusRequest()
        r.image = image
        let resp = try await retrying { try await images.imageStatus(r, options: options) }
        return resp.hasImage ? resp.image : nil
    }

    public func listImages() async throws -> [Runtime_V1_Image] {
        try await retrying { try await images.listImages(Runtime_V1_ListImagesRequest(), options: options).images }
    }

    public func removeImage(_ image: Runtime_V1_ImageSpec) async throws {
        var r = Runtime_V1_RemoveImageRequest()
        r.image = image
        _ = try await retrying { try await images.removeImage(r, options: options) }
    }
}
