import NIOCore
import NIOEmbedded
import Testing

@testable import StorageEtcd

@Suite("etcd client pieces")
struct EtcdUnitTests {
    @Test(
        "requested progress notifications are trusted only on etcd versions that order them with events",
        arguments: [
            ("3.4.23", false), ("3.4.30", false), ("3.4.31", true), ("3.5.1", false), ("3.5.12", false),
            ("3.5.13", true), ("3.6.0", true), ("3.3.27", false), ("4.0.0", true), ("garbage", false),
        ])
    func versions(version: String, ordered: Bool) {
        #expect(EtcdStorage.progressIsOrdered(version: version) == ordered)
    }

    /// An HTTP/2 frame: 24-bit length, type, flags, stream id, payload (RFC 9113 §4.1).
    func frame(type: UInt8, flags: UInt8, stream: UInt32, payload: [UInt8]) -> [UInt8] {
        let n = payload.count
        return [UInt8(n >> 16), UInt8((n >> 8) & 0xFF), UInt8(n & 0xFF), type, flags]
            + [UInt8(stream >> 24), UInt8((stream >> 16) & 0xFF), UInt8((stream >> 8) & 0xFF), UInt8(stream & 0xFF)]
            + payload
    }

    @Test("PINGs are answered with an ACK carrying their payload and removed; other frames pass unchanged")
    func pingResponder() throws {
        let channel = EmbeddedChannel(handler: PingResponder())
        let settings = frame(type: 0x4, flags: 0, stream: 0, payload: [0, 3, 0, 0, 0, 100])
        let ping = frame(type: 0x6, flags: 0, stream: 0, payload: [1, 2, 3, 4, 5, 6, 7, 8])
        let pingAck = frame(type: 0x6, flags: 0x1, stream: 0, payload: [9, 9, 9, 9, 9, 9, 9, 9])
        let data = frame(type: 0x0, flags: 0x1, stream: 1, payload: Array("hello".utf8))
        // Split the input mid-frame to check a partial frame waits for its remainder.
        let all = settings + ping + pingAck + data
        let cut = settings.count + 5
        try channel.writeInbound(ByteBuffer(bytes: all[..<cut]))
        try channel.writeInbound(ByteBuffer(bytes: all[cut...]))
        var passed: [UInt8] = []
        while var b = try channel.readInbound(as: ByteBuffer.self) { passed += b.readBytes(length: b.readableBytes)! }
        #expect(passed == settings + pingAck + data, "the PING (only) is removed; its ACK from the peer passes")
        var out = try #require(try channel.readOutbound(as: ByteBuffer.self))
        #expect(
            out.readBytes(length: out.readableBytes)!
                == frame(type: 0x6, flags: 0x1, stream: 0, payload: [1, 2, 3, 4, 5, 6, 7, 8]))
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil)
        _ = try channel.finish()
    }
}
