import APICore
import APIDiscovery

/// Every name of the cluster zone with its prebuilt answers, kept up to date one Service at a time
/// from Service and EndpointSlice events, so a query is one dictionary lookup and a change costs
/// only the records of the Service it touches.
public struct RecordTable: Sendable {
    struct ServiceKey: Hashable, Comparable, Sendable {
        var namespace: String
        var name: String
        static func < (a: ServiceKey, b: ServiceKey) -> Bool { (a.namespace, a.name) < (b.namespace, b.name) }
    }

    struct ServiceState: Sendable {
        var service: ServiceInfo?
        var slices: [String: SliceInfo] = [:]
        var names: [DNSName] = []
        var reverse: [DNSAddress] = []
    }

    struct ReverseOwners: Sendable {
        var clusterIP: [ServiceKey: DNSName] = [:]
        var endpoints: [ServiceKey: [DNSName]] = [:]
        var isEmpty: Bool { clusterIP.isEmpty && endpoints.isEmpty }
    }

    /// The cluster domain, lower case (`cluster.local`).
    public let zoneText: String
    public let zone: DNSName
    public let ttl: UInt32
    /// The SOA serial: when the zone last changed, in seconds since the Unix epoch (CoreDNS's).
    public var serial: UInt32
    var names: [DNSName: NameEntry] = [:]
    var reverse: [DNSAddress: ReverseOwners] = [:]
    var services: [ServiceKey: ServiceState] = [:]
    /// Which service each slice (namespace/name) was last filed under.
    var sliceOwners: [ServiceKey: ServiceKey] = [:]

    public init(zone: String = "cluster.local", ttl: UInt32 = 5, serial: UInt32 = 0) {
        let text = zone.lowercased().hasSuffix(".") ? String(zone.lowercased().dropLast()) : zone.lowercased()
        zoneText = text
        self.zone = DNSName(text) ?? DNSName("cluster.local")!
        self.ttl = ttl
        self.serial = serial
    }

    /// How many names the zone holds (for tests and metrics).
    public var nameCount: Int { names.count }

    public mutating func setService(_ svc: CoreV1.Service, now: UInt32? = nil) {
        setService(ServiceInfo(svc), now: now)
    }

    public mutating func setService(_ info: ServiceInfo, now: UInt32? = nil) {
        let key = ServiceKey(namespace: info.namespace, name: info.name)
        if services[key]?.service == info { return }
        services[key, default: ServiceState()].service = info
        rebuild(key, now: now)
    }

    public mutating func removeService(namespace: String, name: String, now: UInt32? = nil) {
        let key = ServiceKey(namespace: namespace, name: name)
        guard services[key]?.service != nil else { return }
        services[key]?.service = nil
        rebuild(key, now: now)
    }

    public mutating func setSlice(_ slice: DiscoveryV1.EndpointSlice, now: UInt32? = nil) {
        guard let info = SliceInfo(slice) else {
            removeSlice(namespace: slice.metadata.namespace, name: slice.metadata.name, now: now)
            return
        }
        setSlice(info, now: now)
    }

    public mutating func setSlice(_ info: SliceInfo, now: UInt32? = nil) {
        let sliceKey = ServiceKey(namespace: info.namespace, name: info.name)
        let key = ServiceKey(namespace: info.namespace, name: info.serviceName)
        if let previous = sliceOwners[sliceKey], previous != key {
            removeSlice(namespace: info.namespace, name: info.name, now: now)
        }
        if services[key]?.slices[info.name] == info { return }
        sliceOwners[sliceKey] = key
        services[key, default: ServiceState()].slices[info.name] = info
        rebuild(key, now: now)
    }

    public mutating func removeSlice(namespace: String, name: String, now: UInt32? = nil) {
        let sliceKey = ServiceKey(namespace: namespace, name: name)
        guard let key = sliceOwners.removeValue(forKey: sliceKey) else { return }
        services[key]?.slices[name] = nil
        rebuild(key, now: now)
    }

    mutating func rebuild(_ key: ServiceKey, now: UInt32?) {
        guard var state = services[key] else { return }
        for n in state.names { names[n] = nil }
        for a in state.reverse {
            reverse[a]?.clusterIP[key] = nil
            reverse[a]?.endpoints[key] = nil
            if reverse[a]?.isEmpty == true { reverse[a] = nil }
        }
        let built = ServiceRecords.build(
            service: state.service, slices: Array(state.slices.values), zone: zoneText, ttl: ttl)
        state.names = built.names.map(\.name)
        for (n, e) in built.names { names[n] = e }
        var addresses: [DNSAddress] = []
        for r in built.reverse {
            if r.isClusterIP {
                reverse[r.address, default: ReverseOwners()].clusterIP[key] = r.target
            } else {
                reverse[r.address, default: ReverseOwners()].endpoints[key, default: []].append(r.target)
            }
            if !addresses.contains(r.address) { addresses.append(r.address) }
        }
        state.reverse = addresses
        if state.service == nil && state.slices.isEmpty {
            services[key] = nil
        } else {
            services[key] = state
        }
        if let now { serial = now }
    }

    /// The PTR targets of an address: the service whose cluster IP it is, else every endpoint name
    /// it has (spec §2.3.3, §2.4.3).
    func reverseTargets(_ a: DNSAddress) -> [DNSName] {
        guard let owners = reverse[a] else { return [] }
        if let first = owners.clusterIP.keys.min() { return [owners.clusterIP[first]!] }
        var out: [DNSName] = []
        for k in owners.endpoints.keys.sorted() {
            for n in owners.endpoints[k]! where !out.contains(n) { out.append(n) }
        }
        return out
    }
}
