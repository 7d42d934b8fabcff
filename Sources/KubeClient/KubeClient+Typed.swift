import APIAutoscaling
import APICore
import APIMachinery
import APIPolicy
import Foundation

/// A list of one kind, from any list answer (`<Kind>List` in JSON or protobuf share this shape).
public struct ObjectList<T: KubeObject>: Sendable {
    public var metadata = MetaV1.ListMeta()
    public var items: [T] = []
    public init() {}
    public init(metadata: MetaV1.ListMeta, items: [T]) {
        self.metadata = metadata
        self.items = items
    }
}

extension ObjectList: JSONObjectDecodable {
    public mutating func decodeJSONField(_ key: JSONKey, _ r: inout JSONReader) throws -> Bool {
        if key == "metadata" {
            metadata = try r.value()
        } else if key == "items" {
            items = try r.optionalArray() ?? []
        } else {
            return false
        }
        return true
    }
}

extension ObjectList: ProtoMessage {
    public func encodeProto(_ w: inout ProtoWriter) {
        w.message(0x0A, metadata)
        for i in items { w.message(0x12, i) }
    }

    public mutating func decodeProtoField(_ field: Int, _ r: inout ProtoReader) throws -> Bool {
        switch field {
        case 1: try r.merge(into: &metadata)
        case 2: items.append(try r.message())
        default: return false
        }
        return true
    }
}

/// Query parameters of list, watch and deletecollection.
public struct ListOptions: Sendable {
    public var labelSelector: String?
    public var fieldSelector: String?
    public var resourceVersion: String?
    public var resourceVersionMatch: String?
    public var limit: Int?
    public var continueToken: String?
    public var timeoutSeconds: Int?
    public var allowWatchBookmarks = false
    public var sendInitialEvents: Bool?

    public init(
        labelSelector: String? = nil, fieldSelector: String? = nil, resourceVersion: String? = nil,
        resourceVersionMatch: String? = nil, limit: Int? = nil, continueToken: String? = nil,
        timeoutSeconds: Int? = nil, allowWatchBookmarks: Bool = false, sendInitialEvents: Bool? = nil
    ) {
        self.labelSelector = labelSelector
        self.fieldSelector = fieldSelector
        self.resourceVersion = resourceVersion
        self.resourceVersionMatch = resourceVersionMatch
        self.limit = limit
        self.continueToken = continueToken
        self.timeoutSeconds = timeoutSeconds
        self.allowWatchBookmarks = allowWatchBookmarks
        self.sendInitialEvents = sendInitialEvents
    }

    var query: [(name: String, value: String)] {
        var q: [(name: String, value: String)] = []
        if let v = labelSelector, !v.isEmpty { q.append(("labelSelector", v)) }
        if let v = fieldSelector, !v.isEmpty { q.append(("fieldSelector", v)) }
        if let v = resourceVersion { q.append(("resourceVersion", v)) }
        if let v = resourceVersionMatch { q.append(("resourceVersionMatch", v)) }
        if let v = limit { q.append(("limit", String(v))) }
        if let v = continueToken, !v.isEmpty { q.append(("continue", v)) }
        if let v = timeoutSeconds { q.append(("timeoutSeconds", String(v))) }
        if allowWatchBookmarks { q.append(("allowWatchBookmarks", "true")) }
        if let v = sendInitialEvents { q.append(("sendInitialEvents", v ? "true" : "false")) }
        return q
    }
}

/// The four patch types, by content type.
public enum PatchType: String, Sendable {
    case json = "application/json-patch+json"
    case merge = "application/merge-patch+json"
    case strategicMerge = "application/strategic-merge-patch+json"
    case apply = "application/apply-patch+yaml"
}

/// How a DELETE propagates to dependents, and its preconditions.
public struct DeleteOptions: Sendable {
    public var propagationPolicy: String?
    public var gracePeriodSeconds: Int64?
    public var preconditionUID: String?
    public var preconditionResourceVersion: String?
    public var dryRun = false

    public init(
        propagationPolicy: String? = nil, gracePeriodSeconds: Int64? = nil, preconditionUID: String? = nil,
        preconditionResourceVersion: String? = nil, dryRun: Bool = false
    ) {
        self.propagationPolicy = propagationPolicy
        self.gracePeriodSeconds = gracePeriodSeconds
        self.preconditionUID = preconditionUID
        self.preconditionResourceVersion = preconditionResourceVersion
        self.dryRun = dryRun
    }

    public static let background = DeleteOptions(propagationPolicy: "Background")
    public static let foreground = DeleteOptions(propagationPolicy: "Foreground")
    public static let orphan = DeleteOptions(propagationPolicy: "Orphan")

    var body: [UInt8]? {
        var o = MetaV1.DeleteOptions()
        o.kind = "DeleteOptions"
        o.apiVersion = "meta.k8s.io/v1"
        o.propagationPolicy = propagationPolicy
        o.gracePeriodSeconds = gracePeriodSeconds
        if preconditionUID != nil || preconditionResourceVersion != nil {
            o.preconditions = MetaV1.Preconditions(
                uid: preconditionUID, resourceVersion: preconditionResourceVersion)
        }
        if dryRun { o.dryRun = ["All"] }
        var w = JSONWriter()
        o.encodeJSON(&w)
        return w.bytes
    }
}

/// Where a resource is served: group, version, plural, scope.
public struct ResourceLocation: Sendable, Hashable {
    public var group: String
    public var version: String
    public var resource: String
    public var namespaced: Bool

    public init(group: String, version: String, resource: String, namespaced: Bool) {
        self.group = group
        self.version = version
        self.resource = resource
        self.namespaced = namespaced
    }

    public init(_ r: ResourceDescription) {
        self.init(group: r.group, version: r.version, resource: r.resource, namespaced: r.namespaced)
    }

    public var groupVersionResource: GroupVersionResource {
        GroupVersionResource(group: group, version: version, resource: resource)
    }

    func path(namespace: String?, name: String? = nil, subresource: String? = nil) -> String {
        KubeClient.path(
            group: group, version: version, resource: resource, namespaced: namespaced, namespace: namespace,
            name: name, subresource: subresource)
    }
}

/// Accept headers asking for metadata only (what a metadata informer reads).
public enum MetadataAccept {
    public static let list =
        "application/vnd.kubernetes.protobuf;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
    public static let object =
        "application/vnd.kubernetes.protobuf;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json"
}

/// A kind the client does not know a resource for.
public struct UnknownKindError: Error, CustomStringConvertible {
    public var gvk: GroupVersionKind
    public var description: String { "no resource serves \(gvk)" }
}

extension KubeClient {
    static let protobufType = "application/vnd.kubernetes.protobuf"

    /// The resource serving a kind.
    public func resource<T: APIKind>(for _: T.Type) throws -> ResourceDescription {
        guard let r = scheme.resource(forKind: T.groupVersionKind) else {
            throw UnknownKindError(gvk: T.groupVersionKind)
        }
        return r
    }

    /// `/api/v1[/namespaces/ns]/plural[/name[/sub]]` or `/apis/g/v/…`.
    public static func path(
        group: String, version: String, resource: String, namespaced: Bool, namespace: String?, name: String? = nil,
        subresource: String? = nil
    ) -> String {
        var p = group.isEmpty ? "/api/\(version)" : "/apis/\(group)/\(version)"
        if namespaced, let ns = namespace, !ns.isEmpty { p += "/namespaces/\(ns)" }
        p += "/" + resource
        if let name { p += "/" + name }
        if let subresource { p += "/" + subresource }
        return p
    }

    func path(
        _ r: ResourceDescription, namespace: String?, name: String? = nil, subresource: String? = nil
    ) -> String {
        ResourceLocation(r).path(namespace: namespace, name: name, subresource: subresource)
    }

    var acceptHeader: (name: String, value: String) {
        (
            name: "Accept",
            value: config.wireFormat == .protobuf ? "\(Self.protobufType), application/json" : "application/json"
        )
    }

    /// Encodes an object as this client sends it.
    func encodeBody<T: APIKind>(_ obj: T) -> (contentType: String, bytes: [UInt8]) {
        var o = obj
        o.setTypeMetaIfCarried()
        switch config.wireFormat {
        case .protobuf:
            return (Self.protobufType, ProtobufEnvelope.encode(o))
        case .json:
            var w = JSONWriter()
            o.encodeJSON(&w)
            return ("application/json", w.bytes)
        }
    }

    /// Decodes an answer body of one kind, by its content type.
    public static func decode<T: APIKind & TypeMetaCarrier>(_: T.Type, _ resp: KubeResponse) throws -> T {
        try decode(T.self, resp.body, contentType: resp.header("Content-Type"))
    }

    static func decode<T: APIKind & TypeMetaCarrier>(_: T.Type, _ body: [UInt8], contentType: String?) throws -> T {
        if contentType?.hasPrefix(protobufType) == true || body.starts(with: ProtobufEnvelope.magic) {
            let u = try ProtobufEnvelope.unwrap(body)
            var t = try T(protoBytes: u.raw)
            t.kind = u.typeMeta.kind
            t.apiVersion = u.typeMeta.apiVersion
            return t
        }
        return try JSONReader.decode(T.self, from: body)
    }

    static func decodeList<T: KubeObject>(_: T.Type, _ resp: KubeResponse) throws -> ObjectList<T> {
        if resp.header("Content-Type")?.hasPrefix(protobufType) == true {
            let u = try ProtobufEnvelope.unwrap(resp.body)
            var list = try ObjectList<T>(protoBytes: u.raw)
            for i in list.items.indices { list.items[i].setTypeMeta() }
            return list
        }
        var list = try JSONReader.decode(ObjectList<T>.self, from: resp.body)
        for i in list.items.indices { list.items[i].setTypeMeta() }
        return list
    }

    func namespaceFor(_ r: ResourceDescription, _ namespace: String?) -> String? {
        r.namespaced ? (namespace ?? config.namespace) : nil
    }

    // MARK: verbs

    public func get<T: KubeObject>(_: T.Type, _ name: String, namespace: String? = nil) async throws -> T {
        let r = try resource(for: T.self)
        let resp = try await checked(
            KubeRequest(path: path(r, namespace: namespaceFor(r, namespace), name: name), headers: [acceptHeader]))
        return try Self.decode(T.self, resp)
    }

    /// Lists in one namespace, or in all when `namespace` is nil (for namespaced kinds).
    public func list<T: KubeObject>(
        _: T.Type, namespace: String? = nil, options: ListOptions = ListOptions()
    ) async throws -> ObjectList<T> {
        try await list(T.self, at: ResourceLocation(try resource(for: T.self)), namespace: namespace, options: options)
    }

    /// Lists a resource at an explicit location, decoding items as `T` (e.g. PartialObjectMetadata
    /// with `accept` asking for metadata only).
    public func list<T: KubeObject>(
        _: T.Type, at location: ResourceLocation, namespace: String? = nil, options: ListOptions = ListOptions(),
        accept: String? = nil
    ) async throws -> ObjectList<T> {
        let resp = try await checked(
            KubeRequest(
                path: location.path(namespace: namespace), query: options.query,
                headers: [accept.map { (name: "Accept", value: $0) } ?? acceptHeader]))
        return try Self.decodeList(T.self, resp)
    }

    /// Lists every page (following `continue`) into one list.
    public func listAll<T: KubeObject>(
        _: T.Type, at location: ResourceLocation? = nil, namespace: String? = nil,
        options: ListOptions = ListOptions(), accept: String? = nil, pageSize: Int = 500
    ) async throws -> ObjectList<T> {
        let location = try location ?? ResourceLocation(try resource(for: T.self))
        var opts = options
        opts.limit = pageSize
        var out = ObjectList<T>()
        while true {
            let page = try await list(T.self, at: location, namespace: namespace, options: opts, accept: accept)
            out.items += page.items
            out.metadata.resourceVersion = page.metadata.resourceVersion
            guard !page.metadata.continue.isEmpty else { return out }
            opts.continueToken = page.metadata.continue
            opts.resourceVersion = nil
        }
    }

    public func create<T: KubeObject>(_ obj: T, namespace: String? = nil, fieldManager: String? = nil) async throws -> T
    {
        let r = try resource(for: T.self)
        let ns = namespaceFor(r, namespace ?? (obj.metadata.namespace.isEmpty ? nil : obj.metadata.namespace))
        let body = encodeBody(obj)
        var q: [(name: String, value: String)] = []
        if let fieldManager { q.append(("fieldManager", fieldManager)) }
        let resp = try await checked(
            KubeRequest(
                method: "POST", path: path(r, namespace: ns), query: q,
                headers: [acceptHeader, ("Content-Type", body.contentType)], body: body.bytes))
        return try Self.decode(T.self, resp)
    }

    /// Replaces an object (or one of its subresources); the object's resourceVersion is the precondition.
    public func update<T: KubeObject>(_ obj: T, subresource: String? = nil) async throws -> T {
        let r = try resource(for: T.self)
        let ns = namespaceFor(r, obj.metadata.namespace.isEmpty ? nil : obj.metadata.namespace)
        let body = encodeBody(obj)
        let resp = try await checked(
            KubeRequest(
                method: "PUT", path: path(r, namespace: ns, name: obj.metadata.name, subresource: subresource),
                headers: [acceptHeader, ("Content-Type", body.contentType)], body: body.bytes))
        return try Self.decode(T.self, resp)
    }

    public func updateStatus<T: KubeObject>(_ obj: T) async throws -> T { try await update(obj, subresource: "status") }

    public func patch<T: KubeObject>(
        _: T.Type, _ name: String, namespace: String? = nil, type: PatchType, body: [UInt8],
        subresource: String? = nil, fieldManager: String? = nil, force: Bool? = nil
    ) async throws -> T {
        let r = try resource(for: T.self)
        var q: [(name: String, value: String)] = []
        if let fieldManager { q.append(("fieldManager", fieldManager)) }
        if let force { q.append(("force", force ? "true" : "false")) }
        let resp = try await checked(
            KubeRequest(
                method: "PATCH",
                path: path(r, namespace: namespaceFor(r, namespace), name: name, subresource: subresource), query: q,
                headers: [acceptHeader, ("Content-Type", type.rawValue)], body: body))
        return try Self.decode(T.self, resp)
    }

    /// Deletes one object; nothing is answered back (the object, or a Status, depending on the kind).
    public func delete<T: KubeObject>(
        _: T.Type, _ name: String, namespace: String? = nil, options: DeleteOptions = DeleteOptions()
    ) async throws {
        let r = try resource(for: T.self)
        _ = try await checked(
            KubeRequest(
                method: "DELETE", path: path(r, namespace: namespaceFor(r, namespace), name: name),
                headers: [acceptHeader, ("Content-Type", "application/json")], body: options.body))
    }

    public func deleteCollection<T: KubeObject>(
        _: T.Type, namespace: String? = nil, options: ListOptions = ListOptions(),
        deleteOptions: DeleteOptions = DeleteOptions()
    ) async throws {
        let r = try resource(for: T.self)
        _ = try await checked(
            KubeRequest(
                method: "DELETE", path: path(r, namespace: namespaceFor(r, namespace)), query: options.query,
                headers: [acceptHeader, ("Content-Type", "application/json")], body: deleteOptions.body))
    }

    // MARK: subresources

    /// The `scale` subresource of a Deployment, ReplicaSet, StatefulSet or ReplicationController.
    public func scale<T: KubeObject>(_: T.Type, _ name: String, namespace: String? = nil) async throws
        -> AutoscalingV1.Scale
    {
        let r = try resource(for: T.self)
        return try await scale(at: ResourceLocation(r), name, namespace: namespaceFor(r, namespace))
    }

    public func updateScale<T: KubeObject>(_: T.Type, _ scale: AutoscalingV1.Scale) async throws
        -> AutoscalingV1.Scale
    {
        let r = try resource(for: T.self)
        let ns = namespaceFor(r, scale.metadata.namespace.isEmpty ? nil : scale.metadata.namespace)
        var s = scale
        s.metadata.namespace = ns ?? ""
        return try await updateScale(at: ResourceLocation(r), s)
    }

    /// The `scale` subresource of any scalable resource (custom resources included), found by location.
    public func scale(at loc: ResourceLocation, _ name: String, namespace: String?) async throws -> AutoscalingV1.Scale
    {
        let resp = try await checked(
            KubeRequest(path: loc.path(namespace: namespace, name: name, subresource: "scale"), headers: [acceptHeader])
        )
        return try Self.decode(AutoscalingV1.Scale.self, resp)
    }

    public func updateScale(at loc: ResourceLocation, _ scale: AutoscalingV1.Scale) async throws
        -> AutoscalingV1.Scale
    {
        let body = encodeBody(scale)
        let ns = scale.metadata.namespace.isEmpty ? nil : scale.metadata.namespace
        let resp = try await checked(
            KubeRequest(
                method: "PUT", path: loc.path(namespace: ns, name: scale.metadata.name, subresource: "scale"),
                headers: [acceptHeader, ("Content-Type", body.contentType)], body: body.bytes))
        return try Self.decode(AutoscalingV1.Scale.self, resp)
    }

    /// Binds a pod to a node (`pods/binding`), as a scheduler does.
    public func bind(_ binding: CoreV1.Binding, namespace: String) async throws {
        let body = encodeBody(binding)
        _ = try await checked(
            KubeRequest(
                method: "POST",
                path: Self.path(
                    group: "", version: "v1", resource: "pods", namespaced: true, namespace: namespace,
                    name: binding.metadata.name, subresource: "binding"),
                headers: [acceptHeader, ("Content-Type", body.contentType)], body: body.bytes))
    }

    /// Evicts a pod (`pods/eviction`), honouring PodDisruptionBudgets (429 when one forbids it).
    public func evict(_ eviction: PolicyV1.Eviction, namespace: String) async throws {
        let body = encodeBody(eviction)
        _ = try await checked(
            KubeRequest(
                method: "POST",
                path: Self.path(
                    group: "", version: "v1", resource: "pods", namespaced: true, namespace: namespace,
                    name: eviction.metadata.name, subresource: "eviction"),
                headers: [acceptHeader, ("Content-Type", body.contentType)], body: body.bytes))
    }
}
