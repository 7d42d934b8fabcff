import APIMachinery

extension PolicyV1.PodDisruptionBudget: Validated {
    public func validate() -> ErrorList {
        var errs = MetaValidation.validateObjectMeta(metadata, namespaced: true, nameRule: .dns1123Subdomain)
        let p = FieldPath("spec")
        if spec.minAvailable != nil && spec.maxUnavailable != nil {
            errs.append(.invalid(p, spec.errorValue, "minAvailable and maxUnavailable cannot be both set"))
        }
        for (v, name) in [(spec.minAvailable, "minAvailable"), (spec.maxUnavailable, "maxUnavailable")] {
            switch v {
            case .int(let i)?: errs += NumberValidation.nonNegative(Int64(i), p.child(name))
            case .string(let s)?:
                if !s.hasSuffix("%") || Int(s.dropLast()) == nil {
                    errs.append(
                        .invalid(
                            p.child(name), s,
                            "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')"
                        ))
                } else if Int(s.dropLast())! > 100 {
                    errs.append(.invalid(p.child(name), s, "must not be greater than 100%"))
                }
            case nil: break
            }
        }
        errs += MetaValidation.validateLabelSelector(spec.selector, p.child("selector"))
        if let policy = spec.unhealthyPodEvictionPolicy, !["IfHealthyBudget", "AlwaysAllow"].contains(policy) {
            errs.append(
                .notSupported(
                    p.child("unhealthyPodEvictionPolicy"), .string(policy), ["AlwaysAllow", "IfHealthyBudget"]))
        }
        return errs
    }

    public func validateUpdate(from old: PolicyV1.PodDisruptionBudget) -> ErrorList {
        MetaValidation.validateObjectMetaUpdate(metadata, old.metadata) + validate()
    }
}
