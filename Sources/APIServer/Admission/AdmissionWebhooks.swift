import APIMachinery
import CEL
import Foundation
import KubernetesAPI

/// One admission webhook of a Validating- or MutatingWebhookConfiguration, ready to match and
/// call: `AdmissionReview` over HTTPS as upstream's dispatchers send it.
struct AdmissionWebhook: Sendable {
    var name: String
    var mutating: Bool
    var rules: [AdmissionRegistrationV1.RuleWithOperations]
    var failOpen: Bool
    var matchPolicy: String?
    var namespaceSelector: MetaV1.LabelSelector?
    var objectSelector: MetaV1.LabelSelector?
    var sideEffects: String
    var timeoutSeconds: Int
    var reviewVersions: [String]
    var matchConditions: [(name: String, program: Program?, error: String?)]
    var url: String?
    var service: WebhookClient.ServiceAddress?
    var caBundle: [UInt8]
    var reinvokeIfNeeded: Bool

    init(_ w: AdmissionRegistrationV1.ValidatingWebhook) {
        self.init(
            name: w.name, mutating: false, rules: w.rules, failurePolicy: w.failurePolicy, matchPolicy: w.matchPolicy,
            namespaceSelector: w.namespaceSelector, objectSelector: w.objectSelector, sideEffects: w.sideEffects,
            timeout: w.timeoutSeconds, versions: w.admissionReviewVersions, conditions: w.matchConditions,
            client: w.clientConfig, reinvocation: nil)
    }

    init(_ w: AdmissionRegistrationV1.MutatingWebhook) {
        self.init(
            name: w.name, mutating: true, rules: w.rules, failurePolicy: w.failurePolicy, matchPolicy: w.matchPolicy,
            namespaceSelector: w.namespaceSelector, objectSelector: w.objectSelector, sideEffects: w.sideEffects,
            timeout: w.timeoutSeconds, versions: w.admissionReviewVersions, conditions: w.matchConditions,
            client: w.clientConfig, reinvocation: w.reinvocationPolicy)
    }

    private init(
        name: String, mutating: Bool, rules: [AdmissionRegistrationV1.RuleWithOperations], failurePolicy: String?,
        matchPolicy: String?, namespaceSelector: MetaV1.LabelSelector?, objectSelector: MetaV1.LabelSelector?,
        sideEffects: String?, timeout: Int32?, versions: [String], conditions: [AdmissionRegistrationV1.MatchCondition],
        client: AdmissionRegistrationV1.WebhookClientConfig, reinvocation: String?
    ) {
        self.name = name
        self.mutating = mutating
        self.rules = rules
        self.failOpen = failurePolicy == "Ignore"
        self.matchPolicy = matchPolicy
        self.namespaceSelector = namespaceSelector
        self.objectSelector = objectSelector
        self.sideEffects = sideEffects ?? "Unknown"
        self.timeoutSeconds = Int(timeout ?? 10)
        self.reviewVersions = versions
        self.matchConditions = conditions.map { c in
            let (p, e) = AdmissionCEL.compile(c.expression)
            return (c.name, p, e)
        }
        self.url = client.url
        self.service = client.service.map { WebhookClient.ServiceAddress($0.namespace, $0.name, $0.path, $0.port) }
        self.caBundle = client.caBundle
        self.reinvokeIfNeeded = reinvocation == "IfNeeded"
    }

    /// What a call decided.
    struct Verdict {
        var allowed: Bool
        var patched: JSONValue?
        var status: JSONValue?
        var warnings: [String]
        var auditAnnotations: [(String, String)]
    }

    /// Whether the webhook sees the write, and under which version; throws when a match condition
    /// fails to evaluate and the webhook fails closed.
    func matchedVersion(_ a: AdmissionAttributes, _ cel: (AdmissionAttributes) -> [String: Value]) throws -> String? {
        guard AdmissionMatching.selectorsMatch(namespace: namespaceSelector, object: objectSelector, a),
            let version = AdmissionMatching.matchedVersion(rules, a, matchPolicy: matchPolicy)
        else { return nil }
        if matchConditions.isEmpty { return version }
        let vars = cel(a)
        var failure: String? = nil
        for c in matchConditions {
            guard let p = c.program else {
                failure = failure ?? "compilation failed for match condition \(c.name): \(c.error ?? "")"
                continue
            }
            do {
                let v = try p.evaluate(vars)
                // Any condition that is false leaves the webhook out, even when another errs.
                if v == .bool(false) { return nil }
                if v != .bool(true) { failure = failure ?? "match condition \(c.name) did not return a bool" }
            } catch {
                failure = failure ?? "match condition \(c.name) failed: \(error)"
            }
        }
        if let failure {
            if failOpen { return nil }
            throw APIError.internalError("failed calling webhook \"\(name)\": \(failure)")
        }
        return version
    }

    /// Calls the webhook for a write (already matched under `version`, the object in that
    /// version). Transport and protocol failures throw upstream's 500 unless the webhook fails
    /// open (then nil: as if it allowed).
    func call(
        _ a: AdmissionAttributes, version: String, object: JSONValue?, oldObject: JSONValue?, server: ServerContext
    )
        async throws -> Verdict?
    {
        if a.dryRun && sideEffects != "None" && sideEffects != "NoneOnDryRun" {
            throw APIError.badRequest("admission webhook \"\(name)\" does not support dry run")
        }
        let reviewVersion: String
        if reviewVersions.contains("v1") {
            reviewVersion = "admission.k8s.io/v1"
        } else if reviewVersions.contains("v1beta1") {
            reviewVersion = "admission.k8s.io/v1beta1"
        } else {
            return try failed("webhook does not accept v1 or v1beta1 AdmissionReview")
        }
        let uid = UUID().uuidString.lowercased()
        let review = JSONValue.object([
            ("kind", .string("AdmissionReview")), ("apiVersion", .string(reviewVersion)),
            ("request", a.requestJSON(uid: uid, matchedVersion: version, object: object, oldObject: oldObject)),
        ])
        let answer: [UInt8]
        do {
            var target = try WebhookClient.target(url: url, service: service, caBundle: caBundle, server: server)
            target.url += (target.url.contains("?") ? "&" : "?") + "timeout=\(timeoutSeconds)s"
            answer = try await WebhookClient.post(target, body: review.jsonBytes, timeout: .seconds(timeoutSeconds))
        } catch {
            return try failed("failed to call webhook: \(error)")
        }
        guard let parsed = try? JSONValue.parse(answer) else {
            return try failed("received invalid webhook response: the body is not JSON")
        }
        if parsed["apiVersion"]?.stringValue != reviewVersion || parsed["kind"]?.stringValue != "AdmissionReview" {
            return try failed(
                "received invalid webhook response: expected webhook response of \(reviewVersion), Kind=AdmissionReview, got \(parsed["apiVersion"]?.stringValue ?? ""), Kind=\(parsed["kind"]?.stringValue ?? "")"
            )
        }
        guard let response = parsed["response"], case .object = response else {
            return try failed("received invalid webhook response: webhook response was absent")
        }
        let gotUID = response["uid"]?.stringValue ?? ""
        if gotUID != uid {
            return try failed(
                "received invalid webhook response: expected response.uid=\"\(uid)\", got \"\(gotUID)\"")
        }
        var verdict = Verdict(
            allowed: response["allowed"] == .bool(true), patched: nil, status: response["status"], warnings: [],
            auditAnnotations: [])
        if case .array(let ws)? = response["warnings"] { verdict.warnings = ws.compactMap(\.stringValue) }
        if case .object(let pairs)? = response["auditAnnotations"] {
            verdict.auditAnnotations = pairs.compactMap { p in p.value.stringValue.map { ("\(name)/\(p.key)", $0) } }
        }
        if let patch = response["patch"]?.stringValue, !patch.isEmpty, verdict.allowed {
            guard mutating else {
                return try failed("received invalid webhook response: validating webhooks may not return a patch")
            }
            guard response["patchType"]?.stringValue == "JSONPatch" else {
                return try failed(
                    "received invalid webhook response: unsupported patch type \"\(response["patchType"]?.stringValue ?? "")\""
                )
            }
            guard let bytes = Data(base64Encoded: patch), let obj = object else {
                return try failed("received invalid webhook response: the patch is not base64")
            }
            do {
                let out = try Patching.apply(.json, patch: Array(bytes), to: obj.jsonBytes, schema: nil)
                verdict.patched = try JSONValue.parse(out)
            } catch {
                throw APIError.internalError("JSON Patch: \(error)")
            }
        }
        return verdict
    }

    /// A call that went wrong: upstream's `failed calling webhook` 500, or nothing when the
    /// webhook fails open.
    private func failed(_ reason: String) throws -> Verdict? {
        if failOpen { return nil }
        throw APIError.internalError("failed calling webhook \"\(name)\": \(reason)")
    }

    /// A refusal as upstream reports it: the webhook's status, at least a 400, its message
    /// prefixed with who refused.
    func denial(_ status: JSONValue?) -> APIError {
        var code = 0
        if case .number(let n)? = status?["code"] { code = Int(n) ?? Int(Double(n) ?? 0) }
        if code < 400 { code = 400 }
        let message = status?["message"]?.stringValue ?? ""
        let reason = status?["reason"]?.stringValue ?? ""
        let denied = "admission webhook \"\(name)\" denied the request"
        let text =
            !message.isEmpty
            ? "\(denied): \(message)" : !reason.isEmpty ? "\(denied): \(reason)" : "\(denied) without explanation"
        var details: MetaV1.StatusDetails? = nil
        if let d = status?["details"], case .object = d {
            details = try? ObjectDecoding.decodeJSON(MetaV1.StatusDetails.self, d.jsonBytes, track: false).object
        }
        return APIError(code: code, reason: reason, message: text, details: details)
    }
}
