import APIMachinery
import KubernetesAPI
import Testing

/// Custom resources against their structural schema: validation with upstream's messages
/// (kube-openapi's texts as apiextensions converts them to field errors), pruning of unknown
/// fields and defaulting, each case naming the upstream rule it reflects.
@Suite("Custom resource schemas")
struct CustomResourceSchemaTests {
    static func schema(_ json: String) -> CompiledSchema {
        CompiledSchema(try! JSONReader.decode(APIExtensionsV1.JSONSchemaProps.self, from: Array(json.utf8)))
    }

    static func value(_ json: String) -> JSONValue { try! JSONValue.parse(Array(json.utf8)) }

    static func errors(_ schemaJSON: String, _ objectJSON: String) -> [String] {
        guard case .object(let fields) = value(objectJSON) else { return [] }
        return SchemaValidation.validateTopLevel(fields, schema(schemaJSON)).map(\.description)
    }

    static let spec = #"{"type":"object","properties":{"spec":{"type":"object","properties":"#

    @Test(
        "validation errors read as upstream's",
        arguments: [
            // kube-openapi InvalidType → field.TypeInvalid with the detected JSON type as the value.
            (
                #"{"replicas":{"type":"integer"}}"#, #"{"replicas":"x"}"#,
                #"spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string""#
            ),
            // A float that is not integral is a "number".
            (
                #"{"n":{"type":"integer"}}"#, #"{"n":1.5}"#,
                #"spec.n: Invalid value: "number": spec.n in body must be of type integer: "number""#
            ),
            // Required → field.Required.
            (#"{"s":{"type":"object","required":["foo"]}}"#, #"{"s":{}}"#, "spec.s.foo: Required value"),
            // Enum → field.NotSupported with quoted values.
            (
                #"{"mode":{"type":"string","enum":["a","b"]}}"#, #"{"mode":"x"}"#,
                #"spec.mode: Unsupported value: "x": supported values: "a", "b""#
            ),
            // Maximum → field.Invalid with the kube-openapi sentence.
            (
                #"{"n":{"type":"integer","maximum":10}}"#, #"{"n":11}"#,
                "spec.n: Invalid value: 11: spec.n in body should be less than or equal to 10"
            ),
            (
                #"{"n":{"type":"integer","minimum":1,"exclusiveMinimum":true}}"#, #"{"n":1}"#,
                "spec.n: Invalid value: 1: spec.n in body should be greater than 1"
            ),
            // MinLength counts characters.
            (
                #"{"s":{"type":"string","minLength":3}}"#, #"{"s":"ab"}"#,
                #"spec.s: Invalid value: "ab": spec.s in body should be at least 3 chars long"#
            ),
            // MaxLength → field.TooLongMaxLength (the value is not shown).
            (
                #"{"name":{"type":"string","maxLength":5}}"#, #"{"name":"abcdefg"}"#,
                "spec.name: Too long: may not be more than 5 bytes"
            ),
            (
                #"{"s":{"type":"string","pattern":"^[a-z]+$"}}"#, #"{"s":"X"}"#,
                #"spec.s: Invalid value: "X": spec.s in body should match '^[a-z]+$'"#
            ),
            // Format failures reuse InvalidType with the data as the value.
            (
                #"{"t":{"type":"string","format":"date-time"}}"#, #"{"t":"bad"}"#,
                #"spec.t: Invalid value: "bad": spec.t in body must be of type date-time: "bad""#
            ),
            // MaxItems → field.TooMany.
            (
                #"{"list":{"type":"array","maxItems":3,"items":{"type":"integer"}}}"#, #"{"list":[1,2,3,4]}"#,
                "spec.list: Too many: 4: must have at most 3 items"
            ),
            (
                #"{"list":{"type":"array","minItems":2,"items":{"type":"integer"}}}"#, #"{"list":[1]}"#,
                "spec.list: Invalid value: 1: spec.list in body should have at least 2 items"
            ),
            // Array items are addressed [i].
            (
                #"{"list":{"type":"array","items":{"type":"string"}}}"#, #"{"list":["a",2]}"#,
                #"spec.list[1]: Invalid value: "integer": spec.list[1] in body must be of type string: "integer""#
            ),
            // int-or-string is the type list integer,string.
            (
                #"{"port":{"x-kubernetes-int-or-string":true}}"#, #"{"port":true}"#,
                #"spec.port: Invalid value: "boolean": spec.port in body must be of type integer,string: "boolean""#
            ),
            // A null that survives to validation in a non-nullable field.
            (
                #"{"list":{"type":"array","items":{"type":"string"}}}"#, #"{"list":[null]}"#,
                #"spec.list[0]: Invalid value: "null": spec.list[0] in body must be of type string: "null""#
            ),
            // Junctor failures carry no field path.
            (
                #"{"x":{"type":"integer","anyOf":[{"minimum":10},{"maximum":1}]}}"#, #"{"x":5}"#,
                #"<nil>: Invalid value: "": "spec.x" must validate at least one schema (anyOf)"#
            ),
            // x-kubernetes-list-type: set rejects duplicates.
            (
                #"{"tags":{"type":"array","x-kubernetes-list-type":"set","items":{"type":"string"}}}"#,
                #"{"tags":["a","a"]}"#, #"spec.tags[1]: Duplicate value: "a""#
            ),
        ])
    func validation(properties: String, spec: String, expected: String) {
        let errs = Self.errors(Self.spec + properties + "}}}", #"{"spec":"# + spec + "}")
        #expect(errs.contains(expected), "\(errs)")
    }

    @Test("valid values pass: integral floats are integers, nullable nulls, ints and strings for int-or-string")
    func valid() {
        let s =
            Self.spec
            + #"{"n":{"type":"integer"},"z":{"type":"string","nullable":true},"p":{"x-kubernetes-int-or-string":true},"f":{"type":"number"}}}}}"#
        #expect(Self.errors(s, #"{"spec":{"n":1.0,"z":null,"p":"80%","f":3}}"#).isEmpty)
        #expect(Self.errors(s, #"{"spec":{"n":2,"p":8080}}"#).isEmpty)
    }

    @Test("pruning drops and reports unknown fields, keeps what the schema preserves")
    func pruning() {
        let s = Self.schema(
            Self.spec
                + #"{"a":{"type":"string"},"items":{"type":"array","items":{"type":"object","properties":{"n":{"type":"string"}}}},"m":{"type":"object","additionalProperties":{"type":"object","properties":{"k":{"type":"string"}}}},"free":{"type":"object","x-kubernetes-preserve-unknown-fields":true},"res":{"type":"object","x-kubernetes-embedded-resource":true,"properties":{"spec":{"type":"object"}}}}}}}"#
        )
        guard
            case .object(var fields) = Self.value(
                #"{"spec":{"a":"x","foo":1,"items":[{"n":"1","bar":2}],"m":{"k1":{"k":"v","x":0}},"free":{"any":{"thing":1}},"res":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{},"junk":1}},"other":true}"#
            )
        else { return }
        let unknown = SchemaPruning.pruneTopLevel(&fields, s)
        #expect(Set(unknown) == ["spec.foo", "spec.items[0].bar", "spec.m.k1.x", "spec.res.junk", "other"])
        let spec = JSONValue.object(fields)["spec"]
        #expect(spec?["free"] == Self.value(#"{"any":{"thing":1}}"#))
        #expect(spec?["res"]?["kind"] == .string("Pod"))
        #expect(spec?["res"]?["metadata"]?["name"] == .string("p"))
        #expect(spec?["items"] == Self.value(#"[{"n":"1"}]"#))
    }

    @Test("defaulting fills missing and non-nullable null fields, drops nulls without a default, keeps nullable nulls")
    func defaulting() {
        let s = Self.schema(
            Self.spec
                + #"{"replicas":{"type":"integer","default":1},"mode":{"type":"string","default":"auto"},"gone":{"type":"string"},"keep":{"type":"string","nullable":true},"nested":{"type":"object","default":{},"properties":{"x":{"type":"integer","default":7}}},"list":{"type":"array","items":{"type":"string","default":"d"}}}}}}"#
        )
        guard
            case .object(var fields) = Self.value(#"{"spec":{"mode":null,"gone":null,"keep":null,"list":["a",null]}}"#)
        else { return }
        SchemaPruning.defaultFields(&fields, s)
        let spec = JSONValue.object(fields)["spec"]
        #expect(spec?["replicas"] == .number("1"))
        #expect(spec?["mode"] == .string("auto"))
        #expect(spec?["gone"] == nil)
        #expect(spec?["keep"] == .null)
        // A defaulted object gets the defaults of its own fields too.
        #expect(spec?["nested"] == Self.value(#"{"x":7}"#))
        #expect(spec?["list"] == Self.value(#"["a","d"]"#))
    }

    static func crdSchemaErrors(_ json: String, status: Bool = false) -> [String] {
        let props = try! JSONReader.decode(APIExtensionsV1.JSONSchemaProps.self, from: Array(json.utf8))
        return StructuralSchemaValidation.validate(props, at: FieldPath("schema"), statusSubresource: status)
            .map(\.description)
    }

    @Test(
        "non-structural schemas are refused with upstream's messages",
        arguments: [
            (
                #"{"properties":{"spec":{"type":"object"}}}"#,
                "schema.type: Required value: must not be empty at the root"
            ),
            (#"{"type":"string"}"#, #"schema.type: Invalid value: "string": must be object at the root"#),
            (
                #"{"type":"object","properties":{"spec":{"properties":{}}}}"#,
                "schema.properties[spec].type: Required value: must not be empty for specified object fields"
            ),
            (
                #"{"type":"object","properties":{"a":{"type":"array"}}}"#,
                "schema.properties[a].items: Required value: must be specified"
            ),
            (
                #"{"type":"object","properties":{"a":{"type":"array","items":{}}}}"#,
                "schema.properties[a].items.type: Required value: must not be empty for specified array items"
            ),
            (
                #"{"type":"object","properties":{"metadata":{"type":"object","properties":{"labels":{"type":"object"}}}}}"#,
                "schema.properties[metadata]: Forbidden: must not specify anything other than name and generateName, but metadata is implicitly specified"
            ),
            (
                #"{"type":"object","properties":{"a":{"type":"string","x-kubernetes-preserve-unknown-fields":false}}}"#,
                "schema.properties[a].x-kubernetes-preserve-unknown-fields: Invalid value: false: must be true or undefined"
            ),
            (
                #"{"type":"object","properties":{"a":{"type":"integer","anyOf":[{"type":"integer"}]}}}"#,
                "schema.properties[a].anyOf[0].type: Forbidden: must be empty to be structural"
            ),
            (
                #"{"type":"object","properties":{"a":{"type":"string","default":5}}}"#,
                #"schema.properties[a].default: Invalid value: "integer": schema.properties[a].default in body must be of type string: "integer""#
            ),
            (
                #"{"type":"object","nullable":true}"#, "schema.nullable: Forbidden: nullable cannot be true at the root"
            ),
            (
                #"{"type":"object","properties":{"a":{"type":"object","properties":{"b":{"type":"string"}},"additionalProperties":{"type":"string"}}}}"#,
                "schema.properties[a].additionalProperties: Forbidden: additionalProperties and properties are mutual exclusive"
            ),
        ])
    func nonStructural(schema: String, expected: String) {
        let errs = Self.crdSchemaErrors(schema)
        #expect(errs.contains(expected), "\(errs)")
    }

    @Test("a structural schema passes")
    func structural() {
        #expect(
            Self.crdSchemaErrors(
                #"{"type":"object","properties":{"spec":{"type":"object","properties":{"n":{"type":"integer","default":1,"anyOf":[{"minimum":0}]},"m":{"type":"object","additionalProperties":{"type":"string"}},"p":{"x-kubernetes-int-or-string":true},"any":{"x-kubernetes-preserve-unknown-fields":true}}}}}"#
            ).isEmpty)
    }
}

extension CustomResourceSchemaTests {
    static let embedded =
        #"{"type":"object","properties":{"spec":{"type":"object","properties":{"template":{"type":"object","x-kubernetes-embedded-resource":true,"x-kubernetes-preserve-unknown-fields":true}}}}}"#

    @Test(
        "an embedded resource needs apiVersion and kind, and valid metadata (upstream's validateEmbeddedResource and ObjectMeta checks)"
    )
    func embeddedResourceValidation() {
        #expect(
            Self.errors(Self.embedded, #"{"spec":{"template":{"metadata":{"name":"a"}}}}"#) == [
                "spec.template.apiVersion: Required value: must not be empty",
                "spec.template.kind: Required value: must not be empty",
            ])
        #expect(
            Self.errors(Self.embedded, #"{"spec":{"template":{"apiVersion":"v1","kind":""}}}"#) == [
                #"spec.template.kind: Invalid value: "": must not be empty"#
            ])
        let badLabel = Self.errors(
            Self.embedded, #"{"spec":{"template":{"apiVersion":"v1","kind":"Pod","metadata":{"labels":{"a b":"c"}}}}}"#)
        #expect(badLabel.count == 1 && badLabel[0].hasPrefix(#"spec.template.metadata.labels: Invalid value: "a b""#))
        #expect(
            Self.errors(
                Self.embedded,
                #"{"spec":{"template":{"apiVersion":"v1","kind":"Pod","metadata":{"labels":{"app":"x"}}}}}"#
            )
            .isEmpty)
    }

    @Test("embedded metadata is pruned to object metadata's fields; the embedded object keeps its type fields")
    func embeddedResourcePruning() {
        let s = Self.schema(
            #"{"type":"object","properties":{"spec":{"type":"object","properties":{"template":{"type":"object","x-kubernetes-embedded-resource":true,"properties":{"spec":{"type":"object"}}}}}}}"#
        )
        var v = Self.value(
            #"{"spec":{"template":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","bogus":1},"spec":{},"extra":2}}}"#
        )
        let unknown = SchemaPruning.prune(&v, s)
        #expect(unknown.sorted() == ["spec.template.extra", "spec.template.metadata.bogus"])
        #expect(
            String(decoding: v.jsonBytes, as: UTF8.self)
                == #"{"spec":{"template":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{}}}}"#)
    }
}
