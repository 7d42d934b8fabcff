import APIMachinery
import Foundation
import KubernetesAPI
import Testing

@testable import APIServer

@Suite("DELETE response shapes")
struct DeleteResponseTests {
    @Test("exactly the resources whose OpenAPI DELETE answers with their kind return the deleted object")
    func deletedObjectResources() throws {
        let spec = try #require(try upstreamSpec("swagger.json") as? [String: Any])
        let paths = try #require(spec["paths"] as? [String: Any])
        var fromSpec: Set<GroupResource> = []
        var deletable: Set<GroupResource> = []
        for (path, ops) in paths {
            guard let delete = (ops as? [String: Any])?["delete"] as? [String: Any],
                let ok = (delete["responses"] as? [String: Any])?["200"] as? [String: Any],
                let ref = (ok["schema"] as? [String: Any])?["$ref"] as? String
            else { continue }
            // /api/v1/.../{plural}/{name} or /apis/{group}/{version}/.../{plural}/{name}
            let parts = path.split(separator: "/").map(String.init)
            guard parts.last == "{name}", parts.count >= 4 else { continue }
            let group = parts[0] == "api" ? "" : parts[1]
            let gr = GroupResource(group: group, resource: parts[parts.count - 2])
            deletable.insert(gr)
            if !ref.hasSuffix("meta.v1.Status") { fromSpec.insert(gr) }
        }
        #expect(deletable.count > 50, "the spec lists DELETE on most resources")
        #expect(fromSpec.contains(GroupResource(group: "", resource: "services")))
        #expect(Strategies.returnDeletedObject == fromSpec)
    }
}
