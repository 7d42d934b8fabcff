import CZlib

/// SPDY/3 (and 3.1) framing as Kubernetes streams use it over an upgraded connection: exec, attach
/// and port-forward between kubectl, the API server, the kubelet and the runtime's streaming server.

/// A name/value header block. Names travel lowercased; a name with several values travels once, its
/// values joined by NUL.
public struct SPDYHeaders: Sendable, Equatable, ExpressibleByDictionaryLiteral {
    public private(set) var pairs: [(name: String, value: String)]

    public init(_ pairs: [(name: String, value: String)] = []) {
        self.pairs = []
        for (n, v) in pairs { add(n, v) }
    }

    public init(dictionaryLiteral elements: (String, String)...) {
        self.init(elements.map { (name: $0.0, value: $0.1) })
    }

    /// Adds a value (joined to an existing one of the same name with NUL).
    public mutating func add(_ name: String, _ value: String) {
        let n = name.lowercased()
        if let i = pairs.firstIndex(where: { $0.name == n }) {
            pairs[i].value += "\u{0}" + value
        } else {
            pairs.append((name: n, value: value))
        }
    }

    /// The first value of `name` (case-insensitive).
    public subscript(name: String) -> String? {
        values(name).first
    }

    /// Every value of `name`.
    public func values(_ name: String) -> [String] {
        let n = name.lowercased()
        guard let v = pairs.first(where: { $0.name == n })?.value else { return [] }
        return v.split(separator: "\u{0}", omittingEmptySubsequences: false).map(String.init)
    }

    public static func == (a: SPDYHeaders, b: SPDYHeaders) -> Bool {
        a.pairs.count == b.pairs.count
            && zip(a.pairs, b.pairs).allSatisfy { $0.name == $1.name && $0.value == $1.value }
    }

    /// The uncompressed block: count, then each name and value with 32-bit lengths.
    func serialized() -> [UInt8] {
        var out: [UInt8] = []
        out.appendUInt32(UInt32(pairs.count))
        for (n, v) in pairs {
            out.appendUInt32(UInt32(n.utf8.count))
            out += n.utf8
            out.appendUInt32(UInt32(v.utf8.count))
            out += v.utf8
        }
        return out
    }

    static func parse(_ block: [UInt8]) throws -> SPDYHeaders {
        var r = ByteReader(block)
        let count = try r.uint32()
        var headers = SPDYHeaders()
        guard count <= UInt32(block.count / 8) else { throw SPDYProtocolError("header block claims \(count) pairs") }
        for _ in 0..<count {
            let name = try r.bytes(Int(try r.uint32()))
            let value = try r.bytes(Int(try r.uint32()))
            guard !name.isEmpty else { throw SPDYProtocolError("empty header name") }
            let n = String(decoding: name, as: UTF8.self)
            guard !headers.pairs.contains(where: { $0.name == n.lowercased() }) else {
                throw SPDYProtocolError("header \(n) repeated")
            }
            headers.pairs.append((name: n.lowercased(), value: String(decoding: value, as: UTF8.self)))
        }
        guard r.remaining == 0 else { throw SPDYProtocolError("bytes after the header block") }
        return headers
    }
}

/// One SPDY/3 frame.
public enum SPDYFrame: Sendable, Equatable {
    case synStream(
        streamID: UInt32, associatedTo: UInt32, priority: UInt8, fin: Bool, unidirectional: Bool,
        headers: SPDYHeaders)
    case synReply(streamID: UInt32, fin: Bool, headers: SPDYHeaders)
    case rstStream(streamID: UInt32, status: UInt32)
    case settings(clearPersisted: Bool, entries: [SPDYSetting])
    case ping(id: UInt32)
    case goAway(lastGoodStreamID: UInt32, status: UInt32)
    case headers(streamID: UInt32, fin: Bool, headers: SPDYHeaders)
    case windowUpdate(streamID: UInt32, delta: UInt32)
    case data(streamID: UInt32, fin: Bool, payload: [UInt8])
    /// A control frame of a type we do not know (the spec says to ignore it).
    case unknownControl(type: UInt16, flags: UInt8, payload: [UInt8])

    /// RST_STREAM status codes.
    public enum Status {
        public static let protocolError: UInt32 = 1
        public static let invalidStream: UInt32 = 2
        public static let refusedStream: UInt32 = 3
        public static let unsupportedVersion: UInt32 = 4
        public static let cancel: UInt32 = 5
        public static let internalError: UInt32 = 6
        public static let flowControlError: UInt32 = 7
        public static let streamInUse: UInt32 = 8
        public static let streamAlreadyClosed: UInt32 = 9
        public static let frameTooLarge: UInt32 = 11
    }

    static let typeSynStream: UInt16 = 1
    static let typeSynReply: UInt16 = 2
    static let typeRstStream: UInt16 = 3
    static let typeSettings: UInt16 = 4
    static let typePing: UInt16 = 6
    static let typeGoAway: UInt16 = 7
    static let typeHeaders: UInt16 = 8
    static let typeWindowUpdate: UInt16 = 9
    static let flagFin: UInt8 = 0x01
    static let flagUnidirectional: UInt8 = 0x02
    /// The largest frame payload the 24-bit length allows.
    public static let maxPayload = (1 << 24) - 1
}

public struct SPDYSetting: Sendable, Equatable {
    public var flags: UInt8
    public var id: UInt32
    public var value: UInt32
    public init(flags: UInt8 = 0, id: UInt32, value: UInt32) {
        self.flags = flags
        self.id = id
        self.value = value
    }
    public static let initialWindowSize: UInt32 = 7
}

public struct SPDYProtocolError: Error, CustomStringConvertible {
    public var description: String
    public init(_ d: String) { description = "SPDY: " + d }
}

/// The zlib dictionary SPDY/3 primes both header compressors with (spec section 2.6.10.1): common
/// header names, each preceded by its 32-bit length, then a run of common values.
public enum SPDYDictionary {
    static let words = [
        "options", "head", "post", "put", "delete", "trace", "accept", "accept-charset", "accept-encoding",
        "accept-language", "accept-ranges", "age", "allow", "authorization", "cache-control", "connection",
        "content-base", "content-encoding", "content-language", "content-length", "content-location",
        "content-md5", "content-range", "content-type", "date", "etag", "expect", "expires", "from", "host",
        "if-match", "if-modified-since", "if-none-match", "if-range", "if-unmodified-since", "last-modified",
        "location", "max-forwards", "pragma", "proxy-authenticate", "proxy-authorization", "range", "referer",
        "retry-after", "server", "te", "trailer", "transfer-encoding", "upgrade", "user-agent", "vary", "via",
        "warning", "www-authenticate", "method", "get", "status", "200 OK", "version", "HTTP/1.1", "url",
        "public", "set-cookie", "keep-alive", "origin",
    ]
    static let tail =
        "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
        + "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request"
        + "401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented"
        + "503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 "
        + "Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,"
        + "application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age="
        + "gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0."

    /// The dictionary's bytes (1423 of them).
    public static let bytes: [UInt8] = {
        var out: [UInt8] = []
        for w in words {
            out.appendUInt32(UInt32(w.utf8.count))
            out += w.utf8
        }
        return out + Array(tail.utf8)
    }()
}

/// One direction's header compression: a single deflate stream for the connection's life, primed
/// with the SPDY dictionary, each block ended with a sync flush so the peer can decode it at once.
final class SPDYHeaderCompressor {
    let stream: UnsafeMutablePointer<z_stream>

    init() {
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        var rc = deflateInit_(stream, Z_DEFAULT_COMPRESSION, zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        precondition(rc == Z_OK, "deflateInit failed: \(rc)")
        rc = SPDYDictionary.bytes.withUnsafeBufferPointer {
            deflateSetDictionary(stream, $0.baseAddress, UInt32($0.count))
        }
        precondition(rc == Z_OK, "deflateSetDictionary failed: \(rc)")
    }

    deinit {
        deflateEnd(stream)
        stream.deinitialize(count: 1)
        stream.deallocate()
    }

    func compress(_ input: [UInt8]) -> [UInt8] {
        var input = input
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        input.withUnsafeMutableBufferPointer { inp in
            stream.pointee.next_in = inp.baseAddress
            stream.pointee.avail_in = UInt32(inp.count)
            repeat {
                let produced = chunk.withUnsafeMutableBufferPointer { c -> Int in
                    stream.pointee.next_out = c.baseAddress
                    stream.pointee.avail_out = UInt32(c.count)
                    let rc = deflate(stream, Z_SYNC_FLUSH)
                    precondition(rc == Z_OK || rc == Z_BUF_ERROR, "deflate failed: \(rc)")
                    return c.count - Int(stream.pointee.avail_out)
                }
                out += chunk[0..<produced]
            } while stream.pointee.avail_out == 0
            stream.pointee.next_in = nil
        }
        return out
    }
}

/// The reading direction's header decompression (one inflate stream for the connection).
final class SPDYHeaderDecompressor {
    let stream: UnsafeMutablePointer<z_stream>
    /// A block that inflates to more is refused: a guard against compression bombs.
    let maxBlock: Int

    init(maxBlock: Int = 1 << 20) {
        self.maxBlock = maxBlock
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        let rc = inflateInit_(stream, zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        precondition(rc == Z_OK, "inflateInit failed: \(rc)")
    }

    deinit {
        inflateEnd(stream)
        stream.deinitialize(count: 1)
        stream.deallocate()
    }

    func decompress(_ input: [UInt8]) throws -> [UInt8] {
        var input = input
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        try input.withUnsafeMutableBufferPointer { inp in
            stream.pointee.next_in = inp.baseAddress
            stream.pointee.avail_in = UInt32(inp.count)
            defer { stream.pointee.next_in = nil }
            while true {
                var rc: Int32 = Z_OK
                let produced = chunk.withUnsafeMutableBufferPointer { c -> Int in
                    stream.pointee.next_out = c.baseAddress
                    stream.pointee.avail_out = UInt32(c.count)
                    rc = inflate(stream, Z_SYNC_FLUSH)
                    return c.count - Int(stream.pointee.avail_out)
                }
                out += chunk[0..<produced]
                if rc == Z_NEED_DICT {
                    let set = SPDYDictionary.bytes.withUnsafeBufferPointer {
                        inflateSetDictionary(stream, $0.baseAddress, UInt32($0.count))
                    }
                    guard set == Z_OK else { throw SPDYProtocolError("header dictionary rejected (\(set))") }
                    continue
                }
                guard rc == Z_OK || rc == Z_BUF_ERROR || rc == Z_STREAM_END else {
                    throw SPDYProtocolError("header block does not inflate (\(rc))")
                }
                guard out.count <= maxBlock else { throw SPDYProtocolError("header block too large") }
                if stream.pointee.avail_in == 0 && stream.pointee.avail_out != 0 { break }
                if rc == Z_STREAM_END || (rc == Z_BUF_ERROR && produced == 0) { break }
            }
            guard stream.pointee.avail_in == 0 else { throw SPDYProtocolError("header block has trailing bytes") }
        }
        return out
    }
}

/// Turns frames into bytes, compressing header blocks with this direction's shared deflate stream:
/// frames must be written in the order they were encoded.
final class SPDYFrameEncoder {
    let compressor = SPDYHeaderCompressor()

    func encode(_ frame: SPDYFrame) -> [UInt8] {
        switch frame {
        case .synStream(let id, let assoc, let priority, let fin, let uni, let headers):
            var body: [UInt8] = []
            body.appendUInt32(id & 0x7fff_ffff)
            body.appendUInt32(assoc & 0x7fff_ffff)
            body.append((priority & 0x7) << 5)
            body.append(0)  // credential slot
            body += compressor.compress(headers.serialized())
            let flags = (fin ? SPDYFrame.flagFin : 0) | (uni ? SPDYFrame.flagUnidirectional : 0)
            return Self.control(SPDYFrame.typeSynStream, flags: flags, body)
        case .synReply(let id, let fin, let headers):
            var body: [UInt8] = []
            body.appendUInt32(id & 0x7fff_ffff)
            body += compressor.compress(headers.serialized())
            return Self.control(SPDYFrame.typeSynReply, flags: fin ? SPDYFrame.flagFin : 0, body)
        case .headers(let id, let fin, let headers):
            var body: [UInt8] = []
            body.appendUInt32(id & 0x7fff_ffff)
            body += compressor.compress(headers.serialized())
            return Self.control(SPDYFrame.typeHeaders, flags: fin ? SPDYFrame.flagFin : 0, body)
        case .rstStream(let id, let status):
            var body: [UInt8] = []
            body.appendUInt32(id & 0x7fff_ffff)
            body.appendUInt32(status)
            return Self.control(SPDYFrame.typeRstStream, flags: 0, body)
        case .settings(let clear, let entries):
            var body: [UInt8] = []
            body.appendUInt32(UInt32(entries.count))
            for e in entries {
                body.appendUInt32(UInt32(e.flags) << 24 | (e.id & 0xff_ffff))
                body.appendUInt32(e.value)
            }
            return Self.control(SPDYFrame.typeSettings, flags: clear ? 1 : 0, body)
        case .ping(let id):
            var body: [UInt8] = []
            body.appendUInt32(id)
            return Self.control(SPDYFrame.typePing, flags: 0, body)
        case .goAway(let last, let status):
            var body: [UInt8] = []
            body.appendUInt32(last & 0x7fff_ffff)
            body.appendUInt32(status)
            return Self.control(SPDYFrame.typeGoAway, flags: 0, body)
        case .windowUpdate(let id, let delta):
            var body: [UInt8] = []
            body.appendUInt32(id & 0x7fff_ffff)
            body.appendUInt32(delta & 0x7fff_ffff)
            return Self.control(SPDYFrame.typeWindowUpdate, flags: 0, body)
        case .unknownControl(let type, let flags, let payload):
            return Self.control(type, flags: flags, payload)
        case .data(let id, let fin, let payload):
            precondition(payload.count <= SPDYFrame.maxPayload, "DATA frame too large")
            var out: [UInt8] = []
            out.reserveCapacity(8 + payload.count)
            out.appendUInt32(id & 0x7fff_ffff)
            out.appendUInt32(UInt32(fin ? SPDYFrame.flagFin : 0) << 24 | UInt32(payload.count))
            out += payload
            return out
        }
    }

    static func control(_ type: UInt16, flags: UInt8, _ body: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(8 + body.count)
        out.append(0x80)  // control bit, version 3
        out.append(3)
        out.append(UInt8(type >> 8))
        out.append(UInt8(type & 0xff))
        out.appendUInt32(UInt32(flags) << 24 | UInt32(body.count))
        out += body
        return out
    }
}

/// Parses frames out of bytes as they arrive, inflating header blocks with this direction's
/// shared inflate stream.
final class SPDYFrameDecoder {
    let decompressor = SPDYHeaderDecompressor()
    var buffer: [UInt8] = []
    var start = 0
    let maxFrame: Int

    init(maxFrame: Int = SPDYFrame.maxPayload) { self.maxFrame = maxFrame }

    func append(_ bytes: [UInt8]) {
        if start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            start = 0
        } else if start > 65536 && start * 2 > buffer.count {
            buffer.removeFirst(start)
            start = 0
        }
        buffer += bytes
    }

    /// The next whole frame, or nil until more bytes arrive.
    func next() throws -> SPDYFrame? {
        guard buffer.count - start >= 8 else { return nil }
        let w0 = buffer.uint32(at: start)
        let w1 = buffer.uint32(at: start + 4)
        let flags = UInt8(w1 >> 24)
        let length = Int(w1 & 0xff_ffff)
        guard length <= maxFrame else { throw SPDYProtocolError("frame of \(length) bytes is too large") }
        guard buffer.count - start >= 8 + length else { return nil }
        let body = Array(buffer[(start + 8)..<(start + 8 + length)])
        start += 8 + length
        if w0 & 0x8000_0000 == 0 {
            let id = w0 & 0x7fff_ffff
            guard id != 0 else { throw SPDYProtocolError("DATA frame on stream 0") }
            return .data(streamID: id, fin: flags & SPDYFrame.flagFin != 0, payload: body)
        }
        let version = UInt16((w0 >> 16) & 0x7fff)
        guard version == 3 else { throw SPDYProtocolError("unsupported version \(version)") }
        let type = UInt16(w0 & 0xffff)
        var r = ByteReader(body)
        let fin = flags & SPDYFrame.flagFin != 0
        switch type {
        case SPDYFrame.typeSynStream:
            let id = try r.uint32() & 0x7fff_ffff
            let assoc = try r.uint32() & 0x7fff_ffff
            let priority = try r.byte() >> 5
            _ = try r.byte()
            guard id != 0 else { throw SPDYProtocolError("SYN_STREAM for stream 0") }
            let headers = try SPDYHeaders.parse(decompressor.decompress(r.rest()))
            return .synStream(
                streamID: id, associatedTo: assoc, priority: priority, fin: fin,
                unidirectional: flags & SPDYFrame.flagUnidirectional != 0, headers: headers)
        case SPDYFrame.typeSynReply, SPDYFrame.typeHeaders:
            let id = try r.uint32() & 0x7fff_ffff
            guard id != 0 else { throw SPDYProtocolError("header frame for stream 0") }
            let headers = try SPDYHeaders.parse(decompressor.decompress(r.rest()))
            return type == SPDYFrame.typeSynReply
                ? .synReply(streamID: id, fin: fin, headers: headers)
                : .headers(streamID: id, fin: fin, headers: headers)
        case SPDYFrame.typeRstStream:
            guard length == 8 else { throw SPDYProtocolError("RST_STREAM of length \(length)") }
            return .rstStream(streamID: try r.uint32() & 0x7fff_ffff, status: try r.uint32())
        case SPDYFrame.typeSettings:
            let count = try r.uint32()
            guard Int(count) * 8 == r.remaining else { throw SPDYProtocolError("SETTINGS length mismatch") }
            var entries: [SPDYSetting] = []
            for _ in 0..<count {
                let fid = try r.uint32()
                entries.append(SPDYSetting(flags: UInt8(fid >> 24), id: fid & 0xff_ffff, value: try r.uint32()))
            }
            return .settings(clearPersisted: flags & 1 != 0, entries: entries)
        case SPDYFrame.typePing:
            guard length == 4 else { throw SPDYProtocolError("PING of length \(length)") }
            return .ping(id: try r.uint32())
        case SPDYFrame.typeGoAway:
            guard length == 8 else { throw SPDYProtocolError("GOAWAY of length \(length)") }
            return .goAway(lastGoodStreamID: try r.uint32() & 0x7fff_ffff, status: try r.uint32())
        case SPDYFrame.typeWindowUpdate:
            guard length == 8 else { throw SPDYProtocolError("WINDOW_UPDATE of length \(length)") }
            return .windowUpdate(streamID: try r.uint32() & 0x7fff_ffff, delta: try r.uint32() & 0x7fff_ffff)
        default:
            return .unknownControl(type: type, flags: flags, payload: body)
        }
    }
}

struct ByteReader {
    let bytes: [UInt8]
    var offset = 0
    init(_ bytes: [UInt8]) { self.bytes = bytes }
    var remaining: Int { bytes.count - offset }

    mutating func byte() throws -> UInt8 {
        guard remaining >= 1 else { throw SPDYProtocolError("frame too short") }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func uint32() throws -> UInt32 {
        guard remaining >= 4 else { throw SPDYProtocolError("frame too short") }
        defer { offset += 4 }
        return bytes.uint32(at: offset)
    }

    mutating func bytes(_ n: Int) throws -> [UInt8] {
        guard n >= 0, remaining >= n else { throw SPDYProtocolError("frame too short") }
        defer { offset += n }
        return Array(bytes[offset..<(offset + n)])
    }

    mutating func rest() -> [UInt8] {
        defer { offset = bytes.count }
        return Array(bytes[offset...])
    }
}

extension Array where Element == UInt8 {
    mutating func appendUInt32(_ v: UInt32) {
        append(UInt8(v >> 24))
        append(UInt8((v >> 16) & 0xff))
        append(UInt8((v >> 8) & 0xff))
        append(UInt8(v & 0xff))
    }

    func uint32(at i: Int) -> UInt32 {
        UInt32(self[i]) << 24 | UInt32(self[i + 1]) << 16 | UInt32(self[i + 2]) << 8 | UInt32(self[i + 3])
    }
}
