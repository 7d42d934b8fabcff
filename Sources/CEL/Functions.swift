import Foundation

/// CEL's operators and standard functions, with the Kubernetes string and list extensions.
enum Functions {
    static func overload(_ name: String, _ v: [Value]) -> EvalError {
        EvalError("no such overload: \(name)(\(v.map(\.typeName).joined(separator: ", ")))")
    }

    static func apply(_ name: String, receiver: Bool, _ v: [Value]) throws(EvalError) -> Value {
        if case .opaque? = v.first, let r = try Library.apply(name, receiver: receiver, v) { return r }
        if name == "_[_]", case .optional? = v.first, let r = try Library.optionals(name, v) { return r }
        if v.count == 1, name == "string" || name == "int", let r = try Library.time(name, v) { return r }
        switch (name, v.count) {
        case ("!_", 1):
            guard case .bool(let b) = v[0] else { throw overload(name, v) }
            return .bool(!b)
        case ("-_", 1):
            switch v[0] {
            case .int(let i):
                guard i != Int64.min else { throw EvalError("integer overflow") }
                return .int(-i)
            case .double(let d): return .double(-d)
            default: throw overload(name, v)
            }
        case ("_==_", 2): return .bool(v[0] == v[1])
        case ("_!=_", 2): return .bool(v[0] != v[1])
        case ("_<_", 2), ("_<=_", 2), ("_>_", 2), ("_>=_", 2):
            let c = try compare(v[0], v[1], name)
            switch name {
            case "_<_": return .bool(c < 0)
            case "_<=_": return .bool(c <= 0)
            case "_>_": return .bool(c > 0)
            default: return .bool(c >= 0)
            }
        case ("_+_", 2), ("_-_", 2), ("_*_", 2), ("_/_", 2), ("_%_", 2):
            return try arithmetic(name, v[0], v[1])
        case ("_[_]", 2):
            switch (v[0], v[1]) {
            case (.list(let l), let i):
                guard let n = index(i) else { throw overload(name, v) }
                guard n >= 0 && n < l.count else { throw EvalError("index out of bounds: \(n)") }
                return l[n]
            case (.map(let entries), let k):
                guard let found = entries.first(where: { $0.key == k }) else {
                    throw EvalError("no such key: \(keyText(k))")
                }
                return found.value
            default: throw overload(name, v)
            }
        case ("@in", 2):
            switch v[1] {
            case .list(let l): return .bool(l.contains(v[0]))
            case .map(let entries): return .bool(entries.contains { $0.key == v[0] })
            default: throw overload("@in", v)
            }
        case ("size", 1):
            switch v[0] {
            case .string(let s): return .int(Int64(s.unicodeScalars.count))
            case .bytes(let b): return .int(Int64(b.count))
            case .list(let l): return .int(Int64(l.count))
            case .map(let m): return .int(Int64(m.count))
            default: throw overload(name, v)
            }
        case ("int", 1):
            switch v[0] {
            case .int: return v[0]
            case .uint(let u):
                guard u <= UInt64(Int64.max) else { throw EvalError("integer overflow") }
                return .int(Int64(u))
            case .double(let d):
                guard d.isFinite, d > -9.3e18, d < 9.3e18 else { throw EvalError("integer overflow") }
                return .int(Int64(d))
            case .string(let s):
                guard let i = Int64(s) else { throw EvalError("cannot convert \(s) to int") }
                return .int(i)
            default: throw overload(name, v)
            }
        case ("uint", 1):
            switch v[0] {
            case .uint: return v[0]
            case .int(let i):
                guard i >= 0 else { throw EvalError("unsigned integer overflow") }
                return .uint(UInt64(i))
            case .double(let d):
                guard d.isFinite, d >= 0, d < 1.85e19 else { throw EvalError("unsigned integer overflow") }
                return .uint(UInt64(d))
            case .string(let s):
                guard let u = UInt64(s) else { throw EvalError("cannot convert \(s) to uint") }
                return .uint(u)
            default: throw overload(name, v)
            }
        case ("double", 1):
            switch v[0] {
            case .double: return v[0]
            case .int(let i): return .double(Double(i))
            case .uint(let u): return .double(Double(u))
            case .string(let s):
                guard let d = Double(s) else { throw EvalError("cannot convert \(s) to double") }
                return .double(d)
            default: throw overload(name, v)
            }
        case ("string", 1):
            switch v[0] {
            case .string: return v[0]
            case .int(let i): return .string(String(i))
            case .uint(let u): return .string(String(u))
            case .double(let d): return .string(formatDouble(d))
            case .bool(let b): return .string(b ? "true" : "false")
            case .bytes(let b):
                guard let s = String(validating: b, as: UTF8.self) else { throw EvalError("invalid UTF-8") }
                return .string(s)
            default: throw overload(name, v)
            }
        case ("bytes", 1):
            switch v[0] {
            case .bytes: return v[0]
            case .string(let s): return .bytes(Array(s.utf8))
            default: throw overload(name, v)
            }
        case ("bool", 1):
            switch v[0] {
            case .bool: return v[0]
            case .string(let s):
                switch s {
                case "true", "TRUE", "True", "t", "1": return .bool(true)
                case "false", "FALSE", "False", "f", "0": return .bool(false)
                default: throw EvalError("cannot convert \(s) to bool")
                }
            default: throw overload(name, v)
            }
        case ("type", 1): return .type(v[0].typeName)
        case ("dyn", 1): return v[0]
        default:
            if let r = try Library.apply(name, receiver: receiver, v) { return r }
            return try strings(name, receiver: receiver, v)
        }
    }

    static func index(_ v: Value) -> Int? {
        switch v {
        case .int(let i): return Int(exactly: i)
        case .uint(let u): return Int(exactly: u)
        case .double(let d): return d.rounded() == d ? Int(exactly: d) : nil
        default: return nil
        }
    }

    static func keyText(_ v: Value) -> String {
        switch v {
        case .string(let s): return s
        case .int(let i): return String(i)
        case .uint(let u): return String(u)
        case .bool(let b): return b ? "true" : "false"
        default: return "\(v)"
        }
    }

    static func formatDouble(_ d: Double) -> String {
        if d.rounded() == d && abs(d) < 1e21 { return String(format: "%.0f", d) }
        return String(d)
    }

    static func compare(_ a: Value, _ b: Value, _ name: String) throws(EvalError) -> Int {
        switch (a, b) {
        case (.string(let x), .string(let y)): return x == y ? 0 : (x < y ? -1 : 1)
        case (.bool(let x), .bool(let y)): return x == y ? 0 : (!x ? -1 : 1)
        case (.bytes(let x), .bytes(let y)): return x == y ? 0 : (x.lexicographicallyPrecedes(y) ? -1 : 1)
        case (.int(let x), .int(let y)): return x == y ? 0 : (x < y ? -1 : 1)
        case (.uint(let x), .uint(let y)): return x == y ? 0 : (x < y ? -1 : 1)
        case (.timestamp(let x), .timestamp(let y)): return x == y ? 0 : (x < y ? -1 : 1)
        case (.duration(let x), .duration(let y)): return x == y ? 0 : (x < y ? -1 : 1)
        case (.opaque(let x as Quantity), .opaque(let y as Quantity)):
            return x.value == y.value ? 0 : (x.value < y.value ? -1 : 1)
        case (.opaque(let x as Semver), .opaque(let y as Semver)): return Semver.compare(x, y)
        case (.int(let x), .uint(let y)): return x < 0 ? -1 : (UInt64(x) == y ? 0 : (UInt64(x) < y ? -1 : 1))
        case (.uint(let x), .int(let y)): return y < 0 ? 1 : (x == UInt64(y) ? 0 : (x < UInt64(y) ? -1 : 1))
        default:
            guard let x = a.numeric, let y = b.numeric else { throw overload(name, [a, b]) }
            return x == y ? 0 : (x < y ? -1 : 1)
        }
    }

    static func arithmetic(_ name: String, _ a: Value, _ b: Value) throws(EvalError) -> Value {
        if let r = try Time.arithmetic(name, a, b) { return r }
        switch (a, b) {
        case (.int(let x), .int(let y)):
            var r: (Int64, Bool)
            switch name {
            case "_+_": r = x.addingReportingOverflow(y)
            case "_-_": r = x.subtractingReportingOverflow(y)
            case "_*_": r = x.multipliedReportingOverflow(by: y)
            case "_/_":
                guard y != 0 else { throw EvalError("division by zero") }
                r = x.dividedReportingOverflow(by: y)
            default:
                guard y != 0 else { throw EvalError("modulus by zero") }
                r = x.remainderReportingOverflow(dividingBy: y)
            }
            if r.1 { throw EvalError("integer overflow") }
            return .int(r.0)
        case (.uint(let x), .uint(let y)):
            var r: (UInt64, Bool)
            switch name {
            case "_+_": r = x.addingReportingOverflow(y)
            case "_-_": r = x.subtractingReportingOverflow(y)
            case "_*_": r = x.multipliedReportingOverflow(by: y)
            case "_/_":
                guard y != 0 else { throw EvalError("division by zero") }
                r = (x / y, false)
            default:
                guard y != 0 else { throw EvalError("modulus by zero") }
                r = (x % y, false)
            }
            if r.1 { throw EvalError("unsigned integer overflow") }
            return .uint(r.0)
        case (.double(let x), .double(let y)):
            switch name {
            case "_+_": return .double(x + y)
            case "_-_": return .double(x - y)
            case "_*_": return .double(x * y)
            case "_/_": return .double(x / y)
            default: throw overload(name, [a, b])
            }
        case (.string(let x), .string(let y)) where name == "_+_": return .string(x + y)
        case (.bytes(let x), .bytes(let y)) where name == "_+_": return .bytes(x + y)
        case (.list(let x), .list(let y)) where name == "_+_": return .list(x + y)
        default: throw overload(name, [a, b])
        }
    }

    /// The standard string functions and the Kubernetes extension libraries (strings, lists).
    static func strings(_ name: String, receiver: Bool, _ v: [Value]) throws(EvalError) -> Value {
        switch (name, v.first, v.count) {
        case ("contains", .string(let s)?, 2):
            guard case .string(let x) = v[1] else { throw overload(name, v) }
            return .bool(x.isEmpty || s.contains(x))
        case ("startsWith", .string(let s)?, 2):
            guard case .string(let x) = v[1] else { throw overload(name, v) }
            return .bool(s.hasPrefix(x))
        case ("endsWith", .string(let s)?, 2):
            guard case .string(let x) = v[1] else { throw overload(name, v) }
            return .bool(s.hasSuffix(x))
        case ("matches", .string(let s)?, 2):
            guard case .string(let p) = v[1] else { throw overload(name, v) }
            return .bool(try regex(p).firstMatch(in: s, range: NSRange(s.startIndex..., in: s)) != nil)
        case ("lowerAscii", .string(let s)?, 1):
            return .string(
                String(s.unicodeScalars.map { $0.isASCII ? Character($0).lowercased() : String($0) }.joined()))
        case ("upperAscii", .string(let s)?, 1):
            return .string(
                String(s.unicodeScalars.map { $0.isASCII ? Character($0).uppercased() : String($0) }.joined()))
        case ("trim", .string(let s)?, 1): return .string(s.trimmingCharacters(in: .whitespacesAndNewlines))
        case ("replace", .string(let s)?, 3):
            guard case .string(let a) = v[1], case .string(let b) = v[2] else { throw overload(name, v) }
            return .string(Library.replace(s, a, b, -1))
        case ("split", .string(let s)?, 2):
            guard case .string(let sep) = v[1] else { throw overload(name, v) }
            return .list(Library.split(s, sep, -1).map { .string($0) })
        case ("charAt", .string(let s)?, 2):
            let chars = Array(s.unicodeScalars)
            guard let i = index(v[1]), i >= 0, i <= chars.count else { throw EvalError("index out of range") }
            return .string(i == chars.count ? "" : String(chars[i]))
        case ("indexOf", .string(let s)?, 2), ("lastIndexOf", .string(let s)?, 2):
            guard case .string(let x) = v[1] else { throw overload(name, v) }
            if x.isEmpty { return .int(name == "indexOf" ? 0 : Int64(s.unicodeScalars.count)) }
            let r = name == "indexOf" ? s.range(of: x) : s.range(of: x, options: .backwards)
            guard let r else { return .int(-1) }
            return .int(Int64(s.unicodeScalars.distance(from: s.unicodeScalars.startIndex, to: r.lowerBound)))
        case ("substring", .string(let s)?, 2), ("substring", .string(let s)?, 3):
            let chars = Array(s.unicodeScalars)
            guard let start = index(v[1]), start >= 0, start <= chars.count else {
                throw EvalError("index out of range")
            }
            let end = v.count == 3 ? index(v[2]) ?? -1 : chars.count
            guard end >= start, end <= chars.count else { throw EvalError("index out of range") }
            var out = ""
            out.unicodeScalars.append(contentsOf: chars[start..<end])
            return .string(out)
        case ("join", .list(let l)?, _):
            var sep = ""
            if v.count == 2 {
                guard case .string(let s) = v[1] else { throw overload(name, v) }
                sep = s
            }
            var parts: [String] = []
            for item in l {
                guard case .string(let s) = item else { throw overload(name, v) }
                parts.append(s)
            }
            return .string(parts.joined(separator: sep))
        case ("isSorted", .list(let l)?, 1):
            for (a, b) in zip(l, l.dropFirst()) where try compare(a, b, name) > 0 { return .bool(false) }
            return .bool(true)
        case ("sum", .list(let l)?, 1):
            var acc: Value = .int(0)
            if case .double? = l.first { acc = .double(0) }
            if case .uint? = l.first { acc = .uint(0) }
            for item in l { acc = try arithmetic("_+_", acc, item) }
            return acc
        case ("min", .list(let l)?, 1), ("max", .list(let l)?, 1):
            guard var best = l.first else { throw EvalError("\(name) called on empty list") }
            for item in l.dropFirst() {
                let c = try compare(item, best, name)
                if (name == "min" && c < 0) || (name == "max" && c > 0) { best = item }
            }
            return best
        case ("indexOf", .list(let l)?, 2): return .int(Int64(l.firstIndex(of: v[1]) ?? -1))
        case ("lastIndexOf", .list(let l)?, 2): return .int(Int64(l.lastIndex(of: v[1]) ?? -1))
        case ("find", .string(let s)?, 2), ("findAll", .string(let s)?, 2), ("findAll", .string(let s)?, 3):
            guard case .string(let p) = v[1] else { throw overload(name, v) }
            let matches = try regex(p).matches(in: s, range: NSRange(s.startIndex..., in: s)).compactMap {
                Range($0.range, in: s).map { String(s[$0]) }
            }
            if name == "find" { return .string(matches.first ?? "") }
            var limit = matches.count
            if v.count == 3, let n = index(v[2]), n >= 0 { limit = min(n, limit) }
            return .list(matches.prefix(limit).map { .string($0) })
        default:
            throw overload(name, v)
        }
    }

    static let regexCache = RegexCache()

    static func regex(_ p: String) throws(EvalError) -> NSRegularExpression {
        if let r = regexCache.get(p) { return r }
        guard let r = try? NSRegularExpression(pattern: p.isEmpty ? "(?:)" : p) else {
            throw EvalError("error parsing regexp: invalid pattern: `\(p)`")
        }
        regexCache.put(p, r)
        return r
    }
}

/// Compiled patterns, shared across evaluations.
final class RegexCache: @unchecked Sendable {
    private var map: [String: NSRegularExpression] = [:]
    private let lock = NSLock()

    func get(_ p: String) -> NSRegularExpression? {
        lock.lock()
        defer { lock.unlock() }
        return map[p]
    }

    func put(_ p: String, _ r: NSRegularExpression) {
        lock.lock()
        defer { lock.unlock() }
        if map.count > 1024 { map.removeAll() }
        map[p] = r
    }
}
