import APIMachinery

/// `DefaultPreemptionArgs`: how many nodes a preemption dry-runs at least, as a share of the
/// nodes where preemption may help and as an absolute number (the larger wins, capped by the
/// number of such nodes).
public struct DefaultPreemptionArgs: Sendable, Equatable {
    public var minCandidateNodesPercentage: Int32
    public var minCandidateNodesAbsolute: Int32

    /// Upstream's defaults (`SetDefaults_DefaultPreemptionArgs`): 10% and 100.
    public init(minCandidateNodesPercentage: Int32 = 10, minCandidateNodesAbsolute: Int32 = 100) {
        self.minCandidateNodesPercentage = minCandidateNodesPercentage
        self.minCandidateNodesAbsolute = minCandidateNodesAbsolute
    }

    /// Reads the args object of a profile's pluginConfig; a field left out keeps its default.
    public static func decode(_ json: JSONValue, path: String = "") throws -> DefaultPreemptionArgs {
        var args = DefaultPreemptionArgs()
        func field(_ name: String) throws -> Int32? {
            guard let v = json[name] else { return nil }
            guard case .number(let text) = v, let n = Int32(text) else {
                throw SchedulerConfigurationError("\(Self.fieldPath(path, name)): expected a 32-bit integer")
            }
            return n
        }
        if let n = try field("minCandidateNodesPercentage") { args.minCandidateNodesPercentage = n }
        if let n = try field("minCandidateNodesAbsolute") { args.minCandidateNodesAbsolute = n }
        return args
    }

    static func fieldPath(_ path: String, _ name: String) -> String { path.isEmpty ? name : "\(path).\(name)" }

    /// Upstream's `ValidateDefaultPreemptionArgs`: each field error in its order, empty when valid.
    public func validationErrors(path: String = "") -> [String] {
        let pct = Self.fieldPath(path, "minCandidateNodesPercentage")
        let abs = Self.fieldPath(path, "minCandidateNodesAbsolute")
        var errs: [String] = []
        if minCandidateNodesPercentage < 0 || minCandidateNodesPercentage > 100 {
            errs.append("\(pct): Invalid value: \(minCandidateNodesPercentage): not in valid range [0, 100]")
        }
        if minCandidateNodesAbsolute < 0 {
            errs.append("\(abs): Invalid value: \(minCandidateNodesAbsolute): not in valid range [0, inf)")
        }
        if minCandidateNodesPercentage == 0 && minCandidateNodesAbsolute == 0 {
            errs.append("\(pct): Invalid value: 0: cannot be zero at the same time as minCandidateNodesAbsolute")
            errs.append("\(abs): Invalid value: 0: cannot be zero at the same time as minCandidateNodesPercentage")
        }
        return errs
    }

    /// Upstream's `calculateNumCandidates`: the share of `numNodes`, at least the absolute
    /// minimum, never more than `numNodes`.
    public func numCandidates(numNodes: Int32) -> Int32 {
        var n = Int64(numNodes) * Int64(minCandidateNodesPercentage) / 100
        if n < Int64(minCandidateNodesAbsolute) { n = Int64(minCandidateNodesAbsolute) }
        if n > Int64(numNodes) { n = Int64(numNodes) }
        return Int32(n)
    }
}
