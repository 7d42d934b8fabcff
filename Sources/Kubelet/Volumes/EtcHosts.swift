import APICore

/// The /etc/hosts the kubelet writes for a pod's containers (`<root>/pods/<uid>/etc-hosts`).
public enum EtcHosts {
    /// For a pod on the pod network: the managed header, localhost and IPv6 lines, one line per pod
    /// IP with the hostname (after its FQDN when the pod has a `subdomain`), then `hostAliases`.
    public static func managed(
        podIPs: [String], hostname: String, domain: String, hostAliases: [CoreV1.HostAlias]
    ) -> String {
        var s = "# Kubernetes-managed hosts file.\n"
        s += "127.0.0.1\tlocalhost\n"
        s += "::1\tlocalhost ip6-localhost ip6-loopback\n"
        s += "fe00::0\tip6-localnet\n"
        s += "fe00::0\tip6-mcastprefix\n"
        s += "fe00::1\tip6-allnodes\n"
        s += "fe00::2\tip6-allrouters\n"
        for ip in podIPs {
            s += domain.isEmpty ? "\(ip)\t\(hostname)\n" : "\(ip)\t\(hostname).\(domain)\t\(hostname)\n"
        }
        return s + aliases(hostAliases)
    }

    /// For a pod on the host network: the host's own file under a header of its own, then `hostAliases`.
    public static func hostNetwork(hostFile: String, hostAliases: [CoreV1.HostAlias]) -> String {
        "# Kubernetes-managed hosts file (host network).\n" + hostFile + aliases(hostAliases)
    }

    static func aliases(_ hostAliases: [CoreV1.HostAlias]) -> String {
        guard !hostAliases.isEmpty else { return "" }
        var s = "\n# Entries added by HostAliases.\n"
        for a in hostAliases { s += a.ip + "\t" + a.hostnames.joined(separator: "\t") + "\n" }
        return s
    }

    /// The hosts file of a pod: its hostname (spec.hostname or the name, at most 63 characters) and,
    /// with a `subdomain`, the domain `<subdomain>.<namespace>.svc.<cluster domain>`.
    public static func content(
        _ pod: CoreV1.Pod, podIPs: [String], clusterDomain: String, hostFile: String
    ) -> String {
        if pod.spec.hostNetwork { return hostNetwork(hostFile: hostFile, hostAliases: pod.spec.hostAliases) }
        let hostname = RuntimeConfigs.hostname(pod, nodeHostname: "")
        let domain =
            pod.spec.subdomain.isEmpty ? "" : "\(pod.spec.subdomain).\(pod.metadata.namespace).svc.\(clusterDomain)"
        return managed(podIPs: podIPs, hostname: hostname, domain: domain, hostAliases: pod.spec.hostAliases)
    }
}
