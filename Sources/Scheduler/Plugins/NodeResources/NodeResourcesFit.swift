import APICore
import APIMachinery

/// A resource and its weight in a scoring strategy.
public struct ResourceSpec: Sendable, Equatable, Codable {
    public var name: String
    public var weight: Int64
    public init(name: String, weight: Int64) {
        self.name = name
        self.weight = weight
    }
}

/// How NodeResourcesFit scores (`scoringStrategy`).
public struct ScoringStrategy: Sendable, Equatable {
    public enum Kind: String, Sendable {
        case leastAllocated = "LeastAllocated", mostAllocated = "MostAllocated"
        case requestedToCapacityRatio = "RequestedToCapacityRatio"
    }
    public struct ShapePoint: Sendable, Equatable, Codable {
        public var utilization: Int64
        public var score: Int64
        public init(utilization: Int64, score: Int64) {
            self.utilization = utilization
            self.score = score
        }
    }
    public var type: Kind = .leastAllocated
    public var resources: [ResourceSpec] = [
        ResourceSpec(name: "cpu", weight: 1), ResourceSpec(name: "memory", weight: 1),
    ]
    public var shape: [ShapePoint] = []
    public init() {}
}

/// Requested and allocatable amounts of the scored resources on one node with the pod added.
struct ResourceAllocation {
    /// Requested and allocatable per scored resource, with the pod added; resources the node
    /// does not have (allocatable 0), and scalar resources the pod does not request, are reported
    /// as 0/0 and left out of the score.
    static func compute(
        _ resources: [ResourceSpec], pod: PodInfo, node: NodeInfo, nonZero: Bool
    ) -> (requested: [Int64], allocatable: [Int64]) {
        var req = [Int64](repeating: 0, count: resources.count)
        var alloc = [Int64](repeating: 0, count: resources.count)
        for (i, r) in resources.enumerated() {
            let a = node.allocatable.amount(r.name)
            if a == 0 { continue }
            if Resource.isScalar(r.name) && pod.requests.amount(r.name) == 0 { continue }
            let used: Int64
            let add: Int64
            switch (r.name, nonZero) {
            case ("cpu", true):
                used = node.nonZeroMilliCPU
                add = pod.nonZeroMilliCPU
            case ("memory", true):
                used = node.nonZeroMemory
                add = pod.nonZeroMemory
            default:
                used = node.requested.amount(r.name)
                add = pod.requests.amount(r.name)
            }
            alloc[i] = a
            req[i] = used + add
        }
        return (req, alloc)
    }
}

/// `NodeResourcesFit`: the pod's requests must fit in what the node has left (pods, CPU, memory,
/// ephemeral storage, extended resources); scores by the configured strategy.
public final class NodeResourcesFit: PreFilterPlugin, FilterPlugin, ScorePlugin, EnqueueExtensions {
    public static let name = "NodeResourcesFit"
    public var name: String { Self.name }
    let ignoredResources: Set<String>
    let ignoredResourceGroups: Set<String>
    public let strategy: ScoringStrategy

    public init(
        ignoredResources: [String] = [], ignoredResourceGroups: [String] = [],
        strategy: ScoringStrategy = ScoringStrategy()
    ) {
        self.ignoredResources = Set(ignoredResources)
        self.ignoredResourceGroups = Set(ignoredResourceGroups)
        self.strategy = strategy
    }

    public func preFilter(_ state: CycleState, _ pod: PodInfo, _ snapshot: Snapshot) -> (PreFilterResult?, Status?) {
        (nil, nil)
    }

    /// One shortfall of a node for the pod (upstream's `InsufficientResource`).
    public struct Insufficient: Equatable, Sendable {
        public var resource: String
        public var reason: String
        /// The node could not hold the pod even empty: preemption cannot help.
        public var unresolvable: Bool
    }

    /// Upstream's `fitsRequest`.
    public func insufficient(_ pod: PodInfo, _ node: NodeInfo) -> [Insufficient] {
        var out: [Insufficient] = []
        if Int64(node.pods.count) + 1 > node.allocatable.allowedPodNumber {
            out.append(Insufficient(resource: "pods", reason: "Too many pods", unresolvable: false))
        }
        let r = pod.requests
        if r.milliCPU == 0 && r.memory == 0 && r.ephemeralStorage == 0 && r.scalar.isEmpty { return out }
        func check(_ name: String, _ want: Int64, _ alloc: Int64, _ used: Int64) {
            if want > 0 && want > alloc - used {
                out.append(Insufficient(resource: name, reason: "Insufficient \(name)", unresolvable: want > alloc))
            }
        }
        check("cpu", r.milliCPU, node.allocatable.milliCPU, node.requested.milliCPU)
        check("memory", r.memory, node.allocatable.memory, node.requested.memory)
        check(
            "ephemeral-storage", r.ephemeralStorage, node.allocatable.ephemeralStorage, node.requested.ephemeralStorage)
        for (name, want) in r.scalar.sorted(by: { $0.key < $1.key }) where want > 0 {
            if isIgnored(name) { continue }
            check(name, want, node.allocatable.scalar[name] ?? 0, node.requested.scalar[name] ?? 0)
        }
        return out
    }

    /// Ignored resources apply to extended resources only (not hugepages or kubernetes.io/ ones).
    func isIgnored(_ name: String) -> Bool {
        guard name.contains("/"), !name.contains("kubernetes.io/") else { return false }
        if ignoredResources.contains(name) { return true }
        let group = String(name[..<name.firstIndex(of: "/")!])
        return ignoredResourceGroups.contains(group)
    }

    public func filter(_ state: CycleState, _ pod: PodInfo, _ node: NodeInfo) -> Status? {
        let short = insufficient(pod, node)
        if short.isEmpty { return nil }
        return Status(
            short.contains(where: \.unresolvable) ? .unschedulableAndUnresolvable : .unschedulable,
            reasons: short.map(\.reason))
    }

    public func score(_ state: CycleState, _ pod: PodInfo, _ node: NodeInfo) -> Int64 {
        let (req, alloc) = ResourceAllocation.compute(strategy.resources, pod: pod, node: node, nonZero: true)
        switch strategy.type {
        case .leastAllocated: return Self.weighted(strategy.resources, req, alloc, Self.leastRequested)
        case .mostAllocated: return Self.weighted(strategy.resources, req, alloc, Self.mostRequested)
        case .requestedToCapacityRatio: return ratioScore(req, alloc)
        }
    }

    static func weighted(
        _ resources: [ResourceSpec], _ req: [Int64], _ alloc: [Int64], _ f: (Int64, Int64) -> Int64
    ) -> Int64 {
        var total: Int64 = 0
        var weights: Int64 = 0
        for i in resources.indices where alloc[i] != 0 {
            total += f(req[i], alloc[i]) * resources[i].weight
            weights += resources[i].weight
        }
        return weights == 0 ? 0 : total / weights
    }

    /// Free share of the node after placing the pod, 0…100.
    static func leastRequested(_ requested: Int64, _ capacity: Int64) -> Int64 {
        if capacity == 0 || requested > capacity { return 0 }
        return (capacity - requested) * maxNodeScore / capacity
    }

    /// Used share of the node after placing the pod, 0…100.
    static func mostRequested(_ requested: Int64, _ capacity: Int64) -> Int64 {
        if capacity == 0 { return 0 }
        return min(requested, capacity) * maxNodeScore / capacity
    }

    /// The shape's broken-line function of utilization, shape scores 0…10 scaled to 0…100, weighted
    /// and rounded; a resource scoring 0 is left out of the average (its weight too).
    func ratioScore(_ req: [Int64], _ alloc: [Int64]) -> Int64 {
        let shape = strategy.shape.map { ScoringStrategy.ShapePoint(utilization: $0.utilization, score: $0.score * 10) }
        guard !shape.isEmpty else { return 0 }
        func raw(_ p: Int64) -> Int64 {
            for i in shape.indices where p <= shape[i].utilization {
                if i == 0 { return shape[0].score }
                let a = shape[i - 1]
                let b = shape[i]
                return a.score + (b.score - a.score) * (p - a.utilization) / (b.utilization - a.utilization)
            }
            return shape[shape.count - 1].score
        }
        var total: Int64 = 0
        var weights: Int64 = 0
        for i in strategy.resources.indices where alloc[i] != 0 {
            let w = strategy.resources[i].weight
            let s = req[i] > alloc[i] ? raw(100) : raw(req[i] * 100 / alloc[i])
            if s <= 0 { continue }
            total += s * w
            weights += w
        }
        if weights == 0 { return 0 }
        return Int64((Double(total) / Double(weights)).rounded())
    }

    public func eventsToRegister() -> [ClusterEvent] {
        [
            ClusterEvent(.assignedPod, [.delete, .updatePodScaleDown]),
            ClusterEvent(.node, [.add, .updateNodeAllocatable, .updateNodeTaint, .updateNodeLabel]),
        ]
    }
}

/// `NodeResourcesBalancedAllocation`: favours nodes whose resource fractions stay close to each
/// other once the pod is placed (1 − their standard deviation).
public final class NodeResourcesBalancedAllocation: PreScorePlugin, ScorePlugin, EnqueueExtensions {
    public static let name = "NodeResourcesBalancedAllocation"
    public var name: String { Self.name }
    let resources: [ResourceSpec]

    public init(
        resources: [ResourceSpec] = [ResourceSpec(name: "cpu", weight: 1), ResourceSpec(name: "memory", weight: 1)]
    ) {
        self.resources = resources
    }

    public func preScore(_ state: CycleState, _ pod: PodInfo, _ nodes: [NodeInfo], _ snapshot: Snapshot) -> Status? {
        // A pod that requests none of the resources changes no balance.
        resources.allSatisfy({ pod.requests.amount($0.name) == 0 }) ? .skip : nil
    }

    public func score(_ state: CycleState, _ pod: PodInfo, _ node: NodeInfo) -> Int64 {
        let (req, alloc) = ResourceAllocation.compute(resources, pod: pod, node: node, nonZero: false)
        return Self.balanced(req, alloc)
    }

    static func balanced(_ req: [Int64], _ alloc: [Int64]) -> Int64 {
        var fractions: [Double] = []
        var total = 0.0
        for i in req.indices where alloc[i] != 0 {
            let f = min(1, Double(req[i]) / Double(alloc[i]))
            total += f
            fractions.append(f)
        }
        var std = 0.0
        if fractions.count == 2 {
            std = abs((fractions[0] - fractions[1]) / 2)
        } else if fractions.count > 2 {
            let mean = total / Double(fractions.count)
            std = (fractions.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(fractions.count)).squareRoot()
        }
        return Int64((1 - std) * Double(maxNodeScore))
    }

    public func eventsToRegister() -> [ClusterEvent] {
        [ClusterEvent(.assignedPod, .delete), ClusterEvent(.node, [.add, .updateNodeAllocatable])]
    }
}
