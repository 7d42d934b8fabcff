import Foundation
import Kubelet
import Testing

/// What `make release` wrote under `_output/release` (make test builds it before running the tests).
enum ReleaseArtifacts {
    static let dir = TestCluster.repoRoot.appendingPathComponent("_output/release")
    #if arch(x86_64)
        static let arch = "amd64"
    #else
        static let arch = "arm64"
    #endif

    static func find(_ suffix: String) -> URL? {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        return files.filter { $0.hasPrefix("k8swift-") && $0.hasSuffix("-linux-\(arch)\(suffix)") }.sorted().last
            .map { dir.appendingPathComponent($0) }
    }

    static var tarball: URL? { find(".tar.gz") }
    static var image: URL? { find(".oci.tar") }
    static var present: Bool { tarball != nil && image != nil }

    /// The version in the artifacts' names (`k8swift-<version>-linux-<arch>.tar.gz`).
    static var version: String? {
        guard let name = tarball?.lastPathComponent else { return nil }
        return String(name.dropFirst("k8swift-".count).dropLast("-linux-\(arch).tar.gz".count))
    }

    static let scratch: String = {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("k8swift-release-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        return d.path
    }()

    /// The tarball unpacked once into an empty directory: the folder it holds.
    static let unpacked: Result<URL, any Error> = Result {
        guard let tarball else { throw E2EError("no release tarball under \(dir.path)") }
        let into = scratch + "/unpacked"
        try FileManager.default.createDirectory(atPath: into, withIntermediateDirectories: true)
        try host(["/bin/tar", "-xzf", tarball.path, "-C", into])
        let top = try FileManager.default.contentsOfDirectory(atPath: into)
        guard top.count == 1 else { throw E2EError("the tarball should hold one folder, holds \(top)") }
        return URL(fileURLWithPath: into).appendingPathComponent(top[0])
    }

    /// Runs a host tool with the test's own environment.
    @discardableResult
    static func host(_ argv: [String], check: Bool = true) throws -> TestCluster.Result {
        try TestCluster.execute(
            argv, environment: ProcessInfo.processInfo.environment, scratchDir: scratch, check: check)
    }

    /// The Swift toolchain this test was built with: the folder holding `usr/bin/swift`.
    static let toolchainRoot: String? = {
        guard let swift = TestCluster.which("swift") else { return nil }
        let root = URL(fileURLWithPath: swift).resolvingSymlinksInPath().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().path
        // A toolchain installed into /usr cannot be hidden without hiding the system.
        return root == "/" || root == "/usr" ? nil : root
    }()

    /// How the release binary is started: with an empty environment, and — as root, where a private
    /// mount namespace can cover it with an empty tmpfs — with the Swift toolchain hidden.
    static let cleanLauncher: [String] = {
        guard getuid() == 0, let root = toolchainRoot, FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare")
        else { return ["/usr/bin/env", "-i"] }
        let script = "mount -t tmpfs -o ro,size=4k k8swift-hide '\(root)' && exec /usr/bin/env -i \"$0\" \"$@\""
        return ["/usr/bin/unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c", script]
    }()

    /// Runs `argv` through `cleanLauncher`.
    static func clean(_ argv: [String], check: Bool = true) throws -> TestCluster.Result {
        try TestCluster.execute(cleanLauncher + argv, environment: [:], scratchDir: scratch, check: check)
    }

    /// This checkout's HEAD commit, from git.
    static func headCommit() throws -> String {
        try host(["/usr/bin/git", "-C", TestCluster.repoRoot.path, "rev-parse", "HEAD"]).out
    }
}

@Suite(
    "Release artifacts",
    .enabled(if: ReleaseArtifacts.present, "no release artifacts under _output/release (run make release)"))
struct ReleaseTests {
    @Test("the tarball holds the binary, links named after each component, LICENSE and README; sha256sums.txt matches")
    func contents() throws {
        let dir = try ReleaseArtifacts.unpacked.get()
        let fm = FileManager.default
        #expect(fm.isExecutableFile(atPath: dir.appendingPathComponent("k8swift").path))
        for c in ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy"] {
            #expect(
                (try? fm.destinationOfSymbolicLink(atPath: dir.appendingPathComponent(c).path)) == "k8swift",
                "\(c) is not a link to k8swift")
        }
        let license = try String(contentsOf: dir.appendingPathComponent("LICENSE"), encoding: .utf8)
        #expect(license.contains("Apache License") && license.contains("Version 2.0"))
        let readme = try String(contentsOf: dir.appendingPathComponent("README.md"), encoding: .utf8)
        #expect(readme.contains(try #require(ReleaseArtifacts.version)))
        #expect(!readme.contains("@VERSION@"))

        let sums = try String(
            contentsOf: ReleaseArtifacts.dir.appendingPathComponent("sha256sums.txt"), encoding: .utf8)
        for artifact in [ReleaseArtifacts.tarball, ReleaseArtifacts.image] {
            let url = try #require(artifact)
            let digest = try ReleaseArtifacts.host(["/usr/bin/sha256sum", url.path]).out.prefix(64)
            #expect(sums.contains("\(digest)  \(url.lastPathComponent)"), "\(url.lastPathComponent) not in \(sums)")
        }
    }

    @Test(
        "the binary loads only what Debian's base image has (C library, libstdc++, libgcc_s, zlib): no Swift runtime, Foundation or SQLite"
    )
    func linkage() throws {
        let bin = try ReleaseArtifacts.unpacked.get().appendingPathComponent("k8swift").path
        let dynamic = try ReleaseArtifacts.host(["/usr/bin/readelf", "-d", bin]).out
        var needed: [String] = []
        for line in dynamic.split(separator: "\n") where line.contains("(NEEDED)") {
            if let open = line.firstIndex(of: "["), let close = line.lastIndex(of: "]") {
                needed.append(String(line[line.index(after: open)..<close]))
            }
        }
        #expect(needed.contains("libc.so.6"))
        let baseImage: Set<String> = [
            "libc.so.6", "libm.so.6", "libstdc++.so.6", "libgcc_s.so.1", "libz.so.1", "ld-linux-x86-64.so.2",
            "ld-linux-aarch64.so.1", "libpthread.so.0", "libdl.so.2", "librt.so.1", "libutil.so.1",
        ]
        #expect(Set(needed).subtracting(baseImage).isEmpty, "needs \(needed)")
        // SwiftPM's `$ORIGIN` is the only run path: nothing points into the toolchain.
        for line in dynamic.split(separator: "\n") where line.contains("RUNPATH") || line.contains("(RPATH)") {
            #expect(line.hasSuffix("[$ORIGIN]"), "\(line)")
        }
    }

    @Test("the launcher really hides the Swift toolchain and empties the environment")
    func launcherHidesToolchain() throws {
        let root = try #require(
            ReleaseArtifacts.cleanLauncher.first == "/usr/bin/unshare" ? ReleaseArtifacts.toolchainRoot : nil,
            "not root, or no unshare: the toolchain stays visible (the empty environment still applies)")
        #expect(FileManager.default.fileExists(atPath: root + "/usr/bin/swift"))
        let r = try ReleaseArtifacts.clean(["/bin/sh", "-c", "ls -A '\(root)' | wc -l; env | wc -l"])
        #expect(r.out.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) } == ["0", "1"], "\(r.out)")
    }

    @Test("`k8swift version` in a clean environment prints this commit's facts as text, JSON and YAML")
    func version() throws {
        let bin = try ReleaseArtifacts.unpacked.get().appendingPathComponent("k8swift").path
        let json = try ReleaseArtifacts.clean([bin, "version", "-o", "json"]).out
        let info = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: String])
        let commit = try ReleaseArtifacts.headCommit()
        let version = try #require(ReleaseArtifacts.version)
        #expect(info["gitCommit"] == commit)
        #expect(info["gitVersion"] == "v1.36.2+k8swift.\(version)")
        #expect(version.contains(String(commit.prefix(7))) || !version.contains("-dev."))
        #expect(["clean", "dirty"].contains(info["gitTreeState"] ?? ""))
        #expect(version.hasSuffix(".dirty") == (info["gitTreeState"] == "dirty"))
        #expect(info["major"] == "1" && info["minor"] == "36")
        #expect(info["compiler"] == "swiftc")
        #expect(info["platform"] == "linux/\(ReleaseArtifacts.arch)")
        let swiftVersion = try ReleaseArtifacts.host(["/usr/bin/env", "swift", "--version"]).out
        let number = try #require(info["goVersion"]).dropFirst("swift".count)
        #expect(!number.isEmpty && swiftVersion.contains("Swift version \(number) "), "\(swiftVersion)")
        let built = try #require(ISO8601DateFormatter().date(from: info["buildDate"] ?? ""))
        #expect(built > Date(timeIntervalSince1970: 1_700_000_000) && built <= Date())
        // Upstream's fields, in upstream's order.
        let keys = json.split(separator: "\n").compactMap { line -> String? in
            let t = line.trimmingCharacters(in: .whitespaces)
            guard t.hasPrefix("\"") else { return nil }
            return String(t.dropFirst().prefix { $0 != "\"" })
        }
        #expect(
            keys == [
                "major", "minor", "emulationMajor", "emulationMinor", "minCompatibilityMajor", "minCompatibilityMinor",
                "gitVersion", "gitCommit", "gitTreeState", "buildDate", "goVersion", "compiler", "platform",
            ])

        let yaml = try ReleaseArtifacts.clean([bin, "version", "--output", "yaml"]).out
        var fromYAML: [String: String] = [:]
        for line in yaml.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            var v = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            if v.hasPrefix("\"") || v.hasPrefix("'") { v = String(v.dropFirst().dropLast()) }
            fromYAML[String(line[..<colon])] = v
        }
        #expect(fromYAML == info)

        let text = try ReleaseArtifacts.clean([bin, "version"]).out
        #expect(text.hasPrefix("k8swift version \(info["gitVersion"]!)\n"))
        #expect(text.contains("gitCommit: \(commit)"))
    }

    @Test(
        "`k8swift server` in a clean environment starts, stores and answers kubectl; /version is `k8swift version -o json`"
    )
    func server() throws {
        let bin = try ReleaseArtifacts.unpacked.get().appendingPathComponent("k8swift").path
        let c = try TestCluster(binary: bin, launcher: ReleaseArtifacts.cleanLauncher, environment: [:])
        let served = try c.kubectl(["get", "--raw", "/version"]).out
        let printed = try ReleaseArtifacts.clean([bin, "version", "-o", "json"]).out
        #expect(
            try JSONSerialization.jsonObject(with: Data(served.utf8)) as? [String: String]
                == JSONSerialization.jsonObject(with: Data(printed.utf8)) as? [String: String])
        let namespaces = try c.kubectl(["get", "namespaces", "-o", "name"]).out
        #expect(namespaces.contains("namespace/default") && namespaces.contains("namespace/kube-system"))
        try c.kubectl(["create", "configmap", "release-check", "-n", "default", "--from-literal=k=v"])
        #expect(
            try c.kubectl(["get", "configmap", "release-check", "-n", "default", "-o", "jsonpath={.data.k}"]).out == "v"
        )
        let help = try ReleaseArtifacts.clean([bin, "--help"]).out
        for sub in ["version", "server", "kube-apiserver", "kube-controller-manager"] {
            #expect(help.contains("  \(sub) "), "--help does not list \(sub): \(help)")
        }
    }

    @Test("started through its kube-apiserver link, the binary runs the API server")
    func multiCall() throws {
        let link = try ReleaseArtifacts.unpacked.get().appendingPathComponent("kube-apiserver").path
        let c = try TestCluster(command: nil, binary: link, launcher: ReleaseArtifacts.cleanLauncher, environment: [:])
        #expect(try c.kubectl(["get", "--raw", "/readyz"]).out == "ok")
        let help = try ReleaseArtifacts.clean([link, "--help"]).out
        #expect(help.contains("kube-apiserver") && help.contains("--etcd-servers"))
        #expect(!help.contains("SUBCOMMANDS"))
    }

    @Test(
        "the OCI archive imports into containerd, and its entrypoint runs k8swift",
        .enabled(if: ImageTestContainerd.skipReason == nil, "needs root and Debian's containerd and runc"))
    func ociImage() throws {
        let image = try #require(ReleaseArtifacts.image)
        let version = try #require(ReleaseArtifacts.version)
        let containerd = try ImageTestContainerd()
        defer { containerd.stop() }
        try containerd.ctr(["images", "import", image.path])
        let name = "k8swift/k8swift:\(version)"
        let listed = try containerd.ctr(["images", "ls", "-q"]).out.split(separator: "\n").map(String.init)
        #expect(listed.contains(name), "\(listed)")

        // The image's config, as containerd stores it, names the entrypoint.
        let manifestDigest = try containerd.ctr(["images", "ls"]).out.split(separator: "\n")
            .first { $0.hasPrefix(name + " ") }?.split(separator: " ", omittingEmptySubsequences: true)
            .first { $0.hasPrefix("sha256:") }
        let manifest = try containerd.json(["content", "get", String(try #require(manifestDigest))])
        let configDigest = try #require((manifest["config"] as? [String: Any])?["digest"] as? String)
        let config = try containerd.json(["content", "get", configDigest])
        let process = try #require(config["config"] as? [String: Any])
        let entrypoint = try #require(process["Entrypoint"] as? [String])
        #expect(entrypoint == ["/usr/local/bin/k8swift"])
        #expect(process["Cmd"] as? [String] == ["server"])
        #expect(config["architecture"] as? String == ReleaseArtifacts.arch && config["os"] as? String == "linux")

        // The entrypoint runs in a container of the image (ctr 1.6 replaces the whole command line
        // when given one, so it is passed explicitly).
        let id = "k8swift-release-\(UUID().uuidString.prefix(8).lowercased())"
        let run = try containerd.ctr(["run", "--rm", name, id] + entrypoint + ["version", "-o", "json"])
        let info = try #require(try JSONSerialization.jsonObject(with: Data(run.out.utf8)) as? [String: String])
        #expect(info["gitCommit"] == (try ReleaseArtifacts.headCommit()))
    }
}

/// A containerd (Debian's) started by a test, with its own root, state and sockets.
final class ImageTestContainerd {
    let dir: String
    let socket: String
    let process: Process

    static var skipReason: String? {
        if getuid() != 0 { return "not root" }
        for tool in ["containerd", "ctr", "runc"] where TestCluster.which(tool) == nil {
            return "\(tool) is not installed (apt-get install containerd runc)"
        }
        return nil
    }

    init() throws {
        dir =
            FileManager.default.temporaryDirectory.appendingPathComponent("k8swift-ctd-\(UUID().uuidString.prefix(8))")
            .path
        socket = dir + "/containerd.sock"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let config = """
            version = 2
            root = "\(dir)/root"
            state = "\(dir)/state"
            disabled_plugins = ["io.containerd.grpc.v1.cri"]
            [grpc]
              address = "\(socket)"
            [ttrpc]
              address = "\(socket).ttrpc"
            [debug]
              address = "\(dir)/debug.sock"

            """
        try config.write(toFile: dir + "/config.toml", atomically: true, encoding: .utf8)
        let p = Process()
        guard let containerd = TestCluster.which("containerd") else { throw E2EError("containerd is not installed") }
        p.executableURL = URL(fileURLWithPath: containerd)
        p.arguments = ["--config", dir + "/config.toml"]
        FileManager.default.createFile(atPath: dir + "/containerd.log", contents: nil)
        let log = FileHandle(forWritingAtPath: dir + "/containerd.log")
        p.standardOutput = log
        p.standardError = log
        try p.run()
        process = p
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            if (try? ctr(["version"], check: true)) != nil { return }
            Thread.sleep(forTimeInterval: 0.1)
        }
        stop()
        throw E2EError(
            "containerd did not start: \((try? String(contentsOfFile: dir + "/containerd.log", encoding: .utf8)) ?? "")"
        )
    }

    @discardableResult
    func ctr(_ args: [String], check: Bool = true) throws -> TestCluster.Result {
        guard let bin = TestCluster.which("ctr") else { throw E2EError("ctr is not installed") }
        return try TestCluster.execute(
            [bin, "--address", socket, "--namespace", "k8swift-test"] + args,
            environment: ProcessInfo.processInfo.environment, scratchDir: dir, check: check)
    }

    func json(_ args: [String]) throws -> [String: Any] {
        let out = try ctr(args).out
        return try #require(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any])
    }

    func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        // Snapshots may leave overlay mounts under the root when a container outlived the daemon.
        if let mounts = ProcFile.read("/proc/self/mounts") {
            for line in mounts.split(separator: "\n") {
                let target = line.split(separator: " ")[1]
                if target.hasPrefix(dir) {
                    _ = try? ReleaseArtifacts.host(["/bin/umount", "-l", String(target)], check: false)
                }
            }
        }
        try? FileManager.default.removeItem(atPath: dir)
    }
}
