import Storage
import Synchronization
import Testing

@testable import APIServer

/// A store whose watch the test drives: `send` delivers an event on the open watch. Only what the
/// feeder uses is implemented; the rest is never called by these tests.
final class ScriptedStore: StorageBackend {
    let startRevision: Revision
    let watchFrom = Mutex<[Revision]>([])
    private let sink = Mutex<AsyncThrowingStream<WatchEvent, any Error>.Continuation?>(nil)

    init(revision: Revision) { startRevision = revision }

    func send(_ e: WatchEvent) { _ = sink.withLock { $0 }?.yield(e) }
    /// Ends the open watch with an error, as a lost connection does.
    func fail() { sink.withLock { $0 }?.finish(throwing: StorageError.unavailable("connection lost")) }
    var watching: Bool { sink.withLock { $0 != nil } }

    func watch(_ range: KeyRange, from revision: Revision) -> AsyncThrowingStream<WatchEvent, any Error> {
        let (stream, c) = AsyncThrowingStream.makeStream(of: WatchEvent.self, throwing: (any Error).self)
        watchFrom.withLock { $0.append(revision) }
        sink.withLock { $0 = c }
        return stream
    }
    func currentRevision() async throws -> Revision { startRevision }
    func list(_ range: KeyRange, at revision: Revision?, limit: Int?, continueAfter: StorageKey?) async throws
        -> ListPage
    { ListPage(items: [], revision: revision ?? startRevision, hasMore: false, remaining: 0) }
    func get(_ key: StorageKey, at revision: Revision?) async throws -> KeyValue? { fatalError("unused") }
    func create(_ key: StorageKey, value: [UInt8], lease: LeaseID?) async throws -> CreateResult {
        fatalError("unused")
    }
    func update(_ key: StorageKey, value: [UInt8], ifRevision expected: Revision, lease: LeaseID?) async throws
        -> UpdateResult
    { fatalError("unused") }
    func delete(_ key: StorageKey, ifRevision expected: Revision?) async throws -> DeleteResult {
        fatalError("unused")
    }
    func count(_ range: KeyRange) async throws -> Int { 0 }
    func compact(through revision: Revision) async throws {}
    func grantLease(ttlSeconds: Int64) async throws -> LeaseID { 1 }
}

/// A cache that records what reaches it, in order.
final class RecordingCache: FeedableCache {
    let keyPrefix: String
    let seen = Mutex<[String]>([])
    init(keyPrefix: String) { self.keyPrefix = keyPrefix }
    func load(_ items: [KeyValue], revision: Revision) {}
    func apply(_ event: WatchEvent) {
        let entry: String
        switch event {
        case .put(let kv, _): entry = "put \(kv.key.rawValue.split(separator: "/").last!)@\(kv.modRevision)"
        case .delete(let p, let r): entry = "delete \(p.key.rawValue.split(separator: "/").last!)@\(r)"
        case .progress(let r): entry = "progress@\(r)"
        }
        seen.withLock { $0.append(entry) }
    }
    func advance(to revision: Revision) {}
}

@Suite("Cache feeder: our acknowledged writes reach the cache without waiting for the store's watch")
struct CacheFeederTests {
    static func put(_ name: String, _ rev: Revision) -> WatchEvent {
        .put(
            KeyValue(
                key: StorageKey("/registry/configmaps/default/\(name)"), value: [1], createRevision: rev,
                modRevision: rev, lease: nil),
            previous: nil)
    }

    func started(at rev: Revision) async throws -> (CacheFeeder, ScriptedStore, RecordingCache) {
        let store = ScriptedStore(revision: rev)
        let feeder = CacheFeeder(store: store, prefix: "/registry/")
        let cache = RecordingCache(keyPrefix: "/registry/configmaps/")
        feeder.register(cache)
        try await feeder.start()
        try await eventually { store.watching }
        return (feeder, store, cache)
    }

    /// Waits (about 2 s at most) until `condition` holds; the expectations after it tell.
    func eventually(_ condition: () -> Bool) async throws {
        for _ in 0..<2000 where !condition() { try await Task.sleep(for: .milliseconds(1)) }
    }

    /// Waits until the cache has seen `count` events.
    func settle(_ cache: RecordingCache, count: Int) async throws {
        try await eventually { cache.seen.withLock { $0.count } >= count }
    }

    /// Waits until the feeder has applied through `revision`.
    func settle(_ feeder: CacheFeeder, revision: Revision) async throws {
        try await eventually { feeder.revision >= revision }
    }

    @Test("a write right after the applied revision is applied at once and its watch copy is skipped")
    func contiguousOffer() async throws {
        let (feeder, store, cache) = try await started(at: 10)
        defer { feeder.stop() }
        feeder.offer(Self.put("a", 11))
        #expect(feeder.revision == 11)
        #expect(cache.seen.withLock { $0 } == ["put a@11"])
        store.send(Self.put("a", 11))
        store.send(Self.put("b", 12))
        store.send(.progress(12))
        try await settle(feeder, revision: 12)
        #expect(cache.seen.withLock { $0 } == ["put a@11", "put b@12"])
        #expect(feeder.revision == 12)
    }

    @Test("a write after a gap waits for the watch to fill the gap, then follows it in order")
    func gapHeld() async throws {
        let (feeder, store, cache) = try await started(at: 10)
        defer { feeder.stop() }
        feeder.offer(Self.put("c", 13))
        feeder.offer(Self.put("b", 12))
        #expect(feeder.revision == 10)
        #expect(cache.seen.withLock { $0 }.isEmpty)
        store.send(Self.put("x", 11))  // another server's write
        store.send(.progress(11))
        try await settle(feeder, revision: 13)
        #expect(cache.seen.withLock { $0 } == ["put x@11", "put b@12", "put c@13"])
        // The watch's own copies of 12 and 13 are not applied twice; later events still are.
        store.send(Self.put("b", 12))
        store.send(Self.put("c", 13))
        store.send(.delete(previous: Self.put("c", 13).kv, revision: 14))
        store.send(.progress(14))
        try await settle(feeder, revision: 14)
        #expect(cache.seen.withLock { $0 } == ["put x@11", "put b@12", "put c@13", "delete c@14"])
    }

    @Test("an offer the watch already delivered is ignored, and a gap the watch skips does not block")
    func staleAndSkippedOffers() async throws {
        let (feeder, store, cache) = try await started(at: 10)
        defer { feeder.stop() }
        store.send(Self.put("a", 11))
        store.send(.progress(11))
        try await settle(feeder, revision: 11)
        feeder.offer(Self.put("a", 11))
        // Revision 12 went to a key outside the watched prefix: the watch never shows it, so the
        // offer of 13 stays held until the watch delivers 13 itself.
        feeder.offer(Self.put("b", 13))
        #expect(feeder.revision == 11)
        #expect(cache.seen.withLock { $0 } == ["put a@11"])
        store.send(Self.put("b", 13))
        store.send(.progress(15))
        try await settle(feeder, revision: 15)
        feeder.offer(Self.put("c", 16))
        #expect(cache.seen.withLock { $0 } == ["put a@11", "put b@13", "put c@16"])
        #expect(feeder.revision == 16)
    }

    @Test("a revision with several events stays open until a mark closes it; no offer slips in between")
    func multiKeyRevision() async throws {
        let (feeder, store, cache) = try await started(at: 10)
        defer { feeder.stop() }
        store.send(Self.put("a", 11))
        try await settle(cache, count: 1)
        // b@11 (same transaction as a@11) has not arrived yet: 11 is not complete.
        #expect(feeder.revision == 10)
        feeder.offer(Self.put("c", 12))
        #expect(cache.seen.withLock { $0 } == ["put a@11"])
        store.send(Self.put("b", 11))
        store.send(.progress(11))
        try await settle(feeder, revision: 12)
        store.send(Self.put("c", 12))
        store.send(Self.put("d", 13))
        store.send(.progress(13))
        try await settle(feeder, revision: 13)
        #expect(cache.seen.withLock { $0 } == ["put a@11", "put b@11", "put c@12", "put d@13"])
    }

    @Test("a watch that breaks inside a revision resumes before it, so none of its events is lost")
    func resumeMidRevision() async throws {
        let (feeder, store, cache) = try await started(at: 10)
        defer { feeder.stop() }
        store.send(Self.put("a", 11))
        try await settle(cache, count: 1)
        store.fail()
        try await eventually { store.watchFrom.withLock { $0.count } >= 2 }
        #expect(store.watchFrom.withLock { $0 } == [10, 10])
    }

    @Test("waiters for a revision wake when an offer applies it")
    func waitersWake() async throws {
        let (feeder, _, _) = try await started(at: 10)
        defer { feeder.stop() }
        async let woke = feeder.wait(for: 11, timeout: .seconds(5))
        try await Task.sleep(for: .milliseconds(20))
        feeder.offer(Self.put("a", 11))
        #expect(await woke)
    }
}

extension WatchEvent {
    var kv: KeyValue {
        switch self {
        case .put(let kv, _): return kv
        case .delete(let p, _): return p
        case .progress: fatalError("no key")
        }
    }
}
