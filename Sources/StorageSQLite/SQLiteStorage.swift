import CSQLite
import Foundation
import Storage
import Synchronization

/// The embedded store: one SQLite database in WAL mode holding an append-only revision log (the
/// row id is the revision) and a table of each key's current row. A single writer thread applies
/// writes in batches, one transaction per batch (group commit), and acknowledges a write only after
/// its transaction has committed with `synchronous=FULL`, so an acknowledged write survives `kill -9`.
/// Reads use a small pool of reader connections and never block the writer.
public final class SQLiteStorage: StorageBackend, @unchecked Sendable {
    public struct Options: Sendable {
        /// Events kept in memory for watches that start a little in the past.
        public var watchRingCapacity = 4096
        /// How often idle watchers get a progress mark.
        public var progressInterval: Duration = .seconds(1)
        /// How many reader connections.
        public var readers = 2
        public init() {}
    }

    private enum Op {
        case create(StorageKey, [UInt8], LeaseID?, CheckedContinuation<CreateResult, any Error>)
        case update(StorageKey, [UInt8], Revision, LeaseID?, CheckedContinuation<UpdateResult, any Error>)
        case delete(StorageKey, Revision?, CheckedContinuation<DeleteResult, any Error>)
        case compact(Revision, CheckedContinuation<Void, any Error>)
        case grantLease(Int64, CheckedContinuation<LeaseID, any Error>)
        case expireLeases(now: Double)
    }

    public let path: String
    private let writer: SQLiteConnection
    private var readers: [SQLiteConnection]
    private let readerAvailable = NSCondition()
    private let queue = NSCondition()
    private var pending: [Op] = []
    private var closed = false
    /// Writer-thread state.
    private var revision: Revision = 1
    private var compactedRevision: Revision = 0
    private let published: Atomic<Int64>
    private let hub: WatchHub
    private var thread: Thread?
    private var timerTask: Task<Void, Never>?

    public init(path: String, options: Options = Options()) throws {
        self.path = path
        writer = try SQLiteConnection(path: path)
        try writer.execute("PRAGMA auto_vacuum = INCREMENTAL")
        try writer.execute("PRAGMA journal_mode = WAL")
        try writer.execute("PRAGMA synchronous = FULL")
        try writer.execute("PRAGMA wal_autocheckpoint = 4000")
        try writer.execute(
            """
            CREATE TABLE IF NOT EXISTS log (
                rev INTEGER PRIMARY KEY, key TEXT NOT NULL, deleted INTEGER NOT NULL,
                create_rev INTEGER NOT NULL, prev_rev INTEGER NOT NULL, lease INTEGER NOT NULL, value BLOB NOT NULL);
            CREATE INDEX IF NOT EXISTS log_key_rev ON log(key, rev);
            CREATE TABLE IF NOT EXISTS current (key TEXT PRIMARY KEY, rev INTEGER NOT NULL) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS leases (id INTEGER PRIMARY KEY, expires REAL NOT NULL);
            """)
        let maxRev = try writer.statement("SELECT coalesce(max(rev), 1) FROM log")
        _ = try maxRev.step()
        revision = max(1, maxRev.int64(0))
        let meta = try writer.statement("SELECT name, value FROM meta")
        while try meta.step() {
            switch meta.string(0) {
            case "revision": revision = max(revision, meta.int64(1))
            case "compacted": compactedRevision = meta.int64(1)
            default: break
            }
        }
        var rs: [SQLiteConnection] = []
        for _ in 0..<max(1, options.readers) {
            let r = try SQLiteConnection(path: path)
            try r.execute("PRAGMA query_only = 1")
            rs.append(r)
        }
        readers = rs
        compactedBox.store(compactedRevision, ordering: .releasing)
        published = Atomic(revision)
        hub = WatchHub(published: revision, compacted: compactedRevision, ringCapacity: options.watchRingCapacity)
        // The writer holds the store until `close()` ends its loop. (An unowned capture crashed
        // when a store was dropped before its thread first ran: a server failing at startup.)
        let t = Thread { [self] in self.writerLoop() }
        t.name = "sqlite-writer"
        thread = t
        t.start()
        let interval = options.progressInterval
        timerTask = Task.detached { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                guard let self else { return }
                self.hub.sendProgress()
                self.enqueue(.expireLeases(now: Date().timeIntervalSince1970))
            }
        }
    }

    /// Stops the writer after the queued writes and ends every watch.
    public func close() {
        timerTask?.cancel()
        queue.lock()
        closed = true
        queue.signal()
        queue.unlock()
        hub.finishAll(throwing: nil)
    }

    deinit { close() }

    // MARK: Reads

    private func withReader<T>(_ body: (SQLiteConnection) throws -> T) throws -> T {
        readerAvailable.lock()
        while readers.isEmpty { readerAvailable.wait() }
        let conn = readers.removeLast()
        readerAvailable.unlock()
        defer {
            conn.resetAll()
            readerAvailable.lock()
            readers.append(conn)
            readerAvailable.signal()
            readerAvailable.unlock()
        }
        return try body(conn)
    }

    private func checkRevision(_ r: Revision, current: Revision) throws {
        let compacted = hubCompacted()
        if r < compacted { throw StorageError.compacted(requested: r, compacted: compacted) }
        if r > current { throw StorageError.futureRevision(requested: r, current: current) }
    }

    private let compactedBox = Atomic<Int64>(0)
    private func hubCompacted() -> Revision { compactedBox.load(ordering: .acquiring) }

    public func currentRevision() async throws -> Revision { published.load(ordering: .acquiring) }

    public func get(_ key: StorageKey, at revision: Revision?) async throws -> KeyValue? {
        try withReader { c in
            if let revision {
                try checkRevision(revision, current: published.load(ordering: .acquiring))
                let s = try c.statement(
                    "SELECT rev, deleted, create_rev, lease, value FROM log WHERE key = ?1 AND rev <= ?2 ORDER BY rev DESC LIMIT 1"
                )
                s.bind(1, key.rawValue)
                s.bind(2, revision)
                guard try s.step(), s.int64(1) == 0 else { return nil }
                return Self.keyValue(key, s, rev: 0, create: 2, lease: 3, value: 4)
            }
            let s = try c.statement(
                "SELECT l.rev, l.create_rev, l.lease, l.value FROM current c JOIN log l ON l.rev = c.rev WHERE c.key = ?1"
            )
            s.bind(1, key.rawValue)
            guard try s.step() else { return nil }
            return Self.keyValue(key, s, rev: 0, create: 1, lease: 2, value: 3)
        }
    }

    private static func keyValue(
        _ key: StorageKey, _ s: Statement, rev: Int32, create: Int32, lease: Int32, value: Int32
    )
        -> KeyValue
    {
        let l = s.int64(lease)
        return KeyValue(
            key: key, value: s.bytes(value), createRevision: s.int64(create), modRevision: s.int64(rev),
            lease: l == 0 ? nil : l)
    }

    public func list(_ range: KeyRange, at revision: Revision?, limit: Int?, continueAfter: StorageKey?) async throws
        -> ListPage
    {
        try withReader { c in
            try c.execute("BEGIN")
            defer {
                c.resetAll()
                try? c.execute("COMMIT")
            }
            // The snapshot's revision: read inside the read transaction so rows and revision agree.
            let head = try c.statement("SELECT coalesce(max(rev), 1) FROM log")
            _ = try head.step()
            let snapshot = max(head.int64(0), try metaRevision(c))
            let at = revision ?? snapshot
            try checkRevision(at, current: snapshot)
            let from = continueAfter.map { $0.rawValue + "\u{0}" } ?? range.start
            let end = range.end ?? "\u{7F}\u{7F}\u{7F}\u{7F}"
            let lim = Int64(limit.map { $0 > 0 ? $0 + 1 : -1 } ?? -1)
            let s: Statement
            if at == snapshot {
                s = try c.statement(
                    """
                    SELECT c.key, l.rev, l.create_rev, l.lease, l.value FROM current c JOIN log l ON l.rev = c.rev
                    WHERE c.key >= ?1 AND c.key < ?2 ORDER BY c.key LIMIT ?3
                    """)
            } else {
                s = try c.statement(
                    """
                    SELECT key, rev, create_rev, lease, value FROM (
                        SELECT key, max(rev) AS rev, deleted, create_rev, lease, value FROM log
                        WHERE key >= ?1 AND key < ?2 AND rev <= ?4 GROUP BY key)
                    WHERE deleted = 0 ORDER BY key LIMIT ?3
                    """)
                s.bind(4, at)
            }
            s.bind(1, from)
            s.bind(2, end)
            s.bind(3, lim)
            var items: [KeyValue] = []
            while try s.step() {
                items.append(Self.keyValue(StorageKey(s.string(0)), s, rev: 1, create: 2, lease: 3, value: 4))
            }
            var hasMore = false
            var remaining: Int? = nil
            if let limit, limit > 0, items.count > limit {
                items.removeLast()
                hasMore = true
                if at == snapshot {
                    let cs = try c.statement("SELECT count(*) FROM current WHERE key > ?1 AND key < ?2")
                    cs.bind(1, items.last!.key.rawValue)
                    cs.bind(2, end)
                    _ = try cs.step()
                    remaining = Int(cs.int64(0))
                }
            }
            return ListPage(items: items, revision: at, hasMore: hasMore, remaining: remaining)
        }
    }

    private func metaRevision(_ c: SQLiteConnection) throws -> Revision {
        let s = try c.statement("SELECT value FROM meta WHERE name = 'revision'")
        return try s.step() ? s.int64(0) : 1
    }

    public func count(_ range: KeyRange) async throws -> Int {
        try withReader { c in
            let s = try c.statement("SELECT count(*) FROM current WHERE key >= ?1 AND key < ?2")
            s.bind(1, range.start)
            s.bind(2, range.end ?? "\u{7F}\u{7F}\u{7F}\u{7F}")
            _ = try s.step()
            return Int(s.int64(0))
        }
    }

    public func watch(_ range: KeyRange, from revision: Revision) -> AsyncThrowingStream<WatchEvent, any Error> {
        hub.watch(range, from: revision) { [self] range, from, through in
            try withReader { c in try self.history(c, range, from, through) }
        }
    }

    /// The events in `range` with revision in `(from, through]`, from the log.
    private func history(_ c: SQLiteConnection, _ range: KeyRange, _ from: Revision, _ through: Revision) throws
        -> [WatchEvent]
    {
        let s = try c.statement(
            """
            SELECT l.rev, l.key, l.deleted, l.create_rev, l.lease, l.value, p.rev, p.create_rev, p.lease, p.value,
                l.prev_rev
            FROM log l LEFT JOIN log p ON p.rev = l.prev_rev
            WHERE l.rev > ?1 AND l.rev <= ?2 AND l.key >= ?3 AND l.key < ?4 ORDER BY l.rev
            """)
        s.bind(1, from)
        s.bind(2, through)
        s.bind(3, range.start)
        s.bind(4, range.end ?? "\u{7F}\u{7F}\u{7F}\u{7F}")
        var out: [WatchEvent] = []
        let compacted = hubCompacted()
        if from < compacted { throw StorageError.compacted(requested: from, compacted: compacted) }
        while try s.step() {
            let key = StorageKey(s.string(1))
            let kv = Self.keyValue(key, s, rev: 0, create: 3, lease: 4, value: 5)
            let prev = s.isNull(6) ? nil : Self.keyValue(key, s, rev: 6, create: 7, lease: 8, value: 9)
            if s.int64(2) != 0 {
                // A tombstone carries the deleted value, so the previous value survives its compaction.
                var p = prev ?? kv
                p.value = kv.value
                p.modRevision = s.int64(10)
                out.append(.delete(previous: p, revision: kv.modRevision))
            } else {
                out.append(.put(kv, previous: prev))
            }
        }
        return out
    }

    // MARK: Writes

    public func create(_ key: StorageKey, value: [UInt8], lease: LeaseID?) async throws -> CreateResult {
        try await withCheckedThrowingContinuation { enqueue(.create(key, value, lease, $0)) }
    }

    public func update(_ key: StorageKey, value: [UInt8], ifRevision expected: Revision, lease: LeaseID?) async throws
        -> UpdateResult
    {
        try await withCheckedThrowingContinuation { enqueue(.update(key, value, expected, lease, $0)) }
    }

    public func delete(_ key: StorageKey, ifRevision expected: Revision?) async throws -> DeleteResult {
        try await withCheckedThrowingContinuation { enqueue(.delete(key, expected, $0)) }
    }

    public func compact(through revision: Revision) async throws {
        try await withCheckedThrowingContinuation { enqueue(.compact(revision, $0)) }
    }

    public func grantLease(ttlSeconds: Int64) async throws -> LeaseID {
        try await withCheckedThrowingContinuation { enqueue(.grantLease(ttlSeconds, $0)) }
    }

    private func enqueue(_ op: Op) {
        queue.lock()
        if closed {
            queue.unlock()
            Self.fail(op, StorageError.unavailable("store is closed"))
            return
        }
        pending.append(op)
        queue.signal()
        queue.unlock()
    }

    private static func fail(_ op: Op, _ error: any Error) {
        switch op {
        case .create(_, _, _, let c): c.resume(throwing: error)
        case .update(_, _, _, _, let c): c.resume(throwing: error)
        case .delete(_, _, let c): c.resume(throwing: error)
        case .compact(_, let c): c.resume(throwing: error)
        case .grantLease(_, let c): c.resume(throwing: error)
        case .expireLeases: break
        }
    }

    private func writerLoop() {
        while true {
            queue.lock()
            while pending.isEmpty && !closed { queue.wait() }
            if pending.isEmpty && closed {
                queue.unlock()
                return
            }
            let batch = pending
            pending.removeAll(keepingCapacity: true)
            queue.unlock()
            apply(batch)
        }
    }

    /// A write's outcome, delivered after the batch commits.
    private enum Outcome {
        case create(CreateResult, CheckedContinuation<CreateResult, any Error>)
        case update(UpdateResult, CheckedContinuation<UpdateResult, any Error>)
        case delete(DeleteResult, CheckedContinuation<DeleteResult, any Error>)
        case compact(CheckedContinuation<Void, any Error>)
        case lease(LeaseID, CheckedContinuation<LeaseID, any Error>)
        case failed(Op, any Error)
    }

    private func apply(_ batch: [Op]) {
        var outcomes: [Outcome] = []
        var events: [WatchEvent] = []
        let startRevision = revision
        var compactTo: Revision? = nil
        do {
            try writer.execute("BEGIN IMMEDIATE")
            for op in batch {
                do {
                    try writer.execute("SAVEPOINT op")
                    let o = try applyOne(op, &events, &compactTo)
                    try writer.execute("RELEASE op")
                    if let o { outcomes.append(o) }
                } catch {
                    try? writer.execute("ROLLBACK TO op")
                    try? writer.execute("RELEASE op")
                    outcomes.append(.failed(op, error))
                }
            }
            if revision != startRevision {
                let s = try writer.statement("INSERT OR REPLACE INTO meta(name, value) VALUES ('revision', ?1)")
                s.bind(1, revision)
                try s.run()
            }
            writer.resetAll()
            try writer.execute("COMMIT")
        } catch {
            writer.resetAll()
            try? writer.execute("ROLLBACK")
            revision = startRevision
            for op in batch { Self.fail(op, StorageError.unavailable("\(error)")) }
            return
        }
        if let compactTo {
            compactedBox.store(compactTo, ordering: .releasing)
            hub.setCompacted(compactTo)
            try? writer.execute("PRAGMA incremental_vacuum")
            try? writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        }
        published.store(revision, ordering: .releasing)
        hub.publish(events, revision: revision)
        for o in outcomes {
            switch o {
            case .create(let r, let c): c.resume(returning: r)
            case .update(let r, let c): c.resume(returning: r)
            case .delete(let r, let c): c.resume(returning: r)
            case .compact(let c): c.resume()
            case .lease(let id, let c): c.resume(returning: id)
            case .failed(let op, let e): Self.fail(op, e)
            }
        }
    }

    private func currentRow(_ key: StorageKey) throws -> KeyValue? {
        let s = try writer.statement(
            "SELECT l.rev, l.create_rev, l.lease, l.value FROM current c JOIN log l ON l.rev = c.rev WHERE c.key = ?1")
        s.bind(1, key.rawValue)
        guard try s.step() else { return nil }
        return Self.keyValue(key, s, rev: 0, create: 1, lease: 2, value: 3)
    }

    private func append(
        _ key: StorageKey, deleted: Bool, create: Revision, prev: Revision, lease: LeaseID?, value: [UInt8]
    )
        throws -> Revision
    {
        let rev = revision + 1
        let s = try writer.statement(
            "INSERT INTO log(rev, key, deleted, create_rev, prev_rev, lease, value) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
        )
        s.bind(1, rev)
        s.bind(2, key.rawValue)
        s.bind(3, deleted ? 1 : 0)
        s.bind(4, create == 0 ? rev : create)
        s.bind(5, prev)
        s.bind(6, lease ?? 0)
        s.bind(7, value)
        try s.run()
        if deleted {
            let d = try writer.statement("DELETE FROM current WHERE key = ?1")
            d.bind(1, key.rawValue)
            try d.run()
        } else {
            let u = try writer.statement("INSERT OR REPLACE INTO current(key, rev) VALUES (?1, ?2)")
            u.bind(1, key.rawValue)
            u.bind(2, rev)
            try u.run()
        }
        revision = rev
        return rev
    }

    private func applyOne(_ op: Op, _ events: inout [WatchEvent], _ compactTo: inout Revision?) throws -> Outcome? {
        switch op {
        case .create(let key, let value, let lease, let c):
            if let cur = try currentRow(key) { return .create(.alreadyExists(current: cur), c) }
            let rev = try append(key, deleted: false, create: 0, prev: 0, lease: lease, value: value)
            let kv = KeyValue(key: key, value: value, createRevision: rev, modRevision: rev, lease: lease)
            events.append(.put(kv, previous: nil))
            return .create(.created(kv), c)
        case .update(let key, let value, let expected, let lease, let c):
            guard let cur = try currentRow(key), cur.modRevision == expected else {
                return .update(.conflict(current: try currentRow(key)), c)
            }
            let rev = try append(
                key, deleted: false, create: cur.createRevision, prev: cur.modRevision, lease: lease, value: value)
            let kv = KeyValue(
                key: key, value: value, createRevision: cur.createRevision, modRevision: rev, lease: lease)
            events.append(.put(kv, previous: cur))
            return .update(.updated(kv), c)
        case .delete(let key, let expected, let c):
            guard let cur = try currentRow(key) else { return .delete(.notFound, c) }
            if let expected, cur.modRevision != expected { return .delete(.conflict(current: cur), c) }
            let rev = try deleteRow(cur)
            events.append(.delete(previous: cur, revision: rev))
            return .delete(.deleted(previous: cur, revision: rev), c)
        case .compact(let through, let c):
            let to = min(through, revision)
            if to > compactedRevision {
                let s = try writer.statement(
                    """
                    DELETE FROM log WHERE rev <= ?1 AND (deleted = 1 OR EXISTS (
                        SELECT 1 FROM log n WHERE n.key = log.key AND n.rev > log.rev AND n.rev <= ?1))
                    """)
                s.bind(1, to)
                try s.run()
                let m = try writer.statement("INSERT OR REPLACE INTO meta(name, value) VALUES ('compacted', ?1)")
                m.bind(1, to)
                try m.run()
                compactedRevision = to
                compactTo = to
            }
            return .compact(c)
        case .grantLease(let ttl, let c):
            let s = try writer.statement("INSERT INTO leases(expires) VALUES (?1)")
            sqlite3_bind_double(s.handle, 1, Date().timeIntervalSince1970 + Double(ttl))
            try s.run()
            return .lease(sqlite3_last_insert_rowid(writer.db), c)
        case .expireLeases(let now):
            let q = try writer.statement("SELECT id FROM leases WHERE expires <= ?1")
            sqlite3_bind_double(q.handle, 1, now)
            var expired: [Int64] = []
            while try q.step() { expired.append(q.int64(0)) }
            for id in expired {
                let k = try writer.statement(
                    "SELECT c.key FROM current c JOIN log l ON l.rev = c.rev WHERE l.lease = ?1")
                k.bind(1, id)
                var keys: [StorageKey] = []
                while try k.step() { keys.append(StorageKey(k.string(0))) }
                for key in keys {
                    guard let cur = try currentRow(key) else { continue }
                    let rev = try deleteRow(cur)
                    events.append(.delete(previous: cur, revision: rev))
                }
                let d = try writer.statement("DELETE FROM leases WHERE id = ?1")
                d.bind(1, id)
                try d.run()
            }
            return nil
        }
    }

    private func deleteRow(_ cur: KeyValue) throws -> Revision {
        try append(
            cur.key, deleted: true, create: cur.createRevision, prev: cur.modRevision, lease: nil, value: cur.value)
    }
}
