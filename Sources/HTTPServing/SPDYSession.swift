import Synchronization

/// A SPDY/3.1 connection over a `ByteStream`, with the semantics Kubernetes' peers (moby/spdystream
/// under k8s.io/apimachinery's httpstream) give it: the client opens streams with odd ids and waits
/// for each SYN_REPLY before sending data, DATA with FIN half-closes, RST_STREAM ends a stream both
/// ways, PINGs from the peer are echoed, GOAWAY stops new streams.
///
/// No flow control: spdystream neither sends WINDOW_UPDATE nor honours windows, so a sender that
/// waited for window updates would stall after the initial 64 KiB. We ignore SETTINGS and
/// WINDOW_UPDATE and send neither; backpressure comes from a bounded buffer per stream, which stops
/// reading the connection while a stream's reader lags (as spdystream's unbuffered channels do).
public final class SPDYSession: Sendable {
    public enum Role: Sendable { case client, server }

    struct Outgoing: Sendable {
        let frame: SPDYFrame
        let done: CheckedContinuation<Void, any Error>?
    }

    struct State {
        var streams: [UInt32: SPDYStream] = [:]
        var nextStreamID: UInt32
        var lastPeerStreamID: UInt32 = 0
        var nextPingID: UInt32
        var pings: [UInt32: CheckedContinuation<Void, any Error>] = [:]
        var incoming: [SPDYStream] = []
        var incomingWaiter: CheckedContinuation<SPDYStream?, Never>?
        var goAwayReceived = false
        var goAwaySent = false
        var ended = false
        var endWaiters: [CheckedContinuation<Void, Never>] = []
    }

    public let transport: any ByteStream
    public let role: Role
    let state: Mutex<State>
    let outbox: AsyncStream<Outgoing>.Continuation
    let outgoing: Mutex<AsyncStream<Outgoing>?>
    let pingTask = Mutex<Task<Void, Never>?>(nil)
    /// Bytes a stream may hold unread before the connection's reading pauses for it.
    let streamHighWater: Int

    public init(transport: any ByteStream, role: Role, streamHighWater: Int = 1 << 20) {
        self.transport = transport
        self.role = role
        self.streamHighWater = streamHighWater
        state = Mutex(State(nextStreamID: role == .client ? 1 : 2, nextPingID: role == .client ? 1 : 2))
        let (stream, continuation) = AsyncStream<Outgoing>.makeStream()
        outbox = continuation
        outgoing = Mutex(stream)
    }

    /// Starts reading and writing the connection; `pingPeriod` sends a PING that often (as
    /// upstream's translator does towards the kubelet) to keep idle connections alive.
    public func start(pingPeriod: Duration? = nil) {
        guard
            let frames = outgoing.withLock({ o -> AsyncStream<Outgoing>? in
                defer { o = nil }
                return o
            })
        else { return }
        Task { [transport] in
            let encoder = SPDYFrameEncoder()
            var failure: (any Error)?
            for await o in frames {
                if let failure {
                    o.done?.resume(throwing: failure)
                    continue
                }
                do {
                    try await transport.write(encoder.encode(o.frame))
                    o.done?.resume()
                } catch {
                    failure = error
                    o.done?.resume(throwing: error)
                }
            }
        }
        Task { await self.readLoop() }
        if let pingPeriod {
            let pinger = Task {
                while !Task.isCancelled {
                    try? await Task.sleep(for: pingPeriod)
                    if Task.isCancelled || self.isEnded { return }
                    self.enqueue(.ping(id: self.takePingID()))
                }
            }
            pingTask.withLock { $0 = pinger }
        }
    }

    var isEnded: Bool { state.withLock { $0.ended } }

    /// Whether the peer sent GOAWAY.
    public var goAwayReceived: Bool { state.withLock { $0.goAwayReceived } }

    /// Queues a frame without waiting for it to be written.
    func enqueue(_ frame: SPDYFrame) {
        _ = outbox.yield(Outgoing(frame: frame, done: nil))
    }

    /// Queues a frame and waits until it was written.
    func send(_ frame: SPDYFrame) async throws {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
            if case .terminated = outbox.yield(Outgoing(frame: frame, done: c)) {
                c.resume(throwing: ByteStreamClosed())
            }
        }
    }

    func takePingID() -> UInt32 {
        state.withLock { s in
            defer { s.nextPingID = s.nextPingID > 0x7fff_fffd ? s.nextPingID - 0x7fff_fffc : s.nextPingID + 2 }
            return s.nextPingID
        }
    }

    /// Sends a PING and waits for its echo.
    public func ping() async throws {
        let id = takePingID()
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
            let ended = state.withLock { s -> Bool in
                if s.ended { return true }
                s.pings[id] = c
                return false
            }
            if ended { c.resume(throwing: ByteStreamClosed()) } else { enqueue(.ping(id: id)) }
        }
    }

    /// Opens a stream and waits for the peer's SYN_REPLY (upstream gives it 30 s). Throws
    /// `SPDYStreamError` if the peer resets the stream, the connection ends or the time runs out.
    public func openStream(
        headers: SPDYHeaders, fin: Bool = false, priority: UInt8 = 0, timeout: Duration = .seconds(30)
    ) async throws -> SPDYStream {
        // Ids must reach the wire in increasing order: take the id and queue the SYN_STREAM under
        // one lock (the queue is FIFO), then wait for the write outside it.
        var opened: SPDYStream?
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
            let refused = state.withLock { s -> SPDYStreamError? in
                if s.ended { return .connectionClosed }
                if s.goAwayReceived || s.goAwaySent || s.nextStreamID > 0x7fff_ffff { return .goneAway }
                let id = s.nextStreamID
                s.nextStreamID += 2
                let stream = SPDYStream(id: id, headers: headers, session: self, initiatedLocally: true)
                if fin { stream.state.withLock { $0.localFin = true } }
                s.streams[id] = stream
                opened = stream
                let syn = SPDYFrame.synStream(
                    streamID: id, associatedTo: 0, priority: priority, fin: fin, unidirectional: false,
                    headers: headers)
                if case .terminated = outbox.yield(Outgoing(frame: syn, done: c)) { return .connectionClosed }
                return nil
            }
            if let refused { c.resume(throwing: refused) }
        }
        guard let stream = opened else { throw SPDYStreamError.connectionClosed }
        try await stream.waitForReply(timeout: timeout)
        return stream
    }

    /// The next stream the peer opened, or nil once the connection ended. The caller replies with
    /// `SPDYStream.reply(headers:)`.
    public func acceptStream() async -> SPDYStream? {
        await withCheckedContinuation { (c: CheckedContinuation<SPDYStream?, Never>) in
            state.withLock { s in
                if !s.incoming.isEmpty {
                    c.resume(returning: s.incoming.removeFirst())
                } else if s.ended {
                    c.resume(returning: nil)
                } else {
                    s.incomingWaiter = c
                }
            }
        }
    }

    /// Sends GOAWAY: no new streams either way; open ones go on.
    public func goAway(status: UInt32 = 0) async {
        let last = state.withLock { s -> UInt32 in
            s.goAwaySent = true
            return s.lastPeerStreamID
        }
        try? await send(.goAway(lastGoodStreamID: last, status: status))
    }

    /// Ends the connection as upstream's `Close` does: resets every open stream, sends GOAWAY, then
    /// closes the transport. Every stream's reads end.
    public func close() async {
        let open = state.withLock { Array($0.streams.values) }
        for s in open { await s.reset() }
        if !isEnded { await goAway() }
        await shutdown()
    }

    /// Closes the transport at once and ends every stream.
    public func shutdown() async {
        await transport.close()
        connectionEnded()
        outbox.finish()
        pingTask.withLock { $0 }?.cancel()
    }

    /// Waits until the connection ended (the transport closed or failed).
    public func waitUntilEnded() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            state.withLock { s in
                if s.ended { c.resume() } else { s.endWaiters.append(c) }
            }
        }
    }

    func readLoop() async {
        let decoder = SPDYFrameDecoder()
        do {
            while let bytes = try await transport.read() {
                decoder.append(bytes)
                while let frame = try decoder.next() { await handle(frame) }
            }
        } catch is SPDYProtocolError {
            try? await send(.goAway(lastGoodStreamID: state.withLock { $0.lastPeerStreamID }, status: 1))
            await transport.close()
        } catch {}
        connectionEnded()
        outbox.finish()
    }

    func connectionEnded() {
        let (streams, waiter, pings, endWaiters) = state.withLock {
            s -> (
                [SPDYStream], CheckedContinuation<SPDYStream?, Never>?, [CheckedContinuation<Void, any Error>],
                [CheckedContinuation<Void, Never>]
            ) in
            if s.ended { return ([], nil, [], []) }
            s.ended = true
            defer {
                s.streams = [:]
                s.incomingWaiter = nil
                s.pings = [:]
                s.endWaiters = []
            }
            return (Array(s.streams.values), s.incomingWaiter, Array(s.pings.values), s.endWaiters)
        }
        pingTask.withLock { $0 }?.cancel()
        for s in streams { s.ended(.connectionClosed) }
        waiter?.resume(returning: nil)
        for p in pings { p.resume(throwing: ByteStreamClosed()) }
        for w in endWaiters { w.resume() }
    }

    func stream(_ id: UInt32) -> SPDYStream? { state.withLock { $0.streams[id] } }

    func remove(_ id: UInt32) { _ = state.withLock { $0.streams.removeValue(forKey: id) } }

    func handle(_ frame: SPDYFrame) async {
        switch frame {
        case .synStream(let id, _, _, let fin, let unidirectional, let headers):
            let peerParity: UInt32 = role == .client ? 0 : 1
            let accepted = state.withLock { s -> SPDYStream? in
                guard id % 2 == peerParity, id > s.lastPeerStreamID, !s.goAwaySent else { return nil }
                s.lastPeerStreamID = id
                let stream = SPDYStream(id: id, headers: headers, session: self, initiatedLocally: false)
                stream.state.withLock {
                    $0.remoteFin = fin
                    $0.localFin = unidirectional
                    if fin { $0.end = .finished }
                }
                s.streams[id] = stream
                if let w = s.incomingWaiter {
                    s.incomingWaiter = nil
                    w.resume(returning: stream)
                } else {
                    s.incoming.append(stream)
                }
                return stream
            }
            if accepted == nil { enqueue(.rstStream(streamID: id, status: SPDYFrame.Status.refusedStream)) }
        case .synReply(let id, let fin, let headers):
            guard let s = stream(id) else { return }
            s.gotReply(headers)
            if fin { s.remoteFinished() }
        case .headers(let id, let fin, _):
            if fin, let s = stream(id) { s.remoteFinished() }
        case .data(let id, let fin, let payload):
            guard let s = stream(id) else { return }
            if !payload.isEmpty { await s.deliver(payload, highWater: streamHighWater) }
            if fin { s.remoteFinished() }
        case .rstStream(let id, let status):
            guard let s = stream(id) else { return }
            remove(id)
            s.ended(.reset(status: status))
        case .ping(let id):
            let ours: UInt32 = role == .client ? 1 : 0
            if id % 2 != ours {
                enqueue(.ping(id: id))
            } else {
                state.withLock { $0.pings.removeValue(forKey: id) }?.resume()
            }
        case .goAway:
            state.withLock { $0.goAwayReceived = true }
        case .settings, .windowUpdate, .unknownControl:
            break
        }
    }
}

/// Why a stream ended for reading.
public enum SPDYStreamEnd: Sendable, Equatable {
    /// The peer sent FIN.
    case finished
    /// RST_STREAM, from the peer or from us.
    case reset(status: UInt32)
    /// The connection ended.
    case connectionClosed
}

public enum SPDYStreamError: Error, Equatable {
    case reset(status: UInt32)
    case connectionClosed
    case goneAway
    case replyTimeout
    case writeClosed
}

/// One SPDY stream: read the peer's data (nil after its FIN, a reset or the connection's end),
/// write ours, half-close with `closeWrite`.
public final class SPDYStream: Sendable {
    struct State {
        var replyHeaders: SPDYHeaders?
        var replyWaiter: CheckedContinuation<Void, any Error>?
        var replied = false
        var chunks: [[UInt8]] = []
        var bufferedBytes = 0
        var end: SPDYStreamEnd?
        var remoteFin = false
        var localFin = false
        var reset = false
        var readWaiter: CheckedContinuation<[UInt8]?, Never>?
        var spaceWaiter: CheckedContinuation<Void, Never>?
    }

    public let id: UInt32
    /// The headers of the SYN_STREAM that opened the stream.
    public let headers: SPDYHeaders
    public let initiatedLocally: Bool
    let session: SPDYSession
    let state = Mutex(State())

    /// The most a DATA frame we send carries.
    static let maxChunk = 32 << 10

    init(id: UInt32, headers: SPDYHeaders, session: SPDYSession, initiatedLocally: Bool) {
        self.id = id
        self.headers = headers
        self.session = session
        self.initiatedLocally = initiatedLocally
    }

    /// The peer's SYN_REPLY headers (streams we opened).
    public var replyHeaders: SPDYHeaders? { state.withLock { $0.replyHeaders } }

    /// How the reading side ended, once it has.
    public var endReason: SPDYStreamEnd? { state.withLock { $0.end } }

    func waitForReply(timeout: Duration) async throws {
        let timer = Task {
            try? await Task.sleep(for: timeout)
            guard !Task.isCancelled else { return }
            let w = self.state.withLock { s -> CheckedContinuation<Void, any Error>? in
                defer { s.replyWaiter = nil }
                return s.replyWaiter
            }
            w?.resume(throwing: SPDYStreamError.replyTimeout)
        }
        defer { timer.cancel() }
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
            state.withLock { s in
                if s.replyHeaders != nil {
                    c.resume()
                } else if case .reset(let status) = s.end {
                    c.resume(throwing: SPDYStreamError.reset(status: status))
                } else if s.end == .connectionClosed {
                    c.resume(throwing: SPDYStreamError.connectionClosed)
                } else {
                    s.replyWaiter = c
                }
            }
        }
    }

    func gotReply(_ headers: SPDYHeaders) {
        let w = state.withLock { s -> CheckedContinuation<Void, any Error>? in
            guard s.replyHeaders == nil else { return nil }
            s.replyHeaders = headers
            defer { s.replyWaiter = nil }
            return s.replyWaiter
        }
        w?.resume()
    }

    func deliver(_ payload: [UInt8], highWater: Int) async {
        let (reader, mustWait) = state.withLock { s -> (CheckedContinuation<[UInt8]?, Never>?, Bool) in
            guard !s.reset, s.end == nil else { return (nil, false) }
            if let r = s.readWaiter {
                s.readWaiter = nil
                return (r, false)
            }
            s.chunks.append(payload)
            s.bufferedBytes += payload.count
            return (nil, s.bufferedBytes > highWater)
        }
        if let reader {
            reader.resume(returning: payload)
            return
        }
        guard mustWait else { return }
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let resumeNow = state.withLock { s -> Bool in
                if s.bufferedBytes <= highWater || s.reset || s.end != nil { return true }
                s.spaceWaiter = c
                return false
            }
            if resumeNow { c.resume() }
        }
    }

    func remoteFinished() {
        let (reader, done) = state.withLock { s -> (CheckedContinuation<[UInt8]?, Never>?, Bool) in
            s.remoteFin = true
            if s.end == nil { s.end = .finished }
            defer { s.readWaiter = nil }
            return (s.chunks.isEmpty ? s.readWaiter : nil, s.localFin)
        }
        reader?.resume(returning: nil)
        if done { session.remove(id) }
    }

    /// Ends the stream for reading (reset or connection end): buffered data stays readable for a
    /// connection end and a peer's reset, as with spdystream, and waiters wake.
    func ended(_ why: SPDYStreamEnd) {
        let (reader, reply, space) = state.withLock {
            s -> (
                CheckedContinuation<[UInt8]?, Never>?, CheckedContinuation<Void, any Error>?,
                CheckedContinuation<Void, Never>?
            ) in
            if s.end == nil || s.end == .finished && why != .finished { s.end = why }
            if case .reset = why { s.reset = true }
            defer {
                s.readWaiter = nil
                s.replyWaiter = nil
                s.spaceWaiter = nil
            }
            return (s.chunks.isEmpty ? s.readWaiter : nil, s.replyWaiter, s.spaceWaiter)
        }
        reader?.resume(returning: nil)
        space?.resume()
        if case .reset(let status) = why {
            reply?.resume(throwing: SPDYStreamError.reset(status: status))
        } else {
            reply?.resume(throwing: SPDYStreamError.connectionClosed)
        }
    }

    /// The peer's next data, or nil once its side ended (FIN, reset, connection end).
    public func read() async -> [UInt8]? {
        await withCheckedContinuation { (c: CheckedContinuation<[UInt8]?, Never>) in
            let space = state.withLock { s -> CheckedContinuation<Void, Never>? in
                if !s.chunks.isEmpty {
                    let chunk = s.chunks.removeFirst()
                    s.bufferedBytes -= chunk.count
                    c.resume(returning: chunk)
                    if s.spaceWaiter != nil && s.bufferedBytes <= session.streamHighWater / 2 {
                        defer { s.spaceWaiter = nil }
                        return s.spaceWaiter
                    }
                    return nil
                }
                if s.end != nil {
                    c.resume(returning: nil)
                } else {
                    s.readWaiter = c
                }
                return nil
            }
            space?.resume()
        }
    }

    /// Answers a stream the peer opened (once; later calls do nothing).
    public func reply(headers: SPDYHeaders = [:], fin: Bool = false) async throws {
        let first = state.withLock { s -> Bool in
            defer { s.replied = true }
            return !s.replied && !initiatedLocally
        }
        guard first else { return }
        if fin { state.withLock { $0.localFin = true } }
        try await session.send(.synReply(streamID: id, fin: fin, headers: headers))
    }

    /// Sends data in DATA frames of at most 32 KiB.
    public func write(_ bytes: [UInt8]) async throws {
        if !initiatedLocally { try await reply() }
        var offset = 0
        repeat {
            let ok = state.withLock { !$0.localFin && !$0.reset && $0.end != .connectionClosed }
            guard ok else { throw SPDYStreamError.writeClosed }
            let end = min(bytes.count, offset + Self.maxChunk)
            try await session.send(.data(streamID: id, fin: false, payload: Array(bytes[offset..<end])))
            offset = end
        } while offset < bytes.count
    }

    /// Half-closes: an empty DATA frame with FIN. Later calls do nothing.
    public func closeWrite() async throws {
        if !initiatedLocally { try await reply() }
        let (first, done) = state.withLock { s -> (Bool, Bool) in
            guard !s.localFin, !s.reset else { return (false, false) }
            s.localFin = true
            return (true, s.remoteFin)
        }
        guard first else { return }
        try await session.send(.data(streamID: id, fin: true, payload: []))
        if done { session.remove(id) }
    }

    /// Sends RST_STREAM (CANCEL by default) and ends the stream both ways; buffered data is dropped.
    public func reset(status: UInt32 = SPDYFrame.Status.cancel) async {
        let first = state.withLock { s -> Bool in
            guard !s.reset, s.end != .connectionClosed, !(s.localFin && s.remoteFin) else { return false }
            s.chunks = []
            s.bufferedBytes = 0
            return true
        }
        session.remove(id)
        ended(.reset(status: status))
        guard first else { return }
        try? await session.send(.rstStream(streamID: id, status: status))
    }
}
