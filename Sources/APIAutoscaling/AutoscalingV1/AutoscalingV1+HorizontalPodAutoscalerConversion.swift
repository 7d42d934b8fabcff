import APIMachinery

// Hand-written conversion of autoscaling/v1 HorizontalPodAutoscaler to and from the hub (shaped
// like autoscaling/v2). v1 has a single CPU utilization target; everything else the hub holds
// travels in annotations so that a v1 client's read-modify-write loses nothing.
//
// The annotation values have upstream's shapes, so a v1 client sees the bytes upstream shows:
// metrics, current metrics and conditions are lists of the autoscaling/v1 Go types (MetricSpec
// with `targetAverageUtilization`, `metricName`, …; these exist in Go but not in OpenAPI), and
// behavior is upstream's internal type marshalled without JSON tags (`{"ScaleUp":…}`).

extension AutoscalingV1.HorizontalPodAutoscaler: HubConvertible {
    static let metricsAnnotation = "autoscaling.alpha.kubernetes.io/metrics"
    static let currentMetricsAnnotation = "autoscaling.alpha.kubernetes.io/current-metrics"
    static let conditionsAnnotation = "autoscaling.alpha.kubernetes.io/conditions"
    static let behaviorAnnotation = "autoscaling.alpha.kubernetes.io/behavior"
    static let annotations = [metricsAnnotation, currentMetricsAnnotation, conditionsAnnotation, behaviorAnnotation]

    /// Upstream's implicit v1 target when an HPA names no metric at all.
    static let defaultCPUUtilization: Int32 = 80

    static func isCPU(_ m: Autoscaling.MetricSpec) -> Bool {
        m.type == "Resource" && m.resource?.name == "cpu"
    }

    static func parse(_ s: String?) -> JSONValue? {
        guard let s else { return nil }
        return try? JSONValue.parse(Array(s.utf8))
    }

    static func text(_ v: JSONValue) -> String { String(decoding: v.jsonBytes, as: UTF8.self) }

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
        var metrics: [Autoscaling.MetricSpec] = []
        if let cpu = spec.targetCPUUtilizationPercentage { metrics = [HPAV1Shape.cpuTarget(cpu)] }
        if case .array(let items)? = Self.parse(metadata.annotations[Self.metricsAnnotation]) {
            // As upstream: the annotation's metrics first, then the one v1 field.
            metrics = items.map(HPAV1Shape.metricSpec) + metrics
        }
        if metrics.isEmpty { metrics = [HPAV1Shape.cpuTarget(Self.defaultCPUUtilization)] }
        o.spec.metrics = metrics
        if let b = Self.parse(metadata.annotations[Self.behaviorAnnotation]).flatMap(HPAV1Shape.behavior) {
            o.spec.behavior = b
        }
        o.status.observedGeneration = status.observedGeneration
        o.status.lastScaleTime = status.lastScaleTime
        o.status.currentReplicas = status.currentReplicas
        o.status.desiredReplicas = status.desiredReplicas
        if let cpu = status.currentCPUUtilizationPercentage {
            o.status.currentMetrics = [
                Autoscaling.MetricStatus(
                    type: "Resource",
                    resource: Autoscaling.ResourceMetricStatus(
                        name: "cpu", current: Autoscaling.MetricValueStatus(averageUtilization: cpu)))
            ]
        }
        if case .array(let items)? = Self.parse(metadata.annotations[Self.currentMetricsAnnotation]) {
            // The annotation holds every current metric, the CPU one included.
            o.status.currentMetrics = items.map(HPAV1Shape.metricStatus)
        }
        if case .array(let items)? = Self.parse(metadata.annotations[Self.conditionsAnnotation]) {
            o.status.conditions = items.map(HPAV1Shape.condition)
        }
        return o
    }

    public init(hub h: Autoscaling.HorizontalPodAutoscaler) {
        self.init()
        kind = h.kind
        apiVersion = h.apiVersion
        metadata = h.metadata
        for a in Self.annotations { metadata.annotations[a] = nil }
        spec.scaleTargetRef = AutoscalingV1.CrossVersionObjectReference(
            kind: h.spec.scaleTargetRef.kind, name: h.spec.scaleTargetRef.name,
            apiVersion: h.spec.scaleTargetRef.apiVersion)
        spec.minReplicas = h.spec.minReplicas
        spec.maxReplicas = h.spec.maxReplicas
        // The first CPU resource metric decides the v1 field; every CPU utilization target is
        // left out of the annotation, as upstream does.
        if let cpu = h.spec.metrics.first(where: Self.isCPU) {
            spec.targetCPUUtilizationPercentage = cpu.resource?.target.averageUtilization
        }
        let others = h.spec.metrics.filter { !(Self.isCPU($0) && $0.resource?.target.averageUtilization != nil) }
        if !others.isEmpty {
            metadata.annotations[Self.metricsAnnotation] = Self.text(.array(others.map(HPAV1Shape.json)))
        }
        if let b = h.spec.behavior { metadata.annotations[Self.behaviorAnnotation] = Self.text(HPAV1Shape.json(b)) }
        status.observedGeneration = h.status.observedGeneration
        status.lastScaleTime = h.status.lastScaleTime
        status.currentReplicas = h.status.currentReplicas
        status.desiredReplicas = h.status.desiredReplicas
        for m in h.status.currentMetrics where m.type == "Resource" && m.resource?.name == "cpu" {
            if let u = m.resource?.current.averageUtilization { status.currentCPUUtilizationPercentage = u }
        }
        if !h.status.currentMetrics.isEmpty {
            metadata.annotations[Self.currentMetricsAnnotation] = Self.text(
                .array(h.status.currentMetrics.map(HPAV1Shape.json)))
        }
        if !h.status.conditions.isEmpty {
            metadata.annotations[Self.conditionsAnnotation] = Self.text(
                .array(h.status.conditions.map(HPAV1Shape.json)))
        }
    }
}

/// The JSON of upstream's autoscaling/v1 metric and condition types, and of its internal behavior
/// type, written from and read into the hub's types.
enum HPAV1Shape {
    typealias Members = [(key: String, value: JSONValue)]

    static func cpuTarget(_ utilization: Int32) -> Autoscaling.MetricSpec {
        Autoscaling.MetricSpec(
            type: "Resource",
            resource: Autoscaling.ResourceMetricSource(
                name: "cpu", target: Autoscaling.MetricTarget(type: "Utilization", averageUtilization: utilization)))
    }

    // MARK: Writing

    static func value<T: JSONEncodableValue>(_ v: T) -> JSONValue {
        var w = JSONWriter()
        v.encodeJSON(&w)
        return (try? JSONValue.parse(w.bytes)) ?? .null
    }

    static func quantity(_ q: Quantity?) -> JSONValue { value(q ?? Quantity()) }

    static func reference(_ r: Autoscaling.CrossVersionObjectReference) -> JSONValue {
        var o: Members = [("kind", .string(r.kind)), ("name", .string(r.name))]
        if !r.apiVersion.isEmpty { o.append(("apiVersion", .string(r.apiVersion))) }
        return .object(o)
    }

    static func append(_ o: inout Members, _ key: String, _ v: JSONValue?) {
        if let v { o.append((key, v)) }
    }

    static func json(_ m: Autoscaling.MetricSpec) -> JSONValue {
        var o: Members = [("type", .string(m.type))]
        if let s = m.object {
            var x: Members = [
                ("target", reference(s.describedObject)), ("metricName", .string(s.metric.name)),
                ("targetValue", quantity(s.target.value)),
            ]
            append(&x, "selector", s.metric.selector.map(value))
            append(&x, "averageValue", s.target.averageValue.map(value))
            o.append(("object", .object(x)))
        }
        if let s = m.pods {
            var x: Members = [
                ("metricName", .string(s.metric.name)), ("targetAverageValue", quantity(s.target.averageValue)),
            ]
            append(&x, "selector", s.metric.selector.map(value))
            o.append(("pods", .object(x)))
        }
        if let s = m.resource {
            var x: Members = [("name", .string(s.name))]
            append(&x, "targetAverageUtilization", s.target.averageUtilization.map { .number(String($0)) })
            append(&x, "targetAverageValue", s.target.averageValue.map(value))
            o.append(("resource", .object(x)))
        }
        if let s = m.containerResource {
            var x: Members = [("name", .string(s.name))]
            append(&x, "targetAverageUtilization", s.target.averageUtilization.map { .number(String($0)) })
            append(&x, "targetAverageValue", s.target.averageValue.map(value))
            x.append(("container", .string(s.container)))
            o.append(("containerResource", .object(x)))
        }
        if let s = m.external {
            var x: Members = [("metricName", .string(s.metric.name))]
            append(&x, "metricSelector", s.metric.selector.map(value))
            append(&x, "targetValue", s.target.value.map(value))
            append(&x, "targetAverageValue", s.target.averageValue.map(value))
            o.append(("external", .object(x)))
        }
        return .object(o)
    }

    static func json(_ m: Autoscaling.MetricStatus) -> JSONValue {
        var o: Members = [("type", .string(m.type))]
        if let s = m.object {
            var x: Members = [
                ("target", reference(s.describedObject)), ("metricName", .string(s.metric.name)),
                ("currentValue", quantity(s.current.value)),
            ]
            append(&x, "selector", s.metric.selector.map(value))
            append(&x, "averageValue", s.current.averageValue.map(value))
            o.append(("object", .object(x)))
        }
        if let s = m.pods {
            var x: Members = [
                ("metricName", .string(s.metric.name)), ("currentAverageValue", quantity(s.current.averageValue)),
            ]
            append(&x, "selector", s.metric.selector.map(value))
            o.append(("pods", .object(x)))
        }
        if let s = m.resource {
            var x: Members = [("name", .string(s.name))]
            append(&x, "currentAverageUtilization", s.current.averageUtilization.map { .number(String($0)) })
            x.append(("currentAverageValue", quantity(s.current.averageValue)))
            o.append(("resource", .object(x)))
        }
        if let s = m.containerResource {
            var x: Members = [("name", .string(s.name))]
            append(&x, "currentAverageUtilization", s.current.averageUtilization.map { .number(String($0)) })
            x.append(("currentAverageValue", quantity(s.current.averageValue)))
            x.append(("container", .string(s.container)))
            o.append(("containerResource", .object(x)))
        }
        if let s = m.external {
            var x: Members = [("metricName", .string(s.metric.name))]
            append(&x, "metricSelector", s.metric.selector.map(value))
            x.append(("currentValue", quantity(s.current.value)))
            append(&x, "currentAverageValue", s.current.averageValue.map(value))
            o.append(("external", .object(x)))
        }
        return .object(o)
    }

    static func json(_ c: Autoscaling.HorizontalPodAutoscalerCondition) -> JSONValue {
        // Go's omitempty never omits a struct, so an unset time is written as null.
        var o: Members = [
            ("type", .string(c.type)), ("status", .string(c.status)),
            ("lastTransitionTime", c.lastTransitionTime.map(value) ?? .null),
        ]
        if !c.reason.isEmpty { o.append(("reason", .string(c.reason))) }
        if !c.message.isEmpty { o.append(("message", .string(c.message))) }
        return .object(o)
    }

    /// Upstream's internal behavior type has no JSON tags: Go field names, and null for unset.
    static func json(_ b: Autoscaling.HorizontalPodAutoscalerBehavior) -> JSONValue {
        func rules(_ r: Autoscaling.HPAScalingRules?) -> JSONValue {
            guard let r else { return .null }
            let policies: JSONValue =
                r.policies.isEmpty
                ? .null
                : .array(
                    r.policies.map {
                        .object([
                            ("Type", .string($0.type)), ("Value", .number(String($0.value))),
                            ("PeriodSeconds", .number(String($0.periodSeconds))),
                        ])
                    })
            return .object([
                ("StabilizationWindowSeconds", r.stabilizationWindowSeconds.map { .number(String($0)) } ?? .null),
                ("SelectPolicy", r.selectPolicy.map { .string($0) } ?? .null),
                ("Policies", policies),
                ("Tolerance", r.tolerance.map(value) ?? .null),
            ])
        }
        return .object([("ScaleUp", rules(b.scaleUp)), ("ScaleDown", rules(b.scaleDown))])
    }

    // MARK: Reading (Go's decoder matches keys case-insensitively; so does this)

    static func field(_ v: JSONValue?, _ key: String) -> JSONValue? {
        guard case .object(let pairs)? = v else { return nil }
        if let exact = pairs.first(where: { $0.key == key }) { return exact.value }
        let lower = key.lowercased()
        return pairs.first { $0.key.lowercased() == lower }?.value
    }

    static func typed<T: JSONDecodableValue>(_ v: JSONValue?) -> T? {
        guard let v, v != .null else { return nil }
        return try? JSONReader.decode(T.self, from: v.jsonBytes)
    }

    static func string(_ v: JSONValue?, _ key: String) -> String { field(v, key)?.stringValue ?? "" }

    static func int32(_ v: JSONValue?, _ key: String) -> Int32? {
        guard case .number(let n)? = field(v, key) else { return nil }
        return Int32(n)
    }

    static func reference(_ v: JSONValue?) -> Autoscaling.CrossVersionObjectReference {
        Autoscaling.CrossVersionObjectReference(
            kind: string(v, "kind"), name: string(v, "name"), apiVersion: string(v, "apiVersion"))
    }

    static func metricSpec(_ v: JSONValue) -> Autoscaling.MetricSpec {
        var m = Autoscaling.MetricSpec()
        m.type = string(v, "type")
        if let s = field(v, "object"), s != .null {
            let average: Quantity? = typed(field(s, "averageValue"))
            m.object = Autoscaling.ObjectMetricSource(
                describedObject: reference(field(s, "target")),
                target: Autoscaling.MetricTarget(
                    type: average == nil ? "Value" : "AverageValue",
                    value: typed(field(s, "targetValue")) ?? Quantity(), averageValue: average),
                metric: Autoscaling.MetricIdentifier(
                    name: string(s, "metricName"), selector: typed(field(s, "selector"))))
        }
        if let s = field(v, "pods"), s != .null {
            m.pods = Autoscaling.PodsMetricSource(
                metric: Autoscaling.MetricIdentifier(
                    name: string(s, "metricName"), selector: typed(field(s, "selector"))),
                target: Autoscaling.MetricTarget(
                    type: "AverageValue", averageValue: typed(field(s, "targetAverageValue")) ?? Quantity()))
        }
        if let s = field(v, "resource"), s != .null {
            let utilization = int32(s, "targetAverageUtilization")
            m.resource = Autoscaling.ResourceMetricSource(
                name: string(s, "name"),
                target: Autoscaling.MetricTarget(
                    type: utilization == nil ? "AverageValue" : "Utilization",
                    averageValue: typed(field(s, "targetAverageValue")), averageUtilization: utilization))
        }
        if let s = field(v, "containerResource"), s != .null {
            let utilization = int32(s, "targetAverageUtilization")
            m.containerResource = Autoscaling.ContainerResourceMetricSource(
                name: string(s, "name"),
                target: Autoscaling.MetricTarget(
                    type: utilization == nil ? "AverageValue" : "Utilization",
                    averageValue: typed(field(s, "targetAverageValue")), averageUtilization: utilization),
                container: string(s, "container"))
        }
        if let s = field(v, "external"), s != .null {
            let value: Quantity? = typed(field(s, "targetValue"))
            m.external = Autoscaling.ExternalMetricSource(
                metric: Autoscaling.MetricIdentifier(
                    name: string(s, "metricName"), selector: typed(field(s, "metricSelector"))),
                target: Autoscaling.MetricTarget(
                    type: value == nil ? "AverageValue" : "Value", value: value,
                    averageValue: typed(field(s, "targetAverageValue"))))
        }
        return m
    }

    static func metricStatus(_ v: JSONValue) -> Autoscaling.MetricStatus {
        var m = Autoscaling.MetricStatus()
        m.type = string(v, "type")
        if let s = field(v, "object"), s != .null {
            m.object = Autoscaling.ObjectMetricStatus(
                metric: Autoscaling.MetricIdentifier(
                    name: string(s, "metricName"), selector: typed(field(s, "selector"))),
                current: Autoscaling.MetricValueStatus(
                    value: typed(field(s, "currentValue")) ?? Quantity(), averageValue: typed(field(s, "averageValue"))),
                describedObject: reference(field(s, "target")))
        }
        if let s = field(v, "pods"), s != .null {
            m.pods = Autoscaling.PodsMetricStatus(
                metric: Autoscaling.MetricIdentifier(
                    name: string(s, "metricName"), selector: typed(field(s, "selector"))),
                current: Autoscaling.MetricValueStatus(
                    averageValue: typed(field(s, "currentAverageValue")) ?? Quantity()))
        }
        if let s = field(v, "resource"), s != .null {
            m.resource = Autoscaling.ResourceMetricStatus(
                name: string(s, "name"),
                current: Autoscaling.MetricValueStatus(
                    averageValue: typed(field(s, "currentAverageValue")) ?? Quantity(),
                    averageUtilization: int32(s, "currentAverageUtilization")))
        }
        if let s = field(v, "containerResource"), s != .null {
            m.containerResource = Autoscaling.ContainerResourceMetricStatus(
                name: string(s, "name"),
                current: Autoscaling.MetricValueStatus(
                    averageValue: typed(field(s, "currentAverageValue")) ?? Quantity(),
                    averageUtilization: int32(s, "currentAverageUtilization")),
                container: string(s, "container"))
        }
        if let s = field(v, "external"), s != .null {
            m.external = Autoscaling.ExternalMetricStatus(
                metric: Autoscaling.MetricIdentifier(
                    name: string(s, "metricName"), selector: typed(field(s, "metricSelector"))),
                current: Autoscaling.MetricValueStatus(
                    value: typed(field(s, "currentValue")) ?? Quantity(),
                    averageValue: typed(field(s, "currentAverageValue"))))
        }
        return m
    }

    static func condition(_ v: JSONValue) -> Autoscaling.HorizontalPodAutoscalerCondition {
        Autoscaling.HorizontalPodAutoscalerCondition(
            type: string(v, "type"), status: string(v, "status"),
            lastTransitionTime: typed(field(v, "lastTransitionTime")),
            reason: string(v, "reason"), message: string(v, "message"))
    }

    /// Nil when the annotation holds no rules at all (upstream keeps only well-formed, non-empty data).
    static func behavior(_ v: JSONValue) -> Autoscaling.HorizontalPodAutoscalerBehavior? {
        guard case .object = v else { return nil }
        func rules(_ r: JSONValue?) -> Autoscaling.HPAScalingRules? {
            guard let r, case .object = r else { return nil }
            var out = Autoscaling.HPAScalingRules()
            out.stabilizationWindowSeconds = int32(r, "stabilizationWindowSeconds")
            out.selectPolicy = field(r, "selectPolicy")?.stringValue
            if case .array(let items)? = field(r, "policies") {
                out.policies = items.map {
                    Autoscaling.HPAScalingPolicy(
                        type: string($0, "type"), value: int32($0, "value") ?? 0,
                        periodSeconds: int32($0, "periodSeconds") ?? 0)
                }
            }
            out.tolerance = typed(field(r, "tolerance"))
            return out
        }
        let b = Autoscaling.HorizontalPodAutoscalerBehavior(
            scaleUp: rules(field(v, "scaleUp")), scaleDown: rules(field(v, "scaleDown")))
        return b.scaleUp == nil && b.scaleDown == nil ? nil : b
    }
}
