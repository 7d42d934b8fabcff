import Foundation
import Testing

/// Graceful node shutdown: a `k8swift agent` with `--shutdown-grace-period=10s` told to stop
/// (SIGTERM) reports NotReady ("node is shutting down"), ends its pods with upstream's final status
/// (Failed, reason Terminated, DisruptionTarget by the kubelet) and their containers, then exits 0.
/// The API server is a separate `k8swift server` without a node, so it stays up to see it all.
extension NodeE2ETests {
    @Test("SIGTERM to a node with --shutdown-grace-period ends its pods with upstream's status, then the node exits")
    func gracefulShutdown() throws {
        if let why = Self.missing {
            print("skipped: the node end-to-end suite needs root, containerd, runc and CNI: \(why)")
            return
        }
        let (dir, busybox) = try nodeDataDir("k8swift-shutdown")
        let c = try TestCluster(dataDir: dir, keepDataDir: true)
        var agent: Process?
        defer {
            if let agent, agent.isRunning {
                kill(agent.processIdentifier, SIGKILL)
                agent.waitUntilExit()
            }
            c.stop()
            NodeHost.clean(dataDir: dir)
        }
        agent = try c.launch([
            "agent", "--server", "https://127.0.0.1:\(c.port)", "--token-file", dir + "/token", "--root-dir",
            dir + "/agent", "--port", "0", "--shutdown-grace-period=10s",
        ])
        try waitForAgentNode(c)
        try c.kubectl([
            "run", "sleeper", "--image=\(busybox)", "--image-pull-policy=IfNotPresent", "--", "sleep", "3600",
        ])
        try eventually(c, "sleeper Running") { dig(try pod(c, "sleeper"), "status", "phase") as? String == "Running" }
        let statuses = dig(try pod(c, "sleeper"), "status", "containerStatuses") as? [[String: Any]] ?? []
        let containerID = try #require(statuses.first?["containerID"] as? String).replacingOccurrences(
            of: "containerd://", with: "")
        let socket = dir + "/agent/containerd/containerd.sock"
        let tasks = try c.run("/usr/bin/ctr", ["-a", socket, "-n", "k8s.io", "tasks", "ls"]).out
        let line = try #require(tasks.split(separator: "\n").first { $0.hasPrefix(containerID) })
        let pid = try #require(
            line.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first.flatMap { Int32($0) })
        #expect(kill(pid, 0) == 0, "the container's process runs")

        let started = Date()
        kill(try #require(agent).processIdentifier, SIGTERM)
        try eventually(c, "the node NotReady: node is shutting down", timeout: 10) {
            let node = try #require(
                (try c.json(["get", "nodes", "-o", "json"]) as? [String: Any]).flatMap {
                    ($0["items"] as? [[String: Any]])?.first
                })
            let ready = (dig(node, "status", "conditions") as? [[String: Any]] ?? []).first {
                $0["type"] as? String == "Ready"
            }
            return ready?["status"] as? String == "False"
                && (ready?["message"] as? String ?? "").contains("node is shutting down")
        }
        try eventually(c, "sleeper Failed by the shutdown", timeout: 30) {
            let p = try pod(c, "sleeper")
            return dig(p, "status", "phase") as? String == "Failed"
        }
        let p = try pod(c, "sleeper")
        #expect(dig(p, "status", "reason") as? String == "Terminated")
        #expect(dig(p, "status", "message") as? String == "Pod was terminated in response to imminent node shutdown.")
        let disruption = (dig(p, "status", "conditions") as? [[String: Any]] ?? []).first {
            $0["type"] as? String == "DisruptionTarget"
        }
        #expect(disruption?["status"] as? String == "True")
        #expect(disruption?["reason"] as? String == "TerminationByKubelet")

        // The node takes at most its grace period (sleep ignores SIGTERM as PID 1: killed at 10 s), then exits 0.
        let deadline = Date().addingTimeInterval(40)
        while agent?.isRunning == true && Date() < deadline { Thread.sleep(forTimeInterval: 0.2) }
        #expect(agent?.isRunning == false, "the node exits after its shutdown")
        if agent?.isRunning == false { #expect(agent?.terminationStatus == 0) }
        #expect(Date().timeIntervalSince(started) < 30)
        let state = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8))?.split(separator: " ")
        #expect(state == nil || state![2] == "Z", "the container's process is gone")
    }
}
