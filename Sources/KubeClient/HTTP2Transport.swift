import Foundation
import NIOCore
import NIOHPACK
import NIOHTTP2
import NIOPosix
import NIOSSL
import NIOTLS
import Synchronization

/// HTTPS over one HTTP/2 connection, as client-go speaks to an API server: every request is a
/// stream of that connection, written as HTTP/2 frames and answered into a promise, with no HTTP/1
/// translation, request state machine or task per request between the caller and the frames. The
/// connection is made on first use and again after it closes. A server that does not offer `h2`
/// in ALPN (or a plain `http://` address) is spoken to through `HTTPTransport` instead.
public final class HTTP2Transport: KubeTransport {
    let config: ClientConfig
    let host: String
    let port: Int
    /// The `:authority` of every request.
    let authority: String
    /// The name sent in SNI and checked against the certificate; nil for an IP address, whose
    /// certificate is checked against the address connected to.
    let serverHostname: String?
    let sslContext: NIOSSLContext?
    let group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    private let state = Mutex(State())

    struct State {
        /// The open connection.
        var current: Connection?
        /// A connection being made.
        var connecting: EventLoopFuture<Connection>?
        var fallback: HTTPTransport?
        var closed = false
    }

    struct Connection: Sendable {
        let channel: any Channel
        let multiplexer: NIOHTTP2Handler.StreamMultiplexer
    }

    /// The server did not choose HTTP/2 in ALPN.
    struct NotHTTP2: Error {}

    public init(config: ClientConfig) throws {
        self.config = config
        guard let url = URLComponents(string: config.server), let h = url.host, !h.isEmpty else {
            throw TransportError("invalid server address \(config.server)")
        }
        host = h
        let https = url.scheme?.lowercased() == "https"
        port = url.port ?? (https ? 443 : 80)
        let literalHost = h.contains(":") ? "[\(h)]" : h
        authority = url.port == nil ? literalHost : "\(literalHost):\(port)"
        let isAddress = (try? SocketAddress(ipAddress: h, port: 0)) != nil
        if let name = config.tlsServerName, !name.isEmpty {
            serverHostname = name
        } else {
            serverHostname = isAddress ? nil : h
        }
        guard https else {
            sslContext = nil
            let plain = try HTTPTransport(config: config)
            state.withLock { $0.fallback = plain }
            return
        }
        var tls = try config.tlsConfiguration()
        tls.applicationProtocols = ["h2"]
        sslContext = try NIOSSLContext(configuration: tls)
    }

    static let connectionConfiguration: NIOHTTP2Handler.ConnectionConfiguration = {
        var c = NIOHTTP2Handler.ConnectionConfiguration()
        c.initialSettings = [
            HTTP2Setting(parameter: .maxConcurrentStreams, value: 100),
            HTTP2Setting(parameter: .maxHeaderListSize, value: 1 << 20),
            HTTP2Setting(parameter: .initialWindowSize, value: 1 << 20),
        ]
        return c
    }()

    static let streamConfiguration: NIOHTTP2Handler.StreamConfiguration = {
        var s = NIOHTTP2Handler.StreamConfiguration()
        s.targetWindowSize = 1 << 20
        return s
    }()

    public func send(_ request: KubeRequest, timeout: Swift.Duration?) async throws -> KubeResponse {
        if let fallback = state.withLock({ $0.fallback }) { return try await fallback.send(request, timeout: timeout) }
        let started = NIODeadline.now()
        let connection: Connection
        do {
            connection = try await within(timeout, self.connection(), what: "\(request.method) \(request.path)")
        } catch is NotHTTP2 {
            let fallback = try state.withLock { s in
                if s.fallback == nil { s.fallback = try HTTPTransport(config: config) }
                return s.fallback!
            }
            return try await fallback.send(request, timeout: timeout)
        } catch let e as TransportError {
            throw e
        } catch {
            throw TransportError("\(request.method) \(request.path): connecting to \(authority): \(error)")
        }
        let loop = connection.channel.eventLoop
        let answer = loop.makePromise(of: KubeResponse.self)
        let stream = loop.makePromise(of: (any Channel).self)
        let headers = requestHeaders(request)
        let body = request.body
        let limit: TimeAmount? =
            request.streaming
            ? nil
            : timeout.map {
                // What connecting used counts against the request's time, as a dial does in client-go.
                max(.nanoseconds(0), Self.amount($0) - (NIODeadline.now() - started))
            }
        let what = "\(request.method) \(request.path)"
        connection.multiplexer.createStreamChannel(promise: stream) { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(
                    HTTP2RequestHandler(
                        headers: headers, body: body, streaming: request.streaming, timeout: limit, what: what,
                        answer: answer))
            }
        }
        stream.futureResult.whenFailure { error in
            answer.fail(TransportError("\(what): opening a stream: \(error)"))
        }
        return try await withTaskCancellationHandler {
            try await answer.futureResult.get()
        } onCancel: {
            answer.fail(CancellationError())
            stream.futureResult.whenSuccess { $0.close(promise: nil) }
        }
    }

    static func amount(_ d: Swift.Duration) -> TimeAmount {
        .nanoseconds(d.components.seconds * 1_000_000_000 + d.components.attoseconds / 1_000_000_000)
    }

    /// The connection, or a transport error once the request's time is up while it is still being
    /// made (the shared connection attempt goes on for the requests after this one).
    func within(_ timeout: Swift.Duration?, _ pending: EventLoopFuture<Connection>, what: String) async throws
        -> Connection
    {
        guard let timeout else { return try await pending.get() }
        let loop = pending.eventLoop
        let result = loop.makePromise(of: Connection.self)
        let timer = loop.scheduleTask(in: Self.amount(timeout)) {
            result.fail(TransportError("\(what): no connection within the timeout"))
        }
        pending.whenComplete { r in
            timer.cancel()
            result.completeWith(r)
        }
        return try await result.futureResult.get()
    }

    /// The open connection, or a new one when there is none or it closed.
    func connection() -> EventLoopFuture<Connection> {
        let (future, isNew): (EventLoopFuture<Connection>, Bool) = state.withLock { s in
            if s.closed { return (group.next().makeFailedFuture(TransportError("the client was shut down")), false) }
            if let c = s.current {
                if c.channel.isActive { return (c.channel.eventLoop.makeSucceededFuture(c), false) }
                s.current = nil
            }
            if let pending = s.connecting { return (pending, false) }
            let f = connect()
            s.connecting = f
            return (f, true)
        }
        if isNew {
            future.whenComplete { result in
                self.state.withLock { s in
                    guard s.connecting === future else { return }
                    s.connecting = nil
                    if case .success(let c) = result { s.current = c }
                }
            }
        }
        return future
    }

    func connect() -> EventLoopFuture<Connection> {
        let loop = group.next()
        let ready = loop.makePromise(of: Connection.self)
        guard let sslContext else {
            ready.fail(NotHTTP2())
            return ready.futureResult
        }
        let serverHostname = serverHostname
        let bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(.seconds(10))
            .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let tls = try NIOSSLClientHandler(context: sslContext, serverHostname: serverHostname)
                    // Until ALPN has spoken, reads are held back; the HTTP/2 handler is in place
                    // before the server's first frame is read.
                    let alpn = ApplicationProtocolNegotiationHandler { result, channel in
                        guard case .negotiated("h2") = result else {
                            ready.fail(NotHTTP2())
                            return channel.close()
                        }
                        return channel.eventLoop.makeCompletedFuture {
                            let mux = try channel.pipeline.syncOperations.configureHTTP2Pipeline(
                                mode: .client, connectionConfiguration: Self.connectionConfiguration,
                                streamConfiguration: Self.streamConfiguration
                            ) { pushed in pushed.close() }
                            ready.succeed(Connection(channel: channel, multiplexer: mux))
                        }
                    }
                    try channel.pipeline.syncOperations.addHandlers(tls, alpn, ConnectionErrorHandler(ready: ready))
                }
            }
        bootstrap.connect(host: host, port: port).whenFailure { ready.fail($0) }
        return ready.futureResult
    }

    func requestHeaders(_ request: KubeRequest) -> HPACKHeaders {
        var h = HPACKHeaders()
        h.reserveCapacity(request.headers.count + 6)
        h.add(name: ":method", value: request.method)
        h.add(name: ":scheme", value: "https")
        h.add(name: ":authority", value: authority)
        h.add(name: ":path", value: request.uri)
        for (name, value) in request.headers {
            let n = name.lowercased()
            // Connection-specific headers have no place in HTTP/2 (RFC 9113 §8.2.2).
            if n == "host" || n == "connection" || n == "transfer-encoding" || n == "keep-alive" { continue }
            h.add(name: n, value: value)
        }
        if let body = request.body { h.add(name: "content-length", value: String(body.count)) }
        return h
    }

    public func shutdown() async {
        let (current, connecting, fallback) = state.withLock { s in
            s.closed = true
            return (s.current, s.connecting, s.fallback)
        }
        if let c = try? await connecting?.get() { try? await c.channel.close() }
        try? await current?.channel.close()
        await fallback?.shutdown()
    }
}

/// Fails the connection's readiness when TLS or the connection fails before HTTP/2 is set up, and
/// closes the connection on an error after.
final class ConnectionErrorHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = Any
    let ready: EventLoopPromise<HTTP2Transport.Connection>
    init(ready: EventLoopPromise<HTTP2Transport.Connection>) { self.ready = ready }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        ready.fail(error)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        ready.fail(TransportError("connection closed during the TLS handshake"))
        context.fireChannelInactive()
    }
}

/// One request on its own HTTP/2 stream: writes the headers and body when the stream opens, then
/// answers with the whole response, or, for a streaming request answered 200, with the headers at
/// once and the body's DATA frames as they come.
final class HTTP2RequestHandler: ChannelInboundHandler {
    typealias InboundIn = HTTP2Frame.FramePayload
    typealias OutboundOut = HTTP2Frame.FramePayload

    let headers: HPACKHeaders
    let body: [UInt8]?
    let streaming: Bool
    let timeout: TimeAmount?
    let what: String
    let answer: EventLoopPromise<KubeResponse>
    var status = 0
    var responseHeaders: [(name: String, value: String)] = []
    var collected: ByteBuffer?
    var continuation: AsyncThrowingStream<[UInt8], any Error>.Continuation?
    var timer: Scheduled<Void>?
    var done = false

    init(
        headers: HPACKHeaders, body: [UInt8]?, streaming: Bool, timeout: TimeAmount?, what: String,
        answer: EventLoopPromise<KubeResponse>
    ) {
        self.headers = headers
        self.body = body
        self.streaming = streaming
        self.timeout = timeout
        self.what = what
        self.answer = answer
    }

    /// The request is written once the stream is active: writes made from `handlerAdded`, while
    /// the multiplexer is still activating the stream, may sit unflushed.
    func channelActive(context: ChannelHandlerContext) {
        let hasBody = !(body?.isEmpty ?? true)
        context.write(
            wrapOutboundOut(.headers(.init(headers: headers, endStream: !hasBody))), promise: nil)
        if hasBody, let body {
            var buf = context.channel.allocator.buffer(capacity: body.count)
            buf.writeBytes(body)
            context.write(wrapOutboundOut(.data(.init(data: .byteBuffer(buf), endStream: true))), promise: nil)
        }
        context.flush()
        if let timeout {
            let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            timer = context.eventLoop.scheduleTask(in: timeout) {
                let (me, ctx) = bound.value
                me.fail(TransportError("\(me.what): no answer within the timeout"))
                ctx.close(promise: nil)
            }
        }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !done else { return }
        switch unwrapInboundIn(data) {
        case .headers(let h):
            if status == 0 {
                guard let s = h.headers.first(name: ":status").flatMap({ Int($0) }) else {
                    fail(TransportError("\(what): an answer without :status"))
                    context.close(promise: nil)
                    return
                }
                // An interim answer (100 Continue) is followed by the real one.
                if s >= 100 && s < 200 { return }
                status = s
                responseHeaders.reserveCapacity(h.headers.count)
                for (name, value, _) in h.headers where !name.hasPrefix(":") {
                    responseHeaders.append((name: name, value: value))
                }
                if streaming && status == 200 {
                    let (stream, continuation) = AsyncThrowingStream.makeStream(of: [UInt8].self)
                    let channel = context.channel
                    continuation.onTermination = { _ in channel.close(promise: nil) }
                    self.continuation = continuation
                    timer?.cancel()
                    answer.succeed(KubeResponse(status: status, headers: responseHeaders, stream: stream))
                }
            }
            if h.endStream { finish() }
        case .data(let d):
            if case .byteBuffer(var b) = d.data, b.readableBytes > 0 {
                if let continuation {
                    continuation.yield(b.readBytes(length: b.readableBytes) ?? [])
                } else if collected == nil {
                    collected = b
                } else {
                    collected!.writeBuffer(&b)
                }
            }
            if d.endStream { finish() }
        case .rstStream(let code):
            fail(TransportError("\(what): the server reset the stream (\(code))"))
        default:
            break
        }
    }

    func finish() {
        guard !done else { return }
        done = true
        timer?.cancel()
        if let continuation {
            continuation.finish()
        } else {
            var b = collected ?? ByteBuffer()
            let bytes = b.readBytes(length: b.readableBytes) ?? []
            answer.succeed(KubeResponse(status: status, headers: responseHeaders, body: bytes))
        }
    }

    func fail(_ error: TransportError) {
        guard !done else { return }
        done = true
        timer?.cancel()
        if let continuation {
            continuation.finish(throwing: error)
        } else {
            answer.fail(error)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        fail(TransportError("\(what): the connection closed before the answer ended"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(TransportError("\(what): \(error)"))
        context.close(promise: nil)
    }
}
