extension MetaV1.Status {
    /// The `reason` a Status carries for an HTTP status code when all that is known is the code (an
    /// answer without a Status body from a kubelet, a proxy or another server), as upstream names the
    /// reasons; server errors without a name are internal errors, anything else is unknown.
    public static func reason(forCode code: Int) -> String {
        switch code {
        case 400: "BadRequest"
        case 401: "Unauthorized"
        case 403: "Forbidden"
        case 404: "NotFound"
        case 405: "MethodNotAllowed"
        case 406: "NotAcceptable"
        case 409: "Conflict"
        case 410: "Gone"
        case 413: "RequestEntityTooLarge"
        case 415: "UnsupportedMediaType"
        case 422: "Invalid"
        case 429: "TooManyRequests"
        case 503: "ServiceUnavailable"
        case 504: "Timeout"
        case 500...: "InternalError"
        default: "Unknown"
        }
    }
}
