import APIMachinery
import KubernetesAPI

/// `pods/ephemeralcontainers` (what `kubectl debug` writes): only `spec.ephemeralContainers` of the
/// stored pod changes; containers may be added, never changed or removed (upstream's
/// ValidatePodEphemeralContainersUpdate, with its messages).
enum EphemeralContainers {
    static func update(_ input: CoreV1.Pod, old: CoreV1.Pod) -> (CoreV1.Pod, ErrorList) {
        var pod = old
        pod.spec.ephemeralContainers = input.spec.ephemeralContainers
        return (pod, validate(input.spec.ephemeralContainers, pod: old))
    }

    static func validate(_ new: [CoreV1.EphemeralContainer], pod: CoreV1.Pod) -> ErrorList {
        var errs: ErrorList = []
        let path = FieldPath("spec", "ephemeralContainers")
        let byName = Dictionary(
            new.enumerated().map { ($0.element.ephemeralContainerCommon.name, $0) }, uniquingKeysWith: { a, _ in a })
        for old in pod.spec.ephemeralContainers {
            let name = old.ephemeralContainerCommon.name
            guard let (i, now) = byName[name] else {
                errs.append(.forbidden(path, "existing ephemeral containers \"\(name)\" may not be removed"))
                continue
            }
            if now != old {
                errs.append(.forbidden(path.index(i), "existing ephemeral containers \"\(name)\" may not be changed"))
            }
        }
        var taken = Set(pod.spec.containers.map(\.name) + pod.spec.initContainers.map(\.name))
        let existing = Set(pod.spec.ephemeralContainers.map(\.ephemeralContainerCommon.name))
        let targets = Set(pod.spec.containers.map(\.name) + pod.spec.initContainers.map(\.name))
        for (i, e) in new.enumerated() {
            let c = e.ephemeralContainerCommon
            let p = path.index(i)
            if existing.contains(c.name) {
                taken.insert(c.name)
                continue
            }
            if c.name.isEmpty {
                errs.append(.required(p.child("name")))
            } else {
                for m in NameValidation.isDNS1123Label(c.name) { errs.append(.invalid(p.child("name"), c.name, m)) }
                if !taken.insert(c.name).inserted { errs.append(.duplicate(p.child("name"), .string(c.name))) }
            }
            if c.image.isEmpty { errs.append(.required(p.child("image"))) }
            if !e.targetContainerName.isEmpty && !targets.contains(e.targetContainerName) {
                errs.append(FieldError(.notFound, p.child("targetContainerName"), .string(e.targetContainerName), ""))
            }
            let forbidden: [(String, Bool)] = [
                ("ports", !c.ports.isEmpty), ("livenessProbe", c.livenessProbe != nil),
                ("readinessProbe", c.readinessProbe != nil), ("startupProbe", c.startupProbe != nil),
                ("lifecycle", c.lifecycle != nil),
                ("resources", !c.resources.limits.isEmpty || !c.resources.requests.isEmpty),
            ]
            for (field, set) in forbidden where set {
                errs.append(.forbidden(p.child(field), "cannot be set for an Ephemeral Container"))
            }
        }
        return errs
    }
}
