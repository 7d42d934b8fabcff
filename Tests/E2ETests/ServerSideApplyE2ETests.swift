import Foundation
import Testing

/// Server-side apply end to end with kubectl: managers sharing and conflicting over fields, force,
/// removal of what a manager stops applying, the move from client-side apply, diff and dry runs;
/// and the API's answers to bad apply requests, through raw HTTP.
@Suite("Server-side apply end to end", .serialized)
struct ServerSideApplyE2ETests {
    let c: TestCluster

    init() throws { c = try SharedCluster.get() }

    static func configMap(_ data: [String: String]) -> String {
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata:\n"
            + data.sorted { $0.key < $1.key }.map { "  \($0.key): \"\($0.value)\"" }.joined(separator: "\n") + "\n"
    }

    func managers(_ ns: String, _ kind: String, _ name: String) throws -> [String: [String: Any]] {
        let o = try c.json(["-n", ns, "get", kind, name, "--show-managed-fields"])
        var out: [String: [String: Any]] = [:]
        for e in (dig(o, "metadata", "managedFields") as? [[String: Any]]) ?? [] {
            out["\(e["manager"] ?? "")/\(e["operation"] ?? "")"] = e
        }
        return out
    }

    func apply(_ ns: String, _ manifest: String, manager: String, force: Bool = false, check: Bool = true) throws
        -> TestCluster.Result
    {
        var args = ["-n", ns, "apply", "--server-side", "--field-manager", manager, "-f", "-"]
        if force { args.append("--force-conflicts") }
        return try c.kubectl(args, stdin: manifest, check: check)
    }

    @Test("two managers share a value, conflict on a change, force takes it, and a dropped field goes")
    func managersAndConflicts() throws {
        let ns = try c.namespace()
        #expect(
            try apply(ns, Self.configMap(["a": "1", "b": "2"]), manager: "alice").out
                == "configmap/cm serverside-applied")
        try apply(ns, Self.configMap(["a": "1"]), manager: "bob")
        var m = try managers(ns, "configmap", "cm")
        #expect(Set(m.keys) == ["alice/Apply", "bob/Apply"])
        #expect((dig(m["bob/Apply"], "fieldsV1") as? [String: Any]).map { "\($0)" }?.contains("f:a") == true)
        let conflict = try apply(ns, Self.configMap(["a": "3"]), manager: "bob", check: false)
        #expect(conflict.status != 0)
        #expect(conflict.err.contains("Apply failed with 1 conflict: conflict with \"alice\": .data.a"))
        try apply(ns, Self.configMap(["a": "3"]), manager: "bob", force: true)
        m = try managers(ns, "configmap", "cm")
        let alice = (dig(m["alice/Apply"], "fieldsV1", "f:data") as? [String: Any]) ?? [:]
        #expect(alice.keys.sorted() == ["f:b"], "alice lost .data.a to the forced apply")
        // alice stops applying b: nobody else owns it, so it is removed; a stays (bob's).
        try apply(ns, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n", manager: "alice")
        let data = dig(try c.json(["-n", ns, "get", "configmap", "cm"]), "data") as? [String: String]
        #expect(data == ["a": "3"])
        #expect(try managers(ns, "configmap", "cm")["alice/Apply"] == nil)
    }

    @Test("an update takes the fields it changes; conflicts name the update manager with its version")
    func updateManagers() throws {
        let ns = try c.namespace()
        try apply(ns, Self.configMap(["a": "1"]), manager: "alice")
        try c.kubectl([
            "-n", ns, "patch", "configmap", "cm", "--type=merge", "-p", #"{"data":{"a":"9"}}"#, "--field-manager",
            "patcher",
        ])
        let m = try managers(ns, "configmap", "cm")
        #expect(m["patcher/Update"] != nil && dig(m["patcher/Update"], "apiVersion") as? String == "v1")
        #expect(m["alice/Apply"] == nil, "alice owned only .data.a")
        let r = try apply(ns, Self.configMap(["a": "1"]), manager: "alice", check: false)
        #expect(r.err.contains("conflict with \"patcher\" using v1: .data.a"))
    }

    @Test("kubectl moves a client-side-applied Deployment to server-side apply and prunes what the manifest drops")
    func clientToServerSide() throws {
        let ns = try c.namespace()
        let manifest = KubectlMoreTests.deployment(image: "nginx:1.25", replicas: 1, extraContainer: true)
        try c.kubectl(["-n", ns, "apply", "-f", "-"], stdin: manifest)
        #expect(try managers(ns, "deployment", "app")["kubectl-client-side-apply/Update"] != nil)
        let ssa = try c.kubectl(
            ["-n", ns, "apply", "--server-side", "-f", "-"],
            stdin: KubectlMoreTests.deployment(image: "nginx:1.26", replicas: 2, extraContainer: true))
        #expect(ssa.out == "deployment.apps/app serverside-applied", "\(ssa.err)")
        var m = try managers(ns, "deployment", "app")
        #expect(m["kubectl/Apply"] != nil && m["kubectl-client-side-apply/Update"] == nil, "\(m.keys)")
        try c.kubectl(
            ["-n", ns, "apply", "--server-side", "-f", "-"],
            stdin: KubectlMoreTests.deployment(image: "nginx:1.26", replicas: 2, extraContainer: false))
        let d = try c.json(["-n", ns, "get", "deployment", "app"])
        let names = (dig(d, "spec", "template", "spec", "containers") as? [[String: Any]])?.compactMap {
            $0["name"] as? String
        }
        #expect(names == ["main"], "the side container is pruned")
        #expect(dig(d, "spec", "replicas") as? Int == 2)
        m = try managers(ns, "deployment", "app")
        #expect(m.keys.contains("kubectl/Apply"))
    }

    @Test("kubectl diff and --dry-run=server show the change without making it, for every verb")
    func dryRuns() throws {
        let ns = try c.namespace()
        try apply(ns, Self.configMap(["a": "1"]), manager: "kubectl")
        let diff = try c.kubectl(
            ["-n", ns, "diff", "--server-side", "-f", "-"], stdin: Self.configMap(["a": "2"]), check: false)
        #expect(diff.status == 1 && diff.out.contains("-  a: \"1\"") && diff.out.contains("+  a: \"2\""), "\(diff.out)")
        try c.kubectl(
            ["-n", ns, "apply", "--server-side", "--dry-run=server", "-f", "-"], stdin: Self.configMap(["a": "5"]))
        try c.kubectl(["-n", ns, "create", "configmap", "other", "--from-literal=x=1", "--dry-run=server"])
        try c.kubectl(["-n", ns, "delete", "configmap", "cm", "--dry-run=server"])
        try c.kubectl([
            "-n", ns, "patch", "configmap", "cm", "--type=merge", "-p", #"{"data":{"a":"7"}}"#, "--dry-run=server",
        ])
        let data = dig(try c.json(["-n", ns, "get", "configmap", "cm"]), "data") as? [String: String]
        #expect(data == ["a": "1"])
        #expect(try c.kubectl(["-n", ns, "get", "configmap", "other"], check: false).status != 0)
    }

    @Test(
        "apply requests without a manager, with force on another patch type, or of the wrong kind get upstream's errors"
    )
    func badInput() throws {
        let r = try c.e2ePython("apply")
        #expect(r.status == 0, "\(r.out)\n\(r.err)")
    }
}
