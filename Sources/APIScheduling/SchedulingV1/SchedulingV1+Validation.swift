import APIMachinery

extension SchedulingV1.PriorityClass: Validated {
    /// Upstream's HighestUserDefinablePriority.
    public static let highestUserDefinablePriority: Int32 = 1_000_000_000

    public func validate() -> ErrorList {
        var errs = MetaValidation.validateObjectMeta(metadata, namespaced: false, nameRule: .dns1123Subdomain)
        let systemNames = ["system-node-critical", "system-cluster-critical"]
        if metadata.name.hasPrefix("system-") && !systemNames.contains(metadata.name) {
            errs.append(
                .forbidden(FieldPath("metadata", "name"), "priority class names with 'system-' prefix are reserved"))
        }
        if value > Self.highestUserDefinablePriority && !systemNames.contains(metadata.name) {
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

    public func validateUpdate(from old: SchedulingV1.PriorityClass) -> ErrorList {
        var errs = MetaValidation.validateObjectMetaUpdate(metadata, old.metadata)
        if value != old.value { errs.append(.forbidden(FieldPath("value"), "may not be changed in an update.")) }
        if preemptionPolicy != old.preemptionPolicy {
            errs.append(MetaValidation.immutable(FieldPath("preemptionPolicy"), .string(preemptionPolicy ?? "")))
        }
        return errs + validate()
    }
}
