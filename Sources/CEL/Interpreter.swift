import Foundation

/// An evaluation failure (`no such key: x`, `no such overload`, `division by zero`, …).
public struct EvalError: Error, Sendable, CustomStringConvertible {
    public var message: String
    /// Whether evaluation stopped for good (the cost limit): `||` and `&&` never absorb it.
    public var isCancellation: Bool

    public init(_ message: String) {
        self.message = message
        isCancellation = false
    }

    /// cel-go's message when a program's runtime cost passes its limit.
    public static let costLimitExceeded: EvalError = {
        var e = EvalError("operation cancelled: actual cost limit exceeded")
        e.isCancellation = true
        return e
    }()

    public var description: String { message }
}

extension EvalError: Equatable {
    public static func == (a: EvalError, b: EvalError) -> Bool { a.message == b.message }
}

/// Evaluates expressions against named values, with CEL's standard functions and the Kubernetes
/// libraries. Errors propagate as CEL specifies: `||` and `&&` absorb an error when the other side
/// decides the result.
public struct Interpreter: Sendable {
    public init() {}

    public func evaluate(_ e: Expr, _ vars: [String: Value]) throws(EvalError) -> Value {
        try Evaluator(costLimit: nil, vars).evaluate(e, vars)
    }
}

/// One evaluation: the running cost, charged as cel-go's runtime cost tracker charges it.
final class Evaluator {
    var cost: UInt64 = 0
    let costLimit: UInt64?
    /// Variables a comprehension or `cel.bind` introduced: they shadow qualified host variables
    /// (`y.z` in `exists(y, y.z == 0)` is the loop variable's field, not a variable named `y.z`).
    var locals: [String: Int] = [:]
    /// Whether any host variable has a dotted name, so selections must first try the whole name.
    var dottedVariables = false

    /// Whether to count cost at all (only `evaluate(_:costLimit:)` does).
    let tracking: Bool

    init(costLimit: UInt64?, _ vars: [String: Value], tracking: Bool = false) {
        self.costLimit = costLimit
        self.tracking = tracking
        dottedVariables = vars.keys.contains { $0.utf8.contains(UInt8(ascii: ".")) }
    }

    static let typeNames: Set<String> = [
        "int", "uint", "double", "string", "bytes", "bool", "list", "map", "null_type", "type",
        "google.protobuf.Timestamp", "google.protobuf.Duration", "optional_type", "net.IP", "net.CIDR",
        "kubernetes.Quantity", "kubernetes.URL", "kubernetes.Semver", "kubernetes.NamedFormat", "kubernetes.Image",
    ]

    /// Function namespaces (`optional.of`, `sets.contains`); a variable of the same name wins.
    static let namespaces: Set<String> = [
        "optional", "sets", "format", "strings", "jsonpatch", "cel", "ip",
    ]

    @inline(__always)
    func charge(_ n: UInt64) throws(EvalError) {
        guard tracking else { return }
        cost &+= n
        if let costLimit, cost > costLimit { throw EvalError.costLimitExceeded }
    }

    func evaluate(_ e: Expr, _ vars: [String: Value]) throws(EvalError) -> Value {
        switch e {
        case .literal(let v): return v
        case .ident(let name):
            if let v = vars[name] {
                try charge(1)
                return v
            }
            if Self.typeNames.contains(name) { return .type(name) }
            throw EvalError("undeclared reference to '\(name)'")
        case .select(let operand, let field, let testOnly):
            // A host variable may have a dotted name (`authorizer.requestResource`); a loop variable
            // of the same root name shadows it.
            if dottedVariables, let name = Parser.qualifiedName(e), let v = vars[name],
                locals[String(name.prefix { $0 != "." }), default: 0] == 0
            {
                try charge(1)
                return v
            }
            let v: Value
            do throws(EvalError) {
                v = try evaluate(operand, vars)
            } catch {
                // `google.protobuf.Duration`, `net.IP`: type names spelled with dots.
                if let name = Parser.qualifiedName(e), Self.typeNames.contains(name) { return .type(name) }
                throw error
            }
            if !testOnly { try charge(1) }
            return try Self.select(v, field, testOnly: testOnly)
        case .list(let items):
            var out: [Value] = []
            for i in items {
                if case .call("@optional", nil, let inner) = i {
                    let o = try evaluate(inner[0], vars)
                    guard case .optional(let wrapped) = o else { throw Functions.overload("optional element", [o]) }
                    if let wrapped { out.append(wrapped) }
                } else {
                    out.append(try evaluate(i, vars))
                }
            }
            try charge(10)
            return .list(out)
        case .map(let entries):
            var out: [(key: Value, value: Value)] = []
            for (k, v) in entries {
                let key = try evaluate(k, vars)
                switch key {
                case .int, .uint, .string, .bool: break
                default: throw EvalError("unsupported key type")
                }
                if out.contains(where: { $0.key == key }) { throw EvalError("Failed with repeated key") }
                if case .call("@optional", nil, let inner) = v {
                    let o = try evaluate(inner[0], vars)
                    guard case .optional(let wrapped) = o else { throw Functions.overload("optional entry", [o]) }
                    if let wrapped { out.append((key, wrapped)) }
                } else {
                    out.append((key, try evaluate(v, vars)))
                }
            }
            try charge(30)
            return .map(out)
        case .object(let type, let fields):
            var out: [(name: String, value: Value)] = []
            for (name, v) in fields {
                if out.contains(where: { $0.name == name }) { throw EvalError("Failed with repeated field") }
                if case .call("@optional", nil, let inner) = v {
                    let o = try evaluate(inner[0], vars)
                    guard case .optional(let wrapped) = o else { throw Functions.overload("optional field", [o]) }
                    if let wrapped { out.append((name, wrapped)) }
                } else {
                    out.append((name, try evaluate(v, vars)))
                }
            }
            try charge(40)
            return .object(type: type, fields: out)
        case .comprehension(let macro, let v1, let v2, let range, let body, let transform):
            return try comprehension(macro, v1, v2, range, body, transform, vars)
        case .call(let name, let target, let args):
            return try call(name, target, args, vars)
        }
    }

    /// `operand.field` (or `has(operand.field)`) on a map, message or optional.
    static func select(_ v: Value, _ field: String, testOnly: Bool) throws(EvalError) -> Value {
        switch v {
        case .map(let entries):
            let found = entries.first { $0.key == .string(field) }
            if testOnly { return .bool(found != nil) }
            guard let found else { throw EvalError("no such key: \(field)") }
            return found.value
        case .object(_, let fields):
            let found = fields.first { $0.name == field }
            if testOnly { return .bool(found != nil) }
            guard let found else { throw EvalError("no such key: \(field)") }
            return found.value
        case .optional(let wrapped):
            // A field of an optional is itself optional (`a.?b.c`).
            guard let wrapped else { return testOnly ? .bool(false) : .optional(nil) }
            if testOnly { return try select(wrapped, field, testOnly: true) }
            return try optionalSelect(wrapped, .string(field))
        default:
            throw EvalError("no such overload: \(v.typeName).\(field)")
        }
    }

    /// `a.?f` and `a[?k]`: the entry as an optional, none when absent.
    static func optionalSelect(_ v: Value, _ key: Value) throws(EvalError) -> Value {
        switch (v, key) {
        case (.optional(let wrapped), _):
            guard let wrapped else { return .optional(nil) }
            return try optionalSelect(wrapped, key)
        case (.map(let entries), _): return .optional(entries.first { $0.key == key }?.value)
        case (.object(_, let fields), .string(let f)): return .optional(fields.first { $0.name == f }?.value)
        case (.list(let l), _):
            guard let n = Functions.index(key) else { throw Functions.overload("_[?_]", [v, key]) }
            return .optional(n >= 0 && n < l.count ? l[n] : nil)
        default: throw Functions.overload("_[?_]", [v, key])
        }
    }

    func comprehension(
        _ m: Macro, _ v1: String, _ v2: String?, _ range: Expr, _ body: Expr, _ transform: Expr?,
        _ vars: [String: Value]
    ) throws(EvalError) -> Value {
        var scope = vars
        let r = try evaluate(range, vars)
        for v in [v1] + (v2.map { [$0] } ?? []) { locals[v, default: 0] += 1 }
        defer { for v in [v1] + (v2.map { [$0] } ?? []) { locals[v, default: 0] -= 1 } }
        switch m {
        case .bind:
            scope[v1] = r
            return try evaluate(body, scope)
        case .optMap, .optFlatMap:
            guard case .optional(let wrapped) = r else { throw Functions.overload(m.rawValue, [r]) }
            guard let wrapped else { return .optional(nil) }
            scope[v1] = wrapped
            let out = try evaluate(body, scope)
            if m == .optMap { return .optional(out) }
            guard case .optional = out else { throw Functions.overload(m.rawValue, [out]) }
            return out
        default: break
        }
        // Each element as (first variable, second variable): index and value of a list, key and value of a map.
        let items: [(Value, Value)]
        switch r {
        case .list(let l): items = l.enumerated().map { (v2 == nil ? $0.element : .int(Int64($0.offset)), $0.element) }
        case .map(let entries): items = entries.map { ($0.key, $0.value) }
        default: throw EvalError("no such overload: \(m.rawValue) over \(r.typeName)")
        }
        func bind(_ item: (Value, Value)) {
            scope[v1] = item.0
            if let v2 { scope[v2] = item.1 }
        }
        func predicate(_ e: Expr) throws(EvalError) -> Bool {
            let v = try evaluate(e, scope)
            guard case .bool(let b) = v else { throw Functions.overload(m.rawValue, [v]) }
            return b
        }
        switch m {
        case .all, .exists:
            var firstError: EvalError? = nil
            for item in items {
                try charge(3)
                bind(item)
                do throws(EvalError) {
                    let b = try predicate(body)
                    if m == .all && !b { return .bool(false) }
                    if m == .exists && b { return .bool(true) }
                } catch {
                    if error.isCancellation { throw error }
                    firstError = firstError ?? error
                }
            }
            if let firstError { throw firstError }
            return .bool(m == .all)
        case .existsOne:
            var n = 0
            for item in items {
                try charge(2)
                bind(item)
                if try predicate(body) { n += 1 }
            }
            return .bool(n == 1)
        case .map, .transformList:
            var out: [Value] = []
            for item in items {
                try charge(12)
                bind(item)
                if let transform {
                    if try predicate(body) { out.append(try evaluate(transform, scope)) }
                } else {
                    out.append(try evaluate(body, scope))
                }
            }
            return .list(out)
        case .filter:
            var out: [Value] = []
            for item in items {
                try charge(13)
                bind(item)
                if try predicate(body) { out.append(item.0) }
            }
            return .list(out)
        case .transformMap, .transformMapEntry:
            var out: [(key: Value, value: Value)] = []
            for item in items {
                try charge(32)
                bind(item)
                if transform != nil, !(try predicate(body)) { continue }
                let v = try evaluate(transform ?? body, scope)
                if m == .transformMap {
                    out.append((item.0, v))
                } else {
                    guard case .map(let entries) = v else { throw Functions.overload(m.rawValue, [v]) }
                    for (k, x) in entries {
                        if out.contains(where: { $0.key == k }) {
                            throw EvalError("insert failed: key \(Functions.keyText(k)) already exists")
                        }
                        out.append((k, x))
                    }
                }
            }
            return .map(out)
        case .bind, .optMap, .optFlatMap:
            return .null  // Handled above.
        }
    }

    func call(_ name: String, _ target: Expr?, _ args: [Expr], _ vars: [String: Value]) throws(EvalError) -> Value {
        switch name {
        case "_&&_", "_||_":
            let stop = name == "_||_"
            var pending: EvalError? = nil
            for a in args {
                do throws(EvalError) {
                    let v = try evaluate(a, vars)
                    guard case .bool(let b) = v else { throw EvalError("no such overload: \(name)") }
                    if b == stop { return .bool(stop) }
                } catch {
                    if error.isCancellation { throw error }
                    pending = pending ?? error
                }
            }
            if let pending { throw pending }
            return .bool(!stop)
        case "_?_:_":
            let c = try evaluate(args[0], vars)
            guard case .bool(let b) = c else { throw Functions.overload(name, [c]) }
            return try evaluate(b ? args[1] : args[2], vars)
        case "_?._":
            let v = try evaluate(args[0], vars)
            guard case .literal(.string(let field)) = args[1] else { throw EvalError("no such overload: _?._") }
            try charge(1)
            return try Self.optionalSelect(v, .string(field))
        case "or", "orValue":
            // Optional alternatives evaluate lazily, as cel-go's optional library does.
            if let target, args.count == 1 {
                let o = try evaluate(target, vars)
                guard case .optional(let wrapped) = o else { throw Functions.overload(name, [o]) }
                try charge(1)
                if let wrapped { return name == "or" ? o : wrapped }
                let alt = try evaluate(args[0], vars)
                if name == "or", case .optional = alt { return alt }
                if name == "or" { throw Functions.overload(name, [o, alt]) }
                return alt
            }
        default:
            break
        }
        var fn = name
        var values: [Value] = []
        var receiver = target != nil
        if let target {
            if case .ident(let ns) = target, Self.namespaces.contains(ns), vars[ns] == nil {
                fn = "\(ns).\(name)"
                receiver = false
            } else {
                values.append(try evaluate(target, vars))
            }
        }
        for a in args { values.append(try evaluate(a, vars)) }
        if tracking { try charge(Cost.call(fn, receiver: receiver, values)) }
        return try Functions.apply(fn, receiver: receiver, values)
    }
}
