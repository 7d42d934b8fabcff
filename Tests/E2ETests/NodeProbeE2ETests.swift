import Foundation
import Testing

/// Probes and lifecycle hooks on a real node: readiness gating a Deployment's availability, a liveness
/// probe restarting a container, a startup probe holding readiness back, and a preStop hook running
/// before a deleted pod's container stops. Expected events and fields are upstream's.
extension NodeE2ETests {
    @Test(
        "probes and hooks: readiness makes a Deployment Available, liveness restarts, startup holds readiness, preStop runs"
    )
    func probesAndHooks() throws {
        if let why = Self.missing {
            print("skipped: the node end-to-end suite needs root, containerd, runc and CNI: \(why)")
            return
        }
        let (c, dir, busybox) = try startNode()
        let hostOut = dir + "-prestop"
        defer {
            c.stop()
            NodeHost.clean(dataDir: dir)
            try? FileManager.default.removeItem(atPath: hostOut)
        }
        let manifest = """
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: ready-web}
            spec:
              replicas: 1
              selector: {matchLabels: {app: ready-web}}
              template:
                metadata: {labels: {app: ready-web}}
                spec:
                  containers:
                  - name: web
                    image: \(busybox)
                    imagePullPolicy: IfNotPresent
                    command: [sh, -c, "sleep 4; mkdir -p /www; echo ok > /www/index.html; exec httpd -f -p 8080 -h /www"]
                    readinessProbe:
                      httpGet: {path: /index.html, port: 8080}
                      periodSeconds: 1
            ---
            apiVersion: v1
            kind: Pod
            metadata: {name: live}
            spec:
              terminationGracePeriodSeconds: 2
              containers:
              - name: live
                image: \(busybox)
                imagePullPolicy: IfNotPresent
                command: [sh, -c, "touch /tmp/healthy; sleep 3; rm /tmp/healthy; sleep 600"]
                livenessProbe:
                  exec: {command: [cat, /tmp/healthy]}
                  periodSeconds: 1
                  failureThreshold: 2
            ---
            apiVersion: v1
            kind: Pod
            metadata: {name: slow-start}
            spec:
              terminationGracePeriodSeconds: 1
              containers:
              - name: app
                image: \(busybox)
                imagePullPolicy: IfNotPresent
                command: [sh, -c, "sleep 10; touch /tmp/started; sleep 600"]
                startupProbe:
                  exec: {command: [cat, /tmp/started]}
                  periodSeconds: 1
                  failureThreshold: 60
                readinessProbe:
                  exec: {command: ["true"]}
                  periodSeconds: 1
            ---
            apiVersion: v1
            kind: Pod
            metadata: {name: stopper}
            spec:
              terminationGracePeriodSeconds: 10
              volumes:
              - name: out
                hostPath: {path: \(hostOut), type: DirectoryOrCreate}
              containers:
              - name: app
                image: \(busybox)
                imagePullPolicy: IfNotPresent
                command: [sh, -c, "trap 'exit 0' TERM; while true; do sleep 1; done"]
                volumeMounts: [{name: out, mountPath: /out}]
                lifecycle:
                  preStop:
                    exec: {command: [sh, -c, "echo bye-from-prestop > /out/prestop"]}
            """
        try c.kubectl(["apply", "-f", "-"], stdin: manifest)

        // The startup probe holds readiness back while it fails: running, not started, not ready.
        try eventually(c, "slow-start running") {
            dig(try pod(c, "slow-start"), "status", "containerStatuses", 0, "state", "running") != nil
        }
        let early = try pod(c, "slow-start")
        #expect(dig(early, "status", "containerStatuses", 0, "started") as? Bool == false)
        #expect(dig(early, "status", "containerStatuses", 0, "ready") as? Bool == false)

        // Readiness: the Deployment becomes Available only once httpd answers the probe.
        try eventually(c, "ready-web Available", timeout: 90) {
            let d = try c.json(["get", "deployment", "ready-web", "-o", "json"])
            let conds = dig(d, "status", "conditions") as? [[String: Any]] ?? []
            return dig(d, "status", "readyReplicas") as? Int == 1
                && conds.contains { $0["type"] as? String == "Available" && $0["status"] as? String == "True" }
        }
        let webPods = try c.json(["get", "pods", "-l", "app=ready-web", "-o", "json"])
        let web = try #require((webPods as? [String: Any]).flatMap { $0["items"] as? [[String: Any]] }?.first)
        let webName = try #require(dig(web, "metadata", "name") as? String)
        let webIP = try #require(dig(web, "status", "podIP") as? String)
        #expect(dig(web, "status", "containerStatuses", 0, "ready") as? Bool == true)
        #expect(dig(web, "status", "containerStatuses", 0, "restartCount") as? Int == 0)
        let webEvents = try c.kubectl(["get", "events", "--field-selector", "involvedObject.name=\(webName)"]).out
        #expect(
            webEvents.contains(
                "Readiness probe failed: Get \"http://\(webIP):8080/index.html\": dial tcp \(webIP):8080: connect: connection refused"
            ))

        // The startup probe passes once the file exists; then the readiness probe runs and passes.
        try eventually(c, "slow-start started and ready", timeout: 60) {
            let p = try pod(c, "slow-start")
            return dig(p, "status", "containerStatuses", 0, "started") as? Bool == true
                && dig(p, "status", "containerStatuses", 0, "ready") as? Bool == true
        }
        let startEvents = try c.kubectl(["get", "events", "--field-selector", "involvedObject.name=slow-start"]).out
        #expect(startEvents.contains("Startup probe failed: cat: can't open '/tmp/started': No such file or directory"))
        #expect(dig(try pod(c, "slow-start"), "status", "containerStatuses", 0, "restartCount") as? Int == 0)

        // Liveness: the probe fails once the file is gone; the container is killed and restarted.
        try eventually(c, "live restarted twice", timeout: 120) {
            (dig(try pod(c, "live"), "status", "containerStatuses", 0, "restartCount") as? Int ?? 0) >= 2
        }
        let liveEvents = try c.kubectl(["get", "events", "--field-selector", "involvedObject.name=live"]).out
        #expect(liveEvents.contains("Liveness probe failed: cat: can't open '/tmp/healthy': No such file or directory"))
        #expect(liveEvents.contains("Container live failed liveness probe, will be restarted"))
        #expect(liveEvents.contains("Unhealthy"))
        #expect(liveEvents.contains("Killing"))
        // Its command never ends by itself: the previous instance was stopped by the kubelet.
        try eventually(c, "live's previous instance terminated") {
            let code = dig(try pod(c, "live"), "status", "containerStatuses", 0, "lastState", "terminated", "exitCode")
            return (code as? Int ?? 0) != 0
        }

        // preStop: the hook writes to the host before the container is stopped for the deletion.
        try eventually(c, "stopper Running") {
            dig(try pod(c, "stopper"), "status", "phase") as? String == "Running"
        }
        #expect(!FileManager.default.fileExists(atPath: hostOut + "/prestop"))
        try c.kubectl(["delete", "pod", "stopper", "--timeout=60s"])
        let written = try String(contentsOfFile: hostOut + "/prestop", encoding: .utf8)
        #expect(written == "bye-from-prestop\n")

        try c.kubectl(["delete", "deployment", "ready-web", "--timeout=60s"])
        try c.kubectl(["delete", "pod", "live", "slow-start", "--timeout=60s"])
        try eventually(c, "no pod left") {
            try c.kubectl(["get", "pods", "--no-headers"]).out.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty
        }
        try eventually(c, "no container left") { NodeHost.runningContainers(dataDir: dir).isEmpty }
    }
}
