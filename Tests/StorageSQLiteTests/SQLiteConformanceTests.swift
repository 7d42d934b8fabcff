import Foundation
import Storage
import StorageSQLite
import StorageTesting
import Testing

/// A fresh database in its own temporary directory, removed afterwards.
func withTemporaryStore<T>(_ body: (SQLiteStorage, String) async throws -> T) async throws -> T {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("k8swift-sqlite-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    var options = SQLiteStorage.Options()
    options.progressInterval = .milliseconds(100)
    let store = try SQLiteStorage(path: dir.appendingPathComponent("state.db").path, options: options)
    defer { store.close() }
    return try await body(store, dir.path)
}

@Suite("SQLite storage conformance")
struct SQLiteConformanceTests {
    @Test("passes the storage conformance case", arguments: StorageConformance.cases.map(\.name))
    func conformance(name: String) async throws {
        let run = StorageConformance.cases.first { $0.name == name }!.run
        try await withTemporaryStore { store, _ in try await run(store) }
    }
}

@Suite("SQLite storage durability and size")
struct SQLiteDurabilityTests {
    @Test("data and revisions survive reopening the database")
    func reopen() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("k8swift-reopen-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("state.db").path
        var last: Revision = 0
        do {
            let s = try SQLiteStorage(path: path)
            for i in 0..<10 { _ = try await s.create(StorageKey("/k/\(i)"), value: [UInt8(i)], lease: nil) }
            _ = try await s.delete(StorageKey("/k/9"), ifRevision: nil)
            last = try await s.currentRevision()
            s.close()
        }
        let s = try SQLiteStorage(path: path)
        defer { s.close() }
        #expect(try await s.currentRevision() == last)
        #expect(try await s.count(.prefix("/k/")) == 9)
        guard case .created(let kv) = try await s.create(StorageKey("/k/new"), value: [1], lease: nil) else {
            Issue.record("create after reopen failed")
            return
        }
        #expect(kv.modRevision == last + 1)
    }

    @Test("the database file stops growing under endless churn once compaction runs")
    func boundedSize() async throws {
        try await withTemporaryStore { s, dir in
            let value = [UInt8](repeating: 0x61, count: 4096)
            func churn(_ rounds: Int) async throws {
                for _ in 0..<rounds {
                    for i in 0..<50 {
                        let key = StorageKey("/churn/\(i)")
                        if let cur = try await s.get(key, at: nil) {
                            _ = try await s.update(key, value: value, ifRevision: cur.modRevision, lease: nil)
                        } else {
                            _ = try await s.create(key, value: value, lease: nil)
                        }
                    }
                    try await s.compact(through: try await s.currentRevision())
                }
            }
            func size() -> Int {
                let files = ["state.db", "state.db-wal"]
                return files.reduce(0) { total, f in
                    let attrs = try? FileManager.default.attributesOfItem(atPath: dir + "/" + f)
                    return total + ((attrs?[.size] as? Int) ?? 0)
                }
            }
            try await churn(20)
            let first = size()
            try await churn(60)
            let second = size()
            // 50 live 4 KiB values need ~200 KiB; 3000 writes without compaction would need 12 MiB.
            #expect(second <= first + 512 * 1024, "grew from \(first) to \(second) bytes")
            #expect(second < 4 * 1024 * 1024)
        }
    }
}
