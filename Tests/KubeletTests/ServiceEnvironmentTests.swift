import APICore
import Kubelet
import Testing

/// Service environment variables: the expected values are the example of Kubernetes' "Discovering
/// services" documentation (a `redis-primary` service on TCP 6379 at 10.0.0.11) and its rules on
/// which services a pod sees.
@Suite("service environment variables")
struct ServiceEnvironmentTests {
    static func service(_ ns: String, _ name: String, ip: String, ports: [(String, Int32, String)]) -> CoreV1.Service {
        var s = CoreV1.Service()
        s.metadata.namespace = ns
        s.metadata.name = name
        s.spec.clusterIP = ip
        s.spec.ports = ports.map { n, p, proto in
            var sp = CoreV1.ServicePort()
            sp.name = n
            sp.port = p
            sp.protocol = proto
            return sp
        }
        return s
    }

    @Test("the documented variables of one service")
    func documented() {
        let env = ServiceEnvironment.variables(
            [Self.service("prod", "redis-primary", ip: "10.0.0.11", ports: [("", 6379, "TCP")])], namespace: "prod",
            enableServiceLinks: true)
        #expect(
            env == [
                "REDIS_PRIMARY_SERVICE_HOST": "10.0.0.11",
                "REDIS_PRIMARY_SERVICE_PORT": "6379",
                "REDIS_PRIMARY_PORT": "tcp://10.0.0.11:6379",
                "REDIS_PRIMARY_PORT_6379_TCP": "tcp://10.0.0.11:6379",
                "REDIS_PRIMARY_PORT_6379_TCP_PROTO": "tcp",
                "REDIS_PRIMARY_PORT_6379_TCP_PORT": "6379",
                "REDIS_PRIMARY_PORT_6379_TCP_ADDR": "10.0.0.11",
            ])
    }

    @Test("named ports, other namespaces, headless services, service links off, the master service")
    func selection() {
        let services = [
            Self.service("a", "web", ip: "10.0.0.5", ports: [("http", 80, "TCP"), ("dns", 53, "UDP")]),
            Self.service("b", "other", ip: "10.0.0.6", ports: [("", 1, "TCP")]),
            Self.service("a", "headless", ip: "None", ports: [("", 2, "TCP")]),
            Self.service("default", "kubernetes", ip: "10.0.0.1", ports: [("https", 443, "TCP")]),
        ]
        let env = ServiceEnvironment.variables(services, namespace: "a", enableServiceLinks: true)
        #expect(env["WEB_SERVICE_PORT"] == "80")
        #expect(env["WEB_SERVICE_PORT_HTTP"] == "80")
        #expect(env["WEB_SERVICE_PORT_DNS"] == "53")
        #expect(env["WEB_PORT_53_UDP"] == "udp://10.0.0.5:53")
        #expect(env["WEB_PORT_53_UDP_PROTO"] == "udp")
        #expect(env["OTHER_SERVICE_HOST"] == nil)
        #expect(env["HEADLESS_SERVICE_HOST"] == nil)
        #expect(env["KUBERNETES_SERVICE_HOST"] == "10.0.0.1")
        let off = ServiceEnvironment.variables(services, namespace: "a", enableServiceLinks: false)
        #expect(Set(off.keys.map { String($0.prefix(10)) }) == ["KUBERNETES"])
    }

    @Test("container variables win over service ones, and may refer to them")
    func precedence() {
        var c = CoreV1.Container()
        c.name = "c"
        var a = CoreV1.EnvVar()
        a.name = "WEB_SERVICE_HOST"
        a.value = "mine"
        var b = CoreV1.EnvVar()
        b.name = "URL"
        b.value = "http://$(WEB_SERVICE_PORT)"
        c.env = [a, b]
        let env = RuntimeConfigs.environment(
            c, CoreV1.Pod(), podIPs: [], hostIPs: [],
            serviceEnv: ["WEB_SERVICE_HOST": "10.0.0.5", "WEB_SERVICE_PORT": "80"])
        let map = Dictionary(env, uniquingKeysWith: { a, _ in a })
        #expect(map["WEB_SERVICE_HOST"] == "mine")
        #expect(map["URL"] == "http://80")
        #expect(map["WEB_SERVICE_PORT"] == "80")
        #expect(env.filter { $0.0 == "WEB_SERVICE_HOST" }.count == 1)
    }
}
