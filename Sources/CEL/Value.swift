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
    /// A point in time (`google.protobuf.Timestamp`), UTC.
    case timestamp(Timestamp)
    /// A signed span of nanoseconds (`google.protobuf.Duration`, as cel-go bounds it to Go's `time.Duration`).
    case duration(Int64)
    /// `optional.of(v)` (`.optional(v)`) or `optional.none()` (`.optional(nil)`).
    indirect case optional(Value?)
    /// A message built with `Type{field: value}`: a map with a type name and string keys.
    indirect case object(type: String, fields: [(name: String, value: Value)])
    /// A library value: quantity, IP, CIDR, URL, semver, format, authorizer and its checks.
    indirect case opaque(any OpaqueValue)

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
        case .timestamp: return "google.protobuf.Timestamp"
        case .duration: return "google.protobuf.Duration"
        case .optional: return "optional_type"
        case .object(let t, _): return t
        case .opaque(let o): return o.typeName
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
        switch self {
        case .map(let entries): return entries.first { $0.key == .string(key) }?.value
        case .object(_, let fields): return fields.first { $0.name == key }?.value
        default: return nil
        }
    }
}

/// A value a library defines (a Kubernetes quantity, an IP address, …): compared by the library's
/// own rules and named by its CEL type.
public protocol OpaqueValue: Sendable {
    var typeName: String { get }
    func isEqual(to other: any OpaqueValue) -> Bool
}

extension OpaqueValue where Self: Equatable {
    public func isEqual(to other: any OpaqueValue) -> Bool { (other as? Self) == self }
}

/// Seconds and nanoseconds since the Unix epoch, in CEL's range (years 1 through 9999).
public struct Timestamp: Sendable, Hashable, Comparable {
    public var seconds: Int64
    public var nanos: Int32

    public init(seconds: Int64, nanos: Int32 = 0) {
        self.seconds = seconds
        self.nanos = nanos
    }

    /// 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999999999Z, as cel-spec bounds timestamps.
    static let minSeconds: Int64 = -62_135_596_800
    static let maxSeconds: Int64 = 253_402_300_799

    var inRange: Bool { seconds >= Self.minSeconds && seconds <= Self.maxSeconds }

    public static func < (a: Timestamp, b: Timestamp) -> Bool { (a.seconds, a.nanos) < (b.seconds, b.nanos) }
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
        case (.timestamp(let x), .timestamp(let y)): return x == y
        case (.duration(let x), .duration(let y)): return x == y
        case (.optional(let x), .optional(let y)): return x == y
        case (.object(let t, let x), .object(let u, let y)):
            guard t == u, x.count == y.count else { return false }
            for (k, v) in x {
                guard let o = y.first(where: { $0.name == k }) else { return false }
                if o.value != v { return false }
            }
            return true
        case (.opaque(let x), .opaque(let y)): return x.isEqual(to: y)
        default: return false
        }
    }
}
