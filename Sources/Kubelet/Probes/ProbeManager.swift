import APICore
import Synchronization

/// The kubelet's probe workers (upstream's `prober.Manager`): one task per container instance and
/// probe kind, started when the instance appears and stopped when it or its pod goes away.
final class ProbeManager: Sendable {
    struct Key: Hashable, Sendable {
        var podUID: String
        var containerID: String
        var kind: ProbeKind
    }

    struct Worker: Sendable {
        let task: Task<Void, Never>
        let wakeup: Wakeup
    }

    let workers = Mutex<[Key: Worker]>([:])

    /// The workers a pod needs now: for each app container and sidecar with probes, its newest
    /// instance while created or running; none once the pod finished.
    static func wanted(_ pod: CoreV1.Pod, _ rt: RuntimePod?) -> [Key: CoreV1.Container] {
        guard let rt, pod.status.phase != "Succeeded" && pod.status.phase != "Failed" else { return [:] }
        var out: [Key: CoreV1.Container] = [:]
        for c in pod.spec.initContainers.filter(\.isRestartableInit) + pod.spec.containers {
            guard let cur = rt.container(named: c.name), cur.state == .running || cur.state == .created else {
                continue
            }
            for kind in ProbeKind.allCases where kind.probe(of: c) != nil {
                out[Key(podUID: pod.metadata.uid, containerID: cur.id, kind: kind)] = c
            }
        }
        return out
    }

    /// Registers the workers `start` makes for keys not yet running, and removes (returning them) the
    /// workers of `podUID` not in `wanted`.
    func reconcile(podUID: String, wanted: Set<Key>, start: (Key) -> Worker) -> [Key: Worker] {
        workers.withLock { m in
            var stopped: [Key: Worker] = [:]
            for (k, w) in m where k.podUID == podUID && !wanted.contains(k) {
                stopped[k] = w
                m[k] = nil
            }
            for k in wanted where m[k] == nil { m[k] = start(k) }
            return stopped
        }
    }

    /// Removes (returning them) the workers of pods not in `live`.
    func remove(podsNotIn live: Set<String>) -> [Key: Worker] {
        workers.withLock { m in
            let stopped = m.filter { !live.contains($0.key.podUID) }
            for k in stopped.keys { m[k] = nil }
            return stopped
        }
    }

    /// The running workers of one pod.
    func workers(of podUID: String) -> [Key: Worker] {
        workers.withLock { $0.filter { $0.key.podUID == podUID } }
    }
}

/// Wakes a sleeping worker early (upstream's manual trigger): a wake-up while the worker is busy is
/// kept for its next wait.
final class Wakeup: Sendable {
    struct State {
        var pending = false
        var waiter: CheckedContinuation<Void, Never>?
    }

    let state = Mutex(State())

    func fire() {
        let w = state.withLock { s -> CheckedContinuation<Void, Never>? in
            if let w = s.waiter {
                s.waiter = nil
                return w
            }
            s.pending = true
            return nil
        }
        w?.resume()
    }

    /// Returns after `duration`, on a wake-up, or on cancellation, whichever comes first.
    func wait(for duration: Duration) async {
        await withTaskGroup(of: Void.self) { g in
            g.addTask { try? await Task.sleep(for: duration) }
            g.addTask { await self.next() }
            await g.next()
            g.cancelAll()
        }
    }

    func next() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let now = state.withLock { s -> Bool in
                    if Task.isCancelled { return true }
                    if s.pending {
                        s.pending = false
                        return true
                    }
                    s.waiter = c
                    return false
                }
                if now { c.resume() }
            }
        } onCancel: {
            let w = state.withLock { s -> CheckedContinuation<Void, Never>? in
                defer { s.waiter = nil }
                return s.waiter
            }
            w?.resume()
        }
    }
}
