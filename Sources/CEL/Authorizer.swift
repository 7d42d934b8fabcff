/// What a policy expression asks the host's authorizer (`authorizer.group('apps').resource('deployments')
/// .namespace('ns').check('create')`, or `authorizer.path('/healthz').check('get')`).
public struct AuthorizationCheck: Sendable, Equatable {
    /// Set by `authorizer.serviceAccount(ns, name)`: the check is for that service account
    /// (`system:serviceaccount:ns:name`), not the requesting user.
    public var serviceAccount: (namespace: String, name: String)?
    /// A non-resource check (`authorizer.path(p)`); nil for a resource check.
    public var path: String?
    public var group = ""
    public var resource = ""
    public var subresource = ""
    public var namespace = ""
    public var name = ""
    public var fieldSelector: String?
    public var labelSelector: String?
    public var verb = ""

    public init() {}

    public static func == (a: AuthorizationCheck, b: AuthorizationCheck) -> Bool {
        a.serviceAccount?.namespace == b.serviceAccount?.namespace && a.serviceAccount?.name == b.serviceAccount?.name
            && a.path == b.path && a.group == b.group && a.resource == b.resource && a.subresource == b.subresource
            && a.namespace == b.namespace && a.name == b.name && a.fieldSelector == b.fieldSelector
            && a.labelSelector == b.labelSelector && a.verb == b.verb
    }
}

/// The authorizer's answer: `allowed()`, `reason()`, and `error()`/`errored()` for a failed check.
public struct AuthorizationDecision: Sendable, Equatable {
    public var allowed: Bool
    public var reason: String
    public var error: String?

    public init(allowed: Bool, reason: String = "", error: String? = nil) {
        self.allowed = allowed
        self.reason = reason
        self.error = error
    }
}

/// The host's authorizer, which the `authorizer` variable of admission policies calls.
public protocol CELAuthorizer: Sendable {
    func authorize(_ check: AuthorizationCheck) -> AuthorizationDecision
}

/// `authorizer`, and the partial checks built from it (`authorizer.group(g)`, `.resource(r)`, …).
struct AuthorizerValue: OpaqueValue {
    enum Stage: Sendable { case authorizer, path, group, resource }
    var stage: Stage
    var authorizer: any CELAuthorizer
    var check = AuthorizationCheck()

    var typeName: String {
        switch stage {
        case .authorizer: return "kubernetes.authorization.Authorizer"
        case .path: return "kubernetes.authorization.PathCheck"
        case .group: return "kubernetes.authorization.GroupCheck"
        case .resource: return "kubernetes.authorization.ResourceCheck"
        }
    }

    func isEqual(to other: any OpaqueValue) -> Bool { false }
}

struct DecisionValue: OpaqueValue, Equatable {
    var typeName: String { "kubernetes.authorization.Decision" }
    var decision: AuthorizationDecision
}

extension Value {
    /// The `authorizer` variable of a ValidatingAdmissionPolicy or MutatingAdmissionPolicy.
    public static func authorizer(_ a: any CELAuthorizer) -> Value {
        .opaque(AuthorizerValue(stage: .authorizer, authorizer: a))
    }

    /// `authorizer.requestResource`: a resource check for the request's own resource.
    public static func requestResource(
        _ a: any CELAuthorizer, group: String, resource: String, subresource: String = "", namespace: String = "",
        name: String = ""
    ) -> Value {
        var c = AuthorizationCheck()
        (c.group, c.resource, c.subresource, c.namespace, c.name) = (group, resource, subresource, namespace, name)
        return .opaque(AuthorizerValue(stage: .resource, authorizer: a, check: c))
    }
}

enum Authz {
    static func apply(_ name: String, _ v: [Value]) throws(EvalError) -> Value? {
        if case .opaque(let d as DecisionValue)? = v.first, v.count == 1 {
            switch name {
            case "allowed": return .bool(d.decision.allowed)
            case "reason": return .string(d.decision.reason)
            case "errored": return .bool(d.decision.error != nil)
            case "error": return .string(d.decision.error ?? "")
            default: return nil
            }
        }
        guard case .opaque(var a as AuthorizerValue)? = v.first else { return nil }
        var strings: [String] = []
        for x in v.dropFirst() {
            guard case .string(let s) = x else { return nil }
            strings.append(s)
        }
        switch (a.stage, name, strings.count) {
        case (.authorizer, "path", 1):
            a.stage = .path
            a.check.path = strings[0]
        case (.authorizer, "group", 1):
            a.stage = .group
            a.check.group = strings[0]
        case (.authorizer, "serviceAccount", 2):
            a.check.serviceAccount = (strings[0], strings[1])
        case (.group, "resource", 1):
            a.stage = .resource
            a.check.resource = strings[0]
        case (.resource, "subresource", 1): a.check.subresource = strings[0]
        case (.resource, "namespace", 1): a.check.namespace = strings[0]
        case (.resource, "name", 1): a.check.name = strings[0]
        case (.resource, "fieldSelector", 1): a.check.fieldSelector = strings[0]
        case (.resource, "labelSelector", 1): a.check.labelSelector = strings[0]
        case (.path, "check", 1), (.resource, "check", 1):
            a.check.verb = strings[0]
            return .opaque(DecisionValue(decision: a.authorizer.authorize(a.check)))
        default: return nil
        }
        return .opaque(a)
    }
}
