import Foundation

/// The containerd a node starts for itself (`k8swift server`/`agent` without
/// `--container-runtime-endpoint`): its own root, state and socket under the node's data directory,
/// the CRI plugin set up for this machine kind (no CAP_SYS_RESOURCE: `restrict_oom_score_adj`;
/// cgroup v1 without systemd: cgroupfs), CNI from Debian's plugins, and registry hosts from
/// `certs.d`.
public struct ContainerdConfig: Equatable, Sendable {
    public var root: String
    public var state: String
    public var socket: String
    public var sandboxImage: String
    public var cniBinDir: String
    public var cniConfDir: String
    public var registryConfigDir: String
    /// Registries reached over plain HTTP (host:port → endpoint URL), e.g. the tests' local one.
    public var plainHTTPRegistries: [String: String]

    public static let defaultSandboxImage = "registry.k8s.io/pause:3.10.2"

    /// Everything under `dir` (the socket too: keep `dir` short, a unix socket path has 107 bytes).
    public init(dir: String, sandboxImage: String = ContainerdConfig.defaultSandboxImage) {
        root = dir + "/root"
        state = dir + "/state"
        socket = dir + "/containerd.sock"
        self.sandboxImage = sandboxImage
        cniBinDir = "/usr/lib/cni"
        cniConfDir = dir + "/cni/net.d"
        registryConfigDir = dir + "/certs.d"
        plainHTTPRegistries = [:]
    }

    /// containerd 1.6's config (version 2).
    public var toml: String {
        let cri = "plugins.\"io.containerd.grpc.v1.cri\""
        return """
            version = 2
            root = \(quoted(root))
            state = \(quoted(state))

            [grpc]
              address = \(quoted(socket))

            [plugins."io.containerd.internal.v1.opt"]
              path = \(quoted(root + "/opt"))

            [\(cri)]
              sandbox_image = \(quoted(sandboxImage))
              restrict_oom_score_adj = true
              [\(cri).containerd]
                snapshotter = "overlayfs"
                default_runtime_name = "runc"
                [\(cri).containerd.runtimes.runc]
                  runtime_type = "io.containerd.runc.v2"
                  [\(cri).containerd.runtimes.runc.options]
                    SystemdCgroup = false
              [\(cri).cni]
                bin_dir = \(quoted(cniBinDir))
                conf_dir = \(quoted(cniConfDir))
              [\(cri).registry]
                config_path = \(quoted(registryConfigDir))

            """
    }

    /// `certs.d/<host>/hosts.toml` for a registry served over plain HTTP.
    public static func hostsTOML(endpoint: String) -> String {
        """
        server = \(quoted(endpoint))

        [host.\(quoted(endpoint))]
          capabilities = ["pull", "resolve"]
          skip_verify = true

        """
    }

    /// Writes the config, the registry hosts and the directories; returns the config file's path.
    public func write() throws -> String {
        let fm = FileManager.default
        for d in [root, state, cniConfDir, registryConfigDir] {
            try fm.createDirectory(atPath: d, withIntermediateDirectories: true)
        }
        for (host, endpoint) in plainHTTPRegistries {
            let d = registryConfigDir + "/" + host
            try fm.createDirectory(atPath: d, withIntermediateDirectories: true)
            try Self.hostsTOML(endpoint: endpoint).write(toFile: d + "/hosts.toml", atomically: true, encoding: .utf8)
        }
        let path = (socket as NSString).deletingLastPathComponent + "/config.toml"
        try toml.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }
}

/// TOML basic string.
private func quoted(_ s: String) -> String {
    var out = "\""
    for ch in s.unicodeScalars {
        switch ch {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        default: out.unicodeScalars.append(ch)
        }
    }
    return out + "\""
}

/// The pod network's CNI configuration the node writes from its `podCIDR`: Debian's `bridge` (a
/// gateway on the node, hairpin for pods reaching themselves through a Service), `host-local` IPAM
/// over the node's range, `portmap` for hostPort, and `loopback`.
public struct CNIConfig: Equatable, Sendable {
    public var name = "k8swift"
    public var bridge = "k8swift0"
    public var podCIDR: String
    public var ipamDataDir: String
    /// NAT of traffic leaving the pod network (upstream leaves this to kube-proxy's masquerade rule
    /// with `--cluster-cidr`; a node without a proxy sets it here).
    public var ipMasq = false

    public init(podCIDR: String, ipamDataDir: String) {
        self.podCIDR = podCIDR
        self.ipamDataDir = ipamDataDir
    }

    public var conflist: String {
        """
        {
          "cniVersion": "1.0.0",
          "name": "\(name)",
          "plugins": [
            {
              "type": "bridge",
              "bridge": "\(bridge)",
              "isGateway": true,
              "ipMasq": \(ipMasq),
              "hairpinMode": true,
              "ipam": {
                "type": "host-local",
                "ranges": [[{"subnet": "\(podCIDR)"}]],
                "routes": [{"dst": "0.0.0.0/0"}],
                "dataDir": "\(ipamDataDir)"
              }
            },
            {"type": "portmap", "capabilities": {"portMappings": true}},
            {"type": "loopback"}
          ]
        }

        """
    }

    /// Writes `10-k8swift.conflist` into `dir` (containerd's CRI picks the first file in name order).
    public func write(into dir: String) throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try conflist.write(toFile: dir + "/10-\(name).conflist", atomically: true, encoding: .utf8)
    }
}

/// A containerd started and stopped by the node (or a test): a child process on a generated
/// config, ready once its socket accepts connections.
public final class ContainerdProcess: @unchecked Sendable {
    public let config: ContainerdConfig
    public let binary: String
    let process = Process()
    let watcher = Process()
    let logPath: String

    public init(config: ContainerdConfig, binary: String = "/usr/bin/containerd", logPath: String) {
        self.config = config
        self.binary = binary
        self.logPath = logPath
    }

    /// Whether this machine can run it: the binary and runc are there and we are root.
    public static func available(binary: String = "/usr/bin/containerd") -> String? {
        if getuid() != 0 { return "not root" }
        for b in [binary, "/usr/sbin/runc", "/usr/lib/cni/bridge"]
        where !FileManager.default.isExecutableFile(atPath: b) {
            if b == "/usr/sbin/runc" && FileManager.default.isExecutableFile(atPath: "/usr/bin/runc") { continue }
            return "\(b) is missing"
        }
        return nil
    }

    var pidFile: String { (config.socket as NSString).deletingLastPathComponent + "/containerd.pid" }

    /// Starts containerd, and beside it a small shell that stops it once this process is gone,
    /// however it goes (the containers keep running in their shims, and the next start adopts them).
    /// A containerd left by an earlier run on the same directory is stopped first.
    public func start(timeout: Duration = .seconds(60)) async throws {
        let path = try config.write()
        Self.stopStale(pidFile: pidFile)
        try? FileManager.default.removeItem(atPath: config.socket)
        FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["--config", path]
        process.standardOutput = log
        process.standardError = log
        try process.run()
        try String(process.processIdentifier).write(toFile: pidFile, atomically: true, encoding: .utf8)
        // Polls only: the `wait` builtin would inherit a signal mask that blocks SIGCHLD.
        watcher.executableURL = URL(fileURLWithPath: "/bin/sh")
        watcher.arguments = [
            "-c",
            #"while kill -0 "$1" 2>/dev/null && kill -0 "$2" 2>/dev/null; do sleep 1; done; kill -0 "$1" 2>/dev/null || kill -TERM "$2" 2>/dev/null"#,
            "containerd-watcher", String(getpid()), String(process.processIdentifier),
        ]
        watcher.standardOutput = FileHandle.nullDevice
        watcher.standardError = FileHandle.nullDevice
        try watcher.run()
        let deadline = ContinuousClock.now + timeout
        while true {
            if !process.isRunning {
                throw ContainerdError(
                    "containerd exited with status \(process.terminationStatus): \(logTail()) (\(logPath))")
            }
            if Self.accepts(config.socket) { return }
            // The socket is looked at once more after the deadline: a waiter that resumes late (a
            // starved machine) must not fail a containerd that was up in time.
            if ContinuousClock.now >= deadline { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        stop()
        throw ContainerdError("containerd did not open \(config.socket) within \(timeout): \(logTail()) (\(logPath))")
    }

    /// The last lines of containerd's log, for an error message.
    func logTail(_ lines: Int = 8) -> String {
        let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").suffix(lines).joined(separator: "\n")
    }

    /// Stops a containerd whose pid file an earlier run left, if that process is still containerd.
    static func stopStale(pidFile: String) {
        guard let text = try? String(contentsOfFile: pidFile, encoding: .utf8),
            let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 0,
            let cmd = try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8), cmd.contains("containerd")
        else { return }
        kill(pid, SIGTERM)
        for _ in 0..<100 where kill(pid, 0) == 0 { usleep(50_000) }
        if kill(pid, 0) == 0 { kill(pid, SIGKILL) }
    }

    /// Stops it: SIGTERM, then SIGKILL after `grace`.
    public func stop(grace: Duration = .seconds(5)) {
        guard process.isRunning else { return }
        process.terminate()
        let deadline = ContinuousClock.now + grace
        while process.isRunning && ContinuousClock.now < deadline { usleep(20_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        if watcher.isRunning { watcher.terminate() }
        try? FileManager.default.removeItem(atPath: pidFile)
    }

    static func accepts(_ socketPath: String) -> Bool {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(socketPath.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { return false }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
        }
        return withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) == 0
            }
        }
    }
}

public struct ContainerdError: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}
