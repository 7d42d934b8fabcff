import Foundation
import NIOCore
import NIOPosix

/// The servers names outside the cluster zone go to (CoreDNS's `forward . /etc/resolv.conf`): each
/// tried in turn with the client's own query bytes, over the transport the client used.
public struct Upstream: Sendable {
    public let servers: [SocketAddress]
    public let timeout: TimeAmount

    public init(servers: [SocketAddress], timeout: TimeAmount = .seconds(2)) {
        self.servers = servers
        self.timeout = timeout
    }

    /// The `nameserver` lines of a resolv.conf, port 53, leaving out `exclude` (our own address,
    /// which would loop).
    public static func nameservers(resolvConf text: String, exclude: [String] = []) -> [String] {
        var out: [String] = []
        for line in text.split(separator: "\n") {
            let f = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard f.count >= 2, f[0] == "nameserver" else { continue }
            let ip = String(f[1])
            if DNSAddress(ip) != nil, !exclude.contains(ip), !out.contains(ip) { out.append(ip) }
        }
        return out
    }

    /// `ip` or `ip:port` or `[ip6]:port` as a socket address (port 53 when none is given).
    public static func address(_ s: String) -> SocketAddress? {
        var host = s
        var port = 53
        if s.hasPrefix("[") {
            guard let close = s.firstIndex(of: "]") else { return nil }
            host = String(s[s.index(after: s.startIndex)..<close])
            let rest = s[s.index(after: close)...]
            if rest.hasPrefix(":") { port = Int(rest.dropFirst()) ?? -1 }
        } else if s.filter({ $0 == ":" }).count == 1 {
            let parts = s.split(separator: ":")
            host = String(parts[0])
            port = parts.count > 1 ? Int(parts[1]) ?? -1 : 53
        }
        guard (1...65535).contains(port), DNSAddress(host) != nil else { return nil }
        return try? SocketAddress(ipAddress: host, port: port)
    }

    /// The first answer any server gives to `query`, nil when none answers in time.
    public func exchange(_ query: [UInt8], tcp: Bool, group: any EventLoopGroup) async -> [UInt8]? {
        guard query.count >= 2 else { return nil }
        for server in servers {
            do {
                let reply =
                    tcp
                    ? try await Self.exchangeTCP(query, server: server, timeout: timeout, group: group)
                    : try await Self.exchangeUDP(query, server: server, timeout: timeout, group: group)
                if reply.count >= 12, reply[0] == query[0], reply[1] == query[1] { return reply }
            } catch {
                continue
            }
        }
        return nil
    }

    static func exchangeUDP(_ query: [UInt8], server: SocketAddress, timeout: TimeAmount, group: any EventLoopGroup)
        async throws -> [UInt8]
    {
        let loop = group.next()
        let promise = loop.makePromise(of: [UInt8].self)
        let channel = try await DatagramBootstrap(group: loop)
            .channelInitializer { ch in
                ch.eventLoop.makeCompletedFuture {
                    try ch.pipeline.syncOperations.addHandler(
                        ReplyCatcher<AddressedEnvelope<ByteBuffer>>(promise) { Array($0.data.readableBytesView) })
                }
            }
            .bind(host: server.protocol == .inet6 ? "::" : "0.0.0.0", port: 0).get()
        let deadline = loop.scheduleTask(in: timeout) { promise.fail(ChannelError.connectTimeout(timeout)) }
        defer {
            deadline.cancel()
            channel.close(promise: nil)
        }
        let envelope = AddressedEnvelope(remoteAddress: server, data: channel.allocator.buffer(bytes: query))
        channel.writeAndFlush(envelope, promise: nil)
        return try await promise.futureResult.get()
    }

    static func exchangeTCP(_ query: [UInt8], server: SocketAddress, timeout: TimeAmount, group: any EventLoopGroup)
        async throws -> [UInt8]
    {
        let loop = group.next()
        let promise = loop.makePromise(of: [UInt8].self)
        let channel = try await ClientBootstrap(group: loop)
            .connectTimeout(timeout)
            .channelInitializer { ch in
                ch.eventLoop.makeCompletedFuture {
                    try ch.pipeline.syncOperations.addHandler(ByteToMessageHandler(TCPFrameDecoder()))
                    try ch.pipeline.syncOperations.addHandler(
                        ReplyCatcher<ByteBuffer>(promise) { Array($0.readableBytesView) })
                }
            }
            .connect(to: server).get()
        let deadline = loop.scheduleTask(in: timeout) { promise.fail(ChannelError.connectTimeout(timeout)) }
        defer {
            deadline.cancel()
            channel.close(promise: nil)
        }
        var buf = channel.allocator.buffer(capacity: query.count + 2)
        buf.writeInteger(UInt16(query.count))
        buf.writeBytes(query)
        channel.writeAndFlush(buf, promise: nil)
        return try await promise.futureResult.get()
    }
}

/// Completes a promise with the first message a channel reads (a datagram or a framed TCP message).
final class ReplyCatcher<In>: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = In
    let promise: EventLoopPromise<[UInt8]>
    let bytes: (In) -> [UInt8]

    init(_ promise: EventLoopPromise<[UInt8]>, bytes: @escaping (In) -> [UInt8]) {
        self.promise = promise
        self.bytes = bytes
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        promise.succeed(bytes(unwrapInboundIn(data)))
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) { promise.fail(error) }
}

/// Splits a TCP byte stream into DNS messages, each after its 2-byte length (RFC 1035 §4.2.2).
struct TCPFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let len = buffer.getInteger(at: buffer.readerIndex, as: UInt16.self),
            buffer.readableBytes >= 2 + Int(len)
        else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: 2)
        let frame = buffer.readSlice(length: Int(len))!
        context.fireChannelRead(wrapInboundOut(frame))
        return .continue
    }
}
