import APIApps
import APICore
import APIPolicy
import APIStorage
import ControllerRuntime
import Synchronization

/// The informer caches plugins read (upstream's shared informer listers). Without an informer
/// factory (tests) each is an empty store the test fills.
public final class Listers: Sendable {
    public let pods: ObjectStore<CoreV1.Pod>
    public let nodes: ObjectStore<CoreV1.Node>
    public let namespaces: ObjectStore<CoreV1.Namespace>
    public let services: ObjectStore<CoreV1.Service>
    public let replicationControllers: ObjectStore<CoreV1.ReplicationController>
    public let replicaSets: ObjectStore<AppsV1.ReplicaSet>
    public let statefulSets: ObjectStore<AppsV1.StatefulSet>
    public let persistentVolumes: ObjectStore<CoreV1.PersistentVolume>
    public let persistentVolumeClaims: ObjectStore<CoreV1.PersistentVolumeClaim>
    public let storageClasses: ObjectStore<StorageV1.StorageClass>
    public let csiNodes: ObjectStore<StorageV1.CSINode>
    public let csiDrivers: ObjectStore<StorageV1.CSIDriver>
    public let podDisruptionBudgets: ObjectStore<PolicyV1.PodDisruptionBudget>

    /// `pods`: the scheduler's own pod cache (its informer leaves terminal pods out).
    public init(factory: InformerFactory? = nil, pods: ObjectStore<CoreV1.Pod>? = nil) {
        func store<T: KubeObject>(_ t: T.Type) -> ObjectStore<T> { factory?.store(t) ?? ObjectStore<T>() }
        self.pods = pods ?? store(CoreV1.Pod.self)
        nodes = store(CoreV1.Node.self)
        namespaces = store(CoreV1.Namespace.self)
        services = store(CoreV1.Service.self)
        replicationControllers = store(CoreV1.ReplicationController.self)
        replicaSets = store(AppsV1.ReplicaSet.self)
        statefulSets = store(AppsV1.StatefulSet.self)
        persistentVolumes = store(CoreV1.PersistentVolume.self)
        persistentVolumeClaims = store(CoreV1.PersistentVolumeClaim.self)
        storageClasses = store(StorageV1.StorageClass.self)
        csiNodes = store(StorageV1.CSINode.self)
        csiDrivers = store(StorageV1.CSIDriver.self)
        podDisruptionBudgets = store(PolicyV1.PodDisruptionBudget.self)
    }
}

/// Pods nominated to nodes by preemption, waiting for their victims to leave (upstream's nominator).
public final class Nominator: Sendable {
    struct State {
        var byNode: [String: [PodInfo]] = [:]
        var nodeOf: [String: String] = [:]
    }
    let state = Mutex(State())

    public init() {}

    public func nominated(on node: String) -> [PodInfo] {
        state.withLock { s in s.byNode.isEmpty ? [] : s.byNode[node] ?? [] }
    }

    /// Records (or moves, or with an empty node clears) a pod's nomination.
    public func set(_ pod: PodInfo, node: String) {
        let id = SchedulerCache.podID(pod.pod)
        state.withLock { s in
            if let old = s.nodeOf[id] {
                s.byNode[old]?.removeAll { SchedulerCache.podID($0.pod) == id }
                if s.byNode[old]?.isEmpty == true { s.byNode[old] = nil }
                s.nodeOf[id] = nil
            }
            guard !node.isEmpty else { return }
            s.byNode[node, default: []].append(pod)
            s.nodeOf[id] = node
        }
    }

    public func remove(_ pod: CoreV1.Pod) {
        let id = SchedulerCache.podID(pod)
        state.withLock { s in
            guard let old = s.nodeOf.removeValue(forKey: id) else { return }
            s.byNode[old]?.removeAll { SchedulerCache.podID($0.pod) == id }
            if s.byNode[old]?.isEmpty == true { s.byNode[old] = nil }
        }
    }

    public func node(of pod: CoreV1.Pod) -> String? { state.withLock { $0.nodeOf[SchedulerCache.podID(pod)] } }
}

/// What plugins reach beyond the pod and node they are given (upstream's `framework.Handle`).
public final class Handle: Sendable {
    public let client: KubeClient?
    public let listers: Listers
    public let nominator: Nominator
    /// The current cycle's snapshot (the scheduler's; replaced only between cycles).
    public let snapshot: Snapshot
    /// The profile's event recorder (upstream's `EventRecorder()`); nil where nothing is written.
    public let recorder: EventRecorder?

    public init(client: KubeClient? = nil, listers: Listers = Listers(), snapshot: Snapshot = Snapshot()) {
        self.client = client
        self.listers = listers
        self.nominator = Nominator()
        self.snapshot = snapshot
        self.recorder = nil
    }

    init(client: KubeClient?, listers: Listers, nominator: Nominator, snapshot: Snapshot, recorder: EventRecorder?) {
        self.client = client
        self.listers = listers
        self.nominator = nominator
        self.snapshot = snapshot
        self.recorder = recorder
    }
}
