import Foundation
import Testing

@testable import KubeClient

@Suite("kubeconfig loading")
struct KubeConfigTests {
    func tempDir() throws -> String {
        let d = NSTemporaryDirectory() + "kc-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }

    static let first = """
        apiVersion: v1
        kind: Config
        clusters:
        - name: a
          cluster:
            server: https://a.example:6443
            certificate-authority: ca.crt
        - name: shared
          cluster: {server: https://first.example}
        users:
        - name: alice
          user: {token: t-alice}
        - name: bob
          user:
            client-certificate-data: Y2VydA==
            client-key-data: a2V5
        contexts:
        - name: ctx-a
          context: {cluster: a, user: alice, namespace: team}
        - name: ctx-shared
          context: {cluster: shared, user: bob}
        current-context: ctx-a
        """
    static let second = """
        apiVersion: v1
        kind: Config
        clusters:
        - name: shared
          cluster: {server: https://second.example, insecure-skip-tls-verify: true}
        - name: b
          cluster: {server: https://b.example}
        users:
        - name: carol
          user: {tokenFile: /run/token}
        contexts:
        - name: ctx-b
          context: {cluster: b, user: carol}
        current-context: ctx-b
        """

    @Test("a context gives server, credentials, namespace; relative paths are relative to the file")
    func singleFile() throws {
        let dir = try tempDir()
        try Self.first.write(toFile: dir + "/config", atomically: true, encoding: .utf8)
        try "CA PEM".write(toFile: dir + "/ca.crt", atomically: true, encoding: .utf8)
        let k = try KubeConfig.load(path: dir + "/config")
        #expect(k.clusters["a"]?.certificateAuthority == dir + "/ca.crt")
        let c = try ClientConfig.fromKubeConfig(k)
        #expect(c.server == "https://a.example:6443")
        #expect(c.bearerToken == "t-alice")
        #expect(c.namespace == "team")
        #expect(c.caData == Array("CA PEM".utf8))
        let bob = try ClientConfig.fromKubeConfig(k, context: "ctx-shared")
        #expect(bob.clientCertificateData == Array("cert".utf8) && bob.clientKeyData == Array("key".utf8))
        #expect(bob.namespace == "default", "no namespace in the context means default")
        #expect(throws: KubeConfigError.self) { try ClientConfig.fromKubeConfig(k, context: "nope") }
    }

    @Test("$KUBECONFIG files merge as kubectl merges them: the first to name an entry wins")
    func merging() throws {
        let dir = try tempDir()
        try Self.first.write(toFile: dir + "/one", atomically: true, encoding: .utf8)
        try Self.second.write(toFile: dir + "/two", atomically: true, encoding: .utf8)
        try "CA".write(toFile: dir + "/ca.crt", atomically: true, encoding: .utf8)
        let c = try ClientConfig.load(environment: ["KUBECONFIG": "\(dir)/missing:\(dir)/one:\(dir)/two", "HOME": dir])
        #expect(c.server == "https://a.example:6443", "current-context of the first file that sets one")
        let merged = try KubeConfig.merged(paths: [dir + "/one", dir + "/two"])
        #expect(merged.clusters["shared"]?.server == "https://first.example")
        #expect(merged.clusters["shared"]?.insecureSkipTLSVerify == false)
        #expect(merged.clusters["b"]?.server == "https://b.example")
        let carol = try ClientConfig.fromKubeConfig(merged, context: "ctx-b")
        #expect(carol.bearerTokenFile == "/run/token" && carol.bearerToken == nil)
        // --kubeconfig wins over $KUBECONFIG, and --master over the file's server.
        let explicit = try ClientConfig.load(
            kubeconfig: dir + "/two", master: "https://override:1", environment: ["KUBECONFIG": dir + "/one"])
        #expect(explicit.server == "https://override:1" && explicit.bearerTokenFile == "/run/token")
    }

    @Test("~/.kube/config is the default, then the in-cluster service account")
    func defaults() throws {
        let home = try tempDir()
        try FileManager.default.createDirectory(atPath: home + "/.kube", withIntermediateDirectories: true)
        try Self.second.write(toFile: home + "/.kube/config", atomically: true, encoding: .utf8)
        #expect(try ClientConfig.load(environment: ["HOME": home]).server == "https://b.example")
        let sa = try tempDir()
        try "tok".write(toFile: sa + "/token", atomically: true, encoding: .utf8)
        try "CA".write(toFile: sa + "/ca.crt", atomically: true, encoding: .utf8)
        try "apps\n".write(toFile: sa + "/namespace", atomically: true, encoding: .utf8)
        let env = ["KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"]
        let c = try #require(ClientConfig.inCluster(environment: env, directory: sa))
        #expect(c.server == "https://10.96.0.1:443" && c.bearerTokenFile == sa + "/token")
        #expect(c.caData == Array("CA".utf8) && c.namespace == "apps")
        #expect(ClientConfig.inCluster(environment: [:], directory: sa) == nil)
        let v6 = try #require(
            ClientConfig.inCluster(
                environment: ["KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "443"], directory: sa))
        #expect(v6.server == "https://[fd00::1]:443")
        #expect(throws: KubeConfigError.self) { try ClientConfig.load(environment: ["HOME": sa]) }
    }

    @Test("an exec plugin's ExecCredential becomes the bearer token; a wrong apiVersion is refused")
    func execPlugin() throws {
        let dir = try tempDir()
        let script = dir + "/plugin.sh"
        try """
        #!/bin/sh
        case "$KUBERNETES_EXEC_INFO" in *'"interactive":false'*) ;; *) exit 3;; esac
        echo '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"tok-'$1'","expirationTimestamp":"2099-01-01T00:00:00Z"}}'
        """.write(toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o755)
        var exec = KubeConfig.ExecConfig()
        exec.apiVersion = "client.authentication.k8s.io/v1"
        exec.command = script
        exec.args = ["x1"]
        let cred = try ExecPlugin.run(exec, server: "https://s", caData: nil)
        #expect(cred.token == "tok-x1")
        #expect(cred.expiration == Date(timeIntervalSince1970: 4_070_908_800))
        var config = ClientConfig(server: "https://s")
        config.exec = exec
        #expect(try Credentials(config: config).authorization() == "Bearer tok-x1")
        exec.apiVersion = "client.authentication.k8s.io/v1beta1"
        #expect(throws: KubeConfigError.self) { try ExecPlugin.run(exec, server: "https://s", caData: nil) }
    }
}
