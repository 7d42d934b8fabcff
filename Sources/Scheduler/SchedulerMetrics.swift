import Foundation
import Synchronization

/// The scheduler's own metrics in upstream's names (`scheduler_schedule_attempts_total`,
/// `scheduler_scheduling_attempt_duration_seconds`, `scheduler_pod_scheduling_attempts`…), rendered
/// in Prometheus text format.
public final class SchedulerMetrics: Sendable {
    static let buckets: [Double] = [0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024]
    struct State {
        var attempts: [String: Int] = [:]
        var durationCounts: [String: [Int]] = [:]
        var durationSums: [String: Double] = [:]
        var bound = 0
    }
    let state = Mutex(State())

    func attempt(_ result: String, since start: ContinuousClock.Instant) {
        let d = ContinuousClock.now - start
        let secs = Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
        state.withLock { s in
            s.attempts[result, default: 0] += 1
            var counts = s.durationCounts[result] ?? [Int](repeating: 0, count: Self.buckets.count)
            for (i, b) in Self.buckets.enumerated() where secs <= b { counts[i] += 1 }
            s.durationCounts[result] = counts
            s.durationSums[result, default: 0] += secs
        }
    }

    func bound() { state.withLock { $0.bound += 1 } }

    public var scheduled: Int { state.withLock { $0.bound } }

    /// The metrics text, with the queue's pending pods by sub-queue.
    public func render(queue: SchedulingQueue?) -> String {
        let s = state.withLock { $0 }
        var out = "# HELP scheduler_schedule_attempts_total Number of attempts to schedule pods, by the result.\n"
        out += "# TYPE scheduler_schedule_attempts_total counter\n"
        for r in ["scheduled", "unschedulable", "error"] {
            out +=
                "scheduler_schedule_attempts_total{profile=\"default-scheduler\",result=\"\(r)\"} \(s.attempts[r] ?? 0)\n"
        }
        out += "# HELP scheduler_scheduling_attempt_duration_seconds Scheduling attempt latency in seconds.\n"
        out += "# TYPE scheduler_scheduling_attempt_duration_seconds histogram\n"
        for (r, counts) in s.durationCounts.sorted(by: { $0.key < $1.key }) {
            for (i, b) in Self.buckets.enumerated() {
                out +=
                    "scheduler_scheduling_attempt_duration_seconds_bucket{result=\"\(r)\",le=\"\(b)\"} \(counts[i])\n"
            }
            out +=
                "scheduler_scheduling_attempt_duration_seconds_bucket{result=\"\(r)\",le=\"+Inf\"} \(s.attempts[r] ?? 0)\n"
            out += "scheduler_scheduling_attempt_duration_seconds_sum{result=\"\(r)\"} \(s.durationSums[r] ?? 0)\n"
            out += "scheduler_scheduling_attempt_duration_seconds_count{result=\"\(r)\"} \(s.attempts[r] ?? 0)\n"
        }
        if let q = queue?.counts {
            out += "# HELP scheduler_pending_pods Number of pending pods, by the queue type.\n"
            out += "# TYPE scheduler_pending_pods gauge\n"
            out += "scheduler_pending_pods{queue=\"active\"} \(q.active)\n"
            out += "scheduler_pending_pods{queue=\"backoff\"} \(q.backoff)\n"
            out += "scheduler_pending_pods{queue=\"unschedulable\"} \(q.unschedulable)\n"
            out += "scheduler_pending_pods{queue=\"gated\"} \(q.gated)\n"
        }
        return out
    }
}
