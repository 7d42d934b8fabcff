import APICore
import APIMachinery
import ArgumentParser
import Foundation
import KubeClient
import Kubelet
import Synchronization

/// The kubelet's common flags (upstream's names).
struct KubeletFlags: ParsableArguments {
    @Option(name: .customLong("kubeconfig"), help: "Path to a kubeconfig naming the API server and credentials.")
    var kubeconfig: String?
    @Option(name: .customLong("hostname-override"), help: "The node's name, instead of the host name.")
    var hostnameOverride: String?
    @Option(name: .customLong("root-dir"), help: "Directory for the kubelet's files (containerd, pod logs, images).")
    var rootDir = "/var/lib/kubelet"
    @Option(
        name: .customLong("container-runtime-endpoint"),
        help: "A running CRI runtime's socket (unix:///…); without it the kubelet starts its own containerd.")
    var containerRuntimeEndpoint: String?
    @Option(name: .customLong("cluster-dns"), help: "Cluster DNS server IPs, comma-separated.")
    var clusterDNS: String?
    @Option(name: .customLong("cluster-domain"), help: "The cluster's DNS domain.")
    var clusterDomain = "cluster.local"
    @Option(name: .customLong("node-labels"), help: "Labels to add when registering: key=value,…")
    var nodeLabels: String?
    @Option(name: .customLong("register-with-taints"), help: "Taints to register with: key=value:Effect,…")
    var registerWithTaints: String?
    @Option(name: .customLong("node-ip"), help: "The node's IP addresses, comma-separated.")
    var nodeIP: String?
    @Option(name: .customLong("pod-cidr"), help: "The node's pod CIDR when no controller manager allocates one.")
    var podCIDR: String?
    @Option(name: .customLong("port"), help: "The kubelet's HTTPS port.")
    var port = 10250
    @Option(name: .customLong("address"), help: "The address the kubelet's HTTPS port listens on.")
    var address = "0.0.0.0"
    @Option(
        name: .customLong("tls-cert-file"),
        help: "The kubelet's serving certificate (PEM); without it one is made in <root-dir>/pki.")
    var tlsCertFile: String?
    @Option(name: .customLong("tls-private-key-file"), help: "The key of --tls-cert-file (PEM).")
    var tlsPrivateKeyFile: String?
    @Option(
        name: .customLong("client-ca-file"),
        help: "Clients of the kubelet's port must present a certificate signed by this CA (PEM).")
    var clientCAFile: String?
    @Option(name: .customLong("pod-infra-container-image"), help: "The sandbox (pause) image.")
    var sandboxImage = ContainerdConfig.defaultSandboxImage
    @Option(
        name: .customLong("plain-http-registry"),
        help: "A registry containerd reaches over plain HTTP: host:port (repeatable).")
    var plainHTTPRegistries: [String] = []
    @Option(
        name: .customLong("pod-manifest-path"),
        help: "A directory of static pod manifests (one pod per file, YAML or JSON), run without the API server.")
    var podManifestPath: String?
    @Option(
        name: .customLong("eviction-hard"),
        help: """
            Hard eviction thresholds: signal<value,… (default memory.available<100Mi,nodefs.available<10%,\
            imagefs.available<15%,nodefs.inodesFree<5%,imagefs.inodesFree<5%).
            """)
    var evictionHard: String?
    @Option(name: .customLong("eviction-soft"), help: "Soft eviction thresholds: signal<value,…")
    var evictionSoft: String?
    @Option(
        name: .customLong("eviction-soft-grace-period"),
        help: "Grace periods of the soft thresholds: signal=duration,…")
    var evictionSoftGracePeriod: String?
    @Option(name: .customLong("eviction-minimum-reclaim"), help: "Minimum reclaims: signal=value,…")
    var evictionMinimumReclaim: String?
    @Option(
        name: .customLong("eviction-pressure-transition-period"),
        help: "How long a pressure condition stays after its threshold was last crossed.")
    var evictionPressureTransitionPeriod = "5m0s"
    @Option(
        name: .customLong("eviction-max-pod-grace-period"),
        help: "The longest grace (seconds) a soft eviction gives a pod; 0 or less leaves the pod's own.")
    var evictionMaxPodGracePeriod: Int64 = 0
    @Option(
        name: .customLong("shutdown-grace-period"),
        help: "How long the node takes to end its pods when told to stop (SIGTERM/SIGINT); 0s turns it off.")
    var shutdownGracePeriod = "0s"
    @Option(
        name: .customLong("shutdown-grace-period-critical-pods"),
        help: "The share of --shutdown-grace-period kept for critical pods.")
    var shutdownGracePeriodCriticalPods = "0s"

    func options(defaultName: String) throws -> KubeletNode.Options {
        let name = (hostnameOverride ?? defaultName).lowercased()
        var o = KubeletNode.Options(
            nodeName: name, rootDir: rootDir, kubeletVersion: K8swiftVersion.info.gitVersion)
        o.containerRuntimeEndpoint = containerRuntimeEndpoint
        o.clusterDNS = Self.list(clusterDNS)
        o.clusterDomain = clusterDomain
        o.nodeLabels = try Self.labels(nodeLabels)
        for t in Self.list(registerWithTaints) {
            guard let colon = t.lastIndex(of: ":") else {
                throw ValidationError("--register-with-taints: \"\(t)\" is not key=value:Effect")
            }
            let effect = String(t[t.index(after: colon)...])
            guard ["NoSchedule", "PreferNoSchedule", "NoExecute"].contains(effect) else {
                throw ValidationError("--register-with-taints: invalid taint effect \"\(effect)\"")
            }
            let kv = t[..<colon]
            var taint = CoreV1.Taint(key: String(kv), effect: effect)
            if let eq = kv.firstIndex(of: "=") {
                taint.key = String(kv[..<eq])
                taint.value = String(kv[kv.index(after: eq)...])
            }
            o.registerWithTaints.append(taint)
        }
        o.nodeIPs = Self.list(nodeIP)
        o.podCIDR = podCIDR
        o.sandboxImage = sandboxImage
        o.port = port
        o.address = address
        guard (tlsCertFile == nil) == (tlsPrivateKeyFile == nil) else {
            throw ValidationError("--tls-cert-file and --tls-private-key-file go together")
        }
        o.tlsCertFile = tlsCertFile
        o.tlsPrivateKeyFile = tlsPrivateKeyFile
        o.clientCAFile = clientCAFile
        o.podManifestPath = podManifestPath
        for r in plainHTTPRegistries { o.plainHTTPRegistries[r] = "http://" + r }
        do {
            o.eviction = try EvictionConfig.parse(
                hard: evictionHard, soft: evictionSoft, softGracePeriod: evictionSoftGracePeriod,
                minimumReclaim: evictionMinimumReclaim, pressureTransitionPeriod: evictionPressureTransitionPeriod,
                maxPodGracePeriodSeconds: evictionMaxPodGracePeriod)
        } catch {
            throw ValidationError("eviction settings: \(error.description)")
        }
        guard let period = GoDuration.parse(shutdownGracePeriod),
            let critical = GoDuration.parse(shutdownGracePeriodCriticalPods)
        else { throw ValidationError("--shutdown-grace-period and its critical share are durations (30s, 1m)") }
        o.shutdown = ShutdownConfig(
            gracePeriodSeconds: period / 1_000_000_000, criticalPodsGracePeriodSeconds: critical / 1_000_000_000)
        if let why = o.shutdown.validate() { throw ValidationError(why) }
        return o
    }

    /// `--node-labels`' `key=value,…`.
    static func labels(_ s: String?) throws -> [String: String] {
        var labels: [String: String] = [:]
        for kv in list(s) {
            guard let eq = kv.firstIndex(of: "=") else {
                throw ValidationError("--node-labels: \"\(kv)\" is not key=value")
            }
            labels[String(kv[..<eq])] = String(kv[kv.index(after: eq)...])
        }
        return labels
    }

    static func list(_ s: String?) -> [String] {
        (s ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }
}

struct KubeletCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kubelet", abstract: "Run a node: register it and run its pods' containers through containerd.")
    @OptionGroup var flags: KubeletFlags

    func run() async throws {
        let options = try flags.options(defaultName: ProcessInfo.processInfo.hostName)
        if let why = KubeletNode.unavailable(options) {
            FileHandle.standardError.write(Data("kubelet: cannot run a node here: \(why)\n".utf8))
            throw ExitCode(1)
        }
        var config = try ClientConfig.load(kubeconfig: flags.kubeconfig, master: nil)
        config.userAgent = "kubelet/\(K8swiftVersion.info.gitVersion) (linux/amd64) k8swift"
        let client = try KubeClient(config: config)
        let node = KubeletNode(client: client, options: options) { line in
            FileHandle.standardError.write(Data("kubelet: \(line)\n".utf8))
        }
        let signals = options.shutdown.enabled ? ShutdownSignals(node) : nil
        try await node.run()
        signals?.cancel()
    }
}

/// SIGTERM and SIGINT when graceful node shutdown is on: instead of dying at once, the process ends
/// the node's pods as `KubeletNode.shutDown` does (and, inside `server`, then stops the control plane),
/// then exits 0 (a second signal exits at once, with 1).
final class ShutdownSignals {
    final class Fired: Sendable {
        let value = Mutex(false)
    }

    let sources: [any DispatchSourceSignal]

    convenience init(_ node: KubeletNode) { self.init { await node.shutDown() } }

    /// `shutDown` runs once, on the first signal.
    init(shutDown: @escaping @Sendable () async -> Void) {
        let fired = Fired()
        sources = [SIGTERM, SIGINT].map { sig in
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler {
                let again = fired.value.withLock { f in
                    defer { f = true }
                    return f
                }
                if again { exit(1) }
                Task {
                    await shutDown()
                    exit(0)
                }
            }
            source.resume()
            return source
        }
    }

    func cancel() { for s in sources { s.cancel() } }
}
