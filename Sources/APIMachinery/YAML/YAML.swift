import Yams

/// YAML ↔ JSON conversion with the semantics Kubernetes uses (sigs.k8s.io/yaml over go-yaml v2):
/// YAML 1.1 scalar resolution on input; on output, keys sorted and go-yaml's block style and
/// quoting rules.
public enum YAML {
    public struct Error: Swift.Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    // MARK: YAML → JSON

    /// Converts every document of a YAML stream to JSON (empty documents are skipped).
    public static func documentsToJSON(_ text: String) throws -> [[UInt8]] {
        var out: [[UInt8]] = []
        var seq: YamlSequence<Node>
        do { seq = try Yams.compose_all(yaml: text) } catch {
            throw Error(description: "error converting YAML to JSON: \(error)")
        }
        while let node = seq.next() {
            let v = try toJSONValue(node)
            if case .null = v { continue }
            out.append(v.jsonBytes)
        }
        if let e = seq.error { throw Error(description: "error converting YAML to JSON: \(e)") }
        return out
    }

    /// Converts a single YAML document to JSON (`null` for an empty document).
    public static func toJSON(_ text: String) throws -> [UInt8] {
        do {
            guard let node = try Yams.compose(yaml: text) else { return Array("null".utf8) }
            return try toJSONValue(node).jsonBytes
        } catch let e as Error {
            throw e
        } catch {
            throw Error(description: "error converting YAML to JSON: \(error)")
        }
    }

    static func toJSONValue(_ node: Node) throws -> JSONValue {
        switch node {
        case .scalar(let s):
            return resolve(s)
        case .sequence(let seq):
            return .array(try seq.map(toJSONValue))
        case .mapping(let m):
            var pairs: [(key: String, value: JSONValue)] = []
            for (k, v) in m {
                let key: String
                switch try toJSONValue(k) {
                case .string(let s): key = s
                case .number(let n): key = n
                case .bool(let b): key = b ? "true" : "false"
                case .null: key = "null"
                default: throw Error(description: "error converting YAML to JSON: unsupported map key")
                }
                let value = try toJSONValue(v)
                if let i = pairs.firstIndex(where: { $0.key == key }) {
                    pairs[i].value = value
                } else {
                    pairs.append((key, value))
                }
            }
            return .object(pairs)
        case .alias:
            throw Error(description: "error converting YAML to JSON: unresolved alias")
        }
    }

    /// Resolves a scalar the way go-yaml v2 does for an untyped target.
    static func resolve(_ s: Node.Scalar) -> JSONValue {
        if s.style != .plain && s.style != .any {
            return .string(s.string)
        }
        return resolvePlain(s.string)
    }

    static func resolvePlain(_ v: String) -> JSONValue {
        switch v {
        case "", "~", "null", "Null", "NULL": return .null
        case "y", "Y", "yes", "Yes", "YES", "on", "On", "ON", "true", "True", "TRUE": return .bool(true)
        case "n", "N", "no", "No", "NO", "off", "Off", "OFF", "false", "False", "FALSE": return .bool(false)
        case ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF", ".nan", ".NaN", ".NAN":
            return .string(v)  // not representable in JSON
        default: break
        }
        if let n = parseYAMLInt(v) { return .number(n) }
        if let d = parseYAMLFloat(v) { return .number(d) }
        return .string(v)
    }

    /// YAML 1.1 integers as go-yaml v2 reads them: decimal, 0x hex, 0o/leading-0 octal, 0b binary, `_`.
    static func parseYAMLInt(_ raw: String) -> String? {
        let plain = raw.replacingOccurrences(of: "_", with: "")
        guard let f = plain.first, f == "-" || f == "+" || f.isNumber else { return nil }
        var s = Substring(plain)
        var neg = false
        if s.first == "-" || s.first == "+" {
            neg = s.first == "-"
            s = s.dropFirst()
        }
        guard !s.isEmpty else { return nil }
        var value: Int64?
        if s.hasPrefix("0x") || s.hasPrefix("0X") {
            value = Int64(s.dropFirst(2), radix: 16)
        } else if s.hasPrefix("0b") || s.hasPrefix("0B") {
            value = Int64(s.dropFirst(2), radix: 2)
        } else if s.hasPrefix("0o") || s.hasPrefix("0O") {
            value = Int64(s.dropFirst(2), radix: 8)
        } else if s.count > 1 && s.hasPrefix("0") {
            value = Int64(s.dropFirst(), radix: 8)
        } else if s.allSatisfy({ $0.isASCII && $0.isNumber }) {
            if let v = Int64(s) {
                value = v
            } else if let u = UInt64(s) {
                return neg ? nil : String(u)
            }
        }
        guard let v = value else { return nil }
        return String(neg ? -v : v)
    }

    static func parseYAMLFloat(_ raw: String) -> String? {
        let plain = raw.replacingOccurrences(of: "_", with: "")
        guard let f = plain.first, f == "-" || f == "+" || f == "." || f.isNumber else { return nil }
        guard plain.allSatisfy({ $0.isNumber || $0 == "." || $0 == "e" || $0 == "E" || $0 == "-" || $0 == "+" }),
            let d = Double(plain), d.isFinite
        else { return nil }
        if d == d.rounded(), abs(d) < 1e15, !plain.contains("e"), !plain.contains("E") {
            return String(Int64(d))
        }
        return GoFloat.format(d)
    }

    // MARK: JSON → YAML

    /// Converts one JSON document to YAML text as Kubernetes prints it.
    public static func fromJSON(_ json: [UInt8]) throws -> String {
        let v = try JSONValue.parse(json)
        var e = YAMLEmitter()
        e.emitDocument(v)
        return e.out
    }
}

/// A block-style YAML writer following go-yaml v2's output: sorted keys, sequences in mappings not
/// indented, strings quoted only when a plain scalar would read back differently or is not allowed.
struct YAMLEmitter {
    var out = ""

    mutating func emitDocument(_ v: JSONValue) {
        switch v {
        case .object(let o) where !o.isEmpty:
            emitMapping(o, indent: 0)
        case .array(let a) where !a.isEmpty:
            emitSequence(a, indent: 0)
        default:
            out += scalarText(v, indent: 0) + "\n"
        }
    }

    static func sortedPairs(_ o: [(key: String, value: JSONValue)]) -> [(key: String, value: JSONValue)] {
        o.sorted { goYAMLKeyLess($0.key, $1.key) }
    }

    mutating func emitMapping(_ o: [(key: String, value: JSONValue)], indent: Int, firstInline: Bool = false) {
        var first = firstInline
        for (k, v) in Self.sortedPairs(o) {
            if !first { out += String(repeating: " ", count: indent) }
            first = false
            out += Self.quoteIfNeeded(k, indent: indent) + ":"
            switch v {
            case .object(let inner) where !inner.isEmpty:
                out += "\n"
                emitMapping(inner, indent: indent + 2)
            case .array(let inner) where !inner.isEmpty:
                out += "\n"
                emitSequence(inner, indent: indent)
            default:
                out += " " + scalarText(v, indent: indent + 2) + "\n"
            }
        }
    }

    mutating func emitSequence(_ a: [JSONValue], indent: Int) {
        for v in a {
            out += String(repeating: " ", count: indent) + "-"
            switch v {
            case .object(let inner) where !inner.isEmpty:
                out += " "
                emitMapping(inner, indent: indent + 2, firstInline: true)
            case .array(let inner) where !inner.isEmpty:
                out += " "
                emitNestedSequence(inner, indent: indent + 2)
            default:
                out += " " + scalarText(v, indent: indent + 2) + "\n"
            }
        }
    }

    /// A sequence directly inside a sequence item: `- - a`.
    mutating func emitNestedSequence(_ a: [JSONValue], indent: Int) {
        var first = true
        for v in a {
            if !first { out += String(repeating: " ", count: indent) }
            first = false
            out += "-"
            switch v {
            case .object(let inner) where !inner.isEmpty:
                out += " "
                emitMapping(inner, indent: indent + 2, firstInline: true)
            case .array(let inner) where !inner.isEmpty:
                out += " "
                emitNestedSequence(inner, indent: indent + 2)
            default:
                out += " " + scalarText(v, indent: indent + 2) + "\n"
            }
        }
    }

    func scalarText(_ v: JSONValue, indent: Int) -> String {
        switch v {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .number(let n): return YAMLEmitter.number(n)
        case .string(let s): return YAMLEmitter.quoteIfNeeded(s, indent: indent)
        case .object: return "{}"
        case .array: return "[]"
        }
    }

    /// go-yaml formats integers as integers and other numbers with Go's `%g`-like shortest form.
    static func number(_ n: String) -> String {
        if Int64(n) != nil { return n }
        if let d = Double(n) {
            if d == d.rounded() && abs(d) < 1e15 && !n.contains("e") && !n.contains("E") {
                return String(Int64(d))
            }
            return GoFloat.formatG(d)
        }
        return n
    }

    /// Chooses plain, single-quoted, double-quoted or literal style like go-yaml v2.
    static func quoteIfNeeded(_ s: String, indent: Int) -> String {
        // Other line breaks (NEL, LS, PS, CR) only survive double quoting.
        if s.unicodeScalars.contains(where: { $0 == "\u{85}" || $0 == "\u{2028}" || $0 == "\u{2029}" || $0 == "\r" }) {
            return doubleQuoted(s)
        }
        if s.contains("\n") {
            if let lit = literal(s, indent: indent) { return lit }
            return doubleQuoted(s)
        }
        // A plain scalar must read back as the same string.
        let resolvesToString: Bool = {
            if case .string = YAML.resolvePlain(s) { return !isTimestampLike(s) && !isBase60(s) }
            return false
        }()
        let (plainOK, singleOK) = analyze(s)
        if resolvesToString && plainOK { return s }
        if !resolvesToString { return doubleQuoted(s) }
        if singleOK { return "'" + s.replacingOccurrences(of: "'", with: "''") + "'" }
        return doubleQuoted(s)
    }

    /// go-yaml v2 resolves these as timestamps, so they are quoted.
    static func isTimestampLike(_ s: String) -> Bool {
        let b = Array(s.utf8)
        guard b.count >= 10 else { return false }
        func digits(_ r: Range<Int>) -> Bool { r.allSatisfy { b[$0] >= 48 && b[$0] <= 57 } }
        guard digits(0..<4), b[4] == UInt8(ascii: "-") else { return false }
        // YYYY-MM-DD or YYYY-M-D forms followed by optional time.
        var i = 5
        var n = 0
        while i < b.count, b[i] >= 48, b[i] <= 57 {
            i += 1
            n += 1
        }
        guard n >= 1, n <= 2, i < b.count, b[i] == UInt8(ascii: "-") else { return false }
        i += 1
        n = 0
        while i < b.count, b[i] >= 48, b[i] <= 57 {
            i += 1
            n += 1
        }
        guard n >= 1, n <= 2 else { return false }
        if i == b.count { return true }
        return b[i] == UInt8(ascii: "T") || b[i] == UInt8(ascii: "t") || b[i] == UInt8(ascii: " ")
            || b[i] == UInt8(ascii: "\t")
    }

    /// Sexagesimal numbers (`1:20`) are quoted by go-yaml v2.
    static func isBase60(_ s: String) -> Bool {
        guard s.contains(":") else { return false }
        var t = Substring(s)
        if t.first == "-" || t.first == "+" { t = t.dropFirst() }
        let parts = t.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count >= 2, let first = parts.first, !first.isEmpty, first.allSatisfy({ $0.isASCII && $0.isNumber })
        else { return false }
        for p in parts.dropFirst() {
            var q = p
            if let dot = q.firstIndex(of: "."), p == parts.last! { q = q[..<dot] }
            guard q.count >= 1, q.count <= 2, q.allSatisfy({ $0.isASCII && $0.isNumber }) else { return false }
        }
        return true
    }

    /// libyaml's scalar analysis for one-line strings: (plain allowed, single-quoted allowed).
    static func analyze(_ s: String) -> (Bool, Bool) {
        let scalars = Array(s.unicodeScalars)
        if scalars.isEmpty { return (false, true) }
        if s.hasPrefix("---") || s.hasPrefix("...") { return (false, true) }
        var blockIndicators = false
        var special = false
        let first = scalars[0]
        let followedBySpace = scalars.count == 1 || scalars[1] == " " || scalars[1] == "\t"
        if "#,[]{}&*!|>'\"%@`".unicodeScalars.contains(first) { blockIndicators = true }
        // Block-context plain scalars may contain flow indicators; only block indicators matter.
        if (first == "?" || first == ":" || first == "-") && followedBySpace { blockIndicators = true }
        var previousSpace = false
        for (i, c) in scalars.enumerated() {
            if i > 0 {
                if c == ":" && (i + 1 == scalars.count || scalars[i + 1] == " " || scalars[i + 1] == "\t") {
                    blockIndicators = true
                }
                if c == "#" && previousSpace { blockIndicators = true }
            }
            let v = c.value
            let printable =
                v == 0x9 || v == 0xA || v == 0xD || (v >= 0x20 && v <= 0x7E) || v == 0x85 || (v >= 0xA0 && v <= 0xD7FF)
                || (v >= 0xE000 && v <= 0xFFFD && v != 0xFEFF) || (v >= 0x10000 && v <= 0x10FFFF)
            if !printable { special = true }
            previousSpace = c == " " || c == "\t"
        }
        let leadingSpace = scalars.first == " " || scalars.first == "\t"
        let trailingSpace = scalars.last == " " || scalars.last == "\t"
        var plain = !blockIndicators && !special
        if leadingSpace || trailingSpace { plain = false }
        let single = !special
        return (plain, single)
    }

    static func doubleQuoted(_ s: String) -> String {
        var o = "\""
        for c in s.unicodeScalars {
            switch c {
            case "\"": o += "\\\""
            case "\\": o += "\\\\"
            case "\n": o += "\\n"
            case "\t": o += "\\t"
            case "\r": o += "\\r"
            case "\0": o += "\\0"
            case "\u{85}": o += "\\N"
            case "\u{2028}": o += "\\L"
            case "\u{2029}": o += "\\P"
            default:
                let v = c.value
                if v < 0x20 || v == 0x7F || (v >= 0x80 && v < 0xA0) || v == 0xFEFF {
                    o += v <= 0xFF ? String(format2: "\\x", v, 2) : String(format2: "\\u", v, 4)
                } else {
                    o.unicodeScalars.append(c)
                }
            }
        }
        return o + "\""
    }

    /// Literal block style (`|`, `|-`, `|+`) for multi-line strings; nil when not allowed.
    static func literal(_ s: String, indent: Int) -> String? {
        let (_, single) = analyze(s.replacingOccurrences(of: "\n", with: " "))
        if !single { return nil }
        // Lines with trailing spaces before a break cannot be literal in libyaml's analysis.
        for line in s.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasSuffix(" ") || line.hasSuffix("\t") { return nil }
        }
        let chomp: String
        if !s.hasSuffix("\n") {
            chomp = "-"
        } else if s.hasSuffix("\n\n") {
            chomp = "+"
        } else {
            chomp = ""
        }
        let pad = String(repeating: " ", count: max(indent, 2))
        let indicator = s.first == " " ? "\(max(indent, 2))" : ""
        var o = "|" + indicator + chomp
        var body = s
        if body.hasSuffix("\n") { body.removeLast() }
        for line in body.split(separator: "\n", omittingEmptySubsequences: false) {
            o += "\n" + (line.isEmpty ? "" : pad + line)
        }
        return o
    }
}

extension String {
    init(format2 prefix: String, _ v: UInt32, _ width: Int) {
        var hex = String(v, radix: 16, uppercase: true)
        while hex.count < width { hex = "0" + hex }
        self = prefix + hex
    }
}

/// go-yaml v2's key order: runs of digits compare numerically, letters after non-letters.
func goYAMLKeyLess(_ a: String, _ b: String) -> Bool {
    let ar = Array(a.unicodeScalars), br = Array(b.unicodeScalars)
    var i = 0
    while i < ar.count && i < br.count {
        if ar[i] == br[i] {
            i += 1
            continue
        }
        let al = ar[i].properties.isAlphabetic, bl = br[i].properties.isAlphabetic
        if al && bl { return ar[i].value < br[i].value }
        if al || bl { return bl }
        func isDigit(_ c: Unicode.Scalar) -> Bool { c.value >= 48 && c.value <= 57 }
        var an: Int64 = 0, bn: Int64 = 0
        if ar[i] == "0" || br[i] == "0" {
            var j = i - 1
            while j >= 0 && isDigit(ar[j]) {
                if ar[j] != "0" {
                    an = 1
                    bn = 1
                    break
                }
                j -= 1
            }
        }
        var ai = i, bi = i
        while ai < ar.count && isDigit(ar[ai]) {
            an = an &* 10 &+ Int64(ar[ai].value - 48)
            ai += 1
        }
        while bi < br.count && isDigit(br[bi]) {
            bn = bn &* 10 &+ Int64(br[bi].value - 48)
            bi += 1
        }
        if an != bn { return an < bn }
        if ai != bi { return ai < bi }
        return ar[i].value < br[i].value
    }
    return ar.count < br.count
}
