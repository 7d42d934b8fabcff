import Foundation
import KubernetesAPI
import Testing

/// The scheme against upstream's discovery (testdata/upstream/discovery): the same enabled
/// group-versions, resource names, short names, scope, verbs and kinds.
@Suite("Scheme")
struct SchemeTests {
    static let discovery = DefaultingTests.responses.deletingLastPathComponent().appendingPathComponent("discovery")

    @Test("enabled group-versions are exactly upstream's default set")
    func enabledVersions() throws {
        let text = try String(contentsOf: Self.discovery.appendingPathComponent("api-versions.txt"), encoding: .utf8)
        let expected = Set(text.split(separator: "\n").map(String.init))
        let scheme = KubernetesAPI.scheme()
        #expect(Set(scheme.enabledGroupVersions.map(\.apiVersion)) == expected)
    }

    @Test("every resource of `kubectl api-resources -o wide` is known with its names, scope, kind and verbs")
    func apiResources() throws {
        let text = try String(contentsOf: Self.discovery.appendingPathComponent("api-resources.txt"), encoding: .utf8)
        let scheme = KubernetesAPI.scheme()
        var rows = 0
        for line in text.split(separator: "\n").dropFirst() {
            let cols = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            // NAME [SHORTNAMES] APIVERSION NAMESPACED KIND VERBS [CATEGORIES]
            guard let nsIndex = cols.firstIndex(where: { $0 == "true" || $0 == "false" }) else { continue }
            let name = cols[0]
            let apiVersion = cols[nsIndex - 1]
            let shortNames = nsIndex == 3 ? cols[1].split(separator: ",").map(String.init) : []
            let kind = cols[nsIndex + 1]
            let verbs = cols.count > nsIndex + 2 ? cols[nsIndex + 2].split(separator: ",").map(String.init) : []
            let gv = GroupVersion(apiVersion: apiVersion)!
            let r = scheme.resource(GroupVersionResource(group: gv.group, version: gv.version, resource: name))
            #expect(r != nil, "missing \(name) \(apiVersion)")
            guard let r else { continue }
            #expect(r.kind == kind)
            #expect(r.namespaced == (cols[nsIndex] == "true"))
            #expect(r.shortNames == shortNames)
            #expect(Set(r.verbs) == Set(verbs), "\(name)")
            // Every resource's kind has a Swift type.
            #expect(scheme.type(for: r.groupVersionKind) != nil, "no type for \(r.groupVersionKind)")
            rows += 1
        }
        #expect(rows > 50)
    }

    @Test("lookup by kubectl's names; storage versions; version priority")
    func lookups() {
        let scheme = KubernetesAPI.scheme()
        #expect(scheme.lookup("deploy").map(\.resource) == ["deployments"])
        #expect(scheme.lookup("po").first?.kind == "Pod")
        #expect(scheme.lookup("deployments.apps").count == 1)
        #expect(scheme.lookup("hpa").map(\.version).sorted() == ["v1", "v2"])
        #expect(
            scheme.storageVersion(of: GroupResource(group: "autoscaling", resource: "horizontalpodautoscalers")) == "v2"
        )
        #expect(
            scheme.storageVersion(of: GroupResource(group: "resource.k8s.io", resource: "devicetaintrules"))
                == "v1beta2")
        #expect(scheme.versions(ofGroup: "resource.k8s.io") == ["v1", "v1beta2", "v1beta1", "v1alpha3"])
        #expect(!scheme.isEnabled(GroupVersion(group: "resource.k8s.io", version: "v1beta1")))
    }
}
