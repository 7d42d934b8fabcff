import APIMachinery
import CEL
import Foundation
import KubernetesAPI
import Synchronization

/// The client request a write belongs to, as admission sees it. A resource store sets it around
/// each request it serves; writes made without one (the server's own bookkeeping) skip the
/// dynamic admission chain, and so do writes to another resource made while serving it.
final class RequestScope: Sendable {
    @TaskLocal static var current: RequestScope?

    let groupResource: GroupResource
    /// The request's apiVersion (`apps/v1`).
    let apiVersion: String
    let subresource: String
    let user: UserInfo
    let dryRun: Bool
    let fieldManager: String
    private let collected = Mutex<(warnings: [String], audit: [String: String])>(([], [:]))

    init(
        groupResource: GroupResource, apiVersion: String, subresource: String, user: UserInfo, dryRun: Bool,
        fieldManager: String
    ) {
        self.groupResource = groupResource
        self.apiVersion = apiVersion
        self.subresource = subresource
        self.user = user
        self.dryRun = dryRun
        self.fieldManager = fieldManager
    }

    /// A warning for the response (`Warning: 299 - "…"`), once per text.
    func warn(_ text: String) {
        collected.withLock { if !$0.warnings.contains(text) { $0.warnings.append(text) } }
    }

    var warnings: [String] { collected.withLock { $0.warnings } }

    /// An annotation for the request's audit event.
    func annotate(_ key: String, _ value: String) {
        collected.withLock { $0.audit[key] = value }
        AuditAnnotations.current?.add(key, value)
    }

    var auditAnnotations: [String: String] { collected.withLock { $0.audit } }
}

/// One write as the admission chain sees it: what is written, where, by whom, in the request's
/// version. Objects are JSON in the request's version; `convert` moves them to another served
/// version of the resource (for `matchPolicy: Equivalent`).
struct AdmissionAttributes: Sendable {
    var operation: String
    var group: String
    var version: String
    var resource: String
    var subresource: String
    var kind: String
    /// The kind's group/version when it is not the resource's (a subresource's Scale).
    var kindGroupVersion: (group: String, version: String)? = nil
    var name: String
    var namespace: String
    var user: UserInfo
    var dryRun: Bool
    /// The operation's options (`CreateOptions`, `UpdateOptions`, `DeleteOptions`).
    var options: JSONValue
    var object: JSONValue?
    var oldObject: JSONValue?
    /// The resource's served versions and their kinds, the request's first.
    var versions: [(version: String, kind: String)]
    var convert: @Sendable (_ object: JSONValue, _ from: String, _ to: String) async throws -> JSONValue
    /// The labels of the request's namespace (the object's own for a Namespace), nil for other
    /// cluster-scoped resources.
    var namespaceLabels: [String: String]?
    /// The namespace object (`namespaceObject` in policies), when namespaced.
    var namespaceObject: JSONValue?
    /// Lists objects of a kind (policy parameters): apiVersion, kind, namespace (nil: all) and a
    /// label filter; nil when the kind is not served.
    var lookup: @Sendable (_ apiVersion: String, _ kind: String, _ namespace: String?) -> AdmissionParamSource?

    var gvr: String { group.isEmpty ? "\(version), Resource=\(resource)" : "\(group)/\(version), Resource=\(resource)" }

    var qualifiedResource: String { group.isEmpty ? resource : "\(resource).\(group)" }

    /// The admission request's JSON form (`request` in CEL expressions, the webhook's review),
    /// for the resource as matched in `matchedVersion`.
    func requestJSON(uid: String, matchedVersion: String? = nil, object: JSONValue?, oldObject: JSONValue?)
        -> JSONValue
    {
        let v = matchedVersion ?? version
        let matchedKind = versions.first { $0.version == v }?.kind ?? kind
        func gvk(_ version: String, _ kind: String) -> JSONValue {
            let (g, v) = kindGroupVersion ?? (group, version)
            return .object([("group", .string(g)), ("version", .string(v)), ("kind", .string(kind))])
        }
        func gvr(_ version: String) -> JSONValue {
            .object([("group", .string(group)), ("version", .string(version)), ("resource", .string(resource))])
        }
        var user: [(key: String, value: JSONValue)] = [("username", .string(self.user.name))]
        if !self.user.uid.isEmpty { user.append(("uid", .string(self.user.uid))) }
        if !self.user.groups.isEmpty { user.append(("groups", .array(self.user.groups.map { .string($0) }))) }
        var fields: [(key: String, value: JSONValue)] = [
            ("uid", .string(uid)), ("kind", gvk(v, matchedKind)), ("resource", gvr(v)),
        ]
        if !subresource.isEmpty { fields.append(("subResource", .string(subresource))) }
        fields.append(("requestKind", gvk(version, kind)))
        fields.append(("requestResource", gvr(version)))
        if !subresource.isEmpty { fields.append(("requestSubResource", .string(subresource))) }
        if !name.isEmpty { fields.append(("name", .string(name))) }
        if !namespace.isEmpty { fields.append(("namespace", .string(namespace))) }
        fields.append(("operation", .string(operation)))
        fields.append(("userInfo", .object(user)))
        fields.append(("object", object ?? .null))
        fields.append(("oldObject", oldObject ?? .null))
        fields.append(("dryRun", .bool(dryRun)))
        fields.append(("options", options))
        return .object(fields)
    }

    /// The object and old object in another served version of the resource.
    func objects(in v: String) async throws -> (JSONValue?, JSONValue?) {
        guard v != version else { return (object, oldObject) }
        return (
            object == nil ? nil : try await convert(object!, version, v),
            oldObject == nil ? nil : try await convert(oldObject!, version, v)
        )
    }

    /// The object's labels, or the old object's (either may match an object selector).
    static func labels(_ obj: JSONValue?) -> [String: String] {
        guard case .object(let pairs)? = obj?["metadata"]?["labels"] else { return [:] }
        var out: [String: String] = [:]
        for (k, v) in pairs { if let s = v.stringValue { out[k] = s } }
        return out
    }
}

/// Objects of one kind a policy takes as parameters, read from the server's cache.
struct AdmissionParamSource: Sendable {
    var namespaced: Bool
    var get: @Sendable (_ namespace: String, _ name: String) -> JSONValue?
    var list: @Sendable (_ namespace: String, _ selector: MetaV1.LabelSelector) -> [JSONValue]
}

/// JSON and CEL values, each way.
enum AdmissionCEL {
    static func value(_ json: JSONValue?) -> Value {
        guard let json else { return .null }
        return ValidationRules.value(json, nil)
    }

    static func json(_ v: Value) -> JSONValue {
        switch v {
        case .null: return .null
        case .bool(let b): return .bool(b)
        case .int(let i): return .number(String(i))
        case .uint(let u): return .number(String(u))
        case .double(let d):
            if d.rounded() == d && abs(d) < 1e15 { return .number(String(Int64(d))) }
            return .number(String(d))
        case .string(let s): return .string(s)
        case .bytes(let b): return .string(Data(b).base64EncodedString())
        case .list(let items): return .array(items.map(json))
        case .map(let entries):
            return .object(
                entries.map { e -> (key: String, value: JSONValue) in
                    if case .string(let k) = e.key { return (k, json(e.value)) }
                    return ("\(e.key)", json(e.value))
                })
        case .type(let t): return .string(t)
        case .timestamp(let t): return .string(t.description)
        case .duration(let n): return .string(Value.durationText(n))
        case .optional(let o): return o.map(json) ?? .null
        case .object(_, let fields): return .object(fields.map { ($0.name, json($0.value)) })
        case .opaque(let o): return .string("\(o)")
        }
    }

    /// The `authorizer` variables of a request: this server authorizes only `system:masters`
    /// (there is no RBAC yet), so a check is allowed exactly when the user is in that group.
    static func authorizerVariables(_ a: AdmissionAttributes) -> [String: Value] {
        let authz = GroupAuthorizer(user: a.user)
        return [
            "authorizer": .authorizer(authz),
            "authorizer.requestResource": .requestResource(
                authz, group: a.group, resource: a.resource, subresource: a.subresource, namespace: a.namespace,
                name: a.name),
        ]
    }

    struct GroupAuthorizer: CELAuthorizer {
        var user: UserInfo

        func authorize(_ check: AuthorizationCheck) -> AuthorizationDecision {
            if check.serviceAccount != nil { return AuthorizationDecision(allowed: false) }
            return AuthorizationDecision(allowed: user.groups.contains("system:masters"))
        }
    }

    /// Compiles an expression; nil with the error when it does not parse.
    static func compile(_ source: String, environment: Environment = Environment()) -> (Program?, String?) {
        do { return (try Program(source, environment: environment), nil) } catch { return (nil, "\(error)") }
    }

    /// Mutating policies build objects: `Object{…}` (and its nested types) and `JSONPatch{…}`.
    static let mutationEnvironment = Environment(objectTypes: ["Object", "JSONPatch"])
}
