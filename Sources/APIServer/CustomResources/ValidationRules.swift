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
        for (i, r) in s.xKubernetesValidations.enumerated() {
            let p = path.child("x-kubernetes-validations").index(i)
            do { _ = try Program(r.rule) } catch {
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

    /// The errors of every rule on the object's top-level fields (and below).
    func validate(_ fields: [(key: String, value: JSONValue)], old: [(key: String, value: JSONValue)]?) -> ErrorList {
        var errs: ErrorList = []
        walk(.object(fields), old.map { .object($0) }, root, FieldPath.root, &errs)
        return errs
    }

    private func walk(
        _ v: JSONValue, _ old: JSONValue?, _ s: CompiledSchema, _ path: FieldPath, _ errs: inout ErrorList
    ) {
        if let rs = rules[ObjectIdentifier(s)] {
            let selfValue = Self.value(v, s)
            let oldValue = old.map { Self.value($0, s) }
            for r in rs {
                if r.transition && oldValue == nil { continue }
                var vars: [String: Value] = ["self": selfValue]
                if let oldValue { vars["oldSelf"] = oldValue }
                let at = r.fieldPath.isEmpty ? path : Self.append(path, r.fieldPath)
                do {
                    let result = try r.program.evaluate(vars)
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
                    errs.append(
                        .invalid(at, .string(Self.typeName(s)), "\(error.message) evaluating rule: \(r.program.source)")
                    )
                }
            }
        }
        switch v {
        case .object(let pairs):
            for (k, child) in pairs {
                guard let cs = s.properties[k] ?? s.additionalProperties else { continue }
                walk(child, old?[k], cs, path.child(k), &errs)
            }
        case .array(let items):
            guard let itemSchema = s.items else { return }
            var oldByKey: [String: JSONValue] = [:]
            if case .array(let olds)? = old, s.listType == "map" {
                for o in olds { oldByKey[Self.itemKey(o, s.listMapKeys)] = o }
            }
            for (i, item) in items.enumerated() {
                let o = s.listType == "map" ? oldByKey[Self.itemKey(item, s.listMapKeys)] : nil
                walk(item, o, itemSchema, path.index(i), &errs)
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
        case .string(let str): return .string(str)
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
