import APIMachinery
import Foundation
import HTTPServing
import KubernetesAPI
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// The subresources that reach through to a node or a pod rather than the store: `pods/log`,
/// `pods/exec`, `pods/attach`, `pods/portforward` (to the pod's kubelet, as the API server's kubelet
/// client), and the `proxy` subresources of pods, services and nodes.
final class KubeletConnections: @unchecked Sendable {
    let context: ServerContext
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    /// TLS to kubelets: the kubelet client certificate; kubelets' serving certificates are not
    /// verified (upstream's default without `--kubelet-certificate-authority`).
    var kubeletTLS: NIOSSLContext?
    let plainTLS: NIOSSLContext?

    init(context: ServerContext) {
        self.context = context
        var c = TLSConfiguration.makeClientConfiguration()
        c.certificateVerification = .none
        c.applicationProtocols = ["http/1.1"]
        plainTLS = try? NIOSSLContext(configuration: c)
    }

    func useClientCertificate(certPEM: String, keyPEM: String) throws {
        var c = TLSConfiguration.makeClientConfiguration()
        c.certificateVerification = .none
        c.applicationProtocols = ["http/1.1"]
        c.certificateChain = try NIOSSLCertificate.fromPEMBytes(Array(certPEM.utf8)).map { .certificate($0) }
        c.privateKey = .privateKey(try NIOSSLPrivateKey(bytes: Array(keyPEM.utf8), format: .pem))
        kubeletTLS = try NIOSSLContext(configuration: c)
    }

    static let pods = GroupResource(group: "", resource: "pods")
    static let nodes = GroupResource(group: "", resource: "nodes")
    static let services = GroupResource(group: "", resource: "services")

    func object<T: StoredKind>(_: T.Type, _ gr: GroupResource, _ namespace: String, _ name: String) async throws -> T {
        guard let store = context.stores[gr] as? ResourceStore<T>,
            let o = try await store.freshCurrent(namespace, name)?.object
        else {
            throw APIError.notFound(gr, name)
        }
        return o
    }

    // MARK: Pods' kubelet

    /// The container a request names, or the pod's only container (upstream's messages otherwise).
    static func container(_ pod: CoreV1.Pod, _ requested: String?) throws -> String {
        let name = pod.metadata.name
        if let c = requested, !c.isEmpty {
            let all =
                pod.spec.containers.map(\.name) + pod.spec.initContainers.map(\.name)
                + pod.spec.ephemeralContainers.map { $0.ephemeralContainerCommon.name }
            guard all.contains(c) else { throw APIError.badRequest("container \(c) is not valid for pod \(name)") }
            return c
        }
        if pod.spec.containers.count == 1 { return pod.spec.containers[0].name }
        var message =
            "a container name must be specified for pod \(name), choose one of: [\(pod.spec.containers.map(\.name).joined(separator: " "))]"
        if !pod.spec.initContainers.isEmpty {
            message += " or one of the init containers: [\(pod.spec.initContainers.map(\.name).joined(separator: " "))]"
        }
        throw APIError.badRequest(message)
    }

    /// Where the pod's node serves its kubelet port.
    func kubelet(of pod: CoreV1.Pod) async throws -> (host: String, port: Int) {
        let nodeName = pod.spec.nodeName
        guard !nodeName.isEmpty else {
            throw APIError.badRequest("pod \(pod.metadata.name) does not have a host assigned")
        }
        return try await kubelet(nodeName)
    }

    func kubelet(_ nodeName: String) async throws -> (host: String, port: Int) {
        let node = try await object(CoreV1.Node.self, Self.nodes, "", nodeName)
        let addresses = node.status.addresses
        // Upstream's preference order, with the hostname after the IPs (it may not resolve here).
        for type in ["InternalIP", "ExternalIP", "InternalDNS", "ExternalDNS", "Hostname"] {
            if let a = addresses.first(where: { $0.type == type && !$0.address.isEmpty }) {
                let port = Int(node.status.daemonEndpoints.kubeletEndpoint.Port)
                return (a.address, port == 0 ? 10250 : port)
            }
        }
        throw APIError(
            code: 503, reason: "ServiceUnavailable", message: "no preferred addresses found; known addresses: []")
    }

    /// Headers passed on to a kubelet: the client's, without its credentials and hop-by-hop ones.
    static func forwardHeaders(_ r: HTTPRequest) -> HTTPHeaders {
        var h = HTTPHeaders()
        for (k, v) in r.headers {
            switch k.lowercased() {
            case "host", "content-length", "authorization", "impersonate-user", "impersonate-group",
                "transfer-encoding", "keep-alive", "proxy-connection":
                continue
            default: h.add(name: k, value: v)
            }
        }
        return h
    }

    static func query(_ pairs: [(String, String)]) -> String {
        guard !pairs.isEmpty else { return "" }
        return "?"
            + pairs.map { "\(percentEncode($0.0))=\(percentEncode($0.1))" }.joined(separator: "&")
    }

    static func percentEncode(_ s: String) -> String {
        var out = ""
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."),
                UInt8(ascii: "~"):
                out.unicodeScalars.append(UnicodeScalar(b))
            default:
                out += String(format: "%%%02X", b)
            }
        }
        return out
    }

    static func flag(_ q: [String: String], _ k: String) -> Bool { q[k] == "true" || q[k] == "1" }

    func dialKubelet(_ target: (host: String, port: Int), method: String, uri: String, headers: HTTPHeaders)
        async throws -> DialedResponse
    {
        do {
            return try await HTTPDialer.open(
                host: target.host, port: target.port, tls: kubeletTLS ?? plainTLS, method: method, uri: uri,
                headers: headers, group: group)
        } catch let e as APIError {
            throw e
        } catch {
            throw APIError(
                code: 500, reason: "InternalError",
                message: "error dialing backend: \(error)")
        }
    }

    /// A kubelet's failure answer as the API server reports it: the status code kept, its text the message.
    static func failure(_ resp: DialedResponse) async -> APIError {
        let body = (try? await resp.readBody(limit: 64 << 10)) ?? []
        var message = String(decoding: body, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        if message.isEmpty { message = "the server responded with status \(resp.status)" }
        return APIError(code: resp.status, reason: MetaV1.Status.reason(forCode: resp.status), message: message)
    }

    /// `GET pods/<name>/log`.
    func log(namespace: String, name: String, _ r: HTTPRequest) async throws -> HTTPResponse {
        let q = r.query
        var errs: ErrorList = []
        if let t = q["tailLines"], (Int(t) ?? -1) < 0 {
            errs.append(.invalid(FieldPath("tailLines"), .string(t), "must be greater than or equal to 0"))
        }
        if let l = q["limitBytes"], (Int(l) ?? 0) < 1 {
            errs.append(.invalid(FieldPath("limitBytes"), .string(l), "must be greater than 0"))
        }
        if let s = q["sinceSeconds"], (Int(s) ?? 0) < 1 {
            errs.append(.invalid(FieldPath("sinceSeconds"), .string(s), "must be greater than 0"))
        }
        if q["sinceSeconds"] != nil && q["sinceTime"] != nil {
            errs.append(.forbidden(FieldPath(""), "at most one of `sinceTime` or `sinceSeconds` may be specified"))
        }
        if !errs.isEmpty { throw APIError.invalid(GroupKind(group: "", kind: "PodLogOptions"), "", errs) }
        let pod = try await object(CoreV1.Pod.self, Self.pods, namespace, name)
        let container = try Self.container(pod, q["container"])
        let target = try await kubelet(of: pod)
        var params: [(String, String)] = []
        for k in ["follow", "previous", "timestamps"] where Self.flag(q, k) { params.append((k, "true")) }
        for k in ["tailLines", "limitBytes", "sinceSeconds", "sinceTime"] {
            if let v = q[k] { params.append((k, v)) }
        }
        let uri =
            "/containerLogs/\(Self.percentEncode(namespace))/\(Self.percentEncode(name))/\(Self.percentEncode(container))"
            + Self.query(params)
        let resp = try await dialKubelet(target, method: "GET", uri: uri, headers: [:])
        guard (200..<300).contains(resp.status) else { throw await Self.failure(resp) }
        var relayed = resp.relayed()
        relayed.headers.replaceOrAdd(name: "Content-Type", value: "text/plain")
        return relayed
    }

    /// `pods/<name>/exec` and `attach`: to the kubelet as an upgrade; a WebSocket client speaking
    /// `v5.channel.k8s.io` is translated to SPDY towards the kubelet, anything else goes through as it is.
    func stream(_ kind: String, namespace: String, name: String, _ r: HTTPRequest) async throws -> HTTPResponse {
        let q = r.query
        let pod = try await object(CoreV1.Pod.self, Self.pods, namespace, name)
        let container = try Self.container(pod, q["container"])
        var params: [(String, String)] = []
        if kind == "exec" {
            let commands = r.values("command")
            guard !commands.isEmpty else { throw APIError.badRequest("you must specify at least 1 command") }
            params += commands.map { ("command", $0) }
        }
        let requested = RemoteCommandOptions(query: q)
        guard requested.stdin || requested.stdout || requested.stderr else {
            throw APIError.badRequest("you must specify at least one of stdin, stdout, stderr")
        }
        var options = requested
        // With a TTY, stderr is merged into stdout.
        if options.tty { options.stderr = false }
        if options.stdin { params.append(("input", "1")) }
        if options.stdout { params.append(("output", "1")) }
        if options.stderr { params.append(("error", "1")) }
        if options.tty { params.append(("tty", "1")) }
        let target = try await kubelet(of: pod)
        let path =
            "/\(kind)/\(Self.percentEncode(namespace))/\(Self.percentEncode(name))/\(Self.percentEncode(container))"
        let uri = path + Self.query(params)
        return try await upgrade(target, uri: uri, r, options: options)
    }

    /// `pods/<name>/portforward`.
    func portForward(namespace: String, name: String, _ r: HTTPRequest) async throws -> HTTPResponse {
        let pod = try await object(CoreV1.Pod.self, Self.pods, namespace, name)
        let target = try await kubelet(of: pod)
        let ports = r.values("ports").flatMap { $0.split(separator: ",").map(String.init) }
        for p in ports {
            guard let n = Int(p), n > 0, n < 65536 else {
                throw APIError.badRequest("invalid port \"\(p)\"")
            }
        }
        let uri =
            "/portForward/\(Self.percentEncode(namespace))/\(Self.percentEncode(name))"
            + Self.query(ports.map { ("port", $0) })
        return try await upgrade(target, uri: uri, r, options: nil)
    }

    /// Dials the kubelet for an upgrade and relays (or translates) what it answers.
    func upgrade(
        _ target: (host: String, port: Int), uri: String, _ r: HTTPRequest, options: RemoteCommandOptions?
    ) async throws -> HTTPResponse {
        guard !r.isHTTP2 else {
            throw APIError.badRequest("upgrade request required: exec, attach and port-forward need HTTP/1.1")
        }
        if let translated = try await translated(target, uri: uri, r, options: options) { return translated }
        let resp = try await dialKubelet(target, method: r.method.rawValue, uri: uri, headers: Self.forwardHeaders(r))
        if resp.status == 101 { return resp.relayed() }
        throw await Self.failure(resp)
    }

    /// The translations upstream's API server makes since 1.30: a WebSocket `v5.channel.k8s.io`
    /// exec/attach becomes SPDY towards the kubelet, and a port-forward SPDY session tunnelled in
    /// WebSocket messages is unwrapped. Nil when the request is to go through as it is.
    func translated(
        _ target: (host: String, port: Int), uri: String, _ r: HTTPRequest, options: RemoteCommandOptions?
    ) async throws -> HTTPResponse? {
        let tunneled = StreamTranslator.tunneledSPDYProtocols(r.headers)
        let protocols: [String]
        let clientProtocols: [String]
        if options != nil, StreamTranslator.needsExecTranslation(r.headers) {
            protocols = StreamTranslator.execSPDYProtocols
            clientProtocols = [StreamTranslator.execWebSocketProtocol]
        } else if options == nil, !tunneled.isEmpty {
            protocols = tunneled
            clientProtocols = tunneled.map { StreamTranslator.tunnelingPrefix + $0 }
        } else {
            return nil
        }
        // Check the client's handshake before dialing.
        if case .reject(let status, let headers, let reason) = WebSocketHandshake.accept(
            method: r.method, headers: r.headers, supported: clientProtocols)
        {
            return HTTPResponse(
                status: status, headers: headers.isEmpty ? ["Content-Type": "text/plain"] : headers,
                body: .bytes(Array(reason.utf8)))
        }
        let backend = try await dialKubelet(
            target, method: "POST", uri: uri, headers: StreamTranslator.backendUpgradeHeaders(protocols: protocols))
        guard StreamTranslator.isSPDYUpgrade(status: backend.status, headers: backend.headers) else {
            throw await Self.failure(backend)
        }
        let chosen = StreamTranslator.negotiatedProtocol(backend.headers)
        let answerProtocols =
            options != nil
            ? clientProtocols
            : (StreamTranslator.portForwardClientProtocol(backendHeaders: backend.headers).map { [$0] } ?? [])
        guard
            case .accept(let headers, _) = WebSocketHandshake.accept(
                method: r.method, headers: r.headers, supported: answerProtocols)
        else {
            await backend.stream.close()
            throw APIError.badRequest("the kubelet chose no protocol the client offered")
        }
        let stream = backend.stream
        return HTTPResponse(
            status: .switchingProtocols, headers: headers,
            body: .upgrade { client in
                if let options {
                    await StreamTranslator.exec(
                        client: client, backend: stream, backendProtocol: chosen, options: options)
                } else {
                    await StreamTranslator.portForward(client: client, backend: stream)
                }
                await stream.close()
            })
    }

    // MARK: Proxies

    /// `name`, `name:port` or `scheme:name:port` of a proxy path.
    static func proxyTarget(_ s: String) -> (scheme: String, name: String, port: String) {
        let parts = s.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        switch parts.count {
        case 3: return (parts[0], parts[1], parts[2])
        case 2: return ("", parts[0], parts[1])
        default: return ("", s, "")
        }
    }

    /// `…/pods/<name>/proxy/<path>`, `…/services/<name>/proxy/<path>`, `/api/v1/nodes/<name>/proxy/<path>`.
    func proxy(resource: String, namespace: String, nameAndPort: String, path: String, _ r: HTTPRequest) async throws
        -> HTTPResponse
    {
        let (scheme, name, port) = Self.proxyTarget(nameAndPort)
        var host: String
        var portNumber: Int
        var tls: NIOSSLContext?
        switch resource {
        case "nodes":
            let target = try await kubelet(name)
            host = target.host
            portNumber = port.isEmpty ? target.port : (Int(port) ?? target.port)
            tls = scheme == "http" ? nil : (kubeletTLS ?? plainTLS)
        case "pods":
            let pod = try await object(CoreV1.Pod.self, Self.pods, namespace, name)
            let ip = pod.status.podIP
            guard !ip.isEmpty else {
                throw APIError(
                    code: 503, reason: "ServiceUnavailable", message: "address not allowed")
            }
            host = ip
            portNumber = try Self.resolvePort(port, pod: pod) ?? 80
            tls = scheme == "https" ? plainTLS : nil
        default:
            let svc = try await object(CoreV1.Service.self, Self.services, namespace, name)
            let (ip, p) = try await endpoint(of: svc, port: port)
            host = ip
            portNumber = p
            tls = scheme == "https" ? plainTLS : nil
        }
        var uri = path.hasPrefix("/") ? path : "/" + path
        if let q = r.uri.split(separator: "?", maxSplits: 1).dropFirst().first { uri += "?" + q }
        var headers = Self.forwardHeaders(r)
        headers.replaceOrAdd(
            name: "Host", value: host.contains(":") ? "[\(host)]:\(portNumber)" : "\(host):\(portNumber)")
        let resp: DialedResponse
        do {
            resp = try await HTTPDialer.open(
                host: host, port: portNumber, tls: tls, method: r.method.rawValue, uri: uri, headers: headers,
                body: r.body, group: group)
        } catch {
            throw APIError(code: 503, reason: "ServiceUnavailable", message: "error trying to reach service: \(error)")
        }
        return resp.relayed()
    }

    /// A port given by number, or by a container port's name.
    static func resolvePort(_ port: String, pod: CoreV1.Pod) throws -> Int? {
        guard !port.isEmpty else { return nil }
        if let n = Int(port) { return n }
        for c in pod.spec.containers {
            if let p = c.ports.first(where: { $0.name == port }) { return Int(p.containerPort) }
        }
        throw APIError.badRequest("no such port \(port) in pod \(pod.metadata.name)")
    }

    /// A ready endpoint of the service's port (by name or number; the only port when none is given).
    func endpoint(of svc: CoreV1.Service, port: String) async throws -> (String, Int) {
        let ports = svc.spec.ports
        let sp: CoreV1.ServicePort?
        if port.isEmpty {
            sp = ports.count == 1 ? ports[0] : nil
        } else {
            sp = ports.first { $0.name == port || String($0.port) == port }
        }
        guard let sp else {
            throw APIError(
                code: 503, reason: "ServiceUnavailable",
                message: "no service port \"\(port)\" found for service \"\(svc.metadata.name)\"")
        }
        guard
            let store = context.stores[GroupResource(group: "", resource: "endpoints")]
                as? ResourceStore<CoreV1.Endpoints>,
            let eps = try await store.freshCurrent(svc.metadata.namespace, svc.metadata.name)?.object
        else {
            throw APIError(
                code: 503, reason: "ServiceUnavailable",
                message: "no endpoints available for service \"\(svc.metadata.name)\"")
        }
        for subset in eps.subsets {
            guard let addr = subset.addresses.first else { continue }
            let p = subset.ports.first { $0.name == sp.name } ?? subset.ports.first
            if let p { return (addr.ip, Int(p.port)) }
        }
        throw APIError(
            code: 503, reason: "ServiceUnavailable",
            message: "no endpoints available for service \"\(svc.metadata.name)\"")
    }
}
