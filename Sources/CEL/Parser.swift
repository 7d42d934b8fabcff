/// CEL's grammar: a ternary over `||` over `&&` over relations over `+ -` over `* / %` over
/// unary operators over member access, calls and index; with the standard macros.
public struct Parser {
    var tokens: [(Token, Int, Int)]
    var i = 0

    public static func parse(_ source: String) throws -> Expr {
        var lexer = Lexer(source)
        let toks: [(Token, Int, Int)]
        do { toks = try lexer.tokens() } catch let e as CELError {
            throw CELError("ERROR: <input>:\(lexer.line):\(lexer.column + 1): \(e.message)")
        }
        var p = Parser(tokens: toks)
        let e = try p.expr()
        guard case .eof = p.tok else { throw p.error("Syntax error: mismatched input '\(p.text)' expecting <EOF>") }
        return e
    }

    var tok: Token { tokens[i].0 }

    var text: String {
        switch tok {
        case .ident(let s): return s
        case .int(let v): return String(v)
        case .uint(let v): return "\(v)u"
        case .double(let v): return String(v)
        case .string(let s): return "\"\(s)\""
        case .bytes: return "b\"…\""
        case .op(let o): return o
        case .eof: return "<EOF>"
        }
    }

    func error(_ message: String) -> CELError {
        let (_, l, c) = tokens[i]
        return CELError("ERROR: <input>:\(l):\(c + 1): \(message)")
    }

    mutating func accept(_ op: String) -> Bool {
        if case .op(let o) = tok, o == op {
            i += 1
            return true
        }
        return false
    }

    mutating func expect(_ op: String) throws {
        guard accept(op) else { throw error("Syntax error: mismatched input '\(text)' expecting '\(op)'") }
    }

    mutating func expr() throws -> Expr {
        let cond = try or()
        if accept("?") {
            let a = try or()
            try expect(":")
            let b = try expr()
            return .call("_?_:_", target: nil, args: [cond, a, b])
        }
        return cond
    }

    mutating func or() throws -> Expr {
        var e = try and()
        while accept("||") { e = .call("_||_", target: nil, args: [e, try and()]) }
        return e
    }

    mutating func and() throws -> Expr {
        var e = try relation()
        while accept("&&") { e = .call("_&&_", target: nil, args: [e, try relation()]) }
        return e
    }

    static let relations = ["==": "_==_", "!=": "_!=_", "<": "_<_", "<=": "_<=_", ">": "_>_", ">=": "_>=_"]

    mutating func relation() throws -> Expr {
        var e = try addition()
        while true {
            if case .op(let o) = tok, let name = Self.relations[o] {
                i += 1
                e = .call(name, target: nil, args: [e, try addition()])
            } else if case .ident("in") = tok {
                i += 1
                e = .call("@in", target: nil, args: [e, try addition()])
            } else {
                return e
            }
        }
    }

    mutating func addition() throws -> Expr {
        var e = try multiplication()
        while true {
            if accept("+") {
                e = .call("_+_", target: nil, args: [e, try multiplication()])
            } else if accept("-") {
                e = .call("_-_", target: nil, args: [e, try multiplication()])
            } else {
                return e
            }
        }
    }

    mutating func multiplication() throws -> Expr {
        var e = try unary()
        while true {
            if accept("*") {
                e = .call("_*_", target: nil, args: [e, try unary()])
            } else if accept("/") {
                e = .call("_/_", target: nil, args: [e, try unary()])
            } else if accept("%") {
                e = .call("_%_", target: nil, args: [e, try unary()])
            } else {
                return e
            }
        }
    }

    mutating func unary() throws -> Expr {
        if accept("!") { return .call("!_", target: nil, args: [try unary()]) }
        if accept("-") {
            // A negative literal is folded (so the minimum int is expressible).
            if case .int(let v) = tok {
                i += 1
                return try member(.literal(.int(-v)))
            }
            if case .uint(let v) = tok, v == 9_223_372_036_854_775_808 {
                i += 1
                return try member(.literal(.int(Int64.min)))
            }
            if case .double(let d) = tok {
                i += 1
                return try member(.literal(.double(-d)))
            }
            return .call("-_", target: nil, args: [try unary()])
        }
        return try member(try primary())
    }

    mutating func args() throws -> [Expr] {
        var out: [Expr] = []
        if accept(")") { return out }
        repeat { out.append(try expr()) } while accept(",")
        try expect(")")
        return out
    }

    mutating func member(_ start: Expr) throws -> Expr {
        var e = start
        while true {
            if accept(".") {
                let optional = accept("?")
                guard case .ident(let name) = tok else {
                    throw error("Syntax error: no viable alternative at input '.\(text)'")
                }
                i += 1
                if optional {
                    e = .call("_?._", target: nil, args: [e, .literal(.string(name))])
                } else if accept("(") {
                    let a = try args()
                    e = try macro(name, target: e, args: a) ?? .call(name, target: e, args: a)
                } else if case .op("{") = tok, let type = Self.qualifiedName(.select(e, name, testOnly: false)) {
                    e = try object(type)
                } else {
                    e = .select(e, name, testOnly: false)
                }
            } else if accept("[") {
                let optional = accept("?")
                let index = try expr()
                try expect("]")
                e = .call(optional ? "_[?_]" : "_[_]", target: nil, args: [e, index])
            } else {
                return e
            }
        }
    }

    /// The dotted name an identifier chain spells (`Object.spec`), or nil for any other expression.
    static func qualifiedName(_ e: Expr) -> String? {
        switch e {
        case .ident(let n): return n
        case .select(let o, let f, false): return qualifiedName(o).map { "\($0).\(f)" }
        default: return nil
        }
    }

    /// `Type{field: value, ?optionalField: value}` after the type name.
    mutating func object(_ type: String) throws -> Expr {
        try expect("{")
        var fields: [(name: String, value: Expr)] = []
        if !accept("}") {
            repeat {
                if case .op("}") = tok { break }
                let optional = accept("?")
                guard case .ident(let f) = tok else {
                    throw error("Syntax error: mismatched input '\(text)' expecting IDENTIFIER")
                }
                i += 1
                try expect(":")
                let v = try expr()
                fields.append((f, optional ? .call("@optional", target: nil, args: [v]) : v))
            } while accept(",")
            try expect("}")
        }
        return .object(type, fields: fields)
    }

    func macro(_ name: String, target: Expr, args a: [Expr]) throws -> Expr? {
        func variable(_ n: Int) throws -> String {
            guard case .ident(let v) = a[n] else {
                throw error("argument must be a simple name")
            }
            return v
        }
        if name == "bind", case .ident("cel") = target, a.count == 3 {
            return .comprehension(
                .bind, variable: try variable(0), variable2: nil, range: a[1], body: a[2], transform: nil)
        }
        let m: Macro? = name == "existsOne" ? .existsOne : Macro(rawValue: name)
        guard let m, m != .bind else { return nil }
        switch (m, a.count) {
        // `map(x, filter, transform)`: body is the filter, transform the value.
        case (.map, 3):
            return .comprehension(
                .map, variable: try variable(0), variable2: nil, range: target, body: a[1], transform: a[2])
        case (.all, 3), (.exists, 3), (.existsOne, 3), (.transformList, 3), (.transformMap, 3),
            (.transformMapEntry, 3):
            return .comprehension(
                m, variable: try variable(0), variable2: try variable(1), range: target, body: a[2], transform: nil)
        case (.transformList, 4), (.transformMap, 4), (.transformMapEntry, 4):
            return .comprehension(
                m, variable: try variable(0), variable2: try variable(1), range: target, body: a[2], transform: a[3])
        case (.transformList, _), (.transformMap, _), (.transformMapEntry, _): return nil
        case (_, 2):
            return .comprehension(
                m, variable: try variable(0), variable2: nil, range: target, body: a[1], transform: nil)
        default: return nil
        }
    }

    /// List elements or map entries, each optionally marked `?` (`[?a, b]`, `{?k: v}`).
    mutating func element() throws -> Expr {
        let optional = accept("?")
        let e = try expr()
        return optional ? .call("@optional", target: nil, args: [e]) : e
    }

    mutating func primary() throws -> Expr {
        let t = tok
        i += 1
        switch t {
        case .int(let v): return .literal(.int(v))
        case .uint(let v): return .literal(.uint(v))
        case .double(let v): return .literal(.double(v))
        case .string(let s): return .literal(.string(s))
        case .bytes(let b): return .literal(.bytes(b))
        case .ident(let name):
            switch name {
            case "true": return .literal(.bool(true))
            case "false": return .literal(.bool(false))
            case "null": return .literal(.null)
            default: break
            }
            if Lexer.reserved.contains(name) {
                i -= 1
                throw error("Syntax error: reserved identifier: \(name)")
            }
            if case .op("{") = tok {
                return try object(name)
            }
            if accept("(") {
                let a = try args()
                if name == "has" {
                    guard a.count == 1, case .select(let operand, let field, _) = a[0] else {
                        throw CELError("ERROR: <input>: invalid argument to has() macro")
                    }
                    return .select(operand, field, testOnly: true)
                }
                return .call(name, target: nil, args: a)
            }
            return .ident(name)
        case .op("("):
            let e = try expr()
            try expect(")")
            return e
        case .op("["):
            var items: [Expr] = []
            if !accept("]") {
                repeat {
                    if case .op("]") = tok { break }
                    items.append(try element())
                } while accept(",")
                try expect("]")
            }
            return .list(items)
        case .op("{"):
            var entries: [(key: Expr, value: Expr)] = []
            if !accept("}") {
                repeat {
                    if case .op("}") = tok { break }
                    let k = try element()
                    try expect(":")
                    if case .call("@optional", nil, let inner) = k {
                        entries.append((inner[0], .call("@optional", target: nil, args: [try expr()])))
                    } else {
                        entries.append((k, try expr()))
                    }
                } while accept(",")
                try expect("}")
            }
            return .map(entries)
        case .op("."):
            // A leading dot names the root scope.
            guard case .ident(let name) = tok else { throw error("Syntax error: no viable alternative at input '.'") }
            i += 1
            if case .op("{") = tok { return try object(name) }
            if accept("(") { return .call(name, target: nil, args: try args()) }
            return .ident(name)
        default:
            i -= 1
            throw error(
                "Syntax error: mismatched input '\(text)' expecting {'[', '{', '(', '.', '-', '!', 'true', 'false', 'null', NUM_FLOAT, NUM_INT, NUM_UINT, STRING, BYTES, IDENTIFIER}"
            )
        }
    }
}
