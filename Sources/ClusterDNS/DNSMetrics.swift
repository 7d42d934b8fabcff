import Synchronization

/// Request counts and latencies under CoreDNS's metric names (`coredns_dns_requests_total`,
/// `coredns_dns_request_duration_seconds`, `coredns_dns_responses_total`), so dashboards made for
/// CoreDNS read them.
public final class DNSMetrics: Sendable {
    /// CoreDNS's `TimeBuckets`: 0.25 ms doubling sixteen times (to 8.192 s).
    static let buckets: [Double] = (0..<16).map { 0.00025 * Double(1 << $0) }

    struct RequestKey: Hashable {
        var proto: String
        var family: String
        var type: String
    }

    struct Histogram {
        var counts = [UInt64](repeating: 0, count: DNSMetrics.buckets.count)
        var sum = 0.0
        var count: UInt64 = 0
    }

    struct State {
        var requests: [RequestKey: UInt64] = [:]
        var durations: [String: Histogram] = [:]
        var responses: [String: UInt64] = [:]
        var forwarded: UInt64 = 0
        var forwardFailures: UInt64 = 0
    }

    let state = Mutex(State())
    /// CoreDNS's `server` label: `dns://<listen address>`.
    let server: String

    public init(server: String) { self.server = server }

    /// Counts one answered request: its transport, the client's address family (1 IPv4, 2 IPv6),
    /// question type, response code and time from arrival to reply.
    public func record(proto: String, ipv6: Bool, qtype: UInt16, rcode: UInt16, seconds: Double) {
        let type = DNSType.name(qtype)
        state.withLock { s in
            s.requests[RequestKey(proto: proto, family: ipv6 ? "2" : "1", type: type), default: 0] += 1
            s.responses[DNSRcode.name(rcode), default: 0] += 1
            var h = s.durations.removeValue(forKey: type) ?? Histogram()
            if let i = Self.buckets.firstIndex(where: { seconds <= $0 }) { h.counts[i] += 1 }
            h.sum += seconds
            h.count += 1
            s.durations[type] = h
        }
    }

    public func recordForward(failed: Bool) {
        state.withLock { s in
            s.forwarded += 1
            if failed { s.forwardFailures += 1 }
        }
    }

    /// How many requests have been answered (tests read it).
    public var requestCount: UInt64 { state.withLock { $0.requests.values.reduce(0, +) } }

    /// The Prometheus text exposition.
    public func render() -> String {
        let s = state.withLock { $0 }
        let base = "server=\"\(server)\",view=\"\",zone=\".\""
        var out = "# HELP coredns_dns_requests_total Counter of DNS requests made per zone, protocol and family.\n"
        out += "# TYPE coredns_dns_requests_total counter\n"
        for (k, v) in s.requests.sorted(by: {
            ($0.key.proto, $0.key.family, $0.key.type) < ($1.key.proto, $1.key.family, $1.key.type)
        }) {
            out +=
                "coredns_dns_requests_total{family=\"\(k.family)\",proto=\"\(k.proto)\",\(base),type=\"\(k.type)\"} \(v)\n"
        }
        out +=
            "# HELP coredns_dns_request_duration_seconds Histogram of the time (in seconds) each request took per zone.\n"
        out += "# TYPE coredns_dns_request_duration_seconds histogram\n"
        for (type, h) in s.durations.sorted(by: { $0.key < $1.key }) {
            var cumulative: UInt64 = 0
            for (i, b) in Self.buckets.enumerated() {
                cumulative += h.counts[i]
                out +=
                    "coredns_dns_request_duration_seconds_bucket{\(base),type=\"\(type)\",le=\"\(b)\"} \(cumulative)\n"
            }
            out += "coredns_dns_request_duration_seconds_bucket{\(base),type=\"\(type)\",le=\"+Inf\"} \(h.count)\n"
            out += "coredns_dns_request_duration_seconds_sum{\(base),type=\"\(type)\"} \(h.sum)\n"
            out += "coredns_dns_request_duration_seconds_count{\(base),type=\"\(type)\"} \(h.count)\n"
        }
        out += "# HELP coredns_dns_responses_total Counter of response status codes.\n"
        out += "# TYPE coredns_dns_responses_total counter\n"
        for (rcode, v) in s.responses.sorted(by: { $0.key < $1.key }) {
            out += "coredns_dns_responses_total{plugin=\"\",rcode=\"\(rcode)\",\(base)} \(v)\n"
        }
        out += "# HELP coredns_forward_requests_total Counter of requests made to upstream servers.\n"
        out += "# TYPE coredns_forward_requests_total counter\n"
        out += "coredns_forward_requests_total \(s.forwarded)\n"
        out += "# HELP k8swift_dns_forward_failures_total Forwarded requests no upstream server answered.\n"
        out += "# TYPE k8swift_dns_forward_failures_total counter\n"
        out += "k8swift_dns_forward_failures_total \(s.forwardFailures)\n"
        return out
    }
}
