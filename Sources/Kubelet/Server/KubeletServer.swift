import APICore
import APIMachinery
import CRI
import ControllerRuntime
import Foundation
import HTTPServing
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// The kubelet's HTTPS port (10250): health, the pods it runs, container logs, and exec, attach and
/// port-forward, each handed to the runtime's streaming server and proxied byte for byte. Clients
/// authenticate with a certificate from the cluster's client CA (the API server's kubelet client
/// certificate); anyone else gets 401.
public final class KubeletServer: Sendable {
    public struct Options: Sendable {
        public var address = "0.0.0.0"
        public var port = 10250
        public var certPEM: String
        public var keyPEM: String
        /// The CA whose client certificates are accepted; nil accepts any client (tests only).
        public var clientCAPEM: String?

        public init(certPEM: String, keyPEM: String, clientCAPEM: String?) {
            self.certPEM = certPEM
            self.keyPEM = keyPEM
            self.clientCAPEM = clientCAPEM
        }
    }

    let options: Options
    let server: HTTPServer
    let group: MultiThreadedEventLoopGroup

    public init(kubelet: Kubelet, options: Options) {
        self.options = options
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        server = HTTPServer(
            responder: KubeletHandler(
                kubelet: kubelet, requireClientCertificate: options.clientCAPEM != nil, group: group),
            maxBodyBytes: 1 << 20, threads: 1)
    }

    /// Starts listening; returns the bound port.
    public func start() async throws -> Int {
        let chain = try NIOSSLCertificate.fromPEMBytes(Array(options.certPEM.utf8))
        let key = try NIOSSLPrivateKey(bytes: Array(options.keyPEM.utf8), format: .pem)
        let cas = try options.clientCAPEM.map { try NIOSSLCertificate.fromPEMBytes(Array($0.utf8)) } ?? []
        return try await server.start(
            host: options.address, port: options.port,
            tls: HTTPServer.TLS(certificateChain: chain, privateKey: key, clientCAs: cas))
    }

    public func stop() async {
        await server.stop()
        try? await group.shutdownGracefully()
    }
}

/// The kubelet server's routes.
struct KubeletHandler: HTTPResponder {
    let kubelet: Kubelet
    let requireClientCertificate: Bool
    let group: any EventLoopGroup
    /// The last CPU readings `/stats/summary` answered with, for its rates.
    let cpuRates = CPURates()

    public func tooLarge(_ request: HTTPRequest) -> HTTPResponse { Self.text(.payloadTooLarge, "request too large") }

    static func text(_ status: HTTPResponseStatus, _ s: String) -> HTTPResponse {
        HTTPResponse(status: status, contentType: "text/plain; charset=utf-8", bytes: Array(s.utf8))
    }

    public func respond(to request: HTTPRequest) async -> HTTPResponse {
        if requireClientCertificate, case .none = request.identity { return Self.text(.unauthorized, "Unauthorized") }
        let parts = request.path.split(separator: "/").map(String.init)
        guard let first = parts.first else { return Self.text(.notFound, "404 page not found") }
        switch (first, parts.count) {
        case ("healthz", 1):
            return Self.text(.ok, "ok")
        case ("pods", 1):
            var list = CoreV1.PodList()
            list.apiVersion = "v1"
            list.kind = "PodList"
            list.items = kubelet.kubeletPods()
            var w = JSONWriter()
            list.encodeJSON(&w)
            return HTTPResponse(status: .ok, contentType: "application/json", bytes: w.bytes)
        case ("metrics", 2) where parts[1] == "resource":
            return HTTPResponse(
                status: .ok, contentType: "text/plain; version=0.0.4; charset=utf-8",
                bytes: Array(resourceMetrics().utf8))
        case ("stats", 2) where parts[1] == "summary":
            return HTTPResponse(status: .ok, contentType: "application/json", bytes: statsSummary())
        case ("configz", 1):
            return HTTPResponse(status: .ok, contentType: "application/json", bytes: configz())
        case ("containerLogs", 4):
            return await containerLogs(namespace: parts[1], pod: parts[2], container: parts[3], request)
        case ("exec", 4), ("exec", 5), ("attach", 4), ("attach", 5):
            return await stream(
                first, namespace: parts[1], pod: parts[2], uid: parts.count == 5 ? parts[3] : nil,
                container: parts[parts.count - 1], request)
        case ("portForward", 3), ("portForward", 4):
            return await portForward(
                namespace: parts[1], pod: parts[2], uid: parts.count == 4 ? parts[3] : nil, request)
        default:
            return Self.text(.notFound, "404 page not found")
        }
    }

    // MARK: Metrics and configuration

    /// What the node's pods and containers use now, read from their cgroups.
    func usage() -> (node: CgroupUsage?, pods: [(CoreV1.Pod, CgroupUsage?, [(RuntimeContainer, CgroupUsage)])]) {
        let root = kubelet.options.cgroupRoot
        let snapshot = kubelet.state.withLock { $0.snapshot }
        var pods: [(CoreV1.Pod, CgroupUsage?, [(RuntimeContainer, CgroupUsage)])] = []
        for pod in kubelet.kubeletPods() {
            guard let rt = snapshot[pod.metadata.uid] else { continue }
            let cgroup = RuntimeConfigs.podCgroup(pod, root: root)
            let containers = rt.containers.filter { $0.state == .running }.compactMap { c in
                CgroupUsage.read(cgroup + "/" + c.id).map { (c, $0) }
            }
            pods.append((pod, CgroupUsage.read(cgroup), containers))
        }
        return (CgroupUsage.read(""), pods)
    }

    /// `/stats/summary`: the node's and each pod's and container's CPU time and memory working set
    /// in the Summary API's shape (usageCoreNanoSeconds, workingSetBytes, with their times), and the
    /// CPU rate since the previous answer (usageNanoCores) where there was one.
    func statsSummary() -> [UInt8] {
        let (node, pods) = usage()
        let now = kubelet.wallClock()
        let dates = ISO8601DateFormatter()
        let time = dates.string(from: now)
        var readings: [String: UInt64] = [:]
        if let node { readings["node"] = node.cpuNanoseconds }
        for (pod, u, containers) in pods {
            if let u { readings["pod/" + pod.metadata.uid] = u.cpuNanoseconds }
            for (c, cu) in containers { readings["container/" + c.id] = cu.cpuNanoseconds }
        }
        let rates = cpuRates.update(readings, seconds: now.timeIntervalSince1970)
        func cpu(_ u: CgroupUsage, _ key: String) -> [String: Any] {
            var e: [String: Any] = ["time": time, "usageCoreNanoSeconds": u.cpuNanoseconds]
            if let r = rates[key] { e["usageNanoCores"] = r }
            return e
        }
        func memory(_ u: CgroupUsage) -> [String: Any] { ["time": time, "workingSetBytes": u.workingSetBytes] }
        var nodeEntry: [String: Any] = ["nodeName": kubelet.options.nodeName]
        if let node {
            nodeEntry["cpu"] = cpu(node, "node")
            nodeEntry["memory"] = memory(node)
        }
        let podEntries: [[String: Any]] = pods.map { pod, u, containers in
            var e: [String: Any] = [
                "podRef": [
                    "name": pod.metadata.name, "namespace": pod.metadata.namespace, "uid": pod.metadata.uid,
                ],
                "containers": containers.map { c, cu -> [String: Any] in
                    [
                        "name": c.name,
                        "startTime": dates.string(from: Date(timeIntervalSince1970: Double(c.startedAt) / 1e9)),
                        "cpu": cpu(cu, "container/" + c.id), "memory": memory(cu),
                    ]
                },
            ]
            if let u {
                e["cpu"] = cpu(u, "pod/" + pod.metadata.uid)
                e["memory"] = memory(u)
            }
            return e
        }
        let summary: [String: Any] = ["node": nodeEntry, "pods": podEntries]
        return Array((try? JSONSerialization.data(withJSONObject: summary, options: [.sortedKeys])) ?? Data())
    }

    /// Node, pod and container usage from their cgroups (containers under their pod's cgroup by ID,
    /// as containerd's cgroupfs driver places them).
    func resourceMetrics() -> String {
        let (node, usage) = usage()
        var pods: [ResourceMetrics.Pod] = []
        var containers: [ResourceMetrics.Container] = []
        for (pod, u, cs) in usage {
            if let u {
                pods.append(ResourceMetrics.Pod(namespace: pod.metadata.namespace, name: pod.metadata.name, usage: u))
            }
            for (c, cu) in cs {
                containers.append(
                    ResourceMetrics.Container(
                        namespace: pod.metadata.namespace, pod: pod.metadata.name, name: c.name, usage: cu,
                        startTime: Double(c.startedAt) / 1e9))
            }
        }
        return ResourceMetrics.render(
            node: node, pods: pods, containers: containers,
            timestampMillis: Int64(kubelet.wallClock().timeIntervalSince1970 * 1000))
    }

    /// `/configz`: the configuration this kubelet runs with, in KubeletConfiguration's field names.
    func configz() -> [UInt8] {
        let o = kubelet.options
        let config: [String: Any] = [
            "kubeletconfig": [
                "kind": "KubeletConfiguration", "apiVersion": "kubelet.config.k8s.io/v1beta1",
                "clusterDNS": o.clusterDNS, "clusterDomain": o.clusterDomain, "cgroupRoot": o.cgroupRoot,
                "cgroupDriver": "cgroupfs", "podLogsDir": o.podLogsDir,
                "syncFrequency": "\(o.syncFrequency.components.seconds)s",
                "authentication": ["x509": ["clientCAFile": requireClientCertificate ? "set" : ""]],
            ] as [String: Any]
        ]
        return Array((try? JSONSerialization.data(withJSONObject: config, options: [.sortedKeys])) ?? Data())
    }

    // MARK: Lookups

    func pod(_ namespace: String, _ name: String, uid: String? = nil) -> CoreV1.Pod? {
        kubelet.kubeletPod(ObjectKey(namespace: namespace, name: name)).flatMap {
            uid == nil || $0.metadata.uid == uid ? $0 : nil
        }
    }

    /// The pod's sandboxes and containers as the runtime lists them now (the relist snapshot may be
    /// a second old: a container just reported running must be found).
    func runtimePod(_ pod: CoreV1.Pod) async -> RuntimePod? {
        if let fresh = try? await kubelet.runtimePod(pod) { return fresh }
        return kubelet.state.withLock { $0.snapshot[pod.metadata.uid] }
    }

    // MARK: Logs

    func containerLogs(namespace: String, pod name: String, container: String, _ request: HTTPRequest) async
        -> HTTPResponse
    {
        let opts: LogOptions
        do {
            opts = try LogOptions(query: request.query, now: kubelet.wallClock())
        } catch {
            return Self.text(.badRequest, "\(error)")
        }
        guard let pod = pod(namespace, name) else {
            return Self.text(.notFound, "pod \"\(name)\" in namespace \"\(namespace)\" not found")
        }
        let all =
            pod.spec.initContainers.map(\.name) + pod.spec.containers.map(\.name)
            + pod.spec.ephemeralContainers.map(\.ephemeralContainerCommon.name)
        guard all.contains(container) else {
            return Self.text(.notFound, "container \"\(container)\" in pod \"\(name)\" is not available")
        }
        let instances = await runtimePod(pod)?.instances(of: container) ?? []
        let chosen: RuntimeContainer
        if opts.previous {
            guard instances.count > 1 else {
                return Self.text(
                    .badRequest, "previous terminated container \"\(container)\" in pod \"\(name)\" not found")
            }
            chosen = instances[1]
        } else {
            guard let current = instances.first else {
                let reason = kubelet.state.withLock { $0.waiting[pod.metadata.uid]?[container]?.reason }
                return Self.text(
                    .badRequest,
                    "container \"\(container)\" in pod \"\(name)\" is waiting to start: \(reason ?? "ContainerCreating")"
                )
            }
            chosen = current
        }
        let path =
            RuntimeConfigs.podLogDir(pod, in: kubelet.options.podLogsDir) + "/\(container)/\(chosen.restartCount).log"
        let uid = pod.metadata.uid
        let id = chosen.id
        let follow = opts.follow && !opts.previous && chosen.state == .running
        var o = opts
        o.follow = follow
        let streamer = LogStreamer(path: path, options: o) { [kubelet] in
            kubelet.state.withLock { s in
                s.snapshot[uid]?.containers.contains { $0.id == id && $0.state == .running } ?? false
            }
        }
        return HTTPResponse(
            status: .ok, headers: ["Content-Type": "text/plain"], body: .stream(streamer.stream()))
    }

    // MARK: Exec, attach, port-forward

    static func flag(_ q: [String: String], _ k: String) -> Bool { q[k] == "1" || q[k] == "true" }

    func stream(
        _ kind: String, namespace: String, pod name: String, uid: String?, container: String, _ request: HTTPRequest
    ) async -> HTTPResponse {
        guard let pod = pod(namespace, name, uid: uid) else {
            return Self.text(.notFound, "pod \"\(name)\" in namespace \"\(namespace)\" not found")
        }
        guard
            let c = await runtimePod(pod)?.instances(of: container).first(where: { $0.state == .running })
        else {
            return Self.text(.notFound, "container not found (\"\(container)\")")
        }
        let q = request.query
        let url: String
        do {
            if kind == "exec" {
                var r = Runtime_V1_ExecRequest()
                r.containerID = c.id
                r.cmd = request.values("command")
                r.stdin = Self.flag(q, "input")
                r.stdout = Self.flag(q, "output")
                r.stderr = Self.flag(q, "error")
                r.tty = Self.flag(q, "tty")
                guard !r.cmd.isEmpty else { return Self.text(.badRequest, "you must specify at least 1 command") }
                url = try await kubelet.runtime.exec(r)
            } else {
                var r = Runtime_V1_AttachRequest()
                r.containerID = c.id
                r.stdin = Self.flag(q, "input")
                r.stdout = Self.flag(q, "output")
                r.stderr = Self.flag(q, "error")
                r.tty = Self.flag(q, "tty")
                url = try await kubelet.runtime.attach(r)
            }
        } catch {
            return Self.text(.internalServerError, Kubelet.describe(error))
        }
        return await proxy(to: url, request)
    }

    func portForward(namespace: String, pod name: String, uid: String?, _ request: HTTPRequest) async -> HTTPResponse {
        guard let pod = pod(namespace, name, uid: uid) else {
            return Self.text(.notFound, "pod \"\(name)\" in namespace \"\(namespace)\" not found")
        }
        guard let sandbox = await runtimePod(pod)?.sandboxes.first(where: { $0.state == .ready }) else {
            return Self.text(.notFound, "pod \"\(name)\" has no running sandbox")
        }
        var r = Runtime_V1_PortForwardRequest()
        r.podSandboxID = sandbox.id
        r.port = (request.query["port"] ?? "").split(separator: ",").compactMap { Int32($0) }
        do {
            return await proxy(to: try await kubelet.runtime.portForward(r), request)
        } catch {
            return Self.text(.internalServerError, Kubelet.describe(error))
        }
    }

    /// Sends the request on to the runtime's streaming URL; a 101 there becomes ours and the two
    /// connections are spliced, anything else is answered as the runtime answered.
    func proxy(to url: String, _ request: HTTPRequest) async -> HTTPResponse {
        guard let target = StreamTarget(url) else { return Self.text(.internalServerError, "bad streaming URL \(url)") }
        var headers = HTTPHeaders()
        for (k, v) in request.headers {
            switch k.lowercased() {
            case "host", "content-length", "authorization": continue
            default: headers.add(name: k, value: v)
            }
        }
        let backend: DialedResponse
        do {
            backend = try await HTTPDialer.open(
                host: target.host, port: target.port, tls: nil, method: request.method.rawValue,
                uri: target.pathAndQuery, headers: headers, body: request.body, group: group)
        } catch {
            return Self.text(.internalServerError, "streaming server: \(error)")
        }
        return backend.relayed()
    }
}

/// host, port and path of an `http://host:port/path` URL.
struct StreamTarget {
    var host: String
    var port: Int
    var pathAndQuery: String

    init?(_ url: String) {
        guard url.hasPrefix("http://") else { return nil }
        let rest = url.dropFirst("http://".count)
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        let authority = rest[..<slash]
        pathAndQuery = slash == rest.endIndex ? "/" : String(rest[slash...])
        if authority.hasPrefix("["), let close = authority.firstIndex(of: "]") {
            host = String(authority[authority.index(after: authority.startIndex)..<close])
            let after = authority[authority.index(after: close)...]
            port = after.hasPrefix(":") ? Int(after.dropFirst()) ?? 80 : 80
        } else if let colon = authority.lastIndex(of: ":") {
            host = String(authority[..<colon])
            port = Int(authority[authority.index(after: colon)...]) ?? 80
        } else {
            host = String(authority)
            port = 80
        }
    }
}
