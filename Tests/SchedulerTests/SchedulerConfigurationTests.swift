import APICore
import APIMachinery
import Testing

@testable import Scheduler

/// Loading configurations and building their profiles' frameworks.
enum ConfigFixture {
    static let header = "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\n"

    /// The first profile's framework of a configuration (header added).
    static func framework(_ body: String = "", profile: Int = 0) throws -> Framework {
        let c = try SchedulerConfiguration.load(header + body)
        return try PluginRegistry.framework(for: c.profiles[profile], handle: Handle())
    }

    /// The error loading (and, with `build`, building the profiles of) a configuration gives.
    static func error(_ text: String, build: Bool = false) -> String? {
        do {
            let c = try SchedulerConfiguration.load(text)
            if build { for p in c.profiles { _ = try PluginRegistry.framework(for: p, handle: Handle()) } }
            return nil
        } catch {
            return "\(error)"
        }
    }

    static func filters(_ f: Framework) -> [String] { f.filter.map(\.name) }
    static func scores(_ f: Framework) -> [String] { f.score.map { "\($0.plugin.name):\($0.weight)" } }

    /// Upstream's names, without those this scheduler does not implement.
    static func implemented(_ names: [String]) -> [String] {
        names.filter { PluginRegistry.factories[String($0.split(separator: ":")[0])] != nil }
    }

    /// Upstream v1.36's default Filter plugins, in order.
    static let defaultFilters = implemented([
        "NodeUnschedulable", "NodeName", "TaintToleration", "NodeAffinity", "NodePorts", "NodeResourcesFit",
        "VolumeRestrictions", "NodeVolumeLimits", "VolumeBinding", "VolumeZone", "PodTopologySpread",
        "InterPodAffinity",
    ])

    /// Upstream v1.36's default Score plugins with their weights (a MultiPoint plugin without weight has 1).
    static let defaultScores = implemented([
        "TaintToleration:3", "NodeAffinity:2", "NodeResourcesFit:1", "VolumeBinding:1", "PodTopologySpread:2",
        "InterPodAffinity:2", "NodeResourcesBalancedAllocation:1", "ImageLocality:1",
    ])
}

struct ConfigErrorCase: CustomTestStringConvertible, Sendable {
    let name: String
    let yaml: String
    var build = false
    /// Texts the error must contain.
    let want: [String]
    var testDescription: String { name }
}

@Suite("SchedulerConfiguration")
struct SchedulerConfigurationTests {
    typealias C = ConfigFixture

    // MARK: defaults

    @Test("An empty configuration is defaulted as upstream's v1")
    func defaults() throws {
        let c = try SchedulerConfiguration.load(C.header)
        #expect(c.profiles.map(\.schedulerName) == ["default-scheduler"])
        #expect(c.podInitialBackoffSeconds == 1)
        #expect(c.podMaxBackoffSeconds == 10)
        #expect(c.parallelism == 16)
        #expect((c.percentageOfNodesToScore ?? 0) == 0)
        #expect(c.leaderElection.leaderElect)
        #expect(c.leaderElection.leaseDuration == 15)
        #expect(c.leaderElection.renewDeadline == 10)
        #expect(c.leaderElection.retryPeriod == 2)
        #expect(c.leaderElection.resourceLock == "leases")
        #expect(c.leaderElection.resourceName == "kube-scheduler")
        #expect(c.leaderElection.resourceNamespace == "kube-system")
        #expect(c.clientConnection.qps == 50)
        #expect(c.clientConnection.burst == 100)
        #expect(c.clientConnection.contentType == "application/vnd.kubernetes.protobuf")
    }

    @Test("Given values replace the defaults")
    func givenValues() throws {
        let c = try SchedulerConfiguration.load(
            C.header + """
                podInitialBackoffSeconds: 2
                podMaxBackoffSeconds: 20
                percentageOfNodesToScore: 40
                leaderElection:
                  leaderElect: false
                clientConnection:
                  qps: 100
                  burst: 200
                """)
        #expect(c.podInitialBackoffSeconds == 2)
        #expect(c.podMaxBackoffSeconds == 20)
        #expect(c.percentageOfNodesToScore == 40)
        #expect(!c.leaderElection.leaderElect)
        #expect(c.clientConnection.qps == 100)
        #expect(c.clientConnection.burst == 200)
    }

    @Test("The default profile expands MultiPoint into upstream's plugins, order and score weights")
    func defaultPlugins() throws {
        let f = try C.framework()
        #expect(C.filters(f) == C.defaultFilters)
        #expect(C.scores(f) == C.defaultScores)
        #expect(f.preEnqueue.map(\.name) == ["SchedulingGates"])
        #expect(f.queueSort?.name == "PrioritySort")
        #expect(f.postFilter.map(\.name) == ["DefaultPreemption"])
        #expect(f.reserve.map(\.name) == ["VolumeBinding"])
        #expect(f.preBind.map(\.name) == ["VolumeBinding"])
        #expect(f.bind.map(\.name) == ["DefaultBinder"])
    }

    @Test("defaulted() builds the same default profile as loading an empty configuration")
    func defaultedMatchesLoad() throws {
        let f = try PluginRegistry.framework(for: SchedulerConfiguration.defaulted().profiles[0], handle: Handle())
        #expect(C.filters(f) == C.defaultFilters)
        #expect(C.scores(f) == C.defaultScores)
    }

    @Test("Plugins without args get upstream's default args")
    func defaultArgs() throws {
        let f = try C.framework()
        let fit = try #require(f.plugins["NodeResourcesFit"] as? NodeResourcesFit)
        #expect(fit.strategy == ScoringStrategy())
        #expect(fit.strategy.type == .leastAllocated)
        #expect(
            fit.strategy.resources == [ResourceSpec(name: "cpu", weight: 1), ResourceSpec(name: "memory", weight: 1)])
    }

    // MARK: customizing

    @Test("A plugin disabled at one extension point stays at the others")
    func disableAtOnePoint() throws {
        let f = try C.framework(
            """
            profiles:
            - plugins:
                filter:
                  disabled:
                  - name: TaintToleration
            """)
        #expect(C.filters(f) == C.defaultFilters.filter { $0 != "TaintToleration" })
        #expect(C.scores(f) == C.defaultScores)
    }

    @Test("A plugin disabled in multiPoint is gone from every extension point")
    func disableInMultiPoint() throws {
        let f = try C.framework(
            """
            profiles:
            - plugins:
                multiPoint:
                  disabled:
                  - name: NodeAffinity
            """)
        #expect(C.filters(f) == C.defaultFilters.filter { $0 != "NodeAffinity" })
        #expect(C.scores(f) == C.defaultScores.filter { $0 != "NodeAffinity:2" })
        #expect(!f.preFilter.contains { $0.name == "NodeAffinity" })
        #expect(f.plugins["NodeAffinity"] == nil)
    }

    @Test("Disabling * at an extension point leaves only the plugins enabled there")
    func disableAll() throws {
        let f = try C.framework(
            """
            profiles:
            - plugins:
                score:
                  disabled:
                  - name: "*"
                  enabled:
                  - name: NodeResourcesFit
                    weight: 5
            """)
        #expect(C.scores(f) == ["NodeResourcesFit:5"])
        #expect(C.filters(f) == C.defaultFilters)
    }

    @Test("A default plugin enabled again at a point with a weight overrides it and comes first")
    func reEnableWithWeight() throws {
        let f = try C.framework(
            """
            profiles:
            - plugins:
                score:
                  enabled:
                  - name: ImageLocality
                    weight: 5
            """)
        #expect(C.scores(f) == ["ImageLocality:5"] + C.defaultScores.filter { $0 != "ImageLocality:1" })
    }

    @Test("A default plugin given again in multiPoint is replaced in place")
    func replaceInMultiPoint() throws {
        let f = try C.framework(
            """
            profiles:
            - plugins:
                multiPoint:
                  enabled:
                  - name: NodeAffinity
                    weight: 7
            """)
        #expect(C.scores(f) == C.defaultScores.map { $0 == "NodeAffinity:2" ? "NodeAffinity:7" : $0 })
    }

    @Test("Plugin args are decoded, defaulted and given to the plugin")
    func pluginArgs() throws {
        let f = try C.framework(
            """
            profiles:
            - pluginConfig:
              - name: NodeResourcesFit
                args:
                  scoringStrategy:
                    type: RequestedToCapacityRatio
                    resources:
                    - name: cpu
                      weight: 3
                    - name: memory
                      weight: 0
                    requestedToCapacityRatio:
                      shape:
                      - utilization: 0
                        score: 0
                      - utilization: 100
                        score: 10
              - name: NodeResourcesBalancedAllocation
                args:
                  resources: []
            """)
        let fit = try #require(f.plugins["NodeResourcesFit"] as? NodeResourcesFit)
        #expect(fit.strategy.type == .requestedToCapacityRatio)
        // A weight of 0 (or none) defaults to 1.
        #expect(
            fit.strategy.resources == [ResourceSpec(name: "cpu", weight: 3), ResourceSpec(name: "memory", weight: 1)])
        #expect(fit.strategy.shape.map(\.utilization) == [0, 100])
        #expect(fit.strategy.shape.map(\.score) == [0, 10])
        // An empty resource list means the default resources.
        let balanced = try #require(f.plugins["NodeResourcesBalancedAllocation"] as? NodeResourcesBalancedAllocation)
        #expect(balanced.resources == ScoringStrategy().resources)
    }

    @Test("Two profiles each get the defaults with their own changes")
    func twoProfiles() throws {
        let c = try SchedulerConfiguration.load(
            C.header + """
                profiles:
                - schedulerName: default-scheduler
                - schedulerName: no-images
                  plugins:
                    score:
                      disabled:
                      - name: ImageLocality
                """)
        #expect(c.profiles.map(\.schedulerName) == ["default-scheduler", "no-images"])
        let first = try PluginRegistry.framework(for: c.profiles[0], handle: Handle())
        let second = try PluginRegistry.framework(for: c.profiles[1], handle: Handle())
        #expect(C.scores(first) == C.defaultScores)
        #expect(C.scores(second) == C.defaultScores.filter { $0 != "ImageLocality:1" })
        #expect(second.profileName == "no-images")
    }

    // MARK: errors

    static let errorCases: [ConfigErrorCase] = [
        ConfigErrorCase(
            name: "an unknown field is refused (strict decoding)", yaml: C.header + "podMaxBackofSeconds: 10\n",
            want: ["strict decoding error: unknown field \"podMaxBackofSeconds\""]),
        ConfigErrorCase(
            name: "an unknown nested field is refused with its path",
            yaml: C.header
                + "profiles:\n- plugins:\n    score:\n      enabled:\n      - name: ImageLocality\n        wieght: 2\n",
            want: ["strict decoding error: unknown field \"profiles[0].plugins.score.enabled[0].wieght\""]),
        ConfigErrorCase(
            name: "an unknown plugin does not exist",
            yaml: C.header + "profiles:\n- plugins:\n    filter:\n      enabled:\n      - name: NoSuchPlugin\n",
            build: true,
            want: ["\"NoSuchPlugin\" does not exist"]),
        ConfigErrorCase(
            name: "an apiVersion no longer served is not registered",
            yaml: "apiVersion: kubescheduler.config.k8s.io/v1beta3\nkind: KubeSchedulerConfiguration\n",
            want: [
                "no kind \"KubeSchedulerConfiguration\" is registered for version \"kubescheduler.config.k8s.io/v1beta3\""
            ]),
        ConfigErrorCase(
            name: "another kind is not registered",
            yaml: "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeProxyConfiguration\n",
            want: ["no kind \"KubeProxyConfiguration\" is registered for version \"kubescheduler.config.k8s.io/v1\""]),
        ConfigErrorCase(
            name: "two profiles with one scheduler name",
            yaml: C.header + "profiles:\n- schedulerName: a\n- schedulerName: a\n",
            want: ["profiles[1].schedulerName: Duplicate value: \"a\""]),
        ConfigErrorCase(
            name: "with two profiles each needs a scheduler name",
            yaml: C.header + "profiles:\n- schedulerName: a\n- plugins: {}\n",
            want: ["profiles[1].schedulerName: Required value"]),
        ConfigErrorCase(
            name: "profiles with different queueSort plugins",
            yaml: C.header
                + "profiles:\n- schedulerName: a\n- schedulerName: b\n  plugins:\n    queueSort:\n      enabled:\n      - name: Custom\n      disabled:\n      - name: \"*\"\n",
            want: ["profiles[1].plugins.queueSort: Invalid value", "must be the same for all profiles"]),
        ConfigErrorCase(
            name: "NodeResourcesFit with an unknown scoring strategy type",
            yaml: C.header
                + "profiles:\n- pluginConfig:\n  - name: NodeResourcesFit\n    args:\n      scoringStrategy:\n        type: Foo\n",
            want: [
                "profiles[0].pluginConfig[0].args.scoringStrategy.type: Unsupported value: \"Foo\": supported values: \"LeastAllocated\", \"MostAllocated\", \"RequestedToCapacityRatio\""
            ]),
        ConfigErrorCase(
            name: "NodeResourcesFit with a resource weight above 100",
            yaml: C.header
                + "profiles:\n- pluginConfig:\n  - name: NodeResourcesFit\n    args:\n      scoringStrategy:\n        type: MostAllocated\n        resources:\n        - name: cpu\n          weight: 101\n",
            want: [
                "profiles[0].pluginConfig[0].args.scoringStrategy.resources[0].weight: Invalid value: 101: resource weight of cpu not in valid range (0, 100]"
            ]),
        ConfigErrorCase(
            name: "NodeResourcesBalancedAllocation with a negative resource weight",
            yaml: C.header
                + "profiles:\n- pluginConfig:\n  - name: NodeResourcesBalancedAllocation\n    args:\n      resources:\n      - name: memory\n        weight: -1\n",
            want: [
                "profiles[0].pluginConfig[0].args.resources[0].weight: Invalid value: -1: resource weight of memory not in valid range (0, 100]"
            ]),
        ConfigErrorCase(
            name: "RequestedToCapacityRatio with a shape score above 10",
            yaml: C.header
                + "profiles:\n- pluginConfig:\n  - name: NodeResourcesFit\n    args:\n      scoringStrategy:\n        type: RequestedToCapacityRatio\n        requestedToCapacityRatio:\n          shape:\n          - utilization: 0\n            score: 11\n",
            want: ["score: Invalid value: 11: not in valid range [0, 10]"]),
        ConfigErrorCase(
            name: "percentageOfNodesToScore above 100", yaml: C.header + "percentageOfNodesToScore: 101\n",
            want: ["percentageOfNodesToScore: Invalid value: 101: not in valid range [0-100]"]),
        ConfigErrorCase(
            name: "podMaxBackoffSeconds below podInitialBackoffSeconds",
            yaml: C.header + "podInitialBackoffSeconds: 5\npodMaxBackoffSeconds: 3\n",
            want: ["podMaxBackoffSeconds: Invalid value: 3: must be greater than or equal to PodInitialBackoffSeconds"]),
        ConfigErrorCase(
            name: "podInitialBackoffSeconds of 0", yaml: C.header + "podInitialBackoffSeconds: 0\n",
            want: ["podInitialBackoffSeconds: Invalid value: 0: must be greater than 0"]),
    ]

    @Test("Invalid configurations are refused with upstream's messages", arguments: errorCases)
    func invalid(_ c: ConfigErrorCase) {
        let e = C.error(c.yaml, build: c.build)
        #expect(e != nil)
        for w in c.want { #expect(e?.contains(w) == true, "\(e ?? "no error") lacks \(w)") }
    }

    @Test("An unknown plugin passes validation; building its profile fails")
    func unknownPluginFailsAtBuild() {
        let yaml = C.header + "profiles:\n- plugins:\n    filter:\n      enabled:\n      - name: NoSuchPlugin\n"
        #expect(C.error(yaml) == nil)
        #expect(C.error(yaml, build: true) != nil)
    }
}
