import APICore
import APIMachinery
import Testing

@testable import Scheduler

/// A snapshot and the default profile's framework over it, as the scheduler builds them.
private struct DefaultCluster {
    let snapshot: Snapshot
    let framework: Framework

    init(_ nodes: [(CoreV1.Node, [CoreV1.Pod])]) throws {
        snapshot = Snapshot(nodes.map { Fixture.nodeInfo($0.0, $0.1) })
        framework = try PluginRegistry.framework(
            for: SchedulerConfiguration.defaulted().profiles[0], handle: Handle(snapshot: snapshot))
    }

    func schedule(_ pod: CoreV1.Pod, with algorithm: SchedulingAlgorithm = SchedulingAlgorithm())
        throws(SchedulingAlgorithm.Failure) -> ScheduleResult
    {
        try algorithm.schedule(framework, CycleState(), PodInfo(pod), snapshot)
    }

    /// The FitError a pod that fits nowhere gets (nil, recorded as an issue, if it does fit).
    func fitError(_ pod: CoreV1.Pod) -> FitError? {
        do {
            let r = try schedule(pod)
            Issue.record("scheduled on \(r.suggestedHost)")
        } catch {
            if case .fit(let e) = error { return e }
            Issue.record("unexpected failure \(error)")
        }
        return nil
    }
}

/// A plugin that answers PreFilter with a given status and remembers that it ran.
private final class StubPreFilter: PreFilterPlugin, @unchecked Sendable {
    let name: String
    let status: Status?
    let nodes: Set<String>?
    var ran = false

    init(_ name: String, _ status: Status? = nil, nodes: Set<String>? = nil) {
        self.name = name
        self.status = status
        self.nodes = nodes
    }

    func preFilter(_ state: CycleState, _ pod: PodInfo, _ snapshot: Snapshot) -> (PreFilterResult?, Status?) {
        ran = true
        return (nodes.map { PreFilterResult(nodeNames: $0) }, status)
    }
}

struct FeasibleCase: CustomTestStringConvertible, Sendable {
    let name: String
    let percentage: Int32
    let nodes: Int
    let want: Int
    var testDescription: String { name }
}

struct FitMessageCase: CustomTestStringConvertible, Sendable {
    let name: String
    let numAllNodes: Int
    var statuses: [String: Status] = [:]
    var absent: Status? = nil
    var preFilter = ""
    var postFilter = ""
    let want: String
    var testDescription: String { name }
}

@Suite("SchedulingAlgorithm")
struct SchedulingAlgorithmTests {
    // MARK: numFeasibleNodesToFind

    static let feasibleCases: [FeasibleCase] = [
        FeasibleCase(name: "no nodes: 0", percentage: 0, nodes: 0, want: 0),
        FeasibleCase(name: "fewer than 100 nodes: all of them", percentage: 0, nodes: 99, want: 99),
        FeasibleCase(name: "fewer than 100 nodes: all, whatever the percentage", percentage: 10, nodes: 50, want: 50),
        FeasibleCase(
            name: "adaptive at 100 nodes: 50% is 50, raised to the minimum 100", percentage: 0, nodes: 100, want: 100),
        FeasibleCase(name: "adaptive at 1000 nodes: 50 − 1000/125 = 42%", percentage: 0, nodes: 1000, want: 420),
        FeasibleCase(name: "adaptive at 1500 nodes: 50 − 12 = 38%", percentage: 0, nodes: 1500, want: 570),
        FeasibleCase(name: "adaptive at 5000 nodes: 50 − 40 = 10%", percentage: 0, nodes: 5000, want: 500),
        FeasibleCase(
            name: "adaptive at 6000 nodes: 50 − 48 = 2%, floored at 5%", percentage: 0, nodes: 6000, want: 300),
        FeasibleCase(name: "adaptive at 100000 nodes: the 5% floor", percentage: 0, nodes: 100_000, want: 5000),
        FeasibleCase(name: "an explicit 30% of 1000 nodes", percentage: 30, nodes: 1000, want: 300),
        FeasibleCase(
            name: "an explicit 5% of 1000 nodes is below the minimum 100", percentage: 5, nodes: 1000, want: 100),
        FeasibleCase(name: "an explicit 100%: every node", percentage: 100, nodes: 1000, want: 1000),
    ]

    @Test(
        "numFeasibleNodesToFind: all below 100 nodes, else the percentage (adaptive when 0), at least 100",
        arguments: feasibleCases)
    func numFeasibleNodesToFind(_ c: FeasibleCase) {
        #expect(SchedulingAlgorithm.numFeasibleNodesToFind(c.percentage, numAllNodes: c.nodes) == c.want)
    }

    // MARK: FitError

    static let taint = "node(s) had untolerated taint {k: v}"
    static let cpu = "Insufficient cpu"

    static let messageCases: [FitMessageCase] = [
        FitMessageCase(
            name: "reasons with their node counts, sorted",
            numAllNodes: 3, statuses: ["a": .unschedulable(cpu), "b": .unresolvable(taint), "c": .unresolvable(taint)],
            want: "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint {k: v}."),
        FitMessageCase(
            name: "every reason of a node counts",
            numAllNodes: 2,
            statuses: [
                "a": Status(.unschedulable, reasons: [cpu, "Insufficient memory"]),
                "b": .unschedulable("Insufficient memory"),
            ],
            want: "0/2 nodes are available: 1 Insufficient cpu, 2 Insufficient memory."),
        FitMessageCase(
            name: "sorted as Go strings: the count is text, so 10 sorts before 2",
            numAllNodes: 12,
            statuses: Dictionary(
                uniqueKeysWithValues: (0..<12).map { i in
                    (
                        "n\(i)",
                        i < 10
                            ? Status.unresolvable("node(s) didn't match Pod's node affinity/selector")
                            : .unschedulable(cpu)
                    )
                }),
            want: "0/12 nodes are available: 10 node(s) didn't match Pod's node affinity/selector, 2 Insufficient cpu."),
        FitMessageCase(
            name: "sorted as Go strings: upper case before lower case",
            numAllNodes: 3,
            statuses: [
                "a": .unresolvable("node(s) were unschedulable"), "b": .unschedulable("Too many pods"),
                "c": .unschedulable(cpu),
            ],
            want: "0/3 nodes are available: 1 Insufficient cpu, 1 Too many pods, 1 node(s) were unschedulable."),
        FitMessageCase(
            name: "nodes without a status count under the absent nodes' status",
            numAllNodes: 5, statuses: ["a": .unschedulable(cpu), "b": .unschedulable(cpu)],
            absent: .unresolvable("node(s) didn't satisfy plugin(s) [NodeAffinity]"),
            want: "0/5 nodes are available: 2 Insufficient cpu, 3 node(s) didn't satisfy plugin(s) [NodeAffinity]."),
        FitMessageCase(
            name: "a PreFilter rejection is the whole message",
            numAllNodes: 1, statuses: ["a": .unschedulable(cpu)],
            absent: .unresolvable("persistentvolumeclaim \"data\" not found"),
            preFilter: "persistentvolumeclaim \"data\" not found",
            want: "0/1 nodes are available: persistentvolumeclaim \"data\" not found."),
        FitMessageCase(
            name: "the PostFilter message is appended as it is, its period not doubled",
            numAllNodes: 3, statuses: ["a": .unschedulable(cpu), "b": .unschedulable(cpu), "c": .unschedulable(cpu)],
            postFilter: "preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.",
            want:
                "0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
        ),
        FitMessageCase(
            name: "the PostFilter message follows a PreFilter message too",
            numAllNodes: 2, preFilter: "pod affinity terms conflict",
            postFilter: "preemption: not eligible due to preemptionPolicy=Never.",
            want:
                "0/2 nodes are available: pod affinity terms conflict. preemption: not eligible due to preemptionPolicy=Never."
        ),
        FitMessageCase(
            name: "a PostFilter message without a period gets none added",
            numAllNodes: 1, statuses: ["a": .unschedulable(cpu)],
            postFilter: "preemption: no candidate node for preemption",
            want: "0/1 nodes are available: 1 Insufficient cpu. preemption: no candidate node for preemption"),
    ]

    @Test("FitError's message is upstream's FailedScheduling text", arguments: messageCases)
    func fitErrorMessage(_ c: FitMessageCase) {
        var d = Diagnosis()
        d.nodeToStatus = c.statuses
        d.absentNodesStatus = c.absent
        d.preFilterMessage = c.preFilter
        d.postFilterMessage = c.postFilter
        #expect(FitError(numAllNodes: c.numAllNodes, diagnosis: d).message == c.want)
    }

    // MARK: schedule

    @Test("schedule places the pod on the least loaded node")
    func leastLoaded() throws {
        let cluster = try DefaultCluster([
            (Fixture.node("a"), [Fixture.pod("a1", cpu: "3", memory: "24Gi")]),
            (Fixture.node("b"), []),
            (Fixture.node("c"), [Fixture.pod("c1", cpu: "2", memory: "16Gi")]),
        ])
        let r = try cluster.schedule(Fixture.pod("p", cpu: "1", memory: "8Gi"))
        #expect(r == ScheduleResult(suggestedHost: "b", evaluatedNodes: 3, feasibleNodes: 3))
    }

    @Test("schedule prefers the node without an untolerated PreferNoSchedule taint")
    func avoidsPreferNoSchedule() throws {
        let cluster = try DefaultCluster([
            (Fixture.node("a", taints: [Fixture.taint("k", "v", "PreferNoSchedule")]), []),
            (Fixture.node("b"), [Fixture.pod("b1", cpu: "1", memory: "8Gi")]),
        ])
        #expect(try cluster.schedule(Fixture.pod("p", cpu: "1", memory: "8Gi")).suggestedHost == "b")
    }

    @Test("schedule refuses a pod that fits nowhere, with each node's reason and the rejecting plugins")
    func refuses() throws {
        let cluster = try DefaultCluster([
            (Fixture.node("a"), [Fixture.pod("a1", cpu: "4")]),
            (Fixture.node("b", taints: [Fixture.taint("k", "v")]), []),
            (Fixture.node("c", taints: [Fixture.taint("k", "v")]), []),
        ])
        let e = try #require(cluster.fitError(Fixture.pod("p", cpu: "1")))
        #expect(e.message == "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint {k: v}.")
        #expect(e.diagnosis.unschedulablePlugins == ["NodeResourcesFit", "TaintToleration"])
        #expect(e.diagnosis.nodeToStatus["a"]?.plugin == "NodeResourcesFit")
    }

    @Test("schedule reports a PreFilter rejection for every node")
    func preFilterRejection() throws {
        let cluster = try DefaultCluster([(Fixture.node("a"), []), (Fixture.node("b"), [])])
        let pod = BasicFixture.requiring(
            fields: [
                [Fixture.requirement("metadata.name", "In", ["a"]), Fixture.requirement("metadata.name", "In", ["b"])]
            ])
        let e = try #require(cluster.fitError(pod))
        #expect(e.message == "0/2 nodes are available: pod affinity terms conflict.")
        #expect(e.diagnosis.unschedulablePlugins == ["NodeAffinity"])
        #expect(e.diagnosis.status(of: "b")?.code == .unschedulableAndUnresolvable)
    }

    @Test("Nodes a PreFilter left out count as not satisfying it, and it is among the rejecting plugins")
    func preFilterNarrowing() throws {
        let cluster = try DefaultCluster([
            (Fixture.node("a"), [Fixture.pod("a1", cpu: "4")]), (Fixture.node("b"), []), (Fixture.node("c"), []),
        ])
        let pod = BasicFixture.requiring(fields: [[Fixture.requirement("metadata.name", "In", ["a"])]])
        let e = try #require(cluster.fitError(Fixture.pod("p", cpu: "1") { $0.spec.affinity = pod.spec.affinity }))
        #expect(
            e.message
                == "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) didn't satisfy plugin(s) [NodeAffinity].")
        #expect(e.diagnosis.unschedulablePlugins == ["NodeAffinity", "NodeResourcesFit"])
    }

    @Test("schedule without nodes fails as no nodes available")
    func noNodes() throws {
        let cluster = try DefaultCluster([])
        do {
            let r = try cluster.schedule(Fixture.pod("p"))
            Issue.record("scheduled on \(r.suggestedHost)")
        } catch {
            guard case .noNodes = error else {
                Issue.record("unexpected failure \(error)")
                return
            }
        }
    }

    @Test("Filtering resumes where the last cycle stopped: nextStartNodeIndex advances by the nodes processed")
    func rotatesStartIndex() throws {
        // 200 nodes: the adaptive 49% is 98, raised to the minimum of 100 feasible nodes per cycle.
        let nodes = (0..<200).map { i in
            (Fixture.node("node-\(i)", taints: i < 10 ? [Fixture.taint("k", "v")] : []), [CoreV1.Pod]())
        }
        let cluster = try DefaultCluster(nodes)
        let algorithm = SchedulingAlgorithm()
        // The first 10 nodes are rejected: 110 processed to find 100 feasible.
        let first = try cluster.schedule(Fixture.pod("p1", cpu: "1"), with: algorithm)
        #expect(first.feasibleNodes == 100)
        #expect(first.evaluatedNodes == 110)
        #expect(algorithm.nextStartNodeIndex == 110)
        // From node 110: 90 feasible to the end, the 10 tainted ones after wrapping, then 10 more feasible.
        let second = try cluster.schedule(Fixture.pod("p2", cpu: "1"), with: algorithm)
        #expect(second.evaluatedNodes == 110)
        #expect(algorithm.nextStartNodeIndex == 20)
    }

    @Test("selectHost takes the highest score and breaks ties uniformly at random, never picking a lower score")
    func selectHostTies() {
        let algorithm = SchedulingAlgorithm(seed: 42)
        let scores = [
            NodeScore(name: "a", score: 90), NodeScore(name: "low", score: 10), NodeScore(name: "b", score: 90),
            NodeScore(name: "c", score: 90), NodeScore(name: "lower", score: 89),
        ]
        var picks: [String: Int] = [:]
        for _ in 0..<3000 { picks[algorithm.selectHost(scores), default: 0] += 1 }
        #expect(Set(picks.keys) == ["a", "b", "c"])
        // Each of the three tied nodes near a third of the time (expected 1000, sd ≈ 26).
        for name in ["a", "b", "c"] { #expect((850...1150).contains(picks[name] ?? 0), "\(picks)") }
        #expect(algorithm.selectHost([NodeScore(name: "x", score: 1), NodeScore(name: "y", score: 2)]) == "y")
    }

    @Test("A profile's percentageOfNodesToScore limits the feasible nodes searched")
    func profilePercentage() throws {
        let snapshot = Snapshot((0..<200).map { Fixture.nodeInfo(Fixture.node("n\($0)")) })
        var profile = SchedulerConfiguration.defaulted().profiles[0]
        profile.percentageOfNodesToScore = 100
        let fwk = try PluginRegistry.framework(for: profile, handle: Handle(snapshot: snapshot))
        let r = try SchedulingAlgorithm().schedule(fwk, CycleState(), PodInfo(Fixture.pod("p")), snapshot)
        #expect(r.feasibleNodes == 200)
    }

    @Test("A nominated node that still fits is tried first and chosen without scoring the others")
    func nominatedNodeFirst() throws {
        let cluster = try DefaultCluster([
            (Fixture.node("busy"), [Fixture.pod("b1", cpu: "3")]), (Fixture.node("idle"), []),
        ])
        let nominated = Fixture.pod("p", cpu: "1") { $0.status.nominatedNodeName = "busy" }
        #expect(
            try cluster.schedule(nominated)
                == ScheduleResult(suggestedHost: "busy", evaluatedNodes: 1, feasibleNodes: 1))
        // A nominated node that no longer fits: every node is filtered and scored as usual.
        let tooBig = Fixture.pod("q", cpu: "2") { $0.status.nominatedNodeName = "busy" }
        #expect(
            try cluster.schedule(tooBig) == ScheduleResult(suggestedHost: "idle", evaluatedNodes: 2, feasibleNodes: 1))
    }

    // MARK: PreFilter

    @Test("An Unschedulable PreFilter lets the later PreFilters run, and is answered at the end")
    func unschedulablePreFilterRunsTheRest() {
        let fwk = Framework(profileName: "p", handle: Handle())
        let first = StubPreFilter("First", .unschedulable("not now"))
        let second = StubPreFilter("Second")
        fwk.preFilter = [first, second]
        let (_, status, rejectors) = fwk.runPreFilter(CycleState(), PodInfo(Fixture.pod("p")), Snapshot())
        #expect(second.ran)
        #expect(status == Status(.unschedulable, "not now", plugin: "First"))
        #expect(rejectors == ["First"])
    }

    @Test("An UnschedulableAndUnresolvable PreFilter stops the others")
    func unresolvablePreFilterStops() {
        let fwk = Framework(profileName: "p", handle: Handle())
        let first = StubPreFilter("First", .unresolvable("never"))
        let second = StubPreFilter("Second")
        fwk.preFilter = [first, second]
        let (_, status, rejectors) = fwk.runPreFilter(CycleState(), PodInfo(Fixture.pod("p")), Snapshot())
        #expect(!second.ran)
        #expect(status?.code == .unschedulableAndUnresolvable)
        #expect(rejectors == ["First"])
    }

    @Test(
        "PreFilter node sets are intersected; an empty intersection names the plugins",
        arguments: [
            (
                ["A": ["n1"], "B": ["n2"]] as [String: Set<String>],
                "node(s) didn't satisfy plugin(s) [A B] simultaneously"
            ),
            (["A": []] as [String: Set<String>], "node(s) didn't satisfy plugin A"),
        ])
    func preFilterIntersection(_ sets: [String: Set<String>], _ message: String) {
        let fwk = Framework(profileName: "p", handle: Handle())
        fwk.preFilter = sets.keys.sorted().map { StubPreFilter($0, nodes: sets[$0]) }
        let (_, status, rejectors) = fwk.runPreFilter(CycleState(), PodInfo(Fixture.pod("p")), Snapshot())
        #expect(status?.code == .unschedulableAndUnresolvable)
        #expect(status?.message == message)
        #expect(rejectors == Set(sets.keys))
    }
}
