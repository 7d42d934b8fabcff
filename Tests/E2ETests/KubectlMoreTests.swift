import Foundation
import Testing

/// More kubectl workflows: apply (client-side, repeated), diff, describe, explain, kustomize,
/// proxy; and the server's command line and limits.
@Suite("kubectl workflows end to end", .serialized)
struct KubectlMoreTests {
    let c: TestCluster

    init() throws { c = try SharedCluster.get() }

    static func deployment(image: String, replicas: Int, extraContainer: Bool) -> String {
        var y = """
            apiVersion: apps/v1
            kind: Deployment
            metadata:
              name: app
              labels: {app: app}
            spec:
              replicas: \(replicas)
              selector: {matchLabels: {app: app}}
              template:
                metadata: {labels: {app: app}}
                spec:
                  containers:
                  - name: main
                    image: \(image)
                    ports: [{containerPort: 80}]

            """
        if extraContainer { y += "      - name: side\n        image: busybox\n" }
        return y
    }

    @Test(
        "apply creates, then patches with the change, and removes what the new manifest drops",
        arguments: ["1.33", "1.27"])
    func applyRepeated(version: String) throws {
        let ns = try c.namespace()
        let first = try c.kubectl(
            ["-n", ns, "apply", "-f", "-"], version: version,
            stdin: Self.deployment(image: "nginx:1.25", replicas: 1, extraContainer: true))
        #expect(first.out.contains("deployment.apps/app created"))
        let again = try c.kubectl(
            ["-n", ns, "apply", "-f", "-"], version: version,
            stdin: Self.deployment(image: "nginx:1.25", replicas: 1, extraContainer: true))
        #expect(again.out.contains("deployment.apps/app unchanged"))
        let changed = try c.kubectl(
            ["-n", ns, "apply", "-f", "-"], version: version,
            stdin: Self.deployment(image: "nginx:1.26", replicas: 3, extraContainer: false))
        #expect(changed.out.contains("deployment.apps/app configured"))
        let d = try c.json(["-n", ns, "get", "deploy", "app"], version: version)
        #expect(dig(d, "spec", "replicas") as? Int == 3)
        let containers = (dig(d, "spec", "template", "spec", "containers") as? [Any]) ?? []
        #expect(containers.count == 1)
        #expect(dig(containers, 0, "image") as? String == "nginx:1.26")
        #expect(
            (dig(d, "metadata", "annotations", "kubectl.kubernetes.io/last-applied-configuration") as? String)?
                .contains(
                    "nginx:1.26") == true)
    }

    @Test("diff shows a pending change and exits 1, nothing when equal")
    func diff() throws {
        let ns = try c.namespace()
        let manifest = Self.deployment(image: "nginx:1.25", replicas: 1, extraContainer: false)
        try c.kubectl(["-n", ns, "apply", "-f", "-"], stdin: manifest)
        let same = try c.kubectl(["-n", ns, "diff", "-f", "-"], stdin: manifest, check: false)
        #expect(same.status == 0, "\(same.err)")
        let changed = try c.kubectl(
            ["-n", ns, "diff", "-f", "-"],
            stdin: Self.deployment(image: "nginx:1.27", replicas: 1, extraContainer: false),
            check: false)
        // kubectl diff exits 1 when there are differences.
        #expect(changed.status == 1, "\(changed.err)")
        #expect(
            changed.out.contains("+      - image: nginx:1.27") && changed.out.contains("-      - image: nginx:1.25"))
    }

    @Test("describe prints an object's fields and explain prints a type's fields")
    func describeAndExplain() throws {
        let ns = try c.namespace()
        try c.kubectl(["-n", ns, "create", "configmap", "d1", "--from-literal=key=value"])
        let d = try c.kubectl(["-n", ns, "describe", "configmap", "d1"]).out
        #expect(
            d.contains("Name:") && d.contains("d1") && d.contains("Namespace:") && d.contains(ns) && d.contains("key"))
        let e = try c.kubectl(["explain", "deployment.spec.replicas"]).out
        #expect(e.contains("KIND:") && e.contains("Deployment") && e.contains("replicas") && e.contains("integer"))
        let pods = try c.kubectl(["explain", "pods.spec.containers"], version: "1.27").out
        #expect(pods.contains("name") && pods.contains("image"))
    }

    @Test("apply -k builds a kustomization and applies it")
    func kustomize() throws {
        let ns = try c.namespace()
        let dir = c.dataDir + "/kust-\(ns)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try """
        apiVersion: kustomize.config.k8s.io/v1beta1
        kind: Kustomization
        namespace: \(ns)
        commonLabels: {team: blue}
        resources: [cm.yaml]
        configMapGenerator:
        - name: gen
          literals: [x=1]
        """.write(toFile: dir + "/kustomization.yaml", atomically: true, encoding: .utf8)
        try "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: plain}\ndata: {a: b}\n".write(
            toFile: dir + "/cm.yaml", atomically: true, encoding: .utf8)
        try c.kubectl(["apply", "-k", dir])
        let names = try c.kubectl(["-n", ns, "get", "cm", "-l", "team=blue", "-o", "name"]).out
        #expect(names.contains("configmap/plain"))
        // configMapGenerator appends a content hash to the name.
        #expect(names.contains("configmap/gen-"))
    }

    @Test("kubectl proxy forwards plain HTTP to the API")
    func proxy() throws {
        let port = TestCluster.freePort()
        let p = Process()
        p.executableURL = URL(fileURLWithPath: TestCluster.kubectl("1.33") ?? TestCluster.kubectl("")!)
        p.arguments = ["--kubeconfig", c.kubeconfig, "proxy", "--port", String(port)]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        defer { p.terminate() }
        var body = ""
        for _ in 0..<50 {
            let r = try c.run(
                "/usr/bin/curl", ["-s", "http://127.0.0.1:\(port)/api/v1/namespaces/default"], check: false)
            if r.status == 0, !r.out.isEmpty {
                body = r.out
                break
            }
            Thread.sleep(forTimeInterval: 0.1)
        }
        let v = try JSONSerialization.jsonObject(with: Data(body.utf8))
        #expect(dig(v, "kind") as? String == "Namespace")
        #expect(dig(v, "metadata", "name") as? String == "default")
    }

    @Test("unknown or malformed flags exit 1 with a clear error")
    func badFlags() throws {
        let unknown = try c.run(TestCluster.binary, ["server", "--no-such-flag"], check: false)
        #expect(unknown.status == 1)
        #expect(unknown.err.contains("no-such-flag"))
        let malformed = try c.run(TestCluster.binary, ["server", "--secure-port", "notaport"], check: false)
        #expect(malformed.status == 1)
        #expect(malformed.err.contains("secure-port"))
        let gate = try c.run(
            TestCluster.binary,
            ["server", "--data-dir", c.dataDir + "/gates", "--secure-port", "1", "--feature-gates", "NoSuchGate=true"],
            check: false)
        #expect(gate.status == 1)
        #expect(gate.err.contains("unrecognized feature gate: NoSuchGate"))
    }

    @Test("pods/ephemeralcontainers: kubectl debug adds one; changing or removing one, or a duplicate name, is refused")
    func ephemeralContainers() throws {
        let ns = try c.namespace("debug")
        try c.kubectl(["-n", ns, "run", "app", "--image=busybox", "--", "sleep", "3600"])
        try c.kubectl(["-n", ns, "debug", "app", "--image=busybox", "-c", "dbg", "--target=app", "--", "sh"])
        let pod = try c.json(["-n", ns, "get", "pod", "app"])
        #expect(dig(pod, "spec", "ephemeralContainers", 0, "name") as? String == "dbg")
        #expect(dig(pod, "spec", "ephemeralContainers", 0, "targetContainerName") as? String == "app")
        #expect(dig(pod, "spec", "containers", 0, "name") as? String == "app")

        func put(_ ephemerals: String) throws -> TestCluster.Result {
            var p = try #require(try c.json(["-n", ns, "get", "pod", "app"]) as? [String: Any])
            var spec = try #require(p["spec"] as? [String: Any])
            spec["ephemeralContainers"] = try JSONSerialization.jsonObject(with: Data(ephemerals.utf8))
            p["spec"] = spec
            let file = c.dataDir + "/ephemeral-\(UUID().uuidString).json"
            try JSONSerialization.data(withJSONObject: p).write(to: URL(fileURLWithPath: file))
            return try c.kubectl(
                ["replace", "--raw", "/api/v1/namespaces/\(ns)/pods/app/ephemeralcontainers", "-f", file], check: false)
        }
        let removed = try put("[]")
        #expect(removed.err.contains("existing ephemeral containers \"dbg\" may not be removed"), "\(removed.err)")
        let changed = try put(#"[{"name":"dbg","image":"other","targetContainerName":"app"}]"#)
        #expect(changed.err.contains("existing ephemeral containers \"dbg\" may not be changed"), "\(changed.err)")
        let duplicate = try put(
            #"[{"name":"dbg","image":"busybox","command":["sh"],"targetContainerName":"app","stdin":true,"tty":true,"terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File","imagePullPolicy":"Always"},{"name":"app","image":"busybox"}]"#
        )
        #expect(
            duplicate.err.contains("spec.ephemeralContainers[1].name: Duplicate value: \"app\""), "\(duplicate.err)")
        let ported = try c.kubectl(
            [
                "-n", ns, "patch", "pod", "app", "--subresource=ephemeralcontainers", "--type=strategic", "-p",
                #"{"spec":{"ephemeralContainers":[{"name":"p","image":"busybox","ports":[{"containerPort":80}]}]}}"#,
            ], check: false)
        #expect(
            ported.err.contains(
                "].ports: Forbidden: cannot be set for an Ephemeral Container"),
            "\(ported.err)")
        // Other fields sent to the subresource are ignored: the pod keeps its containers.
        #expect(
            dig(try c.json(["-n", ns, "get", "pod", "app"]), "spec", "containers", 0, "image") as? String == "busybox")
    }
}

/// Inflight limits and anonymous access, on a server of their own.
@Suite("API server limits end to end")
struct LimitsTests {
    @Test("over the inflight limit requests get 429 with Retry-After")
    func tooManyRequests() throws {
        let c = try TestCluster(extraArgs: ["--max-requests-inflight", "1"])
        let tls = c.dataDir + "/tls/"
        let auth = ["--cacert", tls + "ca.crt", "--cert", tls + "admin.crt", "--key", tls + "admin.key"]
        // A read waiting for a future resourceVersion holds the only slot for a few seconds.
        let slow = Process()
        slow.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        slow.arguments =
            ["-s", "-o", "/dev/null"] + auth + [
                "https://127.0.0.1:\(c.port)/api/v1/namespaces/default/configmaps?resourceVersion=999999999"
            ]
        try slow.run()
        Thread.sleep(forTimeInterval: 0.7)
        let r = try c.run(
            "/usr/bin/curl", ["-s", "-D", "-"] + auth + ["https://127.0.0.1:\(c.port)/api/v1/namespaces"], check: false)
        slow.waitUntilExit()
        #expect(r.out.hasPrefix("HTTP/2 429") || r.out.hasPrefix("HTTP/1.1 429"), "\(r.out)")
        #expect(r.out.lowercased().contains("retry-after: 1"))
        #expect(r.out.contains("\"reason\":\"TooManyRequests\""))
        // Mutating requests have their own limit and still pass.
        try c.kubectl(["create", "namespace", "after-429"])
    }

    @Test("--anonymous-auth=false turns anonymous requests into 401")
    func noAnonymous() throws {
        let c = try TestCluster(extraArgs: ["--anonymous-auth=false"])
        let r = try c.run(
            "/usr/bin/curl", ["-sk", "-o", "/dev/null", "-w", "%{http_code}", "https://127.0.0.1:\(c.port)/healthz"])
        #expect(r.out == "401")
        let ok = try c.kubectl(["get", "--raw", "/healthz"])
        #expect(ok.out == "ok")
    }
}

/// Optional API versions and event expiry, on servers of their own.
@Suite("API server options end to end")
struct OptionsTests {
    @Test("--runtime-config enables a beta version that converts to the stored version")
    func runtimeConfig() throws {
        let c = try TestCluster(extraArgs: ["--runtime-config", "networking.k8s.io/v1beta1=true"])
        let versions = try c.kubectl(["api-versions"]).out.split(separator: "\n")
        #expect(versions.contains("networking.k8s.io/v1beta1"))
        #expect(!versions.contains("coordination.k8s.io/v1alpha2"))
        let cidr = """
            apiVersion: networking.k8s.io/v1beta1
            kind: ServiceCIDR
            metadata: {name: extra}
            spec: {cidrs: [10.200.0.0/16]}
            """
        try c.kubectl(["create", "-f", "-"], stdin: cidr)
        // Read back through v1 (the storage version): the same object.
        let v1 = try c.kubectl(["get", "--raw", "/apis/networking.k8s.io/v1/servicecidrs/extra"]).out
        let o = try JSONSerialization.jsonObject(with: Data(v1.utf8))
        #expect(dig(o, "apiVersion") as? String == "networking.k8s.io/v1")
        #expect(dig(o, "spec", "cidrs", 0) as? String == "10.200.0.0/16")
        let plain = try TestCluster(extraArgs: [])
        #expect(!(try plain.kubectl(["api-versions"]).out.split(separator: "\n").contains("networking.k8s.io/v1beta1")))
    }

    @Test("events.k8s.io Events are the core Events seen through another version")
    func eventsViews() throws {
        let c = try SharedCluster.get()
        let ns = try c.namespace()
        let ev = """
            apiVersion: events.k8s.io/v1
            kind: Event
            metadata: {name: ev1}
            eventTime: "2026-12-01T10:00:00.000000Z"
            regarding: {kind: Pod, name: p, namespace: \(ns)}
            reason: Started
            note: container started
            type: Normal
            action: Start
            reportingController: example.com/ctl
            reportingInstance: ctl-1
            """
        try c.kubectl(["-n", ns, "create", "-f", "-"], stdin: ev)
        let core = try c.kubectl(["get", "--raw", "/api/v1/namespaces/\(ns)/events/ev1"]).out
        let o = try JSONSerialization.jsonObject(with: Data(core.utf8))
        #expect(dig(o, "message") as? String == "container started")
        #expect(dig(o, "involvedObject", "name") as? String == "p")
        #expect(dig(o, "reportingComponent") as? String == "example.com/ctl")
    }

    @Test("events expire after --event-ttl")
    func eventTTL() throws {
        let c = try TestCluster(extraArgs: ["--event-ttl", "2s"])
        let ev = """
            apiVersion: v1
            kind: Event
            metadata: {name: e1, namespace: default}
            involvedObject: {kind: Pod, name: p, namespace: default}
            reason: Test
            message: hello
            type: Normal
            """
        try c.kubectl(["create", "-f", "-"], stdin: ev)
        #expect(try c.kubectl(["get", "events", "e1", "-o", "name"]).out == "event/e1")
        var gone = false
        for _ in 0..<80 {
            if try c.kubectl(["get", "events", "e1"], check: false).status != 0 {
                gone = true
                break
            }
            Thread.sleep(forTimeInterval: 0.1)
        }
        #expect(gone, "the event outlived its TTL")
    }

    @Test("the legacy /watch/ path streams events like ?watch=1")
    func legacyWatch() throws {
        let c = try SharedCluster.get()
        let ns = try c.namespace()
        try c.kubectl(["-n", ns, "create", "configmap", "lw"])
        // Only this object: the controllers write kube-root-ca.crt into every new namespace.
        let out = try c.kubectl([
            "get", "--raw",
            "/api/v1/watch/namespaces/\(ns)/configmaps?fieldSelector=metadata.name%3Dlw&timeoutSeconds=1",
        ]).out
        let first = try JSONSerialization.jsonObject(with: Data((out.split(separator: "\n").first ?? "").utf8))
        #expect(dig(first, "type") as? String == "ADDED")
        #expect(dig(first, "object", "metadata", "name") as? String == "lw")
    }
}

/// The HTTP/2 transport under many multiplexed requests.
@Suite("HTTP/2 end to end")
struct HTTP2Tests {
    @Test("thousands of requests multiplexed on HTTP/2 connections all succeed (no GOAWAY)")
    func manyStreams() throws {
        let c = try SharedCluster.get()
        guard let curl = TestCluster.which("curl") else { throw E2EError("curl is not installed") }
        let tls = c.dataDir + "/tls/"
        let r = try c.run(
            curl,
            [
                "-s", "--http2", "--parallel", "--parallel-max", "16", "--cacert", tls + "ca.crt", "--cert",
                tls + "admin.crt", "--key", tls + "admin.key", "-o", "/dev/null", "-w",
                "%{http_version} %{http_code}\\n",
                "https://127.0.0.1:\(c.port)/api/v1/namespaces/default/configmaps?n=[1-3000]",
            ], check: false)
        let lines = r.out.split(separator: "\n")
        #expect(lines.count == 3000)
        let bad = lines.filter { $0 != "2 200" }
        #expect(bad.isEmpty, "\(bad.count) of 3000 failed, e.g. \(bad.prefix(3)); \(r.err.prefix(300))")
    }
}

@Suite("Metrics end to end")
struct MetricsTests {
    @Test("/metrics counts requests by verb, resource and code, and reports objects and inflight")
    func metrics() throws {
        let c = try SharedCluster.get()
        let ns = try c.namespace()
        try c.kubectl(["-n", ns, "create", "configmap", "m1"])
        _ = try c.kubectl(["-n", ns, "get", "configmap", "nope"], check: false)
        let text = try c.kubectl(["get", "--raw", "/metrics"]).out
        #expect(text.contains("# TYPE apiserver_request_total counter"))
        #expect(text.contains("apiserver_request_total{code=\"201\",resource=\"configmaps\",verb=\"CREATE\"}"))
        #expect(text.contains("apiserver_request_total{code=\"404\",resource=\"configmaps\",verb=\"GET\"}"))
        #expect(
            text.contains(
                "apiserver_request_duration_seconds_bucket{resource=\"configmaps\",verb=\"CREATE\",le=\"+Inf\"}"))
        #expect(text.contains("apiserver_current_inflight_requests{request_kind=\"readOnly\"}"))
        #expect(text.contains("apiserver_storage_objects{resource=\"namespaces\"}"))
    }
}

/// Static tokens, authorization of non-masters, pod binding and compacted continue tokens.
@Suite("Authentication, binding and compaction end to end")
struct AuthAndCompactionTests {
    static func curl(_ c: TestCluster, _ args: [String]) throws -> (code: String, body: String) {
        let r = try c.run(
            "/usr/bin/curl",
            ["-s", "--cacert", c.dataDir + "/tls/ca.crt", "-w", "\n%{http_code}"] + args, check: false)
        let lines = r.out.split(separator: "\n", omittingEmptySubsequences: false)
        return (String(lines.last ?? ""), lines.dropLast().joined(separator: "\n"))
    }

    @Test("static tokens authenticate; system:masters may list, others get upstream's 403, bad tokens 401")
    func tokens() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tokens-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "admintoken,alice,uid-1,\"system:masters\"\nusertoken,bob,uid-2,\"dev,ops\"\n".write(
            toFile: dir + "/tokens.csv", atomically: true, encoding: .utf8)
        let c = try TestCluster(extraArgs: ["--token-auth-file", dir + "/tokens.csv"])
        let url = "https://127.0.0.1:\(c.port)/api/v1/namespaces"
        let admin = try Self.curl(c, ["-H", "Authorization: Bearer admintoken", url])
        #expect(admin.code == "200")
        let bob = try Self.curl(c, ["-H", "Authorization: Bearer usertoken", url])
        #expect(bob.code == "403")
        // The message of the recorded anonymous-list-forbidden exchange, for user bob.
        #expect(
            bob.body.contains(
                "namespaces is forbidden: User \\\"bob\\\" cannot list resource \\\"namespaces\\\" in API group \\\"\\\" at the cluster scope"
            ))
        let bad = try Self.curl(c, ["-H", "Authorization: Bearer nope", url])
        #expect(bad.code == "401")
        #expect(bad.body.contains("\"reason\":\"Unauthorized\""))
    }

    @Test("pods/binding assigns a node once; a second binding is a conflict")
    func binding() throws {
        let c = try SharedCluster.get()
        let ns = try c.namespace()
        try c.kubectl(["-n", ns, "run", "bound", "--image=busybox", "--restart=Never"])
        let binding = """
            {"apiVersion":"v1","kind":"Binding","metadata":{"name":"bound"},"target":{"apiVersion":"v1","kind":"Node","name":"node-1"}}
            """
        let path = c.dataDir + "/binding-\(ns).json"
        try binding.write(toFile: path, atomically: true, encoding: .utf8)
        try c.kubectl(["create", "--raw", "/api/v1/namespaces/\(ns)/pods/bound/binding", "-f", path])
        #expect(try c.kubectl(["-n", ns, "get", "pod", "bound", "-o", "jsonpath={.spec.nodeName}"]).out == "node-1")
        let again = try c.kubectl(
            ["create", "--raw", "/api/v1/namespaces/\(ns)/pods/bound/binding", "-f", path], check: false)
        #expect(again.status != 0)
        #expect(again.err.contains("is already assigned to node"))
    }

    @Test("a continue token older than the compacted revision gets 410 Expired")
    func compactedContinue() throws {
        let c = try TestCluster(extraArgs: ["--etcd-compaction-interval", "1s"])
        let ns = try c.namespace()
        for i in 0..<4 { try c.kubectl(["-n", ns, "create", "configmap", "c\(i)"]) }
        let page = try c.kubectl(["get", "--raw", "/api/v1/namespaces/\(ns)/configmaps?limit=2"]).out
        let token = try #require(
            dig(try JSONSerialization.jsonObject(with: Data(page.utf8)), "metadata", "continue") as? String)
        // Writes after the first page, then two compaction ticks move the compacted revision past it.
        for i in 0..<3 { try c.kubectl(["-n", ns, "create", "configmap", "later\(i)"]) }
        Thread.sleep(forTimeInterval: 1.5)
        try c.kubectl(["-n", ns, "create", "configmap", "later-more"])
        Thread.sleep(forTimeInterval: 2.5)
        let r = try c.kubectl(
            ["get", "--raw", "/api/v1/namespaces/\(ns)/configmaps?limit=2&continue=\(token)"], check: false)
        #expect(r.status != 0)
        #expect(r.err.contains("The provided continue parameter is too old"), "\(r.err)")
    }
}
