import Foundation
import GRPCCore
import Storage
import Synchronization

/// `StorageBackend` over etcd's v3 gRPC API.
///
/// Creates are transactions on the key's absence (create revision 0), updates and conditional
/// deletes compare the key's mod revision, so concurrent API servers on one etcd see the same
/// optimistic concurrency as one server. Watches are etcd watches (one gRPC stream each) with
/// previous values, fragmented responses reassembled, and progress notifications turned into
/// progress marks where the server's version sends them in order with the events.
public final class EtcdStorage: StorageBackend, ProgressRequesting, @unchecked Sendable {
    let cluster: EtcdCluster
    let from: String
    let to: String
    let compactionKey: Data
    /// Watch streams that accept progress requests, by id.
    private let progressRequesters = Mutex<[Int: @Sendable () -> Void]>([:])
    private let nextWatch = Atomic<Int>(0)
    private let serverVersion = Mutex<String?>(nil)

    public init(options: EtcdOptions) throws {
        cluster = try EtcdCluster(options: options)
        from = options.keyPrefix.from
        to = options.keyPrefix.to
        compactionKey = Data(options.compactionKey.utf8)
    }

    public func close() { cluster.close() }

    // MARK: Keys

    func storeKey(_ key: String) -> Data {
        precondition(key.hasPrefix(from), "key \(key) outside \(from)")
        return Data((to + key.dropFirst(from.count)).utf8)
    }

    func callerKey(_ raw: Data) -> StorageKey {
        let s = String(decoding: raw, as: UTF8.self)
        return StorageKey(from + s.dropFirst(to.count))
    }

    func storeRange(_ range: KeyRange) -> (key: Data, end: Data) {
        let key = storeKey(range.start)
        if let end = range.end { return (key, storeKey(end)) }
        // No upper bound: every key under the mapped prefix (or every key at all).
        if to.isEmpty { return (key, Data([0])) }
        return (key, Data((KeyRange.prefix(to).end ?? "\u{0}").utf8))
    }

    func keyValue(_ kv: Mvccpb_KeyValue) -> KeyValue {
        KeyValue(
            key: callerKey(kv.key), value: [UInt8](kv.value), createRevision: kv.createRevision,
            modRevision: kv.modRevision, lease: kv.lease == 0 ? nil : kv.lease)
    }

    // MARK: Reads

    public func get(_ key: StorageKey, at revision: Revision?) async throws -> KeyValue? {
        var req = Etcdserverpb_RangeRequest()
        req.key = storeKey(key.rawValue)
        if let revision { req.revision = revision }
        let resp = try await cluster.call { e, o in try await e.kv.range(req, options: o) }
        return resp.kvs.first.map(keyValue)
    }

    public func list(_ range: KeyRange, at revision: Revision?, limit: Int?, continueAfter: StorageKey?) async throws
        -> ListPage
    {
        var req = Etcdserverpb_RangeRequest()
        let r = storeRange(range)
        req.key = continueAfter.map { storeKey($0.rawValue + "\u{0}") } ?? r.key
        req.rangeEnd = r.end
        if let revision { req.revision = revision }
        if let limit { req.limit = Int64(limit) }
        let resp: Etcdserverpb_RangeResponse
        do {
            resp = try await cluster.call { e, o in try await e.kv.range(req, options: o) }
        } catch StorageError.compacted {
            throw StorageError.compacted(requested: revision ?? 0, compacted: revision ?? 0)
        } catch StorageError.futureRevision {
            throw StorageError.futureRevision(requested: revision ?? 0, current: (try? await currentRevision()) ?? 0)
        }
        let items = resp.kvs.map(keyValue)
        return ListPage(
            items: items, revision: revision ?? resp.header.revision, hasMore: resp.more,
            remaining: max(0, Int(resp.count) - items.count))
    }

    public func count(_ range: KeyRange) async throws -> Int {
        var req = Etcdserverpb_RangeRequest()
        let r = storeRange(range)
        req.key = r.key
        req.rangeEnd = r.end
        req.countOnly = true
        let resp = try await cluster.call { e, o in try await e.kv.range(req, options: o) }
        return Int(resp.count)
    }

    /// A linearizable read of the store's revision (a quorum read of one key).
    public func currentRevision() async throws -> Revision {
        var req = Etcdserverpb_RangeRequest()
        req.key = Data((to.isEmpty ? "/" : to).utf8)
        req.countOnly = true
        let resp = try await cluster.call { e, o in try await e.kv.range(req, options: o) }
        return resp.header.revision
    }

    // MARK: Writes

    static func compare(_ key: Data, _ target: Etcdserverpb_Compare.CompareTarget, equals value: Int64)
        -> Etcdserverpb_Compare
    {
        var c = Etcdserverpb_Compare()
        c.key = key
        c.target = target
        c.result = .equal
        switch target {
        case .create: c.createRevision = value
        case .mod: c.modRevision = value
        default: c.version = value
        }
        return c
    }

    static func putOp(_ key: Data, _ value: [UInt8], _ lease: LeaseID?, prev: Bool) -> Etcdserverpb_RequestOp {
        var put = Etcdserverpb_PutRequest()
        put.key = key
        put.value = Data(value)
        put.lease = lease ?? 0
        put.prevKv = prev
        var op = Etcdserverpb_RequestOp()
        op.requestPut = put
        return op
    }

    static func rangeOp(_ key: Data) -> Etcdserverpb_RequestOp {
        var r = Etcdserverpb_RangeRequest()
        r.key = key
        var op = Etcdserverpb_RequestOp()
        op.requestRange = r
        return op
    }

    public func create(_ key: StorageKey, value: [UInt8], lease: LeaseID?) async throws -> CreateResult {
        let k = storeKey(key.rawValue)
        var txn = Etcdserverpb_TxnRequest()
        txn.compare = [Self.compare(k, .create, equals: 0)]
        txn.success = [Self.putOp(k, value, lease, prev: false)]
        txn.failure = [Self.rangeOp(k)]
        let resp = try await cluster.call { e, o in try await e.kv.txn(txn, options: o) }
        if resp.succeeded {
            let rev = resp.header.revision
            return .created(KeyValue(key: key, value: value, createRevision: rev, modRevision: rev, lease: lease))
        }
        guard let cur = resp.responses.first?.responseRange.kvs.first else {
            // Deleted between the compare and the read: report it as existing at the txn's revision.
            throw StorageError.unavailable("create of \(key) lost a race with a delete; retry")
        }
        return .alreadyExists(current: keyValue(cur))
    }

    public func update(_ key: StorageKey, value: [UInt8], ifRevision expected: Revision, lease: LeaseID?) async throws
        -> UpdateResult
    {
        let k = storeKey(key.rawValue)
        var txn = Etcdserverpb_TxnRequest()
        txn.compare = [Self.compare(k, .mod, equals: expected)]
        txn.success = [Self.putOp(k, value, lease, prev: true)]
        txn.failure = [Self.rangeOp(k)]
        let resp = try await cluster.call { e, o in try await e.kv.txn(txn, options: o) }
        if resp.succeeded {
            let rev = resp.header.revision
            let prev = resp.responses.first?.responsePut.prevKv
            return .updated(
                KeyValue(
                    key: key, value: value, createRevision: prev?.createRevision ?? rev, modRevision: rev,
                    lease: lease))
        }
        return .conflict(current: resp.responses.first?.responseRange.kvs.first.map(keyValue))
    }

    public func delete(_ key: StorageKey, ifRevision expected: Revision?) async throws -> DeleteResult {
        let k = storeKey(key.rawValue)
        var del = Etcdserverpb_DeleteRangeRequest()
        del.key = k
        del.prevKv = true
        guard let expected else {
            let resp = try await cluster.call { e, o in try await e.kv.deleteRange(del, options: o) }
            guard let prev = resp.prevKvs.first else { return .notFound }
            return .deleted(previous: keyValue(prev), revision: resp.header.revision)
        }
        var op = Etcdserverpb_RequestOp()
        op.requestDeleteRange = del
        var txn = Etcdserverpb_TxnRequest()
        txn.compare = [Self.compare(k, .mod, equals: expected)]
        txn.success = [op]
        txn.failure = [Self.rangeOp(k)]
        let resp = try await cluster.call { e, o in try await e.kv.txn(txn, options: o) }
        if resp.succeeded {
            guard let prev = resp.responses.first?.responseDeleteRange.prevKvs.first else { return .notFound }
            return .deleted(previous: keyValue(prev), revision: resp.header.revision)
        }
        guard let cur = resp.responses.first?.responseRange.kvs.first else { return .notFound }
        return .conflict(current: keyValue(cur))
    }

    public func compact(through revision: Revision) async throws {
        var req = Etcdserverpb_CompactionRequest()
        req.revision = revision
        do {
            _ = try await cluster.call { e, o in try await e.kv.compact(req, options: o) }
        } catch StorageError.compacted {
            // Already compacted at or past this revision (another API server's compactor).
        }
    }

    /// Takes a turn on the compaction key: the round whose count matches the key's version writes
    /// the revision it compacts through there and compacts; a server that lost the race learns
    /// the count and waits for the next interval. The first round only records a revision.
    public func compactionRound(_ last: CompactionRound) async throws -> CompactionRound {
        var txn = Etcdserverpb_TxnRequest()
        txn.compare = [Self.compare(compactionKey, .version, equals: last.turn)]
        txn.success = [Self.putOp(compactionKey, Array(String(last.revision).utf8), nil, prev: false)]
        txn.failure = [Self.rangeOp(compactionKey)]
        let resp = try await cluster.call { e, o in try await e.kv.txn(txn, options: o) }
        let now = resp.header.revision
        guard resp.succeeded else {
            let turn = resp.responses.first?.responseRange.kvs.first?.version ?? 0
            return CompactionRound(turn: turn, revision: now)
        }
        if last.revision > 0 { try await compact(through: last.revision) }
        return CompactionRound(turn: last.turn + 1, revision: now)
    }

    public func grantLease(ttlSeconds: Int64) async throws -> LeaseID {
        var req = Etcdserverpb_LeaseGrantRequest()
        req.ttl = ttlSeconds
        let resp = try await cluster.call { e, o in try await e.lease.leaseGrant(req, options: o) }
        if !resp.error.isEmpty { throw StorageError.unavailable("etcd lease grant: \(resp.error)") }
        return resp.id
    }

    // MARK: Server facts

    /// The version etcd reports (Maintenance.Status), e.g. `3.4.23`.
    public func version() async throws -> String {
        if let v = serverVersion.withLock({ $0 }) { return v }
        let resp = try await cluster.call { e, o in
            try await e.maintenance.status(Etcdserverpb_StatusRequest(), options: o)
        }
        serverVersion.withLock { $0 = resp.version }
        return resp.version
    }

    /// Whether requested progress notifications of this etcd version are ordered with the watch's
    /// events (etcd fixed that in 3.4.31, 3.5.13 and 3.6.0); older servers may send one before
    /// the events it claims to cover.
    public static func progressIsOrdered(version: String) -> Bool {
        let parts = version.split(separator: ".").map { Int($0.prefix(while: \.isNumber)) ?? 0 }
        guard parts.count >= 3 else { return false }
        let (major, minor, patch) = (parts[0], parts[1], parts[2])
        if major != 3 { return major > 3 }
        switch minor {
        case ..<4: return false
        case 4: return patch >= 31
        case 5: return patch >= 13
        default: return true
        }
    }

    /// Whether `requestProgress` yields trustworthy progress marks on this server.
    public func requestedProgressIsOrdered() async -> Bool {
        guard let v = try? await version() else { return false }
        return Self.progressIsOrdered(version: v)
    }

    /// Asks etcd for a progress notification on every open watch. Only servers where
    /// `requestedProgressIsOrdered` holds turn the answers into progress marks.
    public func requestProgress() {
        let all = progressRequesters.withLock { Array($0.values) }
        for r in all { r() }
    }

    // MARK: Watch

    public func watch(_ range: KeyRange, from revision: Revision) -> AsyncThrowingStream<WatchEvent, any Error> {
        watch(range, from: revision, previousValues: true)
    }

    public func watch(_ range: KeyRange, from revision: Revision, previousValues: Bool) -> AsyncThrowingStream<
        WatchEvent, any Error
    > {
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: WatchEvent.self, throwing: (any Error).self)
        let id = nextWatch.wrappingAdd(1, ordering: .relaxed).newValue
        let (requests, requestSink) = AsyncStream.makeStream(of: Etcdserverpb_WatchRequest.self)
        var create = Etcdserverpb_WatchCreateRequest()
        let r = storeRange(range)
        create.key = r.key
        create.rangeEnd = r.end
        create.startRevision = revision + 1
        create.progressNotify = true
        create.prevKv = previousValues
        create.fragment = true
        var first = Etcdserverpb_WatchRequest()
        first.createRequest = create
        requestSink.yield(first)
        let task = Task { [weak self] in
            guard let self else { return }
            let trustRequested = await self.requestedProgressIsOrdered()
            self.progressRequesters.withLock {
                $0[id] = {
                    var p = Etcdserverpb_WatchRequest()
                    p.progressRequest = Etcdserverpb_WatchProgressRequest()
                    requestSink.yield(p)
                }
            }
            defer { _ = self.progressRequesters.withLock { $0.removeValue(forKey: id) } }
            let endpoint = self.cluster.watchEndpoint
            var options = self.cluster.callOptions
            options.timeout = nil
            do {
                try await endpoint.watch.watch(
                    options: options,
                    requestProducer: { writer in
                        for await req in requests { try await writer.write(req) }
                    },
                    onResponse: { response in
                        try await self.consume(
                            response.messages, from: revision, trustRequested: trustRequested, into: continuation)
                    })
                continuation.finish(throwing: StorageError.unavailable("etcd watch ended"))
            } catch let e as RPCError {
                if e.code == .unavailable { self.cluster.rotate(from: endpoint) }
                continuation.finish(throwing: EtcdCluster.translate(e))
            } catch {
                continuation.finish(throwing: error)
            }
        }
        continuation.onTermination = { _ in
            requestSink.finish()
            task.cancel()
        }
        return stream
    }

    /// Turns watch responses into events: reassembles fragments, reports cancellation for
    /// compaction, and passes progress notifications on when they are trustworthy.
    private func consume(
        _ messages: RPCAsyncSequence<Etcdserverpb_WatchResponse, any Error>, from revision: Revision,
        trustRequested: Bool, into continuation: AsyncThrowingStream<WatchEvent, any Error>.Continuation
    ) async throws {
        var watchID: Int64? = nil
        var fragments: [Mvccpb_Event] = []
        for try await resp in messages {
            if resp.created {
                watchID = resp.watchID
                if !resp.canceled { continue }
            }
            if resp.canceled {
                if resp.compactRevision > 0 {
                    continuation.finish(
                        throwing: StorageError.compacted(requested: revision, compacted: resp.compactRevision))
                } else {
                    continuation.finish(
                        throwing: StorageError.unavailable("etcd canceled the watch: \(resp.cancelReason)"))
                }
                return
            }
            if resp.fragment {
                fragments.append(contentsOf: resp.events)
                continue
            }
            var events = resp.events
            if !fragments.isEmpty {
                events = fragments + events
                fragments = []
            }
            if events.isEmpty {
                // A progress notification: periodic ones carry our watch id and travel with the
                // events; requested ones (watch id -1) are ordered only on fixed servers.
                let periodic = watchID != nil && resp.watchID == watchID
                if periodic || trustRequested { continuation.yield(.progress(resp.header.revision)) }
                continue
            }
            for e in events {
                switch e.type {
                case .delete:
                    let prev =
                        e.hasPrevKv
                        ? keyValue(e.prevKv)
                        : KeyValue(
                            key: callerKey(e.kv.key), value: [], createRevision: 0, modRevision: 0, lease: nil)
                    continuation.yield(.delete(previous: prev, revision: e.kv.modRevision))
                default:
                    continuation.yield(.put(keyValue(e.kv), previous: e.hasPrevKv ? keyValue(e.prevKv) : nil))
                }
            }
            // etcd sends all events of a revision in one response: after it, its last revision is
            // complete, which a transaction touching several keys otherwise leaves open.
            continuation.yield(.progress(events[events.count - 1].kv.modRevision))
        }
    }
}
