/// An RFC 6902 JSON Patch, applied with the semantics of the library the API server uses
/// (evanphx/json-patch v4): negative array indices count from the end, `replace` of a missing
/// member of an existing object sets it, and `test` of a missing member passes only for null.
public struct JSONPatch: Sendable {
    /// The operations, each a JSON object.
    public let operations: [JSONValue]

    /// Decodes a patch document; anything but an array of objects is a 400 as upstream.
    public init(_ patch: JSONValue) throws(PatchError) {
        switch patch {
        case .null:
            operations = []
        case .array(let ops):
            for op in ops {
                switch op {
                case .object, .null: continue
                default:
                    throw PatchError(
                        .badRequest,
                        "json: cannot unmarshal \(op.goUnmarshalKind) into Go value of type jsonpatch.Operation")
                }
            }
            operations = ops
        default:
            throw PatchError(
                .badRequest, "json: cannot unmarshal \(patch.goUnmarshalKind) into Go value of type jsonpatch.Patch")
        }
    }

    /// Decodes a patch from JSON bytes.
    public init(json bytes: [UInt8]) throws(PatchError) {
        let v: JSONValue
        do {
            v = try JSONValue.parse(bytes)
        } catch {
            throw PatchError(.badRequest, "\(error)")
        }
        try self.init(v)
    }

    /// The number of operations (the API server rejects more than 10000).
    public var count: Int { operations.count }

    /// Applies a patch document in one step.
    public static func apply(patch: JSONValue, to document: JSONValue) throws(PatchError) -> JSONValue {
        try JSONPatch(patch).apply(to: document)
    }

    /// Applies every operation in order; the first failure is a 422 (`.invalid`).
    public func apply(to document: JSONValue) throws(PatchError) -> JSONValue {
        var doc = document
        for op in operations {
            try JSONPatch.applyOne(op, &doc)
        }
        return doc
    }

    static func fail(_ s: String) -> PatchError { PatchError(.invalid, s) }

    static func member(_ op: JSONValue, _ name: String) -> JSONValue? {
        guard case .object(let o) = op else { return nil }
        return o.value(forKey: name)
    }

    static func applyOne(_ op: JSONValue, _ doc: inout JSONValue) throws(PatchError) {
        let kind = member(op, "op")?.stringValue ?? "unknown"
        let value = member(op, "value") ?? .null
        let hasValue = member(op, "value").map { $0 != .null } ?? false
        func pathField(_ name: String) throws(PatchError) -> String {
            guard let p = member(op, name), p != .null else {
                throw fail("\(kind) operation failed to decode \(name): operation missing \(name) field: missing value")
            }
            guard let s = p.stringValue else {
                throw fail(
                    "\(kind) operation failed to decode \(name): json: cannot unmarshal \(p.goUnmarshalKind) into Go value of type string"
                )
            }
            return s
        }
        switch kind {
        case "add":
            let path = try pathField("path")
            try at(path, &doc, missing: "add operation does not apply: doc is missing path: \"\(path)\"") {
                (c, key) throws(PatchError) in
                do throws(PatchError) { try add(&c, key, value) } catch {
                    throw fail("error in add for path: '\(path)': \(error.message)")
                }
            }
        case "remove":
            let path = try pathField("path")
            try at(path, &doc, missing: "remove operation does not apply: doc is missing path: \"\(path)\"") {
                (c, key) throws(PatchError) in
                do throws(PatchError) { _ = try remove(&c, key) } catch {
                    throw fail("error in remove for path: '\(path)': \(error.message)")
                }
            }
        case "replace":
            let path = try pathField("path")
            if path.isEmpty {
                // Only an object or array replaces the whole document; anything else is ignored.
                switch value {
                case .object, .array: doc = value
                default: break
                }
                return
            }
            try at(path, &doc, missing: "replace operation does not apply: doc is missing path: \(path): missing value")
            {
                (c, key) throws(PatchError) in
                if case .array(var a) = c {
                    guard let i = try? index(key, count: a.count, forAdd: false) else {
                        throw fail("replace operation does not apply: doc is missing key: \(path): missing value")
                    }
                    c = .null
                    a[i] = value
                    c = .array(a)
                } else if case .object(var o) = c {
                    c = .null
                    o.set(key, value)
                    c = .object(o)
                }
            }
        case "move":
            let from = try pathField("from")
            var moved: JSONValue = .null
            try at(
                from, &doc, missing: "move operation does not apply: doc is missing from path: \(from): missing value"
            ) {
                (c, key) throws(PatchError) in
                do throws(PatchError) { moved = try remove(&c, key) } catch {
                    throw fail("error in move for path: '\(key)': \(error.message)")
                }
            }
            let path = try pathField("path")
            try at(
                path, &doc,
                missing: "move operation does not apply: doc is missing destination path: \(path): missing value"
            ) {
                (c, key) throws(PatchError) in
                do throws(PatchError) { try add(&c, key, moved) } catch {
                    throw fail("error in move for path: '\(path)': \(error.message)")
                }
            }
        case "copy":
            let from = try pathField("from")
            var copied: JSONValue = .null
            try at(
                from, &doc, missing: "copy operation does not apply: doc is missing from path: \(from): missing value"
            ) {
                (c, key) throws(PatchError) in
                do throws(PatchError) { copied = try get(c, key) ?? .null } catch {
                    throw fail("error in copy for from: '\(from)': \(error.message)")
                }
            }
            let path = try pathField("path")
            try at(
                path, &doc,
                missing: "copy operation does not apply: doc is missing destination path: \(path): missing value"
            ) {
                (c, key) throws(PatchError) in
                do throws(PatchError) { try add(&c, key, copied) } catch {
                    throw fail("error while adding value during copy: \(error.message)")
                }
            }
        case "test":
            let path = try pathField("path")
            if path.isEmpty {
                if doc != value { throw fail("testing value \(path) failed: test failed") }
                return
            }
            try at(path, &doc, missing: "test operation does not apply: is missing path: \(path): missing value") {
                (c, key) throws(PatchError) in
                let have: JSONValue?
                do throws(PatchError) { have = try get(c, key) } catch {
                    throw fail("error in test for path: '\(path)': \(error.message)")
                }
                guard let have else {
                    if hasValue { throw fail("testing value \(path) failed: test failed") }
                    return
                }
                if have != value { throw fail("testing value \(path) failed: test failed") }
            }
        default:
            throw fail("Unexpected kind: \(kind)")
        }
    }

    /// Decodes one reference token (`~1` then `~0`).
    static func decodeToken(_ s: Substring) -> String {
        if !s.contains("~") { return String(s) }
        return String(s).replacing("~1", with: "/").replacing("~0", with: "~")
    }

    /// Finds the container holding the last token of `path` and runs `body` on it in place.
    /// Like upstream, the text before the first `/` is ignored and null or scalar
    /// intermediates count as missing.
    static func at(
        _ path: String, _ doc: inout JSONValue, missing: @autoclosure () -> String,
        _ body: (inout JSONValue, String) throws(PatchError) -> Void
    ) throws(PatchError) {
        let split = path.split(separator: "/", omittingEmptySubsequences: false)
        guard split.count >= 2 else { throw fail(missing()) }
        let tokens = split.dropFirst().map(decodeToken)
        guard try descend(&doc, tokens[...], body) else { throw fail(missing()) }
    }

    static func descend(
        _ v: inout JSONValue, _ tokens: ArraySlice<String>,
        _ body: (inout JSONValue, String) throws(PatchError) -> Void
    ) throws(PatchError) -> Bool {
        switch v {
        case .object, .array: break
        default: return false
        }
        if tokens.count == 1 {
            try body(&v, tokens.first!)
            return true
        }
        let t = tokens.first!
        let rest = tokens.dropFirst()
        switch v {
        case .object(var o):
            guard let i = o.index(ofKey: t), o[i].value != .null else { return false }
            var child = o[i].value
            v = .null
            o[i].value = .null
            defer {
                o[i].value = child
                v = .object(o)
            }
            return try descend(&child, rest, body)
        case .array(var a):
            guard let i = try? index(t, count: a.count, forAdd: false), a[i] != .null else { return false }
            var child = a[i]
            v = .null
            a[i] = .null
            defer {
                a[i] = child
                v = .array(a)
            }
            return try descend(&child, rest, body)
        default:
            return false
        }
    }

    /// Go's `strconv.Atoi` for an index token: optional sign, decimal digits.
    static func atoi(_ s: String) -> Int? {
        var u = Substring(s)
        if u.first == "+" { u = u.dropFirst() }
        if u.hasPrefix("-+") { return nil }
        return Int(u)
    }

    /// Resolves an array index token with upstream's negative-index support.
    static func index(_ key: String, count: Int, forAdd: Bool) throws(PatchError) -> Int {
        guard var i = atoi(key) else {
            let m = "strconv.Atoi: parsing \(GoQuote.quote(key)): invalid syntax"
            throw fail(forAdd ? "value was not a proper array index: '\(key)': \(m)" : m)
        }
        let size = forAdd ? count + 1 : count
        if i >= size || i < -size {
            throw fail("Unable to access invalid index: \(i): invalid index referenced")
        }
        if i < 0 { i += size }
        return i
    }

    static func get(_ c: JSONValue, _ key: String) throws(PatchError) -> JSONValue? {
        switch c {
        case .object(let o): return o.value(forKey: key)
        case .array(let a): return a[try index(key, count: a.count, forAdd: false)]
        default: return nil
        }
    }

    static func add(_ c: inout JSONValue, _ key: String, _ value: JSONValue) throws(PatchError) {
        switch c {
        case .object(var o):
            c = .null
            o.set(key, value)
            c = .object(o)
        case .array(var a):
            let i = key == "-" ? a.count : try index(key, count: a.count, forAdd: true)
            c = .null
            a.insert(value, at: i)
            c = .array(a)
        default: break
        }
    }

    static func remove(_ c: inout JSONValue, _ key: String) throws(PatchError) -> JSONValue {
        switch c {
        case .object(var o):
            guard let i = o.index(ofKey: key) else {
                throw fail("Unable to remove nonexistent key: \(key): missing value")
            }
            c = .null
            let v = o.remove(at: i).value
            c = .object(o)
            return v
        case .array(var a):
            let i = try index(key, count: a.count, forAdd: false)
            c = .null
            let v = a.remove(at: i)
            c = .array(a)
            return v
        default:
            return .null
        }
    }
}
