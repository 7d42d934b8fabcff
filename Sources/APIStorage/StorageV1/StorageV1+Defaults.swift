import APIMachinery

// Defaulting hooks of storage.k8s.io/v1, mirroring upstream's SetDefaults_* functions.

extension StorageV1.StorageClass {
    public mutating func setDefaults() {
        if reclaimPolicy == nil { reclaimPolicy = "Delete" }
        if volumeBindingMode == nil { volumeBindingMode = "Immediate" }
    }
}

extension StorageV1.CSIDriver {
    public mutating func setDefaults() {
        if spec.attachRequired == nil { spec.attachRequired = true }
        if spec.podInfoOnMount == nil { spec.podInfoOnMount = false }
        if spec.storageCapacity == nil { spec.storageCapacity = false }
        if spec.fsGroupPolicy == nil { spec.fsGroupPolicy = "ReadWriteOnceWithFSType" }
        if spec.volumeLifecycleModes.isEmpty { spec.volumeLifecycleModes = ["Persistent"] }
        if spec.requiresRepublish == nil { spec.requiresRepublish = false }
        if spec.seLinuxMount == nil { spec.seLinuxMount = false }
    }
}
