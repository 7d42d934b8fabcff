import APIMachinery

// Defaulting hooks of batch/v1, mirroring upstream's SetDefaults_* functions.

extension BatchV1.Job {
    /// SetDefaults_Job.
    public mutating func setDefaults() {
        if spec.completions == nil && spec.parallelism == nil {
            spec.completions = 1
            spec.parallelism = 1
        }
        if spec.parallelism == nil { spec.parallelism = 1 }
        if spec.backoffLimit == nil {
            spec.backoffLimit = spec.backoffLimitPerIndex != nil ? Int32.max : 6
        }
        if spec.completionMode == nil { spec.completionMode = "NonIndexed" }
        if spec.suspend == nil { spec.suspend = false }
        if spec.podReplacementPolicy == nil {
            spec.podReplacementPolicy = spec.podFailurePolicy != nil ? "Failed" : "TerminatingOrFailed"
        }
        if var pfp = spec.podFailurePolicy {
            for i in pfp.rules.indices {
                for j in pfp.rules[i].onPodConditions.indices where pfp.rules[i].onPodConditions[j].status.isEmpty {
                    pfp.rules[i].onPodConditions[j].status = "True"
                }
            }
            spec.podFailurePolicy = pfp
        }
        let labels = spec.template.metadata.labels
        if !labels.isEmpty && metadata.labels.isEmpty { metadata.labels = labels }
    }
}

extension BatchV1.CronJob {
    /// SetDefaults_CronJob.
    public mutating func setDefaults() {
        if spec.concurrencyPolicy.isEmpty { spec.concurrencyPolicy = "Allow" }
        if spec.suspend == nil { spec.suspend = false }
        if spec.successfulJobsHistoryLimit == nil { spec.successfulJobsHistoryLimit = 3 }
        if spec.failedJobsHistoryLimit == nil { spec.failedJobsHistoryLimit = 1 }
    }
}
