/// What strategic merge patch needs to know about one position in a document, built by the
/// server from OpenAPI (`x-kubernetes-patch-strategy`, `x-kubernetes-patch-merge-key`).
/// A node describes a value: its object fields, its list items or its map values, and — for a
/// node reached through a field — that field's patch strategy and merge key.
/// A nil schema means "unknown": maps merge, lists are replaced (merge patch semantics).
public final class PatchSchema: Sendable {
    /// The field's strategies, e.g. `["merge"]`, `["merge", "retainKeys"]`, `["replace"]`.
    public let patchStrategies: [String]
    public let patchMergeKey: String?
    /// A name used in error messages (upstream prints the Go type name).
    public let name: String
    public let properties: [String: PatchSchema]
    /// The schema of list items, for a list.
    public let items: PatchSchema?
    /// The schema of map values, for a map such as `labels`.
    public let additionalProperties: PatchSchema?

    /// - Parameter patchStrategy: upstream's comma list, e.g. `"merge,retainKeys"`.
    public init(
        name: String = "", patchStrategy: String = "", patchMergeKey: String? = nil,
        properties: [String: PatchSchema] = [:], items: PatchSchema? = nil,
        additionalProperties: PatchSchema? = nil
    ) {
        self.name = name
        self.patchStrategies = patchStrategy.split(separator: ",").map { String($0) }
        self.patchMergeKey = patchMergeKey.flatMap { $0.isEmpty ? nil : $0 }
        self.properties = properties
        self.items = items
        self.additionalProperties = additionalProperties
    }

    /// The schema of a field of an object (or of any value of a map).
    public func field(_ name: String) -> PatchSchema? { properties[name] ?? additionalProperties }

    /// The strategies without `retainKeys`, as upstream's `extractRetainKeysPatchStrategy`.
    func strategy() throws(PatchError) -> String {
        let s = patchStrategies
        switch s.count {
        case 0: return ""
        case 1: return s[0] == "retainKeys" ? "" : s[0]
        case 2:
            if s[0] == "retainKeys" { return s[1] }
            if s[1] == "retainKeys" { return s[0] }
            fallthrough
        default:
            throw PatchError(.internal, "unexpected patch strategy: [" + s.joined(separator: " ") + "]")
        }
    }
}
