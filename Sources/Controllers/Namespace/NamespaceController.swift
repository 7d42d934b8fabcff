import APICore
import APIMachinery
import ControllerRuntime
import Foundation

/// Empties namespaces being deleted (upstream's namespace-controller): every namespaced resource that
/// discovery lists, custom resources included, is deleted (a collection at a time where the resource
/// allows it); the namespace reports progress in its deletion conditions; when nothing is left, the
/// `kubernetes` finalizer is removed and the API server deletes the namespace.
public final class NamespaceController: Controller {
    static let finalizer = "kubernetes"
    let client: KubeClient
    let namespaces: ObjectStore<CoreV1.Namespace>
    let queue = WorkQueue<String>(limiter: ControllerRateLimiter(base: .milliseconds(5), cap: .seconds(60)))
    let workers: Int

    public init(_ ctx: ControllerContext) {
        client = ctx.client
        workers = ctx.options.workers("namespace-controller", default: 10)
        let informer = ctx.informers.informer(CoreV1.Namespace.self)
        namespaces = informer.store
        let queue = self.queue
        informer.addHandler { e in
            switch e {
            case .added(let ns), .updated(_, let ns):
                if ns.metadata.deletionTimestamp != nil { queue.add(ns.metadata.name) }
            case .deleted: break
            }
        }
    }

    /// What deleting the content found.
    struct Progress: Equatable {
        var discoveryFailed: String?
        var deletionFailures: [String] = []
        /// Remaining objects per `resource.group`.
        var remaining: [String: Int] = [:]
        /// Remaining objects per finalizer.
        var finalizers: [String: Int] = [:]
    }

    /// The deletion conditions upstream's namespace controller reports, from what it found.
    static func conditions(_ p: Progress, now: Time) -> [CoreV1.NamespaceCondition] {
        func c(_ type: String, _ failed: Bool, _ badReason: String, _ goodReason: String, _ message: String)
            -> CoreV1.NamespaceCondition
        {
            CoreV1.NamespaceCondition(
                type: type, status: failed ? "True" : "False", lastTransitionTime: now,
                reason: failed ? badReason : goodReason, message: message)
        }
        let remaining = p.remaining.sorted { $0.key < $1.key }
        let finalizers = p.finalizers.sorted { $0.key < $1.key }
        return [
            c(
                "NamespaceDeletionDiscoveryFailure", p.discoveryFailed != nil, "DiscoveryFailed", "ResourcesDiscovered",
                p.discoveryFailed.map { "Discovery failed for some groups: \($0)" }
                    ?? "All resources successfully discovered"),
            c(
                "NamespaceDeletionGroupVersionParsingFailure", false, "GroupVersionParsingFailed",
                "ParsedGroupVersions",
                "All legacy kube types successfully parsed"),
            c(
                "NamespaceDeletionContentFailure", !p.deletionFailures.isEmpty, "ContentDeletionFailed",
                "ContentDeleted",
                p.deletionFailures.isEmpty
                    ? "All content successfully deleted, may be waiting on finalization"
                    : "Failed to delete all resource types, \(p.deletionFailures.count) remaining: \(p.deletionFailures.joined(separator: ", "))"
            ),
            c(
                "NamespaceContentRemaining", !remaining.isEmpty, "SomeResourcesRemain", "ContentRemoved",
                remaining.isEmpty
                    ? "All content successfully removed"
                    : "Some resources are remaining: "
                        + remaining.map { "\($0.key) has \($0.value) resource instances" }.joined(separator: ", ")),
            c(
                "NamespaceFinalizersRemaining", !finalizers.isEmpty, "SomeFinalizersRemain", "ContentHasNoFinalizers",
                finalizers.isEmpty
                    ? "All content-preserving finalizers finished"
                    : "Some content in the namespace has finalizers remaining: "
                        + finalizers.map { "\($0.key) in \($0.value) resource instances" }.joined(separator: ", ")),
        ]
    }

    /// Conditions merged as upstream does: a condition keeps its transition time while its status holds.
    static func merge(_ old: [CoreV1.NamespaceCondition], _ new: [CoreV1.NamespaceCondition]) -> [CoreV1
        .NamespaceCondition]
    {
        var out = old.filter { o in !new.contains { $0.type == o.type } }
        for var n in new {
            if let o = old.first(where: { $0.type == n.type }), o.status == n.status {
                n.lastTransitionTime = o.lastTransitionTime
            }
            out.append(n)
        }
        return out
    }

    func sync(_ name: String) async throws {
        var ns: CoreV1.Namespace
        do {
            ns = try await client.get(CoreV1.Namespace.self, name)
        } catch let e as StatusError where e.isNotFound { return }
        guard ns.metadata.deletionTimestamp != nil else { return }
        guard ns.spec.finalizers.contains(Self.finalizer) else { return }
        if ns.status.phase != "Terminating" {
            ns.status.phase = "Terminating"
            ns = try await client.updateStatus(ns)
        }
        let progress = await deleteContent(name)
        let conditions = Self.merge(ns.status.conditions, Self.conditions(progress, now: Time(Date())))
        if conditions.map({ [$0.type, $0.status, $0.reason, $0.message] })
            != ns.status.conditions.map({ [$0.type, $0.status, $0.reason, $0.message] })
        {
            ns.status.conditions = conditions
            do { ns = try await client.updateStatus(ns) } catch let e as StatusError where e.isConflict {
                ns = try await client.get(CoreV1.Namespace.self, name)
            }
        }
        if progress.discoveryFailed != nil || !progress.deletionFailures.isEmpty || !progress.remaining.isEmpty {
            throw ContentRemaining()
        }
        // Nothing left: give the namespace back to the API server without our finalizer.
        for _ in 0..<5 {
            ns.spec.finalizers.removeAll { $0 == Self.finalizer }
            do {
                _ = try await client.update(ns, subresource: "finalize")
                return
            } catch let e as StatusError where e.isConflict {
                ns = try await client.get(CoreV1.Namespace.self, name)
            } catch let e as StatusError where e.isNotFound { return }
        }
    }

    struct ContentRemaining: Error {}

    /// Deletes every namespaced resource's objects in the namespace; answers what is left.
    func deleteContent(_ ns: String) async -> Progress {
        var p = Progress()
        let resources: [DiscoveredResource]
        do {
            resources = try await client.discoverResources(preferredOnly: true)
        } catch {
            p.discoveryFailed = "\(error)"
            return p
        }
        let targets = resources.filter { $0.namespaced && $0.verbs.contains("list") && $0.verbs.contains("delete") }
        await withTaskGroup(of: (String, failed: Bool, remaining: [MetaV1.PartialObjectMetadata]).self) { group in
            for r in targets {
                group.addTask {
                    let loc = ResourceLocation(
                        group: r.group, version: r.version, resource: r.resource, namespaced: true)
                    let label = r.group.isEmpty ? r.resource : "\(r.resource).\(r.group)"
                    var failed = false
                    do {
                        if r.verbs.contains("deletecollection") {
                            try await self.client.deleteCollectionDynamic(
                                loc.groupVersionResource, namespaced: true, namespace: ns, options: .background)
                        } else {
                            let items = try await self.client.listAll(
                                MetaV1.PartialObjectMetadata.self, at: loc, namespace: ns, accept: MetadataAccept.list)
                            for i in items.items where i.metadata.deletionTimestamp == nil {
                                try? await self.client.deleteDynamic(
                                    loc.groupVersionResource, namespaced: true, namespace: ns, name: i.metadata.name,
                                    options: .background)
                            }
                        }
                    } catch let e as StatusError where e.isNotFound || e.code == 405 {
                        // Gone from the server meanwhile, or not deletable after all.
                    } catch {
                        failed = true
                    }
                    let left =
                        (try? await self.client.listAll(
                            MetaV1.PartialObjectMetadata.self, at: loc, namespace: ns, accept: MetadataAccept.list
                        ).items)
                        ?? []
                    return (label, failed, left)
                }
            }
            for await (label, failed, left) in group {
                if failed { p.deletionFailures.append(label) }
                if !left.isEmpty { p.remaining[label] = left.count }
                for o in left { for f in o.metadata.finalizers { p.finalizers[f, default: 0] += 1 } }
            }
        }
        p.deletionFailures.sort()
        return p
    }

    public func run() async { await queue.runWorkers(workers) { try await self.sync($0) } }
}
