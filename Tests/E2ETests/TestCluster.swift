import Foundation
import StorageTesting
import Synchronization
import Testing

/// A `k8swift server` started by the tests on a free loopback port with its own data dir, and
/// helpers to drive it with real kubectl binaries.
final class TestCluster: @unchecked Sendable {
    let dataDir: String
    let port: Int
    let kubeconfig: String
    let process: Process
    let log: String
    var removeDataDirOnDeinit = true

    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// The binary under test: `K8SWIFT_BIN`, else `_output/bin/k8swift`, else the debug build.
    static var binary: String {
        if let b = ProcessInfo.processInfo.environment["K8SWIFT_BIN"] { return b }
        let candidates = [
            repoRoot.appendingPathComponent(".build/debug/k8swift").path,
            repoRoot.appendingPathComponent("_output/bin/k8swift").path,
        ]
        let fm = FileManager.default
        let existing = candidates.filter { fm.isExecutableFile(atPath: $0) }
        // Prefer the newest build.
        return existing.max {
            let a = (try? fm.attributesOfItem(atPath: $0)[.modificationDate] as? Date) ?? .distantPast
            let b = (try? fm.attributesOfItem(atPath: $1)[.modificationDate] as? Date) ?? .distantPast
            return a < b
        } ?? candidates[0]
    }

    /// The directory holding `kubectl.1.27` … `kubectl.1.33` (beside the `kubectl` on PATH).
    static let kubectlDir: String? = {
        guard let path = which("kubectl") else { return nil }
        let resolved = URL(fileURLWithPath: path).resolvingSymlinksInPath()
        return resolved.deletingLastPathComponent().path
    }()

    static func kubectl(_ version: String) -> String? {
        guard let dir = kubectlDir else { return nil }
        let p = version.isEmpty ? dir + "/kubectl" : dir + "/kubectl.\(version)"
        return FileManager.default.isExecutableFile(atPath: p) ? p : nil
    }

    static func which(_ name: String) -> String? {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            let p = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        return nil
    }

    /// A TCP port nothing listens on now.
    static func freePort() -> Int { (try? EtcdProcess.freePort()) ?? 0 }

    let address: String

    /// `command` is `server` or `kube-apiserver`; `etcd` puts it on that etcd (else SQLite, or the
    /// per-cluster etcd under `K8SWIFT_E2E_STORE=etcd`). Several servers may share one data dir
    /// (and so one CA) when each binds its own address. `binary` replaces the binary under test,
    /// `launcher` runs it through another program (`launcher + [binary] + arguments`), and
    /// `environment` replaces the inherited environment (`env` adds to it).
    init(
        extraArgs: [String] = [], dataDir: String? = nil, port: Int? = nil, keepDataDir: Bool = false,
        command: String? = "server", address: String = "127.0.0.1", etcd: String? = nil, env: [String: String] = [:],
        binary: String? = nil, launcher: [String] = [], environment: [String: String]? = nil, node: Bool = false
    ) throws {
        let dir =
            dataDir
            ?? FileManager.default.temporaryDirectory.appendingPathComponent("k8swift-e2e-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        self.dataDir = dir
        removeDataDirOnDeinit = !keepDataDir
        self.port = port ?? Self.freePort()
        self.address = address
        let suffix = address == "127.0.0.1" ? "" : "-" + address
        kubeconfig = dir + "/kubeconfig\(suffix).yaml"
        log = dir + "/server\(suffix).log"
        if !FileManager.default.fileExists(atPath: log) { FileManager.default.createFile(atPath: log, contents: nil) }
        var args = extraArgs
        // The API-level suites run without a node of their own (the node suites ask for one).
        if command == "server" && !node { args += ["--disable", "kubelet"] }
        if let etcd {
            args += ["--etcd-servers", etcd]
        } else if Self.onEtcd {
            args += ["--etcd-servers", try Self.etcd(for: dir).clientURL]
        }
        let p = Process()
        let argv =
            [binary ?? Self.binary] + (command.map { [$0] } ?? [])
            + [
                "--data-dir", dir, "--secure-port", String(self.port), "--bind-address", address,
                "--write-kubeconfig", kubeconfig,
            ] + args
        let full = launcher + argv
        p.executableURL = URL(fileURLWithPath: full[0])
        p.arguments = Array(full.dropFirst())
        if let environment {
            p.environment = environment
        } else if !env.isEmpty {
            p.environment = ProcessInfo.processInfo.environment.merging(env) { $1 }
        }
        let h = FileHandle(forWritingAtPath: log)!
        h.seekToEndOfFile()
        p.standardOutput = h
        p.standardError = h
        try p.run()
        process = p
        LiveServers.add(p.processIdentifier)
        try waitReady()
    }

    /// `K8SWIFT_E2E_STORE=etcd` runs every end-to-end suite against etcd instead of SQLite (make test
    /// runs them both ways).
    static let onEtcd = ProcessInfo.processInfo.environment["K8SWIFT_E2E_STORE"] == "etcd"

    /// One etcd per cluster data dir, so a cluster restarted on its data dir finds its data.
    static let etcds = Mutex<[String: EtcdProcess]>([:])

    static func etcd(for dataDir: String) throws -> EtcdProcess {
        if let e = etcds.withLock({ $0[dataDir] }) { return e }
        if let reason = EtcdProcess.skipReason { throw E2EError(reason) }
        // etcd's default 10-minute progress interval: reads must not rely on frequent progress marks.
        let e = try EtcdProcess(progressInterval: "10m")
        etcds.withLock { $0[dataDir] = e }
        return e
    }

    func waitReady(timeout: Double = 30) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if FileManager.default.fileExists(atPath: kubeconfig),
                let r = try? kubectl(["get", "--raw", "/readyz"], check: false), r.status == 0, r.out == "ok"
            {
                return
            }
            if !process.isRunning { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        throw E2EError("server did not become ready: \(text)")
    }

    func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
    }

    func kill9() {
        Foundation.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    deinit {
        stop()
        if removeDataDirOnDeinit { try? FileManager.default.removeItem(atPath: dataDir) }
    }

    struct Result {
        var status: Int32
        var out: String
        var err: String
    }

    /// Runs kubectl (`version` "" for the default one) against this cluster.
    @discardableResult
    func kubectl(
        _ args: [String], version: String = "1.33", stdin: String? = nil, env: [String: String] = [:],
        check: Bool = true
    ) throws -> Result {
        guard let bin = Self.kubectl(version) ?? (version == "1.33" ? Self.kubectl("") : nil) else {
            throw E2EError("kubectl \(version) is not installed")
        }
        return try run(bin, ["--kubeconfig", kubeconfig] + args, stdin: stdin, env: env, check: check)
    }

    func run(_ bin: String, _ args: [String], stdin: String? = nil, env: [String: String] = [:], check: Bool = true)
        throws
        -> Result
    {
        var environment = ProcessInfo.processInfo.environment
        environment["KUBECONFIG"] = kubeconfig
        environment["HOME"] = dataDir
        for (k, v) in env { environment[k] = v }
        return try Self.execute(
            [bin] + args, stdin: stdin, environment: environment, scratchDir: dataDir, check: check)
    }

    /// Runs `argv` with exactly `environment`, its output collected in files under `scratchDir`.
    static func execute(
        _ argv: [String], stdin: String? = nil, environment: [String: String], scratchDir: String,
        check: Bool = true
    ) throws -> Result {
        let bin = argv[0], args = Array(argv.dropFirst())
        let p = Process()
        p.executableURL = URL(fileURLWithPath: bin)
        p.arguments = args
        p.environment = environment
        let outFile = scratchDir + "/out-\(UUID().uuidString)"
        let errFile = outFile + ".err"
        FileManager.default.createFile(atPath: outFile, contents: nil)
        FileManager.default.createFile(atPath: errFile, contents: nil)
        defer {
            try? FileManager.default.removeItem(atPath: outFile)
            try? FileManager.default.removeItem(atPath: errFile)
        }
        p.standardOutput = FileHandle(forWritingAtPath: outFile)
        p.standardError = FileHandle(forWritingAtPath: errFile)
        let inPipe = Pipe()
        p.standardInput = inPipe
        try p.run()
        if let stdin { inPipe.fileHandleForWriting.write(Data(stdin.utf8)) }
        try inPipe.fileHandleForWriting.close()
        p.waitUntilExit()
        let out = (try? String(contentsOfFile: outFile, encoding: .utf8)) ?? ""
        let err = (try? String(contentsOfFile: errFile, encoding: .utf8)) ?? ""
        let r = Result(
            status: p.terminationStatus, out: out.trimmingCharacters(in: .whitespacesAndNewlines),
            err: err.trimmingCharacters(in: .whitespacesAndNewlines))
        if check && r.status != 0 {
            throw E2EError("\(bin) \(args.joined(separator: " ")) failed (\(r.status)): \(r.err) \(r.out)")
        }
        return r
    }

    /// Starts the binary under test with `args` (another component, e.g. a controller manager against
    /// this cluster), its output appended to this cluster's log; killed with the test run if left.
    func launch(_ args: [String]) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.binary)
        p.arguments = args
        let out = FileHandle(forWritingAtPath: log)!
        out.seekToEndOfFile()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        LiveServers.add(p.processIdentifier)
        return p
    }

    /// JSON output of a kubectl command, parsed.
    func json(_ args: [String], version: String = "1.33") throws -> Any {
        let r = try kubectl(args + ["-o", "json"], version: version)
        return try JSONSerialization.jsonObject(with: Data(r.out.utf8))
    }

    /// A fresh namespace for one test.
    func namespace(_ prefix: String = "t") throws -> String {
        let name = "\(prefix)-\(UUID().uuidString.prefix(8).lowercased())"
        try kubectl(["create", "namespace", name])
        return name
    }
}

struct E2EError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// Servers started by this test process, stopped when it exits (the shared cluster is never
/// deinitialized).
enum LiveServers {
    nonisolated(unsafe) static var pids: [pid_t] = []
    static let lock = NSLock()
    nonisolated(unsafe) static var registered = false

    static func add(_ pid: pid_t) {
        lock.lock()
        defer { lock.unlock() }
        pids.append(pid)
        if !registered {
            registered = true
            atexit {
                for p in LiveServers.pids { kill(p, SIGTERM) }
            }
        }
    }
}

/// One cluster shared by the kubectl suites of this test process (each test uses its own namespace).
enum SharedCluster {
    static let cluster: Result<TestCluster, any Error> = Result { try TestCluster() }

    static func get() throws -> TestCluster { try cluster.get() }
}

/// A cluster of its own for the API-extension suites: the CRDs they create change discovery, which
/// the kubectl suites compare with upstream's exactly.
enum ExtensionCluster {
    /// The shared cluster's audit log: every write at Metadata level, one JSON line each.
    static let auditLog = NSTemporaryDirectory() + "k8swift-audit-\(UUID().uuidString).log"

    static let cluster: Result<TestCluster, any Error> = Result {
        let policy = NSTemporaryDirectory() + "k8swift-audit-policy-\(UUID().uuidString).yaml"
        let rules = [
            "apiVersion: audit.k8s.io/v1", "kind: Policy", "omitStages: [RequestReceived]", "rules:",
            "- level: None", "  verbs: [get, list, watch]", "- level: Metadata",
        ]
        try rules.joined(separator: "\n").write(toFile: policy, atomically: true, encoding: .utf8)
        return try TestCluster(extraArgs: ["--audit-policy-file", policy, "--audit-log-path", auditLog])
    }

    static func get() throws -> TestCluster { try cluster.get() }
}

/// An API server with nothing acting on its objects (`--disable controller-manager`), shared by tests
/// of the API server's own behaviour that a controller would otherwise change underneath.
enum APIOnlyCluster {
    static let cluster: Result<TestCluster, any Error> = Result {
        try TestCluster(extraArgs: ["--disable", "controller-manager"])
    }

    static func get() throws -> TestCluster { try cluster.get() }
}

/// Reads a value at a path of dictionary keys and array indexes from parsed JSON.
func dig(_ v: Any?, _ path: Any...) -> Any? {
    var cur = v
    for p in path {
        if let k = p as? String {
            cur = (cur as? [String: Any])?[k]
        } else if let i = p as? Int {
            guard let a = cur as? [Any], i < a.count else { return nil }
            cur = a[i]
        }
    }
    return cur
}

/// Upstream's recorded responses, discovery lists and fixtures, committed under testdata/upstream.
let upstreamTestData = TestCluster.repoRoot.appendingPathComponent("testdata/upstream")

extension TestCluster {
    /// Runs a mode of `Tests/E2ETests/python/e2e.py` against this cluster.
    func e2ePython(_ mode: String, _ extra: [String] = []) throws -> Result {
        guard let py = TestCluster.which("python3") else { throw E2EError("python3 is not installed") }
        let script = TestCluster.repoRoot.appendingPathComponent("Tests/E2ETests/python/e2e.py").path
        return try run(
            py,
            [script, mode] + extra + [
                "--kubeconfig", kubeconfig, "--data-dir", dataDir, "--testdata", upstreamTestData.path,
            ],
            check: false)
    }
}
