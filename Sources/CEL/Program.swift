/// What a host declares to the compiler: the message types `Type{…}` may construct (MutatingAdmissionPolicy's
/// `Object` and `JSONPatch`; a registered name also admits its nested names, `Object` admits `Object.spec`),
/// and the variables with their types. With variables declared, compilation type-checks the expression
/// against them, as Kubernetes compiles CRD rules and admission policy expressions.
public struct Environment: Sendable {
    public var objectTypes: Set<String>
    public var variables: [String: CELType]

    public init(objectTypes: Set<String> = [], variables: [String: CELType] = [:]) {
        self.objectTypes = objectTypes
        self.variables = variables
    }

    func allows(_ type: String) -> Bool {
        let name = type.hasPrefix(".") ? String(type.dropFirst()) : type
        if objectTypes.contains(name) { return true }
        return objectTypes.contains { name.hasPrefix($0 + ".") }
    }
}

/// An evaluation's result and the runtime cost cel-go's tracker would have charged for it.
public struct Evaluation: Sendable, Equatable {
    public var value: Value
    public var cost: UInt64
}

/// A compiled CEL expression, ready to evaluate many times.
public struct Program: Sendable {
    public let source: String
    public let ast: Expr
    public let environment: Environment

    /// Parses `source`; fails with upstream's `ERROR: <input>:line:col: …` text.
    public init(_ source: String, environment: Environment = Environment()) throws(CELError) {
        self.source = source
        self.environment = environment
        do { ast = try Parser.parse(source) } catch let e as CELError { throw e } catch {
            throw CELError("\(error)")
        }
        if let bad = Self.objectTypes(ast).first(where: { !environment.allows($0) }) {
            let c = Checker(source: source, declarations: [:], reportErrors: true)
            let root = String(bad.drop { $0 == "." }.prefix { $0 != "." })
            c.report("undeclared reference to '\(bad)' (in container '')", at: c.position(ofIdent: root))
            throw CELError(c.errors.joined(separator: "\n"))
        }
        try Self.validateLiterals(ast, source)
        if !environment.variables.isEmpty { try check(environment.variables) }
    }

    /// cel-go's literal validators, which Kubernetes enables: a constant argument to `timestamp`,
    /// `duration` or `matches` must be valid (`invalid timestamp argument`, at the literal).
    static func validateLiterals(_ e: Expr, _ source: String) throws(CELError) {
        var bad: [(fn: String, literal: String)] = []
        func walk(_ e: Expr) {
            switch e {
            case .literal, .ident: break
            case .select(let o, _, _): walk(o)
            case .call(let name, let t, let args):
                if case .literal(.string(let lit))? = args.first {
                    switch (name, t == nil) {
                    case ("timestamp", true) where (try? Time.parseTimestamp(lit)) == nil: bad.append((name, lit))
                    case ("duration", true) where (try? Time.parseDuration(lit)) == nil: bad.append((name, lit))
                    case ("matches", false) where (try? Functions.regex(lit)) == nil: bad.append((name, lit))
                    default: break
                    }
                }
                if let t { walk(t) }
                args.forEach(walk)
            case .list(let items): items.forEach(walk)
            case .map(let entries):
                entries.forEach {
                    walk($0.key); walk($0.value)
                }
            case .object(_, let fields): fields.forEach { walk($0.value) }
            case .comprehension(_, _, _, let r, let b, let t):
                walk(r)
                walk(b)
                if let t { walk(t) }
            }
        }
        walk(e)
        guard !bad.isEmpty else { return }
        let c = Checker(source: source, declarations: [:], reportErrors: true)
        for (fn, lit) in bad { c.report("invalid \(fn) argument", at: c.position(ofArgument: lit, of: fn)) }
        throw CELError(c.errors.joined(separator: "\n"))
    }

    public func evaluate(_ vars: [String: Value]) throws(EvalError) -> Value {
        try Evaluator(costLimit: nil, vars).evaluate(ast, vars)
    }

    /// Evaluates with runtime cost tracking; past `costLimit` it fails with
    /// `operation cancelled: actual cost limit exceeded` (Kubernetes' per-call limit is `Limits.perCallLimit`).
    public func evaluate(_ vars: [String: Value], costLimit: UInt64?) throws(EvalError) -> Evaluation {
        let e = Evaluator(costLimit: costLimit, vars, tracking: true)
        let v = try e.evaluate(ast, vars)
        return Evaluation(value: v, cost: e.cost)
    }

    /// The message type names the expression constructs.
    static func objectTypes(_ e: Expr) -> [String] {
        var out: [String] = []
        func walk(_ e: Expr) {
            switch e {
            case .literal, .ident: break
            case .select(let o, _, _): walk(o)
            case .call(_, let t, let args):
                if let t { walk(t) }
                args.forEach(walk)
            case .list(let items): items.forEach(walk)
            case .map(let entries):
                entries.forEach {
                    walk($0.key); walk($0.value)
                }
            case .object(let t, let fields):
                out.append(t)
                fields.forEach { walk($0.value) }
            case .comprehension(_, _, _, let r, let b, let t):
                walk(r)
                walk(b)
                if let t { walk(t) }
            }
        }
        walk(e)
        return out
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
        case .object(_, let fields): return fields.contains { references($0.value, name) }
        case .comprehension(_, let v, let v2, let r, let b, let t):
            return references(r, name)
                || (v != name && v2 != name && (references(b, name) || (t.map { references($0, name) } ?? false)))
        }
    }
}
