import APICore
import APIDiscovery
import APIMachinery
import ControllerRuntime
import Foundation

/// Services, and the pods their selectors match: what both endpoint controllers watch.
struct ServicePods: Sendable {
    let services: ObjectStore<CoreV1.Service>
    let pods: ObjectStore<CoreV1.Pod>

    init(_ ctx: ControllerContext, queue: WorkQueue<ObjectKey>) {
        let svcInformer = ctx.informers.informer(CoreV1.Service.self)
        let podInformer = ctx.informers.informer(CoreV1.Pod.self)
        services = svcInformer.store
        pods = podInformer.store
        let services = self.services
        svcInformer.addHandler(enqueueing: queue)
        podInformer.addHandler { e in
            func enqueue(_ p: CoreV1.Pod) {
                for s in services.list(namespace: p.metadata.namespace)
                where !s.spec.selector.isEmpty && s.spec.selector.allSatisfy({ p.metadata.labels[$0.key] == $0.value })
                {
                    queue.add(ObjectKey(s.metadata))
                }
            }
            switch e {
            case .added(let p), .deleted(let p): enqueue(p)
            case .updated(let old, let new):
                // Only what endpoints show: IPs, readiness, labels, deletion, node, ports.
                if old.status.podIP != new.status.podIP || old.status.podIPs != new.status.podIPs
                    || Pods.isReady(old) != Pods.isReady(new) || old.metadata.labels != new.metadata.labels
                    || old.metadata.deletionTimestamp != new.metadata.deletionTimestamp
                    || old.status.phase != new.status.phase || old.spec.nodeName != new.spec.nodeName
                {
                    enqueue(old)
                    enqueue(new)
                }
            }
        }
    }

    func selected(_ svc: CoreV1.Service) -> [CoreV1.Pod] {
        pods.list(namespace: svc.metadata.namespace).filter { p in
            svc.spec.selector.allSatisfy { p.metadata.labels[$0.key] == $0.value }
        }
    }
}

/// Keeps each selector Service's Endpoints object equal to its pods (upstream's endpoints-controller).
public final class EndpointsController: Controller {
    let client: KubeClient
    let queue = WorkQueue<ObjectKey>(name: "endpoint")
    let sources: ServicePods
    let endpoints: ObjectStore<CoreV1.Endpoints>
    let workers: Int

    public init(_ ctx: ControllerContext) {
        client = ctx.client
        workers = ctx.options.workers("endpoints-controller", default: 5)
        sources = ServicePods(ctx, queue: queue)
        let epInformer = ctx.informers.informer(CoreV1.Endpoints.self)
        endpoints = epInformer.store
        let queue = self.queue
        // An edited or deleted Endpoints object is put back.
        epInformer.addHandler { e in
            switch e {
            case .updated(_, let ep), .deleted(let ep): queue.add(ObjectKey(ep.metadata))
            case .added: break
            }
        }
    }

    func sync(_ key: ObjectKey) async throws {
        guard let svc = sources.services.get(key) else {
            if endpoints.get(key) != nil {
                do { try await client.delete(CoreV1.Endpoints.self, key.name, namespace: key.namespace) } catch let e
                    as StatusError where e.isNotFound
                {}
            }
            return
        }
        // A service without a selector has endpoints its owner writes.
        guard !svc.spec.selector.isEmpty, svc.metadata.deletionTimestamp == nil else { return }
        let current = endpoints.get(key)
        let want = EndpointsLogic.endpoints(for: svc, pods: sources.selected(svc), existing: current)
        if let current, current.subsets == want.subsets, current.metadata.labels == want.metadata.labels,
            current.metadata.annotations == want.metadata.annotations
        {
            return
        }
        if current == nil {
            do { _ = try await client.create(want) } catch let e as StatusError where e.isAlreadyExists {
                let fresh = try await client.get(CoreV1.Endpoints.self, key.name, namespace: key.namespace)
                var next = EndpointsLogic.endpoints(for: svc, pods: sources.selected(svc), existing: fresh)
                next.metadata.resourceVersion = fresh.metadata.resourceVersion
                _ = try await client.update(next)
            }
        } else {
            _ = try await client.update(want)
        }
    }

    public func run() async { await queue.runWorkers(workers) { try await self.sync($0) } }
}

/// Keeps each selector Service's EndpointSlices equal to its pods (upstream's endpointslice-controller):
/// per address family and port set, at most 100 endpoints a slice, with ready/serving/terminating
/// conditions, node names and zones.
public final class EndpointSliceController: Controller {
    let client: KubeClient
    let queue = WorkQueue<ObjectKey>(name: "endpoint_slice")
    let sources: ServicePods
    let slices: ObjectStore<DiscoveryV1.EndpointSlice>
    let nodes: ObjectStore<CoreV1.Node>
    let workers: Int

    public init(_ ctx: ControllerContext) {
        client = ctx.client
        workers = ctx.options.workers("endpointslice-controller", default: 5)
        sources = ServicePods(ctx, queue: queue)
        let sliceInformer = ctx.informers.informer(DiscoveryV1.EndpointSlice.self)
        slices = sliceInformer.store
        sliceInformer.trackSlices(
            managedBy: EndpointsLogic.managedBy, index: EndpointsLogic.serviceNameLabel, queue: queue)
        nodes = ctx.informers.informer(CoreV1.Node.self).store
    }

    func sync(_ key: ObjectKey) async throws {
        guard let svc = sources.services.get(key), !svc.spec.selector.isEmpty, svc.metadata.deletionTimestamp == nil
        else { return }  // Slices of a deleted service go with it (owner reference).
        var zones: [String: String] = [:]
        for n in nodes.list() {
            if let z = n.metadata.labels["topology.kubernetes.io/zone"] { zones[n.metadata.name] = z }
        }
        let desired = EndpointsLogic.desiredSlices(for: svc, pods: sources.selected(svc), zones: zones)
        let existing = slices.byIndex(EndpointsLogic.serviceNameLabel, key.description)
            .filter { OwnerRefs.controllerRef($0.metadata)?.uid == svc.metadata.uid }
        try await Self.reconcile(client: client, store: slices, desired: desired, existing: existing)
    }

    /// Makes `existing` slices into `desired` ones: identical ones stay, others are rewritten in place
    /// (same address type) or created, and the rest deleted.
    static func reconcile(
        client: KubeClient, store slices: ObjectStore<DiscoveryV1.EndpointSlice>,
        desired: [DiscoveryV1.EndpointSlice], existing all: [DiscoveryV1.EndpointSlice]
    ) async throws {
        var existing = all.sorted { $0.metadata.name < $1.metadata.name }
        var pending: [DiscoveryV1.EndpointSlice] = []
        for d in desired {
            if let i = existing.firstIndex(where: { EndpointsLogic.sameContent($0, d) }) {
                existing.remove(at: i)
            } else {
                pending.append(d)
            }
        }
        for d in pending {
            if let reuse = existing.firstIndex(where: { $0.addressType == d.addressType }) {
                var next = d
                next.metadata.name = existing[reuse].metadata.name
                next.metadata.generateName = existing[reuse].metadata.generateName
                next.metadata.resourceVersion = existing[reuse].metadata.resourceVersion
                existing.remove(at: reuse)
                slices.upsertIfNewer(try await client.update(next))
            } else {
                slices.upsertIfNewer(try await client.create(d))
            }
        }
        for s in existing {
            do {
                try await client.delete(
                    DiscoveryV1.EndpointSlice.self, s.metadata.name, namespace: s.metadata.namespace,
                    options: DeleteOptions(preconditionUID: s.metadata.uid))
                slices.remove(ObjectKey(s.metadata))
            } catch let e as StatusError where e.isNotFound || e.isConflict {}
        }
    }

    public func run() async { await queue.runWorkers(workers) { try await self.sync($0) } }
}

extension Informer where T == DiscoveryV1.EndpointSlice {
    /// Indexes the slices one manager (`endpointslice.kubernetes.io/managed-by`) writes by their
    /// service (`namespace/name`), and puts a service back on `queue` when someone else edits or
    /// deletes one of them.
    func trackSlices(managedBy: String, index: String, queue: WorkQueue<ObjectKey>) {
        store.addIndexer(index) { s in
            s.metadata.labels[EndpointsLogic.managedByLabel] == managedBy
                ? [s.metadata.labels[EndpointsLogic.serviceNameLabel].map { "\(s.metadata.namespace)/\($0)" } ?? ""]
                : []
        }
        addHandler { e in
            switch e {
            case .updated(_, let s), .deleted(let s):
                if s.metadata.labels[EndpointsLogic.managedByLabel] == managedBy,
                    let svc = s.metadata.labels[EndpointsLogic.serviceNameLabel]
                {
                    queue.add(ObjectKey(namespace: s.metadata.namespace, name: svc))
                }
            case .added: break
            }
        }
    }
}
