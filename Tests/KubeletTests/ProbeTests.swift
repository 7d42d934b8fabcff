import APICore
import APIMachinery
import CRI
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization
import Testing

@testable import Kubelet

/// One tick fed to a worker: seconds after its start, what it sees, and (when it probes) the verdict.
struct ProbeTick: Sendable {
    var at: Int
    var target: ProbeTarget
    var verdict: ProbeResult? = nil
    /// Expected: the action and the result published at this tick (after the verdict, if any).
    var action: ProbeStep.Action
    var publish: ProbeResult? = nil
}

struct ProbeMachineCase: CustomTestStringConvertible, Sendable {
    let name: String
    let kind: ProbeKind
    var timing = ProbeTiming()
    let ticks: [ProbeTick]
    var testDescription: String { name }
}

func running(_ s: Int, started: Bool = true, deleting: Bool = false) -> ProbeTarget {
    ProbeTarget(container: .running(for: .seconds(s)), started: started, deleting: deleting)
}

@Suite("Probe worker: when to probe and what to publish (upstream's worker.doProbe)")
struct ProbeWorkerTests {
    static let cases: [ProbeMachineCase] = [
        ProbeMachineCase(
            name: "readiness: probed at once, ready after one success, unready after three failures in a row",
            kind: .readiness,
            ticks: [
                ProbeTick(at: 0, target: running(0), verdict: .success, action: .probe, publish: .success),
                ProbeTick(at: 10, target: running(10), verdict: .failure, action: .probe),
                ProbeTick(at: 20, target: running(20), verdict: .failure, action: .probe),
                ProbeTick(at: 30, target: running(30), verdict: .success, action: .probe),
                ProbeTick(at: 40, target: running(40), verdict: .failure, action: .probe),
                ProbeTick(at: 50, target: running(50), verdict: .failure, action: .probe),
                ProbeTick(at: 60, target: running(60), verdict: .failure, action: .probe, publish: .failure),
                ProbeTick(at: 70, target: running(70), verdict: .failure, action: .probe),
                ProbeTick(at: 80, target: running(80), verdict: .success, action: .probe, publish: .success),
            ]),
        ProbeMachineCase(
            name: "readiness with successThreshold 2 and failureThreshold 1",
            kind: .readiness, timing: ProbeTiming(successThreshold: 2, failureThreshold: 1),
            ticks: [
                ProbeTick(at: 0, target: running(0), verdict: .success, action: .probe),
                ProbeTick(at: 10, target: running(10), verdict: .success, action: .probe, publish: .success),
                ProbeTick(at: 20, target: running(20), verdict: .failure, action: .probe, publish: .failure),
                ProbeTick(at: 30, target: running(30), verdict: .success, action: .probe),
                ProbeTick(at: 40, target: running(40), verdict: .failure, action: .probe),
            ]),
        ProbeMachineCase(
            name: "initialDelaySeconds: no probe until the container ran that long; a created container waits",
            kind: .readiness, timing: ProbeTiming(initialDelay: .seconds(15)),
            ticks: [
                ProbeTick(at: 0, target: ProbeTarget(container: .waiting), action: .wait),
                ProbeTick(at: 10, target: running(5), action: .wait),
                ProbeTick(at: 20, target: running(15), verdict: .success, action: .probe, publish: .success),
            ]),
        ProbeMachineCase(
            name: "liveness: failure after failureThreshold, then on hold until its instance goes",
            kind: .liveness,
            ticks: [
                ProbeTick(at: 0, target: running(0), verdict: .failure, action: .probe),
                ProbeTick(at: 10, target: running(10), verdict: .failure, action: .probe),
                ProbeTick(at: 20, target: running(20), verdict: .failure, action: .probe, publish: .failure),
                ProbeTick(at: 30, target: running(30), action: .wait),
                ProbeTick(at: 40, target: running(40), action: .wait),
                ProbeTick(at: 50, target: ProbeTarget(container: .gone), action: .stop),
            ]),
        ProbeMachineCase(
            name: "liveness and readiness wait for the startup probe",
            kind: .liveness,
            ticks: [
                ProbeTick(at: 0, target: running(0, started: false), action: .wait),
                ProbeTick(at: 10, target: running(10, started: false), action: .wait),
                ProbeTick(at: 20, target: running(20), verdict: .success, action: .probe),
            ]),
        ProbeMachineCase(
            name: "startup: probed until it succeeds, then idle; a startup failure holds the worker",
            kind: .startup, timing: ProbeTiming(period: .seconds(5), failureThreshold: 2),
            ticks: [
                ProbeTick(at: 0, target: running(0, started: false), verdict: .failure, action: .probe),
                ProbeTick(
                    at: 5, target: running(5, started: false), verdict: .success, action: .probe, publish: .success),
                ProbeTick(at: 10, target: running(10), action: .wait),
            ]),
        ProbeMachineCase(
            name: "startup failing failureThreshold times publishes failure",
            kind: .startup, timing: ProbeTiming(period: .seconds(5), failureThreshold: 2),
            ticks: [
                ProbeTick(at: 0, target: running(0, started: false), verdict: .failure, action: .probe),
                ProbeTick(
                    at: 5, target: running(5, started: false), verdict: .failure, action: .probe, publish: .failure),
                ProbeTick(at: 10, target: running(10, started: false), action: .wait),
            ]),
        ProbeMachineCase(
            name: "a pod being deleted: liveness turns success and stops; readiness goes on",
            kind: .liveness,
            ticks: [
                ProbeTick(at: 0, target: running(0), verdict: .failure, action: .probe),
                ProbeTick(at: 10, target: running(10, deleting: true), action: .stop),
            ]),
        ProbeMachineCase(
            name: "readiness goes on while the pod is deleted, and fails when the container exits",
            kind: .readiness,
            ticks: [
                ProbeTick(at: 0, target: running(0), verdict: .success, action: .probe, publish: .success),
                ProbeTick(at: 10, target: running(10, deleting: true), verdict: .success, action: .probe),
                ProbeTick(
                    at: 20, target: ProbeTarget(container: .gone, deleting: true), action: .stop, publish: .failure),
            ]),
        ProbeMachineCase(
            name: "a finished pod stops the worker",
            kind: .readiness,
            ticks: [
                ProbeTick(at: 0, target: ProbeTarget(container: .running(for: .zero), podDone: true), action: .stop)
            ]),
    ]

    @Test("the worker's decisions, tick by tick", arguments: cases)
    func machine(_ c: ProbeMachineCase) {
        let t0 = ContinuousClock.now
        var m = ProbeWorkerState(kind: c.kind, timing: c.timing, start: t0)
        #expect(m.result == c.kind.initialResult)
        for (i, tick) in c.ticks.enumerated() {
            var step = m.step(tick.target, now: t0.advanced(by: .seconds(tick.at)))
            #expect(step.action == tick.action, "tick \(i) at \(tick.at)s")
            if step.action == .probe, let v = tick.verdict { step.publish = m.record(v) ?? step.publish }
            #expect(step.publish == tick.publish, "tick \(i) at \(tick.at)s")
        }
    }

    @Test("initial results: readiness failure, liveness success, startup unknown")
    func initial() {
        #expect(ProbeKind.readiness.initialResult == .failure)
        #expect(ProbeKind.liveness.initialResult == .success)
        #expect(ProbeKind.startup.initialResult == .unknown)
    }

    @Test("the ticker keeps its period: a wake-up between ticks does not move the next one")
    func ticker() {
        let t0 = ContinuousClock.now
        var m = ProbeWorkerState(kind: .readiness, timing: ProbeTiming(period: .seconds(10)), start: t0)
        #expect(m.step(running(0), now: t0).nextRun == t0.advanced(by: .seconds(10)))
        #expect(m.step(running(3), now: t0.advanced(by: .seconds(3))).nextRun == t0.advanced(by: .seconds(10)))
        // A slow probe that overran two ticks: the missed ones are dropped.
        #expect(m.step(running(25), now: t0.advanced(by: .seconds(25))).nextRun == t0.advanced(by: .seconds(30)))
    }

    @Test("timing defaults for fields left at zero")
    func timing() {
        let t = ProbeTiming(CoreV1.Probe())
        #expect(
            t
                == ProbeTiming(
                    initialDelay: .zero, period: .seconds(10), timeout: .seconds(1), successThreshold: 1,
                    failureThreshold: 3))
        var p = CoreV1.Probe()
        p.initialDelaySeconds = 4
        p.periodSeconds = 2
        p.timeoutSeconds = 3
        p.successThreshold = 2
        p.failureThreshold = 5
        #expect(
            ProbeTiming(p)
                == ProbeTiming(
                    initialDelay: .seconds(4), period: .seconds(2), timeout: .seconds(3), successThreshold: 2,
                    failureThreshold: 5))
    }

    @Test("workers are wanted for probed containers' current instances, sidecars included, none once the pod finished")
    func wanted() {
        var probe = CoreV1.Probe()
        probe.handler.exec = CoreV1.ExecAction(command: ["true"])
        let pod = K.pod(["app", "plain"], inits: ["side", "init"], sidecars: ["side"]) { p in
            p.spec.containers[0].readinessProbe = probe
            p.spec.containers[0].livenessProbe = probe
            p.spec.initContainers[0].startupProbe = probe
            p.spec.initContainers[1].readinessProbe = probe
        }
        let rt = K.rt(
            [K.sandbox()],
            [K.running("app", id: "a2"), K.exited("app", code: 1, id: "a1"), K.running("side"), K.running("plain")])
        let keys = Set(ProbeManager.wanted(pod, rt).keys)
        #expect(
            keys == [
                ProbeManager.Key(podUID: "u1", containerID: "a2", kind: .readiness),
                ProbeManager.Key(podUID: "u1", containerID: "a2", kind: .liveness),
                ProbeManager.Key(podUID: "u1", containerID: "c-side", kind: .startup),
            ])
        var done = pod
        done.status.phase = "Succeeded"
        #expect(ProbeManager.wanted(done, rt).isEmpty)
        #expect(ProbeManager.wanted(pod, K.rt([K.sandbox()], [K.exited("app", code: 0, id: "a1")])).isEmpty)
    }

    @Test("a wake-up ends a wait early, and one that came first is kept for the next wait")
    func wakeup() async {
        let w = Wakeup()
        let start = ContinuousClock.now
        w.fire()
        await w.wait(for: .seconds(30))
        Task {
            try? await Task.sleep(for: .milliseconds(100))
            w.fire()
        }
        await w.wait(for: .seconds(30))
        #expect(ContinuousClock.now - start < .seconds(20))
    }
}

@Suite("Probers: exec, HTTP, TCP, gRPC against local listeners")
struct ProberTests {
    static func response(_ code: Int32, stdout: String = "", stderr: String = "") -> Runtime_V1_ExecSyncResponse {
        var r = Runtime_V1_ExecSyncResponse()
        r.exitCode = code
        r.stdout = Data(stdout.utf8)
        r.stderr = Data(stderr.utf8)
        return r
    }

    @Test("exec: exit 0 succeeds, another exit fails with stdout then stderr, a deadline is a timeout")
    func exec() async throws {
        let seen = Mutex<[String]>([])
        let prober = Prober { id, cmd, timeout in
            seen.withLock { $0.append("\(id) \(cmd.joined(separator: " ")) \(timeout)") }
            switch cmd.last {
            case "ok": return Self.response(0, stdout: "fine")
            case "bad": return Self.response(1, stdout: "out\n", stderr: "err")
            case "big": return Self.response(2, stdout: String(repeating: "x", count: 20_000))
            default: throw RPCError(code: .deadlineExceeded, message: "timeout 2s exceeded")
            }
        }
        var h = CoreV1.ProbeHandler()
        let c = CoreV1.Container(name: "app", image: "busybox")
        func run(_ cmd: [String]) async throws -> ProbeOutcome {
            h.exec = CoreV1.ExecAction(command: cmd)
            return try await prober.run(h, container: c, containerID: "cid", podIP: "", timeout: .seconds(2))
        }
        #expect(try await run(["sh", "ok"]) == ProbeOutcome(.success, "fine"))
        #expect(try await run(["sh", "bad"]) == ProbeOutcome(.failure, "out\nerr"))
        #expect(try await run(["sh", "big"]).output.utf8.count == 10 * 1024)
        #expect(
            try await run(["cat", "/tmp/healthy"]) == ProbeOutcome(.failure, "command \"cat /tmp/healthy\" timed out"))
        #expect(seen.withLock { $0.first } == "cid sh ok 2")
    }

    @Test("HTTP: 2xx succeeds, 5xx fails with upstream's message, same-host redirects are followed")
    func http() async throws {
        let server = try await TestHTTPServer.start()
        defer { server.stop() }
        func probe(_ path: String, _ headers: [HTTPProber.Target.Header] = [], timeout: Swift.Duration = .seconds(2))
            async -> ProbeOutcome
        {
            var a = CoreV1.HTTPGetAction()
            a.path = path
            a.port = .string("web")
            a.httpHeaders = headers.map { CoreV1.HTTPHeader(name: $0.name, value: $0.value) }
            var c = CoreV1.Container(name: "app", image: "busybox")
            c.ports = [CoreV1.ContainerPort(name: "web", containerPort: Int32(server.port))]
            let target = try! HTTPProber.Target(a, container: c, podIP: "127.0.0.1")
            return await HTTPProber.probe(target, timeout: timeout)
        }
        #expect(await probe("/ok") == ProbeOutcome(.success, "fine"))
        #expect(await probe("/fail") == ProbeOutcome(.failure, "HTTP probe failed with statuscode: 500"))
        #expect(await probe("/redirect-local") == ProbeOutcome(.success, "fine"))
        #expect(
            await probe("/redirect-away")
                == ProbeOutcome(.warning, "Probe terminated redirects, Response body: moved"))
        #expect(
            await probe("/loop")
                == ProbeOutcome(.failure, "Get \"http://127.0.0.1:\(server.port)/loop\": stopped after 10 redirects"))
        #expect(await probe("/big").output.utf8.count == 10 * 1024)
        let echoed = await probe("/headers", [HTTPProber.Target.Header("X-Custom", "yes")])
        #expect(echoed.output == "ua=kube-probe/1.36 accept=*/* custom=yes")
        let own = await probe("/headers", [HTTPProber.Target.Header("User-Agent", "mine")])
        #expect(own.output == "ua=mine accept=*/* custom=")
        let slow = await probe("/slow", timeout: .seconds(1))
        #expect(
            slow
                == ProbeOutcome(
                    .failure,
                    "Get \"http://127.0.0.1:\(server.port)/slow\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
                ))
        #expect(server.log.requests.withLock { $0 }.contains("/ok"))
    }

    @Test("HTTP and TCP: a closed port fails with Go's dial error; TCP succeeds on an open one")
    func refused() async throws {
        let server = try await TestHTTPServer.start()
        let port = server.port
        #expect(await TCPProber.probe(host: "127.0.0.1", port: port, timeout: .seconds(1)) == ProbeOutcome(.success))
        server.stop()
        try await Task.sleep(for: .milliseconds(100))
        #expect(
            await TCPProber.probe(host: "127.0.0.1", port: port, timeout: .seconds(1))
                == ProbeOutcome(.failure, "dial tcp 127.0.0.1:\(port): connect: connection refused"))
        let t = HTTPProber.Target(https: false, host: "127.0.0.1", port: port, path: "/")
        #expect(
            await HTTPProber.probe(t, timeout: .seconds(1))
                == ProbeOutcome(
                    .failure,
                    "Get \"http://127.0.0.1:\(port)/\": dial tcp 127.0.0.1:\(port): connect: connection refused"))
    }

    @Test("a named port the container does not have is an error, not a verdict")
    func missingPort() throws {
        let c = CoreV1.Container(name: "app", image: "busybox")
        #expect(throws: ProbeError("port web not found")) { try Prober.resolvePort(.string("web"), c) }
        #expect(try Prober.resolvePort(.int(8080), c) == 8080)
    }

    @Test("gRPC health messages by hand: request with the service, response status")
    func grpcMessages() throws {
        #expect(GRPCProber.encodeRequest(service: "") == [])
        #expect(GRPCProber.encodeRequest(service: "db") == [0x0A, 2, 0x64, 0x62])
        #expect(try GRPCProber.decodeResponse([0x08, 0x01]) == 1)
        #expect(try GRPCProber.decodeResponse([]) == 0)
        // An unknown length-delimited field before the status is skipped.
        #expect(try GRPCProber.decodeResponse([0x12, 0x01, 0x41, 0x08, 0x02]) == 2)
        #expect(
            GRPCProber.verdict(status: 2)
                == ProbeOutcome(.failure, "service unhealthy (responded with \"NOT_SERVING\")"))
    }

    @Test("gRPC: SERVING succeeds, NOT_SERVING fails, a closed port fails to connect")
    func grpc() async throws {
        var router = RPCRouter<HTTP2ServerTransport.Posix>()
        router.registerHandler(
            forMethod: GRPCProber.check, deserializer: GRPCProber.Bytes(), serializer: GRPCProber.Bytes()
        ) { request, _ in
            var service = ""
            for try await m in request.messages where m.count > 2 {
                service = String(decoding: m.dropFirst(2), as: UTF8.self)
            }
            let status: UInt8 = service == "sick" ? 2 : 1
            return StreamingServerResponse(single: ServerResponse(message: [0x08, status]))
        }
        let transport = HTTP2ServerTransport.Posix(
            address: .ipv4(host: "127.0.0.1", port: 0), transportSecurity: .plaintext)
        let server = GRPCServer(transport: transport, router: router)
        let serving = Task { try await server.serve() }
        defer {
            server.beginGracefulShutdown()
            serving.cancel()
        }
        let port = try #require(try await transport.listeningAddress.ipv4?.port)
        #expect(
            await GRPCProber.probe(host: "127.0.0.1", port: port, service: "", timeout: .seconds(5))
                == ProbeOutcome(.success, "service healthy"))
        #expect(
            await GRPCProber.probe(host: "127.0.0.1", port: port, service: "sick", timeout: .seconds(5))
                == ProbeOutcome(.failure, "service unhealthy (responded with \"NOT_SERVING\")"))
        let closed = try await TestHTTPServer.start()
        closed.stop()
        try await Task.sleep(for: .milliseconds(100))
        let refused = await GRPCProber.probe(host: "127.0.0.1", port: closed.port, service: "", timeout: .seconds(1))
        #expect(
            refused
                == ProbeOutcome(
                    .failure,
                    "error: failed to connect service at \"127.0.0.1:\(closed.port)\": dial tcp 127.0.0.1:\(closed.port): connect: connection refused"
                ))
    }
}

@Suite("Lifecycle hooks: upstream's failure messages")
struct LifecycleHookTests {
    @Test("exec hook: exit 0 is success; another exit is described with the command, the pod and the output")
    func exec() async {
        let pod = K.pod(["app"])
        var h = CoreV1.LifecycleHandler()
        h.exec = CoreV1.ExecAction(command: ["sh", "-c", "echo no; exit 3"])
        let failing: Prober.Exec = { _, _, _ in ProberTests.response(3, stdout: "no\n", stderr: "bad") }
        let ok: Prober.Exec = { _, _, _ in ProberTests.response(0) }
        #expect(
            await LifecycleHook.run(
                h, pod: pod, container: pod.spec.containers[0], containerID: "c", podIP: "", exec: ok,
                httpTimeout: .seconds(1)) == nil)
        let msg = await LifecycleHook.run(
            h, pod: pod, container: pod.spec.containers[0], containerID: "c", podIP: "", exec: failing,
            httpTimeout: .seconds(1))
        #expect(
            msg
                == "Exec lifecycle hook ([sh -c echo no; exit 3]) for Container \"app\" in Pod \"web_default(u1)\" failed - error: command 'sh -c echo no; exit 3' exited with 3: bad, message: \"no\\nbad\""
        )
    }

    @Test("HTTP hook: any answer is success (even 500); no connection is a failure")
    func http() async throws {
        let server = try await TestHTTPServer.start()
        let pod = K.pod(["app"])
        var h = CoreV1.LifecycleHandler()
        h.httpGet = CoreV1.HTTPGetAction(path: "/fail", port: .int(Int32(server.port)))
        let noExec: Prober.Exec = { _, _, _ in ProberTests.response(0) }
        #expect(
            await LifecycleHook.run(
                h, pod: pod, container: pod.spec.containers[0], containerID: "c", podIP: "127.0.0.1", exec: noExec,
                httpTimeout: .seconds(2)) == nil)
        #expect(server.log.agents.withLock { $0 }.contains("kube-lifecycle/1.36"))
        server.stop()
        try await Task.sleep(for: .milliseconds(100))
        let msg = await LifecycleHook.run(
            h, pod: pod, container: pod.spec.containers[0], containerID: "c", podIP: "127.0.0.1", exec: noExec,
            httpTimeout: .seconds(2))
        #expect(
            msg
                == "HTTP lifecycle hook (/fail) for Container \"app\" in Pod \"web_default(u1)\" failed - error: Get \"http://127.0.0.1:\(server.port)/fail\": dial tcp 127.0.0.1:\(server.port): connect: connection refused"
        )
    }

    @Test("a probe-triggered kill uses the probe's own grace period; a deletion's grace wins")
    func grace() {
        var pod = K.pod(["app"]) { $0.spec.terminationGracePeriodSeconds = 40 }
        var probe = CoreV1.Probe()
        probe.terminationGracePeriodSeconds = 5
        pod.spec.containers[0].livenessProbe = probe
        let c = pod.spec.containers[0]
        #expect(Kubelet.killGracePeriod(pod, c, reason: .livenessProbe) == 5)
        #expect(Kubelet.killGracePeriod(pod, c, reason: .startupProbe) == 40)
        #expect(Kubelet.killGracePeriod(pod, c, reason: .none) == 40)
        pod.metadata.deletionGracePeriodSeconds = 7
        #expect(Kubelet.killGracePeriod(pod, c, reason: .livenessProbe) == 7)
    }
}

/// A local HTTP/1.1 server for the probers: `/ok`, `/fail` (500), redirects, a big body, header echo,
/// and `/slow` (never answers).
final class TestHTTPServer: Sendable {
    final class Log: Sendable {
        let requests = Mutex<[String]>([])
        let agents = Mutex<[String]>([])
    }

    let channel: any Channel
    let port: Int
    let log: Log

    init(channel: any Channel, port: Int, log: Log) {
        self.channel = channel
        self.port = port
        self.log = log
    }

    static func start() async throws -> TestHTTPServer {
        let log = Log()
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { ch in
                ch.eventLoop.makeCompletedFuture {
                    try ch.pipeline.syncOperations.configureHTTPServerPipeline()
                    try ch.pipeline.syncOperations.addHandler(Handler(server: log))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return TestHTTPServer(channel: channel, port: channel.localAddress?.port ?? 0, log: log)
    }

    func stop() { try? channel.close().wait() }

    final class Handler: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let server: Log?

        init(server: Log?) { self.server = server }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard case .head(let head) = unwrapInboundIn(data) else { return }
            server?.requests.withLock { $0.append(head.uri) }
            server?.agents.withLock { $0.append(head.headers.first(name: "User-Agent") ?? "") }
            var headers = HTTPHeaders()
            var status = HTTPResponseStatus.ok
            var body = "fine"
            let hostPort = head.headers.first(name: "Host") ?? ""
            let port = hostPort.split(separator: ":").last.map(String.init) ?? ""
            switch head.uri {
            case "/ok": break
            case "/fail": (status, body) = (.internalServerError, "broken")
            case "/redirect-local":
                status = .found
                headers.add(name: "Location", value: "/ok")
            case "/redirect-away":
                (status, body) = (.found, "moved")
                headers.add(name: "Location", value: "http://127.0.0.2:\(port)/ok")
            case "/loop":
                status = .found
                headers.add(name: "Location", value: "/loop")
            case "/big": body = String(repeating: "y", count: 20_000)
            case "/headers":
                let h = head.headers
                body =
                    "ua=\(h.first(name: "User-Agent") ?? "") accept=\(h.first(name: "Accept") ?? "") custom=\(h.first(name: "X-Custom") ?? "")"
            case "/slow": return
            default: status = .notFound
            }
            headers.add(name: "Content-Length", value: String(body.utf8.count))
            context.write(
                wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))),
                promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: body)))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }
}
