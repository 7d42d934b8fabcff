import APIMachinery

extension AutoscalingV2.HorizontalPodAutoscaler {
    /// SetDefaults_HorizontalPodAutoscaler: one replica minimum, 80% CPU when no metrics are given,
    /// and upstream's scaling behavior rules.
    public mutating func setDefaults() {
        if spec.minReplicas == nil { spec.minReplicas = 1 }
        if spec.metrics.isEmpty {
            spec.metrics = [
                AutoscalingV2.MetricSpec(
                    type: "Resource",
                    resource: AutoscalingV2.ResourceMetricSource(
                        name: "cpu", target: AutoscalingV2.MetricTarget(type: "Utilization", averageUtilization: 80)))
            ]
        }
        if var behavior = spec.behavior {
            behavior.scaleUp = Self.defaultRules(behavior.scaleUp, up: true)
            behavior.scaleDown = Self.defaultRules(behavior.scaleDown, up: false)
            spec.behavior = behavior
        }
    }

    static func defaultRules(_ rules: AutoscalingV2.HPAScalingRules?, up: Bool) -> AutoscalingV2.HPAScalingRules {
        var r = rules ?? AutoscalingV2.HPAScalingRules()
        if r.stabilizationWindowSeconds == nil { r.stabilizationWindowSeconds = up ? 0 : 300 }
        if r.selectPolicy == nil { r.selectPolicy = "Max" }
        if r.policies.isEmpty {
            if up {
                r.policies = [
                    AutoscalingV2.HPAScalingPolicy(type: "Pods", value: 4, periodSeconds: 15),
                    AutoscalingV2.HPAScalingPolicy(type: "Percent", value: 100, periodSeconds: 15),
                ]
            } else {
                r.policies = [AutoscalingV2.HPAScalingPolicy(type: "Percent", value: 100, periodSeconds: 15)]
            }
        }
        return r
    }
}
