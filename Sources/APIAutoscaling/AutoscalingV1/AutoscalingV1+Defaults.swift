import APIMachinery

extension AutoscalingV1.HorizontalPodAutoscaler {
    public mutating func setDefaults() {
        if spec.minReplicas == nil { spec.minReplicas = 1 }
    }
}
