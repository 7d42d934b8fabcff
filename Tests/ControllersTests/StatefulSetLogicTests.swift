import APIApps
import APICore
import APIMachinery
import Foundation
import Testing

@testable import Controllers

@Suite("stateful set decisions")
struct StatefulSetLogicTests {
    func set(replicas: Int32, parallel: Bool = false, partition: Int32? = nil) -> AppsV1.StatefulSet {
        var s = AppsV1.StatefulSet()
        s.metadata.name = "web"
        s.metadata.namespace = "ns"
        s.metadata.uid = "u"
        s.spec.replicas = replicas
        s.spec.serviceName = "web"
        s.spec.podManagementPolicy = parallel ? "Parallel" : "OrderedReady"
        s.spec.updateStrategy.type = "RollingUpdate"
        if let partition {
            s.spec.updateStrategy.rollingUpdate = AppsV1.RollingUpdateStatefulSetStrategy(partition: partition)
        }
        var claim = CoreV1.PersistentVolumeClaim()
        claim.metadata.name = "www"
        s.spec.volumeClaimTemplates = [claim]
        return s
    }

    func member(_ s: AppsV1.StatefulSet, _ o: Int, ready: Bool = true, hash: String = "h1") -> CoreV1.Pod {
        var p = StatefulSetLogic.pod(for: s, ordinal: o, hash: hash)
        p.status.phase = "Running"
        if ready { p.status.conditions = [CoreV1.PodCondition(type: "Ready", status: "True")] }
        return p
    }

    @Test("pods get stable names, identity labels, hostname, subdomain and their ordinal's claim")
    func identity() {
        let p = StatefulSetLogic.pod(for: set(replicas: 1), ordinal: 2, hash: "h")
        #expect(p.metadata.name == "web-2" && p.spec.hostname == "web-2" && p.spec.subdomain == "web")
        #expect(p.metadata.labels["statefulset.kubernetes.io/pod-name"] == "web-2")
        #expect(p.metadata.labels["apps.kubernetes.io/pod-index"] == "2")
        #expect(p.spec.volumes.first?.volumeSource.persistentVolumeClaim?.claimName == "www-web-2")
    }

    @Test("OrderedReady creates one ordinal at a time, after the previous is Running and Ready; Parallel all at once")
    func ordering() {
        let s = set(replicas: 3)
        #expect(StatefulSetLogic.plan(s, pods: [], hash: "h1").create == [0])
        #expect(StatefulSetLogic.plan(s, pods: [member(s, 0, ready: false)], hash: "h1").create.isEmpty)
        #expect(StatefulSetLogic.plan(s, pods: [member(s, 0)], hash: "h1").create == [1])
        #expect(StatefulSetLogic.plan(set(replicas: 3, parallel: true), pods: [], hash: "h1").create == [0, 1, 2])
    }

    @Test("scaling down removes the highest ordinal first, one at a time while the rest are ready")
    func scaleDown() {
        let s = set(replicas: 1)
        let pods = [member(s, 0), member(s, 1), member(s, 2)]
        #expect(StatefulSetLogic.plan(s, pods: pods, hash: "h1").delete == ["web-2"])
        #expect(
            StatefulSetLogic.plan(s, pods: [member(s, 0), member(s, 1, ready: false), member(s, 2)], hash: "h1").delete
                .isEmpty)
    }

    @Test("a rolling update replaces the highest old-revision pod at or above the partition, one at a time")
    func rollingUpdate() {
        let s = set(replicas: 3, partition: 1)
        let pods = [member(s, 0), member(s, 1), member(s, 2)]
        #expect(StatefulSetLogic.plan(s, pods: pods, hash: "h2").delete == ["web-2"])
        let halfway = [member(s, 0), member(s, 1), member(s, 2, hash: "h2")]
        #expect(StatefulSetLogic.plan(s, pods: halfway, hash: "h2").delete == ["web-1"])
        let done = [member(s, 0), member(s, 1, hash: "h2"), member(s, 2, hash: "h2")]
        #expect(StatefulSetLogic.plan(s, pods: done, hash: "h2").delete.isEmpty, "ordinal 0 is below the partition")
        var onDelete = s
        onDelete.spec.updateStrategy.type = "OnDelete"
        #expect(StatefulSetLogic.plan(onDelete, pods: pods, hash: "h2").delete.isEmpty)
    }

    @Test("claims follow the retention policy: owned by the set when whenDeleted is Delete")
    func retention() {
        var s = set(replicas: 1)
        #expect(StatefulSetLogic.claims(for: s, ordinal: 0).first?.metadata.ownerReferences.isEmpty == true)
        s.spec.persistentVolumeClaimRetentionPolicy = AppsV1.StatefulSetPersistentVolumeClaimRetentionPolicy(
            whenDeleted: "Delete", whenScaled: "Retain")
        let c = StatefulSetLogic.claims(for: s, ordinal: 0)
        #expect(c.first?.metadata.name == "www-web-0" && c.first?.metadata.ownerReferences.first?.kind == "StatefulSet")
    }

    @Test("maxUnavailable: that many old-revision pods at once, counting pods already unready")
    func maxUnavailable() {
        var s = set(replicas: 5, parallel: true)
        s.spec.updateStrategy.rollingUpdate = AppsV1.RollingUpdateStatefulSetStrategy(maxUnavailable: .int(2))
        let pods = (0..<5).map { member(s, $0) }
        #expect(StatefulSetLogic.plan(s, pods: pods, hash: "h2").delete == ["web-4", "web-3"])
        var oneDown = pods
        oneDown[1] = member(s, 1, ready: false)
        #expect(StatefulSetLogic.plan(s, pods: oneDown, hash: "h2").delete == ["web-4"])
        s.spec.updateStrategy.rollingUpdate?.maxUnavailable = .string("60%")
        #expect(
            StatefulSetLogic.plan(s, pods: pods, hash: "h2").delete == ["web-4", "web-3", "web-2"],
            "60% of 5, rounded up")
    }

    @Test("spec.ordinals.start numbers the pods from that ordinal; scaling and partitions count from it")
    func startOrdinal() {
        var s = set(replicas: 2, parallel: true)
        s.spec.ordinals = AppsV1.StatefulSetOrdinals(start: 5)
        #expect(StatefulSetLogic.plan(s, pods: [], hash: "h1").create == [5, 6])
        let pods = [member(s, 5), member(s, 6), member(s, 7)]
        #expect(StatefulSetLogic.plan(s, pods: pods, hash: "h1").delete == ["web-7"], "ordinal 7 is beyond 5..<7")
        s.spec.updateStrategy.rollingUpdate = AppsV1.RollingUpdateStatefulSetStrategy(partition: 1)
        #expect(
            StatefulSetLogic.plan(s, pods: [member(s, 5), member(s, 6)], hash: "h2").delete == ["web-6"],
            "the partition counts from the start ordinal: only 6 (index 1) is updated")
    }
}
