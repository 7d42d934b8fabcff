import Foundation
import Testing

/// The controller manager inside `k8swift server`, driven with real kubectl. There is no kubelet
/// yet: the test plays the node by writing pod status through the API, as upstream's integration
/// tests do. Expected outcomes are upstream's documented behaviour (kubectl rollout, cascading
/// deletion, namespace deletion conditions).
@Suite("controllers end to end", .serialized)
struct ControllerTests {
    let c: TestCluster

    init() throws { c = try SharedCluster.get() }

    /// Waits until `f` holds, re-evaluating every 100 ms.
    func eventually(_ what: String, timeout: Double = 60, _ f: () throws -> Bool) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if (try? f()) == true { return }
            Thread.sleep(forTimeInterval: 0.1)
        }
        throw E2EError("timed out waiting for \(what)")
    }

    func items(_ args: [String]) throws -> [[String: Any]] {
        (dig(try c.json(args), "items") as? [[String: Any]]) ?? []
    }

    /// Plays the kubelet: every pending pod in the namespace becomes Running and Ready.
    func runPods(_ ns: String) throws {
        let now = ISO8601DateFormatter().string(from: Date())
        for p in try items(["-n", ns, "get", "pods"]) where dig(p, "status", "phase") as? String == "Pending" {
            guard let name = dig(p, "metadata", "name") as? String, dig(p, "metadata", "deletionTimestamp") == nil
            else { continue }
            try c.kubectl(
                [
                    "-n", ns, "patch", "pod", name, "--subresource=status", "--type=merge", "-p",
                    #"{"status":{"phase":"Running","conditions":[{"type":"Ready","status":"True","lastTransitionTime":"\#(now)"}]}}"#,
                ], check: false)
        }
    }

    func replicaSets(_ ns: String) throws -> [String: (desired: Int, ready: Int)] {
        var out: [String: (Int, Int)] = [:]
        for rs in try items(["-n", ns, "get", "rs"]) {
            out[dig(rs, "metadata", "name") as! String] = (
                dig(rs, "spec", "replicas") as? Int ?? 0, dig(rs, "status", "readyReplicas") as? Int ?? 0
            )
        }
        return out
    }

    @Test("kubectl create deployment makes a ReplicaSet and its pods, owned and labelled as upstream's are")
    func deploymentCreatesPods() throws {
        let ns = try c.namespace("dep")
        try c.kubectl(["-n", ns, "create", "deployment", "web", "--image=busybox", "--replicas=3"])
        try eventually("3 pods") { try items(["-n", ns, "get", "pods"]).count == 3 }
        let rss = try items(["-n", ns, "get", "rs"])
        #expect(rss.count == 1)
        let rs = rss[0]
        let rsName = dig(rs, "metadata", "name") as! String
        let hash = dig(rs, "metadata", "labels", "pod-template-hash") as? String ?? ""
        #expect(rsName == "web-\(hash)" && !hash.isEmpty)
        #expect(dig(rs, "metadata", "ownerReferences", 0, "kind") as? String == "Deployment")
        #expect(dig(rs, "metadata", "ownerReferences", 0, "controller") as? Bool == true)
        #expect(dig(rs, "metadata", "annotations", "deployment.kubernetes.io/revision") as? String == "1")
        #expect(dig(rs, "metadata", "annotations", "deployment.kubernetes.io/desired-replicas") as? String == "3")
        #expect(dig(rs, "metadata", "annotations", "deployment.kubernetes.io/max-replicas") as? String == "4")
        for p in try items(["-n", ns, "get", "pods"]) {
            #expect((dig(p, "metadata", "name") as! String).hasPrefix(rsName + "-"))
            #expect(dig(p, "metadata", "labels", "pod-template-hash") as? String == hash)
            #expect(dig(p, "metadata", "ownerReferences", 0, "name") as? String == rsName)
            #expect(dig(p, "metadata", "ownerReferences", 0, "blockOwnerDeletion") as? Bool == true)
        }
        // Not ready yet: the Deployment says so.
        let d = try c.json(["-n", ns, "get", "deployment", "web"])
        #expect(dig(d, "status", "replicas") as? Int == 3 && dig(d, "status", "updatedReplicas") as? Int == 3)
        let events = try c.kubectl(["-n", ns, "get", "events"]).out
        #expect(events.contains("ScalingReplicaSet") && events.contains("Scaled up replica set \(rsName) from 0 to 3"))
        #expect(events.contains("SuccessfulCreate") && events.contains("Created pod: \(rsName)-"))
        try runPods(ns)
        let status = try c.kubectl(["-n", ns, "rollout", "status", "deployment/web", "--timeout=30s"])
        #expect(status.out.contains("successfully rolled out"))
        try eventually("Available and Progressing conditions") {
            let d = try c.json(["-n", ns, "get", "deployment", "web"])
            let conds = (dig(d, "status", "conditions") as? [[String: Any]]) ?? []
            let byType = Dictionary(uniqueKeysWithValues: conds.map { ($0["type"] as! String, $0) })
            return byType["Available"]?["reason"] as? String == "MinimumReplicasAvailable"
                && byType["Progressing"]?["reason"] as? String == "NewReplicaSetAvailable"
                && (byType["Progressing"]?["message"] as? String)?.hasSuffix("has successfully progressed.") == true
                && dig(d, "status", "availableReplicas") as? Int == 3
        }
    }

    @Test("scale, set image, rollout history, undo, pause, resume and restart")
    func rollouts() throws {
        let ns = try c.namespace("roll")
        try c.kubectl(["-n", ns, "create", "deployment", "app", "--image=busybox:1", "--replicas=2"])
        try eventually("2 pods") { try items(["-n", ns, "get", "pods"]).count == 2 }
        try runPods(ns)
        try c.kubectl(["-n", ns, "rollout", "status", "deployment/app", "--timeout=30s"])
        try c.kubectl(["-n", ns, "scale", "deployment/app", "--replicas=4"])
        try eventually("4 ready pods") {
            try runPods(ns)
            return try replicaSets(ns).values.map(\.ready) == [4]
        }
        try c.kubectl(["-n", ns, "set", "image", "deployment/app", "busybox=busybox:2"])
        try eventually("the new replica set takes over") {
            try runPods(ns)
            let rs = try replicaSets(ns)
            return rs.count == 2 && rs.values.contains { $0.desired == 4 && $0.ready == 4 }
                && rs.values.contains { $0.desired == 0 }
        }
        try c.kubectl(["-n", ns, "rollout", "status", "deployment/app", "--timeout=30s"])
        let history = try c.kubectl(["-n", ns, "rollout", "history", "deployment/app"]).out
        #expect(history.contains("1 ") && history.contains("2 "), "\(history)")
        try c.kubectl(["-n", ns, "rollout", "undo", "deployment/app"])
        try eventually("the first template back") {
            try runPods(ns)
            let d = try c.json(["-n", ns, "get", "deployment", "app"])
            return dig(d, "spec", "template", "spec", "containers", 0, "image") as? String == "busybox:1"
                && dig(d, "metadata", "annotations", "deployment.kubernetes.io/revision") as? String == "3"
                && dig(d, "status", "updatedReplicas") as? Int == 4
                && dig(d, "status", "availableReplicas") as? Int == 4
                && dig(d, "status", "replicas") as? Int == 4
        }
        // Revision 1's set was reused: it is revision 3 now, and history no longer lists 1.
        let after = try c.kubectl(["-n", ns, "rollout", "history", "deployment/app"]).out
        #expect(!after.contains("\n1 ") && after.contains("3 "), "\(after)")
        try c.kubectl(["-n", ns, "rollout", "pause", "deployment/app"])
        try eventually("the paused condition") {
            let d = try c.json(["-n", ns, "get", "deployment", "app"])
            let conds = (dig(d, "status", "conditions") as? [[String: Any]]) ?? []
            return conds.contains {
                $0["type"] as? String == "Progressing" && $0["reason"] as? String == "DeploymentPaused"
            }
        }
        // A template change while paused makes no new replica set.
        try c.kubectl(["-n", ns, "set", "image", "deployment/app", "busybox=busybox:9"])
        Thread.sleep(forTimeInterval: 1)
        #expect(try replicaSets(ns).count == 2)
        try c.kubectl(["-n", ns, "rollout", "resume", "deployment/app"])
        try eventually("a third replica set after resume") {
            try runPods(ns)
            return try replicaSets(ns).count == 3
        }
        try c.kubectl(["-n", ns, "rollout", "restart", "deployment/app"])
        try eventually("a fourth replica set after restart, fully rolled out") {
            try runPods(ns)
            let rs = try replicaSets(ns)
            return rs.count == 4 && rs.values.filter { $0.desired > 0 }.count == 1
                && rs.values.contains { $0.desired == 4 && $0.ready == 4 }
        }
        try c.kubectl(["-n", ns, "rollout", "status", "deployment/app", "--timeout=30s"])
    }

    @Test("delete with background, foreground and orphan cascades")
    func cascades() throws {
        let ns = try c.namespace("gc")
        for name in ["bg", "fg", "orphan"] {
            try c.kubectl(["-n", ns, "create", "deployment", name, "--image=busybox", "--replicas=2"])
        }
        try eventually("6 pods") { try items(["-n", ns, "get", "pods"]).count == 6 }
        try c.kubectl(["-n", ns, "delete", "deployment", "bg", "--cascade=background"])
        try c.kubectl(["-n", ns, "delete", "deployment", "fg", "--cascade=foreground"])
        try c.kubectl(["-n", ns, "delete", "deployment", "orphan", "--cascade=orphan"])
        try eventually("only the orphaned replica set and its pods left") {
            let rss = try items(["-n", ns, "get", "rs"])
            let pods = try items(["-n", ns, "get", "pods"])
            return rss.count == 1 && (dig(rss[0], "metadata", "name") as! String).hasPrefix("orphan-")
                && dig(rss[0], "metadata", "ownerReferences") == nil
                && pods.count == 2 && pods.allSatisfy { (dig($0, "metadata", "name") as! String).hasPrefix("orphan-") }
        }
        // The orphaned replica set still keeps its pods at its size.
        try c.kubectl(["-n", ns, "delete", "pod", "--all", "--wait=false"])
        try eventually("pods replaced by the orphaned replica set") {
            try items(["-n", ns, "get", "pods"]).count == 2
        }
        // Foreground: the owner stays, with its finalizer, until its dependents are gone.
        try c.kubectl(["-n", ns, "create", "configmap", "owner"])
        let owner = try c.json(["-n", ns, "get", "configmap", "owner"])
        let uid = dig(owner, "metadata", "uid") as! String
        let dependent = """
            {"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"dep","namespace":"\(ns)","finalizers":["example.com/hold"],
             "ownerReferences":[{"apiVersion":"v1","kind":"ConfigMap","name":"owner","uid":"\(uid)","blockOwnerDeletion":true}]}}
            """
        try c.kubectl(["create", "-f", "-"], stdin: dependent)
        try c.kubectl(["-n", ns, "delete", "configmap", "owner", "--cascade=foreground", "--wait=false"])
        try eventually("the dependent is being deleted and the owner waits") {
            let d = try c.json(["-n", ns, "get", "configmap", "dep"])
            let o = try c.json(["-n", ns, "get", "configmap", "owner"])
            return dig(d, "metadata", "deletionTimestamp") != nil
                && (dig(o, "metadata", "finalizers") as? [String]) == ["foregroundDeletion"]
        }
        try c.kubectl([
            "-n", ns, "patch", "configmap", "dep", "--type=merge", "-p", #"{"metadata":{"finalizers":null}}"#,
        ])
        try eventually("the owner goes once its dependent is gone") {
            try c.kubectl(["-n", ns, "get", "configmap", "owner"], check: false).status != 0
        }
    }

    @Test("dependents of missing owners are collected; owners of unknown kinds are never assumed gone")
    func danglingOwners() throws {
        let ns = try c.namespace("dangle")
        let missing = """
            {"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"lost","namespace":"\(ns)",
             "ownerReferences":[{"apiVersion":"v1","kind":"ConfigMap","name":"gone","uid":"00000000-0000-0000-0000-000000000001"}]}}
            """
        let unknown = """
            {"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"kept","namespace":"\(ns)",
             "ownerReferences":[{"apiVersion":"example.com/v1","kind":"Nothing","name":"x","uid":"00000000-0000-0000-0000-000000000002"}]}}
            """
        try c.kubectl(["create", "-f", "-"], stdin: missing)
        try c.kubectl(["create", "-f", "-"], stdin: unknown)
        try eventually("the dependent of a missing owner is deleted") {
            try c.kubectl(["-n", ns, "get", "configmap", "lost"], check: false).status != 0
        }
        // The controllers keep working on everything else meanwhile.
        try c.kubectl(["-n", ns, "create", "deployment", "still", "--image=busybox", "--replicas=1"])
        try eventually("a pod for the next deployment") { try items(["-n", ns, "get", "pods"]).count == 1 }
        #expect(try c.kubectl(["-n", ns, "get", "configmap", "kept"], check: false).status == 0)
    }

    @Test("every namespace gets the default ServiceAccount and kube-root-ca.crt with the cluster's CA")
    func namespaceDefaults() throws {
        let ns = try c.namespace("defaults")
        try eventually("default service account") {
            try c.kubectl(["-n", ns, "get", "serviceaccount", "default"], check: false).status == 0
        }
        let ca = try String(contentsOfFile: c.dataDir + "/tls/ca.crt", encoding: .utf8)
        try eventually("kube-root-ca.crt") {
            let cm = try c.json(["-n", ns, "get", "configmap", "kube-root-ca.crt"])
            return dig(cm, "data", "ca.crt") as? String == ca
        }
        // Deleted or edited, both come back.
        try c.kubectl(["-n", ns, "delete", "serviceaccount", "default"])
        try c.kubectl([
            "-n", ns, "patch", "configmap", "kube-root-ca.crt", "--type=merge", "-p", #"{"data":{"ca.crt":"x"}}"#,
        ])
        try eventually("both restored") {
            let cm = try c.json(["-n", ns, "get", "configmap", "kube-root-ca.crt"])
            let sa = try c.kubectl(["-n", ns, "get", "serviceaccount", "default"], check: false)
            return dig(cm, "data", "ca.crt") as? String == ca && sa.status == 0
        }
    }

    @Test("deleting a namespace deletes every kind in it, reports what holds it, then goes")
    func namespaceDeletion() throws {
        let ns = try c.namespace("nsdel")
        try c.kubectl(["-n", ns, "create", "deployment", "d", "--image=busybox", "--replicas=2"])
        for i in 0..<20 { try c.kubectl(["-n", ns, "create", "configmap", "cm\(i)"]) }
        try c.kubectl(["-n", ns, "create", "secret", "generic", "s", "--from-literal=a=b"])
        try c.kubectl(["-n", ns, "create", "service", "clusterip", "svc", "--tcp=80"])
        try c.kubectl(["-n", ns, "create", "job", "j", "--image=busybox"])
        try c.kubectl(["-n", ns, "create", "cronjob", "cj", "--image=busybox", "--schedule=*/5 * * * *"])
        try c.kubectl(["-n", ns, "create", "role", "r", "--verb=get", "--resource=pods"])
        try c.kubectl(["-n", ns, "create", "rolebinding", "rb", "--role=r", "--user=u"])
        try c.kubectl(["-n", ns, "create", "serviceaccount", "sa"])
        try c.kubectl(["-n", ns, "create", "poddisruptionbudget", "pdb", "--selector=a=b", "--min-available=1"])
        let held = """
            {"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"held","namespace":"\(ns)","finalizers":["example.com/hold"]}}
            """
        try c.kubectl(["create", "-f", "-"], stdin: held)
        try eventually("the deployment's and the job's pods") { try items(["-n", ns, "get", "pods"]).count == 3 }
        try c.kubectl(["delete", "namespace", ns, "--wait=false"])
        try eventually("the namespace reports the finalizer that holds it", timeout: 60) {
            let n = try c.json(["get", "namespace", ns])
            let conds = (dig(n, "status", "conditions") as? [[String: Any]]) ?? []
            let byType = Dictionary(uniqueKeysWithValues: conds.map { ($0["type"] as! String, $0) })
            return dig(n, "status", "phase") as? String == "Terminating"
                && byType["NamespaceContentRemaining"]?["reason"] as? String == "SomeResourcesRemain"
                && (byType["NamespaceContentRemaining"]?["message"] as? String)?.contains(
                    "configmaps has 1 resource instances") == true
                && byType["NamespaceFinalizersRemaining"]?["reason"] as? String == "SomeFinalizersRemain"
                && (byType["NamespaceFinalizersRemaining"]?["message"] as? String)?.contains(
                    "example.com/hold in 1 resource instances") == true
                && byType["NamespaceDeletionDiscoveryFailure"]?["status"] as? String == "False"
        }
        for kind in [
            "deployments", "replicasets", "pods", "secrets", "services", "jobs", "cronjobs", "roles", "serviceaccounts",
        ] {
            #expect(try items(["-n", ns, "get", kind]).isEmpty, "\(kind) left in \(ns)")
        }
        #expect(try items(["-n", ns, "get", "configmaps"]).map { dig($0, "metadata", "name") as? String } == ["held"])
        try c.kubectl([
            "-n", ns, "patch", "configmap", "held", "--type=merge", "-p", #"{"metadata":{"finalizers":null}}"#,
        ])
        try eventually("the namespace is gone", timeout: 60) {
            try c.kubectl(["get", "namespace", ns], check: false).status != 0
        }
    }
}

extension ControllerTests {
    @Test("kubectl create job runs pods to completion; kubectl create cronjob starts jobs on its schedule")
    func jobsAndCronJobs() throws {
        let ns = try c.namespace("jobs")
        try c.kubectl(["-n", ns, "create", "job", "once", "--image=busybox"])
        try eventually("a job pod with the tracking finalizer") {
            let pods = try items(["-n", ns, "get", "pods", "-l", "job-name=once"])
            return pods.count == 1
                && (dig(pods[0], "metadata", "finalizers") as? [String]) == ["batch.kubernetes.io/job-tracking"]
        }
        let pod = try items(["-n", ns, "get", "pods", "-l", "job-name=once"])[0]
        let name = dig(pod, "metadata", "name") as! String
        try c.kubectl([
            "-n", ns, "patch", "pod", name, "--subresource=status", "--type=merge", "-p",
            #"{"status":{"phase":"Succeeded"}}"#,
        ])
        try c.kubectl(["-n", ns, "wait", "job/once", "--for=condition=Complete", "--timeout=30s"])
        let job = try c.json(["-n", ns, "get", "job", "once"])
        #expect(dig(job, "status", "succeeded") as? Int == 1 && dig(job, "status", "completionTime") != nil)
        try eventually("the pod's finalizer removed") {
            dig(try c.json(["-n", ns, "get", "pod", name]), "metadata", "finalizers") == nil
        }
        // A cron job that missed its last minute starts a job at once, named after the scheduled minute.
        try c.kubectl(["-n", ns, "create", "cronjob", "tick", "--image=busybox", "--schedule=* * * * *"])
        let past = ISO8601DateFormatter().string(from: Date().addingTimeInterval(-180))
        try c.kubectl([
            "-n", ns, "patch", "cronjob", "tick", "--subresource=status", "--type=merge", "-p",
            #"{"status":{"lastScheduleTime":"\#(past)"}}"#,
        ])
        try eventually("a job from the cron job") {
            let jobs = try items(["-n", ns, "get", "jobs"]).filter {
                dig($0, "metadata", "ownerReferences", 0, "kind") as? String == "CronJob"
            }
            guard jobs.count == 1, let jobName = dig(jobs[0], "metadata", "name") as? String else { return false }
            let minutes = Int(jobName.dropFirst("tick-".count)) ?? 0
            let stamp =
                dig(jobs[0], "metadata", "annotations", "batch.kubernetes.io/cronjob-scheduled-timestamp") as? String
            let cj = try c.json(["-n", ns, "get", "cronjob", "tick"])
            return abs(minutes * 60 - Int(Date().timeIntervalSince1970)) < 120 && stamp != nil
                && (dig(cj, "status", "active") as? [Any])?.count == 1 && dig(cj, "status", "lastScheduleTime") != nil
        }
    }
}

extension ControllerTests {
    @Test("a Service's Endpoints and EndpointSlices follow its pods' IPs and readiness")
    func serviceEndpoints() throws {
        let ns = try c.namespace("ep")
        try c.kubectl(["-n", ns, "create", "deployment", "web", "--image=busybox", "--replicas=2", "--port=8080"])
        try c.kubectl(["-n", ns, "expose", "deployment", "web", "--port=80", "--target-port=8080"])
        try eventually("2 pods") { try items(["-n", ns, "get", "pods"]).count == 2 }
        for (i, p) in try items(["-n", ns, "get", "pods"]).enumerated() {
            let ready = i == 0 ? "True" : "False"
            try c.kubectl([
                "-n", ns, "patch", "pod", dig(p, "metadata", "name") as! String, "--subresource=status", "--type=merge",
                "-p",
                #"{"status":{"phase":"Running","podIP":"10.42.9.\#(i + 1)","podIPs":[{"ip":"10.42.9.\#(i + 1)"}],"conditions":[{"type":"Ready","status":"\#(ready)"}]}}"#,
            ])
        }
        try eventually("endpoints with one ready and one unready address") {
            let e = try c.json(["-n", ns, "get", "endpoints", "web"])
            let addrs = (dig(e, "subsets", 0, "addresses") as? [[String: Any]])?.compactMap { $0["ip"] as? String }
            let notReady = (dig(e, "subsets", 0, "notReadyAddresses") as? [[String: Any]])?.compactMap {
                $0["ip"] as? String
            }
            return addrs == ["10.42.9.1"] && notReady == ["10.42.9.2"]
                && dig(e, "subsets", 0, "ports", 0, "port") as? Int == 8080
        }
        try eventually("one slice with both endpoints and their conditions") {
            let slices = try items(["-n", ns, "get", "endpointslices", "-l", "kubernetes.io/service-name=web"])
            guard slices.count == 1, let eps = dig(slices[0], "endpoints") as? [[String: Any]], eps.count == 2 else {
                return false
            }
            let ready = eps.map { dig($0, "conditions", "ready") as? Bool ?? false }
            return ready == [true, false] && dig(slices[0], "ports", 0, "port") as? Int == 8080
        }
        try c.kubectl(["-n", ns, "scale", "deployment", "web", "--replicas=0"])
        try eventually("no endpoints once the pods are gone") {
            let e = try c.json(["-n", ns, "get", "endpoints", "web"])
            let slices = try items(["-n", ns, "get", "endpointslices", "-l", "kubernetes.io/service-name=web"])
            return dig(e, "subsets") == nil && slices.count == 1
                && (dig(slices[0], "endpoints") as? [Any] ?? []).isEmpty
        }
    }
}

extension ControllerTests {
    @Test("a ReplicationController keeps its pods at its size, through kubectl scale")
    func replicationController() throws {
        let ns = try c.namespace("rc")
        let rc = """
            {"apiVersion":"v1","kind":"ReplicationController","metadata":{"name":"rc","namespace":"\(ns)"},
             "spec":{"replicas":3,"selector":{"app":"rc"},"template":{"metadata":{"labels":{"app":"rc"}},
             "spec":{"containers":[{"name":"c","image":"busybox"}]}}}}
            """
        try c.kubectl(["create", "-f", "-"], stdin: rc)
        try eventually("3 pods owned by the replication controller") {
            let pods = try items(["-n", ns, "get", "pods"])
            return pods.count == 3
                && pods.allSatisfy {
                    dig($0, "metadata", "ownerReferences", 0, "kind") as? String == "ReplicationController"
                }
        }
        try c.kubectl(["-n", ns, "scale", "rc", "rc", "--replicas=1"])
        try eventually("1 pod and the status saying so") {
            let r = try c.json(["-n", ns, "get", "rc", "rc"])
            return try items(["-n", ns, "get", "pods"]).count == 1 && dig(r, "status", "replicas") as? Int == 1
        }
    }
}

extension ControllerTests {
    @Test("a DaemonSet runs one pod on each eligible Node and follows label and taint changes")
    func daemonSet() throws {
        let ns = try c.namespace("ds")
        let tag = String(ns.suffix(8))
        for (i, taint) in [(1, ""), (2, #"[{"key":"dedicated","value":"x","effect":"NoSchedule"}]"#), (3, "")] {
            let node = """
                {"apiVersion":"v1","kind":"Node","metadata":{"name":"ds-\(tag)-\(i)","labels":{"pool":"\(tag)"}},
                 "spec":{"taints":\(taint.isEmpty ? "[]" : taint)}}
                """
            try c.kubectl(["create", "-f", "-"], stdin: node)
        }
        let ds = """
            {"apiVersion":"apps/v1","kind":"DaemonSet","metadata":{"name":"agent","namespace":"\(ns)"},
             "spec":{"selector":{"matchLabels":{"app":"agent"}},"template":{"metadata":{"labels":{"app":"agent"}},
             "spec":{"nodeSelector":{"pool":"\(tag)"},"containers":[{"name":"c","image":"busybox"}]}}}}
            """
        try c.kubectl(["create", "-f", "-"], stdin: ds)
        func pinned() throws -> [String] {
            try items(["-n", ns, "get", "pods"]).compactMap {
                dig(
                    $0, "spec", "affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution",
                    "nodeSelectorTerms", 0, "matchFields", 0, "values", 0) as? String
            }.sorted()
        }
        try eventually("pods on the two untainted nodes") { try pinned() == ["ds-\(tag)-1", "ds-\(tag)-3"] }
        try eventually("status counts") {
            let d = try c.json(["-n", ns, "get", "daemonset", "agent"])
            return dig(d, "status", "desiredNumberScheduled") as? Int == 2
                && dig(d, "status", "currentNumberScheduled") as? Int == 2
        }
        try c.kubectl(["taint", "node", "ds-\(tag)-2", "dedicated-"])
        try c.kubectl(["label", "node", "ds-\(tag)-3", "pool=other", "--overwrite"])
        try eventually("pods follow: on 1 and 2, off 3") { try pinned() == ["ds-\(tag)-1", "ds-\(tag)-2"] }
        for i in 1...3 { try c.kubectl(["delete", "node", "ds-\(tag)-\(i)"]) }
    }
}

extension ControllerTests {
    @Test(
        "a StatefulSet with volumeClaimTemplates starts its pods in order with their claims, and scales down from the top"
    )
    func statefulSet() throws {
        let ns = try c.namespace("sts")
        let sts = """
            {"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{"name":"db","namespace":"\(ns)"},
             "spec":{"serviceName":"db","replicas":3,"selector":{"matchLabels":{"app":"db"}},
             "template":{"metadata":{"labels":{"app":"db"}},"spec":{"containers":[{"name":"c","image":"busybox"}]}},
             "volumeClaimTemplates":[{"metadata":{"name":"data"},"spec":{"accessModes":["ReadWriteOnce"],
             "resources":{"requests":{"storage":"1Gi"}}}}]}}
            """
        try c.kubectl(["create", "-f", "-"], stdin: sts)
        try eventually("db-0 alone while it is not ready") { try items(["-n", ns, "get", "pods"]).count == 1 }
        Thread.sleep(forTimeInterval: 0.5)
        #expect(try items(["-n", ns, "get", "pods"]).map { dig($0, "metadata", "name") as? String } == ["db-0"])
        try eventually("three pods, each started once the one before is ready") {
            try runPods(ns)
            return try items(["-n", ns, "get", "pods"]).count == 3
        }
        let claims = try items(["-n", ns, "get", "pvc"]).compactMap { dig($0, "metadata", "name") as? String }.sorted()
        #expect(claims == ["data-db-0", "data-db-1", "data-db-2"])
        try runPods(ns)
        try c.kubectl(["-n", ns, "rollout", "status", "statefulset/db", "--timeout=30s"])
        try c.kubectl(["-n", ns, "scale", "statefulset", "db", "--replicas=1"])
        try eventually("only db-0 left") {
            try items(["-n", ns, "get", "pods"]).compactMap { dig($0, "metadata", "name") as? String } == ["db-0"]
        }
        #expect(try items(["-n", ns, "get", "pvc"]).count == 3, "claims are retained by default")
    }
}

extension ControllerTests {
    @Test("eviction honours a PodDisruptionBudget: 429 with the budget's cause, 201 and the pod deleted when it allows")
    func eviction() throws {
        let ns = try c.namespace("evict")
        try c.kubectl(["-n", ns, "create", "deployment", "app", "--image=busybox", "--replicas=2"])
        try eventually("2 pods") { try items(["-n", ns, "get", "pods"]).count == 2 }
        try runPods(ns)
        try c.kubectl(["-n", ns, "create", "pdb", "app", "--selector=app=app", "--min-available=2"])
        try eventually("the budget counts 2 healthy pods and allows no disruption") {
            let b = try c.json(["-n", ns, "get", "pdb", "app"])
            return dig(b, "status", "currentHealthy") as? Int == 2
                && dig(b, "status", "disruptionsAllowed") as? Int == 0
                && dig(b, "status", "observedGeneration") as? Int == dig(b, "metadata", "generation") as? Int
        }
        let pods = try items(["-n", ns, "get", "pods"]).compactMap { dig($0, "metadata", "name") as? String }.sorted()
        func evict(_ pod: String, as name: String? = nil) throws -> TestCluster.Result {
            let file = c.dataDir + "/eviction-\(UUID().uuidString).json"
            let body =
                #"{"apiVersion":"policy/v1","kind":"Eviction","metadata":{"name":"\#(name ?? pod)","namespace":"\#(ns)"}}"#
            try body.write(toFile: file, atomically: true, encoding: .utf8)
            return try c.kubectl(
                ["create", "--raw", "/api/v1/namespaces/\(ns)/pods/\(pod)/eviction", "-f", file], check: false)
        }
        let refused = try evict(pods[0])
        #expect(refused.status != 0)
        #expect(
            refused.err.contains("(TooManyRequests)")
                && refused.err.contains("Cannot evict pod as it would violate the pod's disruption budget."),
            "\(refused.err)")
        #expect(try items(["-n", ns, "get", "pods"]).allSatisfy { dig($0, "metadata", "deletionTimestamp") == nil })
        let mismatch = try evict(pods[0], as: "other")
        #expect(mismatch.err.contains("name in URL does not match name in Eviction object"), "\(mismatch.err)")

        try c.kubectl(["-n", ns, "patch", "pdb", "app", "--type=merge", "-p", #"{"spec":{"minAvailable":1}}"#])
        try eventually("the budget allows one disruption") {
            dig(try c.json(["-n", ns, "get", "pdb", "app"]), "status", "disruptionsAllowed") as? Int == 1
        }
        let allowed = try evict(pods[0])
        #expect(allowed.status == 0, "\(allowed.err)")
        #expect(allowed.out.contains("\"status\":\"Success\""), "\(allowed.out)")
        try eventually("the evicted pod is going") {
            let out = try c.kubectl(["-n", ns, "get", "pod", pods[0], "--ignore-not-found", "-o", "json"]).out
            guard !out.isEmpty else { return true }
            let p = try JSONSerialization.jsonObject(with: Data(out.utf8))
            return dig(p, "metadata", "deletionTimestamp") != nil
        }
        // The budget was charged at once: the other pod may not go too.
        let second = try evict(pods[1])
        #expect(second.err.contains("(TooManyRequests)"), "\(second.err)")
        try c.kubectl(["delete", "namespace", ns, "--wait=false"])
    }
}

/// The controller manager as its own process, against an API server alone, with short node timeouts.
@Suite("node lifecycle end to end", .serialized)
struct NodeLifecycleE2ETests {
    @Test(
        "a silent node goes Unknown and unreachable-tainted; pods are evicted when their toleration runs out, default tolerations last 300 s"
    )
    func silentNode() throws {
        let c = try APIOnlyCluster.get()
        let metricsPort = TestCluster.freePort()
        let kcm = try c.launch([
            "kube-controller-manager", "--kubeconfig", c.kubeconfig, "--secure-port", String(metricsPort),
            "--bind-address", "127.0.0.1", "--leader-elect=false",
            "--node-monitor-grace-period", "2s", "--node-monitor-period", "500ms",
            "--controllers", "node-lifecycle-controller,taint-eviction-controller",
        ])
        defer { kill(kcm.processIdentifier, SIGKILL) }
        let ns = try c.namespace("nl")
        let name = "silent-\(ns.suffix(8))"
        try c.kubectl(
            ["create", "-f", "-"], stdin: #"{"apiVersion":"v1","kind":"Node","metadata":{"name":"\#(name)"}}"#)
        for (pod, toleration) in [
            (
                "evicted",
                #","tolerations":[{"key":"node.kubernetes.io/unreachable","operator":"Exists","effect":"NoExecute","tolerationSeconds":1}]"#
            ),
            ("defaulted", ""),
            (
                "tolerant",
                #","tolerations":[{"key":"node.kubernetes.io/unreachable","operator":"Exists","effect":"NoExecute"}]"#
            ),
        ] {
            try c.kubectl(
                ["create", "-f", "-"],
                stdin: """
                    {"apiVersion":"v1","kind":"Pod","metadata":{"name":"\(pod)","namespace":"\(ns)"},
                     "spec":{"nodeName":"\(name)","containers":[{"name":"c","image":"x"}]\(toleration)}}
                    """)
        }
        let deadline = Date().addingTimeInterval(30)
        var done = false
        while Date() < deadline && !done {
            let n = try c.json(["get", "node", name])
            let taints = (dig(n, "spec", "taints") as? [[String: Any]] ?? []).map { "\($0["key"]!):\($0["effect"]!)" }
            let evicted = try c.json(["-n", ns, "get", "pod", "evicted"])
            done =
                dig(n, "status", "conditions", 0, "status") as? String == "Unknown"
                && taints.contains("node.kubernetes.io/unreachable:NoExecute")
                && dig(evicted, "metadata", "deletionTimestamp") != nil
            if !done { Thread.sleep(forTimeInterval: 0.2) }
        }
        #expect(done)
        let tolerant = try c.json(["-n", ns, "get", "pod", "tolerant"])
        #expect(dig(tolerant, "metadata", "deletionTimestamp") == nil)
        // DefaultTolerationSeconds: a pod that tolerates neither taint gets five minutes of each,
        // and is not evicted yet; the tolerant pod got only the one it lacked.
        let defaulted = try c.json(["-n", ns, "get", "pod", "defaulted"])
        let added = (dig(defaulted, "spec", "tolerations") as? [[String: Any]] ?? []).map {
            "\($0["key"] as? String ?? ""):\($0["operator"] as? String ?? ""):\($0["effect"] as? String ?? ""):\($0["tolerationSeconds"] as? Int ?? -1)"
        }
        #expect(
            added == [
                "node.kubernetes.io/not-ready:Exists:NoExecute:300",
                "node.kubernetes.io/unreachable:Exists:NoExecute:300",
            ])
        #expect(dig(defaulted, "metadata", "deletionTimestamp") == nil)
        #expect((dig(tolerant, "spec", "tolerations") as? [[String: Any]] ?? []).count == 2)
        // Prometheus metrics as client-go reports them: work queues by name, REST requests by code.
        let metrics = try c.run("/usr/bin/curl", ["-sk", "https://127.0.0.1:\(metricsPort)/metrics"]).out
        #expect(metrics.contains(#"workqueue_adds_total{name="node_lifecycle_controller"}"#), "\(metrics.prefix(2000))")
        #expect(
            metrics.contains(#"workqueue_work_duration_seconds_bucket{name="node_lifecycle_controller",le="+Inf"}"#))
        #expect(metrics.contains("# TYPE rest_client_requests_total counter"))
        #expect(
            metrics.contains(#"code="200""#) && metrics.contains(#"method="GET""#)
                && metrics.contains(#"method="DELETE""#))
        #expect(metrics.contains(#"rest_client_request_duration_seconds_bucket{host="#))
        try c.kubectl(["delete", "node", name])
    }
}

/// Two controller managers on one API server: exactly one leads; when it is killed, the other takes
/// over within the lease duration, and nothing is created twice.
@Suite("controller manager leader election", .serialized)
struct LeaderElectionTests {
    @Test("one of two controller managers acts; kill -9 the leader and the other takes over")
    func failover() throws {
        let c = try TestCluster(extraArgs: ["--disable", "controller-manager"])
        func start(_ name: String) throws -> Process {
            try c.launch([
                "kube-controller-manager", "--kubeconfig", c.kubeconfig, "--secure-port", "0",
                "--leader-elect-lease-duration", "4s", "--leader-elect-renew-deadline", "3s",
                "--leader-elect-retry-period", "500ms",
            ])
        }
        // No controller manager yet: a deployment stays without pods.
        try c.kubectl(["create", "deployment", "web", "--image=busybox", "--replicas=3"])
        Thread.sleep(forTimeInterval: 1)
        #expect(try c.kubectl(["get", "rs", "-o", "name"]).out.isEmpty)
        func holder() throws -> String {
            let lease = try c.json(["-n", "kube-system", "get", "lease", "kube-controller-manager"])
            return dig(lease, "spec", "holderIdentity") as? String ?? ""
        }
        func transitions() throws -> Int {
            let lease = try c.json(["-n", "kube-system", "get", "lease", "kube-controller-manager"])
            return dig(lease, "spec", "leaseTransitions") as? Int ?? 0
        }
        func podCount() throws -> Int {
            (dig(try c.json(["get", "pods"]), "items") as? [Any])?.count ?? 0
        }
        func wait(_ seconds: Double, _ f: () throws -> Bool) -> Bool {
            let deadline = Date().addingTimeInterval(seconds)
            while Date() < deadline {
                if (try? f()) == true { return true }
                Thread.sleep(forTimeInterval: 0.1)
            }
            return false
        }
        // The first one leads (it starts alone); the second then waits as a candidate.
        let a = try start("a")
        defer { if a.isRunning { kill(a.processIdentifier, SIGKILL) } }
        #expect(wait(30) { try podCount() == 3 })
        let first = try holder()
        #expect(!first.isEmpty)
        let b = try start("b")
        defer { if b.isRunning { kill(b.processIdentifier, SIGKILL) } }
        Thread.sleep(forTimeInterval: 2)
        #expect(try holder() == first, "the candidate does not take a renewed lease")
        let before = try transitions()
        kill(a.processIdentifier, SIGKILL)
        a.waitUntilExit()
        let killed = Date()
        #expect(
            wait(15) {
                let h = try holder(); return !h.isEmpty && h != first
            }, "the candidate took the lease")
        // Within the lease duration (4 s) plus a retry period or two.
        #expect(Date().timeIntervalSince(killed) < 4 + 3)
        #expect(try transitions() == before + 1)
        // The new leader acts, and nothing was created twice.
        try c.kubectl(["scale", "deployment", "web", "--replicas=5"])
        #expect(wait(30) { try podCount() == 5 })
        Thread.sleep(forTimeInterval: 1)
        #expect(try podCount() == 5)
        #expect(try c.kubectl(["get", "rs", "-o", "name"]).out.split(separator: "\n").count == 1)
    }
}
