import APICore
import APIMachinery
import ControllerRuntime
import Foundation
import Synchronization

/// The kubelet's file pod source (`--pod-manifest-path`): reads the manifest directory at start,
/// again every `fileCheckFrequency`, and as soon as a look at its entries (names, sizes, change
/// times, once a second: our stand-in for inotify) shows a change. It holds the static pods and the
/// status last computed for each (static pods have no API object of their own to keep it in).
final class StaticPodSource: Sendable {
    struct State {
        var pods: [ObjectKey: CoreV1.Pod] = [:]
        /// First-seen timestamps by UID: a pod keeps its `config.seen` across re-reads.
        var seen: [String: String] = [:]
        var statuses: [String: CoreV1.PodStatus] = [:]
        var read = false
        var readWaiters: [CheckedContinuation<Void, Never>] = []
        var fingerprint: [String] = []
        var rejected: [StaticPods.Rejection] = []
        /// Pods whose manifest went away, marked for deletion, until the kubelet has stopped them
        /// (within their grace period, as for a deleted API pod).
        var removed: [ObjectKey: CoreV1.Pod] = [:]

        /// The current pods and, where no current pod took their key, the removed ones.
        var all: [ObjectKey: CoreV1.Pod] { pods.merging(removed) { current, _ in current } }

        func withStatus(_ p: CoreV1.Pod) -> CoreV1.Pod {
            var p = p
            if let st = statuses[p.metadata.uid] { p.status = st }
            return p
        }

        func holds(_ uid: String) -> Bool {
            pods.values.contains { $0.metadata.uid == uid } || removed.values.contains { $0.metadata.uid == uid }
        }
    }

    let directory: String
    let nodeName: String
    let checkFrequency: Swift.Duration
    let pollInterval: Swift.Duration
    let log: @Sendable (String) -> Void
    let wallClock: @Sendable () -> Date
    let state = Mutex(State())

    init(
        directory: String, nodeName: String, checkFrequency: Swift.Duration, pollInterval: Swift.Duration = .seconds(1),
        log: @escaping @Sendable (String) -> Void, wallClock: @escaping @Sendable () -> Date
    ) {
        self.directory = directory
        self.nodeName = nodeName
        self.checkFrequency = checkFrequency
        self.pollInterval = pollInterval
        self.log = log
        self.wallClock = wallClock
    }

    /// The static pod at `key`, with the status the kubelet last computed for it.
    func pod(_ key: ObjectKey) -> CoreV1.Pod? {
        state.withLock { s in (s.pods[key] ?? s.removed[key]).map(s.withStatus) }
    }

    func list() -> [CoreV1.Pod] {
        state.withLock { s in s.all.values.map(s.withStatus) }
    }

    func keys() -> [ObjectKey] { state.withLock { Array($0.all.keys) } }

    /// Forgets a removed pod once the kubelet stopped it; returns its key (to sync the orphaned
    /// mirror pod away), nil for a pod that is not a removed one.
    func stopped(_ uid: String) -> ObjectKey? {
        state.withLock { s in
            guard let key = s.removed.first(where: { $0.value.metadata.uid == uid })?.key else { return nil }
            s.removed[key] = nil
            s.statuses[uid] = nil
            return key
        }
    }

    /// Keeps the status computed for a static pod (what the next sync builds on).
    func setStatus(_ uid: String, _ status: CoreV1.PodStatus) {
        state.withLock { s in
            if s.holds(uid) { s.statuses[uid] = status }
        }
    }

    /// Seeds a static pod's status from its mirror's when the kubelet has none yet (after a restart):
    /// the start time and conditions' transition times carry on.
    func seedStatus(_ uid: String, from mirror: CoreV1.PodStatus) {
        state.withLock { s in
            if s.statuses[uid] == nil, s.holds(uid) {
                s.statuses[uid] = mirror
            }
        }
    }

    var hasRead: Bool { state.withLock { $0.read } }

    /// Waits until the directory was read once (until then the runtime's pods cannot be told apart
    /// from leftovers, so nothing is cleaned up).
    func waitForFirstRead() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let ready = state.withLock { s in
                if s.read { return true }
                s.readWaiters.append(c)
                return false
            }
            if ready { c.resume() }
        }
    }

    /// Runs until cancelled; `changed` gets the keys of pods added, changed or removed by a read,
    /// and every key at each periodic read.
    func run(changed: @escaping @Sendable ([ObjectKey]) -> Void) async {
        var lastFull = ContinuousClock.now
        changed(read())
        while !Task.isCancelled {
            try? await Task.sleep(for: pollInterval)
            let now = ContinuousClock.now
            if now - lastFull >= checkFrequency {
                lastFull = now
                changed(Array(Set(read() + keys())))
            } else if fingerprint() != state.withLock({ $0.fingerprint }) {
                changed(read())
            }
        }
    }

    /// Names, sizes and change times of the directory's entries (or of the one file).
    func fingerprint() -> [String] {
        func entry(_ path: String) -> String {
            var st = stat()
            guard stat(path, &st) == 0 else { return path }
            return
                "\(path) \(st.st_size) \(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec) \(st.st_ctim.tv_sec).\(st.st_ctim.tv_nsec)"
        }
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else {
            return [entry(directory)]
        }
        return names.sorted().map { entry(directory + "/" + $0) }
    }

    /// Reads the directory and replaces the pods; returns the keys whose pod changed.
    @discardableResult
    func read() -> [ObjectKey] {
        let print = fingerprint()
        var manifests: [StaticPods.Manifest] = []
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: directory, isDirectory: &isDir), isDir.boolValue {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
            for n in names.sorted() where StaticPods.isManifestName(n) {
                let path = directory + "/" + n
                var sub: ObjCBool = false
                guard FileManager.default.fileExists(atPath: path, isDirectory: &sub), !sub.boolValue else { continue }
                guard let data = FileManager.default.contents(atPath: path) else { continue }
                manifests.append(StaticPods.Manifest(path: path, bytes: Array(data)))
            }
        } else if let data = FileManager.default.contents(atPath: directory) {
            // The path may name a single manifest file, as upstream's flag allows.
            manifests.append(StaticPods.Manifest(path: directory, bytes: Array(data)))
        }
        let listing = StaticPods.pods(from: manifests, nodeName: nodeName)
        let clock = wallClock()
        let now = StaticPods.seenTimestamp(clock)
        let (changedKeys, waiters, newRejections) = state.withLock { s in
            var next: [ObjectKey: CoreV1.Pod] = [:]
            for var p in listing.pods {
                let seen = s.seen[p.metadata.uid] ?? now
                p.metadata.annotations[StaticPods.seenAnnotation] = seen
                next[ObjectKey(p.metadata)] = p
            }
            let keys = Set(next.keys).union(s.pods.keys).filter { s.pods[$0] != next[$0] }
            // A manifest gone: its pod terminates as a deleted pod would (its grace period, hooks);
            // a pod (back) at a key takes the place of one being removed there.
            for (k, old) in s.pods where next[k] == nil {
                var gone = old
                gone.metadata.deletionTimestamp = Time(seconds: Int64(clock.timeIntervalSince1970))
                gone.metadata.deletionGracePeriodSeconds = old.spec.terminationGracePeriodSeconds ?? 30
                s.removed[k] = gone
            }
            for k in next.keys { s.removed[k] = nil }
            let uids = Set(next.values.map(\.metadata.uid)).union(s.removed.values.map(\.metadata.uid))
            s.seen = Dictionary(
                uniqueKeysWithValues: next.values.map {
                    ($0.metadata.uid, $0.metadata.annotations[StaticPods.seenAnnotation] ?? now)
                })
            s.statuses = s.statuses.filter { uids.contains($0.key) }
            s.pods = next
            s.fingerprint = print
            let fresh = listing.rejected.filter { !s.rejected.contains($0) }
            s.rejected = listing.rejected
            var waiters: [CheckedContinuation<Void, Never>] = []
            if !s.read {
                s.read = true
                waiters = s.readWaiters
                s.readWaiters = []
            }
            return (Array(keys), waiters, fresh)
        }
        for r in newRejections { log("static pod manifest \(r.path): \(r.reason)") }
        for w in waiters { w.resume() }
        return changedKeys
    }
}
