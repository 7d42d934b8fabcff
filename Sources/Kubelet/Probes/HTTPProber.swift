import APICore
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import Synchronization

/// An HTTP GET probe or hook (upstream's `http.Probe` and its request building): the pod's IP unless a
/// host is given, HTTP or HTTPS without checking the certificate, the probe's headers with
/// `User-Agent: kube-probe/<major>.<minor>` and `Accept: */*` unless they set their own. Redirects to
/// the same host are followed (at most 10); a redirect elsewhere ends the probe with a warning.
/// 200–399 is success. At most 10 KiB of a body are read.
public enum HTTPProber {
    /// Where a GET goes.
    public struct Target: Equatable, Sendable {
        public var https: Bool
        public var host: String
        public var port: Int
        /// The request target: path and query, starting with `/`.
        public var path: String
        /// The request's headers, the probe's own first, in order.
        public var headers: [Header]

        public struct Header: Equatable, Sendable {
            public var name: String
            public var value: String
            public init(_ name: String, _ value: String) {
                self.name = name
                self.value = value
            }
        }

        public init(https: Bool, host: String, port: Int, path: String, headers: [Header] = []) {
            self.https = https
            self.host = host
            self.port = port
            self.path = path
            self.headers = headers
        }

        /// The target of an `httpGet` action of `container`, in a pod at `podIP`; `agent` names the
        /// caller in the User-Agent (`kube-probe/1.36`, `kube-lifecycle/1.36`).
        public init(
            _ a: CoreV1.HTTPGetAction, container: CoreV1.Container, podIP: String, agent: String = Prober.userAgent
        ) throws {
            let port = try Prober.resolvePort(a.port, container)
            var path = a.path
            if !path.hasPrefix("/") { path = "/" + path }
            var headers: [Header] = []
            for h in a.httpHeaders { headers.append(Header(h.name, h.value)) }
            func has(_ n: String) -> Bool { headers.contains { $0.name.lowercased() == n } }
            if !has("user-agent") { headers.append(Header("User-Agent", agent)) }
            if !has("accept") {
                headers.append(Header("Accept", "*/*"))
            } else if headers.first(where: { $0.name.lowercased() == "accept" })?.value == "" {
                // An empty Accept means none at all.
                headers.removeAll { $0.name.lowercased() == "accept" }
            }
            self.init(
                https: a.scheme.uppercased() == "HTTPS", host: a.host.isEmpty ? podIP : a.host, port: port,
                path: path, headers: headers)
        }

        /// The URL as Go writes it (`http://10.42.0.5:8080/healthz`).
        public var url: String { (https ? "https" : "http") + "://" + GoNetError.hostPort(host, port) + path }

        /// The Host header: the probe's own, or host and port.
        var hostHeader: String {
            headers.first { $0.name.lowercased() == "host" }?.value ?? GoNetError.hostPort(host, port)
        }
    }

    /// What a GET brought back.
    public struct Response: Equatable, Sendable {
        public var status: Int
        public var location: String?
        public var body: [UInt8]
    }

    /// What to do after a response (Go's client with upstream's redirect check).
    public enum Next: Equatable, Sendable {
        case done
        case follow(Target)
    }

    /// A redirect with a Location is followed when it stays on the same host name (the port and scheme
    /// may change); any other response is the answer.
    public static func next(after r: Response, from t: Target) -> Next {
        guard [301, 302, 303, 307, 308].contains(r.status), let loc = r.location, !loc.isEmpty,
            let base = URL(string: t.url), let u = URL(string: loc, relativeTo: base)?.absoluteURL,
            let host = u.host, let scheme = u.scheme?.lowercased(), scheme == "http" || scheme == "https"
        else { return .done }
        let bare = host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host
        guard bare.lowercased() == t.host.lowercased() else { return .done }
        var next = t
        next.https = scheme == "https"
        next.host = bare
        next.port = u.port ?? (next.https ? 443 : 80)
        next.path = (u.path.isEmpty ? "/" : u.path) + (u.query.map { "?" + $0 } ?? "")
        if URL(string: loc)?.scheme != nil {
            // A custom Host header only survives a relative redirect.
            next.headers.removeAll { $0.name.lowercased() == "host" }
        }
        return .follow(next)
    }

    /// The verdict on the final response (upstream's `DoHTTPProbe`).
    public static func verdict(_ r: Response) -> ProbeOutcome {
        let body = String(decoding: r.body, as: UTF8.self)
        if r.status >= 200 && r.status < 400 {
            if r.status >= 300 { return ProbeOutcome(.warning, "Probe terminated redirects, Response body: \(body)") }
            return ProbeOutcome(.success, body)
        }
        return ProbeOutcome(.failure, "HTTP probe failed with statuscode: \(r.status)")
    }

    /// Runs the probe within `timeout` (one deadline for the whole redirect chain).
    public static func probe(_ t: Target, timeout: Duration) async -> ProbeOutcome {
        switch await fetch(t, timeout: timeout) {
        case .success(let r): return verdict(r)
        case .failure(let e): return ProbeOutcome(.failure, e.description)
        }
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// GETs `t`, following same-host redirects; an error worded as Go's client words it.
    static func fetch(_ t: Target, timeout: Duration) async -> Result<Response, Failure> {
        let current = Mutex(t)
        let result = await withDeadline(timeout) { () async -> Result<Response, Failure> in
            var target = t
            for _ in 0...10 {
                current.withLock { $0 = target }
                let r: Response
                do {
                    r = try await get(target, timeout: timeout)
                } catch {
                    return .failure(Failure(description: "Get \(goQuote(target.url)): \(error)"))
                }
                switch next(after: r, from: target) {
                case .done: return .success(r)
                case .follow(let n): target = n
                }
            }
            return .failure(Failure(description: "Get \(goQuote(target.url)): stopped after 10 redirects"))
        }
        return result
            ?? .failure(
                Failure(
                    description:
                        "Get \(goQuote(current.withLock { $0.url })): context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
                ))
    }

    static let tlsContext: NIOSSLContext? = {
        var c = TLSConfiguration.makeClientConfiguration()
        c.certificateVerification = .none
        return try? NIOSSLContext(configuration: c)
    }()

    struct ReadError: Error, CustomStringConvertible {
        let description: String
    }

    /// One GET on a connection of its own (`Connection: close`, as upstream's probes disable keep-alive).
    static func get(_ t: Target, timeout: Duration) async throws -> Response {
        let https = t.https
        let serverName = t.host
        let channel = try await ProbeDialer.connect(host: t.host, port: t.port, timeout: timeout) { ch in
            ch.eventLoop.makeCompletedFuture {
                if https {
                    guard let ctx = tlsContext else { throw ReadError(description: "no TLS context") }
                    let sni = isIPAddress(serverName) ? nil : serverName
                    try ch.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: ctx, serverHostname: sni))
                }
                try ch.pipeline.syncOperations.addHTTPClientHandlers()
                return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(
                    wrappingChannelSynchronously: ch)
            }
        }
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: t.hostHeader)
        for h in t.headers where h.name.lowercased() != "host" { headers.add(name: h.name, value: h.value) }
        headers.add(name: "Connection", value: "close")
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: t.path, headers: headers)
        return try await channel.executeThenClose { inbound, outbound in
            try await outbound.write(.head(head))
            try await outbound.write(.end(nil))
            var response: Response?
            for try await part in inbound {
                switch part {
                case .head(let h):
                    response = Response(
                        status: Int(h.status.code), location: h.headers.first(name: "Location"), body: [])
                case .body(var buf):
                    guard var r = response else { continue }
                    let room = Prober.maxOutput - r.body.count
                    if let bytes = buf.readBytes(length: min(room, buf.readableBytes)) { r.body += bytes }
                    response = r
                    if r.body.count >= Prober.maxOutput { return r }
                case .end:
                    if let r = response { return r }
                }
            }
            if let response { return response }
            throw ReadError(description: "EOF")
        }
    }

    static func isIPAddress(_ s: String) -> Bool {
        (try? SocketAddress(ipAddress: s, port: 0)) != nil
    }
}

/// Runs `op` and returns its value, or nil when `limit` passes first (the operation is cancelled).
func withDeadline<T: Sendable>(_ limit: Duration, _ op: @escaping @Sendable () async -> T) async -> T? {
    await withTaskGroup(of: T?.self) { g in
        g.addTask { await op() }
        g.addTask {
            try? await Task.sleep(for: limit)
            return nil
        }
        let first = await g.next() ?? nil
        g.cancelAll()
        return first
    }
}
