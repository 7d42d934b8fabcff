import HTTPServing
import NIOCore
import NIOHTTP1
import NIOPosix
import Testing

/// A responder for the plumbing: `/up` upgrades and answers each read upper-cased, `/chunks`
/// streams three chunks, `/plain` answers a fixed body.
struct PlumbingResponder: HTTPResponder {
    func respond(to request: HTTPRequest) async -> HTTPResponse {
        switch request.path {
        case "/up":
            guard request.headers.first(name: "upgrade") == "test/1" else { return HTTPResponse(status: .badRequest) }
            return HTTPResponse(
                status: .switchingProtocols, headers: ["Connection": "Upgrade", "Upgrade": "test/1"],
                body: .upgrade { s in
                    while let b = try? await s.read() {
                        try? await s.write(Array(String(decoding: b, as: UTF8.self).uppercased().utf8))
                    }
                })
        case "/chunks":
            let (stream, c) = AsyncStream<[UInt8]>.makeStream()
            c.yield(Array("one,".utf8))
            c.yield(Array("two,".utf8))
            c.yield(Array("three".utf8))
            c.finish()
            return HTTPResponse(status: .ok, headers: ["Content-Type": "text/plain"], body: .stream(stream))
        default:
            return HTTPResponse(status: .notFound, contentType: "text/plain", bytes: Array("no \(request.path)".utf8))
        }
    }

    func tooLarge(_ request: HTTPRequest) -> HTTPResponse { HTTPResponse(status: .payloadTooLarge) }
}

@Suite("HTTP upgrade and the dialer")
struct UpgradeTests {
    @Test("an upgraded connection carries raw bytes both ways; a closed side ends the other's reads")
    func upgrade() async throws {
        let server = HTTPServer(responder: PlumbingResponder(), maxBodyBytes: 1 << 20, threads: 1)
        let port = try await server.start(host: "127.0.0.1", port: 0, tls: nil)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let r = try await HTTPDialer.open(
            host: "127.0.0.1", port: port, tls: nil, uri: "/up",
            headers: ["Connection": "Upgrade", "Upgrade": "test/1"], group: group)
        #expect(r.status == 101)
        #expect(r.header("upgrade") == "test/1")
        #expect(r.header("transfer-encoding") == nil)
        try await r.stream.write(Array("hello".utf8))
        var got: [UInt8] = []
        while got.count < 5, let b = try await r.stream.read() { got += b }
        #expect(String(decoding: got, as: UTF8.self) == "HELLO")
        await r.stream.closeWrite()
        // The server's loop sees the end and the connection closes.
        #expect(try await r.stream.read() == nil)

        let refused = try await HTTPDialer.open(
            host: "127.0.0.1", port: port, tls: nil, uri: "/up", headers: ["Upgrade": "other"], group: group)
        #expect(refused.status == 400)
        #expect(try await refused.readBody().isEmpty)
        await server.stop()
        try await group.shutdownGracefully()
    }

    @Test("bodies are read whole: chunked as the chunks arrive, and by Content-Length")
    func bodies() async throws {
        let server = HTTPServer(responder: PlumbingResponder(), maxBodyBytes: 1 << 20, threads: 1)
        let port = try await server.start(host: "127.0.0.1", port: 0, tls: nil)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let chunked = try await HTTPDialer.open(
            host: "127.0.0.1", port: port, tls: nil, uri: "/chunks", headers: [:], group: group)
        #expect(chunked.status == 200)
        #expect(chunked.header("transfer-encoding") == "chunked")
        var text = ""
        for try await c in chunked.body() { text += String(decoding: c, as: UTF8.self) }
        #expect(text == "one,two,three")
        let plain = try await HTTPDialer.open(
            host: "127.0.0.1", port: port, tls: nil, uri: "/x", headers: [:], group: group)
        #expect(plain.status == 404)
        #expect(String(decoding: try await plain.readBody(), as: UTF8.self) == "no /x")
        await server.stop()
        try await group.shutdownGracefully()
    }
}
