import Foundation
import KubernetesAPI
import Storage

/// Upstream's lease endpoint reconciler: every API server keeps a key
/// `/registry/masterleases/<ip>` alive with a short lease and sets the `kubernetes` Endpoints
/// and EndpointSlice to the addresses whose keys are alive, so the Service lists every live server
/// and drops one that died once its lease runs out.
final class EndpointReconciler: @unchecked Sendable {
    static let prefix = "/registry/masterleases/"
    let server: ServerContext
    let ip: String
    let port: Int
    /// Lease TTL (upstream: 15 s) and reconcile interval (upstream: 10 s).
    let ttl: Int64
    let interval: Swift.Duration
    private var task: Task<Void, Never>?

    init(server: ServerContext, ip: String, port: Int) {
        self.server = server
        self.ip = ip
        self.port = port
        // Tests shorten the lease (K8SWIFT_MASTER_LEASE_TTL seconds) to see a dead server drop out sooner.
        let ttl = ProcessInfo.processInfo.environment["K8SWIFT_MASTER_LEASE_TTL"].flatMap(Int64.init) ?? 15
        self.ttl = max(2, ttl)
        interval = Swift.Duration.milliseconds(self.ttl * 1000 * 2 / 3)
    }

    func start() {
        task = Task.detached { [weak self] in
            while !Task.isCancelled {
                guard let interval = self?.interval else { return }
                try? await Task.sleep(for: interval)
                await self?.reconcile()
            }
        }
    }

    /// Refreshes this server's lease key, then points the `kubernetes` endpoints at every live one.
    func reconcile() async {
        let store = server.store
        let key = StorageKey(Self.prefix + ip)
        guard
            let endpoints = server.stores[GroupResource(group: "", resource: "endpoints")]
                as? ResourceStore<CoreV1.Endpoints>
        else { return }
        var record = CoreV1.Endpoints()
        record.metadata.name = ip
        record.subsets = [CoreV1.EndpointSubset(addresses: [CoreV1.EndpointAddress(ip: ip)])]
        let value = endpoints.storageBytes(record)
        do {
            let lease = try await store.grantLease(ttlSeconds: ttl)
            if let cur = try await store.get(key, at: nil) {
                _ = try await store.update(key, value: value, ifRevision: cur.modRevision, lease: lease)
            } else {
                _ = try await store.create(key, value: value, lease: lease)
            }
            let live = try await store.list(.prefix(Self.prefix), at: nil, limit: nil, continueAfter: nil)
            var ips = Set(live.items.map { String($0.key.rawValue.dropFirst(Self.prefix.count)) })
            ips.insert(ip)
            await Bootstrap.setKubernetesEndpoints(server, ips: ips.sorted(by: Self.ipOrder), port: port)
        } catch {
            FileHandle.standardError.write(Data("endpoint reconciler: \(error)\n".utf8))
        }
    }

    /// Removes this server from the endpoints (a clean shutdown).
    func stop() async {
        task?.cancel()
        _ = try? await server.store.delete(StorageKey(Self.prefix + ip), ifRevision: nil)
    }

    static func ipOrder(_ a: String, _ b: String) -> Bool {
        let x = a.split(separator: ".").compactMap { Int($0) }
        let y = b.split(separator: ".").compactMap { Int($0) }
        if x.count == 4 && y.count == 4 { return x.lexicographicallyPrecedes(y) }
        return a < b
    }
}
