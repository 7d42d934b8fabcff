import Storage
import Synchronization
import Testing

@testable import APIServer

/// A cache feed that has applied events up to `applied`; progress marks (when requested and
/// honoured) move it to the store's revision.
final class FakeFeed: Sendable {
    let applied: Mutex<Revision>
    let storeRevision: Revision
    init(applied: Revision, store: Revision) {
        self.applied = Mutex(applied)
        storeRevision = store
    }
    func wait(_ rev: Revision) -> Bool { applied.withLock { $0 >= rev } }
}

/// A stand-in for etcd's progress requests: `ordered` says whether the server version orders
/// requested marks with events; a request moves the feed to the store's revision.
final class FakeProgress: ProgressRequesting {
    let ordered: Bool
    let feed: FakeFeed
    let requests = Mutex(0)
    init(ordered: Bool, feed: FakeFeed) {
        self.ordered = ordered
        self.feed = feed
    }
    func requestedProgressIsOrdered() async -> Bool { ordered }
    func requestProgress() {
        requests.withLock { $0 += 1 }
        feed.applied.withLock { $0 = feed.storeRevision }
    }
}

@Suite("Consistent reads: from the cache only when it is provably fresh")
struct ConsistentReadsTests {
    func reads(_ feed: FakeFeed, _ progress: (any ProgressRequesting)?) -> ConsistentReads {
        var r = ConsistentReads(
            currentRevision: { feed.storeRevision }, waitForCache: { rev, _ in feed.wait(rev) }, progress: progress)
        r.eventWait = .milliseconds(1)
        r.progressWait = .milliseconds(1)
        return r
    }

    @Test("a cache that has seen the store's revision serves the read without asking for progress")
    func freshCache() async throws {
        let feed = FakeFeed(applied: 10, store: 10)
        let progress = FakeProgress(ordered: true, feed: feed)
        #expect(try await reads(feed, progress).plan() == .cache(10))
        #expect(progress.requests.withLock { $0 } == 0)
    }

    @Test("a lagging cache on a server with ordered progress asks for a mark and serves from the cache")
    func fastPath() async throws {
        let feed = FakeFeed(applied: 7, store: 12)
        let progress = FakeProgress(ordered: true, feed: feed)
        #expect(try await reads(feed, progress).plan() == .cache(12))
        #expect(progress.requests.withLock { $0 } == 1)
    }

    @Test("a lagging cache on a server whose requested progress may overtake events reads the store")
    func fallback() async throws {
        let feed = FakeFeed(applied: 7, store: 12)
        let progress = FakeProgress(ordered: false, feed: feed)
        #expect(try await reads(feed, progress).plan() == .store(12))
        #expect(progress.requests.withLock { $0 } == 0, "an unordered progress mark must not be requested")
        #expect(feed.applied.withLock { $0 } == 7)
    }

    @Test("a lagging cache with no progress source reads the store")
    func noProgress() async throws {
        let feed = FakeFeed(applied: 3, store: 4)
        #expect(try await reads(feed, nil).plan() == .store(4))
    }

}

@Suite("Revision reads shared among concurrent consistent reads")
struct RevisionBatcherTests {
    /// A store whose revision read takes a while and counts calls; the revision is bumped by writes.
    final class SlowStore: Sendable {
        let revision = Mutex<Revision>(1)
        let calls = Mutex(0)
        func read() async throws -> Revision {
            let r = revision.withLock { $0 }
            calls.withLock { $0 += 1 }
            try await Task.sleep(for: .milliseconds(20))
            return r
        }
    }

    @Test("many reads arriving together cost far fewer store reads, each seeing the revision current at its arrival")
    func batches() async throws {
        let store = SlowStore()
        let batcher = RevisionBatcher { try await store.read() }
        let results = try await withThrowingTaskGroup(of: (Revision, Revision).self) { group in
            for i in 0..<64 {
                group.addTask {
                    if i % 8 == 0 { store.revision.withLock { $0 += 1 } }
                    let seenAtArrival = store.revision.withLock { $0 }
                    return (seenAtArrival, try await batcher.currentRevision())
                }
            }
            var out: [(Revision, Revision)] = []
            for try await r in group { out.append(r) }
            return out
        }
        #expect(results.count == 64)
        for (arrival, got) in results { #expect(got >= arrival, "a read returned a revision older than its arrival") }
        #expect(store.calls.withLock { $0 } < 32, "reads were not shared: \(store.calls.withLock { $0 })")
    }
}
