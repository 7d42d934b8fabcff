import Testing

@testable import CEL

/// Runtime cost tracking, static cost estimation and the minimal type checker. Runtime costs are the
/// ones Kubernetes' CRD cost-stability test pins for cel-go (apiextensions celcoststability_test.go).
@Suite("CEL cost and checking")
struct CostTests {
    static let object = Value.map([
        (.string("val1"), .int(Int64.max)), (.string("val3"), .int(Int64(Int32.max))),
        (.string("val6"), .int(Int64.max)),
    ])

    @Test(
        "runtime cost matches the upstream cost-stability cases",
        arguments: [
            ("self.val1 == self.val6", UInt64(5)), ("type(self.val1) == int", 4),
            ("self.val3 + 1 == 2147483647 + 1", 5),
        ])
    func runtimeCost(source: String, expected: UInt64) throws {
        let r = try Program(source).evaluate(["self": Self.object], costLimit: Limits.perCallLimit)
        #expect(r.value == .bool(true))
        #expect(r.cost == expected)
    }

    static let schema: [String: CELType] = [
        "self": .object(
            name: "Object",
            fields: [
                "name": .string(maxLength: 63), "replicas": .int, "tags": .list(.string(maxLength: 10), maxItems: 10),
                "free": .string, "items": .list(.string),
            ])
    ]

    @Test("static estimates grow with declared bounds and stay bounded where the schema bounds them")
    func staticEstimate() throws {
        let bounded = try Program("self.tags.all(t, t.startsWith('a'))").estimateCost(Self.schema)
        let unbounded = try Program("self.items.all(t, t.startsWith('a'))").estimateCost(Self.schema)
        #expect(bounded.max < 200)
        #expect(unbounded.max > bounded.max * 1000)
        #expect(bounded.min <= bounded.max)
        let nested = try Program("self.items.all(a, self.items.all(b, a == b))").estimateCost(Self.schema)
        #expect(nested.max > Limits.staticEstimatedCostLimit, "an O(n²) rule over an unbounded list exceeds the budget")
        let simple = try Program("self.replicas > 1").estimateCost(Self.schema)
        #expect(simple == CostEstimate(min: 3, max: 3))
        let check = try Program("authorizer.path('/x').check('get').allowed()").estimateCost([
            "authorizer": .opaque("kubernetes.authorization.Authorizer")
        ])
        #expect(check.max >= 350_000)
    }

    @Test("the CRD cost messages are apiextensions' (factor formatting included)")
    func messages() {
        #expect(
            Limits.costExceedsBudget("estimated rule cost", cost: 20_000_000, limit: Limits.staticEstimatedCostLimit)
                == "estimated rule cost exceeds budget by factor of 2.0x (try simplifying the rule, or adding maxItems, maxProperties, and maxLength where arrays, maps, and strings are declared)"
        )
        #expect(
            Limits.costExceedsBudget("estimated rule cost", cost: .max, limit: Limits.staticEstimatedCostLimit)
                .contains("by factor of more than 100x"))
        #expect(
            Limits.costExceedsBudget("estimated rule cost", cost: 12_000_000, limit: 10_000_000)
                .contains("by factor of 1.200000x"))
    }

    @Test(
        "the checker reports upstream's compile errors",
        arguments: [
            ("x > 1", "ERROR: <input>:1:1: undeclared reference to 'x' (in container '')\n | x > 1\n | ^"),
            (
                "1 + 'a'",
                "ERROR: <input>:1:3: found no matching overload for '_+_' applied to '(int, string)'\n | 1 + 'a'\n | ..^"
            ),
            ("self.nope == 1", "ERROR: <input>:1:5: undefined field 'nope'\n | self.nope == 1\n | ....^"),
            (
                "self.replicas && true",
                "ERROR: <input>:1:15: found no matching overload for '_&&_' applied to '(int, bool)'\n | self.replicas && true\n | ..............^"
            ),
        ])
    func checkErrors(source: String, message: String) throws {
        #expect(throws: CELError(message)) { try Program(source).check(Self.schema) }
    }

    /// A schema shaped like the examples on the Kubernetes "CEL in Kubernetes" page.
    static let docSchema: [String: CELType] = [
        "self": .object(
            name: "Object",
            fields: [
                "minReplicas": .int, "replicas": .int, "maxReplicas": .int,
                "stateCounts": .map(key: .string, value: .int), "list1": .list(.string), "list2": .list(.string),
                "map1": .map(key: .string, value: .string),
                "envars": .list(.object(name: "Object.envars", fields: ["name": .string, "value": .string])),
                "expired": .timestamp, "created": .timestamp, "ttl": .duration, "health": .string,
                "widgets": .list(.object(name: "Object.widgets", fields: ["key": .string, "foo": .int])),
                "metadata": .object(name: "Object.metadata", fields: ["name": .string, "generateName": .string]),
                "prefix": .string, "set1": .list(.string), "set2": .list(.string), "names": .list(.string),
                "details": .map(key: .string, value: .string), "primary": .string,
                "clusters": .list(.object(name: "Object.clusters", fields: ["name": .string])),
                "intOrString": .dyn,
            ])
    ]

    @Test(
        "the Kubernetes documentation's example rules type-check against their schema",
        arguments: [
            "self.minReplicas <= self.replicas && self.replicas <= self.maxReplicas", "'Available' in self.stateCounts",
            "(self.list1.size() == 0) != (self.list2.size() == 0)",
            "!('MY_KEY' in self.map1) || self.map1['MY_KEY'].matches('^[a-zA-Z]*$')",
            "self.envars.filter(e, e.name == 'MY_ENV').all(e, e.value.matches('^[a-zA-Z]*$'))",
            "has(self.expired) && self.created + self.ttl < self.expired", "self.health.startsWith('ok')",
            "self.widgets.exists(w, w.key == 'x' && w.foo < 10)",
            "type(self.intOrString) == string ? self.intOrString == '99%' : self.intOrString == 42",
            "self.metadata.name.startsWith(self.prefix)", "self.set1.all(e, !(e in self.set2))",
            "size(self.names) == size(self.details) && self.names.all(n, n in self.details)",
            "size(self.clusters.filter(c, c.name == self.primary)) == 1",
        ])
    func documentedRulesCheck(source: String) throws {
        #expect(throws: Never.self) { try Program(source).check(Self.docSchema) }
    }

    @Test(
        "constant timestamp, duration and regex arguments are validated at compile time, as Kubernetes does",
        arguments: [
            (
                "timestamp('bad') > timestamp('2020-01-01T00:00:00Z')",
                "ERROR: <input>:1:11: invalid timestamp argument\n | timestamp('bad') > timestamp('2020-01-01T00:00:00Z')\n | ..........^"
            ),
            ("duration('1x')", "ERROR: <input>:1:10: invalid duration argument\n | duration('1x')\n | .........^"),
            (
                "self.matches('[')",
                "ERROR: <input>:1:14: invalid matches argument\n | self.matches('[')\n | .............^"
            ),
        ])
    func literalValidation(source: String, message: String) {
        #expect(throws: CELError(message)) { try Program(source) }
    }

    @Test("declaring variables in the environment type-checks at compile time")
    func compileTimeCheck() throws {
        let env = Environment(variables: Self.schema)
        #expect(throws: CELError.self) { try Program("self.nope > 1", environment: env) }
        let p = try Program("self.tags.all(t, t.size() < 10)", environment: env)
        #expect(p.estimateCost() == p.estimateCost(Self.schema))
    }

    @Test("well-typed rules check, including macros, optionals and library calls")
    func checkPasses() throws {
        for s in [
            "self.tags.all(t, t.size() < 10) && self.name.startsWith('a')", "self.replicas + 1 > 2",
            "self.?name.orValue('') == ''", "has(self.free) ? self.free.size() : 0", "quantity('1').sign() == 1",
            "[1, 2].map(x, x * 2).size() == 2", "cel.bind(n, self.name, n + n).size() > 0",
        ] {
            #expect(throws: Never.self, "\(s)") { try Program(s).check(Self.schema) }
        }
    }
}
