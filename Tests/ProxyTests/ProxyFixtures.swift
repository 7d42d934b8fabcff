import APICore
import APIDiscovery
import APIMachinery

@testable import Proxy

/// Services and EndpointSlices as the tests describe them, and the settings most cases use
/// (upstream's proxier tests: node "test-node", pods in 10.0.0.0/8 here 10.42.0.0/16).
enum Fixture {
    static let node = "test-node"

    static var settings: ProxierSettings {
        var s = ProxierSettings(family: .ipv4)
        s.clusterCIDRs = ["10.42.0.0/16"]
        s.nodePortAddresses = .ips(["192.168.0.2"])
        s.serviceCIDRs = ["10.96.0.0/12"]
        s.nodeIP = "192.168.0.2"
        return s
    }

    static func service(
        _ ns: String, _ name: String, ip: String, port: Int32 = 80, portName: String = "p80",
        proto: String = "TCP", type: String = "ClusterIP", nodePort: Int32 = 0,
        _ edit: (inout CoreV1.Service) -> Void = { _ in }
    ) -> CoreV1.Service {
        var s = CoreV1.Service()
        s.metadata.namespace = ns
        s.metadata.name = name
        s.spec.type = type
        s.spec.clusterIP = ip
        s.spec.clusterIPs = [ip]
        var p = CoreV1.ServicePort()
        p.name = portName
        p.port = port
        p.protocol = proto
        p.nodePort = nodePort
        s.spec.ports = [p]
        edit(&s)
        return s
    }

    struct EP {
        var ip: String
        var node: String? = nil
        var ready: Bool? = nil
        var serving: Bool? = nil
        var terminating: Bool? = nil
    }

    static func slice(
        _ ns: String, _ service: String, port: Int32 = 80, portName: String = "p80", proto: String = "TCP", _ eps: [EP]
    ) -> DiscoveryV1.EndpointSlice {
        var s = DiscoveryV1.EndpointSlice()
        s.metadata.namespace = ns
        s.metadata.name = service + "-abcde"
        s.metadata.labels = ["kubernetes.io/service-name": service]
        s.addressType = "IPv4"
        var p = DiscoveryV1.EndpointPort()
        p.name = portName
        p.port = port
        p.protocol = proto
        s.ports = [p]
        s.endpoints = eps.map { e in
            var d = DiscoveryV1.Endpoint()
            d.addresses = [e.ip]
            d.nodeName = e.node
            d.conditions.ready = e.ready
            d.conditions.serving = e.serving
            d.conditions.terminating = e.terminating
            return d
        }
        return s
    }

    /// The rules of one Service with its slices.
    static func rules(
        _ svc: CoreV1.Service, _ slices: [DiscoveryV1.EndpointSlice], settings: ProxierSettings = Fixture.settings
    ) -> ServiceRules {
        let ports = ServicePortInfo.ports(of: svc, family: .ipv4)
        return ProxyRules.serviceRules(
            ports.map { ($0, EndpointInfo.endpoints(for: $0, slices: slices, nodeName: node, family: .ipv4)) }, settings
        )
    }

    static func name(_ ns: String, _ svc: String, proto: String = "tcp", port: String = "p80") -> ServicePortName {
        ServicePortName(namespace: ns, name: svc, port: port, proto: proto)
    }

    static func ep(_ ip: String, _ port: Int = 80) -> EndpointInfo { EndpointInfo(ip: ip, port: port, isLocal: false) }
}

extension ServiceRules {
    func chain(_ name: String) -> [String]? { chains.first { $0.name == name }?.rules }

    /// Elements of a container as `key : value` (or `key`) text.
    func elements(in container: String) -> [String] {
        elements.filter { $0.container == container }.map { e in e.value.map { "\(e.key) : \($0)" } ?? e.key }
    }
}
