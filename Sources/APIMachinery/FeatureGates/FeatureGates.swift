/// The maturity of a feature gate.
public enum FeatureStage: String, Sendable {
    case alpha = "ALPHA"
    case beta = "BETA"
    case ga = "GA"
    case deprecated = "DEPRECATED"
}

/// A feature gate known to k8swift, with upstream's v1.36 default.
public struct FeatureGateSpec: Sendable, Hashable {
    public var name: String
    public var defaultEnabled: Bool
    public var stage: FeatureStage
    public var lockedToDefault: Bool

    public init(_ name: String, _ defaultEnabled: Bool, _ stage: FeatureStage, locked: Bool) {
        self.name = name
        self.defaultEnabled = defaultEnabled
        self.stage = stage
        self.lockedToDefault = locked
    }
}

/// Feature gates as `--feature-gates` sets them: upstream's defaults, overridden per gate.
public struct FeatureGates: Sendable {
    public struct Error: Swift.Error, Sendable, Equatable, CustomStringConvertible {
        public var description: String
        public init(description: String) { self.description = description }
    }

    public private(set) var specs: [String: FeatureGateSpec]
    public private(set) var overrides: [String: Bool] = [:]

    /// Upstream's v1.36 gates with their defaults.
    public init(known: [FeatureGateSpec] = FeatureGates.kubernetesDefaults) {
        var specs: [String: FeatureGateSpec] = [:]
        for s in known { specs[s.name] = s }
        self.specs = specs
    }

    /// Parses `--feature-gates`: `A=true,B=false`.
    public init(flag: String, known: [FeatureGateSpec] = FeatureGates.kubernetesDefaults) throws(Error) {
        self.init(known: known)
        try set(flag)
    }

    /// Applies `A=true,B=false`, rejecting unknown gates, bad values and changes to locked gates.
    public mutating func set(_ flag: String) throws(Error) {
        for item in flag.split(separator: ",") {
            let pair = item.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            let name = pair[0]
            if name.isEmpty { continue }
            guard pair.count == 2 else { throw Error(description: "missing bool value for \(name)") }
            guard let spec = specs[name] else { throw Error(description: "unrecognized feature gate: \(name)") }
            guard let value = Self.parseBool(pair[1]) else {
                throw Error(
                    description:
                        "invalid value of \(name)=\(pair[1]), err: strconv.ParseBool: parsing \(GoQuote.quote(pair[1])): invalid syntax"
                )
            }
            if spec.lockedToDefault && value != spec.defaultEnabled {
                throw Error(
                    description:
                        "cannot set feature gate \(name) to \(value), feature is locked to \(spec.defaultEnabled)")
            }
            overrides[name] = value
        }
    }

    /// Go's strconv.ParseBool.
    static func parseBool(_ s: String) -> Bool? {
        switch s {
        case "1", "t", "T", "true", "TRUE", "True": return true
        case "0", "f", "F", "false", "FALSE", "False": return false
        default: return nil
        }
    }

    public func enabled(_ name: String) -> Bool {
        overrides[name] ?? specs[name]?.defaultEnabled ?? false
    }

    /// Every known gate that is off.
    public var disabled: Set<String> {
        Set(specs.keys.filter { !enabled($0) })
    }
}

/// A value whose fields may be guarded by feature gates (generated for API types that have any).
public protocol FeatureGatedFields {
    /// Adds the gates of every guarded field this value sets.
    func gatedFieldsInUse(_ gates: inout Set<String>)
    /// Clears every guarded field whose gate is in `disabled`.
    mutating func dropGatedFields(disabled: Set<String>)
}

extension FeatureGates {
    /// Upstream's PrepareForCreate/PrepareForUpdate rule: a field whose gate is off is dropped,
    /// unless the stored object already uses a field of that gate.
    public func dropDisabledFields<T: FeatureGatedFields>(_ new: inout T, old: T?) {
        var inUse: Set<String> = []
        old?.gatedFieldsInUse(&inUse)
        let drop = disabled.subtracting(inUse)
        if !drop.isEmpty { new.dropGatedFields(disabled: drop) }
    }
}
