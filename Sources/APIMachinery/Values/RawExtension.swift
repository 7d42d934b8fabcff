/// `runtime.RawExtension`: an embedded object kept as its serialized bytes (JSON in JSON, and
/// whatever the writer used in protobuf). JSON writes the bytes compacted, or `null` when unset.
public struct RawExtension: Hashable, Sendable {
    /// The serialized object; nil when unset.
    public var raw: [UInt8]?

    public init() { raw = nil }
    public init(raw: [UInt8]?) { self.raw = raw }
    /// Wraps JSON text.
    public init(json: String) { raw = Array(json.utf8) }
}

extension RawExtension: JSONCodableValue {
    public init(json r: inout JSONReader) throws {
        raw = try r.readCompactedRawValue()
    }

    public func encodeJSON(_ w: inout JSONWriter) {
        if let raw { w.rawCompacted(raw) } else { w.null() }
    }
}

extension RawExtension: ProtoMessage {
    public func encodeProto(_ w: inout ProtoWriter) {
        if let raw { w.bytes(0x0A, raw) }
    }

    public mutating func decodeProtoField(_ field: Int, _ r: inout ProtoReader) throws -> Bool {
        guard field == 1 else { return false }
        raw = try r.bytes()
        return true
    }
}

/// `metav1.FieldsV1`: the managed-fields set, kept as raw JSON.
public struct FieldsV1: Hashable, Sendable {
    public var raw: [UInt8]?

    public init() { raw = nil }
    public init(raw: [UInt8]?) { self.raw = raw }
}

extension FieldsV1: JSONCodableValue {
    public init(json r: inout JSONReader) throws {
        raw = try r.readCompactedRawValue()
    }

    public func encodeJSON(_ w: inout JSONWriter) {
        if let raw { w.rawCompacted(raw) } else { w.null() }
    }
}

extension FieldsV1: ProtoMessage {
    public func encodeProto(_ w: inout ProtoWriter) {
        if let raw { w.bytes(0x0A, raw) }
    }

    public mutating func decodeProtoField(_ field: Int, _ r: inout ProtoReader) throws -> Bool {
        guard field == 1 else { return false }
        raw = try r.bytes()
        return true
    }
}

/// `intstr.IntOrString`: JSON is a bare number or a string.
public enum IntOrString: Hashable, Sendable, CustomStringConvertible, ExpressibleByIntegerLiteral,
    ExpressibleByStringLiteral
{
    case int(Int32)
    case string(String)

    public init() { self = .int(0) }
    public init(integerLiteral v: Int32) { self = .int(v) }
    public init(stringLiteral v: String) { self = .string(v) }

    public var description: String {
        switch self {
        case .int(let i): return String(i)
        case .string(let s): return s
        }
    }
}

extension IntOrString: JSONCodableValue {
    public init(json r: inout JSONReader) throws {
        if r.peek() == UInt8(ascii: "\"") {
            self = .string(try r.readString())
        } else {
            self = .int(try Int32(json: &r))
        }
    }

    public func encodeJSON(_ w: inout JSONWriter) {
        switch self {
        case .int(let i): w.int(Int64(i))
        case .string(let s): w.string(s)
        }
    }
}

extension IntOrString: ProtoMessage {
    public func encodeProto(_ w: inout ProtoWriter) {
        switch self {
        case .int(let i):
            w.int64(0x08, 0)
            w.int32(0x10, i)
            w.string(0x1A, "")
        case .string(let s):
            w.int64(0x08, 1)
            w.int32(0x10, 0)
            w.string(0x1A, s)
        }
    }

    public mutating func decodeProtoField(_ field: Int, _ r: inout ProtoReader) throws -> Bool {
        switch field {
        case 1:
            let t = try r.int64()
            if t == 1, case .int = self { self = .string("") }
            if t == 0, case .string = self { self = .int(0) }
        case 2:
            let v = try r.int32()
            if case .int = self { self = .int(v) }
        case 3:
            let v = try r.string()
            if case .string = self { self = .string(v) }
        default: return false
        }
        return true
    }
}
