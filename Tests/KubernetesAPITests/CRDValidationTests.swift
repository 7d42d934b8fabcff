import Foundation
import KubernetesAPI
import Testing

/// CustomResourceDefinition validation: the rules upstream applies before a definition is served.
@Suite("CustomResourceDefinition validation")
struct CRDValidationTests {
    static func crd(
        name: String = "widgets.example.com", group: String = "example.com", scope: String = "Namespaced",
        versions: [(String, Bool, Bool, Bool)] = [("v1", true, true, true)]
    ) -> APIExtensionsV1.CustomResourceDefinition {
        var c = APIExtensionsV1.CustomResourceDefinition()
        c.metadata.name = name
        c.spec.group = group
        c.spec.scope = scope
        c.spec.names = APIExtensionsV1.CustomResourceDefinitionNames(
            plural: "widgets", singular: "widget", kind: "Widget", listKind: "WidgetList")
        c.spec.versions = versions.map { name, served, storage, schema in
            var v = APIExtensionsV1.CustomResourceDefinitionVersion(name: name, served: served, storage: storage)
            if schema {
                var s = APIExtensionsV1.JSONSchemaProps()
                s.type = "object"
                v.schema = APIExtensionsV1.CustomResourceValidation(openAPIV3Schema: s)
            }
            return v
        }
        return c
    }

    @Test("a well-formed definition is valid")
    func valid() {
        #expect(Self.crd().validate().isEmpty)
    }

    @Test(
        "malformed definitions get upstream's field paths",
        arguments: [
            (crd(name: "other.example.com"), "metadata.name", "must be spec.names.plural+\".\"+spec.group"),
            (crd(name: "widgets.example", group: "example"), "spec.group", "should be a domain with at least one dot"),
            (crd(scope: "Global"), "spec.scope", "Unsupported value: \"Global\""),
            (
                crd(versions: [("v1", true, true, false)]), "spec.versions[0].schema.openAPIV3Schema",
                "schemas are required"
            ),
            (
                crd(versions: [("v1", true, true, true), ("v2", true, true, true)]), "spec.versions",
                "must have exactly one version marked as storage version"
            ),
            (
                crd(versions: [("v1", true, true, true), ("v1", true, false, true)]), "spec.versions[1].name",
                "Duplicate value"
            ),
        ] as [(APIExtensionsV1.CustomResourceDefinition, String, String)])
    func invalid(crd: APIExtensionsV1.CustomResourceDefinition, field: String, message: String) {
        let errs = crd.validate()
        #expect(errs.contains { $0.field.description == field && $0.description.contains(message) }, "\(errs)")
    }
}

extension CRDValidationTests {
    @Test(
        "conversion settings are checked as upstream checks them",
        arguments: [
            (
                "Sometimes", false,
                "spec.conversion.strategy: Unsupported value: \"Sometimes\": supported values: \"None\", \"Webhook\""
            ),
            ("Webhook", false, "spec.conversion.webhook: Required value: required when strategy is set to Webhook"),
            (
                "Webhook", true,
                "spec.conversion.webhook.conversionReviewVersions: Invalid value: [\"v2\"]: must include at least one of v1, v1beta1"
            ),
        ])
    func conversion(strategy: String, webhook: Bool, message: String) {
        var c = Self.crd()
        c.spec.conversion = APIExtensionsV1.CustomResourceConversion(strategy: strategy)
        if webhook {
            c.spec.conversion?.webhook = APIExtensionsV1.WebhookConversion(
                clientConfig: APIExtensionsV1.WebhookClientConfig(url: "https://127.0.0.1:9443/convert"),
                conversionReviewVersions: ["v2"])
        }
        let errs = c.validate().map(\.description)
        #expect(errs.contains(message), "\(errs)")
    }
}
