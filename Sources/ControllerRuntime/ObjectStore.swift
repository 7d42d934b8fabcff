import APIMachinery
@_exported import KubeClient
import KubeClient
import Synchronization

/// The cache key of an object: `namespace/name`, or `name` for cluster-scoped objects
/// (client-go's `MetaNamespaceKeyFunc`).
public struct ObjectKey: Hashable, Sendable, CustomStringConvertible, Comparable {
    public var namespace: String
    public var name: String

    public init(namespace: String, name: String) {
        self.namespace = namespace
        self.name = name
    }

    public init(_ meta: MetaV1.ObjectMeta) { self.init(namespace: meta.namespace, name: meta.name) }

    public var description: String { namespace.isEmpty ? name : "\(namespace)/\(name)" }
    public static func < (a: ObjectKey, b: ObjectKey) -> Bool { (a.namespace, a.name) < (b.namespace, b.name) }
}

/// Index functions every store has: by namespace and by owner UID.
public enum StandardIndex {
    public static let namespace = "namespace"
    public static let ownerUID = "ownerUID"
}

/// A thread-safe cache of one kind with secondary indices; read by listers without waiting on the
/// informer that fills it.
public final class ObjectStore<T: KubeObject>: Sendable {
    public typealias IndexFunc = @Sendable (T) -> [String]

    struct State {
        var items: [ObjectKey: T] = [:]
        var indexers: [String: IndexFunc] = [:]
        var indices: [String: [String: Set<ObjectKey>]] = [:]
    }

    let state: Mutex<State>

    public init() {
        var s = State()
        s.indexers[StandardIndex.namespace] = { [$0.metadata.namespace] }
        s.indexers[StandardIndex.ownerUID] = { $0.metadata.ownerReferences.map(\.uid) }
        state = Mutex(s)
    }

    /// Adds an index (e.g. pods by `spec.nodeName`); existing items are indexed at once.
    public func addIndexer(_ name: String, _ f: @escaping IndexFunc) {
        state.withLock { s in
            s.indexers[name] = f
            var idx: [String: Set<ObjectKey>] = [:]
            for (k, v) in s.items { for value in f(v) { idx[value, default: []].insert(k) } }
            s.indices[name] = idx
        }
    }

    public func get(_ key: ObjectKey) -> T? { state.withLock { $0.items[key] } }
    public func get(namespace: String = "", name: String) -> T? { get(ObjectKey(namespace: namespace, name: name)) }
    public var count: Int { state.withLock { $0.items.count } }
    public func list() -> [T] { state.withLock { Array($0.items.values) } }
    public func keys() -> [ObjectKey] { state.withLock { Array($0.items.keys) } }

    /// The objects whose index function yields `value`.
    public func byIndex(_ index: String, _ value: String) -> [T] {
        state.withLock { s in (s.indices[index]?[value] ?? []).compactMap { s.items[$0] } }
    }

    public func list(namespace: String) -> [T] { byIndex(StandardIndex.namespace, namespace) }

    /// Objects in a namespace whose labels match a selector.
    public func list(namespace: String, selector: LabelSelector) -> [T] {
        list(namespace: namespace).filter { selector.matches($0.metadata.labels) }
    }

    /// Inserts or replaces; returns the previous value.
    @discardableResult
    public func upsert(_ obj: T) -> T? {
        let key = ObjectKey(obj.metadata)
        return state.withLock { s in
            let old = s.items.updateValue(obj, forKey: key)
            Self.reindex(&s, key: key, old: old, new: obj)
            return old
        }
    }

    /// Writes back an object this component just wrote to the server, unless the cache already holds a
    /// newer version (resourceVersions compared as numbers when both are).
    public func upsertIfNewer(_ obj: T) {
        let key = ObjectKey(obj.metadata)
        state.withLock { s in
            if let cur = s.items[key], let a = UInt64(cur.metadata.resourceVersion),
                let b = UInt64(obj.metadata.resourceVersion), a >= b
            {
                return
            }
            let old = s.items.updateValue(obj, forKey: key)
            Self.reindex(&s, key: key, old: old, new: obj)
        }
    }

    /// Removes; returns the removed value.
    @discardableResult
    public func remove(_ key: ObjectKey) -> T? {
        state.withLock { s in
            guard let old = s.items.removeValue(forKey: key) else { return nil }
            Self.reindex(&s, key: key, old: old, new: nil)
            return old
        }
    }

    /// Replaces the whole content (after a list); returns what changed.
    func replace(_ objs: [T]) -> (added: [T], updated: [(old: T, new: T)], deleted: [T]) {
        state.withLock { s in
            var added: [T] = []
            var updated: [(old: T, new: T)] = []
            var seen = Set<ObjectKey>()
            for o in objs {
                let key = ObjectKey(o.metadata)
                seen.insert(key)
                let old = s.items.updateValue(o, forKey: key)
                Self.reindex(&s, key: key, old: old, new: o)
                if let old {
                    if old.metadata.resourceVersion != o.metadata.resourceVersion { updated.append((old, o)) }
                } else {
                    added.append(o)
                }
            }
            var deleted: [T] = []
            for key in Array(s.items.keys) where !seen.contains(key) {
                let old = s.items.removeValue(forKey: key)!
                Self.reindex(&s, key: key, old: old, new: nil)
                deleted.append(old)
            }
            return (added, updated, deleted)
        }
    }

    static func reindex(_ s: inout State, key: ObjectKey, old: T?, new: T?) {
        for (name, f) in s.indexers {
            let before = old.map(f) ?? []
            let after = new.map(f) ?? []
            if before == after { continue }
            for v in before where !after.contains(v) {
                s.indices[name]?[v]?.remove(key)
                if s.indices[name]?[v]?.isEmpty == true { s.indices[name]?[v] = nil }
            }
            for v in after { s.indices[name, default: [:]][v, default: []].insert(key) }
        }
    }
}

/// Time spans are Swift's here; `APIMachinery.Duration` is the wire type `metav1.Duration`.
typealias Duration = Swift.Duration
