import APICore
import APIMachinery

/// Why a container is not running although it should, from the last sync (upstream's reason cache):
/// `ErrImagePull`, `ImagePullBackOff`, `CrashLoopBackOff`, `CreateContainerConfigError`, …
public struct WaitingReason: Equatable, Sendable {
    public var reason: String
    public var message: String

    public init(_ reason: String, _ message: String = "") {
        self.reason = reason
        self.message = message
    }
}

/// The pod status the kubelet reports, computed from the pod, what the runtime holds and the probes
/// (upstream's `generateAPIPodStatus` with the status manager's transition-time bookkeeping).
public struct PodStatusBuilder: Sendable {
    public var hostIPs: [String]
    /// Wall-clock time for transitions and the start time.
    public var now: Time

    public init(hostIPs: [String], now: Time) {
        self.hostIPs = hostIPs
        self.now = now
    }

    public func build(
        pod: CoreV1.Pod, runtime rt: RuntimePod, probes: ProbeResults = ProbeResults(),
        waiting: [String: WaitingReason] = [:], podIsTerminal: Bool = false
    ) -> CoreV1.PodStatus {
        let old = pod.status
        var s = CoreV1.PodStatus()
        s.qosClass = old.qosClass
        s.nominatedNodeName = old.nominatedNodeName
        s.hostIP = hostIPs.first ?? ""
        s.hostIPs = hostIPs.map { CoreV1.HostIP(ip: $0) }
        if let sandbox = rt.sandboxes.first, sandbox.state == .ready {
            let ips = pod.spec.hostNetwork ? hostIPs : sandbox.ips
            s.podIP = ips.first ?? ""
            s.podIPs = ips.map { CoreV1.PodIP(ip: $0) }
        }
        if s.podIP.isEmpty && !old.podIP.isEmpty {
            s.podIP = old.podIP
            s.podIPs = old.podIPs
        }
        s.startTime = old.startTime ?? now

        let initsDone = PodSync.initializationDone(pod, rt)
        s.initContainerStatuses = containerStatuses(
            pod.spec.initContainers, isInit: true, pod: pod, rt: rt, probes: probes, waiting: waiting,
            defaultReason: "PodInitializing", previous: old.initContainerStatuses)
        s.containerStatuses = containerStatuses(
            pod.spec.containers, isInit: false, pod: pod, rt: rt, probes: probes, waiting: waiting,
            defaultReason: pod.spec.initContainers.isEmpty || initsDone ? "ContainerCreating" : "PodInitializing",
            previous: old.containerStatuses)
        if !pod.spec.ephemeralContainers.isEmpty {
            s.ephemeralContainerStatuses = containerStatuses(
                pod.spec.ephemeralContainers.map(\.asContainer), isInit: false, pod: pod, rt: rt, probes: probes,
                waiting: waiting, defaultReason: "ContainerCreating", previous: old.ephemeralContainerStatuses
            ).map { st in
                var st = st
                st.ready = false
                return st
            }
        }

        if old.phase == "Succeeded" || old.phase == "Failed" {
            s.phase = old.phase
            s.reason = old.reason
            s.message = old.message
        } else {
            s.phase = Self.phase(pod.spec, s.initContainerStatuses, s.containerStatuses, podIsTerminal: podIsTerminal)
        }

        // Conditions the kubelet does not own stay as they were (e.g. DisruptionTarget).
        let owned: Set<String> = [
            "PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled",
        ]
        var conditions = old.conditions.filter { !owned.contains($0.type) }
        let sandboxReady = rt.sandboxes.first.map { $0.state == .ready && ($0.hostNetwork || !$0.ips.isEmpty) } ?? false
        conditions.append(
            CoreV1.PodCondition(type: "PodReadyToStartContainers", status: sandboxReady ? "True" : "False"))
        let all = s.initContainerStatuses + s.containerStatuses
        conditions.append(Self.initialized(pod.spec, all, phase: s.phase))
        let containersReady = Self.containersReady(pod.spec, all, phase: s.phase)
        conditions.append(Self.ready(pod, containersReady: containersReady, others: old.conditions))
        conditions.append(containersReady)
        conditions.append(
            old.conditions.first { $0.type == "PodScheduled" }
                ?? CoreV1.PodCondition(type: "PodScheduled", status: "True"))
        s.conditions = conditions.map { c in
            var c = c
            if let prev = old.conditions.first(where: { $0.type == c.type }), prev.status == c.status {
                c.lastTransitionTime = prev.lastTransitionTime
                c.lastProbeTime = prev.lastProbeTime
            } else if c.lastTransitionTime == nil {
                c.lastTransitionTime = now
            }
            return c
        }
        let spec = pod.spec
        TerminationMessage.limit(
            &s, containers: spec.initContainers.count + spec.containers.count + spec.ephemeralContainers.count)
        return s
    }

    func containerStatuses(
        _ containers: [CoreV1.Container], isInit: Bool, pod: CoreV1.Pod, rt: RuntimePod, probes: ProbeResults,
        waiting: [String: WaitingReason], defaultReason: String, previous: [CoreV1.ContainerStatus]
    ) -> [CoreV1.ContainerStatus] {
        containers.map { c in
            var st = CoreV1.ContainerStatus(name: c.name, image: c.image)
            let instances = rt.instances(of: c.name)
            if let cur = instances.first {
                st.containerID = Self.containerID(cur.id)
                st.image = cur.image.isEmpty ? c.image : cur.image
                st.imageID = cur.imageRef
                st.restartCount = cur.restartCount
                switch cur.state {
                case .running:
                    st.state.running = CoreV1.ContainerStateRunning(startedAt: Self.time(cur.startedAt))
                    let started = c.startupProbe == nil || probes.startup[cur.id] == .success
                    st.started = started
                    st.ready = started && (c.readinessProbe == nil ? true : probes.readiness[cur.id] == .success)
                case .exited:
                    st.state.terminated = Self.terminated(cur)
                    st.started = false
                    st.ready = isInit && !c.isRestartableInit && cur.exitCode == 0
                case .created, .unknown:
                    st.state.waiting = CoreV1.ContainerStateWaiting(reason: "ContainerCreating")
                    st.started = false
                }
                if let prev = instances.dropFirst().first, prev.state == .exited {
                    st.lastState.terminated = Self.terminated(prev)
                }
            } else {
                st.state.waiting = CoreV1.ContainerStateWaiting(reason: defaultReason)
                st.started = false
                // A container the runtime forgot keeps what the API last said of its restarts.
                if let p = previous.first(where: { $0.name == c.name }) {
                    st.restartCount = p.restartCount
                    st.lastState = p.lastState
                }
            }
            if let w = waiting[c.name], st.state.running == nil {
                // It should run but does not (image pull, back-off, config error): the last exit moves
                // to lastState and the state says why it waits.
                if let t = st.state.terminated { st.lastState = CoreV1.ContainerState(terminated: t) }
                st.state = CoreV1.ContainerState(
                    waiting: CoreV1.ContainerStateWaiting(reason: w.reason, message: w.message))
                st.ready = false
            }
            return st
        }
    }

    static func containerID(_ id: String) -> String { "containerd://" + id }

    /// A runtime time in whole seconds, as the API keeps it (upstream's `normalizeStatus` does the
    /// same): with the nanoseconds kept, the status never equals the one read back and every sync
    /// would write it again.
    static func time(_ nanos: Int64) -> Time? {
        nanos <= 0 ? nil : Time(seconds: nanos / 1_000_000_000)
    }

    static func terminated(_ c: RuntimeContainer) -> CoreV1.ContainerStateTerminated {
        CoreV1.ContainerStateTerminated(
            exitCode: c.exitCode, reason: c.reason.isEmpty ? (c.exitCode == 0 ? "Completed" : "Error") : c.reason,
            message: c.message, startedAt: time(c.startedAt), finishedAt: time(c.finishedAt),
            containerID: containerID(c.id))
    }

    /// Upstream's `getPhase`: Pending while initialization or a container waits, Running while one
    /// runs, and once all have stopped Succeeded/Failed as the exits and the restart policy say.
    public static func phase(
        _ spec: CoreV1.PodSpec, _ initStatuses: [CoreV1.ContainerStatus], _ statuses: [CoreV1.ContainerStatus],
        podIsTerminal: Bool = false
    ) -> String {
        var pendingInit = 0
        var pendingSidecars = 0
        var failedInit = 0
        for c in spec.initContainers {
            let st = initStatuses.first { $0.name == c.name }
            if c.isRestartableInit {
                if st?.state.running == nil || st?.started != true { pendingSidecars += 1 }
                continue
            }
            guard let st else {
                pendingInit += 1
                continue
            }
            if st.state.running != nil {
                pendingInit += 1
            } else if let t = st.state.terminated {
                if t.exitCode != 0 { failedInit += 1 }
            } else if st.state.waiting != nil {
                if let t = st.lastState.terminated {
                    if t.exitCode != 0 { failedInit += 1 }
                } else {
                    pendingInit += 1
                }
            } else {
                pendingInit += 1
            }
        }
        var unknown = 0
        var running = 0
        var waiting = 0
        var stopped = 0
        var succeeded = 0
        for c in spec.containers {
            guard let st = statuses.first(where: { $0.name == c.name }) else {
                unknown += 1
                continue
            }
            if st.state.running != nil {
                running += 1
            } else if let t = st.state.terminated {
                stopped += 1
                if t.exitCode == 0 { succeeded += 1 }
            } else if st.state.waiting != nil {
                if st.lastState.terminated != nil { stopped += 1 } else { waiting += 1 }
            } else {
                unknown += 1
            }
        }
        if failedInit > 0 && spec.restartPolicy == "Never" { return "Failed" }
        if pendingInit > 0 || (pendingSidecars > 0 && running + stopped == 0) { return "Pending" }
        if waiting > 0 { return "Pending" }
        if running > 0 && unknown == 0 { return "Running" }
        if running == 0 && stopped > 0 && unknown == 0 {
            if podIsTerminal { return stopped == succeeded ? "Succeeded" : "Failed" }
            if spec.restartPolicy == "Always" || spec.restartPolicy.isEmpty { return "Running" }
            if stopped == succeeded { return "Succeeded" }
            if spec.restartPolicy == "Never" { return "Failed" }
            return "Running"
        }
        return "Pending"
    }

    /// Go's `%s` of a string slice: `[a b]`.
    static func list(_ names: [String]) -> String { "[" + names.joined(separator: " ") + "]" }

    static func initialized(_ spec: CoreV1.PodSpec, _ all: [CoreV1.ContainerStatus], phase: String)
        -> CoreV1.PodCondition
    {
        var incomplete: [String] = []
        for c in spec.initContainers {
            guard let st = all.first(where: { $0.name == c.name }) else {
                incomplete.append(c.name)
                continue
            }
            if c.isRestartableInit {
                if st.started != true { incomplete.append(c.name) }
            } else if st.state.terminated?.exitCode != 0 || st.state.terminated == nil {
                // Initialization is over once an app container ran, even if the runtime forgot an
                // init container since.
                if !appContainersStarted(spec, all) { incomplete.append(c.name) }
            }
        }
        if phase == "Succeeded" && incomplete.isEmpty {
            return CoreV1.PodCondition(type: "Initialized", status: "True", reason: "PodCompleted")
        }
        if !incomplete.isEmpty {
            return CoreV1.PodCondition(
                type: "Initialized", status: "False", reason: "ContainersNotInitialized",
                message: "containers with incomplete status: \(list(incomplete))")
        }
        return CoreV1.PodCondition(type: "Initialized", status: "True")
    }

    static func appContainersStarted(_ spec: CoreV1.PodSpec, _ all: [CoreV1.ContainerStatus]) -> Bool {
        spec.containers.contains { c in
            guard let st = all.first(where: { $0.name == c.name }) else { return false }
            return st.state.running != nil || st.state.terminated != nil || st.lastState.terminated != nil
        }
    }

    static func containersReady(_ spec: CoreV1.PodSpec, _ all: [CoreV1.ContainerStatus], phase: String)
        -> CoreV1.PodCondition
    {
        var unknown: [String] = []
        var unready: [String] = []
        let sidecars = spec.initContainers.filter(\.isRestartableInit)
        for c in sidecars + spec.containers {
            guard let st = all.first(where: { $0.name == c.name }) else {
                unknown.append(c.name)
                continue
            }
            if !st.ready { unready.append(c.name) }
        }
        if phase == "Succeeded" && unknown.isEmpty {
            return CoreV1.PodCondition(type: "ContainersReady", status: "False", reason: "PodCompleted")
        }
        var parts: [String] = []
        if !unknown.isEmpty { parts.append("containers with unknown status: \(list(unknown))") }
        if !unready.isEmpty { parts.append("containers with unready status: \(list(unready))") }
        if !parts.isEmpty {
            return CoreV1.PodCondition(
                type: "ContainersReady", status: "False", reason: "ContainersNotReady",
                message: parts.joined(separator: ", "))
        }
        return CoreV1.PodCondition(type: "ContainersReady", status: "True")
    }

    /// Ready is ContainersReady and every readiness gate's condition True.
    static func ready(_ pod: CoreV1.Pod, containersReady: CoreV1.PodCondition, others: [CoreV1.PodCondition])
        -> CoreV1.PodCondition
    {
        if containersReady.status != "True" {
            var c = containersReady
            c.type = "Ready"
            return c
        }
        var messages: [String] = []
        for g in pod.spec.readinessGates {
            guard let c = others.first(where: { $0.type == g.conditionType }) else {
                messages.append("corresponding condition of pod readiness gate \"\(g.conditionType)\" does not exist.")
                continue
            }
            if c.status != "True" {
                messages.append(
                    "the status of pod readiness gate \"\(g.conditionType)\" is not \"True\", but \(c.status)")
            }
        }
        if !messages.isEmpty {
            return CoreV1.PodCondition(
                type: "Ready", status: "False", reason: "ReadinessGatesNotReady",
                message: messages.joined(separator: ", "))
        }
        return CoreV1.PodCondition(type: "Ready", status: "True")
    }
}
