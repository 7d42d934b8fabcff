import NIOCore

/// Answers the peer's HTTP/2 PINGs below the HTTP/2 handler.
///
/// grpc-go servers (etcd, containerd) send a PING with nearly every request to probe bandwidth;
/// swift-nio-http2 counts those as control frames and closes the connection after 200 in 30 s,
/// a limit grpc-swift-nio-transport does not expose. This handler sits between TLS and the HTTP/2
/// handler, walks the frame headers of inbound bytes, answers each PING (type 6) that is not an
/// ACK with an ACK carrying the same payload, and removes it from the stream; every other byte is
/// passed on unchanged. A frame split across reads waits for its remainder.
final class PingResponder: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private static let frameHeaderSize = 9
    private static let pingType: UInt8 = 0x6
    private static let ackFlag: UInt8 = 0x1

    /// Bytes of a frame whose end has not arrived yet.
    private var pending: ByteBuffer?

    init() {}

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var input = unwrapInboundIn(data)
        if var p = pending {
            p.writeBuffer(&input)
            input = p
            pending = nil
        }
        // Runs of non-PING frames are passed on as zero-copy slices.
        var segmentStart = input.readerIndex
        var index = input.readerIndex
        let end = input.writerIndex
        var acks: ByteBuffer? = nil
        while end - index >= Self.frameHeaderSize {
            let b0 = input.getInteger(at: index, as: UInt8.self)!
            let b12 = input.getInteger(at: index + 1, as: UInt16.self)!
            let type = input.getInteger(at: index + 3, as: UInt8.self)!
            let flags = input.getInteger(at: index + 4, as: UInt8.self)!
            let total = Self.frameHeaderSize + (Int(b0) << 16 | Int(b12))
            guard end - index >= total else { break }
            if type == Self.pingType && flags & Self.ackFlag == 0 && total == Self.frameHeaderSize + 8 {
                if index > segmentStart {
                    context.fireChannelRead(
                        wrapInboundOut(input.getSlice(at: segmentStart, length: index - segmentStart)!))
                }
                var ack = acks ?? context.channel.allocator.buffer(capacity: 17)
                ack.writeInteger(UInt8(0))
                ack.writeInteger(UInt16(8))
                ack.writeInteger(Self.pingType)
                ack.writeInteger(Self.ackFlag)
                ack.writeInteger(UInt32(0))
                ack.writeImmutableBuffer(input.getSlice(at: index + Self.frameHeaderSize, length: 8)!)
                acks = ack
                segmentStart = index + total
            }
            index += total
        }
        if index > segmentStart {
            context.fireChannelRead(wrapInboundOut(input.getSlice(at: segmentStart, length: index - segmentStart)!))
        }
        if index < end { pending = input.getSlice(at: index, length: end - index) }
        if let acks { context.writeAndFlush(wrapOutboundOut(acks), promise: nil) }
    }
}
