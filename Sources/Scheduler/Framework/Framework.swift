import APICore
import APIMachinery

/// One profile's plugins at each extension point, and the code that runs them (upstream's
/// `frameworkImpl`).
public final class Framework: @unchecked Sendable {
    public let profileName: String
    public let percentageOfNodesToScore: Int32?
    public internal(set) var preEnqueue: [any PreEnqueuePlugin] = []
    public internal(set) var queueSort: (any QueueSortPlugin)?
    public internal(set) var preFilter: [any PreFilterPlugin] = []
    public internal(set) var filter: [any FilterPlugin] = []
    public internal(set) var postFilter: [any PostFilterPlugin] = []
    public internal(set) var preScore: [any PreScorePlugin] = []
    public internal(set) var score: [(plugin: any ScorePlugin, weight: Int64)] = []
    public internal(set) var reserve: [any ReservePlugin] = []
    public internal(set) var permit: [any PermitPlugin] = []
    public internal(set) var preBind: [any PreBindPlugin] = []
    public internal(set) var bind: [any BindPlugin] = []
    public internal(set) var postBind: [any PostBindPlugin] = []
    public internal(set) var plugins: [String: any Plugin] = [:]
    public let handle: Handle

    public init(profileName: String, percentageOfNodesToScore: Int32? = nil, handle: Handle) {
        self.profileName = profileName
        self.percentageOfNodesToScore = percentageOfNodesToScore
        self.handle = handle
    }

    /// Every cluster event each plugin registered (for the queue).
    public var eventInterests: [(event: ClusterEvent, plugins: Set<String>)] {
        var out: [(event: ClusterEvent, plugins: Set<String>)] = []
        for p in plugins.values {
            guard let e = p as? any EnqueueExtensions else { continue }
            for ev in e.eventsToRegister() { out.append((ev, [p.name])) }
        }
        return out
    }

    // MARK: PreEnqueue

    public func runPreEnqueue(_ pod: PodInfo) -> (plugin: String, status: Status)? {
        for p in preEnqueue {
            if let s = p.preEnqueue(pod), !s.isSuccess { return (p.name, s.by(p.name)) }
        }
        return nil
    }

    // MARK: PreFilter / Filter

    /// Runs every PreFilter; the intersection of their node sets, or the rejection. As upstream's
    /// `RunPreFilterPlugins`: an UnschedulableAndUnresolvable answer stops at once, an Unschedulable
    /// one lets the other PreFilters run (preemption needs their state) and is answered at the end;
    /// the plugins that narrowed the nodes count among the rejectors.
    public func runPreFilter(_ state: CycleState, _ pod: PodInfo, _ snapshot: Snapshot) -> (
        result: PreFilterResult?, status: Status?, rejectors: Set<String>
    ) {
        var result: PreFilterResult?
        var unschedulable: Status?
        for p in preFilter {
            let (r, s) = p.preFilter(state, pod, snapshot)
            if let s, !s.isSuccess {
                if s.code == .skip {
                    state.skipFilter.insert(p.name)
                    continue
                }
                if s.code == .unschedulable {
                    unschedulable = s.by(p.name)
                    continue
                }
                return (nil, s.by(p.name), s.isRejected ? [p.name] : [])
            }
            if let names = r?.nodeNames {
                let merged = result?.nodeNames.map { $0.intersection(names) } ?? names
                var r = PreFilterResult(nodeNames: merged)
                r.narrowedBy = (result?.narrowedBy ?? []) + [p.name]
                result = r
                if merged.isEmpty {
                    let by = r.narrowedBy.sorted()
                    let msg =
                        by.count == 1
                        ? "node(s) didn't satisfy plugin \(by[0])"
                        : "node(s) didn't satisfy plugin(s) [\(by.joined(separator: " "))] simultaneously"
                    return (result, Status(.unschedulableAndUnresolvable, msg, plugin: p.name), Set(by))
                }
            }
        }
        var rejectors = Set(result?.narrowedBy ?? [])
        if let unschedulable { rejectors.insert(unschedulable.plugin) }
        return (result, unschedulable, rejectors)
    }

    /// The Filters this cycle runs: all but those PreFilter said to skip.
    func activeFilters(_ state: CycleState) -> [any FilterPlugin] {
        if let cached = state.activeFilters { return cached }
        let skip = state.skipFilter
        let plugins = skip.isEmpty ? filter : filter.filter { !skip.contains($0.name) }
        state.activeFilters = plugins
        return plugins
    }

    /// Runs the Filters in order; the first rejection stops (nil: the node fits).
    public func runFilter(_ state: CycleState, _ pod: PodInfo, _ node: NodeInfo) -> Status? {
        for p in activeFilters(state) {
            if let s = p.filter(state, pod, node) {
                if s.isSuccess { continue }
                return s.by(p.name)
            }
        }
        return nil
    }

    public func runAddPod(_ state: CycleState, _ pod: PodInfo, _ other: PodInfo, on node: NodeInfo) {
        for p in preFilter where !state.skipFilter.contains(p.name) { p.addPod(state, pod, other, on: node) }
    }

    public func runRemovePod(_ state: CycleState, _ pod: PodInfo, _ other: PodInfo, on node: NodeInfo) {
        for p in preFilter where !state.skipFilter.contains(p.name) { p.removePod(state, pod, other, on: node) }
    }

    /// Filters with the pods nominated to the node (of at least the pod's priority) counted as if
    /// there; the node must pass both with and without them, as upstream's
    /// `RunFilterPluginsWithNominatedPods`.
    public func runFilterWithNominatedPods(_ state: CycleState, _ pod: PodInfo, _ node: NodeInfo) -> Status? {
        let nominated = handle.nominator.nominated(on: node.name)
        if nominated.isEmpty { return runFilter(state, pod, node) }
        let others = nominated.filter { $0.uid != pod.uid && $0.priority >= pod.priority }
        if others.isEmpty { return runFilter(state, pod, node) }
        let st = state.clone()
        let ni = node.clone()
        for o in others {
            ni.add(o)
            runAddPod(st, pod, o, on: ni)
        }
        if let s = runFilter(st, pod, ni) { return s }
        return runFilter(state, pod, node)
    }

    // MARK: PostFilter

    public func runPostFilter(_ state: CycleState, _ pod: PodInfo, _ diagnosis: Diagnosis) async -> (
        PostFilterResult?, Status
    ) {
        var result: PostFilterResult?
        var reasons: [String] = []
        var rejector = ""
        for p in postFilter {
            let (r, s) = await p.postFilter(state, pod, diagnosis, self)
            if s.isSuccess { return (r, s) }
            if s.code == .unschedulableAndUnresolvable { return (r, s.by(p.name)) }
            if !s.isRejected { return (nil, Status(.error, reasons: s.reasons, plugin: p.name)) }
            if r != nil { result = r }
            reasons += s.reasons
            if rejector.isEmpty { rejector = p.name }
        }
        return (result, Status(.unschedulable, reasons: reasons, plugin: rejector))
    }

    // MARK: Score

    /// PreScore then Score, normalized and weighted; the total per node in `nodes` order.
    public func runScore(_ state: CycleState, _ pod: PodInfo, _ nodes: [NodeInfo], _ snapshot: Snapshot) throws
        -> [NodeScore]
    {
        for p in preScore {
            if let s = p.preScore(state, pod, nodes, snapshot), !s.isSuccess {
                if s.code == .skip {
                    state.skipScore.insert(p.name)
                    continue
                }
                throw s.by(p.name)
            }
        }
        var totals = [Int64](repeating: 0, count: nodes.count)
        var scores = nodes.map { NodeScore(name: $0.name, score: 0) }
        for (p, weight) in score where !state.skipScore.contains(p.name) {
            for i in nodes.indices { scores[i].score = p.score(state, pod, nodes[i]) }
            p.normalize(state, pod, &scores)
            for i in nodes.indices { totals[i] += scores[i].score * weight }
        }
        for i in nodes.indices { scores[i].score = totals[i] }
        return scores
    }

    public var hasScorePlugins: Bool { !score.isEmpty }

    // MARK: Reserve, Permit, binding

    public func runReserve(_ state: CycleState, _ pod: PodInfo, node: String) -> Status? {
        for p in reserve {
            if let s = p.reserve(state, pod, node: node), !s.isSuccess { return s.by(p.name) }
        }
        return nil
    }

    /// In reverse order, as upstream unreserves.
    public func runUnreserve(_ state: CycleState, _ pod: PodInfo, node: String) {
        for p in reserve.reversed() { p.unreserve(state, pod, node: node) }
    }

    public func runPermit(_ state: CycleState, _ pod: PodInfo, node: String) -> (Status?, Swift.Duration) {
        var wait: Duration = .zero
        for p in permit {
            let (s, d) = p.permit(state, pod, node: node)
            guard let s, !s.isSuccess else { continue }
            if s.code == .wait {
                wait = max(wait, d)
                continue
            }
            return (s.by(p.name), .zero)
        }
        return (wait > .zero ? Status(.wait) : nil, wait)
    }

    public func runPreBind(_ state: CycleState, _ pod: PodInfo, node: String) async -> Status? {
        for p in preBind {
            if let s = await p.preBind(state, pod, node: node), !s.isSuccess { return s.by(p.name) }
        }
        return nil
    }

    public func runBind(_ state: CycleState, _ pod: PodInfo, node: String) async -> Status? {
        for p in bind {
            let s = await p.bind(state, pod, node: node)
            if let s, s.code == .skip { continue }
            if let s, !s.isSuccess { return s.by(p.name) }
            return nil
        }
        return Status(.skip)
    }

    public func runPostBind(_ state: CycleState, _ pod: PodInfo, node: String) async {
        for p in postBind { await p.postBind(state, pod, node: node) }
    }
}
