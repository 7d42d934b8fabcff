/// An API group and version, e.g. `apps/v1` (the core group is "").
public struct GroupVersion: Hashable, Sendable, CustomStringConvertible {
    public var group: String
    public var version: String

    public init(group: String, version: String) {
        self.group = group
        self.version = version
    }

    /// Parses `group/version` or `version` (core).
    public init?(apiVersion: String) {
        let parts = apiVersion.split(separator: "/", omittingEmptySubsequences: false)
        switch parts.count {
        case 1:
            guard !apiVersion.isEmpty else { return nil }
            self.init(group: "", version: apiVersion)
        case 2:
            guard !parts[0].isEmpty, !parts[1].isEmpty else { return nil }
            self.init(group: String(parts[0]), version: String(parts[1]))
        default: return nil
        }
    }

    /// The `apiVersion` string: `version` for core, else `group/version`.
    public var apiVersion: String { group.isEmpty ? version : "\(group)/\(version)" }
    public var description: String { apiVersion }
}

/// A kind in a group and version.
public struct GroupVersionKind: Hashable, Sendable, CustomStringConvertible {
    public var group: String
    public var version: String
    public var kind: String

    public init(group: String, version: String, kind: String) {
        self.group = group
        self.version = version
        self.kind = kind
    }

    public var groupVersion: GroupVersion { GroupVersion(group: group, version: version) }
    public var apiVersion: String { groupVersion.apiVersion }
    public var groupKind: GroupKind { GroupKind(group: group, kind: kind) }
    public var description: String { "\(apiVersion), Kind=\(kind)" }
}

/// A kind in a group, independent of version.
public struct GroupKind: Hashable, Sendable, CustomStringConvertible {
    public var group: String
    public var kind: String

    public init(group: String, kind: String) {
        self.group = group
        self.kind = kind
    }

    public var description: String { group.isEmpty ? kind : "\(kind).\(group)" }
}

/// A resource in a group and version, e.g. `apps/v1, Resource=deployments`.
public struct GroupVersionResource: Hashable, Sendable, CustomStringConvertible {
    public var group: String
    public var version: String
    public var resource: String

    public init(group: String, version: String, resource: String) {
        self.group = group
        self.version = version
        self.resource = resource
    }

    public var groupVersion: GroupVersion { GroupVersion(group: group, version: version) }
    public var groupResource: GroupResource { GroupResource(group: group, resource: resource) }
    public var description: String { "\(groupVersion.apiVersion), Resource=\(resource)" }
}

/// A resource in a group, e.g. `deployments.apps`.
public struct GroupResource: Hashable, Sendable, CustomStringConvertible {
    public var group: String
    public var resource: String

    public init(group: String, resource: String) {
        self.group = group
        self.resource = resource
    }

    public var description: String { group.isEmpty ? resource : "\(resource).\(group)" }
}

/// A serializable API type with its own kind: every generated top-level kind conforms.
public protocol APIKind: JSONObjectCodable, ProtoMessage, Equatable, Sendable {
    static var groupVersionKind: GroupVersionKind { get }
    /// Applies upstream's defaults for this version (generated; a no-op for kinds without any).
    mutating func applyDefaults()
}

extension APIKind {
    public mutating func applyDefaults() {}
}

/// A type that carries `kind` and `apiVersion` in its JSON (Go's embedded `TypeMeta`).
public protocol TypeMetaCarrier {
    var kind: String { get set }
    var apiVersion: String { get set }
}

extension APIKind where Self: TypeMetaCarrier {
    /// Sets `kind` and `apiVersion` from the type's own GVK (what Go's serializer does on encode).
    @inlinable
    public mutating func setTypeMeta() {
        kind = Self.groupVersionKind.kind
        apiVersion = Self.groupVersionKind.apiVersion
    }
}

extension APIKind {
    /// Sets `kind` and `apiVersion` when the type carries them (a no-op for kinds such as WatchEvent).
    public mutating func setTypeMetaIfCarried() {
        if var c = self as? any TypeMetaCarrier {
            c.kind = Self.groupVersionKind.kind
            c.apiVersion = Self.groupVersionKind.apiVersion
            self = c as! Self
        }
    }
}

/// A version type that converts to and from its hub (internal) type — the star: versions never
/// convert to each other directly.
public protocol HubConvertible {
    associatedtype Hub
    func toHub() -> Hub
    init(hub: Hub)
}
