import APIMachinery
import Foundation
import KubernetesAPI
import NIOHTTP1
import Storage

/// Type-erased access to one resource (all its served versions), used by the router.
protocol ResourceHandler: AnyObject, Sendable {
    var resource: ResourceDescription { get }
    /// Whether objects have a protobuf form (custom resources have none).
    var offersProtobuf: Bool { get }
    func handle(_ req: ResourceRequest) async throws -> HTTPResponse
    /// Objects in a version's JSON from the cache: one by name, or those a selector picks.
    func cachedJSON(apiVersion: String, namespace: String, name: String?, selector: MetaV1.LabelSelector?)
        -> [JSONValue]
}

/// Per-resource behaviour beyond the generic REST semantics (upstream's registry strategies).
struct ResourceStrategy<T: StoredKind>: Sendable {
    /// Resets status on create and keeps it on main-resource updates (has a status subresource).
    var hasStatus = false
    /// `metadata.generation` starts at 1 and bumps when anything but metadata and status changes.
    var tracksGeneration = false
    var allowCreateOnUpdate = false
    var returnsDeletedObject = false
    /// Changes made on create after defaulting (upstream's PrepareForCreate).
    var prepareForCreate: (@Sendable (inout T) -> Void)? = nil
    /// Checks and allocations on create that may fail (cluster IPs, node ports).
    var admitCreate: (@Sendable (inout T) async throws -> Void)? = nil
    var admitUpdate: (@Sendable (inout T, T) async throws -> Void)? = nil
    /// Called after a delete is committed (release allocations).
    var afterDelete: (@Sendable (T) async -> Void)? = nil
    /// Decides a graceful delete: returns the grace period to record, or nil to delete now.
    var gracePeriod: (@Sendable (T, Int64?) -> Int64?)? = nil
    /// Whether nothing holds a deleted object any more (no finalizers); namespaces also wait for
    /// their `spec.finalizers` (upstream's `ShouldDeleteDuringUpdate`).
    var finalized: @Sendable (T) -> Bool = { $0.metadata.finalizers.isEmpty }
    /// Validation of kinds that are not `Validated` by type (custom resources: their schema);
    /// the old object on update.
    var validate: (@Sendable (T, T?) -> ErrorList)? = nil
    /// Generation also bumps on status changes (custom resources without a status subresource).
    var generationCountsStatus = false
    /// The body media types PATCH accepts, in upstream's order (custom resources take no
    /// strategic merge patch).
    var strategicMergePatch = true
    /// Refuses creates (a custom resource whose definition is being deleted).
    var refuseCreate: (@Sendable () -> APIError?)? = nil
}

/// The generic REST store of one resource: objects of type T (its storage version) in the store
/// under `keyPrefix`, served in every version in `codecs`, read from the watch cache.
final class ResourceStore<T: StoredKind>: ResourceHandler, @unchecked Sendable {
    let resource: ResourceDescription
    let groupResource: GroupResource
    let storageCodec: VersionCodec<T>
    /// Codecs by apiVersion (`v1`, `events.k8s.io/v1`); set while the registry is built.
    var codecs: [String: VersionCodec<T>]
    let keyPrefix: String
    let cache: WatchCache<T>
    let server: ServerContext
    let strategy: ResourceStrategy<T>
    let fieldLabels: Set<String>
    /// Objects are stored as JSON of the storage version (custom resources, as upstream), not as
    /// enveloped protobuf.
    let jsonStorage: Bool
    /// Table columns by apiVersion when they are not the built-in ones of the resource (custom
    /// resources' `additionalPrinterColumns`).
    var tableColumns: [String: [TableBuilder.Column]] = [:]
    /// Conversion of objects to a version by a webhook (custom resources with `Webhook`
    /// conversion); objects already in the version are left as they are.
    var webhookConversion: (@Sendable ([T], _ apiVersion: String) async throws -> [T])? = nil
    /// Field ownership (managedFields) of writes; nil records none.
    var fieldManager: FieldManager? = nil
    /// Warnings every response of a version carries (deprecated custom resource versions).
    var versionWarnings: [String: String] = [:]
    /// Where the `scale` subresource finds replicas and the selector.
    var scalePaths = ScalePaths.builtIn

    init(
        resource: ResourceDescription, storageCodec: VersionCodec<T>, codecs: [String: VersionCodec<T>],
        keyPrefix: String, server: ServerContext, strategy: ResourceStrategy<T>, fieldLabels: Set<String>,
        fieldsOf: @escaping @Sendable (T) -> [String: String], jsonStorage: Bool = false
    ) {
        self.resource = resource
        self.groupResource = resource.groupResource
        self.storageCodec = storageCodec
        self.codecs = codecs
        self.keyPrefix = keyPrefix
        self.server = server
        self.strategy = strategy
        self.fieldLabels = fieldLabels
        self.jsonStorage = jsonStorage
        cache = WatchCache<T>(
            keyPrefix: keyPrefix,
            decode: { kv in
                var t: T
                if jsonStorage {
                    // Decoding defaults what the schema defaults (upstream defaults on read).
                    t = try storageCodec.fromJSONValue(kv.value, false).object
                } else {
                    let u = try ProtobufEnvelope.unwrap(kv.value)
                    t = try T(protoBytes: u.raw)
                    t.applyDefaults()
                }
                t.metadata.resourceVersion = String(kv.modRevision)
                return t
            }, fieldsOf: fieldsOf)
    }

    var groupKind: GroupKind { GroupKind(group: resource.group, kind: resource.kind) }
    var offersProtobuf: Bool { storageCodec.offersProtobuf }

    func key(namespace: String, name: String) -> StorageKey {
        resource.namespaced ? StorageKey("\(keyPrefix)\(namespace)/\(name)") : StorageKey("\(keyPrefix)\(name)")
    }

    func codec(_ version: String) -> VersionCodec<T> { codecs[version] ?? storageCodec }

    // MARK: Dispatch

    func handle(_ req: ResourceRequest) async throws -> HTTPResponse {
        var r: HTTPResponse
        switch req.verb {
        case .create, .update, .patch, .delete, .deletecollection:
            // Writes run in a scope admission reads (who, which version) and adds warnings to.
            let scope = RequestScope(
                groupResource: groupResource, apiVersion: req.version, subresource: req.subresource, user: req.user,
                dryRun: req.isDryRun, fieldManager: req.query["fieldManager"] ?? "")
            r = try await RequestScope.$current.withValue(scope) { try await dispatch(req) }
            for w in scope.warnings { r.headers.add(name: "Warning", value: "299 - \(GoQuote.quote(w))") }
        default:
            r = try await dispatch(req)
        }
        if let warning = versionWarnings[req.version] {
            r.headers.add(name: "Warning", value: "299 - \(GoQuote.quote(warning))")
        }
        return r
    }

    func dispatch(_ req: ResourceRequest) async throws -> HTTPResponse {
        switch (req.verb, req.subresource) {
        case (.get, ""): return try await get(req)
        case (.list, ""): return try await list(req)
        case (.watch, ""): return try await watch(req)
        case (.create, ""): return try await create(req)
        case (.update, ""), (.update, "status"): return try await update(req)
        case (.patch, ""), (.patch, "status"): return try await patch(req)
        case (.update, "approval") where groupResource.resource == "certificatesigningrequests":
            return try await update(req)
        case (.patch, "approval") where groupResource.resource == "certificatesigningrequests":
            return try await patch(req)
        case (.get, "approval") where groupResource.resource == "certificatesigningrequests":
            return try await get(req)
        case (.delete, ""): return try await delete(req)
        case (.deletecollection, ""): return try await deleteCollection(req)
        case (.get, "status"): return try await get(req)
        case (.get, "ephemeralcontainers") where groupResource.resource == "pods": return try await get(req)
        case (.update, "ephemeralcontainers") where groupResource.resource == "pods": return try await update(req)
        case (.patch, "ephemeralcontainers") where groupResource.resource == "pods": return try await patch(req)
        case (.get, "resize") where groupResource.resource == "pods": return try await get(req)
        case (.update, "resize") where groupResource.resource == "pods": return try await update(req)
        case (.patch, "resize") where groupResource.resource == "pods": return try await patch(req)
        case (.get, "scale"), (.update, "scale"), (.patch, "scale"): return try await scale(req)
        case (.create, "binding"): return try await bind(req)
        case (.create, "eviction"): return try await evict(req)
        case (.update, "finalize"): return try await update(req)
        default: throw APIError.notFound(groupResource, req.name)
        }
    }

    // MARK: Reads

    /// Plans a consistent read (see `ConsistentReads`).
    func consistentRevision() async throws -> ConsistentReads.Plan { try await server.consistentReads.plan() }

    /// The object as of the store's current revision: from the cache when it is provably fresh,
    /// otherwise read from the store.
    func freshCurrent(_ namespace: String, _ name: String) async throws -> CachedObject<T>? {
        if case .cache = try await consistentRevision() { return current(namespace, name) }
        return try await storedCurrent(namespace, name)
    }

    /// The objects matching `f` as of the store's current revision: from the cache when it is
    /// provably fresh, otherwise read from the store.
    func freshList(_ f: ObjectFilter) async throws -> (revision: Revision, items: [CachedObject<T>]) {
        if case .store(let r) = try await consistentRevision() { return try await listFromStore(f, at: r, after: nil) }
        return cache.snapshot(f)
    }

    /// The object read from the store (a quorum read on etcd).
    func storedCurrent(_ namespace: String, _ name: String) async throws -> CachedObject<T>? {
        guard let kv = try await server.store.get(key(namespace: namespace, name: name), at: nil) else { return nil }
        return cache.makeEntry(kv)
    }

    /// Waits for a requested minimum revision (resourceVersion=N, NotOlderThan semantics); with no
    /// resourceVersion, plans a consistent read (`.store` when the cache cannot prove it is fresh).
    func awaitRevision(_ rv: String?) async throws -> ConsistentReads.Plan? {
        guard let rv, !rv.isEmpty, rv != "0" else {
            if rv == nil || rv!.isEmpty { return try await server.consistentReads.plan() }
            return nil
        }
        guard let n = Int64(rv) else {
            throw APIError.badRequest("invalid resource version \"\(rv)\"")
        }
        if !(await server.feeder.wait(for: n)) {
            throw APIError.timeout(
                "Too large resource version: \(n), current: \(server.feeder.revision)", retryAfter: 1)
        }
        return nil
    }

    func current(_ namespace: String, _ name: String) -> CachedObject<T>? {
        cache.get(key(namespace: namespace, name: name).rawValue).object
    }

    func get(_ req: ResourceRequest) async throws -> HTTPResponse {
        let obj: CachedObject<T>?
        if case .store = try await awaitRevision(req.query["resourceVersion"]) {
            obj = try await storedCurrent(req.namespace, req.name)
        } else {
            obj = current(req.namespace, req.name)
        }
        guard let obj else { throw APIError.notFound(groupResource, req.name) }
        return try await respond(obj, req, status: .ok)
    }

    func filter(_ req: ResourceRequest) throws -> ObjectFilter {
        var f = ObjectFilter()
        if resource.namespaced && !req.namespace.isEmpty { f.namespace = req.namespace }
        if let ls = req.query["labelSelector"], !ls.isEmpty {
            let sel = try Selectors.parseLabelSelector(ls)
            f.labels = sel
        }
        if let fs = req.query["fieldSelector"], !fs.isEmpty {
            let (match, fields, exactName) = try Selectors.parseFieldSelector(fs)
            for field in fields where !fieldLabels.contains(field) {
                throw APIError.badRequest("field label not supported: \(field)")
            }
            f.fields = match
            if let n = exactName { f.name = n }
        }
        return f
    }

    func list(_ req: ResourceRequest) async throws -> HTTPResponse {
        if req.query["watch"] == "true" || req.query["watch"] == "1" { return try await watch(req) }
        let f = try filter(req)
        let limit = req.query["limit"].flatMap(Int.init).flatMap { $0 > 0 ? $0 : nil }
        let rv = req.query["resourceVersion"]
        let match = req.query["resourceVersionMatch"] ?? ""
        var items: [CachedObject<T>]
        var revision: Revision
        var continueToken: String? = nil
        var remaining: Int64? = nil
        if let token = req.query["continue"], !token.isEmpty {
            guard let c = ContinueToken.decode(token) else {
                throw APIError.badRequest("continue key is not valid: invalid continue token")
            }
            if let rv, !rv.isEmpty {
                throw APIError.badRequest("specifying resource version is not allowed when using continue")
            }
            (revision, items) = try await listFromStore(f, at: c.revision, after: c.start)
        } else if match == "Exact", let rv, let n = Int64(rv) {
            (revision, items) = try await listFromStore(f, at: n, after: nil)
        } else {
            if !match.isEmpty && match != "NotOlderThan" && match != "Exact" {
                throw APIError.badRequest(
                    "resourceVersionMatch: Unsupported value: \"\(match)\": supported values: \"Exact\", \"NotOlderThan\", \"\""
                )
            }
            if case .store(let rev) = try await awaitRevision(rv) {
                (revision, items) = try await listFromStore(f, at: rev, after: nil)
            } else {
                (revision, items) = cache.snapshot(f)
                revision = max(revision, server.feeder.revision)
            }
        }
        if let limit, items.count > limit {
            let last = items[limit - 1]
            remaining = Int64(items.count - limit)
            items = Array(items[..<limit])
            continueToken = ContinueToken(revision: revision, start: String(last.key.dropFirst(keyPrefix.count)))
                .encoded(prefix: keyPrefix)
            if f.labels != nil || f.fields != nil { remaining = nil }
        }
        return try await respondList(items, revision: revision, continue: continueToken, remaining: remaining, req)
    }

    /// A list at a past revision, from the store (continue tokens, `resourceVersionMatch=Exact`).
    func listFromStore(_ f: ObjectFilter, at revision: Revision, after start: String?) async throws -> (
        Revision, [CachedObject<T>]
    ) {
        let range: KeyRange =
            resource.namespaced && f.namespace != nil ? .prefix("\(keyPrefix)\(f.namespace!)/") : .prefix(keyPrefix)
        var out: [CachedObject<T>] = []
        var after = start.map { StorageKey(keyPrefix + $0) }
        do {
            repeat {
                let page = try await server.store.list(range, at: revision, limit: 1000, continueAfter: after)
                for kv in page.items {
                    if let e = cache.makeEntry(kv), e.matches(f) { out.append(e) }
                }
                after = page.hasMore ? page.items.last?.key : nil
            } while after != nil
        } catch StorageError.compacted {
            throw APIError.expired(
                "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list."
            )
        } catch StorageError.futureRevision(let r, let c) {
            throw APIError.timeout("Too large resource version: \(r), current: \(c)")
        }
        return (revision, out)
    }

    // MARK: Writes

    func decodeBody(_ req: ResourceRequest, codec: VersionCodec<T>) throws -> (T, warnings: [String]) {
        let ct = req.request.headers.first(name: "content-type")
        guard let format = WireFormat(contentType: ct), format != .protobuf || codec.offersProtobuf else {
            throw codec.offersProtobuf ? APIError.unsupportedMediaType : APIError.unsupportedMediaTypeJSONYAML
        }
        let validation = req.query["fieldValidation"] ?? "Warn"
        if !["Strict", "Warn", "Ignore"].contains(validation) {
            throw APIError.badRequest(
                "fieldValidation: Unsupported value: \"\(validation)\": supported values: \"Ignore\", \"Strict\", \"Warn\""
            )
        }
        let gvk = codec.groupVersionKind
        let decoded: DecodedBody<T>
        do {
            decoded = try codec.decode(req.body, format, validation != "Ignore")
        } catch BodyDecodingError.malformed(let m) {
            let snippet = String(decoding: req.body.prefix(30), as: UTF8.self)
            let more = req.body.count > 30 ? " ..." : ""
            if format == .protobuf {
                throw APIError.badRequest(
                    "the object provided is unrecognized (must be of type \(gvk.kind)): \(m)")
            }
            throw APIError.badRequest(
                "the object provided is unrecognized (must be of type \(gvk.kind)): couldn't get version/kind; json parse error: \(m) (\(snippet)\(more))"
            )
        }
        // A missing kind or apiVersion defaults to the endpoint's (upstream's default GVK).
        if format != .protobuf {
            let kind = decoded.kind.isEmpty ? gvk.kind : decoded.kind
            let apiVersion = decoded.apiVersion.isEmpty ? gvk.apiVersion : decoded.apiVersion
            if apiVersion != gvk.apiVersion {
                throw APIError.badRequest(
                    "the API version in the data (\(apiVersion)) does not match the expected API version (\(gvk.apiVersion))"
                )
            }
            if kind != gvk.kind {
                throw APIError.badRequest(
                    "the kind in the data (\(kind)) does not match the expected kind (\(gvk.kind))")
            }
        }
        var problems = decoded.unknownFields.map { "unknown field \"\($0)\"" }
        problems += decoded.duplicateFields.map { "duplicate field \"\($0)\"" }
        if validation == "Strict" && !problems.isEmpty {
            throw APIError.badRequest(
                "\(gvk.kind) in version \"\(gvk.version)\" cannot be handled as a \(gvk.kind): strict decoding error: \(problems.joined(separator: ", "))"
            )
        }
        return (decoded.object, validation == "Warn" ? problems : [])
    }

    func checkNamespace(_ req: ResourceRequest, _ meta: inout MetaV1.ObjectMeta) throws {
        if resource.namespaced {
            if meta.namespace.isEmpty { meta.namespace = req.namespace }
            if meta.namespace != req.namespace {
                throw APIError.badRequest(
                    "the namespace of the provided object does not match the namespace sent on the request")
            }
        } else {
            meta.namespace = ""
        }
    }

    func create(_ req: ResourceRequest) async throws -> HTTPResponse {
        if let refused = strategy.refuseCreate?() { throw refused }
        let codec = self.codec(req.version)
        var (obj, warnings) = try decodeBody(req, codec: codec)
        AuditAnnotations.current?.setObject(
            namespace: obj.metadata.namespace, name: obj.metadata.name, json: codec.objectJSON(obj))
        obj = try await toStorage(obj)
        try checkNamespace(req, &obj.metadata)
        let stored = try await createObject(obj, dryRun: req.isDryRun, manager: try FieldManagerContext(req))
        return try await respond(stored, req, status: .created, warnings: warnings)
    }

    /// Creates an object (already defaulted, in storage form): metadata, strategy, validation,
    /// admission, the store write, then waits for the cache to hold it.
    func createObject(_ input: T, dryRun: Bool = false, manager: FieldManagerContext? = nil) async throws
        -> CachedObject<T>
    {
        // A generated name that collides is generated again (upstream's RetryGenerateName).
        var attempt = 0
        while true {
            do {
                return try await createOnce(input, dryRun: dryRun, manager: manager)
            } catch let e as APIError
                where e.reason == "AlreadyExists" && input.metadata.name.isEmpty && !input.metadata.generateName.isEmpty
                && attempt < 7
            {
                attempt += 1
            }
        }
    }

    func createOnce(_ input: T, dryRun: Bool, manager: FieldManagerContext? = nil) async throws -> CachedObject<T> {
        var obj = input
        // Ownership is of what the client sent (defaulted), before the server fills in the rest
        // (allocations, status), as upstream records it before the registry's create.
        if let manager, obj.metadata.managedFields.isEmpty { trackCreate(&obj, manager) }
        if resource.namespaced { try server.admitNamespace(obj.metadata.namespace) }
        try await admitMutating(&obj, old: nil, "CREATE", dryRun: dryRun)
        if obj.metadata.name.isEmpty && !obj.metadata.generateName.isEmpty {
            obj.metadata.name = obj.metadata.generateName + Names.randomSuffix()
        }
        obj.metadata.uid = UUID().uuidString.lowercased()
        obj.metadata.creationTimestamp = Time(seconds: Int64(Date().timeIntervalSince1970))
        obj.metadata.resourceVersion = ""
        obj.metadata.deletionTimestamp = nil
        obj.metadata.deletionGracePeriodSeconds = nil
        obj.metadata.selfLink = ""
        if strategy.tracksGeneration { obj.metadata.generation = 1 }
        if strategy.hasStatus { obj = try JSONSurgery.replacing(obj, key: "status", with: nil, codec: storageCodec) }
        server.gates.dropDisabledFieldsAny(&obj, old: nil)
        strategy.prepareForCreate?(&obj)
        var errs: ErrorList
        if let validate = strategy.validate {
            errs = validate(obj, nil)
        } else if let v = obj as? any Validated {
            errs = v.validate()
        } else {
            errs = MetaValidation.validateObjectMeta(
                obj.metadata, namespaced: resource.namespaced, nameRule: .dns1123Subdomain)
        }
        if obj.metadata.name.isEmpty && !errs.contains(where: { $0.field.description == "metadata.name" }) {
            errs.insert(.required(FieldPath("metadata", "name"), "name or generateName is required"), at: 0)
        }
        if !errs.isEmpty { throw APIError.invalid(groupKind, obj.metadata.name, errs) }
        try await admitValidating(obj, old: nil, "CREATE", dryRun: dryRun)
        if resource.namespaced {
            try await QuotaAdmission(server: server).admit(
                groupResource, name: obj.metadata.name, namespace: obj.metadata.namespace,
                item: QuotaAdmission.item(obj, groupResource), old: nil, dryRun: dryRun)
        }
        if let admit = strategy.admitCreate { try await admit(&obj) }
        let k = key(namespace: obj.metadata.namespace, name: obj.metadata.name)
        if dryRun {
            if current(obj.metadata.namespace, obj.metadata.name) != nil {
                throw APIError.alreadyExists(groupResource, obj.metadata.name)
            }
            return CachedObject(key: k.rawValue, object: obj, revision: 0, fieldSet: [:])
        }
        let bytes = storageBytes(obj)
        let result: CreateResult
        do {
            result = try await server.store.create(k, value: bytes, lease: try await server.lease(for: groupResource))
        } catch {
            await strategy.afterDelete?(obj)
            throw storageError(error)
        }
        switch result {
        case .alreadyExists:
            await strategy.afterDelete?(obj)
            throw APIError.alreadyExists(groupResource, obj.metadata.name)
        case .created(let kv):
            return try await committed(kv, obj)
        }
    }

    func storageError(_ error: any Error) -> APIError {
        if let e = error as? APIError { return e }
        return APIError.internalError("\(error)")
    }

    func storageBytes(_ obj: T) -> [UInt8] {
        var o = obj
        o.metadata.resourceVersion = ""
        if jsonStorage { return storageCodec.objectJSON(o) }
        let gvk = storageCodec.groupVersionKind
        return ProtobufEnvelope.wrap(storageCodec.itemProto(o), apiVersion: gvk.apiVersion, kind: gvk.kind)
    }

    /// After a write: waits until the cache has it, and returns the cached entry.
    func committed(_ kv: KeyValue, _ obj: T) async throws -> CachedObject<T> {
        server.feeder.offer(.put(kv, previous: nil))
        _ = await server.feeder.wait(for: kv.modRevision)
        if let e = cache.get(kv.key.rawValue).object, e.revision == kv.modRevision { return e }
        var o = obj
        o.metadata.resourceVersion = String(kv.modRevision)
        return CachedObject(key: kv.key.rawValue, object: o, revision: kv.modRevision, fieldSet: cache.fieldsOf(o))
    }

    /// An object decoded in a request's version, in the storage version (through the webhook when
    /// the kind converts by one; decoding did it otherwise).
    func toStorage(_ obj: T) async throws -> T {
        guard let convert = webhookConversion else { return obj }
        let storage = storageCodec.groupVersionKind.apiVersion
        let converted = try await convert([obj], storage)[0]
        // Pruned and defaulted as the storage version's schema says.
        return try storageCodec.fromJSONValue(storageCodec.typed(storageCodec.itemJSON(converted)), false).object
    }

    func update(_ req: ResourceRequest) async throws -> HTTPResponse {
        let codec = self.codec(req.version)
        var (obj, warnings) = try decodeBody(req, codec: codec)
        obj = try await toStorage(obj)
        try checkNamespace(req, &obj.metadata)
        if obj.metadata.name != req.name {
            throw APIError.badRequest(
                "the name of the object (\(obj.metadata.name)) does not match the name on the URL (\(req.name))")
        }
        let result = try await updateObject(
            namespace: req.namespace, name: req.name, subresource: req.subresource, dryRun: req.isDryRun,
            manager: try FieldManagerContext(req)
        ) { _ in obj }
        return try await respond(result.object, req, status: result.created ? .created : .ok, warnings: warnings)
    }

    struct UpdateOutcome {
        var object: CachedObject<T>
        var created: Bool
    }

    /// Read-modify-write with optimistic concurrency: `mutate` gets the current object and returns
    /// the new one. A resourceVersion in the new object must match the current one (409 otherwise);
    /// without one the update is unconditional and retried on conflicts.
    func updateObject(
        namespace: String, name: String, subresource: String, dryRun: Bool = false,
        manager: FieldManagerContext? = nil, createIfMissing: Bool = false, mutate: (T) async throws -> T
    ) async throws -> UpdateOutcome {
        // The first attempt works on the cached object (the compare-and-swap on its revision
        // catches a stale one); any doubt — missing, a resourceVersion mismatch, a no-op, a lost
        // swap — is settled on a fresh read from the store.
        var fromStore = false
        for _ in 0..<20 {
            let found = fromStore ? try await storedCurrent(namespace, name) : current(namespace, name)
            if found == nil && !fromStore {
                fromStore = true
                continue
            }
            guard let cur = found else {
                if (strategy.allowCreateOnUpdate || createIfMissing) && subresource.isEmpty {
                    var fresh = try await mutate(T())
                    fresh.metadata.namespace = resource.namespaced ? namespace : ""
                    return UpdateOutcome(
                        object: try await createObject(fresh, dryRun: dryRun, manager: manager), created: true)
                }
                throw APIError.notFound(groupResource, name)
            }
            let old = cur.object
            var obj = try await mutate(old)
            let rv = obj.metadata.resourceVersion
            if !rv.isEmpty && rv != old.metadata.resourceVersion {
                if !fromStore {
                    fromStore = true
                    continue
                }
                throw APIError.conflict(groupResource, name, APIError.modifiedMessage)
            }
            try await admitMutating(&obj, old: old, "UPDATE", dryRun: dryRun)
            obj = try prepareUpdate(obj, old: old, subresource: subresource)
            if let manager { trackUpdate(&obj, old: old, manager) }
            try await admitValidating(obj, old: old, "UPDATE", dryRun: dryRun)
            if subresource.isEmpty && QuotaAdmission.handlesUpdate(groupResource) && obj != old {
                try await QuotaAdmission(server: server).admit(
                    groupResource, name: name, namespace: namespace, item: QuotaAdmission.item(obj, groupResource),
                    old: QuotaAdmission.item(old, groupResource), dryRun: dryRun)
            }
            if let admit = strategy.admitUpdate { try await admit(&obj, old) }
            if obj == old && !dryRun {
                if !fromStore {
                    fromStore = true
                    continue
                }
                return UpdateOutcome(object: cur, created: false)
            }
            if dryRun {
                return UpdateOutcome(
                    object: CachedObject(key: cur.key, object: obj, revision: cur.revision, fieldSet: [:]),
                    created: false)
            }
            let res: UpdateResult
            do {
                res = try await server.store.update(
                    StorageKey(cur.key), value: storageBytes(obj), ifRevision: cur.revision,
                    lease: try await server.lease(for: groupResource))
            } catch { throw storageError(error) }
            switch res {
            case .updated(let kv):
                let e = try await committed(kv, obj)
                if e.object.metadata.deletionTimestamp != nil && strategy.finalized(e.object)
                    && old.metadata.deletionTimestamp != nil
                {
                    // The last finalizer went away: the object is deleted now.
                    _ = try await server.store.delete(StorageKey(cur.key), ifRevision: kv.modRevision)
                    await strategy.afterDelete?(e.object)
                }
                return UpdateOutcome(object: e, created: false)
            case .conflict:
                if !rv.isEmpty { throw APIError.conflict(groupResource, name, APIError.modifiedMessage) }
                fromStore = true
                continue
            }
        }
        throw APIError.conflict(groupResource, name, APIError.modifiedMessage)
    }

    /// Upstream's update strategy: identity fields kept, status or spec written only through its
    /// own endpoint, generation bumped on spec changes, gated fields dropped, validation.
    func prepareUpdate(_ input: T, old: T, subresource: String) throws -> T {
        var obj = input
        obj.metadata.uid = obj.metadata.uid.isEmpty ? old.metadata.uid : obj.metadata.uid
        obj.metadata.creationTimestamp = old.metadata.creationTimestamp
        obj.metadata.deletionTimestamp = old.metadata.deletionTimestamp
        obj.metadata.deletionGracePeriodSeconds = old.metadata.deletionGracePeriodSeconds
        obj.metadata.generation = old.metadata.generation
        obj.metadata.resourceVersion = old.metadata.resourceVersion
        obj.metadata.selfLink = ""
        if subresource == "ephemeralcontainers", let pod = obj as? CoreV1.Pod, let was = old as? CoreV1.Pod {
            let (updated, errs) = EphemeralContainers.update(pod, old: was)
            if !errs.isEmpty { throw APIError.invalid(groupKind, was.metadata.name, errs) }
            return updated as! T
        }
        if subresource == "resize", let pod = obj as? CoreV1.Pod, let was = old as? CoreV1.Pod {
            let (updated, errs) = PodResize.update(pod, old: was)
            if !errs.isEmpty { throw APIError.invalid(groupKind, was.metadata.name, errs) }
            return updated as! T
        }
        if subresource == "status" || subresource == "approval" {
            // Only status changes: everything else comes from the stored object.
            let status = try JSONSurgery.value(obj, key: "status", codec: storageCodec)
            obj = try JSONSurgery.replacing(old, key: "status", with: status, codec: storageCodec)
            // A request's approval changes its conditions only, never the issued certificate.
            if subresource == "approval", var csr = obj as? CertificatesV1.CertificateSigningRequest,
                let was = old as? CertificatesV1.CertificateSigningRequest
            {
                csr.status.certificate = was.status.certificate
                obj = csr as! T
            }
        } else if subresource == "finalize" {
            let spec = try JSONSurgery.value(obj, key: "spec", codec: storageCodec)
            obj = try JSONSurgery.replacing(old, key: "spec", with: spec, codec: storageCodec)
        } else if strategy.hasStatus && subresource != "binding" {
            // A binding writes the node and the PodScheduled condition together.
            let status = try JSONSurgery.value(old, key: "status", codec: storageCodec)
            obj = try JSONSurgery.replacing(obj, key: "status", with: status, codec: storageCodec)
        }
        // The spec comparison encodes both objects: only kinds that track generation pay for it.
        if try strategy.tracksGeneration && subresource.isEmpty
            && !JSONSurgery.sameExceptMetadataAndStatus(
                obj, old, codec: storageCodec, keepingStatus: strategy.generationCountsStatus)
        {
            obj.metadata.generation = old.metadata.generation + 1
        }
        // A binding sets the node, its annotations and a condition on the stored pod: no gated
        // field comes in that way, and upstream validates the Binding, not the pod it changes.
        if subresource == "binding" { return obj }
        server.gates.dropDisabledFieldsAny(&obj, old: old)
        var errs: ErrorList
        if let validate = strategy.validate {
            errs = validate(obj, old)
        } else if let v = obj as? any Validated {
            errs = Self.validateUpdate(v, old)
        } else {
            errs = MetaValidation.validateObjectMeta(
                obj.metadata, namespaced: resource.namespaced, nameRule: .dns1123Subdomain)
            errs += MetaValidation.validateObjectMetaUpdate(obj.metadata, old.metadata)
        }
        if !errs.isEmpty { throw APIError.invalid(groupKind, obj.metadata.name, errs) }
        return obj
    }

    static func validateUpdate<V: Validated>(_ new: V, _ old: T) -> ErrorList {
        new.validateUpdate(from: old as! V)
    }

    func patch(_ req: ResourceRequest) async throws -> HTTPResponse {
        let ct =
            (req.request.headers.first(name: "content-type") ?? "").split(separator: ";").first.map {
                $0.trimmingCharacters(in: .whitespaces)
            } ?? ""
        let kind: PatchKind
        switch ct {
        case "application/json-patch+json": kind = .json
        case "application/merge-patch+json": kind = .merge
        case "application/strategic-merge-patch+json" where strategy.strategicMergePatch: kind = .strategic
        case "application/apply-patch+yaml" where fieldManager != nil: return try await apply(req)
        default: throw APIError.unsupportedPatch(ct, strategic: strategy.strategicMergePatch)
        }
        if let f = req.query["force"], f == "true" {
            throw APIError.invalid(
                GroupKind(group: "meta.k8s.io", kind: "PatchOptions"), "",
                [.forbidden(FieldPath("force"), "may not be specified for non-apply patch")])
        }
        let codec = self.codec(req.version)
        var warnings: [String] = []
        let patchBytes = req.body
        let gvk = codec.groupVersionKind
        let schema = server.patchSchema(gvk)
        let validation = req.query["fieldValidation"] ?? "Warn"
        let result = try await updateObject(
            namespace: req.namespace, name: req.name, subresource: req.subresource, dryRun: req.isDryRun,
            manager: try FieldManagerContext(req)
        ) { old in
            let inVersion = try await self.converted(
                [CachedObject(key: "", object: old, revision: 0, fieldSet: [:])], req.version)[0]
            let original = codec.objectJSON(inVersion.object)
            let patched: [UInt8]
            do {
                patched = try Patching.apply(kind, patch: patchBytes, to: original, schema: schema)
            } catch let e as APIError {
                throw e
            } catch {
                throw APIError(
                    code: 422, reason: "Invalid",
                    message: "the server rejected our request due to an error in our request",
                    details: MetaV1.StatusDetails())
            }
            let d: DecodedBody<T>
            do {
                d = try codec.fromJSONValue(patched, validation != "Ignore")
            } catch BodyDecodingError.malformed(let m) {
                throw APIError.badRequest(m)
            }
            let problems = d.unknownFields.map { "unknown field \"\($0)\"" }
            if validation == "Strict" && !problems.isEmpty {
                throw APIError.badRequest("strict decoding error: \(problems.joined(separator: ", "))")
            }
            if validation == "Warn" { warnings = problems }
            var obj = try await self.toStorage(d.object)
            if obj.metadata.name != req.name {
                throw APIError.badRequest(
                    "the name of the object (\(obj.metadata.name)) does not match the name on the URL (\(req.name))")
            }
            if resource.namespaced { obj.metadata.namespace = req.namespace }
            // A patch that does not name a resourceVersion is unconditional (retried on conflict).
            if !Patching.mentionsResourceVersion(patchBytes) { obj.metadata.resourceVersion = "" }
            return obj
        }
        return try await respond(result.object, req, status: .ok, warnings: warnings)
    }

    func delete(_ req: ResourceRequest) async throws -> HTTPResponse {
        var options = MetaV1.DeleteOptions()
        if !req.body.isEmpty {
            options =
                (try? ObjectDecoding.decodeJSON(MetaV1.DeleteOptions.self, req.body, track: false).object) ?? options
        }
        if let g = req.query["gracePeriodSeconds"].flatMap(Int64.init) { options.gracePeriodSeconds = g }
        if let p = req.query["propagationPolicy"] { options.propagationPolicy = p }
        let outcome = try await deleteObject(
            namespace: req.namespace, name: req.name, options: options,
            dryRun: req.isDryRun || options.dryRun.contains("All"))
        switch outcome {
        case .pending(let obj):
            return try await respond(obj, req, status: .ok)
        case .deleted(let obj):
            if strategy.returnsDeletedObject { return try await respond(obj, req, status: .ok) }
            var st = MetaV1.Status(kind: "Status", apiVersion: "v1", status: "Success")
            st.details = MetaV1.StatusDetails(
                name: obj.name, group: resource.group, kind: resource.resource, uid: obj.object.metadata.uid)
            return try respondStatus(st, req)
        }
    }

    enum DeleteOutcome {
        /// Deletion is recorded (deletionTimestamp) and waits for finalizers or a grace period.
        case pending(CachedObject<T>)
        case deleted(CachedObject<T>)
    }

    /// The message of the first delete precondition `obj` fails, or nil.
    func preconditionFailure(_ p: MetaV1.Preconditions?, _ obj: T) -> String? {
        guard let p else { return nil }
        if let uid = p.uid, !uid.isEmpty, uid != obj.metadata.uid {
            return "Precondition failed: UID in precondition: \(uid), UID in object meta: \(obj.metadata.uid)"
        }
        if let rv = p.resourceVersion, !rv.isEmpty, rv != obj.metadata.resourceVersion {
            return
                "Precondition failed: ResourceVersion in precondition: \(rv), ResourceVersion in object meta: \(obj.metadata.resourceVersion)"
        }
        return nil
    }

    func deleteObject(namespace: String, name: String, options: MetaV1.DeleteOptions, dryRun: Bool = false)
        async throws -> DeleteOutcome
    {
        // As in updates: the cached object first, the store's on any doubt.
        var fromStore = false
        for _ in 0..<20 {
            let found = fromStore ? try await storedCurrent(namespace, name) : current(namespace, name)
            guard let cur = found else {
                if !fromStore {
                    fromStore = true
                    continue
                }
                throw APIError.notFound(groupResource, name)
            }
            if let failed = preconditionFailure(options.preconditions, cur.object) {
                // A cached object may be stale: only the store's state fails a precondition.
                if !fromStore {
                    fromStore = true
                    continue
                }
                throw APIError.conflict(groupResource, name, failed)
            }
            try await admitValidating(nil, old: cur.object, "DELETE", dryRun: dryRun)
            var obj = cur.object
            var finalizers = obj.metadata.finalizers
            let policy = options.propagationPolicy ?? (options.orphanDependents == true ? "Orphan" : nil)
            if policy == "Orphan" && !finalizers.contains("orphan") && resource.resource != "namespaces" {
                finalizers.append("orphan")
            }
            if policy == "Foreground" && !finalizers.contains("foregroundDeletion") {
                finalizers.append("foregroundDeletion")
            }
            let grace = strategy.gracePeriod?(obj, options.gracePeriodSeconds)
            if !finalizers.isEmpty || grace != nil {
                if obj.metadata.deletionTimestamp != nil && finalizers == obj.metadata.finalizers {
                    return .pending(cur)
                }
                obj.metadata.finalizers = finalizers
                if obj.metadata.deletionTimestamp == nil {
                    obj.metadata.deletionTimestamp = Time(seconds: Int64(Date().timeIntervalSince1970) + (grace ?? 0))
                    obj.metadata.deletionGracePeriodSeconds = grace ?? 0
                }
                server.deletionHook(groupResource, &obj)
                if dryRun {
                    return .pending(CachedObject(key: cur.key, object: obj, revision: cur.revision, fieldSet: [:]))
                }
                let res = try await server.store.update(
                    StorageKey(cur.key), value: storageBytes(obj), ifRevision: cur.revision, lease: nil)
                guard case .updated(let kv) = res else {
                    fromStore = true
                    continue
                }
                let e = try await committed(kv, obj)
                return .pending(e)
            }
            if dryRun { return .deleted(cur) }
            let res = try await server.store.delete(StorageKey(cur.key), ifRevision: cur.revision)
            switch res {
            case .deleted(let prev, let rev):
                server.feeder.offer(.delete(previous: prev, revision: rev))
                _ = await server.feeder.wait(for: rev)
                await strategy.afterDelete?(obj)
                return .deleted(cur)
            case .notFound: throw APIError.notFound(groupResource, name)
            case .conflict:
                fromStore = true
                continue
            }
        }
        throw APIError.conflict(groupResource, name, APIError.modifiedMessage)
    }

    func deleteCollection(_ req: ResourceRequest) async throws -> HTTPResponse {
        var options = MetaV1.DeleteOptions()
        if !req.body.isEmpty {
            options =
                (try? ObjectDecoding.decodeJSON(MetaV1.DeleteOptions.self, req.body, track: false).object) ?? options
        }
        let (rev, items) = try await freshList(try filter(req))
        var deleted: [CachedObject<T>] = []
        for item in items {
            do {
                switch try await deleteObject(
                    namespace: item.namespace, name: item.name, options: options,
                    dryRun: req.isDryRun || options.dryRun.contains("All"))
                {
                case .deleted(let o), .pending(let o): deleted.append(o)
                }
            } catch let e as APIError where e.code == 404 {
                continue
            }
        }
        return try await respondList(
            deleted, revision: max(rev, server.feeder.revision), continue: nil, remaining: nil, req)
    }

    // MARK: Subresources

    func scale(_ req: ResourceRequest) async throws -> HTTPResponse {
        guard resource.subresources.contains(where: { $0.name == "scale" }) else {
            throw APIError.notFound(groupResource, req.name)
        }
        func scaleOf(_ o: CachedObject<T>) throws -> [UInt8] { try scaleOfObject(o.object) }
        let paths = scalePaths
        func at(_ json: JSONValue, _ path: [String]) -> JSONValue? {
            var cur: JSONValue? = json
            for p in path { cur = cur?[p] }
            return cur
        }
        func scaleOfObject(_ object: T) throws -> [UInt8] {
            let json = try JSONValue.parse(storageCodec.itemJSON(object))
            func count(_ path: [String]) -> Int32 {
                if case .number(let n)? = at(json, path) { return Int32(n) ?? Int32(Double(n) ?? 0) }
                return 0
            }
            let replicas = count(paths.specReplicas)
            let statusReplicas = count(paths.statusReplicas)
            var selector = ""
            if let custom = paths.labelSelector {
                selector = at(json, custom)?.stringValue ?? ""
            } else if let sel = json["status"]?["selector"]?.stringValue {
                selector = sel
            } else if let s = json["spec"]?["selector"] {
                selector = Selectors.labelSelectorString(s)
            }
            var sc = AutoscalingV1.Scale()
            sc.kind = "Scale"
            sc.apiVersion = "autoscaling/v1"
            sc.metadata = MetaV1.ObjectMeta(
                name: object.metadata.name, namespace: object.metadata.namespace, uid: object.metadata.uid,
                resourceVersion: object.metadata.resourceVersion,
                creationTimestamp: object.metadata.creationTimestamp)
            sc.spec = AutoscalingV1.ScaleSpec(replicas: replicas)
            sc.status = AutoscalingV1.ScaleStatus(replicas: statusReplicas, selector: selector)
            var w = JSONWriter()
            sc.encodeJSON(&w)
            return w.bytes
        }
        if req.verb == .get {
            let o: CachedObject<T>?
            if case .store = try await awaitRevision(req.query["resourceVersion"]) {
                o = try await storedCurrent(req.namespace, req.name)
            } else {
                o = current(req.namespace, req.name)
            }
            guard let o else { throw APIError.notFound(groupResource, req.name) }
            return try respondRaw(scaleOf(o), req, kind: "Scale")
        }
        /// The Scale asked for, against the object as it is now: a patch is applied to the current
        /// object's Scale on every attempt (upstream re-applies patches after a conflict), and only a
        /// resourceVersion the client set is a precondition.
        let decodeBody: (T) throws -> AutoscalingV1.Scale
        if req.verb == .patch {
            guard current(req.namespace, req.name) != nil else { throw APIError.notFound(groupResource, req.name) }
            let ct = req.request.headers.first(name: "content-type") ?? ""
            let kind: PatchKind =
                ct.hasPrefix("application/json-patch") ? .json : ct.hasPrefix("application/merge") ? .merge : .strategic
            let patch = req.body
            decodeBody = { old in
                let json = try Patching.apply(kind, patch: patch, to: try scaleOfObject(old), schema: nil)
                return try ObjectDecoding.decodeJSON(AutoscalingV1.Scale.self, json, track: false).object
            }
        } else {
            let bodyJSON: [UInt8]
            let format = WireFormat(contentType: req.request.headers.first(name: "content-type")) ?? .json
            if format == .protobuf {
                let u = try ProtobufEnvelope.unwrap(req.body)
                var w = JSONWriter()
                try AutoscalingV1.Scale(protoBytes: u.raw).encodeJSON(&w)
                bodyJSON = w.bytes
            } else {
                bodyJSON = format == .yaml ? try YAML.toJSON(String(decoding: req.body, as: UTF8.self)) : req.body
            }
            let scale = try ObjectDecoding.decodeJSON(AutoscalingV1.Scale.self, bodyJSON, track: false).object
            decodeBody = { _ in scale }
        }
        let result = try await updateObject(namespace: req.namespace, name: req.name, subresource: "") { old in
            var scale = try decodeBody(old)
            // Dynamic admission sees the Scale, as upstream's does for this subresource.
            if let oldScale = try? JSONValue.parse(scaleOfObject(old)) {
                var w = JSONWriter()
                var sent = scale
                sent.kind = "Scale"
                sent.apiVersion = "autoscaling/v1"
                if sent.metadata.name.isEmpty { sent.metadata.name = old.metadata.name }
                if sent.metadata.namespace.isEmpty { sent.metadata.namespace = old.metadata.namespace }
                sent.encodeJSON(&w)
                var new = try JSONValue.parse(w.bytes)
                try await self.admitScale(&new, old: oldScale, dryRun: req.isDryRun)
                scale = try ObjectDecoding.decodeJSON(AutoscalingV1.Scale.self, new.jsonBytes, track: false).object
            }
            let replicas = scale.spec.replicas ?? 0
            if replicas < 0 {
                throw APIError.invalid(
                    GroupKind(group: "autoscaling", kind: "Scale"), req.name,
                    [
                        .invalid(
                            FieldPath("spec", "replicas"), .int(Int64(replicas)), "must be greater than or equal to 0")
                    ])
            }
            let rvWanted = scale.metadata.resourceVersion
            if !rvWanted.isEmpty && rvWanted != old.metadata.resourceVersion {
                throw APIError.conflict(groupResource, req.name, APIError.modifiedMessage)
            }
            var json = try JSONValue.parse(self.storageCodec.itemJSON(old))
            json = JSONSurgery.setting(json, path: paths.specReplicas, to: .number(String(replicas)))
            var o = try self.storageCodec.fromJSONValue(json.jsonBytes, false).object
            o.metadata.resourceVersion = ""
            return o
        }
        return try respondRaw(scaleOf(result.object), req, kind: "Scale")
    }

    func bind(_ req: ResourceRequest) async throws -> HTTPResponse {
        let binding = try ObjectDecoding.decodeJSON(
            CoreV1.Binding.self,
            WireFormat(contentType: req.request.headers.first(name: "content-type")) == .protobuf
                ? { () -> [UInt8] in
                    var w = JSONWriter()
                    ((try? CoreV1.Binding(protoBytes: (try? ProtobufEnvelope.unwrap(req.body))?.raw ?? []))
                        ?? CoreV1.Binding())
                        .encodeJSON(&w)
                    return w.bytes
                }() : req.body, track: false
        ).object
        // Upstream's ValidatePodBinding, then its binding storage: the pod must exist, not be
        // terminating, match a UID precondition and have no node yet; the binding sets the node,
        // copies the binding's annotations and marks the pod PodScheduled=True.
        let node = binding.target.name
        var errs: ErrorList = []
        if !binding.target.kind.isEmpty && binding.target.kind != "Node" {
            errs.append(.notSupported(FieldPath("target", "kind"), .string(binding.target.kind), ["Node", "<empty>"]))
        }
        if node.isEmpty { errs.append(.required(FieldPath("target", "name"))) }
        if !errs.isEmpty { throw APIError.invalid(GroupKind(group: "", kind: "Binding"), req.name, errs) }
        let bindingResource = GroupResource(group: "", resource: "pods/binding")
        _ = try await updateObject(namespace: req.namespace, name: req.name, subresource: "binding") { old in
            guard var pod = old as? CoreV1.Pod else { throw APIError.methodNotAllowed() }
            if pod.metadata.deletionTimestamp != nil {
                throw APIError.conflict(
                    bindingResource, req.name, "pod \(req.name) is being deleted, cannot be assigned to a host")
            }
            if !binding.metadata.uid.isEmpty && binding.metadata.uid != pod.metadata.uid {
                throw APIError.conflict(
                    bindingResource, req.name,
                    "Precondition failed: UID in precondition: \(binding.metadata.uid), UID in object meta: \(pod.metadata.uid)"
                )
            }
            if !pod.spec.nodeName.isEmpty {
                throw APIError.conflict(
                    bindingResource, req.name, "pod \(req.name) is already assigned to node \"\(pod.spec.nodeName)\"")
            }
            pod.spec.nodeName = node
            for (k, v) in binding.metadata.annotations { pod.metadata.annotations[k] = v }
            var cond = CoreV1.PodCondition(type: "PodScheduled", status: "True")
            if let i = pod.status.conditions.firstIndex(where: { $0.type == "PodScheduled" }) {
                let was = pod.status.conditions[i]
                cond.lastTransitionTime =
                    was.status == "True" ? was.lastTransitionTime : Time(seconds: Int64(Date().timeIntervalSince1970))
                cond.observedGeneration = was.observedGeneration
                pod.status.conditions[i] = cond
            } else {
                cond.lastTransitionTime = Time(seconds: Int64(Date().timeIntervalSince1970))
                pod.status.conditions.append(cond)
            }
            pod.metadata.resourceVersion = ""
            return pod as! T
        }
        let st = MetaV1.Status(kind: "Status", apiVersion: "v1", status: "Success", code: 201)
        var r = try respondStatus(st, req)
        r.status = .created
        return r
    }
}
