import Storage
import Synchronization

/// Shares one read of the store's current revision among the consistent reads waiting for it.
///
/// A read joins the next batch; a batch's request starts only after every member joined, so the
/// revision it returns is at least as new as any write acknowledged before each member arrived —
/// the guarantee a quorum read per request gives, at one etcd round trip per batch instead of one
/// per request. Batches do not overlap: measured on etcd here, overlapping ones cost more reads
/// than they saved in waiting.
final class RevisionBatcher: Sendable {
    private enum Turn {
        case done(Revision)
        /// The previous batch finished: this waiter leads the next one.
        case lead
    }

    private struct State {
        var inFlight = false
        var waiters: [CheckedContinuation<Turn, any Error>] = []
    }

    private let state = Mutex(State())
    private let fetch: @Sendable () async throws -> Revision

    init(fetch: @escaping @Sendable () async throws -> Revision) {
        self.fetch = fetch
    }

    /// One batch at a time. The reader that finds none running leads one at once; readers arriving
    /// meanwhile wait, and when it finishes the first of them leads the next batch for all of them.
    /// Leading runs in the reader's own task, so the fetch happens on the reader's executor (for a
    /// request, its connection's event loop) and no task is created per batch.
    func currentRevision() async throws -> Revision {
        let leadNow = state.withLock { s -> Bool in
            if s.inFlight { return false }
            s.inFlight = true
            return true
        }
        if !leadNow {
            let turn = try await withCheckedThrowingContinuation { (c: CheckedContinuation<Turn, any Error>) in
                let lead = state.withLock { s -> Bool in
                    if !s.inFlight {
                        s.inFlight = true
                        return true
                    }
                    s.waiters.append(c)
                    return false
                }
                if lead { c.resume(returning: .lead) }
            }
            if case .done(let r) = turn { return r }
        }
        // The batch: the readers that joined before this fetch starts.
        let batch = state.withLock { s -> [CheckedContinuation<Turn, any Error>] in
            defer { s.waiters = [] }
            return s.waiters
        }
        let result: Result<Revision, any Error>
        do {
            result = .success(try await fetch())
        } catch {
            result = .failure(error)
        }
        for c in batch { c.resume(with: result.map { .done($0) }) }
        let next = state.withLock { s -> CheckedContinuation<Turn, any Error>? in
            if s.waiters.isEmpty {
                s.inFlight = false
                return nil
            }
            return s.waiters.removeFirst()
        }
        next?.resume(returning: .lead)
        return try result.get()
    }
}
