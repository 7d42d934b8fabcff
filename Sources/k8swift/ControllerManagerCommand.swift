import APIMachinery
import APIServer
import ArgumentParser
import ControllerRuntime
import Controllers
import Foundation
import KubeClient
import NIOHTTP1
import NIOSSL
import Synchronization

/// kube-controller-manager's flags (upstream's names and defaults, where they apply).
struct ControllerManagerFlags: ParsableArguments {
    @Option(name: .customLong("kubeconfig"), help: "Path to a kubeconfig file with the server and credentials.")
    var kubeconfig: String?
    @Option(name: .customLong("master"), help: "The API server's address (overrides the kubeconfig's).")
    var master: String?
    @Option(
        name: .customLong("controllers"),
        help: "Controllers to run: '*' for the default ones, 'foo' to enable, '-foo' to disable (upstream's names).")
    var controllers = "*"
    @Option(name: .customLong("leader-elect"), help: "Take a leader lease before running controllers (true|false).")
    var leaderElect = "true"
    @Option(name: .customLong("leader-elect-lease-duration"), help: "How long a lease lasts without renewal.")
    var leaseDuration = "15s"
    @Option(name: .customLong("leader-elect-renew-deadline"), help: "How long the leader tries to renew.")
    var renewDeadline = "10s"
    @Option(name: .customLong("leader-elect-retry-period"), help: "How often candidates try.")
    var retryPeriod = "2s"
    @Option(name: .customLong("leader-elect-resource-lock"), help: "Only 'leases'.")
    var resourceLock = "leases"
    @Option(name: .customLong("leader-elect-resource-name"), help: "The Lease's name.")
    var resourceName = "kube-controller-manager"
    @Option(name: .customLong("leader-elect-resource-namespace"), help: "The Lease's namespace.")
    var resourceNamespace = "kube-system"
    @Option(name: .customLong("kube-api-qps"), help: "Requests per second to the API server.")
    var qps: Double = 20
    @Option(name: .customLong("kube-api-burst"), help: "Burst of requests to the API server.")
    var burst = 30
    @Option(name: .customLong("kube-api-content-type"), help: "Content type of requests.")
    var contentType = "application/vnd.kubernetes.protobuf"
    @Option(name: .customLong("concurrent-deployment-syncs")) var deploymentSyncs = 5
    @Option(name: .customLong("concurrent-replicaset-syncs")) var replicaSetSyncs = 5
    @Option(name: .customLong("concurrent-rc-syncs")) var rcSyncs = 5
    @Option(name: .customLong("concurrent-namespace-syncs")) var namespaceSyncs = 10
    @Option(name: .customLong("concurrent-gc-syncs")) var gcSyncs = 20
    @Option(name: .customLong("concurrent-serviceaccount-token-syncs")) var saTokenSyncs = 5
    @Option(name: .customLong("concurrent-endpoint-syncs")) var endpointSyncs = 5
    @Option(name: .customLong("concurrent-service-endpoint-syncs")) var endpointSliceSyncs = 5
    @Option(name: .customLong("concurrent-job-syncs")) var jobSyncs = 5
    @Option(name: .customLong("concurrent-cron-job-syncs")) var cronJobSyncs = 5
    @Option(name: .customLong("concurrent-statefulset-syncs")) var statefulSetSyncs = 5
    @Option(name: .customLong("concurrent-daemonset-syncs")) var daemonSetSyncs = 2
    @Option(name: .customLong("concurrent-resource-quota-syncs")) var quotaSyncs = 5
    @Option(name: .customLong("concurrent-ttl-after-finished-syncs")) var ttlSyncs = 5
    @Option(name: .customLong("concurrent-horizontal-pod-autoscaler-syncs")) var hpaSyncs = 5
    @Option(name: .customLong("concurrent-ephemeralvolume-syncs")) var ephemeralSyncs = 5
    @Option(name: .customLong("node-monitor-period"), help: "How often node status is checked.")
    var nodeMonitorPeriod = "5s"
    @Option(
        name: .customLong("node-monitor-grace-period"), help: "How long a node may go unheard before it is Unknown.")
    var nodeMonitorGracePeriod = "50s"
    @Option(name: .customLong("resource-quota-sync-period"), help: "How often every quota is recounted in full.")
    var resourceQuotaSyncPeriod = "5m0s"
    @Option(
        name: .customLong("horizontal-pod-autoscaler-sync-period"), help: "How often autoscalers are evaluated.")
    var hpaSyncPeriod = "15s"
    @Option(name: .customLong("terminated-pod-gc-threshold"), help: "Terminated pods kept before podgc deletes them.")
    var terminatedPodGCThreshold = 12500
    @Option(
        name: .customLong("cluster-signing-cert-file"),
        help: "PEM CA certificate that signs certificate requests of the kubernetes.io signers.")
    var clusterSigningCertFile: String?
    @Option(name: .customLong("cluster-signing-key-file"), help: "PEM private key of --cluster-signing-cert-file.")
    var clusterSigningKeyFile: String?
    @Option(name: .customLong("cluster-signing-duration"), help: "How long signed certificates are valid.")
    var clusterSigningDuration = "8760h0m0s"
    @Option(name: .customLong("root-ca-file"), help: "The root CA published to every namespace as kube-root-ca.crt.")
    var rootCAFile: String?
    @Option(name: .customLong("service-account-private-key-file")) var serviceAccountKeyFile: String?
    @Option(
        name: .customLong("use-service-account-credentials"), help: "One service account per controller (true|false).")
    var useServiceAccountCredentials = "false"
    @Option(name: .customLong("cluster-cidr"), help: "CIDR of pods in the cluster.")
    var clusterCIDR = "10.42.0.0/16"
    @Option(
        name: .customLong("allocate-node-cidrs"), help: "Give every node a pod CIDR from --cluster-cidr (true|false).")
    var allocateNodeCIDRs = "false"
    @Option(name: .customLong("node-cidr-mask-size"), help: "Prefix length of each node's pod CIDR.")
    var nodeCIDRMaskSize = 24
    @Option(name: .customLong("cluster-name"), help: "The cluster's name.")
    var clusterName = "kubernetes"
    @Option(name: .customLong("secure-port"), help: "HTTPS port of /healthz, /readyz and /metrics (0 turns it off).")
    var securePort = 10257
    @Option(name: .customLong("bind-address"), help: "Address of the secure port.")
    var bindAddress = "0.0.0.0"
    @Option(name: .customShort("v"), help: "Log verbosity.") var verbosity = 0

    func validate() throws {
        for (flag, v) in [
            ("--leader-elect-lease-duration", leaseDuration), ("--leader-elect-renew-deadline", renewDeadline),
            ("--leader-elect-retry-period", retryPeriod), ("--node-monitor-period", nodeMonitorPeriod),
            ("--node-monitor-grace-period", nodeMonitorGracePeriod),
            ("--resource-quota-sync-period", resourceQuotaSyncPeriod),
            ("--cluster-signing-duration", clusterSigningDuration),
            ("--horizontal-pod-autoscaler-sync-period", hpaSyncPeriod),
        ] where APIServerFlags.goDuration(v) == nil {
            throw ValidationError("invalid argument \"\(v)\" for \"\(flag)\" flag: time: invalid duration \"\(v)\"")
        }
        for (flag, v) in [
            ("--leader-elect", leaderElect), ("--use-service-account-credentials", useServiceAccountCredentials),
            ("--allocate-node-cidrs", allocateNodeCIDRs),
        ]
        where !["true", "false"].contains(v.lowercased()) {
            throw ValidationError(
                "invalid argument \"\(v)\" for \"\(flag)\" flag: strconv.ParseBool: parsing \"\(v)\": invalid syntax")
        }
        guard resourceLock == "leases" else {
            throw ValidationError("--leader-elect-resource-lock: only \"leases\" is supported")
        }
        let unknown = ControllerSelection(controllers).unknown(
            among: ControllerCatalog.all(options: ControllerOptions()))
        if !unknown.isEmpty {
            throw ValidationError("\"\(unknown[0])\" is not in the list of known controllers")
        }
        if APIServerFlags.goDuration(leaseDuration)! <= APIServerFlags.goDuration(renewDeadline)! {
            throw ValidationError("leaseDuration must be greater than renewDeadline")
        }
    }

    static func duration(_ s: String) -> Swift.Duration {
        .milliseconds(Int64((APIServerFlags.goDuration(s) ?? 0) * 1000))
    }

    func options(rootCA: [UInt8]?, signing: (cert: String, key: String)? = nil) throws -> ControllerOptions {
        var o = ControllerOptions()
        o.concurrency = [
            "deployment-controller": deploymentSyncs, "replicaset-controller": replicaSetSyncs,
            "replicationcontroller-controller": rcSyncs, "namespace-controller": namespaceSyncs,
            "garbage-collector-controller": gcSyncs, "serviceaccount-token-controller": saTokenSyncs,
            "endpoints-controller": endpointSyncs, "endpointslice-controller": endpointSliceSyncs,
            "job-controller": jobSyncs, "cronjob-controller": cronJobSyncs, "statefulset-controller": statefulSetSyncs,
            "daemonset-controller": daemonSetSyncs, "resourcequota-controller": quotaSyncs,
            "ttl-after-finished-controller": ttlSyncs, "horizontal-pod-autoscaler-controller": hpaSyncs,
            "ephemeral-volume-controller": ephemeralSyncs,
        ]
        o.nodeMonitorPeriod = Self.duration(nodeMonitorPeriod)
        o.nodeMonitorGracePeriod = Self.duration(nodeMonitorGracePeriod)
        o.terminatedPodGCThreshold = terminatedPodGCThreshold
        o.resourceQuotaSyncPeriod = Self.duration(resourceQuotaSyncPeriod)
        o.hpaSyncPeriod = Self.duration(hpaSyncPeriod)
        o.allocateNodeCIDRs = allocateNodeCIDRs.lowercased() == "true"
        o.clusterCIDR = clusterCIDR
        o.nodeCIDRMaskSize = nodeCIDRMaskSize
        o.clusterSigningDuration = APIServerFlags.goDuration(clusterSigningDuration) ?? o.clusterSigningDuration
        if let certFile = clusterSigningCertFile, let keyFile = clusterSigningKeyFile {
            guard let cert = FileManager.default.contents(atPath: certFile),
                let key = FileManager.default.contents(atPath: keyFile)
            else {
                throw ValidationError("error reading CA cert file or key file: \(certFile), \(keyFile)")
            }
            o.signingAuthority = try SigningAuthority(
                certificatePEM: String(decoding: cert, as: UTF8.self), keyPEM: String(decoding: key, as: UTF8.self))
        } else if let signing {
            o.signingAuthority = try? SigningAuthority(certificatePEM: signing.cert, keyPEM: signing.key)
        }
        if let f = rootCAFile {
            guard let d = FileManager.default.contents(atPath: f) else {
                throw ValidationError("error reading root-ca-file at \(f): no such file or directory")
            }
            o.rootCA = Array(d)
        } else {
            o.rootCA = rootCA
        }
        return o
    }

    var electionConfig: LeaderElector.Config {
        var c = LeaderElector.Config(name: resourceName, identity: LeaderElector.defaultIdentity())
        c.namespace = resourceNamespace
        c.leaseDuration = Self.duration(leaseDuration)
        c.renewDeadline = Self.duration(renewDeadline)
        c.retryPeriod = Self.duration(retryPeriod)
        return c
    }

    /// Runs the controllers on `client` (under leader election unless turned off) until cancelled, or
    /// until leadership is lost.
    func runControllers(
        client: KubeClient, rootCA: [UInt8]?, signing: (cert: String, key: String)? = nil,
        health: ControllerManagerHealth
    ) async throws {
        let opts = try options(rootCA: rootCA, signing: signing)
        let election = electionConfig
        let selection = ControllerSelection(controllers)
        let log: @Sendable (String) -> Void = { line in
            FileHandle.standardError.write(Data("kube-controller-manager: \(line)\n".utf8))
        }
        let lead: @Sendable () async -> Void = {
            let ctx = ControllerContext(client: client, options: opts, instance: election.identity)
            let manager = ControllerManager(context: ctx, selection: selection, log: log)
            health.leading.withLock { $0 = true }
            await manager.run()
            health.leading.withLock { $0 = false }
        }
        if leaderElect.lowercased() == "true" {
            let elector = LeaderElector(client: client, config: election)
            log("attempting to acquire leader lease \(election.namespace)/\(election.name)...")
            await elector.run(lead)
            if !Task.isCancelled {
                log("leaderelection lost")
                throw ExitCode(1)
            }
        } else {
            await lead()
        }
    }
}

/// /healthz, /readyz, /livez and /metrics of a component (controller manager, scheduler).
final class ControllerManagerHealth: HTTPResponder {
    let leading = Mutex(false)
    let started = Date()
    /// The component's name in its leader election metric.
    let component: String
    /// The component's own metrics, appended to the shared registry's.
    let extraMetrics: @Sendable () -> String

    init(component: String = "kube-controller-manager", extraMetrics: @escaping @Sendable () -> String = { "" }) {
        self.component = component
        self.extraMetrics = extraMetrics
    }

    func respond(to request: HTTPRequest) async -> HTTPResponse {
        switch request.path {
        case "/healthz", "/readyz", "/livez":
            return HTTPResponse(status: .ok, contentType: "text/plain; charset=utf-8", bytes: Array("ok".utf8))
        case "/metrics":
            let lead = leading.withLock { $0 } ? 1 : 0
            let text =
                """
                # HELP leader_election_master_status 1 while this process holds the named leader lease, else 0.
                # TYPE leader_election_master_status gauge
                leader_election_master_status{name="\(component)"} \(lead)
                # HELP process_start_time_seconds When the process started, in seconds since the Unix epoch.
                # TYPE process_start_time_seconds gauge
                process_start_time_seconds \(started.timeIntervalSince1970)

                """ + MetricRegistry.shared.render() + extraMetrics()
            return HTTPResponse(
                status: .ok, contentType: "text/plain; version=0.0.4; charset=utf-8", bytes: Array(text.utf8))
        default:
            return HTTPResponse(
                status: .notFound, contentType: "text/plain; charset=utf-8", bytes: Array("404 page not found\n".utf8))
        }
    }

    func tooLarge(_ request: HTTPRequest) -> HTTPResponse { HTTPResponse(status: .payloadTooLarge) }

    /// Serves on the secure port with a self-signed certificate (upstream makes one in memory when no
    /// `--tls-cert-file` is given).
    func serve(host: String, port: Int) async throws -> HTTPServer? {
        guard port > 0 else { return nil }
        let dir = NSTemporaryDirectory() + "k8swift-\(component)-\(getpid())"
        let certs = try ClusterCertificates.loadOrCreate(dir: dir, dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"])
        try? FileManager.default.removeItem(atPath: dir)
        let tls = HTTPServer.TLS(
            certificateChain: try NIOSSLCertificate.fromPEMBytes(Array(certs.servingPEM.utf8)),
            privateKey: try NIOSSLPrivateKey(bytes: Array(certs.servingKeyPEM.utf8), format: .pem), clientCAs: [])
        let server = HTTPServer(responder: self, maxBodyBytes: 1 << 16, threads: 1)
        _ = try await server.start(host: host, port: port, tls: tls)
        return server
    }
}

struct KubeControllerManager: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kube-controller-manager",
        abstract: "Run the controllers that make the cluster act on its objects, against any API server.")
    @OptionGroup var flags: ControllerManagerFlags

    func run() async throws {
        var config: ClientConfig
        do {
            config = try ClientConfig.load(kubeconfig: flags.kubeconfig, master: flags.master)
        } catch {
            FileHandle.standardError.write(Data("kube-controller-manager: \(error)\n".utf8))
            throw ExitCode(1)
        }
        config.qps = flags.qps
        config.burst = flags.burst
        config.wireFormat = flags.contentType == "application/json" ? .json : .protobuf
        config.userAgent = "kube-controller-manager/\(K8swiftVersion.info.gitVersion) (linux/amd64) k8swift"
        let client = try KubeClient(config: config)
        let health = ControllerManagerHealth()
        let http = try await health.serve(host: flags.bindAddress, port: flags.securePort)
        defer { if let http { Task { await http.stop() } } }
        try await flags.runControllers(client: client, rootCA: config.caData, health: health)
    }
}
