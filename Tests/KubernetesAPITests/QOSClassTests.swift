import APIMachinery
import KubernetesAPI
import Testing

/// The pod QoS class as https://kubernetes.io/docs/concepts/workloads/pods/pod-qos/ defines it (upstream's
/// `ComputePodQOS`): one rule for the API server's `status.qosClass`, quota's BestEffort scope and the kubelet.
@Suite("pod QoS class")
struct QOSClassTests {
    typealias R = [String: Quantity]

    static func container(_ name: String, requests: R = [:], limits: R = [:]) -> CoreV1.Container {
        var c = CoreV1.Container()
        c.name = name
        c.resources = CoreV1.ResourceRequirements(limits: limits, requests: requests)
        return c
    }

    static func spec(
        _ containers: [CoreV1.Container], initContainers: [CoreV1.Container] = [],
        podLevel: CoreV1.ResourceRequirements? = nil
    ) -> CoreV1.PodSpec {
        var s = CoreV1.PodSpec()
        s.containers = containers
        s.initContainers = initContainers
        s.resources = podLevel
        return s
    }

    static let both: R = ["cpu": Quantity("500m"), "memory": Quantity("128Mi")]

    struct Case: CustomTestStringConvertible, Sendable {
        var rule: String
        var spec: CoreV1.PodSpec
        var want: String
        var testDescription: String { rule }
    }

    static let cases: [Case] = [
        Case(
            rule: "no container requests or limits cpu or memory: BestEffort", spec: spec([container("a")]),
            want: "BestEffort"),
        Case(
            rule: "only other resources (ephemeral-storage) set: still BestEffort",
            spec: spec([container("a", requests: ["ephemeral-storage": Quantity("1Gi")])]), want: "BestEffort"),
        Case(
            rule: "zero quantities do not count: BestEffort",
            spec: spec([container("a", requests: ["cpu": Quantity("0")], limits: ["memory": Quantity("0")])]),
            want: "BestEffort"),
        Case(
            rule: "every container's cpu and memory limits equal their requests: Guaranteed",
            spec: spec([container("a", requests: both, limits: both), container("b", requests: both, limits: both)]),
            want: "Guaranteed"),
        Case(
            rule:
                "limits without requests are Burstable until defaulting copies them into requests (the rule compares both lists)",
            spec: spec([container("a", limits: both)]), want: "Burstable"),
        Case(
            rule: "a request below its limit: Burstable",
            spec: spec([container("a", requests: ["cpu": Quantity("100m"), "memory": Quantity("128Mi")], limits: both)]
            ),
            want: "Burstable"),
        Case(
            rule: "one container without limits beside a Guaranteed one: Burstable",
            spec: spec([container("a", requests: both, limits: both), container("b")]), want: "Burstable"),
        Case(
            rule: "memory limit only: Burstable",
            spec: spec([container("a", limits: ["memory": Quantity("128Mi")])]), want: "Burstable"),
        Case(
            rule: "init containers count too: an init container without limits makes the pod Burstable",
            spec: spec(
                [container("a", requests: both, limits: both)],
                initContainers: [container("init", requests: ["cpu": Quantity("1")])]),
            want: "Burstable"),
        Case(
            rule: "pod-level resources decide alone when set: cpu and memory limits equal to requests is Guaranteed",
            spec: spec([container("a")], podLevel: CoreV1.ResourceRequirements(limits: both, requests: both)),
            want: "Guaranteed"),
        Case(
            rule: "pod-level requests without limits: Burstable, whatever the containers say",
            spec: spec([container("a", limits: both)], podLevel: CoreV1.ResourceRequirements(requests: both)),
            want: "Burstable"),
    ]

    @Test("computedQOSClass follows the documented rule", arguments: cases)
    func computed(_ c: Case) {
        #expect(c.spec.computedQOSClass == c.want)
        #expect(c.spec.isBestEffort == (c.want == "BestEffort"))
    }
}
