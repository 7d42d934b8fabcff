import APIApps
import APICore
import APIMachinery
import ControllerRuntime
import Foundation

/// The stateful set controller's decisions (upstream's `stateful_set_control.go`), as pure functions.
enum StatefulSetLogic {
    static let podNameLabel = "statefulset.kubernetes.io/pod-name"
    static let podIndexLabel = "apps.kubernetes.io/pod-index"

    static func ordinal(of p: CoreV1.Pod, set name: String) -> Int? {
        let n = p.metadata.name
        guard n.hasPrefix(name + "-") else { return nil }
        return Int(n.dropFirst(name.count + 1))
    }

    static func claimName(_ template: CoreV1.PersistentVolumeClaim, set: String, ordinal: Int) -> String {
        "\(template.metadata.name)-\(set)-\(ordinal)"
    }

    /// The pod of an ordinal: `<set>-<ordinal>`, its identity labels, hostname and subdomain, and its
    /// claims mounted in place of the template's volumes of the same name.
    static func pod(for sts: AppsV1.StatefulSet, ordinal: Int, hash: String) -> CoreV1.Pod {
        let name = "\(sts.metadata.name)-\(ordinal)"
        var p = ReplicaSetLogic.pod(
            from: sts.spec.template, namespace: sts.metadata.namespace, generateName: "",
            owner: OwnerRefs.controllerReference(to: sts))
        p.metadata.name = name
        p.metadata.labels[podNameLabel] = name
        p.metadata.labels[podIndexLabel] = String(ordinal)
        p.metadata.labels[DaemonSetLogic.revisionHashLabel] = hash
        p.spec.hostname = name
        p.spec.subdomain = sts.spec.serviceName
        for t in sts.spec.volumeClaimTemplates {
            p.spec.volumes.removeAll { $0.name == t.metadata.name }
            p.spec.volumes.append(
                CoreV1.Volume(
                    name: t.metadata.name,
                    volumeSource: CoreV1.VolumeSource(
                        persistentVolumeClaim: CoreV1.PersistentVolumeClaimVolumeSource(
                            claimName: claimName(t, set: sts.metadata.name, ordinal: ordinal)))))
        }
        return p
    }

    /// The claims of an ordinal; owned by the set when its retention policy deletes them with it.
    static func claims(for sts: AppsV1.StatefulSet, ordinal: Int) -> [CoreV1.PersistentVolumeClaim] {
        sts.spec.volumeClaimTemplates.map { t in
            var c = CoreV1.PersistentVolumeClaim()
            c.metadata.name = claimName(t, set: sts.metadata.name, ordinal: ordinal)
            c.metadata.namespace = sts.metadata.namespace
            c.metadata.labels = t.metadata.labels.merging(sts.spec.selector?.matchLabels ?? [:]) { a, _ in a }
            c.metadata.annotations = t.metadata.annotations
            c.spec = t.spec
            if sts.spec.persistentVolumeClaimRetentionPolicy?.whenDeleted == "Delete" {
                c.metadata.ownerReferences = [
                    MetaV1.OwnerReference(
                        apiVersion: "apps/v1", kind: "StatefulSet", name: sts.metadata.name, uid: sts.metadata.uid,
                        controller: false, blockOwnerDeletion: true)
                ]
            }
            return c
        }
    }

    struct Plan: Equatable {
        var create: [Int] = []
        var delete: [String] = []
    }

    static func runningAndReady(_ p: CoreV1.Pod) -> Bool {
        p.status.phase == "Running" && Pods.isReady(p) && p.metadata.deletionTimestamp == nil
    }

    /// One step of the set: missing ordinals created (in order, one at a time for OrderedReady),
    /// failed pods replaced, ordinals beyond the size removed from the highest, then pods of an old
    /// revision replaced from the highest ordinal down to the partition, maxUnavailable at a time.
    static func plan(_ sts: AppsV1.StatefulSet, pods: [CoreV1.Pod], hash: String) -> Plan {
        var plan = Plan()
        let start = Int(sts.spec.ordinals?.start ?? 0)
        let replicas = Int(sts.spec.replicas ?? 1)
        let ordered = sts.spec.podManagementPolicy != "Parallel"
        var byOrdinal: [Int: CoreV1.Pod] = [:]
        for p in pods { if let o = ordinal(of: p, set: sts.metadata.name) { byOrdinal[o] = p } }
        let wanted = start..<(start + replicas)
        for o in wanted {
            guard let p = byOrdinal[o] else {
                plan.create.append(o)
                if ordered { return plan }
                continue
            }
            if p.status.phase == "Failed" && p.metadata.deletionTimestamp == nil {
                plan.delete.append(p.metadata.name)
                if ordered { return plan }
                continue
            }
            if ordered && !runningAndReady(p) { return plan }
        }
        let condemned = byOrdinal.filter { !wanted.contains($0.key) }.sorted { $0.key > $1.key }.map(\.value)
        if !condemned.isEmpty {
            if ordered {
                // One at a time, and only while every other pod is healthy.
                if let first = condemned.first, first.metadata.deletionTimestamp == nil,
                    byOrdinal.values.allSatisfy({ $0.metadata.name == first.metadata.name || runningAndReady($0) })
                {
                    plan.delete.append(first.metadata.name)
                }
            } else {
                plan.delete += condemned.filter { $0.metadata.deletionTimestamp == nil }.map(\.metadata.name)
            }
            return plan
        }
        guard sts.spec.updateStrategy.type != "OnDelete", plan.delete.isEmpty else { return plan }
        let partition = Int(sts.spec.updateStrategy.rollingUpdate?.partition ?? 0)
        // Up to maxUnavailable pods (default 1) of the old revision at a time, from the highest
        // ordinal down to the partition, counting the ones already missing or unready.
        let maxUnavailable = max(
            1,
            Int(
                DeploymentLogic.scaled(
                    sts.spec.updateStrategy.rollingUpdate?.maxUnavailable ?? .int(1), total: Int32(replicas),
                    roundUp: true)))
        let updatable = wanted.filter { $0 - start >= partition }
        var budget = maxUnavailable - updatable.filter { !(byOrdinal[$0].map(runningAndReady) ?? false) }.count
        for o in updatable.reversed() where budget > 0 {
            guard let p = byOrdinal[o], p.metadata.deletionTimestamp == nil,
                p.metadata.labels[DaemonSetLogic.revisionHashLabel] != hash
            else { continue }
            plan.delete.append(p.metadata.name)
            budget -= 1
        }
        return plan
    }

    static func status(_ sts: AppsV1.StatefulSet, pods: [CoreV1.Pod], hash: String, now: Date)
        -> AppsV1.StatefulSetStatus
    {
        var s = sts.status
        let live = pods.filter { $0.metadata.deletionTimestamp == nil }
        s.observedGeneration = sts.metadata.generation
        s.replicas = Int32(live.count)
        s.readyReplicas = Int32(live.filter(Pods.isReady).count)
        s.availableReplicas = Int32(
            live.filter { Pods.isAvailable($0, minReadySeconds: sts.spec.minReadySeconds, now: now) }.count)
        s.updateRevision = "\(sts.metadata.name)-\(hash)"
        if s.currentRevision.isEmpty { s.currentRevision = s.updateRevision }
        let updateHash = hash
        let currentHash = String(s.currentRevision.dropFirst(sts.metadata.name.count + 1))
        s.updatedReplicas = Int32(
            live.filter { $0.metadata.labels[DaemonSetLogic.revisionHashLabel] == updateHash }.count)
        s.currentReplicas = Int32(
            live.filter { $0.metadata.labels[DaemonSetLogic.revisionHashLabel] == currentHash }.count)
        // A finished rollout makes the update revision current.
        if s.updatedReplicas == Int32(sts.spec.replicas ?? 1) && s.replicas == s.updatedReplicas {
            s.currentRevision = s.updateRevision
            s.currentReplicas = s.updatedReplicas
        }
        return s
    }
}

/// Runs StatefulSets (upstream's statefulset-controller): stable pod names and claims per ordinal,
/// OrderedReady and Parallel management, RollingUpdate with a partition and maxUnavailable, OnDelete,
/// ControllerRevisions (pruned to revisionHistoryLimit), claim retention.
public final class StatefulSetController: Controller {
    let client: KubeClient
    let sets: ObjectStore<AppsV1.StatefulSet>
    let pods: ObjectStore<CoreV1.Pod>
    let claims: ObjectStore<CoreV1.PersistentVolumeClaim>
    let revisions: ObjectStore<AppsV1.ControllerRevision>
    let queue = WorkQueue<ObjectKey>(name: "statefulset")
    let recorder: EventRecorder
    let workers: Int

    public init(_ ctx: ControllerContext) {
        client = ctx.client
        workers = ctx.options.workers("statefulset-controller", default: 5)
        recorder = ctx.recorder("statefulset-controller")
        let stsInformer = ctx.informers.informer(AppsV1.StatefulSet.self)
        let podInformer = ctx.informers.informer(CoreV1.Pod.self)
        sets = stsInformer.store
        pods = podInformer.store
        claims = ctx.informers.informer(CoreV1.PersistentVolumeClaim.self).store
        revisions = ctx.informers.informer(AppsV1.ControllerRevision.self).store
        let queue = self.queue
        stsInformer.addHandler(enqueueing: queue)
        podInformer.addHandler { e in
            switch e {
            case .added(let p), .updated(_, let p), .deleted(let p):
                if let ref = OwnerRefs.controllerRef(p.metadata), ref.kind == "StatefulSet" {
                    queue.add(ObjectKey(namespace: p.metadata.namespace, name: ref.name))
                }
            }
        }
    }

    func sync(_ key: ObjectKey) async throws {
        guard let sts = sets.get(key), sts.metadata.deletionTimestamp == nil else { return }
        let selector = try LabelSelector.from(sts.spec.selector)
        let owned = OwnerRefs.claim(
            pods.list(namespace: key.namespace), ownerUID: sts.metadata.uid, ownerDeleting: false
        ) {
            selector.matches($0.metadata.labels)
        }.owned
        let hash = DeploymentLogic.templateHash(sts.spec.template, collisionCount: sts.status.collisionCount)
        try await ControllerRevisions.ensure(
            client: client, store: revisions, owner: sts, template: sts.spec.template, hash: hash)
        let plan = StatefulSetLogic.plan(sts, pods: owned, hash: hash)
        for o in plan.create {
            for c in StatefulSetLogic.claims(for: sts, ordinal: o)
            where claims.get(namespace: key.namespace, name: c.metadata.name) == nil {
                do {
                    _ = try await client.create(c)
                    recorder.normal(
                        sts, reason: "SuccessfulCreate",
                        note:
                            "create Claim \(c.metadata.name) Pod \(sts.metadata.name)-\(o) in StatefulSet \(sts.metadata.name) success"
                    )
                } catch let e as StatusError where e.isAlreadyExists {}
            }
            do {
                let p = try await client.create(StatefulSetLogic.pod(for: sts, ordinal: o, hash: hash))
                pods.upsertIfNewer(p)
                recorder.normal(
                    sts, reason: "SuccessfulCreate",
                    note: "create Pod \(p.metadata.name) in StatefulSet \(sts.metadata.name) successful")
            } catch let e as StatusError where e.isAlreadyExists {
            } catch let e as StatusError {
                recorder.warning(
                    sts, reason: "FailedCreate",
                    note:
                        "create Pod \(sts.metadata.name)-\(o) in StatefulSet \(sts.metadata.name) failed error: \(e.status.message)"
                )
                throw e
            }
        }
        let whenScaledDelete = sts.spec.persistentVolumeClaimRetentionPolicy?.whenScaled == "Delete"
        for name in plan.delete {
            do {
                try await client.delete(CoreV1.Pod.self, name, namespace: key.namespace)
                recorder.normal(
                    sts, reason: "SuccessfulDelete",
                    note: "delete Pod \(name) in StatefulSet \(sts.metadata.name) successful")
            } catch let e as StatusError where e.isNotFound {}
            // Claims of ordinals scaled away go too when the policy says so.
            if whenScaledDelete, let o = Int(name.dropFirst(sts.metadata.name.count + 1)),
                o >= Int(sts.spec.ordinals?.start ?? 0) + Int(sts.spec.replicas ?? 1)
            {
                for t in sts.spec.volumeClaimTemplates {
                    try? await client.delete(
                        CoreV1.PersistentVolumeClaim.self,
                        StatefulSetLogic.claimName(t, set: sts.metadata.name, ordinal: o),
                        namespace: key.namespace)
                }
            }
        }
        let status = StatefulSetLogic.status(sts, pods: owned, hash: hash, now: Date())
        if status != sts.status {
            var next = sts
            next.status = status
            _ = try await client.updateStatus(next)
        }
        let live = Set(owned.compactMap { $0.metadata.labels[DaemonSetLogic.revisionHashLabel] }).map {
            "\(sts.metadata.name)-\($0)"
        }
        await ControllerRevisions.prune(
            client: client, store: revisions, owner: sts, limit: sts.spec.revisionHistoryLimit ?? 10,
            inUse: Set(live + [status.currentRevision, status.updateRevision]))
    }

    public func run() async { await queue.runWorkers(workers) { try await self.sync($0) } }
}
