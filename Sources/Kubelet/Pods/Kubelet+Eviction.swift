import APICore
import APIMachinery
import CRI
import ControllerRuntime
import Foundation
import KubeClient

/// What the eviction manager and the shutdown manager ask of the pod side: the node's active pods with
/// their runtime state, and ending a pod with a final status of the node's making.
extension Kubelet {
    /// The pods the node runs (static pods rather than their mirrors) that are not finished, with
    /// what the last relist saw of them.
    func activePods() -> [(pod: CoreV1.Pod, runtime: RuntimePod?)] {
        let snapshot = state.withLock { $0.snapshot }
        return kubeletPods().filter { p in
            p.status.phase != "Succeeded" && p.status.phase != "Failed"
        }.map { ($0, snapshot[$0.metadata.uid]) }
    }

    /// Ends a pod on the node's initiative (eviction, shutdown): writes its final status first
    /// (`finalStatus` of the newest status, retried on conflict), so that no sync restarts its
    /// containers, then kills every container as upstream's `killPod` does (preStop hooks, then
    /// StopContainer) with `gracePeriodSeconds` overriding the pod's own grace, and stops its
    /// sandboxes. The override is recorded first, so a sync of the pod that kills it meanwhile uses
    /// it too. The pod's later syncs keep the phase and reason (a finished pod stays finished).
    func endPod(
        _ pod: CoreV1.Pod, gracePeriodSeconds: Int64, event: (reason: String, note: String)?,
        finalStatus: @Sendable (CoreV1.PodStatus) -> CoreV1.PodStatus
    ) async {
        state.withLock { s in
            let previous = s.graceOverrides[pod.metadata.uid] ?? .max
            s.graceOverrides[pod.metadata.uid] = min(previous, gracePeriodSeconds)
        }
        var current = pod
        for _ in 0..<5 {
            var updated = current
            updated.status = finalStatus(current.status)
            do {
                _ = try await client.updateStatus(updated)
                break
            } catch let e as StatusError where e.isConflict {
                guard
                    let fresh = try? await client.get(
                        CoreV1.Pod.self, pod.metadata.name, namespace: pod.metadata.namespace)
                else { break }
                current = fresh
            } catch {
                log("could not write the final status of \(pod.metadata.namespace)/\(pod.metadata.name): \(error)")
                break
            }
        }
        if let event { events.warning(pod, reason: event.reason, note: event.note) }
        guard let rt = try? await runtimePod(pod) else { return }
        let ip = podIP(pod, rt)
        await withTaskGroup(of: Void.self) { g in
            for c in rt.containers where c.state == .running || c.state == .created {
                g.addTask {
                    try? await self.killContainer(
                        pod, id: c.id, name: c.name, running: c.state == .running,
                        note: "Stopping container \(c.name)", podIP: ip, gracePeriodOverride: gracePeriodSeconds)
                }
            }
        }
        for s in rt.sandboxes where s.state == .ready { try? await runtime.stopPodSandbox(s.id) }
        queue.add(ObjectKey(pod.metadata))
    }

    /// Node-level disk reclaim before evicting pods: removes exited containers of finished or unknown
    /// pods, then every image no container uses (the sandbox image is pinned and stays).
    func reclaimNodeDisk() async {
        let live = Set(activePods().map(\.pod.metadata.uid))
        if let containers = try? await runtime.listContainers() {
            for c in containers where c.state == .containerExited {
                let uid = c.labels["io.kubernetes.pod.uid"] ?? ""
                if !live.contains(uid) { try? await runtime.removeContainer(c.id) }
            }
        }
        guard let images = try? await runtime.listImages(), let containers = try? await runtime.listContainers()
        else { return }
        let used = Set(containers.map(\.imageRef) + containers.map(\.image.image))
        for img in images where !img.pinned {
            let inUse =
                used.contains(img.id) || img.repoTags.contains(where: used.contains)
                || img.repoDigests.contains(where: used.contains)
            guard !inUse else { continue }
            var spec = Runtime_V1_ImageSpec()
            spec.image = img.id
            if (try? await runtime.removeImage(spec)) != nil { log("eviction: removed unused image \(img.id)") }
        }
    }

    /// Refuses a pod the node does not admit: Failed with the reason and `Pod was rejected: <message>`
    /// (upstream's rejection), and a warning event.
    func rejectPod(_ pod: CoreV1.Pod, reason: String, message: String) async {
        events.warning(pod, reason: reason, note: message)
        var updated = pod
        var s = CoreV1.PodStatus()
        s.qosClass = RuntimeConfigs.qosClass(pod)
        s.phase = "Failed"
        s.reason = reason
        s.message = "Pod was rejected: " + message
        s.startTime = pod.status.startTime
        updated.status = s
        _ = try? await client.updateStatus(updated)
    }

    /// Whether the admission hook may judge this pod: it has not started here (no sandbox, no
    /// container) and has no final phase. Pods already running are never rejected afterwards.
    func isNewPod(_ pod: CoreV1.Pod, _ rt: RuntimePod) -> Bool {
        rt.sandboxes.isEmpty && rt.containers.isEmpty && pod.status.phase != "Running"
            && pod.status.phase != "Succeeded" && pod.status.phase != "Failed" && pod.status.containerStatuses.isEmpty
    }
}

/// Why the node refuses a pod: the reason and message of its Failed status.
public struct PodRejection: Sendable, Equatable {
    public var reason: String
    public var message: String

    public init(reason: String, message: String) {
        self.reason = reason
        self.message = message
    }
}
