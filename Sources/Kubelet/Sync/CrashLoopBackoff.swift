/// Restart back-off for containers that exit (upstream's `flowcontrol.Backoff` as the kubelet uses it):
/// 10 s after the first exit, doubling to 5 minutes; an entry idle for twice the maximum starts over.
/// Times are wall-clock nanoseconds since the Unix epoch (a container's finish time is one).
public struct CrashLoopBackoff: Sendable {
    public static let initial: Int64 = 10_000_000_000
    public static let maximum: Int64 = 300_000_000_000

    struct Entry {
        var backoff: Int64
        var lastUpdate: Int64
    }

    var entries: [String: Entry] = [:]
    let initial: Int64
    let maximum: Int64

    public init(initial: Int64 = CrashLoopBackoff.initial, maximum: Int64 = CrashLoopBackoff.maximum) {
        self.initial = initial
        self.maximum = maximum
    }

    /// The key of one container of one pod with one spec: a changed spec starts without back-off.
    public static func key(podName: String, namespace: String, uid: String, container: String, hash: UInt64)
        -> String
    {
        "\(podName)_\(namespace)_\(uid)_\(container)_\(String(hash, radix: 16))"
    }

    /// The current back-off of a key (0 when none).
    public func current(_ key: String) -> Int64 { entries[key]?.backoff ?? 0 }

    /// Whether a container that finished at `finishedAt` must still wait at `now`.
    public func inBackoff(_ key: String, since finishedAt: Int64, now: Int64) -> Bool {
        guard let e = entries[key] else { return false }
        if finishedAt - e.lastUpdate > 2 * maximum { return false }
        return now - finishedAt < e.backoff
    }

    /// Records a restart of a container that finished at `finishedAt`: the next wait doubles.
    public mutating func next(_ key: String, finishedAt: Int64) {
        if let e = entries[key], finishedAt - e.lastUpdate <= 2 * maximum {
            entries[key] = Entry(backoff: min(e.backoff * 2, maximum), lastUpdate: finishedAt)
        } else {
            entries[key] = Entry(backoff: initial, lastUpdate: finishedAt)
        }
    }

    /// When the key's back-off was last moved on (0 when it has none).
    func lastUpdate(_ key: String) -> Int64 { entries[key]?.lastUpdate ?? 0 }

    /// Forgets the key (a success ends its back-off).
    mutating func forget(_ key: String) { entries[key] = nil }

    /// Drops entries idle for more than twice the maximum at `now` (upstream's periodic GC).
    public mutating func collect(now: Int64) {
        entries = entries.filter { now - $0.value.lastUpdate <= 2 * maximum }
    }

    /// Go's `time.Duration` text for whole seconds and minutes (`10s`, `1m20s`, `5m0s`).
    public static func goDuration(_ nanos: Int64) -> String {
        let s = nanos / 1_000_000_000
        if s < 60 { return "\(s)s" }
        if s < 3600 { return "\(s / 60)m\(s % 60)s" }
        return "\(s / 3600)h\(s % 3600 / 60)m\(s % 60)s"
    }
}
