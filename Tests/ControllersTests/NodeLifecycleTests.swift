import APICore
import APIMachinery
import Foundation
import Testing

@testable import Controllers

@Suite("node lifecycle decisions")
struct NodeLifecycleTests {
    let now = Date(timeIntervalSince1970: 5_000_000)

    func node(ready: String?) -> CoreV1.Node {
        var n = CoreV1.Node()
        n.metadata.name = "n"
        if let ready {
            n.status.conditions = [
                CoreV1.NodeCondition(type: "Ready", status: ready, lastHeartbeatTime: Time(seconds: 1))
            ]
        }
        return n
    }

    @Test("a node silent past the grace period goes Unknown with upstream's reason and message")
    func unknown() {
        let n = node(ready: "True")
        #expect(NodeLifecycleLogic.unknownStatus(n, lastHeard: now.addingTimeInterval(-10), grace: 50, now: now) == nil)
        let s = NodeLifecycleLogic.unknownStatus(n, lastHeard: now.addingTimeInterval(-60), grace: 50, now: now)!
        let ready = s.conditions.first { $0.type == "Ready" }!
        #expect(ready.status == "Unknown" && ready.reason == "NodeStatusUnknown")
        #expect(ready.message == "Kubelet stopped posting node status.")
        #expect(Set(s.conditions.map(\.type)) == ["Ready", "MemoryPressure", "DiskPressure", "PIDPressure"])
    }

    @Test("Ready Unknown taints unreachable, False taints not-ready, True removes both; others kept")
    func taints() {
        var n = node(ready: "Unknown")
        n.spec.taints = [CoreV1.Taint(key: "mine", effect: "NoSchedule")]
        let t = NodeLifecycleLogic.taints(for: n, now: now)
        #expect(
            t.map { "\($0.key):\($0.effect)" } == [
                "mine:NoSchedule", "node.kubernetes.io/unreachable:NoSchedule",
                "node.kubernetes.io/unreachable:NoExecute",
            ])
        #expect(t[2].timeAdded == Time(now) && t[1].timeAdded == nil)
        n.status.conditions[0].status = "False"
        #expect(NodeLifecycleLogic.taints(for: n, now: now).map(\.key).contains("node.kubernetes.io/not-ready"))
        n.spec.taints = t
        n.status.conditions[0].status = "True"
        #expect(NodeLifecycleLogic.taints(for: n, now: now).map(\.key) == ["mine"])
        var fresh = node(ready: nil)
        fresh.spec.taints = [CoreV1.Taint(key: "mine", effect: "NoSchedule")]
        #expect(NodeLifecycleLogic.taints(for: fresh, now: now) == fresh.spec.taints, "no Ready condition yet")
    }

    @Test("pressure conditions that are True taint NoSchedule (memory, disk, pid pressure); the taint goes with them")
    func pressureTaints() {
        var n = node(ready: "True")
        n.status.conditions += [
            CoreV1.NodeCondition(type: "MemoryPressure", status: "True"),
            CoreV1.NodeCondition(type: "DiskPressure", status: "False"),
            CoreV1.NodeCondition(type: "PIDPressure", status: "True"),
        ]
        let t = NodeLifecycleLogic.taints(for: n, now: now)
        #expect(
            t.map { "\($0.key):\($0.effect)" } == [
                "node.kubernetes.io/pid-pressure:NoSchedule", "node.kubernetes.io/memory-pressure:NoSchedule",
            ])
        n.spec.taints = t
        n.status.conditions[1].status = "False"
        n.status.conditions[3].status = "Unknown"
        #expect(NodeLifecycleLogic.taints(for: n, now: now).isEmpty)
    }

    @Test("eviction: untolerated NoExecute now, tolerationSeconds later, an unlimited toleration never")
    func eviction() {
        let taint = CoreV1.Taint(key: "node.kubernetes.io/unreachable", effect: "NoExecute", timeAdded: Time(Date()))
        var p = pod("p")
        #expect(NodeLifecycleLogic.evictionDelay(p, taints: [taint]) == 0)
        p.spec.tolerations = [
            CoreV1.Toleration(key: taint.key, operator: "Exists", effect: "NoExecute", tolerationSeconds: 300)
        ]
        let d = NodeLifecycleLogic.evictionDelay(p, taints: [taint]) ?? -1
        #expect(d > 298 && d <= 300)
        p.spec.tolerations = [CoreV1.Toleration(operator: "Exists")]
        #expect(NodeLifecycleLogic.evictionDelay(p, taints: [taint]) == nil)
        #expect(
            NodeLifecycleLogic.evictionDelay(pod("q"), taints: [CoreV1.Taint(key: "k", effect: "NoSchedule")]) == nil)
    }
}
