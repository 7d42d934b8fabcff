import NIOHTTP1
import Synchronization

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Which streams an exec or attach asks for (the request's `stdin`, `stdout`, `stderr`, `tty`).
public struct RemoteCommandOptions: Sendable, Equatable {
    public var stdin: Bool
    public var stdout: Bool
    public var stderr: Bool
    public var tty: Bool

    public init(stdin: Bool = false, stdout: Bool = false, stderr: Bool = false, tty: Bool = false) {
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr
        self.tty = tty
    }

    /// From query parameters, booleans spelled as Go's `strconv.ParseBool` reads them ("1", "true", …).
    public init(query: [String: String]) {
        func flag(_ name: String) -> Bool { ["1", "t", "T", "true", "TRUE", "True"].contains(query[name] ?? "") }
        self.init(stdin: flag("stdin"), stdout: flag("stdout"), stderr: flag("stderr"), tty: flag("tty"))
    }
}

/// The API server's translations between what kubectl ≥ 1.30 speaks and what the kubelet (and the
/// runtime's streaming server) speak:
/// - exec/attach: WebSocket subprotocol `v5.channel.k8s.io` towards the client, a SPDY/3.1
///   `v4.channel.k8s.io` (or older) session towards the kubelet;
/// - port-forward: a SPDY session tunnelled in WebSocket binary messages (subprotocol
///   `SPDY/3.1+portforward.k8s.io`), unwrapped to raw bytes towards the kubelet.
///
/// The caller dials the backend with the headers built here, answers the client's upgrade (101,
/// see `WebSocketHandshake`), then hands both upgraded streams to `exec` or `portForward`.
public enum StreamTranslator {
    /// The one WebSocket subprotocol the exec translator speaks (v5 adds the stream-close signal).
    public static let execWebSocketProtocol = "v5.channel.k8s.io"
    /// What we offer the kubelet for exec/attach, best first.
    public static let execSPDYProtocols = [
        "v4.channel.k8s.io", "v3.channel.k8s.io", "v2.channel.k8s.io", "channel.k8s.io",
    ]
    /// The prefix kubectl puts before each SPDY protocol it tunnels through a WebSocket.
    public static let tunnelingPrefix = "SPDY/3.1+"
    public static let portForwardProtocol = "portforward.k8s.io"

    // Channel numbers of the WebSocket remote-command protocol.
    static let stdinChannel: UInt8 = 0
    static let stdoutChannel: UInt8 = 1
    static let stderrChannel: UInt8 = 2
    static let errorChannel: UInt8 = 3
    static let resizeChannel: UInt8 = 4
    /// v5: a message `[255, channel]` says the sender closed that channel.
    static let closeSignal: UInt8 = 255

    // MARK: Deciding and dialing

    /// Whether an exec/attach request needs translating: a WebSocket upgrade offering
    /// `v5.channel.k8s.io` (upstream's `IsWebSocketRequestWithStreamCloseProtocol`).
    public static func needsExecTranslation(_ headers: HTTPHeaders) -> Bool {
        WebSocketHandshake.isUpgradeRequest(headers)
            && WebSocketHandshake.offeredProtocols(headers).contains(execWebSocketProtocol)
    }

    /// The SPDY protocols a port-forward WebSocket request tunnels (its subprotocols starting
    /// `SPDY/3.1+` and ending `.k8s.io`, prefix removed); empty when it is no tunnelling request.
    public static func tunneledSPDYProtocols(_ headers: HTTPHeaders) -> [String] {
        guard WebSocketHandshake.isUpgradeRequest(headers) else { return [] }
        return WebSocketHandshake.offeredProtocols(headers)
            .filter { $0.hasPrefix(tunnelingPrefix) && $0.hasSuffix(".k8s.io") }
            .map { String($0.dropFirst(tunnelingPrefix.count)) }
    }

    /// Headers for the backend request that asks for a SPDY/3.1 upgrade offering `protocols`
    /// (send it as a POST, as upstream's SPDY executor and tunnelling handler do).
    public static func backendUpgradeHeaders(protocols: [String]) -> HTTPHeaders {
        var h: HTTPHeaders = ["Connection": "Upgrade", "Upgrade": "SPDY/3.1"]
        for p in protocols { h.add(name: "X-Stream-Protocol-Version", value: p) }
        return h
    }

    /// The backend request headers for exec/attach.
    public static func backendExecHeaders() -> HTTPHeaders { backendUpgradeHeaders(protocols: execSPDYProtocols) }

    /// Whether a backend's answer is a SPDY/3.1 upgrade (101 with `Connection: Upgrade` and
    /// `Upgrade: SPDY/3.1`).
    public static func isSPDYUpgrade(status: Int, headers: HTTPHeaders) -> Bool {
        status == 101
            && headers[canonicalForm: "connection"].contains { $0.lowercased() == "upgrade" }
            && headers["upgrade"].contains { $0.lowercased().contains("spdy/3.1") }
    }

    /// The protocol the backend chose (`X-Stream-Protocol-Version` of its 101), if any.
    public static func negotiatedProtocol(_ backendHeaders: HTTPHeaders) -> String? {
        backendHeaders.first(name: "x-stream-protocol-version").map { $0.trimmingSpaces() }.flatMap {
            $0.isEmpty ? nil : $0
        }
    }

    /// The subprotocol to name in our 101 to a port-forward tunnelling client: `SPDY/3.1+` and the
    /// backend's chosen protocol, or none when the backend named none.
    public static func portForwardClientProtocol(backendHeaders: HTTPHeaders) -> String? {
        negotiatedProtocol(backendHeaders).map { tunnelingPrefix + $0 }
    }

    // MARK: exec / attach

    /// Runs an exec or attach session: `client` is the connection after our 101 (subprotocol
    /// `v5.channel.k8s.io`), `backend` the kubelet connection after its 101, `backendProtocol` the
    /// `X-Stream-Protocol-Version` it chose. Opens the SPDY streams as upstream's client does (error,
    /// then stdin, stdout, stderr unless tty, resize when tty from v3 on), copies both ways, and ends
    /// with the status on channel 3 and a close frame. Returns when both connections are closed.
    public static func exec(
        client: any ByteStream, backend: any ByteStream, backendProtocol: String?, options: RemoteCommandOptions,
        finishTimeout: Duration = .seconds(15 * 60)
    ) async {
        let ws = WebSocketConnection(stream: client, role: .server)
        let session = SPDYSession(transport: backend, role: .client)
        session.start(pingPeriod: .seconds(5))
        let version = protocolVersion(backendProtocol)

        // An empty message on the lowest channel we write tells the client the session is up.
        let ready = options.stdout ? stdoutChannel : options.stderr ? stderrChannel : errorChannel
        try? await ws.send(binary: [ready])

        let streams: ExecStreams
        do {
            streams = try await openExecStreams(session, options: options, version: version)
        } catch {
            let status = internalErrorStatus("error creating streams to the container runtime: \(error)")
            await finish(ws, status: status, session: session, client: client, timeout: finishTimeout)
            return
        }

        enum Event: Sendable {
            case clientEnded
            case commandEnded(errorBytes: [UInt8])
            case timedOut
        }
        let inputOpen = InputGate()
        await withTaskGroup(of: Event.self) { group in
            group.addTask {
                await forwardClientInput(ws, streams: streams, gate: inputOpen)
                return .clientEnded
            }
            group.addTask {
                await withTaskGroup(of: Void.self) { pumps in
                    if let out = streams.stdout {
                        pumps.addTask { await forwardOutput(out, channel: stdoutChannel, to: ws) }
                    }
                    if let err = streams.stderr {
                        pumps.addTask { await forwardOutput(err, channel: stderrChannel, to: ws) }
                    }
                }
                var errorBytes: [UInt8] = []
                while let b = await streams.error.read() { errorBytes += b }
                return .commandEnded(errorBytes: errorBytes)
            }
            switch await group.next() {
            case .commandEnded(let errorBytes):
                inputOpen.close()
                let status = statusFromErrorStream(errorBytes, version: version)
                try? await ws.send(binary: [errorChannel] + status)
                try? await ws.sendClose(code: WebSocketCloseCode.normal)
                // Wait for the client to read what is on its way and close; the timer bounds it.
                group.addTask {
                    try? await Task.sleep(for: finishTimeout)
                    return .timedOut
                }
                _ = await group.next()
                await client.close()
                await session.close()
            default:
                // The client went away: stop the command's streams; the pumps end with them.
                await session.close()
                await client.close()
            }
            group.cancelAll()
        }
        await session.close()
        await client.close()
    }

    /// Reports a failure to a v5 client whose exec could not reach the backend after our 101
    /// (for example when dialing the kubelet failed): the status on channel 3, then a close.
    public static func execFailed(client: any ByteStream, message: String) async {
        let ws = WebSocketConnection(stream: client, role: .server)
        try? await ws.send(binary: [errorChannel])
        try? await ws.send(binary: [errorChannel] + internalErrorStatus(message))
        try? await ws.sendClose(code: WebSocketCloseCode.normal)
        await client.close()
    }

    struct ExecStreams: Sendable {
        var error: SPDYStream
        var stdin: SPDYStream?
        var stdout: SPDYStream?
        var stderr: SPDYStream?
        var resize: SPDYStream?
    }

    static func protocolVersion(_ name: String?) -> Int {
        switch name {
        case "v4.channel.k8s.io": return 4
        case "v3.channel.k8s.io": return 3
        case "v2.channel.k8s.io": return 2
        default: return 1
        }
    }

    static func openExecStreams(_ session: SPDYSession, options: RemoteCommandOptions, version: Int) async throws
        -> ExecStreams
    {
        func open(_ type: String) async throws -> SPDYStream {
            try await session.openStream(headers: ["streamType": type])
        }
        var streams = ExecStreams(error: try await open("error"))
        if options.stdin { streams.stdin = try await open("stdin") }
        if options.stdout { streams.stdout = try await open("stdout") }
        if options.stderr && !options.tty { streams.stderr = try await open("stderr") }
        if options.tty && version >= 3 { streams.resize = try await open("resize") }
        return streams
    }

    /// Whether client input is still forwarded: closed once the command ended.
    final class InputGate: Sendable {
        let open = Mutex(true)
        func close() { open.withLock { $0 = false } }
        var isOpen: Bool { open.withLock { $0 } }
    }

    /// Client → backend: stdin (0) and resize (4) data, and v5's close signals, until the client's
    /// side of the WebSocket ends.
    static func forwardClientInput(_ ws: WebSocketConnection, streams: ExecStreams, gate: InputGate) async {
        while let message = try? await ws.receive() {
            // Text frames carry channel data as binary ones do (the Python client sends strings so).
            let bytes: [UInt8]
            switch message {
            case .binary(let b), .text(let b): bytes = b
            }
            guard let channel = bytes.first, gate.isOpen else { continue }
            let payload = Array(bytes.dropFirst())
            switch channel {
            case closeSignal:
                guard payload.count == 1 else { continue }
                if payload[0] == stdinChannel { try? await streams.stdin?.closeWrite() }
                if payload[0] == resizeChannel { try? await streams.resize?.closeWrite() }
            case stdinChannel:
                if !payload.isEmpty { try? await streams.stdin?.write(payload) }
            case resizeChannel:
                if !payload.isEmpty { try? await streams.resize?.write(payload) }
            default:
                continue
            }
        }
    }

    /// Backend → client for one output stream. When the client cannot take more the stream is
    /// still read to its end, so the connection's other streams (the error stream) are not held up.
    static func forwardOutput(_ stream: SPDYStream, channel: UInt8, to ws: WebSocketConnection) async {
        var clientGone = false
        while let bytes = await stream.read() {
            guard !clientGone else { continue }
            do {
                try await ws.send(binary: [channel] + bytes)
            } catch {
                clientGone = true
            }
        }
    }

    static func finish(
        _ ws: WebSocketConnection, status: [UInt8], session: SPDYSession, client: any ByteStream, timeout: Duration
    ) async {
        try? await ws.send(binary: [errorChannel] + status)
        try? await ws.sendClose(code: WebSocketCloseCode.normal)
        await session.close()
        let waiter = Task {
            try? await Task.sleep(for: timeout)
            await client.close()
        }
        while (try? await ws.receive()) != nil {}
        waiter.cancel()
        await client.close()
    }

    // MARK: Status

    struct WireStatus: Decodable {
        struct Details: Decodable {
            struct Cause: Decodable {
                var reason: String?
                var message: String?
            }
            var causes: [Cause]?
        }
        var status: String?
        var message: String?
        var reason: String?
        var details: Details?
    }

    static let successStatus = Array(#"{"metadata":{},"status":"Success"}"#.utf8)

    /// What the client reads on channel 3, from what the backend wrote on its error stream: from v4
    /// a metav1.Status (Success, or Failure with reason NonZeroExitCode and an ExitCode cause, passed
    /// on as it is), before v4 plain text (none meaning success). Anything else becomes an internal
    /// error, as upstream's translator reports it.
    static func statusFromErrorStream(_ bytes: [UInt8], version: Int) -> [UInt8] {
        let text = String(decoding: bytes, as: UTF8.self)
        if text.allSatisfy({ $0.isWhitespace }) { return successStatus }
        guard version >= 4 else { return internalErrorStatus("error executing remote command: \(text)") }
        guard let status = try? JSONDecoder().decode(WireStatus.self, from: Data(bytes)) else {
            return internalErrorStatus("error executing remote command: \(text)")
        }
        if status.status == "Success" { return successStatus }
        if status.reason == "NonZeroExitCode",
            status.details?.causes?.contains(where: { $0.reason == "ExitCode" && Int($0.message ?? "") != nil }) == true
        {
            return bytes
        }
        return internalErrorStatus("error executing remote command: \(status.message ?? text)")
    }

    /// A metav1.Status for an internal error, as upstream's `NewInternalError` writes it.
    static func internalErrorStatus(_ message: String) -> [UInt8] {
        let m = jsonString(message)
        let full = jsonString("Internal error occurred: " + message)
        return Array(
            (#"{"metadata":{},"status":"Failure","message":"# + full
                + #","reason":"InternalError","details":{"causes":[{"message":"# + m + #"}]},"code":500}"#).utf8)
    }

    static func jsonString(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "<": out += "\\u003c"
            case ">": out += "\\u003e"
            case "&": out += "\\u0026"
            default:
                if u.value < 0x20 {
                    let hex = String(u.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out + "\""
    }

    // MARK: port-forward

    /// Runs a tunnelled port-forward: every binary message from `client` (after our 101 naming
    /// `portForwardClientProtocol`) goes to `backend` as raw bytes (the SPDY session kubectl
    /// speaks with the kubelet), and every chunk the backend sends goes back as one binary message.
    /// Ends when either side ends; the client gets a normal close.
    public static func portForward(client: any ByteStream, backend: any ByteStream, closeGrace: Duration = .seconds(10))
        async
    {
        let ws = WebSocketConnection(stream: client, role: .server)
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                while let message = try? await ws.receive() {
                    guard case .binary(let bytes) = message else {
                        // The tunnel carries binary messages only (upstream fails the read).
                        try? await ws.sendClose(code: WebSocketCloseCode.unsupportedData)
                        break
                    }
                    do {
                        try await backend.write(bytes)
                    } catch {
                        break
                    }
                }
                await backend.close()
            }
            group.addTask {
                while let bytes = try? await backend.read() {
                    do {
                        try await ws.send(binary: bytes)
                    } catch {
                        break
                    }
                }
                try? await ws.sendClose(code: WebSocketCloseCode.normal)
                // Give the client a moment to answer the close, then cut the connection.
                try? await Task.sleep(for: closeGrace)
                await client.close()
            }
            await group.next()
            group.cancelAll()
            await group.next()
        }
        await backend.close()
        await client.close()
    }
}

extension String {
    fileprivate func trimmingSpaces() -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" { s.removeLast() }
        return String(s)
    }
}
