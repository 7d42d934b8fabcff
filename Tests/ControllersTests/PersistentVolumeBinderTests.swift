import APICore
import APIMachinery
import APIStorage
import Testing

@testable import Controllers

/// The binder's choices, per upstream's documented binding rules
/// (https://kubernetes.io/docs/concepts/storage/persistent-volumes/#binding): the smallest matching
/// volume of the claim's class, a volume reserved for the claim first, WaitForFirstConsumer delays.
@Suite("persistentvolume-binder decisions")
struct PersistentVolumeBinderTests {
    func volume(_ name: String, _ size: Quantity, cls: String = "std", modes: [String] = ["ReadWriteOnce"])
        -> CoreV1.PersistentVolume
    {
        var v = CoreV1.PersistentVolume()
        v.metadata.name = name
        v.spec.capacity = ["storage": size]
        v.spec.accessModes = modes
        v.spec.storageClassName = cls
        v.status.phase = "Available"
        return v
    }

    func claim(_ size: Quantity, cls: String? = "std", modes: [String] = ["ReadWriteOnce"])
        -> CoreV1.PersistentVolumeClaim
    {
        var c = CoreV1.PersistentVolumeClaim()
        c.metadata.name = "data"
        c.metadata.namespace = "ns"
        c.metadata.uid = "claim-uid"
        c.spec.accessModes = modes
        c.spec.resources.requests = ["storage": size]
        c.spec.storageClassName = cls
        return c
    }

    @Test("the smallest volume that fits class, access modes and size")
    func smallest() {
        let vols = [
            volume("small", "1Gi"), volume("big", "10Gi"), volume("mid", "5Gi"), volume("other", "2Gi", cls: "fast"),
            volume("rox", "3Gi", modes: ["ReadOnlyMany"]),
        ]
        #expect(PersistentVolumeBinder.bestMatch(claim("2Gi"), vols)?.metadata.name == "mid")
        #expect(PersistentVolumeBinder.bestMatch(claim("20Gi"), vols) == nil)
        #expect(PersistentVolumeBinder.bestMatch(claim("1Gi", cls: "fast"), vols)?.metadata.name == "other")
    }

    @Test("a selector narrows the volumes; a volume reserved for the claim wins; bound volumes are skipped")
    func reservations() {
        var labelled = volume("labelled", "8Gi")
        labelled.metadata.labels = ["tier": "gold"]
        var taken = volume("taken", "3Gi")
        taken.spec.claimRef = CoreV1.ObjectReference(namespace: "ns", name: "other", uid: "x")
        taken.status.phase = "Bound"
        var reserved = volume("reserved", "20Gi")
        reserved.spec.claimRef = CoreV1.ObjectReference(namespace: "ns", name: "data")
        var c = claim("2Gi")
        c.spec.selector = MetaV1.LabelSelector(matchLabels: ["tier": "gold"])
        #expect(
            PersistentVolumeBinder.bestMatch(c, [volume("plain", "3Gi"), labelled, taken])?.metadata.name == "labelled")
        #expect(
            PersistentVolumeBinder.bestMatch(claim("2Gi"), [taken, volume("plain", "3Gi"), reserved])?.metadata.name
                == "reserved")
    }

    @Test("unbound claim steps: bind, wait for a consumer, provision, or stay pending with upstream's event")
    func claimSteps() {
        var wffc = StorageV1.StorageClass()
        wffc.metadata.name = "std"
        wffc.provisioner = "kubernetes.io/no-provisioner"
        wffc.volumeBindingMode = "WaitForFirstConsumer"
        #expect(
            PersistentVolumeBinder.unboundClaimStep(claim("1Gi"), volumes: [volume("v", "1Gi")], storageClass: nil)
                == .bind(volume: "v"))
        #expect(
            PersistentVolumeBinder.unboundClaimStep(claim("1Gi"), volumes: [volume("v", "1Gi")], storageClass: wffc)
                == .waitForFirstConsumer)
        var csi = StorageV1.StorageClass()
        csi.provisioner = "csi.example.com"
        #expect(
            PersistentVolumeBinder.unboundClaimStep(claim("1Gi"), volumes: [], storageClass: csi)
                == .provision(provisioner: "csi.example.com"))
        #expect(
            PersistentVolumeBinder.unboundClaimStep(claim("1Gi", cls: ""), volumes: [], storageClass: nil)
                == .pending(
                    event: "FailedBinding",
                    message: "no persistent volumes available for this claim and no storage class is set"))
        var named = claim("1Gi")
        named.spec.volumeName = "taken"
        var taken = volume("taken", "1Gi")
        taken.spec.claimRef = CoreV1.ObjectReference(namespace: "ns", name: "someone-else", uid: "y")
        #expect(
            PersistentVolumeBinder.unboundClaimStep(named, volumes: [taken], storageClass: nil)
                == .pending(event: "FailedBinding", message: "volume \"taken\" already bound to a different claim."))
    }

    @Test(
        "WaitForFirstConsumer: a volume the scheduler reserved for the claim (claimRef written, no selected node) is bound at once; a volume reserved for another claim is not"
    )
    func delayedClaimWithReservedVolume() {
        var wffc = StorageV1.StorageClass()
        wffc.metadata.name = "std"
        wffc.provisioner = "kubernetes.io/no-provisioner"
        wffc.volumeBindingMode = "WaitForFirstConsumer"
        // Upstream's findBestMatchForClaim returns the volume pre-bound to the claim even in delayed
        // mode; the scheduler's VolumeBinding PreBind binds static volumes this way.
        var reserved = volume("picked", "5Gi")
        reserved.spec.claimRef = CoreV1.ObjectReference(
            kind: "PersistentVolumeClaim", namespace: "ns", name: "data", uid: "claim-uid", apiVersion: "v1")
        reserved.metadata.annotations["pv.kubernetes.io/bound-by-controller"] = "yes"
        #expect(
            PersistentVolumeBinder.unboundClaimStep(
                claim("1Gi"), volumes: [volume("other", "1Gi"), reserved], storageClass: wffc)
                == .bind(volume: "picked"))
        var forAnother = reserved
        forAnother.spec.claimRef?.uid = "an-older-claim-of-the-same-name"
        #expect(
            PersistentVolumeBinder.unboundClaimStep(claim("1Gi"), volumes: [forAnother], storageClass: wffc)
                == .waitForFirstConsumer)
        // Without a reservation the claim keeps waiting for its first consumer, even with a free volume.
        #expect(
            PersistentVolumeBinder.unboundClaimStep(claim("1Gi"), volumes: [volume("free", "5Gi")], storageClass: wffc)
                == .waitForFirstConsumer)
    }

    @Test("volume phases: Available without a claim, Bound with its claim, released by policy when the claim is gone")
    func volumeSteps() {
        var v = volume("v", "1Gi")
        v.status.phase = ""
        #expect(PersistentVolumeBinder.volumeStep(v, claim: nil) == .phase("Available"))
        var c = claim("1Gi")
        c.spec.volumeName = "v"
        v.spec.claimRef = CoreV1.ObjectReference(namespace: "ns", name: "data", uid: "claim-uid")
        v.status.phase = "Available"
        #expect(PersistentVolumeBinder.volumeStep(v, claim: c) == .phase("Bound"))
        v.status.phase = "Bound"
        v.spec.persistentVolumeReclaimPolicy = "Delete"
        #expect(PersistentVolumeBinder.volumeStep(v, claim: nil) == .released(policy: "Delete"))
        c.metadata.uid = "a-new-claim-with-the-same-name"
        #expect(PersistentVolumeBinder.volumeStep(v, claim: c) == .released(policy: "Delete"))
    }
}
