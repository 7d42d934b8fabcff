import APIMachinery

/// A resource as discovery lists it.
public struct DiscoveredResource: Sendable, Hashable {
    public var group: String
    public var version: String
    public var resource: String
    public var kind: String
    public var namespaced: Bool
    public var verbs: [String]

    public var groupVersionResource: GroupVersionResource {
        GroupVersionResource(group: group, version: version, resource: resource)
    }
}

/// Discovery and untyped access to any resource, custom resources included, as JSON values.
extension KubeClient {
    /// Every top-level resource (no subresources) of every served group-version, from the legacy
    /// discovery documents; `preferredOnly` keeps each group's preferred version only.
    public func discoverResources(preferredOnly: Bool = false) async throws -> [DiscoveredResource] {
        var groupVersions: [(group: String, version: String)] = []
        let core = try JSONValue.parse(try await checked(KubeRequest(path: "/api")).body)
        for v in core["versions"]?.arrayValue ?? [] {
            if let s = v.stringValue { groupVersions.append(("", s)) }
            if preferredOnly { break }
        }
        let groups = try JSONValue.parse(try await checked(KubeRequest(path: "/apis")).body)
        for g in groups["groups"]?.arrayValue ?? [] {
            guard let name = g["name"]?.stringValue else { continue }
            if preferredOnly, let v = g["preferredVersion"]?["version"]?.stringValue {
                groupVersions.append((name, v))
                continue
            }
            for v in g["versions"]?.arrayValue ?? [] {
                if let s = v["version"]?.stringValue { groupVersions.append((name, s)) }
            }
        }
        var out: [DiscoveredResource] = []
        for gv in groupVersions {
            let p = gv.group.isEmpty ? "/api/\(gv.version)" : "/apis/\(gv.group)/\(gv.version)"
            let resp = try await send(KubeRequest(path: p))
            // A group-version that went away between the two reads is skipped, as upstream's discovery does.
            guard resp.status == 200 else { continue }
            let list = try JSONValue.parse(resp.body)
            for r in list["resources"]?.arrayValue ?? [] {
                guard let name = r["name"]?.stringValue, !name.contains("/") else { continue }
                out.append(
                    DiscoveredResource(
                        group: gv.group, version: gv.version, resource: name, kind: r["kind"]?.stringValue ?? "",
                        namespaced: r["namespaced"]?.boolValue ?? false,
                        verbs: (r["verbs"]?.arrayValue ?? []).compactMap(\.stringValue)))
            }
        }
        return out
    }

    func dynamicPath(
        _ r: GroupVersionResource, namespaced: Bool, namespace: String?, name: String? = nil,
        subresource: String? = nil
    ) -> String {
        Self.path(
            group: r.group, version: r.version, resource: r.resource, namespaced: namespaced, namespace: namespace,
            name: name, subresource: subresource)
    }

    /// Lists any resource as JSON (`items` of the list), every page.
    public func listDynamic(
        _ r: GroupVersionResource, namespaced: Bool, namespace: String? = nil, options: ListOptions = ListOptions()
    ) async throws -> (items: [JSONValue], resourceVersion: String) {
        var opts = options
        opts.limit = opts.limit ?? 500
        var items: [JSONValue] = []
        while true {
            let resp = try await checked(
                KubeRequest(
                    path: dynamicPath(r, namespaced: namespaced, namespace: namespace), query: opts.query,
                    headers: [("Accept", "application/json")]))
            let list = try JSONValue.parse(resp.body)
            items += list["items"]?.arrayValue ?? []
            let cont = list["metadata"]?["continue"]?.stringValue ?? ""
            if cont.isEmpty { return (items, list["metadata"]?["resourceVersion"]?.stringValue ?? "") }
            opts.continueToken = cont
            opts.resourceVersion = nil
        }
    }

    public func getDynamic(_ r: GroupVersionResource, namespaced: Bool, namespace: String?, name: String) async throws
        -> JSONValue
    {
        let resp = try await checked(
            KubeRequest(
                path: dynamicPath(r, namespaced: namespaced, namespace: namespace, name: name),
                headers: [("Accept", "application/json")]))
        return try JSONValue.parse(resp.body)
    }

    public func createDynamic(_ r: GroupVersionResource, namespaced: Bool, namespace: String?, object: JSONValue)
        async throws -> JSONValue
    {
        let resp = try await checked(
            KubeRequest(
                method: "POST", path: dynamicPath(r, namespaced: namespaced, namespace: namespace),
                headers: [("Accept", "application/json"), ("Content-Type", "application/json")], body: object.jsonBytes)
        )
        return try JSONValue.parse(resp.body)
    }

    public func patchDynamic(
        _ r: GroupVersionResource, namespaced: Bool, namespace: String?, name: String, type: PatchType, body: [UInt8],
        subresource: String? = nil
    ) async throws -> JSONValue {
        let resp = try await checked(
            KubeRequest(
                method: "PATCH",
                path: dynamicPath(
                    r, namespaced: namespaced, namespace: namespace, name: name, subresource: subresource),
                headers: [("Accept", "application/json"), ("Content-Type", type.rawValue)], body: body))
        return try JSONValue.parse(resp.body)
    }

    public func deleteDynamic(
        _ r: GroupVersionResource, namespaced: Bool, namespace: String?, name: String,
        options: DeleteOptions = DeleteOptions()
    ) async throws {
        _ = try await checked(
            KubeRequest(
                method: "DELETE", path: dynamicPath(r, namespaced: namespaced, namespace: namespace, name: name),
                headers: [("Accept", "application/json"), ("Content-Type", "application/json")], body: options.body))
    }

    public func deleteCollectionDynamic(
        _ r: GroupVersionResource, namespaced: Bool, namespace: String?, options: DeleteOptions = DeleteOptions()
    ) async throws {
        _ = try await checked(
            KubeRequest(
                method: "DELETE", path: dynamicPath(r, namespaced: namespaced, namespace: namespace),
                headers: [("Accept", "application/json"), ("Content-Type", "application/json")], body: options.body))
    }
}
