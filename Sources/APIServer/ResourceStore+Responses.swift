import APIMachinery
import KubernetesAPI
import NIOHTTP1
import Storage

extension ResourceStore {
    func headers(_ format: WireFormat, warnings: [String]) -> HTTPHeaders {
        var h: HTTPHeaders = ["Content-Type": format.contentType, "Cache-Control": "no-cache, private"]
        for w in warnings { h.add(name: "Warning", value: "299 - \(GoQuote.quote(w))") }
        return h
    }

    /// Objects in the version a request asks for: as they are, unless a webhook converts them.
    func converted(_ items: [CachedObject<T>], _ version: String) async throws -> [CachedObject<T>] {
        guard let convert = webhookConversion, version != storageCodec.groupVersionKind.apiVersion, !items.isEmpty
        else { return items }
        let objects = try await convert(items.map(\.object), version)
        return zip(items, objects).map { item, o in
            var o = o
            o.metadata.resourceVersion = item.object.metadata.resourceVersion
            return CachedObject(key: item.key, object: o, revision: item.revision, fieldSet: item.fieldSet)
        }
    }

    /// One object in the negotiated format and shape.
    func respond(_ obj: CachedObject<T>, _ req: ResourceRequest, status: HTTPResponseStatus, warnings: [String] = [])
        async throws -> HTTPResponse
    {
        let obj = try await converted([obj], req.version)[0]
        let codec = self.codec(req.version)
        let f = req.response
        switch f.shape {
        case .table:
            let table = TableBuilder.table(
                for: [obj.object], resource: resource, codec: storageCodec,
                listMeta: MetaV1.ListMeta(resourceVersion: obj.object.metadata.resourceVersion),
                includeObject: req.query["includeObject"], columns: tableColumns[req.version])
            return try encodeRaw(table, kind: "Table", format: f.format, status: status, warnings: warnings)
        case .partialMetadata, .partialMetadataList:
            let pom = MetaV1.PartialObjectMetadata(
                kind: "PartialObjectMetadata", apiVersion: "meta.k8s.io/v1", metadata: obj.object.metadata)
            var w = JSONWriter()
            pom.encodeJSON(&w)
            return try encodeRaw(
                w.bytes, kind: "PartialObjectMetadata", format: f.format, status: status, warnings: warnings,
                proto: { ProtobufEnvelope.encode(pom) })
        case .object:
            break
        }
        let body: [UInt8]
        switch f.format {
        case .json:
            body =
                codec.typed(obj.encoding("json:" + req.version) { codec.itemJSON($0) }) + [0x0A]
        case .yaml:
            body = Array(try YAML.fromJSON(codec.objectJSON(obj.object)).utf8)
        case .protobuf:
            let gvk = codec.groupVersionKind
            body = ProtobufEnvelope.wrap(
                obj.encoding("pb:" + req.version) { codec.itemProto($0) }, apiVersion: gvk.apiVersion, kind: gvk.kind)
        }
        return HTTPResponse(status: status, headers: headers(f.format, warnings: warnings), body: .bytes(body))
    }

    /// JSON bytes of a non-resource object (Table, Scale, Status) in the negotiated format.
    func encodeRaw(
        _ json: [UInt8], kind: String, format: WireFormat, status: HTTPResponseStatus, warnings: [String] = [],
        proto: (() throws -> [UInt8])? = nil
    ) throws -> HTTPResponse {
        let body: [UInt8]
        var fmt = format
        switch format {
        case .json: body = json + [0x0A]
        case .yaml: body = Array(try YAML.fromJSON(json).utf8)
        case .protobuf:
            if let proto {
                body = try proto()
            } else {
                fmt = .json
                body = json + [0x0A]
            }
        }
        return HTTPResponse(status: status, headers: headers(fmt, warnings: warnings), body: .bytes(body))
    }

    func respondRaw(_ json: [UInt8], _ req: ResourceRequest, kind: String) throws -> HTTPResponse {
        let proto: (() throws -> [UInt8])? =
            kind == "Scale"
            ? {
                ProtobufEnvelope.encode(
                    try ObjectDecoding.decodeJSON(AutoscalingV1.Scale.self, json, track: false).object)
            }
            : nil
        return try encodeRaw(json, kind: kind, format: req.response.format, status: .ok, proto: proto)
    }

    func respondStatus(_ st: MetaV1.Status, _ req: ResourceRequest) throws -> HTTPResponse {
        var w = JSONWriter()
        st.encodeJSON(&w)
        return try encodeRaw(
            w.bytes, kind: "Status", format: req.response.format, status: .ok, proto: { ProtobufEnvelope.encode(st) })
    }

    /// A list in the negotiated format: items are spliced from their cached encodings.
    func respondList(
        _ items: [CachedObject<T>], revision: Revision, continue token: String?, remaining: Int64?,
        _ req: ResourceRequest
    ) async throws -> HTTPResponse {
        let items = req.response.shape == .object ? try await converted(items, req.version) : items
        let codec = self.codec(req.version)
        let gvk = codec.groupVersionKind
        var meta = MetaV1.ListMeta(resourceVersion: String(revision))
        if let token { meta.continue = token }
        meta.remainingItemCount = remaining
        let f = req.response
        switch f.shape {
        case .table:
            let json = TableBuilder.table(
                for: items.map(\.object), resource: resource, codec: storageCodec, listMeta: meta,
                includeObject: req.query["includeObject"], columns: tableColumns[req.version])
            return try encodeRaw(json, kind: "Table", format: f.format, status: .ok)
        case .partialMetadata, .partialMetadataList:
            var w = JSONWriter(capacity: 256 + items.count * 256)
            w.beginObject()
            w.key("kind")
            w.string("PartialObjectMetadataList")
            w.key("apiVersion")
            w.string("meta.k8s.io/v1")
            w.key("metadata")
            meta.encodeJSON(&w)
            w.key("items")
            w.beginArray()
            for i in items {
                MetaV1.PartialObjectMetadata(
                    kind: "PartialObjectMetadata", apiVersion: "meta.k8s.io/v1", metadata: i.object.metadata
                )
                .encodeJSON(&w)
            }
            w.endArray()
            w.endObject()
            let list = MetaV1.PartialObjectMetadataList(
                kind: "PartialObjectMetadataList", apiVersion: "meta.k8s.io/v1", metadata: meta,
                items: items.map { MetaV1.PartialObjectMetadata(metadata: $0.object.metadata) })
            return try encodeRaw(
                w.bytes, kind: "PartialObjectMetadataList", format: f.format, status: .ok,
                proto: { ProtobufEnvelope.encode(list) })
        case .object:
            break
        }
        let listKind = gvk.kind + "List"
        switch f.format {
        case .json, .yaml:
            var out: [UInt8] = []
            let tag = "json:" + req.version
            var size = 0
            let encoded = items.map { i -> [UInt8] in
                let b = i.encoding(tag) { codec.itemJSON($0) }
                size += b.count + 1
                return b
            }
            out.reserveCapacity(size + 256)
            var w = JSONWriter(capacity: 128)
            meta.encodeJSON(&w)
            out.append(contentsOf: "{\"kind\":\"\(listKind)\",\"apiVersion\":\"\(gvk.apiVersion)\",\"metadata\":".utf8)
            out.append(contentsOf: w.bytes)
            out.append(contentsOf: ",\"items\":[".utf8)
            for (n, b) in encoded.enumerated() {
                if n > 0 { out.append(UInt8(ascii: ",")) }
                out.append(contentsOf: b)
            }
            out.append(contentsOf: "]}\n".utf8)
            if f.format == .yaml {
                out = Array(try YAML.fromJSON(out).utf8)
            }
            return HTTPResponse(status: .ok, headers: headers(f.format, warnings: []), body: .bytes(out))
        case .protobuf:
            var w = APIMachinery.ProtoWriter(capacity: 256)
            w.message(0xA, meta)
            let tag = "pb:" + req.version
            for i in items {
                let b = i.encoding(tag) { codec.itemProto($0) }
                w.bytes(0x12, b)
            }
            let body = ProtobufEnvelope.wrap(w.bytes, apiVersion: gvk.apiVersion, kind: listKind)
            return HTTPResponse(status: .ok, headers: headers(.protobuf, warnings: []), body: .bytes(body))
        }
    }
}
