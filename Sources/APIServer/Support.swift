import APIMachinery
import Foundation
import KubernetesAPI

/// List filters from query strings, with upstream's 400 messages.
enum Selectors {
    static func parseLabelSelector(_ s: String) throws -> @Sendable ([String: String]) -> Bool {
        do {
            let sel = try LabelSelector(parsing: s)
            return { sel.matches($0) }
        } catch {
            throw APIError.badRequest(error.message)
        }
    }

    /// The matcher, the field names used, and the name an exact `metadata.name=` requires.
    static func parseFieldSelector(_ s: String) throws -> (@Sendable ([String: String]) -> Bool, [String], String?) {
        do {
            let sel = try FieldSelector(parsing: s)
            return ({ sel.matches($0) }, sel.fieldNames, sel.requiresExactMatch("metadata.name"))
        } catch {
            throw APIError.badRequest(error.message)
        }
    }

    /// A `metav1.LabelSelector` JSON value as selector text (for Scale status).
    static func labelSelectorString(_ v: JSONValue) -> String {
        var parts: [String] = []
        if case .object(let ml)? = v["matchLabels"] {
            for (k, val) in ml.sorted(by: { $0.key < $1.key }) { parts.append("\(k)=\(val.stringValue ?? "")") }
        }
        if case .array(let exprs)? = v["matchExpressions"] {
            for e in exprs {
                let key = e["key"]?.stringValue ?? ""
                let values: [String] = {
                    if case .array(let vs)? = e["values"] { return vs.compactMap(\.stringValue).sorted() }
                    return []
                }()
                switch e["operator"]?.stringValue ?? "" {
                case "In": parts.append("\(key) in (\(values.joined(separator: ",")))")
                case "NotIn": parts.append("\(key) notin (\(values.joined(separator: ",")))")
                case "Exists": parts.append(key)
                case "DoesNotExist": parts.append("!\(key)")
                default: break
                }
            }
        }
        return parts.joined(separator: ",")
    }
}

enum Names {
    static let alphabet = Array("bcdfghjklmnpqrstvwxz2456789")

    /// Upstream's generateName suffix: five characters from a vowel-free alphabet.
    static func randomSuffix() -> String {
        String((0..<5).map { _ in alphabet.randomElement()! })
    }
}

/// Upstream's continue token: base64 of `{"v":"meta.k8s.io/v1","rv":N,"start":"<key after prefix>\u0000"}`.
struct ContinueToken {
    var revision: Int64
    /// The key (without the resource prefix) the next page starts after.
    var start: String

    func encoded(prefix: String) -> String {
        var w = JSONWriter()
        w.beginObject()
        w.key("v")
        w.string("meta.k8s.io/v1")
        w.key("rv")
        w.int(revision)
        w.key("start")
        w.string("/" + start + "\u{0}")
        w.endObject()
        return Data(w.bytes).base64EncodedString()
    }

    static func decode(_ token: String) -> ContinueToken? {
        var t = token
        while t.count % 4 != 0 { t += "=" }
        guard let data = Data(base64Encoded: t), let v = try? JSONValue.parse([UInt8](data)),
            v["v"]?.stringValue == "meta.k8s.io/v1", case .number(let rv)? = v["rv"], let rev = Int64(rv),
            var start = v["start"]?.stringValue
        else { return nil }
        if start.hasSuffix("\u{0}") { start.removeLast() }
        if start.hasPrefix("/") { start.removeFirst() }
        return ContinueToken(revision: rev, start: start)
    }
}

/// Generic edits of objects through their JSON form, for parts the generic store does not know
/// by type (status, spec).
enum JSONSurgery {
    static func value<T: StoredKind>(_ obj: T, key: String, codec: VersionCodec<T>) throws -> JSONValue? {
        try JSONValue.parse(codec.itemJSON(obj))[key]
    }

    static func replacing<T: StoredKind>(_ obj: T, key: String, with v: JSONValue?, codec: VersionCodec<T>) throws -> T
    {
        guard case .object(var pairs) = try JSONValue.parse(codec.itemJSON(obj)) else { return obj }
        if let i = pairs.firstIndex(where: { $0.key == key }) {
            if let v { pairs[i].value = v } else { pairs.remove(at: i) }
        } else if let v {
            pairs.append((key, v))
        } else {
            return obj
        }
        var out = try codec.fromJSONValue(JSONValue.object(pairs).jsonBytes, false).object
        out.metadata.resourceVersion = obj.metadata.resourceVersion
        return out
    }

    static func sameExceptMetadataAndStatus<T: StoredKind>(
        _ a: T, _ b: T, codec: VersionCodec<T>, keepingStatus: Bool = false
    ) throws -> Bool {
        func strip(_ v: JSONValue) -> JSONValue {
            guard case .object(let pairs) = v else { return v }
            return .object(pairs.filter { $0.key != "metadata" && ($0.key != "status" || keepingStatus) })
        }
        return strip(try JSONValue.parse(codec.itemJSON(a))) == strip(try JSONValue.parse(codec.itemJSON(b)))
    }

    static func setting(_ v: JSONValue, path: [String], to newValue: JSONValue) -> JSONValue {
        guard let first = path.first else { return newValue }
        var pairs: [(key: String, value: JSONValue)] = []
        if case .object(let p) = v { pairs = p }
        if let i = pairs.firstIndex(where: { $0.key == first }) {
            pairs[i].value = setting(pairs[i].value, path: Array(path.dropFirst()), to: newValue)
        } else {
            pairs.append((first, setting(.null, path: Array(path.dropFirst()), to: newValue)))
        }
        return .object(pairs)
    }
}

enum PatchKind { case json, merge, strategic }

enum Patching {
    /// Applies a patch to an object's JSON; errors are APIErrors with upstream's codes.
    static func apply(_ kind: PatchKind, patch: [UInt8], to original: [UInt8], schema: PatchSchema?) throws -> [UInt8] {
        let doc = try JSONValue.parse(original)
        let p: JSONValue
        do {
            p = try JSONValue.parse(patch)
        } catch {
            throw APIError.badRequest("error decoding patch: \(error)")
        }
        do {
            switch kind {
            case .json:
                let jp = try JSONPatch(p)
                if jp.count > 10000 {
                    throw PatchError(
                        .badRequest, "The allowed maximum operations in a JSON patch is 10000, got \(jp.count)")
                }
                return try jp.apply(to: doc).jsonBytes
            case .merge:
                return try JSONMergePatch.apply(patch: p, to: doc).jsonBytes
            case .strategic:
                return try StrategicMergePatch.apply(patch: p, to: doc, schema: schema).jsonBytes
            }
        } catch let e as PatchError {
            throw APIError(
                code: e.code, reason: e.reason, message: e.statusMessage,
                details: e.code == 422 ? MetaV1.StatusDetails() : nil)
        }
    }

    /// Whether a patch sets `metadata.resourceVersion` (then the update is conditional).
    static func mentionsResourceVersion(_ patch: [UInt8]) -> Bool {
        guard let v = try? JSONValue.parse(patch) else { return false }
        if case .array(let ops) = v {
            return ops.contains { $0["path"]?.stringValue == "/metadata/resourceVersion" }
        }
        return v["metadata"]?["resourceVersion"] != nil
    }
}

extension FeatureGates {
    /// Drops gated fields of any value that has them.
    func dropDisabledFieldsAny<T>(_ obj: inout T, old: T?) {
        guard var g = obj as? any FeatureGatedFields else { return }
        Self.open(&g, old: old, gates: self)
        obj = g as! T
    }

    static func open<G: FeatureGatedFields>(_ g: inout G, old: Any?, gates: FeatureGates) {
        gates.dropDisabledFields(&g, old: old as? G)
    }
}

/// Builds strategic-merge-patch schemas from the generated patch facts.
final class PatchSchemas: @unchecked Sendable {
    struct Field {
        var name: String
        var element: String
        var container: Character
        var strategy: String
        var mergeKey: String
        var listType = ""
        var listKeys: [String] = []
        var mapType = ""
        var keyDefaults: [String: JSONValue] = [:]
    }

    private var types: [String: [Field]] = [:]
    /// Types the spec marks `x-kubernetes-map-type: atomic` (replaced whole by apply).
    private var atomicStructs: Set<String> = []
    private var applyBuilt: [String: ApplySchema] = [:]
    private var applyInProgress: Set<String> = []
    private var roots: [String: String] = [:]
    private var built: [String: PatchSchema] = [:]
    private var inProgress: Set<String> = []
    private let lock = NSLock()

    init(facts: String) {
        for line in facts.split(separator: "\n") {
            if line.hasPrefix("@") {
                let kv = line.dropFirst().split(separator: "=", maxSplits: 1)
                if kv.count == 2 { roots[String(kv[0])] = String(kv[1]) }
                continue
            }
            let cols = line.split(separator: "|", omittingEmptySubsequences: false)
            guard var name = cols.first.map(String.init) else { continue }
            if name.hasPrefix("^") {
                name.removeFirst()
                atomicStructs.insert(name)
            }
            types[name] = cols.dropFirst().map { c in
                let p = c.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
                return Field(
                    name: p[0], element: p.count > 1 ? p[1] : "", container: p.count > 2 ? (p[2].first ?? "s") : "s",
                    strategy: p.count > 3 ? p[3].replacingOccurrences(of: "+", with: ",") : "",
                    mergeKey: p.count > 4 ? p[4] : "", listType: p.count > 5 ? p[5] : "",
                    listKeys: p.count > 6 && !p[6].isEmpty ? p[6].split(separator: "+").map(String.init) : [],
                    mapType: p.count > 7 ? p[7] : "", keyDefaults: Self.keyDefaults(p.count > 8 ? p[8] : ""))
            }
        }
    }

    /// `protocol="TCP"+port=80` → the defaults by key.
    static func keyDefaults(_ text: String) -> [String: JSONValue] {
        var out: [String: JSONValue] = [:]
        for pair in text.split(separator: "+") {
            let kv = pair.split(separator: "=", maxSplits: 1)
            guard kv.count == 2, let v = try? JSONValue.parse(Array(kv[1].utf8)) else { continue }
            out[String(kv[0])] = v
        }
        return out
    }

    /// The server-side apply schema of a kind, from the spec's list and map types (lists without
    /// one follow their patch strategy: merge with a key is a keyed list, merge without one a set).
    func applySchema(for gvk: GroupVersionKind) -> ApplySchema? {
        lock.lock()
        defer { lock.unlock() }
        guard let root = roots["\(gvk.group)/\(gvk.version)/\(gvk.kind)"] else { return nil }
        return applyType(root)
    }

    /// Types that are values, not structs, on the wire (quantities, times, int-or-string), and
    /// free-form ones.
    static func wellKnown(_ type: String) -> ApplySchema? {
        if type.hasSuffix(".Quantity") || type.hasSuffix(".Time") || type.hasSuffix(".MicroTime")
            || type.hasSuffix(".IntOrString") || type.hasSuffix(".Duration")
        {
            return .scalar
        }
        if type.hasSuffix(".RawExtension") || type.hasSuffix(".FieldsV1") || type.hasSuffix(".JSON")
            || type.contains("JSONSchemaProps")
        {
            return .untyped
        }
        return nil
    }

    private func applyType(_ type: String) -> ApplySchema {
        if let known = Self.wellKnown(type) { return known }
        if let b = applyBuilt[type] { return b }
        guard types[type] != nil, !applyInProgress.contains(type) else { return .untyped }
        applyInProgress.insert(type)
        defer { applyInProgress.remove(type) }
        var fields: [String: ApplySchema] = [:]
        func add(_ fs: [Field]) {
            for f in fs {
                if f.name.isEmpty {
                    add(types[f.element] ?? [])
                    continue
                }
                let inner = f.element.isEmpty ? ApplySchema.scalar : applyType(f.element)
                switch f.container {
                case "a":
                    if f.element.isEmpty && f.listType.isEmpty && !f.strategy.contains("merge") {
                        // A list of scalars without a list type ([]byte-like or atomic).
                        fields[f.name] = ApplySchema(shape: .list, atomic: true, element: inner)
                        continue
                    }
                    var keys = f.listKeys
                    var atomic = false
                    switch f.listType {
                    case "atomic": atomic = true
                    case "set": keys = []
                    case "map": break
                    default:
                        if f.strategy.contains("merge") {
                            keys = f.mergeKey.isEmpty ? [] : [f.mergeKey]
                        } else {
                            atomic = true
                        }
                    }
                    fields[f.name] = ApplySchema(
                        shape: .list, atomic: atomic, keys: keys, element: inner, keyDefaults: f.keyDefaults)
                case "m":
                    fields[f.name] = ApplySchema(shape: .object, atomic: f.mapType == "atomic", element: inner)
                default:
                    if f.mapType == "atomic" && inner.shape == .object {
                        fields[f.name] = ApplySchema(shape: .object, atomic: true, fields: inner.fields)
                    } else {
                        fields[f.name] = inner
                    }
                }
            }
        }
        add(types[type] ?? [])
        let s = ApplySchema(shape: .object, atomic: atomicStructs.contains(type), fields: fields)
        applyBuilt[type] = s
        return s
    }

    func schema(for gvk: GroupVersionKind) -> PatchSchema? {
        lock.lock()
        defer { lock.unlock() }
        guard let root = roots["\(gvk.group)/\(gvk.version)/\(gvk.kind)"] else { return nil }
        return build(root, strategy: "", mergeKey: "", depth: 0)
    }

    private func properties(_ type: String, depth: Int) -> [String: PatchSchema] {
        var props: [String: PatchSchema] = [:]
        for f in types[type] ?? [] {
            if f.name.isEmpty {
                // An inline struct: its fields are this object's fields.
                for (k, v) in properties(f.element, depth: depth + 1) { props[k] = v }
                continue
            }
            let inner = f.element.isEmpty ? nil : build(f.element, strategy: "", mergeKey: "", depth: depth + 1)
            switch f.container {
            case "a":
                props[f.name] = PatchSchema(
                    name: f.name, patchStrategy: f.strategy, patchMergeKey: f.mergeKey,
                    items: inner ?? PatchSchema(name: f.name))
            case "m":
                props[f.name] = PatchSchema(
                    name: f.name, patchStrategy: f.strategy, patchMergeKey: f.mergeKey,
                    additionalProperties: inner ?? PatchSchema(name: f.name))
            default:
                if let inner {
                    props[f.name] = PatchSchema(
                        name: inner.name, patchStrategy: f.strategy, patchMergeKey: f.mergeKey,
                        properties: inner.properties, items: inner.items,
                        additionalProperties: inner.additionalProperties)
                } else {
                    props[f.name] = PatchSchema(name: f.name, patchStrategy: f.strategy, patchMergeKey: f.mergeKey)
                }
            }
        }
        return props
    }

    private func build(_ type: String, strategy: String, mergeKey: String, depth: Int) -> PatchSchema? {
        if let b = built[type] { return b }
        // Recursive types (JSON schema props) are cut where they recur: merge-patch semantics below.
        guard types[type] != nil, depth < 40, !inProgress.contains(type) else { return nil }
        inProgress.insert(type)
        defer { inProgress.remove(type) }
        let s = PatchSchema(
            name: String(type.split(separator: ".").last ?? ""), properties: properties(type, depth: depth))
        built[type] = s
        return s
    }
}
