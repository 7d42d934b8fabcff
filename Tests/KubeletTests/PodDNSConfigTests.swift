import APICore
import CRI
import Kubelet
import Testing

/// The resolv.conf the kubelet asks the runtime to write for a pod (`RuntimeConfigs.dnsConfig`).
/// Expectations are the rules of Kubernetes' "DNS for Services and Pods" documentation: the four
/// policies, ClusterFirst's search list (`<ns>.svc.<domain>`, `svc.<domain>`, `<domain>`, then the
/// node's) with `ndots:5`, the host-network fallback, and how `dnsConfig` is merged and limited.
@Suite("pod DNS configuration")
struct PodDNSConfigTests {
    static let context = PodConfigContext(
        nodeName: "n1", podLogsDir: "/var/log/pods", clusterDNS: ["10.96.0.10"], clusterDomain: "cluster.local",
        hostNameservers: ["192.0.2.53"], hostSearches: ["corp.example"])

    static func pod(
        namespace: String = "team-a", policy: String = "", hostNetwork: Bool = false, config: CoreV1.PodDNSConfig? = nil
    ) -> CoreV1.Pod {
        var p = CoreV1.Pod()
        p.metadata.namespace = namespace
        p.metadata.name = "p"
        p.spec.dnsPolicy = policy
        p.spec.hostNetwork = hostNetwork
        p.spec.dnsConfig = config
        return p
    }

    struct Expected: Equatable, Sendable, CustomStringConvertible {
        var servers: [String]
        var searches: [String]
        var options: [String]
        init(_ servers: [String], _ searches: [String], _ options: [String]) {
            self.servers = servers
            self.searches = searches
            self.options = options
        }
        init(_ d: Runtime_V1_DNSConfig) { self.init(d.servers, d.searches, d.options) }
        var description: String { "servers \(servers) search \(searches) options \(options)" }
    }

    static let clusterFirst = Expected(
        ["10.96.0.10"], ["team-a.svc.cluster.local", "svc.cluster.local", "cluster.local", "corp.example"], ["ndots:5"])
    static let host = Expected(["192.0.2.53"], ["corp.example"], [])

    /// One row of the policy table, named by its description in the test output.
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var pod: CoreV1.Pod
        var want: Expected
        init(_ name: String, _ pod: CoreV1.Pod, _ want: Expected) {
            self.name = name
            self.pod = pod
            self.want = want
        }
        var testDescription: String { name }
    }

    @Test(
        "each policy's resolv.conf",
        arguments: [
            // No policy means ClusterFirst: the cluster DNS, the namespace's search list, then the node's.
            Case("default policy", pod(), clusterFirst),
            Case("ClusterFirst", pod(policy: "ClusterFirst"), clusterFirst),
            // Host-network pods with ClusterFirst fall back to Default; ClusterFirstWithHostNet keeps
            // the cluster DNS (and means ClusterFirst for other pods).
            Case("ClusterFirst, host network", pod(policy: "ClusterFirst", hostNetwork: true), host),
            Case(
                "ClusterFirstWithHostNet, host network", pod(policy: "ClusterFirstWithHostNet", hostNetwork: true),
                clusterFirst),
            Case("ClusterFirstWithHostNet", pod(policy: "ClusterFirstWithHostNet"), clusterFirst),
            // Default: the node's resolver.
            Case("Default", pod(policy: "Default"), host),
            // None: only what dnsConfig says.
            Case(
                "None",
                pod(
                    policy: "None",
                    config: CoreV1.PodDNSConfig(
                        nameservers: ["1.2.3.4"], searches: ["ns1.svc.cluster-domain.example"],
                        options: [
                            CoreV1.PodDNSConfigOption(name: "ndots", value: "2"),
                            CoreV1.PodDNSConfigOption(name: "edns0"),
                        ])),
                Expected(["1.2.3.4"], ["ns1.svc.cluster-domain.example"], ["ndots:2", "edns0"])),
        ])
    func policies(_ c: Case) {
        #expect(Expected(RuntimeConfigs.dnsConfig(c.pod, Self.context)) == c.want, "\(c.name)")
    }

    @Test("the search list follows the pod's namespace and the cluster domain")
    func searchList() {
        var ctx = Self.context
        ctx.clusterDomain = "k8s.test"
        ctx.hostSearches = []
        let d = RuntimeConfigs.dnsConfig(Self.pod(namespace: "kube-system"), ctx)
        #expect(d.searches == ["kube-system.svc.k8s.test", "svc.k8s.test", "k8s.test"])
        #expect(d.servers == ["10.96.0.10"])
        #expect(d.options == ["ndots:5"])
    }

    @Test("without a cluster DNS address the kubelet falls back to the node's resolver")
    func noClusterDNS() {
        var ctx = Self.context
        ctx.clusterDNS = []
        #expect(Expected(RuntimeConfigs.dnsConfig(Self.pod(), ctx)) == Self.host)
    }

    @Test("dnsConfig is merged: servers and searches appended without duplicates, an option replaces its namesake")
    func merged() {
        let config = CoreV1.PodDNSConfig(
            nameservers: ["10.96.0.10", "192.0.2.99"], searches: ["svc.cluster.local", "extra.example"],
            options: [CoreV1.PodDNSConfigOption(name: "ndots", value: "2"), CoreV1.PodDNSConfigOption(name: "edns0")])
        let got = Expected(RuntimeConfigs.dnsConfig(Self.pod(config: config), Self.context))
        #expect(
            got
                == Expected(
                    ["10.96.0.10", "192.0.2.99"],
                    [
                        "team-a.svc.cluster.local", "svc.cluster.local", "cluster.local", "corp.example",
                        "extra.example",
                    ],
                    ["ndots:2", "edns0"]))
    }

    @Test("at most 3 nameservers and 32 search domains")
    func limits() {
        let config = CoreV1.PodDNSConfig(
            nameservers: ["192.0.2.1", "192.0.2.2", "192.0.2.3"], searches: (1...40).map { "d\($0).example" })
        let d = RuntimeConfigs.dnsConfig(Self.pod(config: config), Self.context)
        #expect(d.servers == ["10.96.0.10", "192.0.2.1", "192.0.2.2"])
        #expect(d.searches.count == 32)
        #expect(Array(d.searches.prefix(4)) == Self.clusterFirst.searches)
    }
}
