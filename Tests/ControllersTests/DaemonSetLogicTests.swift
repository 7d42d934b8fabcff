import APIApps
import APICore
import APIMachinery
import Foundation
import Testing

@testable import Controllers

@Suite("daemon set decisions")
struct DaemonSetLogicTests {
    func node(_ name: String, labels: [String: String] = [:], taints: [CoreV1.Taint] = []) -> CoreV1.Node {
        var n = CoreV1.Node()
        n.metadata.name = name
        n.metadata.labels = labels
        n.spec.taints = taints
        return n
    }

    func daemonSet() -> AppsV1.DaemonSet {
        var d = AppsV1.DaemonSet()
        d.metadata.name = "ds"
        d.metadata.namespace = "ns"
        d.metadata.uid = "ds-uid"
        d.spec.template.spec.nodeSelector = ["role": "web"]
        return d
    }

    @Test("taints: NoSchedule keeps new pods off, NoExecute also evicts; the daemon tolerations apply")
    func eligibility() {
        let ds = daemonSet()
        #expect(DaemonSetLogic.shouldRun(ds, on: node("a", labels: ["role": "web"])) == (true, true))
        #expect(DaemonSetLogic.shouldRun(ds, on: node("b", labels: ["role": "db"])) == (false, false))
        let noSchedule = CoreV1.Taint(key: "k", value: "v", effect: "NoSchedule")
        #expect(
            DaemonSetLogic.shouldRun(ds, on: node("c", labels: ["role": "web"], taints: [noSchedule])) == (false, true))
        let noExecute = CoreV1.Taint(key: "k", value: "v", effect: "NoExecute")
        #expect(
            DaemonSetLogic.shouldRun(ds, on: node("d", labels: ["role": "web"], taints: [noExecute])) == (false, false))
        // Upstream's added tolerations: an unschedulable or not-ready node still gets its daemon pod.
        let notReady = CoreV1.Taint(key: "node.kubernetes.io/not-ready", effect: "NoExecute")
        let cordoned = CoreV1.Taint(key: "node.kubernetes.io/unschedulable", effect: "NoSchedule")
        #expect(
            DaemonSetLogic.shouldRun(ds, on: node("e", labels: ["role": "web"], taints: [notReady, cordoned])) == (
                true, true
            ))
    }

    @Test("required node affinity: terms are OR-ed, expressions AND-ed, with In/NotIn/Exists/Gt")
    func affinity() {
        var spec = CoreV1.PodSpec()
        spec.affinity = CoreV1.Affinity(
            nodeAffinity: CoreV1.NodeAffinity(
                requiredDuringSchedulingIgnoredDuringExecution: CoreV1.NodeSelector(nodeSelectorTerms: [
                    CoreV1.NodeSelectorTerm(matchExpressions: [
                        CoreV1.NodeSelectorRequirement(key: "zone", operator: "In", values: ["a", "b"]),
                        CoreV1.NodeSelectorRequirement(key: "cores", operator: "Gt", values: ["4"]),
                    ]),
                    CoreV1.NodeSelectorTerm(matchFields: [
                        CoreV1.NodeSelectorRequirement(key: "metadata.name", operator: "In", values: ["special"])
                    ]),
                ])))
        #expect(spec.requiredNodeAffinityMatches(node("x", labels: ["zone": "a", "cores": "8"])))
        #expect(!spec.requiredNodeAffinityMatches(node("x", labels: ["zone": "a", "cores": "2"])))
        #expect(!spec.requiredNodeAffinityMatches(node("x", labels: ["zone": "c", "cores": "8"])))
        #expect(spec.requiredNodeAffinityMatches(node("special")))
    }

    @Test("one pod a node, pinned by a metadata.name affinity; extras, strays and failed pods go")
    func plan() {
        let ds = daemonSet()
        let nodes = [
            node("a", labels: ["role": "web"]), node("b", labels: ["role": "web"]), node("c", labels: ["role": "db"]),
        ]
        let hash = DaemonSetLogic.hash(ds)
        func placed(_ name: String, on n: String, created: Int64 = 0, phase: String = "Running") -> CoreV1.Pod {
            var p = DaemonSetLogic.pod(for: ds, node: n, hash: hash)
            p.metadata.name = name
            p.metadata.creationTimestamp = Time(seconds: created)
            p.status.phase = phase
            return p
        }
        let pods = [
            placed("a1", on: "a", created: 1), placed("a2", on: "a", created: 2), placed("c1", on: "c"),
            placed("gone1", on: "gone"),
        ]
        let p = DaemonSetController.plan(ds, nodes: nodes, pods: pods, hash: hash, now: Date())
        #expect(p.createOn == ["b"])
        #expect(Set(p.delete) == ["a2", "c1", "gone1"])
        #expect(DaemonSetLogic.node(of: placed("x", on: "b")) == "b")
        let s = DaemonSetController.status(ds, nodes: nodes, pods: pods, hash: hash, now: Date())
        #expect(s.desiredNumberScheduled == 2 && s.currentNumberScheduled == 1 && s.numberMisscheduled == 1)
        #expect(s.updatedNumberScheduled == 1 && s.numberUnavailable == 2)
    }

    @Test("a rolling update replaces available old pods within maxUnavailable, unavailable ones at once")
    func rollingUpdate() {
        var ds = daemonSet()
        let nodes = (1...4).map { node("n\($0)", labels: ["role": "web"]) }
        let oldHash = "old"
        let pods = nodes.enumerated().map { i, n -> CoreV1.Pod in
            var p = DaemonSetLogic.pod(for: ds, node: n.metadata.name, hash: oldHash)
            p.metadata.name = "p\(i)"
            p.status.phase = "Running"
            if i > 0 {
                p.status.conditions = [
                    CoreV1.PodCondition(type: "Ready", status: "True", lastTransitionTime: Time(seconds: 1))
                ]
            }
            return p
        }
        ds.spec.updateStrategy.rollingUpdate = AppsV1.RollingUpdateDaemonSet(maxUnavailable: .int(2))
        let p = DaemonSetController.plan(ds, nodes: nodes, pods: pods, hash: "new", now: Date())
        // p0 is unavailable already (goes free); one more fits the budget of 2.
        #expect(p.delete == ["p0", "p1"])
        ds.spec.updateStrategy.type = "OnDelete"
        #expect(DaemonSetController.plan(ds, nodes: nodes, pods: pods, hash: "new", now: Date()).delete.isEmpty)
    }

    @Test("maxSurge: a new pod beside each old one within the surge budget; the old pod goes once the new is available")
    func surge() {
        var ds = daemonSet()
        ds.spec.updateStrategy.rollingUpdate = AppsV1.RollingUpdateDaemonSet(maxUnavailable: .int(0), maxSurge: .int(1))
        let nodes = (1...3).map { node("n\($0)", labels: ["role": "web"]) }
        func placed(_ name: String, on n: String, hash: String, ready: Bool = true) -> CoreV1.Pod {
            var p = DaemonSetLogic.pod(for: ds, node: n, hash: hash)
            p.metadata.name = name
            p.metadata.creationTimestamp = Time(seconds: 1)
            p.status.phase = "Running"
            if ready {
                p.status.conditions = [
                    CoreV1.PodCondition(type: "Ready", status: "True", lastTransitionTime: Time(seconds: 1))
                ]
            }
            return p
        }
        let old = [
            placed("o1", on: "n1", hash: "old"), placed("o2", on: "n2", hash: "old"),
            placed("o3", on: "n3", hash: "old"),
        ]
        var p = DaemonSetController.plan(ds, nodes: nodes, pods: old, hash: "new", now: Date())
        #expect(p.createOn == ["n1"] && p.delete.isEmpty, "one surge pod, no old pod removed yet")
        // The surge pod on n1 is not ready yet: the budget is spent.
        p = DaemonSetController.plan(
            ds, nodes: nodes, pods: old + [placed("s1", on: "n1", hash: "new", ready: false)], hash: "new", now: Date())
        #expect(p.createOn.isEmpty && p.delete.isEmpty)
        // Ready now: its old pod goes and the next node surges.
        p = DaemonSetController.plan(
            ds, nodes: nodes, pods: old + [placed("s1", on: "n1", hash: "new")], hash: "new", now: Date())
        #expect(p.delete == ["o1"] && p.createOn == ["n2"])
        // An old pod that is not available is replaced at once, outside the budget.
        let broken = [placed("o1", on: "n1", hash: "old", ready: false), placed("o2", on: "n2", hash: "old")]
        p = DaemonSetController.plan(ds, nodes: Array(nodes.prefix(2)), pods: broken, hash: "new", now: Date())
        #expect(p.createOn == ["n1", "n2"])
        let status = DaemonSetController.status(
            ds, nodes: nodes, pods: old + [placed("s1", on: "n1", hash: "new")], hash: "new", now: Date())
        #expect(status.updatedNumberScheduled == 1 && status.currentNumberScheduled == 3)
    }
}
