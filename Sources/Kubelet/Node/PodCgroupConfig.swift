import APICore
import APIMachinery

/// The cgroup v1 settings of a pod's own cgroup (`/kubepods[/burstable|/besteffort]/pod<uid>`), as
/// upstream's `ResourceConfigForPod` computes them and its pod container manager writes them before
/// the sandbox exists. Containers run below this cgroup, so these are the pod's ceilings: what all of
/// its containers (and the sandbox) may use together. A nil value is left at the kernel's default
/// (no quota, no memory limit, no PID limit).
public struct PodCgroupConfig: Equatable, Sendable {
    /// `cpu.shares`.
    public var cpuShares: Int64
    /// `cpu.cfs_quota_us` and `cpu.cfs_period_us`; nil leaves the pod without a CFS quota.
    public var cpuQuota: Int64?
    public var cpuPeriod: Int64?
    /// `memory.limit_in_bytes`.
    public var memoryLimit: Int64?
    /// `pids.max`.
    public var pidsLimit: Int64?

    public init(
        cpuShares: Int64, cpuQuota: Int64? = nil, cpuPeriod: Int64? = nil, memoryLimit: Int64? = nil,
        pidsLimit: Int64? = nil
    ) {
        self.cpuShares = cpuShares
        self.cpuQuota = cpuQuota
        self.cpuPeriod = cpuPeriod
        self.memoryLimit = memoryLimit
        self.pidsLimit = pidsLimit
    }
}

/// How the node sets up pod cgroups: whether at all (upstream's `--cgroups-per-qos`; off for hollow
/// nodes and unit tests, which must not touch the host), where the cgroup filesystem is, CFS quota
/// enforcement (`--cpu-cfs-quota`), the node's per-pod PID limit (`--pod-max-pids`, -1: none) and
/// whether pod-level `resources` count (the PodLevelResources feature gate).
public struct PodCgroupSettings: Sendable, Equatable {
    public var fsRoot: String
    public var enforceCPULimits: Bool
    public var podPidsLimit: Int64
    public var podLevelResources: Bool

    public init(
        fsRoot: String = Cgroups.root, enforceCPULimits: Bool = true, podPidsLimit: Int64 = -1,
        podLevelResources: Bool = FeatureGates().enabled("PodLevelResources")
    ) {
        self.fsRoot = fsRoot
        self.enforceCPULimits = enforceCPULimits
        self.podPidsLimit = podPidsLimit
        self.podLevelResources = podLevelResources
    }
}

extension PodCgroupConfig {
    /// The kernel's bounds on `cpu.shares`, and the shares a core is worth.
    public static let minShares: Int64 = 2
    public static let maxShares: Int64 = 262_144
    static let sharesPerCPU: Int64 = 1024
    /// The CFS period the kubelet uses (100 ms), and the smallest quota the kernel takes (1 ms).
    public static let quotaPeriod: Int64 = 100_000
    static let minQuota: Int64 = 1000

    /// Upstream's `MilliCPUToShares`: 1024 shares a core, at least 2 (also for no request at all) and
    /// at most 262144.
    public static func shares(milliCPU: Int64) -> Int64 {
        if milliCPU == 0 { return minShares }
        return min(max(milliCPU * sharesPerCPU / 1000, minShares), maxShares)
    }

    /// Upstream's `MilliCPUToQuota`: the limit's share of a period, at least 1 ms; 0 for no limit.
    public static func quota(milliCPU: Int64, period: Int64 = quotaPeriod) -> Int64 {
        if milliCPU == 0 { return 0 }
        return max(milliCPU * period / 1000, minQuota)
    }

    /// The pod cgroup's settings (upstream's `ResourceConfigForPod` with the pod container manager's
    /// PID limit). Requests and limits are summed as upstream's `PodRequests`/`PodLimits`: app
    /// containers and sidecars together, each init container beside the sidecars started before it,
    /// the larger phase counting, pod-level `resources` replacing cpu and memory when set, overhead
    /// added (to limits only where there is one). A limit is written only when every container
    /// declares one (each init container counted with the sidecars before it) or the pod-level
    /// resources do; Guaranteed pods always get all three; BestEffort pods get the minimal shares.
    public static func forPod(_ pod: CoreV1.Pod, settings: PodCgroupSettings = PodCgroupSettings())
        -> PodCgroupConfig
    {
        let spec = pod.spec
        let podLevel = settings.podLevelResources ? spec.resources : nil
        var requests = aggregate(spec) { $0.resources.requests }
        var cpuLimitsDeclared = true
        var memoryLimitsDeclared = true
        var limits = aggregate(spec) {
            $0.resources.limits
        } phase: { list in
            if !isPositive(list["cpu"]) { cpuLimitsDeclared = false }
            if !isPositive(list["memory"]) { memoryLimitsDeclared = false }
        }
        if let podLevel,
            podLevel.requests["cpu"] != nil || podLevel.requests["memory"] != nil
                || podLevel.limits["cpu"] != nil || podLevel.limits["memory"] != nil
        {
            for name in ["cpu", "memory"] {
                if let q = podLevel.requests[name] { requests[name] = q }
                if let q = podLevel.limits[name] { limits[name] = q }
            }
            if isPositive(podLevel.limits["cpu"]) { cpuLimitsDeclared = true }
            if isPositive(podLevel.limits["memory"]) { memoryLimitsDeclared = true }
        }
        for (name, q) in spec.overhead {
            requests[name] = (requests[name] ?? Quantity()) + q
            if let l = limits[name], !l.isZero { limits[name] = l + q }
        }
        let shares = shares(milliCPU: requests["cpu"]?.milliValue ?? 0)
        var quota = quota(milliCPU: limits["cpu"]?.milliValue ?? 0)
        if !settings.enforceCPULimits { quota = -1 }
        let memory = limits["memory"]?.value ?? 0
        var config: PodCgroupConfig
        switch RuntimeConfigs.qosClass(pod) {
        case "Guaranteed":
            config = PodCgroupConfig(cpuShares: shares, cpuQuota: quota, cpuPeriod: quotaPeriod, memoryLimit: memory)
        case "Burstable":
            config = PodCgroupConfig(cpuShares: shares)
            if cpuLimitsDeclared {
                config.cpuQuota = quota
                config.cpuPeriod = quotaPeriod
            }
            if memoryLimitsDeclared { config.memoryLimit = memory }
        default:
            config = PodCgroupConfig(cpuShares: minShares)
        }
        if settings.podPidsLimit > 0 { config.pidsLimit = settings.podPidsLimit }
        return config
    }

    static func isPositive(_ q: Quantity?) -> Bool { q.map { $0.sign > 0 } ?? false }

    /// Sums one resource list over the pod's containers as upstream's aggregation does; `phase` sees
    /// each app container's list and each init container's phase (its own plus the sidecars before it).
    static func aggregate(
        _ spec: CoreV1.PodSpec, _ of: (CoreV1.Container) -> [String: Quantity],
        phase: ([String: Quantity]) -> Void = { _ in }
    ) -> [String: Quantity] {
        var steady: [String: Quantity] = [:]
        for c in spec.containers {
            phase(of(c))
            steady = ResourceLists.add(steady, of(c))
        }
        var sidecars: [String: Quantity] = [:]
        var initPeak: [String: Quantity] = [:]
        for c in spec.initContainers {
            let current: [String: Quantity]
            if c.restartPolicy == "Always" {
                steady = ResourceLists.add(steady, of(c))
                sidecars = ResourceLists.add(sidecars, of(c))
                current = sidecars
            } else {
                current = ResourceLists.add(of(c), sidecars)
            }
            phase(current)
            initPeak = ResourceLists.max(initPeak, current)
        }
        return ResourceLists.max(steady, initPeak)
    }

    /// The QoS parents' shares (upstream's QoS container manager): BestEffort pods share the minimum,
    /// Burstable pods the shares of their summed cpu requests. Guaranteed pods sit directly under the
    /// root and need no parent of their own.
    public static func qosShares(_ pods: [CoreV1.Pod]) -> (burstable: Int64, bestEffort: Int64) {
        var burstableMilli: Int64 = 0
        for p in pods where RuntimeConfigs.qosClass(p) == "Burstable" {
            burstableMilli += p.spec.aggregateRequests["cpu"]?.milliValue ?? 0
        }
        return (shares(milliCPU: burstableMilli), minShares)
    }
}

/// The order in which an in-place resize changes a pod's cgroup and its containers' (upstream's
/// `doPodResizeAction`): memory first, then cpu; for each, a growing pod limit (and, for cpu, growing
/// shares) is raised before the containers and a shrinking one lowered after them, so a container
/// never asks for more than its pod allows. A memory limit at or below what the pod uses now is not
/// set at all: the resize stays in progress with upstream's error until usage allows it.
public enum PodCgroupResize {
    public enum Step: Equatable, Sendable {
        case podMemoryLimit(Int64)
        case podCPUQuota(quota: Int64, period: Int64)
        case podCPUShares(Int64)
        /// Apply the containers' new limits of one resource (`memory` or `cpu`).
        case containers(resource: String)
    }

    public struct Plan: Equatable, Sendable {
        public var steps: [Step] = []
        /// Why nothing was done (the resize stays in progress with this error).
        public var refusal: String?
    }

    /// Upstream's message when a smaller memory limit would be below the pod's usage.
    public static func memoryRefusal(podName: String) -> String {
        "aborting attempt to set pod memory limit less than current memory usage for pod \(podName)"
    }

    /// The steps from the pod cgroup's `current` settings to `desired`, given the resources whose
    /// container limits change and the pod's memory usage now. A desired value that is nil (no such
    /// limit for the pod) keeps the current one, as upstream does; an unset current quota or memory
    /// limit counts as unlimited.
    public static func plan(
        podName: String, current: PodCgroupConfig, desired: PodCgroupConfig, containersChange: Set<String>,
        memoryUsage: Int64?
    ) -> Plan {
        var plan = Plan()
        let currentMemory = current.memoryLimit ?? Int64.max
        let wantMemory = desired.memoryLimit ?? currentMemory
        if containersChange.contains("memory") || wantMemory != currentMemory {
            if desired.memoryLimit != nil, let usage = memoryUsage, usage >= wantMemory {
                return Plan(steps: [], refusal: memoryRefusal(podName: podName))
            }
            order(
                &plan.steps, limit: (currentMemory, wantMemory, .podMemoryLimit(wantMemory)), request: nil,
                containers: containersChange.contains("memory") ? "memory" : nil)
        }
        let currentQuota = (current.cpuQuota ?? -1) < 0 ? Int64.max : current.cpuQuota!
        let wantQuota = desired.cpuQuota.map { $0 < 0 ? Int64.max : $0 } ?? currentQuota
        let period = desired.cpuPeriod ?? current.cpuPeriod ?? PodCgroupConfig.quotaPeriod
        if containersChange.contains("cpu") || wantQuota != currentQuota || desired.cpuShares != current.cpuShares {
            order(
                &plan.steps,
                limit: (currentQuota, wantQuota, .podCPUQuota(quota: desired.cpuQuota ?? -1, period: period)),
                request: (current.cpuShares, desired.cpuShares, .podCPUShares(desired.cpuShares)),
                containers: containersChange.contains("cpu") ? "cpu" : nil)
        }
        return plan
    }

    /// Limits up, requests up, containers, requests down, limits down.
    static func order(
        _ steps: inout [Step], limit: (Int64, Int64, Step), request: (Int64, Int64, Step)?, containers: String?
    ) {
        if limit.1 > limit.0 { steps.append(limit.2) }
        if let r = request, r.1 > r.0 { steps.append(r.2) }
        if let containers { steps.append(.containers(resource: containers)) }
        if let r = request, r.1 < r.0 { steps.append(r.2) }
        if limit.1 < limit.0 { steps.append(limit.2) }
    }
}
