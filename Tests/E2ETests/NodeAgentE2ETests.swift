import Foundation
import Testing

/// `k8swift agent`: a node joining a server that runs no node of its own, with only the server's
/// address and its node token (`<data-dir>/token`, k3s's shape: the CA's hash and a secret). The
/// agent trusts the CA it fetches only when it matches the token's hash, registers its Node, runs
/// pods, and serves exec and logs to the API server over its kubelet port.
extension NodeE2ETests {
    /// Waits for the cluster's only node (an agent joining a server without a node of its own) to
    /// be Ready with a pod CIDR.
    func waitForAgentNode(_ c: TestCluster) throws {
        try eventually(c, "the agent's node Ready") {
            let list = try c.json(["get", "nodes", "-o", "json"]) as? [String: Any]
            guard let node = (list?["items"] as? [[String: Any]])?.first else { return false }
            let conds = dig(node, "status", "conditions") as? [[String: Any]] ?? []
            return conds.contains { $0["type"] as? String == "Ready" && $0["status"] as? String == "True" }
                && dig(node, "spec", "podCIDR") != nil
        }
    }

    @Test(
        "k8swift agent joins a server with its token, runs a pod, and serves exec and logs; a wrong token is refused; when it dies its node goes unreachable and NoExecute evicts"
    )
    func agentJoins() throws {
        if let why = Self.missing {
            print("skipped: the node end-to-end suite needs root, containerd, runc and CNI: \(why)")
            return
        }
        let (dir, busybox) = try nodeDataDir("k8swift-agent")
        let c = try TestCluster(
            extraArgs: ["--kube-controller-manager-arg", "node-monitor-grace-period=6s"], dataDir: dir,
            keepDataDir: true)
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
        try waitForAgentNode(c)
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

        // The agent dies: its node goes unheard, turns NotReady (Unknown) and gets the unreachable
        // NoExecute taint, and the taint-eviction controller deletes a pod that tolerates it 1 s.
        try c.kubectl(
            ["apply", "-f", "-"],
            stdin: """
                apiVersion: v1
                kind: Pod
                metadata: {name: brief}
                spec:
                  tolerations:
                  - {key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute, tolerationSeconds: 1}
                  - {key: node.kubernetes.io/not-ready, operator: Exists, effect: NoExecute, tolerationSeconds: 1}
                  containers:
                  - {name: c, image: \(busybox), imagePullPolicy: IfNotPresent, command: [sleep, "3600"]}
                """)
        try eventually(c, "brief Running") { dig(try pod(c, "brief"), "status", "phase") as? String == "Running" }
        if let agent { kill(agent.processIdentifier, SIGKILL) }
        try eventually(c, "the node unreachable and tainted", timeout: 60) {
            let node = try #require(
                (try c.json(["get", "nodes", "-o", "json"]) as? [String: Any]).flatMap {
                    ($0["items"] as? [[String: Any]])?.first
                })
            let ready = (dig(node, "status", "conditions") as? [[String: Any]] ?? []).first {
                $0["type"] as? String == "Ready"
            }
            let taints = dig(node, "spec", "taints") as? [[String: Any]] ?? []
            return ready?["status"] as? String == "Unknown"
                && taints.contains {
                    $0["key"] as? String == "node.kubernetes.io/unreachable" && $0["effect"] as? String == "NoExecute"
                }
        }
        try eventually(c, "brief evicted", timeout: 60) {
            dig(try pod(c, "brief"), "metadata", "deletionTimestamp") != nil
        }
        // The pod with upstream's default 300 s toleration stays.
        #expect(dig(try pod(c, "web"), "metadata", "deletionTimestamp") == nil)
    }
}
