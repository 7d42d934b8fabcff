import CodeGen
import Foundation

// k8swift-codegen [--spec DIR] [--facts DIR] [--out DIR] [--only Module,Module] [--verbose]
// Regenerates the API types from the committed API facts (`api/`: OpenAPI without descriptions, the
// protobuf field table, discovery), the Go facts and the feature gate tables.
//
// k8swift-codegen import --from UPSTREAM_SPEC_DIR [--to api]
// Replaces the committed API facts with those of an upstream spec directory (descriptions removed).
if CommandLine.arguments.dropFirst().first == "import" {
    var from: String? = nil
    var to = "api"
    var rest = CommandLine.arguments.dropFirst(2)
    while let a = rest.popFirst() {
        switch a {
        case "--from": from = rest.popFirst()
        case "--to": to = rest.popFirst() ?? to
        default:
            FileHandle.standardError.write(Data("unknown argument \(a)\n".utf8))
            exit(1)
        }
    }
    guard let from else {
        FileHandle.standardError.write(Data("usage: k8swift-codegen import --from DIR [--to DIR]\n".utf8))
        exit(1)
    }
    do {
        let files = try SpecImporter.run(from: URL(fileURLWithPath: from), to: URL(fileURLWithPath: to))
        print("imported \(files.count) files from \(from) into \(to)")
        exit(0)
    } catch {
        FileHandle.standardError.write(Data("k8swift-codegen import: \(error)\n".utf8))
        exit(1)
    }
}
var spec = "api"
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
