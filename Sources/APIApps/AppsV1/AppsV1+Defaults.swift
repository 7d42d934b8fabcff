import APIMachinery

// Defaulting hooks of apps/v1, mirroring upstream's SetDefaults_* functions.

extension AppsV1.Deployment {
    /// SetDefaults_Deployment.
    public mutating func setDefaults() {
        if spec.replicas == nil { spec.replicas = 1 }
        if spec.strategy.type.isEmpty { spec.strategy.type = "RollingUpdate" }
        if spec.strategy.type == "RollingUpdate" {
            var ru = spec.strategy.rollingUpdate ?? AppsV1.RollingUpdateDeployment()
            if ru.maxUnavailable == nil { ru.maxUnavailable = .string("25%") }
            if ru.maxSurge == nil { ru.maxSurge = .string("25%") }
            spec.strategy.rollingUpdate = ru
        }
        if spec.revisionHistoryLimit == nil { spec.revisionHistoryLimit = 10 }
        if spec.progressDeadlineSeconds == nil { spec.progressDeadlineSeconds = 600 }
    }
}

extension AppsV1.ReplicaSet {
    public mutating func setDefaults() {
        if spec.replicas == nil { spec.replicas = 1 }
    }
}

extension AppsV1.DaemonSet {
    /// SetDefaults_DaemonSet.
    public mutating func setDefaults() {
        if spec.updateStrategy.type.isEmpty { spec.updateStrategy.type = "RollingUpdate" }
        if spec.updateStrategy.type == "RollingUpdate" {
            var ru = spec.updateStrategy.rollingUpdate ?? AppsV1.RollingUpdateDaemonSet()
            if ru.maxUnavailable == nil { ru.maxUnavailable = .int(1) }
            if ru.maxSurge == nil { ru.maxSurge = .int(0) }
            spec.updateStrategy.rollingUpdate = ru
        }
        if spec.revisionHistoryLimit == nil { spec.revisionHistoryLimit = 10 }
    }
}

extension AppsV1.StatefulSet {
    /// SetDefaults_StatefulSet (MaxUnavailableStatefulSet is off by default: no maxUnavailable default).
    public mutating func setDefaults() {
        if spec.podManagementPolicy.isEmpty { spec.podManagementPolicy = "OrderedReady" }
        if spec.updateStrategy.type.isEmpty { spec.updateStrategy.type = "RollingUpdate" }
        if spec.updateStrategy.type == "RollingUpdate" {
            var ru = spec.updateStrategy.rollingUpdate ?? AppsV1.RollingUpdateStatefulSetStrategy()
            if ru.partition == nil { ru.partition = 0 }
            spec.updateStrategy.rollingUpdate = ru
        }
        var policy =
            spec.persistentVolumeClaimRetentionPolicy ?? AppsV1.StatefulSetPersistentVolumeClaimRetentionPolicy()
        if policy.whenDeleted.isEmpty { policy.whenDeleted = "Retain" }
        if policy.whenScaled.isEmpty { policy.whenScaled = "Retain" }
        spec.persistentVolumeClaimRetentionPolicy = policy
        if spec.replicas == nil { spec.replicas = 1 }
        if spec.revisionHistoryLimit == nil { spec.revisionHistoryLimit = 10 }
    }
}
