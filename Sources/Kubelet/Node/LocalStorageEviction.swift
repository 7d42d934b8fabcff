import APICore
import APIMachinery
import Foundation

/// What a pod uses of the node's local storage, measured as the eviction manager compares it with
/// the pod's own limits.
public struct PodStorageUsage: Sendable, Equatable {
    /// Bytes in each emptyDir volume not backed by memory, by volume name.
    public var emptyDirs: [String: Int64]
    /// Each container's logs plus, when the images share the node's filesystem, its writable layer.
    public var containers: [String: Int64]
    /// The whole pod: its containers' writable layers and logs, its disk-backed volumes, /etc/hosts.
    public var total: Int64

    public init(emptyDirs: [String: Int64] = [:], containers: [String: Int64] = [:], total: Int64 = 0) {
        self.emptyDirs = emptyDirs
        self.containers = containers
        self.total = total
    }
}

/// Upstream's local ephemeral storage eviction (the eviction manager's `localStorageEviction`), as
/// pure decisions: a pod is ended when an emptyDir outgrows its `sizeLimit`, when the pod as a whole
/// uses more than its containers' `ephemeral-storage` limits together, or when one container's
/// writable layer and logs exceed its own limit — checked in that order, the first found naming the
/// message. These evictions need no node pressure; they give a hard eviction's grace and add no condition.
public enum LocalStorageEviction {
    public static let resource = "ephemeral-storage"

    public static func emptyDirMessage(volume: String, limit: Quantity) -> String {
        "Usage of EmptyDir volume \(GoQuote.quote(volume)) exceeds the limit \(GoQuote.quote(limit.string)). "
    }

    public static func podMessage(limit: Quantity) -> String {
        "Pod ephemeral local storage usage exceeds the total limit of containers \(limit.string). "
    }

    public static func containerMessage(container: String, limit: Quantity) -> String {
        "Container \(container) exceeded its local ephemeral storage limit \(GoQuote.quote(limit.string)). "
    }

    /// The pod's `ephemeral-storage` limit as upstream's `PodLimits` sums it (app containers and
    /// sidecars together, the larger init phase, overhead added to a non-zero limit); nil when no
    /// container declares one. Pod-level `resources` do not apply: they may only name cpu and memory.
    public static func podLimit(_ pod: CoreV1.Pod) -> Quantity? {
        guard var limit = PodCgroupConfig.aggregate(pod.spec, { $0.resources.limits })[resource] else { return nil }
        if let overhead = pod.spec.overhead[resource], !limit.isZero { limit += overhead }
        return limit
    }

    /// The message to evict the pod with, or nil when it stays within its limits. Only emptyDirs
    /// with a positive `sizeLimit` and app containers with a non-zero limit are judged; usage must
    /// exceed a limit, not merely reach it.
    public static func violation(_ pod: CoreV1.Pod, usage: PodStorageUsage) -> String? {
        for v in pod.spec.volumes {
            guard let e = v.volumeSource.emptyDir, let size = e.sizeLimit, size.sign > 0,
                let used = usage.emptyDirs[v.name], used > size.value
            else { continue }
            return emptyDirMessage(volume: v.name, limit: size)
        }
        if let limit = podLimit(pod), usage.total > limit.value {
            return podMessage(limit: limit)
        }
        for c in pod.spec.containers {
            guard let limit = c.resources.limits[resource], limit.value != 0,
                let used = usage.containers[c.name], used > limit.value
            else { continue }
            return containerMessage(container: c.name, limit: limit)
        }
        return nil
    }

    /// The status an evicted pod ends with: Failed, reason Evicted, the message (no condition, as
    /// upstream's local storage evictions add none).
    public static func failedStatus(_ status: CoreV1.PodStatus, message: String) -> CoreV1.PodStatus {
        var s = status
        s.phase = "Failed"
        s.reason = Eviction.reason
        s.message = message
        return s
    }

    /// Whether a pod has anything these checks look at (an emptyDir size limit or an
    /// `ephemeral-storage` limit): pods without are not measured at all.
    public static func isLimited(_ pod: CoreV1.Pod) -> Bool {
        pod.spec.volumes.contains { ($0.volumeSource.emptyDir?.sizeLimit?.sign ?? 0) > 0 }
            || (pod.spec.initContainers + pod.spec.containers).contains { $0.resources.limits[resource] != nil }
    }
}

/// The host side of local storage: bytes on disk under a directory, as `du` counts them.
public enum DiskUsage {
    /// Allocated bytes of everything under `path` (itself included), staying on its filesystem and
    /// counting a hard-linked file once; 0 when it does not exist.
    public static func bytes(_ path: String) -> Int64 {
        var top = stat()
        guard lstat(path, &top) == 0 else { return 0 }
        var total = Int64(top.st_blocks) * 512
        guard (top.st_mode & S_IFMT) == S_IFDIR, let e = FileManager.default.enumerator(atPath: path) else {
            return total
        }
        var seen: Set<[UInt64]> = []
        while let rel = e.nextObject() as? String {
            var st = stat()
            guard lstat(path + "/" + rel, &st) == 0 else { continue }
            if st.st_dev != top.st_dev {
                // Another filesystem mounted inside: neither it nor what is below it counts.
                e.skipDescendants()
                continue
            }
            if (st.st_mode & S_IFMT) != S_IFDIR && st.st_nlink > 1 {
                guard seen.insert([UInt64(st.st_dev), UInt64(st.st_ino)]).inserted else { continue }
            }
            total += Int64(st.st_blocks) * 512
        }
        return total
    }

    /// Whether two paths are on different filesystems (upstream's "dedicated image filesystem").
    public static func differentFilesystems(_ a: String, _ b: String) -> Bool {
        var x = stat()
        var y = stat()
        guard stat(a, &x) == 0, stat(b, &y) == 0 else { return false }
        return x.st_dev != y.st_dev
    }
}

extension LocalStorageEviction {
    /// A pod's usage from its writable layers (by container name, from the runtime's stats) and the
    /// files under the kubelet's root: emptyDirs not backed by memory, configMap and downward API
    /// volumes, /etc/hosts, and each container's log directory. A container's own figure counts
    /// its writable layer only when the images share the node's filesystem (upstream's
    /// `dedicatedImageFs`); the pod's total always does.
    public static func measure(
        _ pod: CoreV1.Pod, layers: [String: Int64], rootDir: String, podLogsDir: String, dedicatedImageFS: Bool
    ) -> PodStorageUsage {
        let dir = PodDirectory(root: rootDir, uid: pod.metadata.uid)
        var usage = PodStorageUsage()
        for v in pod.spec.volumes {
            let s = v.volumeSource
            if let e = s.emptyDir, e.medium != "Memory" {
                let used = DiskUsage.bytes(dir.volume(plugin: "empty-dir", name: v.name))
                usage.emptyDirs[v.name] = used
                usage.total += used
            } else if s.configMap != nil {
                usage.total += DiskUsage.bytes(dir.volume(plugin: "configmap", name: v.name))
            } else if s.downwardAPI != nil {
                usage.total += DiskUsage.bytes(dir.volume(plugin: "downward-api", name: v.name))
            }
        }
        usage.total += DiskUsage.bytes(dir.etcHosts)
        let logs = RuntimeConfigs.podLogDir(pod, in: podLogsDir)
        for c in pod.spec.initContainers + pod.spec.containers {
            let logBytes = DiskUsage.bytes(logs + "/" + c.name)
            let layer = layers[c.name] ?? 0
            usage.containers[c.name] = logBytes + (dedicatedImageFS ? 0 : layer)
            usage.total += logBytes + layer
        }
        return usage
    }
}

extension EvictionReadings {
    /// The host's local storage readings: one `ListContainerStats` for the writable layers, then each
    /// pod's files (`LocalStorageEviction.measure`). A runtime without stats leaves layers at 0.
    public static func localStorage(
        runtime: any ContainerRuntime, rootDir: String, podLogsDir: String, dedicatedImageFS: Bool
    ) -> @Sendable ([CoreV1.Pod]) async -> [String: PodStorageUsage] {
        { pods in
            var layers: [String: [String: Int64]] = [:]
            for s in (try? await runtime.listContainerStats(podUID: nil)) ?? [] {
                guard let uid = s.attributes.labels[RuntimeLabels.podUID] else { continue }
                let name = s.attributes.metadata.name
                let bytes = Int64(clamping: s.writableLayer.usedBytes.value)
                // Exited instances of a restarted container are listed beside the running one.
                layers[uid, default: [:]][name] = max(layers[uid]?[name] ?? 0, bytes)
            }
            var out: [String: PodStorageUsage] = [:]
            for pod in pods {
                out[pod.metadata.uid] = LocalStorageEviction.measure(
                    pod, layers: layers[pod.metadata.uid] ?? [:], rootDir: rootDir, podLogsDir: podLogsDir,
                    dedicatedImageFS: dedicatedImageFS)
            }
            return out
        }
    }
}
