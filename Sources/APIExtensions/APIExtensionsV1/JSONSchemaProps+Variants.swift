import APIMachinery

extension APIExtensionsV1 {
    /// Arbitrary JSON (a schema's `default`, `example`, `enum` values), kept as raw bytes.
    public struct JSON: Hashable, Sendable {
        public var raw: [UInt8]

        public init() { raw = [] }
        public init(raw: [UInt8]) { self.raw = raw }
    }

    /// A schema or a list of schemas (`items`).
    public struct JSONSchemaPropsOrArray: Equatable, Sendable {
        @usableFromInline var _schema: [JSONSchemaProps]
        public var jsonSchemas: [JSONSchemaProps]

        public var schema: JSONSchemaProps? {
            get { _schema.first }
            set { _schema = newValue.map { [$0] } ?? [] }
        }

        public init() {
            _schema = []
            jsonSchemas = []
        }

        public init(schema: JSONSchemaProps? = nil, jsonSchemas: [JSONSchemaProps] = []) {
            _schema = schema.map { [$0] } ?? []
            self.jsonSchemas = jsonSchemas
        }
    }

    /// A schema or a boolean (`additionalProperties`, `additionalItems`).
    public struct JSONSchemaPropsOrBool: Equatable, Sendable {
        public var allows: Bool
        @usableFromInline var _schema: [JSONSchemaProps]

        public var schema: JSONSchemaProps? {
            get { _schema.first }
            set { _schema = newValue.map { [$0] } ?? [] }
        }

        public init() {
            allows = false
            _schema = []
        }

        public init(allows: Bool = false, schema: JSONSchemaProps? = nil) {
            self.allows = allows
            _schema = schema.map { [$0] } ?? []
        }
    }

    /// A schema or a list of property names (`dependencies` values).
    public struct JSONSchemaPropsOrStringArray: Equatable, Sendable {
        @usableFromInline var _schema: [JSONSchemaProps]
        public var property: [String]

        public var schema: JSONSchemaProps? {
            get { _schema.first }
            set { _schema = newValue.map { [$0] } ?? [] }
        }

        public init() {
            _schema = []
            property = []
        }

        public init(schema: JSONSchemaProps? = nil, property: [String] = []) {
            _schema = schema.map { [$0] } ?? []
            self.property = property
        }
    }
}

extension APIExtensionsV1.JSON: JSONCodableValue, ProtoMessage {
    public init(json r: inout JSONReader) throws { raw = try r.readCompactedRawValue() }

    public func encodeJSON(_ w: inout JSONWriter) {
        if raw.isEmpty { w.null() } else { w.rawCompacted(raw) }
    }

    public func encodeProto(_ w: inout ProtoWriter) { w.bytes(0x0A, raw) }

    public mutating func decodeProtoField(_ field: Int, _ r: inout ProtoReader) throws -> Bool {
        guard field == 1 else { return false }
        raw = try r.bytes()
        return true
    }
}

extension APIExtensionsV1.JSONSchemaPropsOrArray: JSONCodableValue, ProtoMessage {
    public init(json r: inout JSONReader) throws {
        self.init()
        if r.peek() == UInt8(ascii: "[") {
            jsonSchemas = try r.array()
        } else {
            schema = try r.value() as APIExtensionsV1.JSONSchemaProps
        }
    }

    public func encodeJSON(_ w: inout JSONWriter) {
        if !jsonSchemas.isEmpty {
            jsonSchemas.encodeJSON(&w)
        } else if let s = schema {
            s.encodeJSON(&w)
        } else {
            w.null()
        }
    }

    public func encodeProto(_ w: inout ProtoWriter) {
        if let s = schema { w.message(0x0A, s) }
        for e in jsonSchemas { w.message(0x12, e) }
    }

    public mutating func decodeProtoField(_ field: Int, _ r: inout ProtoReader) throws -> Bool {
        switch field {
        case 1:
            schema = try APIExtensionsV1.mergeSchema(schema, &r)
        case 2: jsonSchemas.append(try r.message())
        default: return false
        }
        return true
    }
}

extension APIExtensionsV1.JSONSchemaPropsOrBool: JSONCodableValue, ProtoMessage {
    public init(json r: inout JSONReader) throws {
        self.init()
        if r.peek() == UInt8(ascii: "{") {
            schema = try r.value() as APIExtensionsV1.JSONSchemaProps
            allows = true
        } else {
            allows = try r.readBool()
        }
    }

    public func encodeJSON(_ w: inout JSONWriter) {
        if let s = schema { s.encodeJSON(&w) } else { w.bool(allows) }
    }

    public func encodeProto(_ w: inout ProtoWriter) {
        w.bool(0x08, allows)
        if let s = schema { w.message(0x12, s) }
    }

    public mutating func decodeProtoField(_ field: Int, _ r: inout ProtoReader) throws -> Bool {
        switch field {
        case 1: allows = try r.bool()
        case 2:
            schema = try APIExtensionsV1.mergeSchema(schema, &r)
        default: return false
        }
        return true
    }
}

extension APIExtensionsV1.JSONSchemaPropsOrStringArray: JSONCodableValue, ProtoMessage {
    public init(json r: inout JSONReader) throws {
        self.init()
        if r.peek() == UInt8(ascii: "[") {
            property = try r.array()
        } else {
            schema = try r.value() as APIExtensionsV1.JSONSchemaProps
        }
    }

    public func encodeJSON(_ w: inout JSONWriter) {
        if !property.isEmpty {
            property.encodeJSON(&w)
        } else if let s = schema {
            s.encodeJSON(&w)
        } else {
            w.null()
        }
    }

    public func encodeProto(_ w: inout ProtoWriter) {
        if let s = schema { w.message(0x0A, s) }
        for e in property { w.string(0x12, e) }
    }

    public mutating func decodeProtoField(_ field: Int, _ r: inout ProtoReader) throws -> Bool {
        switch field {
        case 1:
            schema = try APIExtensionsV1.mergeSchema(schema, &r)
        case 2: property.append(try r.string())
        default: return false
        }
        return true
    }
}

extension APIExtensionsV1 {
    /// Protobuf merge of an optional nested schema (a repeated tag merges into the value so far).
    static func mergeSchema(_ current: JSONSchemaProps?, _ r: inout ProtoReader) throws -> JSONSchemaProps {
        var v = current ?? JSONSchemaProps()
        try r.merge(into: &v)
        return v
    }
}
