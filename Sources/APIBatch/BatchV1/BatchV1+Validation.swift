import APICore
import APIMachinery

// Validation of batch/v1 kinds, after upstream's pkg/apis/batch/validation.

extension BatchV1.Job: Validated {
    public func validate() -> ErrorList {
        var errs = MetaValidation.validateObjectMeta(metadata, namespaced: true, nameRule: .dns1123Subdomain)
        errs += BatchValidation.validateJobSpec(spec, FieldPath("spec"))
        return errs
    }

    public func validateUpdate(from old: BatchV1.Job) -> ErrorList {
        var errs = MetaValidation.validateObjectMetaUpdate(metadata, old.metadata)
        if spec.selector != old.spec.selector {
            errs.append(
                MetaValidation.immutable(FieldPath("spec", "selector"), spec.selector?.errorValue ?? .json("null")))
        }
        if spec.completions != old.spec.completions && spec.completionMode != "Indexed" {
            errs.append(MetaValidation.immutable(FieldPath("spec", "completions"), .int(Int64(spec.completions ?? 0))))
        }
        if spec.completionMode != old.spec.completionMode {
            errs.append(
                MetaValidation.immutable(FieldPath("spec", "completionMode"), .string(spec.completionMode ?? "")))
        }
        if spec.template.spec != old.spec.template.spec && old.spec.suspend != true {
            errs.append(MetaValidation.immutable(FieldPath("spec", "template"), .omitted))
        }
        return errs + validate()
    }
}

enum BatchValidation {
    /// upstream's ValidateJobSpec: the shared checks, then the selector and its match.
    static func validateJobSpec(_ spec: BatchV1.JobSpec, _ p: FieldPath) -> ErrorList {
        var errs = validateJobSpecCommon(spec, p)
        if spec.selector == nil { errs.append(.required(p.child("selector"), "")) }
        errs += MetaValidation.validateLabelSelector(spec.selector, p.child("selector"))
        if let s = spec.selector, !s.matches(spec.template.metadata.labels) {
            errs.append(
                .invalid(
                    p.child("template", "metadata", "labels"), spec.template.metadata.labels.errorValue,
                    "`selector` does not match template `labels`"))
        }
        return errs
    }

    /// upstream's validateJobSpec: what a Job and a CronJob's job template share.
    static func validateJobSpecCommon(_ spec: BatchV1.JobSpec, _ p: FieldPath) -> ErrorList {
        var errs: ErrorList = []
        if let v = spec.parallelism { errs += NumberValidation.nonNegative(Int64(v), p.child("parallelism")) }
        if let v = spec.completions { errs += NumberValidation.nonNegative(Int64(v), p.child("completions")) }
        if let v = spec.activeDeadlineSeconds {
            errs += NumberValidation.nonNegative(v, p.child("activeDeadlineSeconds"))
        }
        if let v = spec.backoffLimit { errs += NumberValidation.nonNegative(Int64(v), p.child("backoffLimit")) }
        if let v = spec.ttlSecondsAfterFinished {
            errs += NumberValidation.nonNegative(Int64(v), p.child("ttlSecondsAfterFinished"))
        }
        if let mode = spec.completionMode, !["NonIndexed", "Indexed"].contains(mode) {
            errs.append(.notSupported(p.child("completionMode"), .string(mode), ["NonIndexed", "Indexed"]))
        }
        if spec.completionMode == "Indexed" && spec.completions == nil {
            errs.append(.required(p.child("completions"), "when completion mode is Indexed"))
        }
        errs += CoreValidation.validatePodTemplateSpec(spec.template, p.child("template"))
        let rp = spec.template.spec.restartPolicy
        // A defaulted (Always) or empty policy is reported as missing, other values as unsupported.
        if rp == "Always" || rp.isEmpty {
            errs.append(
                .required(p.child("template", "spec", "restartPolicy"), "valid values: \"OnFailure\", \"Never\""))
        } else if rp != "OnFailure" && rp != "Never" {
            errs.append(
                .notSupported(p.child("template", "spec", "restartPolicy"), .string(rp), ["OnFailure", "Never"]))
        }
        return errs
    }
}

extension BatchV1.CronJob: Validated {
    public func validate() -> ErrorList {
        var errs = MetaValidation.validateObjectMeta(metadata, namespaced: true, nameRule: .dns1123Subdomain)
        let p = FieldPath("spec")
        if spec.schedule.isEmpty {
            errs.append(.required(p.child("schedule")))
        } else if let problem = CronSchedule.validate(spec.schedule) {
            errs.append(.invalid(p.child("schedule"), spec.schedule, problem))
        }
        if let v = spec.startingDeadlineSeconds {
            errs += NumberValidation.nonNegative(v, p.child("startingDeadlineSeconds"))
        }
        switch spec.concurrencyPolicy {
        case "Allow", "Forbid", "Replace": break
        case "": errs.append(.required(p.child("concurrencyPolicy")))
        default:
            errs.append(
                .notSupported(
                    p.child("concurrencyPolicy"), .string(spec.concurrencyPolicy), ["Allow", "Forbid", "Replace"]))
        }
        // The job template's selector is always generated, so it may not be set.
        let jp = p.child("jobTemplate", "spec")
        errs += BatchValidation.validateJobSpecCommon(spec.jobTemplate.spec, jp)
        if let s = spec.jobTemplate.spec.selector {
            errs.append(.invalid(jp.child("selector"), s.errorValue, "`selector` will be auto-generated"))
        }
        if let v = spec.successfulJobsHistoryLimit {
            errs += NumberValidation.nonNegative(Int64(v), p.child("successfulJobsHistoryLimit"))
        }
        if let v = spec.failedJobsHistoryLimit {
            errs += NumberValidation.nonNegative(Int64(v), p.child("failedJobsHistoryLimit"))
        }
        // The controller appends an 11-character suffix to name its jobs.
        if metadata.name.utf8.count > 52 {
            errs.append(.invalid(FieldPath("metadata", "name"), metadata.name, "must be no more than 52 characters"))
        }
        return errs
    }

    public func validateUpdate(from old: BatchV1.CronJob) -> ErrorList {
        MetaValidation.validateObjectMetaUpdate(metadata, old.metadata) + validate()
    }
}

/// Standard five-field cron expressions (and `@hourly`-style macros), as CronJobs accept them.
public enum CronSchedule {
    static let macros: Set<String> = ["@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"]

    /// A problem description, or nil when the schedule parses.
    public static func validate(_ schedule: String) -> String? {
        var s = schedule.trimmingCharacters(in: .whitespaces)
        if s.hasPrefix("TZ=") || s.hasPrefix("CRON_TZ=") {
            return "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"
        }
        if s.hasPrefix("@") {
            if s.hasPrefix("@every ") { return nil }
            return macros.contains(s) ? nil : "unrecognized descriptor: \(s)"
        }
        s = s.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
        let fields = s.split(separator: " ")
        guard fields.count == 5 else { return "expected exactly 5 fields, found \(fields.count): [\(s)]" }
        let ranges: [(Int, Int, [String])] = [
            (0, 59, []), (0, 23, []), (1, 31, []),
            (1, 12, ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]),
            (0, 6, ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]),
        ]
        for (f, (lo, hi, names)) in zip(fields, ranges) {
            for part in f.split(separator: ",", omittingEmptySubsequences: false) {
                var rangePart = Substring(part)
                if let slash = part.firstIndex(of: "/") {
                    rangePart = part[..<slash]
                    guard let step = Int(part[part.index(after: slash)...]), step > 0 else {
                        return "failed to parse int from \(part[part.index(after: slash)...])"
                    }
                }
                if rangePart == "*" || rangePart == "?" { continue }
                let bounds = rangePart.split(separator: "-", omittingEmptySubsequences: false)
                guard bounds.count <= 2 else { return "too many hyphens: \(part)" }
                for b in bounds {
                    let v: Int? = Int(b) ?? names.firstIndex(of: b.uppercased()).map { $0 + (lo == 1 ? 1 : 0) }
                    guard let n = v else { return "failed to parse int from \(b)" }
                    if n < lo || n > hi {
                        return n < lo
                            ? "beginning of range (\(n)) below minimum (\(lo)): \(part)"
                            : "end of range (\(n)) above maximum (\(hi)): \(part)"
                    }
                }
            }
        }
        return nil
    }
}
