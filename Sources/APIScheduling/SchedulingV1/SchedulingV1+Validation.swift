import APIMachinery

extension SchedulingV1.PriorityClass: Validated {
    /// Upstream's HighestUserDefinablePriority.
    public static let highestUserDefinablePriority: Int32 = 1_000_000_000

    public func validate() -> ErrorList {
        var errs = MetaValidation.validateObjectMeta(metadata, namespaced: false, nameRule: .dns1123Subdomain)
        // A "system-" name must be one of the built-in classes, with its value; otherwise the
        // value may not exceed the highest user-definable priority.
        if metadata.name.hasPrefix("system-") {
            if let problem = Self.systemClassProblem(metadata.name, value, globalDefault) {
                errs.append(
                    .forbidden(
                        FieldPath("metadata", "name"),
                        "priority class names with 'system-' prefix are reserved for system use only. error: \(problem)"
                    ))
            }
        } else if value > Self.highestUserDefinablePriority {
            errs.append(
                .forbidden(
                    FieldPath("value"),
                    "maximum allowed value of a user defined priority is \(Self.highestUserDefinablePriority)"))
        }
        if let p = preemptionPolicy, !["PreemptLowerPriority", "Never"].contains(p) {
            errs.append(.notSupported(FieldPath("preemptionPolicy"), .string(p), ["Never", "PreemptLowerPriority"]))
        }
        return errs
    }

    /// The built-in classes: name and value (both have globalDefault false).
    static let systemClasses: [(String, Int32)] = [
        ("system-node-critical", 2_000_001_000), ("system-cluster-critical", 2_000_000_000),
    ]

    /// Why a "system-" class is not one of the built-in ones, or nil when it is.
    static func systemClassProblem(_ name: String, _ value: Int32, _ globalDefault: Bool) -> String? {
        guard let (_, v) = systemClasses.first(where: { $0.0 == name }) else {
            return "\(name) is not a known system priority class"
        }
        if value != v { return "value of \(name) PriorityClass must be \(v)" }
        if globalDefault { return "globalDefault of \(name) PriorityClass must be false" }
        return nil
    }

    public func validateUpdate(from old: SchedulingV1.PriorityClass) -> ErrorList {
        var errs = MetaValidation.validateObjectMetaUpdate(metadata, old.metadata)
        if value != old.value { errs.append(.forbidden(FieldPath("value"), "may not be changed in an update.")) }
        if preemptionPolicy != old.preemptionPolicy {
            errs.append(MetaValidation.immutable(FieldPath("preemptionPolicy"), .string(preemptionPolicy ?? "")))
        }
        return errs + validate()
    }
}
