import APIMachinery
import APIServer
import ArgumentParser
import ClusterDNS
import Foundation
import KubeClient
import Kubelet

/// `k8swift cluster-dns`'s flags (CoreDNS's kubernetes plugin settings, as flags).
struct ClusterDNSFlags: ParsableArguments {
    @Option(name: .customLong("kubeconfig"), help: "Path to a kubeconfig file.")
    var kubeconfig: String?
    @Option(name: .customLong("master"), help: "The API server's address (overrides the kubeconfig's).")
    var master: String?
    @Option(name: .customLong("cluster-domain"), help: "The zone answered from Services and EndpointSlices.")
    var clusterDomain = "cluster.local"
    @Option(name: .customLong("listen"), help: "address:port of the DNS listeners (UDP and TCP).")
    var listen = "0.0.0.0:53"
    @Option(
        name: .customLong("upstream"),
        help:
            "Servers for names outside the zone (ip or ip:port, comma-separated, repeatable); 'none' forwards nothing (default: the nameservers of --resolv-conf)."
    )
    var upstream: [String] = []
    @Option(name: .customLong("resolv-conf"), help: "Where the default upstream servers are read.")
    var resolvConf = "/etc/resolv.conf"
    @Option(name: .customLong("ttl"), help: "TTL of answers, in seconds (CoreDNS's default 5).")
    var ttl: UInt32 = 5
    @Option(name: .customLong("health-listen"), help: "address:port of /health ('none' for none).")
    var healthListen = ":8080"
    @Option(name: .customLong("ready-listen"), help: "address:port of /ready ('none' for none).")
    var readyListen = ":8181"
    @Option(name: .customLong("metrics-listen"), help: "address:port of /metrics ('none' for none).")
    var metricsListen = ":9153"

    func validate() throws {
        guard ClusterDNS.hostPort(listen) != nil else { throw ValidationError("--listen \(listen): want address:port") }
        for (flag, v) in [
            ("--health-listen", healthListen), ("--ready-listen", readyListen), ("--metrics-listen", metricsListen),
        ]
        where v != "none" && !v.isEmpty && ClusterDNS.hostPort(v) == nil {
            throw ValidationError("\(flag) \(v): want address:port or none")
        }
        guard DNSName(clusterDomain) != nil else {
            throw ValidationError("--cluster-domain \(clusterDomain): not a domain name")
        }
        for u in upstreamList ?? [] where Upstream.address(u) == nil {
            throw ValidationError("--upstream \(u): want ip or ip:port")
        }
    }

    /// nil: read resolv.conf; empty: none.
    var upstreamList: [String]? {
        let all = upstream.flatMap { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
            .filter { !$0.isEmpty }
        if all.isEmpty { return nil }
        if all == ["none"] { return [] }
        return all
    }

    var options: ClusterDNS.Options {
        var o = ClusterDNS.Options()
        o.clusterDomain = clusterDomain
        o.listen = listen
        o.upstreams = upstreamList
        o.resolvConf = resolvConf
        o.ttl = ttl
        func endpoint(_ v: String) -> String? { v == "none" || v.isEmpty ? nil : v }
        o.healthListen = endpoint(healthListen)
        o.readyListen = endpoint(readyListen)
        o.metricsListen = endpoint(metricsListen)
        return o
    }
}

struct ClusterDNSCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster-dns",
        abstract: "Serve the cluster's DNS (Services and EndpointSlices, as CoreDNS does), against any API server.")
    @OptionGroup var flags: ClusterDNSFlags

    func run() async throws {
        var config: ClientConfig
        do {
            config = try ClientConfig.load(kubeconfig: flags.kubeconfig, master: flags.master)
        } catch {
            FileHandle.standardError.write(Data("cluster-dns: \(error)\n".utf8))
            throw ExitCode(1)
        }
        config.userAgent = "cluster-dns/\(K8swiftVersion.info.gitVersion) (linux/amd64) k8swift"
        let client = try KubeClient(config: config)
        let dns = ClusterDNS(client: client, options: flags.options) { line in
            FileHandle.standardError.write(Data("cluster-dns: \(line)\n".utf8))
        }
        do {
            try await dns.run()
        } catch {
            FileHandle.standardError.write(Data("cluster-dns: \(error)\n".utf8))
            await client.shutdown()
            throw ExitCode(1)
        }
        await client.shutdown()
    }
}

extension Server {
    /// The DNS inside the server, when its node runs: on the node's address (the kubelet's
    /// InternalIP) port 53, metrics on 9153 there, behind `kube-system/kube-dns` at the kubelet's
    /// `--cluster-dns` (the service range's 10th address), which it keeps pointing at that address.
    static func runClusterDNS(in server: APIServer, node: KubeletNode.Options) async throws {
        let say: @Sendable (String) -> Void = { line in
            FileHandle.standardError.write(Data("cluster-dns: \(line)\n".utf8))
        }
        let address = node.nodeIPs.first ?? MachineInfo.read(rootDir: node.rootDir).hostIPs.first ?? "127.0.0.1"
        var config = ClientConfig(server: "https://in-process")
        config.qps = 0
        config.userAgent = "cluster-dns/\(K8swiftVersion.info.gitVersion) k8swift (in-process)"
        let transport = InProcessTransport(
            server: server, user: "system:serviceaccount:kube-system:coredns",
            groups: ["system:serviceaccounts", "system:masters", "system:authenticated"])
        let client = try KubeClient(config: config, transport: transport)
        let host = address.contains(":") ? "[\(address)]" : address
        var o = ClusterDNS.Options()
        o.clusterDomain = node.clusterDomain
        o.listen = "\(host):53"
        o.healthListen = nil
        o.readyListen = nil
        o.metricsListen = "\(host):9153"
        let dns = ClusterDNS(client: client, options: o, log: say)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                do { try await dns.run() } catch is CancellationError {} catch {
                    say("stopped: \(error) (the cluster runs without DNS; --disable cluster-dns hides this)")
                }
            }
            if let ip = node.clusterDNS.first {
                group.addTask {
                    // Again every minute: a deleted Service or slice comes back, a moved node is followed.
                    var failures = 0
                    while !Task.isCancelled {
                        do {
                            try await KubeDNSService.ensure(
                                client: client, clusterIP: ip, address: address, nodeName: node.nodeName)
                            failures = 0
                        } catch is CancellationError {
                            return
                        } catch {
                            failures += 1
                            // The API may still be starting: say so only when it keeps failing.
                            if failures >= 5 { say("kube-system/kube-dns: \(error)") }
                        }
                        try await Task.sleep(for: .seconds(failures == 0 ? 60 : 2))
                    }
                }
            }
            try await group.waitForAll()
        }
    }
}
