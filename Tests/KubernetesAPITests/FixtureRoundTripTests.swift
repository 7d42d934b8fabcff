import Foundation
import KubernetesAPI
import Testing

/// Upstream's serialization fixtures (testdata/upstream/fixtures): every GVK we implement
/// must decode from JSON and protobuf to equal objects and re-encode to upstream's exact bytes.
@Suite("Upstream serialization fixtures")
struct FixtureRoundTripTests {
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("testdata/upstream/fixtures")

    struct Fixture: CustomStringConvertible {
        var dir: String
        var name: String  // group.version.Kind
        var gvk: GroupVersionKind
        var description: String { "\(dir)/\(name)" }
    }

    static func fixtures(in dir: String) -> [Fixture] {
        let url = root.appendingPathComponent(dir)
        let files = (try? FileManager.default.contentsOfDirectory(atPath: url.path)) ?? []
        var names = Set<String>()
        for f in files where f.hasSuffix(".json") && !f.contains("after_roundtrip") {
            names.insert(String(f.dropLast(5)))
        }
        return names.sorted().map { n in
            var parts = n.split(separator: ".").map(String.init)
            let kind = parts.removeLast()
            let version = parts.removeLast()
            var group = parts.joined(separator: ".")
            if group == "core" { group = "" }
            return Fixture(dir: dir, name: n, gvk: GroupVersionKind(group: group, version: version, kind: kind))
        }
    }

    static func read(_ dir: String, _ file: String) -> [UInt8]? {
        guard
            let d = FileManager.default.contents(
                atPath: root.appendingPathComponent(dir).appendingPathComponent(file).path)
        else { return nil }
        return [UInt8](d)
    }

    /// The bytes a re-encode must produce: the `after_roundtrip` file when upstream has one.
    static func expected(_ f: Fixture, _ ext: String) -> [UInt8]? {
        read(f.dir, "\(f.name).after_roundtrip.\(ext)") ?? read(f.dir, "\(f.name).\(ext)")
    }

    enum Outcome { case ok, skipped, failed(String) }

    static func roundTrip<T: APIKind>(_ type: T.Type, _ f: Fixture) -> [String] {
        var problems: [String] = []
        // JSON
        var fromJSON: T? = nil
        if let json = read(f.dir, "\(f.name).json") {
            do {
                var obj = try JSONReader.decode(T.self, from: json)
                fromJSON = obj
                obj.setTypeMetaIfCarried()
                var w = JSONWriter()
                obj.encodeJSON(&w)
                let out = JSONIndent.indent(w.bytes)
                if let exp = expected(f, "json"), out != exp {
                    problems.append("json re-encode differs: \(firstDifference(out, exp))")
                }
            } catch {
                problems.append("json decode: \(error)")
            }
        }
        // YAML
        if let yaml = read(f.dir, "\(f.name).yaml") {
            do {
                let json = try YAML.toJSON(String(decoding: yaml, as: UTF8.self))
                var obj = try JSONReader.decode(T.self, from: json)
                obj.setTypeMetaIfCarried()
                if var j = fromJSON {
                    j.setTypeMetaIfCarried()
                    if j != obj { problems.append("yaml and json decode to different objects") }
                }
                var w = JSONWriter()
                obj.encodeJSON(&w)
                let out = Array(try YAML.fromJSON(w.bytes).utf8)
                if let exp = expected(f, "yaml"), out != exp {
                    problems.append("yaml re-encode differs: \(firstDifference(out, exp))")
                }
            } catch {
                problems.append("yaml: \(error)")
            }
        }
        // Protobuf
        if let pb = read(f.dir, "\(f.name).pb") {
            do {
                let u = try ProtobufEnvelope.unwrap(pb)
                var obj = try T(protoBytes: u.raw)
                obj.setTypeMetaIfCarried()
                if u.typeMeta != ProtobufEnvelope.typeMeta(of: obj) {
                    problems.append("pb envelope type \(u.typeMeta)")
                }
                if var j = fromJSON {
                    j.setTypeMetaIfCarried()
                    if j != obj { problems.append("pb and json decode to different objects") }
                }
                let out = ProtobufEnvelope.encode(obj)
                if let exp = expected(f, "pb"), out != exp {
                    problems.append("pb re-encode differs: \(firstDifference(out, exp))")
                }
            } catch {
                problems.append("pb decode: \(error)")
            }
        }
        return problems
    }

    static func firstDifference(_ a: [UInt8], _ b: [UInt8]) -> String {
        var i = 0
        while i < a.count && i < b.count && a[i] == b[i] { i += 1 }
        let lo = max(0, i - 60)
        let ctxA = String(decoding: a[lo..<min(a.count, i + 60)], as: UTF8.self)
        let ctxB = String(decoding: b[lo..<min(b.count, i + 60)], as: UTF8.self)
        return
            "at byte \(i) (ours \(a.count) bytes, upstream \(b.count)):\n  ours:     \(ctxA.debugDescription)\n  upstream: \(ctxB.debugDescription)"
    }

    @Test("every implemented GVK round-trips", arguments: ["HEAD", "v1.35.0", "v1.33.0"])
    func roundTrips(dir: String) throws {
        let all = Self.fixtures(in: dir)
        #expect(!all.isEmpty, "no fixtures found under \(Self.root.path)/\(dir)")
        var passed = 0
        var skipped: [String] = []
        for f in all {
            guard let type = KubernetesAPI.kindsByGVK[f.gvk] else {
                skipped.append(f.name)
                continue
            }
            let problems = Self.roundTrip(type, f)
            if problems.isEmpty {
                passed += 1
            } else {
                Issue.record("\(f): \(problems.joined(separator: "\n"))")
            }
        }
        print(
            "fixtures \(dir): \(all.count) GVKs, \(passed) round-trip in JSON, YAML and protobuf, \(skipped.count) out of scope: \(skipped.joined(separator: " "))"
        )
    }
}
