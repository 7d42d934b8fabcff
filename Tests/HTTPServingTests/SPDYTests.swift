import CZlib
import Testing

@testable import HTTPServing

/// Plain zlib, independent of our compressor classes: one stream per direction, primed with a
/// dictionary when zlib asks for it.
final class PlainInflater {
    var stream = z_stream()
    init() { precondition(inflateInit_(&stream, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK) }
    deinit { inflateEnd(&stream) }

    func inflate(_ input: [UInt8], dictionary: [UInt8]) -> (bytes: [UInt8], neededDictionary: Bool) {
        var input = input
        var out = [UInt8](repeating: 0, count: 1 << 16)
        var needed = false
        let produced = input.withUnsafeMutableBufferPointer { inp in
            out.withUnsafeMutableBufferPointer { o -> Int in
                stream.next_in = inp.baseAddress
                stream.avail_in = UInt32(inp.count)
                stream.next_out = o.baseAddress
                stream.avail_out = UInt32(o.count)
                var rc = CZlib.inflate(&stream, Z_SYNC_FLUSH)
                if rc == Z_NEED_DICT {
                    needed = true
                    _ = dictionary.withUnsafeBufferPointer {
                        inflateSetDictionary(&stream, $0.baseAddress, UInt32($0.count))
                    }
                    rc = CZlib.inflate(&stream, Z_SYNC_FLUSH)
                }
                precondition(rc == Z_OK || rc == Z_BUF_ERROR, "inflate: \(rc)")
                return o.count - Int(stream.avail_out)
            }
        }
        return (Array(out[0..<produced]), needed)
    }
}

final class PlainDeflater {
    var stream = z_stream()
    init(dictionary: [UInt8]) {
        precondition(deflateInit_(&stream, 9, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK)
        _ = dictionary.withUnsafeBufferPointer { deflateSetDictionary(&stream, $0.baseAddress, UInt32($0.count)) }
    }
    deinit { deflateEnd(&stream) }

    func deflate(_ input: [UInt8]) -> [UInt8] {
        var input = input
        var out = [UInt8](repeating: 0, count: 1 << 16)
        let produced = input.withUnsafeMutableBufferPointer { inp in
            out.withUnsafeMutableBufferPointer { o -> Int in
                stream.next_in = inp.baseAddress
                stream.avail_in = UInt32(inp.count)
                stream.next_out = o.baseAddress
                stream.avail_out = UInt32(o.count)
                precondition(CZlib.deflate(&stream, Z_SYNC_FLUSH) == Z_OK)
                return o.count - Int(stream.avail_out)
            }
        }
        return Array(out[0..<produced])
    }
}

/// A header block written by hand in the SPDY/3 layout (32-bit count, then 32-bit length-prefixed
/// names and values).
func handBlock(_ pairs: [(String, String)]) -> [UInt8] {
    func u32(_ v: Int) -> [UInt8] {
        [UInt8(v >> 24 & 0xff), UInt8(v >> 16 & 0xff), UInt8(v >> 8 & 0xff), UInt8(v & 0xff)]
    }
    var out = u32(pairs.count)
    for (n, v) in pairs { out += u32(n.utf8.count) + Array(n.utf8) + u32(v.utf8.count) + Array(v.utf8) }
    return out
}

@Suite("SPDY/3.1 framing, header compression and sessions")
struct SPDYTests {
    @Test("the dictionary is SPDY/3's: 1423 bytes, length-prefixed names first, the value run last")
    func dictionary() {
        let d = SPDYDictionary.bytes
        #expect(d.count == 1423)
        #expect(Array(d.prefix(11)) == [0, 0, 0, 7] + Array("options".utf8))
        #expect(String(decoding: d.suffix(20), as: UTF8.self) == "so-8859-1,utf-,*,enq=0.".suffix(20))
        // zlib names a preset dictionary by its Adler-32 in the stream header: a peer with the same
        // dictionary (Chromium calls this SPDY/3's dictionary id) writes 0xe3c6a7c2.
        #expect(adler32(1, d, UInt32(d.count)) == 0xe3c6_a7c2)
    }

    @Test("blocks we compress inflate with plain zlib and the dictionary, one stream across blocks")
    func ourCompressionInflatesPlainly() {
        let encoder = SPDYFrameEncoder()
        let inflater = PlainInflater()
        let first: SPDYHeaders = ["streamType": "stdin", "port": "8080"]
        let second: SPDYHeaders = ["streamType": "stdout", "port": "8080"]
        let c1 = encoder.compressor.compress(first.serialized())
        let c2 = encoder.compressor.compress(second.serialized())
        // The zlib header says "preset dictionary" (FDICT) with the dictionary's id.
        #expect(c1[1] & 0x20 != 0)
        #expect(Array(c1[2..<6]) == [0xe3, 0xc6, 0xa7, 0xc2])
        // Each block ends with a sync flush marker.
        #expect(Array(c1.suffix(4)) == [0, 0, 0xff, 0xff])
        let r1 = inflater.inflate(c1, dictionary: SPDYDictionary.bytes)
        #expect(r1.neededDictionary)
        #expect(r1.bytes == handBlock([("streamtype", "stdin"), ("port", "8080")]))
        let r2 = inflater.inflate(c2, dictionary: SPDYDictionary.bytes)
        #expect(!r2.neededDictionary)
        #expect(r2.bytes == handBlock([("streamtype", "stdout"), ("port", "8080")]))
    }

    @Test("blocks plain zlib deflates with the dictionary decode as headers")
    func plainCompressionDecodes() throws {
        let deflater = PlainDeflater(dictionary: SPDYDictionary.bytes)
        let decompressor = SPDYHeaderDecompressor()
        let b1 = deflater.deflate(handBlock([("streamtype", "error"), ("x-multi", "a\u{0}b")]))
        let b2 = deflater.deflate(handBlock([("streamtype", "resize")]))
        let h1 = try SPDYHeaders.parse(decompressor.decompress(b1))
        #expect(h1["streamType"] == "error")
        #expect(h1.values("x-multi") == ["a", "b"])
        let h2 = try SPDYHeaders.parse(decompressor.decompress(b2))
        #expect(h2.pairs.map(\.name) == ["streamtype"])
        #expect(h2["streamtype"] == "resize")
        // A block primed with another dictionary fails.
        let wrong = PlainDeflater(dictionary: Array("not the dictionary".utf8))
        #expect(throws: SPDYProtocolError.self) {
            try SPDYHeaderDecompressor().decompress(wrong.deflate(handBlock([("a", "b")])))
        }
    }

    @Test("fixed-size frames have the SPDY/3 layout")
    func layouts() {
        let e = SPDYFrameEncoder()
        #expect(e.encode(.ping(id: 1)) == [0x80, 3, 0, 6, 0, 0, 0, 4, 0, 0, 0, 1])
        #expect(e.encode(.rstStream(streamID: 3, status: 5)) == [0x80, 3, 0, 3, 0, 0, 0, 8, 0, 0, 0, 3, 0, 0, 0, 5])
        #expect(
            e.encode(.goAway(lastGoodStreamID: 7, status: 0)) == [0x80, 3, 0, 7, 0, 0, 0, 8, 0, 0, 0, 7, 0, 0, 0, 0])
        #expect(
            e.encode(.windowUpdate(streamID: 1, delta: 65536)) == [0x80, 3, 0, 9, 0, 0, 0, 8, 0, 0, 0, 1, 0, 1, 0, 0])
        #expect(
            e.encode(.data(streamID: 1, fin: true, payload: Array("abc".utf8))) == [0, 0, 0, 1, 1, 0, 0, 3, 97, 98, 99])
        #expect(
            e.encode(.settings(clearPersisted: false, entries: [SPDYSetting(flags: 1, id: 7, value: 65536)]))
                == [0x80, 3, 0, 4, 0, 0, 0, 12, 0, 0, 0, 1, 1, 0, 0, 7, 0, 1, 0, 0])
        let syn = e.encode(
            .synStream(streamID: 5, associatedTo: 0, priority: 2, fin: false, unidirectional: true, headers: [:]))
        #expect(Array(syn.prefix(4)) == [0x80, 3, 0, 1])
        #expect(syn[4] == 0x02)  // UNIDIRECTIONAL
        #expect(Array(syn[8..<18]) == [0, 0, 0, 5, 0, 0, 0, 0, 0x40, 0])
        #expect(Int(syn[5]) << 16 | Int(syn[6]) << 8 | Int(syn[7]) == syn.count - 8)
    }

    @Test("every frame type survives encoding and decoding, fed a byte at a time")
    func roundTrip() throws {
        let frames: [SPDYFrame] = [
            .synStream(
                streamID: 1, associatedTo: 0, priority: 0, fin: false, unidirectional: false,
                headers: ["streamType": "error"]),
            .synStream(
                streamID: 3, associatedTo: 1, priority: 7, fin: true, unidirectional: false,
                headers: SPDYHeaders([("streamType", "data"), ("port", "80"), ("requestID", "0")])),
            .synReply(streamID: 1, fin: false, headers: [:]),
            .synReply(streamID: 3, fin: true, headers: ["status": "200"]),
            .headers(streamID: 1, fin: false, headers: ["trailer": "x"]),
            .rstStream(streamID: 3, status: SPDYFrame.Status.cancel),
            .settings(
                clearPersisted: true, entries: [SPDYSetting(id: 4, value: 100), SPDYSetting(flags: 2, id: 7, value: 1)]),
            .ping(id: 2),
            .goAway(lastGoodStreamID: 3, status: 2),
            .windowUpdate(streamID: 1, delta: 0x7fff_ffff),
            .data(streamID: 1, fin: false, payload: (0..<5000).map { UInt8($0 & 0xff) }),
            .data(streamID: 1, fin: true, payload: []),
            .unknownControl(type: 0x0a, flags: 0, payload: [1, 2, 3]),
        ]
        let encoder = SPDYFrameEncoder()
        let wire = frames.flatMap { encoder.encode($0) }
        let decoder = SPDYFrameDecoder()
        var got: [SPDYFrame] = []
        for b in wire {
            decoder.append([b])
            while let f = try decoder.next() { got.append(f) }
        }
        #expect(got == frames)
    }

    @Test("the decoder refuses other versions, stream 0 and wrong control frame lengths")
    func decoderErrors() {
        for bad: [UInt8] in [
            [0x80, 2, 0, 6, 0, 0, 0, 4, 0, 0, 0, 1],  // version 2
            [0, 0, 0, 0, 0, 0, 0, 0],  // DATA on stream 0
            [0x80, 3, 0, 6, 0, 0, 0, 3, 0, 0, 1],  // PING of 3 bytes
        ] {
            let d = SPDYFrameDecoder()
            d.append(bad)
            #expect(throws: SPDYProtocolError.self) { try d.next() }
        }
    }

    /// A connected client and server session over an in-memory pipe.
    func sessions() -> (client: SPDYSession, server: SPDYSession) {
        let pipe = BytePipe()
        let client = SPDYSession(transport: pipe.a, role: .client)
        let server = SPDYSession(transport: pipe.b, role: .server)
        client.start()
        server.start()
        return (client, server)
    }

    @Test("a client opens streams with odd ids, waits for the reply, writes, half-closes and reads")
    func openWriteRead() async throws {
        let (client, server) = sessions()
        async let serverSide: [String] = {
            var log: [String] = []
            for _ in 0..<2 {
                guard let s = await server.acceptStream() else { break }
                log.append("\(s.id):\(s.headers["streamtype"] ?? "")")
                try await s.reply()
                if s.headers["streamtype"] == "stdin" {
                    var got: [UInt8] = []
                    while let b = await s.read() { got += b }
                    log.append("stdin:\(String(decoding: got, as: UTF8.self))")
                    log.append("end:\(String(describing: s.endReason))")
                    try await s.write(got.reversed())
                    try await s.closeWrite()
                }
            }
            return log
        }()
        let error = try await client.openStream(headers: ["streamType": "error"])
        let stdin = try await client.openStream(headers: ["streamType": "stdin"])
        #expect(error.id == 1 && stdin.id == 3)
        try await stdin.write(Array("hello".utf8))
        try await stdin.write((0..<40000).map { _ in UInt8(ascii: "x") })
        try await stdin.closeWrite()
        var back: [UInt8] = []
        while let b = await stdin.read() { back += b }
        #expect(back.count == 40005)
        #expect(String(decoding: back.suffix(5), as: UTF8.self) == "olleh")
        #expect(stdin.endReason == .finished)
        let log = try await serverSide
        #expect(log.first == "1:error")
        #expect(log[1] == "3:stdin")
        #expect(log[2].hasPrefix("stdin:hello") && log[2].count == "stdin:".count + 40005)
        #expect(log[3] == "end:Optional(HTTPServing.SPDYStreamEnd.finished)")
        await client.close()
        await server.waitUntilEnded()
    }

    @Test("pings are echoed; a reset fails a pending open and ends a stream's reads; GOAWAY stops opens")
    func controlFrames() async throws {
        let (client, server) = sessions()
        try await client.ping()
        try await server.ping()
        async let serverSide: Void = {
            if let refused = await server.acceptStream() { await refused.reset(status: SPDYFrame.Status.refusedStream) }
            if let s = await server.acceptStream() {
                try? await s.reply()
                try? await s.write(Array("partial".utf8))
                await s.reset()
            }
            await server.goAway()
        }()
        await #expect(throws: SPDYStreamError.reset(status: SPDYFrame.Status.refusedStream)) {
            try await client.openStream(headers: ["streamType": "x"])
        }
        let s = try await client.openStream(headers: ["streamType": "y"])
        var got: [UInt8] = []
        while let b = await s.read() { got += b }
        #expect(got == Array("partial".utf8))
        #expect(s.endReason == .reset(status: SPDYFrame.Status.cancel))
        await #expect(throws: SPDYStreamError.writeClosed) { try await s.write([1]) }
        await serverSide
        // The GOAWAY reaches the client: a ping round trip orders it after the frames before.
        try await client.ping()
        #expect(client.goAwayReceived)
        await #expect(throws: SPDYStreamError.goneAway) { try await client.openStream(headers: [:]) }
        await client.shutdown()
        #expect(await s.read() == nil)
        #expect(await server.acceptStream() == nil)
    }

    @Test("an open times out when no reply comes")
    func replyTimeout() async throws {
        let (client, server) = sessions()
        await #expect(throws: SPDYStreamError.replyTimeout) {
            try await client.openStream(headers: [:], timeout: .milliseconds(50))
        }
        #expect(await server.acceptStream() != nil)
        await client.shutdown()
    }
}
