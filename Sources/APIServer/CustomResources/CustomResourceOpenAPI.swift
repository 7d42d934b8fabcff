import APIExtensions
import APIMachinery
import Foundation

/// OpenAPI published for custom resources, from their CRDs' schemas: a v3 document per served
/// group-version (what `kubectl explain` and kubectl's field-validation probe read), and the
/// definitions and paths the v2 document adds. Schemas are named as upstream names them: the
/// group reversed, the version, the kind (`com.example.stable.v1.CronTab`).
enum CustomResourceOpenAPI {
    struct Published: Sendable {
        /// v3 documents by key (`apis/<group>/<version>`).
        var v3: [String: OpenAPIDocs.Document] = [:]
        /// v2 `definitions` and `paths` members (`"name":{…}`).
        var v2Definitions: [String] = []
        var v2Paths: [String] = []
        var generation = 0
    }

    static let metaPrefix = "io.k8s.apimachinery.pkg.apis.meta.v1."

    /// The meta/v1 schemas every custom resource document refers to, from a built-in document.
    static let metaSchemas: [(key: String, value: JSONValue)] = {
        guard let json = OpenAPIDocs.v3Documents.first(where: { $0.0 == "apis/apps/v1" })?.1,
            let doc = try? JSONValue.parse(Array(json.utf8)),
            case .object(let schemas)? = doc["components"]?["schemas"]
        else { return [] }
        return schemas.filter { $0.key.hasPrefix(metaPrefix) || $0.key.hasPrefix("io.k8s.apimachinery.pkg.runtime.") }
    }()

    static func definitionName(group: String, version: String, kind: String) -> String {
        group.split(separator: ".").reversed().joined(separator: ".") + ".\(version).\(kind)"
    }

    static func build(_ crds: [CRD], generation: Int) -> Published {
        var out = Published(generation: generation)
        var byGV: [String: [(CRD, APIExtensionsV1.CustomResourceDefinitionVersion)]] = [:]
        for crd in crds.sorted(by: { $0.metadata.name < $1.metadata.name }) {
            for v in crd.spec.versions where v.served {
                byGV["apis/\(crd.spec.group)/\(v.name)", default: []].append((crd, v))
            }
        }
        for (key, entries) in byGV.sorted(by: { $0.key < $1.key }) {
            var schemas: [(key: String, value: JSONValue)] = []
            var paths: [(key: String, value: JSONValue)] = []
            for (crd, v) in entries {
                let names = crd.status.acceptedNames
                let def = definitionName(group: crd.spec.group, version: v.name, kind: names.kind)
                let gvk = gvkExtension(crd.spec.group, v.name, names.kind)
                schemas.append((def, objectSchema(v, gvk: gvk, ref: "#/components/schemas/", v2: false)))
                schemas.append(
                    (
                        def + "List",
                        listSchema(
                            names.kind, def, gvk: gvkExtension(crd.spec.group, v.name, names.listKind),
                            ref: "#/components/schemas/")
                    ))
                paths += resourcePaths(crd, v, def: def, v3: true)
                out.v2Definitions.append(member(def, objectSchema(v, gvk: gvk, ref: "#/definitions/", v2: true)))
                out.v2Definitions.append(
                    member(
                        def + "List",
                        listSchema(
                            names.kind, def, gvk: gvkExtension(crd.spec.group, v.name, names.listKind),
                            ref: "#/definitions/")))
                out.v2Paths += resourcePaths(crd, v, def: def, v3: false).map { member($0.key, $0.value) }
            }
            let doc = JSONValue.object([
                ("openapi", .string("3.0.0")),
                ("info", .object([("title", .string("Kubernetes CRD Swagger")), ("version", .string("v0.1.0"))])),
                ("paths", .object(paths)),
                ("components", .object([("schemas", .object(schemas + metaSchemas))])),
            ])
            out.v3[key] = OpenAPIDocs.Document(doc.jsonBytes)
        }
        return out
    }

    static func member(_ key: String, _ v: JSONValue) -> String {
        var w = JSONWriter()
        w.string(key)
        return String(decoding: w.bytes, as: UTF8.self) + ":" + String(decoding: v.jsonBytes, as: UTF8.self)
    }

    static func gvkExtension(_ group: String, _ version: String, _ kind: String) -> JSONValue {
        .array([.object([("group", .string(group)), ("kind", .string(kind)), ("version", .string(version))])])
    }

    static func ref(_ base: String, _ name: String) -> JSONValue { .object([("$ref", .string(base + name))]) }

    /// The object schema: the CRD's, with apiVersion, kind and metadata (a reference to
    /// ObjectMeta) filled in, as upstream publishes it.
    static func objectSchema(
        _ v: APIExtensionsV1.CustomResourceDefinitionVersion, gvk: JSONValue, ref base: String, v2: Bool
    ) -> JSONValue {
        var schema: JSONValue = .object([("type", .string("object"))])
        if let s = v.schema?.openAPIV3Schema {
            var w = JSONWriter()
            s.encodeJSON(&w)
            schema = (try? JSONValue.parse(w.bytes)) ?? schema
        }
        if v2 { schema = stripForV2(schema) }
        guard case .object(var pairs) = schema else { return schema }
        var props: [(key: String, value: JSONValue)] = []
        if case .object(let p)? = schema["properties"] { props = p }
        props.removeAll { ["apiVersion", "kind", "metadata"].contains($0.key) }
        let meta: JSONValue =
            v2
            ? ref(base, metaPrefix + "ObjectMeta")
            : .object([("allOf", .array([ref(base, metaPrefix + "ObjectMeta")]))])
        props.insert(
            contentsOf: [
                ("apiVersion", .object([("type", .string("string"))])),
                ("kind", .object([("type", .string("string"))])),
                ("metadata", meta),
            ], at: 0)
        if let i = pairs.firstIndex(where: { $0.key == "properties" }) {
            pairs[i].value = .object(props)
        } else {
            pairs.append(("properties", .object(props)))
        }
        pairs.append(("x-kubernetes-group-version-kind", gvk))
        return .object(pairs)
    }

    /// v2 has no `nullable`, `anyOf`/`oneOf`/`not`, and no schema-valued `additionalProperties`
    /// with properties; upstream drops what v2 cannot say.
    static func stripForV2(_ v: JSONValue) -> JSONValue {
        switch v {
        case .object(let pairs):
            return .object(
                pairs.filter { !["nullable", "anyOf", "oneOf", "not", "x-kubernetes-validations"].contains($0.key) }
                    .map { ($0.key, stripForV2($0.value)) })
        case .array(let a): return .array(a.map(stripForV2))
        default: return v
        }
    }

    static func listSchema(_ kind: String, _ def: String, gvk: JSONValue, ref base: String) -> JSONValue {
        .object([
            ("description", .string("\(kind)List is a list of \(kind)")),
            ("required", .array([.string("items")])),
            ("type", .string("object")),
            (
                "properties",
                .object([
                    ("apiVersion", .object([("type", .string("string"))])),
                    ("items", .object([("type", .string("array")), ("items", ref(base, def))])),
                    ("kind", .object([("type", .string("string"))])),
                    ("metadata", ref(base, metaPrefix + "ListMeta")),
                ])
            ),
            ("x-kubernetes-group-version-kind", gvk),
        ])
    }

    static func queryParameter(_ name: String, _ type: String) -> JSONValue {
        .object([
            ("in", .string("query")), ("name", .string(name)),
            ("schema", .object([("type", .string(type)), ("uniqueItems", .bool(true))])),
        ])
    }

    static func v2QueryParameter(_ name: String, _ type: String) -> JSONValue {
        .object([
            ("in", .string("query")), ("name", .string(name)), ("type", .string(type)), ("uniqueItems", .bool(true)),
        ])
    }

    /// The resource's paths with their operations, as kubectl's probes read them: each carries
    /// its kind (`x-kubernetes-group-version-kind`) and the write parameters the server takes.
    static func resourcePaths(
        _ crd: CRD, _ v: APIExtensionsV1.CustomResourceDefinitionVersion, def: String, v3: Bool
    ) -> [(key: String, value: JSONValue)] {
        let names = crd.status.acceptedNames
        let group = crd.spec.group
        let base = v3 ? "#/components/schemas/" : "#/definitions/"
        let namespaced = crd.spec.scope == "Namespaced"
        let prefix = "/apis/\(group)/\(v.name)/" + (namespaced ? "namespaces/{namespace}/" : "") + names.plural
        let op = v.name.prefix(1).uppercased() + v.name.dropFirst()
        let groupID = group.split(separator: ".").map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined()
        func param(_ n: String, _ t: String) -> JSONValue { v3 ? queryParameter(n, t) : v2QueryParameter(n, t) }
        let writeParams: [JSONValue] = [
            param("dryRun", "string"), param("fieldManager", "string"), param("fieldValidation", "string"),
        ]
        func response(_ def: String) -> JSONValue {
            if v3 {
                return .object([
                    (
                        "200",
                        .object([
                            ("description", .string("OK")),
                            (
                                "content",
                                .object([
                                    ("application/json", .object([("schema", ref(base, def))])),
                                    ("application/yaml", .object([("schema", ref(base, def))])),
                                ])
                            ),
                        ])
                    )
                ])
            }
            return .object([("200", .object([("description", .string("OK")), ("schema", ref(base, def))]))])
        }
        func body(_ def: String, patch: Bool) -> [(key: String, value: JSONValue)] {
            if v3 {
                let types =
                    patch
                    ? ["application/json-patch+json", "application/merge-patch+json"]
                    : ["application/json", "application/yaml"]
                let schema = patch ? ref(base, metaPrefix + "Patch") : ref(base, def)
                return [
                    (
                        "requestBody",
                        .object([
                            ("content", .object(types.map { ($0, .object([("schema", schema)])) })),
                            ("required", .bool(true)),
                        ])
                    )
                ]
            }
            return []
        }
        func operation(
            _ action: String, _ verbID: String, params: [JSONValue], responseDef: String, bodyDef: String? = nil,
            patch: Bool = false
        ) -> JSONValue {
            var pairs: [(key: String, value: JSONValue)] = [
                ("operationId", .string("\(verbID)\(groupID)\(op)\(namespaced ? "Namespaced" : "")\(names.kind)")),
                ("parameters", .array(params)),
            ]
            if let bodyDef { pairs += body(bodyDef, patch: patch) }
            pairs += [
                ("responses", response(responseDef)),
                ("x-kubernetes-action", .string(action)),
                ("x-kubernetes-group-version-kind", .object(gvkObject(group, v.name, names.kind))),
            ]
            if !v3 && bodyDef != nil {
                var p = params
                p.append(
                    .object([
                        ("in", .string("body")), ("name", .string("body")), ("required", .bool(true)),
                        ("schema", patch ? ref(base, metaPrefix + "Patch") : ref(base, bodyDef!)),
                    ]))
                pairs[1].value = .array(p)
            }
            return .object(pairs)
        }
        let listParams = [
            "labelSelector", "fieldSelector", "limit", "continue", "resourceVersion", "resourceVersionMatch", "watch",
            "timeoutSeconds", "allowWatchBookmarks", "sendInitialEvents",
        ].map {
            param(
                $0,
                $0 == "limit" || $0 == "timeoutSeconds"
                    ? "integer"
                    : ($0 == "watch" || $0 == "allowWatchBookmarks" || $0 == "sendInitialEvents" ? "boolean" : "string")
            )
        }
        var out: [(key: String, value: JSONValue)] = []
        out.append(
            (
                prefix,
                .object([
                    ("get", operation("list", "list", params: listParams, responseDef: def + "List")),
                    ("post", operation("post", "create", params: writeParams, responseDef: def, bodyDef: def)),
                    (
                        "delete",
                        operation(
                            "deletecollection", "deletecollection", params: listParams,
                            responseDef: metaPrefix + "Status")
                    ),
                ])
            ))
        // Replace and patch, of the object and of its status.
        let writes: [(key: String, value: JSONValue)] = [
            ("put", operation("put", "replace", params: writeParams, responseDef: def, bodyDef: def)),
            (
                "patch",
                operation(
                    "patch", "patch", params: writeParams + [param("force", "boolean")], responseDef: def,
                    bodyDef: def, patch: true)
            ),
        ]
        out.append(
            (
                prefix + "/{name}",
                .object(
                    [
                        ("get", operation("get", "read", params: [], responseDef: def))
                    ] + writes + [
                        (
                            "delete",
                            operation(
                                "delete", "delete",
                                params: [
                                    param("dryRun", "string"), param("gracePeriodSeconds", "integer"),
                                    param("propagationPolicy", "string"),
                                ], responseDef: metaPrefix + "Status")
                        )
                    ])
            ))
        if v.subresources?.status != nil {
            out.append(
                (
                    prefix + "/{name}/status",
                    .object(
                        [
                            ("get", operation("get", "read", params: [], responseDef: def))
                        ] + writes)
                ))
        }
        if namespaced {
            out.append(
                (
                    "/apis/\(group)/\(v.name)/\(names.plural)",
                    .object([
                        ("get", operation("list", "list", params: listParams, responseDef: def + "List"))
                    ])
                ))
        }
        return out
    }

    static func gvkObject(_ group: String, _ version: String, _ kind: String) -> [(key: String, value: JSONValue)] {
        [("group", .string(group)), ("kind", .string(kind)), ("version", .string(version))]
    }
}
