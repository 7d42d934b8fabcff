import Foundation

/// The element of a field: a scalar or a message type.
enum Element: Equatable {
    case string, int32, int64, bool, double, bytes
    /// A message: its full protobuf name.
    case message(String)

    var isScalar: Bool {
        if case .message = self { return false }
        return true
    }
}

enum Container: Equatable {
    case single, array, map
}

/// How a field is represented in Swift and on the wires.
struct FieldModel {
    var protoName: String
    var number: Int?
    /// JSON key; nil for an inline (embedded) struct.
    var jsonName: String?
    var swiftName: String
    var element: Element
    var container: Container
    /// Go pointer (single values): nil-able, written only when set.
    var pointer: Bool
    var omitempty: Bool
    var omitzero: Bool
    var inline: Bool
    /// Stored behind an array to break a recursive value type.
    var indirect: Bool = false
    /// Whether the Go facts covered this field (otherwise heuristics decided).
    var fromFacts: Bool
    /// A declarative default from the spec (`+default` markers), when it is not the zero value.
    var declaredDefault: String? = nil
    /// The Go type as written upstream (from the facts), e.g. `v1.ResourceList`.
    var goType: String? = nil
    /// `x-kubernetes-patch-strategy` and `x-kubernetes-patch-merge-key` from the spec.
    var patchStrategy: String? = nil
    var patchMergeKey: String? = nil
    /// `x-kubernetes-list-type`, `-list-map-keys` and `-map-type` from the spec (server-side apply).
    var listType: String? = nil
    var listMapKeys: [String] = []
    var mapType: String? = nil
}

/// One generated Swift struct.
struct TypeModel {
    var package: APIPackage
    var protoName: String
    var name: String
    var fields: [FieldModel]
    var hasTypeMeta: Bool
    var isSliceMessage: Bool
    /// OpenAPI GVKs for top-level kinds.
    var gvks: [(group: String, version: String, kind: String)]
    var openAPIName: String?
    /// `x-kubernetes-map-type: atomic` on the type (a struct replaced as a whole by apply).
    var atomicStruct = false

    var qualifiedName: String { "\(package.namespace).\(name)" }
}

/// Swift keywords that must be back-quoted as identifiers.
let swiftKeywords: Set<String> = [
    "associatedtype", "class", "deinit", "enum", "extension", "fileprivate", "func", "import", "init", "inout",
    "internal", "let", "open", "operator", "private", "protocol", "public", "rethrows", "static", "struct",
    "subscript", "typealias", "var", "break", "case", "continue", "default", "defer", "do", "else", "fallthrough",
    "for", "guard", "if", "in", "repeat", "return", "switch", "where", "while", "as", "catch", "false", "is",
    "nil", "super", "self", "Self", "throw", "throws", "true", "try", "Any", "Type", "Protocol",
]

func swiftIdentifier(_ jsonName: String) -> String {
    var out = ""
    var upper = false
    for ch in jsonName {
        if ch == "-" || ch == "$" || ch == "_" || ch == "." {
            upper = !out.isEmpty
            continue
        }
        out += upper ? ch.uppercased() : String(ch)
        upper = false
    }
    return out
}

func quotedIdentifier(_ name: String) -> String {
    swiftKeywords.contains(name) ? "`\(name)`" : name
}

/// Normalizes a name for fuzzy matching of protobuf, JSON and Go field names.
func normalized(_ s: String) -> String {
    s.lowercased().filter { $0.isLetter || $0.isNumber }
}

/// Builds the type models for every in-scope message.
struct ModelBuilder {
    var inputs: Inputs
    var packages: [APIPackage]
    var warnings: [String] = []

    init(inputs: Inputs) {
        self.inputs = inputs
        var gvs: Set<String> = []
        for name in inputs.schemas.keys {
            let p = name.replacingOccurrences(of: "io.k8s.", with: "k8s.io.")
            gvs.insert(String(p[..<p.lastIndex(of: ".")!]))
        }
        packages = allPackages(openAPIGroupVersions: gvs)
    }

    func package(forProto p: String) -> APIPackage? { packages.first { $0.proto == p } }

    mutating func build() -> [TypeModel] {
        var models: [TypeModel] = []
        for pkg in packages {
            let names = inputs.messages.keys.filter { packageOf($0) == pkg.proto }.sorted()
            for full in names {
                if specialTypes[full] != nil { continue }
                models.append(buildType(full, pkg))
            }
        }
        markIndirect(&models)
        return models
    }

    func schema(for pkg: APIPackage, _ name: String) -> (String, [String: Any])? {
        let key = "\(pkg.openAPIPrefix).\(name)"
        if let s = inputs.schemas[key] { return (key, s) }
        return nil
    }

    mutating func buildType(_ full: String, _ pkg: APIPackage) -> TypeModel {
        let name = String(full[full.index(after: full.lastIndex(of: ".")!)...])
        let proto = inputs.messages[full]!
        let openAPI = schema(for: pkg, name)
        let props = (openAPI?.1["properties"] as? [String: Any]) ?? [:]
        let required = Set((openAPI?.1["required"] as? [String]) ?? [])
        let goFields = inputs.goFields[pkg.facts + "|" + name] ?? []

        var gvks: [(String, String, String)] = []
        if let list = openAPI?.1["x-kubernetes-group-version-kind"] as? [[String: Any]] {
            for g in list {
                gvks.append((g["group"] as? String ?? "", g["version"] as? String ?? "", g["kind"] as? String ?? ""))
            }
        }

        let protoNames = Set(proto.map(\.name))
        var hasTypeMeta = goFields.contains { $0.isInline && $0.goType.hasSuffix("TypeMeta") }
        if !hasTypeMeta && props["kind"] != nil && props["apiVersion"] != nil && !protoNames.contains("kind")
            && !protoNames.contains("apiVersion")
        {
            hasTypeMeta = true
        }

        var fields: [FieldModel] = []
        for pf in proto {
            // Match the Go fact for this field.
            let fact = goFields.first { g in
                if let j = g.jsonName, j == pf.name || normalized(j) == normalized(pf.name) { return true }
                if g.isInline {
                    let typeName = g.goType.split(separator: ".").last.map(String.init) ?? g.goType
                    return normalized(typeName) == normalized(pf.name) || normalized(g.goName) == normalized(pf.name)
                }
                return normalized(g.goName) == normalized(pf.name)
            }
            var element: Element
            switch pf.type {
            case "string": element = .string
            case "int32": element = .int32
            case "int64": element = .int64
            case "bool": element = .bool
            case "double": element = .double
            case "bytes": element = .bytes
            case "map":
                switch pf.mapValue! {
                case "string": element = .string
                case "bytes": element = .bytes
                default: element = .message(pf.mapValue!)
                }
            default: element = .message(pf.type)
            }
            let container: Container = pf.label == "repeated" ? .array : (pf.label == "map" ? .map : .single)

            // JSON name: facts, then OpenAPI, then the protobuf name.
            var inline = fact?.isInline ?? false
            var jsonName: String? = fact?.jsonName
            if fact == nil {
                if props[pf.name] != nil {
                    jsonName = pf.name
                } else if let k = props.keys.first(where: { normalized($0) == normalized(pf.name) }) {
                    jsonName = k
                } else if case .message(let m) = element, container == .single, !props.isEmpty,
                    let sub = inputs.messages[m], sub.allSatisfy({ props[$0.name] != nil })
                {
                    inline = true
                } else {
                    jsonName = pf.name
                }
            }
            if inline { jsonName = nil }
            let prop = jsonName.flatMap { props[$0] as? [String: Any] }

            var pointer = false
            var omitempty = true
            var omitzero = false
            if let fact {
                pointer = fact.isPointer
                omitempty = fact.omitempty
                omitzero = fact.omitzero
            } else {
                let isRequired = jsonName.map { required.contains($0) } ?? false
                let hasDefault = prop?["default"] != nil
                omitempty = !isRequired
                if container == .single && !inline {
                    pointer = !(isRequired || hasDefault)
                    if element == .bytes { pointer = false }
                }
                if !inline && !sliceMessages.contains(name) {
                    warnings.append("\(full).\(pf.name): no Go facts; pointer=\(pointer) omitempty=\(omitempty)")
                }
            }
            if container != .single || element == .bytes { pointer = false }
            let swiftName = inline ? pf.name : swiftIdentifier(jsonName ?? pf.name)
            var declared: String? = nil
            if container == .single, let d = prop?["default"] {
                if let str = d as? String, !str.isEmpty, element == .string {
                    declared = "\"\(str)\""
                } else if let n = d as? NSNumber, element == .int32 || element == .int64, n.int64Value != 0 {
                    declared = "\(n.int64Value)"
                }
            }
            fields.append(
                FieldModel(
                    protoName: pf.name, number: pf.number, jsonName: jsonName, swiftName: swiftName,
                    element: element, container: container, pointer: pointer, omitempty: omitempty,
                    omitzero: omitzero, inline: inline, fromFacts: fact != nil, declaredDefault: declared,
                    goType: fact?.goType, patchStrategy: prop?["x-kubernetes-patch-strategy"] as? String,
                    patchMergeKey: prop?["x-kubernetes-patch-merge-key"] as? String,
                    listType: prop?["x-kubernetes-list-type"] as? String,
                    listMapKeys: (prop?["x-kubernetes-list-map-keys"] as? [String]) ?? [],
                    mapType: prop?["x-kubernetes-map-type"] as? String))
        }
        return TypeModel(
            package: pkg, protoName: full, name: name, fields: fields, hasTypeMeta: hasTypeMeta,
            isSliceMessage: sliceMessages.contains(name), gvks: gvks, openAPIName: openAPI?.0,
            atomicStruct: (openAPI?.1["x-kubernetes-map-type"] as? String) == "atomic")
    }

    /// Finds value-type cycles (a struct containing itself through single, non-collection fields)
    /// and stores one field of each cycle indirectly.
    func markIndirect(_ models: inout [TypeModel]) {
        var index: [String: Int] = [:]
        for (i, m) in models.enumerated() { index[m.protoName] = i }
        // Edges through single message fields (arrays and maps already allocate).
        func edges(_ i: Int) -> [(Int, Int)] {
            var out: [(Int, Int)] = []
            for (fi, f) in models[i].fields.enumerated() where f.container == .single && !f.indirect {
                if case .message(let m) = f.element, let j = index[m] { out.append((fi, j)) }
            }
            return out
        }
        // Repeat DFS until no cycle remains, cutting the back edge each time.
        while true {
            var state = [Int](repeating: 0, count: models.count)  // 0 new, 1 on stack, 2 done
            var cut: (Int, Int)? = nil
            func dfs(_ i: Int) -> Bool {
                state[i] = 1
                for (fi, j) in edges(i) {
                    if state[j] == 1 {
                        cut = (i, fi)
                        return true
                    }
                    if state[j] == 0 && dfs(j) { return true }
                }
                state[i] = 2
                return false
            }
            for i in models.indices where state[i] == 0 {
                if dfs(i) { break }
            }
            guard let (i, fi) = cut else { return }
            models[i].fields[fi].indirect = true
        }
    }
}
