import APICore
import APIDiscovery
import APIMachinery
import ControllerRuntime
import Foundation

/// Upstream's endpointslicemirroring-controller: Endpoints that someone other than the endpoints
/// controller writes (those of Services without a selector) are mirrored into EndpointSlices, so
/// slice consumers (kube-proxy, DNS) see them too.
public final class EndpointSliceMirroringController: Controller {
    static let managedBy = "endpointslicemirroring-controller.k8s.io"
    static let skipMirrorLabel = "endpointslice.kubernetes.io/skip-mirror"
    static let leaderAnnotation = "control-plane.alpha.kubernetes.io/leader"
    /// `--mirroring-max-endpoints-per-subset`.
    static let maxEndpointsPerSubset = 1000

    let client: KubeClient
    let endpoints: ObjectStore<CoreV1.Endpoints>
    let services: ObjectStore<CoreV1.Service>
    let slices: ObjectStore<DiscoveryV1.EndpointSlice>
    let recorder: EventRecorder
    let queue = WorkQueue<ObjectKey>(name: "endpoint_slice_mirroring")
    let workers: Int
    static let index = "mirroredService"

    public init(_ ctx: ControllerContext) {
        client = ctx.client
        recorder = ctx.recorder("endpointslice-mirroring-controller")
        workers = ctx.options.workers("endpointslice-mirroring-controller", default: 5)
        let epInformer = ctx.informers.informer(CoreV1.Endpoints.self)
        let svcInformer = ctx.informers.informer(CoreV1.Service.self)
        let sliceInformer = ctx.informers.informer(DiscoveryV1.EndpointSlice.self)
        endpoints = epInformer.store
        services = svcInformer.store
        slices = sliceInformer.store
        epInformer.addHandler(enqueueing: queue)
        svcInformer.addHandler(enqueueing: queue)
        sliceInformer.trackSlices(managedBy: Self.managedBy, index: Self.index, queue: queue)
    }

    /// Whether an Endpoints object is mirrored (upstream's `shouldMirror`, plus the Service check).
    static func shouldMirror(_ ep: CoreV1.Endpoints?, service: CoreV1.Service?) -> Bool {
        guard let ep, let service, service.spec.selector.isEmpty, service.metadata.deletionTimestamp == nil else {
            return false
        }
        return ep.metadata.labels[skipMirrorLabel] != "true" && ep.metadata.annotations[leaderAnnotation] == nil
    }

    /// The slices mirroring `ep`: per port set and address family, ready addresses before not-ready
    /// ones, at most `maxEndpointsPerSubset` addresses of each subset; invalid IPs are skipped.
    static func mirror(_ ep: CoreV1.Endpoints) -> (slices: [DiscoveryV1.EndpointSlice], skipped: Int, truncated: Int) {
        var groups: [(key: String, ports: [DiscoveryV1.EndpointPort], family: String, eps: [DiscoveryV1.Endpoint])] =
            []
        var skipped = 0, truncated = 0
        for subset in ep.subsets {
            let ports = subset.ports.map {
                DiscoveryV1.EndpointPort(
                    name: $0.name, protocol: $0.protocol.isEmpty ? "TCP" : $0.protocol, port: $0.port,
                    appProtocol: $0.appProtocol)
            }
            let portKey = ports.map { "\($0.name ?? ""):\($0.port ?? 0)/\($0.protocol ?? "")" }.sorted().joined(
                separator: ",")
            let all = subset.addresses.map { ($0, true) } + subset.notReadyAddresses.map { ($0, false) }
            truncated += max(0, all.count - maxEndpointsPerSubset)
            for (addr, ready) in all.prefix(maxEndpointsPerSubset) {
                guard let bytes = IPAddress.parse(addr.ip) else {
                    skipped += 1
                    continue
                }
                let family = bytes.count == 4 ? "IPv4" : "IPv6"
                var e = DiscoveryV1.Endpoint(addresses: [addr.ip])
                e.conditions = DiscoveryV1.EndpointConditions(ready: ready)
                e.targetRef = addr.targetRef
                e.nodeName = addr.nodeName
                if !addr.hostname.isEmpty { e.hostname = addr.hostname }
                let key = "\(family)|\(portKey)"
                if let i = groups.firstIndex(where: { $0.key == key }) {
                    groups[i].eps.append(e)
                } else {
                    groups.append((key, ports, family, [e]))
                }
            }
        }
        var labels = ep.metadata.labels
        labels[EndpointsLogic.serviceNameLabel] = ep.metadata.name
        labels[EndpointsLogic.managedByLabel] = managedBy
        var annotations = ep.metadata.annotations
        annotations["endpoints.kubernetes.io/last-change-trigger-time"] = nil
        annotations["kubectl.kubernetes.io/last-applied-configuration"] = nil
        var out: [DiscoveryV1.EndpointSlice] = []
        for g in groups {
            for start in stride(from: 0, to: g.eps.count, by: maxEndpointsPerSubset) {
                var s = DiscoveryV1.EndpointSlice()
                s.metadata.namespace = ep.metadata.namespace
                s.metadata.generateName = ep.metadata.name + "-"
                s.metadata.labels = labels
                s.metadata.annotations = annotations
                s.metadata.ownerReferences = [
                    MetaV1.OwnerReference(
                        apiVersion: "v1", kind: "Endpoints", name: ep.metadata.name, uid: ep.metadata.uid,
                        controller: true, blockOwnerDeletion: true)
                ]
                s.addressType = g.family
                s.ports = g.ports
                s.endpoints = Array(g.eps[start..<min(start + maxEndpointsPerSubset, g.eps.count)])
                out.append(s)
            }
        }
        return (out, skipped, truncated)
    }

    func sync(_ key: ObjectKey) async throws {
        let ep = endpoints.get(key)
        let existing = slices.byIndex(Self.index, key.description)
        guard Self.shouldMirror(ep, service: services.get(key)), let ep else {
            try await EndpointSliceController.reconcile(client: client, store: slices, desired: [], existing: existing)
            return
        }
        let (desired, skipped, truncated) = Self.mirror(ep)
        if skipped > 0 {
            recorder.warning(
                ep, reason: "InvalidIPAddress",
                note: "Skipped \(skipped) invalid IP addresses when mirroring to EndpointSlices")
        }
        if truncated > 0 {
            recorder.warning(
                ep, reason: "TooManyAddressesToMirror",
                note:
                    "A max of \(Self.maxEndpointsPerSubset) addresses can be mirrored for EndpointSubset; \(truncated) were not"
            )
        }
        try await EndpointSliceController.reconcile(client: client, store: slices, desired: desired, existing: existing)
    }

    public func run() async { await queue.runWorkers(workers) { try await self.sync($0) } }
}
