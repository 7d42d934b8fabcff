import APICore
import APIMachinery
import APIStorage
import ControllerRuntime
import KubeClient
import Synchronization

/// `VolumeBinding`: a pod's claims must be bound to volumes usable from the node, or (for
/// `WaitForFirstConsumer` classes) bindable there to an available volume or provisionable there.
/// Reserve assumes the chosen volumes and provisioning nodes so later cycles do not take them
/// again; PreBind writes them (a volume's claimRef, a claim's selected-node annotation) and waits
/// for the persistentvolume controller to finish binding.
public final class VolumeBinding: PreFilterPlugin, FilterPlugin, PreScorePlugin, ScorePlugin, ReservePlugin,
    PreBindPlugin, EnqueueExtensions
{
    public static let name = "VolumeBinding"
    public static let reasonBindConflict = "node(s) didn't find available persistent volumes to bind"
    public static let reasonNodeConflict = "node(s) had volume node affinity conflict"
    public static let reasonNotEnoughSpace = "node(s) did not have enough free storage"
    public static let reasonPVNotExist = "node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)"
    public static let reasonUnboundImmediate = "pod has unbound immediate PersistentVolumeClaims"
    public static let defaultBindTimeoutSeconds: Int64 = 600

    public var name: String { Self.name }
    let listers: Listers
    let client: KubeClient?
    let bindTimeout: Duration
    let pollInterval: Duration
    let pvCache: AssumeCache<CoreV1.PersistentVolume>
    let pvcCache: AssumeCache<CoreV1.PersistentVolumeClaim>

    public convenience init(handle: Handle, bindTimeoutSeconds: Int64 = VolumeBinding.defaultBindTimeoutSeconds) {
        self.init(
            listers: handle.listers, client: handle.client, bindTimeout: .seconds(bindTimeoutSeconds),
            pollInterval: .seconds(1))
    }

    /// `pollInterval`: how often PreBind looks at the claims while waiting (upstream: 1s).
    init(listers: Listers, client: KubeClient?, bindTimeout: Duration, pollInterval: Duration) {
        self.listers = listers
        self.client = client
        self.bindTimeout = bindTimeout
        self.pollInterval = pollInterval
        pvCache = AssumeCache(listers.persistentVolumes)
        pvcCache = AssumeCache(listers.persistentVolumeClaims)
    }

    // MARK: state

    /// A claim and the available volume chosen for it.
    struct Binding {
        var pv: CoreV1.PersistentVolume
        var pvc: CoreV1.PersistentVolumeClaim
    }

    /// What the pod's volumes need on one node.
    struct PodVolumes {
        var staticBindings: [Binding] = []
        var dynamicProvisions: [CoreV1.PersistentVolumeClaim] = []
    }

    /// The pod's claims sorted by what they need (upstream's `PodVolumeClaims`).
    struct PodVolumeClaims {
        var bound: [CoreV1.PersistentVolumeClaim] = []
        var unboundDelayed: [CoreV1.PersistentVolumeClaim] = []
        var unboundImmediate: [CoreV1.PersistentVolumeClaim] = []
        /// Class → its volumes, for the delayed claims.
        var volumesByClass: [String: [CoreV1.PersistentVolume]] = [:]
    }

    final class State: StateData {
        struct Inner {
            var podVolumesByNode: [String: PodVolumes] = [:]
            var allBound = false
        }
        let claims: PodVolumeClaims?
        let inner = Mutex(Inner())
        init(_ claims: PodVolumeClaims?) { self.claims = claims }
        /// Shared, as upstream's: the nodes' findings are the pod's whatever the copy.
        func clone() -> StateData { self }
    }

    // MARK: PreFilter

    public func preFilter(_ state: CycleState, _ pod: PodInfo, _ snapshot: Snapshot) -> (PreFilterResult?, Status?) {
        let hasPVC: Bool
        do {
            hasPVC = try podHasPVCs(pod.pod)
        } catch {
            return (nil, .unresolvable(error.description))
        }
        if !hasPVC {
            state.write(State(nil))
            return (nil, .skip)
        }
        let claims: PodVolumeClaims
        do {
            claims = try podVolumeClaims(pod.pod)
        } catch {
            return (nil, .error(error.description))
        }
        if !claims.unboundImmediate.isEmpty { return (nil, .unresolvable(Self.reasonUnboundImmediate)) }
        state.write(State(claims))
        return (nil, nil)
    }

    /// Does the pod use claims, and are they all usable (present, not lost, not being deleted, and an
    /// ephemeral volume's claim made for this pod)? The claims are read as the informer has them.
    func podHasPVCs(_ pod: CoreV1.Pod) throws(VolumeError) -> Bool {
        var has = false
        for v in pod.spec.volumes {
            guard let ref = VolumeUtil.claimName(pod, v) else { continue }
            let (claim, ephemeral) = ref
            has = true
            guard let pvc = listers.persistentVolumeClaims.get(namespace: pod.metadata.namespace, name: claim) else {
                if ephemeral {
                    throw VolumeError(
                        "waiting for ephemeral volume controller to create the persistentvolumeclaim \"\(claim)\"")
                }
                throw VolumeError(VolumeUtil.notFound("persistentvolumeclaim", claim))
            }
            if pvc.status.phase == "Lost" {
                throw VolumeError(
                    "persistentvolumeclaim \"\(pvc.metadata.name)\" bound to non-existent persistentvolume \"\(pvc.spec.volumeName)\""
                )
            }
            if pvc.metadata.deletionTimestamp != nil {
                throw VolumeError("persistentvolumeclaim \"\(pvc.metadata.name)\" is being deleted")
            }
            if ephemeral, let e = VolumeUtil.ephemeralOwnershipError(pod, pvc) { throw VolumeError(e) }
        }
        return has
    }

    /// Upstream's `isVolumeBound`: (bound, claim) for a pod volume; volumes without claims count as bound.
    func isVolumeBound(_ pod: CoreV1.Pod, _ v: CoreV1.Volume) throws(VolumeError) -> (
        Bool, CoreV1.PersistentVolumeClaim?
    ) {
        guard let ref = VolumeUtil.claimName(pod, v) else { return (true, nil) }
        let (claim, ephemeral) = ref
        let key = ObjectKey(namespace: pod.metadata.namespace, name: claim)
        guard let pvc = pvcCache.get(key) else {
            throw VolumeError("error getting PVC \"\(key)\": \(VolumeUtil.notFound("persistentvolumeclaim", claim))")
        }
        if ephemeral, let e = VolumeUtil.ephemeralOwnershipError(pod, pvc) { throw VolumeError(e) }
        return (VolumeUtil.isFullyBound(pvc), pvc)
    }

    /// Bound claims; unbound claims of `WaitForFirstConsumer` classes (the scheduler's to bind); and
    /// the rest, which the controller should have bound already (a claim naming its volume included).
    func podVolumeClaims(_ pod: CoreV1.Pod) throws(VolumeError) -> PodVolumeClaims {
        var out = PodVolumeClaims()
        for v in pod.spec.volumes {
            let (bound, pvc) = try isVolumeBound(pod, v)
            guard let pvc else { continue }
            if bound {
                out.bound.append(pvc)
            } else if try isDelayBindingMode(pvc) && pvc.spec.volumeName.isEmpty {
                out.unboundDelayed.append(pvc)
            } else {
                out.unboundImmediate.append(pvc)
            }
        }
        for pvc in out.unboundDelayed {
            let cls = VolumeUtil.claimClass(pvc)
            if out.volumesByClass[cls] == nil {
                out.volumesByClass[cls] = pvCache.list().filter { VolumeUtil.volumeClass($0) == cls }
            }
        }
        return out
    }

    /// A claim without class, or of a class that does not exist, binds at once; a class must say
    /// its mode.
    func isDelayBindingMode(_ pvc: CoreV1.PersistentVolumeClaim) throws(VolumeError) -> Bool {
        let cls = VolumeUtil.claimClass(pvc)
        if cls.isEmpty { return false }
        guard let sc = listers.storageClasses.get(name: cls) else { return false }
        guard let mode = sc.volumeBindingMode else {
            throw VolumeError("VolumeBindingMode not set for StorageClass \"\(cls)\"")
        }
        return mode == VolumeUtil.waitForFirstConsumer
    }

    // MARK: Filter

    public func filter(_ state: CycleState, _ pod: PodInfo, _ node: NodeInfo) -> Status? {
        guard let st = state.read(State.self), let claims = st.claims else {
            return .error("reading \"\(Self.name)\" from cycleState: not found")
        }
        guard let n = node.node else { return .error("node not found") }
        let podVolumes: PodVolumes
        let reasons: [String]
        do {
            (podVolumes, reasons) = try findPodVolumes(pod.pod, claims, n)
        } catch {
            return .error(error.description)
        }
        if !reasons.isEmpty { return Status(.unschedulableAndUnresolvable, reasons: reasons) }
        st.inner.withLock { $0.podVolumesByNode[n.metadata.name] = podVolumes }
        return nil
    }

    /// Upstream's `FindPodVolumes`: the node's conflict reasons, in upstream's order, or what binding
    /// the pod's volumes there takes.
    func findPodVolumes(_ pod: CoreV1.Pod, _ claims: PodVolumeClaims, _ node: CoreV1.Node) throws(VolumeError) -> (
        PodVolumes, [String]
    ) {
        var out = PodVolumes()
        var boundSatisfied = true
        var unboundSatisfied = true
        var sufficientStorage = true
        var boundPVsFound = true
        func reasons() -> [String] {
            var r: [String] = []
            if !boundSatisfied { r.append(Self.reasonNodeConflict) }
            if !unboundSatisfied { r.append(Self.reasonBindConflict) }
            if !sufficientStorage { r.append(Self.reasonNotEnoughSpace) }
            if !boundPVsFound { r.append(Self.reasonPVNotExist) }
            return r
        }
        let labels = node.metadata.labels
        // Bound claims: their volumes must exist and be reachable from the node.
        for pvc in claims.bound {
            guard let pv = pvCache.get(ObjectKey(namespace: "", name: pvc.spec.volumeName)) else {
                boundPVsFound = false
                break
            }
            if !VolumeUtil.nodeAffinityMatches(pv, labels: labels) {
                boundSatisfied = false
                break
            }
        }
        if claims.unboundDelayed.isEmpty { return (out, reasons()) }
        var toMatch: [CoreV1.PersistentVolumeClaim] = []
        var toProvision: [CoreV1.PersistentVolumeClaim] = []
        for pvc in claims.unboundDelayed {
            if let selected = pvc.metadata.annotations[VolumeUtil.selectedNode] {
                // Provisioning for another node is already under way.
                if selected != node.metadata.name {
                    unboundSatisfied = false
                    return (out, reasons())
                }
                toProvision.append(pvc)
            } else {
                toMatch.append(pvc)
            }
        }
        if !toMatch.isEmpty {
            // The smallest claims choose first, so each takes the smallest volume that fits it.
            let ordered = toMatch.enumerated().sorted { a, b in
                let c = VolumeUtil.requestedStorage(a.element).compare(VolumeUtil.requestedStorage(b.element))
                return c < 0 || (c == 0 && a.offset < b.offset)
            }.map(\.element)
            var chosen: Set<String> = []
            for pvc in ordered {
                let candidates = claims.volumesByClass[VolumeUtil.claimClass(pvc)] ?? []
                if let pv = try Self.findMatchingVolume(pvc, candidates, nodeLabels: labels, excluded: chosen) {
                    chosen.insert(pv.metadata.name)
                    out.staticBindings.append(Binding(pv: pv, pvc: pvc))
                } else {
                    unboundSatisfied = false
                    toProvision.append(pvc)
                }
            }
        }
        if !toProvision.isEmpty {
            (unboundSatisfied, sufficientStorage, out.dynamicProvisions) = try checkProvisions(toProvision, node)
        }
        return (out, reasons())
    }

    /// Upstream's `FindMatchingVolume` on the scheduler path: a volume reserved for the claim wins
    /// if usable from the node; otherwise the smallest available volume of the claim's class whose
    /// size, volume mode, attributes class, labels, node affinity and access modes fit.
    static func findMatchingVolume(
        _ claim: CoreV1.PersistentVolumeClaim, _ volumes: [CoreV1.PersistentVolume], nodeLabels: [String: String],
        excluded: Set<String>
    ) throws(VolumeError) -> CoreV1.PersistentVolume? {
        let requested = VolumeUtil.requestedStorage(claim)
        let cls = VolumeUtil.claimClass(claim)
        var selector: LabelSelector?
        if let s = claim.spec.selector {
            do {
                selector = try LabelSelector.from(s)
            } catch {
                throw VolumeError(
                    "error creating internal label selector for claim: \(claim.metadata.namespace)/\(claim.metadata.name): \(error)"
                )
            }
        }
        let mode = claim.spec.volumeMode ?? "Filesystem"
        let claimModes = Set(claim.spec.accessModes)
        var smallest: CoreV1.PersistentVolume?
        var smallestSize = Quantity()
        for v in volumes {
            if excluded.contains(v.metadata.name) { continue }
            if v.spec.claimRef != nil && !VolumeUtil.isVolumeBoundToClaim(v, claim) { continue }
            let size = v.spec.capacity["storage"] ?? Quantity()
            if size.compare(requested) < 0 { continue }
            if (v.spec.volumeMode ?? "Filesystem") != mode { continue }
            if (claim.spec.volumeAttributesClassName ?? "") != (v.spec.volumeAttributesClassName ?? "") { continue }
            if v.metadata.deletionTimestamp != nil { continue }
            let affinityOK = VolumeUtil.nodeAffinityMatches(v, labels: nodeLabels)
            if VolumeUtil.isVolumeBoundToClaim(v, claim) { return affinityOK ? v : nil }
            if v.status.phase != "Available" { continue }
            if let selector, !selector.matches(v.metadata.labels) { continue }
            if VolumeUtil.volumeClass(v) != cls { continue }
            if !affinityOK { continue }
            if !claimModes.isSubset(of: Set(v.spec.accessModes)) { continue }
            if smallest == nil || smallestSize.compare(size) > 0 {
                smallest = v
                smallestSize = size
            }
        }
        return smallest
    }

    /// Upstream's `checkVolumeProvisions`: (provisionable, enough storage, the claims to provision).
    /// A class must name a provisioner other than `kubernetes.io/no-provisioner` and allow the
    /// node's topology.
    func checkProvisions(_ claims: [CoreV1.PersistentVolumeClaim], _ node: CoreV1.Node) throws(VolumeError) -> (
        Bool, Bool, [CoreV1.PersistentVolumeClaim]
    ) {
        var out: [CoreV1.PersistentVolumeClaim] = []
        for claim in claims {
            let cls = VolumeUtil.claimClass(claim)
            if cls.isEmpty {
                throw VolumeError("no class for claim \"\(claim.metadata.namespace)/\(claim.metadata.name)\"")
            }
            guard let sc = listers.storageClasses.get(name: cls) else {
                throw VolumeError("failed to find storage class \"\(cls)\"")
            }
            if sc.provisioner.isEmpty || sc.provisioner == VolumeUtil.noProvisioner { return (false, true, []) }
            if !VolumeUtil.topologyMatches(sc.allowedTopologies, labels: node.metadata.labels) {
                return (false, true, [])
            }
            out.append(claim)
        }
        return (true, true, out)
    }

    // MARK: Score (upstream scores only under the StorageCapacityScoring gate, off by default)

    public func preScore(_ state: CycleState, _ pod: PodInfo, _ nodes: [NodeInfo], _ snapshot: Snapshot) -> Status? {
        .skip
    }

    public func score(_ state: CycleState, _ pod: PodInfo, _ node: NodeInfo) -> Int64 { 0 }

    // MARK: Reserve

    public func reserve(_ state: CycleState, _ pod: PodInfo, node: String) -> Status? {
        guard let st = state.read(State.self) else {
            return .error("reading \"\(Self.name)\" from cycleState: not found")
        }
        guard let volumes = st.inner.withLock({ $0.podVolumesByNode[node] }) else {
            // The pod uses no claims.
            st.inner.withLock { $0.allBound = true }
            return nil
        }
        do {
            let (allBound, assumed) = try assumePodVolumes(pod.pod, node: node, volumes)
            st.inner.withLock { s in
                s.allBound = allBound
                s.podVolumesByNode[node] = assumed
            }
            return nil
        } catch {
            return .error(error.description)
        }
    }

    /// Upstream's `AssumePodVolumes`: nothing when every claim is bound; otherwise each chosen volume
    /// is assumed reserved for its claim and each claim to provision assumed to name the node.
    func assumePodVolumes(_ pod: CoreV1.Pod, node: String, _ volumes: PodVolumes) throws(VolumeError) -> (
        Bool, PodVolumes
    ) {
        if arePodVolumesBound(pod) { return (true, volumes) }
        var out = PodVolumes()
        do {
            for b in volumes.staticBindings {
                let (pv, dirty) = Self.bindVolumeToClaim(b.pv, b.pvc)
                if dirty { try pvCache.assume(pv) }
                out.staticBindings.append(Binding(pv: pv, pvc: b.pvc))
            }
            for claim in volumes.dynamicProvisions {
                var c = claim
                c.metadata.annotations[VolumeUtil.selectedNode] = node
                try pvcCache.assume(c)
                out.dynamicProvisions.append(c)
            }
        } catch {
            revert(out)
            throw error
        }
        return (false, out)
    }

    func arePodVolumesBound(_ pod: CoreV1.Pod) -> Bool {
        pod.spec.volumes.allSatisfy { v in (try? isVolumeBound(pod, v).0) ?? false }
    }

    /// The volume with its claimRef naming the claim (and marked bound by a controller when it was
    /// not reserved for the claim before); dirty when anything changed.
    static func bindVolumeToClaim(_ volume: CoreV1.PersistentVolume, _ claim: CoreV1.PersistentVolumeClaim) -> (
        CoreV1.PersistentVolume, Bool
    ) {
        var v = volume
        var dirty = false
        let wasBound = VolumeUtil.isVolumeBoundToClaim(volume, claim)
        let ref = volume.spec.claimRef
        if ref == nil || ref?.name != claim.metadata.name || ref?.namespace != claim.metadata.namespace
            || ref?.uid != claim.metadata.uid
        {
            v.spec.claimRef = CoreV1.ObjectReference(
                kind: "PersistentVolumeClaim", namespace: claim.metadata.namespace, name: claim.metadata.name,
                uid: claim.metadata.uid, apiVersion: "v1", resourceVersion: claim.metadata.resourceVersion)
            dirty = true
        }
        if !wasBound && v.metadata.annotations[VolumeUtil.boundByController] == nil {
            v.metadata.annotations[VolumeUtil.boundByController] = "yes"
            dirty = true
        }
        return (v, dirty)
    }

    public func unreserve(_ state: CycleState, _ pod: PodInfo, node: String) {
        guard let st = state.read(State.self), let volumes = st.inner.withLock({ $0.podVolumesByNode[node] }) else {
            return
        }
        revert(volumes)
    }

    func revert(_ volumes: PodVolumes) {
        for b in volumes.staticBindings { pvCache.restore(ObjectKey(namespace: "", name: b.pv.metadata.name)) }
        for c in volumes.dynamicProvisions { pvcCache.restore(ObjectKey(c.metadata)) }
    }

    // MARK: PreBind

    public func preBind(_ state: CycleState, _ pod: PodInfo, node: String) async -> Status? {
        guard let st = state.read(State.self) else {
            return .error("reading \"\(Self.name)\" from cycleState: not found")
        }
        let (allBound, found) = st.inner.withLock { ($0.allBound, $0.podVolumesByNode[node]) }
        if allBound { return nil }
        guard let volumes = found else { return .error("no pod volumes found for node \"\(node)\"") }
        do {
            try await bindPodVolumes(pod.pod, node: node, volumes)
            return nil
        } catch {
            return .error(error.description)
        }
    }

    /// Upstream's `BindPodVolumes`: the API writes, then a poll until the controller has bound every
    /// claim, or the bind timeout passes.
    func bindPodVolumes(_ pod: CoreV1.Pod, node: String, _ volumes: PodVolumes) async throws(VolumeError) {
        var bindings = volumes.staticBindings
        var provisions = volumes.dynamicProvisions
        try await bindAPIUpdate(&bindings, &provisions)
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: bindTimeout)
        while true {
            let remaining = clock.now.duration(to: deadline)
            if remaining <= .zero { throw VolumeError("binding volumes: context deadline exceeded") }
            do {
                try await Task.sleep(for: min(pollInterval, remaining))
            } catch {
                throw VolumeError("binding volumes: context canceled")
            }
            // Looked at once more after each wait, even a late one (a busy process may wake us
            // after the deadline, when the controller had long finished).
            do {
                if try checkBindings(pod, node: node, bindings, provisions) { return }
            } catch {
                throw VolumeError("binding volumes: \(error)")
            }
        }
    }

    /// Writes each volume's claimRef, then each provisioned claim's selected node; assumptions not yet
    /// written are dropped when a write fails.
    func bindAPIUpdate(_ bindings: inout [Binding], _ provisions: inout [CoreV1.PersistentVolumeClaim])
        async throws(VolumeError)
    {
        if bindings.isEmpty && provisions.isEmpty { return }
        guard let client else {
            revert(PodVolumes(staticBindings: bindings, dynamicProvisions: provisions))
            throw VolumeError("no client to bind volumes with")
        }
        var doneBindings = 0
        var doneProvisions = 0
        do {
            for i in bindings.indices {
                bindings[i].pv = try await client.update(bindings[i].pv)
                doneBindings += 1
            }
            for i in provisions.indices {
                provisions[i] = try await client.update(provisions[i])
                doneProvisions += 1
            }
        } catch {
            revert(
                PodVolumes(
                    staticBindings: Array(bindings[doneBindings...]),
                    dynamicProvisions: Array(provisions[doneProvisions...])))
            throw VolumeError("\(error)")
        }
    }

    /// Upstream's `checkBindings`, on the informer's objects: true when every claim written is bound;
    /// an error when binding cannot finish (the pod is gone, a claimRef was reset, provisioning gave
    /// up by clearing the selected node, a volume does not fit the node).
    func checkBindings(
        _ pod: CoreV1.Pod, node nodeName: String, _ bindings: [Binding], _ provisions: [CoreV1.PersistentVolumeClaim]
    ) throws(VolumeError) -> Bool {
        guard let node = listers.nodes.get(name: nodeName) else {
            throw VolumeError("failed to get node \"\(nodeName)\": \(VolumeUtil.notFound("node", nodeName))")
        }
        if listers.pods.get(namespace: pod.metadata.namespace, name: pod.metadata.name) == nil {
            throw VolumeError("pod does not exist any more: \(VolumeUtil.notFound("pods", pod.metadata.name))")
        }
        for b in bindings {
            guard let pv = pvCache.api(ObjectKey(namespace: "", name: b.pv.metadata.name)) else {
                throw VolumeError(
                    "failed to check binding: \(VolumeUtil.notFound("persistentvolume", b.pv.metadata.name))")
            }
            guard let pvc = pvcCache.api(ObjectKey(b.pvc.metadata)) else {
                throw VolumeError(
                    "failed to check binding: \(VolumeUtil.notFound("persistentvolumeclaim", b.pvc.metadata.name))")
            }
            // The informer has not caught up with the write yet.
            if VolumeUtil.resourceVersion(b.pv.metadata) > VolumeUtil.resourceVersion(pv.metadata) { return false }
            if !VolumeUtil.nodeAffinityMatches(pv, labels: node.metadata.labels) {
                throw VolumeError(
                    "pv \"\(pv.metadata.name)\" node affinity doesn't match node \"\(nodeName)\": no matching NodeSelectorTerms"
                )
            }
            guard let ref = pv.spec.claimRef, !ref.uid.isEmpty else {
                throw VolumeError("ClaimRef got reset for pv \"\(pv.metadata.name)\"")
            }
            if !VolumeUtil.isFullyBound(pvc) { return false }
        }
        for claim in provisions {
            guard let pvc = pvcCache.api(ObjectKey(claim.metadata)) else {
                throw VolumeError(
                    "failed to check provisioning pvc: \(VolumeUtil.notFound("persistentvolumeclaim", claim.metadata.name))"
                )
            }
            if VolumeUtil.resourceVersion(claim.metadata) > VolumeUtil.resourceVersion(pvc.metadata) { return false }
            if pvc.metadata.annotations.isEmpty {
                throw VolumeError("selectedNode annotation reset for PVC \"\(pvc.metadata.name)\"")
            }
            // A provisioner that gives up clears the annotation, so scheduling starts over.
            if pvc.metadata.annotations[VolumeUtil.selectedNode] != nodeName {
                throw VolumeError("provisioning failed for PVC \"\(pvc.metadata.name)\"")
            }
            if !pvc.spec.volumeName.isEmpty {
                guard let pv = pvCache.api(ObjectKey(namespace: "", name: pvc.spec.volumeName)) else { return false }
                if !VolumeUtil.nodeAffinityMatches(pv, labels: node.metadata.labels) {
                    throw VolumeError(
                        "pv \"\(pv.metadata.name)\" node affinity doesn't match node \"\(nodeName)\": no matching NodeSelectorTerms"
                    )
                }
            }
            if !VolumeUtil.isFullyBound(pvc) { return false }
        }
        return true
    }

    // MARK: events

    public func eventsToRegister() -> [ClusterEvent] {
        [
            ClusterEvent(.storageClass, [.add, .update]),
            ClusterEvent(.persistentVolumeClaim, [.add, .update]),
            ClusterEvent(.persistentVolume, [.add, .update]),
            ClusterEvent(.node, [.add, .updateNodeLabel]),
            ClusterEvent(.csiNode, [.add, .update]),
            ClusterEvent(.csiDriver, .update),
            ClusterEvent(.csiStorageCapacity, [.add, .update]),
        ]
    }
}
