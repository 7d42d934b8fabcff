import APICore
import APIMachinery
import ControllerRuntime
import Foundation
import Synchronization

/// What a scheduling cycle decided for a pod.
public struct ScheduleResult: Sendable, Equatable {
    public var suggestedHost: String
    public var evaluatedNodes: Int
    public var feasibleNodes: Int
}

/// The scheduling algorithm over one profile and a snapshot, without a cluster: pure enough for
/// tests (upstream's `schedulePod` / `findNodesThatFitPod` / `prioritizeNodes` / `selectHost`).
public final class SchedulingAlgorithm: @unchecked Sendable {
    /// Where the next cycle starts visiting nodes, so every node gets its turn.
    public var nextStartNodeIndex = 0
    /// Global default; a profile's own value wins.
    public var percentageOfNodesToScore: Int32
    /// Breaks score ties: a cheap generator seeded once from the system's (drawing each tie from
    /// the system generator cost a `getrandom` call per tied node, hundreds per cycle).
    var rng: SplitMix64

    public init(percentageOfNodesToScore: Int32 = 0, seed: UInt64 = UInt64.random(in: .min ... .max)) {
        self.percentageOfNodesToScore = percentageOfNodesToScore
        self.rng = SplitMix64(seed: seed)
    }

    static let minFeasibleNodesToFind = 100
    static let minFeasibleNodesPercentageToFind: Int32 = 5

    /// How many feasible nodes to look for before scoring (upstream's adaptive rule).
    public static func numFeasibleNodesToFind(_ percentage: Int32, numAllNodes: Int) -> Int {
        if numAllNodes < minFeasibleNodesToFind { return numAllNodes }
        var p = percentage
        if p == 0 {
            p = Int32(50 - numAllNodes / 125)
            if p < minFeasibleNodesPercentageToFind { p = minFeasibleNodesPercentageToFind }
        }
        if p >= 100 { return numAllNodes }
        let n = numAllNodes * Int(p) / 100
        return max(n, minFeasibleNodesToFind)
    }

    public static let noNodesAvailable = "no nodes available to schedule pods"

    public enum Failure: Error {
        case fit(FitError)
        case noNodes
        case error(Status)
    }

    /// Chooses a node, or throws why none fits.
    public func schedule(_ fwk: Framework, _ state: CycleState, _ pod: PodInfo, _ snapshot: Snapshot) throws(Failure)
        -> ScheduleResult
    {
        if snapshot.numNodes == 0 { throw .noNodes }
        let (feasible, diagnosis) = try findNodesThatFit(fwk, state, pod, snapshot)
        if feasible.isEmpty { throw .fit(FitError(numAllNodes: snapshot.numNodes, diagnosis: diagnosis)) }
        let evaluated = feasible.count + diagnosis.nodeToStatus.count
        if feasible.count == 1 {
            return ScheduleResult(suggestedHost: feasible[0].name, evaluatedNodes: evaluated, feasibleNodes: 1)
        }
        let scores: [NodeScore]
        do {
            scores = try prioritize(fwk, state, pod, feasible, snapshot)
        } catch let s as Status {
            throw .error(s)
        } catch {
            throw .error(.error("\(error)"))
        }
        return ScheduleResult(
            suggestedHost: selectHost(scores), evaluatedNodes: evaluated, feasibleNodes: feasible.count)
    }

    /// Runs PreFilter, then Filter over nodes (from `nextStartNodeIndex`, stopping once enough fit).
    public func findNodesThatFit(_ fwk: Framework, _ state: CycleState, _ pod: PodInfo, _ snapshot: Snapshot)
        throws(Failure) -> ([NodeInfo], Diagnosis)
    {
        var diagnosis = Diagnosis()
        let all = snapshot.nodeInfoList
        let (pre, status, rejectors) = fwk.runPreFilter(state, pod, snapshot)
        diagnosis.unschedulablePlugins = rejectors
        if let status {
            guard status.isRejected else { throw .error(status) }
            diagnosis.preFilterMessage = status.message
            diagnosis.absentNodesStatus = status
            if status.code == .pending { diagnosis.pendingPlugins.insert(status.plugin) }
            return ([], diagnosis)
        }
        // A nominated node (from an earlier preemption) is tried first.
        let nominated = pod.pod.status.nominatedNodeName
        if !nominated.isEmpty, let ni = snapshot.get(nominated), fwk.runFilterWithNominatedPods(state, pod, ni) == nil {
            return ([ni], diagnosis)
        }
        var nodes = all
        if let names = pre?.nodeNames {
            nodes = names.sorted().compactMap { snapshot.get($0) }
            diagnosis.absentNodesStatus = Status(
                .unschedulableAndUnresolvable,
                "node(s) didn't satisfy plugin(s) [\(pre!.narrowedBy.sorted().joined(separator: " "))]")
        }
        let percentage = fwk.percentageOfNodesToScore ?? percentageOfNodesToScore
        let want = Self.numFeasibleNodesToFind(percentage, numAllNodes: nodes.count)
        var feasible: [NodeInfo] = []
        feasible.reserveCapacity(want)
        let n = nodes.count
        if n == 0 { return ([], diagnosis) }
        let start = pre?.nodeNames == nil ? nextStartNodeIndex % n : 0
        var processed = 0
        func reject(_ ni: NodeInfo, _ s: Status) throws(Failure) {
            if s.code == .error { throw .error(s) }
            diagnosis.nodeToStatus[ni.name] = s
            diagnosis.unschedulablePlugins.insert(s.plugin)
            if s.code == .pending { diagnosis.pendingPlugins.insert(s.plugin) }
        }
        if fwk.handle.nominator.isEmpty {
            // Plugin by plugin over a batch of as many nodes as fits are still wanted: each node
            // meets the plugins in order and stops at its first rejection, as node by node, and the
            // nodes examined are the same (the batch can at most complete the count).
            let plugins = fwk.activeFilters(state)
            var batch: [NodeInfo] = []
            batch.reserveCapacity(want)
            while processed < n && feasible.count < want {
                let size = min(want - feasible.count, n - processed)
                batch.removeAll(keepingCapacity: true)
                for k in 0..<size { batch.append(nodes[(start + processed + k) % n]) }
                processed += size
                var alive = size
                for p in plugins where alive > 0 {
                    var kept = 0
                    for i in 0..<alive {
                        let ni = batch[i]
                        if let s = p.filter(state, pod, ni), !s.isSuccess {
                            try reject(ni, s.by(p.name))
                        } else {
                            batch[kept] = ni
                            kept += 1
                        }
                    }
                    alive = kept
                }
                feasible.append(contentsOf: batch[0..<alive])
            }
        } else {
            while processed < n && feasible.count < want {
                let ni = nodes[(start + processed) % n]
                processed += 1
                if let s = fwk.runFilterWithNominatedPods(state, pod, ni) {
                    try reject(ni, s)
                } else {
                    feasible.append(ni)
                }
            }
        }
        if pre?.nodeNames == nil { nextStartNodeIndex = (start + processed) % n }
        return (feasible, diagnosis)
    }

    public func prioritize(
        _ fwk: Framework, _ state: CycleState, _ pod: PodInfo, _ nodes: [NodeInfo], _ snapshot: Snapshot
    ) throws -> [NodeScore] {
        if !fwk.hasScorePlugins { return nodes.map { NodeScore(name: $0.name, score: 1) } }
        return try fwk.runScore(state, pod, nodes, snapshot)
    }

    /// The highest score; ties broken uniformly at random (reservoir sampling).
    public func selectHost(_ scores: [NodeScore]) -> String {
        var best = scores[0]
        var ties = 1
        for s in scores.dropFirst() {
            if s.score > best.score {
                best = s
                ties = 1
            } else if s.score == best.score {
                ties += 1
                if Int.random(in: 0..<ties, using: &rng) == 0 { best = s }
            }
        }
        return best.name
    }
}

extension Nominator {
    var isEmpty: Bool { state.withLock { $0.byNode.isEmpty } }
}
