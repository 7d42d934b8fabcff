import APICore
import APIMachinery
import ControllerRuntime
import Foundation
import Synchronization
import Testing

@testable import Kubelet

/// Static pods from a manifest directory, as upstream's file source makes them: one v1 Pod per
/// file (YAML or JSON), hidden files skipped, named `<name>-<node>`, in `default` when no
/// namespace is given, bound to the node, tolerating every NoExecute taint, Pending, with the
/// `kubernetes.io/config.*` annotations and a UID hashed from the node, the file and the pod; and
/// their mirror pods (the mirror annotation, controlled by the Node).
@Suite("static pods")
struct StaticPodTests {
    static let yaml = """
        apiVersion: v1
        kind: Pod
        metadata:
          name: web
          labels:
            app: web
        spec:
          containers:
          - name: web
            image: busybox:1.36
            command: ["sleep", "3600"]
        """
    static let json = """
        {"apiVersion":"v1","kind":"Pod","metadata":{"name":"web","labels":{"app":"web"}},
         "spec":{"containers":[{"name":"web","image":"busybox:1.36","command":["sleep","3600"]}]}}
        """

    static func pod(_ text: String, path: String = "/etc/manifests/web.yaml", node: String = "node-1") throws
        -> CoreV1.Pod
    {
        try StaticPods.pod(fromManifest: Array(text.utf8), path: path, nodeName: node)
    }

    @Test("a manifest becomes the node's pod: name, namespace, node, annotations, toleration, defaults, Pending")
    func shape() throws {
        let p = try Self.pod(Self.yaml, node: "Node-1")
        #expect(p.metadata.name == "web-node-1")
        #expect(p.metadata.namespace == "default")
        #expect(p.spec.nodeName == "Node-1")
        #expect(p.metadata.labels["app"] == "web")
        #expect(p.metadata.annotations["kubernetes.io/config.source"] == "file")
        #expect(p.metadata.annotations["kubernetes.io/config.hash"] == p.metadata.uid)
        #expect(p.metadata.uid.count == 32 && p.metadata.uid.allSatisfy(\.isHexDigit))
        #expect(p.spec.tolerations == [CoreV1.Toleration(operator: "Exists", effect: "NoExecute")])
        #expect(p.status.phase == "Pending")
        // The v1 defaults, as the API server would give them.
        #expect(p.spec.restartPolicy == "Always")
        #expect(p.spec.dnsPolicy == "ClusterFirst")
        #expect(p.spec.terminationGracePeriodSeconds == 30)
        #expect(p.spec.containers.first?.terminationMessagePath == "/dev/termination-log")
        #expect(p.spec.containers.first?.imagePullPolicy == "IfNotPresent")
    }

    @Test("a namespace and a UID given in the manifest are kept")
    func givenNamespaceAndUID() throws {
        let text = Self.yaml.replacingOccurrences(
            of: "  name: web\n", with: "  name: web\n  namespace: kube-system\n  uid: 1234-abcd\n")
        let p = try Self.pod(text)
        #expect(p.metadata.namespace == "kube-system")
        #expect(p.metadata.uid == "1234-abcd")
        #expect(p.metadata.annotations["kubernetes.io/config.hash"] == "1234-abcd")
        #expect(p.metadata.name == "web-node-1")
    }

    @Test(
        "the UID is stable for the same pod, file and node, and changes with any of them",
        arguments: [
            // (other manifest, other path, other node, same UID expected)
            (json, "/etc/manifests/web.yaml", "node-1", true),  // JSON of the same pod: the object is hashed
            (yaml + "\n# a comment\n", "/etc/manifests/web.yaml", "node-1", true),
            (yaml, "/etc/manifests/web.yaml", "node-2", false),
            (yaml, "/etc/manifests/other.yaml", "node-1", false),
            (yaml.replacingOccurrences(of: "3600", with: "3601"), "/etc/manifests/web.yaml", "node-1", false),
        ])
    func uid(other: String, path: String, node: String, same: Bool) throws {
        let a = try Self.pod(Self.yaml)
        let b = try Self.pod(other, path: path, node: node)
        #expect((a.metadata.uid == b.metadata.uid) == same)
    }

    @Test("an existing toleration of every NoExecute taint is replaced, not doubled; others stay")
    func tolerations() throws {
        let text =
            Self.yaml + """

                  tolerations:
                  - operator: Exists
                    effect: NoExecute
                    tolerationSeconds: 60
                  - key: dedicated
                    operator: Equal
                    value: infra
                    effect: NoSchedule
                """
        let p = try Self.pod(text)
        #expect(
            p.spec.tolerations == [
                CoreV1.Toleration(operator: "Exists", effect: "NoExecute"),
                CoreV1.Toleration(key: "dedicated", operator: "Equal", value: "infra", effect: "NoSchedule"),
            ])
    }

    @Test(
        "manifests that give no pod are refused",
        arguments: [
            ("not: [valid", "could not read"),
            ("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\n", "is not a pod"),
            ("", "is not a pod"),
            ("apiVersion: v1\nkind: Pod\nmetadata:\n  name: empty\nspec:\n  containers: []\n", "invalid pod"),
            ("apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: c\n    image: i\n", "invalid pod"),
        ])
    func refused(text: String, reason: String) {
        #expect {
            try Self.pod(text)
        } throws: { e in
            (e as? StaticPods.ManifestError)?.description.contains(reason) == true
        }
    }

    @Test("a directory: hidden files skipped, bad files refused, a duplicate name refused, file-name order")
    func directory() {
        let other = Self.yaml.replacingOccurrences(of: "name: web\n  labels", with: "name: api\n  labels")
        let files = [
            StaticPods.Manifest(path: "/m/b-web.yaml", bytes: Array(Self.yaml.utf8)),
            StaticPods.Manifest(path: "/m/a-api.json", bytes: Array(other.utf8)),
            StaticPods.Manifest(path: "/m/.web.yaml.swp", bytes: Array(Self.yaml.utf8)),
            StaticPods.Manifest(path: "/m/c-again.yaml", bytes: Array(Self.json.utf8)),
            StaticPods.Manifest(path: "/m/d-junk.txt", bytes: Array("::".utf8)),
        ]
        let l = StaticPods.pods(from: files, nodeName: "n1")
        #expect(l.pods.map(\.metadata.name) == ["api-n1", "web-n1"])
        #expect(l.rejected.map(\.path) == ["/m/c-again.yaml", "/m/d-junk.txt"])
        #expect(l.rejected.first?.reason == "duplicate pod \"default/web-n1\" found; ignoring")
        #expect(StaticPods.isManifestName("web.yaml") && !StaticPods.isManifestName(".hidden"))
    }

    @Test("the mirror pod: the static pod with the mirror annotation, controlled by its Node, nothing server-set")
    func mirror() throws {
        var p = try Self.pod(Self.yaml, node: "n1")
        p.status.phase = "Running"
        let m = StaticPods.mirrorPod(of: p, nodeName: "n1", nodeUID: "node-uid")
        #expect(m.metadata.annotations["kubernetes.io/config.mirror"] == p.metadata.uid)
        #expect(m.metadata.annotations["kubernetes.io/config.hash"] == p.metadata.uid)
        #expect(m.metadata.annotations["kubernetes.io/config.source"] == "file")
        let owner = try #require(m.metadata.ownerReferences.first)
        #expect(m.metadata.ownerReferences.count == 1)
        #expect(owner.apiVersion == "v1" && owner.kind == "Node" && owner.name == "n1" && owner.uid == "node-uid")
        #expect(owner.controller == true)
        #expect(m.metadata.uid.isEmpty && m.status == CoreV1.PodStatus())
        #expect(m.spec == p.spec && m.metadata.name == p.metadata.name)
        #expect(StaticPods.isMirror(m) && !StaticPods.isMirror(p))
        #expect(StaticPods.isStatic(p))
    }

    @Test(
        "which API pod mirrors which static pod",
        arguments: [
            ("web-n1", "default", "same", true),
            ("web-n1", "default", "old-hash", false),
            ("web-n1", "default", nil, false),
            ("web-n2", "default", "same", false),
            ("web-n1", "other", "same", false),
        ] as [(String, String, String?, Bool)])
    func isMirrorOf(name: String, namespace: String, hash: String?, expected: Bool) throws {
        let p = try Self.pod(Self.yaml, node: "n1")
        var api = CoreV1.Pod()
        api.metadata.name = name
        api.metadata.namespace = namespace
        if let hash { api.metadata.annotations["kubernetes.io/config.mirror"] = hash == "same" ? p.metadata.uid : hash }
        #expect(StaticPods.isMirror(api, of: p) == expected)
    }

    @Test("the directory source: reads, keeps config.seen, marks a removed manifest's pod deleted until it stopped")
    func source() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("static-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let times = Mutex([1_700_000_000.0, 1_700_000_100.0, 1_700_000_200.0])
        let source = StaticPodSource(
            directory: dir, nodeName: "n1", checkFrequency: .seconds(20), log: { _ in },
            wallClock: { Date(timeIntervalSince1970: times.withLock { $0.removeFirst() }) })
        let key = ObjectKey(namespace: "default", name: "web-n1")
        let withGrace = Self.yaml + "\n  terminationGracePeriodSeconds: 7\n"
        try withGrace.write(toFile: dir + "/web.yaml", atomically: true, encoding: .utf8)
        #expect(source.read() == [key])
        let first = try #require(source.pod(key))
        #expect(first.metadata.annotations["kubernetes.io/config.seen"] == "2023-11-14T22:13:20Z")
        // Nothing changed: no key, the first-seen time stays.
        #expect(source.read().isEmpty)
        #expect(source.pod(key)?.metadata.annotations["kubernetes.io/config.seen"] == "2023-11-14T22:13:20Z")
        var status = CoreV1.PodStatus()
        status.phase = "Running"
        source.setStatus(first.metadata.uid, status)
        #expect(source.pod(key)?.status.phase == "Running")

        try FileManager.default.removeItem(atPath: dir + "/web.yaml")
        #expect(source.read() == [key])
        let gone = try #require(source.pod(key))
        #expect(gone.metadata.uid == first.metadata.uid)
        #expect(gone.metadata.deletionTimestamp == Time(seconds: 1_700_000_200))
        #expect(gone.metadata.deletionGracePeriodSeconds == 7)
        #expect(gone.status.phase == "Running")
        #expect(source.list().count == 1)
        #expect(source.stopped("other-uid") == nil)
        #expect(source.stopped(first.metadata.uid) == key)
        #expect(source.pod(key) == nil && source.list().isEmpty)
    }

    @Test(
        "config.seen is RFC 3339 with nanoseconds, trailing zeros dropped, UTC",
        arguments: [
            (1_700_000_000.0, "2023-11-14T22:13:20Z"),
            (1_700_000_000.5, "2023-11-14T22:13:20.5Z"),
            (1_700_000_000.25, "2023-11-14T22:13:20.25Z"),
        ])
    func seen(seconds: Double, expected: String) {
        #expect(StaticPods.seenTimestamp(Date(timeIntervalSince1970: seconds)) == expected)
    }
}
