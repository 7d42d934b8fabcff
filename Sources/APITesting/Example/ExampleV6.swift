import APIMachinery

// The worked example of docs/api-changes.md: group `example.k8swift.io`, kind Frobber, served as
// v6 (the storage version) and v7beta1. In real groups this wire-type code is generated from the
// OpenAPI spec; here it is written out to show what the generator produces.

/// Wire types of example.k8swift.io/v6.
public enum ExampleV6 {
    public static let groupVersion = GroupVersion(group: "example.k8swift.io", version: "v6")

    public struct Frobber: Equatable, Sendable {
        public var kind: String = ""
        public var apiVersion: String = ""
        public var metadata = MetaV1.ObjectMeta()
        public var spec = FrobberSpec()

        public init() {}
        public init(metadata: MetaV1.ObjectMeta = MetaV1.ObjectMeta(), spec: FrobberSpec = FrobberSpec()) {
            self.metadata = metadata
            self.spec = spec
        }
    }

    public struct FrobberSpec: Equatable, Sendable {
        /// The primary parameter (v6 splits what v7beta1 calls `params`).
        public var param: String = ""
        /// The other parameters.
        public var extraParams: [String] = []
        /// A pointer field: nil (unset, defaulted to 1) differs from 0.
        public var replicas: Int32? = nil
        /// Alpha, behind the FrobberTurbo gate.
        public var turbo: Bool? = nil

        public init() {}
        public init(param: String = "", extraParams: [String] = [], replicas: Int32? = nil, turbo: Bool? = nil) {
            self.param = param
            self.extraParams = extraParams
            self.replicas = replicas
            self.turbo = turbo
        }
    }
}

extension ExampleV6.Frobber: JSONObjectCodable {
    public func encodeJSONFields(_ w: inout JSONWriter) {
        if !kind.isEmpty { w.quotedKey("\"kind\":"); w.string(kind) }
        if !apiVersion.isEmpty { w.quotedKey("\"apiVersion\":"); w.string(apiVersion) }
        w.quotedKey("\"metadata\":")
        metadata.encodeJSON(&w)
        w.quotedKey("\"spec\":")
        spec.encodeJSON(&w)
    }

    public mutating func decodeJSONField(_ key: JSONKey, _ r: inout JSONReader) throws -> Bool {
        switch key.string {
        case "kind": kind = try r.value()
        case "apiVersion": apiVersion = try r.value()
        case "metadata": metadata = try r.value()
        case "spec": spec = try r.value()
        default: return false
        }
        return true
    }
}

extension ExampleV6.FrobberSpec: JSONObjectCodable {
    public func encodeJSONFields(_ w: inout JSONWriter) {
        w.quotedKey("\"param\":")
        w.string(param)
        if !extraParams.isEmpty { w.quotedKey("\"extraParams\":"); extraParams.encodeJSON(&w) }
        if let v = replicas { w.quotedKey("\"replicas\":"); v.encodeJSON(&w) }
        if let v = turbo { w.quotedKey("\"turbo\":"); v.encodeJSON(&w) }
    }

    public mutating func decodeJSONField(_ key: JSONKey, _ r: inout JSONReader) throws -> Bool {
        switch key.string {
        case "param": param = try r.value()
        case "extraParams": extraParams = try r.array()
        case "replicas": replicas = try r.optional()
        case "turbo": turbo = try r.optional()
        default: return false
        }
        return true
    }
}

extension ExampleV6.Frobber: ProtoMessage {
    public func encodeProto(_ w: inout ProtoWriter) {
        w.message(0x0A, metadata)
        w.message(0x12, spec)
    }

    public mutating func decodeProtoField(_ field: Int, _ r: inout ProtoReader) throws -> Bool {
        switch field {
        case 1: try r.merge(into: &metadata)
        case 2: try r.merge(into: &spec)
        default: return false
        }
        return true
    }
}

extension ExampleV6.FrobberSpec: ProtoMessage {
    public func encodeProto(_ w: inout ProtoWriter) {
        w.string(0x0A, param)
        for e in extraParams { w.string(0x12, e) }
        if let v = replicas { w.int32(0x18, v) }
        if let v = turbo { w.bool(0x20, v) }
    }

    public mutating func decodeProtoField(_ field: Int, _ r: inout ProtoReader) throws -> Bool {
        switch field {
        case 1: param = try r.string()
        case 2: extraParams.append(try r.string())
        case 3: replicas = try r.int32()
        case 4: turbo = try r.bool()
        default: return false
        }
        return true
    }
}

extension ExampleV6.Frobber: APIKind, TypeMetaCarrier, ObjectMetaCarrier {
    public static let groupVersionKind = GroupVersionKind(group: "example.k8swift.io", version: "v6", kind: "Frobber")

    /// Per-version defaulting: v6 defaults only replicas.
    public mutating func applyDefaults() {
        if spec.replicas == nil { spec.replicas = 1 }
    }
}

extension ExampleV6.Frobber: FeatureGatedFields {
    public func gatedFieldsInUse(_ gates: inout Set<String>) {
        if spec.turbo != nil { gates.insert(Example.turboGate) }
    }

    public mutating func dropGatedFields(disabled: Set<String>) {
        if disabled.contains(Example.turboGate) { spec.turbo = nil }
    }
}
