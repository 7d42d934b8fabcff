import Foundation
import Synchronization

/// Request counters and latency histograms in Prometheus text format (/metrics).
final class Metrics: Sendable {
    static let buckets: [Double] = [0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1, 2, 5, 10, 30, 60]

    struct Series: Hashable {
        var verb: String
        var resource: String
        var code: Int
    }

    struct Histogram {
        var counts = [Int](repeating: 0, count: Metrics.buckets.count)
        var sum = 0.0
        var count = 0
    }

    private let state = Mutex<(requests: [Series: Int], latency: [String: Histogram])>(([:], [:]))

    func record(_ info: Router.RequestInfo, seconds: Double) {
        state.withLock { s in
            s.requests[Series(verb: info.verb.uppercased(), resource: info.resource, code: info.code), default: 0] += 1
            let key = info.verb.uppercased() + "|" + info.resource
            var h = s.latency[key] ?? Histogram()
            for (i, b) in Self.buckets.enumerated() where seconds <= b { h.counts[i] += 1 }
            h.sum += seconds
            h.count += 1
            s.latency[key] = h
        }
    }

    func render(_ server: ServerContext, inflight: (readOnly: Int, mutating: Int)) -> [UInt8] {
        var out = "# TYPE apiserver_request_total counter\n"
        let snap = state.withLock { $0 }
        for (k, v) in snap.requests.sorted(by: { "\($0.key)" < "\($1.key)" }) {
            out += "apiserver_request_total{code=\"\(k.code)\",resource=\"\(k.resource)\",verb=\"\(k.verb)\"} \(v)\n"
        }
        out += "# TYPE apiserver_request_duration_seconds histogram\n"
        for (k, h) in snap.latency.sorted(by: { $0.key < $1.key }) {
            let parts = k.split(separator: "|", omittingEmptySubsequences: false)
            let labels = "resource=\"\(parts.count > 1 ? parts[1] : "")\",verb=\"\(parts[0])\""
            for (i, b) in Self.buckets.enumerated() {
                out += "apiserver_request_duration_seconds_bucket{\(labels),le=\"\(b)\"} \(h.counts[i])\n"
            }
            out += "apiserver_request_duration_seconds_bucket{\(labels),le=\"+Inf\"} \(h.count)\n"
            out += "apiserver_request_duration_seconds_sum{\(labels)} \(h.sum)\n"
            out += "apiserver_request_duration_seconds_count{\(labels)} \(h.count)\n"
        }
        out += "# TYPE apiserver_current_inflight_requests gauge\n"
        out += "apiserver_current_inflight_requests{request_kind=\"readOnly\"} \(inflight.readOnly)\n"
        out += "apiserver_current_inflight_requests{request_kind=\"mutating\"} \(inflight.mutating)\n"
        out += "# TYPE apiserver_storage_revision gauge\napiserver_storage_revision \(server.feeder.revision)\n"
        var objects: [(String, Int, Int)] = []
        var seen = Set<ObjectIdentifier>()
        for (gr, s) in server.stores {
            guard seen.insert(ObjectIdentifier(s)).inserted, let c = (s as? any CacheOwner)?.stats else { continue }
            objects.append((gr.description, c.objects, c.watchers))
        }
        objects.sort { $0.0 < $1.0 }
        out += "# TYPE apiserver_storage_objects gauge\n"
        for (r, n, _) in objects { out += "apiserver_storage_objects{resource=\"\(r)\"} \(n)\n" }
        out += "# TYPE apiserver_registered_watchers gauge\n"
        for (r, _, w) in objects { out += "apiserver_registered_watchers{resource=\"\(r)\"} \(w)\n" }
        return Array(out.utf8)
    }
}
