import APICore
import APIMachinery

/// A pod as NetworkPolicy enforcement sees it: where it runs, its addresses, labels and named
/// container ports, so the compiler needs no API object and tests can describe pods in one line.
public struct PolicyPod: Equatable, Sendable {
    /// A named container port, what a policy's named port resolves to on the destination pod.
    public struct NamedPort: Hashable, Sendable {
        public var name: String
        public var port: Int
        /// `TCP`, `UDP` or `SCTP`.
        public var proto: String

        public init(_ name: String, _ port: Int, proto: String = "TCP") {
            self.name = name
            self.port = port
            self.proto = proto
        }
    }

    public var namespace: String
    public var name: String
    public var ips: [String]
    public var labels: [String: String]
    public var nodeName: String
    /// Pods on the host's network share the node's address: policies neither select nor match them.
    public var hostNetwork: Bool
    public var ports: [NamedPort]

    public init(
        namespace: String, name: String, ips: [String], labels: [String: String] = [:], nodeName: String,
        hostNetwork: Bool = false, ports: [NamedPort] = []
    ) {
        self.namespace = namespace
        self.name = name
        self.ips = ips
        self.labels = labels
        self.nodeName = nodeName
        self.hostNetwork = hostNetwork
        self.ports = ports
    }

    /// The view of an API pod; a pod that finished (Succeeded, Failed) keeps no address, since its
    /// IP may already belong to a new pod.
    public init(_ pod: CoreV1.Pod) {
        var ips = pod.status.podIPs.map(\.ip).filter { !$0.isEmpty }
        if ips.isEmpty && !pod.status.podIP.isEmpty { ips = [pod.status.podIP] }
        if pod.status.phase == "Succeeded" || pod.status.phase == "Failed" { ips = [] }
        self.init(
            namespace: pod.metadata.namespace, name: pod.metadata.name, ips: ips, labels: pod.metadata.labels,
            nodeName: pod.spec.nodeName, hostNetwork: pod.spec.hostNetwork,
            ports: pod.spec.containers.flatMap { c in
                c.ports.filter { !$0.name.isEmpty }.map {
                    NamedPort($0.name, Int($0.containerPort), proto: $0.protocol.isEmpty ? "TCP" : $0.protocol)
                }
            })
    }
}

/// A namespace's labels, what namespace selectors match.
public struct PolicyNamespace: Equatable, Sendable {
    /// The label the API server gives every namespace (its name), which selectors may rely on.
    public static let nameLabel = "kubernetes.io/metadata.name"

    public var name: String
    public var labels: [String: String]

    public init(name: String, labels: [String: String] = [:]) {
        self.name = name
        var l = labels
        l[Self.nameLabel] = name
        self.labels = l
    }

    public init(_ ns: CoreV1.Namespace) { self.init(name: ns.metadata.name, labels: ns.metadata.labels) }
}
