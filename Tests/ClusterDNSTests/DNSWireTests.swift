import Testing

@testable import ClusterDNS

/// The codec against messages assembled byte by byte from RFC 1035 §4.1 (header, question,
/// resource records, §4.1.4 compression), RFC 2782 (SRV) and RFC 6891 (OPT), not from our encoder.
@Suite("DNS wire format")
struct DNSWireTests {
    /// `label` as a length byte and its ASCII bytes.
    static func l(_ s: String) -> [UInt8] { [UInt8(s.utf8.count)] + Array(s.utf8) }

    @Test("a query's header flags, question and EDNS OPT record are read (RFC 1035 §4.1.1-2, RFC 6891 §6.1.2)")
    func parseQuery() throws {
        // ID 0xBEEF, RD, QDCOUNT 1, ARCOUNT 1; www.example.com IN AAAA; OPT udp 1232, DO.
        let bytes: [UInt8] =
            [0xBE, 0xEF, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1]
            + Self.l("www") + Self.l("example") + Self.l("com") + [0] + [0, 28, 0, 1]
            + [0, 0, 41, 0x04, 0xD0, 0, 0, 0x80, 0, 0, 0]
        let m = try DNSMessage.parse(bytes)
        #expect(m.id == 0xBEEF)
        #expect(!m.isResponse && m.recursionDesired && m.opcode == 0)
        #expect(m.questions == [DNSQuestion(name: DNSName("www.example.com")!, type: DNSType.aaaa)])
        #expect(m.edns == EDNS(udpSize: 1232, dnssecOK: true))
        #expect(m.additional.isEmpty)
    }

    @Test("compressed names in answers are followed (RFC 1035 §4.1.4's F.ISI.ARPA / FOO.F.ISI.ARPA / ARPA)")
    func parseCompression() throws {
        let header: [UInt8] = [0, 1, 0x84, 0x00, 0, 1, 0, 2, 0, 0, 0, 0]
        // The question name F.ISI.ARPA starts at offset 12; ARPA at 12 + 2 + 4 = 18.
        let question = Self.l("F") + Self.l("ISI") + Self.l("ARPA") + [0] + [0, 1, 0, 1]
        let foo = Self.l("FOO") + [0xC0, 12] + [0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 0, 0, 1]
        let arpa: [UInt8] = [0xC0, 18] + [0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 0, 0, 2]
        let m = try DNSMessage.parse(header + question + foo + arpa)
        #expect(m.isResponse && m.authoritative)
        #expect(m.answers.map(\.name.description) == ["FOO.F.ISI.ARPA.", "ARPA."])
        #expect(m.answers.map(\.data) == [.a(0x0A00_0001), .a(0x0A00_0002)])
        #expect(m.answers[0].ttl == 60)
    }

    @Test(
        "malformed messages are refused with a reason, not a crash",
        arguments: [
            // A pointer to itself (a loop).
            ([0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 12, 0, 1, 0, 1], DNSWireError.badPointer),
            // A forward pointer.
            ([0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 40, 0, 1, 0, 1], .badPointer),
            // Label type 01 (reserved, RFC 6891 §5).
            ([0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0x41, 0, 0, 1, 0, 1], .badLabel),
            // A label running past the end.
            ([0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 9, 97, 98], .truncated),
            // A question without its type and class.
            ([0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 97, 0], .truncated),
            // An A record whose RDLENGTH says 5.
            ([0, 1, 0x80, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 1, 0, 5, 1, 2, 3, 4, 5], .badRecord),
        ] as [([UInt8], DNSWireError)])
    func malformed(bytes: [UInt8], error: DNSWireError) {
        #expect(throws: error) { try DNSMessage.parse(bytes) }
    }

    @Test("a name longer than 255 bytes is refused (RFC 1035 §2.3.4)")
    func longName() {
        var name: [UInt8] = []
        for _ in 0..<5 { name += [63] + [UInt8](repeating: 97, count: 63) }
        let bytes: [UInt8] = [0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0] + name + [0, 0, 1, 0, 1]
        #expect(throws: DNSWireError.nameTooLong) { try DNSMessage.parse(bytes) }
        #expect(DNSName(String(repeating: "a", count: 64) + ".b") == nil)
    }

    @Test("a response is written with the answer's owner as a pointer to the question (RFC 1035 §4.1.4)")
    func encodeCompressed() {
        var m = DNSMessage()
        m.id = 0x0102
        m.isResponse = true
        m.authoritative = true
        m.recursionDesired = true
        m.recursionAvailable = true
        let q = DNSName("Web.Default.svc.cluster.local")!
        m.questions = [DNSQuestion(name: q, type: DNSType.a)]
        m.answers = [ResourceRecord(name: q, ttl: 5, data: .a(0x0A60_000A))]
        let expected: [UInt8] =
            [0x01, 0x02, 0x85, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]
            + Self.l("Web") + Self.l("Default") + Self.l("svc") + Self.l("cluster") + Self.l("local") + [0]
            + [0, 1, 0, 1]
            + [0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 5, 0, 4, 10, 96, 0, 10]
        #expect(m.encode() == expected)
    }

    @Test("names sharing a suffix point at it, case-insensitively; an SRV target is written whole (RFC 2782)")
    func encodeSuffixesAndSRV() {
        var m = DNSMessage()
        m.isResponse = true
        let q = DNSName("_http._tcp.web.ns.svc.cluster.local")!
        m.questions = [DNSQuestion(name: q, type: DNSType.srv)]
        let target = DNSName("web.ns.svc.cluster.local")!
        m.answers = [ResourceRecord(name: q, ttl: 5, data: .srv(priority: 0, weight: 100, port: 80, target: target))]
        m.additional = [ResourceRecord(name: DNSName("WEB.ns.svc.cluster.local")!, ttl: 5, data: .a(0x0A00_0001))]
        let qname =
            Self.l("_http") + Self.l("_tcp") + Self.l("web") + Self.l("ns") + Self.l("svc") + Self.l("cluster")
            + Self.l("local") + [0]
        // web.ns.svc.cluster.local starts at 12 + 6 + 5 = 23 in the question.
        let expected: [UInt8] =
            [0, 0, 0x80, 0, 0, 1, 0, 1, 0, 0, 0, 1] + qname + [0, 33, 0, 1]
            + [0xC0, 12, 0, 33, 0, 1, 0, 0, 0, 5] + [0, UInt8(6 + target.wire.count)] + [0, 0, 0, 100, 0, 80]
            + target.wire
            + [0xC0, 23, 0, 1, 0, 1, 0, 0, 0, 5, 0, 4, 10, 0, 0, 1]
        #expect(m.encode() == expected)
    }

    @Test("SOA, TXT and OPT records are written field by field (RFC 1035 §3.3.13-14, RFC 6891 §6.1.2)")
    func encodeSOATXTOPT() {
        var m = DNSMessage()
        m.isResponse = true
        m.rcode = DNSRcode.nameError
        m.edns = EDNS(udpSize: 1232)
        let zone = DNSName("c.l")!
        m.questions = [DNSQuestion(name: zone, type: DNSType.txt)]
        m.answers = [ResourceRecord(name: zone, ttl: 28800, data: .txt([Array("1.1.0".utf8)]))]
        m.authority = [
            ResourceRecord(
                name: zone, ttl: 5,
                data: .soa(
                    SOAData(
                        mname: DNSName("ns.dns.c.l")!, rname: DNSName("hostmaster.c.l")!, serial: 7, refresh: 7200,
                        retry: 1800, expire: 86400, minimum: 5)))
        ]
        let expected: [UInt8] =
            [0, 0, 0x80, 0x03, 0, 1, 0, 1, 0, 1, 0, 1] + Self.l("c") + Self.l("l") + [0] + [0, 16, 0, 1]
            // TXT: owner → 12, TTL 28800, RDLENGTH 6, <5>"1.1.0".
            + [0xC0, 12, 0, 16, 0, 1, 0, 0, 0x70, 0x80, 0, 6, 5] + Array("1.1.0".utf8)
            // SOA: owner → 12; mname ns.dns + pointer; rname hostmaster + pointer; five 32-bit numbers.
            + [0xC0, 12, 0, 6, 0, 1, 0, 0, 0, 5, 0, 42] + Self.l("ns") + Self.l("dns") + [0xC0, 12]
            + Self.l("hostmaster") + [0xC0, 12]
            + [0, 0, 0, 7, 0, 0, 0x1C, 0x20, 0, 0, 0x07, 0x08, 0, 1, 0x51, 0x80, 0, 0, 0, 5]
            + [0, 0, 41, 0x04, 0xD0, 0, 0, 0, 0, 0, 0]
        #expect(m.encode() == expected)
    }

    @Test("past the size limit answers are dropped and TC set; additional records are dropped silently")
    func truncation() throws {
        var m = DNSMessage()
        m.isResponse = true
        let q = DNSName("big.ns.svc.cluster.local")!
        m.questions = [DNSQuestion(name: q, type: DNSType.a)]
        // Header 12 + question 30 = 42; each compressed A record is 16 bytes: 29 fit in 512.
        m.answers = (0..<40).map { ResourceRecord(name: q, ttl: 5, data: .a(0x0A00_0000 + UInt32($0))) }
        let udp = m.encode(maxSize: 512)
        #expect(udp.count <= 512)
        let back = try DNSMessage.parse(udp)
        #expect(back.truncated)
        #expect(back.answers.count == 29)
        let tcp = try DNSMessage.parse(m.encode(maxSize: 65535))
        #expect(!tcp.truncated && tcp.answers.count == 40)

        var extra = DNSMessage()
        extra.questions = m.questions
        extra.answers = Array(m.answers.prefix(2))
        extra.additional = Array(m.answers.suffix(38))
        let e = try DNSMessage.parse(extra.encode(maxSize: 512))
        #expect(!e.truncated && e.answers.count == 2 && e.additional.count == 27)
    }

    @Test(
        "addresses parse and print as RFC 5952 text",
        arguments: [
            ("10.96.0.10", "10.96.0.10"), ("fd00::1", "fd00::1"), ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),
            ("::ffff:10.0.0.1", "::ffff:a00:1"), ("::", "::"),
        ])
    func addresses(text: String, printed: String) {
        #expect(DNSAddress(text)?.description == printed)
    }

    @Test("bad addresses are refused", arguments: ["10.0.0", "10.0.0.256", "1::2::3", "12345::", "a.b.c.d", ""])
    func badAddresses(text: String) {
        #expect(DNSAddress(text) == nil)
    }
}
