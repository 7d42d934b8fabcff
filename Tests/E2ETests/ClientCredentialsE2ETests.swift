import Foundation
import Testing

/// KubeClient's kubeconfig handling against a real server, through `k8swift kube-controller-manager`:
/// an exec credential plugin (`client.authentication.k8s.io/v1`) answering with a client certificate,
/// and `tls-server-name` naming the certificate's host while the server is reached by IP.
@Suite("client credentials end to end", .serialized)
struct ClientCredentialsE2ETests {
    /// The admin kubeconfig's client certificate and key, and its CA, as base64.
    func adminCredentials(_ c: TestCluster) throws -> (cert: String, key: String, ca: String) {
        let text = try String(contentsOfFile: c.kubeconfig, encoding: .utf8)
        func field(_ name: String) throws -> String {
            guard let line = text.split(separator: "\n").first(where: { $0.contains(name + ":") }) else {
                throw E2EError("no \(name) in the kubeconfig")
            }
            return line.split(separator: ":", maxSplits: 1)[1].trimmingCharacters(in: .whitespaces)
        }
        return (
            try field("client-certificate-data"), try field("client-key-data"), try field("certificate-authority-data")
        )
    }

    func pem(_ b64: String) -> String { String(decoding: Data(base64Encoded: b64) ?? Data(), as: UTF8.self) }

    /// A kubeconfig whose user is an exec plugin printing the admin certificate.
    func execKubeconfig(_ c: TestCluster, host: String, serverName: String?) throws -> String {
        let (cert, key, ca) = try adminCredentials(c)
        let dir = c.dataDir + "/exec-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let credential: [String: Any] = [
            "apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
            "status": ["clientCertificateData": pem(cert), "clientKeyData": pem(key)],
        ]
        let json = String(decoding: try JSONSerialization.data(withJSONObject: credential), as: UTF8.self)
        try json.write(toFile: dir + "/credential.json", atomically: true, encoding: .utf8)
        let plugin = dir + "/plugin.sh"
        try "#!/bin/sh\ncat \(dir)/credential.json\n".write(toFile: plugin, atomically: true, encoding: .utf8)
        chmod(plugin, 0o755)
        let kc = """
            apiVersion: v1
            kind: Config
            clusters:
            - name: c
              cluster:
                server: https://\(host):\(c.port)
                certificate-authority-data: \(ca)
            \(serverName.map { "    tls-server-name: \($0)" } ?? "")
            users:
            - name: u
              user:
                exec:
                  apiVersion: client.authentication.k8s.io/v1
                  command: \(plugin)
                  interactiveMode: Never
            contexts:
            - name: x
              context: {cluster: c, user: u}
            current-context: x
            """
        try kc.write(toFile: dir + "/kubeconfig", atomically: true, encoding: .utf8)
        return dir + "/kubeconfig"
    }

    func startControllerManager(_ c: TestCluster, kubeconfig: String) throws -> Process {
        try c.launch([
            "kube-controller-manager", "--kubeconfig", kubeconfig, "--secure-port", "0", "--leader-elect=false",
            "--controllers", "serviceaccount-controller",
        ])
    }

    @Test("an exec plugin's client certificate authenticates, and tls-server-name is what the certificate must match")
    func execCertificateAndServerName() throws {
        // A server on every address, reached at 127.0.0.2, which its certificate does not name.
        let c = try TestCluster(extraArgs: ["--disable", "controller-manager"], address: "0.0.0.0")
        let local = c.dataDir + "/local.yaml"
        try (try String(contentsOfFile: c.kubeconfig, encoding: .utf8))
            .replacingOccurrences(of: "https://0.0.0.0:", with: "https://127.0.0.1:")
            .write(toFile: local, atomically: true, encoding: .utf8)
        func kubectl(_ args: [String]) throws -> TestCluster.Result {
            try c.kubectl(["--kubeconfig", local] + args, check: false)
        }
        // Anonymous requests are refused, so only the plugin's certificate can make this work.
        let anonymous = try c.run(
            "/usr/bin/curl",
            ["-sk", "-o", "/dev/null", "-w", "%{http_code}", "https://127.0.0.1:\(c.port)/api/v1/namespaces"]
        ).out
        #expect(anonymous == "401" || anonymous == "403", "anonymous got \(anonymous)")
        func acts(host: String, serverName: String?, within seconds: Double) throws -> Bool {
            let kcm = try startControllerManager(
                c, kubeconfig: try execKubeconfig(c, host: host, serverName: serverName))
            defer {
                kill(kcm.processIdentifier, SIGKILL)
                kcm.waitUntilExit()
            }
            let ns = "exec-\(UUID().uuidString.prefix(8).lowercased())"
            _ = try kubectl(["create", "namespace", ns])
            let deadline = Date().addingTimeInterval(seconds)
            while Date() < deadline {
                if try kubectl(["-n", ns, "get", "serviceaccount", "default"]).status == 0 { return true }
                Thread.sleep(forTimeInterval: 0.2)
            }
            return false
        }
        #expect(try acts(host: "127.0.0.2", serverName: "localhost", within: 20), "exec certificate + server name")
        #expect(!(try acts(host: "127.0.0.2", serverName: nil, within: 3)), "the address alone does not verify")
        #expect(!(try acts(host: "127.0.0.2", serverName: "not-the-server.example", within: 3)))
    }
}

/// `k8swift server --kube-controller-manager-arg name=value`, as k3s takes it.
@Suite("built-in controller manager flags", .serialized)
struct ControllerManagerArgTests {
    @Test("--kube-controller-manager-arg passes flags to the built-in controller manager; a bad one stops the server")
    func passesFlags() throws {
        let c = try TestCluster(extraArgs: ["--kube-controller-manager-arg=controllers=*,-serviceaccount-controller"])
        let ns = try c.namespace("kcmarg")
        let deadline = Date().addingTimeInterval(20)
        var published = false
        while Date() < deadline && !published {
            published = (try? c.kubectl(["-n", ns, "get", "configmap", "kube-root-ca.crt"], check: false))?.status == 0
            if !published { Thread.sleep(forTimeInterval: 0.2) }
        }
        #expect(published, "the other controllers run")
        Thread.sleep(forTimeInterval: 1)
        #expect(try c.kubectl(["-n", ns, "get", "serviceaccount", "default"], check: false).status != 0)
        // Leader election only on a store several servers can share (etcd), not on embedded SQLite.
        let lease = try c.kubectl(["-n", "kube-system", "get", "lease", "kube-controller-manager"], check: false)
        #expect((lease.status == 0) == TestCluster.onEtcd, "\(lease.out) \(lease.err)")
        let bad = try c.run(
            TestCluster.binary,
            ["server", "--data-dir", c.dataDir + "/bad", "--kube-controller-manager-arg=controllers=nonsense"],
            check: false)
        #expect(bad.status != 0)
        #expect(bad.err.contains("\"nonsense\" is not in the list of known controllers"), "\(bad.err)")
    }
}
