import ArgumentParser
import Crypto
import Foundation
import KubeClient
import Kubelet
import KubernetesAPI
import Proxy

/// The node join token, as k3s shapes it: `K10<sha256 of the cluster CA (PEM), hex>::server:<secret>`.
/// The hash lets an agent that knows only the token trust the CA it fetches from the server.
struct NodeToken: Equatable {
    var caHash: String?
    var secret: String

    init(caPEM: String, secret: String) {
        caHash = SHA256.hash(data: Data(caPEM.utf8)).map { String(format: "%02x", $0) }.joined()
        self.secret = secret
    }

    /// A full token, or a bare secret (then the CA is taken on trust).
    init(parsing text: String) {
        let t = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if t.hasPrefix("K10"), let sep = t.range(of: "::") {
            caHash = String(t[t.index(t.startIndex, offsetBy: 3)..<sep.lowerBound]).lowercased()
            let rest = t[sep.upperBound...]
            secret = rest.hasPrefix("server:") ? String(rest.dropFirst("server:".count)) : String(rest)
        } else {
            caHash = nil
            secret = t
        }
    }

    var text: String { "K10\(caHash ?? "")::server:\(secret)" }

    func write(to path: String) throws {
        try (text + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o600)
    }

    /// The server's secret: given, else kept in `<data-dir>/token`, else new.
    static func secret(dataDir: String, given: String?) throws -> String {
        if let given, !given.isEmpty { return NodeToken(parsing: given).secret }
        if let text = try? String(contentsOfFile: dataDir + "/token", encoding: .utf8) {
            let t = NodeToken(parsing: text)
            if !t.secret.isEmpty { return t.secret }
        }
        var bytes = [UInt8](repeating: 0, count: 16)
        for i in bytes.indices { bytes[i] = UInt8.random(in: 0...255) }
        return bytes.map { String(format: "%02x", $0) }.joined()
    }
}

struct AgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent", abstract: "Run a node that joins a k8swift server (its kubelet and containerd).")

    @Option(name: .customLong("server"), help: "The server to join: https://host:port.")
    var server: String
    @Option(name: .customLong("token"), help: "The server's node token (its <data-dir>/token).")
    var token: String?
    @Option(name: .customLong("token-file"), help: "A file holding the node token.")
    var tokenFile: String?
    @OptionGroup var flags: KubeletFlags
    @Option(
        name: .customLong("kube-proxy-arg"),
        help: "A flag for the agent's kube-proxy, as k3s takes it: name=value (repeatable).")
    var kubeProxyArgs: [String] = []
    @Flag(name: .customLong("disable-kube-proxy"), help: "Do not run kube-proxy beside the node.")
    var disableKubeProxy = false

    func validate() throws {
        guard token != nil || tokenFile != nil else { throw ValidationError("--token or --token-file is required") }
    }

    func run() async throws {
        let say: @Sendable (String) -> Void = { FileHandle.standardError.write(Data("agent: \($0)\n".utf8)) }
        let text = try token ?? String(contentsOfFile: tokenFile!, encoding: .utf8)
        let joined = NodeToken(parsing: text)
        var options = try flags.options(defaultName: ProcessInfo.processInfo.hostName)
        if let why = KubeletNode.unavailable(options) {
            say("cannot run a node here: \(why)")
            throw ExitCode(1)
        }
        let ca = try await Self.clusterCA(server: server, token: joined)
        try FileManager.default.createDirectory(atPath: options.rootDir + "/pki", withIntermediateDirectories: true)
        let caFile = options.rootDir + "/pki/ca.crt"
        try ca.write(toFile: caFile, atomically: true, encoding: .utf8)
        // The API server's kubelet client certificate is signed by the cluster CA.
        if options.clientCAFile == nil { options.clientCAFile = caFile }
        var config = ClientConfig(server: server)
        config.caData = Array(ca.utf8)
        config.bearerToken = joined.secret
        config.userAgent = "kubelet/\(K8swiftVersion.info.gitVersion) (linux/amd64) k8swift-agent"
        let client = try KubeClient(config: config)
        say("joined \(server) as node \(options.nodeName)")
        let node = KubeletNode(client: client, options: options, log: say)
        let signals = options.shutdown.enabled ? ShutdownSignals(node) : nil
        // kube-proxy beside the node, on the node's credentials; k3s's default cluster CIDR unless
        // `--kube-proxy-arg cluster-cidr=…` says otherwise.
        let proxy =
            disableKubeProxy
            ? nil
            : try KubeProxyFlags.builtIn(
                kubeProxyArgs, defaults: ["--hostname-override=\(options.nodeName)", "--cluster-cidr=10.42.0.0/16"]
            ).options(defaultHostname: options.nodeName).0
        let proxyTask = proxy.map { p in Task { await KubeProxyFlags.runBuiltIn(client: client, options: p) } }
        defer { proxyTask?.cancel() }
        try await node.run()
        signals?.cancel()
    }

    /// The cluster CA as the server publishes it (`kube-root-ca.crt`), read before the CA is known
    /// and checked against the token's hash.
    static func clusterCA(server: String, token: NodeToken) async throws -> String {
        var insecure = ClientConfig(server: server)
        insecure.insecureSkipTLSVerify = true
        insecure.bearerToken = token.secret
        let client = try KubeClient(config: insecure)
        var lastError: (any Error)?
        for _ in 0..<60 {
            do {
                let cm = try await client.get(CoreV1.ConfigMap.self, "kube-root-ca.crt", namespace: "kube-system")
                guard let ca = cm.data["ca.crt"], !ca.isEmpty else {
                    throw ValidationError("kube-root-ca.crt is empty")
                }
                if let hash = token.caHash, !hash.isEmpty, NodeToken(caPEM: ca, secret: "").caHash != hash {
                    throw ValidationError("the server's CA does not match the token's hash: not joining")
                }
                return ca
            } catch let e as ValidationError {
                throw e
            } catch {
                lastError = error
                try await Task.sleep(for: .seconds(1))
            }
        }
        throw ValidationError("cannot read the cluster CA from \(server): \(lastError.map { "\($0)" } ?? "")")
    }
}
