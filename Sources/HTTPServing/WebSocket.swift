import Crypto
import NIOHTTP1
import Synchronization

/// The RFC 6455 handshake, server side: deciding whether a request asks for a WebSocket, answering
/// its key, and choosing a subprotocol.
public enum WebSocketHandshake {
    /// The GUID RFC 6455 appends to the client's key before hashing.
    static let keyGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

    /// Whether the headers ask for a WebSocket upgrade (`Upgrade: websocket` and an `Upgrade` token
    /// in `Connection`). The version and key are checked by `accept`.
    public static func isUpgradeRequest(_ headers: HTTPHeaders) -> Bool {
        let upgrade = headers[canonicalForm: "upgrade"].contains { $0.lowercased() == "websocket" }
        let connection = headers[canonicalForm: "connection"].contains { $0.lowercased() == "upgrade" }
        return upgrade && connection
    }

    /// The subprotocols the client offered, in its order of preference (all `Sec-WebSocket-Protocol`
    /// headers, comma-separated values split and trimmed).
    public static func offeredProtocols(_ headers: HTTPHeaders) -> [String] {
        headers["sec-websocket-protocol"].flatMap { $0.split(separator: ",") }
            .map { $0.trimmingCharacters(in: " \t") }
            .filter { !$0.isEmpty }
    }

    /// `Sec-WebSocket-Accept` for a client's `Sec-WebSocket-Key`: base64(SHA-1(key + GUID)).
    public static func acceptValue(forKey key: String) -> String {
        let digest = Insecure.SHA1.hash(data: Array((key + keyGUID).utf8))
        return base64(Array(digest))
    }

    /// What to answer a WebSocket upgrade request.
    public enum Decision: Sendable {
        /// Answer 101 with these headers; `subprotocol` is the one chosen (nil when the client
        /// offered none we speak).
        case accept(headers: HTTPHeaders, subprotocol: String?)
        /// Refuse with this status; `headers` may name what we support (`Sec-WebSocket-Version`).
        case reject(status: HTTPResponseStatus, headers: HTTPHeaders, reason: String)
    }

    /// Checks a GET upgrade request (version 13, a 16-byte base64 key) and builds the 101's headers,
    /// choosing the first subprotocol in the client's order that is also in `supported`.
    public static func accept(
        method: HTTPMethod, headers: HTTPHeaders, supported protocols: [String]
    ) -> Decision {
        guard method == .GET else {
            return .reject(status: .methodNotAllowed, headers: [:], reason: "a WebSocket upgrade must be a GET")
        }
        guard isUpgradeRequest(headers) else {
            return .reject(status: .badRequest, headers: [:], reason: "not a WebSocket upgrade request")
        }
        guard headers["sec-websocket-version"].contains(where: { $0.trimmingCharacters(in: " ") == "13" }) else {
            return .reject(
                status: .upgradeRequired, headers: ["Sec-WebSocket-Version": "13"],
                reason: "unsupported WebSocket version")
        }
        guard let key = headers.first(name: "sec-websocket-key")?.trimmingCharacters(in: " \t"),
            decodeBase64(key)?.count == 16
        else {
            return .reject(status: .badRequest, headers: [:], reason: "missing or malformed Sec-WebSocket-Key")
        }
        let chosen = offeredProtocols(headers).first { protocols.contains($0) }
        var out: HTTPHeaders = [
            "Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Accept": acceptValue(forKey: key),
        ]
        if let chosen { out.add(name: "Sec-WebSocket-Protocol", value: chosen) }
        return .accept(headers: out, subprotocol: chosen)
    }

    /// A fresh random `Sec-WebSocket-Key` (for clients, tests).
    public static func makeKey() -> String {
        base64((0..<16).map { _ in UInt8.random(in: 0...255) })
    }

    static let base64Alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    static func base64(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var i = 0
        while i < bytes.count {
            let b0 = bytes[i]
            let b1 = i + 1 < bytes.count ? bytes[i + 1] : 0
            let b2 = i + 2 < bytes.count ? bytes[i + 2] : 0
            out.append(base64Alphabet[Int(b0 >> 2)])
            out.append(base64Alphabet[Int((b0 & 0x03) << 4 | b1 >> 4)])
            out.append(i + 1 < bytes.count ? base64Alphabet[Int((b1 & 0x0f) << 2 | b2 >> 6)] : UInt8(ascii: "="))
            out.append(i + 2 < bytes.count ? base64Alphabet[Int(b2 & 0x3f)] : UInt8(ascii: "="))
            i += 3
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func decodeBase64(_ text: String) -> [UInt8]? {
        var values: [UInt8] = []
        var padding = 0
        for c in text.utf8 {
            if c == UInt8(ascii: "=") {
                padding += 1
                continue
            }
            guard padding == 0, let v = base64Alphabet.firstIndex(of: c) else { return nil }
            values.append(UInt8(v))
        }
        guard (values.count + padding) % 4 == 0, padding <= 2 else { return nil }
        var out: [UInt8] = []
        var i = 0
        while i + 1 < values.count {
            out.append(values[i] << 2 | values[i + 1] >> 4)
            if i + 2 < values.count { out.append(values[i + 1] << 4 | values[i + 2] >> 2) }
            if i + 3 < values.count { out.append(values[i + 2] << 6 | values[i + 3]) }
            i += 4
        }
        return out
    }
}

/// An RFC 6455 frame opcode.
public enum WebSocketOpcode: UInt8, Sendable {
    case continuation = 0x0
    case text = 0x1
    case binary = 0x2
    case close = 0x8
    case ping = 0x9
    case pong = 0xA

    var isControl: Bool { rawValue & 0x8 != 0 }
}

/// One WebSocket frame, payload unmasked.
public struct WebSocketFrame: Sendable, Equatable {
    public var fin: Bool
    public var opcode: WebSocketOpcode
    public var payload: [UInt8]
    /// Whether the frame arrived masked (decoding) — set by the decoder, ignored by the encoder.
    public var masked: Bool

    public init(fin: Bool = true, opcode: WebSocketOpcode, payload: [UInt8], masked: Bool = false) {
        self.fin = fin
        self.opcode = opcode
        self.payload = payload
        self.masked = masked
    }

    /// The frame's bytes; a client passes a masking key (RFC 6455 requires one on every client
    /// frame), a server passes nil.
    public func encoded(maskingKey: (UInt8, UInt8, UInt8, UInt8)? = nil) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(payload.count + 14)
        out.append((fin ? 0x80 : 0) | opcode.rawValue)
        let maskBit: UInt8 = maskingKey == nil ? 0 : 0x80
        if payload.count < 126 {
            out.append(maskBit | UInt8(payload.count))
        } else if payload.count <= 0xFFFF {
            out.append(maskBit | 126)
            out.append(UInt8(payload.count >> 8))
            out.append(UInt8(payload.count & 0xff))
        } else {
            out.append(maskBit | 127)
            for shift in stride(from: 56, through: 0, by: -8) {
                out.append(UInt8((UInt64(payload.count) >> UInt64(shift)) & 0xff))
            }
        }
        if let k = maskingKey {
            let key = [k.0, k.1, k.2, k.3]
            out += key
            for (i, b) in payload.enumerated() { out.append(b ^ key[i & 3]) }
        } else {
            out += payload
        }
        return out
    }
}

/// Why a peer's bytes are not a valid WebSocket conversation; carries the close code to answer with.
public struct WebSocketProtocolError: Error, CustomStringConvertible {
    public var closeCode: UInt16
    public var description: String
    public init(_ description: String, closeCode: UInt16 = WebSocketCloseCode.protocolError) {
        self.description = description
        self.closeCode = closeCode
    }
}

/// Close status codes (RFC 6455 section 7.4.1).
public enum WebSocketCloseCode {
    public static let normal: UInt16 = 1000
    public static let goingAway: UInt16 = 1001
    public static let protocolError: UInt16 = 1002
    public static let unsupportedData: UInt16 = 1003
    public static let invalidPayload: UInt16 = 1007
    public static let policyViolation: UInt16 = 1008
    public static let messageTooBig: UInt16 = 1009
    public static let internalError: UInt16 = 1011
}

/// Parses frames out of bytes as they arrive.
public struct WebSocketFrameDecoder: Sendable {
    var buffer: [UInt8] = []
    var start = 0
    /// Frames whose payload is larger are refused (close 1009).
    public var maxFramePayload: Int

    public init(maxFramePayload: Int = 16 << 20) { self.maxFramePayload = maxFramePayload }

    public mutating func append(_ bytes: [UInt8]) {
        if start > 0 && start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            start = 0
        } else if start > 65536 && start * 2 > buffer.count {
            buffer.removeFirst(start)
            start = 0
        }
        buffer += bytes
    }

    /// The next whole frame, or nil until more bytes arrive.
    public mutating func next() throws -> WebSocketFrame? {
        let available = buffer.count - start
        guard available >= 2 else { return nil }
        let b0 = buffer[start]
        let b1 = buffer[start + 1]
        guard b0 & 0x70 == 0 else { throw WebSocketProtocolError("reserved bits set without an extension") }
        guard let opcode = WebSocketOpcode(rawValue: b0 & 0x0f) else {
            throw WebSocketProtocolError("unknown opcode \(b0 & 0x0f)")
        }
        let fin = b0 & 0x80 != 0
        let masked = b1 & 0x80 != 0
        var length = UInt64(b1 & 0x7f)
        var offset = 2
        if length == 126 {
            guard available >= 4 else { return nil }
            length = UInt64(buffer[start + 2]) << 8 | UInt64(buffer[start + 3])
            offset = 4
        } else if length == 127 {
            guard available >= 10 else { return nil }
            length = 0
            for i in 0..<8 { length = length << 8 | UInt64(buffer[start + 2 + i]) }
            guard length >> 63 == 0 else { throw WebSocketProtocolError("frame length has its top bit set") }
            offset = 10
        }
        if opcode.isControl {
            guard fin else { throw WebSocketProtocolError("fragmented control frame") }
            guard length <= 125 else { throw WebSocketProtocolError("control frame longer than 125 bytes") }
        }
        guard length <= UInt64(maxFramePayload) else {
            throw WebSocketProtocolError(
                "frame of \(length) bytes is too large", closeCode: WebSocketCloseCode.messageTooBig)
        }
        let maskOffset = offset
        if masked { offset += 4 }
        guard available >= offset + Int(length) else { return nil }
        let payloadStart = start + offset
        var payload = Array(buffer[payloadStart..<(payloadStart + Int(length))])
        if masked {
            let key = (
                buffer[start + maskOffset], buffer[start + maskOffset + 1], buffer[start + maskOffset + 2],
                buffer[start + maskOffset + 3]
            )
            payload.withUnsafeMutableBufferPointer { p in
                for i in p.indices {
                    switch i & 3 {
                    case 0: p[i] ^= key.0
                    case 1: p[i] ^= key.1
                    case 2: p[i] ^= key.2
                    default: p[i] ^= key.3
                    }
                }
            }
        }
        start = payloadStart + Int(length)
        return WebSocketFrame(fin: fin, opcode: opcode, payload: payload, masked: masked)
    }
}

/// A whole WebSocket message (fragments joined).
public enum WebSocketMessage: Sendable, Equatable {
    case text([UInt8])
    case binary([UInt8])
}

/// A WebSocket conversation over a `ByteStream` after the handshake: reads whole messages (joining
/// fragments, answering pings, answering a close), writes frames. The server role requires masked
/// frames from the peer and sends unmasked ones; the client role the reverse.
///
/// One task reads at a time; any task may send (each frame is a single write, so frames never
/// interleave).
public final class WebSocketConnection: Sendable {
    public enum Role: Sendable { case server, client }

    struct State {
        var closeSent = false
        var closeReceived = false
        /// The code of the peer's close frame (1005 when it carried none).
        var peerCloseCode: UInt16?
    }

    struct ReadState {
        var decoder: WebSocketFrameDecoder
        var fragments: [UInt8] = []
        var fragmentOpcode: WebSocketOpcode?
        var ended = false
    }

    public let stream: any ByteStream
    public let role: Role
    let maxMessage: Int
    let state = Mutex(State())
    let reading: Mutex<ReadState>

    /// `maxMessage` bounds a message (all its fragments): a bigger one closes with 1009.
    public init(stream: any ByteStream, role: Role, maxMessage: Int = 32 << 20) {
        self.stream = stream
        self.role = role
        self.maxMessage = maxMessage
        reading = Mutex(ReadState(decoder: WebSocketFrameDecoder(maxFramePayload: maxMessage)))
    }

    /// The code the peer closed with, once its close frame arrived.
    public var peerCloseCode: UInt16? { state.withLock { $0.peerCloseCode } }

    /// The next data message, or nil once the conversation ended: the peer sent a close (answered
    /// here with a close carrying its code, unless we sent ours first) or the transport ended.
    /// A protocol violation by the peer is answered with a close frame carrying its code, then throws.
    public func receive() async throws -> WebSocketMessage? {
        while true {
            if reading.withLock({ $0.ended }) { return nil }
            let frame: WebSocketFrame?
            do {
                frame = try reading.withLock { try $0.decoder.next() }
            } catch let e as WebSocketProtocolError {
                await failConnection(e)
                throw e
            }
            guard let frame else {
                guard let more = try await stream.read() else {
                    reading.withLock { $0.ended = true }
                    return nil
                }
                reading.withLock { $0.decoder.append(more) }
                continue
            }
            let wantMasked = role == .server
            if frame.masked != wantMasked {
                let e = WebSocketProtocolError(wantMasked ? "client frame not masked" : "server frame masked")
                await failConnection(e)
                throw e
            }
            switch frame.opcode {
            case .ping:
                // A pong after our close is not allowed; the close wins.
                if !state.withLock({ $0.closeSent }) {
                    try? await sendFrame(WebSocketFrame(opcode: .pong, payload: frame.payload))
                }
            case .pong:
                continue
            case .close:
                let code: UInt16 =
                    frame.payload.count >= 2 ? UInt16(frame.payload[0]) << 8 | UInt16(frame.payload[1]) : 1005
                let replied = state.withLock { s -> Bool in
                    s.closeReceived = true
                    s.peerCloseCode = code
                    return s.closeSent
                }
                if !replied {
                    // Echo the peer's code (RFC 6455 5.5.1); a close without a code gets none.
                    try? await sendClose(code: frame.payload.count >= 2 ? code : nil)
                }
                reading.withLock { $0.ended = true }
                return nil
            case .continuation:
                let message = try await appendFragment(frame, opcode: nil)
                if let message { return message }
            case .text, .binary:
                let message = try await appendFragment(frame, opcode: frame.opcode)
                if let message { return message }
            }
        }
    }

    /// Adds a data frame to the message being assembled; returns the message when `frame` ends it.
    func appendFragment(_ frame: WebSocketFrame, opcode: WebSocketOpcode?) async throws -> WebSocketMessage? {
        let result: Result<WebSocketMessage?, WebSocketProtocolError> = reading.withLock { r in
            if let opcode {
                guard r.fragmentOpcode == nil else {
                    return .failure(WebSocketProtocolError("new message before the previous one ended"))
                }
                if frame.fin { return .success(Self.message(opcode, frame.payload)) }
                r.fragmentOpcode = opcode
                r.fragments = frame.payload
                return .success(nil)
            }
            guard let started = r.fragmentOpcode else {
                return .failure(WebSocketProtocolError("continuation frame without a message"))
            }
            guard r.fragments.count + frame.payload.count <= maxMessage else {
                return .failure(
                    WebSocketProtocolError("message too large", closeCode: WebSocketCloseCode.messageTooBig))
            }
            r.fragments += frame.payload
            guard frame.fin else { return .success(nil) }
            let message = Self.message(started, r.fragments)
            r.fragments = []
            r.fragmentOpcode = nil
            return .success(message)
        }
        switch result {
        case .success(let m): return m
        case .failure(let e):
            await failConnection(e)
            throw e
        }
    }

    static func message(_ opcode: WebSocketOpcode, _ payload: [UInt8]) -> WebSocketMessage {
        opcode == .text ? .text(payload) : .binary(payload)
    }

    func failConnection(_ error: WebSocketProtocolError) async {
        try? await sendClose(code: error.closeCode)
        reading.withLock { $0.ended = true }
        await stream.close()
    }

    /// Sends one frame, masked when we are the client.
    public func sendFrame(_ frame: WebSocketFrame) async throws {
        let key: (UInt8, UInt8, UInt8, UInt8)? =
            role == .client
            ? (.random(in: 0...255), .random(in: 0...255), .random(in: 0...255), .random(in: 0...255)) : nil
        try await stream.write(frame.encoded(maskingKey: key))
    }

    /// Sends a binary message in one frame.
    public func send(binary payload: [UInt8]) async throws {
        guard !state.withLock({ $0.closeSent }) else { throw ByteStreamClosed() }
        try await sendFrame(WebSocketFrame(opcode: .binary, payload: payload))
    }

    /// Sends a text message in one frame.
    public func send(text: String) async throws {
        guard !state.withLock({ $0.closeSent }) else { throw ByteStreamClosed() }
        try await sendFrame(WebSocketFrame(opcode: .text, payload: Array(text.utf8)))
    }

    public func ping(_ payload: [UInt8] = []) async throws {
        try await sendFrame(WebSocketFrame(opcode: .ping, payload: payload))
    }

    /// Sends our close frame once (later calls do nothing); `code` nil sends an empty close.
    public func sendClose(code: UInt16? = WebSocketCloseCode.normal, reason: String = "") async throws {
        let first = state.withLock { s -> Bool in
            defer { s.closeSent = true }
            return !s.closeSent
        }
        guard first else { return }
        var payload: [UInt8] = []
        if let code {
            payload = [UInt8(code >> 8), UInt8(code & 0xff)] + Array(reason.utf8.prefix(123))
        }
        try await sendFrame(WebSocketFrame(opcode: .close, payload: payload))
    }

    /// Whether we sent our close frame.
    public var closeSent: Bool { state.withLock { $0.closeSent } }
}

extension String {
    fileprivate func trimmingCharacters(in set: String) -> String {
        var s = Substring(self)
        while let f = s.first, set.contains(f) { s.removeFirst() }
        while let l = s.last, set.contains(l) { s.removeLast() }
        return String(s)
    }
}

extension Substring {
    fileprivate func trimmingCharacters(in set: String) -> String { String(self).trimmingCharacters(in: set) }
}
