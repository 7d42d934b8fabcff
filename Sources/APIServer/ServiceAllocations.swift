import APIMachinery
import Foundation
import KubernetesAPI
import Storage

/// Cluster-wide claims of service cluster IPs and node ports, kept in the store so API servers
/// sharing it never hand out the same one. Each cluster IP is an IPAddress object named by the IP
/// (`/registry/ipaddresses/<ip>`), as upstream's allocator writes them; node ports are bits of
/// upstream's RangeAllocation at `/registry/ranges/servicenodeports` (bit i = first port + i, the
/// bitmap a big-endian integer), changed with compare-and-swap. The in-memory allocators pick
/// candidates; a claim that another server already holds sends the pick round again, and a pick
/// they refuse rebuilds them from the claims first (`resync`).
final class ServiceAllocations: @unchecked Sendable {
    static let nodePortKey = StorageKey("/registry/ranges/servicenodeports")
    let server: ServerContext

    init(server: ServerContext) { self.server = server }

    var ipStore: ResourceStore<NetworkingV1.IPAddress>? {
        server.stores[GroupResource(group: "networking.k8s.io", resource: "ipaddresses")]
            as? ResourceStore<NetworkingV1.IPAddress>
    }

    var serviceStore: ResourceStore<CoreV1.Service>? {
        server.stores[GroupResource(group: "", resource: "services")] as? ResourceStore<CoreV1.Service>
    }

    /// The node-port RangeAllocation stored at `kv` (an empty one when there is none yet).
    static func nodePortAllocation(_ kv: KeyValue?) throws -> CoreV1.RangeAllocation {
        guard let kv else { return CoreV1.RangeAllocation() }
        return try CoreV1.RangeAllocation(protoBytes: ProtobufEnvelope.unwrap(kv.value).raw)
    }

    /// Claims the service's cluster IPs; returns those another service already holds (claiming none then).
    func claimIPs(_ svc: CoreV1.Service) async throws -> [String] {
        guard let store = ipStore else { return [] }
        var claimed: [String] = []
        for ip in svc.spec.clusterIPs where ip != "None" && !ip.isEmpty {
            var obj = NetworkingV1.IPAddress()
            obj.metadata.name = ip
            obj.metadata.labels = [
                "ipaddress.kubernetes.io/ip-family": ip.contains(":") ? "IPv6" : "IPv4",
                "ipaddress.kubernetes.io/managed-by": "ipallocator.k8s.io",
            ]
            obj.spec.parentRef = NetworkingV1.ParentReference(
                group: "", resource: "services", namespace: svc.metadata.namespace, name: svc.metadata.name)
            do {
                _ = try await store.createObject(obj)
                claimed.append(ip)
            } catch let e as APIError where e.code == 409 {
                for c in claimed { await releaseIP(c) }
                return [ip]
            }
        }
        return []
    }

    /// Rebuilds the in-memory allocators from the store's state. Other API servers' claims and
    /// releases reach them only this way, so it runs whenever a pick is refused: a requested IP or
    /// port freed through another server is then found free, and a range that looked full is not.
    func resync() async throws {
        var ips: [String] = []
        var ports: [Int] = []
        if let store = ipStore { ips += try await store.freshList(.everything).items.map(\.name) }
        if let store = serviceStore {
            for s in try await store.freshList(.everything).items {
                ips += s.object.spec.clusterIPs
                ports += s.object.spec.ports.map { Int($0.nodePort) }.filter { $0 > 0 }
            }
        }
        let bits = Bitmap(
            bigEndian: try Self.nodePortAllocation(try await server.store.get(Self.nodePortKey, at: nil)).data)
        ports += (0..<bits.bytes.count * 8).filter { bits[$0] }.map { server.nodePorts.range.lowerBound + $0 }
        server.serviceIPs.reset(to: ips)
        server.nodePorts.reset(to: ports)
    }

    func releaseIP(_ ip: String) async {
        guard let store = ipStore else { return }
        var options = MetaV1.DeleteOptions()
        options.gracePeriodSeconds = 0
        _ = try? await store.deleteObject(namespace: "", name: ip, options: options)
    }

    /// Sets (or clears) the bits of `ports`; returns the ports already set by someone else when
    /// setting (changing nothing then).
    func updatePorts(_ ports: [Int], set: Bool) async throws -> [Int] {
        guard !ports.isEmpty else { return [] }
        let range = server.nodePorts.range
        for _ in 0..<32 {
            let cur = try await server.store.get(Self.nodePortKey, at: nil)
            var alloc = try Self.nodePortAllocation(cur)
            alloc.range = "\(range.lowerBound)-\(range.upperBound)"
            var bits = Bitmap(bigEndian: alloc.data)
            let offsets = ports.map { $0 - range.lowerBound }
            if set {
                let taken = zip(ports, offsets).filter { bits[$0.1] }.map(\.0)
                if !taken.isEmpty { return taken }
            }
            for o in offsets { bits[o] = set }
            alloc.data = bits.bigEndian
            let value = ProtobufEnvelope.wrap(alloc.protoBytes(), apiVersion: "v1", kind: "RangeAllocation")
            if let cur {
                if case .updated = try await server.store.update(
                    Self.nodePortKey, value: value, ifRevision: cur.modRevision, lease: nil)
                {
                    return []
                }
            } else if case .created = try await server.store.create(Self.nodePortKey, value: value, lease: nil) {
                return []
            }
        }
        throw APIError.internalError("node port allocation: too many concurrent changes")
    }
}

/// A set of small non-negative integers as upstream's allocator keeps it: a big integer whose bit i
/// means offset i is used, serialized big-endian without leading zero bytes.
struct Bitmap {
    /// Little-endian bytes: bit i is bit (i % 8) of byte i / 8.
    var bytes: [UInt8]

    init(bigEndian data: [UInt8]) { bytes = data.reversed() }

    var bigEndian: [UInt8] {
        var b = bytes
        while b.last == 0 { b.removeLast() }
        return b.reversed()
    }

    subscript(i: Int) -> Bool {
        get { i >= 0 && i / 8 < bytes.count && bytes[i / 8] & (1 << UInt8(i % 8)) != 0 }
        set {
            guard i >= 0 else { return }
            while bytes.count <= i / 8 { bytes.append(0) }
            if newValue { bytes[i / 8] |= 1 << UInt8(i % 8) } else { bytes[i / 8] &= ~(1 << UInt8(i % 8)) }
        }
    }
}
