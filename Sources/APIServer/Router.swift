import APIMachinery
import Foundation
import KubernetesAPI
import NIOHTTP1
import Storage
import Synchronization

/// The API server's HTTP surface: authentication, authorization, inflight limits, and dispatch to
/// discovery, health, version, metrics and the resource stores.
final class Router: HTTPResponder, @unchecked Sendable {
    let server: ServerContext
    /// Discovery of the built-in and the custom resources, rebuilt when custom resources change.
    private let discoveryState: Mutex<Discovery>
    var discovery: Discovery { discoveryState.withLock { $0 } }
    let config: APIServerConfig
    let tokens: [String: UserInfo]
    let metrics: Metrics
    let ready: Atomic<Bool>
    /// The audit log, when a policy and a path are configured.
    var audit: AuditLog? = nil
    private let inflight = Atomic<Int>(0)
    private let inflightMutating = Atomic<Int>(0)
    var serverAddress = "127.0.0.1:6443"

    init(server: ServerContext, config: APIServerConfig, tokens: [String: UserInfo], metrics: Metrics) {
        self.server = server
        let builtIn = server.scheme.enabledResources
        self.discoveryState = Mutex(Discovery(resources: builtIn))
        self.config = config
        self.tokens = tokens
        self.metrics = metrics

        self.ready = Atomic(false)
        let custom = server.customResources!
        let aggregator = server.aggregator!
        let rebuild: @Sendable () -> Void = { [weak self] in
            let d = Discovery(
                resources: builtIn + custom.descriptions + aggregator.descriptions,
                extraGroupVersions: aggregator.remoteGroupVersions.map { ($0.group, $0.version) })
            self?.discoveryState.withLock { $0 = d }
        }
        custom.onChange = rebuild
        aggregator.onChange = rebuild
    }

    static func jsonHeaders() -> HTTPHeaders {
        ["Content-Type": "application/json", "Cache-Control": "no-cache, private"]
    }

    static func errorResponse(_ e: APIError) -> HTTPResponse {
        var w = JSONWriter()
        e.status.encodeJSON(&w)
        var h = jsonHeaders()
        if let r = e.retryAfter { h.add(name: "Retry-After", value: String(r)) }
        return HTTPResponse(status: HTTPResponseStatus(statusCode: e.code), headers: h, body: .bytes(w.bytes + [0x0A]))
    }

    func tooLarge(_ request: HTTPRequest) -> HTTPResponse {
        var r = Self.errorResponse(.tooLarge)
        r.headers.add(name: "Connection", value: "close")
        return r
    }

    func respond(to request: HTTPRequest) async -> HTTPResponse {
        let start = ContinuousClock.now
        let mutating = request.method != .GET && request.method != .HEAD
        let limit = mutating ? config.maxMutatingRequestsInflight : config.maxRequestsInflight
        let isWatch =
            request.query["watch"] == "true" || request.query["watch"] == "1" || request.path.contains("/watch/")
        let limited = !isWatch && limit > 0
        if limited && !acquire(mutating, limit) { return Self.errorResponse(.tooManyRequests()) }
        defer { if limited { release(mutating) } }
        var info = RequestInfo(verb: request.method.rawValue.lowercased(), resource: "", code: 200)
        let resp: HTTPResponse
        let annotations = audit == nil ? nil : AuditAnnotations()
        let received = Date()
        do {
            if let annotations {
                resp = try await AuditAnnotations.$current.withValue(annotations) { try await route(request, &info) }
            } else {
                resp = try await route(request, &info)
            }
        } catch let e as APIError {
            resp = Self.errorResponse(e)
        } catch StorageError.unavailable(let message) {
            // The store (etcd) is down or unreachable: the client may retry.
            resp = Self.errorResponse(.serviceUnavailable(message))
        } catch {
            resp = Self.errorResponse(.internalError("\(error)"))
        }
        info.code = Int(resp.status.code)
        if let audit, let annotations {
            var body: [UInt8]? = nil
            if case .bytes(let b) = resp.body { body = b }
            audit.record(
                AuditLog.Request(
                    user: info.user ?? .anonymous,
                    verb: info.isResource ? info.verb : request.method.rawValue.lowercased(),
                    uri: request.uri, sourceIP: request.remoteAddress.isEmpty ? "127.0.0.1" : request.remoteAddress,
                    userAgent: request.headers.first(name: "user-agent") ?? "", isResource: info.isResource,
                    group: info.group, version: info.version, resource: info.resource, subresource: info.subresource,
                    namespace: info.namespace, name: info.name, requestBody: request.body),
                received: received, code: info.code, responseBody: body, annotations: annotations)
        }
        metrics.record(
            info,
            seconds: Double((ContinuousClock.now - start).components.attoseconds) / 1e18
                + Double((ContinuousClock.now - start).components.seconds))
        return resp
    }

    private func acquire(_ mutating: Bool, _ limit: Int) -> Bool {
        if mutating {
            if inflightMutating.wrappingAdd(1, ordering: .relaxed).newValue > limit {
                inflightMutating.wrappingSubtract(1, ordering: .relaxed)
                return false
            }
        } else if inflight.wrappingAdd(1, ordering: .relaxed).newValue > limit {
            inflight.wrappingSubtract(1, ordering: .relaxed)
            return false
        }
        return true
    }

    private func release(_ mutating: Bool) {
        if mutating {
            inflightMutating.wrappingSubtract(1, ordering: .relaxed)
        } else {
            inflight.wrappingSubtract(1, ordering: .relaxed)
        }
    }

    struct RequestInfo {
        var verb: String
        var resource: String
        var code: Int
        // What audit events name.
        var user: UserInfo? = nil
        var isResource = false
        var group = ""
        var version = ""
        var subresource = ""
        var namespace = ""
        var name = ""
    }

    func authenticate(_ r: HTTPRequest) throws -> UserInfo {
        if let auth = r.headers.first(name: "authorization") {
            if auth.lowercased().hasPrefix("bearer ") {
                let token = String(auth.dropFirst(7)).trimmingCharacters(in: .whitespaces)
                if let u = tokens[token] { return u }
            }
            throw APIError.unauthorized
        }
        if case .certificate(let cn, let orgs) = r.identity {
            return UserInfo(name: cn, groups: orgs + ["system:authenticated"])
        }
        if config.anonymousAuth { return .anonymous }
        throw APIError.unauthorized
    }

    func route(_ r: HTTPRequest, _ info: inout RequestInfo) async throws -> HTTPResponse {
        let user = try authenticate(r)
        info.user = user
        let discovery = self.discovery
        let path = r.path.count > 1 && r.path.hasSuffix("/") ? String(r.path.dropLast()) : r.path
        let isMaster = user.groups.contains("system:masters")
        let healthPath =
            ["/healthz", "/livez", "/readyz"].contains(path) || path.hasPrefix("/healthz/")
            || path.hasPrefix("/livez/") || path.hasPrefix("/readyz/")
        if healthPath { return try await health(path, r) }
        if path == "/version" { return version() }
        let segments = path.split(separator: "/").map(String.init)
        if !isMaster {
            if let (gr, verb, ns, name, sub) = resourceTarget(segments, r) {
                throw APIError.forbidden(user.name, verb: verb, gr: gr, subresource: sub, name: name, namespace: ns)
            }
            throw APIError.forbiddenPath(user.name, verb: r.method.rawValue.lowercased(), path: r.path)
        }
        if path == "/metrics" {
            return HTTPResponse(
                status: .ok, contentType: "text/plain; version=0.0.4; charset=utf-8",
                bytes: metrics.render(
                    server,
                    inflight: (inflight.load(ordering: .relaxed), inflightMutating.load(ordering: .relaxed))))
        }
        if path.hasPrefix("/openapi") { return try OpenAPIDocs.respond(path, r, server: server) }
        if path == "/api" || path == "/apis" {
            if Discovery.wantsAggregated(r.headers.first(name: "accept")) {
                let etag = path == "/api" ? discovery.etagAPI : discovery.etagAPIs
                var h: HTTPHeaders = [
                    "Content-Type": "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList",
                    "Cache-Control": "no-cache, private", "Vary": "Accept", "ETag": etag,
                ]
                if r.headers.first(name: "if-none-match") == etag {
                    h.remove(name: "Content-Type")
                    return HTTPResponse(status: .notModified, headers: h)
                }
                return HTTPResponse(
                    status: .ok, headers: h,
                    body: .bytes(path == "/api" ? discovery.aggregatedAPI : discovery.aggregatedAPIs))
            }
            var h = Self.jsonHeaders()
            h.add(name: "Vary", value: "Accept")
            return HTTPResponse(
                status: .ok, headers: h,
                body: .bytes(path == "/api" ? discovery.apiVersions(serverAddress: serverAddress) : discovery.apisJSON))
        }
        guard segments.first == "api" || segments.first == "apis" else { throw Self.notFound }
        let (group, version, restStart): (String, String, Int)
        if segments[0] == "api" {
            guard segments.count >= 2 else { throw Self.notFound }
            (group, version, restStart) = ("", segments[1], 2)
        } else {
            guard segments.count >= 2 else { throw Self.notFound }
            if segments.count == 2 {
                guard let b = discovery.groupJSON[segments[1]] else { throw Self.notFound }
                return HTTPResponse(status: .ok, headers: Self.jsonHeaders(), body: .bytes(b))
            }
            (group, version, restStart) = (segments[1], segments[2], 3)
            if let remote = server.aggregator.remote(group: group, version: version) {
                return try await server.aggregator.proxy(r, user: user, remote)
            }
        }
        var rest = Array(segments[restStart...])
        let gvName = group.isEmpty ? version : "\(group)/\(version)"
        if rest.isEmpty {
            guard let b = discovery.versionJSON[gvName] else { throw Self.notFound }
            return HTTPResponse(status: .ok, headers: Self.jsonHeaders(), body: .bytes(b))
        }
        if group.isEmpty, version == "v1", let resp = try await connect(rest, r) { return resp }
        var legacyWatch = false
        if rest.first == "watch" {
            legacyWatch = true
            rest.removeFirst()
        }
        guard let target = parseResourcePath(rest, group: group, version: version) else { throw Self.notFound }
        let (desc, namespace, name, sub) = target
        guard server.isServed(GroupVersion(group: group, version: version)) else { throw Self.notFound }
        if !sub.isEmpty
            && (Discovery.hiddenSubresources.contains(sub) || !desc.subresources.contains(where: { $0.name == sub }))
            && !(desc.resource == "pods" && ["binding", "eviction", "ephemeralcontainers"].contains(sub))
        {
            throw Self.notFound
        }
        guard let handler = server.handler(desc.groupResource) else {
            return try await virtualResource(desc, r, user: user)
        }
        info.resource = desc.resource
        info.isResource = true
        info.group = group
        info.version = version
        info.subresource = sub
        info.namespace = namespace
        info.name = name
        let isWatch = legacyWatch || r.query["watch"] == "true" || r.query["watch"] == "1"
        let verb: ResourceRequest.Verb
        switch r.method {
        case .GET, .HEAD:
            verb = name.isEmpty ? (isWatch ? .watch : .list) : (isWatch ? .watch : .get)
        case .POST:
            guard name.isEmpty || sub == "binding" || (sub == "eviction" && desc.resource == "pods") else {
                throw APIError.methodNotAllowed()
            }
            verb = .create
        case .PUT:
            guard !name.isEmpty else { throw APIError.methodNotAllowed() }
            verb = .update
        case .PATCH:
            guard !name.isEmpty else { throw APIError.methodNotAllowed() }
            verb = .patch
        case .DELETE:
            verb = name.isEmpty ? .deletecollection : .delete
        default:
            throw APIError.methodNotAllowed()
        }
        if sub.isEmpty && !desc.verbs.contains(verb.rawValue) { throw APIError.methodNotAllowed() }
        info.verb = verb.rawValue
        var finalVerb = verb
        var finalName = name
        if verb == .watch && !name.isEmpty {
            // A watch of one object is a filtered watch of the collection.
            finalVerb = .watch
            finalName = ""
        }
        guard
            let format = ResponseFormat.negotiate(
                r.headers.first(name: "accept"), objectProtobuf: handler.offersProtobuf)
        else {
            throw APIError.notAcceptable
        }
        var req = ResourceRequest(
            verb: finalVerb, version: gvName, namespace: namespace, name: finalName, subresource: sub, request: r,
            user: user,
            response: format)
        if verb == .watch && !name.isEmpty {
            let sel = "metadata.name=" + FieldSelector.escapeValue(name)
            let existing = req.request.query["fieldSelector"].map { $0.isEmpty ? "" : $0 + "," } ?? ""
            req.request.query["fieldSelector"] = existing + sel
        }
        if r.method == .HEAD {
            var resp = try await handler.handle(req)
            resp.body = .bytes([])
            return resp
        }
        return try await handler.handle(req)
    }

    /// The subresources that connect through to a node or pod: `pods/{log,exec,attach,portforward}`
    /// and the `proxy` of pods, services and nodes (with the path after it). Nil for anything else.
    func connect(_ rest: [String], _ r: HTTPRequest) async throws -> HTTPResponse? {
        let c = server.connections!
        if rest.count >= 3, rest[0] == "nodes", rest[2] == "proxy" {
            return try await c.proxy(
                resource: "nodes", namespace: "", nameAndPort: rest[1], path: Self.proxyPath(rest, from: 3, r), r)
        }
        guard rest.count >= 5, rest[0] == "namespaces", rest[2] == "pods" || rest[2] == "services" else { return nil }
        let (ns, resource, name, sub) = (rest[1], rest[2], rest[3], rest[4])
        if sub == "proxy" {
            return try await c.proxy(
                resource: resource, namespace: ns, nameAndPort: name, path: Self.proxyPath(rest, from: 5, r), r)
        }
        guard resource == "pods", rest.count == 5 else { return nil }
        switch (sub, r.method) {
        case ("log", .GET): return try await c.log(namespace: ns, name: name, r)
        case ("exec", .GET), ("exec", .POST), ("attach", .GET), ("attach", .POST):
            return try await c.stream(sub, namespace: ns, name: name, r)
        case ("portforward", .GET), ("portforward", .POST):
            return try await c.portForward(namespace: ns, name: name, r)
        case ("log", _), ("exec", _), ("attach", _), ("portforward", _):
            throw APIError.methodNotAllowed()
        default:
            return nil
        }
    }

    /// The path after `proxy`, as the client sent it (a trailing slash kept).
    static func proxyPath(_ rest: [String], from: Int, _ r: HTTPRequest) -> String {
        var p = "/" + rest.dropFirst(from).joined(separator: "/")
        if r.path.hasSuffix("/") && p != "/" { p += "/" }
        return p
    }

    static let notFound = APIError(
        code: 404, reason: "NotFound", message: "the server could not find the requested resource",
        details: MetaV1.StatusDetails())

    /// Splits `[namespaces/<ns>/]<resource>[/<name>[/<subresource>]]`.
    func parseResourcePath(_ rest: [String], group: String, version: String) -> (
        ResourceDescription, String, String, String
    )? {
        let res = { (name: String) in
            self.server.resource(GroupVersionResource(group: group, version: version, resource: name))
        }
        if rest.count >= 3, rest[0] == "namespaces", let d = res(rest[2]), d.namespaced {
            guard rest.count <= 5 else { return nil }
            return (d, rest[1], rest.count > 3 ? rest[3] : "", rest.count > 4 ? rest[4] : "")
        }
        guard let d = res(rest[0]), rest.count <= 3 else { return nil }
        return (d, "", rest.count > 1 ? rest[1] : "", rest.count > 2 ? rest[2] : "")
    }

    /// The target of a resource request, for Forbidden messages.
    func resourceTarget(_ segments: [String], _ r: HTTPRequest) -> (GroupResource, String, String, String, String)? {
        guard let first = segments.first, first == "api" || first == "apis" else { return nil }
        let (group, version, start) =
            first == "api"
            ? ("", segments.count > 1 ? segments[1] : "", 2)
            : (segments.count > 1 ? segments[1] : "", segments.count > 2 ? segments[2] : "", 3)
        guard segments.count > start,
            let t = parseResourcePath(Array(segments[start...]), group: group, version: version)
        else {
            return nil
        }
        let watch = r.query["watch"] == "true" || r.query["watch"] == "1"
        let verb: String
        switch r.method {
        case .GET: verb = t.2.isEmpty ? (watch ? "watch" : "list") : "get"
        case .POST: verb = "create"
        case .PUT: verb = "update"
        case .PATCH: verb = "patch"
        case .DELETE: verb = t.2.isEmpty ? "deletecollection" : "delete"
        default: verb = r.method.rawValue.lowercased()
        }
        return (t.0.groupResource, verb, t.1, t.2, t.3)
    }

    // MARK: health, version

    func health(_ path: String, _ r: HTTPRequest) async throws -> HTTPResponse {
        var checks: [(String, Bool)] = [("ping", true), ("log", true)]
        let storeOK = (try? await server.store.currentRevision()) != nil
        checks.append(("etcd", storeOK))
        if path.hasPrefix("/readyz") {
            checks.append(("informer-sync", ready.load(ordering: .acquiring)))
            checks.append(("poststarthook/start-system-namespaces-controller", ready.load(ordering: .acquiring)))
        }
        let base = path.split(separator: "/").first.map(String.init) ?? "healthz"
        let parts = path.split(separator: "/")
        if parts.count > 1 {
            let name = parts.dropFirst().joined(separator: "/")
            guard let c = checks.first(where: { $0.0 == name }) else { throw Self.notFound }
            return HTTPResponse(
                status: c.1 ? .ok : .internalServerError, contentType: "text/plain; charset=utf-8",
                bytes: Array((c.1 ? "ok" : "internal server error: \(name) check failed").utf8))
        }
        let ok = checks.allSatisfy(\.1)
        let headers: HTTPHeaders = [
            "Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-cache, private",
            "X-Content-Type-Options": "nosniff",
        ]
        if r.query["verbose"] != nil || !ok {
            var text = checks.map { "[\($0.1 ? "+" : "-")]\($0.0) \($0.1 ? "ok" : "failed: reason withheld")" }.joined(
                separator: "\n")
            text += ok ? "\n\(base) check passed\n" : "\n\(base) check failed\n"
            return HTTPResponse(
                status: ok ? .ok : .internalServerError, headers: headers, body: .bytes(Array(text.utf8)))
        }
        return HTTPResponse(status: .ok, headers: headers, body: .bytes(Array("ok".utf8)))
    }

    func version() -> HTTPResponse {
        HTTPResponse(status: .ok, headers: Self.jsonHeaders(), body: .bytes(K8swiftVersion.info.jsonBytes))
    }

    // MARK: virtual resources

    /// Create-only review resources answered in place (no storage): self subject review and access
    /// reviews; masters may do everything.
    func virtualResource(_ d: ResourceDescription, _ r: HTTPRequest, user: UserInfo) async throws -> HTTPResponse {
        guard r.method == .POST else { throw APIError.methodNotAllowed() }
        let format =
            ResponseFormat.negotiate(r.headers.first(name: "accept")) ?? ResponseFormat(format: .json, shape: .object)
        let inFormat = WireFormat(contentType: r.headers.first(name: "content-type")) ?? .json
        func bodyJSON() throws -> JSONValue {
            switch inFormat {
            case .json: return try JSONValue.parse(r.body)
            case .yaml: return try JSONValue.parse(try YAML.toJSON(String(decoding: r.body, as: UTF8.self)))
            case .protobuf: return .object([])
            }
        }
        var out: JSONValue
        switch d.resource {
        case "selfsubjectreviews":
            out = .object([
                ("kind", .string("SelfSubjectReview")), ("apiVersion", .string("\(d.group)/\(d.version)")),
                ("metadata", .object([("creationTimestamp", .null)])),
                (
                    "status",
                    .object([
                        (
                            "userInfo",
                            .object(
                                [("username", .string(user.name))]
                                    + (user.groups.isEmpty ? [] : [("groups", .array(user.groups.map { .string($0) }))])
                            )
                        )
                    ])
                ),
            ])
        case "selfsubjectaccessreviews", "subjectaccessreviews", "localsubjectaccessreviews":
            if inFormat == .protobuf {
                let review = AuthorizationV1.SelfSubjectAccessReview(
                    kind: "SelfSubjectAccessReview", apiVersion: "authorization.k8s.io/v1",
                    status: AuthorizationV1.SubjectAccessReviewStatus(allowed: true, reason: ""))
                var st = review
                if let u = try? ProtobufEnvelope.unwrap(r.body),
                    let dec = try? AuthorizationV1.SelfSubjectAccessReview(protoBytes: u.raw)
                {
                    st.spec = dec.spec
                }
                let body = ProtobufEnvelope.encode(st)
                return HTTPResponse(
                    status: .created, headers: ["Content-Type": WireFormat.protobuf.contentType], body: .bytes(body))
            }
            let input = try bodyJSON()
            guard case .object(var pairs) = input else { throw APIError.badRequest("invalid body") }
            pairs.removeAll { $0.key == "status" }
            if !pairs.contains(where: { $0.key == "metadata" }) { pairs.append(("metadata", .object([]))) }
            let allowed = user.groups.contains("system:masters") || d.resource != "selfsubjectaccessreviews"
            pairs.append(("status", .object([("allowed", .bool(allowed))])))
            out = .object(pairs)
        case "tokenreviews":
            let input = try bodyJSON()
            let token = input["spec"]?["token"]?.stringValue ?? ""
            guard case .object(var pairs) = input else { throw APIError.badRequest("invalid body") }
            pairs.removeAll { $0.key == "status" }
            if let u = tokens[token] {
                pairs.append(
                    (
                        "status",
                        .object([
                            ("authenticated", .bool(true)),
                            (
                                "user",
                                .object([
                                    ("username", .string(u.name)), ("groups", .array(u.groups.map { .string($0) })),
                                ])
                            ),
                        ])
                    ))
            } else {
                pairs.append(("status", .object([("authenticated", .bool(false))])))
            }
            out = .object(pairs)
        default:
            throw Self.notFound
        }
        var bytes = out.jsonBytes + [0x0A]
        if format.format == .yaml { bytes = Array(try YAML.fromJSON(out.jsonBytes).utf8) }
        return HTTPResponse(
            status: .created,
            headers: ["Content-Type": format.format == .yaml ? "application/yaml" : "application/json"],
            body: .bytes(bytes))
    }
}
