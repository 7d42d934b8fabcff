import APIApps
import APICore
import APIMachinery
import Foundation

/// The deployment controller's decisions, as pure functions (upstream's `deployment/util`,
/// `rolling.go`, `recreate.go`, `sync.go`, `progress.go`). Replica sets are values; every function
/// answers what to change, and the controller applies it.
enum DeploymentLogic {
    static let revisionAnnotation = "deployment.kubernetes.io/revision"
    static let revisionHistoryAnnotation = "deployment.kubernetes.io/revision-history"
    static let desiredReplicasAnnotation = "deployment.kubernetes.io/desired-replicas"
    static let maxReplicasAnnotation = "deployment.kubernetes.io/max-replicas"
    static let changeCauseAnnotation = "kubernetes.io/change-cause"
    static let hashLabel = "pod-template-hash"

    // MARK: numbers

    static func replicas(_ d: AppsV1.Deployment) -> Int32 { d.spec.replicas ?? 1 }

    /// An absolute or percentage value of `total`, rounded up or down (`GetScaledValueFromIntOrPercent`).
    static func scaled(_ v: IntOrString?, total: Int32, roundUp: Bool) -> Int32 {
        switch v {
        case nil: return 0
        case .int(let i): return i
        case .string(let s):
            guard s.hasSuffix("%"), let pct = Double(s.dropLast()) else { return 0 }
            let x = pct * Double(total) / 100
            return Int32(roundUp ? x.rounded(.up) : x.rounded(.down))
        }
    }

    static func isRollingUpdate(_ d: AppsV1.Deployment) -> Bool { d.spec.strategy.type != "Recreate" }

    /// maxSurge (rounded up) and maxUnavailable (rounded down); both zero becomes unavailable 1
    /// (`ResolveFenceposts`).
    static func fenceposts(_ d: AppsV1.Deployment) -> (surge: Int32, unavailable: Int32) {
        let r = replicas(d)
        let ru = d.spec.strategy.rollingUpdate
        let surge = scaled(ru?.maxSurge ?? .string("25%"), total: r, roundUp: true)
        var unavailable = scaled(ru?.maxUnavailable ?? .string("25%"), total: r, roundUp: false)
        if surge == 0 && unavailable == 0 { unavailable = 1 }
        return (surge, unavailable)
    }

    static func maxSurge(_ d: AppsV1.Deployment) -> Int32 { isRollingUpdate(d) ? fenceposts(d).surge : 0 }

    /// Pods that may be unavailable during an update (`MaxUnavailable`), never more than replicas.
    static func maxUnavailable(_ d: AppsV1.Deployment) -> Int32 {
        guard isRollingUpdate(d), replicas(d) > 0 else { return 0 }
        return min(fenceposts(d).unavailable, replicas(d))
    }

    static func specReplicas(_ rss: [AppsV1.ReplicaSet]) -> Int32 { rss.reduce(0) { $0 + ($1.spec.replicas ?? 1) } }
    static func statusReplicas(_ rss: [AppsV1.ReplicaSet]) -> Int32 { rss.reduce(0) { $0 + $1.status.replicas } }
    static func availableReplicas(_ rss: [AppsV1.ReplicaSet]) -> Int32 {
        rss.reduce(0) { $0 + $1.status.availableReplicas }
    }

    static func revision(_ rs: AppsV1.ReplicaSet) -> Int64 {
        Int64(rs.metadata.annotations[revisionAnnotation] ?? "") ?? 0
    }

    // MARK: templates and the new replica set

    /// The template hash: FNV-1a (32 bit) of the template's JSON and the collision count, written in
    /// upstream's safe alphabet (no vowels, no look-alike digits).
    static func templateHash(_ t: CoreV1.PodTemplateSpec, collisionCount: Int32?) -> String {
        var w = JSONWriter()
        t.encodeJSON(&w)
        var h: UInt32 = 2_166_136_261
        func mix(_ b: UInt8) { h = (h ^ UInt32(b)) &* 16_777_619 }
        for b in w.bytes { mix(b) }
        if let c = collisionCount {
            let u = UInt32(bitPattern: c)
            for i in 0..<8 { mix(i < 4 ? UInt8((u >> (8 * UInt32(i))) & 0xFF) : 0) }
        }
        let alphabet = Array("bcdfghjklmnpqrstvwxz2456789")
        return String(String(h).utf8.map { alphabet[Int($0) % alphabet.count] })
    }

    /// Templates equal but for the `pod-template-hash` label (`EqualIgnoreHash`).
    static func equalIgnoringHash(_ a: CoreV1.PodTemplateSpec, _ b: CoreV1.PodTemplateSpec) -> Bool {
        var x = a
        var y = b
        x.metadata.labels[hashLabel] = nil
        y.metadata.labels[hashLabel] = nil
        return x == y
    }

    /// The replica set running the deployment's current template; the oldest when several do.
    static func findNew(_ d: AppsV1.Deployment, _ rss: [AppsV1.ReplicaSet]) -> AppsV1.ReplicaSet? {
        byCreation(rss).first { equalIgnoringHash($0.spec.template, d.spec.template) }
    }

    static func byCreation(_ rss: [AppsV1.ReplicaSet]) -> [AppsV1.ReplicaSet] {
        rss.sorted {
            let a = $0.metadata.creationTimestamp?.seconds ?? 0
            let b = $1.metadata.creationTimestamp?.seconds ?? 0
            return a != b ? a < b : $0.metadata.name < $1.metadata.name
        }
    }

    /// The replica set a deployment's current template would create (`getNewReplicaSet`'s new object).
    static func newReplicaSet(
        for d: AppsV1.Deployment, revision: Int64, replicas: Int32, owner: MetaV1.OwnerReference
    ) -> AppsV1.ReplicaSet {
        let hash = templateHash(d.spec.template, collisionCount: d.status.collisionCount)
        var template = d.spec.template
        template.metadata.labels[hashLabel] = hash
        var rs = AppsV1.ReplicaSet()
        rs.metadata.name = "\(d.metadata.name)-\(hash)"
        rs.metadata.namespace = d.metadata.namespace
        rs.metadata.ownerReferences = [owner]
        rs.metadata.labels = template.metadata.labels
        var selector = d.spec.selector ?? MetaV1.LabelSelector()
        selector.matchLabels[hashLabel] = hash
        rs.spec.selector = selector
        rs.spec.template = template
        rs.spec.minReadySeconds = d.spec.minReadySeconds
        rs.spec.replicas = replicas
        _ = setNewAnnotations(d, &rs, revision: revision, exists: false)
        return rs
    }

    /// Annotations a deployment puts on its new replica set (`SetNewReplicaSetAnnotations`): its own
    /// annotations (but not the revision ones), the revision (keeping older ones in the history when the
    /// set is reused), desired and max replicas. True when something changed.
    static func setNewAnnotations(
        _ d: AppsV1.Deployment, _ rs: inout AppsV1.ReplicaSet, revision: Int64, exists: Bool
    ) -> Bool {
        var changed = false
        for (k, v) in d.metadata.annotations
        where ![revisionAnnotation, revisionHistoryAnnotation, desiredReplicasAnnotation, maxReplicasAnnotation]
            .contains(k) && k != "kubectl.kubernetes.io/last-applied-configuration"
        {
            if rs.metadata.annotations[k] != v {
                rs.metadata.annotations[k] = v
                changed = true
            }
        }
        let old = rs.metadata.annotations[revisionAnnotation]
        let oldRevision = Int64(old ?? "") ?? 0
        if oldRevision < revision {
            rs.metadata.annotations[revisionAnnotation] = String(revision)
            changed = true
            if let old, !old.isEmpty, exists {
                let history = rs.metadata.annotations[revisionHistoryAnnotation] ?? ""
                rs.metadata.annotations[revisionHistoryAnnotation] = history.isEmpty ? old : history + "," + old
            }
        }
        if !exists || rs.metadata.annotations[desiredReplicasAnnotation] == nil {
            if setReplicasAnnotations(&rs, desired: replicas(d), max: replicas(d) + maxSurge(d)) { changed = true }
        }
        return changed
    }

    @discardableResult
    static func setReplicasAnnotations(_ rs: inout AppsV1.ReplicaSet, desired: Int32, max: Int32) -> Bool {
        var changed = false
        if rs.metadata.annotations[desiredReplicasAnnotation] != String(desired) {
            rs.metadata.annotations[desiredReplicasAnnotation] = String(desired)
            changed = true
        }
        if rs.metadata.annotations[maxReplicasAnnotation] != String(max) {
            rs.metadata.annotations[maxReplicasAnnotation] = String(max)
            changed = true
        }
        return changed
    }

    /// Replicas of a new replica set during a rollout (`NewRSNewReplicas`): all for Recreate; for a
    /// rolling update, as many as the surge allows without exceeding the deployment's replicas.
    static func newRSReplicas(_ d: AppsV1.Deployment, all: [AppsV1.ReplicaSet], newRS: AppsV1.ReplicaSet?) -> Int32 {
        guard isRollingUpdate(d) else { return replicas(d) }
        let current = specReplicas(all)
        let maxTotal = replicas(d) + maxSurge(d)
        let newReplicas = newRS?.spec.replicas ?? 0
        if current >= maxTotal { return newReplicas }
        return newReplicas + min(maxTotal - current, max(0, replicas(d) - newReplicas))
    }

    // MARK: rolling update

    /// Old replica sets scaled down in a rolling update (`reconcileOldReplicaSets`): first their
    /// unavailable pods, then available ones while enough stay available. Answers new sizes by name.
    static func scaleDownOld(
        _ d: AppsV1.Deployment, old: [AppsV1.ReplicaSet], newRS: AppsV1.ReplicaSet
    ) -> [String: Int32] {
        let oldCount = specReplicas(old)
        guard oldCount > 0 else { return [:] }
        let all = old + [newRS]
        let minAvailable = replicas(d) - maxUnavailable(d)
        let newUnavailable = (newRS.spec.replicas ?? 1) - newRS.status.availableReplicas
        let maxScaledDown = specReplicas(all) - minAvailable - newUnavailable
        guard maxScaledDown > 0 else { return [:] }
        var sizes: [String: Int32] = [:]
        var current = Dictionary(old.map { ($0.metadata.name, $0) }, uniquingKeysWith: { a, _ in a })
        // Unhealthy replicas first, oldest sets first.
        var cleaned: Int32 = 0
        for rs in byCreation(old) {
            if cleaned >= maxScaledDown { break }
            let r = rs.spec.replicas ?? 1
            if r == 0 { continue }
            let unhealthy = r - rs.status.availableReplicas
            if unhealthy <= 0 { continue }
            let down = min(maxScaledDown - cleaned, unhealthy)
            sizes[rs.metadata.name] = r - down
            current[rs.metadata.name]?.spec.replicas = r - down
            cleaned += down
        }
        // Then available replicas, while more than the minimum stay available.
        let after = Array(current.values) + [newRS]
        let available = availableReplicas(after)
        guard available > minAvailable else { return sizes }
        let total = available - minAvailable
        var done: Int32 = 0
        for rs in byCreation(Array(current.values)) {
            if done >= total { break }
            let r = rs.spec.replicas ?? 1
            if r == 0 { continue }
            let down = min(r, total - done)
            sizes[rs.metadata.name] = r - down
            done += down
        }
        return sizes
    }

    // MARK: proportional scaling

    /// The one set to scale when a deployment is resized (`FindActiveOrLatest`): the only active set,
    /// or, with none active, the new set or else the newest old one; nil when several are active.
    static func activeOrLatest(new: AppsV1.ReplicaSet?, old: [AppsV1.ReplicaSet]) -> AppsV1.ReplicaSet? {
        let all = (new.map { [$0] } ?? []) + old
        let active = all.filter { ($0.spec.replicas ?? 1) > 0 }
        switch active.count {
        case 0: return new ?? byCreation(old).last
        case 1: return active[0]
        default: return nil
        }
    }

    /// New sizes of every active set when a deployment is resized in the middle of a rollout
    /// (`scale`): the change is shared in proportion to each set's size (by its max-replicas
    /// annotation), and the rounding leftover goes to the largest set.
    static func proportionalSizes(_ d: AppsV1.Deployment, new: AppsV1.ReplicaSet?, old: [AppsV1.ReplicaSet])
        -> [String: Int32]
    {
        if let only = activeOrLatest(new: new, old: old) {
            return (only.spec.replicas ?? 1) == replicas(d) ? [:] : [only.metadata.name: replicas(d)]
        }
        if let n = new, isSaturated(d, n) {
            return Dictionary(
                old.filter { ($0.spec.replicas ?? 1) > 0 }.map { ($0.metadata.name, Int32(0)) },
                uniquingKeysWith: { a, _ in a })
        }
        guard isRollingUpdate(d) else { return [:] }
        var active = ((new.map { [$0] } ?? []) + old).filter { ($0.spec.replicas ?? 1) > 0 }
        let allowed = replicas(d) > 0 ? replicas(d) + maxSurge(d) : 0
        let toAdd = allowed - specReplicas(active)
        func newer(_ a: AppsV1.ReplicaSet, _ b: AppsV1.ReplicaSet) -> Bool {
            let ta = a.metadata.creationTimestamp?.seconds ?? 0
            let tb = b.metadata.creationTimestamp?.seconds ?? 0
            return ta != tb ? ta > tb : a.metadata.name > b.metadata.name
        }
        if toAdd > 0 {
            active.sort {
                ($0.spec.replicas ?? 1) != ($1.spec.replicas ?? 1)
                    ? ($0.spec.replicas ?? 1) > ($1.spec.replicas ?? 1) : newer($0, $1)
            }
        } else if toAdd < 0 {
            active.sort {
                ($0.spec.replicas ?? 1) != ($1.spec.replicas ?? 1)
                    ? ($0.spec.replicas ?? 1) > ($1.spec.replicas ?? 1) : newer($1, $0)
            }
        }
        var added: Int32 = 0
        var sizes: [String: Int32] = [:]
        for rs in active {
            let r = rs.spec.replicas ?? 1
            var proportion: Int32 = 0
            if toAdd != 0 && r != 0 && toAdd != added {
                let fraction = replicaSetFraction(rs, d)
                proportion = toAdd > 0 ? min(fraction, toAdd - added) : max(fraction, toAdd - added)
            }
            sizes[rs.metadata.name] = r + proportion
            added += proportion
        }
        if toAdd != added, let first = active.first {
            sizes[first.metadata.name] = max(0, sizes[first.metadata.name]! + toAdd - added)
        }
        return sizes.filter { name, size in active.first { $0.metadata.name == name }?.spec.replicas != size }
    }

    static func replicaSetFraction(_ rs: AppsV1.ReplicaSet, _ d: AppsV1.Deployment) -> Int32 {
        let r = rs.spec.replicas ?? 1
        if replicas(d) == 0 { return -r }
        let deploymentReplicas = replicas(d) + maxSurge(d)
        let annotated = rs.metadata.annotations[maxReplicasAnnotation].flatMap { Int32($0) } ?? d.status.replicas
        guard annotated > 0 else { return 0 }
        let size = (Double(r) * Double(deploymentReplicas) / Double(annotated)).rounded()
        return Int32(size) - r
    }

    /// The new set has all the deployment's replicas, all available (`IsSaturated`).
    static func isSaturated(_ d: AppsV1.Deployment, _ rs: AppsV1.ReplicaSet) -> Bool {
        (rs.spec.replicas ?? 1) == replicas(d)
            && rs.metadata.annotations[desiredReplicasAnnotation] == String(replicas(d))
            && rs.status.availableReplicas == replicas(d)
    }

    /// A resize of the deployment not yet passed on to its active sets (`isScalingEvent`).
    static func isScalingEvent(_ d: AppsV1.Deployment, _ rss: [AppsV1.ReplicaSet]) -> Bool {
        for rs in rss where (rs.spec.replicas ?? 1) > 0 {
            guard let desired = rs.metadata.annotations[desiredReplicasAnnotation].flatMap({ Int32($0) }) else {
                continue
            }
            if desired != replicas(d) { return true }
        }
        return false
    }

    // MARK: status and conditions

    static func condition(_ s: AppsV1.DeploymentStatus, _ type: String) -> AppsV1.DeploymentCondition? {
        s.conditions.first { $0.type == type }
    }

    /// Sets a condition as upstream's `SetDeploymentCondition`: unchanged when status and reason are the
    /// same; the transition time kept when only the reason changes; the condition moves to the end.
    static func setCondition(_ s: inout AppsV1.DeploymentStatus, _ c: AppsV1.DeploymentCondition) {
        var c = c
        if let cur = condition(s, c.type) {
            if cur.status == c.status && cur.reason == c.reason { return }
            if cur.status == c.status { c.lastTransitionTime = cur.lastTransitionTime }
        }
        s.conditions.removeAll { $0.type == c.type }
        s.conditions.append(c)
    }

    static func newCondition(_ type: String, _ status: String, _ reason: String, _ message: String, now: Date)
        -> AppsV1.DeploymentCondition
    {
        AppsV1.DeploymentCondition(
            type: type, status: status, lastUpdateTime: Time(now), lastTransitionTime: Time(now), reason: reason,
            message: message)
    }

    /// Counts and the Available condition (`calculateStatus`).
    static func calculateStatus(
        _ d: AppsV1.Deployment, all: [AppsV1.ReplicaSet], new: AppsV1.ReplicaSet?, now: Date
    ) -> AppsV1.DeploymentStatus {
        var s = d.status
        let available = availableReplicas(all)
        s.observedGeneration = d.metadata.generation
        s.replicas = statusReplicas(all)
        s.updatedReplicas = new?.status.replicas ?? 0
        s.readyReplicas = all.reduce(0) { $0 + $1.status.readyReplicas }
        s.availableReplicas = available
        s.unavailableReplicas = max(0, specReplicas(all) - available)
        s.terminatingReplicas = all.reduce(0) { $0 + ($1.status.terminatingReplicas ?? 0) }
        if available >= replicas(d) - maxUnavailable(d) {
            setCondition(
                &s,
                newCondition(
                    "Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability.", now: now))
        } else {
            setCondition(
                &s,
                newCondition(
                    "Available", "False", "MinimumReplicasUnavailable",
                    "Deployment does not have minimum availability.",
                    now: now))
        }
        return s
    }

    static func hasProgressDeadline(_ d: AppsV1.Deployment) -> Bool {
        guard let p = d.spec.progressDeadlineSeconds else { return false }
        return p != Int32.max
    }

    /// Every replica updated and available, and the latest spec observed (`DeploymentComplete`).
    static func isComplete(_ d: AppsV1.Deployment, _ s: AppsV1.DeploymentStatus) -> Bool {
        s.updatedReplicas == replicas(d) && s.replicas == replicas(d) && s.availableReplicas == replicas(d)
            && s.observedGeneration >= d.metadata.generation
    }

    /// Some progress since the last status (`DeploymentProgressing`).
    static func isProgressing(_ old: AppsV1.DeploymentStatus, _ new: AppsV1.DeploymentStatus) -> Bool {
        new.updatedReplicas > old.updatedReplicas || new.readyReplicas > old.readyReplicas
            || new.availableReplicas > old.availableReplicas
            || (new.replicas - new.updatedReplicas) < (old.replicas - old.updatedReplicas)
    }

    static func isTimedOut(_ d: AppsV1.Deployment, _ s: AppsV1.DeploymentStatus, now: Date) -> Bool {
        guard hasProgressDeadline(d), let c = condition(s, "Progressing") else { return false }
        if c.reason == "NewReplicaSetAvailable" { return false }
        if c.reason == "ProgressDeadlineExceeded" { return true }
        guard let from = c.lastUpdateTime else { return false }
        return Double(from.seconds) + Double(d.spec.progressDeadlineSeconds ?? 600) < now.timeIntervalSince1970
    }

    /// The status after a rollout step (`syncRolloutStatus`): counts, Available, Progressing as the
    /// deadline rules say, and a ReplicaFailure copied from a replica set.
    static func rolloutStatus(
        _ d: AppsV1.Deployment, all: [AppsV1.ReplicaSet], new: AppsV1.ReplicaSet?, now: Date
    ) -> AppsV1.DeploymentStatus {
        var s = calculateStatus(d, all: all, new: new, now: now)
        if !hasProgressDeadline(d) { s.conditions.removeAll { $0.type == "Progressing" } }
        let current = condition(d.status, "Progressing")
        let completeAlready = s.replicas == s.updatedReplicas && current?.reason == "NewReplicaSetAvailable"
        if hasProgressDeadline(d) && !completeAlready {
            let subject = new.map { "ReplicaSet \"\($0.metadata.name)\"" } ?? "Deployment \"\(d.metadata.name)\""
            if isComplete(d, s) {
                setCondition(
                    &s,
                    newCondition(
                        "Progressing", "True", "NewReplicaSetAvailable", "\(subject) has successfully progressed.",
                        now: now))
            } else if isProgressing(d.status, s) {
                var c = newCondition("Progressing", "True", "ReplicaSetUpdated", "\(subject) is progressing.", now: now)
                if let cur = current {
                    if cur.status == "True" { c.lastTransitionTime = cur.lastTransitionTime }
                    s.conditions.removeAll { $0.type == "Progressing" }
                }
                setCondition(&s, c)
            } else if isTimedOut(d, s, now: now) {
                setCondition(
                    &s,
                    newCondition(
                        "Progressing", "False", "ProgressDeadlineExceeded", "\(subject) has timed out progressing.",
                        now: now))
            }
        }
        let failure = ((new.map { [$0] } ?? []) + all).lazy.compactMap { rs in
            rs.status.conditions.first { $0.type == "ReplicaFailure" && $0.status == "True" }
        }.first
        if let f = failure {
            setCondition(&s, newCondition("ReplicaFailure", f.status, f.reason, f.message, now: now))
        } else {
            s.conditions.removeAll { $0.type == "ReplicaFailure" }
        }
        return s
    }

    /// Old replica sets beyond `revisionHistoryLimit` that may be deleted, oldest revision first: only
    /// empty, settled, live ones (`cleanupDeployment`).
    static func cleanup(_ d: AppsV1.Deployment, old: [AppsV1.ReplicaSet]) -> [AppsV1.ReplicaSet] {
        guard let limit = d.spec.revisionHistoryLimit else { return [] }
        let alive = old.filter { $0.metadata.deletionTimestamp == nil }
        let diff = alive.count - Int(limit)
        guard diff > 0 else { return [] }
        let sorted = alive.sorted {
            let a = revision($0)
            let b = revision($1)
            if a != b { return a < b }
            return ($0.metadata.creationTimestamp?.seconds ?? 0) < ($1.metadata.creationTimestamp?.seconds ?? 0)
        }
        return sorted.prefix(diff).filter {
            $0.status.replicas == 0 && ($0.spec.replicas ?? 1) == 0
                && $0.metadata.generation <= $0.status.observedGeneration
        }
    }
}
