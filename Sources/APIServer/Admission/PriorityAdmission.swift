import APIMachinery
import Foundation
import KubernetesAPI

/// Upstream's `Priority` admission plugin: a new pod's `priorityClassName` (or the global default
/// class) settles its `priority` and `preemptionPolicy`; an unknown class, or a pod stating values
/// that differ from its class's, is forbidden.
enum PriorityAdmission {
    /// The classes every cluster has (created at start; also resolved when missing from the store).
    static let systemClasses: [(name: String, value: Int32, description: String)] = [
        (
            "system-node-critical", 2_000_001_000,
            "Used for system critical pods that must not be moved from their current node."
        ),
        (
            "system-cluster-critical", 2_000_000_000,
            "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary."
        ),
    ]

    static func forbidden(_ pod: CoreV1.Pod, _ detail: String) -> APIError {
        var d = MetaV1.StatusDetails()
        d.name = pod.metadata.name
        d.kind = "pods"
        return APIError(
            code: 403, reason: "Forbidden", message: "pods \"\(pod.metadata.name)\" is forbidden: \(detail)", details: d
        )
    }

    static func admit(_ pod: inout CoreV1.Pod, classes: ResourceStore<SchedulingV1.PriorityClass>?) throws {
        var value: Int32 = 0
        var policy = "PreemptLowerPriority"
        let all = classes?.cache.snapshot(.everything).items.map(\.object) ?? []
        if pod.spec.priorityClassName.isEmpty {
            // The global default (the lowest-valued one if several claim it), else priority 0.
            if let d = all.filter({ $0.globalDefault == true }).min(by: { $0.value < $1.value }) {
                pod.spec.priorityClassName = d.metadata.name
                value = d.value
                policy = d.preemptionPolicy ?? policy
            }
        } else if let pc = all.first(where: { $0.metadata.name == pod.spec.priorityClassName }) {
            value = pc.value
            policy = pc.preemptionPolicy ?? policy
        } else if let sys = systemClasses.first(where: { $0.name == pod.spec.priorityClassName }) {
            value = sys.value
        } else {
            throw forbidden(pod, "no PriorityClass with name \(pod.spec.priorityClassName) was found")
        }
        if let given = pod.spec.priority, given != value {
            throw forbidden(
                pod,
                "the integer value of priority (\(given)) must not be provided in pod spec; priority admission controller computed \(value) from the given PriorityClass name"
            )
        }
        if let given = pod.spec.preemptionPolicy, given != policy {
            throw forbidden(
                pod,
                "the string value of PreemptionPolicy (\(given)) must not be provided in pod spec; priority admission controller computed \(policy) from the given PriorityClass name"
            )
        }
        pod.spec.priority = value
        pod.spec.preemptionPolicy = policy
    }
}

/// Upstream's `DefaultTolerationSeconds` admission plugin: a new pod that does not tolerate the
/// not-ready and unreachable NoExecute taints gets tolerations for them, 300 seconds each, so it
/// stays on a node that stops reporting for five minutes before the taint-eviction controller acts.
enum DefaultTolerationSeconds {
    static let notReady = "node.kubernetes.io/not-ready"
    static let unreachable = "node.kubernetes.io/unreachable"
    static let seconds: Int64 = 300

    static func admit(_ pod: inout CoreV1.Pod) {
        func tolerates(_ key: String) -> Bool {
            pod.spec.tolerations.contains { t in
                (t.key == key || t.key.isEmpty) && (t.effect == "NoExecute" || t.effect.isEmpty)
            }
        }
        let missing = [notReady, unreachable].filter { !tolerates($0) }
        for key in missing {
            var t = CoreV1.Toleration()
            t.key = key
            t.operator = "Exists"
            t.effect = "NoExecute"
            t.tolerationSeconds = seconds
            pod.spec.tolerations.append(t)
        }
    }
}
