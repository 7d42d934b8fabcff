import CRI
import Foundation
import GRPCCore
import Synchronization

/// A container runtime that keeps sandboxes, containers and images in memory: the hollow node's
/// runtime, and the unit tests' double of the `ContainerRuntime` seam. Everything the kubelet reads
/// back behaves as containerd's CRI would (IDs, states and their times, labels and annotations as
/// given, a pod IP per sandbox, images listed once pulled); only no process ever runs. A started
/// container runs until it is stopped, and stopping it is immediate.
///
/// It is made to be cheap, thousands in one process: one lock, plain records, CRI messages built only
/// when asked for.
public final class InMemoryRuntime: ContainerRuntime {
    /// The runtime's name and version as `Version` reports them (and the Node's status shows).
    public static let runtimeName = "k8swift-hollow"
    public static let runtimeVersion = "1.0.0"

    struct Sandbox {
        var id: String
        var name: String
        var uid: String
        var namespace: String
        var attempt: UInt32
        var ready: Bool
        var createdAt: Int64
        var labels: [String: String]
        var annotations: [String: String]
        var runtimeHandler: String
        var hostNetwork: Bool
        var logDirectory: String
        /// The last octet of the pod's address in the node's range; 0 with host networking.
        var host: UInt8
    }

    struct Container {
        var id: String
        var sandboxID: String
        var name: String
        var attempt: UInt32
        /// The image as the kubelet asked for it (the image's ID once pulled) and as the user wrote it.
        var image: String
        var userImage: String
        var state: Runtime_V1_ContainerState
        var createdAt: Int64
        var startedAt: Int64 = 0
        var finishedAt: Int64 = 0
        var exitCode: Int32 = 0
        var reason = ""
        var labels: [String: String]
        var annotations: [String: String]
        var logPath: String
        var resources: Runtime_V1_LinuxContainerResources?
        /// Bytes its writable layer holds, as a test sets them (no process ever writes).
        var writableLayerBytes: UInt64 = 0
    }

    struct Image {
        var id: String
        var tags: [String]
        var digests: [String]
        var size: UInt64
        var pinned: Bool
    }

    struct State {
        var sandboxes: [String: Sandbox] = [:]
        var containers: [String: Container] = [:]
        /// Images by ID, and every name (as given and normalised) to its ID.
        var images: [String: Image] = [:]
        var imageNames: [String: String] = [:]
        /// Last octets of the node range handed to live sandboxes.
        var hostsInUse: Set<UInt8> = []
        var nextHost: UInt8 = 2
        var counter: UInt64 = 0
        /// What `Status` answers: runtime and network ready unless a test says otherwise.
        var runtimeReady = true
        var networkReady = true
    }

    /// The first three octets of the node's /24 (e.g. `10.64.3`): pod `N` gets `<prefix>.N`.
    public let podNetworkPrefix: String
    /// The prefix of every ID, so IDs differ between the runtimes of one process.
    let idPrefix: String
    let now: @Sendable () -> Int64
    let state = Mutex(State())

    /// `podNetwork`: the node's pod range as its first three octets (`10.64.3`) or as a /24 CIDR
    /// (`10.64.3.0/24`). `sandboxImage` is present from the start, pinned, as containerd's is.
    public init(
        podNetwork: String = "10.64.0", sandboxImage: String = "registry.k8s.io/pause:3.10.2",
        now: @escaping @Sendable () -> Int64 = InMemoryRuntime.wallClockNanos
    ) {
        var prefix = podNetwork
        if let slash = prefix.firstIndex(of: "/") { prefix = String(prefix[..<slash]) }
        let octets = prefix.split(separator: ".")
        podNetworkPrefix = octets.prefix(3).joined(separator: ".")
        idPrefix = Self.hex(UInt64.random(in: 0...UInt64.max))
        self.now = now
        state.withLock { s in Self.addImage(&s, sandboxImage, pinned: true) }
    }

    public static let wallClockNanos: @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970 * 1e9) }

    /// Sixteen hex digits.
    static func hex(_ v: UInt64) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }

    func newID(_ s: inout State) -> String {
        s.counter += 1
        return idPrefix + Self.hex(s.counter) + Self.hex(s.counter &* 0x9E37_79B9_7F4A_7C15)
    }

    static func notFound(_ what: String, _ id: String) -> RPCError {
        RPCError(code: .notFound, message: "an error occurred when try to find \(what) \"\(id)\": not found")
    }

    /// Makes `Status` report the runtime (or its network) not ready, as a broken containerd would.
    public func setReady(runtime: Bool, network: Bool) {
        state.withLock {
            $0.runtimeReady = runtime
            $0.networkReady = network
        }
    }

    // MARK: Runtime

    public func version() async throws -> Runtime_V1_VersionResponse {
        var r = Runtime_V1_VersionResponse()
        r.version = "0.1.0"
        r.runtimeName = Self.runtimeName
        r.runtimeVersion = Self.runtimeVersion
        r.runtimeApiVersion = "v1"
        return r
    }

    public func status() async throws -> Runtime_V1_StatusResponse {
        let (rt, net) = state.withLock { ($0.runtimeReady, $0.networkReady) }
        var r = Runtime_V1_StatusResponse()
        var a = Runtime_V1_RuntimeCondition()
        a.type = "RuntimeReady"
        a.status = rt
        var b = Runtime_V1_RuntimeCondition()
        b.type = "NetworkReady"
        b.status = net
        if !net {
            b.reason = "NetworkPluginNotReady"
            b.message = "Network plugin returns error: the hollow network is down"
        }
        r.status.conditions = [a, b]
        return r
    }

    public func runPodSandbox(_ config: Runtime_V1_PodSandboxConfig, runtimeHandler: String) async throws -> String {
        let at = now()
        let hostNetwork = config.linux.securityContext.namespaceOptions.network == .node
        return try state.withLock { s in
            var host: UInt8 = 0
            if !hostNetwork {
                guard let free = Self.freeHost(&s) else {
                    throw RPCError(
                        code: .unknown,
                        message: "failed to setup network for sandbox: no IP addresses available in range set")
                }
                host = free
            }
            let id = newID(&s)
            s.sandboxes[id] = Sandbox(
                id: id, name: config.metadata.name, uid: config.metadata.uid, namespace: config.metadata.namespace,
                attempt: config.metadata.attempt, ready: true, createdAt: at, labels: config.labels,
                annotations: config.annotations, runtimeHandler: runtimeHandler, hostNetwork: hostNetwork,
                logDirectory: config.logDirectory, host: host)
            return id
        }
    }

    /// The next free last octet of the range (2…254, as host-local skips the network, gateway and
    /// broadcast addresses), round robin so an address is not reused at once.
    static func freeHost(_ s: inout State) -> UInt8? {
        for _ in 0..<253 {
            let h = s.nextHost
            s.nextHost = h >= 254 ? 2 : h + 1
            if !s.hostsInUse.contains(h) {
                s.hostsInUse.insert(h)
                return h
            }
        }
        return nil
    }

    public func stopPodSandbox(_ id: String) async throws {
        let at = now()
        state.withLock { s in
            // Stopping an unknown sandbox succeeds, as CRI asks.
            guard var sb = s.sandboxes[id] else { return }
            for (cid, c) in s.containers where c.sandboxID == id && c.state != .containerExited {
                s.containers[cid] = Self.exited(c, at: at, exitCode: 137, reason: "Error")
            }
            sb.ready = false
            if sb.host != 0 { s.hostsInUse.remove(sb.host) }
            sb.host = 0
            s.sandboxes[id] = sb
        }
    }

    public func removePodSandbox(_ id: String) async throws {
        state.withLock { s in
            guard let sb = s.sandboxes.removeValue(forKey: id) else { return }
            if sb.host != 0 { s.hostsInUse.remove(sb.host) }
            s.containers = s.containers.filter { $0.value.sandboxID != id }
        }
    }

    public func podSandboxStatus(_ id: String) async throws -> Runtime_V1_PodSandboxStatus {
        guard let sb = state.withLock({ $0.sandboxes[id] }) else { throw Self.notFound("sandbox", id) }
        var r = Runtime_V1_PodSandboxStatus()
        r.id = sb.id
        r.metadata = Self.metadata(sb)
        r.state = sb.ready ? .sandboxReady : .sandboxNotready
        r.createdAt = sb.createdAt
        if sb.host != 0 { r.network.ip = podNetworkPrefix + "." + String(sb.host) }
        r.linux.namespaces.options.network = sb.hostNetwork ? .node : .pod
        r.labels = sb.labels
        r.annotations = sb.annotations
        r.runtimeHandler = sb.runtimeHandler
        return r
    }

    static func metadata(_ sb: Sandbox) -> Runtime_V1_PodSandboxMetadata {
        var m = Runtime_V1_PodSandboxMetadata()
        m.name = sb.name
        m.uid = sb.uid
        m.namespace = sb.namespace
        m.attempt = sb.attempt
        return m
    }

    public func listPodSandbox(podUID: String?) async throws -> [Runtime_V1_PodSandbox] {
        let all = state.withLock { s in
            podUID.map { uid in s.sandboxes.values.filter { $0.labels[RuntimeLabels.podUID] == uid } }
                ?? Array(s.sandboxes.values)
        }
        return all.map { sb in
            var r = Runtime_V1_PodSandbox()
            r.id = sb.id
            r.metadata = Self.metadata(sb)
            r.state = sb.ready ? .sandboxReady : .sandboxNotready
            r.createdAt = sb.createdAt
            r.labels = sb.labels
            r.annotations = sb.annotations
            r.runtimeHandler = sb.runtimeHandler
            return r
        }
    }

    // MARK: Containers

    public func createContainer(
        sandboxID: String, config: Runtime_V1_ContainerConfig, sandboxConfig: Runtime_V1_PodSandboxConfig
    ) async throws -> String {
        let at = now()
        return try state.withLock { s in
            guard let sb = s.sandboxes[sandboxID] else { throw Self.notFound("sandbox", sandboxID) }
            guard sb.ready else {
                throw RPCError(code: .unknown, message: "sandbox container \"\(sandboxID)\" is not running")
            }
            guard Self.imageID(s, config.image.image) != nil else {
                throw RPCError(
                    code: .notFound,
                    message: "failed to get image \"\(config.image.image)\": image \"\(config.image.image)\": not found"
                )
            }
            let name = config.metadata.name
            if s.containers.values.contains(where: {
                $0.sandboxID == sandboxID && $0.name == name && $0.attempt == config.metadata.attempt
            }) {
                throw RPCError(
                    code: .unknown,
                    message:
                        "failed to reserve container name \"\(name)_\(sb.name)_\(sb.namespace)_\(sb.uid)_\(config.metadata.attempt)\": name is reserved"
                )
            }
            let id = newID(&s)
            s.containers[id] = Container(
                id: id, sandboxID: sandboxID, name: name, attempt: config.metadata.attempt, image: config.image.image,
                userImage: config.image.userSpecifiedImage, state: .containerCreated, createdAt: at,
                labels: config.labels, annotations: config.annotations, logPath: config.logPath,
                resources: config.hasLinux && config.linux.hasResources ? config.linux.resources : nil)
            return id
        }
    }

    public func startContainer(_ id: String) async throws {
        let at = now()
        try state.withLock { s in
            guard var c = s.containers[id] else { throw Self.notFound("container", id) }
            guard c.state == .containerCreated else {
                throw RPCError(
                    code: .unknown, message: "container \"\(id)\" is in \(Self.stateName(c.state)) state: not created")
            }
            c.state = .containerRunning
            c.startedAt = at
            s.containers[id] = c
        }
    }

    static func stateName(_ s: Runtime_V1_ContainerState) -> String {
        switch s {
        case .containerCreated: "CONTAINER_CREATED"
        case .containerRunning: "CONTAINER_RUNNING"
        case .containerExited: "CONTAINER_EXITED"
        default: "CONTAINER_UNKNOWN"
        }
    }

    /// The container after its process ended: a hollow process ends on SIGTERM at once, which a
    /// shell's default handler reports as 128+15; one never started ends as it was created (0).
    static func exited(_ c: Container, at: Int64, exitCode: Int32, reason: String) -> Container {
        var c = c
        if c.state == .containerRunning {
            c.exitCode = exitCode
            c.reason = reason
        } else {
            c.exitCode = 0
            c.reason = ""
        }
        c.state = .containerExited
        c.finishedAt = at
        return c
    }

    /// Stops at once: the hollow process always obeys SIGTERM within any grace period, and exits 143
    /// (`Error`), as a real process killed by that signal does.
    public func stopContainer(_ id: String, timeout: Int64) async throws {
        let at = now()
        try state.withLock { s in
            guard let c = s.containers[id] else { throw Self.notFound("container", id) }
            guard c.state != .containerExited else { return }
            s.containers[id] = Self.exited(c, at: at, exitCode: 143, reason: "Error")
        }
    }

    /// Ends a running container as if its process exited by itself (tests: crash loops, jobs).
    public func exitContainer(_ id: String, exitCode: Int32) throws {
        let at = now()
        try state.withLock { s in
            guard let c = s.containers[id] else { throw Self.notFound("container", id) }
            guard c.state == .containerRunning else { return }
            s.containers[id] = Self.exited(c, at: at, exitCode: exitCode, reason: exitCode == 0 ? "Completed" : "Error")
        }
    }

    public func updateContainerResources(_ id: String, linux: Runtime_V1_LinuxContainerResources) async throws {
        try state.withLock { s in
            guard s.containers[id] != nil else { throw Self.notFound("container", id) }
            s.containers[id]?.resources = linux
        }
    }

    public func removeContainer(_ id: String) async throws {
        state.withLock { _ = $0.containers.removeValue(forKey: id) }
    }

    public func listContainers(podUID: String?) async throws -> [Runtime_V1_Container] {
        let (all, images) = state.withLock { s in
            (
                podUID.map { uid in s.containers.values.filter { $0.labels[RuntimeLabels.podUID] == uid } }
                    ?? Array(s.containers.values), s.images
            )
        }
        return all.map { c in
            var r = Runtime_V1_Container()
            r.id = c.id
            r.podSandboxID = c.sandboxID
            r.metadata.name = c.name
            r.metadata.attempt = c.attempt
            r.image.image = c.image
            r.imageRef = images[c.image].map(Self.reference) ?? c.image
            r.state = c.state
            r.createdAt = c.createdAt
            r.labels = c.labels
            r.annotations = c.annotations
            return r
        }
    }

    /// The reference a container reports for its image: the repository digest, as containerd does.
    static func reference(_ i: Image) -> String { i.digests.first ?? i.id }

    public func containerStatus(_ id: String) async throws -> Runtime_V1_ContainerStatus {
        let (found, image, sandbox) = state.withLock { s in
            let c = s.containers[id]
            return (c, c.flatMap { s.images[Self.imageID(s, $0.image) ?? ""] }, c.flatMap { s.sandboxes[$0.sandboxID] })
        }
        guard let c = found else { throw Self.notFound("container", id) }
        var r = Runtime_V1_ContainerStatus()
        r.id = c.id
        r.metadata.name = c.name
        r.metadata.attempt = c.attempt
        r.state = c.state
        r.createdAt = c.createdAt
        r.startedAt = c.startedAt
        r.finishedAt = c.finishedAt
        r.exitCode = c.exitCode
        r.reason = c.reason
        r.image.image = image?.tags.first ?? c.image
        r.image.userSpecifiedImage = c.userImage
        r.imageRef = image.map(Self.reference) ?? c.image
        r.imageID = image?.id ?? ""
        r.labels = c.labels
        r.annotations = c.annotations
        if let linux = c.resources { r.resources.linux = linux }
        if let sandbox, !c.logPath.isEmpty, !sandbox.logDirectory.isEmpty {
            r.logPath = sandbox.logDirectory + "/" + c.logPath
        }
        return r
    }

    /// Sets what a container's writable layer holds (tests of local storage eviction).
    public func setWritableLayer(_ id: String, bytes: UInt64) throws {
        try state.withLock { s in
            guard s.containers[id] != nil else { throw Self.notFound("container", id) }
            s.containers[id]?.writableLayerBytes = bytes
        }
    }

    /// Each container's identity and writable layer, as containerd's CRI reports them.
    public func listContainerStats(podUID: String?) async throws -> [Runtime_V1_ContainerStats] {
        let all = state.withLock { s in
            podUID.map { uid in s.containers.values.filter { $0.labels[RuntimeLabels.podUID] == uid } }
                ?? Array(s.containers.values)
        }
        return all.map { c in
            var r = Runtime_V1_ContainerStats()
            r.attributes.id = c.id
            r.attributes.metadata.name = c.name
            r.attributes.metadata.attempt = c.attempt
            r.attributes.labels = c.labels
            r.attributes.annotations = c.annotations
            r.writableLayer.usedBytes.value = c.writableLayerBytes
            return r
        }
    }

    /// Every command "runs" and exits 0 with no output: exec probes of a hollow container succeed.
    public func execSync(_ id: String, command: [String], timeout: Int64) async throws -> Runtime_V1_ExecSyncResponse {
        let running = state.withLock { $0.containers[id]?.state == .containerRunning }
        guard running else {
            throw RPCError(
                code: .notFound, message: "container \"\(id)\" is not running: cannot exec in a stopped state")
        }
        var r = Runtime_V1_ExecSyncResponse()
        r.exitCode = 0
        return r
    }

    static func unsupported(_ what: String) -> RPCError {
        RPCError(code: .unimplemented, message: "\(what) is not supported by the in-memory runtime of a hollow node")
    }

    public func exec(_ request: Runtime_V1_ExecRequest) async throws -> String { throw Self.unsupported("exec") }
    public func attach(_ request: Runtime_V1_AttachRequest) async throws -> String { throw Self.unsupported("attach") }
    public func portForward(_ request: Runtime_V1_PortForwardRequest) async throws -> String {
        throw Self.unsupported("port-forward")
    }

    // MARK: Images

    /// A reference as containerd names it: a registry host (docker.io by default, with `library/` for
    /// an official image) and a tag (`latest` when neither a tag nor a digest is given).
    public static func normalize(_ image: String) -> String {
        var name = image
        let first = name.split(separator: "/", maxSplits: 1).first.map(String.init) ?? name
        let hasHost = name.contains("/") && (first.contains(".") || first.contains(":") || first == "localhost")
        if !hasHost { name = (name.contains("/") ? "docker.io/" : "docker.io/library/") + name }
        let last = name.split(separator: "/").last ?? ""
        if !name.contains("@") && !last.contains(":") { name += ":latest" }
        return name
    }

    static func imageID(_ s: State, _ name: String) -> String? {
        if s.images[name] != nil { return name }
        return s.imageNames[name] ?? s.imageNames[normalize(name)]
    }

    /// Records an image under its names, with an ID and digest made from its normalised name (the
    /// same image gets the same ID on every node) and a size of a few MB.
    @discardableResult
    static func addImage(_ s: inout State, _ name: String, pinned: Bool = false) -> String {
        if let id = imageID(s, name) { return id }
        let full = normalize(name)
        let h = ContainerHash.fnv1a(full.utf8)
        let digest = (0..<4).map { hex(h &* UInt64($0 * 2 + 1) &+ UInt64($0)) }.joined()
        let id = "sha256:" + digest
        let repo = full.split(separator: "@").first.map(String.init) ?? full
        let bare = repo.lastIndex(of: ":").map { i in repo[..<i] }.map(String.init) ?? repo
        let tags = full.contains("@") ? [] : [full]
        let digests = [(full.contains("@") ? repo : bare) + "@sha256:" + digest]
        s.images[id] = Image(id: id, tags: tags, digests: digests, size: 1_000_000 + h % 50_000_000, pinned: pinned)
        s.imageNames[name] = id
        s.imageNames[full] = id
        for t in tags { s.imageNames[t] = id }
        for d in digests { s.imageNames[d] = id }
        return id
    }

    /// "Pulls" at once: the image is recorded and listed from now on.
    public func pullImage(
        _ image: Runtime_V1_ImageSpec, auth: Runtime_V1_AuthConfig?, sandboxConfig: Runtime_V1_PodSandboxConfig?
    ) async throws -> String {
        guard !image.image.isEmpty else { throw RPCError(code: .invalidArgument, message: "image name is empty") }
        return state.withLock { Self.addImage(&$0, image.image) }
    }

    public func imageStatus(_ image: Runtime_V1_ImageSpec) async throws -> Runtime_V1_Image? {
        state.withLock { s in Self.imageID(s, image.image).flatMap { s.images[$0] } }.map(Self.message)
    }

    static func message(_ i: Image) -> Runtime_V1_Image {
        var r = Runtime_V1_Image()
        r.id = i.id
        r.repoTags = i.tags
        r.repoDigests = i.digests
        r.size = i.size
        r.pinned = i.pinned
        r.spec.image = i.id
        return r
    }

    public func listImages() async throws -> [Runtime_V1_Image] {
        state.withLock { Array($0.images.values) }.sorted { $0.id < $1.id }.map(Self.message)
    }

    public func removeImage(_ image: Runtime_V1_ImageSpec) async throws {
        state.withLock { s in
            guard let id = Self.imageID(s, image.image) else { return }
            s.images[id] = nil
            s.imageNames = s.imageNames.filter { $0.value != id }
        }
    }
}
