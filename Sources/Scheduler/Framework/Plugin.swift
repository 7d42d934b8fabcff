import APICore
import APIMachinery

/// A scheduler plugin: one object per profile, built from its args; it implements the extension
/// points it takes part in (upstream's `framework.Plugin` and the `*Plugin` interfaces).
public protocol Plugin: AnyObject, Sendable {
    var name: String { get }
}

/// Data a PreFilter or PreScore stage keeps for later stages of the same cycle; cloned when
/// preemption simulates removing pods.
public protocol StateData: AnyObject {
    func clone() -> StateData
}

/// Per-cycle scratch space of the plugins, keyed by the writing plugin's type.
public final class CycleState: @unchecked Sendable {
    var storage: [ObjectIdentifier: StateData] = [:]
    /// Plugins whose PreFilter answered Skip: their Filter is not run this cycle.
    public var skipFilter: Set<String> = [] { didSet { activeFilters = nil } }
    /// Plugins whose PreScore answered Skip: their Score is not run this cycle.
    public var skipScore: Set<String> = []
    /// The Filter plugins left after the skips, worked out once per cycle rather than looking
    /// each plugin's name up for every node (set by the framework).
    var activeFilters: [any FilterPlugin]?

    public init() {}

    public func write<T: StateData>(_ data: T) { storage[ObjectIdentifier(T.self)] = data }
    public func read<T: StateData>(_: T.Type) -> T? { storage[ObjectIdentifier(T.self)] as? T }

    public func clone() -> CycleState {
        let c = CycleState()
        for (k, v) in storage { c.storage[k] = v.clone() }
        c.skipFilter = skipFilter
        c.skipScore = skipScore
        c.activeFilters = activeFilters
        return c
    }
}

/// PreEnqueue: may the pod enter the active queue at all (scheduling gates)?
public protocol PreEnqueuePlugin: Plugin {
    func preEnqueue(_ pod: PodInfo) -> Status?
}

/// The active queue's order.
public protocol QueueSortPlugin: Plugin {
    func less(_ a: QueuedPodInfo, _ b: QueuedPodInfo) -> Bool
}

/// What a PreFilter answers: nil nodes means every node remains a candidate.
public struct PreFilterResult: Sendable {
    public var nodeNames: Set<String>?
    /// The plugins whose node sets were intersected (set by the framework).
    public var narrowedBy: [String] = []
    public init(nodeNames: Set<String>?) { self.nodeNames = nodeNames }
}

public protocol PreFilterPlugin: Plugin {
    /// Computes the cycle's state; `.skip` leaves this plugin's Filter out of the cycle.
    func preFilter(_ state: CycleState, _ pod: PodInfo, _ snapshot: Snapshot) -> (PreFilterResult?, Status?)
    /// Updates the state as if `other` were added to or removed from `node` (preemption, nominated
    /// pods); plugins whose state does not depend on other pods do nothing.
    func addPod(_ state: CycleState, _ pod: PodInfo, _ other: PodInfo, on node: NodeInfo)
    func removePod(_ state: CycleState, _ pod: PodInfo, _ other: PodInfo, on node: NodeInfo)
}

extension PreFilterPlugin {
    public func addPod(_ state: CycleState, _ pod: PodInfo, _ other: PodInfo, on node: NodeInfo) {}
    public func removePod(_ state: CycleState, _ pod: PodInfo, _ other: PodInfo, on node: NodeInfo) {}
}

public protocol FilterPlugin: Plugin {
    /// nil: the node passes.
    func filter(_ state: CycleState, _ pod: PodInfo, _ node: NodeInfo) -> Status?
}

/// What a PostFilter (preemption) answers: the node the pod was nominated to, if any.
public struct PostFilterResult: Sendable {
    public var nominatedNodeName: String?
    public init(nominatedNodeName: String?) { self.nominatedNodeName = nominatedNodeName }
}

public protocol PostFilterPlugin: Plugin {
    func postFilter(_ state: CycleState, _ pod: PodInfo, _ diagnosis: Diagnosis, _ framework: Framework) async
        -> (PostFilterResult?, Status)
}

public protocol PreScorePlugin: Plugin {
    /// `.skip` leaves this plugin's Score out of the cycle.
    func preScore(_ state: CycleState, _ pod: PodInfo, _ nodes: [NodeInfo], _ snapshot: Snapshot) -> Status?
}

/// Scores run on each feasible node: 0…100 after normalization (`MaxNodeScore`).
public protocol ScorePlugin: Plugin {
    func score(_ state: CycleState, _ pod: PodInfo, _ node: NodeInfo) -> Int64
    /// Brings raw scores into 0…100 (plugins that score in that range already do nothing).
    func normalize(_ state: CycleState, _ pod: PodInfo, _ scores: inout [NodeScore])
}

extension ScorePlugin {
    public func normalize(_ state: CycleState, _ pod: PodInfo, _ scores: inout [NodeScore]) {}
}

public struct NodeScore: Sendable, Equatable {
    public var name: String
    public var score: Int64
    public init(name: String, score: Int64) {
        self.name = name
        self.score = score
    }
}

public let maxNodeScore: Int64 = 100

/// Upstream's `DefaultNormalizeScore`: scale so the highest is 100 (reversed: highest becomes 0).
public func defaultNormalizeScore(_ scores: inout [NodeScore], reverse: Bool) {
    let highest = scores.map(\.score).max() ?? 0
    if highest == 0 {
        if reverse { for i in scores.indices { scores[i].score = maxNodeScore } }
        return
    }
    for i in scores.indices {
        var s = maxNodeScore * scores[i].score / highest
        if reverse { s = maxNodeScore - s }
        scores[i].score = s
    }
}

public protocol ReservePlugin: Plugin {
    func reserve(_ state: CycleState, _ pod: PodInfo, node: String) -> Status?
    func unreserve(_ state: CycleState, _ pod: PodInfo, node: String)
}

public protocol PermitPlugin: Plugin {
    /// nil to allow; `.wait` with a timeout to hold the pod; anything else rejects.
    func permit(_ state: CycleState, _ pod: PodInfo, node: String) -> (Status?, Swift.Duration)
}

public protocol PreBindPlugin: Plugin {
    func preBind(_ state: CycleState, _ pod: PodInfo, node: String) async -> Status?
}

public protocol BindPlugin: Plugin {
    /// `.skip` hands the pod to the next binder.
    func bind(_ state: CycleState, _ pod: PodInfo, node: String) async -> Status?
}

public protocol PostBindPlugin: Plugin {
    func postBind(_ state: CycleState, _ pod: PodInfo, node: String) async
}

/// The cluster changes that can make a pod rejected by a plugin schedulable (upstream's
/// `EnqueueExtensions`); a rejected pod is retried only after one of them.
public protocol EnqueueExtensions: Plugin {
    func eventsToRegister() -> [ClusterEvent]
}

/// A kind of change in the cluster, as the queue matches it against plugins' interests.
public struct ClusterEvent: Hashable, Sendable, CustomStringConvertible {
    public enum Resource: String, Sendable {
        case pod = "Pod", assignedPod = "AssignedPod", unscheduledPod = "UnscheduledPod", node = "Node"
        case persistentVolume = "PersistentVolume", persistentVolumeClaim = "PersistentVolumeClaim"
        case storageClass = "StorageClass", csiNode = "CSINode", csiDriver = "CSIDriver"
        case csiStorageCapacity = "CSIStorageCapacity", volumeAttachment = "VolumeAttachment"
        case namespace = "Namespace", podDisruptionBudget = "PodDisruptionBudget", wildcard = "*"
    }

    /// Bits of what changed.
    public struct Action: OptionSet, Hashable, Sendable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        public static let add = Action(rawValue: 1)
        public static let delete = Action(rawValue: 2)
        public static let updateNodeAllocatable = Action(rawValue: 4)
        public static let updateNodeLabel = Action(rawValue: 8)
        public static let updateNodeTaint = Action(rawValue: 16)
        public static let updateNodeCondition = Action(rawValue: 32)
        public static let updateNodeAnnotation = Action(rawValue: 64)
        public static let updatePodLabel = Action(rawValue: 128)
        public static let updatePodScaleDown = Action(rawValue: 256)
        public static let updatePodToleration = Action(rawValue: 512)
        public static let updatePodSchedulingGatesEliminated = Action(rawValue: 1024)
        public static let updatePodGeneratedResourceClaim = Action(rawValue: 2048)
        public static let updateOther = Action(rawValue: 4096)
        public static let update: Action = [
            .updateNodeAllocatable, .updateNodeLabel, .updateNodeTaint, .updateNodeCondition, .updateNodeAnnotation,
            .updatePodLabel, .updatePodScaleDown, .updatePodToleration, .updatePodSchedulingGatesEliminated,
            .updatePodGeneratedResourceClaim, .updateOther,
        ]
        public static let all: Action = [.add, .delete, .update]
    }

    public var resource: Resource
    public var action: Action
    public var label: String

    public init(_ resource: Resource, _ action: Action, label: String = "") {
        self.resource = resource
        self.action = action
        self.label = label
    }

    public var description: String { label.isEmpty ? "\(resource.rawValue)/\(action.rawValue)" : label }

    /// Does a registered interest cover this event?
    public func covers(_ e: ClusterEvent) -> Bool {
        (resource == .wildcard || resource == e.resource
            || (resource == .pod && (e.resource == .assignedPod || e.resource == .unscheduledPod)))
            && !action.intersection(e.action).isEmpty
    }

    /// What wakes every unschedulable pod (a flush, or a plugin asking for a retry).
    public static let wildcard = ClusterEvent(.wildcard, .all, label: "WildCardEvent")
}
typealias Duration = Swift.Duration
