import APICore
import APIEvents
import APIMachinery
import Foundation
import KubeClient
import Synchronization

/// Writes `events.k8s.io/v1` Events for a controller. An event like one written in the last six
/// minutes (same object, type, reason, action, note) is not written again: the first one becomes a
/// series whose count and last-observed time are updated, as upstream's event library does.
///
/// Writes wait in a bounded queue drained by a few sender tasks, not a task each: a burst (a
/// ReplicaSet creating thousands of pods, a node starting a hundred) then costs an event apiece
/// instead of a suspended task's stack apiece, and past `maxQueued` new events are dropped, as
/// upstream's broadcaster drops them when its buffer is full.
public final class EventRecorder: Sendable {
    struct SeriesKey: Hashable {
        var uid: String
        var namespace: String
        var name: String
        var type: String
        var reason: String
        var action: String
        var note: String
    }

    struct Series {
        var eventName: String
        var namespace: String
        var count: Int32
        var first: Date
        var last: Date
    }

    public let controller: String
    public let instance: String
    let client: KubeClient
    let series = Mutex<[SeriesKey: Series]>([:])

    /// A write waiting for a sender.
    enum Write: Sendable {
        case create(EventsV1.Event)
        case bump(name: String, namespace: String, body: [UInt8])
    }

    struct Outbox {
        var queue: [Write] = []
        var head = 0
        var senders = 0
        var dropped = 0
        var idleWaiters: [CheckedContinuation<Void, Never>] = []
    }
    let outbox = Mutex(Outbox())
    /// Upstream's broadcaster buffers 1,000 events.
    static let maxQueued = 1000
    static let maxSenders = 4
    /// Upstream's spam filter: per object, a burst of 25 events, then one every five minutes.
    let spam = Mutex<[String: (tokens: Double, last: Date)]>([:])
    static let spamBurst = 25.0
    static let spamRefill: TimeInterval = 300
    /// How long a repeat still joins an earlier event's series.
    static let seriesWindow: TimeInterval = 6 * 60

    public init(client: KubeClient, controller: String, instance: String) {
        self.client = client
        self.controller = controller
        self.instance = instance
    }

    /// A reference to an object, for `regarding`/`related`.
    public static func reference<T: KubeObject>(_ o: T) -> CoreV1.ObjectReference {
        CoreV1.ObjectReference(
            kind: T.groupVersionKind.kind, namespace: o.metadata.namespace, name: o.metadata.name,
            uid: o.metadata.uid, apiVersion: T.groupVersionKind.apiVersion,
            resourceVersion: o.metadata.resourceVersion)
    }

    public func normal<T: KubeObject>(_ o: T, reason: String, action: String = "", note: String) {
        record(Self.reference(o), type: "Normal", reason: reason, action: action, note: note)
    }

    /// A Normal event about `o` that names `related` as the other object involved (upstream's
    /// `Eventf(regarding, related, …)`, e.g. a preempted pod and its preemptor).
    public func normal<T: KubeObject, R: KubeObject>(
        _ o: T, related: R, reason: String, action: String = "", note: String
    ) {
        record(
            Self.reference(o), related: Self.reference(related), type: "Normal", reason: reason, action: action,
            note: note)
    }

    public func warning<T: KubeObject>(_ o: T, reason: String, action: String = "", note: String) {
        record(Self.reference(o), type: "Warning", reason: reason, action: action, note: note)
    }

    /// Records an event without waiting for the write; failures to write are dropped, as upstream's
    /// recorder drops them (events are best effort).
    public func record(
        _ regarding: CoreV1.ObjectReference, related: CoreV1.ObjectReference? = nil, type: String, reason: String,
        action: String, note: String, now: Date = Date()
    ) {
        let ns = regarding.namespace.isEmpty ? "default" : regarding.namespace
        let objectKey = "\(regarding.kind)/\(ns)/\(regarding.name)/\(regarding.uid)"
        let allowed = spam.withLock { m -> Bool in
            var b = m[objectKey] ?? (Self.spamBurst, now)
            b.tokens = min(Self.spamBurst, b.tokens + now.timeIntervalSince(b.last) / Self.spamRefill)
            b.last = now
            guard b.tokens >= 1 else {
                m[objectKey] = b
                return false
            }
            b.tokens -= 1
            if m.count > 8192 {
                m = m.filter { now.timeIntervalSince($0.value.last) < Self.spamRefill * Self.spamBurst }
            }
            m[objectKey] = b
            return true
        }
        guard allowed else { return }
        let key = SeriesKey(
            uid: regarding.uid, namespace: ns, name: regarding.name, type: type, reason: reason,
            action: action, note: note)
        enum Plan {
            case create(String)
            case bump(Series)
        }
        let plan: Plan = series.withLock { m in
            if var s = m[key], now.timeIntervalSince(s.last) < Self.seriesWindow {
                s.count += 1
                s.last = now
                m[key] = s
                return .bump(s)
            }
            if m.count > 4096 { m = m.filter { now.timeIntervalSince($0.value.last) < Self.seriesWindow } }
            let name = "\(regarding.name).\(String(UInt64(now.timeIntervalSince1970 * 1e9), radix: 16))"
            m[key] = Series(eventName: name, namespace: ns, count: 1, first: now, last: now)
            return .create(name)
        }
        switch plan {
        case .create(let name):
            var e = EventsV1.Event()
            e.metadata.name = name
            e.metadata.namespace = ns
            e.eventTime = LeaderElector.micro(now)
            e.reportingController = controller
            e.reportingInstance = instance
            e.action = action
            e.reason = reason
            e.regarding = regarding
            e.related = related
            e.note = String(note.prefix(1024))
            e.type = type
            e.deprecatedSource = CoreV1.EventSource(component: controller)
            enqueue(.create(e))
        case .bump(let s):
            let body = """
                {"series":{"count":\(s.count),"lastObservedTime":"\(LeaderElector.micro(s.last).description)"}}
                """
            enqueue(.bump(name: s.eventName, namespace: s.namespace, body: Array(body.utf8)))
        }
    }

    /// Events dropped because the queue was full.
    public var dropped: Int { outbox.withLock { $0.dropped } }

    func enqueue(_ w: Write) {
        let startSender = outbox.withLock { o -> Bool in
            if o.queue.count - o.head >= Self.maxQueued {
                o.dropped += 1
                return false
            }
            o.queue.append(w)
            guard o.senders < Self.maxSenders else { return false }
            o.senders += 1
            return true
        }
        if startSender { Task { await self.drain() } }
    }

    /// A sender: writes queued events until none is left (failures are dropped: events are best effort).
    func drain() async {
        while true {
            var waiters: [CheckedContinuation<Void, Never>] = []
            let next: Write? = outbox.withLock { o in
                guard o.head < o.queue.count else {
                    o.senders -= 1
                    if o.senders == 0 {
                        waiters = o.idleWaiters
                        o.idleWaiters = []
                        o.queue = []
                        o.head = 0
                    }
                    return nil
                }
                let w = o.queue[o.head]
                o.head += 1
                if o.head >= 256 && o.head * 2 >= o.queue.count {
                    o.queue.removeFirst(o.head)
                    o.head = 0
                }
                return w
            }
            guard let next else {
                for w in waiters { w.resume() }
                return
            }
            switch next {
            case .create(let e):
                _ = try? await client.create(e)
            case .bump(let name, let namespace, let body):
                _ = try? await client.patch(EventsV1.Event.self, name, namespace: namespace, type: .merge, body: body)
            }
        }
    }

    /// Waits until every queued write is done (tests, and a clean stop).
    public func flush() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let idle = outbox.withLock { o -> Bool in
                if o.senders == 0 { return true }
                o.idleWaiters.append(c)
                return false
            }
            if idle { c.resume() }
        }
    }
}
