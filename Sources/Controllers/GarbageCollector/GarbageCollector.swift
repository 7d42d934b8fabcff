import APICore
import APIMachinery
import ControllerRuntime
import Foundation
import Synchronization

/// The owner-reference graph across every resource, and upstream's garbage-collector decisions:
/// dependents whose owners are all gone are deleted (background); owners deleted in the foreground
/// wait for their blocking dependents; owners deleted with the `orphan` finalizer have their
/// dependents' references removed first.
public final class GarbageCollector: Controller {
    struct Node: Sendable {
        var uid: String
        var location: ResourceLocation
        var kind: String
        var apiVersion: String
        var namespace: String
        var name: String
        var owners: [MetaV1.OwnerReference]
        var deleting: Bool
        var finalizers: [String]
    }

    enum Work: Hashable, Sendable {
        case attemptToDelete(String)
        case orphan(String)
    }

    struct Graph {
        var nodes: [String: Node] = [:]
        var dependents: [String: Set<String>] = [:]
        /// Owners confirmed absent by a live read (upstream's absentOwnerCache).
        var absent: Set<String> = []
    }

    static let ignored: Set<GroupResource> = [
        GroupResource(group: "", resource: "events"), GroupResource(group: "events.k8s.io", resource: "events"),
    ]

    let client: KubeClient
    let ctx: ControllerContext
    let graph = Mutex(Graph())
    let queue = WorkQueue<Work>(name: "garbage_collector_attempt_to_delete")
    let workers: Int
    let kinds = Mutex<[String: ResourceLocation]>([:])
    let kindByLocation = Mutex<[ResourceLocation: String]>([:])
    let watched = Mutex<Set<ResourceLocation>>([])
    let recorder: EventRecorder

    public init(_ ctx: ControllerContext) {
        self.ctx = ctx
        client = ctx.client
        workers = ctx.options.workers("garbage-collector-controller", default: 20)
        recorder = ctx.recorder("garbage-collector-controller")
    }

    // MARK: graph

    func observe(_ location: ResourceLocation, _ e: InformerEvent<MetaV1.PartialObjectMetadata>) {
        switch e {
        case .added(let o), .updated(_, let o):
            let m = o.metadata
            let node = Node(
                uid: m.uid, location: location, kind: kind(of: location), apiVersion: apiVersion(location),
                namespace: m.namespace, name: m.name, owners: m.ownerReferences, deleting: m.deletionTimestamp != nil,
                finalizers: m.finalizers)
            let previous: Node? = graph.withLock { g in
                let old = g.nodes.updateValue(node, forKey: m.uid)
                for r in old?.owners ?? [] where !m.ownerReferences.contains(where: { $0.uid == r.uid }) {
                    g.dependents[r.uid]?.remove(m.uid)
                }
                for r in m.ownerReferences { g.dependents[r.uid, default: []].insert(m.uid) }
                return old
            }
            if !node.owners.isEmpty && (previous == nil || previous!.owners != node.owners) {
                queue.add(.attemptToDelete(m.uid))
            }
            if node.deleting {
                if node.finalizers.contains("orphan") { queue.add(.orphan(m.uid)) }
                if node.finalizers.contains("foregroundDeletion") { queue.add(.attemptToDelete(m.uid)) }
            }
            // An owner that turns up or changes may unblock or settle its dependents.
            if previous?.deleting != node.deleting {
                for d in graph.withLock({ $0.dependents[m.uid] ?? [] }) { queue.add(.attemptToDelete(d)) }
            }
        case .deleted(let o):
            let m = o.metadata
            let deps: Set<String> = graph.withLock { g in
                guard let old = g.nodes.removeValue(forKey: m.uid) else { return [] }
                for r in old.owners { g.dependents[r.uid]?.remove(m.uid) }
                // Its dependents (and any owner waiting on it) need another look.
                var out = g.dependents[m.uid] ?? []
                for r in old.owners { out.insert(r.uid) }
                return out
            }
            for d in deps { queue.add(.attemptToDelete(d)) }
        }
    }

    func kind(of l: ResourceLocation) -> String { kindByLocation.withLock { $0[l] ?? "" } }

    func apiVersion(_ l: ResourceLocation) -> String { l.group.isEmpty ? l.version : "\(l.group)/\(l.version)" }

    /// The resource serving an owner reference's kind.
    func location(apiVersion: String, kind: String) -> ResourceLocation? {
        guard let gv = GroupVersion(apiVersion: apiVersion) else { return nil }
        return kinds.withLock { k in
            k["\(gv.group)|\(gv.version)|\(kind)"]
                ?? k.first { $0.key.hasPrefix("\(gv.group)|") && $0.key.hasSuffix("|\(kind)") }?.value
        }
    }

    // MARK: decisions

    enum OwnerState { case solid, dangling, waitingForDependents }

    /// Whether an owner exists as referenced: the graph first, then a live read (its answer cached when
    /// the owner is absent).
    func ownerState(_ ref: MetaV1.OwnerReference, dependent: Node) async throws -> OwnerState? {
        if let n = graph.withLock({ $0.nodes[ref.uid] }) {
            if n.deleting && n.finalizers.contains("foregroundDeletion") { return .waitingForDependents }
            return .solid
        }
        if graph.withLock({ $0.absent.contains(ref.uid) }) { return .dangling }
        guard let loc = location(apiVersion: ref.apiVersion, kind: ref.kind) else { return nil }
        // A cluster-scoped dependent cannot have a namespaced owner: such a reference is dangling.
        if loc.namespaced && dependent.namespace.isEmpty {
            recorder.record(
                reference(dependent), type: "Warning", reason: "OwnerRefInvalidNamespace", action: "",
                note:
                    "ownerRef [\(ref.apiVersion)/\(ref.kind), namespace: , name: \(ref.name), uid: \(ref.uid)] does not exist in namespace \"\""
            )
            graph.withLock { _ = $0.absent.insert(ref.uid) }
            return .dangling
        }
        do {
            let owner = try await client.getDynamic(
                loc.groupVersionResource, namespaced: loc.namespaced, namespace: dependent.namespace, name: ref.name)
            if owner["metadata"]?["uid"]?.stringValue != ref.uid {
                graph.withLock { _ = $0.absent.insert(ref.uid) }
                return .dangling
            }
            let finalizers =
                (owner["metadata"]?["finalizers"]).flatMap { v -> [String]? in
                    if case .array(let a) = v { return a.compactMap(\.stringValue) }
                    return nil
                } ?? []
            if owner["metadata"]?["deletionTimestamp"] != nil && finalizers.contains("foregroundDeletion") {
                return .waitingForDependents
            }
            return .solid
        } catch let e as StatusError where e.isNotFound {
            graph.withLock { _ = $0.absent.insert(ref.uid) }
            return .dangling
        }
    }

    func reference(_ n: Node) -> CoreV1.ObjectReference {
        CoreV1.ObjectReference(kind: n.kind, namespace: n.namespace, name: n.name, uid: n.uid, apiVersion: n.apiVersion)
    }

    func attemptToDelete(_ uid: String) async throws {
        guard let node = graph.withLock({ $0.nodes[uid] }) else { return }
        if node.deleting {
            if node.finalizers.contains("foregroundDeletion") { try await processDeletingDependents(node) }
            return
        }
        guard !node.owners.isEmpty else { return }
        var solid: [MetaV1.OwnerReference] = []
        var dangling: [MetaV1.OwnerReference] = []
        var waiting: [MetaV1.OwnerReference] = []
        for ref in node.owners {
            switch try await ownerState(ref, dependent: node) {
            case .solid?: solid.append(ref)
            case .dangling?: dangling.append(ref)
            case .waitingForDependents?: waiting.append(ref)
            case nil: solid.append(ref)  // An owner of a kind we cannot resolve is never assumed gone.
            }
        }
        let hasDependents = !(graph.withLock { $0.dependents[uid] ?? [] }).isEmpty
        if !solid.isEmpty {
            guard !dangling.isEmpty || !waiting.isEmpty else { return }
            // Keep the object; drop references to owners that are gone, and stop blocking owners that
            // wait for their dependents.
            var refs = node.owners.filter { r in !dangling.contains { $0.uid == r.uid } }
            for i in refs.indices where waiting.contains(where: { $0.uid == refs[i].uid }) {
                refs[i].blockOwnerDeletion = false
            }
            try await patchOwners(node, refs)
            return
        }
        let policy: String
        if !waiting.isEmpty && hasDependents {
            policy = "Foreground"
        } else if node.finalizers.contains("orphan") {
            policy = "Orphan"
        } else if node.finalizers.contains("foregroundDeletion") {
            policy = "Foreground"
        } else {
            policy = "Background"
        }
        do {
            try await client.deleteDynamic(
                node.location.groupVersionResource, namespaced: node.location.namespaced, namespace: node.namespace,
                name: node.name, options: DeleteOptions(propagationPolicy: policy, preconditionUID: uid))
        } catch let e as StatusError where e.isNotFound || e.isConflict {}
    }

    /// An owner deleted in the foreground: delete its blocking dependents, and once none is left,
    /// remove its `foregroundDeletion` finalizer.
    func processDeletingDependents(_ owner: Node) async throws {
        let deps = graph.withLock { g in (g.dependents[owner.uid] ?? []).compactMap { g.nodes[$0] } }
        let blocking = deps.filter { d in
            d.owners.contains { $0.uid == owner.uid && $0.blockOwnerDeletion == true }
        }
        if blocking.isEmpty {
            try await removeFinalizer(owner, "foregroundDeletion")
            return
        }
        for d in blocking where !d.deleting {
            let grandchildren = !(graph.withLock { $0.dependents[d.uid] ?? [] }).isEmpty
            do {
                try await client.deleteDynamic(
                    d.location.groupVersionResource, namespaced: d.location.namespaced, namespace: d.namespace,
                    name: d.name,
                    options: DeleteOptions(
                        propagationPolicy: grandchildren ? "Foreground" : "Background", preconditionUID: d.uid))
            } catch let e as StatusError where e.isNotFound || e.isConflict {}
        }
    }

    /// An owner deleted with the `orphan` finalizer: its dependents lose their reference to it, then the
    /// finalizer goes.
    func orphan(_ uid: String) async throws {
        guard let owner = graph.withLock({ $0.nodes[uid] }), owner.deleting, owner.finalizers.contains("orphan") else {
            return
        }
        let deps = graph.withLock { g in (g.dependents[uid] ?? []).compactMap { g.nodes[$0] } }
        for d in deps {
            do {
                _ = try await client.patchDynamic(
                    d.location.groupVersionResource, namespaced: d.location.namespaced, namespace: d.namespace,
                    name: d.name, type: .merge,
                    body: Self.ownerRefsPatch(d.owners.filter { $0.uid != uid }, uid: d.uid))
            } catch let e as StatusError where e.isNotFound {}
        }
        try await removeFinalizer(owner, "orphan")
    }

    static func ownerRefsPatch(_ refs: [MetaV1.OwnerReference], uid: String) -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.key("metadata")
        w.beginObject()
        w.key("ownerReferences")
        if refs.isEmpty {
            w.null()
        } else {
            w.beginArray()
            for r in refs { r.encodeJSON(&w) }
            w.endArray()
        }
        w.key("uid")
        w.string(uid)
        w.endObject()
        w.endObject()
        return w.bytes
    }

    func patchOwners(_ n: Node, _ refs: [MetaV1.OwnerReference]) async throws {
        do {
            _ = try await client.patchDynamic(
                n.location.groupVersionResource, namespaced: n.location.namespaced, namespace: n.namespace,
                name: n.name, type: .merge, body: Self.ownerRefsPatch(refs, uid: n.uid))
        } catch let e as StatusError where e.isNotFound {}
    }

    func removeFinalizer(_ n: Node, _ finalizer: String) async throws {
        // Read fresh: the finalizer list must be written against the current version.
        for _ in 0..<5 {
            let obj: JSONValue
            do {
                obj = try await client.getDynamic(
                    n.location.groupVersionResource, namespaced: n.location.namespaced, namespace: n.namespace,
                    name: n.name)
            } catch let e as StatusError where e.isNotFound { return }
            guard obj["metadata"]?["uid"]?.stringValue == n.uid else { return }
            var finalizers: [String] = []
            if case .array(let a)? = obj["metadata"]?["finalizers"] { finalizers = a.compactMap(\.stringValue) }
            guard finalizers.contains(finalizer) else { return }
            let rest = finalizers.filter { $0 != finalizer }
            let body = FinalizerPatch.body(
                rest, resourceVersion: obj["metadata"]?["resourceVersion"]?.stringValue ?? "")
            do {
                _ = try await client.patchDynamic(
                    n.location.groupVersionResource, namespaced: n.location.namespaced, namespace: n.namespace,
                    name: n.name, type: .merge, body: body)
                return
            } catch let e as StatusError where e.isConflict {
                continue
            } catch let e as StatusError where e.isNotFound { return }
        }
    }

    // MARK: running

    /// Starts a metadata informer for every deletable, watchable resource; new ones (custom resources)
    /// are picked up on each rediscovery.
    func discover() async {
        guard let resources = try? await client.discoverResources(preferredOnly: true) else { return }
        var fresh: [ResourceLocation] = []
        kinds.withLock { k in
            for r in resources {
                let loc = ResourceLocation(
                    group: r.group, version: r.version, resource: r.resource, namespaced: r.namespaced)
                k["\(r.group)|\(r.version)|\(r.kind)"] = loc
            }
        }
        // Every served version resolves a kind, not only the preferred one.
        if let all = try? await client.discoverResources(preferredOnly: false) {
            kinds.withLock { k in
                for r in all where k["\(r.group)|\(r.version)|\(r.kind)"] == nil {
                    k["\(r.group)|\(r.version)|\(r.kind)"] = ResourceLocation(
                        group: r.group, version: r.version, resource: r.resource, namespaced: r.namespaced)
                }
            }
        }
        for r in resources
        where Set(["list", "watch", "delete"]).isSubset(of: r.verbs)
            && !Self.ignored.contains(GroupResource(group: r.group, resource: r.resource))
        {
            let loc = ResourceLocation(
                group: r.group, version: r.version, resource: r.resource, namespaced: r.namespaced)
            kindByLocation.withLock { $0[loc] = r.kind }
            if watched.withLock({ $0.insert(loc).inserted }) { fresh.append(loc) }
        }
        for loc in fresh {
            ctx.informers.metadataInformer(loc).addHandler { [weak self] e in self?.observe(loc, e) }
        }
    }

    public func run() async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                while !Task.isCancelled {
                    await self.discover()
                    try? await Task.sleep(for: .seconds(30))
                }
            }
            group.addTask {
                await self.queue.runWorkers(self.workers) { work in
                    switch work {
                    case .attemptToDelete(let uid): try await self.attemptToDelete(uid)
                    case .orphan(let uid): try await self.orphan(uid)
                    }
                }
            }
            await group.waitForAll()
        }
    }
}
