import Foundation
import Storage
import StorageEtcd
import StorageTesting

// make bench: the etcd client alone, on a local etcd this program starts: the latency and CPU cost
// of the calls the API server makes per request (a quorum revision read, a create transaction),
// sequential and with 16 concurrent callers. Prints JSON.

func cpuSeconds() -> Double {
    var u = rusage()
    getrusage(RUSAGE_SELF.rawValue, &u)
    return Double(u.ru_utime.tv_sec) + Double(u.ru_utime.tv_usec) / 1e6 + Double(u.ru_stime.tv_sec)
        + Double(u.ru_stime.tv_usec) / 1e6
}

func now() -> Double { Date().timeIntervalSince1970 }

struct Phase: Codable {
    var calls: Int
    var concurrency: Int
    var perSecond: Double
    var p50Ms: Double
    var cpuMsPerCall: Double
}

func run(_ calls: Int, concurrency: Int, _ body: @escaping @Sendable (Int) async throws -> Void) async throws -> Phase {
    let cpu0 = cpuSeconds()
    let t0 = now()
    let latencies = try await withThrowingTaskGroup(of: [Double].self) { group in
        for w in 0..<concurrency {
            group.addTask {
                var out: [Double] = []
                var i = w
                while i < calls {
                    let s = now()
                    try await body(i)
                    out.append(now() - s)
                    i += concurrency
                }
                return out
            }
        }
        var all: [Double] = []
        for try await l in group { all += l }
        return all.sorted()
    }
    let wall = now() - t0
    return Phase(
        calls: calls, concurrency: concurrency, perSecond: (Double(calls) / wall).rounded(),
        p50Ms: (latencies[latencies.count / 2] * 1e5).rounded() / 100,
        cpuMsPerCall: ((cpuSeconds() - cpu0) / Double(calls) * 1e5).rounded() / 100)
}

if let reason = EtcdProcess.skipReason {
    print("{\"skipped\": \"\(reason)\"}")
    exit(0)
}
let etcd = try EtcdProcess(progressInterval: "10m", dataRoot: NSTemporaryDirectory())
defer { etcd.stop() }
var options = EtcdOptions(endpoints: [etcd.clientURL])
options.keyPrefix = ("", "/bench")
let store = try EtcdStorage(options: options)
// Warm up the connection.
for _ in 0..<50 { _ = try await store.currentRevision() }
let value = [UInt8](repeating: 0x61, count: 512)
var report: [String: Phase] = [:]
report["revision_sequential"] = try await run(2000, concurrency: 1) { _ in _ = try await store.currentRevision() }
report["revision_concurrent"] = try await run(8000, concurrency: 16) { _ in _ = try await store.currentRevision() }
report["create_sequential"] = try await run(1000, concurrency: 1) { i in
    _ = try await store.create(StorageKey("/s/\(i)"), value: value, lease: nil)
}
report["create_concurrent"] = try await run(4000, concurrency: 16) { i in
    _ = try await store.create(StorageKey("/c/\(i)"), value: value, lease: nil)
}
struct Report: Codable {
    var etcdVersion: String
    var etcdClient: [String: Phase]
}
let encoder = JSONEncoder()
encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
let doc = Report(etcdVersion: try await store.version(), etcdClient: report)
print(String(decoding: try encoder.encode(doc), as: UTF8.self))
store.close()
