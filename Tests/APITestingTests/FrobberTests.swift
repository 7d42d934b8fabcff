import APIMachinery
import APITesting
import Testing

/// The worked example (docs/api-changes.md): two versions of different shape, a distinct hub,
/// per-version defaults, pointer fields, validation on the hub, and an alpha-gated field.
@Suite("Frobber example API")
struct FrobberTests {
    static func v6(_ json: String) throws -> ExampleV6.Frobber {
        try JSONReader.decode(ExampleV6.Frobber.self, from: Array(json.utf8))
    }

    static func json<T: JSONEncodableValue>(_ v: T) -> String {
        var w = JSONWriter()
        v.encodeJSON(&w)
        return String(decoding: w.bytes, as: UTF8.self)
    }

    @Test("v6 and v7beta1 meet at the hub: param + extraParams ⇄ params")
    func conversion() throws {
        let a = try Self.v6(
            #"{"metadata":{"name":"f","namespace":"d"},"spec":{"param":"a","extraParams":["b","c"],"replicas":0}}"#)
        let hub = a.toHub()
        #expect(hub.spec.params == ["a", "b", "c"])
        let b = ExampleV7beta1.Frobber(hub: hub)
        #expect(b.spec.params == ["a", "b", "c"])
        #expect(b.spec.replicas == 0)
        // And back, through the hub only.
        #expect(ExampleV6.Frobber(hub: b.toHub()) == a)
    }

    @Test("a v7beta1-only field survives a v6 round trip")
    func pausedSurvivesV6() {
        var b = ExampleV7beta1.Frobber()
        b.spec.params = ["x"]
        b.spec.paused = true
        let asV6 = ExampleV6.Frobber(hub: b.toHub())
        #expect(asV6.metadata.annotations[Example.pausedAnnotation] == "true")
        #expect(ExampleV7beta1.Frobber(hub: asV6.toHub()) == b)
    }

    @Test("pointer fields tell unset from zero, on the wire and in defaulting")
    func pointers() throws {
        var unset = try Self.v6(#"{"spec":{"param":"a"}}"#)
        var zero = try Self.v6(#"{"spec":{"param":"a","replicas":0}}"#)
        #expect(Self.json(unset.spec) == #"{"param":"a"}"#)
        #expect(Self.json(zero.spec) == #"{"param":"a","replicas":0}"#)
        unset.applyDefaults()
        zero.applyDefaults()
        #expect(unset.spec.replicas == 1)
        #expect(zero.spec.replicas == 0)
        // Protobuf keeps the difference too.
        #expect(try ExampleV6.Frobber(protoBytes: zero.protoBytes()).spec.replicas == 0)
    }

    @Test("defaulting is per version: only v7beta1 defaults paused")
    func perVersionDefaults() {
        var a = ExampleV6.Frobber()
        a.applyDefaults()
        var b = ExampleV7beta1.Frobber()
        b.applyDefaults()
        #expect(a.toHub().spec.paused == nil)
        #expect(b.toHub().spec.paused == false)
    }

    @Test("validation runs on the hub with field paths")
    func validation() throws {
        let bad = try Self.v6(
            #"{"metadata":{"name":"f","namespace":"d"},"spec":{"param":"","extraParams":["b",""],"replicas":-1}}"#)
        #expect(
            bad.toHub().validate().map(\.description) == [
                "spec.params[0]: Required value: the first parameter is required",
                "spec.params[2]: Invalid value: \"\": must not be empty",
                "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
            ])
        let old = try Self.v6(#"{"metadata":{"name":"f","namespace":"d"},"spec":{"param":"a"}}"#).toHub()
        var new = old
        new.spec.params = ["z"]
        #expect(
            new.validateUpdate(from: old).map(\.description) == [
                "spec.params[0]: Invalid value: \"z\": field is immutable"
            ])
    }

    @Test("the alpha field is dropped while FrobberTurbo is off, kept when on or already in use")
    func gate() throws {
        let known = FeatureGates.kubernetesDefaults + Example.featureGates
        var f = try Self.v6(#"{"spec":{"param":"a","turbo":true}}"#)
        FeatureGates(known: known).dropDisabledFields(&f, old: nil)
        #expect(f.spec.turbo == nil)
        var g = try Self.v6(#"{"spec":{"param":"a","turbo":true}}"#)
        try FeatureGates(flag: "FrobberTurbo=true", known: known).dropDisabledFields(&g, old: nil)
        #expect(g.spec.turbo == true)
        var h = try Self.v6(#"{"spec":{"param":"a","turbo":false}}"#)
        FeatureGates(known: known).dropDisabledFields(&h, old: g)
        #expect(h.spec.turbo == false)
    }

    @Test("the scheme serves both versions, v6 enabled by default and stored")
    func scheme() {
        let scheme = Scheme(kinds: Example.kinds, resources: Example.resources)
        #expect(scheme.isEnabled(ExampleV6.groupVersion))
        #expect(!scheme.isEnabled(ExampleV7beta1.groupVersion))
        #expect(scheme.storageVersion(of: GroupResource(group: "example.k8swift.io", resource: "frobbers")) == "v6")
        #expect(scheme.versions(ofGroup: "example.k8swift.io") == ["v6", "v7beta1"])
    }
}
