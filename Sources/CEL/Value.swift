/// A CEL value.
public enum Value: Sendable {
    case null
    case bool(Bool)
    case int(Int64)
    case uint(UInt64)
    case double(Double)
    case string(String)
    case bytes([UInt8])
    case list([Value])
    /// Entries in insertion order (CEL maps compare and look up by key equality).
    case map([(key: Value, value: Value)])
    case type(String)

    /// The CEL type name (`int`, `string`, `list`, `map`, …).
    public var typeName: String {
        switch self {
        case .null: return "null_type"
        case .bool: return "bool"
        case .int: return "int"
        case .uint: return "uint"
        case .double: return "double"
        case .string: return "string"
        case .bytes: return "bytes"
        case .list: return "list"
        case .map: return "map"
        case .type: return "type"
        }
    }

    var numeric: Double? {
        switch self {
        case .int(let i): return Double(i)
        case .uint(let u): return Double(u)
        case .double(let d): return d
        default: return nil
        }
    }

    public subscript(key: String) -> Value? {
        guard case .map(let entries) = self else { return nil }
        return entries.first { $0.key == .string(key) }?.value
    }
}

extension Value: Equatable {
    /// CEL equality: numbers compare across int, uint and double; lists and maps by content.
    public static func == (a: Value, b: Value) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case (.bool(let x), .bool(let y)): return x == y
        case (.string(let x), .string(let y)): return x == y
        case (.bytes(let x), .bytes(let y)): return x == y
        case (.type(let x), .type(let y)): return x == y
        case (.int(let x), .int(let y)): return x == y
        case (.uint(let x), .uint(let y)): return x == y
        case (.int(let x), .uint(let y)), (.uint(let y), .int(let x)): return x >= 0 && UInt64(x) == y
        case (.double, _), (_, .double):
            guard let x = a.numeric, let y = b.numeric else { return false }
            return x == y
        case (.list(let x), .list(let y)): return x == y
        case (.map(let x), .map(let y)):
            guard x.count == y.count else { return false }
            for (k, v) in x {
                guard let o = y.first(where: { $0.key == k }) else { return false }
                if o.value != v { return false }
            }
            return true
        default: return false
        }
    }
}
