/// How server-side apply sees a value (structured-merge-diff's schema): which objects are
/// structures or maps merged key by key, which lists are sets or keyed (associative) and merged
/// item by item, and what is atomic — replaced and owned as a whole.
public final class ApplySchema: Sendable {
    public enum Shape: Sendable, Equatable {
        case scalar
        /// An object with named fields (a struct) or a map: merged key by key.
        case object
        /// A list merged item by item: by the item's key fields, or (no keys) as a set of values.
        case list
        /// Nothing is known: objects merge key by key, lists and scalars are atomic.
        case untyped
    }

    public let shape: Shape
    /// Replaced and owned as a whole (`x-kubernetes-map-type`/`-list-type: atomic`).
    public let atomic: Bool
    /// List item keys (a `map` list); empty for a `set` list.
    public let keys: [String]
    /// The schemas of a struct's named fields.
    public let fields: [String: ApplySchema]
    /// The schema of map values or list items.
    public let element: ApplySchema?
    /// Defaults of key fields, for items that leave a key out (`protocol: TCP` of ports).
    public let keyDefaults: [String: JSONValue]

    public init(
        shape: Shape, atomic: Bool = false, keys: [String] = [], fields: [String: ApplySchema] = [:],
        element: ApplySchema? = nil, keyDefaults: [String: JSONValue] = [:]
    ) {
        self.shape = shape
        self.atomic = atomic
        self.keys = keys
        self.fields = fields
        self.element = element
        self.keyDefaults = keyDefaults
    }

    /// The path element of an item of this list: its key fields (defaulted), or its value.
    public func itemElement(_ item: JSONValue) -> PathElement {
        keys.isEmpty ? PathElement.value(of: item) : PathElement.key(of: item, keys: keys, defaults: keyDefaults)
    }

    /// The schema of one key of an object: a struct's field, else the map's values.
    public func child(_ key: String) -> ApplySchema {
        if shape == .untyped { return .untyped }
        return fields[key] ?? element ?? .untyped
    }

    public static let scalar = ApplySchema(shape: .scalar)
    public static let untyped = ApplySchema(shape: .untyped)
}
