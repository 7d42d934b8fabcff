import Foundation
import Kubelet
import Testing

/// `/metrics/resource` as metrics-server reads it: the metric names and label sets upstream's
/// kubelet serves, seconds from nanoseconds, and cgroup files read into CPU time and working set.
@Suite("resource metrics")
struct ResourceMetricsTests {
    @Test("the text format with upstream's metric names and labels")
    func render() {
        let text = ResourceMetrics.render(
            node: CgroupUsage(cpuNanoseconds: 2_500_000_000, workingSetBytes: 1024),
            pods: [
                ResourceMetrics.Pod(
                    namespace: "ns", name: "p", usage: CgroupUsage(cpuNanoseconds: 1, workingSetBytes: 2))
            ],
            containers: [
                ResourceMetrics.Container(
                    namespace: "ns", pod: "p", name: "c\"1",
                    usage: CgroupUsage(cpuNanoseconds: 1_000_000_000, workingSetBytes: 4096),
                    startTime: 1_700_000_000)
            ], timestampMillis: 42)
        let lines = Set(text.split(separator: "\n").map(String.init))
        #expect(lines.contains("node_cpu_usage_seconds_total 2.500000000 42"))
        #expect(lines.contains("node_memory_working_set_bytes 1024 42"))
        #expect(
            lines.contains(
                #"container_cpu_usage_seconds_total{container="c\"1",namespace="ns",pod="p"} 1.000000000 42"#))
        #expect(lines.contains(#"container_memory_working_set_bytes{container="c\"1",namespace="ns",pod="p"} 4096 42"#))
        #expect(lines.contains(#"pod_memory_working_set_bytes{namespace="ns",pod="p"} 2 42"#))
        #expect(lines.contains("# TYPE container_cpu_usage_seconds_total counter"))
        #expect(lines.contains("scrape_error 0"))
    }

    @Test("cgroup v1 and v2 files: CPU time, and usage less inactive file pages")
    func cgroups() throws {
        let root = NSTemporaryDirectory() + "cg-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: root) }
        let fm = FileManager.default
        try fm.createDirectory(atPath: root + "/v1/cpuacct/kubepods/pod1", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: root + "/v1/memory/kubepods/pod1", withIntermediateDirectories: true)
        try "123456789\n".write(
            toFile: root + "/v1/cpuacct/kubepods/pod1/cpuacct.usage", atomically: true, encoding: .utf8)
        try "10000\n".write(
            toFile: root + "/v1/memory/kubepods/pod1/memory.usage_in_bytes", atomically: true, encoding: .utf8)
        try "cache 5\ntotal_inactive_file 4000\n".write(
            toFile: root + "/v1/memory/kubepods/pod1/memory.stat", atomically: true, encoding: .utf8)
        #expect(
            CgroupUsage.read("/kubepods/pod1", root: root + "/v1")
                == CgroupUsage(cpuNanoseconds: 123_456_789, workingSetBytes: 6000))
        try fm.createDirectory(atPath: root + "/v2/kubepods/pod1", withIntermediateDirectories: true)
        try "usage_usec 77\nuser_usec 1\n".write(
            toFile: root + "/v2/kubepods/pod1/cpu.stat", atomically: true, encoding: .utf8)
        try "500\n".write(toFile: root + "/v2/kubepods/pod1/memory.current", atomically: true, encoding: .utf8)
        try "inactive_file 700\n".write(
            toFile: root + "/v2/kubepods/pod1/memory.stat", atomically: true, encoding: .utf8)
        #expect(
            CgroupUsage.read("/kubepods/pod1", root: root + "/v2")
                == CgroupUsage(cpuNanoseconds: 77_000, workingSetBytes: 0))
        #expect(CgroupUsage.read("/missing", root: root + "/v1") == nil)
    }

    @Test("usageNanoCores: CPU time over wall time since the previous reading, none without one")
    func cpuRates() {
        let rates = CPURates()
        // A first reading has nothing to compare with.
        #expect(rates.update(["node": 1_000_000_000, "pod/a": 0], seconds: 100).isEmpty)
        // Half a core for two seconds: one second of CPU time over two of wall time.
        let second = rates.update(["node": 2_000_000_000, "pod/a": 500_000_000, "pod/b": 7], seconds: 102)
        #expect(second == ["node": 500_000_000, "pod/a": 250_000_000])
        // A reading 50 ms later is too close to mean anything; the earlier reading stays the base.
        #expect(rates.update(["node": 2_100_000_000], seconds: 102.05).isEmpty)
        #expect(rates.update(["node": 4_000_000_000], seconds: 104) == ["node": 1_000_000_000])
        // A counter that went backwards (the cgroup was recreated) starts over; forgotten keys too.
        #expect(rates.update(["node": 10, "pod/b": 7], seconds: 106).isEmpty)
        #expect(rates.update(["node": 2_000_000_010], seconds: 108) == ["node": 1_000_000_000])
    }
}
