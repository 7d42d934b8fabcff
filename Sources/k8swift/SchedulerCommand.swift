import APIMachinery
import APIServer
import ArgumentParser
import ControllerRuntime
import Foundation
import KubeClient
import Scheduler
import Synchronization

/// kube-scheduler's flags (upstream's names and defaults where they apply).
struct SchedulerFlags: ParsableArguments {
    @Option(name: .customLong("config"), help: "A KubeSchedulerConfiguration file (kubescheduler.config.k8s.io/v1).")
    var config: String?
    @Option(name: .customLong("kubeconfig"), help: "Path to a kubeconfig file (ignored when --config names one).")
    var kubeconfig: String?
    @Option(name: .customLong("master"), help: "The API server's address (overrides the kubeconfig's).")
    var master: String?
    @Option(name: .customLong("leader-elect"), help: "Take a leader lease before scheduling (true|false).")
    var leaderElect: String?
    @Option(name: .customLong("leader-elect-lease-duration"), help: "How long a lease lasts without renewal.")
    var leaseDuration: String?
    @Option(name: .customLong("leader-elect-renew-deadline"), help: "How long the leader tries to renew.")
    var renewDeadline: String?
    @Option(name: .customLong("leader-elect-retry-period"), help: "How often candidates try.")
    var retryPeriod: String?
    @Option(name: .customLong("leader-elect-resource-lock"), help: "Only 'leases'.")
    var resourceLock: String?
    @Option(name: .customLong("leader-elect-resource-name"), help: "The Lease's name.")
    var resourceName: String?
    @Option(name: .customLong("leader-elect-resource-namespace"), help: "The Lease's namespace.")
    var resourceNamespace: String?
    @Option(name: .customLong("kube-api-qps"), help: "Requests per second to the API server (ignored with --config).")
    var qps: Double?
    @Option(name: .customLong("kube-api-burst"), help: "Burst of requests to the API server (ignored with --config).")
    var burst: Int?
    @Option(name: .customLong("kube-api-content-type"), help: "Content type of requests (ignored with --config).")
    var contentType: String?
    @Option(name: .customLong("secure-port"), help: "HTTPS port of /healthz, /readyz and /metrics (0 turns it off).")
    var securePort = 10259
    @Option(name: .customLong("bind-address"), help: "Address of the secure port.")
    var bindAddress = "0.0.0.0"
    @Option(name: .customShort("v"), help: "Log verbosity.") var verbosity = 0

    /// The configuration: the file's, or upstream's defaults with the deprecated flags applied;
    /// leader election flags given on the command line win in both cases, as upstream.
    func configuration() throws -> SchedulerConfiguration {
        var c: SchedulerConfiguration
        if let path = config {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw ValidationError("failed to read config file \"\(path)\": no such file or directory")
            }
            do {
                c = try SchedulerConfiguration.load(String(decoding: data, as: UTF8.self))
            } catch {
                throw ValidationError("invalid configuration in \(path): \(error)")
            }
        } else {
            c = SchedulerConfiguration.defaulted()
            if let kubeconfig { c.clientConnection.kubeconfig = kubeconfig }
            if let qps { c.clientConnection.qps = qps }
            if let burst { c.clientConnection.burst = burst }
            if let contentType { c.clientConnection.contentType = contentType }
        }
        if let v = leaderElect {
            guard let b = Bool(v.lowercased()) else {
                throw ValidationError(
                    "invalid argument \"\(v)\" for \"--leader-elect\" flag: strconv.ParseBool: parsing \"\(v)\": invalid syntax"
                )
            }
            c.leaderElection.leaderElect = b
        }
        for (flag, v, kp) in [
            ("--leader-elect-lease-duration", leaseDuration, \SchedulerConfiguration.LeaderElection.leaseDuration),
            ("--leader-elect-renew-deadline", renewDeadline, \.renewDeadline),
            ("--leader-elect-retry-period", retryPeriod, \.retryPeriod),
        ] {
            guard let v else { continue }
            guard let d = SchedulerConfiguration.goDuration(v) else {
                throw ValidationError("invalid argument \"\(v)\" for \"\(flag)\" flag: time: invalid duration \"\(v)\"")
            }
            c.leaderElection[keyPath: kp] = d
        }
        if let v = resourceLock { c.leaderElection.resourceLock = v }
        if let v = resourceName { c.leaderElection.resourceName = v }
        if let v = resourceNamespace { c.leaderElection.resourceNamespace = v }
        do { try c.validate() } catch { throw ValidationError("\(error)") }
        // Every profile's plugins are built once here: an unknown plugin or bad args stop the
        // process before it connects anywhere.
        for p in c.profiles {
            do { _ = try PluginRegistry.framework(for: p, handle: Handle()) } catch {
                throw ValidationError("initializing profiles: \(error)")
            }
        }
        return c
    }

    static func duration(_ seconds: Double) -> Swift.Duration { .milliseconds(Int64(seconds * 1000)) }

    /// Builds the scheduler's frameworks (refusing a bad configuration before anything runs), then
    /// schedules on `client`, under leader election unless turned off, until cancelled or the lease is lost.
    static func run(
        client: KubeClient, configuration c: SchedulerConfiguration, health: ControllerManagerHealth,
        holder: SchedulerHolder, instance: String = ProcessInfo.processInfo.hostName
    ) async throws {
        let log: @Sendable (String) -> Void = { line in
            FileHandle.standardError.write(Data("kube-scheduler: \(line)\n".utf8))
        }
        var opts = KubeScheduler.Options()
        opts.queue.initialBackoff = Double(c.podInitialBackoffSeconds)
        opts.queue.maxBackoff = Double(c.podMaxBackoffSeconds)
        opts.instance = instance
        // The profiles' plugins were built once already by `configuration()`, so a bad profile has
        // stopped the process before it got here.
        let options = opts
        let lead: @Sendable () async -> Void = {
            guard let scheduler = try? KubeScheduler(client: client, configuration: c, options: options, log: log)
            else {
                return
            }
            holder.value.withLock { $0 = scheduler }
            health.leading.withLock { $0 = true }
            await scheduler.run()
            health.leading.withLock { $0 = false }
        }
        if c.leaderElection.leaderElect {
            var election = LeaderElector.Config(
                name: c.leaderElection.resourceName, identity: LeaderElector.defaultIdentity())
            election.namespace = c.leaderElection.resourceNamespace
            election.leaseDuration = duration(c.leaderElection.leaseDuration)
            election.renewDeadline = duration(c.leaderElection.renewDeadline)
            election.retryPeriod = duration(c.leaderElection.retryPeriod)
            let elector = LeaderElector(client: client, config: election)
            log("attempting to acquire leader lease \(election.namespace)/\(election.name)...")
            await elector.run(lead)
            if !Task.isCancelled {
                log("leaderelection lost")
                throw ExitCode(1)
            }
        } else {
            await lead()
        }
    }

    static func health(_ holder: SchedulerHolder) -> ControllerManagerHealth {
        ControllerManagerHealth(component: "kube-scheduler") {
            let s = holder.value.withLock { $0 }
            return s?.metricsText() ?? ""
        }
    }
}

struct KubeSchedulerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kube-scheduler", abstract: "Assign pending pods to nodes, against any API server.")
    @OptionGroup var flags: SchedulerFlags

    func run() async throws {
        let c: SchedulerConfiguration
        do {
            c = try flags.configuration()
        } catch {
            FileHandle.standardError.write(Data("kube-scheduler: \(error)\n".utf8))
            throw ExitCode(1)
        }
        var config: ClientConfig
        do {
            let kubeconfig = c.clientConnection.kubeconfig.isEmpty ? flags.kubeconfig : c.clientConnection.kubeconfig
            config = try ClientConfig.load(kubeconfig: kubeconfig, master: flags.master)
        } catch {
            FileHandle.standardError.write(Data("kube-scheduler: \(error)\n".utf8))
            throw ExitCode(1)
        }
        config.qps = c.clientConnection.qps
        config.burst = c.clientConnection.burst
        config.wireFormat = c.clientConnection.contentType == "application/json" ? .json : .protobuf
        config.userAgent = "kube-scheduler/\(K8swiftVersion.info.gitVersion) (linux/amd64) k8swift"
        let client = try KubeClient(config: config)
        let holder = SchedulerHolder()
        let health = SchedulerFlags.health(holder)
        let http = try await health.serve(host: flags.bindAddress, port: flags.securePort)
        defer { if let http { Task { await http.stop() } } }
        do {
            try await SchedulerFlags.run(client: client, configuration: c, health: health, holder: holder)
        } catch {
            await client.shutdown()
            if let e = error as? SchedulerConfigurationError {
                FileHandle.standardError.write(Data("kube-scheduler: initializing profiles: \(e)\n".utf8))
                throw ExitCode(1)
            }
            throw error
        }
    }
}

/// The running scheduler, once leading (its metrics are served by the health endpoint).
final class SchedulerHolder: Sendable {
    let value = Mutex<KubeScheduler?>(nil)
}
