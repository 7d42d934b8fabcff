import APIMachinery

// Defaulting hooks of flowcontrol.apiserver.k8s.io/v1, mirroring upstream's SetDefaults_* functions.

extension FlowControlV1.FlowSchemaSpec {
    public mutating func setDefaults() {
        if matchingPrecedence == 0 { matchingPrecedence = 1000 }
    }
}

extension FlowControlV1.LimitedPriorityLevelConfiguration {
    public mutating func setDefaults() {
        if nominalConcurrencyShares == nil { nominalConcurrencyShares = 30 }
        if lendablePercent == nil { lendablePercent = 0 }
    }
}

extension FlowControlV1.ExemptPriorityLevelConfiguration {
    public mutating func setDefaults() {
        if nominalConcurrencyShares == nil { nominalConcurrencyShares = 0 }
        if lendablePercent == nil { lendablePercent = 0 }
    }
}

extension FlowControlV1.QueuingConfiguration {
    public mutating func setDefaults() {
        if queues == 0 { queues = 64 }
        if handSize == 0 { handSize = 8 }
        if queueLengthLimit == 0 { queueLengthLimit = 50 }
    }
}
