import APIAutoscaling
import APICore
import APIMachinery
import Foundation

/// The horizontal-pod-autoscaler's decisions as pure functions: replica counts from resource
/// metrics (upstream's replica calculator), the scale-rate limits and stabilization of `behavior`
/// (or the legacy rules when none is set), and the conditions it reports.
enum HPALogic {
    /// The default tolerance around the target within which nothing changes (`--horizontal-pod-autoscaler-tolerance`).
    static let tolerance = 0.1
    /// `--horizontal-pod-autoscaler-cpu-initialization-period` and `--horizontal-pod-autoscaler-initial-readiness-delay`.
    static let cpuInitializationPeriod: TimeInterval = 300
    static let initialReadinessDelay: TimeInterval = 30

    /// What the calculator knows of one pod behind the scale target.
    struct PodSample: Equatable {
        var name: String
        /// Requests of the metric's resource, in milli-units (summed over the containers counted).
        var request: Int64?
        /// Usage from the metrics API, in milli-units; nil when the API returned none for this pod.
        var usage: Int64?
        var phase = "Running"
        var deleting = false
        var ready = true
        var startTime: Date? = Date(timeIntervalSince1970: 0)
        var readyTransition: Date? = Date(timeIntervalSince1970: 0)
    }

    enum CalcError: Error, Equatable, CustomStringConvertible {
        case noMetrics
        case missingRequest(String)
        var description: String {
            switch self {
            case .noMetrics: return "did not receive metrics for targeted pods (pods might be unready)"
            case .missingRequest(let pod): return "missing request for cpu in pod \(pod)"
            }
        }
    }

    /// Upstream's `groupPods`: pods being deleted, failed or pending are ignored; pods with no sample
    /// are missing; for cpu, pods not yet ready (or whose readiness is still settling) are unready.
    static func group(_ pods: [PodSample], cpu: Bool, now: Date)
        -> (ready: [PodSample], unready: [PodSample], missing: [PodSample])
    {
        var ready: [PodSample] = [], unready: [PodSample] = [], missing: [PodSample] = []
        for p in pods {
            if p.deleting || p.phase == "Failed" || p.phase == "Pending" { continue }
            if p.usage == nil {
                missing.append(p)
                continue
            }
            if cpu {
                var isUnready = false
                if let start = p.startTime, let transition = p.readyTransition {
                    if start.addingTimeInterval(cpuInitializationPeriod) > now {
                        isUnready = !p.ready
                    } else {
                        isUnready = !p.ready && start.addingTimeInterval(initialReadinessDelay) > transition
                    }
                } else {
                    isUnready = true
                }
                if isUnready {
                    unready.append(p)
                    continue
                }
            }
            ready.append(p)
        }
        return (ready, unready, missing)
    }

    /// Utilization of the sampled pods (usage over requests, percent) and its ratio to the target.
    static func utilizationRatio(_ samples: [(usage: Int64, request: Int64)], target: Int32)
        -> (ratio: Double, utilization: Int32, average: Int64)
    {
        let usage = samples.reduce(0) { $0 + $1.usage }
        let requests = samples.reduce(0) { $0 + $1.request }
        let utilization = requests == 0 ? 0 : Int32(usage * 100 / requests)
        return (Double(utilization) / Double(target), utilization, samples.isEmpty ? 0 : usage / Int64(samples.count))
    }

    /// Upstream's `GetResourceReplicas` for a Utilization target (percent of request), or with
    /// `averageValue` (milli-units per pod) for an AverageValue target.
    static func resourceReplicas(
        current: Int32, pods: [PodSample], targetUtilization: Int32?, targetAverage: Int64?, cpu: Bool,
        tolerance: Double = tolerance, now: Date
    ) throws(CalcError) -> (replicas: Int32, utilization: Int32?, average: Int64) {
        let (ready, unready, missing) = group(pods, cpu: cpu, now: now)
        if ready.isEmpty { throw .noMetrics }
        func ratio(_ s: [(usage: Int64, request: Int64)]) throws(CalcError) -> (Double, Int32?, Int64) {
            if let t = targetUtilization {
                let r = utilizationRatio(s, target: t)
                return (r.ratio, r.utilization, r.average)
            }
            let avg = s.isEmpty ? 0 : s.reduce(0) { $0 + $1.usage } / Int64(s.count)
            let total = Double(s.reduce(0) { $0 + $1.usage })
            return (total / (Double(targetAverage ?? 1) * Double(max(1, s.count))), nil, avg)
        }
        var samples: [(usage: Int64, request: Int64)] = []
        for p in ready {
            guard let req = p.request, req > 0 || targetUtilization == nil else { throw .missingRequest(p.name) }
            samples.append((p.usage!, p.request ?? 0))
        }
        let (usageRatio, utilization, average) = try ratio(samples)
        let scaleUpWithUnready = !unready.isEmpty && usageRatio > 1
        if !scaleUpWithUnready && missing.isEmpty {
            if abs(1 - usageRatio) <= tolerance { return (current, utilization, average) }
            return (Int32((usageRatio * Double(ready.count)).rounded(.up)), utilization, average)
        }
        // Fill the gaps pessimistically for the direction of change, then recompute.
        var filled = samples
        for p in missing {
            let req = p.request ?? 0
            if usageRatio < 1 {
                filled.append((targetUtilization != nil ? req : (targetAverage ?? 0), req))
            } else if usageRatio > 1 {
                filled.append((0, req))
            }
        }
        if scaleUpWithUnready { for p in unready { filled.append((0, p.request ?? 0)) } }
        let (newRatio, _, _) = try ratio(filled)
        if abs(1 - newRatio) <= tolerance || (usageRatio < 1 && newRatio > 1) || (usageRatio > 1 && newRatio < 1) {
            return (current, utilization, average)
        }
        let replicas = Int32((newRatio * Double(filled.count)).rounded(.up))
        if (newRatio < 1 && replicas > current) || (newRatio > 1 && replicas < current) {
            return (current, utilization, average)
        }
        return (replicas, utilization, average)
    }

    /// A past scale change, for the rate limits of `behavior`.
    struct ScaleEvent: Equatable {
        var time: Date
        var change: Int32  // positive up, negative down
    }

    /// A past recommendation, for the stabilization windows.
    struct Recommendation: Equatable {
        var time: Date
        var replicas: Int32
    }

    struct Limited: Equatable {
        var replicas: Int32
        var reason: String
        var message: String
        var limited: Bool
    }

    static let withinRange = ("DesiredWithinRange", "the desired count is within the acceptable range")
    static let tooFew = ("TooFewReplicas", "the desired replica count is less than the minimum replica count")
    static let tooMany = ("TooManyReplicas", "the desired replica count is more than the maximum replica count")
    static let upLimit = ("ScaleUpLimit", "the desired replica count is increasing faster than the maximum scale rate")
    static let downLimit = (
        "ScaleDownLimit", "the desired replica count is decreasing faster than the maximum scale rate"
    )

    /// Without `behavior` (upstream's `normalizeDesiredReplicas`): scale-down stabilized over the
    /// downscale window (the highest recent recommendation), scale-up at most to max(2×current, 4),
    /// then min/max.
    static func normalizeLegacy(
        current: Int32, desired: Int32, min minReplicas: Int32, max maxReplicas: Int32,
        history: [Recommendation], window: TimeInterval = 300, now: Date
    ) -> (stabilized: Int32, result: Limited) {
        var stabilized = desired
        for r in history where r.time > now.addingTimeInterval(-window) { stabilized = max(stabilized, r.replicas) }
        let upLimitValue = max(2 * current, 4)
        var out = Limited(
            replicas: stabilized, reason: withinRange.0, message: withinRange.1, limited: false)
        let ceiling = min(upLimitValue, maxReplicas)
        if stabilized < minReplicas {
            out = Limited(replicas: minReplicas, reason: tooFew.0, message: tooFew.1, limited: true)
        } else if stabilized > ceiling {
            let (reason, message) = upLimitValue < maxReplicas ? upLimit : tooMany
            out = Limited(replicas: ceiling, reason: reason, message: message, limited: true)
        }
        return (stabilized, out)
    }

    /// With `behavior` (upstream's `normalizeDesiredReplicasWithBehaviors`): the recommendation is
    /// held between the lowest of the scale-up window and the highest of the scale-down window, then
    /// limited by the policies' rates over their periods and by min/max.
    static func normalizeWithBehavior(
        current: Int32, desired: Int32, min minReplicas: Int32, max maxReplicas: Int32,
        behavior: AutoscalingV2.HorizontalPodAutoscalerBehavior, history: [Recommendation], events: [ScaleEvent],
        now: Date
    ) -> (stabilized: Int32, result: Limited) {
        let rec = stabilize(current: current, desired: desired, behavior: behavior, history: history, now: now)
        return (
            rec,
            limit(
                current: current, rec: rec, min: minReplicas, max: maxReplicas, behavior: behavior, events: events,
                now: now)
        )
    }

    static func stabilize(
        current: Int32, desired: Int32, behavior: AutoscalingV2.HorizontalPodAutoscalerBehavior,
        history: [Recommendation], now: Date
    ) -> Int32 {
        let up = behavior.scaleUp ?? AutoscalingV2.HPAScalingRules()
        let down = behavior.scaleDown ?? AutoscalingV2.HPAScalingRules()
        var upRec = desired, downRec = desired
        let upWindow = TimeInterval(up.stabilizationWindowSeconds ?? 0)
        let downWindow = TimeInterval(down.stabilizationWindowSeconds ?? 300)
        for r in history {
            if r.time > now.addingTimeInterval(-upWindow) { upRec = min(upRec, r.replicas) }
            if r.time > now.addingTimeInterval(-downWindow) { downRec = max(downRec, r.replicas) }
        }
        var rec = current
        if rec < upRec { rec = upRec }
        if rec > downRec { rec = downRec }
        return rec
    }

    static func limit(
        current: Int32, rec: Int32, min minReplicas: Int32, max maxReplicas: Int32,
        behavior: AutoscalingV2.HorizontalPodAutoscalerBehavior, events: [ScaleEvent], now: Date
    ) -> Limited {
        let up = behavior.scaleUp ?? AutoscalingV2.HPAScalingRules()
        let down = behavior.scaleDown ?? AutoscalingV2.HPAScalingRules()

        func changed(within period: Int32, up: Bool) -> Int32 {
            let since = now.addingTimeInterval(-TimeInterval(period))
            return events.filter { $0.time > since && ($0.change > 0) == up }.reduce(0) { $0 + abs($1.change) }
        }
        if rec > current {
            var limit = current
            if up.selectPolicy != "Disabled" {
                let pickMax = up.selectPolicy != "Min"
                var chosen: Int32 = pickMax ? Int32.min : Int32.max
                for p in up.policies {
                    let start =
                        current - changed(within: p.periodSeconds, up: true)
                        + changed(within: p.periodSeconds, up: false)
                    let proposed =
                        p.type == "Pods"
                        ? start + p.value : Int32((Double(start) * (1 + Double(p.value) / 100)).rounded(.up))
                    chosen = pickMax ? max(chosen, proposed) : min(chosen, proposed)
                }
                limit = up.policies.isEmpty ? rec : chosen
            }
            let ceiling = min(limit, maxReplicas)
            if rec > ceiling {
                let (reason, message) = limit < maxReplicas ? upLimit : tooMany
                return Limited(replicas: ceiling, reason: reason, message: message, limited: true)
            }
        } else if rec < current {
            var limit = current
            if down.selectPolicy != "Disabled" {
                let pickMax = down.selectPolicy != "Min"
                var chosen: Int32 = pickMax ? Int32.max : Int32.min
                for p in down.policies {
                    let start =
                        current + changed(within: p.periodSeconds, up: false)
                        - changed(within: p.periodSeconds, up: true)
                    let proposed =
                        p.type == "Pods" ? start - p.value : Int32(Double(start) * (1 - Double(p.value) / 100))
                    chosen = pickMax ? min(chosen, proposed) : max(chosen, proposed)
                }
                limit = down.policies.isEmpty ? rec : chosen
            }
            let floor = max(limit, minReplicas)
            if rec < floor {
                let (reason, message) = limit > minReplicas ? downLimit : tooFew
                return Limited(replicas: floor, reason: reason, message: message, limited: true)
            }
        }
        if rec < minReplicas {
            return Limited(replicas: minReplicas, reason: tooFew.0, message: tooFew.1, limited: true)
        }
        if rec > maxReplicas {
            return Limited(replicas: maxReplicas, reason: tooMany.0, message: tooMany.1, limited: true)
        }
        return Limited(replicas: rec, reason: withinRange.0, message: withinRange.1, limited: false)
    }

    /// Sets a condition, keeping its transition time when its status does not change.
    static func setCondition(
        _ conditions: inout [AutoscalingV2.HorizontalPodAutoscalerCondition], _ type: String, _ status: Bool,
        _ reason: String, _ message: String, now: Date
    ) {
        let s = status ? "True" : "False"
        if let i = conditions.firstIndex(where: { $0.type == type }) {
            if conditions[i].status != s { conditions[i].lastTransitionTime = Time(now) }
            conditions[i].status = s
            conditions[i].reason = reason
            conditions[i].message = message
        } else {
            conditions.append(
                AutoscalingV2.HorizontalPodAutoscalerCondition(
                    type: type, status: s, lastTransitionTime: Time(now), reason: reason, message: message))
        }
    }

    /// The words upstream uses for a resource metric in messages and event reasons.
    static func metricDescription(_ m: AutoscalingV2.MetricSpec) -> String {
        switch m.type {
        case "Resource":
            let name = m.resource?.name ?? ""
            return m.resource?.target.type == "Utilization"
                ? "\(name) resource utilization (percentage of request)" : "\(name) resource"
        case "ContainerResource":
            let name = m.containerResource?.name ?? ""
            return m.containerResource?.target.type == "Utilization"
                ? "\(name) container resource utilization (percentage of request)" : "\(name) container resource"
        case "Pods": return "pods metric \(m.pods?.metric.name ?? "")"
        case "Object": return "\(m.object?.describedObject.kind ?? "") metric \(m.object?.metric.name ?? "")"
        case "External": return "external metric \(m.external?.metric.name ?? "")"
        default: return m.type
        }
    }
}
