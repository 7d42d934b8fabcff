import APIExtensions
import APIMachinery
import Foundation
import KubernetesAPI
import Synchronization

/// The custom resources this server serves, and the API server's own CRD controllers that decide
/// them (upstream's naming, establishing and finalizing controllers of apiextensions): a CRD's
/// names are accepted unless another CRD of its group holds them, it is Established once they
/// are, its resources are served from then on, and deleting it deletes them first.
final class CustomResources: @unchecked Sendable {
    static let cleanupFinalizer = "customresourcecleanup.apiextensions.k8s.io"
    static let crdResource = GroupResource(group: "apiextensions.k8s.io", resource: "customresourcedefinitions")

    struct Served {
        var crd: CRD
        var store: ResourceStore<CustomObject>
        var descriptions: [ResourceDescription]
    }

    struct State {
        var served: [GroupResource: Served] = [:]
        var byGVR: [GroupVersionResource: ResourceDescription] = [:]
        var terminating: Set<String> = []
        var cleaning: Set<String> = []
        /// Bumped whenever what is served changes (discovery and OpenAPI are rebuilt from it).
        var generation = 0
        var openAPI = CustomResourceOpenAPI.Published()
    }

    private let state = Mutex(State())
    private weak var server: ServerContext?
    private var task: Task<Void, Never>?
    /// Called after what is served changed (the router rebuilds discovery).
    var onChange: (@Sendable () -> Void)?

    init(server: ServerContext) { self.server = server }

    var crdStore: ResourceStore<CRD>? { server?.stores[Self.crdResource] as? ResourceStore<CRD> }

    // MARK: Lookups (request path)

    func resource(_ gvr: GroupVersionResource) -> ResourceDescription? { state.withLock { $0.byGVR[gvr] } }

    func handler(_ gr: GroupResource) -> (any ResourceHandler)? { state.withLock { $0.served[gr]?.store } }

    func isServed(_ gv: GroupVersion) -> Bool {
        state.withLock { s in s.byGVR.keys.contains { $0.group == gv.group && $0.version == gv.version } }
    }

    func isTerminating(_ crdName: String) -> Bool { state.withLock { $0.terminating.contains(crdName) } }

    /// What discovery lists: a terminating definition's resources keep only the verbs that still
    /// work (requests are routed by the full descriptions, so a create gets upstream's 405).
    var descriptions: [ResourceDescription] {
        state.withLock { s in
            s.served.values.flatMap { served in
                served.descriptions.map { d in
                    var d = d
                    if served.crd.metadata.deletionTimestamp != nil {
                        d.verbs = ["delete", "deletecollection", "get", "list", "watch"]
                    }
                    return d
                }
            }
        }
    }

    var servedCRDs: [CRD] { state.withLock { $0.served.values.map(\.crd) } }

    var generation: Int { state.withLock { $0.generation } }

    var openAPI: CustomResourceOpenAPI.Published { state.withLock { $0.openAPI } }

    // MARK: Controller

    /// Serves what the stored CRDs establish, then follows their changes.
    func start() async {
        guard let crds = crdStore else { return }
        let (id, start) = crds.cache.watch(from: nil, filter: .everything)
        guard case .stream(let events, _, _) = start else { return }
        await reconcile()
        task = Task.detached { [weak self] in
            defer { crds.cache.stopWatch(id) }
            var retry: Task<Void, Never>? = nil
            for await _ in events {
                guard let self else { return }
                retry?.cancel()
                if !(await self.reconcile()) {
                    // A write lost a race (another API server, a client): look again shortly.
                    retry = Task { [weak self] in
                        try? await Task.sleep(for: .seconds(1))
                        if !Task.isCancelled { await self?.reconcile() }
                    }
                }
            }
        }
    }

    func stop() { task?.cancel() }

    /// One pass over every CRD: status, serving, cleanup. False when something must be retried.
    @discardableResult
    func reconcile() async -> Bool {
        guard let server, let crdStore else { return true }
        var ok = true
        // Oldest first, each seeing the names the ones before it were given (as upstream's
        // naming controller, one CRD at a time): of two CRDs asking for one name, the first wins.
        var known = crdStore.cache.snapshot(.everything).items.map(\.object).sorted {
            ($0.metadata.creationTimestamp?.seconds ?? 0, $0.metadata.name)
                < ($1.metadata.creationTimestamp?.seconds ?? 0, $1.metadata.name)
        }
        let stored = known
        for i in known.indices { known[i].status = Self.desiredStatus(known[i], others: known) }
        // Serve what is established, with the names it was accepted under — before the status
        // saying so is written, so a client that sees Established finds the resource served.
        let current = known
        var changed = false
        var wantedGRs: Set<GroupResource> = []
        for crd in current where Self.isEstablished(crd) {
            let gr = GroupResource(group: crd.spec.group, resource: crd.status.acceptedNames.plural)
            wantedGRs.insert(gr)
            let existing = state.withLock { $0.served[gr] }
            let terminating = crd.metadata.deletionTimestamp != nil
            state.withLock { s in
                if terminating {
                    s.terminating.insert(crd.metadata.name)
                } else {
                    s.terminating.remove(crd.metadata.name)
                }
            }
            if let existing, existing.crd.spec == crd.spec,
                existing.crd.status.acceptedNames == crd.status.acceptedNames,
                existing.crd.metadata.uid == crd.metadata.uid
            {
                if terminating && existing.crd.metadata.deletionTimestamp == nil {
                    // Same store; discovery now lists the verbs a terminating resource keeps.
                    let descs = crd.spec.versions.filter(\.served).map { CustomResourceServing.description(crd, $0) }
                    state.withLock { s in
                        s.served[gr]?.crd = crd
                        s.served[gr]?.descriptions = descs
                        for d in descs { s.byGVR[d.groupVersionResource] = d }
                    }
                    changed = true
                }
                continue
            }
            guard let store = CustomResourceServing.makeStore(crd, server: server) else { continue }
            do {
                try await server.feeder.attach(store.cache)
            } catch {
                ok = false
                continue
            }
            let descs = crd.spec.versions.filter(\.served).map { CustomResourceServing.description(crd, $0) }
            state.withLock { s in
                if let old = s.served[gr] { for d in old.descriptions { s.byGVR[d.groupVersionResource] = nil } }
                s.served[gr] = Served(crd: crd, store: store, descriptions: descs)
                for d in descs { s.byGVR[d.groupVersionResource] = d }
            }
            changed = true
        }
        let gone = state.withLock { s -> [Served] in
            let stale = s.served.filter { !wantedGRs.contains($0.key) }
            for (gr, old) in stale {
                s.served[gr] = nil
                for d in old.descriptions { s.byGVR[d.groupVersionResource] = nil }
            }
            return Array(stale.values)
        }
        for old in gone {
            // Another established CRD may serve the same prefix now (same group and plural).
            if !state.withLock({ s in s.served.values.contains { $0.store.keyPrefix == old.store.keyPrefix } }) {
                server.feeder.detach(old.store.keyPrefix)
            }
            changed = true
        }
        if changed {
            let crds = servedCRDs
            state.withLock { s in
                s.generation += 1
                s.openAPI = CustomResourceOpenAPI.build(crds, generation: s.generation)
            }
            onChange?()
        }
        for (i, crd) in stored.enumerated() where known[i].status != crd.status {
            let others = known
            do {
                _ = try await crdStore.updateObject(namespace: "", name: crd.metadata.name, subresource: "status") {
                    current in
                    var c = current
                    c.status = Self.desiredStatus(current, others: others)
                    return c
                }
            } catch {
                ok = false
            }
        }
        for crd in current where crd.metadata.deletionTimestamp != nil {
            startCleanup(crd)
        }
        return ok
    }

    /// Deletes a terminating CRD's objects, then releases its finalizer (deleting the CRD).
    func startCleanup(_ crd: CRD) {
        let name = crd.metadata.name
        let begin = state.withLock { s -> Bool in
            if s.cleaning.contains(name) { return false }
            s.cleaning.insert(name)
            return true
        }
        guard begin, let crdStore else { return }
        let gr = GroupResource(group: crd.spec.group, resource: crd.status.acceptedNames.plural)
        Task.detached { [weak self] in
            defer { self?.state.withLock { _ = $0.cleaning.remove(name) } }
            guard let self else { return }
            func setTerminating(_ reason: String, _ message: String, status: String = "True") async {
                do {
                    _ = try await crdStore.updateObject(namespace: "", name: name, subresource: "status") { cur in
                        var c = cur
                        Self.setCondition(&c.status, "Terminating", status, reason, message)
                        return c
                    }
                } catch {
                    FileHandle.standardError.write(Data("crd \(name): setting Terminating: \(error)\n".utf8))
                }
            }
            if crd.metadata.finalizers.contains(Self.cleanupFinalizer) {
                if let store = self.state.withLock({ $0.served[gr]?.store }) {
                    await setTerminating("InstanceDeletionInProgress", "CustomResource deletion is in progress")
                    var remaining = 1
                    for attempt in 0..<600 {
                        let items = store.cache.snapshot(.everything).items
                        remaining = items.count
                        if remaining == 0 { break }
                        for item in items where item.object.metadata.deletionTimestamp == nil || attempt == 0 {
                            _ = try? await store.deleteObject(
                                namespace: item.namespace, name: item.name, options: MetaV1.DeleteOptions())
                        }
                        try? await Task.sleep(for: .milliseconds(attempt < 20 ? 100 : 1000))
                    }
                    if remaining > 0 {
                        await setTerminating(
                            "InstanceDeletionCheck",
                            "could not confirm zero CustomResources remaining: timed out waiting for the condition")
                        return
                    }
                    await setTerminating("InstanceDeletionCompleted", "removed all instances", status: "False")
                } else {
                    await setTerminating("NeverEstablished", "resource was never established", status: "False")
                }
                _ = try? await crdStore.updateObject(namespace: "", name: name, subresource: "") { cur in
                    var c = cur
                    c.metadata.finalizers.removeAll { $0 == Self.cleanupFinalizer }
                    return c
                }
            }
        }
    }

    // MARK: Status (pure)

    static func isEstablished(_ crd: CRD) -> Bool {
        crd.status.conditions.contains { $0.type == "Established" && $0.status == "True" }
    }

    /// The status the controllers want for `crd`: names accepted unless another CRD of the group
    /// holds them, Established once accepted, the storage version recorded.
    static func desiredStatus(_ crd: CRD, others: [CRD]) -> APIExtensionsV1.CustomResourceDefinitionStatus {
        var status = crd.status
        let (accepted, conflict) = acceptedNames(crd, others: others)
        status.acceptedNames = accepted
        if let (reason, message) = conflict {
            setCondition(&status, "NamesAccepted", "False", reason, message)
            if !status.conditions.contains(where: { $0.type == "Established" }) {
                setCondition(&status, "Established", "False", "NotAccepted", "not all names are accepted")
            }
        } else {
            setCondition(&status, "NamesAccepted", "True", "NoConflicts", "no conflicts found")
        }
        if conflict == nil && !isEstablished(crd) && crd.metadata.deletionTimestamp == nil {
            setCondition(&status, "Established", "True", "InitialNamesAccepted", "the initial names have been accepted")
        }
        let storage = CustomResourceServing.storageVersion(crd)
        if !storage.isEmpty && !status.storedVersions.contains(storage) { status.storedVersions.append(storage) }
        return status
    }

    /// The names a CRD may use: each requested name unless another CRD of the same group has
    /// accepted it (then the name it had keeps being used), and the first conflict found.
    static func acceptedNames(_ crd: CRD, others: [CRD]) -> (
        APIExtensionsV1.CustomResourceDefinitionNames, (reason: String, message: String)?
    ) {
        let requested = crd.spec.names
        var accepted = crd.status.acceptedNames
        var taken:
            (plural: Set<String>, singular: Set<String>, short: Set<String>, kind: Set<String>, list: Set<String>) =
                ([], [], [], [], [])
        for o in others where o.metadata.uid != crd.metadata.uid && o.spec.group == crd.spec.group {
            let n = o.status.acceptedNames
            if !n.plural.isEmpty { taken.plural.insert(n.plural) }
            if !n.singular.isEmpty { taken.singular.insert(n.singular) }
            taken.short.formUnion(n.shortNames)
            if !n.kind.isEmpty { taken.kind.insert(n.kind) }
            if !n.listKind.isEmpty { taken.list.insert(n.listKind) }
        }
        var conflict: (reason: String, message: String)? = nil
        func note(_ reason: String, _ name: String) {
            if conflict == nil { conflict = (reason, "\"\(name)\" is already in use") }
        }
        let all = taken.plural.union(taken.singular).union(taken.short)
        if taken.plural.contains(requested.plural) || taken.singular.contains(requested.plural) {
            note("PluralConflict", requested.plural)
        } else {
            accepted.plural = requested.plural
        }
        let singular = requested.singular.isEmpty ? requested.kind.lowercased() : requested.singular
        if taken.plural.contains(singular) || taken.singular.contains(singular) {
            note("SingularConflict", singular)
        } else {
            accepted.singular = singular
        }
        if let s = requested.shortNames.first(where: { all.contains($0) }) {
            note("ShortNamesConflict", s)
        } else {
            accepted.shortNames = requested.shortNames
        }
        if taken.kind.contains(requested.kind) || taken.list.contains(requested.kind) {
            note("KindConflict", requested.kind)
        } else {
            accepted.kind = requested.kind
        }
        let listKind = requested.listKind.isEmpty ? requested.kind + "List" : requested.listKind
        if taken.kind.contains(listKind) || taken.list.contains(listKind) {
            note("ListKindConflict", listKind)
        } else {
            accepted.listKind = listKind
        }
        accepted.categories = requested.categories
        return (accepted, conflict)
    }

    static func setCondition(
        _ status: inout APIExtensionsV1.CustomResourceDefinitionStatus, _ type: String, _ value: String,
        _ reason: String, _ message: String
    ) {
        if let i = status.conditions.firstIndex(where: { $0.type == type }) {
            let c = status.conditions[i]
            if c.status == value && c.reason == reason && c.message == message { return }
            status.conditions[i].reason = reason
            status.conditions[i].message = message
            if c.status != value {
                status.conditions[i].status = value
                status.conditions[i].lastTransitionTime = Time(seconds: Int64(Date().timeIntervalSince1970))
            }
        } else {
            status.conditions.append(
                APIExtensionsV1.CustomResourceDefinitionCondition(
                    type: type, status: value, lastTransitionTime: Time(seconds: Int64(Date().timeIntervalSince1970)),
                    reason: reason, message: message))
        }
    }
}
