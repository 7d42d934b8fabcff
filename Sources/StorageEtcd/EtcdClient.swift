import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import NIOCore
import NIOHTTP2
import NIOSSL
import Storage
import Synchronization

/// How to reach etcd: upstream's `--etcd-servers`, `--etcd-cafile`, `--etcd-certfile`, `--etcd-keyfile`.
public struct EtcdOptions: Sendable {
    /// `http://host:port` or `https://host:port` (a bare `host:port` is plaintext).
    public var endpoints: [String]
    public var caFile: String? = nil
    public var certFile: String? = nil
    public var keyFile: String? = nil
    /// Time allowed for one request before it fails as unavailable.
    public var requestTimeout: Duration = .seconds(10)
    /// Keys the caller uses begin with `keyPrefix.from`; they are stored under `keyPrefix.to`
    /// instead (`--etcd-prefix`, and an isolated key space per test).
    public var keyPrefix: (from: String, to: String) = ("", "")
    /// The key API servers sharing the etcd take compaction turns with (upstream's, outside any
    /// prefix, so k8swift and upstream servers on one etcd take turns together).
    public var compactionKey = "compact_rev_key"

    public init(endpoints: [String]) { self.endpoints = endpoints }
}

/// One endpoint: its gRPC client and the task running its connections.
final class EtcdEndpoint: Sendable {
    typealias Client = GRPCClient<HTTP2ClientTransport.Posix>
    let url: String
    let client: Client
    let runner: Task<Void, Never>
    /// KV calls, the per-request path, on a lean connection of their own; the rest on grpc-swift.
    let kv: EtcdKV
    let watch: Etcdserverpb_Watch.Client<HTTP2ClientTransport.Posix>
    let lease: Etcdserverpb_Lease.Client<HTTP2ClientTransport.Posix>
    let maintenance: Etcdserverpb_Maintenance.Client<HTTP2ClientTransport.Posix>

    init(url: String, options: EtcdOptions) throws {
        self.url = url
        var rest = Substring(url)
        var secure = false
        if rest.hasPrefix("https://") {
            secure = true
            rest = rest.dropFirst(8)
        } else if rest.hasPrefix("http://") {
            rest = rest.dropFirst(7)
        }
        if let slash = rest.firstIndex(of: "/") { rest = rest[..<slash] }
        var host = String(rest)
        var port = 2379
        if let colon = rest.lastIndex(of: ":"), let p = Int(rest[rest.index(after: colon)...]) {
            host = String(rest[..<colon])
            port = p
        }
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        let security: HTTP2ClientTransport.Posix.TransportSecurity
        if secure {
            security = .tls { tls in
                if let ca = options.caFile {
                    tls.trustRoots = .certificates([.file(path: ca, format: .pem)])
                }
                if let cert = options.certFile, let key = options.keyFile {
                    tls.certificateChain = [.file(path: cert, format: .pem)]
                    tls.privateKey = .file(path: key, format: .pem)
                }
            }
        } else {
            security = .plaintext
        }
        let config = HTTP2ClientTransport.Posix.Config.defaults { c in
            c.backoff = .init(initial: .milliseconds(100), max: .seconds(2), multiplier: 1.6, jitter: 0.2)
            // Requests are latency-bound round trips: flush each at once instead of after a timer.
            c.connection.flushCoalescing = nil
            c.http2.maxFrameSize = 1 << 20
            c.http2.targetWindowSize = 8 << 20
            c.channelDebuggingCallbacks.onCreateTCPConnection = { channel in
                // Below the HTTP/2 handler, so etcd's per-request PINGs never reach its flood limit.
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    let http2 = try sync.handler(type: NIOHTTP2Handler.self)
                    try sync.addHandler(PingResponder(), position: .before(http2))
                }
            }
        }
        // IP literals get an IP target: a DNS target would offer the IP as the TLS server name,
        // which TLS (and NIOSSL) does not allow.
        let target: any ResolvableTarget
        if host.contains(":") {
            target = ResolvableTargets.IPv6(addresses: [SocketAddress.IPv6(host: host, port: port)])
        } else if UnaryConnection.isIPLiteral(host) {
            target = ResolvableTargets.IPv4(addresses: [SocketAddress.IPv4(host: host, port: port)])
        } else {
            target = ResolvableTargets.DNS(host: host, port: port)
        }
        let transport = try HTTP2ClientTransport.Posix(
            target: target, transportSecurity: security, config: config)
        let client = GRPCClient(transport: transport)
        self.client = client
        runner = Task { try? await client.runConnections() }
        var unaryTLS: NIOSSLContext? = nil
        if secure {
            var tls = TLSConfiguration.makeClientConfiguration()
            if let ca = options.caFile { tls.trustRoots = .file(ca) }
            if let cert = options.certFile, let key = options.keyFile {
                tls.certificateChain = try NIOSSLCertificate.fromPEMFile(cert).map { .certificate($0) }
                tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
            }
            tls.applicationProtocols = ["h2"]
            unaryTLS = try NIOSSLContext(configuration: tls)
        }
        kv = EtcdKV(connection: UnaryConnection(endpoint: .init(host: host, port: port, tls: unaryTLS)))
        watch = .init(wrapping: client)
        lease = .init(wrapping: client)
        maintenance = .init(wrapping: client)
    }

    func close() {
        kv.connection.close()
        client.beginGracefulShutdown()
        runner.cancel()
    }
}

/// etcd's KV service (the calls the API server makes per request) over a `UnaryConnection`.
struct EtcdKV: Sendable {
    let connection: UnaryConnection

    func range(_ r: Etcdserverpb_RangeRequest, options: CallOptions) async throws -> Etcdserverpb_RangeResponse {
        try await connection.call("/etcdserverpb.KV/Range", r, timeout: options.timeout)
    }

    func txn(_ r: Etcdserverpb_TxnRequest, options: CallOptions) async throws -> Etcdserverpb_TxnResponse {
        try await connection.call("/etcdserverpb.KV/Txn", r, timeout: options.timeout)
    }

    func deleteRange(
        _ r: Etcdserverpb_DeleteRangeRequest, options: CallOptions
    ) async throws -> Etcdserverpb_DeleteRangeResponse {
        try await connection.call("/etcdserverpb.KV/DeleteRange", r, timeout: options.timeout)
    }

    func compact(
        _ r: Etcdserverpb_CompactionRequest, options: CallOptions
    ) async throws -> Etcdserverpb_CompactionResponse {
        try await connection.call("/etcdserverpb.KV/Compact", r, timeout: options.timeout)
    }
}

/// The endpoints of one cluster, tried in turn: a request that cannot reach one member goes to the next.
final class EtcdCluster: Sendable {
    let endpoints: [EtcdEndpoint]
    let options: EtcdOptions
    private let current = Atomic<Int>(0)

    init(options: EtcdOptions) throws {
        guard !options.endpoints.isEmpty else { throw StorageError.unavailable("no etcd endpoints given") }
        self.options = options
        endpoints = try options.endpoints.map { try EtcdEndpoint(url: $0, options: options) }
    }

    var callOptions: CallOptions {
        var o = CallOptions.defaults
        o.timeout = options.requestTimeout
        o.waitForReady = false
        o.maxResponseMessageBytes = 256 << 20
        return o
    }

    /// Runs `body` against the current endpoint, moving to the next on a connection failure.
    func call<R: Sendable>(_ body: (EtcdEndpoint, CallOptions) async throws -> R) async throws -> R {
        let n = endpoints.count
        let start = current.load(ordering: .relaxed)
        var lastError: (any Error)? = nil
        for attempt in 0..<n {
            let i = (start + attempt) % n
            do {
                let r = try await body(endpoints[i], callOptions)
                if attempt > 0 { current.store(i, ordering: .relaxed) }
                return r
            } catch let e as RPCError where e.code == .unavailable || (e.code == .deadlineExceeded && n > 1) {
                lastError = e
                continue
            } catch let e as RPCError {
                throw Self.translate(e)
            }
        }
        throw Self.translate(lastError ?? StorageError.unavailable("etcd unreachable"))
    }

    /// The endpoint watches use: the current one.
    var watchEndpoint: EtcdEndpoint { endpoints[current.load(ordering: .relaxed) % endpoints.count] }

    /// Moves on to the next endpoint after a watch lost its connection.
    func rotate(from failed: EtcdEndpoint) {
        guard endpoints.count > 1, let i = endpoints.firstIndex(where: { $0 === failed }) else { return }
        _ = current.compareExchange(expected: i, desired: (i + 1) % endpoints.count, ordering: .relaxed)
    }

    static func translate(_ error: any Error) -> any Error {
        guard let e = error as? RPCError else { return error }
        switch e.code {
        case .outOfRange where e.message.contains("compacted"):
            return StorageError.compacted(requested: 0, compacted: 0)
        case .outOfRange where e.message.contains("future revision"):
            return StorageError.futureRevision(requested: 0, current: 0)
        default:
            return StorageError.unavailable("etcd: \(e.code): \(e.message)")
        }
    }

    func close() { for e in endpoints { e.close() } }
}
