import APIMachinery
import Foundation
import KubernetesAPI

/// A built-in kind a typed client can read and write: it has object metadata and its own kind.
public typealias KubeObject = APIKind & ObjectMetaCarrier & TypeMetaCarrier

/// An answer of the API server that is not a success: its HTTP code and `Status` body.
public struct StatusError: Error, CustomStringConvertible, Sendable {
    public var code: Int
    public var status: MetaV1.Status
    public var retryAfter: Int?

    public init(code: Int, status: MetaV1.Status, retryAfter: Int? = nil) {
        self.code = code
        self.status = status
        self.retryAfter = retryAfter
    }

    public var reason: String { status.reason }
    public var isNotFound: Bool { code == 404 || status.reason == "NotFound" }
    public var isAlreadyExists: Bool { status.reason == "AlreadyExists" }
    public var isConflict: Bool { code == 409 }
    public var isGone: Bool { code == 410 || status.reason == "Expired" || status.reason == "Gone" }
    public var isInvalid: Bool { code == 422 }
    public var isForbidden: Bool { code == 403 }
    public var isTooManyRequests: Bool { code == 429 }
    public var description: String { status.message.isEmpty ? "the server answered \(code)" : status.message }
}

extension Error {
    /// The server's `Status` answer behind this error, if it is one.
    public var statusError: StatusError? { self as? StatusError }
    public var isNotFound: Bool { statusError?.isNotFound ?? false }
    public var isConflict: Bool { statusError?.isConflict ?? false }
    public var isAlreadyExists: Bool { statusError?.isAlreadyExists ?? false }
}

/// A client of one API server, shared by everything in a component: credentials, user agent,
/// client-side rate limiting, retries, and the typed and dynamic calls built on `send`.
public final class KubeClient: Sendable {
    public let config: ClientConfig
    public let scheme: Scheme
    let transport: any KubeTransport
    let credentials: Credentials
    let limiter: TokenBucket?
    /// `host:port` of the server, as the metrics label it.
    let metricsHost: String

    /// How many times a request is sent again after 429/Retry-After or a connection failure.
    public static let maxRetries = 10

    public static let defaultScheme = KubernetesAPI.scheme()

    /// A client over HTTPS, or over `transport` when given (the in-process transport).
    public init(config: ClientConfig, transport: (any KubeTransport)? = nil, scheme: Scheme = defaultScheme) throws {
        self.config = config
        self.scheme = scheme
        credentials = Credentials(config: config)
        var tlsConfig = config
        // An exec plugin may answer with a client certificate instead of (or besides) a token; it
        // is run once up front so the TLS connection can present it.
        if transport == nil, config.exec != nil, config.clientCertificateData == nil,
            let cred = try? credentials.primeExec(), let cert = cred.clientCertificateData,
            let key = cred.clientKeyData
        {
            tlsConfig.clientCertificateData = Array(cert.utf8)
            tlsConfig.clientKeyData = Array(key.utf8)
        }
        self.transport = try transport ?? HTTP2Transport(config: tlsConfig)
        limiter = config.qps > 0 ? TokenBucket(qps: config.qps, burst: config.burst) : nil
        let url = URLComponents(string: config.server)
        metricsHost = url.map { u in (u.host ?? "") + (u.port.map { ":\($0)" } ?? "") } ?? config.server
    }

    public func shutdown() async { await transport.shutdown() }

    static func isIdempotent(_ method: String) -> Bool { ["GET", "HEAD", "PUT", "DELETE", "OPTIONS"].contains(method) }

    /// Sends a request with credentials and user agent, waiting for the rate limiter; retries after
    /// 429 (or a 5xx with Retry-After) as the server asks, and after connection failures for
    /// idempotent verbs, with backoff. Answers with any status; `checked` turns errors into throws.
    public func send(_ request: KubeRequest) async throws -> KubeResponse {
        var req = request
        req.headers.append((name: "User-Agent", value: config.userAgent))
        var attempt = 0
        var authRetried = false
        while true {
            if let limiter { try await limiter.wait() }
            var r = req
            if let a = try credentials.authorization() { r.headers.append((name: "Authorization", value: a)) }
            let resp: KubeResponse
            let started = ContinuousClock.now
            do {
                resp = try await transport.send(r, timeout: config.timeout)
                record(method: req.method, code: String(resp.status), since: started)
            } catch let e as TransportError {
                record(method: req.method, code: "<error>", since: started)
                attempt += 1
                guard Self.isIdempotent(req.method), attempt <= Self.maxRetries else { throw e }
                try await Task.sleep(for: Self.backoff(attempt))
                continue
            }
            if resp.status == 401, !authRetried, credentials.invalidate() {
                authRetried = true
                continue
            }
            let retryAfter = resp.header("Retry-After").flatMap { Int($0) }
            // As client-go: only an answer that says when to come back is retried.
            if (resp.status == 429 || resp.status >= 500), let retryAfter {
                attempt += 1
                if attempt <= Self.maxRetries {
                    try await Task.sleep(for: .seconds(max(1, retryAfter)))
                    continue
                }
            }
            return resp
        }
    }

    static let latencyBounds = [0.005, 0.025, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60]

    /// client-go's REST client metrics: requests by code, host and method; latency by host and verb.
    func record(method: String, code: String, since start: ContinuousClock.Instant) {
        let host = metricsHost
        let seconds = MetricRegistry.seconds(ContinuousClock.now - start)
        MetricRegistry.shared.increment(
            "rest_client_requests_total",
            help: "Number of HTTP requests, partitioned by status code, method, and host.",
            labels: ["code": code, "host": host, "method": method])
        MetricRegistry.shared.observe(
            "rest_client_request_duration_seconds", help: "Request latency in seconds. Broken down by verb, and host.",
            bounds: Self.latencyBounds, labels: ["host": host, "verb": method], seconds)
    }

    /// Exponential backoff from 100 ms, doubling, at most 5 s.
    static func backoff(_ attempt: Int) -> Swift.Duration {
        .milliseconds(min(5000, 100 << min(attempt - 1, 6)))
    }

    /// Sends and throws the server's `Status` for any answer that is not 2xx.
    public func checked(_ request: KubeRequest) async throws -> KubeResponse {
        let resp = try await send(request)
        guard (200..<300).contains(resp.status) else { throw Self.statusError(resp) }
        return resp
    }

    /// The error of a non-2xx answer: its `Status` body, or one made from the code.
    static func statusError(_ resp: KubeResponse) -> StatusError {
        var st = MetaV1.Status()
        if let decoded = try? decodeStatus(resp.body, contentType: resp.header("Content-Type")) {
            st = decoded
        } else {
            st.status = "Failure"
            st.code = Int32(resp.status)
            st.message = String(decoding: resp.body.prefix(512), as: UTF8.self)
            st.reason = MetaV1.Status.reason(forCode: resp.status)
        }
        return StatusError(
            code: resp.status, status: st, retryAfter: resp.header("Retry-After").flatMap { Int($0) })
    }

    static func decodeStatus(_ body: [UInt8], contentType: String?) throws -> MetaV1.Status {
        if contentType?.hasPrefix("application/vnd.kubernetes.protobuf") == true {
            let u = try ProtobufEnvelope.unwrap(body)
            return try MetaV1.Status(protoBytes: u.raw)
        }
        let s = try JSONReader.decode(MetaV1.Status.self, from: body)
        guard s.kind == "Status" else { throw JSONDecodingError("not a Status") }
        return s
    }
}
