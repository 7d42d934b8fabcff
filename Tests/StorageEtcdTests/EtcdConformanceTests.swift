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

    static func store(_ etcd: EtcdProcess, compactionKey: String? = nil) throws -> EtcdStorage {
        var options = EtcdOptions(endpoints: [etcd.clientURL])
        let prefix = "/t-\(UUID().uuidString)"
        options.keyPrefix = ("", prefix)
        options.compactionKey = compactionKey ?? "\(prefix)/compact_rev_key"
        // The cases run beside the whole test suite on two cores; a slow write is not what they test.
        options.requestTimeout = .seconds(30)
        return try EtcdStorage(options: options)
    }

    /// A store over etcd's whole key space, unprefixed.
    static func rawStore(_ etcd: EtcdProcess) throws -> EtcdStorage {
        try EtcdStorage(options: EtcdOptions(endpoints: [etcd.clientURL]))
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

    /// True when `body` fails because the revision it reads has been compacted.
    static func compacted(_ body: () async throws -> Void) async -> Bool {
        do {
            try await body()
            return false
        } catch StorageError.compacted {
            return true
        } catch {
            return false
        }
    }

    @Test("stores sharing an etcd take turns on the compaction key: one compaction per round")
    func compactionTurns() async throws {
        let etcd = try await SharedEtcd.ready()
        let key = "/t-compact-\(UUID().uuidString)"
        let a = try SharedEtcd.store(etcd, compactionKey: key)
        let b = try SharedEtcd.store(etcd, compactionKey: key)
        defer {
            a.close()
            b.close()
        }
        // Keys are read through A (each store has its own prefix); compaction is etcd-wide.
        let k = StorageKey("/k")
        func write(_ v: UInt8) async throws -> Revision {
            let cur = try await a.get(k, at: nil)
            if let cur,
                case .updated(let kv) = try await a.update(k, value: [v], ifRevision: cur.modRevision, lease: nil)
            {
                return kv.modRevision
            }
            guard case .created(let kv) = try await a.create(k, value: [v], lease: nil) else {
                throw StorageError.unavailable("could not write")
            }
            return kv.modRevision
        }

        let r0 = try await write(0)
        // A's first round takes the first turn and only records a revision.
        let a0 = try await a.compactionRound(CompactionRound())
        #expect(a0.turn == 1 && a0.revision > r0)
        let r1 = try await write(1)
        // B's first round finds the turn taken: it learns the count and compacts nothing.
        let b0 = try await b.compactionRound(CompactionRound())
        #expect(b0.turn == 1 && b0.revision >= r1)
        let r2 = try await write(2)
        // A's second round compacts through the revision its first recorded.
        let a1 = try await a.compactionRound(a0)
        #expect(a1.turn == 2)
        #expect(await Self.compacted { _ = try await a.get(k, at: r0) })
        #expect(try await a.get(k, at: r1)?.value == [1])
        // B's second round comes after A's: not its turn, so r1 (before B's recorded revision) stays.
        let b1 = try await b.compactionRound(b0)
        #expect(b1.turn == 2)
        #expect(try await a.get(k, at: r1)?.value == [1])
        // B's third round is its turn: it compacts through what its second recorded (past r2).
        let b2 = try await b.compactionRound(b1)
        #expect(b2.turn == 3 && b1.revision > r2)
        #expect(await Self.compacted { _ = try await a.get(k, at: r1) })
        #expect(try await a.get(k, at: nil)?.value == [2])
        // The key holds what upstream's compactor writes there: the revision compacted through.
        let raw = try SharedEtcd.rawStore(etcd)
        defer { raw.close() }
        #expect(try await raw.get(StorageKey(key), at: nil)?.value == Array(String(b1.revision).utf8))
    }
}
