import Storage

/// How a consistent read (no resourceVersion) is served: from the watch cache once it provably
/// holds every write up to the store's current revision, otherwise from the store itself.
///
/// The cache is fresh when its feed has delivered an event or a trustworthy progress mark at or
/// past that revision. Writes under the API prefix arrive as events within milliseconds. When the
/// revision moved for another reason (a key outside the prefix), only a progress mark proves
/// freshness; it is requested only from stores whose requested marks are ordered with their events
/// (etcd ≥ 3.4.31 / 3.5.13). Otherwise the read falls back to a quorum read of the store.
struct ConsistentReads: Sendable {
    enum Plan: Equatable, Sendable {
        case cache(Revision)
        case store(Revision)
    }

    let currentRevision: @Sendable () async throws -> Revision
    /// Waits until the cache holds every event up to the revision; false on timeout.
    let waitForCache: @Sendable (Revision, Swift.Duration) async -> Bool
    let progress: (any ProgressRequesting)?
    var eventWait: Swift.Duration = .milliseconds(50)
    var progressWait: Swift.Duration = .seconds(1)

    func plan() async throws -> Plan {
        let rev = try await currentRevision()
        if await waitForCache(rev, eventWait) { return .cache(rev) }
        if let progress, await progress.requestedProgressIsOrdered() {
            progress.requestProgress()
            if await waitForCache(rev, progressWait) { return .cache(rev) }
        }
        return .store(rev)
    }
}
