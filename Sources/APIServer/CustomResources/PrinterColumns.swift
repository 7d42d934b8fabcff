import APIExtensions
import APIMachinery
import Foundation

/// Table columns of a custom resource version from its `additionalPrinterColumns`: each cell is
/// the first value its JSONPath finds, shown by the column's type (dates as ages), or null.
enum PrinterColumns {
    static func columns(_ v: APIExtensionsV1.CustomResourceDefinitionVersion) -> [TableBuilder.Column] {
        var name = TableBuilder.name
        name.description = nameDescription
        if v.additionalPrinterColumns.isEmpty {
            var created = TableBuilder.Column(name: "Age", type: "date", format: "", priority: 0) { o, now in
                cell(o["metadata"]?["creationTimestamp"] ?? .null, type: "date", now: now)
            }
            created.description = createdAtDescription
            return [name, created]
        }
        var out = [name]
        for c in v.additionalPrinterColumns {
            let path = JSONPathLite(c.jsonPath)
            let type = c.type
            var col = TableBuilder.Column(name: c.name, type: type, format: c.format, priority: Int(c.priority)) {
                o, now in
                guard let path, let found = path.first(in: o) else { return .null }
                return cell(found, type: type, now: now)
            }
            col.description =
                c.description.isEmpty
                ? "Custom resource definition column (in JSONPath format): \(c.jsonPath)" : c.description
            out.append(col)
        }
        return out
    }

    static let nameDescription =
        "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"
    static let createdAtDescription =
        "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"

    /// A found value as a cell of the column's type: integers truncated, dates as ages, strings
    /// as printed; a value of another type is a null cell.
    static func cell(_ v: JSONValue, type: String, now: Int64) -> JSONValue {
        switch (type, v) {
        case ("integer", .number(let n)):
            if Int64(n) != nil { return v }
            if let d = Double(n) { return .number(String(Int64(d))) }
            return .null
        case ("number", .number), ("boolean", .bool): return v
        case ("date", .string(let s)):
            guard let t = Time(rfc3339: s) else { return .string("<invalid>") }
            return .string(TableBuilder.humanDuration(now - t.seconds))
        case ("string", .string): return v
        case ("string", .number(let n)): return .string(n)
        case ("string", .bool(let b)): return .string(b ? "true" : "false")
        case ("string", .object), ("string", .array):
            return .string(String(decoding: v.jsonBytes, as: UTF8.self))
        default: return .null
        }
    }
}

/// The JSONPath subset printer columns and selectable fields use: `.a.b`, `.a[0]`, `.a[*].b`,
/// `.a['key.with.dots']` and filters `[?(@.type=="Ready")]`.
struct JSONPathLite: Sendable {
    enum Step: Sendable {
        case key(String)
        case index(Int)
        case all
        case filter(path: [String], value: String)
    }

    let steps: [Step]

    init?(_ text: String) {
        var t = Substring(text.trimmingCharacters(in: .whitespaces))
        if t.hasPrefix("{") && t.hasSuffix("}") { t = t.dropFirst().dropLast() }
        if t.hasPrefix("$") { t = t.dropFirst() }
        var steps: [Step] = []
        while !t.isEmpty {
            if t.hasPrefix(".") {
                t = t.dropFirst()
                let end = t.firstIndex(where: { $0 == "." || $0 == "[" }) ?? t.endIndex
                let name = String(t[..<end])
                if name.isEmpty { return nil }
                steps.append(name == "*" ? .all : .key(name))
                t = t[end...]
            } else if t.hasPrefix("[") {
                guard let close = t.firstIndex(of: "]") else { return nil }
                var inner = t[t.index(after: t.startIndex)..<close]
                if inner.hasPrefix("?(") {
                    // A filter may contain ']' in its value only inside quotes; find the real close.
                    guard let paren = t.range(of: ")]") else { return nil }
                    inner = t[t.index(t.startIndex, offsetBy: 3)..<paren.lowerBound]
                    let parts = inner.components(separatedBy: "==")
                    guard parts.count == 2 else { return nil }
                    let lhs = parts[0].trimmingCharacters(in: .whitespaces)
                    guard lhs.hasPrefix("@.") else { return nil }
                    var rhs = parts[1].trimmingCharacters(in: .whitespaces)
                    if rhs.count >= 2, let f = rhs.first, f == "\"" || f == "'", rhs.last == f {
                        rhs = String(rhs.dropFirst().dropLast())
                    }
                    steps.append(.filter(path: lhs.dropFirst(2).split(separator: ".").map(String.init), value: rhs))
                    t = t[paren.upperBound...]
                    continue
                }
                if inner == "*" {
                    steps.append(.all)
                } else if let i = Int(inner) {
                    steps.append(.index(i))
                } else if inner.count >= 2, let f = inner.first, f == "'" || f == "\"", inner.last == f {
                    steps.append(.key(String(inner.dropFirst().dropLast())))
                } else {
                    return nil
                }
                t = t[t.index(after: close)...]
            } else {
                return nil
            }
        }
        self.steps = steps
    }

    /// Every value the path reaches, in document order.
    func results(in root: JSONValue) -> [JSONValue] {
        var cur = [root]
        for step in steps {
            var next: [JSONValue] = []
            for v in cur {
                switch (step, v) {
                case (.key(let k), .object): if let x = v[k] { next.append(x) }
                case (.index(let i), .array(let a)):
                    let j = i < 0 ? a.count + i : i
                    if j >= 0 && j < a.count { next.append(a[j]) }
                case (.all, .array(let a)): next += a
                case (.all, .object(let pairs)): next += pairs.map(\.value)
                case (.filter(let path, let want), .array(let a)):
                    for item in a {
                        var x: JSONValue? = item
                        for p in path { x = x?[p] }
                        guard let x else { continue }
                        switch x {
                        case .string(let s) where s == want: next.append(item)
                        case .number(let n) where n == want: next.append(item)
                        case .bool(let b) where (b ? "true" : "false") == want: next.append(item)
                        default: continue
                        }
                    }
                default: continue
                }
            }
            cur = next
        }
        return cur
    }

    func first(in root: JSONValue) -> JSONValue? { results(in: root).first }
}
