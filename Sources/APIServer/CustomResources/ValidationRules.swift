import APIExtensions
import APIMachinery
import CEL

/// The `x-kubernetes-validations` rules of a custom resource's schema, compiled once per CRD
/// version and evaluated on every write with `self` (and `oldSelf` on updates) bound to the
/// value at the rule's position, reporting as upstream does.
final class ValidationRules: @unchecked Sendable {
    struct Rule {
        var program: Program
        var message: String
        var messageExpression: Program?
        var reason: String?
        var fieldPath: String
        var transition: Bool
    }

    private var rules: [ObjectIdentifier: [Rule]] = [:]
    let root: CompiledSchema
    var isEmpty: Bool { rules.isEmpty }

    init(_ root: CompiledSchema) {
        self.root = root
        collect(root)
    }

    private func collect(_ s: CompiledSchema) {
        if !s.validations.isEmpty {
            rules[ObjectIdentifier(s)] = s.validations.compactMap { r -> Rule? in
                guard let p = try? Program(r.rule) else { return nil }
                return Rule(
                    program: p, message: r.message,
                    messageExpression: r.messageExpression.isEmpty ? nil : try? Program(r.messageExpression),
                    reason: r.reason, fieldPath: r.fieldPath,
                    transition: p.references("oldSelf") && r.optionalOldSelf != true)
            }
        }
        for p in s.properties.values { collect(p) }
        if let a = s.additionalProperties { collect(a) }
        if let i = s.items { collect(i) }
    }

    /// The compile errors of a schema's rules, as a CRD write reports them.
    static func compileErrors(_ s: APIExtensionsV1.JSONSchemaProps, at path: FieldPath) -> ErrorList {
        var errs: ErrorList = []
        // Rules are type-checked against the schema: `self` (and `oldSelf`) have its types.
        let selfType = celType(s)
        let env = Environment(variables: ["self": selfType, "oldSelf": selfType])
        for (i, r) in s.xKubernetesValidations.enumerated() {
            let p = path.child("x-kubernetes-validations").index(i)
            do { _ = try Program(r.rule, environment: env) } catch {
                errs.append(.invalid(p.child("rule"), r.rule, "compilation failed: \(error.message)"))
            }
            if !r.messageExpression.isEmpty {
                let m = r.messageExpression
                do { _ = try Program(m) } catch {
                    errs.append(
                        .invalid(
                            p.child("messageExpression"), m, "messageExpression compilation failed: \(error.message)"))
                }
            }
            if let reason = r.reason,
                !["FieldValueInvalid", "FieldValueForbidden", "FieldValueRequired", "FieldValueDuplicate"].contains(
                    reason)
            {
                errs.append(
                    .notSupported(
                        p.child("reason"), .string(reason),
                        ["FieldValueDuplicate", "FieldValueForbidden", "FieldValueInvalid", "FieldValueRequired"]))
            }
        }
        for (k, c) in s.properties.sorted(by: { $0.key < $1.key }) {
            errs += compileErrors(c, at: path.child("properties").key(k))
        }
        if let items = s.items?.schema { errs += compileErrors(items, at: path.child("items")) }
        if let ap = s.additionalProperties?.schema { errs += compileErrors(ap, at: path.child("additionalProperties")) }
        return errs
    }

    // MARK: Cost

    /// The CEL type of a schema node for the cost estimator, with its declared size bounds.
    static func celType(_ s: APIExtensionsV1.JSONSchemaProps) -> CELType {
        if s.xKubernetesIntOrString { return .dyn }
        func bound(_ v: Int64?) -> UInt64? { v.map { UInt64(max(0, $0)) } }
        switch s.type {
        case "string":
            if s.format == "date-time" { return .timestamp }
            if s.format == "duration" { return .duration }
            return .string(maxLength: bound(s.maxLength))
        case "integer": return .int
        case "number": return .double
        case "boolean": return .bool
        case "array":
            return .list(s.items?.schema.map(celType) ?? .dyn, maxItems: bound(s.maxItems))
        case "object":
            if !s.properties.isEmpty {
                return .object(name: "object", fields: s.properties.mapValues(celType))
            }
            if let ap = s.additionalProperties?.schema {
                return .map(key: .string, value: celType(ap), maxProperties: bound(s.maxProperties))
            }
            return .map(key: .string, value: .dyn, maxProperties: bound(s.maxProperties))
        default: return .dyn
        }
    }

    /// The fewest bytes one value of the node takes in a request (how many an unbounded list or
    /// map can hold), as upstream sizes them.
    static func minSize(_ s: APIExtensionsV1.JSONSchemaProps) -> UInt64 {
        switch s.type {
        case "string": return 2
        case "boolean": return 4
        case "integer", "number": return 1
        default: return 2
        }
    }

    /// Static cost checks of a schema's rules as a CRD write makes them: each rule's estimated
    /// cost against the per-rule limit, and the sum over the schema of each rule's cost times how
    /// many times it can run (the enclosing lists' and maps' sizes) against the per-CRD limit.
    static func costErrors(_ root: APIExtensionsV1.JSONSchemaProps, at path: FieldPath) -> ErrorList {
        var errs: ErrorList = []
        var total: UInt64 = 0
        var contributors: [(FieldPath, UInt64)] = []
        func walk(_ s: APIExtensionsV1.JSONSchemaProps, _ p: FieldPath, cardinality: UInt64) {
            if !s.xKubernetesValidations.isEmpty {
                var vars: [String: CELType] = ["self": celType(s)]
                vars["oldSelf"] = vars["self"]
                for (i, r) in s.xKubernetesValidations.enumerated() {
                    let rp = p.child("x-kubernetes-validations").index(i)
                    for (field, source, name) in [
                        ("rule", r.rule, "estimated rule cost"),
                        ("messageExpression", r.messageExpression, "estimated messageExpression cost"),
                    ] where !source.isEmpty {
                        guard let program = try? Program(source) else { continue }
                        let cost = program.estimateCost(vars).max
                        if cost > Limits.staticEstimatedCostLimit {
                            errs.append(
                                .forbidden(
                                    rp.child(field),
                                    Limits.costExceedsBudget(name, cost: cost, limit: Limits.staticEstimatedCostLimit)))
                        }
                        let (scaled, overflow) = cost.multipliedReportingOverflow(by: cardinality)
                        let add = overflow ? UInt64.max : scaled
                        total = total > UInt64.max - add ? UInt64.max : total + add
                        contributors.append((rp.child(field), add))
                    }
                }
            }
            for (k, c) in s.properties.sorted(by: { $0.key < $1.key }) {
                walk(c, p.child("properties").key(k), cardinality: cardinality)
            }
            func times(_ n: UInt64) -> UInt64 {
                let (r, o) = cardinality.multipliedReportingOverflow(by: max(n, 1))
                return o ? UInt64.max : r
            }
            if let items = s.items?.schema {
                let n = s.maxItems.map { UInt64(max(0, $0)) } ?? Limits.maxRequestSizeBytes / (minSize(items) + 1)
                walk(items, p.child("items"), cardinality: times(n))
            }
            if let ap = s.additionalProperties?.schema {
                let n =
                    s.maxProperties.map { UInt64(max(0, $0)) } ?? Limits.maxRequestSizeBytes / (minSize(ap) + 4)
                walk(ap, p.child("additionalProperties"), cardinality: times(n))
            }
        }
        walk(root, path, cardinality: 1)
        if total > Limits.staticEstimatedCRDCostLimit {
            for (p, cost) in contributors.sorted(by: { $0.1 > $1.1 }).prefix(4) where cost > 0 {
                errs.append(
                    .forbidden(
                        p,
                        "contributed to estimated rule & messageExpression cost total exceeding cost limit for entire OpenAPIv3 schema"
                    ))
            }
            errs.append(
                .forbidden(
                    path,
                    Limits.costExceedsBudget(
                        "x-kubernetes-validations estimated rule & messageExpression cost total for entire OpenAPIv3 schema",
                        cost: total, limit: Limits.staticEstimatedCRDCostLimit)))
        }
        return errs
    }

    /// The errors of every rule on the object's top-level fields (and below).
    func validate(_ fields: [(key: String, value: JSONValue)], old: [(key: String, value: JSONValue)]?) -> ErrorList {
        var errs: ErrorList = []
        var budget = Limits.runtimeCELCostBudget
        walk(.object(fields), old.map { .object($0) }, root, FieldPath.root, &errs, &budget)
        return errs
    }

    /// Evaluates the rules at and below `v`, each call within the per-call cost limit and all of
    /// them within the object's runtime budget (`budget`, spent as they run; once it runs out,
    /// nothing more is evaluated).
    private func walk(
        _ v: JSONValue, _ old: JSONValue?, _ s: CompiledSchema, _ path: FieldPath, _ errs: inout ErrorList,
        _ budget: inout UInt64
    ) {
        if budget == 0 { return }
        if let rs = rules[ObjectIdentifier(s)] {
            let selfValue = Self.value(v, s)
            let oldValue = old.map { Self.value($0, s) }
            for r in rs {
                if r.transition && oldValue == nil { continue }
                var vars: [String: Value] = ["self": selfValue]
                if let oldValue { vars["oldSelf"] = oldValue }
                let at = r.fieldPath.isEmpty ? path : Self.append(path, r.fieldPath)
                do {
                    let limit = min(Limits.perCallLimit, budget)
                    let evaluation: Evaluation
                    do {
                        evaluation = try r.program.evaluate(vars, costLimit: limit)
                    } catch let e where e.isCancellation && limit < Limits.perCallLimit {
                        budget = 0
                        errs.append(.invalid(at, .string(Self.typeName(s)), Limits.runtimeBudgetExhausted))
                        return
                    }
                    budget -= min(budget, evaluation.cost)
                    let result = evaluation.value
                    guard case .bool(let ok) = result else {
                        errs.append(.invalid(at, .string(Self.typeName(s)), "rule did not evaluate to a bool"))
                        continue
                    }
                    if ok { continue }
                    var message = r.message.isEmpty ? "failed rule: \(r.program.source)" : r.message
                    if let me = r.messageExpression, case .string(let m)? = try? me.evaluate(vars), !m.isEmpty {
                        message = m
                    }
                    switch r.reason {
                    case "FieldValueForbidden": errs.append(.forbidden(at, message))
                    case "FieldValueRequired": errs.append(.required(at, message))
                    case "FieldValueDuplicate":
                        errs.append(FieldError(.duplicate, at, .string(Self.typeName(s)), message))
                    default: errs.append(.invalid(at, .string(Self.typeName(s)), message))
                    }
                } catch {
                    // Upstream names the rule by its message when it has one.
                    let rule = (r.message.isEmpty ? r.program.source : r.message).trimmingCharacters(in: .whitespaces)
                    let text =
                        error.isCancellation
                        ? "'\(error.message)': call cost exceeds limit for rule: \(rule)"
                        : "\(error.message) evaluating rule: \(rule)"
                    errs.append(.invalid(at, .string(Self.typeName(s)), text))
                }
            }
        }
        switch v {
        case .object(let pairs):
            for (k, child) in pairs {
                guard let cs = s.properties[k] ?? s.additionalProperties else { continue }
                walk(child, old?[k], cs, path.child(k), &errs, &budget)
            }
        case .array(let items):
            guard let itemSchema = s.items else { return }
            var oldByKey: [String: JSONValue] = [:]
            if case .array(let olds)? = old, s.listType == "map" {
                for o in olds { oldByKey[Self.itemKey(o, s.listMapKeys)] = o }
            }
            for (i, item) in items.enumerated() {
                let o = s.listType == "map" ? oldByKey[Self.itemKey(item, s.listMapKeys)] : nil
                walk(item, o, itemSchema, path.index(i), &errs, &budget)
            }
        default:
            return
        }
    }

    static func itemKey(_ v: JSONValue, _ keys: [String]) -> String {
        keys.map { String(decoding: (v[$0] ?? .null).jsonBytes, as: UTF8.self) }.joined(separator: "\u{0}")
    }

    static func typeName(_ s: CompiledSchema) -> String {
        s.type.isEmpty ? (s.intOrString ? "string" : "object") : s.type
    }

    /// `.spec.x` (or `spec.x`) appended to a path.
    static func append(_ path: FieldPath, _ fieldPath: String) -> FieldPath {
        var p = path
        for part in fieldPath.split(separator: ".") where !part.isEmpty { p = p.child(String(part)) }
        return p
    }

    /// A JSON value as CEL sees it: integers as int where the schema says integer, numbers as
    /// double, objects as maps with string keys.
    static func value(_ v: JSONValue, _ s: CompiledSchema?) -> Value {
        switch v {
        case .null: return .null
        case .bool(let b): return .bool(b)
        case .string(let str):
            if let f = s?.format, f == "date-time" || f == "duration", let v = Value.formatted(str, format: f) {
                return v
            }
            return .string(str)
        case .number(let n):
            if s?.type == "number" { return .double(Double(n) ?? 0) }
            if let i = Int64(n) { return .int(i) }
            if let d = Double(n) { return s?.type == "integer" && d.rounded() == d ? .int(Int64(d)) : .double(d) }
            return .null
        case .array(let items): return .list(items.map { value($0, s?.items) })
        case .object(let pairs):
            return .map(
                pairs.map { (.string($0.key), value($0.value, s?.properties[$0.key] ?? s?.additionalProperties)) })
        }
    }
}
