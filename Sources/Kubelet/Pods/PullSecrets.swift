import APICore
import CRI
import Foundation

/// Registry credentials from a pod's `imagePullSecrets`: `kubernetes.io/dockerconfigjson` secrets
/// (`.dockerconfigjson`, `{"auths": {registry: {...}}}`) and the older `kubernetes.io/dockercfg`
/// (`.dockercfg`, the registry map itself). An entry applies to an image whose registry host (and
/// path prefix, when the entry has one) it names; `docker.io` images match Docker Hub's names.
public enum PullSecrets {
    public struct Credential: Equatable, Sendable {
        public var registry: String
        public var username = ""
        public var password = ""
        public var auth = ""
        public var identityToken = ""
        public var registryToken = ""
    }

    /// The credentials a secret holds, in its own order.
    public static func credentials(_ secret: CoreV1.Secret) -> [Credential] {
        let raw: [UInt8]
        var wrapped = true
        if let b = secret.data[".dockerconfigjson"] {
            raw = b
        } else if let b = secret.data[".dockercfg"] {
            raw = b
            wrapped = false
        } else {
            return []
        }
        guard let top = try? JSONSerialization.jsonObject(with: Data(raw)) as? [String: Any] else { return [] }
        let auths = wrapped ? (top["auths"] as? [String: Any] ?? [:]) : top
        return auths.keys.sorted().compactMap { key -> Credential? in
            guard let e = auths[key] as? [String: Any] else { return nil }
            var c = Credential(registry: key)
            c.username = e["username"] as? String ?? ""
            c.password = e["password"] as? String ?? ""
            c.auth = e["auth"] as? String ?? ""
            c.identityToken = e["identitytoken"] as? String ?? ""
            c.registryToken = e["registrytoken"] as? String ?? ""
            if c.username.isEmpty, !c.auth.isEmpty, let d = Data(base64Encoded: c.auth),
                let s = String(data: d, encoding: .utf8), let colon = s.firstIndex(of: ":")
            {
                c.username = String(s[..<colon])
                c.password = String(s[s.index(after: colon)...])
            }
            return c
        }
    }

    /// The registry host and repository path of an image reference (`docker.io` for short names).
    public static func location(_ image: String) -> (host: String, path: String) {
        var name = image
        if let at = name.firstIndex(of: "@") { name = String(name[..<at]) }
        let parts = name.split(separator: "/", maxSplits: 1).map(String.init)
        var host = "docker.io"
        var path = name
        if parts.count == 2, parts[0].contains(".") || parts[0].contains(":") || parts[0] == "localhost" {
            host = parts[0]
            path = parts[1]
        }
        // The tag belongs to the last path element.
        if let colon = path.lastIndex(of: ":"), !path[colon...].contains("/") { path = String(path[..<colon]) }
        return (host, path)
    }

    /// Whether a credential's key (`host`, `host/path`, a URL, Docker Hub's index URL) covers the image.
    public static func matches(_ key: String, image: String) -> Bool {
        var k = key
        for scheme in ["https://", "http://"] where k.hasPrefix(scheme) { k = String(k.dropFirst(scheme.count)) }
        while k.hasSuffix("/") { k.removeLast() }
        if k.hasSuffix("/v1") || k.hasSuffix("/v2") { k = String(k.dropLast(3)) }
        let (host, path) = location(image)
        let keyHost = k.split(separator: "/", maxSplits: 1).first.map(String.init) ?? k
        let keyPath = k.split(separator: "/", maxSplits: 1).dropFirst().first.map(String.init) ?? ""
        let hubNames: Set<String> = ["docker.io", "index.docker.io", "registry-1.docker.io"]
        let sameHost = keyHost == host || (hubNames.contains(keyHost) && hubNames.contains(host))
        guard sameHost else { return false }
        return keyPath.isEmpty || path == keyPath || path.hasPrefix(keyPath + "/")
    }

    /// CRI auth for a credential.
    public static func auth(_ c: Credential) -> Runtime_V1_AuthConfig {
        var a = Runtime_V1_AuthConfig()
        a.username = c.username
        a.password = c.password
        a.auth = c.auth
        a.serverAddress = c.registry
        a.identityToken = c.identityToken
        a.registryToken = c.registryToken
        return a
    }
}
