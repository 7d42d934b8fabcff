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

/// Upstream's ValidateNodeUpdate: node IPAM may give a node its pod CIDRs once, the cloud its
/// provider ID once; neither changes after.
@Suite("Node update validation")
struct NodeUpdateValidationTests {
    func node() -> CoreV1.Node {
        var n = CoreV1.Node()
        n.metadata.name = "n1"
        n.metadata.resourceVersion = "1"
        return n
    }

    @Test("podCIDRs may go from empty to set; changing, adding to or clearing them is forbidden")
    func podCIDRs() {
        let old = node()
        var given = old
        given.spec.podCIDR = "10.42.0.0/24"
        given.spec.podCIDRs = ["10.42.0.0/24"]
        #expect(given.validateUpdate(from: old).isEmpty)
        #expect(given.validateUpdate(from: given).isEmpty)
        let message = #"node updates may not change podCIDR except from "" to valid"#
        var moved = given
        moved.spec.podCIDR = "10.42.1.0/24"
        moved.spec.podCIDRs = ["10.42.1.0/24"]
        var grown = given
        grown.spec.podCIDRs.append("fd00::/64")
        var cleared = given
        cleared.spec.podCIDR = ""
        cleared.spec.podCIDRs = []
        for changed in [moved, grown, cleared] {
            let errs = changed.validateUpdate(from: given)
            #expect(errs.map(\.field.description) == ["spec.podCIDRs"])
            #expect(errs.map(\.detail) == [message])
        }
    }

    @Test("providerID may be set once")
    func providerID() {
        let old = node()
        var set = old
        set.spec.providerID = "cloud://a"
        #expect(set.validateUpdate(from: old).isEmpty)
        var changed = set
        changed.spec.providerID = "cloud://b"
        #expect(changed.validateUpdate(from: set).map(\.field.description) == ["spec.providerID"])
    }
}
