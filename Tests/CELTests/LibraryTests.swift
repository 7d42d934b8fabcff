import Testing

@testable import CEL

/// The libraries and language features the Kubernetes CEL environment enables. Expectations are the
/// documented upstream behaviour: the examples of the Kubernetes "CEL in Kubernetes" reference page
/// and the cel-go extension documentation (strings, sets, optionals, two-variable comprehensions).
@Suite("CEL libraries")
struct LibraryTests {
    static func eval(_ s: String, _ vars: [String: Value] = [:]) throws -> Value {
        try Program(s, environment: Environment(objectTypes: ["Object", "JSONPatch"])).evaluate(vars)
    }

    @Test(
        "each documented example evaluates to true",
        arguments: [
            // Timestamps and durations (cel-spec: RFC 3339 text, Go duration text, getters in UTC or a zone).
            "timestamp('2009-02-13T23:31:30Z') - timestamp('2009-02-13T23:31:00Z') == duration('30s')",
            "timestamp('2009-02-13T23:31:30Z').getDayOfWeek() == 5",
            "timestamp('2009-02-13T23:31:30Z').getFullYear() == 2009",
            "timestamp('2009-02-13T23:31:30Z').getMonth() == 1 && timestamp('2009-02-13T23:31:30Z').getDate() == 13",
            "timestamp('2009-02-13T23:31:30Z').getDayOfMonth() == 12",
            "timestamp('2009-02-13T23:31:30Z').getDayOfYear() == 43",
            "timestamp('2009-02-13T23:31:30Z').getHours('America/Los_Angeles') == 15",
            "timestamp('2009-02-13T23:31:30Z').getHours('+01:00') == 0",
            "timestamp('2009-02-13T23:31:30.123Z').getMilliseconds() == 123",
            "string(timestamp('2009-02-13T23:31:30-01:00')) == '2009-02-14T00:31:30Z'",
            "int(timestamp('2009-02-13T23:31:30Z')) == 1234567890",
            "timestamp(1234567890) == timestamp('2009-02-13T23:31:30Z')",
            "timestamp('2009-02-13T23:31:30Z') + duration('1h') > timestamp('2009-02-14T00:00:00Z')",
            "duration('1h30m').getMinutes() == 90 && duration('1.5s').getMilliseconds() == 500",
            "string(duration('1m1.5s')) == '61.5s'", "duration('-1.5h') < duration('0')",
            "type(duration('1s')) == google.protobuf.Duration",
            // Optionals (cel-go optional library).
            "optional.of(1).hasValue() && !optional.none().hasValue()", "optional.of(1).value() == 1",
            "{'a': 1}.?b.orValue(5) == 5", "{'a': 1}.?a.orValue(5) == 1", "!{'a': {'b': 1}}.?x.b.hasValue()",
            "{'a': {'b': 1}}.?a.b == optional.of(1)", "[1, 2][?5].hasValue() == false",
            "[1, 2][?1] == optional.of(2)", "optional.none().or(optional.of(2)).value() == 2",
            "{?'k': optional.none(), 'j': 1} == {'j': 1}", "[?optional.of(1), ?optional.none(), 2] == [1, 2]",
            "optional.ofNonZeroValue('') == optional.none()", "optional.of(2).optMap(x, x * 2).value() == 4",
            "optional.of(2).optFlatMap(x, optional.none()) == optional.none()",
            // cel.bind.
            "cel.bind(x, 'a', x + x) == 'aa'", "cel.bind(x, [1, 2], x.all(y, y in x))",
            // Two-variable comprehensions.
            "[10, 20].all(i, v, v == (i + 1) * 10)", "{'a': 1, 'b': 2}.exists(k, v, k == 'b' && v == 2)",
            "[1, 2, 3].existsOne(i, v, v == 2)", "[1, 2, 3].transformList(i, v, i > 0, v * 2) == [4, 6]",
            "{'a': 1}.transformMap(k, v, v + 1) == {'a': 2}",
            "{'a': 1}.transformMapEntry(k, v, {k + k: v}) == {'aa': 1}",
            // Kubernetes quantity library.
            "quantity('500000G').isInteger()", "quantity('50k').asInteger() == 50000",
            "quantity('50.5k').asApproximateFloat() == 50500.0", "quantity('50k').sign() == 1",
            "quantity('-5').sign() == -1", "quantity('50k').add(quantity('20k')) == quantity('70k')",
            "quantity('50k').add(20) == quantity('50020')", "quantity('50k').sub(quantity('20k')) == quantity('30k')",
            "quantity('200M').compareTo(quantity('0.2G')) == 0", "!quantity('50M').isGreaterThan(quantity('100M'))",
            "quantity('1Mi').isLessThan(quantity('1.1M'))", "quantity('1Ki') == quantity('1024')",
            "quantity('1e3') == quantity('1k')", "isQuantity('1.3G') && !isQuantity('1.3.1G') && !isQuantity('Gi')",
            "quantity('100m').asApproximateFloat() == 0.1",
            "!isQuantity('200K') && isQuantity('10000k') && !isQuantity('1,3G')",
            "quantity('50k').sub(20000).asApproximateFloat() == 30000.0",
            "quantity('50k').add(20).sub(quantity('100k')).sub(-50000) == quantity('20')",
            "quantity('50M').compareTo(quantity('50Mi')) == -1 && quantity('50Mi').compareTo(quantity('50M')) == 1",
            "!quantity('9999999999999999999999999999999999999G').isInteger()", "quantity('50000000G').isInteger()",
            // Kubernetes IP and CIDR libraries.
            "isIP('127.0.0.1') && isIP('::1') && !isIP('127.0.0.256') && !isIP('01.0.0.1')",
            "!isIP('::ffff:1.2.3.4') && !isIP('fe80::1%eth0')", "ip('127.0.0.1').family() == 4",
            "ip('::1').family() == 6 && ip('::1').isLoopback()", "ip('0.0.0.0').isUnspecified()",
            "ip('224.0.0.1').isLinkLocalMulticast() && ip('169.254.1.1').isLinkLocalUnicast()",
            "ip('192.168.0.1').isGlobalUnicast() && !ip('127.0.0.1').isGlobalUnicast()",
            "ip.isCanonical('127.0.0.1') && !ip.isCanonical('2001:db8:0:0:0:0:2:1')",
            "string(ip('2001:db8:0:0:0:0:2:1')) == '2001:db8::2:1'", "ip('10.0.0.1') == ip('10.0.0.1')",
            "cidr('192.168.0.0/24').containsIP(ip('192.168.0.1'))", "cidr('192.168.0.0/24').containsIP('192.168.0.1')",
            "!cidr('192.168.0.0/24').containsIP('192.168.1.1')",
            "cidr('192.168.0.0/24').containsCIDR('192.168.0.0/25')",
            "!cidr('192.168.0.0/25').containsCIDR('192.168.0.0/24')",
            "cidr('192.168.0.1/24').masked() == cidr('192.168.0.0/24')", "cidr('192.168.0.0/24').prefixLength() == 24",
            "cidr('::1/128').ip().family() == 6", "string(cidr('192.168.0.0/24')) == '192.168.0.0/24'",
            "isCIDR('10.0.0.0/8') && !isCIDR('10.0.0.0/33') && !isCIDR('10.0.0.0')",
            // Kubernetes URL library.
            "url('https://example.com:80/').getHost() == 'example.com:80'",
            "url('https://example.com:80/').getHostname() == 'example.com'",
            "url('https://[::1]:80/').getHostname() == '::1' && url('https://[::1]:80/').getPort() == '80'",
            "url('https://example.com/').getScheme() == 'https'",
            "url('https://example.com/a/b').getEscapedPath() == '/a/b'",
            "url('https://example.com/path?k1=a&k2=b&k2=c').getQuery() == {'k1': ['a'], 'k2': ['b', 'c']}",
            "isURL('https://example.com:80/path?query=val#fragment') && isURL('/absolute-path')",
            "!isURL('relative-path')", "!isURL('https://a:b:c/') && !isURL('../relative-path')",
            "url('https://user:pass@example.com:80/path?query=val#fragment').getHost() == 'example.com:80'",
            "url('/path').getScheme() == '' && url('/path').getHost() == '' && url('/path').getPort() == ''",
            "url('https://[::1]/').getHost() == '[::1]' && url('https://127.0.0.1:80/').getHostname() == '127.0.0.1'",
            "url('https://example.com/path with spaces/').getEscapedPath() == '/path%20with%20spaces/'",
            "url('https://example.com').getEscapedPath() == ''",
            "url('https://example.com/path?key with spaces=value with spaces').getQuery() == {'key with spaces': ['value with spaces']}",
            "url('https://example.com/path?').getQuery() == {}",
            // Kubernetes semver library (version 1: normalize).
            "semver('1.0.0').isLessThan(semver('1.1.0'))", "semver('1.2.3').major() == 1",
            "semver('1.2.3').minor() == 2 && semver('1.2.3').patch() == 3",
            "semver('2.0.0').isGreaterThan(semver('1.0.0-rc.1'))",
            "semver('1.0.0-alpha').compareTo(semver('1.0.0')) == -1",
            "semver('1.0.0-alpha.1') < semver('1.0.0-alpha.beta')",
            "isSemver('1.0.0') && !isSemver('1.0') && !isSemver('01.0.0')",
            "isSemver('v1.0', true) && semver('v01.01', true) == semver('1.1.0')",
            // Kubernetes format library.
            "!format.dns1123Label().validate('my-label-name').hasValue()",
            "format.dns1123Label().validate('MY_LABEL').hasValue()",
            "format.named('dns1123Subdomain').value().validate('a.b.c') == optional.none()",
            "!format.named('unknown').hasValue()", "format.dns1123LabelPrefix().validate('abc-') == optional.none()",
            "format.dns1035Label().validate('1abc').value().size() == 1",
            "format.labelValue().validate('') == optional.none()",
            "format.qualifiedName().validate('example.com/MyName') == optional.none()",
            "format.uuid().validate('123e4567-e89b-12d3-a456-426614174000') == optional.none()",
            "format.dns1123Subdomain().validate('apiextensions.k8s.io') == optional.none()",
            "format.qualifiedName().validate('apiextensions.k8s.io/v1beta1') == optional.none()",
            "format.dns1123SubdomainPrefix().validate('mysubdomain.prefix.-') == optional.none()",
            "format.dns1035LabelPrefix().validate('my-label-prefix-') == optional.none()",
            "format.uri().validate('http://example.com') == optional.none()",
            "format.byte().validate('aGVsbG8=') == optional.none()",
            "format.date().validate('2021-01-01') == optional.none()",
            "format.datetime().validate('2021-01-01T00:00:00Z') == optional.none()",
            "format.dns1123Label().validate('UPPER').value() == [\"a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')\"]",
            // Kubernetes image library (the examples of library/image.go).
            "isImage('registry.k8s.io/kube-apiserver-arm64:latest') && isImage('nginx')",
            "!isImage('registry.k8s.io//kube-apiserver-arm64')",
            "image('kube-apiserver-arm64:testtag').registry() == 'index.docker.io'",
            "image('registry.k8s.io/kube-apiserver-arm64:latest').registry() == 'registry.k8s.io'",
            "image('registry.k8s.io/kube-apiserver-arm64').repository() == 'kube-apiserver-arm64'",
            "image('registry.k8s.io/kube-apiserver-arm64').tag() == 'latest'",
            "image('registry.k8s.io/kube-apiserver-arm64:testtag').tag() == 'testtag'",
            "image('registry.k8s.io/kube-apiserver-arm64:testtag').identifier() == 'testtag'",
            "!image('registry.k8s.io/kube-apiserver-arm64:latest').containsDigest()",
            "image('registry.k8s.io/kube-apiserver-arm64:latest@sha256:6aefddb645ee6963afd681b1845c661d0ea4c3b20ab9db86d9e753b203d385f2').digest() == 'sha256:6aefddb645ee6963afd681b1845c661d0ea4c3b20ab9db86d9e753b203d385f2'",
            "image('registry.k8s.io/kube-apiserver-arm64@sha256:6aefddb645ee6963afd681b1845c661d0ea4c3b20ab9db86d9e753b203d385f2').containsDigest()",
            "image('nginx').repository() == 'library/nginx'",
            // cel-go sets extension.
            "sets.contains([1, 2, 3, 4], [2, 3])", "!sets.contains([1, 2], [3])", "sets.contains([1], [])",
            "sets.equivalent([1, 2, 3], [3, 2, 1, 1])", "sets.intersects([1, 2], [2, 3])", "!sets.intersects([1], [])",
            // cel-go strings extension, version 2.
            "'hello %s'.format(['world']) == 'hello world'", "'%d-%.2f'.format([3, 1.5]) == '3-1.50'",
            "'%x'.format([255]) == 'ff'", "'%s'.format([[1, 'a']]) == '[1, a]'",
            "strings.quote('a\"b') == '\"a\\\\\"b\"'", "'a,b,c'.split(',', 2) == ['a', 'b,c']",
            "'aaa'.replace('a', 'b', 2) == 'bba'", "'hello'.indexOf('l', 3) == 3", "'hello'.lastIndexOf('l', 2) == 2",
            "'TacoCat'.upperAscii() == 'TACOCAT'", "'hello hello'.replace('he', 'we', 1) == 'wello hello'",
            "'hello hello'.replace('he', 'we', 0) == 'hello hello'",
            "'hello hello'.replace('', '_') == '_h_e_l_l_o_ _h_e_l_l_o_'",
            "'hello hello'.replace('h', '') == 'ello ello'",
            "'hello hello hello'.split(' ', 2) == ['hello', 'hello hello']", "'abc'.split('') == ['a', 'b', 'c']",
            "'hello mellow'.lastIndexOf('') == 12 && 'hello mellow'.lastIndexOf('ello', 6) == 1",
            "['hello', 'mellow'].join() == 'hellomellow'", "'hello'.charAt(5) == ''",
            // MutatingAdmissionPolicy's JSON patch helper.
            "jsonpatch.escapeKey('k8s.io/my~label') == 'k8s.io~1my~0label'",
            // Message construction (MutatingAdmissionPolicy's ApplyConfiguration and JSONPatch).
            "Object{spec: Object.spec{replicas: 3}}.spec.replicas == 3",
            "JSONPatch{op: 'add', path: '/x', value: 1}.op == 'add'", "has(Object{metadata: {}}.metadata)",
            "!has(Object{}.spec)", "Object{?spec: optional.none()} == Object{}",
            "type(JSONPatch{op: 'add'}) == type(JSONPatch{})",
        ])
    func evaluates(source: String) throws {
        let got = try Self.eval(source)
        #expect(got == .bool(true), "\(source)")
    }

    @Test(
        "errors are upstream's",
        arguments: [
            ("optional.none().value()", "optional.none() dereference"),
            ("quantity('9999999999999999999999999999999999999G').asInteger()", "cannot convert value to integer"),
            ("timestamp('9999-12-31T23:00:00Z') + duration('2h')", "timestamp overflow"),
        ])
    func errors(source: String, message: String) {
        #expect(throws: EvalError(message)) { try Self.eval(source) }
    }

    @Test("whitespace (space, tab, CR, LF, form feed) and line comments separate any two tokens")
    func whitespace() throws {
        let toks = [
            "[", "int", "(", "17", ")", "]", "[", "0", "]", "==", "(", "18", "-", "1", ")", "&&", "!", "false", "?",
            "1", ":", "2",
        ]
        for ws in [" ", "\t", "\n", "\u{0C}", "\r", "// @\n"] {
            #expect(try Self.eval(toks.joined(separator: ws)) == .int(1), "separator \(ws.debugDescription)")
        }
    }

    @Test("unregistered message types do not compile")
    func unregisteredTypes() {
        #expect(throws: CELError.self) { try Program("Secret{data: {}}") }
        #expect(throws: Never.self) { try Program("Object{}", environment: Environment(objectTypes: ["Object"])) }
    }

    struct FakeAuthorizer: CELAuthorizer {
        func authorize(_ c: AuthorizationCheck) -> AuthorizationDecision {
            if c.serviceAccount != nil { return AuthorizationDecision(allowed: false, reason: "sa denied") }
            if c.path == "/healthz" { return AuthorizationDecision(allowed: c.verb == "get") }
            if c.resource == "broken" { return AuthorizationDecision(allowed: false, error: "webhook down") }
            return AuthorizationDecision(
                allowed: c.group == "apps" && c.namespace == "ns" && c.verb == "create", reason: "rbac")
        }
    }

    @Test("the authorizer library asks the host's authorizer and exposes its decision")
    func authorizer() throws {
        let a = FakeAuthorizer()
        let vars: [String: Value] = [
            "authorizer": .authorizer(a),
            "authorizer.requestResource": .requestResource(a, group: "apps", resource: "deployments", namespace: "ns"),
        ]
        let cases = [
            "authorizer.group('apps').resource('deployments').namespace('ns').name('n').check('create').allowed()",
            "!authorizer.group('apps').resource('deployments').namespace('other').check('create').allowed()",
            "authorizer.group('apps').resource('deployments').namespace('ns').check('create').reason() == 'rbac'",
            "authorizer.path('/healthz').check('get').allowed()",
            "!authorizer.serviceAccount('ns', 'sa').group('apps').resource('x').check('create').allowed()",
            "authorizer.group('').resource('broken').check('get').errored()",
            "authorizer.group('').resource('broken').check('get').error() == 'webhook down'",
            "authorizer.requestResource.check('create').allowed()",
            "authorizer.group('apps').resource('deployments').namespace('ns').fieldSelector('a=b').labelSelector('c').check('create').allowed()",
        ]
        for c in cases {
            #expect(try Program(c).evaluate(vars) == .bool(true), "\(c)")
        }
    }

    @Test("runtime cost is tracked, and a limit cancels evaluation even under || and &&")
    func runtimeCost() throws {
        let p = try Program("self.all(x, x > 0)")
        let list = Value.list((0..<100).map { .int($0 + 1) })
        let r = try p.evaluate(["self": list], costLimit: nil)
        #expect(r.value == .bool(true))
        #expect(r.cost > 100)
        #expect(throws: EvalError.costLimitExceeded) { try p.evaluate(["self": list], costLimit: 50) }
        let absorbed = try Program("true || self.all(x, x > 0)")
        #expect(try absorbed.evaluate(["self": list], costLimit: 50).value == .bool(true))
        let cancelled = try Program("self.all(x, x > 0) || true")
        #expect(throws: EvalError.costLimitExceeded) { try cancelled.evaluate(["self": list], costLimit: 50) }
    }
}
