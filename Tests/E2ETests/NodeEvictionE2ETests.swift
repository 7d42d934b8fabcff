import Foundation
import Testing

/// Node-pressure eviction on a real node: a hard `memory.available` threshold as large as the
/// machine's memory is always crossed, so the node reports MemoryPressure (and the controller
/// manager taints it), refuses a BestEffort pod with upstream's rejection, and evicts a running pod
/// with upstream's status and event.
extension NodeE2ETests {
    @Test("a node under memory pressure reports it, is tainted, rejects BestEffort pods and evicts running ones")
    func memoryPressureEviction() throws {
        if let why = Self.missing {
            print("skipped: the node end-to-end suite needs root, containerd, runc and CNI: \(why)")
            return
        }
        let meminfo = try String(contentsOfFile: "/proc/meminfo", encoding: .utf8)
        let total = try #require(
            meminfo.split(separator: "\n").first { $0.hasPrefix("MemTotal:") }?.split(separator: " ").dropFirst().first)
        let (dir, busybox) = try nodeDataDir("k8swift-eviction")
        let c = try TestCluster(dataDir: dir, keepDataDir: true)
        var agent: Process?
        defer {
            agent?.terminate()
            agent?.waitUntilExit()
            c.stop()
            NodeHost.clean(dataDir: dir)
        }
        agent = try c.launch([
            "agent", "--server", "https://127.0.0.1:\(c.port)", "--token-file", dir + "/token", "--root-dir",
            dir + "/agent", "--port", "0", "--eviction-hard=memory.available<\(total)Ki",
        ])
        var nodeName = ""
        try eventually(c, "the node Ready with MemoryPressure and its taint") {
            let list = try c.json(["get", "nodes", "-o", "json"]) as? [String: Any]
            guard let node = (list?["items"] as? [[String: Any]])?.first else { return false }
            nodeName = dig(node, "metadata", "name") as? String ?? ""
            let conds = dig(node, "status", "conditions") as? [[String: Any]] ?? []
            let taints = dig(node, "spec", "taints") as? [[String: Any]] ?? []
            return conds.contains { $0["type"] as? String == "Ready" && $0["status"] as? String == "True" }
                && conds.contains {
                    $0["type"] as? String == "MemoryPressure" && $0["status"] as? String == "True"
                        && $0["reason"] as? String == "KubeletHasInsufficientMemory"
                        && $0["message"] as? String == "kubelet has insufficient memory available"
                }
                && taints.contains {
                    $0["key"] as? String == "node.kubernetes.io/memory-pressure"
                        && $0["effect"] as? String == "NoSchedule"
                }
        }
        // Both pods name the node themselves: the scheduler would keep them off a tainted node.
        try c.kubectl(
            ["apply", "-f", "-"],
            stdin: """
                apiVersion: v1
                kind: Pod
                metadata: {name: besteffort}
                spec:
                  nodeName: \(nodeName)
                  containers:
                  - {name: c, image: \(busybox), imagePullPolicy: IfNotPresent, command: [sleep, "3600"]}
                ---
                apiVersion: v1
                kind: Pod
                metadata: {name: burstable}
                spec:
                  nodeName: \(nodeName)
                  containers:
                  - name: c
                    image: \(busybox)
                    imagePullPolicy: IfNotPresent
                    command: [sleep, "3600"]
                    resources: {requests: {cpu: 10m}}
                """)
        try eventually(c, "besteffort rejected") {
            dig(try pod(c, "besteffort"), "status", "phase") as? String == "Failed"
        }
        let rejected = try pod(c, "besteffort")
        #expect(dig(rejected, "status", "reason") as? String == "Evicted")
        #expect(
            dig(rejected, "status", "message") as? String
                == "Pod was rejected: The node had condition: [MemoryPressure]. ")

        try eventually(c, "burstable evicted", timeout: 60) {
            dig(try pod(c, "burstable"), "status", "phase") as? String == "Failed"
        }
        let evicted = try pod(c, "burstable")
        #expect(dig(evicted, "status", "reason") as? String == "Evicted")
        let message = dig(evicted, "status", "message") as? String ?? ""
        // The threshold prints in the largest binary unit that holds it exactly.
        var amount = try #require(Int(total))
        var unit = "Ki"
        for next in ["Mi", "Gi"] where amount % 1024 == 0 {
            amount /= 1024
            unit = next
        }
        #expect(
            message.hasPrefix(
                "The node was low on resource: memory. Threshold quantity: \(amount)\(unit), available: "),
            "\(message)")
        let disruption = (dig(evicted, "status", "conditions") as? [[String: Any]] ?? []).first {
            $0["type"] as? String == "DisruptionTarget"
        }
        #expect(disruption?["reason"] as? String == "TerminationByKubelet")
        try eventually(c, "an Evicted event") {
            try c.kubectl(["get", "events", "--field-selector", "involvedObject.name=burstable,reason=Evicted"]).out
                .contains("The node was low on resource: memory.")
        }
        try eventually(c, "the evicted pod's containers stopped") {
            let statuses = dig(try pod(c, "burstable"), "status", "containerStatuses") as? [[String: Any]] ?? []
            return !statuses.isEmpty && statuses.allSatisfy { dig($0, "state", "running") == nil }
        }
    }
}
