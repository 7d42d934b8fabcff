import Foundation
import KubernetesAPI
import Testing

/// One invalid object in a table: how to break a valid object, and upstream's resulting errors.
struct InvalidCase<Object: Sendable>: Sendable, CustomTestStringConvertible {
    var name: String
    var mutate: @Sendable (inout Object) -> Void
    var expected: [String]

    init(_ name: String, _ expected: [String], _ mutate: @escaping @Sendable (inout Object) -> Void) {
        self.name = name
        self.mutate = mutate
        self.expected = expected
    }

    var testDescription: String { name }
}

/// Pod spec and Service validation beyond the basics, one broken field per case, with the field
/// paths and messages the upstream API server reports.
@Suite("PodSpecValidation")
struct PodSpecValidationTests {
    /// A realistic pod that uses most of the validated features and is valid after defaulting.
    static func validPod() -> CoreV1.Pod {
        var pod = CoreV1.Pod(metadata: MetaV1.ObjectMeta(name: "web-0", namespace: "prod", labels: ["app": "web"]))
        var c = CoreV1.Container(name: "web", image: "nginx:1.27")
        c.ports = [
            CoreV1.ContainerPort(name: "http", containerPort: 8080),
            CoreV1.ContainerPort(name: "metrics", containerPort: 9090),
        ]
        c.livenessProbe = CoreV1.Probe(
            handler: CoreV1.ProbeHandler(httpGet: CoreV1.HTTPGetAction(path: "/healthz", port: .string("http"))),
            periodSeconds: 5)
        c.readinessProbe = CoreV1.Probe(handler: CoreV1.ProbeHandler(tcpSocket: CoreV1.TCPSocketAction(port: 8080)))
        c.startupProbe = CoreV1.Probe(
            handler: CoreV1.ProbeHandler(exec: CoreV1.ExecAction(command: ["cat", "/ready"])), failureThreshold: 30)
        c.securityContext = CoreV1.SecurityContext(
            capabilities: CoreV1.Capabilities(drop: ["ALL"]), runAsUser: 1000, runAsNonRoot: true,
            readOnlyRootFilesystem: true, allowPrivilegeEscalation: false,
            seccompProfile: CoreV1.SeccompProfile(type: "RuntimeDefault"))
        pod.spec.containers = [c]
        pod.spec.initContainers = [CoreV1.Container(name: "migrate", image: "migrate:2")]
        pod.spec.securityContext = CoreV1.PodSecurityContext(
            runAsUser: 1000, runAsGroup: 3000, supplementalGroups: [4000], supplementalGroupsPolicy: "Merge",
            fsGroup: 2000, sysctls: [CoreV1.Sysctl(name: "net.ipv4.ip_local_port_range", value: "1024 65535")],
            fsGroupChangePolicy: "OnRootMismatch",
            appArmorProfile: CoreV1.AppArmorProfile(type: "Localhost", localhostProfile: "k8s-nginx"))
        let zone = CoreV1.NodeSelectorRequirement(
            key: "topology.kubernetes.io/zone", operator: "In", values: ["eu-west-1a", "eu-west-1b"])
        pod.spec.affinity = CoreV1.Affinity(
            nodeAffinity: CoreV1.NodeAffinity(
                requiredDuringSchedulingIgnoredDuringExecution: CoreV1.NodeSelector(nodeSelectorTerms: [
                    CoreV1.NodeSelectorTerm(matchExpressions: [zone])
                ]),
                preferredDuringSchedulingIgnoredDuringExecution: [
                    CoreV1.PreferredSchedulingTerm(
                        weight: 50,
                        preference: CoreV1.NodeSelectorTerm(matchExpressions: [
                            CoreV1.NodeSelectorRequirement(key: "disk", operator: "Exists")
                        ]))
                ]),
            podAntiAffinity: CoreV1.PodAntiAffinity(preferredDuringSchedulingIgnoredDuringExecution: [
                CoreV1.WeightedPodAffinityTerm(
                    weight: 100,
                    podAffinityTerm: CoreV1.PodAffinityTerm(
                        labelSelector: MetaV1.LabelSelector(matchLabels: ["app": "web"]),
                        topologyKey: "kubernetes.io/hostname"))
            ]))
        pod.spec.tolerations = [
            CoreV1.Toleration(
                key: "node.kubernetes.io/not-ready", operator: "Exists", effect: "NoExecute", tolerationSeconds: 300),
            CoreV1.Toleration(key: "dedicated", operator: "Equal", value: "web", effect: "NoSchedule"),
        ]
        pod.spec.topologySpreadConstraints = [
            CoreV1.TopologySpreadConstraint(
                maxSkew: 1, topologyKey: "topology.kubernetes.io/zone", whenUnsatisfiable: "DoNotSchedule",
                labelSelector: MetaV1.LabelSelector(matchLabels: ["app": "web"]), minDomains: 2),
            CoreV1.TopologySpreadConstraint(
                maxSkew: 2, topologyKey: "kubernetes.io/hostname", whenUnsatisfiable: "ScheduleAnyway"),
        ]
        pod.spec.dnsPolicy = "None"
        pod.spec.dnsConfig = CoreV1.PodDNSConfig(
            nameservers: ["10.96.0.10"], searches: ["prod.svc.cluster.local", "cluster.local."],
            options: [CoreV1.PodDNSConfigOption(name: "ndots", value: "2")])
        pod.spec.preemptionPolicy = "PreemptLowerPriority"
        pod.applyDefaults()
        return pod
    }

    @Test("a realistic pod with security contexts, affinity, probes and DNS config is valid")
    func validPodHasNoErrors() {
        #expect(Self.validPod().validate().map(\.description) == [])
    }

    @Test("a host-network pod whose ports are defaulted is valid")
    func hostNetworkValid() {
        var pod = CoreV1.Pod(metadata: MetaV1.ObjectMeta(name: "agent", namespace: "kube-system"))
        pod.spec.hostNetwork = true
        pod.spec.dnsPolicy = "ClusterFirstWithHostNet"
        pod.spec.containers = [
            CoreV1.Container(name: "agent", image: "agent:1", ports: [CoreV1.ContainerPort(containerPort: 9100)])
        ]
        pod.applyDefaults()
        #expect(pod.validate().map(\.description) == [])
    }

    static let podCases: [InvalidCase<CoreV1.Pod>] = [
        // Pod security context.
        InvalidCase(
            "negative fsGroup",
            ["spec.securityContext.fsGroup: Invalid value: -1: must be between 0 and 2147483647, inclusive"]
        ) {
            $0.spec.securityContext?.fsGroup = -1
        },
        InvalidCase(
            "negative pod runAsUser",
            ["spec.securityContext.runAsUser: Invalid value: -5: must be between 0 and 2147483647, inclusive"]
        ) {
            $0.spec.securityContext?.runAsUser = -5
        },
        InvalidCase(
            "negative supplemental group",
            [
                "spec.securityContext.supplementalGroups[0]: Invalid value: -2: must be between 0 and 2147483647, inclusive"
            ]
        ) {
            $0.spec.securityContext?.supplementalGroups = [-2]
        },
        InvalidCase(
            "unknown supplementalGroupsPolicy",
            [
                "spec.securityContext.supplementalGroupsPolicy: Unsupported value: \"Loose\": supported values: \"Merge\", \"Strict\""
            ]
        ) {
            $0.spec.securityContext?.supplementalGroupsPolicy = "Loose"
        },
        InvalidCase(
            "unknown fsGroupChangePolicy",
            [
                "spec.securityContext.fsGroupChangePolicy: Unsupported value: \"Never\": supported values: \"Always\", \"OnRootMismatch\""
            ]
        ) {
            $0.spec.securityContext?.fsGroupChangePolicy = "Never"
        },
        InvalidCase(
            "malformed sysctl name",
            [
                "spec.securityContext.sysctls[0].name: Invalid value: \"net..core\": must have at most 253 characters and match regex ([a-z0-9]([-_a-z0-9]*[a-z0-9])?[\\./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?"
            ]
        ) {
            $0.spec.securityContext?.sysctls = [CoreV1.Sysctl(name: "net..core", value: "1")]
        },
        InvalidCase(
            "duplicate sysctl", ["spec.securityContext.sysctls[1].name: Duplicate value: \"kernel.shm_rmid_forced\""]
        ) {
            $0.spec.securityContext?.sysctls = [
                CoreV1.Sysctl(name: "kernel.shm_rmid_forced", value: "1"),
                CoreV1.Sysctl(name: "kernel.shm_rmid_forced", value: "0"),
            ]
        },
        InvalidCase("empty sysctl name", ["spec.securityContext.sysctls[0].name: Required value"]) {
            $0.spec.securityContext?.sysctls = [CoreV1.Sysctl(name: "", value: "1")]
        },
        InvalidCase(
            "seccomp Localhost without profile",
            [
                "spec.securityContext.seccompProfile.localhostProfile: Required value: must be set when seccomp type is Localhost"
            ]
        ) {
            $0.spec.securityContext?.seccompProfile = CoreV1.SeccompProfile(type: "Localhost")
        },
        InvalidCase(
            "unknown seccomp type",
            [
                "spec.securityContext.seccompProfile.type: Unsupported value: \"Strict\": supported values: \"Localhost\", \"RuntimeDefault\", \"Unconfined\""
            ]
        ) {
            $0.spec.securityContext?.seccompProfile = CoreV1.SeccompProfile(type: "Strict")
        },
        InvalidCase(
            "empty seccomp type",
            ["spec.securityContext.seccompProfile.type: Required value: type is required when seccompProfile is set"]
        ) {
            $0.spec.securityContext?.seccompProfile = CoreV1.SeccompProfile(type: "")
        },
        InvalidCase(
            "AppArmor Localhost without profile",
            [
                "spec.securityContext.appArmorProfile.localhostProfile: Required value: must be set when AppArmor type is Localhost"
            ]
        ) {
            $0.spec.securityContext?.appArmorProfile = CoreV1.AppArmorProfile(type: "Localhost")
        },
        InvalidCase(
            "AppArmor profile padded with whitespace",
            [
                "spec.securityContext.appArmorProfile.localhostProfile: Invalid value: \" k8s-nginx\": must not be padded with whitespace"
            ]
        ) {
            $0.spec.securityContext?.appArmorProfile = CoreV1.AppArmorProfile(
                type: "Localhost", localhostProfile: " k8s-nginx")
        },
        // Container security context.
        InvalidCase(
            "negative container runAsGroup",
            [
                "spec.containers[0].securityContext.runAsGroup: Invalid value: -1: must be between 0 and 2147483647, inclusive"
            ]
        ) {
            $0.spec.containers[0].securityContext?.runAsGroup = -1
        },
        InvalidCase(
            "privileged without privilege escalation",
            [
                "spec.containers[0].securityContext: Invalid value: cannot set `allowPrivilegeEscalation` to false and `privileged` to true"
            ]
        ) {
            $0.spec.containers[0].securityContext?.privileged = true
        },
        InvalidCase(
            "CAP_SYS_ADMIN without privilege escalation",
            [
                "spec.containers[0].securityContext: Invalid value: cannot set `allowPrivilegeEscalation` to false and `capabilities.Add` CAP_SYS_ADMIN"
            ]
        ) {
            $0.spec.containers[0].securityContext?.capabilities?.add = ["CAP_SYS_ADMIN"]
        },
        // Node affinity.
        InvalidCase(
            "no node selector terms",
            [
                "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms: Required value: must have at least one node selector term"
            ]
        ) {
            $0.spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms = []
        },
        InvalidCase(
            "unknown node selector operator",
            [
                "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator: Invalid value: \"Near\": not a valid selector operator"
            ]
        ) {
            $0.spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms[0]
                .matchExpressions[0].operator = "Near"
        },
        InvalidCase(
            "In without values",
            [
                "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'"
            ]
        ) {
            $0.spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms[0]
                .matchExpressions[0].values = []
        },
        InvalidCase(
            "Gt with two values",
            [
                "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values: Required value: must be specified single value when `operator` is 'Lt' or 'Gt'"
            ]
        ) {
            $0.spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms[0]
                .matchExpressions[0].operator = "Gt"
        },
        InvalidCase(
            "Exists with values",
            [
                "spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].preference.matchExpressions[0].values: Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'"
            ]
        ) {
            $0.spec.affinity?.nodeAffinity?.preferredDuringSchedulingIgnoredDuringExecution[0].preference
                .matchExpressions[0].values = ["ssd"]
        },
        InvalidCase(
            "preferred node term weight 0",
            [
                "spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight: Invalid value: 0: must be in the range 1-100"
            ]
        ) {
            $0.spec.affinity?.nodeAffinity?.preferredDuringSchedulingIgnoredDuringExecution[0].weight = 0
        },
        InvalidCase(
            "field selector on a label key",
            [
                "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchFields[0].key: Invalid value: \"metadata.labels\": not a valid field selector key"
            ]
        ) {
            $0.spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms[0]
                .matchFields = [
                    CoreV1.NodeSelectorRequirement(key: "metadata.labels", operator: "In", values: ["a"])
                ]
        },
        // Pod (anti-)affinity.
        InvalidCase(
            "anti-affinity weight 101",
            [
                "spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight: Invalid value: 101: must be in the range 1-100"
            ]
        ) {
            $0.spec.affinity?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution[0].weight = 101
        },
        InvalidCase(
            "bad pod affinity topology key",
            [
                "spec.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey: Invalid value: \"zone/a/b\": a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
            ]
        ) {
            $0.spec.affinity?.podAffinity = CoreV1.PodAffinity(requiredDuringSchedulingIgnoredDuringExecution: [
                CoreV1.PodAffinityTerm(
                    labelSelector: MetaV1.LabelSelector(matchLabels: ["app": "db"]), topologyKey: "zone/a/b")
            ])
        },
        InvalidCase(
            "pod affinity selector with a bad operator",
            [
                "spec.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].labelSelector.matchExpressions[0].operator: Invalid value: \"Has\": not a valid selector operator"
            ]
        ) {
            $0.spec.affinity?.podAffinity = CoreV1.PodAffinity(requiredDuringSchedulingIgnoredDuringExecution: [
                CoreV1.PodAffinityTerm(
                    labelSelector: MetaV1.LabelSelector(matchExpressions: [
                        MetaV1.LabelSelectorRequirement(key: "app", operator: "Has")
                    ]),
                    topologyKey: "kubernetes.io/hostname")
            ])
        },
        // Tolerations.
        InvalidCase(
            "tolerationSeconds without NoExecute",
            [
                "spec.tolerations[1].effect: Invalid value: \"NoSchedule\": effect must be 'NoExecute' when `tolerationSeconds` is set"
            ]
        ) {
            $0.spec.tolerations[1].tolerationSeconds = 60
        },
        InvalidCase(
            "empty key with Equal",
            [
                "spec.tolerations[1].operator: Invalid value: \"Equal\": operator must be Exists when `key` is empty, which means \"match all values and all keys\""
            ]
        ) {
            $0.spec.tolerations[1].key = ""
        },
        InvalidCase(
            "unknown toleration operator",
            ["spec.tolerations[1].operator: Unsupported value: \"Matches\": supported values: \"Equal\", \"Exists\""]
        ) {
            $0.spec.tolerations[1].operator = "Matches"
        },
        InvalidCase(
            "unknown taint effect",
            [
                "spec.tolerations[1].effect: Unsupported value: \"NoRun\": supported values: \"NoSchedule\", \"PreferNoSchedule\", \"NoExecute\""
            ]
        ) {
            $0.spec.tolerations[1].effect = "NoRun"
        },
        InvalidCase(
            "invalid toleration value",
            [
                "spec.tolerations[1].operator: Invalid value: \"-web\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
            ]
        ) {
            $0.spec.tolerations[1].value = "-web"
        },
        InvalidCase(
            "Exists with a value",
            [
                "spec.tolerations[1].operator: Invalid value: core.Toleration{Key:\"dedicated\", Operator:\"Exists\", Value:\"web\", Effect:\"NoSchedule\", TolerationSeconds:(*int64)(nil)}: value must be empty when `operator` is 'Exists'"
            ]
        ) {
            $0.spec.tolerations[1].operator = "Exists"
        },
        // Topology spread constraints.
        InvalidCase(
            "maxSkew 0", ["spec.topologySpreadConstraints[0].maxSkew: Invalid value: 0: must be greater than zero"]
        ) {
            $0.spec.topologySpreadConstraints[0].maxSkew = 0
        },
        InvalidCase(
            "empty topologyKey", ["spec.topologySpreadConstraints[1].topologyKey: Required value: can not be empty"]
        ) {
            $0.spec.topologySpreadConstraints[1].topologyKey = ""
        },
        InvalidCase(
            "unknown whenUnsatisfiable",
            [
                "spec.topologySpreadConstraints[1].whenUnsatisfiable: Unsupported value: \"Maybe\": supported values: \"DoNotSchedule\", \"ScheduleAnyway\""
            ]
        ) {
            $0.spec.topologySpreadConstraints[1].whenUnsatisfiable = "Maybe"
        },
        InvalidCase(
            "minDomains with ScheduleAnyway",
            [
                "spec.topologySpreadConstraints[0].minDomains: Invalid value: 2: can only use minDomains if whenUnsatisfiable=DoNotSchedule, not ScheduleAnyway"
            ]
        ) {
            $0.spec.topologySpreadConstraints[0].whenUnsatisfiable = "ScheduleAnyway"
        },
        InvalidCase(
            "minDomains 0",
            ["spec.topologySpreadConstraints[0].minDomains: Invalid value: 0: must be greater than zero"]
        ) {
            $0.spec.topologySpreadConstraints[0].minDomains = 0
        },
        InvalidCase(
            "repeated key and action",
            [
                "spec.topologySpreadConstraints[0].{topologyKey, whenUnsatisfiable}: Duplicate value: \"{kubernetes.io/hostname, ScheduleAnyway}\""
            ]
        ) {
            $0.spec.topologySpreadConstraints[0] = $0.spec.topologySpreadConstraints[1]
        },
        InvalidCase(
            "unknown nodeTaintsPolicy",
            [
                "spec.topologySpreadConstraints[1].nodeTaintsPolicy: Unsupported value: \"Always\": supported values: \"Honor\", \"Ignore\""
            ]
        ) {
            $0.spec.topologySpreadConstraints[1].nodeTaintsPolicy = "Always"
        },
        InvalidCase(
            "matchLabelKeys overlapping the selector",
            [
                "spec.topologySpreadConstraints[0].matchLabelKeys[0]: Invalid value: \"app\": exists in both matchLabelKeys and labelSelector"
            ]
        ) {
            $0.spec.topologySpreadConstraints[0].matchLabelKeys = ["app"]
        },
        // Probes.
        InvalidCase(
            "probe without handler", ["spec.containers[0].readinessProbe: Required value: must specify a handler type"]
        ) {
            $0.spec.containers[0].readinessProbe?.handler = CoreV1.ProbeHandler()
        },
        InvalidCase(
            "probe with two handlers",
            ["spec.containers[0].readinessProbe.grpc: Forbidden: may not specify more than 1 handler type"]
        ) {
            $0.spec.containers[0].readinessProbe?.handler.grpc = CoreV1.GRPCAction(port: 8080)
        },
        InvalidCase(
            "probe port out of range",
            [
                "spec.containers[0].readinessProbe.tcpSocket.port: Invalid value: 70000: must be between 1 and 65535, inclusive"
            ]
        ) {
            $0.spec.containers[0].readinessProbe?.handler.tcpSocket?.port = .int(70000)
        },
        InvalidCase(
            "probe port name too long",
            [
                "spec.containers[0].livenessProbe.httpGet.port: Invalid value: \"http-metrics-port\": must be no more than 15 characters"
            ]
        ) {
            $0.spec.containers[0].livenessProbe?.handler.httpGet?.port = .string("http-metrics-port")
        },
        InvalidCase(
            "unknown probe scheme",
            [
                "spec.containers[0].livenessProbe.httpGet.scheme: Unsupported value: \"FTP\": supported values: \"HTTP\", \"HTTPS\""
            ]
        ) {
            $0.spec.containers[0].livenessProbe?.handler.httpGet?.scheme = "FTP"
        },
        InvalidCase(
            "negative failureThreshold",
            ["spec.containers[0].startupProbe.failureThreshold: Invalid value: -1: must be greater than or equal to 0"]
        ) {
            $0.spec.containers[0].startupProbe?.failureThreshold = -1
        },
        InvalidCase(
            "liveness successThreshold 2",
            ["spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1"]
        ) {
            $0.spec.containers[0].livenessProbe?.successThreshold = 2
        },
        InvalidCase(
            "readiness probe grace period",
            [
                "spec.containers[0].readinessProbe.terminationGracePeriodSeconds: Invalid value: 10: must not be set for readinessProbes"
            ]
        ) {
            $0.spec.containers[0].readinessProbe?.terminationGracePeriodSeconds = 10
        },
        InvalidCase("exec probe without command", ["spec.containers[0].startupProbe.exec.command: Required value"]) {
            $0.spec.containers[0].startupProbe?.handler.exec?.command = []
        },
        // Container ports.
        InvalidCase(
            "containerPort out of range",
            ["spec.containers[0].ports[0].containerPort: Invalid value: 65536: must be between 1 and 65535, inclusive"]
        ) {
            $0.spec.containers[0].ports[0].containerPort = 65536
        },
        InvalidCase("containerPort missing", ["spec.containers[0].ports[0].containerPort: Required value"]) {
            $0.spec.containers[0].ports[0].containerPort = 0
        },
        InvalidCase(
            "unknown port protocol",
            [
                "spec.containers[0].ports[1].protocol: Unsupported value: \"ICMP\": supported values: \"SCTP\", \"TCP\", \"UDP\""
            ]
        ) {
            $0.spec.containers[0].ports[1].protocol = "ICMP"
        },
        InvalidCase("duplicate port names", ["spec.containers[0].ports[1].name: Duplicate value: \"http\""]) {
            $0.spec.containers[0].ports[1].name = "http"
        },
        InvalidCase(
            "host network with a different hostPort",
            [
                "spec.containers[0].ports[0].containerPort: Invalid value: 8080: must match `hostPort` when `hostNetwork` is true"
            ]
        ) {
            $0.spec.hostNetwork = true
            $0.spec.containers[0].ports[0].hostPort = 80
            $0.spec.containers[0].ports[1].hostPort = 9090
        },
        // Ephemeral containers.
        InvalidCase("ephemeral containers on create", ["spec.ephemeralContainers: Forbidden: cannot be set on create"])
        {
            $0.spec.ephemeralContainers = [
                CoreV1.EphemeralContainer(
                    ephemeralContainerCommon: CoreV1.EphemeralContainerCommon(
                        name: "debug", image: "busybox", terminationMessagePath: "/dev/termination-log",
                        terminationMessagePolicy: "File", imagePullPolicy: "IfNotPresent"),
                    targetContainerName: "web")
            ]
        },
        InvalidCase(
            "ephemeral container reusing a name, with ports and probes",
            [
                "spec.ephemeralContainers[0].name: Duplicate value: \"web\"",
                "spec.ephemeralContainers[0].ports: Forbidden: cannot be set for an Ephemeral Container",
                "spec.ephemeralContainers[0].readinessProbe: Forbidden: cannot be set for an Ephemeral Container",
                "spec.ephemeralContainers[0].targetContainerName: Not found: \"sidecar\"",
                "spec.ephemeralContainers: Forbidden: cannot be set on create",
            ]
        ) {
            $0.spec.ephemeralContainers = [
                CoreV1.EphemeralContainer(
                    ephemeralContainerCommon: CoreV1.EphemeralContainerCommon(
                        name: "web", image: "busybox", ports: [CoreV1.ContainerPort(containerPort: 1, protocol: "TCP")],
                        readinessProbe: $0.spec.containers[0].readinessProbe,
                        terminationMessagePath: "/dev/termination-log",
                        terminationMessagePolicy: "File", imagePullPolicy: "IfNotPresent"),
                    targetContainerName: "sidecar")
            ]
        },
        // DNS.
        InvalidCase(
            "dnsPolicy None without nameservers",
            [
                "spec.dnsConfig.nameservers: Required value: must provide at least one DNS nameserver when `dnsPolicy` is None"
            ]
        ) {
            $0.spec.dnsConfig?.nameservers = []
        },
        InvalidCase(
            "dnsPolicy None without dnsConfig",
            ["spec.dnsConfig: Required value: must provide `dnsConfig` when `dnsPolicy` is None"]
        ) {
            $0.spec.dnsConfig = nil
        },
        InvalidCase(
            "nameserver not an IP",
            [
                "spec.dnsConfig.nameservers[0]: Invalid value: \"dns.local\": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"
            ]
        ) {
            $0.spec.dnsConfig?.nameservers = ["dns.local"]
        },
        InvalidCase(
            "DNS option without name", ["spec.dnsConfig.options[0]: Required value: Option.Name must not be empty"]
        ) {
            $0.spec.dnsConfig?.options[0].name = ""
        },
        InvalidCase(
            "search domain not a subdomain",
            [
                "spec.dnsConfig.searches[0]: Invalid value: \"Prod_svc\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
            ]
        ) {
            $0.spec.dnsConfig?.searches[0] = "Prod_svc"
        },
        // Policies and durations.
        InvalidCase(
            "unknown restartPolicy",
            [
                "spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\""
            ]
        ) {
            $0.spec.restartPolicy = "Sometimes"
        },
        InvalidCase(
            "negative terminationGracePeriodSeconds",
            ["spec.terminationGracePeriodSeconds: Invalid value: -1: must be greater than or equal to 0"]
        ) {
            $0.spec.terminationGracePeriodSeconds = -1
        },
        InvalidCase(
            "zero activeDeadlineSeconds",
            ["spec.activeDeadlineSeconds: Invalid value: 0: must be between 1 and 2147483647, inclusive"]
        ) {
            $0.spec.activeDeadlineSeconds = 0
        },
        InvalidCase(
            "unknown preemptionPolicy",
            [
                "spec.preemptionPolicy: Unsupported value: \"Always\": supported values: \"Never\", \"PreemptLowerPriority\""
            ]
        ) {
            $0.spec.preemptionPolicy = "Always"
        },
    ]

    @Test("an invalid pod gets upstream's field path and message", arguments: podCases)
    func invalidPod(_ c: InvalidCase<CoreV1.Pod>) {
        var pod = Self.validPod()
        c.mutate(&pod)
        #expect(pod.validate().map(\.description) == c.expected)
    }

    @Test("pod updates may keep existing ephemeral containers")
    func ephemeralUpdate() {
        var pod = Self.validPod()
        pod.spec.ephemeralContainers = [
            CoreV1.EphemeralContainer(
                ephemeralContainerCommon: CoreV1.EphemeralContainerCommon(
                    name: "debug", image: "busybox", terminationMessagePath: "/dev/termination-log",
                    terminationMessagePolicy: "File", imagePullPolicy: "IfNotPresent"),
                targetContainerName: "web")
        ]
        var updated = pod
        updated.spec.containers[0].image = "nginx:1.28"
        #expect(updated.validateUpdate(from: pod).map(\.description) == [])
    }

    /// A valid dual-stack ClusterIP service after defaulting.
    static func validService() -> CoreV1.Service {
        var svc = CoreV1.Service(metadata: MetaV1.ObjectMeta(name: "web", namespace: "prod"))
        svc.spec.selector = ["app": "web"]
        svc.spec.ports = [
            CoreV1.ServicePort(name: "http", port: 80, targetPort: .string("http")),
            CoreV1.ServicePort(name: "metrics", port: 9090),
        ]
        svc.spec.clusterIP = "10.96.0.20"
        svc.spec.clusterIPs = ["10.96.0.20", "fd00:10:96::20"]
        svc.spec.ipFamilies = ["IPv4", "IPv6"]
        svc.spec.ipFamilyPolicy = "PreferDualStack"
        svc.spec.sessionAffinity = "ClientIP"
        svc.applyDefaults()
        return svc
    }

    @Test("a dual-stack ClusterIP service with client-IP affinity is valid")
    func validServiceHasNoErrors() {
        #expect(Self.validService().validate().map(\.description) == [])
    }

    static let serviceCases: [InvalidCase<CoreV1.Service>] = [
        InvalidCase(
            "unknown IP family",
            ["spec.ipFamilies[1]: Unsupported value: \"IPv5\": supported values: \"IPv4\", \"IPv6\""]
        ) {
            $0.spec.ipFamilies[1] = "IPv5"
        },
        InvalidCase(
            "duplicate IP family",
            [
                "spec.ipFamilies[1]: Duplicate value: \"IPv4\"",
                "spec.clusterIPs[1]: Invalid value: \"fd00:10:96::20\": expected an IPv4 value as indicated by `ipFamilies[1]`",
            ]
        ) {
            $0.spec.ipFamilies[1] = "IPv4"
        },
        InvalidCase(
            "unknown ipFamilyPolicy",
            [
                "spec.ipFamilyPolicy: Unsupported value: \"DualStack\": supported values: \"PreferDualStack\", \"RequireDualStack\", \"SingleStack\""
            ]
        ) {
            $0.spec.ipFamilyPolicy = "DualStack"
        },
        InvalidCase(
            "SingleStack with two families",
            [
                "spec.ipFamilyPolicy: Invalid value: \"SingleStack\": must be 'RequireDualStack' or 'PreferDualStack' when multiple cluster IPs are specified",
                "spec.ipFamilyPolicy: Invalid value: \"SingleStack\": must be 'RequireDualStack' or 'PreferDualStack' when multiple IP families are specified",
            ]
        ) {
            $0.spec.ipFamilyPolicy = "SingleStack"
        },
        InvalidCase(
            "clusterIPs[0] differs from clusterIP",
            [
                "spec.clusterIPs: Invalid value: []string{\"10.96.0.21\", \"fd00:10:96::20\"}: first value must match `clusterIP`"
            ]
        ) {
            $0.spec.clusterIPs[0] = "10.96.0.21"
        },
        InvalidCase(
            "None not alone",
            [
                "spec.clusterIPs: Invalid value: []string{\"None\", \"fd00:10:96::20\"}: 'None' must be the first and only value"
            ]
        ) {
            $0.spec.clusterIP = "None"
            $0.spec.clusterIPs[0] = "None"
        },
        InvalidCase(
            "two IPv4 cluster IPs",
            [
                "spec.clusterIPs: Invalid value: []string{\"10.96.0.20\", \"10.96.0.30\"}: may specify no more than one IP for each IP family",
                "spec.clusterIPs[1]: Invalid value: \"10.96.0.30\": expected an IPv6 value as indicated by `ipFamilies[1]`",
            ]
        ) {
            $0.spec.clusterIPs[1] = "10.96.0.30"
        },
        InvalidCase(
            "invalid cluster IP",
            [
                "spec.clusterIPs[1]: Invalid value: \"fd00::zz\": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"
            ]
        ) {
            $0.spec.clusterIPs[1] = "fd00::zz"
        },
        InvalidCase("second port without a name", ["spec.ports[1].name: Required value"]) {
            $0.spec.ports[1].name = ""
        },
        InvalidCase(
            "duplicate port and protocol",
            [
                "spec.ports[1]: Duplicate value: core.ServicePort{Name:\"\", Protocol:\"TCP\", AppProtocol:(*string)(nil), Port:80, TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:\"\"}, NodePort:0}"
            ]
        ) {
            $0.spec.ports[1].port = 80
        },
        InvalidCase(
            "nodePort on a ClusterIP service",
            ["spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"]
        ) {
            $0.spec.ports[0].nodePort = 30080
        },
        InvalidCase("duplicate nodePorts", ["spec.ports[1].nodePort: Duplicate value: 30080"]) {
            $0.spec.type = "NodePort"
            $0.spec.ports[0].nodePort = 30080
            $0.spec.ports[1].nodePort = 30080
        },
        InvalidCase(
            "affinity timeout beyond a day",
            [
                "spec.sessionAffinityConfig.clientIP.timeoutSeconds: Invalid value: 86401: must be greater than 0 and less than 86400"
            ]
        ) {
            $0.spec.sessionAffinityConfig?.clientIP?.timeoutSeconds = 86401
        },
        InvalidCase(
            "ExternalName with cluster IPs and families",
            [
                "spec.clusterIPs: Forbidden: may not be set for ExternalName services",
                "spec.ipFamilyPolicy: Forbidden: may not be set for ExternalName services",
                "spec.ipFamilies: Forbidden: may not be set for ExternalName services",
            ]
        ) {
            $0.spec.type = "ExternalName"
            $0.spec.externalName = "db.example.com."
            $0.spec.clusterIP = ""
        },
    ]

    @Test("an invalid service gets upstream's field path and message", arguments: serviceCases)
    func invalidService(_ c: InvalidCase<CoreV1.Service>) {
        var svc = Self.validService()
        c.mutate(&svc)
        #expect(svc.validate().map(\.description) == c.expected)
    }

    @Test("the pod and service upstream accepted and stored validate cleanly")
    func upstreamAcceptedObjects() throws {
        let (_, podBody) = try DefaultingTests.exchange("create-pod-defaults")
        let pod = try JSONReader.decode(CoreV1.Pod.self, from: podBody)
        #expect(pod.validate().map(\.description) == [])
        let (_, svcBody) = try DefaultingTests.exchange("create-service-defaults")
        let svc = try JSONReader.decode(CoreV1.Service.self, from: svcBody)
        #expect(svc.validate().map(\.description) == [])
    }

    @Test("pod templates may not carry ephemeral containers")
    func templateEphemeral() {
        var t = CoreV1.PodTemplate(metadata: MetaV1.ObjectMeta(name: "t", namespace: "prod"))
        t.template.spec = Self.validPod().spec
        t.template.spec.ephemeralContainers = [
            CoreV1.EphemeralContainer(
                ephemeralContainerCommon: CoreV1.EphemeralContainerCommon(
                    name: "debug", image: "busybox", terminationMessagePath: "/dev/termination-log",
                    terminationMessagePolicy: "File", imagePullPolicy: "IfNotPresent"))
        ]
        #expect(
            t.validate().map(\.description) == [
                "template.spec.ephemeralContainers: Forbidden: ephemeral containers not allowed in pod template"
            ])
    }
}
