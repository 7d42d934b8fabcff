import APIMachinery
import CEL
import Foundation
import KubernetesAPI

/// A Validating- or MutatingAdmissionPolicy compiled for evaluation.
struct AdmissionPolicy: Sendable {
    typealias Compiled = (program: Program?, error: String?)

    struct Validation: Sendable {
        var expression: String
        var compiled: Compiled
        var message: String
        var messageExpression: Program?
        var reason: String
    }

    var name: String
    var paramKind: AdmissionRegistrationV1.ParamKind?
    var matchConstraints: AdmissionRegistrationV1.MatchResources
    var failOpen: Bool
    var matchConditions: [(name: String, compiled: Compiled)]
    var variables: [(name: String, compiled: Compiled)]
    var validations: [Validation] = []
    var auditAnnotations: [(key: String, compiled: Compiled)] = []
    var mutations: [(patchType: String, compiled: Compiled)] = []

    init(_ p: AdmissionRegistrationV1.ValidatingAdmissionPolicy) {
        name = p.metadata.name
        paramKind = p.spec.paramKind
        matchConstraints = p.spec.matchConstraints ?? AdmissionRegistrationV1.MatchResources()
        failOpen = p.spec.failurePolicy == "Ignore"
        matchConditions = p.spec.matchConditions.map { ($0.name, AdmissionCEL.compile($0.expression)) }
        variables = p.spec.variables.map { ($0.name, AdmissionCEL.compile($0.expression)) }
        validations = p.spec.validations.map { v in
            Validation(
                expression: v.expression, compiled: AdmissionCEL.compile(v.expression), message: v.message,
                messageExpression: v.messageExpression.isEmpty ? nil : try? Program(v.messageExpression),
                reason: v.reason ?? "")
        }
        auditAnnotations = p.spec.auditAnnotations.map { ($0.key, AdmissionCEL.compile($0.valueExpression)) }
    }

    init(_ p: AdmissionRegistrationV1.MutatingAdmissionPolicy) {
        name = p.metadata.name
        paramKind = p.spec.paramKind
        matchConstraints = p.spec.matchConstraints ?? AdmissionRegistrationV1.MatchResources()
        failOpen = p.spec.failurePolicy == "Ignore"
        matchConditions = p.spec.matchConditions.map { ($0.name, AdmissionCEL.compile($0.expression)) }
        variables = p.spec.variables.map { ($0.name, AdmissionCEL.compile($0.expression)) }
        mutations = p.spec.mutations.map { m in
            let source = m.patchType == "JSONPatch" ? m.jsonPatch?.expression : m.applyConfiguration?.expression
            return (m.patchType, AdmissionCEL.compile(source ?? "", environment: AdmissionCEL.mutationEnvironment))
        }
    }

    /// A binding of a policy: where and with which parameters it applies, and what a failure does.
    struct Binding: Sendable {
        var name: String
        var policyName: String
        var paramRef: AdmissionRegistrationV1.ParamRef?
        var matchResources: AdmissionRegistrationV1.MatchResources?
        var actions: [String]
    }

    /// One failed validation.
    struct Failure {
        var message: String
        var reason: String
        var expressionIndex: Int
    }

    /// The outcome of evaluating a policy under one binding.
    enum Outcome {
        case notMatched
        /// Failures (validating) and, for a mutating policy, the mutated object.
        case evaluated([Failure], mutated: JSONValue?)
    }

    /// Evaluates the policy under `binding` for a write: matching, match conditions, parameters,
    /// then the validations (or mutations of `object`, which is in the request's version).
    func evaluate(
        _ binding: Binding, _ a: AdmissionAttributes, scope: RequestScope?
    ) async throws -> Outcome {
        guard let version = AdmissionMatching.matchedVersion(matchConstraints, a) else { return .notMatched }
        if let m = binding.matchResources {
            let all = m.resourceRules.isEmpty
            if all {
                guard AdmissionMatching.selectorsMatch(namespace: m.namespaceSelector, object: m.objectSelector, a)
                else { return .notMatched }
                func named(_ rules: [AdmissionRegistrationV1.NamedRuleWithOperations]) -> [AdmissionMatching.Rule] {
                    rules.filter { $0.resourceNames.isEmpty || $0.resourceNames.contains(a.name) }.map(
                        \.ruleWithOperations)
                }
                if AdmissionMatching.matchedVersion(named(m.excludeResourceRules), a, matchPolicy: m.matchPolicy) != nil
                {
                    return .notMatched
                }
            } else if AdmissionMatching.matchedVersion(m, a) == nil {
                return .notMatched
            }
        }
        let (object, oldObject) = try await a.objects(in: version)
        var vars: [String: Value] = [
            "object": AdmissionCEL.value(object), "oldObject": AdmissionCEL.value(oldObject),
            "request": AdmissionCEL.value(a.requestJSON(uid: "", matchedVersion: version, object: nil, oldObject: nil)),
            "namespaceObject": AdmissionCEL.value(a.namespaceObject),
        ].merging(AdmissionCEL.authorizerVariables(a)) { x, _ in x }
        // Match conditions: any false leaves the policy out; an error fails it (closed) or skips it.
        var conditionError: String? = nil
        for c in matchConditions {
            guard let p = c.compiled.program else {
                conditionError = conditionError ?? "compilation failed for match condition \(c.name)"
                continue
            }
            do {
                if try p.evaluate(vars) == .bool(false) { return .notMatched }
            } catch {
                conditionError = conditionError ?? "failed to evaluate match condition \(c.name): \(error)"
            }
        }
        if let conditionError {
            if failOpen { return .notMatched }
            return .evaluated([Failure(message: conditionError, reason: "Invalid", expressionIndex: 0)], mutated: nil)
        }
        // Parameters: none, one named object, or every object a selector picks.
        var params: [JSONValue?] = [nil]
        if let kind = paramKind {
            guard let ref = binding.paramRef else {
                return failing("failed to configure binding: no paramRef for a policy with paramKind")
            }
            guard let source = a.lookup(kind.apiVersion, kind.kind, nil) else {
                return failing(
                    "failed to configure binding: paramKind \(kind.apiVersion), Kind=\(kind.kind) is not served")
            }
            var ns = ref.namespace
            if ns.isEmpty && source.namespaced { ns = a.namespace }
            if source.namespaced && ns.isEmpty {
                return failing("failed to find params: cannot use a namespaced parameter with a cluster-scoped request")
            }
            if !ref.name.isEmpty {
                params = source.get(ns, ref.name).map { [$0] } ?? []
            } else {
                params = source.list(ns, ref.selector ?? MetaV1.LabelSelector())
            }
            if params.isEmpty {
                if (ref.parameterNotFoundAction ?? "Deny") == "Allow" { return .notMatched }
                return .evaluated(
                    [
                        Failure(
                            message: "no params found for policy binding with `Deny` parameterNotFoundAction",
                            reason: "Invalid", expressionIndex: 0)
                    ], mutated: nil)
            }
        }
        var failures: [Failure] = []
        var mutated = object
        for param in params {
            vars["params"] = AdmissionCEL.value(param)
            vars["variables"] = variableValues(vars)
            for (i, v) in validations.enumerated() {
                guard let p = v.compiled.program else {
                    if !failOpen {
                        failures.append(
                            Failure(
                                message: "compilation error: \(v.compiled.error ?? "")", reason: "Invalid",
                                expressionIndex: i))
                    }
                    continue
                }
                let result: Value
                do { result = try p.evaluate(vars) } catch {
                    if !failOpen {
                        failures.append(
                            Failure(
                                message: "expression '\(v.expression)' resulted in error: \(error)",
                                reason: "Invalid", expressionIndex: i))
                    }
                    continue
                }
                if result == .bool(true) { continue }
                var message = v.message.isEmpty ? "failed expression: \(v.expression)" : v.message
                if let me = v.messageExpression, case .string(let m)? = try? me.evaluate(vars),
                    !m.trimmingCharacters(in: .whitespaces).isEmpty, !m.contains("\n")
                {
                    message = m
                }
                failures.append(Failure(message: message, reason: v.reason, expressionIndex: i))
            }
            for annotation in auditAnnotations {
                guard let p = annotation.compiled.program, let v = try? p.evaluate(vars) else { continue }
                if case .string(let s) = v { scope?.annotate("\(name)/\(annotation.key)", s) }
            }
            for m in mutations {
                guard let p = m.compiled.program, let current = mutated else { continue }
                vars["object"] = AdmissionCEL.value(current)
                do {
                    let result = AdmissionCEL.json(try p.evaluate(vars))
                    mutated = try Self.mutate(current, m.patchType, result)
                } catch {
                    if !failOpen {
                        failures.append(
                            Failure(
                                message: "mutation failed: \(error)", reason: "Invalid", expressionIndex: 0))
                    }
                }
            }
        }
        if !mutations.isEmpty, version != a.version, let m = mutated {
            mutated = try await a.convert(m, version, a.version)
        }
        return .evaluated(failures, mutated: mutations.isEmpty ? nil : mutated)
    }

    private func failing(_ message: String) -> Outcome {
        if failOpen { return .notMatched }
        return .evaluated([Failure(message: message, reason: "Invalid", expressionIndex: 0)], mutated: nil)
    }

    /// The policy's variables, each seeing the ones before it; one that fails is left out.
    func variableValues(_ base: [String: Value]) -> Value {
        var vars = base
        var entries: [(key: Value, value: Value)] = []
        for v in variables {
            vars["variables"] = .map(entries)
            if let p = v.compiled.program, let value = try? p.evaluate(vars) {
                entries.append((.string(v.name), value))
            }
        }
        return .map(entries)
    }

    /// Applies one mutation's result: a JSON patch (a list of operations) or an apply
    /// configuration merged into the object.
    static func mutate(_ object: JSONValue, _ patchType: String, _ result: JSONValue) throws -> JSONValue {
        if patchType == "JSONPatch" {
            guard case .array = result else { throw APIError.badRequest("JSONPatch expression must return a list") }
            return try JSONValue.parse(
                Patching.apply(.json, patch: result.jsonBytes, to: object.jsonBytes, schema: nil))
        }
        return merged(object, result)
    }

    /// An apply configuration merged into an object: maps field by field, everything else
    /// replaced.
    static func merged(_ base: JSONValue, _ config: JSONValue) -> JSONValue {
        guard case .object(var pairs) = base, case .object(let changes) = config else { return config }
        for (k, v) in changes {
            if let i = pairs.firstIndex(where: { $0.key == k }) {
                pairs[i].value = merged(pairs[i].value, v)
            } else {
                pairs.append((k, v))
            }
        }
        return .object(pairs)
    }

    /// A Deny as upstream reports it: `<resource> "<name>" is forbidden: ValidatingAdmissionPolicy
    /// '<policy>' with binding '<binding>' denied request: <message>`, with the failure's reason
    /// and its code.
    static func denial(_ f: Failure, policy: String, binding: String, _ a: AdmissionAttributes, kind: String)
        -> APIError
    {
        let message = "\(kind) '\(policy)' with binding '\(binding)' denied request: \(f.message)"
        let text =
            a.name.isEmpty
            ? "\(a.qualifiedResource) is forbidden: \(message)"
            : "\(a.qualifiedResource) \"\(a.name)\" is forbidden: \(message)"
        let reason = f.reason.isEmpty ? "Invalid" : f.reason
        let code: Int
        switch reason {
        case "Unauthorized": code = 401
        case "Forbidden": code = 403
        case "RequestEntityTooLarge": code = 413
        case "Invalid": code = 422
        default: code = 422
        }
        return APIError(
            code: code, reason: reason, message: text,
            details: MetaV1.StatusDetails(
                name: a.name, group: a.group, kind: a.resource, causes: [MetaV1.StatusCause(message: message)]))
    }
}
