/// A generic JSON value with object key order preserved. Used where no typed struct applies:
/// YAML conversion, patches, unstructured objects.
public enum JSONValue: Hashable, Sendable {
    case null
    case bool(Bool)
    /// A number, kept as its JSON text so integers of any size survive.
    case number(String)
    case string(String)
    case array([JSONValue])
    case object([(key: String, value: JSONValue)])

    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case (.bool(let x), .bool(let y)): return x == y
        case (.number(let x), .number(let y)): return x == y || (Double(x) != nil && Double(x) == Double(y))
        case (.string(let x), .string(let y)): return x == y
        case (.array(let x), .array(let y)): return x == y
        case (.object(let x), .object(let y)):
            guard x.count == y.count else { return false }
            var dict: [String: JSONValue] = [:]
            for (k, v) in y { dict[k] = v }
            for (k, v) in x where dict[k] != v { return false }
            return true
        default: return false
        }
    }

    public func hash(into h: inout Hasher) {
        switch self {
        case .null: h.combine(0)
        case .bool(let b): h.combine(b)
        case .number(let n): h.combine(Double(n) ?? 0)
        case .string(let s): h.combine(s)
        case .array(let a): h.combine(a)
        case .object(let o): h.combine(o.count)
        }
    }

    /// The value for a key of an object.
    public subscript(key: String) -> JSONValue? {
        guard case .object(let pairs) = self else { return nil }
        return pairs.first { $0.key == key }?.value
    }

    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    /// Parses JSON text.
    public static func parse(_ bytes: [UInt8]) throws -> JSONValue {
        try JSONReader.decode(JSONValue.self, from: bytes)
    }

    /// Compact JSON bytes.
    public var jsonBytes: [UInt8] {
        var w = JSONWriter()
        encodeJSON(&w)
        return w.bytes
    }
}

extension JSONValue: JSONCodableValue {
    public init() { self = .null }

    public init(json r: inout JSONReader) throws {
        guard let c = r.peek() else { throw JSONDecodingError("unexpected end of JSON input") }
        switch c {
        case UInt8(ascii: "{"):
            var pairs: [(key: String, value: JSONValue)] = []
            try r.forEachKey("map[string]interface {}") { k, r in
                let v = try JSONValue(json: &r)
                if let i = pairs.firstIndex(where: { $0.key == k }) {
                    pairs[i].value = v
                } else {
                    pairs.append((k, v))
                }
            }
            self = .object(pairs)
        case UInt8(ascii: "["):
            var items: [JSONValue] = []
            try r.forEachElement("[]interface {}") { r in items.append(try JSONValue(json: &r)) }
            self = .array(items)
        case UInt8(ascii: "\""):
            self = .string(try r.readString())
        case UInt8(ascii: "t"), UInt8(ascii: "f"):
            self = .bool(try r.readBool())
        case UInt8(ascii: "n"):
            _ = try r.consumeNull()
            self = .null
        default:
            self = .number(try r.readNumberText(goType: "float64"))
        }
    }

    public func encodeJSON(_ w: inout JSONWriter) {
        switch self {
        case .null: w.null()
        case .bool(let b): w.bool(b)
        case .number(let n):
            w.rawValue(Array(n.utf8))
        case .string(let s): w.string(s)
        case .array(let a):
            w.beginArray()
            for v in a { v.encodeJSON(&w) }
            w.endArray()
        case .object(let o):
            w.beginObject()
            for (k, v) in o {
                w.key(k)
                v.encodeJSON(&w)
            }
            w.endObject()
        }
    }
}
