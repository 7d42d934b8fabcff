import APIMachinery
import CEL
import KubernetesAPI

/// Validation of webhook configurations and admission policies with upstream's messages: the
/// fields a dispatcher relies on, and every CEL expression compiling.
enum AdmissionValidation {
    typealias V1 = AdmissionRegistrationV1

    static func meta(_ m: MetaV1.ObjectMeta, old: MetaV1.ObjectMeta?) -> ErrorList {
        var errs = MetaValidation.validateObjectMeta(m, namespaced: false, nameRule: .dns1123Subdomain)
        if let old { errs += MetaValidation.validateObjectMetaUpdate(m, old) }
        return errs
    }

    static func expression(_ source: String, _ path: FieldPath, environment: Environment = Environment())
        -> ErrorList
    {
        if source.isEmpty { return [.required(path, "expression is not specified")] }
        do {
            _ = try Program(source, environment: environment)
            return []
        } catch {
            return [.invalid(path, source, "compilation failed: \(error)")]
        }
    }

    static func oneOf(_ v: String?, _ allowed: [String], _ path: FieldPath, required: String? = nil) -> ErrorList {
        guard let v else { return required.map { [.required(path, $0)] } ?? [] }
        return allowed.contains(v) ? [] : [.notSupported(path, .string(v), allowed)]
    }

    static func matchConditions(_ conditions: [V1.MatchCondition], _ path: FieldPath) -> ErrorList {
        var errs: ErrorList = []
        var seen = Set<String>()
        for (i, c) in conditions.enumerated() {
            let p = path.index(i)
            if c.name.isEmpty {
                errs.append(.required(p.child("name")))
            } else {
                for m in NameValidation.isQualifiedName(c.name) { errs.append(.invalid(p.child("name"), c.name, m)) }
                if !seen.insert(c.name).inserted { errs.append(.duplicate(p.child("name"), .string(c.name))) }
            }
            errs += expression(c.expression, p.child("expression"))
        }
        return errs
    }

    static func rules(_ rules: [V1.RuleWithOperations], _ path: FieldPath) -> ErrorList {
        var errs: ErrorList = []
        for (i, r) in rules.enumerated() {
            let p = path.index(i)
            if r.operations.isEmpty { errs.append(.required(p.child("operations"))) }
            for (j, op) in r.operations.enumerated()
            where !["*", "CREATE", "UPDATE", "DELETE", "CONNECT"].contains(op) {
                errs.append(
                    .notSupported(
                        p.child("operations").index(j), .string(op), ["*", "CONNECT", "CREATE", "DELETE", "UPDATE"]))
            }
            if r.rule.apiGroups.isEmpty { errs.append(.required(p.child("apiGroups"))) }
            if r.rule.apiVersions.isEmpty { errs.append(.required(p.child("apiVersions"))) }
            if r.rule.resources.isEmpty { errs.append(.required(p.child("resources"))) }
            errs += oneOf(r.rule.scope, ["*", "Cluster", "Namespaced"], p.child("scope"))
        }
        return errs
    }

    static func webhook(
        name: String, client: V1.WebhookClientConfig, rules: [V1.RuleWithOperations], failurePolicy: String?,
        matchPolicy: String?, sideEffects: String?, timeout: Int32?, versions: [String],
        conditions: [V1.MatchCondition], _ p: FieldPath, names: inout Set<String>
    ) -> ErrorList {
        var errs: ErrorList = []
        if name.isEmpty {
            errs.append(.required(p.child("name")))
        } else {
            if name.split(separator: ".", omittingEmptySubsequences: false).count < 3 {
                errs.append(
                    .invalid(p.child("name"), name, "should be a domain with at least three segments separated by dots")
                )
            }
            if !names.insert(name).inserted { errs.append(.duplicate(p.child("name"), .string(name))) }
        }
        switch (client.url, client.service) {
        case (nil, nil), (.some, .some):
            errs.append(.required(p.child("clientConfig"), "exactly one of url or service is required"))
        case (let url?, nil):
            if !url.hasPrefix("https://") {
                errs.append(.invalid(p.child("clientConfig", "url"), url, "'https' is the only allowed URL scheme"))
            }
        case (nil, let svc?):
            if svc.name.isEmpty {
                errs.append(.required(p.child("clientConfig", "service", "name"), "service name is required"))
            }
            if svc.namespace.isEmpty {
                errs.append(.required(p.child("clientConfig", "service", "namespace"), "service namespace is required"))
            }
            if let port = svc.port, port < 1 || port > 65535 {
                errs.append(
                    .invalid(
                        p.child("clientConfig", "service", "port"), .int(Int64(port)),
                        "port is not valid: must be between 1 and 65535, inclusive"))
            }
        }
        errs += self.rules(rules, p.child("rules"))
        errs += oneOf(failurePolicy, ["Fail", "Ignore"], p.child("failurePolicy"))
        errs += oneOf(matchPolicy, ["Equivalent", "Exact"], p.child("matchPolicy"))
        errs += oneOf(
            sideEffects, ["None", "NoneOnDryRun"], p.child("sideEffects"),
            required: "must specify one of None, NoneOnDryRun")
        if let t = timeout, t < 1 || t > 30 {
            errs.append(
                .invalid(
                    p.child("timeoutSeconds"), .int(Int64(t)), "the timeout value must be between 1 and 30 seconds"))
        }
        if versions.isEmpty {
            errs.append(.required(p.child("admissionReviewVersions"), "must specify one of v1, v1beta1"))
        } else if !versions.contains("v1") && !versions.contains("v1beta1") {
            errs.append(
                .invalid(
                    p.child("admissionReviewVersions"),
                    .json(String(decoding: JSONValue.array(versions.map { .string($0) }).jsonBytes, as: UTF8.self)),
                    "must include at least one of v1, v1beta1"))
        }
        errs += matchConditions(conditions, p.child("matchConditions"))
        return errs
    }

    static func validating(_ c: V1.ValidatingWebhookConfiguration, old: V1.ValidatingWebhookConfiguration?) -> ErrorList
    {
        var errs = meta(c.metadata, old: old?.metadata)
        var names = Set<String>()
        for (i, w) in c.webhooks.enumerated() {
            errs += webhook(
                name: w.name, client: w.clientConfig, rules: w.rules, failurePolicy: w.failurePolicy,
                matchPolicy: w.matchPolicy, sideEffects: w.sideEffects, timeout: w.timeoutSeconds,
                versions: w.admissionReviewVersions, conditions: w.matchConditions, FieldPath("webhooks").index(i),
                names: &names)
        }
        return errs
    }

    static func mutating(_ c: V1.MutatingWebhookConfiguration, old: V1.MutatingWebhookConfiguration?) -> ErrorList {
        var errs = meta(c.metadata, old: old?.metadata)
        var names = Set<String>()
        for (i, w) in c.webhooks.enumerated() {
            let p = FieldPath("webhooks").index(i)
            errs += webhook(
                name: w.name, client: w.clientConfig, rules: w.rules, failurePolicy: w.failurePolicy,
                matchPolicy: w.matchPolicy, sideEffects: w.sideEffects, timeout: w.timeoutSeconds,
                versions: w.admissionReviewVersions, conditions: w.matchConditions, p, names: &names)
            errs += oneOf(w.reinvocationPolicy, ["IfNeeded", "Never"], p.child("reinvocationPolicy"))
        }
        return errs
    }

    static func matchResources(_ m: V1.MatchResources?, _ p: FieldPath, policy: Bool) -> ErrorList {
        guard let m else { return policy ? [.required(p, "")] : [] }
        var errs: ErrorList = []
        if policy && m.resourceRules.isEmpty { errs.append(.required(p.child("resourceRules"), "")) }
        errs += rules(m.resourceRules.map(\.ruleWithOperations), p.child("resourceRules"))
        errs += rules(m.excludeResourceRules.map(\.ruleWithOperations), p.child("excludeResourceRules"))
        errs += oneOf(m.matchPolicy, ["Equivalent", "Exact"], p.child("matchPolicy"))
        return errs
    }

    static func variables(_ vars: [V1.Variable], _ p: FieldPath) -> ErrorList {
        var errs: ErrorList = []
        for (i, v) in vars.enumerated() {
            if v.name.isEmpty { errs.append(.required(p.index(i).child("name"), "name is not specified")) }
            errs += expression(v.expression, p.index(i).child("expression"))
        }
        return errs
    }

    static func paramKind(_ k: V1.ParamKind?, _ p: FieldPath) -> ErrorList {
        guard let k else { return [] }
        var errs: ErrorList = []
        if k.apiVersion.isEmpty { errs.append(.required(p.child("apiVersion"))) }
        if k.kind.isEmpty { errs.append(.required(p.child("kind"))) }
        return errs
    }

    static func validatingPolicy(_ v: V1.ValidatingAdmissionPolicy, old: V1.ValidatingAdmissionPolicy?) -> ErrorList {
        var errs = meta(v.metadata, old: old?.metadata)
        let spec = FieldPath("spec")
        errs += paramKind(v.spec.paramKind, spec.child("paramKind"))
        errs += matchResources(v.spec.matchConstraints, spec.child("matchConstraints"), policy: true)
        errs += oneOf(v.spec.failurePolicy, ["Fail", "Ignore"], spec.child("failurePolicy"))
        if v.spec.validations.isEmpty && v.spec.auditAnnotations.isEmpty {
            errs.append(
                .required(spec.child("validations"), "validations or auditAnnotations must contain at least one item"))
        }
        for (i, val) in v.spec.validations.enumerated() {
            let p = spec.child("validations").index(i)
            errs += expression(val.expression, p.child("expression"))
            if !val.messageExpression.isEmpty {
                do { _ = try Program(val.messageExpression) } catch {
                    errs.append(
                        .invalid(p.child("messageExpression"), val.messageExpression, "compilation failed: \(error)"))
                }
            }
            if val.message.contains("\n") {
                errs.append(.invalid(p.child("message"), val.message, "message must not contain line breaks"))
            }
            errs += oneOf(
                val.reason, ["Unauthorized", "Forbidden", "Invalid", "RequestEntityTooLarge"], p.child("reason"))
        }
        var keys = Set<String>()
        for (i, a) in v.spec.auditAnnotations.enumerated() {
            let p = spec.child("auditAnnotations").index(i)
            if a.key.isEmpty { errs.append(.required(p.child("key"))) }
            if !keys.insert(a.key).inserted { errs.append(.duplicate(p.child("key"), .string(a.key))) }
            errs += expression(a.valueExpression, p.child("valueExpression"))
        }
        errs += matchConditions(v.spec.matchConditions, spec.child("matchConditions"))
        errs += variables(v.spec.variables, spec.child("variables"))
        return errs
    }

    static func validatingBinding(
        _ b: V1.ValidatingAdmissionPolicyBinding, old: V1.ValidatingAdmissionPolicyBinding?
    ) -> ErrorList {
        var errs = meta(b.metadata, old: old?.metadata)
        let spec = FieldPath("spec")
        if b.spec.policyName.isEmpty { errs.append(.required(spec.child("policyName"))) }
        errs += matchResources(b.spec.matchResources, spec.child("matchResources"), policy: false)
        errs += paramRef(b.spec.paramRef, spec.child("paramRef"))
        if b.spec.validationActions.isEmpty {
            errs.append(.required(spec.child("validationActions"), "at least one validation action is required"))
        }
        var seen = Set<String>()
        for (i, a) in b.spec.validationActions.enumerated() {
            let p = spec.child("validationActions").index(i)
            if !["Audit", "Deny", "Warn"].contains(a) {
                errs.append(.notSupported(p, .string(a), ["Audit", "Deny", "Warn"]))
            } else if !seen.insert(a).inserted {
                errs.append(.duplicate(p, .string(a)))
            }
        }
        if seen.contains("Deny") && seen.contains("Warn") {
            errs.append(
                .invalid(
                    spec.child("validationActions"),
                    .json(
                        String(
                            decoding: JSONValue.array(b.spec.validationActions.map { .string($0) }).jsonBytes,
                            as: UTF8.self)),
                    "must not contain both Deny and Warn (repeating the same validation failure information in the API response and headers serves no purpose)"
                ))
        }
        return errs
    }

    static func paramRef(_ r: V1.ParamRef?, _ p: FieldPath) -> ErrorList {
        guard let r else { return [] }
        var errs: ErrorList = []
        if !r.name.isEmpty && r.selector != nil {
            errs.append(.forbidden(p.child("name"), "name and selector are mutually exclusive"))
        }
        if r.name.isEmpty && r.selector == nil {
            errs.append(.required(p, "one of name or selector must be specified"))
        }
        if let a = r.parameterNotFoundAction {
            errs += oneOf(a, ["Allow", "Deny"], p.child("parameterNotFoundAction"))
        } else {
            errs.append(.required(p.child("parameterNotFoundAction"), ""))
        }
        return errs
    }

    static func mutatingPolicy(_ v: V1.MutatingAdmissionPolicy, old: V1.MutatingAdmissionPolicy?) -> ErrorList {
        var errs = meta(v.metadata, old: old?.metadata)
        let spec = FieldPath("spec")
        errs += paramKind(v.spec.paramKind, spec.child("paramKind"))
        errs += matchResources(v.spec.matchConstraints, spec.child("matchConstraints"), policy: true)
        errs += oneOf(v.spec.failurePolicy, ["Fail", "Ignore"], spec.child("failurePolicy"))
        if !v.spec.reinvocationPolicy.isEmpty {
            errs += oneOf(v.spec.reinvocationPolicy, ["IfNeeded", "Never"], spec.child("reinvocationPolicy"))
        }
        if v.spec.mutations.isEmpty {
            errs.append(.required(spec.child("mutations"), "mutations must contain at least one item"))
        }
        for (i, m) in v.spec.mutations.enumerated() {
            let p = spec.child("mutations").index(i)
            switch m.patchType {
            case "ApplyConfiguration":
                errs += expression(
                    m.applyConfiguration?.expression ?? "", p.child("applyConfiguration", "expression"),
                    environment: AdmissionCEL.mutationEnvironment)
            case "JSONPatch":
                errs += expression(
                    m.jsonPatch?.expression ?? "", p.child("jsonPatch", "expression"),
                    environment: AdmissionCEL.mutationEnvironment)
            case "": errs.append(.required(p.child("patchType"), "patchType is not specified"))
            default:
                errs.append(
                    .notSupported(p.child("patchType"), .string(m.patchType), ["ApplyConfiguration", "JSONPatch"]))
            }
        }
        errs += matchConditions(v.spec.matchConditions, spec.child("matchConditions"))
        errs += variables(v.spec.variables, spec.child("variables"))
        return errs
    }

    static func mutatingBinding(_ b: V1.MutatingAdmissionPolicyBinding, old: V1.MutatingAdmissionPolicyBinding?)
        -> ErrorList
    {
        var errs = meta(b.metadata, old: old?.metadata)
        let spec = FieldPath("spec")
        if b.spec.policyName.isEmpty { errs.append(.required(spec.child("policyName"))) }
        errs += matchResources(b.spec.matchResources, spec.child("matchResources"), policy: false)
        errs += paramRef(b.spec.paramRef, spec.child("paramRef"))
        return errs
    }

    /// The validation of an admissionregistration resource, nil for others.
    static func validator<T>(_ resource: String, _: T.Type) -> (@Sendable (T, T?) -> ErrorList)? {
        func make<K>(_ f: @escaping @Sendable (K, K?) -> ErrorList) -> @Sendable (T, T?) -> ErrorList {
            { obj, old in (obj as? K).map { f($0, old as? K) } ?? [] }
        }
        switch resource {
        case "validatingwebhookconfigurations": return make(validating)
        case "mutatingwebhookconfigurations": return make(mutating)
        case "validatingadmissionpolicies": return make(validatingPolicy)
        case "validatingadmissionpolicybindings": return make(validatingBinding)
        case "mutatingadmissionpolicies": return make(mutatingPolicy)
        case "mutatingadmissionpolicybindings": return make(mutatingBinding)
        default: return nil
        }
    }
}
