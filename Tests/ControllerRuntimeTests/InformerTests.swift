import APICore
import APIMachinery
import Foundation
import Synchronization
import Testing

@testable import ControllerRuntime

/// A scripted API server for one resource: lists, watch streams the test feeds, and a count of each.
final class FakeServer: KubeTransport {
    struct State {
        var lists = 0
        var watches: [KubeRequest] = []
        var feeds: [AsyncThrowingStream<[UInt8], any Error>.Continuation] = []
        var watchListRefused = true
    }
    let state = Mutex(State())
    let listBody: @Sendable () -> [UInt8]

    init(listBody: @escaping @Sendable () -> [UInt8]) { self.listBody = listBody }

    func send(_ request: KubeRequest, timeout: Swift.Duration?) async throws -> KubeResponse {
        if request.query.contains(where: { $0.name == "watch" }) {
            if request.query.contains(where: { $0.name == "sendInitialEvents" })
                && state.withLock({ $0.watchListRefused })
            {
                return KubeResponse(
                    status: 422, headers: [("Content-Type", "application/json")],
                    body: Array(
                        #"{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Invalid","code":422}"#.utf8))
            }
            let (stream, c) = AsyncThrowingStream<[UInt8], any Error>.makeStream()
            state.withLock { s in
                s.watches.append(request)
                s.feeds.append(c)
            }
            return KubeResponse(status: 200, headers: [("Content-Type", "application/json")], stream: stream)
        }
        state.withLock { $0.lists += 1 }
        return KubeResponse(status: 200, headers: [("Content-Type", "application/json")], body: listBody())
    }

    func shutdown() async {}

    func feed(_ line: String) { state.withLock { $0.feeds.last }?.yield(Array((line + "\n").utf8)) }
    func drop() { state.withLock { $0.feeds.last }?.finish(throwing: TransportError("connection reset")) }
    var watchCount: Int { state.withLock { $0.watches.count } }
}

func cm(_ name: String, _ rv: Int, labels: [String: String] = [:]) -> String {
    let l = labels.map { "\"\($0.key)\":\"\($0.value)\"" }.joined(separator: ",")
    return
        #"{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"\#(name)","namespace":"ns","resourceVersion":"\#(rv)","labels":{\#(l)}}}"#
}

@Suite("informer and store")
struct InformerTests {
    func eventually(_ what: String, _ f: () -> Bool) async {
        for _ in 0..<300 {
            if f() { return }
            try? await Task.sleep(for: .milliseconds(10))
        }
        Issue.record("timed out waiting for \(what)")
    }

    @Test("lists, then watches from the list's resourceVersion; resumes a dropped watch from the last one seen")
    func listWatchResume() async throws {
        let server = FakeServer {
            Array(
                #"{"kind":"ConfigMapList","apiVersion":"v1","metadata":{"resourceVersion":"10"},"items":[\#(cm("a", 3))]}"#
                    .utf8)
        }
        let client = try KubeClient(config: ClientConfig(server: "https://x"), transport: server)
        let inf = Informer<CoreV1.ConfigMap>(client: client)
        let events = Mutex<[String]>([])
        inf.addHandler { e in
            let s: String
            switch e {
            case .added(let o): s = "add \(o.metadata.name)"
            case .updated(_, let o): s = "update \(o.metadata.name)"
            case .deleted(let o): s = "delete \(o.metadata.name)"
            }
            events.withLock { $0.append(s) }
        }
        let task = Task { await inf.run() }
        await inf.waitForSync()
        #expect(inf.store.get(namespace: "ns", name: "a") != nil)
        await eventually("a watch") { server.watchCount == 1 }
        let first = server.state.withLock { $0.watches[0] }
        #expect(first.query.contains { $0 == ("resourceVersion", "10") })
        #expect(first.query.contains { $0 == ("allowWatchBookmarks", "true") })
        server.feed(#"{"type":"ADDED","object":\#(cm("b", 11))}"#)
        server.feed(#"{"type":"MODIFIED","object":\#(cm("a", 12))}"#)
        server.feed(
            #"{"type":"BOOKMARK","object":{"kind":"ConfigMap","apiVersion":"v1","metadata":{"resourceVersion":"15"}}}"#)
        await eventually("the bookmark") { inf.lastResourceVersion == "15" }
        server.drop()
        await eventually("a second watch") { server.watchCount == 2 }
        let second = server.state.withLock { $0.watches[1] }
        #expect(second.query.contains { $0 == ("resourceVersion", "15") }, "resumed, not relisted")
        #expect(server.state.withLock { $0.lists } == 1)
        server.feed(#"{"type":"DELETED","object":\#(cm("b", 16))}"#)
        await eventually("the delete") { inf.store.get(namespace: "ns", name: "b") == nil }
        #expect(events.withLock { $0 } == ["add a", "add b", "update a", "delete b"])
        task.cancel()
    }

    @Test("a factory's caches drop managedFields (listed and watched objects alike) unless told to keep them")
    func factoryStripsManagedFields() async throws {
        @Sendable func withFields(_ name: String, _ rv: Int) -> String {
            #"{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"\#(name)","namespace":"ns","resourceVersion":"\#(rv)","managedFields":[{"manager":"kubectl","operation":"Update","apiVersion":"v1","fieldsType":"FieldsV1","fieldsV1":{"f:data":{}}}]}}"#
        }
        for keep in [false, true] {
            let server = FakeServer {
                Array(
                    #"{"kind":"ConfigMapList","apiVersion":"v1","metadata":{"resourceVersion":"10"},"items":[\#(withFields("a", 3))]}"#
                        .utf8)
            }
            let client = try KubeClient(config: ClientConfig(server: "https://x"), transport: server)
            let factory = InformerFactory(client: client, keepManagedFields: keep)
            let inf = factory.informer(CoreV1.ConfigMap.self)
            let seen = Mutex<[Int]>([])
            inf.addHandler { e in seen.withLock { $0.append(e.object.metadata.managedFields.count) } }
            factory.start()
            await inf.waitForSync()
            await eventually("a watch") { server.watchCount == 1 }
            server.feed(#"{"type":"ADDED","object":\#(withFields("b", 11))}"#)
            await eventually("the added object") { inf.store.get(namespace: "ns", name: "b") != nil }
            let want = keep ? 1 : 0
            #expect(inf.store.get(namespace: "ns", name: "a")?.metadata.managedFields.count == want)
            #expect(inf.store.get(namespace: "ns", name: "b")?.metadata.managedFields.count == want)
            #expect(seen.withLock { $0 } == [want, want], "handlers see what the store keeps")
            factory.stop()
        }
    }

    @Test("410 Gone on the watch makes it list again, and what vanished is reported deleted")
    func relistOnGone() async throws {
        let round = Mutex(0)
        let server = FakeServer {
            let n = round.withLock { r in
                r += 1
                return r
            }
            return n == 1
                ? Array(
                    #"{"kind":"ConfigMapList","apiVersion":"v1","metadata":{"resourceVersion":"10"},"items":[\#(cm("a", 3)),\#(cm("b", 4))]}"#
                        .utf8)
                : Array(
                    #"{"kind":"ConfigMapList","apiVersion":"v1","metadata":{"resourceVersion":"50"},"items":[\#(cm("a", 40))]}"#
                        .utf8)
        }
        let client = try KubeClient(config: ClientConfig(server: "https://x"), transport: server)
        let inf = Informer<CoreV1.ConfigMap>(client: client)
        let deleted = Mutex<[String]>([])
        inf.addHandler { e in if case .deleted(let o) = e { deleted.withLock { $0.append(o.metadata.name) } } }
        let task = Task { await inf.run() }
        await eventually("a watch") { server.watchCount == 1 }
        server.feed(
            #"{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","status":"Failure","message":"too old resource version","reason":"Expired","code":410}}"#
        )
        await eventually("the relist") { server.state.withLock { $0.lists } == 2 && server.watchCount == 2 }
        #expect(inf.store.get(namespace: "ns", name: "a")?.metadata.resourceVersion == "40")
        #expect(deleted.withLock { $0 } == ["b"])
        #expect(server.state.withLock { $0.watches[1] }.query.contains { $0 == ("resourceVersion", "50") })
        task.cancel()
    }

    @Test("a server that offers watch-list gets one request: initial state, then the end bookmark")
    func watchList() async throws {
        let server = FakeServer { Array("{}".utf8) }
        server.state.withLock { $0.watchListRefused = false }
        let client = try KubeClient(config: ClientConfig(server: "https://x"), transport: server)
        let inf = Informer<CoreV1.ConfigMap>(client: client)
        let task = Task { await inf.run() }
        await eventually("a watch") { server.watchCount == 1 }
        #expect(!inf.hasSynced)
        server.feed(#"{"type":"ADDED","object":\#(cm("a", 3))}"#)
        server.feed(
            #"{"type":"BOOKMARK","object":{"kind":"ConfigMap","apiVersion":"v1","metadata":{"resourceVersion":"7","annotations":{"k8s.io/initial-events-end":"true"}}}}"#
        )
        await inf.waitForSync()
        #expect(inf.store.count == 1)
        #expect(server.state.withLock { $0.lists } == 0)
        let w = server.state.withLock { $0.watches[0] }
        #expect(w.query.contains { $0 == ("sendInitialEvents", "true") })
        #expect(w.query.contains { $0 == ("resourceVersionMatch", "NotOlderThan") })
        task.cancel()
    }

    @Test("indexes follow updates: by namespace, owner and a custom index")
    func indexes() {
        let s = ObjectStore<CoreV1.Pod>()
        s.addIndexer("node") { [$0.spec.nodeName] }
        var p = CoreV1.Pod()
        p.metadata.name = "p"
        p.metadata.namespace = "ns"
        p.metadata.ownerReferences = [MetaV1.OwnerReference(apiVersion: "v1", kind: "X", name: "o", uid: "u1")]
        p.spec.nodeName = "n1"
        s.upsert(p)
        #expect(s.byIndex("node", "n1").count == 1)
        #expect(s.byIndex(StandardIndex.ownerUID, "u1").count == 1)
        #expect(s.list(namespace: "ns").count == 1)
        p.spec.nodeName = "n2"
        p.metadata.ownerReferences = []
        s.upsert(p)
        #expect(s.byIndex("node", "n1").isEmpty && s.byIndex("node", "n2").count == 1)
        #expect(s.byIndex(StandardIndex.ownerUID, "u1").isEmpty)
        s.remove(ObjectKey(namespace: "ns", name: "p"))
        #expect(s.byIndex("node", "n2").isEmpty && s.count == 0)
    }
}
