import APICore
import APIMachinery
import CRI
import ControllerRuntime
import Foundation

/// The shell around `PodResize`: reads the node's allocatable and the other pods' allocations only
/// when a pod asks for something new, applies the decision through CRI, and adds the resize status.
extension Kubelet {
    /// Admits a changed resize (or keeps the previous allocation), then updates running containers'
    /// limits in place or restarts those whose resize policy asks for it.
    func resize(_ pod: CoreV1.Pod, _ rt: RuntimePod) async {
        let uid = pod.metadata.uid
        let known = state.withLock { $0.resizes[uid] }
        let previous = known?.allocated ?? PodResize.reported(pod)
        let want = PodResize.desired(pod)
        var admission = PodResize.Admission(allocated: want, pending: nil)
        if want.contains(where: { name, r in previous[name].map { !PodResize.same($0, r) } ?? false }) {
            let node = try? await client.get(CoreV1.Node.self, options.nodeName)
            let pods = informer.store.list()
            let live = Set(pods.map(\.metadata.uid))
            let others = state.withLock { s in
                s.resizes = s.resizes.filter { live.contains($0.key) }
                s.resizeErrors = s.resizeErrors.filter { live.contains($0.key) }
                return s.resizes
            }
            let allocations = pods.filter { p in
                p.metadata.uid != uid && p.spec.nodeName == options.nodeName
                    && p.status.phase != "Succeeded" && p.status.phase != "Failed"
            }.map { others[$0.metadata.uid]?.allocated ?? PodResize.reported($0) }
            admission = PodResize.admit(
                pod: pod, previous: previous, allocatable: node?.status.allocatable ?? [:], others: allocations)
            if admission.pending != known?.pending, let p = admission.pending {
                log("resize of \(pod.metadata.namespace)/\(pod.metadata.name) pending: \(p.message)")
            }
        }
        state.withLock { $0.resizes[uid] = admission }
        let actuation = PodResize.actuate(pod: pod, allocated: admission.allocated, runtime: rt)
        // The pod cgroup moves with its containers (raised before them, lowered after them).
        let failure = await actuateResize(pod, rt, actuation, allocated: admission.allocated)
        if let failure { log("resize of \(pod.metadata.namespace)/\(pod.metadata.name): \(failure)") }
        state.withLock { $0.resizeErrors[uid] = failure }
        for id in actuation.restarts {
            guard let c = rt.containers.first(where: { $0.id == id }) else { continue }
            try? await killContainer(
                pod, id: id, name: c.name, running: true,
                note: "Container \(c.name) resize requires restart", podIP: podIP(pod, rt))
        }
        if failure != nil { queue.add(ObjectKey(pod.metadata), after: .seconds(5)) }
    }

    /// Adds each container's allocated and actual resources and the resize conditions to a status.
    func reportResize(_ status: inout CoreV1.PodStatus, _ pod: CoreV1.Pod, _ rt: RuntimePod, now: Time) {
        let (known, error) = state.withLock { ($0.resizes[pod.metadata.uid], $0.resizeErrors[pod.metadata.uid]) }
        let admission = known ?? PodResize.Admission(allocated: PodResize.reported(pod), pending: nil)
        PodResize.report(&status, pod: pod, admission: admission, runtime: rt, inProgressError: error, now: now)
    }
}
