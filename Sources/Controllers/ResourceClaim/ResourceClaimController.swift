import APICore
import APIMachinery
import APIResource
import ControllerRuntime
import Foundation

/// Upstream's resourceclaim-controller (dynamic resource allocation): a pod that names a
/// ResourceClaimTemplate gets its own ResourceClaim made from it (owned by the pod, annotated with the
/// pod's claim name) and recorded in `status.resourceClaimStatuses`; claims stop being reserved for
/// pods that are gone or done, lose their allocation once nothing uses them, and the claims made for
/// a pod go when the pod is done.
public final class ResourceClaimController: Controller {
    static let podClaimNameAnnotation = "resource.kubernetes.io/pod-claim-name"

    let client: KubeClient
    let pods: ObjectStore<CoreV1.Pod>
    let claims: ObjectStore<ResourceV1.ResourceClaim>
    let templates: ObjectStore<ResourceV1.ResourceClaimTemplate>
    let podQueue = WorkQueue<ObjectKey>(name: "resource_claim")
    let claimQueue = WorkQueue<ObjectKey>(name: "resource_claim_reserved_for")

    public init(_ ctx: ControllerContext) {
        client = ctx.client
        let podInformer = ctx.informers.informer(CoreV1.Pod.self)
        let claimInformer = ctx.informers.informer(ResourceV1.ResourceClaim.self)
        let templateInformer = ctx.informers.informer(ResourceV1.ResourceClaimTemplate.self)
        pods = podInformer.store
        claims = claimInformer.store
        templates = templateInformer.store
        let podQueue = self.podQueue, claimQueue = self.claimQueue, claims = self.claims, pods = self.pods
        podInformer.addHandler { e in
            let p = e.object
            guard !p.spec.resourceClaims.isEmpty else { return }
            podQueue.add(ObjectKey(p.metadata))
            // Claims reserved for it may be released.
            for c in claims.list(namespace: p.metadata.namespace)
            where c.status.reservedFor.contains(where: { $0.uid == p.metadata.uid }) {
                claimQueue.add(ObjectKey(c.metadata))
            }
        }
        claimInformer.addHandler(enqueueing: claimQueue)
        templateInformer.addHandler { e in
            // Pods waiting for this template.
            let t = e.object
            for p in pods.list(namespace: t.metadata.namespace)
            where p.spec.resourceClaims.contains(where: { $0.resourceClaimTemplateName == t.metadata.name }) {
                podQueue.add(ObjectKey(p.metadata))
            }
        }
    }

    static func isDone(_ p: CoreV1.Pod) -> Bool {
        p.status.phase == "Succeeded" || p.status.phase == "Failed"
    }

    /// The claim a template makes for one of a pod's claims (upstream's generated claim).
    static func claim(
        for pod: CoreV1.Pod, podClaim: String, template: ResourceV1.ResourceClaimTemplate
    ) -> ResourceV1.ResourceClaim {
        var c = ResourceV1.ResourceClaim()
        c.metadata.namespace = pod.metadata.namespace
        // Upstream's generated names: <pod>-<claim>-, each part cut so the whole stays short.
        c.metadata.generateName = "\(pod.metadata.name.prefix(28))-\(podClaim.prefix(28))-"
        c.metadata.labels = template.spec.metadata.labels
        c.metadata.annotations = template.spec.metadata.annotations
        c.metadata.annotations[podClaimNameAnnotation] = podClaim
        c.metadata.ownerReferences = [
            MetaV1.OwnerReference(
                apiVersion: "v1", kind: "Pod", name: pod.metadata.name, uid: pod.metadata.uid, controller: true,
                blockOwnerDeletion: true)
        ]
        c.spec = template.spec.spec
        return c
    }

    /// The claim already made for a pod's claim, if any.
    func existingClaim(_ pod: CoreV1.Pod, _ podClaim: String) -> ResourceV1.ResourceClaim? {
        claims.list(namespace: pod.metadata.namespace).first {
            OwnerRefs.controllerRef($0.metadata)?.uid == pod.metadata.uid
                && $0.metadata.annotations[Self.podClaimNameAnnotation] == podClaim
        }
    }

    func syncPod(_ key: ObjectKey) async throws {
        guard let pod = pods.get(key) else { return }
        if Self.isDone(pod) || pod.metadata.deletionTimestamp != nil {
            // Claims made for a finished pod are deleted once nothing reserves them.
            for pc in pod.spec.resourceClaims where pc.resourceClaimTemplateName != nil {
                if let c = existingClaim(pod, pc.name), c.status.reservedFor.allSatisfy({ $0.uid == pod.metadata.uid })
                {
                    do {
                        try await client.delete(
                            ResourceV1.ResourceClaim.self, c.metadata.name, namespace: key.namespace,
                            options: DeleteOptions(preconditionUID: c.metadata.uid))
                    } catch let e as StatusError where e.isNotFound || e.isConflict {}
                }
            }
            return
        }
        var statuses = pod.status.resourceClaimStatuses
        for pc in pod.spec.resourceClaims {
            guard let templateName = pc.resourceClaimTemplateName else { continue }
            if statuses.contains(where: { $0.name == pc.name && $0.resourceClaimName != nil }) { continue }
            var made = existingClaim(pod, pc.name)
            if made == nil {
                // The template may come later; the template handler brings the pod back.
                guard let t = templates.get(namespace: key.namespace, name: templateName) else { continue }
                let c = try await client.create(Self.claim(for: pod, podClaim: pc.name, template: t))
                claims.upsertIfNewer(c)
                made = c
            }
            statuses.removeAll { $0.name == pc.name }
            statuses.append(CoreV1.PodResourceClaimStatus(name: pc.name, resourceClaimName: made!.metadata.name))
        }
        if statuses != pod.status.resourceClaimStatuses {
            var next = pod
            next.status.resourceClaimStatuses = statuses
            do { _ = try await client.updateStatus(next) } catch let e as StatusError where e.isNotFound {}
        }
    }

    /// The consumers still holding a claim (upstream keeps pods that exist, are not done, and match by UID).
    static func liveConsumers(
        _ claim: ResourceV1.ResourceClaim, pod: (String) -> CoreV1.Pod?
    ) -> [ResourceV1.ResourceClaimConsumerReference] {
        claim.status.reservedFor.filter { ref in
            guard ref.resource == "pods", ref.apiGroup.isEmpty else { return true }
            guard let p = pod(ref.name), p.metadata.uid == ref.uid else { return false }
            return !isDone(p)
        }
    }

    func syncClaim(_ key: ObjectKey) async throws {
        guard let claim = claims.get(key) else { return }
        var next = claim
        next.status.reservedFor = Self.liveConsumers(claim) { pods.get(namespace: key.namespace, name: $0) }
        // Nothing uses it any more: its allocation is given back.
        if next.status.reservedFor.isEmpty && !claim.status.reservedFor.isEmpty {
            next.status.allocation = nil
            next.status.devices = []
        }
        guard next.status != claim.status else { return }
        do { _ = try await client.updateStatus(next) } catch let e as StatusError where e.isNotFound {}
    }

    public func run() async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.podQueue.runWorkers(5) { try await self.syncPod($0) } }
            group.addTask { await self.claimQueue.runWorkers(5) { try await self.syncClaim($0) } }
            await group.waitForAll()
        }
    }
}
