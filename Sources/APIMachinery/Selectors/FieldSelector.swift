/// A field selector error, worded as upstream's `fields.ParseSelector` words it.
public struct FieldSelectorError: Error, Equatable, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }

    /// The message the API server returns (400) for a field its resource cannot select on.
    public static func fieldLabelNotSupported(_ label: String) -> FieldSelectorError {
        FieldSelectorError("field label not supported: \(label)")
    }
}

/// One term of a field selector: `field=value` or `field!=value` (value unescaped).
public struct FieldRequirement: Hashable, Sendable, CustomStringConvertible {
    public enum Operator: String, Sendable {
        case equals = "="
        case notEquals = "!="
    }

    public var field: String
    public var op: Operator
    public var value: String

    public init(field: String, op: Operator, value: String) {
        self.field = field
        self.op = op
        self.value = value
    }

    /// A missing field reads as the empty string, as upstream's `fields.Set.Get`.
    public func matches(_ fields: [String: String]) -> Bool {
        let have = fields[field] ?? ""
        return op == .equals ? have == value : have != value
    }

    public var description: String { field + op.rawValue + FieldSelector.escapeValue(value) }
}

/// A field selector (`fields.Selector`): terms ANDed together.
public struct FieldSelector: Hashable, Sendable, CustomStringConvertible {
    public private(set) var requirements: [FieldRequirement]

    public static let everything = FieldSelector([])

    public init(_ requirements: [FieldRequirement]) { self.requirements = requirements }

    /// Parses `a=b`, `a==b`, `a!=b`, comma-joined; `\,`, `\=` and `\\` escape values.
    public init(parsing text: String) throws(FieldSelectorError) {
        var reqs: [FieldRequirement] = []
        let parts = FieldSelector.splitTerms(text).sorted(by: utf8Less)
        for part in parts where !part.isEmpty {
            guard let (lhs, op, rhs) = FieldSelector.splitTerm(part) else {
                throw FieldSelectorError("invalid selector: '\(text)'; can't understand '\(part)'")
            }
            reqs.append(FieldRequirement(field: lhs, op: op, value: try FieldSelector.unescapeValue(rhs)))
        }
        self.requirements = reqs
    }

    /// Splits on commas not escaped by a backslash; escapes are kept in the terms.
    static func splitTerms(_ s: String) -> [Substring] {
        if s.isEmpty { return [] }
        var terms: [Substring] = []
        var start = s.startIndex
        var escaped = false
        var i = s.startIndex
        while i < s.endIndex {
            let c = s[i]
            if escaped {
                escaped = false
            } else if c == "\\" {
                escaped = true
            } else if c == "," {
                terms.append(s[start..<i])
                start = s.index(after: i)
            }
            i = s.index(after: i)
        }
        terms.append(s[start...])
        return terms
    }

    /// Splits at the first operator (`!=`, then `==`, then `=` at each position).
    static func splitTerm(_ t: Substring) -> (String, FieldRequirement.Operator, Substring)? {
        let u = t.utf8
        var i = u.startIndex
        while i < u.endIndex {
            let c = u[i]
            let n = u.index(after: i)
            if c == UInt8(ascii: "!"), n < u.endIndex, u[n] == UInt8(ascii: "=") {
                return (String(t[..<i]), .notEquals, t[u.index(after: n)...])
            }
            if c == UInt8(ascii: "=") {
                if n < u.endIndex, u[n] == UInt8(ascii: "=") {
                    return (String(t[..<i]), .equals, t[u.index(after: n)...])
                }
                return (String(t[..<i]), .equals, t[n...])
            }
            i = n
        }
        return nil
    }

    /// Upstream's `fields.EscapeValue`.
    public static func escapeValue(_ s: String) -> String {
        if !s.contains(where: { $0 == "\\" || $0 == "," || $0 == "=" }) { return s }
        var o = ""
        o.reserveCapacity(s.utf8.count + 2)
        for c in s.unicodeScalars {
            if c == "\\" || c == "," || c == "=" { o.unicodeScalars.append("\\") }
            o.unicodeScalars.append(c)
        }
        return o
    }

    /// Upstream's `fields.UnescapeValue`, with its error messages (the unescaped rune is shown
    /// as its code point, as Go's `%v` prints a rune).
    public static func unescapeValue<S: StringProtocol>(_ s: S) throws(FieldSelectorError) -> String {
        if !s.contains(where: { $0 == "\\" || $0 == "," || $0 == "=" }) { return String(s) }
        var o = ""
        var escaped = false
        for c in s.unicodeScalars {
            if escaped {
                guard c == "\\" || c == "," || c == "=" else {
                    throw FieldSelectorError("invalid field selector: invalid escape sequence: \\\(c)")
                }
                o.unicodeScalars.append(c)
                escaped = false
                continue
            }
            switch c {
            case "\\": escaped = true
            case ",", "=":
                throw FieldSelectorError("invalid field selector: unescaped character in value: \(c.value)")
            default: o.unicodeScalars.append(c)
            }
        }
        if escaped { throw FieldSelectorError("invalid field selector: invalid escape sequence: \\") }
        return o
    }

    public var isEmpty: Bool { requirements.isEmpty }

    public func matches(_ fields: [String: String]) -> Bool {
        for r in requirements where !r.matches(fields) { return false }
        return true
    }

    /// The field names used, in selector order, without repeats (check them against the
    /// resource's supported fields; reject others with `FieldSelectorError.fieldLabelNotSupported`).
    public var fieldNames: [String] {
        var seen: Set<String> = []
        return requirements.compactMap { seen.insert($0.field).inserted ? $0.field : nil }
    }

    /// The value a field must equal for this selector to match, if any term requires one.
    public func requiresExactMatch(_ field: String) -> String? {
        for r in requirements where r.field == field && r.op == .equals { return r.value }
        return nil
    }

    /// Rewrites each term's field and value (upstream's `Transform`, used for field label
    /// conversion); a term mapped to an empty field and value is dropped.
    public func transformed(
        _ fn: (_ field: String, _ value: String) throws -> (field: String, value: String)
    ) rethrows -> FieldSelector {
        var out: [FieldRequirement] = []
        for r in requirements {
            let (f, v) = try fn(r.field, r.value)
            if f.isEmpty && v.isEmpty { continue }
            out.append(FieldRequirement(field: f, op: r.op, value: v))
        }
        return FieldSelector(out)
    }

    public var description: String { requirements.map(\.description).joined(separator: ",") }
}
