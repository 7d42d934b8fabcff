import APICore
import APIMachinery
import Foundation
import HTTPServing
import KubeClient
import Synchronization

/// A whole node as `k8swift kubelet`, `agent` and `server` run it: its own containerd (unless an
/// endpoint is given), the images found in its images directory imported (the sandbox image is never
/// pulled), the Node and its Lease kept fresh, the CNI configuration written once the node has a pod
/// CIDR, and the pod workers.
public final class KubeletNode: Sendable {
    public struct Options: Sendable {
        public var nodeName: String
        /// Everything the node keeps: containerd's root and state, pod logs, images to import.
        public var rootDir: String
        /// `unix:///…` of a running CRI runtime; nil starts containerd under `rootDir`.
        public var containerRuntimeEndpoint: String?
        public var clusterDNS: [String] = []
        public var clusterDomain = "cluster.local"
        public var nodeLabels: [String: String] = [:]
        public var registerWithTaints: [CoreV1.Taint] = []
        public var nodeIPs: [String] = []
        /// `--pod-cidr`, for a node whose range no controller manager allocates.
        public var podCIDR: String?
        public var sandboxImage = ContainerdConfig.defaultSandboxImage
        /// Registries containerd reaches over plain HTTP (host:port → endpoint), e.g. a local mirror.
        public var plainHTTPRegistries: [String: String] = [:]
        public var kubeletVersion: String
        /// The kubelet's HTTPS port (0: any free port, reported in the Node's daemon endpoints).
        public var port = 10250
        public var address = "0.0.0.0"
        /// The serving certificate and key; nil makes a self-signed pair in `<rootDir>/pki`.
        public var tlsCertFile: String?
        public var tlsPrivateKeyFile: String?
        /// Clients must present a certificate this CA signed; nil accepts any client.
        public var clientCAFile: String?
        /// The static pods' manifest directory (`--pod-manifest-path`).
        public var podManifestPath: String?
        /// Node-pressure eviction's thresholds and periods (`--eviction-*`).
        public var eviction = EvictionConfig.defaults
        /// Graceful node shutdown (`--shutdown-grace-period*`); off by default.
        public var shutdown = ShutdownConfig()
        /// Pod cgroups with their limits (upstream's `--cgroups-per-qos`, `--pod-max-pids`).
        public var podCgroups: PodCgroupSettings? = PodCgroupSettings()

        public init(nodeName: String, rootDir: String, kubeletVersion: String) {
            self.nodeName = nodeName
            self.rootDir = rootDir
            self.kubeletVersion = kubeletVersion
        }

        /// Archives imported into containerd at start (as k3s's airgap images).
        public var imagesDir: String { rootDir + "/images" }
        public var podLogsDir: String { rootDir + "/pods" }
    }

    public let options: Options
    let client: KubeClient
    let log: @Sendable (String) -> Void
    /// The running node's graceful shutdown, set by `run` once the node is up.
    let shutdownHook = Mutex<(@Sendable () async -> Void)?>(nil)

    public init(client: KubeClient, options: Options, log: @escaping @Sendable (String) -> Void) {
        self.client = client
        self.options = options
        self.log = log
    }

    /// Why this machine cannot run a node as asked, or nil.
    public static func unavailable(_ o: Options) -> String? {
        if o.containerRuntimeEndpoint != nil { return nil }
        if let why = ContainerdProcess.available() { return why }
        if !FileManager.default.isExecutableFile(atPath: "/usr/bin/ctr") { return "/usr/bin/ctr is missing" }
        return nil
    }

    /// containerd's directory: under the root dir when its socket path fits a unix socket address,
    /// else under /run.
    static func containerdDir(_ rootDir: String) -> String {
        let dir = rootDir + "/containerd"
        if (dir + "/containerd.sock").utf8.count < 100 { return dir }
        return "/run/k8swift/" + String(ContainerHash.fnv1a(rootDir.utf8), radix: 16)
    }

    public func run() async throws {
        let o = options
        try FileManager.default.createDirectory(atPath: o.podLogsDir, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: o.imagesDir, withIntermediateDirectories: true)
        var containerd: ContainerdProcess?
        var cniConfDir: String?
        let endpoint: String
        if let e = o.containerRuntimeEndpoint {
            endpoint = e
        } else {
            let dir = Self.containerdDir(o.rootDir)
            var config = ContainerdConfig(dir: dir, sandboxImage: o.sandboxImage)
            config.plainHTTPRegistries = o.plainHTTPRegistries
            let p = ContainerdProcess(config: config, logPath: o.rootDir + "/containerd.log")
            try await p.start()
            containerd = p
            cniConfDir = config.cniConfDir
            endpoint = "unix://" + config.socket
            importImages(socket: config.socket)
            log("containerd is running (\(config.socket); log \(o.rootDir)/containerd.log)")
        }
        defer { containerd?.stop() }
        let runtime = try CRIRuntime(endpoint: endpoint)
        defer { runtime.close() }
        let version = try await runtime.version()
        let machine = MachineInfo.read(rootDir: o.rootDir)
        var nodeConfig = NodeConfig(
            nodeName: o.nodeName, kubeletVersion: o.kubeletVersion,
            containerRuntimeVersion: "\(version.runtimeName)://\(version.runtimeVersion)")
        nodeConfig.labels = o.nodeLabels
        nodeConfig.registerWithTaints = o.registerWithTaints
        nodeConfig.podCIDR = o.podCIDR
        nodeConfig.evictionHard = o.eviction.hardThresholds
        var hostIPs = o.nodeIPs.isEmpty ? machine.hostIPs : o.nodeIPs
        if hostIPs.isEmpty { hostIPs = ["127.0.0.1"] }
        var m = machine
        m.hostIPs = hostIPs
        var kubeletOptions = Kubelet.Options(
            nodeName: o.nodeName, nodeHostname: machine.hostname, podLogsDir: o.podLogsDir)
        kubeletOptions.clusterDNS = o.clusterDNS
        kubeletOptions.clusterDomain = o.clusterDomain
        kubeletOptions.hostIPs = hostIPs
        kubeletOptions.rootDirectory = o.rootDir
        kubeletOptions.podManifestPath = o.podManifestPath
        kubeletOptions.podCgroups = o.podCgroups
        let admission = AdmissionBox()
        kubeletOptions.admit = { pod in admission.manager.withLock { $0 }?.admit(pod) }
        let kubelet = Kubelet(client: client, runtime: runtime, options: kubeletOptions, log: log)
        let imageFS = containerd == nil ? o.rootDir : Self.containerdDir(o.rootDir)
        var readings = EvictionReadings.host(
            memoryCapacity: machine.memoryBytes, nodeFS: o.rootDir, imageFS: imageFS,
            cgroupRoot: kubeletOptions.cgroupRoot, rootDir: o.rootDir, podLogsDir: o.podLogsDir)
        readings.localStorage = EvictionReadings.localStorage(
            runtime: runtime, rootDir: o.rootDir, podLogsDir: o.podLogsDir,
            dedicatedImageFS: DiskUsage.differentFilesystems(o.rootDir, imageFS))
        let eviction = EvictionManager(config: o.eviction, actions: .kubelet(kubelet), readings: readings, log: log)
        admission.manager.withLock { $0 = eviction }
        let runtimeHealth = NodeHeartbeat.runtimeHealthProvider(runtime)
        let server = try serverFor(kubelet, hostname: machine.hostname, ips: hostIPs)
        nodeConfig.kubeletPort = Int32(try await server.start())
        defer { Task { await server.stop() } }
        let heartbeat = NodeHeartbeat(
            client: client, config: nodeConfig, machine: m,
            runtimeHealth: { await Self.health(runtimeHealth, shuttingDown: eviction.isShuttingDown) },
            images: NodeHeartbeat.imagesProvider(runtime), pressure: { eviction.pressure }, log: log)
        // The image filesystem: containerd's own directory, or the root dir for a runtime given.
        let images = ImageCollector(runtime: runtime, imageFSPath: imageFS, policy: ImageGCPolicy(), log: log)
        if o.shutdown.enabled {
            shutdownHook.withLock {
                $0 = { await self.shutDown(kubelet: kubelet, eviction: eviction, heartbeat: heartbeat) }
            }
        }
        defer { shutdownHook.withLock { $0 = nil } }
        try await withThrowingTaskGroup(of: Void.self) { g in
            g.addTask { await heartbeat.run() }
            if let cniConfDir {
                g.addTask { try await self.writeCNIWhenReady(heartbeat, dir: cniConfDir) }
            }
            g.addTask { await kubelet.run() }
            g.addTask { await images.run() }
            g.addTask { await eviction.run() }
            try await g.waitForAll()
        }
    }

    /// The HTTPS port's server: the given certificate, or a self-signed one kept in `<rootDir>/pki`.
    func serverFor(_ kubelet: Kubelet, hostname: String, ips: [String]) throws -> KubeletServer {
        let o = options
        let cert: String
        let key: String
        if let c = o.tlsCertFile, let k = o.tlsPrivateKeyFile {
            cert = try String(contentsOfFile: c, encoding: .utf8)
            key = try String(contentsOfFile: k, encoding: .utf8)
        } else {
            (cert, key) = try SelfSignedCertificate.loadOrCreate(
                certFile: o.rootDir + "/pki/kubelet.crt", keyFile: o.rootDir + "/pki/kubelet.key", hostname: hostname,
                ipAddresses: ips)
        }
        let ca = try o.clientCAFile.map { try String(contentsOfFile: $0, encoding: .utf8) }
        var so = KubeletServer.Options(certPEM: cert, keyPEM: key, clientCAPEM: ca)
        so.port = o.port
        so.address = o.address
        return KubeletServer(kubelet: kubelet, options: so)
    }

    /// Writes the pod network's configuration once the node knows its pod CIDR.
    func writeCNIWhenReady(_ heartbeat: NodeHeartbeat, dir: String) async throws {
        while !Task.isCancelled {
            if let cidr = heartbeat.podCIDR?.split(separator: ",").first.map(String.init) {
                var cni = CNIConfig(podCIDR: cidr, ipamDataDir: options.rootDir + "/cni/ipam")
                // Until kube-proxy masquerades traffic leaving the cluster CIDR, the bridge does.
                cni.ipMasq = true
                try cni.write(into: dir)
                log("pod network configured for \(cidr)")
                return
            }
            try await Task.sleep(for: .milliseconds(500))
        }
    }

    /// `ctr images import` of every archive in the images directory.
    func importImages(socket: String) {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: options.imagesDir)) ?? []
        for f in files.sorted() where f.hasSuffix(".tar") {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/ctr")
            p.arguments = ["-a", socket, "-n", "k8s.io", "images", "import", options.imagesDir + "/" + f]
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            do {
                try p.run()
                p.waitUntilExit()
                if p.terminationStatus != 0 { log("importing \(f) failed (ctr exited \(p.terminationStatus))") }
            } catch {
                log("importing \(f): \(error)")
            }
        }
    }
}

// MARK: - graceful shutdown

extension KubeletNode {
    /// Lets the kubelet's admission reach the eviction manager made after it.
    final class AdmissionBox: Sendable {
        let manager = Mutex<EvictionManager?>(nil)
    }

    /// Whether `shutDown()` does anything: the node runs and `--shutdown-grace-period` is positive.
    public var shutsDownGracefully: Bool { shutdownHook.withLock { $0 != nil } }

    /// Ends the node's pods as graceful node shutdown does and returns when they are done (at most
    /// the shutdown grace period); does nothing when the feature is off or the node is not running.
    public func shutDown() async {
        guard let hook = shutdownHook.withLock({ $0 }) else { return }
        await hook()
    }

    /// The runtime's health, with upstream's shutdown error once the node shuts down (Ready turns
    /// False with it).
    static func health(
        _ runtime: @Sendable () async -> RuntimeHealth, shuttingDown: Bool
    ) async -> RuntimeHealth {
        var h = await runtime()
        if shuttingDown { h.networkErrors.append(NodeShutdown.notReadyMessage) }
        return h
    }

    func shutDown(kubelet: Kubelet, eviction: EvictionManager, heartbeat: NodeHeartbeat) async {
        let config = options.shutdown
        log(
            "shutdown: the node is shutting down (grace \(config.gracePeriodSeconds)s, "
                + "critical pods \(config.criticalPodsGracePeriodSeconds)s)")
        eviction.markShuttingDown()
        _ = try? await heartbeat.updateStatus()
        let pods = kubelet.activePods().map(\.pod)
        let byUID = Dictionary(pods.map { ($0.metadata.uid, $0) }, uniquingKeysWith: { a, _ in a })
        for group in NodeShutdown.plan(pods, config: config) {
            await withTaskGroup(of: Bool.self) { g in
                var left = 0
                for kill in group.kills {
                    guard let pod = byUID[kill.uid] else { continue }
                    left += 1
                    g.addTask {
                        await kubelet.endPod(pod, gracePeriodSeconds: kill.gracePeriodSeconds, event: nil) { s in
                            NodeShutdown.status(s, now: Time(seconds: Int64(Date().timeIntervalSince1970)))
                        }
                        return true
                    }
                }
                // A group takes at most its period (and a little for the runtime's answers); the next
                // starts then even if some pods linger.
                g.addTask {
                    try? await Task.sleep(for: .seconds(group.periodSeconds + 2))
                    return false
                }
                while left > 0, let finished = await g.next(), finished { left -= 1 }
                g.cancelAll()
            }
        }
        log("shutdown: every pod was ended")
    }
}
