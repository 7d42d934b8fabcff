/// `runtime.TypeMeta` as carried in the protobuf envelope.
public struct RuntimeTypeMeta: Hashable, Sendable {
    public var apiVersion: String
    public var kind: String

    public init() {
        apiVersion = ""
        kind = ""
    }

    public init(apiVersion: String, kind: String) {
        self.apiVersion = apiVersion
        self.kind = kind
    }
}

extension RuntimeTypeMeta: ProtoMessage {
    public func encodeProto(_ w: inout ProtoWriter) {
        w.string(0x0A, apiVersion)
        w.string(0x12, kind)
    }

    public mutating func decodeProtoField(_ field: Int, _ r: inout ProtoReader) throws -> Bool {
        switch field {
        case 1: apiVersion = try r.string()
        case 2: kind = try r.string()
        default: return false
        }
        return true
    }
}

/// `runtime.Unknown`: the protobuf envelope around every object (after the `k8s\0` magic).
public struct RuntimeUnknown: Hashable, Sendable {
    public var typeMeta: RuntimeTypeMeta
    public var raw: [UInt8]
    public var contentEncoding: String
    public var contentType: String

    public init() {
        typeMeta = RuntimeTypeMeta()
        raw = []
        contentEncoding = ""
        contentType = ""
    }

    public init(typeMeta: RuntimeTypeMeta, raw: [UInt8], contentEncoding: String = "", contentType: String = "") {
        self.typeMeta = typeMeta
        self.raw = raw
        self.contentEncoding = contentEncoding
        self.contentType = contentType
    }
}

extension RuntimeUnknown: ProtoMessage {
    public func encodeProto(_ w: inout ProtoWriter) {
        w.message(0x0A, typeMeta)
        w.bytes(0x12, raw)
        w.string(0x1A, contentEncoding)
        w.string(0x22, contentType)
    }

    public mutating func decodeProtoField(_ field: Int, _ r: inout ProtoReader) throws -> Bool {
        switch field {
        case 1: try r.merge(into: &typeMeta)
        case 2: raw = try r.bytes()
        case 3: contentEncoding = try r.string()
        case 4: contentType = try r.string()
        default: return false
        }
        return true
    }
}

/// Kubernetes' protobuf framing: 4 magic bytes `k8s\0` then a `runtime.Unknown`.
public enum ProtobufEnvelope {
    public static let magic: [UInt8] = [0x6B, 0x38, 0x73, 0x00]

    /// Wraps an encoded object.
    public static func wrap(_ body: [UInt8], apiVersion: String, kind: String) -> [UInt8] {
        var w = ProtoWriter(capacity: body.count + 64)
        w.bytes.append(contentsOf: magic)
        let u = RuntimeUnknown(typeMeta: RuntimeTypeMeta(apiVersion: apiVersion, kind: kind), raw: body)
        u.encodeProto(&w)
        return w.bytes
    }

    /// Unwraps an envelope; throws when the magic is missing or the envelope is malformed.
    public static func unwrap(_ data: [UInt8]) throws -> RuntimeUnknown {
        guard data.count >= 4, Array(data[0..<4]) == magic else {
            throw ProtoDecodingError(
                "provided data does not appear to be a protobuf message, expected prefix [107 56 115 0]")
        }
        return try RuntimeUnknown(protoBytes: Array(data[4...]))
    }
}

extension ProtobufEnvelope {
    /// The envelope type of an object: its own `kind`/`apiVersion` fields, which are empty for kinds
    /// without TypeMeta (WatchEvent), as upstream's protobuf serializer writes them.
    public static func typeMeta<T: APIKind>(of obj: T) -> RuntimeTypeMeta {
        if let c = obj as? any TypeMetaCarrier {
            return RuntimeTypeMeta(apiVersion: c.apiVersion, kind: c.kind)
        }
        return RuntimeTypeMeta()
    }

    /// Encodes an object with the `k8s\0` envelope.
    public static func encode<T: APIKind>(_ obj: T) -> [UInt8] {
        let tm = typeMeta(of: obj)
        return wrap(obj.protoBytes(), apiVersion: tm.apiVersion, kind: tm.kind)
    }
}
