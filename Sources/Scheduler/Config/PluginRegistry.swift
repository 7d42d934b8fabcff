import APICore
import APIMachinery

/// The plugins this scheduler knows by their upstream names, the default set, their default args,
/// and how a profile becomes a `Framework` (upstream's in-tree registry and `NewFramework`).
public enum PluginRegistry {
    public typealias Factory = @Sendable (_ args: JSONValue, _ handle: Handle) throws -> any Plugin

    /// Factories by plugin name.
    public static let factories: [String: Factory] =
        builtIn
        .merging(spreadingFactories) { a, _ in a }
        .merging(volumeFactories) { a, _ in a }
        .merging(preemptionFactories) { a, _ in a }

    static let builtIn: [String: Factory] = [
        PrioritySort.name: { _, _ in PrioritySort() },
        SchedulingGates.name: { _, _ in SchedulingGates() },
        NodeUnschedulable.name: { _, _ in NodeUnschedulable() },
        NodeName.name: { _, _ in NodeName() },
        TaintToleration.name: { _, _ in TaintToleration() },
        NodeAffinity.name: { args, _ in
            let added = try args["addedAffinity"].map { v -> CoreV1.NodeAffinity in
                try JSONReader.decode(CoreV1.NodeAffinity.self, from: v.jsonBytes)
            }
            return NodeAffinity(addedAffinity: added)
        },
        NodePorts.name: { _, _ in NodePorts() },
        NodeResourcesFit.name: { args, _ in
            try NodeResourcesFit(
                ignoredResources: strings(args["ignoredResources"]),
                ignoredResourceGroups: strings(args["ignoredResourceGroups"]), strategy: scoringStrategy(args))
        },
        NodeResourcesBalancedAllocation.name: { args, _ in
            NodeResourcesBalancedAllocation(resources: try resources(args["resources"]) ?? ScoringStrategy().resources)
        },
        ImageLocality.name: { _, h in ImageLocality(snapshot: h.snapshot) },
        DefaultBinder.name: { _, h in DefaultBinder(client: h.client) },
    ]

    /// Upstream v1.36's default plugins (MultiPoint, in order, with score weights).
    public static var defaultPlugins: PluginsConfig {
        var p = PluginsConfig()
        p["multiPoint"] = PluginSet(
            enabled: [
                PluginRef("SchedulingGates"), PluginRef("PrioritySort"), PluginRef("NodeUnschedulable"),
                PluginRef("NodeName"), PluginRef("TaintToleration", weight: 3), PluginRef("NodeAffinity", weight: 2),
                PluginRef("NodePorts"), PluginRef("NodeResourcesFit", weight: 1), PluginRef("VolumeRestrictions"),
                PluginRef("NodeVolumeLimits"), PluginRef("VolumeBinding"), PluginRef("VolumeZone"),
                PluginRef("PodTopologySpread", weight: 2), PluginRef("InterPodAffinity", weight: 2),
                PluginRef("DefaultPreemption"), PluginRef("NodeResourcesBalancedAllocation", weight: 1),
                PluginRef("ImageLocality", weight: 1), PluginRef("DefaultBinder"),
            ].filter { factories[$0.name] != nil })
        return p
    }

    /// Default args of plugins that take any (`SetDefaults_*Args`).
    public static let defaultArgs: [(String, JSONValue)] = [
        (
            "DefaultPreemption",
            .object([("minCandidateNodesPercentage", .number("10")), ("minCandidateNodesAbsolute", .number("100"))])
        ),
        (
            "InterPodAffinity",
            .object([("hardPodAffinityWeight", .number("1")), ("ignorePreferredTermsOfExistingPods", .bool(false))])
        ),
        ("NodeResourcesBalancedAllocation", .object([("resources", defaultResources)])),
        (
            "NodeResourcesFit",
            .object([
                ("scoringStrategy", .object([("type", .string("LeastAllocated")), ("resources", defaultResources)]))
            ])
        ),
        ("PodTopologySpread", .object([("defaultingType", .string("System"))])),
        ("VolumeBinding", .object([("bindTimeoutSeconds", .number("600"))])),
    ]

    static let defaultResources: JSONValue = .array([
        .object([("name", .string("cpu")), ("weight", .number("1"))]),
        .object([("name", .string("memory")), ("weight", .number("1"))]),
    ])

    /// Validators of plugin args by plugin name (upstream's `ValidateXArgs`), added by plugins that take args.
    public static let argValidators: [String: ArgValidator] =
        builtInValidators
        .merging(spreadingValidators) { a, _ in a }
        .merging(volumeValidators) { a, _ in a }
        .merging(preemptionValidators) { a, _ in a }

    public typealias ArgValidator = @Sendable (_ args: JSONValue, _ path: String) throws -> Void

    static let builtInValidators: [String: ArgValidator] = [
        NodeResourcesFit.name: { args, path in _ = try scoringStrategy(args, path: path) },
        NodeResourcesBalancedAllocation.name: { args, path in
            _ = try resources(args["resources"], path: path + ".resources")
        },
    ]

    static func validateArgs(_ name: String, _ args: JSONValue, path: String) throws {
        try argValidators[name]?(args, path)
    }

    // MARK: args decoding

    static func strings(_ v: JSONValue?) -> [String] {
        guard case .array(let a)? = v else { return [] }
        return a.compactMap(\.stringValue)
    }

    static func int(_ v: JSONValue?) -> Int64? {
        guard case .number(let n)? = v else { return nil }
        return Int64(n)
    }

    static func resources(_ v: JSONValue?, path: String = "resources") throws -> [ResourceSpec]? {
        // An empty list means the default resources; a weight unset or 0 is defaulted to 1.
        guard case .array(let a)? = v, !a.isEmpty else { return nil }
        var out: [ResourceSpec] = []
        for (i, r) in a.enumerated() {
            let name = r["name"]?.stringValue ?? ""
            var w = int(r["weight"]) ?? 0
            if w == 0 { w = 1 }
            if w < 0 || w > 100 {
                throw SchedulerConfigurationError(
                    "\(path)[\(i)].weight: Invalid value: \(w): resource weight of \(name) not in valid range (0, 100]")
            }
            out.append(ResourceSpec(name: name, weight: w))
        }
        return out
    }

    static func scoringStrategy(_ args: JSONValue, path: String = "") throws -> ScoringStrategy {
        var s = ScoringStrategy()
        guard let v = args["scoringStrategy"] else { return s }
        let p = (path.isEmpty ? "" : path + ".") + "scoringStrategy"
        if let t = v["type"]?.stringValue {
            guard let k = ScoringStrategy.Kind(rawValue: t) else {
                throw SchedulerConfigurationError(
                    "\(p).type: Unsupported value: \"\(t)\": supported values: \"LeastAllocated\", \"MostAllocated\", \"RequestedToCapacityRatio\""
                )
            }
            s.type = k
        }
        if let r = try resources(v["resources"], path: p + ".resources") { s.resources = r }
        if s.type == .requestedToCapacityRatio {
            guard case .array(let shape)? = v["requestedToCapacityRatio"]?["shape"], !shape.isEmpty else {
                throw SchedulerConfigurationError(
                    "\(p).requestedToCapacityRatio.shape: Required value: at least one point must be specified")
            }
            var last: Int64 = -1
            for (i, pt) in shape.enumerated() {
                let u = int(pt["utilization"]) ?? 0
                let sc = int(pt["score"]) ?? 0
                if u < 0 || u > 100 {
                    throw SchedulerConfigurationError(
                        "\(p).requestedToCapacityRatio.shape[\(i)].utilization: Invalid value: \(u): not in valid range [0, 100]"
                    )
                }
                if u <= last {
                    throw SchedulerConfigurationError(
                        "\(p).requestedToCapacityRatio.shape[\(i)].utilization: Invalid value: \(u): utilization values must be sorted in increasing order"
                    )
                }
                if sc < 0 || sc > 10 {
                    throw SchedulerConfigurationError(
                        "\(p).requestedToCapacityRatio.shape[\(i)].score: Invalid value: \(sc): not in valid range [0, 10]"
                    )
                }
                last = u
                s.shape.append(ScoringStrategy.ShapePoint(utilization: u, score: sc))
            }
        }
        return s
    }

    // MARK: building a framework

    /// Instantiates a profile's plugins and places them at their extension points (MultiPoint
    /// expanded as upstream: explicit entries at a point override, disabled entries are left out).
    public static func framework(for profile: SchedulerProfile, handle: Handle) throws -> Framework {
        let prefix = "creating profile for scheduler name \(profile.schedulerName)"
        var needed: [String] = []
        for point in PluginsConfig.points {
            for p in profile.plugins[point].enabled where !needed.contains(p.name) { needed.append(p.name) }
        }
        var instances: [String: any Plugin] = [:]
        for name in needed {
            guard let f = factories[name] else {
                throw SchedulerConfigurationError("\(prefix): plugin \"\(name)\" does not exist")
            }
            do {
                instances[name] = try f(profile.args(name) ?? .object([]), handle)
            } catch let e as SchedulerConfigurationError {
                throw SchedulerConfigurationError("\(prefix): initializing plugin \"\(name)\": \(e)")
            } catch {
                throw SchedulerConfigurationError("\(prefix): initializing plugin \"\(name)\": \(error)")
            }
        }
        let fwk = Framework(
            profileName: profile.schedulerName, percentageOfNodesToScore: profile.percentageOfNodesToScore,
            handle: handle)
        fwk.plugins = instances
        let multi = profile.plugins["multiPoint"]
        func expand(_ point: String, _ typeName: String, implements: (any Plugin) -> Bool) throws -> [(String, Int32)] {
            let set = profile.plugins[point]
            let disabled = Set(set.disabled.map(\.name))
            var explicit: [(String, Int32)] = []
            for ref in set.enabled {
                guard let p = instances[ref.name] else { continue }
                guard implements(p) else {
                    throw SchedulerConfigurationError(
                        "\(prefix): plugin \"\(ref.name)\" does not extend \(typeName) plugin")
                }
                if explicit.contains(where: { $0.0 == ref.name }) {
                    throw SchedulerConfigurationError(
                        "\(prefix): plugin \"\(ref.name)\" already registered as \"\(typeName)\"")
                }
                explicit.append((ref.name, ref.weight))
            }
            if disabled.contains("*") { return explicit }
            var overrides: Set<String> = []
            var fromMulti: [(String, Int32)] = []
            for ref in multi.enabled {
                guard let p = instances[ref.name], implements(p), !disabled.contains(ref.name) else { continue }
                if explicit.contains(where: { $0.0 == ref.name }) {
                    overrides.insert(ref.name)
                    continue
                }
                if fromMulti.contains(where: { $0.0 == ref.name }) {
                    throw SchedulerConfigurationError(
                        "\(prefix): plugin \"\(ref.name)\" already registered as \"\(typeName)\"")
                }
                fromMulti.append((ref.name, ref.weight))
            }
            return explicit.filter { overrides.contains($0.0) } + fromMulti
                + explicit.filter { !overrides.contains($0.0) }
        }
        fwk.preEnqueue = try expand("preEnqueue", "PreEnqueuePlugin") { $0 is any PreEnqueuePlugin }.map {
            instances[$0.0] as! any PreEnqueuePlugin
        }
        let sorts = try expand("queueSort", "QueueSortPlugin") { $0 is any QueueSortPlugin }
        if sorts.count != 1 {
            throw SchedulerConfigurationError(
                "\(prefix): one queue sort plugin required for profile with scheduler name \"\(profile.schedulerName)\""
            )
        }
        fwk.queueSort = instances[sorts[0].0] as? any QueueSortPlugin
        fwk.preFilter = try expand("preFilter", "PreFilterPlugin") { $0 is any PreFilterPlugin }.map {
            instances[$0.0] as! any PreFilterPlugin
        }
        fwk.filter = try expand("filter", "FilterPlugin") { $0 is any FilterPlugin }.map {
            instances[$0.0] as! any FilterPlugin
        }
        fwk.postFilter = try expand("postFilter", "PostFilterPlugin") { $0 is any PostFilterPlugin }.map {
            instances[$0.0] as! any PostFilterPlugin
        }
        fwk.preScore = try expand("preScore", "PreScorePlugin") { $0 is any PreScorePlugin }.map {
            instances[$0.0] as! any PreScorePlugin
        }
        fwk.score = try expand("score", "ScorePlugin") { $0 is any ScorePlugin }.map {
            (instances[$0.0] as! any ScorePlugin, Int64($0.1 == 0 ? 1 : $0.1))
        }
        for (p, w) in fwk.score where w < 0 || w > 100 {
            throw SchedulerConfigurationError(
                "\(prefix): plugin \"\(p.name)\" has weight \(w), weight must be in range [1, 100]")
        }
        fwk.reserve = try expand("reserve", "ReservePlugin") { $0 is any ReservePlugin }.map {
            instances[$0.0] as! any ReservePlugin
        }
        fwk.permit = try expand("permit", "PermitPlugin") { $0 is any PermitPlugin }.map {
            instances[$0.0] as! any PermitPlugin
        }
        fwk.preBind = try expand("preBind", "PreBindPlugin") { $0 is any PreBindPlugin }.map {
            instances[$0.0] as! any PreBindPlugin
        }
        fwk.bind = try expand("bind", "BindPlugin") { $0 is any BindPlugin }.map { instances[$0.0] as! any BindPlugin }
        if fwk.bind.isEmpty {
            throw SchedulerConfigurationError(
                "\(prefix): at least one bind plugin is needed for profile with scheduler name \"\(profile.schedulerName)\""
            )
        }
        fwk.postBind = try expand("postBind", "PostBindPlugin") { $0 is any PostBindPlugin }.map {
            instances[$0.0] as! any PostBindPlugin
        }
        return fwk
    }
}
