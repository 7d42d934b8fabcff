import Foundation
import Testing

@testable import Kubelet

/// The pod cgroups a node leaves behind and which of them go: upstream's QoS layout under the cgroup
/// root, removed once neither the API nor the runtime knows the pod; and the limits written into them
/// (read back from files, and, as root, from the kernel's own cgroup v1 hierarchies).
@Suite("Pod cgroups: limits, and removing those of pods that are gone")
struct PodCgroupTests {
    @Test("pod cgroups are found under the root and its burstable and besteffort directories, in any hierarchy")
    func find() throws {
        let root = try temporaryDirectory("cgroups")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let fm = FileManager.default
        for h in ["cpu", "memory"] {
            try fm.createDirectory(atPath: "\(root)/\(h)", withIntermediateDirectories: true)
            fm.createFile(atPath: "\(root)/\(h)/cgroup.procs", contents: nil)
        }
        for dir in [
            "cpu/kubepods/podaaa/ctr1", "cpu/kubepods/burstable/podbbb", "memory/kubepods/besteffort/podccc",
            "cpu/kubepods/burstable/notapod", "cpu/other/podddd",
        ] {
            try fm.createDirectory(atPath: "\(root)/\(dir)", withIntermediateDirectories: true)
        }
        let found = Cgroups.podCgroups(cgroupRoot: "/kubepods", root: root)
        #expect(
            found == [
                "aaa": "/kubepods/podaaa", "bbb": "/kubepods/burstable/podbbb", "ccc": "/kubepods/besteffort/podccc",
            ])
    }

    @Test(
        "a cgroup goes only when neither the API nor the runtime knows its pod",
        arguments: [
            (Set(["a"]), Set<String>(), ["/kubepods/burstable/podb"]),
            (Set<String>(), Set(["a"]), ["/kubepods/burstable/podb"]),
            (Set(["a"]), Set(["b"]), []),
            (Set<String>(), Set<String>(), ["/kubepods/burstable/podb", "/kubepods/poda"]),
        ])
    func orphans(_ known: Set<String>, _ inRuntime: Set<String>, _ removed: [String]) {
        let found = ["a": "/kubepods/poda", "b": "/kubepods/burstable/podb"]
        #expect(Cgroups.orphanedPodCgroups(found, known: known, inRuntime: inRuntime) == removed)
    }

    @Test("a pod cgroup's settings read back from the v1 files: no quota at -1, no memory limit near LONG_MAX")
    func readBack() throws {
        let root = try temporaryDirectory("cgroups")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let fm = FileManager.default
        func file(_ rel: String, _ text: String) throws {
            let dir = (root + "/" + rel as NSString).deletingLastPathComponent
            try fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
            fm.createFile(atPath: root + "/" + rel, contents: Data(text.utf8))
        }
        try file("cpu/kubepods/poda/cpu.shares", "512\n")
        try file("cpu/kubepods/poda/cpu.cfs_quota_us", "50000\n")
        try file("cpu/kubepods/poda/cpu.cfs_period_us", "100000\n")
        try file("memory/kubepods/poda/memory.limit_in_bytes", "134217728\n")
        try file("pids/kubepods/poda/pids.max", "max\n")
        try file("cpu/kubepods/burstable/podb/cpu.shares", "2\n")
        try file("cpu/kubepods/burstable/podb/cpu.cfs_quota_us", "-1\n")
        try file("memory/kubepods/burstable/podb/memory.limit_in_bytes", "9223372036854771712\n")
        #expect(
            Cgroups.readPodConfig("/kubepods/poda", root: root)
                == PodCgroupConfig(cpuShares: 512, cpuQuota: 50_000, cpuPeriod: 100_000, memoryLimit: 134_217_728))
        #expect(Cgroups.readPodConfig("/kubepods/burstable/podb", root: root) == PodCgroupConfig(cpuShares: 2))
        #expect(Cgroups.readPodConfig("/kubepods/gone", root: root) == nil)
        // Writing changes only the files of the values given.
        try Cgroups.write(PodCgroupConfig(cpuShares: 1024, memoryLimit: 64 << 20), to: "/kubepods/poda", root: root)
        #expect(
            Cgroups.readPodConfig("/kubepods/poda", root: root)
                == PodCgroupConfig(cpuShares: 1024, cpuQuota: 50_000, cpuPeriod: 100_000, memoryLimit: 64 << 20))
    }

    /// A cgroup of this test's own at the top of every hierarchy, removed afterwards.
    static func kernelCgroupsMissing() -> String? {
        if getuid() != 0 { return "not root" }
        if !Cgroups.hasV1Limits() { return "no cgroup v1 cpu and memory hierarchies under \(Cgroups.root)" }
        return nil
    }

    @Test("as root, on the kernel's cgroup v1 files: limits written before any process, read back, resized in order")
    func kernel() throws {
        if let why = Self.kernelCgroupsMissing() {
            print("skipped: the kernel cgroup test needs root and cgroup v1: \(why)")
            return
        }
        let top = "/k8swift-test-\(UUID().uuidString.prefix(8))"
        defer { Cgroups.remove(top) }
        let pod = top + "/pod1"
        let config = PodCgroupConfig(
            cpuShares: 512, cpuQuota: 50_000, cpuPeriod: 100_000, memoryLimit: 128 << 20, pidsLimit: 100)
        #expect(try Cgroups.ensurePodCgroup(pod, config))
        #expect(Cgroups.readPodConfig(pod) == config)
        #expect(
            try Cgroups.ensurePodCgroup(pod, PodCgroupConfig(cpuShares: 2)) == false,
            "an existing pod cgroup is left to the resize path")
        #expect(Cgroups.readPodConfig(pod) == config)
        #expect(ProcFile.read(Cgroups.root + "/memory" + pod + "/memory.limit_in_bytes") == "134217728\n")

        try Cgroups.ensureQOSParents(cgroupRoot: top, shares: (burstable: 307, bestEffort: 2))
        #expect(ProcFile.read(Cgroups.root + "/cpu" + top + "/besteffort/cpu.shares") == "2\n")
        #expect(ProcFile.read(Cgroups.root + "/cpu" + top + "/burstable/cpu.shares") == "307\n")

        // A container below the pod with a quota of its own: the kernel refuses a pod quota under it,
        // which is why a shrinking pod limit is set only after its containers'.
        let container = pod + "/ctr"
        try FileManager.default.createDirectory(
            atPath: Cgroups.root + "/cpu" + container, withIntermediateDirectories: true)
        try Cgroups.setCPUQuota(40_000, period: 100_000, container)
        #expect(throws: CgroupError.self) { try Cgroups.setCPUQuota(20_000, period: 100_000, pod) }
        let plan = PodCgroupResize.plan(
            podName: "p", current: config,
            desired: PodCgroupConfig(cpuShares: 204, cpuQuota: 20_000, cpuPeriod: 100_000, memoryLimit: 128 << 20),
            containersChange: ["cpu"], memoryUsage: Cgroups.memoryUsage(pod))
        for step in plan.steps {
            switch step {
            case .containers: try Cgroups.setCPUQuota(10_000, period: 100_000, container)
            case .podCPUQuota(let q, let period): try Cgroups.setCPUQuota(q, period: period, pod)
            case .podCPUShares(let s): try Cgroups.setCPUShares(s, pod)
            case .podMemoryLimit(let m): try Cgroups.setMemoryLimit(m, pod)
            }
        }
        #expect(Cgroups.readPodConfig(pod)?.cpuQuota == 20_000)
        #expect(Cgroups.readPodConfig(pod)?.cpuShares == 204)
        #expect(Cgroups.remove(top).isEmpty, "nothing left behind")
    }
}
