import APIApps
import APICore
import APIMachinery
import Foundation
import Testing

@testable import Controllers

func deployment(replicas: Int32, surge: IntOrString? = nil, unavailable: IntOrString? = nil) -> AppsV1.Deployment {
    var d = AppsV1.Deployment()
    d.metadata.name = "d"
    d.metadata.namespace = "ns"
    d.metadata.generation = 1
    d.spec.replicas = replicas
    d.spec.strategy.type = "RollingUpdate"
    d.spec.strategy.rollingUpdate = AppsV1.RollingUpdateDeployment(maxUnavailable: unavailable, maxSurge: surge)
    d.spec.progressDeadlineSeconds = 600
    d.spec.template.metadata.labels = ["app": "d"]
    return d
}

func replicaSet(
    _ name: String, replicas: Int32, available: Int32? = nil, created: Int64 = 0, maxReplicas: Int32? = nil,
    revision: Int? = nil
) -> AppsV1.ReplicaSet {
    var rs = AppsV1.ReplicaSet()
    rs.metadata.name = name
    rs.metadata.uid = "uid-" + name
    rs.metadata.creationTimestamp = Time(seconds: created)
    rs.spec.replicas = replicas
    rs.status.replicas = replicas
    rs.status.availableReplicas = available ?? replicas
    rs.status.readyReplicas = available ?? replicas
    if let m = maxReplicas { rs.metadata.annotations[DeploymentLogic.maxReplicasAnnotation] = String(m) }
    if let r = revision { rs.metadata.annotations[DeploymentLogic.revisionAnnotation] = String(r) }
    return rs
}

@Suite("deployment decisions")
struct DeploymentLogicTests {
    let now = Date(timeIntervalSince1970: 2_000_000)

    @Test("maxSurge rounds up, maxUnavailable down, and both zero means one unavailable (ResolveFenceposts)")
    func fenceposts() {
        let d = deployment(replicas: 10)
        #expect(DeploymentLogic.fenceposts(d) == (3, 2), "25% of 10: surge 2.5 → 3, unavailable 2.5 → 2")
        #expect(DeploymentLogic.fenceposts(deployment(replicas: 10, surge: 0, unavailable: 0)) == (0, 1))
        #expect(DeploymentLogic.fenceposts(deployment(replicas: 3, surge: "50%", unavailable: 1)) == (2, 1))
        #expect(DeploymentLogic.maxUnavailable(deployment(replicas: 1, surge: 0, unavailable: 5)) == 1)
    }

    @Test("the new replica set grows by what the surge allows (NewRSNewReplicas)")
    func scaleUp() {
        let d = deployment(replicas: 10)
        let old = replicaSet("old", replicas: 10)
        var new = replicaSet("new", replicas: 0)
        #expect(DeploymentLogic.newRSReplicas(d, all: [old, new], newRS: new) == 3)
        new.spec.replicas = 3
        #expect(DeploymentLogic.newRSReplicas(d, all: [old, new], newRS: new) == 3, "at the surge limit: no change")
        let small = replicaSet("old", replicas: 2)
        #expect(DeploymentLogic.newRSReplicas(d, all: [small, new], newRS: new) == 10, "never above replicas")
        var recreate = d
        recreate.spec.strategy.type = "Recreate"
        #expect(DeploymentLogic.newRSReplicas(recreate, all: [old], newRS: nil) == 10)
    }

    @Test("old sets shrink only as far as availability allows, unhealthy pods first")
    func scaleDown() {
        let d = deployment(replicas: 10)
        var new = replicaSet("new", replicas: 3, available: 0)
        let old = replicaSet("old", replicas: 10)
        // 13 pods, min available 8, 3 new ones unavailable: 2 old ones may go.
        #expect(DeploymentLogic.scaleDownOld(d, old: [old], newRS: new) == ["old": 8])
        new.status.availableReplicas = 3
        // New pods available: 13 available, 5 may go.
        #expect(DeploymentLogic.scaleDownOld(d, old: [old], newRS: new) == ["old": 5])
        // Unavailable old pods are removed before available ones.
        let sick = replicaSet("sick", replicas: 10, available: 7)
        new.status.availableReplicas = 0
        #expect(DeploymentLogic.scaleDownOld(d, old: [sick], newRS: new) == ["sick": 8])
    }

    @Test("resizing mid-rollout shares the change in proportion (the documented 10→15 example: +3 old, +2 new)")
    func proportional() {
        var d = deployment(replicas: 15, surge: 3, unavailable: 2)
        d.status.replicas = 13
        let old = replicaSet("old", replicas: 8, created: 1, maxReplicas: 13)
        let new = replicaSet("new", replicas: 5, available: 0, created: 2, maxReplicas: 13)
        let sizes = DeploymentLogic.proportionalSizes(d, new: new, old: [old])
        #expect(sizes == ["old": 11, "new": 7])
        // One active set takes the whole size.
        let idle = replicaSet("idle", replicas: 0, created: 1)
        #expect(DeploymentLogic.proportionalSizes(d, new: new, old: [idle]) == ["new": 15])
    }

    @Test("a resize is an event only for active sets whose desired-replicas annotation differs")
    func scalingEvent() {
        let d = deployment(replicas: 5)
        var rs = replicaSet("a", replicas: 3)
        #expect(!DeploymentLogic.isScalingEvent(d, [rs]), "no annotation: not a scaling event")
        rs.metadata.annotations[DeploymentLogic.desiredReplicasAnnotation] = "3"
        #expect(DeploymentLogic.isScalingEvent(d, [rs]))
        rs.metadata.annotations[DeploymentLogic.desiredReplicasAnnotation] = "5"
        #expect(!DeploymentLogic.isScalingEvent(d, [rs]))
    }

    @Test("template hash ignores nothing but is stable, and differs with the collision count")
    func hashing() {
        let d = deployment(replicas: 1)
        let h1 = DeploymentLogic.templateHash(d.spec.template, collisionCount: nil)
        #expect(h1 == DeploymentLogic.templateHash(d.spec.template, collisionCount: nil))
        #expect(h1 != DeploymentLogic.templateHash(d.spec.template, collisionCount: 1))
        #expect(h1.allSatisfy { "bcdfghjklmnpqrstvwxz2456789".contains($0) })
        var t = d.spec.template
        t.metadata.labels[DeploymentLogic.hashLabel] = h1
        #expect(DeploymentLogic.equalIgnoringHash(t, d.spec.template))
        let rs = DeploymentLogic.newReplicaSet(
            for: d, revision: 4, replicas: 1,
            owner: MetaV1.OwnerReference(
                apiVersion: "apps/v1", kind: "Deployment", name: "d", uid: "u", controller: true))
        #expect(rs.metadata.name == "d-\(h1)")
        #expect(rs.spec.selector?.matchLabels[DeploymentLogic.hashLabel] == h1)
        #expect(rs.metadata.annotations[DeploymentLogic.revisionAnnotation] == "4")
        #expect(rs.metadata.annotations[DeploymentLogic.desiredReplicasAnnotation] == "1")
        #expect(rs.metadata.annotations[DeploymentLogic.maxReplicasAnnotation] == "2")
    }

    @Test("reusing a set for a rollback keeps its old revision in revision-history")
    func revisionHistory() {
        let d = deployment(replicas: 1)
        var rs = replicaSet("r", replicas: 1, revision: 1)
        #expect(DeploymentLogic.setNewAnnotations(d, &rs, revision: 3, exists: true))
        #expect(rs.metadata.annotations[DeploymentLogic.revisionAnnotation] == "3")
        #expect(rs.metadata.annotations[DeploymentLogic.revisionHistoryAnnotation] == "1")
    }

    @Test("Available and Progressing conditions follow upstream's reasons and messages")
    func conditions() {
        let d = deployment(replicas: 3)
        let new = replicaSet("d-abc", replicas: 3, available: 1)
        var s = DeploymentLogic.rolloutStatus(d, all: [new], new: new, now: now)
        let available = DeploymentLogic.condition(s, "Available")
        #expect(available?.status == "False" && available?.reason == "MinimumReplicasUnavailable")
        #expect(available?.message == "Deployment does not have minimum availability.")
        #expect(DeploymentLogic.condition(s, "Progressing")?.reason == "ReplicaSetUpdated")
        #expect(DeploymentLogic.condition(s, "Progressing")?.message == "ReplicaSet \"d-abc\" is progressing.")
        var done = d
        done.status = s
        let ready = replicaSet("d-abc", replicas: 3)
        s = DeploymentLogic.rolloutStatus(done, all: [ready], new: ready, now: now)
        #expect(DeploymentLogic.condition(s, "Available")?.reason == "MinimumReplicasAvailable")
        let p = DeploymentLogic.condition(s, "Progressing")
        #expect(
            p?.reason == "NewReplicaSetAvailable" && p?.message == "ReplicaSet \"d-abc\" has successfully progressed.")
        #expect(s.conditions.map(\.type) == ["Available", "Progressing"], "a changed condition moves to the end")
        // No progress past the deadline: ProgressDeadlineExceeded.
        var stuck = d
        stuck.status = DeploymentLogic.rolloutStatus(d, all: [new], new: new, now: now)
        let later = now.addingTimeInterval(601)
        s = DeploymentLogic.rolloutStatus(stuck, all: [new], new: new, now: later)
        #expect(DeploymentLogic.condition(s, "Progressing")?.reason == "ProgressDeadlineExceeded")
        #expect(DeploymentLogic.condition(s, "Progressing")?.status == "False")
    }

    @Test("history beyond revisionHistoryLimit is cleaned oldest revision first, only empty sets")
    func cleanup() {
        var d = deployment(replicas: 1)
        d.spec.revisionHistoryLimit = 2
        let r1 = replicaSet("r1", replicas: 0, revision: 1)
        let r2 = replicaSet("r2", replicas: 0, revision: 2)
        let r3 = replicaSet("r3", replicas: 1, revision: 3)
        #expect(DeploymentLogic.cleanup(d, old: [r3, r2, r1]).map(\.metadata.name) == ["r1"])
        d.spec.revisionHistoryLimit = 0
        #expect(
            DeploymentLogic.cleanup(d, old: [r3, r2, r1]).map(\.metadata.name) == ["r1", "r2"], "r3 still has pods")
    }
}
