import KubernetesAPI
import Testing

/// autoscaling/v1 HorizontalPodAutoscaler: what v1 cannot hold travels in annotations whose JSON
/// has upstream's shapes. The expected strings below are written from upstream's autoscaling/v1 Go
/// types (field order and omitempty tags) and its untagged internal behavior type, not from our
/// output.
@Suite("HPA v1 annotations")
struct HPAConversionTests {
    static let time = Time(rfc3339: "2024-01-02T03:04:05Z")!

    static func cpu(_ utilization: Int32) -> Autoscaling.MetricSpec {
        Autoscaling.MetricSpec(
            type: "Resource",
            resource: Autoscaling.ResourceMetricSource(
                name: "cpu", target: Autoscaling.MetricTarget(type: "Utilization", averageUtilization: utilization)))
    }

    /// A v2-shaped object whose metrics v1 can carry without loss, the CPU target last (where a
    /// v1 round trip puts it).
    static func hub() -> Autoscaling.HorizontalPodAutoscaler {
        var h = Autoscaling.HorizontalPodAutoscaler()
        h.metadata = MetaV1.ObjectMeta(name: "web", namespace: "default", annotations: ["team": "a"])
        h.spec.scaleTargetRef = Autoscaling.CrossVersionObjectReference(
            kind: "Deployment", name: "web", apiVersion: "apps/v1")
        h.spec.minReplicas = 2
        h.spec.maxReplicas = 10
        h.spec.metrics = [
            Autoscaling.MetricSpec(
                type: "Resource",
                resource: Autoscaling.ResourceMetricSource(
                    name: "memory", target: Autoscaling.MetricTarget(type: "AverageValue", averageValue: "1Gi"))),
            Autoscaling.MetricSpec(
                type: "Pods",
                pods: Autoscaling.PodsMetricSource(
                    metric: Autoscaling.MetricIdentifier(name: "packets-per-second"),
                    target: Autoscaling.MetricTarget(type: "AverageValue", averageValue: "1k"))),
            Autoscaling.MetricSpec(
                type: "Object",
                object: Autoscaling.ObjectMetricSource(
                    describedObject: Autoscaling.CrossVersionObjectReference(
                        kind: "Ingress", name: "main-route", apiVersion: "networking.k8s.io/v1"),
                    target: Autoscaling.MetricTarget(type: "Value", value: "10k"),
                    metric: Autoscaling.MetricIdentifier(name: "requests-per-second"))),
            Autoscaling.MetricSpec(
                type: "External",
                external: Autoscaling.ExternalMetricSource(
                    metric: Autoscaling.MetricIdentifier(
                        name: "queue_messages_ready", selector: MetaV1.LabelSelector(matchLabels: ["queue": "worker"])),
                    target: Autoscaling.MetricTarget(type: "AverageValue", averageValue: "30"))),
            cpu(70),
        ]
        h.spec.behavior = Autoscaling.HorizontalPodAutoscalerBehavior(
            scaleDown: Autoscaling.HPAScalingRules(
                stabilizationWindowSeconds: 300,
                policies: [Autoscaling.HPAScalingPolicy(type: "Percent", value: 100, periodSeconds: 15)]))
        h.status.currentReplicas = 3
        h.status.desiredReplicas = 4
        h.status.currentMetrics = [
            Autoscaling.MetricStatus(
                type: "Resource",
                resource: Autoscaling.ResourceMetricStatus(
                    name: "cpu", current: Autoscaling.MetricValueStatus(averageValue: "200m", averageUtilization: 50)))
        ]
        h.status.conditions = [
            Autoscaling.HorizontalPodAutoscalerCondition(
                type: "AbleToScale", status: "True", lastTransitionTime: time, reason: "SucceededGetScale",
                message: "the HPA controller was able to get the target's current scale"),
            Autoscaling.HorizontalPodAutoscalerCondition(
                type: "ScalingActive", status: "False", reason: "FailedGetResourceMetric"),
        ]
        return h
    }

    static let metricsJSON =
        #"[{"type":"Resource","resource":{"name":"memory","targetAverageValue":"1Gi"}},"#
        + #"{"type":"Pods","pods":{"metricName":"packets-per-second","targetAverageValue":"1k"}},"#
        + #"{"type":"Object","object":{"target":{"kind":"Ingress","name":"main-route","apiVersion":"networking.k8s.io/v1"},"#
        + #""metricName":"requests-per-second","targetValue":"10k"}},"#
        + #"{"type":"External","external":{"metricName":"queue_messages_ready","#
        + #""metricSelector":{"matchLabels":{"queue":"worker"}},"targetAverageValue":"30"}}]"#
    static let currentMetricsJSON =
        #"[{"type":"Resource","resource":{"name":"cpu","currentAverageUtilization":50,"currentAverageValue":"200m"}}]"#
    static let conditionsJSON =
        #"[{"type":"AbleToScale","status":"True","lastTransitionTime":"2024-01-02T03:04:05Z","#
        + #""reason":"SucceededGetScale","message":"the HPA controller was able to get the target's current scale"},"#
        + #"{"type":"ScalingActive","status":"False","lastTransitionTime":null,"reason":"FailedGetResourceMetric"}]"#
    static let behaviorJSON =
        #"{"ScaleUp":null,"ScaleDown":{"StabilizationWindowSeconds":300,"SelectPolicy":null,"#
        + #""Policies":[{"Type":"Percent","Value":100,"PeriodSeconds":15}],"Tolerance":null}}"#

    @Test("a v1 client sees upstream's annotation JSON: v1 metric types, v1 conditions, untagged behavior")
    func writesUpstreamShapes() {
        let v1 = AutoscalingV1.HorizontalPodAutoscaler(hub: Self.hub())
        #expect(v1.spec.targetCPUUtilizationPercentage == 70)
        #expect(v1.status.currentCPUUtilizationPercentage == 50)
        let a = v1.metadata.annotations
        #expect(a["autoscaling.alpha.kubernetes.io/metrics"] == Self.metricsJSON)
        #expect(a["autoscaling.alpha.kubernetes.io/current-metrics"] == Self.currentMetricsJSON)
        #expect(a["autoscaling.alpha.kubernetes.io/conditions"] == Self.conditionsJSON)
        #expect(a["autoscaling.alpha.kubernetes.io/behavior"] == Self.behaviorJSON)
        #expect(a["team"] == "a")
        #expect(a.count == 5)
    }

    @Test("v2 → v1 → v2 loses nothing, and the annotations do not leak into the hub")
    func roundTrip() {
        let h = Self.hub()
        let back = AutoscalingV1.HorizontalPodAutoscaler(hub: h).toHub()
        #expect(back == h)
        #expect(back.metadata.annotations == ["team": "a"])
    }

    @Test("reading upstream-written annotations gives the v2 structure (the CPU target after the others)")
    func readsUpstreamShapes() {
        var v1 = AutoscalingV1.HorizontalPodAutoscaler()
        v1.metadata.annotations = [
            "autoscaling.alpha.kubernetes.io/metrics":
                #"[{"type":"Resource","resource":{"name":"memory","targetAverageValue":"1Gi"}}]"#,
            "autoscaling.alpha.kubernetes.io/current-metrics": Self.currentMetricsJSON,
            // Go's decoder matches keys regardless of case, so camelCase behavior reads too.
            "autoscaling.alpha.kubernetes.io/behavior": #"{"scaleUp":{"selectPolicy":"Disabled"}}"#,
        ]
        v1.spec.targetCPUUtilizationPercentage = 60
        let h = v1.toHub()
        #expect(h.spec.metrics.map(\.type) == ["Resource", "Resource"])
        #expect(h.spec.metrics[0].resource?.name == "memory")
        #expect(
            h.spec.metrics[0].resource?.target == Autoscaling.MetricTarget(type: "AverageValue", averageValue: "1Gi"))
        #expect(h.spec.metrics[1] == Self.cpu(60))
        #expect(h.status.currentMetrics[0].resource?.current.averageValue == "200m")
        #expect(h.status.currentMetrics[0].resource?.current.averageUtilization == 50)
        #expect(h.spec.behavior?.scaleUp?.selectPolicy == "Disabled")
        #expect(h.spec.behavior?.scaleDown == nil)
        #expect(h.metadata.annotations.isEmpty)
    }

    @Test("a v1 object without a CPU target or other metrics gets upstream's implicit 80% CPU target")
    func implicitDefault() {
        var v1 = AutoscalingV1.HorizontalPodAutoscaler()
        v1.spec.maxReplicas = 3
        #expect(v1.toHub().spec.metrics == [Self.cpu(80)])
    }
}
