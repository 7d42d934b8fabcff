import APIMachinery
import KubernetesAPI
import NIOHTTP1

/// What the router learned about a resource request.
struct ResourceRequest: Sendable {
    enum Verb: String, Sendable {
        case get, list, watch, create, update, patch, delete, deletecollection
    }

    var verb: Verb
    /// The request's apiVersion (`v1`, `apps/v1`): which served version's codec answers.
    var version: String
    var namespace: String
    var name: String
    var subresource: String
    var request: HTTPRequest
    var user: UserInfo
    var response: ResponseFormat

    var query: [String: String] { request.query }
    var body: [UInt8] { request.body }
    var isDryRun: Bool { request.query["dryRun"] == "All" }
}

/// What the client accepts: a format plus an optional server-side transform (Table, metadata only).
struct ResponseFormat: Sendable, Equatable {
    enum Shape: Sendable, Equatable { case object, table, partialMetadata, partialMetadataList }
    var format: WireFormat
    var shape: Shape
    /// For a protobuf watch: `application/vnd.kubernetes.protobuf;stream=watch`.
    var streamWatch = false

    /// Negotiates from the `Accept` header; nil when nothing acceptable (406). Kinds without a
    /// protobuf form (custom resources) still answer Tables and object metadata in protobuf.
    static func negotiate(_ accept: String?, objectProtobuf: Bool = true) -> ResponseFormat? {
        guard let accept, !accept.isEmpty, accept != "application/json", accept != "*/*" else {
            return ResponseFormat(format: .json, shape: .object)
        }
        var fallback: ResponseFormat? = nil
        for clause in accept.split(separator: ",") {
            let parts = clause.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            guard let type = parts.first?.lowercased() else { continue }
            var params: [String: String] = [:]
            for p in parts.dropFirst() {
                let kv = p.split(separator: "=", maxSplits: 1).map(String.init)
                if kv.count == 2 { params[kv[0].lowercased()] = kv[1] }
            }
            let format: WireFormat
            switch type {
            case "application/json", "application/*", "*/*", "application/json-patch+json": format = .json
            case "application/yaml": format = .yaml
            case "application/vnd.kubernetes.protobuf", "application/vnd.kubernetes.protobuf;stream=watch":
                format = .protobuf
            default: continue
            }
            if let q = params["q"], Double(q) == 0 { continue }
            if let asKind = params["as"] {
                let g = params["g"] ?? ""
                let v = params["v"] ?? ""
                guard g == "meta.k8s.io", v == "v1" || v == "v1beta1" else { continue }
                switch asKind {
                case "Table": return ResponseFormat(format: format, shape: .table)
                case "PartialObjectMetadata": return ResponseFormat(format: format, shape: .partialMetadata)
                case "PartialObjectMetadataList": return ResponseFormat(format: format, shape: .partialMetadataList)
                default: continue
                }
            }
            if format == .protobuf && !objectProtobuf { continue }
            let r = ResponseFormat(format: format, shape: .object, streamWatch: params["stream"] == "watch")
            if fallback == nil { fallback = r }
        }
        return fallback
    }
}
