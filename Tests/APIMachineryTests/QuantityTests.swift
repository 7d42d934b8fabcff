import APIMachinery
import Testing

/// Quantity parsing, canonical form and comparison, per upstream's documented rules: canonical form
/// keeps no fractional digits, uses the largest exponent, and rounds sub-nano precision up.
@Suite("Quantity")
struct QuantityTests {
    @Test(
        "canonical serialization",
        arguments: [
            ("1Gi", "1Gi"), ("1024Mi", "1Gi"), ("1.5Gi", "1536Mi"), ("0.5", "500m"), ("500m", "500m"),
            ("1e3", "1e3"), ("1000", "1k"), ("1000m", "1"), ("100m", "100m"), ("0.1", "100m"), ("1.0", "1"),
            ("12e6", "12e6"), ("1Ki", "1Ki"), ("1023", "1023"), ("0", "0"), ("-1", "-1"), ("+5", "5"),
            ("0.0000000001", "1n"), ("1.0001", "1000100u"), ("1M", "1M"), ("1500", "1500"), ("1.5k", "1500"),
            ("2048", "2048"), ("2Ki", "2Ki"), ("1536Ki", "1536Ki"), ("0.5Ki", "512"), ("100Mi", "100Mi"),
            ("5E", "5E"), ("1e-3", "1e-3"), ("1234567890123456789012345", "9223372036854775807"),
        ])
    func canonical(input: String, expected: String) throws {
        let q = try Quantity(parsing: input)
        #expect(q.string == expected)
        // Canonical forms are stable.
        #expect(try Quantity(parsing: q.string).string == expected)
    }

    @Test("invalid quantities are rejected", arguments: ["", "abc", "1.2.3", "1Gib", "--1", "1 Gi", "Gi", "1e", "."])
    func invalid(input: String) {
        #expect(throws: Quantity.ParseError.self) { try Quantity(parsing: input) }
    }

    @Test("comparison is numeric, across suffixes")
    func comparison() throws {
        #expect(try Quantity(parsing: "1Gi") > Quantity(parsing: "1G"))
        #expect(try Quantity(parsing: "1000m").compare(Quantity(parsing: "1")) == 0)
        #expect(try Quantity(parsing: "1k").compare(Quantity(parsing: "1e3")) == 0)
        #expect(try Quantity(parsing: "-1").compare(Quantity(parsing: "0")) < 0)
        #expect(try Quantity(parsing: "1e100") > Quantity(parsing: "9Ei"))
    }

    @Test("values round up to whole units and millis")
    func values() throws {
        #expect(try Quantity(parsing: "1.5").value == 2)
        #expect(try Quantity(parsing: "100m").milliValue == 100)
        #expect(try Quantity(parsing: "0.0001").milliValue == 1)
        #expect(try Quantity(parsing: "1Gi").value == 1_073_741_824)
    }

    @Test("JSON: strings and numbers decode; encode is the canonical string")
    func json() throws {
        let q = try JSONReader.decode(Quantity.self, from: Array("\"1.5Gi\"".utf8))
        #expect(q.string == "1536Mi")
        let n = try JSONReader.decode(Quantity.self, from: Array("2".utf8))
        #expect(n.string == "2")
        var w = JSONWriter()
        q.encodeJSON(&w)
        #expect(String(decoding: w.bytes, as: UTF8.self) == "\"1536Mi\"")
    }
}
