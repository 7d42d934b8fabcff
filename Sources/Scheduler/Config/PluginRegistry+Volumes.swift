import APIMachinery

/// Registration of VolumeBinding, VolumeRestrictions, VolumeZone and NodeVolumeLimits.
extension PluginRegistry {
    static let volumeFactories: [String: Factory] = [
        VolumeBinding.name: { args, h in
            // Upstream's New validates its args again, without a path.
            try validateVolumeBindingArgs(args, path: "")
            return VolumeBinding(
                handle: h,
                bindTimeoutSeconds: int(args["bindTimeoutSeconds"]) ?? VolumeBinding.defaultBindTimeoutSeconds)
        },
        VolumeRestrictions.name: { _, h in VolumeRestrictions(listers: h.listers) },
        VolumeZone.name: { _, h in VolumeZone(listers: h.listers) },
        NodeVolumeLimits.name: { _, h in NodeVolumeLimits(listers: h.listers) },
    ]

    static let volumeValidators: [String: ArgValidator] = [
        VolumeBinding.name: { args, path in try validateVolumeBindingArgs(args, path: path) }
    ]

    /// Upstream's `ValidateVolumeBindingArgs` with the StorageCapacityScoring gate off (its default):
    /// the timeout must not be negative, and `shape` must not be given at all.
    static func validateVolumeBindingArgs(_ args: JSONValue, path: String) throws {
        let prefix = path.isEmpty ? "" : path + "."
        var errs: [String] = []
        if let t = int(args["bindTimeoutSeconds"]), t < 0 {
            errs.append(
                "\(prefix)bindTimeoutSeconds: Invalid value: \(t): invalid BindTimeoutSeconds, should not be a negative value"
            )
        }
        if let shape = args["shape"], shape != .null {
            errs.append(
                "\(prefix)shape: Invalid value: \(goShape(shape)): unexpected field `shape`, remove it or turn on the feature gate StorageCapacityScoring"
            )
        }
        if errs.count == 1 { throw SchedulerConfigurationError(errs[0]) }
        if errs.count > 1 { throw SchedulerConfigurationError("[\(errs.joined(separator: ", "))]") }
    }

    /// The shape as Go prints the bad value (`%#v` of `[]config.UtilizationShapePoint`).
    static func goShape(_ v: JSONValue) -> String {
        guard case .array(let points) = v else { return "[]config.UtilizationShapePoint(nil)" }
        let items = points.map { p in
            "config.UtilizationShapePoint{Utilization:\(int(p["utilization"]) ?? 0), Score:\(int(p["score"]) ?? 0)}"
        }
        return "[]config.UtilizationShapePoint{\(items.joined(separator: ", "))}"
    }
}
