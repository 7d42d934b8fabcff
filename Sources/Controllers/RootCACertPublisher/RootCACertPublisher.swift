import APICore
import ControllerRuntime

/// Publishes the cluster's root CA as the `kube-root-ca.crt` ConfigMap in every namespace
/// (upstream's root-ca-certificate-publisher-controller), putting it back when it is edited or deleted.
public final class RootCACertPublisher: Controller {
    static let configMapName = "kube-root-ca.crt"
    static let descriptionAnnotation = "kubernetes.io/description"
    static let description =
        "The CA bundle of this cluster's API server, for clients in pods that reach it through kubernetes.default.svc or the service IP."

    let client: KubeClient
    let rootCA: String
    let namespaces: ObjectStore<CoreV1.Namespace>
    let configMaps: ObjectStore<CoreV1.ConfigMap>
    let queue = WorkQueue<String>(name: "root_ca_cert_publisher")

    public init(_ ctx: ControllerContext, rootCA: [UInt8]) {
        client = ctx.client
        self.rootCA = String(decoding: rootCA, as: UTF8.self)
        let nsInformer = ctx.informers.informer(CoreV1.Namespace.self)
        let cmInformer = ctx.informers.informer(CoreV1.ConfigMap.self)
        namespaces = nsInformer.store
        configMaps = cmInformer.store
        let queue = self.queue
        nsInformer.addHandler { e in
            switch e {
            case .added(let ns), .updated(_, let ns): queue.add(ns.metadata.name)
            case .deleted: break
            }
        }
        cmInformer.addHandler { e in
            switch e {
            case .added(let cm), .updated(_, let cm), .deleted(let cm):
                if cm.metadata.name == Self.configMapName { queue.add(cm.metadata.namespace) }
            }
        }
    }

    /// What the namespace's ConfigMap must become: nil when it is right (or the namespace is going away).
    static func desired(namespace: CoreV1.Namespace?, current: CoreV1.ConfigMap?, rootCA: String) -> CoreV1.ConfigMap? {
        guard let ns = namespace, ns.metadata.deletionTimestamp == nil, ns.status.phase != "Terminating" else {
            return nil
        }
        if let cm = current, cm.data == ["ca.crt": rootCA], cm.metadata.annotations[descriptionAnnotation] != nil {
            return nil
        }
        var cm = current ?? CoreV1.ConfigMap()
        cm.metadata.name = configMapName
        cm.metadata.namespace = ns.metadata.name
        cm.metadata.annotations[descriptionAnnotation] = cm.metadata.annotations[descriptionAnnotation] ?? description
        cm.data = ["ca.crt": rootCA]
        cm.binaryData = [:]
        return cm
    }

    func sync(_ ns: String) async throws {
        let current = configMaps.get(namespace: ns, name: Self.configMapName)
        guard let cm = Self.desired(namespace: namespaces.get(name: ns), current: current, rootCA: rootCA) else {
            return
        }
        do {
            if current == nil { _ = try await client.create(cm) } else { _ = try await client.update(cm) }
        } catch let e as StatusError where e.isAlreadyExists || e.isForbidden || (e.isNotFound && current != nil) {
            // Raced with another writer or with the namespace's deletion; the informer brings us back.
        }
    }

    public func run() async { await queue.runWorkers(1) { try await self.sync($0) } }
}
