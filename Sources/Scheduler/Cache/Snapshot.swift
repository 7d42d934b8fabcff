import APICore

/// The cluster as one scheduling cycle sees it: clones of the cache's NodeInfos, updated in place
/// from the cache before each cycle (only the nodes that changed are cloned again).
public final class Snapshot: @unchecked Sendable {
    public internal(set) var nodeInfoMap: [String: NodeInfo] = [:]
    /// Nodes in the order filtering visits them (zones interleaved, as upstream's node tree).
    public internal(set) var nodeInfoList: [NodeInfo] = []
    var listIndex: [String: Int] = [:]
    /// Nodes with pods that have (any / required anti-) pod affinity.
    var withAffinity: Set<String> = []
    var withRequiredAntiAffinity: Set<String> = []
    /// How many nodes have each image (for ImageLocality's spread).
    public internal(set) var imageNodeCounts: [String: Int] = [:]
    /// Namespace labels for affinity namespace selectors.
    public var namespaceLabels: @Sendable (String) -> [String: String]? = { _ in nil }
    var generation: Int64 = -1

    public init() {}

    /// A snapshot of given nodes (tests and simulations).
    public convenience init(_ nodes: [NodeInfo]) {
        self.init()
        for n in nodes { nodeInfoMap[n.name] = n }
        nodeInfoList = nodes
        for (i, n) in nodes.enumerated() { listIndex[n.name] = i }
        for n in nodes {
            if !n.podsWithAffinity.isEmpty { withAffinity.insert(n.name) }
            if !n.podsWithRequiredAntiAffinity.isEmpty { withRequiredAntiAffinity.insert(n.name) }
            if let node = n.node {
                for img in node.status.images { for name in img.names { imageNodeCounts[name, default: 0] += 1 } }
            }
        }
    }

    public func get(_ name: String) -> NodeInfo? { nodeInfoMap[name] }
    public var numNodes: Int { nodeInfoList.count }

    /// Nodes holding pods with any pod (anti-)affinity.
    public var havePodsWithAffinityList: [NodeInfo] { withAffinity.compactMap { nodeInfoMap[$0] } }
    /// Nodes holding pods with required anti-affinity.
    public var havePodsWithRequiredAntiAffinityList: [NodeInfo] {
        withRequiredAntiAffinity.compactMap { nodeInfoMap[$0] }
    }

    func replace(_ ni: NodeInfo) {
        let name = ni.name
        nodeInfoMap[name] = ni
        if let i = listIndex[name] { nodeInfoList[i] = ni }
        if ni.podsWithAffinity.isEmpty { withAffinity.remove(name) } else { withAffinity.insert(name) }
        if ni.podsWithRequiredAntiAffinity.isEmpty {
            withRequiredAntiAffinity.remove(name)
        } else {
            withRequiredAntiAffinity.insert(name)
        }
    }
}
