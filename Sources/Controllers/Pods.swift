import APICore
import APIMachinery
import ControllerRuntime
import Foundation

/// Pod facts controllers share (upstream's `podutil` and `controller_utils`).
enum Pods {
    /// Not finished and not being deleted (`FilterActivePods`).
    static func isActive(_ p: CoreV1.Pod) -> Bool {
        p.status.phase != "Succeeded" && p.status.phase != "Failed" && p.metadata.deletionTimestamp == nil
    }

    static func isTerminating(_ p: CoreV1.Pod) -> Bool {
        p.metadata.deletionTimestamp != nil && p.status.phase != "Succeeded" && p.status.phase != "Failed"
    }

    static func readyCondition(_ p: CoreV1.Pod) -> CoreV1.PodCondition? {
        p.status.conditions.first { $0.type == "Ready" }
    }

    static func isReady(_ p: CoreV1.Pod) -> Bool { readyCondition(p)?.status == "True" }

    /// Ready for at least `minReadySeconds` by `now` (`IsPodAvailable`).
    static func isAvailable(_ p: CoreV1.Pod, minReadySeconds: Int32, now: Date) -> Bool {
        guard let c = readyCondition(p), c.status == "True" else { return false }
        if minReadySeconds == 0 { return true }
        guard let t = c.lastTransitionTime, !t.isZero else { return false }
        return Double(t.seconds) + Double(minReadySeconds) <= now.timeIntervalSince1970
    }

    static func restarts(_ p: CoreV1.Pod) -> Int32 { p.status.containerStatuses.reduce(0) { $0 + $1.restartCount } }

    /// `controller.kubernetes.io/pod-deletion-cost` (0 when absent or unparsable).
    static func deletionCost(_ p: CoreV1.Pod) -> Int32 {
        p.metadata.annotations["controller.kubernetes.io/pod-deletion-cost"].flatMap { Int32($0) } ?? 0
    }
}

extension Time {
    init(_ d: Date) { self.init(seconds: Int64(d.timeIntervalSince1970.rounded(.down))) }
    var date: Date { Date(timeIntervalSince1970: TimeInterval(seconds) + TimeInterval(nanos) / 1e9) }
}

/// Owner references and the claiming of dependents (upstream's `ControllerRefManager`).
enum OwnerRefs {
    static func controllerRef(_ m: MetaV1.ObjectMeta) -> MetaV1.OwnerReference? {
        m.ownerReferences.first { $0.controller == true }
    }

    /// The reference a controller puts on what it creates: controller and blockOwnerDeletion set.
    static func controllerReference<T: KubeObject>(to owner: T) -> MetaV1.OwnerReference {
        MetaV1.OwnerReference(
            apiVersion: T.groupVersionKind.apiVersion, kind: T.groupVersionKind.kind, name: owner.metadata.name,
            uid: owner.metadata.uid, controller: true, blockOwnerDeletion: true)
    }

    /// Which objects an owner keeps, adopts and releases: it keeps those it controls that its
    /// selector matches; adopts orphans its selector matches (unless it is being deleted); releases
    /// those it controls that no longer match. Objects controlled by someone else are left alone, and
    /// objects being deleted are never adopted.
    struct Claim<T> {
        var owned: [T] = []
        var adopt: [T] = []
        var release: [T] = []
    }

    static func claim<T: KubeObject>(
        _ objects: [T], ownerUID: String, ownerDeleting: Bool, matches: (T) -> Bool
    ) -> Claim<T> {
        var c = Claim<T>()
        for o in objects {
            if let ref = controllerRef(o.metadata) {
                guard ref.uid == ownerUID else { continue }
                if matches(o) {
                    c.owned.append(o)
                } else if !ownerDeleting {
                    c.release.append(o)
                }
            } else if matches(o) && !ownerDeleting && o.metadata.deletionTimestamp == nil {
                c.adopt.append(o)
            }
        }
        return c
    }

    /// Merge patch that adds a controller reference (with the object's UID as precondition).
    static func adoptPatch(_ ref: MetaV1.OwnerReference, objectUID: String) -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.key("metadata")
        w.beginObject()
        w.key("ownerReferences")
        w.beginArray()
        ref.encodeJSON(&w)
        w.endArray()
        w.key("uid")
        w.string(objectUID)
        w.endObject()
        w.endObject()
        return w.bytes
    }

    /// Strategic merge patch that removes the owner's reference.
    static func releasePatch(ownerUID: String, objectUID: String) -> [UInt8] {
        Array(
            #"{"metadata":{"ownerReferences":[{"$patch":"delete","uid":"\#(ownerUID)"}],"uid":"\#(objectUID)"}}"#.utf8)
    }
}

/// Runs `body` on every item with at most `limit` at once, answering results in input order: a
/// controller's burst of creates or deletes stays within the API server's inflight limits (upstream's
/// controllers are bounded the same way by their client's rate limit).
func concurrently<T: Sendable, R: Sendable>(
    _ items: [T], limit: Int = 64, _ body: @escaping @Sendable (T) async -> R
) async -> [R] {
    await withTaskGroup(of: (Int, R).self) { group in
        var out = [R?](repeating: nil, count: items.count)
        var next = 0
        for _ in 0..<min(limit, items.count) {
            let i = next
            group.addTask { (i, await body(items[i])) }
            next += 1
        }
        for await (i, r) in group {
            out[i] = r
            if next < items.count {
                let j = next
                group.addTask { (j, await body(items[j])) }
                next += 1
            }
        }
        return out.map { $0! }
    }
}
