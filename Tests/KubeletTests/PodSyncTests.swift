import APICore
import APIMachinery
import Testing

@testable import Kubelet

/// Builders for the sync cases: a pod with named containers, and runtime state.
enum K {
    static func pod(
        _ containers: [String], inits: [String] = [], sidecars: Set<String> = [], restart: String = "Always",
        hostNetwork: Bool = false, _ edit: (inout CoreV1.Pod) -> Void = { _ in }
    ) -> CoreV1.Pod {
        var p = CoreV1.Pod()
        p.metadata.name = "web"
        p.metadata.namespace = "default"
        p.metadata.uid = "u1"
        p.spec.restartPolicy = restart
        p.spec.hostNetwork = hostNetwork
        p.spec.containers = containers.map { CoreV1.Container(name: $0, image: "busybox") }
        p.spec.initContainers = inits.map {
            var c = CoreV1.Container(name: $0, image: "busybox")
            if sidecars.contains($0) { c.restartPolicy = "Always" }
            return c
        }
        edit(&p)
        return p
    }

    static func sandbox(_ id: String = "s1", attempt: UInt32 = 0, ready: Bool = true, ip: String? = "10.42.0.5")
        -> RuntimeSandbox
    {
        RuntimeSandbox(id: id, attempt: attempt, state: ready ? .ready : .notReady, ips: ip.map { [$0] } ?? [])
    }

    static func running(_ name: String, id: String? = nil, restarts: Int32 = 0) -> RuntimeContainer {
        RuntimeContainer(
            id: id ?? "c-\(name)", name: name, restartCount: restarts, state: .running, startedAt: 1_000_000_000_000)
    }

    static func exited(_ name: String, code: Int32, id: String? = nil, restarts: Int32 = 0) -> RuntimeContainer {
        RuntimeContainer(
            id: id ?? "c-\(name)", name: name, restartCount: restarts, state: .exited, startedAt: 1_000_000_000_000,
            finishedAt: 1_005_000_000_000, exitCode: code)
    }

    static func rt(_ sandboxes: [RuntimeSandbox] = [sandbox()], _ containers: [RuntimeContainer] = []) -> RuntimePod {
        RuntimePod(uid: "u1", name: "web", namespace: "default", sandboxes: sandboxes, containers: containers)
    }
}

struct SyncCase: CustomTestStringConvertible, Sendable {
    let name: String
    let pod: CoreV1.Pod
    let runtime: RuntimePod
    var probes = ProbeResults()
    let want: PodActions
    var testDescription: String { name }
}

@Suite("Pod sync: the actions one sync takes (upstream's computePodActions)")
struct PodSyncTests {
    static let cases: [SyncCase] = [
        SyncCase(
            name: "no sandbox yet: create one (attempt 0) and start every app container",
            pod: K.pod(["a", "b"]), runtime: K.rt([]),
            want: PodActions(killPod: true, createSandbox: true, containersToStart: [0, 1])),
        SyncCase(
            name: "no sandbox and init containers: start only the first init container",
            pod: K.pod(["a"], inits: ["i1", "i2"]), runtime: K.rt([]),
            want: PodActions(killPod: true, createSandbox: true, initContainersToStart: [0])),
        SyncCase(
            name: "the newest sandbox is not ready: kill the pod, new sandbox with the next attempt",
            pod: K.pod(["a"]), runtime: K.rt([K.sandbox(attempt: 2, ready: false)], [K.running("a")]),
            want: PodActions(killPod: true, createSandbox: true, sandboxID: "s1", attempt: 3, containersToStart: [0])),
        SyncCase(
            name: "two ready sandboxes: start over",
            pod: K.pod(["a"]), runtime: K.rt([K.sandbox("s2", attempt: 1), K.sandbox("s1")], [K.running("a")]),
            want: PodActions(killPod: true, createSandbox: true, sandboxID: "s2", attempt: 2, containersToStart: [0])),
        SyncCase(
            name: "a ready sandbox without an IP on the pod network: new sandbox",
            pod: K.pod(["a"]), runtime: K.rt([K.sandbox(ip: nil)]),
            want: PodActions(killPod: true, createSandbox: true, sandboxID: "s1", attempt: 1, containersToStart: [0])),
        SyncCase(
            name: "host network needs no IP in the sandbox",
            pod: K.pod(["a"], hostNetwork: true),
            runtime: K.rt(
                [RuntimeSandbox(id: "s1", state: .ready, hostNetwork: true)], [K.running("a")]),
            want: PodActions(sandboxID: "s1")),
        SyncCase(
            name: "network mode changed: new sandbox, the old one is not reused",
            pod: K.pod(["a"], hostNetwork: true), runtime: K.rt([K.sandbox()], [K.running("a")]),
            want: PodActions(killPod: true, createSandbox: true, attempt: 1, containersToStart: [0])),
        SyncCase(
            name: "restartPolicy Never and a dead sandbox that ran containers: no new sandbox",
            pod: K.pod(["a"], restart: "Never"),
            runtime: K.rt([K.sandbox(ready: false)], [K.exited("a", code: 0)]),
            want: PodActions(killPod: true, sandboxID: "s1", attempt: 1)),
        SyncCase(
            name: "restartPolicy OnFailure, dead sandbox: containers that succeeded are not started again",
            pod: K.pod(["a", "b"], restart: "OnFailure"),
            runtime: K.rt([K.sandbox(ready: false)], [K.exited("a", code: 0), K.exited("b", code: 1)]),
            want: PodActions(killPod: true, createSandbox: true, sandboxID: "s1", attempt: 1, containersToStart: [1])),
        SyncCase(
            name: "restartPolicy OnFailure, dead sandbox, all succeeded: no new sandbox",
            pod: K.pod(["a"], restart: "OnFailure"),
            runtime: K.rt([K.sandbox(ready: false)], [K.exited("a", code: 0)]),
            want: PodActions(killPod: true, sandboxID: "s1", attempt: 1)),
        SyncCase(
            name: "everything runs: nothing to do",
            pod: K.pod(["a", "b"]), runtime: K.rt([K.sandbox()], [K.running("a"), K.running("b")]),
            want: PodActions(sandboxID: "s1")),
        SyncCase(
            name: "Always: an exited container is started again (whatever its exit code)",
            pod: K.pod(["a", "b"]), runtime: K.rt([K.sandbox()], [K.running("a"), K.exited("b", code: 0)]),
            want: PodActions(sandboxID: "s1", containersToStart: [1])),
        SyncCase(
            name: "OnFailure: exit 0 stays stopped, a failure restarts",
            pod: K.pod(["a", "b", "c"], restart: "OnFailure"),
            runtime: K.rt([K.sandbox()], [K.running("a"), K.exited("b", code: 0), K.exited("c", code: 2)]),
            want: PodActions(sandboxID: "s1", containersToStart: [2])),
        SyncCase(
            name: "Never: exited containers stay; the pod is killed once none runs",
            pod: K.pod(["a"], restart: "Never"), runtime: K.rt([K.sandbox()], [K.exited("a", code: 1)]),
            want: PodActions(killPod: true, sandboxID: "s1")),
        SyncCase(
            name: "a container not created yet is started",
            pod: K.pod(["a", "b"]), runtime: K.rt([K.sandbox()], [K.running("a")]),
            want: PodActions(sandboxID: "s1", containersToStart: [1])),
        SyncCase(
            name: "liveness failure with Always: kill and restart",
            pod: K.pod(["a"]), runtime: K.rt([K.sandbox()], [K.running("a")]),
            probes: ProbeResults(liveness: ["c-a": .failure]),
            want: PodActions(
                sandboxID: "s1", containersToStart: [0],
                containersToKill: [
                    ContainerKill(
                        id: "c-a", name: "a", message: "Container a failed liveness probe, will be restarted",
                        reason: .livenessProbe)
                ])),
        SyncCase(
            name: "liveness failure with Never: killed, not restarted, and the pod goes down with it",
            pod: K.pod(["a"], restart: "Never"), runtime: K.rt([K.sandbox()], [K.running("a")]),
            probes: ProbeResults(liveness: ["c-a": .failure]),
            want: PodActions(
                killPod: true, sandboxID: "s1",
                containersToKill: [
                    ContainerKill(
                        id: "c-a", name: "a", message: "Container a failed liveness probe", reason: .livenessProbe)
                ])),
        SyncCase(
            name: "startup probe failure: kill and restart",
            pod: K.pod(["a", "b"]), runtime: K.rt([K.sandbox()], [K.running("a"), K.running("b")]),
            probes: ProbeResults(startup: ["c-b": .failure]),
            want: PodActions(
                sandboxID: "s1", containersToStart: [1],
                containersToKill: [
                    ContainerKill(
                        id: "c-b", name: "b", message: "Container b failed startup probe, will be restarted",
                        reason: .startupProbe)
                ])),
        SyncCase(
            name: "spec changed (hash differs): restarted even with restartPolicy Never",
            pod: K.pod(["a"], restart: "Never"),
            runtime: K.rt(
                [K.sandbox()],
                [RuntimeContainer(id: "c-a", name: "a", state: .running, specHash: 42)]),
            want: PodActions(
                sandboxID: "s1", containersToStart: [0],
                containersToKill: [
                    ContainerKill(id: "c-a", name: "a", message: "Container a definition changed, will be restarted")
                ])),
        SyncCase(
            name: "a container in unknown state is killed before it starts again",
            pod: K.pod(["a"]),
            runtime: K.rt([K.sandbox()], [RuntimeContainer(id: "c-a", name: "a", state: .unknown)]),
            want: PodActions(
                sandboxID: "s1", containersToStart: [0],
                containersToKill: [
                    ContainerKill(
                        id: "c-a", name: "a", message: "Container is in unknown state, try killing it before restart",
                        reason: .unknownState)
                ])),
        SyncCase(
            name: "being deleted: nothing is started again and the pod is killed once none runs",
            pod: K.pod(["a"]) { $0.metadata.deletionTimestamp = Time(seconds: 100) },
            runtime: K.rt([K.sandbox()], [K.exited("a", code: 0)]),
            want: PodActions(killPod: true, sandboxID: "s1")),
        SyncCase(
            name: "init: the first init container runs, wait for it",
            pod: K.pod(["a"], inits: ["i1", "i2"]), runtime: K.rt([K.sandbox()], [K.running("i1")]),
            want: PodActions(sandboxID: "s1")),
        SyncCase(
            name: "init: the first succeeded, start the second",
            pod: K.pod(["a"], inits: ["i1", "i2"]), runtime: K.rt([K.sandbox()], [K.exited("i1", code: 0)]),
            want: PodActions(sandboxID: "s1", initContainersToStart: [1])),
        SyncCase(
            name: "init: all succeeded, start the app containers",
            pod: K.pod(["a", "b"], inits: ["i1"]), runtime: K.rt([K.sandbox()], [K.exited("i1", code: 0)]),
            want: PodActions(sandboxID: "s1", containersToStart: [0, 1])),
        SyncCase(
            name: "init: a failure with Always restarts that init container",
            pod: K.pod(["a"], inits: ["i1", "i2"]),
            runtime: K.rt([K.sandbox()], [K.exited("i2", code: 1), K.exited("i1", code: 0)]),
            want: PodActions(sandboxID: "s1", initContainersToStart: [1])),
        SyncCase(
            name: "init: a failure with Never kills the pod (it fails)",
            pod: K.pod(["a"], inits: ["i1"], restart: "Never"), runtime: K.rt([K.sandbox()], [K.exited("i1", code: 1)]),
            want: PodActions(killPod: true, sandboxID: "s1")),
        SyncCase(
            name: "init: once an app container was created, init containers are not run again",
            pod: K.pod(["a"], inits: ["i1"]), runtime: K.rt([K.sandbox()], [K.running("a")]),
            want: PodActions(sandboxID: "s1")),
        SyncCase(
            name: "sidecar: started in order, then the next init container",
            pod: K.pod(["a"], inits: ["side", "i1"], sidecars: ["side"]),
            runtime: K.rt([K.sandbox()], [K.running("side")]),
            want: PodActions(sandboxID: "s1", initContainersToStart: [1])),
        SyncCase(
            name: "sidecar with a startup probe not yet successful: wait",
            pod: K.pod(["a"], inits: ["side"], sidecars: ["side"]) {
                $0.spec.initContainers[0].startupProbe = CoreV1.Probe()
            },
            runtime: K.rt([K.sandbox()], [K.running("side")]),
            want: PodActions(sandboxID: "s1")),
        SyncCase(
            name: "sidecar exited while the app runs: restarted beside it",
            pod: K.pod(["a"], inits: ["side"], sidecars: ["side"]),
            runtime: K.rt([K.sandbox()], [K.running("a"), K.exited("side", code: 1)]),
            want: PodActions(sandboxID: "s1", initContainersToStart: [0])),
        SyncCase(
            name: "sidecar: the app container finished for good, the pod (and its sidecar) is killed",
            pod: K.pod(["a"], inits: ["side"], sidecars: ["side"], restart: "Never"),
            runtime: K.rt([K.sandbox()], [K.exited("a", code: 0), K.running("side")]),
            want: PodActions(killPod: true, sandboxID: "s1")),
    ]

    @Test(arguments: cases)
    func actions(_ c: SyncCase) {
        let got = PodSync.compute(pod: c.pod, runtime: c.runtime, probes: c.probes)
        #expect(got == c.want)
    }

    @Test("a container created with the spec's hash is not restarted; a changed image changes the hash")
    func hash() {
        let p = K.pod(["a"])
        var c = K.running("a")
        c.specHash = ContainerHash.of(p.spec.containers[0])
        #expect(PodSync.compute(pod: p, runtime: K.rt([K.sandbox()], [c])) == PodActions(sandboxID: "s1"))
        var changed = p.spec.containers[0]
        changed.image = "busybox:2"
        #expect(ContainerHash.of(changed) != c.specHash)
        var resized = p.spec.containers[0]
        resized.resources.limits["cpu"] = "1"
        #expect(ContainerHash.of(resized) == c.specHash, "resources change in place, not by a restart")
    }
}

@Suite("Crash-loop back-off (upstream: 10 s doubling to 5 min, reset after 10 idle minutes)")
struct CrashLoopBackoffTests {
    let s: Int64 = 1_000_000_000

    @Test func doubles() {
        var b = CrashLoopBackoff()
        let k = "web_default_u1_a_1"
        #expect(!b.inBackoff(k, since: 100 * s, now: 100 * s), "no back-off before the first restart")
        b.next(k, finishedAt: 100 * s)
        #expect(b.current(k) == 10 * s)
        #expect(b.inBackoff(k, since: 100 * s, now: 105 * s))
        #expect(!b.inBackoff(k, since: 100 * s, now: 110 * s))
        var waits: [String] = []
        var t = 110 * s
        for _ in 0..<7 {
            b.next(k, finishedAt: t)
            waits.append(CrashLoopBackoff.goDuration(b.current(k)))
            t += b.current(k)
        }
        #expect(waits == ["20s", "40s", "1m20s", "2m40s", "5m0s", "5m0s", "5m0s"])
        // A container that ran for more than twice the maximum since the last restart starts over.
        b.next(k, finishedAt: t + 601 * s)
        #expect(b.current(k) == 10 * s)
    }
}
