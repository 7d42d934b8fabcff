import APICoordination
import APICore
import APIMachinery
import CRI
import Foundation
import KubeClient
import Synchronization

/// The kubelet's side of its Node object: registers it, reports its status every
/// `nodeStatusUpdateFrequency` (writing only on change or every `nodeStatusReportFrequency`), and
/// renews its Lease in `kube-node-lease` every quarter of the lease duration. Decisions are
/// `NodeStatusBuilder`'s; this shell only reads, writes and waits.
public final class NodeHeartbeat: Sendable {
    public static let leaseNamespace = "kube-node-lease"
    /// Attempts of one status write (upstream's node status update retry) and of one lease renewal.
    static let retries = 5

    struct State {
        var registered = false
        var lastReport = Time()
        var podCIDR: String?
        var nodeUID: String?
    }

    public let client: KubeClient
    public let config: NodeConfig
    public let machine: MachineInfo
    let runtimeHealth: @Sendable () async -> RuntimeHealth
    let images: @Sendable () async -> [CoreV1.ContainerImage]
    let pressure: @Sendable () async -> Pressure
    let now: @Sendable () -> Time
    let log: @Sendable (String) -> Void
    let state = Mutex(State())

    public init(
        client: KubeClient, config: NodeConfig, machine: MachineInfo,
        runtimeHealth: @escaping @Sendable () async -> RuntimeHealth,
        images: @escaping @Sendable () async -> [CoreV1.ContainerImage],
        pressure: @escaping @Sendable () async -> Pressure = { Pressure() },
        now: @escaping @Sendable () -> Time = NodeHeartbeat.wallClock,
        log: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        self.client = client
        self.config = config
        self.machine = machine
        self.runtimeHealth = runtimeHealth
        self.images = images
        self.pressure = pressure
        self.now = now
        self.log = log
    }

    /// The system clock as an API timestamp.
    public static let wallClock: @Sendable () -> Time = {
        let t = Date().timeIntervalSince1970
        let s = t.rounded(.down)
        return Time(seconds: Int64(s), nanos: Int32((t - s) * 1e9))
    }

    /// The node's pod CIDRs as last read from `spec.podCIDRs` (comma-joined when dual-stack), or
    /// `spec.podCIDR`; nil until the controller manager (or `--pod-cidr`) set one.
    public var podCIDR: String? { state.withLock { $0.podCIDR } }

    public var isRegistered: Bool { state.withLock { $0.registered } }

    // MARK: registration

    /// Registers the node, retrying with a backoff (100 ms doubling up to 7 s) until it succeeds or
    /// the task is cancelled.
    public func register() async {
        var step: Swift.Duration = .milliseconds(100)
        while !Task.isCancelled {
            if await tryRegister() { return }
            try? await Task.sleep(for: step)
            step = min(step * 2, .seconds(7))
        }
    }

    /// One registration attempt: creates the Node, or, when it already exists, reconciles what the
    /// kubelet owns on it (`NodeStatusBuilder.reconcileExisting`).
    @discardableResult
    public func tryRegister() async -> Bool {
        let node = NodeStatusBuilder.initialNode(
            config: config, machine: machine, runtime: await runtimeHealth(), images: await images(),
            pressure: await pressure(), now: now())
        do {
            let created = try await client.create(node)
            registered(uid: created.metadata.uid)
            log("registered node \(config.nodeName)")
            return true
        } catch let error where error.isAlreadyExists {
            do {
                let existing = try await client.get(CoreV1.Node.self, config.nodeName)
                let plan = NodeStatusBuilder.reconcileExisting(existing, with: node)
                var current = existing
                if plan.metadataChanged { current = try await client.update(plan.node) }
                if plan.statusChanged {
                    var withStatus = current
                    withStatus.status = plan.node.status
                    current = try await client.updateStatus(withStatus)
                }
                registered(uid: current.metadata.uid)
                log("node \(config.nodeName) was registered before")
                return true
            } catch {
                log("unable to reconcile the registered node \(config.nodeName): \(error)")
                return false
            }
        } catch {
            log("unable to register node \(config.nodeName): \(error)")
            return false
        }
    }

    func registered(uid: String) {
        state.withLock {
            $0.registered = true
            if !uid.isEmpty { $0.nodeUID = uid }
        }
    }

    // MARK: status

    /// Reads the Node, builds its status and writes `nodes/status` when it changed (or the report
    /// frequency passed, or the pod CIDR changed, or the os/arch labels were wrong). Up to five
    /// attempts; returns whether it wrote.
    @discardableResult
    public func updateStatus() async throws -> Bool {
        var last: (any Error)?
        for _ in 0..<Self.retries {
            do {
                return try await tryUpdateStatus()
            } catch {
                last = error
                log("error updating node status, will retry: \(error)")
            }
        }
        throw last ?? CancellationError()
    }

    func tryUpdateStatus() async throws -> Bool {
        let original = try await client.get(CoreV1.Node.self, config.nodeName)
        var node = original

        var cidrChanged = false
        let cidrs = original.spec.podCIDRs.isEmpty ? [original.spec.podCIDR] : original.spec.podCIDRs
        let cidr = cidrs.filter { !$0.isEmpty }.joined(separator: ",")
        if !cidr.isEmpty {
            cidrChanged = state.withLock { s in
                defer { s.podCIDR = cidr }
                return s.podCIDR != cidr
            }
        }

        // The os and arch labels are the kubelet's; put them back when they are missing or wrong.
        var labelsFixed = false
        let wanted = [
            NodeStatusBuilder.labelOS: NodeStatusBuilder.operatingSystem,
            NodeStatusBuilder.labelArch: machine.architecture,
        ]
        for (k, v) in wanted where node.metadata.labels[k] != v {
            node.metadata.labels[k] = v
            labelsFixed = true
        }

        let status = NodeStatusBuilder.status(
            config: config, machine: machine, previous: original.status, runtime: await runtimeHealth(),
            images: await images(), pressure: await pressure(), now: now())
        let at = now()
        let lastReport = state.withLock { $0.lastReport }
        let write =
            cidrChanged || labelsFixed
            || NodeStatusBuilder.needsUpdate(
                old: original.status, new: status, lastReport: lastReport, now: at,
                reportFrequency: config.nodeStatusReportFrequency)
        guard write else { return false }

        // Labels are metadata: the main resource carries them, `nodes/status` the rest.
        if labelsFixed { node = try await client.update(node) }
        node.status = status
        let updated = try await client.updateStatus(node)
        state.withLock {
            $0.lastReport = at
            if !updated.metadata.uid.isEmpty { $0.nodeUID = updated.metadata.uid }
        }
        return true
    }

    // MARK: lease

    /// The node's Lease as the kubelet writes it: a new one held by the node, or `base` renewed; the
    /// duration asserted, `renewTime` now, and an owner reference to the Node once its UID is known.
    public static func lease(
        base: CoordinationV1.Lease?, nodeName: String, nodeUID: String?, durationSeconds: Int32, now: MicroTime
    ) -> CoordinationV1.Lease {
        var lease: CoordinationV1.Lease
        if let base {
            lease = base
        } else {
            lease = CoordinationV1.Lease()
            lease.metadata.name = nodeName
            lease.metadata.namespace = leaseNamespace
            lease.spec.holderIdentity = nodeName
        }
        lease.spec.leaseDurationSeconds = durationSeconds
        lease.spec.renewTime = now
        if lease.metadata.ownerReferences.isEmpty, let uid = nodeUID, !uid.isEmpty {
            lease.metadata.ownerReferences = [
                MetaV1.OwnerReference(apiVersion: "v1", kind: "Node", name: nodeName, uid: uid)
            ]
        }
        return lease
    }

    /// A Time with microsecond precision.
    public static func micro(_ t: Time) -> MicroTime { MicroTime(seconds: t.seconds, nanos: t.nanos / 1000 * 1000) }

    struct NodeUnknown: Error, CustomStringConvertible {
        var name: String
        var description: String { "node \(name) is not known yet: its lease waits for an owner" }
    }

    /// Renews the Lease (creating it when missing, which needs the Node's UID for its owner). Retries a
    /// conflict with a fresh read, up to five attempts.
    public func renewLease() async throws {
        var last: (any Error)?
        for _ in 0..<Self.retries {
            do {
                try await tryRenewLease()
                return
            } catch let error where error.isConflict || error.isAlreadyExists {
                last = error
            }
        }
        throw last ?? CancellationError()
    }

    func tryRenewLease() async throws {
        let name = config.nodeName
        var existing: CoordinationV1.Lease?
        do {
            existing = try await client.get(CoordinationV1.Lease.self, name, namespace: Self.leaseNamespace)
        } catch let error where error.isNotFound {
            existing = nil
        }
        let uid = await nodeUID(needed: existing == nil || existing!.metadata.ownerReferences.isEmpty)
        if existing == nil, uid == nil { throw NodeUnknown(name: name) }
        let lease = Self.lease(
            base: existing, nodeName: name, nodeUID: uid, durationSeconds: config.nodeLeaseDurationSeconds,
            now: Self.micro(now()))
        if existing == nil {
            _ = try await client.create(lease, namespace: Self.leaseNamespace)
        } else {
            _ = try await client.update(lease)
        }
    }

    /// The Node's UID: remembered, or read when `needed`.
    func nodeUID(needed: Bool) async -> String? {
        if let uid = state.withLock({ $0.nodeUID }) { return uid }
        guard needed, let node = try? await client.get(CoreV1.Node.self, config.nodeName) else { return nil }
        let uid = node.metadata.uid
        guard !uid.isEmpty else { return nil }
        state.withLock { $0.nodeUID = uid }
        return uid
    }

    // MARK: loop

    /// Registers, then reports status and renews the lease on their own periods until cancelled.
    public func run() async {
        await register()
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.statusLoop() }
            group.addTask { await self.leaseLoop() }
        }
    }

    func statusLoop() async {
        while !Task.isCancelled {
            do {
                try await updateStatus()
            } catch {
                log("unable to update node status: \(error)")
            }
            try? await Task.sleep(for: config.nodeStatusUpdateFrequency)
        }
    }

    /// Renews every renew interval (with up to 4% jitter); after a failure, retries sooner with a
    /// doubling backoff capped at the interval.
    func leaseLoop() async {
        let interval = config.nodeLeaseRenewInterval
        let firstBackoff: Swift.Duration = .milliseconds(200)
        var backoff = firstBackoff
        while !Task.isCancelled {
            do {
                try await renewLease()
                backoff = firstBackoff
                try? await Task.sleep(for: interval + interval * Double.random(in: 0..<0.04))
            } catch {
                log("unable to renew node lease: \(error)")
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, interval)
            }
        }
    }
}

// MARK: - providers

extension NodeHeartbeat {
    final class RuntimeStateBox: Sendable {
        let state = Mutex(RuntimeState())
    }

    final class ImagesBox: Sendable {
        let images = Mutex<[CoreV1.ContainerImage]>([])
    }

    /// Runtime health from a container runtime: each call asks for its `Status` and folds the answer
    /// into upstream's runtime state (a failed call changes nothing, so the runtime turns "down" once
    /// its last ready answer is older than 30 s).
    public static func runtimeHealthProvider(
        _ runtime: any ContainerRuntime, now: @escaping @Sendable () -> Time = NodeHeartbeat.wallClock
    ) -> @Sendable () async -> RuntimeHealth {
        let box = RuntimeStateBox()
        return {
            let at = now()
            if let answer = try? await runtime.status() {
                box.state.withLock { $0.record(answer.status, now: at) }
            }
            return box.state.withLock { $0.health(now: at) }
        }
    }

    /// The node's images from a container runtime, as `NodeStatusBuilder.images(from:)` lists them; a
    /// failed listing keeps the last one (upstream reads a cache).
    public static func imagesProvider(_ runtime: any ContainerRuntime, maxImages: Int = 50)
        -> @Sendable () async -> [CoreV1.ContainerImage]
    {
        let box = ImagesBox()
        return {
            if let list = try? await runtime.listImages() {
                let images = NodeStatusBuilder.images(from: list, maxImages: maxImages)
                box.images.withLock { $0 = images }
                return images
            }
            return box.images.withLock { $0 }
        }
    }
}
