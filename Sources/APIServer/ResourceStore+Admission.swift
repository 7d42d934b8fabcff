import APIMachinery
import Foundation
import KubernetesAPI

extension ResourceStore {
    /// The request scope when the current task serves a client's write to this resource (and
    /// not to one of the subresources whose object is another kind).
    var admissionScope: RequestScope? {
        guard let s = RequestScope.current, s.groupResource == groupResource, s.subresource != "scale",
            s.subresource != "binding"
        else { return nil }
        return s
    }

    /// The configuration dynamic admission applies to a write in the current request, nil when
    /// there is none (the server's own writes, or no webhooks and policies).
    func admissionConfig() -> (RequestScope, AdmissionControl.Configuration)? {
        guard let scope = admissionScope else { return nil }
        let config = server.admission.configuration
        guard config.mutates || config.validates else { return nil }
        return (scope, config)
    }

    /// An object in a version's JSON (through the conversion webhook when the kind has one).
    func admissionJSON(_ obj: T, _ apiVersion: String) async throws -> JSONValue {
        let inVersion = try await converted(
            [CachedObject(key: "", object: obj, revision: 0, fieldSet: [:])], apiVersion)
        return try JSONValue.parse(codec(apiVersion).objectJSON(inVersion[0].object))
    }

    func decodeAdmitted(_ json: JSONValue, _ apiVersion: String) async throws -> T {
        let d: DecodedBody<T>
        do {
            d = try codec(apiVersion).fromJSONValue(json.jsonBytes, false)
        } catch {
            throw APIError.internalError("the object a mutating admission returned does not decode: \(error)")
        }
        return try await toStorage(d.object)
    }

    func apiVersion(_ version: String) -> String {
        resource.group.isEmpty ? version : "\(resource.group)/\(version)"
    }

    func admissionAttributes(
        _ operation: String, _ scope: RequestScope, object: T?, old: T?, dryRun: Bool
    ) async throws -> AdmissionAttributes {
        let apiVersion = scope.apiVersion
        let codec = self.codec(apiVersion)
        let gvk = codec.groupVersionKind
        var versions = [(gvk.version, gvk.kind)]
        for c in codecs.values.sorted(by: { $0.groupVersionKind.version < $1.groupVersionKind.version })
        where c.groupVersionKind.version != gvk.version {
            versions.append((c.groupVersionKind.version, c.groupVersionKind.kind))
        }
        let name = object?.metadata.name ?? old?.metadata.name ?? ""
        let namespace = resource.namespaced ? (object?.metadata.namespace ?? old?.metadata.namespace ?? "") : ""
        var options: [(key: String, value: JSONValue)] = [
            (
                "kind",
                .string(
                    operation == "DELETE" ? "DeleteOptions" : operation == "UPDATE" ? "UpdateOptions" : "CreateOptions")
            ),
            ("apiVersion", .string("meta.k8s.io/v1")),
        ]
        if dryRun { options.append(("dryRun", .array([.string("All")]))) }
        if !scope.fieldManager.isEmpty && operation != "DELETE" {
            options.append(("fieldManager", .string(scope.fieldManager)))
        }
        var (namespaceLabels, namespaceObject) = namespaceContext(namespace)
        if groupResource == GroupResource(group: "", resource: "namespaces") {
            namespaceLabels = (object ?? old)?.metadata.labels ?? [:]
        }
        let store = self
        let server = self.server
        return AdmissionAttributes(
            operation: operation, group: resource.group, version: gvk.version, resource: resource.resource,
            subresource: scope.subresource, kind: gvk.kind, name: name, namespace: namespace, user: scope.user,
            dryRun: dryRun, options: .object(options),
            object: object == nil ? nil : try await admissionJSON(object!, apiVersion),
            oldObject: old == nil ? nil : try await admissionJSON(old!, apiVersion),
            versions: versions,
            convert: { json, from, to in
                let obj = try await store.decodeAdmitted(json, store.apiVersion(from))
                return try await store.admissionJSON(obj, store.apiVersion(to))
            },
            namespaceLabels: namespaceLabels, namespaceObject: namespaceObject,
            lookup: { apiVersion, kind, _ in server.paramSource(apiVersion: apiVersion, kind: kind) })
    }

    /// The labels and JSON of a namespaced request's namespace (nil for cluster-scoped resources).
    func namespaceContext(_ namespace: String) -> ([String: String]?, JSONValue?) {
        guard resource.namespaced else { return (nil, nil) }
        let ns = server.namespaces.current("", namespace)?.object
        return (
            ns?.metadata.labels ?? [:],
            ns.flatMap { try? JSONValue.parse(server.namespaces.storageCodec.objectJSON($0)) }
        )
    }

    /// Dynamic admission of a write to the `scale` subresource: the chain sees autoscaling/v1
    /// Scale objects (new and old) under the parent resource, as upstream's does; `scale` is what
    /// mutating admission left.
    func admitScale(_ scale: inout JSONValue, old: JSONValue, dryRun: Bool) async throws {
        guard let scope = RequestScope.current, scope.groupResource == groupResource, scope.subresource == "scale"
        else { return }
        let config = server.admission.configuration
        guard config.mutates || config.validates else { return }
        let version = codec(scope.apiVersion).groupVersionKind.version
        let name = old["metadata"]?["name"]?.stringValue ?? ""
        let namespace = resource.namespaced ? (old["metadata"]?["namespace"]?.stringValue ?? "") : ""
        let (labels, nsObject) = namespaceContext(namespace)
        let server = self.server
        var options: [(key: String, value: JSONValue)] = [
            ("kind", .string("UpdateOptions")), ("apiVersion", .string("meta.k8s.io/v1")),
        ]
        if dryRun { options.append(("dryRun", .array([.string("All")]))) }
        var a = AdmissionAttributes(
            operation: "UPDATE", group: resource.group, version: version, resource: resource.resource,
            subresource: "scale", kind: "Scale", kindGroupVersion: ("autoscaling", "v1"), name: name,
            namespace: namespace, user: scope.user, dryRun: dryRun, options: .object(options), object: scale,
            oldObject: old, versions: [(version, "Scale")], convert: { json, _, _ in json },
            namespaceLabels: labels, namespaceObject: nsObject,
            lookup: { apiVersion, kind, _ in server.paramSource(apiVersion: apiVersion, kind: kind) })
        if config.mutates, let mutated = try await server.admission.mutate(a, config, scope: scope) {
            scale = mutated
            a.object = mutated
        }
        if config.validates { try await server.admission.validate(a, config, scope: scope) }
    }

    /// Mutating admission of a create or update: the object as the chain left it.
    func admitMutating(_ obj: inout T, old: T?, _ operation: String, dryRun: Bool) async throws {
        guard let (scope, config) = admissionConfig(), config.mutates else { return }
        let a = try await admissionAttributes(operation, scope, object: obj, old: old, dryRun: dryRun)
        guard let changed = try await server.admission.mutate(a, config, scope: scope) else { return }
        var mutated = try await decodeAdmitted(changed, scope.apiVersion)
        mutated.metadata.resourceVersion = obj.metadata.resourceVersion
        obj = mutated
    }

    /// Validating admission of a create, update or delete.
    func admitValidating(_ obj: T?, old: T?, _ operation: String, dryRun: Bool) async throws {
        guard let (scope, config) = admissionConfig(), config.validates else { return }
        let a = try await admissionAttributes(operation, scope, object: obj, old: old, dryRun: dryRun)
        try await server.admission.validate(a, config, scope: scope)
    }

    /// Objects of this resource in a version's JSON, from the cache (policy parameters).
    func cachedJSON(apiVersion: String, namespace: String, name: String?, selector: MetaV1.LabelSelector?)
        -> [JSONValue]
    {
        let c = codec(apiVersion)
        let items: [T]
        if let name {
            items = current(resource.namespaced ? namespace : "", name).map { [$0.object] } ?? []
        } else {
            items = cache.snapshot(.everything).items.map(\.object).filter {
                (!resource.namespaced || namespace.isEmpty || $0.metadata.namespace == namespace)
                    && (selector?.matches($0.metadata.labels) ?? true)
            }
        }
        return items.compactMap { try? JSONValue.parse(c.objectJSON($0)) }
    }
}

extension ServerContext {
    /// Where a policy's parameters of `kind` come from, nil when no served resource has the kind.
    func paramSource(apiVersion: String, kind: String) -> AdmissionParamSource? {
        let group = apiVersion.contains("/") ? String(apiVersion.split(separator: "/")[0]) : ""
        var handler = stores.values.first { $0.resource.group == group && $0.resource.kind == kind }
        if handler == nil,
            let crd = customResources.servedCRDs.first(where: {
                $0.spec.group == group && $0.spec.names.kind == kind
            })
        {
            handler = customResources.handler(GroupResource(group: group, resource: crd.spec.names.plural))
        }
        guard let handler else { return nil }
        return AdmissionParamSource(
            namespaced: handler.resource.namespaced,
            get: { ns, name in
                handler.cachedJSON(apiVersion: apiVersion, namespace: ns, name: name, selector: nil).first
            },
            list: { ns, sel in handler.cachedJSON(apiVersion: apiVersion, namespace: ns, name: nil, selector: sel) })
    }
}
