import APIMachinery

/// Pruning and defaulting of custom resources by their structural schema, as upstream's
/// apiextensions server does on every decode (request bodies and reads from storage).
public enum SchemaPruning {
    /// Removes the fields the schema does not specify (unless it preserves unknown fields there)
    /// and returns their paths (`spec.foo`, `spec.items[0].bar`), for unknown-field warnings and
    /// strict decoding.
    public static func prune(_ value: inout JSONValue, _ schema: CompiledSchema, path: String = "") -> [String] {
        var unknown: [String] = []
        prune(&value, schema, path: path, root: path.isEmpty, &unknown)
        return unknown
    }

    /// Prunes the top-level fields of an object other than apiVersion, kind and metadata.
    public static func pruneTopLevel(_ fields: inout [(key: String, value: JSONValue)], _ schema: CompiledSchema)
        -> [String]
    {
        var unknown: [String] = []
        var out: [(key: String, value: JSONValue)] = []
        out.reserveCapacity(fields.count)
        for (k, v) in fields {
            if let ps = schema.properties[k] {
                var v = v
                prune(&v, ps, path: k, root: false, &unknown)
                out.append((k, v))
            } else if let ap = schema.additionalProperties {
                var v = v
                prune(&v, ap, path: k, root: false, &unknown)
                out.append((k, v))
            } else if schema.keepsUnknownKeys {
                out.append((k, v))
            } else {
                unknown.append(k)
            }
        }
        fields = out
        return unknown
    }

    static func join(_ path: String, _ key: String) -> String { path.isEmpty ? key : path + "." + key }

    static func prune(
        _ value: inout JSONValue, _ s: CompiledSchema, path: String, root: Bool, _ unknown: inout [String]
    ) {
        switch value {
        case .object(let pairs):
            var out: [(key: String, value: JSONValue)] = []
            out.reserveCapacity(pairs.count)
            for (k, v) in pairs {
                if let ps = s.properties[k] {
                    var v = v
                    prune(&v, ps, path: join(path, k), root: false, &unknown)
                    out.append((k, v))
                } else if let ap = s.additionalProperties {
                    var v = v
                    prune(&v, ap, path: join(path, k), root: false, &unknown)
                    out.append((k, v))
                } else if s.embeddedResource && !root && k == "metadata", case .object(let meta) = v {
                    // Embedded metadata keeps what object metadata has (upstream coerces it to ObjectMeta).
                    var kept: [(key: String, value: JSONValue)] = []
                    for (mk, mv) in meta {
                        if objectMetaKeys.contains(mk) {
                            kept.append((mk, mv))
                        } else {
                            unknown.append(join(join(path, k), mk))
                        }
                    }
                    out.append((k, .object(kept)))
                } else if s.keepsUnknownKeys || ((root || s.embeddedResource) && typeMetaKeys.contains(k)) {
                    out.append((k, v))
                } else {
                    unknown.append(join(path, k))
                }
            }
            value = .object(out)
        case .array(let items):
            guard let itemSchema = s.items else { return }
            var out = items
            for i in out.indices { prune(&out[i], itemSchema, path: "\(path)[\(i)]", root: false, &unknown) }
            value = .array(out)
        default:
            return
        }
    }

    static let typeMetaKeys: Set<String> = ["apiVersion", "kind", "metadata"]

    /// The fields of object metadata.
    static let objectMetaKeys: Set<String> = [
        "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation", "creationTimestamp",
        "deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations", "ownerReferences", "finalizers",
        "managedFields",
    ]

    // MARK: Defaulting

    /// Applies the schema's defaults: a missing field with a default gets it, a null field gets it
    /// unless the field is nullable, and a null in a non-nullable field without a default is
    /// dropped (upstream's defaulting and null pruning).
    public static func applyDefaults(_ value: inout JSONValue, _ s: CompiledSchema) {
        switch value {
        case .object(var pairs):
            defaultFields(&pairs, s)
            value = .object(pairs)
        case .array(var items):
            guard let itemSchema = s.items else { return }
            for i in items.indices {
                if case .null = items[i], let d = itemSchema.defaultValue, !itemSchema.nullable { items[i] = d }
                applyDefaults(&items[i], itemSchema)
            }
            value = .array(items)
        default:
            return
        }
    }

    /// Defaults an object's fields in place (also the top level of a custom resource).
    public static func defaultFields(_ pairs: inout [(key: String, value: JSONValue)], _ s: CompiledSchema) {
        if !s.properties.isEmpty {
            var i = 0
            while i < pairs.count {
                if let ps = s.properties[pairs[i].key], case .null = pairs[i].value, !ps.nullable {
                    if let d = ps.defaultValue {
                        pairs[i].value = d
                    } else {
                        pairs.remove(at: i)
                        continue
                    }
                }
                i += 1
            }
            for (k, ps) in s.properties.sorted(by: { $0.key < $1.key }) {
                guard let d = ps.defaultValue, !pairs.contains(where: { $0.key == k }) else { continue }
                pairs.append((k, d))
            }
        }
        for i in pairs.indices {
            if let ps = s.properties[pairs[i].key] {
                applyDefaults(&pairs[i].value, ps)
            } else if let ap = s.additionalProperties {
                if case .null = pairs[i].value, let d = ap.defaultValue, !ap.nullable { pairs[i].value = d }
                applyDefaults(&pairs[i].value, ap)
            }
        }
    }
}
