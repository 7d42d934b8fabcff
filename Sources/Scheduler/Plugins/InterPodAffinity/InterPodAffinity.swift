import APICore
import APIMachinery

/// `InterPodAffinity`: required pod affinity and anti-affinity filter nodes (the incoming pod's
/// terms against the pods already placed, and placed pods' anti-affinity against the incoming
/// pod); preferred terms of both sides, and placed pods' required affinity, score them.
public final class InterPodAffinity: PreFilterPlugin, FilterPlugin, PreScorePlugin, ScorePlugin, EnqueueExtensions {
    public static let name = "InterPodAffinity"
    public static let reasonAffinityRulesNotMatch = "node(s) didn't match pod affinity rules"
    public static let reasonAntiAffinityRulesNotMatch = "node(s) didn't match pod anti-affinity rules"
    public static let reasonExistingAntiAffinityRulesNotMatch =
        "node(s) didn't satisfy existing pods anti-affinity rules"
    public var name: String { Self.name }

    /// The score weight of an existing pod's required affinity term the incoming pod matches (0…100).
    let hardPodAffinityWeight: Int32
    /// Skip scoring when the incoming pod has no preferred terms of its own.
    let ignorePreferredTermsOfExistingPods: Bool

    static let affinityRulesNotMatch = Status(.unschedulableAndUnresolvable, reasonAffinityRulesNotMatch)
    static let antiAffinityRulesNotMatch = Status(.unschedulable, reasonAntiAffinityRulesNotMatch)
    static let existingAntiAffinityRulesNotMatch = Status(.unschedulable, reasonExistingAntiAffinityRulesNotMatch)

    public init(hardPodAffinityWeight: Int32 = 1, ignorePreferredTermsOfExistingPods: Bool = false) {
        self.hardPodAffinityWeight = hardPodAffinityWeight
        self.ignorePreferredTermsOfExistingPods = ignorePreferredTermsOfExistingPods
    }

    public func eventsToRegister() -> [ClusterEvent] {
        [
            // Placed pods appearing, relabelled or leaving change which terms match where.
            ClusterEvent(.pod, [.add, .updatePodLabel, .delete]),
            // New nodes or labels bring topology domains.
            ClusterEvent(.node, [.add, .updateNodeLabel, .updateNodeTaint]),
        ]
    }

    /// Upstream's `NewPodInfo` error for a pod whose affinity selectors do not parse.
    static func parseErrorMessage(_ pod: CoreV1.Pod) -> String {
        let a = pod.spec.affinity
        let groups: [(String, [CoreV1.PodAffinityTerm])] = [
            ("requiredAffinityTerms", a?.podAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? []),
            ("requiredAntiAffinityTerms", a?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? []),
            (
                "preferredAffinityTerms",
                (a?.podAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? []).map(\.podAffinityTerm)
            ),
            (
                "preferredAntiAffinityTerms",
                (a?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? []).map(\.podAffinityTerm)
            ),
        ]
        var errs: [String] = []
        for (what, terms) in groups {
            for t in terms {
                do {
                    _ = try LabelSelector.from(t.labelSelector)
                } catch {
                    errs.append("\(what): \(error)")
                    break
                }
            }
        }
        if errs.isEmpty { return "parsing pod: invalid pod affinity terms" }
        return "parsing pod: " + (errs.count == 1 ? errs[0] : "[" + errs.joined(separator: ", ") + "]")
    }
}

/// The key and value of a node label a topology term groups by.
struct TopologyPair: Hashable {
    let key: String
    let value: String
}

/// Matches per topology pair; pairs dropping to zero are removed, and the keys in use are
/// tracked so a node is checked by looking up only those keys.
struct TopologyCounts {
    private(set) var counts: [TopologyPair: Int64] = [:]
    /// Topology key → how many pairs with it are present.
    private(set) var keys: [String: Int] = [:]

    var isEmpty: Bool { counts.isEmpty }

    subscript(_ pair: TopologyPair) -> Int64 { counts[pair] ?? 0 }

    /// Adds `delta` to the node's pair for `key` (nothing when the node lacks the label).
    @inline(__always)
    mutating func add(_ labels: [String: String], _ key: String, _ delta: Int64) {
        guard let value = labels[key] else { return }
        let pair = TopologyPair(key: key, value: value)
        if let cur = counts[pair] {
            let n = cur + delta
            if n == 0 {
                counts[pair] = nil
                let k = keys[key, default: 1] - 1
                keys[key] = k > 0 ? k : nil
            } else {
                counts[pair] = n
            }
        } else if delta != 0 {
            counts[pair] = delta
            keys[key, default: 0] += 1
        }
    }

    /// Does some label of the node name a pair with a positive count?
    @inline(__always)
    func anyPositive(_ labels: [String: String]) -> Bool {
        for key in keys.keys {
            if let value = labels[key], (counts[TopologyPair(key: key, value: value)] ?? 0) > 0 { return true }
        }
        return false
    }
}

/// A term of the incoming pod with its namespace selector resolved as upstream merges it into the
/// namespace list: an empty selector matches every namespace, another one the existing namespaces
/// whose labels it matches.
struct IncomingTerm {
    let term: AffinityTerm
    let allNamespaces: Bool
    /// Set only for a selector that needs namespace labels.
    let namespaceSelector: LabelSelector?

    init(_ t: AffinityTerm) {
        term = t
        let sel = t.namespaceSelector
        allNamespaces = sel?.isEmpty == true
        namespaceSelector = (sel == nil || sel!.isEmpty || sel!.matchesNothing) ? nil : sel
    }

    @inline(__always)
    func matches(_ pod: PodInfo, _ namespaces: inout NamespaceLabels) -> Bool {
        let ns = pod.pod.metadata.namespace
        if !(term.namespaces.contains(ns) || allNamespaces) {
            guard let sel = namespaceSelector, let labels = namespaces.labels(ns), sel.matches(labels) else {
                return false
            }
        }
        return term.selector.matches(pod.pod.metadata.labels)
    }
}

/// Namespace labels looked up once per namespace during one PreFilter or PreScore pass.
struct NamespaceLabels {
    let fetch: @Sendable (String) -> [String: String]?
    var cache: [String: [String: String]?] = [:]

    init(_ fetch: @escaping @Sendable (String) -> [String: String]?) { self.fetch = fetch }

    mutating func labels(_ ns: String) -> [String: String]? {
        if let hit = cache[ns] { return hit }
        let l = fetch(ns)
        cache[ns] = .some(l)
        return l
    }
}

extension AffinityTerm {
    /// An existing pod's term against the incoming pod, given the labels of the incoming pod's
    /// namespace (empty when the namespace is unknown).
    @inline(__always)
    func matches(incoming pod: PodInfo, namespaceLabels: [String: String]) -> Bool {
        if namespaces.contains(pod.pod.metadata.namespace) || (namespaceSelector?.matches(namespaceLabels) ?? false) {
            return selector.matches(pod.pod.metadata.labels)
        }
        return false
    }
}
