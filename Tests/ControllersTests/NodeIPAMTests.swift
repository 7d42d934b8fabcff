import Testing

@testable import Controllers

/// The range allocator's blocks (upstream's cidrset): consecutive blocks of the node mask size inside
/// the cluster CIDR, lowest free first, reusable once released.
@Suite("node IPAM")
struct NodeIPAMTests {
    @Test("blocks in order, occupied ones skipped, released ones reused, exhaustion reported")
    func blocks() throws {
        var set = try #require(CIDRSet(cidr: "10.42.0.0/16", maskSize: 24))
        #expect(set.count == 256)
        #expect(set.allocate() == "10.42.0.0/24")
        set.occupy("10.42.1.0/24")
        #expect(set.allocate() == "10.42.2.0/24")
        set.release("10.42.0.0/24")
        #expect(set.allocate() == "10.42.0.0/24")
        #expect(set.index(of: "10.43.0.0/24") == nil, "outside the cluster CIDR")
        #expect(set.index(of: "10.42.5.0/25") == nil, "another mask size")
        var small = try #require(CIDRSet(cidr: "10.0.0.0/30", maskSize: 31))
        #expect(small.allocate() == "10.0.0.0/31" && small.allocate() == "10.0.0.2/31" && small.allocate() == nil)
        #expect(CIDRSet(cidr: "10.0.0.0/24", maskSize: 16) == nil, "a node mask wider than the cluster's")
    }
}
