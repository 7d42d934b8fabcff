import Foundation

/// cel-go's runtime cost of one function call (interpreter/runtimecost.go, with Kubernetes'
/// library cost estimator): 1 for most calls, proportional to the size of the strings, bytes and
/// lists a call traverses.
enum Cost {
    /// cel-go's `common.StringTraversalCostFactor`.
    static let traversal = 0.1
    /// cel-go's `common.RegexStringLengthCostFactor`.
    static let regexFactor = 0.25

    static func size(_ v: Value) -> Double {
        switch v {
        case .string(let s): return Double(s.utf8.count)
        case .bytes(let b): return Double(b.count)
        case .list(let l): return Double(l.count)
        case .map(let m): return Double(m.count)
        default: return 1
        }
    }

    static func ceil(_ d: Double) -> UInt64 { UInt64(Foundation.ceil(max(0, d))) }

    static func call(_ name: String, receiver: Bool, _ v: [Value]) -> UInt64 {
        switch (name, v.count) {
        case ("_==_", 2), ("_!=_", 2), ("_<_", 2), ("_<=_", 2), ("_>_", 2), ("_>=_", 2):
            switch (v[0], v[1]) {
            case (.string, .string), (.bytes, .bytes), (.list, .list), (.map, .map):
                return 1 + ceil(min(size(v[0]), size(v[1])) * traversal)
            default: return 1
            }
        case ("_+_", 2):
            switch (v[0], v[1]) {
            case (.string, .string), (.bytes, .bytes), (.list, .list):
                return 1 + ceil((size(v[0]) + size(v[1])) * traversal)
            default: return 1
            }
        case ("startsWith", 2), ("endsWith", 2): return 1 + ceil(size(v[1]) * traversal)
        case ("contains", 2):
            return 1 + ceil((1 + size(v[0])) * traversal) * ceil((1 + size(v[1])) * traversal)
        case ("matches", 2), ("find", 2), ("findAll", 2), ("findAll", 3):
            return 1 + ceil((1 + size(v[0])) * traversal) * ceil(size(v[1]) * regexFactor)
        case ("@in", 2):
            if case .list = v[1] { return 1 + ceil(size(v[1])) }
            return 1
        case ("string", 1), ("bytes", 1): return 1 + ceil(size(v[0]) * traversal)
        case ("lowerAscii", 1), ("upperAscii", 1), ("trim", 1), ("split", _), ("replace", _), ("substring", _),
            ("charAt", _), ("indexOf", _), ("lastIndexOf", _), ("join", _), ("strings.quote", 1), ("format", 2),
            ("quantity", 1), ("isQuantity", 1), ("url", 1), ("isURL", 1), ("ip", 1), ("isIP", 1), ("cidr", 1),
            ("isCIDR", 1), ("semver", _), ("isSemver", _), ("validate", 2), ("timestamp", 1), ("duration", 1):
            return 1 + ceil(size(v.first ?? .null) * traversal) + (v.count > 1 ? ceil(size(v[1]) * traversal) : 0)
        case ("isSorted", 1), ("sum", 1), ("min", 1), ("max", 1), ("sets.contains", 2), ("sets.equivalent", 2),
            ("sets.intersects", 2):
            return 1 + ceil(size(v[0]) * (v.count > 1 ? size(v[1]) : 1))
        case ("check", 2):
            // Kubernetes charges an authorization check as a fixed, large cost.
            if case .opaque(let a) = v[0], a is AuthorizerValue { return 350_000 }
            return 1
        default: return 1
        }
    }
}
