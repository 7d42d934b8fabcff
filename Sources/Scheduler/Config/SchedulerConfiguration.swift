import APICore
import APIMachinery
import Foundation

/// A configuration error with upstream's wording where one exists.
public struct SchedulerConfigurationError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ d: String) { description = d }
}

/// One plugin named at an extension point, with its score weight.
public struct PluginRef: Sendable, Equatable {
    public var name: String
    public var weight: Int32
    public init(_ name: String, weight: Int32 = 0) {
        self.name = name
        self.weight = weight
    }
}

/// Enabled and disabled plugins of one extension point.
public struct PluginSet: Sendable, Equatable {
    public var enabled: [PluginRef] = []
    public var disabled: [PluginRef] = []
    public init(enabled: [PluginRef] = [], disabled: [PluginRef] = []) {
        self.enabled = enabled
        self.disabled = disabled
    }
}

/// The extension points of a profile (`Plugins`), in upstream's field names.
public struct PluginsConfig: Sendable, Equatable {
    public static let points = [
        "preEnqueue", "queueSort", "preFilter", "filter", "postFilter", "preScore", "score", "reserve", "permit",
        "preBind", "bind", "postBind", "multiPoint",
    ]
    public var sets: [String: PluginSet] = [:]
    public init() {}
    public subscript(point: String) -> PluginSet {
        get { sets[point] ?? PluginSet() }
        set { sets[point] = newValue }
    }
}

/// A profile: a scheduler name with its plugins and their args.
public struct SchedulerProfile: Sendable {
    public var schedulerName = "default-scheduler"
    public var percentageOfNodesToScore: Int32?
    public var plugins = PluginsConfig()
    /// Args per plugin name, as given (JSON objects), defaults merged in.
    public var pluginConfig: [(name: String, args: JSONValue)] = []
    public init() {}

    public func args(_ plugin: String) -> JSONValue? { pluginConfig.first { $0.name == plugin }?.args }
}

/// `kubescheduler.config.k8s.io/v1` KubeSchedulerConfiguration: decoded strictly (unknown fields
/// are errors, as upstream's strict decoding), defaulted and validated as upstream.
public struct SchedulerConfiguration: Sendable {
    public struct LeaderElection: Sendable {
        public var leaderElect = true
        public var leaseDuration = 15.0
        public var renewDeadline = 10.0
        public var retryPeriod = 2.0
        public var resourceLock = "leases"
        public var resourceName = "kube-scheduler"
        public var resourceNamespace = "kube-system"
    }
    public struct ClientConnection: Sendable {
        public var kubeconfig = ""
        public var acceptContentTypes = ""
        public var contentType = "application/vnd.kubernetes.protobuf"
        public var qps: Double = 50
        public var burst = 100
    }

    public var parallelism: Int32 = 16
    public var leaderElection = LeaderElection()
    public var clientConnection = ClientConnection()
    public var percentageOfNodesToScore: Int32?
    public var podInitialBackoffSeconds: Int64 = 1
    public var podMaxBackoffSeconds: Int64 = 10
    public var profiles: [SchedulerProfile] = []

    public static let apiVersion = "kubescheduler.config.k8s.io/v1"

    public init() {}

    /// Upstream's defaults: one `default-scheduler` profile with the default plugins.
    public static func defaulted() -> SchedulerConfiguration {
        var c = SchedulerConfiguration()
        c.profiles = [SchedulerProfile()]
        c.applyDefaults()
        return c
    }

    /// Parses YAML or JSON, then defaults and validates.
    public static func load(_ text: String) throws -> SchedulerConfiguration {
        let json: [UInt8]
        do {
            json = try YAML.toJSON(text)
        } catch {
            throw SchedulerConfigurationError("couldn't decode as KubeSchedulerConfiguration: \(error)")
        }
        let v: JSONValue
        do { v = try JSONValue.parse(json) } catch {
            throw SchedulerConfigurationError("couldn't decode as KubeSchedulerConfiguration: \(error)")
        }
        var c = try decode(v)
        c.applyDefaults()
        try c.validate()
        return c
    }

    static func decode(_ v: JSONValue) throws -> SchedulerConfiguration {
        var r = StrictObject(v, path: "")
        let apiVersion = try r.string("apiVersion") ?? ""
        let kind = try r.string("kind") ?? ""
        guard kind == "KubeSchedulerConfiguration" else {
            throw SchedulerConfigurationError(
                kind.isEmpty
                    ? "Object 'Kind' is missing in config"
                    : "no kind \"\(kind)\" is registered for version \"\(apiVersion)\"")
        }
        guard apiVersion == apiVersion_v1 else {
            throw SchedulerConfigurationError(
                "no kind \"KubeSchedulerConfiguration\" is registered for version \"\(apiVersion)\" in scheme")
        }
        var c = SchedulerConfiguration()
        if let p = try r.int("parallelism") { c.parallelism = Int32(p) }
        if let le = r.take("leaderElection") {
            var o = StrictObject(le, path: "leaderElection")
            if let b = try o.bool("leaderElect") { c.leaderElection.leaderElect = b }
            for (k, kp) in [
                ("leaseDuration", \LeaderElection.leaseDuration), ("renewDeadline", \.renewDeadline),
                ("retryPeriod", \.retryPeriod),
            ] {
                if let s = try o.string(k) {
                    guard let d = goDuration(s) else {
                        throw SchedulerConfigurationError("leaderElection.\(k): time: invalid duration \"\(s)\"")
                    }
                    c.leaderElection[keyPath: kp] = d
                }
            }
            if let s = try o.string("resourceLock") { c.leaderElection.resourceLock = s }
            if let s = try o.string("resourceName") { c.leaderElection.resourceName = s }
            if let s = try o.string("resourceNamespace") { c.leaderElection.resourceNamespace = s }
            try o.finish()
        }
        if let cc = r.take("clientConnection") {
            var o = StrictObject(cc, path: "clientConnection")
            if let s = try o.string("kubeconfig") { c.clientConnection.kubeconfig = s }
            if let s = try o.string("acceptContentTypes") { c.clientConnection.acceptContentTypes = s }
            if let s = try o.string("contentType") { c.clientConnection.contentType = s }
            if let q = try o.double("qps") { c.clientConnection.qps = q }
            if let b = try o.int("burst") { c.clientConnection.burst = Int(b) }
            try o.finish()
        }
        if let p = try r.int("percentageOfNodesToScore") { c.percentageOfNodesToScore = Int32(p) }
        if let p = try r.int("podInitialBackoffSeconds") { c.podInitialBackoffSeconds = p }
        if let p = try r.int("podMaxBackoffSeconds") { c.podMaxBackoffSeconds = p }
        for k in ["enableProfiling", "enableContentionProfiling", "delayCacheUntilActive"] { _ = try r.bool(k) }
        for k in ["healthzBindAddress", "metricsBindAddress"] { _ = try r.string(k) }
        if let ex = r.take("extenders"), case .array(let a) = ex, !a.isEmpty {
            throw SchedulerConfigurationError("extenders: scheduler extenders are not supported by this scheduler")
        }
        if let ps = r.take("profiles") {
            guard case .array(let items) = ps else {
                throw SchedulerConfigurationError("profiles: expected an array")
            }
            for (i, item) in items.enumerated() { c.profiles.append(try decodeProfile(item, path: "profiles[\(i)]")) }
        }
        try r.finish()
        return c
    }

    static let apiVersion_v1 = apiVersion

    static func decodeProfile(_ v: JSONValue, path: String) throws -> SchedulerProfile {
        var o = StrictObject(v, path: path)
        var p = SchedulerProfile()
        p.schedulerName = try o.string("schedulerName") ?? ""
        if let n = try o.int("percentageOfNodesToScore") { p.percentageOfNodesToScore = Int32(n) }
        if let pl = o.take("plugins") {
            var po = StrictObject(pl, path: path + ".plugins")
            for point in PluginsConfig.points {
                guard let set = po.take(point) else { continue }
                var so = StrictObject(set, path: "\(path).plugins.\(point)")
                var ps = PluginSet()
                for (field, isEnabled) in [("enabled", true), ("disabled", false)] {
                    guard let list = so.take(field) else { continue }
                    guard case .array(let refs) = list else {
                        throw SchedulerConfigurationError("\(path).plugins.\(point).\(field): expected an array")
                    }
                    for (j, ref) in refs.enumerated() {
                        var ro = StrictObject(ref, path: "\(path).plugins.\(point).\(field)[\(j)]")
                        let name = try ro.string("name") ?? ""
                        let weight = try ro.int("weight") ?? 0
                        try ro.finish()
                        if isEnabled {
                            ps.enabled.append(PluginRef(name, weight: Int32(weight)))
                        } else {
                            ps.disabled.append(PluginRef(name))
                        }
                    }
                }
                try so.finish()
                p.plugins[point] = ps
            }
            try po.finish()
        }
        if let pc = o.take("pluginConfig") {
            guard case .array(let items) = pc else {
                throw SchedulerConfigurationError("\(path).pluginConfig: expected an array")
            }
            for (j, item) in items.enumerated() {
                var io = StrictObject(item, path: "\(path).pluginConfig[\(j)]")
                let name = try io.string("name") ?? ""
                let args = io.take("args") ?? .object([])
                try io.finish()
                p.pluginConfig.append((name, args))
            }
        }
        try o.finish()
        return p
    }

    // MARK: defaults

    mutating func applyDefaults() {
        if profiles.isEmpty { profiles = [SchedulerProfile()] }
        for i in profiles.indices {
            if profiles[i].schedulerName.isEmpty && profiles.count == 1 {
                profiles[i].schedulerName = "default-scheduler"
            }
            profiles[i].plugins = Self.merge(defaults: PluginRegistry.defaultPlugins, custom: profiles[i].plugins)
            // Default args for every plugin the profile uses and gives none for.
            let used = Set(PluginsConfig.points.flatMap { profiles[i].plugins[$0].enabled.map(\.name) })
            for (name, args) in PluginRegistry.defaultArgs where used.contains(name) {
                if let j = profiles[i].pluginConfig.firstIndex(where: { $0.name == name }) {
                    profiles[i].pluginConfig[j].args = Self.fill(profiles[i].pluginConfig[j].args, defaults: args)
                } else {
                    profiles[i].pluginConfig.append((name, args))
                }
            }
        }
    }

    /// Upstream's `mergePlugins`: per extension point, defaults not disabled (`*` disables all),
    /// a custom entry for a default plugin replaces it in place, other custom entries follow.
    static func merge(defaults: PluginsConfig, custom: PluginsConfig) -> PluginsConfig {
        var out = PluginsConfig()
        for point in PluginsConfig.points {
            let d = defaults[point]
            let c = custom[point]
            let disabled = Set(c.disabled.map(\.name))
            var customEnabled = c.enabled
            var enabled: [PluginRef] = []
            for p in d.enabled where !disabled.contains(p.name) && !disabled.contains("*") {
                if let j = customEnabled.firstIndex(where: { $0.name == p.name }) {
                    enabled.append(customEnabled.remove(at: j))
                } else {
                    enabled.append(p)
                }
            }
            enabled += customEnabled
            if !enabled.isEmpty || !c.disabled.isEmpty {
                out[point] = PluginSet(enabled: enabled, disabled: c.disabled)
            }
        }
        return out
    }

    /// Fills fields missing from given args with the default args (one level deep, as upstream's
    /// per-plugin defaulting functions do for their top-level fields).
    static func fill(_ args: JSONValue, defaults: JSONValue) -> JSONValue {
        guard case .object(var pairs) = args, case .object(let defs) = defaults else { return args }
        for (k, v) in defs where !pairs.contains(where: { $0.key == k }) { pairs.append((k, v)) }
        return .object(pairs)
    }

    // MARK: validation

    /// Upstream's `ValidateKubeSchedulerConfiguration` (the parts this scheduler acts on).
    public func validate() throws {
        var errs: [String] = []
        if parallelism <= 0 {
            errs.append("parallelism: Invalid value: \(parallelism): should be an integer value greater than zero")
        }
        if let p = percentageOfNodesToScore, p < 0 || p > 100 {
            errs.append("percentageOfNodesToScore: Invalid value: \(p): not in valid range [0-100]")
        }
        if podInitialBackoffSeconds <= 0 {
            errs.append("podInitialBackoffSeconds: Invalid value: \(podInitialBackoffSeconds): must be greater than 0")
        }
        if podMaxBackoffSeconds < podInitialBackoffSeconds {
            errs.append(
                "podMaxBackoffSeconds: Invalid value: \(podMaxBackoffSeconds): must be greater than or equal to PodInitialBackoffSeconds"
            )
        }
        if leaderElection.leaderElect {
            if leaderElection.leaseDuration <= leaderElection.renewDeadline {
                errs.append("leaderElection.leaseDuration: Invalid value: must be greater than renewDeadline")
            }
            if leaderElection.resourceLock != "leases" {
                errs.append(
                    "leaderElection.resourceLock: Unsupported value: \"\(leaderElection.resourceLock)\": supported values: \"leases\""
                )
            }
        }
        if clientConnection.qps < 0 {
            errs.append("clientConnection.qps: Invalid value: \(clientConnection.qps): must be non-negative")
        }
        if profiles.isEmpty { errs.append("profiles: Required value") }
        var names = Set<String>()
        for (i, p) in profiles.enumerated() {
            let path = "profiles[\(i)]"
            if p.schedulerName.isEmpty {
                errs.append("\(path).schedulerName: Required value")
            } else if !names.insert(p.schedulerName).inserted {
                errs.append("\(path).schedulerName: Duplicate value: \"\(p.schedulerName)\"")
            }
            if let n = p.percentageOfNodesToScore, n < 0 || n > 100 {
                errs.append("\(path).percentageOfNodesToScore: Invalid value: \(n): not in valid range [0-100]")
            }
            var seen = Set<String>()
            for (j, pc) in p.pluginConfig.enumerated() {
                if !seen.insert(pc.name).inserted {
                    errs.append("\(path).pluginConfig[\(j)]: Duplicate value: \"\(pc.name)\"")
                }
                do {
                    try PluginRegistry.validateArgs(pc.name, pc.args, path: "\(path).pluginConfig[\(j)].args")
                } catch let e as SchedulerConfigurationError {
                    errs.append(e.description)
                }
            }
            if i > 0, p.plugins["queueSort"] != profiles[0].plugins["queueSort"] {
                errs.append("\(path).plugins.queueSort: Invalid value: queueSort must be the same for all profiles")
            }
        }
        if !errs.isEmpty { throw SchedulerConfigurationError(errs.joined(separator: ", ")) }
    }

    /// Go's `time.ParseDuration` for the forms configurations use (e.g. 15s, 1m30s, 100ms).
    public static func goDuration(_ s: String) -> Double? {
        var rest = Substring(s)
        var total = 0.0
        if rest.isEmpty { return nil }
        if rest == "0" { return 0 }
        let units: [(String, Double)] = [
            ("ns", 1e-9), ("us", 1e-6), ("µs", 1e-6), ("ms", 1e-3), ("s", 1), ("m", 60), ("h", 3600),
        ]
        while !rest.isEmpty {
            let num = rest.prefix { $0.isNumber || $0 == "." }
            guard !num.isEmpty, let n = Double(num) else { return nil }
            rest = rest.dropFirst(num.count)
            guard let u = units.first(where: { rest.hasPrefix($0.0) && !(($0.0 == "m") && rest.hasPrefix("ms")) })
            else {
                return nil
            }
            rest = rest.dropFirst(u.0.count)
            total += n * u.1
        }
        return total
    }
}

/// Reads a JSON object's fields, then refuses any it did not read (strict decoding).
struct StrictObject {
    var pairs: [(key: String, value: JSONValue)]
    var read: Set<String> = []
    let path: String

    init(_ v: JSONValue, path: String) {
        if case .object(let p) = v { pairs = p } else { pairs = [] }
        self.path = path
    }

    mutating func take(_ k: String) -> JSONValue? {
        read.insert(k)
        guard let v = pairs.first(where: { $0.key == k })?.value else { return nil }
        if case .null = v { return nil }
        return v
    }

    func field(_ k: String) -> String { path.isEmpty ? k : "\(path).\(k)" }

    mutating func string(_ k: String) throws -> String? {
        guard let v = take(k) else { return nil }
        guard case .string(let s) = v else {
            throw SchedulerConfigurationError("\(field(k)): expected a string")
        }
        return s
    }

    mutating func int(_ k: String) throws -> Int64? {
        guard let v = take(k) else { return nil }
        guard case .number(let n) = v, let i = Int64(n) else {
            throw SchedulerConfigurationError("\(field(k)): expected an integer")
        }
        return i
    }

    mutating func double(_ k: String) throws -> Double? {
        guard let v = take(k) else { return nil }
        guard case .number(let n) = v, let d = Double(n) else {
            throw SchedulerConfigurationError("\(field(k)): expected a number")
        }
        return d
    }

    mutating func bool(_ k: String) throws -> Bool? {
        guard let v = take(k) else { return nil }
        guard case .bool(let b) = v else { throw SchedulerConfigurationError("\(field(k)): expected a boolean") }
        return b
    }

    func finish() throws {
        if let unknown = pairs.first(where: { !read.contains($0.key) }) {
            throw SchedulerConfigurationError("strict decoding error: unknown field \"\(field(unknown.key))\"")
        }
    }
}
