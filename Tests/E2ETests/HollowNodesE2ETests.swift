import Foundation
import Testing

/// `k8swift hollow-nodes` against `k8swift server --disable kubelet`: twenty hollow nodes register,
/// report Ready and renew their Leases; a Deployment's pods are scheduled to them, run (in memory)
/// with pod IPs and Ready conditions, and go away when it is deleted. No root needed.
@Suite("hollow nodes end to end", .serialized)
struct HollowNodesE2ETests {
    static let nodes = 20

    /// Polls `check` every half second until it returns a value, failing after `timeout` seconds
    /// with the last state `describe` gives.
    func waitFor<T>(
        _ what: String, timeout: Double, describe: () -> String = { "" }, _ check: () throws -> T?
    ) throws -> T {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if let v = try check() { return v }
            // Checked once more after a late wake-up before giving up (a busy 2-core machine).
            if Date() > deadline {
                if let v = try check() { return v }
                throw E2EError("timed out waiting for \(what): \(describe())")
            }
            Thread.sleep(forTimeInterval: 0.5)
        }
    }

    func items(_ c: TestCluster, _ args: [String]) throws -> [[String: Any]] {
        (dig(try c.json(args), "items") as? [[String: Any]]) ?? []
    }

    static func condition(_ o: [String: Any], _ type: String) -> String? {
        let conditions = (dig(o, "status", "conditions") as? [[String: Any]]) ?? []
        return conditions.first { $0["type"] as? String == type }?["status"] as? String
    }

    @Test("20 hollow nodes get Ready with renewing Leases; a 60-replica Deployment runs on them and goes away")
    func hollowNodes() throws {
        let cluster = try TestCluster()
        let hollow = try cluster.launch([
            "hollow-nodes", "--count", String(Self.nodes), "--kubeconfig", cluster.kubeconfig, "--name-prefix",
            "hollow-node-", "--node-labels", "k8swift.dev/hollow=true", "--nodes-per-connection", "8",
        ])
        defer {
            hollow.terminate()
            hollow.waitUntilExit()
        }

        // Every node registers and turns Ready.
        var lastNodes: [[String: Any]] = []
        let nodes = try waitFor(
            "\(Self.nodes) Ready nodes", timeout: 120, describe: { "\(lastNodes.count) nodes" }
        ) { () -> [[String: Any]]? in
            lastNodes = try items(cluster, ["get", "nodes", "-l", "k8swift.dev/hollow=true"])
            let ready = lastNodes.filter { Self.condition($0, "Ready") == "True" }
            return ready.count == Self.nodes ? ready : nil
        }
        let names = Set(nodes.compactMap { dig($0, "metadata", "name") as? String })
        #expect(names == Set((0..<Self.nodes).map { "hollow-node-\($0)" }))
        let first = try #require(nodes.first)
        #expect(dig(first, "status", "capacity", "cpu") as? String == "4")
        #expect(dig(first, "status", "capacity", "memory") as? String == "32Gi")
        #expect(dig(first, "status", "capacity", "pods") as? String == "110")
        #expect(dig(first, "status", "nodeInfo", "containerRuntimeVersion") as? String == "k8swift-hollow://1.0.0")
        for type in ["MemoryPressure", "DiskPressure", "PIDPressure"] {
            #expect(Self.condition(first, type) == "False")
        }
        let addresses = nodes.compactMap {
            (dig($0, "status", "addresses") as? [[String: Any]])?.first { $0["type"] as? String == "InternalIP" }?[
                "address"] as? String
        }
        #expect(Set(addresses).count == Self.nodes)

        // Each node holds a Lease in kube-node-lease, renewed every 10 s (a quarter of 40 s).
        func renewTimes() throws -> [String: String] {
            var out: [String: String] = [:]
            for l in try items(cluster, ["get", "leases", "-n", "kube-node-lease"]) {
                guard let name = dig(l, "metadata", "name") as? String, names.contains(name) else { continue }
                #expect(dig(l, "spec", "holderIdentity") as? String == name)
                #expect(dig(l, "spec", "leaseDurationSeconds") as? Int == 40)
                out[name] = dig(l, "spec", "renewTime") as? String
            }
            return out
        }
        let before = try waitFor("\(Self.nodes) leases", timeout: 30) { () -> [String: String]? in
            let t = try renewTimes()
            return t.count == Self.nodes ? t : nil
        }
        _ = try waitFor("every lease renewed", timeout: 40) { () -> Bool? in
            let now = try renewTimes()
            return names.allSatisfy { n in now[n] != nil && now[n] != before[n] } ? true : nil
        }

        // A Deployment of 60 replicas runs on the hollow nodes.
        let ns = try cluster.namespace("hollow")
        try cluster.kubectl(["create", "deployment", "web", "--image=nginx:1.25", "--replicas=60", "-n", ns])
        var lastPods: [[String: Any]] = []
        let pods = try waitFor(
            "60 Running and Ready pods", timeout: 180,
            describe: {
                let phases = lastPods.map { dig($0, "status", "phase") as? String ?? "?" }
                return "\(lastPods.count) pods, phases \(Dictionary(grouping: phases, by: { $0 }).mapValues(\.count))"
            }
        ) { () -> [[String: Any]]? in
            lastPods = try items(cluster, ["get", "pods", "-n", ns])
            let running = lastPods.filter {
                dig($0, "status", "phase") as? String == "Running" && Self.condition($0, "Ready") == "True"
                    && !((dig($0, "status", "podIP") as? String) ?? "").isEmpty
            }
            return running.count == 60 && lastPods.count == 60 ? running : nil
        }
        let podIPs = pods.compactMap { dig($0, "status", "podIP") as? String }
        #expect(Set(podIPs).count == 60)
        #expect(podIPs.allSatisfy { $0.hasPrefix("10.64.") })
        let used = Set(pods.compactMap { dig($0, "spec", "nodeName") as? String })
        #expect(used.isSubset(of: names))
        #expect(used.count > 1)
        for p in pods {
            #expect(Self.condition(p, "ContainersReady") == "True")
            #expect(Self.condition(p, "PodScheduled") == "True")
            let c = (dig(p, "status", "containerStatuses") as? [[String: Any]])?.first
            #expect(dig(c, "ready") as? Bool == true)
            #expect(dig(c, "state", "running", "startedAt") != nil)
            #expect((dig(c, "imageID") as? String)?.hasPrefix("docker.io/library/nginx@sha256:") == true)
        }
        let ready = try cluster.json(["get", "deployment", "web", "-n", ns])
        #expect(dig(ready, "status", "readyReplicas") as? Int == 60)

        // Deleted: the kubelets stop the containers and end each graceful deletion.
        try cluster.kubectl(["delete", "deployment", "web", "-n", ns, "--wait=false"])
        _ = try waitFor(
            "the pods to go away", timeout: 120, describe: { "\(lastPods.count) pods left" }
        ) { () -> Bool? in
            lastPods = try items(cluster, ["get", "pods", "-n", ns])
            return lastPods.isEmpty ? true : nil
        }
        #expect(hollow.isRunning)
    }
}
