import APICore
import APIMachinery
import ArgumentParser
import ControllerRuntime
import Foundation
import KubeClient
import Kubelet

/// `k8swift hollow-nodes`: many kubelets in one process for scale tests (upstream's kubemark). Each
/// hollow node is the real `Kubelet` (pod workers, sync, status, probes) and `NodeHeartbeat`
/// (registration, status, Lease) over an `InMemoryRuntime`; only the containers are not real.
struct HollowNodesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hollow-nodes",
        abstract: "Run many hollow nodes in one process: real kubelets over an in-memory container runtime.")

    @Option(help: "How many hollow nodes to run.")
    var count = 1
    @Option(name: .customLong("kubeconfig"), help: "Path to a kubeconfig naming the API server and credentials.")
    var kubeconfig: String?
    @Option(name: .customLong("name-prefix"), help: "Node N is named <prefix>N.")
    var namePrefix = "hollow-node-"
    @Option(name: .customLong("node-labels"), help: "Labels every node registers with: key=value,…")
    var nodeLabels: String?
    @Option(
        name: .customLong("nodes-per-connection"),
        help: "Nodes sharing one HTTP/2 connection (each holds a watch and its requests on it).")
    var nodesPerConnection = 50
    @Option(
        name: .customLong("relist-period"),
        help: "Seconds between two relists of a node's in-memory runtime (the real kubelet: 1).")
    var relistPeriod = 10.0
    @Option(name: .customLong("max-pods"), help: "Pods each node takes.")
    var maxPods = 110
    @Option(name: .customLong("start-rate"), help: "Nodes started per second (registration, lists and watches).")
    var startRate = 500.0

    /// The machine every hollow node reports (given, never read): 4 CPUs, 32 GiB, 100 GiB of disk.
    static func machine(name: String, index: Int, host: MachineInfo) -> MachineInfo {
        // Stable across restarts: derived from the name (FNV-1a).
        let id = String(ContainerHash.fnv1a(name.utf8), radix: 16)
        return MachineInfo(
            cpus: 4, memoryBytes: 32 << 30, ephemeralStorageBytes: 100 << 30, maxPIDs: host.maxPIDs, hostname: name,
            machineID: id, systemUUID: id, bootID: id, kernelVersion: host.kernelVersion, osImage: host.osImage,
            architecture: host.architecture, hostIPs: [nodeIP(index)])
    }

    /// Node N's InternalIP: 10.128.0.1 onwards, one per node.
    static func nodeIP(_ index: Int) -> String {
        let n = index + 1
        return "10.\(128 + n >> 16).\((n >> 8) & 255).\(n & 255)"
    }

    /// Node N's pods take addresses from 10.<64 + N/256>.<N%256>.0/24 (their own, whether or not the
    /// controller manager gives the node a pod CIDR: its default cluster CIDR holds only 256 nodes).
    static func podNetwork(_ index: Int) -> String { "10.\(64 + index / 256).\(index % 256)" }

    func run() async throws {
        guard count > 0, nodesPerConnection > 0, relistPeriod > 0, startRate > 0 else {
            FileHandle.standardError.write(
                Data(
                    "hollow-nodes: --count, --nodes-per-connection, --relist-period and --start-rate must be positive\n"
                        .utf8))
            throw ExitCode(1)
        }
        let labels: [String: String]
        do {
            labels = try KubeletFlags.labels(nodeLabels)
        } catch {
            FileHandle.standardError.write(Data("hollow-nodes: \(error)\n".utf8))
            throw ExitCode(1)
        }
        var config = try ClientConfig.load(kubeconfig: kubeconfig, master: nil)
        config.userAgent = "kubelet/\(K8swiftVersion.info.gitVersion) (linux/amd64) k8swift-hollow"
        // Upstream's kubelets each have their own 50 qps; a client shared by dozens of nodes must not
        // throttle them together, so the server's own limits are the only ones.
        config.qps = 0
        let connections = (count + nodesPerConnection - 1) / nodesPerConnection
        var clients: [KubeClient] = []
        for _ in 0..<connections { clients.append(try KubeClient(config: config)) }
        // One Service informer for all nodes: every kubelet reads the same list.
        let services = Informer<CoreV1.Service>(client: clients[0], transform: Informer.stripManagedFields)
        let host = MachineInfo.read(rootDir: "/")
        let log: @Sendable (String) -> Void = { line in FileHandle.standardError.write(Data((line + "\n").utf8)) }
        let nodes = (0..<count).map { i in
            HollowNode(
                index: i, name: namePrefix + String(i), client: clients[i / nodesPerConnection], services: services,
                machine: Self.machine(name: namePrefix + String(i), index: i, host: host), labels: labels,
                maxPods: maxPods, relistPeriod: .seconds(relistPeriod), log: log)
        }
        log("hollow-nodes: starting \(count) nodes over \(connections) connections")
        let spacing = Swift.Duration.seconds(1 / startRate)
        await withTaskGroup(of: Void.self) { g in
            g.addTask { await services.run() }
            for (i, node) in nodes.enumerated() {
                g.addTask {
                    try? await Task.sleep(for: spacing * i)
                    await node.run()
                }
            }
            await g.waitForAll()
        }
        for c in clients { await c.shutdown() }
    }
}

/// One hollow node: a kubelet and its heartbeat over its own in-memory runtime.
struct HollowNode: Sendable {
    let kubelet: Kubelet
    let heartbeat: NodeHeartbeat

    init(
        index: Int, name: String, client: KubeClient, services: Informer<CoreV1.Service>, machine: MachineInfo,
        labels: [String: String], maxPods: Int, relistPeriod: Swift.Duration,
        log: @escaping @Sendable (String) -> Void
    ) {
        let runtime = InMemoryRuntime(podNetwork: HollowNodesCommand.podNetwork(index))
        var o = Kubelet.Options(nodeName: name, nodeHostname: name, podLogsDir: "/var/log/pods")
        o.hostIPs = machine.hostIPs
        o.rootDirectory = "/var/lib/kubelet"
        o.relistPeriod = relistPeriod
        o.hollow = true
        // In-memory syncs do not wait on a runtime: a few workers per node keep up, and 5,000 nodes
        // do not each hold sixteen.
        o.workers = 4
        let prefixed: @Sendable (String) -> Void = { log("\(name): \($0)") }
        kubelet = Kubelet(client: client, runtime: runtime, options: o, services: services, log: prefixed)
        var nc = NodeConfig(
            nodeName: name, kubeletVersion: K8swiftVersion.info.gitVersion,
            containerRuntimeVersion: "\(InMemoryRuntime.runtimeName)://\(InMemoryRuntime.runtimeVersion)")
        nc.labels = labels
        nc.maxPods = maxPods
        heartbeat = NodeHeartbeat(
            client: client, config: nc, machine: machine,
            runtimeHealth: NodeHeartbeat.runtimeHealthProvider(runtime), images: NodeHeartbeat.imagesProvider(runtime),
            log: prefixed)
    }

    func run() async {
        await withTaskGroup(of: Void.self) { g in
            g.addTask { await heartbeat.run() }
            g.addTask { await kubelet.run() }
        }
    }
}
