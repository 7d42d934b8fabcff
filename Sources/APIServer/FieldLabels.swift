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
        // The hot kinds (every scheduling and node write, every event) read their fields directly;
        // the rest go through their JSON. Both give the same values (tested).
        if T.self == CoreV1.Pod.self { return { podFields($0 as! CoreV1.Pod) } }
        if T.self == CoreV1.Node.self { return { nodeFields($0 as! CoreV1.Node) } }
        if T.self == CoreV1.Event.self && resource == "events" { return { eventFields($0 as! CoreV1.Event) } }
        return { obj in
            guard !labels.isEmpty, let v = try? JSONValue.parse(codec.itemJSON(obj)) else {
                var out = ["metadata.name": obj.metadata.name]
                if namespaced { out["metadata.namespace"] = obj.metadata.namespace }
                return out
            }
            return fromJSON(
                v, resource: resource, name: obj.metadata.name, namespace: obj.metadata.namespace,
                namespaced: namespaced)
        }
    }

    /// The field set read from an object's JSON.
    static func fromJSON(
        _ v: JSONValue, resource: String, name: String, namespace: String, namespaced: Bool
    ) -> [String: String] {
        var out = ["metadata.name": name]
        if namespaced { out["metadata.namespace"] = namespace }
        for l in extra[resource] ?? [] {
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
        if resource == "jobs", out["status.successful"]?.isEmpty ?? true { out["status.successful"] = "0" }
        return out
    }

    static func podFields(_ p: CoreV1.Pod) -> [String: String] {
        let ips = p.status.podIPs.map(\.ip).joined(separator: ",")
        return [
            "metadata.name": p.metadata.name, "metadata.namespace": p.metadata.namespace,
            "spec.nodeName": p.spec.nodeName, "spec.restartPolicy": p.spec.restartPolicy,
            "spec.schedulerName": p.spec.schedulerName, "spec.serviceAccountName": p.spec.serviceAccountName,
            "spec.hostNetwork": p.spec.hostNetwork ? "true" : "false", "status.phase": p.status.phase,
            "status.podIP": p.status.podIP, "status.podIPs": ips,
            "status.nominatedNodeName": p.status.nominatedNodeName,
        ]
    }

    static func nodeFields(_ n: CoreV1.Node) -> [String: String] {
        ["metadata.name": n.metadata.name, "spec.unschedulable": n.spec.unschedulable ? "true" : "false"]
    }

    static func eventFields(_ e: CoreV1.Event) -> [String: String] {
        let o = e.involvedObject
        return [
            "metadata.name": e.metadata.name, "metadata.namespace": e.metadata.namespace,
            "involvedObject.kind": o.kind, "involvedObject.namespace": o.namespace, "involvedObject.name": o.name,
            "involvedObject.uid": o.uid, "involvedObject.apiVersion": o.apiVersion,
            "involvedObject.resourceVersion": o.resourceVersion, "involvedObject.fieldPath": o.fieldPath,
            "reason": e.reason, "reportingComponent": e.reportingComponent, "source": e.source.component,
            "type": e.type,
        ]
    }
}
