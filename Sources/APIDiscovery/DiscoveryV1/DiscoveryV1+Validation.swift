import APIMachinery

extension DiscoveryV1.EndpointSlice: Validated {
    public static let maxEndpoints = 1000
    public static let maxPorts = 20000

    public func validate() -> ErrorList {
        var errs = MetaValidation.validateObjectMeta(metadata, namespaced: true, nameRule: .dns1123Subdomain)
        let types = ["IPv4", "IPv6", "FQDN"]
        if !types.contains(addressType) {
            errs.append(.notSupported(FieldPath("addressType"), .string(addressType), types))
        }
        if endpoints.count > Self.maxEndpoints {
            errs.append(.tooMany(FieldPath("endpoints"), endpoints.count, Self.maxEndpoints))
        }
        for (i, e) in endpoints.enumerated() {
            let p = FieldPath("endpoints").index(i).child("addresses")
            if e.addresses.isEmpty || e.addresses.count > 100 {
                errs.append(
                    .invalid(
                        p, .int(Int64(e.addresses.count)), "must contain at least 1 and no more than 100 addresses"))
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
                default:
                    for m in NameValidation.isDNS1123Subdomain(a) { errs.append(.invalid(p.index(j), a, m)) }
                }
            }
        }
        for (i, port) in ports.enumerated() {
            if let n = port.port {
                for m in NameValidation.isValidPortNum(n) {
                    errs.append(.invalid(FieldPath("ports").index(i).child("port"), .int(Int64(n)), m))
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
