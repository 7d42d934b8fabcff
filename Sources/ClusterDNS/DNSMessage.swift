/// Record types, classes and response codes this server reads and writes (RFC 1035 §3.2, RFC 2782,
/// RFC 3596, RFC 6891).
public enum DNSType {
    public static let a: UInt16 = 1
    public static let ns: UInt16 = 2
    public static let cname: UInt16 = 5
    public static let soa: UInt16 = 6
    public static let ptr: UInt16 = 12
    public static let mx: UInt16 = 15
    public static let txt: UInt16 = 16
    public static let aaaa: UInt16 = 28
    public static let srv: UInt16 = 33
    public static let opt: UInt16 = 41
    public static let any: UInt16 = 255

    /// The mnemonic of a type (metrics labels), `other` for the rest.
    static func name(_ t: UInt16) -> String {
        switch t {
        case a: return "A"
        case ns: return "NS"
        case cname: return "CNAME"
        case soa: return "SOA"
        case ptr: return "PTR"
        case mx: return "MX"
        case txt: return "TXT"
        case aaaa: return "AAAA"
        case srv: return "SRV"
        case any: return "ANY"
        default: return "other"
        }
    }
}

/// Response codes (RFC 1035 §4.1.1; BADVERS from RFC 6891 is 16, carried partly in the OPT record).
public enum DNSRcode {
    public static let noError: UInt16 = 0
    public static let formatError: UInt16 = 1
    public static let serverFailure: UInt16 = 2
    public static let nameError: UInt16 = 3
    public static let notImplemented: UInt16 = 4
    public static let refused: UInt16 = 5
    public static let badVersion: UInt16 = 16

    static func name(_ r: UInt16) -> String {
        switch r {
        case noError: return "NOERROR"
        case formatError: return "FORMERR"
        case serverFailure: return "SERVFAIL"
        case nameError: return "NXDOMAIN"
        case notImplemented: return "NOTIMP"
        case refused: return "REFUSED"
        case badVersion: return "BADVERS"
        default: return String(r)
        }
    }
}

/// The IN class (RFC 1035 §3.2.4).
public let dnsClassIN: UInt16 = 1

/// An IPv4 or IPv6 address as the bytes an A or AAAA record carries.
public enum DNSAddress: Hashable, Sendable, CustomStringConvertible {
    case v4(UInt32)
    case v6(UInt64, UInt64)

    /// Parses dotted-quad IPv4 or RFC 4291 text IPv6 (with `::` and an embedded IPv4 tail).
    public init?(_ text: some StringProtocol) {
        if text.contains(":") {
            guard let (hi, lo) = Self.parseV6(Substring(text)) else { return nil }
            self = .v6(hi, lo)
        } else {
            guard let v = Self.parseV4(Substring(text)) else { return nil }
            self = .v4(v)
        }
    }

    static func parseV4(_ s: Substring) -> UInt32? {
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var v: UInt32 = 0
        for p in parts {
            guard !p.isEmpty, p.count <= 3, p.allSatisfy({ $0.isASCII && $0.isNumber }), let n = UInt32(p), n < 256
            else { return nil }
            v = v << 8 | n
        }
        return v
    }

    static func parseV6(_ s: Substring) -> (UInt64, UInt64)? {
        var groups: [UInt16] = []
        var tail: [UInt16] = []
        var halves: [Substring] = [s]
        let chars = Array(s.utf8)
        if let i = (0..<max(0, chars.count - 1)).first(where: { chars[$0] == 58 && chars[$0 + 1] == 58 }) {
            let cut = s.utf8.index(s.utf8.startIndex, offsetBy: i)
            let after = s.utf8.index(cut, offsetBy: 2)
            halves = [s[s.startIndex..<cut], s[after...]]
            if halves[1].utf8.contains(58), halves[1].utf8.count > 0 {
                let rest = Array(halves[1].utf8)
                if (0..<max(0, rest.count - 1)).contains(where: { rest[$0] == 58 && rest[$0 + 1] == 58 }) { return nil }
            }
        }
        func groupsOf(_ part: Substring) -> [UInt16]? {
            if part.isEmpty { return [] }
            var out: [UInt16] = []
            let pieces = part.split(separator: ":", omittingEmptySubsequences: false)
            for (i, p) in pieces.enumerated() {
                if i == pieces.count - 1, p.contains(".") {
                    guard let v4 = parseV4(p) else { return nil }
                    out += [UInt16(v4 >> 16), UInt16(v4 & 0xffff)]
                } else {
                    guard !p.isEmpty, p.count <= 4, let g = UInt16(p, radix: 16) else { return nil }
                    out.append(g)
                }
            }
            return out
        }
        guard let head = groupsOf(halves[0]) else { return nil }
        groups = head
        if halves.count == 2 {
            guard let t = groupsOf(halves[1]), head.count + t.count < 8 else { return nil }
            tail = t
            groups += [UInt16](repeating: 0, count: 8 - head.count - t.count) + tail
        }
        guard groups.count == 8 else { return nil }
        var hi: UInt64 = 0
        var lo: UInt64 = 0
        for i in 0..<4 { hi = hi << 16 | UInt64(groups[i]) }
        for i in 4..<8 { lo = lo << 16 | UInt64(groups[i]) }
        return (hi, lo)
    }

    public var isV4: Bool { if case .v4 = self { return true } else { return false } }

    public var description: String {
        switch self {
        case .v4(let v): return "\(v >> 24).\(v >> 16 & 255).\(v >> 8 & 255).\(v & 255)"
        case .v6(let hi, let lo):
            var groups: [UInt16] = []
            for i in (0..<4).reversed() { groups.append(UInt16(truncatingIfNeeded: hi >> (UInt64(i) * 16))) }
            for i in (0..<4).reversed() { groups.append(UInt16(truncatingIfNeeded: lo >> (UInt64(i) * 16))) }
            // RFC 5952: the longest run (of two or more) of zero groups becomes "::".
            var best = (start: -1, len: 0)
            var i = 0
            while i < 8 {
                if groups[i] == 0 {
                    var j = i
                    while j < 8 && groups[j] == 0 { j += 1 }
                    if j - i > best.len && j - i >= 2 { best = (i, j - i) }
                    i = j
                } else {
                    i += 1
                }
            }
            let hex = groups.map { String($0, radix: 16) }
            if best.start < 0 { return hex.joined(separator: ":") }
            let left = hex[0..<best.start].joined(separator: ":")
            let right = hex[(best.start + best.len)...].joined(separator: ":")
            return left + "::" + right
        }
    }
}

/// The fields of an SOA record (RFC 1035 §3.3.13).
public struct SOAData: Hashable, Sendable {
    public var mname: DNSName
    public var rname: DNSName
    public var serial: UInt32
    public var refresh: UInt32
    public var retry: UInt32
    public var expire: UInt32
    public var minimum: UInt32

    public init(
        mname: DNSName, rname: DNSName, serial: UInt32, refresh: UInt32, retry: UInt32, expire: UInt32,
        minimum: UInt32
    ) {
        self.mname = mname
        self.rname = rname
        self.serial = serial
        self.refresh = refresh
        self.retry = retry
        self.expire = expire
        self.minimum = minimum
    }
}

/// The data of a resource record, typed for what this server answers; anything else is kept as bytes.
public enum RData: Hashable, Sendable {
    case a(UInt32)
    case aaaa(UInt64, UInt64)
    case ns(DNSName)
    case cname(DNSName)
    case ptr(DNSName)
    case srv(priority: UInt16, weight: UInt16, port: UInt16, target: DNSName)
    case txt([[UInt8]])
    case soa(SOAData)
    case other(type: UInt16, bytes: [UInt8])

    public init(address: DNSAddress) {
        switch address {
        case .v4(let v): self = .a(v)
        case .v6(let hi, let lo): self = .aaaa(hi, lo)
        }
    }

    public var type: UInt16 {
        switch self {
        case .a: return DNSType.a
        case .aaaa: return DNSType.aaaa
        case .ns: return DNSType.ns
        case .cname: return DNSType.cname
        case .ptr: return DNSType.ptr
        case .srv: return DNSType.srv
        case .txt: return DNSType.txt
        case .soa: return DNSType.soa
        case .other(let t, _): return t
        }
    }
}

/// One resource record (RFC 1035 §4.1.3), class IN.
public struct ResourceRecord: Hashable, Sendable {
    public var name: DNSName
    public var ttl: UInt32
    public var data: RData

    public init(name: DNSName, ttl: UInt32, data: RData) {
        self.name = name
        self.ttl = ttl
        self.data = data
    }
}

/// The question of a message (RFC 1035 §4.1.2).
public struct DNSQuestion: Hashable, Sendable {
    public var name: DNSName
    public var type: UInt16
    public var qclass: UInt16

    public init(name: DNSName, type: UInt16, qclass: UInt16 = dnsClassIN) {
        self.name = name
        self.type = type
        self.qclass = qclass
    }
}

/// The EDNS(0) OPT pseudo-record's fields (RFC 6891 §6.1.3).
public struct EDNS: Hashable, Sendable {
    public var udpSize: UInt16
    /// The upper 8 bits of the 12-bit response code.
    public var extendedRcode: UInt8 = 0
    public var version: UInt8 = 0
    public var dnssecOK = false

    public init(udpSize: UInt16, extendedRcode: UInt8 = 0, version: UInt8 = 0, dnssecOK: Bool = false) {
        self.udpSize = udpSize
        self.extendedRcode = extendedRcode
        self.version = version
        self.dnssecOK = dnssecOK
    }
}

/// A whole DNS message: header flags, the four sections and the EDNS pseudo-record taken out of the
/// additional section.
public struct DNSMessage: Hashable, Sendable {
    public var id: UInt16 = 0
    public var isResponse = false
    public var opcode: UInt8 = 0
    public var authoritative = false
    public var truncated = false
    public var recursionDesired = false
    public var recursionAvailable = false
    public var authenticData = false
    public var checkingDisabled = false
    /// The full response code; values above 15 put their upper bits in the OPT record.
    public var rcode: UInt16 = 0
    public var questions: [DNSQuestion] = []
    public var answers: [ResourceRecord] = []
    public var authority: [ResourceRecord] = []
    public var additional: [ResourceRecord] = []
    public var edns: EDNS?

    public init() {}
}

/// Why a message could not be read.
public enum DNSWireError: Error, Equatable, Sendable {
    case truncated
    case badLabel
    case badPointer
    case nameTooLong
    case badRecord
}
