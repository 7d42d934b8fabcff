import Storage

/// A failed conformance expectation.
public struct ConformanceFailure: Error, CustomStringConvertible {
    public var description: String
}

/// The invariants every `StorageBackend` must keep, as named cases. A test target runs each case
/// against a fresh, empty backend of its kind (see `Tests/StorageSQLiteTests`).
public enum StorageConformance {
    public typealias Case = @Sendable (any StorageBackend) async throws -> Void

    public static let cases: [(name: String, run: Case)] = [
        ("create then get returns the value with equal create and mod revisions", createGet),
        ("create of an existing key reports it and changes nothing", createExisting),
        ("revisions strictly increase across creates, updates and deletes", revisionsIncrease),
        ("update succeeds only at the expected revision", updateCompareAndSwap),
        ("delete honours its precondition and reports a missing key", deletePrecondition),
        ("list returns keys in order within the range only", listRange),
        ("list pages with limit and continue cover every key once on one snapshot", listPages),
        ("get and list at a past revision see the past", readAtRevision),
        ("count counts the keys in a range", countRange),
        ("watch delivers every event after its start exactly once, in order", watchReplayAndLive),
        ("a watch without previous values reports the same changes", watchWithoutPrevious),
        ("watch filters by range", watchRange),
        ("watch from the current revision sees only new events", watchFromNow),
        ("compaction keeps the latest values and fails older watches and reads", compaction),
        ("a compaction round compacts through the revision the round before recorded", compactionRounds),
        ("progress marks never precede the events they cover", progressOrder),
        ("a revision's events are closed by a progress mark before later events", revisionsClosed),
        ("concurrent writers to one key: exactly one update per revision wins", concurrentUpdates),
        ("keys attached to an expired lease are deleted", leaseExpiry),
    ]

    static func check(
        _ condition: Bool, _ message: @autoclosure () -> String, line: Int = #line
    ) throws {
        if !condition { throw ConformanceFailure(description: "line \(line): \(message())") }
    }

    static func k(_ s: String) -> StorageKey { StorageKey(s) }
    static func v(_ s: String) -> [UInt8] { Array(s.utf8) }

    static func created(_ r: CreateResult) throws -> KeyValue {
        guard case .created(let kv) = r else { throw ConformanceFailure(description: "expected created, got \(r)") }
        return kv
    }

    static func updated(_ r: UpdateResult) throws -> KeyValue {
        guard case .updated(let kv) = r else { throw ConformanceFailure(description: "expected updated, got \(r)") }
        return kv
    }

    /// Reads events until `count` non-progress events have arrived (or the stream ends).
    static func collect(
        _ stream: AsyncThrowingStream<WatchEvent, any Error>, count: Int, keepProgress: Bool = false
    ) async throws -> [WatchEvent] {
        var out: [WatchEvent] = []
        var n = 0
        for try await e in stream {
            if case .progress = e {
                if keepProgress { out.append(e) }
                continue
            }
            out.append(e)
            n += 1
            if n == count { break }
        }
        return out
    }

    static func createGet(_ s: any StorageBackend) async throws {
        let kv = try created(try await s.create(k("/r/a/1"), value: v("one"), lease: nil))
        try check(kv.createRevision == kv.modRevision, "create and mod revision differ")
        let got = try await s.get(k("/r/a/1"), at: nil)
        try check(got == kv, "get returned \(String(describing: got)), want \(kv)")
        try check(try await s.get(k("/r/a/2"), at: nil) == nil, "missing key found")
        try check(try await s.currentRevision() == kv.modRevision, "current revision is not the last write")
    }

    static func createExisting(_ s: any StorageBackend) async throws {
        let kv = try created(try await s.create(k("/r/a/1"), value: v("one"), lease: nil))
        let again = try await s.create(k("/r/a/1"), value: v("two"), lease: nil)
        guard case .alreadyExists(let cur) = again else {
            throw ConformanceFailure(description: "second create: \(again)")
        }
        try check(cur == kv, "existing value reported wrongly")
        try check(try await s.currentRevision() == kv.modRevision, "a refused create moved the revision")
        try check(try await s.get(k("/r/a/1"), at: nil)?.value == v("one"), "value changed")
    }

    static func revisionsIncrease(_ s: any StorageBackend) async throws {
        var last = try await s.currentRevision()
        let a = try created(try await s.create(k("/r/a"), value: v("1"), lease: nil))
        try check(a.modRevision > last, "create did not increase revision")
        last = a.modRevision
        let b = try updated(try await s.update(k("/r/a"), value: v("2"), ifRevision: a.modRevision, lease: nil))
        try check(b.modRevision > last && b.createRevision == a.createRevision, "update revisions wrong: \(b)")
        last = b.modRevision
        guard case .deleted(let prev, let rev) = try await s.delete(k("/r/a"), ifRevision: nil) else {
            throw ConformanceFailure(description: "delete failed")
        }
        try check(rev > last && prev.value == v("2"), "delete revision or previous wrong")
        let c = try created(try await s.create(k("/r/a"), value: v("3"), lease: nil))
        try check(c.createRevision > rev, "re-create kept the old create revision")
    }

    static func updateCompareAndSwap(_ s: any StorageBackend) async throws {
        let a = try created(try await s.create(k("/r/a"), value: v("1"), lease: nil))
        let b = try updated(try await s.update(k("/r/a"), value: v("2"), ifRevision: a.modRevision, lease: nil))
        let stale = try await s.update(k("/r/a"), value: v("3"), ifRevision: a.modRevision, lease: nil)
        guard case .conflict(let cur) = stale else { throw ConformanceFailure(description: "stale update: \(stale)") }
        try check(cur == b, "conflict reported \(String(describing: cur)), want \(b)")
        let missing = try await s.update(k("/r/none"), value: v("x"), ifRevision: 1, lease: nil)
        guard case .conflict(nil) = missing else { throw ConformanceFailure(description: "missing update: \(missing)") }
        try check(try await s.get(k("/r/a"), at: nil)?.value == v("2"), "value after conflict")
    }

    static func deletePrecondition(_ s: any StorageBackend) async throws {
        let a = try created(try await s.create(k("/r/a"), value: v("1"), lease: nil))
        let wrong = try await s.delete(k("/r/a"), ifRevision: a.modRevision + 100)
        guard case .conflict(let cur) = wrong, cur == a else {
            throw ConformanceFailure(description: "delete with wrong precondition: \(wrong)")
        }
        guard case .deleted = try await s.delete(k("/r/a"), ifRevision: a.modRevision) else {
            throw ConformanceFailure(description: "delete with right precondition failed")
        }
        guard case .notFound = try await s.delete(k("/r/a"), ifRevision: nil) else {
            throw ConformanceFailure(description: "second delete did not report not found")
        }
        try check(try await s.get(k("/r/a"), at: nil) == nil, "deleted key still there")
    }

    static func listRange(_ s: any StorageBackend) async throws {
        for key in ["/r/b/2", "/r/a/1", "/r/b/1", "/r/bb/1", "/r/c/1"] {
            _ = try created(try await s.create(k(key), value: v(key), lease: nil))
        }
        let page = try await s.list(.prefix("/r/b/"), at: nil, limit: nil, continueAfter: nil)
        try check(page.items.map(\.key.rawValue) == ["/r/b/1", "/r/b/2"], "prefix list: \(page.items.map(\.key))")
        try check(!page.hasMore, "hasMore without limit")
        try check(page.revision == (try await s.currentRevision()), "list revision is not current")
        let all = try await s.list(.prefix("/r/"), at: nil, limit: nil, continueAfter: nil)
        try check(all.items.count == 5 && all.items.map(\.key) == all.items.map(\.key).sorted(), "full list order")
    }

    static func listPages(_ s: any StorageBackend) async throws {
        for i in 0..<25 {
            _ = try created(try await s.create(k("/r/p/\(1000 + i)"), value: v("\(i)"), lease: nil))
        }
        var seen: [String] = []
        var after: StorageKey? = nil
        var snapshot: Revision? = nil
        var pages = 0
        repeat {
            let page = try await s.list(.prefix("/r/p/"), at: snapshot, limit: 10, continueAfter: after)
            if snapshot == nil {
                snapshot = page.revision
                // Writes after the first page must not show up in later pages of the same list.
                _ = try created(try await s.create(k("/r/p/1001x"), value: v("late"), lease: nil))
                _ = try await s.delete(k("/r/p/1024"), ifRevision: nil)
            }
            try check(page.revision == snapshot, "page read at another revision")
            seen += page.items.map(\.key.rawValue)
            pages += 1
            if page.hasMore, let r = page.remaining {
                try check(r == 25 - seen.count, "remaining \(r) after \(seen.count)")
            }
            after = page.hasMore ? page.items.last?.key : nil
        } while after != nil
        try check(pages == 3, "pages: \(pages)")
        try check(seen == (0..<25).map { "/r/p/\(1000 + $0)" }, "pages saw \(seen)")
    }

    static func readAtRevision(_ s: any StorageBackend) async throws {
        let a = try created(try await s.create(k("/r/a"), value: v("1"), lease: nil))
        let b = try updated(try await s.update(k("/r/a"), value: v("2"), ifRevision: a.modRevision, lease: nil))
        _ = try await s.delete(k("/r/a"), ifRevision: nil)
        try check(try await s.get(k("/r/a"), at: a.modRevision)?.value == v("1"), "get at first revision")
        try check(try await s.get(k("/r/a"), at: b.modRevision)?.value == v("2"), "get at second revision")
        try check(try await s.get(k("/r/a"), at: nil) == nil, "get now after delete")
        let old = try await s.list(.prefix("/r/"), at: a.modRevision, limit: nil, continueAfter: nil)
        try check(old.items.map(\.value) == [v("1")], "list at first revision: \(old.items)")
        let now = try await s.list(.prefix("/r/"), at: nil, limit: nil, continueAfter: nil)
        try check(now.items.isEmpty, "list now after delete")
    }

    static func countRange(_ s: any StorageBackend) async throws {
        for key in ["/r/a/1", "/r/a/2", "/r/b/1"] { _ = try await s.create(k(key), value: v("x"), lease: nil) }
        try check(try await s.count(.prefix("/r/a/")) == 2, "count /r/a/")
        try check(try await s.count(.prefix("/r/")) == 3, "count /r/")
    }

    static func watchReplayAndLive(_ s: any StorageBackend) async throws {
        let start = try await s.currentRevision()
        let a = try created(try await s.create(k("/r/a"), value: v("1"), lease: nil))
        let b = try updated(try await s.update(k("/r/a"), value: v("2"), ifRevision: a.modRevision, lease: nil))
        let stream = s.watch(.prefix("/r/"), from: start)
        let live = Task {
            guard case .deleted = try await s.delete(k("/r/a"), ifRevision: nil) else {
                throw ConformanceFailure(description: "delete")
            }
            _ = try await s.create(k("/r/b"), value: v("3"), lease: nil)
        }
        try await live.value
        let events = try await collect(stream, count: 4)
        try check(events.count == 4, "got \(events.count) events")
        try check(events.map(\.revision) == events.map(\.revision).sorted(), "events out of order")
        try check(Set(events.map(\.revision)).count == 4, "an event repeated")
        guard case .put(let e0, nil) = events[0], e0 == a else { throw ConformanceFailure(description: "\(events[0])") }
        guard case .put(let e1, _) = events[1], e1 == b else { throw ConformanceFailure(description: "\(events[1])") }
        guard case .delete(let p2, _) = events[2], p2.value == v("2") else {
            throw ConformanceFailure(description: "\(events[2])")
        }
        guard case .put(let e3, nil) = events[3], e3.value == v("3") else {
            throw ConformanceFailure(description: "\(events[3])")
        }
        // Starting in the middle replays only what came after.
        let mid = try await collect(s.watch(.prefix("/r/"), from: b.modRevision), count: 2)
        try check(mid.map(\.revision) == events[2...].map(\.revision), "watch from middle: \(mid)")
    }

    static func watchWithoutPrevious(_ s: any StorageBackend) async throws {
        let start = try await s.currentRevision()
        let a = try created(try await s.create(k("/r/a"), value: v("1"), lease: nil))
        let b = try updated(try await s.update(k("/r/a"), value: v("2"), ifRevision: a.modRevision, lease: nil))
        guard case .deleted(_, let gone) = try await s.delete(k("/r/a"), ifRevision: nil) else {
            throw ConformanceFailure(description: "delete")
        }
        let c = try created(try await s.create(k("/r/c"), value: v("3"), lease: nil))
        let events = try await collect(s.watch(.prefix("/r/"), from: start, previousValues: false), count: 4)
        try check(events.count == 4, "got \(events.count) events")
        // The changes themselves are whole: values, revisions and the deleted key.
        guard case .put(let e0, _) = events[0], e0 == a else { throw ConformanceFailure(description: "\(events[0])") }
        guard case .put(let e1, let p1) = events[1], e1 == b else {
            throw ConformanceFailure(description: "\(events[1])")
        }
        // A previous value, where a backend gives one anyway, is the right one.
        try check(p1 == nil || p1 == a, "update's previous value is \(String(describing: p1))")
        guard case .delete(let p2, let r2) = events[2], p2.key == k("/r/a"), r2 == gone else {
            throw ConformanceFailure(description: "\(events[2])")
        }
        try check(p2.value.isEmpty || p2.value == v("2"), "deleted value \(p2.value)")
        guard case .put(let e3, _) = events[3], e3 == c else { throw ConformanceFailure(description: "\(events[3])") }
    }

    static func watchRange(_ s: any StorageBackend) async throws {
        let start = try await s.currentRevision()
        let stream = s.watch(.prefix("/r/b/"), from: start)
        _ = try await s.create(k("/r/a/1"), value: v("x"), lease: nil)
        _ = try await s.create(k("/r/b/1"), value: v("y"), lease: nil)
        _ = try await s.create(k("/r/bb/1"), value: v("z"), lease: nil)
        _ = try await s.create(k("/r/b/2"), value: v("w"), lease: nil)
        let events = try await collect(stream, count: 2)
        let keys = events.compactMap { e -> String? in
            if case .put(let kv, _) = e { return kv.key.rawValue } else { return nil }
        }
        try check(keys == ["/r/b/1", "/r/b/2"], "range watch saw \(keys)")
    }

    static func watchFromNow(_ s: any StorageBackend) async throws {
        _ = try await s.create(k("/r/old"), value: v("x"), lease: nil)
        let now = try await s.currentRevision()
        let stream = s.watch(.prefix("/r/"), from: now)
        let n = try created(try await s.create(k("/r/new"), value: v("y"), lease: nil))
        let events = try await collect(stream, count: 1)
        guard case .put(let kv, _) = events.first, kv == n else { throw ConformanceFailure(description: "\(events)") }
    }

    static func compaction(_ s: any StorageBackend) async throws {
        let a = try created(try await s.create(k("/r/a"), value: v("1"), lease: nil))
        let b = try updated(try await s.update(k("/r/a"), value: v("2"), ifRevision: a.modRevision, lease: nil))
        let c = try created(try await s.create(k("/r/c"), value: v("3"), lease: nil))
        _ = try await s.delete(k("/r/c"), ifRevision: nil)
        let d = try created(try await s.create(k("/r/d"), value: v("4"), lease: nil))
        try await s.compact(through: d.modRevision)
        try check(try await s.get(k("/r/a"), at: nil) == b, "latest value lost in compaction")
        try check(try await s.get(k("/r/d"), at: nil) == d, "latest value lost in compaction")
        try check(try await s.get(k("/r/c"), at: nil) == nil, "deleted key came back")
        do {
            _ = try await s.list(.prefix("/r/"), at: c.modRevision, limit: nil, continueAfter: nil)
            throw ConformanceFailure(description: "list at a compacted revision succeeded")
        } catch StorageError.compacted {}
        do {
            _ = try await collect(s.watch(.prefix("/r/"), from: a.modRevision), count: 1)
            throw ConformanceFailure(description: "watch from a compacted revision succeeded")
        } catch StorageError.compacted {}
        // A watch from the compaction revision still works.
        let stream = s.watch(.prefix("/r/"), from: d.modRevision)
        let e = try created(try await s.create(k("/r/e"), value: v("5"), lease: nil))
        let got = try await collect(stream, count: 1)
        try check(got.first?.revision == e.modRevision, "watch after compaction: \(got)")
    }

    static func compactionRounds(_ s: any StorageBackend) async throws {
        let x = try created(try await s.create(k("/r/x"), value: v("1"), lease: nil))
        let a = try created(try await s.create(k("/r/a"), value: v("1"), lease: nil))
        let first = try await s.compactionRound(CompactionRound())
        try check(first.revision >= a.modRevision, "first round recorded \(first.revision), before \(a.modRevision)")
        // The first round compacts nothing.
        _ = try await s.list(.prefix("/r/"), at: x.modRevision, limit: nil, continueAfter: nil)
        let b = try updated(try await s.update(k("/r/a"), value: v("2"), ifRevision: a.modRevision, lease: nil))
        let second = try await s.compactionRound(first)
        try check(second.turn == first.turn + 1, "turns \(first.turn) then \(second.turn)")
        try check(second.revision >= b.modRevision, "second round recorded \(second.revision), before \(b.modRevision)")
        do {
            _ = try await s.list(.prefix("/r/"), at: x.modRevision, limit: nil, continueAfter: nil)
            throw ConformanceFailure(description: "a read before the first round's revision survived the second round")
        } catch StorageError.compacted {}
        let atFirst = try await s.list(.prefix("/r/"), at: first.revision, limit: nil, continueAfter: nil)
        try check(atFirst.items.map(\.value) == [v("1"), v("1")], "at the first round: \(atFirst.items)")
        try check(try await s.get(k("/r/a"), at: b.modRevision)?.value == v("2"), "history after the round lost")
    }

    static func progressOrder(_ s: any StorageBackend) async throws {
        let start = try await s.currentRevision()
        let stream = s.watch(.prefix("/r/x/"), from: start)
        var last: Revision = 0
        for i in 0..<5 {
            let kv = try created(try await s.create(k("/r/x/\(i)"), value: v("\(i)"), lease: nil))
            _ = try await s.create(k("/r/other/\(i)"), value: v("\(i)"), lease: nil)
            last = kv.modRevision
        }
        // Read until a progress mark at or past the last write arrives; every event it covers must
        // have come before it.
        var puts: Set<Revision> = []
        for try await e in stream {
            switch e {
            case .put(let kv, _): puts.insert(kv.modRevision)
            case .delete(_, let r): puts.insert(r)
            case .progress(let r):
                let covered = (start + 1...max(start + 1, r)).filter { puts.contains($0) }.count
                let expected = puts.filter { $0 <= r }.count
                try check(covered == expected, "progress \(r) before its events")
                if r >= last {
                    try check(puts.count == 5, "progress \(r) sent before the 5 events it covers (saw \(puts.count))")
                    return
                }
            }
        }
    }

    static func revisionsClosed(_ s: any StorageBackend) async throws {
        let start = try await s.currentRevision()
        var stream = s.watch(.prefix("/r/c/"), from: start).makeAsyncIterator()
        func nextEvent() async throws -> WatchEvent {
            while let e = try await stream.next() {
                if case .progress = e { continue }
                return e
            }
            throw ConformanceFailure(description: "watch ended")
        }
        // A watcher learns that a revision is complete (no more of its events are coming) from a
        // later event or a mark at or past it. The mark follows the events of each write at once:
        // it comes before the next write's events, not only when a periodic mark is due.
        for i in 0..<3 {
            let rev = try created(try await s.create(k("/r/c/\(i)"), value: v("\(i)"), lease: nil)).modRevision
            let e = try await nextEvent()
            try check(e.revision == rev, "event at \(e.revision), expected \(rev)")
            let next = try created(try await s.create(k("/r/c/next-\(i)"), value: v("n"), lease: nil)).modRevision
            guard let after = try await stream.next() else { throw ConformanceFailure(description: "watch ended") }
            guard case .progress(let r) = after, r >= rev else {
                throw ConformanceFailure(description: "after the event at \(rev) came \(after), not a mark closing it")
            }
            try check(try await nextEvent().revision == next, "the next write's event")
        }
    }

    static func concurrentUpdates(_ s: any StorageBackend) async throws {
        let a = try created(try await s.create(k("/r/n"), value: v("0"), lease: nil))
        // 8 writers race to increment the value with compare-and-swap; every increment must land
        // exactly once.
        try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    var wins = 0
                    while wins < 5 {
                        let cur = try await s.get(k("/r/n"), at: nil)!
                        let n = Int(String(decoding: cur.value, as: UTF8.self))!
                        if case .updated = try await s.update(
                            k("/r/n"), value: v("\(n + 1)"), ifRevision: cur.modRevision, lease: nil)
                        {
                            wins += 1
                        }
                    }
                    return wins
                }
            }
            var total = 0
            for try await w in group { total += w }
            try check(total == 40, "wins \(total)")
        }
        let end = try await s.get(k("/r/n"), at: nil)!
        try check(String(decoding: end.value, as: UTF8.self) == "40", "final value \(end.value)")
        try check(end.createRevision == a.createRevision, "create revision changed")
    }

    static func leaseExpiry(_ s: any StorageBackend) async throws {
        let lease = try await s.grantLease(ttlSeconds: 1)
        let start = try await s.currentRevision()
        let stream = s.watch(.prefix("/r/"), from: start)
        let kv = try created(try await s.create(k("/r/ev"), value: v("x"), lease: lease))
        try check(kv.lease == lease, "lease not recorded")
        _ = try await s.create(k("/r/keep"), value: v("y"), lease: nil)
        let events = try await collect(stream, count: 3)
        guard case .delete(let prev, _) = events.last, prev.key == k("/r/ev") else {
            throw ConformanceFailure(description: "expiry event: \(events)")
        }
        try check(try await s.get(k("/r/ev"), at: nil) == nil, "leased key survived expiry")
        try check(try await s.get(k("/r/keep"), at: nil) != nil, "unleased key deleted")
    }
}
