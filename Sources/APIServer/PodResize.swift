import APIMachinery
import KubernetesAPI

/// `pods/resize` (`kubectl patch --subresource resize`): of the request only the containers' and
/// sidecars' `resources` and `resizePolicy` (and pod-level `resources`) reach the stored pod;
/// metadata, the rest of the spec and the status are the stored ones (upstream's
/// `dropNonResizeUpdates`). Containers are taken by position with the request's names, so
/// validation sees a rename or a reorder and refuses it.
enum PodResize {
    static func update(_ input: CoreV1.Pod, old: CoreV1.Pod) -> (CoreV1.Pod, ErrorList) {
        var pod = old
        pod.spec.containers = merged(input.spec.containers, into: old.spec.containers)
        pod.spec.initContainers = merged(input.spec.initContainers, into: old.spec.initContainers)
        if input.spec.resources != nil || old.spec.resources != nil { pod.spec.resources = input.spec.resources }
        let errs = pod.validateResize(from: old)
        if errs.isEmpty && pod.spec != old.spec {
            // A resize is a spec change: the kubelet reports it seen in observedGeneration.
            pod.metadata.generation = old.metadata.generation + 1
        }
        return (pod, errs)
    }

    /// The stored containers with the request's names, resources and resize policies at the same
    /// positions; a count mismatch keeps the request's list so validation names it.
    static func merged(_ new: [CoreV1.Container], into old: [CoreV1.Container]) -> [CoreV1.Container] {
        guard new.count == old.count else { return new }
        var out = old
        for i in out.indices {
            out[i].name = new[i].name
            out[i].resources = new[i].resources
            out[i].resizePolicy = new[i].resizePolicy
        }
        return out
    }
}
