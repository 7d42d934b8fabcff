/// Strategic merge patch (`application/strategic-merge-patch+json`) with upstream's apply
/// semantics (apimachinery `strategicpatch`, server options: parallel deletion lists merged,
/// unmatched nulls ignored).
///
/// - maps merge recursively and `null` deletes a key;
/// - lists whose field has strategy `merge` merge items by `patchMergeKey` (primitive items
///   are unioned); other lists, and lists with no schema, are replaced;
/// - directives: `$patch: replace|delete` in maps, `{"$patch": "replace"}` and
///   `{"<key>": v, "$patch": "delete"}` items in merge lists, `$retainKeys`,
///   `$deleteFromPrimitiveList/<field>` and `$setElementOrder/<field>`.
public enum StrategicMergePatch {
    typealias Members = [(key: String, value: JSONValue)]

    static let directiveMarker = "$patch"
    static let retainKeysDirective = "$retainKeys"
    static let deleteFromPrimitiveListPrefix = "$deleteFromPrimitiveList"
    static let setElementOrderPrefix = "$setElementOrder"

    /// Applies `patch` to `original` (an object). A null patch changes nothing.
    public static func apply(patch: JSONValue, to original: JSONValue, schema: PatchSchema?) throws(PatchError)
        -> JSONValue
    {
        guard case .object(let o) = original else { throw PatchError(.badRequest, "Invalid JSON Document") }
        switch patch {
        case .null:
            return original
        case .object(let p):
            return .object(try mergeMap(o, p, schema))
        default:
            throw PatchError(
                .badRequest,
                "json: cannot unmarshal \(patch.goUnmarshalKind) into Go value of type map[string]interface {}")
        }
    }

    // MARK: errors (mergepatch wording)

    static func noMergeKey(_ m: JSONValue, _ key: String) -> PatchError {
        PatchError(.internal, "map: \(m.goDescription) does not contain declared merge key: \(key)")
    }

    static func badArgType(_ expected: String, _ actual: JSONValue) -> PatchError {
        PatchError(.internal, "expected a \(expected), but received a \(actual.goTypeName)")
    }

    static func badPatchType(_ t: JSONValue, _ m: JSONValue) -> PatchError {
        PatchError(.internal, "unknown patch type: \(t.goDescription) in map: \(m.goDescription)")
    }

    static let badRetainKeys = PatchError(.badRequest, "invalid patch format of retainKeys")
    static let badPrimitiveList = PatchError(.badRequest, "invalid patch format of primitive list")
    static let badSetElementOrder = PatchError(.badRequest, "invalid patch format of setElementOrder list")

    /// The field name after `<prefix>/`.
    static func extractKey(_ s: String, prefix: String) throws(PatchError) -> String {
        guard let slash = s.firstIndex(of: "/"), s[..<slash] == prefix else {
            throw prefix == setElementOrderPrefix ? badSetElementOrder : badPrimitiveList
        }
        return String(s[s.index(after: slash)...])
    }

    // MARK: maps

    static func mergeMap(_ original: Members?, _ patchIn: Members, _ schema: PatchSchema?) throws(PatchError)
        -> Members
    {
        if let d = patchIn.value(forKey: directiveMarker) {
            if d == .string("replace") {
                var p = patchIn
                p.remove(key: directiveMarker)
                return p
            }
            if d == .string("delete") { return [] }
            throw badPatchType(d, .object(patchIn))
        }
        var orig = original ?? []
        var patch = patchIn
        try applyRetainKeys(&orig, &patch)
        try mergeSetElementOrder(&orig, &patch, schema)

        for (key, pv) in patch {
            var k = key
            var isDeleteList = false
            if key.hasPrefix(deleteFromPrimitiveListPrefix) {
                k = try extractKey(key, prefix: deleteFromPrimitiveListPrefix)
                isDeleteList = true
            }
            if case .null = pv {
                orig.remove(key: k)
                continue
            }
            guard let i = orig.index(ofKey: k) else {
                if !isDeleteList, let v = removeDirectives(discardNulls(pv)) { orig.append((k, v)) }
                continue
            }
            let ov = orig[i].value
            if !sameKind(ov, pv) {
                if !isDeleteList {
                    if let v = removeDirectives(discardNulls(pv)) { orig[i].value = v } else { orig.remove(at: i) }
                }
                continue
            }
            let sub = schema?.field(k)
            switch (ov, pv) {
            case (.object(let oo), .object(let po)):
                let strategy = try sub?.strategy() ?? ""
                orig[i].value = .null
                orig[i].value = strategy == "replace" ? pv : .object(try mergeMap(oo, po, sub))
            case (.array(let oa), .array(let pa)):
                let strategy = try sub?.strategy() ?? ""
                orig[i].value = .null
                orig[i].value = .array(
                    try mergeSliceHandler(oa, pa, sub, strategy, sub?.patchMergeKey ?? "", isDeleteList))
            default:
                if let v = removeDirectives(pv) { orig[i].value = v } else { orig.remove(at: i) }
            }
        }
        return orig
    }

    static func sameKind(_ a: JSONValue, _ b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null), (.bool, .bool), (.number, .number), (.string, .string), (.array, .array),
            (.object, .object):
            return true
        default:
            return false
        }
    }

    /// `$retainKeys`: drop original keys not listed; every non-null patch key must be listed.
    static func applyRetainKeys(_ orig: inout Members, _ patch: inout Members) throws(PatchError) {
        guard let rk = patch.remove(key: retainKeysDirective) else { return }
        guard case .array(let list) = rk else { throw badRetainKeys }
        for (k, v) in patch {
            if v == .null || k.hasPrefix(deleteFromPrimitiveListPrefix) || k.hasPrefix(setElementOrderPrefix) {
                continue
            }
            if !list.contains(.string(k)) { throw badRetainKeys }
        }
        orig.removeAll { !list.contains(.string($0.key)) }
    }

    /// Processes each `$setElementOrder/<field>` with its list: merge, then order the result.
    static func mergeSetElementOrder(_ orig: inout Members, _ patch: inout Members, _ schema: PatchSchema?)
        throws(PatchError)
    {
        for (key, pv) in patch where key.hasPrefix(setElementOrderPrefix) {
            patch.remove(key: key)
            guard case .array(let order) = pv else { throw badArgType("[]interface {}", pv) }
            let field = try extractKey(key, prefix: setElementOrderPrefix)
            var origList: [JSONValue]? = nil
            var patchList: [JSONValue]? = nil
            if let v = orig.value(forKey: field) {
                guard case .array(let a) = v else { throw badArgType("[]interface {}", v) }
                origList = a
            }
            if let v = patch.value(forKey: field) {
                guard case .array(let a) = v else { throw badArgType("[]interface {}", v) }
                patchList = a
            }
            let sub = schema?.field(field)
            let strategy = try sub?.strategy() ?? ""
            let mergeKey = sub?.patchMergeKey ?? ""
            try validatePatchWithSetOrderList(patchList ?? [], order, mergeKey)
            let merged: [JSONValue]
            switch (origList, patchList) {
            case (let o?, nil): merged = o
            case (nil, let p?): merged = p
            case (let o?, let p?): merged = try mergeSliceHandler(o, p, sub, strategy, mergeKey, false)
            case (nil, nil): continue
            }
            let isMap = try elementKindIsObject(origList ?? [], patchList ?? [])
            let (inOrder, serverOnly) = try partition(merged, by: order, mergeKey, isMap)
            let result = try normalizeElementOrder(inOrder, serverOnly, order, origList ?? [], mergeKey, isMap)
            orig.set(field, .array(result))
            patch.remove(key: field)
        }
    }

    static func hasDirective(_ v: JSONValue) -> Bool {
        if case .object(let o) = v { return o.index(ofKey: directiveMarker) != nil }
        return false
    }

    /// The patch list's items (ignoring directive items) must appear in the order list in order.
    static func validatePatchWithSetOrderList(_ patchList: [JSONValue], _ order: [JSONValue], _ mergeKey: String)
        throws(PatchError)
    {
        if order.isEmpty || patchList.isEmpty { return }
        var items = patchList
        if !mergeKey.isEmpty {
            for v in patchList { guard case .object = v else { throw badArgType("map[string]interface {}", v) } }
            items = patchList.filter { $0["$patch"] != .string("delete") }
        }
        var pi = 0
        var oi = 0
        while pi < items.count && oi < order.count {
            if hasDirective(items[pi]) {
                pi += 1
                continue
            }
            if try mergeKeyValueEqual(items[pi], order[oi], mergeKey) { pi += 1 }
            oi += 1
        }
        if pi < items.count && oi >= order.count {
            throw PatchError(
                .internal,
                "The order in patch list:\n\(JSONValue.array(patchList).goDescription)\n doesn't match \(setElementOrderPrefix) list:\n\(JSONValue.array(order).goDescription)\n"
            )
        }
    }

    static func mergeKeyValueEqual(_ l: JSONValue, _ r: JSONValue, _ mergeKey: String) throws(PatchError) -> Bool {
        if mergeKey.isEmpty { return l == r }
        guard case .object = l else { throw badArgType("map[string]interface {}", l) }
        guard case .object = r else { throw badArgType("map[string]interface {}", r) }
        guard let lv = l[mergeKey] else { throw noMergeKey(l, mergeKey) }
        guard let rv = r[mergeKey] else { throw noMergeKey(r, mergeKey) }
        return lv == rv
    }

    // MARK: lists

    static func mergeSliceHandler(
        _ orig: [JSONValue], _ patch: [JSONValue], _ fieldSchema: PatchSchema?, _ strategy: String,
        _ mergeKey: String, _ isDeleteList: Bool
    ) throws(PatchError) -> [JSONValue] {
        if strategy == "merge" || isDeleteList {
            return try mergeSlice(orig, patch, fieldSchema, mergeKey, isDeleteList)
        }
        return patch
    }

    /// Whether list items are objects; all items of both lists must be of one kind, not lists.
    static func elementKindIsObject(_ a: [JSONValue], _ b: [JSONValue]) throws(PatchError) -> Bool {
        var first: JSONValue? = nil
        for v in a + b {
            guard let f = first else {
                if case .array = v { throw PatchError(.invalid, "lists of lists are not supported") }
                first = v
                continue
            }
            if !sameKind(f, v) {
                throw PatchError(
                    .internal,
                    "list element types are not identical: [\(JSONValue.array(a).goDescription) \(JSONValue.array(b).goDescription)]"
                )
            }
        }
        guard let f = first else { throw PatchError(.internal, "no elements in any of the given slices") }
        if case .object = f { return true }
        return false
    }

    static func mergeSlice(
        _ origIn: [JSONValue], _ patchIn: [JSONValue], _ fieldSchema: PatchSchema?, _ mergeKey: String,
        _ isDeleteList: Bool
    ) throws(PatchError) -> [JSONValue] {
        if origIn.isEmpty && patchIn.isEmpty { return origIn }
        let isMap = try elementKindIsObject(origIn, patchIn)
        var orig = origIn
        var patch = patchIn
        var merged: [JSONValue]
        if !isMap {
            if isDeleteList { return orig.filter { !patch.contains($0) } }
            merged = []
            merged.reserveCapacity(orig.count + patch.count)
            for v in orig + patch where !merged.contains(v) { merged.append(v) }
        } else {
            if mergeKey.isEmpty {
                let name = fieldSchema?.items?.name ?? ""
                throw PatchError(.internal, "cannot merge lists without merge key for \(name)")
            }
            (orig, patch) = try mergeSpecialElements(orig, patch, mergeKey)
            merged = try mergeItems(orig, patch, mergeKey, fieldSchema?.items)
        }
        let (patchItems, serverOnly) = try partition(merged, by: patch, mergeKey, isMap)
        return try normalizeElementOrder(patchItems, serverOnly, patch, orig, mergeKey, isMap)
    }

    /// Handles `$patch` items: `delete` removes original items by merge key, `replace` makes the
    /// remaining patch items the whole list. Returns the new original and the plain patch items.
    static func mergeSpecialElements(_ origIn: [JSONValue], _ patch: [JSONValue], _ mergeKey: String)
        throws(PatchError) -> ([JSONValue], [JSONValue])
    {
        var orig = origIn
        var plain: [JSONValue] = []
        var replace = false
        for v in patch {
            guard let d = v[directiveMarker] else {
                plain.append(v)
                continue
            }
            switch d {
            case .string("delete"):
                guard let mv = v[mergeKey] else { throw noMergeKey(v, mergeKey) }
                while let i = try find(orig, mergeKey, mv) { orig.remove(at: i) }
            case .string("replace"):
                replace = true
            case .string("merge"):
                throw PatchError(.internal, "merging lists cannot yet be specified in the patch")
            default:
                throw badPatchType(d, v)
            }
        }
        return replace ? (plain, []) : (orig, plain)
    }

    /// The index of the first map in `list` whose merge key equals `value`.
    static func find(_ list: [JSONValue], _ mergeKey: String, _ value: JSONValue) throws(PatchError) -> Int? {
        for (i, v) in list.enumerated() {
            guard case .object(let o) = v else { throw PatchError(.internal, "value for key \(i) is not a map.") }
            if let mv = o.value(forKey: mergeKey), mv == value { return i }
        }
        return nil
    }

    static func mergeItems(_ origIn: [JSONValue], _ patch: [JSONValue], _ mergeKey: String, _ items: PatchSchema?)
        throws(PatchError) -> [JSONValue]
    {
        var orig = origIn
        for v in patch {
            guard case .object(let po) = v, let mv = po.value(forKey: mergeKey) else { throw noMergeKey(v, mergeKey) }
            if let i = try find(orig, mergeKey, mv), case .object(let oo) = orig[i] {
                orig[i] = .null
                orig[i] = .object(try mergeMap(oo, po, items))
            } else {
                orig.append(v)
            }
        }
        return orig
    }

    /// Splits `list` into items present in `by` (by merge key for maps) and the others.
    static func partition(_ list: [JSONValue], by: [JSONValue], _ mergeKey: String, _ isMap: Bool)
        throws(PatchError) -> ([JSONValue], [JSONValue])
    {
        var inBy: [JSONValue] = []
        var rest: [JSONValue] = []
        for v in list {
            let found: Bool
            if isMap {
                guard case .object = v else { throw badArgType("map[string]interface {}", v) }
                guard let mv = v[mergeKey] else { throw noMergeKey(v, mergeKey) }
                found = try find(by, mergeKey, mv) != nil
            } else {
                found = by.contains(v)
            }
            if found { inBy.append(v) } else { rest.append(v) }
        }
        return (inBy, rest)
    }

    static func position(_ order: [JSONValue], _ v: JSONValue, _ mergeKey: String, _ isMap: Bool) -> Int? {
        if !isMap { return order.firstIndex(of: v) }
        guard let mv = v[mergeKey] else { return nil }
        return order.firstIndex { $0[mergeKey] == mv }
    }

    /// Orders `items` by their position in `order` (items not in it keep their order, last).
    static func sortByOrder(_ items: [JSONValue], _ order: [JSONValue], _ mergeKey: String, _ isMap: Bool)
        throws(PatchError) -> [JSONValue]
    {
        if isMap {
            for v in items + order {
                guard case .object = v, v[mergeKey] != nil else { throw noMergeKey(v, mergeKey) }
            }
        }
        let keyed = items.enumerated().map {
            (pos: position(order, $0.element, mergeKey, isMap) ?? Int.max, i: $0.offset)
        }
        return keyed.sorted { $0.pos != $1.pos ? $0.pos < $1.pos : $0.i < $1.i }.map { items[$0.i] }
    }

    /// Patch items in patch order, server-only items in original order, interleaved so that a
    /// server-only item goes before a patch item it preceded in the original list.
    static func normalizeElementOrder(
        _ patchItems: [JSONValue], _ serverOnly: [JSONValue], _ patchOrder: [JSONValue],
        _ serverOrder: [JSONValue], _ mergeKey: String, _ isMap: Bool
    ) throws(PatchError) -> [JSONValue] {
        let right = try sortByOrder(patchItems, patchOrder, mergeKey, isMap)
        let left = try sortByOrder(serverOnly, serverOrder, mergeKey, isMap)
        var out: [JSONValue] = []
        out.reserveCapacity(left.count + right.count)
        var i = 0
        var j = 0
        while i < left.count || j < right.count {
            if j >= right.count {
                out.append(left[i])
                i += 1
            } else if i >= left.count {
                out.append(right[j])
                j += 1
            } else if let li = position(serverOrder, left[i], mergeKey, isMap),
                let ri = position(serverOrder, right[j], mergeKey, isMap), li < ri
            {
                out.append(left[i])
                i += 1
            } else {
                out.append(right[j])
                j += 1
            }
        }
        return out
    }

    // MARK: cleaning values taken from the patch

    /// Removes null members from objects, at any depth (array items are kept).
    static func discardNulls(_ v: JSONValue) -> JSONValue {
        switch v {
        case .object(let o):
            return .object(o.compactMap { $0.value == .null ? nil : ($0.key, discardNulls($0.value)) })
        case .array(let a):
            return .array(a.map(discardNulls))
        default:
            return v
        }
    }

    /// Drops maps carrying `$patch` (nil when `v` itself is one), at any depth.
    static func removeDirectives(_ v: JSONValue) -> JSONValue? {
        switch v {
        case .object(let o):
            if o.index(ofKey: directiveMarker) != nil { return nil }
            return .object(o.compactMap { m in removeDirectives(m.value).map { (m.key, $0) } })
        case .array(let a):
            return .array(a.compactMap(removeDirectives))
        default:
            return v
        }
    }
}
