import APICore
import APIMachinery
import CRI

/// Node-wide settings the pod configs depend on.
public struct PodConfigContext: Sendable {
    public var nodeName: String
    /// Where CRI writes container logs: `<podLogsDir>/<namespace>_<name>_<uid>/<container>/<n>.log`.
    public var podLogsDir: String
    public var clusterDNS: [String]
    public var clusterDomain: String
    /// The host's resolver (dnsPolicy Default, and ClusterFirst without cluster DNS).
    public var hostNameservers: [String]
    public var hostSearches: [String]
    /// The cgroup under which pod cgroups go (`/kubepods`).
    public var cgroupRoot: String
    public var hostIPs: [String]

    public init(
        nodeName: String, podLogsDir: String, clusterDNS: [String] = [], clusterDomain: String = "cluster.local",
        hostNameservers: [String] = [], hostSearches: [String] = [], cgroupRoot: String = "/kubepods",
        hostIPs: [String] = []
    ) {
        self.nodeName = nodeName
        self.podLogsDir = podLogsDir
        self.clusterDNS = clusterDNS
        self.clusterDomain = clusterDomain
        self.hostNameservers = hostNameservers
        self.hostSearches = hostSearches
        self.cgroupRoot = cgroupRoot
        self.hostIPs = hostIPs
    }
}

/// Turns a pod into CRI configurations (upstream's `generatePodSandboxConfig` and
/// `generateContainerConfig`), as pure functions of the pod and the node's settings.
public enum RuntimeConfigs {
    public static func podLogDir(_ pod: CoreV1.Pod, in root: String) -> String {
        "\(root)/\(pod.metadata.namespace)_\(pod.metadata.name)_\(pod.metadata.uid)"
    }

    /// The pod's QoS class: the one the API server recorded, else upstream's rule on its spec.
    public static func qosClass(_ pod: CoreV1.Pod) -> String {
        pod.status.qosClass.isEmpty ? pod.spec.computedQOSClass : pod.status.qosClass
    }

    /// `/kubepods/pod<uid>` (Guaranteed), `/kubepods/burstable/pod<uid>`, `/kubepods/besteffort/pod<uid>`.
    public static func podCgroup(_ pod: CoreV1.Pod, root: String) -> String {
        switch qosClass(pod) {
        case "Guaranteed": return "\(root)/pod\(pod.metadata.uid)"
        case "Burstable": return "\(root)/burstable/pod\(pod.metadata.uid)"
        default: return "\(root)/besteffort/pod\(pod.metadata.uid)"
        }
    }

    /// The pod's hostname: `spec.hostname` or its name, cut to 63 characters (without a trailing
    /// `-` or `.`); host networking uses the node's.
    public static func hostname(_ pod: CoreV1.Pod, nodeHostname: String) -> String {
        if pod.spec.hostNetwork { return nodeHostname }
        var h = pod.spec.hostname.isEmpty ? pod.metadata.name : pod.spec.hostname
        if h.count > 63 {
            h = String(h.prefix(63))
            while let last = h.last, last == "-" || last == "." { h.removeLast() }
        }
        return h
    }

    /// resolv.conf for the pod as its `dnsPolicy` and `dnsConfig` say.
    public static func dnsConfig(_ pod: CoreV1.Pod, _ ctx: PodConfigContext) -> Runtime_V1_DNSConfig {
        var d = Runtime_V1_DNSConfig()
        var policy = pod.spec.dnsPolicy.isEmpty ? "ClusterFirst" : pod.spec.dnsPolicy
        if policy == "ClusterFirst" && pod.spec.hostNetwork { policy = "Default" }
        if policy == "ClusterFirstWithHostNet" { policy = "ClusterFirst" }
        if policy == "ClusterFirst" && ctx.clusterDNS.isEmpty { policy = "Default" }
        switch policy {
        case "ClusterFirst":
            d.servers = ctx.clusterDNS
            let domain = ctx.clusterDomain
            d.searches = ["\(pod.metadata.namespace).svc.\(domain)", "svc.\(domain)", domain] + ctx.hostSearches
            d.options = ["ndots:5"]
        case "Default":
            d.servers = ctx.hostNameservers
            d.searches = ctx.hostSearches
        default:
            break
        }
        if let extra = pod.spec.dnsConfig {
            for s in extra.nameservers where !d.servers.contains(s) { d.servers.append(s) }
            for s in extra.searches where !d.searches.contains(s) { d.searches.append(s) }
            for o in extra.options {
                let text = o.value.map { "\(o.name):\($0)" } ?? o.name
                d.options.removeAll { $0 == o.name || $0.hasPrefix(o.name + ":") }
                d.options.append(text)
            }
        }
        // resolv.conf allows 3 nameservers and 32 search domains (upstream's limits).
        if d.servers.count > 3 { d.servers = Array(d.servers.prefix(3)) }
        if d.searches.count > 32 { d.searches = Array(d.searches.prefix(32)) }
        return d
    }

    public static func sandboxConfig(_ pod: CoreV1.Pod, attempt: UInt32, _ ctx: PodConfigContext, nodeHostname: String)
        -> Runtime_V1_PodSandboxConfig
    {
        var c = Runtime_V1_PodSandboxConfig()
        c.metadata.name = pod.metadata.name
        c.metadata.namespace = pod.metadata.namespace
        c.metadata.uid = pod.metadata.uid
        c.metadata.attempt = attempt
        c.hostname = hostname(pod, nodeHostname: nodeHostname)
        c.logDirectory = podLogDir(pod, in: ctx.podLogsDir)
        c.dnsConfig = dnsConfig(pod, ctx)
        var labels = pod.metadata.labels
        labels[RuntimeLabels.podName] = pod.metadata.name
        labels[RuntimeLabels.podNamespace] = pod.metadata.namespace
        labels[RuntimeLabels.podUID] = pod.metadata.uid
        c.labels = labels
        c.annotations = pod.metadata.annotations
        for container in pod.spec.containers {
            for p in container.ports where (p.hostPort ?? 0) > 0 {
                var m = Runtime_V1_PortMapping()
                m.protocol = p.protocol == "UDP" ? .udp : p.protocol == "SCTP" ? .sctp : .tcp
                m.containerPort = p.containerPort
                m.hostPort = p.hostPort ?? 0
                m.hostIp = p.hostIP
                c.portMappings.append(m)
            }
        }
        c.linux.cgroupParent = podCgroup(pod, root: ctx.cgroupRoot)
        c.linux.securityContext.namespaceOptions = namespaceOptions(pod)
        if let sc = pod.spec.securityContext {
            if let u = sc.runAsUser { c.linux.securityContext.runAsUser.value = u }
            if let g = sc.runAsGroup { c.linux.securityContext.runAsGroup.value = g }
            c.linux.securityContext.supplementalGroups = sc.supplementalGroups + (sc.fsGroup.map { [$0] } ?? [])
            for s in sc.sysctls { c.linux.sysctls[s.name] = s.value }
        }
        c.linux.securityContext.seccomp.profileType = .runtimeDefault
        return c
    }

    static func namespaceOptions(_ pod: CoreV1.Pod) -> Runtime_V1_NamespaceOption {
        var n = Runtime_V1_NamespaceOption()
        n.network = pod.spec.hostNetwork ? .node : .pod
        n.pid = pod.spec.hostPID ? .node : (pod.spec.shareProcessNamespace == true ? .pod : .container)
        n.ipc = pod.spec.hostIPC ? .node : .pod
        return n
    }

    /// The environment of a container: `env` (with `$(VAR)` references to earlier entries) after
    /// `envFrom`, values from the pod's fields resolved here; ConfigMap/Secret values come in
    /// `resolved` (name → value), looked up by the caller.
    public static func environment(
        _ c: CoreV1.Container, _ pod: CoreV1.Pod, podIPs: [String], hostIPs: [String],
        fromSources: [(String, String)] = [], resolved: [String: String] = [:], serviceEnv: [String: String] = [:]
    ) -> [(String, String)] {
        var out: [(String, String)] = fromSources
        // Service variables may be referenced by $(VAR) and come last, unless the container sets them.
        var values = serviceEnv
        for (k, v) in fromSources { values[k] = v }
        func set(_ k: String, _ v: String) {
            if let i = out.firstIndex(where: { $0.0 == k }) { out[i].1 = v } else { out.append((k, v)) }
            values[k] = v
        }
        for e in c.env {
            if let from = e.valueFrom {
                if let f = from.fieldRef {
                    set(e.name, fieldValue(f.fieldPath, pod, podIPs: podIPs, hostIPs: hostIPs))
                } else if let v = resolved[e.name] {
                    set(e.name, v)
                }
            } else {
                set(e.name, expand(e.value, values))
            }
        }
        let set = Set(out.map(\.0))
        for (k, v) in serviceEnv.sorted(by: { $0.key < $1.key }) where !set.contains(k) { out.append((k, v)) }
        return out
    }

    /// `metadata.name`, `status.podIP`, … as the downward API gives them.
    public static func fieldValue(_ path: String, _ pod: CoreV1.Pod, podIPs: [String], hostIPs: [String]) -> String {
        switch path {
        case "metadata.name": return pod.metadata.name
        case "metadata.namespace": return pod.metadata.namespace
        case "metadata.uid": return pod.metadata.uid
        case "spec.nodeName": return pod.spec.nodeName
        case "spec.serviceAccountName": return pod.spec.serviceAccountName
        case "status.podIP": return podIPs.first ?? ""
        case "status.podIPs": return podIPs.joined(separator: ",")
        case "status.hostIP": return hostIPs.first ?? ""
        case "status.hostIPs": return hostIPs.joined(separator: ",")
        default:
            if path.hasPrefix("metadata.labels['"), path.hasSuffix("']") {
                return pod.metadata.labels[String(path.dropFirst(17).dropLast(2))] ?? ""
            }
            if path.hasPrefix("metadata.annotations['"), path.hasSuffix("']") {
                return pod.metadata.annotations[String(path.dropFirst(22).dropLast(2))] ?? ""
            }
            return ""
        }
    }

    /// `$(VAR)` references replaced by known values; `$$` escapes a `$`; unknown references stay.
    public static func expand(_ s: String, _ values: [String: String]) -> String {
        guard s.contains("$") else { return s }
        var out = ""
        var i = s.startIndex
        while i < s.endIndex {
            let ch = s[i]
            let next = s.index(after: i)
            if ch == "$", next < s.endIndex {
                if s[next] == "$" {
                    out.append("$")
                    i = s.index(after: next)
                    continue
                }
                if s[next] == "(", let close = s[next...].firstIndex(of: ")") {
                    let name = String(s[s.index(after: next)..<close])
                    if let v = values[name] { out += v } else { out += "$(\(name))" }
                    i = s.index(after: close)
                    continue
                }
            }
            out.append(ch)
            i = next
        }
        return out
    }

    /// CPU shares for a request in millicores (upstream: 1024 per core, at least 2).
    public static func cpuShares(milli: Int64) -> Int64 { max(2, milli * 1024 / 1000) }

    /// A container's cgroup settings from its requests and limits: cpu shares from the request (the
    /// limit without one), a CFS quota of a 100 ms period from the cpu limit, the memory limit.
    public static func linuxResources(_ c: CoreV1.Container) -> Runtime_V1_LinuxContainerResources {
        var r = Runtime_V1_LinuxContainerResources()
        let cpuRequest = c.resources.requests["cpu"] ?? c.resources.limits["cpu"]
        r.cpuShares = cpuShares(milli: cpuRequest?.milliValue ?? 0)
        if let lim = c.resources.limits["cpu"] {
            r.cpuPeriod = 100_000
            r.cpuQuota = max(1000, lim.milliValue * 100_000 / 1000)
        }
        if let mem = c.resources.limits["memory"] { r.memoryLimitInBytes = mem.value }
        return r
    }

    public static func containerConfig(
        _ c: CoreV1.Container, _ pod: CoreV1.Pod, restartCount: Int32, image: String, env: [(String, String)],
        mounts: [Runtime_V1_Mount] = []
    ) -> Runtime_V1_ContainerConfig {
        var cfg = Runtime_V1_ContainerConfig()
        cfg.metadata.name = c.name
        cfg.metadata.attempt = UInt32(max(0, restartCount))
        cfg.image.image = image
        cfg.image.userSpecifiedImage = c.image
        let values = Dictionary(env, uniquingKeysWith: { _, b in b })
        cfg.command = c.command.map { expand($0, values) }
        cfg.args = c.args.map { expand($0, values) }
        cfg.workingDir = c.workingDir
        cfg.envs = env.map { k, v in
            var kv = Runtime_V1_KeyValue()
            kv.key = k
            kv.value = v
            return kv
        }
        cfg.mounts = mounts
        cfg.logPath = "\(c.name)/\(restartCount).log"
        cfg.stdin = c.stdin
        cfg.stdinOnce = c.stdinOnce
        cfg.tty = c.tty
        cfg.labels = [
            RuntimeLabels.containerName: c.name, RuntimeLabels.podName: pod.metadata.name,
            RuntimeLabels.podNamespace: pod.metadata.namespace, RuntimeLabels.podUID: pod.metadata.uid,
        ]
        cfg.annotations = [
            RuntimeLabels.containerHash: String(ContainerHash.of(c), radix: 16),
            RuntimeLabels.restartCount: String(restartCount),
            RuntimeLabels.terminationMessagePath: c.terminationMessagePath,
            RuntimeLabels.terminationMessagePolicy: c.terminationMessagePolicy,
            RuntimeLabels.terminationGracePeriod: String(pod.spec.terminationGracePeriodSeconds ?? 30),
        ]
        cfg.linux.resources = linuxResources(c)
        var sc = Runtime_V1_LinuxContainerSecurityContext()
        sc.namespaceOptions = namespaceOptions(pod)
        let psc = pod.spec.securityContext
        if let u = c.securityContext?.runAsUser ?? psc?.runAsUser { sc.runAsUser.value = u }
        if let g = c.securityContext?.runAsGroup ?? psc?.runAsGroup { sc.runAsGroup.value = g }
        sc.supplementalGroups = (psc?.supplementalGroups ?? []) + (psc?.fsGroup.map { [$0] } ?? [])
        if let csc = c.securityContext {
            sc.privileged = csc.privileged ?? false
            sc.readonlyRootfs = csc.readOnlyRootFilesystem ?? false
            if let caps = csc.capabilities {
                sc.capabilities.addCapabilities = caps.add
                sc.capabilities.dropCapabilities = caps.drop
            }
            if let ape = csc.allowPrivilegeEscalation { sc.noNewPrivs = !ape }
        }
        sc.seccomp.profileType = sc.privileged ? .unconfined : .runtimeDefault
        sc.maskedPaths = []
        cfg.linux.securityContext = sc
        return cfg
    }
}
