/// Every API group k8swift implements, gathered for building the scheme.
public enum KubernetesAPI {
    /// Every kind, by GVK.
    public static let kindsByGVK: [GroupVersionKind: any APIKind.Type] = {
        var out: [GroupVersionKind: any APIKind.Type] = [:]
        for ns in namespaces {
            for k in ns.kinds { out[k.groupVersionKind] = k }
        }
        return out
    }()
}

extension KubernetesAPI {
    /// The scheme of every kind and resource, with upstream's default-enabled versions.
    public static func scheme() -> Scheme {
        Scheme(kinds: namespaces.flatMap(\.kinds), resources: resourceDescriptions())
    }
}
