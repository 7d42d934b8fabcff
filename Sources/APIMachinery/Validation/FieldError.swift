/// A path to a field, printed as upstream does: `spec.containers[0].name`, `metadata.labels[app]`.
public struct FieldPath: Hashable, Sendable, CustomStringConvertible {
    enum Step: Hashable, Sendable {
        case child(String)
        case index(Int)
        case key(String)
    }

    var steps: [Step]

    public init(_ names: String...) { steps = names.map { .child($0) } }
    init(steps: [Step]) { self.steps = steps }
    /// The empty path (the object itself).
    public static let root = FieldPath(steps: [])

    public func child(_ names: String...) -> FieldPath {
        FieldPath(steps: steps + names.map { .child($0) })
    }

    public func index(_ i: Int) -> FieldPath { FieldPath(steps: steps + [.index(i)]) }
    public func key(_ k: String) -> FieldPath { FieldPath(steps: steps + [.key(k)]) }

    /// The deepest value along this path in `json` and the path that reaches it (the path itself
    /// when the whole path exists).
    public func deepestValue(in json: JSONValue) -> (FieldPath, JSONValue) {
        var cur = json
        var reached: [Step] = []
        for st in steps {
            let next: JSONValue?
            switch st {
            case .child(let n), .key(let n): next = cur[n]
            case .index(let i):
                if case .array(let items) = cur, i >= 0, i < items.count { next = items[i] } else { next = nil }
            }
            guard let next else { break }
            cur = next
            reached.append(st)
        }
        return (FieldPath(steps: reached), cur)
    }

    /// The value at this path in `json`, nil when some step is missing.
    public func value(in json: JSONValue) -> JSONValue? {
        let (reached, v) = deepestValue(in: json)
        return reached.steps.count == steps.count ? v : nil
    }

    public var description: String {
        var s = ""
        for st in steps {
            switch st {
            case .child(let n):
                if !s.isEmpty { s += "." }
                s += n
            case .index(let i): s += "[\(i)]"
            case .key(let k): s += "[\(k)]"
            }
        }
        return s
    }
}

/// A value shown in an error message, rendered as upstream renders it.
public enum ErrorValue: Hashable, Sendable, CustomStringConvertible {
    case string(String)
    case int(Int64)
    case bool(Bool)
    /// JSON text (maps, lists, structs).
    case json(String)
    case omitted

    public var description: String {
        switch self {
        case .string(let s): return GoQuote.quote(s)
        case .int(let i): return String(i)
        case .bool(let b): return b ? "true" : "false"
        case .json(let j): return j
        case .omitted: return "<omitted>"
        }
    }
}

/// One validation error, with upstream's kinds and message shapes.
public struct FieldError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        case required = "FieldValueRequired"
        case invalid = "FieldValueInvalid"
        case duplicate = "FieldValueDuplicate"
        case notSupported = "FieldValueNotSupported"
        case forbidden = "FieldValueForbidden"
        case tooLong = "FieldValueTooLong"
        case tooMany = "FieldValueTooMany"
        case notFound = "FieldValueNotFound"
        case typeInvalid = "FieldValueTypeInvalid"
        case `internal` = "InternalError"
    }

    public var kind: Kind
    public var field: FieldPath
    public var value: ErrorValue?
    public var detail: String

    public init(_ kind: Kind, _ field: FieldPath, _ value: ErrorValue?, _ detail: String) {
        self.kind = kind
        self.field = field
        self.value = value
        self.detail = detail
    }

    public static func required(_ f: FieldPath, _ detail: String = "") -> FieldError {
        FieldError(.required, f, nil, detail)
    }

    public static func invalid(_ f: FieldPath, _ v: ErrorValue, _ detail: String) -> FieldError {
        FieldError(.invalid, f, v, detail)
    }

    public static func invalid(_ f: FieldPath, _ v: String, _ detail: String) -> FieldError {
        FieldError(.invalid, f, .string(v), detail)
    }

    public static func duplicate(_ f: FieldPath, _ v: ErrorValue) -> FieldError { FieldError(.duplicate, f, v, "") }

    public static func notSupported(_ f: FieldPath, _ v: ErrorValue, _ supported: [String]) -> FieldError {
        let detail =
            supported.isEmpty ? "" : "supported values: " + supported.map(GoQuote.quote).joined(separator: ", ")
        return FieldError(.notSupported, f, v, detail)
    }

    /// `NotSupported` whose supported values are shown as given (already quoted or JSON).
    public static func notSupportedRaw(_ f: FieldPath, _ v: ErrorValue, _ supported: [String]) -> FieldError {
        notSupported(f, v, supported)
    }

    public static func typeInvalid(_ f: FieldPath, _ v: ErrorValue, _ detail: String) -> FieldError {
        FieldError(.typeInvalid, f, v, detail)
    }

    public static func forbidden(_ f: FieldPath, _ detail: String) -> FieldError {
        FieldError(.forbidden, f, nil, detail)
    }

    public static func tooLong(_ f: FieldPath, _ maxLength: Int) -> FieldError {
        FieldError(.tooLong, f, .omitted, "may not be more than \(maxLength) bytes")
    }

    public static func tooMany(_ f: FieldPath, _ actual: Int, _ max: Int) -> FieldError {
        FieldError(.tooMany, f, .int(Int64(actual)), "must have at most \(max) items")
    }

    /// The text after the field path: `Invalid value: "x": detail`.
    public var body: String {
        var s: String
        switch kind {
        case .required: s = "Required value"
        case .invalid: s = "Invalid value"
        case .duplicate: s = "Duplicate value"
        case .notSupported: s = "Unsupported value"
        case .forbidden: s = "Forbidden"
        case .tooLong: s = "Too long"
        case .tooMany: s = "Too many"
        case .notFound: s = "Not found"
        case .typeInvalid: s = "Invalid value"
        case .internal: s = "Internal error"
        }
        if let v = value, kind != .required, kind != .forbidden, kind != .internal, kind != .tooLong {
            if case .omitted = v {} else { s += ": \(v)" }
        }
        if !detail.isEmpty { s += ": \(detail)" }
        return s
    }

    public var description: String { "\(field): \(body)" }
}

/// Go's `%q` for strings (used to render values in messages).
public enum GoQuote {
    public static func quote(_ s: String) -> String {
        var o = "\""
        for c in s.unicodeScalars {
            switch c {
            case "\"": o += "\\\""
            case "\\": o += "\\\\"
            case "\n": o += "\\n"
            case "\t": o += "\\t"
            case "\r": o += "\\r"
            default:
                if c.value < 0x20 || c.value == 0x7F {
                    o += "\\x" + (c.value < 0x10 ? "0" : "") + String(c.value, radix: 16)
                } else {
                    o.unicodeScalars.append(c)
                }
            }
        }
        return o + "\""
    }
}

/// A list of field errors.
public typealias ErrorList = [FieldError]

extension Array where Element == FieldError {
    /// Upstream's aggregate message: one error alone, or `[a, b]`.
    public var aggregateMessage: String {
        if count == 1 { return self[0].description }
        return "[" + map(\.description).joined(separator: ", ") + "]"
    }
}
