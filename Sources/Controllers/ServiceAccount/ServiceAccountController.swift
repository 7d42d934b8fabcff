import APICore
import ControllerRuntime

/// Makes sure every active namespace has the `default` ServiceAccount (upstream's
/// serviceaccount-controller): created when a namespace appears, and again if it is deleted.
public final class ServiceAccountController: Controller {
    static let accounts = ["default"]
    let client: KubeClient
    let namespaces: ObjectStore<CoreV1.Namespace>
    let accountsStore: ObjectStore<CoreV1.ServiceAccount>
    let queue = WorkQueue<String>(name: "serviceaccount")
    let workers: Int

    public init(_ ctx: ControllerContext) {
        client = ctx.client
        workers = ctx.options.workers("serviceaccount-controller", default: 1)
        let nsInformer = ctx.informers.informer(CoreV1.Namespace.self)
        let saInformer = ctx.informers.informer(CoreV1.ServiceAccount.self)
        namespaces = nsInformer.store
        accountsStore = saInformer.store
        let queue = self.queue
        nsInformer.addHandler { e in
            switch e {
            case .added(let ns), .updated(_, let ns): queue.add(ns.metadata.name)
            case .deleted: break
            }
        }
        saInformer.addHandler { e in
            if case .deleted(let sa) = e, Self.accounts.contains(sa.metadata.name) { queue.add(sa.metadata.namespace) }
        }
    }

    /// The accounts a namespace lacks; none while it is being deleted.
    static func missing(namespace: CoreV1.Namespace?, existing: Set<String>) -> [String] {
        guard let ns = namespace, ns.metadata.deletionTimestamp == nil, ns.status.phase != "Terminating" else {
            return []
        }
        return accounts.filter { !existing.contains($0) }
    }

    func sync(_ ns: String) async throws {
        let existing = Set(accountsStore.list(namespace: ns).map(\.metadata.name))
        for name in Self.missing(namespace: namespaces.get(name: ns), existing: existing) {
            var sa = CoreV1.ServiceAccount()
            sa.metadata.name = name
            sa.metadata.namespace = ns
            do {
                _ = try await client.create(sa)
            } catch let e as StatusError where e.isAlreadyExists || e.isForbidden || e.isNotFound {
                // Created meanwhile, or the namespace is going away: nothing to do.
            }
        }
    }

    public func run() async { await queue.runWorkers(workers) { try await self.sync($0) } }
}
