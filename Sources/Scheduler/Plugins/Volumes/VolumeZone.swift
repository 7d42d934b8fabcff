import APICore
import APIMachinery
import APIStorage
import ControllerRuntime
import Foundation

/// `VolumeZone`: the zone and region labels of the volumes bound to a pod's claims must match the
/// node's (a node without any zone or region label takes every pod). Claims waiting for their
/// first consumer are left to VolumeBinding.
public final class VolumeZone: PreFilterPlugin, FilterPlugin, EnqueueExtensions {
    public static let name = "VolumeZone"
    public static let reason = "node(s) had no available volume zone"
    public var name: String { Self.name }

    static let betaZone = "failure-domain.beta.kubernetes.io/zone"
    static let betaRegion = "failure-domain.beta.kubernetes.io/region"
    static let zone = "topology.kubernetes.io/zone"
    static let region = "topology.kubernetes.io/region"
    static let topologyLabels = [betaZone, betaRegion, zone, region]

    let volumes: ObjectStore<CoreV1.PersistentVolume>
    let claims: ObjectStore<CoreV1.PersistentVolumeClaim>
    let classes: ObjectStore<StorageV1.StorageClass>

    public init(listers: Listers) {
        volumes = listers.persistentVolumes
        claims = listers.persistentVolumeClaims
        classes = listers.storageClasses
    }

    /// One topology label of a bound volume, with its values (`a__b` lists zones a and b).
    struct Topology {
        var volume: String
        var key: String
        var values: Set<String>
    }

    final class State: StateData {
        let topologies: [Topology]
        init(_ t: [Topology]) { topologies = t }
        func clone() -> StateData { self }
    }

    public func preFilter(_ state: CycleState, _ pod: PodInfo, _ snapshot: Snapshot) -> (PreFilterResult?, Status?) {
        switch topologies(pod.pod) {
        case .failure(let s): return (nil, s)
        case .success(let t):
            if t.isEmpty { return (nil, .skip) }
            state.write(State(t))
            return (nil, nil)
        }
    }

    /// The topologies of the volumes bound to the pod's PVC volumes, or why they cannot be known.
    func topologies(_ pod: CoreV1.Pod) -> Result<[Topology], Status> {
        var out: [Topology] = []
        for v in pod.spec.volumes {
            guard let ref = v.volumeSource.persistentVolumeClaim else { continue }
            if ref.claimName.isEmpty { return .failure(.unresolvable("PersistentVolumeClaim had no name")) }
            guard let pvc = claims.get(namespace: pod.metadata.namespace, name: ref.claimName) else {
                return .failure(.unresolvable(VolumeUtil.notFound("persistentvolumeclaim", ref.claimName)))
            }
            let pvName = pvc.spec.volumeName
            if pvName.isEmpty {
                let cls = VolumeUtil.claimClass(pvc)
                if cls.isEmpty {
                    return .failure(.unresolvable("PersistentVolumeClaim had no pv name and storageClass name"))
                }
                guard let sc = classes.get(name: cls) else {
                    return .failure(.unresolvable(VolumeUtil.notFound("storageclass.storage.k8s.io", cls)))
                }
                guard let mode = sc.volumeBindingMode else {
                    return .failure(.unresolvable("VolumeBindingMode not set for StorageClass \"\(cls)\""))
                }
                if mode == VolumeUtil.waitForFirstConsumer { continue }
                return .failure(.unresolvable("PersistentVolume had no name"))
            }
            guard let pv = volumes.get(name: pvName) else {
                return .failure(.unresolvable(VolumeUtil.notFound("persistentvolume", pvName)))
            }
            out += Self.topologies(of: pv)
        }
        return .success(out)
    }

    /// A volume's zone and region labels; a value with an empty member (`a__`) is ignored.
    static func topologies(of pv: CoreV1.PersistentVolume) -> [Topology] {
        topologyLabels.compactMap { key in
            guard let value = pv.metadata.labels[key] else { return nil }
            var set: Set<String> = []
            for part in value.components(separatedBy: "__") {
                let zone = part.trimmingCharacters(in: .whitespacesAndNewlines)
                if zone.isEmpty { return nil }
                set.insert(zone)
            }
            return Topology(volume: pv.metadata.name, key: key, values: set)
        }
    }

    /// The GA label a node may carry for a volume's deprecated beta label.
    static func gaLabel(_ key: String) -> String {
        switch key {
        case betaZone: return zone
        case betaRegion: return region
        default: return key
        }
    }

    public func filter(_ state: CycleState, _ pod: PodInfo, _ node: NodeInfo) -> Status? {
        if pod.pod.spec.volumes.isEmpty { return nil }
        let topologies: [Topology]
        if let s = state.read(State.self) {
            topologies = s.topologies
        } else {
            switch self.topologies(pod.pod) {
            case .failure(let s): return s
            case .success(let t): topologies = t
            }
        }
        let labels = node.labels
        // A node without zone labels (a single-zone cluster) takes any volume.
        if !Self.topologyLabels.contains(where: { labels[$0] != nil }) { return nil }
        for t in topologies {
            guard let v = labels[t.key] ?? labels[Self.gaLabel(t.key)], t.values.contains(v) else {
                return .unresolvable(Self.reason)
            }
        }
        return nil
    }

    public func eventsToRegister() -> [ClusterEvent] {
        [
            ClusterEvent(.storageClass, .add),
            ClusterEvent(.node, [.add, .updateNodeLabel]),
            ClusterEvent(.persistentVolumeClaim, [.add, .update]),
            ClusterEvent(.persistentVolume, [.add, .update]),
        ]
    }
}
