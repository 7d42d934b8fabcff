import APIDiscovery
import APIMachinery

/// One endpoint of one Service port, as EndpointSlices describe it (upstream's BaseEndpointInfo).
public struct EndpointInfo: Hashable, Sendable, Comparable {
    public var ip: String
    public var port: Int
    public var ready: Bool
    public var serving: Bool
    public var terminating: Bool
    /// On this node (the slice's `nodeName` is the proxy's host name).
    public var isLocal: Bool

    public init(
        ip: String, port: Int, ready: Bool = true, serving: Bool? = nil, terminating: Bool = false, isLocal: Bool
    ) {
        self.ip = ip
        self.port = port
        self.ready = ready
        self.serving = serving ?? ready
        self.terminating = terminating
        self.isLocal = isLocal
    }

    /// `ip:port`, or `[ip]:port` for IPv6 (what DNAT targets and chain names carry).
    public var endpoint: String { ip.contains(":") ? "[\(ip)]:\(port)" : "\(ip):\(port)" }

    public static func < (a: EndpointInfo, b: EndpointInfo) -> Bool { (a.ip, a.port) < (b.ip, b.port) }

    /// The endpoints of `port` in `slices` (the slices of its Service): the slice port with the same
    /// name and protocol, each endpoint's first address of the family, one entry per `ip:port`
    /// (a ready copy wins over a not-ready one), sorted so rule order is stable.
    public static func endpoints(
        for port: ServicePortInfo, slices: [DiscoveryV1.EndpointSlice], nodeName: String, family: IPFamily
    ) -> [EndpointInfo] {
        var byAddress: [String: EndpointInfo] = [:]
        for slice in slices where slice.addressType == family.rawValue {
            guard
                let sp = slice.ports.first(where: {
                    ($0.name ?? "") == port.name.port && ($0.protocol ?? "TCP").lowercased() == port.name.proto
                }), let number = sp.port
            else { continue }
            for ep in slice.endpoints {
                guard let ip = ep.addresses.first, IPFamily.of(ip) == family else { continue }
                let ready = ep.conditions.ready ?? true
                let info = EndpointInfo(
                    ip: ip, port: Int(number), ready: ready, serving: ep.conditions.serving ?? true,
                    terminating: ep.conditions.terminating ?? false, isLocal: ep.nodeName == nodeName)
                if let existing = byAddress[info.endpoint], existing.ready || !info.ready { continue }
                byAddress[info.endpoint] = info
            }
        }
        return byAddress.values.sorted()
    }
}

/// The endpoints a Service port's rules use, by traffic policy (upstream's CategorizeEndpoints).
public struct CategorizedEndpoints: Equatable, Sendable {
    /// For "Cluster" policy: the ready endpoints, else the serving-but-terminating ones.
    public var cluster: [EndpointInfo] = []
    /// For "Local" policy: this node's ready endpoints, else its serving-but-terminating ones.
    public var local: [EndpointInfo] = []
    /// Every endpoint some rule may send traffic to (the endpoint chains to write).
    public var allReachable: [EndpointInfo] = []
    /// Whether the Service has any usable endpoint on any node.
    public var hasAny = false

    public init(_ endpoints: [EndpointInfo], for port: ServicePortInfo) {
        if port.usesClusterEndpoints {
            cluster = endpoints.filter(\.ready)
            if cluster.isEmpty { cluster = endpoints.filter { $0.serving && $0.terminating } }
            hasAny = !cluster.isEmpty
        }
        guard port.usesLocalEndpoints else {
            allReachable = cluster
            return
        }
        var localReady = false
        var localTerminating = false
        for ep in endpoints {
            if ep.ready {
                hasAny = true
                if ep.isLocal { localReady = true }
            } else if ep.serving && ep.terminating {
                hasAny = true
                if ep.isLocal { localTerminating = true }
            }
        }
        if localReady {
            local = endpoints.filter { $0.isLocal && $0.ready }
        } else if localTerminating {
            local = endpoints.filter { $0.isLocal && $0.serving && $0.terminating }
        }
        guard port.usesClusterEndpoints else {
            allReachable = local
            return
        }
        // Both policies in use: every cluster endpoint, plus local ones the cluster set left out.
        allReachable = cluster
        for ep in local where !cluster.contains(ep) { allReachable.append(ep) }
        allReachable.sort()
    }
}
