import APICore
import APIMachinery
import APIStorage
import ControllerRuntime

/// `NodeVolumeLimits` (upstream's CSILimits): the CSI volumes in use on a node, counted once per
/// unique volume and per driver, plus the pod's new ones, must stay within the counts the node's
/// CSINode allows each driver (`spec.drivers[].allocatable.count`).
public final class NodeVolumeLimits: PreFilterPlugin, FilterPlugin, EnqueueExtensions {
    public static let name = "NodeVolumeLimits"
    public static let reason = "node(s) exceed max volume count"
    public var name: String { Self.name }

    let volumes: ObjectStore<CoreV1.PersistentVolume>
    let claims: ObjectStore<CoreV1.PersistentVolumeClaim>
    let classes: ObjectStore<StorageV1.StorageClass>
    let csiNodes: ObjectStore<StorageV1.CSINode>
    /// Names the volume of a claim not bound yet, so it never collides with a real volume handle.
    let randomVolumeIDPrefix: String

    public init(listers: Listers) {
        volumes = listers.persistentVolumes
        claims = listers.persistentVolumeClaims
        classes = listers.storageClasses
        csiNodes = listers.csiNodes
        let chars = Array("bcdfghjklmnpqrstvwxz2456789")
        randomVolumeIDPrefix = String((0..<32).map { _ in chars.randomElement()! })
    }

    /// Only claims (plain or generic ephemeral) are counted, so a pod without them is not checked.
    public func preFilter(_ state: CycleState, _ pod: PodInfo, _ snapshot: Snapshot) -> (PreFilterResult?, Status?) {
        let counted = pod.pod.spec.volumes.contains {
            $0.volumeSource.persistentVolumeClaim != nil || $0.volumeSource.ephemeral != nil
        }
        return counted ? (nil, nil) : (nil, .skip)
    }

    public func filter(_ state: CycleState, _ pod: PodInfo, _ node: NodeInfo) -> Status? {
        if pod.pod.spec.volumes.isEmpty { return nil }
        var newVolumes: [String: String] = [:]
        do {
            try attachableVolumes(pod.pod, newPod: true, into: &newVolumes)
        } catch {
            switch error {
            // The pod cannot run before its claim exists.
            case .notFound(let message): return .unresolvable(message)
            case .other(let message): return .error(message)
            }
        }
        if newVolumes.isEmpty { return nil }
        let limits = Self.limits(csiNodes.get(name: node.name))
        if limits.isEmpty { return nil }
        var attached: [String: String] = [:]
        for existing in node.pods {
            do {
                try attachableVolumes(existing.pod, newPod: false, into: &attached)
            } catch {
                return .error(error.message)
            }
        }
        var attachedCount: [String: Int] = [:]
        for (volume, driver) in attached {
            // A volume already on the node is not attached again.
            newVolumes[volume] = nil
            attachedCount[driver, default: 0] += 1
        }
        var newCount: [String: Int] = [:]
        for driver in newVolumes.values { newCount[driver, default: 0] += 1 }
        for (driver, count) in newCount {
            guard let limit = limits[driver] else { continue }
            if Int64(attachedCount[driver, default: 0] + count) > limit { return .unschedulable(Self.reason) }
        }
        return nil
    }

    /// The per-driver counts a CSINode allows.
    static func limits(_ csiNode: StorageV1.CSINode?) -> [String: Int64] {
        var out: [String: Int64] = [:]
        for d in csiNode?.spec.drivers ?? [] {
            if let n = d.allocatable?.count { out[d.name] = Int64(n) }
        }
        return out
    }

    enum LookupError: Error {
        case notFound(String)
        case other(String)
        var message: String {
            switch self {
            case .notFound(let m), .other(let m): return m
            }
        }
    }

    /// Adds `driver/handle` → driver for each CSI volume the pod's claims use. A new pod's claims
    /// must exist; an existing pod's missing claims are not counted.
    func attachableVolumes(_ pod: CoreV1.Pod, newPod: Bool, into result: inout [String: String])
        throws(LookupError)
    {
        for v in pod.spec.volumes {
            guard let ref = VolumeUtil.claimName(pod, v) else { continue }
            if ref.name.isEmpty { throw .other("PersistentVolumeClaim had no name") }
            guard let pvc = claims.get(namespace: pod.metadata.namespace, name: ref.name) else {
                if newPod {
                    throw .notFound(
                        "looking up PVC \(pod.metadata.namespace)/\(ref.name): \(VolumeUtil.notFound("persistentvolumeclaim", ref.name))"
                    )
                }
                continue
            }
            if ref.ephemeral, let e = VolumeUtil.ephemeralOwnershipError(pod, pvc) { throw .other(e) }
            guard let info = driverInfo(pvc) else { continue }
            let (driver, handle) = info
            if driver.isEmpty || handle.isEmpty { continue }
            result["\(driver)/\(handle)"] = driver
        }
    }

    /// The CSI driver and volume handle of a claim: from its bound volume, or, before it is bound
    /// (or when its volume is gone), the provisioner of its class with a handle made up for it.
    func driverInfo(_ pvc: CoreV1.PersistentVolumeClaim) -> (String, String)? {
        if !pvc.spec.volumeName.isEmpty, let pv = volumes.get(name: pvc.spec.volumeName) {
            guard let csi = pv.spec.persistentVolumeSource.csi else { return nil }
            return (csi.driver, csi.volumeHandle)
        }
        let cls = VolumeUtil.claimClass(pvc)
        guard !cls.isEmpty, let sc = classes.get(name: cls) else { return nil }
        return (sc.provisioner, "\(randomVolumeIDPrefix)-\(pvc.metadata.namespace)/\(pvc.metadata.name)")
    }

    public func eventsToRegister() -> [ClusterEvent] {
        [
            ClusterEvent(.csiNode, [.add, .update]),
            ClusterEvent(.assignedPod, .delete),
            ClusterEvent(.persistentVolumeClaim, .add),
            ClusterEvent(.volumeAttachment, .delete),
        ]
    }
}
