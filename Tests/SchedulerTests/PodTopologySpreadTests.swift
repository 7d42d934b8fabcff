import APIApps
import APICore
import APIMachinery
import Testing

@testable import Scheduler

/// Builders and runners for spreading scenarios: nodes in zones, placed pods, and the plugin run
/// over a snapshot as the framework runs it.
enum SpreadFixture {
    static let hostname = "kubernetes.io/hostname"
    static let fooExists = MetaV1.LabelSelector(matchExpressions: [.init(key: "foo", operator: "Exists")])

    /// node-a, node-b in zone1; node-x, node-y in zone2.
    static let fourNodes = [
        node("node-a", zone: "zone1"), node("node-b", zone: "zone1"), node("node-x", zone: "zone2"),
        node("node-y", zone: "zone2"),
    ]

    static func node(
        _ name: String, zone: String? = nil, labels: [String: String] = [:], taints: [CoreV1.Taint] = []
    ) -> CoreV1.Node {
        var l = labels
        if let zone { l["zone"] = zone }
        return Fixture.node(name, labels: l, taints: taints)
    }

    static func constraint(
        _ maxSkew: Int32, _ key: String, _ when: String = "DoNotSchedule",
        selector: MetaV1.LabelSelector? = fooExists, minDomains: Int32? = nil, nodeAffinityPolicy: String? = nil,
        nodeTaintsPolicy: String? = nil, matchLabelKeys: [String] = []
    ) -> CoreV1.TopologySpreadConstraint {
        CoreV1.TopologySpreadConstraint(
            maxSkew: maxSkew, topologyKey: key, whenUnsatisfiable: when, labelSelector: selector,
            minDomains: minDomains, nodeAffinityPolicy: nodeAffinityPolicy, nodeTaintsPolicy: nodeTaintsPolicy,
            matchLabelKeys: matchLabelKeys)
    }

    /// The incoming pod.
    static func incoming(
        labels: [String: String] = ["foo": ""], _ constraints: [CoreV1.TopologySpreadConstraint],
        configure: (inout CoreV1.Pod) -> Void = { _ in }
    ) -> CoreV1.Pod {
        Fixture.pod("incoming", labels: labels) { p in
            p.spec.topologySpreadConstraints = constraints
            configure(&p)
        }
    }

    /// `count` placed pods on a node (named after it), all with the same labels.
    static func placed(
        _ count: Int, on node: String, labels: [String: String] = ["foo": ""], namespace: String = "default",
        terminating: Bool = false, prefix: String = "p"
    ) -> [CoreV1.Pod] {
        (0..<count).map { i in
            Fixture.pod("\(prefix)-\(node)-\(i)", namespace: namespace, labels: labels, nodeName: node) { p in
                if terminating { p.metadata.deletionTimestamp = Time(seconds: 1) }
            }
        }
    }

    static func snapshot(_ nodes: [CoreV1.Node], _ pods: [CoreV1.Pod]) -> Snapshot {
        Snapshot(
            nodes.map { n in Fixture.nodeInfo(n, pods.filter { $0.spec.nodeName == n.metadata.name }) })
    }

    /// PreFilter then Filter on every node: node name → status (nil: fits); nil map when PreFilter skips.
    static func filter(_ pl: PodTopologySpread, _ pod: CoreV1.Pod, _ snap: Snapshot) -> [String: Status?]? {
        let state = CycleState()
        let pi = PodInfo(pod)
        let (_, s) = pl.preFilter(state, pi, snap)
        if s?.code == .skip { return nil }
        var out: [String: Status?] = [:]
        for ni in snap.nodeInfoList { out[ni.name] = .some(pl.filter(state, pi, ni)) }
        return out
    }

    /// PreScore over the candidate nodes, Score each, then NormalizeScore; nil when PreScore skips.
    static func score(
        _ pl: PodTopologySpread, _ pod: CoreV1.Pod, _ snap: Snapshot, candidates: [String]? = nil
    ) -> [String: Int64]? {
        let state = CycleState()
        let pi = PodInfo(pod)
        let nodes = candidates.map { names in names.compactMap { snap.get($0) } } ?? snap.nodeInfoList
        if pl.preScore(state, pi, nodes, snap)?.code == .skip { return nil }
        var scores = nodes.map { NodeScore(name: $0.name, score: pl.score(state, pi, $0)) }
        pl.normalize(state, pi, &scores)
        return Dictionary(uniqueKeysWithValues: scores.map { ($0.name, $0.score) })
    }

    static let fits: Status? = nil
    static let skewed: Status? = Status(.unschedulable, PodTopologySpread.reasonConstraintsNotMatch)
    static let noLabel: Status? = Status(.unschedulableAndUnresolvable, PodTopologySpread.reasonNodeLabelNotMatch)
}

struct SpreadFilterCase: CustomTestStringConvertible, Sendable {
    let name: String
    let pod: CoreV1.Pod
    let nodes: [CoreV1.Node]
    let pods: [CoreV1.Pod]
    let want: [String: Status?]
    var testDescription: String { name }
}

@Suite("PodTopologySpread")
struct PodTopologySpreadTests {
    typealias S = SpreadFixture

    static let filterCases: [SpreadFilterCase] = [
        SpreadFilterCase(
            name: "no existing pods: every node fits", pod: S.incoming([S.constraint(1, "zone")]), nodes: S.fourNodes,
            pods: [], want: ["node-a": S.fits, "node-b": S.fits, "node-x": S.fits, "node-y": S.fits]),
        SpreadFilterCase(
            name: "pods in another namespace than the incoming pod's do not count",
            pod: S.incoming([S.constraint(1, "zone")]), nodes: S.fourNodes,
            pods: S.placed(3, on: "node-a", namespace: "ns1"),
            want: ["node-a": S.fits, "node-b": S.fits, "node-x": S.fits, "node-y": S.fits]),
        SpreadFilterCase(
            name: "maxSkew 1: zones at 3/3 let every node take the pod", pod: S.incoming([S.constraint(1, "zone")]),
            nodes: S.fourNodes,
            pods: S.placed(2, on: "node-a") + S.placed(1, on: "node-b") + S.placed(1, on: "node-x")
                + S.placed(2, on: "node-y"),
            want: ["node-a": S.fits, "node-b": S.fits, "node-x": S.fits, "node-y": S.fits]),
        SpreadFilterCase(
            name: "maxSkew 1: a zone with 2 matching pods vs 0 rejects", pod: S.incoming([S.constraint(1, "zone")]),
            nodes: S.fourNodes, pods: S.placed(2, on: "node-a"),
            want: ["node-a": S.skewed, "node-b": S.skewed, "node-x": S.fits, "node-y": S.fits]),
        SpreadFilterCase(
            name: "a node without the topology key is no domain and cannot take the pod (1/2 spread)",
            pod: S.incoming([S.constraint(1, "zone")]),
            nodes: [
                S.node("node-a", zone: "zone1"), S.node("node-b"), S.node("node-x", zone: "zone2"),
                S.node("node-y", zone: "zone2"),
            ],
            pods: S.placed(1, on: "node-a") + S.placed(1, on: "node-b") + S.placed(1, on: "node-x")
                + S.placed(1, on: "node-y"),
            want: ["node-a": S.fits, "node-b": S.noLabel, "node-x": S.skewed, "node-y": S.skewed]),
        SpreadFilterCase(
            name: "no node carries the topology key: every node is unresolvable",
            pod: S.incoming([S.constraint(1, "rack")]), nodes: S.fourNodes, pods: S.placed(1, on: "node-a"),
            want: ["node-a": S.noLabel, "node-b": S.noLabel, "node-x": S.noLabel, "node-y": S.noLabel]),
        SpreadFilterCase(
            name: "hostname maxSkew 1: pods spread 2/1/0/3 leave only the empty node",
            pod: S.incoming([S.constraint(1, S.hostname)]), nodes: S.fourNodes,
            pods: S.placed(2, on: "node-a") + S.placed(1, on: "node-b") + S.placed(3, on: "node-y"),
            want: ["node-a": S.skewed, "node-b": S.skewed, "node-x": S.fits, "node-y": S.skewed]),
        SpreadFilterCase(
            name: "hostname maxSkew 2: pods spread 2/1/0/3 admit nodes within 2 of the minimum",
            pod: S.incoming([S.constraint(2, S.hostname)]), nodes: S.fourNodes,
            pods: S.placed(2, on: "node-a") + S.placed(1, on: "node-b") + S.placed(3, on: "node-y"),
            want: ["node-a": S.skewed, "node-b": S.fits, "node-x": S.fits, "node-y": S.skewed]),
        SpreadFilterCase(
            name: "zone 3/3 and hosts 2/1/0/3: both constraints must hold, only node-x fits",
            pod: S.incoming([S.constraint(1, "zone"), S.constraint(1, S.hostname)]), nodes: S.fourNodes,
            pods: S.placed(2, on: "node-a") + S.placed(1, on: "node-b") + S.placed(3, on: "node-y"),
            want: ["node-a": S.skewed, "node-b": S.skewed, "node-x": S.fits, "node-y": S.skewed]),
        SpreadFilterCase(
            name: "the incoming pod matching its own selector counts itself in the skew",
            pod: S.incoming([S.constraint(1, "zone")]), nodes: S.fourNodes, pods: S.placed(1, on: "node-a"),
            want: ["node-a": S.skewed, "node-b": S.skewed, "node-x": S.fits, "node-y": S.fits]),
        SpreadFilterCase(
            name: "the incoming pod not matching its own selector adds nothing to the skew",
            pod: S.incoming(labels: ["bar": ""], [S.constraint(1, "zone")]), nodes: S.fourNodes,
            pods: S.placed(1, on: "node-a"),
            want: ["node-a": S.fits, "node-b": S.fits, "node-x": S.fits, "node-y": S.fits]),
        SpreadFilterCase(
            name: "pods being deleted are not counted", pod: S.incoming([S.constraint(1, "zone")]),
            nodes: S.fourNodes, pods: S.placed(2, on: "node-a", terminating: true),
            want: ["node-a": S.fits, "node-b": S.fits, "node-x": S.fits, "node-y": S.fits]),
        SpreadFilterCase(
            name: "minDomains larger than domain count treats global minimum as 0",
            pod: S.incoming([S.constraint(1, "zone", minDomains: 3)]), nodes: S.fourNodes,
            pods: S.placed(1, on: "node-a") + S.placed(1, on: "node-x"),
            want: ["node-a": S.skewed, "node-b": S.skewed, "node-x": S.skewed, "node-y": S.skewed]),
        SpreadFilterCase(
            name: "minDomains equal to the domain count keeps the real global minimum",
            pod: S.incoming([S.constraint(1, "zone", minDomains: 2)]), nodes: S.fourNodes,
            pods: S.placed(1, on: "node-a") + S.placed(1, on: "node-x"),
            want: ["node-a": S.fits, "node-b": S.fits, "node-x": S.fits, "node-y": S.fits]),
        SpreadFilterCase(
            name: "nodeAffinityPolicy Honor (default): only nodes matching the pod's nodeSelector form domains",
            pod: S.incoming([S.constraint(1, "zone")]) { $0.spec.nodeSelector = ["disk": "ssd"] },
            nodes: [
                S.node("node-a", zone: "zone1", labels: ["disk": "ssd"]), S.node("node-b", zone: "zone1"),
                S.node("node-x", zone: "zone2", labels: ["disk": "ssd"]), S.node("node-y", zone: "zone2"),
            ],
            pods: S.placed(1, on: "node-a") + S.placed(2, on: "node-y"),
            want: ["node-a": S.skewed, "node-b": S.skewed, "node-x": S.fits, "node-y": S.fits]),
        SpreadFilterCase(
            name: "nodeAffinityPolicy Ignore: nodes outside the pod's nodeSelector still form domains",
            pod: S.incoming([S.constraint(1, "zone", nodeAffinityPolicy: "Ignore")]) {
                $0.spec.nodeSelector = ["disk": "ssd"]
            },
            nodes: [
                S.node("node-a", zone: "zone1", labels: ["disk": "ssd"]), S.node("node-b", zone: "zone1"),
                S.node("node-x", zone: "zone2", labels: ["disk": "ssd"]), S.node("node-y", zone: "zone2"),
            ],
            pods: S.placed(1, on: "node-a") + S.placed(2, on: "node-y"),
            want: ["node-a": S.fits, "node-b": S.fits, "node-x": S.skewed, "node-y": S.skewed]),
        SpreadFilterCase(
            name: "nodeTaintsPolicy Honor: a node with an untolerated NoSchedule taint is no domain",
            pod: S.incoming([S.constraint(1, "zone", nodeTaintsPolicy: "Honor")]),
            nodes: [
                S.node("node-a", zone: "zone1"),
                S.node("node-x", zone: "zone2", taints: [Fixture.taint("dedicated", "x")]),
            ],
            pods: S.placed(1, on: "node-a"), want: ["node-a": S.fits, "node-x": S.fits]),
        SpreadFilterCase(
            name: "nodeTaintsPolicy Ignore (default): tainted nodes still form domains",
            pod: S.incoming([S.constraint(1, "zone")]),
            nodes: [
                S.node("node-a", zone: "zone1"),
                S.node("node-x", zone: "zone2", taints: [Fixture.taint("dedicated", "x")]),
            ],
            pods: S.placed(1, on: "node-a"), want: ["node-a": S.skewed, "node-x": S.fits]),
        SpreadFilterCase(
            name: "nodeTaintsPolicy Honor: a tolerated taint keeps the node a domain",
            pod: S.incoming([S.constraint(1, "zone", nodeTaintsPolicy: "Honor")]) {
                $0.spec.tolerations = [CoreV1.Toleration(key: "dedicated", operator: "Exists")]
            },
            nodes: [
                S.node("node-a", zone: "zone1"),
                S.node("node-x", zone: "zone2", taints: [Fixture.taint("dedicated", "x")]),
            ],
            pods: S.placed(1, on: "node-a"), want: ["node-a": S.skewed, "node-x": S.fits]),
        SpreadFilterCase(
            name: "matchLabelKeys: only pods with the incoming pod's value of the key count",
            pod: S.incoming(labels: ["foo": "", "hash": "v2"], [S.constraint(1, "zone", matchLabelKeys: ["hash"])]),
            nodes: S.fourNodes, pods: S.placed(2, on: "node-a", labels: ["foo": "", "hash": "v1"]),
            want: ["node-a": S.fits, "node-b": S.fits, "node-x": S.fits, "node-y": S.fits]),
        SpreadFilterCase(
            name: "without matchLabelKeys pods of every revision count",
            pod: S.incoming(labels: ["foo": "", "hash": "v2"], [S.constraint(1, "zone")]), nodes: S.fourNodes,
            pods: S.placed(2, on: "node-a", labels: ["foo": "", "hash": "v1"]),
            want: ["node-a": S.skewed, "node-b": S.skewed, "node-x": S.fits, "node-y": S.fits]),
        SpreadFilterCase(
            name: "matchLabelKeys naming a label the pod lacks leaves the selector as is",
            pod: S.incoming([S.constraint(1, "zone", matchLabelKeys: ["hash"])]), nodes: S.fourNodes,
            pods: S.placed(2, on: "node-a", labels: ["foo": "", "hash": "v1"]),
            want: ["node-a": S.skewed, "node-b": S.skewed, "node-x": S.fits, "node-y": S.fits]),
        SpreadFilterCase(
            name: "an empty labelSelector counts no existing pods (only the incoming pod itself)",
            pod: S.incoming([S.constraint(1, "zone", selector: MetaV1.LabelSelector())]), nodes: S.fourNodes,
            pods: S.placed(3, on: "node-a"),
            want: ["node-a": S.fits, "node-b": S.fits, "node-x": S.fits, "node-y": S.fits]),
        SpreadFilterCase(
            name: "two constraints on the same topology key keep separate counts",
            pod: S.incoming(
                labels: ["foo": "", "bar": ""],
                [
                    S.constraint(1, "zone"),
                    S.constraint(1, "zone", selector: .init(matchExpressions: [.init(key: "bar", operator: "Exists")])),
                ]),
            nodes: S.fourNodes, pods: S.placed(2, on: "node-a") + S.placed(2, on: "node-x", labels: ["bar": ""]),
            want: ["node-a": S.skewed, "node-b": S.skewed, "node-x": S.skewed, "node-y": S.skewed]),
    ]

    @Test("Filter admits a node only while the skew it would cause stays within maxSkew", arguments: filterCases)
    func filter(_ c: SpreadFilterCase) {
        let got = S.filter(PodTopologySpread(), c.pod, S.snapshot(c.nodes, c.pods))
        #expect(got == c.want)
    }

    @Test("PreFilter skips a pod whose constraints are all ScheduleAnyway")
    func preFilterSkipsSoftOnly() {
        let pod = S.incoming([S.constraint(1, "zone", "ScheduleAnyway")])
        #expect(S.filter(PodTopologySpread(), pod, S.snapshot(S.fourNodes, [])) == nil)
    }

    @Test("PreFilter skips a pod without constraints (System defaults are all ScheduleAnyway)")
    func preFilterSkipsWithoutConstraints() {
        let listers = Listers()
        listers.services.upsert(Self.service("web", selector: ["foo": ""]))
        let pod = S.incoming([])
        #expect(S.filter(PodTopologySpread(listers: listers), pod, S.snapshot(S.fourNodes, [])) == nil)
    }

    @Test("PreFilter reports an unparsable selector as an error")
    func preFilterSelectorError() {
        let bad = MetaV1.LabelSelector(matchExpressions: [.init(key: "foo", operator: "Near", values: ["x"])])
        let pod = S.incoming([S.constraint(1, "zone", selector: bad)])
        let (_, s) = PodTopologySpread().preFilter(CycleState(), PodInfo(pod), S.snapshot(S.fourNodes, []))
        #expect(s?.code == .error)
        #expect(
            s?.message.hasPrefix("get constraints from pod: obtaining pod's hard topology spread constraints: ") == true
        )
    }

    // MARK: default constraints

    static func service(_ name: String, namespace: String = "default", selector: [String: String]) -> CoreV1.Service {
        var s = CoreV1.Service()
        s.metadata.name = name
        s.metadata.namespace = namespace
        s.spec.selector = selector
        return s
    }

    static func replicaSet(_ name: String, selector: [String: String]) -> AppsV1.ReplicaSet {
        var rs = AppsV1.ReplicaSet()
        rs.metadata.name = name
        rs.metadata.namespace = "default"
        rs.spec.selector = MetaV1.LabelSelector(matchLabels: selector)
        return rs
    }

    static func owned(by kind: String, _ name: String, apiVersion: String = "apps/v1") -> (inout CoreV1.Pod) -> Void {
        { p in
            p.metadata.ownerReferences = [
                MetaV1.OwnerReference(
                    apiVersion: apiVersion, kind: kind, name: name, uid: "uid-\(name)", controller: true)
            ]
        }
    }

    @Test("List defaulting: a hard default constraint filters pods selected by a Service")
    func listDefaultsFilter() {
        let listers = Listers()
        listers.services.upsert(Self.service("web", selector: ["app": "web"]))
        let pl = PodTopologySpread(
            defaultingType: .list, defaultConstraints: [S.constraint(1, "zone", selector: nil)], listers: listers)
        let snap = S.snapshot(S.fourNodes, S.placed(2, on: "node-a", labels: ["app": "web"]))
        let got = S.filter(pl, S.incoming(labels: ["app": "web"], []), snap)
        #expect(got == ["node-a": S.skewed, "node-b": S.skewed, "node-x": S.fits, "node-y": S.fits])
    }

    @Test("Default constraints apply only to pods of a Service, RC, ReplicaSet or StatefulSet")
    func defaultsNeedWorkload() {
        let pl = PodTopologySpread(defaultingType: .list, defaultConstraints: [S.constraint(1, "zone", selector: nil)])
        let snap = S.snapshot(S.fourNodes, S.placed(2, on: "node-a", labels: ["app": "web"]))
        #expect(S.filter(pl, S.incoming(labels: ["app": "web"], []), snap) == nil)
    }

    @Test("Default constraints are not used when the pod has constraints of its own")
    func ownConstraintsReplaceDefaults() {
        let listers = Listers()
        listers.services.upsert(Self.service("web", selector: ["app": "web"]))
        let pl = PodTopologySpread(
            defaultingType: .list, defaultConstraints: [S.constraint(1, "zone", selector: nil)], listers: listers)
        let pod = S.incoming(labels: ["app": "web"], [S.constraint(1, "zone", "ScheduleAnyway")])
        #expect(S.filter(pl, pod, S.snapshot(S.fourNodes, S.placed(2, on: "node-a", labels: ["app": "web"]))) == nil)
    }

    struct SelectorCase: CustomTestStringConvertible, Sendable {
        let name: String
        let services: [CoreV1.Service]
        let replicaSets: [AppsV1.ReplicaSet]
        let owner: (kind: String, name: String, apiVersion: String)?
        /// Labels of pods and whether the deduced selector matches them.
        let matches: [([String: String], Bool)]
        let empty: Bool
        var testDescription: String { name }
    }

    static let selectorCases: [SelectorCase] = [
        SelectorCase(
            name: "no Service and no controller: empty selector (defaults skipped)", services: [], replicaSets: [],
            owner: nil, matches: [], empty: true),
        SelectorCase(
            name: "a Service selecting the pod lends its selector",
            services: [service("web", selector: ["app": "web"])], replicaSets: [], owner: nil,
            matches: [(["app": "web", "x": "1"], true), (["app": "db"], false)], empty: false),
        SelectorCase(
            name: "Services not selecting the pod or in another namespace are ignored",
            services: [
                service("db", selector: ["app": "db"]), service("web", namespace: "other", selector: ["app": "web"]),
            ],
            replicaSets: [], owner: nil, matches: [], empty: true),
        SelectorCase(
            name: "selectors of all matching Services merge",
            services: [service("web", selector: ["app": "web"]), service("tier", selector: ["tier": "fe"])],
            replicaSets: [], owner: nil,
            matches: [(["app": "web", "tier": "fe"], true), (["app": "web"], false)], empty: false),
        SelectorCase(
            name: "the controlling ReplicaSet's selector is added",
            services: [service("web", selector: ["app": "web"])],
            replicaSets: [replicaSet("rs", selector: ["hash": "1"])],
            owner: ("ReplicaSet", "rs", "apps/v1"),
            matches: [(["app": "web", "hash": "1", "tier": "fe"], true), (["app": "web", "hash": "2"], false)],
            empty: false),
        SelectorCase(
            name: "an owner of an unsupported kind adds nothing", services: [],
            replicaSets: [replicaSet("rs", selector: ["hash": "1"])], owner: ("Deployment", "rs", "apps/v1"),
            matches: [], empty: true),
    ]

    @Test("System defaults deduce their selector from the pod's Services and controller", arguments: selectorCases)
    func defaultSelector(_ c: SelectorCase) {
        let listers = Listers()
        for s in c.services { listers.services.upsert(s) }
        for rs in c.replicaSets { listers.replicaSets.upsert(rs) }
        let pl = PodTopologySpread(listers: listers)
        var pod = Fixture.pod("incoming", labels: ["app": "web", "tier": "fe", "hash": "1"])
        if let o = c.owner { Self.owned(by: o.kind, o.name, apiVersion: o.apiVersion)(&pod) }
        let sel = pl.defaultSelector(for: pod)
        #expect(sel.isEmpty == c.empty)
        for (labels, want) in c.matches { #expect(sel.matches(labels) == want, "\(labels)") }
    }

    // MARK: addPod / removePod

    @Test("addPod of a matching pod raises the minimum so a skewed node fits again")
    func addPodRaisesMinimum() {
        let pl = PodTopologySpread()
        let pod = PodInfo(S.incoming([S.constraint(1, S.hostname)]))
        let nodes = [S.node("node-a", zone: "zone1"), S.node("node-b", zone: "zone1")]
        let snap = S.snapshot(nodes, S.placed(1, on: "node-b"))
        let state = CycleState()
        _ = pl.preFilter(state, pod, snap)
        #expect(pl.filter(state, pod, snap.get("node-b")!) == S.skewed)
        let added = PodInfo(Fixture.pod("new", labels: ["foo": ""], nodeName: "node-a"))
        pl.addPod(state, pod, added, on: snap.get("node-a")!)
        #expect(pl.filter(state, pod, snap.get("node-b")!) == nil)
        #expect(pl.filter(state, pod, snap.get("node-a")!) == nil)
    }

    @Test("addPod ignores pods of other namespaces and pods not matching the selector")
    func addPodIgnoresUnrelated() {
        let pl = PodTopologySpread()
        let pod = PodInfo(S.incoming([S.constraint(1, S.hostname)]))
        let nodes = [S.node("node-a", zone: "zone1"), S.node("node-b", zone: "zone1")]
        let snap = S.snapshot(nodes, S.placed(1, on: "node-b"))
        let state = CycleState()
        _ = pl.preFilter(state, pod, snap)
        pl.addPod(
            state, pod, PodInfo(Fixture.pod("o", namespace: "other", labels: ["foo": ""])), on: snap.get("node-a")!)
        pl.addPod(state, pod, PodInfo(Fixture.pod("n", labels: ["bar": ""])), on: snap.get("node-a")!)
        #expect(pl.filter(state, pod, snap.get("node-b")!) == S.skewed)
    }

    @Test("removePod of a matching pod lowers its domain's count (preemption victim)")
    func removePodLowersCount() {
        let pl = PodTopologySpread()
        let pod = PodInfo(S.incoming([S.constraint(1, S.hostname)]))
        let nodes = [S.node("node-a", zone: "zone1"), S.node("node-b", zone: "zone1")]
        let pods = S.placed(1, on: "node-a") + S.placed(2, on: "node-b")
        let snap = S.snapshot(nodes, pods)
        let state = CycleState()
        _ = pl.preFilter(state, pod, snap)
        #expect(pl.filter(state, pod, snap.get("node-b")!) == S.skewed)
        let victim = snap.get("node-b")!.pods[0]
        pl.removePod(state, pod, victim, on: snap.get("node-b")!)
        #expect(pl.filter(state, pod, snap.get("node-b")!) == nil)
    }

    @Test("removePod on a node excluded by nodeAffinityPolicy Honor changes nothing")
    func removePodHonorsNodeAffinity() {
        let pl = PodTopologySpread()
        let pod = PodInfo(S.incoming([S.constraint(1, "zone")]) { $0.spec.nodeSelector = ["disk": "ssd"] })
        let nodes = [
            S.node("node-a", zone: "zone1", labels: ["disk": "ssd"]), S.node("node-b", zone: "zone1"),
            S.node("node-x", zone: "zone2", labels: ["disk": "ssd"]),
        ]
        let snap = S.snapshot(nodes, S.placed(1, on: "node-a") + S.placed(1, on: "node-b"))
        let state = CycleState()
        _ = pl.preFilter(state, pod, snap)
        pl.removePod(state, pod, snap.get("node-b")!.pods[0], on: snap.get("node-b")!)
        // zone1 still counts node-a's pod: 1 + 1 − 0 > 1.
        #expect(pl.filter(state, pod, snap.get("node-a")!) == S.skewed)
    }

    @Test("A cloned state is independent of later addPod calls on the original")
    func cloneIsIndependent() {
        let pl = PodTopologySpread()
        let pod = PodInfo(S.incoming([S.constraint(1, S.hostname)]))
        let nodes = [S.node("node-a", zone: "zone1"), S.node("node-b", zone: "zone1")]
        let snap = S.snapshot(nodes, S.placed(1, on: "node-b"))
        let state = CycleState()
        _ = pl.preFilter(state, pod, snap)
        let copy = state.clone()
        pl.addPod(state, pod, PodInfo(Fixture.pod("new", labels: ["foo": ""])), on: snap.get("node-a")!)
        #expect(pl.filter(state, pod, snap.get("node-b")!) == nil)
        #expect(pl.filter(copy, pod, snap.get("node-b")!) == S.skewed)
    }

    // MARK: scoring

    struct ScoreCase: CustomTestStringConvertible, Sendable {
        let name: String
        let pod: CoreV1.Pod
        let nodes: [CoreV1.Node]
        let pods: [CoreV1.Pod]
        var candidates: [String]? = nil
        let want: [String: Int64]
        var testDescription: String { name }
    }

    static let fourHosts = [
        S.node("node-a"), S.node("node-b"), S.node("node-c"), S.node("node-d"),
    ]

    static let scoreCases: [ScoreCase] = [
        ScoreCase(
            name: "no existing pods: every node gets 100",
            pod: S.incoming([S.constraint(1, S.hostname, "ScheduleAnyway")]),
            nodes: [S.node("node-a"), S.node("node-b")],
            pods: [], want: ["node-a": 100, "node-b": 100]),
        ScoreCase(
            name: "a single candidate gets 100",
            pod: S.incoming([S.constraint(1, S.hostname, "ScheduleAnyway")]),
            nodes: [S.node("node-a"), S.node("node-b")],
            pods: S.placed(2, on: "node-a") + S.placed(1, on: "node-b"), candidates: ["node-a"],
            want: ["node-a": 100]),
        ScoreCase(
            name: "equal counts on every node: all 100",
            pod: S.incoming([S.constraint(1, S.hostname, "ScheduleAnyway")]),
            nodes: [S.node("node-a"), S.node("node-b")],
            pods: S.placed(1, on: "node-a") + S.placed(1, on: "node-b"), want: ["node-a": 100, "node-b": 100]),
        // log(6) weight: raw 4, 2, 0, 5 → 100·(5+0−raw)/5.
        ScoreCase(
            name: "hostname spread 2/1/0/3 over 4 candidates scores 20/60/100/0",
            pod: S.incoming([S.constraint(1, S.hostname, "ScheduleAnyway")]), nodes: fourHosts,
            pods: S.placed(2, on: "node-a") + S.placed(1, on: "node-b") + S.placed(3, on: "node-d"),
            want: ["node-a": 20, "node-b": 60, "node-c": 100, "node-d": 0]),
        // zone weight log 4, host weight log 6: raw 6, 8, 1, 3.
        ScoreCase(
            name: "zone and hostname constraints add up (zones 3/1, hosts 1/2/0/1)",
            pod: S.incoming([S.constraint(1, "zone", "ScheduleAnyway"), S.constraint(1, S.hostname, "ScheduleAnyway")]),
            nodes: S.fourNodes,
            pods: S.placed(1, on: "node-a") + S.placed(2, on: "node-b") + S.placed(1, on: "node-y"),
            want: ["node-a": 37, "node-b": 12, "node-x": 100, "node-y": 75]),
        // zone weight log 4: raw 1, 1, 3; node-n lacks the zone and is ignored.
        ScoreCase(
            name: "a candidate missing the topology key scores 0 and is left out of normalizing",
            pod: S.incoming([S.constraint(1, "zone", "ScheduleAnyway")]),
            nodes: [
                S.node("node-a", zone: "zone1"), S.node("node-b", zone: "zone1"), S.node("node-x", zone: "zone2"),
                S.node("node-n"),
            ],
            pods: S.placed(1, on: "node-a") + S.placed(2, on: "node-x") + S.placed(3, on: "node-n"),
            want: ["node-a": 100, "node-b": 100, "node-x": 33, "node-n": 0]),
        // raw 0+2, 2·log 4+2 ≈ 4.77 → 5.
        ScoreCase(
            name: "maxSkew 3 adds maxSkew−1 to every raw score, damping the difference",
            pod: S.incoming([S.constraint(3, S.hostname, "ScheduleAnyway")]),
            nodes: [S.node("node-a"), S.node("node-b")],
            pods: S.placed(2, on: "node-b"), want: ["node-a": 100, "node-b": 40]),
        ScoreCase(
            name: "maxSkew 1: the same spread gives the crowded node 0",
            pod: S.incoming([S.constraint(1, S.hostname, "ScheduleAnyway")]),
            nodes: [S.node("node-a"), S.node("node-b")],
            pods: S.placed(2, on: "node-b"), want: ["node-a": 100, "node-b": 0]),
        ScoreCase(
            name: "nodeAffinityPolicy Honor: pods on nodes outside the pod's nodeSelector are not counted",
            pod: S.incoming([S.constraint(1, "zone", "ScheduleAnyway")]) { $0.spec.nodeSelector = ["disk": "ssd"] },
            nodes: [
                S.node("node-a", zone: "zone1", labels: ["disk": "ssd"]), S.node("node-b", zone: "zone1"),
                S.node("node-x", zone: "zone2", labels: ["disk": "ssd"]),
            ],
            pods: S.placed(3, on: "node-b") + S.placed(1, on: "node-x"), candidates: ["node-a", "node-x"],
            want: ["node-a": 100, "node-x": 0]),
        ScoreCase(
            name: "nodeAffinityPolicy Ignore: pods on every node of the zone are counted",
            pod: S.incoming([S.constraint(1, "zone", "ScheduleAnyway", nodeAffinityPolicy: "Ignore")]) {
                $0.spec.nodeSelector = ["disk": "ssd"]
            },
            nodes: [
                S.node("node-a", zone: "zone1", labels: ["disk": "ssd"]), S.node("node-b", zone: "zone1"),
                S.node("node-x", zone: "zone2", labels: ["disk": "ssd"]),
            ],
            pods: S.placed(3, on: "node-b") + S.placed(1, on: "node-x"), candidates: ["node-a", "node-x"],
            want: ["node-a": 25, "node-x": 100]),
        ScoreCase(
            name: "pods of other namespaces and pods being deleted are not counted",
            pod: S.incoming([S.constraint(1, S.hostname, "ScheduleAnyway")]),
            nodes: [S.node("node-a"), S.node("node-b")],
            pods: S.placed(2, on: "node-a", namespace: "other") + S.placed(2, on: "node-b", terminating: true),
            want: ["node-a": 100, "node-b": 100]),
    ]

    @Test("Score favours domains with fewer matching pods, normalized to 0…100", arguments: scoreCases)
    func score(_ c: ScoreCase) {
        let got = S.score(PodTopologySpread(), c.pod, S.snapshot(c.nodes, c.pods), candidates: c.candidates)
        #expect(got == c.want)
    }

    @Test("PreScore skips a pod without soft constraints")
    func preScoreSkipsHardOnly() {
        #expect(S.score(PodTopologySpread(), S.incoming([S.constraint(1, "zone")]), S.snapshot(S.fourNodes, [])) == nil)
        #expect(S.score(PodTopologySpread(), S.incoming([]), S.snapshot(S.fourNodes, [])) == nil)
    }

    @Test("PreScore skips when the cluster has no nodes")
    func preScoreSkipsEmptyCluster() {
        let pl = PodTopologySpread()
        let s = pl.preScore(
            CycleState(), PodInfo(S.incoming([S.constraint(1, "zone", "ScheduleAnyway")])), [], Snapshot())
        #expect(s?.code == .skip)
    }

    /// System defaults: hostname (skew 3, weight log 6) and zone (skew 5, weights log 5 as the
    /// zoneless node forms an empty-valued domain); node-n lacks the zone yet is still scored by
    /// hostname. Raw: a 13, b 9, x 9, n 4.
    @Test("System default constraints spread a ReplicaSet's pods, keeping zoneless nodes for hostname spreading")
    func systemDefaultsScore() {
        let listers = Listers()
        listers.replicaSets.upsert(Self.replicaSet("rs", selector: ["app": "web"]))
        let pl = PodTopologySpread(listers: listers)
        let zone = "topology.kubernetes.io/zone"
        let nodes = [
            S.node("node-a", labels: [zone: "zone1"]), S.node("node-b", labels: [zone: "zone1"]),
            S.node("node-x", labels: [zone: "zone2"]), S.node("node-n"),
        ]
        let web = ["app": "web"]
        let pods =
            S.placed(2, on: "node-a", labels: web) + S.placed(1, on: "node-x", labels: web)
            + S.placed(1, on: "node-n", labels: web) + S.placed(3, on: "node-b", labels: ["app": "db"])
        var pod = S.incoming(labels: web, [])
        Self.owned(by: "ReplicaSet", "rs")(&pod)
        let got = S.score(pl, pod, S.snapshot(nodes, pods))
        #expect(got == ["node-a": 30, "node-b": 61, "node-x": 61, "node-n": 100])
    }

    @Test("System defaults need a Service or controller selecting the pod; otherwise PreScore skips")
    func systemDefaultsNeedSelector() {
        let pod = S.incoming(labels: ["app": "web"], [])
        #expect(S.score(PodTopologySpread(), pod, S.snapshot(S.fourNodes, [])) == nil)
    }

    @Test("List defaulting: nodes missing a default constraint's topology key score 0")
    func listDefaultsRequireAllKeys() {
        let listers = Listers()
        listers.services.upsert(Self.service("web", selector: ["app": "web"]))
        let pl = PodTopologySpread(
            defaultingType: .list,
            defaultConstraints: [S.constraint(1, "zone", "ScheduleAnyway", selector: nil)], listers: listers)
        let nodes = [S.node("node-a", zone: "zone1"), S.node("node-x", zone: "zone2"), S.node("node-n")]
        let pods = S.placed(1, on: "node-a", labels: ["app": "web"])
        let got = S.score(pl, S.incoming(labels: ["app": "web"], []), S.snapshot(nodes, pods))
        #expect(got == ["node-a": 0, "node-x": 100, "node-n": 0])
    }

    @Test("Registers for placed pods changing and nodes changing")
    func events() {
        let ev = PodTopologySpread().eventsToRegister()
        #expect(ev.contains(ClusterEvent(.pod, [.add, .updatePodLabel, .updatePodToleration, .delete])))
        #expect(ev.contains(ClusterEvent(.node, [.add, .delete, .updateNodeLabel, .updateNodeTaint])))
    }

    // MARK: args

    struct ArgsCase: CustomTestStringConvertible, Sendable {
        let name: String
        let args: String
        let error: String?
        var testDescription: String { name }
    }

    static let argsCases: [ArgsCase] = [
        ArgsCase(
            name: "System defaulting without constraints is valid", args: #"{"defaultingType":"System"}"#, error: nil),
        ArgsCase(
            name: "List defaulting with constraints is valid",
            args:
                #"{"defaultingType":"List","defaultConstraints":[{"maxSkew":1,"topologyKey":"zone","whenUnsatisfiable":"DoNotSchedule"}]}"#,
            error: nil),
        ArgsCase(
            name: "System defaulting rejects defaultConstraints",
            args:
                #"{"defaultingType":"System","defaultConstraints":[{"maxSkew":1,"topologyKey":"zone","whenUnsatisfiable":"DoNotSchedule"}]}"#,
            error: #"defaultingType: Invalid value: "System": when .defaultConstraints are not empty"#),
        ArgsCase(
            name: "an absent defaultingType means System, so constraints are rejected",
            args: #"{"defaultConstraints":[{"maxSkew":1,"topologyKey":"zone","whenUnsatisfiable":"DoNotSchedule"}]}"#,
            error: #"defaultingType: Invalid value: "System": when .defaultConstraints are not empty"#),
        ArgsCase(
            name: "an unknown defaultingType is unsupported", args: #"{"defaultingType":"Auto"}"#,
            error: #"defaultingType: Unsupported value: "Auto": supported values: "System", "List""#),
        ArgsCase(
            name: "maxSkew must be positive",
            args:
                #"{"defaultingType":"List","defaultConstraints":[{"maxSkew":0,"topologyKey":"zone","whenUnsatisfiable":"DoNotSchedule"}]}"#,
            error: "defaultConstraints[0].maxSkew: Invalid value: 0: not in valid range (0, inf)"),
        ArgsCase(
            name: "topologyKey is required",
            args:
                #"{"defaultingType":"List","defaultConstraints":[{"maxSkew":1,"whenUnsatisfiable":"DoNotSchedule"}]}"#,
            error: "defaultConstraints[0].topologyKey: Required value: can not be empty"),
        ArgsCase(
            name: "whenUnsatisfiable must be DoNotSchedule or ScheduleAnyway",
            args:
                #"{"defaultingType":"List","defaultConstraints":[{"maxSkew":1,"topologyKey":"zone","whenUnsatisfiable":"Never"}]}"#,
            error:
                #"defaultConstraints[0].whenUnsatisfiable: Unsupported value: "Never": supported values: "DoNotSchedule", "ScheduleAnyway""#
        ),
        ArgsCase(
            name: "default constraints must not carry a labelSelector",
            args:
                #"{"defaultingType":"List","defaultConstraints":[{"maxSkew":1,"topologyKey":"zone","whenUnsatisfiable":"DoNotSchedule","labelSelector":{}}]}"#,
            error:
                "defaultConstraints[0].labelSelector: Forbidden: constraint must not define a selector, as they deduced for each pod"
        ),
        ArgsCase(
            name: "a repeated topologyKey and whenUnsatisfiable pair is a duplicate",
            args:
                #"{"defaultingType":"List","defaultConstraints":[{"maxSkew":1,"topologyKey":"zone","whenUnsatisfiable":"DoNotSchedule"},{"maxSkew":2,"topologyKey":"zone","whenUnsatisfiable":"DoNotSchedule"}]}"#,
            error: #"defaultConstraints[1]: Duplicate value: "{zone, DoNotSchedule}""#),
        ArgsCase(
            name: "several errors are aggregated in brackets",
            args: #"{"defaultingType":"List","defaultConstraints":[{"maxSkew":0,"topologyKey":"zone"}]}"#,
            error:
                "[defaultConstraints[0].maxSkew: Invalid value: 0: not in valid range (0, inf), defaultConstraints[0].whenUnsatisfiable: Required value: can not be empty]"
        ),
    ]

    @Test("Args are validated as ValidatePodTopologySpreadArgs", arguments: argsCases)
    func validateArgs(_ c: ArgsCase) throws {
        let args = try JSONValue.parse(Array(c.args.utf8))
        var got: String?
        do {
            try PluginRegistry.spreadingValidators[PodTopologySpread.name]!(args, "")
        } catch {
            got = "\(error)"
        }
        #expect(got == c.error)
    }

    @Test("Validation paths are prefixed with the plugin config's path")
    func validationPath() throws {
        let args = try JSONValue.parse(Array(#"{"defaultingType":"Auto"}"#.utf8))
        var got = ""
        do {
            try PluginRegistry.validateArgs(PodTopologySpread.name, args, path: "profiles[0].pluginConfig[0].args")
        } catch {
            got = "\(error)"
        }
        #expect(
            got
                == #"profiles[0].pluginConfig[0].args.defaultingType: Unsupported value: "Auto": supported values: "System", "List""#
        )
    }

    @Test("The registry builds the plugin from its args with the handle's listers")
    func factory() throws {
        let args = try JSONValue.parse(
            Array(
                #"{"defaultingType":"List","defaultConstraints":[{"maxSkew":1,"topologyKey":"zone","whenUnsatisfiable":"DoNotSchedule"}]}"#
                    .utf8))
        let handle = Handle()
        handle.listers.services.upsert(Self.service("web", selector: ["app": "web"]))
        let pl = try #require(try PluginRegistry.factories[PodTopologySpread.name]!(args, handle) as? PodTopologySpread)
        #expect(!pl.systemDefaulted)
        let snap = S.snapshot(S.fourNodes, S.placed(2, on: "node-a", labels: ["app": "web"]))
        #expect(
            S.filter(pl, S.incoming(labels: ["app": "web"], []), snap)
                == ["node-a": S.skewed, "node-b": S.skewed, "node-x": S.fits, "node-y": S.fits])
        let bad = try JSONValue.parse(Array(#"{"defaultingType":"Auto"}"#.utf8))
        #expect(throws: SchedulerConfigurationError.self) {
            try PluginRegistry.factories[PodTopologySpread.name]!(bad, handle)
        }
    }

    @Test("The default profile enables PodTopologySpread with weight 2")
    func defaultProfile() {
        let enabled = PluginRegistry.defaultPlugins["multiPoint"].enabled
        #expect(enabled.contains(PluginRef("PodTopologySpread", weight: 2)))
    }
}
