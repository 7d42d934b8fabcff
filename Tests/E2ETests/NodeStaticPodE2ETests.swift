import Foundation
import Testing

/// Static pods on the real one-node cluster (`--kubelet-arg pod-manifest-path=…`): the kubelet runs
/// a manifest's pod itself and mirrors it in the API as `<name>-<node>` with upstream's annotations
/// and a controller reference to its Node. Deleting the mirror pod only makes the kubelet create it
/// again (the container goes on); editing the manifest replaces the pod; removing it removes both.
/// The API server refuses mirror pods that reference service accounts or secrets, and changes to
/// the mirror annotation, with upstream's messages.
extension NodeE2ETests {
    static func staticManifest(_ busybox: String, version: Int) -> String {
        """
        apiVersion: v1
        kind: Pod
        metadata:
          name: static-web
          labels:
            tier: static
        spec:
          containers:
          - name: web
            image: \(busybox)
            imagePullPolicy: IfNotPresent
            command:
            - sh
            - -c
            - trap 'exit 0' TERM; echo version-\(version) > /tmp/version; echo started-\(version); sleep 3600 & wait
        """
    }

    /// Writes the manifest as editors and config tools do: a hidden temporary file renamed into place.
    static func writeManifest(_ text: String, dir: String) throws {
        try text.write(toFile: dir + "/.static-web.yaml.tmp", atomically: false, encoding: .utf8)
        _ = rename(dir + "/.static-web.yaml.tmp", dir + "/static-web.yaml")
    }

    @Test(
        "static pods: a mirror pod with upstream's annotations and Node owner; deleting it recreates it without restarting the container; edits replace the pod; removing the file removes it"
    )
    func staticPods() throws {
        if let why = Self.missing {
            print("skipped: the node end-to-end suite needs root, containerd, runc and CNI: \(why)")
            return
        }
        let (dir, busybox) = try nodeDataDir("k8swift-static")
        let manifests = dir + "/manifests"
        try FileManager.default.createDirectory(atPath: manifests, withIntermediateDirectories: true)
        try Self.writeManifest(Self.staticManifest(busybox, version: 1), dir: manifests)
        // Not a pod, and a hidden file: neither runs.
        try "kind: ConfigMap\napiVersion: v1\nmetadata:\n  name: x\n".write(
            toFile: manifests + "/not-a-pod.yaml", atomically: true, encoding: .utf8)
        try Self.staticManifest(busybox, version: 9).replacingOccurrences(of: "static-web", with: "hidden").write(
            toFile: manifests + "/.hidden.yaml", atomically: true, encoding: .utf8)
        let c = try TestCluster(
            extraArgs: ["--kubelet-arg", "pod-manifest-path=\(manifests)"], dataDir: dir, keepDataDir: true, node: true)
        defer {
            c.stop()
            NodeHost.clean(dataDir: dir)
        }
        var nodeName = ""
        try eventually(c, "a registered node") {
            nodeName = try c.kubectl(["get", "nodes", "-o", "jsonpath={.items[0].metadata.name}"]).out
            return !nodeName.isEmpty
        }
        let node = try #require(try c.json(["get", "node", nodeName]) as? [String: Any])
        let name = "static-web-\(nodeName)"

        // The mirror pod: the static pod's name, annotations, Node owner, Running and Ready.
        try waitReady(c, name)
        let mirror = try pod(c, name)
        let hash = try #require(dig(mirror, "metadata", "annotations", "kubernetes.io/config.hash") as? String)
        #expect(hash.count == 32)
        #expect(dig(mirror, "metadata", "annotations", "kubernetes.io/config.mirror") as? String == hash)
        #expect(dig(mirror, "metadata", "annotations", "kubernetes.io/config.source") as? String == "file")
        #expect(dig(mirror, "metadata", "annotations", "kubernetes.io/config.seen") as? String != nil)
        #expect(dig(mirror, "metadata", "namespace") as? String == "default")
        #expect(dig(mirror, "metadata", "labels", "tier") as? String == "static")
        #expect(dig(mirror, "metadata", "uid") as? String != hash, "the API gives the mirror its own UID")
        #expect(dig(mirror, "spec", "nodeName") as? String == nodeName)
        let owners = dig(mirror, "metadata", "ownerReferences") as? [[String: Any]] ?? []
        #expect(owners.count == 1)
        #expect(owners.first?["apiVersion"] as? String == "v1" && owners.first?["kind"] as? String == "Node")
        #expect(owners.first?["name"] as? String == nodeName)
        #expect(owners.first?["uid"] as? String == dig(node, "metadata", "uid") as? String)
        #expect(owners.first?["controller"] as? Bool == true)
        let tolerations = dig(mirror, "spec", "tolerations") as? [[String: Any]] ?? []
        #expect(
            tolerations.contains {
                $0["operator"] as? String == "Exists" && $0["effect"] as? String == "NoExecute" && $0["key"] == nil
            })
        #expect(dig(mirror, "status", "phase") as? String == "Running")
        #expect(try c.kubectl(["get", "pods", "--no-headers"]).out.split(separator: "\n").count == 1)
        let containerID = try #require(dig(mirror, "status", "containerStatuses", 0, "containerID") as? String)
        #expect(try c.kubectl(["logs", name]).out == "started-1")
        #expect(try c.kubectl(["exec", name, "--", "cat", "/tmp/version"]).out == "version-1")

        // The mirror annotation is fixed; mirror pods may not use service accounts or secrets.
        let reannotate = try c.kubectl(
            ["annotate", "--overwrite", "pod", name, "kubernetes.io/config.mirror=other"], check: false)
        #expect(
            reannotate.status != 0 && reannotate.err.contains("may not remove or update mirror pod annotation"),
            "\(reannotate.err)")
        for (extra, message) in [
            ("serviceAccountName: builder", "a mirror pod may not reference service accounts"),
            ("volumes:\n  - name: s\n    secret:\n      secretName: creds", "a mirror pod may not reference secrets"),
        ] {
            let fake = """
                apiVersion: v1
                kind: Pod
                metadata:
                  name: fake-mirror
                  annotations:
                    kubernetes.io/config.mirror: abc
                spec:
                  nodeName: \(nodeName)
                  \(extra)
                  containers:
                  - name: c
                    image: \(busybox)
                """
            let r = try c.kubectl(["create", "-f", "-"], stdin: fake, check: false)
            #expect(
                r.status != 0 && r.err.contains("pods \"fake-mirror\" is forbidden: \(message)"), "\(r.err)")
        }

        // kubectl delete of the mirror pod: the kubelet creates it again, the container runs on.
        let oldUID = try #require(dig(mirror, "metadata", "uid") as? String)
        try c.kubectl(["delete", "pod", name, "--timeout=60s"])
        try eventually(c, "the mirror pod recreated and Running") {
            let p = try pod(c, name)
            return dig(p, "metadata", "uid") as? String != oldUID
                && dig(p, "status", "containerStatuses", 0, "containerID") as? String == containerID
                && dig(p, "status", "phase") as? String == "Running"
        }
        let again = try pod(c, name)
        #expect(dig(again, "status", "containerStatuses", 0, "restartCount") as? Int == 0)
        #expect(dig(again, "metadata", "annotations", "kubernetes.io/config.mirror") as? String == hash)
        #expect(try c.kubectl(["exec", name, "--", "cat", "/tmp/version"]).out == "version-1")

        // An edited manifest is another pod: a new hash, a new container, the old one gone.
        try Self.writeManifest(Self.staticManifest(busybox, version: 2), dir: manifests)
        var newHash = ""
        try eventually(c, "the edited static pod mirrored and Running", timeout: 90) {
            let p = try pod(c, name)
            newHash = dig(p, "metadata", "annotations", "kubernetes.io/config.mirror") as? String ?? ""
            return newHash != hash && !newHash.isEmpty && dig(p, "status", "phase") as? String == "Running"
                && (dig(p, "status", "containerStatuses", 0, "containerID") as? String).map { $0 != containerID }
                    == true
        }
        #expect(dig(try pod(c, name), "metadata", "annotations", "kubernetes.io/config.hash") as? String == newHash)
        #expect(try c.kubectl(["exec", name, "--", "cat", "/tmp/version"]).out == "version-2")
        let oldID = String(containerID.dropFirst("containerd://".count))
        try eventually(c, "the first version's container stopped") {
            let tasks = try c.run(
                "/usr/bin/ctr", ["-a", dir + "/agent/containerd/containerd.sock", "-n", "k8s.io", "tasks", "ls"]
            ).out
            return tasks.contains("RUNNING") && !tasks.contains(oldID)
        }

        // Removing the manifest removes the mirror pod and stops the container.
        try FileManager.default.removeItem(atPath: manifests + "/static-web.yaml")
        try eventually(c, "the mirror pod gone") {
            try c.kubectl(["get", "pods", "--no-headers"]).out.trimmingCharacters(in: .whitespacesAndNewlines)
                .isEmpty
        }
        try eventually(c, "no container left") { NodeHost.runningContainers(dataDir: dir).isEmpty }
        // It was stopped as a deleted pod is (SIGTERM within its grace period), not killed as a leftover.
        let killing = try c.kubectl([
            "get", "events", "--field-selector", "involvedObject.name=\(name),reason=Killing", "--no-headers",
        ]).out
        #expect(killing.contains("Stopping container web"), "\(killing)")
    }
}
