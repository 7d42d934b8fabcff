/// RFC 7386 JSON Merge Patch with the behaviour of the library the API server uses
/// (evanphx/json-patch v4 `MergePatch`): a null patch or a scalar patch is rejected, an array
/// patch replaces the document, and nulls are pruned from objects a patch adds.
/// Member order is kept; new members are appended in patch order.
public enum JSONMergePatch {
    public static func apply(patch: JSONValue, to document: JSONValue) throws(PatchError) -> JSONValue {
        if case .null = document { throw PatchError(.badRequest, "Invalid JSON Document") }
        switch patch {
        case .object(let p):
            if case .object(var d) = document {
                mergeMembers(&d, p)
                return .object(d)
            }
            return pruneNulls(patch)
        case .array:
            return pruneNulls(patch)
        default:
            throw PatchError(.badRequest, "Invalid JSON Patch")
        }
    }

    static func mergeMembers(_ d: inout [(key: String, value: JSONValue)], _ p: [(key: String, value: JSONValue)]) {
        for (k, v) in p {
            if case .null = v {
                d.remove(key: k)
                continue
            }
            guard let i = d.index(ofKey: k), d[i].value != .null else {
                d.set(k, pruneNulls(v))
                continue
            }
            let cur = d[i].value
            d[i].value = .null
            d[i].value = merge(cur, v)
        }
    }

    static func merge(_ cur: JSONValue, _ patch: JSONValue) -> JSONValue {
        guard case .object(var c) = cur else { return pruneNulls(patch) }
        guard case .object(let p) = patch else { return patch }
        mergeMembers(&c, p)
        return .object(c)
    }

    /// Removes null members from objects, recursively, keeping nulls that are array items.
    static func pruneNulls(_ v: JSONValue) -> JSONValue {
        switch v {
        case .object(let o):
            var out: [(key: String, value: JSONValue)] = []
            out.reserveCapacity(o.count)
            for (k, x) in o where x != .null { out.append((k, pruneNulls(x))) }
            return .object(out)
        case .array(let a):
            return .array(a.map { $0 == .null ? $0 : pruneNulls($0) })
        default:
            return v
        }
    }
}
