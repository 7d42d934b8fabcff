import APICore
import APIMachinery

/// A running container the sync step wants stopped, and why (upstream's `containerToKillInfo`).
public struct ContainerKill: Equatable, Sendable {
    public enum Reason: Equatable, Sendable { case none, livenessProbe, startupProbe, unknownState, podTerminating }

    public var id: String
    public var name: String
    public var message: String
    public var reason: Reason

    public init(id: String, name: String, message: String, reason: Reason = .none) {
        self.id = id
        self.name = name
        self.message = message
        self.reason = reason
    }
}

/// What one sync of a pod does to the runtime (upstream's `podActions`), decided from the pod, what
/// the runtime holds and the probes' results alone. Indices name containers of `spec.initContainers`
/// and `spec.containers`.
public struct PodActions: Equatable, Sendable {
    /// Stop every container and the sandbox (before making a new sandbox, or because the pod is done).
    public var killPod = false
    public var createSandbox = false
    /// The current sandbox (to stop when `killPod`, to start containers in otherwise).
    public var sandboxID = ""
    /// The attempt number a new sandbox gets.
    public var attempt: UInt32 = 0
    public var initContainersToStart: [Int] = []
    public var containersToStart: [Int] = []
    /// Ephemeral containers never started yet (they are never restarted).
    public var ephemeralContainersToStart: [Int] = []
    /// Ordered by container name for a deterministic plan.
    public var containersToKill: [ContainerKill] = []

    public init(
        killPod: Bool = false, createSandbox: Bool = false, sandboxID: String = "", attempt: UInt32 = 0,
        initContainersToStart: [Int] = [], containersToStart: [Int] = [], containersToKill: [ContainerKill] = []
    ) {
        self.killPod = killPod
        self.createSandbox = createSandbox
        self.sandboxID = sandboxID
        self.attempt = attempt
        self.initContainersToStart = initContainersToStart
        self.containersToStart = containersToStart
        self.containersToKill = containersToKill
    }
}

extension CoreV1.Container {
    /// An init container with `restartPolicy: Always` is a sidecar: it is started in order like the
    /// others but keeps running beside the app containers.
    public var isRestartableInit: Bool { restartPolicy == "Always" }
}

/// The kubelet's pure sync decision (upstream's `computePodActions` and the helpers it calls).
public enum PodSync {
    /// Whether the pod needs a new sandbox: none yet, several ready, the newest not ready, its network
    /// mode no longer the pod's, or no IP on a pod network. Returns the attempt a new one gets and the
    /// current sandbox.
    static func sandboxChanged(_ pod: CoreV1.Pod, _ rt: RuntimePod) -> (changed: Bool, attempt: UInt32, id: String) {
        guard let newest = rt.sandboxes.first else { return (true, 0, "") }
        let hostNetwork = pod.spec.hostNetwork
        if rt.sandboxes.count(where: { $0.state == .ready }) > 1 { return (true, newest.attempt + 1, newest.id) }
        if newest.state != .ready { return (true, newest.attempt + 1, newest.id) }
        if newest.hostNetwork != hostNetwork { return (true, newest.attempt + 1, "") }
        if !hostNetwork && newest.ips.isEmpty { return (true, newest.attempt + 1, newest.id) }
        return (false, newest.attempt, newest.id)
    }

    /// The restart policy lets failed containers run again (everything but `Never`).
    static func restartsOnFailure(_ pod: CoreV1.Pod) -> Bool { pod.spec.restartPolicy != "Never" }

    /// Whether a container that is not running should be started (upstream's
    /// `ShouldContainerBeRestarted`): never while the pod is being deleted; always when it never ran
    /// or its state is unknown; after an exit as the restart policy says.
    public static func shouldStart(_ c: CoreV1.Container, _ pod: CoreV1.Pod, _ rt: RuntimePod) -> Bool {
        if pod.metadata.deletionTimestamp != nil { return false }
        guard let s = rt.container(named: c.name) else { return true }
        switch s.state {
        case .running: return false
        case .created, .unknown: return true
        case .exited:
            switch pod.spec.restartPolicy {
            case "Never": return false
            case "OnFailure": return s.exitCode != 0
            default: return true
            }
        }
    }

    public static func compute(
        pod: CoreV1.Pod, runtime rt: RuntimePod, probes: ProbeResults = ProbeResults(),
        hash: (CoreV1.Container) -> UInt64 = ContainerHash.of
    ) -> PodActions {
        let (changed, attempt, sandboxID) = sandboxChanged(pod, rt)
        var a = PodActions(killPod: changed, createSandbox: changed, sandboxID: sandboxID, attempt: attempt)
        if changed {
            // A pod that must not restart keeps its dead sandbox once anything ran in it.
            if !restartsOnFailure(pod) && attempt != 0 && !rt.containers.isEmpty {
                a.createSandbox = false
                return a
            }
            var toStart: [Int] = []
            for (i, c) in pod.spec.containers.enumerated() {
                if pod.spec.restartPolicy == "OnFailure", let s = rt.container(named: c.name), s.state == .exited,
                    s.exitCode == 0
                {
                    continue
                }
                toStart.append(i)
            }
            if toStart.isEmpty && initializationDone(pod, rt) {
                // Nothing left to run: no new sandbox for a pod that is finished.
                a.createSandbox = false
                return a
            }
            if !pod.spec.initContainers.isEmpty {
                a.initContainersToStart = [0]
                return a
            }
            a.containersToStart = toStart
            return a
        }

        // Ephemeral containers may start before initialization is done, and only once each.
        for (i, e) in pod.spec.ephemeralContainers.enumerated()
        where rt.container(named: e.ephemeralContainerCommon.name) == nil {
            a.ephemeralContainersToStart.append(i)
        }
        let initialized = initActions(pod, rt, probes, &a)
        if a.killPod || !initialized { return a }

        var keep = 0
        var kills: [ContainerKill] = []
        for (i, c) in pod.spec.containers.enumerated() {
            guard let s = rt.container(named: c.name), s.state == .running else {
                if shouldStart(c, pod, rt) {
                    a.containersToStart.append(i)
                    if let s = rt.container(named: c.name), s.state == .unknown {
                        kills.append(
                            ContainerKill(
                                id: s.id, name: c.name,
                                message: "Container is in unknown state, try killing it before restart",
                                reason: .unknownState))
                    }
                }
                continue
            }
            var restart = restartsOnFailure(pod)
            let message: String
            var reason = ContainerKill.Reason.none
            if s.specHash != 0 && s.specHash != hash(c) {
                message = "Container \(c.name) definition changed"
                restart = true
            } else if probes.liveness[s.id] == .failure {
                message = "Container \(c.name) failed liveness probe"
                reason = .livenessProbe
            } else if probes.startup[s.id] == .failure {
                message = "Container \(c.name) failed startup probe"
                reason = .startupProbe
            } else {
                keep += 1
                continue
            }
            if restart { a.containersToStart.append(i) }
            kills.append(
                ContainerKill(
                    id: s.id, name: c.name, message: restart ? message + ", will be restarted" : message, reason: reason
                ))
        }
        if keep == 0 && a.containersToStart.isEmpty {
            // Every app container is done for good: the sidecars stop with the pod.
            a.killPod = true
            a.initContainersToStart = []
        }
        a.containersToKill = kills.sorted { $0.name < $1.name }
        return a
    }

    /// Whether a regular (non-init) container was ever created in the pod: after that its init
    /// containers count as done even if the runtime forgot them.
    static func anyAppContainerCreated(_ pod: CoreV1.Pod, _ rt: RuntimePod) -> Bool {
        pod.spec.containers.contains { c in rt.container(named: c.name) != nil }
    }

    /// Every regular init container exited 0 and every sidecar runs (started, as far as its startup
    /// probe says), or the app containers were created already.
    static func initializationDone(_ pod: CoreV1.Pod, _ rt: RuntimePod) -> Bool {
        if anyAppContainerCreated(pod, rt) { return true }
        for c in pod.spec.initContainers {
            guard let s = rt.container(named: c.name) else { return false }
            if c.isRestartableInit {
                if s.state != .running { return false }
            } else if s.state != .exited || s.exitCode != 0 {
                return false
            }
        }
        return true
    }

    static func unknownInit(_ s: RuntimeContainer) -> ContainerKill {
        ContainerKill(
            id: s.id, name: s.name, message: "Init container is in unknown state, try killing it before restart",
            reason: .unknownState)
    }

    /// The init-container part of a sync (upstream's `computeInitContainerActions`, sidecar-aware):
    /// starts init containers one at a time in order, waits for a running regular one to exit and for
    /// a sidecar to be started, restarts failed ones as the restart policy says, and keeps sidecars
    /// alive once the pod runs. Returns whether initialization is done.
    static func initActions(_ pod: CoreV1.Pod, _ rt: RuntimePod, _ probes: ProbeResults, _ a: inout PodActions)
        -> Bool
    {
        let inits = pod.spec.initContainers
        if inits.isEmpty { return true }
        let appStarted = anyAppContainerCreated(pod, rt)
        var kills: [ContainerKill] = []
        defer { a.containersToKill.append(contentsOf: kills) }
        for (i, c) in inits.enumerated() {
            let s = rt.container(named: c.name)
            if c.isRestartableInit {
                guard let s else {
                    a.initContainersToStart.append(i)
                    if !appStarted { return false }
                    continue
                }
                switch s.state {
                case .running:
                    if probes.startup[s.id] == .failure {
                        kills.append(
                            ContainerKill(
                                id: s.id, name: c.name, message: "Init container \(c.name) failed startup probe",
                                reason: .startupProbe))
                        a.initContainersToStart.append(i)
                        if !appStarted { return false }
                        continue
                    }
                    if c.startupProbe != nil && probes.startup[s.id] != .success && !appStarted { return false }
                    if probes.liveness[s.id] == .failure {
                        kills.append(
                            ContainerKill(
                                id: s.id, name: c.name, message: "Init container \(c.name) failed liveness probe",
                                reason: .livenessProbe))
                        a.initContainersToStart.append(i)
                    }
                case .exited, .created, .unknown:
                    if pod.metadata.deletionTimestamp != nil { continue }
                    if s.state == .unknown { kills.append(unknownInit(s)) }
                    a.initContainersToStart.append(i)
                    if !appStarted { return false }
                }
                continue
            }
            // A regular init container.
            if appStarted { continue }
            guard let s else {
                a.initContainersToStart.append(i)
                return false
            }
            switch s.state {
            case .running, .created:
                return false
            case .exited where s.exitCode == 0:
                continue
            case .exited, .unknown:
                if s.state == .unknown { kills.append(unknownInit(s)) }
                if !restartsOnFailure(pod) {
                    // A failed init container with restartPolicy Never fails the pod.
                    a.killPod = true
                    a.initContainersToStart = []
                    return false
                }
                a.initContainersToStart.append(i)
                return false
            }
        }
        return true
    }
}

/// The hash a container's spec is created with (kept in the container's labels), so a sync can tell
/// that the spec changed: FNV-1a over its JSON, with `resources` left out since they change in place.
public enum ContainerHash {
    public static func of(_ c: CoreV1.Container) -> UInt64 {
        var copy = c
        copy.resources = CoreV1.ResourceRequirements()
        var w = JSONWriter()
        copy.encodeJSON(&w)
        return fnv1a(w.bytes)
    }

    /// 64-bit FNV-1a (from the standard offset basis unless another is given).
    public static func fnv1a(_ bytes: some Sequence<UInt8>, basis: UInt64 = 0xcbf2_9ce4_8422_2325) -> UInt64 {
        var h = basis
        for b in bytes {
            h ^= UInt64(b)
            h &*= 0x0000_0100_0000_01b3
        }
        return h
    }
}

extension CoreV1.EphemeralContainer {
    /// The ephemeral container as a container spec (the same fields; upstream's conversion).
    public var asContainer: CoreV1.Container {
        var w = JSONWriter()
        ephemeralContainerCommon.encodeJSON(&w)
        let bytes = w.bytes
        return bytes.withUnsafeBufferPointer { buf in
            var r = JSONReader(buf)
            return (try? CoreV1.Container(json: &r)) ?? CoreV1.Container(name: ephemeralContainerCommon.name)
        }
    }
}
