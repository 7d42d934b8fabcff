import Foundation
import HTTPServing
import KubeClient
import NIOHTTP1
import Synchronization

/// kube-proxy's `/healthz` and `/livez` (port 10256 by default), as upstream answers them: JSON
/// with `lastUpdated`, `currentTime`, `healthy` and (on `/healthz`) `nodeEligible`; 503 when an
/// update has waited longer than the health timeout (twice the sync period) or, for `/healthz`,
/// when the node is going away.
public final class ProxyHealthServer: HTTPResponder {
    struct State {
        var lastUpdated: Date?
        var oldestQueued: Date?
    }

    let state = Mutex(State())
    let healthTimeout: Double
    let now: @Sendable () -> Date
    /// Whether this node may get traffic: it exists, is not being deleted and not tainted by the
    /// cluster autoscaler for deletion.
    let nodeEligible: @Sendable () -> Bool
    let metrics: MetricRegistry

    public init(
        healthTimeout: Double, metrics: MetricRegistry, now: @escaping @Sendable () -> Date = { Date() },
        nodeEligible: @escaping @Sendable () -> Bool
    ) {
        self.healthTimeout = healthTimeout
        self.metrics = metrics
        self.now = now
        self.nodeEligible = nodeEligible
    }

    /// Rules were programmed: healthy again.
    public func updated() {
        let t = now()
        state.withLock {
            $0.lastUpdated = t
            $0.oldestQueued = nil
        }
    }

    /// A change waits to be programmed.
    public func queued() {
        let t = now()
        state.withLock { s in if s.oldestQueued == nil { s.oldestQueued = t } }
    }

    /// Healthy unless a queued change has waited longer than the timeout.
    public var isHealthy: Bool {
        let s = state.withLock { $0 }
        guard let q = s.oldestQueued, s.lastUpdated != nil else { return true }
        return now().timeIntervalSince(q) < healthTimeout
    }

    static func goTime(_ d: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        f.timeZone = TimeZone(identifier: "UTC")
        return f.string(from: d)
    }

    /// The JSON body; `eligible` nil leaves `nodeEligible` out (`/livez`).
    func body(healthy: Bool, eligible: Bool?) -> String {
        let s = state.withLock { $0 }
        let current = now()
        // A healthy answer reports "now" as the last update (upstream keeps that meaning).
        let last = healthy ? current : (s.lastUpdated ?? Date(timeIntervalSince1970: -62_135_596_800))
        var fields = ["\"lastUpdated\":\"\(Self.goTime(last))\"", "\"currentTime\":\"\(Self.goTime(current))\""]
        if let eligible { fields.append("\"nodeEligible\":\(eligible)") }
        fields.append("\"healthy\":\(isHealthy)")
        if let lu = s.lastUpdated {
            fields.append("\"status\":{\"IPv4\":{\"lastUpdated\":\"\(Self.goTime(lu))\",\"healthy\":\(isHealthy)}}")
        }
        return "{" + fields.joined(separator: ",") + "}"
    }

    public func respond(to request: HTTPRequest) async -> HTTPResponse {
        switch request.path {
        case "/healthz", "/livez":
            let eligible: Bool? = request.path == "/healthz" ? nodeEligible() : nil
            let healthy = isHealthy && (eligible ?? true)
            let code = healthy ? "200" : "503"
            metrics.increment(
                request.path == "/healthz" ? "kubeproxy_healthz_total" : "kubeproxy_livez_total",
                help: "Health checks answered, by HTTP status code.", labels: ["code": code])
            let headers: HTTPHeaders = ["Content-Type": "application/json", "X-Content-Type-Options": "nosniff"]
            return HTTPResponse(
                status: healthy ? .ok : .serviceUnavailable, headers: headers,
                body: .bytes(Array(body(healthy: healthy, eligible: eligible).utf8)))
        default:
            return notFound
        }
    }

    public func tooLarge(_ request: HTTPRequest) -> HTTPResponse { HTTPResponse(status: .payloadTooLarge) }
}

let notFound = HTTPResponse(
    status: .notFound, contentType: "text/plain; charset=utf-8", bytes: Array("404 page not found\n".utf8))

/// `/metrics` of the proxy (127.0.0.1:10249 by default), also `/healthz` there as upstream.
public final class ProxyMetricsServer: HTTPResponder {
    let metrics: MetricRegistry
    let started = Date()

    public init(metrics: MetricRegistry) { self.metrics = metrics }

    public func respond(to request: HTTPRequest) async -> HTTPResponse {
        switch request.path {
        case "/metrics":
            let text =
                """
                # HELP process_start_time_seconds When the process started, in seconds since the Unix epoch.
                # TYPE process_start_time_seconds gauge
                process_start_time_seconds \(started.timeIntervalSince1970)

                """ + metrics.render()
            return HTTPResponse(
                status: .ok, contentType: "text/plain; version=0.0.4; charset=utf-8", bytes: Array(text.utf8))
        case "/healthz":
            return HTTPResponse(status: .ok, contentType: "text/plain; charset=utf-8", bytes: Array("ok".utf8))
        default:
            return notFound
        }
    }

    public func tooLarge(_ request: HTTPRequest) -> HTTPResponse { HTTPResponse(status: .payloadTooLarge) }
}

/// The health check node port of one `externalTrafficPolicy: Local` Service: 200 while this node
/// has local endpoints for it and the proxy is healthy, else 503, with upstream's JSON body and
/// the `X-Load-Balancing-Endpoint-Weight` header load balancers read.
public final class ServiceHealthResponder: HTTPResponder {
    let check = Mutex<HealthCheckPort?>(nil)
    let proxyHealthy: @Sendable () -> Bool

    public init(proxyHealthy: @escaping @Sendable () -> Bool) { self.proxyHealthy = proxyHealthy }

    public func set(_ c: HealthCheckPort) { check.withLock { $0 = c } }

    /// The body upstream writes (indented with tabs, no trailing newline).
    public static func body(namespace: String, name: String, localEndpoints: Int, healthy: Bool) -> String {
        """
        {
        \t"service": {
        \t\t"namespace": "\(namespace)",
        \t\t"name": "\(name)"
        \t},
        \t"localEndpoints": \(localEndpoints),
        \t"serviceProxyHealthy": \(healthy)
        }
        """
    }

    public func respond(to request: HTTPRequest) async -> HTTPResponse {
        guard let c = check.withLock({ $0 }) else { return notFound }
        let healthy = proxyHealthy()
        let headers: HTTPHeaders = [
            "Content-Type": "application/json", "X-Content-Type-Options": "nosniff",
            "X-Load-Balancing-Endpoint-Weight": String(c.localEndpoints),
        ]
        return HTTPResponse(
            status: c.localEndpoints != 0 && healthy ? .ok : .serviceUnavailable, headers: headers,
            body: .bytes(
                Array(
                    Self.body(namespace: c.namespace, name: c.name, localEndpoints: c.localEndpoints, healthy: healthy)
                        .utf8)))
    }

    public func tooLarge(_ request: HTTPRequest) -> HTTPResponse { HTTPResponse(status: .payloadTooLarge) }
}
