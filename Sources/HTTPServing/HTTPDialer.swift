import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// An answer read off a connection the dialer opened: the status and headers, and the connection
/// itself positioned after them (the body, or after a 101 the upgraded protocol's bytes).
public struct DialedResponse: Sendable {
    public var status: Int
    public var reason: String
    public var headers: HTTPHeaders
    public let stream: ChannelByteStream

    public func header(_ name: String) -> String? { headers.first(name: name) }

    /// The body's chunks as they arrive, decoded from Content-Length, chunked transfer coding or
    /// read to the end; the connection closes after it.
    public func body() -> AsyncThrowingStream<[UInt8], any Error> {
        let reader = BodyReader(stream: stream, headers: headers, status: status)
        return AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    while let chunk = try await reader.next() { continuation.yield(chunk) }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
                await stream.close()
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    /// The whole body, at most `limit` bytes (the rest is dropped).
    public func readBody(limit: Int = 16 << 20) async throws -> [UInt8] {
        var out: [UInt8] = []
        let reader = BodyReader(stream: stream, headers: headers, status: status)
        while let chunk = try await reader.next() {
            out += chunk.prefix(max(0, limit - out.count))
        }
        await stream.close()
        return out
    }
}

public struct DialError: Error, CustomStringConvertible {
    public var description: String
    public init(_ d: String) { description = d }
}

/// Opens an HTTP/1.1 connection, sends one request and reads the answer's head: the API server's
/// way to the kubelet (and the kubelet's to the runtime's streaming server) for upgrades and
/// streamed bodies, where the connection must be handed on as it is.
public enum HTTPDialer {
    public static func open(
        host: String, port: Int, tls: NIOSSLContext?, serverHostname: String? = nil, method: String = "GET",
        uri: String, headers: HTTPHeaders, body: [UInt8] = [], group: any EventLoopGroup,
        connectTimeout: TimeAmount = .seconds(10)
    ) async throws -> DialedResponse {
        let hostname = serverHostname ?? host
        let channel = try await ClientBootstrap(group: group)
            .connectTimeout(connectTimeout)
            .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .channelOption(ChannelOptions.allowRemoteHalfClosure, value: true)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls {
                        let sni = hostname.first.map { $0.isNumber || hostname.contains(":") } == true ? nil : hostname
                        try channel.pipeline.syncOperations.addHandler(
                            NIOSSLClientHandler(context: tls, serverHostname: sni))
                    }
                }
            }
            .connect(host: host, port: port).get()
        let stream = try await channel.eventLoop.submit {
            try ChannelByteStream(channel: channel, halfClosable: tls == nil)
        }.get()
        do {
            var head = "\(method) \(uri) HTTP/1.1\r\n"
            let authority = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
            if !headers.contains(name: "host") { head += "Host: \(authority)\r\n" }
            for (k, v) in headers where k.lowercased() != "content-length" { head += "\(k): \(v)\r\n" }
            if !body.isEmpty || method == "POST" || method == "PUT" || method == "PATCH" {
                head += "Content-Length: \(body.count)\r\n"
            }
            head += "\r\n"
            try await stream.write(Array(head.utf8) + body)
            var buffered: [UInt8] = []
            while true {
                if let end = Self.headEnd(buffered) {
                    let resp = try Self.parseHead(buffered[..<end], stream: stream)
                    stream.unread(Array(buffered[(end + 4)...]))
                    if resp.status >= 100 && resp.status < 200 && resp.status != 101 {
                        // An interim answer (100 Continue): the real one follows.
                        buffered = []
                        continue
                    }
                    return resp
                }
                guard let more = try await stream.read() else {
                    throw DialError("\(host):\(port) closed the connection before answering")
                }
                buffered += more
                if buffered.count > 1 << 20 { throw DialError("\(host):\(port): response head too large") }
            }
        } catch {
            await stream.close()
            throw error
        }
    }

    static func headEnd(_ b: [UInt8]) -> Int? {
        guard b.count >= 4 else { return nil }
        for i in 0...(b.count - 4) where b[i] == 13 && b[i + 1] == 10 && b[i + 2] == 13 && b[i + 3] == 10 {
            return i
        }
        return nil
    }

    static func parseHead(_ bytes: ArraySlice<UInt8>, stream: ChannelByteStream) throws -> DialedResponse {
        let text = String(decoding: bytes, as: UTF8.self)
        var lines = text.split(separator: "\r\n", omittingEmptySubsequences: false)[...]
        guard let statusLine = lines.popFirst() else { throw DialError("empty response head") }
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/"), let status = Int(parts[1]) else {
            throw DialError("malformed status line \(statusLine)")
        }
        var headers = HTTPHeaders()
        for line in lines where !line.isEmpty {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let value = line[line.index(after: colon)...].drop(while: { $0 == " " || $0 == "\t" })
            headers.add(name: String(line[..<colon]), value: String(value))
        }
        return DialedResponse(
            status: status, reason: parts.count > 2 ? String(parts[2]) : "", headers: headers, stream: stream)
    }
}

/// Decodes a response body off a stream: Content-Length, chunked, or everything to the end.
final class BodyReader: @unchecked Sendable {
    enum Mode { case length(Int), chunked, toEnd, none }
    let stream: ChannelByteStream
    var mode: Mode
    var buffer: [UInt8] = []
    var done = false

    init(stream: ChannelByteStream, headers: HTTPHeaders, status: Int) {
        self.stream = stream
        if status == 204 || status == 304 || status == 101 {
            mode = .none
        } else if headers.first(name: "transfer-encoding")?.lowercased().contains("chunked") == true {
            mode = .chunked
        } else if let n = headers.first(name: "content-length").flatMap(Int.init) {
            mode = .length(n)
        } else {
            mode = .toEnd
        }
    }

    func fill() async throws -> Bool {
        guard let more = try await stream.read() else { return false }
        buffer += more
        return true
    }

    func next() async throws -> [UInt8]? {
        guard !done else { return nil }
        switch mode {
        case .none:
            done = true
            return nil
        case .toEnd:
            if !buffer.isEmpty {
                defer { buffer = [] }
                return buffer
            }
            if let more = try await stream.read() { return more }
            done = true
            return nil
        case .length(let left):
            if left == 0 {
                done = true
                return nil
            }
            if buffer.isEmpty, !(try await fill()) { throw DialError("the body ended early") }
            let take = min(left, buffer.count)
            let chunk = Array(buffer.prefix(take))
            buffer.removeFirst(take)
            mode = .length(left - take)
            return chunk
        case .chunked:
            // chunk-size [; ext] CRLF data CRLF ... 0 CRLF [trailers] CRLF
            while true {
                if let lineEnd = Self.crlf(buffer) {
                    let sizeText =
                        String(decoding: buffer[..<lineEnd], as: UTF8.self)
                        .split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
                    guard let size = Int(sizeText, radix: 16) else { throw DialError("bad chunk size \(sizeText)") }
                    if size == 0 {
                        done = true
                        return nil
                    }
                    while buffer.count < lineEnd + 2 + size + 2 {
                        guard try await fill() else { throw DialError("the body ended early") }
                    }
                    let chunk = Array(buffer[(lineEnd + 2)..<(lineEnd + 2 + size)])
                    buffer.removeFirst(lineEnd + 2 + size + 2)
                    return chunk
                }
                guard try await fill() else { throw DialError("the body ended early") }
            }
        }
    }

    static func crlf(_ b: [UInt8]) -> Int? {
        guard b.count >= 2 else { return nil }
        for i in 0..<(b.count - 1) where b[i] == 13 && b[i + 1] == 10 { return i }
        return nil
    }
}

extension DialedResponse {
    /// Our answer for what this backend answered: its 101 spliced to our client (the backend's
    /// upgrade headers passed on), or its status, headers and body streamed as they arrive.
    public func relayed() -> HTTPResponse {
        var out = HTTPHeaders()
        for (k, v) in headers
        where !["content-length", "transfer-encoding", "date", "connection"].contains(k.lowercased()) {
            out.add(name: k, value: v)
        }
        let status = HTTPResponseStatus(statusCode: self.status)
        let backend = stream
        if self.status == 101 {
            out.add(name: "Connection", value: "Upgrade")
            return HTTPResponse(
                status: status, headers: out, body: .upgrade { client in await splice(client, backend) })
        }
        let (chunks, continuation) = AsyncStream<[UInt8]>.makeStream()
        let body = self.body()
        let task = Task {
            do {
                for try await chunk in body { continuation.yield(chunk) }
            } catch {}
            continuation.finish()
        }
        continuation.onTermination = { _ in task.cancel() }
        return HTTPResponse(status: status, headers: out, body: .stream(chunks))
    }
}
