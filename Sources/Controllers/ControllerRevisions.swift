import APIApps
import APICore
import APIMachinery
import ControllerRuntime

/// ControllerRevisions of DaemonSets and StatefulSets: one per pod template, named `<owner>-<hash>`,
/// holding the template as a `$patch: replace` patch of `spec.template` (as upstream stores them), with
/// increasing revision numbers.
enum ControllerRevisions {
    static func ensure<Owner: KubeObject>(
        client: KubeClient, store: ObjectStore<AppsV1.ControllerRevision>, owner: Owner,
        template: CoreV1.PodTemplateSpec, hash: String
    ) async throws {
        let name = "\(owner.metadata.name)-\(hash)"
        if store.get(namespace: owner.metadata.namespace, name: name) != nil { return }
        let existing = store.list(namespace: owner.metadata.namespace).filter {
            OwnerRefs.controllerRef($0.metadata)?.uid == owner.metadata.uid
        }
        var t = JSONWriter()
        template.encodeJSON(&t)
        var fields: [(key: String, value: JSONValue)] = []
        if case .object(let f)? = try? JSONValue.parse(t.bytes) { fields = f }
        let data = JSONValue.object([
            (
                key: "spec",
                value: .object([
                    (key: "template", value: .object(fields + [(key: "$patch", value: .string("replace"))]))
                ])
            )
        ])
        var rev = AppsV1.ControllerRevision()
        rev.metadata.name = name
        rev.metadata.namespace = owner.metadata.namespace
        rev.metadata.labels = template.metadata.labels
        rev.metadata.labels["controller-revision-hash"] = hash
        rev.metadata.ownerReferences = [OwnerRefs.controllerReference(to: owner)]
        rev.data = RawExtension(raw: data.jsonBytes)
        rev.revision = (existing.map(\.revision).max() ?? 0) + 1
        do {
            store.upsertIfNewer(try await client.create(rev))
        } catch let e as StatusError where e.isAlreadyExists {}
    }

    /// Upstream's history cleanup: revisions of `owner` that nothing uses (no pod, not the current or
    /// update revision) are deleted, oldest first, down to `limit` of them.
    static func prune<Owner: KubeObject>(
        client: KubeClient, store: ObjectStore<AppsV1.ControllerRevision>, owner: Owner, limit: Int32,
        inUse: Set<String>
    ) async {
        let unused = store.list(namespace: owner.metadata.namespace).filter {
            OwnerRefs.controllerRef($0.metadata)?.uid == owner.metadata.uid && !inUse.contains($0.metadata.name)
        }.sorted { $0.revision < $1.revision }
        for rev in unused.prefix(max(0, unused.count - Int(limit))) {
            try? await client.delete(
                AppsV1.ControllerRevision.self, rev.metadata.name, namespace: owner.metadata.namespace)
        }
    }
}
