import APICore
import APIMachinery

/// The IP family one proxier programs: its nftables family, address type and loopback range.
/// Upstream runs one proxier per family (table `kube-proxy` in `ip` and, dual-stack, in `ip6`).
public enum IPFamily: String, Sendable, Hashable, CaseIterable {
    case ipv4 = "IPv4"
    case ipv6 = "IPv6"

    /// The nftables family name (`ip`, `ip6`), also the address match keyword (`ip daddr`).
    public var nft: String { self == .ipv4 ? "ip" : "ip6" }
    /// The set element type of one address.
    public var addressType: String { self == .ipv4 ? "ipv4_addr" : "ipv6_addr" }
    /// The match that leaves out loopback destinations (NodePorts are not served on localhost).
    public var noLocalhost: String { self == .ipv4 ? "ip daddr != 127.0.0.0/8" : "ip6 daddr != ::1" }

    /// The family of an address or CIDR text, nil when it is neither.
    public static func of(_ text: String) -> IPFamily? {
        let ip = text.split(separator: "/").first.map(String.init) ?? text
        if ip.contains(":") { return .ipv6 }
        let parts = ip.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4, parts.allSatisfy({ UInt8($0) != nil }) else { return nil }
        return .ipv4
    }
}

/// One port of one Service, as the proxy names it (`namespace/name:port`, upstream's
/// ServicePortName), with its protocol.
public struct ServicePortName: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var namespace: String
    public var name: String
    public var port: String
    /// Lower case: `tcp`, `udp` or `sctp`.
    public var proto: String

    public init(namespace: String, name: String, port: String, proto: String) {
        self.namespace = namespace
        self.name = name
        self.port = port
        self.proto = proto
    }

    /// `namespace/name` of the Service.
    public var service: String { "\(namespace)/\(name)" }
    /// `namespace/name:port`, or `namespace/name` for an unnamed port (upstream's String()).
    public var description: String { port.isEmpty ? service : "\(service):\(port)" }

    public static func < (a: ServicePortName, b: ServicePortName) -> Bool {
        (a.namespace, a.name, a.port, a.proto) < (b.namespace, b.name, b.port, b.proto)
    }
}

/// What the proxy needs of one Service port in one IP family: its addresses, ports and traffic
/// policies (upstream's BaseServicePortInfo).
public struct ServicePortInfo: Equatable, Sendable {
    public var name: ServicePortName
    public var clusterIP: String
    public var port: Int
    public var nodePort = 0
    public var externalIPs: [String] = []
    public var loadBalancerVIPs: [String] = []
    public var loadBalancerSourceRanges: [String] = []
    /// Seconds of ClientIP affinity; nil without session affinity.
    public var stickyMaxAgeSeconds: Int?
    public var externalPolicyLocal = false
    public var internalPolicyLocal = false
    public var healthCheckNodePort = 0

    public init(name: ServicePortName, clusterIP: String, port: Int) {
        self.name = name
        self.clusterIP = clusterIP
        self.port = port
    }

    /// Reachable from outside the cluster: a NodePort, an external IP or a load balancer IP.
    public var externallyAccessible: Bool { nodePort != 0 || !externalIPs.isEmpty || !loadBalancerVIPs.isEmpty }
    /// Whether some traffic to it goes to endpoints on any node.
    public var usesClusterEndpoints: Bool { !internalPolicyLocal || (externallyAccessible && !externalPolicyLocal) }
    /// Whether some traffic to it goes to this node's endpoints only.
    public var usesLocalEndpoints: Bool { internalPolicyLocal || (externallyAccessible && externalPolicyLocal) }

    /// The default ClientIP affinity timeout (3 hours), as upstream's API defaulting sets it.
    public static let defaultStickyMaxAgeSeconds = 10800

    /// The proxied ports of a Service in one family: none for ExternalName and headless Services
    /// or when the Service has no cluster IP of that family.
    public static func ports(of svc: CoreV1.Service, family: IPFamily) -> [ServicePortInfo] {
        let spec = svc.spec
        if spec.type == "ExternalName" { return [] }
        let ips = spec.clusterIPs.isEmpty ? [spec.clusterIP] : spec.clusterIPs
        guard let clusterIP = ips.first(where: { $0 != "None" && IPFamily.of($0) == family }) else { return [] }
        let isNodePort = spec.type == "NodePort" || spec.type == "LoadBalancer"
        let isLB = spec.type == "LoadBalancer"
        let externallyAccessible = isNodePort || !spec.externalIPs.isEmpty
        var out: [ServicePortInfo] = []
        for p in spec.ports {
            let proto = (p.protocol.isEmpty ? "TCP" : p.protocol).lowercased()
            var info = ServicePortInfo(
                name: ServicePortName(
                    namespace: svc.metadata.namespace, name: svc.metadata.name, port: p.name, proto: proto),
                clusterIP: clusterIP, port: Int(p.port))
            if isNodePort { info.nodePort = Int(p.nodePort) }
            info.externalIPs = spec.externalIPs.filter { IPFamily.of($0) == family }
            if isLB {
                info.loadBalancerVIPs =
                    (svc.status.loadBalancer.ingress).filter { !$0.ip.isEmpty && $0.ipMode != "Proxy" }.map(\.ip)
                    .filter { IPFamily.of($0) == family }
                info.loadBalancerSourceRanges = spec.loadBalancerSourceRanges.filter { IPFamily.of($0) == family }
            }
            if spec.sessionAffinity == "ClientIP" {
                info.stickyMaxAgeSeconds =
                    spec.sessionAffinityConfig?.clientIP?.timeoutSeconds.map(Int.init) ?? defaultStickyMaxAgeSeconds
            }
            info.externalPolicyLocal = externallyAccessible && spec.externalTrafficPolicy == "Local"
            info.internalPolicyLocal = spec.internalTrafficPolicy == "Local"
            if info.externalPolicyLocal && isLB { info.healthCheckNodePort = Int(spec.healthCheckNodePort) }
            out.append(info)
        }
        return out
    }
}
