import APIMachinery
import KubernetesAPI

/// events.k8s.io/v1 Events are stored as core/v1 Events: the field mapping upstream's conversion
/// uses (regarding ↔ involvedObject, note ↔ message, deprecated* ↔ source/first/last/count,
/// reportingController ↔ reportingComponent).
enum EventConversion {
    static func toCore(_ e: EventsV1.Event) -> CoreV1.Event {
        var c = CoreV1.Event()
        c.metadata = e.metadata
        c.involvedObject = e.regarding
        c.reason = e.reason
        c.message = e.note
        c.source = e.deprecatedSource
        c.firstTimestamp = e.deprecatedFirstTimestamp
        c.lastTimestamp = e.deprecatedLastTimestamp
        c.count = e.deprecatedCount
        c.type = e.type
        c.eventTime = e.eventTime
        c.series = e.series.map { CoreV1.EventSeries(count: $0.count, lastObservedTime: $0.lastObservedTime) }
        c.action = e.action
        c.related = e.related
        c.reportingComponent = e.reportingController
        c.reportingInstance = e.reportingInstance
        return c
    }

    static func fromCore(_ c: CoreV1.Event) -> EventsV1.Event {
        var e = EventsV1.Event()
        e.metadata = c.metadata
        e.regarding = c.involvedObject
        e.reason = c.reason
        e.note = c.message
        e.deprecatedSource = c.source
        e.deprecatedFirstTimestamp = c.firstTimestamp
        e.deprecatedLastTimestamp = c.lastTimestamp
        e.deprecatedCount = c.count
        e.type = c.type
        e.eventTime = c.eventTime
        e.series = c.series.map { EventsV1.EventSeries(count: $0.count, lastObservedTime: $0.lastObservedTime) }
        e.action = c.action
        e.related = c.related
        e.reportingController = c.reportingComponent
        e.reportingInstance = c.reportingInstance
        return e
    }

    static func codec() -> VersionCodec<CoreV1.Event> {
        VersionCodec<CoreV1.Event>.make(
            EventsV1.Event.self, storage: CoreV1.Event.self, toStorage: toCore, fromStorage: fromCore)
    }
}
