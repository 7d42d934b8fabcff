import NIOCore
import Synchronization

/// A connection's raw bytes both ways, after an HTTP upgrade (`101 Switching Protocols`): what the
/// exec, attach and port-forward proxies and the stream-protocol translators read and write.
public protocol ByteStream: Sendable {
    /// The next bytes from the peer, or nil once the peer closed its side.
    func read() async throws -> [UInt8]?
    func write(_ bytes: [UInt8]) async throws
    /// Ends our sending side where the transport allows it (a peer reading sees the end), else closes.
    func closeWrite() async
    /// Closes the connection both ways; a pending `read` returns nil.
    func close() async
}

extension ByteStream {
    /// Copies everything `from` sends to `to` until `from` ends, then ends `to`'s sending side.
    public static func copy(from: any ByteStream, to: any ByteStream) async {
        do {
            while let bytes = try await from.read() { try await to.write(bytes) }
        } catch {}
        await to.closeWrite()
    }
}

/// Pipes two streams into each other until both directions ended (or one side failed), then closes both.
public func splice(_ a: any ByteStream, _ b: any ByteStream) async {
    await withTaskGroup(of: Void.self) { g in
        g.addTask {
            do {
                while let bytes = try await a.read() { try await b.write(bytes) }
                await b.closeWrite()
            } catch {
                await a.close()
                await b.close()
            }
        }
        g.addTask {
            do {
                while let bytes = try await b.read() { try await a.write(bytes) }
                await a.closeWrite()
            } catch {
                await a.close()
                await b.close()
            }
        }
    }
    await a.close()
    await b.close()
}

/// A NIO channel as a `ByteStream`. Reads stop (autoRead off) while more than `highWater` bytes wait
/// unread, so a slow reader holds the peer back instead of growing a buffer.
public final class ChannelByteStream: ByteStream, @unchecked Sendable {
    struct State {
        var buffered: [[UInt8]] = []
        var bufferedBytes = 0
        var ended = false
        var error: (any Error)?
        var waiter: CheckedContinuation<[UInt8]?, any Error>?
        var paused = false
    }

    public let channel: any Channel
    let state = Mutex(State())
    let highWater: Int
    let halfClosable: Bool

    /// Adds the reading handler at the end of `channel`'s pipeline (call on its event loop). Bytes
    /// in `leftover` are read first.
    public init(channel: any Channel, leftover: [UInt8] = [], halfClosable: Bool = false, highWater: Int = 1 << 20)
        throws
    {
        self.channel = channel
        self.highWater = highWater
        self.halfClosable = halfClosable
        if !leftover.isEmpty { state.withLock { $0.buffered = [leftover] } }
        try channel.pipeline.syncOperations.addHandler(ByteStreamHandler(self))
    }

    func deliver(_ bytes: [UInt8]) {
        let pause = state.withLock { s -> Bool in
            if let w = s.waiter, s.buffered.isEmpty {
                s.waiter = nil
                w.resume(returning: bytes)
                return false
            }
            s.buffered.append(bytes)
            s.bufferedBytes += bytes.count
            if s.bufferedBytes > highWater && !s.paused {
                s.paused = true
                return true
            }
            return false
        }
        if pause { channel.setOption(ChannelOptions.autoRead, value: false).whenComplete { _ in } }
    }

    /// Puts bytes back to be read first (what a head parser read past its end).
    public func unread(_ bytes: [UInt8]) {
        guard !bytes.isEmpty else { return }
        state.withLock { s in
            s.buffered.insert(bytes, at: 0)
            s.bufferedBytes += bytes.count
        }
    }

    func end(_ error: (any Error)?) {
        state.withLock { s in
            guard !s.ended else { return }
            s.ended = true
            s.error = error
            if let w = s.waiter {
                s.waiter = nil
                if let error { w.resume(throwing: error) } else { w.resume(returning: nil) }
            }
        }
    }

    public func read() async throws -> [UInt8]? {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<[UInt8]?, any Error>) in
            let resume = state.withLock { s -> Bool in
                if !s.buffered.isEmpty {
                    let b = s.buffered.removeFirst()
                    s.bufferedBytes -= b.count
                    c.resume(returning: b)
                    if s.paused && s.bufferedBytes <= highWater / 2 {
                        s.paused = false
                        return true
                    }
                    return false
                }
                if s.ended {
                    if let e = s.error { c.resume(throwing: e) } else { c.resume(returning: nil) }
                    return false
                }
                s.waiter = c
                return false
            }
            if resume {
                let channel = self.channel
                channel.setOption(ChannelOptions.autoRead, value: true).whenSuccess { channel.read() }
            }
        }
    }

    public func write(_ bytes: [UInt8]) async throws {
        guard !bytes.isEmpty else { return }
        try await channel.writeAndFlush(channel.allocator.buffer(bytes: bytes)).get()
    }

    public func closeWrite() async {
        if halfClosable {
            do {
                try await channel.close(mode: .output).get()
                return
            } catch {}
        }
        await close()
    }

    public func close() async {
        try? await channel.close().get()
        end(nil)
    }
}

final class ByteStreamHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    let stream: ChannelByteStream

    init(_ stream: ChannelByteStream) { self.stream = stream }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buf = unwrapInboundIn(data)
        stream.deliver(Array(buf.readableBytesView))
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let e = event as? ChannelEvent, case .inputClosed = e { stream.end(nil) }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        stream.end(nil)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        stream.end(error)
        context.close(promise: nil)
    }
}

/// Two `ByteStream`s joined in memory: what one writes the other reads (for tests of the
/// translators and proxies, and for in-process plumbing).
public final class BytePipe: Sendable {
    public let a: End
    public let b: End

    public init() {
        let ab = AsyncThrowingStream<[UInt8], any Error>.makeStream()
        let ba = AsyncThrowingStream<[UInt8], any Error>.makeStream()
        a = End(incoming: ba.stream, outgoing: ab.continuation, peerOutgoing: ba.continuation)
        b = End(incoming: ab.stream, outgoing: ba.continuation, peerOutgoing: ab.continuation)
    }

    public final class End: ByteStream, @unchecked Sendable {
        let outgoing: AsyncThrowingStream<[UInt8], any Error>.Continuation
        let peerOutgoing: AsyncThrowingStream<[UInt8], any Error>.Continuation
        let iterator: Mutex<AsyncThrowingStream<[UInt8], any Error>.AsyncIterator?>

        init(
            incoming: AsyncThrowingStream<[UInt8], any Error>,
            outgoing: AsyncThrowingStream<[UInt8], any Error>.Continuation,
            peerOutgoing: AsyncThrowingStream<[UInt8], any Error>.Continuation
        ) {
            self.outgoing = outgoing
            self.peerOutgoing = peerOutgoing
            iterator = Mutex(incoming.makeAsyncIterator())
        }

        public func read() async throws -> [UInt8]? {
            // One reader at a time, as with a socket.
            var it = iterator.withLock { i -> AsyncThrowingStream<[UInt8], any Error>.AsyncIterator? in
                defer { i = nil }
                return i
            }
            guard it != nil else { return nil }
            let next = try await it!.next()
            iterator.withLock { $0 = it }
            return next
        }

        public func write(_ bytes: [UInt8]) async throws {
            if case .terminated = outgoing.yield(bytes) { throw ByteStreamClosed() }
        }

        public func closeWrite() async { outgoing.finish() }

        public func close() async {
            outgoing.finish()
            peerOutgoing.finish()
        }
    }
}

public struct ByteStreamClosed: Error, CustomStringConvertible {
    public init() {}
    public var description: String { "the stream is closed" }
}
