import Foundation
import Synchronization
import Testing

/// A cluster of its own for the scheduler suite: the nodes it creates are cluster-wide and would
/// place the other suites' pods. The test plays the kubelet without its heartbeats: the node
/// lifecycle controller's grace period is made longer than any run, or the nodes would turn Unknown
/// and be tainted unreachable after upstream's 50 s.
enum SchedulerCluster {
    static let args = ["--kube-controller-manager-arg", "node-monitor-grace-period=2h"]
    static let cluster: Result<TestCluster, any Error> = Result { try TestCluster(extraArgs: args) }
    static func get() throws -> TestCluster { try cluster.get() }
}

/// The scheduler inside `k8swift server` and alone (`k8swift kube-scheduler`), driven with real
/// kubectl. There is no kubelet: the test plays it by writing Node status (capacity, Ready), as
/// upstream's scheduler integration tests do. Expected placements and messages are upstream's
/// documented behaviour (FailedScheduling text, PodScheduled condition, Scheduled event).
@Suite("scheduler end to end", .serialized)
struct SchedulerE2ETests {
    let c: TestCluster

    init() throws {
        c = try SchedulerCluster.get()
        try Self.makeNodesOnce(c)
    }

    func eventually(_ what: String, timeout: Double = 30, _ f: () throws -> Bool) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if (try? f()) == true { return }
            Thread.sleep(forTimeInterval: 0.1)
        }
        // What the cluster looked like, to tell a slow scheduler from a wrong one.
        let pods = (try? c.kubectl(["get", "pods", "-A", "-o", "wide"], check: false).out) ?? ""
        let nodes = (try? c.kubectl(["get", "nodes", "-o", "wide"], check: false).out) ?? ""
        let events = (try? c.kubectl(["get", "events", "-A"], check: false).out) ?? ""
        throw E2EError("timed out waiting for \(what)\n\(pods)\n\(nodes)\n\(events.suffix(3000))")
    }

    static let nodesMade = Mutex(false)

    /// Three nodes: zone a (4 CPUs), zone b (4 CPUs, tainted dedicated=gpu:NoSchedule), zone c
    /// (2 CPUs, disk=ssd).
    static func makeNodesOnce(_ c: TestCluster) throws {
        let first = nodesMade.withLock { made -> Bool in
            defer { made = true }
            return !made
        }
        guard first else { return }
        try addNode(c, "sched-a", zone: "a", cpu: "4")
        try addNode(c, "sched-b", zone: "b", cpu: "4", taint: "dedicated=gpu:NoSchedule")
        try addNode(c, "sched-c", zone: "c", cpu: "2", labels: ["disk=ssd"])
    }

    /// Creates a Node and plays its kubelet: capacity and a Ready condition in status, and the
    /// not-ready taint lifted.
    static func addNode(
        _ c: TestCluster, _ name: String, zone: String, cpu: String, labels: [String] = [], taint: String? = nil
    ) throws {
        let node = """
            {"apiVersion":"v1","kind":"Node","metadata":{"name":"\(name)","labels":{"kubernetes.io/hostname":"\(name)","topology.kubernetes.io/zone":"\(zone)","sched-e2e":"1"}}}
            """
        try c.kubectl(["create", "-f", "-"], stdin: node)
        let status = """
            {"status":{"capacity":{"cpu":"\(cpu)","memory":"16Gi","pods":"110"},"allocatable":{"cpu":"\(cpu)","memory":"16Gi","pods":"110"},"conditions":[{"type":"Ready","status":"True","reason":"KubeletReady","message":"kubelet is posting ready status"}]}}
            """
        try c.kubectl(["patch", "node", name, "--subresource=status", "--type=merge", "-p", status])
        try c.kubectl(["patch", "node", name, "--type=merge", "-p", #"{"spec":{"taints":null}}"#])
        if !labels.isEmpty { try c.kubectl(["label", "node", name] + labels) }
        if let taint { try c.kubectl(["taint", "node", name, taint]) }
    }

    func pod(_ ns: String, _ yaml: String) throws {
        try c.kubectl(["-n", ns, "apply", "-f", "-"], stdin: yaml)
    }

    func nodeOf(_ ns: String, _ name: String) throws -> String {
        (dig(try c.json(["-n", ns, "get", "pod", name]), "spec", "nodeName") as? String) ?? ""
    }

    func condition(_ ns: String, _ name: String) throws -> [String: Any]? {
        let conds = dig(try c.json(["-n", ns, "get", "pod", name]), "status", "conditions") as? [[String: Any]]
        return conds?.first { $0["type"] as? String == "PodScheduled" }
    }

    static func podYAML(
        _ name: String, cpu: String = "100m", labels: String = "{}", spec: String = ""
    ) -> String {
        """
        apiVersion: v1
        kind: Pod
        metadata: {name: \(name), labels: \(labels)}
        spec:
          containers: [{name: c, image: registry.k8s.io/pause:3.10, resources: {requests: {cpu: \(cpu)}}}]
        \(spec)
        """
    }

    @Test("pods land where their nodeSelector, affinity, tolerations and anti-affinity allow, with a Scheduled event")
    func placement() throws {
        let ns = try c.namespace("place")
        try pod(ns, Self.podYAML("ssd", spec: "  nodeSelector: {disk: ssd}"))
        try pod(
            ns,
            Self.podYAML(
                "gpu",
                spec: """
                      tolerations: [{key: dedicated, operator: Equal, value: gpu, effect: NoSchedule}]
                      affinity:
                        nodeAffinity:
                          requiredDuringSchedulingIgnoredDuringExecution:
                            nodeSelectorTerms: [{matchExpressions: [{key: topology.kubernetes.io/zone, operator: In, values: [b]}]}]
                    """))
        try eventually("ssd and gpu bound") { try nodeOf(ns, "ssd") != "" && nodeOf(ns, "gpu") != "" }
        #expect(try nodeOf(ns, "ssd") == "sched-c")
        #expect(try nodeOf(ns, "gpu") == "sched-b")
        // Anti-affinity on the host name: the second web pod avoids the first one's node.
        let anti = """
              affinity:
                podAntiAffinity:
                  requiredDuringSchedulingIgnoredDuringExecution:
                  - labelSelector: {matchLabels: {app: web}}
                    topologyKey: kubernetes.io/hostname
            """
        try pod(ns, Self.podYAML("web1", labels: "{app: web}", spec: anti))
        try eventually("web1 bound") { try nodeOf(ns, "web1") != "" }
        try pod(ns, Self.podYAML("web2", labels: "{app: web}", spec: anti))
        try eventually("web2 bound") { try nodeOf(ns, "web2") != "" }
        #expect(try nodeOf(ns, "web1") != nodeOf(ns, "web2"))
        // The binding marks the pod scheduled, and the scheduler says so in an event.
        #expect(try condition(ns, "ssd")?["status"] as? String == "True")
        let events = (dig(try c.json(["-n", ns, "get", "events"]), "items") as? [[String: Any]]) ?? []
        let scheduled = events.filter {
            $0["reason"] as? String == "Scheduled" && dig($0, "involvedObject", "name") as? String == "ssd"
        }
        #expect(scheduled.count == 1)
        #expect(scheduled.first?["message"] as? String == "Successfully assigned \(ns)/ssd to sched-c")
        #expect(dig(scheduled.first, "source", "component") as? String == "default-scheduler")
    }

    @Test("a pod that fits nowhere gets upstream's message, and is scheduled once a node that fits appears")
    func unschedulableThenFits() throws {
        let ns = try c.namespace("big")
        try pod(ns, Self.podYAML("big", cpu: "16"))
        try eventually("the Unschedulable condition") {
            try condition(ns, "big")?["reason"] as? String == "Unschedulable"
        }
        let cond = try condition(ns, "big")!
        #expect(cond["status"] as? String == "False")
        #expect(
            cond["message"] as? String
                == "0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, 2 Insufficient cpu. "
                + "preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.")
        let events = (dig(try c.json(["-n", ns, "get", "events"]), "items") as? [[String: Any]]) ?? []
        #expect(events.contains { $0["reason"] as? String == "FailedScheduling" && $0["type"] as? String == "Warning" })
        // Pods with contradictory constraints stay Pending without holding up the others.
        try pod(
            ns,
            Self.podYAML(
                "never",
                spec: """
                      nodeSelector: {disk: ssd}
                      affinity:
                        nodeAffinity:
                          requiredDuringSchedulingIgnoredDuringExecution:
                            nodeSelectorTerms: [{matchExpressions: [{key: disk, operator: NotIn, values: [ssd]}]}]
                    """))
        try pod(ns, Self.podYAML("small"))
        try eventually("small bound") { try nodeOf(ns, "small") != "" }
        try eventually("never refused") { try condition(ns, "never")?["reason"] as? String == "Unschedulable" }
        #expect(
            try condition(ns, "never")?["message"] as? String
                == "0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, 2 node(s) didn't match Pod's node affinity/selector. "
                + "preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.")
        // A node that fits: the node's arrival retries the pod.
        try Self.addNode(c, "sched-big", zone: "d", cpu: "32")
        try eventually("big bound", timeout: 40) { try nodeOf(ns, "big") == "sched-big" }
        #expect(try nodeOf(ns, "never") == "")
        try c.kubectl(["delete", "node", "sched-big"])
    }

    @Test("host ports conflict on a node; topology spread keeps zones within maxSkew")
    func portsAndSpread() throws {
        let ns = try c.namespace("ports")
        let port = "  nodeSelector: {disk: ssd}\n"
        let withPort = { (name: String) in
            """
            apiVersion: v1
            kind: Pod
            metadata: {name: \(name)}
            spec:
              containers: [{name: c, image: registry.k8s.io/pause:3.10, ports: [{containerPort: 80, hostPort: 18080}]}]
            \(port)
            """
        }
        try pod(ns, withPort("port1"))
        try eventually("port1 bound") { try nodeOf(ns, "port1") == "sched-c" }
        try pod(ns, withPort("port2"))
        try eventually("port2 refused") { try condition(ns, "port2")?["reason"] as? String == "Unschedulable" }
        #expect(
            try (condition(ns, "port2")?["message"] as? String ?? "").hasPrefix(
                "0/3 nodes are available: 1 node(s) didn't have free ports for the requested pod ports, "))
        let spread = """
              topologySpreadConstraints:
              - {maxSkew: 1, topologyKey: topology.kubernetes.io/zone, whenUnsatisfiable: DoNotSchedule, nodeTaintsPolicy: Honor, labelSelector: {matchLabels: {app: spread}}}
            """
        for i in 0..<4 {
            try pod(ns, Self.podYAML("spread\(i)", labels: "{app: spread}", spec: spread))
            try eventually("spread\(i) bound") { try nodeOf(ns, "spread\(i)") != "" }
        }
        // With nodeTaintsPolicy Honor the tainted zone b is no domain (Ignore, the default, would
        // count it with 0 pods and refuse a third pod): zones a and c, 4 pods, skew ≤ 1 → 2 and 2.
        var zones: [String: Int] = [:]
        for i in 0..<4 { zones[try nodeOf(ns, "spread\(i)"), default: 0] += 1 }
        #expect(zones == ["sched-a": 2, "sched-c": 2])
    }

    @Test("a higher-priority pod preempts a lower one; preemptionPolicy Never waits; gates hold pods back")
    func priorityPreemptionAndGates() throws {
        let ns = try c.namespace("prio")
        let classes = """
            apiVersion: scheduling.k8s.io/v1
            kind: PriorityClass
            metadata: {name: sched-e2e-high}
            value: 1000
            ---
            apiVersion: scheduling.k8s.io/v1
            kind: PriorityClass
            metadata: {name: sched-e2e-never}
            value: 1000
            preemptionPolicy: Never
            """
        try c.kubectl(["apply", "-f", "-"], stdin: classes)
        // A 2-CPU node of this test's own, filled by a low-priority pod.
        try Self.addNode(c, "sched-p", zone: "p", cpu: "2", labels: ["pool=prio"])
        defer { _ = try? c.kubectl(["delete", "node", "sched-p"]) }
        try pod(ns, Self.podYAML("low", cpu: "1900m", spec: "  nodeSelector: {pool: prio}"))
        try eventually("low bound") { try nodeOf(ns, "low") == "sched-p" }
        try pod(
            ns,
            Self.podYAML(
                "never", cpu: "500m", spec: "  nodeSelector: {pool: prio}\n  priorityClassName: sched-e2e-never"))
        try eventually("never refused") { try condition(ns, "never")?["reason"] as? String == "Unschedulable" }
        #expect(
            try (condition(ns, "never")?["message"] as? String ?? "").hasSuffix(
                "preemption: not eligible due to preemptionPolicy=Never."))
        try c.kubectl(["-n", ns, "delete", "pod", "never", "--grace-period=0", "--force"])
        try pod(
            ns,
            Self.podYAML("high", cpu: "500m", spec: "  nodeSelector: {pool: prio}\n  priorityClassName: sched-e2e-high")
        )
        // The victim is deleted (gracefully: the test's "kubelet" finishes it) and the preemptor
        // nominated, then bound.
        try eventually("low terminating") {
            dig(try c.json(["-n", ns, "get", "pod", "low"]), "metadata", "deletionTimestamp") != nil
        }
        let low = try c.json(["-n", ns, "get", "pod", "low"])
        let conds = (dig(low, "status", "conditions") as? [[String: Any]]) ?? []
        #expect(
            conds.contains {
                $0["type"] as? String == "DisruptionTarget" && $0["reason"] as? String == "PreemptionByScheduler"
            })
        try eventually("high nominated") {
            let high = try c.json(["-n", ns, "get", "pod", "high"])
            return dig(high, "status", "nominatedNodeName") as? String == "sched-p"
                || dig(high, "spec", "nodeName") as? String == "sched-p"
        }
        // Upstream's event on the victim: Normal/Preempted, naming the preemptor's UID and the node,
        // with the preemptor as the related object.
        let highUID = dig(try c.json(["-n", ns, "get", "pod", "high"]), "metadata", "uid") as? String ?? "?"
        try eventually("the Preempted event") {
            let events = (dig(try c.json(["-n", ns, "get", "events"]), "items") as? [[String: Any]]) ?? []
            return events.contains {
                $0["reason"] as? String == "Preempted" && $0["type"] as? String == "Normal"
                    && dig($0, "involvedObject", "name") as? String == "low"
                    && dig($0, "related", "name") as? String == "high"
                    && $0["message"] as? String == "Preempted by pod \(highUID) on node sched-p"
            }
        }
        try c.kubectl(["-n", ns, "delete", "pod", "low", "--grace-period=0", "--force"])
        try eventually("high bound", timeout: 40) { try nodeOf(ns, "high") == "sched-p" }
        // Scheduling gates: held (with upstream's condition) until the last gate goes.
        try pod(ns, Self.podYAML("gated", spec: "  schedulingGates: [{name: example.com/wait}]"))
        Thread.sleep(forTimeInterval: 1.5)
        #expect(try nodeOf(ns, "gated") == "")
        #expect(try condition(ns, "gated")?["reason"] as? String == "SchedulingGated")
        try c.kubectl([
            "-n", ns, "patch", "pod", "gated", "--type=json", "-p",
            #"[{"op":"remove","path":"/spec/schedulingGates"}]"#,
        ])
        try eventually("gated bound") { try nodeOf(ns, "gated") != "" }
        // A pod for another scheduler is left alone.
        try pod(ns, Self.podYAML("other", spec: "  schedulerName: my-scheduler"))
        Thread.sleep(forTimeInterval: 1.5)
        #expect(try nodeOf(ns, "other") == "")
        #expect(try condition(ns, "other") == nil)
    }

    @Test("kube-scheduler alone: a bad configuration is refused at start; two with leader election, one binds")
    func standaloneAndLeaderElection() throws {
        let solo = try TestCluster(extraArgs: ["--disable", "scheduler"] + SchedulerCluster.args)
        let dir = solo.dataDir
        // Refused configurations: an unknown plugin and an unknown field.
        let bad = dir + "/bad.yaml"
        try """
        apiVersion: kubescheduler.config.k8s.io/v1
        kind: KubeSchedulerConfiguration
        profiles:
        - schedulerName: default-scheduler
          plugins:
            filter:
              enabled: [{name: NoSuchPlugin}]
        """.write(toFile: bad, atomically: true, encoding: .utf8)
        let r1 = try solo.run(
            TestCluster.binary, ["kube-scheduler", "--config", bad, "--kubeconfig", solo.kubeconfig], check: false)
        #expect(r1.status == 1)
        #expect(r1.err.contains("\"NoSuchPlugin\" does not exist"))
        try """
        apiVersion: kubescheduler.config.k8s.io/v1
        kind: KubeSchedulerConfiguration
        percentageOfNodesToScor: 50
        """.write(toFile: bad, atomically: true, encoding: .utf8)
        let r2 = try solo.run(TestCluster.binary, ["kube-scheduler", "--config", bad], check: false)
        #expect(r2.status == 1)
        #expect(r2.err.contains("unknown field \"percentageOfNodesToScor\""))
        // Two schedulers racing for the lease.
        try Self.addNode(solo, "solo-a", zone: "a", cpu: "4")
        let args = [
            "kube-scheduler", "--kubeconfig", solo.kubeconfig, "--secure-port", "0", "--leader-elect=true",
            "--leader-elect-lease-duration=4s", "--leader-elect-renew-deadline=3s", "--leader-elect-retry-period=1s",
        ]
        let s1 = try solo.launch(args)
        let s2 = try solo.launch(args)
        defer {
            s1.terminate()
            s2.terminate()
        }
        let ns = try solo.namespace("le")
        for i in 0..<5 {
            try solo.kubectl(["-n", ns, "apply", "-f", "-"], stdin: Self.podYAML("p\(i)"))
        }
        try eventually("pods bound") {
            let pods = (dig(try solo.json(["-n", ns, "get", "pods"]), "items") as? [[String: Any]]) ?? []
            return pods.count == 5 && pods.allSatisfy { (dig($0, "spec", "nodeName") as? String) == "solo-a" }
        }
        let lease = try solo.json(["-n", "kube-system", "get", "lease", "kube-scheduler"])
        let holder = dig(lease, "spec", "holderIdentity") as? String ?? ""
        #expect(!holder.isEmpty)
        // Every pod bound once: one Scheduled event each, all from the lease holder's process.
        let events = (dig(try solo.json(["-n", ns, "get", "events"]), "items") as? [[String: Any]]) ?? []
        #expect(events.filter { $0["reason"] as? String == "Scheduled" }.count == 5)
        #expect(!events.contains { $0["reason"] as? String == "FailedScheduling" })
        // Only the lease holder started scheduling.
        let log = try String(contentsOfFile: solo.log, encoding: .utf8)
        #expect(log.components(separatedBy: "kube-scheduler: informers synced").count == 2)
        // Both stop; a new candidate takes the lease once it expires, and schedules.
        s1.terminate()
        s2.terminate()
        s1.waitUntilExit()
        let s3 = try solo.launch(args)
        defer { s3.terminate() }
        try solo.kubectl(["-n", ns, "apply", "-f", "-"], stdin: Self.podYAML("late"))
        try eventually("late bound", timeout: 30) {
            dig(try solo.json(["-n", ns, "get", "pod", "late"]), "spec", "nodeName") as? String == "solo-a"
        }
        let after = try solo.json(["-n", "kube-system", "get", "lease", "kube-scheduler"])
        #expect(dig(after, "spec", "holderIdentity") as? String != holder)
    }
}
