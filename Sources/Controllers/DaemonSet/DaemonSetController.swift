import APIApps
import APICore
import APIMachinery
import ControllerRuntime
import Foundation

/// Runs one pod of each DaemonSet on every node it belongs on (upstream's daemonset-controller):
/// node selector, required node affinity and taints decide; pods are pinned by node affinity with the
/// daemon tolerations; a ControllerRevision per template; RollingUpdate within maxUnavailable or by
/// surging within maxSurge, or OnDelete; old ControllerRevisions beyond revisionHistoryLimit removed;
/// upstream's status counts.
public final class DaemonSetController: Controller {
    let client: KubeClient
    let daemonSets: ObjectStore<AppsV1.DaemonSet>
    let pods: ObjectStore<CoreV1.Pod>
    let nodes: ObjectStore<CoreV1.Node>
    let revisions: ObjectStore<AppsV1.ControllerRevision>
    let queue = WorkQueue<ObjectKey>(name: "daemonset")
    let expectations = Expectations<ObjectKey>()
    let recorder: EventRecorder
    let workers: Int

    public init(_ ctx: ControllerContext) {
        client = ctx.client
        workers = ctx.options.workers("daemonset-controller", default: 2)
        recorder = ctx.recorder("daemonset-controller")
        let dsInformer = ctx.informers.informer(AppsV1.DaemonSet.self)
        let podInformer = ctx.informers.informer(CoreV1.Pod.self)
        let nodeInformer = ctx.informers.informer(CoreV1.Node.self)
        daemonSets = dsInformer.store
        pods = podInformer.store
        nodes = nodeInformer.store
        revisions = ctx.informers.informer(AppsV1.ControllerRevision.self).store
        let queue = self.queue
        let daemonSets = self.daemonSets
        dsInformer.addHandler(enqueueing: queue)
        nodeInformer.addHandler { _ in for d in daemonSets.list() { queue.add(ObjectKey(d.metadata)) } }
        podInformer.addOwnerHandler(queue: queue, expectations: expectations) { p in
            guard let ref = OwnerRefs.controllerRef(p.metadata), ref.kind == "DaemonSet" else { return nil }
            return ObjectKey(namespace: p.metadata.namespace, name: ref.name)
        }
    }

    /// What to do on each node.
    struct Plan: Equatable {
        var createOn: [String] = []
        var delete: [String] = []
    }

    /// Pods to create and delete (upstream's `podsShouldBeOnNode` per node, then the rolling update).
    static func plan(
        _ ds: AppsV1.DaemonSet, nodes: [CoreV1.Node], pods: [CoreV1.Pod], hash: String, now: Date
    ) -> Plan {
        var plan = Plan()
        var byNode: [String: [CoreV1.Pod]] = [:]
        for p in pods where p.metadata.deletionTimestamp == nil {
            byNode[DaemonSetLogic.node(of: p) ?? "", default: []].append(p)
        }
        let names = Set(nodes.map(\.metadata.name))
        for (n, ps) in byNode where !names.contains(n) { plan.delete += ps.map(\.metadata.name) }
        let rolling = ds.spec.updateStrategy.type != "OnDelete"
        let desired = nodes.filter { DaemonSetLogic.shouldRun(ds, on: $0).run }.count
        let maxSurge =
            rolling
            ? Int(
                DeploymentLogic.scaled(
                    ds.spec.updateStrategy.rollingUpdate?.maxSurge ?? .int(0), total: Int32(desired), roundUp: true))
            : 0
        let available = { (p: CoreV1.Pod) in Pods.isAvailable(p, minReadySeconds: ds.spec.minReadySeconds, now: now) }
        var oldOnNodes: [(node: String, pod: CoreV1.Pod)] = []
        var surgeState: [(node: String, old: CoreV1.Pod?, new: CoreV1.Pod?)] = []
        var unavailable = 0
        for node in nodes.sorted(by: { $0.metadata.name < $1.metadata.name }) {
            let (run, keep) = DaemonSetLogic.shouldRun(ds, on: node)
            let here = byNode[node.metadata.name] ?? []
            if !keep {
                plan.delete += here.map(\.metadata.name)
                continue
            }
            // Failed daemon pods are replaced.
            let failed = here.filter { $0.status.phase == "Failed" }
            plan.delete += failed.map(\.metadata.name)
            let live = here.filter { $0.status.phase != "Failed" }
                .sorted { ($0.metadata.creationTimestamp ?? Time()) < ($1.metadata.creationTimestamp ?? Time()) }
            if live.isEmpty {
                if run {
                    plan.createOn.append(node.metadata.name)
                    unavailable += 1
                }
                continue
            }
            if maxSurge > 0 {
                // Surging: a node may hold its oldest old pod and its oldest new one at once.
                let new = live.filter { $0.metadata.labels[DaemonSetLogic.revisionHashLabel] == hash }
                let old = live.filter { $0.metadata.labels[DaemonSetLogic.revisionHashLabel] != hash }
                plan.delete += new.dropFirst().map(\.metadata.name) + old.dropFirst().map(\.metadata.name)
                surgeState.append((node.metadata.name, old.first, new.first))
                continue
            }
            // One pod a node: the oldest stays.
            plan.delete += live.dropFirst().map(\.metadata.name)
            let pod = live[0]
            if !available(pod) { unavailable += 1 }
            if pod.metadata.labels[DaemonSetLogic.revisionHashLabel] != hash {
                oldOnNodes.append((node.metadata.name, pod))
            }
        }
        if rolling && maxSurge > 0 {
            // Upstream's surge update: a new pod beside each old one, within maxSurge of not-yet-available
            // new pods; an old pod goes once its node's new pod is available. Old pods that are not
            // available are replaced without waiting for the budget.
            var surging = 0
            var allowed: [String] = [], candidates: [String] = []
            for (node, old, new) in surgeState {
                switch (old, new) {
                case (nil, _): continue
                case (let old?, nil):
                    if !available(old) {
                        allowed.append(node)
                    } else if surging < maxSurge {
                        candidates.append(node)
                    }
                case (let old?, let new?):
                    if available(new) { plan.delete.append(old.metadata.name) } else { surging += 1 }
                }
            }
            plan.createOn += allowed + candidates.prefix(max(0, min(maxSurge - surging, candidates.count)))
        } else if rolling {
            let maxUnavailable = max(
                1,
                Int(
                    DeploymentLogic.scaled(
                        ds.spec.updateStrategy.rollingUpdate?.maxUnavailable ?? .int(1), total: Int32(desired),
                        roundUp: true)))
            // Unavailable old pods go first (they cost no availability), then available ones within the budget.
            var budget = maxUnavailable - unavailable
            for (_, p) in oldOnNodes where !available(p) {
                plan.delete.append(p.metadata.name)
            }
            for (_, p) in oldOnNodes where available(p) {
                if budget <= 0 { break }
                plan.delete.append(p.metadata.name)
                budget -= 1
            }
        }
        return plan
    }

    static func status(_ ds: AppsV1.DaemonSet, nodes: [CoreV1.Node], pods: [CoreV1.Pod], hash: String, now: Date)
        -> AppsV1.DaemonSetStatus
    {
        var s = ds.status
        var byNode: [String: CoreV1.Pod] = [:]
        for p in pods where p.metadata.deletionTimestamp == nil && p.status.phase != "Failed" {
            // While surging a node has an old and a new pod: the new one speaks for the node.
            if let n = DaemonSetLogic.node(of: p),
                byNode[n] == nil || p.metadata.labels[DaemonSetLogic.revisionHashLabel] == hash
            {
                byNode[n] = p
            }
        }
        var desired = 0, current = 0, mis = 0, ready = 0, updated = 0, available = 0
        for node in nodes {
            let run = DaemonSetLogic.shouldRun(ds, on: node).run
            let p = byNode[node.metadata.name]
            if run {
                desired += 1
                if let p {
                    current += 1
                    if Pods.isReady(p) { ready += 1 }
                    if Pods.isAvailable(p, minReadySeconds: ds.spec.minReadySeconds, now: now) { available += 1 }
                    if p.metadata.labels[DaemonSetLogic.revisionHashLabel] == hash { updated += 1 }
                }
            } else if p != nil {
                mis += 1
            }
        }
        s.desiredNumberScheduled = Int32(desired)
        s.currentNumberScheduled = Int32(current)
        s.numberMisscheduled = Int32(mis)
        s.numberReady = Int32(ready)
        s.updatedNumberScheduled = Int32(updated)
        s.numberAvailable = Int32(available)
        s.numberUnavailable = Int32(desired - available)
        s.observedGeneration = ds.metadata.generation
        return s
    }

    func sync(_ key: ObjectKey) async throws {
        guard let ds = daemonSets.get(key) else {
            expectations.forget(key)
            return
        }
        guard ds.metadata.deletionTimestamp == nil else { return }
        let selector = try LabelSelector.from(ds.spec.selector)
        let owned = OwnerRefs.claim(
            pods.list(namespace: key.namespace), ownerUID: ds.metadata.uid, ownerDeleting: false
        ) {
            selector.matches($0.metadata.labels)
        }.owned
        let hash = DaemonSetLogic.hash(ds)
        try await ensureRevision(ds, hash: hash)
        let allNodes = nodes.list()
        let now = Date()
        if expectations.satisfied(key) {
            let plan = Self.plan(ds, nodes: allNodes, pods: owned, hash: hash, now: now)
            expectations.expect(key, adds: plan.createOn.count, deletes: plan.delete)
            _ = await concurrently(plan.delete) { name in
                do {
                    try await self.client.delete(CoreV1.Pod.self, name, namespace: key.namespace)
                    self.recorder.normal(ds, reason: "SuccessfulDelete", note: "Deleted pod: \(name)")
                } catch { self.expectations.deletionObserved(key, name: name) }
            }
            _ = await concurrently(plan.createOn) { node in
                do {
                    let p = try await self.client.create(DaemonSetLogic.pod(for: ds, node: node, hash: hash))
                    self.recorder.normal(ds, reason: "SuccessfulCreate", note: "Created pod: \(p.metadata.name)")
                } catch {
                    self.expectations.lowerAdds(key, by: 1)
                    self.recorder.warning(
                        ds, reason: "FailedCreate", note: "Error creating: \(ReplicaSetController.message(error))")
                }
            }
        }
        let status = Self.status(ds, nodes: allNodes, pods: owned, hash: hash, now: now)
        if status != ds.status {
            var next = ds
            next.status = status
            _ = try await client.updateStatus(next)
        }
        let live = Set(owned.compactMap { $0.metadata.labels[DaemonSetLogic.revisionHashLabel] } + [hash]).map {
            "\(ds.metadata.name)-\($0)"
        }
        await ControllerRevisions.prune(
            client: client, store: revisions, owner: ds, limit: ds.spec.revisionHistoryLimit ?? 10, inUse: Set(live))
        if ds.spec.minReadySeconds > 0 && status.numberReady != status.numberAvailable {
            queue.add(key, after: .seconds(Int64(ds.spec.minReadySeconds)))
        }
    }

    func ensureRevision(_ ds: AppsV1.DaemonSet, hash: String) async throws {
        try await ControllerRevisions.ensure(
            client: client, store: revisions, owner: ds, template: ds.spec.template, hash: hash)
    }

    public func run() async { await queue.runWorkers(workers) { try await self.sync($0) } }
}
