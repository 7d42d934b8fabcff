import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization
import Testing

@testable import HTTPServing

/// What the fake kubelet saw of a session.
struct BackendLog: Sendable {
    var streamTypes: [String] = []
    var stdin: [UInt8] = []
    var stdinEnd: SPDYStreamEnd?
    var resize: [UInt8] = []
}

/// A fake kubelet speaking the SPDY side of `v4.channel.k8s.io` (or older): accepts the expected
/// number of streams, replies to each, runs "the command" (stdout gets `out:` + stdin, stderr gets
/// `warn`), writes `status` on the error stream once stdin ended, then resets every stream and
/// closes, as the streaming server does when a command exits.
func fakeBackend(_ transport: any ByteStream, streams expected: Int, status: [UInt8]) async -> BackendLog {
    let session = SPDYSession(transport: transport, role: .server)
    session.start()
    var log = BackendLog()
    var byType: [String: SPDYStream] = [:]
    for _ in 0..<expected {
        guard let s = await session.acceptStream() else { return log }
        let type = s.headers["streamtype"] ?? "?"
        log.streamTypes.append(type)
        byType[type] = s
        try? await s.reply()
    }
    let resizeStream = byType["resize"]
    let resizeTask = Task { () -> [UInt8] in
        var got: [UInt8] = []
        if let r = resizeStream { while let b = await r.read() { got += b } }
        return got
    }
    if let stdin = byType["stdin"] {
        while let b = await stdin.read() { log.stdin += b }
        log.stdinEnd = stdin.endReason
    }
    try? await byType["stdout"]?.write(Array("out:".utf8) + log.stdin)
    try? await byType["stderr"]?.write(Array("warn".utf8))
    try? await byType["error"]?.write(status)
    await session.close()
    log.resize = await resizeTask.value
    return log
}

/// The v5 client side, as kubectl ≥ 1.30 plays it: collects every channel until the server closes.
struct ClientResult: Sendable {
    var first: [UInt8]?
    var channels: [UInt8: [UInt8]] = [:]
    var closeCode: UInt16?

    var stdout: String { String(decoding: channels[1] ?? [], as: UTF8.self) }
    var stderr: String { String(decoding: channels[2] ?? [], as: UTF8.self) }
    var status: [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(channels[3] ?? []))) as? [String: Any]
    }
    var exitCode: Int? {
        guard let details = status?["details"] as? [String: Any],
            let causes = details["causes"] as? [[String: Any]],
            let cause = causes.first(where: { $0["reason"] as? String == "ExitCode" })
        else { return nil }
        return Int(cause["message"] as? String ?? "")
    }
}

func readAll(_ ws: WebSocketConnection) async throws -> ClientResult {
    var r = ClientResult()
    while let m = try await ws.receive() {
        guard case .binary(let bytes) = m, let ch = bytes.first else { continue }
        if r.first == nil { r.first = bytes }
        r.channels[ch, default: []] += bytes.dropFirst()
    }
    r.closeCode = ws.peerCloseCode
    return r
}

@Suite("Stream translation: WebSocket v5 exec to SPDY, port-forward tunnels")
struct StreamTranslatorTests {
    static let exit3 = Array(
        #"{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code: exit status 3","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"3"}]}}"#
            .utf8)

    @Test(
        "exec: streams open in upstream's order, stdout/stderr arrive, stdin's close is a FIN, exit code on channel 3")
    func execEndToEnd() async throws {
        let clientPipe = BytePipe()
        let backendPipe = BytePipe()
        let options = RemoteCommandOptions(stdin: true, stdout: true, stderr: true)
        let translator = Task {
            await StreamTranslator.exec(
                client: clientPipe.a, backend: backendPipe.a, backendProtocol: "v4.channel.k8s.io", options: options)
        }
        let backend = Task { await fakeBackend(backendPipe.b, streams: 4, status: Self.exit3) }
        let ws = WebSocketConnection(stream: clientPipe.b, role: .client)
        try await ws.send(binary: [0] + Array("hello ".utf8))
        try await ws.send(binary: [0] + Array("world".utf8))
        try await ws.send(binary: [255, 0])
        let result = try await readAll(ws)
        await translator.value
        let log = await backend.value

        #expect(log.streamTypes == ["error", "stdin", "stdout", "stderr"])
        #expect(String(decoding: log.stdin, as: UTF8.self) == "hello world")
        #expect(log.stdinEnd == .finished)
        #expect(result.first == [1])  // the "connected" signal: empty, on stdout
        #expect(result.stdout == "out:hello world")
        #expect(result.stderr == "warn")
        #expect(result.status?["status"] as? String == "Failure")
        #expect(result.status?["reason"] as? String == "NonZeroExitCode")
        #expect(result.exitCode == 3)
        #expect(result.closeCode == WebSocketCloseCode.normal)
    }

    @Test("exec: a v4 success is reported as Success")
    func execSuccess() async throws {
        let clientPipe = BytePipe()
        let backendPipe = BytePipe()
        let translator = Task {
            await StreamTranslator.exec(
                client: clientPipe.a, backend: backendPipe.a, backendProtocol: "v4.channel.k8s.io",
                options: RemoteCommandOptions(stdout: true))
        }
        let backend = Task {
            await fakeBackend(backendPipe.b, streams: 2, status: Array(#"{"metadata":{},"status":"Success"}"#.utf8))
        }
        let result = try await readAll(WebSocketConnection(stream: clientPipe.b, role: .client))
        await translator.value
        #expect(await backend.value.streamTypes == ["error", "stdout"])
        #expect(result.stdout == "out:")
        #expect(result.status?["status"] as? String == "Success")
        #expect(result.exitCode == nil)
    }

    @Test("exec with a tty: no stderr stream, a resize stream that gets the client's sizes")
    func execTTY() async throws {
        let clientPipe = BytePipe()
        let backendPipe = BytePipe()
        let translator = Task {
            await StreamTranslator.exec(
                client: clientPipe.a, backend: backendPipe.a, backendProtocol: "v4.channel.k8s.io",
                options: RemoteCommandOptions(stdin: true, stdout: true, stderr: true, tty: true))
        }
        let backend = Task {
            await fakeBackend(backendPipe.b, streams: 4, status: Array(#"{"metadata":{},"status":"Success"}"#.utf8))
        }
        let ws = WebSocketConnection(stream: clientPipe.b, role: .client)
        let size = Array(#"{"Width":80,"Height":24}"#.utf8)
        try await ws.send(binary: [4] + size)
        try await ws.send(binary: [0] + Array("ls\r".utf8))
        try await ws.send(binary: [255, 4])
        try await ws.send(binary: [255, 0])
        let result = try await readAll(ws)
        await translator.value
        let log = await backend.value
        #expect(log.streamTypes == ["error", "stdin", "stdout", "resize"])
        #expect(log.resize == size)
        #expect(result.stdout == "out:ls\r")
        #expect(result.channels[2] == nil)
    }

    @Test("exec against a v2 kubelet: text on the error stream becomes an internal error status")
    func execOldProtocol() async throws {
        let clientPipe = BytePipe()
        let backendPipe = BytePipe()
        let translator = Task {
            await StreamTranslator.exec(
                client: clientPipe.a, backend: backendPipe.a, backendProtocol: "v2.channel.k8s.io",
                options: RemoteCommandOptions(stdout: true, tty: true))
        }
        let backend = Task { await fakeBackend(backendPipe.b, streams: 2, status: Array("container gone".utf8)) }
        let result = try await readAll(WebSocketConnection(stream: clientPipe.b, role: .client))
        await translator.value
        // v2 has no resize stream even with a tty.
        #expect(await backend.value.streamTypes == ["error", "stdout"])
        #expect(result.status?["reason"] as? String == "InternalError")
        #expect(result.status?["code"] as? Int == 500)
        #expect((result.status?["message"] as? String)?.hasSuffix("container gone") == true)
    }

    @Test("exec: a client that goes away ends the backend session")
    func execClientGone() async throws {
        let clientPipe = BytePipe()
        let backendPipe = BytePipe()
        let translator = Task {
            await StreamTranslator.exec(
                client: clientPipe.a, backend: backendPipe.a, backendProtocol: "v4.channel.k8s.io",
                options: RemoteCommandOptions(stdin: true, stdout: true))
        }
        let session = SPDYSession(transport: backendPipe.b, role: .server)
        session.start()
        var streams: [SPDYStream] = []
        for _ in 0..<3 {
            let s = try #require(await session.acceptStream())
            try await s.reply()
            streams.append(s)
        }
        let ws = WebSocketConnection(stream: clientPipe.b, role: .client)
        #expect(try await ws.receive() == .binary([1]))
        try await ws.sendClose(code: WebSocketCloseCode.goingAway)
        // The stdin stream ends (reset, or the connection closing) without data.
        #expect(await streams[1].read() == nil)
        await session.waitUntilEnded()
        await translator.value
    }

    @Test("exec: a backend that refuses a stream yields an internal error on channel 3")
    func execStreamRefused() async throws {
        let clientPipe = BytePipe()
        let backendPipe = BytePipe()
        let translator = Task {
            await StreamTranslator.exec(
                client: clientPipe.a, backend: backendPipe.a, backendProtocol: "v4.channel.k8s.io",
                options: RemoteCommandOptions(stdout: true))
        }
        let session = SPDYSession(transport: backendPipe.b, role: .server)
        session.start()
        let s = try #require(await session.acceptStream())
        await s.reset(status: SPDYFrame.Status.refusedStream)
        let result = try await readAll(WebSocketConnection(stream: clientPipe.b, role: .client))
        await translator.value
        #expect(result.status?["reason"] as? String == "InternalError")
    }

    @Test("the decision helpers: which requests translate, and what the backend is asked")
    func helpers() {
        let ws: HTTPHeaders = [
            "Connection": "Upgrade", "Upgrade": "websocket",
            "Sec-WebSocket-Protocol": "v5.channel.k8s.io, v4.channel.k8s.io",
        ]
        #expect(StreamTranslator.needsExecTranslation(ws))
        var v4only = ws
        v4only.replaceOrAdd(name: "Sec-WebSocket-Protocol", value: "v4.channel.k8s.io")
        #expect(!StreamTranslator.needsExecTranslation(v4only))
        #expect(!StreamTranslator.needsExecTranslation(["Connection": "Upgrade", "Upgrade": "SPDY/3.1"]))

        let h = StreamTranslator.backendExecHeaders()
        #expect(
            h["X-Stream-Protocol-Version"] == [
                "v4.channel.k8s.io", "v3.channel.k8s.io", "v2.channel.k8s.io", "channel.k8s.io",
            ])
        #expect(h.first(name: "upgrade") == "SPDY/3.1")
        #expect(h.first(name: "connection") == "Upgrade")

        let pf: HTTPHeaders = [
            "Connection": "Upgrade", "Upgrade": "websocket",
            "Sec-WebSocket-Protocol": "SPDY/3.1+portforward.k8s.io, v4.channel.k8s.io, SPDY/3.1+other.example",
        ]
        #expect(StreamTranslator.tunneledSPDYProtocols(pf) == ["portforward.k8s.io"])
        #expect(
            StreamTranslator.portForwardClientProtocol(backendHeaders: [
                "X-Stream-Protocol-Version": "portforward.k8s.io"
            ])
                == "SPDY/3.1+portforward.k8s.io")
        #expect(StreamTranslator.portForwardClientProtocol(backendHeaders: [:]) == nil)
        #expect(StreamTranslator.isSPDYUpgrade(status: 101, headers: ["Connection": "Upgrade", "Upgrade": "SPDY/3.1"]))
        #expect(
            !StreamTranslator.isSPDYUpgrade(status: 101, headers: ["Connection": "Upgrade", "Upgrade": "websocket"]))

        #expect(
            RemoteCommandOptions(query: ["stdin": "true", "stdout": "1", "tty": "false"])
                == RemoteCommandOptions(stdin: true, stdout: true))
    }

    @Test("port-forward: WebSocket message payloads become the backend's bytes and back; the end closes normally")
    func portForwardTunnel() async throws {
        let clientPipe = BytePipe()
        let backendPipe = BytePipe()
        let tunnel = Task { await StreamTranslator.portForward(client: clientPipe.a, backend: backendPipe.a) }
        let ws = WebSocketConnection(stream: clientPipe.b, role: .client)
        // A real SPDY frame sequence through the tunnel, split across messages.
        let encoder = SPDYFrameEncoder()
        let wire =
            encoder.encode(
                .synStream(
                    streamID: 1, associatedTo: 0, priority: 0, fin: false, unidirectional: false,
                    headers: ["streamType": "error", "port": "80", "requestID": "0"]))
            + encoder.encode(.ping(id: 1))
        try await ws.send(binary: Array(wire.prefix(5)))
        try await ws.send(binary: Array(wire.dropFirst(5)))
        var atBackend: [UInt8] = []
        while atBackend.count < wire.count, let b = try await backendPipe.b.read() { atBackend += b }
        #expect(atBackend == wire)
        let decoder = SPDYFrameDecoder()
        decoder.append(atBackend)
        if case .synStream(_, _, _, _, _, let headers) = try decoder.next() {
            #expect(headers["port"] == "80")
        } else {
            Issue.record("the backend did not get the SYN_STREAM")
        }

        try await backendPipe.b.write([1, 2, 3])
        #expect(try await ws.receive() == .binary([1, 2, 3]))
        await backendPipe.b.closeWrite()
        #expect(try await ws.receive() == nil)
        #expect(ws.peerCloseCode == WebSocketCloseCode.normal)
        await tunnel.value
    }
}

/// A fake kubelet over HTTP: answers a SPDY/3.1 upgrade choosing v4 and runs `fakeBackend`.
struct FakeKubeletResponder: HTTPResponder {
    func respond(to request: HTTPRequest) async -> HTTPResponse {
        guard StreamTranslator.isSPDYUpgrade(status: 101, headers: request.headers),
            request.headers["x-stream-protocol-version"].contains("v4.channel.k8s.io")
        else { return HTTPResponse(status: .badRequest) }
        return HTTPResponse(
            status: .switchingProtocols,
            headers: [
                "Connection": "Upgrade", "Upgrade": "SPDY/3.1", "X-Stream-Protocol-Version": "v4.channel.k8s.io",
            ],
            body: .upgrade { stream in
                _ = await fakeBackend(stream, streams: 4, status: StreamTranslatorTests.exit3)
            })
    }
    func tooLarge(_ request: HTTPRequest) -> HTTPResponse { HTTPResponse(status: .payloadTooLarge) }
}

/// The API server's side as the lead wires it: dial the kubelet, answer the client's upgrade, translate.
struct TranslatingResponder: HTTPResponder {
    let kubeletPort: Int
    let group: any EventLoopGroup

    func respond(to request: HTTPRequest) async -> HTTPResponse {
        guard StreamTranslator.needsExecTranslation(request.headers),
            case .accept(let headers, _) = WebSocketHandshake.accept(
                method: request.method, headers: request.headers, supported: [StreamTranslator.execWebSocketProtocol])
        else { return HTTPResponse(status: .badRequest) }
        guard
            let backend = try? await HTTPDialer.open(
                host: "127.0.0.1", port: kubeletPort, tls: nil, method: "POST", uri: "/exec/ns/pod/c?stdin=1",
                headers: StreamTranslator.backendExecHeaders(), group: group),
            StreamTranslator.isSPDYUpgrade(status: backend.status, headers: backend.headers)
        else { return HTTPResponse(status: .badGateway) }
        let options = RemoteCommandOptions(query: request.query)
        let chosen = StreamTranslator.negotiatedProtocol(backend.headers)
        return HTTPResponse(
            status: .switchingProtocols, headers: headers,
            body: .upgrade { client in
                await StreamTranslator.exec(
                    client: client, backend: backend.stream, backendProtocol: chosen, options: options)
            })
    }
    func tooLarge(_ request: HTTPRequest) -> HTTPResponse { HTTPResponse(status: .payloadTooLarge) }
}

@Suite("Stream translation over real connections")
struct StreamTranslatorSocketTests {
    @Test("a v5 WebSocket exec through HTTPServer and HTTPDialer reaches a SPDY kubelet and back")
    func overSockets() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let kubelet = HTTPServer(responder: FakeKubeletResponder(), maxBodyBytes: 1 << 20, threads: 1)
        let kubeletPort = try await kubelet.start(host: "127.0.0.1", port: 0, tls: nil)
        let api = HTTPServer(
            responder: TranslatingResponder(kubeletPort: kubeletPort, group: group), maxBodyBytes: 1 << 20, threads: 1)
        let apiPort = try await api.start(host: "127.0.0.1", port: 0, tls: nil)

        let key = WebSocketHandshake.makeKey()
        let r = try await HTTPDialer.open(
            host: "127.0.0.1", port: apiPort, tls: nil,
            uri: "/api/v1/namespaces/ns/pods/p/exec?command=cat&stdin=true&stdout=true&stderr=true",
            headers: [
                "Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
                "Sec-WebSocket-Key": key, "Sec-WebSocket-Protocol": "v5.channel.k8s.io",
            ], group: group)
        #expect(r.status == 101)
        #expect(r.header("sec-websocket-accept") == WebSocketHandshake.acceptValue(forKey: key))
        #expect(r.header("sec-websocket-protocol") == "v5.channel.k8s.io")
        let ws = WebSocketConnection(stream: r.stream, role: .client)
        let big = (0..<100_000).map { UInt8(ascii: "a") + UInt8($0 % 26) }
        try await ws.send(binary: [0] + big)
        try await ws.send(binary: [255, 0])
        let result = try await readAll(ws)
        #expect(result.stdout == "out:" + String(decoding: big, as: UTF8.self))
        #expect(result.stderr == "warn")
        #expect(result.exitCode == 3)
        await r.stream.close()
        await api.stop()
        await kubelet.stop()
        try await group.shutdownGracefully()
    }
}
