import Foundation

/// One protobuf field from `protobuf-fields.json`.
struct ProtoField {
    var name: String
    var number: Int
    var label: String  // optional | repeated | map
    var type: String  // scalar name, "map", or a full message name
    var mapValue: String?
}

/// Everything the generator reads, loaded once.
struct Inputs {
    /// Full protobuf message name → fields in Go struct order.
    var messages: [String: [ProtoField]] = [:]
    /// OpenAPI schema name (io.k8s...) → schema object.
    var schemas: [String: [String: Any]] = [:]
    /// Go facts: "<facts file>|<Struct>" → fields in Go order.
    var goFields: [String: [GoField]] = [:]
    /// OpenAPI paths per group-version document (for resource names and scope).
    var paths: [String: [String: Any]] = [:]

    static func load(specDir: URL, factsDir: URL) throws -> Inputs {
        var inputs = Inputs()
        let pf = try JSONSerialization.jsonObject(
            with: Data(contentsOf: specDir.appendingPathComponent("protobuf-fields.json")))
        let msgs = (pf as! [String: Any])["messages"] as! [String: [[String: Any]]]
        for (name, fields) in msgs {
            inputs.messages[name] = fields.map {
                ProtoField(
                    name: $0["name"] as! String, number: $0["number"] as! Int, label: $0["label"] as! String,
                    type: $0["type"] as! String, mapValue: $0["value"] as? String)
            }
        }
        let v3 = specDir.appendingPathComponent("openapi/v3")
        for file in try FileManager.default.contentsOfDirectory(atPath: v3.path).sorted() where file.hasSuffix(".json")
        {
            let doc =
                try JSONSerialization.jsonObject(with: Data(contentsOf: v3.appendingPathComponent(file)))
                as! [String: Any]
            if let comps = doc["components"] as? [String: Any], let s = comps["schemas"] as? [String: [String: Any]] {
                for (k, v) in s { inputs.schemas[k] = v }
            }
            if let p = doc["paths"] as? [String: Any] { inputs.paths[file] = p }
        }
        if FileManager.default.fileExists(atPath: factsDir.path) {
            for file in try FileManager.default.contentsOfDirectory(atPath: factsDir.path).sorted()
            where file.hasSuffix(".txt") {
                let stem = String(file.dropLast(4))
                let text = try String(contentsOf: factsDir.appendingPathComponent(file), encoding: .utf8)
                for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
                    if line.hasPrefix("#") || line.hasPrefix("type ") { continue }
                    let cols = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
                    guard cols.count >= 3, let dot = cols[0].firstIndex(of: ".") else { continue }
                    let strukt = String(cols[0][..<dot])
                    let goName = String(cols[0][cols[0].index(after: dot)...])
                    inputs.goFields[stem + "|" + strukt, default: []].append(
                        GoField(goName: goName, tag: cols[1], goType: cols[2]))
                }
            }
        }
        return inputs
    }
}

/// A Go struct field fact: its name, json tag contents and Go type as written upstream.
struct GoField {
    var goName: String
    var tag: String
    var goType: String

    var jsonName: String? {
        if tag == "(none)" { return nil }
        let n = tag.split(separator: ",", omittingEmptySubsequences: false).first.map(String.init) ?? ""
        return n.isEmpty ? nil : n
    }
    /// An embedded struct whose fields are flattened into the parent's JSON: `,inline`, or an
    /// embedded field with no JSON name (newer sources write `json:""`).
    var isInline: Bool {
        if tag.split(separator: ",").contains("inline") { return true }
        let typeName = goType.split(separator: ".").last.map(String.init) ?? goType
        return jsonName == nil && tag != "-" && typeName == goName
    }
    var omitempty: Bool { tag.split(separator: ",").contains("omitempty") }
    var omitzero: Bool { tag.split(separator: ",").contains("omitzero") }
    var isPointer: Bool { goType.hasPrefix("*") }
}
