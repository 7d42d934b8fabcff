import APIApps
import APICore
import APIMachinery
import ControllerRuntime
import Foundation

/// A kind that keeps a number of pod replicas: ReplicaSets, and ReplicationControllers seen as one.
public protocol ReplicaOwner: KubeObject {
    /// The controller's upstream name (its events' source).
    static var controllerName: String { get }
    /// The object as a ReplicaSet: what the replica logic reads.
    var replicaSetView: AppsV1.ReplicaSet { get }
    mutating func setReplicaStatus(_ s: AppsV1.ReplicaSetStatus)
}

extension AppsV1.ReplicaSet: ReplicaOwner {
    public static var controllerName: String { "replicaset-controller" }
    public var replicaSetView: AppsV1.ReplicaSet { self }
    public mutating func setReplicaStatus(_ s: AppsV1.ReplicaSetStatus) { status = s }
}

extension CoreV1.ReplicationController: ReplicaOwner {
    public static var controllerName: String { "replicationcontroller-controller" }

    /// As upstream's replication manager does, a ReplicationController runs through the replica set
    /// logic: its map selector becomes matchLabels.
    public var replicaSetView: AppsV1.ReplicaSet {
        var rs = AppsV1.ReplicaSet()
        rs.metadata = metadata
        rs.spec.replicas = spec.replicas
        rs.spec.minReadySeconds = spec.minReadySeconds
        rs.spec.selector = MetaV1.LabelSelector(matchLabels: spec.selector)
        rs.spec.template = spec.template ?? CoreV1.PodTemplateSpec()
        rs.status.replicas = status.replicas
        rs.status.fullyLabeledReplicas = status.fullyLabeledReplicas
        rs.status.readyReplicas = status.readyReplicas
        rs.status.availableReplicas = status.availableReplicas
        rs.status.observedGeneration = status.observedGeneration
        rs.status.conditions = status.conditions.map {
            AppsV1.ReplicaSetCondition(
                type: $0.type, status: $0.status, lastTransitionTime: $0.lastTransitionTime, reason: $0.reason,
                message: $0.message)
        }
        return rs
    }

    public mutating func setReplicaStatus(_ s: AppsV1.ReplicaSetStatus) {
        status.replicas = s.replicas
        status.fullyLabeledReplicas = s.fullyLabeledReplicas
        status.readyReplicas = s.readyReplicas
        status.availableReplicas = s.availableReplicas
        status.observedGeneration = s.observedGeneration
        status.conditions = s.conditions.map {
            CoreV1.ReplicationControllerCondition(
                type: $0.type, status: $0.status, lastTransitionTime: $0.lastTransitionTime, reason: $0.reason,
                message: $0.message)
        }
    }
}

public typealias ReplicaSetController = ReplicaController<AppsV1.ReplicaSet>
public typealias ReplicationControllerController = ReplicaController<CoreV1.ReplicationController>

/// Keeps each ReplicaSet's (or ReplicationController's) pods at its replica count (upstream's
/// replicaset-controller and replicationcontroller-controller): adopts and releases pods by selector,
/// creates in slow-start batches, deletes the pods ranked best to delete, and reports replicas, ready,
/// available and fully-labeled counts in status.
public final class ReplicaController<Owner: ReplicaOwner>: Controller {
    let client: KubeClient
    let replicaSets: ObjectStore<Owner>
    let pods: ObjectStore<CoreV1.Pod>
    let queue = WorkQueue<ObjectKey>(
        name: Owner.controllerName == "replicaset-controller" ? "replicaset" : "replicationmanager")
    let expectations = Expectations<ObjectKey>()
    let recorder: EventRecorder
    let workers: Int

    public init(_ ctx: ControllerContext) {
        client = ctx.client
        workers = ctx.options.workers(Owner.controllerName, default: 5)
        recorder = ctx.recorder(Owner.controllerName)
        let rsInformer = ctx.informers.informer(Owner.self)
        let podInformer = ctx.informers.informer(CoreV1.Pod.self)
        replicaSets = rsInformer.store
        pods = podInformer.store
        let queue = self.queue
        rsInformer.addHandler(enqueueing: queue)
        podInformer.addHandler { [weak self] e in self?.podChanged(e) }
    }

    /// The replica set controlling a pod, if it is in the cache.
    func owner(of pod: CoreV1.Pod) -> ObjectKey? {
        guard let ref = OwnerRefs.controllerRef(pod.metadata), ref.kind == Owner.groupVersionKind.kind else {
            return nil
        }
        let key = ObjectKey(namespace: pod.metadata.namespace, name: ref.name)
        guard replicaSets.get(key)?.metadata.uid == ref.uid else { return nil }
        return key
    }

    /// Replica sets whose selector matches an orphan pod: they may adopt it.
    func matching(_ pod: CoreV1.Pod) -> [ObjectKey] {
        replicaSets.list(namespace: pod.metadata.namespace).filter { rs in
            guard let sel = try? LabelSelector.from(rs.replicaSetView.spec.selector), !sel.isEmpty else { return false }
            return sel.matches(pod.metadata.labels)
        }.map { ObjectKey($0.metadata) }
    }

    func podChanged(_ e: InformerEvent<CoreV1.Pod>) {
        switch e {
        case .added(let p):
            if let key = owner(of: p) {
                if p.metadata.deletionTimestamp == nil { expectations.creationObserved(key) }
                queue.add(key)
            } else if OwnerRefs.controllerRef(p.metadata) == nil {
                for k in matching(p) { queue.add(k) }
            }
        case .updated(let old, let new):
            let o = owner(of: old)
            let n = owner(of: new)
            if let o, o != n { queue.add(o) }
            if let n {
                queue.add(n)
                // A pod that just became ready counts as available only after minReadySeconds.
                if !Pods.isReady(old) && Pods.isReady(new), let rs = replicaSets.get(n)?.replicaSetView,
                    rs.spec.minReadySeconds > 0
                {
                    queue.add(n, after: .seconds(Int64(rs.spec.minReadySeconds) + 1))
                }
            } else if OwnerRefs.controllerRef(new.metadata) == nil,
                old.metadata.labels != new.metadata.labels || OwnerRefs.controllerRef(old.metadata) != nil
            {
                for k in matching(new) { queue.add(k) }
            }
        case .deleted(let p):
            if let key = owner(of: p) {
                expectations.deletionObserved(key, name: p.metadata.name)
                queue.add(key)
            }
        }
    }

    func sync(_ key: ObjectKey) async throws {
        guard let owner = replicaSets.get(key) else {
            expectations.forget(key)
            return
        }
        let rs = owner.replicaSetView
        let selector: LabelSelector
        do {
            selector = try LabelSelector.from(rs.spec.selector)
        } catch {
            // Validation makes this unreachable for stored objects; nothing to retry.
            return
        }
        let needsSync = expectations.satisfied(key)
        let all = pods.list(namespace: key.namespace)
        let claim = OwnerRefs.claim(
            all.filter(Pods.isActive), ownerUID: rs.metadata.uid, ownerDeleting: rs.metadata.deletionTimestamp != nil
        ) { selector.matches($0.metadata.labels) }
        var active = claim.owned
        active += await adopt(claim.adopt, by: owner)
        await release(claim.release, from: owner)
        let terminating = all.filter {
            Pods.isTerminating($0) && OwnerRefs.controllerRef($0.metadata)?.uid == rs.metadata.uid
        }.count
        var manageError: (reason: String, message: String)?
        if needsSync && rs.metadata.deletionTimestamp == nil {
            manageError = await manage(owner, key: key, active: active, related: all)
        }
        let now = Date()
        let status = ReplicaSetLogic.status(
            of: rs, active: active, terminating: terminating, manageError: manageError, now: now)
        var updated = rs
        if status != rs.status {
            updated = try await updateStatus(owner, status)
        }
        if let e = manageError { throw ManageError(reason: e.reason, message: e.message) }
        if rs.spec.minReadySeconds > 0 && updated.status.readyReplicas != updated.status.availableReplicas {
            queue.add(key, after: .seconds(Int64(rs.spec.minReadySeconds)))
        }
    }

    struct ManageError: Error {
        var reason: String
        var message: String
    }

    func updateStatus(_ owner: Owner, _ status: AppsV1.ReplicaSetStatus) async throws -> AppsV1.ReplicaSet {
        var next = owner
        next.setReplicaStatus(status)
        do {
            return try await client.updateStatus(next).replicaSetView
        } catch let e as StatusError where e.isConflict {
            var fresh = try await client.get(Owner.self, owner.metadata.name, namespace: owner.metadata.namespace)
            var s = status
            if fresh.metadata.generation != owner.metadata.generation {
                s.observedGeneration = fresh.replicaSetView.status.observedGeneration
            }
            fresh.setReplicaStatus(s)
            return try await client.updateStatus(fresh).replicaSetView
        }
    }

    func adopt(_ candidates: [CoreV1.Pod], by rs: Owner) async -> [CoreV1.Pod] {
        guard !candidates.isEmpty else { return [] }
        // Adopt only if the owner read fresh is still the same, live one (upstream's canAdopt).
        guard
            let fresh = try? await client.get(
                Owner.self, rs.metadata.name, namespace: rs.metadata.namespace),
            fresh.metadata.uid == rs.metadata.uid, fresh.metadata.deletionTimestamp == nil
        else { return [] }
        let ref = OwnerRefs.controllerReference(to: rs)
        var out: [CoreV1.Pod] = []
        for p in candidates {
            if let patched = try? await client.patch(
                CoreV1.Pod.self, p.metadata.name, namespace: p.metadata.namespace, type: .strategicMerge,
                body: OwnerRefs.adoptPatch(ref, objectUID: p.metadata.uid))
            {
                out.append(patched)
            }
        }
        return out
    }

    func release(_ pods: [CoreV1.Pod], from rs: Owner) async {
        for p in pods {
            _ = try? await client.patch(
                CoreV1.Pod.self, p.metadata.name, namespace: p.metadata.namespace, type: .strategicMerge,
                body: OwnerRefs.releasePatch(ownerUID: rs.metadata.uid, objectUID: p.metadata.uid))
        }
    }

    /// Creates or deletes pods; the failure to report, if any.
    func manage(_ owner: Owner, key: ObjectKey, active: [CoreV1.Pod], related: [CoreV1.Pod]) async -> (
        reason: String, message: String
    )? {
        let rs = owner.replicaSetView
        let plan = ReplicaSetLogic.plan(
            replicas: Int(rs.spec.replicas ?? 1), active: active, related: related, now: Date())
        switch plan {
        case .nothing:
            return nil
        case .create(let n):
            expectations.expect(key, adds: n)
            let template = ReplicaSetLogic.pod(
                from: rs.spec.template, namespace: rs.metadata.namespace, generateName: rs.metadata.name + "-",
                owner: OwnerRefs.controllerReference(to: owner))
            var done = 0
            for batch in ReplicaSetLogic.slowStartBatches(n) {
                let results = await concurrently(Array(repeating: template, count: batch)) {
                    t -> Result<CoreV1.Pod, any Error> in
                    do { return .success(try await self.client.create(t)) } catch { return .failure(error) }
                }
                var firstError: (any Error)?
                for r in results {
                    switch r {
                    case .success(let p):
                        recorder.normal(owner, reason: "SuccessfulCreate", note: "Created pod: \(p.metadata.name)")
                    case .failure(let e):
                        // A pod that was never created will never be observed.
                        expectations.lowerAdds(key, by: 1)
                        if firstError == nil { firstError = e }
                        recorder.warning(owner, reason: "FailedCreate", note: "Error creating: \(Self.message(e))")
                    }
                }
                done += batch
                if let e = firstError {
                    // Skip the remaining batches: the template is likely to fail them all.
                    expectations.lowerAdds(key, by: n - done)
                    return ("FailedCreate", Self.message(e))
                }
            }
            return nil
        case .delete(let names):
            expectations.expect(key, adds: 0, deletes: names)
            let errors = await concurrently(names) { name -> (String, (any Error)?) in
                do {
                    try await self.client.delete(CoreV1.Pod.self, name, namespace: key.namespace)
                    return (name, nil)
                } catch { return (name, error) }
            }
            var failure: (reason: String, message: String)?
            for (name, error) in errors {
                if let error, !error.isNotFound {
                    expectations.deletionObserved(key, name: name)
                    recorder.warning(owner, reason: "FailedDelete", note: "Error deleting: \(Self.message(error))")
                    failure = failure ?? ("FailedDelete", Self.message(error))
                } else {
                    if error != nil { expectations.deletionObserved(key, name: name) }
                    recorder.normal(owner, reason: "SuccessfulDelete", note: "Deleted pod: \(name)")
                }
            }
            return failure
        }
    }

    static func message(_ e: any Error) -> String { (e as? StatusError)?.status.message ?? "\(e)" }

    public func run() async { await queue.runWorkers(workers) { try await self.sync($0) } }
}
