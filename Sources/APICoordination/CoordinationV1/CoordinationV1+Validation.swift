import APIMachinery

// Validation of coordination.k8s.io/v1 Leases, after upstream's pkg/apis/coordination/validation.

extension CoordinationV1.Lease: Validated {
    public func validate() -> ErrorList {
        var errs = MetaValidation.validateObjectMeta(metadata, namespaced: true, nameRule: .dns1123Subdomain)
        if let d = spec.leaseDurationSeconds {
            errs += NumberValidation.positive(Int64(d), FieldPath("spec", "leaseDurationSeconds"))
        }
        if let t = spec.leaseTransitions {
            errs += NumberValidation.nonNegative(Int64(t), FieldPath("spec", "leaseTransitions"))
        }
        // A strategy is a Kubernetes-defined name or a qualified name with a domain prefix.
        if let st = spec.strategy {
            let sp = FieldPath("spec", "strategy", "strategy")
            if !st.contains("/") {
                if st != "OldestEmulationVersion" {
                    errs.append(.notSupported(sp, .string(st), ["OldestEmulationVersion"]))
                }
            } else {
                for m in NameValidation.isQualifiedName(st) { errs.append(.invalid(sp, st, m)) }
            }
        }
        if let ph = spec.preferredHolder, !ph.isEmpty, (spec.strategy ?? "").isEmpty {
            errs.append(
                .forbidden(FieldPath("spec", "preferredHolder"), "may only be specified if `strategy` is defined"))
        }
        return errs
    }

    public func validateUpdate(from old: CoordinationV1.Lease) -> ErrorList {
        MetaValidation.validateObjectMetaUpdate(metadata, old.metadata) + validate()
    }
}
