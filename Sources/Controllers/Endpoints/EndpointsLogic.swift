import APICore
import APIDiscovery
import APIMachinery
import Foundation

/// What a Service's endpoints are, from its pods (upstream's endpoints and endpointslice controllers'
/// shared rules, `endpointutil`): which pods count, how target ports resolve, and the objects to write.
enum EndpointsLogic {
    static let managedByLabel = "endpointslice.kubernetes.io/managed-by"
    static let managedBy = "endpointslice-controller.k8s.io"
    static let serviceNameLabel = "kubernetes.io/service-name"
    static let headlessLabel = "service.kubernetes.io/headless"
    static let maxEndpointsPerSlice = 100
    static let maxAddressesPerEndpoints = 1000

    /// A pod is an endpoint when it has an IP, has not finished, and is not being deleted (unless
    /// `includeTerminating`) (`ShouldPodBeInEndpoints`).
    static func counts(_ p: CoreV1.Pod, includeTerminating: Bool) -> Bool {
        if p.status.phase == "Succeeded" || p.status.phase == "Failed" { return false }
        if p.status.podIP.isEmpty && p.status.podIPs.isEmpty { return false }
        if !includeTerminating && p.metadata.deletionTimestamp != nil { return false }
        return true
    }

    /// The pod port a service port targets: a number as is, a name through the pod's container ports
    /// (`FindPort`); nil when the pod has no such named port.
    static func targetPort(_ sp: CoreV1.ServicePort, in p: CoreV1.Pod) -> Int32? {
        switch sp.targetPort {
        case .int(let n): return n == 0 ? sp.port : n
        case .string(let name):
            if let n = Int32(name) { return n }
            for c in p.spec.containers {
                if let port = c.ports.first(where: {
                    $0.name == name
                        && ($0.protocol.isEmpty ? "TCP" : $0.protocol) == (sp.protocol.isEmpty ? "TCP" : sp.protocol)
                }) {
                    return port.containerPort
                }
            }
            return nil
        }
    }

    static func ips(_ p: CoreV1.Pod) -> [String] {
        let all = p.status.podIPs.map(\.ip)
        return all.isEmpty ? [p.status.podIP] : all
    }

    static func family(_ ip: String) -> String { ip.contains(":") ? "IPv6" : "IPv4" }

    static func reference(_ p: CoreV1.Pod) -> CoreV1.ObjectReference {
        CoreV1.ObjectReference(kind: "Pod", namespace: p.metadata.namespace, name: p.metadata.name, uid: p.metadata.uid)
    }

    static func isHeadless(_ s: CoreV1.Service) -> Bool { s.spec.clusterIP == "None" }

    // MARK: Endpoints

    /// The Endpoints object a service's pods make: addresses (ready or not) grouped by the port sets
    /// they resolve to, in a stable order.
    static func endpoints(for svc: CoreV1.Service, pods: [CoreV1.Pod], existing: CoreV1.Endpoints?) -> CoreV1.Endpoints
    {
        var e = existing ?? CoreV1.Endpoints()
        e.metadata.name = svc.metadata.name
        e.metadata.namespace = svc.metadata.namespace
        var labels = svc.metadata.labels
        if isHeadless(svc) { labels[headlessLabel] = "" } else { labels[headlessLabel] = nil }
        e.metadata.labels = labels
        struct Group {
            var ports: [CoreV1.EndpointPort] = []
            var ready: [CoreV1.EndpointAddress] = []
            var notReady: [CoreV1.EndpointAddress] = []
        }
        var groups: [String: Group] = [:]
        let tolerate = svc.spec.publishNotReadyAddresses
        for p in pods where counts(p, includeTerminating: tolerate) {
            var ports: [CoreV1.EndpointPort] = []
            for sp in svc.spec.ports {
                guard let n = targetPort(sp, in: p) else { continue }
                ports.append(
                    CoreV1.EndpointPort(
                        name: sp.name, port: n, protocol: sp.protocol.isEmpty ? "TCP" : sp.protocol,
                        appProtocol: sp.appProtocol))
            }
            if ports.isEmpty && !svc.spec.ports.isEmpty { continue }
            ports.sort { $0.name < $1.name }
            let key = ports.map { "\($0.name):\($0.port)/\($0.protocol)" }.joined(separator: ",")
            for ip in ips(p) where family(ip) == (svc.spec.ipFamilies.first ?? family(ip)) {
                var a = CoreV1.EndpointAddress(
                    ip: ip, nodeName: p.spec.nodeName.isEmpty ? nil : p.spec.nodeName, targetRef: reference(p))
                if !p.spec.hostname.isEmpty && p.spec.subdomain == svc.metadata.name { a.hostname = p.spec.hostname }
                groups[key, default: Group(ports: ports)].ports = ports
                if tolerate || Pods.isReady(p) { groups[key]!.ready.append(a) } else { groups[key]!.notReady.append(a) }
            }
        }
        func byIP(_ a: CoreV1.EndpointAddress, _ b: CoreV1.EndpointAddress) -> Bool {
            a.ip != b.ip ? a.ip < b.ip : (a.targetRef?.name ?? "") < (b.targetRef?.name ?? "")
        }
        var subsets: [CoreV1.EndpointSubset] = []
        var total = 0
        for (_, g) in groups.sorted(by: { $0.key < $1.key }) {
            let ports = g.ports
            var ready = g.ready.sorted(by: byIP)
            var notReady = g.notReady.sorted(by: byIP)
            let room = max(0, maxAddressesPerEndpoints - total)
            ready = Array(ready.prefix(room))
            notReady = Array(notReady.prefix(max(0, room - ready.count)))
            total += ready.count + notReady.count
            if ready.isEmpty && notReady.isEmpty { continue }
            subsets.append(CoreV1.EndpointSubset(addresses: ready, notReadyAddresses: notReady, ports: ports))
        }
        let overCapacity =
            groups.values.reduce(0) { $0 + $1.ready.count + $1.notReady.count } > maxAddressesPerEndpoints
        e.metadata.annotations["endpoints.kubernetes.io/over-capacity"] = overCapacity ? "truncated" : nil
        e.subsets = subsets
        return e
    }

    // MARK: EndpointSlices

    /// The endpoints of a service for one address family, in a stable order, with the ports they share
    /// (pods whose ports resolve differently go to different slices).
    static func sliceEndpoints(for svc: CoreV1.Service, pods: [CoreV1.Pod], family: String, zones: [String: String])
        -> [(ports: [DiscoveryV1.EndpointPort], endpoints: [DiscoveryV1.Endpoint])]
    {
        var out: [String: (ports: [DiscoveryV1.EndpointPort], endpoints: [DiscoveryV1.Endpoint])] = [:]
        for p in pods where counts(p, includeTerminating: true) {
            var ports: [DiscoveryV1.EndpointPort] = []
            for sp in svc.spec.ports {
                guard let n = targetPort(sp, in: p) else { continue }
                ports.append(
                    DiscoveryV1.EndpointPort(
                        name: sp.name, protocol: sp.protocol.isEmpty ? "TCP" : sp.protocol, port: n,
                        appProtocol: sp.appProtocol))
            }
            if ports.isEmpty && !svc.spec.ports.isEmpty { continue }
            ports.sort { ($0.name ?? "") < ($1.name ?? "") }
            let terminating = p.metadata.deletionTimestamp != nil
            let ready = Pods.isReady(p)
            for ip in ips(p) where self.family(ip) == family {
                var e = DiscoveryV1.Endpoint()
                e.addresses = [ip]
                e.conditions = DiscoveryV1.EndpointConditions(
                    ready: svc.spec.publishNotReadyAddresses || (ready && !terminating), serving: ready,
                    terminating: terminating)
                if !p.spec.hostname.isEmpty && p.spec.subdomain == svc.metadata.name { e.hostname = p.spec.hostname }
                e.targetRef = reference(p)
                if !p.spec.nodeName.isEmpty {
                    e.nodeName = p.spec.nodeName
                    e.zone = zones[p.spec.nodeName]
                }
                let key = ports.map { "\($0.name ?? ""):\($0.port ?? 0)/\($0.protocol ?? "")" }.joined(separator: ",")
                out[key, default: (ports, [])].endpoints.append(e)
            }
        }
        return out.sorted { $0.key < $1.key }.map { g in
            (g.value.ports, g.value.endpoints.sorted { ($0.addresses.first ?? "") < ($1.addresses.first ?? "") })
        }
    }

    /// The slices a service should have: per family and port set, endpoints in chunks of at most 100.
    static func desiredSlices(for svc: CoreV1.Service, pods: [CoreV1.Pod], zones: [String: String])
        -> [DiscoveryV1.EndpointSlice]
    {
        let families = svc.spec.ipFamilies.isEmpty ? ["IPv4"] : svc.spec.ipFamilies
        var out: [DiscoveryV1.EndpointSlice] = []
        for family in families {
            let groups = sliceEndpoints(for: svc, pods: pods, family: family, zones: zones)
            for (ports, eps) in groups {
                for start in stride(from: 0, to: eps.count, by: maxEndpointsPerSlice) {
                    out.append(
                        slice(
                            svc, family: family, ports: ports,
                            endpoints: Array(eps[start..<min(start + maxEndpointsPerSlice, eps.count)])))
                }
            }
            // A service with no endpoints still has one (empty) slice per family, with its ports.
            if groups.isEmpty {
                let ports = svc.spec.ports.map { sp in
                    DiscoveryV1.EndpointPort(
                        name: sp.name, protocol: sp.protocol.isEmpty ? "TCP" : sp.protocol,
                        port: {
                            if case .int(let n) = sp.targetPort, n > 0 { return n }; return nil
                        }(), appProtocol: sp.appProtocol)
                }.filter { $0.port != nil }
                out.append(slice(svc, family: family, ports: ports, endpoints: []))
            }
        }
        return out
    }

    static func slice(
        _ svc: CoreV1.Service, family: String, ports: [DiscoveryV1.EndpointPort], endpoints: [DiscoveryV1.Endpoint]
    ) -> DiscoveryV1.EndpointSlice {
        var s = DiscoveryV1.EndpointSlice()
        s.metadata.namespace = svc.metadata.namespace
        s.metadata.generateName = svc.metadata.name + "-"
        var labels = svc.metadata.labels
        labels[serviceNameLabel] = svc.metadata.name
        labels[managedByLabel] = managedBy
        if isHeadless(svc) { labels[headlessLabel] = "" }
        s.metadata.labels = labels
        s.metadata.ownerReferences = [
            MetaV1.OwnerReference(
                apiVersion: "v1", kind: "Service", name: svc.metadata.name, uid: svc.metadata.uid, controller: true,
                blockOwnerDeletion: true)
        ]
        s.addressType = family
        s.endpoints = endpoints
        s.ports = ports
        return s
    }

    /// The same content (labels, address type, endpoints, ports), names and versions aside.
    static func sameContent(_ a: DiscoveryV1.EndpointSlice, _ b: DiscoveryV1.EndpointSlice) -> Bool {
        a.addressType == b.addressType && a.endpoints == b.endpoints && a.ports == b.ports
            && a.metadata.labels == b.metadata.labels
    }
}
