import Foundation
import Testing

/// `pods/resize` through kubectl 1.33's `kubectl patch --subresource resize` on a cluster without
/// a node: cpu and memory change and bump the generation, other fields sent are ignored, and
/// upstream's 422s for a removed limit, another resource, a QoS change and a renamed container;
/// the pod endpoint itself still refuses a resources change.
@Suite("pods/resize end to end", .serialized)
struct PodResizeE2ETests {
    let c: TestCluster

    init() throws { c = try SharedCluster.get() }

    static let pod = """
        apiVersion: v1
        kind: Pod
        metadata: {name: rz}
        spec:
          containers:
          - name: c
            image: busybox
            command: [sleep, "3600"]
            resizePolicy:
            - {resourceName: cpu, restartPolicy: NotRequired}
            - {resourceName: memory, restartPolicy: RestartContainer}
            resources:
              requests: {cpu: 100m, memory: 64Mi}
              limits: {cpu: 300m, memory: 128Mi}
        """

    func resize(_ ns: String, _ patch: String, type: String = "strategic") throws -> TestCluster.Result {
        try c.kubectl(
            ["-n", ns, "patch", "pod", "rz", "--subresource", "resize", "--type", type, "-p", patch], check: false)
    }

    @Test("kubectl patch --subresource resize changes cpu and memory, bumps the generation, ignores the rest")
    func resizes() throws {
        let ns = try c.namespace("resize")
        try c.kubectl(["-n", ns, "apply", "-f", "-"], stdin: Self.pod)
        let before = try c.json(["-n", ns, "get", "pod", "rz"])
        let generation = try #require(dig(before, "metadata", "generation") as? Int)
        let ok = try resize(
            ns,
            #"{"spec":{"containers":[{"name":"c","image":"other","resources":{"requests":{"cpu":"200m"},"limits":{"memory":"256Mi"}}}]}}"#
        )
        #expect(ok.status == 0, "\(ok.err)")
        #expect(ok.out.contains("pod/rz patched"), "\(ok.out)")
        let after = try c.json(["-n", ns, "get", "pod", "rz"])
        #expect(dig(after, "spec", "containers", 0, "resources", "requests", "cpu") as? String == "200m")
        #expect(dig(after, "spec", "containers", 0, "resources", "requests", "memory") as? String == "64Mi")
        #expect(dig(after, "spec", "containers", 0, "resources", "limits", "memory") as? String == "256Mi")
        #expect(dig(after, "spec", "containers", 0, "resources", "limits", "cpu") as? String == "300m")
        // Only resources reach the pod through this subresource: the image stays.
        #expect(dig(after, "spec", "containers", 0, "image") as? String == "busybox")
        #expect(dig(after, "metadata", "generation") as? Int == generation + 1)
        #expect(dig(after, "status", "qosClass") as? String == "Burstable")
        // GET on the subresource answers with the pod.
        let got = try c.kubectl(["get", "--raw", "/api/v1/namespaces/\(ns)/pods/rz/resize"])
        let obj = try JSONSerialization.jsonObject(with: Data(got.out.utf8))
        #expect(dig(obj, "kind") as? String == "Pod")
        #expect(dig(obj, "spec", "containers", 0, "resources", "requests", "cpu") as? String == "200m")
        // A resize that changes nothing leaves the generation alone.
        let same = try resize(ns, #"{"spec":{"containers":[{"name":"c","resources":{"requests":{"cpu":"200m"}}}]}}"#)
        #expect(same.status == 0, "\(same.err)")
        #expect(dig(try c.json(["-n", ns, "get", "pod", "rz"]), "metadata", "generation") as? Int == generation + 1)
    }

    @Test("refused resizes answer with upstream's messages")
    func refused() throws {
        let ns = try c.namespace("resize")
        try c.kubectl(["-n", ns, "apply", "-f", "-"], stdin: Self.pod)
        let cases: [(String, String)] = [
            (
                #"{"spec":{"containers":[{"name":"c","resources":{"limits":{"memory":null}}}]}}"#,
                "The Pod \"rz\" is invalid: spec.containers[0].resources.limits: Forbidden: resource limits cannot be removed"
            ),
            (
                #"{"spec":{"containers":[{"name":"c","resources":{"limits":{"ephemeral-storage":"1Gi"}}}]}}"#,
                "spec: Forbidden: only cpu and memory resources are mutable"
            ),
            (
                #"{"spec":{"containers":[{"name":"c","resources":{"requests":{"cpu":"300m","memory":"128Mi"}}}]}}"#,
                "spec: Invalid value: \"Burstable\": Pod QOS Class may not change as a result of resizing"
            ),
        ]
        for (patch, message) in cases {
            let r = try resize(ns, patch)
            #expect(r.status != 0, "\(patch) was accepted")
            #expect(r.err.contains(message), "\(patch): \(r.err)")
        }
        let renamed = try resize(ns, #"[{"op":"replace","path":"/spec/containers/0/name","value":"d"}]"#, type: "json")
        #expect(
            renamed.err.contains(
                "spec.containers[0].name: Forbidden: containers may not be renamed or reordered on resize"),
            "\(renamed.err)")
        // Nothing of the refused requests reached the pod.
        let pod = try c.json(["-n", ns, "get", "pod", "rz"])
        #expect(dig(pod, "spec", "containers", 0, "resources", "limits", "memory") as? String == "128Mi")
        #expect(dig(pod, "spec", "containers", 0, "resources", "requests", "cpu") as? String == "100m")
        #expect(dig(pod, "metadata", "generation") as? Int == 1)
        // The pod endpoint itself still refuses a resources change.
        let main = try c.kubectl(
            [
                "-n", ns, "patch", "pod", "rz", "-p",
                #"{"spec":{"containers":[{"name":"c","resources":{"requests":{"cpu":"200m"}}}]}}"#,
            ], check: false)
        #expect(main.status != 0)
        #expect(main.err.contains("spec: Forbidden: pod updates may not change fields other than"), "\(main.err)")
    }
}
