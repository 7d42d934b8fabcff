import APIMachinery

extension CoreV1.PodSpec {
    /// Upstream's `ComputePodQOS`, the one QoS rule the API server, quota and kubelet share: only
    /// positive cpu and memory quantities count; none at all is BestEffort; cpu and memory limits on
    /// every container (init containers included) with every request equal to its limit is
    /// Guaranteed; anything else Burstable. Pod-level `resources`, when they name cpu or memory, decide
    /// alone (upstream's `computePodLevelQOS`, PodLevelResources).
    public var computedQOSClass: String {
        if let podLevel = resources, Self.setsCompute(podLevel) {
            let requests = Self.positiveCompute(podLevel.requests)
            let limits = Self.positiveCompute(podLevel.limits)
            return Self.qosClass(
                requests: requests, limits: limits, limitsOnEvery: limits.count == Self.qosCompute.count)
        }
        var requests: [String: Quantity] = [:]
        var limits: [String: Quantity] = [:]
        var limitsOnEvery = true
        for c in initContainers + containers {
            for (name, q) in Self.positiveCompute(c.resources.requests) { requests[name, default: Quantity()] += q }
            let own = Self.positiveCompute(c.resources.limits)
            for (name, q) in own { limits[name, default: Quantity()] += q }
            if own.count < Self.qosCompute.count { limitsOnEvery = false }
        }
        return Self.qosClass(requests: requests, limits: limits, limitsOnEvery: limitsOnEvery)
    }

    /// The resources QoS looks at.
    static let qosCompute = ["cpu", "memory"]

    private static func setsCompute(_ r: CoreV1.ResourceRequirements) -> Bool {
        qosCompute.contains { r.requests[$0] != nil || r.limits[$0] != nil }
    }

    private static func positiveCompute(_ list: [String: Quantity]) -> [String: Quantity] {
        var out: [String: Quantity] = [:]
        for name in qosCompute { if let q = list[name], q.compare(Quantity()) > 0 { out[name] = q } }
        return out
    }

    private static func qosClass(requests: [String: Quantity], limits: [String: Quantity], limitsOnEvery: Bool)
        -> String
    {
        if requests.isEmpty && limits.isEmpty { return "BestEffort" }
        let equal = requests.allSatisfy { entry in limits[entry.key].map { $0.compare(entry.value) == 0 } ?? false }
        if limitsOnEvery && equal && requests.count == limits.count { return "Guaranteed" }
        return "Burstable"
    }
}

extension CoreV1.Container {
    /// A sidecar: an init container that keeps running beside the others (`restartPolicy: Always`).
    var isRestartableInitContainer: Bool { restartPolicy == "Always" }

    /// This container with its cpu and memory requests and limits put back to `old`'s, the rest of
    /// its resources left as sent (upstream's `dropCPUMemoryResourcesFromContainer`): what is left
    /// different from `old` afterwards is a change a resize may not make.
    func withCPUMemory(of old: CoreV1.Container) -> CoreV1.Container {
        func merged(_ list: [String: Quantity], _ oldList: [String: Quantity]) -> [String: Quantity] {
            // A list absent before stays absent: adding one is judged by the QoS rule, not here.
            if oldList.isEmpty { return [:] }
            var out = list
            for name in ["cpu", "memory"] { out[name] = oldList[name] }
            return out
        }
        var c = self
        c.resources.limits = merged(resources.limits, old.resources.limits)
        c.resources.requests = merged(resources.requests, old.resources.requests)
        return c
    }
}

extension CoreV1.Pod {
    /// Upstream's `ValidatePodResize`, for the `pods/resize` subresource. `self` is the stored pod
    /// with the request's container resources and resize policies copied in, and the request's
    /// container names, so renames and reorders are still seen here.
    public func validateResize(from old: CoreV1.Pod) -> ErrorList {
        var errs = MetaValidation.validateObjectMetaUpdate(metadata, old.metadata) + validateMetadataAndSpec()
        if old.metadata.annotations["kubernetes.io/config.mirror"] != nil {
            return [.forbidden(.root, "static pods cannot be resized")]
        }
        if old.spec.os?.name == "windows" { return [.forbidden(.root, "windows pods cannot be resized")] }
        let spec = FieldPath("spec")
        let oldQOS = old.status.qosClass.isEmpty ? old.spec.computedQOSClass : old.status.qosClass
        if oldQOS != self.spec.computedQOSClass {
            errs.append(.invalid(spec, status.qosClass, "Pod QOS Class may not change as a result of resizing"))
        }
        if !Self.nodeSupportsResize(old) {
            errs.append(.forbidden(spec, "Pod running on node without support for resize"))
        }
        let ordering = Self.orderingErrors(self.spec, old.spec)
        if !ordering.isEmpty { return errs + ordering }
        for (i, c) in old.spec.initContainers.enumerated() where c.isRestartableInitContainer {
            errs += Self.validateContainerResize(
                self.spec.initContainers[i].resources, c.resources, spec.child("initContainers").index(i))
        }
        for (i, c) in old.spec.containers.enumerated() {
            errs += Self.validateContainerResize(
                self.spec.containers[i].resources, c.resources, spec.child("containers").index(i))
        }
        errs += Self.validatePodLevelResize(self.spec.resources, old.spec.resources)
        var munged = self.spec
        for (i, c) in munged.containers.enumerated() {
            munged.containers[i] = c.withCPUMemory(of: old.spec.containers[i])
            if munged.containers[i] != old.spec.containers[i] {
                errs.append(.forbidden(spec, "only cpu and memory resources are mutable"))
            }
        }
        for (i, c) in munged.initContainers.enumerated() {
            let was = old.spec.initContainers[i]
            if was.isRestartableInitContainer {
                munged.initContainers[i] = c.withCPUMemory(of: was)
                if munged.initContainers[i] != was {
                    errs.append(.forbidden(spec, "only cpu and memory resources for sidecar containers are mutable"))
                }
            } else if c != was {
                errs.append(.forbidden(spec, "resources for non-sidecar init containers are immutable"))
            }
        }
        if !errs.isEmpty { return errs }
        if let was = old.spec.resources {
            var r = munged.resources ?? CoreV1.ResourceRequirements()
            for name in ["cpu", "memory"] {
                r.requests[name] = was.requests[name]
                r.limits[name] = was.limits[name]
            }
            munged.resources = r
        }
        if munged != old.spec { errs.append(.forbidden(spec, "only cpu and memory resources are mutable")) }
        return errs
    }

    /// Upstream's version-skew guard: once a container runs, a node that can resize reports the
    /// resources it applied; a pod with no running container is assumed to be on such a node.
    static func nodeSupportsResize(_ pod: CoreV1.Pod) -> Bool {
        guard let running = pod.status.containerStatuses.first(where: { $0.state.running != nil }) else { return true }
        return running.resources != nil
    }

    /// Containers keep their names and places through a resize.
    static func orderingErrors(_ new: CoreV1.PodSpec, _ old: CoreV1.PodSpec) -> ErrorList {
        var errs: ErrorList = []
        for (field, now, was) in [
            ("containers", new.containers.map(\.name), old.containers.map(\.name)),
            ("initContainers", new.initContainers.map(\.name), old.initContainers.map(\.name)),
        ] {
            guard now.count == was.count else {
                errs.append(.forbidden(FieldPath("spec", field), "\(field) may not be added or removed on resize"))
                continue
            }
            for (i, name) in was.enumerated() where now[i] != name {
                errs.append(
                    .forbidden(
                        FieldPath("spec", field).index(i).child("name"),
                        "\(field) may not be renamed or reordered on resize"
                    ))
            }
        }
        return errs
    }

    /// `validateContainerResize`: requests and limits may change, never go away.
    static func validateContainerResize(
        _ new: CoreV1.ResourceRequirements, _ old: CoreV1.ResourceRequirements, _ path: FieldPath
    ) -> ErrorList {
        var errs: ErrorList = []
        let resources = path.child("resources")
        if old.requests.keys.contains(where: { new.requests[$0] == nil }) {
            errs.append(.forbidden(resources.child("requests"), "resource requests cannot be removed"))
        }
        if old.limits.keys.contains(where: { new.limits[$0] == nil }) {
            errs.append(.forbidden(resources.child("limits"), "resource limits cannot be removed"))
        }
        return errs
    }

    /// Pod-level requests and limits follow the containers' rules.
    static func validatePodLevelResize(_ new: CoreV1.ResourceRequirements?, _ old: CoreV1.ResourceRequirements?)
        -> ErrorList
    {
        guard let old, !(old.requests.isEmpty && old.limits.isEmpty) else { return [] }
        let path = FieldPath("spec", "resources")
        guard let new else { return [.forbidden(path, "pod-level resources cannot be removed")] }
        var errs: ErrorList = []
        if old.requests.keys.contains(where: { new.requests[$0] == nil }) {
            errs.append(.forbidden(path.child("requests"), "pod-level resource requests cannot be removed"))
        }
        if old.limits.keys.contains(where: { new.limits[$0] == nil }) {
            errs.append(.forbidden(path.child("limits"), "pod-level resource limits cannot be removed"))
        }
        return errs
    }
}
