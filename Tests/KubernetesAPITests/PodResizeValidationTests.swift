import Foundation
import KubernetesAPI
import Testing

/// `pods/resize` validation (upstream's ValidatePodResize): a resize may change cpu and memory
/// requests and limits, not the QoS class, not remove a request or limit, not touch other
/// resources, non-sidecar init containers, static or Windows pods; containers keep their names and
/// places. Messages and paths are upstream's.
@Suite("PodResizeValidation")
struct PodResizeValidationTests {
    /// A Burstable pod: one container with cpu and memory requests below their limits, a sidecar
    /// and a plain init container.
    static func stored() -> CoreV1.Pod {
        var pod = CoreV1.Pod(metadata: MetaV1.ObjectMeta(name: "rz", namespace: "default", resourceVersion: "5"))
        var c = CoreV1.Container(name: "c", image: "busybox")
        c.resources = CoreV1.ResourceRequirements(
            limits: ["cpu": "300m", "memory": "128Mi"], requests: ["cpu": "100m", "memory": "64Mi"])
        var side = CoreV1.Container(name: "side", image: "busybox")
        side.restartPolicy = "Always"
        side.resources = CoreV1.ResourceRequirements(requests: ["cpu": "50m"])
        var initC = CoreV1.Container(name: "init", image: "busybox")
        initC.resources = CoreV1.ResourceRequirements(requests: ["cpu": "10m"])
        pod.spec.containers = [c]
        pod.spec.initContainers = [initC, side]
        pod.spec.setDefaults()
        for i in pod.spec.containers.indices { pod.spec.containers[i].setDefaults() }
        for i in pod.spec.initContainers.indices { pod.spec.initContainers[i].setDefaults() }
        pod.status.qosClass = "Burstable"
        return pod
    }

    static let cases: [InvalidCase<CoreV1.Pod>] = [
        InvalidCase("cpu and memory changed within the class", []) {
            $0.spec.containers[0].resources.requests["cpu"] = "200m"
            $0.spec.containers[0].resources.limits["memory"] = "256Mi"
        },
        InvalidCase("a memory limit decrease", []) { $0.spec.containers[0].resources.limits["memory"] = "96Mi" },
        InvalidCase("a sidecar's cpu request", []) { $0.spec.initContainers[1].resources.requests["cpu"] = "80m" },
        InvalidCase(
            "Burstable made Guaranteed",
            [
                "spec: Invalid value: \"Burstable\": Pod QOS Class may not change as a result of resizing",
                "spec: Forbidden: resources for non-sidecar init containers are immutable",
            ]
        ) {
            $0.spec.containers[0].resources.requests = ["cpu": "300m", "memory": "128Mi"]
            $0.spec.initContainers[0].resources = CoreV1.ResourceRequirements(
                limits: ["cpu": "10m", "memory": "1Mi"], requests: ["cpu": "10m", "memory": "1Mi"])
            $0.spec.initContainers[1].resources = CoreV1.ResourceRequirements(
                limits: ["cpu": "50m", "memory": "1Mi"], requests: ["cpu": "50m", "memory": "1Mi"])
        },
        InvalidCase(
            "a removed memory request",
            ["spec.containers[0].resources.requests: Forbidden: resource requests cannot be removed"]
        ) { $0.spec.containers[0].resources.requests["memory"] = nil },
        InvalidCase(
            "a removed cpu limit", ["spec.containers[0].resources.limits: Forbidden: resource limits cannot be removed"]
        ) { $0.spec.containers[0].resources.limits["cpu"] = nil },
        InvalidCase("an ephemeral-storage limit", ["spec: Forbidden: only cpu and memory resources are mutable"]) {
            $0.spec.containers[0].resources.limits["ephemeral-storage"] = "1Gi"
        },
        InvalidCase(
            "a plain init container's request",
            ["spec: Forbidden: resources for non-sidecar init containers are immutable"]
        ) { $0.spec.initContainers[0].resources.requests["cpu"] = "20m" },
        InvalidCase(
            "a request above its limit",
            [
                "spec.containers[0].resources.requests[cpu]: Invalid value: \"500m\": must be less than or equal to cpu limit of 300m"
            ]
        ) { $0.spec.containers[0].resources.requests["cpu"] = "500m" },
        InvalidCase(
            "a renamed container",
            ["spec.containers[0].name: Forbidden: containers may not be renamed or reordered on resize"]
        ) { $0.spec.containers[0].name = "d" },
        InvalidCase("a static pod", [": Forbidden: static pods cannot be resized"]) {
            $0.metadata.annotations["kubernetes.io/config.mirror"] = "abc"
            $0.spec.nodeName = "n1"
        },
        InvalidCase(
            "a running container whose node reports no resources",
            ["spec: Forbidden: Pod running on node without support for resize"]
        ) {
            var st = CoreV1.ContainerStatus(name: "c", image: "busybox")
            st.state.running = CoreV1.ContainerStateRunning()
            $0.status.containerStatuses = [st]
            $0.spec.containers[0].resources.requests["cpu"] = "200m"
        },
    ]

    @Test("a resize is checked as upstream checks it", arguments: cases)
    func resize(_ c: InvalidCase<CoreV1.Pod>) {
        var old = Self.stored()
        var new = old
        c.mutate(&new)
        // What is the stored pod's (annotations, status) is on both sides, as the subresource keeps it.
        old.metadata.annotations = new.metadata.annotations
        old.spec.nodeName = new.spec.nodeName
        old.status = new.status
        new.status.qosClass = old.status.qosClass
        #expect(new.validateResize(from: old).map(\.description) == c.expected)
    }

    @Test("QoS classes as upstream computes them from cpu and memory")
    func qos() {
        var p = CoreV1.PodSpec()
        p.containers = [CoreV1.Container(name: "a", image: "x")]
        #expect(p.computedQOSClass == "BestEffort")
        p.containers[0].resources = CoreV1.ResourceRequirements(requests: ["ephemeral-storage": "1Gi"])
        #expect(p.computedQOSClass == "BestEffort")
        p.containers[0].resources = CoreV1.ResourceRequirements(
            limits: ["cpu": "1", "memory": "1Gi"], requests: ["cpu": "1000m", "memory": "1Gi"])
        #expect(p.computedQOSClass == "Guaranteed")
        p.containers.append(CoreV1.Container(name: "b", image: "x"))
        #expect(p.computedQOSClass == "Burstable")
    }

    @Test("the main pod endpoint still refuses a resources change")
    func mainEndpoint() {
        let old = Self.stored()
        var new = old
        new.spec.containers[0].resources.requests["cpu"] = "200m"
        #expect(
            new.validateUpdate(from: old).map(\.description).contains {
                $0.hasPrefix("spec: Forbidden: pod updates may not change fields other than")
            })
    }
}
