import APIMachinery

/// A custom resource's object: typed metadata, every other top-level field kept as JSON (upstream's
/// unstructured object). Its kind and version come from the CRD, so they live in the instance and
/// in the per-version codecs, never in the type.
struct CustomObject: APIKind, ObjectMetaCarrier, HubConvertible, TypeMetaCarrier {
    /// Unused: every codec of a custom resource carries its own group, version and kind.
    static let groupVersionKind = GroupVersionKind(group: "", version: "", kind: "")
    typealias Hub = CustomObject

    var apiVersion = ""
    var kind = ""
    var metadata = MetaV1.ObjectMeta()
    /// The top-level fields other than apiVersion, kind and metadata (spec, status, data, …).
    var fields: [(key: String, value: JSONValue)] = []

    init() {}

    init(hub: CustomObject) { self = hub }
    func toHub() -> CustomObject { self }

    static func == (a: CustomObject, b: CustomObject) -> Bool {
        a.apiVersion == b.apiVersion && a.kind == b.kind && a.metadata == b.metadata
            && JSONValue.object(a.fields) == JSONValue.object(b.fields)
    }

    subscript(field: String) -> JSONValue? {
        get { fields.first { $0.key == field }?.value }
        set {
            if let i = fields.firstIndex(where: { $0.key == field }) {
                if let newValue { fields[i].value = newValue } else { fields.remove(at: i) }
            } else if let newValue {
                fields.append((field, newValue))
            }
        }
    }

    /// The whole object as one JSON value (metadata included).
    var jsonValue: JSONValue {
        (try? JSONValue.parse(jsonBytes)) ?? .object([])
    }

    /// The object's JSON, with `apiVersion` and `kind` first, as upstream writes custom resources.
    var jsonBytes: [UInt8] {
        var w = JSONWriter(capacity: 512)
        encodeJSON(&w)
        return w.bytes
    }

    /// Builds an object from a whole JSON value; fails when it is not an object or its metadata
    /// does not decode.
    init(json value: JSONValue) throws {
        self = try JSONReader.decode(CustomObject.self, from: value.jsonBytes)
    }
}

extension CustomObject: JSONObjectCodable {
    func encodeJSONFields(_ w: inout JSONWriter) {
        if !apiVersion.isEmpty {
            w.key("apiVersion")
            w.string(apiVersion)
        }
        if !kind.isEmpty {
            w.key("kind")
            w.string(kind)
        }
        w.key("metadata")
        metadata.encodeJSON(&w)
        for (k, v) in fields {
            w.key(k)
            v.encodeJSON(&w)
        }
    }

    mutating func decodeJSONField(_ key: JSONKey, _ r: inout JSONReader) throws -> Bool {
        if key == "apiVersion" {
            apiVersion = (try r.optional() as String?) ?? ""
        } else if key == "kind" {
            kind = (try r.optional() as String?) ?? ""
        } else if key == "metadata" {
            metadata = (try r.optional() as MetaV1.ObjectMeta?) ?? MetaV1.ObjectMeta()
        } else {
            let name = key.string
            let v = try JSONValue(json: &r)
            if let i = fields.firstIndex(where: { $0.key == name }) {
                fields[i].value = v
            } else {
                fields.append((name, v))
            }
        }
        return true
    }
}

/// Custom resources have no protobuf form (upstream offers none); the store keeps them as JSON.
/// These exist for the generic store's type requirements and carry the JSON in field 1.
extension CustomObject: ProtoMessage {
    func encodeProto(_ w: inout APIMachinery.ProtoWriter) { w.bytes(0x0A, jsonBytes) }

    mutating func decodeProtoField(_ field: Int, _ r: inout APIMachinery.ProtoReader) throws -> Bool {
        guard field == 1 else { return false }
        let b = try r.bytes()
        self = try JSONReader.decode(CustomObject.self, from: b)
        return true
    }
}
