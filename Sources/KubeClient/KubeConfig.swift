import APIMachinery
import Foundation

/// A kubeconfig file (`kind: Config`): clusters, users and contexts by name, as kubectl reads it.
/// Relative file paths in a file are resolved against that file's directory when it is loaded, so
/// several files merge without losing where each path came from.
public struct KubeConfig: Sendable, Equatable {
    public struct Cluster: Sendable, Equatable {
        public var server = ""
        public var certificateAuthority: String?
        public var certificateAuthorityData: [UInt8]?
        public var insecureSkipTLSVerify = false
        public var tlsServerName: String?
        public init() {}
    }

    public struct ExecConfig: Sendable, Equatable {
        public var apiVersion = ""
        public var command = ""
        public var args: [String] = []
        public var env: [(name: String, value: String)] = []
        public var provideClusterInfo = false
        public init() {}

        public static func == (a: ExecConfig, b: ExecConfig) -> Bool {
            a.apiVersion == b.apiVersion && a.command == b.command && a.args == b.args
                && a.env.map(\.name) == b.env.map(\.name) && a.env.map(\.value) == b.env.map(\.value)
                && a.provideClusterInfo == b.provideClusterInfo
        }
    }

    public struct User: Sendable, Equatable {
        public var token: String?
        public var tokenFile: String?
        public var clientCertificate: String?
        public var clientCertificateData: [UInt8]?
        public var clientKey: String?
        public var clientKeyData: [UInt8]?
        public var username: String?
        public var password: String?
        public var exec: ExecConfig?
        public init() {}
    }

    public struct Context: Sendable, Equatable {
        public var cluster = ""
        public var user = ""
        public var namespace: String?
        public init() {}
    }

    public var clusters: [String: Cluster] = [:]
    public var users: [String: User] = [:]
    public var contexts: [String: Context] = [:]
    public var currentContext = ""

    public init() {}

    /// Parses one kubeconfig document (YAML or JSON); relative paths are taken against `directory`.
    public init(yaml text: String, directory: String? = nil) throws {
        let json = try JSONValue.parse(try YAML.toJSON(text))
        func path(_ v: JSONValue?) -> String? {
            guard let p = v?.stringValue, !p.isEmpty else { return nil }
            if p.hasPrefix("/") || directory == nil { return p }
            return directory! + "/" + p
        }
        func data(_ v: JSONValue?) throws -> [UInt8]? {
            guard let s = v?.stringValue, !s.isEmpty else { return nil }
            guard let d = Data(base64Encoded: s, options: .ignoreUnknownCharacters) else {
                throw KubeConfigError("illegal base64 data in kubeconfig")
            }
            return Array(d)
        }
        for entry in json["clusters"]?.arrayValue ?? [] {
            guard let name = entry["name"]?.stringValue, let c = entry["cluster"] else { continue }
            var cluster = Cluster()
            cluster.server = c["server"]?.stringValue ?? ""
            cluster.certificateAuthority = path(c["certificate-authority"])
            cluster.certificateAuthorityData = try data(c["certificate-authority-data"])
            cluster.insecureSkipTLSVerify = c["insecure-skip-tls-verify"]?.boolValue ?? false
            cluster.tlsServerName = c["tls-server-name"]?.stringValue
            clusters[name] = cluster
        }
        for entry in json["users"]?.arrayValue ?? [] {
            guard let name = entry["name"]?.stringValue else { continue }
            let u = entry["user"] ?? .object([])
            var user = User()
            user.token = u["token"]?.stringValue
            user.tokenFile = path(u["tokenFile"])
            user.clientCertificate = path(u["client-certificate"])
            user.clientCertificateData = try data(u["client-certificate-data"])
            user.clientKey = path(u["client-key"])
            user.clientKeyData = try data(u["client-key-data"])
            user.username = u["username"]?.stringValue
            user.password = u["password"]?.stringValue
            if let e = u["exec"], case .object = e {
                var exec = ExecConfig()
                exec.apiVersion = e["apiVersion"]?.stringValue ?? ""
                exec.command = e["command"]?.stringValue ?? ""
                // A command given as a relative path with a slash is relative to the file.
                if exec.command.contains("/"), !exec.command.hasPrefix("/"), let d = directory {
                    exec.command = d + "/" + exec.command
                }
                exec.args = (e["args"]?.arrayValue ?? []).compactMap(\.stringValue)
                exec.env = (e["env"]?.arrayValue ?? []).compactMap { v in
                    guard let n = v["name"]?.stringValue else { return nil }
                    return (n, v["value"]?.stringValue ?? "")
                }
                exec.provideClusterInfo = e["provideClusterInfo"]?.boolValue ?? false
                user.exec = exec
            }
            users[name] = user
        }
        for entry in json["contexts"]?.arrayValue ?? [] {
            guard let name = entry["name"]?.stringValue, let c = entry["context"] else { continue }
            var ctx = Context()
            ctx.cluster = c["cluster"]?.stringValue ?? ""
            ctx.user = c["user"]?.stringValue ?? ""
            ctx.namespace = c["namespace"]?.stringValue
            contexts[name] = ctx
        }
        currentContext = json["current-context"]?.stringValue ?? ""
    }

    /// Reads one file.
    public static func load(path: String) throws -> KubeConfig {
        guard let d = FileManager.default.contents(atPath: path) else {
            throw KubeConfigError("stat \(path): no such file or directory")
        }
        let dir = URL(fileURLWithPath: path).deletingLastPathComponent().path
        return try KubeConfig(yaml: String(decoding: d, as: UTF8.self), directory: dir)
    }

    /// Merges files as kubectl merges `$KUBECONFIG`: the first file to name a cluster, user or
    /// context wins, and the first non-empty `current-context` wins. Missing files are skipped.
    public static func merged(paths: [String]) throws -> KubeConfig {
        var out = KubeConfig()
        for p in paths where !p.isEmpty && FileManager.default.fileExists(atPath: p) {
            let c = try load(path: p)
            out.clusters.merge(c.clusters) { first, _ in first }
            out.users.merge(c.users) { first, _ in first }
            out.contexts.merge(c.contexts) { first, _ in first }
            if out.currentContext.isEmpty { out.currentContext = c.currentContext }
        }
        return out
    }
}

/// A kubeconfig that cannot be used, with kubectl's wording where it has one.
public struct KubeConfigError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

extension JSONValue {
    var arrayValue: [JSONValue]? {
        if case .array(let a) = self { return a }
        return nil
    }
    var boolValue: Bool? {
        switch self {
        case .bool(let b): return b
        case .string(let s): return s == "true"
        default: return nil
        }
    }
}
