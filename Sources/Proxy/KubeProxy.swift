import APICore
import APIDiscovery
import APIMachinery
import ControllerRuntime
import Foundation
import HTTPServing
import KubeClient
import Synchronization

/// kube-proxy in nftables mode: watches Services, EndpointSlices and this Node, and keeps table
/// `kube-proxy` (family `ip`, and `ip6` with an IPv6 cluster CIDR) equal to the rules
/// `ProxyRules` derives from them. Each sync is one `nft -f` transaction: a full one at start,
/// when the settings change (node addresses), when the table went missing, after a failure and
/// hourly; otherwise a partial one that rewrites only the Services changed since the last sync.
public final class KubeProxy: Sendable {
    public struct Options: Sendable {
        /// This node's name (`--hostname-override`): endpoints on it are local.
        public var hostname: String
        /// `--cluster-cidr`: pod ranges (comma-separated on the command line).
        public var clusterCIDRs: [String] = []
        /// `--nodeport-addresses`: CIDRs whose local addresses accept NodePorts; empty or
        /// `primary` means the node's primary IPs (upstream's nftables default).
        public var nodePortAddresses: [String] = []
        public var masqueradeAll = false
        public var masqueradeBit = 14
        /// `--sync-period`: how often the table's presence is checked; also the retry delay and,
        /// doubled, the health timeout.
        public var syncPeriod: Swift.Duration = .seconds(30)
        /// `--min-sync-period`: the least time between two syncs (changes in between are batched).
        public var minSyncPeriod: Swift.Duration = .seconds(1)
        /// `--healthz-bind-address` (empty turns it off).
        public var healthzBindAddress = "0.0.0.0:10256"
        /// `--metrics-bind-address` (empty turns it off).
        public var metricsBindAddress = "127.0.0.1:10249"
        /// Service CIDRs (traffic to unallocated ClusterIPs in them is dropped).
        public var serviceCIDRs: [String] = []
        public var nftPath = NFTables.defaultPath
        public var conntrackPath = "/usr/sbin/conntrack"
        /// Set net.ipv4.ip_forward and net.bridge.bridge-nf-call-iptables (and IPv6 forwarding).
        public var setSysctls = true

        public init(hostname: String) { self.hostname = hostname }

        /// IPv4 always; IPv6 too when a cluster CIDR is IPv6 (dual-stack).
        public var families: [IPFamily] {
            clusterCIDRs.contains { IPFamily.of($0) == .ipv6 } ? [.ipv4, .ipv6] : [.ipv4]
        }
    }

    struct Pending {
        var changed: Set<String> = []
        var full = true
        var periodic = false
    }

    struct FamilyState {
        var state = ProxierState()
        var settings: ProxierSettings?
        var baseChainsMade = false
        var fullFailures = 0
        var lastFull: ContinuousClock.Instant?
    }

    struct HealthCheckServer {
        var server: HTTPServer
        var responder: ServiceHealthResponder
    }

    let client: KubeClient
    public let options: Options
    let log: @Sendable (String) -> Void
    let nft: NFTables
    public let metrics = MetricRegistry()
    public let health: ProxyHealthServer
    let pending = Mutex(Pending())
    let families = Mutex<[IPFamily: FamilyState]>([:])
    let healthChecks = Mutex<[Int: HealthCheckServer]>([:])
    let nodeBox = NodeBox()
    let triggers: AsyncStream<Void>
    let trigger: AsyncStream<Void>.Continuation
    let epoch = ContinuousClock.now

    public init(client: KubeClient, options: Options, log: @escaping @Sendable (String) -> Void) {
        self.client = client
        self.options = options
        self.log = log
        nft = NFTables(path: options.nftPath)
        let timeout = 2 * Double(options.syncPeriod.components.seconds)
        let node = nodeBox
        health = ProxyHealthServer(healthTimeout: timeout, metrics: metrics) {
            guard let n = node.value.withLock({ $0 }) else { return false }
            if n.metadata.deletionTimestamp != nil { return false }
            return !n.spec.taints.contains { $0.key == "ToBeDeletedByClusterAutoscaler" }
        }
        (triggers, trigger) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    /// Why the proxy cannot run here (not root, no `nft`), nil when it can.
    public static func unavailable(nftPath: String = NFTables.defaultPath) -> String? {
        if getuid() != 0 { return "not root" }
        if !FileManager.default.isExecutableFile(atPath: nftPath) { return "\(nftPath) is missing (Debian nftables)" }
        return nil
    }

    var seconds: Double {
        let d = ContinuousClock.now - epoch
        return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    // MARK: Running

    /// Runs until cancelled: informers, the health and metrics servers, the sync loop.
    public func run() async throws {
        if options.setSysctls { applySysctls() }
        let factory = InformerFactory(client: client)
        let services = factory.informer(CoreV1.Service.self)
        let slices = factory.informer(DiscoveryV1.EndpointSlice.self)
        slices.store.addIndexer("service") { s in
            guard let svc = s.metadata.labels["kubernetes.io/service-name"] else { return [] }
            return ["\(s.metadata.namespace)/\(svc)"]
        }
        let nodes = Informer<CoreV1.Node>(client: client, fieldSelector: "metadata.name=\(options.hostname)")
        factory.adopt(nodes)
        services.addHandler { [self] e in
            metrics.increment(
                "kubeproxy_sync_proxy_rules_service_changes_total", help: "Service changes the proxy has seen.")
            queue(ObjectKey(e.object.metadata).description)
        }
        slices.addHandler { [self] e in
            metrics.increment(
                "kubeproxy_sync_proxy_rules_endpoint_changes_total", help: "EndpointSlice changes the proxy has seen.")
            var keys: [String] = []
            if case .updated(let old, _) = e, let s = old.metadata.labels["kubernetes.io/service-name"] {
                keys.append("\(old.metadata.namespace)/\(s)")
            }
            if let s = e.object.metadata.labels["kubernetes.io/service-name"] {
                keys.append("\(e.object.metadata.namespace)/\(s)")
            }
            for k in keys { queue(k) }
        }
        nodes.addHandler { [self] e in
            if case .deleted = e {
                nodeBox.value.withLock { $0 = nil }
            } else {
                nodeBox.value.withLock { $0 = e.object }
            }
            trigger.yield()
        }
        stores.withLock { $0 = (services.store, slices.store) }
        let servers = try await startServers()
        factory.start()
        await services.waitForSync()
        await slices.waitForSync()
        health.updated()
        log(
            "informers synced; programming table \(ProxyRules.table) (\(options.families.map(\.nft).joined(separator: ", ")))"
        )
        trigger.yield()
        let period = options.syncPeriod
        let minPeriod = options.minSyncPeriod
        await withTaskGroup(of: Void.self) { group in
            group.addTask { [self] in
                while !Task.isCancelled {
                    try? await Task.sleep(for: period)
                    pending.withLock { $0.periodic = true }
                    trigger.yield()
                }
            }
            group.addTask { [self] in
                var last: ContinuousClock.Instant?
                for await _ in triggers {
                    if let last, ContinuousClock.now - last < minPeriod {
                        try? await Task.sleep(until: last + minPeriod, clock: .continuous)
                    }
                    if Task.isCancelled { break }
                    last = ContinuousClock.now
                    await syncOnce()
                }
            }
            await group.next()
            group.cancelAll()
        }
        factory.stop()
        for s in servers { await s.stop() }
        for (_, hc) in healthChecks.withLock({ $0 }) { await hc.server.stop() }
    }

    /// Notes a changed Service for the next sync.
    func queue(_ key: String) {
        pending.withLock { _ = $0.changed.insert(key) }
        health.queued()
        metrics.set(
            "kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds",
            help: "When the last change to program was queued, in seconds since the Unix epoch.",
            Date().timeIntervalSince1970)
        trigger.yield()
    }

    func startServers() async throws -> [HTTPServer] {
        var out: [HTTPServer] = []
        for (address, responder) in [
            (options.healthzBindAddress, health as any HTTPResponder),
            (options.metricsBindAddress, ProxyMetricsServer(metrics: metrics)),
        ] {
            guard let (host, port) = Self.hostPort(address), port > 0 else { continue }
            let server = HTTPServer(responder: responder, maxBodyBytes: 1 << 16, threads: 1)
            _ = try await server.start(host: host, port: port, tls: nil)
            out.append(server)
        }
        return out
    }

    /// `host:port`, `[v6]:port` or `:port` (all addresses).
    public static func hostPort(_ s: String) -> (String, Int)? {
        guard !s.isEmpty, let colon = s.lastIndex(of: ":"), let port = Int(s[s.index(after: colon)...]) else {
            return nil
        }
        var host = String(s[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (host.isEmpty ? "0.0.0.0" : host, port)
    }

    func applySysctls() {
        var settings = ["net/ipv4/ip_forward": "1", "net/bridge/bridge-nf-call-iptables": "1"]
        if options.families.contains(.ipv6) {
            settings["net/ipv6/conf/all/forwarding"] = "1"
            settings["net/bridge/bridge-nf-call-ip6tables"] = "1"
        }
        for (key, value) in settings.sorted(by: { $0.key < $1.key }) {
            let path = "/proc/sys/" + key
            guard FileManager.default.fileExists(atPath: path) else {
                log("sysctl \(key.replacingOccurrences(of: "/", with: ".")) is not available here")
                continue
            }
            let current = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(
                in: .whitespacesAndNewlines)
            if current == value { continue }
            do { try value.write(toFile: path, atomically: false, encoding: .utf8) } catch {
                log("cannot set sysctl \(key.replacingOccurrences(of: "/", with: "."))=\(value): \(error)")
            }
        }
    }

    // MARK: Sync

    /// The settings of one family for the current node.
    func settings(for family: IPFamily, node: CoreV1.Node?) -> ProxierSettings {
        var s = ProxierSettings(family: family)
        s.clusterCIDRs = options.clusterCIDRs.filter { IPFamily.of($0) == family }
        s.masqueradeAll = options.masqueradeAll
        s.masqueradeBit = options.masqueradeBit
        s.serviceCIDRs = options.serviceCIDRs.filter { IPFamily.of($0) == family }
        let nodeIPs = Self.nodeIPs(node, family: family)
        s.nodeIP = nodeIPs.first
        s.nodePortAddresses = Self.nodePortAddresses(
            options.nodePortAddresses, family: family, nodeIPs: nodeIPs, localAddresses: Self.localAddresses)
        return s
    }

    /// The node's InternalIP addresses of a family, else its ExternalIP ones.
    public static func nodeIPs(_ node: CoreV1.Node?, family: IPFamily) -> [String] {
        let addresses = node?.status.addresses ?? []
        let internalIPs = addresses.filter { $0.type == "InternalIP" && IPFamily.of($0.address) == family }.map(
            \.address)
        if !internalIPs.isEmpty { return internalIPs }
        return addresses.filter { $0.type == "ExternalIP" && IPFamily.of($0.address) == family }.map(\.address)
    }

    /// What `--nodeport-addresses` means for a family: `primary` (or nothing) the node's IPs, a
    /// CIDR of everything (`0.0.0.0/0`, `::/0`) every local address, else the local addresses in
    /// the given CIDRs.
    public static func nodePortAddresses(
        _ values: [String], family: IPFamily, nodeIPs: [String], localAddresses: () -> [String]
    ) -> NodePortAddresses {
        let cidrs = values.filter { $0 != "primary" && IPFamily.of($0) == family }
        if values.isEmpty || values.contains("primary") && cidrs.isEmpty { return .ips(nodeIPs) }
        if cidrs.contains(where: { $0.hasSuffix("/0") }) { return .all }
        let matching = localAddresses().filter { ip in cidrs.contains { ProxyRules.cidrContains($0, ip) } }
        return .ips(matching)
    }

    /// The addresses of this host's interfaces.
    static func localAddresses() -> [String] {
        var out: [String] = []
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let first = list else { return [] }
        defer { freeifaddrs(list) }
        var cur: UnsafeMutablePointer<ifaddrs>? = first
        while let p = cur {
            if let sa = p.pointee.ifa_addr, sa.pointee.sa_family == UInt16(AF_INET) {
                var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
                if getnameinfo(
                    sa, socklen_t(MemoryLayout<sockaddr_in>.size), &host, socklen_t(host.count), nil, 0, NI_NUMERICHOST)
                    == 0
                {
                    out.append(String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
                }
            }
            cur = p.pointee.ifa_next
        }
        return out
    }

    /// A Service's rules in one family, nil when the proxy leaves it alone (gone, headless,
    /// ExternalName, no cluster IP of the family, or claimed by another proxy).
    func rules(
        for key: String, family: IPFamily, settings: ProxierSettings, store: ObjectStore<CoreV1.Service>,
        slices: ObjectStore<DiscoveryV1.EndpointSlice>
    ) -> ServiceRules? {
        let parts = key.split(separator: "/", maxSplits: 1).map(String.init)
        guard parts.count == 2, let svc = store.get(namespace: parts[0], name: parts[1]) else { return nil }
        if svc.metadata.labels["service.kubernetes.io/service-proxy-name"] != nil { return nil }
        let ports = ServicePortInfo.ports(of: svc, family: family)
        if ports.isEmpty { return nil }
        let related = slices.byIndex("service", key)
        return ProxyRules.serviceRules(
            ports.map {
                ($0, EndpointInfo.endpoints(for: $0, slices: related, nodeName: options.hostname, family: family))
            }, settings)
    }

    static let latencyBuckets = (0..<15).map { 0.001 * Double(1 << $0) }

    /// One sync of every family: plan, apply, then clean conntrack and health check ports.
    func syncOnce() async {
        guard let (services, slices) = stores.withLock({ $0 }) else { return }
        let started = ContinuousClock.now
        let p = pending.withLock { p in
            let taken = p
            p = Pending(full: false)
            return taken
        }
        let currentNode = nodeBox.value.withLock { $0 }
        var failed = false
        var anyFull = false
        var conntrack: [[String]] = []
        var checks: [Int: HealthCheckPort] = [:]
        var noLocal = (inside: 0, outside: 0)
        var stale = false
        for family in options.families {
            let settings = settings(for: family, node: currentNode)
            var f = families.withLock { $0[family] ?? FamilyState() }
            var full = p.full || f.settings != settings
            if let last = f.lastFull, ContinuousClock.now - last > .seconds(3600) { full = true }
            if !full && p.periodic && !nft.tableExists(family: family) {
                log("table \(family.nft) \(ProxyRules.table) is missing: resyncing everything")
                full = true
            }
            let old = f.state
            if !full {
                let del = f.state.planStaleChainDeletion(settings: settings, now: seconds)
                if !del.script.isEmpty {
                    do { try nft.apply(del.script) } catch {
                        log("deleting stale chains failed (retried on the next full sync): \(error)")
                        metrics.increment(
                            "kubeproxy_sync_proxy_rules_nftables_cleanup_failures_total",
                            help: "Failed transactions deleting stale chains.")
                    }
                    f.state = del.next
                }
            }
            let plan: SyncPlan
            var changedKeys: Set<String>
            if full {
                var all: [String: ServiceRules] = [:]
                for svc in services.list() {
                    let key = ObjectKey(svc.metadata).description
                    if let r = rules(for: key, family: family, settings: settings, store: services, slices: slices) {
                        all[key] = r
                    }
                }
                plan = ProxierState.planFull(
                    settings: settings, services: all, existingChains: nft.list("chains", family: family) ?? [],
                    existingSets: nft.list("sets", family: family) ?? [], recreateBaseChains: !f.baseChainsMade,
                    deleteTableFirst: f.fullFailures > 0, now: seconds)
                changedKeys = Set(all.keys).union(old.services.keys)
            } else {
                var changes: [String: ServiceRules?] = [:]
                for key in p.changed {
                    changes[key] = .some(
                        rules(for: key, family: family, settings: settings, store: services, slices: slices))
                }
                plan = f.state.planPartial(settings: settings, changes: changes, now: seconds)
                changedKeys = p.changed
            }
            do {
                if !plan.script.isEmpty { try nft.apply(plan.script) }
                f.state = plan.next
                f.settings = settings
                if full {
                    f.baseChainsMade = true
                    f.fullFailures = 0
                    f.lastFull = ContinuousClock.now
                    anyFull = true
                }
                for key in changedKeys.sorted() {
                    conntrack += ConntrackCleanup.deletions(old: old.services[key], new: plan.next.services[key])
                }
            } catch {
                failed = true
                if full { f.fullFailures += 1 }
                log("nftables sync failed (\(full ? "full" : "partial"), \(family.nft)): \(error)")
                metrics.increment(
                    "kubeproxy_sync_proxy_rules_nftables_sync_failures_total",
                    help: "Failed nftables sync transactions.")
            }
            if !f.state.staleChains.isEmpty { stale = true }
            for r in f.state.services.values {
                if let hc = r.healthCheck, checks[hc.port] == nil { checks[hc.port] = hc }
                noLocal.inside += r.noLocalEndpointsInternal
                noLocal.outside += r.noLocalEndpointsExternal
            }
            families.withLock { $0[family] = f }
        }
        let elapsed = MetricRegistry.seconds(ContinuousClock.now - started)
        let help = "How long a sync of the proxy rules took, in seconds."
        metrics.observe("kubeproxy_sync_proxy_rules_duration_seconds", help: help, bounds: Self.latencyBuckets, elapsed)
        metrics.observe(
            anyFull
                ? "kubeproxy_sync_full_proxy_rules_duration_seconds"
                : "kubeproxy_sync_partial_proxy_rules_duration_seconds",
            help: anyFull ? "How long a full sync took, in seconds." : "How long a partial sync took, in seconds.",
            bounds: Self.latencyBuckets, elapsed)
        let npHelp = "Services whose traffic of a policy is dropped for lack of local endpoints."
        metrics.set(
            "kubeproxy_sync_proxy_rules_no_local_endpoints_total", help: npHelp, labels: ["traffic_policy": "internal"],
            Double(noLocal.inside))
        metrics.set(
            "kubeproxy_sync_proxy_rules_no_local_endpoints_total", help: npHelp, labels: ["traffic_policy": "external"],
            Double(noLocal.outside))
        if failed {
            // Changes already taken are lost to a partial sync: the retry rebuilds everything.
            pending.withLock { $0.full = true }
            let retry = options.syncPeriod
            Task { [self] in
                try? await Task.sleep(for: retry)
                trigger.yield()
            }
        } else {
            health.updated()
            metrics.set(
                "kubeproxy_sync_proxy_rules_last_timestamp_seconds",
                help: "When the proxy rules were last synced, in seconds since the Unix epoch.",
                Date().timeIntervalSince1970)
        }
        if stale {
            // Flushed chains are deleted a second later (see planStaleChainDeletion).
            Task { [self] in
                try? await Task.sleep(for: .milliseconds(1100))
                trigger.yield()
            }
        }
        runConntrack(conntrack)
        await syncHealthChecks(checks)
    }

    /// Deletes stale UDP flows; "0 flow entries" (exit 1) is not a failure.
    func runConntrack(_ commands: [[String]]) {
        guard !commands.isEmpty else { return }
        guard FileManager.default.isExecutableFile(atPath: options.conntrackPath) else {
            log("\(options.conntrackPath) is missing (Debian conntrack): stale UDP flows stay")
            return
        }
        for args in commands {
            guard let r = try? HostCommand.run(options.conntrackPath, args) else { continue }
            if r.status != 0 && !r.error.contains("0 flow entries") {
                log(
                    "conntrack \(args.joined(separator: " ")): \(r.error.trimmingCharacters(in: .whitespacesAndNewlines))"
                )
            }
        }
    }

    /// Serves exactly the health check node ports the Services ask for.
    func syncHealthChecks(_ wanted: [Int: HealthCheckPort]) async {
        let current = healthChecks.withLock { $0 }
        for (port, hc) in current where wanted[port] == nil {
            await hc.server.stop()
            healthChecks.withLock { $0[port] = nil }
        }
        for (port, check) in wanted {
            if let hc = current[port] {
                hc.responder.set(check)
                continue
            }
            let health = self.health
            let responder = ServiceHealthResponder { health.isHealthy }
            responder.set(check)
            let server = HTTPServer(responder: responder, maxBodyBytes: 1 << 16, threads: 1)
            do {
                _ = try await server.start(host: "0.0.0.0", port: port, tls: nil)
                healthChecks.withLock { $0[port] = HealthCheckServer(server: server, responder: responder) }
            } catch {
                log("cannot serve the health check node port \(port) of \(check.namespace)/\(check.name): \(error)")
            }
        }
    }

    /// The stores the sync reads; set once the informers exist.
    let stores = Mutex<(ObjectStore<CoreV1.Service>, ObjectStore<DiscoveryV1.EndpointSlice>)?>(nil)
}

/// This node as last seen (shared with the health server's eligibility check).
final class NodeBox: Sendable {
    let value = Mutex<CoreV1.Node?>(nil)
}
