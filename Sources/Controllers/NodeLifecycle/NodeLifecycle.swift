import APICoordination
import APICore
import APIMachinery
import ControllerRuntime
import Foundation

/// The node lifecycle controller's decisions (upstream's `node_lifecycle_controller.go`).
enum NodeLifecycleLogic {
    static let unreachable = "node.kubernetes.io/unreachable"
    static let notReady = "node.kubernetes.io/not-ready"
    static let watchedConditions = ["Ready", "MemoryPressure", "DiskPressure", "PIDPressure"]

    /// A node heard from neither through its Lease nor its Ready heartbeat within the grace period goes
    /// Unknown: its conditions say the kubelet stopped posting status. Nil when nothing changes.
    static func unknownStatus(_ node: CoreV1.Node, lastHeard: Date, grace: TimeInterval, now: Date) -> CoreV1
        .NodeStatus?
    {
        guard now.timeIntervalSince(lastHeard) > grace else { return nil }
        var s = node.status
        var changed = false
        for type in watchedConditions {
            if let i = s.conditions.firstIndex(where: { $0.type == type }) {
                guard s.conditions[i].status != "Unknown" else { continue }
                s.conditions[i].status = "Unknown"
                s.conditions[i].reason = "NodeStatusUnknown"
                s.conditions[i].message = "Kubelet stopped posting node status."
                s.conditions[i].lastTransitionTime = Time(now)
            } else {
                s.conditions.append(
                    CoreV1.NodeCondition(
                        type: type, status: "Unknown", lastHeartbeatTime: Time(lastHeard),
                        lastTransitionTime: Time(now),
                        reason: "NodeStatusNeverUpdated", message: "Kubelet never posted node status."))
            }
            changed = true
        }
        return changed ? s : nil
    }

    /// The NoSchedule taint each pressure condition calls for while it is True (upstream's
    /// condition-to-taint map).
    static let pressureTaints = [
        "MemoryPressure": "node.kubernetes.io/memory-pressure", "DiskPressure": "node.kubernetes.io/disk-pressure",
        "PIDPressure": "node.kubernetes.io/pid-pressure",
    ]

    /// The taints a node's conditions call for: the Ready ones (`readyTaints`), then a NoSchedule
    /// taint per pressure condition that is True, removed once it is not.
    static func taints(for node: CoreV1.Node, now: Date) -> [CoreV1.Taint] {
        var out = readyTaints(for: node, now: now)
        for (type, key) in pressureTaints.sorted(by: { $0.key > $1.key }) {
            let on = node.status.conditions.contains { $0.type == type && $0.status == "True" }
            let has = out.contains { $0.key == key && $0.effect == "NoSchedule" }
            if on && !has { out.append(CoreV1.Taint(key: key, effect: "NoSchedule")) }
            if !on && has { out.removeAll { $0.key == key && $0.effect == "NoSchedule" } }
        }
        return out
    }

    /// The taints a node's Ready condition calls for: unreachable for Unknown, not-ready for False
    /// (NoSchedule and NoExecute each), none when Ready; unchanged while it has no Ready condition.
    static func readyTaints(for node: CoreV1.Node, now: Date) -> [CoreV1.Taint] {
        let ready = node.status.conditions.first { $0.type == "Ready" }?.status
        let key: String
        switch ready {
        case "True": return node.spec.taints.filter { $0.key != unreachable && $0.key != notReady }
        case "False": key = notReady
        case nil: return node.spec.taints  // Nothing observed yet: the grace period decides first.
        default: key = unreachable
        }
        var out = node.spec.taints.filter { $0.key != unreachable && $0.key != notReady }
        for effect in ["NoSchedule", "NoExecute"] {
            let kept = node.spec.taints.first { $0.key == key && $0.effect == effect }
            out.append(
                kept
                    ?? CoreV1.Taint(key: key, effect: effect, timeAdded: effect == "NoExecute" ? Time(now) : nil))
        }
        return out
    }

    /// How long a pod may stay on a node with these NoExecute taints (upstream's taint eviction):
    /// nil forever (all tolerated without a limit), zero to evict now, or the smallest tolerationSeconds.
    static func evictionDelay(_ pod: CoreV1.Pod, taints: [CoreV1.Taint]) -> TimeInterval? {
        var delay: TimeInterval?
        for taint in taints where taint.effect == "NoExecute" {
            let matching = pod.spec.tolerations.filter { $0.tolerates(taint) }
            if matching.isEmpty { return 0 }
            let limits = matching.compactMap(\.tolerationSeconds)
            if limits.count < matching.count { continue }  // One tolerates it forever.
            let secs = TimeInterval(max(0, limits.min()!))
            let since = taint.timeAdded.map { Date().timeIntervalSince($0.date) } ?? 0
            delay = min(delay ?? .infinity, max(0, secs - since))
        }
        return delay
    }
}

/// Watches node heartbeats (Leases and Ready conditions): a node not heard from within
/// `--node-monitor-grace-period` goes Unknown, and nodes get the unreachable/not-ready taints their
/// Ready condition calls for (upstream's node-lifecycle-controller).
public final class NodeLifecycleController: Controller {
    let client: KubeClient
    let nodes: ObjectStore<CoreV1.Node>
    let leases: ObjectStore<CoordinationV1.Lease>
    let period: Duration
    let grace: TimeInterval
    let recorder: EventRecorder

    public init(_ ctx: ControllerContext) {
        client = ctx.client
        nodes = ctx.informers.informer(CoreV1.Node.self).store
        leases = ctx.informers.informer(CoordinationV1.Lease.self).store
        period = ctx.options.nodeMonitorPeriod
        let g = ctx.options.nodeMonitorGracePeriod.components
        grace = TimeInterval(g.seconds) + TimeInterval(g.attoseconds) / 1e18
        recorder = ctx.recorder("node-controller")
    }

    func lastHeard(_ n: CoreV1.Node) -> Date {
        var t = n.metadata.creationTimestamp?.date ?? Date()
        if let hb = n.status.conditions.first(where: { $0.type == "Ready" })?.lastHeartbeatTime?.date { t = max(t, hb) }
        if let lease = leases.get(namespace: "kube-node-lease", name: n.metadata.name),
            let renew = lease.spec.renewTime
        {
            t = max(t, Date(timeIntervalSince1970: TimeInterval(renew.seconds) + TimeInterval(renew.nanos) / 1e9))
        }
        return t
    }

    func monitor() async {
        let now = Date()
        for var node in nodes.list() {
            if let s = NodeLifecycleLogic.unknownStatus(node, lastHeard: lastHeard(node), grace: grace, now: now) {
                node.status = s
                guard let updated = try? await client.updateStatus(node) else { continue }
                node = updated
                recorder.normal(
                    node, reason: "NodeNotReady", note: "Node \(node.metadata.name) status is now: NodeNotReady")
            }
            let taints = NodeLifecycleLogic.taints(for: node, now: now)
            if taints != node.spec.taints {
                node.spec.taints = taints
                _ = try? await client.update(node)
            }
        }
    }

    public func run() async {
        while !Task.isCancelled {
            await monitor()
            try? await Task.sleep(for: period)
        }
    }
}

/// Evicts pods from nodes with NoExecute taints they do not tolerate, after their tolerationSeconds
/// (upstream's taint-eviction-controller).
public final class TaintEvictionController: Controller {
    let client: KubeClient
    let nodes: ObjectStore<CoreV1.Node>
    let pods: ObjectStore<CoreV1.Pod>
    let queue = WorkQueue<ObjectKey>(name: "node_lifecycle_controller")
    let recorder: EventRecorder

    public init(_ ctx: ControllerContext) {
        client = ctx.client
        recorder = ctx.recorder("taint-eviction-controller")
        let nodeInformer = ctx.informers.informer(CoreV1.Node.self)
        let podInformer = ctx.informers.informer(CoreV1.Pod.self)
        nodes = nodeInformer.store
        pods = podInformer.store
        pods.addIndexer("node") { $0.spec.nodeName.isEmpty ? [] : [$0.spec.nodeName] }
        let queue = self.queue
        let pods = self.pods
        nodeInformer.addHandler { e in
            switch e {
            case .added(let n), .updated(_, let n):
                if n.spec.taints.contains(where: { $0.effect == "NoExecute" }) {
                    for p in pods.byIndex("node", n.metadata.name) { queue.add(ObjectKey(p.metadata)) }
                }
            case .deleted: break
            }
        }
        podInformer.addHandler { e in
            if case .added(let p) = e, !p.spec.nodeName.isEmpty { queue.add(ObjectKey(p.metadata)) }
            if case .updated(let o, let p) = e, o.spec.nodeName != p.spec.nodeName { queue.add(ObjectKey(p.metadata)) }
        }
    }

    func sync(_ key: ObjectKey) async throws {
        guard let pod = pods.get(key), pod.metadata.deletionTimestamp == nil, !pod.spec.nodeName.isEmpty,
            let node = nodes.get(name: pod.spec.nodeName)
        else { return }
        guard let delay = NodeLifecycleLogic.evictionDelay(pod, taints: node.spec.taints) else { return }
        if delay > 0 {
            queue.add(key, after: .milliseconds(Int64(delay * 1000)))
            return
        }
        var marked = pod
        marked.status.conditions.removeAll { $0.type == "DisruptionTarget" }
        marked.status.conditions.append(
            CoreV1.PodCondition(
                type: "DisruptionTarget", status: "True", lastTransitionTime: Time(Date()),
                reason: "DeletionByTaintManager",
                message: "Taint manager: deleting due to NoExecute taint"))
        _ = try? await client.updateStatus(marked)
        recorder.normal(pod, reason: "TaintManagerEviction", note: "Marking for deletion Pod \(key)")
        do { try await client.delete(CoreV1.Pod.self, key.name, namespace: key.namespace) } catch let e as StatusError
            where e.isNotFound
        {}
    }

    public func run() async { await queue.runWorkers(8) { try await self.sync($0) } }
}
