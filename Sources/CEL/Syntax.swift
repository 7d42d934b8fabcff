/// A parsed CEL expression (the Common Expression Language of Kubernetes validation rules).
public indirect enum Expr: Sendable, Equatable {
    case literal(Value)
    case ident(String)
    /// `operand.field`; `testOnly` for `has(operand.field)`.
    case select(Expr, String, testOnly: Bool)
    /// A function or operator (`_+_`, `_[_]`, `!_`, …) with an optional receiver (`s.size()`).
    case call(String, target: Expr?, args: [Expr])
    case list([Expr])
    case map([(key: Expr, value: Expr)])
    /// A message construction `Type{field: value}`; a field whose value is `@optional(e)` was `?field: e`.
    case object(String, fields: [(name: String, value: Expr)])
    /// A macro's loop: `range.all(x, pred)` and friends; `variable2` names the value in the two-variable
    /// forms (`all(i, v, pred)`, `transformList(i, v, e)`). `cel.bind(x, init, body)` binds `variable`
    /// to `range` once; `o.optMap(x, e)` binds it to an optional's value.
    case comprehension(Macro, variable: String, variable2: String?, range: Expr, body: Expr, transform: Expr?)

    public static func == (a: Expr, b: Expr) -> Bool { "\(a)" == "\(b)" }
}

public enum Macro: String, Sendable {
    case all, exists, existsOne = "exists_one", map, filter
    case transformList, transformMap, transformMapEntry, bind, optMap, optFlatMap
}

/// A syntax error with upstream's position format (`<input>:1:6`).
public struct CELError: Error, Equatable, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Tokens of CEL source.
enum Token: Equatable {
    case ident(String)
    case int(Int64)
    case uint(UInt64)
    case double(Double)
    case string(String)
    case bytes([UInt8])
    case op(String)
    case eof
}

struct Lexer {
    let chars: [Character]
    var pos = 0
    var line = 1
    var column = 0

    init(_ text: String) { chars = Array(text) }

    static let reserved: Set<String> = [
        "as", "break", "const", "continue", "else", "for", "function", "if", "import", "let", "loop", "package",
        "namespace", "return", "var", "void", "while",
    ]

    mutating func tokens() throws -> [(Token, Int, Int)] {
        var out: [(Token, Int, Int)] = []
        while true {
            skipSpace()
            let (l, c) = (line, column)
            guard pos < chars.count else {
                out.append((.eof, l, c))
                return out
            }
            out.append((try next(), l, c))
        }
    }

    mutating func advance() -> Character {
        let ch = chars[pos]
        pos += 1
        if ch == "\n" {
            line += 1
            column = 0
        } else {
            column += 1
        }
        return ch
    }

    func peek(_ o: Int = 0) -> Character? { pos + o < chars.count ? chars[pos + o] : nil }

    mutating func skipSpace() {
        while let ch = peek() {
            if ch == " " || ch == "\t" || ch == "\n" || ch == "\r" || ch == "\u{0C}" {
                _ = advance()
            } else if ch == "/" && peek(1) == "/" {
                while let c = peek(), c != "\n" { _ = advance() }
            } else {
                return
            }
        }
    }

    mutating func next() throws -> Token {
        let ch = peek()!
        if ch.isLetter || ch == "_" {
            var s = ""
            while let c = peek(), c.isLetter || c.isNumber || c == "_" { s.append(advance()) }
            // String and bytes prefixes.
            if let q = peek(), q == "\"" || q == "'" {
                let lower = s.lowercased()
                if lower == "r" || lower == "b" || lower == "rb" || lower == "br" {
                    let raw = lower.contains("r")
                    let isBytes = lower.contains("b")
                    let text = try quoted(raw: raw, bytes: isBytes)
                    return isBytes ? .bytes(text) : .string(String(decoding: text, as: UTF8.self))
                }
            }
            return .ident(s)
        }
        if ch.isNumber || (ch == "." && (peek(1)?.isNumber ?? false)) { return try number() }
        if ch == "\"" || ch == "'" { return .string(String(decoding: try quoted(raw: false), as: UTF8.self)) }
        for op in ["==", "!=", "<=", ">=", "&&", "||"] where peek() == op.first && peek(1) == op.last {
            _ = advance()
            _ = advance()
            return .op(op)
        }
        if "+-*/%!<>?:.,[](){}".contains(ch) { return .op(String(advance())) }
        throw CELError("Syntax error: token recognition error at: '\(ch)'")
    }

    mutating func number() throws -> Token {
        var s = ""
        if peek() == "0", let x = peek(1), x == "x" || x == "X" {
            _ = advance()
            _ = advance()
            while let c = peek(), c.isHexDigit { s.append(advance()) }
            if peek() == "u" || peek() == "U" {
                _ = advance()
                guard let v = UInt64(s, radix: 16) else { throw CELError("invalid uint literal") }
                return .uint(v)
            }
            guard let v = Int64(s, radix: 16) else { throw CELError("invalid int literal") }
            return .int(v)
        }
        var isDouble = false
        while let c = peek(), c.isNumber { s.append(advance()) }
        if peek() == ".", let n = peek(1), n.isNumber {
            isDouble = true
            s.append(advance())
            while let c = peek(), c.isNumber { s.append(advance()) }
        }
        if let e = peek(), e == "e" || e == "E" {
            isDouble = true
            s.append(advance())
            if let sign = peek(), sign == "+" || sign == "-" { s.append(advance()) }
            while let c = peek(), c.isNumber { s.append(advance()) }
        }
        if isDouble {
            guard let d = Double(s) else { throw CELError("invalid double literal") }
            return .double(d)
        }
        if peek() == "u" || peek() == "U" {
            _ = advance()
            guard let v = UInt64(s) else { throw CELError("invalid uint literal") }
            return .uint(v)
        }
        guard let v = Int64(s) else {
            // 9223372036854775808 is valid only after unary minus.
            if s == "9223372036854775808" { return .uint(9_223_372_036_854_775_808) }
            throw CELError("invalid int literal")
        }
        return .int(v)
    }

    /// The UTF-8 of a quoted literal; in a bytes literal, octal and `\\x` escapes are raw bytes.
    mutating func quoted(raw: Bool, bytes: Bool = false) throws -> [UInt8] {
        let q = advance()
        let triple = peek() == q && peek(1) == q
        if triple {
            _ = advance()
            _ = advance()
        }
        var out: [UInt8] = []
        while true {
            guard let c = peek() else { throw CELError("Syntax error: unterminated string") }
            if triple {
                if c == q && peek(1) == q && peek(2) == q {
                    _ = advance()
                    _ = advance()
                    _ = advance()
                    return out
                }
            } else if c == q {
                _ = advance()
                return out
            } else if c == "\n" {
                throw CELError("Syntax error: unterminated string")
            }
            _ = advance()
            if c == "\\" && !raw {
                guard let e = peek() else { throw CELError("Syntax error: unterminated string") }
                _ = advance()
                switch e {
                case "n": out.append(10)
                case "t": out.append(9)
                case "r": out.append(13)
                case "a": out.append(7)
                case "b": out.append(8)
                case "f": out.append(12)
                case "v": out.append(11)
                case "\\", "'", "\"", "`", "?": out += Array(String(e).utf8)
                case "u", "U", "x", "X":
                    let n = e == "u" ? 4 : e == "U" ? 8 : 2
                    var hex = ""
                    for _ in 0..<n { if let h = peek(), h.isHexDigit { hex.append(advance()) } }
                    guard hex.count == n, let v = UInt32(hex, radix: 16), let sc = Unicode.Scalar(v) else {
                        throw CELError("Syntax error: invalid escape sequence")
                    }
                    if bytes && (e == "x" || e == "X") { out.append(UInt8(v)) } else { out += Array(String(sc).utf8) }
                default:
                    if e.isNumber {
                        var oct = String(e)
                        for _ in 0..<2 { if let d = peek(), d.isNumber { oct.append(advance()) } }
                        guard let v = UInt32(oct, radix: 8), v < 256, let sc = Unicode.Scalar(v) else {
                            throw CELError("Syntax error: invalid escape sequence")
                        }
                        if bytes { out.append(UInt8(v)) } else { out += Array(String(sc).utf8) }
                    } else {
                        throw CELError("Syntax error: invalid escape sequence")
                    }
                }
            } else {
                out += Array(String(c).utf8)
            }
        }
    }
}
