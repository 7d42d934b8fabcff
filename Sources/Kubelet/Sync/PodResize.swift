import APICore
import APIMachinery
import CRI

/// In-place pod resize on the node, as pure functions: whether the node takes a pod's new requests
/// and limits (upstream's allocation manager: `Infeasible` above allocatable, `Deferred` when the
/// other pods leave no room), which running containers get new cgroup limits through CRI and which
/// restart because their resize policy says so, and the status the kubelet reports for it.
///
/// Upstream records the allocation in a checkpoint; this kubelet keeps it in memory and, after a
/// restart, takes it back from the pod's own status (`allocatedResources` and `resources`).
public enum PodResize {
    /// A container's cpu and memory requests and limits, the part a resize changes.
    public typealias Allocation = [String: CoreV1.ResourceRequirements]

    public enum Pending: Equatable, Sendable {
        case infeasible(String)
        case deferred(String)

        var reason: String {
            switch self {
            case .infeasible: "Infeasible"
            case .deferred: "Deferred"
            }
        }

        var message: String {
            switch self {
            case .infeasible(let m), .deferred(let m): m
            }
        }
    }

    /// What the node allocates the pod and, when that is not what its spec asks for, why not.
    public struct Admission: Equatable, Sendable {
        public var allocated: Allocation
        public var pending: Pending?
    }

    /// A running container whose cgroup limits change in place.
    public struct Update: Equatable, Sendable {
        public var id: String
        public var name: String
        public var linux: Runtime_V1_LinuxContainerResources
    }

    /// What to do to running containers so they run with what was allocated.
    public struct Actuation: Equatable, Sendable {
        public var updates: [Update] = []
        /// IDs of containers to restart (a changed resource whose policy is `RestartContainer`).
        public var restarts: [String] = []
    }

    static let compute = ["cpu", "memory"]

    /// The containers a resize applies to: regular containers and sidecars.
    static func resizable(_ spec: CoreV1.PodSpec) -> [CoreV1.Container] {
        spec.initContainers.filter { $0.restartPolicy == "Always" } + spec.containers
    }

    /// Only cpu and memory of requests and limits.
    static func computeOnly(_ r: CoreV1.ResourceRequirements) -> CoreV1.ResourceRequirements {
        CoreV1.ResourceRequirements(
            limits: r.limits.filter { compute.contains($0.key) },
            requests: r.requests.filter { compute.contains($0.key) })
    }

    static func same(_ a: CoreV1.ResourceRequirements, _ b: CoreV1.ResourceRequirements) -> Bool {
        func eq(_ x: [String: Quantity], _ y: [String: Quantity]) -> Bool {
            compute.allSatisfy { k in
                switch (x[k], y[k]) {
                case (nil, nil): true
                case (let p?, let q?): p.compare(q) == 0
                default: false
                }
            }
        }
        return eq(a.limits, b.limits) && eq(a.requests, b.requests)
    }

    /// The spec's own requests and limits, per container.
    public static func desired(_ pod: CoreV1.Pod) -> Allocation {
        Dictionary(resizable(pod.spec).map { ($0.name, computeOnly($0.resources)) }, uniquingKeysWith: { a, _ in a })
    }

    /// The allocation as last reported in the pod's status: requests from `allocatedResources`,
    /// limits from `resources`; containers without either take the spec's (a new pod).
    public static func reported(_ pod: CoreV1.Pod) -> Allocation {
        var out = desired(pod)
        for s in pod.status.containerStatuses + pod.status.initContainerStatuses where out[s.name] != nil {
            guard !s.allocatedResources.isEmpty || s.resources != nil else { continue }
            var r = CoreV1.ResourceRequirements()
            r.requests = s.allocatedResources.filter { compute.contains($0.key) }
            r.limits = (s.resources?.limits ?? [:]).filter { compute.contains($0.key) }
            out[s.name] = r
        }
        return out
    }

    /// Sum of an allocation's requests of one resource, in milli-units for cpu and units for memory
    /// (as upstream's messages print them).
    static func request(_ a: Allocation, _ resource: String) -> Int64 {
        a.values.reduce(0) { sum, r in
            let q = r.requests[resource] ?? r.limits[resource]
            return sum + (resource == "cpu" ? (q?.milliValue ?? 0) : (q?.value ?? 0))
        }
    }

    /// Upstream's `canResizePod`: the new requests must fit the node's allocatable at all
    /// (`Infeasible`) and beside what the node's other pods are allocated (`Deferred`); until then
    /// the previous allocation stays.
    public static func admit(
        pod: CoreV1.Pod, previous: Allocation, allocatable: [String: Quantity], others: [Allocation]
    ) -> Admission {
        let want = desired(pod)
        let changed = want.contains { name, r in previous[name].map { !same($0, r) } ?? false }
        guard changed else { return Admission(allocated: want, pending: nil) }
        // Containers the previous allocation does not know (none, for a validated resize) take the spec's.
        let kept = want.merging(previous.filter { want[$0.key] != nil }, uniquingKeysWith: { _, old in old })
        let capacity: [String: Int64] = [
            "cpu": allocatable["cpu"]?.milliValue ?? Int64.max, "memory": allocatable["memory"]?.value ?? Int64.max,
        ]
        let requested = ["cpu": request(want, "cpu"), "memory": request(want, "memory")]
        // Memory is named first when both are short, as upstream does.
        for r in ["memory", "cpu"] where requested[r]! > capacity[r]! {
            return Admission(
                allocated: kept,
                pending: .infeasible(
                    "Node didn't have enough capacity: \(r), requested: \(requested[r]!), capacity: \(capacity[r]!)"))
        }
        for r in ["cpu", "memory"] {
            let used = others.reduce(Int64(0)) { $0 + request($1, r) }
            if requested[r]! + used > capacity[r]! {
                return Admission(
                    allocated: kept,
                    pending: .deferred(
                        "Node didn't have enough resource: \(r), requested: \(requested[r]!), used: \(used), capacity: \(capacity[r]!)"
                    ))
            }
        }
        return Admission(allocated: want, pending: nil)
    }

    /// The cgroup settings a container gets for its allocation.
    public static func linuxResources(_ c: CoreV1.Container, _ allocated: CoreV1.ResourceRequirements?)
        -> Runtime_V1_LinuxContainerResources
    {
        var c = c
        if let allocated {
            for k in compute {
                c.resources.requests[k] = allocated.requests[k]
                c.resources.limits[k] = allocated.limits[k]
            }
        }
        return RuntimeConfigs.linuxResources(c)
    }

    /// Which running containers need new limits and which restart instead: a container whose
    /// applied cpu (shares, quota) or memory limit differs from its allocation's is updated in place,
    /// unless a changed resource's resize policy is `RestartContainer`. A runtime that reports no
    /// applied limits is left alone.
    public static func actuate(pod: CoreV1.Pod, allocated: Allocation, runtime: RuntimePod) -> Actuation {
        var out = Actuation()
        for c in resizable(pod.spec) {
            guard let cur = runtime.container(named: c.name), cur.state == .running, let have = cur.resources
            else { continue }
            let want = linuxResources(c, allocated[c.name])
            let cpuChanged =
                have.cpuShares != want.cpuShares || have.cpuQuota != want.cpuQuota
                || (want.cpuQuota != 0 && have.cpuPeriod != want.cpuPeriod)
            let memoryChanged = have.memoryLimitInBytes != want.memoryLimitInBytes
            guard cpuChanged || memoryChanged else { continue }
            func restarts(_ resource: String) -> Bool {
                c.resizePolicy.first { $0.resourceName == resource }?.restartPolicy == "RestartContainer"
            }
            if (cpuChanged && restarts("cpu")) || (memoryChanged && restarts("memory")) {
                out.restarts.append(cur.id)
                continue
            }
            // Everything else the runtime applied (oom score, cpusets) stays as it is.
            var linux = have
            linux.cpuShares = want.cpuShares
            linux.cpuQuota = want.cpuQuota
            linux.cpuPeriod = want.cpuPeriod
            linux.memoryLimitInBytes = want.memoryLimitInBytes
            // Where memory+swap was held at the memory limit (no swap, cgroup v1), it moves with it:
            // a memory limit above the old memory+swap limit is refused by the kernel.
            if have.memorySwapLimitInBytes > 0 && have.memorySwapLimitInBytes == have.memoryLimitInBytes {
                linux.memorySwapLimitInBytes = want.memoryLimitInBytes
            }
            out.updates.append(Update(id: cur.id, name: c.name, linux: linux))
        }
        return out
    }

    /// What a container runs with, from the limits the runtime applied: the allocation where the
    /// applied values are the allocation's, else values read back from the cgroup settings.
    static func actual(
        _ c: CoreV1.Container, allocated: CoreV1.ResourceRequirements, applied: Runtime_V1_LinuxContainerResources?
    ) -> CoreV1.ResourceRequirements {
        guard let applied else { return allocated }
        let want = linuxResources(c, allocated)
        var r = allocated
        if applied.cpuShares != want.cpuShares {
            r.requests["cpu"] = Quantity(applied.cpuShares * 1000 / 1024, scale: -3)
        }
        if applied.cpuQuota != want.cpuQuota || applied.cpuPeriod != want.cpuPeriod {
            if applied.cpuQuota > 0 && applied.cpuPeriod > 0 {
                r.limits["cpu"] = Quantity(applied.cpuQuota * 1000 / applied.cpuPeriod, scale: -3)
            } else {
                r.limits["cpu"] = nil
            }
        }
        if applied.memoryLimitInBytes != want.memoryLimitInBytes {
            r.limits["memory"] = applied.memoryLimitInBytes > 0 ? Quantity(applied.memoryLimitInBytes) : nil
        }
        return r
    }

    /// The resize part of the pod's status: each container's `allocatedResources` (requests) and
    /// `resources` (what it runs with), the `PodResizePending` and `PodResizeInProgress` conditions
    /// (a transition time kept while a condition stays the same) and `observedGeneration`.
    public static func report(
        _ status: inout CoreV1.PodStatus, pod: CoreV1.Pod, admission: Admission, runtime: RuntimePod,
        inProgressError: String?, now: Time
    ) {
        let containers = Dictionary(resizable(pod.spec).map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        func fill(_ list: inout [CoreV1.ContainerStatus]) {
            for i in list.indices {
                let name = list[i].name
                guard let c = containers[name], let allocated = admission.allocated[name] else { continue }
                list[i].allocatedResources = allocated.requests
                let cur = runtime.container(named: name)
                list[i].resources = actual(
                    c, allocated: allocated, applied: cur?.state == .running ? cur?.resources : nil)
            }
        }
        fill(&status.containerStatuses)
        fill(&status.initContainerStatuses)
        var inProgress = false
        for c in resizable(pod.spec) {
            guard let cur = runtime.container(named: c.name), cur.state == .running, let applied = cur.resources,
                let allocated = admission.allocated[c.name]
            else { continue }
            if !same(actual(c, allocated: allocated, applied: applied), allocated) { inProgress = true }
        }
        let previous = status.conditions
        status.conditions.removeAll { $0.type == "PodResizePending" || $0.type == "PodResizeInProgress" }
        func condition(_ type: String, reason: String, message: String) -> CoreV1.PodCondition {
            let old = previous.first { $0.type == type }
            let kept = old.flatMap { $0.status == "True" && $0.reason == reason ? $0.lastTransitionTime : nil }
            return CoreV1.PodCondition(
                type: type, observedGeneration: pod.metadata.generation, status: "True",
                lastTransitionTime: kept ?? now, reason: reason, message: message)
        }
        if let p = admission.pending {
            status.conditions.append(condition("PodResizePending", reason: p.reason, message: p.message))
        }
        if inProgress || inProgressError != nil {
            status.conditions.append(
                condition(
                    "PodResizeInProgress", reason: inProgressError == nil ? "" : "Error", message: inProgressError ?? ""
                ))
        }
        status.observedGeneration = pod.metadata.generation
    }
}
