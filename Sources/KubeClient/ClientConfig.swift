import Foundation

/// Everything a client needs to reach one API server (client-go's `rest.Config`): where, how to trust
/// it, who to be, and how politely to ask.
public struct ClientConfig: Sendable {
    /// Which encoding a typed client asks for and sends.
    public enum WireFormat: Sendable { case json, protobuf }

    /// `https://host:port` (a path prefix is kept).
    public var server: String
    public var caData: [UInt8]?
    public var insecureSkipTLSVerify = false
    public var tlsServerName: String?
    public var clientCertificateData: [UInt8]?
    public var clientKeyData: [UInt8]?
    public var bearerToken: String?
    /// Re-read periodically, so a rotated token (a projected service-account token) is picked up.
    public var bearerTokenFile: String?
    public var username: String?
    public var password: String?
    public var exec: KubeConfig.ExecConfig?
    /// The namespace of the chosen context (or of the pod, in cluster); `default` when none.
    public var namespace = "default"
    /// Client-side rate limit: sustained requests per second and burst (client-go's defaults).
    public var qps: Double = 5
    public var burst = 10
    public var userAgent = "k8swift"
    /// Deadline of a request that is not a watch; nil waits as long as the server does.
    public var timeout: Swift.Duration? = nil
    /// Typed clients use protobuf for built-in kinds, as upstream's components do.
    public var wireFormat: WireFormat = .protobuf

    public init(server: String) { self.server = server }

    /// Where service-account credentials are mounted in a pod.
    public static let serviceAccountDirectory = "/var/run/secrets/kubernetes.io/serviceaccount"

    /// The in-cluster configuration: `KUBERNETES_SERVICE_HOST`/`_PORT`, and the mounted token, CA and
    /// namespace; nil when not running in a pod.
    public static func inCluster(
        environment: [String: String] = ProcessInfo.processInfo.environment,
        directory: String = serviceAccountDirectory
    ) -> ClientConfig? {
        guard let host = environment["KUBERNETES_SERVICE_HOST"], !host.isEmpty,
            let port = environment["KUBERNETES_SERVICE_PORT"], !port.isEmpty,
            FileManager.default.fileExists(atPath: directory + "/token")
        else { return nil }
        let h = host.contains(":") ? "[\(host)]" : host
        var c = ClientConfig(server: "https://\(h):\(port)")
        c.bearerTokenFile = directory + "/token"
        c.caData = FileManager.default.contents(atPath: directory + "/ca.crt").map { Array($0) }
        if let ns = FileManager.default.contents(atPath: directory + "/namespace") {
            let s = String(decoding: ns, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            if !s.isEmpty { c.namespace = s }
        }
        return c
    }

    /// Resolves a configuration as upstream's tools do: an explicit `--kubeconfig` file, else the files
    /// of `$KUBECONFIG` merged, else `~/.kube/config`, else the in-cluster configuration; `master`
    /// (`--master`) overrides the server, and `context` (`--context`) the current context.
    public static func load(
        kubeconfig: String? = nil, master: String? = nil, context: String? = nil,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> ClientConfig {
        var file: KubeConfig?
        if let kubeconfig, !kubeconfig.isEmpty {
            file = try KubeConfig.load(path: kubeconfig)
        } else if let list = environment["KUBECONFIG"], !list.isEmpty {
            file = try KubeConfig.merged(paths: list.split(separator: ":").map(String.init))
        } else {
            let home = environment["HOME"] ?? NSHomeDirectory()
            let p = home + "/.kube/config"
            if FileManager.default.fileExists(atPath: p) { file = try KubeConfig.load(path: p) }
        }
        if let file, !(file.contexts.isEmpty && file.clusters.isEmpty) {
            var c = try fromKubeConfig(file, context: context)
            if let master, !master.isEmpty { c.server = master }
            return c
        }
        if let master, !master.isEmpty { return ClientConfig(server: master) }
        if let c = inCluster(environment: environment) { return c }
        throw KubeConfigError(
            "invalid configuration: no configuration has been provided, try setting KUBERNETES_MASTER environment variable"
        )
    }

    /// The configuration of one context of a kubeconfig.
    public static func fromKubeConfig(_ k: KubeConfig, context: String? = nil) throws -> ClientConfig {
        let name = context ?? k.currentContext
        guard !name.isEmpty else { throw KubeConfigError("invalid configuration: no context is set") }
        guard let ctx = k.contexts[name] else {
            throw KubeConfigError("context was not found for specified context: \(name)")
        }
        guard let cluster = k.clusters[ctx.cluster] else {
            throw KubeConfigError("cluster has no server defined")
        }
        guard !cluster.server.isEmpty else { throw KubeConfigError("cluster has no server defined") }
        func read(_ path: String?) throws -> [UInt8]? {
            guard let path else { return nil }
            guard let d = FileManager.default.contents(atPath: path) else {
                throw KubeConfigError("unable to read file \(path): no such file or directory")
            }
            return Array(d)
        }
        var c = ClientConfig(server: cluster.server)
        c.caData = try cluster.certificateAuthorityData ?? read(cluster.certificateAuthority)
        c.insecureSkipTLSVerify = cluster.insecureSkipTLSVerify
        c.tlsServerName = cluster.tlsServerName
        if let u = k.users[ctx.user] {
            c.clientCertificateData = try u.clientCertificateData ?? read(u.clientCertificate)
            c.clientKeyData = try u.clientKeyData ?? read(u.clientKey)
            c.bearerToken = u.token
            if c.bearerToken == nil { c.bearerTokenFile = u.tokenFile }
            c.username = u.username
            c.password = u.password
            c.exec = u.exec
        }
        if let ns = ctx.namespace, !ns.isEmpty { c.namespace = ns }
        return c
    }
}
