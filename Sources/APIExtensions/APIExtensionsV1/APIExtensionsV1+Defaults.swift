import APIMachinery

// Defaulting hooks of apiextensions.k8s.io/v1, mirroring upstream's SetDefaults_* functions.

extension APIExtensionsV1.CustomResourceDefinition {
    public mutating func setDefaults() {
        if spec.conversion == nil { spec.conversion = APIExtensionsV1.CustomResourceConversion(strategy: "None") }
    }
}

extension APIExtensionsV1.CustomResourceDefinitionNames {
    public mutating func setDefaults() {
        if listKind.isEmpty && !kind.isEmpty { listKind = kind + "List" }
        if singular.isEmpty { singular = kind.lowercased() }
    }
}

extension APIExtensionsV1.ServiceReference {
    public mutating func setDefaults() {
        if port == nil { port = 443 }
    }
}
