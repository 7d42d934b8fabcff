import NIOHTTP1
import Testing

@testable import HTTPServing

@Suite("WebSocket handshake and frames (RFC 6455)")
struct WebSocketTests {
    @Test("the accept value is base64(SHA-1(key + GUID)), as in the RFC's example")
    func acceptValue() {
        // RFC 6455 section 1.3.
        #expect(WebSocketHandshake.acceptValue(forKey: "dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    }

    @Test("a handshake picks the client's most preferred protocol we speak and refuses bad requests")
    func handshake() {
        let base: HTTPHeaders = [
            "Upgrade": "WebSocket", "Connection": "keep-alive, Upgrade", "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        ]
        var h = base
        h.add(name: "Sec-WebSocket-Protocol", value: "v4.channel.k8s.io, v5.channel.k8s.io")
        h.add(name: "Sec-WebSocket-Protocol", value: "channel.k8s.io")
        #expect(
            WebSocketHandshake.offeredProtocols(h) == ["v4.channel.k8s.io", "v5.channel.k8s.io", "channel.k8s.io"])
        guard
            case .accept(let headers, let chosen) = WebSocketHandshake.accept(
                method: .GET, headers: h, supported: ["v5.channel.k8s.io", "v4.channel.k8s.io"])
        else {
            Issue.record("expected the upgrade to be accepted")
            return
        }
        #expect(chosen == "v4.channel.k8s.io")
        #expect(headers.first(name: "sec-websocket-protocol") == "v4.channel.k8s.io")
        #expect(headers.first(name: "sec-websocket-accept") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        #expect(headers.first(name: "upgrade") == "websocket")

        guard case .accept(_, nil) = WebSocketHandshake.accept(method: .GET, headers: h, supported: ["other"]) else {
            Issue.record("no common protocol still upgrades, naming none")
            return
        }
        var old = base
        old.replaceOrAdd(name: "Sec-WebSocket-Version", value: "8")
        guard case .reject(let status, let rh, _) = WebSocketHandshake.accept(method: .GET, headers: old, supported: [])
        else {
            Issue.record("version 8 must be refused")
            return
        }
        #expect(status == .upgradeRequired)
        #expect(rh.first(name: "sec-websocket-version") == "13")
        var badKey = base
        badKey.replaceOrAdd(name: "Sec-WebSocket-Key", value: "c2hvcnQ=")
        guard case .reject(.badRequest, _, _) = WebSocketHandshake.accept(method: .GET, headers: badKey, supported: [])
        else {
            Issue.record("a key that is not 16 bytes must be refused")
            return
        }
        guard
            case .reject(.methodNotAllowed, _, _) = WebSocketHandshake.accept(
                method: .POST, headers: base, supported: [])
        else {
            Issue.record("POST must be refused")
            return
        }
        #expect(!WebSocketHandshake.isUpgradeRequest(["Upgrade": "websocket"]))
        #expect(WebSocketHandshake.decodeBase64(WebSocketHandshake.makeKey())?.count == 16)
    }

    @Test("frames encode as in the RFC's examples (section 5.7)")
    func rfcExamples() throws {
        let hello = Array("Hello".utf8)
        #expect(WebSocketFrame(opcode: .text, payload: hello).encoded() == [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f])
        #expect(
            WebSocketFrame(opcode: .text, payload: hello).encoded(maskingKey: (0x37, 0xfa, 0x21, 0x3d))
                == [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58])
        #expect(
            WebSocketFrame(fin: false, opcode: .text, payload: Array("Hel".utf8)).encoded() == [
                0x01, 0x03, 0x48, 0x65, 0x6c,
            ])
        #expect(WebSocketFrame(opcode: .continuation, payload: Array("lo".utf8)).encoded() == [0x80, 0x02, 0x6c, 0x6f])
        let b256 = WebSocketFrame(opcode: .binary, payload: [UInt8](repeating: 7, count: 256)).encoded()
        #expect(Array(b256.prefix(4)) == [0x82, 0x7e, 0x01, 0x00])
        #expect(b256.count == 260)
        let b64k = WebSocketFrame(opcode: .binary, payload: [UInt8](repeating: 7, count: 65536)).encoded()
        #expect(Array(b64k.prefix(10)) == [0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0])

        // The decoder reads the masked example back, unmasked.
        var d = WebSocketFrameDecoder()
        d.append([0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f])
        #expect(try d.next() == nil)
        d.append([0x4d, 0x51, 0x58])
        let f = try #require(try d.next())
        #expect(f.payload == hello && f.masked && f.fin && f.opcode == .text)
    }

    @Test("the decoder refuses reserved bits, unknown opcodes, long or fragmented control frames")
    func decoderErrors() {
        for bad: [UInt8] in [[0xc1, 0x00], [0x83, 0x00], [0x89, 0x7e, 0x00, 0x7e], [0x09, 0x00]] {
            var d = WebSocketFrameDecoder()
            d.append(bad)
            #expect(throws: WebSocketProtocolError.self) { try d.next() }
        }
        var small = WebSocketFrameDecoder(maxFramePayload: 10)
        small.append([0x82, 0x0b])
        #expect(throws: WebSocketProtocolError.self) { try small.next() }
    }

    @Test("a server reads masked fragmented messages, answers pings between fragments, echoes a close")
    func serverConversation() async throws {
        let pipe = BytePipe()
        let server = WebSocketConnection(stream: pipe.a, role: .server)
        let key: (UInt8, UInt8, UInt8, UInt8) = (1, 2, 3, 4)
        // A binary message in three fragments with a ping in between, sent byte by byte.
        var wire: [UInt8] = []
        wire += WebSocketFrame(fin: false, opcode: .binary, payload: [1, 2, 3]).encoded(maskingKey: key)
        wire += WebSocketFrame(opcode: .ping, payload: Array("hi".utf8)).encoded(maskingKey: key)
        wire += WebSocketFrame(fin: false, opcode: .continuation, payload: [4]).encoded(maskingKey: key)
        wire += WebSocketFrame(opcode: .continuation, payload: [5, 6]).encoded(maskingKey: key)
        wire += WebSocketFrame(opcode: .text, payload: Array("ok".utf8)).encoded(maskingKey: key)
        wire += WebSocketFrame(opcode: .close, payload: [0x03, 0xe9, 0x62, 0x79, 0x65]).encoded(maskingKey: key)
        for b in wire { try await pipe.b.write([b]) }

        #expect(try await server.receive() == .binary([1, 2, 3, 4, 5, 6]))
        #expect(try await server.receive() == .text(Array("ok".utf8)))
        #expect(try await server.receive() == nil)
        #expect(server.peerCloseCode == 1001)

        var fromServer = WebSocketFrameDecoder()
        var frames: [WebSocketFrame] = []
        while frames.count < 2, let bytes = try await pipe.b.read() {
            fromServer.append(bytes)
            while let f = try fromServer.next() { frames.append(f) }
        }
        #expect(frames.map(\.opcode) == [.pong, .close])
        #expect(frames[0].payload == Array("hi".utf8))
        #expect(frames[1].payload == [0x03, 0xe9])
        #expect(frames.allSatisfy { !$0.masked })
        // After the close, sending data is refused.
        await #expect(throws: (any Error).self) { try await server.send(binary: [1]) }
    }

    @Test("a server fails the connection with 1002 when a client frame is not masked")
    func unmaskedClientFrame() async throws {
        let pipe = BytePipe()
        let server = WebSocketConnection(stream: pipe.a, role: .server)
        try await pipe.b.write(WebSocketFrame(opcode: .binary, payload: [9]).encoded())
        await #expect(throws: WebSocketProtocolError.self) { try await server.receive() }
        var d = WebSocketFrameDecoder()
        var frame: WebSocketFrame?
        while frame == nil, let bytes = try await pipe.b.read() {
            d.append(bytes)
            frame = try d.next()
        }
        #expect(frame?.opcode == .close)
        #expect(frame?.payload == [0x03, 0xea])
    }

    @Test("client and server connections talk to each other: client frames masked, server frames not")
    func clientServer() async throws {
        let pipe = BytePipe()
        let server = WebSocketConnection(stream: pipe.a, role: .server)
        let client = WebSocketConnection(stream: pipe.b, role: .client)
        let big = (0..<70000).map { UInt8($0 % 251) }
        try await client.send(binary: big)
        #expect(try await server.receive() == .binary(big))
        try await server.send(text: "back")
        #expect(try await client.receive() == .text(Array("back".utf8)))
        try await client.sendClose(code: WebSocketCloseCode.normal)
        #expect(try await server.receive() == nil)
        #expect(try await client.receive() == nil)
        #expect(client.peerCloseCode == 1000)
    }
}
