import APIMachinery
import Foundation
import KubernetesAPI

/// Who writes, for field ownership: the request's `fieldManager`, or the client's user agent.
struct FieldManagerContext: Sendable {
    var manager: String
    /// The apiVersion the client wrote in (`apps/v1`).
    var apiVersion: String
    var subresource: String

    init(manager: String, apiVersion: String, subresource: String) {
        self.manager = manager
        self.apiVersion = apiVersion
        self.subresource = subresource
    }

    /// From a request: `fieldManager`, else the user agent up to its first `/` (printable
    /// characters, at most 128 bytes), else "unknown".
    init(_ req: ResourceRequest) throws {
        if let m = req.query["fieldManager"], !m.isEmpty {
            try Self.validate(m, options: Self.optionsKind(req))
            manager = m
        } else {
            let agent = req.request.headers.first(name: "user-agent") ?? ""
            var prefix = ""
            for c in agent.unicodeScalars {
                if c == "/" { break }
                if !Self.isPrintable(c) { continue }
                if prefix.utf8.count + String(c).utf8.count > 128 { break }
                prefix.unicodeScalars.append(c)
            }
            manager = prefix.isEmpty ? "unknown" : prefix
        }
        apiVersion = req.version
        subresource = req.subresource
    }

    static func optionsKind(_ req: ResourceRequest) -> String {
        switch req.verb {
        case .create: return "CreateOptions"
        case .update: return "UpdateOptions"
        default: return "PatchOptions"
        }
    }

    static func isPrintable(_ c: Unicode.Scalar) -> Bool {
        switch c.properties.generalCategory {
        case .control, .format, .surrogate, .privateUse, .unassigned, .lineSeparator, .paragraphSeparator:
            return false
        case .spaceSeparator: return c == " "
        default: return true
        }
    }

    /// Upstream's `ValidateFieldManager`: at most 128 bytes of printable characters.
    static func validate(_ m: String, options: String) throws {
        var errs: ErrorList = []
        if m.utf8.count > 128 {
            errs.append(.tooLong(FieldPath("fieldManager"), 128))
        } else {
            var position = 0
            for c in m.unicodeScalars {
                if !isPrintable(c) {
                    let code = String(c.value, radix: 16, uppercase: true)
                    let padded = String(repeating: "0", count: max(0, 4 - code.count)) + code
                    errs.append(
                        .invalid(
                            FieldPath("fieldManager"), m,
                            "invalid character U+\(padded) (at position \(position))"))
                    break
                }
                position += String(c).utf8.count
            }
        }
        if !errs.isEmpty { throw APIError.invalid(GroupKind(group: "meta.k8s.io", kind: options), "", errs) }
    }
}

/// Field ownership of writes to one resource: the paths the server owns (identity, system
/// metadata) are left out, as is the part of the object the endpoint does not write (status on
/// the main resource, everything but status on `/status`).
struct FieldManager: Sendable {
    let schema: ApplySchema
    let hasStatus: Bool
    /// The kind's zero-valued object (what a create is compared with, as upstream compares with
    /// the zero value: Go's non-optional fields present as empty or null), built once per store.
    let zero: JSONValue

    static let systemMetadata = [
        "name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp", "selfLink", "managedFields",
        "deletionTimestamp", "deletionGracePeriodSeconds",
    ]

    /// The paths no manager owns through this endpoint.
    func ignored(subresource: String, object: JSONValue) -> FieldSet {
        var s = FieldSet()
        s.members.insert(.field("apiVersion"))
        s.members.insert(.field("kind"))
        var meta = FieldSet()
        for f in Self.systemMetadata { meta.members.insert(.field(f)) }
        s.children[.field("metadata")] = meta
        if subresource == "status" {
            if case .object(let pairs) = object {
                for (k, _) in pairs where k != "status" && k != "metadata" { s.members.insert(.field(k)) }
            }
        } else if hasStatus {
            s.members.insert(.field("status"))
        }
        return s
    }

    /// The value without the ignored paths.
    func stripped(_ v: JSONValue, subresource: String) -> JSONValue {
        StructuredMerge.removing(ignored(subresource: subresource, object: v), from: v, schema)
    }

    /// Entries as stored: metadata itself is never owned (only fields in it), and entries left
    /// with nothing are dropped.
    static func sanitized(_ entries: [ManagedFields.Entry]) -> [ManagedFields.Entry] {
        entries.compactMap { e in
            var e = e
            e.set.members.remove(.field("metadata"))
            return e.set.isEmpty ? nil : e
        }
    }

    /// Records an update (create, update, non-apply patch) from `old` (nil on create) to `new`.
    func update(new: JSONValue, old: JSONValue?, entries: [ManagedFields.Entry], ctx: FieldManagerContext)
        -> [MetaV1.ManagedFieldsEntry]
    {
        let o = stripped(old ?? zero, subresource: ctx.subresource)
        let n = stripped(new, subresource: ctx.subresource)
        let out = ManagedFields.update(
            entries, old: o, new: n, schema: schema, manager: ctx.manager, apiVersion: ctx.apiVersion,
            subresource: ctx.subresource, now: Time(seconds: Int64(Date().timeIntervalSince1970)))
        return ManagedFields.encode(Self.sanitized(out))
    }

    static let lastAppliedKey = "kubectl.kubernetes.io/last-applied-configuration"

    /// The conflicts of an apply by `kubectl` that its last-applied annotation does not cover:
    /// fields the annotation sets to the value they have now were kubectl's own (client-side).
    func conflictsOutsideLastApplied(_ c: ManagedFields.Conflicts, live: JSONValue?, gv: String)
        -> ManagedFields.Conflicts
    {
        guard let live, let text = live["metadata"]?["annotations"]?[Self.lastAppliedKey]?.stringValue,
            let last = try? JSONValue.parse(Array(text.utf8)), last["apiVersion"]?.stringValue == gv
        else { return c }
        let strippedLast = stripped(last, subresource: "")
        let strippedLive = stripped(live, subresource: "")
        let differing = StructuredMerge.compare(strippedLast, strippedLive, schema)
        let allowed = StructuredMerge.fieldSet(strippedLast, schema).subtracting(differing.changed)
            .subtracting(differing.removed)
        var out = c
        out.conflicts = c.conflicts.filter { !allowed.contains($0.path[...]) }
        return out
    }

    /// The last-applied annotation's value for an applied configuration: compact JSON with sorted
    /// keys (as Go encodes a map), the annotation itself left out, and a newline.
    static func lastApplied(_ config: JSONValue) -> String {
        var c = config
        if case .object(var pairs) = c, let i = pairs.firstIndex(where: { $0.key == "metadata" }),
            case .object(var meta) = pairs[i].value, let j = meta.firstIndex(where: { $0.key == "annotations" }),
            case .object(var ann) = meta[j].value
        {
            ann.removeAll { $0.key == lastAppliedKey }
            if ann.isEmpty { meta.remove(at: j) } else { meta[j].value = .object(ann) }
            pairs[i].value = .object(meta)
            c = .object(pairs)
        }
        return String(decoding: sortedKeys(c).jsonBytes, as: UTF8.self) + "\n"
    }

    static func sortedKeys(_ v: JSONValue) -> JSONValue {
        switch v {
        case .object(let pairs):
            return .object(pairs.sorted { $0.key < $1.key }.map { ($0.key, sortedKeys($0.value)) })
        case .array(let a): return .array(a.map(sortedKeys))
        default: return v
        }
    }

    /// The 409 of an apply that conflicts with other managers.
    static func conflictError(_ c: ManagedFields.Conflicts, _ gr: GroupResource, _ name: String) -> APIError {
        var details = MetaV1.StatusDetails()
        details.causes = c.conflicts.map {
            MetaV1.StatusCause(
                reason: "FieldManagerConflict", message: "conflict with \($0.printedManager)",
                field: FieldSet.printed($0.path))
        }
        return APIError(code: 409, reason: "Conflict", message: c.message, details: details)
    }
}
