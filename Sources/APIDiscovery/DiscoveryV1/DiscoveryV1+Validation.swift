import APIMachinery

extension DiscoveryV1.EndpointSlice: Validated {
    public static let maxEndpoints = 1000
    public static let maxAddresses = 100
    public static let maxPorts = 100
    public static let maxTopologyLabels = 16

    public func validate() -> ErrorList {
        var errs = MetaValidation.validateObjectMeta(metadata, namespaced: true, nameRule: .dns1123Subdomain)
        let types = ["FQDN", "IPv4", "IPv6"]
        if addressType.isEmpty {
            errs.append(.required(FieldPath("addressType")))
        } else if !types.contains(addressType) {
            errs.append(.notSupported(FieldPath("addressType"), .string(addressType), types))
        }
        errs += validateEndpoints()
        errs += validatePorts()
        return errs
    }

    /// Past the endpoint limit nothing else about the endpoints is reported.
    func validateEndpoints() -> ErrorList {
        if endpoints.count > Self.maxEndpoints {
            return [.tooMany(FieldPath("endpoints"), endpoints.count, Self.maxEndpoints)]
        }
        var errs: ErrorList = []
        for (i, e) in endpoints.enumerated() {
            let p = FieldPath("endpoints").index(i).child("addresses")
            if e.addresses.isEmpty {
                errs.append(.required(p, "must contain at least 1 address"))
            } else if e.addresses.count > Self.maxAddresses {
                errs.append(.tooMany(p, e.addresses.count, Self.maxAddresses))
            }
            for (j, a) in e.addresses.enumerated() {
                switch addressType {
                case "IPv4":
                    if IPAddress.parse(a)?.count != 4 {
                        errs.append(.invalid(p.index(j), a, "must be a valid IPv4 address"))
                    }
                case "IPv6":
                    if IPAddress.parse(a)?.count != 16 {
                        errs.append(.invalid(p.index(j), a, "must be a valid IPv6 address"))
                    }
                case "FQDN":
                    for m in NameValidation.isDNS1123Subdomain(a) { errs.append(.invalid(p.index(j), a, m)) }
                default: break
                }
            }
        }
        return errs
    }

    /// Past the port limit nothing else about the ports is reported.
    func validatePorts() -> ErrorList {
        if ports.count > Self.maxPorts { return [.tooMany(FieldPath("ports"), ports.count, Self.maxPorts)] }
        var errs: ErrorList = []
        var names: Set<String> = []
        for (i, port) in ports.enumerated() {
            let ip = FieldPath("ports").index(i)
            let name = port.name ?? ""
            if !name.isEmpty {
                for m in NameValidation.isDNS1123Label(name) { errs.append(.invalid(ip.child("name"), name, m)) }
            }
            if !names.insert(name).inserted { errs.append(.duplicate(ip.child("name"), .string(name))) }
            if let pr = port.protocol {
                if !["SCTP", "TCP", "UDP"].contains(pr) {
                    errs.append(.notSupported(ip.child("protocol"), .string(pr), ["SCTP", "TCP", "UDP"]))
                }
            } else {
                errs.append(.required(ip.child("protocol")))
            }
            if let n = port.port {
                for m in NameValidation.isValidPortNum(n) {
                    errs.append(.invalid(ip.child("port"), .int(Int64(n)), m))
                }
            }
        }
        return errs
    }

    public func validateUpdate(from old: DiscoveryV1.EndpointSlice) -> ErrorList {
        var errs = MetaValidation.validateObjectMetaUpdate(metadata, old.metadata)
        if addressType != old.addressType {
            errs.append(MetaValidation.immutable(FieldPath("addressType"), .string(addressType)))
        }
        return errs + validate()
    }
}
