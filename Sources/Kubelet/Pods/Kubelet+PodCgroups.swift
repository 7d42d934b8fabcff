import APICore
import APIMachinery
import CRI
import Foundation

/// The shell around `PodCgroupConfig` and `PodCgroupResize`: the pod's own cgroup made with its
/// limits before its sandbox (upstream's pod container manager `EnsureExists`, after the QoS parents
/// the QoS container manager keeps), and changed in step with its containers by an in-place resize.
extension Kubelet {
    /// The pod as the node allocated it: its resizable containers' cpu and memory as `allocated` says.
    static func allocatedPod(_ pod: CoreV1.Pod, _ allocated: PodResize.Allocation?) -> CoreV1.Pod {
        guard let allocated else { return pod }
        var p = pod
        func apply(_ c: inout CoreV1.Container) {
            guard let a = allocated[c.name] else { return }
            for k in PodResize.compute {
                c.resources.requests[k] = a.requests[k]
                c.resources.limits[k] = a.limits[k]
            }
        }
        for i in p.spec.containers.indices { apply(&p.spec.containers[i]) }
        for i in p.spec.initContainers.indices where p.spec.initContainers[i].restartPolicy == "Always" {
            apply(&p.spec.initContainers[i])
        }
        return p
    }

    /// Makes the pod's cgroup with its limits unless it exists (and the QoS parents, with their
    /// shares from the node's pods); a failure fails the sync with upstream's event, as no container
    /// may start outside its pod's limits.
    func ensurePodCgroup(_ pod: CoreV1.Pod) throws {
        guard let settings = options.podCgroups, !options.hollow, Cgroups.hasV1Limits(root: settings.fsRoot) else {
            return
        }
        let path = RuntimeConfigs.podCgroup(pod, root: options.cgroupRoot)
        let allocated = state.withLock { $0.resizes[pod.metadata.uid]?.allocated }
        let config = PodCgroupConfig.forPod(Self.allocatedPod(pod, allocated), settings: settings)
        do {
            let pods = activePods().map(\.pod) + [pod]
            try Cgroups.ensureQOSParents(
                cgroupRoot: options.cgroupRoot, shares: PodCgroupConfig.qosShares(pods), root: settings.fsRoot)
            if try Cgroups.ensurePodCgroup(path, config, root: settings.fsRoot) {
                log("pod \(pod.metadata.namespace)/\(pod.metadata.name): cgroup \(path) \(config)")
            }
        } catch {
            events.warning(
                pod, reason: "FailedCreatePodContainer", note: "unable to ensure pod container exists: \(error)")
            throw error
        }
    }

    /// Applies a resize's container updates together with the pod cgroup's new limits in upstream's
    /// order; returns the error that stopped it (the resize stays in progress), nil when all went.
    /// The pod cgroup is looked at only while containers change (in place or by a restart, whose new
    /// container must fit its pod); without a cgroup of its own, only the containers change.
    func actuateResize(
        _ pod: CoreV1.Pod, _ rt: RuntimePod, _ actuation: PodResize.Actuation, allocated: PodResize.Allocation
    ) async -> String? {
        let updates = actuation.updates
        if updates.isEmpty && actuation.restarts.isEmpty { return nil }
        let path = RuntimeConfigs.podCgroup(pod, root: options.cgroupRoot)
        guard let settings = options.podCgroups, !options.hollow,
            let current = Cgroups.readPodConfig(path, root: settings.fsRoot)
        else {
            var failure: String?
            for u in updates where failure == nil { failure = await update(u) }
            return failure
        }
        let phases = PodResize.phases(updates, runtime: rt)
        var change: Set<String> = []
        if !phases.memory.isEmpty { change.insert("memory") }
        if !phases.cpu.isEmpty { change.insert("cpu") }
        let desired = PodCgroupConfig.forPod(Self.allocatedPod(pod, allocated), settings: settings)
        let plan = PodCgroupResize.plan(
            podName: pod.metadata.name, current: current, desired: desired, containersChange: change,
            memoryUsage: Cgroups.memoryUsage(path, root: settings.fsRoot))
        if let refusal = plan.refusal { return refusal }
        for step in plan.steps {
            do throws(CgroupError) {
                switch step {
                case .podMemoryLimit(let bytes): try Cgroups.setMemoryLimit(bytes, path, root: settings.fsRoot)
                case .podCPUQuota(let quota, let period):
                    try Cgroups.setCPUQuota(quota, period: period, path, root: settings.fsRoot)
                case .podCPUShares(let shares): try Cgroups.setCPUShares(shares, path, root: settings.fsRoot)
                case .containers(let resource):
                    for u in resource == "memory" ? phases.memory : phases.cpu {
                        if let failure = await update(u) { return failure }
                    }
                }
            } catch {
                return "error setting the pod cgroup of \(pod.metadata.name): \(error)"
            }
        }
        return nil
    }

    /// One container's CRI update; the error text when it failed.
    func update(_ u: PodResize.Update) async -> String? {
        do {
            try await runtime.updateContainerResources(u.id, linux: u.linux)
            return nil
        } catch {
            return "error updating container \(u.name) resources: \(Self.describe(error))"
        }
    }
}

extension PodResize {
    /// The container updates of a resize split as upstream applies them: first each changed memory
    /// limit alone (cpu left as it runs), then each cpu change with the memory already set.
    static func phases(_ updates: [Update], runtime: RuntimePod) -> (memory: [Update], cpu: [Update]) {
        var memory: [Update] = []
        var cpu: [Update] = []
        for u in updates {
            guard let have = runtime.containers.first(where: { $0.id == u.id })?.resources else {
                cpu.append(u)
                continue
            }
            if have.memoryLimitInBytes != u.linux.memoryLimitInBytes {
                var m = have
                m.memoryLimitInBytes = u.linux.memoryLimitInBytes
                m.memorySwapLimitInBytes = u.linux.memorySwapLimitInBytes
                memory.append(Update(id: u.id, name: u.name, linux: m))
            }
            if have.cpuShares != u.linux.cpuShares || have.cpuQuota != u.linux.cpuQuota
                || have.cpuPeriod != u.linux.cpuPeriod
            {
                cpu.append(u)
            }
        }
        return (memory, cpu)
    }
}
