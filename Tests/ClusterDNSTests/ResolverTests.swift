import APICore
import APIDiscovery
import APIMachinery
import Testing

@testable import ClusterDNS

/// Objects in, answer sections out: every record of the Kubernetes DNS-Based Service Discovery
/// specification (section numbers in each case) and the negative answers CoreDNS's kubernetes plugin
/// gives (`pods insecure`, `fallthrough in-addr.arpa ip6.arpa`, TTL 5).
@Suite("Cluster DNS answers")
struct ResolverTests {
    static func service(
        _ name: String, _ ns: String = "ns1", type: String = "ClusterIP", ip: String = "", ips: [String] = [],
        externalName: String = "", ports: [(String, String, Int32)] = [], publishNotReady: Bool = false
    ) -> CoreV1.Service {
        var s = CoreV1.Service()
        s.metadata.name = name
        s.metadata.namespace = ns
        s.spec.type = type
        s.spec.clusterIP = ip
        s.spec.clusterIPs = ips.isEmpty && !ip.isEmpty ? [ip] : ips
        s.spec.externalName = externalName
        s.spec.ports = ports.map { CoreV1.ServicePort(name: $0.0, protocol: $0.1, port: $0.2) }
        s.spec.publishNotReadyAddresses = publishNotReady
        return s
    }

    static func slice(
        _ name: String, service: String, _ ns: String = "ns1", type: String = "IPv4",
        ports: [(String, String, Int32)] = [], endpoints: [(String, String?, Bool?)]
    ) -> DiscoveryV1.EndpointSlice {
        var s = DiscoveryV1.EndpointSlice()
        s.metadata.name = name
        s.metadata.namespace = ns
        s.metadata.labels = ["kubernetes.io/service-name": service]
        s.addressType = type
        s.ports = ports.map { DiscoveryV1.EndpointPort(name: $0.0, protocol: $0.1, port: $0.2) }
        s.endpoints = endpoints.map {
            DiscoveryV1.Endpoint(
                addresses: [$0.0], conditions: DiscoveryV1.EndpointConditions(ready: $0.2), hostname: $0.1)
        }
        return s
    }

    static let table: RecordTable = {
        var t = RecordTable(zone: "cluster.local", ttl: 5, serial: 1_700_000_000)
        t.setService(service("web", ip: "10.96.0.20", ports: [("http", "TCP", 80), ("dns", "UDP", 53)]))
        t.setSlice(
            slice(
                "web-abc", service: "web", ports: [("http", "TCP", 8080)],
                endpoints: [("10.244.0.5", nil, true), ("10.244.0.6", nil, false)]))
        t.setService(service("db", ip: "None", ports: [("pg", "TCP", 5432)]))
        t.setSlice(
            slice(
                "db-1", service: "db", ports: [("pg", "TCP", 5432)],
                endpoints: [
                    ("10.244.1.1", "db-0", true), ("10.244.1.2", "db-1", true), ("10.244.1.3", nil, nil),
                    ("10.244.1.4", "db-3", false),
                ]))
        t.setService(service("empty", ip: "None", ports: [("pg", "TCP", 5432)]))
        t.setSlice(slice("empty-1", service: "empty", endpoints: [("10.244.3.1", nil, false)]))
        t.setService(service("ext", type: "ExternalName", externalName: "www.example.com"))
        t.setService(service("extin", type: "ExternalName", externalName: "web.ns1.svc.cluster.local"))
        t.setService(service("extip", type: "ExternalName", externalName: "1.2.3.4"))
        t.setService(service("dual", ips: ["10.96.0.30", "fd00:10:96::30"], ports: [("https", "TCP", 443)]))
        t.setService(service("nr", ip: "None", publishNotReady: true))
        t.setSlice(slice("nr-1", service: "nr", endpoints: [("10.244.2.1", nil, false)]))
        t.setService(service("v6", ip: "None"))
        t.setSlice(slice("v6-1", service: "v6", type: "IPv6", endpoints: [("fd00:244::7", nil, true)]))
        return t
    }()

    /// One record as dig prints it, without the class.
    static func show(_ r: ResourceRecord) -> String {
        let data: String
        switch r.data {
        case .a, .aaaa:
            switch r.data {
            case .a(let v): data = "A " + DNSAddress.v4(v).description
            case .aaaa(let hi, let lo): data = "AAAA " + DNSAddress.v6(hi, lo).description
            default: data = ""
            }
        case .cname(let n): data = "CNAME \(n)"
        case .ptr(let n): data = "PTR \(n)"
        case .ns(let n): data = "NS \(n)"
        case .srv(let p, let w, let port, let t): data = "SRV \(p) \(w) \(port) \(t)"
        case .txt(let s): data = "TXT " + s.map { "\"\(String(decoding: $0, as: UTF8.self))\"" }.joined(separator: " ")
        case .soa(let s):
            data = "SOA \(s.mname) \(s.rname) \(s.serial) \(s.refresh) \(s.retry) \(s.expire) \(s.minimum)"
        case .other(let t, _): data = "TYPE\(t)"
        }
        return "\(r.name) \(r.ttl) \(data)"
    }

    struct Case: Sendable, CustomTestStringConvertible {
        var rule: String
        var name: String
        var type: UInt16
        /// "NOERROR", "NODATA", "NXDOMAIN" or "FORWARD".
        var outcome: String
        var answers: [String] = []
        var additional: [String] = []
        var testDescription: String { "\(rule): \(name) \(DNSType.name(type)) → \(outcome)" }
    }

    static let z = "svc.cluster.local."
    static let cases: [Case] = [
        // §2.3 Services with a ClusterIP.
        Case(
            rule: "§2.3.1 A", name: "web.ns1.svc.cluster.local", type: DNSType.a, outcome: "NOERROR",
            answers: ["web.ns1.\(z) 5 A 10.96.0.20"]),
        Case(
            rule: "§2.1 names compare case-insensitively; the answer keeps the question's case",
            name: "Web.NS1.svc.Cluster.Local", type: DNSType.a, outcome: "NOERROR",
            answers: ["Web.NS1.svc.Cluster.Local. 5 A 10.96.0.20"]),
        Case(
            rule: "§2.3.1 no AAAA for an IPv4 service: NODATA", name: "web.ns1.svc.cluster.local",
            type: DNSType.aaaa, outcome: "NODATA"),
        Case(
            rule: "§2.3.2 SRV of a named port, address in the additional section",
            name: "_http._tcp.web.ns1.svc.cluster.local", type: DNSType.srv, outcome: "NOERROR",
            answers: ["_http._tcp.web.ns1.\(z) 5 SRV 0 100 80 web.ns1.\(z)"],
            additional: ["web.ns1.\(z) 5 A 10.96.0.20"]),
        Case(
            rule: "§2.3.2 SRV of a UDP port", name: "_dns._udp.web.ns1.svc.cluster.local", type: DNSType.srv,
            outcome: "NOERROR", answers: ["_dns._udp.web.ns1.\(z) 5 SRV 0 100 53 web.ns1.\(z)"],
            additional: ["web.ns1.\(z) 5 A 10.96.0.20"]),
        Case(
            rule: "CoreDNS: a port name with the wrong protocol is NXDOMAIN",
            name: "_http._udp.web.ns1.svc.cluster.local", type: DNSType.srv, outcome: "NXDOMAIN"),
        Case(
            rule: "CoreDNS: SRV of the service name lists every port, weight shared",
            name: "web.ns1.svc.cluster.local", type: DNSType.srv, outcome: "NOERROR",
            answers: ["web.ns1.\(z) 5 SRV 0 50 80 web.ns1.\(z)", "web.ns1.\(z) 5 SRV 0 50 53 web.ns1.\(z)"],
            additional: ["web.ns1.\(z) 5 A 10.96.0.20"]),
        Case(
            rule: "CoreDNS: A of a port name answers the cluster IP", name: "_http._tcp.web.ns1.svc.cluster.local",
            type: DNSType.a, outcome: "NOERROR", answers: ["_http._tcp.web.ns1.\(z) 5 A 10.96.0.20"]),
        Case(
            rule: "§2.3.3 PTR of a cluster IP", name: "20.0.96.10.in-addr.arpa", type: DNSType.ptr,
            outcome: "NOERROR", answers: ["20.0.96.10.in-addr.arpa. 5 PTR web.ns1.\(z)"]),
        Case(
            rule: "§2.3.1 dual-stack: A is the IPv4 cluster IP", name: "dual.ns1.svc.cluster.local",
            type: DNSType.a, outcome: "NOERROR", answers: ["dual.ns1.\(z) 5 A 10.96.0.30"]),
        Case(
            rule: "§2.3.1 dual-stack: AAAA is the IPv6 cluster IP", name: "dual.ns1.svc.cluster.local",
            type: DNSType.aaaa, outcome: "NOERROR", answers: ["dual.ns1.\(z) 5 AAAA fd00:10:96::30"]),
        Case(
            rule: "§2.3.3 PTR of an IPv6 cluster IP (ip6.arpa nibbles)",
            name: "0.3.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.9.0.0.0.1.0.0.0.0.d.f.ip6.arpa", type: DNSType.ptr,
            outcome: "NOERROR",
            answers: ["0.3.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.9.0.0.0.1.0.0.0.0.d.f.ip6.arpa. 5 PTR dual.ns1.\(z)"]),
        Case(
            rule: "CoreDNS: dual-stack SRV weight is shared by both cluster IPs",
            name: "_https._tcp.dual.ns1.svc.cluster.local", type: DNSType.srv, outcome: "NOERROR",
            answers: ["_https._tcp.dual.ns1.\(z) 5 SRV 0 50 443 dual.ns1.\(z)"],
            additional: ["dual.ns1.\(z) 5 A 10.96.0.30", "dual.ns1.\(z) 5 AAAA fd00:10:96::30"]),
        Case(
            rule: "CoreDNS: a ready endpoint of a ClusterIP service has a name too",
            name: "10-244-0-5.web.ns1.svc.cluster.local", type: DNSType.a, outcome: "NOERROR",
            answers: ["10-244-0-5.web.ns1.\(z) 5 A 10.244.0.5"]),
        Case(
            rule: "§2.1 a not-ready endpoint has no name", name: "10-244-0-6.web.ns1.svc.cluster.local",
            type: DNSType.a, outcome: "NXDOMAIN"),

        // §2.4 headless services.
        Case(
            rule: "§2.4.1 one A per ready endpoint", name: "db.ns1.svc.cluster.local", type: DNSType.a,
            outcome: "NOERROR",
            answers: ["db.ns1.\(z) 5 A 10.244.1.1", "db.ns1.\(z) 5 A 10.244.1.2", "db.ns1.\(z) 5 A 10.244.1.3"]),
        Case(
            rule: "§2.4.1 an endpoint's hostname", name: "db-0.db.ns1.svc.cluster.local", type: DNSType.a,
            outcome: "NOERROR", answers: ["db-0.db.ns1.\(z) 5 A 10.244.1.1"]),
        Case(
            rule: "§2.4.1 an endpoint without hostname is named by its address (CoreDNS)",
            name: "10-244-1-3.db.ns1.svc.cluster.local", type: DNSType.a, outcome: "NOERROR",
            answers: ["10-244-1-3.db.ns1.\(z) 5 A 10.244.1.3"]),
        Case(
            rule: "§2.4.1 a not-ready endpoint's hostname does not exist", name: "db-3.db.ns1.svc.cluster.local",
            type: DNSType.a, outcome: "NXDOMAIN"),
        Case(
            rule: "§2.4.2 one SRV per ready endpoint and named port, targets' addresses additional",
            name: "_pg._tcp.db.ns1.svc.cluster.local", type: DNSType.srv, outcome: "NOERROR",
            answers: [
                "_pg._tcp.db.ns1.\(z) 5 SRV 0 33 5432 db-0.db.ns1.\(z)",
                "_pg._tcp.db.ns1.\(z) 5 SRV 0 33 5432 db-1.db.ns1.\(z)",
                "_pg._tcp.db.ns1.\(z) 5 SRV 0 33 5432 10-244-1-3.db.ns1.\(z)",
            ],
            additional: [
                "db-0.db.ns1.\(z) 5 A 10.244.1.1", "db-1.db.ns1.\(z) 5 A 10.244.1.2",
                "10-244-1-3.db.ns1.\(z) 5 A 10.244.1.3",
            ]),
        Case(
            rule: "§2.4.3 PTR of an endpoint with a hostname", name: "1.1.244.10.in-addr.arpa", type: DNSType.ptr,
            outcome: "NOERROR", answers: ["1.1.244.10.in-addr.arpa. 5 PTR db-0.db.ns1.\(z)"]),
        Case(
            rule: "§2.4.3 PTR of an endpoint without one", name: "3.1.244.10.in-addr.arpa", type: DNSType.ptr,
            outcome: "NOERROR", answers: ["3.1.244.10.in-addr.arpa. 5 PTR 10-244-1-3.db.ns1.\(z)"]),
        Case(
            rule: "§2.4.1 no ready endpoints: NXDOMAIN", name: "empty.ns1.svc.cluster.local", type: DNSType.a,
            outcome: "NXDOMAIN"),
        Case(
            rule: "§2.1 publishNotReadyAddresses counts not-ready endpoints", name: "nr.ns1.svc.cluster.local",
            type: DNSType.a, outcome: "NOERROR", answers: ["nr.ns1.\(z) 5 A 10.244.2.1"]),
        Case(
            rule: "§2.4.1 an IPv6 headless service: AAAA", name: "v6.ns1.svc.cluster.local", type: DNSType.aaaa,
            outcome: "NOERROR", answers: ["v6.ns1.\(z) 5 AAAA fd00:244::7"]),
        Case(
            rule: "§2.4.1 an IPv6 headless service has no A: NODATA", name: "v6.ns1.svc.cluster.local",
            type: DNSType.a, outcome: "NODATA"),
        Case(
            rule: "CoreDNS: an IPv6 endpoint's name uses - for :", name: "fd00-244--7.v6.ns1.svc.cluster.local",
            type: DNSType.aaaa, outcome: "NOERROR", answers: ["fd00-244--7.v6.ns1.\(z) 5 AAAA fd00:244::7"]),
        Case(
            rule: "CoreDNS: a headless service without ports has no SRV: NODATA", name: "nr.ns1.svc.cluster.local",
            type: DNSType.srv, outcome: "NODATA"),

        // §2.5 ExternalName.
        Case(
            rule: "§2.5 CNAME to the external name", name: "ext.ns1.svc.cluster.local", type: DNSType.cname,
            outcome: "NOERROR", answers: ["ext.ns1.\(z) 5 CNAME www.example.com."]),
        Case(
            rule: "§2.5 an A question gets the CNAME (the target is left to upstream)",
            name: "ext.ns1.svc.cluster.local", type: DNSType.a, outcome: "NOERROR",
            answers: ["ext.ns1.\(z) 5 CNAME www.example.com."]),
        Case(
            rule: "CoreDNS: a CNAME into the zone is followed", name: "extin.ns1.svc.cluster.local",
            type: DNSType.a, outcome: "NOERROR",
            answers: ["extin.ns1.\(z) 5 CNAME web.ns1.\(z)", "web.ns1.\(z) 5 A 10.96.0.20"]),
        Case(
            rule: "CoreDNS: no SRV for an ExternalName: NODATA", name: "ext.ns1.svc.cluster.local",
            type: DNSType.srv, outcome: "NODATA"),
        Case(
            rule: "CoreDNS: an ExternalName that is an IP address has no record", name: "extip.ns1.svc.cluster.local",
            type: DNSType.a, outcome: "NXDOMAIN"),

        // §2.6 pods (CoreDNS `pods insecure`).
        Case(
            rule: "§2.6 <a-b-c-d>.<ns>.pod", name: "10-1-2-3.ns1.pod.cluster.local", type: DNSType.a,
            outcome: "NOERROR", answers: ["10-1-2-3.ns1.pod.cluster.local. 5 A 10.1.2.3"]),
        Case(
            rule: "§2.6 no AAAA for an IPv4 pod name: NODATA", name: "10-1-2-3.ns1.pod.cluster.local",
            type: DNSType.aaaa, outcome: "NODATA"),
        Case(
            rule: "CoreDNS: IPv6 pod names use - for :", name: "fd00--1.ns1.pod.cluster.local", type: DNSType.aaaa,
            outcome: "NOERROR", answers: ["fd00--1.ns1.pod.cluster.local. 5 AAAA fd00::1"]),
        Case(
            rule: "CoreDNS: a pod label that is no address is NXDOMAIN", name: "not-an-ip.ns1.pod.cluster.local",
            type: DNSType.a, outcome: "NXDOMAIN"),

        // §2.2 and the zone's structure, as CoreDNS's parser reads it.
        Case(
            rule: "§2.2 dns-version TXT (CoreDNS serves 1.1.0, TTL 28800)", name: "dns-version.cluster.local",
            type: DNSType.txt, outcome: "NOERROR", answers: ["dns-version.cluster.local. 28800 TXT \"1.1.0\""]),
        Case(
            rule: "CoreDNS: dns-version answers TXT only", name: "dns-version.cluster.local", type: DNSType.a,
            outcome: "NXDOMAIN"),
        Case(
            rule: "no such service: NXDOMAIN", name: "missing.ns1.svc.cluster.local", type: DNSType.a,
            outcome: "NXDOMAIN"),
        Case(
            rule: "CoreDNS: a namespace name has no records (NODATA)", name: "ns1.svc.cluster.local",
            type: DNSType.a, outcome: "NODATA"),
        Case(
            rule: "CoreDNS: even a namespace that does not exist", name: "nope.svc.cluster.local", type: DNSType.a,
            outcome: "NODATA"),
        Case(rule: "CoreDNS: svc.<zone> is NODATA", name: "svc.cluster.local", type: DNSType.a, outcome: "NODATA"),
        Case(rule: "CoreDNS: the apex is NODATA for A", name: "cluster.local", type: DNSType.a, outcome: "NODATA"),
        Case(
            rule: "the apex SOA", name: "cluster.local", type: DNSType.soa, outcome: "NOERROR",
            answers: [
                "cluster.local. 5 SOA ns.dns.cluster.local. hostmaster.cluster.local. 1700000000 7200 1800 86400 5"
            ]),
        Case(
            rule: "CoreDNS: neither svc nor pod under the zone: NXDOMAIN", name: "foo.cluster.local",
            type: DNSType.a, outcome: "NXDOMAIN"),
        Case(
            rule: "CoreDNS: more than two labels before the service: NXDOMAIN",
            name: "a.b.c.web.ns1.svc.cluster.local", type: DNSType.a, outcome: "NXDOMAIN"),
        Case(
            rule: "CoreDNS: another type on an existing name is NODATA", name: "web.ns1.svc.cluster.local",
            type: DNSType.mx, outcome: "NODATA"),
        Case(
            rule: "CoreDNS: TXT of a service is NODATA", name: "web.ns1.svc.cluster.local", type: DNSType.txt,
            outcome: "NODATA"),

        // Outside the zone: `forward`, and `fallthrough` for reverse names no service has.
        Case(rule: "a name outside the zone goes upstream", name: "example.com", type: DNSType.a, outcome: "FORWARD"),
        Case(
            rule: "a reverse name no service has goes upstream", name: "9.9.9.9.in-addr.arpa", type: DNSType.ptr,
            outcome: "FORWARD"),
    ]

    @Test("answers", arguments: cases)
    func answers(c: Case) throws {
        let r = Self.table.resolve(DNSQuestion(name: DNSName(c.name)!, type: c.type))
        guard case .answer(let a, _) = r else {
            #expect(c.outcome == "FORWARD", "got forward")
            return
        }
        let outcome =
            a.rcode == DNSRcode.nameError ? "NXDOMAIN" : a.answers.isEmpty ? "NODATA" : "NOERROR"
        #expect(outcome == c.outcome)
        #expect(a.answers.map(Self.show) == c.answers)
        #expect(a.additional.map(Self.show) == c.additional)
        if outcome != "NOERROR" {
            // RFC 2308 §3 and CoreDNS: negative answers carry the zone's SOA.
            #expect(
                a.authority.map(Self.show) == [
                    "cluster.local. 5 SOA ns.dns.cluster.local. hostmaster.cluster.local. 1700000000 7200 1800 86400 5"
                ])
        } else {
            #expect(a.authority.isEmpty)
        }
    }

    @Test("an ExternalName CNAME out of the zone asks upstream for the target's records of the same type")
    func chase() {
        let r = Self.table.resolve(DNSQuestion(name: DNSName("ext.ns1.svc.cluster.local")!, type: DNSType.a))
        guard case .answer(_, let chase) = r else {
            Issue.record("forwarded")
            return
        }
        #expect(chase == DNSQuestion(name: DNSName("www.example.com")!, type: DNSType.a))
    }

    func a(_ t: RecordTable, _ name: String) -> [String] {
        guard case .answer(let a, _) = t.resolve(DNSQuestion(name: DNSName(name)!, type: DNSType.a)) else { return [] }
        return a.rcode == DNSRcode.nameError ? ["NXDOMAIN"] : a.answers.map(Self.show)
    }

    @Test("a Service or EndpointSlice change replaces only that service's records, and bumps the serial")
    func updates() {
        var t = Self.table
        let before = t.nameCount
        t.setService(Self.service("web", ip: "10.96.0.21", ports: [("http", "TCP", 80)]), now: 1_800_000_000)
        #expect(a(t, "web.ns1.svc.cluster.local") == ["web.ns1.svc.cluster.local. 5 A 10.96.0.21"])
        #expect(t.serial == 1_800_000_000)
        // The old cluster IP's PTR is gone, the new one's is there.
        #expect(t.resolve(DNSQuestion(name: DNSName("20.0.96.10.in-addr.arpa")!, type: DNSType.ptr)) == .forward)
        #expect(t.resolve(DNSQuestion(name: DNSName("21.0.96.10.in-addr.arpa")!, type: DNSType.ptr)) != .forward)
        // The removed port's SRV name went with it.
        #expect(t.nameCount == before - 1)
        #expect(a(t, "db.ns1.svc.cluster.local").count == 3)

        // An endpoint becomes ready: the headless name gains it.
        t.setSlice(
            Self.slice(
                "db-1", service: "db", ports: [("pg", "TCP", 5432)],
                endpoints: [("10.244.1.1", "db-0", true), ("10.244.1.4", "db-3", true)]))
        #expect(
            a(t, "db.ns1.svc.cluster.local") == [
                "db.ns1.svc.cluster.local. 5 A 10.244.1.1", "db.ns1.svc.cluster.local. 5 A 10.244.1.4",
            ])
        #expect(a(t, "db-3.db.ns1.svc.cluster.local") == ["db-3.db.ns1.svc.cluster.local. 5 A 10.244.1.4"])
        #expect(a(t, "db-1.db.ns1.svc.cluster.local") == ["NXDOMAIN"])

        // A second slice of the same service adds to it; deleting it takes its endpoints away.
        t.setSlice(Self.slice("db-2", service: "db", endpoints: [("10.244.1.9", nil, true)]))
        #expect(a(t, "db.ns1.svc.cluster.local").count == 3)
        t.removeSlice(namespace: "ns1", name: "db-2")
        #expect(a(t, "db.ns1.svc.cluster.local").count == 2)

        // Deleting the service removes its names; its slices alone keep only reverse names.
        t.removeService(namespace: "ns1", name: "db")
        #expect(a(t, "db.ns1.svc.cluster.local") == ["NXDOMAIN"])
        #expect(a(t, "db-0.db.ns1.svc.cluster.local") == ["NXDOMAIN"])
        t.removeSlice(namespace: "ns1", name: "db-1")
        #expect(t.resolve(DNSQuestion(name: DNSName("1.1.244.10.in-addr.arpa")!, type: DNSType.ptr)) == .forward)
    }

    @Test("a service whose cluster IP is also an endpoint address answers PTR with the service (CoreDNS)")
    func ptrPrecedence() {
        var t = RecordTable()
        t.setService(Self.service("a", ip: "10.0.0.1", ports: [("p", "TCP", 1)]))
        t.setService(Self.service("b", ip: "None"))
        t.setSlice(Self.slice("b-1", service: "b", endpoints: [("10.0.0.1", "h", true)]))
        guard
            case .answer(let ans, _) = t.resolve(
                DNSQuestion(name: DNSName("1.0.0.10.in-addr.arpa")!, type: DNSType.ptr))
        else {
            Issue.record("forwarded")
            return
        }
        #expect(ans.answers.map(Self.show) == ["1.0.0.10.in-addr.arpa. 5 PTR a.ns1.svc.cluster.local."])
    }
}
