import Testing

@testable import KubeClient

/// The Prometheus text exposition format (https://prometheus.io/docs/instrumenting/exposition_formats/):
/// HELP and TYPE lines, label sets, cumulative histogram buckets ending in +Inf, _sum and _count.
@Suite("metric registry")
struct MetricRegistryTests {
    @Test("counters, gauges and histograms render in the text format")
    func render() {
        let m = MetricRegistry()
        m.increment("requests_total", help: "Requests.", labels: ["code": "200", "method": "GET"])
        m.increment("requests_total", help: "Requests.", labels: ["code": "200", "method": "GET"], by: 2)
        m.set("depth", help: "Depth.", labels: ["name": "q\"x"], 4)
        m.observe("latency_seconds", help: "Latency.", bounds: [0.1, 1], labels: ["verb": "GET"], 0.05)
        m.observe("latency_seconds", help: "Latency.", bounds: [0.1, 1], labels: ["verb": "GET"], 0.5)
        m.observe("latency_seconds", help: "Latency.", bounds: [0.1, 1], labels: ["verb": "GET"], 5)
        let text = m.render()
        #expect(text.contains("# HELP requests_total Requests.\n# TYPE requests_total counter\n"))
        #expect(text.contains("requests_total{code=\"200\",method=\"GET\"} 3\n"))
        #expect(text.contains("depth{name=\"q\\\"x\"} 4\n"))
        #expect(text.contains("# TYPE latency_seconds histogram\n"))
        #expect(text.contains("latency_seconds_bucket{verb=\"GET\",le=\"0.1\"} 1\n"))
        #expect(text.contains("latency_seconds_bucket{verb=\"GET\",le=\"1\"} 2\n"))
        #expect(text.contains("latency_seconds_bucket{verb=\"GET\",le=\"+Inf\"} 3\n"))
        #expect(text.contains("latency_seconds_sum{verb=\"GET\"} 5.55\n"))
        #expect(text.contains("latency_seconds_count{verb=\"GET\"} 3\n"))
    }
}
