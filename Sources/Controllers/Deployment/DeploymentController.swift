import APIApps
import APICore
import APIMachinery
import ControllerRuntime
import Foundation

/// Rolls Deployments out through ReplicaSets (upstream's deployment-controller): a new replica set
/// per template, rolling update or recreate, proportional scaling, pause, revision history and the
/// Progressing/Available conditions.
public final class DeploymentController: Controller {
    typealias Logic = DeploymentLogic
    let client: KubeClient
    let deployments: ObjectStore<AppsV1.Deployment>
    let replicaSets: ObjectStore<AppsV1.ReplicaSet>
    let pods: ObjectStore<CoreV1.Pod>
    let queue = WorkQueue<ObjectKey>(name: "deployment")
    let recorder: EventRecorder
    let workers: Int

    public init(_ ctx: ControllerContext) {
        client = ctx.client
        workers = ctx.options.workers("deployment-controller", default: 5)
        recorder = ctx.recorder("deployment-controller")
        let dInformer = ctx.informers.informer(AppsV1.Deployment.self)
        let rsInformer = ctx.informers.informer(AppsV1.ReplicaSet.self)
        let podInformer = ctx.informers.informer(CoreV1.Pod.self)
        deployments = dInformer.store
        replicaSets = rsInformer.store
        pods = podInformer.store
        let queue = self.queue
        dInformer.addHandler(enqueueing: queue)
        rsInformer.addHandler { [weak self] e in
            guard let self else { return }
            switch e {
            case .added(let rs), .deleted(let rs):
                for k in self.owners(of: rs) { queue.add(k) }
            case .updated(let old, let new):
                Set(self.owners(of: old) + self.owners(of: new)).forEach { queue.add($0) }
            }
        }
        // Recreate waits for old pods to be gone: their deletion moves it on.
        podInformer.addHandler { [weak self] e in
            guard let self, case .deleted(let p) = e, let ref = OwnerRefs.controllerRef(p.metadata),
                ref.kind == "ReplicaSet",
                let rs = self.replicaSets.get(namespace: p.metadata.namespace, name: ref.name)
            else { return }
            for k in self.owners(of: rs) {
                if self.deployments.get(k)?.spec.strategy.type == "Recreate" { queue.add(k) }
            }
        }
    }

    /// The deployment controlling a replica set, or for an orphan, those whose selector matches it.
    func owners(of rs: AppsV1.ReplicaSet) -> [ObjectKey] {
        if let ref = OwnerRefs.controllerRef(rs.metadata) {
            guard ref.kind == "Deployment" else { return [] }
            let key = ObjectKey(namespace: rs.metadata.namespace, name: ref.name)
            return deployments.get(key)?.metadata.uid == ref.uid ? [key] : []
        }
        return deployments.list(namespace: rs.metadata.namespace).filter { d in
            guard let sel = try? LabelSelector.from(d.spec.selector), !sel.isEmpty else { return false }
            return sel.matches(rs.metadata.labels)
        }.map { ObjectKey($0.metadata) }
    }

    func sync(_ key: ObjectKey) async throws {
        guard var d = deployments.get(key) else { return }
        let now = Date()
        if d.spec.selector == nil || (d.spec.selector!.matchLabels.isEmpty && d.spec.selector!.matchExpressions.isEmpty)
        {
            recorder.warning(
                d, reason: "SelectingAll",
                note: "This deployment is selecting all pods. A non-empty selector is required.")
            if d.status.observedGeneration < d.metadata.generation {
                d.status.observedGeneration = d.metadata.generation
                _ = try await client.updateStatus(d)
            }
            return
        }
        let selector = try LabelSelector.from(d.spec.selector)
        let rss = try await claimReplicaSets(d, selector: selector)
        if d.metadata.deletionTimestamp != nil {
            try await syncStatusOnly(&d, rss, now: now)
            return
        }
        try await checkPaused(&d, now: now)
        if d.spec.paused || Logic.isScalingEvent(d, rss) {
            try await scaleAndSync(&d, rss, now: now)
            return
        }
        if Logic.isRollingUpdate(d) {
            try await rolloutRolling(&d, rss, now: now)
        } else {
            try await rolloutRecreate(&d, rss, now: now)
        }
    }

    /// Replica sets the deployment controls, adopting matching orphans and releasing non-matching ones.
    func claimReplicaSets(_ d: AppsV1.Deployment, selector: LabelSelector) async throws -> [AppsV1.ReplicaSet] {
        let claim = OwnerRefs.claim(
            replicaSets.list(namespace: d.metadata.namespace), ownerUID: d.metadata.uid,
            ownerDeleting: d.metadata.deletionTimestamp != nil
        ) { selector.matches($0.metadata.labels) }
        var out = claim.owned
        if !claim.adopt.isEmpty {
            let fresh = try await client.get(AppsV1.Deployment.self, d.metadata.name, namespace: d.metadata.namespace)
            if fresh.metadata.uid == d.metadata.uid && fresh.metadata.deletionTimestamp == nil {
                let ref = OwnerRefs.controllerReference(to: d)
                for rs in claim.adopt {
                    if let p = try? await client.patch(
                        AppsV1.ReplicaSet.self, rs.metadata.name, namespace: rs.metadata.namespace,
                        type: .strategicMerge, body: OwnerRefs.adoptPatch(ref, objectUID: rs.metadata.uid))
                    {
                        out.append(p)
                    }
                }
            }
        }
        for rs in claim.release {
            _ = try? await client.patch(
                AppsV1.ReplicaSet.self, rs.metadata.name, namespace: rs.metadata.namespace, type: .strategicMerge,
                body: OwnerRefs.releasePatch(ownerUID: d.metadata.uid, objectUID: rs.metadata.uid))
        }
        return out
    }

    // MARK: steps

    func checkPaused(_ d: inout AppsV1.Deployment, now: Date) async throws {
        guard Logic.hasProgressDeadline(d) else { return }
        let cond = Logic.condition(d.status, "Progressing")
        let pausedCondExists = cond?.reason == "DeploymentPaused"
        var s = d.status
        if d.spec.paused && !pausedCondExists {
            Logic.setCondition(
                &s, Logic.newCondition("Progressing", "Unknown", "DeploymentPaused", "Deployment is paused", now: now))
        } else if !d.spec.paused && pausedCondExists {
            Logic.setCondition(
                &s, Logic.newCondition("Progressing", "Unknown", "DeploymentResumed", "Deployment is resumed", now: now)
            )
        } else {
            return
        }
        d = try await writeStatus(d, s)
    }

    /// The new replica set (created when `create` and missing) and the old ones; revisions synced.
    func newAndOld(_ d: inout AppsV1.Deployment, _ rss: [AppsV1.ReplicaSet], create: Bool, now: Date) async throws -> (
        new: AppsV1.ReplicaSet?, old: [AppsV1.ReplicaSet]
    ) {
        let existing = Logic.findNew(d, rss)
        let old = rss.filter { $0.metadata.uid != existing?.metadata.uid }
        let maxOld = old.map(Logic.revision).max() ?? 0
        let newRevision = maxOld + 1
        if var rs = existing {
            let before = rs
            _ = Logic.setNewAnnotations(d, &rs, revision: newRevision, exists: true)
            rs.spec.minReadySeconds = d.spec.minReadySeconds
            if rs != before { rs = try await client.update(rs) }
            try await setDeploymentRevision(&d, rs.metadata.annotations[Logic.revisionAnnotation] ?? "")
            if Logic.hasProgressDeadline(d) && Logic.condition(d.status, "Progressing") == nil {
                var s = d.status
                Logic.setCondition(
                    &s,
                    Logic.newCondition(
                        "Progressing", "True", "FoundNewReplicaSet", "Found new replica set \"\(rs.metadata.name)\"",
                        now: now))
                d = try await writeStatus(d, s)
            }
            return (rs, old)
        }
        guard create else { return (nil, old) }
        let replicas = Logic.newRSReplicas(d, all: old, newRS: nil)
        let candidate = Logic.newReplicaSet(
            for: d, revision: newRevision, replicas: replicas, owner: OwnerRefs.controllerReference(to: d))
        var created: AppsV1.ReplicaSet
        do {
            created = try await client.create(candidate)
        } catch let e as StatusError where e.isAlreadyExists {
            // Ours already (a stale cache), or a hash collision: count it and try another name.
            let rs = try await client.get(
                AppsV1.ReplicaSet.self, candidate.metadata.name, namespace: d.metadata.namespace)
            if OwnerRefs.controllerRef(rs.metadata)?.uid == d.metadata.uid
                && Logic.equalIgnoringHash(rs.spec.template, d.spec.template)
            {
                return (rs, old)
            }
            var s = d.status
            s.collisionCount = (s.collisionCount ?? 0) + 1
            d = try await writeStatus(d, s)
            throw e
        } catch let e as StatusError {
            if Logic.hasProgressDeadline(d) {
                var s = d.status
                Logic.setCondition(
                    &s, Logic.newCondition("Progressing", "False", "ReplicaSetCreateError", e.status.message, now: now))
                d = try await writeStatus(d, s)
            }
            recorder.warning(
                d, reason: "FailedCreate",
                note: "Failed to create new replica set \"\(candidate.metadata.name)\": \(e.status.message)")
            throw e
        }
        replicaSets.upsertIfNewer(created)
        if replicas > 0 {
            recorder.normal(
                d, reason: "ScalingReplicaSet",
                note: "Scaled up replica set \(created.metadata.name) from 0 to \(replicas)")
        }
        try await setDeploymentRevision(&d, String(newRevision))
        if Logic.hasProgressDeadline(d) {
            var s = d.status
            Logic.setCondition(
                &s,
                Logic.newCondition(
                    "Progressing", "True", "NewReplicaSetCreated",
                    "Created new replica set \"\(created.metadata.name)\"",
                    now: now))
            d = try await writeStatus(d, s)
        }
        return (created, old)
    }

    /// The deployment carries its current revision in an annotation (written on the object itself, so
    /// any API server accepts it).
    func setDeploymentRevision(_ d: inout AppsV1.Deployment, _ revision: String) async throws {
        guard !revision.isEmpty, d.metadata.annotations[Logic.revisionAnnotation] != revision else { return }
        let oldNumber = Int64(d.metadata.annotations[Logic.revisionAnnotation] ?? "") ?? 0
        guard (Int64(revision) ?? 0) > oldNumber || d.metadata.annotations[Logic.revisionAnnotation] == nil else {
            return
        }
        let body = #"{"metadata":{"annotations":{"\#(Logic.revisionAnnotation)":"\#(revision)"}}}"#
        d = try await client.patch(
            AppsV1.Deployment.self, d.metadata.name, namespace: d.metadata.namespace, type: .merge,
            body: Array(body.utf8))
    }

    /// Sets a replica set's size (and its desired/max annotations), with the ScalingReplicaSet event.
    @discardableResult
    func scale(_ rs: AppsV1.ReplicaSet, to size: Int32, for d: AppsV1.Deployment) async throws -> AppsV1.ReplicaSet {
        var next = rs
        let current = rs.spec.replicas ?? 1
        next.spec.replicas = size
        Logic.setReplicasAnnotations(&next, desired: Logic.replicas(d), max: Logic.replicas(d) + Logic.maxSurge(d))
        guard next != rs else { return rs }
        let updated = try await client.update(next)
        replicaSets.upsertIfNewer(updated)
        if current != size {
            let direction = size > current ? "up" : "down"
            recorder.normal(
                d, reason: "ScalingReplicaSet",
                note: "Scaled \(direction) replica set \(rs.metadata.name) from \(current) to \(size)")
        }
        return updated
    }

    func rolloutRolling(_ d: inout AppsV1.Deployment, _ rss: [AppsV1.ReplicaSet], now: Date) async throws {
        let (newOpt, old) = try await newAndOld(&d, rss, create: true, now: now)
        guard var newRS = newOpt else { return }
        var all = old + [newRS]
        // Scale the new set up (or down to the deployment's size).
        let r = Logic.replicas(d)
        let current = newRS.spec.replicas ?? 1
        if current != r {
            let target = current > r ? r : Logic.newRSReplicas(d, all: all, newRS: newRS)
            if target != current {
                newRS = try await scale(newRS, to: target, for: d)
                all = old + [newRS]
                try await syncRolloutStatus(&d, all: all, new: newRS, now: now)
                return
            }
        }
        // Then the old ones down.
        let sizes = Logic.scaleDownOld(d, old: old.filter { ($0.spec.replicas ?? 1) > 0 }, newRS: newRS)
        if !sizes.isEmpty {
            var updatedOld = old
            for (i, rs) in old.enumerated() {
                if let s = sizes[rs.metadata.name] { updatedOld[i] = try await scale(rs, to: s, for: d) }
            }
            try await syncRolloutStatus(&d, all: updatedOld + [newRS], new: newRS, now: now)
            return
        }
        let s = Logic.calculateStatus(d, all: all, new: newRS, now: now)
        if Logic.isComplete(d, s) { try await cleanup(d, old: old) }
        try await syncRolloutStatus(&d, all: all, new: newRS, now: now)
    }

    func rolloutRecreate(_ d: inout AppsV1.Deployment, _ rss: [AppsV1.ReplicaSet], now: Date) async throws {
        var (newRS, old) = try await newAndOld(&d, rss, create: false, now: now)
        var scaledDown = false
        for (i, rs) in old.enumerated() where (rs.spec.replicas ?? 1) > 0 {
            old[i] = try await scale(rs, to: 0, for: d)
            scaledDown = true
        }
        if scaledDown {
            try await syncRolloutStatus(&d, all: old + (newRS.map { [$0] } ?? []), new: newRS, now: now)
            return
        }
        // Old pods must be gone before new ones start.
        if oldPodsRunning(new: newRS, old: old) {
            try await syncRolloutStatus(&d, all: old + (newRS.map { [$0] } ?? []), new: newRS, now: now)
            return
        }
        if newRS == nil { (newRS, old) = try await newAndOld(&d, rss, create: true, now: now) }
        guard var n = newRS else { return }
        if (n.spec.replicas ?? 1) != Logic.replicas(d) {
            n = try await scale(n, to: Logic.replicas(d), for: d)
            try await syncRolloutStatus(&d, all: old + [n], new: n, now: now)
            return
        }
        let s = Logic.calculateStatus(d, all: old + [n], new: n, now: now)
        if Logic.isComplete(d, s) { try await cleanup(d, old: old) }
        try await syncRolloutStatus(&d, all: old + [n], new: n, now: now)
    }

    func oldPodsRunning(new: AppsV1.ReplicaSet?, old: [AppsV1.ReplicaSet]) -> Bool {
        if Logic.statusReplicas(old) > 0 { return true }
        let oldUIDs = Set(old.map(\.metadata.uid))
        let ns = new?.metadata.namespace ?? old.first?.metadata.namespace ?? ""
        return pods.list(namespace: ns).contains { p in
            guard let ref = OwnerRefs.controllerRef(p.metadata), oldUIDs.contains(ref.uid) else { return false }
            return p.status.phase != "Failed" && p.status.phase != "Succeeded"
        }
    }

    /// A resize, or a paused deployment: sizes shared among the active sets, status refreshed.
    func scaleAndSync(_ d: inout AppsV1.Deployment, _ rss: [AppsV1.ReplicaSet], now: Date) async throws {
        let (newRS, old) = try await newAndOld(&d, rss, create: false, now: now)
        let sizes = Logic.proportionalSizes(d, new: newRS, old: old)
        var all = old + (newRS.map { [$0] } ?? [])
        // Sets that grow are written last, so the total never overshoots during the change.
        let ordered = all.enumerated().sorted { a, b in
            let ga = (sizes[a.element.metadata.name] ?? 0) > (a.element.spec.replicas ?? 1)
            let gb = (sizes[b.element.metadata.name] ?? 0) > (b.element.spec.replicas ?? 1)
            return !ga && gb
        }
        for (i, rs) in ordered {
            if let s = sizes[rs.metadata.name] { all[i] = try await scale(rs, to: s, for: d) }
        }
        if d.spec.paused { try await cleanup(d, old: old) }
        let s = Logic.calculateStatus(
            d, all: all, new: newRS.flatMap { n in all.first { $0.metadata.uid == n.metadata.uid } }, now: now)
        if s != d.status { d = try await writeStatus(d, s) }
    }

    func syncStatusOnly(_ d: inout AppsV1.Deployment, _ rss: [AppsV1.ReplicaSet], now: Date) async throws {
        let (newRS, old) = try await newAndOld(&d, rss, create: false, now: now)
        let s = Logic.calculateStatus(d, all: old + (newRS.map { [$0] } ?? []), new: newRS, now: now)
        if s != d.status { d = try await writeStatus(d, s) }
    }

    func syncRolloutStatus(_ d: inout AppsV1.Deployment, all: [AppsV1.ReplicaSet], new: AppsV1.ReplicaSet?, now: Date)
        async throws
    {
        let s = Logic.rolloutStatus(d, all: all, new: new, now: now)
        if s != d.status { d = try await writeStatus(d, s) }
        // A rollout that stalls is looked at again when its deadline passes.
        if Logic.hasProgressDeadline(d), let c = Logic.condition(s, "Progressing"),
            c.reason != "NewReplicaSetAvailable", c.reason != "ProgressDeadlineExceeded", !Logic.isComplete(d, s),
            let from = c.lastUpdateTime
        {
            let after = Double(from.seconds) + Double(d.spec.progressDeadlineSeconds ?? 600) - now.timeIntervalSince1970
            queue.add(ObjectKey(d.metadata), after: .seconds(max(1, after + 1)))
        }
    }

    func cleanup(_ d: AppsV1.Deployment, old: [AppsV1.ReplicaSet]) async throws {
        for rs in Logic.cleanup(d, old: old) {
            do {
                try await client.delete(
                    AppsV1.ReplicaSet.self, rs.metadata.name, namespace: rs.metadata.namespace,
                    options: DeleteOptions(preconditionUID: rs.metadata.uid))
            } catch let e as StatusError where e.isNotFound || e.isConflict {}
        }
    }

    func writeStatus(_ d: AppsV1.Deployment, _ s: AppsV1.DeploymentStatus) async throws -> AppsV1.Deployment {
        var next = d
        next.status = s
        return try await client.updateStatus(next)
    }

    public func run() async { await queue.runWorkers(workers) { try await self.sync($0) } }
}
