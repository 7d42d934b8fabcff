import APIMachinery

/// The hub (internal) form of the example group: a distinct type, since its versions differ in
/// shape. Server code (strategies, validation) works on these; each version converts to and from
/// them, never to the other version.
public enum Example {
    /// The alpha gate guarding `spec.turbo`.
    public static let turboGate = "FrobberTurbo"
    public static let featureGates = [FeatureGateSpec(turboGate, false, .alpha, locked: false)]

    /// Annotation in which v6 keeps the v7beta1-only `paused` field, so v6 round trips lose nothing.
    public static let pausedAnnotation = "example.k8swift.io/paused"

    public struct Frobber: Equatable, Sendable {
        public var metadata = MetaV1.ObjectMeta()
        public var spec = FrobberSpec()
        public init() {}
    }

    public struct FrobberSpec: Equatable, Sendable {
        public var params: [String] = []
        public var replicas: Int32? = nil
        public var paused: Bool? = nil
        public var turbo: Bool? = nil
        public init() {}
    }

    /// Every served version; v6 is the storage version.
    public static let kinds: [any APIKind.Type] = [ExampleV6.Frobber.self, ExampleV7beta1.Frobber.self]
    public static let storageVersion = "v6"

    /// The example's resource, as discovery would list it.
    public static let resources: [ResourceDescription] = ["v6", "v7beta1"].map {
        ResourceDescription(
            group: "example.k8swift.io", version: $0, resource: "frobbers", singular: "frobber", kind: "Frobber",
            namespaced: true,
            verbs: ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
            shortNames: ["frob"], categories: [], subresources: [], enabledByDefault: $0 == "v6")
    }
}

extension Example.Frobber: Validated {
    /// Validation runs on the hub, whatever version the client used.
    public func validate() -> ErrorList {
        var errs = MetaValidation.validateObjectMeta(metadata, namespaced: true, nameRule: .dns1123Subdomain)
        let p = FieldPath("spec")
        if spec.params.isEmpty || spec.params[0].isEmpty {
            errs.append(.required(p.child("params").index(0), "the first parameter is required"))
        }
        for (i, param) in spec.params.enumerated().dropFirst() where param.isEmpty {
            errs.append(.invalid(p.child("params").index(i), param, "must not be empty"))
        }
        if let r = spec.replicas { errs += NumberValidation.nonNegative(Int64(r), p.child("replicas")) }
        return errs
    }

    /// The first parameter is immutable.
    public func validateUpdate(from old: Example.Frobber) -> ErrorList {
        var errs = MetaValidation.validateObjectMetaUpdate(metadata, old.metadata)
        if spec.params.first != old.spec.params.first {
            errs.append(
                MetaValidation.immutable(FieldPath("spec", "params").index(0), .string(spec.params.first ?? "")))
        }
        return errs + validate()
    }
}

extension ExampleV6.Frobber: HubConvertible {
    /// v6 → hub: `param` + `extraParams` become `params`; `paused` comes back from its annotation.
    public func toHub() -> Example.Frobber {
        var h = Example.Frobber()
        h.metadata = metadata
        h.metadata.annotations[Example.pausedAnnotation] = nil
        h.spec.params = spec.param.isEmpty && spec.extraParams.isEmpty ? [] : [spec.param] + spec.extraParams
        h.spec.replicas = spec.replicas
        h.spec.turbo = spec.turbo
        if let p = metadata.annotations[Example.pausedAnnotation] { h.spec.paused = p == "true" }
        return h
    }

    /// hub → v6: the first parameter is `param`, the rest `extraParams`; `paused` is kept in an
    /// annotation since v6 has no field for it.
    public init(hub h: Example.Frobber) {
        self.init()
        metadata = h.metadata
        spec.param = h.spec.params.first ?? ""
        spec.extraParams = Array(h.spec.params.dropFirst())
        spec.replicas = h.spec.replicas
        spec.turbo = h.spec.turbo
        if let p = h.spec.paused { metadata.annotations[Example.pausedAnnotation] = p ? "true" : "false" }
    }
}

extension ExampleV7beta1.Frobber: HubConvertible {
    public func toHub() -> Example.Frobber {
        var h = Example.Frobber()
        h.metadata = metadata
        h.spec.params = spec.params
        h.spec.replicas = spec.replicas
        h.spec.paused = spec.paused
        h.spec.turbo = spec.turbo
        return h
    }

    public init(hub h: Example.Frobber) {
        self.init()
        metadata = h.metadata
        spec.params = h.spec.params
        spec.replicas = h.spec.replicas
        spec.paused = h.spec.paused
        spec.turbo = h.spec.turbo
    }
}
