import Foundation

/// An evaluation failure (`no such key: x`, `no such overload`, `division by zero`, …).
public struct EvalError: Error, Equatable, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Evaluates expressions against named values, with CEL's standard functions and the Kubernetes
/// string and list extensions. Errors propagate as CEL specifies: `||` and `&&` absorb an error
/// when the other side decides the result.
public struct Interpreter: Sendable {
    public init() {}

    static let typeNames: Set<String> = [
        "int", "uint", "double", "string", "bytes", "bool", "list", "map", "null_type", "type",
    ]

    public func evaluate(_ e: Expr, _ vars: [String: Value]) throws(EvalError) -> Value {
        switch e {
        case .literal(let v): return v
        case .ident(let name):
            if let v = vars[name] { return v }
            if Self.typeNames.contains(name) { return .type(name) }
            throw EvalError("undeclared reference to '\(name)'")
        case .select(let operand, let field, let testOnly):
            let v = try evaluate(operand, vars)
            guard case .map(let entries) = v else {
                throw EvalError("no such overload: \(v.typeName).\(field)")
            }
            let found = entries.first { $0.key == .string(field) }
            if testOnly { return .bool(found != nil) }
            guard let found else { throw EvalError("no such key: \(field)") }
            return found.value
        case .list(let items):
            var out: [Value] = []
            for i in items { out.append(try evaluate(i, vars)) }
            return .list(out)
        case .map(let entries):
            var out: [(key: Value, value: Value)] = []
            for (k, v) in entries {
                let key = try evaluate(k, vars)
                if out.contains(where: { $0.key == key }) { throw EvalError("Failed with repeated key") }
                out.append((key, try evaluate(v, vars)))
            }
            return .map(out)
        case .comprehension(let macro, let variable, let range, let body, let transform):
            return try comprehension(macro, variable, range, body, transform, vars)
        case .call(let name, let target, let args):
            return try call(name, target, args, vars)
        }
    }

    func comprehension(
        _ m: Macro, _ variable: String, _ range: Expr, _ body: Expr, _ transform: Expr?, _ vars: [String: Value]
    ) throws(EvalError) -> Value {
        let items: [Value]
        switch try evaluate(range, vars) {
        case .list(let l): items = l
        case .map(let entries): items = entries.map(\.key)
        case let v: throw EvalError("no such overload: \(m.rawValue) over \(v.typeName)")
        }
        var scope = vars
        switch m {
        case .all, .exists:
            var firstError: EvalError? = nil
            for item in items {
                scope[variable] = item
                do throws(EvalError) {
                    let r = try evaluate(body, scope)
                    guard case .bool(let b) = r else { throw EvalError("no such overload") }
                    if m == .all && !b { return .bool(false) }
                    if m == .exists && b { return .bool(true) }
                } catch {
                    firstError = firstError ?? error
                }
            }
            if let firstError { throw firstError }
            return .bool(m == .all)
        case .existsOne:
            var n = 0
            for item in items {
                scope[variable] = item
                guard case .bool(let b) = try evaluate(body, scope) else { throw EvalError("no such overload") }
                if b { n += 1 }
            }
            return .bool(n == 1)
        case .map:
            var out: [Value] = []
            for item in items {
                scope[variable] = item
                if let transform {
                    guard case .bool(let keep) = try evaluate(body, scope) else { throw EvalError("no such overload") }
                    if keep { out.append(try evaluate(transform, scope)) }
                } else {
                    out.append(try evaluate(body, scope))
                }
            }
            return .list(out)
        case .filter:
            var out: [Value] = []
            for item in items {
                scope[variable] = item
                guard case .bool(let keep) = try evaluate(body, scope) else { throw EvalError("no such overload") }
                if keep { out.append(item) }
            }
            return .list(out)
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
                    pending = pending ?? error
                }
            }
            if let pending { throw pending }
            return .bool(!stop)
        case "_?_:_":
            guard case .bool(let c) = try evaluate(args[0], vars) else { throw EvalError("no such overload: _?_:_") }
            return try evaluate(c ? args[1] : args[2], vars)
        default:
            break
        }
        var values: [Value] = []
        if let target { values.append(try evaluate(target, vars)) }
        for a in args { values.append(try evaluate(a, vars)) }
        return try Functions.apply(name, receiver: target != nil, values)
    }
}
