import APICore
import APIMachinery
import CRI
import Foundation

/// Lifecycle hooks (upstream's `HandlerRunner`): exec in the container, HTTP GET, or sleep. A failure
/// is described as upstream describes it; the events carry no detail (a hook's output may hold secrets).
enum LifecycleHook {
    /// Upstream's `format.Pod`: `name_namespace(uid)`.
    static func podDescription(_ pod: CoreV1.Pod) -> String {
        "\(pod.metadata.name)_\(pod.metadata.namespace)(\(pod.metadata.uid))"
    }

    /// Runs `h` for one container instance; nil when it succeeded, else the failure message.
    static func run(
        _ h: CoreV1.LifecycleHandler, pod: CoreV1.Pod, container c: CoreV1.Container, containerID: String,
        podIP: String, exec: Prober.Exec, httpTimeout: Swift.Duration
    ) async -> String? {
        let who = "for Container \(goQuote(c.name)) in Pod \(goQuote(podDescription(pod)))"
        if let e = h.exec {
            let cmd = "[" + e.command.joined(separator: " ") + "]"
            let r: Runtime_V1_ExecSyncResponse
            do {
                r = try await exec(containerID, e.command, 0)
            } catch {
                return "Exec lifecycle hook (\(cmd)) \(who) failed - error: \(Kubelet.describe(error)), message: \"\""
            }
            if r.exitCode == 0 { return nil }
            let output = String(decoding: r.stdout + r.stderr, as: UTF8.self)
            let err =
                "command '\(e.command.joined(separator: " "))' exited with \(r.exitCode): "
                + String(decoding: r.stderr, as: UTF8.self)
            return "Exec lifecycle hook (\(cmd)) \(who) failed - error: \(err), message: \(goQuote(output))"
        }
        if let g = h.httpGet {
            let failure: String
            do {
                let target = try HTTPProber.Target(g, container: c, podIP: podIP, agent: Prober.agent("lifecycle"))
                // Any answer will do: a hook fails only when no request could be made.
                switch await HTTPProber.fetch(target, timeout: httpTimeout) {
                case .success: return nil
                case .failure(let e): failure = e.description
                }
            } catch {
                failure = "\(error)"
            }
            return "HTTP lifecycle hook (\(g.path)) \(who) failed - error: \(failure)"
        }
        if let s = h.sleep {
            try? await Task.sleep(for: .seconds(s.seconds))
            return nil
        }
        return "Cannot run handler: invalid handler"
    }
}

extension Kubelet {
    /// The spec of a pod's container by name (app, init or sidecar).
    static func containerSpec(_ pod: CoreV1.Pod, _ name: String) -> CoreV1.Container? {
        pod.spec.containers.first { $0.name == name } ?? pod.spec.initContainers.first { $0.name == name }
    }

    /// The grace period of a kill (upstream's `killContainer`): the deletion's, else the pod's, else
    /// for a probe failure the probe's own `terminationGracePeriodSeconds` when set.
    static func killGracePeriod(_ pod: CoreV1.Pod, _ c: CoreV1.Container?, reason: ContainerKill.Reason) -> Int64 {
        if let d = pod.metadata.deletionGracePeriodSeconds { return d }
        let grace = pod.spec.terminationGracePeriodSeconds ?? 30
        switch reason {
        case .livenessProbe: return c?.livenessProbe?.terminationGracePeriodSeconds ?? grace
        case .startupProbe: return c?.startupProbe?.terminationGracePeriodSeconds ?? grace
        default: return grace
        }
    }

    /// The pod's IP as the hooks and probes address it.
    func podIP(_ pod: CoreV1.Pod, _ rt: RuntimePod?) -> String {
        if pod.spec.hostNetwork { return options.hostIPs.first ?? pod.status.podIP }
        return rt?.sandboxes.first(where: { !$0.ips.isEmpty })?.ips.first ?? pod.status.podIP
    }

    /// Whether a hook is taken as succeeded without running: an HTTP hook of a hollow node (no pod
    /// answers on its IP).
    func simulatesHook(_ h: CoreV1.LifecycleHandler) -> Bool { options.hollow && h.httpGet != nil }

    /// Stops a container as upstream's `killContainer` does: the Killing event, the preStop hook of a
    /// running container within the grace period (`FailedPreStopHook` when it fails), then StopContainer
    /// with what is left of the grace period (at least 2 s). `gracePeriodOverride` (the node ending the
    /// pod: shutdown, eviction), else the one recorded for the pod by `endPod`, replaces the pod's own
    /// grace for the whole kill, hook included. A kill of a container already being killed runs no
    /// second hook: it waits for the first, bringing its deadline forward when it has less grace.
    func killContainer(
        _ pod: CoreV1.Pod, id: String, name: String, running: Bool, note: String,
        reason: ContainerKill.Reason = .none, podIP: String, gracePeriodOverride: Int64? = nil
    ) async throws {
        let spec = Self.containerSpec(pod, name)
        let override = gracePeriodOverride ?? state.withLock { $0.graceOverrides[pod.metadata.uid] }
        let grace = max(0, override ?? Self.killGracePeriod(pod, spec, reason: reason))
        let now = ContinuousClock.now
        let deadline = now + .seconds(grace)
        let (kill, first) = state.withLock { s -> (ContainerTermination, Bool) in
            if let k = s.kills[id] { return (k, false) }
            let k = ContainerTermination(deadline: deadline)
            s.kills[id] = k
            return (k, true)
        }
        if first {
            events.normal(pod, reason: "Killing", note: note)
            if let override {
                log(
                    "killing \(pod.metadata.namespace)/\(pod.metadata.name)/\(name) with a grace period override of \(override)s"
                )
            }
            // The kill runs on its own: a caller that stops waiting (a shutdown group's period is over)
            // does not cut a hook or a stop short.
            Task { await self.runKill(kill, pod, spec, id: id, name: name, running: running, podIP: podIP) }
        } else if let timeout = kill.shorten(to: deadline, now: now) {
            try await runtime.stopContainer(id, timeout: timeout)
        }
        try await kill.result().get()
    }

    /// The body of one container's kill: the hook until the (possibly shortened) deadline, then
    /// StopContainer. A failed kill is forgotten, so the next one tries again.
    func runKill(
        _ kill: ContainerTermination, _ pod: CoreV1.Pod, _ spec: CoreV1.Container?, id: String, name: String,
        running: Bool, podIP: String
    ) async {
        if running, let spec, let hook = spec.lifecycle?.preStop, !simulatesHook(hook), kill.remainingSeconds() > 0 {
            let exec: Prober.Exec = { [runtime] id, cmd, timeout in
                try await runtime.execSync(id, command: cmd, timeout: timeout)
            }
            let budget = Swift.Duration.seconds(kill.remainingSeconds())
            let failed = await kill.untilDeadline {
                await LifecycleHook.run(
                    hook, pod: pod, container: spec, containerID: id, podIP: podIP, exec: exec, httpTimeout: budget)
            }
            if case .some(.some(let message)) = failed {
                log("preStop hook of \(pod.metadata.namespace)/\(pod.metadata.name)/\(name): \(message)")
                containerEvent(pod, spec, type: "Warning", reason: "FailedPreStopHook", note: "PreStopHook failed")
            }
        }
        let result: Result<Void, any Error>
        do {
            try await runtime.stopContainer(id, timeout: kill.beginStop())
            result = .success(())
        } catch {
            result = .failure(error)
            state.withLock { s in
                if s.kills[id] === kill { s.kills[id] = nil }
            }
        }
        kill.finish(result)
    }

    /// Runs a started container's postStart hook; on failure records upstream's event and waiting
    /// reason and kills the container. Returns whether the hook succeeded.
    func runPostStart(_ c: CoreV1.Container, _ pod: CoreV1.Pod, id: String, podIP: String) async -> Bool {
        guard let hook = c.lifecycle?.postStart, !simulatesHook(hook) else { return true }
        let exec: Prober.Exec = { [runtime] id, cmd, timeout in
            try await runtime.execSync(id, command: cmd, timeout: timeout)
        }
        guard
            let message = await LifecycleHook.run(
                hook, pod: pod, container: c, containerID: id, podIP: podIP, exec: exec, httpTimeout: .seconds(300))
        else { return true }
        log("postStart hook of \(pod.metadata.namespace)/\(pod.metadata.name)/\(c.name): \(message)")
        containerEvent(pod, c, type: "Warning", reason: "FailedPostStartHook", note: "PostStartHook failed")
        try? await killContainer(pod, id: id, name: c.name, running: true, note: "FailedPostStartHook", podIP: podIP)
        setWaiting(pod, c.name, WaitingReason("PostStartHookError", message))
        return false
    }
}
