import Foundation
import KubernetesAPI
import Testing

/// Random objects of every kind survive every encoding and version → hub → version, byte-stable.
/// Objects are made by randomly mutating upstream's fully populated fixtures (values, removals,
/// duplicated elements, awkward strings), so every field path is exercised.
@Suite("Property: random objects round-trip")
struct PropertyTests {
    static let awkward = [
        "", "a", "ünïcødé", "<script>&\"'", "line\nbreak\ttab", "\u{2028}\u{2029}", "😀 emoji", "back\\slash", "x: y",
        "- dash", "123", "true", "null", "~",
    ]

    static func mutate(_ v: JSONValue, _ rng: inout SplitMix64, depth: Int = 0) -> JSONValue {
        switch v {
        case .string(let s):
            // Placeholder strings of the fixtures can take any value; formatted ones (times,
            // quantities, enums of special types) are kept.
            guard s.hasSuffix("Value"), Int.random(in: 0..<3, using: &rng) == 0 else { return v }
            return .string(awkward.randomElement(using: &rng)! + String(Int.random(in: 0..<1000, using: &rng)))
        case .number(let n):
            guard Int64(n) != nil, Int.random(in: 0..<3, using: &rng) == 0 else { return v }
            return .number(String(Int.random(in: 0...60000, using: &rng)))
        case .bool(let b):
            return Int.random(in: 0..<3, using: &rng) == 0 ? .bool(!b) : .bool(b)
        case .array(let a):
            var out = a.map { mutate($0, &rng, depth: depth + 1) }
            switch Int.random(in: 0..<5, using: &rng) {
            case 0: out = []
            case 1: if let f = out.first { out.append(mutate(f, &rng, depth: depth + 1)) }
            default: break
            }
            return .array(out)
        case .object(let o):
            var out: [(key: String, value: JSONValue)] = []
            for (k, val) in o {
                if depth > 0 && k != "kind" && k != "apiVersion" && Int.random(in: 0..<6, using: &rng) == 0 { continue }
                let key =
                    k.hasSuffix("Key") && Int.random(in: 0..<2, using: &rng) == 0
                    ? k + "-\(Int.random(in: 0..<99, using: &rng))" : k
                out.append((key, mutate(val, &rng, depth: depth + 1)))
            }
            return .object(out)
        case .null:
            return v
        }
    }

    static func jsonBytes<T: JSONEncodableValue>(_ v: T) -> [UInt8] {
        var w = JSONWriter()
        v.encodeJSON(&w)
        return w.bytes
    }

    /// The properties for one object; returns a failure description or nil.
    static func check<T: APIKind>(_ obj: T) -> String? {
        let json = jsonBytes(obj)
        guard let back = try? JSONReader.decode(T.self, from: json) else { return "json re-decode failed" }
        if back != obj { return "json round trip changed the object" }
        if jsonBytes(back) != json { return "json encoding not byte-stable" }
        guard var pb = try? T(protoBytes: obj.protoBytes()) else { return "protobuf decode failed" }
        pb.setTypeMetaIfCarried()
        if jsonBytes(pb) != json { return "protobuf round trip changed the object" }
        if pb.protoBytes() != obj.protoBytes() { return "protobuf encoding not byte-stable" }
        guard let yaml = try? YAML.fromJSON(json), let yjson = try? YAML.toJSON(yaml),
            let fromYAML = try? JSONReader.decode(T.self, from: yjson)
        else { return "yaml round trip failed" }
        if jsonBytes(fromYAML) != json { return "yaml round trip changed the object" }
        if let c = obj as? any (APIKind & HubConvertible), !hubRoundTrip(c) {
            return "version → hub → version changed the object"
        }
        return nil
    }

    /// Converting through the hub reaches a fixed point after one pass. (Fields a version cannot
    /// tell apart — resource.k8s.io/v1beta1's absent vs empty `basic` — normalize on the first
    /// pass, as upstream's do; fully populated fixtures convert exactly, see ConversionTests.)
    static func hubRoundTrip<C: APIKind & HubConvertible>(_ c: C) -> Bool {
        let once = C(hub: c.toHub())
        return C(hub: once.toHub()) == once
    }

    static func decodeAndCheck<T: APIKind>(_ type: T.Type, _ json: [UInt8]) -> (decoded: Bool, failure: String?) {
        guard let decoded = try? JSONReader.decode(T.self, from: json) else { return (false, nil) }
        // Protobuf carries no TypeMeta inside objects, so samples are first normalized through it.
        guard var obj = try? T(protoBytes: decoded.protoBytes()) else { return (true, "protobuf decode failed") }
        obj.setTypeMetaIfCarried()
        return (true, check(obj))
    }

    @Test("every kind, 20 random objects each, in JSON, YAML, protobuf and through the hub")
    func randomObjects() throws {
        var rng = SplitMix64(seed: 0x6B38_7377_6966_7421)
        var checked = 0
        var failures: [String] = []
        for f in FixtureRoundTripTests.fixtures(in: "HEAD") {
            guard let type = KubernetesAPI.kindsByGVK[f.gvk],
                let bytes = FixtureRoundTripTests.read(f.dir, "\(f.name).json"),
                let base = try? JSONValue.parse(bytes)
            else { continue }
            for _ in 0..<20 {
                let sample = Self.mutate(base, &rng).jsonBytes
                let (decoded, failure) = Self.decodeAndCheck(type, sample)
                if decoded { checked += 1 }
                if let failure {
                    failures.append("\(f.name): \(failure)\n  \(String(decoding: sample.prefix(400), as: UTF8.self))")
                }
            }
        }
        #expect(failures.isEmpty, "\(failures.count) failures; first: \(failures.first ?? "")")
        #expect(checked > 2000, "only \(checked) random objects decoded")
        print("property: \(checked) random objects round-tripped")
    }
}
