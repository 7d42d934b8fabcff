import APIMachinery
import AsyncHTTPClient
import Foundation
import KubernetesAPI
import NIOCore
import NIOHTTP1
import NIOSSL
import Synchronization

/// Calls the webhooks the API server uses (CRD conversion now, admission later) as upstream does:
/// an HTTPS POST of a JSON review to a URL or to a Service (reached at one of its endpoints, the
/// certificate checked for `<service>.<namespace>.svc`), trusting the configured CA bundle.
enum WebhookClient {
    struct Target: Sendable {
        /// The URL the certificate and path come from (`https://svc.ns.svc:443/path` for services).
        var url: String
        /// Where the connection really goes, when not the URL's host (a service's endpoint).
        var connectTo: String?
        var caBundle: [UInt8]
    }

    enum Failure: Error, CustomStringConvertible {
        case transport(String)
        case status(Int, String)

        var description: String {
            switch self {
            case .transport(let m): return m
            case .status(let code, let body):
                return "the server responded with the status code \(code) but did not return more information: \(body)"
            }
        }
    }

    /// One client per connection override, kept for the process (an HTTPClient must be shut down
    /// before it is released; these never are).
    private static let clients = Mutex<[String: HTTPClient]>([:])

    static func client(_ overrides: [String: String]) -> HTTPClient {
        let key = overrides.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
        return clients.withLock { c in
            if let existing = c[key] { return existing }
            var config = HTTPClient.Configuration(
                redirectConfiguration: .disallow, timeout: .init(connect: .seconds(10), read: nil))
            config.dnsOverride = overrides
            config.connectionPool = .init(idleTimeout: .seconds(60))
            let made = HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
            c[key] = made
            return made
        }
    }

    /// Where a webhook's client config points: its URL, or its Service resolved to an endpoint.
    static func target(
        url: String?, service: APIExtensionsV1.ServiceReference?, caBundle: [UInt8], server: ServerContext
    ) throws -> Target {
        try target(
            url: url, service: service.map { ServiceAddress($0.namespace, $0.name, $0.path, $0.port) },
            caBundle: caBundle, server: server)
    }

    /// A Service a webhook is reached through.
    struct ServiceAddress {
        var namespace: String
        var name: String
        var path: String?
        var port: Int32?

        init(_ namespace: String, _ name: String, _ path: String?, _ port: Int32?) {
            (self.namespace, self.name, self.path, self.port) = (namespace, name, path, port)
        }
    }

    static func target(url: String?, service: ServiceAddress?, caBundle: [UInt8], server: ServerContext) throws
        -> Target
    {
        if let url { return Target(url: url, connectTo: nil, caBundle: caBundle) }
        guard let service else { throw Failure.transport("webhook has no url and no service") }
        let host = "\(service.name).\(service.namespace).svc"
        let port = service.port ?? 443
        let path = service.path ?? ""
        guard
            let (ip, targetPort) = endpoint(of: service.name, namespace: service.namespace, port: port, server: server)
        else {
            throw Failure.transport("service \"\(service.namespace)/\(service.name)\" has no ready endpoint")
        }
        return Target(url: "https://\(host):\(targetPort)\(path)", connectTo: ip, caBundle: caBundle)
    }

    /// A ready endpoint address of the service port `port`, from the service's Endpoints.
    static func endpoint(of name: String, namespace: String, port: Int32, server: ServerContext) -> (String, Int)? {
        guard
            let services = server.stores[GroupResource(group: "", resource: "services")]
                as? ResourceStore<CoreV1.Service>,
            let endpoints = server.stores[GroupResource(group: "", resource: "endpoints")]
                as? ResourceStore<CoreV1.Endpoints>,
            let ep = endpoints.current(namespace, name)?.object
        else { return nil }
        let svcPort = services.current(namespace, name)?.object.spec.ports.first { $0.port == port }
        for subset in ep.subsets {
            guard let address = subset.addresses.first else { continue }
            let p =
                subset.ports.first { svcPort == nil || $0.name == svcPort?.name } ?? subset.ports.first
            if let p { return (address.ip, Int(p.port)) }
        }
        return nil
    }

    /// POSTs `body` and returns the answer's bytes; fails on transport errors, a timeout or a
    /// status other than 200.
    static func post(_ target: Target, body: [UInt8], timeout: Swift.Duration) async throws -> [UInt8] {
        var overrides: [String: String] = [:]
        if let ip = target.connectTo, let host = URLComponents(string: target.url)?.host { overrides[host] = ip }
        var req = HTTPClientRequest(url: target.url)
        req.method = .POST
        req.headers.add(name: "Content-Type", value: "application/json")
        req.headers.add(name: "Accept", value: "application/json, */*")
        req.body = .bytes(ByteBuffer(bytes: body))
        var tls = TLSConfiguration.makeClientConfiguration()
        if !target.caBundle.isEmpty {
            do {
                tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(target.caBundle))
            } catch {
                throw Failure.transport("invalid CA bundle: \(error)")
            }
        }
        req.tlsConfiguration = tls
        let response: HTTPClientResponse
        do {
            response = try await client(overrides).execute(
                req, timeout: .nanoseconds(Int64(timeout.components.seconds) * 1_000_000_000))
        } catch let e as HTTPClientError where e == .deadlineExceeded || e == .readTimeout {
            throw Failure.transport("Post \"\(target.url)\": context deadline exceeded")
        } catch {
            throw Failure.transport("Post \"\(target.url)\": \(error)")
        }
        let bytes: ByteBuffer
        do {
            bytes = try await response.body.collect(upTo: 64 << 20)
        } catch {
            throw Failure.transport("Post \"\(target.url)\": \(error)")
        }
        let data = Array(bytes.readableBytesView)
        guard response.status == .ok else {
            throw Failure.status(Int(response.status.code), String(decoding: data.prefix(512), as: UTF8.self))
        }
        return data
    }
}
