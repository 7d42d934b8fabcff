/// A compiled CEL expression, ready to evaluate many times.
public struct Program: Sendable {
    public let source: String
    public let ast: Expr

    /// Parses `source`; fails with upstream's `ERROR: <input>:line:col: …` text.
    public init(_ source: String) throws(CELError) {
        self.source = source
        do { ast = try Parser.parse(source) } catch let e as CELError { throw e } catch {
            throw CELError("\(error)")
        }
    }

    public func evaluate(_ vars: [String: Value]) throws(EvalError) -> Value {
        try Interpreter().evaluate(ast, vars)
    }

    /// Whether the expression reads `name` (a transition rule reads `oldSelf`).
    public func references(_ name: String) -> Bool { Self.references(ast, name) }

    static func references(_ e: Expr, _ name: String) -> Bool {
        switch e {
        case .literal: return false
        case .ident(let n): return n == name
        case .select(let o, _, _): return references(o, name)
        case .call(_, let t, let args):
            return (t.map { references($0, name) } ?? false) || args.contains { references($0, name) }
        case .list(let items): return items.contains { references($0, name) }
        case .map(let entries): return entries.contains { references($0.key, name) || references($0.value, name) }
        case .comprehension(_, let v, let r, let b, let t):
            return references(r, name)
                || (v != name && (references(b, name) || (t.map { references($0, name) } ?? false)))
        }
    }
}
