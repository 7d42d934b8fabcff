import Foundation

/// A parsed URL (`url('https://example.com:80/p?q=1')`): the Kubernetes CEL URL library's value,
/// accepting what Go's url.ParseRequestURI accepts (an absolute URL or an absolute path).
public struct CELURL: OpaqueValue, Equatable {
    public var typeName: String { "kubernetes.URL" }
    public var text: String
    var scheme = ""
    var host = ""
    var escapedPath = ""
    var rawQuery = ""

    public init?(_ s: String) {
        text = s
        var rest = Substring(s)
        if let hash = rest.firstIndex(of: "#") { rest = rest[..<hash] }
        if let q = rest.firstIndex(of: "?") {
            rawQuery = String(rest[rest.index(after: q)...])
            rest = rest[..<q]
        }
        guard !rest.isEmpty, s.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value != 0x7f })
        else { return nil }
        if rest.first == "/" {
            escapedPath = Self.escape(String(rest))
            return
        }
        guard let colon = rest.firstIndex(of: ":"), let f = rest.first, f.isLetter,
            rest[..<colon].allSatisfy({ $0.isLetter || $0.isNumber || $0 == "+" || $0 == "-" || $0 == "." })
        else { return nil }
        scheme = rest[..<colon].lowercased()
        rest = rest[rest.index(after: colon)...]
        if rest.hasPrefix("//") {
            rest = rest.dropFirst(2)
            let end = rest.firstIndex(of: "/") ?? rest.endIndex
            var authority = rest[..<end]
            if let at = authority.lastIndex(of: "@") { authority = authority[authority.index(after: at)...] }
            host = String(authority)
            guard !host.contains(" ") else { return nil }
            if host.hasPrefix("[") {
                guard let close = host.firstIndex(of: "]") else { return nil }
                let after = host[host.index(after: close)...]
                guard after.isEmpty || (after.first == ":" && after.dropFirst().allSatisfy(\.isNumber)) else {
                    return nil
                }
            } else if let c = host.lastIndex(of: ":") {
                guard host[host.index(after: c)...].allSatisfy(\.isNumber) else { return nil }
            }
            rest = rest[end...]
        } else if rest.first != "/" {
            // An opaque URL (`mailto:x`) is not a request URI unless it has a path.
            return nil
        }
        escapedPath = Self.escape(String(rest))
    }

    /// Go's `EscapedPath`: the path with characters outside a path segment's set percent-encoded.
    static func escape(_ path: String) -> String {
        var out = ""
        for b in path.utf8 {
            let c = Character(Unicode.Scalar(b))
            if b < 0x80 && (c.isLetter || c.isNumber || "-._~!$&'()*+,;=:@/%".contains(c)) {
                out.append(c)
            } else {
                out += String(format: "%%%02X", b)
            }
        }
        return out
    }

    var hostname: String {
        if host.hasPrefix("["), let close = host.firstIndex(of: "]") {
            return String(host[host.index(after: host.startIndex)..<close])
        }
        if let c = host.lastIndex(of: ":") { return String(host[..<c]) }
        return host
    }

    var port: String {
        if host.hasPrefix("["), let close = host.firstIndex(of: "]") {
            let after = host[host.index(after: close)...]
            return after.hasPrefix(":") ? String(after.dropFirst()) : ""
        }
        if let c = host.lastIndex(of: ":") { return String(host[host.index(after: c)...]) }
        return ""
    }

    var query: Value {
        var out: [(key: Value, value: Value)] = []
        for pair in rawQuery.split(separator: "&") where !pair.isEmpty {
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ s: Substring) -> String {
                (s.replacingOccurrences(of: "+", with: " ")).removingPercentEncoding ?? String(s)
            }
            let k = Value.string(decode(kv[0]))
            let v = Value.string(kv.count > 1 ? decode(kv[1]) : "")
            if let i = out.firstIndex(where: { $0.key == k }), case .list(let l) = out[i].value {
                out[i].value = .list(l + [v])
            } else {
                out.append((k, .list([v])))
            }
        }
        return .map(out)
    }

    public static func == (a: CELURL, b: CELURL) -> Bool { a.text == b.text }

    static func apply(_ name: String, _ v: [Value]) throws(EvalError) -> Value? {
        switch (name, v.first, v.count) {
        case ("url", .string(let s)?, 1):
            guard let u = CELURL(s) else {
                throw EvalError(
                    "URL parse error during conversion from string: parse \"\(s)\": invalid URI for request")
            }
            return .opaque(u)
        case ("isURL", .string(let s)?, 1): return .bool(CELURL(s) != nil)
        case ("string", .opaque(let u as CELURL)?, 1): return .string(u.text)
        case (_, .opaque(let u as CELURL)?, 1):
            switch name {
            case "getScheme": return .string(u.scheme)
            case "getHost": return .string(u.host)
            case "getHostname": return .string(u.hostname)
            case "getPort": return .string(u.port)
            case "getEscapedPath": return .string(u.escapedPath)
            case "getQuery": return u.query
            default: return nil
            }
        default: return nil
        }
    }
}

/// A semantic version (`semver('1.2.3')`): the Kubernetes CEL semver library's value, ordered by
/// semver 2.0.0 precedence.
public struct Semver: OpaqueValue, Equatable, Comparable {
    public var typeName: String { "kubernetes.Semver" }
    public var major: UInt64
    public var minor: UInt64
    public var patch: UInt64
    public var prerelease: [String]
    public var build: [String]

    /// Strict semver 2.0.0; with `normalize`, a leading `v`, missing minor or patch and leading
    /// zeros are accepted and normalized (library version 1).
    public init?(_ s0: String, normalize: Bool = false) {
        var s = Substring(s0)
        if normalize, s.first == "v" { s = s.dropFirst() }
        var buildPart: [String] = []
        if let plus = s.firstIndex(of: "+") {
            buildPart = s[s.index(after: plus)...].split(separator: ".", omittingEmptySubsequences: false).map(
                String.init)
            guard buildPart.allSatisfy({ !$0.isEmpty && $0.allSatisfy(Self.isIdentifierChar) }) else { return nil }
            s = s[..<plus]
        }
        var pre: [String] = []
        if let dash = s.firstIndex(of: "-") {
            pre = s[s.index(after: dash)...].split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            guard
                pre.allSatisfy({
                    !$0.isEmpty && $0.allSatisfy(Self.isIdentifierChar)
                        && !($0.allSatisfy(\.isNumber) && $0.count > 1 && $0.first == "0")
                })
            else { return nil }
            s = s[..<dash]
        }
        var parts = s.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        if normalize { while parts.count < 3 { parts.append("0") } }
        guard parts.count == 3 else { return nil }
        var nums: [UInt64] = []
        for p in parts {
            guard !p.isEmpty, p.allSatisfy({ $0.isASCII && $0.isNumber }), normalize || p.count == 1 || p.first != "0",
                let n = UInt64(p)
            else { return nil }
            nums.append(n)
        }
        (major, minor, patch, prerelease, build) = (nums[0], nums[1], nums[2], pre, buildPart)
    }

    static func isIdentifierChar(_ c: Character) -> Bool { c.isASCII && (c.isLetter || c.isNumber || c == "-") }

    public static func == (a: Semver, b: Semver) -> Bool { compare(a, b) == 0 }
    public static func < (a: Semver, b: Semver) -> Bool { compare(a, b) < 0 }

    static func compare(_ a: Semver, _ b: Semver) -> Int {
        for (x, y) in [(a.major, b.major), (a.minor, b.minor), (a.patch, b.patch)] where x != y {
            return x < y ? -1 : 1
        }
        if a.prerelease.isEmpty || b.prerelease.isEmpty {
            return a.prerelease.isEmpty == b.prerelease.isEmpty ? 0 : (a.prerelease.isEmpty ? 1 : -1)
        }
        for (x, y) in zip(a.prerelease, b.prerelease) where x != y {
            switch (UInt64(x), UInt64(y)) {
            case (let i?, let j?): return i < j ? -1 : 1
            case (.some, nil): return -1
            case (nil, .some): return 1
            default: return x < y ? -1 : 1
            }
        }
        return a.prerelease.count == b.prerelease.count ? 0 : (a.prerelease.count < b.prerelease.count ? -1 : 1)
    }

    static func apply(_ name: String, _ v: [Value]) throws(EvalError) -> Value? {
        switch (name, v.first, v.count) {
        case ("semver", .string(let s)?, _), ("isSemver", .string(let s)?, _):
            var normalize = false
            if v.count == 2 {
                guard case .bool(let b) = v[1] else { return nil }
                normalize = b
            }
            let parsed = Semver(s, normalize: normalize)
            if name == "isSemver" { return .bool(parsed != nil) }
            guard let parsed else { throw EvalError("Could not parse semver '\(s)'") }
            return .opaque(parsed)
        case (_, .opaque(let a as Semver)?, _):
            switch (name, v.count) {
            case ("major", 1): return .int(Int64(a.major))
            case ("minor", 1): return .int(Int64(a.minor))
            case ("patch", 1): return .int(Int64(a.patch))
            case ("isLessThan", 2), ("isGreaterThan", 2), ("compareTo", 2):
                guard case .opaque(let b as Semver) = v[1] else { return nil }
                let c = compare(a, b)
                switch name {
                case "isLessThan": return .bool(c < 0)
                case "isGreaterThan": return .bool(c > 0)
                default: return .int(Int64(c))
                }
            default: return nil
            }
        default: return nil
        }
    }
}
