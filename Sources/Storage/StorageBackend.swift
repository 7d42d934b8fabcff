/// A store revision: strictly increasing across every write of a backend (etcd's revision).
public typealias Revision = Int64

/// A lease that expires the keys attached to it (etcd's lease; events use one).
public typealias LeaseID = Int64

/// A key in the store, e.g. `/registry/configmaps/default/app`. Keys order bytewise.
public struct StorageKey: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var rawValue: String

    public init(_ rawValue: String) { self.rawValue = rawValue }

    public static func < (a: StorageKey, b: StorageKey) -> Bool {
        a.rawValue.utf8.lexicographicallyPrecedes(b.rawValue.utf8)
    }

    public var description: String { rawValue }
}

/// The half-open range `[start, end)` of keys; `prefix` builds the range of keys under a prefix.
public struct KeyRange: Hashable, Sendable {
    public var start: String
    /// Exclusive upper bound; nil means "no upper bound".
    public var end: String?

    public init(start: String, end: String?) {
        self.start = start
        self.end = end
    }

    /// Every key that begins with `prefix`.
    public static func prefix(_ prefix: String) -> KeyRange {
        KeyRange(start: prefix, end: prefixEnd(prefix))
    }

    /// The single key `key`.
    public static func key(_ key: StorageKey) -> KeyRange {
        KeyRange(start: key.rawValue, end: key.rawValue + "\u{0}")
    }

    public func contains(_ key: String) -> Bool {
        if key.utf8.lexicographicallyPrecedes(start.utf8) { return false }
        if let end, !key.utf8.lexicographicallyPrecedes(end.utf8) { return false }
        return true
    }

    /// The smallest string greater than every string with this prefix (etcd's prefix end).
    static func prefixEnd(_ prefix: String) -> String? {
        var bytes = Array(prefix.utf8)
        while let last = bytes.last {
            if last < 0x7F {
                bytes[bytes.count - 1] = last + 1
                return String(decoding: bytes, as: UTF8.self)
            }
            bytes.removeLast()
        }
        return nil
    }
}

/// A stored value with its revisions.
public struct KeyValue: Hashable, Sendable {
    public var key: StorageKey
    public var value: [UInt8]
    /// Revision at which the key was created (etcd's create_revision).
    public var createRevision: Revision
    /// Revision of the last write of this key (etcd's mod_revision); the object's resourceVersion.
    public var modRevision: Revision
    public var lease: LeaseID?

    public init(key: StorageKey, value: [UInt8], createRevision: Revision, modRevision: Revision, lease: LeaseID?) {
        self.key = key
        self.value = value
        self.createRevision = createRevision
        self.modRevision = modRevision
        self.lease = lease
    }
}

/// One page of a range read.
public struct ListPage: Sendable {
    public var items: [KeyValue]
    /// The revision the page was read at (the snapshot every page of one list shares).
    public var revision: Revision
    /// Whether keys remain in the range after the last item.
    public var hasMore: Bool
    /// How many keys remain after this page (for `remainingItemCount`), when known.
    public var remaining: Int?

    public init(items: [KeyValue], revision: Revision, hasMore: Bool, remaining: Int?) {
        self.items = items
        self.revision = revision
        self.hasMore = hasMore
        self.remaining = remaining
    }
}

public enum CreateResult: Sendable {
    case created(KeyValue)
    case alreadyExists(current: KeyValue)
}

public enum UpdateResult: Sendable {
    case updated(KeyValue)
    /// The key's revision is not the expected one; `current` is nil when the key does not exist.
    case conflict(current: KeyValue?)
}

public enum DeleteResult: Sendable {
    /// Deleted; `previous` is the value deleted, `revision` the revision of the delete.
    case deleted(previous: KeyValue, revision: Revision)
    case notFound
    case conflict(current: KeyValue)
}

/// A change seen by a watch, or a mark that everything up to a revision has been delivered.
public enum WatchEvent: Sendable, Equatable {
    case put(KeyValue, previous: KeyValue?)
    /// The key was deleted at `revision`; `previous` is its last value.
    case delete(previous: KeyValue, revision: Revision)
    /// Every event in range with revision ≤ this one has been delivered.
    case progress(Revision)

    /// The revision of the event.
    public var revision: Revision {
        switch self {
        case .put(let kv, _): return kv.modRevision
        case .delete(_, let r): return r
        case .progress(let r): return r
        }
    }
}

public enum StorageError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The requested revision has been compacted; `compacted` is the compaction revision.
    case compacted(requested: Revision, compacted: Revision)
    /// The requested revision is newer than the store's.
    case futureRevision(requested: Revision, current: Revision)
    /// The store cannot be reached or failed.
    case unavailable(String)

    public var description: String {
        switch self {
        case .compacted(let r, let c): return "required revision \(r) has been compacted (compacted through \(c))"
        case .futureRevision(let r, let c): return "required revision \(r) is a future revision (current \(c))"
        case .unavailable(let m): return "storage unavailable: \(m)"
        }
    }
}

/// The key/value + revision contract the API server needs from a store (see ARCHITECTURE.md).
/// Every backend passes `StorageConformance`.
public protocol StorageBackend: Sendable {
    func get(_ key: StorageKey, at revision: Revision?) async throws -> KeyValue?
    /// Keys in `range` in key order, from `continueAfter` (exclusive), at `revision` (nil: current).
    func list(_ range: KeyRange, at revision: Revision?, limit: Int?, continueAfter: StorageKey?) async throws
        -> ListPage
    func create(_ key: StorageKey, value: [UInt8], lease: LeaseID?) async throws -> CreateResult
    func update(_ key: StorageKey, value: [UInt8], ifRevision expected: Revision, lease: LeaseID?) async throws
        -> UpdateResult
    func delete(_ key: StorageKey, ifRevision expected: Revision?) async throws -> DeleteResult
    func count(_ range: KeyRange) async throws -> Int
    /// The store's current revision (for consistent reads).
    func currentRevision() async throws -> Revision
    /// Every change in `range` with revision > `from`, in revision order, then live changes, with
    /// progress marks. Fails with `StorageError.compacted` when `from` is older than the compaction.
    func watch(_ range: KeyRange, from revision: Revision) -> AsyncThrowingStream<WatchEvent, any Error>
    /// The same watch for a consumer that keeps previous values itself: with `previousValues`
    /// false a put's `previous` may be nil and a delete's `previous` may carry only the key, which
    /// saves a store that looks them up (etcd reads the prior revision per event) that work.
    func watch(_ range: KeyRange, from revision: Revision, previousValues: Bool) -> AsyncThrowingStream<
        WatchEvent, any Error
    >
    /// Drops history older than `revision` (the latest value of each key stays).
    func compact(through revision: Revision) async throws
    /// One round of the periodic compactor: compacts through the revision `last` recorded and
    /// returns what the next round needs. On a store several API servers share, a round compacts
    /// only when no other server's round came in between, so the store sees one compaction per
    /// interval whatever the number of servers.
    func compactionRound(_ last: CompactionRound) async throws -> CompactionRound
    /// Grants a lease; keys attached to it are deleted when it expires.
    func grantLease(ttlSeconds: Int64) async throws -> LeaseID
}

/// What a compactor carries from one round to the next: the revision current at the last round
/// (compacted through at the next) and, on a shared store, the count of rounds taken so far.
public struct CompactionRound: Sendable, Equatable {
    public var turn: Int64
    public var revision: Revision

    public init(turn: Int64 = 0, revision: Revision = 0) {
        self.turn = turn
        self.revision = revision
    }
}

extension StorageBackend {
    /// A store only this process uses: every round compacts.
    public func compactionRound(_ last: CompactionRound) async throws -> CompactionRound {
        if last.revision > 0 { try await compact(through: last.revision) }
        return CompactionRound(turn: last.turn + 1, revision: try await currentRevision())
    }

    public func watch(_ range: KeyRange, from revision: Revision, previousValues: Bool) -> AsyncThrowingStream<
        WatchEvent, any Error
    > {
        watch(range, from: revision)
    }
}

/// A backend that can be asked for watch progress marks on demand (etcd's progress requests), so
/// a cache fed by its watch can prove it is fresh without waiting for an event.
public protocol ProgressRequesting: Sendable {
    /// Whether requested marks arrive in order with the events they cover on this server.
    func requestedProgressIsOrdered() async -> Bool
    /// Asks for a progress mark on every open watch.
    func requestProgress()
}
