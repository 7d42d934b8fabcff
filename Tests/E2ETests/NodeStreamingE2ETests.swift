import Foundation
import Testing

/// What reaches through the API server to a running pod: `kubectl logs` (tail, follow, timestamps,
/// limit, previous, a wrong container), `kubectl exec` with kubectl 1.33 (WebSocket, translated to
/// SPDY by the API server) and 1.27 (SPDY end to end), stdin, exit codes and a TTY, `kubectl cp` both
/// ways, `kubectl debug` (an ephemeral container in the target's process namespace), `kubectl
/// port-forward`, the pod, service and node proxies, and the official Python client's exec and
/// port-forward. Expected outcomes are upstream's messages and kubectl's behaviour.
extension NodeE2ETests {
    /// A one-node cluster with the test images, its node Ready: the cluster, its data directory and
    /// the busybox image. The caller stops the cluster and cleans the host (`NodeHost.clean`).
    /// A data directory whose `agent/images` holds the test images, and the busybox image's name.
    func nodeDataDir(_ prefix: String = "k8swift-node") throws -> (dir: String, busybox: String) {
        let images = try Self.nodeImages()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
            "\(prefix)-\(UUID().uuidString.prefix(8))"
        ).path
        try FileManager.default.createDirectory(atPath: dir + "/agent/images", withIntermediateDirectories: true)
        for key in ["PAUSE_TAR", "BUSYBOX_TAR"] {
            let tar = try #require(images[key])
            try FileManager.default.copyItem(
                atPath: tar, toPath: dir + "/agent/images/" + (tar as NSString).lastPathComponent)
        }
        return (dir, try #require(images["BUSYBOX_IMAGE"]))
    }

    /// Runs `body` on a fresh one-node cluster (its cluster, data directory and busybox image) and
    /// cleans the host up afterwards; says why and returns when this machine cannot run a node.
    func withNode(_ body: (TestCluster, String, String) throws -> Void) throws {
        if let why = Self.missing {
            print("skipped: the node end-to-end suite needs root, containerd, runc and CNI: \(why)")
            return
        }
        let (c, dir, busybox) = try startNode()
        defer {
            c.stop()
            NodeHost.clean(dataDir: dir)
        }
        try body(c, dir, busybox)
    }

    func startNode() throws -> (cluster: TestCluster, dir: String, busybox: String) {
        let (dir, busybox) = try nodeDataDir()
        let c = try TestCluster(dataDir: dir, keepDataDir: true, node: true)
        do {
            try eventually(c, "a Ready node") {
                let list = try c.json(["get", "nodes", "-o", "json"]) as? [String: Any]
                guard let node = (list?["items"] as? [[String: Any]])?.first else { return false }
                let conds = dig(node, "status", "conditions") as? [[String: Any]] ?? []
                return conds.contains { $0["type"] as? String == "Ready" && $0["status"] as? String == "True" }
                    && dig(node, "spec", "podCIDR") != nil
            }
        } catch {
            c.stop()
            NodeHost.clean(dataDir: dir)
            throw error
        }
        return (c, dir, busybox)
    }

    func waitReady(_ c: TestCluster, _ name: String) throws {
        try eventually(c, "\(name) Ready") {
            let conds = dig(try pod(c, name), "status", "conditions") as? [[String: Any]] ?? []
            return conds.contains { $0["type"] as? String == "Ready" && $0["status"] as? String == "True" }
        }
    }

    @Test(
        "logs, exec, cp, port-forward and proxies reach running pods, with kubectl 1.33 and 1.27 and the Python client")
    func streaming() throws {
        try withNode { c, dir, busybox in
            try c.kubectl([
                "run", "talk", "--image=\(busybox)", "--image-pull-policy=IfNotPresent", "--",
                "sh", "-c", "i=0; while true; do echo line $i; i=$((i+1)); sleep 0.3; done",
            ])
            try c.kubectl([
                "run", "web", "--image=\(busybox)", "--image-pull-policy=IfNotPresent", "--port=8080", "--",
                "sh", "-c", "mkdir -p /www && echo hello-from-pod > /www/index.html && exec httpd -f -p 8080 -h /www",
            ])
            try waitReady(c, "talk")
            try waitReady(c, "web")

            // Logs: the last lines, in order; timestamps in RFC 3339; a byte limit; follow sees new lines.
            try eventually(c, "five lines of log") {
                try c.kubectl(["logs", "talk"]).out.split(separator: "\n").count >= 5
            }
            let tail = try c.kubectl(["logs", "talk", "--tail=2"]).out.split(separator: "\n")
            #expect(tail.count == 2)
            if tail.count == 2, let a = Int(tail[0].dropFirst(5)), let b = Int(tail[1].dropFirst(5)) {
                #expect(b == a + 1 && tail[0].hasPrefix("line "))
            }
            let stamped = try c.kubectl(["logs", "talk", "--tail=1", "--timestamps"]).out
            #expect(
                stamped.range(of: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z line \d+$"#, options: .regularExpression)
                    != nil)
            #expect(try c.kubectl(["logs", "talk", "--limit-bytes=4"]).out == "line")
            let followed = try c.run(
                "/usr/bin/timeout", ["3", try #require(TestCluster.kubectl("1.33")), "logs", "-f", "talk", "--tail=1"],
                check: false)
            #expect(followed.status == 124, "kubectl logs -f ended on its own: \(followed.err)")
            #expect(followed.out.split(separator: "\n").count >= 4, "follow saw: \(followed.out)")
            let wrong = try c.kubectl(["logs", "talk", "-c", "nope"], check: false)
            #expect(wrong.status != 0 && wrong.err.contains("container nope is not valid for pod talk"), "\(wrong.err)")
            let previous = try c.kubectl(["logs", "talk", "--previous"], check: false)
            #expect(
                previous.status != 0
                    && previous.err.contains("previous terminated container \"talk\" in pod \"talk\" not found"),
                "\(previous.err)")

            // Exec and cp with both protocols: output streams, stdin, exit codes, a TTY.
            let payload = "payload-\(UUID().uuidString)\n"
            try payload.write(toFile: dir + "/cp-source", atomically: true, encoding: .utf8)
            for version in ["1.33", "1.27"] {
                let r = try c.kubectl(
                    ["exec", "web", "--", "sh", "-c", "echo to-out; echo to-err >&2; exit 3"], version: version,
                    check: false)
                #expect(r.status == 3, "kubectl \(version) exec exit status \(r.status): \(r.err)")
                #expect(r.out == "to-out", "kubectl \(version)")
                #expect(r.err.contains("to-err"), "kubectl \(version)")
                let piped = try c.kubectl(
                    ["exec", "-i", "web", "--", "sh", "-c", "wc -c; echo done"], version: version, stdin: "12345")
                #expect(
                    piped.out.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) } == ["5", "done"])
                // kubectl asks for a TTY only when its own input is one: `script` gives it a terminal.
                let kubectl = try #require(TestCluster.kubectl(version))
                let tty = try c.run(
                    "/usr/bin/script",
                    [
                        "-qec",
                        "\(kubectl) --kubeconfig \(c.kubeconfig) exec -it web -- sh -c 'test -t 0 && test -t 1 && echo a-tty'",
                        "/dev/null",
                    ], stdin: "", check: false)
                #expect(tty.out.contains("a-tty"), "kubectl \(version) -it: \(tty.out) \(tty.err)")

                try c.kubectl(["cp", dir + "/cp-source", "web:/tmp/copied-\(version)"], version: version)
                #expect(try c.kubectl(["exec", "web", "--", "cat", "/tmp/copied-\(version)"]).out + "\n" == payload)
                try c.kubectl(["cp", "web:/tmp/copied-\(version)", dir + "/cp-back-\(version)"], version: version)
                #expect(try String(contentsOfFile: dir + "/cp-back-\(version)", encoding: .utf8) == payload)
            }
            // Service links: the kubernetes service's variables are in every container's environment.
            let kubeIP = try c.kubectl(["get", "service", "kubernetes", "-o", "jsonpath={.spec.clusterIP}"]).out
            #expect(try c.kubectl(["exec", "web", "--", "sh", "-c", "echo $KUBERNETES_SERVICE_HOST"]).out == kubeIP)
            #expect(
                try c.kubectl(["exec", "web", "--", "sh", "-c", "echo $KUBERNETES_PORT_443_TCP_PROTO"]).out == "tcp")
            let missing = try c.kubectl(["exec", "web", "-c", "nope", "--", "true"], check: false)
            #expect(
                missing.status != 0 && missing.err.contains("container nope is not valid for pod web"), "\(missing.err)"
            )

            // kubectl debug: an ephemeral container joins the pod, sees the target's processes, logs and exec.
            try c.kubectl([
                "debug", "web", "--image=\(busybox)", "--image-pull-policy=IfNotPresent", "--target=web", "-c", "dbg",
                "--", "sh", "-c", "echo from-debug; exec sleep 600",
            ])
            try eventually(c, "the ephemeral container running") {
                dig(try pod(c, "web"), "status", "ephemeralContainerStatuses", 0, "state", "running") != nil
            }
            #expect(try c.kubectl(["logs", "web", "-c", "dbg"]).out == "from-debug")
            #expect(try c.kubectl(["exec", "web", "-c", "dbg", "--", "ps"]).out.contains("httpd"))
            #expect(try statusWord(c, "web") == "Running")

            // Port-forward with both protocols, to the httpd in the pod.
            for version in ["1.33", "1.27"] {
                let port = TestCluster.freePort()
                let pf = Process()
                pf.executableURL = URL(fileURLWithPath: try #require(TestCluster.kubectl(version)))
                pf.arguments = ["--kubeconfig", c.kubeconfig, "port-forward", "pod/web", "\(port):8080"]
                pf.standardOutput = FileHandle.nullDevice
                pf.standardError = FileHandle.nullDevice
                try pf.run()
                defer {
                    pf.terminate()
                    pf.waitUntilExit()
                }
                var body = ""
                try eventually(c, "an answer through kubectl \(version) port-forward", timeout: 20) {
                    body = try c.run("/usr/bin/curl", ["-s", "-m", "5", "http://127.0.0.1:\(port)/index.html"]).out
                    return !body.isEmpty
                }
                #expect(body == "hello-from-pod")
                // A second connection through the same forward.
                #expect(
                    try c.run("/usr/bin/curl", ["-s", "-m", "5", "http://127.0.0.1:\(port)/"]).out == "hello-from-pod")
            }

            // Proxies: a pod's port, a service, the node's kubelet.
            #expect(
                try c.kubectl(["get", "--raw", "/api/v1/namespaces/default/pods/web:8080/proxy/index.html"]).out
                    == "hello-from-pod")
            try c.kubectl(["expose", "pod", "web", "--port=80", "--target-port=8080"])
            try eventually(c, "the service proxy") {
                try c.kubectl(["get", "--raw", "/api/v1/namespaces/default/services/web:80/proxy/"], check: false).out
                    == "hello-from-pod"
            }
            let nodeName = try c.kubectl(["get", "nodes", "-o", "jsonpath={.items[0].metadata.name}"]).out
            #expect(try c.kubectl(["get", "--raw", "/api/v1/nodes/\(nodeName)/proxy/healthz"]).out == "ok")
            let kubeletPods = try c.kubectl(["get", "--raw", "/api/v1/nodes/\(nodeName)/proxy/pods"]).out
            #expect(kubeletPods.contains("\"kind\":\"PodList\"") && kubeletPods.contains("\"name\":\"talk\""))

            // Resource metrics from the pods' cgroups, as metrics-server scrapes them; the configuration.
            let metrics = try c.kubectl(["get", "--raw", "/api/v1/nodes/\(nodeName)/proxy/metrics/resource"]).out
            #expect(
                metrics.contains(#"container_cpu_usage_seconds_total{container="talk",namespace="default",pod="talk"}"#)
            )
            #expect(metrics.contains(#"pod_memory_working_set_bytes{namespace="default",pod="web"}"#))
            #expect(metrics.contains("node_cpu_usage_seconds_total ") && metrics.contains("scrape_error 0"))
            let summary = try JSONSerialization.jsonObject(
                with: Data(try c.kubectl(["get", "--raw", "/api/v1/nodes/\(nodeName)/proxy/stats/summary"]).out.utf8))
            #expect((dig(summary, "node", "cpu", "usageCoreNanoSeconds") as? Int ?? 0) > 0)
            let talkStats = (dig(summary, "pods") as? [[String: Any]] ?? []).first {
                dig($0, "podRef", "name") as? String == "talk"
            }
            #expect((dig(talkStats as Any, "containers", 0, "memory", "workingSetBytes") as? Int ?? 0) > 0)
            #expect((dig(talkStats as Any, "cpu", "usageCoreNanoSeconds") as? Int ?? 0) > 0)
            // A second answer has the CPU rate since the first (a node always uses some CPU).
            Thread.sleep(forTimeInterval: 0.3)
            let summary2 = try JSONSerialization.jsonObject(
                with: Data(try c.kubectl(["get", "--raw", "/api/v1/nodes/\(nodeName)/proxy/stats/summary"]).out.utf8))
            #expect((dig(summary2, "node", "cpu", "usageNanoCores") as? Int ?? 0) > 0)
            let configz = try c.kubectl(["get", "--raw", "/api/v1/nodes/\(nodeName)/proxy/configz"]).out
            #expect(configz.contains("\"kind\":\"KubeletConfiguration\""))

            // The kubelet's port refuses a client without the cluster's certificate.
            let port = try c.kubectl([
                "get", "node", nodeName, "-o", "jsonpath={.status.daemonEndpoints.kubeletEndpoint.Port}",
            ])
            .out
            let anonymous = try c.run(
                "/usr/bin/curl", ["-sk", "-o", "/dev/null", "-w", "%{http_code}", "https://127.0.0.1:\(port)/pods"],
                check: false)
            #expect(anonymous.out == "401")

            let py = try c.e2ePython("streams")
            if py.err.contains("No module named 'kubernetes'") {
                Issue.record("the Python client is missing: pip install kubernetes (make test installs it)")
            } else {
                #expect(py.status == 0, "\(py.out)\n\(py.err)")
            }
        }
    }
}
