import Foundation
import NIOCore
import NIOHTTP1
import NIOHTTP2
import NIOPosix
import NIOSSL
import Synchronization
import Testing

@testable import KubeClient

/// A small HTTPS server for the transport's tests, written on NIO's own HTTP/1 and HTTP/2 codecs
/// (not on ours): HTTP/2 when `h2` is offered in ALPN, else HTTP/1.1. Paths:
/// `/echo` answers 201 with what it received, `/stream` sends three chunks 20 ms apart then ends,
/// `/forever` sends one chunk and never ends, `/never` never answers, `/close` closes the connection.
final class TestHTTPSServer: Sendable {
    let channel: any Channel
    let port: Int
    let caPEM: [UInt8]
    /// Counts the streams of `/forever` closed so far.
    let closedCounter = ClosedBox()
    let dir: String

    init(http2: Bool = true) throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("h2test-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        p.arguments = [
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
            dir + "/key.pem", "-out", dir + "/cert.pem", "-days", "1", "-subj", "/CN=test",
            "-addext", "subjectAltName=DNS:localhost",
        ]
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        caPEM = Array(try Data(contentsOf: URL(fileURLWithPath: dir + "/cert.pem")))
        var tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMFile(dir + "/cert.pem").map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(file: dir + "/key.pem", format: .pem)))
        tls.applicationProtocols = http2 ? ["h2", "http/1.1"] : ["http/1.1"]
        let context = try NIOSSLContext(configuration: tls)
        let box = closedCounter
        channel = try ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { ch in
                ch.eventLoop.makeCompletedFuture {
                    try ch.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context))
                }.flatMap {
                    ch.configureHTTP2SecureUpgrade(
                        h2ChannelConfigurator: { ch in
                            ch.eventLoop.makeCompletedFuture {
                                _ = try ch.pipeline.syncOperations.configureHTTP2Pipeline(
                                    mode: .server, connectionConfiguration: .init(), streamConfiguration: .init()
                                ) { stream in
                                    stream.pipeline.addHandlers([
                                        HTTP2FramePayloadToHTTP1ServerCodec(), TestResponder(closed: box),
                                    ])
                                }
                            }
                        },
                        http1ChannelConfigurator: { ch in
                            ch.pipeline.configureHTTPServerPipeline().flatMap {
                                ch.pipeline.addHandler(TestResponder(closed: box))
                            }
                        })
                }
            }
            .bind(host: "127.0.0.1", port: 0).wait()
        port = channel.localAddress?.port ?? 0
    }

    var foreverClosed: Int { closedCounter.value }

    func config(_ edit: (inout ClientConfig) -> Void = { _ in }) -> ClientConfig {
        var c = ClientConfig(server: "https://127.0.0.1:\(port)")
        c.caData = caPEM
        // The certificate names only localhost. (NIOSSL also accepts a certificate whose IP
        // address entries hold the address connected to, whatever name was asked for.)
        c.tlsServerName = "localhost"
        edit(&c)
        return c
    }

    func stop() {
        try? channel.close().wait()
        try? FileManager.default.removeItem(atPath: dir)
    }
}

final class ClosedBox: Sendable {
    let counter = Atomic<Int>(0)
    var value: Int { counter.load(ordering: .relaxed) }
    func bump() { counter.add(1, ordering: .relaxed) }
}

final class TestResponder: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    let closed: ClosedBox
    var head: HTTPRequestHead?
    var body: [UInt8] = []
    var forever = false

    init(closed: ClosedBox) { self.closed = closed }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
            body = []
        case .body(var b):
            body += b.readBytes(length: b.readableBytes) ?? []
        case .end:
            guard let head else { return }
            // Answered on the next loop turn, as a real server answers after its work. (With
            // swift-nio-http2 1.46, answers written and flushed inside the read of many streams at
            // once were left unflushed: neither this client nor AsyncHTTPClient got them.)
            let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            context.eventLoop.execute {
                let (me, ctx) = bound.value
                me.respond(context: ctx, head)
            }
        }
    }

    func respond(context: ChannelHandlerContext, _ head: HTTPRequestHead) {
        let path = String(head.uri.prefix { $0 != "?" })
        func send(_ status: HTTPResponseStatus, _ headers: HTTPHeaders, _ chunks: [String], end: Bool) {
            context.write(
                wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))),
                promise: nil)
            for c in chunks { context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: c)))), promise: nil) }
            if end { context.write(wrapOutboundOut(.end(nil)), promise: nil) }
            context.flush()
        }
        switch path {
        case "/echo":
            var h = HTTPHeaders()
            h.add(name: "x-version", value: "\(head.version.major).\(head.version.minor)")
            h.add(name: "x-method", value: head.method.rawValue)
            h.add(name: "x-uri", value: head.uri)
            h.add(name: "x-user-agent", value: head.headers.first(name: "user-agent") ?? "")
            h.add(name: "x-content-length", value: head.headers.first(name: "content-length") ?? "")
            h.add(name: "content-length", value: String(body.count))
            send(.created, h, [String(decoding: body, as: UTF8.self)], end: true)
        case "/stream":
            send(.ok, ["content-type": "application/json"], ["a"], end: false)
            let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            context.eventLoop.scheduleTask(in: .milliseconds(20)) {
                let (me, ctx) = bound.value
                ctx.writeAndFlush(me.wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: "b")))), promise: nil)
                ctx.eventLoop.scheduleTask(in: .milliseconds(20)) {
                    ctx.write(me.wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: "c")))), promise: nil)
                    ctx.writeAndFlush(me.wrapOutboundOut(.end(nil)), promise: nil)
                }
            }
        case "/forever":
            forever = true
            send(.ok, [:], ["x"], end: false)
        case "/close":
            (context.channel.parent ?? context.channel).close(promise: nil)
        default:
            break  // "/never": no answer
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if forever { closed.bump() }
        context.fireChannelInactive()
    }
}

@Suite("HTTP/2 transport against a NIO server", .serialized)
struct HTTP2TransportTests {
    /// More than the server's 100 concurrent streams: the rest wait for a free stream.
    static let concurrent = 300
    @Test(
        "a request arrives as sent over HTTP/2 (method, escaped path and query, headers, body) and its answer comes back whole"
    )
    func echo() async throws {
        let server = try TestHTTPSServer()
        defer { server.stop() }
        let t = try HTTP2Transport(config: server.config())
        defer { Task { await t.shutdown() } }
        let body = Array(#"{"kind":"ConfigMap"}"#.utf8)
        let r = try await t.send(
            KubeRequest(
                method: "POST", path: "/echo", query: [(name: "labelSelector", value: "a in (b,c)")],
                headers: [
                    (name: "User-Agent", value: "k8swift-test"), (name: "Content-Type", value: "application/json"),
                ],
                body: body),
            timeout: .seconds(10))
        #expect(r.status == 201)
        #expect(r.header("x-version") == "2.0")
        #expect(r.header("x-method") == "POST")
        #expect(r.header("x-uri") == "/echo?labelSelector=a%20in%20%28b%2Cc%29")
        #expect(r.header("x-user-agent") == "k8swift-test")
        #expect(r.header("x-content-length") == String(body.count))
        #expect(r.body == body)
        // Many requests at once share the connection.
        let statuses = try await withThrowingTaskGroup(of: Int.self) { g in
            for _ in 0..<Self.concurrent {
                g.addTask { try await t.send(KubeRequest(path: "/echo"), timeout: .seconds(10)).status }
            }
            return try await g.reduce(into: [Int]()) { $0.append($1) }
        }
        #expect(statuses == Array(repeating: 201, count: Self.concurrent))
    }

    @Test("a server offering only HTTP/1.1 is still spoken to, over HTTP/1.1")
    func http1Fallback() async throws {
        let server = try TestHTTPSServer(http2: false)
        defer { server.stop() }
        let t = try HTTP2Transport(config: server.config())
        defer { Task { await t.shutdown() } }
        let r = try await t.send(KubeRequest(method: "PUT", path: "/echo", body: [1, 2, 3]), timeout: .seconds(10))
        #expect(r.status == 201)
        #expect(r.header("x-version") == "1.1")
        #expect(r.body == [1, 2, 3])
    }

    @Test("the certificate is checked against the address, or against tls-server-name when given")
    func serverName() async throws {
        let server = try TestHTTPSServer()
        defer { server.stop() }
        let named = try HTTP2Transport(config: server.config())
        defer { Task { await named.shutdown() } }
        #expect(try await named.send(KubeRequest(path: "/echo"), timeout: .seconds(10)).status == 201)
        let unnamed = try HTTP2Transport(config: server.config { $0.tlsServerName = nil })
        defer { Task { await unnamed.shutdown() } }
        await #expect(throws: TransportError.self) {
            _ = try await unnamed.send(KubeRequest(path: "/echo"), timeout: .seconds(10))
        }
        let wrong = try HTTP2Transport(config: server.config { $0.tlsServerName = "elsewhere.example" })
        defer { Task { await wrong.shutdown() } }
        await #expect(throws: TransportError.self) {
            _ = try await wrong.send(KubeRequest(path: "/echo"), timeout: .seconds(10))
        }
        var untrusted = server.config()
        untrusted.caData = nil
        let u = try HTTP2Transport(config: untrusted)
        defer { Task { await u.shutdown() } }
        await #expect(throws: TransportError.self) {
            _ = try await u.send(KubeRequest(path: "/echo"), timeout: .seconds(10))
        }
    }

    @Test("a streaming answer arrives chunk by chunk and ends with the server's stream; leaving it resets the stream")
    func streaming() async throws {
        let server = try TestHTTPSServer()
        defer { server.stop() }
        let t = try HTTP2Transport(config: server.config())
        defer { Task { await t.shutdown() } }
        let r = try await t.send(KubeRequest(path: "/stream", streaming: true), timeout: .seconds(1))
        #expect(r.status == 200)
        #expect(r.header("content-type") == "application/json")
        var chunks: [String] = []
        for try await c in try #require(r.stream) { chunks.append(String(decoding: c, as: UTF8.self)) }
        #expect(chunks.joined() == "abc")

        // A watch is left the way an informer leaves it: its task is cancelled.
        let f = try await t.send(KubeRequest(path: "/forever", streaming: true), timeout: nil)
        let stream = try #require(f.stream)
        let first = Mutex<[UInt8]?>(nil)
        let reader = Task {
            for try await c in stream { first.withLock { $0 = $0 ?? c } }
        }
        while first.withLock({ $0 }) == nil { try await Task.sleep(for: .milliseconds(5)) }
        #expect(first.withLock { $0 } == Array("x".utf8))
        reader.cancel()
        let deadline = ContinuousClock.now + .seconds(10)
        while server.foreverClosed == 0 && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(server.foreverClosed == 1, "the server saw the stream end when the client left it")
    }

    @Test("no answer within the timeout is a transport error; a closed connection is replaced for the next request")
    func timeoutAndReconnect() async throws {
        let server = try TestHTTPSServer()
        defer { server.stop() }
        let t = try HTTP2Transport(config: server.config())
        defer { Task { await t.shutdown() } }
        let started = ContinuousClock.now
        await #expect(throws: TransportError.self) {
            _ = try await t.send(KubeRequest(path: "/never"), timeout: .milliseconds(200))
        }
        #expect(ContinuousClock.now - started < .seconds(5))
        await #expect(throws: TransportError.self) {
            _ = try await t.send(KubeRequest(path: "/close"), timeout: .seconds(10))
        }
        #expect(try await t.send(KubeRequest(path: "/echo"), timeout: .seconds(10)).status == 201)
    }
}
