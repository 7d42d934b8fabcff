import APICore
import APIMachinery
import Foundation

/// Graceful node shutdown as upstream's kubelet orders it: when the node is told to stop and
/// `shutdownGracePeriod` is positive, regular pods get the period less the critical pods' share,
/// then critical pods (priority at or above system-critical) get their share; each pod is killed with
/// the smaller of its own grace period and its group's.
public struct ShutdownConfig: Sendable, Equatable {
    /// `--shutdown-grace-period` (`shutdownGracePeriod`), whole seconds; 0 turns the feature off.
    public var gracePeriodSeconds: Int64 = 0
    /// `--shutdown-grace-period-critical-pods` (`shutdownGracePeriodCriticalPods`).
    public var criticalPodsGracePeriodSeconds: Int64 = 0

    public init(gracePeriodSeconds: Int64 = 0, criticalPodsGracePeriodSeconds: Int64 = 0) {
        self.gracePeriodSeconds = gracePeriodSeconds
        self.criticalPodsGracePeriodSeconds = criticalPodsGracePeriodSeconds
    }

    public var enabled: Bool { gracePeriodSeconds > 0 }

    /// Upstream's validation: neither negative, and the critical share within the whole.
    public func validate() -> String? {
        if gracePeriodSeconds < 0 || criticalPodsGracePeriodSeconds < 0 {
            return "shutdownGracePeriod and shutdownGracePeriodCriticalPods must not be negative"
        }
        if criticalPodsGracePeriodSeconds > gracePeriodSeconds {
            return "shutdownGracePeriodCriticalPods must be <= shutdownGracePeriod"
        }
        return nil
    }
}

public enum NodeShutdown {
    public static let reason = "Terminated"
    public static let message = "Pod was terminated in response to imminent node shutdown."
    /// The Ready condition's error while the node shuts down.
    public static let notReadyMessage = "node is shutting down"
    /// How new pods are refused while the node shuts down.
    public static let rejectionReason = "NodeShutdown"
    public static let rejectionMessage = "Pod was rejected as the node is shutting down."

    /// One pod to kill and the grace it gets.
    public struct Kill: Sendable, Equatable {
        public var uid: String
        public var gracePeriodSeconds: Int64

        public init(uid: String, gracePeriodSeconds: Int64) {
            self.uid = uid
            self.gracePeriodSeconds = gracePeriodSeconds
        }
    }

    /// Pods killed together, and how long the group may take before the next starts.
    public struct Group: Sendable, Equatable {
        public var periodSeconds: Int64
        public var kills: [Kill]

        public init(periodSeconds: Int64, kills: [Kill]) {
            self.periodSeconds = periodSeconds
            self.kills = kills
        }
    }

    /// The groups to run, in order: regular pods, then critical ones; pods already finished are left
    /// alone, and an empty group is dropped.
    public static func plan(_ pods: [CoreV1.Pod], config: ShutdownConfig) -> [Group] {
        guard config.enabled else { return [] }
        let critical = max(0, min(config.criticalPodsGracePeriodSeconds, config.gracePeriodSeconds))
        let regular = config.gracePeriodSeconds - critical
        let live = pods.filter { $0.status.phase != "Succeeded" && $0.status.phase != "Failed" }
        func kills(_ pods: [CoreV1.Pod], period: Int64) -> [Kill] {
            pods.map { p in
                Kill(uid: p.metadata.uid, gracePeriodSeconds: min(p.spec.terminationGracePeriodSeconds ?? 30, period))
            }
        }
        let isCritical = { (p: CoreV1.Pod) in (p.spec.priority ?? 0) >= Eviction.systemCriticalPriority }
        return [
            Group(periodSeconds: regular, kills: kills(live.filter { !isCritical($0) }, period: regular)),
            Group(periodSeconds: critical, kills: kills(live.filter(isCritical), period: critical)),
        ].filter { !$0.kills.isEmpty }
    }

    /// A pod's status once shutdown ended it.
    public static func status(_ status: CoreV1.PodStatus, now: Time) -> CoreV1.PodStatus {
        Eviction.failedStatus(status, reason: reason, message: message, now: now)
    }
}
