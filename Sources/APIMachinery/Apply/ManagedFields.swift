/// Field ownership (`metadata.managedFields`) as upstream's field manager keeps it: every write
/// records which manager set which fields; an update takes the fields it changed from everyone
/// else; an apply owns exactly what it applied, conflicts with other owners of a value it
/// changes (unless forced), and removes what it applied before and no longer applies when no one
/// else owns it.
public enum ManagedFields {
    public struct Entry: Equatable, Sendable {
        public var manager: String
        public var operation: String
        public var apiVersion: String
        public var time: Time?
        public var subresource: String
        public var set: FieldSet

        public init(
            manager: String, operation: String, apiVersion: String, time: Time?, subresource: String, set: FieldSet
        ) {
            self.manager = manager
            self.operation = operation
            self.apiVersion = apiVersion
            self.time = time
            self.subresource = subresource
            self.set = set
        }

        /// Whether this entry is the one a write by (manager, operation) records into: Update
        /// entries are per API version, an Apply entry per manager.
        func isSlot(manager m: String, operation op: String, apiVersion v: String, subresource sub: String) -> Bool {
            manager == m && operation == op && subresource == sub && (op == "Apply" || apiVersion == v)
        }
    }

    /// A conflict of an apply: another manager owns a field whose value the apply changes.
    public struct Conflict: Equatable, Sendable {
        public var manager: String
        public var operation: String
        public var apiVersion: String
        public var subresource: String
        public var path: [PathElement]

        /// As upstream prints a manager: `"m"` for an apply, `"m" using apps/v1` for an update,
        /// `"m" with subresource "status" using apps/v1` on a subresource.
        public var printedManager: String {
            var s = "\"\(manager)\""
            if !subresource.isEmpty { s += " with subresource \"\(subresource)\"" }
            if operation == "Update" { s += " using \(apiVersion)" }
            return s
        }

        var identity: String { "\(manager)\u{0}\(operation)\u{0}\(apiVersion)\u{0}\(subresource)" }
    }

    public struct Conflicts: Error, Sendable {
        public var conflicts: [Conflict]

        /// Upstream's message: `Apply failed with 1 conflict: conflict with "m" using v1: .data.a`.
        public var message: String {
            let n = conflicts.count
            let out = "Apply failed with \(n) conflict\(n == 1 ? "" : "s"): "
            if n == 1, let c = conflicts.first {
                return out + "conflict with \(c.printedManager): \(FieldSet.printed(c.path))"
            }
            var groups: [(identity: String, printed: String, paths: [String])] = []
            for c in conflicts {
                if let i = groups.firstIndex(where: { $0.identity == c.identity }) {
                    groups[i].paths.append(FieldSet.printed(c.path))
                } else {
                    groups.append((c.identity, c.printedManager, [FieldSet.printed(c.path)]))
                }
            }
            return out
                + groups.sorted { $0.identity < $1.identity }.map { g in
                    "conflicts with \(g.printed):\n" + g.paths.map { "- " + $0 }.joined(separator: "\n")
                }.joined(separator: "\n")
        }
    }

    // MARK: Wire form

    public static func decode(_ wire: [MetaV1.ManagedFieldsEntry]) -> [Entry]? {
        var out: [Entry] = []
        for e in wire {
            var set = FieldSet()
            if let raw = e.fieldsV1?.raw, !raw.isEmpty {
                guard let v = try? JSONValue.parse(raw), let s = FieldSet(fieldsV1: v) else { return nil }
                set = s
            }
            out.append(
                Entry(
                    manager: e.manager, operation: e.operation, apiVersion: e.apiVersion, time: e.time,
                    subresource: e.subresource, set: set))
        }
        return out
    }

    public static func encode(_ entries: [Entry]) -> [MetaV1.ManagedFieldsEntry] {
        sorted(entries).map { e in
            MetaV1.ManagedFieldsEntry(
                manager: e.manager, operation: e.operation, apiVersion: e.apiVersion, time: e.time,
                fieldsType: "FieldsV1", fieldsV1: FieldsV1(raw: e.set.fieldsV1.jsonBytes), subresource: e.subresource)
        }
    }

    /// Upstream's order: Apply entries first, then by time (seconds), manager, apiVersion,
    /// subresource.
    static func sorted(_ entries: [Entry]) -> [Entry] {
        entries.sorted { a, b in
            if a.operation != b.operation { return a.operation < b.operation }
            let ta = a.time?.seconds ?? 0, tb = b.time?.seconds ?? 0
            if ta != tb { return ta < tb }
            if a.manager != b.manager { return a.manager < b.manager }
            if a.apiVersion != b.apiVersion { return a.apiVersion < b.apiVersion }
            return a.subresource < b.subresource
        }
    }

    /// At most this many Update entries are kept; older ones merge into `ancient-changes`.
    public static let maxUpdateManagers = 10

    /// Merges the oldest Update entries into one `ancient-changes` entry per apiVersion until at
    /// most `maxUpdateManagers` remain (upstream's cap).
    static func capped(_ entries: [Entry]) -> [Entry] {
        var updates = entries.filter { $0.operation == "Update" }
        guard updates.count > maxUpdateManagers else { return entries }
        let others = entries.filter { $0.operation != "Update" }
        updates.sort { a, b in
            let ta = a.time?.seconds ?? 0, tb = b.time?.seconds ?? 0
            if ta != tb { return ta < tb }
            return (a.manager, a.apiVersion, a.subresource) < (b.manager, b.apiVersion, b.subresource)
        }
        while updates.count > maxUpdateManagers {
            // The oldest entry is merged into its version's bucket (created from the oldest of that
            // version when there is none yet).
            guard let first = updates.indices.first(where: { updates[$0].manager != "ancient-changes" }) else { break }
            let victim = updates.remove(at: first)
            if let b = updates.firstIndex(where: {
                $0.manager == "ancient-changes" && $0.apiVersion == victim.apiVersion
            }) {
                updates[b].set = updates[b].set.union(victim.set)
                updates[b].time = victim.time
            } else if let next = updates.firstIndex(where: {
                $0.manager != "ancient-changes" && $0.apiVersion == victim.apiVersion
            }) {
                var bucket = victim
                bucket.manager = "ancient-changes"
                bucket.subresource = ""
                bucket.set = victim.set.union(updates[next].set)
                bucket.time = updates[next].time
                updates.remove(at: next)
                updates.insert(bucket, at: 0)
            } else {
                var bucket = victim
                bucket.manager = "ancient-changes"
                bucket.subresource = ""
                updates.insert(bucket, at: 0)
            }
        }
        return others + updates
    }

    /// What may really be removed: a node still in use below (by the configuration or another
    /// manager) stays, only its dropped descendants go.
    static func prunable(_ dropped: FieldSet, keeping keep: FieldSet) -> FieldSet {
        var out = FieldSet()
        for m in dropped.members {
            if let sub = keep.children[m], !sub.isEmpty { continue }
            out.members.insert(m)
        }
        for (e, sub) in dropped.children {
            let p = prunable(sub, keeping: keep.children[e] ?? FieldSet())
            if !p.isEmpty { out.children[e] = p }
        }
        return out
    }

    // MARK: Operations

    /// An update (create, update, non-apply patch) by `manager`: it gains the fields that
    /// changed, everyone else loses them; removed fields leave every set.
    public static func update(
        _ entries: [Entry], old: JSONValue, new: JSONValue, schema: ApplySchema, manager: String, apiVersion: String,
        subresource: String, now: Time
    ) -> [Entry] {
        let c = StructuredMerge.compare(old, new, schema)
        let changed = c.changed
        var out: [Entry] = []
        var mine: Entry? = nil
        for var e in entries {
            if e.isSlot(manager: manager, operation: "Update", apiVersion: apiVersion, subresource: subresource) {
                mine = e
                continue
            }
            e.set = e.set.subtracting(changed).subtracting(c.removed)
            if !e.set.isEmpty { out.append(e) }
        }
        var m =
            mine
            ?? Entry(
                manager: manager, operation: "Update", apiVersion: apiVersion, time: now, subresource: subresource,
                set: FieldSet())
        m.set = m.set.union(changed).subtracting(c.removed)
        if !changed.isEmpty { m.time = now }
        if !m.set.isEmpty { out.append(m) }
        return capped(out)
    }

    /// An apply of `config` by `manager` to `live` (nil: the object does not exist yet). Returns
    /// the new object and ownership, or the conflicts when not forced.
    public static func apply(
        _ entries: [Entry], live: JSONValue?, config: JSONValue, schema: ApplySchema, manager: String,
        apiVersion: String, subresource: String, force: Bool, now: Time
    ) throws(Conflicts) -> (object: JSONValue, entries: [Entry]) {
        let configSet = StructuredMerge.fieldSet(config, schema)
        let merged = StructuredMerge.merge(live, config, schema)
        let c = StructuredMerge.compare(live, merged, schema)
        let changed = c.changed
        var conflicts: [Conflict] = []
        var previous = FieldSet()
        var others: [Entry] = []
        for e in entries {
            if e.isSlot(manager: manager, operation: "Apply", apiVersion: apiVersion, subresource: subresource) {
                previous = e.set
                continue
            }
            // A manager's own Update fields do not conflict with its apply.
            if e.manager != manager || e.subresource != subresource {
                for p in e.set.intersection(changed).paths {
                    conflicts.append(
                        Conflict(
                            manager: e.manager, operation: e.operation, apiVersion: e.apiVersion,
                            subresource: e.subresource, path: p))
                }
            }
            others.append(e)
        }
        if !conflicts.isEmpty && !force { throw Conflicts(conflicts: conflicts) }
        // Fields this manager applied before and no longer applies go, unless another owns them.
        var othersUnion = FieldSet()
        for i in others.indices {
            if force || others[i].manager == manager {
                others[i].set = others[i].set.subtracting(changed)
            }
            othersUnion = othersUnion.union(others[i].set)
        }
        let dropped = Self.prunable(
            previous.subtracting(configSet).subtracting(othersUnion), keeping: configSet.union(othersUnion))
        let object = dropped.isEmpty ? merged : StructuredMerge.removing(dropped, from: merged, schema)
        var out: [Entry] = []
        for var e in others {
            e.set = e.set.subtracting(c.removed).subtracting(dropped)
            if !e.set.isEmpty { out.append(e) }
        }
        // The time moves only when the apply changed the object.
        let previousTime = entries.first {
            $0.isSlot(manager: manager, operation: "Apply", apiVersion: apiVersion, subresource: subresource)
        }?.time
        let unchanged = live != nil && object == live
        let mine = Entry(
            manager: manager, operation: "Apply", apiVersion: apiVersion, time: unchanged ? previousTime : now,
            subresource: subresource, set: configSet)
        if !mine.set.isEmpty { out.append(mine) }
        return (object, out)
    }
}
