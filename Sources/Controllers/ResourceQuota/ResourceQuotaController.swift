import APICore
import APIMachinery
import ControllerRuntime
import Foundation
import Synchronization

/// Upstream's resourcequota-controller: keeps every ResourceQuota's `status.hard` equal to its
/// `spec.hard` and `status.used` equal to what its namespace holds, for every name in `hard`.
///
/// As upstream, usage is recomputed when a quota's hard limits change, when something it counts is
/// deleted or stops counting (a pod turning Succeeded/Failed, a service or claim shrinking), and on
/// the periodic full resync (`--resource-quota-sync-period`); growth is charged by the ResourceQuota
/// admission plugin as each object is written, so a recount never races ahead of it.
public final class ResourceQuotaController: Controller {
    let client: KubeClient
    let informers: InformerFactory
    let quotas: ObjectStore<CoreV1.ResourceQuota>
    let pods: ObjectStore<CoreV1.Pod>
    let services: ObjectStore<CoreV1.Service>
    let claims: ObjectStore<CoreV1.PersistentVolumeClaim>
    let queue = WorkQueue<ObjectKey>(name: "resource_quota_primary")
    let workers: Int
    let resyncPeriod: Duration
    /// Where each counted group/resource is served (from discovery), and those watched already.
    let locations = Mutex<(known: [String: ResourceLocation], watched: Set<ResourceLocation>, refreshed: Date?)>(
        ([:], [], nil))

    public init(_ ctx: ControllerContext) {
        client = ctx.client
        informers = ctx.informers
        workers = ctx.options.workers("resourcequota-controller", default: 5)
        resyncPeriod = ctx.options.resourceQuotaSyncPeriod
        let quotaInformer = ctx.informers.informer(CoreV1.ResourceQuota.self)
        let podInformer = ctx.informers.informer(CoreV1.Pod.self)
        let serviceInformer = ctx.informers.informer(CoreV1.Service.self)
        let claimInformer = ctx.informers.informer(CoreV1.PersistentVolumeClaim.self)
        quotas = quotaInformer.store
        pods = podInformer.store
        services = serviceInformer.store
        claims = claimInformer.store
        let queue = self.queue
        quotaInformer.addHandler { e in
            switch e {
            case .added(let q): queue.add(ObjectKey(q.metadata))
            case .updated(_, let q) where Self.needsRecount(q): queue.add(ObjectKey(q.metadata))
            default: break
            }
        }
        let now: @Sendable () -> Date = { Date() }
        podInformer.addHandler { [weak self] e in
            switch e {
            case .deleted(let p): self?.replenish(p.metadata.namespace)
            case .updated(let old, let new)
            where QuotaEvaluation.podCounts(old, now: now()) && !QuotaEvaluation.podCounts(new, now: now()):
                self?.replenish(new.metadata.namespace)
            default: break
            }
        }
        serviceInformer.addHandler { [weak self] e in
            switch e {
            case .deleted(let s): self?.replenish(s.metadata.namespace)
            case .updated(let old, let new)
            where QuotaEvaluation.usage(.service(old), now: now()) != QuotaEvaluation.usage(.service(new), now: now()):
                self?.replenish(new.metadata.namespace)
            default: break
            }
        }
        claimInformer.addHandler { [weak self] e in
            switch e {
            case .deleted(let c): self?.replenish(c.metadata.namespace)
            case .updated(let old, let new)
            where QuotaEvaluation.usage(.claim(old), now: now()) != QuotaEvaluation.usage(.claim(new), now: now()):
                self?.replenish(new.metadata.namespace)
            default: break
            }
        }
    }

    /// A quota whose status does not yet reflect its spec (upstream's `updateQuota` check).
    static func needsRecount(_ q: CoreV1.ResourceQuota) -> Bool {
        q.spec.hard != q.status.hard || q.spec.hard.keys.contains { q.status.used[$0] == nil }
    }

    /// Something in `namespace` was released: its quotas are recounted.
    func replenish(_ namespace: String) {
        for q in quotas.list(namespace: namespace) { queue.add(ObjectKey(q.metadata)) }
    }

    /// The status a quota should have, from the objects of its namespace (pure: upstream's
    /// `CalculateUsage`). `counts` gives the number of objects per `count/…` or legacy count name.
    static func status(
        _ quota: CoreV1.ResourceQuota, pods: [CoreV1.Pod], services: [CoreV1.Service],
        claims: [CoreV1.PersistentVolumeClaim], counts: [String: Int], now: Date
    ) -> CoreV1.ResourceQuotaStatus {
        let hard = quota.spec.hard
        var used = hard.mapValues { _ in Quantity() }
        func charge(_ items: [QuotaEvaluation.Item], group: String, resource: String) {
            let names = QuotaEvaluation.matchingResources(group: group, resource: resource, hard.keys)
            guard !names.isEmpty else { return }
            for item in items where QuotaEvaluation.matchesScopes(quota, item) {
                used = ResourceLists.add(used, ResourceLists.mask(QuotaEvaluation.usage(item, now: now), names))
            }
        }
        charge(pods.map { .pod($0) }, group: "", resource: "pods")
        charge(services.map { .service($0) }, group: "", resource: "services")
        charge(claims.map { .claim($0) }, group: "", resource: "persistentvolumeclaims")
        if quota.spec.scopes.isEmpty && quota.spec.scopeSelector == nil {
            for (name, n) in counts where hard[name] != nil { used[name] = Quantity(Int64(n)) }
        }
        return CoreV1.ResourceQuotaStatus(hard: hard, used: used)
    }

    /// Count names whose objects come from metadata informers (everything but pods, services and claims).
    static func countedElsewhere(_ name: String) -> (group: String, resource: String)? {
        guard let gr = QuotaEvaluation.countedResource(name) else { return nil }
        if gr.group.isEmpty && ["pods", "services", "persistentvolumeclaims"].contains(gr.resource) { return nil }
        return gr
    }

    /// The metadata informer of a counted resource, started (and handled) on first use.
    func counter(group: String, resource: String) async -> Informer<MetaV1.PartialObjectMetadata>? {
        let key = "\(resource).\(group)"
        var loc = locations.withLock { $0.known[key] }
        if loc == nil {
            let stale = locations.withLock { s in s.refreshed.map { Date().timeIntervalSince($0) > 30 } ?? true }
            guard stale, let found = try? await client.discoverResources(preferredOnly: true) else { return nil }
            locations.withLock { s in
                s.refreshed = Date()
                for r in found where r.verbs.contains("list") && r.verbs.contains("watch") && r.namespaced {
                    s.known["\(r.resource).\(r.group)"] = ResourceLocation(
                        group: r.group, version: r.version, resource: r.resource, namespaced: true)
                }
            }
            loc = locations.withLock { $0.known[key] }
        }
        guard let loc else { return nil }
        let inf = informers.metadataInformer(loc)
        if locations.withLock({ $0.watched.insert(loc).inserted }) {
            inf.addHandler { [weak self] e in
                if case .deleted(let o) = e { self?.replenish(o.metadata.namespace) }
            }
        }
        await inf.waitForSync()
        return inf
    }

    func sync(_ key: ObjectKey) async throws {
        guard let q = quotas.get(key) else { return }
        var counts: [String: Int] = [:]
        for name in q.spec.hard.keys {
            guard let gr = Self.countedElsewhere(name) else { continue }
            if let inf = await counter(group: gr.group, resource: gr.resource) {
                counts[name] = inf.store.list(namespace: key.namespace).count
            }
        }
        let ns = key.namespace
        let status = Self.status(
            q, pods: pods.list(namespace: ns), services: services.list(namespace: ns),
            claims: claims.list(namespace: ns), counts: counts, now: Date())
        guard status != q.status else { return }
        var next = q
        next.status = status
        do {
            _ = try await client.updateStatus(next)
        } catch let e as StatusError where e.isNotFound {
            return
        }
    }

    public func run() async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: self.resyncPeriod)
                    for k in self.quotas.keys() { self.queue.add(k) }
                }
            }
            group.addTask { await self.queue.runWorkers(self.workers) { try await self.sync($0) } }
            await group.waitForAll()
        }
    }
}
