/// The outcome of a plugin at one extension point (upstream's `framework.Status`). Success is
/// written as `nil` where an optional status is answered, so the hot path allocates nothing.
public struct Status: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Code: Int, Sendable, Comparable {
        case success, error, unschedulable, unschedulableAndUnresolvable, wait, skip, pending
        public static func < (a: Code, b: Code) -> Bool { a.rawValue < b.rawValue }
    }

    public var code: Code
    public var reasons: [String]
    /// The plugin that answered it (filled in by the framework).
    public var plugin: String

    public init(_ code: Code, _ reasons: String..., plugin: String = "") {
        self.code = code
        self.reasons = reasons
        self.plugin = plugin
    }

    public init(_ code: Code, reasons: [String], plugin: String = "") {
        self.code = code
        self.reasons = reasons
        self.plugin = plugin
    }

    public static let success = Status(.success)
    public static let skip = Status(.skip)

    public static func unschedulable(_ reasons: String...) -> Status { Status(.unschedulable, reasons: reasons) }
    public static func unresolvable(_ reasons: String...) -> Status {
        Status(.unschedulableAndUnresolvable, reasons: reasons)
    }
    public static func error(_ message: String) -> Status { Status(.error, reasons: [message]) }

    public var isSuccess: Bool { code == .success }
    /// Unschedulable in either form: the pod cannot go there now.
    public var isRejected: Bool { code == .unschedulable || code == .unschedulableAndUnresolvable || code == .pending }
    public var message: String { reasons.joined(separator: ", ") }
    public var description: String { "\(code): \(message)" }

    func by(_ name: String) -> Status {
        var s = self
        if s.plugin.isEmpty { s.plugin = name }
        return s
    }
}

/// Where filtering left each node: the status of those rejected, and the plugins that rejected
/// (upstream's `framework.Diagnosis`).
public struct Diagnosis: Sendable {
    public var nodeToStatus: [String: Status] = [:]
    /// Status for every node not in `nodeToStatus` (a PreFilter rejection or nodes not evaluated).
    public var absentNodesStatus: Status?
    public var unschedulablePlugins: Set<String> = []
    public var pendingPlugins: Set<String> = []
    public var preFilterMessage = ""
    public var postFilterMessage = ""

    public init() {}

    public func status(of node: String) -> Status? { nodeToStatus[node] ?? absentNodesStatus }
}

/// Why no node fits a pod; its message is upstream's FailedScheduling text, e.g.
/// `0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint {k: v}. preemption: …`.
public struct FitError: Error, Sendable, CustomStringConvertible {
    public var numAllNodes: Int
    public var diagnosis: Diagnosis

    public init(numAllNodes: Int, diagnosis: Diagnosis) {
        self.numAllNodes = numAllNodes
        self.diagnosis = diagnosis
    }

    public var description: String { message }

    public var message: String {
        var msg = "0/\(numAllNodes) nodes are available:"
        if !diagnosis.preFilterMessage.isEmpty {
            msg += " \(diagnosis.preFilterMessage)."
        } else {
            var histogram: [String: Int] = [:]
            for s in diagnosis.nodeToStatus.values { for r in s.reasons { histogram[r, default: 0] += 1 } }
            let absent = numAllNodes - diagnosis.nodeToStatus.count
            if absent > 0, let s = diagnosis.absentNodesStatus {
                for r in s.reasons { histogram[r, default: 0] += absent }
            }
            let reasons = histogram.map { "\($0.value) \($0.key)" }.sorted(by: Self.goLess)
            if !reasons.isEmpty { msg += " \(reasons.joined(separator: ", "))." }
        }
        // The PostFilter (preemption) message is appended as it is: no period is added to it.
        let post = diagnosis.postFilterMessage
        if !post.isEmpty { msg += " \(post)" }
        return msg
    }

    /// Go's byte-wise string order (`sort.Strings`).
    static func goLess(_ a: String, _ b: String) -> Bool { a.utf8.lexicographicallyPrecedes(b.utf8) }
}
