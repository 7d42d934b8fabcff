import Foundation
import Testing

/// Services on a real node through the built-in kube-proxy (nftables): two busybox httpd pods
/// behind a ClusterIP Service answer from the host and from another pod, a NodePort answers on the
/// node's address, a Service scaled to zero rejects (connection refused, as upstream's reject
/// rule), a deleted Service's rules leave table `ip kube-proxy`, `/healthz` answers upstream's
/// JSON, and `kube-proxy --cleanup` removes the table.
extension NodeE2ETests {
    /// curl from the host: its exit status (7: connection refused) and body.
    func curl(_ url: String, timeout: Int = 3) throws -> TestCluster.Result {
        try TestCluster.execute(
            ["/usr/bin/curl", "-s", "-m", String(timeout), url], environment: [:], scratchDir: NSTemporaryDirectory(),
            check: false)
    }

    func nftTable() -> String {
        (try? TestCluster.execute(
            ["/usr/sbin/nft", "list", "table", "ip", "kube-proxy"], environment: [:],
            scratchDir: NSTemporaryDirectory(),
            check: false
        ).out) ?? ""
    }

    @Test(
        "services: ClusterIP from the host and from a pod, NodePort, rejection at zero endpoints, rules gone with the Service"
    )
    func nodeServiceProxy() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/sbin/nft"),
            FileManager.default.isExecutableFile(atPath: "/usr/bin/curl")
        else {
            print("skipped: the service proxy test needs nft (Debian nftables) and curl")
            return
        }
        try withNode { c, _, busybox in
            defer {
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
                metadata: {name: web-np}
                spec:
                  type: NodePort
                  selector: {app: web}
                  ports: [{name: http, port: 80, targetPort: 8080, nodePort: 31080}]
                ---
                apiVersion: v1
                kind: Pod
                metadata: {name: client}
                spec:
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
            let names = Set(try pods(c, "app=web").compactMap { dig($0, "metadata", "name") as? String })
            let clusterIP = try c.kubectl(["get", "svc", "web", "-o", "jsonpath={.spec.clusterIP}"]).out
            #expect(clusterIP.hasPrefix("10."))

            // From the host (nat-output): each answer is one of the two pods, and both answer.
            var seen: Set<String> = []
            try eventually(c, "the ClusterIP answering from the host with both pods") {
                let r = try curl("http://\(clusterIP)/")
                let body = r.out.trimmingCharacters(in: .whitespacesAndNewlines)
                if r.status == 0 { seen.insert(body) }
                return seen.count == 2
            }
            #expect(seen == names, "numgen random spreads over both endpoints: \(seen) vs \(names)")

            // From another pod (nat-prerouting, bridged replies); busybox nc, as the static
            // busybox's wget crashes resolving names here.
            var fromPod = TestCluster.Result(status: -1, out: "", err: "")
            do {
                try eventually(c, "the ClusterIP answering from a pod") {
                    let r = try c.kubectl(
                        [
                            "exec", "client", "--", "sh", "-c",
                            "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 \(clusterIP) 80",
                        ], check: false)
                    fromPod = r
                    let last = r.out.split(whereSeparator: \.isNewline).last.map(String.init) ?? ""
                    return r.status == 0 && names.contains(last.trimmingCharacters(in: .whitespacesAndNewlines))
                }
            } catch {
                let ct = try? TestCluster.execute(
                    ["/usr/sbin/conntrack", "-L"], environment: [:], scratchDir: NSTemporaryDirectory(), check: false)
                throw E2EError("\(error)\nlast from the pod: \(fromPod)\n\(nftTable())\n\(ct?.out ?? "")")
            }

            // The NodePort on the node's InternalIP.
            let nodeIP = try c.kubectl([
                "get", "nodes", "-o", "jsonpath={.items[0].status.addresses[?(@.type==\"InternalIP\")].address}",
            ]).out
            #expect(!nodeIP.isEmpty)
            try eventually(c, "the NodePort answering on \(nodeIP):31080") {
                let r = try curl("http://\(nodeIP):31080/")
                return r.status == 0 && names.contains(r.out.trimmingCharacters(in: .whitespacesAndNewlines))
            }

            // Health and metrics, as upstream serves them.
            let healthz = try curl("http://127.0.0.1:10256/healthz")
            #expect(
                healthz.out.contains("\"lastUpdated\":") && healthz.out.contains("\"currentTime\":"), "\(healthz.out)")
            #expect(healthz.out.contains("\"nodeEligible\":true"), "\(healthz.out)")
            let metrics = try curl("http://127.0.0.1:10249/metrics")
            #expect(metrics.out.contains("kubeproxy_sync_proxy_rules_duration_seconds_bucket"))

            // Scaled to zero: the ClusterIP rejects at once (connection refused, not a timeout).
            try c.kubectl(["scale", "deployment", "web", "--replicas=0"])
            try eventually(c, "the Service's reject element", timeout: 90) {
                nftTable().contains("comment \"default/web:http\" : goto reject-chain")
            }
            let refused = try curl("http://\(clusterIP)/")
            #expect(refused.status == 7, "curl exit 7: connection refused by the reject rule (\(refused))")

            // Deleted: its chains and elements leave the table (the flushed chains a moment later).
            let webChains = "default/web/tcp/http"
            try c.kubectl(["delete", "service", "web"])
            try eventually(c, "the Service's rules gone") {
                let table = nftTable()
                return !table.isEmpty && !table.contains(clusterIP + " ") && !table.contains(webChains)
            }
            #expect(nftTable().contains("comment \"default/web-np:http\""), "the other Service keeps its rules")
        }
        // `kube-proxy --cleanup` (in the defer above) removed the table.
        #expect(nftTable().isEmpty)
    }
}
