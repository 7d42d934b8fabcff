import APIMachinery
import ControllerRuntime
import Foundation
import Synchronization

/// Time spans are Swift's here; `APIMachinery.Duration` is the wire type `metav1.Duration`.
typealias Duration = Swift.Duration

/// kube-controller-manager's settings that controllers read (upstream's flag names in the CLI).
public struct ControllerOptions: Sendable {
    /// `--concurrent-<name>-syncs` and friends, by controller name; a controller's own default otherwise.
    public var concurrency: [String: Int] = [:]
    public var nodeMonitorPeriod: Swift.Duration = .seconds(5)
    public var nodeMonitorGracePeriod: Swift.Duration = .seconds(50)
    public var terminatedPodGCThreshold = 12500
    /// `--resource-quota-sync-period`: how often every quota is recounted in full.
    public var resourceQuotaSyncPeriod: Swift.Duration = .seconds(300)
    /// `--horizontal-pod-autoscaler-sync-period`.
    public var hpaSyncPeriod: Swift.Duration = .seconds(15)
    /// `--allocate-node-cidrs`, `--cluster-cidr`, `--node-cidr-mask-size`.
    public var allocateNodeCIDRs = false
    public var clusterCIDR = "10.42.0.0/16"
    public var nodeCIDRMaskSize = 24
    /// `--cluster-signing-duration`: how long signed certificates are valid.
    public var clusterSigningDuration: TimeInterval = 365 * 86400
    /// The CA that signs certificate requests (`--cluster-signing-cert-file`/`--cluster-signing-key-file`).
    public var signingAuthority: SigningAuthority?
    /// PEM of the cluster's root CA, published in every namespace as `kube-root-ca.crt`.
    public var rootCA: [UInt8]?
    public init() {}

    public func workers(_ controller: String, default d: Int) -> Int { concurrency[controller] ?? d }
}

/// What every controller gets: the client, the shared informers, its event recorder, its options.
public final class ControllerContext: Sendable {
    public let client: KubeClient
    public let informers: InformerFactory
    public let options: ControllerOptions
    /// The `reportingInstance` of events: the controller-manager's identity.
    public let instance: String

    public init(client: KubeClient, options: ControllerOptions, instance: String) {
        self.client = client
        self.informers = InformerFactory(client: client)
        self.options = options
        self.instance = instance
    }

    public func recorder(_ component: String) -> EventRecorder {
        EventRecorder(client: client, controller: component, instance: instance)
    }
}

/// A controller of kube-controller-manager: built from the context (registering its informers and
/// handlers), then run until cancelled.
public protocol Controller: Sendable {
    func run() async
}

/// Upstream's controllers by name: the current names (`deployment-controller`), the older short names
/// still accepted by `--controllers` (`deployment`), and which run by default.
public struct ControllerDescriptor: Sendable {
    public var name: String
    public var aliases: [String]
    public var enabledByDefault: Bool
    public var make: (@Sendable (ControllerContext) -> any Controller)?

    public init(
        _ name: String, aliases: [String], enabledByDefault: Bool = true,
        make: (@Sendable (ControllerContext) -> any Controller)? = nil
    ) {
        self.name = name
        self.aliases = aliases
        self.enabledByDefault = enabledByDefault
        self.make = make
    }
}

/// The `--controllers` flag: `*` (every default controller), `name` (enable), `-name` (disable),
/// by current name or alias.
public struct ControllerSelection: Sendable, Equatable {
    public var items: [String]

    public init(_ flag: String) {
        items = flag.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// Unknown names, for the error upstream gives.
    public func unknown(among all: [ControllerDescriptor]) -> [String] {
        let known = Set(all.flatMap { [$0.name] + $0.aliases })
        return items.map { $0.hasPrefix("-") ? String($0.dropFirst()) : $0 }.filter { $0 != "*" && !known.contains($0) }
    }

    public func isEnabled(_ d: ControllerDescriptor) -> Bool {
        let names = Set([d.name] + d.aliases)
        if items.contains(where: { $0.hasPrefix("-") && names.contains(String($0.dropFirst())) }) { return false }
        if items.contains(where: { names.contains($0) }) { return true }
        return items.contains("*") && d.enabledByDefault
    }
}
