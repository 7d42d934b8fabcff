import Foundation
import Testing

/// `k8swift cluster-dns` against a `k8swift server`, objects made with kubectl, questions asked with
/// dig (Debian's dnsutils) over UDP and TCP. Expectations are the Kubernetes DNS specification's
/// records and CoreDNS's answers (section or behaviour named at each check). Pods resolving through
/// the kube-dns ClusterIP need kube-proxy and a node: NodeE2ETests/nodeClusterDNS covers them.
@Suite(
    "cluster DNS end to end", .serialized,
    .enabled(if: TestCluster.which("dig") != nil, "dig is not installed (apt-get install dnsutils)"))
struct ClusterDNSE2ETests {
    let c: TestCluster
    let dns: Process
    let port: Int
    let metricsPort: Int
    let readyPort: Int

    init() throws {
        c = try TestCluster()
        port = TestCluster.freePort()
        metricsPort = TestCluster.freePort()
        readyPort = TestCluster.freePort()
        dns = try c.launch([
            "cluster-dns", "--kubeconfig", c.kubeconfig, "--listen", "127.0.0.1:\(port)", "--upstream", "none",
            "--health-listen", "none", "--ready-listen", "127.0.0.1:\(readyPort)", "--metrics-listen",
            "127.0.0.1:\(metricsPort)",
        ])
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            if let r = try? c.run("/usr/bin/curl", ["-sf", "http://127.0.0.1:\(readyPort)/ready"], check: false),
                r.status == 0, r.out == "OK"
            {
                return
            }
            Thread.sleep(forTimeInterval: 0.1)
        }
        throw E2EError("cluster-dns did not become ready")
    }

    func stop() {
        if dns.isRunning {
            dns.terminate()
            dns.waitUntilExit()
        }
    }

    func dig(_ args: [String]) throws -> String {
        try c.run(TestCluster.which("dig")!, ["@127.0.0.1", "-p", String(port), "+time=2", "+tries=1"] + args).out
    }

    /// The answer section's records as `name ttl type data`, whitespace collapsed.
    func answers(_ args: [String]) throws -> [String] {
        try dig(args + ["+noall", "+answer"]).split(separator: "\n").map {
            $0.split(whereSeparator: { $0 == " " || $0 == "\t" }).filter { $0 != "IN" }.joined(separator: " ")
        }
    }

    func status(_ args: [String]) throws -> String {
        let out = try dig(args + ["+noall", "+comments"])
        guard let r = out.range(of: "status: ") else { return "" }
        return String(out[r.upperBound...].prefix { $0 != "," })
    }

    func eventually(_ what: String, timeout: Double = 20, _ f: () throws -> Bool) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if (try? f()) == true { return }
            Thread.sleep(forTimeInterval: 0.1)
        }
        throw E2EError("timed out waiting for \(what)")
    }

    func apply(_ yaml: String) throws { try c.kubectl(["apply", "-f", "-"], stdin: yaml) }

    @Test("records of ClusterIP, headless and ExternalName services, over UDP and TCP, follow the API")
    func records() throws {
        defer { stop() }
        let ns = try c.namespace("dns")
        try apply(
            """
            apiVersion: v1
            kind: Service
            metadata: {name: web, namespace: \(ns)}
            spec:
              ports: [{name: http, port: 80, protocol: TCP}]
            ---
            apiVersion: v1
            kind: Service
            metadata: {name: db, namespace: \(ns)}
            spec:
              clusterIP: None
              ports: [{name: pg, port: 5432, protocol: TCP}]
            ---
            apiVersion: discovery.k8s.io/v1
            kind: EndpointSlice
            metadata:
              name: db-1
              namespace: \(ns)
              labels: {kubernetes.io/service-name: db}
            addressType: IPv4
            ports: [{name: pg, port: 5432, protocol: TCP}]
            endpoints:
            - {addresses: [10.244.1.1], hostname: db-0, conditions: {ready: true}}
            - {addresses: [10.244.1.2], hostname: db-1, conditions: {ready: true}}
            - {addresses: [10.244.1.3], hostname: db-2, conditions: {ready: false}}
            ---
            apiVersion: v1
            kind: Service
            metadata: {name: ext, namespace: \(ns)}
            spec: {type: ExternalName, externalName: www.example.com}
            """)
        let ip = try c.kubectl(["-n", ns, "get", "svc", "web", "-o", "jsonpath={.spec.clusterIP}"]).out
        let web = "web.\(ns).svc.cluster.local."
        // §2.3.1 A over UDP, then over TCP.
        try eventually("the web service's A record") { try answers([web]) == ["\(web) 5 A \(ip)"] }
        #expect(try answers(["+tcp", web]) == ["\(web) 5 A \(ip)"])
        // §2.3.2 SRV of the named port.
        #expect(try answers(["_http._tcp.\(web)", "SRV"]) == ["_http._tcp.\(web) 5 SRV 0 100 80 \(web)"])
        // §2.3.3 PTR of the cluster IP.
        let reverse = ip.split(separator: ".").reversed().joined(separator: ".") + ".in-addr.arpa."
        #expect(try answers([reverse, "PTR"]) == ["\(reverse) 5 PTR \(web)"])
        // §2.4.1 headless: the ready endpoints only, and an endpoint's hostname.
        let db = "db.\(ns).svc.cluster.local."
        #expect(try Set(answers([db])) == ["\(db) 5 A 10.244.1.1", "\(db) 5 A 10.244.1.2"])
        #expect(try answers(["db-0.\(db)"]) == ["db-0.\(db) 5 A 10.244.1.1"])
        #expect(try status(["db-2.\(db)"]) == "NXDOMAIN")
        // §2.4.2 headless SRV: one per ready endpoint, targets named by hostname.
        #expect(
            try Set(answers(["_pg._tcp.\(db)", "SRV"])) == [
                "_pg._tcp.\(db) 5 SRV 0 50 5432 db-0.\(db)", "_pg._tcp.\(db) 5 SRV 0 50 5432 db-1.\(db)",
            ])
        // §2.4.3 PTR of an endpoint.
        #expect(try answers(["1.1.244.10.in-addr.arpa.", "PTR"]) == ["1.1.244.10.in-addr.arpa. 5 PTR db-0.\(db)"])
        // §2.5 ExternalName: a CNAME (nothing upstream to complete it with --upstream none).
        let ext = "ext.\(ns).svc.cluster.local."
        #expect(try answers([ext]) == ["\(ext) 5 CNAME www.example.com."])
        // §2.2 schema version; §2.6 pod names.
        #expect(
            try answers(["dns-version.cluster.local.", "TXT"]) == ["dns-version.cluster.local. 28800 TXT \"1.1.0\""])
        #expect(
            try answers(["10-1-2-3.\(ns).pod.cluster.local."]) == ["10-1-2-3.\(ns).pod.cluster.local. 5 A 10.1.2.3"])

        // NXDOMAIN for a missing service, NODATA for AAAA of an IPv4 one: both with the zone's SOA.
        let missing = try dig(["nope.\(ns).svc.cluster.local.", "+noall", "+comments", "+authority"])
            .split(whereSeparator: { $0 == " " || $0 == "\t" }).joined(separator: " ")
        #expect(missing.contains("status: NXDOMAIN"))
        #expect(missing.contains("cluster.local. 5 IN SOA ns.dns.cluster.local. hostmaster.cluster.local."))
        let nodata = try dig([web, "AAAA", "+noall", "+comments", "+authority"])
        #expect(nodata.contains("status: NOERROR") && nodata.contains("ANSWER: 0") && nodata.contains("SOA"))
        // Outside the zone with no upstream: SERVFAIL, as CoreDNS without `forward`.
        #expect(try status(["example.com."]) == "SERVFAIL")

        // A change to a Service is answered within moments (watch-fed cache).
        try c.kubectl(["-n", ns, "patch", "svc", "ext", "-p", #"{"spec":{"externalName":"other.example.org"}}"#])
        try eventually("the new ExternalName") { try answers([ext, "CNAME"]) == ["\(ext) 5 CNAME other.example.org."] }
        try c.kubectl(["-n", ns, "delete", "svc", "web"])
        try eventually("the deleted service's NXDOMAIN") { try status([web]) == "NXDOMAIN" }

        // The metrics count what was asked.
        let metrics = try c.run("/usr/bin/curl", ["-sf", "http://127.0.0.1:\(metricsPort)/metrics"]).out
        #expect(metrics.contains("coredns_dns_requests_total{family=\"1\",proto=\"tcp\""))
        #expect(metrics.contains("coredns_dns_request_duration_seconds_bucket"))
    }

    @Test("a big headless answer is truncated over UDP (TC) and whole over TCP, where dig retries")
    func truncation() throws {
        defer { stop() }
        let ns = try c.namespace("dnsbig")
        let endpoints = (1...60).map { "- {addresses: [10.245.0.\($0)], conditions: {ready: true}}" }
            .joined(separator: "\n")
        try apply(
            """
            apiVersion: v1
            kind: Service
            metadata: {name: big, namespace: \(ns)}
            spec: {clusterIP: None, ports: [{name: http, port: 80}]}
            ---
            apiVersion: discovery.k8s.io/v1
            kind: EndpointSlice
            metadata:
              name: big-1
              namespace: \(ns)
              labels: {kubernetes.io/service-name: big}
            addressType: IPv4
            ports: [{name: http, port: 80, protocol: TCP}]
            endpoints:
            \(endpoints)
            """)
        let big = "big.\(ns).svc.cluster.local."
        try eventually("the big service") { try answers(["+tcp", big]).count == 60 }
        // RFC 1035 §4.2.1: 512 bytes without EDNS; the TC bit says more did not fit.
        let udp = try dig(["+noedns", "+ignore", big, "+noall", "+comments", "+answer"])
        #expect(udp.contains("flags: qr aa tc"))
        let shown = udp.split(separator: "\n").filter { $0.hasPrefix(big) }.count
        #expect(shown > 0 && shown < 60)
        // Without +ignore dig retries over TCP on TC, and gets all 60.
        #expect(try answers(["+noedns", big]).count == 60)
        // An EDNS buffer of 4096 bytes takes them all over UDP.
        #expect(try answers(["+bufsize=4096", big]).count == 60)
    }
}
