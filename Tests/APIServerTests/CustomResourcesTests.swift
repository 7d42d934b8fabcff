import APIMachinery
import KubernetesAPI
import Testing

@testable import APIServer

/// The API server's CRD controllers as pure decisions (names, conditions) and the JSONPath
/// subset printer columns and selectable fields use.
@Suite("Custom resource definitions")
struct CustomResourcesTests {
    static func crd(
        _ plural: String, kind: String, singular: String? = nil, group: String = "example.com", short: [String] = [],
        uid: String, accepted: Bool = false
    ) -> CRD {
        var c = CRD()
        c.metadata.name = "\(plural).\(group)"
        c.metadata.uid = uid
        c.spec.group = group
        c.spec.scope = "Namespaced"
        c.spec.names = APIExtensionsV1.CustomResourceDefinitionNames(
            plural: plural, singular: singular ?? kind.lowercased(), shortNames: short, kind: kind,
            listKind: kind + "List")
        c.spec.versions = [APIExtensionsV1.CustomResourceDefinitionVersion(name: "v1", served: true, storage: true)]
        if accepted {
            c.status.acceptedNames = c.spec.names
            CustomResources.setCondition(&c.status, "Established", "True", "InitialNamesAccepted", "")
        }
        return c
    }

    @Test("a definition without rivals is accepted, established and records its storage version")
    func accepted() {
        let status = CustomResources.desiredStatus(Self.crd("widgets", kind: "Widget", uid: "a"), others: [])
        #expect(status.acceptedNames.plural == "widgets" && status.acceptedNames.listKind == "WidgetList")
        let names = status.conditions.first { $0.type == "NamesAccepted" }
        #expect(names?.status == "True" && names?.reason == "NoConflicts" && names?.message == "no conflicts found")
        let est = status.conditions.first { $0.type == "Established" }
        #expect(est?.status == "True" && est?.reason == "InitialNamesAccepted")
        #expect(status.storedVersions == ["v1"])
    }

    @Test(
        "names another definition of the group holds are refused with upstream's reason",
        arguments: [
            (crd("widgets", kind: "Gadget", uid: "b"), "PluralConflict", "\"widgets\" is already in use"),
            (
                crd("gadgets", kind: "Widget", singular: "gadget", uid: "b"), "KindConflict",
                "\"Widget\" is already in use"
            ),
            (crd("gadgets", kind: "Gadget", short: ["wd"], uid: "b"), "ShortNamesConflict", "\"wd\" is already in use"),
            (
                crd("gadgets", kind: "Gadget", singular: "widget", uid: "b"), "SingularConflict",
                "\"widget\" is already in use"
            ),
        ])
    func conflict(candidate: CRD, reason: String, message: String) {
        let holder = Self.crd("widgets", kind: "Widget", short: ["wd"], uid: "a", accepted: true)
        let status = CustomResources.desiredStatus(candidate, others: [holder, candidate])
        let names = status.conditions.first { $0.type == "NamesAccepted" }
        #expect(names?.status == "False" && names?.reason == reason && names?.message == message)
        let est = status.conditions.first { $0.type == "Established" }
        #expect(est?.status == "False" && est?.reason == "NotAccepted")
    }

    @Test("the same names in another group do not conflict")
    func otherGroup() {
        let holder = Self.crd("widgets", kind: "Widget", group: "other.io", uid: "a", accepted: true)
        let status = CustomResources.desiredStatus(Self.crd("widgets", kind: "Widget", uid: "b"), others: [holder])
        #expect(status.conditions.first { $0.type == "NamesAccepted" }?.status == "True")
    }

    static let object = try! JSONValue.parse(
        Array(
            #"{"spec":{"replicas":3,"tags":["a","b"],"m":{"x.y":"dotted"}},"status":{"conditions":[{"type":"Ready","status":"False"},{"type":"Synced","status":"True"}]}}"#
                .utf8))

    @Test(
        "JSONPath as printer columns use it",
        arguments: [
            (".spec.replicas", "3"), (".spec.tags[1]", "\"b\""), (".spec.tags[*]", "\"a\""),
            (".status.conditions[?(@.type==\"Synced\")].status", "\"True\""), (".spec.m['x.y']", "\"dotted\""),
            ("{.spec.replicas}", "3"),
        ])
    func jsonPath(path: String, first: String) throws {
        let p = try #require(JSONPathLite(path))
        let found = try #require(p.first(in: Self.object))
        #expect(String(decoding: found.jsonBytes, as: UTF8.self) == first)
    }

    @Test("cells take the column's type; a mismatch is a null cell, dates are ages")
    func cells() {
        #expect(PrinterColumns.cell(.number("2.7"), type: "integer", now: 0) == .number("2"))
        #expect(PrinterColumns.cell(.string("x"), type: "integer", now: 0) == .null)
        #expect(PrinterColumns.cell(.number("5"), type: "string", now: 0) == .string("5"))
        let t = Time(seconds: 1000)
        #expect(PrinterColumns.cell(.string(t.description), type: "date", now: 1300) == .string("5m"))
        #expect(PrinterColumns.cell(.string("not a date"), type: "date", now: 0) == .string("<invalid>"))
    }
}
