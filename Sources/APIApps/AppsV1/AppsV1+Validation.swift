import APICore
import APIMachinery

// Validation of apps/v1 kinds, after upstream's pkg/apis/apps/validation.

enum AppsValidation {
    /// Selector required and non-empty; template labels must match it; template restartPolicy Always.
    /// `emptySelectorKind` and `deadlineKind` name the kind in upstream's messages (a Deployment
    /// and a ReplicaSet both say "deployment" and "ReplicaSet", as upstream's do).
    static func validateSelectorAndTemplate(
        _ selector: MetaV1.LabelSelector?, _ template: CoreV1.PodTemplateSpec, _ path: FieldPath,
        emptySelectorKind: String = "deployment", deadlineKind: String = "ReplicaSet"
    ) -> ErrorList {
        var errs: ErrorList = []
        if let s = selector {
            errs += MetaValidation.validateLabelSelector(s, path.child("selector"))
            if s.isEmpty {
                errs.append(
                    .invalid(path.child("selector"), s.errorValue, "empty selector is invalid for \(emptySelectorKind)")
                )
            } else if !s.matches(template.metadata.labels) {
                errs.append(
                    .invalid(
                        path.child("template", "metadata", "labels"), template.metadata.labels.errorValue,
                        "`selector` does not match template `labels`"))
            }
        } else {
            errs.append(.required(path.child("selector")))
        }
        errs += CoreValidation.validatePodTemplateSpec(template, path.child("template"))
        if template.spec.restartPolicy != "Always" {
            errs.append(
                .notSupported(
                    path.child("template", "spec", "restartPolicy"), .string(template.spec.restartPolicy), ["Always"]))
        }
        if template.spec.activeDeadlineSeconds != nil {
            errs.append(
                .forbidden(
                    path.child("template", "spec", "activeDeadlineSeconds"),
                    "activeDeadlineSeconds in \(deadlineKind) is not Supported"))
        }
        return errs
    }

    /// An int-or-percent value: non-negative ints, percents up to 100%.
    static func validateIntOrPercent(_ v: IntOrString?, _ path: FieldPath) -> ErrorList {
        guard let v else { return [] }
        switch v {
        case .int(let i):
            return NumberValidation.nonNegative(Int64(i), path)
        case .string(let s):
            guard s.hasSuffix("%"), let n = Int(s.dropLast()) else {
                return [
                    .invalid(
                        path, s,
                        "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')"
                    )
                ]
            }
            if n > 100 { return [.invalid(path, s, "must not be greater than 100%")] }
            return []
        }
    }

    /// maxUnavailable and maxSurge: valid amounts, not both zero.
    static func validateRollingUpdate(
        _ maxUnavailable: IntOrString?, _ maxSurge: IntOrString?, _ rp: FieldPath
    ) -> ErrorList {
        var errs = validateIntOrPercent(maxUnavailable, rp.child("maxUnavailable"))
        errs += validateIntOrPercent(maxSurge, rp.child("maxSurge"))
        if isZero(maxUnavailable) && isZero(maxSurge) {
            errs.append(
                .invalid(rp.child("maxUnavailable"), maxUnavailable!.errorValue, "may not be 0 when `maxSurge` is 0"))
        }
        return errs
    }

    /// A DaemonSet's rolling update: valid amounts, and exactly one of the two non-zero.
    static func validateRollingUpdateDaemonSet(
        _ maxUnavailable: IntOrString?, _ maxSurge: IntOrString?, _ rp: FieldPath
    ) -> ErrorList {
        var errs = validateIntOrPercent(maxUnavailable, rp.child("maxUnavailable"))
        errs += validateIntOrPercent(maxSurge, rp.child("maxSurge"))
        let hasUnavailable = !isZero(maxUnavailable) && maxUnavailable != nil
        let hasSurge = !isZero(maxSurge) && maxSurge != nil
        if hasUnavailable && hasSurge {
            errs.append(
                .invalid(rp.child("maxSurge"), maxSurge!.errorValue, "may not be set when maxUnavailable is non-zero"))
        } else if !hasUnavailable && !hasSurge {
            errs.append(.required(rp.child("maxUnavailable"), "cannot be 0 when maxSurge is 0"))
        }
        return errs
    }

    static func isZero(_ v: IntOrString?) -> Bool {
        switch v {
        case .int(0)?, .string("0%")?: return true
        default: return false
        }
    }
}

extension AppsV1.Deployment: Validated {
    public func validate() -> ErrorList {
        var errs = MetaValidation.validateObjectMeta(metadata, namespaced: true, nameRule: .dns1123Subdomain)
        let p = FieldPath("spec")
        errs += NumberValidation.nonNegative(Int64(spec.replicas ?? 0), p.child("replicas"))
        errs += AppsValidation.validateSelectorAndTemplate(spec.selector, spec.template, p)
        switch spec.strategy.type {
        case "Recreate":
            if spec.strategy.rollingUpdate != nil {
                errs.append(
                    .forbidden(
                        p.child("strategy", "rollingUpdate"), "may not be specified when strategy `type` is 'Recreate'")
                )
            }
        case "RollingUpdate":
            if let ru = spec.strategy.rollingUpdate {
                let rp = p.child("strategy", "rollingUpdate")
                errs += AppsValidation.validateRollingUpdate(ru.maxUnavailable, ru.maxSurge, rp)
            }
        default:
            // Upstream reports the whole strategy (at spec.strategy), rendered from its internal type.
            errs.append(.notSupported(p.child("strategy"), spec.strategy.errorValue, ["Recreate", "RollingUpdate"]))
        }
        errs += NumberValidation.nonNegative(Int64(spec.minReadySeconds), p.child("minReadySeconds"))
        if let r = spec.revisionHistoryLimit {
            errs += NumberValidation.nonNegative(Int64(r), p.child("revisionHistoryLimit"))
        }
        if let d = spec.progressDeadlineSeconds {
            errs += NumberValidation.nonNegative(Int64(d), p.child("progressDeadlineSeconds"))
            if d <= spec.minReadySeconds {
                errs.append(
                    .invalid(
                        p.child("progressDeadlineSeconds"), .int(Int64(d)), "must be greater than minReadySeconds"))
            }
        }
        return errs
    }

    public func validateUpdate(from old: AppsV1.Deployment) -> ErrorList {
        var errs = MetaValidation.validateObjectMetaUpdate(metadata, old.metadata)
        if spec.selector != old.spec.selector {
            errs.append(
                MetaValidation.immutable(FieldPath("spec", "selector"), spec.selector?.errorValue ?? .json("null")))
        }
        return errs + validate()
    }
}

extension AppsV1.ReplicaSet: Validated {
    public func validate() -> ErrorList {
        var errs = MetaValidation.validateObjectMeta(metadata, namespaced: true, nameRule: .dns1123Subdomain)
        let p = FieldPath("spec")
        errs += NumberValidation.nonNegative(Int64(spec.replicas ?? 0), p.child("replicas"))
        errs += NumberValidation.nonNegative(Int64(spec.minReadySeconds), p.child("minReadySeconds"))
        errs += AppsValidation.validateSelectorAndTemplate(spec.selector, spec.template, p)
        return errs
    }

    public func validateUpdate(from old: AppsV1.ReplicaSet) -> ErrorList {
        var errs = MetaValidation.validateObjectMetaUpdate(metadata, old.metadata)
        if spec.selector != old.spec.selector {
            errs.append(
                MetaValidation.immutable(FieldPath("spec", "selector"), spec.selector?.errorValue ?? .json("null")))
        }
        return errs + validate()
    }
}

extension AppsV1.DaemonSet: Validated {
    public func validate() -> ErrorList {
        var errs = MetaValidation.validateObjectMeta(metadata, namespaced: true, nameRule: .dns1123Subdomain)
        let p = FieldPath("spec")
        errs += AppsValidation.validateSelectorAndTemplate(
            spec.selector, spec.template, p, emptySelectorKind: "daemonset", deadlineKind: "DaemonSet")
        errs += NumberValidation.nonNegative(Int64(spec.minReadySeconds), p.child("minReadySeconds"))
        switch spec.updateStrategy.type {
        case "OnDelete": break
        case "RollingUpdate":
            let rp = p.child("updateStrategy", "rollingUpdate")
            if let ru = spec.updateStrategy.rollingUpdate {
                errs += AppsValidation.validateRollingUpdateDaemonSet(ru.maxUnavailable, ru.maxSurge, rp)
            } else {
                errs.append(.required(rp))
            }
        default:
            // Upstream reports the whole strategy (at spec.updateStrategy), rendered from its internal type.
            errs.append(
                .notSupported(
                    p.child("updateStrategy"), spec.updateStrategy.errorValue, ["RollingUpdate", "OnDelete"]))
        }
        if let r = spec.revisionHistoryLimit {
            errs += NumberValidation.nonNegative(Int64(r), p.child("revisionHistoryLimit"))
        }
        return errs
    }

    public func validateUpdate(from old: AppsV1.DaemonSet) -> ErrorList {
        var errs = MetaValidation.validateObjectMetaUpdate(metadata, old.metadata)
        if spec.selector != old.spec.selector {
            errs.append(
                MetaValidation.immutable(FieldPath("spec", "selector"), spec.selector?.errorValue ?? .json("null")))
        }
        return errs + validate()
    }
}

extension AppsV1.StatefulSet: Validated {
    public func validate() -> ErrorList {
        var errs = MetaValidation.validateObjectMeta(metadata, namespaced: true, nameRule: .dns1123Label)
        let p = FieldPath("spec")
        switch spec.podManagementPolicy {
        case "": errs.append(.required(p.child("podManagementPolicy")))
        case "OrderedReady", "Parallel": break
        default:
            errs.append(
                .invalid(
                    p.child("podManagementPolicy"), .string(spec.podManagementPolicy),
                    "must be 'OrderedReady' or 'Parallel'"))
        }
        switch spec.updateStrategy.type {
        case "": errs.append(.required(p.child("updateStrategy")))
        case "OnDelete":
            if spec.updateStrategy.rollingUpdate != nil {
                errs.append(
                    .invalid(
                        p.child("updateStrategy", "rollingUpdate"), spec.updateStrategy.rollingUpdate!.errorValue,
                        "only allowed for updateStrategy 'RollingUpdate'"))
            }
        case "RollingUpdate":
            if let part = spec.updateStrategy.rollingUpdate?.partition {
                errs += NumberValidation.nonNegative(
                    Int64(part), p.child("updateStrategy", "rollingUpdate", "partition"))
            }
        default:
            // Upstream reports the whole strategy, rendered from its internal type.
            errs.append(
                .invalid(
                    p.child("updateStrategy"), spec.updateStrategy.errorValue, "must be 'RollingUpdate' or 'OnDelete'"))
        }
        errs += NumberValidation.nonNegative(Int64(spec.replicas ?? 0), p.child("replicas"))
        errs += NumberValidation.nonNegative(Int64(spec.minReadySeconds), p.child("minReadySeconds"))
        errs += AppsValidation.validateSelectorAndTemplate(
            spec.selector, spec.template, p, emptySelectorKind: "statefulset", deadlineKind: "StatefulSet")
        return errs
    }

    /// Only replicas, ordinals, template, updateStrategy, revisionHistoryLimit, the PVC retention
    /// policy and minReadySeconds may change.
    public func validateUpdate(from old: AppsV1.StatefulSet) -> ErrorList {
        var errs = MetaValidation.validateObjectMetaUpdate(metadata, old.metadata)
        var a = spec
        a.replicas = old.spec.replicas
        a.ordinals = old.spec.ordinals
        a.template = old.spec.template
        a.updateStrategy = old.spec.updateStrategy
        a.revisionHistoryLimit = old.spec.revisionHistoryLimit
        a.persistentVolumeClaimRetentionPolicy = old.spec.persistentVolumeClaimRetentionPolicy
        a.minReadySeconds = old.spec.minReadySeconds
        if a != old.spec {
            errs.append(
                .forbidden(
                    FieldPath("spec"),
                    "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"
                ))
        }
        return errs + validate()
    }
}

extension AppsV1.ControllerRevision: Validated {
    public func validate() -> ErrorList {
        var errs = MetaValidation.validateObjectMeta(metadata, namespaced: true, nameRule: .dns1123Subdomain)
        errs += NumberValidation.nonNegative(revision, FieldPath("revision"))
        return errs
    }

    public func validateUpdate(from old: AppsV1.ControllerRevision) -> ErrorList {
        var errs = MetaValidation.validateObjectMetaUpdate(metadata, old.metadata)
        if data != old.data { errs.append(MetaValidation.immutable(FieldPath("data"), .omitted)) }
        return errs + validate()
    }
}
