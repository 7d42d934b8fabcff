import Foundation
import Testing

/// Cluster DNS as a pod uses it, on a real node: the kubelet's resolv.conf for `dnsPolicy:
/// ClusterFirst`, questions to the kube-dns ClusterIP that the built-in kube-proxy sends to the
/// node's DNS listener, the search path with `ndots:5`, headless endpoints, NXDOMAIN, TCP, and a
/// Service reached by its short name. Expectations are the Kubernetes DNS specification's records,
/// the kubelet's documented resolv.conf, and resolver behaviour (glibc's search list rules).
extension NodeE2ETests {
    /// The tools the DNS test runs on the host, in a pod's network namespace.
    static let dnsTools = ["/usr/bin/dig", "/usr/bin/getent", "/usr/bin/nsenter", "/usr/bin/unshare", "/usr/sbin/nft"]

    /// A command on the host run in the network namespace at `netns`, with `resolvConf` in place of
    /// /etc/resolv.conf (a private mount namespace): what a process inside the pod sees, with Debian's
    /// dig and glibc's resolver.
    func inPodNetwork(_ netns: String, resolvConf: String, _ argv: [String]) throws -> TestCluster.Result {
        try TestCluster.execute(
            [
                "/usr/bin/nsenter", "--net=\(netns)", "/usr/bin/unshare", "--mount", "--propagation", "private",
                "/bin/sh", "-c", "/usr/bin/mount --bind \"$0\" /etc/resolv.conf && exec \"$@\"", resolvConf,
            ] + argv, environment: [:], scratchDir: NSTemporaryDirectory(), check: false)
    }

    /// The network namespace file of a running pod: the entry of /run/netns (where containerd's CRI
    /// keeps its sandboxes' namespaces) with the inode the pod reports for `/proc/self/ns/net`.
    /// Matched by inode, not by address: namespaces of earlier runs may still hold the same pod IP.
    func netns(ofPod name: String, _ c: TestCluster) throws -> String? {
        let link = try c.kubectl(["exec", name, "--", "readlink", "/proc/self/ns/net"]).out
        guard let open = link.firstIndex(of: "["), let close = link.firstIndex(of: "]"),
            let inode = UInt64(link[link.index(after: open)..<close])
        else { return nil }
        let dir = "/run/netns"
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] {
            let attributes = try? FileManager.default.attributesOfItem(atPath: "\(dir)/\(entry)")
            if (attributes?[.systemFileNumber] as? NSNumber)?.uint64Value == inode { return "\(dir)/\(entry)" }
        }
        return nil
    }

    /// The addresses busybox nslookup printed for its answers (`Address: a.b.c.d`; the server's own
    /// line is `Address:\t<ip>:53`).
    static func nslookupAddresses(_ out: String) -> [String] {
        out.split(whereSeparator: \.isNewline).compactMap { line in
            line.hasPrefix("Address: ")
                ? String(line.dropFirst("Address: ".count)).trimmingCharacters(in: .whitespaces) : nil
        }
    }

    @Test(
        "cluster DNS from a pod through the kube-dns ClusterIP: resolv.conf, the search path, headless endpoints, NXDOMAIN, TCP, a Service fetched by name"
    )
    func nodeClusterDNS() throws {
        if let tool = Self.dnsTools.first(where: { !FileManager.default.isExecutableFile(atPath: $0) }) {
            print("skipped: the pod DNS test needs \(tool) (Debian dnsutils, libc-bin, util-linux, nftables)")
            return
        }
        try withNode { c, dir, busybox in
            defer {
                // The pods go through the CRI, so their network namespaces go with them.
                _ = try? c.kubectl(
                    ["delete", "deployment", "web", "--cascade=foreground", "--timeout=60s"], check: false)
                _ = try? c.kubectl(["delete", "pod", "client", "--grace-period=1", "--timeout=60s"], check: false)
                _ = try? c.run(TestCluster.binary, ["kube-proxy", "--cleanup"], check: false)
            }
            let manifest = """
                apiVersion: apps/v1
                kind: Deployment
                metadata: {name: web}
                spec:
                  replicas: 2
                  selector: {matchLabels: {app: web}}
                  template:
                    metadata: {labels: {app: web}}
                    spec:
                      terminationGracePeriodSeconds: 1
                      containers:
                      - name: httpd
                        image: \(busybox)
                        imagePullPolicy: IfNotPresent
                        command: [sh, -c, "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www"]
                        readinessProbe:
                          tcpSocket: {port: 8080}
                          periodSeconds: 1
                ---
                apiVersion: v1
                kind: Service
                metadata: {name: web}
                spec:
                  selector: {app: web}
                  ports: [{name: http, port: 80, targetPort: 8080}]
                ---
                apiVersion: v1
                kind: Service
                metadata: {name: web-headless}
                spec:
                  clusterIP: None
                  selector: {app: web}
                  ports: [{name: http, port: 8080}]
                ---
                apiVersion: v1
                kind: Pod
                metadata: {name: client}
                spec:
                  terminationGracePeriodSeconds: 1
                  containers:
                  - name: sh
                    image: \(busybox)
                    imagePullPolicy: IfNotPresent
                    command: [sleep, "3600"]
                """
            try c.kubectl(["apply", "-f", "-"], stdin: manifest)
            try eventually(c, "two ready web pods and a running client", timeout: 120) {
                let ready = try pods(c, "app=web").filter(Self.isReady)
                let client = try pod(c, "client")
                return ready.count == 2 && dig(client, "status", "phase") as? String == "Running"
            }
            let webPods = try pods(c, "app=web")
            let names = Set(webPods.compactMap { dig($0, "metadata", "name") as? String })
            let podIPs = Set(webPods.compactMap { dig($0, "status", "podIP") as? String })
            let clusterIP = try c.kubectl(["get", "svc", "web", "-o", "jsonpath={.spec.clusterIP}"]).out
            let apiIP = try c.kubectl(["get", "svc", "kubernetes", "-o", "jsonpath={.spec.clusterIP}"]).out
            var dnsIP = ""
            try eventually(c, "Service kube-system/kube-dns") {
                dnsIP =
                    try c.kubectl(
                        ["get", "svc", "-n", "kube-system", "kube-dns", "-o", "jsonpath={.spec.clusterIP}"],
                        check: false
                    ).out
                return !dnsIP.isEmpty
            }
            // The kubernetes Service takes the range's first address, kube-dns its 10th (kubeadm's and
            // k3s's convention, what --cluster-dns defaults to).
            let first = apiIP.split(separator: ".").compactMap { Int($0) }
            #expect(first.count == 4 && dnsIP == "\(first[0]).\(first[1]).\(first[2]).\(first[3] + 9)", "\(dnsIP)")

            // ClusterFirst: the kubelet's resolv.conf names the cluster DNS, the namespace's search list
            // first, and ndots:5 (the kubelet's documented defaults).
            let resolv = try c.kubectl(["exec", "client", "--", "cat", "/etc/resolv.conf"]).out
            let lines = resolv.split(whereSeparator: \.isNewline).map(String.init)
            #expect(lines.contains("nameserver \(dnsIP)"), "\(resolv)")
            #expect(
                lines.contains { $0.hasPrefix("search default.svc.cluster.local svc.cluster.local cluster.local") },
                "\(resolv)")
            #expect(lines.contains("options ndots:5"), "\(resolv)")

            // busybox nslookup in the pod: a name without dots goes through the search list; the first
            // domain, `<ns>.svc.<zone>`, holds the Service (the A record of a ClusterIP Service is its
            // ClusterIP).
            var last = TestCluster.Result(status: -1, out: "", err: "")
            do {
                try eventually(c, "the short name answered from a pod through \(dnsIP)", timeout: 60) {
                    last = try c.kubectl(["exec", "client", "--", "nslookup", "web"], check: false)
                    return last.out.contains("Name:\tweb.default.svc.cluster.local")
                        && Self.nslookupAddresses(last.out).contains(clusterIP)
                }
            } catch {
                throw E2EError("\(error)\nlast nslookup: \(last)\n\(nftTable())")
            }
            let fqdn = try c.kubectl(
                ["exec", "client", "--", "nslookup", "web.default.svc.cluster.local"], check: false)
            #expect(fqdn.status == 0, "\(fqdn)")
            #expect(Self.nslookupAddresses(fqdn.out) == [clusterIP], "\(fqdn.out)")
            // A headless Service: one A record per ready endpoint, the pods' own addresses.
            let headless = try c.kubectl(
                ["exec", "client", "--", "nslookup", "web-headless.default.svc.cluster.local"], check: false)
            #expect(Set(Self.nslookupAddresses(headless.out)) == podIPs, "\(headless.out)")
            let api = try c.kubectl(
                ["exec", "client", "--", "nslookup", "kubernetes.default.svc.cluster.local"], check: false)
            #expect(Self.nslookupAddresses(api.out) == [apiIP], "\(api.out)")
            // A named port's SRV record: `_<port>._<proto>.<svc>.<ns>.svc.<zone>` → port and the
            // Service's name.
            let srv = try c.kubectl(
                ["exec", "client", "--", "nslookup", "-type=srv", "_http._tcp.web.default.svc.cluster.local"],
                check: false)
            #expect(srv.out.contains(" 80 web.default.svc.cluster.local"), "\(srv.out)")
            // A Service no one made: NXDOMAIN (nslookup exits 1 and names the rcode).
            let missing = try c.kubectl(
                ["exec", "client", "--", "nslookup", "nosuch.default.svc.cluster.local"], check: false)
            #expect(missing.status != 0 && missing.out.contains("NXDOMAIN"), "\(missing)")

            // glibc's resolver and dig in the pod's network namespace with the pod's resolv.conf:
            // names with fewer than five dots try the search list first (`web.default` →
            // `web.default.svc.cluster.local`, `kubernetes.default` likewise). busybox 1.35's nslookup
            // cannot show this: it applies the search list only to names without a dot.
            let netns = try #require(try netns(ofPod: "client", c), "the client pod's network namespace")
            let resolvFile = dir + "/client-resolv.conf"
            try resolv.write(toFile: resolvFile, atomically: true, encoding: .utf8)
            for (name, want) in [("web", clusterIP), ("web.default", clusterIP), ("kubernetes.default", apiIP)] {
                let r = try inPodNetwork(netns, resolvConf: resolvFile, ["/usr/bin/getent", "ahostsv4", name])
                #expect(r.status == 0 && r.out.hasPrefix(want + " "), "getent ahostsv4 \(name): \(r)")
            }
            let searched = try inPodNetwork(
                netns, resolvConf: resolvFile,
                ["/usr/bin/dig", "+search", "+short", "+time=2", "+tries=1", "web.default"])
            #expect(searched.out.trimmingCharacters(in: .whitespacesAndNewlines) == clusterIP, "\(searched)")
            // Over TCP to the ClusterIP (port 53/TCP, the dns-tcp port of kube-dns).
            let tcp = try inPodNetwork(
                netns, resolvConf: resolvFile,
                ["/usr/bin/dig", "+tcp", "+short", "+time=2", "+tries=1", "@\(dnsIP)", "web.default.svc.cluster.local"])
            #expect(tcp.out.trimmingCharacters(in: .whitespacesAndNewlines) == clusterIP, "\(tcp)")
            let tcpHeadless = try inPodNetwork(
                netns, resolvConf: resolvFile,
                [
                    "/usr/bin/dig", "+tcp", "+short", "+time=2", "+tries=1", "@\(dnsIP)",
                    "web-headless.default.svc.cluster.local",
                ])
            #expect(
                Set(tcpHeadless.out.split(whereSeparator: \.isNewline).map(String.init)) == podIPs, "\(tcpHeadless)")
            // NXDOMAIN with the zone's SOA in the authority section (negative caching, RFC 2308).
            let nx = try inPodNetwork(
                netns, resolvConf: resolvFile,
                ["/usr/bin/dig", "+time=2", "+tries=1", "@\(dnsIP)", "nosuch.default.svc.cluster.local"])
            #expect(nx.out.contains("status: NXDOMAIN"), "\(nx)")
            #expect(nx.out.contains("SOA\tns.dns.cluster.local. hostmaster.cluster.local."), "\(nx)")

            // A Service by its short name from a pod: busybox nc resolves `web` through the search list
            // and the ClusterIP sends it to one of the pods (busybox nc: the static busybox's wget
            // crashes resolving names here).
            var fetched = TestCluster.Result(status: -1, out: "", err: "")
            do {
                try eventually(c, "http://web answering from a pod by name") {
                    fetched = try c.kubectl(
                        ["exec", "client", "--", "sh", "-c", "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 web 80"],
                        check: false)
                    let body = fetched.out.split(whereSeparator: \.isNewline).last.map(String.init) ?? ""
                    return fetched.status == 0 && names.contains(body.trimmingCharacters(in: .whitespacesAndNewlines))
                }
            } catch {
                throw E2EError("\(error)\nlast from the pod: \(fetched)")
            }
            #expect(fetched.out.hasPrefix("HTTP/1.1 200 OK"), "busybox httpd's status line: \(fetched.out)")
        }
    }
}
