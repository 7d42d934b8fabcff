import APICore
import APIDiscovery
import APIMachinery
import KubeClient

/// The `kube-system/kube-dns` Service a cluster's DNS answers behind (the name, labels and ports of
/// upstream's CoreDNS deployment), with no selector and an EndpointSlice of ours pointing at the
/// address the built-in server listens on, so the ClusterIP the kubelet gives pods reaches it.
public enum KubeDNSService {
    public static let namespace = "kube-system"
    public static let name = "kube-dns"
    /// Our `endpointslice.kubernetes.io/managed-by` value: the endpoint slice controller leaves
    /// slices it does not manage alone.
    public static let managedBy = "cluster-dns.k8swift.io"

    static let ports: [(name: String, proto: String, port: Int32)] = [
        ("dns", "UDP", 53), ("dns-tcp", "TCP", 53), ("metrics", "TCP", 9153),
    ]

    public static func service(clusterIP: String) -> CoreV1.Service {
        var s = CoreV1.Service()
        s.metadata.name = name
        s.metadata.namespace = namespace
        s.metadata.labels = [
            "k8s-app": "kube-dns", "kubernetes.io/cluster-service": "true", "kubernetes.io/name": "CoreDNS",
        ]
        s.metadata.annotations = ["prometheus.io/port": "9153", "prometheus.io/scrape": "true"]
        s.spec.clusterIP = clusterIP
        s.spec.clusterIPs = [clusterIP]
        s.spec.type = "ClusterIP"
        s.spec.ports = ports.map {
            CoreV1.ServicePort(name: $0.name, protocol: $0.proto, port: $0.port, targetPort: .int($0.port))
        }
        return s
    }

    public static func slice(address: String, nodeName: String?, owner: CoreV1.Service?) -> DiscoveryV1.EndpointSlice {
        var s = DiscoveryV1.EndpointSlice()
        s.metadata.name = name
        s.metadata.namespace = namespace
        s.metadata.labels = [
            "kubernetes.io/service-name": name, "endpointslice.kubernetes.io/managed-by": managedBy,
        ]
        if let owner, !owner.metadata.uid.isEmpty {
            s.metadata.ownerReferences = [
                MetaV1.OwnerReference(apiVersion: "v1", kind: "Service", name: name, uid: owner.metadata.uid)
            ]
        }
        s.addressType = address.contains(":") ? "IPv6" : "IPv4"
        var e = DiscoveryV1.Endpoint()
        e.addresses = [address]
        e.conditions = DiscoveryV1.EndpointConditions(ready: true, serving: true, terminating: false)
        e.nodeName = nodeName
        s.endpoints = [e]
        s.ports = ports.map { DiscoveryV1.EndpointPort(name: $0.name, protocol: $0.proto, port: $0.port) }
        return s
    }

    /// Creates the Service and its EndpointSlice, or brings the slice back to `address`; a Service
    /// someone else made with that name is kept as it is.
    public static func ensure(client: KubeClient, clusterIP: String, address: String, nodeName: String?) async throws {
        let svc: CoreV1.Service
        do {
            svc = try await client.get(CoreV1.Service.self, name, namespace: namespace)
        } catch let e as StatusError where e.isNotFound {
            svc = try await client.create(service(clusterIP: clusterIP))
        }
        let want = slice(address: address, nodeName: nodeName, owner: svc)
        do {
            var have = try await client.get(DiscoveryV1.EndpointSlice.self, name, namespace: namespace)
            if have.addressType != want.addressType {
                // The address type is immutable: a node that moved families gets a new slice.
                try await client.delete(DiscoveryV1.EndpointSlice.self, name, namespace: namespace)
                _ = try await client.create(want)
            } else if have.endpoints != want.endpoints || have.ports != want.ports
                || have.addressType != want.addressType
                || have.metadata.labels != want.metadata.labels
            {
                have.endpoints = want.endpoints
                have.ports = want.ports
                have.metadata.labels = want.metadata.labels
                _ = try await client.update(have)
            }
        } catch let e as StatusError where e.isNotFound {
            _ = try await client.create(want)
        }
    }
}
