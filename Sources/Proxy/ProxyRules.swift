import Crypto
import Foundation

/// Which node addresses accept NodePort traffic (`--nodeport-addresses`).
public enum NodePortAddresses: Equatable, Sendable {
    /// Every local address but loopback (`0.0.0.0/0`, `::/0`): matched with `fib daddr type local`.
    case all
    /// These addresses only (the node's primary IPs by default), kept in the `nodeport-ips` set.
    case ips([String])
}

/// The settings of one family's proxier that shape the rules (not the Services).
public struct ProxierSettings: Equatable, Sendable {
    public var family: IPFamily
    /// `--cluster-cidr` ranges of this family: traffic from outside them is masqueraded, and
    /// pod traffic to external IPs short-circuits the external traffic policy.
    public var clusterCIDRs: [String] = []
    public var masqueradeAll = false
    /// `--masquerade-bit` (upstream default 14): the packet mark that asks for masquerade.
    public var masqueradeBit = 14
    public var nodePortAddresses: NodePortAddresses = .all
    /// The Service CIDRs of this family: traffic to an unallocated ClusterIP there is dropped.
    public var serviceCIDRs: [String] = []
    /// The node's primary IP of this family (LoadBalancerSourceRanges that hold it admit the node).
    public var nodeIP: String?

    public init(family: IPFamily) { self.family = family }

    /// Upstream's `%#08x` of the mark bit (`0x004000` for bit 14).
    public var masqueradeMark: String {
        let hex = String(1 << masqueradeBit, radix: 16)
        return "0x" + String(repeating: "0", count: max(0, 6 - hex.count)) + hex
    }

    func cidrMatch(_ negate: Bool) -> String? {
        guard !clusterCIDRs.isEmpty else { return nil }
        let set = clusterCIDRs.count == 1 ? clusterCIDRs[0] : "{ \(clusterCIDRs.joined(separator: ", ")) }"
        return "\(family.nft) saddr \(negate ? "!= " : "")\(set)"
    }
    /// Matches traffic from pods (the local traffic detector), nil without `--cluster-cidr`.
    var ifLocal: String? { cidrMatch(false) }
    var ifNotLocal: String? { cidrMatch(true) }
}

/// The nftables rule set of upstream's nftables proxier, as pure functions of the Services,
/// their endpoints and the proxier's settings: one table `kube-proxy`, fixed base and dispatch
/// chains set up once, verdict maps keyed by `daddr . l4proto . dport`, and per-Service-port
/// chains (`service-`, `local-`, `external-`, `firewall-`, `endpoint-`) that a sync rewrites only
/// when that Service changed.
public enum ProxyRules {
    public static let table = "kube-proxy"

    // Base chains.
    public static let filterPrerouting = "filter-prerouting"
    public static let filterInput = "filter-input"
    public static let filterForward = "filter-forward"
    public static let filterOutput = "filter-output"
    public static let filterOutputPostDNAT = "filter-output-post-dnat"
    public static let natPrerouting = "nat-prerouting"
    public static let natOutput = "nat-output"
    public static let natPostrouting = "nat-postrouting"
    // Dispatch, checks and masquerading.
    public static let services = "services"
    public static let serviceIPs = "service-ips"
    public static let serviceNodePorts = "service-nodeports"
    public static let nodePortIPs = "nodeport-ips"
    public static let clusterIPs = "cluster-ips"
    public static let serviceEndpointsCheck = "service-endpoints-check"
    public static let nodePortEndpointsCheck = "nodeport-endpoints-check"
    public static let noEndpointServices = "no-endpoint-services"
    public static let noEndpointNodePorts = "no-endpoint-nodeports"
    public static let rejectChain = "reject-chain"
    public static let clusterIPsCheck = "cluster-ips-check"
    public static let firewallIPs = "firewall-ips"
    public static let firewallCheck = "firewall-check"
    public static let markMasq = "mark-for-masquerade"
    public static let masquerading = "masquerading"

    /// The shared sets and maps whose elements Services own.
    public static let containers = [
        clusterIPs, serviceIPs, firewallIPs, noEndpointServices, noEndpointNodePorts, serviceNodePorts,
    ]

    /// A base chain: its hook and numeric priority. nft 1.0.6 refuses the `dstnat` keyword on
    /// output chains, so priorities are numbers (dstnat = -100, srcnat = 100); filter chains run
    /// 10 before DNAT (they see pre-DNAT addresses), the post-DNAT output check 10 after.
    public struct BaseChain: Sendable {
        public var name: String
        public var type: String
        public var hook: String
        public var priority: Int
    }

    public static let baseChains: [BaseChain] = [
        BaseChain(name: filterPrerouting, type: "filter", hook: "prerouting", priority: -110),
        BaseChain(name: filterInput, type: "filter", hook: "input", priority: -110),
        BaseChain(name: filterForward, type: "filter", hook: "forward", priority: -110),
        BaseChain(name: filterOutput, type: "filter", hook: "output", priority: -110),
        BaseChain(name: filterOutputPostDNAT, type: "filter", hook: "output", priority: -90),
        BaseChain(name: natPrerouting, type: "nat", hook: "prerouting", priority: -100),
        BaseChain(name: natOutput, type: "nat", hook: "output", priority: -100),
        BaseChain(name: natPostrouting, type: "nat", hook: "postrouting", priority: 100),
    ]

    /// The regular chains base chains jump to: (target, from, match).
    public static let jumpChains: [(to: String, from: String, match: String)] = [
        (nodePortEndpointsCheck, filterInput, "ct state new"),
        (serviceEndpointsCheck, filterInput, "ct state new"),
        (serviceEndpointsCheck, filterForward, "ct state new"),
        (serviceEndpointsCheck, filterOutput, "ct state new"),
        (firewallCheck, filterPrerouting, "ct state new"),
        (firewallCheck, filterOutput, "ct state new"),
        (services, natOutput, ""),
        (services, natPrerouting, ""),
        (masquerading, natPostrouting, ""),
        (clusterIPsCheck, filterForward, "ct state new"),
        (clusterIPsCheck, filterOutputPostDNAT, "ct state new"),
    ]

    /// The fixed part of the table, written on every full sync: the table, base chains (deleted
    /// and re-made first when `recreateBaseChains`, so changed hook settings apply), the dispatch
    /// and check chains with their rules, and the shared sets and maps, emptied (a full sync
    /// fills them again).
    public static func setup(_ s: ProxierSettings, recreateBaseChains: Bool) -> [String] {
        let w = NFTWriter(family: s.family)
        let ipX = s.family.nft
        let addr = s.family.addressType
        var out = ["add table \(w.prefix) { comment \"rules for kube-proxy\" ; }"]
        if recreateBaseChains {
            for bc in baseChains {
                out.append(w.addChain(bc.name))
                out.append(w.deleteChain(bc.name))
            }
        }
        for bc in baseChains {
            out.append("add chain \(w.prefix) \(bc.name) { type \(bc.type) hook \(bc.hook) priority \(bc.priority) ; }")
            out.append(w.flushChain(bc.name))
        }
        var made: Set<String> = []
        func ensure(_ chain: String, comment: String? = nil) {
            guard made.insert(chain).inserted else { return }
            out.append(w.addChain(chain, comment: comment))
            out.append(w.flushChain(chain))
        }
        for j in jumpChains {
            ensure(j.to)
            out.append(w.addRule(j.from, j.match.isEmpty ? "jump \(j.to)" : "\(j.match) jump \(j.to)"))
        }
        for c in [services, clusterIPsCheck, masquerading, markMasq] { ensure(c) }
        let mark = s.masqueradeMark
        out.append(w.addRule(markMasq, "mark set mark or \(mark)"))
        out.append(w.addRule(masquerading, "mark and \(mark) == 0 return"))
        out.append(w.addRule(masquerading, "mark set mark xor \(mark)"))
        out.append(w.addRule(masquerading, "masquerade fully-random"))

        out.append("add set \(w.prefix) \(clusterIPs) { type \(addr) ; comment \"Active ClusterIPs\" ; }")
        out.append(
            w.addRule(
                clusterIPsCheck,
                "\(ipX) daddr @\(clusterIPs) reject comment \"Reject traffic to invalid ports of ClusterIPs\"")
        )
        if !s.serviceCIDRs.isEmpty {
            out.append(
                w.addRule(
                    clusterIPsCheck,
                    "\(ipX) daddr { \(s.serviceCIDRs.joined(separator: ", ")) } drop comment \"Drop traffic to unallocated ClusterIPs\""
                ))
        }

        out.append(
            "add set \(w.prefix) \(nodePortIPs) { type \(addr) ; comment \"IPs that accept NodePort traffic\" ; }")
        switch s.nodePortAddresses {
        case .all:
            out.append(w.deleteSet(nodePortIPs))
        case .ips(let ips):
            out.append("flush set \(w.prefix) \(nodePortIPs)")
            for ip in ips where IPFamily.of(ip) == s.family && !isLoopback(ip) {
                out.append(w.addElement(NFTElement(nodePortIPs, key: ip)))
            }
        }

        out.append(
            "add map \(w.prefix) \(noEndpointServices) { type \(addr) . inet_proto . inet_service : verdict ; comment \"vmap to drop or reject packets to services with no endpoints\" ; }"
        )
        out.append(
            "add map \(w.prefix) \(noEndpointNodePorts) { type inet_proto . inet_service : verdict ; comment \"vmap to drop or reject packets to service nodeports with no endpoints\" ; }"
        )
        out.append(w.addChain(rejectChain, comment: "helper for @no-endpoint-services / @no-endpoint-nodeports"))
        out.append(w.flushChain(rejectChain))
        out.append(w.addRule(rejectChain, "reject"))
        out.append(
            w.addRule(serviceEndpointsCheck, "\(ipX) daddr . meta l4proto . th dport vmap @\(noEndpointServices)"))
        switch s.nodePortAddresses {
        case .all:
            out.append(
                w.addRule(
                    nodePortEndpointsCheck,
                    "\(s.family.noLocalhost) meta l4proto . th dport vmap @\(noEndpointNodePorts)"))
        case .ips:
            out.append(
                w.addRule(
                    nodePortEndpointsCheck,
                    "\(ipX) daddr @\(nodePortIPs) meta l4proto . th dport vmap @\(noEndpointNodePorts)"))
        }

        out.append(
            "add map \(w.prefix) \(firewallIPs) { type \(addr) . inet_proto . inet_service : verdict ; comment \"destinations that are subject to LoadBalancerSourceRanges\" ; }"
        )
        ensure(firewallCheck)
        out.append(w.addRule(firewallCheck, "\(ipX) daddr . meta l4proto . th dport vmap @\(firewallIPs)"))

        out.append(
            "add map \(w.prefix) \(serviceIPs) { type \(addr) . inet_proto . inet_service : verdict ; comment \"ClusterIP, ExternalIP and LoadBalancer IP traffic\" ; }"
        )
        out.append(
            "add map \(w.prefix) \(serviceNodePorts) { type inet_proto . inet_service : verdict ; comment \"NodePort traffic\" ; }"
        )
        out.append(w.addRule(services, "\(ipX) daddr . meta l4proto . th dport vmap @\(serviceIPs)"))
        switch s.nodePortAddresses {
        case .all:
            out.append(
                w.addRule(
                    services,
                    "fib daddr type local \(s.family.noLocalhost) meta l4proto . th dport vmap @\(serviceNodePorts)"))
        case .ips:
            out.append(
                w.addRule(services, "\(ipX) daddr @\(nodePortIPs) meta l4proto . th dport vmap @\(serviceNodePorts)"))
        }
        for c in containers {
            out.append((c == clusterIPs ? "flush set " : "flush map ") + "\(w.prefix) \(c)")
        }
        return out
    }

    static func isLoopback(_ ip: String) -> Bool { ip.hasPrefix("127.") || ip == "::1" }

    /// Whether an IPv4 CIDR holds an address (false for anything else).
    public static func cidrContains(_ cidr: String, _ ip: String) -> Bool {
        let parts = cidr.split(separator: "/")
        guard let net = ipv4Value(String(parts[0])), let addr = ipv4Value(ip) else { return false }
        let bits = parts.count > 1 ? Int(parts[1]) ?? 32 : 32
        guard (0...32).contains(bits) else { return false }
        let mask: UInt32 = bits == 0 ? 0 : ~UInt32(0) << (32 - bits)
        return net & mask == addr & mask
    }

    static func ipv4Value(_ s: String) -> UInt32? {
        let o = s.split(separator: ".", omittingEmptySubsequences: false).compactMap { UInt8($0) }
        guard o.count == 4 else { return nil }
        return o.reduce(0) { $0 << 8 | UInt32($1) }
    }

    // MARK: Names

    /// The first 8 characters of the base32 SHA-256 of `name`, a dash, then `name`, cut to 240
    /// characters (upstream's hashAndTruncate: unique and readable chain names).
    static func hashAndTruncate(_ name: String) -> String {
        let digest = Array(SHA256.hash(data: Data(name.utf8)))
        var out = String(base32(digest).prefix(8)) + "-" + name
        if out.utf8.count > 240 { out = String(out.utf8.prefix(237))! + "..." }
        return out
    }

    static func base32(_ bytes: [UInt8]) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
        var out = ""
        var buffer = 0
        var bits = 0
        for b in bytes {
            buffer = (buffer << 8) | Int(b)
            bits += 8
            while bits >= 5 {
                out.append(alphabet[(buffer >> (bits - 5)) & 31])
                bits -= 5
            }
        }
        if bits > 0 { out.append(alphabet[(buffer << (5 - bits)) & 31]) }
        return out
    }

    /// `HASH-namespace/name/protocol/portname`.
    public static func chainNameBase(_ n: ServicePortName) -> String {
        hashAndTruncate("\(n.namespace)/\(n.name)/\(n.proto)/\(n.port)")
    }

    /// `HASH-namespace/name/protocol/portname__ip/port` (IPv6 colons become dots).
    public static func endpointChainNameBase(_ n: ServicePortName, _ ep: EndpointInfo) -> String {
        let ip = ep.ip.replacingOccurrences(of: ":", with: ".")
        return hashAndTruncate("\(n.namespace)/\(n.name)/\(n.proto)/\(n.port)__\(ip)/\(ep.port)")
    }

    public static func clusterChain(_ n: ServicePortName) -> String { "service-" + chainNameBase(n) }
    public static func localChain(_ n: ServicePortName) -> String { "local-" + chainNameBase(n) }
    public static func externalChain(_ n: ServicePortName) -> String { "external-" + chainNameBase(n) }
    public static func firewallChain(_ n: ServicePortName) -> String { "firewall-" + chainNameBase(n) }
    public static func endpointChain(_ n: ServicePortName, _ ep: EndpointInfo) -> String {
        "endpoint-" + endpointChainNameBase(n, ep)
    }
    public static func affinitySet(_ n: ServicePortName, _ ep: EndpointInfo) -> String {
        "affinity-" + endpointChainNameBase(n, ep)
    }

    /// Service and endpoint chains carry a `/`; the fixed chains never do.
    public static func isServiceChain(_ name: String) -> Bool { name.contains("/") }
    public static func isAffinitySet(_ name: String) -> Bool { name.hasPrefix("affinity-") }

    // MARK: Service rules

    /// The rules of one Service: for each of its ports (with that port's endpoints), the map
    /// elements that send its addresses to its chains (or to rejection when it has no endpoints),
    /// and the chains themselves, as upstream's syncProxyRules writes them.
    public static func serviceRules(_ ports: [(port: ServicePortInfo, endpoints: [EndpointInfo])], _ s: ProxierSettings)
        -> ServiceRules
    {
        var r = ServiceRules()
        for (svc, endpoints) in ports { addPort(svc, endpoints, s, into: &r) }
        return r
    }

    static func addPort(
        _ svc: ServicePortInfo, _ endpoints: [EndpointInfo], _ s: ProxierSettings, into r: inout ServiceRules
    ) {
        let ipX = s.family.nft
        let proto = svc.name.proto
        let comment = svc.name.description
        let eps = CategorizedEndpoints(endpoints, for: svc)
        let clusterPolicyChain = clusterChain(svc.name)
        let localPolicyChain = localChain(svc.name)
        let usesClusterPolicyChain = !eps.cluster.isEmpty && svc.usesClusterEndpoints
        let usesLocalPolicyChain = !eps.local.isEmpty && svc.usesLocalEndpoints

        var internalPolicyChain = clusterPolicyChain
        var hasInternalEndpoints = eps.hasAny
        if svc.internalPolicyLocal {
            internalPolicyChain = localPolicyChain
            if eps.local.isEmpty { hasInternalEndpoints = false }
        }
        var externalPolicyChain = clusterPolicyChain
        var hasExternalEndpoints = eps.hasAny
        if svc.externalPolicyLocal {
            externalPolicyChain = localPolicyChain
            if eps.local.isEmpty { hasExternalEndpoints = false }
        }
        let externalTrafficChain = externalChain(svc.name)
        let usesExternalTrafficChain = eps.hasAny && svc.externallyAccessible

        // Services without endpoints are rejected; with endpoints elsewhere only, dropped.
        var internalVerdict = ""
        var externalVerdict = ""
        if !eps.hasAny {
            internalVerdict = "goto \(rejectChain)"
            externalVerdict = "goto \(rejectChain)"
        } else {
            if !hasInternalEndpoints {
                internalVerdict = "drop"
                r.noLocalEndpointsInternal += 1
            }
            if !hasExternalEndpoints {
                externalVerdict = "drop"
                r.noLocalEndpointsExternal += 1
            }
        }

        let portKey = "\(proto) . \(svc.port)"
        r.elements.append(NFTElement(clusterIPs, key: svc.clusterIP))
        if hasInternalEndpoints {
            r.elements.append(
                NFTElement(serviceIPs, key: "\(svc.clusterIP) . \(portKey)", value: "goto \(internalPolicyChain)"))
        } else {
            r.elements.append(
                NFTElement(
                    noEndpointServices, key: "\(svc.clusterIP) . \(portKey)", value: internalVerdict, comment: comment))
        }
        for ip in svc.externalIPs {
            if eps.hasAny {
                r.elements.append(
                    NFTElement(serviceIPs, key: "\(ip) . \(portKey)", value: "goto \(externalTrafficChain)"))
            }
            if !hasExternalEndpoints {
                r.elements.append(
                    NFTElement(noEndpointServices, key: "\(ip) . \(portKey)", value: externalVerdict, comment: comment))
            }
        }
        let usesFirewallChain = !svc.loadBalancerVIPs.isEmpty && !svc.loadBalancerSourceRanges.isEmpty
        let fwChain = firewallChain(svc.name)
        for ip in svc.loadBalancerVIPs {
            if eps.hasAny {
                r.elements.append(
                    NFTElement(serviceIPs, key: "\(ip) . \(portKey)", value: "goto \(externalTrafficChain)"))
            }
            if usesFirewallChain {
                r.elements.append(NFTElement(firewallIPs, key: "\(ip) . \(portKey)", value: "goto \(fwChain)"))
            }
            if !hasExternalEndpoints {
                r.elements.append(
                    NFTElement(noEndpointServices, key: "\(ip) . \(portKey)", value: externalVerdict, comment: comment))
            }
        }
        if svc.nodePort != 0 {
            if eps.hasAny {
                r.elements.append(
                    NFTElement(
                        serviceNodePorts, key: "\(proto) . \(svc.nodePort)", value: "goto \(externalTrafficChain)"))
            }
            if !hasExternalEndpoints {
                r.elements.append(
                    NFTElement(
                        noEndpointNodePorts, key: "\(proto) . \(svc.nodePort)", value: externalVerdict, comment: comment
                    ))
            }
        }

        // Chains, in upstream's order of writing.
        var chains: [String: NFTChain] = [:]
        var order: [String] = []
        func append(_ chain: String, _ rule: String) {
            if chains[chain] == nil {
                chains[chain] = NFTChain(chain)
                order.append(chain)
            }
            chains[chain]!.rules.append(rule)
        }
        func ensure(_ chain: String) {
            if chains[chain] == nil {
                chains[chain] = NFTChain(chain)
                order.append(chain)
            }
        }
        for ep in eps.allReachable { ensure(endpointChain(svc.name, ep)) }
        if usesClusterPolicyChain { ensure(clusterPolicyChain) }
        if usesLocalPolicyChain { ensure(localPolicyChain) }
        if usesExternalTrafficChain { ensure(externalTrafficChain) }
        if usesFirewallChain { ensure(fwChain) }

        // Internal traffic: masquerade what comes from outside the pod network (or everything).
        if hasInternalEndpoints {
            let dest = "\(ipX) daddr \(svc.clusterIP) \(proto) dport \(svc.port)"
            if s.masqueradeAll {
                append(internalPolicyChain, "\(dest) jump \(markMasq)")
            } else if let notLocal = s.ifNotLocal {
                append(internalPolicyChain, "\(dest) \(notLocal) jump \(markMasq)")
            }
        }
        // External traffic: masquerade for Cluster policy; keep the client IP for Local policy,
        // except for pod and host traffic, which short-circuits to the cluster-wide endpoints.
        if usesExternalTrafficChain {
            if !svc.externalPolicyLocal {
                append(externalTrafficChain, "jump \(markMasq)")
            } else {
                if let local = s.ifLocal {
                    append(
                        externalTrafficChain,
                        "\(local) goto \(clusterPolicyChain) comment \"short-circuit pod traffic\"")
                }
                append(
                    externalTrafficChain, "fib saddr type local jump \(markMasq) comment \"masquerade local traffic\"")
                append(
                    externalTrafficChain,
                    "fib saddr type local goto \(clusterPolicyChain) comment \"short-circuit local traffic\"")
            }
            if hasExternalEndpoints { append(externalTrafficChain, "goto \(externalPolicyChain)") }
        }
        if usesFirewallChain {
            var sources = svc.loadBalancerSourceRanges
            // A request from this node to a VIP held locally loops back with the VIP as source.
            if let node = s.nodeIP, sources.contains(where: { cidrContains($0, node) }) {
                sources += svc.loadBalancerVIPs
            }
            append(fwChain, "\(ipX) saddr != { \(sources.joined(separator: ", ")) } drop")
        }
        if let timeout = svc.stickyMaxAgeSeconds {
            for ep in eps.allReachable {
                r.sets.append(
                    NFTSet(
                        name: affinitySet(svc.name, ep), type: s.family.addressType, flags: ["dynamic", "timeout"],
                        timeoutSeconds: timeout))
            }
        }
        func loadBalance(_ chain: String, _ targets: [EndpointInfo]) {
            if svc.stickyMaxAgeSeconds != nil {
                for ep in targets {
                    append(chain, "\(ipX) saddr @\(affinitySet(svc.name, ep)) goto \(endpointChain(svc.name, ep))")
                }
            }
            let items = targets.enumerated().map { "\($0.offset) : goto \(endpointChain(svc.name, $0.element))" }
            append(chain, "numgen random mod \(targets.count) vmap { \(items.joined(separator: ", ")) }")
        }
        if usesClusterPolicyChain { loadBalance(clusterPolicyChain, eps.cluster) }
        if usesLocalPolicyChain { loadBalance(localPolicyChain, eps.local) }
        for ep in eps.allReachable {
            let chain = endpointChain(svc.name, ep)
            // Hairpin: a pod reaching itself through the Service is masqueraded.
            append(chain, "\(ipX) saddr \(ep.ip) jump \(markMasq)")
            if svc.stickyMaxAgeSeconds != nil {
                append(chain, "update @\(affinitySet(svc.name, ep)) { \(ipX) saddr }")
            }
            append(chain, "meta l4proto \(proto) dnat to \(ep.endpoint)")
        }
        r.chains += order.map { chains[$0]! }

        if proto == "udp" {
            r.udpPorts[svc.name.port] = UDPServicePort(
                serviceIPs: [svc.clusterIP] + svc.externalIPs + svc.loadBalancerVIPs, port: svc.port,
                nodePort: svc.nodePort, endpointIPs: eps.allReachable.map(\.ip))
        }
        if svc.healthCheckNodePort != 0 {
            r.healthCheck = HealthCheckPort(
                namespace: svc.name.namespace, name: svc.name.name, port: svc.healthCheckNodePort,
                localEndpoints: endpoints.filter { $0.isLocal && $0.ready }.count)
        }
    }
}
