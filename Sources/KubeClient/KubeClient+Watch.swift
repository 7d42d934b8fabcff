import APIMachinery

/// One event of a watch, decoded.
public enum WatchEvent<T: Sendable>: Sendable {
    case added(T)
    case modified(T)
    case deleted(T)
    /// A progress mark: everything up to this resourceVersion has been sent; `initialEventsEnd` marks
    /// the end of a watch-list's initial state.
    case bookmark(resourceVersion: String, initialEventsEnd: Bool)
    /// The server ended the watch with a Status (410 Gone when the resourceVersion is too old).
    case error(StatusError)
}

/// Splits a watch body into events: newline-delimited JSON, or 4-byte big-endian length-prefixed
/// protobuf `WatchEvent`s.
struct WatchFramer {
    let protobuf: Bool
    var buffer: [UInt8] = []
    var start = 0

    init(protobuf: Bool) { self.protobuf = protobuf }

    /// Adds bytes and returns every frame now complete.
    mutating func push(_ chunk: [UInt8]) -> [[UInt8]] {
        buffer.append(contentsOf: chunk)
        var out: [[UInt8]] = []
        if protobuf {
            while buffer.count - start >= 4 {
                let n =
                    Int(buffer[start]) << 24 | Int(buffer[start + 1]) << 16 | Int(buffer[start + 2]) << 8
                    | Int(buffer[start + 3])
                guard buffer.count - start - 4 >= n else { break }
                out.append(Array(buffer[(start + 4)..<(start + 4 + n)]))
                start += 4 + n
            }
        } else {
            var i = start
            while let nl = buffer[i...].firstIndex(of: 0x0A) {
                if nl > start { out.append(Array(buffer[start..<nl])) }
                start = nl + 1
                i = start
            }
        }
        if start > 0 && start >= buffer.count / 2 {
            buffer.removeFirst(start)
            start = 0
        }
        return out
    }

    /// What is left when the stream ends: a last JSON event without its newline.
    mutating func finish() -> [UInt8]? {
        let rest = Array(buffer[start...])
        buffer = []
        start = 0
        return !protobuf && rest.contains(where: { $0 > 0x20 }) ? rest : nil
    }
}

extension KubeClient {
    /// Watches a kind in one namespace (or all): the events after `options.resourceVersion`, until the
    /// server ends the watch (its timeout) or the caller stops iterating. Throws the server's Status when
    /// the watch is refused outright.
    public func watch<T: KubeObject>(
        _: T.Type, at location: ResourceLocation? = nil, namespace: String? = nil,
        options: ListOptions = ListOptions(), accept: String? = nil
    ) async throws -> AsyncThrowingStream<WatchEvent<T>, any Error> {
        let location = try location ?? ResourceLocation(try resource(for: T.self))
        var q = options.query
        q.append(("watch", "true"))
        let resp = try await checked(
            KubeRequest(
                path: location.path(namespace: namespace), query: q,
                headers: [accept.map { (name: "Accept", value: $0) } ?? acceptHeader], streaming: true))
        let protobuf = resp.header("Content-Type")?.hasPrefix(Self.protobufType) == true
        guard let chunks = resp.stream else {
            // A transport that answered whole (never for 200 over HTTP): decode what is there.
            return Self.events(
                T.self,
                from: AsyncThrowingStream { c in
                    c.yield(resp.body)
                    c.finish()
                }, protobuf: protobuf)
        }
        return Self.events(T.self, from: chunks, protobuf: protobuf)
    }

    static func events<T: KubeObject>(
        _: T.Type, from chunks: AsyncThrowingStream<[UInt8], any Error>, protobuf: Bool
    ) -> AsyncThrowingStream<WatchEvent<T>, any Error> {
        AsyncThrowingStream { continuation in
            let task = Task {
                var framer = WatchFramer(protobuf: protobuf)
                do {
                    for try await chunk in chunks {
                        for frame in framer.push(chunk) {
                            continuation.yield(try decodeEvent(T.self, frame, protobuf: protobuf))
                        }
                    }
                    if let last = framer.finish() {
                        continuation.yield(try decodeEvent(T.self, last, protobuf: protobuf))
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    static func decodeEvent<T: KubeObject>(_: T.Type, _ frame: [UInt8], protobuf: Bool) throws -> WatchEvent<T> {
        let ev: MetaV1.WatchEvent =
            protobuf
            ? try MetaV1.WatchEvent(protoBytes: frame) : try JSONReader.decode(MetaV1.WatchEvent.self, from: frame)
        let raw = ev.object.raw ?? []
        let contentType = protobuf ? protobufType : "application/json"
        switch ev.type {
        case "ERROR":
            let st = try decodeStatus(raw, contentType: contentType)
            return .error(StatusError(code: Int(st.code), status: st))
        case "BOOKMARK":
            // Only the metadata matters: read it kind-agnostically, so the kind's own decoder stays
            // untouched (bookmarks come every 15 s on every watch).
            let obj = try decode(MetaV1.PartialObjectMetadata.self, raw, contentType: contentType)
            return .bookmark(
                resourceVersion: obj.metadata.resourceVersion,
                initialEventsEnd: obj.metadata.annotations["k8s.io/initial-events-end"] == "true")
        default:
            var obj = try decode(T.self, raw, contentType: contentType)
            obj.setTypeMeta()
            switch ev.type {
            case "ADDED": return .added(obj)
            case "MODIFIED": return .modified(obj)
            case "DELETED": return .deleted(obj)
            default: throw JSONDecodingError("unknown watch event type \(ev.type)")
            }
        }
    }
}
