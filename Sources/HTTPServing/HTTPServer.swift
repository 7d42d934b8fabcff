import NIOCore
import NIOHTTP1
import NIOHTTP2
import NIOPosix
import NIOSSL
import Synchronization
import X509

#if canImport(Glibc)
    import Glibc
#endif

/// The HTTPS listener: TLS 1.2+, ALPN `h2` or `http/1.1`, client certificates requested but not
/// required (verified against the client CA when given), bodies capped at `maxBodyBytes`.
public final class HTTPServer: @unchecked Sendable {
    public struct TLS: Sendable {
        public var certificateChain: [NIOSSLCertificate]
        public var privateKey: NIOSSLPrivateKey
        /// Client certificates are verified against these; none means client certificates are ignored.
        public var clientCAs: [NIOSSLCertificate]

        public init(certificateChain: [NIOSSLCertificate], privateKey: NIOSSLPrivateKey, clientCAs: [NIOSSLCertificate])
        {
            self.certificateChain = certificateChain
            self.privateKey = privateKey
            self.clientCAs = clientCAs
        }
    }

    let group: MultiThreadedEventLoopGroup
    let responder: any HTTPResponder
    let maxBodyBytes: Int
    private var channel: Channel?

    public init(responder: any HTTPResponder, maxBodyBytes: Int, threads: Int = System.coreCount) {
        self.responder = responder
        self.maxBodyBytes = maxBodyBytes
        group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, threads))
    }

    /// HTTP/2 settings: upstream's 250 concurrent streams; flood limits raised well above what a
    /// busy client produces on one long-lived connection (nio-http2's defaults allow 200 glitches
    /// or stream resets per connection, which a client multiplexing thousands of requests reaches
    /// and then gets GOAWAY ENHANCE_YOUR_CALM).
    static let http2Connection: NIOHTTP2Handler.ConnectionConfiguration = {
        var c = NIOHTTP2Handler.ConnectionConfiguration()
        c.initialSettings = [
            HTTP2Setting(parameter: .maxConcurrentStreams, value: 250),
            HTTP2Setting(parameter: .maxHeaderListSize, value: 1 << 20),
            HTTP2Setting(parameter: .initialWindowSize, value: 1 << 20),
        ]
        c.maximumConnectionGlitches = 1_000_000
        c.maximumRecentlyResetStreams = 10_000
        c.targetWindowSize = 8 << 20
        c.controlFrameRateLimit.maximumCount = 100_000
        return c
    }()

    static let http2Stream: NIOHTTP2Handler.StreamConfiguration = {
        var s = NIOHTTP2Handler.StreamConfiguration()
        s.targetWindowSize = 1 << 20
        s.streamResetFrameRateLimit.maximumCount = 100_000
        s.streamErrorRateLimit.maximumCount = 100_000
        return s
    }()

    /// Binds and starts accepting; returns the bound port (useful with port 0).
    public func start(host: String, port: Int, tls: TLS?) async throws -> Int {
        let sslContext: NIOSSLContext?
        if let tls {
            var config = TLSConfiguration.makeServerConfiguration(
                certificateChain: tls.certificateChain.map { .certificate($0) }, privateKey: .privateKey(tls.privateKey)
            )
            config.minimumTLSVersion = .tlsv12
            config.applicationProtocols = ["h2", "http/1.1"]
            if !tls.clientCAs.isEmpty {
                config.certificateVerification = .optionalVerification
                config.trustRoots = .certificates(tls.clientCAs)
                config.sendCANameList = true
            } else {
                config.certificateVerification = .none
            }
            sslContext = try NIOSSLContext(configuration: config)
        } else {
            sslContext = nil
        }
        let responder = self.responder
        let maxBody = maxBodyBytes
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.backlog, value: 1024)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                guard let sslContext else {
                    return channel.pipeline.configureHTTPServerPipeline(withErrorHandling: true).flatMap {
                        channel.pipeline.addHandler(
                            HTTPRequestHandler(responder: responder, maxBody: maxBody, isHTTP2: false))
                    }
                }
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers(
                        NIOSSLServerHandler(context: sslContext), FlushCoalescer())
                }.flatMap {
                    channel.configureHTTP2SecureUpgrade(
                        h2ChannelConfigurator: { channel in
                            // Every stream of a connection shares the identity read once from its TLS session.
                            let identity = IdentityBox()
                            return channel.eventLoop.makeCompletedFuture {
                                _ = try channel.pipeline.syncOperations.configureHTTP2Pipeline(
                                    mode: .server, connectionConfiguration: Self.http2Connection,
                                    streamConfiguration: Self.http2Stream
                                ) { stream in
                                    stream.pipeline.addHandlers([
                                        HTTP2FramePayloadToHTTP1ServerCodec(),
                                        HTTPRequestHandler(
                                            responder: responder, maxBody: maxBody, isHTTP2: true, identity: identity),
                                    ])
                                }
                            }
                        },
                        http1ChannelConfigurator: { channel in
                            channel.pipeline.configureHTTPServerPipeline(withErrorHandling: true).flatMap {
                                channel.pipeline.addHandler(
                                    HTTPRequestHandler(responder: responder, maxBody: maxBody, isHTTP2: false))
                            }
                        })
                }
            }
        let ch = try await bootstrap.bind(host: host, port: port).get()
        channel = ch
        return ch.localAddress?.port ?? port
    }

    public func stop() async {
        try? await channel?.close()
        try? await group.shutdownGracefully()
    }
}

/// Reads one request at a time from a connection (or an HTTP/2 stream), hands it to the responder
/// and writes the answer; requests pipelined meanwhile wait their turn.
final class HTTPRequestHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let responder: any HTTPResponder
    let maxBody: Int
    let isHTTP2: Bool
    private var head: HTTPRequestHead?
    private var body: ByteBuffer?
    private var overLimit = false
    private var queue: [HTTPRequest] = []
    private var busy = false
    private var active = true
    private var task: Task<Void, Never>?
    private let identityBox: IdentityBox

    init(responder: any HTTPResponder, maxBody: Int, isHTTP2: Bool, identity: IdentityBox = IdentityBox()) {
        self.identityBox = identity
        self.responder = responder
        self.maxBody = maxBody
        self.isHTTP2 = isHTTP2
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
            body = nil
            overLimit = false
            if let len = h.headers.first(name: "content-length").flatMap(Int.init), len > maxBody {
                overLimit = true
            }
        case .body(var chunk):
            guard !overLimit else { return }
            if body == nil {
                body = chunk
            } else {
                body!.writeBuffer(&chunk)
            }
            if body!.readableBytes > maxBody { overLimit = true }
        case .end:
            guard let h = head else { return }
            head = nil
            let bytes = overLimit ? [] : (body.map { Array($0.readableBytesView) } ?? [])
            body = nil
            var req = HTTPRequest(
                method: h.method, uri: h.uri, headers: h.headers, body: bytes,
                identity: connectionIdentity(context), isHTTP2: isHTTP2)
            req.remoteAddress = context.channel.remoteAddress?.ipAddress ?? ""
            if overLimit {
                let resp = responder.tooLarge(req)
                write(resp, keepAlive: false, context: context)
                return
            }
            queue.append(req)
            startNext(context: context)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        active = false
        task?.cancel()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    private func connectionIdentity(_ context: ChannelHandlerContext) -> ConnectionIdentity {
        if let identity = identityBox.value { return identity }
        // An HTTP/2 stream's parent is the TLS connection; an HTTP/1 channel's parent is the listener.
        let conn = isHTTP2 ? (context.channel.parent ?? context.channel) : context.channel
        var id = ConnectionIdentity.none
        if let ssl = try? conn.pipeline.syncOperations.handler(type: NIOSSLServerHandler.self),
            let peer = ssl.peerCertificate, let der = try? peer.toDERBytes(),
            let cert = try? Certificate(derEncoded: der)
        {
            var cn = ""
            var orgs: [String] = []
            for rdn in cert.subject {
                for attr in rdn {
                    if attr.type == .RDNAttributeType.commonName {
                        cn = String(describing: attr.value)
                    } else if attr.type == .RDNAttributeType.organizationName {
                        orgs.append(String(describing: attr.value))
                    }
                }
            }
            id = .certificate(commonName: cn, organizations: orgs)
        }
        identityBox.value = id
        return id
    }

    private func startNext(context: ChannelHandlerContext) {
        guard !busy, active, !queue.isEmpty else { return }
        busy = true
        let req = queue.removeFirst()
        let keepAlive = isHTTP2 || Self.keepAlive(req)
        let loop = context.eventLoop
        let bound = NIOLoopBound((self, context), eventLoop: loop)
        let responder = self.responder
        task = Task(executorPreference: EventLoopTaskExecutor.of(loop)) {
            let resp = await responder.respond(to: req)
            switch resp.body {
            case .bytes:
                loop.execute {
                    let (h, ctx) = bound.value
                    h.write(resp, keepAlive: keepAlive, context: ctx)
                    h.finished(context: ctx)
                }
            case .upgrade(let run):
                let upgraded = loop.makePromise(of: ChannelByteStream.self)
                loop.execute {
                    let (h, ctx) = bound.value
                    h.upgrade(resp, context: ctx, promise: upgraded)
                }
                guard let stream = try? await upgraded.futureResult.get() else { return }
                await run(stream)
                await stream.close()
            case .stream(let chunks):
                loop.execute {
                    let (h, ctx) = bound.value
                    h.writeHead(resp, keepAlive: keepAlive, context: ctx, contentLength: nil)
                    // A watch may have nothing to say for a while: the client must see the headers now.
                    ctx.flush()
                }
                for await chunk in chunks {
                    if Task.isCancelled { break }
                    loop.execute {
                        let (h, ctx) = bound.value
                        guard h.active else { return }
                        var buf = ctx.channel.allocator.buffer(capacity: chunk.count)
                        buf.writeBytes(chunk)
                        ctx.writeAndFlush(h.wrapOutboundOut(.body(.byteBuffer(buf))), promise: nil)
                    }
                }
                loop.execute {
                    let (h, ctx) = bound.value
                    guard h.active else { return }
                    ctx.writeAndFlush(h.wrapOutboundOut(.end(nil)), promise: nil)
                    if !keepAlive { ctx.close(promise: nil) }
                    h.finished(context: ctx)
                }
            }
        }
    }

    /// Writes the 101 head, then takes HTTP off the connection: the codec and this handler leave
    /// the pipeline and a `ChannelByteStream` reads what follows.
    private func upgrade(
        _ resp: HTTPResponse, context: ChannelHandlerContext, promise: EventLoopPromise<ChannelByteStream>
    ) {
        guard active, !isHTTP2 else {
            if active {
                write(HTTPResponse(status: .badRequest), keepAlive: true, context: context)
                finished(context: context)
            }
            promise.fail(ByteStreamClosed())
            return
        }
        writeHead(resp, keepAlive: true, context: context, contentLength: nil)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).flatMapThrowing {
            let ops = channel.pipeline.syncOperations
            if let c = try? ops.context(handlerType: HTTPServerPipelineHandler.self) {
                ops.removeHandler(context: c, promise: nil)
            }
            if let c = try? ops.context(handlerType: HTTPServerProtocolErrorHandler.self) {
                ops.removeHandler(context: c, promise: nil)
            }
            if let c = try? ops.context(handlerType: NIOHTTPResponseHeadersValidator.self) {
                ops.removeHandler(context: c, promise: nil)
            }
            if let c = try? ops.context(handlerType: HTTPResponseEncoder.self) {
                ops.removeHandler(context: c, promise: nil)
            }
            if let c = try? ops.context(handlerType: ByteToMessageHandler<HTTPRequestDecoder>.self) {
                ops.removeHandler(context: c, promise: nil)
            }
            if let c = try? ops.context(handlerType: HTTPRequestHandler.self) {
                ops.removeHandler(context: c, promise: nil)
            }
            let stream = try ChannelByteStream(channel: channel)
            channel.read()
            return stream
        }.cascade(to: promise)
    }

    private func finished(context: ChannelHandlerContext) {
        busy = false
        task = nil
        startNext(context: context)
    }

    static func keepAlive(_ req: HTTPRequest) -> Bool {
        let conn = req.headers.first(name: "connection")?.lowercased()
        return conn != "close"
    }

    private func writeHead(_ resp: HTTPResponse, keepAlive: Bool, context: ChannelHandlerContext, contentLength: Int?) {
        guard active else { return }
        var headers = resp.headers
        if let contentLength { headers.replaceOrAdd(name: "Content-Length", value: String(contentLength)) }
        if !isHTTP2 && !keepAlive { headers.replaceOrAdd(name: "Connection", value: "close") }
        headers.replaceOrAdd(name: "Date", value: HTTPDate.now())
        let head = HTTPResponseHead(version: isHTTP2 ? .http2 : .http1_1, status: resp.status, headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
    }

    private func write(_ resp: HTTPResponse, keepAlive: Bool, context: ChannelHandlerContext) {
        guard active else { return }
        guard case .bytes(let bytes) = resp.body else { return }
        writeHead(resp, keepAlive: keepAlive, context: context, contentLength: bytes.count)
        if !bytes.isEmpty {
            var buf = context.channel.allocator.buffer(capacity: bytes.count)
            buf.writeBytes(bytes)
            context.write(wrapOutboundOut(.body(.byteBuffer(buf))), promise: nil)
        }
        let close = !keepAlive && !isHTTP2
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
            if close { context.close(promise: nil) }
        }
    }
}

/// Merges the flushes a connection receives within one event-loop turn into one, below the TLS
/// handler: the responses and watch events of many HTTP/2 streams (a scheduler's hundreds of
/// bindings in flight, an informer's events) completing together leave as one TLS write instead
/// of one encryption and one system call each. The deferred flush runs on the next turn, so
/// nothing waits longer than the work already queued on the loop.
final class FlushCoalescer: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = Any
    typealias OutboundOut = Any
    private var pending = false

    func flush(context: ChannelHandlerContext) {
        guard !pending else { return }
        pending = true
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        context.eventLoop.execute {
            let (me, ctx) = bound.value
            guard me.pending else { return }
            me.pending = false
            ctx.flush()
        }
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        if pending {
            pending = false
            context.flush()
        }
        context.close(mode: mode, promise: promise)
    }
}

/// A connection's client identity, shared by its HTTP/2 streams (all on the connection's event loop).
final class IdentityBox: @unchecked Sendable {
    var value: ConnectionIdentity?
}

/// The `Date` header value (RFC 7231 IMF-fixdate), cached per second.
enum HTTPDate {
    private static let cache = Mutex<(second: Int, text: String)>((0, ""))
    static let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    static func now() -> String {
        var t = time(nil)
        if let hit = cache.withLock({ $0.second == t ? $0.text : nil }) { return hit }
        var tm = tm()
        gmtime_r(&t, &tm)
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
        let text =
            "\(days[Int(tm.tm_wday)]), \(two(tm.tm_mday)) \(months[Int(tm.tm_mon)]) \(tm.tm_year + 1900) \(two(tm.tm_hour)):\(two(tm.tm_min)):\(two(tm.tm_sec)) GMT"
        cache.withLock { $0 = (t, text) }
        return text
    }
}
