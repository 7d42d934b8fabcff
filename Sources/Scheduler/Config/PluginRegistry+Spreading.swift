import APICore
import APIMachinery

/// Registration of PodTopologySpread and InterPodAffinity.
extension PluginRegistry {
    static let spreadingFactories: [String: Factory] = [
        PodTopologySpread.name: { args, handle in
            let (type, constraints) = try podTopologySpreadArgs(args)
            let errs = validatePodTopologySpread(type, constraints, path: .root)
            if !errs.isEmpty { throw SchedulerConfigurationError(errs.aggregateMessage) }
            return PodTopologySpread(
                defaultingType: PodTopologySpread.DefaultingType(rawValue: type) ?? .system,
                defaultConstraints: constraints, listers: handle.listers)
        },
        InterPodAffinity.name: { args, _ in
            let (weight, ignore) = try interPodAffinityArgs(args)
            let errs = validateInterPodAffinity(weight, path: .root)
            if !errs.isEmpty { throw SchedulerConfigurationError(errs.aggregateMessage) }
            return InterPodAffinity(hardPodAffinityWeight: Int32(weight), ignorePreferredTermsOfExistingPods: ignore)
        },
    ]

    static let spreadingValidators: [String: ArgValidator] = [
        PodTopologySpread.name: { args, path in
            let (type, constraints) = try podTopologySpreadArgs(args)
            let errs = validatePodTopologySpread(type, constraints, path: argsPath(path))
            if !errs.isEmpty { throw SchedulerConfigurationError(errs.aggregateMessage) }
        },
        InterPodAffinity.name: { args, path in
            let (weight, _) = try interPodAffinityArgs(args)
            let errs = validateInterPodAffinity(weight, path: argsPath(path))
            if !errs.isEmpty { throw SchedulerConfigurationError(errs.aggregateMessage) }
        },
    ]

    static func argsPath(_ path: String) -> FieldPath { path.isEmpty ? .root : FieldPath(path) }

    // MARK: PodTopologySpreadArgs

    /// `defaultingType` (empty or absent: `System`, as upstream defaults it) and `defaultConstraints`.
    static func podTopologySpreadArgs(_ args: JSONValue) throws -> (String, [CoreV1.TopologySpreadConstraint]) {
        var type = args["defaultingType"]?.stringValue ?? ""
        if type.isEmpty { type = PodTopologySpread.DefaultingType.system.rawValue }
        var constraints: [CoreV1.TopologySpreadConstraint] = []
        if case .array(let items)? = args["defaultConstraints"] {
            for item in items {
                do {
                    constraints.append(
                        try JSONReader.decode(CoreV1.TopologySpreadConstraint.self, from: item.jsonBytes))
                } catch {
                    throw SchedulerConfigurationError("decoding PodTopologySpreadArgs.defaultConstraints: \(error)")
                }
            }
        }
        return (type, constraints)
    }

    /// Upstream's `ValidatePodTopologySpreadArgs`.
    static func validatePodTopologySpread(
        _ type: String, _ constraints: [CoreV1.TopologySpreadConstraint], path: FieldPath
    ) -> ErrorList {
        var errs: ErrorList = []
        let typePath = path.child("defaultingType")
        if type != "System" && type != "List" {
            errs.append(.notSupported(typePath, .string(type), ["System", "List"]))
        } else if type == "System" && !constraints.isEmpty {
            errs.append(.invalid(typePath, type, "when .defaultConstraints are not empty"))
        }
        let listPath = path.child("defaultConstraints")
        for (i, c) in constraints.enumerated() {
            let p = listPath.index(i)
            if c.maxSkew <= 0 {
                errs.append(.invalid(p.child("maxSkew"), .int(Int64(c.maxSkew)), "not in valid range (0, inf)"))
            }
            let keyPath = p.child("topologyKey")
            if c.topologyKey.isEmpty {
                errs.append(.required(keyPath, "can not be empty"))
            } else {
                for m in NameValidation.isQualifiedName(c.topologyKey) {
                    errs.append(.invalid(keyPath, c.topologyKey, m))
                }
            }
            let whenPath = p.child("whenUnsatisfiable")
            if c.whenUnsatisfiable.isEmpty {
                errs.append(.required(whenPath, "can not be empty"))
            } else if c.whenUnsatisfiable != "DoNotSchedule" && c.whenUnsatisfiable != "ScheduleAnyway" {
                errs.append(.notSupported(whenPath, .string(c.whenUnsatisfiable), ["DoNotSchedule", "ScheduleAnyway"]))
            }
            if c.labelSelector != nil {
                errs.append(
                    .forbidden(
                        p.child("labelSelector"), "constraint must not define a selector, as they deduced for each pod")
                )
            }
            if constraints[..<i].contains(where: {
                $0.topologyKey == c.topologyKey && $0.whenUnsatisfiable == c.whenUnsatisfiable
            }) {
                errs.append(.duplicate(p, .string("{\(c.topologyKey), \(c.whenUnsatisfiable)}")))
            }
        }
        return errs
    }

    // MARK: InterPodAffinityArgs

    /// `hardPodAffinityWeight` (default 1) and `ignorePreferredTermsOfExistingPods` (default false).
    static func interPodAffinityArgs(_ args: JSONValue) throws -> (Int64, Bool) {
        var weight: Int64 = 1
        if let v = args["hardPodAffinityWeight"], v != .null {
            guard let w = int(v) else {
                throw SchedulerConfigurationError("decoding InterPodAffinityArgs.hardPodAffinityWeight: not an integer")
            }
            weight = w
        }
        var ignore = false
        if case .bool(let b)? = args["ignorePreferredTermsOfExistingPods"] { ignore = b }
        return (weight, ignore)
    }

    /// Upstream's `ValidateInterPodAffinityArgs`.
    static func validateInterPodAffinity(_ weight: Int64, path: FieldPath) -> ErrorList {
        if weight < 0 || weight > 100 {
            return [.invalid(path.child("hardPodAffinityWeight"), .int(weight), "not in valid range [0, 100]")]
        }
        return []
    }
}
