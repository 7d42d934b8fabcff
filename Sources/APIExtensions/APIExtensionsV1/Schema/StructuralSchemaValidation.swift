import APIMachinery
import Foundation

/// The rules a CRD's `openAPIV3Schema` must follow to be served (upstream's structural-schema
/// and CRD schema validation): every specified field typed, objects and arrays complete, value
/// validations only inside junctors, metadata left to the server, defaults that survive pruning
/// and validate.
public enum StructuralSchemaValidation {
    public static func validate(_ schema: APIExtensionsV1.JSONSchemaProps, at path: FieldPath, statusSubresource: Bool)
        -> ErrorList
    {
        var errs: ErrorList = []
        if schema.type.isEmpty && schema.xKubernetesPreserveUnknownFields != true && !schema.xKubernetesIntOrString {
            errs.append(.required(path.child("type"), "must not be empty at the root"))
        } else if !schema.type.isEmpty && schema.type != "object" {
            errs.append(.invalid(path.child("type"), schema.type, "must be object at the root"))
        }
        if schema.nullable { errs.append(.forbidden(path.child("nullable"), "nullable cannot be true at the root")) }
        if schema.additionalProperties != nil {
            errs.append(.forbidden(path.child("additionalProperties"), "must not be used at the root"))
        }
        if let meta = schema.properties["metadata"] {
            let p = path.child("properties").key("metadata")
            if !meta.type.isEmpty && meta.type != "object" {
                errs.append(.invalid(p.child("type"), meta.type, "must be object"))
            }
            if meta.properties.keys.contains(where: { $0 != "name" && $0 != "generateName" }) || meta.default != nil {
                errs.append(
                    .forbidden(
                        p,
                        "must not specify anything other than name and generateName, but metadata is implicitly specified"
                    ))
            }
        }
        for key in ["apiVersion", "kind"] {
            if let s = schema.properties[key] {
                let p = path.child("properties").key(key)
                if !s.type.isEmpty && s.type != "string" {
                    errs.append(.invalid(p.child("type"), s.type, "must be string"))
                }
                if s.default != nil {
                    errs.append(.forbidden(p.child("default"), "must not be set in top-level \(key)"))
                }
            }
        }
        if statusSubresource {
            let extra = rootFieldsOutsideStatusRules(schema)
            if !extra.isEmpty {
                errs.append(
                    .invalid(
                        path, .omitted,
                        "only description, type, format, title, maximum, exclusiveMaximum, minimum, exclusiveMinimum, maxLength, minLength, pattern, maxItems, minItems, uniqueItems, multipleOf, required, items, properties, externalDocs, example, x-kubernetes-preserve-unknown-fields and x-kubernetes-validations fields are allowed at the root of the schema if the status subresource is enabled"
                    ))
            }
        }
        node(schema, path, root: true, &errs)
        return errs.sorted { $0.description < $1.description }
    }

    static func rootFieldsOutsideStatusRules(_ s: APIExtensionsV1.JSONSchemaProps) -> [String] {
        var out: [String] = []
        if !s.allOf.isEmpty { out.append("allOf") }
        if !s.anyOf.isEmpty { out.append("anyOf") }
        if !s.oneOf.isEmpty { out.append("oneOf") }
        if s.not != nil { out.append("not") }
        if !s.enum.isEmpty { out.append("enum") }
        return out
    }

    static let types: Set<String> = ["array", "boolean", "integer", "number", "object", "string"]

    /// The structural rules of one node and everything under it.
    static func node(_ s: APIExtensionsV1.JSONSchemaProps, _ path: FieldPath, root: Bool, _ errs: inout ErrorList) {
        generic(s, path, &errs)
        if !s.type.isEmpty && !types.contains(s.type) {
            if s.type == "null" {
                errs.append(
                    .forbidden(path.child("type"), "type cannot be set to null, use nullable as an alternative"))
            } else {
                errs.append(.notSupported(path.child("type"), .string(s.type), types.sorted()))
            }
        }
        if s.xKubernetesIntOrString {
            if s.xKubernetesPreserveUnknownFields == true {
                errs.append(
                    .invalid(
                        path.child("x-kubernetes-preserve-unknown-fields"), .bool(true),
                        "must be false if x-kubernetes-int-or-string is true"))
            }
            if s.xKubernetesEmbeddedResource {
                errs.append(
                    .invalid(
                        path.child("x-kubernetes-embedded-resource"), .bool(true),
                        "must be false if x-kubernetes-int-or-string is true"))
            }
        }
        if s.xKubernetesEmbeddedResource {
            if s.type != "object" {
                if s.type.isEmpty {
                    errs.append(
                        .required(path.child("type"), "must be object if x-kubernetes-embedded-resource is true"))
                } else {
                    errs.append(
                        .invalid(path.child("type"), s.type, "must be object if x-kubernetes-embedded-resource is true")
                    )
                }
            }
            if s.xKubernetesPreserveUnknownFields != true && s.properties.isEmpty {
                errs.append(
                    .required(
                        path.child("properties"),
                        "must not be empty if x-kubernetes-embedded-resource is true without x-kubernetes-preserve-unknown-fields"
                    ))
            }
            if s.additionalProperties != nil {
                errs.append(
                    .forbidden(
                        path.child("additionalProperties"), "must not be used if x-kubernetes-embedded-resource is set")
                )
            }
        }
        if s.type == "array" && s.items?.schema == nil {
            errs.append(.required(path.child("items"), "must be specified"))
        }
        for (k, p) in s.properties.sorted(by: { $0.key < $1.key }) {
            let pp = path.child("properties").key(k)
            if p.type.isEmpty && p.xKubernetesPreserveUnknownFields != true && !p.xKubernetesIntOrString {
                errs.append(.required(pp.child("type"), "must not be empty for specified object fields"))
            }
            node(p, pp, root: false, &errs)
        }
        if let items = s.items?.schema {
            if items.type.isEmpty && items.xKubernetesPreserveUnknownFields != true && !items.xKubernetesIntOrString {
                errs.append(.required(path.child("items", "type"), "must not be empty for specified array items"))
            }
            node(items, path.child("items"), root: false, &errs)
        }
        if let ap = s.additionalProperties?.schema {
            if ap.type.isEmpty && ap.xKubernetesPreserveUnknownFields != true && !ap.xKubernetesIntOrString {
                errs.append(
                    .required(
                        path.child("additionalProperties", "type"), "must not be empty for specified object fields"))
            }
            node(ap, path.child("additionalProperties"), root: false, &errs)
        }
        for (name, list) in [("allOf", s.allOf), ("anyOf", s.anyOf), ("oneOf", s.oneOf)] {
            for (i, j) in list.enumerated() { junctor(j, path.child(name).index(i), &errs) }
        }
        if let not = s.not { junctor(not, path.child("not"), &errs) }
        if let d = s.default, !d.raw.isEmpty { validateDefault(d, s, path, &errs) }
    }

    /// Checks shared by every node of a CRD schema.
    static func generic(_ s: APIExtensionsV1.JSONSchemaProps, _ path: FieldPath, _ errs: inout ErrorList) {
        if s.xKubernetesPreserveUnknownFields == false {
            errs.append(
                .invalid(path.child("x-kubernetes-preserve-unknown-fields"), .bool(false), "must be true or undefined"))
        }
        if s.uniqueItems {
            errs.append(
                .forbidden(
                    path.child("uniqueItems"),
                    "uniqueItems cannot be set to true since the runtime complexity becomes quadratic"))
        }
        if !s.properties.isEmpty, let ap = s.additionalProperties, !ap.allows || ap.schema != nil {
            errs.append(
                .forbidden(
                    path.child("additionalProperties"), "additionalProperties and properties are mutual exclusive"))
        }
        if !s.id.isEmpty { errs.append(.forbidden(path.child("id"), "id is not supported")) }
        if s.additionalItems != nil {
            errs.append(.forbidden(path.child("additionalItems"), "additionalItems is not supported"))
        }
        if !s.patternProperties.isEmpty {
            errs.append(.forbidden(path.child("patternProperties"), "patternProperties is not supported"))
        }
        if !s.definitions.isEmpty { errs.append(.forbidden(path.child("definitions"), "definitions is not supported")) }
        if !s.dependencies.isEmpty {
            errs.append(.forbidden(path.child("dependencies"), "dependencies is not supported"))
        }
        if s.ref != nil { errs.append(.forbidden(path.child("$ref"), "$ref is not supported")) }
        if s.items?.jsonSchemas.isEmpty == false {
            errs.append(.forbidden(path.child("items"), "items must be a schema object and not an array"))
        }
        if !s.pattern.isEmpty {
            do { _ = try NSRegularExpression(pattern: s.pattern) } catch {
                errs.append(
                    .invalid(
                        path.child("pattern"), s.pattern,
                        "must be a valid regular expression, but isn't: error parsing regexp: invalid pattern"))
            }
        }
    }

    /// Inside allOf/anyOf/oneOf/not only value validations may appear.
    static func junctor(_ s: APIExtensionsV1.JSONSchemaProps, _ path: FieldPath, _ errs: inout ErrorList) {
        let empty = "must be empty to be structural"
        let undefined = "must be undefined to be structural"
        let falsy = "must be false to be structural"
        if !s.type.isEmpty { errs.append(.forbidden(path.child("type"), empty)) }
        if !s.title.isEmpty { errs.append(.forbidden(path.child("title"), empty)) }
        if !s.description.isEmpty { errs.append(.forbidden(path.child("description"), empty)) }
        if !s.xKubernetesListMapKeys.isEmpty {
            errs.append(.forbidden(path.child("x-kubernetes-list-map-keys"), empty))
        }
        if !s.xKubernetesValidations.isEmpty { errs.append(.forbidden(path.child("x-kubernetes-validations"), empty)) }
        if s.additionalProperties != nil { errs.append(.forbidden(path.child("additionalProperties"), undefined)) }
        if s.default != nil { errs.append(.forbidden(path.child("default"), undefined)) }
        if s.externalDocs != nil { errs.append(.forbidden(path.child("externalDocs"), undefined)) }
        if s.xKubernetesListType != nil { errs.append(.forbidden(path.child("x-kubernetes-list-type"), undefined)) }
        if s.xKubernetesMapType != nil { errs.append(.forbidden(path.child("x-kubernetes-map-type"), undefined)) }
        if s.nullable { errs.append(.forbidden(path.child("nullable"), falsy)) }
        if s.xKubernetesPreserveUnknownFields != nil {
            errs.append(.forbidden(path.child("x-kubernetes-preserve-unknown-fields"), falsy))
        }
        if s.xKubernetesEmbeddedResource {
            errs.append(.forbidden(path.child("x-kubernetes-embedded-resource"), falsy))
        }
        if s.xKubernetesIntOrString { errs.append(.forbidden(path.child("x-kubernetes-int-or-string"), falsy)) }
        for (k, p) in s.properties.sorted(by: { $0.key < $1.key }) {
            junctor(p, path.child("properties").key(k), &errs)
        }
        if let items = s.items?.schema { junctor(items, path.child("items"), &errs) }
        for (name, list) in [("allOf", s.allOf), ("anyOf", s.anyOf), ("oneOf", s.oneOf)] {
            for (i, j) in list.enumerated() { junctor(j, path.child(name).index(i), &errs) }
        }
        if let not = s.not { junctor(not, path.child("not"), &errs) }
    }

    /// A default must survive pruning unchanged and validate against its own schema.
    static func validateDefault(
        _ d: APIExtensionsV1.JSON, _ s: APIExtensionsV1.JSONSchemaProps, _ path: FieldPath, _ errs: inout ErrorList
    ) {
        guard let value = try? JSONValue.parse(d.raw) else { return }
        let compiled = CompiledSchema(s)
        var pruned = value
        if !SchemaPruning.prune(&pruned, compiled, path: "x").isEmpty {
            errs.append(
                .invalid(
                    path.child("default"), .json(String(decoding: d.raw, as: UTF8.self)), "must not have unknown fields"
                ))
            return
        }
        errs += SchemaValidation.validate(value, compiled, at: path.child("default"))
    }
}
