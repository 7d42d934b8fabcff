import Foundation

/// A regular chain of the proxy's table with its rules in order (rule text as `nft` reads it).
public struct NFTChain: Equatable, Sendable {
    public var name: String
    public var rules: [String]
    public var comment: String?

    public init(_ name: String, comment: String? = nil, rules: [String] = []) {
        self.name = name
        self.comment = comment
        self.rules = rules
    }
}

/// A named set of the proxy's table (the ClientIP affinity sets: addresses that time out).
public struct NFTSet: Equatable, Sendable {
    public var name: String
    public var type: String
    public var flags: [String]
    public var timeoutSeconds: Int?

    public init(name: String, type: String, flags: [String] = [], timeoutSeconds: Int? = nil) {
        self.name = name
        self.type = type
        self.flags = flags
        self.timeoutSeconds = timeoutSeconds
    }
}

/// One element of one of the table's shared sets or verdict maps (`service-ips`, `cluster-ips`, …);
/// `value` is nil for set elements.
public struct NFTElement: Hashable, Sendable {
    public var container: String
    public var key: String
    public var value: String?
    public var comment: String?

    public init(_ container: String, key: String, value: String? = nil, comment: String? = nil) {
        self.container = container
        self.key = key
        self.value = value
        self.comment = comment
    }
}

/// What conntrack clean-up needs to know of one UDP Service port: the addresses clients reach it
/// at and the endpoints behind it.
public struct UDPServicePort: Equatable, Sendable {
    public var serviceIPs: [String]
    public var port: Int
    public var nodePort: Int
    /// Endpoint IPs traffic may be DNAT'ed to.
    public var endpointIPs: [String]
}

/// Everything one Service contributes to the table (all its ports): its chains, affinity sets and
/// the elements it puts into the shared maps. The unit of an incremental sync: a changed Service's
/// rules are rebuilt and compared with what was applied for it.
public struct ServiceRules: Equatable, Sendable {
    public var chains: [NFTChain] = []
    public var sets: [NFTSet] = []
    public var elements: [NFTElement] = []
    /// Per UDP port name: what stale conntrack entries would point at.
    public var udpPorts: [String: UDPServicePort] = [:]
    /// The health check node port and how many local ready endpoints back it (eTP Local LBs).
    public var healthCheck: HealthCheckPort?
    /// Ports whose traffic is dropped for lack of local endpoints, by traffic direction.
    public var noLocalEndpointsInternal = 0
    public var noLocalEndpointsExternal = 0

    public init() {}

    public var chainNames: Set<String> { Set(chains.map(\.name)) }
}

/// A Service's health check node port (served by the proxy for `externalTrafficPolicy: Local`).
public struct HealthCheckPort: Equatable, Sendable {
    public var namespace: String
    public var name: String
    public var port: Int
    public var localEndpoints: Int
}

/// How `nft` text names things: `add rule ip kube-proxy <chain> <rule>` and so on.
public struct NFTWriter: Sendable {
    public var family: IPFamily
    public var table: String

    public init(family: IPFamily, table: String = ProxyRules.table) {
        self.family = family
        self.table = table
    }

    var prefix: String { "\(family.nft) \(table)" }

    public func addChain(_ name: String, comment: String? = nil) -> String {
        if let comment { return "add chain \(prefix) \(name) { comment \(quoted(comment)) ; }" }
        return "add chain \(prefix) \(name)"
    }
    public func flushChain(_ name: String) -> String { "flush chain \(prefix) \(name)" }
    public func deleteChain(_ name: String) -> String { "delete chain \(prefix) \(name)" }
    public func addRule(_ chain: String, _ rule: String) -> String { "add rule \(prefix) \(chain) \(rule)" }

    public func addSet(_ s: NFTSet) -> String {
        var parts = ["type \(s.type) ;"]
        if !s.flags.isEmpty { parts.append("flags \(s.flags.joined(separator: ",")) ;") }
        if let t = s.timeoutSeconds { parts.append("timeout \(t)s ;") }
        return "add set \(prefix) \(s.name) { \(parts.joined(separator: " ")) }"
    }
    public func deleteSet(_ name: String) -> String { "delete set \(prefix) \(name)" }

    public func addElement(_ e: NFTElement) -> String {
        var item = e.key
        if let c = e.comment { item += " comment \(quoted(c))" }
        if let v = e.value { item += " : \(v)" }
        return "add element \(prefix) \(e.container) { \(item) }"
    }
    public func deleteElement(container: String, key: String) -> String {
        "delete element \(prefix) \(container) { \(key) }"
    }

    func quoted(_ s: String) -> String {
        "\"" + s.replacingOccurrences(of: "\\", with: "").replacingOccurrences(of: "\"", with: "'") + "\""
    }
}
