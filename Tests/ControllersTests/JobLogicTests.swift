import APIBatch
import APICore
import APIMachinery
import Foundation
import Testing

@testable import Controllers

@Suite("job and cron decisions")
struct JobLogicTests {
    let now = Date(timeIntervalSince1970: 3_000_000)

    func job(completions: Int32? = 1, parallelism: Int32 = 1, indexed: Bool = false, backoffLimit: Int32 = 6)
        -> BatchV1.Job
    {
        var j = BatchV1.Job()
        j.metadata.name = "j"
        j.metadata.namespace = "ns"
        j.spec.completions = completions
        j.spec.parallelism = parallelism
        j.spec.backoffLimit = backoffLimit
        j.spec.completionMode = indexed ? "Indexed" : "NonIndexed"
        j.spec.template.spec.containers = [CoreV1.Container(name: "c", image: "i")]
        return j
    }

    @Test("completed indexes use upstream's compressed interval format")
    func indexes() {
        #expect(JobLogic.formatIndexes([0, 1, 2, 4, 6, 7]) == "0-2,4,6-7")
        #expect(JobLogic.parseIndexes("0-2,4,6-7") == [0, 1, 2, 4, 6, 7])
        #expect(JobLogic.formatIndexes([]) == "")
    }

    @Test("runs min(parallelism, remaining completions) pods")
    func parallelismAndCompletions() {
        let p = JobLogic.plan(
            job(completions: 10, parallelism: 4), pods: [], succeeded: 8, failed: 0, completedIndexes: [],
            lastFailure: nil, now: now)
        #expect(p.create == 2)
        let q = JobLogic.plan(
            job(completions: 1000, parallelism: 1000), pods: [], succeeded: 0, failed: 0, completedIndexes: [],
            lastFailure: nil, now: now)
        #expect(q.create == 500, "MaxPodCreateDeletePerSync")
        #expect(q.status.startTime == Time(now))
    }

    @Test("Indexed jobs create the lowest indexes neither done nor running, with index annotation, label and env")
    func indexedCreation() {
        let j = job(completions: 5, parallelism: 3, indexed: true)
        var running = pod("j-1-abc", phase: "Pending")
        running.metadata.annotations[JobLogic.indexAnnotation] = "1"
        let p = JobLogic.plan(
            j, pods: [running], succeeded: 1, failed: 0, completedIndexes: [0], lastFailure: nil, now: now)
        #expect(p.createIndexes == [2, 3])
        let made = JobLogic.pod(
            for: j, index: 2,
            owner: MetaV1.OwnerReference(apiVersion: "batch/v1", kind: "Job", name: "j", uid: "u", controller: true))
        #expect(made.metadata.generateName == "j-2-")
        #expect(
            made.metadata.annotations[JobLogic.indexAnnotation] == "2"
                && made.metadata.labels[JobLogic.indexAnnotation] == "2")
        #expect(made.metadata.finalizers == [JobLogic.trackingFinalizer])
        #expect(made.spec.containers[0].env.map(\.name) == ["JOB_COMPLETION_INDEX"])
    }

    @Test("reaching completions sets SuccessCriteriaMet, then Complete once no pod runs")
    func success() {
        var j = job(completions: 2, parallelism: 2)
        let running = pod("j-x", phase: "Running")
        let p = JobLogic.plan(
            j, pods: [running], succeeded: 2, failed: 0, completedIndexes: [], lastFailure: nil, now: now)
        #expect(p.status.conditions.map(\.type) == ["SuccessCriteriaMet"] && p.delete == ["j-x"])
        j.status = p.status
        let q = JobLogic.plan(j, pods: [], succeeded: 2, failed: 0, completedIndexes: [], lastFailure: nil, now: now)
        #expect(q.status.conditions.map(\.type) == ["SuccessCriteriaMet", "Complete"])
        #expect(q.status.conditions[1].reason == "CompletionsReached")
        #expect(q.status.conditions[1].message == "Reached expected number of succeeded pods")
        #expect(q.status.completionTime == Time(now) && q.events.map(\.reason) == ["Completed"])
    }

    @Test("more failures than backoffLimit fail the job with BackoffLimitExceeded")
    func backoffLimit() {
        let j = job(backoffLimit: 2)
        let p = JobLogic.plan(j, pods: [], succeeded: 0, failed: 3, completedIndexes: [], lastFailure: now, now: now)
        #expect(p.status.conditions.map(\.type) == ["FailureTarget", "Failed"])
        #expect(p.status.conditions[1].reason == "BackoffLimitExceeded")
        #expect(p.status.conditions[1].message == "Job has reached the specified backoff limit")
        // Within the limit: a replacement, after the pod-failure backoff (10 s doubling).
        let q = JobLogic.plan(
            j, pods: [], succeeded: 0, failed: 2, completedIndexes: [], lastFailure: now, now: now.addingTimeInterval(5)
        )
        #expect(q.create == 1 && q.createAfter == 15)
    }

    @Test("activeDeadlineSeconds fails the job with DeadlineExceeded and deletes its pods")
    func deadline() {
        var j = job()
        j.spec.activeDeadlineSeconds = 10
        j.status.startTime = Time(seconds: Int64(now.timeIntervalSince1970) - 11)
        let p = JobLogic.plan(
            j, pods: [pod("j-a")], succeeded: 0, failed: 0, completedIndexes: [], lastFailure: nil, now: now)
        #expect(p.delete == ["j-a"] && p.status.conditions.map(\.reason) == ["DeadlineExceeded"])
        #expect(p.status.conditions[0].message == "Job was active longer than specified deadline")
    }

    @Test("suspend deletes running pods and sets Suspended; resuming flips it back")
    func suspend() {
        var j = job()
        j.spec.suspend = true
        let p = JobLogic.plan(
            j, pods: [pod("j-a")], succeeded: 0, failed: 0, completedIndexes: [], lastFailure: nil, now: now)
        #expect(p.delete == ["j-a"] && p.status.conditions.map(\.reason) == ["JobSuspended"])
        j.status = p.status
        j.spec.suspend = false
        let q = JobLogic.plan(j, pods: [], succeeded: 0, failed: 0, completedIndexes: [], lastFailure: nil, now: now)
        #expect(q.status.conditions.first?.status == "False" && q.status.conditions.first?.reason == "JobResumed")
        #expect(q.create == 1)
    }

    @Test("cron: fields, ranges, steps, names, macros and the day-of-month/day-of-week rule")
    func cron() throws {
        let utc = TimeZone(identifier: "UTC")!
        let t0 = Date(timeIntervalSince1970: 1_700_000_000)  // 2023-11-14 22:13:20 UTC, a Tuesday
        #expect(try CronSchedule("*/15 * * * *").next(after: t0, in: utc) == Date(timeIntervalSince1970: 1_700_000_100))
        #expect(try CronSchedule("@hourly").next(after: t0, in: utc) == Date(timeIntervalSince1970: 1_700_002_800))
        // Next Monday 09:30: 2023-11-20.
        let monday = try CronSchedule("30 9 * * MON").next(after: t0, in: utc)!
        #expect(monday == Date(timeIntervalSince1970: 1_700_472_600))
        // Both day fields set: either matches (the 1st of December comes before the next Sunday? no: Sun 19th).
        let either = try CronSchedule("0 0 1 * SUN").next(after: t0, in: utc)!
        #expect(either == Date(timeIntervalSince1970: 1_700_352_000))  // Sunday 2023-11-19
        #expect(
            try CronSchedule("0 0 1 JAN-MAR *").next(after: t0, in: utc) == Date(timeIntervalSince1970: 1_704_067_200))
        // Time zones move the wall clock, not the rule.
        let ny = TimeZone(identifier: "America/New_York")!
        #expect(try CronSchedule("0 0 * * *").next(after: t0, in: ny) == Date(timeIntervalSince1970: 1_700_024_400))
        #expect(throws: CronSchedule.ParseError.self) { try CronSchedule("* * * *") }
        #expect(throws: CronSchedule.ParseError.self) { try CronSchedule("61 * * * *") }
        #expect(throws: CronSchedule.ParseError.self) { try CronSchedule("@fortnightly") }
        let missed = try CronSchedule("* * * * *").mostRecent(from: t0, to: t0.addingTimeInterval(3 * 86400), in: utc)
        #expect(missed.missed == 101 && missed.time == Date(timeIntervalSince1970: 1_700_259_180))
    }
}
