import Foundation
import Kubelet
import Testing

/// `k8swift server` with its node: the kubelet registers the machine, starts containerd of its own
/// and runs pods as real containers (runc, CNI bridge), driven with kubectl. Needs root, containerd,
/// runc and the CNI plugins (CI installs them); the node's images come from hack/node-images.sh.
/// Expected outcomes are upstream's: phases, reasons (CrashLoopBackOff, ErrImagePull/ImagePullBackOff,
/// Completed, Error), kubectl's STATUS words, the Node's Ready condition and Lease.
@Suite("node end to end", .serialized)
struct NodeE2ETests {
    static var missing: String? {
        if getuid() != 0 { return "not root" }
        for b in ["/usr/bin/containerd", "/usr/bin/ctr", "/usr/lib/cni/bridge"]
        where !FileManager.default.isExecutableFile(atPath: b) {
            return "\(b) is missing"
        }
        if !FileManager.default.isExecutableFile(atPath: "/usr/sbin/runc") { return "runc is missing" }
        return nil
    }

    static func nodeImages() throws -> [String: String] {
        let script = TestCluster.repoRoot.path + "/hack/node-images.sh"
        let r = try TestCluster.execute(
            [script], stdin: nil, environment: ProcessInfo.processInfo.environment,
            scratchDir: NSTemporaryDirectory(), check: true)
        var env: [String: String] = [:]
        for line in r.out.split(separator: "\n") {
            guard let eq = line.firstIndex(of: "=") else { continue }
            env[String(line[..<eq])] = String(line[line.index(after: eq)...])
        }
        return env
    }

    func eventually(_ c: TestCluster, _ what: String, timeout: Double = 60, _ f: () throws -> Bool) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if (try? f()) == true { return }
            Thread.sleep(forTimeInterval: 0.2)
        }
        let pods = (try? c.kubectl(["get", "pods", "-A", "-o", "wide"], check: false).out) ?? ""
        let events = (try? c.kubectl(["get", "events", "-A"], check: false).out) ?? ""
        let log = (try? String(contentsOfFile: c.log, encoding: .utf8)) ?? ""
        throw E2EError("timed out waiting for \(what)\n\(pods)\n\(events.suffix(3000))\n\(log.suffix(3000))")
    }

    func pod(_ c: TestCluster, _ name: String) throws -> [String: Any] {
        try c.json(["get", "pod", name, "-o", "json"]) as? [String: Any] ?? [:]
    }

    func statusWord(_ c: TestCluster, _ name: String) throws -> String {
        let out = try c.kubectl(["get", "pod", name, "--no-headers"]).out
        let f = out.split(whereSeparator: { $0 == " " || $0 == "\n" })
        return f.count > 2 ? String(f[2]) : ""
    }

    @Test(
        "pods run as containers: networking from the host, restarts and back-off, pull errors, completion, deletion; nothing is left behind"
    )
    func onePodNode() throws {
        if let why = Self.missing {
            print("skipped: the node end-to-end suite needs root, containerd, runc and CNI: \(why)")
            return
        }
        let (dir, busybox) = try nodeDataDir()
        let c = try TestCluster(dataDir: dir, keepDataDir: true, node: true)
        defer {
            c.stop()
            NodeHost.clean(dataDir: dir)
        }

        // The node registers, turns Ready, holds a Lease, and gets a pod range from the controller manager.
        var nodeName = ""
        try eventually(c, "a Ready node") {
            let list = try c.json(["get", "nodes", "-o", "json"]) as? [String: Any]
            guard let node = (list?["items"] as? [[String: Any]])?.first else { return false }
            nodeName = dig(node, "metadata", "name") as? String ?? ""
            let conds = dig(node, "status", "conditions") as? [[String: Any]] ?? []
            let ready = conds.first { $0["type"] as? String == "Ready" }
            return ready?["status"] as? String == "True" && ready?["reason"] as? String == "KubeletReady"
                && dig(node, "spec", "podCIDR") != nil
        }
        let node = try #require(try c.json(["get", "node", nodeName, "-o", "json"]) as? [String: Any])
        #expect(dig(node, "metadata", "labels", "kubernetes.io/os") as? String == "linux")
        #expect(dig(node, "metadata", "labels", "kubernetes.io/hostname") as? String == nodeName)
        #expect(dig(node, "status", "capacity", "pods") as? String == "110")
        #expect(
            (dig(node, "status", "nodeInfo", "containerRuntimeVersion") as? String)?.hasPrefix("containerd://") == true)
        let lease = try c.json(["get", "lease", "-n", "kube-node-lease", nodeName, "-o", "json"])
        #expect(dig(lease, "spec", "holderIdentity") as? String == nodeName)

        // A web server: Running and Ready, its IP from the node's range, reachable from the host.
        try c.kubectl([
            "run", "web", "--image=\(busybox)", "--image-pull-policy=IfNotPresent", "--",
            "sh", "-c", "mkdir -p /www && echo hello-from-pod > /www/index.html && exec httpd -f -p 8080 -h /www",
        ])
        try eventually(c, "web Running and Ready") {
            let p = try pod(c, "web")
            let conds = dig(p, "status", "conditions") as? [[String: Any]] ?? []
            return dig(p, "status", "phase") as? String == "Running"
                && conds.contains { $0["type"] as? String == "Ready" && $0["status"] as? String == "True" }
        }
        let web = try pod(c, "web")
        let ip = try #require(dig(web, "status", "podIP") as? String)
        #expect(ip.hasPrefix("10.42."))
        #expect(dig(web, "status", "hostIP") as? String != nil)
        #expect(
            (dig(web, "status", "containerStatuses", 0, "containerID") as? String)?.hasPrefix("containerd://") == true)
        #expect(
            (dig(web, "status", "conditions") as? [[String: Any]] ?? []).map { $0["type"] as? String ?? "" }
                == ["PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled"])
        let body = try c.run("/usr/bin/curl", ["-s", "-m", "5", "http://\(ip):8080/"])
        #expect(body.out.trimmingCharacters(in: .whitespacesAndNewlines) == "hello-from-pod")
        let events = try c.kubectl(["get", "events", "--field-selector", "involvedObject.name=web"]).out
        #expect(events.contains("Started container web"))

        // A crashing container restarts with a growing back-off.
        try c.kubectl([
            "run", "crash", "--image=\(busybox)", "--image-pull-policy=IfNotPresent", "--", "sh", "-c", "exit 2",
        ])
        try eventually(c, "crash in CrashLoopBackOff", timeout: 60) {
            let p = try pod(c, "crash")
            return dig(p, "status", "containerStatuses", 0, "state", "waiting", "reason") as? String
                == "CrashLoopBackOff"
                && (dig(p, "status", "containerStatuses", 0, "restartCount") as? Int ?? 0) >= 1
        }
        let crash = try pod(c, "crash")
        #expect(dig(crash, "status", "containerStatuses", 0, "lastState", "terminated", "exitCode") as? Int == 2)
        #expect(dig(crash, "status", "containerStatuses", 0, "lastState", "terminated", "reason") as? String == "Error")
        #expect(
            (dig(crash, "status", "containerStatuses", 0, "state", "waiting", "message") as? String)?.hasPrefix(
                "back-off ") == true)
        #expect(try statusWord(c, "crash") == "CrashLoopBackOff")

        // An image no registry has: ErrImagePull, then ImagePullBackOff; the pod stays Pending.
        try c.kubectl(["run", "missing", "--image=k8swift.local/no-such-image:1"])
        try eventually(c, "missing in ImagePullBackOff") {
            let p = try pod(c, "missing")
            return dig(p, "status", "containerStatuses", 0, "state", "waiting", "reason") as? String
                == "ImagePullBackOff"
        }
        #expect(dig(try pod(c, "missing"), "status", "phase") as? String == "Pending")
        let pullEvents = try c.kubectl(["get", "events", "--field-selector", "involvedObject.name=missing"]).out
        #expect(pullEvents.contains("Failed to pull image \"k8swift.local/no-such-image:1\""))

        // restartPolicy Never: exit 0 is Succeeded (Completed), exit 1 Failed (Error).
        try c.kubectl([
            "run", "ok", "--restart=Never", "--image=\(busybox)", "--image-pull-policy=IfNotPresent", "--", "true",
        ])
        try c.kubectl([
            "run", "bad", "--restart=Never", "--image=\(busybox)", "--image-pull-policy=IfNotPresent", "--", "false",
        ])
        try eventually(c, "ok Succeeded and bad Failed") {
            let ok = try pod(c, "ok")
            let bad = try pod(c, "bad")
            return dig(ok, "status", "phase") as? String == "Succeeded"
                && dig(bad, "status", "phase") as? String == "Failed"
        }
        #expect(try statusWord(c, "ok") == "Completed")
        #expect(try statusWord(c, "bad") == "Error")

        // The web server kept running through all of it.
        #expect(dig(try pod(c, "web"), "status", "containerStatuses", 0, "restartCount") as? Int == 0)

        // Deleting pods stops their containers and ends the deletion.
        try c.kubectl(["delete", "pod", "web", "crash", "missing", "ok", "bad", "--timeout=60s"])
        #expect(
            try c.kubectl(["get", "pods", "--no-headers"]).out.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty)
        try eventually(c, "no pod network namespace and no container left") {
            NodeHost.runningContainers(dataDir: dir).isEmpty
        }
    }
}

/// What a node leaves on the host, and its removal after a test.
enum NodeHost {
    /// Shims of the node's containerd (each a pod's sandbox or container still running).
    static func runningContainers(dataDir: String) -> [String] {
        let procs = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return procs.filter { Int($0) != nil }.compactMap { pid in
            guard let cmd = try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8) else { return nil }
            return cmd.contains("containerd-shim") && cmd.contains(dataDir) ? pid : nil
        }
    }

    /// Stops whatever the node left (after the server was stopped): shims and their processes,
    /// mounts, the CNI bridge, the pod cgroups, containerd's /run leftovers.
    static func clean(dataDir: String) {
        for pid in runningContainers(dataDir: dataDir) { kill(pid_t(pid)!, SIGKILL) }
        for h in (try? FileManager.default.contentsOfDirectory(atPath: "/sys/fs/cgroup")) ?? [] {
            let top = "/sys/fs/cgroup/\(h)/kubepods"
            guard let e = FileManager.default.enumerator(atPath: top) else { continue }
            var dirs = [top]
            while let rel = e.nextObject() as? String {
                if FileManager.default.fileExists(atPath: top + "/" + rel + "/cgroup.procs") {
                    dirs.append(top + "/" + rel)
                }
            }
            for d in dirs {
                for p in ((try? String(contentsOfFile: d + "/cgroup.procs", encoding: .utf8)) ?? "").split(
                    separator: "\n")
                {
                    if let pid = pid_t(p) { kill(pid, SIGKILL) }
                }
            }
            Thread.sleep(forTimeInterval: 0.2)
            for d in dirs.sorted(by: { $0.count > $1.count }) { rmdir(d) }
        }
        let mounts = ProcFile.read("/proc/mounts") ?? ""
        for line in mounts.split(separator: "\n").reversed() {
            let f = line.split(separator: " ")
            if f.count > 1, f[1].hasPrefix(dataDir) { umount2(String(f[1]), Int32(MNT_DETACH)) }
        }
        _ = try? TestCluster.execute(
            ["/sbin/ip", "link", "del", "k8swift0"], stdin: nil, environment: [:], scratchDir: NSTemporaryDirectory(),
            check: false)
        // The node's kube-proxy leaves its rules in place on exit, as upstream's does.
        for family in ["ip", "ip6"] {
            _ = try? TestCluster.execute(
                ["/usr/sbin/nft", "delete", "table", family, "kube-proxy"], stdin: nil, environment: [:],
                scratchDir: NSTemporaryDirectory(), check: false)
        }
        for d in ["/run/containerd/runc/k8s.io", "/run/containerd/runc", "/run/containerd/s", "/run/containerd"] {
            rmdir(d)
        }
        try? FileManager.default.removeItem(atPath: dataDir)
    }
}
