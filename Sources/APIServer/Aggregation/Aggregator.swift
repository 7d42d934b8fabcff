import APIMachinery
import AsyncHTTPClient
import Foundation
import KubernetesAPI
import NIOCore
import NIOHTTP1
import NIOSSL
import Synchronization

/// API aggregation (upstream's kube-aggregator): requests for a group/version an APIService
/// backs with a Service are proxied to one of its endpoints over TLS, with the requesting user in
/// `X-Remote-User`/`X-Remote-Group` and the front proxy's client certificate; a controller keeps
/// each APIService's Available condition and what its server serves (for discovery).
final class Aggregator: @unchecked Sendable {
    typealias APIService = APIRegistrationV1.APIService

    struct Identity: Sendable {
        var certPEM: String
        var keyPEM: String
    }

    private weak let server: ServerContext?
    /// The client certificate presented to extension servers (none: requests go without one).
    let identity = Mutex<Identity?>(nil)
    /// The resources each available APIService's server lists, by APIService name.
    private let discovered = Mutex<[String: [ResourceDescription]]>([:])
    private let knownVersions = Mutex<[String]>([])
    /// Called when the discovered resources change (discovery is rebuilt).
    var onChange: (@Sendable () -> Void)?
    private var task: Task<Void, Never>?

    init(server: ServerContext) { self.server = server }

    var store: ResourceStore<APIService>? {
        server?.stores[GroupResource(group: "apiregistration.k8s.io", resource: "apiservices")]
            as? ResourceStore<APIService>
    }

    /// The APIService that sends a group/version to a Service, if any.
    func remote(group: String, version: String) -> APIService? {
        guard let s = store?.current("", "\(version).\(group)")?.object, s.spec.service != nil else { return nil }
        return s
    }

    /// Group/versions served by extension servers (listed in discovery even while unavailable).
    var remoteGroupVersions: [(group: String, version: String, priority: Int32)] {
        (store?.cache.snapshot(.everything).items ?? []).compactMap { e in
            let s = e.object
            return s.spec.service == nil ? nil : (s.spec.group, s.spec.version, s.spec.versionPriority)
        }
    }

    /// The resources available extension servers serve.
    var descriptions: [ResourceDescription] {
        discovered.withLock { d in d.keys.sorted().flatMap { d[$0]! } }
    }

    static func isAvailable(_ s: APIService) -> Bool {
        s.status.conditions.contains { $0.type == "Available" && $0.status == "True" }
    }

    /// Upstream's APIService validation: the name is `<version>.<group>`, priorities in range,
    /// and a CA bundle excludes skipping TLS verification.
    static func validate(_ s: APIService, old: APIService?) -> ErrorList {
        var errs = MetaValidation.validateObjectMeta(s.metadata, namespaced: false, nameRule: .dns1123Subdomain)
        if let old { errs += MetaValidation.validateObjectMetaUpdate(s.metadata, old.metadata) }
        let spec = FieldPath("spec")
        if s.spec.group.isEmpty && s.spec.version != "v1" {
            errs.append(.required(spec.child("group"), "only v1 may have an empty group and it better be legacy kube"))
        }
        if s.spec.version.isEmpty { errs.append(.required(spec.child("version"))) }
        let wanted = s.spec.group.isEmpty ? "\(s.spec.version)." : "\(s.spec.version).\(s.spec.group)"
        if s.metadata.name != wanted {
            errs.append(
                .invalid(FieldPath("metadata", "name"), s.metadata.name, "must be `spec.version+\".\"+spec.group`"))
        }
        if s.spec.groupPriorityMinimum <= 0 || s.spec.groupPriorityMinimum > 20000 {
            errs.append(
                .invalid(
                    spec.child("groupPriorityMinimum"), .int(Int64(s.spec.groupPriorityMinimum)),
                    "must be positive and less than 20000"))
        }
        if s.spec.versionPriority <= 0 || s.spec.versionPriority > 1000 {
            errs.append(
                .invalid(
                    spec.child("versionPriority"), .int(Int64(s.spec.versionPriority)),
                    "must be positive and less than 1000"))
        }
        if s.spec.service == nil {
            if !s.spec.caBundle.isEmpty {
                errs.append(.invalid(spec.child("caBundle"), "...", "local APIServices may not have a caBundle"))
            }
            if s.spec.insecureSkipTLSVerify {
                errs.append(
                    .invalid(
                        spec.child("insecureSkipTLSVerify"), .bool(true),
                        "local APIServices may not have insecureSkipTLSVerify"))
            }
        } else if s.spec.insecureSkipTLSVerify && !s.spec.caBundle.isEmpty {
            errs.append(
                .invalid(spec.child("insecureSkipTLSVerify"), .bool(true), "may not be true if caBundle is present"))
        }
        return errs
    }

    // MARK: Proxy

    /// Where an APIService's requests go: `https://<svc>.<ns>.svc:<port>` connected to an endpoint.
    func target(_ s: APIService) throws -> WebhookClient.Target {
        guard let server, let ref = s.spec.service else { throw APIError.serviceUnavailable("service unavailable") }
        return try WebhookClient.target(
            url: nil, service: WebhookClient.ServiceAddress(ref.namespace, ref.name, nil, ref.port ?? 443),
            caBundle: s.spec.caBundle, server: server)
    }

    func tls(_ s: APIService, caBundle: [UInt8]) throws -> TLSConfiguration {
        var tls = TLSConfiguration.makeClientConfiguration()
        if s.spec.insecureSkipTLSVerify {
            tls.certificateVerification = .none
        } else if !caBundle.isEmpty {
            tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(caBundle))
        }
        if let id = identity.withLock({ $0 }) {
            tls.certificateChain = try NIOSSLCertificate.fromPEMBytes(Array(id.certPEM.utf8)).map { .certificate($0) }
            tls.privateKey = .privateKey(try NIOSSLPrivateKey(bytes: Array(id.keyPEM.utf8), format: .pem))
        }
        return tls
    }

    static func encodeQuery(_ q: [String: String]) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return q.keys.sorted().map { k in
            let v = q[k]!
            return
                "\(k.addingPercentEncoding(withAllowedCharacters: allowed) ?? k)=\(v.addingPercentEncoding(withAllowedCharacters: allowed) ?? v)"
        }.joined(separator: "&")
    }

    /// Headers not passed on: credentials, impersonation, the identity headers the proxy sets,
    /// and hop-by-hop ones.
    static let droppedHeaders: Set<String> = [
        "authorization", "connection", "host", "content-length", "transfer-encoding", "keep-alive", "upgrade",
        "proxy-connection", "te", "trailer",
    ]

    /// Proxies a request to the APIService's server; 503 while it is unavailable.
    func proxy(_ r: HTTPRequest, user: UserInfo, _ s: APIService) async throws -> HTTPResponse {
        guard Self.isAvailable(s) else { throw APIError.serviceUnavailable("service unavailable") }
        let target: WebhookClient.Target
        do { target = try self.target(s) } catch { throw APIError.serviceUnavailable("service unavailable") }
        // The path and query as the client encoded them.
        let rawPath = r.uri.hasPrefix("/") ? r.uri : r.path + (r.query.isEmpty ? "" : "?" + Self.encodeQuery(r.query))
        var req = HTTPClientRequest(url: target.url + rawPath)
        req.method = r.method
        for (name, value) in r.headers {
            let n = name.lowercased()
            if Self.droppedHeaders.contains(n) || n.hasPrefix("impersonate-") || n.hasPrefix("x-remote-") { continue }
            req.headers.add(name: name, value: value)
        }
        req.headers.add(name: "X-Remote-User", value: user.name)
        if !user.uid.isEmpty { req.headers.add(name: "X-Remote-Uid", value: user.uid) }
        for g in user.groups { req.headers.add(name: "X-Remote-Group", value: g) }
        if !r.body.isEmpty { req.body = .bytes(ByteBuffer(bytes: r.body)) }
        req.tlsConfiguration = try tls(s, caBundle: target.caBundle)
        var overrides: [String: String] = [:]
        if let ip = target.connectTo, let host = URLComponents(string: target.url)?.host { overrides[host] = ip }
        let isWatch = r.query["watch"] == "true" || r.query["watch"] == "1" || r.path.contains("/watch/")
        let response: HTTPClientResponse
        do {
            response = try await WebhookClient.client(overrides).execute(
                req, timeout: .hours(isWatch ? 24 : 0) + .seconds(60))
        } catch {
            throw APIError(
                code: 503, reason: "ServiceUnavailable",
                message: "error trying to reach service: \(error)")
        }
        var headers = HTTPHeaders()
        for (name, value) in response.headers where !Self.droppedHeaders.contains(name.lowercased()) {
            headers.add(name: name, value: value)
        }
        if isWatch {
            let (stream, cont) = AsyncStream<[UInt8]>.makeStream()
            let body = response.body
            let pump = Task {
                do {
                    for try await chunk in body { cont.yield(Array(chunk.readableBytesView)) }
                } catch {}
                cont.finish()
            }
            cont.onTermination = { _ in pump.cancel() }
            return HTTPResponse(status: response.status, headers: headers, body: .stream(stream))
        }
        let bytes = try await response.body.collect(upTo: 256 << 20)
        return HTTPResponse(status: response.status, headers: headers, body: .bytes(Array(bytes.readableBytesView)))
    }

    // MARK: Availability

    /// Checks every APIService now and then (sooner while one is unavailable or just changed).
    func start() {
        guard let store else { return }
        let (id, start) = store.cache.watch(from: nil, filter: .everything)
        guard case .stream(let events, _, _) = start else { return }
        let changed = Atomic<Bool>(true)
        let listener = Task.detached {
            defer { store.cache.stopWatch(id) }
            for await _ in events { changed.store(true, ordering: .releasing) }
        }
        task = Task.detached { [weak self] in
            var sinceFull = 0
            while !Task.isCancelled {
                guard let self else { break }
                let now = changed.exchange(false, ordering: .acquiringAndReleasing)
                let anyDown = !(store.cache.snapshot(.everything).items.allSatisfy { Self.isAvailable($0.object) })
                if now || anyDown || sinceFull >= 30 {
                    await self.checkAll()
                    sinceFull = 0
                }
                sinceFull += 1
                try? await Task.sleep(for: .seconds(1))
            }
            listener.cancel()
        }
    }

    func stop() { task?.cancel() }

    func checkAll() async {
        guard let store else { return }
        var found: [String: [ResourceDescription]] = [:]
        for e in store.cache.snapshot(.everything).items {
            let s = e.object
            let (status, reason, message, resources) = await check(s)
            if let resources { found[s.metadata.name] = resources }
            await record(s.metadata.name, status, reason, message)
        }
        let versions = remoteGroupVersions.map { "\($0.group)/\($0.version)" }.sorted()
        let changed = discovered.withLock { d -> Bool in
            if d == found { return false }
            d = found
            return true
        }
        let versionsChanged = knownVersions.withLock { v -> Bool in
            if v == versions { return false }
            v = versions
            return true
        }
        if changed || versionsChanged { onChange?() }
    }

    /// One APIService's availability as upstream's controller decides it, with what its server
    /// lists for the group/version when it answers.
    func check(_ s: APIService) async -> (String, String, String, [ResourceDescription]?) {
        guard let ref = s.spec.service, let server else {
            return ("True", "Local", "Local APIServices are always available", nil)
        }
        let port = ref.port ?? 443
        guard
            let services = server.stores[GroupResource(group: "", resource: "services")]
                as? ResourceStore<CoreV1.Service>,
            let svc = services.current(ref.namespace, ref.name)?.object
        else {
            return ("False", "ServiceNotFound", "service/\(ref.name) in \"\(ref.namespace)\" is not present", nil)
        }
        if svc.spec.type != "ExternalName", !svc.spec.ports.contains(where: { $0.port == port }) {
            return (
                "False", "ServicePortError",
                "service/\(ref.name) in \"\(ref.namespace)\" is not listening on port \(port)", nil
            )
        }
        guard
            let endpoints = server.stores[GroupResource(group: "", resource: "endpoints")]
                as? ResourceStore<CoreV1.Endpoints>,
            let ep = endpoints.current(ref.namespace, ref.name)?.object
        else {
            return (
                "False", "EndpointsNotFound", "cannot find endpoints for service/\(ref.name) in \"\(ref.namespace)\"",
                nil
            )
        }
        let portName = svc.spec.ports.first { $0.port == port }?.name ?? ""
        if !ep.subsets.contains(where: { !$0.addresses.isEmpty && $0.ports.contains { $0.name == portName } }) {
            return (
                "False", "MissingEndpoints",
                "endpoints for service/\(ref.name) in \"\(ref.namespace)\" have no addresses with port name \"\(portName)\"",
                nil
            )
        }
        let path = "/apis/\(s.spec.group)/\(s.spec.version)"
        var url = "https://\(ref.name).\(ref.namespace).svc:\(port)\(path)"
        do {
            let target = try self.target(s)
            let parts = URLComponents(string: target.url)
            url = "https://\(target.connectTo ?? parts?.host ?? ""):\(parts?.port ?? Int(port))\(path)"
            var req = HTTPClientRequest(url: target.url + path)
            req.headers.add(name: "Accept", value: "application/json")
            req.headers.add(name: "X-Remote-User", value: "system:kube-aggregator")
            req.headers.add(name: "X-Remote-Group", value: "system:masters")
            req.tlsConfiguration = try tls(s, caBundle: target.caBundle)
            var overrides: [String: String] = [:]
            if let ip = target.connectTo, let host = URLComponents(string: target.url)?.host { overrides[host] = ip }
            let response = try await WebhookClient.client(overrides).execute(req, timeout: .seconds(5))
            let body = try await response.body.collect(upTo: 16 << 20)
            guard (200..<300).contains(Int(response.status.code)) else {
                return (
                    "False", "FailedDiscoveryCheck",
                    "failing or missing response from \(url): bad status from \(url): \(response.status.code)", nil
                )
            }
            return ("True", "Passed", "all checks passed", Self.resources(Array(body.readableBytesView), s))
        } catch {
            return ("False", "FailedDiscoveryCheck", "failing or missing response from \(url): \(error)", nil)
        }
    }

    /// An APIResourceList as resource descriptions of the APIService's group/version.
    static func resources(_ body: [UInt8], _ s: APIService) -> [ResourceDescription] {
        guard let json = try? JSONValue.parse(body), case .array(let items)? = json["resources"] else { return [] }
        var main: [String: ResourceDescription] = [:]
        var order: [String] = []
        var subs: [(String, SubresourceDescription)] = []
        for item in items {
            guard let name = item["name"]?.stringValue else { continue }
            let verbs: [String]
            if case .array(let v)? = item["verbs"] { verbs = v.compactMap(\.stringValue) } else { verbs = [] }
            let kind = item["kind"]?.stringValue ?? ""
            if name.contains("/") {
                let parts = name.split(separator: "/", maxSplits: 1).map(String.init)
                subs.append((parts[0], SubresourceDescription(name: parts[1], kind: nil, verbs: verbs)))
                continue
            }
            func strings(_ key: String) -> [String] {
                if case .array(let v)? = item[key] { return v.compactMap(\.stringValue) }
                return []
            }
            main[name] = ResourceDescription(
                group: s.spec.group, version: s.spec.version, resource: name,
                singular: item["singularName"]?.stringValue ?? "", kind: kind,
                namespaced: item["namespaced"] == .bool(true), verbs: verbs, shortNames: strings("shortNames"),
                categories: strings("categories"), subresources: [], enabledByDefault: true)
            order.append(name)
        }
        for (parent, sub) in subs { main[parent]?.subresources.append(sub) }
        return order.compactMap { main[$0] }
    }

    /// Writes the Available condition when it changed.
    func record(_ name: String, _ status: String, _ reason: String, _ message: String) async {
        guard let store, let cur = store.current("", name)?.object else { return }
        if let c = cur.status.conditions.first(where: { $0.type == "Available" }), c.status == status,
            c.reason == reason, c.message == message
        {
            return
        }
        _ = try? await store.updateObject(namespace: "", name: name, subresource: "status") { old in
            var s = old
            var cond = APIRegistrationV1.APIServiceCondition(
                type: "Available", status: status,
                lastTransitionTime: Time(seconds: Int64(Date().timeIntervalSince1970)),
                reason: reason, message: message)
            if let i = s.status.conditions.firstIndex(where: { $0.type == "Available" }) {
                if s.status.conditions[i].status == status {
                    cond.lastTransitionTime = s.status.conditions[i].lastTransitionTime
                }
                s.status.conditions[i] = cond
            } else {
                s.status.conditions.append(cond)
            }
            return s
        }
    }
}
