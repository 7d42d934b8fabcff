import Foundation
import Kubelet
import Testing

/// Pod volumes on a real node: files the containers write to a hostPath are read from the host
/// (there is no `kubectl exec` yet). Expected outcomes are upstream's: ConfigMap updates reach a
/// running pod, a missing ConfigMap holds the pod in ContainerCreating with a FailedMount event,
/// the managed /etc/hosts, memory emptyDirs on tmpfs, termination messages, nothing left mounted.
extension NodeE2ETests {
    static func volumePod(hostOut: String) -> String {
        """
        apiVersion: v1
        kind: Pod
        metadata:
          name: vol
          labels: {app: vol}
        spec:
          hostname: vol-host
          subdomain: sub
          hostAliases:
          - ip: 10.9.8.7
            hostnames: [alias.one, alias.two]
          volumes:
          - name: cfg
            configMap: {name: cfg}
          - name: shared
            emptyDir: {}
          - name: mem
            emptyDir: {medium: Memory, sizeLimit: 8Mi}
          - name: info
            downwardAPI:
              items:
              - path: labels
                fieldRef: {fieldPath: metadata.labels}
          - name: out
            hostPath: {path: \(hostOut), type: DirectoryOrCreate}
          - name: sec
            secret: {secretName: sec, defaultMode: 256}
          - name: api
            projected:
              sources:
              - serviceAccountToken: {path: token, expirationSeconds: 3600}
              - configMap:
                  name: kube-root-ca.crt
                  items: [{key: ca.crt, path: ca.crt}]
              - downwardAPI:
                  items: [{path: namespace, fieldRef: {fieldPath: metadata.namespace}}]
          containers:
          - name: writer
            image: BUSYBOX
            imagePullPolicy: IfNotPresent
            command: [sh, -c, 'i=0; while true; do i=$((i+1)); echo $i > /shared/tick; sleep 1; done']
            volumeMounts:
            - {name: shared, mountPath: /shared}
          - name: reader
            image: BUSYBOX
            imagePullPolicy: IfNotPresent
            command:
            - sh
            - -c
            - >-
              cat /etc/hosts > /out/hosts;
              grep ' /mem ' /proc/mounts > /out/mem-mount;
              cat /sec/password > /out/secret; stat -L -c %a /sec/password > /out/secret-mode;
              ls /api > /out/api-ls; cat /api/namespace > /out/namespace;
              while true; do
              cat /cfg/greeting > /out/g.tmp && mv /out/g.tmp /out/greeting;
              cat /shared/tick > /out/t.tmp 2>/dev/null && mv /out/t.tmp /out/tick;
              cat /info/labels > /out/l.tmp && mv /out/l.tmp /out/labels;
              sleep 1; done
            volumeMounts:
            - {name: cfg, mountPath: /cfg}
            - {name: shared, mountPath: /shared, readOnly: true}
            - {name: mem, mountPath: /mem}
            - {name: info, mountPath: /info}
            - {name: out, mountPath: /out}
            - {name: sec, mountPath: /sec}
            - {name: api, mountPath: /api}
        """
    }

    static let waitingPod = """
        apiVersion: v1
        kind: Pod
        metadata: {name: needs-cm}
        spec:
          volumes:
          - name: late
            configMap: {name: late}
          containers:
          - name: c
            image: BUSYBOX
            imagePullPolicy: IfNotPresent
            command: [sh, -c, 'cat /late/k; exec sleep 3600']
            volumeMounts:
            - {name: late, mountPath: /late}
        """

    static let messagePod = """
        apiVersion: v1
        kind: Pod
        metadata: {name: msg}
        spec:
          restartPolicy: Never
          containers:
          - name: file
            image: BUSYBOX
            imagePullPolicy: IfNotPresent
            command: [sh, -c, 'printf bye-now > /dev/termination-log; exit 3']
          - name: logs
            image: BUSYBOX
            imagePullPolicy: IfNotPresent
            terminationMessagePolicy: FallbackToLogsOnError
            command: [sh, -c, 'echo first-line; echo last-line; exit 1']
        """

    /// Mount points under a directory in the host's mount table.
    static func mounts(under dir: String) -> [String] {
        let text = ProcFile.read("/proc/self/mountinfo") ?? ""
        return text.split(separator: "\n").compactMap { line in
            let f = line.split(separator: " ")
            return f.count > 4 && f[4].hasPrefix(dir) ? String(f[4]) : nil
        }
    }

    static func file(_ path: String) -> String? {
        FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) }
    }

    @Test(
        "volumes: a ConfigMap update reaches the running pod, a missing ConfigMap holds it in ContainerCreating, emptyDir is shared, Memory is tmpfs, /etc/hosts, termination messages; nothing stays mounted"
    )
    func podVolumes() throws {
        try withNode { c, dir, busybox in
            let podsDir = dir + "/agent/pods"
            let out = dir + "/hostout"

            // A pod with a ConfigMap, a Secret, two emptyDirs, the downward API, a projected volume as
            // kube-api-access-* volumes have, and a hostPath it reports through.
            try eventually(c, "the default service account and kube-root-ca.crt") {
                try c.kubectl(["get", "serviceaccount", "default"], check: false).status == 0
                    && c.kubectl(["get", "configmap", "kube-root-ca.crt"], check: false).status == 0
            }
            let tokenServed = try c.kubectl(["create", "token", "default"], check: false).status == 0
            try c.kubectl(["create", "configmap", "cfg", "--from-literal=greeting=hello-1"])
            try c.kubectl(["create", "secret", "generic", "sec", "--from-literal=password=s3cret"])
            let manifest = Self.volumePod(hostOut: out).replacingOccurrences(of: "BUSYBOX", with: busybox)
            try c.kubectl(["apply", "-f", "-"], stdin: manifest)
            try eventually(c, "vol Running and reporting", timeout: 90) {
                dig(try pod(c, "vol"), "status", "phase") as? String == "Running"
                    && Self.file(out + "/greeting") == "hello-1" && Self.file(out + "/labels") != nil
            }
            let vol = try pod(c, "vol")
            let uid = try #require(dig(vol, "metadata", "uid") as? String)
            let ip = try #require(dig(vol, "status", "podIP") as? String)

            // Upstream's layout on the host: the atomic writer's ..data behind the ConfigMap's files.
            let cfgDir = "\(podsDir)/\(uid)/volumes/kubernetes.io~configmap/cfg"
            let data = try FileManager.default.destinationOfSymbolicLink(atPath: cfgDir + "/..data")
            #expect(data.hasPrefix("..20"))
            #expect(
                try FileManager.default.destinationOfSymbolicLink(atPath: cfgDir + "/greeting") == "..data/greeting")

            // Secret files with their mode; the projected volume's CA and namespace, and a token only if
            // the server serves TokenRequest (else the pod is told so by a warning event).
            #expect(Self.file(out + "/secret") == "s3cret")
            #expect(Self.file(out + "/secret-mode") == "400\n")
            #expect(Self.file(out + "/namespace") == "default")
            let listed = Set((Self.file(out + "/api-ls") ?? "").split(separator: "\n").map(String.init))
            #expect(listed.isSuperset(of: ["ca.crt", "namespace"]))
            #expect(listed.contains("token") == tokenServed)
            if !tokenServed {
                let ev = try c.kubectl(["get", "events", "--field-selector", "involvedObject.name=vol"]).out
                #expect(ev.contains("TokenRequestUnavailable"))
            }
            #expect(Self.mounts(under: "\(podsDir)/\(uid)/volumes/kubernetes.io~secret/sec").count == 1)

            // /etc/hosts: the managed file with the pod's FQDN and the host aliases.
            let hosts = try #require(Self.file(out + "/hosts"))
            #expect(hosts.hasPrefix("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n"))
            #expect(hosts.contains("\n\(ip)\tvol-host.sub.default.svc.cluster.local\tvol-host\n"))
            #expect(hosts.hasSuffix("\n# Entries added by HostAliases.\n10.9.8.7\talias.one\talias.two\n"))

            // The Memory emptyDir is a tmpfs of 8 MiB, in the container and on the host.
            let memMount = Self.file(out + "/mem-mount") ?? ""
            #expect(memMount.contains(" /mem tmpfs "))
            #expect(memMount.contains("size=8192k"))
            #expect(Self.mounts(under: "\(podsDir)/\(uid)/volumes/kubernetes.io~empty-dir/mem").count == 1)

            // The emptyDir one container writes, the other reads.
            let tick1 = Int(Self.file(out + "/tick")?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? 0
            try eventually(c, "the shared counter to move on") {
                (Int(Self.file(out + "/tick")?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? 0) > tick1 + 1
            }
            #expect(Self.file(out + "/labels") == "app=\"vol\"")

            // Updates reach the running pod: the ConfigMap within about a minute, labels at once.
            let updated = try c.kubectl([
                "create", "configmap", "cfg", "--from-literal=greeting=hello-2", "--dry-run=client", "-o", "yaml",
            ]).out
            try c.kubectl(["replace", "-f", "-"], stdin: updated)
            try c.kubectl(["label", "pod", "vol", "extra=yes"])
            try eventually(c, "the new labels in the pod", timeout: 30) {
                Self.file(out + "/labels") == "app=\"vol\"\nextra=\"yes\""
            }
            try eventually(c, "the ConfigMap update in the pod", timeout: 90) {
                Self.file(out + "/greeting") == "hello-2"
            }
            #expect(dig(try pod(c, "vol"), "status", "containerStatuses", 0, "restartCount") as? Int == 0)

            // A missing ConfigMap: FailedMount, ContainerCreating, then Running once it exists.
            try c.kubectl(
                ["apply", "-f", "-"], stdin: Self.waitingPod.replacingOccurrences(of: "BUSYBOX", with: busybox))
            try eventually(c, "FailedMount for the missing ConfigMap") {
                let ev = try c.kubectl(["get", "events", "--field-selector", "involvedObject.name=needs-cm"]).out
                return ev.contains("FailedMount")
                    && ev.contains("MountVolume.SetUp failed for volume \"late\" : configmap \"late\" not found")
            }
            try eventually(c, "needs-cm ContainerCreating") {
                try statusWord(c, "needs-cm") == "ContainerCreating"
                    && dig(try pod(c, "needs-cm"), "status", "containerStatuses", 0, "state", "waiting", "reason")
                        as? String
                        == "ContainerCreating"
            }
            #expect(dig(try pod(c, "needs-cm"), "status", "phase") as? String == "Pending")
            try c.kubectl(["create", "configmap", "late", "--from-literal=k=arrived"])
            try eventually(c, "needs-cm Running once its ConfigMap exists", timeout: 90) {
                dig(try pod(c, "needs-cm"), "status", "phase") as? String == "Running"
            }
            let lateUID = try #require(dig(try pod(c, "needs-cm"), "metadata", "uid") as? String)

            // Termination messages: the file's content, or the log's end with FallbackToLogsOnError.
            try c.kubectl(
                ["apply", "-f", "-"], stdin: Self.messagePod.replacingOccurrences(of: "BUSYBOX", with: busybox))
            try eventually(c, "msg Failed") { dig(try pod(c, "msg"), "status", "phase") as? String == "Failed" }
            let msg = try pod(c, "msg")
            let statuses = dig(msg, "status", "containerStatuses") as? [[String: Any]] ?? []
            let byName = Dictionary(statuses.map { ($0["name"] as? String ?? "", $0) }, uniquingKeysWith: { a, _ in a })
            #expect(dig(byName["file"] ?? [:], "state", "terminated", "exitCode") as? Int == 3)
            #expect(dig(byName["file"] ?? [:], "state", "terminated", "message") as? String == "bye-now")
            #expect(
                dig(byName["logs"] ?? [:], "state", "terminated", "message") as? String == "first-line\nlast-line\n")
            let msgUID = try #require(dig(msg, "metadata", "uid") as? String)
            #expect(
                (try? FileManager.default.contentsOfDirectory(atPath: "\(podsDir)/\(msgUID)/containers/file"))?.count
                    == 1)

            // Deleting the pods stops them, unmounts their volumes and removes their directories.
            try c.kubectl(["delete", "pod", "vol", "needs-cm", "msg", "--timeout=90s"])
            try eventually(c, "pod directories removed and nothing mounted under the pods directory") {
                Self.mounts(under: podsDir).isEmpty
                    && [uid, lateUID, msgUID].allSatisfy { !FileManager.default.fileExists(atPath: "\(podsDir)/\($0)") }
            }
            try eventually(c, "no container left") { NodeHost.runningContainers(dataDir: dir).isEmpty }
            // The hostPath volume's content is the host's: it stays.
            #expect(Self.file(out + "/greeting") == "hello-2")
        }
    }
}
