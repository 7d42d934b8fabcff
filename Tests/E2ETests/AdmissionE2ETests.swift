import Foundation
import Testing

/// Dynamic admission end to end: webhooks the test serves over TLS, ValidatingAdmissionPolicy
/// with bindings, parameters and each validation action, MutatingAdmissionPolicy, driven with
/// kubectl and the Python client.
@Suite("Admission webhooks and policies end to end", .serialized)
struct AdmissionE2ETests {
    let c: TestCluster

    init() throws { c = try ExtensionCluster.get() }

    @Test(
        "admission webhooks over TLS: a JSON patch lands, refusals carry the webhook's message and code, match conditions and namespace selectors decide, failurePolicy on a dead webhook"
    )
    func webhooks() throws {
        let r = try c.e2ePython("admission")
        #expect(r.status == 0, "\(r.out)\n\(r.err)")
    }

    static func policy(_ name: String, _ validations: String, paramKind: String = "", resources: String = "deployments")
        -> String
    {
        """
        apiVersion: admissionregistration.k8s.io/v1
        kind: ValidatingAdmissionPolicy
        metadata:
          name: \(name)
        spec:
          failurePolicy: Fail
        \(paramKind)
          matchConstraints:
            resourceRules:
            - apiGroups: ["apps"]
              apiVersions: ["v1"]
              operations: ["CREATE", "UPDATE"]
              resources: ["\(resources)"]
          validations:
        \(validations)
        """
    }

    static func binding(_ name: String, policy: String, actions: String, label: String, paramRef: String = "") -> String
    {
        """
        apiVersion: admissionregistration.k8s.io/v1
        kind: ValidatingAdmissionPolicyBinding
        metadata:
          name: \(name)
        spec:
          policyName: \(policy)
          validationActions: \(actions)
        \(paramRef)
          matchResources:
            namespaceSelector:
              matchLabels:
                policy-test: \(label)
        """
    }

    /// Creates a namespace labelled for one test's bindings.
    func labelledNamespace(_ label: String) throws -> String {
        let ns = try c.namespace("vap")
        try c.kubectl(["label", "namespace", ns, "policy-test=\(label)"])
        return ns
    }

    /// Retries a kubectl call until `done` holds: a new policy takes effect once the server has
    /// it in its cache, as upstream's policies do after their informers see them.
    @discardableResult
    func eventually(_ args: [String], stdin: String? = nil, _ done: (TestCluster.Result) -> Bool) throws
        -> TestCluster.Result
    {
        var last = try c.kubectl(args, stdin: stdin, check: false)
        for _ in 0..<50 where !done(last) {
            Thread.sleep(forTimeInterval: 0.1)
            last = try c.kubectl(args, stdin: stdin, check: false)
        }
        return last
    }

    @Test(
        "ValidatingAdmissionPolicy: Deny refuses with upstream's message and code, Warn warns, messageExpression and reason, only namespaces the binding selects"
    )
    func validatingPolicy() throws {
        let id = UUID().uuidString.prefix(6).lowercased()
        let policyName = "replicas-\(id).example.com"
        try c.kubectl(
            ["apply", "-f", "-"],
            stdin: Self.policy(
                policyName,
                """
                    - expression: "object.spec.replicas <= 5"
                    - expression: "!has(object.metadata.labels) || !('forbidden' in object.metadata.labels)"
                      messageExpression: "'label forbidden is set on ' + object.metadata.name"
                      reason: Forbidden
                    - expression: "authorizer.group('apps').resource('deployments').namespace(object.metadata.namespace).check('create').allowed() && authorizer.requestResource.check('create').allowed()"
                      message: the authorizer refused
                """))
        try c.kubectl(
            ["apply", "-f", "-"],
            stdin: Self.binding("deny-\(id).example.com", policy: policyName, actions: "[Deny]", label: "deny-\(id)"))
        try c.kubectl(
            ["apply", "-f", "-"],
            stdin: Self.binding("warn-\(id).example.com", policy: policyName, actions: "[Warn]", label: "warn-\(id)"))
        let denyNS = try labelledNamespace("deny-\(id)")
        let warnNS = try labelledNamespace("warn-\(id)")
        let other = try c.namespace("vap")
        let create = ["create", "deployment", "web", "--image=nginx", "--replicas=7"]
        let denied = try eventually(["-n", denyNS] + create) { $0.status != 0 }
        #expect(
            denied.err.contains(
                "deployments.apps \"web\" is forbidden: ValidatingAdmissionPolicy '\(policyName)' with binding 'deny-\(id).example.com' denied request: failed expression: object.spec.replicas <= 5"
            ), "\(denied.err)")
        // The raw answer: 422 Invalid (no reason given), the message as the one cause.
        let raw = try c.kubectl(
            ["-n", denyNS, "create", "deployment", "web", "--image=nginx", "--replicas=7", "-v=9"], check: false)
        #expect(
            raw.err.contains("\"reason\":\"Invalid\"") && raw.err.contains("\"code\":422"), "\(raw.err.suffix(600))")
        #expect(try c.kubectl(["-n", denyNS, "get", "deployment", "web"], check: false).status != 0)
        // messageExpression and reason Forbidden (403).
        let labelled = try c.kubectl(
            ["-n", denyNS, "apply", "-f", "-"],
            stdin: """
                apiVersion: apps/v1
                kind: Deployment
                metadata: {name: labelled, labels: {forbidden: "yes", app: l}}
                spec:
                  replicas: 1
                  selector: {matchLabels: {app: l}}
                  template:
                    metadata: {labels: {app: l}}
                    spec: {containers: [{name: c, image: nginx}]}
                """, check: false)
        #expect(
            labelled.err.contains("denied request: label forbidden is set on labelled"), "\(labelled.err)")
        #expect(labelled.err.contains("Error from server (Forbidden)"), "\(labelled.err)")
        // Within the limit: admitted.
        try c.kubectl(["-n", denyNS, "create", "deployment", "small", "--image=nginx", "--replicas=2"])
        // Warn: admitted with the warning kubectl prints.
        let warned = try eventually(["-n", warnNS] + create) { $0.status == 0 }
        #expect(
            warned.err.contains(
                "Warning: Validation failed for ValidatingAdmissionPolicy '\(policyName)' with binding 'warn-\(id).example.com': failed expression: object.spec.replicas <= 5"
            ), "\(warned.err)")
        // A namespace no binding selects: not checked.
        try c.kubectl(["-n", other] + create)
        // Updates are checked too.
        // kubectl scale writes the scale subresource, which this policy (on `deployments`) does not match.
        try c.kubectl(["-n", denyNS, "scale", "deployment", "small", "--replicas=9"])
        let patched = try c.kubectl(
            ["-n", denyNS, "patch", "deployment", "small", "-p", "{\"spec\":{\"replicas\":8}}"], check: false)
        #expect(
            patched.status != 0 && patched.err.contains("failed expression: object.spec.replicas <= 5"),
            "\(patched.err)")
    }

    @Test("ValidatingAdmissionPolicy parameters: a ConfigMap by name sets the limit; a missing one denies or allows")
    func policyParameters() throws {
        let id = UUID().uuidString.prefix(6).lowercased()
        let policyName = "limit-\(id).example.com"
        try c.kubectl(
            ["apply", "-f", "-"],
            stdin: Self.policy(
                policyName,
                """
                    - expression: "object.spec.replicas <= int(params.data.maxReplicas)"
                      messageExpression: "'replicas must be at most ' + params.data.maxReplicas"
                """,
                paramKind: "  paramKind: {apiVersion: v1, kind: ConfigMap}"))
        let ns = try labelledNamespace("param-\(id)")
        try c.kubectl(["-n", ns, "create", "configmap", "limits", "--from-literal=maxReplicas=3"])
        try c.kubectl(
            ["apply", "-f", "-"],
            stdin: Self.binding(
                "param-\(id).example.com", policy: policyName, actions: "[Deny]", label: "param-\(id)",
                paramRef: "  paramRef: {name: limits, parameterNotFoundAction: Deny}"))
        let denied = try eventually(["-n", ns, "create", "deployment", "web", "--image=nginx", "--replicas=4"]) {
            $0.status != 0
        }
        #expect(denied.err.contains("denied request: replicas must be at most 3"), "\(denied.err)")
        try c.kubectl(["-n", ns, "create", "deployment", "ok", "--image=nginx", "--replicas=3"])
        // Without the parameter object: Deny refuses everything the binding covers.
        try c.kubectl(["-n", ns, "delete", "configmap", "limits"])
        let missing = try eventually(["-n", ns, "create", "deployment", "other", "--image=nginx", "--replicas=1"]) {
            $0.status != 0
        }
        #expect(
            missing.err.contains("no params found for policy binding with `Deny` parameterNotFoundAction"),
            "\(missing.err)")
    }

    @Test("admission policies that do not compile or lack what they need are refused with upstream's messages")
    func badPolicies() throws {
        let bad = try c.kubectl(
            ["apply", "-f", "-"],
            stdin: Self.policy("bad.example.com", "    - expression: \"object.spec.replicas <=\""), check: false)
        #expect(
            bad.err.contains(
                "spec.validations[0].expression: Invalid value: \"object.spec.replicas <=\": compilation failed: ERROR: <input>:1:"
            ), "\(bad.err)")
        let binding = try c.kubectl(
            ["apply", "-f", "-"],
            stdin: """
                apiVersion: admissionregistration.k8s.io/v1
                kind: ValidatingAdmissionPolicyBinding
                metadata: {name: bad.example.com}
                spec:
                  policyName: x
                  validationActions: [Deny, Warn, Nope]
                """, check: false)
        #expect(
            binding.err.contains(
                "spec.validationActions[2]: Unsupported value: \"Nope\": supported values: \"Audit\", \"Deny\", \"Warn\""
            ),
            "\(binding.err)")
    }
}

/// API aggregation end to end: the test's own metrics.k8s.io extension server behind an
/// APIService, reached through the API server with the front proxy's certificate.
@Suite("API aggregation end to end", .serialized)
struct AggregationE2ETests {
    let c: TestCluster

    init() throws { c = try ExtensionCluster.get() }

    @Test(
        "an extension server behind an APIService: Available with upstream's reasons, discovery merged, requests proxied with X-Remote-User/Group, kubectl top, 503 when it goes away"
    )
    func metricsServer() throws {
        let r = try c.e2ePython("aggregation")
        #expect(r.status == 0, "\(r.out)\n\(r.err)")
    }
}

extension AdmissionE2ETests {
    @Test(
        "ValidatingAdmissionPolicy with the Audit action and audit annotations: the write is admitted and its audit event carries the failure and the annotation"
    )
    func auditedPolicy() throws {
        let id = UUID().uuidString.prefix(6).lowercased()
        let policyName = "audited-\(id).example.com"
        try c.kubectl(
            ["apply", "-f", "-"],
            stdin: """
                apiVersion: admissionregistration.k8s.io/v1
                kind: ValidatingAdmissionPolicy
                metadata:
                  name: \(policyName)
                spec:
                  matchConstraints:
                    resourceRules:
                    - apiGroups: ["apps"]
                      apiVersions: ["v1"]
                      operations: ["CREATE"]
                      resources: ["deployments"]
                  validations:
                  - expression: "object.spec.replicas <= 5"
                    message: too many replicas
                  auditAnnotations:
                  - key: replicas
                    valueExpression: "'replicas: ' + string(object.spec.replicas)"
                """)
        try c.kubectl(
            ["apply", "-f", "-"],
            stdin: Self.binding("audit-\(id).example.com", policy: policyName, actions: "[Audit]", label: "audit-\(id)")
        )
        let ns = try labelledNamespace("audit-\(id)")
        // Admitted (Audit does not refuse); retried until the policy is in effect.
        var event: [String: Any]? = nil
        for attempt in 0..<50 where event == nil {
            let name = "web\(attempt)"
            try c.kubectl(["-n", ns, "create", "deployment", name, "--image=nginx", "--replicas=7"])
            let lines = (try? String(contentsOfFile: ExtensionCluster.auditLog, encoding: .utf8)) ?? ""
            for line in lines.split(separator: "\n") {
                guard let e = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                    dig(e, "objectRef", "name") as? String == name, dig(e, "objectRef", "namespace") as? String == ns,
                    e["verb"] as? String == "create",
                    (e["annotations"] as? [String: String])?["\(policyName)/replicas"] != nil
                else { continue }
                event = e
            }
            if event == nil { Thread.sleep(forTimeInterval: 0.1) }
        }
        let annotations = (event?["annotations"] as? [String: String]) ?? [:]
        #expect(annotations["\(policyName)/replicas"] == "replicas: 7", "\(annotations)")
        let failure = annotations["validation.policy.admission.k8s.io/validation_failure"].flatMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [[String: Any]]
        }
        #expect(failure?.first?["message"] as? String == "too many replicas", "\(annotations)")
        #expect(failure?.first?["policy"] as? String == policyName)
        #expect(failure?.first?["binding"] as? String == "audit-\(id).example.com")
        #expect(failure?.first?["validationActions"] as? [String] == ["Audit"])
        #expect(event?["level"] as? String == "Metadata" && event?["stage"] as? String == "ResponseComplete")
        #expect(dig(event, "responseStatus", "code") as? Int == 201)
        #expect(dig(event, "user", "username") as? String == "kubernetes-admin")
    }
}

extension AdmissionE2ETests {
    @Test(
        "MutatingAdmissionPolicy: an apply configuration and a JSON patch built in CEL change the object before it is stored, only where the binding selects"
    )
    func mutatingPolicy() throws {
        let id = UUID().uuidString.prefix(6).lowercased()
        try c.kubectl(
            ["apply", "-f", "-"],
            stdin: """
                apiVersion: admissionregistration.k8s.io/v1
                kind: MutatingAdmissionPolicy
                metadata:
                  name: label-\(id).example.com
                spec:
                  matchConstraints:
                    resourceRules:
                    - apiGroups: [""]
                      apiVersions: ["v1"]
                      operations: ["CREATE"]
                      resources: ["configmaps"]
                  failurePolicy: Fail
                  reinvocationPolicy: Never
                  mutations:
                  - patchType: ApplyConfiguration
                    applyConfiguration:
                      expression: >
                        Object{metadata: Object.metadata{labels: {"mutated-by": "policy"}}}
                  - patchType: JSONPatch
                    jsonPatch:
                      expression: >
                        [JSONPatch{op: "add", path: "/metadata/annotations", value: {"size": string(size(object.data))}}]
                ---
                apiVersion: admissionregistration.k8s.io/v1
                kind: MutatingAdmissionPolicyBinding
                metadata:
                  name: label-\(id).example.com
                spec:
                  policyName: label-\(id).example.com
                  matchResources:
                    namespaceSelector:
                      matchLabels:
                        policy-test: mutate-\(id)
                """)
        let ns = try labelledNamespace("mutate-\(id)")
        let other = try c.namespace("vap")
        var labels: [String: Any] = [:]
        for attempt in 0..<50 where labels["mutated-by"] == nil {
            let name = "cm\(attempt)"
            try c.kubectl(["-n", ns, "create", "configmap", name, "--from-literal=a=1", "--from-literal=b=2"])
            let o = try c.json(["-n", ns, "get", "configmap", name])
            labels = (dig(o, "metadata", "labels") as? [String: Any]) ?? [:]
            if labels["mutated-by"] != nil {
                #expect(dig(o, "metadata", "annotations", "size") as? String == "2")
                #expect(dig(o, "data", "a") as? String == "1")
            } else {
                Thread.sleep(forTimeInterval: 0.1)
            }
        }
        #expect(labels["mutated-by"] as? String == "policy")
        try c.kubectl(["-n", other, "create", "configmap", "plain"])
        let plain = try c.json(["-n", other, "get", "configmap", "plain"])
        #expect(dig(plain, "metadata", "labels") == nil)
        // A mutation expression that does not compile is refused.
        let bad = try c.kubectl(
            ["apply", "-f", "-"],
            stdin: """
                apiVersion: admissionregistration.k8s.io/v1
                kind: MutatingAdmissionPolicy
                metadata: {name: bad-\(id).example.com}
                spec:
                  matchConstraints:
                    resourceRules:
                    - {apiGroups: [""], apiVersions: ["v1"], operations: ["CREATE"], resources: ["configmaps"]}
                  mutations:
                  - patchType: ApplyConfiguration
                    applyConfiguration: {expression: "Object{"}
                """, check: false)
        #expect(
            bad.err.contains(
                "spec.mutations[0].applyConfiguration.expression: Invalid value: \"Object{\": compilation failed"),
            "\(bad.err)")
    }
}

extension AdmissionE2ETests {
    @Test("a policy on deployments/scale sees autoscaling/v1 Scale objects and refuses kubectl scale beyond its limit")
    func scaleSubresourcePolicy() throws {
        let id = UUID().uuidString.prefix(6).lowercased()
        let policyName = "scale-\(id).example.com"
        try c.kubectl(
            ["apply", "-f", "-"],
            stdin: Self.policy(
                policyName,
                """
                    - expression: "object.kind == 'Scale' && object.apiVersion == 'autoscaling/v1' && request.kind.group == 'autoscaling' && request.resource.resource == 'deployments' && request.subResource == 'scale'"
                      message: not a Scale
                    - expression: "object.spec.replicas <= 4 && oldObject.kind == 'Scale'"
                      message: at most 4 replicas by scaling
                """, resources: "deployments/scale"))
        try c.kubectl(
            ["apply", "-f", "-"],
            stdin: Self.binding("scale-\(id).example.com", policy: policyName, actions: "[Deny]", label: "scale-\(id)"))
        let ns = try labelledNamespace("scale-\(id)")
        try c.kubectl(["-n", ns, "create", "deployment", "web", "--image=nginx", "--replicas=1"])
        let denied = try eventually(["-n", ns, "scale", "deployment", "web", "--replicas=9"]) { $0.status != 0 }
        #expect(
            denied.err.contains(
                // kubectl prints a 422's cause after the resource: the policy's denial, whole.
                "ValidatingAdmissionPolicy '\(policyName)' with binding 'scale-\(id).example.com' denied request: at most 4 replicas by scaling"
            ), "\(denied.err)")
        try c.kubectl(["-n", ns, "scale", "deployment", "web", "--replicas=3"])
        #expect(try c.kubectl(["-n", ns, "get", "deployment", "web", "-o", "jsonpath={.spec.replicas}"]).out == "3")
        // The main resource is not matched by a rule on the subresource.
        try c.kubectl(["-n", ns, "patch", "deployment", "web", "-p", "{\"spec\":{\"replicas\":8}}"])
    }
}
