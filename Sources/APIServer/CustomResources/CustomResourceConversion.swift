import APIExtensions
import APIMachinery
import Foundation

/// `Webhook` conversion of a custom resource's objects between its versions: one ConversionReview
/// per batch, sent to the CRD's webhook; the answer is checked as upstream checks it (review kind,
/// uid, result, object count, each object's apiVersion and kind), and of the metadata only labels
/// and annotations are taken from the webhook.
final class WebhookConverter: Sendable {
    let group: String
    let kind: String
    let clientConfig: APIExtensionsV1.WebhookClientConfig
    let reviewVersions: [String]
    weak let server: ServerContext?
    let timeout: Swift.Duration

    init(crd: CRD, server: ServerContext, timeout: Swift.Duration = .seconds(30)) {
        group = crd.spec.group
        kind = crd.status.acceptedNames.kind
        clientConfig = crd.spec.conversion?.webhook?.clientConfig ?? APIExtensionsV1.WebhookClientConfig()
        reviewVersions = crd.spec.conversion?.webhook?.conversionReviewVersions ?? ["v1"]
        self.server = server
        self.timeout = timeout
    }

    func failure(_ apiVersion: String, _ message: String) -> APIError {
        APIError.internalError("conversion webhook for \(apiVersion), Kind=\(kind) failed: \(message)")
    }

    /// The objects in `apiVersion`; those already in it are left alone (no call when all are).
    func convert(_ objects: [CustomObject], to apiVersion: String) async throws -> [CustomObject] {
        let pending = objects.indices.filter { objects[$0].apiVersion != apiVersion }
        if pending.isEmpty { return objects }
        guard let server else { throw APIError.internalError("server is shutting down") }
        let from = objects[pending[0]].apiVersion
        guard reviewVersions.contains("v1") || reviewVersions.contains("v1beta1") else {
            throw failure(from, "no supported conversion review versions")
        }
        let reviewVersion = reviewVersions.first { $0 == "v1" || $0 == "v1beta1" }!
        let uid = UUID().uuidString.lowercased()
        var w = JSONWriter(capacity: 1024)
        w.beginObject()
        w.key("kind")
        w.string("ConversionReview")
        w.key("apiVersion")
        w.string("apiextensions.k8s.io/\(reviewVersion)")
        w.key("request")
        w.beginObject()
        w.key("uid")
        w.string(uid)
        w.key("desiredAPIVersion")
        w.string(apiVersion)
        w.key("objects")
        w.beginArray()
        for i in pending { objects[i].encodeJSON(&w) }
        w.endArray()
        w.endObject()
        w.endObject()
        let answer: [UInt8]
        do {
            let target = try WebhookClient.target(
                url: clientConfig.url, service: clientConfig.service, caBundle: clientConfig.caBundle, server: server)
            answer = try await WebhookClient.post(target, body: w.bytes, timeout: timeout)
        } catch let e as WebhookClient.Failure {
            throw failure(from, e.description)
        }
        guard let review = try? JSONValue.parse(answer) else {
            throw failure(from, "the response is not a ConversionReview: invalid JSON")
        }
        let gvk = "\(review["apiVersion"]?.stringValue ?? ""), Kind=\(review["kind"]?.stringValue ?? "")"
        if reviewVersion == "v1" && gvk != "apiextensions.k8s.io/v1, Kind=ConversionReview" {
            throw failure(
                from, "expected webhook response of apiextensions.k8s.io/v1, Kind=ConversionReview, got \(gvk)")
        }
        guard let response = review["response"], case .object = response else {
            throw failure(from, "no response provided")
        }
        let got = response["uid"]?.stringValue ?? ""
        if reviewVersion == "v1" && got != uid {
            throw failure(from, "expected response.uid=\(GoQuote.quote(uid)), got \(GoQuote.quote(got))")
        }
        let status = response["result"]?["status"]?.stringValue ?? ""
        if status != "Success" {
            let message = response["result"]?["message"]?.stringValue ?? ""
            throw failure(
                from, message.isEmpty ? "response.result.status was '\(status)', not 'Success'" : message)
        }
        guard case .array(let converted)? = response["convertedObjects"] else {
            throw failure(from, "returned 0 objects, expected \(pending.count)")
        }
        if converted.count != pending.count {
            throw APIError.internalError(
                "conversion webhook for \(from), Kind=\(kind) returned \(converted.count) objects, expected \(pending.count)"
            )
        }
        var out = objects
        for (n, i) in pending.enumerated() {
            guard var c = try? CustomObject(json: converted[n]) else {
                throw failure(from, "invalid converted object at index \(n)")
            }
            if c.apiVersion != apiVersion {
                throw APIError.internalError(
                    "conversion webhook for \(from), Kind=\(kind) returned invalid converted object at index \(n): invalid groupVersion (expected \(apiVersion), received \(c.apiVersion))"
                )
            }
            if c.kind != objects[i].kind {
                throw APIError.internalError(
                    "conversion webhook for \(from), Kind=\(kind) returned invalid converted object at index \(n): invalid kind (expected \(objects[i].kind), received \(c.kind))"
                )
            }
            // Only labels and annotations may change; everything else is the original's.
            var meta = objects[i].metadata
            meta.labels = c.metadata.labels
            meta.annotations = c.metadata.annotations
            c.metadata = meta
            out[i] = c
        }
        return out
    }
}
