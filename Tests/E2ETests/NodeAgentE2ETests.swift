import Foundation
import Testing

/// `k8swift agent`: a node joining a server that runs no node of its own, with only the server's
/// address and its node token (`<data-dir>/token`, k3s's shape: the CA's hash and a secret). The
/// agent trusts the CA it fetches only when it matches the token's hash, registers its Node, runs
/// pods, and serves exec and logs to the API server over its kubelet port.
extension NodeE2ETests {
    @Test("k8swift agent joins a server with its token, runs a pod, and serves exec and logs; a wrong token is refused")
    func agentJoins() throws {
        if let why = Self.missing {
            print("skipped: the node end-to-end suite needs root, containerd, runc and CNI: \(why)")
            return
        }
        let (dir, busybox) = try nodeDataDir("k8swift-agent")
        let c = try TestCluster(dataDir: dir, keepDataDir: true)
        var agent: Process?
        defer {
            agent?.terminate()
            agent?.waitUntilExit()
            c.stop()
            NodeHost.clean(dataDir: dir)
        }
        let token = try String(contentsOfFile: dir + "/token", encoding: .utf8)
        #expect(token.hasPrefix("K10") && token.contains("::server:"))
        #expect(try c.kubectl(["get", "nodes", "-o", "name"]).out.isEmpty, "the server runs no node itself")

        // A token whose CA hash is not the server's: the agent refuses to join.
        let secret = try #require(token.split(separator: ":").last).trimmingCharacters(in: .whitespacesAndNewlines)
        let forged = "K10" + String(repeating: "0", count: 64) + "::server:" + secret
        let refused = try c.run(
            TestCluster.binary,
            [
                "agent", "--server", "https://127.0.0.1:\(c.port)", "--token", forged, "--root-dir", dir + "/refused",
                "--port", "0",
            ], check: false)
        #expect(refused.status != 0)
        #expect(refused.err.contains("does not match the token's hash"), "\(refused.err)")

        agent = try c.launch([
            "agent", "--server", "https://127.0.0.1:\(c.port)", "--token-file", dir + "/token", "--root-dir",
            dir + "/agent", "--port", "0",
        ])
        try eventually(c, "the agent's node Ready") {
            let list = try c.json(["get", "nodes", "-o", "json"]) as? [String: Any]
            guard let node = (list?["items"] as? [[String: Any]])?.first else { return false }
            let conds = dig(node, "status", "conditions") as? [[String: Any]] ?? []
            return conds.contains { $0["type"] as? String == "Ready" && $0["status"] as? String == "True" }
                && dig(node, "spec", "podCIDR") != nil
        }
        try c.kubectl([
            "run", "web", "--image=\(busybox)", "--image-pull-policy=IfNotPresent", "--",
            "sh", "-c",
            "echo started; mkdir -p /www && echo hello-agent > /www/index.html && exec httpd -f -p 8080 -h /www",
        ])
        try eventually(c, "web Running") {
            dig(try pod(c, "web"), "status", "phase") as? String == "Running"
        }
        #expect(try c.kubectl(["exec", "web", "--", "cat", "/www/index.html"]).out == "hello-agent")
        #expect(try c.kubectl(["logs", "web"]).out == "started")
        try c.kubectl(["delete", "pod", "web", "--grace-period=1"])
    }
}
