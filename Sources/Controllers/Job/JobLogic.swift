import APIBatch
import APICore
import APIMachinery
import Foundation

/// The job controller's decisions, as pure functions (upstream's `job_controller.go`,
/// `indexed_job_utils.go`, `tracking_utils.go`).
enum JobLogic {
    static let trackingFinalizer = "batch.kubernetes.io/job-tracking"
    static let indexAnnotation = "batch.kubernetes.io/job-completion-index"
    static let indexFailureCountAnnotation = "batch.kubernetes.io/job-index-failure-count"
    static let indexIgnoredFailureCountAnnotation = "batch.kubernetes.io/job-index-ignored-failure-count"
    static let maxPodCreateDeletePerSync = 500
    static let podFailureBackoff: TimeInterval = 10
    static let maxPodFailureBackoff: TimeInterval = 360

    static func isIndexed(_ j: BatchV1.Job) -> Bool { j.spec.completionMode == "Indexed" }
    static func parallelism(_ j: BatchV1.Job) -> Int { Int(j.spec.parallelism ?? 1) }
    static func isSuspended(_ j: BatchV1.Job) -> Bool { j.spec.suspend == true }

    static func condition(_ j: BatchV1.Job, _ type: String) -> BatchV1.JobCondition? {
        j.status.conditions.first { $0.type == type && $0.status == "True" }
    }

    /// Complete or Failed: nothing more is started.
    static func isFinished(_ j: BatchV1.Job) -> Bool {
        condition(j, "Complete") != nil || condition(j, "Failed") != nil
    }

    static func finished(_ p: CoreV1.Pod) -> Bool { p.status.phase == "Succeeded" || p.status.phase == "Failed" }

    static func index(of p: CoreV1.Pod) -> Int? { p.metadata.annotations[indexAnnotation].flatMap { Int($0) } }

    // MARK: completed indexes ("1,3-5,7")

    static func parseIndexes(_ s: String) -> Set<Int> {
        var out: Set<Int> = []
        for part in s.split(separator: ",") {
            let r = part.split(separator: "-").compactMap { Int($0) }
            if r.count == 1 { out.insert(r[0]) } else if r.count == 2, r[0] <= r[1] { out.formUnion(r[0]...r[1]) }
        }
        return out
    }

    static func formatIndexes(_ set: Set<Int>) -> String {
        let sorted = set.sorted()
        var parts: [String] = []
        var i = 0
        while i < sorted.count {
            var j = i
            while j + 1 < sorted.count && sorted[j + 1] == sorted[j] + 1 { j += 1 }
            parts.append(j == i ? String(sorted[i]) : "\(sorted[i])-\(sorted[j])")
            i = j + 1
        }
        return parts.joined(separator: ",")
    }

    // MARK: failure and success policies

    /// What a failed pod means under the job's `podFailurePolicy` (upstream's `matchPodFailurePolicy`).
    enum Verdict: Equatable {
        case count
        case ignore
        case failIndex
        case failJob(message: String)
    }

    /// The first rule matching a failed pod decides: exit codes of its containers (then init
    /// containers; exit code 0 never matches), or its conditions. No rule: the failure counts.
    static func verdict(_ policy: BatchV1.PodFailurePolicy?, _ p: CoreV1.Pod) -> Verdict {
        guard let policy else { return .count }
        let ref = "\(p.metadata.namespace)/\(p.metadata.name)"
        func outcome(_ action: String, _ message: String) -> Verdict {
            switch action {
            case "FailJob": return .failJob(message: message)
            case "Ignore": return .ignore
            case "FailIndex": return .failIndex
            default: return .count
            }
        }
        for (i, rule) in policy.rules.enumerated() {
            if let req = rule.onExitCodes {
                for cs in p.status.containerStatuses + p.status.initContainerStatuses
                where req.containerName == nil || req.containerName == cs.name {
                    guard let code = cs.state.terminated?.exitCode, code != 0 else { continue }
                    if (req.operator == "In") == req.values.contains(code) {
                        return outcome(
                            rule.action,
                            "Container \(cs.name) for pod \(ref) failed with exit code \(code) matching \(rule.action) rule at index \(i)"
                        )
                    }
                }
            }
            for pattern in rule.onPodConditions {
                let want = pattern.status.isEmpty ? "True" : pattern.status
                if p.status.conditions.contains(where: { $0.type == pattern.type && $0.status == want }) {
                    return outcome(
                        rule.action,
                        "Pod \(ref) has condition \(pattern.type) matching \(rule.action) rule at index \(i)")
                }
            }
        }
        return .count
    }

    /// The failures an index has had, as recorded on its latest pod (`job-index-failure-count`), plus
    /// this pod's own failure when it counts.
    static func indexFailures(_ p: CoreV1.Pod, counted: Bool) -> Int {
        (p.metadata.annotations[indexFailureCountAnnotation].flatMap { Int($0) } ?? 0) + (counted ? 1 : 0)
    }

    /// The first `successPolicy` rule the completed indexes satisfy (upstream's `matchSuccessPolicy`).
    static func successRule(_ j: BatchV1.Job, completed: Set<Int>) -> Int? {
        guard let rules = j.spec.successPolicy?.rules else { return nil }
        for (i, r) in rules.enumerated() {
            if let text = r.succeededIndexes {
                let wanted = parseIndexes(text)
                let done = completed.intersection(wanted).count
                if let n = r.succeededCount { if done >= Int(n) { return i } } else if done == wanted.count { return i }
            } else if let n = r.succeededCount, completed.count >= Int(n) {
                return i
            }
        }
        return nil
    }

    // MARK: pods

    /// A pod of the job (`getPodFromTemplate` plus the job's additions): the tracking finalizer and,
    /// for Indexed jobs, the completion index as annotation, label, environment variable and hostname.
    static func pod(for j: BatchV1.Job, index: Int?, owner: MetaV1.OwnerReference) -> CoreV1.Pod {
        let base = index.map { "\(j.metadata.name)-\($0)-" } ?? "\(j.metadata.name)-"
        var p = ReplicaSetLogic.pod(
            from: j.spec.template, namespace: j.metadata.namespace, generateName: base, owner: owner)
        if !p.metadata.finalizers.contains(trackingFinalizer) { p.metadata.finalizers.append(trackingFinalizer) }
        if let index {
            p.metadata.annotations[indexAnnotation] = String(index)
            p.metadata.labels[indexAnnotation] = String(index)
            if !p.spec.subdomain.isEmpty && p.spec.hostname.isEmpty { p.spec.hostname = "\(j.metadata.name)-\(index)" }
            let env = CoreV1.EnvVar(
                name: "JOB_COMPLETION_INDEX",
                valueFrom: CoreV1.EnvVarSource(
                    fieldRef: CoreV1.ObjectFieldSelector(fieldPath: "metadata.annotations['\(indexAnnotation)']")))
            for i in p.spec.containers.indices where !p.spec.containers[i].env.contains(where: { $0.name == env.name })
            {
                p.spec.containers[i].env.append(env)
            }
            for i in p.spec.initContainers.indices
            where !p.spec.initContainers[i].env.contains(where: { $0.name == env.name }) {
                p.spec.initContainers[i].env.append(env)
            }
        }
        return p
    }

    /// What one sync does.
    struct Plan: Equatable {
        var create: Int = 0
        /// For Indexed jobs, which indexes to create (count == create).
        var createIndexes: [Int] = []
        var delete: [String] = []
        /// Wait this long before replacing failed pods (pod failure backoff).
        var createAfter: TimeInterval = 0
        var status: BatchV1.JobStatus
        var events: [Event] = []

        struct Event: Equatable {
            var type: String
            var reason: String
            var note: String
        }
    }

    static func newCondition(_ type: String, status: String = "True", _ reason: String, _ message: String, now: Date)
        -> BatchV1.JobCondition
    {
        BatchV1.JobCondition(
            type: type, status: status, lastProbeTime: Time(now), lastTransitionTime: Time(now), reason: reason,
            message: message)
    }

    /// Sets a condition, keeping the transition time when its status is unchanged.
    static func setCondition(_ s: inout BatchV1.JobStatus, _ c: BatchV1.JobCondition) {
        if let i = s.conditions.firstIndex(where: { $0.type == c.type }) {
            if s.conditions[i].status == c.status && s.conditions[i].reason == c.reason
                && s.conditions[i].message == c.message
            {
                return
            }
            var n = c
            if s.conditions[i].status == c.status { n.lastTransitionTime = s.conditions[i].lastTransitionTime }
            s.conditions[i] = n
        } else {
            s.conditions.append(c)
        }
    }

    /// The next step for a job given its pods (each owned, finished ones counted in `status` already or
    /// in `uncounted`), upstream's rules: counts, failure (backoff limit, deadline), success (completions,
    /// indexes, or a work queue's first success), suspension, and how many pods to add or remove.
    static func plan(
        _ j: BatchV1.Job, pods: [CoreV1.Pod], succeeded: Int, failed: Int, completedIndexes: Set<Int>,
        failedIndexes: Set<Int> = [], policyFailure: String? = nil, lastFailure: Date?, now: Date
    ) -> Plan {
        var s = j.status
        var plan = Plan(status: s)
        let active = pods.filter { Pods.isActive($0) }
        let terminating = pods.filter { Pods.isTerminating($0) }
        s.succeeded = Int32(succeeded)
        s.failed = Int32(failed)
        s.ready = Int32(active.filter(Pods.isReady).count)
        s.terminating = Int32(terminating.count)
        if isIndexed(j) { s.completedIndexes = formatIndexes(completedIndexes) }
        let perIndex = isIndexed(j) && j.spec.backoffLimitPerIndex != nil
        if perIndex { s.failedIndexes = formatIndexes(failedIndexes) }
        if isFinished(j) {
            s.active = Int32(active.count)
            plan.status = s
            return plan
        }
        if s.startTime == nil && !isSuspended(j) { s.startTime = Time(now) }
        let backoffLimit = Int(j.spec.backoffLimit ?? 6)
        let completions = j.spec.completions.map(Int.init)
        var failure: (reason: String, message: String)?
        if condition(j, "FailureTarget") != nil {
            let c = j.status.conditions.first { $0.type == "FailureTarget" }!
            failure = (c.reason, c.message)
        } else if let message = policyFailure {
            failure = ("PodFailurePolicy", message)
        } else if !perIndex && failed > backoffLimit {
            failure = ("BackoffLimitExceeded", "Job has reached the specified backoff limit")
        } else if perIndex, let m = j.spec.maxFailedIndexes, failedIndexes.count > Int(m) {
            failure = ("MaxFailedIndexesExceeded", "Job has exceeded the specified maximum number of failed indexes")
        } else if let deadline = j.spec.activeDeadlineSeconds, let start = s.startTime, !isSuspended(j),
            now.timeIntervalSince1970 - Double(start.seconds) >= Double(deadline)
        {
            failure = ("DeadlineExceeded", "Job was active longer than specified deadline")
        }
        var success = false
        var successReason = ("CompletionsReached", "Reached expected number of succeeded pods")
        if failure == nil {
            if isIndexed(j), let rule = successRule(j, completed: completedIndexes) {
                success = true
                successReason = ("SuccessPolicy", "Matched rules at index \(rule)")
            } else if isIndexed(j), let c = completions {
                let done = completedIndexes.filter { $0 < c }.count
                success = done >= c
                // Every index settled, some failed: the job fails (backoffLimitPerIndex).
                if perIndex && !failedIndexes.isEmpty && done + failedIndexes.filter({ $0 < c }).count >= c {
                    failure = ("FailedIndexes", "Job has failed indexes")
                }
            } else if let c = completions {
                success = succeeded >= c
            } else {
                // A work queue is done once a pod succeeded and none is left running.
                success = succeeded > 0 && active.isEmpty
            }
        }
        if let f = failure {
            setCondition(&s, newCondition("FailureTarget", f.reason, f.message, now: now))
            plan.delete = active.map(\.metadata.name)
            if active.isEmpty && terminating.isEmpty {
                setCondition(&s, newCondition("Failed", f.reason, f.message, now: now))
                plan.events.append(.init(type: "Warning", reason: f.reason, note: f.message))
            }
            s.active = Int32(active.count)
            plan.status = s
            return plan
        }
        if let met = condition(j, "SuccessCriteriaMet") { successReason = (met.reason, met.message) }
        if success || condition(j, "SuccessCriteriaMet") != nil {
            setCondition(&s, newCondition("SuccessCriteriaMet", successReason.0, successReason.1, now: now))
            plan.delete = active.map(\.metadata.name)
            if active.isEmpty && terminating.isEmpty {
                setCondition(&s, newCondition("Complete", successReason.0, successReason.1, now: now))
                s.completionTime = Time(now)
                plan.events.append(.init(type: "Normal", reason: "Completed", note: "Job completed"))
            }
            s.active = Int32(active.count)
            plan.status = s
            return plan
        }
        if isSuspended(j) {
            if j.status.conditions.first(where: { $0.type == "Suspended" })?.status != "True" {
                setCondition(&s, newCondition("Suspended", "JobSuspended", "Job suspended", now: now))
                plan.events.append(.init(type: "Normal", reason: "Suspended", note: "Job suspended"))
            }
            plan.delete = active.map(\.metadata.name)
            s.active = Int32(active.count)
            plan.status = s
            return plan
        }
        if j.status.conditions.first(where: { $0.type == "Suspended" })?.status == "True" {
            setCondition(&s, newCondition("Suspended", status: "False", "JobResumed", "Job resumed", now: now))
            plan.events.append(.init(type: "Normal", reason: "Resumed", note: "Job resumed"))
            // The deadline counts from the resume.
            s.startTime = Time(now)
        }
        // How many should run now.
        var want = parallelism(j)
        if isIndexed(j), let c = completions {
            want = min(want, c - completedIndexes.union(failedIndexes).filter { $0 < c }.count)
        } else if let c = completions {
            want = min(want, c - succeeded)
        } else if succeeded > 0 {
            want = active.count
        }
        want = max(0, want)
        // Pods still terminating count against replacements (podReplacementPolicy TerminatingOrFailed).
        let replacing = (j.spec.podReplacementPolicy ?? "TerminatingOrFailed") == "Failed" ? terminating.count : 0
        let running = active.count + replacing
        if running < want {
            var n = min(want - running, maxPodCreateDeletePerSync)
            if isIndexed(j), let c = completions {
                let taken = Set(active.compactMap(index(of:))).union(completedIndexes).union(failedIndexes)
                plan.createIndexes = Array((0..<c).filter { !taken.contains($0) }.prefix(n))
                n = plan.createIndexes.count
            }
            plan.create = n
            if failed > 0, let last = lastFailure {
                let delay = min(maxPodFailureBackoff, podFailureBackoff * pow(2, Double(min(failed, 20) - 1)))
                plan.createAfter = max(0, last.timeIntervalSince1970 + delay - now.timeIntervalSince1970)
            }
        } else if active.count > want {
            let ranked = ReplicaSetLogic.rankForDeletion(active, related: active, now: now)
            plan.delete = ranked.prefix(min(active.count - want, maxPodCreateDeletePerSync)).map(\.metadata.name)
        }
        s.active = Int32(active.count)
        plan.status = s
        return plan
    }
}
