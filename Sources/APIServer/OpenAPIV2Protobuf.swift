import APIMachinery

/// The protobuf rendering of an OpenAPI v2 document (message `openapi.v2.Document` of the gnostic
/// schema that client-go decodes `/openapi/v2` with), built from the JSON document. Fields are
/// written in field-number order; values of vendor extensions, defaults, examples and enums are
/// `Any{yaml}` whose text is the value's compact JSON (JSON is YAML).
enum OpenAPIV2Protobuf {
    static func encode(_ doc: JSONValue) -> [UInt8] {
        var w = ProtoWriter()
        guard case .object = doc else { return [] }
        w.string(1, doc["swagger"]?.stringValue)
        if let info = doc["info"] {
            w.message(2) { m in
                m.string(1, info["title"]?.stringValue)
                m.string(2, info["version"]?.stringValue)
                m.string(4, info["termsOfService"]?.stringValue)
                m.vendorExtensions(7, info)
            }
        }
        w.string(3, doc["host"]?.stringValue)
        w.string(4, doc["basePath"]?.stringValue)
        for f in [("schemes", 5), ("consumes", 6), ("produces", 7)] { w.strings(f.1, doc[f.0]) }
        if let paths = doc["paths"] {
            w.message(8) { m in
                m.vendorExtensions(1, paths)
                for (name, item) in members(paths) where !name.hasPrefix("x-") {
                    m.named(2, name) { pathItem(&$0, item) }
                }
            }
        }
        if let defs = doc["definitions"] {
            w.message(9) { m in
                for (name, s) in members(defs) { m.named(1, name) { schema(&$0, s) } }
            }
        }
        if let params = doc["parameters"] {
            w.message(10) { m in
                for (name, p) in members(params) { m.named(1, name) { parameter(&$0, p) } }
            }
        }
        if let responses = doc["responses"] {
            w.message(11) { m in
                for (name, r) in members(responses) { m.named(1, name) { response(&$0, r) } }
            }
        }
        for req in elements(doc["security"]) { w.message(12) { securityRequirement(&$0, req) } }
        if let defs = doc["securityDefinitions"] {
            w.message(13) { m in
                for (name, d) in members(defs) { m.named(1, name) { securityDefinition(&$0, d) } }
            }
        }
        for tag in elements(doc["tags"]) {
            w.message(14) { m in
                m.string(1, tag["name"]?.stringValue)
                m.vendorExtensions(4, tag)
            }
        }
        w.vendorExtensions(16, doc)
        return w.bytes
    }

    static func members(_ v: JSONValue?) -> [(key: String, value: JSONValue)] {
        if case .object(let m) = v { return m }
        return []
    }

    static func elements(_ v: JSONValue?) -> [JSONValue] {
        if case .array(let a) = v { return a }
        return []
    }

    static func pathItem(_ w: inout ProtoWriter, _ item: JSONValue) {
        w.string(1, item["$ref"]?.stringValue)
        for (verb, n) in [
            ("get", 2), ("put", 3), ("post", 4), ("delete", 5), ("options", 6), ("head", 7), ("patch", 8),
        ] {
            if let op = item[verb] { w.message(n) { operation(&$0, op) } }
        }
        for p in elements(item["parameters"]) { w.message(9) { parametersItem(&$0, p) } }
        w.vendorExtensions(10, item)
    }

    static func operation(_ w: inout ProtoWriter, _ op: JSONValue) {
        w.strings(1, op["tags"])
        w.string(2, op["summary"]?.stringValue)
        w.string(5, op["operationId"]?.stringValue)
        w.strings(6, op["produces"])
        w.strings(7, op["consumes"])
        for p in elements(op["parameters"]) { w.message(8) { parametersItem(&$0, p) } }
        if let responses = op["responses"] {
            w.message(9) { m in
                for (code, r) in members(responses) where !code.hasPrefix("x-") {
                    m.named(1, code) { v in
                        if let ref = r["$ref"]?.stringValue {
                            v.message(2) { $0.string(1, ref) }
                        } else {
                            v.message(1) { response(&$0, r) }
                        }
                    }
                }
                m.vendorExtensions(2, responses)
            }
        }
        w.strings(10, op["schemes"])
        w.bool(11, op["deprecated"])
        for req in elements(op["security"]) { w.message(12) { securityRequirement(&$0, req) } }
        w.vendorExtensions(13, op)
    }

    static func response(_ w: inout ProtoWriter, _ r: JSONValue) {
        if let s = r["schema"] {
            w.message(2) { item in
                if s["type"]?.stringValue == "file" {
                    item.message(2) { f in
                        f.string(1, s["format"]?.stringValue)
                        f.string(6, "file")
                    }
                } else {
                    item.message(1) { schema(&$0, s) }
                }
            }
        }
        w.vendorExtensions(5, r)
    }

    static func parametersItem(_ w: inout ProtoWriter, _ p: JSONValue) {
        if let ref = p["$ref"]?.stringValue {
            w.message(2) { $0.string(1, ref) }
        } else {
            w.message(1) { parameter(&$0, p) }
        }
    }

    /// Field numbers of the non-body parameter kinds: query and formData have `allowEmptyValue` (5)
    /// and number the rest one higher than header and path.
    static let simpleFields: [(String, Int, ProtoWriter.Kind)] = [
        ("required", 1, .bool), ("in", 2, .string), ("name", 4, .string), ("type", 5, .string),
        ("format", 6, .string), ("items", 7, .primitivesItems), ("collectionFormat", 8, .string),
        ("default", 9, .any), ("maximum", 10, .double), ("exclusiveMaximum", 11, .bool), ("minimum", 12, .double),
        ("exclusiveMinimum", 13, .bool), ("maxLength", 14, .int64), ("minLength", 15, .int64),
        ("pattern", 16, .string), ("maxItems", 17, .int64), ("minItems", 18, .int64), ("uniqueItems", 19, .bool),
        ("enum", 20, .anyList), ("multipleOf", 21, .double),
    ]

    static func parameter(_ w: inout ProtoWriter, _ p: JSONValue) {
        let location = p["in"]?.stringValue ?? ""
        if location == "body" {
            w.message(1) { b in
                b.string(2, p["name"]?.stringValue)
                b.string(3, location)
                b.bool(4, p["required"])
                if let s = p["schema"] { b.message(5) { schema(&$0, s) } }
                b.vendorExtensions(6, p)
            }
            return
        }
        let (kind, withEmpty): (Int, Bool) =
            switch location {
            case "header": (1, false)
            case "formData": (2, true)
            case "query": (3, true)
            default: (4, false)
            }
        w.message(2) { nb in
            nb.message(kind) { s in
                var fields = simpleFields.map { f in (f.0, withEmpty && f.1 >= 5 ? f.1 + 1 : f.1, f.2) }
                if withEmpty { fields.append(("allowEmptyValue", 5, .bool)) }
                s.fields(fields.sorted { $0.1 < $1.1 }, p)
                s.vendorExtensions(withEmpty ? 23 : 22, p)
            }
        }
    }

    static let primitivesItemsFields: [(String, Int, ProtoWriter.Kind)] = [
        ("type", 1, .string), ("format", 2, .string), ("items", 3, .primitivesItems),
        ("collectionFormat", 4, .string), ("default", 5, .any), ("maximum", 6, .double),
        ("exclusiveMaximum", 7, .bool), ("minimum", 8, .double), ("exclusiveMinimum", 9, .bool),
        ("maxLength", 10, .int64), ("minLength", 11, .int64), ("pattern", 12, .string), ("maxItems", 13, .int64),
        ("minItems", 14, .int64), ("uniqueItems", 15, .bool), ("enum", 16, .anyList), ("multipleOf", 17, .double),
    ]

    static func primitivesItems(_ w: inout ProtoWriter, _ v: JSONValue) {
        w.fields(primitivesItemsFields, v)
        w.vendorExtensions(18, v)
    }

    static let schemaFields: [(String, Int, ProtoWriter.Kind)] = [
        ("$ref", 1, .string), ("format", 2, .string), ("title", 3, .string), ("default", 5, .any),
        ("multipleOf", 6, .double), ("maximum", 7, .double), ("exclusiveMaximum", 8, .bool),
        ("minimum", 9, .double), ("exclusiveMinimum", 10, .bool), ("maxLength", 11, .int64),
        ("minLength", 12, .int64), ("pattern", 13, .string), ("maxItems", 14, .int64), ("minItems", 15, .int64),
        ("uniqueItems", 16, .bool), ("maxProperties", 17, .int64), ("minProperties", 18, .int64),
        ("required", 19, .strings), ("enum", 20, .anyList),
    ]

    static func schema(_ w: inout ProtoWriter, _ s: JSONValue) {
        w.fields(schemaFields, s)
        switch s["additionalProperties"] {
        case .bool(let b)?: w.message(21) { $0.bool(2, .bool(b)) }
        case let ap?: w.message(21) { m in m.message(1) { schema(&$0, ap) } }
        case nil: break
        }
        switch s["type"] {
        case .string(let t)?: w.message(22) { $0.string(1, t) }
        case .array?: w.message(22) { $0.strings(1, s["type"]) }
        default: break
        }
        switch s["items"] {
        case .array(let list)?: w.message(23) { m in for i in list { m.message(1) { schema(&$0, i) } } }
        case let i?: w.message(23) { m in m.message(1) { schema(&$0, i) } }
        case nil: break
        }
        for a in elements(s["allOf"]) { w.message(24) { schema(&$0, a) } }
        if let props = s["properties"] {
            w.message(25) { m in
                for (name, p) in members(props) { m.named(1, name) { schema(&$0, p) } }
            }
        }
        w.string(26, s["discriminator"]?.stringValue)
        w.bool(27, s["readOnly"])
        if let ex = s["example"] { w.any(30, ex) }
        w.vendorExtensions(31, s)
    }

    static func securityRequirement(_ w: inout ProtoWriter, _ req: JSONValue) {
        for (name, scopes) in members(req) {
            w.named(1, name) { v in v.message(2) { $0.strings(1, scopes) } }
        }
    }

    static func securityDefinition(_ w: inout ProtoWriter, _ d: JSONValue) {
        let type = d["type"]?.stringValue ?? ""
        let flow = d["flow"]?.stringValue ?? ""
        switch (type, flow) {
        case ("basic", _):
            w.message(1) { m in
                m.string(1, type)
                m.vendorExtensions(3, d)
            }
        case ("apiKey", _):
            w.message(2) { m in
                m.string(1, type)
                m.string(2, d["name"]?.stringValue)
                m.string(3, d["in"]?.stringValue)
                m.vendorExtensions(5, d)
            }
        default:
            let n = ["implicit": 3, "password": 4, "application": 5, "accessCode": 6][flow] ?? 3
            w.message(n) { m in
                m.string(1, type)
                m.string(2, flow)
                if let scopes = d["scopes"] {
                    m.message(3) { sc in
                        for (k, v) in members(scopes) { sc.named(1, k) { $0.string(2, v.stringValue) } }
                    }
                }
                switch flow {
                case "implicit":
                    m.string(4, d["authorizationUrl"]?.stringValue)
                    m.vendorExtensions(6, d)
                case "accessCode":
                    m.string(4, d["authorizationUrl"]?.stringValue)
                    m.string(5, d["tokenUrl"]?.stringValue)
                    m.vendorExtensions(7, d)
                default:
                    m.string(4, d["tokenUrl"]?.stringValue)
                    m.vendorExtensions(6, d)
                }
            }
        }
    }
}

/// A minimal protobuf writer (proto3: default scalars are left out, messages always written).
struct ProtoWriter {
    var bytes: [UInt8] = []

    enum Kind {
        case string, strings, bool, double, int64, any, anyList, primitivesItems
    }

    mutating func varint(_ v: UInt64) {
        var v = v
        while v >= 0x80 {
            bytes.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    mutating func tag(_ field: Int, _ wire: UInt64) { varint(UInt64(field) << 3 | wire) }

    mutating func string(_ field: Int, _ s: String?) {
        guard let s, !s.isEmpty else { return }
        tag(field, 2)
        varint(UInt64(s.utf8.count))
        bytes += s.utf8
    }

    /// Every element of a JSON array of strings, each as one occurrence of a repeated field.
    mutating func strings(_ field: Int, _ v: JSONValue?) {
        guard case .array(let items) = v else { return }
        for case .string(let s) in items {
            tag(field, 2)
            varint(UInt64(s.utf8.count))
            bytes += s.utf8
        }
    }

    mutating func bool(_ field: Int, _ v: JSONValue?) {
        guard case .bool(true) = v else { return }
        tag(field, 0)
        varint(1)
    }

    mutating func message(_ field: Int, _ body: (inout ProtoWriter) -> Void) {
        var sub = ProtoWriter()
        body(&sub)
        tag(field, 2)
        varint(UInt64(sub.bytes.count))
        bytes += sub.bytes
    }

    /// A `Named…` pair: `name` (1) and the value message (2).
    mutating func named(_ field: Int, _ name: String, _ value: (inout ProtoWriter) -> Void) {
        message(field) { m in
            m.string(1, name)
            m.message(2, value)
        }
    }

    /// `Any{yaml}` (field 2 of `openapi.v2.Any`) holding the value as JSON text.
    mutating func any(_ field: Int, _ v: JSONValue) {
        let text = String(decoding: v.jsonBytes, as: UTF8.self) + "\n"
        message(field) { $0.string(2, text) }
    }

    /// The `x-…` members of an object as `NamedAny` entries, in document order.
    mutating func vendorExtensions(_ field: Int, _ v: JSONValue) {
        guard case .object(let members) = v else { return }
        for (k, value) in members where k.hasPrefix("x-") {
            named(field, k) { $0.string(2, String(decoding: value.jsonBytes, as: UTF8.self) + "\n") }
        }
    }

    /// The scalar and simple members of an object, by a table sorted by field number.
    mutating func fields(_ table: [(String, Int, Kind)], _ v: JSONValue) {
        for (name, n, kind) in table {
            guard let value = v[name] else { continue }
            switch kind {
            case .string: string(n, value.stringValue)
            case .strings: strings(n, value)
            case .bool: bool(n, value)
            case .double:
                guard case .number(let s) = value, let d = Double(s), d != 0 else { continue }
                tag(n, 1)
                let bits = d.bitPattern
                for i in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: bits >> (8 * UInt64(i)))) }
            case .int64:
                guard case .number(let s) = value, let i = Int64(s) ?? Double(s).map({ Int64($0) }), i != 0 else {
                    continue
                }
                tag(n, 0)
                varint(UInt64(bitPattern: i))
            case .any: any(n, value)
            case .anyList:
                guard case .array(let items) = value else { continue }
                for item in items { any(n, item) }
            case .primitivesItems:
                message(n) { OpenAPIV2Protobuf.primitivesItems(&$0, value) }
            }
        }
    }
}
