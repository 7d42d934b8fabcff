import Foundation
import Testing

/// Real kubectl (1.33 and 1.27) against `k8swift server`. Expected values come from upstream's
/// documented behaviour and testdata/upstream (discovery lists, recorded responses).
@Suite("kubectl end to end", .serialized)
struct KubectlTests {
    let c: TestCluster

    init() throws { c = try SharedCluster.get() }

    @Test("api-versions lists exactly upstream's default group-versions", arguments: ["1.33", "1.27"])
    func apiVersions(version: String) throws {
        let want = try String(
            contentsOf: upstreamTestData.appendingPathComponent("discovery/api-versions.txt"), encoding: .utf8
        )
        .split(separator: "\n").map(String.init).sorted()
        let got = try c.kubectl(["api-versions"], version: version).out.split(separator: "\n").map(String.init).sorted()
        #expect(got == want)
    }

    @Test("api-resources matches upstream's names, short names, versions, scope and kinds")
    func apiResources() throws {
        func rows(_ text: String) -> Set<String> {
            var out: Set<String> = []
            let lines = text.split(separator: "\n").map(String.init)
            guard let header = lines.first else { return [] }
            // Columns: NAME SHORTNAMES APIVERSION NAMESPACED KIND [VERBS CATEGORIES]
            let starts = ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"].map {
                header.range(of: $0)!.lowerBound.utf16Offset(in: header)
            }
            for l in lines.dropFirst() {
                var cols: [String] = []
                for (i, s) in starts.enumerated() {
                    let u = Array(l.utf16)
                    let e = i + 1 < starts.count ? starts[i + 1] : u.count
                    let piece = String(
                        utf16CodeUnits: Array(u[min(s, u.count)..<min(e, u.count)]),
                        count: min(e, u.count) - min(s, u.count))
                    cols.append(
                        i == 4
                            ? String(piece.split(separator: " ").first ?? "")
                            : piece.trimmingCharacters(in: .whitespaces))
                }
                out.insert(cols.joined(separator: "|"))
            }
            return out
        }
        let text = try String(
            contentsOf: upstreamTestData.appendingPathComponent("discovery/api-resources.txt"), encoding: .utf8)
        let want = rows(text)
        let got = rows(try c.kubectl(["api-resources"]).out)
        #expect(got.symmetricDifference(want).isEmpty, "differs: \(got.symmetricDifference(want).sorted())")
    }

    @Test("create, get in every output format, label, annotate and delete a ConfigMap", arguments: ["1.33", "1.27"])
    func configMapLifecycle(version: String) throws {
        let ns = try c.namespace()
        try c.kubectl(
            ["-n", ns, "create", "configmap", "cm1", "--from-literal=a=1", "--from-literal=b=2"], version: version)
        let obj = try c.json(["-n", ns, "get", "configmap", "cm1"], version: version)
        #expect(dig(obj, "data", "a") as? String == "1")
        #expect(dig(obj, "metadata", "namespace") as? String == ns)
        #expect((dig(obj, "metadata", "uid") as? String)?.count == 36)
        let table = try c.kubectl(["-n", ns, "get", "configmaps"], version: version).out
        // Upstream's ConfigMap columns: NAME DATA AGE.
        #expect(table.split(separator: "\n").first?.split(separator: " ").map(String.init) == ["NAME", "DATA", "AGE"])
        #expect(table.contains("cm1") && table.contains(" 2 "))
        #expect(try c.kubectl(["-n", ns, "get", "cm", "cm1", "-o", "name"], version: version).out == "configmap/cm1")
        #expect(try c.kubectl(["-n", ns, "get", "cm", "cm1", "-o", "jsonpath={.data.b}"], version: version).out == "2")
        let yaml = try c.kubectl(["-n", ns, "get", "cm", "cm1", "-o", "yaml"], version: version).out
        #expect(yaml.contains("kind: ConfigMap") && yaml.contains("  a: \"1\""))
        try c.kubectl(["-n", ns, "label", "cm", "cm1", "tier=web"], version: version)
        try c.kubectl(["-n", ns, "annotate", "cm", "cm1", "note=hello"], version: version)
        let labeled = try c.kubectl(["-n", ns, "get", "cm", "-l", "tier=web", "-o", "name"], version: version).out
        #expect(labeled == "configmap/cm1")
        // Every namespace also holds kube-root-ca.crt (unlabelled), as upstream's do.
        let unlabeled = try c.kubectl(["-n", ns, "get", "cm", "-l", "tier!=web", "-o", "name"], version: version).out
        #expect(unlabeled.split(separator: "\n").allSatisfy { $0 == "configmap/kube-root-ca.crt" })
        #expect(
            try c.kubectl(
                ["-n", ns, "get", "cm", "cm1", "-o", "jsonpath={.metadata.annotations.note}"], version: version
            ).out
                == "hello")
        let fs = try c.kubectl(
            ["-n", ns, "get", "cm", "--field-selector", "metadata.name=cm1", "-o", "name"], version: version)
        #expect(fs.out == "configmap/cm1")
        try c.kubectl(["-n", ns, "delete", "cm", "cm1"], version: version)
        let gone = try c.kubectl(["-n", ns, "get", "cm", "cm1"], version: version, check: false)
        #expect(gone.status != 0)
        #expect(gone.err.contains("configmaps \"cm1\" not found"))
    }

    @Test("create deployment, scale, patch in all three patch types, and get -o wide")
    func deployment() throws {
        let ns = try c.namespace()
        try c.kubectl(["-n", ns, "create", "deployment", "web", "--image=nginx:1.25", "--replicas=2"])
        var d = try c.json(["-n", ns, "get", "deploy", "web"])
        // Upstream's Deployment defaults (recorded create-deployment-defaults response).
        #expect(dig(d, "spec", "revisionHistoryLimit") as? Int == 10)
        #expect(dig(d, "spec", "progressDeadlineSeconds") as? Int == 600)
        #expect(dig(d, "spec", "strategy", "rollingUpdate", "maxSurge") as? String == "25%")
        #expect(dig(d, "metadata", "generation") as? Int == 1)
        try c.kubectl(["-n", ns, "scale", "deployment", "web", "--replicas=4"])
        d = try c.json(["-n", ns, "get", "deploy", "web"])
        #expect(dig(d, "spec", "replicas") as? Int == 4)
        #expect(dig(d, "metadata", "generation") as? Int == 2)
        try c.kubectl([
            "-n", ns, "patch", "deploy", "web", "--type=json", "-p",
            #"[{"op":"replace","path":"/spec/replicas","value":1}]"#,
        ])
        try c.kubectl(["-n", ns, "patch", "deploy", "web", "--type=merge", "-p", #"{"metadata":{"labels":{"m":"1"}}}"#])
        // Strategic merge: containers merge by name, so the image changes and the container list stays one.
        try c.kubectl([
            "-n", ns, "patch", "deploy", "web", "-p",
            #"{"spec":{"template":{"spec":{"containers":[{"name":"nginx","image":"nginx:1.26"}]}}}}"#,
        ])
        d = try c.json(["-n", ns, "get", "deploy", "web"])
        #expect(dig(d, "spec", "replicas") as? Int == 1)
        #expect(dig(d, "metadata", "labels", "m") as? String == "1")
        let containers = dig(d, "spec", "template", "spec", "containers") as? [Any]
        #expect(containers?.count == 1)
        #expect(dig(containers, 0, "image") as? String == "nginx:1.26")
        let wide = try c.kubectl(["-n", ns, "get", "deploy", "-o", "wide"]).out
        // Upstream's Deployment columns with priority-1 ones in wide output.
        let header = wide.split(separator: "\n").first.map { $0.split(separator: " ").map(String.init) }
        #expect(header == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"])
        #expect(wide.contains("nginx:1.26") && wide.contains("app=web"))
    }

    @Test("create secret, service, job, cronjob, role, rolebinding and serviceaccount")
    func createKinds() throws {
        let ns = try c.namespace()
        try c.kubectl(["-n", ns, "create", "secret", "generic", "s1", "--from-literal=password=hunter2"])
        let s = try c.json(["-n", ns, "get", "secret", "s1"])
        #expect(dig(s, "data", "password") as? String == Data("hunter2".utf8).base64EncodedString())
        #expect(dig(s, "type") as? String == "Opaque")
        try c.kubectl(["-n", ns, "create", "service", "clusterip", "svc1", "--tcp=80:8080"])
        try c.kubectl(["-n", ns, "create", "service", "nodeport", "svc2", "--tcp=80:8080"])
        let s1 = try c.json(["-n", ns, "get", "svc", "svc1"])
        let s2 = try c.json(["-n", ns, "get", "svc", "svc2"])
        let ip1 = dig(s1, "spec", "clusterIP") as? String ?? ""
        let ip2 = dig(s2, "spec", "clusterIP") as? String ?? ""
        #expect(ip1.hasPrefix("10.") && ip2.hasPrefix("10.") && ip1 != ip2)
        let nodePort = dig(s2, "spec", "ports", 0, "nodePort") as? Int ?? 0
        #expect((30000...32767).contains(nodePort))
        try c.kubectl(["-n", ns, "create", "job", "j1", "--image=busybox", "--", "true"])
        let j = try c.json(["-n", ns, "get", "job", "j1"])
        #expect(dig(j, "spec", "backoffLimit") as? Int == 6)
        #expect(dig(j, "spec", "template", "spec", "restartPolicy") as? String == "Never")
        try c.kubectl(["-n", ns, "create", "cronjob", "cj1", "--image=busybox", "--schedule=*/5 * * * *", "--", "true"])
        let cj = try c.json(["-n", ns, "get", "cronjob", "cj1"])
        #expect(dig(cj, "spec", "concurrencyPolicy") as? String == "Allow")
        try c.kubectl(["-n", ns, "create", "role", "r1", "--verb=get,list", "--resource=pods"])
        try c.kubectl(["-n", ns, "create", "rolebinding", "rb1", "--role=r1", "--user=alice"])
        try c.kubectl(["-n", ns, "create", "serviceaccount", "sa1"])
        let names = try c.kubectl(["-n", ns, "get", "role,rolebinding,serviceaccount", "-o", "name"]).out
        #expect(names.contains("role.rbac.authorization.k8s.io/r1"))
        #expect(names.contains("rolebinding.rbac.authorization.k8s.io/rb1"))
        #expect(names.contains("serviceaccount/sa1"))
    }

    @Test("replace, edit with a scripted editor, and conflicts on stale resourceVersions")
    func replaceAndEdit() throws {
        let ns = try c.namespace()
        try c.kubectl(["-n", ns, "create", "configmap", "cm", "--from-literal=k=v1"])
        var obj = try c.kubectl(["-n", ns, "get", "cm", "cm", "-o", "yaml"]).out
        obj = obj.replacingOccurrences(of: "k: v1", with: "k: v2")
        try c.kubectl(["-n", ns, "replace", "-f", "-"], stdin: obj)
        #expect(try c.kubectl(["-n", ns, "get", "cm", "cm", "-o", "jsonpath={.data.k}"]).out == "v2")
        // The stale copy still carries the old resourceVersion: replacing it again is a 409.
        let stale = try c.kubectl(["-n", ns, "replace", "-f", "-"], stdin: obj, check: false)
        #expect(stale.status != 0)
        #expect(stale.err.contains("the object has been modified; please apply your changes to the latest version"))
        let editor = c.dataDir + "/editor.sh"
        try "#!/bin/sh\nsed -i 's/k: v2/k: v3/' \"$1\"\n".write(toFile: editor, atomically: true, encoding: .utf8)
        chmod(editor, 0o755)
        try c.kubectl(["-n", ns, "edit", "cm", "cm"], env: ["EDITOR": editor, "KUBE_EDITOR": editor])
        #expect(try c.kubectl(["-n", ns, "get", "cm", "cm", "-o", "jsonpath={.data.k}"]).out == "v3")
    }

    @Test("wait --for on a jsonpath and on deletion, and get -w sees a change")
    func waitAndWatch() throws {
        let ns = try c.namespace()
        try c.kubectl(["-n", ns, "create", "configmap", "w", "--from-literal=state=ready"])
        try c.kubectl(["-n", ns, "wait", "cm/w", "--for=jsonpath={.data.state}=ready", "--timeout=10s"])
        let watchOut = c.dataDir + "/watch-\(ns).txt"
        FileManager.default.createFile(atPath: watchOut, contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: TestCluster.kubectl("1.33") ?? TestCluster.kubectl("")!)
        p.arguments = [
            "--kubeconfig", c.kubeconfig, "-n", ns, "get", "cm", "-w", "-o", "name", "--request-timeout=20s",
        ]
        p.standardOutput = FileHandle(forWritingAtPath: watchOut)
        try p.run()
        Thread.sleep(forTimeInterval: 1)
        try c.kubectl(["-n", ns, "create", "configmap", "later"])
        var seen = ""
        for _ in 0..<100 {
            seen = (try? String(contentsOfFile: watchOut, encoding: .utf8)) ?? ""
            if seen.contains("configmap/later") { break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        p.terminate()
        #expect(seen.contains("configmap/w"))
        #expect(seen.contains("configmap/later"))
        let deleter = Thread { _ = try? self.c.kubectl(["-n", ns, "delete", "cm", "w", "--wait=false"]) }
        deleter.start()
        try c.kubectl(["-n", ns, "wait", "cm/w", "--for=delete", "--timeout=10s"])
    }

    @Test("wait --for=condition sees a condition written through the status subresource")
    func waitForCondition() throws {
        // On an API server alone: with a controller manager, the deployment controller owns these
        // conditions and would rewrite them.
        let c = try APIOnlyCluster.get()
        let ns = try c.namespace()
        try c.kubectl(["-n", ns, "create", "deployment", "cond", "--image=nginx"])
        let patch = #"{"status":{"conditions":[{"type":"Available","status":"True","reason":"Test","message":"ok"}]}}"#
        // A status written through the main resource is ignored; through /status it lands.
        try c.kubectl(["-n", ns, "patch", "deploy", "cond", "--type=merge", "-p", patch])
        let ignored = try c.kubectl(["-n", ns, "get", "deploy", "cond", "-o", "jsonpath={.status.conditions}"]).out
        #expect(ignored.isEmpty)
        try c.kubectl(["-n", ns, "patch", "deploy", "cond", "--subresource=status", "--type=merge", "-p", patch])
        try c.kubectl(["-n", ns, "wait", "deploy/cond", "--for=condition=Available", "--timeout=10s"])
        let d = try c.json(["-n", ns, "get", "deploy", "cond"])
        // A status write does not bump the generation.
        #expect(dig(d, "metadata", "generation") as? Int == 1)
    }

    @Test("deleting a namespace deletes what is in it and then the namespace")
    func namespaceDeletion() throws {
        let ns = try c.namespace("gone")
        try c.kubectl(["-n", ns, "create", "configmap", "a"])
        try c.kubectl(["-n", ns, "create", "deployment", "d", "--image=nginx"])
        try c.kubectl(["delete", "namespace", ns, "--timeout=30s"])
        let r = try c.kubectl(["get", "namespace", ns], check: false)
        #expect(r.status != 0)
        #expect(r.err.contains("namespaces \"\(ns)\" not found"))
        // A create in a missing namespace is refused like upstream (recorded create-in-missing-namespace).
        let cr = try c.kubectl(["-n", ns, "create", "configmap", "x"], check: false)
        #expect(cr.err.contains("namespaces \"\(ns)\" not found"))
    }

    @Test("delete honours --cascade and --grace-period and finalizers keep an object until removed")
    func deleteSemantics() throws {
        let ns = try c.namespace()
        try c.kubectl(["-n", ns, "create", "configmap", "fin"])
        try c.kubectl([
            "-n", ns, "patch", "cm", "fin", "--type=merge", "-p", #"{"metadata":{"finalizers":["example.com/hold"]}}"#,
        ])
        try c.kubectl(["-n", ns, "delete", "cm", "fin", "--wait=false"])
        let held = try c.json(["-n", ns, "get", "cm", "fin"])
        #expect(dig(held, "metadata", "deletionTimestamp") != nil)
        try c.kubectl([
            "-n", ns, "patch", "cm", "fin", "--type=json", "-p", #"[{"op":"remove","path":"/metadata/finalizers"}]"#,
        ])
        #expect(try c.kubectl(["-n", ns, "get", "cm", "fin"], check: false).status != 0)
        try c.kubectl(["-n", ns, "create", "deployment", "d1", "--image=nginx"])
        try c.kubectl(["-n", ns, "delete", "deployment", "d1", "--cascade=orphan", "--wait=false"])
        try c.kubectl(["-n", ns, "create", "deployment", "d2", "--image=nginx"])
        try c.kubectl(["-n", ns, "delete", "deployment", "d2", "--cascade=background", "--grace-period=0"])
        #expect(try c.kubectl(["-n", ns, "get", "deployment", "d2"], check: false).status != 0)
    }

    @Test("cluster-info, get --raw and auth whoami answer as upstream does")
    func clusterInfo() throws {
        let info = try c.kubectl(["cluster-info"]).out
        #expect(info.contains("Kubernetes control plane is running at https://127.0.0.1:\(c.port)"))
        let version = try c.kubectl(["get", "--raw", "/version"]).out
        let v = try JSONSerialization.jsonObject(with: Data(version.utf8))
        #expect(dig(v, "major") as? String == "1")
        #expect(dig(v, "minor") as? String == "36")
        #expect((dig(v, "gitVersion") as? String)?.hasPrefix("v1.36.2+k8swift.") == true)
        // kubectl reads it back as the server version.
        let both = try c.kubectl(["version", "-o", "json"]).out
        #expect(
            dig(try JSONSerialization.jsonObject(with: Data(both.utf8)), "serverVersion", "gitVersion") as? String
                == dig(v, "gitVersion") as? String)
        let who = try c.kubectl(["auth", "whoami", "-o", "json"])
        let w = try JSONSerialization.jsonObject(with: Data(who.out.utf8))
        #expect(dig(w, "status", "userInfo", "username") as? String == "kubernetes-admin")
        #expect((dig(w, "status", "userInfo", "groups") as? [String])?.contains("system:masters") == true)
        #expect(try c.kubectl(["auth", "can-i", "create", "pods"]).out == "yes")
    }

    @Test("get -A lists across namespaces and a pod field selector on spec.nodeName filters")
    func allNamespaces() throws {
        let a = try c.namespace()
        let b = try c.namespace()
        try c.kubectl(["-n", a, "create", "configmap", "same"])
        try c.kubectl(["-n", b, "create", "configmap", "same"])
        let out = try c.kubectl(["get", "cm", "-A", "--field-selector", "metadata.name=same"]).out
        #expect(out.split(separator: "\n").first?.hasPrefix("NAMESPACE") == true)
        #expect(out.contains(a) && out.contains(b))
        let pod = """
            apiVersion: v1
            kind: Pod
            metadata: {name: p1}
            spec:
              nodeName: node-x
              containers: [{name: c, image: busybox}]
            """
        try c.kubectl(["-n", a, "create", "-f", "-"], stdin: pod)
        let onNode = try c.kubectl(["-n", a, "get", "pods", "--field-selector", "spec.nodeName=node-x", "-o", "name"])
            .out
        #expect(onNode == "pod/p1")
        let elsewhere = try c.kubectl(["-n", a, "get", "pods", "--field-selector", "spec.nodeName=other", "-o", "name"])
            .out
        #expect(elsewhere.isEmpty)
        let bad = try c.kubectl(["-n", a, "get", "pods", "--field-selector", "spec.bogus=x"], check: false)
        // Recorded upstream answer (list-field-selector-bad).
        #expect(bad.err.contains("field label not supported: spec.bogus"))
        let p = try c.json(["-n", a, "get", "pod", "p1"])
        #expect(dig(p, "status", "phase") as? String == "Pending")
        #expect(dig(p, "status", "qosClass") as? String == "BestEffort")
        #expect(dig(p, "spec", "dnsPolicy") as? String == "ClusterFirst")
    }
}
