import GRPCCore
import GRPCNIOTransportHTTP2

/// A gRPC probe (upstream's `grpc.Probe`): `grpc.health.v1.Health/Check` with the probe's `service`,
/// over plaintext HTTP/2; `SERVING` is success. The two messages are encoded by hand (one field each).
public enum GRPCProber {
    /// `grpc.health.v1.HealthCheckResponse.ServingStatus`, by wire value.
    public enum ServingStatus: Int, Sendable {
        case unknown = 0
        case serving = 1
        case notServing = 2
        case serviceUnknown = 3

        /// The enum value's name in the proto file, as Go's generated `String()` writes it.
        public var name: String {
            switch self {
            case .unknown: "UNKNOWN"
            case .serving: "SERVING"
            case .notServing: "NOT_SERVING"
            case .serviceUnknown: "SERVICE_UNKNOWN"
            }
        }
    }

    static let check = MethodDescriptor(fullyQualifiedService: "grpc.health.v1.Health", method: "Check")

    /// `HealthCheckRequest { string service = 1; }`.
    public static func encodeRequest(service: String) -> [UInt8] {
        if service.isEmpty { return [] }
        let bytes = Array(service.utf8)
        return [0x0A] + varint(UInt64(bytes.count)) + bytes
    }

    /// The status field of a `HealthCheckResponse` (unknown fields skipped; absent means UNKNOWN).
    public static func decodeResponse(_ bytes: [UInt8]) throws -> Int {
        var i = 0
        var status = 0
        func readVarint() throws -> UInt64 {
            var v: UInt64 = 0
            var shift: UInt64 = 0
            while true {
                guard i < bytes.count, shift < 64 else { throw RPCError(code: .internalError, message: "bad varint") }
                let b = bytes[i]
                i += 1
                v |= UInt64(b & 0x7f) << shift
                if b & 0x80 == 0 { return v }
                shift += 7
            }
        }
        while i < bytes.count {
            let key = try readVarint()
            switch key & 7 {
            case 0:
                let v = try readVarint()
                if key >> 3 == 1 { status = Int(truncatingIfNeeded: v) }
            case 1: i += 8
            case 2: i += Int(try readVarint())
            case 5: i += 4
            default: throw RPCError(code: .internalError, message: "bad wire type")
            }
        }
        return status
    }

    static func varint(_ v: UInt64) -> [UInt8] {
        var v = v
        var out: [UInt8] = []
        while v >= 0x80 {
            out.append(UInt8(v & 0x7f) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
        return out
    }

    /// The verdict on a serving status (upstream's wording).
    public static func verdict(status: Int) -> ProbeOutcome {
        if status == ServingStatus.serving.rawValue { return ProbeOutcome(.success, "service healthy") }
        let name = ServingStatus(rawValue: status)?.name ?? String(status)
        return ProbeOutcome(.failure, "service unhealthy (responded with \(goQuote(name)))")
    }

    struct Bytes: MessageSerializer, MessageDeserializer {
        func serialize<B: GRPCContiguousBytes>(_ message: [UInt8]) throws -> B { B(message) }
        func deserialize<B: GRPCContiguousBytes>(_ b: B) throws -> [UInt8] {
            b.withUnsafeBytes { Array($0) }
        }
    }

    /// Go's `%v` of a whole number of seconds.
    static func goSeconds(_ d: Duration) -> String { "\(d.components.seconds)s" }

    static func makeTransport(host: String, port: Int) throws -> HTTP2ClientTransport.Posix {
        if !HTTPProber.isIPAddress(host) {
            return try HTTP2ClientTransport.Posix(target: .dns(host: host, port: port), transportSecurity: .plaintext)
        }
        if host.contains(":") {
            return try HTTP2ClientTransport.Posix(target: .ipv6(host: host, port: port), transportSecurity: .plaintext)
        }
        return try HTTP2ClientTransport.Posix(target: .ipv4(host: host, port: port), transportSecurity: .plaintext)
    }

    public static func probe(host: String, port: Int, service: String, timeout: Duration) async -> ProbeOutcome {
        let address = GoNetError.hostPort(host, port)
        // Connect first, so a closed port reads as a connection failure, as upstream's blocking dial does.
        do {
            let ch = try await ProbeDialer.connect(host: host, port: port, timeout: timeout) { ch in
                ch.eventLoop.makeSucceededFuture(ch)
            }
            try? await ch.close()
        } catch {
            if error.description.hasSuffix("i/o timeout") {
                return ProbeOutcome(
                    .failure,
                    "timeout: failed to connect service \(goQuote(address)) within \(goSeconds(timeout)): \(error)")
            }
            return ProbeOutcome(.failure, "error: failed to connect service at \(goQuote(address)): \(error)")
        }
        let result = await withDeadline(timeout) { () async -> Result<Int, RPCError> in
            do {
                let transport = try makeTransport(host: host, port: port)
                return try await withGRPCClient(transport: transport) { client in
                    var options = CallOptions.defaults
                    options.timeout = timeout
                    options.waitForReady = false
                    return try await client.unary(
                        request: ClientRequest(message: encodeRequest(service: service)), descriptor: check,
                        serializer: Bytes(), deserializer: Bytes(), options: options
                    ) { response in
                        .success(try decodeResponse(try response.message))
                    }
                }
            } catch let e as RPCError {
                return .failure(e)
            } catch {
                return .failure(RPCError(code: .unknown, message: "\(error)"))
            }
        }
        switch result {
        case .none:
            return ProbeOutcome(.failure, "timeout: health rpc did not complete within \(goSeconds(timeout))")
        case .some(.success(let status)):
            return verdict(status: status)
        case .some(.failure(let e)):
            switch e.code {
            case .unimplemented:
                return ProbeOutcome(
                    .failure,
                    "error: this server does not implement the grpc health protocol (grpc.health.v1.Health): \(e.message)"
                )
            case .deadlineExceeded:
                return ProbeOutcome(.failure, "timeout: health rpc did not complete within \(goSeconds(timeout))")
            default:
                return ProbeOutcome(
                    .failure, "error: health rpc probe failed: rpc error: code = \(e.code) desc = \(e.message)")
            }
        }
    }
}
