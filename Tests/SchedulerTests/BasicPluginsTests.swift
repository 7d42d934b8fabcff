import APICore
import APIMachinery
import Testing

@testable import Scheduler

/// One Filter case: a pod, a node (with pods on it), and the status Filter answers (nil: fits).
struct BasicFilterCase: CustomTestStringConvertible, Sendable {
    let name: String
    let pod: CoreV1.Pod
    let node: CoreV1.Node
    var podsOnNode: [CoreV1.Pod] = []
    let want: Status?
    var testDescription: String { name }
}

/// Builders for the basic plugins' cases.
enum BasicFixture {
    static let hostname = "kubernetes.io/hostname"

    static func tolerating(_ tolerations: CoreV1.Toleration...) -> CoreV1.Pod {
        Fixture.pod("p") { $0.spec.tolerations = tolerations }
    }

    static func tainted(_ taints: CoreV1.Taint...) -> CoreV1.Node { Fixture.node("n", taints: taints) }

    static func untolerated(_ key: String, _ value: String) -> Status {
        .unresolvable("node(s) had untolerated taint {\(key): \(value)}")
    }

    /// A pod whose required node affinity has these terms (each a list of requirements on labels,
    /// and optionally on fields).
    static func requiring(
        _ terms: [CoreV1.NodeSelectorRequirement]..., fields: [[CoreV1.NodeSelectorRequirement]] = [],
        nodeSelector: [String: String] = [:]
    ) -> CoreV1.Pod {
        Fixture.pod("p") { p in
            var all = terms.map { CoreV1.NodeSelectorTerm(matchExpressions: $0) }
            all += fields.map { CoreV1.NodeSelectorTerm(matchFields: $0) }
            if !all.isEmpty {
                p.spec.affinity = CoreV1.Affinity(
                    nodeAffinity: CoreV1.NodeAffinity(
                        requiredDuringSchedulingIgnoredDuringExecution: CoreV1.NodeSelector(nodeSelectorTerms: all)))
            }
            p.spec.nodeSelector = nodeSelector
        }
    }

    static let labelled = Fixture.node("n1", labels: ["zone": "a", "disk": "ssd", "cpus": "8"])
    static func r(_ key: String, _ op: String, _ values: [String] = []) -> CoreV1.NodeSelectorRequirement {
        Fixture.requirement(key, op, values)
    }
    static let podMismatch = Status.unresolvable(NodeAffinity.reasonPod)

    static func withPorts(_ name: String, _ ports: CoreV1.ContainerPort..., on node: String = "") -> CoreV1.Pod {
        Fixture.pod(name, containers: [Fixture.container("c", ports: ports)], nodeName: node)
    }

    /// PreScore, Score on every node, then NormalizeScore, as the framework runs a score plugin.
    static func scores(
        _ plugin: some PreScorePlugin & ScorePlugin, _ pod: CoreV1.Pod, _ nodes: [NodeInfo]
    ) -> [String: Int64]? {
        let state = CycleState()
        let info = PodInfo(pod)
        let snapshot = Snapshot(nodes)
        if plugin.preScore(state, info, nodes, snapshot)?.code == .skip { return nil }
        var scores = nodes.map { NodeScore(name: $0.name, score: plugin.score(state, info, $0)) }
        plugin.normalize(state, info, &scores)
        return Dictionary(uniqueKeysWithValues: scores.map { ($0.name, $0.score) })
    }
}

@Suite("Basic plugins")
struct BasicPluginsTests {
    typealias B = BasicFixture

    // MARK: NodeUnschedulable

    static let unschedulableCases: [BasicFilterCase] = [
        BasicFilterCase(
            name: "a schedulable node takes any pod", pod: Fixture.pod("p"), node: Fixture.node("n"), want: nil),
        BasicFilterCase(
            name: "an unschedulable node refuses a pod without the toleration: UnschedulableAndUnresolvable",
            pod: Fixture.pod("p"), node: Fixture.node("n", unschedulable: true),
            want: .unresolvable("node(s) were unschedulable")),
        BasicFilterCase(
            name: "a pod tolerating node.kubernetes.io/unschedulable:NoSchedule fits an unschedulable node",
            pod: B.tolerating(Fixture.toleration("node.kubernetes.io/unschedulable", "Exists", effect: "NoSchedule")),
            node: Fixture.node("n", unschedulable: true), want: nil),
        BasicFilterCase(
            name: "a pod tolerating every taint (empty key, Exists) fits an unschedulable node",
            pod: B.tolerating(Fixture.toleration("", "Exists")), node: Fixture.node("n", unschedulable: true),
            want: nil),
        BasicFilterCase(
            name: "tolerating the unschedulable key only for NoExecute does not tolerate NoSchedule",
            pod: B.tolerating(Fixture.toleration("node.kubernetes.io/unschedulable", "Exists", effect: "NoExecute")),
            node: Fixture.node("n", unschedulable: true), want: .unresolvable("node(s) were unschedulable")),
    ]

    @Test(
        "NodeUnschedulable: spec.unschedulable nodes take only pods tolerating the unschedulable taint",
        arguments: unschedulableCases)
    func nodeUnschedulable(_ c: BasicFilterCase) {
        #expect(NodeUnschedulable().filter(CycleState(), PodInfo(c.pod), Fixture.nodeInfo(c.node)) == c.want)
    }

    // MARK: NodeName

    static let nodeNameCases: [BasicFilterCase] = [
        BasicFilterCase(
            name: "a pod naming no node fits any node", pod: Fixture.pod("p"), node: Fixture.node("n"), want: nil),
        BasicFilterCase(
            name: "a pod naming this node fits it", pod: Fixture.pod("p", nodeName: "n"), node: Fixture.node("n"),
            want: nil),
        BasicFilterCase(
            name: "a pod naming another node is UnschedulableAndUnresolvable here",
            pod: Fixture.pod("p", nodeName: "other"), node: Fixture.node("n"),
            want: .unresolvable("node(s) didn't match the requested node name")),
    ]

    @Test("NodeName: spec.nodeName must name the node", arguments: nodeNameCases)
    func nodeName(_ c: BasicFilterCase) {
        #expect(NodeName().filter(CycleState(), PodInfo(c.pod), Fixture.nodeInfo(c.node)) == c.want)
    }

    // MARK: TaintToleration

    static let taintCases: [BasicFilterCase] = [
        BasicFilterCase(
            name: "a node without taints takes any pod", pod: Fixture.pod("p"), node: B.tainted(), want: nil),
        BasicFilterCase(
            name: "an untolerated NoSchedule taint rejects, naming the taint",
            pod: Fixture.pod("p"), node: B.tainted(Fixture.taint("dedicated", "gpu", "NoSchedule")),
            want: B.untolerated("dedicated", "gpu")),
        BasicFilterCase(
            name: "an untolerated NoExecute taint rejects",
            pod: Fixture.pod("p"), node: B.tainted(Fixture.taint("dedicated", "gpu", "NoExecute")),
            want: B.untolerated("dedicated", "gpu")),
        BasicFilterCase(
            name: "an untolerated PreferNoSchedule taint is left to scoring",
            pod: Fixture.pod("p"), node: B.tainted(Fixture.taint("dedicated", "gpu", "PreferNoSchedule")), want: nil),
        BasicFilterCase(
            name: "a taint without value is printed with an empty value",
            pod: Fixture.pod("p"), node: B.tainted(Fixture.taint("node-role.kubernetes.io/control-plane")),
            want: B.untolerated("node-role.kubernetes.io/control-plane", "")),
        BasicFilterCase(
            name: "Equal with the same key, value and effect tolerates",
            pod: B.tolerating(Fixture.toleration("dedicated", "Equal", "gpu", effect: "NoSchedule")),
            node: B.tainted(Fixture.taint("dedicated", "gpu")), want: nil),
        BasicFilterCase(
            name: "no operator means Equal",
            pod: B.tolerating(Fixture.toleration("dedicated", "", "gpu")),
            node: B.tainted(Fixture.taint("dedicated", "gpu")),
            want: nil),
        BasicFilterCase(
            name: "Equal with another value does not tolerate",
            pod: B.tolerating(Fixture.toleration("dedicated", "Equal", "cpu")),
            node: B.tainted(Fixture.taint("dedicated", "gpu")), want: B.untolerated("dedicated", "gpu")),
        BasicFilterCase(
            name: "Exists tolerates the key with any value",
            pod: B.tolerating(Fixture.toleration("dedicated", "Exists")),
            node: B.tainted(Fixture.taint("dedicated", "gpu")),
            want: nil),
        BasicFilterCase(
            name: "an empty key with Exists tolerates every taint",
            pod: B.tolerating(Fixture.toleration("", "Exists")),
            node: B.tainted(Fixture.taint("a", "1"), Fixture.taint("b", "2", "NoExecute")), want: nil),
        BasicFilterCase(
            name: "a toleration for NoSchedule does not tolerate NoExecute",
            pod: B.tolerating(Fixture.toleration("dedicated", "Exists", effect: "NoSchedule")),
            node: B.tainted(Fixture.taint("dedicated", "gpu", "NoExecute")), want: B.untolerated("dedicated", "gpu")),
        BasicFilterCase(
            name: "a toleration without effect tolerates every effect",
            pod: B.tolerating(Fixture.toleration("dedicated", "Exists")),
            node: B.tainted(Fixture.taint("dedicated", "gpu", "NoExecute")), want: nil),
        BasicFilterCase(
            name: "the first untolerated taint is the one reported",
            pod: B.tolerating(Fixture.toleration("a", "Exists")),
            node: B.tainted(Fixture.taint("a", "1"), Fixture.taint("b", "2"), Fixture.taint("c", "3")),
            want: B.untolerated("b", "2")),
    ]

    @Test("TaintToleration Filter: NoSchedule and NoExecute taints must be tolerated", arguments: taintCases)
    func taintFilter(_ c: BasicFilterCase) {
        #expect(TaintToleration().filter(CycleState(), PodInfo(c.pod), Fixture.nodeInfo(c.node)) == c.want)
    }

    @Test("TaintToleration Score: fewest untolerated PreferNoSchedule taints scores 100, the most 0")
    func taintScore() {
        let prefer = { (k: String) in Fixture.taint(k, "x", "PreferNoSchedule") }
        let nodes = [
            Fixture.nodeInfo(Fixture.node("none")),
            Fixture.nodeInfo(Fixture.node("one", taints: [prefer("a")])),
            Fixture.nodeInfo(Fixture.node("two", taints: [prefer("a"), prefer("b")])),
            Fixture.nodeInfo(Fixture.node("tolerated", taints: [prefer("c")])),
            Fixture.nodeInfo(Fixture.node("hard-only", taints: [Fixture.taint("a", "x", "NoSchedule")])),
            // A toleration for NoSchedule only does not count for a PreferNoSchedule taint.
            Fixture.nodeInfo(Fixture.node("wrong-effect", taints: [prefer("d")])),
        ]
        let pod = B.tolerating(
            Fixture.toleration("c", "Exists", effect: "PreferNoSchedule"),
            Fixture.toleration("d", "Exists", effect: "NoSchedule"))
        #expect(
            B.scores(TaintToleration(), pod, nodes)
                == ["none": 100, "one": 50, "two": 0, "tolerated": 100, "hard-only": 100, "wrong-effect": 50])
    }

    @Test("TaintToleration Score: with no untolerated PreferNoSchedule taint anywhere every node scores 100")
    func taintScoreAllZero() {
        let nodes = [Fixture.nodeInfo(Fixture.node("a")), Fixture.nodeInfo(Fixture.node("b"))]
        #expect(B.scores(TaintToleration(), Fixture.pod("p"), nodes) == ["a": 100, "b": 100])
    }

    // MARK: NodeAffinity

    static let affinityCases: [BasicFilterCase] = [
        BasicFilterCase(name: "no selector and no affinity fits", pod: Fixture.pod("p"), node: B.labelled, want: nil),
        BasicFilterCase(
            name: "nodeSelector matching the labels fits",
            pod: B.requiring(nodeSelector: ["zone": "a", "disk": "ssd"]),
            node: B.labelled, want: nil),
        BasicFilterCase(
            name: "nodeSelector with one label differing is UnschedulableAndUnresolvable",
            pod: B.requiring(nodeSelector: ["zone": "a", "disk": "hdd"]), node: B.labelled, want: B.podMismatch),
        BasicFilterCase(
            name: "required terms are OR-ed: one matching term suffices",
            pod: B.requiring([B.r("zone", "In", ["b"])], [B.r("disk", "In", ["ssd"])]), node: B.labelled, want: nil),
        BasicFilterCase(
            name: "expressions of one term are AND-ed: one failing fails the term",
            pod: B.requiring([B.r("zone", "In", ["a"]), B.r("disk", "In", ["hdd"])]), node: B.labelled,
            want: B.podMismatch),
        BasicFilterCase(
            name: "nodeSelector and required affinity must both hold",
            pod: B.requiring([B.r("zone", "In", ["a"])], nodeSelector: ["disk": "hdd"]), node: B.labelled,
            want: B.podMismatch),
        BasicFilterCase(
            name: "In: the label's value among the values", pod: B.requiring([B.r("zone", "In", ["b", "a"])]),
            node: B.labelled, want: nil),
        BasicFilterCase(
            name: "In: a missing label does not match", pod: B.requiring([B.r("gpu", "In", ["yes"])]), node: B.labelled,
            want: B.podMismatch),
        BasicFilterCase(
            name: "NotIn: the value is not among the values", pod: B.requiring([B.r("zone", "NotIn", ["a"])]),
            node: B.labelled, want: B.podMismatch),
        BasicFilterCase(
            name: "NotIn: a missing label matches", pod: B.requiring([B.r("gpu", "NotIn", ["yes"])]), node: B.labelled,
            want: nil),
        BasicFilterCase(
            name: "Exists: the label is present", pod: B.requiring([B.r("disk", "Exists")]), node: B.labelled, want: nil
        ),
        BasicFilterCase(
            name: "DoesNotExist: the label is present, no match", pod: B.requiring([B.r("disk", "DoesNotExist")]),
            node: B.labelled, want: B.podMismatch),
        BasicFilterCase(
            name: "DoesNotExist: a missing label matches", pod: B.requiring([B.r("gpu", "DoesNotExist")]),
            node: B.labelled, want: nil),
        BasicFilterCase(
            name: "Gt: the label's integer is greater", pod: B.requiring([B.r("cpus", "Gt", ["4"])]), node: B.labelled,
            want: nil),
        BasicFilterCase(
            name: "Gt: an equal integer is not greater", pod: B.requiring([B.r("cpus", "Gt", ["8"])]), node: B.labelled,
            want: B.podMismatch),
        BasicFilterCase(
            name: "Lt: the label's integer is smaller", pod: B.requiring([B.r("cpus", "Lt", ["16"])]), node: B.labelled,
            want: nil),
        BasicFilterCase(
            name: "Lt: a larger integer does not match", pod: B.requiring([B.r("cpus", "Lt", ["4"])]), node: B.labelled,
            want: B.podMismatch),
        BasicFilterCase(
            name: "Gt: a label that is not an integer does not match", pod: B.requiring([B.r("zone", "Gt", ["1"])]),
            node: B.labelled, want: B.podMismatch),
        BasicFilterCase(
            name: "a term without requirements matches no node", pod: B.requiring([]), node: B.labelled,
            want: B.podMismatch),
        BasicFilterCase(
            name: "matchFields metadata.name In the node's name fits",
            pod: B.requiring(fields: [[B.r("metadata.name", "In", ["n1"])]]), node: B.labelled, want: nil),
        BasicFilterCase(
            name: "matchFields metadata.name In another name does not",
            pod: B.requiring(fields: [[B.r("metadata.name", "In", ["n2"])]]), node: B.labelled, want: B.podMismatch),
    ]

    @Test("NodeAffinity Filter: nodeSelector and required node affinity", arguments: affinityCases)
    func nodeAffinityFilter(_ c: BasicFilterCase) {
        let pl = NodeAffinity()
        let state = CycleState()
        _ = pl.preFilter(state, PodInfo(c.pod), Snapshot([Fixture.nodeInfo(c.node)]))
        #expect(pl.filter(state, PodInfo(c.pod), Fixture.nodeInfo(c.node)) == c.want)
    }

    struct PreFilterCase: CustomTestStringConvertible, Sendable {
        let name: String
        let pod: CoreV1.Pod
        var added: CoreV1.NodeAffinity? = nil
        /// nil: every node remains; skip: PreFilter answers Skip.
        let nodes: Set<String>?
        var status: Status? = nil
        var testDescription: String { name }
    }

    static let preFilterCases: [PreFilterCase] = [
        PreFilterCase(
            name: "no nodeSelector, no required affinity, no addedAffinity: Skip", pod: Fixture.pod("p"), nodes: nil,
            status: .skip),
        PreFilterCase(
            name: "a nodeSelector alone keeps every node", pod: B.requiring(nodeSelector: ["zone": "a"]), nodes: nil),
        PreFilterCase(
            name: "addedAffinity alone makes PreFilter run (no Skip)", pod: Fixture.pod("p"),
            added: CoreV1.NodeAffinity(
                requiredDuringSchedulingIgnoredDuringExecution: CoreV1.NodeSelector(nodeSelectorTerms: [
                    CoreV1.NodeSelectorTerm(matchExpressions: [B.r("zone", "In", ["a"])])
                ])), nodes: nil),
        PreFilterCase(
            name: "label expressions do not narrow the nodes", pod: B.requiring([B.r("zone", "In", ["a"])]), nodes: nil),
        PreFilterCase(
            name: "metadata.name In narrows to those names",
            pod: B.requiring(fields: [[B.r("metadata.name", "In", ["n1", "n2"])]]), nodes: ["n1", "n2"]),
        PreFilterCase(
            name: "names of OR-ed terms are united",
            pod: B.requiring(fields: [[B.r("metadata.name", "In", ["n1"])], [B.r("metadata.name", "In", ["n3"])]]),
            nodes: ["n1", "n3"]),
        PreFilterCase(
            name: "names required twice within one term are intersected",
            pod: B.requiring(fields: [
                [B.r("metadata.name", "In", ["n1", "n2"]), B.r("metadata.name", "In", ["n2", "n3"])]
            ]),
            nodes: ["n2"]),
        PreFilterCase(
            name: "a term without a metadata.name requirement leaves every node eligible",
            pod: B.requiring([B.r("zone", "In", ["a"])], fields: [[B.r("metadata.name", "In", ["n1"])]]), nodes: nil),
        PreFilterCase(
            name: "metadata.name NotIn does not narrow",
            pod: B.requiring(fields: [[B.r("metadata.name", "NotIn", ["n1"])]]), nodes: nil),
        PreFilterCase(
            name: "every term naming disjoint nodes: pod affinity terms conflict, UnschedulableAndUnresolvable",
            pod: B.requiring(fields: [[B.r("metadata.name", "In", ["n1"]), B.r("metadata.name", "In", ["n2"])]]),
            nodes: nil, status: .unresolvable("pod affinity terms conflict")),
    ]

    @Test("NodeAffinity PreFilter narrows the nodes to those named by metadata.name", arguments: preFilterCases)
    func nodeAffinityPreFilter(_ c: PreFilterCase) {
        let (r, s) = NodeAffinity(addedAffinity: c.added).preFilter(CycleState(), PodInfo(c.pod), Snapshot())
        #expect(r?.nodeNames == c.nodes)
        #expect(s == c.status)
    }

    @Test("NodeAffinity addedAffinity: nodes outside it are refused as scheduler-enforced, before the pod's own")
    func addedAffinity() {
        let added = CoreV1.NodeAffinity(
            requiredDuringSchedulingIgnoredDuringExecution: CoreV1.NodeSelector(nodeSelectorTerms: [
                CoreV1.NodeSelectorTerm(matchExpressions: [B.r("zone", "In", ["b"])])
            ]))
        let pl = NodeAffinity(addedAffinity: added)
        let enforced = Status.unresolvable("node(s) didn't match scheduler-enforced node affinity")
        let zoneA = Fixture.nodeInfo(B.labelled)
        let zoneB = Fixture.nodeInfo(Fixture.node("n2", labels: ["zone": "b"]))
        #expect(pl.filter(CycleState(), PodInfo(Fixture.pod("p")), zoneA) == enforced)
        #expect(pl.filter(CycleState(), PodInfo(Fixture.pod("p")), zoneB) == nil)
        // A pod whose own affinity also fails zone a hears about the enforced affinity.
        #expect(pl.filter(CycleState(), PodInfo(B.requiring(nodeSelector: ["disk": "hdd"])), zoneA) == enforced)
        #expect(pl.filter(CycleState(), PodInfo(B.requiring(nodeSelector: ["disk": "hdd"])), zoneB) == B.podMismatch)
    }

    @Test("NodeAffinity Score: the weights of matching preferred terms, normalized so the best node is 100")
    func nodeAffinityScore() {
        let pod = Fixture.pod("p") { p in
            p.spec.affinity = CoreV1.Affinity(
                nodeAffinity: CoreV1.NodeAffinity(preferredDuringSchedulingIgnoredDuringExecution: [
                    CoreV1.PreferredSchedulingTerm(
                        weight: 2, preference: CoreV1.NodeSelectorTerm(matchExpressions: [B.r("zone", "In", ["a"])])),
                    CoreV1.PreferredSchedulingTerm(
                        weight: 5, preference: CoreV1.NodeSelectorTerm(matchExpressions: [B.r("disk", "In", ["ssd"])])),
                ]))
        }
        let nodes = [
            Fixture.nodeInfo(Fixture.node("both", labels: ["zone": "a", "disk": "ssd"])),
            Fixture.nodeInfo(Fixture.node("zone", labels: ["zone": "a"])),
            Fixture.nodeInfo(Fixture.node("none")),
        ]
        // Raw 7, 2, 0: 100·2/7 truncates to 28.
        #expect(B.scores(NodeAffinity(), pod, nodes) == ["both": 100, "zone": 28, "none": 0])
        // Without preferred terms (and none added) PreScore skips.
        #expect(B.scores(NodeAffinity(), Fixture.pod("q"), nodes) == nil)
        // addedAffinity's preferred terms count for every pod.
        let added = CoreV1.NodeAffinity(preferredDuringSchedulingIgnoredDuringExecution: [
            CoreV1.PreferredSchedulingTerm(
                weight: 10, preference: CoreV1.NodeSelectorTerm(matchExpressions: [B.r("disk", "Exists")]))
        ])
        #expect(
            B.scores(NodeAffinity(addedAffinity: added), Fixture.pod("q"), nodes) == [
                "both": 100, "zone": 0, "none": 0,
            ])
    }

    // MARK: NodePorts

    static let portCases: [BasicFilterCase] = [
        BasicFilterCase(
            name: "0.0.0.0 held: any IP on the same port and protocol conflicts",
            pod: B.withPorts("in", Fixture.hostPort(8080, "TCP", ip: "127.0.0.1")), node: Fixture.node("n"),
            podsOnNode: [B.withPorts("held", Fixture.hostPort(8080, "TCP", ip: "0.0.0.0"))],
            want: .unschedulable("node(s) didn't have free ports for the requested pod ports")),
        BasicFilterCase(
            name: "0.0.0.0 wanted: conflicts with the port held on a specific IP",
            pod: B.withPorts("in", Fixture.hostPort(8080, "TCP", ip: "0.0.0.0")), node: Fixture.node("n"),
            podsOnNode: [B.withPorts("held", Fixture.hostPort(8080, "TCP", ip: "10.0.0.1"))],
            want: .unschedulable("node(s) didn't have free ports for the requested pod ports")),
        BasicFilterCase(
            name: "the same port on two different IPs does not conflict",
            pod: B.withPorts("in", Fixture.hostPort(8080, "TCP", ip: "10.0.0.2")), node: Fixture.node("n"),
            podsOnNode: [B.withPorts("held", Fixture.hostPort(8080, "TCP", ip: "10.0.0.1"))], want: nil),
        BasicFilterCase(
            name: "the same port with another protocol does not conflict",
            pod: B.withPorts("in", Fixture.hostPort(8080, "UDP")), node: Fixture.node("n"),
            podsOnNode: [B.withPorts("held", Fixture.hostPort(8080, "TCP"))], want: nil),
        BasicFilterCase(
            name: "another port does not conflict", pod: B.withPorts("in", Fixture.hostPort(8081, "TCP")),
            node: Fixture.node("n"), podsOnNode: [B.withPorts("held", Fixture.hostPort(8080, "TCP"))], want: nil),
        BasicFilterCase(
            name: "an empty hostIP means 0.0.0.0 and an empty protocol TCP",
            pod: B.withPorts("in", Fixture.hostPort(8080, "TCP", ip: "10.0.0.1")), node: Fixture.node("n"),
            podsOnNode: [B.withPorts("held", Fixture.hostPort(8080))],
            want: .unschedulable("node(s) didn't have free ports for the requested pod ports")),
    ]

    @Test(
        "NodePorts: a host port is free unless the same protocol and port is held on the same IP or 0.0.0.0",
        arguments: portCases)
    func nodePorts(_ c: BasicFilterCase) {
        let pl = NodePorts()
        let state = CycleState()
        let node = Fixture.nodeInfo(c.node, c.podsOnNode)
        #expect(pl.preFilter(state, PodInfo(c.pod), Snapshot([node])).1 == nil)
        #expect(pl.filter(state, PodInfo(c.pod), node) == c.want)
    }

    @Test("NodePorts PreFilter skips a pod without host ports")
    func nodePortsSkip() {
        let pod = Fixture.pod("p", containers: [Fixture.container("c", ports: [Fixture.hostPort(0)])])
        #expect(NodePorts().preFilter(CycleState(), PodInfo(pod), Snapshot()).1 == .skip)
    }

    // MARK: ImageLocality

    struct ImageCase: CustomTestStringConvertible, Sendable {
        let name: String
        let containers: [String]
        var initContainers: [String] = []
        /// Images (names, MB) on node-0, and the images on every node.
        var onNode0: [([String], Int64)] = []
        var onAll: [([String], Int64)] = []
        let want: Int64
        var testDescription: String { name }
    }

    static let mb: Int64 = 1024 * 1024

    static let imageCases: [ImageCase] = [
        ImageCase(name: "no image present scores 0", containers: ["gcr.io/app:v1"], want: 0),
        ImageCase(
            name: "500MB on all 3 nodes: (500MB − 23MB) / (1000MB − 23MB)", containers: ["gcr.io/app:v1"],
            onAll: [(["gcr.io/app:v1"], 500)], want: 48),
        ImageCase(
            name: "500MB on 1 of 3 nodes is scaled by its spread 1/3", containers: ["gcr.io/app:v1"],
            onNode0: [(["gcr.io/app:v1"], 500)], want: 14),
        ImageCase(
            name: "an image below the 23MB threshold scores 0", containers: ["gcr.io/small:v1"],
            onAll: [(["gcr.io/small:v1"], 20)], want: 0),
        ImageCase(
            name: "an image above 1000MB per container scores 100", containers: ["gcr.io/huge:v1"],
            onAll: [(["gcr.io/huge:v1"], 2000)], want: 100),
        ImageCase(
            name: "the upper threshold is 1000MB per container, init containers included",
            containers: ["gcr.io/app:v1"], initContainers: ["gcr.io/init:v1"],
            onAll: [(["gcr.io/app:v1"], 800), (["gcr.io/init:v1"], 800)], want: 79),
        ImageCase(
            name: "one of two containers' images present is measured against 2000MB",
            containers: ["gcr.io/app:v1", "gcr.io/side:v1"], onAll: [(["gcr.io/app:v1"], 800)], want: 39),
        ImageCase(
            name: "an image without tag is the :latest the node lists", containers: ["gcr.io/app"],
            onAll: [(["gcr.io/app:latest"], 500)], want: 48),
        ImageCase(
            name: "a registry port is not a tag", containers: ["localhost:5000/app"],
            onAll: [(["localhost:5000/app:latest"], 500)], want: 48),
        ImageCase(
            name: "any of the image's names on the node counts", containers: ["app:v1"],
            onAll: [(["docker.io/library/app:v1", "app:v1"], 500)], want: 48),
    ]

    @Test(
        "ImageLocality scores the sizes of the pod's images on the node, spread by how many nodes have them",
        arguments: imageCases)
    func imageLocality(_ c: ImageCase) {
        let nodes = (0..<3).map { i in
            let images = (i == 0 ? c.onNode0 : []) + c.onAll
            return Fixture.nodeInfo(Fixture.node("node-\(i)", images: images.map { ($0.0, $0.1 * Self.mb) }))
        }
        let pod = Fixture.pod(
            "p", containers: c.containers.enumerated().map { Fixture.container("c\($0)", image: $1) },
            initContainers: c.initContainers.enumerated().map { Fixture.container("i\($0)", image: $1) })
        let snapshot = Snapshot(nodes)
        #expect(ImageLocality(snapshot: snapshot).score(CycleState(), PodInfo(pod), nodes[0]) == c.want)
    }

    @Test(
        "ImageLocality normalizes an image name without tag to :latest",
        arguments: [
            ("nginx", "nginx:latest"), ("nginx:1.27", "nginx:1.27"), ("gcr.io/a/b", "gcr.io/a/b:latest"),
            ("localhost:5000/app", "localhost:5000/app:latest"), ("localhost:5000/app:v2", "localhost:5000/app:v2"),
            ("app@sha256:abcd", "app@sha256:abcd"),
        ])
    func imageName(_ image: String, _ want: String) {
        #expect(ImageLocality.normalized(image) == want)
    }

    // MARK: PrioritySort

    struct SortCase: CustomTestStringConvertible, Sendable {
        let name: String
        let a: (priority: Int32?, queuedAt: Double)
        let b: (priority: Int32?, queuedAt: Double)
        let aFirst: Bool
        var testDescription: String { name }
    }

    static let sortCases: [SortCase] = [
        SortCase(name: "higher priority first, though queued later", a: (10, 5), b: (1, 1), aFirst: true),
        SortCase(name: "lower priority after, though queued earlier", a: (1, 1), b: (10, 5), aFirst: false),
        SortCase(name: "equal priorities: the one queued earlier first", a: (5, 1), b: (5, 2), aFirst: true),
        SortCase(name: "equal priorities: the one queued later after", a: (5, 2), b: (5, 1), aFirst: false),
        SortCase(name: "equal priority and time: not less", a: (5, 1), b: (5, 1), aFirst: false),
        SortCase(name: "an unset priority is 0: below 1", a: (nil, 0), b: (1, 9), aFirst: false),
        SortCase(name: "an unset priority is 0: above -1", a: (nil, 9), b: (-1, 0), aFirst: true),
    ]

    @Test("PrioritySort: the higher priority sorts first, then the earlier queued", arguments: sortCases)
    func prioritySort(_ c: SortCase) {
        let a = QueuedPodInfo(PodInfo(Fixture.pod("a", priority: c.a.priority)), now: c.a.queuedAt)
        let b = QueuedPodInfo(PodInfo(Fixture.pod("b", priority: c.b.priority)), now: c.b.queuedAt)
        #expect(PrioritySort().less(a, b) == c.aFirst)
    }
}
