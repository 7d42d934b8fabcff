import APIMachinery
import Foundation
import KubernetesAPI
import Storage
import Synchronization

/// Which objects a list or watch wants.
struct ObjectFilter: Sendable {
    var namespace: String?
    var name: String?
    var labels: (@Sendable ([String: String]) -> Bool)?
    var fields: (@Sendable ([String: String]) -> Bool)?

    static let everything = ObjectFilter()

    var isEverything: Bool { namespace == nil && name == nil && labels == nil && fields == nil }
}

/// A cached object with its encodings, computed once per (version, format) and shared by every
/// list and watcher that sends it.
final class CachedObject<T: StoredKind>: @unchecked Sendable {
    let key: String
    let object: T
    let revision: Revision
    let fieldSet: [String: String]
    private let lock = Mutex<[String: [UInt8]]>([:])

    init(key: String, object: T, revision: Revision, fieldSet: [String: String]) {
        self.key = key
        self.object = object
        self.revision = revision
        self.fieldSet = fieldSet
    }

    var namespace: String { object.metadata.namespace }
    var name: String { object.metadata.name }

    /// The encoding `tag` of this object, computing it with `make` the first time.
    func encoding(_ tag: String, _ make: (T) -> [UInt8]) -> [UInt8] {
        if let b = lock.withLock({ $0[tag] }) { return b }
        let b = make(object)
        lock.withLock { $0[tag] = b }
        return b
    }

    func matches(_ f: ObjectFilter) -> Bool {
        if let ns = f.namespace, object.metadata.namespace != ns { return false }
        if let n = f.name, object.metadata.name != n { return false }
        if let l = f.labels, !l(object.metadata.labels) { return false }
        if let fl = f.fields, !fl(fieldSet) { return false }
        return true
    }
}

enum CacheEventType: String, Sendable {
    case added = "ADDED", modified = "MODIFIED", deleted = "DELETED", bookmark = "BOOKMARK", error = "ERROR"
}

/// An event of one resource's cache.
struct CacheEvent<T: StoredKind>: Sendable {
    var type: CacheEventType
    /// The object after the change (for a delete, its last state with the delete's revision).
    var object: CachedObject<T>?
    var previous: CachedObject<T>?
    var revision: Revision
    /// For bookmarks: marks the end of the initial events of a watch-list.
    var initialEventsEnd = false
}

/// What the cache feeder needs from each resource's cache.
protocol FeedableCache: AnyObject, Sendable {
    var keyPrefix: String { get }
    func load(_ items: [KeyValue], revision: Revision)
    func apply(_ event: WatchEvent)
    func advance(to revision: Revision)
}

/// One resource's objects in memory, fed by the storage watch: serves LIST (any resourceVersion
/// the cache has caught up with) and WATCH (from any revision still in its event window).
final class WatchCache<T: StoredKind>: FeedableCache, @unchecked Sendable {
    typealias Event = CacheEvent<T>

    struct Watcher {
        var filter: ObjectFilter
        var continuation: AsyncStream<Event>.Continuation
    }

    struct State {
        var objects: [String: CachedObject<T>] = [:]
        var sortedKeys: [String]? = nil
        var revision: Revision = 0
        var events: [Event] = []
        var eventsHead = 0
        /// Events with revision ≤ this are no longer in the window.
        var windowStart: Revision = 0
        var watchers: [Int: Watcher] = [:]
        var nextWatcher = 0
    }

    let keyPrefix: String
    let decode: @Sendable (KeyValue) throws -> T
    let fieldsOf: @Sendable (T) -> [String: String]
    let capacity: Int
    let state = Mutex(State())
    /// Bumps on every change of the contents (loads, puts, deletes): readers that compile
    /// something from a small cache (admission configuration) rebuild when it moves.
    let changes = Atomic<Int>(0)

    init(
        keyPrefix: String, capacity: Int = 4096, decode: @escaping @Sendable (KeyValue) throws -> T,
        fieldsOf: @escaping @Sendable (T) -> [String: String]
    ) {
        self.keyPrefix = keyPrefix
        self.capacity = capacity
        self.decode = decode
        self.fieldsOf = fieldsOf
    }

    func makeEntry(_ kv: KeyValue) -> CachedObject<T>? {
        guard let obj = try? decode(kv) else { return nil }
        return CachedObject(key: kv.key.rawValue, object: obj, revision: kv.modRevision, fieldSet: fieldsOf(obj))
    }

    /// Replaces the cache's contents with a fresh read at `revision`. Watchers of the old contents
    /// end (their events between the two may be unknown); the event window restarts here.
    func load(_ items: [KeyValue], revision: Revision) {
        let entries = items.compactMap(makeEntry)
        defer { changes.add(1, ordering: .releasing) }
        let ended = state.withLock { s -> [Watcher] in
            s.objects = [:]
            for e in entries { s.objects[e.key] = e }
            s.sortedKeys = nil
            s.revision = revision
            s.windowStart = revision
            s.events = []
            s.eventsHead = 0
            return Self.takeWatchers(&s)
        }
        for w in ended { w.continuation.finish() }
    }

    /// Removes every watcher from the state, for the caller to finish outside the lock.
    static func takeWatchers(_ s: inout State) -> [Watcher] {
        let ws = Array(s.watchers.values)
        s.watchers = [:]
        return ws
    }

    func advance(to revision: Revision) {
        state.withLock { s in s.revision = max(s.revision, revision) }
    }

    func apply(_ event: WatchEvent) {
        let ev: Event
        let key: String
        switch event {
        case .progress(let r):
            advance(to: r)
            return
        case .put(let kv, _):
            guard let entry = makeEntry(kv) else { return }
            ev = Event(type: .added, object: entry, previous: nil, revision: kv.modRevision)
            key = kv.key.rawValue
        case .delete(let prev, let rev):
            ev = Event(type: .deleted, object: nil, previous: nil, revision: rev)
            key = prev.key.rawValue
        }
        defer { changes.add(1, ordering: .releasing) }
        state.withLock { s in
            var e = ev
            let old = s.objects[key]
            if e.type == .deleted {
                guard let old else { return }
                s.objects[key] = nil
                s.sortedKeys = nil
                // The deleted object as last seen, carrying the delete's revision.
                e.object = CachedObject(
                    key: key, object: Self.withResourceVersion(old.object, e.revision), revision: e.revision,
                    fieldSet: old.fieldSet)
                e.previous = old
            } else {
                // The same write delivered again (a watch resumed within one revision's events).
                if let old, old.revision == e.revision { return }
                if old == nil { s.sortedKeys = nil } else { e.type = .modified }
                e.previous = old
                s.objects[key] = e.object
            }
            s.revision = max(s.revision, e.revision)
            if s.events.count < capacity {
                s.events.append(e)
            } else {
                s.windowStart = s.events[s.eventsHead].revision
                s.events[s.eventsHead] = e
                s.eventsHead = (s.eventsHead + 1) % capacity
            }
            for (_, w) in s.watchers {
                if let out = Self.project(e, for: w.filter) { w.continuation.yield(out) }
            }
        }
    }

    static func withResourceVersion(_ t: T, _ rev: Revision) -> T {
        var t = t
        t.metadata.resourceVersion = String(rev)
        return t
    }

    /// What a watcher with `filter` sees of an event: objects moving into the filter are ADDED,
    /// moving out are DELETED, as upstream's cacher does.
    static func project(_ e: Event, for filter: ObjectFilter) -> Event? {
        if filter.isEverything { return e }
        let now = e.type == .deleted ? false : (e.object?.matches(filter) ?? false)
        let before = e.previous?.matches(filter) ?? false
        switch (before, now) {
        case (false, false): return nil
        case (true, true): return e
        case (false, true):
            var x = e
            x.type = .added
            return x
        case (true, false):
            var x = e
            x.type = .deleted
            if e.type != .deleted, let o = e.object { x.object = o }
            return x
        }
    }

    /// The cache's revision and the objects matching `filter`, in key order.
    func snapshot(_ filter: ObjectFilter) -> (revision: Revision, items: [CachedObject<T>]) {
        state.withLock { s in
            if let name = filter.name {
                // A name (metadata.name=…, a watch of one object) is a key lookup when the key is known.
                let key = filter.namespace.map { keyPrefix + $0 + "/" + name } ?? keyPrefix + name
                if let o = s.objects[key] { return (s.revision, o.matches(filter) ? [o] : []) }
                if filter.namespace != nil { return (s.revision, []) }
                let hits = s.objects.values.filter { $0.name == name && $0.matches(filter) }
                return (s.revision, hits.sorted { $0.key < $1.key })
            }
            if s.sortedKeys == nil {
                s.sortedKeys = s.objects.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) })
            }
            var out: [CachedObject<T>] = []
            for k in s.sortedKeys! {
                let o = s.objects[k]!
                if o.matches(filter) { out.append(o) }
            }
            return (s.revision, out)
        }
    }

    func get(_ key: String) -> (revision: Revision, object: CachedObject<T>?) {
        state.withLock { s in (s.revision, s.objects[key]) }
    }

    var revision: Revision { state.withLock { $0.revision } }

    var count: Int { state.withLock { $0.objects.count } }

    enum WatchStart {
        case stream(AsyncStream<Event>, initial: [Event], revision: Revision)
        case tooOld(oldest: Revision)
    }

    /// Starts a watch. `from` nil: initial ADDED events for the current state, then changes
    /// (resourceVersion unset or 0); otherwise every change after `from` still in the window.
    func watch(from: Revision?, filter: ObjectFilter) -> (id: Int, start: WatchStart) {
        let (stream, cont) = AsyncStream.makeStream(of: Event.self, bufferingPolicy: .unbounded)
        return state.withLock { s in
            var initial: [Event] = []
            if let from {
                if from < s.windowStart { return (-1, .tooOld(oldest: s.windowStart + 1)) }
                let n = s.events.count
                for i in 0..<n {
                    let e = s.events[(s.eventsHead + i) % max(n, 1)]
                    if e.revision > from, let p = Self.project(e, for: filter) { initial.append(p) }
                }
            } else {
                let keys = s.sortedKeys ?? s.objects.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) })
                s.sortedKeys = keys
                for k in keys {
                    let o = s.objects[k]!
                    if o.matches(filter) {
                        initial.append(Event(type: .added, object: o, previous: nil, revision: o.revision))
                    }
                }
            }
            let id = s.nextWatcher
            s.nextWatcher += 1
            s.watchers[id] = Watcher(filter: filter, continuation: cont)
            let revision = s.revision
            return (id, .stream(stream, initial: initial, revision: revision))
        }
    }

    func stopWatch(_ id: Int) {
        let w = state.withLock { $0.watchers.removeValue(forKey: id) }
        w?.continuation.finish()
    }

    /// Sends a bookmark at the cache's revision to one watcher (under the lock, so it never
    /// precedes an event it covers).
    func bookmark(_ id: Int) {
        state.withLock { s in
            s.watchers[id]?.continuation.yield(Event(type: .bookmark, object: nil, previous: nil, revision: s.revision))
        }
    }

    var watcherCount: Int { state.withLock { $0.watchers.count } }
}

/// A cache whose watchers can be ended (its resource stops being served as it was).
protocol EndableCache {
    func endWatchers()
}

extension WatchCache: EndableCache {
    func endWatchers() {
        let ended = state.withLock { Self.takeWatchers(&$0) }
        for w in ended { w.continuation.finish() }
    }
}

/// Stands in for a cache being attached: keeps the events of its prefix until the cache has
/// read its contents (only touched under the feeder's lock).
final class HoldingCache: FeedableCache, @unchecked Sendable {
    let keyPrefix: String
    var held: [WatchEvent] = []

    init(keyPrefix: String) { self.keyPrefix = keyPrefix }

    func load(_ items: [KeyValue], revision: Revision) {}
    func apply(_ event: WatchEvent) { held.append(event) }
    func advance(to revision: Revision) {}
}

/// Feeds every resource cache from one storage watch over the whole key space and tracks the
/// revision up to which all caches are complete.
///
/// The API server's own acknowledged writes are offered too: a write whose revision directly
/// follows the last one applied is applied at once, without waiting for the storage watch to
/// deliver it (the watch's copy is then skipped). That is exact because a revision belongs to one
/// transaction and our writes are single-key transactions: nothing else happened at it.
final class CacheFeeder: @unchecked Sendable {
    let store: any StorageBackend
    let prefix: String
    private let caches: Mutex<[String: any FeedableCache]> = Mutex([:])
    struct Waiter {
        var revision: Revision
        var continuation: CheckedContinuation<Bool, Never>
    }
    struct Applied {
        var revision: Revision = 0
        var waiters: [Int: Waiter] = [:]
        var nextWaiter = 0
        /// The caches being fed, once loaded.
        var all: [String: any FeedableCache]? = nil
        /// Offered writes not yet contiguous with `revision`.
        var pending: [Revision: WatchEvent] = [:]
        /// The newest revision the storage watch has delivered an event or mark for.
        var watched: Revision = 0
    }
    private let applied = Mutex(Applied())
    private var task: Task<Void, Never>?
    /// Offers kept while waiting for the watch to fill the gap before them.
    static let maxPending = 4096

    init(store: any StorageBackend, prefix: String) {
        self.store = store
        self.prefix = prefix
    }

    func register(_ cache: any FeedableCache) {
        caches.withLock { $0[cache.keyPrefix] = cache }
    }

    var revision: Revision { applied.withLock { $0.revision } }

    /// Loads every cache at one revision, then follows the store's changes.
    func start() async throws {
        let all = caches.withLock { $0 }
        let rev = try await loadAll(all)
        task = Task.detached { [weak self] in await self?.follow(from: rev) }
    }

    /// Adds (or replaces) a cache while the feed runs (custom resources come and go): events of
    /// its prefix are held from now on, its contents are read at a revision every applied event
    /// covers, then the held events newer than that read are applied and it joins the feed. A
    /// replaced cache's watchers end.
    func attach(_ cache: any FeedableCache) async throws {
        let prefix = cache.keyPrefix
        let holding = HoldingCache(keyPrefix: prefix)
        let (running, from, replaced) = update { s -> (Bool, Revision, (any FeedableCache)?) in
            guard s.all != nil else { return (false, 0, nil) }
            let old = s.all?[prefix]
            s.all?[prefix] = holding
            return (true, max(s.revision, s.watched), old)
        }
        caches.withLock { $0[prefix] = cache }
        guard running else { return }
        (replaced as? any EndableCache)?.endWatchers()
        var items: [KeyValue] = []
        var after: StorageKey? = nil
        repeat {
            let page = try await store.list(.prefix(prefix), at: from, limit: 5000, continueAfter: after)
            items += page.items
            after = page.hasMore ? page.items.last?.key : nil
        } while after != nil
        update { s in
            cache.load(items, revision: from)
            for e in holding.held where e.revision > from { cache.apply(e) }
            cache.advance(to: s.revision)
            s.all?[prefix] = cache
        }
    }

    /// Stops feeding the cache of `prefix`; its watchers end.
    func detach(_ prefix: String) {
        let old = caches.withLock { $0.removeValue(forKey: prefix) }
        update { s in _ = s.all?.removeValue(forKey: prefix) }
        (old as? any EndableCache)?.endWatchers()
    }

    /// Reads every key under the prefix at one revision into the caches.
    private func loadAll(_ all: [String: any FeedableCache]) async throws -> Revision {
        var rev = try await store.currentRevision()
        var byCache: [String: [KeyValue]] = [:]
        var after: StorageKey? = nil
        repeat {
            let page = try await store.list(
                .prefix(prefix), at: after == nil ? nil : rev, limit: 5000, continueAfter: after)
            rev = page.revision
            for kv in page.items {
                if let c = cacheFor(kv.key.rawValue, all) { byCache[c.keyPrefix, default: []].append(kv) }
            }
            after = page.hasMore ? page.items.last?.key : nil
        } while after != nil
        let loaded = rev
        update { s in
            for (p, c) in all { c.load(byCache[p] ?? [], revision: loaded) }
            s.all = all
            s.pending = [:]
            s.revision = loaded
            s.watched = loaded
        }
        return rev
    }

    /// Follows the store's watch from `rev`. A watch that fails (the store restarted or is
    /// unreachable) resumes from the last revision applied, so no event is lost or repeated; when
    /// that revision has been compacted meanwhile, every cache reloads and ends its watchers,
    /// whose clients then resume or get 410 Expired and relist.
    private func follow(from rev: Revision) async {
        var from = rev
        var delay = Swift.Duration.milliseconds(100)
        while !Task.isCancelled {
            do {
                // The caches hold every previous value themselves.
                for try await e in store.watch(.prefix(prefix), from: from, previousValues: false) {
                    update { s in self.fromWatch(e, &s) }
                    delay = Swift.Duration.milliseconds(100)
                }
            } catch StorageError.compacted {
                FileHandle.standardError.write(
                    Data("storage watch: revision \(from) compacted; reloading caches\n".utf8))
                do {
                    from = try await loadAll(caches.withLock { $0 })
                    continue
                } catch {}
            } catch {
                if Task.isCancelled { return }
                FileHandle.standardError.write(Data("storage watch ended: \(error); resuming from \(from)\n".utf8))
            }
            // Everything up to the applied revision is in the caches; the new watch starts after
            // it. Events of a revision the old watch delivered only in part come again; the caches
            // drop the copies they already hold.
            from = update { s in
                s.watched = s.revision
                return s.revision
            }
            try? await Task.sleep(for: delay)
            delay = min(delay * 2, Swift.Duration.seconds(2))
        }
    }

    func stop() { task?.cancel() }

    private func cacheFor(_ key: String, _ all: [String: any FeedableCache]) -> (any FeedableCache)? {
        // Keys are <prefix><resource-part>/...; resource parts have one or two segments.
        var idx = key.index(key.startIndex, offsetBy: prefix.count, limitedBy: key.endIndex) ?? key.endIndex
        for _ in 0..<3 {
            guard let slash = key[idx...].firstIndex(of: "/") else { return nil }
            let p = String(key[...slash])
            if let c = all[p] { return c }
            idx = key.index(after: slash)
        }
        return nil
    }

    /// Runs `body` on the feed state, then wakes the waiters the applied revision now satisfies.
    /// Caches are changed only inside, so events reach them in revision order.
    @discardableResult
    private func update<R>(_ body: (inout Applied) -> R) -> R {
        let (result, ready) = applied.withLock { s -> (R, [CheckedContinuation<Bool, Never>]) in
            let before = s.revision
            let result = body(&s)
            guard s.revision > before else { return (result, []) }
            var ready: [CheckedContinuation<Bool, Never>] = []
            for (id, w) in s.waiters where w.revision <= s.revision {
                ready.append(w.continuation)
                s.waiters[id] = nil
            }
            return (result, ready)
        }
        for c in ready { c.resume(returning: true) }
        return result
    }

    /// An event or progress mark from the storage watch.
    private func fromWatch(_ e: WatchEvent, _ s: inout Applied) {
        guard let all = s.all else { return }
        let r = e.revision
        s.watched = max(s.watched, r)
        if case .progress = e {
            if r > s.revision {
                for c in all.values { c.advance(to: r) }
                s.revision = r
            }
        } else {
            // An event at or below the complete revision is one of our offered writes: offers are
            // applied only past everything the watch delivered, and nothing else shares their
            // revisions (a second event of a revision the watch opened finds it still open).
            if r <= s.revision { return }
            dispatch(e, all)
            // More events of revision r may follow (one transaction, several keys): only the
            // revisions before it are known complete, until a later event or a progress mark.
            s.revision = max(s.revision, r - 1)
        }
        applyPending(&s)
    }

    /// Applies an acknowledged write of this server at once when nothing can be missing before it.
    func offer(_ e: WatchEvent) {
        update { s in
            let r = e.revision
            // Already delivered by the watch (or covered by a mark): nothing to add.
            guard s.all != nil, r > s.revision, r > s.watched else { return }
            if r == s.revision + 1 {
                self.applyOffered(e, &s)
                self.applyPending(&s)
            } else if s.pending.count < Self.maxPending {
                s.pending[r] = e
            }
        }
    }

    private func applyOffered(_ e: WatchEvent, _ s: inout Applied) {
        guard let all = s.all else { return }
        dispatch(e, all)
        s.revision = e.revision
    }

    private func applyPending(_ s: inout Applied) {
        guard !s.pending.isEmpty else { return }
        while let e = s.pending.removeValue(forKey: s.revision + 1), e.revision > s.watched {
            applyOffered(e, &s)
        }
        let through = max(s.revision, s.watched)
        s.pending = s.pending.filter { $0.key > through }
    }

    private func dispatch(_ e: WatchEvent, _ all: [String: any FeedableCache]) {
        switch e {
        case .progress: break
        case .put(let kv, _): cacheFor(kv.key.rawValue, all)?.apply(e)
        case .delete(let prev, _): cacheFor(prev.key.rawValue, all)?.apply(e)
        }
    }

    /// Waits until every event up to `revision` is in the caches; false on timeout.
    func wait(for revision: Revision, timeout: Swift.Duration = .seconds(3)) async -> Bool {
        let id = applied.withLock { s -> Int? in
            if s.revision >= revision { return nil }
            s.nextWaiter += 1
            return s.nextWaiter
        }
        guard let id else { return true }
        let timer = Task {
            try? await Task.sleep(for: timeout)
            let c = self.applied.withLock { $0.waiters.removeValue(forKey: id)?.continuation }
            c?.resume(returning: false)
        }
        let ok = await withCheckedContinuation { (c: CheckedContinuation<Bool, Never>) in
            let now = applied.withLock { s -> Bool in
                if s.revision >= revision { return true }
                s.waiters[id] = Waiter(revision: revision, continuation: c)
                return false
            }
            if now { c.resume(returning: true) }
        }
        timer.cancel()
        return ok
    }
}
