import CodeGen
import Foundation

// k8swift-codegen [--spec DIR] [--facts DIR] [--out DIR] [--only Module,Module] [--verbose]
// Regenerates the API types from the OpenAPI v3 spec, the protobuf field table and the Go facts.
var spec = "../shared/kubernetes-v1.36"
var facts = "codegen/gofacts"
var out = "Sources"
var only: Set<String>? = nil
var verbose = false
var args = CommandLine.arguments.dropFirst()
while let a = args.popFirst() {
    switch a {
    case "--spec": spec = args.popFirst() ?? spec
    case "--facts": facts = args.popFirst() ?? facts
    case "--out": out = args.popFirst() ?? out
    case "--only": only = Set((args.popFirst() ?? "").split(separator: ",").map(String.init))
    case "--verbose": verbose = true
    default:
        FileHandle.standardError.write(Data("unknown argument \(a)\n".utf8))
        exit(1)
    }
}
let gen = Generator(
    specDir: URL(fileURLWithPath: spec), factsDir: URL(fileURLWithPath: facts),
    sourcesDir: URL(fileURLWithPath: out), onlyModules: only)
do {
    let r = try gen.run()
    print("generated \(r.files) files; \(r.warnings.count) fields decided without Go facts")
    if verbose {
        for w in r.warnings { print("  " + w) }
        for (m, d) in r.moduleDeps.sorted(by: { $0.key < $1.key }) { print("\(m): \(d.joined(separator: ", "))") }
    }
} catch {
    FileHandle.standardError.write(Data("k8swift-codegen: \(error)\n".utf8))
    exit(1)
}
