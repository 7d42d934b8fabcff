import APICore
import APIMachinery
import Synchronization

/// What the scheduler knows of nodes and the pods on them: bound pods from the informer and pods it
/// assumed onto a node before their binding is seen (upstream's scheduler cache). Cycles read
/// snapshots of it; informer handlers and binders write it.
public final class SchedulerCache: Sendable {
    struct PodState {
        var info: PodInfo
        var node: String
        var assumed: Bool
    }

    struct State {
        var nodes: [String: NodeInfo] = [:]
        var pods: [String: PodState] = [:]
        /// Nodes changed since the last snapshot update.
        var dirty: Set<String> = []
        var nodeSetChanged = true
        var zones: [String] = []
        var nodesByZone: [String: [String]] = [:]
        var imageNodeCounts: [String: Int] = [:]
        var imagesChanged = false
    }

    let state = Mutex(State())

    public init() {}

    static func podID(_ p: CoreV1.Pod) -> String {
        p.metadata.uid.isEmpty ? "\(p.metadata.namespace)/\(p.metadata.name)" : p.metadata.uid
    }

    /// The zone key nodes are grouped by when interleaved (region and zone labels).
    static func zoneKey(_ n: CoreV1.Node) -> String {
        let l = n.metadata.labels
        let region = l["topology.kubernetes.io/region"] ?? l["failure-domain.beta.kubernetes.io/region"] ?? ""
        let zone = l["topology.kubernetes.io/zone"] ?? l["failure-domain.beta.kubernetes.io/zone"] ?? ""
        return region.isEmpty && zone.isEmpty ? "" : region + ":\u{0}:" + zone
    }

    // MARK: nodes

    public func addNode(_ n: CoreV1.Node) { updateNode(n) }

    public func updateNode(_ n: CoreV1.Node) {
        let name = n.metadata.name
        state.withLock { s in
            let ni = s.nodes[name] ?? NodeInfo()
            let old = ni.node
            if let old {
                Self.countImages(&s, old, -1)
                let oz = Self.zoneKey(old)
                let nz = Self.zoneKey(n)
                if oz != nz {
                    Self.removeFromZone(&s, name, oz)
                    Self.addToZone(&s, name, nz)
                }
            } else {
                Self.addToZone(&s, name, Self.zoneKey(n))
            }
            Self.countImages(&s, n, 1)
            ni.setNode(n)
            ni.generation &+= 1
            s.nodes[name] = ni
            s.dirty.insert(name)
        }
    }

    public func removeNode(_ name: String) {
        state.withLock { s in
            guard let ni = s.nodes[name], let old = ni.node else { return }
            Self.countImages(&s, old, -1)
            Self.removeFromZone(&s, name, Self.zoneKey(old))
            // Pods still bound to the node keep its NodeInfo until they are deleted.
            if ni.pods.isEmpty { s.nodes[name] = nil } else { ni.node = nil }
            s.dirty.insert(name)
        }
    }

    static func addToZone(_ s: inout State, _ name: String, _ zone: String) {
        if s.nodesByZone[zone] == nil { s.zones.append(zone) }
        s.nodesByZone[zone, default: []].append(name)
        s.nodeSetChanged = true
    }

    static func removeFromZone(_ s: inout State, _ name: String, _ zone: String) {
        s.nodesByZone[zone]?.removeAll { $0 == name }
        if s.nodesByZone[zone]?.isEmpty == true {
            s.nodesByZone[zone] = nil
            s.zones.removeAll { $0 == zone }
        }
        s.nodeSetChanged = true
    }

    static func countImages(_ s: inout State, _ n: CoreV1.Node, _ d: Int) {
        if n.status.images.isEmpty { return }
        for img in n.status.images {
            for name in img.names {
                let c = s.imageNodeCounts[name, default: 0] + d
                s.imageNodeCounts[name] = c > 0 ? c : nil
            }
        }
        s.imagesChanged = true
    }

    // MARK: pods

    /// A pod bound to a node (from the informer): confirms an assumed pod or adds it.
    public func addPod(_ p: CoreV1.Pod) {
        let node = p.spec.nodeName
        guard !node.isEmpty else { return }
        let id = Self.podID(p)
        let info = PodInfo(p)
        state.withLock { s in
            if let cur = s.pods[id] {
                Self.detach(&s, cur)
            }
            Self.attach(&s, PodState(info: info, node: node, assumed: false))
        }
    }

    public func updatePod(_ p: CoreV1.Pod) { addPod(p) }

    public func removePod(_ p: CoreV1.Pod) {
        let id = Self.podID(p)
        state.withLock { s in
            guard let cur = s.pods[id] else { return }
            Self.detach(&s, cur)
            s.pods[id] = nil
        }
    }

    /// Puts a pod on the node chosen for it before the binding is written, so the next cycles count it.
    public func assume(_ info: PodInfo, on node: String) {
        state.withLock { s in
            let id = Self.podID(info.pod)
            if let cur = s.pods[id] { Self.detach(&s, cur) }
            Self.attach(&s, PodState(info: info, node: node, assumed: true))
        }
    }

    /// Takes back an assumed pod whose binding failed.
    public func forget(_ info: PodInfo) {
        state.withLock { s in
            let id = Self.podID(info.pod)
            guard let cur = s.pods[id], cur.assumed else { return }
            Self.detach(&s, cur)
            s.pods[id] = nil
        }
    }

    public func isAssumed(_ p: CoreV1.Pod) -> Bool { state.withLock { $0.pods[Self.podID(p)]?.assumed ?? false } }

    /// The node a pod is (or is assumed to be) on.
    public func nodeOf(_ p: CoreV1.Pod) -> String? { state.withLock { $0.pods[Self.podID(p)]?.node } }

    static func attach(_ s: inout State, _ ps: PodState) {
        let ni = s.nodes[ps.node] ?? NodeInfo()
        if s.nodes[ps.node] == nil { s.nodes[ps.node] = ni }
        ni.add(ps.info)
        s.pods[podID(ps.info.pod)] = ps
        s.dirty.insert(ps.node)
    }

    static func detach(_ s: inout State, _ ps: PodState) {
        guard let ni = s.nodes[ps.node] else { return }
        ni.remove(ps.info)
        if ni.node == nil && ni.pods.isEmpty { s.nodes[ps.node] = nil }
        s.dirty.insert(ps.node)
    }

    public var nodeCount: Int { state.withLock { s in s.nodes.values.filter { $0.node != nil }.count } }
    public var podCount: Int { state.withLock { $0.pods.count } }

    // MARK: snapshots

    /// Brings a snapshot up to date: changed nodes are cloned again; the visiting order is rebuilt
    /// when nodes came or went.
    public func updateSnapshot(_ snap: Snapshot) {
        state.withLock { s in
            if s.dirty.isEmpty && !s.nodeSetChanged && !s.imagesChanged { return }
            for name in s.dirty {
                if let ni = s.nodes[name], ni.node != nil {
                    snap.replace(ni.clone())
                } else if snap.nodeInfoMap[name] != nil {
                    snap.nodeInfoMap[name] = nil
                    snap.withAffinity.remove(name)
                    snap.withRequiredAntiAffinity.remove(name)
                }
            }
            s.dirty = []
            if s.nodeSetChanged {
                var list: [NodeInfo] = []
                var index: [String: Int] = [:]
                let zones = s.zones.map { s.nodesByZone[$0] ?? [] }
                var i = 0
                var more = true
                while more {
                    more = false
                    for z in zones where i < z.count {
                        more = true
                        if let ni = snap.nodeInfoMap[z[i]] {
                            index[ni.name] = list.count
                            list.append(ni)
                        }
                    }
                    i += 1
                }
                snap.nodeInfoList = list
                snap.listIndex = index
                s.nodeSetChanged = false
            }
            if s.imagesChanged {
                snap.imageNodeCounts = s.imageNodeCounts
                s.imagesChanged = false
            }
        }
    }
}
