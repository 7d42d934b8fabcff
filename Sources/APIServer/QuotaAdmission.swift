import APIMachinery
import Foundation
import KubernetesAPI

/// Upstream's ResourceQuota admission plugin: a write that would take a namespace's usage past a
/// quota's `status.hard` is refused (403) before it is stored, and an admitted one is charged to
/// every quota that tracks it (`status.used`, compare-and-swap), so concurrent writes cannot
/// overshoot. The resourcequota controller later recomputes usage from what exists.
///
/// Quotas whose status the controller has not filled yet restrict nothing, as upstream.
struct QuotaAdmission {
    let server: ServerContext

    static let quotaResource = GroupResource(group: "", resource: "resourcequotas")

    /// Evaluates a create (`old` nil) or update of `item` in `namespace`.
    func admit(
        _ gr: GroupResource, name: String, namespace: String, item: QuotaEvaluation.Item,
        old: QuotaEvaluation.Item?, dryRun: Bool
    ) async throws {
        guard !namespace.isEmpty,
            let store = server.stores[Self.quotaResource] as? ResourceStore<CoreV1.ResourceQuota>
        else { return }
        let quotas = store.cache.snapshot(ObjectFilter(namespace: namespace)).items.map(\.object)
        guard !quotas.isEmpty else { return }
        let forbidden = { (msg: String) in
            APIError(
                code: 403, reason: "Forbidden", message: "\(gr.description) \"\(name)\" is forbidden: \(msg)",
                details: MetaV1.StatusDetails(name: name, group: gr.group, kind: gr.resource))
        }
        var tracking: [CoreV1.ResourceQuota] = []
        for q in quotas where QuotaEvaluation.matchesScopes(q, item) {
            let restricted = QuotaEvaluation.matchingResources(item, q.status.hard.keys)
            if restricted.isEmpty { continue }
            if case .pod(let pod) = item, old == nil,
                let missing = QuotaEvaluation.missingRequirements(pod, required: restricted)
            {
                throw forbidden("failed quota: \(q.metadata.name): \(missing)")
            }
            let unknown = restricted.filter { q.status.used[$0] == nil }.sorted()
            if !unknown.isEmpty {
                throw forbidden(
                    "status unknown for quota: \(q.metadata.name), resources: \(unknown.joined(separator: ","))")
            }
            tracking.append(q)
        }
        guard !tracking.isEmpty else { return }
        let now = Date()
        var delta = QuotaEvaluation.usage(item, now: now)
        if let old {
            // An update is charged only for what it adds (upstream's SubtractWithNonNegativeResult).
            let before = QuotaEvaluation.usage(old, now: now)
            for (k, v) in delta {
                let d = v - (before[k] ?? Quantity())
                delta[k] = d.sign < 0 ? Quantity() : d
            }
        }
        delta = delta.filter { !$0.value.isZero }
        guard !delta.isEmpty else { return }
        for q in tracking {
            if let msg = Self.exceeds(q, delta) { throw forbidden(msg) }
        }
        if dryRun { return }
        for q in tracking {
            // Concurrent writes in one namespace race for the quota: each retries on a lost swap,
            // re-checking against the usage the winner left.
            var attempt = 0
            while true {
                do {
                    _ = try await store.updateObject(
                        namespace: namespace, name: q.metadata.name, subresource: "status"
                    ) { cur in
                        if let msg = Self.exceeds(cur, delta) { throw forbidden(msg) }
                        var next = cur
                        next.status.used = ResourceLists.add(
                            cur.status.used, ResourceLists.mask(delta, cur.status.hard.keys))
                        next.metadata.resourceVersion = ""
                        return next
                    }
                    break
                } catch let e as APIError where e.code == 409 && attempt < 50 {
                    attempt += 1
                }
            }
        }
    }

    /// Upstream's check: the quota's usage plus the request, for the names the request touches, must
    /// stay within `status.hard`; the message names what was asked, used and allowed for each excess.
    static func exceeds(_ q: CoreV1.ResourceQuota, _ delta: [String: Quantity]) -> String? {
        let hard = q.status.hard
        let requested = ResourceLists.mask(delta, hard.keys)
        let after = ResourceLists.mask(ResourceLists.add(q.status.used, requested), requested.keys)
        let over = ResourceLists.exceeded(after, hard)
        guard !over.isEmpty else { return nil }
        let zeroFilled = over.reduce(into: [String: Quantity]()) { $0[$1] = q.status.used[$1] ?? Quantity() }
        return
            "exceeded quota: \(q.metadata.name), requested: \(ResourceLists.describe(ResourceLists.mask(requested, over))), "
            + "used: \(ResourceLists.describe(zeroFilled)), limited: \(ResourceLists.describe(ResourceLists.mask(hard, over)))"
    }

    /// The quota view of an object of resource `gr`.
    static func item<T>(_ obj: T, _ gr: GroupResource) -> QuotaEvaluation.Item {
        if let p = obj as? CoreV1.Pod { return .pod(p) }
        if let s = obj as? CoreV1.Service { return .service(s) }
        if let c = obj as? CoreV1.PersistentVolumeClaim { return .claim(c) }
        return .object(group: gr.group, resource: gr.resource)
    }

    /// Which writes the plugin looks at, as upstream's evaluators handle them: creates of anything
    /// namespaced, and updates of services and claims (whose usage can grow).
    static func handlesUpdate(_ gr: GroupResource) -> Bool {
        gr.group.isEmpty && (gr.resource == "services" || gr.resource == "persistentvolumeclaims")
    }
}
