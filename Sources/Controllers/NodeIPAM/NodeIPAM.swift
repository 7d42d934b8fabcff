import APICore
import APIMachinery
import ControllerRuntime
import Foundation
import Synchronization

/// The pod address ranges of a cluster CIDR: blocks of `maskSize` bits handed out in order, as
/// upstream's range allocator does (IPv4).
struct CIDRSet: Sendable {
    let base: UInt32
    let prefix: Int
    let maskSize: Int
    var used: Set<Int> = []

    init?(cidr: String, maskSize: Int) {
        let parts = cidr.split(separator: "/")
        guard parts.count == 2, let prefix = Int(parts[1]), let bytes = IPAddress.parse(String(parts[0])),
            bytes.count == 4, prefix <= maskSize, maskSize <= 32, maskSize - prefix <= 24
        else { return nil }
        let ip = bytes.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        base = prefix == 0 ? 0 : ip & (~UInt32(0) << UInt32(32 - prefix))
        self.prefix = prefix
        self.maskSize = maskSize
    }

    var count: Int { 1 << (maskSize - prefix) }

    func text(_ i: Int) -> String {
        let v = base + UInt32(i) << UInt32(32 - maskSize)
        return "\(v >> 24).\((v >> 16) & 0xFF).\((v >> 8) & 0xFF).\(v & 0xFF)/\(maskSize)"
    }

    /// The block index of a CIDR inside this set, when it is one of its blocks.
    func index(of cidr: String) -> Int? {
        let parts = cidr.split(separator: "/")
        guard parts.count == 2, Int(parts[1]) == maskSize, let b = IPAddress.parse(String(parts[0])), b.count == 4
        else { return nil }
        let v = b.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        guard v >= base, (v - base) >> UInt32(32 - maskSize) < UInt32(count) else { return nil }
        return Int((v - base) >> UInt32(32 - maskSize))
    }

    /// The lowest free block, marked used.
    mutating func allocate() -> String? {
        guard let i = (0..<count).first(where: { !used.contains($0) }) else { return nil }
        used.insert(i)
        return text(i)
    }

    mutating func occupy(_ cidr: String) { if let i = index(of: cidr) { used.insert(i) } }
    mutating func release(_ cidr: String) { if let i = index(of: cidr) { used.remove(i) } }
}

/// Upstream's node-ipam-controller with the RangeAllocator (`--allocate-node-cidrs`): every node gets
/// a `podCIDR` of `--node-cidr-mask-size` bits from `--cluster-cidr`; a deleted node's range is freed;
/// when the range is full the node gets a `CIDRNotAvailable` event.
public final class NodeIPAMController: Controller {
    let client: KubeClient
    let nodes: ObjectStore<CoreV1.Node>
    let nodeInformer: Informer<CoreV1.Node>
    let recorder: EventRecorder
    let queue = WorkQueue<ObjectKey>(name: "node_ipam")
    let cidrs: Mutex<CIDRSet>
    /// Ranges this controller gave nodes whose update its cache has not shown yet: a stale cached
    /// node without a `podCIDR` is not given a second one.
    let given = Mutex<[String: String]>([:])

    public init?(_ ctx: ControllerContext) {
        guard ctx.options.allocateNodeCIDRs,
            let set = CIDRSet(cidr: ctx.options.clusterCIDR, maskSize: ctx.options.nodeCIDRMaskSize)
        else { return nil }
        client = ctx.client
        recorder = ctx.recorder("cidrAllocator")
        nodeInformer = ctx.informers.informer(CoreV1.Node.self)
        nodes = nodeInformer.store
        cidrs = Mutex(set)
        nodeInformer.addHandler { [weak self] e in
            switch e {
            case .added(let n), .updated(_, let n):
                if n.spec.podCIDR.isEmpty {
                    self?.queue.add(ObjectKey(n.metadata))
                } else {
                    self?.given.withLock { _ = $0.removeValue(forKey: n.metadata.name) }
                }
            case .deleted(let n):
                let pending = self?.given.withLock { $0.removeValue(forKey: n.metadata.name) }
                self?.cidrs.withLock { s in
                    for c in n.spec.podCIDRs { s.release(c) }
                    if let pending { s.release(pending) }
                }
            }
        }
    }

    func sync(_ key: ObjectKey) async throws {
        guard let node = nodes.get(key), node.spec.podCIDR.isEmpty,
            given.withLock({ $0[node.metadata.name] == nil })
        else { return }
        guard let cidr = cidrs.withLock({ $0.allocate() }) else {
            recorder.normal(
                node, reason: "CIDRNotAvailable", note: "Node \(node.metadata.name) status is now: CIDRNotAvailable")
            queue.add(key, after: .seconds(30))
            return
        }
        do {
            _ = try await client.patch(
                CoreV1.Node.self, node.metadata.name, type: .merge,
                body: Array(#"{"spec":{"podCIDR":"\#(cidr)","podCIDRs":["\#(cidr)"]}}"#.utf8))
            given.withLock { $0[node.metadata.name] = cidr }
            recorder.normal(
                node, reason: "CIDRAssignmentSucceeded", note: "Node \(node.metadata.name) assigned \(cidr)")
        } catch {
            cidrs.withLock { $0.release(cidr) }
            throw error
        }
    }

    public func run() async {
        // Ranges already held count as used before anything is handed out.
        await nodeInformer.waitForSync()
        cidrs.withLock { s in for n in nodes.list() { for c in n.spec.podCIDRs { s.occupy(c) } } }
        await queue.runWorkers(1) { try await self.sync($0) }
    }
}
