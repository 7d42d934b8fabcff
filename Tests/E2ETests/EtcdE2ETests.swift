import APIApps
import APICore
import APIMachinery
import Foundation
import StorageTesting
import Testing

/// `k8swift kube-apiserver` on a real etcd that each test starts itself: several servers on one
/// etcd, etcd restarts under a watch, and upstream's key layout and encoding in etcd.
@Suite(
    "API servers on etcd end to end", .serialized,
    .enabled(if: EtcdProcess.skipReason == nil, "etcd is not installed (apt-get install etcd-server etcd-client)"))
struct EtcdE2ETests {
    /// A `kubectl get -w` of config maps printing `TYPE name` per watch event.
    final class Watch {
        let process = Process()
        let out: String

        init(_ c: TestCluster, namespace: String) throws {
            out = c.dataDir + "/watch-\(namespace)-\(UUID().uuidString).txt"
            FileManager.default.createFile(atPath: out, contents: nil)
            process.executableURL = URL(fileURLWithPath: TestCluster.kubectl("1.33") ?? TestCluster.kubectl("")!)
            process.arguments = [
                "--kubeconfig", c.kubeconfig, "-n", namespace, "get", "configmaps", "-w", "--watch-only",
                "--output-watch-events", "-o", "jsonpath={.type} {.object.metadata.name}{\"\\n\"}",
                "--request-timeout=0",
            ]
            process.standardOutput = FileHandle(forWritingAtPath: out)
            process.standardError = FileHandle.nullDevice
            try process.run()
            Thread.sleep(forTimeInterval: 1)
        }

        var lines: [String] {
            ((try? String(contentsOfFile: out, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
        }

        /// Waits until `count` events have been printed (or 20 s passed).
        func wait(for count: Int) -> [String] {
            for _ in 0..<200 {
                if lines.count >= count { break }
                Thread.sleep(forTimeInterval: 0.1)
            }
            return lines
        }

        deinit { process.terminate() }
    }

    static func tempDir() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("k8swift-etcd-e2e-\(UUID().uuidString)")
            .path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    /// Runs etcdctl against `etcd` (with `tls`: `--cacert/--cert/--key` first) and returns its output.
    static func etcdctlBytes(_ etcd: EtcdProcess, _ args: [String], tls: [String] = []) throws -> [UInt8] {
        guard let bin = TestCluster.which("etcdctl") else { throw E2EError("etcdctl is not installed (etcd-client)") }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: bin)
        p.arguments = ["--endpoints", etcd.clientURL] + tls + args
        p.environment = ["ETCDCTL_API": "3"]
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = FileHandle.nullDevice
        try p.run()
        let data = [UInt8](pipe.fileHandleForReading.readDataToEndOfFile())
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw E2EError("etcdctl \(args) failed") }
        return data
    }

    static func etcdctl(_ etcd: EtcdProcess, _ args: [String], tls: [String] = []) throws -> String {
        String(decoding: try etcdctlBytes(etcd, args, tls: tls), as: UTF8.self)
    }

    /// A key's raw value (etcdctl ends it with a newline).
    static func value(_ etcd: EtcdProcess, key: String) throws -> [UInt8] {
        var data = try etcdctlBytes(etcd, ["get", key, "--print-value-only"])
        if data.last == 0x0A { data.removeLast() }
        return data
    }

    @Test("two API servers on one etcd: watches, conflicts, allocations and the kubernetes Endpoints span both")
    func twoServers() throws {
        let etcd = try EtcdProcess(progressInterval: "10m")
        defer { etcd.stop() }
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let port = TestCluster.freePort()
        let env = ["K8SWIFT_MASTER_LEASE_TTL": "3"]
        // Small ranges, so two servers picking at random would collide without store-wide claims.
        let ranges = ["--service-cluster-ip-range", "10.0.0.0/28", "--service-node-port-range", "30000-30015"]
        let a = try TestCluster(
            extraArgs: ranges, dataDir: dir, port: port, keepDataDir: true, command: "kube-apiserver",
            address: "127.0.0.2", etcd: etcd.clientURL, env: env)
        let b = try TestCluster(
            extraArgs: ranges, dataDir: dir, port: port, keepDataDir: true, command: "kube-apiserver",
            address: "127.0.0.3", etcd: etcd.clientURL, env: env)
        let ns = try a.namespace("multi")

        // A write through A reaches a watch through B.
        let watch = try Watch(b, namespace: ns)
        try a.kubectl(["-n", ns, "create", "configmap", "from-a", "--from-literal=k=v"])
        #expect(watch.wait(for: 1) == ["ADDED from-a"])
        #expect(try b.kubectl(["-n", ns, "get", "cm", "from-a", "-o", "jsonpath={.data.k}"]).out == "v")

        // The same name created through both at once: exactly one wins, the other gets a 409.
        for round in 0..<5 {
            let name = "race-\(round)"
            let results = NSLockedResults()
            let threads = [a, b].map { c in
                Thread {
                    let r = try? c.kubectl(["-n", ns, "create", "configmap", name], check: false)
                    results.add(r)
                }
            }
            threads.forEach { $0.start() }
            while results.count < 2 { Thread.sleep(forTimeInterval: 0.02) }
            let all = results.all
            #expect(all.filter { $0.status == 0 }.count == 1, "round \(round): \(all.map(\.err))")
            #expect(all.filter { $0.err.contains("AlreadyExists") || $0.err.contains("already exists") }.count == 1)
        }

        // Writes through B to objects just created through A: B's cache may not hold them yet, so
        // the update and delete must settle on the store's state rather than fail.
        for round in 0..<5 {
            try a.kubectl(["-n", ns, "create", "configmap", "fresh-\(round)"])
            try b.kubectl(["-n", ns, "label", "configmap", "fresh-\(round)", "round=\(round)"])
            #expect(
                try a.kubectl(["-n", ns, "get", "cm", "fresh-\(round)", "-o", "jsonpath={.metadata.labels.round}"]).out
                    == "\(round)")
            try b.kubectl(["-n", ns, "delete", "configmap", "fresh-\(round)"])
        }

        // NodePort Services created through both at once get distinct cluster IPs and node ports,
        // each IP held by an IPAddress object as upstream's allocator keeps them.
        let created = NSLockedResults()
        let creators = (0..<10).map { i in
            Thread {
                let c = i % 2 == 0 ? a : b
                created.add(try? c.kubectl(["-n", ns, "create", "service", "nodeport", "np-\(i)", "--tcp=80:80"]))
            }
        }
        creators.forEach { $0.start() }
        while created.count < 10 { Thread.sleep(forTimeInterval: 0.05) }
        #expect(created.all.filter { $0.status == 0 }.count == 10, "\(created.all.map(\.err))")
        let svcIPs = try a.kubectl(["get", "svc", "-A", "-o", "jsonpath={.items[*].spec.clusterIP}"]).out
            .split(separator: " ").map(String.init)
        let nodePorts = try a.kubectl(["-n", ns, "get", "svc", "-o", "jsonpath={.items[*].spec.ports[0].nodePort}"]).out
            .split(separator: " ").map(String.init)
        #expect(svcIPs.count == 11 && Set(svcIPs).count == 11, "cluster IPs: \(svcIPs)")
        #expect(nodePorts.count == 10 && Set(nodePorts).count == 10, "node ports: \(nodePorts)")
        let claimed = try b.kubectl(["get", "ipaddresses", "-o", "jsonpath={.items[*].metadata.name}"]).out
            .split(separator: " ").map(String.init)
        #expect(Set(claimed) == Set(svcIPs))

        // The kubernetes Endpoints lists both live servers.
        func endpointIPs(_ c: TestCluster) -> [String] {
            let r = try? c.kubectl(
                ["get", "endpoints", "kubernetes", "-n", "default", "-o", "jsonpath={.subsets[0].addresses[*].ip}"],
                check: false)
            return (r?.out ?? "").split(separator: " ").map(String.init)
        }
        var ips: [String] = []
        for _ in 0..<100 {
            ips = endpointIPs(a)
            if ips == ["127.0.0.2", "127.0.0.3"] { break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        #expect(ips == ["127.0.0.2", "127.0.0.3"])
        let port443 = try a.kubectl(
            ["get", "endpoints", "kubernetes", "-n", "default", "-o", "jsonpath={.subsets[0].ports[0].port}"]
        ).out
        #expect(port443 == String(port))

        // What A frees, B can hand out: a cluster IP and node port B allocated itself, released by
        // a delete through A, are B's again on request; and B fills the whole IP range.
        let ip1 = try b.kubectl(["-n", ns, "get", "svc", "np-1", "-o", "jsonpath={.spec.clusterIP}"]).out
        let port1 = try b.kubectl(["-n", ns, "get", "svc", "np-1", "-o", "jsonpath={.spec.ports[0].nodePort}"]).out
        try a.kubectl(["-n", ns, "delete", "svc", "--all"])
        let reuse = """
            {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "reuse", "namespace": "\(ns)"},
             "spec": {"type": "NodePort", "clusterIP": "\(ip1)", "ports": [{"port": 80, "nodePort": \(port1)}]}}
            """
        try b.kubectl(["create", "-f", "-"], stdin: reuse)
        #expect(
            try a.kubectl([
                "-n", ns, "get", "svc", "reuse", "-o", "jsonpath={.spec.clusterIP} {.spec.ports[0].nodePort}",
            ])
            .out == "\(ip1) \(port1)")
        try a.kubectl(["-n", ns, "delete", "svc", "reuse"])
        // 10.0.0.0/28 has 13 addresses besides the network, broadcast and the kubernetes Service's.
        var filled: [String] = []
        for i in 0..<13 {
            try b.kubectl(["-n", ns, "create", "service", "clusterip", "fill-\(i)", "--tcp=80:80"])
            filled.append(try b.kubectl(["-n", ns, "get", "svc", "fill-\(i)", "-o", "jsonpath={.spec.clusterIP}"]).out)
        }
        #expect(Set(filled).count == 13 && !filled.contains("10.0.0.1"), "\(filled)")
        let full = try b.kubectl(["-n", ns, "create", "service", "clusterip", "fill-13", "--tcp=80:80"], check: false)
        #expect(full.status != 0 && full.err.contains("range is full"), "\(full.err)")

        // Killing A leaves B serving; once A's lease runs out it drops from the Endpoints.
        a.kill9()
        try b.kubectl(["-n", ns, "create", "configmap", "after-kill"])
        let fresh = (0..<5).flatMap { ["ADDED fresh-\($0)", "MODIFIED fresh-\($0)", "DELETED fresh-\($0)"] }
        #expect(
            watch.wait(for: 22) == ["ADDED from-a"] + (0..<5).map { "ADDED race-\($0)" } + fresh + ["ADDED after-kill"])
        for _ in 0..<150 {
            ips = endpointIPs(b)
            if ips == ["127.0.0.3"] { break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        #expect(ips == ["127.0.0.3"])
        b.stop()
    }

    @Test("etcd restarting under a watch: readyz fails and requests get 503 meanwhile, then the watch goes on")
    func etcdRestart() throws {
        let etcd = try EtcdProcess(progressInterval: "10m")
        defer { etcd.stop() }
        let c = try TestCluster(etcd: etcd.clientURL)
        let ns = try c.namespace("restart")
        let watch = try Watch(c, namespace: ns)
        try c.kubectl(["-n", ns, "create", "configmap", "before"])
        #expect(watch.wait(for: 1) == ["ADDED before"])

        etcd.kill()
        var ready = try c.kubectl(["get", "--raw", "/readyz?verbose"], check: false)
        #expect(ready.status != 0)
        #expect((ready.out + ready.err).contains("etcd"))
        let down = try c.kubectl(["-n", ns, "get", "configmaps", "--request-timeout=30s"], check: false)
        #expect(down.status != 0)
        #expect(
            down.err.contains("ServiceUnavailable") || down.err.contains("Timeout")
                || down.err.contains("unavailable"), "error while etcd is down: \(down.err)")

        try etcd.start()
        for _ in 0..<200 {
            ready = try c.kubectl(["get", "--raw", "/readyz"], check: false)
            if ready.status == 0 { break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        #expect(ready.status == 0, "the server did not recover: \(ready.err)")
        var created = false
        for _ in 0..<100 where !created {
            created = (try c.kubectl(["-n", ns, "create", "configmap", "after"], check: false)).status == 0
            if !created { Thread.sleep(forTimeInterval: 0.2) }
        }
        #expect(created)
        try c.kubectl(["-n", ns, "delete", "configmap", "before"])
        // Every event exactly once, in order, across the restart.
        #expect(watch.wait(for: 3) == ["ADDED before", "ADDED after", "DELETED before"])
        Thread.sleep(forTimeInterval: 0.5)
        #expect(watch.lines.count == 3, "events repeated: \(watch.lines)")
        #expect(
            try c.kubectl(["-n", ns, "get", "cm", "-o", "name", "--field-selector=metadata.name!=kube-root-ca.crt"]).out
                == "configmap/after")
    }

    @Test("keys follow upstream's layout under --etcd-prefix and values decode with the fixture-tested codec")
    func rawLayout() throws {
        let etcd = try EtcdProcess(progressInterval: "10m")
        defer { etcd.stop() }
        let c = try TestCluster(extraArgs: ["--etcd-prefix", "/custom"], etcd: etcd.clientURL)
        let ns = try c.namespace("raw")
        try c.kubectl(["-n", ns, "create", "configmap", "cm1", "--from-literal=a=1"])
        try c.kubectl(["-n", ns, "create", "deployment", "d1", "--image=nginx"])
        try c.kubectl(["-n", ns, "create", "service", "clusterip", "s1", "--tcp=80:80"])
        let node = """
            {"apiVersion":"v1","kind":"Node","metadata":{"name":"n1"}}
            """
        try c.kubectl(["create", "-f", "-"], stdin: node)

        let keys = Set(
            try Self.etcdctl(etcd, ["get", "/", "--prefix", "--keys-only"]).split(separator: "\n").map(String.init))
        for want in [
            "/custom/configmaps/\(ns)/cm1", "/custom/deployments/\(ns)/d1", "/custom/services/specs/\(ns)/s1",
            "/custom/services/endpoints/default/kubernetes", "/custom/minions/n1", "/custom/namespaces/\(ns)",
            "/custom/endpointslices/default/kubernetes",
        ] {
            #expect(keys.contains(want), "missing key \(want)")
        }
        #expect(
            keys.allSatisfy { $0.hasPrefix("/custom/") },
            "keys outside the prefix: \(keys.filter { !$0.hasPrefix("/custom/") })")

        let cmBytes = try Self.value(etcd, key: "/custom/configmaps/\(ns)/cm1")
        #expect(Array(cmBytes.prefix(4)) == [0x6B, 0x38, 0x73, 0x00], "values carry the k8s\\0 envelope")
        let cmEnvelope = try ProtobufEnvelope.unwrap(cmBytes)
        #expect(cmEnvelope.typeMeta.apiVersion == "v1" && cmEnvelope.typeMeta.kind == "ConfigMap")
        let cm = try CoreV1.ConfigMap(protoBytes: cmEnvelope.raw)
        #expect(cm.metadata.name == "cm1" && cm.metadata.namespace == ns && cm.data == ["a": "1"])
        #expect(
            cm.metadata.uid == (try c.kubectl(["-n", ns, "get", "cm", "cm1", "-o", "jsonpath={.metadata.uid}"]).out))

        let dEnvelope = try ProtobufEnvelope.unwrap(try Self.value(etcd, key: "/custom/deployments/\(ns)/d1"))
        #expect(dEnvelope.typeMeta.apiVersion == "apps/v1" && dEnvelope.typeMeta.kind == "Deployment")
        let d = try AppsV1.Deployment(protoBytes: dEnvelope.raw)
        #expect(d.spec.template.spec.containers.first?.image == "nginx")

        // A write outside the API prefix moves etcd's revision without an event the server sees;
        // a consistent read still answers, from etcd, and sees the latest state.
        _ = try Self.etcdctl(etcd, ["put", "/elsewhere/key", "x"])
        try c.kubectl(["-n", ns, "create", "configmap", "cm2"])
        _ = try Self.etcdctl(etcd, ["put", "/elsewhere/key", "y"])
        let names = try c.kubectl(["-n", ns, "get", "cm", "-o", "name"]).out.split(separator: "\n")
        #expect(names.contains("configmap/cm1") && names.contains("configmap/cm2"))
    }
}

/// kubectl results gathered from several threads.
final class NSLockedResults: @unchecked Sendable {
    private let lock = NSLock()
    private var results: [TestCluster.Result?] = []
    func add(_ r: TestCluster.Result?) { lock.withLock { results.append(r) } }
    var count: Int { lock.withLock { results.count } }
    var all: [TestCluster.Result] { lock.withLock { results.compactMap { $0 } } }
}

extension EtcdE2ETests {
    /// A CA, an etcd serving certificate for 127.0.0.1 and a client certificate, made with openssl.
    static func makeCertificates(in dir: String) throws -> (
        ca: String, server: (String, String), client: (String, String)
    ) {
        guard let openssl = TestCluster.which("openssl") else { throw E2EError("openssl is not installed") }
        func run(_ args: [String]) throws {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: openssl)
            p.arguments = args
            p.currentDirectoryURL = URL(fileURLWithPath: dir)
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            p.waitUntilExit()
            if p.terminationStatus != 0 { throw E2EError("openssl \(args.joined(separator: " ")) failed") }
        }
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        try run(
            ["req", "-x509"] + ec + ["-keyout", "ca.key", "-out", "ca.crt", "-days", "1", "-subj", "/CN=etcd-test-ca"])
        for (name, usage) in [("server", "serverAuth,clientAuth"), ("client", "clientAuth")] {
            try run(["req"] + ec + ["-keyout", "\(name).key", "-out", "\(name).csr", "-subj", "/CN=\(name)"])
            let ext = dir + "/\(name).ext"
            try "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=\(usage)\n".write(
                toFile: ext, atomically: true, encoding: .utf8)
            try run([
                "x509", "-req", "-in", "\(name).csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out",
                "\(name).crt", "-days", "1", "-extfile", ext,
            ])
        }
        return (dir + "/ca.crt", (dir + "/server.crt", dir + "/server.key"), (dir + "/client.crt", dir + "/client.key"))
    }

    @Test("etcd over TLS with client certificates (--etcd-cafile/certfile/keyfile), past a dead endpoint")
    func tlsAndFailover() throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let certs = try Self.makeCertificates(in: dir)
        let etcd = try EtcdProcess(
            progressInterval: "10m",
            tls: .init(cert: certs.server.0, key: certs.server.1, ca: certs.ca))
        defer { etcd.stop() }
        // The first endpoint refuses connections; the server fails over to the live one.
        let dead = "https://127.0.0.1:\(TestCluster.freePort())"
        let c = try TestCluster(
            extraArgs: [
                "--etcd-cafile", certs.ca, "--etcd-certfile", certs.client.0, "--etcd-keyfile", certs.client.1,
            ], etcd: dead + "," + etcd.clientURL)
        let ns = try c.namespace("tls")
        try c.kubectl(["-n", ns, "create", "configmap", "over-tls", "--from-literal=k=v"])
        #expect(try c.kubectl(["-n", ns, "get", "cm", "over-tls", "-o", "jsonpath={.data.k}"]).out == "v")
        // The key really is in the TLS etcd.
        let out = try Self.etcdctl(
            etcd, ["get", "/registry/configmaps/\(ns)/over-tls", "--keys-only"],
            tls: ["--cacert", certs.ca, "--cert", certs.client.0, "--key", certs.client.1])
        #expect(out.contains("/registry/configmaps/\(ns)/over-tls"))
    }
}
