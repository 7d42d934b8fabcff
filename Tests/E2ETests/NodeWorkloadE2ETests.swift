import Foundation
import Testing

/// Workloads on a real node, as upstream's kubelet runs them: a Deployment rolled out through its
/// readiness probe, a crashing container's growing restart back-off (10 s, then 20 s), an
/// out-of-memory kill, cgroup v1 limits and QoS classes from requests and limits, and the pod
/// security context (runAsUser/runAsGroup, fsGroup's supplemental group and volume ownership).
/// Expected values are upstream's documented ones (cpu shares 1024 per core, a 100 ms CFS period,
/// exit code 137 and reason OOMKilled, fsGroup's setgid directories and group-readable files).
extension NodeE2ETests {
    /// An RFC 3339 timestamp of a container state, as seconds since the epoch.
    static func seconds(_ v: Any?) -> Double? {
        guard let s = v as? String else { return nil }
        return ISO8601DateFormatter().date(from: s)?.timeIntervalSince1970
    }

    /// The pods of a label selector, as JSON objects.
    func pods(_ c: TestCluster, _ selector: String) throws -> [[String: Any]] {
        (try c.json(["get", "pods", "-l", selector, "-o", "json"]) as? [String: Any])?["items"] as? [[String: Any]]
            ?? []
    }

    static func isReady(_ pod: [String: Any]) -> Bool {
        (dig(pod, "status", "conditions") as? [[String: Any]] ?? []).contains {
            $0["type"] as? String == "Ready" && $0["status"] as? String == "True"
        }
    }

    @Test(
        "workloads: a Deployment rolls out through its readiness probe, a crashing container backs off 10 s then 20 s, an out-of-memory container is OOMKilled"
    )
    func nodeWorkloads() throws {
        try withNode { c, _, busybox in
            // All at once: the Deployment's pods start while the crash loop is watched.
            let manifest = """
                apiVersion: v1
                kind: Pod
                metadata: {name: crasher}
                spec:
                  containers:
                  - name: app
                    image: \(busybox)
                    imagePullPolicy: IfNotPresent
                    command: [sh, -c, "exit 1"]
                ---
                apiVersion: v1
                kind: Pod
                metadata: {name: hog}
                spec:
                  restartPolicy: Never
                  containers:
                  - name: hog
                    image: \(busybox)
                    imagePullPolicy: IfNotPresent
                    command: [sh, -c, "x=$(dd if=/dev/zero bs=1M count=64 2>/dev/null | tr '\\\\0' a); echo survived; sleep 100"]
                    resources:
                      limits: {memory: 20Mi}
                ---
                apiVersion: apps/v1
                kind: Deployment
                metadata: {name: roll}
                spec:
                  replicas: 3
                  selector: {matchLabels: {app: roll}}
                  template:
                    metadata: {labels: {app: roll}}
                    spec:
                      terminationGracePeriodSeconds: 2
                      containers:
                      - name: web
                        image: \(busybox)
                        imagePullPolicy: IfNotPresent
                        env: [{name: VERSION, value: v1}]
                        command: [sh, -c, "sleep 2; mkdir -p /www; echo $VERSION > /www/index.html; exec httpd -f -p 8080 -h /www"]
                        readinessProbe:
                          httpGet: {path: /index.html, port: 8080}
                          periodSeconds: 1
                """
            try c.kubectl(["apply", "-f", "-"], stdin: manifest)

            // CrashLoopBackOff: each instance's start and finish, by restart count, until the third restart.
            var starts: [Int: Double] = [:]
            var finishes: [Int: Double] = [:]
            var sawBackOff = false
            try eventually(c, "crasher restarted three times", timeout: 120) {
                let p = try pod(c, "crasher")
                let st = dig(p, "status", "containerStatuses", 0) as? [String: Any] ?? [:]
                let count = st["restartCount"] as? Int ?? 0
                if let t = dig(st, "state", "terminated") {
                    starts[count] = Self.seconds(dig(t, "startedAt"))
                    finishes[count] = Self.seconds(dig(t, "finishedAt"))
                }
                if let t = dig(st, "lastState", "terminated"), count > 0 {
                    // While waiting, the last state is the instance that has just ended (restartCount of them).
                    let n = dig(st, "state", "waiting") != nil ? count : count - 1
                    starts[n] = starts[n] ?? Self.seconds(dig(t, "startedAt"))
                    finishes[n] = finishes[n] ?? Self.seconds(dig(t, "finishedAt"))
                    #expect(dig(t, "reason") as? String == "Error")
                    #expect(dig(t, "exitCode") as? Int == 1)
                }
                if dig(st, "state", "waiting", "reason") as? String == "CrashLoopBackOff" { sawBackOff = true }
                return starts[3] != nil && finishes[1] != nil && finishes[2] != nil
            }
            #expect(sawBackOff)
            let delay2 = try #require(starts[2]) - (try #require(finishes[1]))
            let delay3 = try #require(starts[3]) - (try #require(finishes[2]))
            // Upstream: the first restart at once, then 10 s, then 20 s (timestamps have whole seconds).
            #expect(delay2 >= 9 && delay2 <= 16, "second restart after \(delay2) s")
            #expect(delay3 >= 19 && delay3 <= 28, "third restart after \(delay3) s")
            #expect(delay3 > delay2 + 5)
            let events = try c.kubectl(["get", "events", "--field-selector", "involvedObject.name=crasher"]).out
            #expect(events.contains("Back-off restarting failed container app"))

            // Revision 1: three pods, each Ready only once httpd answers the probe.
            try c.kubectl(["rollout", "status", "deployment/roll", "--timeout=180s"])
            let first = try pods(c, "app=roll")
            #expect(first.count == 3 && first.allSatisfy(Self.isReady), "\(first.count) pods")
            let oldHash = try #require(dig(first.first as Any, "metadata", "labels", "pod-template-hash") as? String)
            let readyReplicas = dig(try c.json(["get", "deployment", "roll"]), "status", "readyReplicas") as? Int
            #expect(readyReplicas == 3)

            // Revision 2: a new template; rollout status ends once the new ReplicaSet's pods are Ready.
            try c.kubectl(["set", "env", "deployment/roll", "VERSION=v2"])
            try c.kubectl(["rollout", "status", "deployment/roll", "--timeout=240s"])
            var second: [[String: Any]] = []
            try eventually(c, "only the new ReplicaSet's pods", timeout: 60) {
                second = try pods(c, "app=roll")
                return second.count == 3
                    && second.allSatisfy { dig($0, "metadata", "labels", "pod-template-hash") as? String != oldHash }
            }
            #expect(second.allSatisfy(Self.isReady))
            let hashes = Set(second.compactMap { dig($0, "metadata", "labels", "pod-template-hash") as? String })
            #expect(hashes.count == 1)
            for p in second {
                let ip = try #require(dig(p, "status", "podIP") as? String)
                let body = try c.run("/usr/bin/curl", ["-s", "-m", "5", "http://\(ip):8080/index.html"]).out
                #expect(body == "v2", "pod \(ip) serves \(body)")
            }
            let rs = try c.json(["get", "replicasets", "-l", "app=roll"]) as? [String: Any]
            let sets = rs?["items"] as? [[String: Any]] ?? []
            #expect(sets.count == 2)
            for s in sets {
                let hash = dig(s, "metadata", "labels", "pod-template-hash") as? String
                #expect(dig(s, "spec", "replicas") as? Int == (hash == oldHash ? 0 : 3))
            }

            // OOMKilled: the shell holding 64 MiB under a 20 MiB limit is killed by the kernel.
            try eventually(c, "hog terminated", timeout: 60) {
                dig(try pod(c, "hog"), "status", "containerStatuses", 0, "state", "terminated") != nil
            }
            let hog = try pod(c, "hog")
            #expect(
                dig(hog, "status", "containerStatuses", 0, "state", "terminated", "reason") as? String == "OOMKilled")
            #expect(dig(hog, "status", "containerStatuses", 0, "state", "terminated", "exitCode") as? Int == 137)
            #expect(dig(hog, "status", "phase") as? String == "Failed")
            #expect(try statusWord(c, "hog") == "OOMKilled")
            #expect(try c.kubectl(["logs", "hog"]).out.contains("survived") == false)

            try c.kubectl(["delete", "deployment", "roll"])
            try c.kubectl(["delete", "pod", "crasher", "hog", "--timeout=60s"])
            try eventually(c, "no pod left") {
                try c.kubectl(["get", "pods", "--no-headers"]).out.isEmpty
            }
        }
    }

    /// A cgroup v1 file of a pod (`container` nil) or of one of its containers, trimmed.
    static func cgroupFile(_ controller: String, _ podCgroup: String, _ container: String?, _ file: String) -> String? {
        let path = "/sys/fs/cgroup/\(controller)\(podCgroup)" + (container.map { "/" + $0 } ?? "") + "/" + file
        return Self.file(path)?.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test(
        "resources and security: cgroup v1 limits and QoS classes from requests and limits, runAsUser/runAsGroup, fsGroup's group on the container and its volumes"
    )
    func nodeResourcesAndSecurity() throws {
        try withNode { c, _, busybox in
            try eventually(c, "the default service account") {
                try c.kubectl(["get", "serviceaccount", "default"], check: false).status == 0
            }
            try c.kubectl(["create", "configmap", "cfg", "--from-literal=greeting=hello"])
            try c.kubectl(["create", "secret", "generic", "sec", "--from-literal=password=s3cret"])
            let manifest = """
                apiVersion: v1
                kind: Pod
                metadata: {name: guaranteed}
                spec:
                  containers:
                  - name: app
                    image: \(busybox)
                    imagePullPolicy: IfNotPresent
                    command: [sleep, "600"]
                    resources:
                      requests: {cpu: 250m, memory: 64Mi}
                      limits: {cpu: 250m, memory: 64Mi}
                ---
                apiVersion: v1
                kind: Pod
                metadata: {name: burstable}
                spec:
                  containers:
                  - name: app
                    image: \(busybox)
                    imagePullPolicy: IfNotPresent
                    command: [sleep, "600"]
                    resources:
                      requests: {cpu: 100m, memory: 32Mi}
                      limits: {memory: 128Mi}
                ---
                apiVersion: v1
                kind: Pod
                metadata: {name: besteffort}
                spec:
                  containers:
                  - name: app
                    image: \(busybox)
                    imagePullPolicy: IfNotPresent
                    command: [sleep, "600"]
                ---
                apiVersion: v1
                kind: Pod
                metadata: {name: secure}
                spec:
                  securityContext: {runAsUser: 1000, runAsGroup: 3000, fsGroup: 2000}
                  volumes:
                  - name: data
                    emptyDir: {}
                  - name: cfg
                    configMap: {name: cfg}
                  - name: sec
                    secret: {secretName: sec, defaultMode: 256}
                  - name: info
                    downwardAPI:
                      items: [{path: name, fieldRef: {fieldPath: metadata.name}}]
                  containers:
                  - name: app
                    image: \(busybox)
                    imagePullPolicy: IfNotPresent
                    command: [sleep, "600"]
                    volumeMounts:
                    - {name: data, mountPath: /data}
                    - {name: cfg, mountPath: /cfg}
                    - {name: sec, mountPath: /sec}
                    - {name: info, mountPath: /info}
                """
            try c.kubectl(["apply", "-f", "-"], stdin: manifest)
            for name in ["guaranteed", "burstable", "besteffort", "secure"] { try waitReady(c, name) }

            // QoS classes, as the API server sets them and the kubelet places the pod cgroups.
            #expect(dig(try pod(c, "guaranteed"), "status", "qosClass") as? String == "Guaranteed")
            #expect(dig(try pod(c, "burstable"), "status", "qosClass") as? String == "Burstable")
            #expect(dig(try pod(c, "besteffort"), "status", "qosClass") as? String == "BestEffort")

            func cgroupsOf(_ name: String) throws -> (pod: String, container: String) {
                let p = try pod(c, name)
                let uid = try #require(dig(p, "metadata", "uid") as? String)
                let id = try #require(dig(p, "status", "containerStatuses", 0, "containerID") as? String)
                let qos = dig(p, "status", "qosClass") as? String
                let parent =
                    qos == "Guaranteed"
                    ? "/kubepods" : qos == "Burstable" ? "/kubepods/burstable" : "/kubepods/besteffort"
                return ("\(parent)/pod\(uid)", String(id.dropFirst("containerd://".count)))
            }

            // Guaranteed 250m / 64Mi: shares 256, quota 25 ms of a 100 ms period, a 64 MiB memory limit.
            let g = try cgroupsOf("guaranteed")
            #expect(Self.cgroupFile("cpu", g.pod, g.container, "cpu.shares") == "256")
            #expect(Self.cgroupFile("cpu", g.pod, g.container, "cpu.cfs_period_us") == "100000")
            #expect(Self.cgroupFile("cpu", g.pod, g.container, "cpu.cfs_quota_us") == "25000")
            #expect(Self.cgroupFile("memory", g.pod, g.container, "memory.limit_in_bytes") == "67108864")
            // Burstable 100m request, 128Mi limit, no cpu limit: shares 102, no quota.
            let b = try cgroupsOf("burstable")
            #expect(Self.cgroupFile("cpu", b.pod, b.container, "cpu.shares") == "102")
            #expect(Self.cgroupFile("cpu", b.pod, b.container, "cpu.cfs_quota_us") == "-1")
            #expect(Self.cgroupFile("memory", b.pod, b.container, "memory.limit_in_bytes") == "134217728")
            // BestEffort: the minimum of 2 shares, no quota.
            let e = try cgroupsOf("besteffort")
            #expect(Self.cgroupFile("cpu", e.pod, e.container, "cpu.shares") == "2")
            #expect(Self.cgroupFile("cpu", e.pod, e.container, "cpu.cfs_quota_us") == "-1")
            // No pod pids limit unless the kubelet is configured with one (upstream's podPidsLimit -1).
            #expect(Self.cgroupFile("pids", g.pod, g.container, "pids.max") == "max")

            // The security context: the user and group, fsGroup among the supplemental groups.
            #expect(try c.kubectl(["exec", "secure", "--", "id", "-u"]).out == "1000")
            #expect(try c.kubectl(["exec", "secure", "--", "id", "-g"]).out == "3000")
            let groups = try c.kubectl(["exec", "secure", "--", "id", "-G"]).out.split(separator: " ").map(String.init)
            #expect(groups.contains("2000") && groups.contains("3000"), "id -G: \(groups)")
            // The emptyDir belongs to the group, setgid and group-writable: new files inherit the group.
            #expect(try c.kubectl(["exec", "secure", "--", "stat", "-c", "%g %a", "/data"]).out == "2000 2777")
            try c.kubectl(["exec", "secure", "--", "sh", "-c", "echo x > /data/new"])
            #expect(try c.kubectl(["exec", "secure", "--", "stat", "-c", "%u %g", "/data/new"]).out == "1000 2000")
            // API-data files are group-readable by fsGroup: a 0400 secret becomes 0440, readable by user 1000.
            #expect(
                try c.kubectl(["exec", "secure", "--", "stat", "-L", "-c", "%g %a", "/sec/password"]).out == "2000 440")
            #expect(try c.kubectl(["exec", "secure", "--", "cat", "/sec/password"]).out == "s3cret")
            #expect(
                try c.kubectl(["exec", "secure", "--", "stat", "-L", "-c", "%g %a", "/cfg/greeting"]).out == "2000 644")
            #expect(try c.kubectl(["exec", "secure", "--", "stat", "-L", "-c", "%g", "/info/name"]).out == "2000")
            // The kubelet keeps them so: a ConfigMap update arrives group-owned too.
            try c.kubectl(["patch", "configmap", "cfg", "-p", #"{"data":{"greeting":"again"}}"#])
            try eventually(c, "the ConfigMap update in the pod", timeout: 90) {
                try c.kubectl(["exec", "secure", "--", "cat", "/cfg/greeting"]).out == "again"
            }
            #expect(try c.kubectl(["exec", "secure", "--", "stat", "-L", "-c", "%g", "/cfg/greeting"]).out == "2000")

            try c.kubectl(["delete", "pod", "guaranteed", "burstable", "besteffort", "secure", "--timeout=60s"])
            // The pod cgroups go with the pods.
            try eventually(c, "the pod cgroups removed") {
                !FileManager.default.fileExists(atPath: "/sys/fs/cgroup/cpu" + g.pod)
                    && !FileManager.default.fileExists(atPath: "/sys/fs/cgroup/memory" + b.pod)
            }
        }
    }
}
