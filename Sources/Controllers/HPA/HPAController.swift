import APIAutoscaling
import APICore
import APIMachinery
import ControllerRuntime
import Foundation
import Synchronization

/// Upstream's horizontal-pod-autoscaler-controller: every sync period each HorizontalPodAutoscaler
/// reads its target's `scale`, keeps replicas within min/max, computes a recommendation from the
/// resource metrics API (`metrics.k8s.io`) when one is served, and reports what it could and could
/// not do in the AbleToScale / ScalingActive / ScalingLimited conditions and events, as upstream.
public final class HorizontalPodAutoscalerController: Controller {
    let client: KubeClient
    let autoscalers: ObjectStore<AutoscalingV2.HorizontalPodAutoscaler>
    let pods: ObjectStore<CoreV1.Pod>
    let recorder: EventRecorder
    let queue = WorkQueue<ObjectKey>(name: "horizontalpodautoscaler")
    let workers: Int
    let period: Duration
    /// Per autoscaler: recent recommendations (stabilization) and scale changes (rate limits).
    let memory = Mutex<[ObjectKey: (history: [HPALogic.Recommendation], events: [HPALogic.ScaleEvent])]>([:])
    /// Resource locations by `group/version/kind`, from discovery.
    let kinds = Mutex<[String: ResourceLocation]>([:])

    public init(_ ctx: ControllerContext) {
        client = ctx.client
        recorder = ctx.recorder("horizontal-pod-autoscaler")
        workers = ctx.options.workers("horizontal-pod-autoscaler-controller", default: 5)
        period = ctx.options.hpaSyncPeriod
        let inf = ctx.informers.informer(AutoscalingV2.HorizontalPodAutoscaler.self)
        autoscalers = inf.store
        pods = ctx.informers.store(CoreV1.Pod.self)
        let queue = self.queue
        inf.addHandler { [weak self] e in
            switch e {
            case .added(let h): queue.add(ObjectKey(h.metadata))
            case .updated(let old, let new) where old.spec != new.spec: queue.add(ObjectKey(new.metadata))
            case .deleted(let h): _ = self?.memory.withLock { $0.removeValue(forKey: ObjectKey(h.metadata)) }
            default: break
            }
        }
    }

    /// Where a kind is served (`apps/v1` `Deployment` → deployments), through discovery.
    func location(apiVersion: String, kind: String) async throws -> ResourceLocation {
        let key = "\(apiVersion)/\(kind)"
        if let l = kinds.withLock({ $0[key] }) { return l }
        let found = try await client.discoverResources(preferredOnly: false)
        kinds.withLock { m in
            for r in found {
                let av = r.group.isEmpty ? r.version : "\(r.group)/\(r.version)"
                m["\(av)/\(r.kind)"] = ResourceLocation(
                    group: r.group, version: r.version, resource: r.resource, namespaced: r.namespaced)
            }
        }
        if let l = kinds.withLock({ $0[key] }) { return l }
        let group = apiVersion.contains("/") ? String(apiVersion.split(separator: "/")[0]) : ""
        throw StatusError(
            code: 404,
            status: MetaV1.Status(
                status: "Failure", message: "no matches for kind \"\(kind)\" in group \"\(group)\"", reason: "NotFound",
                code: 404))
    }

    /// A failure reading from a metrics API, worded as client-go words a missing resource.
    static func metricsError(_ e: any Error, resource: String) -> String {
        if let s = e as? StatusError, s.isNotFound { return "\(s.status.message) (get \(resource))" }
        return (e as? StatusError)?.status.message ?? "\(e)"
    }

    /// Pod usage from `metrics.k8s.io/v1beta1` (milli-units per container), by pod name.
    func podMetrics(namespace: String, selector: String) async throws -> [String: [String: [String: Int64]]] {
        let resp = try await client.checked(
            KubeRequest(
                path: "/apis/metrics.k8s.io/v1beta1/namespaces/\(namespace)/pods",
                query: [("labelSelector", selector)], headers: [("Accept", "application/json")]))
        let list = try JSONValue.parse(resp.body)
        var out: [String: [String: [String: Int64]]] = [:]
        func array(_ v: JSONValue?) -> [JSONValue] {
            if case .array(let a) = v { return a }
            return []
        }
        for item in array(list["items"]) {
            guard let name = item["metadata"]?["name"]?.stringValue else { continue }
            var containers: [String: [String: Int64]] = [:]
            for c in array(item["containers"]) {
                var usage: [String: Int64] = [:]
                if case .object(let pairs) = c["usage"] {
                    for (res, v) in pairs {
                        if let s = v.stringValue, let q = try? Quantity(parsing: s) { usage[res] = q.milliValue }
                    }
                }
                containers[c["name"]?.stringValue ?? ""] = usage
            }
            out[name] = containers
        }
        return out
    }

    struct MetricOutcome {
        var replicas: Int32
        var status: AutoscalingV2.MetricStatus
    }

    struct MetricFailure: Error {
        var reason: String
        var message: String
    }

    /// One metric's proposal (upstream's `computeStatusForResourceMetric` and friends).
    func evaluate(
        _ m: AutoscalingV2.MetricSpec, current: Int32, namespace: String, selector: LabelSelector, selectorText: String,
        metrics: inout Result<[String: [String: [String: Int64]]], MetricFailure>?, now: Date
    ) async -> Result<MetricOutcome, MetricFailure> {
        let resourceName: String, target: AutoscalingV2.MetricTarget, container: String?
        switch m.type {
        case "Resource":
            guard let r = m.resource else {
                return .failure(MetricFailure(reason: "InvalidMetricSourceType", message: ""))
            }
            (resourceName, target, container) = (r.name, r.target, nil)
        case "ContainerResource":
            guard let r = m.containerResource else {
                return .failure(MetricFailure(reason: "InvalidMetricSourceType", message: ""))
            }
            (resourceName, target, container) = (r.name, r.target, r.container)
        case "Pods", "Object", "External":
            let api = m.type == "External" ? "external.metrics.k8s.io" : "custom.metrics.k8s.io"
            let name = m.pods?.metric.name ?? m.object?.metric.name ?? m.external?.metric.name ?? ""
            return .failure(
                MetricFailure(
                    reason: "FailedGet\(m.type)Metric",
                    message:
                        "failed to get \(m.type.lowercased()) metric value: unable to get metric \(name): no metrics API \(api) is served"
                ))
        default:
            return .failure(
                MetricFailure(
                    reason: "InvalidMetricSourceType", message: "unknown metric source type \"\(m.type)\""))
        }
        if metrics == nil {
            do {
                metrics = .success(try await podMetrics(namespace: namespace, selector: selectorText))
            } catch {
                metrics = .failure(
                    MetricFailure(
                        reason: "",
                        message: "unable to fetch metrics from resource metrics API: "
                            + Self.metricsError(error, resource: "pods.metrics.k8s.io")))
            }
        }
        let kindWord = container == nil ? "" : "container "
        let reason = container == nil ? "FailedGetResourceMetric" : "FailedGetContainerResourceMetric"
        let prefix = "failed to get \(resourceName) \(kindWord)utilization: "
        guard case .success(let usage) = metrics! else {
            if case .failure(let f) = metrics! {
                return .failure(
                    MetricFailure(
                        reason: reason,
                        message: prefix + "unable to get metrics for resource \(resourceName): \(f.message)"))
            }
            fatalError("unreachable")
        }
        var samples: [HPALogic.PodSample] = []
        for p in pods.list(namespace: namespace) where selector.matches(p.metadata.labels) {
            let counted = p.spec.containers.filter { container == nil || $0.name == container }
            let requests = counted.compactMap { $0.resources.requests[resourceName]?.milliValue }
            var s = HPALogic.PodSample(name: p.metadata.name)
            s.request = requests.count == counted.count && !counted.isEmpty ? requests.reduce(0, +) : nil
            if let u = usage[p.metadata.name] {
                s.usage = u.filter { container == nil || $0.key == container }.values.reduce(0) {
                    $0 + ($1[resourceName] ?? 0)
                }
            }
            s.phase = p.status.phase
            s.deleting = p.metadata.deletionTimestamp != nil
            let ready = p.status.conditions.first { $0.type == "Ready" }
            s.ready = ready?.status == "True"
            s.startTime = p.status.startTime.map { Date(timeIntervalSince1970: Double($0.seconds)) }
            s.readyTransition = ready?.lastTransitionTime.map { Date(timeIntervalSince1970: Double($0.seconds)) }
            samples.append(s)
        }
        do {
            let r = try HPALogic.resourceReplicas(
                current: current, pods: samples,
                targetUtilization: target.type == "Utilization" ? target.averageUtilization : nil,
                targetAverage: target.type == "AverageValue" ? target.averageValue?.milliValue : nil,
                cpu: resourceName == "cpu", now: now)
            let value = AutoscalingV2.MetricValueStatus(
                averageValue: Quantity(r.average, scale: -3), averageUtilization: r.utilization)
            var status = AutoscalingV2.MetricStatus(type: m.type)
            if let container {
                status.containerResource = AutoscalingV2.ContainerResourceMetricStatus(
                    name: resourceName, current: value, container: container)
            } else {
                status.resource = AutoscalingV2.ResourceMetricStatus(name: resourceName, current: value)
            }
            return .success(MetricOutcome(replicas: r.replicas, status: status))
        } catch {
            return .failure(
                MetricFailure(
                    reason: reason, message: prefix + "unable to get metrics for resource \(resourceName): \(error)"))
        }
    }

    func sync(_ key: ObjectKey) async throws {
        guard let hpa = autoscalers.get(key) else { return }
        let now = Date()
        var status = hpa.status
        status.observedGeneration = hpa.metadata.generation
        var conditions = status.conditions
        defer { _ = conditions }
        let ref = hpa.spec.scaleTargetRef
        func write() async throws {
            status.conditions = conditions
            guard status != hpa.status else { return }
            var next = hpa
            next.status = status
            do { _ = try await client.updateStatus(next) } catch let e as StatusError where e.isNotFound {}
        }

        let loc: ResourceLocation
        var scale: AutoscalingV1.Scale
        do {
            loc = try await location(apiVersion: ref.apiVersion, kind: ref.kind)
            scale = try await client.scale(at: loc, ref.name, namespace: key.namespace)
        } catch {
            let msg = ReplicaSetController.message(error)
            recorder.warning(hpa, reason: "FailedGetScale", note: msg)
            HPALogic.setCondition(
                &conditions, "AbleToScale", false, "FailedGetScale",
                "the HPA controller was unable to get the target's current scale: \(msg)", now: now)
            try await write()
            return
        }
        HPALogic.setCondition(
            &conditions, "AbleToScale", true, "SucceededGetScale",
            "the HPA controller was able to get the target's current scale", now: now)
        let current = scale.status.replicas
        let minReplicas = hpa.spec.minReplicas ?? 1
        let maxReplicas = hpa.spec.maxReplicas
        var desired: Int32 = 0
        var reason = ""
        var rescale = true
        if scale.spec.replicas == 0 && minReplicas != 0 {
            rescale = false
            HPALogic.setCondition(
                &conditions, "ScalingActive", false, "ScalingDisabled",
                "scaling is disabled since the replica count of the target is zero", now: now)
        } else if current > maxReplicas {
            reason = "Current number of replicas above Spec.MaxReplicas"
            desired = maxReplicas
        } else if current < minReplicas {
            reason = "Current number of replicas below Spec.MinReplicas"
            desired = minReplicas
        } else {
            guard case let selectorText = scale.status.selector, !selectorText.isEmpty,
                let selector = try? LabelSelector(parsing: selectorText)
            else {
                recorder.warning(hpa, reason: "SelectorRequired", note: "selector is required")
                HPALogic.setCondition(
                    &conditions, "ScalingActive", false, "InvalidSelector",
                    "the HPA target's scale is missing a selector", now: now)
                try await write()
                return
            }
            var fetched: Result<[String: [String: [String: Int64]]], MetricFailure>? = nil
            var proposals: [(Int32, AutoscalingV2.MetricSpec)] = []
            var statuses: [AutoscalingV2.MetricStatus] = []
            var failures: [MetricFailure] = []
            for m in hpa.spec.metrics {
                switch await evaluate(
                    m, current: current, namespace: key.namespace, selector: selector, selectorText: selectorText,
                    metrics: &fetched, now: now)
                {
                case .success(let o):
                    proposals.append((o.replicas, m))
                    statuses.append(o.status)
                case .failure(let f):
                    failures.append(f)
                    statuses.append(AutoscalingV2.MetricStatus())
                    recorder.warning(hpa, reason: f.reason, note: f.message)
                    HPALogic.setCondition(
                        &conditions, "ScalingActive", false, f.reason,
                        "the HPA was unable to compute the replica count: \(f.message)", now: now)
                }
            }
            status.currentMetrics = statuses
            if let first = failures.first {
                recorder.warning(
                    hpa, reason: "FailedComputeMetricsReplicas",
                    note:
                        "invalid metrics (\(failures.count) invalid out of \(hpa.spec.metrics.count)), first error is: \(first.message)"
                )
            }
            guard let best = proposals.max(by: { $0.0 < $1.0 }) else {
                status.currentReplicas = current
                try await write()
                return
            }
            if failures.isEmpty {
                HPALogic.setCondition(
                    &conditions, "ScalingActive", true, "ValidMetricFound",
                    "the HPA was able to successfully calculate a replica count from \(HPALogic.metricDescription(best.1))",
                    now: now)
            }
            let state = memory.withLock { $0[key] ?? ([], []) }
            let stabilized: Int32
            let limited: HPALogic.Limited
            if let behavior = hpa.spec.behavior {
                (stabilized, limited) = HPALogic.normalizeWithBehavior(
                    current: current, desired: best.0, min: minReplicas, max: maxReplicas, behavior: behavior,
                    history: state.history, events: state.events, now: now)
            } else {
                (stabilized, limited) = HPALogic.normalizeLegacy(
                    current: current, desired: best.0, min: minReplicas, max: maxReplicas, history: state.history,
                    now: now)
            }
            memory.withLock { m in
                var s = m[key] ?? ([], [])
                s.history =
                    s.history.filter { $0.time > now.addingTimeInterval(-600) } + [
                        HPALogic.Recommendation(time: now, replicas: best.0)
                    ]
                m[key] = s
            }
            if stabilized == best.0 {
                HPALogic.setCondition(
                    &conditions, "AbleToScale", true, "ReadyForNewScale", "recommended size matches current size",
                    now: now)
            } else if stabilized > best.0 {
                HPALogic.setCondition(
                    &conditions, "AbleToScale", true, "ScaleDownStabilized",
                    "recent recommendations were higher than current one, applying the highest recent recommendation",
                    now: now)
            } else {
                HPALogic.setCondition(
                    &conditions, "AbleToScale", true, "ScaleUpStabilized",
                    "recent recommendations were lower than current one, applying the lowest recent recommendation",
                    now: now)
            }
            HPALogic.setCondition(
                &conditions, "ScalingLimited", limited.limited, limited.reason, limited.message, now: now)
            desired = limited.replicas
            reason =
                desired > current ? "\(HPALogic.metricDescription(best.1)) above target" : "All metrics below target"
        }
        if rescale && desired != current {
            var next = scale
            next.spec.replicas = desired
            do {
                scale = try await client.updateScale(at: loc, next)
            } catch {
                let msg = ReplicaSetController.message(error)
                recorder.warning(
                    hpa, reason: "FailedRescale", note: "New size: \(desired); reason: \(reason); error: \(msg)")
                HPALogic.setCondition(
                    &conditions, "AbleToScale", false, "FailedUpdateScale",
                    "the HPA controller was unable to update the target scale: \(msg)", now: now)
                status.currentReplicas = current
                try await write()
                throw error
            }
            HPALogic.setCondition(
                &conditions, "AbleToScale", true, "SucceededRescale",
                "the HPA controller was able to update the target scale to \(desired)", now: now)
            recorder.normal(hpa, reason: "SuccessfulRescale", note: "New size: \(desired); reason: \(reason)")
            status.lastScaleTime = Time(now)
            memory.withLock { m in
                var s = m[key] ?? ([], [])
                s.events =
                    s.events.filter { $0.time > now.addingTimeInterval(-1800) } + [
                        HPALogic.ScaleEvent(time: now, change: desired - current)
                    ]
                m[key] = s
            }
        } else {
            desired = current
        }
        status.currentReplicas = current
        status.desiredReplicas = desired
        try await write()
    }

    public func run() async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: self.period)
                    for k in self.autoscalers.keys() { self.queue.add(k) }
                }
            }
            group.addTask { await self.queue.runWorkers(self.workers) { try await self.sync($0) } }
            await group.waitForAll()
        }
    }
}
