import APICore
import APIMachinery
import CRI
import Foundation
import GRPCCore

/// One probe's verdict and what it said (upstream's `probe.Result` and output). A probe that could not
/// be run at all throws instead (`ProbeError`): its result is thrown away, as upstream does.
public struct ProbeOutcome: Equatable, Sendable {
    public enum Result: String, Equatable, Sendable {
        case success
        /// Counts as success, with a `ProbeWarning` event (a redirect the probe did not follow).
        case warning
        case failure
    }

    public var result: Result
    public var output: String

    public init(_ result: Result, _ output: String = "") {
        self.result = result
        self.output = output
    }
}

/// A probe that could not be run (no such port, the runtime refused the exec).
public struct ProbeError: Error, Equatable, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}

/// Runs one probe or hook handler against a container: exec through the runtime, HTTP GET, TCP
/// connect, gRPC health check. Stateless apart from what it is given.
public struct Prober: Sendable {
    public typealias Exec =
        @Sendable (_ containerID: String, _ command: [String], _ timeout: Int64) async throws ->
        Runtime_V1_ExecSyncResponse

    /// Output of an exec probe and a response body are read up to this many bytes (upstream's limit).
    public static let maxOutput = 10 * 1024

    /// `kube-probe/<major>.<minor>` of the Kubernetes release we implement.
    public static let userAgent = agent("probe")

    /// `kube-<fragment>/<major>.<minor>`.
    static func agent(_ fragment: String) -> String {
        let parts = K8swiftVersion.kubernetes.dropFirst().split(separator: ".")
        return "kube-\(fragment)/\(parts.prefix(2).joined(separator: "."))"
    }

    let exec: Exec

    public init(exec: @escaping Exec) { self.exec = exec }

    public init(runtime: any ContainerRuntime) {
        exec = { id, cmd, timeout in try await runtime.execSync(id, command: cmd, timeout: timeout) }
    }

    /// Runs the probe's handler against one container instance whose pod has `podIP`.
    public func run(
        _ handler: CoreV1.ProbeHandler, container: CoreV1.Container, containerID: String, podIP: String,
        timeout: Swift.Duration
    ) async throws -> ProbeOutcome {
        if let e = handler.exec {
            return try await runExec(e.command, containerID: containerID, timeout: timeout)
        }
        if let h = handler.httpGet {
            let target = try HTTPProber.Target(h, container: container, podIP: podIP)
            return await HTTPProber.probe(target, timeout: timeout)
        }
        if let t = handler.tcpSocket {
            let port = try Self.resolvePort(t.port, container)
            return await TCPProber.probe(host: t.host.isEmpty ? podIP : t.host, port: port, timeout: timeout)
        }
        if let g = handler.grpc {
            return await GRPCProber.probe(host: podIP, port: Int(g.port), service: g.service ?? "", timeout: timeout)
        }
        throw ProbeError("missing probe handler for \(container.name)")
    }

    /// An exec probe: exit 0 is success; the output is stdout then stderr, at most `maxOutput` bytes.
    func runExec(_ command: [String], containerID: String, timeout: Swift.Duration) async throws -> ProbeOutcome {
        let r: Runtime_V1_ExecSyncResponse
        do {
            r = try await exec(containerID, command, timeout.components.seconds)
        } catch let e as RPCError where e.code == .deadlineExceeded {
            return ProbeOutcome(.failure, "command \(goQuote(command.joined(separator: " "))) timed out")
        }
        let output = String(decoding: (r.stdout + r.stderr).prefix(Self.maxOutput), as: UTF8.self)
        return ProbeOutcome(r.exitCode == 0 ? .success : .failure, output)
    }

    /// A port given by number, or by the name of one of the container's ports (upstream's
    /// `findPortByName`).
    public static func resolvePort(_ port: IntOrString, _ c: CoreV1.Container) throws -> Int {
        switch port {
        case .int(let n):
            guard n > 0 && n < 65536 else { throw ProbeError("invalid port number: \(n)") }
            return Int(n)
        case .string(let name):
            if let n = Int(name), n > 0 && n < 65536 { return n }
            guard let p = c.ports.first(where: { $0.name == name }) else { throw ProbeError("port \(name) not found") }
            return Int(p.containerPort)
        }
    }
}

/// A string as Go's `%q` writes it: double-quoted, with quotes, backslashes and control characters
/// escaped.
func goQuote(_ s: String) -> String {
    var out = "\""
    for u in s.unicodeScalars {
        switch u {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\t": out += "\\t"
        case "\r": out += "\\r"
        default:
            if u.value < 0x20 || u.value == 0x7f {
                out += "\\x" + (u.value < 0x10 ? "0" : "") + String(u.value, radix: 16)
            } else {
                out.unicodeScalars.append(u)
            }
        }
    }
    return out + "\""
}

/// How Go's `net` package words a failed dial (`dial tcp 10.42.0.5:80: connect: connection refused`),
/// which upstream's probes report as their output.
enum GoNetError {
    static func hostPort(_ host: String, _ port: Int) -> String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    /// The text of an errno value as Go prints it (glibc's text, lower-cased first letter).
    static func errnoText(_ code: Int32) -> String {
        let s = String(cString: strerror(code))
        return s.prefix(1).lowercased() + s.dropFirst()
    }
}
