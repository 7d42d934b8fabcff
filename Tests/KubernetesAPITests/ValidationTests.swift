import Foundation
import KubernetesAPI
import Testing

/// Validation: field paths and messages checked against upstream's recorded 422 responses and
/// upstream's documented rules.
@Suite("Validation")
struct ValidationTests {
    /// The causes (field, message) of a recorded 422 response.
    static func causes(_ name: String) throws -> [(field: String, message: String)] {
        let data = try Data(contentsOf: DefaultingTests.responses.appendingPathComponent(name + ".json"))
        let obj = try JSONValue.parse([UInt8](data))
        let body = try JSONValue.parse(Array((obj["response"]?["body"]?.stringValue ?? "").utf8))
        guard case .array(let cs)? = body["details"]?["causes"] else { return [] }
        return cs.map { ($0["field"]?.stringValue ?? "", $0["message"]?.stringValue ?? "") }
    }

    @Test("an invalid ConfigMap name gets upstream's exact field and message")
    func configMapName() throws {
        let (req, _) = try DefaultingTests.exchange("create-configmap-invalid-name")
        var cm = try JSONReader.decode(CoreV1.ConfigMap.self, from: req)
        cm.metadata.namespace = "golden"
        let errs = cm.validate()
        let expected = try Self.causes("create-configmap-invalid-name")
        #expect(errs.map { $0.field.description } == expected.map(\.field))
        #expect(errs.map(\.body) == expected.map(\.message))
    }

    @Test("a Deployment whose selector misses its template labels gets upstream's error")
    func deploymentSelector() throws {
        let (req, _) = try DefaultingTests.exchange("create-deployment-selector-mismatch")
        var d = try JSONReader.decode(AppsV1.Deployment.self, from: req)
        d.metadata.namespace = "golden"
        d.applyDefaults()
        let errs = d.validate()
        let expected = try Self.causes("create-deployment-selector-mismatch")
        #expect(errs.map { $0.field.description } == expected.map(\.field))
        #expect(errs.map(\.body) == expected.map(\.message))
    }

    @Test(
        "DNS-1123 subdomain names",
        arguments: [
            ("a", true), ("a.b-c", true), ("0abc", true), ("-a", false), ("a_", false), ("A", false),
            (String(repeating: "a", count: 253), true), (String(repeating: "a", count: 254), false), ("", false),
        ])
    func subdomain(name: String, ok: Bool) {
        #expect(NameValidation.isDNS1123Subdomain(name).isEmpty == ok)
    }

    @Test(
        "label keys and values",
        arguments: [
            ("app", "web", true), ("example.com/app", "v1.2_x", true), ("a/b/c", "x", false),
            ("app", "-bad", false), ("app", "", true), ("Bad Key", "x", false),
            ("app", String(repeating: "v", count: 64), false),
        ])
    func labels(key: String, value: String, ok: Bool) {
        #expect(MetaValidation.validateLabels([key: value], FieldPath("metadata", "labels")).isEmpty == ok)
    }

    @Test("a missing name and namespace are reported as upstream does")
    func requiredMeta() {
        let errs = CoreV1.ConfigMap().validate()
        #expect(
            errs.map(\.description) == [
                "metadata.name: Required value: name or generateName is required", "metadata.namespace: Required value",
            ])
    }

    @Test("cluster-scoped kinds forbid a namespace")
    func clusterScoped() {
        let ns = CoreV1.Namespace(metadata: MetaV1.ObjectMeta(name: "a", namespace: "b"))
        #expect(ns.validate().map(\.description) == ["metadata.namespace: Forbidden: not allowed on this type"])
    }

    @Test("pod spec: required containers, unsupported restart policy, duplicate and unknown names")
    func podSpec() {
        var p = CoreV1.Pod(metadata: MetaV1.ObjectMeta(name: "p", namespace: "d"))
        p.applyDefaults()
        #expect(p.validate().map(\.description) == ["spec.containers: Required value"])
        p.spec.containers = [
            CoreV1.Container(name: "c", image: "x"),
            CoreV1.Container(name: "c", image: "y", volumeMounts: [CoreV1.VolumeMount(name: "v", mountPath: "/v")]),
        ]
        p.spec.restartPolicy = "Sometimes"
        p.applyDefaults()
        let msgs = p.validate().map(\.description)
        #expect(msgs.contains("spec.containers[1].name: Duplicate value: \"c\""))
        #expect(msgs.contains("spec.containers[1].volumeMounts[0].name: Not found: \"v\""))
        #expect(
            msgs.contains(
                "spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\""
            ))
    }

    @Test("updates: immutable selectors, names and pod specs")
    func updates() {
        var d = AppsV1.Deployment(metadata: MetaV1.ObjectMeta(name: "d", namespace: "n"))
        d.spec.selector = MetaV1.LabelSelector(matchLabels: ["a": "1"])
        d.spec.template.metadata.labels = ["a": "1"]
        d.spec.template.spec.containers = [CoreV1.Container(name: "c", image: "i")]
        d.applyDefaults()
        #expect(d.validate().isEmpty)
        var d2 = d
        d2.spec.selector = MetaV1.LabelSelector(matchLabels: ["a": "2"])
        d2.spec.template.metadata.labels = ["a": "2"]
        #expect(
            d2.validateUpdate(from: d).map(\.description) == [
                "spec.selector: Invalid value: {\"matchLabels\":{\"a\":\"2\"}}: field is immutable"
            ])

        var pod = CoreV1.Pod(metadata: MetaV1.ObjectMeta(name: "p", namespace: "n"))
        pod.spec.containers = [CoreV1.Container(name: "c", image: "i")]
        pod.applyDefaults()
        var pod2 = pod
        pod2.spec.containers[0].image = "j"
        #expect(pod2.validateUpdate(from: pod).isEmpty)
        pod2.spec.restartPolicy = "Never"
        #expect(pod2.validateUpdate(from: pod).first?.field.description == "spec")
    }

    @Test(
        "cron schedules",
        arguments: [
            ("*/5 * * * *", true), ("0 0 1 1 *", true), ("@hourly", true), ("61 * * * *", false), ("* * *", false),
            ("0 0 * JAN MON", true),
        ])
    func cron(schedule: String, ok: Bool) {
        #expect((CronSchedule.validate(schedule) == nil) == ok)
    }
}
