/// A kind whose objects carry `metadata: ObjectMeta` (generated conformance).
public protocol ObjectMetaCarrier {
    var metadata: MetaV1.ObjectMeta { get set }
}

/// How a kind's names are checked (upstream's per-registry `ValidateNameFunc`).
public enum NameRule: Sendable {
    case dns1123Subdomain
    case dns1123Label
    case dns1035Label
    /// Path-segment names (RBAC roles, etc.): anything but `.`, `..`, or containing `/` or `%`.
    case pathSegment

    public func check(_ name: String, prefix: Bool) -> [String] {
        var n = name
        if prefix && n.hasSuffix("-") { n.removeLast() }  // generateName may end in '-'
        switch self {
        case .dns1123Subdomain: return NameValidation.isDNS1123Subdomain(n)
        case .dns1123Label: return NameValidation.isDNS1123Label(n)
        case .dns1035Label: return NameValidation.isDNS1035Label(n)
        case .pathSegment:
            if !prefix && (name == "." || name == "..") { return ["may not be '\(name)'"] }
            var errs: [String] = []
            for bad in ["/", "%"] where name.contains(bad) { errs.append("may not contain '\(bad)'") }
            return errs
        }
    }
}

public enum MetaValidation {
    /// Upstream's limit on the total size of annotation keys and values.
    public static let totalAnnotationSizeLimit = 256 * 1024

    static let standardFinalizers: Set<String> = [
        "kubernetes", "orphan", "foregroundDeletion", "customresourcecleanup.apiextensions.k8s.io",
    ]

    /// ValidateObjectMeta: names, namespace, labels, annotations, owner references, finalizers.
    public static func validateObjectMeta(
        _ meta: MetaV1.ObjectMeta, namespaced: Bool, nameRule: NameRule, path: FieldPath = FieldPath("metadata")
    ) -> ErrorList {
        var errs: ErrorList = []
        if !meta.generateName.isEmpty {
            for m in nameRule.check(meta.generateName, prefix: true) {
                errs.append(.invalid(path.child("generateName"), meta.generateName, m))
            }
        }
        if meta.name.isEmpty {
            if meta.generateName.isEmpty {
                errs.append(.required(path.child("name"), "name or generateName is required"))
            }
        } else {
            for m in nameRule.check(meta.name, prefix: false) {
                errs.append(.invalid(path.child("name"), meta.name, m))
            }
        }
        if namespaced {
            if meta.namespace.isEmpty {
                errs.append(.required(path.child("namespace")))
            } else {
                for m in NameValidation.isDNS1123Label(meta.namespace) {
                    errs.append(.invalid(path.child("namespace"), meta.namespace, m))
                }
            }
        } else if !meta.namespace.isEmpty {
            errs.append(.forbidden(path.child("namespace"), "not allowed on this type"))
        }
        if meta.generation < 0 {
            errs.append(.invalid(path.child("generation"), .int(meta.generation), "must be greater than or equal to 0"))
        }
        errs += validateLabels(meta.labels, path.child("labels"))
        errs += validateAnnotations(meta.annotations, path.child("annotations"))
        errs += validateOwnerReferences(meta.ownerReferences, path.child("ownerReferences"))
        errs += validateFinalizers(meta.finalizers, path.child("finalizers"))
        return errs
    }

    public static func validateLabels(_ labels: [String: String], _ path: FieldPath) -> ErrorList {
        var errs: ErrorList = []
        for k in labels.keys.sorted() {
            for m in NameValidation.isQualifiedName(k) { errs.append(.invalid(path, k, m)) }
            for m in NameValidation.isValidLabelValue(labels[k]!) { errs.append(.invalid(path, labels[k]!, m)) }
        }
        return errs
    }

    public static func validateAnnotations(_ annotations: [String: String], _ path: FieldPath) -> ErrorList {
        var errs: ErrorList = []
        var total = 0
        for k in annotations.keys.sorted() {
            for m in NameValidation.isQualifiedName(k.lowercased()) { errs.append(.invalid(path, k, m)) }
            total += k.utf8.count + annotations[k]!.utf8.count
        }
        if total > totalAnnotationSizeLimit { errs.append(.tooLong(path, totalAnnotationSizeLimit)) }
        return errs
    }

    public static func validateOwnerReferences(_ refs: [MetaV1.OwnerReference], _ path: FieldPath) -> ErrorList {
        var errs: ErrorList = []
        var controllers: [String] = []
        for r in refs {
            if GroupVersion(apiVersion: r.apiVersion) == nil {
                errs.append(.invalid(path.child("apiVersion"), r.apiVersion, "version must not be empty"))
            }
            if r.kind.isEmpty { errs.append(.invalid(path.child("kind"), r.kind, "kind must not be empty")) }
            if r.name.isEmpty { errs.append(.invalid(path.child("name"), r.name, "name must not be empty")) }
            if r.uid.isEmpty { errs.append(.invalid(path.child("uid"), r.uid, "uid must not be empty")) }
            if r.controller == true { controllers.append("\(r.kind)/\(r.name)") }
        }
        if controllers.count > 1 {
            errs.append(
                .invalid(
                    path, .json("[" + refs.count.description + " references]"),
                    "Only one reference can have Controller set to true. Found \"true\" in references for "
                        + controllers.joined(separator: " and ")))
        }
        return errs
    }

    public static func validateFinalizers(_ finalizers: [String], _ path: FieldPath) -> ErrorList {
        var errs: ErrorList = []
        var seen: Set<String> = []
        for (i, f) in finalizers.enumerated() {
            for m in NameValidation.isQualifiedName(f) { errs.append(.invalid(path.index(i), f, m)) }
            if !f.contains("/") && !standardFinalizers.contains(f) && NameValidation.isQualifiedName(f).isEmpty {
                errs.append(
                    .invalid(path.index(i), f, "name is neither a standard finalizer name nor is it fully qualified"))
            }
            if !seen.insert(f).inserted { errs.append(.duplicate(path.index(i), .string(f))) }
        }
        return errs
    }

    /// ValidateObjectMetaUpdate: identity fields are immutable.
    public static func validateObjectMetaUpdate(
        _ new: MetaV1.ObjectMeta, _ old: MetaV1.ObjectMeta, path: FieldPath = FieldPath("metadata")
    ) -> ErrorList {
        var errs: ErrorList = []
        if new.name != old.name { errs.append(.invalid(path.child("name"), new.name, "field is immutable")) }
        if new.namespace != old.namespace {
            errs.append(.invalid(path.child("namespace"), new.namespace, "field is immutable"))
        }
        if new.uid != old.uid { errs.append(.invalid(path.child("uid"), new.uid, "field is immutable")) }
        if new.creationTimestamp != old.creationTimestamp {
            errs.append(
                .invalid(
                    path.child("creationTimestamp"), .string(new.creationTimestamp?.rfc3339 ?? ""), "field is immutable"
                ))
        }
        if old.deletionTimestamp != nil && new.deletionTimestamp != old.deletionTimestamp {
            errs.append(
                .invalid(
                    path.child("deletionTimestamp"), .string(new.deletionTimestamp?.rfc3339 ?? ""), "field is immutable"
                ))
        }
        if old.deletionGracePeriodSeconds != nil && new.deletionGracePeriodSeconds != old.deletionGracePeriodSeconds {
            errs.append(
                .invalid(
                    path.child("deletionGracePeriodSeconds"), .int(new.deletionGracePeriodSeconds ?? 0),
                    "field is immutable; may only be changed via deletion"))
        }
        return errs
    }

    /// ValidateLabelSelector: keys, values and operators.
    public static func validateLabelSelector(_ s: MetaV1.LabelSelector?, _ path: FieldPath) -> ErrorList {
        guard let s else { return [] }
        var errs: ErrorList = []
        for (i, e) in s.matchExpressions.enumerated() {
            let p = path.child("matchExpressions").index(i)
            switch e.operator {
            case "In", "NotIn":
                if e.values.isEmpty {
                    errs.append(.required(p.child("values"), "must be specified when `operator` is 'In' or 'NotIn'"))
                }
            case "Exists", "DoesNotExist":
                if !e.values.isEmpty {
                    errs.append(
                        .forbidden(
                            p.child("values"), "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"))
                }
            default:
                errs.append(.invalid(p.child("operator"), e.operator, "not a valid selector operator"))
            }
            for m in NameValidation.isQualifiedName(e.key) { errs.append(.invalid(p.child("key"), e.key, m)) }
        }
        errs += validateLabels(s.matchLabels, path.child("matchLabels"))
        return errs
    }

    /// An error for a field that may not change.
    public static func immutable(_ path: FieldPath, _ value: ErrorValue) -> FieldError {
        .invalid(path, value, "field is immutable")
    }
}

extension MetaV1.LabelSelector {
    /// Whether the selector matches a label set (an empty selector matches everything).
    public func matches(_ labels: [String: String]) -> Bool {
        for (k, v) in matchLabels where labels[k] != v { return false }
        for e in matchExpressions {
            let value = labels[e.key]
            switch e.operator {
            case "In": if value == nil || !e.values.contains(value!) { return false }
            case "NotIn": if let v = value, e.values.contains(v) { return false }
            case "Exists": if value == nil { return false }
            case "DoesNotExist": if value != nil { return false }
            default: return false
            }
        }
        return true
    }

    /// Whether this selector selects nothing and everything alike (no requirements).
    public var isEmpty: Bool { matchLabels.isEmpty && matchExpressions.isEmpty }
}

extension JSONEncodableValue {
    /// The JSON rendering used in validation messages for structured values.
    public var errorValue: ErrorValue {
        var w = JSONWriter()
        encodeJSON(&w)
        return .json(String(decoding: w.bytes, as: UTF8.self))
    }
}

/// A kind with upstream's create and update validation (the registry strategy's Validate and
/// ValidateUpdate), run on the hub version.
public protocol Validated {
    func validate() -> ErrorList
    func validateUpdate(from old: Self) -> ErrorList
}

/// Shared numeric checks with upstream's messages.
public enum NumberValidation {
    public static func nonNegative(_ v: Int64, _ path: FieldPath) -> ErrorList {
        v < 0 ? [.invalid(path, .int(v), "must be greater than or equal to 0")] : []
    }

    public static func positive(_ v: Int64, _ path: FieldPath) -> ErrorList {
        v <= 0 ? [.invalid(path, .int(v), "must be greater than 0")] : []
    }
}
