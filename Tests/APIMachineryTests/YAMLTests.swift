import APIMachinery
import Testing

/// YAML conversion: go-yaml-style output that reads back to the same JSON.
@Suite("YAML")
struct YAMLTests {
    @Test(
        "awkward strings survive JSON → YAML → JSON",
        arguments: [
            "", "a", "ünïcødé", "<script>&\"'", "line\nbreak\ttab", "\u{2028}\u{2029}x", "😀 emoji", "back\\slash",
            "x: y", "- dash", "123", "true", "null", "~", "yes", "0x1F", "1e3", "2024-01-01", "a #b", "#c", " lead",
            "trail ", "two\n\nlines\n", "tab\tin", "'quoted'", "[a]", "{a}", "*ref", "&anchor", "!tag", "%pct", "@at",
            "`bt", "a:b", "---", "...", "\r", "ctl\u{1}", "1:20", ".5", "+1", "-", "?", "a\n b",
        ])
    func strings(s: String) throws {
        var w = JSONWriter()
        w.beginObject()
        w.key("k")
        w.string(s)
        w.key("list")
        w.beginArray()
        w.string(s)
        w.endArray()
        w.endObject()
        let yaml = try YAML.fromJSON(w.bytes)
        let back = try YAML.toJSON(yaml)
        #expect(try JSONValue.parse(back) == JSONValue.parse(w.bytes), "yaml was:\n\(yaml)")
    }

    @Test("keys are sorted like go-yaml: digit runs numerically, letters after other characters")
    func keyOrder() throws {
        let json = Array(#"{"b":1,"a10":2,"a9":3,"A":4,"_x":5}"#.utf8)
        #expect(try YAML.fromJSON(json) == "_x: 5\nA: 4\na9: 3\na10: 2\nb: 1\n")
    }

    @Test("multi-document streams and YAML 1.1 scalars")
    func documents() throws {
        let docs = try YAML.documentsToJSON("a: yes\nb: 0x10\nc: ~\n---\n---\nd: '1'\n")
        #expect(docs.map { String(decoding: $0, as: UTF8.self) } == [#"{"a":true,"b":16,"c":null}"#, #"{"d":"1"}"#])
    }
}
