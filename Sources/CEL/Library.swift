import Foundation

/// The functions beyond CEL's core that the Kubernetes environment enables: timestamps and
/// durations, optionals, sets, the Kubernetes libraries (quantity, IP/CIDR, URL, semver, format,
/// authorizer, JSON patch), and the cel-go string extension's later functions.
enum Library {
    static func apply(_ name: String, receiver: Bool, _ v: [Value]) throws(EvalError) -> Value? {
        if let r = try time(name, v) { return r }
        if let r = try optionals(name, v) { return r }
        if let r = try misc(name, v) { return r }
        if let r = try Quantity.apply(name, v) { return r }
        if let r = try Network.apply(name, v) { return r }
        if let r = try CELURL.apply(name, v) { return r }
        if let r = try Semver.apply(name, v) { return r }
        if let r = try NamedFormat.apply(name, v) { return r }
        if let r = try Authz.apply(name, v) { return r }
        if let r = try ImageReference.apply(name, v) { return r }
        return nil
    }

    static func time(_ name: String, _ v: [Value]) throws(EvalError) -> Value? {
        switch (name, v.first, v.count) {
        case ("timestamp", .string(let s)?, 1): return .timestamp(try Time.parseTimestamp(s))
        case ("timestamp", .int(let i)?, 1):
            let t = Timestamp(seconds: i)
            guard t.inRange else { throw EvalError("timestamp out of range") }
            return .timestamp(t)
        case ("timestamp", .timestamp?, 1), ("duration", .duration?, 1): return v[0]
        case ("duration", .string(let s)?, 1): return .duration(try Time.parseDuration(s))
        case ("string", .timestamp(let t)?, 1): return .string(Time.format(t))
        case ("string", .duration(let d)?, 1): return .string(Time.format(duration: d))
        case ("int", .timestamp(let t)?, 1): return .int(t.seconds)
        case (_, .timestamp(let t)?, 1): return try Time.get(name, t, zone: nil)
        case (_, .timestamp(let t)?, 2):
            guard case .string(let z) = v[1] else { return nil }
            return try Time.get(name, t, zone: z)
        case (_, .duration(let d)?, 1): return try Time.get(name, duration: d)
        default: return nil
        }
    }

    static func isZero(_ v: Value) -> Bool {
        switch v {
        case .null: return true
        case .bool(let b): return !b
        case .int(let i): return i == 0
        case .uint(let u): return u == 0
        case .double(let d): return d == 0
        case .string(let s): return s.isEmpty
        case .bytes(let b): return b.isEmpty
        case .list(let l): return l.isEmpty
        case .map(let m): return m.isEmpty
        case .timestamp(let t): return t.seconds == 0 && t.nanos == 0
        case .duration(let d): return d == 0
        case .object(_, let f): return f.isEmpty
        case .optional(let o): return o == nil
        case .type, .opaque: return false
        }
    }

    static func optionals(_ name: String, _ v: [Value]) throws(EvalError) -> Value? {
        switch (name, v.count) {
        case ("optional.of", 1): return .optional(v[0])
        case ("optional.none", 0): return .optional(nil)
        case ("optional.ofNonZeroValue", 1): return .optional(isZero(v[0]) ? nil : v[0])
        case ("optional.unwrap", 1), ("unwrapOpt", 1):
            guard case .list(let l) = v[0] else { return nil }
            var out: [Value] = []
            for item in l {
                guard case .optional(let o) = item else { throw Functions.overload(name, v) }
                if let o { out.append(o) }
            }
            return .list(out)
        case ("_[?_]", 2): return try Evaluator.optionalSelect(v[0], v[1])
        default: break
        }
        guard case .optional(let o)? = v.first else { return nil }
        switch (name, v.count) {
        case ("hasValue", 1): return .bool(o != nil)
        case ("value", 1):
            guard let o else { throw EvalError("optional.none() dereference") }
            return o
        case ("_[_]", 2):
            guard let o else { return .optional(nil) }
            return try Evaluator.optionalSelect(o, v[1])
        default: return nil
        }
    }

    static func strings(_ v: ArraySlice<Value>) -> [String]? {
        var out: [String] = []
        for x in v {
            guard case .string(let s) = x else { return nil }
            out.append(s)
        }
        return out
    }

    static func misc(_ name: String, _ v: [Value]) throws(EvalError) -> Value? {
        switch (name, v.count) {
        case ("sets.contains", 2), ("sets.equivalent", 2), ("sets.intersects", 2):
            guard case .list(let a) = v[0], case .list(let b) = v[1] else { return nil }
            switch name {
            case "sets.contains": return .bool(b.allSatisfy { a.contains($0) })
            case "sets.equivalent": return .bool(b.allSatisfy { a.contains($0) } && a.allSatisfy { b.contains($0) })
            default: return .bool(b.contains { a.contains($0) })
            }
        case ("jsonpatch.escapeKey", 1):
            guard case .string(let s) = v[0] else { return nil }
            return .string(s.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1"))
        case ("strings.quote", 1):
            guard case .string(let s) = v[0] else { return nil }
            return .string(quote(s))
        case ("format", 2):
            guard case .string(let f) = v[0], case .list(let args) = v[1] else { return nil }
            return .string(try StringFormat.format(f, args))
        case ("indexOf", 3), ("lastIndexOf", 3):
            guard case .string(let s) = v[0], case .string(let x) = v[1], let off = Functions.index(v[2]) else {
                return nil
            }
            let chars = Array(s.unicodeScalars)
            let sub = Array(x.unicodeScalars)
            guard off >= 0, off <= chars.count else { throw EvalError("index out of range: \(off)") }
            if name == "indexOf" {
                var i = off
                while i + sub.count <= chars.count {
                    if Array(chars[i..<(i + sub.count)]) == sub { return .int(Int64(i)) }
                    i += 1
                }
            } else {
                var i = min(off, chars.count - sub.count)
                while i >= 0 {
                    if Array(chars[i..<(i + sub.count)]) == sub { return .int(Int64(i)) }
                    i -= 1
                }
            }
            return .int(-1)
        case ("replace", 4):
            guard case .string(let str) = v[0], case .string(let a) = v[1], case .string(let b) = v[2],
                case .int(let n) = v[3]
            else { return nil }
            return .string(replace(str, a, b, n))
        case ("split", 3):
            guard case .string(let str) = v[0], case .string(let sep) = v[1], case .int(let n) = v[2] else {
                return nil
            }
            return .list(split(str, sep, n).map { .string($0) })
        default: return nil
        }
    }

    /// Go's strings.Replace: at most `n` replacements (all when negative); an empty `old` matches
    /// before every character and at the end.
    static func replace(_ s: String, _ old: String, _ new: String, _ n: Int64) -> String {
        if n == 0 || (old.isEmpty && new.isEmpty) { return s }
        if old.isEmpty {
            var out = ""
            var count: Int64 = 0
            for u in s.unicodeScalars {
                if n < 0 || count < n {
                    out += new
                    count += 1
                }
                out.unicodeScalars.append(u)
            }
            if n < 0 || count < n { out += new }
            return out
        }
        if n < 0 { return s.replacingOccurrences(of: old, with: new) }
        var out = ""
        var rest = Substring(s)
        var count: Int64 = 0
        while count < n, let r = rest.range(of: old) {
            out += rest[..<r.lowerBound] + new
            rest = rest[r.upperBound...]
            count += 1
        }
        return out + rest
    }

    /// Go's strings.SplitN: `n` parts at most (all when negative, none when zero); an empty separator
    /// splits between characters.
    static func split(_ s: String, _ sep: String, _ n: Int64) -> [String] {
        if n == 0 { return [] }
        var parts = sep.isEmpty ? s.unicodeScalars.map { String($0) } : s.components(separatedBy: sep)
        if n > 0 && parts.count > Int(n) {
            parts = Array(parts.prefix(Int(n) - 1)) + [parts.dropFirst(Int(n) - 1).joined(separator: sep)]
        }
        return parts
    }

    /// Go's strconv.Quote-like rendering of `strings.quote`.
    static func quote(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\u{07}": out += "\\a"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{0B}": out += "\\v"
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            default: out.unicodeScalars.append(u)
            }
        }
        return out + "\""
    }
}

/// The string extension's `format`: `%s %d %f %e %x %X %o %b %%` with an optional precision.
enum StringFormat {
    static func format(_ f: String, _ args: [Value]) throws(EvalError) -> String {
        var out = ""
        var chars = Array(f)[...]
        var next = 0
        while let c = chars.popFirst() {
            guard c == "%" else {
                out.append(c)
                continue
            }
            guard !chars.isEmpty else { throw EvalError("could not parse formatting clause: unexpected end of string") }
            var precision: Int? = nil
            if chars.first == "." {
                chars.removeFirst()
                var digits = ""
                while let d = chars.first, d.isNumber {
                    digits.append(d)
                    chars.removeFirst()
                }
                precision = Int(digits) ?? 0
            }
            guard let verb = chars.popFirst() else { throw EvalError("could not parse formatting clause") }
            if verb == "%" {
                out += "%"
                continue
            }
            guard next < args.count else { throw EvalError("index \(next) out of range") }
            let a = args[next]
            next += 1
            switch verb {
            case "s": out += try text(a)
            case "d":
                switch a {
                case .int(let i): out += String(i)
                case .uint(let u): out += String(u)
                case .double(let d) where d.isNaN: out += "NaN"
                case .double(let d) where d.isInfinite: out += d < 0 ? "-Infinity" : "Infinity"
                default:
                    throw EvalError(
                        "error during formatting: decimal clause can only be used on integers, was given \(a.typeName)")
                }
            case "f", "e":
                let d: Double
                switch a {
                case .double(let x): d = x
                case .int(let i): d = Double(i)
                case .uint(let u): d = Double(u)
                case .string(let s) where s == "NaN" || s == "Infinity" || s == "-Infinity": d = Double(s) ?? .nan
                default:
                    throw EvalError(
                        "error during formatting: fixed-point clause can only be used on doubles, was given \(a.typeName)"
                    )
                }
                if d.isNaN {
                    out += "NaN"
                } else if d.isInfinite {
                    out += d < 0 ? "-Infinity" : "Infinity"
                } else {
                    out += String(format: "%.\(precision ?? 6)\(verb)", d)
                }
            case "x", "X", "o", "b":
                let radix = verb == "o" ? 8 : verb == "b" ? 2 : 16
                var s: String
                switch a {
                case .int(let i): s = (i < 0 ? "-" : "") + String(i.magnitude, radix: radix)
                case .uint(let u): s = String(u, radix: radix)
                case .bool(let b) where radix == 2: s = b ? "1" : "0"
                case .string(let t) where radix == 16: s = t.utf8.map { String(format: "%02x", $0) }.joined()
                case .bytes(let b) where radix == 16: s = b.map { String(format: "%02x", $0) }.joined()
                default:
                    throw EvalError(
                        "error during formatting: only integers, byte buffers, and strings can be formatted as hex, was given \(a.typeName)"
                    )
                }
                if verb == "X" { s = s.uppercased() }
                out += s
            default:
                throw EvalError("could not parse formatting clause: unrecognized formatting clause \"\(verb)\"")
            }
        }
        return out
    }

    static func text(_ a: Value) throws(EvalError) -> String {
        switch a {
        case .string(let s): return s
        case .list(let l):
            var parts: [String] = []
            for x in l { parts.append(try text(x)) }
            return "[" + parts.joined(separator: ", ") + "]"
        case .map(let m):
            var parts: [String] = []
            for (k, x) in m.sorted(by: { Functions.keyText($0.key) < Functions.keyText($1.key) }) {
                parts.append("\(try text(k)): \(try text(x))")
            }
            return "{" + parts.joined(separator: ", ") + "}"
        case .null: return "null"
        case .type(let t): return t
        case .bytes(let b): return String(decoding: b, as: UTF8.self)
        case .double(let d):
            if d.isNaN { return "NaN" }
            if d.isInfinite { return d < 0 ? "-Infinity" : "Infinity" }
            return Functions.formatDouble(d)
        default: return try Functions.apply("string", receiver: false, [a]).stringValue ?? ""
        }
    }
}

extension Value {
    var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }
}
