/// A patch failure. `message` is the underlying library's text (evanphx/json-patch or
/// strategicpatch wording); `kind` says how the API server reports it.
public struct PatchError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// 400 BadRequest with `message` as the status message (undecodable patch bodies).
        case badRequest
        /// 422 Invalid with upstream's generic message; `message` is not shown to clients
        /// (upstream builds it with `NewGenericServerResponse`, which drops it).
        case invalid
        /// 500 InternalError (`Internal error occurred: <message>`).
        case `internal`
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }

    /// The HTTP status code of the API server's response.
    public var code: Int {
        switch kind {
        case .badRequest: return 400
        case .invalid: return 422
        case .internal: return 500
        }
    }

    /// The `reason` of the API server's Status.
    public var reason: String {
        switch kind {
        case .badRequest: return "BadRequest"
        case .invalid: return "Invalid"
        case .internal: return "InternalError"
        }
    }

    /// The `message` of the API server's Status.
    public var statusMessage: String {
        switch kind {
        case .badRequest: return message
        case .invalid: return "the server rejected our request due to an error in our request"
        case .internal: return "Internal error occurred: " + message
        }
    }
}

extension JSONValue {
    /// Go's name for the JSON kind in `json: cannot unmarshal <kind> into ...` messages.
    var goUnmarshalKind: String {
        switch self {
        case .null: return "null"
        case .bool: return "bool"
        case .number: return "number"
        case .string: return "string"
        case .array: return "array"
        case .object: return "object"
        }
    }

    /// Go's `reflect.TypeOf` name for a decoded `interface{}` holding this value.
    var goTypeName: String {
        switch self {
        case .null: return "<nil>"
        case .bool: return "bool"
        case .number: return "float64"
        case .string: return "string"
        case .array: return "[]interface {}"
        case .object: return "map[string]interface {}"
        }
    }

    /// Go's `%v` rendering of a decoded `interface{}` (maps print with sorted keys).
    var goDescription: String {
        switch self {
        case .null: return "<nil>"
        case .bool(let b): return b ? "true" : "false"
        case .number(let n):
            guard let d = Double(n) else { return n }
            if d == d.rounded(), abs(d) < 1e21 { return String(Int64(d)) }
            return String(d)
        case .string(let s): return s
        case .array(let a): return "[" + a.map(\.goDescription).joined(separator: " ") + "]"
        case .object(let o):
            let items = o.sorted { utf8Less($0.key, $1.key) }.map { "\($0.key):\($0.value.goDescription)" }
            return "map[" + items.joined(separator: " ") + "]"
        }
    }
}

/// Helpers for order-preserving object members.
extension Array where Element == (key: String, value: JSONValue) {
    func index(ofKey k: String) -> Int? { firstIndex { $0.key == k } }

    func value(forKey k: String) -> JSONValue? {
        for m in self where m.key == k { return m.value }
        return nil
    }

    /// Sets a member, keeping its position when present, appending otherwise.
    mutating func set(_ k: String, _ v: JSONValue) {
        if let i = index(ofKey: k) { self[i].value = v } else { append((k, v)) }
    }

    @discardableResult
    mutating func remove(key k: String) -> JSONValue? {
        guard let i = index(ofKey: k) else { return nil }
        return remove(at: i).value
    }
}
