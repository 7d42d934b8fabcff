import APIMachinery
import Foundation
import KubeClient
import Synchronization

/// What an informer tells its handlers.
public enum InformerEvent<T: Sendable>: Sendable {
    case added(T)
    case updated(old: T, new: T)
    /// The last state known; after a relist that no longer lists it, that state may be stale
    /// (client-go's `DeletedFinalStateUnknown`).
    case deleted(T)
}

extension InformerEvent {
    /// The object as the event leaves it (the new state of an update, the last state of a deletion).
    public var object: T {
        switch self {
        case .added(let o), .updated(_, let o), .deleted(let o): return o
        }
    }
}

/// Keeps an `ObjectStore` equal to the server's view of one kind (in one namespace or all) and tells
/// handlers about each change: a watch-list (`sendInitialEvents`) when the server offers it, else a
/// paginated list then a watch; a dropped watch resumes from the last resourceVersion seen, and a
/// 410 Gone starts over with a fresh list.
public final class Informer<T: KubeObject>: Sendable {
    public typealias Handler = @Sendable (InformerEvent<T>) -> Void

    struct State {
        var handlers: [Handler] = []
        var synced = false
        var syncWaiters: [CheckedContinuation<Void, Never>] = []
        var lastResourceVersion = ""
        var watchListUnsupported = false
        var lists = 0
        var watches = 0
    }

    public let store = ObjectStore<T>()
    let client: KubeClient
    /// Where to list and watch, and what to accept, when not the kind's own resource (metadata informers).
    let location: ResourceLocation?
    let accept: (list: String, watch: String)?
    let namespace: String?
    let labelSelector: String?
    let fieldSelector: String?
    let state = Mutex(State())
    /// Asks for sendInitialEvents first (client-go's WatchListClient); falls back when refused.
    let useWatchList: Bool
    /// Applied to every object before it is stored or handed to handlers (client-go's `TransformFunc`).
    let transform: (@Sendable (inout T) -> Void)?

    public init(
        client: KubeClient, namespace: String? = nil, labelSelector: String? = nil, fieldSelector: String? = nil,
        useWatchList: Bool = true, location: ResourceLocation? = nil, accept: (list: String, watch: String)? = nil,
        transform: (@Sendable (inout T) -> Void)? = nil
    ) {
        self.client = client
        self.transform = transform
        self.location = location
        self.accept = accept
        self.namespace = namespace
        self.labelSelector = labelSelector
        self.fieldSelector = fieldSelector
        self.useWatchList = useWatchList
    }

    /// Registers a handler; objects already cached are delivered to it as additions first.
    public func addHandler(_ h: @escaping Handler) {
        let existing: [T] = state.withLock { s in
            s.handlers.append(h)
            return s.synced ? store.list() : []
        }
        for o in existing { h(.added(o)) }
    }

    /// Queues the key of every object that is added, updated or deleted.
    public func addHandler(enqueueing queue: WorkQueue<ObjectKey>) {
        addHandler { queue.add(ObjectKey($0.object.metadata)) }
    }

    /// Drops `metadata.managedFields`, which no controller reads: what upstream's scheduler and
    /// controller manager do to their caches (about 1–2 KiB a pod per cached copy).
    public static var stripManagedFields: @Sendable (inout T) -> Void {
        { $0.metadata.managedFields = [] }
    }

    /// `o` as the store keeps it.
    func prepared(_ o: T) -> T {
        guard let transform else { return o }
        var o = o
        transform(&o)
        return o
    }

    public var hasSynced: Bool { state.withLock { $0.synced } }
    /// How many full lists and watches it has made (what tests and metrics read).
    public var requestCounts: (lists: Int, watches: Int) { state.withLock { ($0.lists, $0.watches) } }
    public var lastResourceVersion: String { state.withLock { $0.lastResourceVersion } }

    /// Waits until the first full state is in the store.
    public func waitForSync() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let ready = state.withLock { s in
                if s.synced { return true }
                s.syncWaiters.append(c)
                return false
            }
            if ready { c.resume() }
        }
    }

    func notify(_ e: InformerEvent<T>) {
        let hs = state.withLock { $0.handlers }
        for h in hs { h(e) }
    }

    func markSynced(_ rv: String) {
        let waiters = state.withLock { s in
            s.lastResourceVersion = rv
            let first = !s.synced
            s.synced = true
            let w = s.syncWaiters
            s.syncWaiters = []
            return first ? w : []
        }
        for w in waiters { w.resume() }
    }

    func apply(_ objs: [T], resourceVersion: String) {
        let changes = store.replace(transform == nil ? objs : objs.map(prepared))
        // A handler added before the first sync sees every object as an addition.
        for o in changes.added { notify(.added(o)) }
        for u in changes.updated { notify(.updated(old: u.old, new: u.new)) }
        for d in changes.deleted { notify(.deleted(d)) }
        markSynced(resourceVersion)
    }

    /// Runs until cancelled.
    public func run() async {
        var needList = true
        var failures = 0
        while !Task.isCancelled {
            do {
                var rv = state.withLock { $0.lastResourceVersion }
                if needList {
                    if useWatchList && !state.withLock({ $0.watchListUnsupported }) {
                        if try await watchList() {
                            failures = 0
                            needList = false
                            continue
                        }
                    }
                    rv = try await listAll()
                    needList = false
                }
                try await watch(from: rv)
                failures = 0
            } catch let e as StatusError where e.isGone {
                needList = true
            } catch is CancellationError {
                return
            } catch {
                if Task.isCancelled { return }
                failures += 1
                // Resume from the last resourceVersion after a pause (a dropped connection); a
                // client-side failure to decode starts over with a list.
                if !(error is TransportError) && !(error is StatusError) { needList = true }
                try? await Task.sleep(for: .milliseconds(min(30_000, 200 << min(failures, 8))))
            }
        }
    }

    var listOptions: ListOptions {
        ListOptions(labelSelector: labelSelector, fieldSelector: fieldSelector)
    }

    func listAll() async throws -> String {
        state.withLock { $0.lists += 1 }
        var opts = listOptions
        // A first page from the watch cache, as client-go's reflector asks ("0" = any recent state).
        opts.resourceVersion = "0"
        let list = try await client.listAll(
            T.self, at: location, namespace: namespace, options: opts, accept: accept?.list)
        apply(list.items, resourceVersion: list.metadata.resourceVersion)
        return list.metadata.resourceVersion
    }

    /// A watch that starts with the current state (`sendInitialEvents=true`); false when the server
    /// does not offer it.
    func watchList() async throws -> Bool {
        var opts = listOptions
        opts.sendInitialEvents = true
        opts.resourceVersionMatch = "NotOlderThan"
        opts.allowWatchBookmarks = true
        opts.timeoutSeconds = Self.watchTimeout()
        let stream: AsyncThrowingStream<KubeClient.WatchEventOf<T>, any Error>
        do {
            state.withLock { $0.watches += 1 }
            stream = try await client.watch(
                T.self, at: location, namespace: namespace, options: opts, accept: accept?.watch)
        } catch let e as StatusError where e.code == 400 || e.code == 422 || e.code == 403 || e.code == 415 {
            state.withLock { $0.watchListUnsupported = true }
            return false
        }
        var initial: [T] = []
        var initialDone = false
        for try await ev in stream {
            if !initialDone {
                switch ev {
                case .added(let o), .modified(let o): initial.append(o)
                case .deleted(let o): initial.removeAll { ObjectKey($0.metadata) == ObjectKey(o.metadata) }
                case .bookmark(let rv, let end):
                    if end {
                        initialDone = true
                        apply(initial, resourceVersion: rv)
                        initial = []
                    }
                case .error(let e): throw e
                }
                continue
            }
            try handle(ev)
        }
        if !initialDone {
            // The server ended the stream without marking the end of the initial state: it does
            // not support watch-list; list and watch from now on.
            state.withLock { $0.watchListUnsupported = true }
            return false
        }
        return true
    }

    /// Watch timeouts spread between 5 and 10 minutes, as client-go's reflector chooses them.
    static func watchTimeout() -> Int { Int.random(in: 300...600) }

    func watch(from rv: String) async throws {
        var opts = listOptions
        opts.resourceVersion = rv
        opts.allowWatchBookmarks = true
        opts.timeoutSeconds = Self.watchTimeout()
        state.withLock { $0.watches += 1 }
        let stream = try await client.watch(
            T.self, at: location, namespace: namespace, options: opts, accept: accept?.watch)
        for try await ev in stream { try handle(ev) }
    }

    func handle(_ ev: KubeClient.WatchEventOf<T>) throws {
        switch ev {
        case .added(let o), .modified(let o):
            let o = prepared(o)
            let old = store.upsert(o)
            setRV(o.metadata.resourceVersion)
            if let old { notify(.updated(old: old, new: o)) } else { notify(.added(o)) }
        case .deleted(let o):
            let o = prepared(o)
            store.remove(ObjectKey(o.metadata))
            setRV(o.metadata.resourceVersion)
            notify(.deleted(o))
        case .bookmark(let rv, _):
            setRV(rv)
        case .error(let e):
            throw e
        }
    }

    func setRV(_ rv: String) {
        if !rv.isEmpty { state.withLock { $0.lastResourceVersion = rv } }
    }
}

extension KubeClient {
    public typealias WatchEventOf<T: Sendable> = WatchEvent<T>
}
