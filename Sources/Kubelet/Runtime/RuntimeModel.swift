import CRI

/// What the container runtime holds for one pod, as the kubelet's pure sync step reads it (upstream's
/// `kubecontainer.PodStatus`). Built from CRI's sandbox and container listings by the runtime shell, or
/// by a test.
public struct RuntimePod: Equatable, Sendable {
    public var uid: String
    public var name: String
    public var namespace: String
    /// Newest first.
    public var sandboxes: [RuntimeSandbox]
    /// Newest first: the first container of a name is its current instance.
    public var containers: [RuntimeContainer]

    public init(
        uid: String, name: String = "", namespace: String = "", sandboxes: [RuntimeSandbox] = [],
        containers: [RuntimeContainer] = []
    ) {
        self.uid = uid
        self.name = name
        self.namespace = namespace
        self.sandboxes = sandboxes
        self.containers = containers
    }

    /// The newest instance of the named container.
    public func container(named name: String) -> RuntimeContainer? { containers.first { $0.name == name } }

    /// Every instance of the named container, newest first.
    public func instances(of name: String) -> [RuntimeContainer] { containers.filter { $0.name == name } }
}

public struct RuntimeSandbox: Equatable, Sendable {
    public enum State: Equatable, Sendable { case ready, notReady }

    public var id: String
    public var attempt: UInt32
    public var state: State
    /// Nanoseconds since the Unix epoch.
    public var createdAt: Int64
    /// The pod's IPs, first the primary; empty until the network is set up (and with host networking).
    public var ips: [String]
    public var hostNetwork: Bool

    public init(
        id: String, attempt: UInt32 = 0, state: State = .ready, createdAt: Int64 = 0, ips: [String] = [],
        hostNetwork: Bool = false
    ) {
        self.id = id
        self.attempt = attempt
        self.state = state
        self.createdAt = createdAt
        self.ips = ips
        self.hostNetwork = hostNetwork
    }
}

public struct RuntimeContainer: Equatable, Sendable {
    public enum State: Equatable, Sendable { case created, running, exited, unknown }

    public var id: String
    public var name: String
    /// How many times the kubelet started this container before (the API's restartCount).
    public var restartCount: Int32
    public var state: State
    /// Nanoseconds since the Unix epoch; 0 when not reached.
    public var createdAt: Int64
    public var startedAt: Int64
    public var finishedAt: Int64
    public var exitCode: Int32
    /// The runtime's reason for an exit ("Completed", "Error", "OOMKilled", …).
    public var reason: String
    public var message: String
    public var image: String
    public var imageRef: String
    /// The hash of the container's spec when it was created (see `ContainerHash`).
    public var specHash: UInt64
    /// The cgroup limits the runtime reports applied, nil when it reports none.
    public var resources: Runtime_V1_LinuxContainerResources?

    public init(
        id: String, name: String, restartCount: Int32 = 0, state: State, createdAt: Int64 = 0,
        startedAt: Int64 = 0, finishedAt: Int64 = 0, exitCode: Int32 = 0, reason: String = "",
        message: String = "", image: String = "", imageRef: String = "", specHash: UInt64 = 0,
        resources: Runtime_V1_LinuxContainerResources? = nil
    ) {
        self.id = id
        self.name = name
        self.restartCount = restartCount
        self.state = state
        self.createdAt = createdAt
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.exitCode = exitCode
        self.reason = reason
        self.message = message
        self.image = image
        self.imageRef = imageRef
        self.specHash = specHash
        self.resources = resources
    }
}

/// A probe's latest verdict for one container instance (upstream's `proberesults.Result`).
public enum ProbeResult: Equatable, Sendable { case success, failure, unknown }

/// The probe workers' latest results, keyed by container ID, as the sync step and the status read them.
public struct ProbeResults: Equatable, Sendable {
    public var liveness: [String: ProbeResult]
    public var readiness: [String: ProbeResult]
    public var startup: [String: ProbeResult]

    public init(
        liveness: [String: ProbeResult] = [:], readiness: [String: ProbeResult] = [:],
        startup: [String: ProbeResult] = [:]
    ) {
        self.liveness = liveness
        self.readiness = readiness
        self.startup = startup
    }
}
