import APIMachinery
import Foundation
import KubernetesAPI

/// Discovery documents built from the enabled resources: the legacy /api, /apis and per
/// group-version lists, and aggregated discovery (apidiscovery.k8s.io/v2).
struct Discovery: Sendable {
    /// Upstream's group order (discovery priority).
    static let groupOrder = [
        "", "apiregistration.k8s.io", "apps", "events.k8s.io", "authentication.k8s.io", "authorization.k8s.io",
        "autoscaling", "batch", "certificates.k8s.io", "networking.k8s.io", "policy", "rbac.authorization.k8s.io",
        "storage.k8s.io", "admissionregistration.k8s.io", "apiextensions.k8s.io", "scheduling.k8s.io",
        "coordination.k8s.io", "node.k8s.io", "discovery.k8s.io", "resource.k8s.io", "flowcontrol.apiserver.k8s.io",
        "internal.apiserver.k8s.io", "storagemigration.k8s.io",
    ]

    let resources: [ResourceDescription]
    let groups: [(name: String, versions: [String])]
    let apisJSON: [UInt8]
    let aggregatedAPIs: [UInt8]
    let aggregatedAPI: [UInt8]
    let groupJSON: [String: [UInt8]]
    let versionJSON: [String: [UInt8]]
    let etagAPIs: String
    let etagAPI: String

    /// Resources left out of discovery until their backing parts exist.
    static let hiddenSubresources: Set<String> = [
        "log", "exec", "attach", "portforward", "proxy", "eviction", "token", "ephemeralcontainers",
    ]

    /// `extraGroupVersions`: group/versions listed even without resources (APIServices whose
    /// extension server has not answered yet).
    init(resources enabled: [ResourceDescription], extraGroupVersions: [(group: String, version: String)] = []) {
        resources = enabled
        var gv: [String: Set<String>] = [:]
        for r in enabled { gv[r.group, default: []].insert(r.version) }
        for e in extraGroupVersions { gv[e.group, default: []].insert(e.version) }
        let order = Self.groupOrder
        let names = gv.keys.sorted { a, b in
            let ia = order.firstIndex(of: a) ?? order.count
            let ib = order.firstIndex(of: b) ?? order.count
            return ia != ib ? ia < ib : a < b
        }
        groups = names.map { ($0, gv[$0]!.sorted(by: KubeVersionOrder.higher)) }

        var gl = MetaV1.APIGroupList(kind: "APIGroupList", apiVersion: "v1")
        var gj: [String: [UInt8]] = [:]
        for g in groups where !g.name.isEmpty {
            let vs = g.versions.map { MetaV1.GroupVersionForDiscovery(groupVersion: "\(g.name)/\($0)", version: $0) }
            let group = MetaV1.APIGroup(name: g.name, versions: vs, preferredVersion: vs[0])
            gl.groups.append(group)
            var one = group
            one.kind = "APIGroup"
            one.apiVersion = "v1"
            gj[g.name] = Self.json(one)
        }
        apisJSON = Self.json(gl)
        groupJSON = gj
        var vj: [String: [UInt8]] = [:]
        for g in groups {
            for v in g.versions {
                let gvName = g.name.isEmpty ? v : "\(g.name)/\(v)"
                var list = MetaV1.APIResourceList(
                    kind: "APIResourceList", apiVersion: g.name.isEmpty ? "" : "v1", groupVersion: gvName)
                for r in enabled where r.group == g.name && r.version == v {
                    list.resources.append(
                        MetaV1.APIResource(
                            name: r.resource, singularName: r.singular, namespaced: r.namespaced, kind: r.kind,
                            verbs: MetaV1.Verbs(r.verbs), shortNames: r.shortNames, categories: r.categories))
                    for s in r.subresources where !Self.hiddenSubresources.contains(s.name) {
                        list.resources.append(
                            MetaV1.APIResource(
                                name: "\(r.resource)/\(s.name)", singularName: "", namespaced: r.namespaced,
                                group: s.kind?.group ?? "", version: s.kind?.version ?? "",
                                kind: s.kind?.kind ?? r.kind, verbs: MetaV1.Verbs(s.verbs)))
                    }
                }
                vj[gvName] = Self.json(list)
            }
        }
        versionJSON = vj
        aggregatedAPI = Self.json(Self.aggregated(groups.filter { $0.name.isEmpty }, enabled))
        aggregatedAPIs = Self.json(Self.aggregated(groups.filter { !$0.name.isEmpty }, enabled))
        etagAPIs = Self.etag(aggregatedAPIs)
        etagAPI = Self.etag(aggregatedAPI)
    }

    static func aggregated(_ groups: [(name: String, versions: [String])], _ enabled: [ResourceDescription])
        -> APIDiscoveryV2.APIGroupDiscoveryList
    {
        var list = APIDiscoveryV2.APIGroupDiscoveryList(
            kind: "APIGroupDiscoveryList", apiVersion: "apidiscovery.k8s.io/v2")
        for g in groups {
            var gd = APIDiscoveryV2.APIGroupDiscovery()
            gd.metadata.name = g.name
            for v in g.versions {
                var vd = APIDiscoveryV2.APIVersionDiscovery(version: v, freshness: "Current")
                for r in enabled where r.group == g.name && r.version == v {
                    var rd = APIDiscoveryV2.APIResourceDiscovery(
                        resource: r.resource,
                        responseKind: MetaV1.GroupVersionKind(group: "", version: "", kind: r.kind),
                        scope: r.namespaced ? "Namespaced" : "Cluster", singularResource: r.singular,
                        verbs: r.verbs, shortNames: r.shortNames, categories: r.categories)
                    for s in r.subresources where !hiddenSubresources.contains(s.name) {
                        rd.subresources.append(
                            APIDiscoveryV2.APISubresourceDiscovery(
                                subresource: s.name,
                                responseKind: MetaV1.GroupVersionKind(
                                    group: s.kind?.group ?? "", version: s.kind?.version ?? "",
                                    kind: s.kind?.kind ?? r.kind),
                                verbs: s.verbs))
                    }
                    vd.resources.append(rd)
                }
                gd.versions.append(vd)
            }
            list.items.append(gd)
        }
        return list
    }

    static func json<V: JSONEncodableValue>(_ v: V) -> [UInt8] {
        var w = JSONWriter(capacity: 4096)
        v.encodeJSON(&w)
        return w.bytes + [0x0A]
    }

    static func etag(_ b: [UInt8]) -> String {
        let h = b.withUnsafeBufferPointer { JSONKey.fnv1a($0) }
        return "\"" + String(h, radix: 16, uppercase: true) + "\""
    }

    func apiVersions(serverAddress: String) -> [UInt8] {
        let v = MetaV1.APIVersions(
            kind: "APIVersions", versions: ["v1"],
            serverAddressByClientCIDRs: [
                MetaV1.ServerAddressByClientCIDR(clientCIDR: "0.0.0.0/0", serverAddress: serverAddress)
            ])
        return Self.json(v)
    }

    /// Whether `accept` asks for aggregated discovery (v2 or v2beta1).
    static func wantsAggregated(_ accept: String?) -> Bool {
        guard let accept else { return false }
        for clause in accept.split(separator: ",") {
            let c = clause.replacingOccurrences(of: " ", with: "")
            if c.contains("as=APIGroupDiscoveryList") && c.contains("g=apidiscovery.k8s.io") && c.contains("v=v2")
                && !c.contains("v=v2beta1")
            {
                return true
            }
        }
        return false
    }
}
