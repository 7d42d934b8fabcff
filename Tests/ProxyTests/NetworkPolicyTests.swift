import APIMachinery
import APINetworking
import Testing

@testable import Proxy

/// The NetworkPolicy compiler against upstream's documented semantics
/// (kubernetes.io/docs/concepts/services-networking/network-policies): each case names the rule
/// it reflects and says which packets pass. Packets are judged by `PolicyPacketJudge`, a small
/// reader of the rule forms the compiler writes (the kernel test checks nft reads them alike).
@Suite("NetworkPolicy compilation")
struct NetworkPolicyTests {
    static let node = "node-1"

    static let namespaces = [
        PolicyNamespace(name: "prod", labels: ["team": "prod"]),
        PolicyNamespace(name: "dev", labels: ["team": "dev"]),
    ]

    static let pods = [
        PolicyPod(
            namespace: "prod", name: "db", ips: ["10.42.0.10"], labels: ["app": "db"], nodeName: node,
            ports: [.init("postgres", 5432), .init("metrics", 9100)]),
        PolicyPod(namespace: "prod", name: "web", ips: ["10.42.0.11"], labels: ["app": "web"], nodeName: node),
        PolicyPod(namespace: "dev", name: "devweb", ips: ["10.42.0.20"], labels: ["app": "web"], nodeName: node),
        PolicyPod(namespace: "dev", name: "devjob", ips: ["10.42.0.21"], labels: ["app": "job"], nodeName: node),
        PolicyPod(
            namespace: "prod", name: "remoteweb", ips: ["10.42.1.30"], labels: ["app": "web"], nodeName: "node-2"),
        PolicyPod(
            namespace: "prod", name: "remotedb", ips: ["10.42.1.31"], labels: ["app": "db"], nodeName: "node-2",
            ports: [.init("postgres", 6432)]),
        PolicyPod(
            namespace: "prod", name: "hostpod", ips: ["192.168.0.2"], labels: ["app": "db"], nodeName: node,
            hostNetwork: true),
    ]

    static let db = "10.42.0.10"
    static let web = "10.42.0.11"
    static let devweb = "10.42.0.20"
    static let devjob = "10.42.0.21"
    static let remoteweb = "10.42.1.30"
    static let remotedb = "10.42.1.31"
    static let hostpod = "192.168.0.2"

    // MARK: building policies

    static func sel(_ labels: [String: String]) -> MetaV1.LabelSelector {
        var s = MetaV1.LabelSelector()
        s.matchLabels = labels
        return s
    }

    static func policy(
        _ ns: String = "prod", name: String = "p", select: [String: String] = [:], types: [String] = [],
        ingress: [NetworkingV1.NetworkPolicyIngressRule] = [], egress: [NetworkingV1.NetworkPolicyEgressRule] = []
    ) -> NetworkingV1.NetworkPolicy {
        var p = NetworkingV1.NetworkPolicy()
        p.metadata.namespace = ns
        p.metadata.name = name
        p.spec.podSelector = sel(select)
        p.spec.policyTypes = types
        p.spec.ingress = ingress
        p.spec.egress = egress
        return p
    }

    static func pods(_ labels: [String: String]) -> NetworkingV1.NetworkPolicyPeer {
        NetworkingV1.NetworkPolicyPeer(podSelector: sel(labels))
    }
    static func namespaces(_ labels: [String: String]) -> NetworkingV1.NetworkPolicyPeer {
        NetworkingV1.NetworkPolicyPeer(namespaceSelector: sel(labels))
    }
    static func block(_ cidr: String, except: [String] = []) -> NetworkingV1.NetworkPolicyPeer {
        NetworkingV1.NetworkPolicyPeer(ipBlock: NetworkingV1.IPBlock(cidr: cidr, except: except))
    }
    static func port(_ p: IntOrString?, _ proto: String? = nil, end: Int32? = nil) -> NetworkingV1.NetworkPolicyPort {
        NetworkingV1.NetworkPolicyPort(protocol: proto, port: p, endPort: end)
    }
    static func from(_ peers: [NetworkingV1.NetworkPolicyPeer], ports: [NetworkingV1.NetworkPolicyPort] = [])
        -> NetworkingV1.NetworkPolicyIngressRule
    {
        NetworkingV1.NetworkPolicyIngressRule(ports: ports, from: peers)
    }
    static func to(_ peers: [NetworkingV1.NetworkPolicyPeer], ports: [NetworkingV1.NetworkPolicyPort] = [])
        -> NetworkingV1.NetworkPolicyEgressRule
    {
        NetworkingV1.NetworkPolicyEgressRule(ports: ports, to: peers)
    }

    static func compile(_ policies: [NetworkingV1.NetworkPolicy], pods: [PolicyPod] = Self.pods) -> NetworkPolicyRuleset
    {
        NetworkPolicyRules.compile(
            policies: policies, pods: pods, namespaces: namespaces, nodeName: node, family: .ipv4)
    }

    // MARK: the table of cases

    struct Case: CustomTestStringConvertible, Sendable {
        var rule: String
        var policies: [NetworkingV1.NetworkPolicy]
        var allowed: [PolicyPacket]
        var denied: [PolicyPacket]
        var testDescription: String { rule }
    }

    typealias P = PolicyPacket

    static let cases: [Case] = [
        Case(
            rule: "pods no policy selects are non-isolated: all traffic passes",
            policies: [],
            allowed: [P(devweb, db), P(web, db, proto: "udp", port: 53), P("203.0.113.7", db), P(db, "203.0.113.7")],
            denied: []),
        Case(
            rule: "default deny ingress (empty podSelector, Ingress, no rules) isolates every pod of the namespace",
            policies: [policy(types: ["Ingress"])],
            allowed: [P(db, devweb), P(db, "203.0.113.7"), P(devweb, devjob)],
            denied: [P(web, db), P(devweb, db), P(devweb, web), P("203.0.113.7", db), P(devweb, db, proto: "icmp")]),
        Case(
            rule: "a pod can always reach itself (also through a Service)",
            policies: [policy(types: ["Ingress", "Egress"])],
            allowed: [P(db, db)],
            denied: [P(db, web)]),
        Case(
            rule: "only this node's pods are enforced here; pods on other nodes are their node's concern",
            policies: [policy(types: ["Ingress"])],
            allowed: [P(devweb, remotedb), P(devweb, remoteweb)],
            denied: [P(devweb, db)]),
        Case(
            rule: "hostNetwork pods are not selected by policies",
            policies: [policy(types: ["Ingress"])],
            allowed: [P(devweb, hostpod)],
            denied: []),
        Case(
            rule: "podSelector alone selects pods in the policy's namespace, on any node",
            policies: [policy(select: ["app": "db"], ingress: [from([pods(["app": "web"])])])],
            allowed: [P(web, db), P(remoteweb, db)],
            denied: [P(devweb, db), P(devjob, db)]),
        Case(
            rule: "namespaceSelector alone selects every pod of the matching namespaces",
            policies: [policy(select: ["app": "db"], ingress: [from([namespaces(["team": "dev"])])])],
            allowed: [P(devweb, db), P(devjob, db)],
            denied: [P(web, db), P(remoteweb, db)]),
        Case(
            rule: "namespaceSelector and podSelector in one peer: pods matching both (AND)",
            policies: [
                policy(
                    select: ["app": "db"],
                    ingress: [
                        from([
                            NetworkingV1.NetworkPolicyPeer(
                                podSelector: sel(["app": "web"]), namespaceSelector: sel(["team": "dev"]))
                        ])
                    ])
            ],
            allowed: [P(devweb, db)],
            denied: [P(devjob, db), P(web, db)]),
        Case(
            rule: "two peers in one from list: either one (OR)",
            policies: [
                policy(select: ["app": "db"], ingress: [from([namespaces(["team": "dev"]), pods(["app": "web"])])])
            ],
            allowed: [P(devweb, db), P(devjob, db), P(web, db)],
            denied: [P("203.0.113.7", db)]),
        Case(
            rule: "the kubernetes.io/metadata.name label selects a namespace by name",
            policies: [
                policy(select: ["app": "db"], ingress: [from([namespaces([PolicyNamespace.nameLabel: "dev"])])])
            ],
            allowed: [P(devweb, db)],
            denied: [P(web, db)]),
        Case(
            rule: "ipBlock allows its CIDR except the except ranges",
            policies: [
                policy(
                    select: ["app": "db"], ingress: [from([block("192.168.0.0/16", except: ["192.168.5.0/24"])])])
            ],
            allowed: [P("192.168.1.1", db), P("192.168.255.9", db)],
            denied: [P("192.168.5.5", db), P("203.0.113.7", db), P(web, db)]),
        Case(
            rule: "a numeric port with no protocol is TCP",
            policies: [policy(select: ["app": "db"], ingress: [from([], ports: [port(5432)])])],
            allowed: [P(web, db, port: 5432), P("203.0.113.7", db, port: 5432)],
            denied: [P(web, db, port: 80), P(web, db, proto: "udp", port: 5432), P(web, db, proto: "icmp")]),
        Case(
            rule: "UDP and SCTP ports",
            policies: [
                policy(select: ["app": "db"], ingress: [from([], ports: [port(53, "UDP"), port(9999, "SCTP")])])
            ],
            allowed: [P(web, db, proto: "udp", port: 53), P(web, db, proto: "sctp", port: 9999)],
            denied: [P(web, db, port: 53), P(web, db, proto: "udp", port: 9999)]),
        Case(
            rule: "endPort: the range port..endPort, both ends included",
            policies: [policy(select: ["app": "db"], ingress: [from([], ports: [port(32000, end: 32768)])])],
            allowed: [P(web, db, port: 32000), P(web, db, port: 32500), P(web, db, port: 32768)],
            denied: [P(web, db, port: 31999), P(web, db, port: 32769)]),
        Case(
            rule: "a protocol with no port: every port of that protocol",
            policies: [policy(select: ["app": "db"], ingress: [from([], ports: [port(nil, "UDP")])])],
            allowed: [P(web, db, proto: "udp", port: 1234), P(web, db, proto: "udp", port: 53)],
            denied: [P(web, db, port: 1234)]),
        Case(
            rule: "a named port resolves against the destination pod's container ports",
            policies: [
                policy(
                    select: [:],
                    ingress: [from([], ports: [port("postgres")])])
            ],
            allowed: [P(devweb, db, port: 5432)],
            denied: [P(devweb, db, port: 9100), P(devweb, web, port: 5432), P(devweb, db, port: 6432)]),
        Case(
            rule: "an ingress rule with an empty from list allows every source",
            policies: [policy(select: ["app": "db"], ingress: [from([])])],
            allowed: [P(web, db), P(devweb, db), P("203.0.113.7", db, proto: "udp", port: 9)],
            denied: []),
        Case(
            rule: "policies are additive: the union of all rules of all policies selecting the pod",
            policies: [
                policy(name: "a", select: ["app": "db"], ingress: [from([pods(["app": "web"])])]),
                policy(name: "b", select: [:], ingress: [from([namespaces(["team": "dev"])], ports: [port(5432)])]),
            ],
            allowed: [P(web, db), P(devweb, db, port: 5432), P(devweb, web, port: 5432)],
            denied: [P(devweb, db, port: 80), P(devjob, web)]),
        Case(
            rule: "default deny egress: selected pods send nothing; their ingress stays open",
            policies: [policy(types: ["Egress"])],
            allowed: [P(devweb, db), P("203.0.113.7", web)],
            denied: [P(db, devweb), P(db, "203.0.113.7"), P(web, "10.96.0.10", proto: "udp", port: 53)]),
        Case(
            rule: "egress to an ipBlock",
            policies: [policy(select: ["app": "db"], types: ["Egress"], egress: [to([block("203.0.113.0/24")])])],
            allowed: [P(db, "203.0.113.7"), P(web, "192.168.5.5")],
            denied: [P(db, "192.168.5.5"), P(db, web)]),
        Case(
            rule: "egress to pods: named port resolved on the destination pod",
            policies: [
                policy(
                    select: ["app": "web"], types: ["Egress"],
                    egress: [to([pods(["app": "db"])], ports: [port("postgres")])])
            ],
            allowed: [P(web, db, port: 5432), P(web, remotedb, port: 6432)],
            denied: [P(web, db, port: 6432), P(web, remotedb, port: 5432), P(web, db, port: 80)]),
        Case(
            rule: "policyTypes unset with egress rules: Ingress and Egress",
            policies: [policy(select: ["app": "db"], egress: [to([pods(["app": "web"])])])],
            allowed: [P(db, web)],
            denied: [P(web, db), P(db, devweb)]),
        Case(
            rule: "a connection needs the source's egress and the destination's ingress to allow it",
            policies: [
                policy(name: "web-out", select: ["app": "web"], types: ["Egress"], egress: [to([pods(["app": "db"])])]),
                policy(name: "db-in", select: ["app": "db"], ingress: [from([namespaces(["team": "dev"])])]),
            ],
            allowed: [P(devweb, db)],
            denied: [P(web, db), P(web, devweb)]),
        Case(
            rule: "a peer policy of another namespace does not select this namespace's pods",
            policies: [policy("dev", select: [:], types: ["Ingress"])],
            allowed: [P(devweb, db), P(web, db)],
            denied: [P(db, devweb)]),
        Case(
            rule: "rules without ports allow every protocol, ICMP included (undefined upstream; our choice)",
            policies: [policy(select: ["app": "db"], ingress: [from([pods(["app": "web"])])])],
            allowed: [P(web, db, proto: "icmp")],
            denied: [P(devweb, db, proto: "icmp")]),
    ]

    @Test("documented rule", arguments: cases)
    func semantics(_ c: Case) throws {
        let rs = Self.compile(c.policies)
        for p in c.allowed {
            #expect(try PolicyPacketJudge.allows(rs, p), "\(c.rule): \(p) should pass")
        }
        for p in c.denied {
            #expect(try !PolicyPacketJudge.allows(rs, p), "\(c.rule): \(p) should be dropped")
        }
    }

    // MARK: incremental updates

    static let allowWeb = policy(
        select: ["app": "db"], ingress: [from([pods(["app": "web"])], ports: [port("postgres")])])

    @Test("a pod arriving, leaving or changing labels changes set elements only, no rule")
    func podsChangeElementsOnly() {
        let before = Self.compile([Self.allowWeb])
        var morePods = Self.pods
        morePods.append(
            PolicyPod(
                namespace: "prod", name: "web2", ips: ["10.42.0.12"], labels: ["app": "web"], nodeName: Self.node,
                ports: [.init("postgres", 5433)]))
        morePods.removeAll { $0.name == "remoteweb" }
        if let i = morePods.firstIndex(where: { $0.name == "devweb" }) { morePods[i].labels = ["app": "db"] }
        let after = Self.compile([Self.allowWeb], pods: morePods)
        let plan = before.planUpdate(to: after).split(separator: "\n").map(String.init)
        #expect(!plan.isEmpty)
        for line in plan {
            #expect(line.hasPrefix("add element ") || line.hasPrefix("delete element "), "\(line)")
        }
        let peerSet = try? #require(after.sets.keys.first { $0.hasPrefix("peer-") })
        #expect(plan.contains("add element ip k8swift-netpol \(peerSet ?? "") { 10.42.0.12 }"))
        #expect(plan.contains("delete element ip k8swift-netpol \(peerSet ?? "") { 10.42.1.30 }"))
        #expect(plan.contains { $0.contains(NetworkPolicyRules.localSelf) && $0.contains("10.42.0.12 . 10.42.0.12") })
        #expect(plan.contains { $0.hasPrefix("add element") && $0.contains("10.42.0.12 . 5433") })
        // devweb is now an app=db pod of dev: not selected by a prod policy, so nothing isolates it.
        #expect(!plan.contains { $0.contains("10.42.0.20") && $0.contains(NetworkPolicyRules.ingressIsolated) })
        #expect(before.planUpdate(to: before) == "", "no change, no transaction")
    }

    @Test("a policy change rewrites the direction's chain, adds new sets first and deletes unused ones last")
    func policyChange() {
        let before = Self.compile([Self.allowWeb])
        let changed = Self.policy(select: ["app": "db"], ingress: [Self.from([Self.namespaces(["team": "dev"])])])
        let after = Self.compile([changed])
        let plan = before.planUpdate(to: after).split(separator: "\n").map(String.init)
        let flush = plan.firstIndex(of: "flush chain ip k8swift-netpol ingress")
        #expect(flush != nil)
        #expect(!plan.contains("flush chain ip k8swift-netpol egress"), "egress rules did not change")
        let newSet = after.sets.keys.first { before.sets[$0] == nil }
        let goneSets = before.sets.keys.filter { after.sets[$0] == nil }
        #expect(newSet != nil && goneSets.count == 2, "peer set replaced, named-port set unused")
        let addSet = plan.firstIndex { $0.hasPrefix("add set ip k8swift-netpol \(newSet ?? "?")") }
        let firstRule = plan.firstIndex { $0.hasPrefix("add rule ip k8swift-netpol ingress") }
        let deleteSets = plan.indices.filter { plan[$0].hasPrefix("delete set ") }
        #expect(addSet != nil && firstRule != nil && addSet! < firstRule!)
        #expect(deleteSets.count == 2 && deleteSets.allSatisfy { $0 > flush! })
    }

    @Test("a full transaction replaces any table of ours atomically and hooks forward after kube-proxy")
    func full() {
        let rs = Self.compile([Self.allowWeb])
        let lines = rs.planFull().split(separator: "\n").map(String.init)
        #expect(
            Array(lines.prefix(3)) == [
                "add table ip k8swift-netpol", "delete table ip k8swift-netpol", "add table ip k8swift-netpol",
            ])
        #expect(
            lines.contains(
                "add chain ip k8swift-netpol forward { type filter hook forward priority 0 ; policy accept ; }"))
        #expect(lines.contains("add rule ip k8swift-netpol forward ct state established,related accept"))
        #expect(NetworkPolicyRules.table != ProxyRules.table)
        #expect(
            NetworkPolicyRuleset.planCleanup(family: .ipv4)
                == "add table ip k8swift-netpol\ndelete table ip k8swift-netpol\n")
    }

    @Test("sets are shared by equal selectors and rules keep their order across compilations")
    func deterministic() {
        let a = Self.policy(name: "a", select: ["app": "db"], ingress: [Self.from([Self.pods(["app": "web"])])])
        let b = Self.policy(name: "b", select: ["app": "db"], ingress: [Self.from([Self.pods(["app": "web"])])])
        let one = Self.compile([a, b])
        let two = Self.compile([b, a])
        #expect(one == two)
        #expect(one.sets.keys.filter { $0.hasPrefix("peer-") }.count == 1)
    }

    @Test("an IPv6 table leaves IPv4 pods and blocks out")
    func families() throws {
        var pods = Self.pods
        pods[0].ips.append("fd00::10")
        let p = Self.policy(select: ["app": "db"], ingress: [Self.from([Self.block("10.0.0.0/8")])])
        let rs = NetworkPolicyRules.compile(
            policies: [p], pods: pods, namespaces: Self.namespaces, nodeName: Self.node, family: .ipv6)
        #expect(rs.elements[NetworkPolicyRules.ingressIsolated] == ["fd00::10"])
        #expect(
            rs.chain("ingress") == ["ip6 daddr != @ingress-isolated return", "drop"],
            "the IPv4 block allows nothing here")
        #expect(try !PolicyPacketJudge.allows(rs, P("fd00::99", "fd00::10")))
    }
}

extension NetworkPolicyTests {
    @Test("malformed blocks and addresses match nothing instead of failing the transaction")
    func malformed() throws {
        var pods = Self.pods
        pods.append(
            PolicyPod(namespace: "prod", name: "bad", ips: ["10.42.0.300"], labels: ["app": "db"], nodeName: Self.node))
        let p = Self.policy(
            select: ["app": "db"],
            ingress: [
                Self.from([
                    Self.block("10.0.0.0/33"), Self.block("bogus"), Self.block("192.168.0.0/16", except: ["x/8"]),
                ])
            ])
        let rs = Self.compile([p], pods: pods)
        #expect(rs.chain("ingress")?.count == 3, "only the well-formed block makes a rule")
        #expect(try PolicyPacketJudge.allows(rs, P("192.168.1.1", Self.db)))
        #expect(try !PolicyPacketJudge.allows(rs, P("10.1.1.1", Self.db)))
        #expect(!rs.elements.values.contains { $0.contains { $0.contains("10.42.0.300") } })
    }
}
