import APIMachinery
import CEL
import Foundation
import KubernetesAPI
import Synchronization

/// The dynamic admission chain, in upstream's plugin order: MutatingAdmissionPolicy,
/// MutatingAdmissionWebhook (mutating, before validation), then ValidatingAdmissionPolicy and
/// ValidatingAdmissionWebhook (after validation; ResourceQuota follows). The configuration is
/// compiled from the server's caches and recompiled when any of them changes.
final class AdmissionControl: Sendable {
    typealias V1 = AdmissionRegistrationV1

    /// What the configuration objects say, compiled.
    struct Configuration: Sendable {
        var mutatingPolicies: [(AdmissionPolicy, [AdmissionPolicy.Binding])] = []
        var mutatingWebhooks: [AdmissionWebhook] = []
        var validatingPolicies: [(AdmissionPolicy, [AdmissionPolicy.Binding])] = []
        var validatingWebhooks: [AdmissionWebhook] = []

        var mutates: Bool { !mutatingPolicies.isEmpty || !mutatingWebhooks.isEmpty }
        var validates: Bool { !validatingPolicies.isEmpty || !validatingWebhooks.isEmpty }
    }

    private weak let server: ServerContext?
    private let compiled = Mutex<(stamp: Int, config: Configuration)>((-1, Configuration()))

    init(server: ServerContext) { self.server = server }

    static let group = "admissionregistration.k8s.io"

    private func store<K: StoredKind>(_ resource: String, _: K.Type) -> ResourceStore<K>? {
        server?.stores[GroupResource(group: Self.group, resource: resource)] as? ResourceStore<K>
    }

    /// The configuration as of now: recompiled when any of the six caches changed.
    var configuration: Configuration {
        let vwc = store("validatingwebhookconfigurations", V1.ValidatingWebhookConfiguration.self)
        let mwc = store("mutatingwebhookconfigurations", V1.MutatingWebhookConfiguration.self)
        let vap = store("validatingadmissionpolicies", V1.ValidatingAdmissionPolicy.self)
        let vapb = store("validatingadmissionpolicybindings", V1.ValidatingAdmissionPolicyBinding.self)
        let map = store("mutatingadmissionpolicies", V1.MutatingAdmissionPolicy.self)
        let mapb = store("mutatingadmissionpolicybindings", V1.MutatingAdmissionPolicyBinding.self)
        func changes<K: StoredKind>(_ s: ResourceStore<K>?) -> Int { s?.cache.changes.load(ordering: .acquiring) ?? 0 }
        var stamp = 0
        for c in [changes(vwc), changes(mwc), changes(vap), changes(vapb), changes(map), changes(mapb)] {
            stamp = stamp &* 31 &+ c
        }
        if let c = compiled.withLock({ $0.stamp == stamp ? $0.config : nil }) { return c }
        func all<K: StoredKind>(_ s: ResourceStore<K>?) -> [K] {
            (s?.cache.snapshot(.everything).items.map(\.object) ?? []).sorted { $0.metadata.name < $1.metadata.name }
        }
        var config = Configuration()
        config.validatingWebhooks = all(vwc).flatMap { $0.webhooks.map(AdmissionWebhook.init) }
        config.mutatingWebhooks = all(mwc).flatMap { $0.webhooks.map(AdmissionWebhook.init) }
        let vBindings = all(vapb).map {
            AdmissionPolicy.Binding(
                name: $0.metadata.name, policyName: $0.spec.policyName, paramRef: $0.spec.paramRef,
                matchResources: $0.spec.matchResources, actions: $0.spec.validationActions)
        }
        config.validatingPolicies = all(vap).compactMap { p in
            let bs = vBindings.filter { $0.policyName == p.metadata.name }
            return bs.isEmpty ? nil : (AdmissionPolicy(p), bs)
        }
        let mBindings = all(mapb).map {
            AdmissionPolicy.Binding(
                name: $0.metadata.name, policyName: $0.spec.policyName, paramRef: $0.spec.paramRef,
                matchResources: $0.spec.matchResources, actions: [])
        }
        config.mutatingPolicies = all(map).compactMap { p in
            let bs = mBindings.filter { $0.policyName == p.metadata.name }
            return bs.isEmpty ? nil : (AdmissionPolicy(p), bs)
        }
        compiled.withLock { $0 = (stamp, config) }
        return config
    }

    /// The CEL variables of a webhook's match conditions.
    static func conditionVariables(_ a: AdmissionAttributes) -> [String: Value] {
        [
            "object": AdmissionCEL.value(a.object), "oldObject": AdmissionCEL.value(a.oldObject),
            "request": AdmissionCEL.value(a.requestJSON(uid: "", object: nil, oldObject: nil)),
        ].merging(AdmissionCEL.authorizerVariables(a)) { x, _ in x }
    }

    /// Mutating admission: policies, then webhooks in name order (each seeing the ones before);
    /// webhooks that asked to be re-invoked run once more when a later one changed the object.
    /// Returns the object (in the request's version) when anything changed it.
    func mutate(_ attributes: AdmissionAttributes, _ config: Configuration, scope: RequestScope?) async throws
        -> JSONValue?
    {
        guard let server else { return nil }
        var a = attributes
        let original = a.object
        for (policy, bindings) in config.mutatingPolicies {
            for b in bindings {
                guard case .evaluated(let failures, let mutated) = try await policy.evaluate(b, a, scope: scope) else {
                    continue
                }
                if let f = failures.first {
                    throw AdmissionPolicy.denial(
                        f, policy: policy.name, binding: b.name, a, kind: "MutatingAdmissionPolicy")
                }
                if let mutated { a.object = mutated }
            }
        }
        var reinvoke: [AdmissionWebhook] = []
        var lastChangeBy = -1
        for round in 0..<2 {
            let hooks = round == 0 ? config.mutatingWebhooks : reinvoke
            if round == 1 && (reinvoke.isEmpty || lastChangeBy < 0) { break }
            for (i, hook) in hooks.enumerated() {
                guard let (verdict, version, object) = try await invoke(hook, a, server: server, scope: scope) else {
                    continue
                }
                if round == 0 && hook.reinvokeIfNeeded { reinvoke.append(hook) }
                if var patched = verdict.patched, patched != object {
                    if version != a.version { patched = try await a.convert(patched, version, a.version) }
                    a.object = patched
                    if round == 0 { lastChangeBy = i }
                }
            }
        }
        return a.object == original ? nil : a.object
    }

    /// Validating admission: every matching policy binding (Deny, Warn, Audit), then every
    /// matching webhook; the first refusal is the answer.
    func validate(_ a: AdmissionAttributes, _ config: Configuration, scope: RequestScope?) async throws {
        guard let server else { return }
        var audit: [JSONValue] = []
        defer {
            if !audit.isEmpty {
                scope?.annotate(
                    "validation.policy.admission.k8s.io/validation_failure",
                    String(decoding: JSONValue.array(audit).jsonBytes, as: UTF8.self))
            }
        }
        for (policy, bindings) in config.validatingPolicies {
            for b in bindings {
                guard case .evaluated(let failures, _) = try await policy.evaluate(b, a, scope: scope) else { continue }
                for f in failures {
                    if b.actions.contains("Warn") {
                        scope?.warn(
                            "Validation failed for ValidatingAdmissionPolicy '\(policy.name)' with binding '\(b.name)': \(f.message)"
                        )
                    }
                    if b.actions.contains("Audit") {
                        audit.append(
                            .object([
                                ("message", .string(f.message)), ("policy", .string(policy.name)),
                                ("binding", .string(b.name)), ("expressionIndex", .number(String(f.expressionIndex))),
                                ("validationActions", .array(b.actions.map { .string($0) })),
                            ]))
                    }
                }
                if let f = failures.first, b.actions.contains("Deny") {
                    throw AdmissionPolicy.denial(
                        f, policy: policy.name, binding: b.name, a, kind: "ValidatingAdmissionPolicy")
                }
            }
        }
        for hook in config.validatingWebhooks {
            _ = try await invoke(hook, a, server: server, scope: scope)
        }
    }

    /// Calls a webhook when it matches the write, with the objects in the version it matched
    /// under; its warnings and annotations go to the request, a refusal is thrown. Returns the
    /// verdict, that version and the object sent (nil when the webhook was not called).
    func invoke(_ hook: AdmissionWebhook, _ a: AdmissionAttributes, server: ServerContext, scope: RequestScope?)
        async throws -> (AdmissionWebhook.Verdict, String, JSONValue?)?
    {
        guard let version = try hook.matchedVersion(a, Self.conditionVariables) else { return nil }
        let (object, oldObject) = try await a.objects(in: version)
        guard
            let verdict = try await hook.call(a, version: version, object: object, oldObject: oldObject, server: server)
        else { return nil }
        for w in verdict.warnings { scope?.warn(w) }
        for (k, v) in verdict.auditAnnotations { scope?.annotate(k, v) }
        if !verdict.allowed { throw hook.denial(verdict.status) }
        return (verdict, version, object)
    }
}
