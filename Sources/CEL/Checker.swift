import Foundation

/// A static cost range, as cel-go's `checker.CostEstimate`: the cost of the cheapest and the most
/// expensive evaluation the declared types allow.
public struct CostEstimate: Sendable, Equatable {
    public var min: UInt64
    public var max: UInt64

    public init(min: UInt64, max: UInt64) {
        self.min = min
        self.max = max
    }

    static let zero = CostEstimate(min: 0, max: 0)
    static func fixed(_ n: UInt64) -> CostEstimate { CostEstimate(min: n, max: n) }

    static func + (a: CostEstimate, b: CostEstimate) -> CostEstimate {
        CostEstimate(min: a.min.addingSaturating(b.min), max: a.max.addingSaturating(b.max))
    }

    func times(_ n: SizeEstimate) -> CostEstimate {
        CostEstimate(min: min.multipliedSaturating(n.min), max: max.multipliedSaturating(n.max))
    }
}

/// The size range of a string, bytes, list or map value.
struct SizeEstimate: Equatable {
    var min: UInt64
    var max: UInt64
    static let one = SizeEstimate(min: 1, max: 1)
}

extension UInt64 {
    func addingSaturating(_ o: UInt64) -> UInt64 {
        let (r, overflow) = addingReportingOverflow(o)
        return overflow ? .max : r
    }

    func multipliedSaturating(_ o: UInt64) -> UInt64 {
        let (r, overflow) = multipliedReportingOverflow(by: o)
        return overflow ? .max : r
    }
}

/// A minimal type checker and cel-go's static cost estimator over one walk of the syntax tree:
/// reports `undeclared reference`, `undefined field` and operator overload mismatches in upstream's
/// format, and estimates cost from the declared types' size bounds.
final class Checker {
    struct Result {
        var type: CELType
        var cost: CostEstimate
        var size: SizeEstimate
    }

    let declarations: [String: CELType]
    let source: String
    let reportErrors: Bool
    var errors: [String] = []
    lazy var tokens: [(Token, Int, Int)] = {
        var lexer = Lexer(source)
        return (try? lexer.tokens()) ?? []
    }()

    init(source: String, declarations: [String: CELType], reportErrors: Bool) {
        self.source = source
        self.declarations = declarations
        self.reportErrors = reportErrors
    }

    // MARK: Sizes

    /// The smallest JSON serialization of a value of `t`, from which Kubernetes bounds unbounded lists.
    static func minSerializedSize(_ t: CELType) -> UInt64 {
        switch t {
        case .bool: return 4
        case .int, .uint, .double: return 1
        case .string, .bytes, .list, .map, .object, .timestamp, .duration: return 2
        case .null: return 4
        default: return 1
        }
    }

    static func size(of t: CELType) -> SizeEstimate {
        let budget = Limits.maxRequestSizeBytes - 2
        switch t {
        case .string(let n), .bytes(let n): return SizeEstimate(min: 0, max: n ?? budget)
        case .list(let e, let n): return SizeEstimate(min: 0, max: n ?? budget / (minSerializedSize(e) + 1))
        case .map(_, let v, let n): return SizeEstimate(min: 0, max: n ?? budget / (minSerializedSize(v) + 4 + 1))
        case .object(_, let fields): return SizeEstimate(min: 0, max: UInt64(fields.count))
        default: return .one
        }
    }

    // MARK: Errors

    func report(_ message: String, at position: (Int, Int)?) {
        guard reportErrors else { return }
        let (line, column) = position ?? (1, 0)
        let lines = source.split(separator: "\n", omittingEmptySubsequences: false)
        let text = line - 1 < lines.count ? String(lines[line - 1]) : ""
        errors.append(
            "ERROR: <input>:\(line):\(column + 1): \(message)\n | \(text)\n | \(String(repeating: ".", count: column))^"
        )
    }

    /// The position of an identifier that is not after a `.`.
    func position(ofIdent name: String) -> (Int, Int)? {
        for (i, t) in tokens.enumerated() where t.0 == .ident(name) {
            if i > 0, tokens[i - 1].0 == .op(".") { continue }
            return (t.1, t.2)
        }
        return nil
    }

    /// The position of the `.` before a selected field.
    func position(ofField name: String) -> (Int, Int)? {
        for (i, t) in tokens.enumerated() where t.0 == .op(".") && i + 1 < tokens.count {
            if tokens[i + 1].0 == .ident(name) { return (t.1, t.2) }
        }
        return nil
    }

    /// The position of a string literal passed first to `fn` (`timestamp('x')`, `s.matches('[')`).
    func position(ofArgument literal: String, of fn: String) -> (Int, Int)? {
        for i in tokens.indices.dropFirst(2) where tokens[i].0 == .string(literal) {
            if tokens[i - 1].0 == .op("("), tokens[i - 2].0 == .ident(fn) { return (tokens[i].1, tokens[i].2) }
        }
        return nil
    }

    func position(ofOperator name: String) -> (Int, Int)? {
        let symbol = name.replacingOccurrences(of: "_", with: "")
        let op: Token = name == "@in" ? .ident("in") : .op(symbol == "?:" ? "?" : symbol)
        return tokens.first { $0.0 == op }.map { ($0.1, $0.2) }
    }

    // MARK: Walk

    static let arithmetic: [String: [(CELType, CELType, CELType)]] = [
        "_+_": [
            (.int, .int, .int), (.uint, .uint, .uint), (.double, .double, .double), (.string, .string, .string),
            (.bytes, .bytes, .bytes), (.timestamp, .duration, .timestamp), (.duration, .timestamp, .timestamp),
            (.duration, .duration, .duration),
        ],
        "_-_": [
            (.int, .int, .int), (.uint, .uint, .uint), (.double, .double, .double),
            (.timestamp, .timestamp, .duration), (.timestamp, .duration, .timestamp), (.duration, .duration, .duration),
        ],
        "_*_": [(.int, .int, .int), (.uint, .uint, .uint), (.double, .double, .double)],
        "_/_": [(.int, .int, .int), (.uint, .uint, .uint), (.double, .double, .double)],
        "_%_": [(.int, .int, .int), (.uint, .uint, .uint)],
    ]

    func visit(_ e: Expr, _ locals: [String: CELType]) -> Result {
        switch e {
        case .literal(let v):
            switch v {
            case .string(let s):
                let n = UInt64(s.utf8.count)
                return Result(type: .string(maxLength: n), cost: .zero, size: SizeEstimate(min: n, max: n))
            case .bytes(let b):
                let n = UInt64(b.count)
                return Result(type: .bytes(maxLength: n), cost: .zero, size: SizeEstimate(min: n, max: n))
            case .int: return Result(type: .int, cost: .zero, size: .one)
            case .uint: return Result(type: .uint, cost: .zero, size: .one)
            case .double: return Result(type: .double, cost: .zero, size: .one)
            case .bool: return Result(type: .bool, cost: .zero, size: .one)
            case .null: return Result(type: .null, cost: .zero, size: .one)
            default: return Result(type: .dyn, cost: .zero, size: .one)
            }
        case .ident(let name):
            if let t = locals[name] ?? declarations[name] {
                return Result(type: t, cost: .fixed(1), size: Self.size(of: t))
            }
            if Evaluator.typeNames.contains(name) || name == "dyn" {
                return Result(type: .opaque("type"), cost: .zero, size: .one)
            }
            report("undeclared reference to '\(name)' (in container '')", at: position(ofIdent: name))
            return Result(type: .dyn, cost: .fixed(1), size: .one)
        case .select(let operand, let field, let testOnly):
            if let name = Parser.qualifiedName(e), locals[String(name.prefix { $0 != "." })] == nil,
                let t = declarations[name]
            {
                return Result(type: t, cost: .fixed(1), size: Self.size(of: t))
            }
            if let name = Parser.qualifiedName(e), Evaluator.typeNames.contains(name) {
                return Result(type: .opaque("type"), cost: .zero, size: .one)
            }
            let o = visit(operand, locals)
            var t = CELType.dyn
            switch o.type {
            case .object(_, let fields):
                if let f = fields[field] {
                    t = f
                } else {
                    report("undefined field '\(field)'", at: position(ofField: field))
                }
            case .map(_, let v, _): t = v
            case .optional(let inner):
                if case .object(_, let fields) = inner, let f = fields[field] { t = .optional(f) }
            default: break
            }
            if testOnly { return Result(type: .bool, cost: o.cost, size: .one) }
            return Result(type: t, cost: o.cost + .fixed(1), size: Self.size(of: t))
        case .list(let items):
            var cost = CostEstimate.fixed(10)
            var elem: CELType? = nil
            for i in items {
                let r = visit(i, locals)
                cost = cost + r.cost
                elem = elem == nil ? r.type : (elem!.kind == r.type.kind ? elem : .dyn)
            }
            let n = UInt64(items.count)
            return Result(type: .list(elem ?? .dyn, maxItems: n), cost: cost, size: SizeEstimate(min: n, max: n))
        case .map(let entries):
            var cost = CostEstimate.fixed(30)
            var key: CELType? = nil
            var value: CELType? = nil
            for (k, v) in entries {
                let kr = visit(k, locals)
                let vr = visit(v, locals)
                cost = cost + kr.cost + vr.cost
                key = key == nil ? kr.type : (key!.kind == kr.type.kind ? key : .dyn)
                value = value == nil ? vr.type : (value!.kind == vr.type.kind ? value : .dyn)
            }
            let n = UInt64(entries.count)
            return Result(
                type: .map(key: key ?? .dyn, value: value ?? .dyn, maxProperties: n), cost: cost,
                size: SizeEstimate(min: n, max: n))
        case .object(let name, let fields):
            var cost = CostEstimate.fixed(40)
            var types: [String: CELType] = [:]
            for (f, v) in fields {
                let r = visit(v, locals)
                cost = cost + r.cost
                types[f] = r.type
            }
            let n = UInt64(fields.count)
            return Result(type: .object(name: name, fields: types), cost: cost, size: SizeEstimate(min: n, max: n))
        case .comprehension(let m, let v1, let v2, let range, let body, let transform):
            return comprehension(m, v1, v2, range, body, transform, locals)
        case .call(let name, let target, let args):
            return call(name, target, args, locals)
        }
    }

    func comprehension(
        _ m: Macro, _ v1: String, _ v2: String?, _ range: Expr, _ body: Expr, _ transform: Expr?,
        _ locals: [String: CELType]
    ) -> Result {
        let r = visit(range, locals)
        var scope = locals
        switch m {
        case .bind:
            scope[v1] = r.type
            let b = visit(body, scope)
            return Result(type: b.type, cost: r.cost + b.cost, size: b.size)
        case .optMap, .optFlatMap:
            if case .optional(let inner) = r.type { scope[v1] = inner } else { scope[v1] = .dyn }
            let b = visit(body, scope)
            return Result(type: m == .optMap ? .optional(b.type) : b.type, cost: r.cost + b.cost, size: b.size)
        default: break
        }
        switch r.type {
        case .list(let e, _):
            if let v2 {
                scope[v1] = .int
                scope[v2] = e
            } else {
                scope[v1] = e
            }
        case .map(let k, let v, _):
            scope[v1] = k
            if let v2 { scope[v2] = v }
        default:
            scope[v1] = .dyn
            if let v2 { scope[v2] = .dyn }
        }
        let b = visit(body, scope)
        var perIteration = b.cost
        if let transform { perIteration = perIteration + visit(transform, scope).cost }
        let overhead: UInt64
        let type: CELType
        switch m {
        case .all, .exists:
            overhead = 3
            type = .bool
        case .existsOne:
            overhead = 2
            type = .bool
        case .map, .transformList:
            overhead = 12
            type = .list(transform.map { visit($0, scope).type } ?? b.type, maxItems: r.size.max)
        case .filter:
            overhead = 13
            if case .list(let e, _) = r.type { type = .list(e, maxItems: r.size.max) } else { type = .list(.dyn) }
        default:
            overhead = 32
            type = .map(key: .dyn, value: .dyn, maxProperties: r.size.max)
        }
        let loop = (perIteration + .fixed(overhead)).times(r.size)
        return Result(type: type, cost: r.cost + loop, size: SizeEstimate(min: 0, max: r.size.max))
    }

    func mismatch(_ name: String, _ args: [CELType]) {
        let shown = args.map(\.description).joined(separator: ", ")
        report("found no matching overload for '\(name)' applied to '(\(shown))'", at: position(ofOperator: name))
    }

    func call(_ name: String, _ target: Expr?, _ args: [Expr], _ locals: [String: CELType]) -> Result {
        // A namespaced function (`optional.of`) when the target is a namespace, not a variable.
        var fn = name
        var operands: [Result] = []
        if let target {
            if let ns = Parser.qualifiedName(target), Evaluator.namespaces.contains(ns), locals[ns] == nil,
                declarations[ns] == nil
            {
                fn = "\(ns).\(name)"
            } else {
                operands.append(visit(target, locals))
            }
        }
        for a in args { operands.append(visit(a, locals)) }
        let types = operands.map(\.type)
        let argCost = operands.reduce(CostEstimate.zero) { $0 + $1.cost }
        let concrete = !types.contains { $0.isDyn }
        switch fn {
        case "_&&_", "_||_":
            if concrete, types.contains(where: { $0.kind != "bool" }) { mismatch(fn, types) }
            // The right side may be skipped.
            let cost = CostEstimate(min: operands[0].cost.min, max: argCost.max)
            return Result(type: .bool, cost: cost, size: .one)
        case "_?_:_":
            if concrete, types[0].kind != "bool" { mismatch(fn, types) }
            let cost =
                operands[0].cost
                + CostEstimate(
                    min: Swift.min(operands[1].cost.min, operands[2].cost.min),
                    max: Swift.max(operands[1].cost.max, operands[2].cost.max))
            let t = types[1].kind == types[2].kind ? types[1] : .dyn
            return Result(type: t, cost: cost, size: operands[1].size)
        case "!_":
            if concrete, types[0].kind != "bool" { mismatch(fn, types) }
            return Result(type: .bool, cost: argCost + .fixed(1), size: .one)
        case "-_":
            if concrete, !["int", "double"].contains(types[0].kind) { mismatch(fn, types) }
            return Result(type: types[0], cost: argCost + .fixed(1), size: .one)
        default: break
        }
        if let overloads = Self.arithmetic[fn], types.count == 2 {
            var result = CELType.dyn
            if concrete {
                if let o = overloads.first(where: { $0.0.kind == types[0].kind && $0.1.kind == types[1].kind }) {
                    result = o.2
                } else if fn == "_+_", types[0].kind == "list", types[1].kind == "list" {
                    result = types[0]
                } else {
                    mismatch(fn, types)
                }
            }
            var size = SizeEstimate.one
            var callCost = CostEstimate.fixed(1)
            if fn == "_+_", ["string", "bytes", "list"].contains(types[0].kind) {
                size = SizeEstimate(
                    min: operands[0].size.min.addingSaturating(operands[1].size.min),
                    max: operands[0].size.max.addingSaturating(operands[1].size.max))
                callCost = CostEstimate(
                    min: 1 + Cost.ceil(Double(size.min) * 0.1), max: 1 + Cost.ceil(Double(size.max) * 0.1))
                switch result {
                case .string: result = .string(maxLength: size.max)
                case .bytes: result = .bytes(maxLength: size.max)
                case .list(let e, _): result = .list(e, maxItems: size.max)
                default: break
                }
            }
            return Result(type: result, cost: argCost + callCost, size: size)
        }
        let sizes = operands.map(\.size)
        func traversal(_ f: (SizeEstimate) -> UInt64) -> UInt64 { Cost.ceil(Double(f(sizes[0])) * Cost.traversal) }
        var callCost = CostEstimate.fixed(1)
        var type = CELType.dyn
        var size = SizeEstimate.one
        switch (fn, operands.count) {
        case ("_==_", 2), ("_!=_", 2), ("_<_", 2), ("_<=_", 2), ("_>_", 2), ("_>=_", 2):
            type = .bool
            if ["string", "bytes", "list", "map"].contains(types[0].kind) {
                callCost = CostEstimate(
                    min: 1 + Cost.ceil(Double(Swift.min(sizes[0].min, sizes[1].min)) * 0.1),
                    max: 1 + Cost.ceil(Double(Swift.min(sizes[0].max, sizes[1].max)) * 0.1))
            }
        case ("@in", 2):
            type = .bool
            if types[1].kind == "list" { callCost = CostEstimate(min: 1 + sizes[1].min, max: 1 + sizes[1].max) }
        case ("size", 1): type = .int
        case ("contains", 2), ("startsWith", 2), ("endsWith", 2), ("matches", 2):
            type = .bool
            let factor = fn == "matches" ? Cost.regexFactor : Cost.traversal
            callCost = CostEstimate(
                min: 1 + Cost.ceil(Double(1 + sizes[0].min) * 0.1) * Cost.ceil(Double(sizes[1].min) * factor),
                max: 1 + Cost.ceil(Double(1 + sizes[0].max) * 0.1) * Cost.ceil(Double(1 + sizes[1].max) * factor))
        case ("lowerAscii", 1), ("upperAscii", 1), ("trim", 1), ("replace", _), ("substring", _), ("charAt", _),
            ("strings.quote", 1), ("format", 2):
            type = .string(maxLength: sizes[0].max)
            size = sizes[0]
            callCost = CostEstimate(min: 1 + traversal(\.min), max: 1 + traversal(\.max))
        case ("split", _):
            type = .list(.string(maxLength: sizes[0].max), maxItems: sizes[0].max)
            size = SizeEstimate(min: 0, max: sizes[0].max)
            callCost = CostEstimate(min: 1 + traversal(\.min), max: 1 + traversal(\.max))
        case ("indexOf", _), ("lastIndexOf", _):
            type = .int
            callCost = CostEstimate(min: 1 + traversal(\.min), max: 1 + traversal(\.max))
        case ("join", _):
            type = .string
            callCost = CostEstimate(min: 1 + sizes[0].min, max: 1 + sizes[0].max)
        case ("isSorted", 1), ("sum", 1), ("min", 1), ("max", 1), ("sets.contains", 2), ("sets.equivalent", 2),
            ("sets.intersects", 2):
            if case .list(let e, _) = types[0], fn == "sum" || fn == "min" || fn == "max" { type = e }
            if fn == "isSorted" || fn.hasPrefix("sets.") { type = .bool }
            let other = operands.count > 1 ? sizes[1] : .one
            callCost = CostEstimate(
                min: 1 + sizes[0].min.multipliedSaturating(other.min),
                max: 1 + sizes[0].max.multipliedSaturating(other.max))
        case ("check", 2):
            // Kubernetes' library cost estimator charges an authorization check a fixed 350,000.
            callCost = .fixed(350_000)
        case ("int", 1): type = .int
        case ("uint", 1): type = .uint
        case ("double", 1): type = .double
        case ("string", 1): type = .string
        case ("bool", 1): type = .bool
        case ("timestamp", 1): type = .timestamp
        case ("duration", 1): type = .duration
        case ("quantity", 1), ("ip", 1), ("cidr", 1), ("url", 1), ("semver", _), ("isQuantity", 1), ("isIP", 1),
            ("isCIDR", 1), ("isURL", 1), ("isSemver", _):
            type = fn.hasPrefix("is") ? .bool : .opaque(fn)
            callCost = CostEstimate(min: 1 + traversal(\.min), max: 1 + traversal(\.max))
        default: break
        }
        return Result(type: type, cost: argCost + callCost, size: size)
    }
}

extension Program {
    /// Type-checks the expression against declared variables; fails with upstream's messages
    /// (`ERROR: <input>:1:1: undeclared reference to 'x' (in container '')`, `found no matching overload
    /// for '_+_' applied to '(int, string)'`, `undefined field 'f'`), one per line group.
    public func check(_ declarations: [String: CELType]) throws(CELError) {
        let c = Checker(source: source, declarations: declarations, reportErrors: true)
        _ = c.visit(ast, [:])
        if !c.errors.isEmpty { throw CELError(c.errors.joined(separator: "\n")) }
    }

    /// cel-go's static cost estimate against declared variables and their size bounds (Kubernetes
    /// compares `max` to `Limits.staticEstimatedCostLimit` per rule and sums it per CRD).
    public func estimateCost(_ declarations: [String: CELType]? = nil) -> CostEstimate {
        let declarations = declarations ?? environment.variables
        return Checker(source: source, declarations: declarations, reportErrors: false).visit(ast, [:]).cost
    }
}
