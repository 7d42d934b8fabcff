import APIMachinery
import APIServer
import ArgumentParser
import Foundation
import KubeClient
import Kubelet
import Proxy
import Scheduler
import Synchronization

/// Flags shared by `server` and `kube-apiserver` (upstream's names).
struct APIServerFlags: ParsableArguments {
    @Option(
        name: .customLong("data-dir"), help: "Where state is kept (default /var/lib/k8swift as root, else ~/.k8swift).")
    var dataDir: String?
    @Option(name: .customLong("bind-address"), help: "The IP address to listen on.")
    var bindAddress = "0.0.0.0"
    @Option(name: .customLong("secure-port"), help: "The HTTPS port.")
    var securePort = 6443
    @Option(name: .customLong("advertise-address"), help: "The IP address advertised to the cluster.")
    var advertiseAddress: String?
    @Option(name: .customLong("write-kubeconfig"), help: "Write an admin kubeconfig to this path.")
    var writeKubeconfig: String?
    @Option(name: .customLong("service-cluster-ip-range"), help: "CIDR of service cluster IPs.")
    var serviceClusterIPRange = "10.96.0.0/12"
    @Option(name: .customLong("service-node-port-range"), help: "Port range of NodePort services, e.g. 30000-32767.")
    var serviceNodePortRange = "30000-32767"
    @Option(name: .customLong("feature-gates"), help: "Feature gates, e.g. A=true,B=false.")
    var featureGates = ""
    @Option(name: .customLong("runtime-config"), help: "API versions to enable or disable, e.g. api/all=true.")
    var runtimeConfig = ""
    @Option(name: .customLong("tls-cert-file"), help: "Serving certificate (PEM).")
    var tlsCertFile: String?
    @Option(name: .customLong("tls-private-key-file"), help: "Serving key (PEM).")
    var tlsPrivateKeyFile: String?
    @Option(name: .customLong("client-ca-file"), help: "CA bundle that verifies client certificates.")
    var clientCAFile: String?
    @Option(name: .customLong("token-auth-file"), help: "Static tokens: token,user,uid,\"group1,group2\".")
    var tokenAuthFile: String?
    @Option(
        name: .customLong("audit-policy-file"), help: "Audit policy (audit.k8s.io/v1 Policy); enables audit logging.")
    var auditPolicyFile: String?
    @Option(
        name: .customLong("audit-log-path"), help: "Where audit events go, one JSON line each ('-': standard output).")
    var auditLogPath: String?
    @Option(name: .customLong("anonymous-auth"), help: "Allow anonymous requests (true|false).")
    var anonymousAuth = "true"
    @Option(name: .customLong("max-requests-inflight"), help: "Limit of concurrent non-mutating requests.")
    var maxRequestsInflight = 400
    @Option(name: .customLong("max-mutating-requests-inflight"), help: "Limit of concurrent mutating requests.")
    var maxMutatingRequestsInflight = 200
    @Option(name: .customLong("request-timeout"), help: "Request timeout, e.g. 1m0s.")
    var requestTimeout = "1m0s"
    @Option(name: .customLong("event-ttl"), help: "How long events are kept, e.g. 1h0m0s.")
    var eventTTL = "1h0m0s"
    @Option(name: .customLong("etcd-compaction-interval"), help: "How often old revisions are compacted, e.g. 5m0s.")
    var compactionInterval = "5m0s"
    @Option(
        name: .customLong("etcd-servers"),
        help: "etcd servers to use instead of the embedded SQLite store (scheme://ip:port, comma separated).")
    var etcdServers = ""
    @Option(name: .customLong("etcd-prefix"), help: "The prefix of every key in etcd.")
    var etcdPrefix = "/registry"
    @Option(name: .customLong("etcd-cafile"), help: "CA file that verifies etcd's serving certificates.")
    var etcdCAFile: String?
    @Option(name: .customLong("etcd-certfile"), help: "Client certificate for etcd (TLS).")
    var etcdCertFile: String?
    @Option(name: .customLong("etcd-keyfile"), help: "Client key for etcd (TLS).")
    var etcdKeyFile: String?

    func validate() throws {
        guard ["true", "false"].contains(anonymousAuth.lowercased()) else {
            throw ValidationError(
                "invalid argument \"\(anonymousAuth)\" for \"--anonymous-auth\" flag: strconv.ParseBool: parsing \"\(anonymousAuth)\": invalid syntax"
            )
        }
        guard nodePortRange != nil else {
            throw ValidationError("invalid argument \"\(serviceNodePortRange)\" for \"--service-node-port-range\" flag")
        }
        guard Self.goDuration(requestTimeout) != nil else {
            throw ValidationError(
                "invalid argument \"\(requestTimeout)\" for \"--request-timeout\" flag: time: invalid duration")
        }
        guard Self.goDuration(eventTTL) != nil else {
            throw ValidationError("invalid argument \"\(eventTTL)\" for \"--event-ttl\" flag: time: invalid duration")
        }
        guard let ci = Self.goDuration(compactionInterval), ci > 0 else {
            throw ValidationError(
                "invalid argument \"\(compactionInterval)\" for \"--etcd-compaction-interval\" flag: time: invalid duration"
            )
        }
        guard etcdPrefix.hasPrefix("/") else {
            throw ValidationError("--etcd-prefix \"\(etcdPrefix)\" must begin with /")
        }
        if (etcdCertFile == nil) != (etcdKeyFile == nil) {
            throw ValidationError("--etcd-certfile and --etcd-keyfile must be given together")
        }
        guard (1...65535).contains(securePort) else {
            throw ValidationError("--secure-port \(securePort) must be between 1 and 65535")
        }
    }

    var nodePortRange: ClosedRange<Int>? {
        let p = serviceNodePortRange.split(separator: "-").compactMap { Int($0) }
        if p.count == 1 { return p[0]...p[0] }
        guard p.count == 2, p[0] <= p[1] else { return nil }
        return p[0]...p[1]
    }

    /// Seconds of a Go duration (`1h0m0s`, `30s`, `1.5m`).
    static func goDuration(_ s: String) -> Double? {
        var total = 0.0
        var num = ""
        var rest = Substring(s)
        if rest.isEmpty { return nil }
        if rest == "0" { return 0 }
        while !rest.isEmpty {
            num = String(rest.prefix { $0.isNumber || $0 == "." })
            rest = rest.dropFirst(num.count)
            let unit = String(rest.prefix { !$0.isNumber && $0 != "." })
            rest = rest.dropFirst(unit.count)
            guard let n = Double(num) else { return nil }
            switch unit {
            case "h": total += n * 3600
            case "m": total += n * 60
            case "s": total += n
            case "ms": total += n / 1000
            default: return nil
            }
        }
        return total
    }

    func config(defaultKubeconfig: Bool) -> APIServerConfig {
        let dir = dataDirectory
        var c = APIServerConfig(dataDir: dir)
        c.bindAddress = bindAddress
        c.securePort = securePort
        c.advertiseAddress = advertiseAddress
        c.writeKubeconfig = writeKubeconfig ?? (defaultKubeconfig ? dir + "/kubeconfig.yaml" : nil)
        c.serviceClusterIPRange = serviceClusterIPRange
        c.serviceNodePortRange = nodePortRange!
        c.featureGates = featureGates
        c.runtimeConfig = runtimeConfig
        c.tlsCertFile = tlsCertFile
        c.tlsPrivateKeyFile = tlsPrivateKeyFile
        c.clientCAFile = clientCAFile
        c.tokenAuthFile = tokenAuthFile
        c.auditPolicyFile = auditPolicyFile
        c.auditLogPath = auditLogPath
        c.anonymousAuth = anonymousAuth.lowercased() == "true"
        c.maxRequestsInflight = maxRequestsInflight
        c.maxMutatingRequestsInflight = maxMutatingRequestsInflight
        c.requestTimeoutSeconds = Int(Self.goDuration(requestTimeout) ?? 60)
        c.eventTTLSeconds = Int64(Self.goDuration(eventTTL) ?? 3600)
        c.compactionInterval = .milliseconds(Int64((Self.goDuration(compactionInterval) ?? 300) * 1000))
        c.etcdServers = etcdServers.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
        c.etcdPrefix = etcdPrefix
        c.etcdCAFile = etcdCAFile
        c.etcdCertFile = etcdCertFile
        c.etcdKeyFile = etcdKeyFile
        return c
    }

    var dataDirectory: String { dataDir ?? (getuid() == 0 ? "/var/lib/k8swift" : NSHomeDirectory() + "/.k8swift") }

    func run(
        defaultKubeconfig: Bool, agentToken: String? = nil,
        components: @escaping @Sendable (APIServer) async throws -> Void = { _ in }
    )
        async throws
    {
        var c = config(defaultKubeconfig: defaultKubeconfig)
        c.agentToken = agentToken
        let server = try APIServer(config: c)
        do {
            try await server.start()
        } catch {
            FileHandle.standardError.write(Data("k8swift: \(error)\n".utf8))
            throw ExitCode(1)
        }
        if let agentToken, let ca = server.rootCAPEM {
            try NodeToken(caPEM: ca, secret: agentToken).write(to: dataDirectory + "/token")
        }
        print("k8swift API server listening on https://\(bindAddress):\(server.port)")
        if let kc = server.kubeconfigPath { print("kubeconfig: \(kc)") }
        Residency.releaseStartupPages()
        fflush(nil)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await components(server) }
            group.addTask {
                // Again once the components have started and synced their caches (their start-up
                // pages: discovery, first lists), which takes a few seconds.
                for delay in [2, 8] {
                    try await Task.sleep(for: .seconds(delay))
                    Residency.releaseStartupPages()
                }
                while true { try await Task.sleep(for: .seconds(3600)) }
            }
            try await group.next()
            try await group.next()
        }
    }
}

/// The components `k8swift server` runs beside the API server, and `--disable` to leave some out.
enum ServerComponent: String, CaseIterable {
    case controllerManager = "controller-manager"
    case scheduler
    case kubelet
    case kubeProxy = "kube-proxy"
    case clusterDNS = "cluster-dns"

    /// `--disable` values: repeatable, each a comma-separated list.
    static func parse(_ values: [String]) throws -> Set<ServerComponent> {
        var out: Set<ServerComponent> = []
        for v in values {
            for name in v.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !name.isEmpty {
                guard let c = ServerComponent(rawValue: name) else {
                    throw ValidationError(
                        "--disable: unknown component \"\(name)\" (known: \(allCases.map(\.rawValue).joined(separator: ", ")))"
                    )
                }
                out.insert(c)
            }
        }
        return out
    }
}

struct Server: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the control plane (the API server and the controller manager) and write a kubeconfig.")
    @OptionGroup var flags: APIServerFlags
    @Option(
        name: .customLong("disable"),
        help:
            "Components not to run (repeatable, comma-separated): controller-manager, scheduler, kubelet, kube-proxy, cluster-dns."
    )
    var disable: [String] = []
    @Option(
        name: .customLong("kube-controller-manager-arg"),
        help: "A flag for the built-in controller manager, as k3s takes it: name=value (repeatable).")
    var controllerManagerArgs: [String] = []
    @Option(
        name: .customLong("kube-scheduler-arg"),
        help: "A flag for the built-in scheduler, as k3s takes it: name=value (repeatable).")
    var schedulerArgs: [String] = []
    @Option(
        name: .customLong("token"),
        help: "The secret agents join with (default: the one in <data-dir>/token, made on first start).")
    var token: String?

    @Option(
        name: .customLong("kubelet-arg"),
        help: "A flag for the built-in kubelet, as k3s takes it: name=value (repeatable).")
    var kubeletArgs: [String] = []
    @Option(
        name: .customLong("kube-proxy-arg"),
        help: "A flag for the built-in kube-proxy, as k3s takes it: name=value (repeatable).")
    var kubeProxyArgs: [String] = []

    func validate() throws {
        _ = try ServerComponent.parse(disable)
        _ = try Self.controllerManagerFlags(controllerManagerArgs, sharedStore: !flags.etcdServers.isEmpty)
        _ = try Self.schedulerConfiguration(schedulerArgs, sharedStore: !flags.etcdServers.isEmpty)
    }

    func run() async throws {
        let disabled = try ServerComponent.parse(disable)
        let kcm = try Self.controllerManagerFlags(controllerManagerArgs, sharedStore: !flags.etcdServers.isEmpty)
        let sched = try Self.schedulerConfiguration(schedulerArgs, sharedStore: !flags.etcdServers.isEmpty)
        let node = try Self.kubeletOptions(
            kubeletArgs, dataDir: flags.dataDirectory, serviceCIDR: flags.serviceClusterIPRange)
        let token = try NodeToken.secret(dataDir: flags.dataDirectory, given: self.token)
        let proxy = try Self.kubeProxyOptions(
            kubeProxyArgs, nodeName: node.nodeName, clusterCIDR: kcm.clusterCIDR,
            serviceCIDR: flags.serviceClusterIPRange)
        // With a shutdown grace period the node's pods end before the control plane goes (the kubelet's
        // own signal handling); without one a signal ends the process at once, as before.
        let shutdown = ServerShutdown()
        let signals =
            node.shutdown.enabled && !disabled.contains(.kubelet) ? ShutdownSignals { await shutdown.run() } : nil
        defer { signals?.cancel() }
        try await flags.run(defaultKubeconfig: true, agentToken: token) { server in
            shutdown.server.withLock { $0 = server }
            try await withThrowingTaskGroup(of: Void.self) { group in
                if !disabled.contains(.controllerManager) {
                    group.addTask { try await Self.runControllerManager(in: server, flags: kcm) }
                }
                if !disabled.contains(.scheduler) {
                    group.addTask { try await Self.runScheduler(in: server, configuration: sched) }
                }
                if !disabled.contains(.kubelet) {
                    group.addTask {
                        try await Self.runKubelet(in: server, node: node) { n in shutdown.node.withLock { $0 = n } }
                    }
                }
                // The proxy programs the node's Service rules and cluster DNS answers its pods (on the
                // node's address): both run where the node does.
                let nodeRuns = !disabled.contains(.kubelet) && KubeletNode.unavailable(node) == nil
                if nodeRuns && !disabled.contains(.kubeProxy) {
                    group.addTask { await Self.runKubeProxy(in: server, options: proxy) }
                }
                if nodeRuns && !disabled.contains(.clusterDNS) {
                    group.addTask { try await Self.runClusterDNS(in: server, node: node) }
                }
                try await group.waitForAll()
            }
        }
    }

    /// The built-in node's options: the data dir's `agent` directory, cluster DNS at the service
    /// range's 10th address, then `--kubelet-arg` values.
    static func kubeletOptions(_ args: [String], dataDir: String, serviceCIDR: String) throws -> KubeletNode.Options {
        var defaults = ["--root-dir=\(dataDir)/agent", "--client-ca-file=\(dataDir)/tls/ca.crt"]
        if let dns = tenthAddress(serviceCIDR) { defaults.append("--cluster-dns=\(dns)") }
        let flags = try KubeletFlags.parse(defaults + args.map { $0.hasPrefix("--") ? $0 : "--" + $0 })
        return try flags.options(defaultName: ProcessInfo.processInfo.hostName)
    }

    /// The 10th address of an IPv4 range (upstream's kube-dns Service IP), nil for others.
    static func tenthAddress(_ cidr: String) -> String? {
        let ip = cidr.split(separator: "/").first.map(String.init) ?? cidr
        let octets = ip.split(separator: ".").compactMap { UInt32($0) }
        guard octets.count == 4, octets.allSatisfy({ $0 < 256 }) else { return nil }
        let v = (octets[0] << 24 | octets[1] << 16 | octets[2] << 8 | octets[3]) &+ 10
        return "\(v >> 24).\(v >> 16 & 255).\(v >> 8 & 255).\(v & 255)"
    }

    /// The node inside the server: its own identity (`system:node:<name>`), requests through the
    /// in-process transport. Without root or the node packages the control plane runs on and says
    /// that the node is off.
    static func runKubelet(
        in server: APIServer, node: KubeletNode.Options, made: @Sendable (KubeletNode) -> Void = { _ in }
    ) async throws {
        let say: @Sendable (String) -> Void = { line in
            FileHandle.standardError.write(Data("kubelet: \(line)\n".utf8))
        }
        if let why = KubeletNode.unavailable(node) {
            say("the node is off: \(why) (the control plane runs without it; --disable kubelet hides this)")
            return
        }
        var config = ClientConfig(server: "https://in-process")
        config.qps = 0
        config.userAgent = "kubelet/\(K8swiftVersion.info.gitVersion) k8swift (in-process)"
        let transport = InProcessTransport(
            server: server, user: "system:node:\(node.nodeName)",
            groups: ["system:nodes", "system:masters", "system:authenticated"])
        let client = try KubeClient(config: config, transport: transport)
        let kubelet = KubeletNode(client: client, options: node, log: say)
        made(kubelet)
        do {
            try await kubelet.run()
        } catch is CancellationError {
        } catch {
            say("the node stopped: \(error)")
        }
    }

    /// The built-in kube-proxy's options: the node's name, the controller manager's cluster CIDR and
    /// the service range (traffic to unallocated ClusterIPs there is dropped), then
    /// `--kube-proxy-arg` values.
    static func kubeProxyOptions(_ args: [String], nodeName: String, clusterCIDR: String, serviceCIDR: String) throws
        -> KubeProxy.Options
    {
        let flags = try KubeProxyFlags.builtIn(
            args, defaults: ["--hostname-override=\(nodeName)", "--cluster-cidr=\(clusterCIDR)"])
        var (options, _) = try flags.options(defaultHostname: nodeName)
        options.serviceCIDRs = KubeProxyFlags.list(serviceCIDR)
        return options
    }

    /// The proxy inside the server: its own identity (`system:kube-proxy`), requests through the
    /// in-process transport.
    static func runKubeProxy(in server: APIServer, options: KubeProxy.Options) async {
        var config = ClientConfig(server: "https://in-process")
        config.qps = 0
        config.userAgent = "kube-proxy/\(K8swiftVersion.info.gitVersion) k8swift (in-process)"
        let transport = InProcessTransport(
            server: server, user: "system:kube-proxy",
            groups: ["system:node-proxier", "system:masters", "system:authenticated"])
        guard let client = try? KubeClient(config: config, transport: transport) else { return }
        await KubeProxyFlags.runBuiltIn(client: client, options: options)
    }

    /// The built-in scheduler's configuration: upstream's defaults (or `config=FILE`), then
    /// `--kube-scheduler-arg` flags; leader election only on a shared store, as the controller manager.
    static func schedulerConfiguration(_ args: [String], sharedStore: Bool) throws -> SchedulerConfiguration {
        let defaults = ["--leader-elect=\(sharedStore)"]
        let flags = try SchedulerFlags.parse(defaults + args.map { $0.hasPrefix("--") ? $0 : "--" + $0 })
        return try flags.configuration()
    }

    /// The scheduler inside the server: its own user, requests through the in-process transport,
    /// no client rate limit (the server's inflight limits apply).
    static func runScheduler(in server: APIServer, configuration: SchedulerConfiguration) async throws {
        var config = ClientConfig(server: "https://in-process")
        config.qps = 0
        config.userAgent = "kube-scheduler/\(K8swiftVersion.info.gitVersion) k8swift (in-process)"
        let transport = InProcessTransport(
            server: server, user: "system:kube-scheduler", groups: ["system:masters", "system:authenticated"])
        let client = try KubeClient(config: config, transport: transport)
        let holder = SchedulerHolder()
        try await SchedulerFlags.run(
            client: client, configuration: configuration, health: SchedulerFlags.health(holder), holder: holder)
    }

    /// The built-in controller manager's flags: k3s's defaults (pod CIDRs from 10.42.0.0/16, no
    /// secure port), then `--kube-controller-manager-arg` values. Leader election only where several
    /// servers can share the store (etcd): the embedded SQLite store has one server, and renewing a
    /// lease every 2 s would be a write, and a round through the whole request path, for nothing.
    static func controllerManagerFlags(_ args: [String], sharedStore: Bool) throws -> ControllerManagerFlags {
        let defaults = ["--allocate-node-cidrs=true", "--secure-port=0", "--leader-elect=\(sharedStore)"]
        let flags = try ControllerManagerFlags.parse(defaults + args.map { $0.hasPrefix("--") ? $0 : "--" + $0 })
        try flags.validate()
        return flags
    }

    /// The controller manager inside the server: upstream's defaults, its own user, requests through
    /// the in-process transport. Its client is not rate-limited: the server's inflight limits apply.
    static func runControllerManager(in server: APIServer, flags: ControllerManagerFlags) async throws {
        var config = ClientConfig(server: "https://in-process")
        config.qps = 0
        config.userAgent = "kube-controller-manager/\(K8swiftVersion.info.gitVersion) k8swift (in-process)"
        // Until RBAC exists (the security issue), components act with the masters group.
        let transport = InProcessTransport(
            server: server, user: "system:kube-controller-manager", groups: ["system:masters", "system:authenticated"])
        let client = try KubeClient(config: config, transport: transport)
        let signing = server.rootCAPEM.flatMap { ca in server.caKeyPEM.map { (ca, $0) } }
        try await flags.runControllers(
            client: client, rootCA: server.rootCAPEM.map { Array($0.utf8) }, signing: signing,
            health: ControllerManagerHealth())
    }
}

/// What `server` ends on SIGTERM/SIGINT when its node shuts down gracefully: the node's pods first,
/// while the API server still takes their final statuses and the Node's NotReady, then the API server
/// (its endpoint withdrawn, its store closed).
final class ServerShutdown: Sendable {
    let node = Mutex<KubeletNode?>(nil)
    let server = Mutex<APIServer?>(nil)

    func run() async {
        if let node = node.withLock({ $0 }) { await node.shutDown() }
        guard let server = server.withLock({ $0 }) else { return }
        // At most 10 s: a connection that does not close must not keep the process from exiting (a
        // task group would wait for the stop even once cancelled).
        let resumed = ShutdownSignals.Fired()
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let once: @Sendable () -> Void = {
                if resumed.value.withLock({ r in
                    defer { r = true }
                    return !r
                }) {
                    c.resume()
                }
            }
            Task {
                await server.stop()
                once()
            }
            Task {
                try? await Task.sleep(for: .seconds(10))
                once()
            }
        }
    }
}

struct KubeAPIServer: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kube-apiserver", abstract: "Run the Kubernetes API server alone.")
    @OptionGroup var flags: APIServerFlags

    func run() async throws { try await flags.run(defaultKubeconfig: false) }
}
