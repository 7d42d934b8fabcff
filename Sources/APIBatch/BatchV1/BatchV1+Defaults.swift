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
        if spec.manualSelector == nil { spec.manualSelector = false }
    }
}

extension BatchV1.Job {
    /// Labels that tie a Job's pods to it (upstream's batch/v1 label keys).
    public static let jobNameLabel = "batch.kubernetes.io/job-name"
    public static let controllerUIDLabel = "batch.kubernetes.io/controller-uid"
    public static let legacyJobNameLabel = "job-name"
    public static let legacyControllerUIDLabel = "controller-uid"

    /// On create, unless `spec.manualSelector` is true: the pod template gets the job's name and
    /// uid as labels (both the prefixed and the legacy keys, where the user has not set them) and
    /// the selector matches the prefixed uid label. Labels the user set to other values are kept,
    /// so validation reports the mismatch. Needs the uid assigned.
    public mutating func generateSelectorIfNeeded() {
        guard spec.manualSelector != true else { return }
        for key in [Self.legacyJobNameLabel, Self.jobNameLabel] where spec.template.metadata.labels[key] == nil {
            spec.template.metadata.labels[key] = metadata.name
        }
        for key in [Self.legacyControllerUIDLabel, Self.controllerUIDLabel]
        where spec.template.metadata.labels[key] == nil {
            spec.template.metadata.labels[key] = metadata.uid
        }
        var selector = spec.selector ?? MetaV1.LabelSelector()
        if selector.matchLabels[Self.controllerUIDLabel] == nil {
            selector.matchLabels[Self.controllerUIDLabel] = metadata.uid
        }
        spec.selector = selector
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
