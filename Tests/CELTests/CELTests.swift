import Testing

@testable import CEL

/// The language as the CEL specification defines it (cases in the spirit of the public cel-spec
/// `simple` conformance files): literals, operators with CEL's numeric and error semantics,
/// macros, the standard functions and the Kubernetes string and list extensions.
@Suite("CEL")
struct CELTests {
    static func eval(_ s: String, _ vars: [String: Value] = [:]) throws -> Value {
        try Program(s).evaluate(vars)
    }

    @Test(
        "expressions evaluate as the specification says",
        arguments: [
            ("1 + 2 * 3", Value.int(7)), ("(1 + 2) * 3", .int(9)), ("7 / 2", .int(3)), ("-7 % 3", .int(-1)),
            ("7u / 2u", .uint(3)), ("2.5 * 2.0", .double(5)), ("1 == 1.0", .bool(true)), ("1u == 1", .bool(true)),
            ("'a' + 'b' == 'ab'", .bool(true)), ("'abc' < 'abd'", .bool(true)),
            ("[1, 2] + [3]", .list([.int(1), .int(2), .int(3)])),
            ("size('héllo')", .int(5)), ("'hello'.size()", .int(5)), ("size([1,2,3])", .int(3)),
            ("size({'a': 1})", .int(1)),
            ("2 in [1, 2]", .bool(true)), ("'k' in {'k': 1}", .bool(true)), ("true ? 1 : 2", .int(1)),
            ("!true", .bool(false)), ("-(-3)", .int(3)), ("-9223372036854775808", .int(Int64.min)),
            ("0x10", .int(16)), ("1e3", .double(1000)), ("'\\u00e9' == 'é'", .bool(true)), ("r'\\n'", .string("\\n")),
            ("'''multi\nline'''", .string("multi\nline")), ("b'ab' + b'c' == b'abc'", .bool(true)),
            ("[1, 2, 3].all(x, x > 0)", .bool(true)), ("[1, 2, 3].exists(x, x > 2)", .bool(true)),
            ("[1, 2, 3].exists_one(x, x > 1)", .bool(false)),
            ("[1, 2, 3].map(x, x * 2)", .list([.int(2), .int(4), .int(6)])),
            ("[1, 2, 3].filter(x, x % 2 == 1)", .list([.int(1), .int(3)])),
            ("[1, 2, 3].map(x, x > 1, x * 10)", .list([.int(20), .int(30)])),
            ("{'a': 1, 'b': 2}.all(k, k != '')", .bool(true)), ("{'a': {'b': 2}}.a.b", .int(2)),
            ("has({'a': 1}.a)", .bool(true)),
            ("has({'a': 1}.b)", .bool(false)), ("int('42') + int(2.9)", .int(44)),
            ("string(12) + string(true)", .string("12true")),
            ("double(1) / 2.0", .double(0.5)), ("uint(3) == 3u", .bool(true)), ("type(1) == int", .bool(true)),
            ("'abc'.startsWith('ab') && 'abc'.endsWith('bc') && 'abc'.contains('b')", .bool(true)),
            ("'a1b2'.matches('^[a-z][0-9]')", .bool(true)), ("'Hello'.lowerAscii()", .string("hello")),
            ("'a,b'.split(',')", .list([.string("a"), .string("b")])), ("['a', 'b'].join('-')", .string("a-b")),
            ("'hello'.substring(1, 3)", .string("el")), ("'hello'.indexOf('l')", .int(2)),
            ("' x '.trim()", .string("x")),
            ("[3, 1, 2].max() + [3, 1, 2].min()", .int(4)), ("[1, 2, 3].sum()", .int(6)),
            ("[1, 2, 2].isSorted()", .bool(true)),
            ("'abc'.charAt(1)", .string("b")), ("'a.b.c'.replace('.', '/')", .string("a/b/c")),
            // Logical operators absorb an error when the other side decides.
            ("true || 1 / 0 == 1", .bool(true)), ("1 / 0 == 1 || true", .bool(true)),
            ("false && {'a': 1}.b == 1", .bool(false)),
        ])
    func evaluates(source: String, expected: Value) throws {
        let got = try Self.eval(source)
        #expect(got == expected)
    }

    @Test(
        "errors are CEL's: overflow, division by zero, missing keys, no such overload",
        arguments: [
            ("9223372036854775807 + 1", "integer overflow"), ("1 / 0", "division by zero"),
            ("1 % 0", "modulus by zero"),
            ("{'a': 1}.b", "no such key: b"), ("{'a': 1}['c']", "no such key: c"), ("[1][5]", "index out of bounds: 5"),
            ("1 + 'a'", "no such overload: _+_(int, string)"), ("0u - 1u", "unsigned integer overflow"),
            ("x > 1", "undeclared reference to 'x'"),
        ])
    func errors(source: String, message: String) {
        #expect(throws: EvalError(message)) { try Self.eval(source) }
    }

    @Test(
        "syntax errors name the position as upstream (`ERROR: <input>:line:col:`)",
        arguments: ["1 +", "self.", "a ? b", "'unterminated", "1 2", "if"])
    func syntax(source: String) {
        do {
            _ = try Program(source)
            Issue.record("parsed: \(source)")
        } catch {
            #expect(error.message.hasPrefix("ERROR: <input>:1:"), "\(error.message)")
        }
    }

    @Test("variables bind self and oldSelf; a rule reads oldSelf only when it references it")
    func variables() throws {
        let p = try Program("self.replicas <= self.max && self.name == oldSelf.name")
        let simple = try Program("self.x > 0")
        #expect(p.references("oldSelf") && !simple.references("oldSelf"))
        let obj = Value.map([
            (.string("replicas"), .int(3)), (.string("max"), .int(5)), (.string("name"), .string("a")),
        ])
        let result = try p.evaluate(["self": obj, "oldSelf": obj])
        #expect(result == .bool(true))
        // A macro's own variable shadows an outer one.
        let shadowed = try Program("[1].all(oldSelf, oldSelf > 0)")
        #expect(!shadowed.references("oldSelf"))
    }
}
