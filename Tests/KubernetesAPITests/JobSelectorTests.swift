import KubernetesAPI
import Testing

/// Upstream's selector generation for Jobs created without `manualSelector: true`.
@Suite("Job selector generation")
struct JobSelectorTests {
    static func job(labels: [String: String] = [:], selector: [String: String]? = nil) -> BatchV1.Job {
        var j = BatchV1.Job()
        j.metadata = MetaV1.ObjectMeta(name: "pi", namespace: "prod")
        j.metadata.uid = "0b7c6d1e-uid"
        j.spec.template.metadata.labels = labels
        if let selector { j.spec.selector = MetaV1.LabelSelector(matchLabels: selector) }
        j.spec.template.spec.restartPolicy = "Never"
        j.spec.template.spec.containers = [CoreV1.Container(name: "c", image: "busybox")]
        j.applyDefaults()
        return j
    }

    @Test("the template gets the name and uid labels, old and new keys, and the selector picks the uid")
    func generated() {
        var j = Self.job(labels: ["app": "pi"])
        j.generateSelectorIfNeeded()
        #expect(
            j.spec.template.metadata.labels == [
                "app": "pi", "job-name": "pi", "batch.kubernetes.io/job-name": "pi",
                "controller-uid": "0b7c6d1e-uid", "batch.kubernetes.io/controller-uid": "0b7c6d1e-uid",
            ])
        #expect(j.spec.selector?.matchLabels == ["batch.kubernetes.io/controller-uid": "0b7c6d1e-uid"])
        #expect(j.validate().isEmpty)
    }

    @Test("labels the user set are kept, so a conflicting one fails validation")
    func userLabelsKept() {
        var j = Self.job(labels: ["batch.kubernetes.io/controller-uid": "someone-else", "job-name": "mine"])
        j.generateSelectorIfNeeded()
        #expect(j.spec.template.metadata.labels["job-name"] == "mine")
        #expect(j.spec.template.metadata.labels["batch.kubernetes.io/controller-uid"] == "someone-else")
        #expect(j.validate().map(\.field.description) == ["spec.template.metadata.labels"])
    }

    @Test("with manualSelector true nothing is generated, and a missing selector is required")
    func manual() {
        var j = Self.job(labels: ["app": "pi"])
        j.spec.manualSelector = true
        j.generateSelectorIfNeeded()
        #expect(j.spec.template.metadata.labels == ["app": "pi"])
        #expect(j.spec.selector == nil)
        #expect(j.validate().map(\.field.description) == ["spec.selector"])
    }
}
