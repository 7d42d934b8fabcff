import APIMachinery
import Foundation

/// Validation of a custom resource against its version's schema, reporting what upstream's
/// apiextensions server reports (kube-openapi's checks, converted to field errors): the
/// message names the field "in body".
public enum SchemaValidation {
    /// Validates the top-level fields of a custom resource (apiVersion, kind and metadata are
    /// checked elsewhere).
    public static func validateTopLevel(_ fields: [(key: String, value: JSONValue)], _ schema: CompiledSchema)
        -> ErrorList
    {
        var errs: ErrorList = []
        validate(.object(fields), schema, FieldPath.root, &errs, topLevel: true)
        return errs
    }

    public static func validate(_ value: JSONValue, _ schema: CompiledSchema, at path: FieldPath) -> ErrorList {
        var errs: ErrorList = []
        validate(value, schema, path, &errs, topLevel: false)
        return errs
    }

    /// The JSON type name of a value, as the messages call it.
    static func typeName(_ v: JSONValue) -> String {
        switch v {
        case .null: return "null"
        case .bool: return "boolean"
        case .number(let n): return isInteger(n) ? "integer" : "number"
        case .string: return "string"
        case .array: return "array"
        case .object: return "object"
        }
    }

    static func isInteger(_ n: String) -> Bool {
        if !n.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }) { return true }
        guard let d = Double(n) else { return false }
        // Go's JSON gives float64 for these; kube-openapi accepts integral floats within ±2^53.
        return d.rounded() == d && abs(d) <= 9_007_199_254_740_992
    }

    /// A value as upstream's field errors print it.
    static func errorValue(_ v: JSONValue) -> ErrorValue {
        switch v {
        case .string(let s): return .string(s)
        case .bool(let b): return .bool(b)
        case .number(let n):
            if let i = Int64(n) { return .int(i) }
            return .json(n)
        case .null: return .json("null")
        default: return .json(String(decoding: v.jsonBytes, as: UTF8.self))
        }
    }

    static func number(_ v: JSONValue) -> Double? {
        if case .number(let n) = v { return Double(n) }
        return nil
    }

    /// `%v` of a schema bound: integral bounds print without a fraction.
    static func bound(_ d: Double) -> String {
        if d.rounded() == d && abs(d) < 1e15 { return String(Int64(d)) }
        return String(d)
    }

    static func inBody(_ path: FieldPath) -> String {
        let p = path.description
        return (p.isEmpty ? "body" : p) + " in body"
    }

    static func typeMatches(_ v: JSONValue, _ s: CompiledSchema) -> Bool {
        if s.intOrString {
            switch v {
            case .string: return true
            case .number(let n): return isInteger(n)
            default: return false
            }
        }
        switch (s.type, v) {
        case ("", _): return true
        case ("object", .object), ("array", .array), ("string", .string), ("boolean", .bool), ("number", .number):
            return true
        case ("integer", .number(let n)): return isInteger(n)
        default: return false
        }
    }

    static func validate(
        _ v: JSONValue, _ s: CompiledSchema, _ path: FieldPath, _ errs: inout ErrorList, topLevel: Bool
    ) {
        if case .null = v {
            if s.nullable || (s.type.isEmpty && !s.intOrString) { return }
            errs.append(
                .typeInvalid(
                    path, .string("null"),
                    "\(inBody(path)) must be of type \(s.intOrString ? "integer,string" : s.type): \"null\""))
            return
        }
        if !typeMatches(v, s) {
            let want = s.intOrString ? "integer,string" : s.type
            errs.append(
                .typeInvalid(path, .string(typeName(v)), "\(inBody(path)) must be of type \(want): \"\(typeName(v))\""))
            return
        }
        if !s.enumValues.isEmpty && !s.enumValues.contains(v) {
            let supported = s.enumValues.map { e -> String in
                if case .string(let x) = e { return x }
                return String(decoding: e.jsonBytes, as: UTF8.self)
            }
            errs.append(.notSupportedRaw(path, errorValue(v), supported))
        }
        switch v {
        case .number:
            validateNumber(v, s, path, &errs)
        case .string(let str):
            validateString(str, s, path, &errs)
        case .array(let items):
            validateArray(items, s, path, &errs)
        case .object(let pairs):
            validateObject(pairs, s, path, &errs, topLevel: topLevel)
            if s.embeddedResource { validateEmbedded(pairs, path, &errs) }
        default:
            break
        }
        // Junctor failures are not field errors upstream: they carry no field path (`<nil>`) and
        // name the value's path quoted; the errors of the branches are reported too.
        let name = GoQuote.quote(path.description)
        if !s.allOf.isEmpty {
            var branchErrs: ErrorList = []
            var passed = 0
            for sub in s.allOf {
                let before = branchErrs.count
                validate(v, sub, path, &branchErrs, topLevel: topLevel)
                if branchErrs.count == before { passed += 1 }
            }
            if !branchErrs.isEmpty {
                errs.append(
                    .invalid(
                        junctorPath, "",
                        "\(name) must validate all the schemas (allOf)\(passed == 0 ? ". None validated" : "")"))
                errs += branchErrs
            }
        }
        if !s.anyOf.isEmpty {
            let results = s.anyOf.map { branchErrors(v, $0, path, topLevel) }
            if !results.contains(where: \.isEmpty) {
                errs.append(.invalid(junctorPath, "", "\(name) must validate at least one schema (anyOf)"))
                if let best = results.min(by: { $0.count < $1.count }) { errs += best }
            }
        }
        if !s.oneOf.isEmpty {
            let results = s.oneOf.map { branchErrors(v, $0, path, topLevel) }
            let valid = results.filter(\.isEmpty).count
            if valid != 1 {
                let found = valid == 0 ? "Found none valid" : "Found \(valid) valid alternatives"
                errs.append(
                    .invalid(junctorPath, "", "\(name) must validate one and only one schema (oneOf). \(found)"))
                if valid == 0, let best = results.min(by: { $0.count < $1.count }) { errs += best }
            }
        }
        if let not = s.not, passes(v, not, path, topLevel) {
            errs.append(.invalid(junctorPath, "", "\(name) must not validate the schema (not)"))
        }
    }

    /// An embedded resource (`x-kubernetes-embedded-resource`) names its apiVersion and kind, and
    /// its metadata is valid object metadata (namespace optional).
    static func validateEmbedded(_ pairs: [(key: String, value: JSONValue)], _ path: FieldPath, _ errs: inout ErrorList)
    {
        func value(_ k: String) -> JSONValue? { pairs.first { $0.key == k }?.value }
        for key in ["apiVersion", "kind"] {
            switch value(key) {
            case nil: errs.append(.required(path.child(key), "must not be empty"))
            case .string(let s)?:
                if s.isEmpty { errs.append(.invalid(path.child(key), .string(s), "must not be empty")) }
                if key == "apiVersion", s.split(separator: "/", omittingEmptySubsequences: false).count > 2 {
                    errs.append(.invalid(path.child(key), .string(s), "unexpected GroupVersion string: \(s)"))
                }
            case let v?: errs.append(.invalid(path.child(key), errorValue(v), "must be a string"))
            }
        }
        guard case .object? = value("metadata"), let meta = value("metadata"),
            let decoded = try? JSONReader.decode(MetaV1.ObjectMeta.self, from: meta.jsonBytes)
        else { return }
        var m = decoded
        // The name may be left for a controller to fill in (a pod template's).
        if m.name.isEmpty && m.generateName.isEmpty { m.name = "x" }
        for e in MetaValidation.validateObjectMeta(
            m, namespaced: true, nameRule: .dns1123Subdomain, path: path.child("metadata"))
        where !(e.field.description.hasSuffix("metadata.namespace") && e.kind == .required) {
            errs.append(e)
        }
    }

    /// Upstream reports junctor failures against a nil field path, printed `<nil>`.
    static let junctorPath = FieldPath("<nil>")

    static func branchErrors(_ v: JSONValue, _ s: CompiledSchema, _ path: FieldPath, _ topLevel: Bool) -> ErrorList {
        var e: ErrorList = []
        validate(v, s, path, &e, topLevel: topLevel)
        return e
    }

    static func passes(_ v: JSONValue, _ s: CompiledSchema, _ path: FieldPath, _ topLevel: Bool) -> Bool {
        var e: ErrorList = []
        validate(v, s, path, &e, topLevel: topLevel)
        return e.isEmpty
    }

    static func validateNumber(_ v: JSONValue, _ s: CompiledSchema, _ path: FieldPath, _ errs: inout ErrorList) {
        guard let d = number(v) else { return }
        if let max = s.maximum {
            if s.exclusiveMaximum ? d >= max : d > max {
                let rel = s.exclusiveMaximum ? "less than" : "less than or equal to"
                errs.append(.invalid(path, errorValue(v), "\(inBody(path)) should be \(rel) \(bound(max))"))
            }
        }
        if let min = s.minimum {
            if s.exclusiveMinimum ? d <= min : d < min {
                let rel = s.exclusiveMinimum ? "greater than" : "greater than or equal to"
                errs.append(.invalid(path, errorValue(v), "\(inBody(path)) should be \(rel) \(bound(min))"))
            }
        }
        if let m = s.multipleOf, m > 0 {
            let q = d / m
            if q.rounded() != q {
                errs.append(.invalid(path, errorValue(v), "\(inBody(path)) should be a multiple of \(bound(m))"))
            }
        }
    }

    static func validateString(_ str: String, _ s: CompiledSchema, _ path: FieldPath, _ errs: inout ErrorList) {
        if s.maxLength != nil || s.minLength != nil {
            let n = Int64(str.unicodeScalars.count)
            if let max = s.maxLength, n > max { errs.append(.tooLong(path, Int(max))) }
            if let min = s.minLength, n < min {
                errs.append(
                    .invalid(path, .string(str), "\(inBody(path)) should be at least \(min) chars long"))
            }
        }
        if !s.pattern.isEmpty && !s.matchesPattern(str) {
            errs.append(.invalid(path, .string(str), "\(inBody(path)) should match '\(s.pattern)'"))
        }
        if !s.format.isEmpty, let ok = SchemaFormats.check(s.format, str), !ok {
            errs.append(
                .typeInvalid(path, .string(str), "\(inBody(path)) must be of type \(s.format): \(GoQuote.quote(str))"))
        }
    }

    static func validateArray(_ items: [JSONValue], _ s: CompiledSchema, _ path: FieldPath, _ errs: inout ErrorList) {
        if let max = s.maxItems, items.count > max { errs.append(.tooMany(path, items.count, Int(max))) }
        if let min = s.minItems, items.count < min {
            errs.append(.invalid(path, .int(Int64(items.count)), "\(inBody(path)) should have at least \(min) items"))
        }
        if s.uniqueItems && Set(items).count != items.count {
            errs.append(.invalid(path, errorValue(.array(items)), "\(inBody(path)) shouldn't contain duplicates"))
        }
        if let itemSchema = s.items {
            for (i, item) in items.enumerated() { validate(item, itemSchema, path.index(i), &errs, topLevel: false) }
        }
        switch s.listType {
        case "set":
            var seen: [JSONValue] = []
            for (i, item) in items.enumerated() {
                if seen.contains(item) {
                    errs.append(.duplicate(path.index(i), errorValue(item)))
                } else {
                    seen.append(item)
                }
            }
        case "map":
            var seen: [[JSONValue?]] = []
            for (i, item) in items.enumerated() {
                let key = s.listMapKeys.map { item[$0] ?? s.items?.properties[$0]?.defaultValue }
                if seen.contains(where: { $0 == key }) {
                    let shown = s.listMapKeys.enumerated().map { j, k -> String in
                        "\"\(k)\":" + String(decoding: (key[j] ?? .null).jsonBytes, as: UTF8.self)
                    }
                    errs.append(.duplicate(path.index(i), .json("map[" + shown.joined(separator: " ") + "]")))
                } else {
                    seen.append(key)
                }
            }
        default:
            break
        }
    }

    static func validateObject(
        _ pairs: [(key: String, value: JSONValue)], _ s: CompiledSchema, _ path: FieldPath, _ errs: inout ErrorList,
        topLevel: Bool
    ) {
        let count = pairs.count + (topLevel ? 3 : 0)
        if let max = s.maxProperties, count > max { errs.append(.tooMany(path, count, Int(max))) }
        if let min = s.minProperties, count < min {
            errs.append(.invalid(path, .int(Int64(count)), "\(inBody(path)) should have at least \(min) properties"))
        }
        for r in s.required where !pairs.contains(where: { $0.key == r }) {
            if topLevel && SchemaPruning.typeMetaKeys.contains(r) { continue }
            errs.append(.required(path.child(r)))
        }
        for (k, v) in pairs {
            if let ps = s.properties[k] {
                validate(v, ps, path.child(k), &errs, topLevel: false)
            } else if let ap = s.additionalProperties {
                validate(v, ap, path.child(k), &errs, topLevel: false)
            }
        }
    }
}

/// The string formats Kubernetes validates in custom resources; others are accepted as given.
public enum SchemaFormats {
    /// Whether `s` is valid for `format`; nil when the format is not checked.
    public static func check(_ format: String, _ s: String) -> Bool? {
        switch format.replacingOccurrences(of: "-", with: "") {
        case "byte": return Data(base64Encoded: s) != nil
        case "date": return s.range(of: #"^\d{4}-\d{2}-\d{2}$"#, options: .regularExpression) != nil
        case "datetime":
            return Time(rfc3339: s) != nil
                || s.range(
                    of: #"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"#,
                    options: .regularExpression) != nil
        case "uuid", "uuid3", "uuid4", "uuid5":
            return s.range(
                of: #"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$"#,
                options: .regularExpression) != nil
        case "ipv4": return IPAddressBytes(s)?.count == 4
        case "ipv6": return IPAddressBytes(s)?.count == 16
        case "cidr":
            let parts = s.split(separator: "/")
            guard parts.count == 2, let b = IPAddressBytes(String(parts[0])), let bits = Int(parts[1]) else {
                return false
            }
            return bits >= 0 && bits <= b.count * 8
        case "hostname":
            return !s.isEmpty && NameValidation.isDNS1123Subdomain(s.lowercased()).isEmpty
        case "email": return s.range(of: #"^[^@\s]+@[^@\s]+$"#, options: .regularExpression) != nil
        case "duration": return GoDuration.parse(s) != nil
        case "mac":
            return s.range(of: #"^([0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}$"#, options: .regularExpression) != nil
        case "hexcolor": return s.range(of: #"^#([0-9A-Fa-f]{3}|[0-9A-Fa-f]{6})$"#, options: .regularExpression) != nil
        case "uri": return URL(string: s)?.scheme != nil
        case "bsonobjectid": return s.range(of: #"^[0-9a-fA-F]{24}$"#, options: .regularExpression) != nil
        default: return nil
        }
    }
}
