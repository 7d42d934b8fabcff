import APIMachinery
import KubernetesAPI

/// Each resource's field selector labels (upstream's `GetAttrs`/field label conversions), and their
/// values for an object.
enum FieldLabels {
    static let extra: [String: [String]] = [
        "pods": [
            "spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName", "spec.hostNetwork",
            "status.phase", "status.podIP", "status.podIPs", "status.nominatedNodeName",
        ],
        "events": [
            "involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
            "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath", "reason",
            "reportingComponent", "source", "type",
        ],
        "secrets": ["type"],
        "namespaces": ["status.phase"],
        "nodes": ["spec.unschedulable"],
        "replicationcontrollers": ["status.replicas"],
        "replicasets": ["status.replicas"],
        "jobs": ["status.successful"],
        "certificatesigningrequests": ["spec.signerName"],
    ]

    static func supported(_ resource: String) -> Set<String> {
        Set(["metadata.name", "metadata.namespace"] + (extra[resource] ?? []))
    }

    /// The function computing an object's field set for `resource`.
    static func extractor<T: StoredKind>(_ resource: String, namespaced: Bool, codec: VersionCodec<T>)
        -> @Sendable (T) -> [String: String]
    {
        let labels = extra[resource] ?? []
        return { obj in
            var out = ["metadata.name": obj.metadata.name]
            if namespaced { out["metadata.namespace"] = obj.metadata.namespace }
            if labels.isEmpty { return out }
            guard let v = try? JSONValue.parse(codec.itemJSON(obj)) else { return out }
            for l in labels {
                var cur: JSONValue? = v
                for part in l.split(separator: ".") { cur = cur?[String(part)] }
                switch cur {
                case .string(let s)?: out[l] = s
                case .number(let n)?: out[l] = n
                case .bool(let b)?: out[l] = b ? "true" : "false"
                case .array(let a)?:
                    // status.podIPs: the IPs, comma-joined.
                    out[l] = a.compactMap { $0["ip"]?.stringValue ?? $0.stringValue }.joined(separator: ",")
                default:
                    out[l] = l == "spec.hostNetwork" || l == "spec.unschedulable" ? "false" : ""
                }
            }
            if resource == "events", let src = v["source"]?["component"]?.stringValue { out["source"] = src }
            if resource == "pods", out["status.podIPs"] == nil { out["status.podIPs"] = out["status.podIP"] }
            if resource == "jobs", out["status.successful"]?.isEmpty ?? true { out["status.successful"] = "0" }
            return out
        }
    }
}
