import Foundation
import KubernetesAPI
import Testing

/// Defaulting checked against upstream's recorded create responses (testdata/upstream/responses)
/// and upstream's documented defaults.
@Suite("Defaulting")
struct DefaultingTests {
    static let responses = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("testdata/upstream/responses")

    /// (request body, response body) of a recorded exchange.
    static func exchange(_ name: String) throws -> (request: [UInt8], response: [UInt8]) {
        let data = try Data(contentsOf: responses.appendingPathComponent(name + ".json"))
        let obj = try JSONValue.parse([UInt8](data))
        let req = obj["request"]?["body"]?.stringValue ?? ""
        let resp = obj["response"]?["body"]?.stringValue ?? ""
        return (Array(req.utf8), Array(resp.utf8))
    }

    static func json<T: JSONEncodableValue>(_ v: T) throws -> JSONValue {
        var w = JSONWriter()
        v.encodeJSON(&w)
        return try JSONValue.parse(w.bytes)
    }

    @Test("a Deployment gets exactly upstream's defaults in its spec")
    func deployment() throws {
        let (req, resp) = try Self.exchange("create-deployment-defaults")
        var d = try JSONReader.decode(AppsV1.Deployment.self, from: req)
        d.applyDefaults()
        let expected = try JSONReader.decode(AppsV1.Deployment.self, from: resp)
        #expect(try Self.json(d.spec) == Self.json(expected.spec))
    }

    @Test("a Service gets upstream's defaulted ports, type, affinity and traffic policy")
    func service() throws {
        let (req, resp) = try Self.exchange("create-service-defaults")
        var s = try JSONReader.decode(CoreV1.Service.self, from: req)
        s.applyDefaults()
        let expected = try JSONReader.decode(CoreV1.Service.self, from: resp)
        #expect(s.spec.ports == expected.spec.ports)
        #expect(s.spec.type == expected.spec.type)
        #expect(s.spec.sessionAffinity == expected.spec.sessionAffinity)
        #expect(s.spec.internalTrafficPolicy == expected.spec.internalTrafficPolicy)
        #expect(s.spec.sessionAffinityConfig == nil)
    }

    @Test("a Pod's container and pod-spec defaults match upstream's (admission-added fields aside)")
    func pod() throws {
        let (req, resp) = try Self.exchange("create-pod-defaults")
        var p = try JSONReader.decode(CoreV1.Pod.self, from: req)
        p.applyDefaults()
        let expected = try JSONReader.decode(CoreV1.Pod.self, from: resp)
        var c = p.spec.containers[0]
        var e = expected.spec.containers[0]
        c.volumeMounts = []
        e.volumeMounts = []  // added by the service account admission plugin
        #expect(c == e)
        #expect(p.spec.restartPolicy == expected.spec.restartPolicy)
        #expect(p.spec.terminationGracePeriodSeconds == expected.spec.terminationGracePeriodSeconds)
        #expect(p.spec.dnsPolicy == expected.spec.dnsPolicy)
        #expect(p.spec.securityContext == expected.spec.securityContext)
        #expect(p.spec.schedulerName == expected.spec.schedulerName)
        #expect(p.spec.enableServiceLinks == expected.spec.enableServiceLinks)
    }

    @Test(
        "image pull policy follows the image tag",
        arguments: [
            ("busybox", "Always"), ("busybox:latest", "Always"), ("nginx:1.25", "IfNotPresent"),
            ("registry:5000/app", "Always"), ("registry:5000/app:v2", "IfNotPresent"),
            ("app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "IfNotPresent"),
        ])
    func imagePullPolicy(image: String, policy: String) {
        var c = CoreV1.Container(name: "c", image: image)
        c.applyDefaults()
        #expect(c.imagePullPolicy == policy)
    }

    @Test("resource limits become requests, rounded up to milli precision")
    func requestsFromLimits() throws {
        var p = CoreV1.Pod()
        p.spec.containers = [
            CoreV1.Container(
                name: "c", image: "x",
                resources: CoreV1.ResourceRequirements(
                    limits: ["cpu": "0.0001", "memory": "1Gi"], requests: ["memory": "512Mi"]))
        ]
        p.applyDefaults()
        let r = p.spec.containers[0].resources
        #expect(r.limits["cpu"]?.string == "1m")
        #expect(r.requests["cpu"]?.string == "1m")
        #expect(r.requests["memory"]?.string == "512Mi")
    }

    @Test("a volume without a source becomes an emptyDir; file modes default to 0644")
    func volumes() {
        var spec = CoreV1.PodSpec()
        spec.volumes = [
            CoreV1.Volume(name: "a"),
            CoreV1.Volume(
                name: "b", volumeSource: CoreV1.VolumeSource(secret: CoreV1.SecretVolumeSource(secretName: "s"))),
        ]
        spec.applyDefaults()
        #expect(spec.volumes[0].volumeSource.emptyDir != nil)
        #expect(spec.volumes[1].volumeSource.emptyDir == nil)
        #expect(spec.volumes[1].volumeSource.secret?.defaultMode == 420)
    }

    @Test("StatefulSet, DaemonSet, Job and CronJob defaults are upstream's")
    func workloads() {
        var ss = AppsV1.StatefulSet()
        ss.applyDefaults()
        #expect(ss.spec.replicas == 1)
        #expect(ss.spec.podManagementPolicy == "OrderedReady")
        #expect(ss.spec.updateStrategy.type == "RollingUpdate")
        #expect(ss.spec.updateStrategy.rollingUpdate?.partition == 0)
        #expect(ss.spec.persistentVolumeClaimRetentionPolicy?.whenDeleted == "Retain")
        #expect(ss.spec.revisionHistoryLimit == 10)

        var ds = AppsV1.DaemonSet()
        ds.applyDefaults()
        #expect(ds.spec.updateStrategy.rollingUpdate?.maxUnavailable == .int(1))
        #expect(ds.spec.updateStrategy.rollingUpdate?.maxSurge == .int(0))

        var job = BatchV1.Job()
        job.applyDefaults()
        #expect(job.spec.completions == 1 && job.spec.parallelism == 1)
        #expect(job.spec.backoffLimit == 6)
        #expect(job.spec.completionMode == "NonIndexed")
        #expect(job.spec.manualSelector == false)
        #expect(job.spec.template.spec.restartPolicy == "Always")

        var cj = BatchV1.CronJob()
        cj.applyDefaults()
        #expect(cj.spec.concurrencyPolicy == "Allow")
        #expect(cj.spec.successfulJobsHistoryLimit == 3 && cj.spec.failedJobsHistoryLimit == 1)
    }

    @Test("RBAC bindings and NetworkPolicy get their API group and policy types")
    func rbacAndNetworkPolicy() {
        var rb = RBACV1.RoleBinding(
            subjects: [RBACV1.Subject(kind: "User", name: "u"), RBACV1.Subject(kind: "ServiceAccount", name: "sa")],
            roleRef: RBACV1.RoleRef(kind: "Role", name: "r"))
        rb.applyDefaults()
        #expect(rb.roleRef.apiGroup == "rbac.authorization.k8s.io")
        #expect(rb.subjects[0].apiGroup == "rbac.authorization.k8s.io")
        #expect(rb.subjects[1].apiGroup == "")

        var np = NetworkingV1.NetworkPolicy()
        np.spec.egress = [NetworkingV1.NetworkPolicyEgressRule(ports: [NetworkingV1.NetworkPolicyPort()])]
        np.applyDefaults()
        #expect(np.spec.policyTypes == ["Ingress", "Egress"])
        #expect(np.spec.egress[0].ports[0].protocol == "TCP")
    }

    @Test("a Namespace carries its name label; PV and PVC phases default to Pending")
    func namespaceAndVolumes() {
        var ns = CoreV1.Namespace(metadata: MetaV1.ObjectMeta(name: "team-a"))
        ns.applyDefaults()
        #expect(ns.metadata.labels["kubernetes.io/metadata.name"] == "team-a")
        #expect(ns.status.phase == "Active")
        var pv = CoreV1.PersistentVolume()
        pv.applyDefaults()
        #expect(pv.status.phase == "Pending" && pv.spec.persistentVolumeReclaimPolicy == "Retain")
        #expect(pv.spec.volumeMode == "Filesystem")
    }
}
