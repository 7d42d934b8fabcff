import APIExtensions
import APIMachinery
import Foundation
import KubernetesAPI

typealias CRD = APIExtensionsV1.CustomResourceDefinition

/// Builds the REST store of one established CustomResourceDefinition: the generic resource store
/// over `CustomObject`s, stored as JSON under `/registry/<group>/<plural>/`, served in every
/// served version with its schema's pruning, defaulting and validation.
enum CustomResourceServing {
    static let verbs = ["delete", "deletecollection", "get", "list", "patch", "create", "update", "watch"]

    static func storageVersion(_ crd: CRD) -> String { crd.spec.versions.first(where: \.storage)?.name ?? "" }

    static func keyPrefix(_ crd: CRD) -> String {
        "/registry/\(crd.spec.group)/\(crd.status.acceptedNames.plural)/"
    }

    /// The resource as served in one version (names as accepted).
    static func description(_ crd: CRD, _ v: APIExtensionsV1.CustomResourceDefinitionVersion) -> ResourceDescription {
        let names = crd.status.acceptedNames
        var subs: [SubresourceDescription] = []
        if v.subresources?.status != nil {
            subs.append(SubresourceDescription(name: "status", kind: nil, verbs: ["get", "patch", "update"]))
        }
        if v.subresources?.scale != nil {
            subs.append(
                SubresourceDescription(
                    name: "scale", kind: GroupVersionKind(group: "autoscaling", version: "v1", kind: "Scale"),
                    verbs: ["get", "patch", "update"]))
        }
        return ResourceDescription(
            group: crd.spec.group, version: v.name, resource: names.plural,
            singular: names.singular.isEmpty ? names.kind.lowercased() : names.singular, kind: names.kind,
            namespaced: crd.spec.scope == "Namespaced", verbs: verbs, shortNames: names.shortNames,
            categories: names.categories, subresources: subs, enabledByDefault: true)
    }

    /// A version's compiled schema (nil without one: then everything is kept as sent).
    static func schema(_ v: APIExtensionsV1.CustomResourceDefinitionVersion) -> CompiledSchema? {
        v.schema?.openAPIV3Schema.map(CompiledSchema.init)
    }

    static func makeStore(_ crd: CRD, server: ServerContext) -> ResourceStore<CustomObject>? {
        let served = crd.spec.versions.filter(\.served)
        guard let storage = crd.spec.versions.first(where: \.storage), !served.isEmpty else { return nil }
        let group = crd.spec.group
        let kind = crd.status.acceptedNames.kind
        let storageAPIVersion = "\(group)/\(storage.name)"
        let storageSchema = schema(storage)
        let webhook = crd.spec.conversion?.strategy == "Webhook"
        let storageCodec = codec(
            group: group, version: storage.name, kind: kind, schema: storageSchema,
            storageAPIVersion: storageAPIVersion, webhook: webhook)
        var codecs: [String: VersionCodec<CustomObject>] = [:]
        var columns: [String: [TableBuilder.Column]] = [:]
        var warnings: [String: String] = [:]
        for v in served {
            let apiVersion = "\(group)/\(v.name)"
            codecs[apiVersion] =
                v.name == storage.name
                ? storageCodec
                : codec(
                    group: group, version: v.name, kind: kind, schema: schema(v), storageAPIVersion: storageAPIVersion,
                    webhook: webhook)
            columns[apiVersion] = PrinterColumns.columns(v)
            if v.deprecated {
                warnings[apiVersion] = v.deprecationWarning ?? "\(apiVersion) \(kind) is deprecated"
            }
        }
        let primary = description(crd, served.first { $0.storage } ?? served[0])
        let namespaced = crd.spec.scope == "Namespaced"
        var strategy = ResourceStrategy<CustomObject>()
        strategy.hasStatus = storage.subresources?.status != nil
        strategy.tracksGeneration = true
        strategy.generationCountsStatus = !strategy.hasStatus
        strategy.strategicMergePatch = false
        let crdName = crd.metadata.name
        let customResources = server.customResources!
        strategy.refuseCreate = {
            guard customResources.isTerminating(crdName) else { return nil }
            return APIError(
                code: 405, reason: "MethodNotAllowed",
                message: "create not allowed while custom resource definition is terminating",
                details: MetaV1.StatusDetails())
        }
        let rules = storageSchema.map(ValidationRules.init).flatMap { $0.isEmpty ? nil : $0 }
        strategy.validate = { obj, old in
            var errs = MetaValidation.validateObjectMeta(
                obj.metadata, namespaced: namespaced, nameRule: .dns1123Subdomain)
            if let old { errs += MetaValidation.validateObjectMetaUpdate(obj.metadata, old.metadata) }
            if let storageSchema {
                var schemaErrs = SchemaValidation.validateTopLevel(obj.fields, storageSchema)
                if let old, !schemaErrs.isEmpty { schemaErrs = Self.ratcheted(schemaErrs, obj.fields, old.fields) }
                errs += schemaErrs
            }
            guard let rules else { return errs }
            // As upstream: rules are not evaluated on an object whose shape is already wrong.
            let blocking: Set<FieldError.Kind> = [.notSupported, .required, .tooLong, .tooMany, .typeInvalid]
            if errs.contains(where: { blocking.contains($0.kind) }) {
                errs.append(
                    FieldError(
                        .invalid, FieldPath("<nil>"), .json("null"),
                        "some validation rules were not checked because the object was invalid; correct the existing errors to complete validation"
                    ))
                return errs
            }
            return errs + rules.validate(obj.fields, old: old?.fields)
        }
        var labels: Set<String> = ["metadata.name"]
        if namespaced { labels.insert("metadata.namespace") }
        let selectable = storage.selectableFields.compactMap { f -> (String, JSONPathLite)? in
            guard let p = JSONPathLite(f.jsonPath) else { return nil }
            return (String(f.jsonPath.drop { $0 == "." }), p)
        }
        for (label, _) in selectable { labels.insert(label) }
        let fieldsOf: @Sendable (CustomObject) -> [String: String] = { obj in
            var out = ["metadata.name": obj.metadata.name]
            if namespaced { out["metadata.namespace"] = obj.metadata.namespace }
            if selectable.isEmpty { return out }
            let json = JSONValue.object(obj.fields)
            for (label, path) in selectable {
                switch path.first(in: json) {
                case .string(let s)?: out[label] = s
                case .number(let n)?: out[label] = n
                case .bool(let b)?: out[label] = b ? "true" : "false"
                default: out[label] = ""
                }
            }
            return out
        }
        let store = ResourceStore<CustomObject>(
            resource: primary, storageCodec: storageCodec, codecs: codecs, keyPrefix: keyPrefix(crd), server: server,
            strategy: strategy, fieldLabels: labels, fieldsOf: fieldsOf, jsonStorage: true)
        store.tableColumns = columns
        store.versionWarnings = warnings
        store.fieldManager = FieldManager(
            schema: applySchema(storageSchema, server: server), hasStatus: strategy.hasStatus,
            zero: store.json(CustomObject()))
        if webhook {
            let converter = WebhookConverter(crd: crd, server: server)
            store.webhookConversion = { objects, apiVersion in try await converter.convert(objects, to: apiVersion) }
        }
        if let scale = storage.subresources?.scale {
            store.scalePaths = ScalePaths(
                specReplicas: path(scale.specReplicasPath), statusReplicas: path(scale.statusReplicasPath),
                labelSelector: scale.labelSelectorPath.map(path))
        }
        return store
    }

    /// How server-side apply merges a custom resource: as its schema's list and map types say
    /// (lists are atomic unless typed), metadata as ObjectMeta.
    static func applySchema(_ schema: CompiledSchema?, server: ServerContext) -> ApplySchema {
        let meta =
            server.patchSchemas.applySchema(for: GroupVersionKind(group: "", version: "v1", kind: "ConfigMap"))?
            .fields["metadata"] ?? .untyped
        guard let schema else { return ApplySchema(shape: .untyped) }
        var fields = convert(schema).fields
        fields["metadata"] = meta
        fields["apiVersion"] = .scalar
        fields["kind"] = .scalar
        return ApplySchema(shape: .object, fields: fields, element: schema.preserveUnknownFields ? .untyped : nil)
    }

    static func convert(_ s: CompiledSchema) -> ApplySchema {
        if s.intOrString { return .scalar }
        switch s.type {
        case "object":
            if s.properties.isEmpty && s.additionalProperties == nil {
                return s.preserveUnknownFields ? .untyped : ApplySchema(shape: .object, atomic: s.mapType == "atomic")
            }
            var fields = s.properties.mapValues(convert)
            if s.embeddedResource {
                fields["apiVersion"] = .scalar
                fields["kind"] = .scalar
                fields["metadata"] = fields["metadata"] ?? .untyped
            }
            let element = s.additionalProperties.map(convert) ?? (s.preserveUnknownFields ? .untyped : nil)
            return ApplySchema(shape: .object, atomic: s.mapType == "atomic", fields: fields, element: element)
        case "array":
            let element = s.items.map(convert) ?? .untyped
            switch s.listType {
            case "set": return ApplySchema(shape: .list, element: element)
            case "map":
                var defaults: [String: JSONValue] = [:]
                for k in s.listMapKeys { defaults[k] = s.items?.properties[k]?.defaultValue }
                return ApplySchema(shape: .list, keys: s.listMapKeys, element: element, keyDefaults: defaults)
            default: return ApplySchema(shape: .list, atomic: true, element: element)
            }
        case "": return s.preserveUnknownFields ? .untyped : .scalar
        default: return .scalar
        }
    }

    /// `.spec.replicas` → ["spec", "replicas"].
    /// Validation ratcheting on update (upstream's CRDValidationRatcheting): a schema error whose
    /// value is unchanged from the stored object is not reported, so objects stored under an older,
    /// looser schema can still be updated elsewhere. A missing field is judged by its nearest
    /// present parent.
    static func ratcheted(
        _ errs: ErrorList, _ new: [(key: String, value: JSONValue)], _ old: [(key: String, value: JSONValue)]
    ) -> ErrorList {
        let newJSON = JSONValue.object(new)
        let oldJSON = JSONValue.object(old)
        return errs.filter { e in
            let (reached, value) = e.field.deepestValue(in: newJSON)
            guard let was = reached.value(in: oldJSON) else { return true }
            return was != value
        }
    }

    static func path(_ p: String) -> [String] { p.split(separator: ".").map(String.init) }

    /// The codec of one version: JSON and YAML bodies, pruned and defaulted by the version's
    /// schema; objects are kept in the storage version ("None" conversion changes apiVersion only).
    static func codec(
        group: String, version: String, kind: String, schema: CompiledSchema?, storageAPIVersion: String,
        webhook: Bool = false
    ) -> VersionCodec<CustomObject> {
        let apiVersion = "\(group)/\(version)"
        @Sendable func finish(_ d: Decoded<CustomObject>) -> DecodedBody<CustomObject> {
            var obj = d.object
            let (sentVersion, sentKind) = (obj.apiVersion, obj.kind)
            var unknown = d.unknownFields.map { "metadata." + $0 }
            if let schema {
                unknown += SchemaPruning.pruneTopLevel(&obj.fields, schema)
                SchemaPruning.defaultFields(&obj.fields, schema)
            }
            // "None" conversion: the storage version is the same object; a webhook converts it later.
            obj.apiVersion = webhook ? apiVersion : storageAPIVersion
            obj.kind = kind
            return DecodedBody(
                object: obj, apiVersion: sentVersion, kind: sentKind, unknownFields: unknown,
                duplicateFields: d.duplicateFields)
        }
        var c = VersionCodec<CustomObject>(
            groupVersionKind: GroupVersionKind(group: group, version: version, kind: kind),
            decode: { bytes, format, track in
                let json: [UInt8]
                switch format {
                case .json: json = bytes
                case .yaml:
                    do { json = try YAML.toJSON(String(decoding: bytes, as: UTF8.self)) } catch {
                        throw BodyDecodingError.malformed("\(error)")
                    }
                case .protobuf: throw APIError.unsupportedMediaTypeJSONYAML
                }
                return finish(try ObjectDecoding.decodeJSON(CustomObject.self, json, track: track))
            },
            itemJSON: { obj in
                var o = obj
                if o.apiVersion != apiVersion, let schema {
                    // "None" conversion changes apiVersion only; the result is pruned and
                    // defaulted as this version's schema says (upstream's schema-coercing converter).
                    _ = SchemaPruning.pruneTopLevel(&o.fields, schema)
                    SchemaPruning.defaultFields(&o.fields, schema)
                }
                o.apiVersion = apiVersion
                o.kind = kind
                return o.jsonBytes
            },
            itemProto: { obj in obj.jsonBytes },
            fromJSONValue: { bytes, track in
                finish(try ObjectDecoding.decodeJSON(CustomObject.self, bytes, track: track))
            }
        )
        c.itemsCarryTypeMeta = true
        c.offersProtobuf = false
        return c
    }
}

/// Where a kind keeps its replica counts and selector, for the `scale` subresource.
struct ScalePaths: Sendable {
    var specReplicas: [String]
    var statusReplicas: [String]
    var labelSelector: [String]?

    static let builtIn = ScalePaths(
        specReplicas: ["spec", "replicas"], statusReplicas: ["status", "replicas"], labelSelector: nil)
}
