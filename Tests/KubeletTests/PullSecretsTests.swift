import APICore
import Foundation
import Kubelet
import Testing

/// Credentials from image pull secrets: the Docker config formats (`.dockerconfigjson` with
/// `auths`, the older `.dockercfg`, `auth` as base64 `user:password`) and which images an entry covers.
@Suite("image pull secrets")
struct PullSecretsTests {
    static func secret(_ key: String, _ json: String) -> CoreV1.Secret {
        var s = CoreV1.Secret()
        s.data[key] = Array(json.utf8)
        return s
    }

    @Test("both formats; auth decoded into username and password")
    func formats() {
        let auth = Data("alice:s3cret".utf8).base64EncodedString()
        let c = PullSecrets.credentials(
            Self.secret(".dockerconfigjson", #"{"auths":{"registry.example:5000":{"auth":"\#(auth)"}}}"#))
        #expect(c.count == 1)
        #expect(c.first?.registry == "registry.example:5000")
        #expect(c.first?.username == "alice" && c.first?.password == "s3cret")
        let old = PullSecrets.credentials(
            Self.secret(".dockercfg", #"{"https://index.docker.io/v1/":{"username":"bob","password":"pw"}}"#))
        #expect(old.first?.username == "bob" && old.first?.password == "pw")
        #expect(PullSecrets.credentials(Self.secret("other", "{}")).isEmpty)
        #expect(PullSecrets.credentials(Self.secret(".dockerconfigjson", "not json")).isEmpty)
    }

    @Test(
        "which images a credential covers",
        arguments: [
            ("registry.example:5000", "registry.example:5000/team/app:1.0", true),
            ("registry.example:5000", "registry.example/team/app:1.0", false),
            ("https://registry.example:5000/v2/", "registry.example:5000/app", true),
            ("registry.example:5000/team", "registry.example:5000/team/app", true),
            ("registry.example:5000/team", "registry.example:5000/other/app", false),
            ("https://index.docker.io/v1/", "busybox:1.36", true),
            ("docker.io", "library/busybox", true),
            ("quay.io", "busybox", false),
            ("localhost:5000", "localhost:5000/x@sha256:abc", true),
        ])
    func matching(_ key: String, _ image: String, _ expected: Bool) {
        #expect(PullSecrets.matches(key, image: image) == expected)
    }
}
