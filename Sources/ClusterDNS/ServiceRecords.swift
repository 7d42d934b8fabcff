import APICore
import APIDiscovery

/// What the records of one Service depend on, taken from the Service object (the rest of it is
/// dropped, so 10,000 cached services cost little).
public struct ServiceInfo: Hashable, Sendable {
    public struct Port: Hashable, Sendable {
        /// Lower case, as names compare case-insensitively.
        public var name: String
        public var proto: String
        public var port: Int32

        public init(name: String, proto: String, port: Int32) {
            self.name = name.lowercased()
            self.proto = proto.lowercased()
            self.port = port
        }
    }

    public var namespace: String
    public var name: String
    public var type: String
    /// `None` for a headless service.
    public var clusterIP: String
    public var clusterIPs: [String]
    public var externalName: String
    public var ports: [Port]
    public var publishNotReadyAddresses: Bool

    public init(_ svc: CoreV1.Service) {
        namespace = svc.metadata.namespace
        name = svc.metadata.name
        type = svc.spec.type
        clusterIP = svc.spec.clusterIP
        clusterIPs = svc.spec.clusterIPs
        externalName = svc.spec.externalName
        ports = svc.spec.ports.map {
            Port(name: $0.name, proto: $0.protocol.isEmpty ? "TCP" : $0.protocol, port: $0.port)
        }
        publishNotReadyAddresses = svc.spec.publishNotReadyAddresses
    }

    public var isHeadless: Bool { clusterIP == "None" }
    public var isExternalName: Bool { type == "ExternalName" }
}

/// What the records depend on from one EndpointSlice: its service, ports and endpoints.
public struct SliceInfo: Hashable, Sendable {
    public struct Endpoint: Hashable, Sendable {
        public var addresses: [String]
        public var hostname: String?
        /// The `ready` condition; nil counts as ready (upstream's reading of an unknown state).
        public var ready: Bool?
    }

    public var namespace: String
    public var name: String
    /// The `kubernetes.io/service-name` label.
    public var serviceName: String
    public var addressType: String
    public var ports: [ServiceInfo.Port]
    public var endpoints: [Endpoint]

    /// nil for a slice without the service-name label (it belongs to no service).
    public init?(_ s: DiscoveryV1.EndpointSlice) {
        guard let svc = s.metadata.labels["kubernetes.io/service-name"], !svc.isEmpty else { return nil }
        namespace = s.metadata.namespace
        name = s.metadata.name
        serviceName = svc
        addressType = s.addressType
        // Ports without a number cannot be answered; CoreDNS reads a missing name as "".
        ports = s.ports.compactMap { p in
            p.port.map { ServiceInfo.Port(name: p.name ?? "", proto: p.protocol ?? "TCP", port: $0) }
        }
        endpoints = s.endpoints.map {
            Endpoint(addresses: $0.addresses, hostname: $0.hostname, ready: $0.conditions.ready)
        }
    }
}

/// The records one Service (with its slices) puts in the cluster zone: its names with their
/// answers, and the reverse (PTR) names of its addresses.
struct ServiceRecords: Sendable {
    struct Reverse: Sendable {
        var address: DNSAddress
        var target: DNSName
        /// A ClusterIP's name wins over endpoint names for the same address (CoreDNS looks at
        /// cluster IPs first).
        var isClusterIP: Bool
    }

    var names: [(name: DNSName, entry: NameEntry)] = []
    var reverse: [Reverse] = []

    /// One address of an endpoint with one port of its slice (port -1 when the slice lists none:
    /// CoreDNS's sentinel, which makes the name exist without an SRV record).
    struct EndpointPort {
        var address: DNSAddress
        var hostname: String
        var port: ServiceInfo.Port
    }

    /// The endpoints a DNS answer may use: ready ones, or all when the service publishes not-ready
    /// addresses (spec §2.1 "ready"); slices in name order, so answers are stable.
    static func endpointPorts(_ service: ServiceInfo?, _ slices: [SliceInfo]) -> [EndpointPort] {
        var out: [EndpointPort] = []
        let publishAll = service?.publishNotReadyAddresses ?? false
        for s in slices.sorted(by: { $0.name < $1.name }) where s.addressType == "IPv4" || s.addressType == "IPv6" {
            let ports = s.ports.isEmpty ? [ServiceInfo.Port(name: "", proto: "", port: -1)] : s.ports
            for e in s.endpoints where publishAll || e.ready != false {
                for text in e.addresses {
                    guard let address = DNSAddress(text) else { continue }
                    let host = (e.hostname?.isEmpty == false ? e.hostname! : dashed(text)).lowercased()
                    for p in ports { out.append(EndpointPort(address: address, hostname: host, port: p)) }
                }
            }
        }
        return out
    }

    /// An endpoint's name when it has no hostname: its address with `-` for `.` or `:` (CoreDNS's
    /// system-assigned identifier, spec §2.1 "hostname").
    static func dashed(_ ip: String) -> String {
        String(ip.map { $0 == "." || $0 == ":" ? "-" : $0 })
    }

    /// CoreDNS's SRV weight: 100 shared evenly by the entries one query matched, at least 1.
    static func weight(_ entries: Int) -> UInt16 { UInt16(max(1, 100 / max(1, entries))) }

    static func build(service: ServiceInfo?, slices: [SliceInfo], zone: String, ttl: UInt32) -> ServiceRecords {
        var out = ServiceRecords()
        let namespace = service?.namespace ?? slices.first?.namespace ?? ""
        let serviceName = service?.name ?? slices.first?.serviceName ?? ""
        guard let svcName = DNSName("\(serviceName).\(namespace).svc.\(zone)")?.lowercased else { return out }
        let endpoints = endpointPorts(service, slices)

        // Reverse names of endpoint addresses exist whatever the service (CoreDNS indexes slices).
        var seenReverse = Set<String>()
        for e in endpoints where seenReverse.insert("\(e.address)/\(e.hostname)").inserted {
            if let target = DNSName("\(e.hostname).\(serviceName).\(namespace).svc.\(zone)")?.lowercased {
                out.reverse.append(Reverse(address: e.address, target: target, isClusterIP: false))
            }
        }
        guard let service else { return out }

        if service.isExternalName {
            // spec §2.5: a CNAME to the external name; CoreDNS ignores a name that is an IP address.
            if DNSAddress(service.externalName) == nil, let target = DNSName(service.externalName),
                target.labelCount > 0
            {
                out.names.append((svcName, NameEntry(cname: target)))
            }
            return out
        }

        // Names of endpoints (spec §2.4.1 `<hostname>.<service>...`; CoreDNS answers them for
        // ClusterIP services too).
        var byHost: [String: [EndpointPort]] = [:]
        var hostOrder: [String] = []
        for e in endpoints {
            if byHost[e.hostname] == nil { hostOrder.append(e.hostname) }
            byHost[e.hostname, default: []].append(e)
        }
        for host in hostOrder {
            guard let name = DNSName("\(host).\(serviceName).\(namespace).svc.\(zone)")?.lowercased else { continue }
            let items = byHost[host]!
            out.names.append((name, endpointEntry(items, ttl: ttl, target: { _ in name })))
        }

        if service.isHeadless {
            // spec §2.4: one address per ready endpoint; NXDOMAIN when there is none.
            if !endpoints.isEmpty {
                out.names.append((svcName, endpointEntry(endpoints, ttl: ttl, target: { hostTarget($0, svcName) })))
            }
            for p in service.ports where !p.name.isEmpty {
                let items = endpoints.filter { $0.port.name == p.name && $0.port.proto == p.proto }
                guard !items.isEmpty, let name = portName(p, svcName) else { continue }
                out.names.append((name, endpointEntry(items, ttl: ttl, target: { hostTarget($0, svcName) })))
            }
            return out
        }

        // spec §2.3: the cluster IPs (both families of a dual-stack service).
        var ips: [DNSAddress] = []
        for text in service.clusterIPs.isEmpty ? [service.clusterIP] : service.clusterIPs {
            if let a = DNSAddress(text), !ips.contains(a) { ips.append(a) }
        }
        guard !ips.isEmpty else { return out }
        for a in ips { out.reverse.append(Reverse(address: a, target: svcName, isClusterIP: true)) }
        // CoreDNS finds a ClusterIP service's name only through its ports.
        guard !service.ports.isEmpty else { return out }
        let extra = ips.map { ResourceRecord(name: svcName, ttl: ttl, data: RData(address: $0)) }
        func entry(_ ports: [ServiceInfo.Port]) -> NameEntry {
            let w = weight(ports.count * ips.count)
            var srv: [RData] = []
            for p in ports {
                let r = RData.srv(priority: 0, weight: w, port: UInt16(truncatingIfNeeded: p.port), target: svcName)
                if !srv.contains(r) { srv.append(r) }
            }
            return NameEntry(addresses: ips, srv: srv, srvExtra: extra)
        }
        out.names.append((svcName, entry(service.ports)))
        for p in service.ports where !p.name.isEmpty {
            if let name = portName(p, svcName) { out.names.append((name, entry([p]))) }
        }
        return out
    }

    /// `_<port>._<proto>.<service>...` (spec §2.3.2).
    static func portName(_ p: ServiceInfo.Port, _ svcName: DNSName) -> DNSName? {
        guard let prefix = DNSName("_\(p.name)._\(p.proto)") else { return nil }
        let wire = prefix.wire.dropLast() + svcName.wire
        guard wire.count <= DNSName.maxWireLength else { return nil }
        return DNSName(uncheckedWire: Array(wire))
    }

    static func hostTarget(_ e: EndpointPort, _ svcName: DNSName) -> DNSName {
        let label = Array(e.hostname.utf8.prefix(DNSName.maxLabelLength))
        return DNSName(uncheckedWire: [UInt8(label.count)] + label + svcName.wire)
    }

    /// The answers of a name that endpoints answer: their addresses, one SRV per target and port
    /// (none for the port-less sentinel) with CoreDNS's weights, and the targets' addresses.
    static func endpointEntry(_ items: [EndpointPort], ttl: UInt32, target: (EndpointPort) -> DNSName) -> NameEntry {
        var e = NameEntry()
        let w = weight(items.count)
        var seenSRV = Set<RData>()
        var seenExtra = Set<ResourceRecord>()
        for i in items {
            if !e.addresses.contains(i.address) { e.addresses.append(i.address) }
            guard i.port.port >= 0 else { continue }
            let t = target(i)
            let srv = RData.srv(priority: 0, weight: w, port: UInt16(truncatingIfNeeded: i.port.port), target: t)
            if seenSRV.insert(srv).inserted { e.srv.append(srv) }
            let a = ResourceRecord(name: t, ttl: ttl, data: RData(address: i.address))
            if seenExtra.insert(a).inserted { e.srvExtra.append(a) }
        }
        return e
    }
}

/// The prebuilt answers of one name in the cluster zone.
struct NameEntry: Sendable {
    var addresses: [DNSAddress] = []
    /// An ExternalName service's target.
    var cname: DNSName?
    var srv: [RData] = []
    /// The SRV targets' addresses, for the additional section.
    var srvExtra: [ResourceRecord] = []
}
