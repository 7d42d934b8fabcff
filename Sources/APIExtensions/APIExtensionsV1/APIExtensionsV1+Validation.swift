import APIMachinery

// Validation of CustomResourceDefinitions, after upstream's apiextensions validation (the rules
// that decide whether a definition can be served: names, group, scope, versions, schemas).

extension APIExtensionsV1.CustomResourceDefinition: Validated {
    public func validate() -> ErrorList {
        var errs = MetaValidation.validateObjectMeta(metadata, namespaced: false, nameRule: .dns1123Subdomain)
        let spec = FieldPath("spec")
        let expected = "\(self.spec.names.plural).\(self.spec.group)"
        if !metadata.name.isEmpty && metadata.name != expected {
            errs.append(
                .invalid(FieldPath("metadata", "name"), metadata.name, "must be spec.names.plural+\".\"+spec.group"))
        }
        if self.spec.group.isEmpty {
            errs.append(.required(spec.child("group")))
        } else {
            for m in NameValidation.isDNS1123Subdomain(self.spec.group) {
                errs.append(.invalid(spec.child("group"), self.spec.group, m))
            }
            if !self.spec.group.contains(".") {
                errs.append(.invalid(spec.child("group"), self.spec.group, "should be a domain with at least one dot"))
            }
        }
        if !["Cluster", "Namespaced"].contains(self.spec.scope) {
            errs.append(.notSupported(spec.child("scope"), .string(self.spec.scope), ["Cluster", "Namespaced"]))
        }
        errs += validateNames(self.spec.names, spec.child("names"))
        errs += validateVersions(self.spec.versions, spec.child("versions"))
        if let conversion = self.spec.conversion { errs += validateConversion(conversion, spec.child("conversion")) }
        return errs
    }

    func validateConversion(_ c: APIExtensionsV1.CustomResourceConversion, _ path: FieldPath) -> ErrorList {
        var errs: ErrorList = []
        switch c.strategy {
        case "None":
            if c.webhook != nil {
                errs.append(.forbidden(path.child("webhook"), "should not be set when strategy is not set to Webhook"))
            }
        case "Webhook":
            guard let webhook = c.webhook else {
                errs.append(.required(path.child("webhook"), "required when strategy is set to Webhook"))
                return errs
            }
            let cc = path.child("webhook", "clientConfig")
            if let config = webhook.clientConfig {
                if (config.url == nil) == (config.service == nil) {
                    errs.append(.required(cc, "exactly one of url or service is required"))
                }
                if let url = config.url, !url.hasPrefix("https://") {
                    errs.append(.invalid(cc.child("url"), url, "'https' is the only allowed URL scheme"))
                }
            } else {
                errs.append(.required(cc, "required when strategy is set to Webhook"))
            }
            let versions = webhook.conversionReviewVersions
            if !versions.contains("v1") && !versions.contains("v1beta1") {
                errs.append(
                    .invalid(
                        path.child("webhook", "conversionReviewVersions"), .json(versionsList(versions)),
                        "must include at least one of v1, v1beta1"))
            }
        default:
            errs.append(.notSupported(path.child("strategy"), .string(c.strategy), ["None", "Webhook"]))
        }
        return errs
    }

    func versionsList(_ v: [String]) -> String {
        "[" + v.map { GoQuote.quote($0) }.joined(separator: ",") + "]"
    }

    public func validateUpdate(from old: APIExtensionsV1.CustomResourceDefinition) -> ErrorList {
        var errs = validate()
        errs += MetaValidation.validateObjectMetaUpdate(metadata, old.metadata)
        if spec.group != old.spec.group {
            errs.append(.invalid(FieldPath("spec", "group"), spec.group, "field is immutable"))
        }
        return errs
    }

    func validateNames(_ n: APIExtensionsV1.CustomResourceDefinitionNames, _ path: FieldPath) -> ErrorList {
        var errs: ErrorList = []
        for (value, field) in [(n.plural, "plural"), (n.singular, "singular")] where !value.isEmpty {
            for m in NameValidation.isDNS1035Label(value) { errs.append(.invalid(path.child(field), value, m)) }
        }
        if n.plural.isEmpty { errs.append(.required(path.child("plural"))) }
        if n.kind.isEmpty { errs.append(.required(path.child("kind"))) }
        if n.listKind.isEmpty { errs.append(.required(path.child("listKind"))) }
        if !n.kind.isEmpty && n.kind == n.listKind {
            errs.append(.invalid(path.child("listKind"), n.listKind, "kind and listKind may not be the same"))
        }
        for (i, s) in n.shortNames.enumerated() {
            for m in NameValidation.isDNS1035Label(s) { errs.append(.invalid(path.child("shortNames").index(i), s, m)) }
        }
        return errs
    }

    func validateVersions(_ versions: [APIExtensionsV1.CustomResourceDefinitionVersion], _ path: FieldPath) -> ErrorList
    {
        var errs: ErrorList = []
        if versions.isEmpty {
            errs.append(.invalid(path, .json("null"), "must have exactly one version marked as storage version"))
            return errs
        }
        var seen: Set<String> = []
        for (i, v) in versions.enumerated() {
            let p = path.index(i)
            if v.name.isEmpty {
                errs.append(.required(p.child("name")))
            } else {
                for m in NameValidation.isDNS1035Label(v.name) { errs.append(.invalid(p.child("name"), v.name, m)) }
                if !seen.insert(v.name).inserted { errs.append(.duplicate(p.child("name"), .string(v.name))) }
            }
            if let schema = v.schema?.openAPIV3Schema {
                errs += StructuralSchemaValidation.validate(
                    schema, at: p.child("schema", "openAPIV3Schema"), statusSubresource: v.subresources?.status != nil)
            } else {
                errs.append(.required(p.child("schema", "openAPIV3Schema"), "schemas are required"))
            }
        }
        if versions.filter(\.storage).count != 1 {
            errs.append(
                .invalid(path, .json(versionsJSON(versions)), "must have exactly one version marked as storage version")
            )
        }
        if !versions.contains(where: \.served) {
            errs.append(
                .invalid(path, .json(versionsJSON(versions)), "must have at least one version marked as served"))
        }
        return errs
    }

    func versionsJSON(_ v: [APIExtensionsV1.CustomResourceDefinitionVersion]) -> String {
        var w = JSONWriter()
        v.encodeJSON(&w)
        return String(decoding: w.bytes, as: UTF8.self)
    }
}
