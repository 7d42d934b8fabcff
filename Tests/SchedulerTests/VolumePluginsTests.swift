import APICore
import APIMachinery
import APIStorage
import ControllerRuntime
import Foundation
import KubeClient
import Synchronization
import Testing

@testable import Scheduler

/// Builders of the storage objects the volume plugin tests place in the listers.
enum VolumeFixture {
    static let zoneKey = "topology.kubernetes.io/zone"
    static let regionKey = "topology.kubernetes.io/region"

    /// A claim of `size` in `cls`; `volume` names its volume, `bound` adds the controller's
    /// bind-completed annotation.
    static func pvc(
        _ name: String, namespace: String = "default", size: Quantity = "1Gi", cls: String? = "local",
        modes: [String] = ["ReadWriteOnce"], volume: String = "", bound: Bool = false,
        configure: (inout CoreV1.PersistentVolumeClaim) -> Void = { _ in }
    ) -> CoreV1.PersistentVolumeClaim {
        var c = CoreV1.PersistentVolumeClaim()
        c.metadata.name = name
        c.metadata.namespace = namespace
        c.metadata.uid = "pvc-uid-\(namespace)-\(name)"
        c.metadata.resourceVersion = "10"
        c.spec.accessModes = modes
        c.spec.resources.requests = ["storage": size]
        c.spec.storageClassName = cls
        c.spec.volumeName = volume
        c.status.phase = bound ? "Bound" : "Pending"
        if bound { c.metadata.annotations["pv.kubernetes.io/bind-completed"] = "yes" }
        configure(&c)
        return c
    }

    /// A volume of `size` in `cls`; `zone` adds a required node affinity to that zone; `claim`
    /// reserves (binds) it for a claim.
    static func pv(
        _ name: String, size: Quantity = "5Gi", cls: String = "local", modes: [String] = ["ReadWriteOnce"],
        phase: String = "Available", zone: String? = nil, labels: [String: String] = [:],
        claim: CoreV1.PersistentVolumeClaim? = nil, csi: (driver: String, handle: String)? = nil,
        configure: (inout CoreV1.PersistentVolume) -> Void = { _ in }
    ) -> CoreV1.PersistentVolume {
        var v = CoreV1.PersistentVolume()
        v.metadata.name = name
        v.metadata.uid = "pv-uid-\(name)"
        v.metadata.resourceVersion = "20"
        v.metadata.labels = labels
        v.spec.capacity = ["storage": size]
        v.spec.accessModes = modes
        v.spec.storageClassName = cls
        v.status.phase = phase
        if let zone {
            v.spec.nodeAffinity = CoreV1.VolumeNodeAffinity(
                required: CoreV1.NodeSelector(nodeSelectorTerms: [
                    CoreV1.NodeSelectorTerm(matchExpressions: [
                        CoreV1.NodeSelectorRequirement(key: zoneKey, operator: "In", values: [zone])
                    ])
                ]))
        }
        if let claim {
            v.spec.claimRef = CoreV1.ObjectReference(
                kind: "PersistentVolumeClaim", namespace: claim.metadata.namespace, name: claim.metadata.name,
                uid: claim.metadata.uid, apiVersion: "v1")
            v.status.phase = "Bound"
        }
        if let csi {
            var s = CoreV1.CSIPersistentVolumeSource()
            s.driver = csi.driver
            s.volumeHandle = csi.handle
            v.spec.persistentVolumeSource.csi = s
        }
        configure(&v)
        return v
    }

    static func storageClass(
        _ name: String, provisioner: String = "kubernetes.io/no-provisioner", mode: String? = "WaitForFirstConsumer",
        allowedZones: [String]? = nil
    ) -> StorageV1.StorageClass {
        var sc = StorageV1.StorageClass()
        sc.metadata.name = name
        sc.provisioner = provisioner
        sc.volumeBindingMode = mode
        if let allowedZones {
            sc.allowedTopologies = [
                CoreV1.TopologySelectorTerm(matchLabelExpressions: [
                    CoreV1.TopologySelectorLabelRequirement(key: zoneKey, values: allowedZones)
                ])
            ]
        }
        return sc
    }

    /// A pod with a PVC volume per claim and a generic ephemeral volume per name in `ephemeral`.
    static func pod(
        _ name: String, claims: [String] = [], ephemeral: [String] = [], namespace: String = "default",
        nodeName: String = "", configure: (inout CoreV1.Pod) -> Void = { _ in }
    ) -> CoreV1.Pod {
        Fixture.pod(name, namespace: namespace, nodeName: nodeName) { p in
            for (i, c) in claims.enumerated() {
                var s = CoreV1.VolumeSource()
                s.persistentVolumeClaim = CoreV1.PersistentVolumeClaimVolumeSource(claimName: c)
                p.spec.volumes.append(CoreV1.Volume(name: "vol\(i)", volumeSource: s))
            }
            for e in ephemeral {
                var s = CoreV1.VolumeSource()
                s.ephemeral = CoreV1.EphemeralVolumeSource(volumeClaimTemplate: CoreV1.PersistentVolumeClaimTemplate())
                p.spec.volumes.append(CoreV1.Volume(name: e, volumeSource: s))
            }
            configure(&p)
        }
    }

    /// The claim the ephemeral volume controller makes for a pod's volume (controlled by the pod).
    static func ephemeralClaim(_ pod: CoreV1.Pod, _ volume: String, ownedBy owner: String? = nil)
        -> CoreV1.PersistentVolumeClaim
    {
        pvc("\(pod.metadata.name)-\(volume)", namespace: pod.metadata.namespace) { c in
            c.metadata.ownerReferences = [
                MetaV1.OwnerReference(
                    apiVersion: "v1", kind: "Pod", name: pod.metadata.name, uid: owner ?? pod.metadata.uid,
                    controller: true)
            ]
        }
    }

    static func csiNode(_ node: String, _ drivers: [(String, Int32?)]) -> StorageV1.CSINode {
        var n = StorageV1.CSINode()
        n.metadata.name = node
        n.spec.drivers = drivers.map { d in
            StorageV1.CSINodeDriver(
                name: d.0, nodeID: node,
                allocatable: d.1.map { c in
                    var r = StorageV1.VolumeNodeResources()
                    r.count = c
                    return r
                })
        }
        return n
    }

    static func listers(
        claims: [CoreV1.PersistentVolumeClaim] = [], volumes: [CoreV1.PersistentVolume] = [],
        classes: [StorageV1.StorageClass] = [], csiNodes: [StorageV1.CSINode] = [], nodes: [CoreV1.Node] = [],
        pods: [CoreV1.Pod] = []
    ) -> Listers {
        let l = Listers()
        for c in claims { l.persistentVolumeClaims.upsert(c) }
        for v in volumes { l.persistentVolumes.upsert(v) }
        for c in classes { l.storageClasses.upsert(c) }
        for c in csiNodes { l.csiNodes.upsert(c) }
        for n in nodes { l.nodes.upsert(n) }
        for p in pods { l.pods.upsert(p) }
        return l
    }

    static let nodeA = Fixture.node("node-a", labels: [zoneKey: "zone-a", regionKey: "region-1"])
    static let nodeB = Fixture.node("node-b", labels: [zoneKey: "zone-b", regionKey: "region-1"])
    static let classes = [
        storageClass("local"),
        storageClass("immediate", mode: "Immediate"),
        storageClass("dynamic", provisioner: "csi.example.com"),
        storageClass("zonal", provisioner: "csi.example.com", allowedZones: ["zone-a"]),
    ]
}

/// The last value a callback saw.
final class Latest<T: Sendable>: Sendable {
    let value = Mutex<T?>(nil)
}

/// An API server answering PUTs of volumes and claims with the object at a new resourceVersion,
/// and letting the test act as the controllers that react to the write.
final class FakeVolumeAPI: KubeTransport {
    struct State {
        var writes: [String] = []
        var version = 100
        var refuse = false
    }
    let state = Mutex(State())
    let onVolume: @Sendable (CoreV1.PersistentVolume) -> Void
    let onClaim: @Sendable (CoreV1.PersistentVolumeClaim) -> Void

    init(
        onVolume: @escaping @Sendable (CoreV1.PersistentVolume) -> Void = { _ in },
        onClaim: @escaping @Sendable (CoreV1.PersistentVolumeClaim) -> Void = { _ in }
    ) {
        self.onVolume = onVolume
        self.onClaim = onClaim
    }

    func send(_ request: KubeRequest, timeout: Swift.Duration?) async throws -> KubeResponse {
        let refuse = state.withLock { s in
            s.writes.append("\(request.method) \(request.path)")
            return s.refuse
        }
        if refuse {
            return KubeResponse(
                status: 409, headers: [("Content-Type", "application/json")],
                body: Array(
                    #"{"kind":"Status","apiVersion":"v1","status":"Failure","message":"the object has been modified","reason":"Conflict","code":409}"#
                        .utf8))
        }
        let version = state.withLock { s in
            s.version += 1
            return "\(s.version)"
        }
        var w = JSONWriter()
        if request.path.contains("/persistentvolumeclaims/") {
            var c = try JSONReader.decode(CoreV1.PersistentVolumeClaim.self, from: request.body ?? [])
            c.metadata.resourceVersion = version
            c.encodeJSON(&w)
            onClaim(c)
        } else {
            var v = try JSONReader.decode(CoreV1.PersistentVolume.self, from: request.body ?? [])
            v.metadata.resourceVersion = version
            v.encodeJSON(&w)
            onVolume(v)
        }
        return KubeResponse(status: 200, headers: [("Content-Type", "application/json")], body: w.bytes)
    }

    func shutdown() async {}

    var writes: [String] { state.withLock { $0.writes } }
}

@Suite("VolumeBinding")
struct VolumeBindingTests {
    typealias F = VolumeFixture

    func plugin(_ l: Listers, client: KubeClient? = nil, timeout: Swift.Duration = .seconds(5)) -> VolumeBinding {
        VolumeBinding(listers: l, client: client, bindTimeout: timeout, pollInterval: .milliseconds(10))
    }

    /// PreFilter, then Filter on each node (when PreFilter let the pod through).
    func run(
        _ p: VolumeBinding, _ pod: CoreV1.Pod, nodes: [CoreV1.Node] = [F.nodeA, F.nodeB],
        state: CycleState = CycleState()
    )
        -> (pre: Status?, filter: [String: Status?])
    {
        let pi = PodInfo(pod)
        let infos = nodes.map { Fixture.nodeInfo($0) }
        let (_, pre) = p.preFilter(state, pi, Snapshot(infos))
        if let pre, !pre.isSuccess { return (pre, [:]) }
        var out: [String: Status?] = [:]
        for ni in infos { out[ni.name] = p.filter(state, pi, ni) }
        return (pre, out)
    }

    struct PreFilterCase: CustomTestStringConvertible {
        var rule: String
        var claims: [CoreV1.PersistentVolumeClaim] = []
        var volumes: [CoreV1.PersistentVolume] = []
        var classes: [StorageV1.StorageClass] = VolumeFixture.classes
        var pod: CoreV1.Pod
        var want: Status?
        var testDescription: String { rule }
    }

    static let ephemeralPod = VolumeFixture.pod("web", ephemeral: ["scratch"])

    static let preFilterCases: [PreFilterCase] = [
        PreFilterCase(
            rule: "a pod without claims is skipped", pod: VolumeFixture.pod("web"), want: .skip),
        PreFilterCase(
            rule: "a missing claim is unresolvable with the lister's not-found message",
            pod: VolumeFixture.pod("web", claims: ["data"]),
            want: .unresolvable("persistentvolumeclaim \"data\" not found")),
        PreFilterCase(
            rule: "a generic ephemeral volume's missing claim waits for the ephemeral volume controller",
            pod: ephemeralPod,
            want: .unresolvable(
                "waiting for ephemeral volume controller to create the persistentvolumeclaim \"web-scratch\"")),
        PreFilterCase(
            rule: "an ephemeral volume's claim must be controlled by the pod",
            claims: [VolumeFixture.ephemeralClaim(ephemeralPod, "scratch", ownedBy: "someone-else")],
            pod: ephemeralPod,
            want: .unresolvable("PVC default/web-scratch was not created for pod default/web (pod is not owner)")),
        PreFilterCase(
            rule: "a claim being deleted is unresolvable",
            claims: [VolumeFixture.pvc("data") { $0.metadata.deletionTimestamp = Time(seconds: 1_700_000_000) }],
            pod: VolumeFixture.pod("web", claims: ["data"]),
            want: .unresolvable("persistentvolumeclaim \"data\" is being deleted")),
        PreFilterCase(
            rule: "a claim whose volume is lost is unresolvable",
            claims: [VolumeFixture.pvc("data", volume: "gone") { $0.status.phase = "Lost" }],
            pod: VolumeFixture.pod("web", claims: ["data"]),
            want: .unresolvable("persistentvolumeclaim \"data\" bound to non-existent persistentvolume \"gone\"")),
        PreFilterCase(
            rule: "an unbound claim of an Immediate class should have been bound by the controller",
            claims: [VolumeFixture.pvc("data", cls: "immediate")], pod: VolumeFixture.pod("web", claims: ["data"]),
            want: .unresolvable("pod has unbound immediate PersistentVolumeClaims")),
        PreFilterCase(
            rule: "an unbound claim without a class binds immediately",
            claims: [VolumeFixture.pvc("data", cls: nil)], pod: VolumeFixture.pod("web", claims: ["data"]),
            want: .unresolvable("pod has unbound immediate PersistentVolumeClaims")),
        PreFilterCase(
            rule: "an unbound claim of a class that does not exist binds immediately",
            claims: [VolumeFixture.pvc("data", cls: "nowhere")], pod: VolumeFixture.pod("web", claims: ["data"]),
            want: .unresolvable("pod has unbound immediate PersistentVolumeClaims")),
        PreFilterCase(
            rule: "a WaitForFirstConsumer claim that names its volume (pre-bound) is treated as immediate",
            claims: [VolumeFixture.pvc("data", volume: "pv-1")], pod: VolumeFixture.pod("web", claims: ["data"]),
            want: .unresolvable("pod has unbound immediate PersistentVolumeClaims")),
        PreFilterCase(
            rule: "a class without volumeBindingMode is an error",
            claims: [VolumeFixture.pvc("data", cls: "unset")],
            classes: [VolumeFixture.storageClass("unset", mode: nil)], pod: VolumeFixture.pod("web", claims: ["data"]),
            want: .error("VolumeBindingMode not set for StorageClass \"unset\"")),
        PreFilterCase(
            rule: "a bound claim passes to Filter",
            claims: [VolumeFixture.pvc("data", cls: "immediate", volume: "pv-1", bound: true)],
            pod: VolumeFixture.pod("web", claims: ["data"]), want: nil),
        PreFilterCase(
            rule: "an unbound WaitForFirstConsumer claim passes to Filter",
            claims: [VolumeFixture.pvc("data")], pod: VolumeFixture.pod("web", claims: ["data"]), want: nil),
        PreFilterCase(
            rule: "an ephemeral volume's claim made for the pod passes to Filter",
            claims: [VolumeFixture.ephemeralClaim(ephemeralPod, "scratch")], pod: ephemeralPod, want: nil),
    ]

    @Test(
        "PreFilter classifies the pod's claims as upstream's podHasPVCs and GetPodVolumeClaims",
        arguments: preFilterCases)
    func preFilter(_ c: PreFilterCase) {
        let p = plugin(F.listers(claims: c.claims, volumes: c.volumes, classes: c.classes))
        let (_, status) = p.preFilter(CycleState(), PodInfo(c.pod), Snapshot([]))
        #expect(status == c.want)
    }

    struct FilterCase: CustomTestStringConvertible {
        var rule: String
        var claims: [CoreV1.PersistentVolumeClaim]
        var volumes: [CoreV1.PersistentVolume] = []
        /// Expected status on node-a (zone-a) and node-b (zone-b).
        var nodeA: Status?
        var nodeB: Status?
        var testDescription: String { rule }
    }

    static let nodeConflict = Status.unresolvable("node(s) had volume node affinity conflict")
    static let bindConflict = Status.unresolvable("node(s) didn't find available persistent volumes to bind")
    static let pvMissing = Status.unresolvable(
        "node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)")
    static let boundData = VolumeFixture.pvc("data", cls: "immediate", volume: "pv-1", bound: true)
    static let waiting = VolumeFixture.pvc("data", size: "2Gi")

    static let filterCases: [FilterCase] = [
        FilterCase(
            rule: "a bound claim's volume must be reachable from the node (PV node affinity)", claims: [boundData],
            volumes: [VolumeFixture.pv("pv-1", cls: "immediate", zone: "zone-a", claim: boundData)], nodeA: nil,
            nodeB: nodeConflict),
        FilterCase(
            rule: "a bound claim's volume without node affinity is reachable everywhere", claims: [boundData],
            volumes: [VolumeFixture.pv("pv-1", cls: "immediate", claim: boundData)], nodeA: nil, nodeB: nil),
        FilterCase(
            rule: "a claim bound to a volume that does not exist fails everywhere", claims: [boundData],
            nodeA: pvMissing,
            nodeB: pvMissing),
        FilterCase(
            rule: "a WaitForFirstConsumer claim binds an available volume reachable from the node",
            claims: [waiting], volumes: [VolumeFixture.pv("pv-1", zone: "zone-a")], nodeA: nil, nodeB: bindConflict),
        FilterCase(
            rule: "a volume smaller than the request does not match (no-provisioner class cannot provision)",
            claims: [waiting], volumes: [VolumeFixture.pv("pv-1", size: "1Gi")], nodeA: bindConflict,
            nodeB: bindConflict),
        FilterCase(
            rule: "the volume must offer every access mode the claim asks for",
            claims: [VolumeFixture.pvc("data", modes: ["ReadWriteMany"])],
            volumes: [VolumeFixture.pv("pv-1", modes: ["ReadWriteOnce"])], nodeA: bindConflict, nodeB: bindConflict),
        FilterCase(
            rule: "the volume mode must match (Block against the default Filesystem)",
            claims: [VolumeFixture.pvc("data") { $0.spec.volumeMode = "Block" }], volumes: [VolumeFixture.pv("pv-1")],
            nodeA: bindConflict, nodeB: bindConflict),
        FilterCase(
            rule: "the claim's selector must match the volume's labels",
            claims: [
                VolumeFixture.pvc("data") { $0.spec.selector = MetaV1.LabelSelector(matchLabels: ["tier": "gold"]) }
            ],
            volumes: [
                VolumeFixture.pv("silver", labels: ["tier": "silver"]),
                VolumeFixture.pv("gold", zone: "zone-b", labels: ["tier": "gold"]),
            ],
            nodeA: bindConflict, nodeB: nil),
        FilterCase(
            rule: "only volumes in the Available phase are bound", claims: [waiting],
            volumes: [VolumeFixture.pv("pv-1", phase: "Released")], nodeA: bindConflict, nodeB: bindConflict),
        FilterCase(
            rule: "only volumes of the claim's class are candidates", claims: [waiting],
            volumes: [VolumeFixture.pv("pv-1", cls: "other")], nodeA: bindConflict, nodeB: bindConflict),
        FilterCase(
            rule: "a volume reserved for another claim is not a candidate", claims: [waiting],
            volumes: [VolumeFixture.pv("pv-1", claim: VolumeFixture.pvc("other"))], nodeA: bindConflict,
            nodeB: bindConflict),
        FilterCase(
            rule: "a volume being deleted is not a candidate", claims: [waiting],
            volumes: [VolumeFixture.pv("pv-1") { $0.metadata.deletionTimestamp = Time(seconds: 1_700_000_000) }],
            nodeA: bindConflict, nodeB: bindConflict),
        FilterCase(
            rule: "a volume reserved for this claim wins whatever its phase, where its node affinity holds",
            claims: [waiting],
            volumes: [
                VolumeFixture.pv("pv-1", phase: "Pending", zone: "zone-b") {
                    $0.spec.claimRef = CoreV1.ObjectReference(namespace: "default", name: "data")
                    $0.status.phase = "Pending"
                }
            ], nodeA: bindConflict, nodeB: nil),
        FilterCase(
            rule: "a class with a provisioner provisions on any node when no volume matches",
            claims: [VolumeFixture.pvc("data", cls: "dynamic")], nodeA: nil, nodeB: nil),
        FilterCase(
            rule: "provisioning needs the node to be in the class's allowedTopologies",
            claims: [VolumeFixture.pvc("data", cls: "zonal")], nodeA: nil, nodeB: bindConflict),
        FilterCase(
            rule: "a claim whose provisioning already selected a node fits only that node",
            claims: [
                VolumeFixture.pvc("data", cls: "dynamic") {
                    $0.metadata.annotations["volume.kubernetes.io/selected-node"] = "node-a"
                }
            ], nodeA: nil, nodeB: bindConflict),
        FilterCase(
            rule: "a node failing both bound and unbound claims gets both reasons, in upstream's order",
            claims: [boundData, VolumeFixture.pvc("scratch")],
            volumes: [VolumeFixture.pv("pv-1", cls: "immediate", zone: "zone-a", claim: boundData)],
            nodeA: bindConflict,
            nodeB: Status(
                .unschedulableAndUnresolvable,
                reasons: [
                    "node(s) had volume node affinity conflict",
                    "node(s) didn't find available persistent volumes to bind",
                ])),
    ]

    @Test("Filter follows upstream's FindPodVolumes for bound and WaitForFirstConsumer claims", arguments: filterCases)
    func filter(_ c: FilterCase) {
        let p = plugin(F.listers(claims: c.claims, volumes: c.volumes, classes: F.classes))
        let pod = F.pod("web", claims: c.claims.map(\.metadata.name))
        let (pre, out) = run(p, pod)
        #expect(pre == nil)
        #expect(out["node-a"] == .some(c.nodeA))
        #expect(out["node-b"] == .some(c.nodeB))
    }

    @Test("Reserve assumes the chosen volume so the next pod cannot take it; Unreserve frees it")
    func reserveAssumes() {
        let l = F.listers(
            claims: [F.pvc("first"), F.pvc("second")], volumes: [F.pv("only-one")], classes: F.classes)
        let p = plugin(l)
        let first = F.pod("first", claims: ["first"])
        let state = CycleState()
        #expect(run(p, first, state: state).filter["node-a"] == .some(nil))
        #expect(p.reserve(state, PodInfo(first), node: "node-a") == nil)
        let second = F.pod("second", claims: ["second"])
        #expect(run(p, second).filter["node-a"] == .some(Self.bindConflict))
        p.unreserve(state, PodInfo(first), node: "node-a")
        #expect(run(p, second).filter["node-a"] == .some(nil))
    }

    @Test("claims take the smallest volume that fits, leaving the larger ones for other claims")
    func smallestFit() {
        let l = F.listers(
            claims: [F.pvc("small", size: "1Gi"), F.pvc("large", size: "8Gi")],
            volumes: [F.pv("pv-10g", size: "10Gi"), F.pv("pv-2g", size: "2Gi")], classes: F.classes)
        let p = plugin(l)
        let state = CycleState()
        let small = F.pod("small", claims: ["small"])
        _ = run(p, small, state: state)
        #expect(p.reserve(state, PodInfo(small), node: "node-a") == nil)
        #expect(run(p, F.pod("large", claims: ["large"])).filter["node-a"] == .some(nil))
    }

    @Test("an assumption lasts until the informer brings a newer version of the volume")
    func informerSupersedesAssumption() {
        let l = F.listers(claims: [F.pvc("first"), F.pvc("second")], volumes: [F.pv("pv")], classes: F.classes)
        let p = plugin(l)
        let state = CycleState()
        let first = F.pod("first", claims: ["first"])
        _ = run(p, first, state: state)
        _ = p.reserve(state, PodInfo(first), node: "node-a")
        #expect(run(p, F.pod("second", claims: ["second"])).filter["node-a"] == .some(Self.bindConflict))
        // The API server's own version of the volume (still free) replaces the assumption.
        l.persistentVolumes.upsert(F.pv("pv") { $0.metadata.resourceVersion = "21" })
        #expect(run(p, F.pod("second", claims: ["second"])).filter["node-a"] == .some(nil))
    }

    /// Pod, node and claims in the listers, the plugin filtered and reserved on node-a.
    /// The default timeout is long: these waits end as soon as the claims bind, but a test run
    /// that keeps every thread of the cooperative pool busy can delay the poll's wake-ups by seconds.
    func reserved(
        _ l: Listers, _ pod: CoreV1.Pod, client: KubeClient?, timeout: Swift.Duration = .seconds(120)
    ) -> (VolumeBinding, CycleState) {
        l.nodes.upsert(F.nodeA)
        var assumed = pod
        assumed.spec.nodeName = "node-a"
        l.pods.upsert(pod)
        let p = plugin(l, client: client, timeout: timeout)
        let state = CycleState()
        let (pre, out) = run(p, pod, nodes: [F.nodeA], state: state)
        #expect(pre == nil)
        #expect(out["node-a"] == .some(nil))
        #expect(p.reserve(state, PodInfo(assumed), node: "node-a") == nil)
        return (p, state)
    }

    func client(_ api: FakeVolumeAPI) throws -> KubeClient {
        var cfg = ClientConfig(server: "https://x")
        cfg.wireFormat = .json
        return try KubeClient(config: cfg, transport: api)
    }

    @Test("PreBind of a static binding writes the volume's claimRef, then waits for the controller to bind the claim")
    func preBindStatic() async throws {
        let claim = F.pvc("data")
        let l = F.listers(claims: [claim], volumes: [F.pv("pv-1")], classes: F.classes)
        let written = Latest<CoreV1.PersistentVolume>()
        let api = FakeVolumeAPI(onVolume: { v in
            written.value.withLock { $0 = v }
            // The persistentvolume controller completes the binding.
            l.persistentVolumes.upsert(v)
            var c = claim
            c.spec.volumeName = v.metadata.name
            c.metadata.annotations["pv.kubernetes.io/bind-completed"] = "yes"
            c.metadata.resourceVersion = "11"
            l.persistentVolumeClaims.upsert(c)
        })
        let pod = F.pod("web", claims: ["data"])
        let (p, state) = reserved(l, pod, client: try client(api))
        let status = await p.preBind(state, PodInfo(pod), node: "node-a")
        #expect(status == nil)
        #expect(api.writes == ["PUT /api/v1/persistentvolumes/pv-1"])
        let v = try #require(written.value.withLock { $0 })
        #expect(
            v.spec.claimRef
                == CoreV1.ObjectReference(
                    kind: "PersistentVolumeClaim", namespace: "default", name: "data", uid: claim.metadata.uid,
                    apiVersion: "v1", resourceVersion: "10"))
        #expect(v.metadata.annotations["pv.kubernetes.io/bound-by-controller"] == "yes")
    }

    @Test("PreBind of a provisioned claim annotates it with the selected node and waits for the volume")
    func preBindProvision() async throws {
        let claim = F.pvc("data", cls: "dynamic")
        let l = F.listers(claims: [claim], classes: F.classes)
        let api = FakeVolumeAPI(onClaim: { c in
            // The provisioner makes a volume in the node's zone and the controller binds it.
            #expect(c.metadata.annotations["volume.kubernetes.io/selected-node"] == "node-a")
            l.persistentVolumes.upsert(F.pv("pvc-made", cls: "dynamic", zone: "zone-a", claim: c))
            var bound = c
            bound.spec.volumeName = "pvc-made"
            bound.metadata.annotations["pv.kubernetes.io/bind-completed"] = "yes"
            bound.metadata.resourceVersion = "500"
            l.persistentVolumeClaims.upsert(bound)
        })
        let pod = F.pod("web", claims: ["data"])
        let (p, state) = reserved(l, pod, client: try client(api))
        #expect(await p.preBind(state, PodInfo(pod), node: "node-a") == nil)
        #expect(api.writes == ["PUT /api/v1/namespaces/default/persistentvolumeclaims/data"])
    }

    @Test("PreBind fails when the provisioner clears the selected node (upstream: provisioning failed)")
    func preBindProvisioningFailed() async throws {
        let claim = F.pvc("data", cls: "dynamic") {
            $0.metadata.annotations["volume.kubernetes.io/storage-provisioner"] = "csi.example.com"
        }
        let l = F.listers(claims: [claim], classes: F.classes)
        let api = FakeVolumeAPI(onClaim: { c in
            var gaveUp = c
            gaveUp.metadata.annotations["volume.kubernetes.io/selected-node"] = nil
            gaveUp.metadata.resourceVersion = "500"
            l.persistentVolumeClaims.upsert(gaveUp)
        })
        let pod = F.pod("web", claims: ["data"])
        let (p, state) = reserved(l, pod, client: try client(api))
        #expect(
            await p.preBind(state, PodInfo(pod), node: "node-a")
                == .error("binding volumes: provisioning failed for PVC \"data\""))
    }

    @Test("PreBind gives up after bindTimeoutSeconds when the claims never bind")
    func preBindTimeout() async throws {
        let l = F.listers(claims: [F.pvc("data")], volumes: [F.pv("pv-1")], classes: F.classes)
        let api = FakeVolumeAPI(onVolume: { l.persistentVolumes.upsert($0) })
        let pod = F.pod("web", claims: ["data"])
        let (p, state) = reserved(l, pod, client: try client(api), timeout: .milliseconds(50))
        #expect(
            await p.preBind(state, PodInfo(pod), node: "node-a") == .error("binding volumes: context deadline exceeded")
        )
    }

    @Test("PreBind stops waiting once the pod is gone")
    func preBindPodDeleted() async throws {
        let l = F.listers(claims: [F.pvc("data")], volumes: [F.pv("pv-1")], classes: F.classes)
        let api = FakeVolumeAPI(onVolume: { v in
            l.persistentVolumes.upsert(v)
            l.pods.remove(ObjectKey(namespace: "default", name: "web"))
        })
        let pod = F.pod("web", claims: ["data"])
        let (p, state) = reserved(l, pod, client: try client(api))
        #expect(
            await p.preBind(state, PodInfo(pod), node: "node-a")
                == .error("binding volumes: pod does not exist any more: pods \"web\" not found"))
    }

    @Test("a refused API write fails PreBind and drops the assumption, so the volume is free again")
    func preBindWriteRefused() async throws {
        let l = F.listers(claims: [F.pvc("data"), F.pvc("next")], volumes: [F.pv("pv-1")], classes: F.classes)
        let api = FakeVolumeAPI()
        api.state.withLock { $0.refuse = true }
        let pod = F.pod("web", claims: ["data"])
        let (p, state) = reserved(l, pod, client: try client(api))
        let status = await p.preBind(state, PodInfo(pod), node: "node-a")
        #expect(status?.code == .error)
        #expect(run(p, F.pod("next", claims: ["next"]), nodes: [F.nodeA]).filter["node-a"] == .some(nil))
    }

    @Test("PreBind does nothing when every claim is already bound")
    func preBindAllBound() async {
        let l = F.listers(
            claims: [Self.boundData], volumes: [F.pv("pv-1", cls: "immediate", claim: Self.boundData)],
            classes: F.classes)
        let pod = F.pod("web", claims: ["data"])
        let (p, state) = reserved(l, pod, client: nil)
        #expect(await p.preBind(state, PodInfo(pod), node: "node-a") == nil)
    }

    @Test("a pod without claims skips Filter and needs nothing at Reserve and PreBind")
    func noClaims() async {
        let p = plugin(F.listers())
        let state = CycleState()
        let pod = PodInfo(F.pod("web"))
        #expect(p.preFilter(state, pod, Snapshot([])).1 == .skip)
        #expect(p.reserve(state, pod, node: "node-a") == nil)
        #expect(await p.preBind(state, pod, node: "node-a") == nil)
    }

    @Test("Score is skipped: upstream scores only under the StorageCapacityScoring gate, off by default")
    func scoreSkipped() {
        #expect(plugin(F.listers()).preScore(CycleState(), PodInfo(F.pod("web")), [], Snapshot([])) == .skip)
    }

    @Test("events: claims, volumes, classes, CSINodes and node labels can make a rejected pod schedulable")
    func events() {
        let events = plugin(F.listers()).eventsToRegister()
        for e in [
            ClusterEvent(.persistentVolumeClaim, .add), ClusterEvent(.persistentVolumeClaim, .updateOther),
            ClusterEvent(.persistentVolume, .add), ClusterEvent(.persistentVolume, .updateOther),
            ClusterEvent(.storageClass, .add), ClusterEvent(.storageClass, .updateOther), ClusterEvent(.node, .add),
            ClusterEvent(.node, .updateNodeLabel), ClusterEvent(.csiNode, .add), ClusterEvent(.csiNode, .updateOther),
        ] {
            #expect(events.contains { $0.covers(e) }, "\(e)")
        }
        #expect(!events.contains { $0.covers(ClusterEvent(.persistentVolumeClaim, .delete)) })
    }

    @Test(
        "args: bindTimeoutSeconds defaults to 600 and must not be negative; shape needs the StorageCapacityScoring gate"
    )
    func args() throws {
        let f = try #require(PluginRegistry.factories["VolumeBinding"])
        let vb = try #require(try f(.object([]), Handle()) as? VolumeBinding)
        #expect(vb.bindTimeout == .seconds(600))
        let custom = try #require(try f(.object([("bindTimeoutSeconds", .number("30"))]), Handle()) as? VolumeBinding)
        #expect(custom.bindTimeout == .seconds(30))
        let validate = try #require(PluginRegistry.argValidators["VolumeBinding"])
        let path = "profiles[0].pluginConfig[0].args"
        #expect(throws: Never.self) { try validate(.object([("bindTimeoutSeconds", .number("0"))]), path) }
        do {
            try validate(.object([("bindTimeoutSeconds", .number("-10"))]), path)
            Issue.record("a negative timeout was accepted")
        } catch {
            #expect(
                "\(error)"
                    == "profiles[0].pluginConfig[0].args.bindTimeoutSeconds: Invalid value: -10: invalid BindTimeoutSeconds, should not be a negative value"
            )
        }
        let shape: JSONValue = .array([.object([("utilization", .number("0")), ("score", .number("0"))])])
        do {
            try validate(.object([("bindTimeoutSeconds", .number("600")), ("shape", shape)]), path)
            Issue.record("shape was accepted with the gate off")
        } catch {
            #expect("\(error)".hasPrefix("profiles[0].pluginConfig[0].args.shape: Invalid value: "))
            #expect(
                "\(error)".hasSuffix(
                    "unexpected field `shape`, remove it or turn on the feature gate StorageCapacityScoring"))
        }
        #expect(throws: SchedulerConfigurationError.self) {
            _ = try f(.object([("bindTimeoutSeconds", .number("-1"))]), Handle())
        }
    }
}

@Suite("VolumeRestrictions")
struct VolumeRestrictionsTests {
    typealias F = VolumeFixture

    static func gce(_ pd: String, readOnly: Bool = false) -> CoreV1.VolumeSource {
        var s = CoreV1.VolumeSource()
        s.gcePersistentDisk = CoreV1.GCEPersistentDiskVolumeSource(pdName: pd, readOnly: readOnly)
        return s
    }

    static func ebs(_ id: String, readOnly: Bool = false) -> CoreV1.VolumeSource {
        var s = CoreV1.VolumeSource()
        var e = CoreV1.AWSElasticBlockStoreVolumeSource()
        e.volumeID = id
        e.readOnly = readOnly
        s.awsElasticBlockStore = e
        return s
    }

    static func rbd(_ monitors: [String], pool: String = "rbd", image: String = "img", readOnly: Bool = false)
        -> CoreV1.VolumeSource
    {
        var s = CoreV1.VolumeSource()
        var r = CoreV1.RBDVolumeSource()
        r.monitors = monitors
        r.pool = pool
        r.image = image
        r.readOnly = readOnly
        s.rbd = r
        return s
    }

    static func iscsi(_ iqn: String, readOnly: Bool = false) -> CoreV1.VolumeSource {
        var s = CoreV1.VolumeSource()
        var i = CoreV1.ISCSIVolumeSource()
        i.targetPortal = "10.0.0.1:3260"
        i.iqn = iqn
        i.readOnly = readOnly
        s.iscsi = i
        return s
    }

    static func podWith(_ name: String, _ source: CoreV1.VolumeSource) -> CoreV1.Pod {
        Fixture.pod(name) { $0.spec.volumes = [CoreV1.Volume(name: "disk", volumeSource: source)] }
    }

    struct DiskCase: CustomTestStringConvertible {
        var rule: String
        var existing: CoreV1.VolumeSource
        var incoming: CoreV1.VolumeSource
        var conflict: Bool
        var testDescription: String { rule }
    }

    static let diskCases: [DiskCase] = [
        DiskCase(
            rule: "the same GCE PD mounted read-write twice conflicts", existing: gce("pd"), incoming: gce("pd"),
            conflict: true),
        DiskCase(
            rule: "the same GCE PD mounted read-only by both pods is shared", existing: gce("pd", readOnly: true),
            incoming: gce("pd", readOnly: true), conflict: false),
        DiskCase(
            rule: "a GCE PD read-only in one pod and read-write in the other conflicts",
            existing: gce("pd", readOnly: true), incoming: gce("pd"), conflict: true),
        DiskCase(
            rule: "different GCE PDs do not conflict", existing: gce("pd-1"), incoming: gce("pd-2"), conflict: false),
        DiskCase(
            rule: "the same EBS volume conflicts even read-only", existing: ebs("vol-1", readOnly: true),
            incoming: ebs("vol-1", readOnly: true), conflict: true),
        DiskCase(
            rule: "different EBS volumes do not conflict", existing: ebs("vol-1"), incoming: ebs("vol-2"),
            conflict: false),
        DiskCase(
            rule: "the same RBD image behind a shared monitor conflicts", existing: rbd(["m1", "m2"]),
            incoming: rbd(["m2", "m3"]),
            conflict: true),
        DiskCase(
            rule: "RBD images behind disjoint monitors do not conflict", existing: rbd(["m1"]), incoming: rbd(["m2"]),
            conflict: false),
        DiskCase(
            rule: "RBD images in different pools do not conflict", existing: rbd(["m1"], pool: "a"),
            incoming: rbd(["m1"], pool: "b"), conflict: false),
        DiskCase(
            rule: "the same RBD image read-only in both pods is shared", existing: rbd(["m1"], readOnly: true),
            incoming: rbd(["m1"], readOnly: true), conflict: false),
        DiskCase(
            rule: "the same iSCSI IQN conflicts", existing: iscsi("iqn.a"), incoming: iscsi("iqn.a"), conflict: true),
        DiskCase(
            rule: "the same iSCSI IQN read-only in both pods is shared", existing: iscsi("iqn.a", readOnly: true),
            incoming: iscsi("iqn.a", readOnly: true), conflict: false),
        DiskCase(
            rule: "different iSCSI IQNs do not conflict", existing: iscsi("iqn.a"), incoming: iscsi("iqn.b"),
            conflict: false),
        DiskCase(
            rule: "different volume kinds do not conflict", existing: gce("x"), incoming: ebs("x"), conflict: false),
    ]

    @Test("disk conflicts on the node: node(s) had no available disk (Unschedulable)", arguments: diskCases)
    func diskConflicts(_ c: DiskCase) {
        let p = VolumeRestrictions(listers: F.listers())
        let node = Fixture.nodeInfo(F.nodeA, [Self.podWith("old", c.existing)])
        let pod = PodInfo(Self.podWith("new", c.incoming))
        let state = CycleState()
        let (_, pre) = p.preFilter(state, pod, Snapshot([node]))
        #expect(pre == nil)
        #expect(p.filter(state, pod, node) == (c.conflict ? .unschedulable("node(s) had no available disk") : nil))
    }

    @Test("a pod without conflict-prone volumes or ReadWriteOncePod claims in use is skipped")
    func skipped() {
        let l = F.listers(claims: [F.pvc("data"), F.pvc("solo", modes: ["ReadWriteOncePod"])])
        let p = VolumeRestrictions(listers: l)
        var pod = F.pod("web", claims: ["data", "solo"])
        pod.spec.volumes.append(
            CoreV1.Volume(
                name: "tmp",
                volumeSource: {
                    var s = CoreV1.VolumeSource(); s.emptyDir = CoreV1.EmptyDirVolumeSource(); return s
                }()))
        #expect(p.preFilter(CycleState(), PodInfo(pod), Snapshot([Fixture.nodeInfo(F.nodeA)])).1 == .skip)
    }

    @Test("a missing claim is unresolvable (its access modes cannot be known)")
    func missingClaim() {
        let p = VolumeRestrictions(listers: F.listers())
        #expect(
            p.preFilter(CycleState(), PodInfo(F.pod("web", claims: ["solo"])), Snapshot([])).1
                == .unresolvable("persistentvolumeclaim \"solo\" not found"))
    }

    @Test(
        "a ReadWriteOncePod claim used by a pod anywhere in the cluster rejects every node (Unschedulable, so preemption may help)"
    )
    func readWriteOncePod() {
        let l = F.listers(claims: [F.pvc("solo", modes: ["ReadWriteOncePod"])])
        let p = VolumeRestrictions(listers: l)
        let user = F.pod("user", claims: ["solo"])
        let a = Fixture.nodeInfo(F.nodeA)
        let b = Fixture.nodeInfo(F.nodeB, [user])
        let pod = PodInfo(F.pod("web", claims: ["solo"]))
        let state = CycleState()
        #expect(p.preFilter(state, pod, Snapshot([a, b])).1 == nil)
        let want = Status.unschedulable(
            "node has pod using PersistentVolumeClaim with the same name and ReadWriteOncePod access mode")
        #expect(p.filter(state, pod, a) == want)
        #expect(p.filter(state, pod, b) == want)
        // Preemption simulates removing the user: the claim is free.
        let sim = state.clone()
        var placed = user
        placed.spec.nodeName = "node-b"
        p.removePod(sim, pod, PodInfo(placed), on: b)
        #expect(p.filter(sim, pod, b) == nil)
        p.addPod(sim, pod, PodInfo(placed), on: b)
        #expect(p.filter(sim, pod, b) == want)
    }

    @Test("a claim of the same name in another namespace is another claim")
    func otherNamespace() {
        let l = F.listers(claims: [F.pvc("solo", modes: ["ReadWriteOncePod"])])
        let p = VolumeRestrictions(listers: l)
        let elsewhere = Fixture.nodeInfo(F.nodeB, [F.pod("user", claims: ["solo"], namespace: "other")])
        #expect(p.preFilter(CycleState(), PodInfo(F.pod("web", claims: ["solo"])), Snapshot([elsewhere])).1 == .skip)
    }

    @Test("events: a pod deleted, a node added, a claim created")
    func events() {
        let events = VolumeRestrictions(listers: F.listers()).eventsToRegister()
        for e in [
            ClusterEvent(.assignedPod, .delete), ClusterEvent(.node, .add), ClusterEvent(.persistentVolumeClaim, .add),
        ] {
            #expect(events.contains { $0.covers(e) }, "\(e)")
        }
    }
}

@Suite("VolumeZone")
struct VolumeZoneTests {
    typealias F = VolumeFixture

    static let claim = VolumeFixture.pvc("data", cls: "immediate", volume: "pv-1", bound: true)

    static func zonedPV(_ labels: [String: String]) -> CoreV1.PersistentVolume {
        VolumeFixture.pv("pv-1", cls: "immediate", labels: labels, claim: claim)
    }

    struct FilterCase: CustomTestStringConvertible {
        var rule: String
        var volumeLabels: [String: String]
        var nodeLabels: [String: String]
        /// nil: no topology is known, so PreFilter skips.
        var fits: Bool?
        var testDescription: String { rule }
    }

    static let zone = "topology.kubernetes.io/zone"
    static let region = "topology.kubernetes.io/region"
    static let betaZone = "failure-domain.beta.kubernetes.io/zone"
    static let betaRegion = "failure-domain.beta.kubernetes.io/region"

    static let filterCases: [FilterCase] = [
        FilterCase(
            rule: "the volume's zone matches the node's", volumeLabels: [zone: "a"], nodeLabels: [zone: "a"], fits: true
        ),
        FilterCase(rule: "another zone does not", volumeLabels: [zone: "a"], nodeLabels: [zone: "b"], fits: false),
        FilterCase(
            rule: "a node without zone or region labels takes any volume", volumeLabels: [zone: "a"],
            nodeLabels: ["rack": "1"], fits: true),
        FilterCase(
            rule: "a node lacking the volume's key (but having another topology label) does not fit",
            volumeLabels: [zone: "a"], nodeLabels: [region: "r"], fits: false),
        FilterCase(
            rule: "a `__`-separated value lists several zones", volumeLabels: [zone: "a__b"], nodeLabels: [zone: "b"],
            fits: true),
        FilterCase(
            rule: "a zone outside the list does not fit", volumeLabels: [zone: "a__b"], nodeLabels: [zone: "c"],
            fits: false),
        FilterCase(
            rule: "a beta-labelled volume matches the node's GA label", volumeLabels: [betaZone: "a"],
            nodeLabels: [zone: "a"], fits: true),
        FilterCase(
            rule: "a GA-labelled volume is not matched against a node's beta label", volumeLabels: [zone: "a"],
            nodeLabels: [betaZone: "a"], fits: false),
        FilterCase(
            rule: "the region must match too", volumeLabels: [zone: "a", region: "r1"],
            nodeLabels: [zone: "a", region: "r2"], fits: false),
        FilterCase(
            rule: "a beta region matches the GA region", volumeLabels: [betaRegion: "r1"], nodeLabels: [region: "r1"],
            fits: true),
        FilterCase(
            rule: "a value with an empty member is ignored", volumeLabels: [zone: "a__"], nodeLabels: [zone: "b"],
            fits: nil),
    ]

    @Test(
        "Filter: bound volumes' zone labels must match the node (node(s) had no available volume zone)",
        arguments: filterCases)
    func filter(_ c: FilterCase) {
        let l = F.listers(claims: [Self.claim], volumes: [Self.zonedPV(c.volumeLabels)], classes: F.classes)
        let p = VolumeZone(listers: l)
        let pod = PodInfo(F.pod("web", claims: ["data"]))
        let state = CycleState()
        let (_, pre) = p.preFilter(state, pod, Snapshot([]))
        guard let fits = c.fits else {
            #expect(pre == .skip)
            return
        }
        #expect(pre == nil)
        let node = Fixture.nodeInfo(Fixture.node("n", labels: c.nodeLabels))
        #expect(p.filter(state, pod, node) == (fits ? nil : .unresolvable("node(s) had no available volume zone")))
    }

    struct PreFilterCase: CustomTestStringConvertible {
        var rule: String
        var claims: [CoreV1.PersistentVolumeClaim]
        var volumes: [CoreV1.PersistentVolume] = []
        var classes: [StorageV1.StorageClass] = VolumeFixture.classes
        var podClaims = ["data"]
        var want: Status?
        var testDescription: String { rule }
    }

    static let preFilterCases: [PreFilterCase] = [
        PreFilterCase(rule: "a pod without claims is skipped", claims: [], podClaims: [], want: .skip),
        PreFilterCase(
            rule: "an unbound WaitForFirstConsumer claim is left to VolumeBinding", claims: [VolumeFixture.pvc("data")],
            want: .skip),
        PreFilterCase(
            rule: "an unbound claim of an Immediate class has no volume yet",
            claims: [VolumeFixture.pvc("data", cls: "immediate")], want: .unresolvable("PersistentVolume had no name")),
        PreFilterCase(
            rule: "an unbound claim without class", claims: [VolumeFixture.pvc("data", cls: nil)],
            want: .unresolvable("PersistentVolumeClaim had no pv name and storageClass name")),
        PreFilterCase(
            rule: "an unbound claim of a missing class", claims: [VolumeFixture.pvc("data", cls: "gone")],
            want: .unresolvable("storageclass.storage.k8s.io \"gone\" not found")),
        PreFilterCase(
            rule: "a class without volumeBindingMode", claims: [VolumeFixture.pvc("data", cls: "unset")],
            classes: [VolumeFixture.storageClass("unset", mode: nil)],
            want: .unresolvable("VolumeBindingMode not set for StorageClass \"unset\"")),
        PreFilterCase(
            rule: "a missing claim", claims: [], want: .unresolvable("persistentvolumeclaim \"data\" not found")),
        PreFilterCase(
            rule: "a claim bound to a missing volume", claims: [claim],
            want: .unresolvable("persistentvolume \"pv-1\" not found")),
        PreFilterCase(
            rule: "a bound volume without zone labels is skipped", claims: [claim], volumes: [zonedPV([:])], want: .skip
        ),
        PreFilterCase(
            rule: "a bound volume with zone labels is checked in Filter", claims: [claim],
            volumes: [zonedPV([zone: "a"])], want: nil),
    ]

    @Test("PreFilter reads the bound volumes' topology as upstream's getPVbyPod", arguments: preFilterCases)
    func preFilter(_ c: PreFilterCase) {
        let p = VolumeZone(listers: F.listers(claims: c.claims, volumes: c.volumes, classes: c.classes))
        let pod = F.pod("web", claims: c.podClaims)
        #expect(p.preFilter(CycleState(), PodInfo(pod), Snapshot([])).1 == c.want)
    }
}

@Suite("NodeVolumeLimits")
struct NodeVolumeLimitsTests {
    typealias F = VolumeFixture
    static let driver = "ebs.csi.aws.com"

    static func bound(_ n: Int, driver: String = driver) -> (CoreV1.PersistentVolumeClaim, CoreV1.PersistentVolume) {
        let c = VolumeFixture.pvc("c\(n)", cls: "immediate", volume: "pv-\(n)", bound: true)
        return (c, VolumeFixture.pv("pv-\(n)", cls: "immediate", claim: c, csi: (driver, "vol-\(n)")))
    }

    struct Case: CustomTestStringConvertible {
        var rule: String
        var limit: Int32?
        var csiNode = true
        var existing: [[String]] = [["c1", "c2"]]
        var incoming: [String]
        var want: Status?
        var testDescription: String { rule }
    }

    static let exceeded = Status.unschedulable("node(s) exceed max volume count")

    static let cases: [Case] = [
        Case(rule: "two volumes attached, limit two: a third exceeds", limit: 2, incoming: ["c3"], want: exceeded),
        Case(
            rule: "a volume already attached by another pod is not counted again", limit: 2, incoming: ["c1"], want: nil
        ),
        Case(rule: "within a larger limit", limit: 3, incoming: ["c3"], want: nil),
        Case(rule: "two new volumes beyond the limit", limit: 3, incoming: ["c3", "c4"], want: exceeded),
        Case(rule: "a node without CSINode has no limits", limit: 1, csiNode: false, incoming: ["c3"], want: nil),
        Case(rule: "a driver without allocatable count has no limit", limit: nil, incoming: ["c3"], want: nil),
        Case(
            rule: "an unbound claim counts against its class's provisioner", limit: 2, incoming: ["unbound-ebs"],
            want: exceeded),
        Case(
            rule: "an unbound claim whose class does not exist is not counted", limit: 2, incoming: ["unbound-nowhere"],
            want: nil),
        Case(rule: "a non-CSI volume is not counted", limit: 2, incoming: ["hostpath"], want: nil),
        Case(
            rule: "another driver's volume is not counted against this one", limit: 2, incoming: ["other-driver"],
            want: nil),
        Case(
            rule: "an existing pod's missing claim is not counted", limit: 2, existing: [["c1", "gone"]],
            incoming: ["c3"],
            want: nil),
        Case(
            rule: "the new pod's missing claim is unresolvable", limit: 2, incoming: ["missing"],
            want: .unresolvable("looking up PVC default/missing: persistentvolumeclaim \"missing\" not found")),
    ]

    static func listers(limit: Int32?, csiNode: Bool) -> Listers {
        let pairs = (1...4).map { bound($0) }
        var hostPath = VolumeFixture.pv("pv-hp", cls: "immediate")
        hostPath.spec.persistentVolumeSource.hostPath = CoreV1.HostPathVolumeSource()
        let other = bound(9, driver: "other.csi.example.com")
        return VolumeFixture.listers(
            claims: pairs.map(\.0) + [
                VolumeFixture.pvc("unbound-ebs", cls: "ebs"), VolumeFixture.pvc("unbound-nowhere", cls: "nowhere"),
                VolumeFixture.pvc("hostpath", cls: "immediate", volume: "pv-hp", bound: true),
                VolumeFixture.pvc("other-driver", cls: "immediate", volume: "pv-9", bound: true),
            ],
            volumes: pairs.map(\.1) + [hostPath, other.1],
            classes: VolumeFixture.classes + [VolumeFixture.storageClass("ebs", provisioner: driver)],
            csiNodes: csiNode
                ? [VolumeFixture.csiNode("node-a", [(driver, limit), ("other.csi.example.com", nil)])] : [])
    }

    @Test("Filter counts unique CSI volumes per driver against the CSINode's allocatable count", arguments: cases)
    func filter(_ c: Case) {
        let p = NodeVolumeLimits(listers: Self.listers(limit: c.limit, csiNode: c.csiNode))
        let node = Fixture.nodeInfo(
            F.nodeA, c.existing.enumerated().map { F.pod("old-\($0.offset)", claims: $0.element) })
        let pod = PodInfo(F.pod("web", claims: c.incoming))
        let state = CycleState()
        #expect(p.preFilter(state, pod, Snapshot([node])).1 == nil)
        #expect(p.filter(state, pod, node) == c.want)
    }

    @Test("a pod without claims or generic ephemeral volumes is skipped")
    func skipped() {
        let p = NodeVolumeLimits(listers: F.listers())
        #expect(p.preFilter(CycleState(), PodInfo(F.pod("web")), Snapshot([])).1 == .skip)
    }

    @Test("a generic ephemeral volume's claim is counted, and must be owned by the pod")
    func ephemeral() {
        let pod = F.pod("web", ephemeral: ["scratch"])
        let (c1, v1) = Self.bound(1)
        var owned = F.ephemeralClaim(pod, "scratch")
        owned.spec.storageClassName = "ebs"
        let classes = [F.storageClass("ebs", provisioner: Self.driver)]
        let csi = [F.csiNode("node-a", [(Self.driver, 1)])]
        let node = Fixture.nodeInfo(F.nodeA, [F.pod("old", claims: ["c1"])])
        let p = NodeVolumeLimits(
            listers: F.listers(claims: [c1, owned], volumes: [v1], classes: classes, csiNodes: csi))
        #expect(p.preFilter(CycleState(), PodInfo(pod), Snapshot([node])).1 == nil)
        #expect(p.filter(CycleState(), PodInfo(pod), node) == Self.exceeded)
        var foreign = owned
        foreign.metadata.ownerReferences[0].uid = "someone-else"
        let q = NodeVolumeLimits(
            listers: F.listers(claims: [c1, foreign], volumes: [v1], classes: classes, csiNodes: csi))
        #expect(
            q.filter(CycleState(), PodInfo(pod), node)
                == .error("PVC default/web-scratch was not created for pod default/web (pod is not owner)"))
    }

    @Test("events: CSINode added or updated, an assigned pod deleted, a claim created, a VolumeAttachment deleted")
    func events() {
        let events = NodeVolumeLimits(listers: F.listers()).eventsToRegister()
        for e in [
            ClusterEvent(.csiNode, .add), ClusterEvent(.assignedPod, .delete),
            ClusterEvent(.persistentVolumeClaim, .add),
            ClusterEvent(.volumeAttachment, .delete),
        ] {
            #expect(events.contains { $0.covers(e) }, "\(e)")
        }
    }
}

@Suite("volume plugins registration")
struct VolumePluginsRegistrationTests {
    @Test("the four volume plugins are registered under upstream's names and are in the default MultiPoint set")
    func registered() throws {
        let names = ["VolumeBinding", "VolumeRestrictions", "VolumeZone", "NodeVolumeLimits"]
        let defaults = PluginRegistry.defaultPlugins["multiPoint"].enabled.map(\.name)
        for n in names {
            let f = try #require(PluginRegistry.factories[n])
            #expect(try f(.object([]), Handle()).name == n)
            #expect(defaults.contains(n))
        }
    }
}
