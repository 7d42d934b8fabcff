import Testing

@testable import ClusterDNS

/// Whole queries in, reply bytes out: header handling (RFC 1035 §4.1.1), EDNS (RFC 6891) and
/// sizing for the transport (RFC 1035 §4.2.1, RFC 7766).
@Suite("DNS query handling")
struct QueryHandlerTests {
    static func query(
        _ name: String, _ type: UInt16, id: UInt16 = 7, edns: EDNS? = nil, opcode: UInt8 = 0
    ) -> [UInt8] {
        var m = DNSMessage()
        m.id = id
        m.opcode = opcode
        m.recursionDesired = true
        m.questions = [DNSQuestion(name: DNSName(name)!, type: type)]
        m.edns = edns
        return m.encode()
    }

    static let big: RecordTable = {
        var t = RecordTable()
        t.setService(ResolverTests.service("big", ip: "None"))
        t.setSlice(
            ResolverTests.slice(
                "big-1", service: "big", endpoints: (1...60).map { ("10.245.0.\($0)", nil, true) }))
        return t
    }()

    func reply(_ bytes: [UInt8], _ transport: QueryHandler.Transport = .udp, table: RecordTable = big) throws
        -> (bytes: [UInt8], message: DNSMessage)
    {
        guard case .reply(let out, _) = QueryHandler.handle(bytes, transport: transport, table: table) else {
            throw ClusterDNSError("no reply")
        }
        return (out, try DNSMessage.parse(out))
    }

    @Test("an answer echoes id, question and RD, and is authoritative")
    func header() throws {
        let r = try reply(Self.query("big.ns1.svc.cluster.local", DNSType.a, id: 0x4242), .tcp).message
        #expect(r.id == 0x4242 && r.isResponse && r.authoritative && r.recursionDesired)
        #expect(r.questions.map(\.name.description) == ["big.ns1.svc.cluster.local."])
        #expect(r.answers.count == 60 && !r.truncated)
    }

    @Test("over UDP a reply fits 512 bytes without EDNS and the client's size with it (at most 4096)")
    func udpSizes() throws {
        let plain = try reply(Self.query("big.ns1.svc.cluster.local", DNSType.a))
        #expect(plain.bytes.count <= 512 && plain.message.truncated && plain.message.answers.count < 60)
        let small = try reply(Self.query("big.ns1.svc.cluster.local", DNSType.a, edns: EDNS(udpSize: 100)))
        // A size under 512 counts as 512 (RFC 6891 §6.2.5).
        #expect(small.bytes.count <= 512 && small.bytes.count > 400 && small.message.truncated)
        let edns = try reply(Self.query("big.ns1.svc.cluster.local", DNSType.a, edns: EDNS(udpSize: 4096)))
        #expect(!edns.message.truncated && edns.message.answers.count == 60)
        #expect(edns.message.edns?.udpSize == 4096)
    }

    @Test("unreadable queries get FORMERR, responses and runts are dropped")
    func malformed() throws {
        let garbage: [UInt8] = [0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 0xFF]
        let r = try reply(garbage).message
        #expect(r.id == 0x1234 && r.rcode == DNSRcode.formatError)
        var response = Self.query("a.b", DNSType.a)
        response[2] |= 0x80
        guard case .drop = QueryHandler.handle(response, transport: .udp, table: Self.big) else {
            Issue.record("a response was answered")
            return
        }
        guard case .drop = QueryHandler.handle([1, 2, 3], transport: .udp, table: Self.big) else {
            Issue.record("a runt was answered")
            return
        }
    }

    @Test("EDNS version 1 gets BADVERS; another opcode NOTIMP; two questions FORMERR")
    func refusals() throws {
        let v1 = try reply(Self.query("a.cluster.local", DNSType.a, edns: EDNS(udpSize: 1232, version: 1))).message
        #expect(v1.rcode == DNSRcode.badVersion && v1.edns != nil)
        let notify = try reply(Self.query("a.cluster.local", DNSType.a, opcode: 4)).message
        #expect(notify.rcode == DNSRcode.notImplemented)
        var two = DNSMessage()
        two.questions = [DNSQuestion(name: DNSName("a.b")!, type: 1), DNSQuestion(name: DNSName("c.d")!, type: 1)]
        #expect(try reply(two.encode()).message.rcode == DNSRcode.formatError)
    }

    @Test("a name outside the zone is handed on for forwarding")
    func forward() {
        guard
            case .forward(let q) = QueryHandler.handle(
                Self.query("example.com", DNSType.a), transport: .udp, table: Self.big)
        else {
            Issue.record("not forwarded")
            return
        }
        #expect(q.questions.first?.name.description == "example.com.")
    }

    @Test("resolv.conf nameservers are read, our own address left out")
    func resolvConf() {
        let text = "search default.svc.cluster.local\nnameserver 10.0.0.2\nnameserver 10.0.0.53\noptions ndots:5\n"
        #expect(Upstream.nameservers(resolvConf: text, exclude: ["10.0.0.53"]) == ["10.0.0.2"])
        #expect(Upstream.address("10.0.0.2")?.port == 53)
        #expect(Upstream.address("[fd00::1]:5353")?.port == 5353)
        #expect(Upstream.address("nope") == nil)
    }
}
