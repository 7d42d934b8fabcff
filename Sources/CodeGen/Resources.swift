import Foundation

/// A resource as served: from upstream's aggregated discovery for default-enabled versions, and
/// from the OpenAPI paths for the other (alpha/beta) versions.
struct ResourceFact {
    var group: String
    var version: String
    var resource: String
    var singular: String
    var kind: String
    var namespaced: Bool
    var verbs: [String]
    var shortNames: [String]
    var categories: [String]
    var subresources: [(name: String, kind: (String, String, String)?, verbs: [String])]
    var enabledByDefault: Bool
}

enum ResourceFacts {
    static func load(specDir: URL) throws -> [ResourceFact] {
        var out: [ResourceFact] = []
        let disc = specDir.appendingPathComponent("discovery")
        for file in ["aggregated-api.json", "aggregated-apis.json"] {
            let doc =
                try JSONSerialization.jsonObject(with: Data(contentsOf: disc.appendingPathComponent(file)))
                as! [String: Any]
            for item in doc["items"] as! [[String: Any]] {
                let group = ((item["metadata"] as? [String: Any])?["name"] as? String) ?? ""
                for v in item["versions"] as! [[String: Any]] {
                    let version = v["version"] as! String
                    for r in (v["resources"] as? [[String: Any]]) ?? [] {
                        let rk = r["responseKind"] as? [String: Any]
                        var subs: [(String, (String, String, String)?, [String])] = []
                        for s in (r["subresources"] as? [[String: Any]]) ?? [] {
                            var k: (String, String, String)? = nil
                            if let sk = s["responseKind"] as? [String: Any] {
                                k = (
                                    sk["group"] as? String ?? "", sk["version"] as? String ?? "",
                                    sk["kind"] as? String ?? ""
                                )
                            }
                            subs.append((s["subresource"] as! String, k, (s["verbs"] as? [String]) ?? []))
                        }
                        out.append(
                            ResourceFact(
                                group: group, version: version, resource: r["resource"] as! String,
                                singular: r["singularResource"] as? String ?? "",
                                kind: rk?["kind"] as? String ?? "",
                                namespaced: (r["scope"] as? String) == "Namespaced",
                                verbs: (r["verbs"] as? [String]) ?? [],
                                shortNames: (r["shortNames"] as? [String]) ?? [],
                                categories: (r["categories"] as? [String]) ?? [], subresources: subs,
                                enabledByDefault: true))
                    }
                }
            }
        }
        let served = Set(out.map { "\($0.group)/\($0.version)" })
        // Other versions from the OpenAPI documents.
        let v3 = specDir.appendingPathComponent("openapi/v3")
        for file in try FileManager.default.contentsOfDirectory(atPath: v3.path).sorted() where file.hasPrefix("apis__")
        {
            let parts = file.dropFirst(6).replacingOccurrences(of: "_openapi.json", with: "").components(
                separatedBy: "__")
            guard parts.count == 2 else { continue }
            let group = parts[0], version = parts[1]
            if served.contains("\(group)/\(version)") { continue }
            let doc =
                try JSONSerialization.jsonObject(with: Data(contentsOf: v3.appendingPathComponent(file)))
                as! [String: Any]
            let paths = doc["paths"] as! [String: Any]
            var byResource: [String: ResourceFact] = [:]
            var order: [String] = []
            let prefix = "/apis/\(group)/\(version)/"
            for (path, value) in paths.sorted(by: { $0.key < $1.key }) {
                guard path.hasPrefix(prefix), let ops = value as? [String: Any] else { continue }
                var rest = String(path.dropFirst(prefix.count))
                if rest.hasPrefix("watch/") { continue }
                var namespaced = false
                if rest.hasPrefix("namespaces/{namespace}/") {
                    namespaced = true
                    rest = String(rest.dropFirst("namespaces/{namespace}/".count))
                }
                let segs = rest.split(separator: "/").map(String.init)
                guard let resource = segs.first, !resource.isEmpty else { continue }
                var verbs: [String] = []
                var kind = ""
                for (_, op) in ops {
                    guard let op = op as? [String: Any], let action = op["x-kubernetes-action"] as? String else {
                        continue
                    }
                    if let g = op["x-kubernetes-group-version-kind"] as? [String: Any] {
                        kind = g["kind"] as? String ?? kind
                    }
                    switch action {
                    case "post": verbs.append("create")
                    case "put": verbs.append("update")
                    default: verbs.append(action)
                    }
                }
                if byResource[resource] == nil {
                    order.append(resource)
                    byResource[resource] = ResourceFact(
                        group: group, version: version, resource: resource, singular: "", kind: "",
                        namespaced: namespaced, verbs: [], shortNames: [], categories: [], subresources: [],
                        enabledByDefault: false)
                }
                if segs.count == 1 || (segs.count == 2 && segs[1] == "{name}") {
                    // collection or item
                    if segs.count == 1 && !namespaced
                        && paths["/apis/\(group)/\(version)/namespaces/{namespace}/\(resource)"] != nil
                    {
                        // the all-namespaces list of a namespaced resource
                        continue
                    }
                    byResource[resource]!.namespaced = namespaced
                    byResource[resource]!.kind = kind
                    byResource[resource]!.verbs += verbs
                    if paths["/apis/\(group)/\(version)/watch/\(rest)"] != nil
                        || paths["/apis/\(group)/\(version)/watch/namespaces/{namespace}/\(rest)"] != nil
                    {
                        byResource[resource]!.verbs.append("watch")
                    }
                } else if segs.count == 3 && segs[1] == "{name}" {
                    let sub = segs[2]
                    let kinds = (group, version, kind)
                    byResource[resource]!.subresources.append((sub, kinds, Array(Set(verbs)).sorted()))
                }
            }
            for r in order {
                var f = byResource[r]!
                f.verbs = Array(Set(f.verbs)).sorted()
                f.singular = f.kind.lowercased()
                // Short names and categories as in another served version of the same resource.
                if let other = out.first(where: { $0.group == group && $0.resource == r }) {
                    f.shortNames = other.shortNames
                    f.categories = other.categories
                    f.singular = other.singular
                }
                if f.kind.isEmpty { continue }
                out.append(f)
            }
        }
        return out
    }

    static func emit(_ facts: [ResourceFact]) -> String {
        func list(_ a: [String]) -> String { "[" + a.map { "\"\($0)\"" }.joined(separator: ", ") + "]" }
        var o = "// Code generated by k8swift-codegen from discovery/ and openapi/v3 paths. DO NOT EDIT.\n\n"
        o += "extension KubernetesAPI {\n"
        o += "    /// Every resource k8swift knows, in every version, with what upstream serves for it.\n"
        o += "    public static func resourceDescriptions() -> [ResourceDescription] {\n"
        o += "        var r: [ResourceDescription] = []\n"
        o += "        r.reserveCapacity(\(facts.count))\n"
        for f in facts {
            var subs: [String] = []
            for s in f.subresources {
                let k =
                    s.kind.map { "GroupVersionKind(group: \"\($0.0)\", version: \"\($0.1)\", kind: \"\($0.2)\")" }
                    ?? "nil"
                subs.append("SubresourceDescription(name: \"\(s.name)\", kind: \(k), verbs: \(list(s.verbs)))")
            }
            o += "        r.append(\n"
            o += "            ResourceDescription(\n"
            o +=
                "                group: \"\(f.group)\", version: \"\(f.version)\", resource: \"\(f.resource)\", singular: \"\(f.singular)\",\n"
            o += "                kind: \"\(f.kind)\", namespaced: \(f.namespaced), verbs: \(list(f.verbs)),\n"
            o += "                shortNames: \(list(f.shortNames)), categories: \(list(f.categories)),\n"
            o += "                subresources: [" + subs.joined(separator: ", ") + "],\n"
            o += "                enabledByDefault: \(f.enabledByDefault)))\n"
        }
        o += "        return r\n    }\n}\n"
        return o
    }
}
