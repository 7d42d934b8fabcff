import APICore
import APIMachinery
import ControllerRuntime
import Foundation

/// The probe workers' shell: starting and stopping them with the pods' container instances, running
/// each one's `ProbeWorkerState` against the clock, and publishing results into `State.probes` (a
/// change requeues the pod).
extension Kubelet {
    /// Brings one pod's probe workers in line with its runtime state; after a sync (`afterSync`) also
    /// wakes the readiness workers of containers not ready yet, as upstream does on each status update.
    func updateProbeWorkers(_ pod: CoreV1.Pod, _ rt: RuntimePod?, afterSync: Bool) {
        let wanted = ProbeManager.wanted(pod, rt)
        let stopped = probeManager.reconcile(podUID: pod.metadata.uid, wanted: Set(wanted.keys)) { key in
            startProbeWorker(key, pod: pod, container: wanted[key]!)
        }
        dropProbeWorkers(stopped)
        guard afterSync else { return }
        let readiness = state.withLock { $0.probes.readiness }
        for (k, w) in probeManager.workers(of: pod.metadata.uid)
        where k.kind == .readiness && readiness[k.containerID] != .success {
            w.wakeup.fire()
        }
    }

    /// Stops the workers of pods the kubelet no longer has, and reconciles the others (each relist).
    func updateProbeWorkers(runtime pods: [String: RuntimePod], known: [String: CoreV1.Pod]) {
        dropProbeWorkers(probeManager.remove(podsNotIn: Set(known.keys)))
        for (uid, pod) in known { updateProbeWorkers(pod, pods[uid], afterSync: false) }
    }

    func dropProbeWorkers(_ stopped: [ProbeManager.Key: ProbeManager.Worker]) {
        guard !stopped.isEmpty else { return }
        for w in stopped.values { w.task.cancel() }
        state.withLock { s in
            for k in stopped.keys {
                switch k.kind {
                case .liveness: s.probes.liveness[k.containerID] = nil
                case .readiness: s.probes.readiness[k.containerID] = nil
                case .startup: s.probes.startup[k.containerID] = nil
                }
            }
        }
    }

    func startProbeWorker(_ key: ProbeManager.Key, pod: CoreV1.Pod, container: CoreV1.Container)
        -> ProbeManager.Worker
    {
        let wakeup = Wakeup()
        let podKey = ObjectKey(pod.metadata)
        let task = Task {
            await self.runProbeWorker(key, podKey: podKey, container: container, wakeup: wakeup)
        }
        return ProbeManager.Worker(task: task, wakeup: wakeup)
    }

    /// One worker's loop: step the state machine at each tick or wake-up, probe when it says so.
    func runProbeWorker(_ key: ProbeManager.Key, podKey: ObjectKey, container: CoreV1.Container, wakeup: Wakeup) async {
        guard let probe = key.kind.probe(of: container) else { return }
        var machine = ProbeWorkerState(kind: key.kind, timing: ProbeTiming(probe), start: .now)
        publishProbe(key, machine.result, podKey)
        let prober = Prober(runtime: runtime)
        while !Task.isCancelled {
            let (target, pod, podIP) = probeTarget(key, podKey: podKey, container: container)
            let step = machine.step(target, now: .now)
            if let r = step.publish { publishProbe(key, r, podKey) }
            if step.action == .stop { return }
            if step.action == .probe, let pod {
                let verdict = await runProbe(
                    probe, kind: key.kind, prober: prober, pod: pod, container: container,
                    containerID: key.containerID, podIP: podIP, timeout: machine.timing.timeout)
                if Task.isCancelled { return }
                if let verdict, let r = machine.record(verdict) { publishProbe(key, r, podKey) }
            }
            await wakeup.wait(for: ContinuousClock.now.duration(to: step.nextRun))
        }
    }

    /// What the worker's container instance and pod look like now.
    func probeTarget(_ key: ProbeManager.Key, podKey: ObjectKey, container: CoreV1.Container)
        -> (ProbeTarget, CoreV1.Pod?, String)
    {
        guard let pod = kubeletPod(podKey), pod.metadata.uid == key.podUID else {
            return (ProbeTarget(container: .gone, podDone: true), nil, "")
        }
        let (rt, startup) = state.withLock { ($0.snapshot[key.podUID], $0.probes.startup[key.containerID]) }
        let state: ProbeTarget.Container
        if let c = rt?.containers.first(where: { $0.id == key.containerID }) {
            switch c.state {
            case .running:
                let ranFor = wallClock().timeIntervalSince1970 - Double(c.startedAt) / 1e9
                state = .running(for: .milliseconds(Int64(max(0, ranFor) * 1000)))
            case .created: state = .waiting
            case .exited, .unknown: state = .gone
            }
        } else {
            // Not in the last relist yet (just started): wait for it.
            state = .waiting
        }
        let podIP =
            pod.spec.hostNetwork
            ? (options.hostIPs.first ?? pod.status.podIP)
            : (rt?.sandboxes.first(where: { !$0.ips.isEmpty })?.ips.first ?? pod.status.podIP)
        let target = ProbeTarget(
            container: state, started: container.startupProbe == nil || startup == .success,
            deleting: pod.metadata.deletionTimestamp != nil,
            podDone: pod.status.phase == "Succeeded" || pod.status.phase == "Failed")
        return (target, pod, podIP)
    }

    /// Runs a probe (retrying one that could not run, as upstream does up to three times) and records
    /// upstream's events; returns the verdict to count, nil when the probe errored.
    func runProbe(
        _ probe: CoreV1.Probe, kind: ProbeKind, prober: Prober, pod: CoreV1.Pod, container: CoreV1.Container,
        containerID: String, podIP: String, timeout: Swift.Duration
    ) async -> ProbeResult? {
        // Nothing listens on a hollow pod's IP: its network probes pass as a healthy pod's would.
        if options.hollow && probe.handler.exec == nil { return .success }
        var lastError: (any Error)?
        for _ in 0..<3 {
            do {
                let outcome = try await prober.run(
                    probe.handler, container: container, containerID: containerID, podIP: podIP, timeout: timeout)
                switch outcome.result {
                case .success:
                    return .success
                case .warning:
                    containerEvent(
                        pod, container, type: "Warning", reason: "ProbeWarning",
                        note: "\(kind.rawValue) probe warning: \(outcome.output)")
                    return .success
                case .failure:
                    containerEvent(
                        pod, container, type: "Warning", reason: "Unhealthy",
                        note: "\(kind.rawValue) probe failed: \(outcome.output)")
                    return .failure
                }
            } catch {
                lastError = error
                if Task.isCancelled { return nil }
            }
        }
        if let lastError {
            containerEvent(
                pod, container, type: "Warning", reason: "Unhealthy",
                note: "\(kind.rawValue) probe errored and resulted in unknown state: \(Self.describe(lastError))")
        }
        return nil
    }

    /// Writes a worker's result; a change requeues the pod for a sync.
    func publishProbe(_ key: ProbeManager.Key, _ r: ProbeResult, _ podKey: ObjectKey) {
        let changed = state.withLock { s -> Bool in
            let old: ProbeResult?
            switch key.kind {
            case .liveness:
                old = s.probes.liveness.updateValue(r, forKey: key.containerID)
            case .readiness:
                old = s.probes.readiness.updateValue(r, forKey: key.containerID)
            case .startup:
                old = s.probes.startup.updateValue(r, forKey: key.containerID)
            }
            return old != r
        }
        if changed { queue.add(podKey) }
    }

    /// An event about one container of the pod (upstream's `spec.containers{name}` field path).
    func containerEvent(_ pod: CoreV1.Pod, _ c: CoreV1.Container, type: String, reason: String, note: String) {
        var ref = EventRecorder.reference(pod)
        let isInit = pod.spec.initContainers.contains { $0.name == c.name }
        ref.fieldPath = (isInit ? "spec.initContainers{" : "spec.containers{") + c.name + "}"
        events.record(ref, type: type, reason: reason, action: "", note: note)
    }
}
