import APIMachinery

// Validation of rbac.authorization.k8s.io/v1 kinds, after upstream's pkg/apis/rbac/validation.

enum RBACValidation {
    static func validateRules(_ rules: [RBACV1.PolicyRule], _ path: FieldPath, clusterScoped: Bool) -> ErrorList {
        var errs: ErrorList = []
        for (i, r) in rules.enumerated() {
            let p = path.index(i)
            if r.verbs.isEmpty { errs.append(.required(p.child("verbs"), "verbs must contain at least one value")) }
            if !r.nonResourceURLs.isEmpty {
                let urls = ErrorValue.json("[" + r.nonResourceURLs.map(GoQuote.quote).joined(separator: ",") + "]")
                if !clusterScoped {
                    errs.append(
                        .invalid(
                            p.child("nonResourceURLs"), urls,
                            "namespaced rules cannot apply to non-resource URLs"))
                }
                if !r.apiGroups.isEmpty || !r.resources.isEmpty || !r.resourceNames.isEmpty {
                    errs.append(
                        .invalid(
                            p.child("nonResourceURLs"), urls,
                            "rules cannot apply to both regular resources and non-resource URLs"))
                }
                continue
            }
            if r.apiGroups.isEmpty {
                errs.append(.required(p.child("apiGroups"), "resource rules must supply at least one api group"))
            }
            if r.resources.isEmpty {
                errs.append(.required(p.child("resources"), "resource rules must supply at least one resource"))
            }
        }
        return errs
    }

    static func validateBinding(_ roleRef: RBACV1.RoleRef, _ subjects: [RBACV1.Subject], namespaced: Bool) -> ErrorList
    {
        var errs: ErrorList = []
        if roleRef.apiGroup != "rbac.authorization.k8s.io" {
            errs.append(
                .notSupported(
                    FieldPath("roleRef", "apiGroup"), .string(roleRef.apiGroup), ["rbac.authorization.k8s.io"]))
        }
        let kinds = namespaced ? ["Role", "ClusterRole"] : ["ClusterRole"]
        if !kinds.contains(roleRef.kind) {
            errs.append(.notSupported(FieldPath("roleRef", "kind"), .string(roleRef.kind), kinds))
        }
        if roleRef.name.isEmpty {
            errs.append(.required(FieldPath("roleRef", "name")))
        } else {
            for m in NameRule.pathSegment.check(roleRef.name, prefix: false) {
                errs.append(.invalid(FieldPath("roleRef", "name"), roleRef.name, m))
            }
        }
        for (i, s) in subjects.enumerated() {
            let p = FieldPath("subjects").index(i)
            if s.name.isEmpty { errs.append(.required(p.child("name"))) }
            switch s.kind {
            case "ServiceAccount":
                for m in NameValidation.isDNS1123Subdomain(s.name) where !s.name.isEmpty {
                    errs.append(.invalid(p.child("name"), s.name, m))
                }
                if !s.apiGroup.isEmpty { errs.append(.notSupported(p.child("apiGroup"), .string(s.apiGroup), [""])) }
                if s.namespace.isEmpty && !namespaced { errs.append(.required(p.child("namespace"))) }
            case "User", "Group":
                if s.name.isEmpty {
                    errs.append(.invalid(p.child("name"), s.name, "\(s.kind.lowercased()) name cannot be empty"))
                }
                if s.apiGroup != "rbac.authorization.k8s.io" {
                    errs.append(.notSupported(p.child("apiGroup"), .string(s.apiGroup), ["rbac.authorization.k8s.io"]))
                }
            default:
                errs.append(.notSupported(p.child("kind"), .string(s.kind), ["ServiceAccount", "User", "Group"]))
            }
        }
        return errs
    }
}

extension RBACV1.Role: Validated {
    public func validate() -> ErrorList {
        MetaValidation.validateObjectMeta(metadata, namespaced: true, nameRule: .pathSegment)
            + RBACValidation.validateRules(rules, FieldPath("rules"), clusterScoped: false)
    }

    public func validateUpdate(from old: RBACV1.Role) -> ErrorList {
        validate() + MetaValidation.validateObjectMetaUpdate(metadata, old.metadata)
    }
}

extension RBACV1.ClusterRole: Validated {
    public func validate() -> ErrorList {
        var errs = MetaValidation.validateObjectMeta(metadata, namespaced: false, nameRule: .pathSegment)
        errs += RBACValidation.validateRules(rules, FieldPath("rules"), clusterScoped: true)
        for (i, s) in (aggregationRule?.clusterRoleSelectors ?? []).enumerated() {
            errs += MetaValidation.validateLabelSelector(
                s, FieldPath("aggregationRule", "clusterRoleSelectors").index(i))
        }
        return errs
    }

    public func validateUpdate(from old: RBACV1.ClusterRole) -> ErrorList {
        validate() + MetaValidation.validateObjectMetaUpdate(metadata, old.metadata)
    }
}

extension RBACV1.RoleBinding: Validated {
    public func validate() -> ErrorList {
        MetaValidation.validateObjectMeta(metadata, namespaced: true, nameRule: .pathSegment)
            + RBACValidation.validateBinding(roleRef, subjects, namespaced: true)
    }

    /// upstream reports the binding's own errors first, then metadata, then a changed roleRef.
    public func validateUpdate(from old: RBACV1.RoleBinding) -> ErrorList {
        var errs = validate() + MetaValidation.validateObjectMetaUpdate(metadata, old.metadata)
        if roleRef != old.roleRef {
            errs.append(.invalid(FieldPath("roleRef"), roleRef.errorValue, "cannot change roleRef"))
        }
        return errs
    }
}

extension RBACV1.ClusterRoleBinding: Validated {
    public func validate() -> ErrorList {
        MetaValidation.validateObjectMeta(metadata, namespaced: false, nameRule: .pathSegment)
            + RBACValidation.validateBinding(roleRef, subjects, namespaced: false)
    }

    /// upstream reports the binding's own errors first, then metadata, then a changed roleRef.
    public func validateUpdate(from old: RBACV1.ClusterRoleBinding) -> ErrorList {
        var errs = validate() + MetaValidation.validateObjectMetaUpdate(metadata, old.metadata)
        if roleRef != old.roleRef {
            errs.append(.invalid(FieldPath("roleRef"), roleRef.errorValue, "cannot change roleRef"))
        }
        return errs
    }
}
