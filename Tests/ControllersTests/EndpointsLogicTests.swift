import APICore
import APIDiscovery
import APIMachinery
import Foundation
import Testing

@testable import Controllers

@Suite("endpoint decisions")
struct EndpointsLogicTests {
    func service(publishNotReady: Bool = false, targetPort: IntOrString = "http") -> CoreV1.Service {
        var s = CoreV1.Service()
        s.metadata.name = "svc"
        s.metadata.namespace = "ns"
        s.metadata.uid = "svc-uid"
        s.spec.selector = ["app": "a"]
        s.spec.ports = [CoreV1.ServicePort(name: "web", protocol: "TCP", port: 80, targetPort: targetPort)]
        s.spec.ipFamilies = ["IPv4"]
        s.spec.publishNotReadyAddresses = publishNotReady
        return s
    }

    func member(_ name: String, ip: String, ready: Bool = true, port: Int32 = 8080, deleting: Bool = false)
        -> CoreV1.Pod
    {
        var p = pod(name, node: "n1", ready: ready)
        p.metadata.labels = ["app": "a"]
        p.status.podIP = ip
        p.status.podIPs = [CoreV1.PodIP(ip: ip)]
        p.spec.containers = [
            CoreV1.Container(
                name: "c", ports: [CoreV1.ContainerPort(name: "http", containerPort: port, protocol: "TCP")])
        ]
        if deleting { p.metadata.deletionTimestamp = Time(seconds: 1) }
        return p
    }

    @Test("ready pods are addresses, unready ones notReadyAddresses; named target ports resolve per pod")
    func endpoints() {
        let pods = [
            member("b", ip: "10.0.0.2"), member("a", ip: "10.0.0.1"), member("c", ip: "10.0.0.3", ready: false),
            member("other-port", ip: "10.0.0.4", port: 9090), member("gone", ip: "10.0.0.5", deleting: true),
        ]
        var noIP = member("noip", ip: "")
        noIP.status.podIPs = []
        let e = EndpointsLogic.endpoints(for: service(), pods: pods + [noIP], existing: nil)
        #expect(e.subsets.count == 2, "two port sets: 8080 and 9090")
        let main = e.subsets.first { $0.ports.first?.port == 8080 }!
        #expect(main.addresses.map(\.ip) == ["10.0.0.1", "10.0.0.2"])
        #expect(main.notReadyAddresses.map(\.ip) == ["10.0.0.3"])
        #expect(main.ports == [CoreV1.EndpointPort(name: "web", port: 8080, protocol: "TCP")])
        #expect(e.subsets.first { $0.ports.first?.port == 9090 }?.addresses.map(\.ip) == ["10.0.0.4"])
        #expect(main.addresses[0].targetRef?.name == "a" && main.addresses[0].nodeName == "n1")
        let tolerant = EndpointsLogic.endpoints(for: service(publishNotReady: true), pods: pods, existing: nil)
        #expect(tolerant.subsets.flatMap(\.notReadyAddresses).isEmpty, "publishNotReadyAddresses: all ready")
    }

    @Test("slices carry ready, serving and terminating, and hold at most 100 endpoints each")
    func slices() {
        let pods =
            (0..<250).map { member("p\($0)", ip: "10.1.\($0 / 256).\($0 % 256)") } + [
                member("t", ip: "10.2.0.1", deleting: true)
            ]
        let s = EndpointsLogic.desiredSlices(for: service(targetPort: .int(8080)), pods: pods, zones: ["n1": "z1"])
        #expect(s.map(\.endpoints.count) == [100, 100, 51])
        #expect(s.allSatisfy { $0.addressType == "IPv4" && $0.ports.first?.port == 8080 })
        #expect(s[0].metadata.labels["kubernetes.io/service-name"] == "svc")
        #expect(s[0].metadata.labels["endpointslice.kubernetes.io/managed-by"] == "endpointslice-controller.k8s.io")
        #expect(s[0].metadata.ownerReferences.first?.uid == "svc-uid")
        let terminating = s.flatMap(\.endpoints).first { $0.addresses == ["10.2.0.1"] }!
        #expect(
            terminating.conditions == DiscoveryV1.EndpointConditions(ready: false, serving: true, terminating: true))
        #expect(terminating.zone == "z1" && terminating.nodeName == "n1")
        let empty = EndpointsLogic.desiredSlices(for: service(targetPort: .int(8080)), pods: [], zones: [:])
        #expect(empty.count == 1 && empty[0].endpoints.isEmpty && empty[0].ports.first?.port == 8080)
    }
}
