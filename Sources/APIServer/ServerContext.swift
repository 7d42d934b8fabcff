import APIMachinery
import Foundation
import KubernetesAPI
import Storage
import Synchronization

/// What every resource store shares: the store, the cache feeder, gates, patch schemas, and the
/// cluster-wide pieces (namespace lifecycle, IP allocation, event leases).
final class ServerContext: @unchecked Sendable {
    let store: any StorageBackend
    let feeder: CacheFeeder
    let consistentReads: ConsistentReads
    let gates: FeatureGates
    let patchSchemas: PatchSchemas
    let scheme: Scheme
    let serviceIPs: IPAllocator
    let nodePorts: PortAllocator
    let eventTTL: Int64
    var stores: [GroupResource: any ResourceHandler] = [:]
    /// Custom resources, served as their definitions are established.
    private(set) var customResources: CustomResources!
    /// Dynamic admission: webhooks and admission policies.
    private(set) var admission: AdmissionControl!
    /// API aggregation: APIServices backed by extension servers.
    private(set) var aggregator: Aggregator!
    /// Logs, exec, attach, port-forward and proxies through to kubelets and pods.
    private(set) var connections: KubeletConnections!
    private let eventLease = Mutex<(id: LeaseID, granted: Date)?>(nil)

    init(
        store: any StorageBackend, scheme: Scheme, gates: FeatureGates, serviceCIDR: String,
        nodePortRange: ClosedRange<Int>,
        eventTTL: Int64
    ) throws {
        self.store = store
        self.scheme = scheme
        self.gates = gates
        self.eventTTL = eventTTL
        let feeder = CacheFeeder(store: store, prefix: "/registry/")
        self.feeder = feeder
        // A store behind a network round trip (etcd) shares each revision read among the
        // consistent reads that arrive meanwhile.
        let revisions: @Sendable () async throws -> Revision
        if store is any ProgressRequesting {
            let batcher = RevisionBatcher { try await store.currentRevision() }
            revisions = { try await batcher.currentRevision() }
        } else {
            revisions = { try await store.currentRevision() }
        }
        consistentReads = ConsistentReads(
            currentRevision: revisions,
            waitForCache: { rev, timeout in await feeder.wait(for: rev, timeout: timeout) },
            progress: store as? any ProgressRequesting)
        patchSchemas = PatchSchemas(facts: KubernetesAPI.patchFacts)
        guard let alloc = IPAllocator(cidr: serviceCIDR) else {
            throw APIError.badRequest("invalid --service-cluster-ip-range \(serviceCIDR)")
        }
        serviceIPs = alloc
        nodePorts = PortAllocator(range: nodePortRange)
        customResources = CustomResources(server: self)
        admission = AdmissionControl(server: self)
        aggregator = Aggregator(server: self)
        connections = KubeletConnections(context: self)
    }

    var namespaces: ResourceStore<CoreV1.Namespace> {
        stores[GroupResource(group: "", resource: "namespaces")] as! ResourceStore<CoreV1.Namespace>
    }

    func patchSchema(_ gvk: GroupVersionKind) -> PatchSchema? { patchSchemas.schema(for: gvk) }

    /// Upstream's NamespaceLifecycle admission: no creates in a missing or terminating namespace.
    func admitNamespace(_ ns: String) throws {
        guard let entry = namespaces.current("", ns) else {
            throw APIError.notFound(GroupResource(group: "", resource: "namespaces"), ns)
        }
        if entry.object.metadata.deletionTimestamp != nil || entry.object.status.phase == "Terminating" {
            throw APIError(
                code: 403, reason: "Forbidden",
                message: "unable to create new content in namespace \(ns) because it is being terminated",
                details: MetaV1.StatusDetails(
                    name: ns, kind: "namespaces",
                    causes: [
                        MetaV1.StatusCause(
                            reason: "NamespaceTerminating", message: "namespace \(ns) is being terminated",
                            field: "metadata.namespace")
                    ]))
        }
    }

    /// Events live for `--event-ttl`: events written within a short window share one lease, which
    /// lasts the TTL plus that window (so no event expires early).
    func lease(for gr: GroupResource) async throws -> LeaseID? {
        guard gr.resource == "events" else { return nil }
        let window = max(1, min(60, eventTTL / 10))
        if let l = eventLease.withLock({ $0 }), Date().timeIntervalSince(l.granted) < Double(window) { return l.id }
        let id = try await store.grantLease(ttlSeconds: eventTTL + window)
        eventLease.withLock { $0 = (id, Date()) }
        return id
    }

    /// Marks an object whose deletion has started (namespaces turn Terminating).
    func deletionHook<T>(_ gr: GroupResource, _ obj: inout T) {
        if gr.resource == "namespaces", gr.group.isEmpty, var ns = obj as? CoreV1.Namespace {
            ns.status.phase = "Terminating"
            obj = ns as! T
        }
        if gr == CustomResources.crdResource, var crd = obj as? CRD {
            if !crd.metadata.finalizers.contains(CustomResources.cleanupFinalizer) {
                crd.metadata.finalizers.append(CustomResources.cleanupFinalizer)
            }
            CustomResources.setCondition(
                &crd.status, "Terminating", "True", "InstanceDeletionPending",
                "CustomResourceDefinition marked for deletion; CustomResource deletion will begin soon")
            obj = crd as! T
        }
    }

    /// A resource served in a group-version: built in, or a custom resource.
    func resource(_ gvr: GroupVersionResource) -> ResourceDescription? {
        if let d = scheme.resource(gvr) { return d }
        return customResources.resource(gvr)
    }

    func isServed(_ gv: GroupVersion) -> Bool { scheme.isEnabled(gv) || customResources.isServed(gv) }

    func handler(_ gr: GroupResource) -> (any ResourceHandler)? { stores[gr] ?? customResources.handler(gr) }

}

/// Cluster IPs from the service CIDR: the first address is the `kubernetes` Service's.
final class IPAllocator: @unchecked Sendable {
    let base: UInt32
    let size: UInt32
    private let used = Mutex<Set<UInt32>>([])

    init?(cidr: String) {
        let parts = cidr.split(separator: "/")
        guard parts.count == 2, let bits = Int(parts[1]), bits >= 8, bits <= 30,
            let bytes = IPAddressBytes(String(parts[0])), bytes.count == 4
        else { return nil }
        let ip = bytes.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        let mask: UInt32 = bits == 0 ? 0 : ~UInt32(0) << (32 - UInt32(bits))
        base = ip & mask
        size = ~mask &+ 1
    }

    static func text(_ v: UInt32) -> String { "\(v >> 24).\((v >> 16) & 0xFF).\((v >> 8) & 0xFF).\(v & 0xFF)" }

    /// The first usable address (the `kubernetes` Service).
    var first: String { Self.text(base + 1) }

    func contains(_ ip: String) -> UInt32? {
        guard let b = IPAddressBytes(ip), b.count == 4 else { return nil }
        let v = b.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        guard v > base, v < base + size - 1 else { return nil }
        return v
    }

    /// Reserves `ip`, or a free address when nil; nil when taken or exhausted.
    func allocate(_ ip: String? = nil) -> String? {
        used.withLock { u in
            if let ip {
                guard let v = contains(ip), !u.contains(v) else { return nil }
                u.insert(v)
                return ip
            }
            let span = size - 2
            var candidate = base + 1 + UInt32.random(in: 0..<span)
            for _ in 0..<span {
                if !u.contains(candidate) && candidate != base + 1 {
                    u.insert(candidate)
                    return Self.text(candidate)
                }
                candidate = candidate + 1 >= base + size - 1 ? base + 2 : candidate + 1
            }
            return nil
        }
    }

    func markUsed(_ ip: String) {
        if let v = contains(ip) { used.withLock { _ = $0.insert(v) } }
    }

    func release(_ ip: String) {
        if let v = contains(ip) { used.withLock { _ = $0.remove(v) } }
    }

    /// Replaces what is known to be used with `ips` (the cluster-wide state).
    func reset(to ips: [String]) {
        let values = Set(ips.compactMap(contains))
        used.withLock { $0 = values }
    }
}

/// Node ports from `--service-node-port-range`.
final class PortAllocator: @unchecked Sendable {
    let range: ClosedRange<Int>
    private let used = Mutex<Set<Int>>([])

    init(range: ClosedRange<Int>) { self.range = range }

    func allocate(_ port: Int? = nil) -> Int? {
        used.withLock { u in
            if let port {
                guard range.contains(port), !u.contains(port) else { return nil }
                u.insert(port)
                return port
            }
            var p = Int.random(in: range)
            for _ in range {
                if !u.contains(p) {
                    u.insert(p)
                    return p
                }
                p = p == range.upperBound ? range.lowerBound : p + 1
            }
            return nil
        }
    }

    func markUsed(_ p: Int) { used.withLock { _ = $0.insert(p) } }
    func release(_ p: Int) { used.withLock { _ = $0.remove(p) } }

    /// Replaces what is known to be used with `ports` (the cluster-wide state).
    func reset(to ports: [Int]) {
        let values = Set(ports.filter(range.contains))
        used.withLock { $0 = values }
    }
}
