import APICore
import APIMachinery
import CRI
import Foundation
import Synchronization

/// What the eviction manager reads: the node's signals, and what one pod uses of a resource (its
/// total and per container; nil total when there are no stats). Injected so a test can drive the
/// loop with made-up readings.
public struct EvictionReadings: Sendable {
    public var signals: @Sendable () async -> [String: SignalObservation]
    public var podUsage:
        @Sendable (_ pod: CoreV1.Pod, _ resource: String) -> (total: Int64?, containers: [String: Int64])
    /// What the given pods use of local storage, by pod UID (pods left out are not judged); nil turns
    /// local storage eviction off.
    public var localStorage: (@Sendable (_ pods: [CoreV1.Pod]) async -> [String: PodStorageUsage])?

    public init(
        signals: @escaping @Sendable () async -> [String: SignalObservation],
        podUsage: @escaping @Sendable (CoreV1.Pod, String) -> (total: Int64?, containers: [String: Int64]),
        localStorage: (@Sendable ([CoreV1.Pod]) async -> [String: PodStorageUsage])? = nil
    ) {
        self.signals = signals
        self.podUsage = podUsage
        self.localStorage = localStorage
    }

    /// The host's readings. memory.available: machine memory less the root cgroup's working set;
    /// nodefs.* from the kubelet's root directory's filesystem, imagefs.* from the runtime's;
    /// pid.available: the kernel's PID limit less the processes running. Pod usage from the pod's
    /// cgroups (memory working set, `pids.current`) and, for ephemeral storage, the bytes of its
    /// directory under the root (volumes, logs).
    public static func host(
        memoryCapacity: Int64, nodeFS: String, imageFS: String, cgroupRoot: String, rootDir: String,
        podLogsDir: String
    ) -> EvictionReadings {
        EvictionReadings(
            signals: {
                var out: [String: SignalObservation] = [:]
                if memoryCapacity > 0, let node = CgroupUsage.read("") {
                    out["memory.available"] = SignalObservation(
                        available: memoryCapacity - Int64(node.workingSetBytes), capacity: memoryCapacity)
                }
                for (prefix, path) in [("nodefs", nodeFS), ("imagefs", imageFS)] {
                    var fs = statvfs()
                    guard statvfs(path, &fs) == 0 else { continue }
                    out[prefix + ".available"] = SignalObservation(
                        available: Int64(fs.f_bavail) * Int64(fs.f_frsize),
                        capacity: Int64(fs.f_blocks) * Int64(fs.f_frsize))
                    if fs.f_files > 0 {
                        out[prefix + ".inodesFree"] = SignalObservation(
                            available: Int64(fs.f_ffree), capacity: Int64(fs.f_files))
                    }
                }
                if let max = pidLimit(), let running = processCount() {
                    out["pid.available"] = SignalObservation(available: max - running, capacity: max)
                }
                return out
            },
            podUsage: { pod, resource in
                let cgroup = RuntimeConfigs.podCgroup(pod, root: cgroupRoot)
                switch resource {
                case "memory":
                    guard let usage = CgroupUsage.read(cgroup) else { return (nil, [:]) }
                    var containers: [String: Int64] = [:]
                    for s in pod.status.containerStatuses where s.state.running != nil {
                        let id = s.containerID.split(separator: "/").last.map(String.init) ?? ""
                        if let u = CgroupUsage.read(cgroup + "/" + id) { containers[s.name] = Int64(u.workingSetBytes) }
                    }
                    return (Int64(usage.workingSetBytes), containers)
                case "pids":
                    let text = try? String(
                        contentsOfFile: Cgroups.root + "/pids" + cgroup + "/pids.current", encoding: .utf8)
                    return (text.flatMap { Int64($0.trimmingCharacters(in: .whitespacesAndNewlines)) }, [:])
                default:
                    let uid = pod.metadata.uid
                    let logs = "\(podLogsDir)/\(pod.metadata.namespace)_\(pod.metadata.name)_\(uid)"
                    return (directoryBytes(rootDir + "/pods/" + uid) + directoryBytes(logs), [:])
                }
            })
    }

    /// The kernel's PID limit: the smaller of `pid_max` and `threads-max`.
    static func pidLimit() -> Int64? {
        func number(_ p: String) -> Int64? {
            (try? String(contentsOfFile: p, encoding: .utf8)).flatMap {
                Int64($0.trimmingCharacters(in: .whitespacesAndNewlines))
            }
        }
        guard let pidMax = number("/proc/sys/kernel/pid_max") else { return nil }
        return min(pidMax, number("/proc/sys/kernel/threads-max") ?? pidMax)
    }

    /// The tasks the kernel schedules now (the total of `/proc/loadavg`'s fourth field), each of
    /// which holds a PID.
    static func processCount() -> Int64? {
        guard let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8) else { return nil }
        let fields = text.split(separator: " ")
        guard fields.count > 3, let slash = fields[3].firstIndex(of: "/") else { return nil }
        return Int64(fields[3][fields[3].index(after: slash)...])
    }

    /// Bytes of the regular files under a directory (mount points of other filesystems included).
    static func directoryBytes(_ path: String) -> Int64 {
        guard let e = FileManager.default.enumerator(atPath: path) else { return 0 }
        var total: Int64 = 0
        while let rel = e.nextObject() as? String {
            var st = stat()
            if lstat(path + "/" + rel, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG {
                total += Int64(st.st_blocks) * 512
            }
        }
        return total
    }
}

/// The node's eviction manager (upstream's `managerImpl`): every monitoring interval it reads the
/// signals, takes one `Eviction.step`, reports the pressure conditions through `pressure`, first
/// reclaims node-level disk (dead containers, unused images) for disk thresholds, and otherwise ends
/// the first pod of the ranking: at most one pod per cycle, as upstream. It also answers admission
/// (pressure and node shutdown).
public final class EvictionManager: Sendable {
    struct Shared {
        var state = EvictionState()
        var shuttingDown = false
    }

    /// What the manager does to the node: list its active pods, end one with a final status and a
    /// grace period (and an event), reclaim node-level disk. A test records them instead.
    public struct Actions: Sendable {
        public var activePods: @Sendable () -> [CoreV1.Pod]
        public var endPod:
            @Sendable (
                _ pod: CoreV1.Pod, _ gracePeriodSeconds: Int64, _ message: String,
                _ finalStatus: @escaping @Sendable (CoreV1.PodStatus) -> CoreV1.PodStatus
            ) async -> Void
        public var reclaimDisk: @Sendable () async -> Void

        public init(
            activePods: @escaping @Sendable () -> [CoreV1.Pod],
            endPod:
                @escaping @Sendable (
                    CoreV1.Pod, Int64, String, @escaping @Sendable (CoreV1.PodStatus) -> CoreV1.PodStatus
                ) async -> Void,
            reclaimDisk: @escaping @Sendable () async -> Void
        ) {
            self.activePods = activePods
            self.endPod = endPod
            self.reclaimDisk = reclaimDisk
        }

        /// A kubelet's pods and runtime.
        public static func kubelet(_ k: Kubelet) -> Actions {
            Actions(
                activePods: { k.activePods().map(\.pod) },
                endPod: { pod, grace, message, status in
                    await k.endPod(
                        pod, gracePeriodSeconds: grace, event: (Eviction.reason, message), finalStatus: status)
                },
                reclaimDisk: { await k.reclaimNodeDisk() })
        }
    }

    let config: EvictionConfig
    let actions: Actions
    let readings: EvictionReadings
    let shared = Mutex(Shared())
    let log: @Sendable (String) -> Void
    let wallClock: @Sendable () -> Time

    public init(
        config: EvictionConfig, actions: Actions, readings: EvictionReadings,
        wallClock: @escaping @Sendable () -> Time = NodeHeartbeat.wallClock,
        log: @escaping @Sendable (String) -> Void
    ) {
        self.config = config
        self.actions = actions
        self.readings = readings
        self.wallClock = wallClock
        self.log = log
    }

    /// The pressure conditions to report now.
    public var pressure: Pressure { shared.withLock { $0.state.pressure } }

    public var isShuttingDown: Bool { shared.withLock { $0.shuttingDown } }

    /// Turns on shutdown's admission: from now on new pods are refused.
    public func markShuttingDown() { shared.withLock { $0.shuttingDown = true } }

    /// The admission answer for a pod that has not started: refused during shutdown, and under
    /// pressure as `Eviction.admissionRejection` says.
    public func admit(_ pod: CoreV1.Pod) -> PodRejection? {
        let (conditions, down) = shared.withLock { ($0.state.conditions, $0.shuttingDown) }
        if down { return PodRejection(reason: NodeShutdown.rejectionReason, message: NodeShutdown.rejectionMessage) }
        return Eviction.admissionRejection(pod, conditions: conditions).map {
            PodRejection(reason: Eviction.reason, message: $0)
        }
    }

    public func run() async {
        while !Task.isCancelled {
            _ = await synchronize(now: .now)
            try? await Task.sleep(for: config.monitoringInterval)
        }
    }

    /// One cycle; returns the UID of the pod it evicted, if any.
    @discardableResult
    public func synchronize(now: ContinuousClock.Instant) async -> String? {
        var observations = await readings.signals()
        let previous = shared.withLock { $0.state }
        let step = Eviction.step(config: config, observations: observations, state: previous, now: now)
        shared.withLock { $0.state = step.state }
        if step.state.conditions != previous.conditions {
            log("eviction manager: node conditions \(step.state.conditions)")
        }
        // Pods beyond their own local storage limits go first, whatever the node's pressure; when
        // any went, this cycle ends there (upstream's order).
        if let evicted = await evictForLocalStorage() { return evicted }
        guard let rule = step.reclaim, let resource = Eviction.resource(for: rule.signal) else { return nil }
        if resource == "ephemeral-storage" || resource == "inodes" {
            await actions.reclaimDisk()
            observations = await readings.signals()
            if !Eviction.crossed(rule, observations, withMinimumReclaim: true) {
                log("eviction manager: node-level reclaim relieved \(rule.signal)")
                return nil
            }
        }
        let candidates = actions.activePods().filter { !Eviction.isCritical($0) }
        var byKey: [String: CoreV1.Pod] = [:]
        let usages = candidates.map { pod -> PodUsage in
            byKey[pod.metadata.uid] = pod
            let (total, perContainer) = readings.podUsage(pod, resource)
            let containers = pod.spec.containers.compactMap { c -> PodUsage.Container? in
                guard let u = perContainer[c.name] else { return nil }
                return PodUsage.Container(name: c.name, usage: u, request: c.resources.requests[resource]?.value ?? 0)
            }
            return PodUsage(
                key: pod.metadata.uid, priority: pod.spec.priority ?? 0, usage: total,
                request: Eviction.podRequest(pod, resource: resource), containers: containers)
        }
        guard let victim = Eviction.rank(usages, resource: resource).first, let pod = byKey[victim.key] else {
            log("eviction manager: \(rule.signal) crossed but no pod can be evicted")
            return nil
        }
        let info = Eviction.thresholdInfo(rule, observations)
        let message = Eviction.message(
            resource: resource, threshold: info?.threshold, available: info?.available, containers: victim.containers)
        let grace = Eviction.gracePeriod(pod, rule: rule, maxPodGracePeriodSeconds: config.maxPodGracePeriodSeconds)
        log("eviction manager: evicting \(pod.metadata.namespace)/\(pod.metadata.name) (\(rule.signal))")
        let now = Time(seconds: wallClock().seconds)
        await actions.endPod(pod, grace, message) { s in
            Eviction.failedStatus(s, reason: Eviction.reason, message: message, now: now)
        }
        return pod.metadata.uid
    }
}

extension EvictionManager {
    /// Upstream's `localStorageEviction`: measures the active pods that have local storage limits and
    /// ends each one `LocalStorageEviction.violation` judges over its limits (critical pods never)
    /// with a hard eviction's grace. Returns the first evicted pod's UID, nil when none went.
    func evictForLocalStorage() async -> String? {
        guard let measure = readings.localStorage else { return nil }
        let pods = actions.activePods().filter { !Eviction.isCritical($0) && LocalStorageEviction.isLimited($0) }
        guard !pods.isEmpty else { return nil }
        let usage = await measure(pods)
        var evicted: [String] = []
        for pod in pods {
            guard let u = usage[pod.metadata.uid], let message = LocalStorageEviction.violation(pod, usage: u) else {
                continue
            }
            log("eviction manager: evicting \(pod.metadata.namespace)/\(pod.metadata.name): \(message)")
            await actions.endPod(pod, Eviction.immediateGracePeriodSeconds, message) { s in
                LocalStorageEviction.failedStatus(s, message: message)
            }
            evicted.append(pod.metadata.uid)
        }
        return evicted.first
    }
}
