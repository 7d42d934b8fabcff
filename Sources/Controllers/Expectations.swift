import APICore
import ControllerRuntime
import Foundation
import Synchronization

/// What a controller still expects to see after its own creates and deletes (upstream's
/// `ControllerExpectations`): until the informer has shown them, the cache is behind the controller's
/// own actions, so it must not act on counts again. Expectations expire after five minutes, so a lost
/// event cannot block an owner forever.
final class Expectations<Key: Hashable & Sendable>: Sendable {
    struct Entry {
        var adds: Int
        var deletes: Set<String>
        var deleteCount: Int
        var since: Date
    }

    static var ttl: TimeInterval { 5 * 60 }
    let entries = Mutex<[Key: Entry]>([:])

    func expect(_ key: Key, adds: Int, deletes: [String] = []) {
        entries.withLock {
            $0[key] = Entry(adds: adds, deletes: Set(deletes), deleteCount: deletes.count, since: Date())
        }
    }

    func creationObserved(_ key: Key) { entries.withLock { $0[key]?.adds -= 1 } }
    /// A create that failed will never be observed.
    func lowerAdds(_ key: Key, by n: Int) { entries.withLock { $0[key]?.adds -= n } }

    func deletionObserved(_ key: Key, name: String) {
        entries.withLock { e in
            if e[key]?.deletes.remove(name) != nil { e[key]?.deleteCount -= 1 }
        }
    }

    func satisfied(_ key: Key) -> Bool {
        entries.withLock { e in
            guard let x = e[key] else { return true }
            return (x.adds <= 0 && x.deleteCount <= 0) || Date().timeIntervalSince(x.since) > Self.ttl
        }
    }

    func forget(_ key: Key) { _ = entries.withLock { $0.removeValue(forKey: key) } }
}

extension Informer where T == CoreV1.Pod {
    /// Queues the owner of each pod that changes, as `owner` finds it, and tells the owner's
    /// expectations about the pods it sees created and deleted.
    func addOwnerHandler(
        queue: WorkQueue<ObjectKey>, expectations: Expectations<ObjectKey>,
        owner: @escaping @Sendable (CoreV1.Pod) -> ObjectKey?
    ) {
        addHandler { e in
            switch e {
            case .added(let p):
                guard let k = owner(p) else { return }
                expectations.creationObserved(k)
                queue.add(k)
            case .updated(let old, let new):
                for k in Set([owner(old), owner(new)].compactMap { $0 }) { queue.add(k) }
            case .deleted(let p):
                guard let k = owner(p) else { return }
                expectations.deletionObserved(k, name: p.metadata.name)
                queue.add(k)
            }
        }
    }
}
