import APICore
import APIDiscovery
import Testing

@testable import Proxy

/// Rule generation compared with what upstream's nftables proxier writes for each feature
/// (pkg/proxy/nftables: setupNFTables, syncProxyRules, writeServiceToEndpointRules).
@Suite("nftables rules")
struct ProxyRulesTests {
    typealias F = Fixture

    @Test("chain names are upstream's base32 SHA-256 prefix and namespace/name/protocol/port")
    func chainNames() {
        // The examples in upstream's servicePortChainNameBase / servicePortEndpointChainNameBase docs.
        #expect(ProxyRules.chainNameBase(F.name("ns1", "svc1")) == "ULMVA6XW-ns1/svc1/tcp/p80")
        #expect(
            ProxyRules.endpointChainNameBase(F.name("ns1", "svc1"), F.ep("10.180.0.1"))
                == "5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80")
        #expect(ProxyRules.clusterChain(F.name("ns1", "svc1")).hasPrefix("service-ULMVA6XW-"))
        #expect(ProxyRules.isServiceChain("endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80"))
        #expect(!ProxyRules.isServiceChain("services"))
    }

    @Test("the fixed setup: base chains before and after DNAT, jumps, masquerading, dispatch maps")
    func setup() {
        let lines = ProxyRules.setup(F.settings, recreateBaseChains: true)
        let text = lines.joined(separator: "\n")
        // nftablesBaseChains: filter chains at dstnat-10, the post-DNAT output check at dstnat+10.
        #expect(lines.contains("add chain ip kube-proxy filter-input { type filter hook input priority -110 ; }"))
        #expect(
            lines.contains("add chain ip kube-proxy filter-output-post-dnat { type filter hook output priority -90 ; }")
        )
        #expect(lines.contains("add chain ip kube-proxy nat-output { type nat hook output priority -100 ; }"))
        #expect(lines.contains("add chain ip kube-proxy nat-postrouting { type nat hook postrouting priority 100 ; }"))
        // nftablesJumpChains.
        #expect(lines.contains("add rule ip kube-proxy filter-input ct state new jump nodeport-endpoints-check"))
        #expect(lines.contains("add rule ip kube-proxy filter-forward ct state new jump service-endpoints-check"))
        #expect(lines.contains("add rule ip kube-proxy nat-prerouting jump services"))
        #expect(lines.contains("add rule ip kube-proxy nat-postrouting jump masquerading"))
        #expect(lines.contains("add rule ip kube-proxy filter-output-post-dnat ct state new jump cluster-ips-check"))
        // Masquerade mark (bit 14, `%#08x`) and the masquerading chain.
        #expect(lines.contains("add rule ip kube-proxy mark-for-masquerade mark set mark or 0x004000"))
        #expect(lines.contains("add rule ip kube-proxy masquerading mark and 0x004000 == 0 return"))
        #expect(lines.contains("add rule ip kube-proxy masquerading mark set mark xor 0x004000"))
        #expect(lines.contains("add rule ip kube-proxy masquerading masquerade fully-random"))
        // Dispatch: service IPs by vmap, NodePorts only on the nodeport-ips addresses.
        #expect(lines.contains("add rule ip kube-proxy services ip daddr . meta l4proto . th dport vmap @service-ips"))
        #expect(
            lines.contains(
                "add rule ip kube-proxy services ip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports"
            ))
        #expect(lines.contains("add element ip kube-proxy nodeport-ips { 192.168.0.2 }"))
        #expect(lines.contains("add rule ip kube-proxy reject-chain reject"))
        #expect(text.contains("ip daddr @cluster-ips reject"))
        #expect(text.contains("ip daddr { 10.96.0.0/12 } drop"))
        // Base chains are deleted and re-made once, so changed hooks apply.
        #expect(
            lines.firstIndex(of: "delete chain ip kube-proxy nat-output")! < lines.firstIndex(
                of: "add chain ip kube-proxy nat-output { type nat hook output priority -100 ; }")!)

        var all = F.settings
        all.nodePortAddresses = .all
        let allLines = ProxyRules.setup(all, recreateBaseChains: false)
        // MatchAll: every local address but loopback, and no nodeport-ips set.
        #expect(
            allLines.contains(
                "add rule ip kube-proxy services fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @service-nodeports"
            ))
        #expect(allLines.contains("delete set ip kube-proxy nodeport-ips"))
        #expect(!allLines.contains { $0.hasPrefix("delete chain") })

        var v6 = ProxierSettings(family: .ipv6)
        v6.nodePortAddresses = .all
        let v6Lines = ProxyRules.setup(v6, recreateBaseChains: false)
        #expect(
            v6Lines.contains("add rule ip6 kube-proxy services ip6 daddr . meta l4proto . th dport vmap @service-ips"))
        #expect(v6Lines.contains { $0.contains("ip6 daddr != ::1") })
    }

    @Test("ClusterIP: service-ips element to the service chain, masquerade from outside the pod CIDR, random endpoint")
    func clusterIP() {
        let svc = F.service("ns1", "svc1", ip: "172.30.0.41")
        let r = F.rules(svc, [F.slice("ns1", "svc1", [.init(ip: "10.180.0.1"), .init(ip: "10.180.0.2")])])
        let n = F.name("ns1", "svc1")
        let ep1 = ProxyRules.endpointChain(n, F.ep("10.180.0.1"))
        let ep2 = ProxyRules.endpointChain(n, F.ep("10.180.0.2"))
        #expect(r.elements(in: "cluster-ips") == ["172.30.0.41"])
        #expect(r.elements(in: "service-ips") == ["172.30.0.41 . tcp . 80 : goto \(ProxyRules.clusterChain(n))"])
        #expect(r.elements(in: "no-endpoint-services").isEmpty)
        #expect(
            r.chain(ProxyRules.clusterChain(n)) == [
                "ip daddr 172.30.0.41 tcp dport 80 ip saddr != 10.42.0.0/16 jump mark-for-masquerade",
                "numgen random mod 2 vmap { 0 : goto \(ep1), 1 : goto \(ep2) }",
            ])
        // Hairpin masquerade, then DNAT.
        #expect(
            r.chain(ep1) == [
                "ip saddr 10.180.0.1 jump mark-for-masquerade", "meta l4proto tcp dnat to 10.180.0.1:80",
            ])
        #expect(r.chain(ProxyRules.externalChain(n)) == nil, "not externally accessible: no external chain")

        var all = F.settings
        all.masqueradeAll = true
        let masq = F.rules(svc, [F.slice("ns1", "svc1", [.init(ip: "10.180.0.1")])], settings: all)
        #expect(
            masq.chain(ProxyRules.clusterChain(n))?.first
                == "ip daddr 172.30.0.41 tcp dport 80 jump mark-for-masquerade")
        var noCIDR = F.settings
        noCIDR.clusterCIDRs = []
        let plain = F.rules(svc, [F.slice("ns1", "svc1", [.init(ip: "10.180.0.1")])], settings: noCIDR)
        #expect(plain.chain(ProxyRules.clusterChain(n))?.count == 1, "no local detector: no masquerade rule")
    }

    @Test("a Service without endpoints is rejected through no-endpoint-services and gets no chains")
    func noEndpoints() {
        let svc = F.service("ns1", "svc1", ip: "172.30.0.41", type: "NodePort", nodePort: 3001) {
            $0.spec.externalIPs = ["192.168.99.11"]
        }
        let r = F.rules(svc, [])
        #expect(r.chains.isEmpty)
        #expect(r.elements(in: "cluster-ips") == ["172.30.0.41"])
        #expect(r.elements(in: "service-ips").isEmpty)
        #expect(
            r.elements(in: "no-endpoint-services") == [
                "172.30.0.41 . tcp . 80 : goto reject-chain", "192.168.99.11 . tcp . 80 : goto reject-chain",
            ])
        #expect(r.elements(in: "no-endpoint-nodeports") == ["tcp . 3001 : goto reject-chain"])
        #expect(r.elements.first { $0.container == "no-endpoint-services" }?.comment == "ns1/svc1:p80")
        // Endpoints that are neither ready nor serving-and-terminating do not count.
        let notReady = F.rules(svc, [F.slice("ns1", "svc1", [.init(ip: "10.180.0.1", ready: false)])])
        #expect(notReady.chains.isEmpty)
    }

    @Test("NodePort and ExternalIP with Cluster policy: external chain masquerades then goes to the service chain")
    func nodePortCluster() {
        let svc = F.service("ns1", "svc1", ip: "172.30.0.41", type: "NodePort", nodePort: 3001) {
            $0.spec.externalIPs = ["192.168.99.11"]
        }
        let r = F.rules(svc, [F.slice("ns1", "svc1", [.init(ip: "10.180.0.1")])])
        let n = F.name("ns1", "svc1")
        let ext = ProxyRules.externalChain(n)
        #expect(r.elements(in: "service-nodeports") == ["tcp . 3001 : goto \(ext)"])
        #expect(r.elements(in: "service-ips").contains("192.168.99.11 . tcp . 80 : goto \(ext)"))
        #expect(r.chain(ext) == ["jump mark-for-masquerade", "goto \(ProxyRules.clusterChain(n))"])
    }

    @Test("LoadBalancer: ingress IPs to the external chain; source ranges through firewall-ips")
    func loadBalancer() {
        let svc = F.service("ns1", "svc1", ip: "172.30.0.41", type: "LoadBalancer", nodePort: 3001) {
            $0.spec.loadBalancerSourceRanges = ["203.0.113.0/25"]
            var ing = CoreV1.LoadBalancerIngress()
            ing.ip = "1.2.3.4"
            $0.status.loadBalancer.ingress = [ing]
        }
        let r = F.rules(svc, [F.slice("ns1", "svc1", [.init(ip: "10.180.0.1")])])
        let n = F.name("ns1", "svc1")
        #expect(r.elements(in: "service-ips").contains("1.2.3.4 . tcp . 80 : goto \(ProxyRules.externalChain(n))"))
        #expect(r.elements(in: "firewall-ips") == ["1.2.3.4 . tcp . 80 : goto \(ProxyRules.firewallChain(n))"])
        #expect(r.chain(ProxyRules.firewallChain(n)) == ["ip saddr != { 203.0.113.0/25 } drop"])

        // A source range holding the node's IP admits the VIP itself (requests looping back).
        var s = F.settings
        s.nodeIP = "203.0.113.5"
        let fromNode = F.rules(svc, [F.slice("ns1", "svc1", [.init(ip: "10.180.0.1")])], settings: s)
        #expect(fromNode.chain(ProxyRules.firewallChain(n)) == ["ip saddr != { 203.0.113.0/25, 1.2.3.4 } drop"])
        // ipMode Proxy: the load balancer proxies, the node must not capture the VIP.
        var proxied = svc
        proxied.status.loadBalancer.ingress[0].ipMode = "Proxy"
        #expect(ServicePortInfo.ports(of: proxied, family: .ipv4)[0].loadBalancerVIPs.isEmpty)
    }

    @Test("externalTrafficPolicy Local: short-circuit pod and host traffic, else only local endpoints")
    func externalLocal() {
        let svc = F.service("ns1", "svc1", ip: "172.30.0.41", type: "LoadBalancer", nodePort: 3001) {
            $0.spec.externalTrafficPolicy = "Local"
            $0.spec.healthCheckNodePort = 30000
        }
        let slices = [
            F.slice(
                "ns1", "svc1", [.init(ip: "10.180.0.1", node: F.node), .init(ip: "10.180.2.1", node: "other-node")])
        ]
        let r = F.rules(svc, slices)
        let n = F.name("ns1", "svc1")
        let ext = ProxyRules.externalChain(n)
        let local = ProxyRules.localChain(n)
        #expect(
            r.chain(ext) == [
                "ip saddr 10.42.0.0/16 goto \(ProxyRules.clusterChain(n)) comment \"short-circuit pod traffic\"",
                "fib saddr type local jump mark-for-masquerade comment \"masquerade local traffic\"",
                "fib saddr type local goto \(ProxyRules.clusterChain(n)) comment \"short-circuit local traffic\"",
                "goto \(local)",
            ])
        // The local chain balances over this node's endpoint only; internal traffic uses both.
        #expect(
            r.chain(local) == [
                "numgen random mod 1 vmap { 0 : goto \(ProxyRules.endpointChain(n, F.ep("10.180.0.1"))) }"
            ])
        #expect(r.chain(ProxyRules.clusterChain(n))?.last?.hasPrefix("numgen random mod 2 ") == true)
        #expect(r.healthCheck == HealthCheckPort(namespace: "ns1", name: "svc1", port: 30000, localEndpoints: 1))

        // No local endpoint: external traffic from outside is dropped, the external chain keeps
        // only the short-circuits, and the health check reports 0.
        let remote = F.rules(svc, [F.slice("ns1", "svc1", [.init(ip: "10.180.2.1", node: "other-node")])])
        #expect(remote.chain(ext)?.count == 3)
        #expect(remote.chain(local) == nil)
        #expect(remote.elements(in: "no-endpoint-nodeports") == ["tcp . 3001 : drop"])
        #expect(remote.elements(in: "service-nodeports") == ["tcp . 3001 : goto \(ext)"])
        #expect(remote.healthCheck?.localEndpoints == 0)
        #expect(remote.noLocalEndpointsExternal == 1)
    }

    @Test("internalTrafficPolicy Local: ClusterIP to local endpoints only, dropped when there are none here")
    func internalLocal() {
        let svc = F.service("ns1", "svc1", ip: "172.30.0.41") { $0.spec.internalTrafficPolicy = "Local" }
        let n = F.name("ns1", "svc1")
        let both = F.rules(
            svc,
            [F.slice("ns1", "svc1", [.init(ip: "10.180.0.1", node: F.node), .init(ip: "10.180.2.1", node: "other")])])
        #expect(both.elements(in: "service-ips") == ["172.30.0.41 . tcp . 80 : goto \(ProxyRules.localChain(n))"])
        #expect(both.chain(ProxyRules.clusterChain(n)) == nil)
        #expect(both.chain(ProxyRules.localChain(n))?.last?.hasPrefix("numgen random mod 1 ") == true)
        let none = F.rules(svc, [F.slice("ns1", "svc1", [.init(ip: "10.180.2.1", node: "other")])])
        #expect(none.elements(in: "no-endpoint-services") == ["172.30.0.41 . tcp . 80 : drop"])
        #expect(none.chains.isEmpty)
    }

    @Test("sessionAffinity ClientIP: affinity sets with the timeout, sticky gotos before numgen, updates in endpoints")
    func affinity() {
        let svc = F.service("ns1", "svc1", ip: "172.30.0.41") {
            $0.spec.sessionAffinity = "ClientIP"
            var c = CoreV1.SessionAffinityConfig()
            var ip = CoreV1.ClientIPConfig()
            ip.timeoutSeconds = 600
            c.clientIP = ip
            $0.spec.sessionAffinityConfig = c
        }
        let r = F.rules(svc, [F.slice("ns1", "svc1", [.init(ip: "10.180.0.1"), .init(ip: "10.180.0.2")])])
        let n = F.name("ns1", "svc1")
        let aff1 = ProxyRules.affinitySet(n, F.ep("10.180.0.1"))
        let ep1 = ProxyRules.endpointChain(n, F.ep("10.180.0.1"))
        #expect(aff1 == "affinity-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80")
        #expect(r.sets.count == 2)
        #expect(
            r.sets[0] == NFTSet(name: aff1, type: "ipv4_addr", flags: ["dynamic", "timeout"], timeoutSeconds: 600))
        let chain = r.chain(ProxyRules.clusterChain(n)) ?? []
        #expect(chain.count == 4)
        #expect(chain[1] == "ip saddr @\(aff1) goto \(ep1)")
        #expect(chain[3].hasPrefix("numgen random mod 2 vmap"))
        #expect(
            r.chain(ep1) == [
                "ip saddr 10.180.0.1 jump mark-for-masquerade", "update @\(aff1) { ip saddr }",
                "meta l4proto tcp dnat to 10.180.0.1:80",
            ])
        // Without a config, upstream's default timeout (10800 s).
        let dflt = F.service("ns1", "svc1", ip: "172.30.0.41") { $0.spec.sessionAffinity = "ClientIP" }
        #expect(ServicePortInfo.ports(of: dflt, family: .ipv4)[0].stickyMaxAgeSeconds == 10800)
        #expect(
            NFTWriter(family: .ipv4).addSet(r.sets[0]).hasSuffix(
                "{ type ipv4_addr ; flags dynamic,timeout ; timeout 600s ; }"))
    }

    @Test("serving-but-terminating endpoints are the fallback when none is ready")
    func terminatingFallback() {
        let svc = F.service("ns1", "svc1", ip: "172.30.0.41")
        let n = F.name("ns1", "svc1")
        let mixed = F.rules(
            svc,
            [
                F.slice(
                    "ns1", "svc1",
                    [
                        .init(ip: "10.180.0.1"),
                        .init(ip: "10.180.0.2", ready: false, serving: true, terminating: true),
                    ])
            ])
        #expect(mixed.chain(ProxyRules.clusterChain(n))?.last?.hasPrefix("numgen random mod 1 ") == true)
        #expect(mixed.chain(ProxyRules.endpointChain(n, F.ep("10.180.0.2"))) == nil)
        let onlyTerminating = F.rules(
            svc,
            [
                F.slice(
                    "ns1", "svc1",
                    [
                        .init(ip: "10.180.0.2", ready: false, serving: true, terminating: true),
                        .init(ip: "10.180.0.3", ready: false, serving: false, terminating: true),
                    ])
            ])
        #expect(
            onlyTerminating.chain(ProxyRules.clusterChain(n))?.last
                == "numgen random mod 1 vmap { 0 : goto \(ProxyRules.endpointChain(n, F.ep("10.180.0.2"))) }")
    }

    @Test("ports, protocols and families: slices matched by port name and protocol, headless and ExternalName skipped")
    func portsAndFamilies() {
        let svc = F.service("ns1", "dns", ip: "10.96.0.10", port: 53, portName: "dns", proto: "UDP")
        let tcpSlice = F.slice("ns1", "dns", port: 53, portName: "dns", proto: "TCP", [.init(ip: "10.42.0.5")])
        let udpSlice = F.slice("ns1", "dns", port: 5353, portName: "dns", proto: "UDP", [.init(ip: "10.42.0.6")])
        let r = F.rules(svc, [tcpSlice, udpSlice])
        let n = F.name("ns1", "dns", proto: "udp", port: "dns")
        #expect(
            r.chain(ProxyRules.endpointChain(n, F.ep("10.42.0.6", 5353)))?.last
                == "meta l4proto udp dnat to 10.42.0.6:5353")
        #expect(r.elements(in: "service-ips") == ["10.96.0.10 . udp . 53 : goto \(ProxyRules.clusterChain(n))"])
        #expect(ServicePortInfo.ports(of: F.service("ns1", "h", ip: "None"), family: .ipv4).isEmpty)
        #expect(
            ServicePortInfo.ports(of: F.service("ns1", "e", ip: "") { $0.spec.type = "ExternalName" }, family: .ipv4)
                .isEmpty)
        #expect(ServicePortInfo.ports(of: F.service("ns1", "v4", ip: "10.96.0.3"), family: .ipv6).isEmpty)
        // Duplicates across slices count once; a ready copy wins.
        let dup = EndpointInfo.endpoints(
            for: ServicePortInfo.ports(of: F.service("ns1", "svc1", ip: "10.96.0.4"), family: .ipv4)[0],
            slices: [
                F.slice("ns1", "svc1", [.init(ip: "10.42.0.7", ready: false)]),
                F.slice("ns1", "svc1", [.init(ip: "10.42.0.7")]),
            ], nodeName: F.node, family: .ipv4)
        #expect(dup.count == 1 && dup[0].ready)
    }

    @Test("the health check node port answers upstream's JSON")
    func healthCheckBody() {
        #expect(
            ServiceHealthResponder.body(namespace: "ns1", name: "svc1", localEndpoints: 2, healthy: true)
                == "{\n\t\"service\": {\n\t\t\"namespace\": \"ns1\",\n\t\t\"name\": \"svc1\"\n\t},\n\t\"localEndpoints\": 2,\n\t\"serviceProxyHealthy\": true\n}"
        )
    }

    @Test("--nodeport-addresses: primary is the node's IPs, a /0 is every address, CIDRs pick local addresses")
    func nodePortAddressChoice() {
        let local = { ["127.0.0.1", "192.168.0.2", "10.1.2.3"] }
        #expect(
            KubeProxy.nodePortAddresses([], family: .ipv4, nodeIPs: ["192.168.0.2"], localAddresses: local)
                == .ips(["192.168.0.2"]))
        #expect(
            KubeProxy.nodePortAddresses(["primary"], family: .ipv4, nodeIPs: ["192.168.0.2"], localAddresses: local)
                == .ips(["192.168.0.2"]))
        #expect(KubeProxy.nodePortAddresses(["0.0.0.0/0"], family: .ipv4, nodeIPs: [], localAddresses: local) == .all)
        #expect(
            KubeProxy.nodePortAddresses(["10.0.0.0/8"], family: .ipv4, nodeIPs: [], localAddresses: local)
                == .ips(["10.1.2.3"]))
        #expect(KubeProxy.hostPort("0.0.0.0:10256")! == ("0.0.0.0", 10256))
        #expect(KubeProxy.hostPort("[::]:10249")! == ("::", 10249))
        #expect(KubeProxy.hostPort("") == nil)
    }
}
