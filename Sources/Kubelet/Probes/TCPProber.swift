import NIOCore
import NIOPosix

/// Opens TCP connections for the probes and hooks within a timeout, and words a failure as Go's
/// dialer does (upstream's probes report that text).
enum ProbeDialer {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// Connects to `host:port` (an IP address or a name) and sets the channel up with `initializer`.
    static func connect<Output: Sendable>(
        host: String, port: Int, timeout: Duration,
        _ initializer: @escaping @Sendable (any Channel) -> EventLoopFuture<Output>
    ) async throws(Failure) -> Output {
        let bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(
                .nanoseconds(
                    Int64(timeout.components.seconds) * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000)
            )
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
        let address = GoNetError.hostPort(host, port)
        do {
            if let ip = try? SocketAddress(ipAddress: host, port: port) {
                return try await bootstrap.connect(to: ip, channelInitializer: initializer)
            }
            return try await bootstrap.connect(host: host, port: port, channelInitializer: initializer)
        } catch {
            throw Failure(description: describe(error, address: address, host: host))
        }
    }

    /// Go's text for a failed dial of `address`.
    static func describe(_ error: any Error, address: String, host: String) -> String {
        if let e = error as? NIOConnectionError {
            if let first = e.connectionErrors.first {
                return describe(
                    first.error, address: GoNetError.hostPort("\(first.target.ipAddress ?? host)", e.port), host: host)
            }
            return "dial tcp: lookup \(host): no such host"
        }
        if let e = error as? ChannelError, case .connectTimeout = e {
            return "dial tcp \(address): i/o timeout"
        }
        if let e = error as? IOError {
            return "dial tcp \(address): connect: \(GoNetError.errnoText(e.errnoCode))"
        }
        return "dial tcp \(address): \(error)"
    }
}

/// A TCP socket probe: success when a connection opens within the timeout (upstream's `tcp.Probe`).
enum TCPProber {
    static func probe(host: String, port: Int, timeout: Duration) async -> ProbeOutcome {
        do {
            let channel = try await ProbeDialer.connect(host: host, port: port, timeout: timeout) { ch in
                ch.eventLoop.makeSucceededFuture(ch)
            }
            try? await channel.close()
            return ProbeOutcome(.success)
        } catch {
            return ProbeOutcome(.failure, error.description)
        }
    }
}
