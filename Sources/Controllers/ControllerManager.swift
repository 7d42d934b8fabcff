import ControllerRuntime
import Foundation

/// kube-controller-manager's controllers: every upstream name (so `--controllers` accepts what
/// upstream accepts), and the ones this build runs.
public enum ControllerCatalog {
    /// Upstream's controllers (current name, older names), in upstream's order; `make` is nil for the
    /// ones not built yet.
    public static func all(options: ControllerOptions) -> [ControllerDescriptor] {
        func d(
            _ name: String, _ aliases: [String], on: Bool = true,
            _ make: (@Sendable (ControllerContext) -> any Controller)? = nil
        ) -> ControllerDescriptor {
            ControllerDescriptor(name, aliases: aliases, enabledByDefault: on, make: make)
        }
        let rootCA = options.rootCA
        return [
            d("serviceaccount-token-controller", ["serviceaccount-token"]),
            d("endpoints-controller", ["endpoint"]) { EndpointsController($0) },
            d("endpointslice-controller", ["endpointslice"]) { EndpointSliceController($0) },
            d("endpointslice-mirroring-controller", ["endpointslicemirroring"]) {
                EndpointSliceMirroringController($0)
            },
            d("replicationcontroller-controller", ["replicationcontroller"]) { ReplicationControllerController($0) },
            d("pod-garbage-collector-controller", ["podgc"]) { PodGCController($0) },
            d("resourcequota-controller", ["resourcequota"]) { ResourceQuotaController($0) },
            d("namespace-controller", ["namespace"]) { NamespaceController($0) },
            d("serviceaccount-controller", ["serviceaccount"]) { ServiceAccountController($0) },
            d("garbage-collector-controller", ["garbagecollector"]) { GarbageCollector($0) },
            d("daemonset-controller", ["daemonset"]) { DaemonSetController($0) },
            d("job-controller", ["job"]) { JobController($0) },
            d("deployment-controller", ["deployment"]) { DeploymentController($0) },
            d("replicaset-controller", ["replicaset"]) { ReplicaSetController($0) },
            d("horizontal-pod-autoscaler-controller", ["horizontalpodautoscaling"]) {
                HorizontalPodAutoscalerController($0)
            },
            d("disruption-controller", ["disruption"]) { DisruptionController($0) },
            d("statefulset-controller", ["statefulset"]) { StatefulSetController($0) },
            d("cronjob-controller", ["cronjob"]) { CronJobController($0) },
            d("certificatesigningrequest-signing-controller", ["csrsigning"]) { ctx -> any Controller in
                guard let authority = options.signingAuthority else { return NoController() }
                return CSRSigningController(ctx, authority: authority)
            },
            d("certificatesigningrequest-approving-controller", ["csrapproving"]),
            d("certificatesigningrequest-cleaner-controller", ["csrcleaner"]) { CSRCleanerController($0) },
            d("ttl-controller", ["ttl"]) { TTLController($0) },
            d("bootstrap-signer-controller", ["bootstrapsigner"], on: false),
            d("token-cleaner-controller", ["tokencleaner"], on: false),
            d("node-ipam-controller", ["nodeipam"]) { ctx -> any Controller in
                NodeIPAMController(ctx) ?? NoController()
            },
            d("node-lifecycle-controller", ["nodelifecycle"]) { NodeLifecycleController($0) },
            d("taint-eviction-controller", []) { TaintEvictionController($0) },
            d("persistentvolume-binder-controller", ["persistentvolume-binder"]) { PersistentVolumeBinder($0) },
            d("persistentvolume-attach-detach-controller", ["attachdetach"]),
            d("persistentvolume-expander-controller", ["persistentvolume-expander"]),
            d("clusterrole-aggregation-controller", ["clusterrole-aggregation"]) {
                ClusterRoleAggregationController($0)
            },
            d("persistentvolumeclaim-protection-controller", ["pvc-protection"]) { PVCProtectionController($0) },
            d("persistentvolume-protection-controller", ["pv-protection"]) { PVProtectionController($0) },
            d("ttl-after-finished-controller", ["ttl-after-finished"]) { TTLAfterFinishedController($0) },
            d("root-ca-certificate-publisher-controller", ["root-ca-cert-publisher"]) { ctx -> any Controller in
                guard let ca = rootCA else { return NoController() }
                return RootCACertPublisher(ctx, rootCA: ca)
            },
            d("ephemeral-volume-controller", ["ephemeral-volume"]) { EphemeralVolumeController($0) },
            d("storageversion-garbage-collector-controller", ["storage-version-gc"]),
            d("resourceclaim-controller", ["resource-claim-controller"]) { ResourceClaimController($0) },
            d("legacy-serviceaccount-token-cleaner-controller", ["legacy-service-account-token-cleaner"]),
            d("validatingadmissionpolicy-status-controller", []),
            d("service-cidr-controller", []),
            d("storage-version-migrator-controller", [], on: false),
            d("selinux-warning-controller", [], on: false),
            d("device-taint-eviction-controller", []),
            d("service-lb-controller", ["service"], on: false),
            d("node-route-controller", ["route"], on: false),
            d("cloud-node-lifecycle-controller", ["cloud-node-lifecycle"], on: false),
        ]
    }
}

/// A controller that has nothing to do (the root CA publisher without a CA).
struct NoController: Controller {
    func run() async {}
}

/// Runs the selected controllers on shared informers until cancelled.
public final class ControllerManager: Sendable {
    public let context: ControllerContext
    public let selection: ControllerSelection
    public let log: @Sendable (String) -> Void

    public init(
        context: ControllerContext, selection: ControllerSelection,
        log: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        self.context = context
        self.selection = selection
        self.log = log
    }

    /// The controllers this manager runs, by name.
    public var enabled: [ControllerDescriptor] {
        ControllerCatalog.all(options: context.options).filter { selection.isEnabled($0) }
    }

    public func run() async {
        var controllers: [(String, any Controller)] = []
        var missing: [String] = []
        for d in enabled {
            guard let make = d.make else {
                missing.append(d.name)
                continue
            }
            controllers.append((d.name, make(context)))
        }
        if !missing.isEmpty { log("not built into this k8swift yet: \(missing.joined(separator: ", "))") }
        context.informers.start()
        await context.informers.waitForSync()
        log("started \(controllers.count) controllers: \(controllers.map(\.0).joined(separator: ", "))")
        await withTaskGroup(of: Void.self) { group in
            for (_, c) in controllers { group.addTask { await c.run() } }
            await group.waitForAll()
        }
        context.informers.stop()
    }
}
