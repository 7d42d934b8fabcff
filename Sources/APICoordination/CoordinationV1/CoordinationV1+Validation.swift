import APIMachinery

extension CoordinationV1.Lease: Validated {
    public func validate() -> ErrorList {
        var errs = MetaValidation.validateObjectMeta(metadata, namespaced: true, nameRule: .dns1123Subdomain)
        if let d = spec.leaseDurationSeconds {
            errs += NumberValidation.positive(Int64(d), FieldPath("spec", "leaseDurationSeconds"))
        }
        if let t = spec.leaseTransitions {
            errs += NumberValidation.nonNegative(Int64(t), FieldPath("spec", "leaseTransitions"))
        }
        return errs
    }

    public func validateUpdate(from old: CoordinationV1.Lease) -> ErrorList {
        MetaValidation.validateObjectMetaUpdate(metadata, old.metadata) + validate()
    }
}
