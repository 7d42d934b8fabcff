import APIApps
import APICore
import APIMachinery
import Foundation

/// Scheduling facts the daemon set controller uses to decide where its pods belong (upstream's
/// `NodeShouldRunDaemonPod` with the NodeAffinity and TaintToleration rules), and the pod it makes.
enum DaemonSetLogic {
    static let revisionHashLabel = "controller-revision-hash"
    static let templateGenerationLabel = "pod-template-generation"

    /// Where a daemon pod belongs: it must fit the node, and tolerate its NoSchedule and NoExecute
    /// taints to start there; one already there stays unless a NoExecute taint is untolerated.
    static func shouldRun(_ ds: AppsV1.DaemonSet, on node: CoreV1.Node) -> (run: Bool, keep: Bool) {
        let spec = pod(for: ds, node: node.metadata.name, hash: "").spec
        guard spec.requiredNodeAffinityMatches(node) else { return (false, false) }
        let untolerated = node.spec.taints.filter { taint in !spec.tolerations.contains { $0.tolerates(taint) } }
        let noExecute = untolerated.contains { $0.effect == "NoExecute" }
        let noSchedule = untolerated.contains { $0.effect == "NoSchedule" }
        return (!noExecute && !noSchedule, !noExecute)
    }

    /// The tolerations upstream adds to every daemon pod (`AddOrUpdateDaemonPodTolerations`).
    static func daemonTolerations(hostNetwork: Bool) -> [CoreV1.Toleration] {
        var t = [
            CoreV1.Toleration(key: "node.kubernetes.io/not-ready", operator: "Exists", effect: "NoExecute"),
            CoreV1.Toleration(key: "node.kubernetes.io/unreachable", operator: "Exists", effect: "NoExecute"),
            CoreV1.Toleration(key: "node.kubernetes.io/disk-pressure", operator: "Exists", effect: "NoSchedule"),
            CoreV1.Toleration(key: "node.kubernetes.io/memory-pressure", operator: "Exists", effect: "NoSchedule"),
            CoreV1.Toleration(key: "node.kubernetes.io/pid-pressure", operator: "Exists", effect: "NoSchedule"),
            CoreV1.Toleration(key: "node.kubernetes.io/unschedulable", operator: "Exists", effect: "NoSchedule"),
        ]
        if hostNetwork {
            t.append(
                CoreV1.Toleration(
                    key: "node.kubernetes.io/network-unavailable", operator: "Exists", effect: "NoSchedule"))
        }
        return t
    }

    /// A daemon pod for a node: the template, pinned to the node by a required node affinity on
    /// `metadata.name` (the scheduler binds it), with the daemon tolerations and revision labels.
    static func pod(for ds: AppsV1.DaemonSet, node: String, hash: String) -> CoreV1.Pod {
        var p = ReplicaSetLogic.pod(
            from: ds.spec.template, namespace: ds.metadata.namespace, generateName: ds.metadata.name + "-",
            owner: OwnerRefs.controllerReference(to: ds))
        if !hash.isEmpty { p.metadata.labels[revisionHashLabel] = hash }
        p.metadata.labels[templateGenerationLabel] = String(ds.metadata.generation)
        var affinity = p.spec.affinity ?? CoreV1.Affinity()
        var nodeAffinity = affinity.nodeAffinity ?? CoreV1.NodeAffinity()
        let field = CoreV1.NodeSelectorRequirement(key: "metadata.name", operator: "In", values: [node])
        if var selector = nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution,
            !selector.nodeSelectorTerms.isEmpty
        {
            for i in selector.nodeSelectorTerms.indices { selector.nodeSelectorTerms[i].matchFields = [field] }
            nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution = selector
        } else {
            nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution = CoreV1.NodeSelector(
                nodeSelectorTerms: [CoreV1.NodeSelectorTerm(matchFields: [field])])
        }
        affinity.nodeAffinity = nodeAffinity
        p.spec.affinity = affinity
        for t in daemonTolerations(hostNetwork: p.spec.hostNetwork)
        where !p.spec.tolerations.contains(where: { $0.key == t.key && $0.effect == t.effect }) {
            p.spec.tolerations.append(t)
        }
        return p
    }

    /// The node a daemon pod is pinned to (its nodeName, else its `metadata.name` affinity).
    static func node(of p: CoreV1.Pod) -> String? {
        if !p.spec.nodeName.isEmpty { return p.spec.nodeName }
        return p.spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms
            .lazy.flatMap(\.matchFields).first { $0.key == "metadata.name" && $0.operator == "In" }?.values.first
    }

    /// The template's revision hash (the same hashing as deployments).
    static func hash(_ ds: AppsV1.DaemonSet) -> String {
        DeploymentLogic.templateHash(ds.spec.template, collisionCount: ds.status.collisionCount)
    }
}
