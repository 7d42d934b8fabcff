import APIMachinery

/// Placement rules every component that decides where pods may run shares (upstream's
/// component-helpers `scheduling/corev1`): the scheduler's filters and the daemon set controller.
extension CoreV1.Toleration {
    /// Does this toleration tolerate the taint (`ToleratesTaint`)? An empty effect matches every
    /// effect, an empty key with `Exists` every key; `Equal` (or no operator) compares values.
    public func tolerates(_ taint: CoreV1.Taint) -> Bool {
        if !effect.isEmpty && effect != taint.effect { return false }
        if !key.isEmpty && key != taint.key { return false }
        switch self.operator {
        case "Exists": return true
        case "", "Equal": return value == taint.value
        default: return false
        }
    }
}

extension CoreV1.NodeSelectorRequirement {
    /// Does the requirement hold for a label's value (nil: the label is absent)? `NotIn` and
    /// `DoesNotExist` hold for an absent label; `Gt`/`Lt` compare integers and fail on anything else.
    public func matches(value: String?) -> Bool {
        switch self.operator {
        case "In": return value.map { values.contains($0) } ?? false
        case "NotIn": return value.map { !values.contains($0) } ?? true
        case "Exists": return value != nil
        case "DoesNotExist": return value == nil
        case "Gt", "Lt":
            guard let v = value.flatMap({ Int64($0) }), values.count == 1, let bound = Int64(values[0]) else {
                return false
            }
            return self.operator == "Gt" ? v > bound : v < bound
        default: return false
        }
    }
}

extension CoreV1.NodeSelectorTerm {
    /// A term holds when all its requirements do; a term with none matches no node (upstream's rule).
    /// Fields support only `metadata.name`.
    public func matches(_ node: CoreV1.Node) -> Bool {
        if matchExpressions.isEmpty && matchFields.isEmpty { return false }
        for r in matchExpressions where !r.matches(value: node.metadata.labels[r.key]) { return false }
        for r in matchFields {
            guard r.key == "metadata.name", r.matches(value: node.metadata.name) else { return false }
        }
        return true
    }
}

extension CoreV1.NodeSelector {
    /// Terms are OR-ed.
    public func matches(_ node: CoreV1.Node) -> Bool { nodeSelectorTerms.contains { $0.matches(node) } }
}

extension CoreV1.PodSpec {
    /// The pod's `nodeSelector` and required node affinity both hold for the node
    /// (`GetRequiredNodeAffinity(pod).Match(node)`).
    public func requiredNodeAffinityMatches(_ node: CoreV1.Node) -> Bool {
        for (k, v) in nodeSelector where node.metadata.labels[k] != v { return false }
        if let sel = affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution {
            return sel.matches(node)
        }
        return true
    }
}
