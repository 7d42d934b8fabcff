import Foundation
import Testing

/// In-place resize on a real node: a running busybox pod's cpu and memory change through
/// `kubectl patch --subresource resize` (kubectl 1.33) and its container's cgroup v1 files follow
/// without a restart; the status reports `allocatedResources` and `resources`; a resize above the
/// node's allocatable stays `PodResizePending`/`Infeasible`. Expected cgroup values are upstream's
/// formulas (1024 shares per cpu, a quota of the limit over a 100 ms period, the memory limit in
/// bytes); the messages are upstream's kubelet's.
extension NodeE2ETests {
    /// A cgroup v1 file of a container of a Burstable pod, trimmed.
    static func burstableCgroup(_ controller: String, pod uid: String, container id: String, _ file: String)
        -> String?
    {
        let path = "/sys/fs/cgroup/\(controller)/kubepods/burstable/pod\(uid)/\(id)/\(file)"
        return FileManager.default.contents(atPath: path).map {
            String(decoding: $0, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }

    @Test("resize: a running pod's cpu and memory change in place, cgroups and status follow, no restart")
    func nodeResize() throws {
        try withNode { c, _, busybox in
            try c.kubectl(
                ["apply", "-f", "-"],
                stdin: """
                    apiVersion: v1
                    kind: Pod
                    metadata: {name: rz}
                    spec:
                      containers:
                      - name: app
                        image: \(busybox)
                        imagePullPolicy: IfNotPresent
                        command: [sleep, "3600"]
                        resizePolicy:
                        - {resourceName: cpu, restartPolicy: NotRequired}
                        - {resourceName: memory, restartPolicy: NotRequired}
                        resources:
                          requests: {cpu: 100m, memory: 64Mi}
                          limits: {cpu: 200m, memory: 128Mi}
                    """)
            try waitReady(c, "rz")
            let first = try pod(c, "rz")
            let uid = try #require(dig(first, "metadata", "uid") as? String)
            let id = String(
                try #require(dig(first, "status", "containerStatuses", 0, "containerID") as? String).dropFirst(
                    "containerd://".count))
            func cgroup(_ controller: String, _ file: String) -> String? {
                Self.burstableCgroup(controller, pod: uid, container: id, file)
            }
            // Before: 100m of shares (102), 20 ms of every 100 ms, 128 MiB; the status says so.
            #expect(cgroup("cpu", "cpu.shares") == "102")
            #expect(cgroup("cpu", "cpu.cfs_quota_us") == "20000")
            #expect(cgroup("memory", "memory.limit_in_bytes") == "134217728")
            #expect(dig(first, "status", "containerStatuses", 0, "resources", "limits", "memory") as? String == "128Mi")
            #expect(dig(first, "status", "containerStatuses", 0, "allocatedResources", "cpu") as? String == "100m")

            let patched = try c.kubectl(
                [
                    "patch", "pod", "rz", "--subresource", "resize", "-p",
                    #"{"spec":{"containers":[{"name":"app","resources":{"requests":{"cpu":"200m","memory":"96Mi"},"limits":{"cpu":"500m","memory":"256Mi"}}}]}}"#,
                ], check: false)
            #expect(patched.status == 0, "\(patched.err)")
            try eventually(c, "the resized cgroups and status") {
                let p = try pod(c, "rz")
                let conditions = (dig(p, "status", "conditions") as? [[String: Any]] ?? []).map {
                    $0["type"] as? String
                }
                return cgroup("cpu", "cpu.shares") == "204" && cgroup("cpu", "cpu.cfs_quota_us") == "50000"
                    && cgroup("memory", "memory.limit_in_bytes") == "268435456"
                    && dig(p, "status", "containerStatuses", 0, "resources", "limits", "memory") as? String == "256Mi"
                    && !conditions.contains("PodResizeInProgress")
            }
            let after = try pod(c, "rz")
            #expect(dig(after, "status", "containerStatuses", 0, "resources", "limits", "cpu") as? String == "500m")
            #expect(dig(after, "status", "containerStatuses", 0, "resources", "requests", "cpu") as? String == "200m")
            #expect(dig(after, "status", "containerStatuses", 0, "allocatedResources", "memory") as? String == "96Mi")
            // The same container, never restarted.
            #expect(dig(after, "status", "containerStatuses", 0, "restartCount") as? Int == 0)
            #expect(
                dig(after, "status", "containerStatuses", 0, "containerID") as? String == "containerd://\(id)")
            #expect(
                dig(after, "status", "observedGeneration") as? Int == dig(after, "metadata", "generation") as? Int)
            // The process sees the new limit from inside too.
            #expect(
                try c.kubectl(["exec", "rz", "--", "cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes"]).out
                    == "268435456")

            // Far more cpu than the node has: pending as Infeasible, nothing applied.
            let huge = try c.kubectl(
                [
                    "patch", "pod", "rz", "--subresource", "resize", "-p",
                    #"{"spec":{"containers":[{"name":"app","resources":{"requests":{"cpu":"1000"},"limits":{"cpu":"1000"}}}]}}"#,
                ], check: false)
            #expect(huge.status == 0, "\(huge.err)")
            try eventually(c, "PodResizePending Infeasible") {
                let conds = dig(try pod(c, "rz"), "status", "conditions") as? [[String: Any]] ?? []
                return conds.contains {
                    $0["type"] as? String == "PodResizePending" && $0["reason"] as? String == "Infeasible"
                        && ($0["message"] as? String)?.hasPrefix(
                            "Node didn't have enough capacity: cpu, requested: 1000000, capacity: ") == true
                }
            }
            #expect(cgroup("cpu", "cpu.cfs_quota_us") == "50000")
            let pending = try pod(c, "rz")
            #expect(dig(pending, "status", "containerStatuses", 0, "allocatedResources", "cpu") as? String == "200m")
            #expect(dig(pending, "status", "containerStatuses", 0, "restartCount") as? Int == 0)
            try c.kubectl(["delete", "pod", "rz", "--timeout=60s"])
        }
    }
}
