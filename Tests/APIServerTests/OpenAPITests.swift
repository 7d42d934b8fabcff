import APIMachinery
import Foundation
import KubernetesAPI
import NIOHTTP1
import Testing

@testable import APIServer

/// The committed API facts the documents are generated from (api/openapi: upstream's OpenAPI documents
/// as `k8swift-codegen import` keeps them).
func upstreamSpec(_ relative: String) throws -> Any {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    let path = root.appendingPathComponent("api/openapi/\(relative)").path
    let data = try #require(FileManager.default.contents(atPath: path))
    return try JSONSerialization.jsonObject(with: data)
}

/// Every string-valued `description` member (a prose description) under `value`, by path; an object
/// member named `description` (a property of that name) is not one.
func descriptions(_ value: Any, _ path: String = "") -> [String] {
    var out: [String] = []
    if let o = value as? [String: Any] {
        if o["description"] is String { out.append(path) }
        for (k, v) in o { out += descriptions(v, path + "/" + k) }
    } else if let a = value as? [Any] {
        for (i, v) in a.enumerated() { out += descriptions(v, "\(path)/\(i)") }
    }
    return out
}

func get(_ uri: String, accept: String? = nil, scheme: Scheme = KubernetesAPI.scheme()) throws -> HTTPResponse {
    var headers: HTTPHeaders = [:]
    if let accept { headers.add(name: "Accept", value: accept) }
    let r = HTTPRequest(method: .GET, uri: uri, headers: headers, body: [])
    return try OpenAPIDocs.respond(r.path, r, scheme: scheme)
}

func bodyBytes(_ r: HTTPResponse) -> [UInt8] {
    if case .bytes(let b) = r.body { return b }
    return []
}

func bodyJSON(_ r: HTTPResponse) throws -> [String: Any] {
    try #require(try JSONSerialization.jsonObject(with: Data(bodyBytes(r))) as? [String: Any])
}

/// A protobuf message's fields: number → each occurrence's payload (length-delimited bytes only).
func protoFields(_ bytes: ArraySlice<UInt8>) -> [Int: [ArraySlice<UInt8>]] {
    var out: [Int: [ArraySlice<UInt8>]] = [:]
    var i = bytes.startIndex
    func varint() -> UInt64 {
        var v: UInt64 = 0
        var shift: UInt64 = 0
        while i < bytes.endIndex {
            let b = bytes[i]
            i += 1
            v |= UInt64(b & 0x7F) << shift
            if b < 0x80 { break }
            shift += 7
        }
        return v
    }
    while i < bytes.endIndex {
        let key = varint()
        switch key & 7 {
        case 0: _ = varint()
        case 1: i += 8
        case 2:
            let n = Int(varint())
            out[Int(key >> 3), default: []].append(bytes[i..<i + n])
            i += n
        case 5: i += 4
        default: return out
        }
    }
    return out
}

/// The value (field 2) of the `Named…` entry (field 1 = name) called `name` among `entries`.
func named(_ entries: [ArraySlice<UInt8>]?, _ name: String) -> ArraySlice<UInt8>? {
    for e in entries ?? [] {
        let f = protoFields(e)
        if let n = f[1]?.first, String(decoding: n, as: UTF8.self) == name { return f[2]?.first }
    }
    return nil
}

@Suite("OpenAPI documents")
struct OpenAPITests {
    @Test("no served v3 document or the v2 document keeps an upstream description")
    func noDescriptions() throws {
        // Nor do the committed facts they are generated from (the importer removes them).
        #expect(descriptions(try upstreamSpec("v3/api__v1_openapi.json")).isEmpty)
        #expect(descriptions(try upstreamSpec("swagger.json")).isEmpty)
        let index = try bodyJSON(try get("/openapi/v3"))
        let paths = try #require(index["paths"] as? [String: [String: String]])
        #expect(paths.count > 10)
        for (key, entry) in paths {
            let url = try #require(entry["serverRelativeURL"])
            let doc = try bodyJSON(try get(url))
            #expect(descriptions(doc).isEmpty, "\(key): \(descriptions(doc).prefix(3))")
        }
        let v2 = try bodyJSON(try get("/openapi/v2", accept: "application/json"))
        #expect(descriptions(v2).isEmpty)
        // A property that is named `description` is a fact and stays.
        let defs = try #require(v2["definitions"] as? [String: [String: Any]])
        let priorityClass = try #require(
            defs["io.k8s.api.scheduling.v1.PriorityClass"]?["properties"] as? [String: Any])
        #expect(priorityClass["description"] is [String: Any])
    }

    @Test("the Deployment schema keeps upstream's x-kubernetes-group-version-kind")
    func groupVersionKind() throws {
        let upstream = try #require(upstreamSpec("v3/apis__apps__v1_openapi.json") as? [String: Any])
        let name = "io.k8s.api.apps.v1.Deployment"
        let expected = try #require(
            ((upstream["components"] as? [String: Any])?["schemas"] as? [String: [String: Any]])?[name]?[
                "x-kubernetes-group-version-kind"] as? [[String: String]])
        #expect(expected == [["group": "apps", "kind": "Deployment", "version": "v1"]])
        let doc = try bodyJSON(try get("/openapi/v3/apis/apps/v1"))
        let ours =
            ((doc["components"] as? [String: Any])?["schemas"] as? [String: [String: Any]])?[name]?[
                "x-kubernetes-group-version-kind"] as? [[String: String]]
        #expect(ours == expected)
    }

    @Test("PodSpec.containers keeps its patch merge key in v3, v2 JSON and v2 protobuf")
    func patchMergeKey() throws {
        let upstreamV3 = try #require(upstreamSpec("v3/api__v1_openapi.json") as? [String: Any])
        let upstreamV2 = try #require(upstreamSpec("swagger.json") as? [String: Any])
        func containers(_ schemas: Any?) -> [String: Any]? {
            let podSpec = (schemas as? [String: [String: Any]])?["io.k8s.api.core.v1.PodSpec"]
            return (podSpec?["properties"] as? [String: Any])?["containers"] as? [String: Any]
        }
        let expected = try #require(
            containers((upstreamV3["components"] as? [String: Any])?["schemas"])?["x-kubernetes-patch-merge-key"]
                as? String)
        #expect(expected == "name")
        #expect(containers(upstreamV2["definitions"])?["x-kubernetes-patch-merge-key"] as? String == expected)

        let v3 = try bodyJSON(try get("/openapi/v3/api/v1"))
        let c3 = try #require(containers((v3["components"] as? [String: Any])?["schemas"]))
        #expect(c3["x-kubernetes-patch-merge-key"] as? String == expected)
        #expect(c3["x-kubernetes-patch-strategy"] as? String == "merge")

        let v2 = try bodyJSON(try get("/openapi/v2"))
        #expect(containers(v2["definitions"])?["x-kubernetes-patch-merge-key"] as? String == expected)

        // Document.definitions(9) → NamedSchema → Schema.properties(25) → NamedSchema →
        // Schema.vendor_extension(31) → NamedAny → Any.yaml(2).
        let pb = try get("/openapi/v2", accept: "application/com.github.proto-openapi.spec.v2@v1.0+protobuf")
        #expect(pb.headers.first(name: "content-type") == "application/com.github.proto-openapi.spec.v2.v1.0+protobuf")
        let doc = protoFields(bodyBytes(pb)[...])
        #expect(doc[1]?.first.map { String(decoding: $0, as: UTF8.self) } == "2.0")
        let defs = protoFields(try #require(doc[9]?.first))
        let podSpec = protoFields(try #require(named(defs[1], "io.k8s.api.core.v1.PodSpec")))
        let props = protoFields(try #require(podSpec[25]?.first))
        let schema = protoFields(try #require(named(props[1], "containers")))
        let ext = protoFields(try #require(named(schema[31], "x-kubernetes-patch-merge-key")))
        let yaml = String(decoding: try #require(ext[2]?.first), as: UTF8.self)
        #expect(yaml.trimmingCharacters(in: .whitespacesAndNewlines) == "\"\(expected)\"")
    }

    @Test("the v3 index lists enabled group-versions with content hashes, as upstream's recorded index")
    func index() throws {
        let r = try get("/openapi/v3")
        #expect(r.status == .ok)
        let paths = try #require(try bodyJSON(r)["paths"] as? [String: [String: String]])
        // Every key of the recorded upstream index that names something we serve.
        for key in ["api", "api/v1", "apis", "apis/apps", "apis/apps/v1", "apis/batch/v1", "version"] {
            let url = try #require(paths[key]?["serverRelativeURL"])
            let hash = String(try #require(url.split(separator: "=").last))
            #expect(url == "/openapi/v3/\(key)?hash=\(hash)")
            #expect(hash.count == 128 && hash.allSatisfy { $0.isHexDigit && !$0.isLowercase })
            let doc = try get(url)
            #expect(doc.status == .ok)
            #expect(doc.headers.first(name: "content-type") == "application/json")
            #expect(doc.headers.first(name: "cache-control") == "public, immutable")
            #expect(doc.headers.first(name: "etag") == "\"\(hash)\"")
        }
        // Disabled by default upstream, so neither listed nor served.
        #expect(paths["apis/resource.k8s.io/v1alpha3"] == nil)
        #expect(throws: APIError.self) { try get("/openapi/v3/apis/resource.k8s.io/v1alpha3") }
        #expect(throws: APIError.self) { try get("/openapi/v3/apis/nothing/v1") }
    }

    @Test("a stale hash redirects to the current one; protobuf-only v3 requests are not acceptable")
    func redirectsAndNegotiation() throws {
        let stale = try get("/openapi/v3/apis/apps/v1?hash=0123")
        #expect(stale.status == .movedPermanently)
        #expect(stale.headers.first(name: "location")?.hasPrefix("/openapi/v3/apis/apps/v1?hash=") == true)
        let plain = try get("/openapi/v3/apis/apps/v1")
        #expect(plain.headers.first(name: "cache-control") == "no-cache, private")
        let pbOnly = try get("/openapi/v3/api/v1", accept: "application/com.github.proto-openapi.spec.v3@v1.0+protobuf")
        #expect(pbOnly.status == .notAcceptable)
        #expect(try get("/openapi/v2", accept: "text/html").status == .notAcceptable)
    }

    @Test("v2 leaves out the paths and definitions of disabled group-versions")
    func v2Filtering() throws {
        let v2 = try bodyJSON(try get("/openapi/v2"))
        let paths = try #require(v2["paths"] as? [String: Any])
        let defs = try #require(v2["definitions"] as? [String: Any])
        #expect(paths["/apis/apps/v1/namespaces/{namespace}/deployments"] != nil)
        #expect(!paths.keys.contains { $0.hasPrefix("/apis/resource.k8s.io/v1alpha3/") })
        #expect(defs["io.k8s.api.apps.v1.Deployment"] != nil)
        #expect(defs["io.k8s.api.resource.v1alpha3.DeviceTaintRule"] == nil)
        var all = KubernetesAPI.scheme()
        all.setEnabled(GroupVersion(group: "resource.k8s.io", version: "v1alpha3"), true)
        let more = try bodyJSON(try get("/openapi/v2", scheme: all))
        #expect(
            (more["paths"] as? [String: Any])?.keys.contains { $0.hasPrefix("/apis/resource.k8s.io/v1alpha3/") } == true
        )
    }
}
