import APIMachinery
import Foundation
import KubernetesAPI

extension ResourceStore {
    /// `POST pods/<name>/eviction` (upstream's eviction REST): the pod is deleted unless that would
    /// take its PodDisruptionBudget below what it must keep, which is answered 429 with the budget's
    /// cause. Pods that are not running (pending, finished, already deleting) skip the budget; an
    /// unready pod may go when the budget is healthy or its policy is AlwaysAllow.
    func evict(_ req: ResourceRequest) async throws -> HTTPResponse {
        guard resource.resource == "pods" else { throw APIError.notFound(groupResource, req.name) }
        let eviction: PolicyV1.Eviction
        do {
            eviction = try ObjectDecoding.decodeJSON(PolicyV1.Eviction.self, req.body, track: false).object
        } catch {
            throw APIError.badRequest("the eviction body is not a valid Eviction: \(error)")
        }
        if !eviction.metadata.name.isEmpty && eviction.metadata.name != req.name {
            throw APIError.badRequest("name in URL does not match name in Eviction object")
        }
        let podsGR = GroupResource(group: "", resource: "pods")
        guard let current = try await freshCurrent(req.namespace, req.name)?.object as? CoreV1.Pod else {
            throw APIError.notFound(podsGR, req.name)
        }
        var options = eviction.deleteOptions ?? MetaV1.DeleteOptions()
        let dryRun = req.isDryRun || options.dryRun.contains("All")
        if !Self.evictionIgnoresBudget(current) {
            try await chargeBudget(current, dryRun: dryRun)
        }
        if options.preconditions == nil {
            options.preconditions = MetaV1.Preconditions(uid: current.metadata.uid)
        }
        _ = try await deleteObject(namespace: req.namespace, name: req.name, options: options, dryRun: dryRun)
        var st = MetaV1.Status(kind: "Status", apiVersion: "v1", status: "Success")
        st.code = 201
        var w = JSONWriter()
        st.encodeJSON(&w)
        return try encodeRaw(
            w.bytes, kind: "Status", format: req.response.format, status: .created,
            proto: { ProtobufEnvelope.encode(st) })
    }

    /// Pods that are not running, or already going, are evicted without asking their budget.
    static func evictionIgnoresBudget(_ pod: CoreV1.Pod) -> Bool {
        if pod.metadata.deletionTimestamp != nil { return true }
        return ["Succeeded", "Failed", "Pending"].contains(pod.status.phase)
    }

    static func isReady(_ pod: CoreV1.Pod) -> Bool {
        pod.status.conditions.contains { $0.type == "Ready" && $0.status == "True" }
    }

    /// Checks the pod's budget and records the disruption in its status (upstream's DisruptedPods),
    /// or throws the 429 (or 500 for more than one budget).
    func chargeBudget(_ pod: CoreV1.Pod, dryRun: Bool) async throws {
        let pdbGR = GroupResource(group: "policy", resource: "poddisruptionbudgets")
        guard let budgets = server.stores[pdbGR] as? ResourceStore<PolicyV1.PodDisruptionBudget> else { return }
        let matching = budgets.cache.snapshot(ObjectFilter(namespace: pod.metadata.namespace)).items.map(\.object)
            .filter { pdb in
                guard let sel = pdb.spec.selector, !(sel.matchLabels.isEmpty && sel.matchExpressions.isEmpty) else {
                    return false
                }
                return sel.matches(pod.metadata.labels)
            }
        guard let pdb = matching.first else { return }
        if matching.count > 1 {
            throw APIError(
                code: 500, reason: "InternalError",
                message:
                    "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.")
        }
        let name = pdb.metadata.name
        // An unready pod does not count against a healthy budget (IfHealthyBudget), or ever (AlwaysAllow).
        if !Self.isReady(pod) {
            if pdb.spec.unhealthyPodEvictionPolicy == "AlwaysAllow" { return }
            if pdb.status.currentHealthy >= pdb.status.desiredHealthy && pdb.status.desiredHealthy > 0 { return }
        }
        func refuse(_ cause: String) -> APIError {
            APIError(
                code: 429, reason: "TooManyRequests",
                message: "Cannot evict pod as it would violate the pod's disruption budget.",
                details: MetaV1.StatusDetails(causes: [MetaV1.StatusCause(reason: "DisruptionBudget", message: cause)]))
        }
        if pdb.status.observedGeneration < pdb.metadata.generation {
            throw refuse("The disruption budget \(name) is still being processed by the server.")
        }
        if pdb.status.disruptionsAllowed <= 0 {
            throw refuse(
                "The disruption budget \(name) needs \(pdb.status.desiredHealthy) healthy pods and has \(pdb.status.currentHealthy) currently"
            )
        }
        guard !dryRun else { return }
        _ = try await budgets.updateObject(namespace: pdb.metadata.namespace, name: name, subresource: "status") {
            old in
            var b = old
            guard b.status.disruptionsAllowed > 0 else {
                throw refuse(
                    "The disruption budget \(name) needs \(b.status.desiredHealthy) healthy pods and has \(b.status.currentHealthy) currently"
                )
            }
            b.status.disruptionsAllowed -= 1
            b.status.disruptedPods[pod.metadata.name] = Time(seconds: Int64(Date().timeIntervalSince1970))
            return b
        }
    }
}
