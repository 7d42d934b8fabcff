import CEL
import Foundation
import KubernetesAPI

// make bench: codec, conversion and defaulting throughput on upstream's HEAD fixtures, as JSON.
// Targets (2-core machine): JSON decode ≥ 120 MB/s, encode ≥ 250 MB/s, protobuf faster than JSON.

var fixtures = "testdata/upstream/fixtures/HEAD"
var args = CommandLine.arguments.dropFirst()
while let a = args.popFirst() {
    if a == "--fixtures", let v = args.popFirst() { fixtures = v }
}
let testdata = URL(fileURLWithPath: fixtures)
let profile = CommandLine.arguments.contains("--profile-decode")

func load(_ name: String) -> [UInt8] {
    guard let d = FileManager.default.contents(atPath: testdata.appendingPathComponent(name).path) else {
        FileHandle.standardError.write(Data("missing fixture \(name) under \(testdata.path)\n".utf8))
        exit(1)
    }
    return [UInt8](d)
}

/// Runs `body` repeatedly for about `seconds` and returns seconds per operation (best of 3 rounds).
@inline(never)
func measure(_ seconds: Double = 0.4, _ body: () throws -> Void) rethrows -> Double {
    var best = Double.infinity
    for _ in 0..<3 {
        var n = 0
        let clock = ContinuousClock()
        let start = clock.now
        var elapsed = 0.0
        repeat {
            try body()
            n += 1
            let d = clock.now - start
            elapsed = Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
        } while elapsed < seconds / 3
        best = min(best, elapsed / Double(n))
    }
    return best
}

func jsonBytes<T: JSONEncodableValue>(_ v: T) -> [UInt8] {
    var w = JSONWriter(capacity: 64 * 1024)
    v.encodeJSON(&w)
    return w.bytes
}

var results: [String: Any] = [:]

func bench<T: APIKind>(_ label: String, _ obj: T, into results: inout [String: Any]) throws {
    let json = jsonBytes(obj)
    let pb = obj.protoBytes()
    var r: [String: Any] = ["json_bytes": json.count, "protobuf_bytes": pb.count]
    var sink = 0
    let jdOnly = try measure {
        let o = try JSONReader.decode(T.self, from: json); sink &+= withUnsafeBytes(of: o) { $0.count }
    }
    let je = measure { sink &+= jsonBytes(obj).count }
    let pd = try measure {
        let o = try T(protoBytes: pb); sink &+= withUnsafeBytes(of: o) { $0.count }
    }
    let pe = measure { sink &+= obj.protoBytes().count }
    r["json_decode_us"] = jdOnly * 1e6
    r["json_decode_MBps"] = Double(json.count) / jdOnly / 1e6
    r["json_encode_us"] = je * 1e6
    r["json_encode_MBps"] = Double(json.count) / je / 1e6
    r["protobuf_decode_us"] = pd * 1e6
    r["protobuf_decode_MBps"] = Double(pb.count) / pd / 1e6
    r["protobuf_encode_us"] = pe * 1e6
    r["protobuf_encode_MBps"] = Double(pb.count) / pe / 1e6
    var d = obj
    let df = measure {
        d = obj
        d.applyDefaults()
        sink &+= d == obj ? 1 : 0
    }
    r["defaulting_us"] = df * 1e6
    if let c = obj as? any (APIKind & HubConvertible) {
        r["hub_round_trip_us"] = hubTime(c) * 1e6
    }
    if sink == 42 { print("") }
    results[label] = r
}

func hubTime<C: APIKind & HubConvertible>(_ c: C) -> Double {
    var sink = 0
    let t = measure { sink &+= C(hub: c.toHub()) == c ? 1 : 0 }
    if sink == -1 { print("") }
    return t
}

let pod = try JSONReader.decode(CoreV1.Pod.self, from: load("core.v1.Pod.json"))
if profile {
    // A hot loop for `perf record`.
    let json = jsonBytes(pod)
    var n = 0
    for _ in 0..<3000 { n &+= try JSONReader.decode(CoreV1.Pod.self, from: json).spec.containers.count }
    print(n)
    exit(0)
}
try bench("core.v1.Pod", pod, into: &results)
var list = CoreV1.PodList()
list.setTypeMeta()
list.items = Array(repeating: pod, count: 1000)
for i in list.items.indices { list.items[i].metadata.name = "pod-\(i)" }
try bench("core.v1.PodList(1000)", list, into: &results)
let deployment = try JSONReader.decode(AppsV1.Deployment.self, from: load("apps.v1.Deployment.json"))
try bench("apps.v1.Deployment", deployment, into: &results)
let slice = try JSONReader.decode(
    ResourceV1beta1.ResourceSlice.self, from: load("resource.k8s.io.v1beta1.ResourceSlice.json"))
try bench("resource.k8s.io.v1beta1.ResourceSlice (real hub conversion)", slice, into: &results)

// CEL: two CRD validation rules evaluated on one object (cel-go is the reference: ~1 µs per simple
// rule on this kind of machine).
let rules = try [Program("self.minReplicas <= self.replicas"), Program("self.payload.size() <= 1024")]
let celSelf = Value.map([
    (.string("replicas"), .int(3)), (.string("minReplicas"), .int(1)), (.string("tier"), .string("a")),
    (.string("payload"), .string(String(repeating: "x", count: 256))),
])
var celSink = 0
let perObject = try measure {
    for r in rules where try r.evaluate(["self": celSelf]) == .bool(true) { celSink &+= 1 }
}
if celSink == -1 { print("") }
let compile = try measure { _ = try Program("self.items.all(i, i.name.startsWith('a') && i.size > 0)") }
results["cel"] = [
    "two_rules_per_object_us": (perObject * 1e6 * 100).rounded() / 100,
    "compile_rule_us": (compile * 1e6 * 100).rounded() / 100,
]

// The scheduling cycle (filter and score over 5,000 nodes, 10% of them examined as upstream's
// adaptive percentageOfNodesToScore has it), best of three runs of 2,000 pods.
let cycle = try (0..<3).map { _ in try schedulingCycle(nodes: 5000, pods: 2000) }.min() ?? 0
results["scheduler"] = ["cycle_5000_nodes_us": (cycle * 1e6 * 10).rounded() / 10]

let out = try JSONSerialization.data(
    withJSONObject: ["benchmarks": results, "targets": ["json_decode_MBps": 120, "json_encode_MBps": 250]],
    options: [.prettyPrinted, .sortedKeys])
print(String(decoding: out, as: UTF8.self))
