import GRPCCore
import NIOCore
import NIOHPACK
import NIOHTTP2
import NIOPosix
import NIOSSL
import SwiftProtobuf
import Synchronization

/// gRPC unary calls over one HTTP/2 connection, handled at the frame level.
///
/// The API server makes one or two etcd KV calls per request, so their cost is the storage hot
/// path. A general gRPC client spends a stream channel, several tasks and an interceptor chain on
/// each call; here a call is one HEADERS and one DATA frame written by a connection handler that
/// keeps a table of open streams, and the reply completes a promise. Streaming calls (Watch,
/// lease keep-alives) stay on grpc-swift.
///
/// Failures are `RPCError`s with gRPC's codes, so callers treat both clients alike: `.unavailable`
/// when the connection cannot be made or drops (the next call reconnects), `.deadlineExceeded` when
/// the timeout passes.
final class UnaryConnection: Sendable {
    struct Endpoint: Sendable {
        var host: String
        var port: Int
        var tls: NIOSSLContext?
    }

    private enum State {
        case connecting(EventLoopFuture<any Channel>)
        case ready(any Channel)
    }

    private struct Connections {
        /// One connection per event loop that calls come from, so that a caller running on an event
        /// loop (the API server's request tasks do) writes and reads its call on its own thread.
        var byLoop: [ObjectIdentifier: State] = [:]
        var closed = false
    }

    private let endpoint: Endpoint
    private let connections = Mutex(Connections())
    /// The loop of callers that do not run on an event loop.
    private let defaultLoop: any EventLoop = MultiThreadedEventLoopGroup.singleton.next()

    init(endpoint: Endpoint) { self.endpoint = endpoint }

    /// Calls `path` (`/package.Service/Method`) with `request` and decodes the reply.
    func call<Request: Message, Response: Message>(
        _ path: String, _ request: Request, timeout: Duration?
    ) async throws -> Response {
        let payload: [UInt8] = try request.serializedBytes()
        let deadline = timeout.map { NIODeadline.now() + TimeAmount($0) }
        var reply: ByteBuffer
        do {
            reply = try await send(path, payload, deadline)
        } catch is NotSent {
            // The connection was going away before the call reached etcd: safe to send again, once,
            // on a fresh connection.
            do {
                reply = try await send(path, payload, deadline)
            } catch let e as NotSent {
                throw RPCError(code: .unavailable, message: e.reason)
            }
        }
        guard let bytes = reply.readBytes(length: reply.readableBytes) else { return Response() }
        return try Response(serializedBytes: bytes)
    }

    private func send(_ path: String, _ payload: [UInt8], _ deadline: NIODeadline?) async throws -> ByteBuffer {
        let channel = try await connectedChannel()
        let promise = channel.eventLoop.makePromise(of: ByteBuffer.self)
        let call = UnaryCall(path: path, payload: payload, deadline: deadline, promise: promise)
        channel.writeAndFlush(call).whenFailure { error in
            // The handler never saw the call: the channel closed first.
            promise.fail(NotSent(reason: "etcd connection closed: \(error)"))
        }
        do {
            return try await promise.futureResult.get()
        } catch {
            if error is NotSent || (error as? RPCError)?.code == .unavailable { retire(channel) }
            throw error
        }
    }

    /// Forgets a connection that failed, so the next call makes a new one.
    private func retire(_ channel: any Channel) {
        let id = ObjectIdentifier(channel.eventLoop)
        let stale = connections.withLock { c -> Bool in
            if case .ready(let ch) = c.byLoop[id], ch === channel {
                c.byLoop[id] = nil
                return true
            }
            return false
        }
        if stale { channel.close(promise: nil) }
    }

    func close() {
        let open = connections.withLock { c -> [any Channel] in
            c.closed = true
            defer { c.byLoop = [:] }
            return c.byLoop.values.compactMap { if case .ready(let ch) = $0 { ch } else { nil } }
        }
        for ch in open { ch.close(promise: nil) }
    }

    private enum Lookup {
        case ready(any Channel)
        case wait(EventLoopFuture<any Channel>)
        case closed
    }

    private func connectedChannel() async throws -> any Channel {
        let loop = MultiThreadedEventLoopGroup.currentEventLoop ?? defaultLoop
        let id = ObjectIdentifier(loop)
        let lookup = connections.withLock { c -> Lookup in
            if c.closed { return .closed }
            switch c.byLoop[id] {
            case .ready(let ch) where ch.isActive:
                return .ready(ch)
            case .connecting(let f):
                return .wait(f)
            case .ready, nil:
                let f = connect(on: loop)
                c.byLoop[id] = .connecting(f)
                return .wait(f)
            }
        }
        let future: EventLoopFuture<any Channel>
        switch lookup {
        case .ready(let ch): return ch
        case .closed: throw RPCError(code: .unavailable, message: "etcd client closed")
        case .wait(let f): future = f
        }
        do {
            let channel = try await future.get()
            connections.withLock { c in
                if case .connecting(let f) = c.byLoop[id], f === future { c.byLoop[id] = .ready(channel) }
            }
            return channel
        } catch {
            connections.withLock { c in
                if case .connecting(let f) = c.byLoop[id], f === future { c.byLoop[id] = nil }
            }
            throw RPCError(
                code: .unavailable, message: "cannot connect to etcd at \(endpoint.host):\(endpoint.port): \(error)")
        }
    }

    private func connect(on loop: any EventLoop) -> EventLoopFuture<any Channel> {
        let endpoint = endpoint
        let authority = "\(endpoint.host.contains(":") ? "[\(endpoint.host)]" : endpoint.host):\(endpoint.port)"
        let scheme = endpoint.tls == nil ? "http" : "https"
        return ClientBootstrap(group: loop)
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .connectTimeout(.seconds(5))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    if let tls = endpoint.tls {
                        // No server name for IP literals: TLS does not allow one there.
                        let name = Self.isIPLiteral(endpoint.host) ? nil : endpoint.host
                        try sync.addHandler(NIOSSLClientHandler(context: tls, serverHostname: name))
                    }
                    try sync.addHandler(PingResponder())
                    var connection = NIOHTTP2Handler.ConnectionConfiguration()
                    // Replies need no per-stream window updates; the connection window is
                    // replenished by UnaryCallHandler.
                    connection.initialSettings = [
                        HTTP2Setting(parameter: .maxConcurrentStreams, value: 1 << 20),
                        HTTP2Setting(parameter: .initialWindowSize, value: UnaryCallHandler.streamWindow),
                        HTTP2Setting(parameter: .maxFrameSize, value: 1 << 20),
                        HTTP2Setting(parameter: .enablePush, value: 0),
                    ]
                    try sync.addHandler(
                        NIOHTTP2Handler(
                            mode: .client, connectionConfiguration: connection,
                            streamConfiguration: .init()))
                    try sync.addHandler(UnaryCallHandler(authority: authority, scheme: scheme))
                }
            }
            .connect(host: endpoint.host, port: endpoint.port)
    }

    /// Whether `host` is an IPv6 or dotted IPv4 address rather than a name.
    static func isIPLiteral(_ host: String) -> Bool {
        host.contains(":") || (host.split(separator: ".").count == 4 && host.allSatisfy { $0.isNumber || $0 == "." })
    }
}

/// A call that never reached etcd (its connection was closing), so it may be sent again.
struct NotSent: Error {
    var reason: String
}

/// One call on its way to `UnaryCallHandler`.
struct UnaryCall: Sendable {
    var path: String
    var payload: [UInt8]
    var deadline: NIODeadline?
    var promise: EventLoopPromise<ByteBuffer>
}

/// The connection's end of unary calls: opens a stream per call, collects its reply, completes its
/// promise from the trailers' `grpc-status`, and fails calls whose deadline passed or whose
/// connection went away.
final class UnaryCallHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTP2Frame
    typealias OutboundIn = UnaryCall
    typealias OutboundOut = HTTP2Frame

    /// The per-stream receive window advertised in SETTINGS: large enough for any reply.
    static let streamWindow = Int(Int32.max)
    /// Received DATA bytes after which the connection window is topped up again.
    private static let windowRefill = 8 << 20

    private struct Stream {
        var promise: EventLoopPromise<ByteBuffer>
        var deadline: NIODeadline?
        var sawHeaders = false
        var body: ByteBuffer?
    }

    private let authority: String
    private let scheme: String
    private var streams: [HTTP2StreamID: Stream] = [:]
    private var nextStreamID = HTTP2StreamID(1)
    private var unreturnedBytes = 0
    /// Set once the connection cannot take new calls (GOAWAY, close, error, stream ids used up).
    private var closing: String?
    private var sweep: RepeatedTask?

    init(authority: String, scheme: String) {
        self.authority = authority
        self.scheme = scheme
    }

    func channelActive(context: ChannelHandlerContext) {
        // Open the connection window as wide as the stream windows.
        let grow = HTTP2Frame(
            streamID: .rootStream, payload: .windowUpdate(windowSizeIncrement: Self.streamWindow - 65535))
        context.writeAndFlush(wrapOutboundOut(grow), promise: nil)
        let loop = context.eventLoop
        let bound = NIOLoopBound((self, context), eventLoop: loop)
        sweep = loop.scheduleRepeatedTask(initialDelay: .milliseconds(250), delay: .milliseconds(250)) { _ in
            bound.value.0.expire(context: bound.value.1)
        }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(RPCError(code: .unavailable, message: "etcd connection closed"))
        sweep?.cancel()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        failAll(RPCError(code: .unavailable, message: "etcd connection failed: \(error)"))
        context.close(promise: nil)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let call = unwrapOutboundIn(data)
        promise?.succeed(())
        if let closing {
            call.promise.fail(NotSent(reason: closing))
            return
        }
        let id = nextStreamID
        nextStreamID = HTTP2StreamID(Int32(Int(id) + 2))
        if Int(nextStreamID) > 1 << 30 {
            // Stream ids run out at 2^31: later calls go to a fresh connection.
            closing = "etcd connection used up its stream ids"
        }
        streams[id] = Stream(promise: call.promise, deadline: call.deadline)
        var headers: HPACKHeaders = [
            ":method": "POST", ":scheme": scheme, ":path": call.path, ":authority": authority,
            "content-type": "application/grpc", "te": "trailers",
        ]
        if let deadline = call.deadline {
            let ms = max(1, (deadline - .now()).nanoseconds / 1_000_000)
            headers.add(name: "grpc-timeout", value: "\(min(ms, 99_999_999))m")
        }
        context.write(
            wrapOutboundOut(HTTP2Frame(streamID: id, payload: .headers(.init(headers: headers)))), promise: nil)
        var buffer = context.channel.allocator.buffer(capacity: 5 + call.payload.count)
        buffer.writeInteger(UInt8(0))
        buffer.writeInteger(UInt32(call.payload.count))
        buffer.writeBytes(call.payload)
        let data = HTTP2Frame.FramePayload.Data(data: .byteBuffer(buffer), endStream: true)
        context.write(wrapOutboundOut(HTTP2Frame(streamID: id, payload: .data(data))), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        if frame.streamID == .rootStream {
            if case .goAway(let last, let code, _) = frame.payload {
                // Streams past `last` were never processed; the rest still complete.
                closing = "etcd sent GOAWAY (\(code))"
                for id in streams.keys where id > last { finish(id, .failure(NotSent(reason: closing!))) }
                if streams.isEmpty { context.close(promise: nil) }
            }
            return
        }
        let id = frame.streamID
        guard streams[id] != nil else { return }
        switch frame.payload {
        case .headers(let h):
            if streams[id]!.sawHeaders || h.endStream {
                // Trailers, or a trailers-only reply.
                complete(id, trailers: h.headers)
            } else {
                streams[id]!.sawHeaders = true
                if let status = h.headers.first(name: ":status"), status != "200" {
                    finish(id, .failure(RPCError(code: .unavailable, message: "etcd answered HTTP \(status)")))
                }
            }
        case .data(let d):
            if case .byteBuffer(var bytes) = d.data {
                unreturnedBytes += bytes.readableBytes + (d.paddingBytes ?? 0)
                if streams[id]!.body == nil {
                    streams[id]!.body = bytes
                } else {
                    streams[id]!.body!.writeBuffer(&bytes)
                }
            }
            if unreturnedBytes >= Self.windowRefill {
                let update = HTTP2Frame(
                    streamID: .rootStream, payload: .windowUpdate(windowSizeIncrement: unreturnedBytes))
                unreturnedBytes = 0
                context.writeAndFlush(wrapOutboundOut(update), promise: nil)
            }
            if d.endStream {
                finish(id, .failure(RPCError(code: .internalError, message: "etcd reply ended without trailers")))
            }
        case .rstStream(let code) where code == .refusedStream:
            finish(id, .failure(NotSent(reason: "etcd refused the stream")))
        case .rstStream(let code):
            finish(id, .failure(RPCError(code: .unavailable, message: "etcd reset the stream (\(code))")))
        default:
            break
        }
        if closing != nil && streams.isEmpty { context.close(promise: nil) }
    }

    private func complete(_ id: HTTP2StreamID, trailers: HPACKHeaders) {
        let code = trailers.first(name: "grpc-status").flatMap(Int.init) ?? 2
        guard code == 0 else {
            let message = trailers.first(name: "grpc-message").map { $0.removingPercentEncoding ?? $0 } ?? ""
            let status = RPCError.Code(Status.Code(rawValue: code) ?? .unknown) ?? .unknown
            finish(id, .failure(RPCError(code: status, message: message)))
            return
        }
        var body = streams[id]!.body ?? ByteBuffer()
        // The 5-byte message prefix: compression flag (never set: no compression was offered), length.
        guard let flag = body.readInteger(as: UInt8.self), flag == 0, let length = body.readInteger(as: UInt32.self),
            let message = body.readSlice(length: Int(length))
        else {
            finish(id, .failure(RPCError(code: .internalError, message: "malformed gRPC reply from etcd")))
            return
        }
        finish(id, .success(message))
    }

    private func finish(_ id: HTTP2StreamID, _ result: Result<ByteBuffer, any Error>) {
        guard let stream = streams.removeValue(forKey: id) else { return }
        switch result {
        case .success(let b): stream.promise.succeed(b)
        case .failure(let e): stream.promise.fail(e)
        }
    }

    private func failAll(_ error: RPCError) {
        if closing == nil { closing = error.message }
        let all = streams
        streams = [:]
        for s in all.values { s.promise.fail(error) }
    }

    private func expire(context: ChannelHandlerContext) {
        let now = NIODeadline.now()
        var cancelled = false
        for (id, s) in streams {
            guard let d = s.deadline, d <= now else { continue }
            finish(id, .failure(RPCError(code: .deadlineExceeded, message: "etcd did not answer in time")))
            context.write(wrapOutboundOut(HTTP2Frame(streamID: id, payload: .rstStream(.cancel))), promise: nil)
            cancelled = true
        }
        if cancelled { context.flush() }
    }
}
