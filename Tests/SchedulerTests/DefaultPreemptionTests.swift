import APICore
import APIMachinery
import APIPolicy
import KubeClient
import Synchronization
import Testing

@testable import Scheduler

/// A small cluster for one preemption: nodes and their pods in a snapshot, the pods (and the
/// preemptor) in the pod lister, budgets in the PDB lister, and a framework of the Basic and
/// NodeResources plugins with DefaultPreemption as its PostFilter.
private struct Cluster {
    let snapshot: Snapshot
    let handle: Handle
    let framework: Framework
    let plugin: DefaultPreemption

    init(
        _ nodes: [(CoreV1.Node, [CoreV1.Pod])], pods: [CoreV1.Pod] = [], budgets: [PolicyV1.PodDisruptionBudget] = [],
        args: DefaultPreemptionArgs = DefaultPreemptionArgs(), offset: Int32 = 0, api: PreemptionAPI? = nil
    ) throws {
        let infos = nodes.map { Fixture.nodeInfo($0.0, $0.1) }
        snapshot = Snapshot(infos)
        handle = Handle(snapshot: snapshot)
        for ni in infos { for p in ni.pods { handle.listers.pods.upsert(p.pod) } }
        for p in pods { handle.listers.pods.upsert(p) }
        for b in budgets { handle.listers.podDisruptionBudgets.upsert(b) }
        framework = Framework(profileName: "default-scheduler", handle: handle)
        let affinity = NodeAffinity()
        let ports = NodePorts()
        let fit = NodeResourcesFit()
        framework.preFilter = [affinity, ports, fit]
        framework.filter = [NodeUnschedulable(), NodeName(), TaintToleration(), affinity, ports, fit]
        plugin = try DefaultPreemption(
            args: args, handle: handle, api: api, randomOffset: { _ in offset }, now: { Time(seconds: now) })
        framework.postFilter = [plugin]
    }

    /// A scheduling cycle for the pod that must fail, then PostFilter; also the whole
    /// FailedScheduling message with the PostFilter's part.
    func preempt(_ pod: CoreV1.Pod) async -> (result: PostFilterResult?, status: Status, message: String) {
        handle.listers.pods.upsert(pod)
        let info = PodInfo(pod)
        let state = CycleState()
        do {
            let r = try SchedulingAlgorithm().schedule(framework, state, info, snapshot)
            Issue.record("the pod fits \(r.suggestedHost) without preemption")
            return (nil, .success, "")
        } catch {
            guard case .fit(var fit) = error else {
                Issue.record("unexpected failure \(error)")
                return (nil, .success, "")
            }
            let (r, s) = await framework.runPostFilter(state, info, fit.diagnosis)
            fit.diagnosis.postFilterMessage = s.message
            return (r, s, fit.message)
        }
    }

    /// Upstream's SelectVictimsOnNode on a copy of one node, after the pod's PreFilter.
    func victims(on node: String, for pod: CoreV1.Pod) -> (victims: [String], violations: Int, status: Status?) {
        let info = PodInfo(pod)
        let state = CycleState()
        _ = framework.runPreFilter(state, info, snapshot)
        let budgets = handle.listers.podDisruptionBudgets.list().map(DisruptionBudget.init)
        let (v, n, s) = Preemption.selectVictims(
            on: snapshot.get(node)!.clone(), for: info, state: state, framework: framework, budgets: budgets,
            now: Time(seconds: now))
        return (v.map(\.name), n, s)
    }
}

/// "Now" for pods without a start time: later than every start time the tests give.
private let now: Int64 = 1_000_000

extension Fixture {
    /// A PodDisruptionBudget selecting pods by labels (nil: no selector at all), with its status.
    fileprivate static func pdb(
        _ name: String, namespace: String = "default", matchLabels: [String: String]?, disruptionsAllowed: Int32,
        disruptedPods: [String] = []
    ) -> PolicyV1.PodDisruptionBudget {
        var b = PolicyV1.PodDisruptionBudget()
        b.metadata.name = name
        b.metadata.namespace = namespace
        b.spec.selector = matchLabels.map { MetaV1.LabelSelector(matchLabels: $0) }
        b.status.disruptionsAllowed = disruptionsAllowed
        for p in disruptedPods { b.status.disruptedPods[p] = Time(seconds: 1) }
        return b
    }

    /// A pod of some priority and CPU request, started at `started` seconds (nil: not started).
    fileprivate static func prio(
        _ name: String, _ priority: Int32, cpu: String = "1", started: Int64? = 100, labels: [String: String] = [:],
        configure: (inout CoreV1.Pod) -> Void = { _ in }
    ) -> CoreV1.Pod {
        pod(name, cpu: cpu, labels: labels, priority: priority) { p in
            p.status.startTime = started.map { Time(seconds: $0) }
            configure(&p)
        }
    }

    /// A pod the scheduler is deleting because it preempted it.
    fileprivate static func terminatingByPreemption(_ p: inout CoreV1.Pod) {
        p.metadata.deletionTimestamp = Time(seconds: 500)
        var c = CoreV1.PodCondition()
        c.type = "DisruptionTarget"
        c.status = "True"
        c.reason = "PreemptionByScheduler"
        c.message = "default-scheduler: preempting to accommodate a higher priority pod"
        p.status.conditions = [c]
    }
}

private let preemptMessage = "default-scheduler: preempting to accommodate a higher priority pod"

private func serverError(_ code: Int, _ reason: String) -> StatusError {
    var s = MetaV1.Status()
    s.reason = reason
    s.message = "\(reason) (\(code))"
    return StatusError(code: code, status: s)
}

@Suite("DefaultPreemption")
struct DefaultPreemptionTests {
    // MARK: victims on one node

    struct VictimCase: Sendable, CustomTestStringConvertible {
        var rule: String
        var nodeCPU = "3"
        var pods: [CoreV1.Pod]
        var budgets: [PolicyV1.PodDisruptionBudget] = []
        var preemptor: CoreV1.Pod
        var victims: [String] = []
        var violations = 0
        var status: Status? = nil
        var testDescription: String { rule }
    }

    static let victimCases: [VictimCase] = [
        VictimCase(
            rule:
                "SelectVictimsOnNode: lower-priority pods are put back most important first, so only the least important go",
            pods: [Fixture.prio("p1", 1), Fixture.prio("p2", 2), Fixture.prio("p3", 3)],
            preemptor: Fixture.prio("pre", 10), victims: ["p1"]),
        VictimCase(
            rule: "SelectVictimsOnNode: the victims are the fewest needed, most important first",
            pods: [Fixture.prio("p1", 1), Fixture.prio("p2", 2), Fixture.prio("p3", 3)],
            preemptor: Fixture.prio("pre", 10, cpu: "2"), victims: ["p2", "p1"]),
        VictimCase(
            rule: "isPreemptionAllowed: pods of equal or higher priority are never victims",
            pods: [Fixture.prio("eq", 10), Fixture.prio("hi", 20), Fixture.prio("lo", 1)],
            preemptor: Fixture.prio("pre", 10), victims: ["lo"]),
        VictimCase(
            rule: "SelectVictimsOnNode: a node with no lower-priority pod has no victims (unresolvable)",
            nodeCPU: "2", pods: [Fixture.prio("eq", 10), Fixture.prio("hi", 20)],
            preemptor: Fixture.prio("pre", 10),
            status: .unresolvable("No preemption victims found for incoming pod")),
        VictimCase(
            rule:
                "SelectVictimsOnNode: when evicting every lower-priority pod is not enough, the filter's status is answered",
            nodeCPU: "2", pods: [Fixture.prio("hi", 20), Fixture.prio("lo", 1)],
            preemptor: Fixture.prio("pre", 10, cpu: "2"), status: .unschedulable("Insufficient cpu")),
        VictimCase(
            rule: "MoreImportantPod: of equal priority, the pod running longer is kept",
            nodeCPU: "2", pods: [Fixture.prio("young", 1, started: 200), Fixture.prio("old", 1, started: 100)],
            preemptor: Fixture.prio("pre", 10), victims: ["young"]),
        VictimCase(
            rule: "GetPodStartTime: a pod not started yet counts as started now, the least important of its priority",
            nodeCPU: "2", pods: [Fixture.prio("new", 1, started: nil), Fixture.prio("started", 1, started: 100)],
            preemptor: Fixture.prio("pre", 10), victims: ["new"]),
        VictimCase(
            rule: "SelectVictimsOnNode: pods whose eviction would break a budget are put back first",
            nodeCPU: "2", pods: [Fixture.prio("guarded", 1, labels: ["app": "db"]), Fixture.prio("other", 2)],
            budgets: [Fixture.pdb("db", matchLabels: ["app": "db"], disruptionsAllowed: 0)],
            preemptor: Fixture.prio("pre", 10), victims: ["other"]),
        VictimCase(
            rule:
                "SelectVictimsOnNode: a budget violation that cannot be avoided is counted; victims stay most important first",
            nodeCPU: "2", pods: [Fixture.prio("guarded", 1, labels: ["app": "db"]), Fixture.prio("other", 2)],
            budgets: [Fixture.pdb("db", matchLabels: ["app": "db"], disruptionsAllowed: 0)],
            preemptor: Fixture.prio("pre", 10, cpu: "2"), victims: ["other", "guarded"], violations: 1),
        VictimCase(
            rule: "filterPodsWithPDBViolation: a budget's allowed disruptions are used up most important pod first",
            pods: [
                Fixture.prio("a", 1, started: 100, labels: ["app": "web"]),
                Fixture.prio("b", 1, started: 200, labels: ["app": "web"]), Fixture.prio("c", 2),
            ],
            budgets: [Fixture.pdb("web", matchLabels: ["app": "web"], disruptionsAllowed: 1)],
            preemptor: Fixture.prio("pre", 10, cpu: "2"), victims: ["c", "a"]),
        VictimCase(
            rule:
                "filterPodsWithPDBViolation: a pod already in the budget's disruptedPods does not use up its allowance",
            nodeCPU: "2", pods: [Fixture.prio("guarded", 1, labels: ["app": "db"]), Fixture.prio("other", 2)],
            budgets: [Fixture.pdb("db", matchLabels: ["app": "db"], disruptionsAllowed: 0, disruptedPods: ["guarded"])],
            preemptor: Fixture.prio("pre", 10), victims: ["guarded"]),
        VictimCase(
            rule:
                "filterPodsWithPDBViolation: budgets of another namespace, or with a missing or empty selector, protect nothing",
            nodeCPU: "2", pods: [Fixture.prio("guarded", 1, labels: ["app": "db"]), Fixture.prio("other", 2)],
            budgets: [
                Fixture.pdb("elsewhere", namespace: "other", matchLabels: ["app": "db"], disruptionsAllowed: 0),
                Fixture.pdb("empty", matchLabels: [:], disruptionsAllowed: 0),
                Fixture.pdb("missing", matchLabels: nil, disruptionsAllowed: 0),
            ],
            preemptor: Fixture.prio("pre", 10), victims: ["guarded"]),
    ]

    @Test(
        "Victims on a node are the fewest lower-priority pods, budget-protected ones spared first",
        arguments: victimCases)
    func victimsOnNode(_ c: VictimCase) throws {
        let cluster = try Cluster([(Fixture.node("n1", cpu: c.nodeCPU), c.pods)], budgets: c.budgets)
        let (victims, violations, status) = cluster.victims(on: "n1", for: c.preemptor)
        #expect(victims == c.victims)
        #expect(violations == c.violations)
        #expect(status?.code == c.status?.code)
        #expect(status?.reasons == c.status?.reasons)
    }

    // MARK: choosing a node

    struct PickCase: Sendable, CustomTestStringConvertible {
        var rule: String
        /// Per node: victims as (priority, start seconds), and budget violations.
        var nodes: [(name: String, victims: [(Int32, Int64)], violations: Int)]
        var chosen: String
        var testDescription: String { rule }
    }

    static let pickCases: [PickCase] = [
        PickCase(
            rule: "pickOneNodeForPreemption 1: fewest PDB violations, even with higher-priority victims",
            nodes: [("n1", [(1, 100)], 1), ("n2", [(5, 100)], 0)], chosen: "n2"),
        PickCase(
            rule: "pickOneNodeForPreemption 2: lowest highest-priority victim",
            nodes: [("n1", [(5, 100), (1, 100)], 0), ("n2", [(3, 100), (3, 100), (3, 100)], 0)], chosen: "n2"),
        PickCase(
            rule: "pickOneNodeForPreemption 3: smallest sum of victim priorities",
            nodes: [("n1", [(3, 100), (3, 100)], 0), ("n2", [(3, 100), (1, 100)], 0)], chosen: "n2"),
        PickCase(
            rule:
                "pickOneNodeForPreemption 3: priorities are summed shifted by MaxInt32+1, so more negative victims never sum less",
            nodes: [("n1", [(-10, 100), (-10, 100)], 0), ("n2", [(-10, 100)], 0)], chosen: "n2"),
        PickCase(
            rule: "pickOneNodeForPreemption 4: fewest victims when the sums tie",
            nodes: [("n1", [(0, 100), (Int32.min, 100)], 0), ("n2", [(0, 100)], 0)], chosen: "n2"),
        PickCase(
            rule: "pickOneNodeForPreemption 5: latest start of the highest-priority victims",
            nodes: [("n1", [(1, 100)], 0), ("n2", [(1, 200)], 0)], chosen: "n2"),
        PickCase(
            rule: "pickOneNodeForPreemption 5: only the highest-priority victims' start times count",
            nodes: [("n1", [(2, 300), (1, 50)], 0), ("n2", [(2, 200), (1, 400)], 0)], chosen: "n1"),
        PickCase(
            rule: "pickOneNodeForPreemption 6: a full tie goes to the first candidate",
            nodes: [("n1", [(1, 100)], 0), ("n2", [(1, 100)], 0)], chosen: "n1"),
    ]

    @Test("The node to preempt on is chosen by upstream's criteria in order", arguments: pickCases)
    func pickNode(_ c: PickCase) {
        let candidates = c.nodes.map { n in
            PreemptionCandidate(
                nodeName: n.name,
                victims: n.victims.enumerated().map { i, v in
                    PodInfo(Fixture.prio("\(n.name)-\(i)", v.0, started: v.1))
                }, numPDBViolations: n.violations)
        }
        #expect(Preemption.pickOneNode(candidates, now: Time(seconds: now)) == c.chosen)
    }

    @Test("Preemption prefers the node where no PodDisruptionBudget is broken")
    func budgetAwareNodeChoice() async throws {
        let cluster = try Cluster(
            [
                (Fixture.node("n1", cpu: "2"), [Fixture.prio("guarded", 1, cpu: "2", labels: ["app": "db"])]),
                (Fixture.node("n2", cpu: "2"), [Fixture.prio("other", 3, cpu: "2")]),
            ], budgets: [Fixture.pdb("db", matchLabels: ["app": "db"], disruptionsAllowed: 0)])
        let (result, status, _) = await cluster.preempt(Fixture.prio("pre", 10, cpu: "2"))
        #expect(status.isSuccess)
        #expect(result?.nominatedNodeName == "n2")
        #expect(
            cluster.plugin.actions == [
                .markDisruptionTarget("default/other", message: preemptMessage), .delete("default/other"),
            ])
    }

    // MARK: preparing the chosen node

    @Test("Preemption marks and deletes the victims, clears lower-priority nominations and nominates the node")
    func preemptsAndNominates() async throws {
        let cluster = try Cluster([
            (Fixture.node("n1", cpu: "2"), [Fixture.prio("low", 1, cpu: "2")]),
            (Fixture.node("n2", cpu: "2"), [Fixture.prio("mid", 5, cpu: "2")]),
        ])
        let nominatedLow = Fixture.prio("nominated-low", 2, cpu: "1") { $0.status.nominatedNodeName = "n1" }
        cluster.handle.nominator.set(PodInfo(nominatedLow), node: "n1")
        cluster.handle.listers.pods.upsert(nominatedLow)
        let (result, status, _) = await cluster.preempt(Fixture.prio("pre", 10, cpu: "2"))
        #expect(status == .success)
        #expect(result?.nominatedNodeName == "n1")
        #expect(
            cluster.plugin.actions == [
                .markDisruptionTarget("default/low", message: preemptMessage), .delete("default/low"),
                .clearNominatedNodeName("default/nominated-low"),
            ])
        #expect(cluster.handle.nominator.nominated(on: "n1").isEmpty)
    }

    @Test("The API writes: a DisruptionTarget status patch, then a DELETE, through the injected API")
    func apiWrites() async throws {
        let calls = Mutex<[String]>([])
        let api = PreemptionAPI(
            patchPodStatus: { pod, body in
                calls.withLock { $0.append("patch \(pod.metadata.name) \(String(decoding: body, as: UTF8.self))") }
            },
            deletePod: { pod in calls.withLock { $0.append("delete \(pod.metadata.name)") } })
        let cluster = try Cluster(
            [(Fixture.node("n1", cpu: "2"), [Fixture.prio("low", 1, cpu: "2") { $0.metadata.generation = 3 }])],
            api: api)
        let (result, status, _) = await cluster.preempt(Fixture.prio("pre", 10, cpu: "2"))
        #expect(status.isSuccess)
        #expect(result?.nominatedNodeName == "n1")
        let patch =
            #"{"status":{"conditions":[{"type":"DisruptionTarget","observedGeneration":3,"status":"True","lastProbeTime":null,"#
            + #""lastTransitionTime":"1970-01-12T13:46:40Z","reason":"PreemptionByScheduler","#
            + #""message":"default-scheduler: preempting to accommodate a higher priority pod"}]}}"#
        #expect(calls.withLock { $0 } == ["patch low \(patch)", "delete low"])
    }

    struct PrepareCase: Sendable, CustomTestStringConvertible {
        var rule: String
        var victim: CoreV1.Pod
        var patchError: StatusError? = nil
        var deleteError: StatusError? = nil
        var actions: [PreemptionAction]
        /// nil: success.
        var errorMessage: String? = nil
        var testDescription: String { rule }
    }

    static let prepareCases: [PrepareCase] = [
        PrepareCase(
            rule: "prepareCandidate: a victim already being deleted gets no API call",
            victim: Fixture.prio("low", 1, cpu: "2") { $0.metadata.deletionTimestamp = Time(seconds: 500) },
            actions: []),
        PrepareCase(
            rule: "PreemptPod: a victim already carrying the same DisruptionTarget condition is only deleted",
            victim: Fixture.prio("low", 1, cpu: "2") {
                Fixture.terminatingByPreemption(&$0)
                $0.metadata.deletionTimestamp = nil
            },
            actions: [.delete("default/low")]),
        PrepareCase(
            rule: "PreemptPod: a victim gone before the status patch is no failure, and is not deleted",
            victim: Fixture.prio("low", 1, cpu: "2"), patchError: serverError(404, "NotFound"),
            actions: [.markDisruptionTarget("default/low", message: preemptMessage)]),
        PrepareCase(
            rule: "PreemptPod: a victim gone before its DELETE is no failure",
            victim: Fixture.prio("low", 1, cpu: "2"), deleteError: serverError(404, "NotFound"),
            actions: [.markDisruptionTarget("default/low", message: preemptMessage), .delete("default/low")]),
        PrepareCase(
            rule: "prepareCandidate: any other failure is an error and nominates nothing",
            victim: Fixture.prio("low", 1, cpu: "2"), deleteError: serverError(500, "InternalError"),
            actions: [.markDisruptionTarget("default/low", message: preemptMessage), .delete("default/low")],
            errorMessage: "preemption: InternalError (500)"),
    ]

    @Test("Preparing the chosen node follows upstream's PreemptPod", arguments: prepareCases)
    func prepare(_ c: PrepareCase) async throws {
        let api = PreemptionAPI(
            patchPodStatus: { _, _ in if let e = c.patchError { throw e } },
            deletePod: { _ in if let e = c.deleteError { throw e } })
        let cluster = try Cluster([(Fixture.node("n1", cpu: "2"), [c.victim])], api: api)
        let (result, status, _) = await cluster.preempt(Fixture.prio("pre", 10, cpu: "2"))
        #expect(cluster.plugin.actions == c.actions)
        if let msg = c.errorMessage {
            #expect(status.code == .error)
            #expect(status.message == msg)
            #expect(result == nil)
        } else {
            #expect(status.isSuccess)
            #expect(result?.nominatedNodeName == "n1")
        }
    }

    // MARK: eligibility and failure messages

    @Test("A pod with preemptionPolicy Never does not preempt, and its nomination is left alone")
    func policyNever() async throws {
        let cluster = try Cluster([(Fixture.node("n1", cpu: "2"), [Fixture.prio("low", 1, cpu: "2")])])
        let pod = Fixture.prio("pre", 10, cpu: "2") { $0.spec.preemptionPolicy = "Never" }
        let (result, status, message) = await cluster.preempt(pod)
        #expect(result == nil)
        #expect(status.code == .unschedulable)
        #expect(status.message == "preemption: not eligible due to preemptionPolicy=Never.")
        #expect(
            message
                == "0/1 nodes are available: 1 Insufficient cpu. preemption: not eligible due to preemptionPolicy=Never."
        )
        #expect(cluster.plugin.actions.isEmpty)
    }

    struct EligibilityCase: Sendable, CustomTestStringConvertible {
        var rule: String
        var nominatedNodeStatus: Status?
        var onNominatedNode: CoreV1.Pod
        var reason: String?
        var testDescription: String { rule }
    }

    static let eligibilityCases: [EligibilityCase] = [
        EligibilityCase(
            rule:
                "PodEligibleToPreemptOthers: a lower-priority pod terminating by preemption on the nominated node blocks another preemption",
            nominatedNodeStatus: .unschedulable("Insufficient cpu"),
            onNominatedNode: Fixture.prio("victim", 1) { Fixture.terminatingByPreemption(&$0) },
            reason: "not eligible due to a terminating pod on the nominated node."),
        EligibilityCase(
            rule: "PodEligibleToPreemptOthers: a nominated node the filters found unresolvable does not block",
            nominatedNodeStatus: .unresolvable("node(s) had untolerated taint {dedicated: x}"),
            onNominatedNode: Fixture.prio("victim", 1) { Fixture.terminatingByPreemption(&$0) }, reason: nil),
        EligibilityCase(
            rule: "podTerminatingByPreemption: a pod deleted for another reason does not block",
            nominatedNodeStatus: .unschedulable("Insufficient cpu"),
            onNominatedNode: Fixture.prio("victim", 1) { $0.metadata.deletionTimestamp = Time(seconds: 500) },
            reason: nil),
        EligibilityCase(
            rule: "PodEligibleToPreemptOthers: a terminating pod of equal priority does not block",
            nominatedNodeStatus: .unschedulable("Insufficient cpu"),
            onNominatedNode: Fixture.prio("victim", 10) { Fixture.terminatingByPreemption(&$0) }, reason: nil),
    ]

    @Test("A pod already nominated waits for its victims to go before preempting again", arguments: eligibilityCases)
    func eligibility(_ c: EligibilityCase) {
        let snapshot = Snapshot([Fixture.nodeInfo(Fixture.node("n1"), [c.onNominatedNode])])
        let pod = Fixture.prio("pre", 10) { $0.status.nominatedNodeName = "n1" }
        #expect(
            Preemption.ineligibility(pod, nominatedNodeStatus: c.nominatedNodeStatus, snapshot: snapshot) == c.reason)
    }

    @Test("A nominated pod whose victim is still terminating gets upstream's message and keeps its nomination")
    func terminatingVictimMessage() async throws {
        let cluster = try Cluster([
            (
                Fixture.node("n1", cpu: "2"),
                [Fixture.prio("victim", 1, cpu: "2") { Fixture.terminatingByPreemption(&$0) }]
            )
        ])
        let (result, status, _) = await cluster.preempt(
            Fixture.prio("pre", 10, cpu: "2") { $0.status.nominatedNodeName = "n1" })
        #expect(result == nil)
        #expect(status.code == .unschedulable)
        #expect(status.message == "preemption: not eligible due to a terminating pod on the nominated node.")
    }

    struct MessageCase: Sendable, CustomTestStringConvertible {
        var rule: String
        var nodes: [(CoreV1.Node, [CoreV1.Pod])]
        var preemptor: CoreV1.Pod
        var postFilter: String
        var full: String
        var testDescription: String { rule }
    }

    static let messageCases: [MessageCase] = [
        MessageCase(
            rule:
                "Preempt: unresolvable nodes are 'not helpful', nodes without lower-priority pods 'no victims', others their filter reason",
            nodes: [
                (Fixture.node("t1", taints: [Fixture.taint("dedicated", "x")]), []),
                (Fixture.node("n2", cpu: "2"), [Fixture.prio("hi", 20, cpu: "2")]),
                (Fixture.node("n3", cpu: "3"), [Fixture.prio("hi3", 20, cpu: "2"), Fixture.prio("lo3", 1)]),
            ],
            preemptor: Fixture.prio("pre", 10, cpu: "2"),
            postFilter:
                "preemption: 0/3 nodes are available: 1 Insufficient cpu, 1 No preemption victims found for incoming pod, 1 Preemption is not helpful for scheduling.",
            full:
                "0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: x}, 2 Insufficient cpu. preemption: 0/3 nodes are available: 1 Insufficient cpu, 1 No preemption victims found for incoming pod, 1 Preemption is not helpful for scheduling."
        ),
        MessageCase(
            rule: "Preempt: a node too small even when empty is unresolvable, so preemption is not helpful",
            nodes: [(Fixture.node("n1", cpu: "1"), [Fixture.prio("lo", 1)])],
            preemptor: Fixture.prio("pre", 10, cpu: "2"),
            postFilter: "preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.",
            full:
                "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling."
        ),
        MessageCase(
            rule: "RunFilterPluginsWithNominatedPods: room taken by a higher-priority nominated pod cannot be freed",
            nodes: [(Fixture.node("n1", cpu: "2"), [Fixture.prio("lo", 1)])],
            preemptor: Fixture.prio("pre", 10, cpu: "2"),
            postFilter: "preemption: 0/1 nodes are available: 1 Insufficient cpu.",
            full:
                "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 Insufficient cpu."
        ),
    ]

    @Test(
        "Without a candidate, the message counts each node's reason and the nomination is cleared",
        arguments: messageCases)
    func noCandidateMessage(_ c: MessageCase) async throws {
        let cluster = try Cluster(c.nodes)
        // The third case: a pod of higher priority already nominated to n1 holds its CPU.
        if c.rule.hasPrefix("RunFilterPluginsWithNominatedPods") {
            cluster.handle.nominator.set(PodInfo(Fixture.prio("nominated-high", 20, cpu: "1")), node: "n1")
        }
        let (result, status, message) = await cluster.preempt(c.preemptor)
        #expect(result?.nominatedNodeName == "")
        #expect(status.code == .unschedulable)
        #expect(status.message == c.postFilter)
        #expect(message == c.full)
        #expect(cluster.plugin.actions.isEmpty)
    }

    // MARK: how many nodes are tried

    struct CountCase: Sendable, CustomTestStringConvertible {
        var numNodes: Int32
        var percentage: Int32
        var absolute: Int32
        var expected: Int32
        var testDescription: String {
            "calculateNumCandidates(\(numNodes)) with \(percentage)% and at least \(absolute) is \(expected)"
        }
    }

    @Test(
        "The number of candidates is the percentage of nodes, at least the absolute minimum, at most every node",
        arguments: [
            CountCase(numNodes: 0, percentage: 10, absolute: 100, expected: 0),
            CountCase(numNodes: 10, percentage: 5, absolute: 100, expected: 10),
            CountCase(numNodes: 100, percentage: 10, absolute: 100, expected: 100),
            CountCase(numNodes: 1000, percentage: 10, absolute: 100, expected: 100),
            CountCase(numNodes: 1000, percentage: 50, absolute: 100, expected: 500),
            CountCase(numNodes: 1000, percentage: 0, absolute: 150, expected: 150),
            CountCase(numNodes: 1000, percentage: 10, absolute: 0, expected: 100),
        ])
    func numCandidates(_ c: CountCase) {
        let args = DefaultPreemptionArgs(
            minCandidateNodesPercentage: c.percentage, minCandidateNodesAbsolute: c.absolute)
        #expect(args.numCandidates(numNodes: c.numNodes) == c.expected)
    }

    struct OffsetCase: Sendable, CustomTestStringConvertible {
        var rule: String
        var args: DefaultPreemptionArgs
        var offset: Int32
        var chosen: String
        var testDescription: String { rule }
    }

    @Test(
        "The dry run starts at the random offset and stops once enough candidates are found",
        arguments: [
            OffsetCase(
                rule: "DryRunPreemption: with every node tried, the best node wins",
                args: DefaultPreemptionArgs(), offset: 1, chosen: "n0"),
            OffsetCase(
                rule: "GetOffsetAndNumCandidates: one candidate wanted, the node at the offset is the only one tried",
                args: DefaultPreemptionArgs(minCandidateNodesPercentage: 0, minCandidateNodesAbsolute: 1), offset: 1,
                chosen: "n1"),
            OffsetCase(
                rule: "DryRunPreemption: the search wraps around from the offset",
                args: DefaultPreemptionArgs(minCandidateNodesPercentage: 0, minCandidateNodesAbsolute: 2), offset: 2,
                chosen: "n0"),
        ])
    func offsets(_ c: OffsetCase) async throws {
        let cluster = try Cluster(
            [
                (Fixture.node("n0", cpu: "1"), [Fixture.prio("v0", 1)]),
                (Fixture.node("n1", cpu: "1"), [Fixture.prio("v1", 5)]),
                (Fixture.node("n2", cpu: "1"), [Fixture.prio("v2", 3)]),
            ], args: c.args, offset: c.offset)
        let (result, status, _) = await cluster.preempt(Fixture.prio("pre", 10))
        #expect(status.isSuccess)
        #expect(result?.nominatedNodeName == c.chosen)
    }

    @Test("A candidate breaking a budget does not end the search for one that breaks none")
    func violatingCandidateKeepsSearching() async throws {
        let cluster = try Cluster(
            [
                (Fixture.node("n0", cpu: "1"), [Fixture.prio("guarded", 1, labels: ["app": "db"])]),
                (Fixture.node("n1", cpu: "1"), [Fixture.prio("v1", 5)]),
                (Fixture.node("n2", cpu: "1"), [Fixture.prio("v2", 2)]),
            ], budgets: [Fixture.pdb("db", matchLabels: ["app": "db"], disruptionsAllowed: 0)],
            args: DefaultPreemptionArgs(minCandidateNodesPercentage: 0, minCandidateNodesAbsolute: 1), offset: 0)
        let (result, status, _) = await cluster.preempt(Fixture.prio("pre", 10))
        #expect(status.isSuccess)
        // n0 breaks the budget, n1 does not and is enough: n2 (a better node) is never tried.
        #expect(result?.nominatedNodeName == "n1")
    }

    // MARK: args and registration

    struct ArgsCase: Sendable, CustomTestStringConvertible {
        var rule: String
        var percentage: Int32
        var absolute: Int32
        var errors: [String]
        var testDescription: String { rule }
    }

    static let argsCases: [ArgsCase] = [
        ArgsCase(
            rule: "ValidateDefaultPreemptionArgs: the defaults are valid", percentage: 10, absolute: 100, errors: []),
        ArgsCase(
            rule: "ValidateDefaultPreemptionArgs: percentage below 0", percentage: -1, absolute: 100,
            errors: ["minCandidateNodesPercentage: Invalid value: -1: not in valid range [0, 100]"]),
        ArgsCase(
            rule: "ValidateDefaultPreemptionArgs: percentage above 100", percentage: 900, absolute: 100,
            errors: ["minCandidateNodesPercentage: Invalid value: 900: not in valid range [0, 100]"]),
        ArgsCase(
            rule: "ValidateDefaultPreemptionArgs: negative absolute", percentage: 10, absolute: -1,
            errors: ["minCandidateNodesAbsolute: Invalid value: -1: not in valid range [0, inf)"]),
        ArgsCase(
            rule: "ValidateDefaultPreemptionArgs: both zero", percentage: 0, absolute: 0,
            errors: [
                "minCandidateNodesPercentage: Invalid value: 0: cannot be zero at the same time as minCandidateNodesAbsolute",
                "minCandidateNodesAbsolute: Invalid value: 0: cannot be zero at the same time as minCandidateNodesPercentage",
            ]),
        ArgsCase(
            rule: "ValidateDefaultPreemptionArgs: both out of range", percentage: -1, absolute: -2,
            errors: [
                "minCandidateNodesPercentage: Invalid value: -1: not in valid range [0, 100]",
                "minCandidateNodesAbsolute: Invalid value: -2: not in valid range [0, inf)",
            ]),
    ]

    @Test("Args are validated as upstream's ValidateDefaultPreemptionArgs", arguments: argsCases)
    func validateArgs(_ c: ArgsCase) throws {
        let args = DefaultPreemptionArgs(
            minCandidateNodesPercentage: c.percentage, minCandidateNodesAbsolute: c.absolute)
        #expect(args.validationErrors() == c.errors)
        let json = JSONValue.object([
            ("minCandidateNodesPercentage", .number("\(c.percentage)")),
            ("minCandidateNodesAbsolute", .number("\(c.absolute)")),
        ])
        let path = "profiles[0].pluginConfig[0].args"
        do {
            try PluginRegistry.argValidators["DefaultPreemption"]!(json, path)
            #expect(c.errors.isEmpty)
        } catch let e as SchedulerConfigurationError {
            #expect(e.description == c.errors.map { path + "." + $0 }.joined(separator: ", "))
        }
        // The plugin itself refuses invalid args, as upstream's New does.
        do {
            _ = try PluginRegistry.factories["DefaultPreemption"]!(json, Handle())
            #expect(c.errors.isEmpty)
        } catch let e as SchedulerConfigurationError {
            #expect(e.description == (c.errors.count == 1 ? c.errors[0] : "[" + c.errors.joined(separator: ", ") + "]"))
        }
    }

    @Test("A configuration with invalid DefaultPreemption args is refused with the field paths")
    func configurationValidation() throws {
        let yaml = """
            apiVersion: kubescheduler.config.k8s.io/v1
            kind: KubeSchedulerConfiguration
            profiles:
            - schedulerName: default-scheduler
              pluginConfig:
              - name: DefaultPreemption
                args:
                  minCandidateNodesPercentage: 0
                  minCandidateNodesAbsolute: 0
            """
        let error = #expect(throws: SchedulerConfigurationError.self) { try SchedulerConfiguration.load(yaml) }
        #expect(
            error?.description
                == "profiles[0].pluginConfig[0].args.minCandidateNodesPercentage: Invalid value: 0: cannot be zero at the same time as minCandidateNodesAbsolute, profiles[0].pluginConfig[0].args.minCandidateNodesAbsolute: Invalid value: 0: cannot be zero at the same time as minCandidateNodesPercentage"
        )
    }

    @Test("DefaultPreemption is a default plugin: the default profile runs it at PostFilter with the default args")
    func registration() throws {
        let config = SchedulerConfiguration.defaulted()
        let fwk = try PluginRegistry.framework(for: config.profiles[0], handle: Handle())
        #expect(fwk.postFilter.map(\.name) == ["DefaultPreemption"])
        let plugin = try #require(fwk.postFilter.first as? DefaultPreemption)
        #expect(plugin.args == DefaultPreemptionArgs(minCandidateNodesPercentage: 10, minCandidateNodesAbsolute: 100))
        // Args left out keep their defaults.
        let partial = try DefaultPreemptionArgs.decode(.object([("minCandidateNodesAbsolute", .number("5"))]))
        #expect(partial == DefaultPreemptionArgs(minCandidateNodesPercentage: 10, minCandidateNodesAbsolute: 5))
    }
}
