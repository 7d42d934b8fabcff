import APIBatch
import APICore
import APIMachinery
import Foundation
import Testing

@testable import Controllers

/// Job failure and success policies, per upstream's documentation
/// (https://kubernetes.io/docs/concepts/workloads/controllers/job/#pod-failure-policy,
/// #backoff-limit-per-index, #success-policy): rules in order, first match decides; exit code 0 never
/// matches; per-index limits fail an index, maxFailedIndexes fails the job; a success policy ends the
/// job as soon as one rule holds.
@Suite("job failure and success policies")
struct JobPolicyTests {
    let now = Date(timeIntervalSince1970: 3_000_000)

    func failed(_ name: String, exit: Int32, container: String = "main", conditions: [String] = []) -> CoreV1.Pod {
        var p = pod(name, phase: "Failed")
        var cs = CoreV1.ContainerStatus()
        cs.name = container
        cs.state.terminated = CoreV1.ContainerStateTerminated(exitCode: exit)
        p.status.containerStatuses = [cs]
        p.status.conditions = conditions.map { CoreV1.PodCondition(type: $0, status: "True") }
        return p
    }

    func rule(_ action: String, exitIn: [Int32]? = nil, notIn: [Int32]? = nil, condition: String? = nil)
        -> BatchV1.PodFailurePolicyRule
    {
        var r = BatchV1.PodFailurePolicyRule(action: action)
        if let exitIn { r.onExitCodes = BatchV1.PodFailurePolicyOnExitCodesRequirement(operator: "In", values: exitIn) }
        if let notIn {
            r.onExitCodes = BatchV1.PodFailurePolicyOnExitCodesRequirement(operator: "NotIn", values: notIn)
        }
        if let condition { r.onPodConditions = [BatchV1.PodFailurePolicyOnPodConditionsPattern(type: condition)] }
        return r
    }

    @Test("podFailurePolicy: the first matching rule decides, with upstream's message for FailJob")
    func verdicts() {
        let policy = BatchV1.PodFailurePolicy(rules: [
            rule("Ignore", condition: "DisruptionTarget"), rule("FailJob", exitIn: [42]), rule("Count", notIn: [0]),
        ])
        #expect(JobLogic.verdict(policy, failed("a", exit: 42, conditions: ["DisruptionTarget"])) == .ignore)
        #expect(
            JobLogic.verdict(policy, failed("b", exit: 42))
                == .failJob(
                    message: "Container main for pod ns/b failed with exit code 42 matching FailJob rule at index 1"))
        #expect(JobLogic.verdict(policy, failed("c", exit: 1)) == .count)
        #expect(JobLogic.verdict(nil, failed("d", exit: 42)) == .count)
        let byCondition = BatchV1.PodFailurePolicy(rules: [rule("FailJob", condition: "ConfigIssue")])
        #expect(
            JobLogic.verdict(byCondition, failed("e", exit: 1, conditions: ["ConfigIssue"]))
                == .failJob(message: "Pod ns/e has condition ConfigIssue matching FailJob rule at index 0"))
        // Exit code 0 is never a match, even for NotIn.
        #expect(
            JobLogic.verdict(BatchV1.PodFailurePolicy(rules: [rule("FailJob", notIn: [1])]), failed("f", exit: 0))
                == .count)
    }

    @Test("a FailJob match fails the job with reason PodFailurePolicy, terminating its pods first")
    func failJob() {
        var j = BatchV1.Job()
        j.spec.completions = 3
        j.spec.parallelism = 3
        let running = pod("r", phase: "Running")
        let plan = JobLogic.plan(
            j, pods: [running], succeeded: 0, failed: 1, completedIndexes: [], policyFailure: "Container x failed",
            lastFailure: nil, now: now)
        #expect(plan.delete == ["r"])
        #expect(plan.status.conditions.map(\.type) == ["FailureTarget"])
        #expect(plan.status.conditions[0].reason == "PodFailurePolicy")
        let done = JobLogic.plan(
            j, pods: [], succeeded: 0, failed: 1, completedIndexes: [], policyFailure: "Container x failed",
            lastFailure: nil, now: now)
        #expect(done.status.conditions.map(\.type) == ["FailureTarget", "Failed"])
        #expect(done.status.conditions[1].message == "Container x failed")
    }

    func indexedJob(completions: Int32, perIndex: Int32? = nil, maxFailed: Int32? = nil) -> BatchV1.Job {
        var j = BatchV1.Job()
        j.spec.completions = completions
        j.spec.parallelism = completions
        j.spec.completionMode = "Indexed"
        j.spec.backoffLimitPerIndex = perIndex
        j.spec.maxFailedIndexes = maxFailed
        j.spec.backoffLimit = 6
        return j
    }

    @Test("backoffLimitPerIndex: failed indexes are not retried, the job fails with FailedIndexes once all settle")
    func perIndex() {
        let j = indexedJob(completions: 4, perIndex: 1)
        var p = JobLogic.plan(
            j, pods: [], succeeded: 1, failed: 9, completedIndexes: [0], failedIndexes: [2], lastFailure: nil, now: now)
        #expect(p.createIndexes == [1, 3], "backoffLimit (6) does not apply; index 2 is given up")
        #expect(p.status.failedIndexes == "2")
        #expect(p.status.conditions.isEmpty)
        p = JobLogic.plan(
            j, pods: [], succeeded: 3, failed: 2, completedIndexes: [0, 1, 3], failedIndexes: [2], lastFailure: nil,
            now: now)
        #expect(p.status.conditions.map(\.reason) == ["FailedIndexes", "FailedIndexes"])
        #expect(p.status.conditions.last?.message == "Job has failed indexes")
        let capped = indexedJob(completions: 5, perIndex: 1, maxFailed: 1)
        p = JobLogic.plan(
            capped, pods: [], succeeded: 0, failed: 4, completedIndexes: [], failedIndexes: [0, 1], lastFailure: nil,
            now: now)
        #expect(p.status.conditions.last?.reason == "MaxFailedIndexesExceeded")
        #expect(p.status.conditions.last?.message == "Job has exceeded the specified maximum number of failed indexes")
    }

    @Test("an index's failures are carried on its pods' job-index-failure-count annotation")
    func failureCount() {
        var p = failed("x", exit: 1)
        #expect(JobLogic.indexFailures(p, counted: true) == 1)
        p.metadata.annotations[JobLogic.indexFailureCountAnnotation] = "2"
        #expect(JobLogic.indexFailures(p, counted: true) == 3)
        #expect(JobLogic.indexFailures(p, counted: false) == 2)
    }

    @Test("successPolicy: succeededIndexes and succeededCount; the job completes with reason SuccessPolicy")
    func successPolicy() {
        var j = indexedJob(completions: 10)
        j.spec.successPolicy = BatchV1.SuccessPolicy(rules: [
            BatchV1.SuccessPolicyRule(succeededIndexes: "0-2", succeededCount: nil),
            BatchV1.SuccessPolicyRule(succeededIndexes: "5-9", succeededCount: 2),
        ])
        #expect(JobLogic.successRule(j, completed: [0, 1]) == nil)
        #expect(JobLogic.successRule(j, completed: [0, 1, 2]) == 0)
        #expect(JobLogic.successRule(j, completed: [0, 7, 9]) == 1)
        let running = pod("r", phase: "Running")
        var p = JobLogic.plan(
            j, pods: [running], succeeded: 3, failed: 0, completedIndexes: [0, 1, 2], lastFailure: nil, now: now)
        #expect(p.delete == ["r"], "the rest is terminated")
        #expect(p.status.conditions.map(\.type) == ["SuccessCriteriaMet"])
        #expect(
            p.status.conditions[0].reason == "SuccessPolicy"
                && p.status.conditions[0].message == "Matched rules at index 0")
        var met = j
        met.status = p.status
        p = JobLogic.plan(
            met, pods: [], succeeded: 3, failed: 0, completedIndexes: [0, 1, 2], lastFailure: nil, now: now)
        #expect(p.status.conditions.map(\.type) == ["SuccessCriteriaMet", "Complete"])
        #expect(p.status.conditions[1].reason == "SuccessPolicy")
    }
}
