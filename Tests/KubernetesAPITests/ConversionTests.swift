import Foundation
import KubernetesAPI
import Testing

/// Conversion through the hub (the star): every served version of every fixture converts to its
/// hub and back without loss; versions of different shapes meet only at the hub.
@Suite("Hub conversion")
struct ConversionTests {
    static func roundTrip<T: APIKind & HubConvertible>(_ obj: T) -> Bool {
        let once = T(hub: obj.toHub())
        if once == obj { return true }
        // autoscaling/v1 HPAs store every current metric in an annotation, so upstream's own
        // v1 → hub → v1 adds one; what must hold is that a second pass changes nothing.
        return obj is AutoscalingV1.HorizontalPodAutoscaler && T(hub: once.toHub()) == once
    }

    static func check<T: APIKind>(_ type: T.Type, _ json: [UInt8]) throws -> Bool? {
        let obj = try JSONReader.decode(T.self, from: json)
        guard let c = obj as? any (APIKind & HubConvertible) else { return nil }
        return Self.open(c)
    }

    static func open<C: APIKind & HubConvertible>(_ c: C) -> Bool { roundTrip(c) }

    @Test("every fixture of every version survives version → hub → version")
    func fixtures() throws {
        var checked = 0
        var failed: [String] = []
        for f in FixtureRoundTripTests.fixtures(in: "HEAD") {
            guard let type = KubernetesAPI.kindsByGVK[f.gvk],
                let json = FixtureRoundTripTests.read(f.dir, "\(f.name).json")
            else { continue }
            switch try Self.check(type, json) {
            case true?: checked += 1
            case false?: failed.append(f.name)
            case nil: break
            }
        }
        #expect(failed.isEmpty, "lossy round trip: \(failed)")
        #expect(checked >= 90, "only \(checked) kinds converted")
        print("hub conversion: \(checked) fixture kinds round-trip through their hub")
    }

    @Test("autoscaling/v1 and v2 meet at the hub: a CPU target becomes a utilization metric and back")
    func hpa() {
        var v1 = AutoscalingV1.HorizontalPodAutoscaler()
        v1.spec.scaleTargetRef = AutoscalingV1.CrossVersionObjectReference(
            kind: "Deployment", name: "web", apiVersion: "apps/v1")
        v1.spec.maxReplicas = 5
        v1.spec.targetCPUUtilizationPercentage = 70
        let hub = v1.toHub()
        #expect(hub.spec.metrics.count == 1)
        #expect(hub.spec.metrics[0].resource?.target.averageUtilization == 70)
        // The v2 view of the same object, through the hub.
        let v2 = AutoscalingV2.HorizontalPodAutoscaler(hub: hub)
        #expect(v2.spec.metrics[0].resource?.name == "cpu")
        // A v2 object with a memory metric keeps it across a v1 round trip (in an annotation);
        // as upstream, the CPU target comes back after the annotation's metrics.
        var withMemory = hub
        withMemory.spec.metrics.insert(
            Autoscaling.MetricSpec(
                type: "Resource",
                resource: Autoscaling.ResourceMetricSource(
                    name: "memory", target: Autoscaling.MetricTarget(type: "AverageValue", averageValue: "1Gi"))),
            at: 0)
        let asV1 = AutoscalingV1.HorizontalPodAutoscaler(hub: withMemory)
        #expect(asV1.spec.targetCPUUtilizationPercentage == 70)
        #expect(asV1.toHub() == withMemory)
    }

    @Test("resource.k8s.io/v1beta1 devices nest attributes under `basic`; the hub is flat")
    func devices() {
        var d = ResourceV1beta1.Device(name: "gpu0")
        d.basic = ResourceV1beta1.BasicDevice(attributes: ["model": ResourceV1beta1.DeviceAttribute(string: "a100")])
        let hub = d.toHub()
        #expect(hub.attributes["model"]?.string == "a100")
        #expect(ResourceV1beta1.Device(hub: hub) == d)
        let v1 = ResourceV1.Device(name: hub.name, attributes: hub.attributes)
        #expect(v1.toHub() == hub)
    }
}
