import Foundation
import Testing

@testable import APIMachinery

func json(_ s: String) -> JSONValue { try! JSONValue.parse(Array(s.utf8)) }

/// A recorded upstream exchange from testdata/upstream/responses.
func recorded(_ name: String) throws -> (request: JSONValue, response: JSONValue) {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    let path = root.appendingPathComponent("testdata/upstream/responses/\(name).json").path
    let data = try #require(FileManager.default.contents(atPath: path))
    let v = try JSONValue.parse(Array(data))
    let req = try #require(v["request"]?["body"]?.stringValue)
    let resp = try #require(v["response"]?["body"]?.stringValue)
    return (json(req), json(resp))
}

@Suite("JSON Patch (RFC 6902)")
struct JSONPatchTests {
    @Test(
        "RFC 6902 appendix A examples that succeed give the documented result",
        arguments: [
            (#"{"foo":"bar"}"#, #"[{"op":"add","path":"/baz","value":"qux"}]"#, #"{"baz":"qux","foo":"bar"}"#),
            (
                #"{"foo":["bar","baz"]}"#, #"[{"op":"add","path":"/foo/1","value":"qux"}]"#,
                #"{"foo":["bar","qux","baz"]}"#
            ),
            (#"{"baz":"qux","foo":"bar"}"#, #"[{"op":"remove","path":"/baz"}]"#, #"{"foo":"bar"}"#),
            (#"{"foo":["bar","qux","baz"]}"#, #"[{"op":"remove","path":"/foo/1"}]"#, #"{"foo":["bar","baz"]}"#),
            (
                #"{"baz":"qux","foo":"bar"}"#, #"[{"op":"replace","path":"/baz","value":"boo"}]"#,
                #"{"baz":"boo","foo":"bar"}"#
            ),
            (
                #"{"foo":{"bar":"baz","waldo":"fred"},"qux":{"corge":"grault"}}"#,
                #"[{"op":"move","from":"/foo/waldo","path":"/qux/thud"}]"#,
                #"{"foo":{"bar":"baz"},"qux":{"corge":"grault","thud":"fred"}}"#
            ),
            (
                #"{"foo":["all","grass","cows","eat"]}"#, #"[{"op":"move","from":"/foo/1","path":"/foo/3"}]"#,
                #"{"foo":["all","cows","eat","grass"]}"#
            ),
            (
                #"{"baz":"qux","foo":["a",2,"c"]}"#,
                #"[{"op":"test","path":"/baz","value":"qux"},{"op":"test","path":"/foo/1","value":2}]"#,
                #"{"baz":"qux","foo":["a",2,"c"]}"#
            ),
            (
                #"{"foo":"bar"}"#, #"[{"op":"add","path":"/child","value":{"grandchild":{}}}]"#,
                #"{"foo":"bar","child":{"grandchild":{}}}"#
            ),
            (
                #"{"foo":"bar"}"#, #"[{"op":"add","path":"/baz","value":"qux","xyz":123}]"#,
                #"{"foo":"bar","baz":"qux"}"#
            ),
            (#"{"/":9,"~1":10}"#, #"[{"op":"test","path":"/~01","value":10}]"#, #"{"/":9,"~1":10}"#),
            (
                #"{"foo":["bar"]}"#, #"[{"op":"add","path":"/foo/-","value":["abc","def"]}]"#,
                #"{"foo":["bar",["abc","def"]]}"#
            ),
            (#"{"a":{"b":1}}"#, #"[{"op":"copy","from":"/a","path":"/c"}]"#, #"{"a":{"b":1},"c":{"b":1}}"#),
        ])
    func rfcExamples(doc: String, patch: String, expected: String) throws {
        #expect(try JSONPatch.apply(patch: json(patch), to: json(doc)) == json(expected))
    }

    @Test(
        "RFC 6902 appendix A examples that fail are 422 errors",
        arguments: [
            (#"{"baz":"qux"}"#, #"[{"op":"test","path":"/baz","value":"bar"}]"#),
            (#"{"foo":"bar"}"#, #"[{"op":"add","path":"/baz/bat","value":"qux"}]"#),
            (#"{"/":9,"~1":10}"#, #"[{"op":"test","path":"/~01","value":"10"}]"#),
            (#"{"a":[1]}"#, #"[{"op":"remove","path":"/a/5"}]"#),
            (#"{"a":1}"#, #"[{"op":"remove","path":"/b"}]"#),
            (#"{"a":1}"#, #"[{"op":"frob","path":"/a"}]"#),
            (#"{"a":1}"#, #"[{"op":"add","value":1}]"#),
        ])
    func rfcFailures(doc: String, patch: String) {
        #expect {
            try JSONPatch.apply(patch: json(patch), to: json(doc))
        } throws: { e in
            (e as? PatchError)?.kind == .invalid
        }
    }

    @Test("replace of a missing path gives the recorded 422 Status message")
    func recordedInvalidPath() throws {
        let (patch, response) = try recorded("patch-json-invalid-path")
        let cm = json(#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cm1"},"data":{"a":"1"}}"#)
        do {
            _ = try JSONPatch.apply(patch: patch, to: cm)
            Issue.record("expected the patch to fail")
        } catch {
            #expect(error.code == 422)
            #expect(error.reason == response["reason"]?.stringValue)
            #expect(error.statusMessage == response["message"]?.stringValue)
            #expect(error.message == "replace operation does not apply: doc is missing path: /nope/x: missing value")
        }
    }

    @Test("negative indices count from the end, as the API server's json-patch library allows")
    func negativeIndices() throws {
        let doc = json(#"{"a":[1,2,3]}"#)
        #expect(
            try JSONPatch.apply(patch: json(#"[{"op":"remove","path":"/a/-1"}]"#), to: doc) == json(#"{"a":[1,2]}"#))
        #expect(
            try JSONPatch.apply(patch: json(#"[{"op":"replace","path":"/a/-3","value":0}]"#), to: doc)
                == json(#"{"a":[0,2,3]}"#))
    }

    @Test("pointer tokens decode ~1 to / and ~0 to ~")
    func pointerEscapes() throws {
        let doc = json(#"{"metadata":{"labels":{"app.kubernetes.io/name":"x","a~b":"y"}}}"#)
        let patch = json(
            #"[{"op":"replace","path":"/metadata/labels/app.kubernetes.io~1name","value":"z"},{"op":"remove","path":"/metadata/labels/a~0b"}]"#
        )
        #expect(
            try JSONPatch.apply(patch: patch, to: doc)
                == json(#"{"metadata":{"labels":{"app.kubernetes.io/name":"z"}}}"#))
    }

    @Test("a patch that is not an array of objects is a 400 decode error")
    func decodeErrors() {
        #expect(throws: PatchError(.badRequest, "json: cannot unmarshal object into Go value of type jsonpatch.Patch"))
        {
            try JSONPatch(json(#"{"op":"add"}"#))
        }
        #expect(
            throws: PatchError(.badRequest, "json: cannot unmarshal string into Go value of type jsonpatch.Operation")
        ) {
            try JSONPatch(json(#"["add"]"#))
        }
    }
}

@Suite("JSON Merge Patch (RFC 7386)")
struct JSONMergePatchTests {
    @Test(
        "RFC 7386 appendix A examples give the documented result",
        arguments: [
            (#"{"a":"b"}"#, #"{"a":"c"}"#, #"{"a":"c"}"#),
            (#"{"a":"b"}"#, #"{"b":"c"}"#, #"{"a":"b","b":"c"}"#),
            (#"{"a":"b"}"#, #"{"a":null}"#, #"{}"#),
            (#"{"a":"b","b":"c"}"#, #"{"a":null}"#, #"{"b":"c"}"#),
            (#"{"a":["b"]}"#, #"{"a":"c"}"#, #"{"a":"c"}"#),
            (#"{"a":"c"}"#, #"{"a":["b"]}"#, #"{"a":["b"]}"#),
            (#"{"a":{"b":"c"}}"#, #"{"a":{"b":"d","c":null}}"#, #"{"a":{"b":"d"}}"#),
            (#"{"a":[{"b":"c"}]}"#, #"{"a":[1]}"#, #"{"a":[1]}"#),
            (#"["a","b"]"#, #"["c","d"]"#, #"["c","d"]"#),
            (#"{"a":"b"}"#, #"["c"]"#, #"["c"]"#),
            (#"{"e":null}"#, #"{"a":1}"#, #"{"e":null,"a":1}"#),
            (#"[1,2]"#, #"{"a":"b","c":null}"#, #"{"a":"b"}"#),
            (#"{}"#, #"{"a":{"bb":{"ccc":null}}}"#, #"{"a":{"bb":{}}}"#),
        ])
    func rfcExamples(doc: String, patch: String, expected: String) throws {
        #expect(try JSONMergePatch.apply(patch: json(patch), to: json(doc)) == json(expected))
    }

    @Test("a null or scalar patch is rejected as upstream's library does (RFC would replace the target)")
    func scalarPatches() {
        #expect(throws: PatchError(.badRequest, "Invalid JSON Patch")) {
            try JSONMergePatch.apply(patch: .null, to: json(#"{"a":"foo"}"#))
        }
        #expect(throws: PatchError(.badRequest, "Invalid JSON Patch")) {
            try JSONMergePatch.apply(patch: .string("bar"), to: json(#"{"a":"foo"}"#))
        }
    }

    @Test("existing members keep their place and new members are appended")
    func keyOrder() throws {
        let out = try JSONMergePatch.apply(patch: json(#"{"z":1,"a":2}"#), to: json(#"{"a":0,"m":1}"#))
        #expect(String(decoding: out.jsonBytes, as: UTF8.self) == #"{"a":2,"m":1,"z":1}"#)
    }
}
