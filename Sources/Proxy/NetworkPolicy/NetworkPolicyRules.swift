import APIMachinery
import APINetworking
import Crypto
import Foundation

/// Compiles `networking.k8s.io/v1` NetworkPolicies into one nftables table per family, as pure
/// functions of the policies, the pods, the namespaces and this node's name, so that every rule of
/// upstream's documented semantics can be checked without a kernel.
///
/// The table `k8swift-netpol` (family `ip` or `ip6`, beside kube-proxy's `kube-proxy`) has a base
/// chain on the forward hook, which sees pod-to-pod traffic on the node's bridge (br_netfilter's
/// `bridge-nf-call-iptables`, which kube-proxy sets) and traffic routed to and from other nodes:
/// replies of allowed connections pass, then `egress` checks the source and `ingress` the
/// destination. Only pods on this node are enforced (each node guards its own pods); traffic
/// from the node itself to its pods never crosses the forward hook, so it is always allowed.
/// Addresses live in named sets (the pods a policy selects here, the pods a peer selects anywhere,
/// the pods whose named port resolves to a number), so pods coming and going change elements only.
public enum NetworkPolicyRules {
    public static let table = "k8swift-netpol"
    public static let forward = "forward"
    public static let ingress = "ingress"
    public static let egress = "egress"
    /// After kube-proxy's `filter-forward` (-10): its rejections come first.
    public static let forwardPriority = 0
    /// This node's pods that some policy isolates for ingress (egress).
    public static let ingressIsolated = "ingress-isolated"
    public static let egressIsolated = "egress-isolated"
    /// `ip . ip` of each local pod: a pod reaching itself through a Service is never blocked.
    public static let localSelf = "local-self"

    /// The base chain's fixed rules.
    static func forwardRules(_ family: IPFamily) -> [String] {
        [
            "ct state established,related accept",
            "\(family.nft) saddr . \(family.nft) daddr @\(localSelf) accept",
            "jump \(egress)",
            "jump \(ingress)",
        ]
    }

    /// The policy types a policy has: its `policyTypes`, or when empty Ingress, plus Egress when
    /// it has egress rules (the API's defaulting).
    public static func policyTypes(_ p: NetworkingV1.NetworkPolicy) -> Set<String> {
        if !p.spec.policyTypes.isEmpty { return Set(p.spec.policyTypes) }
        return p.spec.egress.isEmpty ? ["Ingress"] : ["Ingress", "Egress"]
    }

    enum Direction {
        case ingress, egress
    }

    /// The whole table for one family.
    public static func compile(
        policies: [NetworkingV1.NetworkPolicy], pods: [PolicyPod], namespaces: [PolicyNamespace], nodeName: String,
        family: IPFamily
    ) -> NetworkPolicyRuleset {
        var c = Compiler(family: family, pods: pods, namespaces: namespaces, nodeName: nodeName)
        let sorted = policies.sorted {
            ($0.metadata.namespace, $0.metadata.name) < ($1.metadata.namespace, $1.metadata.name)
        }
        var ingressRules: [String] = []
        var egressRules: [String] = []
        for p in sorted {
            let types = policyTypes(p)
            let ns = p.metadata.namespace
            let selected = c.localPods.filter { $0.pod.namespace == ns && p.spec.podSelector.matches($0.pod.labels) }
            let targets = c.set(
                prefix: "local", key: "\(ns)|\(canonical(p.spec.podSelector))", type: family.addressType,
                elements: selected.flatMap(\.ips))
            let id = "\(ns)/\(p.metadata.name)"
            if types.contains("Ingress") {
                c.isolatedIngress.formUnion(selected.flatMap(\.ips))
                for (i, r) in p.spec.ingress.enumerated() {
                    ingressRules += c.rules(
                        .ingress, targets: targets, policyNamespace: ns, peers: r.from, ports: r.ports,
                        comment: "\(id) ingress \(i)")
                }
            }
            if types.contains("Egress") {
                c.isolatedEgress.formUnion(selected.flatMap(\.ips))
                for (i, r) in p.spec.egress.enumerated() {
                    egressRules += c.rules(
                        .egress, targets: targets, policyNamespace: ns, peers: r.to, ports: r.ports,
                        comment: "\(id) egress \(i)")
                }
            }
        }
        let f = family.nft
        var out = NetworkPolicyRuleset(family: family)
        out.chains = [
            NFTChain(egress, rules: ["\(f) saddr != @\(egressIsolated) return"] + egressRules + ["drop"]),
            NFTChain(ingress, rules: ["\(f) daddr != @\(ingressIsolated) return"] + ingressRules + ["drop"]),
        ]
        out.sets = c.sets
        out.elements = c.elements
        out.sets[ingressIsolated] = NFTSet(name: ingressIsolated, type: family.addressType)
        out.elements[ingressIsolated] = c.isolatedIngress
        out.sets[egressIsolated] = NFTSet(name: egressIsolated, type: family.addressType)
        out.elements[egressIsolated] = c.isolatedEgress
        out.sets[localSelf] = NFTSet(name: localSelf, type: "\(family.addressType) . \(family.addressType)")
        out.elements[localSelf] = Set(c.localPods.flatMap { $0.ips.map { "\($0) . \($0)" } })
        return out
    }

    /// Whether `text` is an address or CIDR of `family` that nft will take (a bad one would fail
    /// the whole transaction, every other policy with it).
    static func isCIDR(_ text: String, _ family: IPFamily) -> Bool {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2 else { return false }
        if parts.count == 2 {
            guard let bits = Int(parts[1]), bits >= 0, bits <= (family == .ipv4 ? 32 : 128) else { return false }
        }
        var buffer = [UInt8](repeating: 0, count: 16)
        return inet_pton(family == .ipv4 ? AF_INET : AF_INET6, String(parts[0]), &buffer) == 1
    }

    /// A selector as stable text (labels and expressions sorted), the identity of the set it fills.
    static func canonical(_ s: MetaV1.LabelSelector) -> String {
        let labels = s.matchLabels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        let exprs = s.matchExpressions.map { "\($0.key) \($0.operator) (\($0.values.sorted().joined(separator: ",")))" }
            .sorted()
        return (labels + exprs).joined(separator: ";")
    }

    /// A set name: a prefix and the first 16 hex digits of the SHA-256 of what it holds.
    static func setName(_ prefix: String, _ key: String) -> String {
        let digest = SHA256.hash(data: Data(key.utf8))
        return prefix + "-" + digest.prefix(8).map { String(format: "%02x", $0) }.joined()
    }

    /// The state of one compilation: pods of this family, sets made so far, isolated pods.
    struct Compiler {
        struct FamilyPod {
            var pod: PolicyPod
            var ips: [String]
        }

        var family: IPFamily
        var pods: [FamilyPod]
        var localPods: [FamilyPod]
        var namespaceLabels: [String: [String: String]]
        var sets: [String: NFTSet] = [:]
        var elements: [String: Set<String>] = [:]
        var isolatedIngress: Set<String> = []
        var isolatedEgress: Set<String> = []

        init(family: IPFamily, pods: [PolicyPod], namespaces: [PolicyNamespace], nodeName: String) {
            self.family = family
            self.pods = pods.compactMap { p in
                let ips = p.ips.filter { NetworkPolicyRules.isCIDR($0, family) && !$0.contains("/") }
                return p.hostNetwork || ips.isEmpty ? nil : FamilyPod(pod: p, ips: ips)
            }
            self.localPods = self.pods.filter { $0.pod.nodeName == nodeName }
            self.namespaceLabels = Dictionary(namespaces.map { ($0.name, $0.labels) }, uniquingKeysWith: { a, _ in a })
        }

        func labels(ofNamespace ns: String) -> [String: String] {
            namespaceLabels[ns] ?? [PolicyNamespace.nameLabel: ns]
        }

        /// The named set for `key`, made on first use.
        mutating func set(prefix: String, key: String, type: String, elements items: [String]) -> String {
            let name = NetworkPolicyRules.setName(prefix, key)
            if sets[name] == nil {
                sets[name] = NFTSet(name: name, type: type)
                elements[name] = Set(items)
            }
            return name
        }

        /// The nft rules of one ingress or egress rule of a policy: one per peer and port entry,
        /// each matching the selected pods, the peer, the port, and allowing (`return`: the other
        /// direction is checked next). A rule with no valid peer or port of this family matches
        /// nothing and yields no rule.
        mutating func rules(
            _ dir: Direction, targets: String, policyNamespace: String, peers: [NetworkingV1.NetworkPolicyPeer],
            ports: [NetworkingV1.NetworkPolicyPort], comment: String
        ) -> [String] {
            let f = family.nft
            let own = dir == .ingress ? "daddr" : "saddr"
            let other = dir == .ingress ? "saddr" : "daddr"
            var peerMatches: [String?] = []
            if peers.isEmpty { peerMatches = [nil] }
            for peer in peers {
                if let block = peer.ipBlock {
                    // A malformed block would fail the whole transaction: it matches nothing instead.
                    guard NetworkPolicyRules.isCIDR(block.cidr, family) else { continue }
                    var m = "\(f) \(other) \(block.cidr)"
                    let except = block.except.filter { NetworkPolicyRules.isCIDR($0, family) }
                    if !except.isEmpty { m += " \(f) \(other) != { \(except.joined(separator: ", ")) }" }
                    peerMatches.append(m)
                } else if peer.podSelector != nil || peer.namespaceSelector != nil {
                    let podSel = peer.podSelector ?? MetaV1.LabelSelector()
                    let members = pods.filter { p in
                        let nsOK: Bool
                        if let nsSel = peer.namespaceSelector {
                            nsOK = nsSel.matches(labels(ofNamespace: p.pod.namespace))
                        } else {
                            nsOK = p.pod.namespace == policyNamespace
                        }
                        return nsOK && podSel.matches(p.pod.labels)
                    }
                    let scope =
                        peer.namespaceSelector.map { "nsSelector:" + NetworkPolicyRules.canonical($0) }
                        ?? "ns:\(policyNamespace)"
                    let name = set(
                        prefix: "peer", key: "\(scope)|\(NetworkPolicyRules.canonical(podSel))",
                        type: family.addressType, elements: members.flatMap(\.ips))
                    peerMatches.append("\(f) \(other) @\(name)")
                }
            }
            var portMatches: [String?] = []
            if ports.isEmpty { portMatches = [nil] }
            for p in ports {
                let proto = (p.protocol ?? "TCP").uppercased()
                guard ["TCP", "UDP", "SCTP"].contains(proto) else { continue }
                let l4 = "meta l4proto \(proto.lowercased())"
                switch p.port {
                case nil:
                    portMatches.append(l4)
                case .int(let n):
                    if let end = p.endPort, end != n {
                        guard end > n else { continue }
                        portMatches.append("\(l4) th dport \(n)-\(end)")
                    } else {
                        portMatches.append("\(l4) th dport \(n)")
                    }
                case .string(let portName):
                    // Resolved on the destination pod: the pods with a container port of that
                    // name and protocol, as address . port pairs.
                    let items = pods.flatMap { fp in
                        fp.pod.ports.filter { $0.name == portName && $0.proto.uppercased() == proto }.flatMap { np in
                            fp.ips.map { "\($0) . \(np.port)" }
                        }
                    }
                    let name = set(
                        prefix: "port", key: "\(proto)|\(portName)", type: "\(family.addressType) . inet_service",
                        elements: items)
                    portMatches.append("\(l4) \(f) daddr . th dport @\(name)")
                }
            }
            var out: [String] = []
            for peer in peerMatches {
                for port in portMatches {
                    let parts = ["\(f) \(own) @\(targets)", peer, port].compactMap { $0 }
                    out.append(parts.joined(separator: " ") + " return comment \"\(comment)\"")
                }
            }
            return out
        }
    }
}
