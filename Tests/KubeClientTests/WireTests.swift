import APIApps
import APICore
import APIMachinery
import Foundation
import Synchronization
import Testing

@testable import KubeClient

/// A transport that answers from a script: the test double of the client's own seam.
final class ScriptedTransport: KubeTransport {
    let requests = Mutex<[KubeRequest]>([])
    let answer: @Sendable (KubeRequest, Int) -> KubeResponse

    init(_ answer: @escaping @Sendable (KubeRequest, Int) -> KubeResponse) { self.answer = answer }

    func send(_ request: KubeRequest, timeout: Swift.Duration?) async throws -> KubeResponse {
        let n = requests.withLock { r in
            r.append(request)
            return r.count
        }
        return answer(request, n)
    }

    func shutdown() async {}
}

@Suite("client wire behaviour")
struct WireTests {
    @Test("paths follow the API layout for core, groups, namespaces and subresources")
    func paths() {
        #expect(
            KubeClient.path(
                group: "", version: "v1", resource: "pods", namespaced: true, namespace: "ns", name: "p",
                subresource: "status")
                == "/api/v1/namespaces/ns/pods/p/status")
        #expect(
            KubeClient.path(group: "apps", version: "v1", resource: "deployments", namespaced: true, namespace: nil)
                == "/apis/apps/v1/deployments")
        #expect(
            KubeClient.path(
                group: "", version: "v1", resource: "nodes", namespaced: false, namespace: "ignored", name: "n")
                == "/api/v1/nodes/n")
        let r = KubeRequest(path: "/api/v1/pods", query: [("labelSelector", "a in (x,y)"), ("limit", "5")])
        #expect(r.uri == "/api/v1/pods?labelSelector=a%20in%20%28x%2Cy%29&limit=5")
    }

    @Test("typed calls send protobuf and decode protobuf answers, kind and apiVersion included")
    func protobufRoundTrip() async throws {
        let t = ScriptedTransport { req, _ in
            // Echo the body back, as a create would.
            KubeResponse(
                status: 201, headers: [("Content-Type", "application/vnd.kubernetes.protobuf")], body: req.body ?? [])
        }
        let client = try KubeClient(config: ClientConfig(server: "https://x"), transport: t)
        var cm = CoreV1.ConfigMap()
        cm.metadata.name = "c"
        cm.metadata.namespace = "ns"
        cm.data = ["k": "v"]
        let back = try await client.create(cm)
        #expect(back.data == ["k": "v"] && back.kind == "ConfigMap" && back.apiVersion == "v1")
        let sent = try #require(t.requests.withLock { $0.first })
        #expect(sent.method == "POST" && sent.path == "/api/v1/namespaces/ns/configmaps")
        #expect(sent.header("Content-Type") == "application/vnd.kubernetes.protobuf")
        #expect(sent.header("Accept")?.hasPrefix("application/vnd.kubernetes.protobuf") == true)
        #expect(sent.body?.starts(with: ProtobufEnvelope.magic) == true)
        #expect(sent.header("User-Agent") == "k8swift")
    }

    @Test("a Status answer becomes a StatusError with its code and reason")
    func statusErrors() async throws {
        let t = ScriptedTransport { _, _ in
            KubeResponse(
                status: 404, headers: [("Content-Type", "application/json")],
                body: Array(
                    #"{"kind":"Status","apiVersion":"v1","status":"Failure","message":"configmaps \"x\" not found","reason":"NotFound","code":404}"#
                        .utf8))
        }
        let client = try KubeClient(config: ClientConfig(server: "https://x"), transport: t)
        do {
            _ = try await client.get(CoreV1.ConfigMap.self, "x", namespace: "ns")
            Issue.record("expected an error")
        } catch let e as StatusError {
            #expect(e.isNotFound && e.code == 404 && e.status.message == "configmaps \"x\" not found")
        }
    }

    @Test("429 with Retry-After is retried after the wait; connection failures are retried for GET only")
    func retries() async throws {
        let t = ScriptedTransport { _, n in
            n == 1
                ? KubeResponse(status: 429, headers: [("Retry-After", "1")], body: [])
                : KubeResponse(
                    status: 200, headers: [("Content-Type", "application/json")],
                    body: Array(#"{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"c"}}"#.utf8))
        }
        let client = try KubeClient(config: ClientConfig(server: "https://x"), transport: t)
        let start = ContinuousClock.now
        let cm = try await client.get(CoreV1.ConfigMap.self, "c", namespace: "ns")
        #expect(cm.metadata.name == "c")
        #expect(ContinuousClock.now - start >= .milliseconds(900), "waited for Retry-After")
        #expect(t.requests.withLock { $0.count } == 2)

        final class Flaky: KubeTransport {
            let calls = Mutex(0)
            func send(_ request: KubeRequest, timeout: Swift.Duration?) async throws -> KubeResponse {
                let n = calls.withLock { c in
                    c += 1
                    return c
                }
                if n < 3 { throw TransportError("connection refused") }
                return KubeResponse(
                    status: 201, headers: [("Content-Type", "application/json")],
                    body: Array(#"{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"c"}}"#.utf8))
            }
            func shutdown() async {}
        }
        let flaky = Flaky()
        let c2 = try KubeClient(config: ClientConfig(server: "https://x"), transport: flaky)
        _ = try await c2.get(CoreV1.ConfigMap.self, "c", namespace: "ns")
        #expect(flaky.calls.withLock { $0 } == 3)
        let flaky2 = Flaky()
        let c3 = try KubeClient(config: ClientConfig(server: "https://x"), transport: flaky2)
        await #expect(throws: TransportError.self) { _ = try await c3.create(CoreV1.ConfigMap()) }
        #expect(flaky2.calls.withLock { $0 } == 1, "a POST is not sent twice")
    }

    @Test("watch frames split across chunks decode in order, JSON and protobuf")
    func watchFraming() throws {
        var json = WatchFramer(protobuf: false)
        let a =
            #"{"type":"ADDED","object":{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"a","resourceVersion":"5"}}}"#
        let b =
            #"{"type":"BOOKMARK","object":{"kind":"ConfigMap","apiVersion":"v1","metadata":{"resourceVersion":"9","annotations":{"k8s.io/initial-events-end":"true"}}}}"#
        let bytes = Array((a + "\n" + b + "\n").utf8)
        var frames: [[UInt8]] = []
        for chunk in stride(from: 0, to: bytes.count, by: 7).map({ Array(bytes[$0..<min($0 + 7, bytes.count)]) }) {
            frames += json.push(chunk)
        }
        #expect(frames.count == 2)
        guard case .added(let cm) = try KubeClient.decodeEvent(CoreV1.ConfigMap.self, frames[0], protobuf: false) else {
            Issue.record("not ADDED")
            return
        }
        #expect(cm.metadata.name == "a")
        guard
            case .bookmark(let rv, let end) = try KubeClient.decodeEvent(
                CoreV1.ConfigMap.self, frames[1], protobuf: false)
        else {
            Issue.record("not BOOKMARK")
            return
        }
        #expect(rv == "9" && end)

        var cm2 = CoreV1.ConfigMap()
        cm2.metadata.name = "p"
        cm2.setTypeMeta()
        let ev = MetaV1.WatchEvent(type: "DELETED", object: RawExtension(raw: ProtobufEnvelope.encode(cm2)))
        let body = ev.protoBytes()
        let framed =
            [
                UInt8(body.count >> 24), UInt8((body.count >> 16) & 0xFF), UInt8((body.count >> 8) & 0xFF),
                UInt8(body.count & 0xFF),
            ] + body
        var pb = WatchFramer(protobuf: true)
        #expect(pb.push(Array(framed.prefix(3))).isEmpty)
        let out = pb.push(Array(framed.dropFirst(3)) + Array(framed.prefix(2)))
        #expect(out.count == 1)
        guard case .deleted(let d) = try KubeClient.decodeEvent(CoreV1.ConfigMap.self, out[0], protobuf: true) else {
            Issue.record("not DELETED")
            return
        }
        #expect(d.metadata.name == "p" && d.kind == "ConfigMap")
    }

    @Test("the token bucket lets a burst through, then paces at the rate")
    func tokenBucket() {
        let b = TokenBucket(qps: 10, burst: 3)
        let t0 = ContinuousClock.now
        #expect(b.reserve(now: t0) == .zero)
        #expect(b.reserve(now: t0) == .zero)
        #expect(b.reserve(now: t0) == .zero)
        #expect(b.reserve(now: t0) == .milliseconds(100))
        #expect(b.reserve(now: t0) == .milliseconds(200))
        // After a second, the bucket has refilled to its burst (not beyond).
        let later = t0 + .seconds(10)
        #expect(b.reserve(now: later) == .zero)
        #expect(b.reserve(now: later) == .zero)
        #expect(b.reserve(now: later) == .zero)
        #expect(b.reserve(now: later) > .zero)
    }
}
