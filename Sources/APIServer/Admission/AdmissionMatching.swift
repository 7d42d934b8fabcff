import APIMachinery
import KubernetesAPI

/// Which writes a webhook or policy sees: upstream's rule, scope, selector and match-policy
/// semantics.
enum AdmissionMatching {
    typealias Rule = AdmissionRegistrationV1.RuleWithOperations

    static func contains(_ list: [String], _ value: String) -> Bool { list.contains("*") || list.contains(value) }

    /// Whether one rule covers the operation on group/version/resource[/subresource].
    static func matches(_ r: Rule, _ a: AdmissionAttributes, version: String) -> Bool {
        guard contains(r.operations, a.operation), contains(r.rule.apiGroups, a.group),
            contains(r.rule.apiVersions, version)
        else { return false }
        switch r.rule.scope ?? "*" {
        case "Cluster": if !a.namespace.isEmpty { return false }
        case "Namespaced": if a.namespace.isEmpty || (a.group.isEmpty && a.resource == "namespaces") { return false }
        default: break
        }
        // `res/sub`, with `*` for any resource or any subresource; a plain `res` is the main
        // resource only.
        for entry in r.rule.resources {
            let parts = entry.split(separator: "/", maxSplits: 1).map(String.init)
            let res = parts.first ?? ""
            let sub = parts.count > 1 ? parts[1] : ""
            if (res == "*" || res == a.resource) && (sub == "*" || sub == a.subresource) { return true }
        }
        return false
    }

    /// The version under which `rules` cover the request: its own, or with `Equivalent` match
    /// policy another served version of the same resource; nil when none does.
    static func matchedVersion(_ rules: [Rule], _ a: AdmissionAttributes, matchPolicy: String?) -> String? {
        if rules.contains(where: { matches($0, a, version: a.version) }) { return a.version }
        guard (matchPolicy ?? "Equivalent") == "Equivalent" else { return nil }
        for (v, _) in a.versions where v != a.version {
            if rules.contains(where: { matches($0, a, version: v) }) { return v }
        }
        return nil
    }

    /// Namespace and object selectors: a namespaced request matches on its namespace's labels
    /// (a Namespace on its own), an object selector on the new or the old object's labels.
    static func selectorsMatch(
        namespace: MetaV1.LabelSelector?, object: MetaV1.LabelSelector?, _ a: AdmissionAttributes
    ) -> Bool {
        if let ns = namespace, !ns.isEmpty, let labels = a.namespaceLabels, !ns.matches(labels) { return false }
        if let sel = object, !sel.isEmpty {
            let new = a.object.map(AdmissionAttributes.labels)
            let old = a.oldObject.map(AdmissionAttributes.labels)
            if !(new.map(sel.matches) ?? false) && !(old.map(sel.matches) ?? false) { return false }
        }
        return true
    }

    /// A policy's or binding's MatchResources: the version the request matches under, or nil.
    static func matchedVersion(_ m: AdmissionRegistrationV1.MatchResources, _ a: AdmissionAttributes) -> String? {
        guard selectorsMatch(namespace: m.namespaceSelector, object: m.objectSelector, a) else { return nil }
        func named(_ rules: [AdmissionRegistrationV1.NamedRuleWithOperations]) -> [Rule] {
            rules.filter { $0.resourceNames.isEmpty || $0.resourceNames.contains(a.name) }.map(\.ruleWithOperations)
        }
        if matchedVersion(named(m.excludeResourceRules), a, matchPolicy: m.matchPolicy) != nil { return nil }
        return matchedVersion(named(m.resourceRules), a, matchPolicy: m.matchPolicy)
    }
}
