import APICore
import APIMachinery
import Foundation
import Scheduler

/// The scheduler's cycle alone, without the API: the default profile places `pods` pods (100m CPU,
/// 500Mi, as schedload's) on `nodes` nodes in three zones, each placed pod added to its node as the
/// scheduler's assume does. Seconds per pod.
func schedulingCycle(nodes: Int, pods: Int) throws -> Double {
    var infos: [NodeInfo] = []
    infos.reserveCapacity(nodes)
    for i in 0..<nodes {
        var n = CoreV1.Node()
        n.metadata.name = "node-\(i)"
        n.metadata.labels = [
            "kubernetes.io/hostname": "node-\(i)", "topology.kubernetes.io/zone": "zone-\(i % 3)",
        ]
        let amounts: [String: Quantity] = ["cpu": "32", "memory": "256Gi", "pods": "110"]
        n.status.capacity = amounts
        n.status.allocatable = amounts
        n.status.conditions = [CoreV1.NodeCondition(type: "Ready", status: "True")]
        infos.append(NodeInfo(node: n))
    }
    let snapshot = Snapshot(infos)
    let framework = try PluginRegistry.framework(
        for: SchedulerConfiguration.defaulted().profiles[0], handle: Handle(snapshot: snapshot))
    let algorithm = SchedulingAlgorithm(seed: 1)
    var podInfos: [PodInfo] = []
    for i in 0..<pods {
        var p = CoreV1.Pod()
        p.metadata.name = "pod-\(i)"
        p.metadata.namespace = "bench"
        p.metadata.uid = "uid-\(i)"
        p.spec.schedulerName = "default-scheduler"
        var c = CoreV1.Container()
        c.name = "c"
        c.image = "pause"
        c.resources.requests = ["cpu": "100m", "memory": "500Mi"]
        p.spec.containers = [c]
        podInfos.append(PodInfo(p))
    }
    let clock = ContinuousClock()
    let start = clock.now
    for p in podInfos {
        let r = try algorithm.schedule(framework, CycleState(), p, snapshot)
        var placed = p.pod
        placed.spec.nodeName = r.suggestedHost
        snapshot.get(r.suggestedHost)?.add(PodInfo(placed))
    }
    let d = clock.now - start
    return (Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18) / Double(pods)
}
