import Foundation
import Testing

@testable import CEL

/// The public cel-spec `simple` conformance cases (tests/simple/testdata) for the features the
/// Kubernetes CEL environment enables, converted by `Fixtures/convert_simple_tests.py` into
/// `Fixtures/*.jsonl`. Every case must pass unless it carries a converter skip (a protobuf message
/// or a type-check-only expectation) or is in `skipped` below with its reason.
@Suite("cel-spec conformance")
struct ConformanceTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    /// Cases this implementation does not pass, keyed `file/section/name`, with the reason.
    static let skipped: [String: String] = [
        "fp_math/fp_math/divide_zero":
            "the stored cel-spec revision expects an error; cel-go (Kubernetes' reference) and later cel-spec revisions give +Inf",
        "macros/exists/list_elem_type_exhaustive":
            "the stored revision predates heterogeneous equality: cel-go, as Kubernetes runs it, answers 1 == '10' with false",
        "macros/exists/map_key_type_exhaustive":
            "the stored revision predates heterogeneous equality: cel-go, as Kubernetes runs it, answers 'key' == 2 with false",
        "network_ext/ipv4/ipv4_equals_ipv6":
            "cel-go's network extension accepts the hex IPv4-mapped form; the Kubernetes IP library, which Kubernetes enables, rejects every IPv4-mapped IPv6 address",
        "network_ext/ipv4/ipv4_not_equals_ipv6":
            "cel-go's network extension accepts the hex IPv4-mapped form; the Kubernetes IP library, which Kubernetes enables, rejects every IPv4-mapped IPv6 address",
    ]

    struct Case: Sendable, CustomStringConvertible {
        var file, section, name, expr: String
        var value: Value?
        var error: Bool
        var bindings: [String: Value]
        var skip: String?
        var key: String { "\(file)/\(section)/\(name)" }
        var description: String { key }
    }

    static func decode(_ j: Any) throws -> Value {
        guard let d = j as? [String: Any], let (tag, v) = d.first else { throw CELError("bad fixture value \(j)") }
        switch tag {
        case "int": return .int(Int64(v as! String)!)
        case "uint": return .uint(UInt64(v as! String)!)
        case "double":
            let s = v as! String
            switch s.lowercased() {
            case "inf", "infinity": return .double(.infinity)
            case "-inf", "-infinity": return .double(-.infinity)
            case "nan": return .double(.nan)
            default: return .double(Double(s)!)
            }
        case "string": return .string(v as! String)
        case "bytes": return .bytes(Array(Data(base64Encoded: v as! String)!))
        case "bool": return .bool(v as! Bool)
        case "null": return .null
        case "type": return .type(v as! String)
        case "list": return .list(try (v as! [Any]).map(decode))
        case "map": return .map(try (v as! [[Any]]).map { (try decode($0[0]), try decode($0[1])) })
        default: throw CELError("unknown fixture tag \(tag)")
        }
    }

    static func load() throws -> [Case] {
        let files = try FileManager.default.contentsOfDirectory(atPath: fixtures.path)
            .filter { $0.hasSuffix(".jsonl") }.sorted()
        var out: [Case] = []
        for f in files {
            let text = try String(contentsOf: fixtures.appendingPathComponent(f), encoding: .utf8)
            for line in text.split(separator: "\n") where !line.isEmpty {
                let d = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
                var bindings: [String: Value] = [:]
                for (k, v) in d["bindings"] as? [String: Any] ?? [:] { bindings[k] = try decode(v) }
                out.append(
                    Case(
                        file: d["file"] as! String, section: d["section"] as! String, name: d["name"] as! String,
                        expr: d["expr"] as! String, value: try d["value"].map(decode),
                        error: d["error"] as? Bool ?? false,
                        bindings: bindings, skip: d["skip"] as? String))
            }
        }
        return out
    }

    /// Conformance equality: like CEL's, but NaN equals NaN and values must have the same type.
    static func same(_ a: Value, _ b: Value) -> Bool {
        switch (a, b) {
        case (.double(let x), .double(let y)): return (x.isNaN && y.isNaN) || x == y
        case (.int, .int), (.uint, .uint), (.string, .string), (.bytes, .bytes), (.bool, .bool), (.null, .null),
            (.type, .type):
            return a == b
        case (.list(let x), .list(let y)): return x.count == y.count && zip(x, y).allSatisfy { same($0, $1) }
        case (.map(let x), .map(let y)):
            return x.count == y.count
                && x.allSatisfy { e in y.contains { same($0.key, e.key) && same($0.value, e.value) } }
        default: return false
        }
    }

    /// Runs one case: nil when it passes, else what went wrong.
    static func run(_ c: Case) -> String? {
        do {
            let got = try Program(c.expr).evaluate(c.bindings)
            if c.error { return "expected an error, got \(got)" }
            if let want = c.value, !same(got, want) { return "expected \(want), got \(got)" }
            return nil
        } catch {
            return c.error ? nil : "unexpected error: \(error)"
        }
    }

    @Test("every converted cel-spec case passes unless skipped for a stated reason")
    func conformance() throws {
        let cases = try Self.load()
        #expect(cases.count > 400)
        var passed = 0
        var skipped = 0
        for c in cases {
            if c.skip != nil || Self.skipped[c.key] != nil {
                skipped += 1
                continue
            }
            if let failure = Self.run(c) {
                Issue.record("\(c.key): \(c.expr): \(failure)")
            } else {
                passed += 1
            }
        }
        print("cel-spec conformance: \(passed) passed, \(skipped) skipped of \(cases.count)")
    }

    @Test("the skip list names only cases that exist and still fail")
    func skipListIsCurrent() throws {
        let cases = Dictionary(try Self.load().map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a })
        for key in Self.skipped.keys {
            guard let c = cases[key] else {
                Issue.record("skip list names a missing case: \(key)")
                continue
            }
            #expect(Self.run(c) != nil, "\(key) passes now; remove it from the skip list")
        }
    }
}
