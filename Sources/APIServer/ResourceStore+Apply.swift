import APIMachinery
import Foundation
import KubernetesAPI

extension ResourceStore {
    func json(_ obj: T) -> JSONValue { (try? JSONValue.parse(storageCodec.itemJSON(obj))) ?? .object([]) }

    /// Records a create by `ctx`: it owns every field it set.
    func trackCreate(_ obj: inout T, _ ctx: FieldManagerContext) {
        guard let fm = fieldManager else { return }
        obj.metadata.managedFields = fm.update(new: json(obj), old: nil, entries: [], ctx: ctx)
    }

    /// Records an update by `ctx` from `old`: it gains the fields it changed. ManagedFields the
    /// client set itself (different from the stored ones) are taken as given when they are valid.
    ///
    /// As upstream: a request that leaves managedFields out (or sends invalid ones, or writes a
    /// subresource) keeps the stored ones; an object that has none stays untracked until its
    /// first apply.
    func trackUpdate(_ obj: inout T, old: T, _ ctx: FieldManagerContext) {
        guard let fm = fieldManager else { return }
        var entries = ManagedFields.decode(old.metadata.managedFields) ?? []
        if ctx.subresource.isEmpty, !obj.metadata.managedFields.isEmpty,
            obj.metadata.managedFields != old.metadata.managedFields,
            let sent = ManagedFields.decode(obj.metadata.managedFields)
        {
            entries = sent
        } else {
            obj.metadata.managedFields = old.metadata.managedFields
        }
        if old.metadata.managedFields.isEmpty { return }
        obj.metadata.managedFields = fm.update(
            new: json(obj), old: json(old), entries: entries, ctx: ctx)
    }

    /// Server-side apply (`application/apply-patch+yaml`): the body is the manager's whole intent;
    /// merged into the live object (created when missing) with conflicts against other owners.
    func apply(_ req: ResourceRequest) async throws -> HTTPResponse {
        guard let fm = fieldManager else { throw APIError.unsupportedPatch("application/apply-patch+yaml") }
        guard let managerName = req.query["fieldManager"], !managerName.isEmpty else {
            throw APIError.invalid(
                GroupKind(group: "meta.k8s.io", kind: "PatchOptions"), "",
                [.required(FieldPath("fieldManager"), "is required for apply patch")])
        }
        try FieldManagerContext.validate(managerName, options: "PatchOptions")
        let force: Bool
        switch req.query["force"] {
        case nil, "false": force = false
        case "true": force = true
        case let v?: throw APIError.badRequest("invalid value for force: \(v)")
        }
        let codec = self.codec(req.version)
        let gvk = codec.groupVersionKind
        let config: JSONValue
        do {
            config = try JSONValue.parse(try YAML.toJSON(String(decoding: req.body, as: UTF8.self)))
        } catch {
            throw APIError.badRequest("error decoding YAML: \(error)")
        }
        guard case .object = config else {
            throw APIError.badRequest("error decoding YAML: object to apply must be a map")
        }
        let sentVersion = config["apiVersion"]?.stringValue ?? ""
        let sentKind = config["kind"]?.stringValue ?? ""
        if sentVersion != gvk.apiVersion || sentKind != gvk.kind {
            // The body's group/version and kind, as Go prints a GroupVersionKind.
            let gv = sentVersion.contains("/") ? sentVersion : "/" + sentVersion
            throw APIError.badRequest("invalid object type: \(gv), Kind=\(sentKind)")
        }
        if let n = config["metadata"]?["name"]?.stringValue, n != req.name {
            throw APIError.badRequest(
                "the name of the object (\(n)) does not match the name on the URL (\(req.name))")
        }
        if let mf = config["metadata"]?["managedFields"], mf != .null {
            throw APIError.badRequest("metadata.managedFields must be nil")
        }
        let ctx = FieldManagerContext(manager: managerName, apiVersion: req.version, subresource: req.subresource)
        let wantedRV = config["metadata"]?["resourceVersion"]?.stringValue ?? ""
        let gr = groupResource
        let name = req.name
        let result = try await updateObject(
            namespace: req.namespace, name: req.name, subresource: req.subresource, dryRun: req.isDryRun,
            createIfMissing: true
        ) { old in
            let exists = !old.metadata.uid.isEmpty
            var live: JSONValue? = nil
            if exists {
                let inVersion = try await self.converted(
                    [CachedObject(key: "", object: old, revision: 0, fieldSet: [:])], req.version)[0].object
                live = try JSONValue.parse(codec.objectJSON(inVersion))
            }
            var entries = exists ? (ManagedFields.decode(old.metadata.managedFields) ?? []) : []
            let strippedLive = live.map { fm.stripped($0, subresource: ctx.subresource) }
            if exists && old.metadata.managedFields.isEmpty, let strippedLive {
                // An untracked object's fields belong to someone: its first apply may conflict.
                entries = [
                    ManagedFields.Entry(
                        manager: "before-first-apply", operation: "Update", apiVersion: ctx.apiVersion,
                        time: Time(seconds: Int64(Date().timeIntervalSince1970)), subresource: ctx.subresource,
                        set: StructuredMerge.fieldSet(strippedLive, fm.schema))
                ]
            }
            let strippedConfig = fm.stripped(config, subresource: ctx.subresource)
            let outcome: (object: JSONValue, entries: [ManagedFields.Entry])
            func run(force: Bool) throws(ManagedFields.Conflicts) -> (object: JSONValue, entries: [ManagedFields.Entry])
            {
                try ManagedFields.apply(
                    entries, live: strippedLive, config: strippedConfig, schema: fm.schema, manager: ctx.manager,
                    apiVersion: ctx.apiVersion, subresource: ctx.subresource, force: force,
                    now: Time(seconds: Int64(Date().timeIntervalSince1970)))
            }
            do {
                outcome = try run(force: force)
            } catch let c as ManagedFields.Conflicts {
                // kubectl moving from client-side apply: conflicts on fields its last-applied
                // annotation still says it set are its own (upstream's last-applied manager).
                let remaining =
                    ctx.manager == "kubectl" ? fm.conflictsOutsideLastApplied(c, live: live, gv: gvk.apiVersion) : c
                if !remaining.conflicts.isEmpty { throw FieldManager.conflictError(remaining, gr, name) }
                do { outcome = try run(force: true) } catch let again as ManagedFields.Conflicts {
                    throw FieldManager.conflictError(again, gr, name)
                }
            }
            // What ownership leaves out comes back from the live object (identity, system
            // metadata, the part another endpoint writes), or from the request on create.
            var full = Self.restoring(
                outcome.object, from: live ?? config,
                ignored: fm.ignored(subresource: ctx.subresource, object: live ?? config))
            full = JSONSurgery.setting(full, path: ["apiVersion"], to: .string(gvk.apiVersion))
            full = JSONSurgery.setting(full, path: ["kind"], to: .string(gvk.kind))
            full = JSONSurgery.setting(full, path: ["metadata", "name"], to: .string(name))
            let decoded: DecodedBody<T>
            do {
                decoded = try codec.fromJSONValue(full.jsonBytes, false)
            } catch BodyDecodingError.malformed(let m) {
                throw APIError.badRequest(m)
            }
            var obj = try await self.toStorage(decoded.object)
            if self.resource.namespaced { obj.metadata.namespace = req.namespace }
            // kubectl's annotation follows what it applied, when the object has one.
            if ctx.manager == "kubectl", let last = obj.metadata.annotations[FieldManager.lastAppliedKey],
                !last.isEmpty
            {
                obj.metadata.annotations[FieldManager.lastAppliedKey] = FieldManager.lastApplied(config)
            }
            obj.metadata.managedFields = ManagedFields.encode(FieldManager.sanitized(outcome.entries))
            obj.metadata.resourceVersion = exists ? wantedRV : ""
            return obj
        }
        return try await respond(result.object, req, status: result.created ? .created : .ok)
    }

    /// `merged` with the ignored paths taken from `source`.
    static func restoring(_ merged: JSONValue, from source: JSONValue, ignored: FieldSet) -> JSONValue {
        guard case .object(var pairs) = merged, case .object(let src) = source else { return merged }
        for (k, v) in src {
            let e = PathElement.field(k)
            if ignored.members.contains(e) {
                if let i = pairs.firstIndex(where: { $0.key == k }) { pairs[i].value = v } else { pairs.append((k, v)) }
            } else if let sub = ignored.children[e] {
                if let i = pairs.firstIndex(where: { $0.key == k }) {
                    pairs[i].value = restoring(pairs[i].value, from: v, ignored: sub)
                } else {
                    pairs.append((k, restoring(.object([]), from: v, ignored: sub)))
                }
            }
        }
        return .object(pairs)
    }
}
