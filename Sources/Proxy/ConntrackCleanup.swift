/// Which UDP conntrack entries a rules change leaves stale, as `conntrack -D` argument lists.
/// UDP has no connection end, so an entry keeps sending a flow to an endpoint that is gone, or to
/// rejection after endpoints appear, until it is deleted (upstream's CleanStaleEntries).
public enum ConntrackCleanup {
    /// For each UDP port of the Service: when it gains endpoints after having none, every entry
    /// to its addresses and node port (they were made while traffic was rejected); when an
    /// endpoint goes, the entries DNAT'ed to it.
    public static func deletions(old: ServiceRules?, new: ServiceRules?) -> [[String]] {
        var out: [[String]] = []
        let oldPorts = old?.udpPorts ?? [:]
        let newPorts = new?.udpPorts ?? [:]
        for name in newPorts.keys.sorted() {
            let n = newPorts[name]!
            let before = oldPorts[name]?.endpointIPs ?? []
            guard before.isEmpty, !n.endpointIPs.isEmpty else { continue }
            for ip in n.serviceIPs {
                out.append(["-D", "-p", "udp", "--orig-dst", ip, "--orig-port-dst", String(n.port)])
            }
            if n.nodePort != 0 { out.append(["-D", "-p", "udp", "--orig-port-dst", String(n.nodePort)]) }
        }
        for name in oldPorts.keys.sorted() {
            let o = oldPorts[name]!
            let still = Set(newPorts[name]?.endpointIPs ?? [])
            for ep in o.endpointIPs where !still.contains(ep) {
                for ip in o.serviceIPs {
                    out.append([
                        "-D", "-p", "udp", "--orig-dst", ip, "--orig-port-dst", String(o.port), "--dst-nat", ep,
                    ])
                }
                if o.nodePort != 0 {
                    out.append(["-D", "-p", "udp", "--orig-port-dst", String(o.nodePort), "--dst-nat", ep])
                }
            }
        }
        return out
    }
}
