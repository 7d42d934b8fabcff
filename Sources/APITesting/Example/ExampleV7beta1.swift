import APIMachinery

/// Wire types of example.k8swift.io/v7beta1: `param` and `extraParams` became one list, `params`,
/// and a `paused` flag was added.
public enum ExampleV7beta1 {
    public static let groupVersion = GroupVersion(group: "example.k8swift.io", version: "v7beta1")

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
        public var params: [String] = []
        public var replicas: Int32? = nil
        /// New in v7beta1; v6 objects keep it in an annotation so nothing is lost.
        public var paused: Bool? = nil
        public var turbo: Bool? = nil

        public init() {}
        public init(params: [String] = [], replicas: Int32? = nil, paused: Bool? = nil, turbo: Bool? = nil) {
            self.params = params
            self.replicas = replicas
            self.paused = paused
            self.turbo = turbo
        }
    }
}

extension ExampleV7beta1.Frobber: JSONObjectCodable {
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

extension ExampleV7beta1.FrobberSpec: JSONObjectCodable {
    public func encodeJSONFields(_ w: inout JSONWriter) {
        if !params.isEmpty { w.quotedKey("\"params\":"); params.encodeJSON(&w) }
        if let v = replicas { w.quotedKey("\"replicas\":"); v.encodeJSON(&w) }
        if let v = paused { w.quotedKey("\"paused\":"); v.encodeJSON(&w) }
        if let v = turbo { w.quotedKey("\"turbo\":"); v.encodeJSON(&w) }
    }

    public mutating func decodeJSONField(_ key: JSONKey, _ r: inout JSONReader) throws -> Bool {
        switch key.string {
        case "params": params = try r.array()
        case "replicas": replicas = try r.optional()
        case "paused": paused = try r.optional()
        case "turbo": turbo = try r.optional()
        default: return false
        }
        return true
    }
}

extension ExampleV7beta1.Frobber: ProtoMessage {
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

extension ExampleV7beta1.FrobberSpec: ProtoMessage {
    public func encodeProto(_ w: inout ProtoWriter) {
        for e in params { w.string(0x0A, e) }
        if let v = replicas { w.int32(0x10, v) }
        if let v = paused { w.bool(0x18, v) }
        if let v = turbo { w.bool(0x20, v) }
    }

    public mutating func decodeProtoField(_ field: Int, _ r: inout ProtoReader) throws -> Bool {
        switch field {
        case 1: params.append(try r.string())
        case 2: replicas = try r.int32()
        case 3: paused = try r.bool()
        case 4: turbo = try r.bool()
        default: return false
        }
        return true
    }
}

extension ExampleV7beta1.Frobber: APIKind, TypeMetaCarrier, ObjectMetaCarrier {
    public static let groupVersionKind = GroupVersionKind(
        group: "example.k8swift.io", version: "v7beta1", kind: "Frobber")

    /// Per-version defaulting: v7beta1 also defaults `paused`.
    public mutating func applyDefaults() {
        if spec.replicas == nil { spec.replicas = 1 }
        if spec.paused == nil { spec.paused = false }
    }
}

extension ExampleV7beta1.Frobber: FeatureGatedFields {
    public func gatedFieldsInUse(_ gates: inout Set<String>) {
        if spec.turbo != nil { gates.insert(Example.turboGate) }
    }

    public mutating func dropGatedFields(disabled: Set<String>) {
        if disabled.contains(Example.turboGate) { spec.turbo = nil }
    }
}
