import APICore
import APIMachinery
import Testing

@testable import Scheduler

/// Builders and runners for pod (anti-)affinity scenarios: nodes in regions and zones, placed pods
/// with their terms, and namespaces with labels.
enum AffinityFixture {
    /// node-1 (r1/z11), node-2 (r1/z12), node-3 (r2/z21).
    static let threeNodes = [node("node-1", "r1", "z11"), node("node-2", "r1", "z12"), node("node-3", "r2", "z21")]
    /// The three nodes and node-4, which has a zone but no region.
    static let fourNodes = threeNodes + [node("node-4", nil, "z41")]

    static func node(_ name: String, _ region: String?, _ zone: String?) -> CoreV1.Node {
        var l: [String: String] = [:]
        if let region { l["region"] = region }
        if let zone { l["zone"] = zone }
        return Fixture.node(name, labels: l)
    }

    static func term(
        _ labels: [String: String], _ key: String, namespaces: [String] = [],
        namespaceSelector: MetaV1.LabelSelector? = nil
    ) -> CoreV1.PodAffinityTerm {
        CoreV1.PodAffinityTerm(
            labelSelector: MetaV1.LabelSelector(matchLabels: labels), namespaces: namespaces, topologyKey: key,
            namespaceSelector: namespaceSelector)
    }

    static func weighted(_ w: Int32, _ t: CoreV1.PodAffinityTerm) -> CoreV1.WeightedPodAffinityTerm {
        CoreV1.WeightedPodAffinityTerm(weight: w, podAffinityTerm: t)
    }

    static func pod(
        _ name: String, namespace: String = "default", labels: [String: String] = [:], on node: String = "",
        affinity: [CoreV1.PodAffinityTerm] = [], anti: [CoreV1.PodAffinityTerm] = [],
        preferred: [CoreV1.WeightedPodAffinityTerm] = [], preferredAnti: [CoreV1.WeightedPodAffinityTerm] = []
    ) -> CoreV1.Pod {
        Fixture.pod(name, namespace: namespace, labels: labels, nodeName: node) { p in
            if affinity.isEmpty && anti.isEmpty && preferred.isEmpty && preferredAnti.isEmpty { return }
            p.spec.affinity = CoreV1.Affinity(
                podAffinity: affinity.isEmpty && preferred.isEmpty
                    ? nil
                    : CoreV1.PodAffinity(
                        requiredDuringSchedulingIgnoredDuringExecution: affinity,
                        preferredDuringSchedulingIgnoredDuringExecution: preferred),
                podAntiAffinity: anti.isEmpty && preferredAnti.isEmpty
                    ? nil
                    : CoreV1.PodAntiAffinity(
                        requiredDuringSchedulingIgnoredDuringExecution: anti,
                        preferredDuringSchedulingIgnoredDuringExecution: preferredAnti))
        }
    }

    /// A snapshot of the nodes with the placed pods, and namespace name → labels for namespace
    /// selectors (namespaces not listed do not exist).
    static func snapshot(
        _ nodes: [CoreV1.Node], _ pods: [CoreV1.Pod], namespaces: [String: [String: String]] = [:]
    ) -> Snapshot {
        let snap = Snapshot(nodes.map { n in Fixture.nodeInfo(n, pods.filter { $0.spec.nodeName == n.metadata.name }) })
        snap.namespaceLabels = { namespaces[$0] }
        return snap
    }

    /// PreFilter then Filter on every node; nil when PreFilter skips.
    static func filter(_ pl: InterPodAffinity, _ pod: CoreV1.Pod, _ snap: Snapshot) -> [String: Status?]? {
        let state = CycleState()
        let pi = PodInfo(pod)
        let (_, s) = pl.preFilter(state, pi, snap)
        if s?.code == .skip { return nil }
        var out: [String: Status?] = [:]
        for ni in snap.nodeInfoList { out[ni.name] = .some(pl.filter(state, pi, ni)) }
        return out
    }

    /// PreScore over every node, Score, NormalizeScore; nil when PreScore skips.
    static func score(_ pl: InterPodAffinity, _ pod: CoreV1.Pod, _ snap: Snapshot) -> [String: Int64]? {
        let state = CycleState()
        let pi = PodInfo(pod)
        if pl.preScore(state, pi, snap.nodeInfoList, snap)?.code == .skip { return nil }
        var scores = snap.nodeInfoList.map { NodeScore(name: $0.name, score: pl.score(state, pi, $0)) }
        pl.normalize(state, pi, &scores)
        return Dictionary(uniqueKeysWithValues: scores.map { ($0.name, $0.score) })
    }

    static let fits: Status? = nil
    static let affinityFail: Status? = Status(
        .unschedulableAndUnresolvable, InterPodAffinity.reasonAffinityRulesNotMatch)
    static let antiFail: Status? = Status(.unschedulable, InterPodAffinity.reasonAntiAffinityRulesNotMatch)
    static let existingFail: Status? = Status(.unschedulable, InterPodAffinity.reasonExistingAntiAffinityRulesNotMatch)

    static let db = ["app": "db"]
    static let web = ["app": "web"]
}

struct AffinityFilterCase: CustomTestStringConvertible, Sendable {
    let name: String
    let pod: CoreV1.Pod
    var nodes: [CoreV1.Node] = AffinityFixture.threeNodes
    let pods: [CoreV1.Pod]
    var namespaces: [String: [String: String]] = [:]
    let want: [String: Status?]?
    var testDescription: String { name }
}

@Suite("InterPodAffinity")
struct InterPodAffinityTests {
    typealias A = AffinityFixture

    static let filterCases: [AffinityFilterCase] = [
        // Required affinity of the incoming pod.
        AffinityFilterCase(
            name: "affinity: nodes in the region of a matching pod fit, other regions are unresolvable",
            pod: A.pod("in", affinity: [A.term(A.db, "region")]), pods: [A.pod("db", labels: A.db, on: "node-1")],
            want: ["node-1": A.fits, "node-2": A.fits, "node-3": A.affinityFail]),
        AffinityFilterCase(
            name: "affinity: a node without the term's topology key is unresolvable",
            pod: A.pod("in", affinity: [A.term(A.db, "region")]), nodes: A.fourNodes,
            pods: [A.pod("db", labels: A.db, on: "node-1")],
            want: ["node-1": A.fits, "node-2": A.fits, "node-3": A.affinityFail, "node-4": A.affinityFail]),
        AffinityFilterCase(
            name: "affinity: the first pod of a group matching its own term may go to any node with the key",
            pod: A.pod("in", labels: A.db, affinity: [A.term(A.db, "region")]), nodes: A.fourNodes, pods: [],
            want: ["node-1": A.fits, "node-2": A.fits, "node-3": A.fits, "node-4": A.affinityFail]),
        AffinityFilterCase(
            name: "affinity: no matching pod and no self-match leaves every node unresolvable",
            pod: A.pod("in", affinity: [A.term(A.db, "region")]), pods: [A.pod("web", labels: A.web, on: "node-1")],
            want: ["node-1": A.affinityFail, "node-2": A.affinityFail, "node-3": A.affinityFail]),
        AffinityFilterCase(
            name: "affinity: once a matching pod exists the self-match exception no longer applies",
            pod: A.pod("in", labels: A.db, affinity: [A.term(A.db, "region")]),
            pods: [A.pod("db", labels: A.db, on: "node-3")],
            want: ["node-1": A.affinityFail, "node-2": A.affinityFail, "node-3": A.fits]),
        AffinityFilterCase(
            name: "affinity: no single pod matching all terms means no node fits",
            pod: A.pod("in", affinity: [A.term(A.db, "region"), A.term(["tier": "be"], "region")]),
            pods: [A.pod("db", labels: A.db, on: "node-1"), A.pod("be", labels: ["tier": "be"], on: "node-1")],
            want: ["node-1": A.affinityFail, "node-2": A.affinityFail, "node-3": A.affinityFail]),
        AffinityFilterCase(
            name: "affinity: one pod matching all terms admits its region",
            pod: A.pod("in", affinity: [A.term(A.db, "region"), A.term(["tier": "be"], "region")]),
            pods: [
                A.pod("db", labels: A.db, on: "node-1"), A.pod("be", labels: ["tier": "be"], on: "node-1"),
                A.pod("both", labels: ["app": "db", "tier": "be"], on: "node-3"),
            ],
            want: ["node-1": A.affinityFail, "node-2": A.affinityFail, "node-3": A.fits]),
        AffinityFilterCase(
            name: "affinity: a term without namespaces only looks at the incoming pod's namespace",
            pod: A.pod("in", affinity: [A.term(A.db, "region")]),
            pods: [A.pod("db", namespace: "other", labels: A.db, on: "node-1")],
            want: ["node-1": A.affinityFail, "node-2": A.affinityFail, "node-3": A.affinityFail]),
        AffinityFilterCase(
            name: "affinity: a term's namespaces list names the namespaces searched",
            pod: A.pod("in", affinity: [A.term(A.db, "region", namespaces: ["other"])]),
            pods: [A.pod("db", namespace: "other", labels: A.db, on: "node-1")],
            want: ["node-1": A.fits, "node-2": A.fits, "node-3": A.affinityFail]),
        AffinityFilterCase(
            name: "affinity: a namespaceSelector picks namespaces by their labels",
            pod: A.pod(
                "in", affinity: [A.term(A.db, "region", namespaceSelector: .init(matchLabels: ["env": "prod"]))]),
            pods: [
                A.pod("db", namespace: "prod", labels: A.db, on: "node-3"),
                A.pod("db", namespace: "dev", labels: A.db, on: "node-1"),
            ],
            namespaces: ["prod": ["env": "prod"], "dev": ["env": "dev"]],
            want: ["node-1": A.affinityFail, "node-2": A.affinityFail, "node-3": A.fits]),
        AffinityFilterCase(
            name: "affinity: an empty namespaceSelector matches every namespace",
            pod: A.pod("in", affinity: [A.term(A.db, "region", namespaceSelector: MetaV1.LabelSelector())]),
            pods: [A.pod("db", namespace: "anywhere", labels: A.db, on: "node-3")],
            want: ["node-1": A.affinityFail, "node-2": A.affinityFail, "node-3": A.fits]),
        AffinityFilterCase(
            name: "affinity: a namespaceSelector only selects namespaces that exist",
            pod: A.pod(
                "in",
                affinity: [
                    A.term(
                        A.db, "region",
                        namespaceSelector: .init(matchExpressions: [.init(key: "env", operator: "DoesNotExist")]))
                ]),
            pods: [A.pod("db", namespace: "ghost", labels: A.db, on: "node-3")],
            want: ["node-1": A.affinityFail, "node-2": A.affinityFail, "node-3": A.affinityFail]),
        // Required anti-affinity of the incoming pod.
        AffinityFilterCase(
            name: "anti-affinity: the zone of a matching pod is rejected",
            pod: A.pod("in", anti: [A.term(A.web, "zone")]), pods: [A.pod("web", labels: A.web, on: "node-1")],
            want: ["node-1": A.antiFail, "node-2": A.fits, "node-3": A.fits]),
        AffinityFilterCase(
            name: "anti-affinity: a region key rejects every node of the region",
            pod: A.pod("in", anti: [A.term(A.web, "region")]), pods: [A.pod("web", labels: A.web, on: "node-1")],
            want: ["node-1": A.antiFail, "node-2": A.antiFail, "node-3": A.fits]),
        AffinityFilterCase(
            name: "anti-affinity: a node without the term's topology key passes",
            pod: A.pod("in", anti: [A.term(A.web, "region")]), nodes: A.fourNodes,
            pods: [A.pod("web", labels: A.web, on: "node-1")],
            want: ["node-1": A.antiFail, "node-2": A.antiFail, "node-3": A.fits, "node-4": A.fits]),
        AffinityFilterCase(
            name: "anti-affinity to its own label by hostname spreads replicas one per node",
            pod: A.pod("in", labels: A.web, anti: [A.term(A.web, "kubernetes.io/hostname")]),
            pods: [A.pod("w1", labels: A.web, on: "node-1"), A.pod("w2", labels: A.web, on: "node-2")],
            want: ["node-1": A.antiFail, "node-2": A.antiFail, "node-3": A.fits]),
        // Required anti-affinity of placed pods.
        AffinityFilterCase(
            name: "existing anti-affinity: a region holding a pod that repels the incoming pod is rejected",
            pod: A.pod("in", labels: A.web),
            pods: [A.pod("db", labels: A.db, on: "node-1", anti: [A.term(A.web, "region")])],
            want: ["node-1": A.existingFail, "node-2": A.existingFail, "node-3": A.fits]),
        AffinityFilterCase(
            name: "existing anti-affinity: a term without namespaces only repels pods of its own namespace",
            pod: A.pod("in", labels: A.web),
            pods: [A.pod("db", namespace: "other", labels: A.db, on: "node-1", anti: [A.term(A.web, "region")])],
            want: nil),
        AffinityFilterCase(
            name: "existing anti-affinity: a namespaceSelector is matched against the incoming pod's namespace labels",
            pod: A.pod("in", labels: A.web),
            pods: [
                A.pod(
                    "db", namespace: "other", labels: A.db, on: "node-1",
                    anti: [A.term(A.web, "region", namespaceSelector: .init(matchLabels: ["team": "a"]))])
            ],
            namespaces: ["default": ["team": "a"]],
            want: ["node-1": A.existingFail, "node-2": A.existingFail, "node-3": A.fits]),
        AffinityFilterCase(
            name: "existing anti-affinity not matching the incoming pod: nothing to check, PreFilter skips",
            pod: A.pod("in", labels: A.db),
            pods: [A.pod("db", labels: A.db, on: "node-1", anti: [A.term(A.web, "region")])],
            want: nil),
        // Order of the checks.
        AffinityFilterCase(
            name: "a node failing affinity and anti-affinity reports the affinity failure",
            pod: A.pod("in", affinity: [A.term(A.db, "region")], anti: [A.term(A.web, "region")]),
            pods: [A.pod("db", labels: A.db, on: "node-3"), A.pod("web", labels: A.web, on: "node-1")],
            want: ["node-1": A.affinityFail, "node-2": A.affinityFail, "node-3": A.fits]),
        AffinityFilterCase(
            name: "the incoming pod's anti-affinity is checked before placed pods' anti-affinity",
            pod: A.pod("in", labels: A.web, anti: [A.term(A.db, "zone")]),
            pods: [A.pod("db", labels: A.db, on: "node-1", anti: [A.term(A.web, "region")])],
            want: ["node-1": A.antiFail, "node-2": A.existingFail, "node-3": A.fits]),
        AffinityFilterCase(
            name: "no required terms and no placed pod repelling the pod: PreFilter skips",
            pod: A.pod("in", labels: A.web, preferred: [A.weighted(5, A.term(A.db, "region"))]),
            pods: [A.pod("db", labels: A.db, on: "node-1")], want: nil),
    ]

    @Test("Filter enforces required pod affinity and anti-affinity", arguments: filterCases)
    func filter(_ c: AffinityFilterCase) {
        let got = A.filter(InterPodAffinity(), c.pod, A.snapshot(c.nodes, c.pods, namespaces: c.namespaces))
        #expect(got == c.want)
    }

    @Test("PreFilter rejects a pod whose affinity selector does not parse")
    func preFilterParseError() {
        let bad = CoreV1.PodAffinityTerm(
            labelSelector: .init(matchExpressions: [.init(key: "app", operator: "Near", values: ["x"])]),
            topologyKey: "region")
        let pod = A.pod("in", affinity: [bad])
        let (_, s) = InterPodAffinity().preFilter(CycleState(), PodInfo(pod), A.snapshot(A.threeNodes, []))
        #expect(s?.code == .unschedulableAndUnresolvable)
        #expect(s?.message.hasPrefix("parsing pod: requiredAffinityTerms: ") == true)
    }

    // MARK: addPod / removePod

    /// PreFilter state over the three nodes, with helpers to filter after changes.
    struct Simulation {
        let pl = InterPodAffinity()
        let pod: PodInfo
        let snap: Snapshot
        let state = CycleState()

        init(_ pod: CoreV1.Pod, _ pods: [CoreV1.Pod]) {
            self.pod = PodInfo(pod)
            snap = A.snapshot(A.threeNodes, pods)
            _ = pl.preFilter(state, self.pod, snap)
        }

        func add(_ p: CoreV1.Pod, on node: String) { pl.addPod(state, pod, PodInfo(p), on: snap.get(node)!) }
        func remove(_ p: CoreV1.Pod, on node: String) { pl.removePod(state, pod, PodInfo(p), on: snap.get(node)!) }
        func results(_ st: CycleState? = nil) -> [String: Status?] {
            var out: [String: Status?] = [:]
            for ni in snap.nodeInfoList { out[ni.name] = .some(pl.filter(st ?? state, pod, ni)) }
            return out
        }
    }

    @Test("addPod of a pod the incoming pod repels rejects its zone; removePod lifts it")
    func addRemoveAntiAffinity() {
        let sim = Simulation(A.pod("in", anti: [A.term(A.web, "zone")]), [])
        #expect(sim.results() == ["node-1": A.fits, "node-2": A.fits, "node-3": A.fits])
        let web = A.pod("web", labels: A.web, on: "node-1")
        sim.add(web, on: "node-1")
        #expect(sim.results() == ["node-1": A.antiFail, "node-2": A.fits, "node-3": A.fits])
        sim.remove(web, on: "node-1")
        #expect(sim.results() == ["node-1": A.fits, "node-2": A.fits, "node-3": A.fits])
    }

    @Test("addPod of a pod whose anti-affinity repels the incoming pod rejects its region")
    func addExistingAntiAffinity() {
        let sim = Simulation(A.pod("in", labels: A.web, anti: [A.term(["app": "none"], "zone")]), [])
        let repeller = A.pod("db", labels: A.db, on: "node-1", anti: [A.term(A.web, "region")])
        sim.add(repeller, on: "node-1")
        #expect(sim.results() == ["node-1": A.existingFail, "node-2": A.existingFail, "node-3": A.fits])
        sim.remove(repeller, on: "node-1")
        #expect(sim.results() == ["node-1": A.fits, "node-2": A.fits, "node-3": A.fits])
    }

    @Test(
        "addPod of a pod matching the incoming affinity admits its region; removing the last match elsewhere rejects that one"
    )
    func addRemoveAffinity() {
        let db3 = A.pod("db3", labels: A.db, on: "node-3")
        let sim = Simulation(A.pod("in", labels: A.db, affinity: [A.term(A.db, "region")]), [db3])
        #expect(sim.results() == ["node-1": A.affinityFail, "node-2": A.affinityFail, "node-3": A.fits])
        sim.add(A.pod("db1", labels: A.db, on: "node-1"), on: "node-1")
        #expect(sim.results() == ["node-1": A.fits, "node-2": A.fits, "node-3": A.fits])
        sim.remove(db3, on: "node-3")
        #expect(sim.results() == ["node-1": A.fits, "node-2": A.fits, "node-3": A.affinityFail])
    }

    @Test("A cloned state is independent of later addPod calls on the original")
    func cloneIsIndependent() {
        let sim = Simulation(A.pod("in", anti: [A.term(A.web, "region")]), [])
        let copy = sim.state.clone()
        sim.add(A.pod("web", labels: A.web, on: "node-3"), on: "node-3")
        #expect(sim.results()["node-3"] == .some(A.antiFail))
        #expect(sim.results(copy)["node-3"] == .some(A.fits))
    }

    // MARK: scoring

    struct ScoreCase: CustomTestStringConvertible, Sendable {
        let name: String
        var hardPodAffinityWeight: Int32 = 1
        var ignorePreferredTermsOfExistingPods = false
        let pod: CoreV1.Pod
        let pods: [CoreV1.Pod]
        var namespaces: [String: [String: String]] = [:]
        let want: [String: Int64]?
        var testDescription: String { name }
    }

    static let scoreCases: [ScoreCase] = [
        ScoreCase(
            name: "preferred affinity: the region of a matching pod scores 100, others 0",
            pod: A.pod("in", preferred: [A.weighted(5, A.term(A.db, "region"))]),
            pods: [A.pod("db", labels: A.db, on: "node-1")], want: ["node-1": 100, "node-2": 100, "node-3": 0]),
        ScoreCase(
            name: "preferred anti-affinity: the zone of a matching pod scores 0, others 100",
            pod: A.pod("in", preferredAnti: [A.weighted(5, A.term(A.web, "zone"))]),
            pods: [A.pod("web", labels: A.web, on: "node-1")], want: ["node-1": 0, "node-2": 100, "node-3": 100]),
        // Raw: node-1 2·8 − 2·3 = 10, node-2 16, node-3 8 − 3 = 5; 100·(raw − 5)/11.
        ScoreCase(
            name: "affinity and anti-affinity weights add up per matching pod and domain",
            pod: A.pod(
                "in", preferred: [A.weighted(8, A.term(A.db, "region"))],
                preferredAnti: [A.weighted(3, A.term(A.db, "zone"))]),
            pods: [
                A.pod("db1", labels: A.db, on: "node-1"), A.pod("db2", labels: A.db, on: "node-1"),
                A.pod("db3", labels: A.db, on: "node-3"),
            ],
            want: ["node-1": 45, "node-2": 100, "node-3": 0]),
        ScoreCase(
            name: "a placed pod's required affinity matching the incoming pod adds hardPodAffinityWeight",
            pod: A.pod("in", labels: A.web),
            pods: [A.pod("db", labels: A.db, on: "node-1", affinity: [A.term(A.web, "region")])],
            want: ["node-1": 100, "node-2": 100, "node-3": 0]),
        ScoreCase(
            name: "hardPodAffinityWeight 0 ignores placed pods' required affinity",
            hardPodAffinityWeight: 0, pod: A.pod("in", labels: A.web),
            pods: [A.pod("db", labels: A.db, on: "node-1", affinity: [A.term(A.web, "region")])], want: nil),
        ScoreCase(
            name: "a placed pod's preferred affinity matching the incoming pod adds its weight",
            pod: A.pod("in", labels: A.web),
            pods: [A.pod("db", labels: A.db, on: "node-3", preferred: [A.weighted(4, A.term(A.web, "zone"))])],
            want: ["node-1": 0, "node-2": 0, "node-3": 100]),
        ScoreCase(
            name: "a placed pod's preferred anti-affinity matching the incoming pod subtracts its weight",
            pod: A.pod("in", labels: A.web),
            pods: [A.pod("db", labels: A.db, on: "node-3", preferredAnti: [A.weighted(7, A.term(A.web, "region"))])],
            want: ["node-1": 100, "node-2": 100, "node-3": 0]),
        ScoreCase(
            name: "ignorePreferredTermsOfExistingPods skips scoring when the incoming pod has no preferred terms",
            ignorePreferredTermsOfExistingPods: true, pod: A.pod("in", labels: A.web),
            pods: [A.pod("db", labels: A.db, on: "node-3", preferred: [A.weighted(4, A.term(A.web, "zone"))])],
            want: nil),
        // Raw: node-1 5, node-2 5, node-3 10 (the placed pod's term still counts).
        ScoreCase(
            name: "ignorePreferredTermsOfExistingPods has no effect when the incoming pod has preferred terms",
            ignorePreferredTermsOfExistingPods: true,
            pod: A.pod("in", labels: A.web, preferred: [A.weighted(5, A.term(A.db, "region"))]),
            pods: [
                A.pod("db", labels: A.db, on: "node-1"),
                A.pod("fe", labels: ["app": "fe"], on: "node-3", preferred: [A.weighted(10, A.term(A.web, "region"))]),
            ],
            want: ["node-1": 0, "node-2": 0, "node-3": 100]),
        ScoreCase(
            name: "a preferred term's namespaceSelector counts pods of the selected namespaces only",
            pod: A.pod(
                "in",
                preferred: [
                    A.weighted(5, A.term(A.db, "region", namespaceSelector: .init(matchLabels: ["env": "prod"])))
                ]),
            pods: [
                A.pod("db", namespace: "prod", labels: A.db, on: "node-3"),
                A.pod("db", namespace: "dev", labels: A.db, on: "node-1"),
            ],
            namespaces: ["prod": ["env": "prod"], "dev": ["env": "dev"]],
            want: ["node-1": 0, "node-2": 0, "node-3": 100]),
        ScoreCase(
            name: "a placed pod's term without namespaces does not match pods of other namespaces",
            pod: A.pod("in", labels: A.web),
            pods: [
                A.pod(
                    "db", namespace: "other", labels: A.db, on: "node-3",
                    preferred: [A.weighted(4, A.term(A.web, "zone"))])
            ],
            want: nil),
        ScoreCase(
            name: "no term matching anywhere: PreScore skips",
            pod: A.pod("in", preferred: [A.weighted(5, A.term(A.db, "region"))]),
            pods: [A.pod("web", labels: A.web, on: "node-1")], want: nil),
        ScoreCase(
            name: "equal raw scores on every node normalize to 0",
            pod: A.pod("in", preferred: [A.weighted(5, A.term(A.db, "region"))]),
            pods: [A.pod("db1", labels: A.db, on: "node-1"), A.pod("db3", labels: A.db, on: "node-3")],
            want: ["node-1": 0, "node-2": 0, "node-3": 0]),
    ]

    @Test(
        "Score sums preferred terms of both sides per topology domain, normalized min..max to 0..100",
        arguments: scoreCases)
    func score(_ c: ScoreCase) {
        let pl = InterPodAffinity(
            hardPodAffinityWeight: c.hardPodAffinityWeight,
            ignorePreferredTermsOfExistingPods: c.ignorePreferredTermsOfExistingPods)
        let got = A.score(pl, c.pod, A.snapshot(A.threeNodes, c.pods, namespaces: c.namespaces))
        #expect(got == c.want)
    }

    @Test("The raw score of a placed pod's required affinity is hardPodAffinityWeight per matching term")
    func rawHardWeight() {
        let pl = InterPodAffinity(hardPodAffinityWeight: 10)
        let pods = [
            A.pod("a", labels: A.db, on: "node-1", affinity: [A.term(A.web, "region")]),
            A.pod("b", labels: A.db, on: "node-2", affinity: [A.term(A.web, "zone")]),
        ]
        let snap = A.snapshot(A.threeNodes, pods)
        let state = CycleState()
        let pod = PodInfo(A.pod("in", labels: A.web))
        #expect(pl.preScore(state, pod, snap.nodeInfoList, snap) == nil)
        #expect(pl.score(state, pod, snap.get("node-1")!) == 10)
        #expect(pl.score(state, pod, snap.get("node-2")!) == 20)
        #expect(pl.score(state, pod, snap.get("node-3")!) == 0)
    }

    @Test("NormalizeScore maps the lowest raw score to 0 and the highest to 100, truncating")
    func normalize() {
        let state = CycleState()
        state.write(InterPodAffinity.PreScoreState(["region": ["r1": 1]]))
        var scores = [NodeScore(name: "a", score: -5), NodeScore(name: "b", score: 0), NodeScore(name: "c", score: 10)]
        InterPodAffinity().normalize(state, PodInfo(A.pod("in")), &scores)
        #expect(scores.map(\.score) == [0, 33, 100])
    }

    @Test("Registers for placed pods and node labels changing")
    func events() {
        let ev = InterPodAffinity().eventsToRegister()
        #expect(ev.contains(ClusterEvent(.pod, [.add, .updatePodLabel, .delete])))
        #expect(ev.contains { $0.resource == .node && $0.action.contains([.add, .updateNodeLabel]) })
    }

    // MARK: args

    @Test(
        "hardPodAffinityWeight must be within 0…100",
        arguments: [
            (#"{}"#, nil),
            (#"{"hardPodAffinityWeight":0}"#, nil),
            (#"{"hardPodAffinityWeight":100,"ignorePreferredTermsOfExistingPods":true}"#, nil),
            (
                #"{"hardPodAffinityWeight":101}"#,
                "hardPodAffinityWeight: Invalid value: 101: not in valid range [0, 100]"
            ),
            (#"{"hardPodAffinityWeight":-1}"#, "hardPodAffinityWeight: Invalid value: -1: not in valid range [0, 100]"),
        ] as [(String, String?)])
    func validateArgs(_ json: String, _ error: String?) throws {
        let args = try JSONValue.parse(Array(json.utf8))
        var got: String?
        do {
            try PluginRegistry.spreadingValidators[InterPodAffinity.name]!(args, "")
        } catch {
            got = "\(error)"
        }
        #expect(got == error)
    }

    @Test("The registry builds the plugin from its args, defaulting hardPodAffinityWeight to 1")
    func factory() throws {
        let make = PluginRegistry.factories[InterPodAffinity.name]!
        let d = try #require(try make(.object([]), Handle()) as? InterPodAffinity)
        #expect(d.hardPodAffinityWeight == 1 && !d.ignorePreferredTermsOfExistingPods)
        let args = try JSONValue.parse(
            Array(#"{"hardPodAffinityWeight":7,"ignorePreferredTermsOfExistingPods":true}"#.utf8))
        let p = try #require(try make(args, Handle()) as? InterPodAffinity)
        #expect(p.hardPodAffinityWeight == 7 && p.ignorePreferredTermsOfExistingPods)
        let bad = try JSONValue.parse(Array(#"{"hardPodAffinityWeight":101}"#.utf8))
        #expect(throws: SchedulerConfigurationError.self) { try make(bad, Handle()) }
    }

    @Test("The default profile enables InterPodAffinity with weight 2")
    func defaultProfile() {
        #expect(PluginRegistry.defaultPlugins["multiPoint"].enabled.contains(PluginRef("InterPodAffinity", weight: 2)))
    }
}
