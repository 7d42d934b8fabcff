import Synchronization

/// Fans committed events out to watchers, in revision order by construction: the single writer
/// of a backend publishes each commit's events under one lock, and every watcher sees them in that
/// order. Recent events are kept in a ring so a watch starting a little in the past is served from
/// memory; an older start is replayed by the backend (`Replay`) while live events wait in the
/// watcher's buffer, so nothing is lost or repeated across the switch.
package final class WatchHub: Sendable {
    /// Reads the events in `range` with revision in `(from, through]` from the backend's history.
    package typealias Replay =
        @Sendable (_ range: KeyRange, _ from: Revision, _ through: Revision) throws -> [WatchEvent]

    private struct Watcher {
        var range: KeyRange
        var continuation: AsyncThrowingStream<WatchEvent, any Error>.Continuation
        /// Non-nil while the backend replays history; live events queue here meanwhile.
        var pending: [WatchEvent]?
        /// Revision of the last event or progress mark sent; only later events are sent.
        var sent: Revision
    }

    private struct State {
        var watchers: [Int: Watcher] = [:]
        var nextID = 0
        var ring: [WatchEvent] = []
        var ringHead = 0
        /// Every event with revision ≤ `published` has been handed to the hub.
        var published: Revision
        var compacted: Revision = 0
    }

    private let state: Mutex<State>
    private let ringCapacity: Int

    package init(published: Revision, compacted: Revision, ringCapacity: Int = 4096) {
        state = Mutex(State(published: published, compacted: compacted))
        self.ringCapacity = ringCapacity
    }

    package var watcherCount: Int { state.withLock { $0.watchers.count } }

    package func setCompacted(_ revision: Revision) { state.withLock { $0.compacted = max($0.compacted, revision) } }

    /// Hands the events of one commit (in revision order) to every watcher; `revision` is the
    /// store's revision after the commit.
    package func publish(_ events: [WatchEvent], revision: Revision) {
        state.withLock { s in
            for e in events {
                if s.ring.count < ringCapacity {
                    s.ring.append(e)
                } else {
                    s.ring[s.ringHead] = e
                    s.ringHead = (s.ringHead + 1) % ringCapacity
                }
            }
            s.published = max(s.published, revision)
            for id in s.watchers.keys {
                let w = s.watchers[id]!
                let mine = events.filter { $0.revision > w.sent && w.range.contains(Self.key(of: $0)) }
                if mine.isEmpty { continue }
                if w.pending != nil {
                    s.watchers[id]!.pending!.append(contentsOf: mine)
                } else {
                    for e in mine { w.continuation.yield(e) }
                    // The commit's revisions are complete now.
                    w.continuation.yield(.progress(mine.last!.revision))
                    s.watchers[id]!.sent = mine.last!.revision
                }
            }
        }
    }

    /// Sends a progress mark to each live watcher that has seen nothing up to the current revision.
    package func sendProgress() {
        state.withLock { s in
            let rev = s.published
            for (id, w) in s.watchers where w.pending == nil && w.sent < rev {
                w.continuation.yield(.progress(rev))
                s.watchers[id]!.sent = rev
            }
        }
    }

    /// Ends every watch with an error (the backend is closing or failed).
    package func finishAll(throwing error: (any Error)?) {
        let ws = state.withLock { s -> [Watcher] in
            let ws = Array(s.watchers.values)
            s.watchers.removeAll()
            return ws
        }
        for w in ws { w.continuation.finish(throwing: error) }
    }

    package func watch(_ range: KeyRange, from revision: Revision, replay: @escaping Replay) -> AsyncThrowingStream<
        WatchEvent, any Error
    > {
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: WatchEvent.self, throwing: (any Error).self)
        let id = state.withLock { s -> Int in
            s.nextID += 1
            return s.nextID
        }
        continuation.onTermination = { [weak self] _ in
            self?.state.withLock { _ = $0.watchers.removeValue(forKey: id) }
        }
        enum Start { case failed(StorageError), live, replay(through: Revision) }
        let start = state.withLock { s -> Start in
            if revision < s.compacted {
                return .failed(.compacted(requested: revision, compacted: s.compacted))
            }
            var w = Watcher(range: range, continuation: continuation, pending: nil, sent: max(revision, 0))
            let ordered = Self.ordered(s.ring, head: s.ringHead)
            // Served from memory when the ring reaches back to the start (or the start is now/future).
            if revision >= s.published || (ordered.first.map { $0.revision <= revision + 1 } ?? false) {
                for e in ordered where e.revision > revision && range.contains(Self.key(of: e)) {
                    continuation.yield(e)
                    w.sent = e.revision
                }
                if w.sent > revision { continuation.yield(.progress(w.sent)) }
                s.watchers[id] = w
                return .live
            }
            w.pending = []
            s.watchers[id] = w
            return .replay(through: s.published)
        }
        switch start {
        case .failed(let e):
            continuation.finish(throwing: e)
        case .live:
            break
        case .replay(let through):
            do {
                let history = try replay(range, revision, through)
                state.withLock { s in
                    guard var w = s.watchers[id] else { return }
                    for e in history { w.continuation.yield(e) }
                    let live = w.pending!.filter { $0.revision > through }
                    for e in live { w.continuation.yield(e) }
                    w.sent = live.last?.revision ?? through
                    continuation.yield(.progress(w.sent))
                    w.pending = nil
                    s.watchers[id] = w
                }
            } catch {
                state.withLock { _ = $0.watchers.removeValue(forKey: id) }
                continuation.finish(throwing: error)
            }
        }
        return stream
    }

    static func ordered(_ ring: [WatchEvent], head: Int) -> ArraySlice<WatchEvent> {
        if head == 0 { return ring[...] }
        return ArraySlice(ring[head...] + ring[..<head])
    }

    static func key(of e: WatchEvent) -> String {
        switch e {
        case .put(let kv, _): return kv.key.rawValue
        case .delete(let prev, _): return prev.key.rawValue
        case .progress: return ""
        }
    }
}
