/// Upstream's name and value syntax checks (apimachinery `util/validation`), returning the
/// messages upstream returns; an empty array means valid.
public enum NameValidation {
    static func isAlnumLower(_ c: UInt8) -> Bool { (c >= 97 && c <= 122) || (c >= 48 && c <= 57) }
    static func isAlnum(_ c: UInt8) -> Bool { isAlnumLower(c) || (c >= 65 && c <= 90) }

    public static let dns1123LabelMaxLength = 63
    public static let dns1123SubdomainMaxLength = 253
    public static let labelValueMaxLength = 63
    public static let qualifiedNameMaxLength = 63

    static func maxLenError(_ n: Int) -> String { "must be no more than \(n) characters" }

    static func regexError(_ msg: String, _ fmt: String, _ examples: [String]) -> String {
        var s = msg + " (e.g. "
        s += examples.map { "'\($0)'" }.joined(separator: ",  or ")
        s += ", regex used for validation is '\(fmt)')"
        return s
    }

    static func matchesDNS1123Label(_ b: ArraySlice<UInt8>) -> Bool {
        guard let f = b.first, let l = b.last, isAlnumLower(f), isAlnumLower(l) else { return false }
        return b.allSatisfy { isAlnumLower($0) || $0 == UInt8(ascii: "-") }
    }

    /// RFC 1123 label: lower-case alphanumerics and '-', at most 63 characters.
    public static func isDNS1123Label(_ v: String) -> [String] {
        var errs: [String] = []
        let b = Array(v.utf8)
        if b.count > dns1123LabelMaxLength { errs.append(maxLenError(dns1123LabelMaxLength)) }
        if !matchesDNS1123Label(b[...]) {
            errs.append(
                regexError(
                    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character",
                    "[a-z0-9]([-a-z0-9]*[a-z0-9])?", ["my-name", "123-abc"]))
        }
        return errs
    }

    /// RFC 1123 subdomain: dot-separated labels, at most 253 characters.
    public static func isDNS1123Subdomain(_ v: String) -> [String] {
        var errs: [String] = []
        let b = Array(v.utf8)
        if b.count > dns1123SubdomainMaxLength { errs.append(maxLenError(dns1123SubdomainMaxLength)) }
        let parts = b.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        if b.isEmpty || !parts.allSatisfy({ matchesDNS1123Label($0) }) {
            errs.append(
                regexError(
                    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
                    "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*", ["example.com"]))
        }
        return errs
    }

    /// RFC 1035 label: starts with a letter (Service names).
    public static func isDNS1035Label(_ v: String) -> [String] {
        var errs: [String] = []
        let b = Array(v.utf8)
        if b.count > dns1123LabelMaxLength { errs.append(maxLenError(dns1123LabelMaxLength)) }
        let ok: Bool = {
            guard let f = b.first, let l = b.last, f >= 97 && f <= 122, isAlnumLower(l) else { return false }
            return b.allSatisfy { isAlnumLower($0) || $0 == UInt8(ascii: "-") }
        }()
        if !ok {
            errs.append(
                regexError(
                    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character",
                    "[a-z]([-a-z0-9]*[a-z0-9])?", ["my-name", "abc-123"]))
        }
        return errs
    }

    static func matchesQualifiedNamePart(_ b: ArraySlice<UInt8>) -> Bool {
        guard let f = b.first, let l = b.last, isAlnum(f), isAlnum(l) else { return false }
        return b.allSatisfy {
            isAlnum($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".")
        }
    }

    /// A qualified name (`[prefix/]name`): label keys, annotation keys, finalizers.
    public static func isQualifiedName(_ v: String) -> [String] {
        var errs: [String] = []
        let parts = v.split(separator: "/", omittingEmptySubsequences: false)
        var name: Substring
        switch parts.count {
        case 1:
            name = parts[0]
        case 2:
            let prefix = parts[0]
            name = parts[1]
            if prefix.isEmpty {
                errs.append("prefix part must be non-empty")
            } else {
                for m in isDNS1123Subdomain(String(prefix)) { errs.append("prefix part " + m) }
            }
        default:
            return [
                "a qualified name "
                    + regexError(
                        "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
                        "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]", ["MyName", "my.name", "123-abc"])
                    + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
            ]
        }
        let nb = Array(name.utf8)
        if nb.isEmpty {
            errs.append("name part must be non-empty")
        } else if nb.count > qualifiedNameMaxLength {
            errs.append("name part " + maxLenError(qualifiedNameMaxLength))
        }
        if !nb.isEmpty && !matchesQualifiedNamePart(nb[...]) {
            errs.append(
                "name part "
                    + regexError(
                        "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
                        "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]", ["MyName", "my.name", "123-abc"]))
        }
        return errs
    }

    /// A label value: empty, or a qualified-name part of at most 63 characters.
    public static func isValidLabelValue(_ v: String) -> [String] {
        var errs: [String] = []
        let b = Array(v.utf8)
        if b.count > labelValueMaxLength { errs.append(maxLenError(labelValueMaxLength)) }
        if !b.isEmpty && !matchesQualifiedNamePart(b[...]) {
            errs.append(
                regexError(
                    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
                    "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?", ["MyValue", "my_value", "12345"]))
        }
        return errs
    }

    /// A key in a ConfigMap or Secret.
    public static func isConfigMapKey(_ v: String) -> [String] {
        var errs: [String] = []
        let b = Array(v.utf8)
        if b.count > dns1123SubdomainMaxLength { errs.append(maxLenError(dns1123SubdomainMaxLength)) }
        let ok =
            !b.isEmpty
            && b.allSatisfy {
                isAlnum($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".")
            }
        if !ok {
            errs.append(
                regexError(
                    "a valid config key must consist of alphanumeric characters, '-', '_' or '.'", "[-._a-zA-Z0-9]+",
                    ["key.name", "KEY_NAME", "key-name"]))
        }
        if v == "." { errs.append("must not be '.'") }
        if v == ".." {
            errs.append("must not be '..'")
        } else if v.hasPrefix("..") {
            errs.append("must not start with '..'")
        }
        return errs
    }

    /// A port number, 1–65535.
    public static func isValidPortNum(_ p: Int32) -> [String] {
        (1...65535).contains(p) ? [] : ["must be between 1 and 65535, inclusive"]
    }

    /// An IANA service name used as a port name: at most 15 characters, lower-case letters, digits
    /// and '-', at least one letter, no leading/trailing or double '-'.
    public static func isValidPortName(_ name: String) -> [String] {
        var errs: [String] = []
        let b = Array(name.utf8)
        if b.count > 15 { errs.append("must be no more than 15 characters") }
        if !b.allSatisfy({ isAlnumLower($0) || $0 == UInt8(ascii: "-") }) {
            errs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
        }
        if !b.contains(where: { $0 >= 97 && $0 <= 122 }) { errs.append("must contain at least one letter (a-z)") }
        if name.contains("--") { errs.append("must not contain consecutive hyphens") }
        if let f = b.first, let l = b.last, f == UInt8(ascii: "-") || l == UInt8(ascii: "-") {
            errs.append("must not begin or end with a hyphen")
        }
        return errs
    }

    /// An IPv4 or IPv6 address in canonical-enough form.
    public static func isValidIP(_ s: String) -> Bool { IPAddress.parse(s) != nil }
}

/// Minimal IP parsing for validation.
public enum IPAddress {
    /// Parses dotted-quad IPv4 (no leading zeros) or IPv6; returns the address bytes.
    public static func parse(_ s: String) -> [UInt8]? {
        if s.contains(":") { return parseV6(s) }
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var out: [UInt8] = []
        for p in parts {
            guard !p.isEmpty, p.count <= 3, p.allSatisfy({ $0.isASCII && $0.isNumber }), let v = UInt8(p) else {
                return nil
            }
            if p.count > 1 && p.hasPrefix("0") { return nil }
            out.append(v)
        }
        return out
    }

    static func parseV6(_ s: String) -> [UInt8]? {
        var head: [UInt16] = []
        var tail: [UInt16] = []
        let halves = s.components(separatedBy: "::")
        guard halves.count <= 2 else { return nil }
        func groups(_ part: String) -> [UInt16]? {
            if part.isEmpty { return [] }
            var out: [UInt16] = []
            let gs = part.split(separator: ":", omittingEmptySubsequences: false)
            for (i, g) in gs.enumerated() {
                if i == gs.count - 1, g.contains(".") {
                    guard let v4 = parse(String(g)) else { return nil }
                    out.append(UInt16(v4[0]) << 8 | UInt16(v4[1]))
                    out.append(UInt16(v4[2]) << 8 | UInt16(v4[3]))
                    continue
                }
                guard !g.isEmpty, g.count <= 4, let v = UInt16(g, radix: 16) else { return nil }
                out.append(v)
            }
            return out
        }
        guard let h = groups(halves[0]) else { return nil }
        head = h
        if halves.count == 2 {
            guard let t = groups(halves[1]) else { return nil }
            tail = t
            guard head.count + tail.count < 8 else { return nil }
        } else {
            guard head.count == 8 else { return nil }
        }
        let all = head + [UInt16](repeating: 0, count: 8 - head.count - tail.count) + tail
        var bytes: [UInt8] = []
        for g in all {
            bytes.append(UInt8(g >> 8))
            bytes.append(UInt8(g & 0xFF))
        }
        return bytes
    }
}
