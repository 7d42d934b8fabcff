import APIMachinery

// Hand-written conversion of autoscaling/v1 HorizontalPodAutoscaler to and from the hub (shaped
// like autoscaling/v2). v1 has a single CPU utilization target; everything else the hub holds
// travels in annotations so that a v1 client's read-modify-write loses nothing.

extension AutoscalingV1.HorizontalPodAutoscaler: HubConvertible {
    static let metricsAnnotation = "autoscaling.alpha.kubernetes.io/metrics"
    static let currentMetricsAnnotation = "autoscaling.alpha.kubernetes.io/current-metrics"
    static let conditionsAnnotation = "autoscaling.alpha.kubernetes.io/conditions"
    static let behaviorAnnotation = "autoscaling.alpha.kubernetes.io/behavior"
    static let annotations = [metricsAnnotation, currentMetricsAnnotation, conditionsAnnotation, behaviorAnnotation]

    static func encode<T: JSONEncodableValue>(_ v: T) -> String {
        var w = JSONWriter()
        v.encodeJSON(&w)
        return String(decoding: w.bytes, as: UTF8.self)
    }

    static func decode<T: JSONDecodableValue>(_ s: String?) -> T? {
        guard let s else { return nil }
        return try? JSONReader.decode(T.self, from: Array(s.utf8))
    }

    static func isCPUUtilization(_ m: Autoscaling.MetricSpec) -> Bool {
        m.type == "Resource" && m.resource?.name == "cpu" && m.resource?.target.type == "Utilization"
    }

    public func toHub() -> Autoscaling.HorizontalPodAutoscaler {
        var o = Autoscaling.HorizontalPodAutoscaler()
        o.kind = kind
        o.apiVersion = apiVersion
        o.metadata = metadata
        for a in Self.annotations { o.metadata.annotations[a] = nil }
        o.spec.scaleTargetRef = Autoscaling.CrossVersionObjectReference(
            kind: spec.scaleTargetRef.kind, name: spec.scaleTargetRef.name, apiVersion: spec.scaleTargetRef.apiVersion)
        o.spec.minReplicas = spec.minReplicas
        o.spec.maxReplicas = spec.maxReplicas
        var metrics: [Autoscaling.MetricSpec] = Self.decode(metadata.annotations[Self.metricsAnnotation]) ?? []
        if let cpu = spec.targetCPUUtilizationPercentage {
            metrics.insert(
                Autoscaling.MetricSpec(
                    type: "Resource",
                    resource: Autoscaling.ResourceMetricSource(
                        name: "cpu", target: Autoscaling.MetricTarget(type: "Utilization", averageUtilization: cpu))),
                at: 0)
        }
        o.spec.metrics = metrics
        o.spec.behavior = Self.decode(metadata.annotations[Self.behaviorAnnotation])
        o.status.observedGeneration = status.observedGeneration
        o.status.lastScaleTime = status.lastScaleTime
        o.status.currentReplicas = status.currentReplicas
        o.status.desiredReplicas = status.desiredReplicas
        var current: [Autoscaling.MetricStatus] = Self.decode(metadata.annotations[Self.currentMetricsAnnotation]) ?? []
        if let cpu = status.currentCPUUtilizationPercentage {
            current.insert(
                Autoscaling.MetricStatus(
                    type: "Resource",
                    resource: Autoscaling.ResourceMetricStatus(
                        name: "cpu", current: Autoscaling.MetricValueStatus(averageUtilization: cpu))),
                at: 0)
        }
        o.status.currentMetrics = current
        o.status.conditions = Self.decode(metadata.annotations[Self.conditionsAnnotation]) ?? []
        return o
    }

    public init(hub h: Autoscaling.HorizontalPodAutoscaler) {
        self.init()
        kind = h.kind
        apiVersion = h.apiVersion
        metadata = h.metadata
        spec.scaleTargetRef = AutoscalingV1.CrossVersionObjectReference(
            kind: h.spec.scaleTargetRef.kind, name: h.spec.scaleTargetRef.name,
            apiVersion: h.spec.scaleTargetRef.apiVersion)
        spec.minReplicas = h.spec.minReplicas
        spec.maxReplicas = h.spec.maxReplicas
        var others: [Autoscaling.MetricSpec] = []
        for m in h.spec.metrics {
            if spec.targetCPUUtilizationPercentage == nil && Self.isCPUUtilization(m) {
                spec.targetCPUUtilizationPercentage = m.resource?.target.averageUtilization
            } else {
                others.append(m)
            }
        }
        if !others.isEmpty { metadata.annotations[Self.metricsAnnotation] = Self.encode(others) }
        if let b = h.spec.behavior { metadata.annotations[Self.behaviorAnnotation] = Self.encode(b) }
        status.observedGeneration = h.status.observedGeneration
        status.lastScaleTime = h.status.lastScaleTime
        status.currentReplicas = h.status.currentReplicas
        status.desiredReplicas = h.status.desiredReplicas
        var otherStatus: [Autoscaling.MetricStatus] = []
        for m in h.status.currentMetrics {
            if status.currentCPUUtilizationPercentage == nil && m.type == "Resource" && m.resource?.name == "cpu",
                let u = m.resource?.current.averageUtilization
            {
                status.currentCPUUtilizationPercentage = u
            } else {
                otherStatus.append(m)
            }
        }
        if !otherStatus.isEmpty { metadata.annotations[Self.currentMetricsAnnotation] = Self.encode(otherStatus) }
        if !h.status.conditions.isEmpty {
            metadata.annotations[Self.conditionsAnnotation] = Self.encode(h.status.conditions)
        }
    }
}
