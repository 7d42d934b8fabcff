import CBuildInfo

/// Version facts of this build.
public enum K8swiftVersion {
    /// The Kubernetes release whose API is implemented.
    public static let kubernetes = "v1.36.2"
    /// The oldest minor release this one stays compatible with (upstream's `minCompatibility*`).
    static let minCompatibilityMinor = "35"
    /// k8swift's own version (`0.1.0`, or `0.1.0-dev.<commits>.g<commit>` between releases), from git
    /// at build time.
    public static let k8swift = String(cString: k8swift_build_version())
    /// What `/version` serves and `k8swift version` prints.
    public static let info = VersionInfo.current
    public static var full: String { "k8swift \(k8swift) (Kubernetes API \(kubernetes))" }
}

/// Upstream's `version.Info` (`/version`): the Kubernetes version implemented, and this build's git
/// facts. `gitVersion` keeps the Kubernetes version first so clients' version-skew logic holds, with
/// k8swift's own version as semver build metadata (as k3s does with `+k3s1`). `goVersion` carries the
/// Swift version: the field keeps its name for clients that decode it.
public struct VersionInfo: Sendable, Equatable {
    public var major: String
    public var minor: String
    public var emulationMajor: String
    public var emulationMinor: String
    public var minCompatibilityMajor: String
    public var minCompatibilityMinor: String
    public var gitVersion: String
    public var gitCommit: String
    public var gitTreeState: String
    public var buildDate: String
    public var goVersion: String
    public var compiler: String
    public var platform: String

    static var current: VersionInfo {
        let parts = K8swiftVersion.kubernetes.dropFirst().split(separator: ".").map(String.init)
        #if arch(x86_64)
            let arch = "amd64"
        #elseif arch(arm64)
            let arch = "arm64"
        #else
            let arch = "unknown"
        #endif
        #if os(Linux)
            let os = "linux"
        #else
            let os = "darwin"
        #endif
        let swift = String(cString: k8swift_build_swift_version())
        return VersionInfo(
            major: parts[0], minor: parts[1], emulationMajor: parts[0], emulationMinor: parts[1],
            minCompatibilityMajor: parts[0], minCompatibilityMinor: K8swiftVersion.minCompatibilityMinor,
            gitVersion: "\(K8swiftVersion.kubernetes)+k8swift.\(K8swiftVersion.k8swift)",
            gitCommit: String(cString: k8swift_build_git_commit()),
            gitTreeState: String(cString: k8swift_build_git_tree_state()),
            buildDate: String(cString: k8swift_build_date()), goVersion: swift.isEmpty ? "swift" : "swift" + swift,
            compiler: "swiftc", platform: "\(os)/\(arch)")
    }

    /// Fields in upstream's order.
    public var fields: [(name: String, value: String)] {
        [
            ("major", major), ("minor", minor), ("emulationMajor", emulationMajor), ("emulationMinor", emulationMinor),
            ("minCompatibilityMajor", minCompatibilityMajor), ("minCompatibilityMinor", minCompatibilityMinor),
            ("gitVersion", gitVersion), ("gitCommit", gitCommit), ("gitTreeState", gitTreeState),
            ("buildDate", buildDate), ("goVersion", goVersion), ("compiler", compiler), ("platform", platform),
        ]
    }

    /// Indented JSON, as upstream's `/version` writes it (no final newline).
    public var jsonBytes: [UInt8] {
        var w = JSONWriter(capacity: 512)
        w.beginObject()
        for f in fields {
            w.key(f.name)
            w.string(f.value)
        }
        w.endObject()
        return JSONIndent.indent(w.bytes)
    }
}
