import APICore
import APIMachinery
import APIStorage
import ControllerRuntime
import Synchronization

/// What the volume plugins share: the annotations and names the storage helpers use, how a pod's
/// volume names its claim, and the matching rules of volumes against nodes (upstream's
/// component-helpers `storage/volume` and `storage/ephemeral`).
enum VolumeUtil {
    static let bindCompleted = "pv.kubernetes.io/bind-completed"
    static let boundByController = "pv.kubernetes.io/bound-by-controller"
    static let selectedNode = "volume.kubernetes.io/selected-node"
    static let betaStorageClass = "volume.beta.kubernetes.io/storage-class"
    /// A class with this provisioner only binds volumes created by hand.
    static let noProvisioner = "kubernetes.io/no-provisioner"
    static let waitForFirstConsumer = "WaitForFirstConsumer"

    /// The class a claim asks for: the beta annotation wins over `spec.storageClassName`.
    static func claimClass(_ c: CoreV1.PersistentVolumeClaim) -> String {
        c.metadata.annotations[betaStorageClass] ?? c.spec.storageClassName ?? ""
    }

    /// The class of a volume: the beta annotation wins over `spec.storageClassName`.
    static func volumeClass(_ v: CoreV1.PersistentVolume) -> String {
        v.metadata.annotations[betaStorageClass] ?? v.spec.storageClassName
    }

    /// The claim a pod volume uses: a PVC volume names it, a generic ephemeral volume's claim is
    /// `<pod>-<volume>`; nil for every other kind of volume.
    static func claimName(_ pod: CoreV1.Pod, _ v: CoreV1.Volume) -> (name: String, ephemeral: Bool)? {
        if let pvc = v.volumeSource.persistentVolumeClaim { return (pvc.claimName, false) }
        if v.volumeSource.ephemeral != nil { return ("\(pod.metadata.name)-\(v.name)", true) }
        return nil
    }

    /// A generic ephemeral volume's claim must be controlled by the pod; the refusal names both.
    static func ephemeralOwnershipError(_ pod: CoreV1.Pod, _ pvc: CoreV1.PersistentVolumeClaim) -> String? {
        let owned =
            pvc.metadata.namespace == pod.metadata.namespace
            && pvc.metadata.ownerReferences.contains { $0.controller == true && $0.uid == pod.metadata.uid }
        if owned { return nil }
        return
            "PVC \(pvc.metadata.namespace)/\(pvc.metadata.name) was not created for pod \(pod.metadata.namespace)/\(pod.metadata.name) (pod is not owner)"
    }

    /// A lister's NotFound message, as the API phrases it (`persistentvolumeclaim "data" not found`).
    static func notFound(_ resource: String, _ name: String) -> String { "\(resource) \"\(name)\" not found" }

    /// Bound as far as the scheduler cares: a volume is named and the controller finished binding.
    static func isFullyBound(_ pvc: CoreV1.PersistentVolumeClaim) -> Bool {
        !pvc.spec.volumeName.isEmpty && pvc.metadata.annotations[bindCompleted] != nil
    }

    /// Is the volume's claimRef this claim (a claimRef without UID names any claim of that name)?
    static func isVolumeBoundToClaim(_ v: CoreV1.PersistentVolume, _ c: CoreV1.PersistentVolumeClaim) -> Bool {
        guard let ref = v.spec.claimRef else { return false }
        guard ref.name == c.metadata.name && ref.namespace == c.metadata.namespace else { return false }
        return ref.uid.isEmpty || ref.uid == c.metadata.uid
    }

    /// A volume's required node affinity against a node's labels only (a term on fields never holds,
    /// as the check sees no node name); no affinity holds everywhere.
    static func nodeAffinityMatches(_ v: CoreV1.PersistentVolume, labels: [String: String]) -> Bool {
        guard let required = v.spec.nodeAffinity?.required else { return true }
        var n = CoreV1.Node()
        n.metadata.labels = labels
        return required.matches(n)
    }

    /// A class's allowed topologies: none allow every node; otherwise some non-empty term must have
    /// each of its keys on the node with one of the listed values (a key without values never holds).
    static func topologyMatches(_ terms: [CoreV1.TopologySelectorTerm], labels: [String: String]) -> Bool {
        if terms.isEmpty { return true }
        return terms.contains { t in
            !t.matchLabelExpressions.isEmpty
                && t.matchLabelExpressions.allSatisfy { r in
                    !r.values.isEmpty && labels[r.key].map { r.values.contains($0) } == true
                }
        }
    }

    /// Go's `resource.Quantity` of `storage` in a claim's requests (zero when absent).
    static func requestedStorage(_ c: CoreV1.PersistentVolumeClaim) -> Quantity {
        c.spec.resources.requests["storage"] ?? Quantity()
    }

    /// The resourceVersion as a number, as the storage versioner compares them (0 when not one).
    static func resourceVersion(_ meta: MetaV1.ObjectMeta) -> UInt64 { UInt64(meta.resourceVersion) ?? 0 }
}

/// The informer's objects with the scheduler's own assumptions laid over them (upstream's assume
/// cache): a volume reserved for a pod, or a claim given a selected node, is seen by the next
/// cycles before the API write lands. An assumption lasts until the informer brings a different
/// version of the object (or deletes it), or until it is restored.
final class AssumeCache<T: KubeObject>: Sendable {
    let store: ObjectStore<T>
    /// Key → (assumed object, resourceVersion of the informer's object it was assumed over).
    let assumed = Mutex<[ObjectKey: (object: T, base: String)]>([:])

    init(_ store: ObjectStore<T>) { self.store = store }

    /// The latest view of one object: the assumption while the informer has not moved on.
    func get(_ key: ObjectKey) -> T? {
        let current = store.get(key)
        return assumed.withLock { a in
            guard let e = a[key] else { return current }
            guard let current, current.metadata.resourceVersion == e.base else {
                a[key] = nil
                return current
            }
            return e.object
        }
    }

    /// Every object, assumptions applied.
    func list() -> [T] { store.keys().compactMap { get($0) } }

    /// The informer's own object, without assumptions (what the API server last said).
    func api(_ key: ObjectKey) -> T? { store.get(key) }

    /// Lays an assumed version over the informer's object; an object the informer does not hold
    /// cannot be assumed.
    func assume(_ obj: T) throws(VolumeError) {
        let key = ObjectKey(obj.metadata)
        guard let current = store.get(key) else { throw VolumeError("\(T.self) \(key) not found in the cache") }
        assumed.withLock { $0[key] = (obj, current.metadata.resourceVersion) }
    }

    /// Drops an assumption (Unreserve, or a failed binding).
    func restore(_ key: ObjectKey) { _ = assumed.withLock { $0.removeValue(forKey: key) } }
}

/// An error a volume plugin answers as a Status of code Error (upstream's `AsStatus(err)`).
struct VolumeError: Error, CustomStringConvertible, Sendable {
    var description: String
    init(_ d: String) { description = d }
}
