import Foundation
import Testing

/// Quotas, autoscaling and volume binding end to end, with real kubectl. Expected messages are
/// upstream's (ResourceQuota admission, horizontal-pod-autoscaler and persistentvolume-controller
/// events and conditions as documented and as kubectl shows them on upstream clusters).
extension ControllerTests {
    func events(_ ns: String, for name: String) throws -> [(reason: String, note: String)] {
        try items(["-n", ns, "get", "events.v1.events.k8s.io"]).compactMap { e in
            guard dig(e, "regarding", "name") as? String == name else { return nil }
            return (dig(e, "reason") as? String ?? "", dig(e, "note") as? String ?? "")
        }
    }

    @Test("a quota forbids pods past its limit: the ReplicaSet reports FailedCreate, recovers when room frees up")
    func quotaForbidsPods() throws {
        let ns = try c.namespace("quota")
        try c.kubectl(["-n", ns, "create", "quota", "pods", "--hard=pods=2,count/configmaps=2"])
        try eventually("the quota's status computed (kube-root-ca.crt counts)") {
            let q = try c.json(["-n", ns, "get", "quota", "pods"])
            return dig(q, "status", "hard", "pods") as? String == "2"
                && dig(q, "status", "used", "pods") as? String == "0"
                && dig(q, "status", "used", "count/configmaps") as? String == "1"
        }
        try c.kubectl(["-n", ns, "create", "deployment", "web", "--image=busybox", "--replicas=3"])
        try eventually("2 pods and the ReplicaSet's ReplicaFailure condition") {
            guard try items(["-n", ns, "get", "pods"]).count == 2, let rs = try items(["-n", ns, "get", "rs"]).first
            else { return false }
            let conds = dig(rs, "status", "conditions") as? [[String: Any]] ?? []
            return conds.contains {
                $0["type"] as? String == "ReplicaFailure" && $0["status"] as? String == "True"
                    && $0["reason"] as? String == "FailedCreate"
                    && ($0["message"] as? String ?? "").contains(
                        "is forbidden: exceeded quota: pods, requested: pods=1, used: pods=2, limited: pods=2")
            }
        }
        let rsName = dig(try items(["-n", ns, "get", "rs"])[0], "metadata", "name") as! String
        #expect(
            try events(ns, for: rsName).contains {
                $0.reason == "FailedCreate" && $0.note.hasPrefix("Error creating: pods \"\(rsName)-")
                    && $0.note.contains("exceeded quota: pods")
            })
        try eventually("the deployment reports the failure too") {
            let d = try c.json(["-n", ns, "get", "deployment", "web"])
            return (dig(d, "status", "conditions") as? [[String: Any]] ?? []).contains {
                $0["type"] as? String == "ReplicaFailure" && $0["status"] as? String == "True"
            }
        }
        // An object count: one more ConfigMap fits, the next is refused with upstream's message.
        try c.kubectl(["-n", ns, "create", "configmap", "a"])
        let refused = try c.kubectl(["-n", ns, "create", "configmap", "b"], check: false)
        #expect(refused.status != 0)
        #expect(
            refused.err.contains(
                "configmaps \"b\" is forbidden: exceeded quota: pods, requested: count/configmaps=1, used: count/configmaps=2, limited: count/configmaps=2"
            ), "\(refused.err)")
        // Deleting a ConfigMap frees its slot once the controller recounts.
        try c.kubectl(["-n", ns, "delete", "configmap", "a"])
        try eventually("count/configmaps back to 1") {
            dig(try c.json(["-n", ns, "get", "quota", "pods"]), "status", "used", "count/configmaps") as? String == "1"
        }
        // Scaling down frees room; the failure condition goes once the ReplicaSet is satisfied.
        try c.kubectl(["-n", ns, "scale", "deployment", "web", "--replicas=1"])
        try eventually("one pod, quota usage 1, no ReplicaFailure") {
            let pods = try items(["-n", ns, "get", "pods"]).filter { dig($0, "metadata", "deletionTimestamp") == nil }
            let q = try c.json(["-n", ns, "get", "quota", "pods"])
            let rs = try c.json(["-n", ns, "get", "rs", rsName])
            let conds = dig(rs, "status", "conditions") as? [[String: Any]] ?? []
            return pods.count == 1 && dig(q, "status", "used", "pods") as? String == "1"
                && !conds.contains { $0["type"] as? String == "ReplicaFailure" }
        }
        // A quota on cpu requires every container to say how much it asks for.
        try c.kubectl(["-n", ns, "create", "quota", "compute", "--hard=requests.cpu=1"])
        try eventually("the compute quota's status") {
            dig(try c.json(["-n", ns, "get", "quota", "compute"]), "status", "used", "requests.cpu") as? String == "0"
        }
        let bare = try c.kubectl(["-n", ns, "run", "bare", "--image=busybox"], check: false)
        #expect(
            bare.err.contains("pods \"bare\" is forbidden: failed quota: compute: must specify requests.cpu for: bare"),
            "\(bare.err)")
        let big = try c.kubectl(
            [
                "-n", ns, "run", "big", "--image=busybox",
                #"--overrides={"spec":{"containers":[{"name":"big","image":"busybox","resources":{"requests":{"cpu":"2"}}}]}}"#,
            ], check: false)
        #expect(
            big.err.contains(
                "pods \"big\" is forbidden: exceeded quota: compute, requested: requests.cpu=2, used: requests.cpu=0, limited: requests.cpu=1"
            ), "\(big.err)")
        try c.kubectl([
            "-n", ns, "run", "small", "--image=busybox",
            #"--overrides={"spec":{"containers":[{"name":"small","image":"busybox","resources":{"requests":{"cpu":"250m"}}}]}}"#,
        ])
        try eventually("requests.cpu charged") {
            dig(try c.json(["-n", ns, "get", "quota", "compute"]), "status", "used", "requests.cpu") as? String
                == "250m"
        }
    }

    @Test("an autoscaler keeps its target within min/max and says why it cannot use metrics when none are served")
    func autoscaler() throws {
        let ns = try c.namespace("hpa")
        try c.kubectl(["-n", ns, "create", "deployment", "web", "--image=busybox", "--replicas=1"])
        try c.kubectl(["-n", ns, "autoscale", "deployment", "web", "--min=2", "--max=4", "--cpu-percent=50"])
        try eventually("the deployment scaled to the minimum") {
            let d = try c.json(["-n", ns, "get", "deployment", "web"])
            let h = try c.json(["-n", ns, "get", "hpa", "web"])
            let able = (dig(h, "status", "conditions") as? [[String: Any]] ?? []).first {
                $0["type"] as? String == "AbleToScale"
            }
            return dig(d, "spec", "replicas") as? Int == 2 && able?["reason"] as? String == "SucceededRescale"
                && able?["message"] as? String == "the HPA controller was able to update the target scale to 2"
                && dig(h, "status", "desiredReplicas") as? Int == 2 && dig(h, "status", "lastScaleTime") != nil
        }
        #expect(
            try events(ns, for: "web").contains {
                $0.reason == "SuccessfulRescale"
                    && $0.note == "New size: 2; reason: Current number of replicas below Spec.MinReplicas"
            })
        try eventually("two pods") { try items(["-n", ns, "get", "pods"]).count == 2 }
        // Within range, the autoscaler needs metrics; there is no metrics API here.
        try c.kubectl(["-n", ns, "patch", "hpa", "web", "--type=merge", "-p", #"{"spec":{"maxReplicas":5}}"#])
        try eventually("ScalingActive False for want of the metrics API", timeout: 40) {
            let h = try c.json(["-n", ns, "get", "hpa", "web"])
            let active = (dig(h, "status", "conditions") as? [[String: Any]] ?? []).first {
                $0["type"] as? String == "ScalingActive"
            }
            return active?["status"] as? String == "False" && active?["reason"] as? String == "FailedGetResourceMetric"
                && active?["message"] as? String
                    == "the HPA was unable to compute the replica count: failed to get cpu utilization: unable to get metrics for resource cpu: unable to fetch metrics from resource metrics API: the server could not find the requested resource (get pods.metrics.k8s.io)"
                && dig(h, "status", "currentReplicas") as? Int == 2
        }
        #expect(
            try events(ns, for: "web").contains {
                $0.reason == "FailedComputeMetricsReplicas" && $0.note.hasPrefix("invalid metrics (1 invalid out of 1)")
            })
        // kubectl shows the metric as unknown, as on upstream without metrics-server.
        let table = try c.kubectl(["-n", ns, "get", "hpa", "web"]).out
        #expect(table.contains("<unknown>/50%"), "\(table)")
        // A target that does not exist.
        try c.kubectl(
            ["create", "-f", "-"],
            stdin: """
                {"apiVersion":"autoscaling/v2","kind":"HorizontalPodAutoscaler","metadata":{"name":"nope","namespace":"\(ns)"},
                 "spec":{"scaleTargetRef":{"apiVersion":"apps/v1","kind":"Deployment","name":"nope"},"maxReplicas":3}}
                """)
        try eventually("AbleToScale False: FailedGetScale") {
            let h = try c.json(["-n", ns, "get", "hpa", "nope"])
            let able = (dig(h, "status", "conditions") as? [[String: Any]] ?? []).first {
                $0["type"] as? String == "AbleToScale"
            }
            return able?["status"] as? String == "False" && able?["reason"] as? String == "FailedGetScale"
                && able?["message"] as? String
                    == "the HPA controller was unable to get the target's current scale: deployments.apps \"nope\" not found"
        }
    }

    @Test(
        "claims bind to the smallest fitting volume, wait for a consumer or a provisioner, and released volumes follow their reclaim policy"
    )
    func volumeBinding() throws {
        let ns = try c.namespace("pv")
        let suffix = String(ns.suffix(8))
        func pv(_ name: String, size: String, policy: String = "Retain", cls: String = "manual") -> String {
            """
            {"apiVersion":"v1","kind":"PersistentVolume","metadata":{"name":"\(name)-\(suffix)"},
             "spec":{"capacity":{"storage":"\(size)"},"accessModes":["ReadWriteOnce"],"storageClassName":"\(cls)",
             "persistentVolumeReclaimPolicy":"\(policy)","hostPath":{"path":"/tmp/\(name)"}}}
            """
        }
        func pvc(_ name: String, size: String, cls: String?) -> String {
            let c = cls.map { #","storageClassName":"\#($0)""# } ?? ""
            return """
                {"apiVersion":"v1","kind":"PersistentVolumeClaim","metadata":{"name":"\(name)","namespace":"\(ns)"},
                 "spec":{"accessModes":["ReadWriteOnce"],"resources":{"requests":{"storage":"\(size)"}}\(c)}}
                """
        }
        try c.kubectl(["create", "-f", "-"], stdin: pv("small", size: "1Gi", cls: "manual-\(suffix)"))
        try c.kubectl(["create", "-f", "-"], stdin: pv("big", size: "5Gi", cls: "manual-\(suffix)"))
        try c.kubectl(
            ["create", "-f", "-"], stdin: pv("huge", size: "50Gi", policy: "Delete", cls: "manual-\(suffix)"))
        try c.kubectl(["create", "-f", "-"], stdin: pvc("data", size: "2Gi", cls: "manual-\(suffix)"))
        try eventually("data bound to the 5Gi volume") {
            let claim = try c.json(["-n", ns, "get", "pvc", "data"])
            let vol = try c.json(["get", "pv", "big-\(suffix)"])
            return dig(claim, "status", "phase") as? String == "Bound"
                && dig(claim, "spec", "volumeName") as? String == "big-\(suffix)"
                && dig(claim, "status", "capacity", "storage") as? String == "5Gi"
                && dig(claim, "metadata", "annotations", "pv.kubernetes.io/bind-completed") as? String == "yes"
                && dig(vol, "status", "phase") as? String == "Bound"
                && dig(vol, "spec", "claimRef", "name") as? String == "data"
                && dig(vol, "spec", "claimRef", "uid") as? String == dig(claim, "metadata", "uid") as? String
        }
        #expect(dig(try c.json(["get", "pv", "small-\(suffix)"]), "status", "phase") as? String == "Available")
        // No class and no volume: pending, with upstream's event.
        try c.kubectl(["create", "-f", "-"], stdin: pvc("nothing", size: "1Gi", cls: ""))
        try eventually("FailedBinding event") {
            try events(ns, for: "nothing").contains {
                $0.reason == "FailedBinding"
                    && $0.note == "no persistent volumes available for this claim and no storage class is set"
            }
        }
        // A class that waits for the first consumer, and one with an external provisioner.
        try c.kubectl(
            ["create", "-f", "-"],
            stdin: """
                {"apiVersion":"storage.k8s.io/v1","kind":"StorageClass","metadata":{"name":"local-\(suffix)"},
                 "provisioner":"kubernetes.io/no-provisioner","volumeBindingMode":"WaitForFirstConsumer"}
                """)
        try c.kubectl(
            ["create", "-f", "-"],
            stdin: """
                {"apiVersion":"storage.k8s.io/v1","kind":"StorageClass","metadata":{"name":"csi-\(suffix)"},
                 "provisioner":"csi.example.com"}
                """)
        try c.kubectl(["create", "-f", "-"], stdin: pvc("later", size: "1Gi", cls: "local-\(suffix)"))
        try c.kubectl(["create", "-f", "-"], stdin: pvc("dynamic", size: "1Gi", cls: "csi-\(suffix)"))
        try eventually("WaitForFirstConsumer and ExternalProvisioning") {
            let waiting = try events(ns, for: "later").contains {
                $0.reason == "WaitForFirstConsumer"
                    && $0.note == "waiting for first consumer to be created before binding"
            }
            let provisioning = try events(ns, for: "dynamic").contains {
                $0.reason == "ExternalProvisioning"
                    && $0.note.hasPrefix(
                        "Waiting for a volume to be created either by the external provisioner 'csi.example.com'")
            }
            let claim = try c.json(["-n", ns, "get", "pvc", "dynamic"])
            return waiting && provisioning
                && dig(claim, "metadata", "annotations", "volume.kubernetes.io/storage-provisioner") as? String
                    == "csi.example.com"
        }
        #expect(dig(try c.json(["-n", ns, "get", "pvc", "later"]), "status", "phase") as? String == "Pending")
        // Released volumes: Retain keeps the volume Released; Delete with no deleter fails with upstream's event.
        try c.kubectl(["create", "-f", "-"], stdin: pvc("huge", size: "40Gi", cls: "manual-\(suffix)"))
        try eventually("huge bound") {
            dig(try c.json(["-n", ns, "get", "pvc", "huge"]), "status", "phase") as? String == "Bound"
        }
        try c.kubectl(["-n", ns, "delete", "pvc", "data", "huge", "--wait=true"])
        try eventually("big Released, huge Failed") {
            let big = try c.json(["get", "pv", "big-\(suffix)"])
            let huge = try c.json(["get", "pv", "huge-\(suffix)"])
            return dig(big, "status", "phase") as? String == "Released"
                && dig(huge, "status", "phase") as? String == "Failed"
        }
        let failed = try items(["get", "events.v1.events.k8s.io", "-A"]).contains {
            dig($0, "regarding", "name") as? String == "huge-\(suffix)"
                && dig($0, "reason") as? String == "VolumeFailedDelete"
        }
        #expect(failed)
        for name in ["small", "big", "huge"] { try c.kubectl(["delete", "pv", "\(name)-\(suffix)", "--wait=false"]) }
    }

    /// Plays the kubelet: a pod ends with `phase`, its container `main` terminated with `exit`.
    func finish(_ ns: String, _ pod: String, phase: String, exit: Int) throws {
        let now = ISO8601DateFormatter().string(from: Date())
        try c.kubectl([
            "-n", ns, "patch", "pod", pod, "--subresource=status", "--type=merge", "-p",
            #"{"status":{"phase":"\#(phase)","containerStatuses":[{"name":"main","image":"busybox","imageID":"","ready":false,"restartCount":0,"state":{"terminated":{"exitCode":\#(exit),"startedAt":"\#(now)","finishedAt":"\#(now)"}}}]}}"#,
        ])
    }

    func jobPods(_ ns: String, _ job: String) throws -> [String: String] {
        var out: [String: String] = [:]
        for p in try items(["-n", ns, "get", "pods", "-l", "job-name=\(job)"])
        where dig(p, "status", "phase") as? String == "Pending" && dig(p, "metadata", "deletionTimestamp") == nil {
            let index = dig(p, "metadata", "annotations", "batch.kubernetes.io/job-completion-index") as? String ?? ""
            out[index] = dig(p, "metadata", "name") as? String
        }
        return out
    }

    func jobCondition(_ ns: String, _ job: String, _ type: String) throws -> [String: Any]? {
        let j = try c.json(["-n", ns, "get", "job", job])
        return (dig(j, "status", "conditions") as? [[String: Any]] ?? []).first {
            $0["type"] as? String == type && $0["status"] as? String == "True"
        }
    }

    @Test("podFailurePolicy, backoffLimitPerIndex and successPolicy decide a job's outcome as upstream's do")
    func jobPolicies() throws {
        let ns = try c.namespace("jobpol")
        func job(_ name: String, _ spec: String) throws {
            try c.kubectl(
                ["create", "-f", "-"],
                stdin: """
                    {"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"\(name)","namespace":"\(ns)"},
                     "spec":{\(spec),"template":{"spec":{"restartPolicy":"Never",
                       "containers":[{"name":"main","image":"busybox"}]}}}}
                    """)
        }
        // Exit code 42 fails the whole job at once.
        try job(
            "fatal",
            #""backoffLimit":6,"podFailurePolicy":{"rules":[{"action":"FailJob","onExitCodes":{"operator":"In","values":[42]}}]}"#
        )
        try eventually("a pod") { try jobPods(ns, "fatal").count == 1 }
        let fatalPod = try jobPods(ns, "fatal").values.first!
        try finish(ns, fatalPod, phase: "Failed", exit: 42)
        try eventually("Failed with reason PodFailurePolicy") {
            let f = try jobCondition(ns, "fatal", "Failed")
            return f?["reason"] as? String == "PodFailurePolicy"
                && f?["message"] as? String
                    == "Container main for pod \(ns)/\(fatalPod) failed with exit code 42 matching FailJob rule at index 0"
        }
        // Per-index limits: index 1 fails once and is given up; the others succeed; the job fails.
        try job("perindex", #""completions":3,"parallelism":3,"completionMode":"Indexed","backoffLimitPerIndex":0"#)
        try eventually("three indexed pods") { try jobPods(ns, "perindex").count == 3 }
        let indexed = try jobPods(ns, "perindex")
        try finish(ns, indexed["1"]!, phase: "Failed", exit: 1)
        try eventually("index 1 failed, not retried") {
            let j = try c.json(["-n", ns, "get", "job", "perindex"])
            let left = try jobPods(ns, "perindex").count
            return dig(j, "status", "failedIndexes") as? String == "1" && left == 2
        }
        try finish(ns, indexed["0"]!, phase: "Succeeded", exit: 0)
        try finish(ns, indexed["2"]!, phase: "Succeeded", exit: 0)
        try eventually("Failed: FailedIndexes") {
            let j = try c.json(["-n", ns, "get", "job", "perindex"])
            let failed = try jobCondition(ns, "perindex", "Failed")
            return failed?["reason"] as? String == "FailedIndexes"
                && dig(j, "status", "completedIndexes") as? String == "0,2"
        }
        // Success policy: index 0 alone is enough; the rest are terminated.
        try job(
            "leader",
            #""completions":3,"parallelism":3,"completionMode":"Indexed","successPolicy":{"rules":[{"succeededIndexes":"0"}]}"#
        )
        try eventually("three leader pods") { try jobPods(ns, "leader").count == 3 }
        try finish(ns, try jobPods(ns, "leader")["0"]!, phase: "Succeeded", exit: 0)
        try eventually("SuccessCriteriaMet, the others deleted") {
            let met = try jobCondition(ns, "leader", "SuccessCriteriaMet")
            let left = try jobPods(ns, "leader")
            return met?["reason"] as? String == "SuccessPolicy" && left.isEmpty
        }
    }

    @Test("a DaemonSet surges new pods beside old ones, and keeps revisionHistoryLimit ControllerRevisions")
    func daemonSetSurge() throws {
        let ns = try c.namespace("surge")
        let tag = String(ns.suffix(8))
        for i in 1...2 {
            try c.kubectl(
                ["create", "-f", "-"],
                stdin:
                    #"{"apiVersion":"v1","kind":"Node","metadata":{"name":"surge-\#(tag)-\#(i)","labels":{"pool":"\#(tag)"}}}"#
            )
        }
        try c.kubectl(
            ["create", "-f", "-"],
            stdin: """
                {"apiVersion":"apps/v1","kind":"DaemonSet","metadata":{"name":"agent","namespace":"\(ns)"},
                 "spec":{"revisionHistoryLimit":1,"selector":{"matchLabels":{"app":"agent"}},
                 "updateStrategy":{"type":"RollingUpdate","rollingUpdate":{"maxUnavailable":0,"maxSurge":1}},
                 "template":{"metadata":{"labels":{"app":"agent"}},
                 "spec":{"nodeSelector":{"pool":"\(tag)"},"containers":[{"name":"c","image":"busybox:1"}]}}}}
                """)
        func images() throws -> [String] {
            try items(["-n", ns, "get", "pods"]).filter { dig($0, "metadata", "deletionTimestamp") == nil }.compactMap {
                dig($0, "spec", "containers", 0, "image") as? String
            }.sorted()
        }
        try eventually("two pods") { try images() == ["busybox:1", "busybox:1"] }
        try runPods(ns)
        try c.kubectl(["-n", ns, "set", "image", "daemonset/agent", "c=busybox:2"])
        try eventually("one surge pod beside the two old ones") {
            try images() == ["busybox:1", "busybox:1", "busybox:2"]
        }
        Thread.sleep(forTimeInterval: 0.5)
        #expect(try images() == ["busybox:1", "busybox:1", "busybox:2"], "the surge budget is one")
        try eventually("all replaced as the new pods become ready") {
            try runPods(ns)
            return try images() == ["busybox:2", "busybox:2"]
        }
        try c.kubectl(["-n", ns, "set", "image", "daemonset/agent", "c=busybox:3"])
        try eventually("rolled to 3") {
            try runPods(ns)
            return try images() == ["busybox:3", "busybox:3"]
        }
        try eventually("history pruned to the limit plus the live revision") {
            try items(["-n", ns, "get", "controllerrevisions"]).count == 2
        }
        for i in 1...2 { try c.kubectl(["delete", "node", "surge-\(tag)-\(i)"]) }
    }

    @Test("Endpoints of a Service without a selector are mirrored into EndpointSlices")
    func endpointSliceMirroring() throws {
        let ns = try c.namespace("mirror")
        try c.kubectl(
            ["create", "-f", "-"],
            stdin: """
                {"apiVersion":"v1","kind":"Service","metadata":{"name":"ext","namespace":"\(ns)"},
                 "spec":{"ports":[{"name":"http","port":80}]}}
                """)
        try c.kubectl(
            ["create", "-f", "-"],
            stdin: """
                {"apiVersion":"v1","kind":"Endpoints","metadata":{"name":"ext","namespace":"\(ns)"},
                 "subsets":[{"addresses":[{"ip":"192.0.2.10"}],"ports":[{"name":"http","port":8080}]}]}
                """)
        func mirrored() throws -> [[String: Any]] {
            try items([
                "-n", ns, "get", "endpointslices",
                "-l", "endpointslice.kubernetes.io/managed-by=endpointslicemirroring-controller.k8s.io",
            ])
        }
        try eventually("a mirrored slice") {
            let s = try mirrored()
            return s.count == 1 && dig(s[0], "endpoints", 0, "addresses", 0) as? String == "192.0.2.10"
                && dig(s[0], "ports", 0, "port") as? Int == 8080
                && dig(s[0], "metadata", "labels", "kubernetes.io/service-name") as? String == "ext"
        }
        try c.kubectl([
            "-n", ns, "patch", "endpoints", "ext", "--type=merge", "-p",
            #"{"subsets":[{"addresses":[{"ip":"192.0.2.11"}],"ports":[{"name":"http","port":8080}]}]}"#,
        ])
        try eventually("the slice follows") {
            let s = try mirrored()
            return s.count == 1 && dig(s[0], "endpoints", 0, "addresses", 0) as? String == "192.0.2.11"
        }
        try c.kubectl(["-n", ns, "delete", "endpoints", "ext"])
        try eventually("mirrored slices removed with the Endpoints") { try mirrored().isEmpty }
    }

    @Test("an approved CertificateSigningRequest is signed by the cluster CA; one a signer refuses gets Failed")
    func certificateSigning() throws {
        let dir = c.dataDir + "/csr-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let user = "alice-\(UUID().uuidString.prefix(6).lowercased())"
        func request(_ name: String, subject: String, signer: String, usages: [String]) throws {
            _ = try c.run(
                "/usr/bin/openssl",
                ["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "\(dir)/\(name).key"])
            _ = try c.run(
                "/usr/bin/openssl",
                ["req", "-new", "-key", "\(dir)/\(name).key", "-subj", subject, "-out", "\(dir)/\(name).csr"])
            let pem = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/\(name).csr")).base64EncodedString()
            let usageList = usages.map { "\"\($0)\"" }.joined(separator: ",")
            try c.kubectl(
                ["create", "-f", "-"],
                stdin: """
                    {"apiVersion":"certificates.k8s.io/v1","kind":"CertificateSigningRequest","metadata":{"name":"\(name)"},
                     "spec":{"request":"\(pem)","signerName":"\(signer)","usages":[\(usageList)]}}
                    """)
        }
        try request(
            user, subject: "/O=devs/CN=\(user)", signer: "kubernetes.io/kube-apiserver-client", usages: ["client auth"])
        try c.kubectl(["certificate", "approve", user])
        var issued = ""
        try eventually("a certificate") {
            let csr = try c.json(["get", "csr", user])
            issued = dig(csr, "status", "certificate") as? String ?? ""
            return !issued.isEmpty
        }
        try Data(base64Encoded: issued)!.write(to: URL(fileURLWithPath: "\(dir)/\(user).crt"))
        // The CA is the one in the kubeconfig.
        let kubeconfig = try String(contentsOfFile: c.kubeconfig, encoding: .utf8)
        let caLine = kubeconfig.split(separator: "\n").first { $0.contains("certificate-authority-data:") }!
        let ca = String(caLine.split(separator: ":", maxSplits: 1)[1]).trimmingCharacters(in: .whitespaces)
        try Data(base64Encoded: ca)!.write(to: URL(fileURLWithPath: "\(dir)/ca.crt"))
        let verified = try c.run("/usr/bin/openssl", ["verify", "-CAfile", "\(dir)/ca.crt", "\(dir)/\(user).crt"])
        #expect(verified.out.hasSuffix(": OK"))
        let text = try c.run(
            "/usr/bin/openssl", ["x509", "-in", "\(dir)/\(user).crt", "-noout", "-subject", "-ext", "extendedKeyUsage"]
        ).out
        #expect(
            text.contains("CN = \(user)") && text.contains("O = devs")
                && text.contains("TLS Web Client Authentication"), "\(text)")
        // The certificate authenticates to the API server as its subject (who, without RBAC yet, may
        // not read /api: only system:masters is authorized until the security issue).
        let asUser = try c.run(
            "/usr/bin/curl",
            [
                "-s", "--cacert", "\(dir)/ca.crt", "--cert", "\(dir)/\(user).crt",
                "--key", "\(dir)/\(user).key", "https://127.0.0.1:\(c.port)/api",
            ])
        #expect(asUser.out.contains(#"User \"\#(user)\" cannot get path \"/api\""#), "\(asUser.out) \(asUser.err)")
        // A kubelet serving request from outside system:nodes is refused by its signer.
        let bad = "bad-\(user)"
        try request(
            bad, subject: "/O=devs/CN=system:node:x", signer: "kubernetes.io/kubelet-serving",
            usages: ["digital signature", "server auth"])
        try c.kubectl(["certificate", "approve", bad])
        try eventually("Failed: SignerValidationFailure") {
            let csr = try c.json(["get", "csr", bad])
            return (dig(csr, "status", "conditions") as? [[String: Any]] ?? []).contains {
                $0["type"] as? String == "Failed" && $0["reason"] as? String == "SignerValidationFailure"
                    && $0["message"] as? String == "subject organization is not system:nodes"
            } && dig(csr, "status", "certificate") == nil
        }
        try c.kubectl(["delete", "csr", user, bad])
    }

    @Test("a pod naming a ResourceClaimTemplate gets its own ResourceClaim, which goes when the pod is done")
    func resourceClaims() throws {
        let ns = try c.namespace("dra")
        try c.kubectl(
            ["create", "-f", "-"],
            stdin: """
                {"apiVersion":"resource.k8s.io/v1","kind":"ResourceClaimTemplate","metadata":{"name":"gpu","namespace":"\(ns)"},
                 "spec":{"spec":{"devices":{"requests":[{"name":"g","exactly":{"deviceClassName":"gpu.example.com"}}]}}}}
                """)
        try c.kubectl(
            ["create", "-f", "-"],
            stdin: """
                {"apiVersion":"v1","kind":"Pod","metadata":{"name":"trainer","namespace":"\(ns)"},
                 "spec":{"resourceClaims":[{"name":"accel","resourceClaimTemplateName":"gpu"}],
                 "containers":[{"name":"c","image":"busybox","resources":{"claims":[{"name":"accel"}]}}]}}
                """)
        var claimName = ""
        try eventually("a claim for the pod, recorded in its status") {
            let pod = try c.json(["-n", ns, "get", "pod", "trainer"])
            claimName = dig(pod, "status", "resourceClaimStatuses", 0, "resourceClaimName") as? String ?? ""
            guard !claimName.isEmpty else { return false }
            let claim = try c.json(["-n", ns, "get", "resourceclaim", claimName])
            return dig(claim, "metadata", "annotations", "resource.kubernetes.io/pod-claim-name") as? String == "accel"
                && dig(claim, "metadata", "ownerReferences", 0, "name") as? String == "trainer"
                && dig(claim, "spec", "devices", "requests", 0, "exactly", "deviceClassName") as? String
                    == "gpu.example.com"
        }
        #expect(claimName.hasPrefix("trainer-accel-"))
        try c.kubectl([
            "-n", ns, "patch", "pod", "trainer", "--subresource=status", "--type=merge", "-p",
            #"{"status":{"phase":"Succeeded"}}"#,
        ])
        try eventually("the claim deleted") {
            try c.kubectl(["-n", ns, "get", "resourceclaim", claimName], check: false).status != 0
        }
    }

    @Test("k8swift server gives each Node a pod CIDR from 10.42.0.0/16, as k3s does")
    func nodePodCIDRs() throws {
        let tag = String(UUID().uuidString.prefix(8).lowercased())
        for i in 1...2 {
            try c.kubectl(
                ["create", "-f", "-"],
                stdin: #"{"apiVersion":"v1","kind":"Node","metadata":{"name":"ipam-\#(tag)-\#(i)"}}"#)
        }
        var cidrs: [String] = []
        try eventually("pod CIDRs on both nodes") {
            cidrs = try (1...2).compactMap {
                dig(try c.json(["get", "node", "ipam-\(tag)-\($0)"]), "spec", "podCIDR") as? String
            }
            return cidrs.count == 2
        }
        #expect(Set(cidrs).count == 2)
        #expect(cidrs.allSatisfy { $0.hasPrefix("10.42.") && $0.hasSuffix(".0/24") }, "\(cidrs)")
        let n = try c.json(["get", "node", "ipam-\(tag)-1"])
        #expect((dig(n, "spec", "podCIDRs") as? [String]) == [cidrs[0]])
        for i in 1...2 { try c.kubectl(["delete", "node", "ipam-\(tag)-\(i)"]) }
    }
}
