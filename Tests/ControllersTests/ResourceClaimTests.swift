import APICore
import APIMachinery
import APIResource
import Testing

@testable import Controllers

/// Claims made from templates and released by finished pods, per upstream's documentation
/// (https://kubernetes.io/docs/concepts/scheduling-eviction/dynamic-resource-allocation/#resourceclaims-and-resourceclaimtemplates).
@Suite("resourceclaim controller")
struct ResourceClaimTests {
    func pod(_ name: String, uid: String, phase: String = "Running") -> CoreV1.Pod {
        var p = CoreV1.Pod()
        p.metadata.name = name
        p.metadata.namespace = "ns"
        p.metadata.uid = uid
        p.status.phase = phase
        return p
    }

    @Test("a generated claim: the template's spec and metadata, owned by the pod, annotated with the pod's claim name")
    func generated() {
        var t = ResourceV1.ResourceClaimTemplate()
        t.metadata.name = "gpu"
        t.spec.metadata.labels = ["team": "ml"]
        t.spec.spec.devices.requests = [ResourceV1.DeviceRequest(name: "g")]
        let c = ResourceClaimController.claim(for: pod("trainer", uid: "p1"), podClaim: "accel", template: t)
        #expect(c.metadata.generateName == "trainer-accel-")
        #expect(c.metadata.labels == ["team": "ml"])
        #expect(c.metadata.annotations["resource.kubernetes.io/pod-claim-name"] == "accel")
        #expect(c.metadata.ownerReferences.first?.uid == "p1" && c.metadata.ownerReferences.first?.controller == true)
        #expect(c.spec == t.spec.spec)
    }

    @Test("reservations for missing, replaced or finished pods are dropped; others stay")
    func consumers() {
        var claim = ResourceV1.ResourceClaim()
        claim.status.reservedFor = [
            ResourceV1.ResourceClaimConsumerReference(resource: "pods", name: "alive", uid: "u1"),
            ResourceV1.ResourceClaimConsumerReference(resource: "pods", name: "gone", uid: "u2"),
            ResourceV1.ResourceClaimConsumerReference(resource: "pods", name: "replaced", uid: "old"),
            ResourceV1.ResourceClaimConsumerReference(resource: "pods", name: "done", uid: "u4"),
            ResourceV1.ResourceClaimConsumerReference(
                apiGroup: "example.com", resource: "things", name: "x", uid: "u5"),
        ]
        let pods = [
            "alive": pod("alive", uid: "u1"), "replaced": pod("replaced", uid: "new"),
            "done": pod("done", uid: "u4", phase: "Succeeded"),
        ]
        let live = ResourceClaimController.liveConsumers(claim) { pods[$0] }
        #expect(live.map(\.name) == ["alive", "x"])
    }
}
