/// Turns query bytes into response bytes with a `RecordTable`: checks the message, answers from the
/// zone, sizes the reply for its transport (512 bytes or the EDNS size over UDP, truncated with TC
/// past it), or says the query must go upstream.
public enum QueryHandler {
    public enum Transport: Sendable { case udp, tcp }

    public enum Outcome: Sendable {
        case reply([UInt8], Summary)
        /// Not a name of ours: send the query's own bytes upstream (the parsed query makes a SERVFAIL).
        case forward(DNSMessage)
        /// A CNAME answer whose target's records upstream may add: send `chase` upstream and append
        /// its answers to `partial` before encoding.
        case chase(partial: DNSMessage, chase: DNSQuestion, maxSize: Int)
        /// Not a query (a response, or fewer bytes than a header): nothing to send.
        case drop
    }

    /// What metrics record of a reply.
    public struct Summary: Sendable {
        public var qtype: UInt16
        public var rcode: UInt16
        public var isIPv6Query: Bool
    }

    /// The largest UDP payload we use whatever a client offers.
    public static let maxUDPSize = 4096

    public static func handle(_ bytes: [UInt8], transport: Transport, table: RecordTable) -> Outcome {
        guard bytes.count >= 12, bytes[2] & 0x80 == 0 else { return .drop }
        let query: DNSMessage
        do {
            query = try DNSMessage.parse(bytes)
        } catch {
            // RFC 1035 §4.1.1: FORMERR, with the header we could read.
            var r = DNSMessage()
            r.id = UInt16(bytes[0]) << 8 | UInt16(bytes[1])
            r.isResponse = true
            r.opcode = bytes[2] >> 3 & 0xF
            r.recursionDesired = bytes[2] & 1 != 0
            r.rcode = DNSRcode.formatError
            return .reply(r.encode(maxSize: 512), Summary(qtype: 0, rcode: DNSRcode.formatError, isIPv6Query: false))
        }
        var reply = DNSMessage()
        reply.id = query.id
        reply.isResponse = true
        reply.opcode = query.opcode
        reply.recursionDesired = query.recursionDesired
        reply.checkingDisabled = query.checkingDisabled
        reply.questions = query.questions
        let size: Int
        if let e = query.edns {
            size = transport == .tcp ? 65535 : min(maxUDPSize, max(512, Int(e.udpSize)))
            reply.edns = EDNS(udpSize: UInt16(min(maxUDPSize, max(512, Int(e.udpSize)))), dnssecOK: e.dnssecOK)
        } else {
            size = transport == .tcp ? 65535 : 512
        }
        let qtype = query.questions.first?.type ?? 0
        func finish(_ rcode: UInt16) -> Outcome {
            reply.rcode = rcode
            return .reply(reply.encode(maxSize: size), Summary(qtype: qtype, rcode: rcode, isIPv6Query: false))
        }
        if let e = query.edns, e.version > 0 {
            reply.questions = []
            return finish(DNSRcode.badVersion)
        }
        guard query.opcode == 0 else { return finish(DNSRcode.notImplemented) }
        guard query.questions.count == 1, let q = query.questions.first else { return finish(DNSRcode.formatError) }
        guard q.qclass == dnsClassIN || q.qclass == 255 else { return finish(DNSRcode.refused) }
        switch table.resolve(q) {
        case .forward:
            return .forward(query)
        case .answer(let a, let chase):
            reply.authoritative = true
            // CoreDNS sets RA on answers, not on its negative (SOA-only) replies.
            reply.recursionAvailable = !a.answers.isEmpty
            reply.answers = a.answers
            reply.authority = a.authority
            reply.additional = a.additional
            reply.rcode = a.rcode
            if let chase { return .chase(partial: reply, chase: chase, maxSize: size) }
            return finish(a.rcode)
        }
    }

    /// A SERVFAIL reply to a query (no upstream, or none answered).
    public static func serverFailure(_ query: DNSMessage, transport: Transport) -> [UInt8] {
        var r = DNSMessage()
        r.id = query.id
        r.isResponse = true
        r.opcode = query.opcode
        r.recursionDesired = query.recursionDesired
        r.recursionAvailable = true
        r.questions = query.questions
        r.rcode = DNSRcode.serverFailure
        if let e = query.edns { r.edns = EDNS(udpSize: UInt16(min(maxUDPSize, max(512, Int(e.udpSize))))) }
        return r.encode(maxSize: transport == .tcp ? 65535 : 512)
    }
}
