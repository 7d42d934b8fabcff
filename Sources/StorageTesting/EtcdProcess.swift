import Foundation
import Synchronization

/// A real etcd server for tests: Debian's `etcd-server`, started on free loopback ports in a
/// temporary data directory and killed (and its directory removed) by `stop()` or at exit.
public final class EtcdProcess: @unchecked Sendable {
    public let clientURL: String
    public let dataDir: String
    public let clientPort: Int
    private let peerPort: Int
    private let extraArgs: [String]
    private let lock = NSLock()
    private var process: Process?

    /// The etcd binary, or nil with the reason it is missing.
    public static func binary() -> (path: String?, missing: String?) {
        for p in ["/usr/bin/etcd", "/usr/local/bin/etcd"] where FileManager.default.isExecutableFile(atPath: p) {
            return (p, nil)
        }
        return (nil, "etcd is not installed (apt-get install etcd-server)")
    }

    /// Why etcd tests cannot run here, or nil when they can.
    public static var skipReason: String? { binary().missing }

    /// Files for serving clients over TLS and requiring client certificates from `ca`.
    public struct TLSFiles: Sendable {
        public var cert: String
        public var key: String
        public var ca: String
        public init(cert: String, key: String, ca: String) {
            self.cert = cert
            self.key = key
            self.ca = ca
        }
    }

    let tls: TLSFiles?

    /// Where tests keep etcd's data: memory-backed `/dev/shm` when there is one, so that etcd's
    /// fsyncs do not queue behind the disk traffic of tests running in parallel (a test etcd is
    /// about our client, not etcd's durability; a killed etcd keeps what it wrote there).
    public static var testDataRoot: String {
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: "/dev/shm", isDirectory: &isDir), isDir.boolValue,
            FileManager.default.isWritableFile(atPath: "/dev/shm")
        {
            return "/dev/shm/"
        }
        return NSTemporaryDirectory()
    }

    /// `progressInterval`: etcd's periodic watch progress notification (10 minutes by default).
    /// `dataRoot`: the directory the data directory is created in (benchmarks pass a disk-backed one).
    public init(
        progressInterval: String = "200ms", tls: TLSFiles? = nil, extraArgs: [String] = [],
        dataRoot: String = EtcdProcess.testDataRoot
    ) throws {
        clientPort = try Self.freePort()
        peerPort = try Self.freePort()
        self.tls = tls
        clientURL = "\(tls == nil ? "http" : "https")://127.0.0.1:\(clientPort)"
        dataDir = (dataRoot.hasSuffix("/") ? dataRoot : dataRoot + "/") + "k8swift-etcd-\(UUID().uuidString)"
        var args = ["--experimental-watch-progress-notify-interval", progressInterval]
        if let tls {
            args += [
                "--cert-file", tls.cert, "--key-file", tls.key, "--trusted-ca-file", tls.ca, "--client-cert-auth",
            ]
        }
        self.extraArgs = args + extraArgs
        try start()
    }

    /// Starts (or restarts, on the same ports and data) the server and waits until it answers.
    public func start() throws {
        guard let path = Self.binary().path else { throw EtcdProcessError(message: Self.skipReason!) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        let peer = "http://127.0.0.1:\(peerPort)"
        p.arguments =
            [
                "--name", "default", "--data-dir", dataDir,
                "--listen-client-urls", clientURL, "--advertise-client-urls", clientURL,
                "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                "--initial-cluster", "default=\(peer)", "--log-level", "error",
            ] + extraArgs
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try p.run()
        lock.withLock { process = p }
        Self.live.withLock { $0[ObjectIdentifier(self)] = (p.processIdentifier, dataDir) }
        Self.registerCleanup()
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            if tls == nil ? Self.answers(port: clientPort) : Self.listening(port: clientPort) { return }
            if !p.isRunning { throw EtcdProcessError(message: "etcd exited with status \(p.terminationStatus)") }
            usleep(50_000)
        }
        throw EtcdProcessError(message: "etcd did not answer on \(clientURL) within 20 s")
    }

    /// Kills the server (SIGKILL) without removing its data, so `start()` brings it back.
    public func kill() {
        let p = lock.withLock { () -> Process? in
            let p = process
            process = nil
            return p
        }
        guard let p else { return }
        Foundation.kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        Self.live.withLock { _ = $0.removeValue(forKey: ObjectIdentifier(self)) }
    }

    /// Kills the server and removes its data.
    public func stop() {
        kill()
        try? FileManager.default.removeItem(atPath: dataDir)
    }

    deinit { stop() }

    // MARK: Helpers

    /// The servers running now, with their data directories: tests often keep one etcd in a
    /// `static let`, which is never deinitialised, so the exit handler ends them and removes their
    /// data (each leaves about 120 MiB in `/dev/shm` otherwise, which adds up over runs).
    private static let live = Mutex<[ObjectIdentifier: (pid: Int32, dataDir: String)]>([:])
    private static let cleanup = Mutex(false)

    private static func registerCleanup() {
        let first = cleanup.withLock { done -> Bool in
            defer { done = true }
            return !done
        }
        guard first else { return }
        atexit {
            let servers = EtcdProcess.live.withLock { Array($0.values) }
            for server in servers { Foundation.kill(server.pid, SIGKILL) }
            for server in servers {
                var status: Int32 = 0
                _ = waitpid(server.pid, &status, 0)
                try? FileManager.default.removeItem(atPath: server.dataDir)
            }
        }
    }

    /// A TCP port nothing listens on now (bound once to port 0 and released).
    public static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw EtcdProcessError(message: "socket failed") }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                bind(fd, sa, len) == 0 && getsockname(fd, sa, &len) == 0
            }
        }
        guard ok else { throw EtcdProcessError(message: "bind failed") }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    /// A socket connected to `port` on loopback, or nil.
    static func connected(port: Int) -> Int32? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = UInt16(port).bigEndian
        let ok = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
        if ok { return fd }
        close(fd)
        return nil
    }

    /// Whether something accepts connections on `port` (a TLS etcd: health needs a client cert).
    static func listening(port: Int) -> Bool {
        guard let fd = connected(port: port) else { return false }
        close(fd)
        return true
    }

    /// Whether etcd's `/health` answers healthy on `port`.
    static func answers(port: Int) -> Bool {
        guard let fd = connected(port: port) else { return false }
        defer { close(fd) }
        let req = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        _ = req.withCString { send(fd, $0, strlen($0), 0) }
        var buf = [UInt8](repeating: 0, count: 1024)
        var text = ""
        while true {
            let n = recv(fd, &buf, buf.count, 0)
            if n <= 0 { break }
            text += String(decoding: buf[0..<n], as: UTF8.self)
        }
        return text.contains("\"health\":\"true\"") || text.contains("\"health\": \"true\"")
    }
}

public struct EtcdProcessError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}
