import Foundation
import Testing

/// A pod's limits on a real node: its own cgroup carries the pod-level limits upstream's kubelet
/// sets on cgroup v1 (`ResourceConfigForPod`: 1024 shares per cpu of the summed requests, a quota of
/// the summed limits over 100 ms, the summed memory limit; BestEffort pods the minimal 2 shares),
/// follows an in-place resize and refuses a memory limit under what the pod uses (upstream's
/// message); and a pod writing past its emptyDir's `sizeLimit` is evicted with upstream's message
/// and event, without any node pressure.
extension NodeE2ETests {
    /// A cgroup v1 file of a pod's own cgroup (`qos` "" for Guaranteed), trimmed.
    static func podCgroup(_ controller: String, qos: String = "", pod uid: String, _ file: String) -> String? {
        let dir = qos.isEmpty ? "kubepods" : "kubepods/\(qos)"
        return FileManager.default.contents(atPath: "/sys/fs/cgroup/\(controller)/\(dir)/pod\(uid)/\(file)").map {
            String(decoding: $0, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }

    @Test(
        "pod cgroups: a Guaranteed pod's limits in /sys/fs/cgroup, raised by a resize, a too small memory limit refused"
    )
    func podCgroupLimits() throws {
        try withNode { c, _, busybox in
            // 40 MiB of tmpfs pages are charged to the pod's memory cgroup and cannot be reclaimed.
            try c.kubectl(
                ["apply", "-f", "-"],
                stdin: """
                    apiVersion: v1
                    kind: Pod
                    metadata: {name: gp}
                    spec:
                      containers:
                      - name: app
                        image: \(busybox)
                        imagePullPolicy: IfNotPresent
                        command: [sh, -c, "dd if=/dev/zero of=/dev/shm/fill bs=1048576 count=40 && sleep 3600"]
                        resizePolicy:
                        - {resourceName: cpu, restartPolicy: NotRequired}
                        - {resourceName: memory, restartPolicy: NotRequired}
                        resources:
                          requests: {cpu: 100m, memory: 64Mi}
                          limits: {cpu: 100m, memory: 64Mi}
                    ---
                    apiVersion: v1
                    kind: Pod
                    metadata: {name: be}
                    spec:
                      containers:
                      - {name: app, image: \(busybox), imagePullPolicy: IfNotPresent, command: [sleep, "3600"]}
                    """)
            try waitReady(c, "gp")
            try waitReady(c, "be")
            let gp = try pod(c, "gp")
            #expect(dig(gp, "status", "qosClass") as? String == "Guaranteed")
            let uid = try #require(dig(gp, "metadata", "uid") as? String)
            func cg(_ controller: String, _ file: String) -> String? {
                Self.podCgroup(controller, pod: uid, file)
            }
            // 100m: 102 shares, 10 ms of every 100 ms; 64 MiB.
            #expect(cg("memory", "memory.limit_in_bytes") == "67108864")
            #expect(cg("cpu", "cpu.shares") == "102")
            #expect(cg("cpu", "cpu.cfs_quota_us") == "10000")
            #expect(cg("cpu", "cpu.cfs_period_us") == "100000")
            let beUID = try #require(dig(try pod(c, "be"), "metadata", "uid") as? String)
            #expect(Self.podCgroup("cpu", qos: "besteffort", pod: beUID, "cpu.shares") == "2")
            let beMemory = Self.podCgroup("memory", qos: "besteffort", pod: beUID, "memory.limit_in_bytes")
            #expect((beMemory.flatMap { Int64($0) } ?? 0) > 1 << 62, "no memory limit: \(beMemory ?? "none")")

            let grown = try c.kubectl(
                [
                    "patch", "pod", "gp", "--subresource", "resize", "-p",
                    #"{"spec":{"containers":[{"name":"app","resources":{"requests":{"cpu":"200m","memory":"128Mi"},"limits":{"cpu":"200m","memory":"128Mi"}}}]}}"#,
                ], check: false)
            #expect(grown.status == 0, "\(grown.err)")
            try eventually(c, "the pod cgroup raised with its container") {
                let conds = (dig(try pod(c, "gp"), "status", "conditions") as? [[String: Any]] ?? []).map {
                    $0["type"] as? String
                }
                return cg("memory", "memory.limit_in_bytes") == "134217728" && cg("cpu", "cpu.shares") == "204"
                    && cg("cpu", "cpu.cfs_quota_us") == "20000" && !conds.contains("PodResizeInProgress")
            }
            #expect(
                try c.kubectl(["exec", "gp", "--", "cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes"]).out
                    == "134217728")

            let shrunk = try c.kubectl(
                [
                    "patch", "pod", "gp", "--subresource", "resize", "-p",
                    #"{"spec":{"containers":[{"name":"app","resources":{"requests":{"memory":"32Mi"},"limits":{"memory":"32Mi"}}}]}}"#,
                ], check: false)
            #expect(shrunk.status == 0, "\(shrunk.err)")
            try eventually(c, "the resize in progress with upstream's error") {
                let conds = dig(try pod(c, "gp"), "status", "conditions") as? [[String: Any]] ?? []
                return conds.contains {
                    $0["type"] as? String == "PodResizeInProgress" && $0["reason"] as? String == "Error"
                        && $0["message"] as? String
                            == "aborting attempt to set pod memory limit less than current memory usage for pod gp"
                }
            }
            #expect(cg("memory", "memory.limit_in_bytes") == "134217728", "nothing was lowered")
            #expect(dig(try pod(c, "gp"), "status", "containerStatuses", 0, "restartCount") as? Int == 0)
            try c.kubectl(["delete", "pod", "gp", "be", "--timeout=60s"])
        }
    }

    @Test("local storage: a pod writing past its emptyDir sizeLimit is evicted with upstream's message and event")
    func emptyDirSizeLimitEviction() throws {
        try withNode { c, _, busybox in
            try c.kubectl(
                ["apply", "-f", "-"],
                stdin: """
                    apiVersion: v1
                    kind: Pod
                    metadata: {name: filler}
                    spec:
                      restartPolicy: Never
                      containers:
                      - name: app
                        image: \(busybox)
                        imagePullPolicy: IfNotPresent
                        command: [sh, -c, "dd if=/dev/zero of=/cache/fill bs=1024 count=4096 && sleep 3600"]
                        volumeMounts: [{name: cache, mountPath: /cache}]
                      volumes:
                      - name: cache
                        emptyDir: {sizeLimit: 1Mi}
                    ---
                    apiVersion: v1
                    kind: Pod
                    metadata: {name: modest}
                    spec:
                      containers:
                      - name: app
                        image: \(busybox)
                        imagePullPolicy: IfNotPresent
                        command: [sh, -c, "dd if=/dev/zero of=/cache/fill bs=1024 count=64 && sleep 3600"]
                        volumeMounts: [{name: cache, mountPath: /cache}]
                      volumes:
                      - name: cache
                        emptyDir: {sizeLimit: 1Mi}
                    """)
            try waitReady(c, "modest")
            // The eviction manager looks every 10 s.
            try eventually(c, "filler evicted", timeout: 90) {
                dig(try pod(c, "filler"), "status", "phase") as? String == "Failed"
            }
            let evicted = try pod(c, "filler")
            let message = "Usage of EmptyDir volume \"cache\" exceeds the limit \"1Mi\". "
            #expect(dig(evicted, "status", "reason") as? String == "Evicted")
            #expect(dig(evicted, "status", "message") as? String == message)
            let conditions = dig(evicted, "status", "conditions") as? [[String: Any]] ?? []
            #expect(
                !conditions.contains { $0["type"] as? String == "DisruptionTarget" },
                "local storage evictions add no condition")
            try eventually(c, "an Evicted event with the message") {
                let list = try c.json(
                    ["get", "events", "--field-selector", "involvedObject.name=filler,reason=Evicted", "-o", "json"])
                let items = (list as? [String: Any])?["items"] as? [[String: Any]] ?? []
                return items.contains { $0["message"] as? String == message && $0["type"] as? String == "Warning" }
            }
            try eventually(c, "the evicted pod's container stopped") {
                let statuses = dig(try pod(c, "filler"), "status", "containerStatuses") as? [[String: Any]] ?? []
                return !statuses.isEmpty && statuses.allSatisfy { dig($0, "state", "running") == nil }
            }
            // The pod within its limit keeps running.
            #expect(dig(try pod(c, "modest"), "status", "phase") as? String == "Running")
            try c.kubectl(["delete", "pod", "filler", "modest", "--timeout=60s"])
        }
    }
}
