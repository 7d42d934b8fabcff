import APIBatch
import APICore
import APIMachinery
import APIPolicy
import APIRBAC
import Foundation
import Testing

@testable import Controllers

@Suite("small controllers' decisions")
struct SmallControllerTests {
    @Test("a finished job expires its TTL after the Complete or Failed condition's transition")
    func ttl() {
        var j = BatchV1.Job()
        #expect(TTLAfterFinishedController.expiry(j) == nil)
        j.spec.ttlSecondsAfterFinished = 30
        #expect(TTLAfterFinishedController.expiry(j) == nil, "still running")
        j.status.conditions = [
            BatchV1.JobCondition(type: "Complete", status: "True", lastTransitionTime: Time(seconds: 1000))
        ]
        #expect(TTLAfterFinishedController.expiry(j) == Date(timeIntervalSince1970: 1030))
    }

    @Test(
        "podgc: terminated pods beyond the threshold (oldest first), pods on missing nodes, unscheduled terminating pods"
    )
    func podgc() {
        var old = pod("old", phase: "Succeeded", created: 1)
        old.spec.nodeName = "n1"
        var newer = pod("newer", phase: "Failed", created: 2)
        newer.spec.nodeName = "n1"
        let running = pod("running", node: "n1")
        let lost = pod("lost", node: "gone")
        let unconfirmed = pod("unconfirmed", node: "maybe")
        var dying = pod("dying", phase: "Pending")
        dying.metadata.deletionTimestamp = Time(seconds: 5)
        let c = PodGCController.collect(
            pods: [newer, old, running, lost, unconfirmed, dying], knownNodes: ["n1"], missingNodes: ["gone"],
            threshold: 1)
        #expect(c.terminated.map(\.metadata.name) == ["old"])
        #expect(c.orphaned.map(\.metadata.name) == ["lost"], "a node not confirmed missing is left alone")
        #expect(c.unscheduledTerminating.map(\.metadata.name) == ["dying"])
    }

    @Test("podgc re-reads a node unknown to its cache only after 40 seconds of absence (upstream's quarantineTime)")
    func podgcQuarantine() {
        var q = NodeQuarantine()
        let t0 = ContinuousClock.now
        #expect(q.due(unknown: ["a"], now: t0).isEmpty, "just noticed")
        #expect(q.due(unknown: ["a", "b"], now: t0 + .seconds(39)).isEmpty)
        #expect(q.due(unknown: ["a", "b"], now: t0 + .seconds(40)) == ["a"])
        // "a" appeared (the cache knows it now), then went again: its wait starts over.
        #expect(q.due(unknown: ["b"], now: t0 + .seconds(41)).isEmpty)
        #expect(q.due(unknown: ["a", "b"], now: t0 + .seconds(60)).isEmpty, "b waits from 39 s, a from 60 s")
        #expect(q.due(unknown: ["a", "b"], now: t0 + .seconds(79)) == ["b"])
        #expect(q.due(unknown: ["a", "b"], now: t0 + .seconds(100)) == ["a", "b"])
    }

    @Test("aggregated cluster roles collect the matching roles' rules once each, in name order")
    func aggregation() {
        func role(_ name: String, labels: [String: String] = [:], verbs: [String]) -> RBACV1.ClusterRole {
            var r = RBACV1.ClusterRole()
            r.metadata.name = name
            r.metadata.labels = labels
            r.rules = [RBACV1.PolicyRule(verbs: verbs, apiGroups: [""], resources: ["pods"])]
            return r
        }
        var agg = role("agg", verbs: [])
        agg.rules = []
        agg.aggregationRule = RBACV1.AggregationRule(clusterRoleSelectors: [
            MetaV1.LabelSelector(matchLabels: ["a": "1"])
        ])
        let all = [
            agg, role("b", labels: ["a": "1"], verbs: ["list"]), role("a", labels: ["a": "1"], verbs: ["get"]),
            role("dup", labels: ["a": "1"], verbs: ["get"]), role("other", verbs: ["delete"]),
        ]
        let rules = ClusterRoleAggregationController.aggregatedRules(for: agg, among: all)
        #expect(rules?.map(\.verbs) == [["get"], ["list"]])
        #expect(ClusterRoleAggregationController.aggregatedRules(for: all[1], among: all) == nil)
    }

    @Test("a pod's claims include its generic ephemeral volumes' claims")
    func podClaims() {
        var p = pod("web")
        p.spec.volumes = [
            CoreV1.Volume(
                name: "data",
                volumeSource: CoreV1.VolumeSource(
                    persistentVolumeClaim: CoreV1.PersistentVolumeClaimVolumeSource(claimName: "pvc1"))),
            CoreV1.Volume(
                name: "scratch", volumeSource: CoreV1.VolumeSource(ephemeral: CoreV1.EphemeralVolumeSource())),
        ]
        #expect(PVCProtectionController.claimNames(p) == ["pvc1", "web-scratch"])
    }

    @Test("disruption budgets: minAvailable counts pods, percentages and maxUnavailable use controller scales")
    func disruption() {
        var pdb = PolicyV1.PodDisruptionBudget()
        pdb.spec.minAvailable = .int(2)
        #expect(
            DisruptionController.expectations(pdb, podCount: 3, scales: nil).map { [$0.expected, $0.desired] } == [
                3, 2,
            ])
        pdb.spec.minAvailable = .string("50%")
        #expect(
            DisruptionController.expectations(pdb, podCount: 3, scales: ["d": 5]).map { [$0.expected, $0.desired] } == [
                5, 3,
            ])
        #expect(DisruptionController.expectations(pdb, podCount: 3, scales: nil) == nil, "no controller: SyncFailed")
        pdb.spec.minAvailable = nil
        pdb.spec.maxUnavailable = .string("25%")
        #expect(
            DisruptionController.expectations(pdb, podCount: 4, scales: ["d": 4]).map { [$0.expected, $0.desired] } == [
                4, 3,
            ])
    }

    @Test("node TTL steps up past a step's upper bound and down only below the next one's lower bound")
    func ttlSteps() {
        #expect(TTLController.steps[TTLController.step(for: 3, current: 0)].ttl == 0)
        #expect(TTLController.steps[TTLController.step(for: 101, current: 0)].ttl == 15)
        #expect(TTLController.steps[TTLController.step(for: 95, current: 1)].ttl == 15, "hysteresis")
        #expect(TTLController.steps[TTLController.step(for: 90, current: 1)].ttl == 0)
        #expect(TTLController.steps[TTLController.step(for: 20000, current: 0)].ttl == 600)
    }
}
