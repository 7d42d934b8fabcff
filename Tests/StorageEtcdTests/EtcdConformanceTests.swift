import Foundation
import Storage
import StorageEtcd
import StorageTesting
import Synchronization
import Testing

/// One etcd server for the whole suite; each case gets its own key space under a fresh prefix.
enum SharedEtcd {
    static let process: Result<EtcdProcess, any Error> = Result { try EtcdProcess() }
    /// Set once a first write through the gRPC client has succeeded: that proves the connection,
    /// the leader and the write-ahead log, each of which can take a while on a loaded machine.
    static let warmedUp = Mutex(false)

    static func ready() async throws -> EtcdProcess {
        let etcd = try process.get()
        if warmedUp.withLock({ $0 }) { return etcd }
        let probe = try store(etcd)
        defer { probe.close() }
        var lastError: (any Error)? = nil
        for _ in 0..<30 {
            do {
                _ = try await probe.create(StorageKey("/warm-up"), value: [1], lease: nil)
                warmedUp.withLock { $0 = true }
                return etcd
            } catch {
                lastError = error
                try await Task.sleep(for: .seconds(1))
            }
        }
        throw lastError!
    }

    static func store(_ etcd: EtcdProcess) throws -> EtcdStorage {
        var options = EtcdOptions(endpoints: [etcd.clientURL])
        options.keyPrefix = ("", "/t-\(UUID().uuidString)")
        // The cases run beside the whole test suite on two cores; a slow write is not what they test.
        options.requestTimeout = .seconds(30)
        return try EtcdStorage(options: options)
    }
}

// Serialized: compaction is cluster-wide in etcd, so one case compacting must not race another
// case's reads of past revisions.
@Suite(
    "etcd storage conformance", .serialized,
    .enabled(if: EtcdProcess.skipReason == nil, "etcd is not installed (apt-get install etcd-server)"))
struct EtcdConformanceTests {
    @Test("passes the storage conformance case", arguments: StorageConformance.cases.map(\.name))
    func conformance(name: String) async throws {
        let etcd = try await SharedEtcd.ready()
        let store = try SharedEtcd.store(etcd)
        defer { store.close() }
        let run = StorageConformance.cases.first { $0.name == name }!.run
        try await run(store)
    }
}
