import APICore
import APIMachinery
import CRI
import ControllerRuntime
import Foundation
import GRPCCore
import KubeClient
import Synchronization

/// The kubelet's pod side: watches the pods bound to its node, and for each runs the pure sync step
/// (`PodSync`) against the container runtime, then reports the status `PodStatusBuilder` computes.
/// One sync per pod at a time (a work queue keyed by pod); a relist of the runtime every second
/// requeues pods whose containers changed (upstream's PLEG), and cleans up what no pod owns.
public final class Kubelet: Sendable {
    public struct Options: Sendable {
        public var nodeName: String
        public var nodeHostname: String
        public var podLogsDir: String
        public var clusterDNS: [String] = []
        public var clusterDomain = "cluster.local"
        public var cgroupRoot = "/kubepods"
        /// The node's pod cgroups (made with their limits before each sandbox, changed by resizes);
        /// nil leaves pod cgroups to the runtime (hollow nodes, unit tests: nothing of the host).
        public var podCgroups: PodCgroupSettings?
        public var hostIPs: [String] = []
        public var relistPeriod: Swift.Duration = .seconds(1)
        /// Every pod is synced at least this often (upstream's `--sync-frequency`).
        public var syncFrequency: Swift.Duration = .seconds(60)
        /// Pods synced at once. Upstream gives every pod a goroutine of its own; a sync mostly waits on
        /// the runtime (pulls, sandbox and network set-up, about a second each under load), so a
        /// burst of new pods needs as many workers as the node takes pods (110 by default): with 16,
        /// thirty pods created together waited for free workers in rounds of two seconds.
        public var workers = 110
        /// The kubelet's own directory (`--root-dir`): pod volumes, /etc/hosts files and
        /// termination-message files go under `<rootDirectory>/pods/<uid>`.
        public var rootDirectory = "/var/lib/kubelet"
        /// Pods with ConfigMap, Secret, downward API or projected volumes are synced at least this
        /// often, so their files follow the objects.
        public var volumeResyncPeriod: Swift.Duration = .seconds(30)
        /// The static pods' manifest directory (`--pod-manifest-path`); nil reads none.
        public var podManifestPath: String?
        /// How often the manifest directory is read again besides on changes (`fileCheckFrequency`).
        public var fileCheckFrequency: Swift.Duration = .seconds(20)
        /// Judges a pod that has not started here yet (eviction's and shutdown's admission); nil admits all.
        public var admit: (@Sendable (CoreV1.Pod) -> PodRejection?)?
        /// A hollow node's kubelet (`k8swift hollow-nodes`): it touches nothing of the host (no volume
        /// directories or mounts, /etc/hosts, termination-message or log directories) and its HTTP,
        /// TCP and gRPC probes and HTTP hooks succeed without a connection, as nothing listens on a
        /// hollow pod's IP; exec probes and hooks still go to the runtime.
        public var hollow = false

        public init(nodeName: String, nodeHostname: String, podLogsDir: String) {
            self.nodeName = nodeName
            self.nodeHostname = nodeHostname
            self.podLogsDir = podLogsDir
        }
    }

    struct State {
        /// Why a container waits, per pod UID and container name (upstream's reason cache).
        var waiting: [String: [String: WaitingReason]] = [:]
        var crashBackoff = CrashLoopBackoff()
        var pullBackoff = CrashLoopBackoff()
        /// The runtime as the last relist saw it, by pod UID.
        var snapshot: [String: RuntimePod] = [:]
        /// Exited containers' statuses (they no longer change) and sandboxes' IPs, by ID.
        var exitedStatus: [String: Runtime_V1_ContainerStatus] = [:]
        var sandboxIPs: [String: [String]] = [:]
        var sandboxHostNetwork: Set<String> = []
        var probes = ProbeResults()
        /// Per pod UID: what the node allocated the pod's containers and why a resize waits
        /// (`PodResize`), and the last in-place update's error.
        var resizes: [String: PodResize.Admission] = [:]
        var resizeErrors: [String: String] = [:]
        /// Container kills in progress (and done, until the container is gone), by container ID: a
        /// second kill of a container joins the first instead of running its preStop hook again.
        var kills: [String: ContainerTermination] = [:]
        /// The grace period of pods the node ends (shutdown, eviction), by pod UID: every kill of their
        /// containers uses it, the pod's own syncs included (upstream's pod worker keeps it likewise).
        var graceOverrides: [String: Int64] = [:]
    }

    public let options: Options
    let client: KubeClient
    let runtime: any ContainerRuntime
    let informer: Informer<CoreV1.Pod>
    /// Every Service, for the containers' service environment variables.
    let services: Informer<CoreV1.Service>
    let queue = WorkQueue<ObjectKey>(name: "kubelet-pods")
    let events: EventRecorder
    let state = Mutex(State())
    let log: @Sendable (String) -> Void
    let wallClock: @Sendable () -> Date
    let probeManager = ProbeManager()
    let volumes: VolumeManager
    /// The pods of `podManifestPath`, when there is one.
    let staticPods: StaticPodSource?
    /// Whether `run` runs `services` (false when the informer is shared and run by its owner).
    let ownsServices: Bool

    /// `services`: an informer of every Service shared by several kubelets of one process (hollow
    /// nodes), run by the caller; nil makes and runs the kubelet's own.
    public init(
        client: KubeClient, runtime: any ContainerRuntime, options: Options,
        services: Informer<CoreV1.Service>? = nil,
        log: @escaping @Sendable (String) -> Void = { _ in }, wallClock: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.client = client
        self.runtime = runtime
        self.options = options
        self.log = log
        self.wallClock = wallClock
        informer = Informer(
            client: client, fieldSelector: "spec.nodeName=\(options.nodeName)", transform: Informer.stripManagedFields)
        self.services = services ?? Informer(client: client, transform: Informer.stripManagedFields)
        ownsServices = services == nil
        events = EventRecorder(client: client, controller: "kubelet", instance: options.nodeName)
        staticPods = options.podManifestPath.map {
            StaticPodSource(
                directory: $0, nodeName: options.nodeName, checkFrequency: options.fileCheckFrequency, log: log,
                wallClock: wallClock)
        }
        volumes = VolumeManager(
            root: options.rootDirectory, client: client, events: events, hostIPs: options.hostIPs,
            clusterDomain: options.clusterDomain, log: log)
    }

    var context: PodConfigContext {
        let (servers, searches) = Self.hostResolver()
        return PodConfigContext(
            nodeName: options.nodeName, podLogsDir: options.podLogsDir, clusterDNS: options.clusterDNS,
            clusterDomain: options.clusterDomain, hostNameservers: servers, hostSearches: searches,
            cgroupRoot: options.cgroupRoot, hostIPs: options.hostIPs)
    }

    /// Nameservers and search domains of the host's /etc/resolv.conf.
    static func hostResolver() -> ([String], [String]) {
        guard let text = try? String(contentsOfFile: "/etc/resolv.conf", encoding: .utf8) else { return ([], []) }
        var servers: [String] = []
        var searches: [String] = []
        for line in text.split(separator: "\n") {
            let f = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard let k = f.first else { continue }
            if k == "nameserver", f.count > 1 { servers.append(String(f[1])) }
            if k == "search" { searches = f.dropFirst().map(String.init) }
        }
        return (servers, searches)
    }

    /// Runs until cancelled.
    public func run() async {
        informer.addHandler { [queue] ev in queue.add(ObjectKey(ev.object.metadata)) }
        await withTaskGroup(of: Void.self) { g in
            g.addTask { await self.informer.run() }
            if ownsServices { g.addTask { await self.services.run() } }
            g.addTask {
                await self.informer.waitForSync()
                await self.resyncVolumesLoop()
            }
            if let source = staticPods {
                g.addTask { [queue] in await source.run { keys in for k in keys { queue.add(k) } } }
            }
            g.addTask {
                await self.informer.waitForSync()
                await self.staticPods?.waitForFirstRead()
                await self.relistLoop()
            }
            g.addTask {
                await self.informer.waitForSync()
                while !Task.isCancelled {
                    try? await Task.sleep(for: self.options.syncFrequency)
                    for k in self.informer.store.keys() { self.queue.add(k) }
                }
            }
            for _ in 0..<options.workers {
                g.addTask {
                    // Containers start with their service variables: services are read first
                    // (static pods do not wait for the API; podToSync holds API pods back).
                    if self.staticPods == nil {
                        await self.informer.waitForSync()
                        await self.services.waitForSync()
                    }
                    while let key = await self.queue.get() {
                        if let pod = await self.podToSync(key) { await self.sync(pod) }
                        self.queue.done(key)
                    }
                }
            }
            await withTaskCancellationHandler {
                while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
            } onCancel: {
                self.queue.shutDown()
            }
            g.cancelAll()
        }
    }

    // MARK: Relist

    func relistLoop() async {
        while !Task.isCancelled {
            do {
                let pods = try await relist()
                let old = state.withLock { s in
                    defer { s.snapshot = pods }
                    return s.snapshot
                }
                let byUID = Dictionary(
                    kubeletPods().map { ($0.metadata.uid, $0) }, uniquingKeysWith: { a, _ in a })
                for (uid, p) in pods where old[uid] != p {
                    if let pod = byUID[uid] { queue.add(ObjectKey(pod.metadata)) }
                }
                await cleanUp(pods, known: byUID)
                updateProbeWorkers(runtime: pods, known: byUID)
            } catch {
                log("relist: \(error)")
            }
            try? await Task.sleep(for: options.relistPeriod)
        }
    }

    /// The runtime's pods now: listings plus the status of each container not known to be exited.
    func relist(podUID: String? = nil) async throws -> [String: RuntimePod] {
        let sandboxes = try await runtime.listPodSandbox(podUID: podUID)
        let containers = try await runtime.listContainers(podUID: podUID)
        var statuses: [Runtime_V1_ContainerStatus] = []
        let (cached, knownIPs) = state.withLock { ($0.exitedStatus, $0.sandboxIPs) }
        for c in containers {
            if let s = cached[c.id] {
                statuses.append(s)
                continue
            }
            // A partial view would make a sync start a container that exists: fail the relist instead
            // (its sync retries), unless the container went away meanwhile.
            let s: Runtime_V1_ContainerStatus
            do {
                s = TerminationMessage.fill(try await runtime.containerStatus(c.id))
            } catch let e as RPCError where e.code == .notFound {
                continue
            }
            statuses.append(s)
            if s.state == .containerExited { state.withLock { $0.exitedStatus[c.id] = s } }
        }
        for s in sandboxes where knownIPs[s.id] == nil && s.state == .sandboxReady {
            guard let st = try? await runtime.podSandboxStatus(s.id) else { continue }
            var ips = st.network.ip.isEmpty ? [] : [st.network.ip]
            ips += st.network.additionalIps.map(\.ip)
            let host = st.linux.namespaces.options.network == .node
            state.withLock {
                $0.sandboxIPs[s.id] = ips
                if host { $0.sandboxHostNetwork.insert(s.id) }
            }
        }
        let (ips, host) = state.withLock { ($0.sandboxIPs, $0.sandboxHostNetwork) }
        if podUID == nil {
            // Only a full listing knows which cached statuses are of containers gone.
            let live = Set(containers.map(\.id))
            let pods = Set(
                sandboxes.map(\.metadata.uid) + sandboxes.compactMap { $0.labels[RuntimeLabels.podUID] }
                    + containers.compactMap { $0.labels[RuntimeLabels.podUID] })
            state.withLock { s in
                s.exitedStatus = s.exitedStatus.filter { live.contains($0.key) }
                s.kills = s.kills.filter { live.contains($0.key) || !$0.value.isFinished }
                s.graceOverrides = s.graceOverrides.filter { pods.contains($0.key) }
            }
        }
        return RuntimePod.group(sandboxes: sandboxes, sandboxIPs: ips, hostNetwork: host, containers: statuses)
    }

    func runtimePod(_ pod: CoreV1.Pod) async throws -> RuntimePod {
        // Only this pod's sandboxes and containers (the runtime filters by the pod UID label).
        let all = try await relist(podUID: pod.metadata.uid)
        return all[pod.metadata.uid]
            ?? RuntimePod(uid: pod.metadata.uid, name: pod.metadata.name, namespace: pod.metadata.namespace)
    }

    /// Stops and removes runtime pods no API pod owns any more, and old dead instances (one dead
    /// instance per container is kept for its status, the newest sandbox for its IP).
    func cleanUp(_ pods: [String: RuntimePod], known: [String: CoreV1.Pod]) async {
        for (uid, p) in pods {
            if known[uid] == nil {
                for c in p.containers where c.state == .running {
                    try? await runtime.stopContainer(c.id, timeout: 0)
                }
                for c in p.containers { try? await runtime.removeContainer(c.id) }
                for s in p.sandboxes {
                    try? await runtime.stopPodSandbox(s.id)
                    try? await runtime.removePodSandbox(s.id)
                }
                state.withLock { $0.waiting[uid] = nil }
                continue
            }
            var seen: [String: Int] = [:]
            for c in p.containers {
                seen[c.name, default: 0] += 1
                if seen[c.name]! > 2 && c.state == .exited { try? await runtime.removeContainer(c.id) }
            }
            for s in p.sandboxes.dropFirst() where s.state == .notReady {
                try? await runtime.removePodSandbox(s.id)
            }
        }
        cleanUpVolumes(pods)
        cleanUpPodCgroups(pods, known: Set(known.keys))
    }

    // MARK: Sync

    func sync(_ pod: CoreV1.Pod) async {
        if StaticPods.isStatic(pod) && pod.metadata.deletionTimestamp == nil { await syncMirrorPod(pod) }
        do {
            var rt = try await runtimePod(pod)
            let finished = pod.status.phase == "Succeeded" || pod.status.phase == "Failed"
            if pod.metadata.deletionTimestamp != nil || finished {
                try await terminate(pod, rt)
                rt = try await runtimePod(pod)
                let stillRunning = rt.containers.contains { $0.state == .running }
                try await report(pod, rt, terminal: !stillRunning)
                updateProbeWorkers(pod, rt, afterSync: true)
                if pod.metadata.deletionTimestamp != nil && !stillRunning {
                    // Every container stopped: the kubelet ends the graceful deletion.
                    try? await client.delete(
                        CoreV1.Pod.self, pod.metadata.name, namespace: pod.metadata.namespace,
                        options: DeleteOptions(gracePeriodSeconds: 0, preconditionUID: pod.metadata.uid))
                    volumes.tearDown(pod.metadata.uid)
                    staticPodStopped(pod)
                }
                return
            }
            if let admit = options.admit, isNewPod(pod, rt), let no = admit(pod) {
                await rejectPod(pod, reason: no.reason, message: no.message)
                return
            }
            guard try await setUpVolumes(pod, rt) else { return }
            let probes = state.withLock { $0.probes }
            let actions = PodSync.compute(pod: pod, runtime: rt, probes: probes)
            // A reason recorded for a container this sync does not start again no longer holds.
            let starting = Set(
                actions.initContainersToStart.map { pod.spec.initContainers[$0].name }
                    + actions.containersToStart.map { pod.spec.containers[$0].name })
            for c in rt.containers where !starting.contains(c.name) { setWaiting(pod, c.name, nil) }
            try await execute(actions, pod, rt)
            await resize(pod, rt)
            rt = try await runtimePod(pod)
            try await report(
                pod, rt,
                terminal: PodSync.compute(pod: pod, runtime: rt, probes: probes).killPod && !actions.createSandbox
                    && rt.containers.allSatisfy { $0.state != .running })
            updateProbeWorkers(pod, rt, afterSync: true)
        } catch {
            log("sync \(pod.metadata.namespace)/\(pod.metadata.name): \(error)")
            queue.add(ObjectKey(pod.metadata), after: .seconds(1))
        }
    }

    /// Stops every container (SIGTERM, SIGKILL after the grace period) and the sandbox.
    func terminate(_ pod: CoreV1.Pod, _ rt: RuntimePod) async throws {
        let ip = podIP(pod, rt)
        await withTaskGroup(of: Void.self) { g in
            for c in rt.containers where c.state == .running || c.state == .created {
                g.addTask {
                    try? await self.killContainer(
                        pod, id: c.id, name: c.name, running: c.state == .running,
                        note: "Stopping container \(c.name)", podIP: ip)
                }
            }
        }
        for s in rt.sandboxes where s.state == .ready { try await runtime.stopPodSandbox(s.id) }
    }

    func execute(_ a: PodActions, _ pod: CoreV1.Pod, _ rt: RuntimePod) async throws {
        if a.killPod {
            try await terminate(pod, rt)
        } else {
            for k in a.containersToKill {
                let running = rt.containers.first { $0.id == k.id }?.state == .running
                try await killContainer(
                    pod, id: k.id, name: k.name, running: running, note: k.message, reason: k.reason,
                    podIP: podIP(pod, rt))
            }
        }
        var sandboxID = a.sandboxID
        let ctx = context
        var attempt = a.attempt
        if a.createSandbox {
            // The old sandbox's attempt continues; a brand-new pod starts at 0.
            if rt.sandboxes.isEmpty { attempt = 0 }
            let config = RuntimeConfigs.sandboxConfig(pod, attempt: attempt, ctx, nodeHostname: options.nodeHostname)
            if !options.hollow {
                try FileManager.default.createDirectory(atPath: config.logDirectory, withIntermediateDirectories: true)
            }
            try ensurePodCgroup(pod)
            do {
                sandboxID = try await runtime.runPodSandbox(config, runtimeHandler: pod.spec.runtimeClassName ?? "")
            } catch {
                events.warning(
                    pod, reason: "FailedCreatePodSandBox",
                    note: "Failed to create pod sandbox: \(Self.describe(error))")
                throw error
            }
        } else if a.killPod {
            return
        }
        guard !sandboxID.isEmpty else { return }
        let sandboxConfig = RuntimeConfigs.sandboxConfig(pod, attempt: attempt, ctx, nodeHostname: options.nodeHostname)
        let podIPs: [String]
        if pod.spec.hostNetwork {
            podIPs = options.hostIPs
        } else if let st = try? await runtime.podSandboxStatus(sandboxID) {
            podIPs = (st.network.ip.isEmpty ? [] : [st.network.ip]) + st.network.additionalIps.map(\.ip)
        } else {
            podIPs = []
        }
        for i in a.initContainersToStart {
            await start(pod.spec.initContainers[i], pod, rt, sandboxID, sandboxConfig, podIPs)
        }
        for i in a.containersToStart {
            await start(pod.spec.containers[i], pod, rt, sandboxID, sandboxConfig, podIPs)
        }
        for i in a.ephemeralContainersToStart {
            let e = pod.spec.ephemeralContainers[i]
            let target = e.targetContainerName.isEmpty ? nil : rt.container(named: e.targetContainerName)
            await start(
                e.asContainer, pod, rt, sandboxID, sandboxConfig, podIPs,
                sharePIDWith: target?.state == .running ? target?.id : nil)
        }
    }

    static func describe(_ error: any Error) -> String {
        if let e = error as? RPCError { return "rpc error: code = \(e.code) desc = \(e.message)" }
        return "\(error)"
    }

    func setWaiting(_ pod: CoreV1.Pod, _ name: String, _ w: WaitingReason?) {
        state.withLock { $0.waiting[pod.metadata.uid, default: [:]][name] = w }
    }

    /// Starts one container (upstream's `startContainer`): back-off after an exit, the image, the
    /// environment, create and start, with upstream's events and waiting reasons on each failure.
    func start(
        _ c: CoreV1.Container, _ pod: CoreV1.Pod, _ rt: RuntimePod, _ sandboxID: String,
        _ sandboxConfig: Runtime_V1_PodSandboxConfig, _ podIPs: [String], sharePIDWith target: String? = nil
    ) async {
        let previous = rt.container(named: c.name)
        let restartCount = previous.map { $0.restartCount + 1 } ?? 0
        let podDesc = "\(pod.metadata.name)_\(pod.metadata.namespace)(\(pod.metadata.uid))"
        let now = Int64(wallClock().timeIntervalSince1970 * 1e9)
        if let previous, previous.state == .exited {
            let key = CrashLoopBackoff.key(
                podName: pod.metadata.name, namespace: pod.metadata.namespace, uid: pod.metadata.uid, container: c.name,
                hash: ContainerHash.of(c))
            let (inBackoff, wait) = state.withLock { s -> (Bool, Int64) in
                if s.crashBackoff.inBackoff(key, since: previous.finishedAt, now: now) {
                    return (true, s.crashBackoff.current(key))
                }
                s.crashBackoff.next(key, finishedAt: previous.finishedAt)
                return (false, 0)
            }
            if inBackoff {
                setWaiting(
                    pod, c.name,
                    WaitingReason(
                        "CrashLoopBackOff",
                        "back-off \(CrashLoopBackoff.goDuration(wait)) restarting failed container=\(c.name) pod=\(podDesc)"
                    ))
                events.warning(
                    pod, reason: "BackOff", note: "Back-off restarting failed container \(c.name) in pod \(podDesc)")
                let remaining = previous.finishedAt + wait - now
                queue.add(ObjectKey(pod.metadata), after: .nanoseconds(max(remaining, 100_000_000)))
                return
            }
        }
        guard let imageRef = await ensureImage(c, pod, sandboxConfig, now: now) else { return }
        let env: [(String, String)]
        do {
            env = try await environment(c, pod, podIPs)
        } catch {
            setWaiting(pod, c.name, WaitingReason("CreateContainerConfigError", "\(error)"))
            events.warning(pod, reason: "Failed", note: "Error: \(error)")
            return
        }
        guard let mounts = containerMounts(c, pod, podIPs, env) else { return }
        var config = RuntimeConfigs.containerConfig(
            c, pod, restartCount: restartCount, image: imageRef, env: env, mounts: mounts)
        if let target {
            // An ephemeral container with a target joins the target's process namespace.
            config.linux.securityContext.namespaceOptions.pid = .target
            config.linux.securityContext.namespaceOptions.targetID = target
        }
        let id: String
        do {
            if !options.hollow {
                try FileManager.default.createDirectory(
                    atPath: sandboxConfig.logDirectory + "/" + c.name, withIntermediateDirectories: true)
            }
            id = try await runtime.createContainer(sandboxID: sandboxID, config: config, sandboxConfig: sandboxConfig)
        } catch {
            setWaiting(pod, c.name, WaitingReason("CreateContainerError", Self.describe(error)))
            events.warning(pod, reason: "Failed", note: "Error: \(Self.describe(error))")
            return
        }
        events.normal(pod, reason: "Created", note: "Created container: \(c.name)")
        do {
            try await runtime.startContainer(id)
        } catch {
            setWaiting(pod, c.name, nil)
            events.warning(pod, reason: "Failed", note: "Error: \(Self.describe(error))")
            return
        }
        setWaiting(pod, c.name, nil)
        events.normal(pod, reason: "Started", note: "Started container \(c.name)")
        _ = await runPostStart(c, pod, id: id, podIP: podIPs.first ?? "")
    }

    /// The pull policy's default: Always for `:latest` or an untagged image, else IfNotPresent.
    static func pullPolicy(_ c: CoreV1.Container) -> String {
        if !c.imagePullPolicy.isEmpty { return c.imagePullPolicy }
        let image = c.image
        if image.contains("@") { return "IfNotPresent" }
        let last = image.split(separator: "/").last.map(String.init) ?? image
        guard let colon = last.lastIndex(of: ":") else { return "Always" }
        return last[last.index(after: colon)...] == "latest" ? "Always" : "IfNotPresent"
    }

    /// The image's reference once present (pulled as the policy says), or nil after recording why not.
    func ensureImage(_ c: CoreV1.Container, _ pod: CoreV1.Pod, _ sandboxConfig: Runtime_V1_PodSandboxConfig, now: Int64)
        async -> String?
    {
        var spec = Runtime_V1_ImageSpec()
        spec.image = c.image
        let policy = Self.pullPolicy(c)
        let present = try? await runtime.imageStatus(spec)
        if let present, policy != "Always" {
            events.normal(pod, reason: "Pulled", note: "Container image \"\(c.image)\" already present on machine")
            return present.id
        }
        if policy == "Never" {
            let msg = "Container image \"\(c.image)\" is not present with pull policy of Never"
            setWaiting(pod, c.name, WaitingReason("ErrImageNeverPull", msg))
            events.warning(pod, reason: "ErrImageNeverPull", note: msg)
            return nil
        }
        let key = "pull:" + c.image
        let inBackoff = state.withLock {
            $0.pullBackoff.inBackoff(key, since: $0.pullBackoff.lastUpdate(key), now: now)
        }
        if inBackoff {
            setWaiting(pod, c.name, WaitingReason("ImagePullBackOff", "Back-off pulling image \"\(c.image)\""))
            events.normal(pod, reason: "BackOff", note: "Back-off pulling image \"\(c.image)\"")
            queue.add(ObjectKey(pod.metadata), after: .seconds(2))
            return nil
        }
        events.normal(pod, reason: "Pulling", note: "Pulling image \"\(c.image)\"")
        let started = ContinuousClock.now
        do {
            let ref = try await pull(spec, pod, sandboxConfig)
            let took = ContinuousClock.now - started
            let size = (try? await runtime.imageStatus(spec))?.size ?? 0
            let secs = String(
                format: "%.3fs", Double(took.components.seconds) + Double(took.components.attoseconds) / 1e18)
            events.normal(
                pod, reason: "Pulled",
                note:
                    "Successfully pulled image \"\(c.image)\" in \(secs) (\(secs) including waiting). Image size: \(size) bytes."
            )
            state.withLock { $0.pullBackoff.forget(key) }
            return ref
        } catch {
            let msg = "Failed to pull image \"\(c.image)\": \(Self.describe(error))"
            state.withLock { $0.pullBackoff.next(key, finishedAt: now) }
            setWaiting(pod, c.name, WaitingReason("ErrImagePull", msg))
            events.warning(pod, reason: "Failed", note: msg)
            events.warning(pod, reason: "Failed", note: "Error: ErrImagePull")
            queue.add(ObjectKey(pod.metadata), after: .seconds(1))
            return nil
        }
    }

    /// Pulls with each matching credential of the pod's `imagePullSecrets` in turn (anonymously when
    /// none matches), as upstream does; the last failure is the one reported.
    func pull(_ spec: Runtime_V1_ImageSpec, _ pod: CoreV1.Pod, _ sandboxConfig: Runtime_V1_PodSandboxConfig)
        async throws -> String
    {
        var credentials: [PullSecrets.Credential] = []
        var missing: [String] = []
        for ref in pod.spec.imagePullSecrets where !ref.name.isEmpty {
            if let secret = try? await optionalGet(CoreV1.Secret.self, ref.name, pod.metadata.namespace) {
                credentials += PullSecrets.credentials(secret).filter {
                    PullSecrets.matches($0.registry, image: spec.image)
                }
            } else {
                missing.append("\"\(ref.name)\"")
            }
        }
        if !missing.isEmpty {
            events.warning(
                pod, reason: "FailedToRetrieveImagePullSecret",
                note:
                    "Unable to retrieve some image pull secrets (\(missing.joined(separator: ", "))); attempting to pull the image may not succeed."
            )
        }
        guard !credentials.isEmpty else {
            return try await runtime.pullImage(spec, auth: nil, sandboxConfig: sandboxConfig)
        }
        var last: (any Error)?
        for c in credentials {
            do {
                return try await runtime.pullImage(spec, auth: PullSecrets.auth(c), sandboxConfig: sandboxConfig)
            } catch {
                last = error
            }
        }
        throw last!
    }

    /// The container's environment, with ConfigMap and Secret values read from the API.
    func environment(_ c: CoreV1.Container, _ pod: CoreV1.Pod, _ podIPs: [String]) async throws -> [(String, String)] {
        let ns = pod.metadata.namespace
        var fromSources: [(String, String)] = []
        for src in c.envFrom {
            if let ref = src.configMapRef {
                guard let cm = try await optionalGet(CoreV1.ConfigMap.self, ref.localObjectReference.name, ns) else {
                    if ref.optional == true { continue }
                    throw EnvError("configmap \"\(ref.localObjectReference.name)\" not found")
                }
                for (k, v) in cm.data.sorted(by: { $0.key < $1.key }) { fromSources.append((src.prefix + k, v)) }
            } else if let ref = src.secretRef {
                guard let s = try await optionalGet(CoreV1.Secret.self, ref.localObjectReference.name, ns) else {
                    if ref.optional == true { continue }
                    throw EnvError("secret \"\(ref.localObjectReference.name)\" not found")
                }
                for (k, v) in s.data.sorted(by: { $0.key < $1.key }) {
                    fromSources.append((src.prefix + k, String(decoding: v, as: UTF8.self)))
                }
            }
        }
        var resolved: [String: String] = [:]
        for e in c.env {
            guard let from = e.valueFrom else { continue }
            if let ref = from.configMapKeyRef {
                guard let cm = try await optionalGet(CoreV1.ConfigMap.self, ref.localObjectReference.name, ns) else {
                    if ref.optional == true { continue }
                    throw EnvError("configmap \"\(ref.localObjectReference.name)\" not found")
                }
                guard let v = cm.data[ref.key] else {
                    if ref.optional == true { continue }
                    throw EnvError("couldn't find key \(ref.key) in ConfigMap \(ns)/\(ref.localObjectReference.name)")
                }
                resolved[e.name] = v
            } else if let ref = from.secretKeyRef {
                guard let s = try await optionalGet(CoreV1.Secret.self, ref.localObjectReference.name, ns) else {
                    if ref.optional == true { continue }
                    throw EnvError("secret \"\(ref.localObjectReference.name)\" not found")
                }
                guard let v = s.data[ref.key] else {
                    if ref.optional == true { continue }
                    throw EnvError("couldn't find key \(ref.key) in Secret \(ns)/\(ref.localObjectReference.name)")
                }
                resolved[e.name] = String(decoding: v, as: UTF8.self)
            } else if let ref = from.resourceFieldRef {
                resolved[e.name] = Self.resourceValue(ref, c)
            }
        }
        let serviceEnv = ServiceEnvironment.variables(
            services.store.list(), namespace: ns, enableServiceLinks: pod.spec.enableServiceLinks ?? true)
        return RuntimeConfigs.environment(
            c, pod, podIPs: podIPs, hostIPs: options.hostIPs, fromSources: fromSources, resolved: resolved,
            serviceEnv: serviceEnv)
    }

    func optionalGet<T: KubeObject>(_: T.Type, _ name: String, _ ns: String) async throws -> T? {
        do {
            return try await client.get(T.self, name, namespace: ns)
        } catch let e as StatusError where e.isNotFound {
            return nil
        }
    }

    /// `limits.cpu`, `requests.memory`, … in the divisor's units, rounded up (upstream's
    /// `ExtractContainerResourceValue`).
    static func resourceValue(_ ref: CoreV1.ResourceFieldSelector, _ c: CoreV1.Container) -> String {
        let parts = ref.resource.split(separator: ".", maxSplits: 1).map(String.init)
        guard parts.count == 2 else { return "" }
        let table = parts[0] == "limits" ? c.resources.limits : c.resources.requests
        guard let q = table[parts[1]] else { return "0" }
        let divisor = ref.divisor ?? Quantity(1)
        if parts[1] == "cpu" {
            let d = max(1, divisor.milliValue)
            return String((q.milliValue + d - 1) / d)
        }
        let d = max(1, divisor.value)
        return String((q.value + d - 1) / d)
    }

    // MARK: Status

    func report(_ pod: CoreV1.Pod, _ rt: RuntimePod, terminal: Bool) async throws {
        let (probes, waiting) = state.withLock { ($0.probes, $0.waiting[pod.metadata.uid] ?? [:]) }
        let now = wallClock()
        let builder = PodStatusBuilder(
            hostIPs: options.hostIPs,
            now: Time(seconds: Int64(now.timeIntervalSince1970)))
        var status = builder.build(pod: pod, runtime: rt, probes: probes, waiting: waiting, podIsTerminal: terminal)
        reportResize(&status, pod, rt, now: Time(seconds: Int64(now.timeIntervalSince1970)))
        if StaticPods.isStatic(pod) { return try await reportStaticPodStatus(pod, status) }
        if status == pod.status { return }
        var updated = pod
        updated.status = status
        do {
            _ = try await client.updateStatus(updated)
        } catch let e as StatusError where e.isConflict || e.isNotFound {
            // A newer pod is on its way through the informer (or the pod is gone): sync again then.
        }
    }
}

struct EnvError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}
