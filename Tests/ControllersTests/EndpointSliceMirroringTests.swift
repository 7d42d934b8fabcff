import APICore
import APIDiscovery
import APIMachinery
import Testing

@testable import Controllers

/// Mirroring of custom Endpoints into EndpointSlices, per upstream's documentation
/// (https://kubernetes.io/docs/concepts/services-networking/endpoint-slices/#endpointslice-mirroring):
/// only Endpoints of Services without a selector, not labelled skip-mirror; one slice per port set
/// and address family; at most 1000 addresses of a subset.
@Suite("endpointslice mirroring")
struct EndpointSliceMirroringTests {
    func endpoints() -> CoreV1.Endpoints {
        var e = CoreV1.Endpoints()
        e.metadata.name = "ext"
        e.metadata.namespace = "ns"
        e.metadata.uid = "ep-uid"
        e.metadata.labels = ["team": "a"]
        e.metadata.annotations = ["endpoints.kubernetes.io/last-change-trigger-time": "x", "note": "kept"]
        e.subsets = [
            CoreV1.EndpointSubset(
                addresses: [CoreV1.EndpointAddress(ip: "10.0.0.1"), CoreV1.EndpointAddress(ip: "fd00::1")],
                notReadyAddresses: [CoreV1.EndpointAddress(ip: "10.0.0.2"), CoreV1.EndpointAddress(ip: "bogus")],
                ports: [CoreV1.EndpointPort(name: "http", port: 80, protocol: "TCP")])
        ]
        return e
    }

    @Test("which Endpoints are mirrored")
    func eligibility() {
        var svc = CoreV1.Service()
        svc.metadata.name = "ext"
        #expect(EndpointSliceMirroringController.shouldMirror(endpoints(), service: svc))
        #expect(!EndpointSliceMirroringController.shouldMirror(endpoints(), service: nil))
        var selecting = svc
        selecting.spec.selector = ["app": "x"]
        #expect(!EndpointSliceMirroringController.shouldMirror(endpoints(), service: selecting))
        var skipped = endpoints()
        skipped.metadata.labels["endpointslice.kubernetes.io/skip-mirror"] = "true"
        #expect(!EndpointSliceMirroringController.shouldMirror(skipped, service: svc))
    }

    @Test("one slice per family and port set, ready first, labels and owner as upstream, invalid IPs skipped")
    func slices() {
        let (slices, skipped, truncated) = EndpointSliceMirroringController.mirror(endpoints())
        #expect(skipped == 1 && truncated == 0)
        #expect(slices.map(\.addressType) == ["IPv4", "IPv6"])
        let v4 = slices[0]
        #expect(v4.endpoints.map(\.addresses) == [["10.0.0.1"], ["10.0.0.2"]])
        #expect(v4.endpoints.map(\.conditions.ready) == [true, false])
        #expect(v4.ports == [DiscoveryV1.EndpointPort(name: "http", protocol: "TCP", port: 80)])
        #expect(
            v4.metadata.labels == [
                "team": "a", "kubernetes.io/service-name": "ext",
                "endpointslice.kubernetes.io/managed-by": "endpointslicemirroring-controller.k8s.io",
            ])
        #expect(v4.metadata.annotations == ["note": "kept"])
        #expect(
            v4.metadata.ownerReferences.first?.kind == "Endpoints" && v4.metadata.ownerReferences.first?.uid == "ep-uid"
        )
    }

    @Test("at most 1000 addresses of a subset are mirrored")
    func capacity() {
        var e = endpoints()
        e.subsets = [
            CoreV1.EndpointSubset(
                addresses: (0..<1200).map { CoreV1.EndpointAddress(ip: "10.1.\($0 / 256).\($0 % 256)") },
                ports: [CoreV1.EndpointPort(name: "p", port: 1, protocol: "TCP")])
        ]
        let (slices, _, truncated) = EndpointSliceMirroringController.mirror(e)
        #expect(truncated == 200 && slices.count == 1 && slices[0].endpoints.count == 1000)
    }
}
