import APIAutoscaling
import APIMachinery
import Foundation
import Testing

@testable import Controllers

/// The autoscaler's arithmetic, per upstream's documented algorithm
/// (https://kubernetes.io/docs/concepts/workloads/autoscaling/horizontal-pod-autoscale/#algorithm-details):
/// desired = ceil(current × currentMetric / target), a 10% tolerance, missing pods assumed at 100% of
/// request when scaling down and 0% when scaling up, not-yet-ready pods at 0% when scaling up.
@Suite("horizontal-pod-autoscaler decisions")
struct HPALogicTests {
    let now = Date(timeIntervalSince1970: 100_000)

    func pod(_ name: String, request: Int64 = 100, usage: Int64?, ready: Bool = true, phase: String = "Running")
        -> HPALogic.PodSample
    {
        var p = HPALogic.PodSample(name: name, request: request, usage: usage)
        p.ready = ready
        p.phase = phase
        p.startTime = now.addingTimeInterval(-3600)
        p.readyTransition = now.addingTimeInterval(-3000)
        return p
    }

    func replicas(_ current: Int32, _ pods: [HPALogic.PodSample], target: Int32 = 50) throws -> Int32 {
        try HPALogic.resourceReplicas(
            current: current, pods: pods, targetUtilization: target, targetAverage: nil, cpu: true, now: now
        ).replicas
    }

    @Test("ratio of utilization to target times ready pods, rounded up")
    func basic() throws {
        let pods = (0..<3).map { pod("p\($0)", usage: 200) }
        #expect(try replicas(3, pods) == 12)
        let r = try HPALogic.resourceReplicas(
            current: 3, pods: pods, targetUtilization: 50, targetAverage: nil, cpu: true, now: now)
        #expect(r.utilization == 200 && r.average == 200)
        #expect(
            try replicas(4, (0..<4).map { pod("p\($0)", usage: 20) }) == 2, "20% of a 50% target halves, rounded up")
    }

    @Test("within 10% of the target nothing changes")
    func tolerance() throws {
        #expect(try replicas(3, (0..<3).map { pod("p\($0)", usage: 54) }) == 3)
        #expect(try replicas(3, (0..<3).map { pod("p\($0)", usage: 60) }) == 4)
    }

    @Test("missing metrics: 0% when scaling up, 100% when scaling down")
    func missing() throws {
        // Up: 100% on two pods, the third unknown counts 0 → 200/300 = 66% of 50% → ceil(1.33 × 3) = 4.
        #expect(try replicas(3, [pod("a", usage: 100), pod("b", usage: 100), pod("c", usage: nil)]) == 4)
        // Down: 10% on two pods, the unknown one counts 100% → 40% of 50% → ceil(0.8 × 3) = 3: held.
        #expect(try replicas(3, [pod("a", usage: 10), pod("b", usage: 10), pod("c", usage: nil)]) == 3)
    }

    @Test("unready pods count as 0% when scaling up; pending and failed pods are ignored")
    func unready() throws {
        var fresh = pod("new", usage: 500, ready: false)
        fresh.startTime = now.addingTimeInterval(-10)
        fresh.readyTransition = now.addingTimeInterval(-10)
        // Ready pods at 100% → ratio 2; with the unready one at 0: 200/300 → 1.33 → ceil(4) = 4 (not 6).
        #expect(try replicas(3, [pod("a", usage: 100), pod("b", usage: 100), fresh]) == 4)
        #expect(try replicas(2, [pod("a", usage: 100), pod("p", usage: nil, phase: "Pending")]) == 2)
        #expect(throws: HPALogic.CalcError.noMetrics) {
            try replicas(1, [pod("p", usage: nil, phase: "Pending")])
        }
    }

    @Test("an AverageValue target divides total usage by the per-pod target")
    func averageValue() throws {
        let pods = (0..<2).map { pod("p\($0)", usage: 900) }
        let r = try HPALogic.resourceReplicas(
            current: 2, pods: pods, targetUtilization: nil, targetAverage: 300, cpu: false, now: now)
        #expect(r.replicas == 6 && r.utilization == nil && r.average == 900)
    }

    @Test("without behavior: scale-up at most max(2×current, 4); scale-down holds the highest recent recommendation")
    func legacy() {
        var (stab, out) = HPALogic.normalizeLegacy(current: 1, desired: 10, min: 1, max: 20, history: [], now: now)
        #expect(stab == 10 && out.replicas == 4 && out.reason == "ScaleUpLimit" && out.limited)
        (stab, out) = HPALogic.normalizeLegacy(current: 5, desired: 30, min: 1, max: 8, history: [], now: now)
        #expect(out.replicas == 8 && out.reason == "TooManyReplicas")
        let recent = [HPALogic.Recommendation(time: now.addingTimeInterval(-60), replicas: 5)]
        (stab, out) = HPALogic.normalizeLegacy(current: 5, desired: 2, min: 1, max: 10, history: recent, now: now)
        #expect(stab == 5 && out.replicas == 5 && out.reason == "DesiredWithinRange" && !out.limited)
        let old = [HPALogic.Recommendation(time: now.addingTimeInterval(-600), replicas: 5)]
        (stab, out) = HPALogic.normalizeLegacy(current: 5, desired: 2, min: 3, max: 10, history: old, now: now)
        #expect(stab == 2 && out.replicas == 3 && out.reason == "TooFewReplicas")
    }

    @Test("with behavior: policies limit the rate over their period (Max picks the most permissive)")
    func behavior() {
        var hpa = AutoscalingV2.HorizontalPodAutoscaler()
        hpa.spec.behavior = AutoscalingV2.HorizontalPodAutoscalerBehavior()
        hpa.setDefaults()
        let b = hpa.spec.behavior!
        // Default scale-up: max(4 pods, 100%) per 15 s.
        var r = HPALogic.normalizeWithBehavior(
            current: 10, desired: 50, min: 1, max: 100, behavior: b, history: [], events: [], now: now)
        #expect(r.result.replicas == 20 && r.result.reason == "ScaleUpLimit")
        // Default scale-down: 100% per 15 s, but stabilized over 300 s by the highest recommendation.
        r = HPALogic.normalizeWithBehavior(
            current: 10, desired: 2, min: 1, max: 100, behavior: b,
            history: [HPALogic.Recommendation(time: now.addingTimeInterval(-100), replicas: 8)], events: [], now: now)
        #expect(r.stabilized == 8 && r.result.replicas == 8)
        // One pod per minute down, and one was removed 30 s ago: nothing more now.
        var slow = b
        slow.scaleDown = AutoscalingV2.HPAScalingRules(
            stabilizationWindowSeconds: 0, selectPolicy: "Max",
            policies: [AutoscalingV2.HPAScalingPolicy(type: "Pods", value: 1, periodSeconds: 60)])
        r = HPALogic.normalizeWithBehavior(
            current: 10, desired: 2, min: 1, max: 100, behavior: slow, history: [], events: [], now: now)
        #expect(r.result.replicas == 9 && r.result.reason == "ScaleDownLimit")
        r = HPALogic.normalizeWithBehavior(
            current: 10, desired: 2, min: 1, max: 100, behavior: slow, history: [],
            events: [HPALogic.ScaleEvent(time: now.addingTimeInterval(-30), change: -1)], now: now)
        #expect(r.result.replicas == 10)
        // Disabled scale-down holds the count.
        slow.scaleDown?.selectPolicy = "Disabled"
        r = HPALogic.normalizeWithBehavior(
            current: 10, desired: 2, min: 1, max: 100, behavior: slow, history: [], events: [], now: now)
        #expect(r.result.replicas == 10)
    }
}
