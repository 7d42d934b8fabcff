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

/// The same inside `k8swift server` (`--kubelet-arg shutdown-grace-period=10s`): on SIGTERM the
/// built-in node ends its pods while the API server still serves (NotReady, Failed pods, their preStop
/// hooks run with the node's grace overriding the pod's 60 s), then the control plane stops and the
/// process exits 0; a restart on the same data dir shows what was written.
extension NodeE2ETests {
    @Test("SIGTERM to server with a node shutdown grace period: pods end with their preStop hooks first, then exit 0")
    func serverGracefulShutdown() throws {
        if let why = Self.missing {
            print("skipped: the node end-to-end suite needs root, containerd, runc and CNI: \(why)")
            return
        }
        let (dir, busybox) = try nodeDataDir("k8swift-server-shutdown")
        var c = try TestCluster(
            extraArgs: ["--kubelet-arg", "shutdown-grace-period=10s"], dataDir: dir, keepDataDir: true, node: true)
        defer {
            c.stop()
            NodeHost.clean(dataDir: dir)
        }
        try eventually(c, "a Ready node with a pod CIDR") {
            let list = try c.json(["get", "nodes", "-o", "json"]) as? [String: Any]
            guard let node = (list?["items"] as? [[String: Any]])?.first else { return false }
            let conds = dig(node, "status", "conditions") as? [[String: Any]] ?? []
            return conds.contains { $0["type"] as? String == "Ready" && $0["status"] as? String == "True" }
                && dig(node, "spec", "podCIDR") != nil
        }
        // sleep as PID 1 ignores SIGTERM: only the SIGKILL at the end of the grace period stops it.
        let manifest = """
            apiVersion: v1
            kind: Pod
            metadata: {name: hooked}
            spec:
              terminationGracePeriodSeconds: 60
              volumes:
              - name: out
                hostPath: {path: \(dir)/hook, type: DirectoryOrCreate}
              containers:
              - name: main
                image: \(busybox)
                imagePullPolicy: IfNotPresent
                command: [sleep, "3600"]
                volumeMounts: [{name: out, mountPath: /out}]
                lifecycle:
                  preStop:
                    exec: {command: [sh, -c, "echo prestop-ran > /out/prestop"]}
            """
        try c.kubectl(["apply", "-f", "-"], stdin: manifest)
        try eventually(c, "hooked Running") { dig(try pod(c, "hooked"), "status", "phase") as? String == "Running" }
        let hookFile = dir + "/hook/prestop"
        #expect(!FileManager.default.fileExists(atPath: hookFile))
        let statuses = dig(try pod(c, "hooked"), "status", "containerStatuses") as? [[String: Any]] ?? []
        let containerID = try #require(statuses.first?["containerID"] as? String).replacingOccurrences(
            of: "containerd://", with: "")
        let socket = dir + "/agent/containerd/containerd.sock"
        let tasks = try c.run("/usr/bin/ctr", ["-a", socket, "-n", "k8s.io", "tasks", "ls"]).out
        let line = try #require(tasks.split(separator: "\n").first { $0.hasPrefix(containerID) })
        let pid = try #require(
            line.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first.flatMap { Int32($0) })
        #expect(kill(pid, 0) == 0, "the container's process runs")

        let started = Date()
        kill(c.process.processIdentifier, SIGTERM)
        // Watched while the server shuts its node down: it still answers.
        try eventually(c, "the node NotReady: node is shutting down", timeout: 8) {
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
        try eventually(c, "hooked Failed by the shutdown", timeout: 8) {
            dig(try pod(c, "hooked"), "status", "phase") as? String == "Failed"
        }
        let deadline = Date().addingTimeInterval(40)
        while c.process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.2) }
        #expect(!c.process.isRunning, "the server exits after its node's shutdown")
        guard !c.process.isRunning else { return }
        #expect(c.process.terminationReason == .exit && c.process.terminationStatus == 0)
        let took = Date().timeIntervalSince(started)
        // The pod's 60 s would outlast the node's 10 s: the override bounds the kill (SIGKILL at ~10 s).
        #expect(took >= 8 && took < 30, "shutdown took \(took) s")
        #expect(
            (try? String(contentsOfFile: hookFile, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
                == "prestop-ran", "the preStop hook ran")
        let state = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8))?.split(separator: " ")
        #expect(state == nil || state![2] == "Z", "the container's process is gone")

        // What the shutdown wrote, read back from a control plane restarted without its node.
        let port = c.port
        c = try TestCluster(dataDir: dir, port: port, keepDataDir: true)
        let p = try pod(c, "hooked")
        #expect(dig(p, "status", "phase") as? String == "Failed")
        #expect(dig(p, "status", "reason") as? String == "Terminated")
        #expect(dig(p, "status", "message") as? String == "Pod was terminated in response to imminent node shutdown.")
        let disruption = (dig(p, "status", "conditions") as? [[String: Any]] ?? []).first {
            $0["type"] as? String == "DisruptionTarget"
        }
        #expect(disruption?["reason"] as? String == "TerminationByKubelet")
        let node = try #require(
            (try c.json(["get", "nodes", "-o", "json"]) as? [String: Any]).flatMap {
                ($0["items"] as? [[String: Any]])?.first
            })
        let ready = (dig(node, "status", "conditions") as? [[String: Any]] ?? []).first {
            $0["type"] as? String == "Ready"
        }
        #expect(ready?["status"] as? String == "False")
        #expect(ready?["reason"] as? String == "KubeletNotReady")
    }
}
