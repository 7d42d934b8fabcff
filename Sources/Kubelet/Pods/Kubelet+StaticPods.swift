import APICore
import APIMachinery
import ControllerRuntime
import Foundation
import KubeClient

extension Kubelet {
    /// The pod the kubelet runs under `key`: a static pod in preference to the API's pod of that name
    /// (its mirror), else the API pod bound here. A mirror pod is never run itself; one whose static
    /// pod is gone is deleted. API pods wait until the pods and services were listed once.
    func podToSync(_ key: ObjectKey) async -> CoreV1.Pod? {
        if let source = staticPods, let p = source.pod(key) {
            // After a restart the kubelet has no status of its own yet: the mirror's carries on
            // (start time, transition times).
            guard let m = informer.store.get(key), StaticPods.isMirror(m, of: p) else { return p }
            source.seedStatus(p.metadata.uid, from: m.status)
            return source.pod(key) ?? p
        }
        guard informer.hasSynced, services.hasSynced else {
            if informer.store.get(key) != nil { queue.add(key, after: .seconds(1)) }
            return nil
        }
        guard let p = informer.store.get(key) else { return nil }
        guard StaticPods.isMirror(p) else { return p }
        if let source = staticPods, !source.hasRead {
            queue.add(key, after: .seconds(1))
            return nil
        }
        // No manifest gives this pod (any more): the mirror goes too (upstream's
        // deleteOrphanedMirrorPods).
        await deleteMirrorPod(p)
        return nil
    }

    /// Every pod the kubelet runs: the API's pods bound here, static pods in place of their mirrors.
    func kubeletPods() -> [CoreV1.Pod] {
        let statics = staticPods?.list() ?? []
        let taken = Set(statics.map { ObjectKey($0.metadata) })
        return statics
            + informer.store.list().filter { !StaticPods.isMirror($0) && !taken.contains(ObjectKey($0.metadata)) }
    }

    /// The pod the kubelet runs under this namespace and name (for the kubelet's own port).
    func kubeletPod(_ key: ObjectKey) -> CoreV1.Pod? {
        if let p = staticPods?.pod(key) { return p }
        return informer.store.get(key).flatMap { StaticPods.isMirror($0) ? nil : $0 }
    }

    /// Makes the API hold the static pod's mirror (upstream's syncPod for static pods): a mirror
    /// being deleted or of another version of the manifest is deleted at once, and a missing one is
    /// created, owned by the Node. Without the API (or the Node) the static pod runs all the same.
    func syncMirrorPod(_ pod: CoreV1.Pod) async {
        let key = ObjectKey(pod.metadata)
        var mirror = informer.store.get(key)
        if let m = mirror, !StaticPods.isMirror(m) {
            // An API pod of its own holds the name: it is not the kubelet's to delete.
            log("static pod \(key.namespace)/\(key.name): an API pod that is not its mirror has the name")
            return
        }
        if let m = mirror, m.metadata.deletionTimestamp != nil || !StaticPods.isMirror(m, of: pod) {
            guard await deleteMirrorPod(m) else {
                // A failed delete (the API away or slow) is tried again soon, not at the next
                // periodic sync a minute later: a client deleting the mirror waits on it.
                queue.add(key, after: .seconds(2))
                return
            }
            mirror = nil
        }
        guard mirror == nil else { return }
        let node: CoreV1.Node
        do {
            node = try await client.get(CoreV1.Node.self, options.nodeName)
        } catch {
            // The Node is not registered yet (or the API is away): try again shortly.
            queue.add(key, after: .seconds(2))
            return
        }
        guard node.metadata.deletionTimestamp == nil else { return }
        let m = StaticPods.mirrorPod(of: pod, nodeName: options.nodeName, nodeUID: node.metadata.uid)
        do {
            _ = try await client.create(m, namespace: pod.metadata.namespace)
            log("created mirror pod \(key.namespace)/\(key.name)")
        } catch let e as StatusError where e.isAlreadyExists {
            // The informer has not seen it yet; the next sync looks again.
        } catch {
            log("creating mirror pod \(key.namespace)/\(key.name): \(error)")
            queue.add(key, after: .seconds(2))
        }
    }

    /// Called once a pod being deleted has no container running: a static pod whose manifest went
    /// away is forgotten, and its mirror pod is deleted by the sync this queues.
    func staticPodStopped(_ pod: CoreV1.Pod) {
        if let key = staticPods?.stopped(pod.metadata.uid) { queue.add(key) }
    }

    /// Deletes a mirror pod at once, only that very object (grace 0, UID precondition). True when
    /// it is gone.
    @discardableResult
    func deleteMirrorPod(_ m: CoreV1.Pod) async -> Bool {
        do {
            _ = try await client.delete(
                CoreV1.Pod.self, m.metadata.name, namespace: m.metadata.namespace,
                options: DeleteOptions(gracePeriodSeconds: 0, preconditionUID: m.metadata.uid))
            log("deleted mirror pod \(m.metadata.namespace)/\(m.metadata.name)")
            return true
        } catch let e as StatusError where e.isNotFound {
            return true
        } catch {
            log("deleting mirror pod \(m.metadata.namespace)/\(m.metadata.name): \(error)")
            return false
        }
    }

    /// A static pod's status goes to its mirror pod (when there is a current one); the kubelet keeps
    /// it too, as the next sync's previous status.
    func reportStaticPodStatus(_ pod: CoreV1.Pod, _ status: CoreV1.PodStatus) async throws {
        var status = status
        let mirror = informer.store.get(ObjectKey(pod.metadata))
        if let m = mirror, status.qosClass.isEmpty { status.qosClass = m.status.qosClass }
        staticPods?.setStatus(pod.metadata.uid, status)
        guard var m = mirror, StaticPods.isMirror(m, of: pod), m.metadata.deletionTimestamp == nil,
            m.status != status
        else { return }
        m.status = status
        do {
            _ = try await client.updateStatus(m)
        } catch let e as StatusError where e.isConflict || e.isNotFound {
            // A newer mirror is on its way through the informer: the sync it causes writes again.
        }
    }
}
