/// One step of a path into an object, as server-side apply names fields.
public enum PathElement: Hashable, Sendable, Comparable {
    /// A struct field or map key.
    case field(String)
    /// An item of a keyed list, by the compact JSON of its key fields (sorted by name).
    case key(String)
    /// An item of a set list, by the compact JSON of its value.
    case value(String)
    /// An item of an atomic position addressed by index.
    case index(Int)

    var rank: Int {
        switch self {
        case .field: return 0
        case .key: return 1
        case .value: return 2
        case .index: return 3
        }
    }

    /// Upstream's order: fields by name, then keyed items field by field (name, then value),
    /// then set values, then indexes.
    public static func < (a: PathElement, b: PathElement) -> Bool {
        if a.rank != b.rank { return a.rank < b.rank }
        switch (a, b) {
        case (.field(let x), .field(let y)): return Array(x.utf8).lexicographicallyPrecedes(Array(y.utf8))
        case (.index(let x), .index(let y)): return x < y
        case (.value(let x), .value(let y)):
            guard let vx = try? JSONValue.parse(Array(x.utf8)), let vy = try? JSONValue.parse(Array(y.utf8)) else {
                return x < y
            }
            return ValueOrder.compare(vx, vy) < 0
        case (.key(let x), .key(let y)):
            guard case .object(let px)? = try? JSONValue.parse(Array(x.utf8)),
                case .object(let py)? = try? JSONValue.parse(Array(y.utf8))
            else { return x < y }
            for (ex, ey) in zip(px, py) {
                if ex.key != ey.key { return ex.key < ey.key }
                let c = ValueOrder.compare(ex.value, ey.value)
                if c != 0 { return c < 0 }
            }
            return px.count < py.count
        default: return false
        }
    }

    /// The FieldsV1 form: `f:name`, `k:{"name":"c"}`, `v:"x"`, `i:0`.
    public var fieldsV1: String {
        switch self {
        case .field(let n): return "f:" + n
        case .key(let k): return "k:" + k
        case .value(let v): return "v:" + v
        case .index(let i): return "i:\(i)"
        }
    }

    init?(fieldsV1 s: String) {
        guard s.count > 2 else { return nil }
        let body = String(s.dropFirst(2))
        switch s.prefix(2) {
        case "f:": self = .field(body)
        case "k:": self = .key(body)
        case "v:": self = .value(body)
        case "i:":
            guard let i = Int(body) else { return nil }
            self = .index(i)
        default: return nil
        }
    }

    /// As conflict messages print it: `.name`, `[name="c"]`, `[="x"]`, `[0]`.
    public var printed: String {
        switch self {
        case .field(let n): return "." + n
        case .key(let k):
            guard case .object(let pairs)? = try? JSONValue.parse(Array(k.utf8)) else { return "[" + k + "]" }
            return "[" + pairs.map { "\($0.key)=\(Self.goValue($0.value))" }.joined(separator: ",") + "]"
        case .value(let v):
            guard let value = try? JSONValue.parse(Array(v.utf8)) else { return "[=" + v + "]" }
            return "[=" + Self.goValue(value) + "]"
        case .index(let i): return "[\(i)]"
        }
    }

    /// A value as Go's `%v`/`%q` print it in paths.
    static func goValue(_ v: JSONValue) -> String {
        if case .string(let s) = v { return GoQuote.quote(s) }
        return String(decoding: v.jsonBytes, as: UTF8.self)
    }

    /// The key element of a keyed list item.
    static func key(of item: JSONValue, keys: [String], defaults: [String: JSONValue] = [:]) -> PathElement {
        var w = JSONWriter()
        w.beginObject()
        for k in keys.sorted() {
            guard let v = item[k] ?? defaults[k] else { continue }
            w.key(k)
            v.encodeJSON(&w)
        }
        w.endObject()
        return .key(String(decoding: w.bytes, as: UTF8.self))
    }

    static func value(of item: JSONValue) -> PathElement { .value(String(decoding: item.jsonBytes, as: UTF8.self)) }
}

/// structured-merge-diff's value order: numbers numerically, then strings, booleans, lists,
/// maps, and null last.
enum ValueOrder {
    static func rank(_ v: JSONValue) -> Int {
        switch v {
        case .number: return 0
        case .string: return 1
        case .bool: return 2
        case .array: return 3
        case .object: return 4
        case .null: return 5
        }
    }

    static func compare(_ a: JSONValue, _ b: JSONValue) -> Int {
        let ra = rank(a), rb = rank(b)
        if ra != rb { return ra < rb ? -1 : 1 }
        switch (a, b) {
        case (.number(let x), .number(let y)):
            let dx = Double(x) ?? 0, dy = Double(y) ?? 0
            return dx == dy ? 0 : (dx < dy ? -1 : 1)
        case (.string(let x), .string(let y)): return x == y ? 0 : (x < y ? -1 : 1)
        case (.bool(let x), .bool(let y)): return x == y ? 0 : (!x ? -1 : 1)
        case (.array(let x), .array(let y)):
            for (ex, ey) in zip(x, y) {
                let c = compare(ex, ey)
                if c != 0 { return c }
            }
            return x.count == y.count ? 0 : (x.count < y.count ? -1 : 1)
        default:
            let sx = String(decoding: a.jsonBytes, as: UTF8.self), sy = String(decoding: b.jsonBytes, as: UTF8.self)
            return sx == sy ? 0 : (sx < sy ? -1 : 1)
        }
    }
}

/// A set of field paths (structured-merge-diff's `fieldpath.Set`): paths that end here are
/// members; deeper paths live in children.
public struct FieldSet: Equatable, Sendable {
    public var members: Set<PathElement> = []
    public var children: [PathElement: FieldSet] = [:]

    public init() {}

    public var isEmpty: Bool { members.isEmpty && children.values.allSatisfy(\.isEmpty) }

    public mutating func insert(_ path: ArraySlice<PathElement>) {
        guard let first = path.first else { return }
        if path.count == 1 {
            members.insert(first)
        } else {
            children[first, default: FieldSet()].insert(path.dropFirst())
        }
    }

    public func contains(_ path: ArraySlice<PathElement>) -> Bool {
        guard let first = path.first else { return false }
        if path.count == 1 { return members.contains(first) }
        return children[first]?.contains(path.dropFirst()) ?? false
    }

    public func union(_ o: FieldSet) -> FieldSet {
        var r = self
        r.members.formUnion(o.members)
        for (k, v) in o.children { r.children[k] = (r.children[k] ?? FieldSet()).union(v) }
        return r
    }

    public func subtracting(_ o: FieldSet) -> FieldSet {
        var r = FieldSet()
        r.members = members.subtracting(o.members)
        for (k, v) in children {
            let d = o.children[k].map { v.subtracting($0) } ?? v
            if !d.isEmpty { r.children[k] = d }
        }
        return r
    }

    public func intersection(_ o: FieldSet) -> FieldSet {
        var r = FieldSet()
        r.members = members.intersection(o.members)
        for (k, v) in children {
            guard let ov = o.children[k] else { continue }
            let i = v.intersection(ov)
            if !i.isEmpty { r.children[k] = i }
        }
        return r
    }

    /// Every member path, in a stable order (by element).
    public var paths: [[PathElement]] {
        var out: [[PathElement]] = []
        for m in members.union(children.keys).sorted() {
            if members.contains(m) { out.append([m]) }
            if let c = children[m] { out += c.paths.map { [m] + $0 } }
        }
        return out
    }

    /// A path as conflict messages print it (`.spec.containers[name="c"].image`).
    public static func printed(_ path: [PathElement]) -> String { path.map(\.printed).joined() }

    // MARK: FieldsV1

    /// The FieldsV1 JSON of the set: `{".":{}, "f:x":{}, "k:{…}":{…}}`, keys sorted.
    public var fieldsV1: JSONValue {
        var pairs: [(key: String, value: JSONValue)] = []
        for e in members.union(children.keys).sorted() {
            let child = children[e] ?? FieldSet()
            var inner = child.fieldsV1
            if members.contains(e), !child.isEmpty, case .object(let p) = inner {
                inner = .object([(".", .object([]))] + p)
            }
            pairs.append((e.fieldsV1, inner))
        }
        return .object(pairs)
    }

    /// Reads FieldsV1 JSON; nil when it is not well-formed.
    public init?(fieldsV1 v: JSONValue) {
        guard case .object(let pairs) = v else { return nil }
        for (k, child) in pairs {
            if k == "." { continue }
            guard let e = PathElement(fieldsV1: k), case .object(let inner) = child else { return nil }
            if inner.isEmpty || inner.contains(where: { $0.key == "." }) { members.insert(e) }
            if inner.contains(where: { $0.key != "." }) {
                guard let c = FieldSet(fieldsV1: child) else { return nil }
                children[e] = c
            }
        }
    }
}
