import APIMachinery

// Defaulting hooks of networking.k8s.io/v1, mirroring upstream's SetDefaults_* functions.

extension NetworkingV1.NetworkPolicyPort {
    public mutating func setDefaults() {
        if `protocol` == nil { `protocol` = "TCP" }
    }
}

extension NetworkingV1.NetworkPolicy {
    /// Policy types default to Ingress, plus Egress when egress rules exist.
    public mutating func setDefaults() {
        if spec.policyTypes.isEmpty {
            var types = ["Ingress"]
            if !spec.egress.isEmpty { types.append("Egress") }
            spec.policyTypes = types
        }
    }
}

extension NetworkingV1.IngressClass {
    public mutating func setDefaults() {
        if spec.parameters != nil && spec.parameters?.scope == nil { spec.parameters?.scope = "Cluster" }
    }
}
