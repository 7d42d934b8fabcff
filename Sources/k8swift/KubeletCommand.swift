import APICore
import APIMachinery
import ArgumentParser
import Foundation
import KubeClient
import Kubelet

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

    func options(defaultName: String) throws -> KubeletNode.Options {
        let name = (hostnameOverride ?? defaultName).lowercased()
        var o = KubeletNode.Options(
            nodeName: name, rootDir: rootDir, kubeletVersion: K8swiftVersion.info.gitVersion)
        o.containerRuntimeEndpoint = containerRuntimeEndpoint
        o.clusterDNS = Self.list(clusterDNS)
        o.clusterDomain = clusterDomain
        for kv in Self.list(nodeLabels) {
            guard let eq = kv.firstIndex(of: "=") else {
                throw ValidationError("--node-labels: \"\(kv)\" is not key=value")
            }
            o.nodeLabels[String(kv[..<eq])] = String(kv[kv.index(after: eq)...])
        }
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
        for r in plainHTTPRegistries { o.plainHTTPRegistries[r] = "http://" + r }
        return o
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
        try await node.run()
    }
}
