import APIBatch
import APICore
import APIMachinery
import ControllerRuntime
import Foundation
import Synchronization

/// Runs Jobs to completion (upstream's job-controller): pods up to parallelism and completions,
/// NonIndexed and Indexed, pods tracked with the `batch.kubernetes.io/job-tracking` finalizer and
/// `uncountedTerminatedPods`, backoffLimit with exponential pod-failure backoff, backoffLimitPerIndex and
/// maxFailedIndexes, podFailurePolicy (FailJob, Ignore, Count, FailIndex), successPolicy,
/// activeDeadlineSeconds, suspend, and the SuccessCriteriaMet/Complete and FailureTarget/Failed conditions.
public final class JobController: Controller {
    static let managedBy = "kubernetes.io/job-controller"
    let client: KubeClient
    let jobs: ObjectStore<BatchV1.Job>
    let pods: ObjectStore<CoreV1.Pod>
    let queue = WorkQueue<ObjectKey>(name: "job")
    let expectations = Expectations<ObjectKey>()
    let recorder: EventRecorder
    let workers: Int
    /// When each job last saw a pod fail (for the failure backoff), and the pods it deleted itself.
    let memory = Mutex<(lastFailure: [ObjectKey: Date], deletedByUs: Set<String>)>(([:], []))

    public init(_ ctx: ControllerContext) {
        client = ctx.client
        workers = ctx.options.workers("job-controller", default: 5)
        recorder = ctx.recorder("job-controller")
        let jobInformer = ctx.informers.informer(BatchV1.Job.self)
        let podInformer = ctx.informers.informer(CoreV1.Pod.self)
        jobs = jobInformer.store
        pods = podInformer.store
        let queue = self.queue
        jobInformer.addHandler(enqueueing: queue)
        podInformer.addOwnerHandler(queue: queue, expectations: expectations) { p in
            guard let ref = OwnerRefs.controllerRef(p.metadata), ref.kind == "Job" else { return nil }
            return ObjectKey(namespace: p.metadata.namespace, name: ref.name)
        }
    }

    func sync(_ key: ObjectKey) async throws {
        guard var job = jobs.get(key) else {
            expectations.forget(key)
            memory.withLock { $0.lastFailure[key] = nil }
            // A deleted job's pods must not be held by its tracking finalizer.
            let orphans = pods.list(namespace: key.namespace).filter { p in
                p.metadata.finalizers.contains(JobLogic.trackingFinalizer)
                    && OwnerRefs.controllerRef(p.metadata).map { $0.kind == "Job" && $0.name == key.name } == true
            }
            _ = await concurrently(orphans) { await self.removeFinalizer($0) }
            return
        }
        if let m = job.spec.managedBy, m != Self.managedBy { return }
        let selector = try LabelSelector.from(job.spec.selector)
        let all = pods.list(namespace: key.namespace)
        let owned = OwnerRefs.claim(
            all, ownerUID: job.metadata.uid, ownerDeleting: job.metadata.deletionTimestamp != nil
        ) { selector.matches($0.metadata.labels) }.owned
        let now = Date()
        let deletedByUs = memory.withLock { $0.deletedByUs }

        // 0. What each newly failed pod means under the podFailurePolicy and backoffLimitPerIndex.
        let perIndex = JobLogic.isIndexed(job) ? job.spec.backoffLimitPerIndex.map(Int.init) : nil
        var policyFailure: String?
        var ignored: Set<String> = []
        var failedIndexes = JobLogic.parseIndexes(job.status.failedIndexes ?? "")
        for p in owned where p.status.phase == "Failed" && p.metadata.finalizers.contains(JobLogic.trackingFinalizer) {
            let verdict = JobLogic.verdict(job.spec.podFailurePolicy, p)
            switch verdict {
            case .ignore: ignored.insert(p.metadata.uid)
            case .failJob(let message): if policyFailure == nil { policyFailure = message }
            case .failIndex: if perIndex != nil, let i = JobLogic.index(of: p) { failedIndexes.insert(i) }
            case .count:
                if let limit = perIndex, let i = JobLogic.index(of: p), JobLogic.indexFailures(p, counted: true) > limit
                {
                    failedIndexes.insert(i)
                }
            }
        }
        // The failures each index has had so far, carried on its next pod.
        var indexFailures: [Int: (counted: Int, ignored: Int)] = [:]
        if perIndex != nil {
            for p in owned where p.status.phase == "Failed" {
                guard let i = JobLogic.index(of: p) else { continue }
                let wasIgnored =
                    ignored.contains(p.metadata.uid)
                    || JobLogic.verdict(job.spec.podFailurePolicy, p) == .ignore
                let counted = JobLogic.indexFailures(p, counted: !wasIgnored)
                let ign =
                    (p.metadata.annotations[JobLogic.indexIgnoredFailureCountAnnotation].flatMap { Int($0) } ?? 0)
                    + (wasIgnored ? 1 : 0)
                let prev = indexFailures[i] ?? (0, 0)
                indexFailures[i] = (max(prev.counted, counted), max(prev.ignored, ign))
            }
        }

        // 1. Record finished pods as uncounted before their finalizers go, so none is counted twice or lost.
        var uncounted = job.status.uncountedTerminatedPods ?? BatchV1.UncountedTerminatedPods()
        var changed = false
        for p in owned where p.metadata.finalizers.contains(JobLogic.trackingFinalizer) {
            let uid = p.metadata.uid
            if uncounted.succeeded.contains(uid) || uncounted.failed.contains(uid) || ignored.contains(uid) { continue }
            if p.status.phase == "Succeeded" {
                uncounted.succeeded.append(uid)
                changed = true
            } else if p.status.phase == "Failed"
                || (p.metadata.deletionTimestamp != nil && !deletedByUs.contains(p.metadata.name))
            {
                uncounted.failed.append(uid)
                memory.withLock { $0.lastFailure[key] = now }
                changed = true
            }
        }
        if changed {
            job.status.uncountedTerminatedPods = uncounted
            job = try await client.updateStatus(job)
        }
        // 2. Their finalizers can go now; so can those of pods this controller deleted.
        let release = owned.filter { p in
            p.metadata.finalizers.contains(JobLogic.trackingFinalizer)
                && (uncounted.succeeded.contains(p.metadata.uid) || uncounted.failed.contains(p.metadata.uid)
                    || ignored.contains(p.metadata.uid)
                    || (p.metadata.deletionTimestamp != nil && deletedByUs.contains(p.metadata.name)))
        }
        _ = await concurrently(release) { await self.removeFinalizer($0) }
        let released = Set(release.map(\.metadata.uid))
        // 3. Count what is no longer held.
        let byUID = Dictionary(owned.map { ($0.metadata.uid, $0) }, uniquingKeysWith: { a, _ in a })
        func settled(_ uid: String) -> Bool {
            guard let p = byUID[uid] else { return true }
            return released.contains(uid) || !p.metadata.finalizers.contains(JobLogic.trackingFinalizer)
        }
        let doneSucceeded = uncounted.succeeded.filter(settled)
        let doneFailed = uncounted.failed.filter(settled)
        var completed = JobLogic.parseIndexes(job.status.completedIndexes)
        if JobLogic.isIndexed(job) {
            for uid in doneSucceeded { if let p = byUID[uid], let i = JobLogic.index(of: p) { completed.insert(i) } }
        }
        var remaining = uncounted
        remaining.succeeded.removeAll { doneSucceeded.contains($0) }
        remaining.failed.removeAll { doneFailed.contains($0) }
        let succeeded = Int(job.status.succeeded) + doneSucceeded.count
        let failed = Int(job.status.failed) + doneFailed.count
        let live = owned.filter { !JobLogic.finished($0) }
        var plan = JobLogic.plan(
            job, pods: live, succeeded: succeeded, failed: failed, completedIndexes: completed,
            failedIndexes: failedIndexes, policyFailure: policyFailure,
            lastFailure: memory.withLock { $0.lastFailure[key] }, now: now)
        plan.status.uncountedTerminatedPods = remaining
        let satisfied = expectations.satisfied(key)
        // 4. Pods: remove the excess (or all, when finished or suspended), then add what is missing.
        if !plan.delete.isEmpty && satisfied {
            memory.withLock { $0.deletedByUs.formUnion(plan.delete) }
            expectations.expect(key, adds: 0, deletes: plan.delete)
            let current = job
            _ = await concurrently(plan.delete) { name in
                do {
                    try await self.client.delete(CoreV1.Pod.self, name, namespace: key.namespace)
                    self.recorder.normal(current, reason: "SuccessfulDelete", note: "Deleted pod: \(name)")
                } catch {
                    self.expectations.deletionObserved(key, name: name)
                }
            }
        }
        var createError: (any Error)?
        if plan.create > 0 && satisfied && job.metadata.deletionTimestamp == nil {
            if plan.createAfter > 0 {
                queue.add(key, after: .milliseconds(Int64(plan.createAfter * 1000)))
            } else {
                createError = await create(job, key: key, plan: plan, indexFailures: indexFailures)
            }
        }
        // 5. Status, then the events of what it says.
        if plan.status != job.status {
            var next = job
            next.status = plan.status
            job = try await client.updateStatus(next)
        }
        for e in plan.events {
            recorder.record(EventRecorder.reference(job), type: e.type, reason: e.reason, action: "", note: e.note)
        }
        if JobLogic.isFinished(job) {
            memory.withLock { m in
                m.lastFailure[key] = nil
                m.deletedByUs.subtract(owned.map(\.metadata.name))
            }
        }
        if let e = createError { throw e }
        if let deadline = job.spec.activeDeadlineSeconds, let start = job.status.startTime, !JobLogic.isFinished(job) {
            let left = Double(start.seconds) + Double(deadline) - now.timeIntervalSince1970
            queue.add(key, after: .milliseconds(Int64(max(0.1, left) * 1000)))
        }
    }

    func removeFinalizer(_ p: CoreV1.Pod) async {
        let rest = p.metadata.finalizers.filter { $0 != JobLogic.trackingFinalizer }
        do {
            _ = try await client.patch(
                CoreV1.Pod.self, p.metadata.name, namespace: p.metadata.namespace, type: .merge,
                body: FinalizerPatch.body(rest, resourceVersion: p.metadata.resourceVersion))
        } catch let e as StatusError where e.isConflict {
            // Changed meanwhile: read it again and retry once.
            if let fresh = try? await client.get(CoreV1.Pod.self, p.metadata.name, namespace: p.metadata.namespace),
                fresh.metadata.uid == p.metadata.uid, fresh.metadata.finalizers.contains(JobLogic.trackingFinalizer)
            {
                await removeFinalizer(fresh)
            }
        } catch {}
    }

    /// Creates the plan's pods in slow-start batches; the first error, if any.
    func create(
        _ job: BatchV1.Job, key: ObjectKey, plan: JobLogic.Plan,
        indexFailures: [Int: (counted: Int, ignored: Int)] = [:]
    ) async -> (any Error)? {
        expectations.expect(key, adds: plan.create)
        let owner = OwnerRefs.controllerReference(to: job)
        var indexes = plan.createIndexes[...]
        var done = 0
        for batch in ReplicaSetLogic.slowStartBatches(plan.create) {
            let templates = (0..<batch).map { _ -> CoreV1.Pod in
                let index = JobLogic.isIndexed(job) ? indexes.popFirst() : nil
                var p = JobLogic.pod(for: job, index: index, owner: owner)
                if job.spec.backoffLimitPerIndex != nil, let index {
                    let f = indexFailures[index] ?? (0, 0)
                    p.metadata.annotations[JobLogic.indexFailureCountAnnotation] = String(f.counted)
                    if f.ignored > 0 {
                        p.metadata.annotations[JobLogic.indexIgnoredFailureCountAnnotation] = String(f.ignored)
                    }
                }
                return p
            }
            let errors = await concurrently(templates) { t -> (any Error)? in
                do {
                    let p = try await self.client.create(t)
                    self.recorder.normal(job, reason: "SuccessfulCreate", note: "Created pod: \(p.metadata.name)")
                    return nil
                } catch { return error }
            }.compactMap { $0 }
            done += batch
            if let e = errors.first {
                expectations.lowerAdds(key, by: errors.count + plan.create - done)
                recorder.warning(
                    job, reason: "FailedCreate", note: "Error creating: \(ReplicaSetController.message(e))")
                return e
            }
        }
        return nil
    }

    public func run() async { await queue.runWorkers(workers) { try await self.sync($0) } }
}
