import APICore
import APIMachinery
import CRI
import Foundation
import Testing

@testable import Kubelet

/// A fresh directory under the system's temporary directory, removed by the caller.
func temporaryDirectory(_ tag: String) throws -> String {
    let dir = NSTemporaryDirectory() + "k8swift-\(tag)-\(UUID().uuidString.prefix(8))"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

func read(_ path: String) -> String? {
    FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) }
}

func mode(_ path: String) -> Int {
    var st = stat()
    guard stat(path, &st) == 0 else { return -1 }
    return Int(st.st_mode & 0o7777)
}

func link(_ path: String) -> String? { try? FileManager.default.destinationOfSymbolicLink(atPath: path) }

@Suite("Atomic writer: upstream's ..data layout for API-data volumes")
struct AtomicWriterTests {
    @Test("files land in a timestamped directory behind ..data, each visible name a symlink through ..data")
    func layout() throws {
        let dir = try temporaryDirectory("aw")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let w = AtomicWriter(targetDir: dir)
        #expect(try w.write(["a": FileProjection("one"), "sub/b": FileProjection("two")]))
        let data = try #require(link(dir + "/..data"))
        #expect(data.hasPrefix(".."))
        #expect(!data.contains("/"))
        #expect(FileManager.default.fileExists(atPath: dir + "/" + data + "/a"))
        #expect(link(dir + "/a") == "..data/a")
        #expect(link(dir + "/sub") == "..data/sub")
        #expect(read(dir + "/a") == "one")
        #expect(read(dir + "/sub/b") == "two")
        // Only the links, ..data and the one timestamped directory.
        let entries = Set(try FileManager.default.contentsOfDirectory(atPath: dir))
        #expect(entries == ["a", "sub", "..data", data])
    }

    @Test("a timestamped directory is named ..YYYY_MM_DD_HH_MM_SS.<n> in UTC")
    func timestampName() {
        let d = Date(timeIntervalSince1970: 86_400 * 366 + 3_723)  // 1971-01-02 01:02:03 UTC
        #expect(AtomicWriter.timestampedName(d, suffix: 42) == "..1971_01_02_01_02_03.42")
    }

    @Test("until the rename the old content stays readable; afterwards the new one is, and removed keys disappear")
    func swap() throws {
        let dir = try temporaryDirectory("aw")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let w = AtomicWriter(targetDir: dir)
        try w.write(["keep": FileProjection("v1"), "gone": FileProjection("bye")])
        let first = try #require(link(dir + "/..data"))
        let staged = try #require(try w.stage(["keep": FileProjection("v2"), "new": FileProjection("hi")]))
        #expect(staged.previousDirName == first)
        // Staged but not committed: readers still see the first version, the new key not at all.
        #expect(read(dir + "/keep") == "v1")
        #expect(read(dir + "/gone") == "bye")
        #expect(read(dir + "/new") == nil)
        #expect(link(dir + "/..data") == first)
        try w.commit(staged)
        #expect(read(dir + "/keep") == "v2")
        #expect(read(dir + "/new") == "hi")
        #expect(!FileManager.default.fileExists(atPath: dir + "/gone"))
        #expect(link(dir + "/gone") == nil)
        #expect(link(dir + "/..data") == staged.dirName)
        #expect(!FileManager.default.fileExists(atPath: dir + "/" + first))
    }

    @Test("the same payload again changes nothing; a changed mode alone is a change")
    func unchanged() throws {
        let dir = try temporaryDirectory("aw")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let w = AtomicWriter(targetDir: dir)
        try w.write(["a": FileProjection("x", mode: 0o644)])
        let first = link(dir + "/..data")
        #expect(try w.write(["a": FileProjection("x", mode: 0o644)]) == false)
        #expect(link(dir + "/..data") == first)
        #expect(try w.write(["a": FileProjection("x", mode: 0o600)]))
        #expect(link(dir + "/..data") != first)
        #expect(mode(dir + "/a") == 0o600)
    }

    @Test("files get their modes, the timestamped directory 0755")
    func modes() throws {
        let dir = try temporaryDirectory("aw")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try AtomicWriter(targetDir: dir).write([
            "ro": FileProjection("a", mode: 0o400), "rw": FileProjection("b", mode: 0o644),
            "x": FileProjection("c", mode: 0o755),
        ])
        #expect(mode(dir + "/ro") == 0o400)
        #expect(mode(dir + "/rw") == 0o644)
        #expect(mode(dir + "/x") == 0o755)
        #expect(mode(dir + "/" + link(dir + "/..data")!) == 0o755)
    }

    @Test(
        "paths must be relative, without '..' elements, not starting with '..'",
        arguments: [
            ("a", true), ("a/b/c", true), ("a..b", true), ("/etc/passwd", false), ("../x", false),
            ("a/../b", false), ("..data", false), ("", false),
        ])
    func paths(_ path: String, _ valid: Bool) {
        #expect(((try? AtomicWriter.validate(path)) != nil) == valid)
    }
}

@Suite("Volume payloads: configMap, secret, downwardAPI, projected (upstream's MakePayload)")
struct VolumePayloadTests {
    static func cm(_ data: [String: String], binary: [String: [UInt8]] = [:]) -> CoreV1.ConfigMap {
        var c = CoreV1.ConfigMap()
        c.metadata.name = "cfg"
        c.data = data
        c.binaryData = binary
        return c
    }

    @Test("every key of data and binaryData becomes a file with the default mode 0644")
    func allKeys() throws {
        let files = try VolumePayloads.configMap(
            Self.cm(["a": "1", "b": "2"], binary: ["bin": [0, 1, 2]]), name: "cfg", items: [], defaultMode: nil,
            optional: false)
        #expect(
            files == [
                "a": FileProjection("1", mode: 0o644), "b": FileProjection("2", mode: 0o644),
                "bin": FileProjection([0, 1, 2], mode: 0o644),
            ])
    }

    @Test("items pick keys to paths; an item's mode beats defaultMode")
    func items() throws {
        let files = try VolumePayloads.configMap(
            Self.cm(["a": "1", "b": "2"]), name: "cfg",
            items: [CoreV1.KeyToPath(key: "a", path: "dir/a.txt", mode: 0o400)], defaultMode: 0o440, optional: false)
        #expect(files == ["dir/a.txt": FileProjection("1", mode: 0o400)])
        let withDefault = try VolumePayloads.configMap(
            Self.cm(["a": "1"]), name: "cfg", items: [CoreV1.KeyToPath(key: "a", path: "x")], defaultMode: 0o440,
            optional: false)
        #expect(withDefault["x"]?.mode == 0o440)
    }

    @Test("a missing ConfigMap or Secret, or key, fails with upstream's words unless optional")
    func missing() {
        #expect(throws: VolumeError("configmap \"cfg\" not found")) {
            try VolumePayloads.configMap(nil, name: "cfg", items: [], defaultMode: nil, optional: false)
        }
        #expect((try? VolumePayloads.configMap(nil, name: "cfg", items: [], defaultMode: nil, optional: true)) == [:])
        #expect(throws: VolumeError("configmap references non-existent config key: nope")) {
            try VolumePayloads.configMap(
                Self.cm(["a": "1"]), name: "cfg", items: [CoreV1.KeyToPath(key: "nope", path: "p")], defaultMode: nil,
                optional: false)
        }
        #expect(throws: VolumeError("secret \"s\" not found")) {
            try VolumePayloads.secret(nil, name: "s", items: [], defaultMode: nil, optional: false)
        }
        var s = CoreV1.Secret()
        s.data = ["k": Array("v".utf8)]
        #expect(throws: VolumeError("secret references non-existent secret key: other")) {
            try VolumePayloads.secret(
                s, name: "s", items: [CoreV1.KeyToPath(key: "other", path: "p")], defaultMode: nil, optional: false)
        }
        let optionalItem = try? VolumePayloads.secret(
            s, name: "s", items: [CoreV1.KeyToPath(key: "other", path: "p"), CoreV1.KeyToPath(key: "k", path: "q")],
            defaultMode: 0o400, optional: true)
        #expect(optionalItem == ["q": FileProjection("v", mode: 0o400)])
    }

    static var pod: CoreV1.Pod {
        var p = K.pod(["app"])
        p.metadata.labels = ["tier": "web", "app": "a\"b"]
        p.metadata.annotations = ["note": "line1\nline2"]
        p.spec.containers[0].resources.limits = [
            "memory": (try! Quantity(parsing: "64Mi")), "cpu": (try! Quantity(parsing: "250m")),
        ]
        return p
    }

    @Test("downward API files: name, labels and annotations as sorted key=\"quoted\" lines, resources in divisor units")
    func downward() throws {
        let items = [
            CoreV1.DownwardAPIVolumeFile(
                path: "name", fieldRef: CoreV1.ObjectFieldSelector(fieldPath: "metadata.name")),
            CoreV1.DownwardAPIVolumeFile(
                path: "labels", fieldRef: CoreV1.ObjectFieldSelector(fieldPath: "metadata.labels")),
            CoreV1.DownwardAPIVolumeFile(
                path: "annotations", fieldRef: CoreV1.ObjectFieldSelector(fieldPath: "metadata.annotations"),
                mode: 0o400),
            CoreV1.DownwardAPIVolumeFile(
                path: "tier", fieldRef: CoreV1.ObjectFieldSelector(fieldPath: "metadata.labels['tier']")),
            CoreV1.DownwardAPIVolumeFile(
                path: "mem",
                resourceFieldRef: CoreV1.ResourceFieldSelector(
                    containerName: "app", resource: "limits.memory", divisor: (try! Quantity(parsing: "1Mi")))),
            CoreV1.DownwardAPIVolumeFile(
                path: "cpu",
                resourceFieldRef: CoreV1.ResourceFieldSelector(
                    containerName: "app", resource: "limits.cpu", divisor: (try! Quantity(parsing: "1m")))),
        ]
        let files = try VolumePayloads.downwardAPI(items, pod: Self.pod, defaultMode: nil)
        #expect(files["name"] == FileProjection("web"))
        #expect(files["labels"] == FileProjection("app=\"a\\\"b\"\ntier=\"web\""))
        #expect(files["annotations"] == FileProjection("note=\"line1\\nline2\"", mode: 0o400))
        #expect(files["tier"] == FileProjection("web"))
        #expect(files["mem"] == FileProjection("64"))
        #expect(files["cpu"] == FileProjection("250"))
    }

    @Test(
        "values are quoted as Go's %q",
        arguments: [
            ("plain", "\"plain\""), ("tab\there", "\"tab\\there\""), ("back\\slash", "\"back\\\\slash\""),
            ("bell\u{07}", "\"bell\\a\""), ("nul\u{00}", "\"nul\\x00\""), ("héllo ✓", "\"héllo ✓\""),
        ])
    func quoting(_ input: String, _ want: String) {
        #expect(VolumePayloads.goQuote(input) == want)
    }

    @Test("a projected volume merges its sources; a missing token writes no file; errors are gathered")
    func projected() throws {
        let pod = Self.pod
        let files = try VolumePayloads.projected(
            [
                .configMap(
                    CoreV1.ConfigMapProjection(
                        localObjectReference: CoreV1.LocalObjectReference(name: "kube-root-ca.crt"),
                        items: [CoreV1.KeyToPath(key: "ca.crt", path: "ca.crt")]), Self.cm(["ca.crt": "PEM"])),
                .downwardAPI(
                    CoreV1.DownwardAPIProjection(items: [
                        CoreV1.DownwardAPIVolumeFile(
                            path: "namespace", fieldRef: CoreV1.ObjectFieldSelector(fieldPath: "metadata.namespace"))
                    ])),
                .serviceAccountToken(CoreV1.ServiceAccountTokenProjection(path: "token"), token: nil),
            ], pod: pod, defaultMode: 0o420)
        #expect(
            files == [
                "ca.crt": FileProjection("PEM", mode: 0o420), "namespace": FileProjection("default", mode: 0o420),
            ])
        let withToken = try VolumePayloads.projected(
            [.serviceAccountToken(CoreV1.ServiceAccountTokenProjection(path: "token"), token: "jwt")], pod: pod,
            defaultMode: nil)
        #expect(withToken == ["token": FileProjection("jwt", mode: 0o644)])
        #expect(throws: VolumeError("[configmap \"a\" not found, secret \"b\" not found]")) {
            try VolumePayloads.projected(
                [
                    .configMap(
                        CoreV1.ConfigMapProjection(localObjectReference: CoreV1.LocalObjectReference(name: "a")), nil),
                    .secret(CoreV1.SecretProjection(localObjectReference: CoreV1.LocalObjectReference(name: "b")), nil),
                ], pod: pod, defaultMode: nil)
        }
    }
}

struct HostPathCase: CustomTestStringConvertible, Sendable {
    let type: String?
    let found: HostFileType
    let want: HostPathCheck
    var testDescription: String { "\(type ?? "nil") on \(found)" }
}

@Suite("hostPath type checks (upstream's checkType)")
struct HostPathCheckTests {
    static let p = "/srv/x"
    static let cases: [HostPathCase] = [
        HostPathCase(type: nil, found: .missing, want: .ok),
        HostPathCase(type: "", found: .file, want: .ok),
        HostPathCase(type: "DirectoryOrCreate", found: .missing, want: .createDirectory),
        HostPathCase(type: "DirectoryOrCreate", found: .directory, want: .ok),
        HostPathCase(
            type: "DirectoryOrCreate", found: .file,
            want: .fail("hostPath type check failed: /srv/x is not a directory")),
        HostPathCase(type: "Directory", found: .directory, want: .ok),
        HostPathCase(
            type: "Directory", found: .missing, want: .fail("hostPath type check failed: /srv/x is not a directory")),
        HostPathCase(type: "FileOrCreate", found: .missing, want: .createFile),
        HostPathCase(type: "FileOrCreate", found: .file, want: .ok),
        HostPathCase(
            type: "FileOrCreate", found: .directory, want: .fail("hostPath type check failed: /srv/x is not a file")),
        HostPathCase(type: "File", found: .missing, want: .fail("hostPath type check failed: /srv/x is not a file")),
        HostPathCase(type: "Socket", found: .socket, want: .ok),
        HostPathCase(
            type: "Socket", found: .file, want: .fail("hostPath type check failed: /srv/x is not a socket file")),
        HostPathCase(type: "CharDevice", found: .charDevice, want: .ok),
        HostPathCase(
            type: "CharDevice", found: .blockDevice,
            want: .fail("hostPath type check failed: /srv/x is not a character device")),
        HostPathCase(type: "BlockDevice", found: .blockDevice, want: .ok),
        HostPathCase(
            type: "BlockDevice", found: .missing,
            want: .fail("hostPath type check failed: /srv/x is not a block device")),
        HostPathCase(type: "Fifo", found: .file, want: .fail("Fifo is an invalid volume type")),
    ]

    @Test(arguments: cases)
    func decide(_ c: HostPathCase) {
        #expect(HostPathCheck.decide(path: Self.p, type: c.type, found: c.found) == c.want)
    }

    @Test("the host's own files: /dev/null is a character device, a new directory and file are created")
    func onHost() throws {
        #expect(HostFileType.of("/dev/null") == .charDevice)
        let dir = try temporaryDirectory("hp")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(HostPathCheck.apply(path: dir + "/a/b", type: "DirectoryOrCreate") == nil)
        #expect(HostFileType.of(dir + "/a/b") == .directory)
        #expect(HostPathCheck.apply(path: dir + "/f", type: "FileOrCreate") == nil)
        #expect(HostFileType.of(dir + "/f") == .file)
        #expect(
            HostPathCheck.apply(path: dir + "/f", type: "Directory")
                == "hostPath type check failed: \(dir)/f is not a directory")
    }
}

@Suite("/etc/hosts for pods (upstream's managed hosts file)")
struct EtcHostsTests {
    static let boilerplate =
        "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
        + "fe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n"

    @Test("a pod: boilerplate, then its IP and hostname")
    func plain() {
        let pod = K.pod(["a"])
        #expect(
            EtcHosts.content(pod, podIPs: ["10.42.0.7"], clusterDomain: "cluster.local", hostFile: "")
                == Self.boilerplate + "10.42.0.7\tweb\n")
    }

    @Test("hostname and subdomain give the FQDN first; hostAliases follow under their header")
    func subdomainAndAliases() {
        let pod = K.pod(["a"]) { p in
            p.spec.hostname = "db-0"
            p.spec.subdomain = "db"
            p.spec.hostAliases = [
                CoreV1.HostAlias(ip: "127.0.0.1", hostnames: ["foo.local", "bar.local"]),
                CoreV1.HostAlias(ip: "10.1.2.3", hostnames: ["foo.remote"]),
            ]
        }
        #expect(
            EtcHosts.content(pod, podIPs: ["10.42.0.7", "fd00::7"], clusterDomain: "cluster.local", hostFile: "")
                == Self.boilerplate + "10.42.0.7\tdb-0.db.default.svc.cluster.local\tdb-0\n"
                + "fd00::7\tdb-0.db.default.svc.cluster.local\tdb-0\n"
                + "\n# Entries added by HostAliases.\n127.0.0.1\tfoo.local\tbar.local\n10.1.2.3\tfoo.remote\n")
    }

    @Test("host network: the host's file under its own header, then hostAliases")
    func hostNetwork() {
        let pod = K.pod(["a"], hostNetwork: true) { p in
            p.spec.hostAliases = [CoreV1.HostAlias(ip: "1.2.3.4", hostnames: ["x"])]
        }
        #expect(
            EtcHosts.content(pod, podIPs: ["192.168.1.10"], clusterDomain: "cluster.local", hostFile: "127.0.0.1 me\n")
                == "# Kubernetes-managed hosts file (host network).\n127.0.0.1 me\n"
                + "\n# Entries added by HostAliases.\n1.2.3.4\tx\n")
    }
}

@Suite("Container mounts (upstream's makeMounts)")
struct ContainerMountTests {
    static let volumes: [String: VolumeHostPath] = [
        "data": VolumeHostPath("/k/pods/u1/volumes/kubernetes.io~empty-dir/data"),
        "cfg": VolumeHostPath("/k/pods/u1/volumes/kubernetes.io~configmap/cfg", forceReadOnly: true),
    ]

    static func container(_ mounts: [CoreV1.VolumeMount], terminationPath: String = "/dev/termination-log")
        -> CoreV1.Container
    {
        var c = CoreV1.Container(name: "app", image: "busybox")
        c.volumeMounts = mounts
        c.terminationMessagePath = terminationPath
        return c
    }

    @Test("volume mounts in order, API-data volumes read-only, then /etc/hosts and the termination-message file")
    func order() throws {
        let c = Self.container([
            CoreV1.VolumeMount(name: "data", mountPath: "/data", mountPropagation: "HostToContainer"),
            CoreV1.VolumeMount(name: "cfg", mountPath: "/etc/cfg"),
            CoreV1.VolumeMount(name: "data", readOnly: true, mountPath: "/ro", mountPropagation: "Bidirectional"),
        ])
        let m = try ContainerMounts.plan(
            c, volumes: Self.volumes, etcHostsFile: "/k/pods/u1/etc-hosts",
            terminationMessageFile: "/k/pods/u1/containers/app/0000abcd")
        #expect(m.map(\.containerPath) == ["/data", "/etc/cfg", "/ro", "/etc/hosts", "/dev/termination-log"])
        #expect(m.map(\.readOnly) == [false, true, true, false, false])
        #expect(
            m.map(\.propagation) == [
                .propagationHostToContainer, .propagationPrivate, .propagationBidirectional, .propagationPrivate,
                .propagationPrivate,
            ])
        #expect(m[3].hostPath == "/k/pods/u1/etc-hosts")
        #expect(m[4].hostPath == "/k/pods/u1/containers/app/0000abcd")
    }

    @Test("a container mounting its own /etc/hosts gets no managed one; no IP yet, no hosts file")
    func ownHosts() throws {
        let c = Self.container([CoreV1.VolumeMount(name: "data", mountPath: "/etc/hosts", subPath: "hosts")])
        let m = try ContainerMounts.plan(c, volumes: Self.volumes, etcHostsFile: "/x", terminationMessageFile: nil)
        #expect(m.map(\.containerPath) == ["/etc/hosts"])
        #expect(m[0].hostPath == "/k/pods/u1/volumes/kubernetes.io~empty-dir/data/hosts")
        let none = try ContainerMounts.plan(
            Self.container([]), volumes: [:], etcHostsFile: nil, terminationMessageFile: nil)
        #expect(none.isEmpty)
    }

    @Test("subPath and subPathExpr (expanded from the environment) point inside the volume")
    func subPaths() throws {
        let c = Self.container([
            CoreV1.VolumeMount(name: "data", mountPath: "/a", subPath: "x/y"),
            CoreV1.VolumeMount(name: "data", mountPath: "/b", subPathExpr: "logs/$(POD)"),
        ])
        let m = try ContainerMounts.plan(
            c, volumes: Self.volumes, env: ["POD": "web-1"], etcHostsFile: nil, terminationMessageFile: nil)
        let root = "/k/pods/u1/volumes/kubernetes.io~empty-dir/data"
        #expect(m[0].subPath == PlannedMount.SubPath(volumeRoot: root, relative: "x/y"))
        #expect(m[1].hostPath == root + "/logs/web-1")
    }

    @Test("errors: an unknown volume, an absolute or escaping subPath")
    func errors() {
        #expect(throws: VolumeError("cannot find volume \"nope\" to mount into container \"app\"")) {
            try ContainerMounts.plan(
                Self.container([CoreV1.VolumeMount(name: "nope", mountPath: "/n")]), volumes: Self.volumes,
                etcHostsFile: nil, terminationMessageFile: nil)
        }
        #expect(throws: VolumeError("error SubPath `/etc` must not be an absolute path")) {
            try ContainerMounts.plan(
                Self.container([CoreV1.VolumeMount(name: "data", mountPath: "/n", subPath: "/etc")]),
                volumes: Self.volumes, etcHostsFile: nil, terminationMessageFile: nil)
        }
        #expect(throws: VolumeError("unable to provision SubPath `a/../../b`: must not contain '..'")) {
            try ContainerMounts.plan(
                Self.container([CoreV1.VolumeMount(name: "data", mountPath: "/n", subPath: "a/../../b")]),
                volumes: Self.volumes, etcHostsFile: nil, terminationMessageFile: nil)
        }
    }

    @Test("an empty terminationMessagePath means /dev/termination-log; a custom one is used as given")
    func terminationPath() throws {
        let custom = try ContainerMounts.plan(
            Self.container([], terminationPath: "/tmp/msg"), volumes: [:], etcHostsFile: nil,
            terminationMessageFile: "/f")
        #expect(custom.map(\.containerPath) == ["/tmp/msg"])
        let empty = try ContainerMounts.plan(
            Self.container([], terminationPath: ""), volumes: [:], etcHostsFile: nil, terminationMessageFile: "/f")
        #expect(empty.map(\.containerPath) == ["/dev/termination-log"])
    }

    @Test("on the host a missing subPath is created as a directory with the volume's mode; a symlink out is refused")
    func resolveOnHost() throws {
        let dir = try temporaryDirectory("sp")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let vol = dir + "/vol"
        try FileManager.default.createDirectory(atPath: vol, withIntermediateDirectories: true)
        chmod(vol, 0o777)
        let p = PlannedMount(
            containerPath: "/a", hostPath: vol + "/new/sub", readOnly: false, propagation: .propagationPrivate,
            subPath: PlannedMount.SubPath(volumeRoot: vol, relative: "new/sub"))
        let resolved = try VolumeManager.resolveSubPath(p)
        #expect(HostFileType.of(vol + "/new/sub") == .directory)
        #expect(mode(vol + "/new/sub") == 0o777)
        #expect(resolved.hostPath.hasSuffix("/vol/new/sub"))
        try FileManager.default.createSymbolicLink(atPath: vol + "/out", withDestinationPath: "/etc")
        var escaping = p
        escaping.subPath = PlannedMount.SubPath(volumeRoot: vol, relative: "out")
        #expect(throws: VolumeError.self) { try VolumeManager.resolveSubPath(escaping) }
    }
}

struct MessageCase: CustomTestStringConvertible, Sendable {
    let name: String
    var runtimeMessage = ""
    var policy = "File"
    var exitCode: Int32 = 0
    var reason = ""
    let file: TerminationMessage.FileRead
    let want: String
    var testDescription: String { name }
}

@Suite("Termination messages (file, log fallback, limits)")
struct TerminationMessageTests {
    static let cases: [MessageCase] = [
        MessageCase(name: "the file's content", file: .content(Array("done\n".utf8)), want: "done\n"),
        MessageCase(name: "no file, File policy: nothing", exitCode: 1, file: .absent, want: ""),
        MessageCase(
            name: "empty file, error exit, FallbackToLogsOnError: the log", policy: "FallbackToLogsOnError",
            exitCode: 2, file: .content([]), want: "LOG"),
        MessageCase(
            name: "empty file, exit 0, FallbackToLogsOnError: nothing", policy: "FallbackToLogsOnError", exitCode: 0,
            file: .content([]), want: ""),
        MessageCase(
            name: "a file beats the log", policy: "FallbackToLogsOnError", exitCode: 2, file: .content(Array("f".utf8)),
            want: "f"),
        MessageCase(
            name: "ContainerCannotRun never falls back to logs", policy: "FallbackToLogsOnError", exitCode: 128,
            reason: "ContainerCannotRun", file: .absent, want: ""),
        MessageCase(
            name: "the runtime's message comes first", runtimeMessage: "oom", file: .content(Array("bye".utf8)),
            want: "oom: bye"),
        MessageCase(
            name: "a read error is reported", file: .failed(path: "/p", error: "EIO"),
            want: "Error on reading termination log /p: EIO"),
    ]

    @Test(arguments: cases)
    func message(_ c: MessageCase) {
        let got = TerminationMessage.message(
            runtimeMessage: c.runtimeMessage, policy: c.policy, exitCode: c.exitCode, reason: c.reason, file: c.file,
            logTail: { "LOG" })
        #expect(got == c.want)
    }

    static func criLine(_ text: String, partial: Bool = false) -> String {
        "2026-01-02T03:04:05.000000000Z stdout \(partial ? "P" : "F") \(text)\n"
    }

    @Test("the log tail: CRI framing removed, partial lines joined, only the last 80 lines")
    func logTail() {
        var log = Self.criLine("first ", partial: true) + Self.criLine("second with  spaces")
        #expect(TerminationMessage.logTail(Array(log.utf8)) == "first second with  spaces\n")
        log = (1...100).map { Self.criLine("l\($0)") }.joined()
        let tail = TerminationMessage.logTail(Array(log.utf8))
        #expect(tail.hasPrefix("l21\n"))
        #expect(tail.hasSuffix("l100\n"))
        #expect(tail.split(separator: "\n").count == 80)
    }

    @Test("the log tail keeps its last 2048 bytes")
    func logBytes() {
        let long = String(repeating: "a", count: 3000) + "END"
        let tail = TerminationMessage.logTail(Array(Self.criLine(long).utf8))
        #expect(tail.utf8.count == 2048)
        #expect(tail.hasSuffix("END\n"))
    }

    @Test("a pod's messages share 12 KiB evenly over its containers")
    func podLimit() {
        var s = CoreV1.PodStatus()
        let big = String(repeating: "x", count: 5000)
        for n in ["a", "b", "c", "d"] {
            var st = CoreV1.ContainerStatus(name: n)
            st.state.terminated = CoreV1.ContainerStateTerminated(exitCode: 1, message: big)
            st.lastState.terminated = CoreV1.ContainerStateTerminated(exitCode: 1, message: "short")
            s.containerStatuses.append(st)
        }
        TerminationMessage.limit(&s, containers: 4)
        #expect(s.containerStatuses.allSatisfy { $0.state.terminated?.message.utf8.count == 3072 })
        #expect(s.containerStatuses.allSatisfy { $0.lastState.terminated?.message == "short" })
        var one = CoreV1.PodStatus()
        var st = CoreV1.ContainerStatus(name: "a")
        st.state.terminated = CoreV1.ContainerStateTerminated(exitCode: 1, message: big)
        one.containerStatuses = [st]
        TerminationMessage.limit(&one, containers: 1)
        #expect(one.containerStatuses[0].state.terminated?.message.utf8.count == 5000)
    }

    @Test("the status of an exited container gets the message from the file mounted at its path")
    func fillFromStatus() throws {
        let dir = try temporaryDirectory("tm")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/0000abcd"
        _ = FileManager.default.createFile(
            atPath: file, contents: Data((String(repeating: "z", count: 5000) + "tail").utf8))
        var s = Runtime_V1_ContainerStatus()
        s.state = .containerExited
        s.exitCode = 1
        s.annotations = [RuntimeLabels.terminationMessagePath: "/dev/termination-log"]
        var m = Runtime_V1_Mount()
        m.containerPath = "/dev/termination-log"
        m.hostPath = file
        s.mounts = [m]
        let filled = TerminationMessage.fill(s)
        #expect(filled.message.utf8.count == 4096)
        #expect(filled.message.hasSuffix("tail"))
        var running = s
        running.state = .containerRunning
        #expect(TerminationMessage.fill(running).message == "")
    }
}

@Suite("Pod volume layout and the mount table")
struct PodVolumeLayoutTests {
    @Test("volumes go to <root>/pods/<uid>/volumes/kubernetes.io~<plugin>/<name>; hostPath stays where it is")
    func layout() {
        let pod = K.pod(["a"]) { p in
            p.spec.volumes = [
                CoreV1.Volume(name: "e", volumeSource: CoreV1.VolumeSource(emptyDir: CoreV1.EmptyDirVolumeSource())),
                CoreV1.Volume(
                    name: "m",
                    volumeSource: CoreV1.VolumeSource(
                        emptyDir: CoreV1.EmptyDirVolumeSource(
                            medium: "Memory", sizeLimit: (try! Quantity(parsing: "1Mi"))))),
                CoreV1.Volume(
                    name: "h", volumeSource: CoreV1.VolumeSource(hostPath: CoreV1.HostPathVolumeSource(path: "/srv"))),
                CoreV1.Volume(
                    name: "c", volumeSource: CoreV1.VolumeSource(configMap: CoreV1.ConfigMapVolumeSource())),
                CoreV1.Volume(name: "s", volumeSource: CoreV1.VolumeSource(secret: CoreV1.SecretVolumeSource())),
                CoreV1.Volume(
                    name: "d", volumeSource: CoreV1.VolumeSource(downwardAPI: CoreV1.DownwardAPIVolumeSource())),
                CoreV1.Volume(
                    name: "p", volumeSource: CoreV1.VolumeSource(projected: CoreV1.ProjectedVolumeSource())),
            ]
        }
        let plan = PodVolumePlan.plan(pod, dir: PodDirectory(root: "/var/lib/kubelet", uid: "u1"))
        let base = "/var/lib/kubelet/pods/u1/volumes/kubernetes.io~"
        #expect(
            plan.map(\.dir) == [
                base + "empty-dir/e", base + "empty-dir/m", "", base + "configmap/c", base + "secret/s",
                base + "downward-api/d", base + "projected/p",
            ])
        #expect(plan[1].kind == .emptyDir(memory: true, sizeLimitBytes: 1_048_576))
        #expect(plan.map(\.memoryBacked) == [false, true, false, false, true, true, true])
        #expect(plan.map(\.refreshes) == [false, false, false, true, true, true, true])
        #expect(PodVolumePlan.hasRefreshingVolumes(pod))
        #expect(!PodVolumePlan.hasRefreshingVolumes(K.pod(["a"])))
    }

    @Test("pod directories are told apart from log directories sharing <root>/pods")
    func podUIDs() {
        #expect(PodDirectory.isPodUID("0b1e5d0c-8a3f-4c1e-9b2a-3f5e6d7c8b9a"))
        #expect(!PodDirectory.isPodUID("default_web_0b1e5d0c-8a3f-4c1e-9b2a-3f5e6d7c8b9a"))
        #expect(!PodDirectory.isPodUID(".hidden"))
    }

    @Test("mountinfo: mount points decoded, those under a directory listed deepest and latest first")
    func mountTable() {
        let info = """
            22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw
            40 22 0:50 / /k/pods/u1/volumes/kubernetes.io~empty-dir/m rw - tmpfs tmpfs rw,size=1024k
            41 22 0:51 / /k/pods/u1/volumes/kubernetes.io~secret/s rw - tmpfs tmpfs rw
            42 40 8:1 /srv /k/pods/u1/volumes/kubernetes.io~empty-dir/m/inner rw shared:1 - ext4 /dev/sda1 rw
            43 22 0:52 / /k/pods/u10/x rw - tmpfs tmpfs rw
            44 22 0:53 / /k/pods/u1/with\\040space rw - tmpfs tmpfs rw
            """
        let table = MountTable.parse(info)
        #expect(table[1] == MountEntry("/k/pods/u1/volumes/kubernetes.io~empty-dir/m", "tmpfs"))
        #expect(table[3].fsType == "ext4")
        #expect(table[5].mountPoint == "/k/pods/u1/with space")
        #expect(
            MountTable.mounts(under: "/k/pods/u1", in: table) == [
                "/k/pods/u1/volumes/kubernetes.io~empty-dir/m/inner", "/k/pods/u1/volumes/kubernetes.io~secret/s",
                "/k/pods/u1/volumes/kubernetes.io~empty-dir/m", "/k/pods/u1/with space",
            ])
    }
}
