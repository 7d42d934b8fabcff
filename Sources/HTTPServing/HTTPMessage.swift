import NIOCore
import NIOHTTP1

/// Who made a request, as authentication established it.
public struct UserInfo: Sendable, Hashable {
    public var name: String
    public var uid: String
    public var groups: [String]

    public init(name: String, uid: String = "", groups: [String]) {
        self.name = name
        self.uid = uid
        self.groups = groups
    }

    public static let anonymous = UserInfo(name: "system:anonymous", groups: ["system:unauthenticated"])
}

/// How the connection identified its client before any header was read.
public enum ConnectionIdentity: Sendable {
    case none
    /// A client certificate verified against the client CA: its subject's CN and O values.
    case certificate(commonName: String, organizations: [String])
}

/// One HTTP request, body fully read.
public struct HTTPRequest: Sendable {
    public var method: HTTPMethod
    /// The request target as sent (path and query, encoded).
    public var uri: String
    /// The path, percent-decoded, without the query.
    public var path: String
    /// Query parameters, percent-decoded; a repeated name keeps its first value.
    public var query: [String: String]
    public var headers: HTTPHeaders
    public var body: [UInt8]
    public var identity: ConnectionIdentity
    public var isHTTP2: Bool
    /// The client's IP address (empty for in-process requests).
    public var remoteAddress = ""

    public init(
        method: HTTPMethod, uri: String, headers: HTTPHeaders, body: [UInt8], identity: ConnectionIdentity = .none,
        isHTTP2: Bool = false
    ) {
        self.method = method
        self.uri = uri
        self.headers = headers
        self.body = body
        self.identity = identity
        self.isHTTP2 = isHTTP2
        let parts = uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        path = Self.percentDecode(parts[0], plusIsSpace: false)
        var q: [String: String] = [:]
        if parts.count > 1 {
            for pair in parts[1].split(separator: "&") {
                let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                let k = Self.percentDecode(kv[0], plusIsSpace: true)
                if q[k] == nil { q[k] = kv.count > 1 ? Self.percentDecode(kv[1], plusIsSpace: true) : "" }
            }
        }
        query = q
    }

    /// Every value of a query parameter, in order (`query` keeps only the first of a repeated
    /// one; exec's `command` repeats).
    public func values(_ name: String) -> [String] {
        guard let q = uri.split(separator: "?", maxSplits: 1).dropFirst().first else { return [] }
        return q.split(separator: "&").compactMap { pair -> String? in
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard Self.percentDecode(kv[0], plusIsSpace: true) == name else { return nil }
            return Self.percentDecode(kv.count > 1 ? kv[1] : "", plusIsSpace: true)
        }
    }

    public static func percentDecode(_ s: Substring, plusIsSpace: Bool) -> String {
        guard s.utf8.contains(where: { $0 == UInt8(ascii: "%") || (plusIsSpace && $0 == UInt8(ascii: "+")) }) else {
            return String(s)
        }
        var out: [UInt8] = []
        out.reserveCapacity(s.utf8.count)
        var it = Array(s.utf8)[...]
        while let c = it.popFirst() {
            if c == UInt8(ascii: "%"), it.count >= 2, let h = hex(it[it.startIndex]), let l = hex(it[it.startIndex + 1])
            {
                out.append(h << 4 | l)
                it = it.dropFirst(2)
            } else if plusIsSpace && c == UInt8(ascii: "+") {
                out.append(UInt8(ascii: " "))
            } else {
                out.append(c)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func hex(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}

/// A response: whole bytes, or a stream of chunks (watch).
public struct HTTPResponse: Sendable {
    public enum Body: Sendable {
        case bytes([UInt8])
        /// Chunks written and flushed as they arrive; the response ends when the stream ends.
        case stream(AsyncStream<[UInt8]>)
        /// The head (status 101 and its headers) ends HTTP on this connection: the closure gets its
        /// raw bytes both ways and the connection closes when it returns. HTTP/1.1 only; on an
        /// HTTP/2 stream the request is answered 400.
        case upgrade(@Sendable (any ByteStream) async -> Void)
    }

    public var status: HTTPResponseStatus
    public var headers: HTTPHeaders
    public var body: Body

    public init(status: HTTPResponseStatus, headers: HTTPHeaders = [:], body: Body = .bytes([])) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public init(status: HTTPResponseStatus, contentType: String, bytes: [UInt8]) {
        self.status = status
        self.headers = ["Content-Type": contentType]
        self.body = .bytes(bytes)
    }
}

/// Answers requests: the API server's router, or a test's.
public protocol HTTPResponder: Sendable {
    func respond(to request: HTTPRequest) async -> HTTPResponse
    /// The answer to a request whose body exceeded the limit (read no further).
    func tooLarge(_ request: HTTPRequest) -> HTTPResponse
}
