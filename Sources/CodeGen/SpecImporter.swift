import Foundation

/// Turns an upstream spec directory (OpenAPI v2 and v3 documents, the protobuf field table and the
/// aggregated discovery documents, laid out as `openapi/swagger.json`, `openapi/v3/*.json`,
/// `protobuf-fields.json`, `discovery/aggregated-*.json`) into the facts the repository keeps under
/// `api/`: the same files with every prose `description` removed, written in a stable indented form
/// so that moving to a new Kubernetes release shows up as a readable diff.
///
/// Only facts survive (names, JSON names, types, formats, enums, required, defaults, list and map
/// types, patch strategies and merge keys, GVKs, paths and scopes, protobuf numbers); the generator
/// then reads nothing but the imported copy.
public enum SpecImporter {
    /// The files of a spec directory the generator reads, relative to it.
    static func inputFiles(in dir: URL) throws -> [String] {
        var files = ["openapi/swagger.json", "protobuf-fields.json"]
        let v3 = dir.appendingPathComponent("openapi/v3")
        for f in try FileManager.default.contentsOfDirectory(atPath: v3.path).sorted() where f.hasSuffix(".json") {
            files.append("openapi/v3/" + f)
        }
        files += ["discovery/aggregated-api.json", "discovery/aggregated-apis.json"]
        return files
    }

    /// Imports `from` into `to`, replacing what `to` held; returns the relative paths written.
    @discardableResult
    public static func run(from: URL, to: URL) throws -> [String] {
        let fm = FileManager.default
        let files = try inputFiles(in: from)
        // Stale v3 documents (a group-version upstream dropped) go away with the old folder.
        try? fm.removeItem(at: to.appendingPathComponent("openapi/v3"))
        for rel in files {
            var value = try JSONValue.parse(Array(try Data(contentsOf: from.appendingPathComponent(rel))))
            // The protobuf table lists fields named `description`; it holds no prose.
            if rel.hasPrefix("openapi/") { value.stripDescriptions() }
            let url = to.appendingPathComponent(rel)
            try fm.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(value.indented().utf8).write(to: url)
        }
        return files
    }
}

extension JSONValue {
    /// The value as indented JSON (two spaces a level, one member or item a line, a final newline),
    /// keeping member order and the exact text of strings and numbers.
    func indented() -> String {
        var out = ""
        writeIndented(&out, depth: 0)
        out += "\n"
        return out
    }

    func writeIndented(_ out: inout String, depth: Int) {
        let pad = String(repeating: "  ", count: depth + 1)
        switch self {
        case .object(let members) where !members.isEmpty:
            out += "{\n"
            for (i, (k, v)) in members.enumerated() {
                out += pad
                JSONValue.string(k).write(&out)
                out += ": "
                v.writeIndented(&out, depth: depth + 1)
                out += i == members.count - 1 ? "\n" : ",\n"
            }
            out += String(repeating: "  ", count: depth) + "}"
        case .array(let items) where !items.isEmpty:
            out += "[\n"
            for (i, v) in items.enumerated() {
                out += pad
                v.writeIndented(&out, depth: depth + 1)
                out += i == items.count - 1 ? "\n" : ",\n"
            }
            out += String(repeating: "  ", count: depth) + "]"
        default:
            write(&out)
        }
    }
}
