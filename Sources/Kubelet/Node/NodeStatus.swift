import APICore
import APIMachinery
import CRI
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

// MARK: - machine

/// What the kubelet knows of its machine (upstream reads it through cAdvisor once at start): sizes,
/// identities, versions and the addresses it reports.
public struct MachineInfo: Sendable, Equatable {
    /// A size of huge pages and how many the kernel holds of it.
    public struct HugePages: Sendable, Equatable {
        public var pageSizeKiB: Int64
        public var pages: Int64

        public init(pageSizeKiB: Int64, pages: Int64) {
            self.pageSizeKiB = pageSizeKiB
            self.pages = pages
        }
    }

    public var cpus: Int
    public var memoryBytes: Int64
    /// The size of the filesystem holding the kubelet's root directory.
    public var ephemeralStorageBytes: Int64
    /// `/proc/sys/kernel/pid_max`.
    public var maxPIDs: Int64
    /// Lower-cased, as upstream's kubelet normalises its host name.
    public var hostname: String
    public var machineID: String
    public var systemUUID: String
    public var bootID: String
    public var kernelVersion: String
    public var osImage: String
    /// Go's name of the architecture (`amd64`, `arm64`).
    public var architecture: String
    /// The node's IPs, primary first.
    public var hostIPs: [String]
    public var swapBytes: Int64
    public var hugePages: [HugePages]

    public init(
        cpus: Int = 1, memoryBytes: Int64 = 0, ephemeralStorageBytes: Int64 = 0, maxPIDs: Int64 = 32768,
        hostname: String = "localhost", machineID: String = "", systemUUID: String = "", bootID: String = "",
        kernelVersion: String = "", osImage: String = "Linux", architecture: String = MachineInfo.goArchitecture,
        hostIPs: [String] = ["127.0.0.1"], swapBytes: Int64 = 0, hugePages: [HugePages] = []
    ) {
        self.cpus = cpus
        self.memoryBytes = memoryBytes
        self.ephemeralStorageBytes = ephemeralStorageBytes
        self.maxPIDs = maxPIDs
        self.hostname = hostname
        self.machineID = machineID
        self.systemUUID = systemUUID
        self.bootID = bootID
        self.kernelVersion = kernelVersion
        self.osImage = osImage
        self.architecture = architecture
        self.hostIPs = hostIPs
        self.swapBytes = swapBytes
        self.hugePages = hugePages
    }

    /// The architecture this binary was built for, named as Go names it.
    public static var goArchitecture: String {
        #if arch(x86_64)
            return "amd64"
        #elseif arch(arm64)
            return "arm64"
        #elseif arch(arm)
            return "arm"
        #elseif arch(i386)
            return "386"
        #elseif arch(s390x)
            return "s390x"
        #elseif arch(powerpc64le)
            return "ppc64le"
        #else
            return "unknown"
        #endif
    }

    /// Reads this machine; `rootDir` is the kubelet's root directory (or the nearest existing parent).
    public static func read(rootDir: String) -> MachineInfo {
        let meminfo = Self.meminfo()
        let machineID = firstLine("/etc/machine-id") ?? firstLine("/var/lib/dbus/machine-id") ?? ""
        let uuid = firstLine("/sys/class/dmi/id/product_uuid") ?? ""
        return MachineInfo(
            cpus: max(1, ProcessInfo.processInfo.activeProcessorCount),
            memoryBytes: (meminfo["MemTotal"] ?? 0) * 1024,
            ephemeralStorageBytes: filesystemSize(rootDir),
            maxPIDs: firstLine("/proc/sys/kernel/pid_max").flatMap { Int64($0) } ?? 32768,
            hostname: hostName(),
            machineID: machineID,
            systemUUID: uuid.isEmpty ? machineID : uuid,
            bootID: firstLine("/proc/sys/kernel/random/boot_id") ?? "",
            kernelVersion: kernelRelease(),
            osImage: prettyName(contentsOf("/etc/os-release") ?? ""),
            hostIPs: defaultRouteIPv4().map { [$0] } ?? ["127.0.0.1"],
            swapBytes: (meminfo["SwapTotal"] ?? 0) * 1024,
            hugePages: hugePageSizes())
    }

    static func contentsOf(_ path: String) -> String? { ProcFile.read(path) }

    static func firstLine(_ path: String) -> String? {
        guard let s = contentsOf(path) else { return nil }
        let line = s.split(separator: "\n", omittingEmptySubsequences: true).first.map(String.init) ?? ""
        let t = line.trimmingCharacters(in: .whitespaces)
        return t.isEmpty ? nil : t
    }

    /// `/proc/meminfo` in KiB by key.
    static func meminfo() -> [String: Int64] {
        var out: [String: Int64] = [:]
        for line in (contentsOf("/proc/meminfo") ?? "").split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2 else { continue }
            let value = parts[1].split(separator: " ").first.flatMap { Int64($0) }
            if let value { out[String(parts[0])] = value }
        }
        return out
    }

    /// `PRETTY_NAME` of an os-release file, unquoted; "Linux" without one (as cAdvisor reports).
    static func prettyName(_ osRelease: String) -> String {
        for line in osRelease.split(separator: "\n") where line.hasPrefix("PRETTY_NAME=") {
            var v = String(line.dropFirst("PRETTY_NAME=".count)).trimmingCharacters(in: .whitespaces)
            if v.count >= 2, let f = v.first, f == "\"" || f == "'", v.last == f {
                v = String(v.dropFirst().dropLast())
            }
            if !v.isEmpty { return v }
        }
        return "Linux"
    }

    static func hostName() -> String {
        var buf = [CChar](repeating: 0, count: 256)
        guard gethostname(&buf, buf.count) == 0 else { return "localhost" }
        let name = String(cString: buf).trimmingCharacters(in: .whitespaces).lowercased()
        return name.isEmpty ? "localhost" : name
    }

    static func kernelRelease() -> String {
        var u = utsname()
        guard uname(&u) == 0 else { return "" }
        return withUnsafeBytes(of: &u.release) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    /// Total bytes of the filesystem holding `path` (blocks × fragment size).
    static func filesystemSize(_ path: String) -> Int64 {
        var p = path.isEmpty ? "/" : path
        while !FileManager.default.fileExists(atPath: p), p != "/" {
            p = (p as NSString).deletingLastPathComponent
            if p.isEmpty { p = "/" }
        }
        var s = statvfs()
        guard statvfs(p, &s) == 0 else { return 0 }
        return Int64(s.f_blocks) * Int64(s.f_frsize)
    }

    /// The huge page sizes the kernel offers (`/sys/kernel/mm/hugepages/hugepages-<n>kB`).
    static func hugePageSizes() -> [HugePages] {
        let dir = "/sys/kernel/mm/hugepages"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        return names.compactMap { name -> HugePages? in
            guard name.hasPrefix("hugepages-"), name.hasSuffix("kB"),
                let kib = Int64(name.dropFirst("hugepages-".count).dropLast(2))
            else { return nil }
            let pages = firstLine(dir + "/" + name + "/nr_hugepages").flatMap { Int64($0) } ?? 0
            return HugePages(pageSizeKiB: kib, pages: pages)
        }.sorted { $0.pageSizeKiB < $1.pageSizeKiB }
    }

    /// The IPv4 address of the interface the default route leaves through.
    static func defaultRouteIPv4() -> String? {
        var iface: String?
        for line in (contentsOf("/proc/net/route") ?? "").split(separator: "\n").dropFirst() {
            let f = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            if f.count > 1, f[1] == "00000000" {
                iface = String(f[0])
                break
            }
        }
        guard let iface else { return nil }
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let first = list else { return nil }
        defer { freeifaddrs(list) }
        var cursor: UnsafeMutablePointer<ifaddrs>? = first
        while let c = cursor {
            defer { cursor = c.pointee.ifa_next }
            guard let addr = c.pointee.ifa_addr, Int32(addr.pointee.sa_family) == AF_INET,
                String(cString: c.pointee.ifa_name) == iface
            else { continue }
            var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
            let len = socklen_t(MemoryLayout<sockaddr_in>.size)
            if getnameinfo(addr, len, &host, socklen_t(host.count), nil, 0, NI_NUMERICHOST) == 0 {
                return String(cString: host)
            }
        }
        return nil
    }
}

// MARK: - configuration

/// A hard eviction threshold (`--eviction-hard signal<value`): an absolute quantity or a share of
/// the signal's capacity.
public struct EvictionThreshold: Sendable, Equatable {
    public enum Value: Sendable, Equatable {
        case quantity(Quantity)
        /// A fraction (0.1 for `10%`), single precision as upstream keeps it.
        case percentage(Float)
    }

    public var signal: String
    public var value: Value

    public init(signal: String, value: Value) {
        self.signal = signal
        self.value = value
    }

    /// The kubelet's Linux default of `evictionHard`.
    public static let defaultHard: [String: String] = [
        "memory.available": "100Mi", "nodefs.available": "10%", "imagefs.available": "15%",
        "nodefs.inodesFree": "5%", "imagefs.inodesFree": "5%",
    ]

    public static let signals: Set<String> = [
        "memory.available", "nodefs.available", "nodefs.inodesFree", "imagefs.available", "imagefs.inodesFree",
        "containerfs.available", "containerfs.inodesFree", "pid.available",
    ]

    /// The defaults, parsed.
    public static var defaults: [EvictionThreshold] { (try? parse(defaultHard)) ?? [] }

    public struct ParseError: Error, CustomStringConvertible, Equatable {
        public var description: String
    }

    /// Parses `signal → value` (`100Mi`, `10%`) as upstream does: `0%` and `100%` are dropped, other
    /// percentages must lie within 0–100, quantities must be positive. Sorted by signal.
    public static func parse(_ settings: [String: String]) throws(ParseError) -> [EvictionThreshold] {
        var out: [EvictionThreshold] = []
        for (signal, raw) in settings.sorted(by: { $0.key < $1.key }) {
            guard signals.contains(signal) else {
                throw ParseError(description: "unsupported eviction signal \(signal)")
            }
            if raw.hasSuffix("%") {
                if raw == "0%" || raw == "100%" { continue }
                guard let n = Float(raw.dropLast()) else {
                    throw ParseError(description: "invalid eviction percentage for \(signal): \(raw)")
                }
                let fraction = n / 100
                guard fraction >= 0, fraction <= 1 else {
                    throw ParseError(
                        description: "eviction percentage for \(signal) must lie within 0% and 100%: \(raw)")
                }
                out.append(EvictionThreshold(signal: signal, value: .percentage(fraction)))
            } else {
                let q: Quantity
                do { q = try Quantity(parsing: raw) } catch {
                    throw ParseError(description: "invalid eviction threshold for \(signal): \(raw): \(error)")
                }
                guard q.sign > 0 else {
                    throw ParseError(description: "eviction threshold \(signal) must be positive: \(raw)")
                }
                out.append(EvictionThreshold(signal: signal, value: .quantity(q)))
            }
        }
        return out
    }

    /// The amount the threshold stands for against `capacity`: the quantity itself, or the share of
    /// capacity computed in double precision from the single-precision fraction and truncated.
    public func amount(of capacity: Quantity) -> Quantity {
        switch value {
        case .quantity(let q): return q
        case .percentage(let p):
            return Quantity(Int64(Double(capacity.value) * Double(p)), format: .binarySI)
        }
    }
}

/// The kubelet's settings that shape its Node object.
public struct NodeConfig: Sendable {
    public var nodeName: String
    /// Extra labels (`--node-labels`); they win over the kubelet's own.
    public var labels: [String: String] = [:]
    /// Taints set when the node registers (`--register-with-taints`).
    public var registerWithTaints: [CoreV1.Taint] = []
    public var kubeReserved: [String: Quantity] = [:]
    public var systemReserved: [String: Quantity] = [:]
    public var evictionHard: [EvictionThreshold] = EvictionThreshold.defaults
    public var maxPods = 110
    /// `--pod-cidr`; normally the controller manager allocates `spec.podCIDR`.
    public var podCIDR: String?
    public var providerID: String?
    /// e.g. `v1.36.2-k8swift`.
    public var kubeletVersion: String
    /// `<runtime name>://<version>`, e.g. `containerd://1.6.20~ds1`.
    public var containerRuntimeVersion: String
    public var kubeletPort: Int32 = 10250
    /// Sets the attach-detach controller annotation, as upstream's default.
    public var enableControllerAttachDetach = true
    public var nodeStatusMaxImages = 50
    public var nodeStatusUpdateFrequency: Swift.Duration = .seconds(10)
    public var nodeStatusReportFrequency: Swift.Duration = .seconds(300)
    public var nodeLeaseDurationSeconds: Int32 = 40

    public init(nodeName: String, kubeletVersion: String, containerRuntimeVersion: String) {
        self.nodeName = nodeName
        self.kubeletVersion = kubeletVersion
        self.containerRuntimeVersion = containerRuntimeVersion
    }

    /// How often the lease is renewed: a quarter of its duration.
    public var nodeLeaseRenewInterval: Swift.Duration { .seconds(Double(nodeLeaseDurationSeconds) * 0.25) }
}

// MARK: - runtime health

/// The runtime's health as the Ready condition reads it: upstream's runtime and network errors, in
/// order. Empty lists mean ready.
public struct RuntimeHealth: Sendable, Equatable {
    public var runtimeErrors: [String]
    public var networkErrors: [String]

    public init(runtimeErrors: [String] = [], networkErrors: [String] = []) {
        self.runtimeErrors = runtimeErrors
        self.networkErrors = networkErrors
    }

    public static let ready = RuntimeHealth()
    public var isReady: Bool { runtimeErrors.isEmpty && networkErrors.isEmpty }
}

/// Upstream's runtime state: what the last CRI `Status` answers said, and when the runtime was last
/// seen ready. A failed `Status` call changes nothing, so the runtime turns "down" once the last ready
/// answer is older than `syncThreshold`.
public struct RuntimeState: Sendable, Equatable {
    /// How long a ready answer counts (upstream's wait for the container runtime).
    public static let syncThreshold: Swift.Duration = .seconds(30)
    public static let networkUnknown = "network state unknown"

    public private(set) var lastSync: Time?
    public private(set) var runtimeError: String?
    public private(set) var networkError: String? = RuntimeState.networkUnknown

    public init() {}

    /// `Type=bool reason:… message:…`, or `<nil>` for a condition the runtime did not report.
    public static func describe(_ c: Runtime_V1_RuntimeCondition?) -> String {
        guard let c else { return "<nil>" }
        return "\(c.type)=\(c.status) reason:\(c.reason) message:\(c.message)"
    }

    /// Takes in one successful `Status` answer read at `now`.
    public mutating func record(_ status: Runtime_V1_RuntimeStatus, now: Time) {
        let network = status.conditions.first { $0.type == "NetworkReady" }
        if let network, network.status {
            networkError = nil
        } else {
            networkError = "container runtime network not ready: \(Self.describe(network))"
        }
        let runtime = status.conditions.first { $0.type == "RuntimeReady" }
        guard let runtime, runtime.status else {
            runtimeError = "container runtime not ready: \(Self.describe(runtime))"
            return
        }
        runtimeError = nil
        lastSync = now
    }

    /// The health at `now`.
    public func health(now: Time) -> RuntimeHealth {
        var runtime: [String] = []
        if let lastSync {
            if !(NodeStatusBuilder.elapsed(from: lastSync, to: now) < Self.syncThreshold) {
                runtime.append("container runtime is down")
            }
        } else {
            runtime.append("container runtime status check may not have completed yet")
        }
        if let runtimeError { runtime.append(runtimeError) }
        return RuntimeHealth(runtimeErrors: runtime, networkErrors: networkError.map { [$0] } ?? [])
    }
}

/// Node pressure as the eviction manager sees it.
public struct Pressure: Sendable, Equatable {
    public var memory: Bool
    public var disk: Bool
    public var pid: Bool

    public init(memory: Bool = false, disk: Bool = false, pid: Bool = false) {
        self.memory = memory
        self.disk = disk
        self.pid = pid
    }
}

/// What registration changes on a Node that already exists.
public struct RegistrationReconcile: Sendable, Equatable {
    public var node: CoreV1.Node
    /// Labels or annotations changed (written through the main resource).
    public var metadataChanged: Bool
    /// Capacity or allocatable changed (written through `nodes/status`).
    public var statusChanged: Bool
}

// MARK: - builder

/// Builds the kubelet's Node: the object it registers and the status it reports, as upstream's node
/// status setters do, without I/O.
public enum NodeStatusBuilder {
    public static let labelHostname = "kubernetes.io/hostname"
    public static let labelOS = "kubernetes.io/os"
    public static let labelArch = "kubernetes.io/arch"
    public static let labelBetaOS = "beta.kubernetes.io/os"
    public static let labelBetaArch = "beta.kubernetes.io/arch"
    public static let annotationControllerAttachDetach = "volumes.kubernetes.io/controller-managed-attach-detach"
    public static let operatingSystem = "linux"
    /// Names reported per image.
    public static let maxNamesPerImage = 5

    /// Labels the kubelet keeps in line with itself when it finds its Node already registered.
    static let defaultLabels = [
        labelHostname, "topology.kubernetes.io/zone", "topology.kubernetes.io/region",
        "failure-domain.beta.kubernetes.io/zone", "failure-domain.beta.kubernetes.io/region",
        "node.kubernetes.io/instance-type", "beta.kubernetes.io/instance-type", labelOS, labelArch,
        "node.kubernetes.io/windows-build", labelBetaOS, labelBetaArch,
    ]

    /// The Node the kubelet registers: its labels, annotations, taints and a full status.
    public static func initialNode(
        config: NodeConfig, machine: MachineInfo, runtime: RuntimeHealth = RuntimeState().health(now: Time()),
        images: [CoreV1.ContainerImage] = [], pressure: Pressure = Pressure(), now: Time
    ) -> CoreV1.Node {
        var node = CoreV1.Node()
        node.kind = "Node"
        node.apiVersion = "v1"
        node.metadata.name = config.nodeName
        node.metadata.labels = [
            labelHostname: machine.hostname, labelOS: operatingSystem, labelArch: machine.architecture,
            labelBetaOS: operatingSystem, labelBetaArch: machine.architecture,
        ]
        if config.enableControllerAttachDetach { node.metadata.annotations[annotationControllerAttachDetach] = "true" }
        for (k, v) in config.labels { node.metadata.labels[k] = v }
        node.spec.taints = config.registerWithTaints
        if let cidr = config.podCIDR, !cidr.isEmpty {
            // One CIDR, or a dual-stack pair joined by a comma; podCIDR mirrors the first.
            node.spec.podCIDRs = cidr.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            node.spec.podCIDR = node.spec.podCIDRs.first ?? cidr
        }
        if let id = config.providerID, !id.isEmpty { node.spec.providerID = id }
        node.status = status(
            config: config, machine: machine, previous: CoreV1.NodeStatus(), runtime: runtime, images: images,
            pressure: pressure, now: now)
        return node
    }

    /// The status to report, starting from the stored one: addresses, capacity and allocatable, node
    /// info, endpoints, images and the four conditions (heartbeats at `now`, transitions kept unless the
    /// condition's status changed).
    public static func status(
        config: NodeConfig, machine: MachineInfo, previous: CoreV1.NodeStatus, runtime: RuntimeHealth,
        images: [CoreV1.ContainerImage], pressure: Pressure, now rawNow: Time
    ) -> CoreV1.NodeStatus {
        // Time travels with second precision: keep conditions comparable with what was read back.
        let now = Time(seconds: rawNow.seconds)
        var s = previous

        s.addresses =
            machine.hostIPs.map { CoreV1.NodeAddress(type: "InternalIP", address: $0) }
            + [CoreV1.NodeAddress(type: "Hostname", address: machine.hostname)]

        // Capacity: ours overwritten, other entries (extended resources) kept.
        let own = capacity(config: config, machine: machine)
        for (k, v) in own { s.capacity[k] = v }
        s.allocatable = allocatable(
            capacity: s.capacity, previous: s.allocatable, reservation: reservation(config: config, capacity: own))

        s.nodeInfo.machineID = machine.machineID
        s.nodeInfo.systemUUID = machine.systemUUID
        s.nodeInfo.bootID = machine.bootID
        s.nodeInfo.kernelVersion = machine.kernelVersion
        s.nodeInfo.osImage = machine.osImage
        s.nodeInfo.containerRuntimeVersion = config.containerRuntimeVersion
        s.nodeInfo.kubeletVersion = config.kubeletVersion
        // The kubelet no longer claims kube-proxy's version (cleared since 1.33's default).
        s.nodeInfo.kubeProxyVersion = ""
        s.nodeInfo.operatingSystem = operatingSystem
        s.nodeInfo.architecture = machine.architecture
        s.nodeInfo.swap = CoreV1.NodeSwapStatus(capacity: machine.swapBytes)

        s.daemonEndpoints.kubeletEndpoint.Port = config.kubeletPort
        s.images = images

        setPressureCondition(
            &s.conditions, type: "MemoryPressure", pressure: pressure.memory,
            onTrue: ("KubeletHasInsufficientMemory", "kubelet has insufficient memory available"),
            onFalse: ("KubeletHasSufficientMemory", "kubelet has sufficient memory available"), now: now)
        setPressureCondition(
            &s.conditions, type: "DiskPressure", pressure: pressure.disk,
            onTrue: ("KubeletHasDiskPressure", "kubelet has disk pressure"),
            onFalse: ("KubeletHasNoDiskPressure", "kubelet has no disk pressure"), now: now)
        setPressureCondition(
            &s.conditions, type: "PIDPressure", pressure: pressure.pid,
            onTrue: ("KubeletHasInsufficientPID", "kubelet has insufficient PID available"),
            onFalse: ("KubeletHasSufficientPID", "kubelet has sufficient PID available"), now: now)
        setReadyCondition(&s, runtime: runtime, now: now)
        return s
    }

    /// The kubelet's own capacity entries: cpu, memory, pods, ephemeral-storage and each huge page size.
    public static func capacity(config: NodeConfig, machine: MachineInfo) -> [String: Quantity] {
        var c: [String: Quantity] = [
            "cpu": Quantity(Int64(machine.cpus) * 1000, scale: -3),
            "memory": Quantity(machine.memoryBytes, format: .binarySI),
            "pods": Quantity(Int64(config.maxPods)),
            "ephemeral-storage": Quantity(machine.ephemeralStorageBytes, format: .binarySI),
        ]
        for h in machine.hugePages {
            let size = Quantity(h.pageSizeKiB * 1024, format: .binarySI)
            c["hugepages-" + size.string] = Quantity(h.pageSizeKiB * 1024 * h.pages, format: .binarySI)
        }
        return c
    }

    /// What node allocatable holds back per resource: system-reserved + kube-reserved + the hard
    /// eviction thresholds of `memory.available` (memory) and `nodefs.available` (ephemeral-storage).
    /// Only the container manager's resources (not `pods`) are reserved; zero entries are left out.
    public static func reservation(config: NodeConfig, capacity: [String: Quantity]) -> [String: Quantity] {
        var eviction: [String: Quantity] = [:]
        for t in config.evictionHard {
            switch t.signal {
            case "memory.available": eviction["memory"] = t.amount(of: capacity["memory"] ?? Quantity())
            case "nodefs.available":
                eviction["ephemeral-storage"] = t.amount(of: capacity["ephemeral-storage"] ?? Quantity())
            default: break
            }
        }
        var out: [String: Quantity] = [:]
        for k in capacity.keys where k != "pods" {
            var v = Quantity()
            if let q = config.systemReserved[k] { v += q }
            if let q = config.kubeReserved[k] { v += q }
            if let q = eviction[k] { v += q }
            if !v.isZero { out[k] = v }
        }
        return out
    }

    /// Capacity minus reservation, never below zero; memory further reduced by huge page capacity.
    /// Extended resources no longer in capacity leave allocatable.
    static func allocatable(
        capacity: [String: Quantity], previous: [String: Quantity], reservation: [String: Quantity]
    ) -> [String: Quantity] {
        var a = previous.filter { k, _ in capacity[k] != nil || !isExtendedResource(k) }
        for (k, v) in capacity {
            var value = v
            if let r = reservation[k] { value -= r }
            if value.sign < 0 { value = Quantity(0, format: v.format) }
            a[k] = value
        }
        for (k, v) in capacity where k.hasPrefix("hugepages-") {
            var memory = a["memory"] ?? Quantity()
            memory -= v
            if memory.sign < 0 { memory = Quantity(0, format: memory.format) }
            a["memory"] = memory
        }
        return a
    }

    /// Not a native resource (`cpu`, `kubernetes.io/…`) nor a quota's `requests.` form.
    static func isExtendedResource(_ name: String) -> Bool {
        guard name.contains("/") else { return false }
        if name.contains("kubernetes.io/") { return false }
        return !name.hasPrefix("requests.")
    }

    static func setPressureCondition(
        _ conditions: inout [CoreV1.NodeCondition], type: String, pressure: Bool,
        onTrue: (reason: String, message: String), onFalse: (reason: String, message: String), now: Time
    ) {
        let i: Int
        if let found = conditions.firstIndex(where: { $0.type == type }) {
            i = found
        } else {
            conditions.append(CoreV1.NodeCondition(type: type, status: "Unknown"))
            i = conditions.count - 1
        }
        conditions[i].lastHeartbeatTime = now
        let (status, text) = pressure ? ("True", onTrue) : ("False", onFalse)
        // Reason and message change only with the status, as upstream writes them on transition.
        if conditions[i].status != status {
            conditions[i].status = status
            conditions[i].reason = text.reason
            conditions[i].message = text.message
            conditions[i].lastTransitionTime = now
        }
    }

    static func setReadyCondition(_ s: inout CoreV1.NodeStatus, runtime: RuntimeHealth, now: Time) {
        var errors = runtime.runtimeErrors + runtime.networkErrors
        let missing = ["cpu", "memory", "pods", "ephemeral-storage"].filter { s.capacity[$0] == nil }
        if !missing.isEmpty {
            errors.append("missing node capacity for resources: \(missing.joined(separator: ", "))")
        }
        var ready = CoreV1.NodeCondition(
            type: "Ready", status: "True", lastHeartbeatTime: now, reason: "KubeletReady",
            message: "kubelet is posting ready status")
        if let message = aggregate(errors) {
            ready = CoreV1.NodeCondition(
                type: "Ready", status: "False", lastHeartbeatTime: now, reason: "KubeletNotReady", message: message)
        }
        if let i = s.conditions.firstIndex(where: { $0.type == "Ready" }) {
            ready.lastTransitionTime = s.conditions[i].status == ready.status ? s.conditions[i].lastTransitionTime : now
            s.conditions[i] = ready
        } else {
            ready.lastTransitionTime = now
            s.conditions.append(ready)
        }
    }

    /// Several error messages as one, as upstream's aggregate error prints them: duplicates dropped, a
    /// single message bare, more in brackets joined by ", ". Nil for none.
    public static func aggregate(_ messages: [String]) -> String? {
        var seen = Set<String>()
        let unique = messages.filter { seen.insert($0).inserted }
        switch unique.count {
        case 0: return nil
        case 1: return unique[0]
        default: return "[" + unique.joined(separator: ", ") + "]"
        }
    }

    /// The node's images as upstream lists them: largest first (ties by image ID, descending), at most
    /// `maxImages`, each named by its digests then its tags, at most five names.
    public static func images(from list: [Runtime_V1_Image], maxImages: Int = 50) -> [CoreV1.ContainerImage] {
        let sorted = list.sorted { a, b in a.size == b.size ? a.id > b.id : a.size > b.size }
        let kept = maxImages > -1 ? Array(sorted.prefix(maxImages)) : sorted
        return kept.map { image in
            CoreV1.ContainerImage(
                names: Array((image.repoDigests + image.repoTags).prefix(maxNamesPerImage)),
                sizeBytes: Int64(clamping: image.size))
        }
    }

    /// Whether to write the status: it changed in anything but heartbeat times, or `reportFrequency`
    /// has passed since the last write.
    public static func needsUpdate(
        old: CoreV1.NodeStatus, new: CoreV1.NodeStatus, lastReport: Time, now: Time,
        reportFrequency: Swift.Duration = .seconds(300)
    ) -> Bool {
        if !(elapsed(from: lastReport, to: now) < reportFrequency) { return true }
        return statusChanged(old, new)
    }

    /// Upstream's comparison: conditions by type without heartbeats, quantities by value, the rest as is.
    public static func statusChanged(_ a: CoreV1.NodeStatus, _ b: CoreV1.NodeStatus) -> Bool {
        guard sameQuantities(a.capacity, b.capacity), sameQuantities(a.allocatable, b.allocatable) else { return true }
        return comparable(a) != comparable(b)
    }

    static func sameQuantities(_ a: [String: Quantity], _ b: [String: Quantity]) -> Bool {
        guard a.count == b.count else { return false }
        for (k, v) in a {
            guard let w = b[k], v.compare(w) == 0 else { return false }
        }
        return true
    }

    static func comparable(_ s: CoreV1.NodeStatus) -> CoreV1.NodeStatus {
        var c = s
        c.capacity = [:]
        c.allocatable = [:]
        c.conditions = s.conditions.enumerated()
            .sorted { $0.element.type == $1.element.type ? $0.offset < $1.offset : $0.element.type < $1.element.type }
            .map { entry in
                var cond = entry.element
                cond.lastHeartbeatTime = nil
                cond.lastTransitionTime = cond.lastTransitionTime.map { Time(seconds: $0.seconds) }
                return cond
            }
        return c
    }

    /// `to - from` as a duration.
    static func elapsed(from: Time, to: Time) -> Swift.Duration {
        .seconds(to.seconds - from.seconds) + .nanoseconds(Int64(to.nanos) - Int64(from.nanos))
    }

    /// What registration reconciles on an already registered Node, as upstream's kubelet does: the
    /// attach-detach annotation, the default labels it sets (never removing others), capacity and
    /// allocatable when missing, and the huge page sizes. Taints and `--node-labels` are not touched.
    public static func reconcileExisting(_ existing: CoreV1.Node, with initial: CoreV1.Node) -> RegistrationReconcile {
        var node = existing
        var metadata = false
        var status = false

        let key = annotationControllerAttachDetach
        if initial.metadata.annotations[key] != existing.metadata.annotations[key] {
            node.metadata.annotations[key] = initial.metadata.annotations[key]
            metadata = true
        }
        for label in defaultLabels {
            guard let want = initial.metadata.labels[label] else { continue }
            if node.metadata.labels[label] != want {
                node.metadata.labels[label] = want
                metadata = true
            }
            if node.metadata.labels[label] == "" { node.metadata.labels[label] = nil }
        }

        if node.status.capacity.isEmpty, !initial.status.capacity.isEmpty {
            node.status.capacity = initial.status.capacity
            status = true
        }
        if node.status.allocatable.isEmpty, !initial.status.allocatable.isEmpty {
            node.status.allocatable = initial.status.allocatable
            status = true
        }
        let sizes = Set(initial.status.capacity.keys.filter { $0.hasPrefix("hugepages-") })
        for name in sizes {
            let capacity = initial.status.capacity[name] ?? Quantity()
            let allocatable = initial.status.allocatable[name] ?? Quantity()
            let had = node.status.capacity[name]
            if had == nil || had!.compare(capacity) != 0 {
                node.status.capacity[name] = capacity
                status = true
            }
            if had == nil || (node.status.allocatable[name] ?? Quantity()).compare(allocatable) != 0 {
                node.status.allocatable[name] = allocatable
                status = true
            }
        }
        for name in node.status.capacity.keys where name.hasPrefix("hugepages-") && !sizes.contains(name) {
            node.status.capacity[name] = nil
            node.status.allocatable[name] = nil
            status = true
        }
        return RegistrationReconcile(node: node, metadataChanged: metadata, statusChanged: status)
    }
}
