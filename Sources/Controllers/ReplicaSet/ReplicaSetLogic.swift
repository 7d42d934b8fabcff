import APIApps
import APICore
import APIMachinery
import Foundation

/// The replica set controller's decisions, as pure functions (upstream's `replica_set.go` and
/// `replica_set_utils.go`).
enum ReplicaSetLogic {
    /// At most this many pods are created or deleted in one sync (upstream's `BurstReplicas`).
    static let burstReplicas = 500

    enum Plan: Equatable {
        case nothing
        case create(Int)
        /// The pods to delete, in the order chosen.
        case delete([String])
    }

    /// How to bring `active` pods to `replicas`: create the shortfall or delete the excess, at most
    /// `burstReplicas` at a time, deleting the pods ranked first by `rankForDeletion`.
    static func plan(replicas: Int, active: [CoreV1.Pod], related: [CoreV1.Pod], now: Date) -> Plan {
        let diff = active.count - replicas
        if diff < 0 { return .create(min(-diff, burstReplicas)) }
        if diff > 0 {
            let ranked = rankForDeletion(active, related: related, now: now)
            return .delete(ranked.prefix(min(diff, burstReplicas)).map(\.metadata.name))
        }
        return .nothing
    }

    /// Batch sizes of a slow start: 1, 2, 4, … until `count` is reached (upstream's `slowStartBatch`
    /// with an initial batch of 1): a failing template fails one pod, not hundreds.
    static func slowStartBatches(_ count: Int, initial: Int = 1) -> [Int] {
        var out: [Int] = []
        var remaining = count
        var size = min(initial, count)
        while remaining > 0 {
            out.append(size)
            remaining -= size
            size = min(2 * size, remaining)
        }
        return out
    }

    /// Pods ordered so that the first are the best to delete (upstream's `ActivePodsWithRanks` used by
    /// `getPodsToDelete`): unscheduled before scheduled; Pending before Unknown before Running;
    /// not ready before ready; lower `pod-deletion-cost` first; pods sharing a node with more related
    /// pods first; ready for less time first; more restarts first; newer first. Times compare in
    /// logarithmic buckets (LogarithmicScaleDown), so near-equal ages fall to the next rule.
    static func rankForDeletion(_ pods: [CoreV1.Pod], related: [CoreV1.Pod], now: Date) -> [CoreV1.Pod] {
        var perNode: [String: Int] = [:]
        for p in related where !p.spec.nodeName.isEmpty && Pods.isActive(p) {
            perNode[p.spec.nodeName, default: 0] += 1
        }
        func phaseRank(_ p: String) -> Int { ["Pending": 0, "Unknown": 1, "Running": 2][p] ?? 0 }
        func bucket(_ t: Time?) -> Int64 {
            // Seconds since the event, in powers of two (newer → smaller).
            guard let t, !t.isZero else { return -1 }
            let age = max(0, Int64(now.timeIntervalSince1970) - t.seconds)
            return age == 0 ? 0 : Int64(64 - age.leadingZeroBitCount)
        }
        func readySince(_ p: CoreV1.Pod) -> Time? { Pods.isReady(p) ? Pods.readyCondition(p)?.lastTransitionTime : nil }
        return pods.sorted { a, b in
            let aAssigned = !a.spec.nodeName.isEmpty
            let bAssigned = !b.spec.nodeName.isEmpty
            if aAssigned != bAssigned { return !aAssigned }
            let pa = phaseRank(a.status.phase)
            let pb = phaseRank(b.status.phase)
            if pa != pb { return pa < pb }
            let ra = Pods.isReady(a)
            let rb = Pods.isReady(b)
            if ra != rb { return !ra }
            let ca = Pods.deletionCost(a)
            let cb = Pods.deletionCost(b)
            if ca != cb { return ca < cb }
            let na = perNode[a.spec.nodeName] ?? 0
            let nb = perNode[b.spec.nodeName] ?? 0
            if na != nb { return na > nb }
            if ra && rb {
                let ba = bucket(readySince(a))
                let bb = bucket(readySince(b))
                if ba != bb { return ba < bb }
            }
            let xa = Pods.restarts(a)
            let xb = Pods.restarts(b)
            if xa != xb { return xa > xb }
            let ga = bucket(a.metadata.creationTimestamp)
            let gb = bucket(b.metadata.creationTimestamp)
            if ga != gb { return ga < gb }
            return a.metadata.name < b.metadata.name
        }
    }

    /// A new pod from a template (upstream's `GetPodFromTemplate`): the template's labels, annotations,
    /// finalizers and spec, `generateName` `<owner>-`, and the owner's controller reference.
    static func pod(
        from template: CoreV1.PodTemplateSpec, namespace: String, generateName: String,
        owner: MetaV1.OwnerReference?
    ) -> CoreV1.Pod {
        var p = CoreV1.Pod()
        p.metadata.namespace = namespace
        p.metadata.generateName = generateName
        p.metadata.labels = template.metadata.labels
        p.metadata.annotations = template.metadata.annotations
        p.metadata.finalizers = template.metadata.finalizers
        if let owner { p.metadata.ownerReferences = [owner] }
        p.spec = template.spec
        return p
    }

    /// The status a replica set reports for its pods (upstream's `calculateStatus`); a failure to create
    /// or delete pods sets the ReplicaFailure condition, and success clears it.
    static func status(
        of rs: AppsV1.ReplicaSet, active: [CoreV1.Pod], terminating: Int,
        manageError: (reason: String, message: String)?,
        now: Date
    ) -> AppsV1.ReplicaSetStatus {
        var s = rs.status
        let templateLabels = rs.spec.template.metadata.labels
        s.replicas = Int32(active.count)
        s.fullyLabeledReplicas = Int32(
            active.filter { p in templateLabels.allSatisfy { p.metadata.labels[$0.key] == $0.value } }.count)
        s.readyReplicas = Int32(active.filter(Pods.isReady).count)
        s.availableReplicas = Int32(
            active.filter { Pods.isAvailable($0, minReadySeconds: rs.spec.minReadySeconds, now: now) }.count)
        s.terminatingReplicas = Int32(terminating)
        s.observedGeneration = rs.metadata.generation
        let failure = s.conditions.firstIndex { $0.type == "ReplicaFailure" }
        if let e = manageError {
            if failure == nil {
                s.conditions.append(
                    AppsV1.ReplicaSetCondition(
                        type: "ReplicaFailure", status: "True", lastTransitionTime: Time(now), reason: e.reason,
                        message: e.message))
            }
        } else if let i = failure {
            s.conditions.remove(at: i)
        }
        return s
    }
}
