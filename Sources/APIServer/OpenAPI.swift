import APIMachinery
import Crypto
import Foundation
import KubernetesAPI
import NIOHTTP1

/// The OpenAPI documents, generated from the spec our types come from (descriptions removed):
/// `/openapi/v2` (one swagger document) and `/openapi/v3` (an index of per-path documents, each
/// addressed with its content hash). Only what the server serves is listed: `api`, `apis`,
/// `version`, and the groups and group-versions the scheme enables.
enum OpenAPIDocs {
    /// One document's bytes and its content hash (uppercase hex SHA-512, as upstream's ETag).
    struct Document: Sendable {
        var bytes: [UInt8]
        var hash: String

        init(_ bytes: [UInt8]) {
            self.bytes = bytes
            hash = SHA512.hash(data: bytes).map { hexDigits[Int($0 >> 4)] + hexDigits[Int($0 & 0xF)] }.joined()
        }
    }

    static let hexDigits = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "A", "B", "C", "D", "E", "F"]

    /// Every generated v3 document by its path under `/openapi/v3/`, hashed once on first use.
    static let v3: [String: Document] = {
        var out: [String: Document] = [:]
        for (key, json) in v3Documents { out[key] = Document(Array(json.utf8)) }
        return out
    }()

    /// When the documents were last modified: the time they were first served.
    static let lastModified: String = httpDate(time(nil))

    static let v2Cache = V2Cache()

    static func respond(_ path: String, _ r: HTTPRequest, server: ServerContext) throws -> HTTPResponse {
        try respond(path, r, scheme: server.scheme, custom: server.customResources.openAPI)
    }

    static func respond(
        _ path: String, _ r: HTTPRequest, scheme: Scheme,
        custom: CustomResourceOpenAPI.Published = CustomResourceOpenAPI.Published()
    ) throws -> HTTPResponse {
        guard r.method == .GET || r.method == .HEAD else { throw APIError.methodNotAllowed() }
        if path == "/openapi/v2" { return try v2Response(r, scheme: scheme, custom: custom) }
        if path == "/openapi/v3" { return index(r, scheme: scheme, custom: custom) }
        let prefix = "/openapi/v3/"
        guard path.hasPrefix(prefix) else { throw Router.notFound }
        let key = String(path.dropFirst(prefix.count))
        if let doc = custom.v3[key] { return try v3Response(key, doc, r) }
        guard isServed(key, scheme), let doc = v3[key] else { throw Router.notFound }
        return try v3Response(key, doc, r)
    }

    /// Whether a document key (`api/v1`, `apis/apps`, `apis/apps/v1`, `version`) is served.
    static func isServed(_ key: String, _ scheme: Scheme) -> Bool {
        let p = key.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        switch (p[0], p.count) {
        case ("api", 1), ("apis", 1), ("version", 1): return true
        case ("api", 2): return scheme.isEnabled(GroupVersion(group: "", version: p[1]))
        case ("apis", 2): return scheme.enabledGroupVersions.contains { $0.group == p[1] }
        case ("apis", 3): return scheme.isEnabled(GroupVersion(group: p[1], version: p[2]))
        default: return false
        }
    }

    /// `GET /openapi/v3`: `{"paths":{"<key>":{"serverRelativeURL":"/openapi/v3/<key>?hash=<HASH>"},…}}`.
    static func index(_ r: HTTPRequest, scheme: Scheme, custom: CustomResourceOpenAPI.Published) -> HTTPResponse {
        var w = JSONWriter()
        w.beginObject()
        w.key("paths")
        w.beginObject()
        var docs: [String: Document] = custom.v3
        for (key, doc) in v3 where isServed(key, scheme) && docs[key] == nil { docs[key] = doc }
        for key in docs.keys.sorted() {
            w.key(key)
            w.beginObject()
            w.key("serverRelativeURL")
            w.string("/openapi/v3/\(key)?hash=\(docs[key]!.hash)")
            w.endObject()
        }
        w.endObject()
        w.endObject()
        // Upstream serves the index through content sniffing, hence text/plain.
        let h: HTTPHeaders = [
            "Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-cache, private",
            "Accept-Ranges": "bytes", "Last-Modified": lastModified,
        ]
        return HTTPResponse(status: .ok, headers: h, body: .bytes(r.method == .HEAD ? [] : w.bytes))
    }

    enum Format { case json, protobuf }

    /// The v2 protobuf media type as clients ask for it, and as upstream labels the answer.
    static let v2ProtobufTypes = [
        "application/com.github.proto-openapi.spec.v2@v1.0+protobuf",
        "application/com.github.proto-openapi.spec.v2.v1.0+protobuf",
    ]
    static let v2ProtobufContentType = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"

    /// The first `Accept` clause we can answer (no header, or a wildcard, means JSON); nil: 406.
    static func negotiate(_ accept: String?, protobuf: [String]) -> Format? {
        guard let accept, !accept.trimmingCharacters(in: .whitespaces).isEmpty else { return .json }
        for clause in accept.split(separator: ",") {
            let params = clause.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            if params.dropFirst().contains(where: { $0.replacingOccurrences(of: " ", with: "") == "q=0" }) {
                continue
            }
            let type = params[0].lowercased()
            if type == "application/json" || type == "application/*" || type == "*/*" || type == "*" { return .json }
            if protobuf.contains(type) { return .protobuf }
        }
        return nil
    }

    static func v3Response(_ key: String, _ doc: Document, _ r: HTTPRequest) throws -> HTTPResponse {
        guard negotiate(r.headers.first(name: "accept"), protobuf: []) == .json else {
            return HTTPResponse(status: .notAcceptable, headers: ["Vary": "Accept"])
        }
        var h: HTTPHeaders = ["Vary": "Accept", "Etag": "\"\(doc.hash)\""]
        if let hash = r.query["hash"] {
            if hash != doc.hash {
                let location = "/openapi/v3/\(key)?hash=\(doc.hash)"
                h.add(name: "Location", value: location)
                h.add(name: "Content-Type", value: "text/html; charset=utf-8")
                h.add(name: "Cache-Control", value: "no-cache, private")
                let body = "<a href=\"\(location)\">Moved Permanently</a>.\n\n"
                return HTTPResponse(
                    status: .movedPermanently, headers: h, body: .bytes(r.method == .HEAD ? [] : Array(body.utf8)))
            }
            h.add(name: "Cache-Control", value: "public, immutable")
            h.add(name: "Expires", value: httpDate(time(nil) + 365 * 24 * 3600))
        } else {
            h.add(name: "Cache-Control", value: "no-cache, private")
        }
        return content(doc, contentType: "application/json", headers: h, r)
    }

    /// The body with the conditional-request handling upstream gets from `http.ServeContent`.
    static func content(_ doc: Document, contentType: String, headers: HTTPHeaders, _ r: HTTPRequest) -> HTTPResponse {
        var h = headers
        h.add(name: "Last-Modified", value: lastModified)
        if let inm = r.headers.first(name: "if-none-match"),
            inm.split(separator: ",").contains(where: {
                let t = $0.trimmingCharacters(in: .whitespaces)
                return t == "*" || t == "\"\(doc.hash)\"" || t == "W/\"\(doc.hash)\""
            })
        {
            return HTTPResponse(status: .notModified, headers: h)
        }
        h.add(name: "Content-Type", value: contentType)
        h.add(name: "Accept-Ranges", value: "bytes")
        return HTTPResponse(status: .ok, headers: h, body: .bytes(r.method == .HEAD ? [] : doc.bytes))
    }

    /// `GET /openapi/v2`: the swagger document with the paths and definitions of what is served.
    static func v2Response(_ r: HTTPRequest, scheme: Scheme, custom: CustomResourceOpenAPI.Published) throws
        -> HTTPResponse
    {
        guard let format = negotiate(r.headers.first(name: "accept"), protobuf: v2ProtobufTypes) else {
            return HTTPResponse(status: .notAcceptable, headers: ["Vary": "Accept"])
        }
        let doc = v2Cache.document(for: scheme, format, custom: custom)
        let h: HTTPHeaders = ["Vary": "Accept", "Etag": "\"\(doc.hash)\"", "Cache-Control": "no-cache, private"]
        return content(doc, contentType: format == .json ? "application/json" : v2ProtobufContentType, headers: h, r)
    }

    /// The generated v2 table, parsed once: top-level members in order, the filtered maps split.
    enum V2Part {
        case value(key: String, json: Substring)
        /// Members `"name":value`, each with the document keys that serve it (nil: always).
        case map(key: String, members: [(filter: [Substring]?, json: Substring)])
    }

    static let v2Parts: [V2Part] = {
        var parts: [V2Part] = []
        var members: [(filter: [Substring]?, json: Substring)] = []
        var mapKey: String?
        func closeMap() {
            if let k = mapKey { parts.append(.map(key: k, members: members)) }
            mapKey = nil
            members = []
        }
        for line in v2Table.split(separator: "\n") {
            let tag = line.first
            let rest = line.dropFirst(2)
            switch tag {
            case "T":
                closeMap()
                mapKey = String(rest)
            case "M":
                guard let tab = rest.firstIndex(of: "\t") else { continue }
                let filter = rest[..<tab]
                members.append((filter == "*" ? nil : filter.split(separator: ","), rest[rest.index(after: tab)...]))
            case "V":
                closeMap()
                guard let tab = rest.firstIndex(of: "\t") else { continue }
                parts.append(.value(key: String(rest[..<tab]), json: rest[rest.index(after: tab)...]))
            default: continue
            }
        }
        closeMap()
        return parts
    }()

    /// Assembles the v2 document for the set of served document keys.
    static func v2Document(serving served: Set<String>, extra: [String: [String]] = [:]) -> Document {
        var out: [UInt8] = []
        out.reserveCapacity(v2Table.utf8.count)
        out.append(UInt8(ascii: "{"))
        for (i, part) in v2Parts.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            switch part {
            case .value(let key, let json):
                out += Array("\"\(key)\":".utf8)
                out += Array(json.utf8)
            case .map(let key, let members):
                out += Array("\"\(key)\":{".utf8)
                var first = true
                for m in members {
                    if let f = m.filter, !f.contains(where: { served.contains(String($0)) }) { continue }
                    if !first { out.append(UInt8(ascii: ",")) }
                    first = false
                    out += Array(m.json.utf8)
                }
                for m in extra[key] ?? [] {
                    if !first { out.append(UInt8(ascii: ",")) }
                    first = false
                    out += Array(m.utf8)
                }
                out.append(UInt8(ascii: "}"))
            }
        }
        out.append(UInt8(ascii: "}"))
        return Document(out)
    }

    /// The v2 documents per set of served keys (one set per scheme in practice), built on first use.
    final class V2Cache: @unchecked Sendable {
        private let lock = NSLock()
        private var json: [Set<String>: Document] = [:]
        private var protobuf: [Set<String>: Document] = [:]
        /// With custom resources: the latest document per format and its generation.
        private var custom: [Format: (generation: Int, doc: Document)] = [:]

        func document(for scheme: Scheme, _ format: Format, custom published: CustomResourceOpenAPI.Published)
            -> Document
        {
            var served = Set(v3.keys.filter { isServed($0, scheme) })
            // Paths outside the v3 documents that the server also answers.
            served.insert("version")
            if published.generation > 0 {
                lock.lock()
                if let c = custom[format], c.generation == published.generation {
                    lock.unlock()
                    return c.doc
                }
                lock.unlock()
                let j = v2Document(
                    serving: served, extra: ["definitions": published.v2Definitions, "paths": published.v2Paths])
                let doc =
                    format == .json
                    ? j : Document(OpenAPIV2Protobuf.encode((try? JSONValue.parse(j.bytes)) ?? .object([])))
                lock.lock()
                custom[format] = (published.generation, doc)
                lock.unlock()
                return doc
            }
            lock.lock()
            defer { lock.unlock() }
            let j: Document
            if let d = json[served] {
                j = d
            } else {
                j = v2Document(serving: served)
                json[served] = j
            }
            if format == .json { return j }
            if let d = protobuf[served] { return d }
            let value = (try? JSONValue.parse(j.bytes)) ?? .object([])
            let p = Document(OpenAPIV2Protobuf.encode(value))
            protobuf[served] = p
            return p
        }
    }

    /// An RFC 7231 IMF-fixdate (`Mon, 02 Jan 2006 15:04:05 GMT`).
    static func httpDate(_ t: time_t) -> String {
        var t = t
        var tm = tm()
        gmtime_r(&t, &tm)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
        let date = "\(days[Int(tm.tm_wday)]), \(two(tm.tm_mday)) \(months[Int(tm.tm_mon)]) \(tm.tm_year + 1900)"
        return "\(date) \(two(tm.tm_hour)):\(two(tm.tm_min)):\(two(tm.tm_sec)) GMT"
    }
}
