import APIMachinery
import Foundation
import Synchronization

/// The `Authorization` header of each request: a static token, a token file re-read once a minute,
/// basic auth, or an exec credential plugin (`client.authentication.k8s.io/v1`) run again when its
/// credential expires or the server answers 401.
final class Credentials: Sendable {
    private struct Cached {
        var header: String?
        var expires: Date?
    }

    let config: ClientConfig
    private let cache = Mutex(Cached())

    init(config: ClientConfig) { self.config = config }

    /// The header value, or nil for none (client certificates only, or anonymous).
    func authorization() throws -> String? {
        if let t = config.bearerToken, !t.isEmpty { return "Bearer " + t }
        if config.bearerTokenFile != nil || config.exec != nil {
            let c = cache.withLock { $0 }
            if let h = c.header, let e = c.expires, e > Date() { return h }
            let fresh: Cached
            if let f = config.bearerTokenFile {
                guard let d = FileManager.default.contents(atPath: f) else {
                    throw KubeConfigError("unable to read token file \(f)")
                }
                let t = String(decoding: d, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                fresh = Cached(header: "Bearer " + t, expires: Date().addingTimeInterval(60))
            } else {
                let cred = try ExecPlugin.run(config.exec!, server: config.server, caData: config.caData)
                fresh = Cached(
                    header: cred.token.map { "Bearer " + $0 },
                    expires: cred.expiration ?? Date().addingTimeInterval(3600 * 24 * 365))
            }
            cache.withLock { $0 = fresh }
            return fresh.header
        }
        if let u = config.username, let p = config.password {
            return "Basic " + Data("\(u):\(p)".utf8).base64EncodedString()
        }
        return nil
    }

    /// Runs the exec plugin now (when there is one) and keeps its token; answers the credential, so a
    /// client certificate it returns can be used for TLS.
    func primeExec() throws -> ExecPlugin.Credential? {
        guard let exec = config.exec, config.bearerToken == nil else { return nil }
        let cred = try ExecPlugin.run(exec, server: config.server, caData: config.caData)
        cache.withLock {
            $0 = Cached(
                header: cred.token.map { "Bearer " + $0 },
                expires: cred.expiration ?? Date().addingTimeInterval(3600 * 24 * 365))
        }
        return cred
    }

    /// Forgets a cached credential after a 401, so the next request fetches a new one; true when there
    /// was one to forget.
    func invalidate() -> Bool {
        guard config.exec != nil || config.bearerTokenFile != nil else { return false }
        cache.withLock { $0 = Cached() }
        return true
    }
}

/// An exec credential plugin, run as kubectl runs it.
public enum ExecPlugin {
    public struct Credential: Sendable, Equatable {
        public var token: String?
        public var clientCertificateData: String?
        public var clientKeyData: String?
        public var expiration: Date?
    }

    /// Runs the plugin and parses the `ExecCredential` it prints.
    public static func run(_ exec: KubeConfig.ExecConfig, server: String, caData: [UInt8]?) throws -> Credential {
        let supported = ["client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1"]
        guard supported.contains(exec.apiVersion) else {
            throw KubeConfigError("exec plugin: invalid apiVersion \"\(exec.apiVersion)\"")
        }
        var w = JSONWriter()
        w.beginObject()
        w.key("apiVersion"); w.string(exec.apiVersion)
        w.key("kind"); w.string("ExecCredential")
        w.key("spec")
        w.beginObject()
        if exec.provideClusterInfo {
            w.key("cluster")
            w.beginObject()
            w.key("server"); w.string(server)
            if let ca = caData {
                w.key("certificate-authority-data"); w.base64(ca)
            }
            w.endObject()
        }
        w.key("interactive"); w.bool(false)
        w.endObject()
        w.endObject()
        let p = Process()
        if exec.command.contains("/") {
            p.executableURL = URL(fileURLWithPath: exec.command)
            p.arguments = exec.args
        } else {
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = [exec.command] + exec.args
        }
        var env = ProcessInfo.processInfo.environment
        for e in exec.env { env[e.name] = e.value }
        env["KUBERNETES_EXEC_INFO"] = String(decoding: w.bytes, as: UTF8.self)
        p.environment = env
        let out = Pipe()
        p.standardOutput = out
        p.standardInput = FileHandle.nullDevice
        do { try p.run() } catch {
            throw KubeConfigError("exec: executable \(exec.command) not found")
        }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw KubeConfigError("exec: executable \(exec.command) failed with exit code \(p.terminationStatus)")
        }
        let json = try JSONValue.parse(Array(data))
        guard json["kind"]?.stringValue == "ExecCredential" else {
            throw KubeConfigError("exec plugin: decoding stdout: no ExecCredential kind")
        }
        guard json["apiVersion"]?.stringValue == exec.apiVersion else {
            throw KubeConfigError(
                "exec plugin is configured to use API version \(exec.apiVersion), plugin returned version \(json["apiVersion"]?.stringValue ?? "")"
            )
        }
        let st = json["status"]
        var c = Credential()
        c.token = st?["token"]?.stringValue
        c.clientCertificateData = st?["clientCertificateData"]?.stringValue
        c.clientKeyData = st?["clientKeyData"]?.stringValue
        if let e = st?["expirationTimestamp"]?.stringValue, let t = Time(rfc3339: e) {
            c.expiration = Date(timeIntervalSince1970: TimeInterval(t.seconds))
        }
        if c.token == nil && (c.clientCertificateData == nil || c.clientKeyData == nil) {
            throw KubeConfigError("exec plugin didn't return a token or cert/key pair")
        }
        return c
    }
}
