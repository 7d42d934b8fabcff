import APIMachinery
import KubernetesAPI
import Testing

/// Upstream's ValidatePersistentVolumeClaimUpdate: the spec is immutable, except that the binder
/// may set volumeName once while it is empty.
@Suite("PersistentVolumeClaim update validation")
struct PVCUpdateValidationTests {
    func claim() -> CoreV1.PersistentVolumeClaim {
        var c = CoreV1.PersistentVolumeClaim()
        c.metadata.name = "data"
        c.metadata.namespace = "default"
        c.metadata.resourceVersion = "1"
        c.spec.accessModes = ["ReadWriteOnce"]
        c.spec.resources.requests = ["storage": "1Gi"]
        return c
    }

    @Test("volumeName may be set once, never changed")
    func volumeNameOnce() {
        let old = claim()
        var bound = old
        bound.spec.volumeName = "pv-1"
        #expect(bound.validateUpdate(from: old).isEmpty)
        var moved = bound
        moved.spec.volumeName = "pv-2"
        #expect(moved.validateUpdate(from: bound).map(\.field.description) == ["spec"])
    }

    @Test("other spec fields stay immutable")
    func immutable() {
        let old = claim()
        var changed = old
        changed.spec.accessModes = ["ReadWriteMany"]
        #expect(changed.validateUpdate(from: old).map(\.field.description) == ["spec"])
    }
}
