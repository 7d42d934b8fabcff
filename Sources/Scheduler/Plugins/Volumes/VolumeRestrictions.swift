import APICore
import APIMachinery
import ControllerRuntime

/// `VolumeRestrictions`: a GCE PD, AWS EBS, Ceph RBD or iSCSI volume in use by a pod on the node
/// cannot be mounted again there (unless every mount is read-only, where the volume allows it), and
/// a claim with the `ReadWriteOncePod` access mode can be used by one pod in the whole cluster.
public final class VolumeRestrictions: PreFilterPlugin, FilterPlugin, EnqueueExtensions {
    public static let name = "VolumeRestrictions"
    public static let reasonDiskConflict = "node(s) had no available disk"
    public static let reasonReadWriteOncePodConflict =
        "node has pod using PersistentVolumeClaim with the same name and ReadWriteOncePod access mode"
    public var name: String { Self.name }
    let claims: ObjectStore<CoreV1.PersistentVolumeClaim>

    public init(listers: Listers) { claims = listers.persistentVolumeClaims }

    final class State: StateData {
        /// `namespace/claim` of the pod's claims with the ReadWriteOncePod access mode.
        let readWriteOncePodClaims: Set<String>
        /// How many of them scheduled pods use.
        var conflicts: Int

        init(_ claims: Set<String>, conflicts: Int) {
            readWriteOncePodClaims = claims
            self.conflicts = conflicts
        }

        func clone() -> StateData { State(readWriteOncePodClaims, conflicts: conflicts) }

        /// How many of the pod's ReadWriteOncePod claims another pod uses.
        func uses(_ other: PodInfo) -> Int {
            other.pod.spec.volumes.filter { v in
                guard let c = v.volumeSource.persistentVolumeClaim else { return false }
                return readWriteOncePodClaims.contains("\(other.namespace)/\(c.claimName)")
            }.count
        }
    }

    /// Volume kinds whose mounts can conflict on a node.
    static func needsRestrictionsCheck(_ v: CoreV1.Volume) -> Bool {
        let s = v.volumeSource
        return s.gcePersistentDisk != nil || s.awsElasticBlockStore != nil || s.rbd != nil || s.iscsi != nil
    }

    public func preFilter(_ state: CycleState, _ pod: PodInfo, _ snapshot: Snapshot) -> (PreFilterResult?, Status?) {
        let needsCheck = pod.pod.spec.volumes.contains(where: Self.needsRestrictionsCheck)
        var rwop: Set<String> = []
        for v in pod.pod.spec.volumes {
            guard let c = v.volumeSource.persistentVolumeClaim else { continue }
            guard let pvc = claims.get(namespace: pod.namespace, name: c.claimName) else {
                return (nil, .unresolvable(VolumeUtil.notFound("persistentvolumeclaim", c.claimName)))
            }
            if pvc.spec.accessModes.contains("ReadWriteOncePod") { rwop.insert("\(pod.namespace)/\(c.claimName)") }
        }
        // A claim counts once however many pods use it (there can be only one).
        var conflicts = 0
        for key in rwop where snapshot.nodeInfoList.contains(where: { ($0.pvcRefCounts[key] ?? 0) > 0 }) {
            conflicts += 1
        }
        if !needsCheck && conflicts == 0 { return (nil, .skip) }
        state.write(State(rwop, conflicts: conflicts))
        return (nil, nil)
    }

    public func addPod(_ state: CycleState, _ pod: PodInfo, _ other: PodInfo, on node: NodeInfo) {
        guard let s = state.read(State.self) else { return }
        s.conflicts += s.uses(other)
    }

    public func removePod(_ state: CycleState, _ pod: PodInfo, _ other: PodInfo, on node: NodeInfo) {
        guard let s = state.read(State.self) else { return }
        s.conflicts -= s.uses(other)
    }

    public func filter(_ state: CycleState, _ pod: PodInfo, _ node: NodeInfo) -> Status? {
        for v in pod.pod.spec.volumes where Self.needsRestrictionsCheck(v) {
            for existing in node.pods where Self.conflicts(v, existing.pod) {
                return .unschedulable(Self.reasonDiskConflict)
            }
        }
        guard let s = state.read(State.self) else {
            return .error("cannot read \"PreFilter\(Self.name)\" from cycleState")
        }
        return s.conflicts > 0 ? .unschedulable(Self.reasonReadWriteOncePodConflict) : nil
    }

    /// Does a volume of the incoming pod conflict with one of an existing pod's?
    static func conflicts(_ v: CoreV1.Volume, _ pod: CoreV1.Pod) -> Bool {
        let a = v.volumeSource
        for ev in pod.spec.volumes {
            let b = ev.volumeSource
            // The same persistent disk: only read-only mounts share it.
            if let x = a.gcePersistentDisk, let y = b.gcePersistentDisk, x.pdName == y.pdName,
                !(x.readOnly && y.readOnly)
            {
                return true
            }
            // An EBS volume attaches to one instance, read-only or not.
            if let x = a.awsElasticBlockStore, let y = b.awsElasticBlockStore, x.volumeID == y.volumeID {
                return true
            }
            // The same iSCSI target (by IQN): only read-only mounts share it.
            if let x = a.iscsi, let y = b.iscsi, x.iqn == y.iqn, !(x.readOnly && y.readOnly) { return true }
            // The same RBD image: a shared monitor, the same pool and image, not all read-only.
            if let x = a.rbd, let y = b.rbd, !Set(x.monitors).isDisjoint(with: y.monitors), x.pool == y.pool,
                x.image == y.image, !(x.readOnly && y.readOnly)
            {
                return true
            }
        }
        return false
    }

    public func eventsToRegister() -> [ClusterEvent] {
        [
            ClusterEvent(.assignedPod, .delete),
            ClusterEvent(.node, .add),
            ClusterEvent(.persistentVolumeClaim, .add),
        ]
    }
}
