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

/// A scored resource resolved once, at plugin creation: which amount of a `Resource` it reads,
/// and whether it is a scalar one (working that out from the name on every node was a good share
/// of a scheduling cycle).
struct ScoredResource: Sendable {
    let field: Resource.Field
    let weight: Int64

    init(_ spec: ResourceSpec) {
        field = Resource.Field(spec.name)
        weight = spec.weight
    }

    @inline(__always)
    func amount(_ r: Resource) -> Int64 { r.amount(field) }
}

/// Requested and allocatable amounts of the scored resources on one node with the pod added.
enum ResourceAllocation {
    /// Calls `body` with each scored resource's index, requested amount (the pod included) and
    /// allocatable amount, in order. Resources the node does not have (allocatable 0), and scalar
    /// resources the pod does not request, are left out of the score and not reported.
    @inline(__always)
    static func forEach(
        _ resources: [ScoredResource], pod: PodInfo, node: NodeInfo, nonZero: Bool,
        _ body: (_ index: Int, _ requested: Int64, _ allocatable: Int64) -> Void
    ) {
        for i in resources.indices {
            let r = resources[i]
            let a = r.amount(node.allocatable)
            if a == 0 { continue }
            switch r.field {
            case .cpu where nonZero: body(i, node.nonZeroMilliCPU + pod.nonZeroMilliCPU, a)
            case .memory where nonZero: body(i, node.nonZeroMemory + pod.nonZeroMemory, a)
            case .scalar:
                let add = r.amount(pod.requests)
                if add == 0 { continue }
                body(i, r.amount(node.requested) + add, a)
            default: body(i, r.amount(node.requested) + r.amount(pod.requests), a)
            }
        }
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
    let scored: [ScoredResource]
    /// The shape with its scores scaled from 0…10 to 0…100.
    let scaledShape: [ScoringStrategy.ShapePoint]

    public init(
        ignoredResources: [String] = [], ignoredResourceGroups: [String] = [],
        strategy: ScoringStrategy = ScoringStrategy()
    ) {
        self.ignoredResources = Set(ignoredResources)
        self.ignoredResourceGroups = Set(ignoredResourceGroups)
        self.strategy = strategy
        scored = strategy.resources.map(ScoredResource.init)
        scaledShape = strategy.shape.map { .init(utilization: $0.utilization, score: $0.score * 10) }
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

    /// The common case without allocating: room for one more pod and for every non-scalar request,
    /// and no scalar requests (those take `insufficient`'s full path).
    @inline(__always)
    func fitsPlainly(_ pod: PodInfo, _ node: NodeInfo) -> Bool {
        let r = pod.requests
        let free = node.allocatable
        let used = node.requested
        return Int64(node.pods.count) + 1 <= free.allowedPodNumber && r.scalar.isEmpty
            && (r.milliCPU <= 0 || r.milliCPU <= free.milliCPU - used.milliCPU)
            && (r.memory <= 0 || r.memory <= free.memory - used.memory)
            && (r.ephemeralStorage <= 0 || r.ephemeralStorage <= free.ephemeralStorage - used.ephemeralStorage)
    }

    /// Ignored resources apply to extended resources only (not hugepages or kubernetes.io/ ones).
    func isIgnored(_ name: String) -> Bool {
        guard name.contains("/"), !name.contains("kubernetes.io/") else { return false }
        if ignoredResources.contains(name) { return true }
        let group = String(name[..<name.firstIndex(of: "/")!])
        return ignoredResourceGroups.contains(group)
    }

    public func filter(_ state: CycleState, _ pod: PodInfo, _ node: NodeInfo) -> Status? {
        if fitsPlainly(pod, node) { return nil }
        let short = insufficient(pod, node)
        if short.isEmpty { return nil }
        return Status(
            short.contains(where: \.unresolvable) ? .unschedulableAndUnresolvable : .unschedulable,
            reasons: short.map(\.reason))
    }

    public func score(_ state: CycleState, _ pod: PodInfo, _ node: NodeInfo) -> Int64 {
        switch strategy.type {
        case .leastAllocated: return weighted(pod, node, Self.leastRequested)
        case .mostAllocated: return weighted(pod, node, Self.mostRequested)
        case .requestedToCapacityRatio: return ratioScore(pod, node)
        }
    }

    /// The weighted average of `f` over the resources the node has.
    @inline(__always)
    func weighted(_ pod: PodInfo, _ node: NodeInfo, _ f: (Int64, Int64) -> Int64) -> Int64 {
        var total: Int64 = 0
        var weights: Int64 = 0
        ResourceAllocation.forEach(scored, pod: pod, node: node, nonZero: true) { i, req, alloc in
            total += f(req, alloc) * scored[i].weight
            weights += scored[i].weight
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
    func ratioScore(_ pod: PodInfo, _ node: NodeInfo) -> Int64 {
        let shape = scaledShape
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
        ResourceAllocation.forEach(scored, pod: pod, node: node, nonZero: true) { i, req, alloc in
            let w = scored[i].weight
            let s = req > alloc ? raw(100) : raw(req * 100 / alloc)
            if s <= 0 { return }
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
    /// The configured resources (the plugin's args), and the same resolved for scoring.
    let resources: [ResourceSpec]
    let scored: [ScoredResource]

    public init(
        resources: [ResourceSpec] = [ResourceSpec(name: "cpu", weight: 1), ResourceSpec(name: "memory", weight: 1)]
    ) {
        self.resources = resources
        scored = resources.map(ScoredResource.init)
    }

    public func preScore(_ state: CycleState, _ pod: PodInfo, _ nodes: [NodeInfo], _ snapshot: Snapshot) -> Status? {
        // A pod that requests none of the resources changes no balance.
        scored.allSatisfy({ $0.amount(pod.requests) == 0 }) ? .skip : nil
    }

    /// 1 − the standard deviation of the requested fractions (each capped at 1) of the resources
    /// the node has; with exactly two, half their difference.
    public func score(_ state: CycleState, _ pod: PodInfo, _ node: NodeInfo) -> Int64 {
        var n = 0
        var first = 0.0
        var second = 0.0
        var sum = 0.0
        // Only more than two resources need them all (for the mean, then the deviations).
        var all: [Double] = []
        let many = scored.count > 2
        ResourceAllocation.forEach(scored, pod: pod, node: node, nonZero: false) { _, req, alloc in
            let f = min(1, Double(req) / Double(alloc))
            if n == 0 { first = f } else if n == 1 { second = f }
            if many { all.append(f) }
            n += 1
            sum += f
        }
        var std = 0.0
        if n == 2 {
            std = abs((first - second) / 2)
        } else if n > 2 {
            let mean = sum / Double(n)
            std = (all.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(n)).squareRoot()
        }
        return Int64((1 - std) * Double(maxNodeScore))
    }

    public func eventsToRegister() -> [ClusterEvent] {
        [ClusterEvent(.assignedPod, .delete), ClusterEvent(.node, [.add, .updateNodeAllocatable])]
    }
}
