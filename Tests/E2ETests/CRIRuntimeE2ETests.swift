import CRI
import Foundation
import Kubelet
import Testing

/// A real containerd (Debian's, with runc and the CNI plugins) started for one test in a directory of
/// its own, with the project's pause and busybox images imported; everything it made is removed after.
final class ContainerdFixture: @unchecked Sendable {
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    let dir: String
    let process: ContainerdProcess
    let runtime: CRIRuntime
    let bridge: String
    let images: [String: String]

    /// Why this machine cannot run it, or nil.
    static var missing: String? {
        if let m = ContainerdProcess.available() { return m }
        if !FileManager.default.isExecutableFile(atPath: "/usr/bin/ctr") { return "ctr is missing" }
        return nil
    }

    init(subnet: String, bridge: String) async throws {
        images = try Self.nodeImages()
        dir = "/tmp/k8swift-ctd-" + String(UUID().uuidString.prefix(8))
        self.bridge = bridge
        let config = ContainerdConfig(dir: dir, sandboxImage: images["PAUSE_IMAGE"]!)
        var cni = CNIConfig(podCIDR: subnet, ipamDataDir: dir + "/cni/ipam")
        cni.bridge = bridge
        try cni.write(into: config.cniConfDir)
        process = ContainerdProcess(config: config, logPath: dir + "/containerd.log")
        do {
            try await process.start()
            // The archives name their images (the ref.name annotation): `--index-name` with the same
            // name would make a second record that races containerd's GC.
            for tar in [images["PAUSE_TAR"]!, images["BUSYBOX_TAR"]!] {
                try Self.run("/usr/bin/ctr", ["-a", config.socket, "-n", "k8s.io", "images", "import", tar])
            }
            runtime = try CRIRuntime(endpoint: "unix://" + config.socket, timeout: .seconds(60))
        } catch {
            Self.cleanHost(process: process, dir: dir, bridge: bridge)
            throw error
        }
    }

    static func cleanHost(process: ContainerdProcess, dir: String, bridge: String) {
        process.stop()
        Cgroups.remove("/k8swift-test")
        ContainerdProcess.removeLeftovers()
        try? run("/sbin/ip", ["link", "del", bridge])
        try? FileManager.default.removeItem(atPath: dir)
    }

    /// Stops everything and removes what containerd and the CNI plugins left on the host.
    func tearDown() async {
        if let pods = try? await runtime.listPodSandbox() {
            for p in pods {
                try? await runtime.stopPodSandbox(p.id)
                try? await runtime.removePodSandbox(p.id)
            }
        }
        runtime.close()
        Self.cleanHost(process: process, dir: dir, bridge: bridge)
    }

    static func nodeImages() throws -> [String: String] {
        let out = try run(repoRoot + "/hack/node-images.sh", [])
        var env: [String: String] = [:]
        for line in out.split(separator: "\n") {
            guard let eq = line.firstIndex(of: "=") else { continue }
            env[String(line[..<eq])] = String(line[line.index(after: eq)...])
        }
        return env
    }

    @discardableResult
    static func run(_ bin: String, _ args: [String]) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: bin)
        p.arguments = args
        let out = Pipe()
        let err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw ContainerdError(
                "\(bin) \(args.joined(separator: " ")) exited \(p.terminationStatus): "
                    + (String(data: errData, encoding: .utf8) ?? ""))
        }
        return String(data: data, encoding: .utf8) ?? ""
    }
}

/// CRI straight against a real containerd of the test's own. Part of the node suite, so it runs after
/// the node test and never beside it (two containerds starting in the same moment of a loaded CI run
/// were seen to leave this one stuck after its CRI plugin started).
extension NodeE2ETests {
    func sandboxConfig(_ name: String, uid: String, logDir: String) -> Runtime_V1_PodSandboxConfig {
        var c = Runtime_V1_PodSandboxConfig()
        c.metadata.name = name
        c.metadata.namespace = "default"
        c.metadata.uid = uid
        c.hostname = name
        c.logDirectory = logDir
        c.labels = [RuntimeLabels.podName: name, RuntimeLabels.podNamespace: "default", RuntimeLabels.podUID: uid]
        c.linux.cgroupParent = "/k8swift-test/pod" + uid
        return c
    }

    func containerConfig(_ name: String, image: String, uid: String, command: [String]) -> Runtime_V1_ContainerConfig {
        var c = Runtime_V1_ContainerConfig()
        c.metadata.name = name
        c.image.image = image
        c.command = command
        c.logPath = name + "/0.log"
        c.labels = [RuntimeLabels.containerName: name, RuntimeLabels.podUID: uid, RuntimeLabels.podName: "p1"]
        c.annotations = [RuntimeLabels.restartCount: "0", RuntimeLabels.containerHash: "2a"]
        return c
    }

    @Test("a pod through CRI: sandbox with a CNI address, a container's exit code and log, exec, listing as pods")
    func criLifecycle() async throws {
        if let why = ContainerdFixture.missing {
            print("skipped: needs root, containerd, runc and the CNI plugins: \(why)")
            return
        }
        let f = try await ContainerdFixture(subnet: "10.88.61.0/24", bridge: "k8swt61")
        do {
            let rt = f.runtime
            let v = try await rt.version()
            #expect(v.runtimeName == "containerd")
            #expect(v.runtimeApiVersion == "v1")
            let st = try await rt.status()
            #expect(st.status.conditions.contains { $0.type == "RuntimeReady" && $0.status })

            let logDir = f.dir + "/pods/p1"
            try FileManager.default.createDirectory(atPath: logDir, withIntermediateDirectories: true)
            let sbConfig = sandboxConfig("p1", uid: "uid-1", logDir: logDir)
            let sb = try await rt.runPodSandbox(sbConfig, runtimeHandler: "")
            let sbStatus = try await rt.podSandboxStatus(sb)
            #expect(sbStatus.state == .sandboxReady)
            #expect(sbStatus.network.ip.hasPrefix("10.88.61."), "the bridge plugin gave it an address from the range")

            let busybox = f.images["BUSYBOX_IMAGE"]!
            #expect(try await rt.imageStatus(.with { $0.image = busybox }) != nil)
            #expect(try await rt.imageStatus(.with { $0.image = "k8swift.local/nothing:1" }) == nil)

            let once = try await rt.createContainer(
                sandboxID: sb,
                config: containerConfig(
                    "once", image: busybox, uid: "uid-1", command: ["sh", "-c", "echo hello; exit 3"]),
                sandboxConfig: sbConfig)
            try await rt.startContainer(once)
            var status = try await rt.containerStatus(once)
            for _ in 0..<100 where status.state != .containerExited {
                try await Task.sleep(for: .milliseconds(50))
                status = try await rt.containerStatus(once)
            }
            #expect(status.state == .containerExited)
            #expect(status.exitCode == 3)
            #expect(status.reason == "Error")
            let log = try String(contentsOfFile: logDir + "/once/0.log", encoding: .utf8)
            #expect(log.contains(" stdout F hello"), "CRI log format: <time> <stream> <tag> <line>: \(log)")

            let long = try await rt.createContainer(
                sandboxID: sb,
                config: containerConfig("long", image: busybox, uid: "uid-1", command: ["sleep", "3600"]),
                sandboxConfig: sbConfig)
            try await rt.startContainer(long)
            let exec = try await rt.execSync(
                long, command: ["sh", "-c", "echo out; echo err >&2; exit 4"], timeout: 10)
            #expect(String(decoding: exec.stdout, as: UTF8.self) == "out\n")
            #expect(String(decoding: exec.stderr, as: UTF8.self) == "err\n")
            #expect(exec.exitCode == 4)

            let sandboxes = try await rt.listPodSandbox()
            var statuses: [Runtime_V1_ContainerStatus] = []
            for c in try await rt.listContainers() { statuses.append(try await rt.containerStatus(c.id)) }
            let pods = RuntimePod.group(
                sandboxes: sandboxes, sandboxIPs: [sb: [sbStatus.network.ip]], containers: statuses)
            let pod = try #require(pods["uid-1"])
            #expect(pod.sandboxes.map(\.id) == [sb])
            #expect(pod.container(named: "long")?.state == .running)
            #expect(pod.container(named: "once")?.exitCode == 3)
            #expect(pod.container(named: "once")?.specHash == 0x2a)

            try await rt.stopContainer(long, timeout: 1)
            #expect(try await rt.containerStatus(long).state == .containerExited)
            try await rt.removeContainer(long)
            try await rt.removeContainer(once)
            try await rt.stopPodSandbox(sb)
            try await rt.removePodSandbox(sb)
            #expect(try await rt.listPodSandbox().isEmpty)
        } catch {
            await f.tearDown()
            throw error
        }
        await f.tearDown()
    }
}
