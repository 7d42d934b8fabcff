import APIMachinery
import ArgumentParser
import Foundation
import KubeClient
import Proxy

/// kube-proxy's common flags (upstream's names and defaults).
struct KubeProxyFlags: ParsableArguments {
    @Option(name: .customLong("config"), help: "A KubeProxyConfiguration file (kubeproxy.config.k8s.io/v1alpha1).")
    var config: String?
    @Option(name: .customLong("kubeconfig"), help: "Path to a kubeconfig file with authorization information.")
    var kubeconfig: String?
    @Option(name: .customLong("master"), help: "The API server's address (overrides the kubeconfig's).")
    var master: String?
    @Option(name: .customLong("hostname-override"), help: "This node's name, instead of the host name.")
    var hostnameOverride: String?
    @Option(name: .customLong("proxy-mode"), help: "Which proxy mode to use: 'nftables' (default) or 'iptables'.")
    var proxyMode: String?
    @Option(
        name: .customLong("cluster-cidr"),
        help: "The pods' CIDR ranges (comma-separated); traffic to Services from outside them is masqueraded.")
    var clusterCIDR: String?
    @Option(
        name: .customLong("nodeport-addresses"),
        help: "CIDRs whose local addresses accept NodePort traffic (comma-separated), or 'primary' (the default).")
    var nodePortAddresses: String?
    @Option(name: .customLong("healthz-bind-address"), help: "ip:port of the health check server ('' turns it off).")
    var healthzBindAddress: String?
    @Option(name: .customLong("metrics-bind-address"), help: "ip:port of the metrics server ('' turns it off).")
    var metricsBindAddress: String?
    @Option(name: .customLong("sync-period"), help: "How often the rules are checked (e.g. 30s).")
    var syncPeriod: String?
    @Option(name: .customLong("min-sync-period"), help: "The least time between two rule syncs (e.g. 1s).")
    var minSyncPeriod: String?
    @Option(
        name: .customLong("masquerade-all"), help: "Masquerade all traffic sent to Service cluster IPs (true|false).")
    var masqueradeAll: String?
    @Option(name: .customLong("iptables-masquerade-bit"), help: "The packet mark bit that asks for masquerade (0-31).")
    var masqueradeBit: Int?
    @Flag(name: .customLong("cleanup"), help: "Remove the proxy's rules and exit.")
    var cleanup = false
    @Option(name: .customShort("v"), help: "Log verbosity.") var verbosity = 0

    /// The proxy's options: upstream's defaults, then the config file's, then the flags given.
    func options(defaultHostname: String) throws -> (KubeProxy.Options, kubeconfig: String?) {
        var o = KubeProxy.Options(hostname: defaultHostname.lowercased())
        var mode = "nftables"
        var kubeconfigPath = kubeconfig
        if let path = config {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw ValidationError("failed to read config file \"\(path)\": no such file or directory")
            }
            let v: JSONValue
            do { v = try JSONValue.parse(try YAML.toJSON(String(decoding: data, as: UTF8.self))) } catch {
                throw ValidationError("invalid configuration in \(path): \(error)")
            }
            guard v["kind"]?.stringValue == "KubeProxyConfiguration" else {
                throw ValidationError("invalid configuration in \(path): kind must be KubeProxyConfiguration")
            }
            if let k = v["clientConnection"]?["kubeconfig"]?.stringValue, !k.isEmpty, kubeconfig == nil {
                kubeconfigPath = k
            }
            if let h = v["hostnameOverride"]?.stringValue, !h.isEmpty { o.hostname = h.lowercased() }
            if let m = v["mode"]?.stringValue, !m.isEmpty { mode = m }
            if let c = v["clusterCIDR"]?.stringValue { o.clusterCIDRs = Self.list(c) }
            if case .array(let a)? = v["nodePortAddresses"] { o.nodePortAddresses = a.compactMap(\.stringValue) }
            if let h = v["healthzBindAddress"]?.stringValue { o.healthzBindAddress = h }
            if let m = v["metricsBindAddress"]?.stringValue { o.metricsBindAddress = m }
            for section in [v, v["nftables"] ?? .null] {
                if let d = section["syncPeriod"]?.stringValue { o.syncPeriod = try Self.duration(d, "syncPeriod") }
                if let d = section["minSyncPeriod"]?.stringValue {
                    o.minSyncPeriod = try Self.duration(d, "minSyncPeriod")
                }
                if case .bool(let b)? = section["masqueradeAll"] { o.masqueradeAll = b }
                if case .number(let n)? = section["masqueradeBit"], let bit = Int(n) { o.masqueradeBit = bit }
            }
        }
        if let proxyMode { mode = proxyMode }
        switch mode {
        case "nftables", "": break
        case "iptables":
            throw ValidationError("proxy mode \"iptables\" is not available in k8swift yet: use --proxy-mode=nftables")
        case "ipvs":
            throw ValidationError("proxy mode \"ipvs\" is not supported (this kernel has no IPVS): use nftables")
        default:
            throw ValidationError("invalid proxy mode \"\(mode)\": must be one of nftables, iptables")
        }
        if let hostnameOverride { o.hostname = hostnameOverride.lowercased() }
        if let clusterCIDR { o.clusterCIDRs = Self.list(clusterCIDR) }
        for c in o.clusterCIDRs where IPFamily.of(c) == nil || !c.contains("/") {
            throw ValidationError("invalid argument \"\(c)\" for \"--cluster-cidr\" flag: not a CIDR")
        }
        if let nodePortAddresses { o.nodePortAddresses = Self.list(nodePortAddresses) }
        for a in o.nodePortAddresses where a != "primary" && (IPFamily.of(a) == nil || !a.contains("/")) {
            throw ValidationError(
                "invalid argument \"\(a)\" for \"--nodeport-addresses\" flag: not a CIDR or 'primary'")
        }
        if let healthzBindAddress { o.healthzBindAddress = healthzBindAddress }
        if let metricsBindAddress { o.metricsBindAddress = metricsBindAddress }
        for (flag, value) in [
            ("--healthz-bind-address", o.healthzBindAddress), ("--metrics-bind-address", o.metricsBindAddress),
        ]
        where !value.isEmpty && KubeProxy.hostPort(value) == nil {
            throw ValidationError("invalid argument \"\(value)\" for \"\(flag)\" flag: want ip:port")
        }
        if let syncPeriod { o.syncPeriod = try Self.duration(syncPeriod, "--sync-period") }
        if let minSyncPeriod { o.minSyncPeriod = try Self.duration(minSyncPeriod, "--min-sync-period") }
        if let masqueradeAll {
            guard let b = Bool(masqueradeAll.lowercased()) else {
                throw ValidationError("invalid argument \"\(masqueradeAll)\" for \"--masquerade-all\" flag")
            }
            o.masqueradeAll = b
        }
        if let masqueradeBit { o.masqueradeBit = masqueradeBit }
        guard (0...31).contains(o.masqueradeBit) else {
            throw ValidationError("masqueradeBit: must be within the range [0, 31]")
        }
        guard o.syncPeriod > .zero else { throw ValidationError("syncPeriod: must be greater than 0") }
        return (o, kubeconfigPath)
    }

    static func duration(_ s: String, _ name: String) throws -> Swift.Duration {
        guard let seconds = APIServerFlags.goDuration(s), seconds >= 0 else {
            throw ValidationError("invalid argument \"\(s)\" for \"\(name)\": time: invalid duration")
        }
        return .milliseconds(Int64(seconds * 1000))
    }

    static func list(_ s: String) -> [String] {
        s.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// Parses k3s-style `--kube-proxy-arg` values (`name=value`) over `defaults`.
    static func builtIn(_ args: [String], defaults: [String]) throws -> KubeProxyFlags {
        try KubeProxyFlags.parse(defaults + args.map { $0.hasPrefix("--") ? $0 : "--" + $0 })
    }

    /// Runs the proxy inside `server` or `agent` on `client`; without root or `nft` it says why the
    /// proxy is off and returns (the rest of the process runs on).
    static func runBuiltIn(client: KubeClient, options: KubeProxy.Options) async {
        let say: @Sendable (String) -> Void = { FileHandle.standardError.write(Data("kube-proxy: \($0)\n".utf8)) }
        if let why = KubeProxy.unavailable(nftPath: options.nftPath) {
            say("kube-proxy is off: \(why) (--disable kube-proxy hides this)")
            return
        }
        do {
            try await KubeProxy(client: client, options: options, log: say).run()
        } catch is CancellationError {
        } catch {
            say("kube-proxy stopped: \(error)")
        }
    }
}

struct KubeProxyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kube-proxy",
        abstract: "Program this node's Service rules (nftables), against any API server.")
    @OptionGroup var flags: KubeProxyFlags

    func run() async throws {
        let say: @Sendable (String) -> Void = { FileHandle.standardError.write(Data("kube-proxy: \($0)\n".utf8)) }
        let (options, kubeconfig): (KubeProxy.Options, String?)
        do {
            (options, kubeconfig) = try flags.options(defaultHostname: ProcessInfo.processInfo.hostName)
        } catch {
            say("\(error)")
            throw ExitCode(1)
        }
        if flags.cleanup {
            let errors = NFTables(path: options.nftPath).cleanup()
            for e in errors { say("cleanup: \(e)") }
            throw ExitCode(errors.isEmpty ? 0 : 1)
        }
        if let why = KubeProxy.unavailable(nftPath: options.nftPath) {
            say("cannot run in nftables mode here: \(why)")
            throw ExitCode(1)
        }
        var config: ClientConfig
        do { config = try ClientConfig.load(kubeconfig: kubeconfig, master: flags.master) } catch {
            say("\(error)")
            throw ExitCode(1)
        }
        config.userAgent = "kube-proxy/\(K8swiftVersion.info.gitVersion) (linux/amd64) k8swift"
        let client = try KubeClient(config: config)
        try await KubeProxy(client: client, options: options, log: say).run()
    }
}
