import APIMachinery
import KubernetesAPI

/// An API error: a `metav1.Status` with upstream's code, reason, message and details.
public struct APIError: Error, Sendable, CustomStringConvertible {
    public var code: Int
    public var reason: String
    public var message: String
    public var details: MetaV1.StatusDetails?
    /// Seconds a client should wait (429, 504), written as `Retry-After` and `details.retryAfterSeconds`.
    public var retryAfter: Int?

    public init(
        code: Int, reason: String, message: String, details: MetaV1.StatusDetails? = nil, retryAfter: Int? = nil
    ) {
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.retryAfter = retryAfter
    }

    public var description: String { "\(code) \(reason): \(message)" }

    public var status: MetaV1.Status {
        MetaV1.Status(
            kind: "Status", apiVersion: "v1", status: "Failure", message: message, reason: reason, details: details,
            code: Int32(code))
    }

    static func resourceDetails(_ gr: GroupResource, name: String) -> MetaV1.StatusDetails {
        MetaV1.StatusDetails(name: name, group: gr.group, kind: gr.resource)
    }

    static func qualified(_ gr: GroupResource) -> String { gr.description }

    public static func notFound(_ gr: GroupResource, _ name: String) -> APIError {
        APIError(
            code: 404, reason: "NotFound", message: "\(qualified(gr)) \"\(name)\" not found",
            details: resourceDetails(gr, name: name))
    }

    public static func alreadyExists(_ gr: GroupResource, _ name: String) -> APIError {
        APIError(
            code: 409, reason: "AlreadyExists", message: "\(qualified(gr)) \"\(name)\" already exists",
            details: resourceDetails(gr, name: name))
    }

    public static func conflict(_ gr: GroupResource, _ name: String, _ detail: String) -> APIError {
        APIError(
            code: 409, reason: "Conflict",
            message: "Operation cannot be fulfilled on \(qualified(gr)) \"\(name)\": \(detail)",
            details: resourceDetails(gr, name: name))
    }

    static let modifiedMessage =
        "the object has been modified; please apply your changes to the latest version and try again"

    /// 422 with the field errors as causes: `Kind.group "name" is invalid: <errors>`.
    public static func invalid(_ gk: GroupKind, _ name: String, _ errors: ErrorList) -> APIError {
        let causes = errors.map { e in
            MetaV1.StatusCause(reason: e.kind.causeReason, message: e.body, field: e.field.description)
        }
        return APIError(
            code: 422, reason: "Invalid", message: "\(gk) \"\(name)\" is invalid: \(errors.aggregateMessage)",
            details: MetaV1.StatusDetails(name: name, group: gk.group, kind: gk.kind, causes: causes))
    }

    public static func badRequest(_ message: String) -> APIError {
        APIError(code: 400, reason: "BadRequest", message: message)
    }

    public static func methodNotAllowed() -> APIError {
        APIError(
            code: 405, reason: "MethodNotAllowed",
            message: "the server does not allow this method on the requested resource", details: MetaV1.StatusDetails())
    }

    public static func forbidden(
        _ user: String, verb: String, gr: GroupResource, subresource: String, name: String, namespace: String
    )
        -> APIError
    {
        let res = subresource.isEmpty ? gr.resource : "\(gr.resource)/\(subresource)"
        var msg = "\(qualified(gr)) "
        if !name.isEmpty { msg += "\"\(name)\" " }
        msg += "is forbidden: User \"\(user)\" cannot \(verb) resource \"\(res)\" in API group \"\(gr.group)\""
        msg += namespace.isEmpty ? " at the cluster scope" : " in the namespace \"\(namespace)\""
        return APIError(
            code: 403, reason: "Forbidden", message: msg,
            details: MetaV1.StatusDetails(name: name, group: gr.group, kind: gr.resource))
    }

    public static func forbiddenPath(_ user: String, verb: String, path: String) -> APIError {
        APIError(
            code: 403, reason: "Forbidden",
            message: "forbidden: User \"\(user)\" cannot \(verb) path \"\(path)\"", details: MetaV1.StatusDetails())
    }

    public static let unauthorized = APIError(code: 401, reason: "Unauthorized", message: "Unauthorized")

    public static func gone(_ message: String) -> APIError { APIError(code: 410, reason: "Gone", message: message) }

    public static func expired(_ message: String) -> APIError {
        APIError(code: 410, reason: "Expired", message: message)
    }

    public static let tooLarge = APIError(
        code: 413, reason: "RequestEntityTooLarge", message: "Request entity too large: limit is 3145728")

    public static func tooManyRequests() -> APIError {
        APIError(
            code: 429, reason: "TooManyRequests", message: "Too many requests, please try again later.",
            details: MetaV1.StatusDetails(retryAfterSeconds: 1), retryAfter: 1)
    }

    public static let notAcceptable = APIError(
        code: 406, reason: "NotAcceptable",
        message:
            "406: Not Acceptable\n\nAvailable representations: application/json, application/yaml, application/vnd.kubernetes.protobuf",
        details: MetaV1.StatusDetails())

    public static let unsupportedMediaType = APIError(
        code: 415, reason: "UnsupportedMediaType",
        message:
            "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf"
    )

    /// A body format a kind without protobuf (custom resources) does not take.
    public static let unsupportedMediaTypeJSONYAML = APIError(
        code: 415, reason: "UnsupportedMediaType",
        message:
            "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml"
    )

    public static func unsupportedPatch(_ contentType: String, strategic: Bool = true) -> APIError {
        let types =
            strategic
            ? "application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json, application/apply-patch+yaml"
            : "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
        return APIError(
            code: 415, reason: "UnsupportedMediaType",
            message: "the body of the request was in an unknown format - accepted media types include: \(types)")
    }

    public static func internalError(_ message: String) -> APIError {
        APIError(
            code: 500, reason: "InternalError", message: "Internal error occurred: \(message)",
            details: MetaV1.StatusDetails(causes: [MetaV1.StatusCause(message: message)]))
    }

    public static func serviceUnavailable(_ message: String) -> APIError {
        APIError(code: 503, reason: "ServiceUnavailable", message: message)
    }

    public static func timeout(_ message: String, retryAfter: Int = 1) -> APIError {
        APIError(
            code: 504, reason: "Timeout", message: message,
            details: MetaV1.StatusDetails(retryAfterSeconds: Int32(retryAfter)),
            retryAfter: retryAfter)
    }
}

extension FieldError.Kind {
    var causeReason: String { rawValue }
}
