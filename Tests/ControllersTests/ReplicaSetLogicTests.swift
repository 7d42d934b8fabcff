import APIApps
import APICore
import APIMachinery
import Foundation
import Testing

@testable import Controllers

func pod(
    _ name: String, node: String = "", phase: String = "Running", ready: Bool = false, readySince: Int64 = 0,
    created: Int64 = 0, restarts: Int32 = 0, cost: Int? = nil
) -> CoreV1.Pod {
    var p = CoreV1.Pod()
    p.metadata.name = name
    p.metadata.namespace = "ns"
    p.metadata.creationTimestamp = Time(seconds: created)
    if let cost { p.metadata.annotations["controller.kubernetes.io/pod-deletion-cost"] = String(cost) }
    p.spec.nodeName = node
    p.status.phase = phase
    if ready {
        p.status.conditions = [
            CoreV1.PodCondition(type: "Ready", status: "True", lastTransitionTime: Time(seconds: readySince))
        ]
    }
    var cs = CoreV1.ContainerStatus()
    cs.restartCount = restarts
    p.status.containerStatuses = [cs]
    return p
}

@Suite("replica set decisions")
struct ReplicaSetLogicTests {
    let now = Date(timeIntervalSince1970: 1_000_000)

    @Test("slow start: batches of 1, 2, 4, … (upstream slowStartBatch with SlowStartInitialBatchSize 1)")
    func slowStart() {
        #expect(ReplicaSetLogic.slowStartBatches(1) == [1])
        #expect(ReplicaSetLogic.slowStartBatches(10) == [1, 2, 4, 3])
        #expect(ReplicaSetLogic.slowStartBatches(500) == [1, 2, 4, 8, 16, 32, 64, 128, 245])
        #expect(ReplicaSetLogic.slowStartBatches(0) == [])
    }

    @Test("create the shortfall and delete the excess, at most BurstReplicas (500) at a time")
    func plan() {
        let three = (0..<3).map { pod("p\($0)") }
        #expect(ReplicaSetLogic.plan(replicas: 3, active: three, related: three, now: now) == .nothing)
        #expect(ReplicaSetLogic.plan(replicas: 5, active: three, related: three, now: now) == .create(2))
        #expect(ReplicaSetLogic.plan(replicas: 1000, active: [], related: [], now: now) == .create(500))
        guard case .delete(let names) = ReplicaSetLogic.plan(replicas: 1, active: three, related: three, now: now)
        else {
            Issue.record("expected deletes")
            return
        }
        #expect(names.count == 2)
    }

    @Test("deletion ranking follows upstream's ActivePodsWithRanks order")
    func ranking() {
        let t = Int64(now.timeIntervalSince1970)
        let pods = [
            pod("ready-old", node: "n1", ready: true, readySince: t - 10_000, created: t - 20_000),
            pod("unscheduled", phase: "Pending"),
            pod("pending", node: "n1", phase: "Pending"),
            pod("unknown", node: "n1", phase: "Unknown"),
            pod("running-notready", node: "n1"),
            pod("ready-new", node: "n1", ready: true, readySince: t - 5, created: t - 20_000),
            pod("ready-cheap", node: "n1", ready: true, readySince: t - 10_000, created: t - 20_000, cost: -5),
            pod("ready-restarts", node: "n1", ready: true, readySince: t - 10_000, created: t - 20_000, restarts: 4),
        ]
        let order = ReplicaSetLogic.rankForDeletion(pods, related: pods, now: now).map(\.metadata.name)
        // Unscheduled < scheduled; Pending < Unknown < Running; not ready < ready; lower deletion cost
        // first; ready for less time first; more restarts first.
        #expect(
            order == [
                "unscheduled", "pending", "unknown", "running-notready", "ready-cheap", "ready-new", "ready-restarts",
                "ready-old",
            ])
    }

    @Test("pods on a node crowded with related pods go first")
    func crowdedNodes() {
        let a = pod("a", node: "busy", ready: true, readySince: 1)
        let b = pod("b", node: "quiet", ready: true, readySince: 1)
        let siblings = (0..<3).map { pod("s\($0)", node: "busy") }
        let order = ReplicaSetLogic.rankForDeletion([b, a], related: [a, b] + siblings, now: now).map(\.metadata.name)
        #expect(order == ["a", "b"])
    }

    @Test("status counts replicas, fully labeled, ready and available after minReadySeconds")
    func status() {
        var rs = AppsV1.ReplicaSet()
        rs.metadata.generation = 4
        rs.spec.minReadySeconds = 30
        rs.spec.template.metadata.labels = ["app": "x", "tier": "web"]
        let t = Int64(now.timeIntervalSince1970)
        var p1 = pod("p1", ready: true, readySince: t - 60)
        p1.metadata.labels = ["app": "x", "tier": "web"]
        var p2 = pod("p2", ready: true, readySince: t - 5)
        p2.metadata.labels = ["app": "x"]
        let p3 = pod("p3")
        let s = ReplicaSetLogic.status(of: rs, active: [p1, p2, p3], terminating: 1, manageError: nil, now: now)
        #expect(s.replicas == 3 && s.fullyLabeledReplicas == 1 && s.readyReplicas == 2 && s.availableReplicas == 1)
        #expect(s.observedGeneration == 4 && s.terminatingReplicas == 1)
        let failed = ReplicaSetLogic.status(
            of: rs, active: [], terminating: 0, manageError: ("FailedCreate", "pods \"x\" is forbidden"), now: now)
        #expect(failed.conditions.map(\.type) == ["ReplicaFailure"])
        #expect(failed.conditions[0].reason == "FailedCreate" && failed.conditions[0].status == "True")
        rs.status = failed
        #expect(
            ReplicaSetLogic.status(of: rs, active: [], terminating: 0, manageError: nil, now: now).conditions.isEmpty)
    }

    @Test("claiming: own matching, adopt matching orphans, release non-matching, leave others' alone")
    func claim() {
        func owned(_ name: String, by uid: String?, labels: [String: String], deleting: Bool = false) -> CoreV1.Pod {
            var p = pod(name)
            p.metadata.labels = labels
            if let uid {
                p.metadata.ownerReferences = [
                    MetaV1.OwnerReference(
                        apiVersion: "apps/v1", kind: "ReplicaSet", name: "rs", uid: uid, controller: true)
                ]
            }
            if deleting { p.metadata.deletionTimestamp = Time(seconds: 1) }
            return p
        }
        let pods = [
            owned("mine", by: "u", labels: ["a": "1"]), owned("orphan", by: nil, labels: ["a": "1"]),
            owned("strayed", by: "u", labels: ["a": "2"]), owned("theirs", by: "other", labels: ["a": "1"]),
            owned("dying-orphan", by: nil, labels: ["a": "1"], deleting: true),
        ]
        let c = OwnerRefs.claim(pods, ownerUID: "u", ownerDeleting: false) { $0.metadata.labels["a"] == "1" }
        #expect(c.owned.map(\.metadata.name) == ["mine"])
        #expect(c.adopt.map(\.metadata.name) == ["orphan"])
        #expect(c.release.map(\.metadata.name) == ["strayed"])
        let deleting = OwnerRefs.claim(pods, ownerUID: "u", ownerDeleting: true) { $0.metadata.labels["a"] == "1" }
        #expect(
            deleting.adopt.isEmpty && deleting.release.isEmpty, "an owner being deleted adopts and releases nothing")
    }
}
