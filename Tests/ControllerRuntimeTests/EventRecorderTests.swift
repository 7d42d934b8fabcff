import APICore
import APIMachinery
import Foundation
import Synchronization
import Testing

@testable import ControllerRuntime

/// An API server whose event writes wait until the test lets them through, counting them and the
/// most that were in flight at once.
final class GatedEventServer: KubeTransport {
    struct State {
        var open = false
        var inFlight = 0
        var maxInFlight = 0
        var creates = 0
        var patches = 0
    }
    let state = Mutex(State())

    func send(_ request: KubeRequest, timeout: Swift.Duration?) async throws -> KubeResponse {
        state.withLock { s in
            s.inFlight += 1
            s.maxInFlight = max(s.maxInFlight, s.inFlight)
        }
        while !state.withLock({ $0.open }) { try await Task.sleep(for: .milliseconds(2)) }
        state.withLock { s in
            s.inFlight -= 1
            if request.method == "POST" { s.creates += 1 } else { s.patches += 1 }
        }
        return KubeResponse(
            status: request.method == "POST" ? 201 : 200, headers: [("Content-Type", "application/json")],
            body: Array(
                #"{"kind":"Event","apiVersion":"events.k8s.io/v1","metadata":{"name":"e","namespace":"ns"}}"#.utf8))
    }

    func shutdown() async {}
}

@Suite("event recorder")
struct EventRecorderTests {
    /// A client without the default client-side rate limit (the test counts writes, not their pace).
    static func client(_ server: GatedEventServer) throws -> KubeClient {
        var config = ClientConfig(server: "https://x")
        config.qps = 0
        return try KubeClient(config: config, transport: server)
    }

    static func pod(_ i: Int) -> CoreV1.ObjectReference {
        CoreV1.ObjectReference(kind: "Pod", namespace: "ns", name: "p\(i)", uid: "uid-\(i)", apiVersion: "v1")
    }

    @Test(
        "a burst waits in a bounded queue drained by at most four writers; past 1,000 queued events new ones are dropped"
    )
    func boundedQueue() async throws {
        let server = GatedEventServer()
        let client = try Self.client(server)
        let recorder = EventRecorder(client: client, controller: "test", instance: "test-1")
        for i in 0..<1500 { recorder.record(Self.pod(i), type: "Normal", reason: "Started", action: "", note: "n") }
        // At most four writes leave the queue before the gate opens, so 496 to 500 are dropped.
        let dropped = recorder.dropped
        #expect(dropped >= 496 && dropped <= 500)
        server.state.withLock { $0.open = true }
        await recorder.flush()
        let s = server.state.withLock { $0 }
        #expect(s.creates == 1500 - dropped, "every event not dropped is written once")
        #expect(s.maxInFlight <= EventRecorder.maxSenders)
        #expect(s.inFlight == 0)
    }

    @Test("a repeat within the series window patches the first event's count instead of creating another")
    func seriesRepeat() async throws {
        let server = GatedEventServer()
        server.state.withLock { $0.open = true }
        let client = try Self.client(server)
        let recorder = EventRecorder(client: client, controller: "test", instance: "test-1")
        let now = Date()
        recorder.record(Self.pod(1), type: "Warning", reason: "BackOff", action: "", note: "n", now: now)
        await recorder.flush()
        recorder.record(
            Self.pod(1), type: "Warning", reason: "BackOff", action: "", note: "n", now: now.addingTimeInterval(10))
        await recorder.flush()
        let s = server.state.withLock { $0 }
        #expect(s.creates == 1)
        #expect(s.patches == 1)
    }
}
