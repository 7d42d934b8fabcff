import Foundation
import Synchronization

/// A component's Prometheus metrics (what client-go registers for its users: REST client request
/// counts and latencies, work queue metrics), rendered in the text exposition format for `/metrics`.
/// One registry per process, as upstream's legacy registry.
public final class MetricRegistry: Sendable {
    public static let shared = MetricRegistry()

    struct Series {
        var value = 0.0
        var buckets: [UInt64] = []
        var sum = 0.0
        var count: UInt64 = 0
    }

    struct Family {
        var help: String
        var type: String
        var bounds: [Double]
        var series: [String: Series] = [:]
    }

    let families = Mutex<[String: Family]>([:])
    let collectors = Mutex<[@Sendable () -> Void]>([])

    public init() {}

    static func labelText(_ labels: KeyValuePairs<String, String>) -> String {
        if labels.isEmpty { return "" }
        return "{" + labels.map { "\($0.key)=\"\(escape($0.value))\"" }.joined(separator: ",") + "}"
    }

    static func escape(_ s: String) -> String {
        // Label values rarely need escaping: look before paying for the replacements.
        guard s.utf8.contains(where: { $0 == UInt8(ascii: "\\") || $0 == UInt8(ascii: "\"") || $0 == 10 }) else {
            return s
        }
        return s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }

    private func update(
        _ name: String, help: String, type: String, bounds: [Double] = [], labels: KeyValuePairs<String, String>,
        _ body: (inout Series, [Double]) -> Void
    ) {
        let key = Self.labelText(labels)
        // Changed in place: copying a family out and back made every update copy all its series.
        families.withLock { f in
            if f[name] == nil { f[name] = Family(help: help, type: type, bounds: bounds) }
            let b = f[name]!.bounds
            body(&f[name]!.series[key, default: Series(buckets: Array(repeating: 0, count: b.count))], b)
        }
    }

    /// Adds to a counter.
    public func increment(
        _ name: String, help: String, labels: KeyValuePairs<String, String> = [:], by v: Double = 1
    ) {
        update(name, help: help, type: "counter", labels: labels) { s, _ in s.value += v }
    }

    /// Sets a gauge.
    public func set(_ name: String, help: String, labels: KeyValuePairs<String, String> = [:], _ v: Double) {
        update(name, help: help, type: "gauge", labels: labels) { s, _ in s.value = v }
    }

    /// Records one observation of a histogram with the given upper bounds.
    public func observe(
        _ name: String, help: String, bounds: [Double], labels: KeyValuePairs<String, String> = [:], _ v: Double
    ) {
        update(name, help: help, type: "histogram", bounds: bounds, labels: labels) { s, b in
            for (i, le) in b.enumerated() where v <= le { s.buckets[i] += 1 }
            s.sum += v
            s.count += 1
        }
    }

    /// Runs before each rendering (for gauges read from live state).
    public func addCollector(_ f: @escaping @Sendable () -> Void) { collectors.withLock { $0.append(f) } }

    /// The text exposition format.
    public func render() -> String {
        for c in collectors.withLock({ $0 }) { c() }
        let snapshot = families.withLock { $0 }
        var out = ""
        for name in snapshot.keys.sorted() {
            let fam = snapshot[name]!
            out += "# HELP \(name) \(fam.help)\n# TYPE \(name) \(fam.type)\n"
            for key in fam.series.keys.sorted() {
                let s = fam.series[key]!
                if fam.type == "histogram" {
                    let inner = key.isEmpty ? "" : String(key.dropFirst().dropLast()) + ","
                    for (i, le) in fam.bounds.enumerated() {
                        out += "\(name)_bucket{\(inner)le=\"\(Self.number(le))\"} \(s.buckets[i])\n"
                    }
                    out += "\(name)_bucket{\(inner)le=\"+Inf\"} \(s.count)\n"
                    out += "\(name)_sum\(key) \(Self.number(s.sum))\n\(name)_count\(key) \(s.count)\n"
                } else {
                    out += "\(name)\(key) \(Self.number(s.value))\n"
                }
            }
        }
        return out
    }

    /// A span in seconds, as metrics record durations.
    public static func seconds(_ d: Swift.Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    static func number(_ v: Double) -> String {
        if v == v.rounded() && abs(v) < 1e15 { return String(Int64(v)) }
        return String(v)
    }
}
