/// A label selector error, worded as upstream's `labels.Parse` / `NewRequirement` /
/// `LabelSelectorAsSelector` word it (the API server returns it as a 400 message).
public struct LabelSelectorError: Error, Equatable, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// One requirement of a label selector: a key, an operator and its values.
public struct LabelRequirement: Hashable, Sendable, CustomStringConvertible {
    /// Upstream's `selection.Operator` values.
    public enum Operator: String, Sendable, CaseIterable {
        case doesNotExist = "!"
        case equals = "="
        case doubleEquals = "=="
        case `in` = "in"
        case notEquals = "!="
        case notIn = "notin"
        case exists = "exists"
        case greaterThan = "gt"
        case lessThan = "lt"
    }

    public let key: String
    public let op: Operator
    /// The values as given (the string parser gives them sorted and de-duplicated).
    public let values: [String]

    /// Validates as upstream's `NewRequirement`; errors are aggregated like upstream's.
    public init(key: String, op: Operator, values: [String]) throws(LabelSelectorError) {
        var errs: [String] = []
        if let e = LabelRequirement.keyError(key, path: "key") { errs.append(e) }
        switch op {
        case .in, .notIn:
            if values.isEmpty {
                errs.append(Self.invalid("values", values, "for 'in', 'notin' operators, values set can't be empty"))
            }
        case .equals, .doubleEquals, .notEquals:
            if values.count != 1 {
                errs.append(Self.invalid("values", values, "exact-match compatibility requires one single value"))
            }
        case .exists, .doesNotExist:
            if !values.isEmpty {
                errs.append(
                    Self.invalid("values", values, "values set must be empty for exists and does not exist"))
            }
        case .greaterThan, .lessThan:
            if values.count != 1 {
                errs.append(
                    Self.invalid("values", values, "for 'Gt', 'Lt' operators, exactly one value is required"))
            }
            for (i, v) in values.enumerated() where Int64(v) == nil {
                errs.append(
                    "values[\(i)]: Invalid value: \(GoQuote.quote(v)): for 'Gt', 'Lt' operators, the value must be an integer"
                )
            }
        }
        for (i, v) in values.enumerated() {
            let m = NameValidation.isValidLabelValue(v)
            if !m.isEmpty {
                errs.append("values[\(i)][\(key)]: Invalid value: \(GoQuote.quote(v)): " + m.joined(separator: "; "))
            }
        }
        if !errs.isEmpty {
            throw LabelSelectorError(errs.count == 1 ? errs[0] : "[" + errs.joined(separator: ", ") + "]")
        }
        self.key = key
        self.op = op
        self.values = values
    }

    /// `<path>: Invalid value: "k": <qualified name messages>`, or nil when the key is valid.
    static func keyError(_ key: String, path: String) -> String? {
        let m = NameValidation.isQualifiedName(key)
        if m.isEmpty { return nil }
        return "\(path): Invalid value: \(GoQuote.quote(key)): " + m.joined(separator: "; ")
    }

    /// A `field.Invalid` on a string list: the list is rendered as JSON (`null` when empty, as Go
    /// marshals a nil slice).
    static func invalid(_ path: String, _ values: [String], _ detail: String) -> String {
        let rendered =
            values.isEmpty ? "null" : "[" + values.map { jsonQuote($0) }.joined(separator: ",") + "]"
        return "\(path): Invalid value: \(rendered): \(detail)"
    }

    static func jsonQuote(_ s: String) -> String {
        String(decoding: JSONValue.string(s).jsonBytes, as: UTF8.self)
    }

    /// Whether the label set satisfies this requirement.
    public func matches(_ labels: [String: String]) -> Bool {
        switch op {
        case .in, .equals, .doubleEquals:
            guard let v = labels[key] else { return false }
            return values.contains(v)
        case .notIn, .notEquals:
            guard let v = labels[key] else { return true }
            return !values.contains(v)
        case .exists:
            return labels[key] != nil
        case .doesNotExist:
            return labels[key] == nil
        case .greaterThan, .lessThan:
            guard let s = labels[key], let have = Int64(s), values.count == 1, let want = Int64(values[0]) else {
                return false
            }
            return op == .greaterThan ? have > want : have < want
        }
    }

    /// Upstream's canonical text: `a=b`, `a in (x,y)`, `!a`, `a>1`.
    public var description: String {
        var s = op == .doesNotExist ? "!" + key : key
        switch op {
        case .exists, .doesNotExist: return s
        case .equals: s += "="
        case .doubleEquals: s += "=="
        case .notEquals: s += "!="
        case .in: s += " in "
        case .notIn: s += " notin "
        case .greaterThan: s += ">"
        case .lessThan: s += "<"
        }
        let joined = values.count == 1 ? values[0] : values.sorted(by: utf8Less).joined(separator: ",")
        return op == .in || op == .notIn ? s + "(" + joined + ")" : s + joined
    }
}

/// Byte-wise string order, as Go's `sort.Strings`.
@inline(__always)
func utf8Less<S: StringProtocol>(_ a: S, _ b: S) -> Bool { a.utf8.lexicographicallyPrecedes(b.utf8) }

/// A label selector (`labels.Selector`): requirements ANDed together, sorted by key.
public struct LabelSelector: Hashable, Sendable, CustomStringConvertible {
    public private(set) var requirements: [LabelRequirement]
    /// True only for `nothing` (upstream's `labels.Nothing()`).
    public let matchesNothing: Bool

    /// Matches every label set.
    public static let everything = LabelSelector(requirements: [], nothing: false)
    /// Matches no label set (a nil `metav1.LabelSelector`).
    public static let nothing = LabelSelector(requirements: [], nothing: true)

    init(requirements: [LabelRequirement], nothing: Bool) {
        self.requirements = requirements
        self.matchesNothing = nothing
    }

    /// Builds a selector from requirements (sorted by key as upstream's `Add`).
    public init(_ requirements: [LabelRequirement]) {
        self.requirements = LabelSelector.sortedByKey(requirements)
        self.matchesNothing = false
    }

    static func sortedByKey(_ r: [LabelRequirement]) -> [LabelRequirement] {
        r.enumerated().sorted { a, b in
            a.element.key == b.element.key ? a.offset < b.offset : utf8Less(a.element.key, b.element.key)
        }.map(\.element)
    }

    /// Parses upstream's selector syntax (`labels.Parse`).
    public init(parsing text: String) throws(LabelSelectorError) {
        var p = LabelSelectorParser(Array(text.utf8))
        self.requirements = LabelSelector.sortedByKey(try p.parse())
        self.matchesNothing = false
    }

    /// Converts `metav1.LabelSelector` fields (upstream's `LabelSelectorAsSelector`). Operators
    /// are upstream's strings: `In`, `NotIn`, `Exists`, `DoesNotExist`. Empty fields select
    /// everything.
    public init(
        matchLabels: [String: String],
        matchExpressions: [(key: String, operator: String, values: [String])]
    ) throws(LabelSelectorError) {
        var reqs: [LabelRequirement] = []
        reqs.reserveCapacity(matchLabels.count + matchExpressions.count)
        for k in matchLabels.keys.sorted(by: utf8Less) {
            reqs.append(try LabelRequirement(key: k, op: .equals, values: [matchLabels[k]!]))
        }
        for e in matchExpressions {
            let op: LabelRequirement.Operator
            switch e.operator {
            case "In": op = .in
            case "NotIn": op = .notIn
            case "Exists": op = .exists
            case "DoesNotExist": op = .doesNotExist
            default: throw LabelSelectorError("\(GoQuote.quote(e.operator)) is not a valid label selector operator")
            }
            reqs.append(try LabelRequirement(key: e.key, op: op, values: e.values))
        }
        self.init(reqs)
    }

    /// True when the selector does not restrict anything (`Empty()` upstream).
    public var isEmpty: Bool { !matchesNothing && requirements.isEmpty }

    public func matches(_ labels: [String: String]) -> Bool {
        if matchesNothing { return false }
        for r in requirements where !r.matches(labels) { return false }
        return true
    }

    /// The single value a label must have for this selector to match, if there is one
    /// (`=`, `==`, or `in` with one value on the first requirement for that label).
    public func requiresExactMatch(_ label: String) -> String? {
        for r in requirements where r.key == label {
            switch r.op {
            case .equals, .doubleEquals, .in:
                return r.values.count == 1 ? r.values[0] : nil
            default:
                return nil
            }
        }
        return nil
    }

    public var description: String { requirements.map(\.description).joined(separator: ",") }
}

/// Tokens of upstream's label selector lexer.
enum LabelToken: Equatable {
    case error, end, closePar, comma, bang, doubleEquals, equals, greater, identifier, `in`, less, notEquals
    case notIn, openPar
}

/// A recursive-descent parser with upstream's lexer rules and error messages.
struct LabelSelectorParser {
    var items: [(tok: LabelToken, lit: String)] = []
    var pos = 0

    init(_ bytes: [UInt8]) { items = LabelSelectorParser.lex(bytes) }

    static func isWhitespace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 || c == 0x0D || c == 0x0A }

    static func isSpecial(_ c: UInt8) -> Bool {
        switch c {
        case UInt8(ascii: "="), UInt8(ascii: "!"), UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: ","),
            UInt8(ascii: ">"), UInt8(ascii: "<"):
            return true
        default: return false
        }
    }

    static func keyword(_ s: String) -> LabelToken? {
        switch s {
        case ")": return .closePar
        case ",": return .comma
        case "!": return .bang
        case "==": return .doubleEquals
        case "=": return .equals
        case ">": return .greater
        case "in": return .in
        case "<": return .less
        case "!=": return .notEquals
        case "notin": return .notIn
        case "(": return .openPar
        default: return nil
        }
    }

    /// Tokenizes the whole input, ending with `.end`. A NUL byte ends the input, as upstream.
    static func lex(_ b: [UInt8]) -> [(tok: LabelToken, lit: String)] {
        var out: [(tok: LabelToken, lit: String)] = []
        var i = 0
        let n = b.firstIndex(of: 0) ?? b.count
        while true {
            while i < n && isWhitespace(b[i]) { i += 1 }
            if i >= n {
                out.append((.end, ""))
                return out
            }
            if isSpecial(b[i]) {
                // Longest run of special symbols that still forms a known operator.
                var j = i
                var last: (tok: LabelToken, lit: String, end: Int)? = nil
                while j < n && isSpecial(b[j]) {
                    let s = String(decoding: b[i...j], as: UTF8.self)
                    if let t = keyword(s) {
                        last = (t, s, j + 1)
                    } else if last != nil {
                        break
                    }
                    j += 1
                }
                if let l = last {
                    out.append((l.tok, l.lit))
                    i = l.end
                } else {
                    out.append((.error, "error expected: keyword found '\(String(decoding: b[i..<j], as: UTF8.self))'"))
                    i = j
                }
            } else {
                var j = i
                while j < n && !isSpecial(b[j]) && !isWhitespace(b[j]) { j += 1 }
                let s = String(decoding: b[i..<j], as: UTF8.self)
                out.append((keyword(s) ?? .identifier, s))
                i = j
            }
        }
    }

    /// In a value position `in` and `notin` are plain identifiers.
    func peek(values: Bool = true) -> (tok: LabelToken, lit: String) {
        var it = items[pos]
        if values && (it.tok == .in || it.tok == .notIn) { it.tok = .identifier }
        return it
    }

    mutating func next(values: Bool = true) -> (tok: LabelToken, lit: String) {
        let it = peek(values: values)
        pos += 1
        return it
    }

    mutating func parse() throws(LabelSelectorError) -> [LabelRequirement] {
        var reqs: [LabelRequirement] = []
        while true {
            let (tok, lit) = peek()
            switch tok {
            case .identifier, .bang:
                do {
                    reqs.append(try parseRequirement())
                } catch {
                    throw LabelSelectorError("unable to parse requirement: " + error.message)
                }
                let (t, l) = next()
                switch t {
                case .end: return reqs
                case .comma:
                    let (t2, l2) = peek()
                    if t2 != .identifier && t2 != .bang {
                        throw LabelSelectorError("found '\(l2)', expected: identifier after ','")
                    }
                default:
                    throw LabelSelectorError("found '\(l)', expected: ',' or 'end of string'")
                }
            case .end:
                return reqs
            default:
                throw LabelSelectorError("found '\(lit)', expected: !, identifier, or 'end of string'")
            }
        }
    }

    mutating func parseRequirement() throws(LabelSelectorError) -> LabelRequirement {
        var op: LabelRequirement.Operator? = nil
        var (tok, key) = next()
        if tok == .bang {
            op = .doesNotExist
            (tok, key) = next()
        }
        if tok != .identifier { throw LabelSelectorError("found '\(key)', expected: identifier") }
        if let e = LabelRequirement.keyError(key, path: "<nil>") { throw LabelSelectorError(e) }
        let after = peek().tok
        if after == .end || after == .comma {
            if op == nil { op = .exists }
        }
        if let op, op == .exists || op == .doesNotExist {
            return try LabelRequirement(key: key, op: op, values: [])
        }
        let (otok, olit) = next(values: false)
        let binary: LabelRequirement.Operator
        switch otok {
        case .in: binary = .in
        case .equals: binary = .equals
        case .doubleEquals: binary = .doubleEquals
        case .greater: binary = .greaterThan
        case .less: binary = .lessThan
        case .notIn: binary = .notIn
        case .notEquals: binary = .notEquals
        default:
            throw LabelSelectorError("found '\(olit)', expected: in, notin, =, ==, !=, gt, lt")
        }
        var values: Set<String>
        if binary == .in || binary == .notIn {
            values = try parseValues()
        } else {
            values = try parseExactValue()
        }
        return try LabelRequirement(key: key, op: binary, values: values.sorted(by: utf8Less))
    }

    mutating func parseValues() throws(LabelSelectorError) -> Set<String> {
        let (tok, lit) = next()
        if tok != .openPar { throw LabelSelectorError("found '\(lit)' expected: '('") }
        let (t2, l2) = peek()
        switch t2 {
        case .identifier, .comma:
            let s = try parseIdentifiersList()
            if next().tok != .closePar {
                // Upstream reports the literal seen after '(' here.
                throw LabelSelectorError("found '\(l2)', expected: ')'")
            }
            return s
        case .closePar:
            pos += 1
            return [""]
        default:
            throw LabelSelectorError("found '\(l2)', expected: ',', ')' or identifier")
        }
    }

    mutating func parseIdentifiersList() throws(LabelSelectorError) -> Set<String> {
        var s: Set<String> = []
        while true {
            let (tok, lit) = next()
            switch tok {
            case .identifier:
                s.insert(lit)
                let (t2, l2) = peek()
                switch t2 {
                case .comma: continue
                case .closePar: return s
                default: throw LabelSelectorError("found '\(l2)', expected: ',' or ')'")
                }
            case .comma:
                if s.isEmpty { s.insert("") }
                let t2 = peek().tok
                if t2 == .closePar {
                    s.insert("")
                    return s
                }
                if t2 == .comma {
                    pos += 1
                    s.insert("")
                }
            default:
                throw LabelSelectorError("found '\(lit)', expected: ',', or identifier")
            }
        }
    }

    mutating func parseExactValue() throws(LabelSelectorError) -> Set<String> {
        let t = peek().tok
        if t == .end || t == .comma { return [""] }
        let (tok, lit) = next()
        if tok == .identifier { return [lit] }
        throw LabelSelectorError("found '\(lit)', expected: identifier")
    }
}

extension LabelSelector {
    /// Upstream's `LabelSelectorAsSelector`: a missing selector selects nothing, an empty one everything.
    public static func from(_ s: MetaV1.LabelSelector?) throws(LabelSelectorError) -> LabelSelector {
        guard let s else { return .nothing }
        return try LabelSelector(
            matchLabels: s.matchLabels,
            matchExpressions: s.matchExpressions.map { ($0.key, $0.operator, $0.values) })
    }
}
