import APIBatch
import APICore
import APIMachinery
import APIRBAC
import ControllerRuntime
import Foundation
import Synchronization

/// Deletes finished Jobs once `ttlSecondsAfterFinished` has passed (upstream's
/// ttl-after-finished-controller), in the foreground so their pods go first.
public final class TTLAfterFinishedController: Controller {
    let client: KubeClient
    let jobs: ObjectStore<BatchV1.Job>
    let queue = WorkQueue<ObjectKey>(name: "ttl_jobs_to_delete")
    let workers: Int

    public init(_ ctx: ControllerContext) {
        client = ctx.client
        workers = ctx.options.workers("ttl-after-finished-controller", default: 5)
        let informer = ctx.informers.informer(BatchV1.Job.self)
        jobs = informer.store
        let queue = self.queue
        informer.addHandler { e in
            switch e {
            case .added(let j), .updated(_, let j):
                if j.spec.ttlSecondsAfterFinished != nil && j.metadata.deletionTimestamp == nil {
                    queue.add(ObjectKey(j.metadata))
                }
            case .deleted: break
            }
        }
    }

    /// When a finished job expires: its finish time (the Complete/Failed condition) plus its TTL; nil
    /// while it runs or has no TTL.
    static func expiry(_ j: BatchV1.Job) -> Date? {
        guard let ttl = j.spec.ttlSecondsAfterFinished,
            let done = j.status.conditions.first(where: {
                ($0.type == "Complete" || $0.type == "Failed") && $0.status == "True"
            })
        else { return nil }
        let finished = (done.lastTransitionTime ?? j.status.completionTime)?.date ?? Date()
        return finished.addingTimeInterval(TimeInterval(ttl))
    }

    func sync(_ key: ObjectKey) async throws {
        guard let cached = jobs.get(key), cached.metadata.deletionTimestamp == nil, let at = Self.expiry(cached) else {
            return
        }
        let left = at.timeIntervalSinceNow
        if left > 0 {
            queue.add(key, after: .milliseconds(Int64(left * 1000) + 50))
            return
        }
        // Read it fresh: the TTL may have changed since the cache saw it.
        let fresh = try await client.get(BatchV1.Job.self, key.name, namespace: key.namespace)
        guard let freshAt = Self.expiry(fresh), freshAt <= Date() else { return queue.add(key) }
        do {
            try await client.delete(
                BatchV1.Job.self, key.name, namespace: key.namespace,
                options: DeleteOptions(propagationPolicy: "Foreground", preconditionUID: fresh.metadata.uid))
        } catch let e as StatusError where e.isNotFound || e.isConflict {}
    }

    public func run() async { await queue.runWorkers(workers) { try await self.sync($0) } }
}

/// Pod garbage collection (upstream's pod-garbage-collector-controller), every 20 seconds: terminated
/// pods beyond `--terminated-pod-gc-threshold` (oldest first), pods bound to nodes that no longer exist,
/// and unscheduled pods already being deleted.
public final class PodGCController: Controller {
    let client: KubeClient
    let pods: ObjectStore<CoreV1.Pod>
    let nodes: ObjectStore<CoreV1.Node>
    let threshold: Int
    let period: Duration

    public init(_ ctx: ControllerContext, period: Swift.Duration = .seconds(20)) {
        client = ctx.client
        pods = ctx.informers.informer(CoreV1.Pod.self).store
        nodes = ctx.informers.informer(CoreV1.Node.self).store
        threshold = ctx.options.terminatedPodGCThreshold
        self.period = period
    }

    /// Which pods to delete now. `missingNodes` are node names confirmed absent by a live read.
    static func collect(pods: [CoreV1.Pod], knownNodes: Set<String>, missingNodes: Set<String>, threshold: Int)
        -> (terminated: [CoreV1.Pod], orphaned: [CoreV1.Pod], unscheduledTerminating: [CoreV1.Pod])
    {
        let terminated = pods.filter { $0.status.phase == "Succeeded" || $0.status.phase == "Failed" }
            .sorted { ($0.metadata.creationTimestamp ?? Time()) < ($1.metadata.creationTimestamp ?? Time()) }
        let excess = threshold > 0 ? max(0, terminated.count - threshold) : 0
        let orphaned = pods.filter {
            !$0.spec.nodeName.isEmpty && !knownNodes.contains($0.spec.nodeName)
                && missingNodes.contains($0.spec.nodeName)
        }
        let unscheduled = pods.filter { $0.spec.nodeName.isEmpty && $0.metadata.deletionTimestamp != nil }
        return (Array(terminated.prefix(excess)), orphaned, unscheduled)
    }

    func gc(_ quarantine: inout NodeQuarantine) async {
        let all = pods.list()
        let known = Set(nodes.list().map(\.metadata.name))
        var missing: Set<String> = []
        let unknown = Set(all.map(\.spec.nodeName).filter { !$0.isEmpty && !known.contains($0) })
        for n in quarantine.due(unknown: unknown, now: .now) {
            do { _ = try await client.get(CoreV1.Node.self, n) } catch let e as StatusError where e.isNotFound {
                missing.insert(n)
            } catch {}
        }
        let c = Self.collect(pods: all, knownNodes: known, missingNodes: missing, threshold: threshold)
        for p in c.orphaned where p.status.phase != "Succeeded" && p.status.phase != "Failed" {
            // Upstream marks the pod failed with a DisruptionTarget condition before deleting it.
            var next = p
            next.status.phase = "Failed"
            next.status.conditions.removeAll { $0.type == "DisruptionTarget" }
            next.status.conditions.append(
                CoreV1.PodCondition(
                    type: "DisruptionTarget", status: "True", lastTransitionTime: Time(Date()),
                    reason: "DeletionByPodGC",
                    message: "PodGC: node no longer exists"))
            _ = try? await client.updateStatus(next)
        }
        let doomed = c.terminated + c.orphaned + c.unscheduledTerminating
        _ = await concurrently(doomed, limit: 16) { p in
            try? await self.client.delete(
                CoreV1.Pod.self, p.metadata.name, namespace: p.metadata.namespace,
                options: DeleteOptions(gracePeriodSeconds: 0, preconditionUID: p.metadata.uid))
        }
    }

    public func run() async {
        var quarantine = NodeQuarantine()
        while !Task.isCancelled {
            try? await Task.sleep(for: period)
            if Task.isCancelled { return }
            await gc(&quarantine)
        }
    }
}

/// The pod GC's patience with a node name its informer does not know: upstream re-reads such a node
/// only once it has been missing for 40 seconds (`quarantineTime`), so a pod bound to a node that is
/// just being created, or not yet in the cache, is not collected.
struct NodeQuarantine {
    static let period = Duration.seconds(40)
    /// When each unknown node name was first seen.
    private(set) var since: [String: ContinuousClock.Instant] = [:]

    /// The names of `unknown` missing for the whole quarantine by `now`; names no longer unknown are
    /// forgotten, so a node that comes back and goes again waits anew.
    mutating func due(unknown: Set<String>, now: ContinuousClock.Instant) -> Set<String> {
        since = since.filter { unknown.contains($0.key) }
        for n in unknown where since[n] == nil { since[n] = now }
        return Set(since.filter { now - $0.value >= Self.period }.keys)
    }
}

/// Keeps the `kubernetes.io/pvc-protection` finalizer on claims while a pod uses them (upstream's
/// persistentvolumeclaim-protection-controller).
public final class PVCProtectionController: Controller {
    static let finalizer = "kubernetes.io/pvc-protection"
    let client: KubeClient
    let claims: ObjectStore<CoreV1.PersistentVolumeClaim>
    let pods: ObjectStore<CoreV1.Pod>
    let queue = WorkQueue<ObjectKey>(name: "pvcprotection")

    public init(_ ctx: ControllerContext) {
        client = ctx.client
        let claimInformer = ctx.informers.informer(CoreV1.PersistentVolumeClaim.self)
        let podInformer = ctx.informers.informer(CoreV1.Pod.self)
        claims = claimInformer.store
        pods = podInformer.store
        let queue = self.queue
        claimInformer.addHandler { e in
            switch e {
            case .added(let c), .updated(_, let c): queue.add(ObjectKey(c.metadata))
            case .deleted: break
            }
        }
        podInformer.addHandler { e in
            switch e {
            case .added(let p), .updated(_, let p), .deleted(let p):
                for name in Self.claimNames(p) { queue.add(ObjectKey(namespace: p.metadata.namespace, name: name)) }
            }
        }
    }

    /// The claims a pod uses: named ones and those of its generic ephemeral volumes (`<pod>-<volume>`).
    static func claimNames(_ p: CoreV1.Pod) -> [String] {
        p.spec.volumes.compactMap { v in
            if let c = v.volumeSource.persistentVolumeClaim { return c.claimName }
            if v.volumeSource.ephemeral != nil { return "\(p.metadata.name)-\(v.name)" }
            return nil
        }
    }

    func sync(_ key: ObjectKey) async throws {
        guard let claim = claims.get(key) else { return }
        let has = claim.metadata.finalizers.contains(Self.finalizer)
        if claim.metadata.deletionTimestamp == nil {
            guard !has else { return }
            try await setFinalizers(claim, claim.metadata.finalizers + [Self.finalizer])
            return
        }
        guard has else { return }
        let inUse = pods.list(namespace: key.namespace).contains { p in
            p.status.phase != "Succeeded" && p.status.phase != "Failed" && Self.claimNames(p).contains(key.name)
        }
        if !inUse { try await setFinalizers(claim, claim.metadata.finalizers.filter { $0 != Self.finalizer }) }
    }

    func setFinalizers(_ c: CoreV1.PersistentVolumeClaim, _ f: [String]) async throws {
        _ = try await client.patch(
            CoreV1.PersistentVolumeClaim.self, c.metadata.name, namespace: c.metadata.namespace, type: .merge,
            body: FinalizerPatch.body(f, resourceVersion: c.metadata.resourceVersion))
    }

    public func run() async { await queue.runWorkers(1) { try await self.sync($0) } }
}

/// Keeps the `kubernetes.io/pv-protection` finalizer on volumes while a claim is bound to them
/// (upstream's persistentvolume-protection-controller).
public final class PVProtectionController: Controller {
    static let finalizer = "kubernetes.io/pv-protection"
    let client: KubeClient
    let volumes: ObjectStore<CoreV1.PersistentVolume>
    let queue = WorkQueue<ObjectKey>(name: "pvprotection")

    public init(_ ctx: ControllerContext) {
        client = ctx.client
        let informer = ctx.informers.informer(CoreV1.PersistentVolume.self)
        volumes = informer.store
        let queue = self.queue
        informer.addHandler { e in
            switch e {
            case .added(let v), .updated(_, let v): queue.add(ObjectKey(v.metadata))
            case .deleted: break
            }
        }
    }

    func sync(_ key: ObjectKey) async throws {
        guard let pv = volumes.get(key) else { return }
        let has = pv.metadata.finalizers.contains(Self.finalizer)
        var want = pv.metadata.finalizers
        if pv.metadata.deletionTimestamp == nil {
            guard !has else { return }
            want.append(Self.finalizer)
        } else {
            guard has, pv.status.phase != "Bound" else { return }
            want.removeAll { $0 == Self.finalizer }
        }
        _ = try await client.patch(
            CoreV1.PersistentVolume.self, key.name, type: .merge,
            body: FinalizerPatch.body(want, resourceVersion: pv.metadata.resourceVersion))
    }

    public func run() async { await queue.runWorkers(1) { try await self.sync($0) } }
}

enum FinalizerPatch {
    /// A merge patch setting the finalizer list, guarded by the version it was computed from.
    static func body(_ finalizers: [String], resourceVersion: String) -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.key("metadata")
        w.beginObject()
        w.key("finalizers")
        w.beginArray()
        for f in finalizers { w.string(f) }
        w.endArray()
        w.key("resourceVersion")
        w.string(resourceVersion)
        w.endObject()
        w.endObject()
        return w.bytes
    }
}

/// Fills the rules of aggregated ClusterRoles (upstream's clusterrole-aggregation-controller): the rules
/// of every ClusterRole matching any of its `clusterRoleSelectors`, in name order, without duplicates.
public final class ClusterRoleAggregationController: Controller {
    let client: KubeClient
    let roles: ObjectStore<RBACV1.ClusterRole>
    let queue = WorkQueue<String>(name: "ClusterRoleAggregator")

    public init(_ ctx: ControllerContext) {
        client = ctx.client
        let informer = ctx.informers.informer(RBACV1.ClusterRole.self)
        roles = informer.store
        let queue = self.queue
        let roles = self.roles
        informer.addHandler { _ in
            // Any change may feed any aggregated role.
            for r in roles.list() where r.aggregationRule != nil { queue.add(r.metadata.name) }
        }
    }

    static func aggregatedRules(for role: RBACV1.ClusterRole, among all: [RBACV1.ClusterRole]) -> [RBACV1.PolicyRule]? {
        guard let rule = role.aggregationRule else { return nil }
        let selectors = rule.clusterRoleSelectors.compactMap { try? LabelSelector.from($0) }
        var out: [RBACV1.PolicyRule] = []
        for other in all.sorted(by: { $0.metadata.name < $1.metadata.name })
        where other.metadata.name != role.metadata.name
            && selectors.contains(where: { $0.matches(other.metadata.labels) })
        {
            for r in other.rules where !out.contains(r) { out.append(r) }
        }
        return out
    }

    func sync(_ name: String) async throws {
        guard let role = roles.get(name: name), let rules = Self.aggregatedRules(for: role, among: roles.list()),
            rules != role.rules
        else { return }
        var next = role
        next.rules = rules
        _ = try await client.update(next)
    }

    public func run() async { await queue.runWorkers(1) { try await self.sync($0) } }
}

/// Annotates nodes with how long kubelets may cache objects (`node.alpha.kubernetes.io/ttl`), from the
/// cluster's size (upstream's ttl-controller and its size steps, with their hysteresis).
public final class TTLController: Controller {
    static let annotation = "node.alpha.kubernetes.io/ttl"
    /// Upstream's steps: (fewer than or equal to `up` nodes to stay, more than `down` to enter, TTL).
    static let steps: [(down: Int, up: Int, ttl: Int)] = [
        (0, 100, 0), (90, 500, 15), (450, 1000, 30), (900, 2000, 60), (1800, 10000, 300), (9000, Int.max, 600),
    ]
    let client: KubeClient
    let nodes: ObjectStore<CoreV1.Node>
    let queue = WorkQueue<String>(name: "ttlcontroller")
    let step = Mutex(0)

    public init(_ ctx: ControllerContext) {
        client = ctx.client
        let informer = ctx.informers.informer(CoreV1.Node.self)
        nodes = informer.store
        let queue = self.queue
        informer.addHandler { e in
            switch e {
            case .added(let n), .updated(_, let n): queue.add(n.metadata.name)
            case .deleted: break
            }
        }
    }

    /// The step for `count` nodes, moving from `current` only past its bounds.
    static func step(for count: Int, current: Int) -> Int {
        var s = current
        while s + 1 < steps.count && count > steps[s].up { s += 1 }
        while s > 0 && count <= steps[s].down { s -= 1 }
        return s
    }

    func sync(_ name: String) async throws {
        guard let node = nodes.get(name: name) else { return }
        let ttl = String(
            Self.steps[
                step.withLock { s in
                    s = Self.step(for: nodes.count, current: s)
                    return s
                }
            ].ttl)
        guard node.metadata.annotations[Self.annotation] != ttl else { return }
        let body = #"{"metadata":{"annotations":{"\#(Self.annotation)":"\#(ttl)"}}}"#
        _ = try await client.patch(CoreV1.Node.self, name, type: .merge, body: Array(body.utf8))
    }

    public func run() async { await queue.runWorkers(1) { try await self.sync($0) } }
}
