import Testing

@testable import APIMachinery

@Suite("Label selectors")
struct LabelSelectorTests {
    @Test(
        "valid selectors parse and print canonically (sorted by key)",
        arguments: [
            ("", ""),
            ("x=a,y=b,z=c", "x=a,y=b,z=c"),
            ("x!=a,y=b", "x!=a,y=b"),
            ("x==a", "x==a"),
            ("x=", "x="),
            ("x= ,z= ", "x=,z="),
            ("!x", "!x"),
            ("x>1,z<5", "x>1,z<5"),
            ("x in (foo,,baz),y,z notin ()", "x in (,baz,foo),y,z notin ()"),
            ("z = c , !y , x in (b,a)", "x in (a,b),!y,z=c"),
            ("x in (in,notin)", "x in (in,notin)"),
            ("example.com/app\t=\nweb", "example.com/app=web"),
        ])
    func parsesValid(input: String, canonical: String) throws {
        #expect(try LabelSelector(parsing: input).description == canonical)
    }

    @Test(
        "invalid selectors fail with upstream's parser messages",
        arguments: [
            ("a===b", "unable to parse requirement: found '=', expected: identifier"),
            ("x=a b", "found 'b', expected: ',' or 'end of string'"),
            ("x in (a", "unable to parse requirement: found '', expected: ',' or ')'"),
            ("x in a", "unable to parse requirement: found 'a' expected: '('"),
            ("x in (a b)", "unable to parse requirement: found 'b', expected: ',' or ')'"),
            (",a", "found ',', expected: !, identifier, or 'end of string'"),
            ("a,", "found '', expected: identifier after ','"),
            ("!x=a", "found '=', expected: ',' or 'end of string'"),
            ("a b", "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"),
            ("env IN (a)", "unable to parse requirement: found 'IN', expected: in, notin, =, ==, !=, gt, lt"),
            (
                "x>a",
                "unable to parse requirement: values[0]: Invalid value: \"a\": for 'Gt', 'Lt' operators, the value must be an integer"
            ),
            (
                "a:",
                "unable to parse requirement: <nil>: Invalid value: \"a:\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
            ),
            (
                "x=-a",
                "unable to parse requirement: values[0][x]: Invalid value: \"-a\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
            ),
        ])
    func rejectsInvalid(input: String, message: String) {
        #expect(throws: LabelSelectorError(message)) { try LabelSelector(parsing: input) }
    }

    @Test(
        "matching follows each operator's rule",
        arguments: [
            ("x=y", ["x": "y"], true),
            ("x=y", ["x": "z"], false),
            ("x==y", ["x": "y"], true),
            ("x!=y", [:], true),
            ("x!=y", ["x": "y"], false),
            ("x in (a,b)", ["x": "b"], true),
            ("x in (a,b)", [:], false),
            ("x notin (a)", [:], true),
            ("x notin (a)", ["x": "a"], false),
            ("x", ["x": ""], true),
            ("x", [:], false),
            ("!x", ["x": ""], false),
            ("!x", ["y": "1"], true),
            ("x>1", ["x": "2"], true),
            ("x>1", ["x": "1"], false),
            ("x>1", ["x": "a"], false),
            ("x<1", [:], false),
            ("x<1", ["x": "-5"], true),
            ("x=a,y=b", ["x": "a"], false),
            ("", ["anything": "goes"], true),
            ("x=", [:], false),
            ("x=", ["x": ""], true),
        ] as [(String, [String: String], Bool)])
    func matches(selector: String, labels: [String: String], expected: Bool) throws {
        #expect(try LabelSelector(parsing: selector).matches(labels) == expected)
    }

    @Test("the recorded list request's selector app=x matches the returned ConfigMap")
    func recordedListSelector() throws {
        let s = try LabelSelector(parsing: "app=x")
        #expect(s.matches(["app": "x"]))
        #expect(!s.matches(["app": "y"]))
    }

    @Test("requiresExactMatch reports the one value an index lookup may use")
    func exactMatch() throws {
        #expect(try LabelSelector(parsing: "x=a,y!=b").requiresExactMatch("x") == "a")
        #expect(try LabelSelector(parsing: "x in (a)").requiresExactMatch("x") == "a")
        #expect(try LabelSelector(parsing: "x in (a,b)").requiresExactMatch("x") == nil)
        #expect(try LabelSelector(parsing: "x=a,y!=b").requiresExactMatch("y") == nil)
        #expect(try LabelSelector(parsing: "x=a").requiresExactMatch("z") == nil)
    }

    @Test("empty selectors match everything, nothing matches nothing")
    func everythingAndNothing() throws {
        #expect(LabelSelector.everything.matches([:]))
        #expect(LabelSelector.everything.isEmpty)
        #expect(!LabelSelector.nothing.matches([:]))
        #expect(!LabelSelector.nothing.isEmpty)
        #expect(try LabelSelector(matchLabels: [:], matchExpressions: []).matches(["a": "b"]))
    }

    @Test("metav1 matchLabels and matchExpressions combine with AND")
    func fromMetaV1() throws {
        let s = try LabelSelector(
            matchLabels: ["app": "web"],
            matchExpressions: [
                (key: "tier", operator: "In", values: ["fe", "be"]),
                (key: "canary", operator: "DoesNotExist", values: []),
                (key: "env", operator: "NotIn", values: ["prod"]),
                (key: "team", operator: "Exists", values: []),
            ])
        #expect(s.matches(["app": "web", "tier": "fe", "team": "a"]))
        #expect(!s.matches(["app": "web", "tier": "fe", "team": "a", "canary": "1"]))
        #expect(!s.matches(["app": "web", "tier": "db", "team": "a"]))
        #expect(!s.matches(["app": "web", "tier": "fe", "team": "a", "env": "prod"]))
        #expect(!s.matches(["tier": "fe", "team": "a"]))
        #expect(s.description == "app=web,!canary,env notin (prod),team,tier in (be,fe)")
    }

    @Test(
        "metav1 selector fields are validated as upstream's LabelSelectorAsSelector does",
        arguments: [
            (
                "tier", "Foo", [String](), [String: String](),
                "\"Foo\" is not a valid label selector operator"
            ),
            (
                "tier", "In", [], [:],
                "values: Invalid value: null: for 'in', 'notin' operators, values set can't be empty"
            ),
            (
                "tier", "Exists", ["a"], [:],
                "values: Invalid value: [\"a\"]: values set must be empty for exists and does not exist"
            ),
            (
                "ok", "Exists", [], ["a b": "c"],
                "key: Invalid value: \"a b\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
            ),
            (
                "a/b/c", "In", ["-x"], [:],
                "[key: Invalid value: \"a/b/c\": a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName'), values[0][a/b/c]: Invalid value: \"-x\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')]"
            ),
        ] as [(String, String, [String], [String: String], String)])
    func metaV1Errors(key: String, op: String, values: [String], matchLabels: [String: String], message: String) {
        #expect(throws: LabelSelectorError(message)) {
            try LabelSelector(matchLabels: matchLabels, matchExpressions: [(key: key, operator: op, values: values)])
        }
    }
}

@Suite("Field selectors")
struct FieldSelectorTests {
    @Test(
        "terms match field values; a missing field reads as empty",
        arguments: [
            ("metadata.name=foo", ["metadata.name": "foo"], true),
            ("metadata.name==foo", ["metadata.name": "foo"], true),
            ("metadata.name=foo", ["metadata.name": "bar"], false),
            ("status.phase!=Running", [:], true),
            ("status.phase!=Running", ["status.phase": "Running"], false),
            ("spec.nodeName=", [:], true),
            ("a=1,b=2", ["a": "1", "b": "2"], true),
            ("a=1,b=2", ["a": "1"], false),
            ("", [:], true),
            (",", ["a": "1"], true),
        ] as [(String, [String: String], Bool)])
    func matches(selector: String, fields: [String: String], expected: Bool) throws {
        #expect(try FieldSelector(parsing: selector).matches(fields) == expected)
    }

    @Test(
        "backslash escapes comma, equals and backslash in values",
        arguments: [
            (#"a=b\,c"#, "b,c"),
            (#"a=b\=c"#, "b=c"),
            (#"a=b\\c"#, #"b\c"#),
            (#"a==\=x"#, "=x"),
        ])
    func escapes(selector: String, value: String) throws {
        let s = try FieldSelector(parsing: selector)
        #expect(s.requirements == [FieldRequirement(field: "a", op: .equals, value: value)])
        #expect(try FieldSelector(parsing: s.description) == s)
    }

    @Test(
        "malformed selectors fail with upstream's messages",
        arguments: [
            ("a", "invalid selector: 'a'; can't understand 'a'"),
            ("a=b,c", "invalid selector: 'a=b,c'; can't understand 'c'"),
            (#"a=b\c"#, #"invalid field selector: invalid escape sequence: \c"#),
            (#"a=b\"#, #"invalid field selector: invalid escape sequence: \"#),
            ("a=b=c", "invalid field selector: unescaped character in value: 61"),
        ])
    func rejects(selector: String, message: String) {
        #expect(throws: FieldSelectorError(message)) { try FieldSelector(parsing: selector) }
    }

    @Test("field names are listed (terms sorted) and unsupported ones get the recorded 400 message")
    func fieldNames() throws {
        let s = try FieldSelector(parsing: "spec.nodeName=n1,metadata.name=foo,metadata.name!=bar")
        #expect(s.fieldNames == ["metadata.name", "spec.nodeName"])
        let bogus = try FieldSelector(parsing: "spec.bogus=x")
        let supported: Set<String> = ["metadata.name", "metadata.namespace", "spec.nodeName", "status.phase"]
        let rejected = bogus.fieldNames.first { !supported.contains($0) }.map(FieldSelectorError.fieldLabelNotSupported)
        #expect(rejected?.message == "field label not supported: spec.bogus")
    }

    @Test("requiresExactMatch returns the value of an equality term only")
    func exactMatch() throws {
        let s = try FieldSelector(parsing: "metadata.name=foo,status.phase!=Running")
        #expect(s.requiresExactMatch("metadata.name") == "foo")
        #expect(s.requiresExactMatch("status.phase") == nil)
        #expect(s.requiresExactMatch("spec.nodeName") == nil)
    }

    @Test("transform rewrites fields and drops terms mapped to nothing")
    func transform() throws {
        let s = try FieldSelector(parsing: "name=foo,drop=x")
        let t = s.transformed { f, v in f == "drop" ? ("", "") : ("metadata." + f, v) }
        #expect(t.description == "metadata.name=foo")
    }
}
