import APICore
import APIMachinery
import CRI
import ControllerRuntime
import Foundation

/// The pod worker's volume steps: set-up (and refresh) before containers start, each container's
/// mounts, removal of the directories of pods that are gone.
extension Kubelet {
    /// Sets up (or refreshes) the pod's volumes; false after reporting a `FailedMount` for each
    /// volume that failed, the pod's status written (it stays ContainerCreating) and a retry
    /// scheduled with back-off (500 ms doubling to 2 min, as upstream's mount retries).
    func setUpVolumes(_ pod: CoreV1.Pod, _ rt: RuntimePod) async throws -> Bool {
        if options.hollow { return true }
        let failures = await volumes.setUp(pod)
        let uid = pod.metadata.uid
        guard !failures.isEmpty else {
            volumes.state.withLock { $0.mountRetries[uid] = nil }
            return true
        }
        for f in failures {
            log("pod \(pod.metadata.namespace)/\(pod.metadata.name): \(f.note)")
            events.warning(pod, reason: "FailedMount", note: f.note)
        }
        // One retry pending per pod, however many syncs fail meanwhile.
        let delay: Swift.Duration? = volumes.state.withLock { s in
            var r = s.mountRetries[uid] ?? VolumeManager.Retry()
            defer { s.mountRetries[uid] = r }
            if r.pending { return nil }
            r.pending = true
            r.delay = r.delay == .zero ? .milliseconds(500) : min(r.delay * 2, .seconds(122))
            return r.delay
        }
        if let delay {
            let key = ObjectKey(pod.metadata)
            Task {
                try? await Task.sleep(for: delay)
                self.volumes.state.withLock { $0.mountRetries[uid]?.pending = false }
                self.queue.add(key)
            }
        }
        try await report(pod, rt, terminal: false)
        return false
    }

    /// The container's CRI mounts, or nil after recording why they could not be made
    /// (CreateContainerConfigError, as upstream's `makeMounts` failures).
    func containerMounts(_ c: CoreV1.Container, _ pod: CoreV1.Pod, _ podIPs: [String], _ env: [(String, String)])
        -> [Runtime_V1_Mount]?
    {
        if options.hollow { return [] }
        do {
            return try volumes.containerMounts(
                c, pod, podIPs: podIPs, env: Dictionary(env, uniquingKeysWith: { _, b in b }))
        } catch {
            setWaiting(pod, c.name, WaitingReason("CreateContainerConfigError", error.message))
            events.warning(pod, reason: "Failed", note: "Error: \(error.message)")
            return nil
        }
    }

    /// Removes the volume directories of pods no API pod owns once none of their containers runs.
    func cleanUpVolumes(_ pods: [String: RuntimePod]) {
        if options.hollow { return }
        let busy = Set(
            pods.filter { $0.value.containers.contains { $0.state == .running || $0.state == .created } }.keys)
        volumes.cleanUpOrphans(busy: busy) { Set(self.kubeletPods().map(\.metadata.uid)) }
    }

    /// Requeues, every `volumeResyncPeriod`, the pods whose volumes follow API objects, so that a
    /// changed ConfigMap or Secret shows in them within about a minute (upstream: its sync period).
    func resyncVolumesLoop() async {
        if options.hollow { return }
        while !Task.isCancelled {
            try? await Task.sleep(for: options.volumeResyncPeriod)
            for p in kubeletPods() where PodVolumePlan.hasRefreshingVolumes(p) {
                queue.add(ObjectKey(p.metadata))
            }
        }
    }
}
