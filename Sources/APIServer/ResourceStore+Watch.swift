import APIMachinery
import Foundation
import KubernetesAPI
import NIOHTTP1
import Storage

extension ResourceStore {
    func watch(_ req: ResourceRequest) async throws -> HTTPResponse {
        let f = try filter(req)
        let rv = req.query["resourceVersion"] ?? ""
        let sendInitial = req.query["sendInitialEvents"].map { $0 == "true" || $0 == "1" }
        let bookmarks = req.query["allowWatchBookmarks"] == "true" || req.query["allowWatchBookmarks"] == "1"
        let timeout: Swift.Duration =
            req.query["timeoutSeconds"].flatMap(Int64.init).map { .seconds($0) }
            ?? .seconds(Int64.random(in: 1800...3600))
        if let s = sendInitial, s {
            if req.query["resourceVersionMatch"] != "NotOlderThan" {
                throw APIError.invalid(
                    GroupKind(group: "meta.k8s.io", kind: "ListOptions"), "",
                    [
                        .forbidden(
                            FieldPath("resourceVersionMatch"),
                            "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan")
                    ])
            }
            if !bookmarks {
                throw APIError.invalid(
                    GroupKind(group: "meta.k8s.io", kind: "ListOptions"), "",
                    [
                        .forbidden(
                            FieldPath("allowWatchBookmarks"),
                            "sendInitialEvents requires setting allowWatchBookmarks to true")
                    ])
            }
        }
        var from: Revision? = nil
        if sendInitial == true {
            if rv.isEmpty { _ = try await consistentRevision() } else { _ = try await awaitRevision(rv) }
        } else if rv.isEmpty {
            _ = try await consistentRevision()
        } else if rv != "0" {
            guard let n = Int64(rv) else { throw APIError.badRequest("invalid resource version \"\(rv)\"") }
            from = n
        }
        let codec = self.codec(req.version)
        let format = req.response.format
        let (id, start) = cache.watch(from: from, filter: f)
        var headers: HTTPHeaders = ["Cache-Control": "no-cache, private"]
        headers.add(
            name: "Content-Type",
            value: format == .protobuf ? "application/vnd.kubernetes.protobuf;stream=watch" : "application/json")
        guard case .stream(let events, let initial, let revision) = start else {
            guard case .tooOld(let oldest) = start else { fatalError() }
            let err = APIError(
                code: 410, reason: "Expired", message: "too old resource version: \(rv) (\(oldest - 1))")
            let body = encodeWatchError(err, format: format)
            return HTTPResponse(status: .ok, headers: headers, body: .bytes(body))
        }
        let (out, cont) = AsyncStream.makeStream(of: [UInt8].self)
        let cache = self.cache
        let version = req.version
        // A watch asked as a Table (kubectl get -w) gets each object as a one-row Table.
        let tableColumns: [TableBuilder.Column]?? =
            req.response.shape == .table ? .some(self.tableColumns[req.version]) : .none
        let includeObject = req.query["includeObject"]
        let encode: @Sendable (Event) -> [UInt8] = { [self] e in
            if let columns = tableColumns, e.type != .bookmark, let o = e.object {
                let table = TableBuilder.table(
                    for: [o.object], resource: self.resource, codec: self.storageCodec,
                    listMeta: MetaV1.ListMeta(resourceVersion: o.object.metadata.resourceVersion),
                    includeObject: includeObject, columns: columns)
                return Array("{\"type\":\"\(e.type.rawValue)\",\"object\":".utf8) + table + Array("}\n".utf8)
            }
            return self.encodeEvent(e, codec: codec, version: version, format: format)
        }
        let producer = Task {
            defer {
                cache.stopWatch(id)
                cont.finish()
            }
            let deadline = ContinuousClock.now.advanced(by: timeout)
            let convert = self.webhookConversion != nil && version != self.storageCodec.groupVersionKind.apiVersion
            /// The event in the watch's version; a failed conversion ends the watch with an error.
            func deliver(_ e: Event) async -> Bool {
                guard convert, let o = e.object else {
                    cont.yield(encode(e))
                    return true
                }
                do {
                    var c = e
                    c.object = try await self.converted([o], version)[0]
                    cont.yield(encode(c))
                    return true
                } catch {
                    let err = (error as? APIError) ?? APIError.internalError("\(error)")
                    cont.yield(self.encodeWatchError(err, format: format))
                    return false
                }
            }
            for e in initial where !(await deliver(e)) { return }
            if sendInitial == true {
                var end = Event(
                    type: .bookmark, object: nil, previous: nil, revision: max(revision, self.server.feeder.revision))
                end.initialEventsEnd = true
                cont.yield(self.encodeEvent(end, codec: codec, version: version, format: format))
            }
            // Bookmarks and the timeout come from a ticker that feeds the same ordered stream.
            let ticker = Task {
                var lastBookmark = ContinuousClock.now
                while !Task.isCancelled {
                    let now = ContinuousClock.now
                    if now >= deadline {
                        if bookmarks { cache.bookmark(id) }
                        cache.stopWatch(id)
                        return
                    }
                    if bookmarks && now - lastBookmark >= .seconds(15) {
                        cache.bookmark(id)
                        lastBookmark = now
                    }
                    // Sleep to the next bookmark or the deadline (not a fixed tick: an idle server
                    // holds a watch per informer of every component, and each tick woke all of them).
                    let nextBookmark = bookmarks ? lastBookmark + .seconds(15) - now : deadline - now
                    try? await Task.sleep(for: max(.milliseconds(10), min(nextBookmark, deadline - now)))
                }
            }
            defer { ticker.cancel() }
            for await e in events {
                if Task.isCancelled { break }
                if e.type == .bookmark && !bookmarks { continue }
                if !(await deliver(e)) { break }
            }
        }
        cont.onTermination = { _ in
            producer.cancel()
            cache.stopWatch(id)
        }
        return HTTPResponse(status: .ok, headers: headers, body: .stream(out))
    }

    typealias Event = CacheEvent<T>

    /// One watch event on the wire: a JSON line, or a length-prefixed protobuf WatchEvent whose
    /// object is the enveloped object. The object's encoding is cached and shared by all watchers.
    func encodeEvent(_ e: Event, codec: VersionCodec<T>, version: String, format: WireFormat) -> [UInt8] {
        let gvk = codec.groupVersionKind
        switch format {
        case .json, .yaml:
            var out: [UInt8] = Array("{\"type\":\"\(e.type.rawValue)\",\"object\":".utf8)
            if e.type == .bookmark {
                var w = JSONWriter()
                Self.bookmarkMeta(e).encodeJSON(&w)
                out += Array("{\"kind\":\"\(gvk.kind)\",\"apiVersion\":\"\(gvk.apiVersion)\",\"metadata\":".utf8)
                out += w.bytes
                out.append(UInt8(ascii: "}"))
            } else if let o = e.object {
                out += codec.typed(o.encoding("json:" + version) { codec.itemJSON($0) })
            }
            out += "}\n".utf8
            return out
        case .protobuf:
            let raw: [UInt8]
            if e.type == .bookmark {
                var w = APIMachinery.ProtoWriter()
                w.message(0x0A, Self.bookmarkMeta(e))
                raw = ProtobufEnvelope.wrap(w.bytes, apiVersion: gvk.apiVersion, kind: gvk.kind)
            } else if let o = e.object {
                raw = ProtobufEnvelope.wrap(
                    o.encoding("pb:" + version) { codec.itemProto($0) }, apiVersion: gvk.apiVersion, kind: gvk.kind)
            } else {
                raw = []
            }
            let ev = MetaV1.WatchEvent(type: e.type.rawValue, object: RawExtension(raw: raw))
            return Self.frame(ev.protoBytes())
        }
    }

    /// A bookmark's object is its kind with only metadata (the revision, and the initial-events-end
    /// annotation), as upstream writes it for kinds without required fields. It is written without
    /// the kind's own encoder and conversion: bookmarks reach every watcher of every kind every 15
    /// s, and running each kind's whole encoder for them kept megabytes of code resident.
    static func bookmarkMeta(_ e: Event) -> MetaV1.ObjectMeta {
        var m = MetaV1.ObjectMeta()
        m.resourceVersion = String(e.revision)
        if e.initialEventsEnd { m.annotations = ["k8s.io/initial-events-end": "true"] }
        return m
    }

    static func frame(_ b: [UInt8]) -> [UInt8] {
        let n = UInt32(b.count)
        return [UInt8(n >> 24), UInt8((n >> 16) & 0xFF), UInt8((n >> 8) & 0xFF), UInt8(n & 0xFF)] + b
    }

    func encodeWatchError(_ err: APIError, format: WireFormat) -> [UInt8] {
        var w = JSONWriter()
        err.status.encodeJSON(&w)
        if format == .protobuf {
            let ev = MetaV1.WatchEvent(type: "ERROR", object: RawExtension(raw: ProtobufEnvelope.encode(err.status)))
            return Self.frame(ev.protoBytes())
        }
        return Array("{\"type\":\"ERROR\",\"object\":".utf8) + w.bytes + Array("}\n".utf8)
    }
}
