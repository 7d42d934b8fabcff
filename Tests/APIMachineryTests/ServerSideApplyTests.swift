import APIMachinery
import Testing

/// Server-side apply's field sets, merge, conflicts and ownership, against upstream's documented
/// results (the FieldsV1 layouts and messages of structured-merge-diff and the field manager).
@Suite("Server-side apply")
struct ServerSideApplyTests {
    static func v(_ s: String) -> JSONValue { try! JSONValue.parse(Array(s.utf8)) }
    static func text(_ v: JSONValue) -> String { String(decoding: v.jsonBytes, as: UTF8.self) }

    /// The part of a Deployment's schema the cases use: keyed containers and ports (protocol
    /// defaulting to TCP), an atomic selector, granular label maps.
    static let labels = ApplySchema(shape: .object, element: .scalar)
    static let meta = ApplySchema(
        shape: .object, fields: ["labels": labels, "finalizers": ApplySchema(shape: .list, element: .scalar)])
    static let port = ApplySchema(shape: .object, fields: ["containerPort": .scalar, "protocol": .scalar])
    static let container = ApplySchema(
        shape: .object,
        fields: [
            "name": .scalar, "image": .scalar,
            "ports": ApplySchema(
                shape: .list, keys: ["containerPort", "protocol"], element: port,
                keyDefaults: ["protocol": .string("TCP")]),
        ])
    static let podSpec = ApplySchema(
        shape: .object,
        fields: [
            "containers": ApplySchema(shape: .list, keys: ["name"], element: container),
            "securityContext": ApplySchema(shape: .object),
        ])
    static let deployment = ApplySchema(
        shape: .object,
        fields: [
            "metadata": meta,
            "spec": ApplySchema(
                shape: .object,
                fields: [
                    "replicas": .scalar,
                    "selector": ApplySchema(shape: .object, atomic: true),
                    "template": ApplySchema(shape: .object, fields: ["metadata": meta, "spec": podSpec]),
                ]),
        ])
    static let configMap = ApplySchema(
        shape: .object, fields: ["metadata": meta, "data": ApplySchema(shape: .object, element: .scalar)])

    @Test(
        "an applied Deployment's fields are upstream's FieldsV1: keyed items with '.', defaulted keys, atomic selector")
    func applyFieldsV1() {
        let config = Self.v(
            #"{"metadata":{"labels":{"app":"nginx"}},"spec":{"replicas":2,"selector":{"matchLabels":{"app":"nginx"}},"template":{"metadata":{"labels":{"app":"nginx"}},"spec":{"containers":[{"name":"nginx","image":"nginx:1.27","ports":[{"containerPort":80}]}]}}}}"#
        )
        let set = StructuredMerge.fieldSet(config, Self.deployment)
        #expect(
            Self.text(set.fieldsV1)
                == #"{"f:metadata":{"f:labels":{"f:app":{}}},"f:spec":{"f:replicas":{},"f:selector":{},"f:template":{"f:metadata":{"f:labels":{"f:app":{}}},"f:spec":{"f:containers":{"k:{\"name\":\"nginx\"}":{".":{},"f:image":{},"f:name":{},"f:ports":{"k:{\"containerPort\":80,\"protocol\":\"TCP\"}":{".":{},"f:containerPort":{}}}}}}}}}"#
        )
    }

    @Test("an update owns the containers it creates with '.', set items as v:, empty structs as leaves")
    func updateFieldsV1() {
        let old = Self.v(#"{"metadata":{},"spec":{"template":{"spec":{}}}}"#)
        let new = Self.v(
            #"{"metadata":{"finalizers":["example.com/foo"]},"spec":{"template":{"spec":{"securityContext":{}}}}}"#)
        let entries = ManagedFields.update(
            [], old: old, new: new, schema: Self.deployment, manager: "m", apiVersion: "apps/v1", subresource: "",
            now: Time(seconds: 0))
        #expect(
            Self.text(entries[0].set.fieldsV1)
                == #"{"f:metadata":{"f:finalizers":{".":{},"v:\"example.com/foo\"":{}}},"f:spec":{"f:template":{"f:spec":{"f:securityContext":{}}}}}"#
        )
    }

    @Test("FieldsV1 round-trips, '.' first and keys in value order (80 before 443)")
    func fieldsV1Order() throws {
        let text =
            #"{"f:ports":{".":{},"k:{\"port\":80,\"protocol\":\"TCP\"}":{".":{},"f:port":{}},"k:{\"port\":443,\"protocol\":\"TCP\"}":{".":{},"f:port":{}}}}"#
        let set = try #require(FieldSet(fieldsV1: Self.v(text)))
        #expect(
            Self.text(set.fieldsV1)
                == #"{"f:ports":{".":{},"k:{\"port\":80,\"protocol\":\"TCP\"}":{".":{},"f:port":{}},"k:{\"port\":443,\"protocol\":\"TCP\"}":{".":{},"f:port":{}}}}"#
        )
    }

    func apply(
        _ entries: [ManagedFields.Entry], _ live: JSONValue?, _ config: String, _ manager: String, force: Bool = false
    ) throws -> (object: JSONValue, entries: [ManagedFields.Entry]) {
        try ManagedFields.apply(
            entries, live: live, config: Self.v(config), schema: Self.configMap, manager: manager, apiVersion: "v1",
            subresource: "", force: force, now: Time(seconds: 1))
    }

    @Test("two appliers of the same value share it; a different value conflicts as upstream words it; force takes it")
    func conflicts() throws {
        let a = try apply([], nil, #"{"data":{"x":"1"}}"#, "a")
        let b = try apply(a.entries, a.object, #"{"data":{"x":"1","y":"2"}}"#, "b")
        #expect(b.entries.map(\.manager).sorted() == ["a", "b"])
        #expect(b.entries.allSatisfy { $0.set.contains([.field("data"), .field("x")]) })
        do {
            _ = try apply(b.entries, b.object, #"{"data":{"x":"3"}}"#, "c")
            Issue.record("no conflict")
        } catch let error as ManagedFields.Conflicts {
            #expect(
                error.message
                    == "Apply failed with 2 conflicts: conflicts with \"a\":\n- .data.x\nconflicts with \"b\":\n- .data.x"
            )
        }
        let forced = try apply(b.entries, b.object, #"{"data":{"x":"3"}}"#, "c", force: true)
        #expect(forced.object["data"]?["x"] == .string("3"))
        // "a" owned only x: it loses it and its entry goes; "b" keeps y.
        #expect(forced.entries.map(\.manager).sorted() == ["b", "c"])
        #expect(forced.entries.first { $0.manager == "b" }?.set.contains([.field("data"), .field("x")]) == false)
    }

    @Test("an update manager conflicts too, printed with its version; one conflict reads in one line")
    func updateConflict() throws {
        let created = ManagedFields.update(
            [], old: Self.v("{}"), new: Self.v(#"{"data":{"x":"1"}}"#), schema: Self.configMap,
            manager: "kubectl-client-side-apply", apiVersion: "v1", subresource: "", now: Time(seconds: 0))
        do {
            _ = try apply(created, Self.v(#"{"data":{"x":"1"}}"#), #"{"data":{"x":"2"}}"#, "kubectl")
            Issue.record("no conflict")
        } catch let error as ManagedFields.Conflicts {
            #expect(
                error.message
                    == "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using v1: .data.x")
        }
    }

    @Test("fields a manager stops applying are removed unless another manager owns them")
    func removal() throws {
        let a = try apply([], nil, #"{"data":{"x":"1","y":"2","z":"3"}}"#, "a")
        let b = try apply(a.entries, a.object, #"{"data":{"z":"3"}}"#, "b")
        let again = try apply(b.entries, b.object, #"{"data":{"x":"1"}}"#, "a")
        #expect(again.object == Self.v(#"{"data":{"x":"1","z":"3"}}"#))
    }

    @Test("an update takes the fields it changes from an applier")
    func updateTakesOwnership() throws {
        let a = try apply([], nil, #"{"data":{"x":"1","y":"2"}}"#, "a")
        let edited = ManagedFields.update(
            a.entries, old: a.object, new: Self.v(#"{"data":{"x":"9","y":"2"}}"#), schema: Self.configMap,
            manager: "kubectl-edit", apiVersion: "v1", subresource: "", now: Time(seconds: 5))
        let byManager = Dictionary(uniqueKeysWithValues: edited.map { ($0.manager, $0) })
        #expect(byManager["a"]?.set.contains([.field("data"), .field("x")]) == false)
        #expect(byManager["a"]?.set.contains([.field("data"), .field("y")]) == true)
        #expect(byManager["kubectl-edit"]?.operation == "Update")
        #expect(byManager["kubectl-edit"]?.set.contains([.field("data"), .field("x")]) == true)
        // Setting a value to what it is claims nothing.
        let noop = ManagedFields.update(
            edited, old: Self.v(#"{"data":{"x":"9","y":"2"}}"#), new: Self.v(#"{"data":{"x":"9","y":"2"}}"#),
            schema: Self.configMap, manager: "other", apiVersion: "v1", subresource: "", now: Time(seconds: 6))
        #expect(noop == edited)
    }

    @Test("keyed list items merge by key (defaults fill missing keys) and print as [k=v,…]")
    func keyedLists() throws {
        let live = Self.v(
            #"{"spec":{"template":{"spec":{"containers":[{"name":"c","image":"a","ports":[{"containerPort":80,"protocol":"TCP"}]}]}}}}"#
        )
        let config = Self.v(
            #"{"spec":{"template":{"spec":{"containers":[{"name":"c","ports":[{"containerPort":80}]}]}}}}"#)
        let merged = StructuredMerge.merge(live, config, Self.deployment)
        #expect(merged == live, "the port with the default protocol is the same item")
        let path: [PathElement] = [
            .field("spec"), .field("template"), .field("spec"), .field("containers"), .key(#"{"name":"c"}"#),
            .field("ports"), .key(#"{"containerPort":80,"protocol":"TCP"}"#), .field("containerPort"),
        ]
        #expect(
            FieldSet.printed(path)
                == #".spec.template.spec.containers[name="c"].ports[containerPort=80,protocol="TCP"].containerPort"#)
        #expect(
            FieldSet.printed([.field("metadata"), .field("finalizers"), .value("\"a\"")])
                == #".metadata.finalizers[="a"]"#)
    }

    @Test("more than ten update managers: the oldest merge into ancient-changes")
    func cap() {
        var entries: [ManagedFields.Entry] = []
        var obj = Self.v(#"{"data":{}}"#)
        for i in 0..<12 {
            guard case .object(let data)? = obj["data"] else { return }
            let new = JSONValue.object([("data", .object(data + [("k\(i)", .string("v"))]))])
            entries = ManagedFields.update(
                entries, old: obj, new: new, schema: Self.configMap, manager: "m\(i)", apiVersion: "v1",
                subresource: "",
                now: Time(seconds: Int64(i)))
            obj = new
        }
        #expect(entries.count == 10)
        let ancient = entries.first { $0.manager == "ancient-changes" }
        #expect(ancient?.set.contains([.field("data"), .field("k0")]) == true)
        #expect(ancient?.set.contains([.field("data"), .field("k2")]) == true)
        #expect(entries.contains { $0.manager == "m3" } && !entries.contains { $0.manager == "m2" })
    }
}
