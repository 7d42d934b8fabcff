import Foundation
import Testing

@testable import APIServer

@Suite("API server helpers")
struct SupportTests {
    @Test("continue tokens are byte-identical to upstream's for the same revision and key")
    func continueToken() throws {
        // From testdata/upstream/responses/list-paginated-page1.json (clusterroles, limit=2).
        let upstream = "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6OTM3OSwic3RhcnQiOiIvY2x1c3Rlci1hZG1pblx1MDAwMCJ9"
        let ours = ContinueToken(revision: 9379, start: "cluster-admin").encoded(prefix: "/registry/clusterroles/")
        #expect(ours == upstream)
        let back = try #require(ContinueToken.decode(upstream))
        #expect(back.revision == 9379)
        #expect(back.start == "cluster-admin")
        #expect(ContinueToken.decode("not-a-token") == nil)
    }

    @Test(
        "ages print like kubectl's human durations",
        arguments: [
            (0, "0s"), (59, "59s"), (119, "119s"), (120, "2m"), (130, "2m10s"), (600, "10m"), (3 * 3600, "3h"),
            (3 * 3600 + 1800, "3h30m"), (8 * 3600, "8h"), (47 * 3600, "47h"), (50 * 3600, "2d2h"), (9 * 86400, "9d"),
            (800 * 86400, "2y70d"),
        ] as [(Int64, String)])
    func humanDuration(seconds: Int64, text: String) {
        #expect(TableBuilder.humanDuration(seconds) == text)
    }

    @Test("Accept negotiation picks Table, metadata-only and protobuf as kubectl asks for them")
    func negotiation() {
        let table = ResponseFormat.negotiate(
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
        )
        #expect(table == ResponseFormat(format: .json, shape: .table))
        let pom = ResponseFormat.negotiate("application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io")
        #expect(pom == ResponseFormat(format: .json, shape: .partialMetadataList))
        #expect(
            ResponseFormat.negotiate("application/vnd.kubernetes.protobuf, */*")
                == ResponseFormat(format: .protobuf, shape: .object))
        #expect(ResponseFormat.negotiate("image/png") == nil)
        #expect(ResponseFormat.negotiate(nil) == ResponseFormat(format: .json, shape: .object))
    }

    @Test("service IPs come from the range, never twice, and are released")
    func ipAllocation() throws {
        let a = try #require(IPAllocator(cidr: "10.96.0.0/28"))
        #expect(a.first == "10.96.0.1")
        var seen: Set<String> = []
        while let ip = a.allocate() { #expect(seen.insert(ip).inserted) }
        // 16 addresses minus network, broadcast and the kubernetes Service's.
        #expect(seen.count == 13)
        #expect(!seen.contains("10.96.0.1"))
        let one = seen.first!
        #expect(a.allocate(one) == nil)
        a.release(one)
        #expect(a.allocate(one) == one)
        #expect(a.allocate("10.97.0.5") == nil)
    }
}
