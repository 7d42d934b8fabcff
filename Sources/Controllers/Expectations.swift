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
