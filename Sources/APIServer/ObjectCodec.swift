import APIMachinery
import KubernetesAPI

/// The kinds the server stores: generated API kinds with object metadata and a hub.
public typealias StoredKind = APIKind & ObjectMetaCarrier & HubConvertible

/// Wire formats of request and response bodies.
enum WireFormat: Sendable, Equatable {
    case json, yaml, protobuf

    var contentType: String {
        switch self {
        case .json: return "application/json"
        case .yaml: return "application/yaml"
        case .protobuf: return "application/vnd.kubernetes.protobuf"
        }
    }

    /// The format of a request body's `Content-Type`, nil when unsupported.
    init?(contentType: String?) {
        if contentType == nil || contentType == "application/json" {
            self = .json
            return
        }
        let base =
            (contentType ?? "application/json").split(separator: ";").first.map {
                $0.trimmingCharacters(in: .whitespaces).lowercased()
            } ?? ""
        switch base {
        case "application/json", "": self = .json
        case "application/yaml", "application/x-yaml", "text/yaml": self = .yaml
        case "application/vnd.kubernetes.protobuf": self = .protobuf
        default: return nil
        }
    }
}

/// A decoded request body, with the unknown and duplicate fields strict decoding reports.
struct Decoded<V> {
    var object: V
    var unknownFields: [String]
    var duplicateFields: [String]
}

enum BodyDecodingError: Error {
    case malformed(String)
    case missingKind
}

enum ObjectDecoding {
    /// Decodes one object of type V from a body in `format`.
    static func decode<V: APIKind>(_: V.Type, _ bytes: [UInt8], format: WireFormat, track: Bool) throws -> Decoded<V> {
        switch format {
        case .json:
            return try decodeJSON(V.self, bytes, track: track)
        case .yaml:
            let text = String(decoding: bytes, as: UTF8.self)
            let json: [UInt8]
            do { json = try YAML.toJSON(text) } catch { throw BodyDecodingError.malformed("\(error)") }
            return try decodeJSON(V.self, json, track: track)
        case .protobuf:
            do {
                let u = try ProtobufEnvelope.unwrap(bytes)
                return Decoded(object: try V(protoBytes: u.raw), unknownFields: [], duplicateFields: [])
            } catch {
                throw BodyDecodingError.malformed("\(error)")
            }
        }
    }

    static func decodeJSON<V: JSONDecodableValue>(_: V.Type, _ bytes: [UInt8], track: Bool) throws -> Decoded<V> {
        do {
            return try bytes.withUnsafeBufferPointer { buf in
                var r = JSONReader(buf, trackFields: track)
                let v: V = try r.value()
                try r.expectEnd()
                return Decoded(object: v, unknownFields: r.unknownFields, duplicateFields: r.duplicateFields)
            }
        } catch let e as JSONDecodingError {
            throw BodyDecodingError.malformed(e.message)
        }
    }
}

/// One served version of a resource whose objects are stored as T: decodes bodies of the version,
/// applies its defaults and converts to T through the hub; encodes T as the version.
struct VersionCodec<T: StoredKind>: Sendable {
    let groupVersionKind: GroupVersionKind
    /// Decodes a body as this version, defaulted and converted to T. Returns the decoded apiVersion
    /// and kind so the caller can check them.
    let decode: @Sendable (_ bytes: [UInt8], _ format: WireFormat, _ track: Bool) throws -> DecodedBody<T>
    /// JSON of an object as a list item (no `kind`/`apiVersion`).
    let itemJSON: @Sendable (T) -> [UInt8]
    /// Protobuf of an object (no envelope).
    let itemProto: @Sendable (T) -> [UInt8]
    /// Decodes this version from JSON without defaulting (patch results); converts to T.
    let fromJSONValue: @Sendable (_ bytes: [UInt8], _ track: Bool) throws -> DecodedBody<T>
    /// Whether `itemJSON` already carries `apiVersion` and `kind` (custom resources: their list
    /// items carry them too, as upstream's unstructured lists do).
    var itemsCarryTypeMeta = false
    /// Whether the version has a protobuf form (custom resources have none).
    var offersProtobuf = true

    static func make<V: StoredKind>(_ v: V.Type, storage: T.Type) -> VersionCodec<T> {
        make(
            V.self, storage: T.self,
            toStorage: { x in
                if let same = x as? T { return same }
                return T(hub: x.toHub() as! T.Hub)
            },
            fromStorage: { x in
                if let same = x as? V { return same }
                return V(hub: x.toHub() as! V.Hub)
            })
    }

    /// A codec whose version converts to storage by the given functions (kinds stored as another
    /// group's kind, such as events.k8s.io Events).
    static func make<V: APIKind>(
        _ v: V.Type, storage: T.Type, toStorage: @escaping @Sendable (V) -> T,
        fromStorage: @escaping @Sendable (T) -> V
    ) -> VersionCodec<T> {
        @Sendable func finish(_ d: Decoded<V>) -> DecodedBody<T> {
            var obj = d.object
            let tm = (obj as? any TypeMetaCarrier).map { ($0.apiVersion, $0.kind) } ?? ("", "")
            obj.applyDefaults()
            var t = toStorage(obj)
            if var c = t as? any TypeMetaCarrier {
                c.kind = ""
                c.apiVersion = ""
                t = c as! T
            }
            return DecodedBody(
                object: t, apiVersion: tm.0, kind: tm.1, unknownFields: d.unknownFields,
                duplicateFields: d.duplicateFields)
        }
        return VersionCodec(
            groupVersionKind: V.groupVersionKind,
            decode: { bytes, format, track in
                finish(try ObjectDecoding.decode(V.self, bytes, format: format, track: track))
            },
            itemJSON: { t in
                var w = JSONWriter(capacity: 512)
                fromStorage(t).encodeJSON(&w)
                return w.bytes
            },
            itemProto: { t in fromStorage(t).protoBytes() },
            fromJSONValue: { bytes, track in finish(try ObjectDecoding.decodeJSON(V.self, bytes, track: track)) }
        )
    }

    /// JSON of a single object: the item JSON with `kind` and `apiVersion` spliced in front.
    func objectJSON(_ t: T) -> [UInt8] { typed(itemJSON(t)) }

    /// An item's JSON as a whole object (with `kind` and `apiVersion`).
    func typed(_ item: [UInt8]) -> [UInt8] {
        itemsCarryTypeMeta ? item : Self.withTypeMeta(item, groupVersionKind)
    }

    static func withTypeMeta(_ item: [UInt8], _ gvk: GroupVersionKind) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(item.count + 64)
        out.append(contentsOf: "{\"kind\":\"\(gvk.kind)\",\"apiVersion\":\"\(gvk.apiVersion)\"".utf8)
        if item.count > 2 { out.append(UInt8(ascii: ",")) }
        out.append(contentsOf: item.dropFirst())
        return out
    }

    /// Protobuf of a single object in the `k8s\0` envelope.
    func objectProto(_ t: T) -> [UInt8] {
        ProtobufEnvelope.wrap(itemProto(t), apiVersion: groupVersionKind.apiVersion, kind: groupVersionKind.kind)
    }
}

struct DecodedBody<T> {
    var object: T
    var apiVersion: String
    var kind: String
    var unknownFields: [String]
    var duplicateFields: [String]
}
