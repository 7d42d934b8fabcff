import APICore
import APIDiscovery
import ControllerRuntime
import Foundation
import HTTPServing
import KubeClient
import NIOCore
import NIOPosix
import Synchronization

/// The cluster DNS server (CoreDNS with the kubernetes plugin, as a cluster deploys it): answers the
/// cluster zone from a watch-fed `RecordTable` over UDP and TCP, forwards other names upstream, and
/// serves `/health`, `/ready` and `/metrics`.
public final class ClusterDNS: Sendable {
    public struct Options: Sendable {
        public var clusterDomain = "cluster.local"
        /// `host:port` of the DNS listeners (UDP and TCP).
        public var listen = "0.0.0.0:53"
        /// Upstream servers (`ip` or `ip:port`); nil reads /etc/resolv.conf; empty forwards nothing.
        public var upstreams: [String]?
        public var resolvConf = "/etc/resolv.conf"
        public var ttl: UInt32 = 5
        /// `host:port` of each HTTP endpoint, nil for none.
        public var healthListen: String? = ":8080"
        public var readyListen: String? = ":8181"
        public var metricsListen: String? = ":9153"

        public init() {}
    }

    public let options: Options
    let client: KubeClient
    let log: @Sendable (String) -> Void
    let table: TableBox
    public let metrics: DNSMetrics
    let synced = Mutex(false)
    let bound = Mutex<(udp: Int, tcp: Int)>((0, 0))

    public init(client: KubeClient, options: Options, log: @escaping @Sendable (String) -> Void) {
        self.client = client
        self.options = options
        self.log = log
        table = TableBox(RecordTable(zone: options.clusterDomain, ttl: options.ttl, serial: Self.now()))
        metrics = DNSMetrics(server: "dns://\(options.listen)")
    }

    static func now() -> UInt32 { UInt32(clamping: Int(Date().timeIntervalSince1970)) }

    /// `host:port` (or `:port`, or `[v6]:port`) split; nil when malformed.
    public static func hostPort(_ s: String) -> (host: String, port: Int)? {
        guard let colon = s.lastIndex(of: ":"), let port = Int(s[s.index(after: colon)...]), (0...65535).contains(port)
        else { return nil }
        var host = String(s[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if host.isEmpty { host = "0.0.0.0" }
        return (host, port)
    }

    /// The upstream servers the options name.
    func upstream() -> Upstream {
        let listenHost = Self.hostPort(options.listen)?.host ?? ""
        let names: [String]
        if let given = options.upstreams {
            names = given
        } else {
            let text = (try? String(contentsOfFile: options.resolvConf, encoding: .utf8)) ?? ""
            names = Upstream.nameservers(resolvConf: text, exclude: [listenHost])
        }
        return Upstream(servers: names.compactMap(Upstream.address))
    }

    /// The bound DNS ports (useful with port 0).
    public var boundPorts: (udp: Int, tcp: Int) { bound.withLock { $0 } }

    /// Runs until cancelled: the caches, the listeners and the HTTP endpoints.
    public func run() async throws {
        guard let listen = Self.hostPort(options.listen) else {
            throw ClusterDNSError("--listen \(options.listen): want host:port")
        }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let upstream = upstream()
        let core = ServerCore(table: table, metrics: metrics, upstream: upstream, group: group)
        let factory = InformerFactory(client: client)
        watch(factory)
        factory.start()
        var http: [HTTPServer] = []
        var channels: [any Channel] = []
        do {
            let udp = try await DatagramBootstrap(group: group)
                .channelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
                .channelInitializer { ch in
                    ch.eventLoop.makeCompletedFuture { try ch.pipeline.syncOperations.addHandler(UDPHandler(core)) }
                }
                .bind(host: listen.host, port: listen.port).get()
            channels.append(udp)
            let tcp = try await ServerBootstrap(group: group)
                .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { ch in
                    ch.eventLoop.makeCompletedFuture {
                        try ch.pipeline.syncOperations.addHandler(IdleStateHandler(readTimeout: .seconds(10)))
                        try ch.pipeline.syncOperations.addHandler(ByteToMessageHandler(TCPFrameDecoder()))
                        try ch.pipeline.syncOperations.addHandler(TCPHandler(core))
                    }
                }
                .bind(host: listen.host, port: listen.port == 0 ? (udp.localAddress?.port ?? 0) : listen.port).get()
            channels.append(tcp)
            bound.withLock { $0 = (udp.localAddress?.port ?? 0, tcp.localAddress?.port ?? 0) }
            log(
                "serving \(options.clusterDomain) on \(listen.host):\(udp.localAddress?.port ?? 0) (udp, tcp); upstream: "
                    + (upstream.servers.isEmpty ? "none" : upstream.servers.map { "\($0)" }.joined(separator: ", ")))
            for (path, listen) in [
                ("health", options.healthListen), ("ready", options.readyListen), ("metrics", options.metricsListen),
            ] {
                guard let listen, let hp = Self.hostPort(listen) else { continue }
                let server = HTTPServer(responder: HTTPEndpoints(dns: self), maxBodyBytes: 1 << 12, threads: 1)
                _ = try await server.start(host: hp.host, port: hp.port, tls: nil)
                http.append(server)
                log("/\(path) on \(hp.host):\(hp.port)")
            }
        } catch {
            factory.stop()
            for c in channels { try? await c.close() }
            for h in http { await h.stop() }
            try? await group.shutdownGracefully()
            throw error
        }
        await factory.waitForSync()
        synced.withLock { $0 = true }
        log("caches synced: \(table.value.withLock { $0.nameCount }) names")
        do {
            while !Task.isCancelled { try await Task.sleep(for: .seconds(3600)) }
        } catch {}
        factory.stop()
        for c in channels { try? await c.close() }
        for h in http { await h.stop() }
        try? await group.shutdownGracefully()
    }

    /// Feeds the table from the Service and EndpointSlice informers.
    func watch(_ factory: InformerFactory) {
        let table = self.table
        factory.informer(CoreV1.Service.self).addHandler { e in
            let now = Self.now()
            table.value.withLock { t in
                switch e {
                case .added(let s), .updated(_, let s): t.setService(s, now: now)
                case .deleted(let s): t.removeService(namespace: s.metadata.namespace, name: s.metadata.name, now: now)
                }
            }
        }
        factory.informer(DiscoveryV1.EndpointSlice.self).addHandler { e in
            let now = Self.now()
            table.value.withLock { t in
                switch e {
                case .added(let s), .updated(_, let s): t.setSlice(s, now: now)
                case .deleted(let s): t.removeSlice(namespace: s.metadata.namespace, name: s.metadata.name, now: now)
                }
            }
        }
    }

    public var isReady: Bool { synced.withLock { $0 } }
}

/// The zone behind a lock, shared by the informer handlers and the listeners.
final class TableBox: Sendable {
    let value: Mutex<RecordTable>
    init(_ t: RecordTable) { value = Mutex(t) }
}

public struct ClusterDNSError: Error, CustomStringConvertible {
    public var description: String
    public init(_ d: String) { description = d }
}

/// What the listeners share: the table, metrics and upstream.
struct ServerCore: Sendable {
    let table: TableBox
    let metrics: DNSMetrics
    let upstream: Upstream
    let group: any EventLoopGroup

    /// Answers `bytes`, then hands the reply to `send` (now, or after asking upstream).
    func serve(
        _ bytes: [UInt8], transport: QueryHandler.Transport, ipv6: Bool, send: @escaping @Sendable ([UInt8]) -> Void
    ) {
        let start = ContinuousClock.now
        let proto = transport == .udp ? "udp" : "tcp"
        let metrics = self.metrics
        @Sendable func done(_ reply: [UInt8], qtype: UInt16) {
            let d = ContinuousClock.now - start
            let rcode = reply.count >= 4 ? UInt16(reply[3] & 0xF) : 0
            metrics.record(
                proto: proto, ipv6: ipv6, qtype: qtype, rcode: rcode,
                seconds: Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18)
            send(reply)
        }
        let outcome = table.value.withLock { QueryHandler.handle(bytes, transport: transport, table: $0) }
        switch outcome {
        case .drop:
            return
        case .reply(let reply, let summary):
            done(reply, qtype: summary.qtype)
        case .forward(let query):
            let qtype = query.questions.first?.type ?? 0
            guard !upstream.servers.isEmpty else {
                // CoreDNS without `forward`: no plugin answers, SERVFAIL.
                done(QueryHandler.serverFailure(query, transport: transport), qtype: qtype)
                return
            }
            let upstream = self.upstream, group = self.group
            Task {
                let reply = await upstream.exchange(bytes, tcp: transport == .tcp, group: group)
                metrics.recordForward(failed: reply == nil)
                done(reply ?? QueryHandler.serverFailure(query, transport: transport), qtype: qtype)
            }
        case .chase(var partial, let chase, let maxSize):
            let qtype = chase.type
            guard !upstream.servers.isEmpty else {
                done(partial.encode(maxSize: maxSize), qtype: qtype)
                return
            }
            let upstream = self.upstream, group = self.group
            Task {
                var q = DNSMessage()
                q.id = UInt16.random(in: 0...UInt16.max)
                q.recursionDesired = true
                q.questions = [chase]
                if let reply = await upstream.exchange(q.encode(), tcp: transport == .tcp, group: group),
                    let m = try? DNSMessage.parse(reply)
                {
                    partial.answers += m.answers
                }
                done(partial.encode(maxSize: maxSize), qtype: qtype)
            }
        }
    }
}

/// Reads datagrams and sends each reply back to its sender.
final class UDPHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    typealias OutboundOut = AddressedEnvelope<ByteBuffer>
    let core: ServerCore

    init(_ core: ServerCore) { self.core = core }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let env = unwrapInboundIn(data)
        let channel = context.channel
        let remote = env.remoteAddress
        core.serve(Array(env.data.readableBytesView), transport: .udp, ipv6: remote.protocol == .inet6) { reply in
            let out = AddressedEnvelope(remoteAddress: remote, data: channel.allocator.buffer(bytes: reply))
            channel.writeAndFlush(out, promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {}
}

/// Reads length-framed queries from a connection and writes framed replies; idle connections close.
final class TCPHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    let core: ServerCore

    init(_ core: ServerCore) { self.core = core }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buf = unwrapInboundIn(data)
        let channel = context.channel
        let ipv6 = channel.remoteAddress?.protocol == .inet6
        core.serve(Array(buf.readableBytesView), transport: .tcp, ipv6: ipv6) { reply in
            var out = channel.allocator.buffer(capacity: reply.count + 2)
            out.writeInteger(UInt16(reply.count))
            out.writeBytes(reply)
            channel.writeAndFlush(out, promise: nil)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }
}

/// `/health` ("OK" while the process runs), `/ready` (200 once the caches synced, else 503 naming
/// the plugin not ready, as CoreDNS) and `/metrics`; every endpoint answers on every port.
struct HTTPEndpoints: HTTPResponder {
    let dns: ClusterDNS

    func respond(to request: HTTPRequest) async -> HTTPResponse {
        let text = "text/plain; charset=utf-8"
        switch request.path {
        case "/health":
            return HTTPResponse(status: .ok, contentType: text, bytes: Array("OK".utf8))
        case "/ready":
            return dns.isReady
                ? HTTPResponse(status: .ok, contentType: text, bytes: Array("OK".utf8))
                : HTTPResponse(status: .serviceUnavailable, contentType: text, bytes: Array("kubernetes".utf8))
        case "/metrics":
            return HTTPResponse(
                status: .ok, contentType: "text/plain; version=0.0.4; charset=utf-8",
                bytes: Array(dns.metrics.render().utf8))
        default:
            return HTTPResponse(status: .notFound, contentType: text, bytes: Array("404 page not found\n".utf8))
        }
    }

    func tooLarge(_ request: HTTPRequest) -> HTTPResponse { HTTPResponse(status: .payloadTooLarge) }
}
