import APICoordination
import APIMachinery
import Foundation
import KubeClient
import Synchronization

/// Leader election on a `coordination.k8s.io/v1` Lease with client-go's semantics: a candidate takes
/// the lease when it is free or when its record has not changed for `leaseDuration` of the
/// candidate's own clock (never comparing clocks across machines); the leader renews every
/// `retryPeriod`, and when it cannot renew within `renewDeadline` it stops leading.
public final class LeaderElector: Sendable {
    public struct Config: Sendable {
        public var namespace = "kube-system"
        public var name: String
        public var identity: String
        public var leaseDuration: Swift.Duration = .seconds(15)
        public var renewDeadline: Swift.Duration = .seconds(10)
        public var retryPeriod: Swift.Duration = .seconds(2)

        public init(name: String, identity: String) {
            self.name = name
            self.identity = identity
        }
    }

    struct Observed {
        var record: CoordinationV1.LeaseSpec?
        var time: ContinuousClock.Instant = .now
    }

    public let config: Config
    let client: KubeClient
    let observed = Mutex(Observed())
    let leading = Mutex(false)

    public init(client: KubeClient, config: Config) {
        self.client = client
        self.config = config
    }

    public var isLeader: Bool { leading.withLock { $0 } }

    /// A unique identity: the host name and a random suffix, as upstream's components make it.
    public static func defaultIdentity() -> String {
        ProcessInfo.processInfo.hostName + "_" + UUID().uuidString.lowercased()
    }

    /// Waits to become leader, runs `lead` while leading, and returns once leadership is lost (after
    /// `lead` has been cancelled and has returned) or the caller is cancelled.
    public func run(_ lead: @escaping @Sendable () async -> Void) async {
        // Acquire.
        while !Task.isCancelled {
            if await tryAcquireOrRenew() { break }
            try? await Task.sleep(for: jittered(config.retryPeriod))
        }
        if Task.isCancelled { return }
        leading.withLock { $0 = true }
        let work = Task { await lead() }
        // Renew until a renewal misses the deadline.
        var lastRenew = ContinuousClock.now
        renewing: while !Task.isCancelled {
            try? await Task.sleep(for: config.retryPeriod)
            while true {
                if Task.isCancelled { break renewing }
                if await tryAcquireOrRenew() {
                    lastRenew = .now
                    break
                }
                if ContinuousClock.now - lastRenew > config.renewDeadline { break renewing }
                try? await Task.sleep(for: config.retryPeriod / 4)
            }
        }
        leading.withLock { $0 = false }
        work.cancel()
        await work.value
        if Task.isCancelled { await release() }
    }

    func jittered(_ d: Duration) -> Duration { d + d * Double.random(in: 0..<1.2) }

    static func micro(_ d: Date) -> MicroTime {
        let t = d.timeIntervalSince1970
        return MicroTime(seconds: Int64(t.rounded(.down)), nanos: Int32((t - t.rounded(.down)) * 1e6) * 1000)
    }

    /// One attempt to take or keep the lease.
    func tryAcquireOrRenew() async -> Bool {
        let now = Date()
        let seconds = Int32(config.leaseDuration.components.seconds)
        do {
            let lease: CoordinationV1.Lease
            do {
                lease = try await client.get(CoordinationV1.Lease.self, config.name, namespace: config.namespace)
            } catch let e as StatusError where e.isNotFound {
                var l = CoordinationV1.Lease()
                l.metadata.name = config.name
                l.metadata.namespace = config.namespace
                l.spec.holderIdentity = config.identity
                l.spec.leaseDurationSeconds = seconds
                l.spec.acquireTime = Self.micro(now)
                l.spec.renewTime = Self.micro(now)
                l.spec.leaseTransitions = 0
                let created = try await client.create(l)
                observed.withLock { $0 = Observed(record: created.spec, time: .now) }
                return true
            }
            let current = lease.spec
            let seenAt = observed.withLock { o -> ContinuousClock.Instant in
                if o.record != current {
                    o.record = current
                    o.time = .now
                }
                return o.time
            }
            let holder = current.holderIdentity ?? ""
            let duration = Duration.seconds(Int64(current.leaseDurationSeconds ?? seconds))
            if !holder.isEmpty && holder != config.identity && seenAt + duration > ContinuousClock.now {
                return false
            }
            var next = lease
            next.spec.holderIdentity = config.identity
            next.spec.leaseDurationSeconds = seconds
            next.spec.renewTime = Self.micro(now)
            if holder != config.identity {
                next.spec.acquireTime = Self.micro(now)
                next.spec.leaseTransitions = (current.leaseTransitions ?? 0) + 1
            }
            let updated = try await client.update(next)
            observed.withLock { $0 = Observed(record: updated.spec, time: .now) }
            return true
        } catch {
            return false
        }
    }

    /// Gives the lease up on a clean stop, so another candidate need not wait for it to expire.
    func release() async {
        guard
            var lease = try? await client.get(CoordinationV1.Lease.self, config.name, namespace: config.namespace),
            lease.spec.holderIdentity == config.identity
        else { return }
        lease.spec.holderIdentity = nil
        lease.spec.leaseDurationSeconds = 1
        lease.spec.renewTime = Self.micro(Date())
        _ = try? await client.update(lease)
    }
}
