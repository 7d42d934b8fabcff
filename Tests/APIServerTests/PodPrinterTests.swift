import APIMachinery
import Testing

@testable import APIServer

/// `kubectl get pods` columns as upstream's pod printer computes them (pkg/printers/internalversion:
/// init progress `Init:i/n`, `Init:<reason>`, a container's waiting or terminated reason, `Completed`
/// turned back to `Running`/`NotReady` while a container still runs, `Terminating`, restarts with
/// the age of the last one).
@Suite("Pod table columns")
struct PodPrinterTests {
    static func pod(_ json: String) -> JSONValue { try! JSONValue.parse(Array(json.utf8)) }

    static let cases: [(String, String, String, Int)] = [
        (
            "running and ready",
            #"{"spec":{"containers":[{"name":"a"}]},"status":{"phase":"Running","containerStatuses":[{"name":"a","ready":true,"restartCount":0,"state":{"running":{}}}]}}"#,
            "Running", 1
        ),
        (
            "the second of three init containers runs",
            #"{"spec":{"initContainers":[{"name":"i1"},{"name":"i2"},{"name":"i3"}],"containers":[{"name":"a"}]},"status":{"phase":"Pending","initContainerStatuses":[{"name":"i1","state":{"terminated":{"exitCode":0,"reason":"Completed"}}},{"name":"i2","state":{"running":{}}},{"name":"i3","state":{"waiting":{"reason":"PodInitializing"}}}],"containerStatuses":[{"name":"a","state":{"waiting":{"reason":"PodInitializing"}}}]}}"#,
            "Init:1/3", 0
        ),
        (
            "an init container in back-off",
            #"{"spec":{"initContainers":[{"name":"i1"}],"containers":[{"name":"a"}]},"status":{"phase":"Pending","initContainerStatuses":[{"name":"i1","state":{"waiting":{"reason":"CrashLoopBackOff"}}}]}}"#,
            "Init:CrashLoopBackOff", 0
        ),
        (
            "an init container killed by a signal without a reason",
            #"{"spec":{"initContainers":[{"name":"i1"}],"containers":[{"name":"a"}]},"status":{"phase":"Pending","initContainerStatuses":[{"name":"i1","state":{"terminated":{"exitCode":137,"signal":9}}}]}}"#,
            "Init:Signal:9", 0
        ),
        (
            "a container waiting for its image",
            #"{"spec":{"containers":[{"name":"a"}]},"status":{"phase":"Pending","containerStatuses":[{"name":"a","state":{"waiting":{"reason":"ImagePullBackOff"}}}]}}"#,
            "ImagePullBackOff", 0
        ),
        (
            "one container completed while another runs: Running when the pod is Ready",
            #"{"spec":{"containers":[{"name":"a"},{"name":"b"}]},"status":{"phase":"Running","conditions":[{"type":"Ready","status":"True"}],"containerStatuses":[{"name":"a","ready":false,"state":{"terminated":{"exitCode":0,"reason":"Completed"}}},{"name":"b","ready":true,"state":{"running":{}}}]}}"#,
            "Running", 1
        ),
        (
            "the same without the Ready condition: NotReady",
            #"{"spec":{"containers":[{"name":"a"},{"name":"b"}]},"status":{"phase":"Running","containerStatuses":[{"name":"a","ready":false,"state":{"terminated":{"exitCode":0,"reason":"Completed"}}},{"name":"b","ready":true,"state":{"running":{}}}]}}"#,
            "NotReady", 1
        ),
        (
            "a terminated container without a reason",
            #"{"spec":{"containers":[{"name":"a"}]},"status":{"phase":"Failed","containerStatuses":[{"name":"a","state":{"terminated":{"exitCode":3}}}]}}"#,
            "ExitCode:3", 0
        ),
        (
            "being deleted",
            #"{"metadata":{"deletionTimestamp":"2026-01-01T00:00:00Z"},"spec":{"containers":[{"name":"a"}]},"status":{"phase":"Running","containerStatuses":[{"name":"a","ready":true,"state":{"running":{}}}]}}"#,
            "Terminating", 1
        ),
        (
            "a sidecar counts among the containers and its readiness",
            #"{"spec":{"initContainers":[{"name":"s","restartPolicy":"Always"}],"containers":[{"name":"a"}]},"status":{"phase":"Running","initContainerStatuses":[{"name":"s","started":true,"ready":true,"state":{"running":{}}}],"containerStatuses":[{"name":"a","ready":true,"state":{"running":{}}}]}}"#,
            "Running", 2
        ),
        (
            "scheduling gated",
            #"{"spec":{"containers":[{"name":"a"}]},"status":{"phase":"Pending","conditions":[{"type":"PodScheduled","status":"False","reason":"SchedulingGated"}]}}"#,
            "SchedulingGated", 0
        ),
    ]

    @Test(arguments: cases)
    func status(_ c: (String, String, String, Int)) {
        let p = TableBuilder.podSummary(Self.pod(c.1))
        #expect(p.reason == c.2, "\(c.0)")
        #expect(p.ready == c.3, "\(c.0)")
    }

    @Test("restarts sum over containers and name the latest restart's time")
    func restarts() {
        let p = TableBuilder.podSummary(
            Self.pod(
                #"{"spec":{"containers":[{"name":"a"},{"name":"b"}]},"status":{"phase":"Running","containerStatuses":[{"name":"a","restartCount":2,"lastState":{"terminated":{"finishedAt":"2026-01-01T00:00:10Z"}},"state":{"running":{}}},{"name":"b","restartCount":1,"lastState":{"terminated":{"finishedAt":"2026-01-01T00:00:40Z"}},"state":{"running":{}}}]}}"#
            ))
        #expect(p.restarts == 3)
        #expect(p.lastRestart == Time(rfc3339: "2026-01-01T00:00:40Z")?.seconds)
    }
}
