import KubernetesAPI
import Testing

/// Ingress rules, paths and backends, and host-port conflicts between a pod's containers, one
/// broken field per case, with the field paths and messages the upstream API server reports.
@Suite("IngressValidation")
struct IngressValidationTests {
    static func serviceBackend(_ name: String = "web", port: NetworkingV1.ServiceBackendPort)
        -> NetworkingV1.IngressBackend
    {
        NetworkingV1.IngressBackend(service: NetworkingV1.IngressServiceBackend(name: name, port: port))
    }

    /// A valid ingress: a wildcard host, Prefix and ImplementationSpecific paths, a resource backend.
    static func validIngress() -> NetworkingV1.Ingress {
        var ing = NetworkingV1.Ingress(metadata: MetaV1.ObjectMeta(name: "web", namespace: "prod"))
        ing.spec.rules = [
            NetworkingV1.IngressRule(
                host: "*.example.com",
                ingressRuleValue: NetworkingV1.IngressRuleValue(
                    http: NetworkingV1.HTTPIngressRuleValue(paths: [
                        NetworkingV1.HTTPIngressPath(
                            path: "/api", pathType: "Prefix",
                            backend: serviceBackend(port: NetworkingV1.ServiceBackendPort(name: "http"))),
                        NetworkingV1.HTTPIngressPath(
                            pathType: "ImplementationSpecific",
                            backend: NetworkingV1.IngressBackend(
                                resource: CoreV1.TypedLocalObjectReference(
                                    apiGroup: "k8s.example.com", kind: "StorageBucket", name: "static"))),
                    ]))),
            NetworkingV1.IngressRule(
                host: "shop.example.com",
                ingressRuleValue: NetworkingV1.IngressRuleValue(
                    http: NetworkingV1.HTTPIngressRuleValue(paths: [
                        NetworkingV1.HTTPIngressPath(
                            path: "/checkout", pathType: "Exact",
                            backend: serviceBackend("shop", port: NetworkingV1.ServiceBackendPort(number: 8080)))
                    ]))),
        ]
        return ing
    }

    @Test("a wildcard-host ingress with service and resource backends is valid")
    func valid() {
        #expect(Self.validIngress().validate().map(\.description) == [])
    }

    static let path0 = "spec.rules[0].http.paths[0]"

    static let cases: [InvalidCase<NetworkingV1.Ingress>] = [
        InvalidCase(
            "IP address host",
            ["spec.rules[1].host: Invalid value: \"10.0.0.1\": must be a DNS name, not an IP address"]
        ) {
            $0.spec.rules[1].host = "10.0.0.1"
        },
        InvalidCase(
            "wildcard in the middle",
            [
                "spec.rules[0].host: Invalid value: \"*.*.example.com\": a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain, which must consist of lower case alphanumeric characters, '-' or '.' and end with an alphanumeric character (e.g. '*.example.com', regex used for validation is '\\*\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
            ]
        ) {
            $0.spec.rules[0].host = "*.*.example.com"
        },
        InvalidCase("no paths", ["spec.rules[1].http.paths: Required value"]) {
            $0.spec.rules[1].ingressRuleValue.http?.paths = []
        },
        InvalidCase("relative Prefix path", ["\(path0).path: Invalid value: \"api\": must be an absolute path"]) {
            $0.spec.rules[0].ingressRuleValue.http?.paths[0].path = "api"
        },
        InvalidCase("double slash", ["\(path0).path: Invalid value: \"/a//b\": must not contain '//'"]) {
            $0.spec.rules[0].ingressRuleValue.http?.paths[0].path = "/a//b"
        },
        InvalidCase(
            "dot-dot suffix", ["spec.rules[1].http.paths[0].path: Invalid value: \"/a/..\": cannot end with '/..'"]
        ) {
            $0.spec.rules[1].ingressRuleValue.http?.paths[0].path = "/a/.."
        },
        InvalidCase(
            "relative ImplementationSpecific path",
            ["spec.rules[0].http.paths[1].path: Invalid value: \"static\": must be an absolute path"]
        ) {
            $0.spec.rules[0].ingressRuleValue.http?.paths[1].path = "static"
        },
        InvalidCase(
            "unknown pathType",
            [
                "\(path0).pathType: Unsupported value: \"Regex\": supported values: \"Exact\", \"ImplementationSpecific\", \"Prefix\""
            ]
        ) {
            $0.spec.rules[0].ingressRuleValue.http?.paths[0].pathType = "Regex"
        },
        InvalidCase("missing pathType", ["\(path0).pathType: Required value: pathType must be specified"]) {
            $0.spec.rules[0].ingressRuleValue.http?.paths[0].pathType = nil
        },
        InvalidCase(
            "service and resource backend",
            ["\(path0).backend: Invalid value: \"\": cannot set both resource and service backends"]
        ) {
            $0.spec.rules[0].ingressRuleValue.http?.paths[0].backend.resource = CoreV1.TypedLocalObjectReference(
                kind: "StorageBucket", name: "static")
        },
        InvalidCase("no backend", ["\(path0).backend: Invalid value: \"\": resource or service backend is required"]) {
            $0.spec.rules[0].ingressRuleValue.http?.paths[0].backend = NetworkingV1.IngressBackend()
        },
        InvalidCase(
            "port name and number",
            ["\(path0).backend: Invalid value: \"\": cannot set both port name & port number"]
        ) {
            $0.spec.rules[0].ingressRuleValue.http?.paths[0].backend.service?.port.number = 80
        },
        InvalidCase(
            "neither port name nor number", ["\(path0).backend: Required value: port name or number is required"]
        ) {
            $0.spec.rules[0].ingressRuleValue.http?.paths[0].backend.service?.port.name = ""
        },
        InvalidCase(
            "port number out of range",
            [
                "spec.rules[1].http.paths[0].backend.service.port.number: Invalid value: 70000: must be between 1 and 65535, inclusive"
            ]
        ) {
            $0.spec.rules[1].ingressRuleValue.http?.paths[0].backend.service?.port.number = 70000
        },
        InvalidCase(
            "port name with consecutive hyphens",
            ["\(path0).backend.service.port.name: Invalid value: \"web--port\": must not contain consecutive hyphens"]
        ) {
            $0.spec.rules[0].ingressRuleValue.http?.paths[0].backend.service?.port.name = "web--port"
        },
        InvalidCase("service without a name", ["\(path0).backend.service.name: Required value"]) {
            $0.spec.rules[0].ingressRuleValue.http?.paths[0].backend.service?.name = ""
        },
        InvalidCase(
            "resource without a kind",
            ["spec.rules[0].http.paths[1].backend.resource.kind: Required value: kind is required"]
        ) {
            $0.spec.rules[0].ingressRuleValue.http?.paths[1].backend.resource?.kind = ""
        },
        InvalidCase(
            "empty default backend",
            ["spec.defaultBackend: Invalid value: \"\": resource or service backend is required"]
        ) {
            $0.spec.defaultBackend = NetworkingV1.IngressBackend()
        },
    ]

    @Test("an invalid ingress gets upstream's field path and message", arguments: cases)
    func invalid(_ c: InvalidCase<NetworkingV1.Ingress>) {
        var ing = Self.validIngress()
        c.mutate(&ing)
        #expect(ing.validate().map(\.description) == c.expected)
    }

    static let hostPortCases: [InvalidCase<CoreV1.Pod>] = [
        InvalidCase(
            "two containers claim one host port",
            ["spec.containers[1].ports[0].hostPort: Duplicate value: \"TCP//8080\""]
        ) {
            $0.spec.containers[0].ports[0].hostPort = 8080
            $0.spec.containers[0].ports[0].protocol = "TCP"
            $0.spec.containers.append(
                CoreV1.Container(
                    name: "proxy", image: "envoy:1.30",
                    ports: [CoreV1.ContainerPort(hostPort: 8080, containerPort: 8081, protocol: "TCP")]))
        },
        InvalidCase(
            "one container claims a host IP and port twice",
            ["spec.containers[0].ports[1].hostPort: Duplicate value: \"UDP/10.0.0.5/5353\""]
        ) {
            $0.spec.containers[0].ports = [
                CoreV1.ContainerPort(
                    name: "dns", hostPort: 5353, containerPort: 53, protocol: "UDP", hostIP: "10.0.0.5"),
                CoreV1.ContainerPort(
                    name: "dns2", hostPort: 5353, containerPort: 54, protocol: "UDP", hostIP: "10.0.0.5"),
            ]
        },
        InvalidCase("other protocol or host IP is no conflict", []) {
            $0.spec.containers[0].ports = [
                CoreV1.ContainerPort(name: "a", hostPort: 5353, containerPort: 53, protocol: "UDP"),
                CoreV1.ContainerPort(name: "b", hostPort: 5353, containerPort: 54, protocol: "TCP"),
                CoreV1.ContainerPort(name: "c", hostPort: 5353, containerPort: 55, protocol: "UDP", hostIP: "10.0.0.5"),
            ]
        },
        InvalidCase("init containers may reuse the host ports of the app containers", []) {
            $0.spec.containers[0].ports[0].hostPort = 8080
            $0.spec.initContainers[0].ports = [
                CoreV1.ContainerPort(hostPort: 8080, containerPort: 8080, protocol: "TCP")
            ]
        },
    ]

    @Test("a host port is claimed once per protocol and host IP", arguments: hostPortCases)
    func hostPorts(_ c: InvalidCase<CoreV1.Pod>) {
        var pod = PodSpecValidationTests.validPod()
        c.mutate(&pod)
        #expect(pod.validate().map(\.description) == c.expected)
    }
}
