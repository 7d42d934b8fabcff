import Foundation
import Testing

@testable import CodeGen

@Suite("k8swift-codegen import")
struct SpecImporterTests {
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static func scratch() throws -> URL {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("k8swift-import-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        return d
    }

    static func write(_ text: String, _ rel: String, in dir: URL) throws {
        let url = dir.appendingPathComponent(rel)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(text.utf8).write(to: url)
    }

    @Test("prose descriptions go; names, types, defaults, enums, extensions and a property named description stay")
    func stripsProseOnly() throws {
        let src = try Self.scratch(), dst = try Self.scratch()
        defer {
            try? FileManager.default.removeItem(at: src)
            try? FileManager.default.removeItem(at: dst)
        }
        let schema = """
            {"components":{"schemas":{"io.k8s.api.x.v1.Thing":{"description":"A thing, in prose.","type":"object",
            "required":["spec"],"properties":{"description":{"description":"Says what it is.","type":"string",
            "default":"none"},"mode":{"type":"string","enum":["A","B"],"description":"The mode."},
            "items":{"type":"array","x-kubernetes-list-type":"map","x-kubernetes-list-map-keys":["name"],
            "x-kubernetes-patch-strategy":"merge","x-kubernetes-patch-merge-key":"name",
            "items":{"$ref":"#/components/schemas/io.k8s.api.x.v1.Item"}}},
            "x-kubernetes-group-version-kind":[{"group":"x","kind":"Thing","version":"v1"}]}}},
            "paths":{"/apis/x/v1/things":{"description":"Path prose.","get":{"description":"Op prose.",
            "x-kubernetes-action":"list"}}}}
            """
        try Self.write(schema, "openapi/v3/apis__x__v1_openapi.json", in: src)
        try Self.write(
            #"{"swagger":"2.0","definitions":{"T":{"description":"d","format":"int32"}}}"#, "openapi/swagger.json",
            in: src)
        let proto =
            #"{"messages":{"k8s.io.api.x.v1.Thing":[{"label":"optional","name":"description","number":1,"type":"string"}]}}"#
        try Self.write(proto, "protobuf-fields.json", in: src)
        try Self.write(#"{"items":[]}"#, "discovery/aggregated-api.json", in: src)
        try Self.write(#"{"items":[]}"#, "discovery/aggregated-apis.json", in: src)

        let written = try SpecImporter.run(from: src, to: dst)
        #expect(written.count == 5)
        let v3 = try String(
            contentsOf: dst.appendingPathComponent("openapi/v3/apis__x__v1_openapi.json"), encoding: .utf8)
        #expect(!v3.contains("prose") && !v3.contains("Says what") && !v3.contains("The mode"))
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(v3.utf8)) as? [String: Any])
        let thing = try #require(
            ((doc["components"] as? [String: Any])?["schemas"] as? [String: [String: Any]])?["io.k8s.api.x.v1.Thing"])
        let props = try #require(thing["properties"] as? [String: [String: Any]])
        #expect(props["description"]?["type"] as? String == "string")
        #expect(props["description"]?["default"] as? String == "none")
        #expect(props["mode"]?["enum"] as? [String] == ["A", "B"])
        #expect(props["items"]?["x-kubernetes-patch-merge-key"] as? String == "name")
        #expect(props["items"]?["x-kubernetes-list-map-keys"] as? [String] == ["name"])
        #expect(thing["required"] as? [String] == ["spec"])
        #expect((thing["x-kubernetes-group-version-kind"] as? [[String: String]])?.first?["kind"] == "Thing")
        let get = ((doc["paths"] as? [String: Any])?["/apis/x/v1/things"] as? [String: Any])?["get"] as? [String: Any]
        #expect(get?["x-kubernetes-action"] as? String == "list" && get?["description"] == nil)
        // The protobuf table's field named `description` is a fact, not prose.
        let pf = try String(contentsOf: dst.appendingPathComponent("protobuf-fields.json"), encoding: .utf8)
        #expect(pf.contains("\"name\": \"description\""))
        let v2 = try String(contentsOf: dst.appendingPathComponent("openapi/swagger.json"), encoding: .utf8)
        #expect(
            v2
                == "{\n  \"swagger\": \"2.0\",\n  \"definitions\": {\n    \"T\": {\n      \"format\": \"int32\"\n    }\n  }\n}\n"
        )
    }

    @Test("the committed api/ facts are in the importer's form: importing them again changes no byte")
    func committedFactsAreCanonical() throws {
        let api = Self.repoRoot.appendingPathComponent("api")
        let dst = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: dst) }
        let files = try SpecImporter.run(from: api, to: dst)
        #expect(files.count > 60)
        for rel in files {
            let a = try Data(contentsOf: api.appendingPathComponent(rel))
            let b = try Data(contentsOf: dst.appendingPathComponent(rel))
            #expect(a == b, "\(rel) differs after a second import")
        }
        // And nothing in api/ that the importer would not write.
        let fm = FileManager.default
        var committed: [String] = []
        let e = try #require(fm.enumerator(atPath: api.path))
        while let rel = e.nextObject() as? String {
            if rel.hasSuffix(".json") { committed.append(rel) }
        }
        #expect(Set(committed) == Set(files))
    }
}
