import APICore
import APIMachinery
import Foundation

@testable import Scheduler

/// Builders for the objects scheduler tests place: nodes with capacity, labels and taints, and pods
/// with requests, labels and scheduling constraints.
enum Fixture {
    static func node(
        _ name: String, cpu: String = "4", memory: String = "32Gi", pods: String = "110",
        labels: [String: String] = [:], taints: [CoreV1.Taint] = [], unschedulable: Bool = false,
        extra: [String: String] = [:]
    ) -> CoreV1.Node {
        var n = CoreV1.Node()
        n.metadata.name = name
        n.metadata.uid = "node-\(name)"
        n.metadata.labels = labels.merging(["kubernetes.io/hostname": name]) { a, _ in a }
        n.spec.taints = taints
        n.spec.unschedulable = unschedulable
        var alloc: [String: Quantity] = [
            "cpu": Quantity(stringLiteral: cpu), "memory": Quantity(stringLiteral: memory),
            "pods": Quantity(stringLiteral: pods),
        ]
        for (k, v) in extra { alloc[k] = Quantity(stringLiteral: v) }
        n.status.capacity = alloc
        n.status.allocatable = alloc
        n.status.conditions = [CoreV1.NodeCondition(type: "Ready", status: "True")]
        return n
    }

    static func pod(
        _ name: String, namespace: String = "default", cpu: String? = nil, memory: String? = nil,
        labels: [String: String] = [:], nodeName: String = "", priority: Int32? = nil,
        configure: (inout CoreV1.Pod) -> Void = { _ in }
    ) -> CoreV1.Pod {
        var p = CoreV1.Pod()
        p.metadata.name = name
        p.metadata.namespace = namespace
        p.metadata.uid = "uid-\(namespace)-\(name)"
        p.metadata.labels = labels
        var c = CoreV1.Container()
        c.name = "c"
        c.image = "registry.k8s.io/pause:3.10"
        if let cpu { c.resources.requests["cpu"] = Quantity(stringLiteral: cpu) }
        if let memory { c.resources.requests["memory"] = Quantity(stringLiteral: memory) }
        p.spec.containers = [c]
        p.spec.nodeName = nodeName
        p.spec.schedulerName = "default-scheduler"
        p.spec.priority = priority
        configure(&p)
        return p
    }

    /// A NodeInfo of a node and the pods on it.
    static func nodeInfo(_ node: CoreV1.Node, _ pods: [CoreV1.Pod] = []) -> NodeInfo {
        NodeInfo(
            node: node,
            pods: pods.map {
                var p = $0; p.spec.nodeName = node.metadata.name; return PodInfo(p)
            })
    }

    static func taint(_ key: String, _ value: String = "", _ effect: String = "NoSchedule") -> CoreV1.Taint {
        CoreV1.Taint(key: key, value: value, effect: effect)
    }
}

/// Builders for the core plugins' tests: tolerations, node selector requirements, containers with
/// arbitrary requests, host ports and node images.
extension Fixture {
    static func toleration(
        _ key: String, _ op: String = "Equal", _ value: String = "", effect: String = ""
    ) -> CoreV1.Toleration {
        CoreV1.Toleration(key: key, operator: op, value: value, effect: effect)
    }

    static func requirement(_ key: String, _ op: String, _ values: [String] = []) -> CoreV1.NodeSelectorRequirement {
        CoreV1.NodeSelectorRequirement(key: key, operator: op, values: values)
    }

    /// A container requesting the given amounts (resource name → quantity); `sidecar` makes it a
    /// restartable init container (`restartPolicy: Always`).
    static func container(
        _ name: String, _ requests: [String: String] = [:], image: String = "registry.k8s.io/pause:3.10",
        sidecar: Bool = false, ports: [CoreV1.ContainerPort] = []
    ) -> CoreV1.Container {
        var c = CoreV1.Container()
        c.name = name
        c.image = image
        for (k, v) in requests { c.resources.requests[k] = Quantity(stringLiteral: v) }
        if sidecar { c.restartPolicy = "Always" }
        c.ports = ports
        return c
    }

    static func hostPort(_ port: Int32, _ proto: String = "", ip: String = "") -> CoreV1.ContainerPort {
        CoreV1.ContainerPort(hostPort: port, containerPort: port, protocol: proto, hostIP: ip)
    }

    /// A pod whose containers are exactly the given ones (and init containers, and overhead).
    static func pod(
        _ name: String, containers: [CoreV1.Container], initContainers: [CoreV1.Container] = [],
        overhead: [String: String] = [:], nodeName: String = ""
    ) -> CoreV1.Pod {
        pod(name, nodeName: nodeName) { p in
            p.spec.containers = containers
            p.spec.initContainers = initContainers
            for (k, v) in overhead { p.spec.overhead[k] = Quantity(stringLiteral: v) }
        }
    }

    /// A node that already holds the images (names → size in bytes).
    static func node(_ name: String, images: [(names: [String], bytes: Int64)]) -> CoreV1.Node {
        var n = node(name)
        n.status.images = images.map { CoreV1.ContainerImage(names: $0.names, sizeBytes: $0.bytes) }
        return n
    }
}
