import APIMachinery
import Testing

/// JSON reader and writer behaviour that upstream's Go encoding defines.
@Suite("JSON codec")
struct JSONCodecTests {
    struct Obj: JSONObjectCodable, Equatable {
        var name = ""
        var count: Int32 = 0
        var inner: Inner? = nil
        var items: [Inner] = []
        init() {}
        func encodeJSONFields(_ w: inout JSONWriter) {
            w.quotedKey("\"name\":")
            w.string(name)
            w.quotedKey("\"count\":")
            w.int32(count)
        }
        mutating func decodeJSONField(_ key: JSONKey, _ r: inout JSONReader) throws -> Bool {
            switch key.string {
            case "name": name = try r.value()
            case "count": count = try r.value()
            case "inner": inner = try r.optional()
            case "items": items = try r.array()
            default: return false
            }
            return true
        }
    }

    struct Inner: JSONObjectCodable, Equatable {
        var a = ""
        init() {}
        func encodeJSONFields(_ w: inout JSONWriter) {}
        mutating func decodeJSONField(_ key: JSONKey, _ r: inout JSONReader) throws -> Bool {
            guard key.string == "a" else { return false }
            a = try r.value()
            return true
        }
    }

    func decode(_ s: String, track: Bool = false) throws -> (Obj, JSONReader) {
        try Array(s.utf8).withUnsafeBufferPointer { b in
            var r = JSONReader(b, trackFields: track)
            let o: Obj = try r.value()
            try r.expectEnd()
            return (o, r)
        }
    }

    @Test("strict mode reports unknown fields with their paths, and duplicates")
    func unknownFields() throws {
        let (_, r) = try decode(
            #"{"name":"x","bogus":1,"inner":{"a":"b","zz":[1]},"items":[{"q":1}],"name":"y"}"#, track: true)
        #expect(r.unknownFields == ["bogus", "inner.zz", "items[0].q"])
        #expect(r.duplicateFields == ["name"])
    }

    @Test("type mismatches and syntax errors read like Go's")
    func errors() {
        #expect(throws: JSONDecodingError("json: cannot unmarshal string into Go struct field count of type int32")) {
            _ = try Array(#"{"count":"1"}"#.utf8).withUnsafeBufferPointer { b in
                var r = JSONReader(b, trackFields: true)
                let o: Obj = try r.value()
                return o
            }
        }
        #expect(throws: JSONDecodingError("unexpected end of JSON input")) { _ = try decode(#"{"name":"x""#) }
        #expect(throws: JSONDecodingError.self) { _ = try decode(#"{"count":1.5}"#) }
        #expect(throws: JSONDecodingError.self) { _ = try decode(#"{"count":2147483648}"#) }
    }

    @Test("strings: escapes decode; the writer escapes HTML characters and U+2028 like Go")
    func strings() throws {
        let (o, _) = try decode(#"{"name":"a\u0041\n\ud83d\ude00<"}"#)
        #expect(o.name == "aA\n😀<")
        var w = JSONWriter()
        w.string("<a&b>\u{2028}\"\\\t\u{1}")
        #expect(String(decoding: w.bytes, as: UTF8.self) == #""\u003ca\u0026b\u003e\u2028\"\\\t\u0001""#)
    }

    @Test("null leaves values at zero; maps are written with sorted keys")
    func nullsAndMaps() throws {
        let (o, _) = try decode(#"{"name":null,"inner":null,"items":null}"#)
        #expect(o == Obj())
        var w = JSONWriter()
        ["b": "2", "a": "1", "B": "0"].encodeJSON(&w)
        #expect(String(decoding: w.bytes, as: UTF8.self) == #"{"B":"0","a":"1","b":"2"}"#)
    }

    @Test("floats are formatted as Go does")
    func floats() {
        for (v, s) in [
            (1.0, "1"), (0.5, "0.5"), (1e21, "1e+21"), (1e-7, "1e-7"), (123456789.0, "123456789"), (-2.5, "-2.5"),
        ] {
            var w = JSONWriter()
            w.double(v)
            #expect(String(decoding: w.bytes, as: UTF8.self) == s)
        }
    }

    @Test("time values are RFC 3339 in UTC; zero is null")
    func times() throws {
        let t = try JSONReader.decode(Time.self, from: Array("\"2008-01-01T01:01:01+02:00\"".utf8))
        #expect(t.rfc3339 == "2007-12-31T23:01:01Z")
        var w = JSONWriter()
        Time().encodeJSON(&w)
        #expect(String(decoding: w.bytes, as: UTF8.self) == "null")
        let m = MicroTime(seconds: 0, nanos: 123_456_789)
        #expect(m.rfc3339Micro == "1970-01-01T00:00:00.123456Z")
        #expect(GoDuration.format(3_723_500_000_000) == "1h2m3.5s")
        #expect(GoDuration.parse("1h2m3.5s") == 3_723_500_000_000)
    }
}
