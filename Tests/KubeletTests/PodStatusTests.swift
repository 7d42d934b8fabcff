import APICore
import APIMachinery
import Testing

@testable import Kubelet

struct PhaseCase: CustomTestStringConvertible, Sendable {
    let name: String
    let pod: CoreV1.Pod
    let runtime: RuntimePod
    var waiting: [String: WaitingReason] = [:]
    var terminal = false
    let want: String
    var testDescription: String { name }
}

@Suite("Pod status as the kubelet reports it (upstream's generateAPIPodStatus and getPhase)")
struct PodStatusTests {
    static let now = Time(seconds: 2_000_000)
    let builder = PodStatusBuilder(hostIPs: ["192.168.1.10"], now: PodStatusTests.now)

    static let phases: [PhaseCase] = [
        PhaseCase(name: "nothing created yet: Pending", pod: K.pod(["a"]), runtime: K.rt([]), want: "Pending"),
        PhaseCase(
            name: "all running: Running", pod: K.pod(["a", "b"]),
            runtime: K.rt([K.sandbox()], [K.running("a"), K.running("b")]), want: "Running"),
        PhaseCase(
            name: "one running, one not created: Pending (a waiting container)", pod: K.pod(["a", "b"]),
            runtime: K.rt([K.sandbox()], [K.running("a")]), want: "Pending"),
        PhaseCase(
            name: "a regular init container runs: Pending", pod: K.pod(["a"], inits: ["i"]),
            runtime: K.rt([K.sandbox()], [K.running("i")]), want: "Pending"),
        PhaseCase(
            name: "an init container failed with restartPolicy Never: Failed",
            pod: K.pod(["a"], inits: ["i"], restart: "Never"), runtime: K.rt([K.sandbox()], [K.exited("i", code: 1)]),
            want: "Failed"),
        PhaseCase(
            name: "an init container failed with Always: Pending while it is retried",
            pod: K.pod(["a"], inits: ["i"]), runtime: K.rt([K.sandbox()], [K.exited("i", code: 1)]),
            waiting: ["i": WaitingReason("CrashLoopBackOff")], want: "Pending"),
        PhaseCase(
            name: "all exited 0 with Never: Succeeded", pod: K.pod(["a", "b"], restart: "Never"),
            runtime: K.rt([K.sandbox()], [K.exited("a", code: 0), K.exited("b", code: 0)]), want: "Succeeded"),
        PhaseCase(
            name: "one failed with Never: Failed", pod: K.pod(["a", "b"], restart: "Never"),
            runtime: K.rt([K.sandbox()], [K.exited("a", code: 0), K.exited("b", code: 3)]), want: "Failed"),
        PhaseCase(
            name: "all exited with Always: Running (they restart)", pod: K.pod(["a"]),
            runtime: K.rt([K.sandbox()], [K.exited("a", code: 1)]), want: "Running"),
        PhaseCase(
            name: "failed with OnFailure: Running (it restarts)", pod: K.pod(["a"], restart: "OnFailure"),
            runtime: K.rt([K.sandbox()], [K.exited("a", code: 1)]), want: "Running"),
        PhaseCase(
            name: "exited 0 with OnFailure: Succeeded", pod: K.pod(["a"], restart: "OnFailure"),
            runtime: K.rt([K.sandbox()], [K.exited("a", code: 0)]), want: "Succeeded"),
        PhaseCase(
            name: "a container waiting in back-off after an exit counts as stopped: Running with Always",
            pod: K.pod(["a"]), runtime: K.rt([K.sandbox()], [K.exited("a", code: 1)]),
            waiting: ["a": WaitingReason("CrashLoopBackOff")], want: "Running"),
        PhaseCase(
            name: "terminal pod (being stopped for good), all stopped, one failed: Failed even with Always",
            pod: K.pod(["a"]), runtime: K.rt([K.sandbox(ready: false)], [K.exited("a", code: 137)]), terminal: true,
            want: "Failed"),
        PhaseCase(
            name: "a sidecar not started yet and no app container: Pending",
            pod: K.pod(["a"], inits: ["side"], sidecars: ["side"]), runtime: K.rt([K.sandbox()], []), want: "Pending"),
        PhaseCase(
            name: "sidecar and app running: Running",
            pod: K.pod(["a"], inits: ["side"], sidecars: ["side"]),
            runtime: K.rt([K.sandbox()], [K.running("a"), K.running("side")]), want: "Running"),
    ]

    @Test(arguments: phases)
    func phase(_ c: PhaseCase) {
        let s = builder.build(pod: c.pod, runtime: c.runtime, waiting: c.waiting, podIsTerminal: c.terminal)
        #expect(s.phase == c.want)
    }

    func condition(_ s: CoreV1.PodStatus, _ type: String) -> CoreV1.PodCondition? {
        s.conditions.first { $0.type == type }
    }

    @Test("a pod still creating: conditions in upstream's order, with upstream's reasons and messages")
    func creating() {
        var pod = K.pod(["a", "b"], inits: ["i"])
        pod.status.conditions = [
            CoreV1.PodCondition(type: "PodScheduled", status: "True", lastTransitionTime: Time(seconds: 5))
        ]
        let s = builder.build(pod: pod, runtime: K.rt([K.sandbox()], [K.running("i")]))
        #expect(
            s.conditions.map(\.type) == [
                "PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled",
            ])
        #expect(condition(s, "PodReadyToStartContainers")?.status == "True")
        let initialized = condition(s, "Initialized")
        #expect(initialized?.status == "False")
        #expect(initialized?.reason == "ContainersNotInitialized")
        #expect(initialized?.message == "containers with incomplete status: [i]")
        let ready = condition(s, "ContainersReady")
        #expect(ready?.reason == "ContainersNotReady")
        #expect(ready?.message == "containers with unready status: [a b]")
        #expect(condition(s, "Ready")?.message == "containers with unready status: [a b]")
        #expect(condition(s, "PodScheduled")?.lastTransitionTime == Time(seconds: 5), "kept as the scheduler wrote it")
        #expect(condition(s, "Ready")?.lastTransitionTime == PodStatusTests.now)
        #expect(s.containerStatuses.map { $0.state.waiting?.reason } == ["PodInitializing", "PodInitializing"])
        #expect(s.initContainerStatuses[0].state.running != nil)
        #expect(s.podIP == "10.42.0.5")
        #expect(s.podIPs.map(\.ip) == ["10.42.0.5"])
        #expect(s.hostIP == "192.168.1.10")
        #expect(s.startTime == PodStatusTests.now)
    }

    @Test("no sandbox yet: containers wait in ContainerCreating, PodReadyToStartContainers is False")
    func noSandbox() {
        let s = builder.build(pod: K.pod(["a"]), runtime: K.rt([]))
        #expect(s.containerStatuses[0].state.waiting?.reason == "ContainerCreating")
        #expect(condition(s, "PodReadyToStartContainers")?.status == "False")
        #expect(s.podIP == "")
    }

    @Test("running and ready: readiness probes decide, the start time and transition times are kept")
    func ready() {
        var pod = K.pod(["a", "b"])
        pod.spec.containers[1].readinessProbe = CoreV1.Probe()
        pod.status.startTime = Time(seconds: 7)
        let rt = K.rt([K.sandbox()], [K.running("a"), K.running("b")])
        let notYet = builder.build(pod: pod, runtime: rt)
        #expect(notYet.containerStatuses.map(\.ready) == [true, false])
        #expect(notYet.containerStatuses.map(\.started) == [true, true])
        #expect(condition(notYet, "Ready")?.message == "containers with unready status: [b]")
        #expect(notYet.startTime == Time(seconds: 7))
        pod.status = notYet
        let later = PodStatusBuilder(hostIPs: ["192.168.1.10"], now: Time(seconds: 2_000_100))
        let s = later.build(pod: pod, runtime: rt, probes: ProbeResults(readiness: ["c-b": .success]))
        #expect(condition(s, "Ready")?.status == "True")
        #expect(condition(s, "ContainersReady")?.status == "True")
        #expect(condition(s, "Ready")?.lastTransitionTime == Time(seconds: 2_000_100), "it changed")
        #expect(condition(s, "Initialized")?.lastTransitionTime == PodStatusTests.now, "it did not")
        #expect(s.containerStatuses[0].containerID == "containerd://c-a")
    }

    @Test("a startup probe holds started and ready back until it succeeds")
    func startup() {
        var pod = K.pod(["a"])
        pod.spec.containers[0].startupProbe = CoreV1.Probe()
        let rt = K.rt([K.sandbox()], [K.running("a")])
        #expect(builder.build(pod: pod, runtime: rt).containerStatuses[0].started == false)
        let s = builder.build(pod: pod, runtime: rt, probes: ProbeResults(startup: ["c-a": .success]))
        #expect(s.containerStatuses[0].started == true)
        #expect(s.containerStatuses[0].ready)
    }

    @Test("readiness gates: Ready waits for the gate's condition, with upstream's messages")
    func gates() {
        var pod = K.pod(["a"])
        pod.spec.readinessGates = [CoreV1.PodReadinessGate(conditionType: "example.com/lb")]
        let rt = K.rt([K.sandbox()], [K.running("a")])
        let missing = builder.build(pod: pod, runtime: rt)
        #expect(condition(missing, "ContainersReady")?.status == "True")
        #expect(condition(missing, "Ready")?.reason == "ReadinessGatesNotReady")
        #expect(
            condition(missing, "Ready")?.message
                == "corresponding condition of pod readiness gate \"example.com/lb\" does not exist.")
        pod.status.conditions = [CoreV1.PodCondition(type: "example.com/lb", status: "False")]
        let no = builder.build(pod: pod, runtime: rt)
        #expect(
            condition(no, "Ready")?.message
                == "the status of pod readiness gate \"example.com/lb\" is not \"True\", but False")
        #expect(no.conditions.first?.type == "example.com/lb", "conditions the kubelet does not own stay")
        pod.status.conditions = [CoreV1.PodCondition(type: "example.com/lb", status: "True")]
        #expect(condition(builder.build(pod: pod, runtime: rt), "Ready")?.status == "True")
    }

    @Test("crash loop: the waiting reason shows, the last exit moves to lastState, restarts count")
    func crashLoop() {
        let pod = K.pod(["a"])
        let rt = K.rt(
            [K.sandbox()],
            [K.exited("a", code: 2, id: "c2", restarts: 1), K.exited("a", code: 1, id: "c1", restarts: 0)])
        let msg = "back-off 10s restarting failed container=a pod=web_default(u1)"
        let s = builder.build(pod: pod, runtime: rt, waiting: ["a": WaitingReason("CrashLoopBackOff", msg)])
        let st = s.containerStatuses[0]
        #expect(st.state.waiting == CoreV1.ContainerStateWaiting(reason: "CrashLoopBackOff", message: msg))
        #expect(st.lastState.terminated?.exitCode == 2)
        #expect(st.lastState.terminated?.reason == "Error")
        #expect(st.lastState.terminated?.containerID == "containerd://c2")
        #expect(st.restartCount == 1)
        #expect(!st.ready)
    }

    @Test(
        "exited containers: Completed for 0, Error otherwise, the runtime's reason (OOMKilled) wins; the previous instance is lastState"
    )
    func exits() {
        var oom = K.exited("b", code: 137, id: "b2", restarts: 1)
        oom.reason = "OOMKilled"
        let rt = K.rt([K.sandbox()], [K.exited("a", code: 0), oom, K.exited("b", code: 1, id: "b1")])
        let s = builder.build(pod: K.pod(["a", "b"]), runtime: rt)
        #expect(s.containerStatuses[0].state.terminated?.reason == "Completed")
        #expect(s.containerStatuses[1].state.terminated?.reason == "OOMKilled")
        #expect(s.containerStatuses[1].lastState.terminated?.reason == "Error")
        #expect(s.containerStatuses[0].state.terminated?.finishedAt == Time(seconds: 1_005))
    }

    @Test("Succeeded: ContainersReady and Ready False with PodCompleted, Initialized PodCompleted")
    func completed() {
        var pod = K.pod(["a"], inits: ["i"], restart: "Never")
        pod.status.podIP = "10.42.0.5"
        pod.status.podIPs = [CoreV1.PodIP(ip: "10.42.0.5")]
        let s = builder.build(
            pod: pod, runtime: K.rt([K.sandbox(ready: false)], [K.exited("a", code: 0), K.exited("i", code: 0)]))
        #expect(s.phase == "Succeeded")
        #expect(condition(s, "ContainersReady")?.reason == "PodCompleted")
        #expect(condition(s, "Ready")?.reason == "PodCompleted")
        #expect(condition(s, "Initialized")?.reason == "PodCompleted")
        #expect(condition(s, "Initialized")?.status == "True")
        #expect(s.podIP == "10.42.0.5", "a pod whose sandbox stopped keeps the IP it had")
    }

    @Test("a terminal phase never changes back")
    func terminalSticks() {
        var pod = K.pod(["a"])
        pod.status.phase = "Failed"
        let s = builder.build(pod: pod, runtime: K.rt([K.sandbox()], [K.running("a")]))
        #expect(s.phase == "Failed")
    }
}
