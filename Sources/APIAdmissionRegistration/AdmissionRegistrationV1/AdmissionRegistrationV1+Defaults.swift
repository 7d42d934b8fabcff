import APIMachinery

// Defaulting hooks of admissionregistration.k8s.io/v1, mirroring upstream's SetDefaults_* functions.

extension AdmissionRegistrationV1.ValidatingWebhook {
    public mutating func setDefaults() {
        if failurePolicy == nil { failurePolicy = "Fail" }
        if matchPolicy == nil { matchPolicy = "Equivalent" }
        if namespaceSelector == nil { namespaceSelector = MetaV1.LabelSelector() }
        if objectSelector == nil { objectSelector = MetaV1.LabelSelector() }
        if timeoutSeconds == nil { timeoutSeconds = 10 }
    }
}

extension AdmissionRegistrationV1.MutatingWebhook {
    public mutating func setDefaults() {
        if failurePolicy == nil { failurePolicy = "Fail" }
        if matchPolicy == nil { matchPolicy = "Equivalent" }
        if reinvocationPolicy == nil { reinvocationPolicy = "Never" }
        if namespaceSelector == nil { namespaceSelector = MetaV1.LabelSelector() }
        if objectSelector == nil { objectSelector = MetaV1.LabelSelector() }
        if timeoutSeconds == nil { timeoutSeconds = 10 }
    }
}

extension AdmissionRegistrationV1.Rule {
    public mutating func setDefaults() {
        if scope == nil { scope = "*" }
    }
}

extension AdmissionRegistrationV1.ServiceReference {
    public mutating func setDefaults() {
        if port == nil { port = 443 }
    }
}

extension AdmissionRegistrationV1.ValidatingAdmissionPolicySpec {
    public mutating func setDefaults() {
        if failurePolicy == nil { failurePolicy = "Fail" }
    }
}

extension AdmissionRegistrationV1.MatchResources {
    public mutating func setDefaults() {
        if matchPolicy == nil { matchPolicy = "Equivalent" }
        if namespaceSelector == nil { namespaceSelector = MetaV1.LabelSelector() }
        if objectSelector == nil { objectSelector = MetaV1.LabelSelector() }
    }
}
