import APIMachinery

extension DiscoveryV1.EndpointPort {
    public mutating func setDefaults() {
        if name == nil { name = "" }
        if `protocol` == nil { `protocol` = "TCP" }
    }
}
