import APICore
import APIMachinery
import ControllerRuntime

/// A pod affinity term made ready for matching: its label selector parsed and its namespaces
/// settled (the pod's own when none are named), as upstream's `framework.AffinityTerm`.
public struct AffinityTerm: Sendable {
    public var selector: LabelSelector
    public var namespaces: Set<String>
    /// nil: only `namespaces` count; otherwise namespaces whose labels match count too.
    public var namespaceSelector: LabelSelector?
    public var topologyKey: String
    public var weight: Int32

    /// Does an existing pod fall under this term (namespace, then labels)?
    public func matches(_ pod: PodInfo, namespaceLabels: (String) -> [String: String]?) -> Bool {
        if !namespaces.contains(pod.namespace) {
            guard let ns = namespaceSelector, ns.matches(namespaceLabels(pod.namespace) ?? [:]) else { return false }
        }
        return selector.matches(pod.labels)
    }

    /// Upstream's `newAffinityTerm`: matchLabelKeys/mismatchLabelKeys fold the incoming pod's values in.
    init?(_ term: CoreV1.PodAffinityTerm, of pod: CoreV1.Pod, weight: Int32 = 0) {
        var sel = term.labelSelector ?? MetaV1.LabelSelector()
        let nilSelector = term.labelSelector == nil
        for k in term.matchLabelKeys {
            if let v = pod.metadata.labels[k] {
                sel.matchExpressions.append(MetaV1.LabelSelectorRequirement(key: k, operator: "In", values: [v]))
            }
        }
        for k in term.mismatchLabelKeys {
            if let v = pod.metadata.labels[k] {
                sel.matchExpressions.append(MetaV1.LabelSelectorRequirement(key: k, operator: "NotIn", values: [v]))
            }
        }
        if nilSelector && term.matchLabelKeys.isEmpty && term.mismatchLabelKeys.isEmpty {
            selector = .nothing
        } else {
            guard let s = try? LabelSelector.from(sel) else { return nil }
            selector = s
        }
        namespaces = Set(term.namespaces)
        if let nsSel = term.namespaceSelector {
            namespaceSelector = try? LabelSelector.from(nsSel)
        } else if term.namespaces.isEmpty {
            namespaces.insert(pod.metadata.namespace)
        }
        topologyKey = term.topologyKey
        self.weight = weight
    }
}

/// A host port a pod holds: (IP, protocol, port); 0.0.0.0 conflicts with every IP.
public struct HostPort: Hashable, Sendable {
    public var ip: String
    public var proto: String
    public var port: Int32
}

/// A pod with what the scheduler computes from it once: requests, affinity terms, host ports.
/// Immutable; a changed pod gets a new one.
public final class PodInfo: Sendable {
    public let pod: CoreV1.Pod
    public let key: ObjectKey
    public let requests: Resource
    public let nonZeroMilliCPU: Int64
    public let nonZeroMemory: Int64
    public let requiredAffinity: [AffinityTerm]
    public let requiredAntiAffinity: [AffinityTerm]
    public let preferredAffinity: [AffinityTerm]
    public let preferredAntiAffinity: [AffinityTerm]
    public let hostPorts: [HostPort]
    /// True when an affinity term could not be parsed (the pod cannot be placed).
    public let parseError: Bool

    public init(_ pod: CoreV1.Pod) {
        self.pod = pod
        key = ObjectKey(pod.metadata)
        requests = pod.spec.schedulingRequests
        let nz = pod.spec.nonZeroRequests
        nonZeroMilliCPU = nz.milliCPU
        nonZeroMemory = nz.memory
        var bad = false
        func terms(_ ts: [CoreV1.PodAffinityTerm]) -> [AffinityTerm] {
            ts.compactMap { t in
                let a = AffinityTerm(t, of: pod)
                if a == nil { bad = true }
                return a
            }
        }
        func weighted(_ ts: [CoreV1.WeightedPodAffinityTerm]) -> [AffinityTerm] {
            ts.compactMap { t in
                let a = AffinityTerm(t.podAffinityTerm, of: pod, weight: t.weight)
                if a == nil { bad = true }
                return a
            }
        }
        let aff = pod.spec.affinity
        requiredAffinity = terms(aff?.podAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? [])
        requiredAntiAffinity = terms(aff?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? [])
        preferredAffinity = weighted(aff?.podAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? [])
        preferredAntiAffinity = weighted(aff?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? [])
        parseError = bad
        var ports: [HostPort] = []
        // App containers and sidecars hold their ports while the pod runs.
        for c in pod.spec.containers + pod.spec.initContainers.filter({ $0.restartPolicy == "Always" }) {
            for p in c.ports where p.hostPort > 0 {
                ports.append(
                    HostPort(
                        ip: p.hostIP.isEmpty ? "0.0.0.0" : p.hostIP, proto: p.protocol.isEmpty ? "TCP" : p.protocol,
                        port: p.hostPort))
            }
        }
        hostPorts = ports
    }

    public var namespace: String { pod.metadata.namespace }
    public var name: String { pod.metadata.name }
    public var uid: String { pod.metadata.uid }
    public var labels: [String: String] { pod.metadata.labels }
    /// `spec.priority`, 0 when unset.
    public var priority: Int32 { pod.spec.priority ?? 0 }
    public var hasAffinity: Bool {
        !requiredAffinity.isEmpty || !requiredAntiAffinity.isEmpty || !preferredAffinity.isEmpty
            || !preferredAntiAffinity.isEmpty
    }
}

/// The size of an image and on how many nodes it is (for ImageLocality).
public struct ImageState: Sendable, Equatable {
    public var size: Int64
    public var numNodes: Int
}

/// One node as the scheduler sees it: the Node, the pods on it (bound or assumed) and their sums.
/// The cache's copies change under its lock; a cycle works on snapshot clones.
public final class NodeInfo: @unchecked Sendable {
    public internal(set) var node: CoreV1.Node? { didSet { refreshNodeFields() } }
    /// Parts of `node` that plugins read for every node in every cycle, kept apart: reading them
    /// through `node` copied the whole Node each time.
    public private(set) var name = ""
    public private(set) var taints: [CoreV1.Taint] = []
    public private(set) var unschedulable = false
    public private(set) var labels: [String: String] = [:]
    public private(set) var images: [CoreV1.ContainerImage] = []
    public private(set) var hasNode = false
    public internal(set) var pods: [PodInfo] = []
    public internal(set) var podsWithAffinity: [PodInfo] = []
    public internal(set) var podsWithRequiredAntiAffinity: [PodInfo] = []
    public internal(set) var usedPorts: [HostPort: Int] = [:]
    public internal(set) var requested = Resource()
    public internal(set) var nonZeroMilliCPU: Int64 = 0
    public internal(set) var nonZeroMemory: Int64 = 0
    public internal(set) var allocatable = Resource()
    /// Image name → state, for the images this node has.
    public internal(set) var imageStates: [String: ImageState] = [:]
    /// `namespace/claim` → how many pods here use it.
    public internal(set) var pvcRefCounts: [String: Int] = [:]
    public internal(set) var generation: Int64 = 0

    public init(node: CoreV1.Node? = nil, pods: [PodInfo] = []) {
        // setNode's assignment runs the observer that fills the node's fields.
        if let node { setNode(node) }
        for p in pods { add(p) }
    }

    private func refreshNodeFields() {
        name = node?.metadata.name ?? ""
        taints = node?.spec.taints ?? []
        unschedulable = node?.spec.unschedulable ?? false
        labels = node?.metadata.labels ?? [:]
        images = node?.status.images ?? []
        hasNode = node != nil
    }

    func setNode(_ n: CoreV1.Node) {
        node = n
        allocatable = Resource(n.status.allocatable)
    }

    public func add(_ p: PodInfo) {
        pods.append(p)
        if p.hasAffinity { podsWithAffinity.append(p) }
        if !p.requiredAntiAffinity.isEmpty { podsWithRequiredAntiAffinity.append(p) }
        account(p, sign: 1)
    }

    /// Removes the pod with this UID (or key); false when it is not here.
    @discardableResult
    public func remove(_ p: PodInfo) -> Bool {
        guard let i = pods.firstIndex(where: { Self.same($0, p) }) else { return false }
        let old = pods.remove(at: i)
        podsWithAffinity.removeAll { Self.same($0, p) }
        podsWithRequiredAntiAffinity.removeAll { Self.same($0, p) }
        account(old, sign: -1)
        return true
    }

    static func same(_ a: PodInfo, _ b: PodInfo) -> Bool {
        !a.uid.isEmpty && !b.uid.isEmpty ? a.uid == b.uid : a.key == b.key
    }

    func account(_ p: PodInfo, sign: Int64) {
        var r = p.requests
        r.allowedPodNumber = 0
        if sign > 0 { requested.add(r) } else { requested.subtract(r) }
        requested.allowedPodNumber += sign
        nonZeroMilliCPU += sign * p.nonZeroMilliCPU
        nonZeroMemory += sign * p.nonZeroMemory
        for hp in p.hostPorts {
            let n = usedPorts[hp, default: 0] + Int(sign)
            usedPorts[hp] = n > 0 ? n : nil
        }
        for v in p.pod.spec.volumes {
            guard
                let claim = v.volumeSource.persistentVolumeClaim?.claimName
                    ?? v.volumeSource.ephemeral.map({ _ in "\(p.name)-\(v.name)" })
            else { continue }
            let k = "\(p.namespace)/\(claim)"
            let n = pvcRefCounts[k, default: 0] + Int(sign)
            pvcRefCounts[k] = n > 0 ? n : nil
        }
        generation &+= 1
    }

    /// Does a host port conflict with one in use (same protocol and port, and the same IP or either is 0.0.0.0)?
    public func portConflicts(_ hp: HostPort) -> Bool {
        if usedPorts.isEmpty { return false }
        if hp.ip == "0.0.0.0" {
            return usedPorts.keys.contains { $0.proto == hp.proto && $0.port == hp.port }
        }
        return usedPorts[hp] != nil || usedPorts[HostPort(ip: "0.0.0.0", proto: hp.proto, port: hp.port)] != nil
    }

    /// An independent copy (the snapshot's, or a preemption simulation's).
    public func clone() -> NodeInfo {
        let c = NodeInfo()
        c.node = node
        c.pods = pods
        c.podsWithAffinity = podsWithAffinity
        c.podsWithRequiredAntiAffinity = podsWithRequiredAntiAffinity
        c.usedPorts = usedPorts
        c.requested = requested
        c.nonZeroMilliCPU = nonZeroMilliCPU
        c.nonZeroMemory = nonZeroMemory
        c.allocatable = allocatable
        c.imageStates = imageStates
        c.pvcRefCounts = pvcRefCounts
        c.generation = generation
        return c
    }
}
