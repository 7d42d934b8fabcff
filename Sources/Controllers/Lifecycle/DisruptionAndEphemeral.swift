import APIApps
import APICore
import APIMachinery
import APIPolicy
import ControllerRuntime
import Foundation

/// PodDisruptionBudget status (upstream's disruption-controller): expected pods, desired and current
/// healthy pods, disruptions allowed, and the DisruptionAllowed condition.
public final class DisruptionController: Controller {
    let client: KubeClient
    let budgets: ObjectStore<PolicyV1.PodDisruptionBudget>
    let pods: ObjectStore<CoreV1.Pod>
    let replicaSets: ObjectStore<AppsV1.ReplicaSet>
    let deployments: ObjectStore<AppsV1.Deployment>
    let statefulSets: ObjectStore<AppsV1.StatefulSet>
    let controllers: ObjectStore<CoreV1.ReplicationController>
    let queue = WorkQueue<ObjectKey>(name: "disruption")

    public init(_ ctx: ControllerContext) {
        client = ctx.client
        let pdbInformer = ctx.informers.informer(PolicyV1.PodDisruptionBudget.self)
        let podInformer = ctx.informers.informer(CoreV1.Pod.self)
        budgets = pdbInformer.store
        pods = podInformer.store
        replicaSets = ctx.informers.store(AppsV1.ReplicaSet.self)
        deployments = ctx.informers.store(AppsV1.Deployment.self)
        statefulSets = ctx.informers.store(AppsV1.StatefulSet.self)
        controllers = ctx.informers.store(CoreV1.ReplicationController.self)
        let queue = self.queue
        let budgets = self.budgets
        pdbInformer.addHandler { e in
            switch e {
            case .added(let b), .updated(_, let b): queue.add(ObjectKey(b.metadata))
            case .deleted: break
            }
        }
        podInformer.addHandler { e in
            let p: CoreV1.Pod
            switch e {
            case .added(let x), .updated(_, let x), .deleted(let x): p = x
            }
            for b in budgets.list(namespace: p.metadata.namespace) {
                if let sel = try? LabelSelector.from(b.spec.selector), sel.matches(p.metadata.labels) {
                    queue.add(ObjectKey(b.metadata))
                }
            }
        }
    }

    /// The replicas a pod's controller wants (its scale), found through its controller reference.
    func scale(of p: CoreV1.Pod) -> (uid: String, replicas: Int32)? {
        guard let ref = OwnerRefs.controllerRef(p.metadata) else { return nil }
        let ns = p.metadata.namespace
        switch ref.kind {
        case "ReplicaSet":
            guard let rs = replicaSets.get(namespace: ns, name: ref.name), rs.metadata.uid == ref.uid else {
                return nil
            }
            if let dref = OwnerRefs.controllerRef(rs.metadata), dref.kind == "Deployment",
                let d = deployments.get(namespace: ns, name: dref.name), d.metadata.uid == dref.uid
            {
                return (d.metadata.uid, d.spec.replicas ?? 1)
            }
            return (rs.metadata.uid, rs.spec.replicas ?? 1)
        case "StatefulSet":
            guard let s = statefulSets.get(namespace: ns, name: ref.name), s.metadata.uid == ref.uid else { return nil }
            return (s.metadata.uid, s.spec.replicas ?? 1)
        case "ReplicationController":
            guard let r = controllers.get(namespace: ns, name: ref.name), r.metadata.uid == ref.uid else { return nil }
            return (r.metadata.uid, r.spec.replicas ?? 1)
        default: return nil
        }
    }

    /// Expected and desired healthy pods (upstream's `getExpectedPodCount`); nil when a percentage or
    /// maxUnavailable needs a controller scale that cannot be found.
    static func expectations(
        _ pdb: PolicyV1.PodDisruptionBudget, podCount: Int, scales: [String: Int32]?
    ) -> (expected: Int32, desired: Int32)? {
        if let maxUnavailable = pdb.spec.maxUnavailable {
            guard let scales else { return nil }
            let expected = scales.values.reduce(0, +)
            let unavailable = DeploymentLogic.scaled(maxUnavailable, total: expected, roundUp: true)
            return (expected, max(0, expected - unavailable))
        }
        switch pdb.spec.minAvailable {
        case .int(let n)?: return (Int32(podCount), n)
        case .string?:
            guard let scales else { return nil }
            let expected = scales.values.reduce(0, +)
            return (expected, DeploymentLogic.scaled(pdb.spec.minAvailable, total: expected, roundUp: true))
        case nil: return (Int32(podCount), 0)
        }
    }

    func sync(_ key: ObjectKey) async throws {
        guard let pdb = budgets.get(key) else { return }
        let selector = try LabelSelector.from(pdb.spec.selector)
        let selected = pods.list(namespace: key.namespace).filter { selector.matches($0.metadata.labels) }
        var scales: [String: Int32]? = [:]
        if pdb.spec.maxUnavailable != nil
            || {
                if case .string? = pdb.spec.minAvailable { return true }; return false
            }()
        {
            for p in selected {
                guard let s = scale(of: p) else {
                    scales = nil
                    break
                }
                scales?[s.uid] = s.replicas
            }
        }
        var s = pdb.status
        s.observedGeneration = pdb.metadata.generation
        let healthy = Int32(selected.filter { Pods.isReady($0) && $0.metadata.deletionTimestamp == nil }.count)
        let now = Date()
        s.disruptedPods = s.disruptedPods.filter { now.timeIntervalSince($0.value.date) < 120 }
        if let e = Self.expectations(pdb, podCount: selected.count, scales: scales) {
            s.expectedPods = e.expected
            s.desiredHealthy = e.desired
            s.currentHealthy = healthy
            s.disruptionsAllowed = max(0, healthy - e.desired - Int32(s.disruptedPods.count))
            Self.setCondition(
                &s, s.disruptionsAllowed > 0 ? "True" : "False",
                s.disruptionsAllowed > 0 ? "SufficientPods" : "InsufficientPods",
                "", generation: pdb.metadata.generation, now: now)
        } else {
            s.disruptionsAllowed = 0
            s.currentHealthy = healthy
            Self.setCondition(
                &s, "False", "SyncFailed", "found no controllers for pods selected by this PodDisruptionBudget",
                generation: pdb.metadata.generation, now: now)
        }
        guard s != pdb.status else { return }
        var next = pdb
        next.status = s
        _ = try await client.updateStatus(next)
    }

    static func setCondition(
        _ s: inout PolicyV1.PodDisruptionBudgetStatus, _ status: String, _ reason: String, _ message: String,
        generation: Int64, now: Date
    ) {
        let old = s.conditions.first { $0.type == "DisruptionAllowed" }
        if old?.status == status && old?.reason == reason && old?.message == message { return }
        s.conditions.removeAll { $0.type == "DisruptionAllowed" }
        s.conditions.append(
            MetaV1.Condition(
                type: "DisruptionAllowed", status: status, observedGeneration: generation,
                lastTransitionTime: old?.status == status ? old!.lastTransitionTime : Time(now), reason: reason,
                message: message))
    }

    public func run() async { await queue.runWorkers(1) { try await self.sync($0) } }
}

/// Creates the claim of each generic ephemeral volume, `<pod>-<volume>`, owned by its pod (upstream's
/// ephemeral-volume-controller).
public final class EphemeralVolumeController: Controller {
    let client: KubeClient
    let pods: ObjectStore<CoreV1.Pod>
    let claims: ObjectStore<CoreV1.PersistentVolumeClaim>
    let queue = WorkQueue<ObjectKey>(name: "ephemeral_volume")
    let recorder: EventRecorder

    public init(_ ctx: ControllerContext) {
        client = ctx.client
        recorder = ctx.recorder("ephemeral_volume")
        let podInformer = ctx.informers.informer(CoreV1.Pod.self)
        pods = podInformer.store
        claims = ctx.informers.store(CoreV1.PersistentVolumeClaim.self)
        let queue = self.queue
        podInformer.addHandler { e in
            if case .added(let p) = e, p.spec.volumes.contains(where: { $0.volumeSource.ephemeral != nil }) {
                queue.add(ObjectKey(p.metadata))
            }
        }
    }

    static func claims(for p: CoreV1.Pod) -> [CoreV1.PersistentVolumeClaim] {
        p.spec.volumes.compactMap { v in
            guard let t = v.volumeSource.ephemeral?.volumeClaimTemplate else { return nil }
            var c = CoreV1.PersistentVolumeClaim()
            c.metadata.name = "\(p.metadata.name)-\(v.name)"
            c.metadata.namespace = p.metadata.namespace
            c.metadata.labels = t.metadata.labels
            c.metadata.annotations = t.metadata.annotations
            c.metadata.ownerReferences = [OwnerRefs.controllerReference(to: p)]
            c.spec = t.spec
            return c
        }
    }

    func sync(_ key: ObjectKey) async throws {
        guard let p = pods.get(key), p.metadata.deletionTimestamp == nil else { return }
        for c in Self.claims(for: p) {
            if let existing = claims.get(namespace: key.namespace, name: c.metadata.name) {
                if OwnerRefs.controllerRef(existing.metadata)?.uid != p.metadata.uid {
                    recorder.warning(
                        p, reason: "FailedBinding", note: "PVC \(c.metadata.name) was not created for the pod")
                }
                continue
            }
            do { _ = try await client.create(c) } catch let e as StatusError where e.isAlreadyExists {}
        }
    }

    public func run() async { await queue.runWorkers(1) { try await self.sync($0) } }
}
