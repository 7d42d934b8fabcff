import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL

/// One request to the API server, before credentials and the user agent are added.
public struct KubeRequest: Sendable {
    public var method: String
    /// The path, unescaped (`/api/v1/namespaces/default/pods`).
    public var path: String
    public var query: [(name: String, value: String)]
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]?
    /// A watch or another long-running request: the answer's body is a stream, and no request timeout
    /// applies.
    public var streaming: Bool

    public init(
        method: String = "GET", path: String, query: [(name: String, value: String)] = [],
        headers: [(name: String, value: String)] = [], body: [UInt8]? = nil, streaming: Bool = false
    ) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
        self.streaming = streaming
    }

    /// Path and query, percent-escaped as a URL needs them.
    public var uri: String {
        let p = path.addingPercentEncoding(withAllowedCharacters: Self.pathAllowed) ?? path
        guard !query.isEmpty else { return p }
        return p + "?"
            + query.map { "\(Self.escape($0.name))=\(Self.escape($0.value))" }.joined(separator: "&")
    }

    static let pathAllowed: CharacterSet = {
        var s = CharacterSet.urlPathAllowed
        s.remove(charactersIn: ";?#")
        return s
    }()
    static let queryAllowed: CharacterSet = {
        var s = CharacterSet.alphanumerics
        s.insert(charactersIn: "-._~")
        return s
    }()
    static func escape(_ s: String) -> String { s.addingPercentEncoding(withAllowedCharacters: queryAllowed) ?? s }

    public func header(_ name: String) -> String? {
        headers.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
    }
}

/// The server's answer: the whole body, or a stream of chunks for a streaming request.
public struct KubeResponse: Sendable {
    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]
    public var stream: AsyncThrowingStream<[UInt8], any Error>?

    public init(
        status: Int, headers: [(name: String, value: String)] = [], body: [UInt8] = [],
        stream: AsyncThrowingStream<[UInt8], any Error>? = nil
    ) {
        self.status = status
        self.headers = headers
        self.body = body
        self.stream = stream
    }

    public func header(_ name: String) -> String? {
        headers.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
    }
}

/// Carries requests to an API server: over HTTPS, or inside the server's process through the same
/// handler chain as HTTP requests.
public protocol KubeTransport: Sendable {
    func send(_ request: KubeRequest, timeout: Swift.Duration?) async throws -> KubeResponse
    func shutdown() async
}

/// A connection-level failure (refused, reset, timed out before an answer): safe to retry for
/// idempotent verbs.
public struct TransportError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// HTTPS (HTTP/2 when the server offers it, else HTTP/1.1) over one shared connection pool.
public final class HTTPTransport: KubeTransport {
    let client: HTTPClient
    let base: String

    /// The largest non-streaming answer read (a list of many large objects stays under it).
    static let maxBody = 1 << 30

    public init(config: ClientConfig) throws {
        let tls = try config.tlsConfiguration()
        var c = HTTPClient.Configuration(
            tlsConfiguration: tls, redirectConfiguration: .disallow,
            timeout: .init(connect: .seconds(10), read: nil))
        c.httpVersion = .automatic
        c.connectionPool = .init(idleTimeout: .seconds(90))
        var server = config.server.hasSuffix("/") ? String(config.server.dropLast()) : config.server
        // `tls-server-name`: the name sent in SNI and checked against the certificate; the connection
        // still goes to the server's address.
        if let name = config.tlsServerName, !name.isEmpty, var url = URLComponents(string: server),
            let host = url.host, host != name
        {
            c.dnsOverride = [name: host]
            url.host = name
            server = url.string ?? server
        }
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: c)
        base = server
    }

    public func send(_ request: KubeRequest, timeout: Swift.Duration?) async throws -> KubeResponse {
        var r = HTTPClientRequest(url: base + request.uri)
        r.method = HTTPMethod(rawValue: request.method)
        for h in request.headers { r.headers.add(name: h.name, value: h.value) }
        if let b = request.body { r.body = .bytes(ByteBuffer(bytes: b)) }
        var deadline = NIODeadline.distantFuture
        if !request.streaming, let t = timeout {
            deadline =
                .now() + .nanoseconds(t.components.seconds * 1_000_000_000 + t.components.attoseconds / 1_000_000_000)
        }
        let resp: HTTPClientResponse
        do {
            resp = try await client.execute(r, deadline: deadline)
        } catch let e as HTTPClientError {
            throw TransportError("\(request.method) \(request.path): \(e)")
        } catch let e as ChannelError {
            throw TransportError("\(request.method) \(request.path): \(e)")
        } catch let e as IOError {
            throw TransportError("\(request.method) \(request.path): \(e)")
        }
        let headers = resp.headers.map { (name: $0.name, value: $0.value) }
        let status = Int(resp.status.code)
        if request.streaming && status == 200 {
            let body = resp.body
            let stream = AsyncThrowingStream<[UInt8], any Error> { continuation in
                let task = Task {
                    do {
                        for try await chunk in body { continuation.yield(Array(buffer: chunk)) }
                        continuation.finish()
                    } catch {
                        continuation.finish(throwing: TransportError("watch stream: \(error)"))
                    }
                }
                continuation.onTermination = { _ in task.cancel() }
            }
            return KubeResponse(status: status, headers: headers, stream: stream)
        }
        do {
            let buf = try await resp.body.collect(upTo: Self.maxBody)
            return KubeResponse(status: status, headers: headers, body: Array(buffer: buf))
        } catch {
            throw TransportError("\(request.method) \(request.path): reading the answer: \(error)")
        }
    }

    public func shutdown() async { try? await client.shutdown() }
}

extension ClientConfig {
    /// The TLS client settings of this configuration: its CA (or no verification when asked), and
    /// its client certificate.
    func tlsConfiguration() throws -> TLSConfiguration {
        var tls = TLSConfiguration.makeClientConfiguration()
        if insecureSkipTLSVerify {
            tls.certificateVerification = .none
        } else if let ca = caData {
            tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(ca))
        }
        if let cert = clientCertificateData, let key = clientKeyData {
            tls.certificateChain = try NIOSSLCertificate.fromPEMBytes(cert).map { .certificate($0) }
            tls.privateKey = .privateKey(try NIOSSLPrivateKey(bytes: key, format: .pem))
        }
        return tls
    }
}
