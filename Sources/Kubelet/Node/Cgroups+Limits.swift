import Foundation

/// A cgroup file the kernel refused (EINVAL for a quota below a child's, EBUSY for a memory limit it
/// cannot reclaim down to), or a hierarchy that is not there.
public struct CgroupError: Error, CustomStringConvertible, Equatable {
    public var description: String
}

/// Writing and reading pod cgroups' limits in the cgroup v1 hierarchies (the cgroupfs driver, as
/// upstream's kubelet does without systemd): `cpu.shares`, `cpu.cfs_period_us`, `cpu.cfs_quota_us`,
/// `memory.limit_in_bytes` and `pids.max`.
extension Cgroups {
    /// The hierarchies a pod cgroup is made in before its sandbox: those the kubelet sets or reads
    /// (runc makes the pod's directory in the others as it places the sandbox).
    static let podControllers = ["cpu", "cpuacct", "memory", "pids"]

    /// A memory limit at or above this is the kernel's "unlimited" (it reads back page-rounded
    /// `LONG_MAX`).
    static let unlimitedMemory: Int64 = 1 << 62

    /// Whether `root` holds cgroup v1 cpu and memory hierarchies (the only layout the pod cgroup code
    /// writes; a v2-only host keeps the runtime's own pod cgroups).
    public static func hasV1Limits(root: String = Cgroups.root) -> Bool {
        FileManager.default.fileExists(atPath: root + "/cpu/cpu.shares")
            && FileManager.default.fileExists(atPath: root + "/memory/memory.limit_in_bytes")
    }

    /// Whether the pod cgroup `path` exists (in the cpu hierarchy).
    public static func exists(_ path: String, root: String = Cgroups.root) -> Bool {
        FileManager.default.fileExists(atPath: root + "/cpu" + path + "/cpu.shares")
    }

    /// Makes `path` in the pod controllers' hierarchies (parents included) and writes `config`;
    /// returns false (and writes nothing) when the cgroup already exists, as upstream's
    /// `EnsureExists` leaves an existing pod cgroup to the resize path.
    @discardableResult
    public static func ensurePodCgroup(_ path: String, _ config: PodCgroupConfig, root: String = Cgroups.root)
        throws(CgroupError) -> Bool
    {
        if exists(path, root: root) { return false }
        for c in podControllers where FileManager.default.fileExists(atPath: root + "/" + c) {
            do {
                try FileManager.default.createDirectory(
                    atPath: root + "/" + c + path, withIntermediateDirectories: true)
            } catch {
                throw CgroupError(description: "creating cgroup \(c)\(path): \(error)")
            }
        }
        try write(config, to: path, root: root)
        return true
    }

    /// Writes every value `config` sets (a nil quota, memory limit or PID limit is left as it is).
    public static func write(_ config: PodCgroupConfig, to path: String, root: String = Cgroups.root)
        throws(CgroupError)
    {
        try setCPUShares(config.cpuShares, path, root: root)
        if let q = config.cpuQuota {
            try setCPUQuota(q, period: config.cpuPeriod ?? PodCgroupConfig.quotaPeriod, path, root: root)
        }
        if let m = config.memoryLimit { try setMemoryLimit(m, path, root: root) }
        if let p = config.pidsLimit, FileManager.default.fileExists(atPath: root + "/pids" + path) {
            try writeValue(root + "/pids" + path + "/pids.max", String(p))
        }
    }

    public static func setCPUShares(_ shares: Int64, _ path: String, root: String = Cgroups.root) throws(CgroupError) {
        try writeValue(root + "/cpu" + path + "/cpu.shares", String(shares))
    }

    /// The period first, so the quota is judged against the period it belongs to.
    public static func setCPUQuota(_ quota: Int64, period: Int64, _ path: String, root: String = Cgroups.root)
        throws(CgroupError)
    {
        try writeValue(root + "/cpu" + path + "/cpu.cfs_period_us", String(period))
        try writeValue(root + "/cpu" + path + "/cpu.cfs_quota_us", String(quota))
    }

    public static func setMemoryLimit(_ bytes: Int64, _ path: String, root: String = Cgroups.root) throws(CgroupError) {
        try writeValue(root + "/memory" + path + "/memory.limit_in_bytes", String(bytes))
    }

    /// The settings a pod cgroup has now; nil when it does not exist.
    public static func readPodConfig(_ path: String, root: String = Cgroups.root) -> PodCgroupConfig? {
        guard let shares = number(root + "/cpu" + path + "/cpu.shares") else { return nil }
        var c = PodCgroupConfig(cpuShares: shares)
        if let q = number(root + "/cpu" + path + "/cpu.cfs_quota_us"), q > 0 {
            c.cpuQuota = q
            c.cpuPeriod = number(root + "/cpu" + path + "/cpu.cfs_period_us")
        }
        if let m = number(root + "/memory" + path + "/memory.limit_in_bytes"), m < unlimitedMemory { c.memoryLimit = m }
        if let p = number(root + "/pids" + path + "/pids.max") { c.pidsLimit = p }
        return c
    }

    /// `memory.usage_in_bytes` of a cgroup (what upstream compares a smaller pod memory limit with).
    public static func memoryUsage(_ path: String, root: String = Cgroups.root) -> Int64? {
        number(root + "/memory" + path + "/memory.usage_in_bytes")
    }

    /// Makes the QoS parents under the cgroup root and sets their shares (upstream's QoS container
    /// manager): `burstable` and `besteffort`, with Guaranteed pods directly under the root.
    public static func ensureQOSParents(
        cgroupRoot: String, shares: (burstable: Int64, bestEffort: Int64), root: String = Cgroups.root
    ) throws(CgroupError) {
        for (dir, value) in [("/burstable", shares.burstable), ("/besteffort", shares.bestEffort)] {
            for c in podControllers where FileManager.default.fileExists(atPath: root + "/" + c) {
                try? FileManager.default.createDirectory(
                    atPath: root + "/" + c + cgroupRoot + dir, withIntermediateDirectories: true)
            }
            if number(root + "/cpu" + cgroupRoot + dir + "/cpu.shares") != value {
                try setCPUShares(value, cgroupRoot + dir, root: root)
            }
        }
    }

    static func number(_ file: String) -> Int64? {
        guard let text = ProcFile.read(file) else { return nil }
        let t = text.trimmingCharacters(in: .whitespacesAndNewlines)
        return t == "max" ? nil : Int64(t)
    }

    /// One `write(2)` of the value, so the kernel's refusal comes back as the call's errno.
    static func writeValue(_ file: String, _ value: String) throws(CgroupError) {
        let fd = open(file, O_WRONLY | O_TRUNC)
        guard fd >= 0 else { throw CgroupError(description: "open \(file): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let bytes = Array(value.utf8)
        let n = bytes.withUnsafeBufferPointer { Glibc.write(fd, $0.baseAddress, $0.count) }
        if n != bytes.count {
            throw CgroupError(description: "write \(file) (\(value)): \(String(cString: strerror(errno)))")
        }
    }
}
