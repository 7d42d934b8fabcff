import APICore
import APIMachinery
import APIStorage
import ControllerRuntime
import Foundation

/// Upstream's persistentvolume-binder-controller: binds claims to volumes (the smallest available
/// volume of the claim's class that has the access modes, mode, size and labels it asks for),
/// waits for the first consumer when the class says `WaitForFirstConsumer`, hands claims with no
/// matching volume to their class's external provisioner, and applies a released volume's reclaim
/// policy, with upstream's annotations, phases and events.
public final class PersistentVolumeBinder: Controller {
    static let bindCompleted = "pv.kubernetes.io/bind-completed"
    static let boundByController = "pv.kubernetes.io/bound-by-controller"
    static let selectedNode = "volume.kubernetes.io/selected-node"
    static let storageProvisioner = "volume.kubernetes.io/storage-provisioner"
    static let betaStorageProvisioner = "volume.beta.kubernetes.io/storage-provisioner"
    static let provisionedBy = "pv.kubernetes.io/provisioned-by"

    let client: KubeClient
    let claims: ObjectStore<CoreV1.PersistentVolumeClaim>
    let volumes: ObjectStore<CoreV1.PersistentVolume>
    let classes: ObjectStore<StorageV1.StorageClass>
    let recorder: EventRecorder
    let claimQueue = WorkQueue<ObjectKey>(name: "claims")
    let volumeQueue = WorkQueue<ObjectKey>(name: "volumes")

    public init(_ ctx: ControllerContext) {
        client = ctx.client
        recorder = ctx.recorder("persistentvolume-controller")
        let claimInformer = ctx.informers.informer(CoreV1.PersistentVolumeClaim.self)
        let volumeInformer = ctx.informers.informer(CoreV1.PersistentVolume.self)
        claims = claimInformer.store
        volumes = volumeInformer.store
        classes = ctx.informers.store(StorageV1.StorageClass.self)
        let claimQueue = self.claimQueue, volumeQueue = self.volumeQueue
        let volumes = self.volumes, claims = self.claims
        claimInformer.addHandler { e in
            let c = e.object
            claimQueue.add(ObjectKey(c.metadata))
            if case .deleted = e {
                // The volume it held is released.
                for v in volumes.list() where v.spec.claimRef?.uid == c.metadata.uid {
                    volumeQueue.add(ObjectKey(v.metadata))
                }
            }
        }
        volumeInformer.addHandler { e in
            let v = e.object
            volumeQueue.add(ObjectKey(v.metadata))
            // A new or freed volume may satisfy a waiting claim.
            for c in claims.list() where c.status.phase == "Pending" || c.status.phase.isEmpty {
                claimQueue.add(ObjectKey(c.metadata))
            }
        }
    }

    // MARK: decisions

    static func claimClass(_ c: CoreV1.PersistentVolumeClaim) -> String {
        c.spec.storageClassName ?? c.metadata.annotations["volume.beta.kubernetes.io/storage-class"] ?? ""
    }

    static func volumeClass(_ v: CoreV1.PersistentVolume) -> String {
        v.spec.storageClassName.isEmpty
            ? v.metadata.annotations["volume.beta.kubernetes.io/storage-class"] ?? "" : v.spec.storageClassName
    }

    /// Upstream's `findBestMatchForClaim`: a volume already reserved for this claim wins; otherwise
    /// the smallest available one whose class, access modes, volume mode, size and labels fit.
    static func bestMatch(_ claim: CoreV1.PersistentVolumeClaim, _ candidates: [CoreV1.PersistentVolume])
        -> CoreV1.PersistentVolume?
    {
        let request = claim.spec.resources.requests["storage"] ?? Quantity()
        // A claim without a selector accepts any volume; an unparsable one none.
        let selector = claim.spec.selector.map { (try? LabelSelector.from($0)) ?? .nothing }
        let cls = claimClass(claim)
        let mode = claim.spec.volumeMode ?? "Filesystem"
        var best: CoreV1.PersistentVolume?
        for v in candidates {
            if v.metadata.deletionTimestamp != nil { continue }
            if let ref = v.spec.claimRef {
                guard ref.name == claim.metadata.name && ref.namespace == claim.metadata.namespace,
                    (ref.uid ?? "").isEmpty || ref.uid == claim.metadata.uid
                else { continue }
                if fits(v, claim, request: request, cls: cls, mode: mode, selector: nil) { return v }
                continue
            }
            guard v.status.phase == "Available" || v.status.phase.isEmpty else { continue }
            guard fits(v, claim, request: request, cls: cls, mode: mode, selector: selector) else { continue }
            if let b = best, let bc = b.spec.capacity["storage"], let vc = v.spec.capacity["storage"],
                bc.compare(vc) <= 0
            {
                continue
            }
            best = v
        }
        return best
    }

    static func fits(
        _ v: CoreV1.PersistentVolume, _ claim: CoreV1.PersistentVolumeClaim, request: Quantity, cls: String,
        mode: String, selector: LabelSelector?
    ) -> Bool {
        guard volumeClass(v) == cls, (v.spec.volumeMode ?? "Filesystem") == mode,
            Set(claim.spec.accessModes).isSubset(of: Set(v.spec.accessModes)),
            let cap = v.spec.capacity["storage"], cap.compare(request) >= 0
        else { return false }
        if let selector, !selector.matches(v.metadata.labels) { return false }
        return true
    }

    /// What to do for an unbound claim.
    enum ClaimStep: Equatable {
        case bind(volume: String)
        case waitForFirstConsumer
        case provision(provisioner: String)
        case pending(event: String?, message: String?)
    }

    static func unboundClaimStep(
        _ claim: CoreV1.PersistentVolumeClaim, volumes: [CoreV1.PersistentVolume], storageClass: StorageV1.StorageClass?
    ) -> ClaimStep {
        let cls = claimClass(claim)
        if !claim.spec.volumeName.isEmpty {
            guard let v = volumes.first(where: { $0.metadata.name == claim.spec.volumeName }) else {
                return .pending(event: nil, message: nil)
            }
            if let ref = v.spec.claimRef,
                !(ref.name == claim.metadata.name && ref.namespace == claim.metadata.namespace)
                    || (!(ref.uid ?? "").isEmpty && ref.uid != claim.metadata.uid)
            {
                return .pending(
                    event: "FailedBinding", message: "volume \"\(v.metadata.name)\" already bound to a different claim."
                )
            }
            return .bind(volume: v.metadata.name)
        }
        let delayed = storageClass?.volumeBindingMode == "WaitForFirstConsumer"
        // A delayed claim binds only a volume reserved for it: by its user, by the scheduler (which
        // writes the claimRef once it has picked the pod's node), or by a provisioner.
        if delayed, let v = bestMatch(claim, volumes.filter { $0.spec.claimRef != nil }) {
            return .bind(volume: v.metadata.name)
        }
        if delayed && claim.metadata.annotations[selectedNode] == nil {
            return .waitForFirstConsumer
        }
        if !delayed, let v = bestMatch(claim, volumes) { return .bind(volume: v.metadata.name) }
        if cls.isEmpty {
            return .pending(
                event: "FailedBinding",
                message: "no persistent volumes available for this claim and no storage class is set")
        }
        guard let storageClass else {
            return .pending(event: "ProvisioningFailed", message: "storageclass.storage.k8s.io \"\(cls)\" not found")
        }
        // A class without a provisioner only ever binds volumes made by hand.
        if storageClass.provisioner == "kubernetes.io/no-provisioner" { return .pending(event: nil, message: nil) }
        return .provision(provisioner: storageClass.provisioner)
    }

    /// What a volume's phase should be, and whether its reclaim policy must act now.
    enum VolumeStep: Equatable {
        case phase(String)
        case released(policy: String)
        case none
    }

    static func volumeStep(_ v: CoreV1.PersistentVolume, claim: CoreV1.PersistentVolumeClaim?) -> VolumeStep {
        guard let ref = v.spec.claimRef else { return v.status.phase == "Available" ? .none : .phase("Available") }
        if (ref.uid ?? "").isEmpty {
            // Reserved for a claim that has not bound yet.
            return v.status.phase == "Available" ? .none : .phase("Available")
        }
        guard let claim, claim.metadata.uid == ref.uid else {
            if v.status.phase == "Released" || v.status.phase == "Failed" { return .none }
            return .released(
                policy: v.spec.persistentVolumeReclaimPolicy.isEmpty ? "Retain" : v.spec.persistentVolumeReclaimPolicy)
        }
        if claim.spec.volumeName == v.metadata.name { return v.status.phase == "Bound" ? .none : .phase("Bound") }
        return .none
    }

    // MARK: shell

    func syncClaim(_ key: ObjectKey) async throws {
        guard var claim = claims.get(key), claim.metadata.deletionTimestamp == nil || claim.status.phase == "Bound"
        else {
            return
        }
        if claim.metadata.annotations[Self.bindCompleted] != nil {
            // Bound: keep the phase honest.
            if claim.spec.volumeName.isEmpty {
                try await setClaimPhase(claim, "Lost")
                recorder.warning(
                    claim, reason: "ClaimLost",
                    note: "Bound claim has lost reference to PersistentVolume. Data on the volume is lost!")
                return
            }
            guard let v = volumes.get(name: claim.spec.volumeName) else {
                if claim.status.phase != "Lost" {
                    try await setClaimPhase(claim, "Lost")
                    recorder.warning(
                        claim, reason: "ClaimLost",
                        note: "Bound claim has lost its PersistentVolume. Data on the volume is lost!")
                }
                return
            }
            if v.spec.claimRef?.uid == claim.metadata.uid {
                if claim.status.phase != "Bound" { try await finishClaim(claim, v) }
            } else if v.spec.claimRef == nil {
                try await bind(claim, v)
            } else {
                try await setClaimPhase(claim, "Lost")
                recorder.warning(
                    claim, reason: "ClaimMisbound",
                    note: "Two claims are bound to the same volume, this one is bound incorrectly")
            }
            return
        }
        let cls = Self.claimClass(claim)
        let sc = cls.isEmpty ? nil : classes.get(name: cls)
        switch Self.unboundClaimStep(claim, volumes: volumes.list(), storageClass: sc) {
        case .bind(let name):
            guard let v = volumes.get(name: name) else { return }
            try await bind(claim, v)
        case .waitForFirstConsumer:
            try await setClaimPhase(claim, "Pending")
            recorder.normal(
                claim, reason: "WaitForFirstConsumer", note: "waiting for first consumer to be created before binding")
        case .provision(let provisioner):
            if claim.metadata.annotations[Self.storageProvisioner] != provisioner {
                claim.metadata.annotations[Self.storageProvisioner] = provisioner
                claim.metadata.annotations[Self.betaStorageProvisioner] = provisioner
                claim = try await client.update(claim)
            }
            try await setClaimPhase(claim, "Pending")
            recorder.normal(
                claim, reason: "ExternalProvisioning",
                note:
                    "Waiting for a volume to be created either by the external provisioner '\(provisioner)' or manually by the system administrator. If volume creation is delayed, please verify that the provisioner is running and correctly registered."
            )
        case .pending(let event, let message):
            try await setClaimPhase(claim, "Pending")
            if let event, let message {
                if event == "ProvisioningFailed" {
                    recorder.warning(claim, reason: event, note: message)
                } else {
                    recorder.normal(claim, reason: event, note: message)
                }
            }
        }
    }

    func setClaimPhase(_ c: CoreV1.PersistentVolumeClaim, _ phase: String) async throws {
        guard c.status.phase != phase else { return }
        var next = c
        next.status.phase = phase
        if phase == "Lost" || phase == "Pending" {
            next.status.capacity = [:]
            next.status.accessModes = []
        }
        _ = try await client.updateStatus(next)
    }

    /// Binds in upstream's order: the volume's claimRef first, then the claim's volumeName, then both statuses.
    func bind(_ claim: CoreV1.PersistentVolumeClaim, _ volume: CoreV1.PersistentVolume) async throws {
        var v = volume
        if v.spec.claimRef?.uid != claim.metadata.uid {
            if v.spec.claimRef == nil { v.metadata.annotations[Self.boundByController] = "yes" }
            v.spec.claimRef = CoreV1.ObjectReference(
                kind: "PersistentVolumeClaim", namespace: claim.metadata.namespace, name: claim.metadata.name,
                uid: claim.metadata.uid, apiVersion: "v1", resourceVersion: claim.metadata.resourceVersion)
            v = try await client.update(v)
        }
        if v.status.phase != "Bound" {
            v.status.phase = "Bound"
            v = try await client.updateStatus(v)
        }
        var c = claim
        if c.spec.volumeName != v.metadata.name || c.metadata.annotations[Self.bindCompleted] == nil {
            if c.spec.volumeName.isEmpty { c.metadata.annotations[Self.boundByController] = "yes" }
            c.spec.volumeName = v.metadata.name
            c.metadata.annotations[Self.bindCompleted] = "yes"
            c = try await client.update(c)
        }
        try await finishClaim(c, v)
    }

    func finishClaim(_ claim: CoreV1.PersistentVolumeClaim, _ v: CoreV1.PersistentVolume) async throws {
        var c = claim
        c.status.phase = "Bound"
        c.status.accessModes = v.spec.accessModes
        c.status.capacity = v.spec.capacity
        if c.status != claim.status { _ = try await client.updateStatus(c) }
    }

    func syncVolume(_ key: ObjectKey) async throws {
        guard var v = volumes.get(key) else { return }
        let claim = v.spec.claimRef.flatMap { claims.get(namespace: $0.namespace, name: $0.name) }
        switch Self.volumeStep(v, claim: claim) {
        case .none: return
        case .phase(let p):
            v.status.phase = p
            _ = try await client.updateStatus(v)
        case .released(let policy):
            v.status.phase = "Released"
            v = try await client.updateStatus(v)
            switch policy {
            case "Delete":
                // Volumes an external provisioner made are deleted by it; no in-tree deleter runs here.
                if v.metadata.annotations[Self.provisionedBy] == nil {
                    v.status.phase = "Failed"
                    v.status.message =
                        "error getting deleter volume plugin for volume \"\(v.metadata.name)\": no deletable volume plugin matched"
                    _ = try await client.updateStatus(v)
                    recorder.warning(v, reason: "VolumeFailedDelete", note: v.status.message)
                }
            case "Recycle":
                v.status.phase = "Failed"
                v.status.message = "No recycler plugin found for the volume!"
                _ = try await client.updateStatus(v)
                recorder.warning(v, reason: "VolumeFailedRecycle", note: v.status.message)
            default:
                break
            }
        }
    }

    public func run() async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.claimQueue.runWorkers(1) { try await self.syncClaim($0) } }
            group.addTask { await self.volumeQueue.runWorkers(1) { try await self.syncVolume($0) } }
            await group.waitForAll()
        }
    }
}
