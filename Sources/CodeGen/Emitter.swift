import Foundation

/// Writes Swift source for type models. Output is deterministic: same inputs, same bytes.
struct Emitter {
    var models: [TypeModel]
    var byProto: [String: TypeModel] = [:]
    /// Module → modules it references.
    var moduleDeps: [String: Set<String>] = [:]

    /// Feature-gated fields per type (protobuf name) and the types that reach any.
    var gatedFields: [String: [(String, FieldModel)]] = [:]
    var needsGates: Set<String> = []
    /// Types with a hand-written `setDefaults()` hook (qualified names).
    var hooks: Set<String> = []
    /// Types whose defaulting walk does something (hook, declared default, or a child that does).
    var needsDefaults: Set<String> = []

    init(models: [TypeModel], hooks: Set<String> = []) {
        self.models = models
        self.hooks = hooks
        for m in models { byProto[m.protoName] = m }
        // Fixpoint: a type needs defaulting when it or any field's type does.
        var changed = true
        while changed {
            changed = false
            for m in models where !needsDefaults.contains(m.protoName) {
                var needs =
                    hooks.contains(m.qualifiedName)
                    || m.fields.contains { $0.declaredDefault != nil || Emitter.isResourceList($0) }
                if !needs {
                    needs = m.fields.contains { f in
                        if case .message(let t) = f.element { return needsDefaults.contains(t) }
                        return false
                    }
                }
                if needs {
                    needsDefaults.insert(m.protoName)
                    changed = true
                }
            }
        }
    }

    /// Upstream rounds every `ResourceList` up to milli precision when defaulting.
    static func isResourceList(_ f: FieldModel) -> Bool {
        f.container == .map && (f.goType?.hasSuffix("ResourceList") ?? false)
    }

    /// The defaulting walk: declared defaults, then the hand-written hook, then every field whose
    /// type has defaults — parent before children, as upstream's generated defaulters do.
    func emitDefaults(_ t: TypeModel) -> String? {
        guard needsDefaults.contains(t.protoName) else { return nil }
        var o = "extension \(t.qualifiedName) {\n"
        o += "    /// Applies upstream's defaults to this value and everything in it.\n"
        o += "    public mutating func applyDefaults() {\n"
        for f in t.fields {
            guard let d = f.declaredDefault else { continue }
            let v = "self." + f.swiftName
            if f.pointer {
                o += "        if \(v) == nil { \(v) = \(d) }\n"
            } else if f.element == .string {
                o += "        if \(v).isEmpty { \(v) = \(d) }\n"
            } else {
                o += "        if \(v) == 0 { \(v) = \(d) }\n"
            }
        }
        for f in t.fields where Emitter.isResourceList(f) {
            o += "        Quantity.roundUpToMilli(&self.\(f.swiftName))\n"
        }
        if hooks.contains(t.qualifiedName) { o += "        self.setDefaults()\n" }
        for f in t.fields {
            guard case .message(let m) = f.element, needsDefaults.contains(m) else { continue }
            let v = "self." + f.swiftName
            switch f.container {
            case .array: o += "        for i in \(v).indices { \(v)[i].applyDefaults() }\n"
            case .map: o += "        for k in Array(\(v).keys) { \(v)[k]!.applyDefaults() }\n"
            case .single:
                if f.pointer || isNullable(f) || f.indirect {
                    o += "        if var v = \(v) {\n            v.applyDefaults()\n            \(v) = v\n        }\n"
                } else {
                    o += "        \(v).applyDefaults()\n"
                }
            }
        }
        o += "    }\n}\n"
        return o
    }

    // MARK: type names

    func swiftName(ofMessage full: String) -> String {
        if let s = specialTypes[full] { return s.swift }
        guard let m = byProto[full] else { fatalError("unknown message \(full)") }
        return m.qualifiedName
    }

    func module(ofMessage full: String) -> String {
        if full.hasPrefix("k8s.io.apiextensions_apiserver") { return "APIExtensions" }
        if specialTypes[full] != nil { return "APIMachinery" }
        return byProto[full]!.package.module
    }

    func isNullable(_ f: FieldModel) -> Bool {
        if case .message(let m) = f.element, let s = specialTypes[m] { return s.nullable }
        return false
    }

    func elementType(_ e: Element) -> String {
        switch e {
        case .string: return "String"
        case .int32: return "Int32"
        case .int64: return "Int64"
        case .bool: return "Bool"
        case .double: return "Double"
        case .bytes: return "[UInt8]"
        case .message(let m): return swiftName(ofMessage: m)
        }
    }

    /// The Swift type of a field's public property.
    func propertyType(_ f: FieldModel) -> String {
        let base = elementType(f.element)
        switch f.container {
        case .array: return "[\(base)]"
        case .map: return "[String: \(base)]"
        case .single:
            if f.element == .bytes { return base }
            if isNullable(f) || f.pointer { return base + "?" }
            return base
        }
    }

    func defaultValue(_ f: FieldModel) -> String {
        switch f.container {
        case .array: return "[]"
        case .map: return "[:]"
        case .single:
            if f.element == .bytes { return "[]" }
            if isNullable(f) || f.pointer { return "nil" }
            switch f.element {
            case .string: return "\"\""
            case .int32, .int64, .double: return "0"
            case .bool: return "false"
            case .bytes: return "[]"
            case .message(let m): return swiftName(ofMessage: m) + "()"
            }
        }
    }

    func wireType(_ e: Element) -> Int {
        switch e {
        case .int32, .int64, .bool: return 0
        case .double: return 1
        default: return 2
        }
    }

    // MARK: files

    /// The source of one type's file.
    mutating func emit(_ t: TypeModel) -> String {
        var deps = moduleDeps[t.package.module, default: []]
        for f in t.fields {
            if case .message(let m) = f.element {
                let mod = module(ofMessage: m)
                if mod != t.package.module { deps.insert(mod) }
            }
        }
        moduleDeps[t.package.module] = deps

        var o = ""
        o += "// Code generated by k8swift-codegen. DO NOT EDIT.\n"
        o += "// Source: \(t.protoName) (protobuf-fields.json)"
        if let oa = t.openAPIName { o += ", \(oa) (OpenAPI v3)" }
        o += "\n\n"
        var imports: Set<String> = []
        if t.package.module != "APIMachinery" { imports.insert("APIMachinery") }
        for f in t.fields {
            if case .message(let m) = f.element {
                let mod = module(ofMessage: m)
                if mod != t.package.module { imports.insert(mod) }
            }
        }
        for i in imports.sorted() { o += "import \(i)\n" }
        if !imports.isEmpty { o += "\n" }
        if t.isSliceMessage {
            o += emitSliceMessage(t)
            return o
        }
        o += emitStruct(t)
        o += "\n"
        o += emitJSON(t)
        o += "\n"
        o += emitProto(t)
        if let d = emitDefaults(t) {
            o += "\n" + d
        }
        if let g = emitGated(t) {
            o += "\n" + g
        }
        if let k = kindConformance(t) {
            o += "\n" + k
        }
        return o
    }

    func emitStruct(_ t: TypeModel, hubNamespace: String? = nil, versionNamespace: String? = nil) -> String {
        let text = emitStructBody(t)
        if let h = hubNamespace, let v = versionNamespace {
            return text.replacingOccurrences(of: v + ".", with: h + ".")
        }
        return text
    }

    func emitStructBody(_ t: TypeModel) -> String {
        var o = "extension \(t.package.namespace) {\n"
        o += "    public struct \(t.name): Equatable, Sendable {\n"
        if t.hasTypeMeta {
            o += "        public var kind: String\n"
            o += "        public var apiVersion: String\n"
        }
        for f in t.fields {
            let name = quotedIdentifier(f.swiftName)
            if f.indirect {
                let base = elementType(f.element)
                let typ = propertyType(f)
                if typ.hasSuffix("?") {
                    o += "        public var \(name): \(typ) {\n"
                    o += "            get { _\(f.swiftName).first }\n"
                    o += "            set { _\(f.swiftName) = newValue.map { [$0] } ?? [] }\n"
                    o += "        }\n"
                } else {
                    o += "        public var \(name): \(typ) {\n"
                    o += "            get { _\(f.swiftName).first ?? \(base)() }\n"
                    o += "            set { _\(f.swiftName) = [newValue] }\n"
                    o += "        }\n"
                }
                o += "        @usableFromInline var _\(f.swiftName): [\(base)]\n"
            } else {
                o += "        public var \(name): \(propertyType(f))\n"
            }
        }
        o += "\n"
        // Zero value.
        if t.fields.isEmpty && !t.hasTypeMeta {
            o += "        public init() {}\n"
        } else {
            o += "        public init() {\n"
            if t.hasTypeMeta {
                o += "            self.kind = \"\"\n"
                o += "            self.apiVersion = \"\"\n"
            }
            for f in t.fields {
                if f.indirect {
                    o += "            self._\(f.swiftName) = []\n"
                } else {
                    o += "            self.\(f.swiftName) = \(defaultValue(f))\n"
                }
            }
            o += "        }\n\n"
            // Memberwise.
            var params: [String] = []
            if t.hasTypeMeta {
                params.append("kind: String = \"\"")
                params.append("apiVersion: String = \"\"")
            }
            for f in t.fields {
                params.append("\(quotedIdentifier(f.swiftName)): \(propertyType(f)) = \(defaultValue(f))")
            }
            o += "        public init(\n            " + params.joined(separator: ",\n            ") + "\n        ) {\n"
            if t.hasTypeMeta {
                o += "            self.kind = kind\n"
                o += "            self.apiVersion = apiVersion\n"
            }
            for f in t.fields {
                if f.indirect {
                    let typ = propertyType(f)
                    if typ.hasSuffix("?") {
                        o += "            self._\(f.swiftName) = \(quotedIdentifier(f.swiftName)).map { [$0] } ?? []\n"
                    } else {
                        o += "            self._\(f.swiftName) = [\(quotedIdentifier(f.swiftName))]\n"
                    }
                } else {
                    o += "            self.\(f.swiftName) = \(quotedIdentifier(f.swiftName))\n"
                }
            }
            o += "        }\n"
        }
        o += "    }\n}\n"
        return o
    }

    // MARK: JSON

    /// Whether an empty collection without `omitempty` is written as `[]` rather than `null`:
    /// list `items` (upstream's API server always sends `"items": []`).
    func emptyCollectionIsArray(_ t: TypeModel, _ f: FieldModel) -> Bool {
        t.name.hasSuffix("List") && f.jsonName == "items"
    }

    func emitJSON(_ t: TypeModel) -> String {
        let q = t.qualifiedName
        var o = "extension \(q): JSONObjectCodable {\n"
        // encode
        o += "    public func encodeJSONFields(_ w: inout JSONWriter) {\n"
        if t.hasTypeMeta {
            o += "        if !kind.isEmpty { w.quotedKey(\"\\\"kind\\\":\"); w.string(kind) }\n"
            o += "        if !apiVersion.isEmpty { w.quotedKey(\"\\\"apiVersion\\\":\"); w.string(apiVersion) }\n"
        }
        for f in t.fields {
            o += encodeJSONField(t, f)
        }
        o += "    }\n\n"
        // decode
        o += "    public mutating func decodeJSONField(_ key: JSONKey, _ r: inout JSONReader) throws -> Bool {\n"
        let named = t.fields.filter { !$0.inline }
        let inlines = t.fields.filter { $0.inline }
        if named.isEmpty && !t.hasTypeMeta {
            for f in inlines {
                o += "        if try \(f.swiftName).decodeJSONField(key, &r) { return true }\n"
            }
            o += "        return false\n"
        } else {
            o += "        switch key.hash {\n"
            if t.hasTypeMeta {
                o += "        case \(Emitter.keyHash("kind")) where key == \"kind\": kind = try r.value()\n"
                o +=
                    "        case \(Emitter.keyHash("apiVersion")) where key == \"apiVersion\": apiVersion = try r.value()\n"
            }
            for f in named {
                let k = f.jsonName!
                o += "        case \(Emitter.keyHash(k)) where key == \"\(k)\": " + decodeJSONValue(f) + "\n"
            }
            o += "        default:\n"
            for f in inlines {
                o += "            if try \(f.swiftName).decodeJSONField(key, &r) { return true }\n"
            }
            o += "            return false\n"
            o += "        }\n"
            o += "        return true\n"
        }
        o += "    }\n}\n"
        return o
    }

    /// The FNV-1a hash of a key, as `JSONKey.hash` computes it, in hex.
    static func keyHash(_ key: String) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in key.utf8 {
            h ^= UInt64(b)
            h = h &* 0x0000_0100_0000_01B3
        }
        return "0x" + String(h, radix: 16, uppercase: true)
    }

    func decodeJSONValue(_ f: FieldModel) -> String {
        let n = f.swiftName
        let target = "self." + n
        if f.indirect {
            let base = elementType(f.element)
            return "if let v: \(base) = try r.optional() { self._\(n) = [v] } else { self._\(n) = [] }"
        }
        switch f.container {
        case .array:
            if f.element == .bytes { return "\(target) = try r.array()  // [][]byte unsupported" }
            return "\(target) = try r.array()"
        case .map:
            if f.element == .bytes { return "\(target) = try r.bytesMap()" }
            return "\(target) = try r.map()"
        case .single:
            if f.element == .bytes { return "\(target) = try r.bytes()" }
            if isNullable(f) || f.pointer { return "\(target) = try r.optional()" }
            return "\(target) = try r.value()"
        }
    }

    func encodeJSONField(_ t: TypeModel, _ f: FieldModel) -> String {
        let v = "self." + f.swiftName
        if f.inline {
            return "        \(v).encodeJSONFields(&w)\n"
        }
        let key = "w.quotedKey(\"\\\"\(f.jsonName!)\\\":\")"
        switch f.container {
        case .array, .map:
            let write = f.element == .bytes && f.container == .map ? "w.bytesMap(\(v))" : "\(v).encodeJSON(&w)"
            if f.omitempty || f.omitzero {
                return "        if !\(v).isEmpty { \(key); \(write) }\n"
            }
            if emptyCollectionIsArray(t, f) {
                return "        \(key); \(write)\n"
            }
            return "        \(key); if \(v).isEmpty { w.null() } else { \(write) }\n"
        case .single:
            if f.element == .bytes {
                if f.omitempty || f.omitzero { return "        if !\(v).isEmpty { \(key); w.base64(\(v)) }\n" }
                return "        \(key); if \(v).isEmpty { w.null() } else { w.base64(\(v)) }\n"
            }
            if f.pointer || isNullable(f) {
                // A pointer with omitempty is left out when nil; without omitempty it is written as null.
                // Go ignores omitempty for struct values, so a nil Time value is written as null.
                // With omitzero (Go 1.24) a zero Time value is left out too.
                if (f.pointer && (f.omitempty || f.omitzero)) || (isNullable(f) && f.omitzero) {
                    return "        if let v = \(v) { \(key); v.encodeJSON(&w) }\n"
                }
                return "        \(key); if let v = \(v) { v.encodeJSON(&w) } else { w.null() }\n"
            }
            if case .message(let m) = f.element {
                if f.omitzero {
                    return "        if \(v) != \(swiftName(ofMessage: m))() { \(key); \(v).encodeJSON(&w) }\n"
                }
                return "        \(key); \(v).encodeJSON(&w)\n"
            }
            if f.omitempty || f.omitzero {
                let cond: String
                switch f.element {
                case .string: cond = "!\(v).isEmpty"
                case .bool: cond = v
                default: cond = "\(v) != 0"
                }
                return "        if \(cond) { \(key); \(v).encodeJSON(&w) }\n"
            }
            return "        \(key); \(v).encodeJSON(&w)\n"
        }
    }

    // MARK: protobuf

    func emitProto(_ t: TypeModel) -> String {
        let q = t.qualifiedName
        var o = "extension \(q): ProtoMessage {\n"
        o += "    public func encodeProto(_ w: inout ProtoWriter) {\n"
        let sorted = t.fields.filter { $0.number != nil }.sorted { $0.number! < $1.number! }
        for f in sorted {
            o += encodeProtoField(f)
        }
        o += "    }\n\n"
        o += "    public mutating func decodeProtoField(_ field: Int, _ r: inout ProtoReader) throws -> Bool {\n"
        if sorted.isEmpty {
            o += "        return false\n"
        } else {
            o += "        switch field {\n"
            for f in sorted {
                o += "        case \(f.number!): " + decodeProtoValue(f) + "\n"
            }
            o += "        default: return false\n"
            o += "        }\n"
            o += "        return true\n"
        }
        o += "    }\n}\n"
        return o
    }

    func scalarWriter(_ e: Element) -> String {
        switch e {
        case .string: return "string"
        case .int32: return "int32"
        case .int64: return "int64"
        case .bool: return "bool"
        case .double: return "double"
        case .bytes: return "bytes"
        case .message: return "message"
        }
    }

    func encodeProtoField(_ f: FieldModel) -> String {
        let v = "self." + f.swiftName
        let tag = "0x" + String((f.number! << 3) | wireType(f.element), radix: 16, uppercase: true)
        let fn = scalarWriter(f.element)
        switch f.container {
        case .array:
            return "        for e in \(v) { w.\(fn)(\(tag), e) }\n"
        case .map:
            switch f.element {
            case .string: return "        w.stringMap(\(tag), \(v))\n"
            case .bytes: return "        w.bytesMap(\(tag), \(v))\n"
            default: return "        w.messageMap(\(tag), \(v))\n"
            }
        case .single:
            if f.element == .bytes {
                return "        if !\(v).isEmpty { w.bytes(\(tag), \(v)) }\n"
            }
            if isNullable(f) {
                if f.pointer { return "        if let v = \(v) { w.message(\(tag), v) }\n" }
                return "        w.message(\(tag), \(v) ?? \(elementType(f.element))())\n"
            }
            if f.pointer {
                return "        if let v = \(v) { w.\(fn)(\(tag), v) }\n"
            }
            return "        w.\(fn)(\(tag), \(v))\n"
        }
    }

    func decodeProtoValue(_ f: FieldModel) -> String {
        let n = f.swiftName
        let target = "self." + n
        let base = elementType(f.element)
        switch f.container {
        case .array:
            switch f.element {
            case .message: return "\(target).append(try r.message() as \(base))"
            case .int32, .int64, .bool, .double:
                return "try r.appendRepeated(&\(target)) { r in try r.\(scalarWriter(f.element))() }"
            default: return "\(target).append(try r.\(scalarWriter(f.element))())"
            }
        case .map:
            switch f.element {
            case .string: return "try r.stringMapEntry(into: &\(target))"
            case .bytes: return "try r.bytesMapEntry(into: &\(target))"
            default: return "try r.messageMapEntry(into: &\(target))"
            }
        case .single:
            if f.indirect {
                return "var v = \(target) ?? \(base)(); try r.merge(into: &v); self._\(n) = [v]"
            }
            if isNullable(f) {
                return "\(target) = try r.nullable() as \(base)?"
            }
            if case .message = f.element {
                if f.pointer {
                    return "var v = \(target) ?? \(base)(); try r.merge(into: &v); \(target) = v"
                }
                return "try r.merge(into: &\(target))"
            }
            return "\(target) = try r.\(scalarWriter(f.element))()"
        }
    }

    // MARK: slice messages

    func emitSliceMessage(_ t: TypeModel) -> String {
        let q = t.qualifiedName
        return """
            extension \(t.package.namespace) {
                /// A named string slice (JSON: a bare array; protobuf: a message with repeated `items`).
                public struct \(t.name): Equatable, Sendable, ExpressibleByArrayLiteral {
                    public var items: [String]
                    public init() { items = [] }
                    public init(_ items: [String]) { self.items = items }
                    public init(arrayLiteral elements: String...) { items = elements }
                }
            }

            extension \(q): JSONCodableValue {
                public init(json r: inout JSONReader) throws { items = try r.array() }
                public func encodeJSON(_ w: inout JSONWriter) { items.encodeJSON(&w) }
            }

            extension \(q): ProtoMessage {
                public func encodeProto(_ w: inout ProtoWriter) {
                    for e in items { w.string(0x0A, e) }
                }

                public mutating func decodeProtoField(_ field: Int, _ r: inout ProtoReader) throws -> Bool {
                    guard field == 1 else { return false }
                    items.append(try r.string())
                    return true
                }
            }

            """
    }

    // MARK: kinds

    /// The kind a type is registered as in its own package, if it is a kind at all: the OpenAPI
    /// GVK of its group-version; else (types the spec leaves out, such as the option kinds) its
    /// package's group-version, with meta/v1's option and status kinds in core v1 as upstream serves them.
    func homeGVK(_ t: TypeModel) -> (group: String, version: String, kind: String)? {
        if t.package.module == "APIMachinery" && t.name == "WatchEvent" { return ("", "v1", "WatchEvent") }
        guard t.hasTypeMeta, t.name != "TypeMeta" else { return nil }
        let own = t.gvks.filter { $0.version == t.package.version && $0.group == t.package.group }
        if own.count == 1 { return own[0] }
        if t.package.module == "APIMachinery" {
            if t.name.hasPrefix("PartialObjectMetadata") { return ("meta.k8s.io", "v1", t.name) }
            return ("", "v1", t.name)
        }
        return (t.package.group, t.package.version, t.name)
    }

    func kindConformance(_ t: TypeModel) -> String? {
        guard let g = homeGVK(t) else { return nil }
        let hasObjectMeta = t.fields.contains {
            $0.jsonName == "metadata" && $0.element == .message("k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta")
                && !$0.pointer
        }
        var conformances = "APIKind"
        if t.hasTypeMeta { conformances += ", TypeMetaCarrier" }
        if hasObjectMeta { conformances += ", ObjectMetaCarrier" }
        var o = "extension \(t.qualifiedName): \(conformances) {\n"
        o +=
            "    public static let groupVersionKind = APIMachinery.GroupVersionKind(group: \"\(g.group)\", version: \"\(g.version)\", kind: \"\(g.kind)\")\n"
        o += "}\n"
        return o
    }

    /// The namespace declaration for one package.
    func emitNamespace(_ p: APIPackage, kinds: [TypeModel]) -> String {
        var o = "// Code generated by k8swift-codegen. DO NOT EDIT.\n\n"
        if p.module != "APIMachinery" { o += "import APIMachinery\n\n" }
        o += "/// Wire types of \(p.group.isEmpty ? "core" : p.group)/\(p.version).\n"
        o += "public enum \(p.namespace) {\n"
        o +=
            "    public static let groupVersion = APIMachinery.GroupVersion(group: \"\(p.group)\", version: \"\(p.version)\")\n"
        let ks = kinds.filter { homeGVK($0) != nil }.map { "\($0.qualifiedName).self" }
        o += "    /// Every kind of this group-version, for scheme registration.\n"
        if ks.isEmpty {
            o += "    public static let kinds: [any APIKind.Type] = []\n"
        } else {
            o +=
                "    public static let kinds: [any APIKind.Type] = [\n        " + ks.joined(separator: ",\n        ")
                + ",\n    ]\n"
        }
        o += "}\n"
        return o
    }

    /// The list of every namespace, for the scheme.
    func emitRegistry(_ packages: [APIPackage]) -> String {
        var o = "// Code generated by k8swift-codegen. DO NOT EDIT.\n\n"
        let modules = Set(packages.map(\.module)).sorted()
        for m in modules { o += "@_exported import \(m)\n" }
        o += "\nextension KubernetesAPI {\n"
        o += "    /// Every generated group-version namespace with its kinds.\n"
        o += "    public static let namespaces: [(groupVersion: GroupVersion, kinds: [any APIKind.Type])] = [\n"
        for p in packages.sorted(by: { ($0.module, $0.namespace) < ($1.module, $1.namespace) }) {
            o += "        (\(p.namespace).groupVersion, \(p.namespace).kinds),\n"
        }
        o += "    ]\n}\n"
        return o
    }
}
