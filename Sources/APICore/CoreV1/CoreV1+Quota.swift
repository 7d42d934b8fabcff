import APIMachinery
import Foundation

/// A resource name → quantity map (`v1.ResourceList`), with the arithmetic upstream's quota helpers
/// use: absent keys count as zero, and sums keep the first non-zero operand's format.
public enum ResourceLists {
    public static func add(_ a: [String: Quantity], _ b: [String: Quantity]) -> [String: Quantity] {
        var out = a
        for (k, v) in b { out[k] = (out[k] ?? Quantity()) + v }
        return out
    }

    public static func subtract(_ a: [String: Quantity], _ b: [String: Quantity]) -> [String: Quantity] {
        var out = a
        for (k, v) in b { out[k] = (out[k] ?? Quantity()) - v }
        return out
    }

    /// Only the entries named in `names`.
    public static func mask(_ a: [String: Quantity], _ names: some Sequence<String>) -> [String: Quantity] {
        var out: [String: Quantity] = [:]
        for n in names { if let v = a[n] { out[n] = v } }
        return out
    }

    /// Names whose value in `a` is above its value in `limit` (names `limit` lacks are never above).
    public static func exceeded(_ a: [String: Quantity], _ limit: [String: Quantity]) -> [String] {
        a.compactMap { k, v in limit[k].map { v.compare($0) > 0 ? k : nil } ?? nil }.sorted()
    }

    /// The per-name maximum.
    public static func max(_ a: [String: Quantity], _ b: [String: Quantity]) -> [String: Quantity] {
        var out = a
        for (k, v) in b where out[k].map({ v.compare($0) > 0 }) ?? true { out[k] = v }
        return out
    }

    /// `a=1,b=2Gi`, sorted by name, as upstream prints lists in quota messages.
    public static func describe(_ a: [String: Quantity]) -> String {
        a.keys.sorted().map { "\($0)=\(a[$0]!)" }.joined(separator: ",")
    }

    public static func isZero(_ a: [String: Quantity]) -> Bool { a.values.allSatisfy(\.isZero) }
}

extension CoreV1.PodSpec {
    /// What the pod asks for as a whole (upstream's `PodRequests`): app containers and sidecars
    /// (restartable init containers) run together; each plain init container runs beside the
    /// sidecars started before it; the larger of the two phases counts; overhead is added; pod-level
    /// `resources` replace the container sums for the names they set.
    public var aggregateRequests: [String: Quantity] {
        aggregate(podLevel: resources?.requests) { $0.resources.requests }
    }

    /// The pod's limits, combined as its requests are (upstream's `PodLimits`).
    public var aggregateLimits: [String: Quantity] {
        aggregate(podLevel: resources?.limits) { $0.resources.limits }
    }

    private func aggregate(
        podLevel: [String: Quantity]?, _ of: (CoreV1.Container) -> [String: Quantity]
    ) -> [String: Quantity] {
        var steady: [String: Quantity] = [:]
        for c in containers { steady = ResourceLists.add(steady, of(c)) }
        var sidecars: [String: Quantity] = [:]
        var initPeak: [String: Quantity] = [:]
        for c in initContainers {
            let phase: [String: Quantity]
            if c.restartPolicy == "Always" {
                steady = ResourceLists.add(steady, of(c))
                sidecars = ResourceLists.add(sidecars, of(c))
                phase = sidecars
            } else {
                phase = ResourceLists.add(of(c), sidecars)
            }
            initPeak = ResourceLists.max(initPeak, phase)
        }
        var total = ResourceLists.max(steady, initPeak)
        if let podLevel {
            for name in ["cpu", "memory"] { if let v = podLevel[name] { total[name] = v } }
        }
        if !overhead.isEmpty { total = ResourceLists.add(total, overhead) }
        return total
    }

    /// Upstream's QoS class `BestEffort` (quota's scope of that name uses the same rule as the pod's class).
    public var isBestEffort: Bool { computedQOSClass == "BestEffort" }
}

/// How objects count against a ResourceQuota (upstream's quota evaluators for pods, services,
/// persistent volume claims and object counts), shared by the ResourceQuota admission plugin and the
/// resourcequota controller.
public enum QuotaEvaluation {
    /// An object a quota may count.
    public enum Item: Sendable {
        case pod(CoreV1.Pod)
        case service(CoreV1.Service)
        case claim(CoreV1.PersistentVolumeClaim)
        /// Any other object, counted by `count/<resource>[.<group>]`.
        case object(group: String, resource: String)

        public var groupResource: (group: String, resource: String) {
            switch self {
            case .pod: return ("", "pods")
            case .service: return ("", "services")
            case .claim: return ("", "persistentvolumeclaims")
            case .object(let g, let r): return (g, r)
            }
        }
    }

    /// `count/<resource>` for the core group, `count/<resource>.<group>` otherwise.
    public static func countName(group: String, resource: String) -> String {
        group.isEmpty ? "count/\(resource)" : "count/\(resource).\(group)"
    }

    /// Core resources with a bare quota name as well as their `count/` name.
    public static let legacyCounted: Set<String> = [
        "pods", "services", "persistentvolumeclaims", "configmaps", "secrets", "replicationcontrollers",
        "resourcequotas",
    ]

    static let podComputeNames: Set<String> = [
        "cpu", "memory", "ephemeral-storage", "requests.cpu", "requests.memory", "requests.ephemeral-storage",
        "limits.cpu", "limits.memory", "limits.ephemeral-storage",
    ]
    static let storageClassSuffixes = [
        ".storageclass.storage.k8s.io/requests.storage", ".storageclass.storage.k8s.io/persistentvolumeclaims",
    ]

    /// Upstream's extended resources: a domain-prefixed name outside `kubernetes.io`, not `requests.`.
    static func isExtended(_ name: String) -> Bool {
        name.contains("/") && !name.hasPrefix("requests.") && !name.contains("kubernetes.io/")
    }

    /// The names in `names` that objects of resource `group`/`resource` count against.
    public static func matchingResources(group: String, resource: String, _ names: some Sequence<String>) -> Set<String>
    {
        let count = countName(group: group, resource: resource)
        let core = group.isEmpty
        var out: Set<String> = []
        for n in names {
            if n == count || (core && n == resource && legacyCounted.contains(resource)) {
                out.insert(n)
            } else if core && resource == "pods" {
                if podComputeNames.contains(n) || n.hasPrefix("hugepages-") || n.hasPrefix("requests.hugepages-")
                    || (n.hasPrefix("requests.") && isExtended(String(n.dropFirst("requests.".count))))
                {
                    out.insert(n)
                }
            } else if core && resource == "services" {
                if n == "services.nodeports" || n == "services.loadbalancers" { out.insert(n) }
            } else if core && resource == "persistentvolumeclaims" {
                if n == "requests.storage" || storageClassSuffixes.contains(where: { n.hasSuffix($0) }) {
                    out.insert(n)
                }
            }
        }
        return out
    }

    public static func matchingResources(_ item: Item, _ names: some Sequence<String>) -> Set<String> {
        let gr = item.groupResource
        return matchingResources(group: gr.group, resource: gr.resource, names)
    }

    /// The group and resource a quota name counts (`count/deployments.apps`, `configmaps`), or nil
    /// for names the typed evaluators (pods, services, claims) compute.
    public static func countedResource(_ name: String) -> (group: String, resource: String)? {
        if name.hasPrefix("count/") {
            let rest = name.dropFirst("count/".count)
            guard let dot = rest.firstIndex(of: ".") else { return ("", String(rest)) }
            return (String(rest[rest.index(after: dot)...]), String(rest[..<dot]))
        }
        return legacyCounted.contains(name) ? ("", name) : nil
    }

    /// Whether a pod still counts (upstream `QuotaV1Pod`): not terminal, and not past its deletion grace period.
    public static func podCounts(_ pod: CoreV1.Pod, now: Date) -> Bool {
        let phase = pod.status.phase
        if phase == "Succeeded" || phase == "Failed" { return false }
        if let ts = pod.metadata.deletionTimestamp, let grace = pod.metadata.deletionGracePeriodSeconds {
            return now.timeIntervalSince1970 <= Double(ts.seconds + grace)
        }
        return true
    }

    /// What one object uses, for every name its evaluator knows.
    public static func usage(_ item: Item, now: Date) -> [String: Quantity] {
        switch item {
        case .pod(let pod):
            guard podCounts(pod, now: now) else { return [:] }
            return podUsage(requests: pod.spec.aggregateRequests, limits: pod.spec.aggregateLimits)
        case .service(let svc):
            var out: [String: Quantity] = [
                "services": Quantity(1), "count/services": Quantity(1),
                "services.loadbalancers": Quantity(), "services.nodeports": Quantity(),
            ]
            let spec = svc.spec
            let ports = Int64(spec.ports.count)
            switch spec.type {
            case "NodePort":
                out["services.nodeports"] = Quantity(ports)
            case "LoadBalancer":
                out["services.loadbalancers"] = Quantity(1)
                if spec.allocateLoadBalancerNodePorts == false {
                    out["services.nodeports"] = Quantity(Int64(spec.ports.filter { $0.nodePort != 0 }.count))
                } else {
                    out["services.nodeports"] = Quantity(ports)
                }
            default: break
            }
            return out
        case .claim(let pvc):
            var out: [String: Quantity] = [
                "persistentvolumeclaims": Quantity(1), "count/persistentvolumeclaims": Quantity(1),
            ]
            let storage = pvc.spec.resources.requests["storage"]
            if let storage { out["requests.storage"] = storage }
            let cls = pvc.spec.storageClassName ?? pvc.metadata.annotations["volume.beta.kubernetes.io/storage-class"]
            if let cls, !cls.isEmpty {
                out["\(cls).storageclass.storage.k8s.io/persistentvolumeclaims"] = Quantity(1)
                if let storage { out["\(cls).storageclass.storage.k8s.io/requests.storage"] = storage }
            }
            return out
        case .object(let group, let resource):
            var out = [countName(group: group, resource: resource): Quantity(1)]
            if group.isEmpty && legacyCounted.contains(resource) { out[resource] = Quantity(1) }
            return out
        }
    }

    /// Upstream's `podComputeUsageHelper`: the names a pod's (or one container's) requests and limits fill.
    static func podUsage(requests: [String: Quantity], limits: [String: Quantity]) -> [String: Quantity] {
        var out: [String: Quantity] = ["pods": Quantity(1), "count/pods": Quantity(1)]
        for name in ["cpu", "memory", "ephemeral-storage"] {
            if let r = requests[name] {
                out[name] = r
                out["requests.\(name)"] = r
            }
            if let l = limits[name] { out["limits.\(name)"] = l }
        }
        for (name, q) in requests {
            if name.hasPrefix("hugepages-") {
                out[name] = q
                out["requests.\(name)"] = q
            } else if isExtended(name) {
                out["requests.\(name)"] = q
            }
        }
        return out
    }

    /// Whether `item` falls within every scope of `quota` (`spec.scopes` and `spec.scopeSelector`).
    /// Only pods have scopes; a scoped quota counts nothing else.
    public static func matchesScopes(_ quota: CoreV1.ResourceQuota, _ item: Item) -> Bool {
        let spec = quota.spec
        var selectors = spec.scopes.map {
            CoreV1.ScopedResourceSelectorRequirement(scopeName: $0, operator: "Exists", values: [])
        }
        selectors += spec.scopeSelector?.matchExpressions ?? []
        if selectors.isEmpty { return true }
        guard case .pod(let pod) = item else { return false }
        return selectors.allSatisfy { podMatches($0, pod) }
    }

    static func podMatches(_ sel: CoreV1.ScopedResourceSelectorRequirement, _ pod: CoreV1.Pod) -> Bool {
        let spec = pod.spec
        switch sel.scopeName {
        case "Terminating": return (spec.activeDeadlineSeconds ?? -1) >= 0
        case "NotTerminating": return (spec.activeDeadlineSeconds ?? -1) < 0
        case "BestEffort": return spec.isBestEffort
        case "NotBestEffort": return !spec.isBestEffort
        case "PriorityClass":
            // The class name is a label that is always present (possibly empty), as upstream treats it.
            let value = spec.priorityClassName
            switch sel.operator {
            case "In": return sel.values.contains(value)
            case "NotIn": return !sel.values.contains(value)
            case "Exists": return true
            default: return false
            }
        case "CrossNamespacePodAffinity":
            guard let a = spec.affinity else { return false }
            var terms = (a.podAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? [])
            terms += a.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? []
            terms += (a.podAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? []).map(\.podAffinityTerm)
            terms += (a.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? []).map(\.podAffinityTerm)
            return terms.contains { !$0.namespaces.isEmpty || $0.namespaceSelector != nil }
        default: return false
        }
    }

    /// Upstream's pod `Constraints`: when a quota limits cpu or memory, every container must state
    /// it. Nil when satisfied, else `must specify limits.cpu for: a,b; requests.memory for: c`.
    public static func missingRequirements(_ pod: CoreV1.Pod, required: Set<String>) -> String? {
        let checked = required.intersection([
            "requests.cpu", "requests.memory", "limits.cpu", "limits.memory", "cpu", "memory",
        ])
        guard !checked.isEmpty else { return nil }
        let spec = pod.spec
        var missing: [String: Set<String>] = [:]
        for c in spec.containers + spec.initContainers {
            let have = Set(podUsage(requests: c.resources.requests, limits: c.resources.limits).keys)
            for name in checked where !have.contains(name) { missing[name, default: []].insert(c.name) }
        }
        guard !missing.isEmpty else { return nil }
        let parts = missing.keys.sorted().map { "\($0) for: \(missing[$0]!.sorted().joined(separator: ","))" }
        return "must specify " + parts.joined(separator: "; ")
    }
}
