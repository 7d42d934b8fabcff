/// Protobuf wire types.
public enum ProtoWireType: UInt8, Sendable {
    case varint = 0
    case fixed64 = 1
    case lengthDelimited = 2
    case fixed32 = 5
}

/// A protobuf decoding failure.
public struct ProtoDecodingError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// A message in Kubernetes' protobuf encoding (gogo-protobuf as Kubernetes generates it):
/// fields written in field-number order; value (non-pointer) scalars always written, pointers only
/// when set; map entries sorted by key.
public protocol ProtoMessage {
    init()
    func encodeProto(_ w: inout ProtoWriter)
    /// Decodes one field whose tag the reader has just read; returns false for unknown fields
    /// (leaving the value unread).
    mutating func decodeProtoField(_ field: Int, _ r: inout ProtoReader) throws -> Bool
}

extension ProtoMessage {
    /// Encodes this message alone (without a length prefix).
    @inlinable
    public func protoBytes() -> [UInt8] {
        var w = ProtoWriter()
        encodeProto(&w)
        return w.bytes
    }

    /// Decodes a message from its bytes.
    @inlinable
    public init(protoBytes bytes: [UInt8]) throws {
        self.init()
        try bytes.withUnsafeBufferPointer { buf in
            var r = ProtoReader(buf)
            try r.readFields(into: &self)
        }
    }
}

/// Writes protobuf bytes. Nested messages are length-prefixed by reserving one byte and moving the
/// body when its length needs more.
public struct ProtoWriter: Sendable {
    public var bytes: [UInt8]

    @inlinable
    public init(capacity: Int = 256) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    @inlinable @inline(__always)
    public mutating func varint(_ v: UInt64) {
        var v = v
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(truncatingIfNeeded: v))
    }

    /// The tag of a field (field number and wire type), pre-computed by generated code as a literal.
    @inlinable @inline(__always)
    public mutating func tag(_ t: UInt64) { varint(t) }

    @inlinable
    public mutating func string(_ tag: UInt64, _ v: String) {
        varint(tag)
        var v = v
        v.withUTF8 { u in
            varint(UInt64(u.count))
            bytes.append(contentsOf: u)
        }
    }

    @inlinable
    public mutating func bytes(_ tag: UInt64, _ v: [UInt8]) {
        varint(tag)
        varint(UInt64(v.count))
        bytes.append(contentsOf: v)
    }

    @inlinable
    public mutating func int64(_ tag: UInt64, _ v: Int64) {
        varint(tag)
        varint(UInt64(bitPattern: v))
    }

    /// int32 is sign-extended to 64 bits on the wire.
    @inlinable
    public mutating func int32(_ tag: UInt64, _ v: Int32) {
        varint(tag)
        varint(UInt64(bitPattern: Int64(v)))
    }

    @inlinable
    public mutating func bool(_ tag: UInt64, _ v: Bool) {
        varint(tag)
        bytes.append(v ? 1 : 0)
    }

    @inlinable
    public mutating func double(_ tag: UInt64, _ v: Double) {
        varint(tag)
        var bits = v.bitPattern.littleEndian
        withUnsafeBytes(of: &bits) { bytes.append(contentsOf: $0) }
    }

    /// Starts a length-delimited field; returns the position to pass to `endLengthDelimited`.
    @inlinable @inline(__always)
    public mutating func beginLengthDelimited(_ tag: UInt64) -> Int {
        varint(tag)
        bytes.append(0)
        return bytes.count
    }

    /// Back-patches the length of a field started with `beginLengthDelimited`.
    @inlinable
    public mutating func endLengthDelimited(_ start: Int) {
        let len = bytes.count - start
        if len < 0x80 {
            bytes[start - 1] = UInt8(truncatingIfNeeded: len)
            return
        }
        var prefix: [UInt8] = []
        var v = UInt64(len)
        while v >= 0x80 {
            prefix.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        prefix.append(UInt8(truncatingIfNeeded: v))
        bytes.replaceSubrange((start - 1)..<start, with: prefix)
    }

    @inlinable
    public mutating func message<M: ProtoMessage>(_ tag: UInt64, _ m: M) {
        let s = beginLengthDelimited(tag)
        m.encodeProto(&self)
        endLengthDelimited(s)
    }

    /// A map entry `{1: key, 2: value}` where the value is written by `value`.
    @inlinable
    public mutating func mapEntry(_ tag: UInt64, key: String, value: (inout ProtoWriter) -> Void) {
        let s = beginLengthDelimited(tag)
        string(0x0A, key)
        value(&self)
        endLengthDelimited(s)
    }

    /// A `map<string,string>` field, entries sorted by key.
    @inlinable
    public mutating func stringMap(_ tag: UInt64, _ m: [String: String]) {
        for k in m.keys.sorted(by: JSONWriter.goLess) {
            let v = m[k]!
            mapEntry(tag, key: k) { w in w.string(0x12, v) }
        }
    }

    /// A `map<string,bytes>` field, entries sorted by key.
    @inlinable
    public mutating func bytesMap(_ tag: UInt64, _ m: [String: [UInt8]]) {
        for k in m.keys.sorted(by: JSONWriter.goLess) {
            let v = m[k]!
            mapEntry(tag, key: k) { w in w.bytes(0x12, v) }
        }
    }

    /// A `map<string,Message>` field, entries sorted by key.
    @inlinable
    public mutating func messageMap<M: ProtoMessage>(_ tag: UInt64, _ m: [String: M]) {
        for k in m.keys.sorted(by: JSONWriter.goLess) {
            let v = m[k]!
            mapEntry(tag, key: k) { w in w.message(0x12, v) }
        }
    }
}

/// Reads protobuf bytes from a borrowed buffer.
public struct ProtoReader {
    @usableFromInline let base: UnsafePointer<UInt8>
    @usableFromInline var pos: Int
    @usableFromInline var end: Int
    /// Wire type of the field whose tag was read last.
    @usableFromInline var wireType: UInt8 = 0

    @inlinable
    public init(_ buffer: UnsafeBufferPointer<UInt8>) {
        base = buffer.baseAddress ?? UnsafePointer(bitPattern: 1)!
        pos = 0
        end = buffer.count
    }

    @inlinable
    public var isAtEnd: Bool { pos >= end }

    @inlinable
    public mutating func readVarint() throws -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard pos < end else { throw ProtoDecodingError("unexpected EOF") }
            let b = base[pos]
            pos &+= 1
            if shift == 63 && b > 1 { throw ProtoDecodingError("proto: integer overflow") }
            result |= UInt64(b & 0x7F) << shift
            if b < 0x80 { return result }
            shift += 7
            if shift > 63 { throw ProtoDecodingError("proto: integer overflow") }
        }
    }

    /// Reads the next tag; nil at the end of the current message.
    @inlinable
    public mutating func nextField() throws -> Int? {
        guard pos < end else { return nil }
        let key = try readVarint()
        let field = Int(truncatingIfNeeded: key >> 3)
        wireType = UInt8(truncatingIfNeeded: key & 7)
        if field <= 0 { throw ProtoDecodingError("proto: illegal tag \(field) (wire type \(wireType))") }
        return field
    }

    /// Reads every field of a message into `target`, skipping unknown fields.
    @inlinable
    public mutating func readFields<M: ProtoMessage>(into target: inout M) throws {
        while let f = try nextField() {
            if try !target.decodeProtoField(f, &self) { try skipField() }
        }
    }

    @inlinable
    func expect(_ w: UInt8) throws {
        if wireType != w { throw ProtoDecodingError("proto: wrong wireType = \(wireType) for field") }
    }

    @inlinable
    public mutating func skipField() throws {
        switch wireType {
        case 0: _ = try readVarint()
        case 1:
            guard pos + 8 <= end else { throw ProtoDecodingError("unexpected EOF") }
            pos += 8
        case 2:
            let n = try readLength()
            pos += n
        case 5:
            guard pos + 4 <= end else { throw ProtoDecodingError("unexpected EOF") }
            pos += 4
        case 3:
            // group start: skip until the matching end group
            while true {
                guard let _ = try nextField() else { throw ProtoDecodingError("unexpected EOF") }
                if wireType == 4 { return }
                try skipField()
            }
        default:
            throw ProtoDecodingError("proto: illegal wireType \(wireType)")
        }
    }

    @inlinable
    mutating func readLength() throws -> Int {
        let n = try readVarint()
        guard n <= UInt64(end - pos) else { throw ProtoDecodingError("unexpected EOF") }
        return Int(n)
    }

    @inlinable
    public mutating func string() throws -> String {
        try expect(2)
        let n = try readLength()
        let s = String(decoding: UnsafeBufferPointer(start: base + pos, count: n), as: UTF8.self)
        pos += n
        return s
    }

    @inlinable
    public mutating func bytes() throws -> [UInt8] {
        try expect(2)
        let n = try readLength()
        let b = Array(UnsafeBufferPointer(start: base + pos, count: n))
        pos += n
        return b
    }

    @inlinable
    public mutating func int64() throws -> Int64 {
        try expect(0)
        return Int64(bitPattern: try readVarint())
    }

    @inlinable
    public mutating func int32() throws -> Int32 {
        try expect(0)
        return Int32(truncatingIfNeeded: Int64(bitPattern: try readVarint()))
    }

    @inlinable
    public mutating func bool() throws -> Bool {
        try expect(0)
        return try readVarint() != 0
    }

    @inlinable
    public mutating func double() throws -> Double {
        try expect(1)
        guard pos + 8 <= end else { throw ProtoDecodingError("unexpected EOF") }
        var bits: UInt64 = 0
        for i in 0..<8 { bits |= UInt64(base[pos + i]) << (8 * UInt64(i)) }
        pos += 8
        return Double(bitPattern: bits)
    }

    /// A nested message.
    @inlinable
    public mutating func message<M: ProtoMessage>() throws -> M {
        var m = M()
        try merge(into: &m)
        return m
    }

    /// Merges a nested message into an existing value (protobuf semantics for a repeated tag).
    @inlinable
    public mutating func merge<M: ProtoMessage>(into m: inout M) throws {
        try expect(2)
        let n = try readLength()
        let savedEnd = end
        end = pos + n
        try readFields(into: &m)
        pos = end
        end = savedEnd
    }

    /// Reads one map entry `{1: key, 2: value}`; `value` decodes the value field.
    @inlinable
    public mutating func mapEntry<V>(
        _ defaultValue: V, _ value: (inout ProtoReader) throws -> V
    ) throws -> (String, V) {
        try expect(2)
        let n = try readLength()
        let savedEnd = end
        end = pos + n
        var key = ""
        var v = defaultValue
        while let f = try nextField() {
            if f == 1 {
                key = try string()
            } else if f == 2 {
                v = try value(&self)
            } else {
                try skipField()
            }
        }
        pos = end
        end = savedEnd
        return (key, v)
    }

    @inlinable
    public mutating func stringMapEntry(into m: inout [String: String]) throws {
        let (k, v) = try mapEntry("") { r in try r.string() }
        m[k] = v
    }

    @inlinable
    public mutating func bytesMapEntry(into m: inout [String: [UInt8]]) throws {
        let (k, v) = try mapEntry([]) { r in try r.bytes() }
        m[k] = v
    }

    @inlinable
    public mutating func messageMapEntry<M: ProtoMessage>(into m: inout [String: M]) throws {
        let (k, v) = try mapEntry(M()) { r in try r.message() as M }
        m[k] = v
    }
}
