import APICore

/// `ImageLocality`: favours nodes that already have the pod's images, by size, spread over how many
/// nodes have them (so one node holding an image everyone has does not attract every pod).
public final class ImageLocality: ScorePlugin {
    public static let name = "ImageLocality"
    public var name: String { Self.name }
    static let mb: Int64 = 1024 * 1024
    static let minThreshold: Int64 = 23 * mb
    static let maxContainerThreshold: Int64 = 1000 * mb
    let snapshot: Snapshot

    public init(snapshot: Snapshot) { self.snapshot = snapshot }

    public func score(_ state: CycleState, _ pod: PodInfo, _ node: NodeInfo) -> Int64 {
        let images = node.images
        if images.isEmpty { return 0 }
        let total = max(1, snapshot.numNodes)
        var sizes: [String: Int64] = [:]
        for img in images { for n in img.names { sizes[n] = img.sizeBytes } }
        var sum: Int64 = 0
        let containers = pod.pod.spec.initContainers + pod.pod.spec.containers
        for c in containers {
            let name = Self.normalized(c.image)
            guard let size = sizes[name] else { continue }
            let spread = Double(snapshot.imageNodeCounts[name] ?? 1) / Double(total)
            sum += Int64(Double(size) * spread)
        }
        return Self.priority(sum, containers: containers.count)
    }

    /// An image without tag or digest means `:latest`.
    static func normalized(_ image: String) -> String {
        let colon = image.lastIndex(of: ":")
        let slash = image.lastIndex(of: "/")
        if let colon, slash.map({ colon > $0 }) ?? true { return image }
        return image + ":latest"
    }

    static func priority(_ sum: Int64, containers: Int) -> Int64 {
        let maxThreshold = maxContainerThreshold * Int64(max(1, containers))
        let s = min(max(sum, minThreshold), maxThreshold)
        return maxNodeScore * (s - minThreshold) / (maxThreshold - minThreshold)
    }
}
