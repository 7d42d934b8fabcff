import APIMachinery
import Foundation
@_exported import HTTPServing
import KubernetesAPI
import NIOSSL
import Storage
import StorageEtcd
import StorageSQLite

/// The API server's settings (upstream's flag names in the CLI).
public struct APIServerConfig: Sendable {
    public var dataDir: String
    public var bindAddress = "0.0.0.0"
    public var securePort = 6443
    public var advertiseAddress: String? = nil
    public var writeKubeconfig: String? = nil
    public var serviceClusterIPRange = "10.96.0.0/12"
    public var serviceNodePortRange: ClosedRange<Int> = 30000...32767
    public var featureGates = ""
    public var runtimeConfig = ""
    public var tlsCertFile: String? = nil
    public var tlsPrivateKeyFile: String? = nil
    public var clientCAFile: String? = nil
    public var tokenAuthFile: String? = nil
    /// The secret part of the node join token (`<data-dir>/token`): agents present it as a bearer token.
    public var agentToken: String? = nil
    /// Audit logging: both set, or none.
    public var auditPolicyFile: String? = nil
    public var auditLogPath: String? = nil
    public var anonymousAuth = true
    public var maxRequestsInflight = 400
    public var maxMutatingRequestsInflight = 200
    public var requestTimeoutSeconds = 60
    public var eventTTLSeconds: Int64 = 3600
    public var compactionInterval: Swift.Duration = .seconds(300)
    /// `--etcd-servers`: when set, etcd is the store instead of the embedded SQLite database.
    public var etcdServers: [String] = []
    public var etcdPrefix = "/registry"
    public var etcdCAFile: String? = nil
    public var etcdCertFile: String? = nil
    public var etcdKeyFile: String? = nil

    public init(dataDir: String) { self.dataDir = dataDir }
}

/// A running API server.
public final class APIServer: @unchecked Sendable {
    public let config: APIServerConfig
    public private(set) var port = 0
    public private(set) var kubeconfigPath: String? = nil
    /// PEM of the CA that signed the serving certificate, when the server made it (what components
    /// publish as the cluster's root CA).
    public private(set) var rootCAPEM: String? = nil
    /// The generated cluster CA's key (nil with `--tls-cert-file`): the in-process controller manager
    /// signs certificate requests with it, as k3s's does.
    public private(set) var caKeyPEM: String? = nil
    let storage: any StorageBackend
    private let closeStorage: @Sendable () -> Void
    let context: ServerContext
    let router: Router
    let http: HTTPServer
    private var compactor: Task<Void, Never>?
    private var reconciler: EndpointReconciler?

    public init(config: APIServerConfig) throws {
        self.config = config
        if config.etcdServers.isEmpty {
            try FileManager.default.createDirectory(atPath: config.dataDir + "/db", withIntermediateDirectories: true)
            let sqlite = try SQLiteStorage(path: config.dataDir + "/db/state.db")
            storage = sqlite
            closeStorage = { sqlite.close() }
        } else {
            var options = EtcdOptions(endpoints: config.etcdServers)
            options.caFile = config.etcdCAFile
            options.certFile = config.etcdCertFile
            options.keyFile = config.etcdKeyFile
            // The server's keys start with /registry; etcd holds them under --etcd-prefix.
            var prefix = config.etcdPrefix
            while prefix.hasSuffix("/") { prefix.removeLast() }
            options.keyPrefix = ("/registry", prefix)
            let etcd = try EtcdStorage(options: options)
            storage = etcd
            closeStorage = { etcd.close() }
        }
        var scheme = KubernetesAPI.scheme()
        try Self.applyRuntimeConfig(config.runtimeConfig, to: &scheme)
        let gates: FeatureGates
        do { gates = try FeatureGates(flag: config.featureGates) } catch {
            throw APIError.badRequest(error.description)
        }
        context = try ServerContext(
            store: storage, scheme: scheme, gates: gates, serviceCIDR: config.serviceClusterIPRange,
            nodePortRange: config.serviceNodePortRange, eventTTL: config.eventTTLSeconds)
        Registry.build(context)
        for s in context.stores.values {
            if let f = (s as? any CacheOwner)?.feedable { context.feeder.register(f) }
        }
        var tokens = try Self.loadTokens(config.tokenAuthFile)
        if let t = config.agentToken, !t.isEmpty {
            // Agents act as nodes; until RBAC they are masters too, as the built-in kubelet is.
            tokens[t] = UserInfo(
                name: "k8swift-agent", groups: ["system:nodes", "system:masters", "system:authenticated"])
        }
        router = Router(server: context, config: config, tokens: tokens, metrics: Metrics())
        switch (config.auditPolicyFile, config.auditLogPath) {
        case (let policy?, let path?): router.audit = try AuditLog(policyFile: policy, logPath: path)
        case (nil, nil): break
        default: throw APIError.badRequest("--audit-policy-file and --audit-log-path go together")
        }
        http = HTTPServer(responder: router, maxBodyBytes: 3 * 1024 * 1024)
    }

    /// `--runtime-config`: `api/all=true`, `api/beta=true`, `group/version=false`, `group/version` (true).
    static func applyRuntimeConfig(_ flag: String, to scheme: inout Scheme) throws {
        for item in flag.split(separator: ",") {
            let kv = item.split(separator: "=", maxSplits: 1).map { String($0).trimmingCharacters(in: .whitespaces) }
            let key = kv[0]
            let on: Bool
            if kv.count == 1 {
                on = true
            } else {
                guard let b = ["true": true, "false": false][kv[1].lowercased()] else {
                    throw APIError.badRequest("invalid value of \(key): \(kv[1])")
                }
                on = b
            }
            let all = Set(scheme.resources.values.map { GroupVersion(group: $0.group, version: $0.version) })
            switch key {
            case "api/all": for gv in all { scheme.setEnabled(gv, on) }
            case "api/alpha", "api/beta", "api/ga":
                let level = key.dropFirst(4)
                for gv in all {
                    let isAlpha = gv.version.contains("alpha")
                    let isBeta = gv.version.contains("beta")
                    if (level == "alpha" && isAlpha) || (level == "beta" && isBeta)
                        || (level == "ga" && !isAlpha && !isBeta)
                    {
                        scheme.setEnabled(gv, on)
                    }
                }
            default:
                let gvText = key.hasPrefix("api/") ? String(key.dropFirst(4)) : key
                guard let gv = GroupVersion(apiVersion: gvText), all.contains(gv) else {
                    throw APIError.badRequest("unknown api groups \(gvText)")
                }
                scheme.setEnabled(gv, on)
            }
        }
    }

    static func loadTokens(_ path: String?) throws -> [String: UserInfo] {
        guard let path else { return [:] }
        let text = try String(contentsOfFile: path, encoding: .utf8)
        var out: [String: UserInfo] = [:]
        for line in text.split(separator: "\n") where !line.trimmingCharacters(in: .whitespaces).isEmpty {
            let cols = CSV.split(String(line))
            guard cols.count >= 2 else { continue }
            let groups = cols.count > 3 ? cols[3].split(separator: ",").map(String.init) : []
            out[cols[0]] = UserInfo(
                name: cols[1], uid: cols.count > 2 ? cols[2] : "", groups: groups + ["system:authenticated"])
        }
        return out
    }

    /// Loads caches, bootstraps the cluster's default objects, and starts serving.
    public func start() async throws {
        // The store may still be coming up (etcd started beside us): wait for it, as upstream does.
        var attempts = 0
        while true {
            do {
                try await context.feeder.start()
                break
            } catch StorageError.unavailable(let message) where attempts < 60 {
                attempts += 1
                FileHandle.standardError.write(Data("waiting for storage: \(message)\n".utf8))
                try await Task.sleep(for: .seconds(1))
            }
        }
        // Custom resources of established definitions are served before the server is ready.
        await context.customResources.start()
        if let svc = context.stores[GroupResource(group: "", resource: "services")] as? ResourceStore<CoreV1.Service> {
            for e in svc.cache.snapshot(.everything).items {
                for ip in e.object.spec.clusterIPs { context.serviceIPs.markUsed(ip) }
                for p in e.object.spec.ports where p.nodePort > 0 { context.nodePorts.markUsed(Int(p.nodePort)) }
            }
        }
        let advertise = config.advertiseAddress ?? Self.defaultAdvertiseAddress(bind: config.bindAddress)
        try await Bootstrap.run(context, port: config.securePort)
        reconciler = EndpointReconciler(server: context, ip: advertise, port: config.securePort)
        await reconciler?.reconcile()
        reconciler?.start()
        let tls = try loadTLS(advertise: advertise)
        if config.tlsCertFile == nil {
            rootCAPEM = tls.caPEM
            caKeyPEM = tls.certs?.caKeyPEM
        }
        port = try await http.start(host: config.bindAddress, port: config.securePort, tls: tls.tls)
        router.serverAddress = "\(advertise):\(port)"
        if let path = config.writeKubeconfig, let certs = tls.certs {
            let host = config.bindAddress == "0.0.0.0" || config.bindAddress == "::" ? "127.0.0.1" : config.bindAddress
            try certs.writeKubeconfig(path: path, server: "https://\(host):\(port)")
            kubeconfigPath = path
        }
        try await startAggregation(clientCAPEM: tls.caPEM)
        router.ready.store(true, ordering: .releasing)
        let interval = config.compactionInterval
        let store = storage
        compactor = Task.detached {
            var round = CompactionRound()
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                if let next = try? await store.compactionRound(round) { round = next }
            }
        }
    }

    /// Aggregation: the front proxy's client certificate for extension servers, and the
    /// `kube-system/extension-apiserver-authentication` ConfigMap they read to trust it (upstream's
    /// keys), then the APIService availability controller.
    func startAggregation(clientCAPEM: String) async throws {
        let kubeletClient = try ClusterCertificates.loadOrCreateKubeletClient(dir: config.dataDir)
        try context.connections.useClientCertificate(certPEM: kubeletClient.certPEM, keyPEM: kubeletClient.keyPEM)
        let proxy = try ClusterCertificates.loadOrCreateFrontProxy(dir: config.dataDir)
        context.aggregator.identity.withLock { $0 = Aggregator.Identity(certPEM: proxy.certPEM, keyPEM: proxy.keyPEM) }
        if let configMaps = context.stores[GroupResource(group: "", resource: "configmaps")]
            as? ResourceStore<CoreV1.ConfigMap>
        {
            let data: [String: String] = [
                "client-ca-file": clientCAPEM,
                "requestheader-allowed-names": "[\"front-proxy-client\"]",
                "requestheader-client-ca-file": proxy.caPEM,
                "requestheader-extra-headers-prefix": "[\"X-Remote-Extra-\"]",
                "requestheader-group-headers": "[\"X-Remote-Group\"]",
                "requestheader-uid-headers": "[\"X-Remote-Uid\"]",
                "requestheader-username-headers": "[\"X-Remote-User\"]",
            ]
            _ = try await configMaps.updateObject(
                namespace: "kube-system", name: "extension-apiserver-authentication", subresource: "",
                createIfMissing: true
            ) { old in
                var cm = old
                cm.metadata.name = "extension-apiserver-authentication"
                cm.metadata.namespace = "kube-system"
                cm.data = data
                cm.metadata.resourceVersion = ""
                return cm
            }
        }
        context.aggregator.start()
    }

    /// Answers a request made inside this process (the in-process transport of components that run in
    /// the server): the same authentication, authorization, admission, validation and watch path as a
    /// request over HTTPS, without TLS or sockets.
    public func handle(_ request: HTTPRequest) async -> HTTPResponse {
        await router.respond(to: request)
    }

    public func stop() async {
        compactor?.cancel()
        await reconciler?.stop()
        await http.stop()
        context.customResources.stop()
        context.aggregator.stop()
        context.feeder.stop()
        closeStorage()
    }

    struct LoadedTLS {
        var tls: HTTPServer.TLS
        var certs: ClusterCertificates?
        var caPEM: String
    }

    func loadTLS(advertise: String) throws -> LoadedTLS {
        var certs: ClusterCertificates? = nil
        let chain: [NIOSSLCertificate]
        let key: NIOSSLPrivateKey
        var clientCAs: [NIOSSLCertificate] = []
        let dns =
            [
                "localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
            ] + [ProcessInfo.processInfo.hostName]
        var ips = ["127.0.0.1", context.serviceIPs.first, advertise]
        if config.bindAddress != "0.0.0.0" && config.bindAddress != "::" { ips.append(config.bindAddress) }
        let generated = try ClusterCertificates.loadOrCreate(
            dir: config.dataDir, dnsNames: Array(Set(dns)).sorted(), ipAddresses: Array(Set(ips)).sorted())
        if let certFile = config.tlsCertFile, let keyFile = config.tlsPrivateKeyFile {
            chain = try NIOSSLCertificate.fromPEMFile(certFile)
            key = try NIOSSLPrivateKey(file: keyFile, format: .pem)
        } else {
            chain = try NIOSSLCertificate.fromPEMBytes(Array(generated.servingPEM.utf8))
            key = try NIOSSLPrivateKey(bytes: Array(generated.servingKeyPEM.utf8), format: .pem)
            certs = generated
        }
        if let ca = config.clientCAFile {
            clientCAs = try NIOSSLCertificate.fromPEMFile(ca)
        } else {
            clientCAs = try NIOSSLCertificate.fromPEMBytes(Array(generated.caPEM.utf8))
        }
        if certs == nil && config.clientCAFile == nil { certs = generated }
        return LoadedTLS(
            tls: HTTPServer.TLS(certificateChain: chain, privateKey: key, clientCAs: clientCAs), certs: certs,
            caPEM: generated.caPEM)
    }

    /// The address other components reach this server at: the bind address, or the first
    /// non-loopback IPv4 address of the machine.
    static func defaultAdvertiseAddress(bind: String) -> String {
        if bind != "0.0.0.0" && bind != "::" { return bind }
        var addrs: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&addrs) == 0, let first = addrs else { return "127.0.0.1" }
        defer { freeifaddrs(addrs) }
        var p: UnsafeMutablePointer<ifaddrs>? = first
        while let cur = p {
            if let sa = cur.pointee.ifa_addr, sa.pointee.sa_family == UInt16(AF_INET) {
                var addr = sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr }
                var buf = [CChar](repeating: 0, count: 64)
                inet_ntop(AF_INET, &addr, &buf, 64)
                let s = String(cString: buf)
                if !s.hasPrefix("127.") { return s }
            }
            p = cur.pointee.ifa_next
        }
        return "127.0.0.1"
    }
}

/// A store whose cache the feeder fills.
protocol CacheOwner {
    var feedable: any FeedableCache { get }
    var stats: (objects: Int, watchers: Int) { get }
}

extension ResourceStore: CacheOwner {
    var feedable: any FeedableCache { cache }
    var stats: (objects: Int, watchers: Int) { (cache.count, cache.watcherCount) }
}

enum CSV {
    /// Splits one CSV line (double quotes group commas).
    static func split(_ line: String) -> [String] {
        var out: [String] = []
        var cur = ""
        var quoted = false
        for ch in line {
            if ch == "\"" {
                quoted.toggle()
            } else if ch == "," && !quoted {
                out.append(cur)
                cur = ""
            } else {
                cur.append(ch)
            }
        }
        out.append(cur)
        return out.map { $0.trimmingCharacters(in: .whitespaces) }
    }
}

/// The objects every cluster has: the default namespaces and the `kubernetes` Service with its
/// Endpoints and EndpointSlice pointing at this server.
enum Bootstrap {
    static func run(_ server: ServerContext, port: Int) async throws {
        let nsStore = server.namespaces
        for name in ["default", "kube-system", "kube-public", "kube-node-lease"] where nsStore.current("", name) == nil
        {
            var ns = CoreV1.Namespace()
            ns.metadata.name = name
            _ = try? await nsStore.createObject(ns)
        }
        if let pcStore = server.stores[GroupResource(group: "scheduling.k8s.io", resource: "priorityclasses")]
            as? ResourceStore<SchedulingV1.PriorityClass>
        {
            for sys in PriorityAdmission.systemClasses where pcStore.current("", sys.name) == nil {
                var pc = SchedulingV1.PriorityClass()
                pc.metadata.name = sys.name
                pc.value = sys.value
                pc.description = sys.description
                pc.preemptionPolicy = "PreemptLowerPriority"
                _ = try? await pcStore.createObject(pc)
            }
        }
        if let svcStore = server.stores[GroupResource(group: "", resource: "services")]
            as? ResourceStore<CoreV1.Service>,
            svcStore.current("default", "kubernetes") == nil
        {
            var svc = CoreV1.Service()
            svc.metadata.name = "kubernetes"
            svc.metadata.namespace = "default"
            svc.metadata.labels = ["component": "apiserver", "provider": "kubernetes"]
            svc.spec.clusterIP = server.serviceIPs.first
            svc.spec.ports = [
                CoreV1.ServicePort(name: "https", protocol: "TCP", port: 443, targetPort: .int(Int32(port)))
            ]
            svc.spec.type = "ClusterIP"
            svc.spec.sessionAffinity = "None"
            svc.applyDefaults()
            _ = try? await svcStore.createObject(svc)
        }
    }

    /// Points the `kubernetes` Endpoints and EndpointSlice at the API servers at `ips` on `port`.
    static func setKubernetesEndpoints(_ server: ServerContext, ips: [String], port: Int) async {
        if let epStore = server.stores[GroupResource(group: "", resource: "endpoints")]
            as? ResourceStore<CoreV1.Endpoints>
        {
            var ep = CoreV1.Endpoints()
            ep.metadata.name = "kubernetes"
            ep.metadata.namespace = "default"
            ep.metadata.labels = ["endpointslice.kubernetes.io/skip-mirror": "true"]
            ep.subsets = [
                CoreV1.EndpointSubset(
                    addresses: ips.map { CoreV1.EndpointAddress(ip: $0) },
                    ports: [CoreV1.EndpointPort(name: "https", port: Int32(port), protocol: "TCP")])
            ]
            if let cur = try? await epStore.freshCurrent("default", "kubernetes") {
                if cur.object.subsets != ep.subsets {
                    _ = try? await epStore.updateObject(namespace: "default", name: "kubernetes", subresource: "") {
                        old in
                        var o = old
                        o.subsets = ep.subsets
                        return o
                    }
                }
            } else {
                _ = try? await epStore.createObject(ep)
            }
        }
        if let sliceStore = server.stores[GroupResource(group: "discovery.k8s.io", resource: "endpointslices")]
            as? ResourceStore<DiscoveryV1.EndpointSlice>
        {
            var es = DiscoveryV1.EndpointSlice()
            es.metadata.name = "kubernetes"
            es.metadata.namespace = "default"
            // Upstream's kube-apiserver labels it with the service name only (no managed-by).
            es.metadata.labels = ["kubernetes.io/service-name": "kubernetes"]
            es.addressType = "IPv4"
            es.endpoints = ips.map {
                DiscoveryV1.Endpoint(addresses: [$0], conditions: DiscoveryV1.EndpointConditions(ready: true))
            }
            es.ports = [DiscoveryV1.EndpointPort(name: "https", protocol: "TCP", port: Int32(port))]
            if let cur = try? await sliceStore.freshCurrent("default", "kubernetes") {
                if cur.object.endpoints != es.endpoints || cur.object.ports != es.ports
                    || cur.object.metadata.labels != es.metadata.labels
                {
                    _ = try? await sliceStore.updateObject(namespace: "default", name: "kubernetes", subresource: "") {
                        old in
                        var o = old
                        o.endpoints = es.endpoints
                        o.ports = es.ports
                        o.metadata.labels = es.metadata.labels
                        return o
                    }
                }
            } else {
                _ = try? await sliceStore.createObject(es)
            }
        }
    }
}
