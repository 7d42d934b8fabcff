import Foundation
import Synchronization

/// CPU and memory of a cgroup as the kubelet's resource metrics report them: cumulative CPU time
/// and the working set (usage less inactive file pages, upstream's definition).
public struct CgroupUsage: Equatable, Sendable {
    public var cpuNanoseconds: UInt64
    public var workingSetBytes: UInt64

    public init(cpuNanoseconds: UInt64, workingSetBytes: UInt64) {
        self.cpuNanoseconds = cpuNanoseconds
        self.workingSetBytes = workingSetBytes
    }

    /// Reads `path` (a cgroup path such as `/kubepods/besteffort/pod<uid>`, "" for the root) under
    /// `root`: cgroup v1's cpuacct and memory controllers, else the v2 unified hierarchy.
    public static func read(_ path: String, root: String = "/sys/fs/cgroup") -> CgroupUsage? {
        func text(_ p: String) -> String? { try? String(contentsOfFile: p, encoding: .utf8) }
        func number(_ p: String) -> UInt64? {
            text(p).flatMap { UInt64($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        }
        func stat(_ p: String, _ key: String) -> UInt64? {
            guard let t = text(p) else { return nil }
            for line in t.split(separator: "\n") {
                let f = line.split(separator: " ")
                if f.count == 2, f[0] == key { return UInt64(f[1]) }
            }
            return nil
        }
        if let cpu = number("\(root)/cpuacct\(path)/cpuacct.usage"),
            let usage = number("\(root)/memory\(path)/memory.usage_in_bytes")
        {
            let inactive = stat("\(root)/memory\(path)/memory.stat", "total_inactive_file") ?? 0
            return CgroupUsage(cpuNanoseconds: cpu, workingSetBytes: usage > inactive ? usage - inactive : 0)
        }
        let v2 = root + path
        if let usec = stat(v2 + "/cpu.stat", "usage_usec"), let usage = number(v2 + "/memory.current") {
            let inactive = stat(v2 + "/memory.stat", "inactive_file") ?? 0
            return CgroupUsage(cpuNanoseconds: usec * 1000, workingSetBytes: usage > inactive ? usage - inactive : 0)
        }
        return nil
    }
}

/// The kubelet's `/metrics/resource` (what metrics-server scrapes): node, pod and container CPU
/// time and working set in Prometheus' text format, with the metric names upstream serves.
public enum ResourceMetrics {
    public struct Container: Sendable {
        public var namespace: String
        public var pod: String
        public var name: String
        public var usage: CgroupUsage
        public var startTime: Double

        public init(namespace: String, pod: String, name: String, usage: CgroupUsage, startTime: Double) {
            self.namespace = namespace
            self.pod = pod
            self.name = name
            self.usage = usage
            self.startTime = startTime
        }
    }

    public struct Pod: Sendable {
        public var namespace: String
        public var name: String
        public var usage: CgroupUsage

        public init(namespace: String, name: String, usage: CgroupUsage) {
            self.namespace = namespace
            self.name = name
            self.usage = usage
        }
    }

    /// A label value escaped as the text format requires.
    static func label(_ s: String) -> String {
        var out = ""
        for ch in s {
            switch ch {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.append(ch)
            }
        }
        return out
    }

    static func seconds(_ nanos: UInt64) -> String { String(format: "%.9f", Double(nanos) / 1e9) }

    public static func render(node: CgroupUsage?, pods: [Pod], containers: [Container], timestampMillis: Int64)
        -> String
    {
        var out = ""
        func family(_ name: String, _ type: String, _ help: String) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
        }
        let ts = String(timestampMillis)
        family("container_cpu_usage_seconds_total", "counter", "CPU time the container used, in core-seconds.")
        for c in containers {
            out +=
                "container_cpu_usage_seconds_total{container=\"\(label(c.name))\",namespace=\"\(label(c.namespace))\",pod=\"\(label(c.pod))\"} \(seconds(c.usage.cpuNanoseconds)) \(ts)\n"
        }
        family("container_memory_working_set_bytes", "gauge", "The container's working set, in bytes.")
        for c in containers {
            out +=
                "container_memory_working_set_bytes{container=\"\(label(c.name))\",namespace=\"\(label(c.namespace))\",pod=\"\(label(c.pod))\"} \(c.usage.workingSetBytes) \(ts)\n"
        }
        family("container_start_time_seconds", "gauge", "When the container started, in seconds since the epoch.")
        for c in containers {
            out +=
                "container_start_time_seconds{container=\"\(label(c.name))\",namespace=\"\(label(c.namespace))\",pod=\"\(label(c.pod))\"} \(String(format: "%.9f", c.startTime)) \(ts)\n"
        }
        if let node {
            family("node_cpu_usage_seconds_total", "counter", "CPU time the node used, in core-seconds.")
            out += "node_cpu_usage_seconds_total \(seconds(node.cpuNanoseconds)) \(ts)\n"
            family("node_memory_working_set_bytes", "gauge", "The node's working set, in bytes.")
            out += "node_memory_working_set_bytes \(node.workingSetBytes) \(ts)\n"
        }
        family("pod_cpu_usage_seconds_total", "counter", "CPU time the pod used, in core-seconds.")
        for p in pods {
            out +=
                "pod_cpu_usage_seconds_total{namespace=\"\(label(p.namespace))\",pod=\"\(label(p.name))\"} \(seconds(p.usage.cpuNanoseconds)) \(ts)\n"
        }
        family("pod_memory_working_set_bytes", "gauge", "The pod's working set, in bytes.")
        for p in pods {
            out +=
                "pod_memory_working_set_bytes{namespace=\"\(label(p.namespace))\",pod=\"\(label(p.name))\"} \(p.usage.workingSetBytes) \(ts)\n"
        }
        family("scrape_error", "gauge", "1 when reading the stats failed, else 0.")
        out += "scrape_error \(node == nil ? 1 : 0)\n"
        return out
    }
}

/// The CPU rates of `/stats/summary` (`usageNanoCores`): cumulative CPU time only becomes a rate
/// against an earlier reading, so the kubelet keeps the last reading of each cgroup it answered
/// for. The first answer for a cgroup has no rate (the Summary API leaves the field out then), as
/// does one taken too soon after the last for the counters to mean anything.
public final class CPURates: Sendable {
    struct Sample {
        var seconds: Double
        var cpuNanoseconds: UInt64
    }

    /// Readings closer together than this give no rate and do not replace the earlier reading.
    static let minimumInterval = 0.1
    let samples = Mutex<[String: Sample]>([:])

    public init() {}

    /// Nanocores used between `previous` and now; nil when there is no usable earlier reading (none,
    /// too recent, or a counter that went backwards because the cgroup was recreated).
    static func rate(previous: Sample?, seconds: Double, cpuNanoseconds: UInt64) -> UInt64? {
        guard let p = previous, seconds - p.seconds >= minimumInterval, cpuNanoseconds >= p.cpuNanoseconds else {
            return nil
        }
        return UInt64((Double(cpuNanoseconds - p.cpuNanoseconds) / (seconds - p.seconds)).rounded())
    }

    /// Records this round of readings (key → cumulative CPU time) taken at `seconds` and returns the
    /// rate of each key that has one. Keys not in this round are forgotten.
    public func update(_ readings: [String: UInt64], seconds: Double) -> [String: UInt64] {
        samples.withLock { samples in
            var rates: [String: UInt64] = [:]
            var next: [String: Sample] = [:]
            for (key, cpu) in readings {
                let previous = samples[key]
                if let r = Self.rate(previous: previous, seconds: seconds, cpuNanoseconds: cpu) { rates[key] = r }
                if let p = previous, seconds - p.seconds < Self.minimumInterval, cpu >= p.cpuNanoseconds {
                    next[key] = p
                } else {
                    next[key] = Sample(seconds: seconds, cpuNanoseconds: cpu)
                }
            }
            samples = next
            return rates
        }
    }
}
