import APIBatch
import APICore
import APIMachinery
import ControllerRuntime
import Foundation

/// Starts Jobs on a schedule (upstream's cronjob-controller, v2): standard cron syntax and macros,
/// `timeZone`, `startingDeadlineSeconds`, Allow/Forbid/Replace concurrency, suspend, the active list,
/// last schedule and success times, and history limits.
public final class CronJobController: Controller {
    static let scheduledAnnotation = "batch.kubernetes.io/cronjob-scheduled-timestamp"
    let client: KubeClient
    let cronJobs: ObjectStore<BatchV1.CronJob>
    let jobs: ObjectStore<BatchV1.Job>
    let queue = WorkQueue<ObjectKey>(name: "cronjob")
    let recorder: EventRecorder
    let workers: Int

    public init(_ ctx: ControllerContext) {
        client = ctx.client
        workers = ctx.options.workers("cronjob-controller", default: 5)
        recorder = ctx.recorder("cronjob-controller")
        let cjInformer = ctx.informers.informer(BatchV1.CronJob.self)
        let jobInformer = ctx.informers.informer(BatchV1.Job.self)
        cronJobs = cjInformer.store
        jobs = jobInformer.store
        let queue = self.queue
        cjInformer.addHandler(enqueueing: queue)
        jobInformer.addHandler { e in
            switch e {
            case .added(let j), .updated(_, let j), .deleted(let j):
                if let ref = OwnerRefs.controllerRef(j.metadata), ref.kind == "CronJob" {
                    queue.add(ObjectKey(namespace: j.metadata.namespace, name: ref.name))
                }
            }
        }
    }

    /// A Job's name for a scheduled time: the CronJob's name and the time in minutes since the epoch.
    static func jobName(_ cj: BatchV1.CronJob, _ t: Date) -> String {
        "\(cj.metadata.name)-\(Int64(t.timeIntervalSince1970) / 60)"
    }

    static func finished(_ j: BatchV1.Job) -> String? {
        j.status.conditions.first { ($0.type == "Complete" || $0.type == "Failed") && $0.status == "True" }?.type
    }

    static func reference(_ j: BatchV1.Job) -> CoreV1.ObjectReference {
        CoreV1.ObjectReference(
            kind: "Job", namespace: j.metadata.namespace, name: j.metadata.name, uid: j.metadata.uid,
            apiVersion: "batch/v1", resourceVersion: j.metadata.resourceVersion)
    }

    func sync(_ key: ObjectKey) async throws {
        guard var cj = cronJobs.get(key) else { return }
        let now = Date()
        let owned = jobs.list(namespace: key.namespace).filter {
            OwnerRefs.controllerRef($0.metadata)?.uid == cj.metadata.uid
        }
        var status = cj.status
        // Finished jobs leave the active list; running ones we own are in it.
        var active: [CoreV1.ObjectReference] = []
        for j in owned {
            if let how = Self.finished(j) {
                if status.active.contains(where: { $0.uid == j.metadata.uid }) {
                    recorder.normal(
                        cj, reason: "SawCompletedJob", note: "Saw completed job: \(j.metadata.name), condition: \(how)")
                }
                if how == "Complete", let t = j.status.completionTime,
                    status.lastSuccessfulTime.map({ $0 < t }) ?? true
                {
                    status.lastSuccessfulTime = t
                }
            } else {
                active.append(Self.reference(j))
            }
        }
        // Jobs in the list that are gone (and not just missing from a lagging cache) are dropped.
        for ref in status.active where !owned.contains(where: { $0.metadata.uid == ref.uid }) {
            if (try? await client.get(BatchV1.Job.self, ref.name, namespace: key.namespace))?.metadata.uid == ref.uid {
                active.append(ref)
            } else {
                recorder.normal(cj, reason: "MissingJob", note: "Active job went missing: \(ref.name)")
            }
        }
        status.active = active.sorted { $0.name < $1.name }
        try await cleanupHistory(cj, owned)
        let tz: TimeZone
        if let name = cj.spec.timeZone {
            guard let z = TimeZone(identifier: name) else {
                recorder.warning(
                    cj, reason: "UnknownTimeZone", note: "invalid timeZone: \"\(name)\": unknown time zone \(name)")
                return try await write(&cj, status)
            }
            tz = z
        } else {
            tz = TimeZone.current
        }
        let schedule: CronSchedule
        do {
            schedule = try CronSchedule(cj.spec.schedule)
        } catch {
            recorder.warning(
                cj, reason: "UnparseableSchedule", note: "unparseable schedule: \"\(cj.spec.schedule)\" : \(error)")
            return try await write(&cj, status)
        }
        if cj.spec.suspend == true || cj.metadata.deletionTimestamp != nil {
            return try await write(&cj, status)
        }
        let since = (status.lastScheduleTime ?? cj.metadata.creationTimestamp).map(\.date) ?? now
        let (due, missed) = schedule.mostRecent(from: since, to: now, in: tz)
        if missed > 100 {
            recorder.warning(
                cj, reason: "TooManyMissedTimes",
                note:
                    "too many missed start times: \(missed). Set or decrease .spec.startingDeadlineSeconds or check clock skew"
            )
        }
        defer {
            if let next = schedule.next(after: now, in: tz) {
                queue.add(key, after: .milliseconds(Int64(max(0.1, next.timeIntervalSince(now) + 0.1) * 1000)))
            }
        }
        guard let scheduled = due else { return try await write(&cj, status) }
        if let deadline = cj.spec.startingDeadlineSeconds, scheduled.addingTimeInterval(Double(deadline)) < now {
            recorder.warning(
                cj, reason: "MissSchedule",
                note: "Missed scheduled time to start a job: \(Self.rfc1123(scheduled))")
            return try await write(&cj, status)
        }
        let name = Self.jobName(cj, scheduled)
        if status.active.contains(where: { $0.name == name }) || owned.contains(where: { $0.metadata.name == name }) {
            return try await write(&cj, status)
        }
        switch cj.spec.concurrencyPolicy {
        case "Forbid" where !status.active.isEmpty:
            // Not now: the next sync after the running job finishes tries again.
            return try await write(&cj, status)
        case "Replace":
            for ref in status.active {
                do {
                    try await client.delete(BatchV1.Job.self, ref.name, namespace: key.namespace, options: .background)
                    recorder.normal(cj, reason: "SuccessfulDelete", note: "Deleted job \(ref.name)")
                } catch let e as StatusError where e.isNotFound {}
            }
            status.active = []
        default: break
        }
        var job = BatchV1.Job()
        job.metadata.name = name
        job.metadata.namespace = key.namespace
        job.metadata.labels = cj.spec.jobTemplate.metadata.labels
        job.metadata.annotations = cj.spec.jobTemplate.metadata.annotations
        job.metadata.annotations[Self.scheduledAnnotation] = Self.rfc3339(scheduled, tz)
        job.metadata.ownerReferences = [OwnerRefs.controllerReference(to: cj)]
        job.spec = cj.spec.jobTemplate.spec
        do {
            let created = try await client.create(job)
            recorder.normal(cj, reason: "SuccessfulCreate", note: "Created job \(created.metadata.name)")
            status.active.append(Self.reference(created))
        } catch let e as StatusError where e.isAlreadyExists {
            // Created before (a lagging cache): it is in the list already or will be.
        } catch let e as StatusError {
            recorder.warning(cj, reason: "FailedCreate", note: "Error creating job: \(e.status.message)")
            try await write(&cj, status)
            throw e
        }
        status.lastScheduleTime = Time(scheduled)
        try await write(&cj, status)
    }

    func write(_ cj: inout BatchV1.CronJob, _ status: BatchV1.CronJobStatus) async throws {
        guard status != cj.status else { return }
        var next = cj
        next.status = status
        cj = try await client.updateStatus(next)
    }

    /// Finished jobs beyond the history limits go, oldest first (3 successful and 1 failed by default).
    func cleanupHistory(_ cj: BatchV1.CronJob, _ owned: [BatchV1.Job]) async throws {
        for (type, limit) in [
            ("Complete", Int(cj.spec.successfulJobsHistoryLimit ?? 3)),
            ("Failed", Int(cj.spec.failedJobsHistoryLimit ?? 1)),
        ] {
            let done = owned.filter { Self.finished($0) == type && $0.metadata.deletionTimestamp == nil }
                .sorted {
                    ($0.status.startTime ?? $0.metadata.creationTimestamp ?? Time())
                        < ($1.status.startTime ?? $1.metadata.creationTimestamp ?? Time())
                }
            guard done.count > limit else { continue }
            for j in done.prefix(done.count - limit) {
                do {
                    try await client.delete(
                        BatchV1.Job.self, j.metadata.name, namespace: j.metadata.namespace, options: .background)
                    recorder.normal(cj, reason: "SuccessfulDelete", note: "Deleted job \(j.metadata.name)")
                } catch let e as StatusError where e.isNotFound {}
            }
        }
    }

    static func rfc1123(_ d: Date) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "EEE, dd MMM yyyy HH:mm:ss Z"
        return f.string(from: d)
    }

    static func rfc3339(_ d: Date, _ tz: TimeZone) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = tz
        f.dateFormat = tz.secondsFromGMT(for: d) == 0 ? "yyyy-MM-dd'T'HH:mm:ss'Z'" : "yyyy-MM-dd'T'HH:mm:ssxxx"
        return f.string(from: d)
    }

    public func run() async { await queue.runWorkers(workers) { try await self.sync($0) } }
}
