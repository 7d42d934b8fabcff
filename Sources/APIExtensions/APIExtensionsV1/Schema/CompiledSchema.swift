import APIMachinery
import Foundation

/// A CRD version's `openAPIV3Schema` prepared once for the hot paths of every write: defaults and
/// enum values parsed, patterns compiled, properties by name. Validation, pruning and defaulting
/// of custom resources walk this tree, never the wire struct.
public final class CompiledSchema: @unchecked Sendable {
    public let type: String
    public let format: String
    public let properties: [String: CompiledSchema]
    /// The schema of every other key of an object (`additionalProperties: {schema}`).
    public let additionalProperties: CompiledSchema?
    /// `additionalProperties: true` (a map of anything) or a schema.
    public let additionalPropertiesAllowed: Bool
    public let items: CompiledSchema?
    public let preserveUnknownFields: Bool
    public let intOrString: Bool
    public let embeddedResource: Bool
    public let nullable: Bool
    public let defaultValue: JSONValue?
    public let enumValues: [JSONValue]
    public let required: [String]
    public let maximum: Double?
    public let exclusiveMaximum: Bool
    public let minimum: Double?
    public let exclusiveMinimum: Bool
    public let multipleOf: Double?
    public let maxLength: Int64?
    public let minLength: Int64?
    public let pattern: String
    let patternRegex: NSRegularExpression?
    public let maxItems: Int64?
    public let minItems: Int64?
    public let uniqueItems: Bool
    public let maxProperties: Int64?
    public let minProperties: Int64?
    public let allOf: [CompiledSchema]
    public let anyOf: [CompiledSchema]
    public let oneOf: [CompiledSchema]
    public let not: CompiledSchema?
    public let listType: String?
    public let listMapKeys: [String]
    public let mapType: String?
    public let validations: [APIExtensionsV1.ValidationRule]
    /// The wire form, for what is published (OpenAPI) rather than enforced.
    public let props: APIExtensionsV1.JSONSchemaProps

    public init(_ p: APIExtensionsV1.JSONSchemaProps) {
        props = p
        type = p.type
        format = p.format
        var ps: [String: CompiledSchema] = [:]
        for (k, v) in p.properties { ps[k] = CompiledSchema(v) }
        properties = ps
        additionalProperties = p.additionalProperties?.schema.map(CompiledSchema.init)
        additionalPropertiesAllowed = p.additionalProperties.map { $0.allows || $0.schema != nil } ?? false
        items = p.items?.schema.map(CompiledSchema.init)
        preserveUnknownFields = p.xKubernetesPreserveUnknownFields == true
        intOrString = p.xKubernetesIntOrString
        embeddedResource = p.xKubernetesEmbeddedResource
        nullable = p.nullable
        defaultValue = p.default.flatMap { $0.raw.isEmpty ? nil : try? JSONValue.parse($0.raw) }
        enumValues = p.enum.compactMap { try? JSONValue.parse($0.raw) }
        required = p.required
        maximum = p.maximum
        exclusiveMaximum = p.exclusiveMaximum
        minimum = p.minimum
        exclusiveMinimum = p.exclusiveMinimum
        multipleOf = p.multipleOf
        maxLength = p.maxLength
        minLength = p.minLength
        pattern = p.pattern
        patternRegex = p.pattern.isEmpty ? nil : try? NSRegularExpression(pattern: p.pattern)
        maxItems = p.maxItems
        minItems = p.minItems
        uniqueItems = p.uniqueItems
        maxProperties = p.maxProperties
        minProperties = p.minProperties
        allOf = p.allOf.map(CompiledSchema.init)
        anyOf = p.anyOf.map(CompiledSchema.init)
        oneOf = p.oneOf.map(CompiledSchema.init)
        not = p.not.map(CompiledSchema.init)
        listType = p.xKubernetesListType
        listMapKeys = p.xKubernetesListMapKeys
        mapType = p.xKubernetesMapType
        validations = p.xKubernetesValidations
    }

    /// Whether a string matches `pattern` (ECMA/RE2-style; searched anywhere, as Go's
    /// `regexp.MatchString`).
    func matchesPattern(_ s: String) -> Bool {
        guard let re = patternRegex else { return true }
        return re.firstMatch(in: s, range: NSRange(s.startIndex..., in: s)) != nil
    }

    /// Whether unknown keys of an object at this node are kept.
    var keepsUnknownKeys: Bool { preserveUnknownFields || additionalPropertiesAllowed }
}
