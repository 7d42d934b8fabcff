import APICore
import APIMachinery
import Testing

@testable import Scheduler

/// Builders for NodeResourcesFit and BalancedAllocation cases.
enum ResourcesFixture {
    /// A pod with one container requesting these amounts.
    static func requesting(_ requests: [String: String], name: String = "p", on node: String = "") -> CoreV1.Pod {
        Fixture.pod(name, containers: [Fixture.container("c", requests)], nodeName: node)
    }

    /// A 4-CPU, 8Gi node for 3 pods, with 10Gi of ephemeral storage and some extended resources.
    static func node(pods: String = "3", extra: [String: String] = [:]) -> CoreV1.Node {
        Fixture.node(
            "n", cpu: "4", memory: "8Gi", pods: pods,
            extra: ["ephemeral-storage": "10Gi", "example.com/foo": "2"].merging(extra) { _, b in b })
    }

    static func unschedulable(_ reasons: String...) -> Status { Status(.unschedulable, reasons: reasons) }
    static func unresolvable(_ reasons: String...) -> Status { Status(.unschedulableAndUnresolvable, reasons: reasons) }

    static func strategy(
        _ type: ScoringStrategy.Kind, _ resources: [(String, Int64)] = [("cpu", 1), ("memory", 1)],
        shape: [(Int64, Int64)] = []
    ) -> ScoringStrategy {
        var s = ScoringStrategy()
        s.type = type
        s.resources = resources.map { ResourceSpec(name: $0.0, weight: $0.1) }
        s.shape = shape.map { ScoringStrategy.ShapePoint(utilization: $0.0, score: $0.1) }
        return s
    }
}

struct FitCase: CustomTestStringConvertible, Sendable {
    let name: String
    let pod: CoreV1.Pod
    var node: CoreV1.Node = ResourcesFixture.node()
    var podsOnNode: [CoreV1.Pod] = []
    var ignoredResources: [String] = []
    var ignoredResourceGroups: [String] = []
    let want: Status?
    var testDescription: String { name }
}

struct RequestsCase: CustomTestStringConvertible, Sendable {
    let name: String
    let pod: CoreV1.Pod
    let milliCPU: Int64
    let memory: Int64
    var testDescription: String { name }
}

struct ScoreCase: CustomTestStringConvertible, Sendable {
    let name: String
    let strategy: ScoringStrategy
    let pod: CoreV1.Pod
    var node: CoreV1.Node = Fixture.node("n", cpu: "4", memory: "8Gi")
    var podsOnNode: [CoreV1.Pod]
    let want: Int64
    var testDescription: String { name }
}

@Suite("NodeResources")
struct NodeResourcesTests {
    typealias R = ResourcesFixture
    static let gi: Int64 = 1024 * 1024 * 1024
    static let mi: Int64 = 1024 * 1024

    // MARK: Filter

    static let fitCases: [FitCase] = [
        FitCase(name: "requests within what is left fit", pod: R.requesting(["cpu": "1", "memory": "1Gi"]), want: nil),
        FitCase(
            name: "exactly what is left fits", pod: R.requesting(["cpu": "2", "memory": "6Gi"]),
            podsOnNode: [R.requesting(["cpu": "2", "memory": "2Gi"], name: "a")], want: nil),
        FitCase(
            name: "one pod more than allocatable pods: Too many pods",
            pod: R.requesting(["cpu": "1"]), node: R.node(pods: "1"), podsOnNode: [R.requesting([:], name: "a")],
            want: R.unschedulable("Too many pods")),
        FitCase(
            name: "a pod requesting nothing is only checked for the pod count",
            pod: Fixture.pod("p"),
            podsOnNode: [R.requesting(["cpu": "4", "memory": "8Gi", "example.com/foo": "2"], name: "a")],
            want: nil),
        FitCase(
            name: "a pod requesting nothing still counts against allocatable pods",
            pod: Fixture.pod("p"), node: R.node(pods: "2"),
            podsOnNode: [R.requesting([:], name: "a"), R.requesting([:], name: "b")],
            want: R.unschedulable("Too many pods")),
        FitCase(
            name: "more CPU than is left: Insufficient cpu", pod: R.requesting(["cpu": "2"]),
            podsOnNode: [R.requesting(["cpu": "3"], name: "a")], want: R.unschedulable("Insufficient cpu")),
        FitCase(
            name: "more memory than is left: Insufficient memory", pod: R.requesting(["memory": "5Gi"]),
            podsOnNode: [R.requesting(["memory": "4Gi"], name: "a")], want: R.unschedulable("Insufficient memory")),
        FitCase(
            name: "more ephemeral storage than is left: Insufficient ephemeral-storage",
            pod: R.requesting(["ephemeral-storage": "6Gi"]),
            podsOnNode: [R.requesting(["ephemeral-storage": "5Gi"], name: "a")],
            want: R.unschedulable("Insufficient ephemeral-storage")),
        FitCase(
            name: "more of an extended resource than is left: Insufficient <name>",
            pod: R.requesting(["example.com/foo": "1"]),
            podsOnNode: [R.requesting(["example.com/foo": "2"], name: "a")],
            want: R.unschedulable("Insufficient example.com/foo")),
        FitCase(
            name: "every shortfall is listed, pods first, then cpu, memory",
            pod: R.requesting(["cpu": "2", "memory": "4Gi", "example.com/foo": "1"]), node: R.node(pods: "1"),
            podsOnNode: [R.requesting(["cpu": "3", "memory": "6Gi"], name: "a")],
            want: R.unschedulable("Too many pods", "Insufficient cpu", "Insufficient memory")),
        FitCase(
            name: "a request above the node's allocatable itself is UnschedulableAndUnresolvable",
            pod: R.requesting(["cpu": "5"]), want: R.unresolvable("Insufficient cpu")),
        FitCase(
            name: "one request above allocatable makes the whole status unresolvable, all reasons kept",
            pod: R.requesting(["cpu": "5", "memory": "7Gi"]), podsOnNode: [R.requesting(["memory": "2Gi"], name: "a")],
            want: R.unresolvable("Insufficient cpu", "Insufficient memory")),
        FitCase(
            name: "an extended resource above the node's allocatable is unresolvable",
            pod: R.requesting(["example.com/foo": "3"]), want: R.unresolvable("Insufficient example.com/foo")),
        FitCase(
            name: "ignoredResources skips that extended resource",
            pod: R.requesting(["example.com/foo": "1"]),
            podsOnNode: [R.requesting(["example.com/foo": "2"], name: "a")],
            ignoredResources: ["example.com/foo"], want: nil),
        FitCase(
            name: "ignoredResourceGroups skips every extended resource of the group",
            pod: R.requesting(["example.com/foo": "1"]),
            podsOnNode: [R.requesting(["example.com/foo": "2"], name: "a")],
            ignoredResourceGroups: ["example.com"], want: nil),
        FitCase(
            name: "ignoredResourceGroups matches the whole prefix before the slash only",
            pod: R.requesting(["example.com/foo": "1"]),
            podsOnNode: [R.requesting(["example.com/foo": "2"], name: "a")],
            ignoredResourceGroups: ["example"], want: R.unschedulable("Insufficient example.com/foo")),
        FitCase(
            name: "hugepages are not extended resources: ignoredResources does not skip them",
            pod: R.requesting(["hugepages-2Mi": "4Mi"]), node: R.node(extra: ["hugepages-2Mi": "4Mi"]),
            podsOnNode: [R.requesting(["hugepages-2Mi": "2Mi"], name: "a")], ignoredResources: ["hugepages-2Mi"],
            want: R.unschedulable("Insufficient hugepages-2Mi")),
        FitCase(
            name: "kubernetes.io/ resources are native: ignoredResourceGroups does not skip them",
            pod: R.requesting(["kubernetes.io/foo": "1"]), node: R.node(extra: ["kubernetes.io/foo": "1"]),
            podsOnNode: [R.requesting(["kubernetes.io/foo": "1"], name: "a")], ignoredResourceGroups: ["kubernetes.io"],
            want: R.unschedulable("Insufficient kubernetes.io/foo")),
        FitCase(
            name: "an init container larger than the app containers sets the request",
            pod: Fixture.pod(
                "p", containers: [Fixture.container("c", ["cpu": "1"])],
                initContainers: [Fixture.container("i", ["cpu": "3"])]),
            podsOnNode: [R.requesting(["cpu": "2"], name: "a")], want: R.unschedulable("Insufficient cpu")),
        FitCase(
            name: "a sidecar adds to the app containers",
            pod: Fixture.pod(
                "p", containers: [Fixture.container("c", ["cpu": "1"])],
                initContainers: [Fixture.container("s", ["cpu": "1500m"], sidecar: true)]),
            podsOnNode: [R.requesting(["cpu": "2"], name: "a")], want: R.unschedulable("Insufficient cpu")),
        FitCase(
            name: "pod overhead adds to the request",
            pod: Fixture.pod("p", containers: [Fixture.container("c", ["cpu": "2"])], overhead: ["cpu": "100m"]),
            podsOnNode: [R.requesting(["cpu": "2"], name: "a")], want: R.unschedulable("Insufficient cpu")),
    ]

    @Test("NodeResourcesFit Filter: the pod's requests must fit in what the node has left", arguments: fitCases)
    func fitFilter(_ c: FitCase) {
        let pl = NodeResourcesFit(ignoredResources: c.ignoredResources, ignoredResourceGroups: c.ignoredResourceGroups)
        let node = Fixture.nodeInfo(c.node, c.podsOnNode)
        let state = CycleState()
        _ = pl.preFilter(state, PodInfo(c.pod), Snapshot([node]))
        #expect(pl.filter(state, PodInfo(c.pod), node) == c.want)
    }

    // MARK: requests

    static let requestsCases: [RequestsCase] = [
        RequestsCase(
            name: "app containers add up",
            pod: Fixture.pod(
                "p",
                containers: [
                    Fixture.container("a", ["cpu": "1", "memory": "1Gi"]), Fixture.container("b", ["cpu": "500m"]),
                ]),
            milliCPU: 1500, memory: gi),
        RequestsCase(
            name: "the larger of an init container and the app containers counts",
            pod: Fixture.pod(
                "p", containers: [Fixture.container("c", ["cpu": "1", "memory": "2Gi"])],
                initContainers: [Fixture.container("i", ["cpu": "2", "memory": "1Gi"])]),
            milliCPU: 2000, memory: 2 * gi),
        RequestsCase(
            name: "init containers run one at a time: the largest counts, not their sum",
            pod: Fixture.pod(
                "p", containers: [Fixture.container("c", ["cpu": "1"])],
                initContainers: [Fixture.container("i1", ["cpu": "2"]), Fixture.container("i2", ["cpu": "1500m"])]),
            milliCPU: 2000, memory: 0),
        RequestsCase(
            name: "a sidecar runs beside the app containers",
            pod: Fixture.pod(
                "p", containers: [Fixture.container("c", ["cpu": "1"])],
                initContainers: [Fixture.container("s", ["cpu": "500m"], sidecar: true)]),
            milliCPU: 1500, memory: 0),
        RequestsCase(
            name: "an init container after a sidecar runs beside it",
            pod: Fixture.pod(
                "p", containers: [Fixture.container("c", ["cpu": "1"])],
                initContainers: [
                    Fixture.container("s", ["cpu": "500m"], sidecar: true), Fixture.container("i", ["cpu": "2"]),
                ]),
            milliCPU: 2500, memory: 0),
        RequestsCase(
            name: "an init container before a sidecar runs alone",
            pod: Fixture.pod(
                "p", containers: [Fixture.container("c", ["cpu": "1"])],
                initContainers: [
                    Fixture.container("i", ["cpu": "2"]), Fixture.container("s", ["cpu": "500m"], sidecar: true),
                ]),
            milliCPU: 2000, memory: 0),
        RequestsCase(
            name: "overhead is added to the app containers",
            pod: Fixture.pod(
                "p", containers: [Fixture.container("c", ["cpu": "1"])], overhead: ["cpu": "250m", "memory": "64Mi"]),
            milliCPU: 1250, memory: 64 * mi),
        RequestsCase(
            name: "overhead is added after the init maximum",
            pod: Fixture.pod(
                "p", containers: [Fixture.container("c", ["cpu": "1"])],
                initContainers: [Fixture.container("i", ["cpu": "2"])],
                overhead: ["cpu": "250m"]),
            milliCPU: 2250, memory: 0),
    ]

    @Test(
        "Requests are upstream's PodRequests: containers, init containers, sidecars and overhead",
        arguments: requestsCases)
    func requests(_ c: RequestsCase) {
        let r = PodInfo(c.pod).requests
        #expect(r.milliCPU == c.milliCPU)
        #expect(r.memory == c.memory)
    }

    static let nonZeroCases: [RequestsCase] = [
        RequestsCase(
            name: "a container without requests counts 100m and 200Mi", pod: Fixture.pod("p"), milliCPU: 100,
            memory: 200 * mi),
        RequestsCase(
            name: "only the missing request is defaulted", pod: R.requesting(["cpu": "250m"]), milliCPU: 250,
            memory: 200 * mi),
        RequestsCase(
            name: "an explicit zero request is kept", pod: R.requesting(["cpu": "0", "memory": "0"]), milliCPU: 0,
            memory: 0),
        RequestsCase(
            name: "each container without requests counts the defaults",
            pod: Fixture.pod("p", containers: [Fixture.container("a"), Fixture.container("b")]), milliCPU: 200,
            memory: 400 * mi),
        RequestsCase(
            name: "an init container without requests counts the defaults in its phase",
            pod: Fixture.pod(
                "p", containers: [Fixture.container("c", ["cpu": "50m", "memory": "100Mi"])],
                initContainers: [Fixture.container("i")]),
            milliCPU: 100, memory: 200 * mi),
        RequestsCase(
            name: "a sidecar without requests adds the defaults to the app containers",
            pod: Fixture.pod(
                "p", containers: [Fixture.container("c")], initContainers: [Fixture.container("s", sidecar: true)]),
            milliCPU: 200, memory: 400 * mi),
    ]

    @Test("Scoring counts a missing CPU or memory request as 100m or 200Mi", arguments: nonZeroCases)
    func nonZeroRequests(_ c: RequestsCase) {
        let info = PodInfo(c.pod)
        #expect(info.nonZeroMilliCPU == c.milliCPU)
        #expect(info.nonZeroMemory == c.memory)
    }

    // MARK: Score

    /// The node has 4 CPUs and 8Gi with a pod of 2 CPUs and 2Gi; the incoming pod asks 1 CPU and 2Gi:
    /// 75% of the CPU and 50% of the memory are requested once it is placed.
    static let busy = [R.requesting(["cpu": "2", "memory": "2Gi"], name: "a")]
    static let incoming = R.requesting(["cpu": "1", "memory": "2Gi"])

    static let scoreCases: [ScoreCase] = [
        ScoreCase(
            name: "LeastAllocated: the mean free share, cpu 25 and memory 50 → 37",
            strategy: R.strategy(.leastAllocated), pod: incoming, podsOnNode: busy, want: 37),
        ScoreCase(
            name: "LeastAllocated with weights cpu 3, memory 1: (25·3 + 50) / 4 → 31",
            strategy: R.strategy(.leastAllocated, [("cpu", 3), ("memory", 1)]), pod: incoming, podsOnNode: busy,
            want: 31),
        ScoreCase(
            name: "LeastAllocated: a resource requested beyond capacity scores 0",
            strategy: R.strategy(.leastAllocated), pod: R.requesting(["cpu": "3", "memory": "2Gi"]), podsOnNode: busy,
            want: 25),
        ScoreCase(
            name: "MostAllocated: the mean used share, cpu 75 and memory 50 → 62",
            strategy: R.strategy(.mostAllocated), pod: incoming, podsOnNode: busy, want: 62),
        ScoreCase(
            name: "MostAllocated: a resource requested beyond capacity counts as full",
            strategy: R.strategy(.mostAllocated), pod: R.requesting(["cpu": "3", "memory": "2Gi"]), podsOnNode: busy,
            want: 75),
        ScoreCase(
            name: "RequestedToCapacityRatio {0:0, 100:10}: 75 and 50, the mean 62.5 rounds to 63",
            strategy: R.strategy(.requestedToCapacityRatio, shape: [(0, 0), (100, 10)]), pod: incoming,
            podsOnNode: busy,
            want: 63),
        ScoreCase(
            name: "RequestedToCapacityRatio {0:10, 100:0}: 25 and 50, the mean 37.5 rounds to 38",
            strategy: R.strategy(.requestedToCapacityRatio, shape: [(0, 10), (100, 0)]), pod: incoming,
            podsOnNode: busy,
            want: 38),
        ScoreCase(
            name: "RequestedToCapacityRatio interpolates between shape points and is flat beyond them",
            strategy: R.strategy(.requestedToCapacityRatio, shape: [(0, 0), (50, 10), (100, 10)]), pod: incoming,
            podsOnNode: busy, want: 100),
        ScoreCase(
            name: "RequestedToCapacityRatio with weights cpu 3, memory 1: (75·3 + 50) / 4 = 68.75 → 69",
            strategy: R.strategy(.requestedToCapacityRatio, [("cpu", 3), ("memory", 1)], shape: [(0, 0), (100, 10)]),
            pod: incoming, podsOnNode: busy, want: 69),
        ScoreCase(
            name: "RequestedToCapacityRatio leaves a resource scoring 0 out of the mean, weight included",
            strategy: R.strategy(.requestedToCapacityRatio, shape: [(0, 10), (100, 0)]),
            pod: R.requesting(["cpu": "2", "memory": "2Gi"]), podsOnNode: busy, want: 50),
        ScoreCase(
            name: "LeastAllocated counts 100m and 200Mi for containers without requests, placed pods too",
            strategy: R.strategy(.leastAllocated), pod: Fixture.pod("p"),
            node: Fixture.node("n", cpu: "1", memory: "1000Mi"),
            podsOnNode: [Fixture.pod("a")], want: 70),
        ScoreCase(
            name: "MostAllocated counts the same defaults: 20% of CPU and 40% of memory → 30",
            strategy: R.strategy(.mostAllocated), pod: Fixture.pod("p"),
            node: Fixture.node("n", cpu: "1", memory: "1000Mi"),
            podsOnNode: [Fixture.pod("a")], want: 30),
        ScoreCase(
            name: "an extended resource the pod does not request is left out of the score",
            strategy: R.strategy(.leastAllocated, [("cpu", 1), ("memory", 1), ("example.com/foo", 3)]), pod: incoming,
            node: Fixture.node("n", cpu: "4", memory: "8Gi", extra: ["example.com/foo": "4"]), podsOnNode: busy,
            want: 37),
        ScoreCase(
            name: "an extended resource the pod requests is scored with its weight: (25 + 50 + 75·3) / 5",
            strategy: R.strategy(.leastAllocated, [("cpu", 1), ("memory", 1), ("example.com/foo", 3)]),
            pod: R.requesting(["cpu": "1", "memory": "2Gi", "example.com/foo": "1"]),
            node: Fixture.node("n", cpu: "4", memory: "8Gi", extra: ["example.com/foo": "4"]), podsOnNode: busy,
            want: 60),
        ScoreCase(
            name: "a resource the node does not have is left out of the score",
            strategy: R.strategy(.leastAllocated, [("cpu", 1), ("memory", 1), ("example.com/foo", 3)]),
            pod: R.requesting(["cpu": "1", "memory": "2Gi", "example.com/foo": "1"]), podsOnNode: busy, want: 37),
    ]

    @Test("NodeResourcesFit Score by strategy", arguments: scoreCases)
    func fitScore(_ c: ScoreCase) {
        let pl = NodeResourcesFit(strategy: c.strategy)
        #expect(pl.score(CycleState(), PodInfo(c.pod), Fixture.nodeInfo(c.node, c.podsOnNode)) == c.want)
    }

    // MARK: BalancedAllocation

    static let balancedCases: [ScoreCase] = [
        ScoreCase(
            name: "two resources: 1 − |0.5 − 0.25| / 2 → 87", strategy: R.strategy(.leastAllocated),
            pod: R.requesting(["cpu": "2", "memory": "2Gi"]), podsOnNode: [], want: 87),
        ScoreCase(
            name: "equal fractions are perfectly balanced", strategy: R.strategy(.leastAllocated), pod: incoming,
            podsOnNode: [R.requesting(["cpu": "2", "memory": "4Gi"], name: "a")], want: 100),
        ScoreCase(
            name: "a fraction above 1 counts as 1: 1 − |1 − 0.5| / 2 → 75", strategy: R.strategy(.leastAllocated),
            pod: R.requesting(["cpu": "2", "memory": "2Gi"]),
            podsOnNode: [R.requesting(["cpu": "3", "memory": "2Gi"], name: "a")],
            want: 75),
        ScoreCase(
            name: "requests as given, not the scoring defaults: 1 CPU and no memory → 87",
            strategy: R.strategy(.leastAllocated), pod: R.requesting(["cpu": "1"]), podsOnNode: [Fixture.pod("a")],
            want: 87),
        ScoreCase(
            name: "three resources: 1 − the standard deviation of 0.5, 0.25, 0.75 → 79",
            strategy: R.strategy(.leastAllocated, [("cpu", 1), ("memory", 1), ("example.com/foo", 1)]),
            pod: R.requesting(["cpu": "2", "memory": "2Gi", "example.com/foo": "3"]),
            node: Fixture.node("n", cpu: "4", memory: "8Gi", extra: ["example.com/foo": "4"]), podsOnNode: [], want: 79),
        ScoreCase(
            name: "an extended resource the pod does not request is left out: back to two resources",
            strategy: R.strategy(.leastAllocated, [("cpu", 1), ("memory", 1), ("example.com/foo", 1)]),
            pod: R.requesting(["cpu": "2", "memory": "2Gi"]),
            node: Fixture.node("n", cpu: "4", memory: "8Gi", extra: ["example.com/foo": "4"]),
            podsOnNode: [R.requesting(["example.com/foo": "4"], name: "a")], want: 87),
        ScoreCase(
            name: "a single resource has no deviation", strategy: R.strategy(.leastAllocated, [("cpu", 1)]),
            pod: R.requesting(["cpu": "3", "memory": "1Gi"]), podsOnNode: [], want: 100),
    ]

    @Test(
        "BalancedAllocation scores (1 − the standard deviation of the requested fractions) × 100",
        arguments: balancedCases)
    func balancedAllocation(_ c: ScoreCase) {
        let pl = NodeResourcesBalancedAllocation(resources: c.strategy.resources)
        let node = Fixture.nodeInfo(c.node, c.podsOnNode)
        let state = CycleState()
        #expect(pl.preScore(state, PodInfo(c.pod), [node], Snapshot([node])) == nil)
        #expect(pl.score(state, PodInfo(c.pod), node) == c.want)
    }

    @Test("BalancedAllocation skips a pod that requests none of its resources")
    func balancedSkipsBestEffort() {
        let pl = NodeResourcesBalancedAllocation()
        let node = Fixture.nodeInfo(Fixture.node("n"))
        #expect(pl.preScore(CycleState(), PodInfo(Fixture.pod("p")), [node], Snapshot([node])) == .skip)
        let gpuOnly = R.requesting(["example.com/foo": "1"])
        #expect(pl.preScore(CycleState(), PodInfo(gpuOnly), [node], Snapshot([node])) == .skip)
    }
}
