/// A subresource as discovery lists it.
public struct SubresourceDescription: Sendable, Hashable {
    public var name: String
    public var kind: GroupVersionKind?
    public var verbs: [String]

    public init(name: String, kind: GroupVersionKind?, verbs: [String]) {
        self.name = name
        self.kind = kind
        self.verbs = verbs
    }
}

/// A resource in one group-version: names, scope, verbs, as upstream serves them.
public struct ResourceDescription: Sendable, Hashable {
    public var group: String
    public var version: String
    /// Plural name, e.g. `deployments`.
    public var resource: String
    public var singular: String
    public var kind: String
    public var namespaced: Bool
    public var verbs: [String]
    public var shortNames: [String]
    public var categories: [String]
    public var subresources: [SubresourceDescription]
    /// Whether upstream serves this group-version without `--runtime-config`.
    public var enabledByDefault: Bool

    public init(
        group: String, version: String, resource: String, singular: String, kind: String, namespaced: Bool,
        verbs: [String], shortNames: [String], categories: [String], subresources: [SubresourceDescription],
        enabledByDefault: Bool
    ) {
        self.group = group
        self.version = version
        self.resource = resource
        self.singular = singular
        self.kind = kind
        self.namespaced = namespaced
        self.verbs = verbs
        self.shortNames = shortNames
        self.categories = categories
        self.subresources = subresources
        self.enabledByDefault = enabledByDefault
    }

    public var groupVersionResource: GroupVersionResource {
        GroupVersionResource(group: group, version: version, resource: resource)
    }
    public var groupVersionKind: GroupVersionKind { GroupVersionKind(group: group, version: version, kind: kind) }
    public var groupResource: GroupResource { GroupResource(group: group, resource: resource) }
}

/// Kubernetes' version priority: GA before beta before alpha; within a level, higher numbers first;
/// versions that do not follow the `v<N>[alpha|beta<M>]` pattern sort last, alphabetically.
public enum KubeVersionOrder {
    static func parse(_ v: String) -> (major: Int, level: Int, minor: Int)? {
        guard v.hasPrefix("v") else { return nil }
        let rest = v.dropFirst()
        let digits = rest.prefix { $0.isNumber }
        guard let major = Int(digits), major > 0 else { return nil }
        let tail = rest.dropFirst(digits.count)
        if tail.isEmpty { return (major, 2, 0) }
        for (name, level) in [("beta", 1), ("alpha", 0)] where tail.hasPrefix(name) {
            guard let minor = Int(tail.dropFirst(name.count)), minor > 0 else { return nil }
            return (major, level, minor)
        }
        return nil
    }

    /// True when `a` has higher priority than `b`.
    public static func higher(_ a: String, _ b: String) -> Bool {
        switch (parse(a), parse(b)) {
        case (let x?, let y?):
            if x.level != y.level { return x.level > y.level }
            if x.major != y.major { return x.major > y.major }
            return x.minor > y.minor
        case (.some, nil): return true
        case (nil, .some): return false
        case (nil, nil): return a < b
        }
    }
}

/// The registry of kinds and resources: which Swift type serves each GVK, each resource's
/// names and scope, which versions are enabled, and the storage version of each resource.
/// Built once at start-up and passed down; never global.
public struct Scheme: Sendable {
    public private(set) var kinds: [GroupVersionKind: any APIKind.Type] = [:]
    public private(set) var resources: [GroupVersionResource: ResourceDescription] = [:]
    var resourceByKind: [GroupVersionKind: GroupVersionResource] = [:]
    /// Enabled group-versions.
    public private(set) var enabledGroupVersions: Set<GroupVersion> = []

    public init(kinds: [any APIKind.Type], resources: [ResourceDescription]) {
        for k in kinds { self.kinds[k.groupVersionKind] = k }
        for r in resources {
            self.resources[r.groupVersionResource] = r
            resourceByKind[r.groupVersionKind] = r.groupVersionResource
            if r.enabledByDefault { enabledGroupVersions.insert(GroupVersion(group: r.group, version: r.version)) }
        }
    }

    /// The Swift type serving a GVK.
    public func type(for gvk: GroupVersionKind) -> (any APIKind.Type)? { kinds[gvk] }

    public func resource(_ gvr: GroupVersionResource) -> ResourceDescription? { resources[gvr] }

    public func resource(forKind gvk: GroupVersionKind) -> ResourceDescription? {
        resourceByKind[gvk].flatMap { resources[$0] }
    }

    /// Every version known for a group, highest priority first.
    public func versions(ofGroup group: String) -> [String] {
        let vs = Set(resources.values.filter { $0.group == group }.map(\.version))
        return vs.sorted(by: KubeVersionOrder.higher)
    }

    /// Enables or disables a group-version (from `--runtime-config`).
    public mutating func setEnabled(_ gv: GroupVersion, _ enabled: Bool) {
        if enabled { enabledGroupVersions.insert(gv) } else { enabledGroupVersions.remove(gv) }
    }

    public func isEnabled(_ gv: GroupVersion) -> Bool { enabledGroupVersions.contains(gv) }

    /// The version a resource is stored in: its highest-priority enabled-by-default version, else its
    /// highest-priority version.
    public func storageVersion(of gr: GroupResource) -> String? {
        let all = resources.values.filter { $0.group == gr.group && $0.resource == gr.resource }
        let defaults = all.filter(\.enabledByDefault).map(\.version).sorted(by: KubeVersionOrder.higher)
        if let v = defaults.first { return v }
        return all.map(\.version).sorted(by: KubeVersionOrder.higher).first
    }

    /// Every resource of the enabled group-versions.
    public var enabledResources: [ResourceDescription] {
        resources.values.filter { enabledGroupVersions.contains(GroupVersion(group: $0.group, version: $0.version)) }
            .sorted { ($0.group, $0.version, $0.resource) < ($1.group, $1.version, $1.resource) }
    }

    /// Finds resources by any name kubectl accepts: plural, singular, short name or kind, optionally
    /// qualified by group (`deployments.apps`), among enabled versions.
    public func lookup(_ name: String) -> [ResourceDescription] {
        var n = Substring(name)
        var group: Substring? = nil
        if let dot = n.firstIndex(of: ".") {
            group = n[n.index(after: dot)...]
            n = n[..<dot]
        }
        let lower = n.lowercased()
        return enabledResources.filter { r in
            if let g = group, r.group != g { return false }
            return r.resource == lower || r.singular == lower || r.shortNames.contains(lower)
                || r.kind.lowercased() == lower
        }
    }
}
