import APIMachinery
import KubeClient
import Synchronization

/// Shared informers: one per kind, however many controllers ask for it, so each resource is
/// listed and watched once. Their caches leave out `managedFields` unless told to keep them.
public final class InformerFactory: Sendable {
    public let client: KubeClient
    let informers = Mutex<[ObjectIdentifier: any Sendable]>([:])
    let tasks = Mutex<[Task<Void, Never>]>([])
    let started = Mutex(false)
    let extra = Mutex<[any InformerRunning]>([])
    let metadata = Mutex<[ResourceLocation: Informer<MetaV1.PartialObjectMetadata>]>([:])

    /// Whether cached objects keep `metadata.managedFields` (only server-side apply tooling reads them).
    let keepManagedFields: Bool

    public init(client: KubeClient, keepManagedFields: Bool = false) {
        self.client = client
        self.keepManagedFields = keepManagedFields
    }

    /// The shared informer of a kind across all namespaces; started at once if the factory runs.
    public func informer<T: KubeObject>(_: T.Type) -> Informer<T> {
        let (inf, isNew): (Informer<T>, Bool) = informers.withLock { m in
            if let i = m[ObjectIdentifier(T.self)] as? Informer<T> { return (i, false) }
            let i = Informer<T>(client: client, transform: keepManagedFields ? nil : Informer<T>.stripManagedFields)
            m[ObjectIdentifier(T.self)] = i
            return (i, true)
        }
        if isNew && started.withLock({ $0 }) { launch(inf) }
        return inf
    }

    /// Runs an informer the factory did not make (one per resource location, e.g. metadata informers)
    /// with the others: now if the factory runs, else when it starts.
    public func adopt<T: KubeObject>(_ i: Informer<T>) {
        let now: Bool = started.withLock { s in
            if !s { extra.withLock { $0.append(i) } }
            return s
        }
        if now { launch(i) }
    }

    /// The shared metadata-only informer (`PartialObjectMetadata`) of one resource location, for
    /// controllers that only need names, labels and owners of arbitrary resources (garbage
    /// collector, quota counts). Whether it was new tells a caller to add its handlers now.
    public func metadataInformer(_ loc: ResourceLocation) -> Informer<MetaV1.PartialObjectMetadata> {
        let (inf, isNew): (Informer<MetaV1.PartialObjectMetadata>, Bool) = metadata.withLock { m in
            if let i = m[loc] { return (i, false) }
            let i = Informer<MetaV1.PartialObjectMetadata>(
                client: client, location: loc, accept: (MetadataAccept.list, MetadataAccept.object),
                transform: keepManagedFields ? nil : Informer<MetaV1.PartialObjectMetadata>.stripManagedFields)
            m[loc] = i
            return (i, true)
        }
        if isNew { adopt(inf) }
        return inf
    }

    /// The store behind a kind's shared informer (a lister).
    public func store<T: KubeObject>(_: T.Type) -> ObjectStore<T> { informer(T.self).store }

    func launch<T: KubeObject>(_ i: Informer<T>) {
        let t = Task { await i.run() }
        tasks.withLock { $0.append(t) }
    }

    /// Starts every informer asked for so far, and any asked for later.
    public func start() {
        let all: [any Sendable] = started.withLock { s in
            if s { return [] }
            s = true
            return informers.withLock { Array($0.values) } + extra.withLock { $0 as [any Sendable] }
        }
        for i in all { (i as? any InformerRunning)?.launch(in: self) }
    }

    /// Waits until every informer has its first full state.
    public func waitForSync() async {
        let all = informers.withLock { Array($0.values) }
        for i in all { await (i as? any InformerRunning)?.waitForSync() }
    }

    public func stop() {
        for t in tasks.withLock({ $0 }) { t.cancel() }
    }
}

/// Type-erased access to an informer's run loop.
protocol InformerRunning: Sendable {
    func launch(in factory: InformerFactory)
    func waitForSync() async
}

extension Informer: InformerRunning {
    func launch(in factory: InformerFactory) { factory.launch(self) }
}
