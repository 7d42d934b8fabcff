/// The value operations of server-side apply over JSON and an `ApplySchema`: the fields a value
/// sets, what changed between two values, merging an applied configuration into a live object,
/// and removing fields.
public enum StructuredMerge {
    /// Whether a value is owned as one leaf: scalars, nulls, atomic values and empty containers.
    static func isLeaf(_ v: JSONValue, _ s: ApplySchema) -> Bool {
        switch v {
        case .object(let p): return s.atomic || s.shape == .scalar || p.isEmpty
        case .array(let a): return s.atomic || s.shape == .scalar || s.shape == .untyped || a.isEmpty
        default: return true
        }
    }

    /// The fields a value sets (its leaves, keyed list items, set values and empty containers).
    public static func fieldSet(_ v: JSONValue, _ s: ApplySchema) -> FieldSet {
        var out = FieldSet()
        switch v {
        case .object(let pairs):
            for (k, child) in pairs {
                let cs = s.child(k)
                let e = PathElement.field(k)
                if isLeaf(child, cs) {
                    out.members.insert(e)
                } else {
                    out.children[e] = fieldSet(child, cs)
                }
            }
        case .array(let items):
            let es = s.element ?? .untyped
            for item in items {
                if s.keys.isEmpty {
                    out.members.insert(PathElement.value(of: item))
                } else {
                    let e = s.itemElement(item)
                    out.members.insert(e)
                    if !isLeaf(item, es) { out.children[e] = fieldSet(item, es) }
                }
            }
        default:
            break
        }
        return out
    }

    /// Every node of a value that did not exist before: containers as members too.
    static func addedSet(_ v: JSONValue, _ s: ApplySchema) -> FieldSet {
        var out = FieldSet()
        switch v {
        case .object(let pairs) where !isLeaf(v, s):
            for (k, child) in pairs {
                let e = PathElement.field(k)
                out.members.insert(e)
                let cs = s.child(k)
                if !isLeaf(child, cs) { out.children[e] = addedSet(child, cs) }
            }
        case .array(let items) where !isLeaf(v, s):
            let es = s.element ?? .untyped
            for item in items {
                let e = s.itemElement(item)
                out.members.insert(e)
                if !s.keys.isEmpty && !isLeaf(item, es) { out.children[e] = addedSet(item, es) }
            }
        default:
            break
        }
        return out
    }

    public struct Comparison: Sendable {
        public var added = FieldSet()
        public var modified = FieldSet()
        public var removed = FieldSet()

        public var changed: FieldSet { added.union(modified) }
    }

    /// What changed from `old` to `new`, under one parent (the paths are relative to it).
    public static func compare(_ old: JSONValue?, _ new: JSONValue?, _ s: ApplySchema) -> Comparison {
        var c = Comparison()
        compareChildren(old, new, s, &c)
        return c
    }

    /// Compares the children of two values of the same position.
    static func compareChildren(_ old: JSONValue?, _ new: JSONValue?, _ s: ApplySchema, _ c: inout Comparison) {
        switch (old ?? .null, new ?? .null) {
        case (.object, _), (_, .object):
            let o = pairsOf(old), n = pairsOf(new)
            var seen: Set<String> = []
            for (k, nv) in n {
                seen.insert(k)
                compareNode(.field(k), o.first { $0.key == k }?.value, nv, s.child(k), &c)
            }
            for (k, ov) in o where !seen.contains(k) {
                compareNode(.field(k), ov, nil, s.child(k), &c)
            }
        case (.array, _), (_, .array):
            let o = itemsOf(old), n = itemsOf(new)
            let es = s.element ?? .untyped
            func element(_ item: JSONValue) -> PathElement { s.itemElement(item) }
            var oldByKey: [PathElement: JSONValue] = [:]
            for item in o { oldByKey[element(item)] = item }
            var seen: Set<PathElement> = []
            for item in n {
                let e = element(item)
                seen.insert(e)
                if s.keys.isEmpty {
                    if oldByKey[e] == nil { c.added.members.insert(e) }
                } else {
                    compareNode(e, oldByKey[e], item, es, &c)
                }
            }
            for item in o where !seen.contains(element(item)) {
                let e = element(item)
                c.removed.members.insert(e)
            }
        default:
            break
        }
    }

    /// Compares one child position.
    static func compareNode(
        _ e: PathElement, _ old: JSONValue?, _ new: JSONValue?, _ s: ApplySchema, _ c: inout Comparison
    ) {
        guard let new else {
            if old != nil { c.removed.members.insert(e) }
            return
        }
        guard let old else {
            c.added.members.insert(e)
            if !isLeaf(new, s) {
                let sub = addedSet(new, s)
                if !sub.isEmpty { c.added.children[e] = sub }
            }
            return
        }
        // A null becoming a container of the same kind is no change at this node (Go's nil slices
        // and maps); a leaf (scalar, atomic) changes as a whole.
        let atomic = s.atomic || s.shape == .scalar || (s.shape == .untyped && isArray(new))
        if atomic || !(isContainer(new) || isContainer(old))
            || (isContainer(old) && isContainer(new) && kind(old) != kind(new))
        {
            if old != new { c.modified.members.insert(e) }
            return
        }
        var sub = Comparison()
        compareChildren(old, new, s, &sub)
        if !sub.added.isEmpty { c.added.children[e] = sub.added }
        if !sub.modified.isEmpty { c.modified.children[e] = sub.modified }
        if !sub.removed.isEmpty { c.removed.children[e] = sub.removed }
    }

    static func isContainer(_ v: JSONValue) -> Bool {
        switch v {
        case .object, .array: return true
        default: return false
        }
    }

    static func isArray(_ v: JSONValue) -> Bool {
        if case .array = v { return true }
        return false
    }

    static func kind(_ v: JSONValue) -> Int {
        switch v {
        case .object: return 1
        case .array: return 2
        default: return 0
        }
    }

    static func pairsOf(_ v: JSONValue?) -> [(key: String, value: JSONValue)] {
        if case .object(let p)? = v { return p }
        return []
    }

    static func itemsOf(_ v: JSONValue?) -> [JSONValue] {
        if case .array(let a)? = v { return a }
        return []
    }

    // MARK: Merge and removal

    /// The applied configuration merged into the live value: objects key by key, keyed lists
    /// item by item (live order, new items appended), set lists as unions, the rest replaced.
    public static func merge(_ live: JSONValue?, _ config: JSONValue, _ s: ApplySchema) -> JSONValue {
        guard let live else { return config }
        switch (live, config) {
        case (.object(var lp), .object(let cp)) where !(s.atomic || s.shape == .scalar):
            for (k, cv) in cp {
                if let i = lp.firstIndex(where: { $0.key == k }) {
                    lp[i].value = merge(lp[i].value, cv, s.child(k))
                } else {
                    lp.append((k, cv))
                }
            }
            return .object(lp)
        case (.array(let la), .array(let ca)) where s.shape == .list && !s.atomic:
            let es = s.element ?? .untyped
            if s.keys.isEmpty {
                var out = la
                for v in ca where !out.contains(v) { out.append(v) }
                return .array(out)
            }
            var out = la
            for item in ca {
                let e = s.itemElement(item)
                if let i = out.firstIndex(where: { s.itemElement($0) == e }) {
                    out[i] = merge(out[i], item, es)
                } else {
                    out.append(item)
                }
            }
            return .array(out)
        default:
            return config
        }
    }

    /// The value without the fields of `set` (members removed, children descended into).
    public static func removing(_ set: FieldSet, from v: JSONValue, _ s: ApplySchema) -> JSONValue {
        switch v {
        case .object(let pairs):
            var out: [(key: String, value: JSONValue)] = []
            for (k, child) in pairs {
                let e = PathElement.field(k)
                if set.members.contains(e) { continue }
                if let sub = set.children[e] {
                    out.append((k, removing(sub, from: child, s.child(k))))
                } else {
                    out.append((k, child))
                }
            }
            return .object(out)
        case .array(let items):
            let es = s.element ?? .untyped
            var out: [JSONValue] = []
            for item in items {
                let e = s.itemElement(item)
                if set.members.contains(e) { continue }
                if let sub = set.children[e] { out.append(removing(sub, from: item, es)) } else { out.append(item) }
            }
            return .array(out)
        default:
            return v
        }
    }
}
