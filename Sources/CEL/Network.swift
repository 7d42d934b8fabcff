/// An IP address (`ip('10.0.0.1')`): the Kubernetes CEL IP library's value. IPv4 is four bytes,
/// IPv6 sixteen; zones and IPv4-mapped IPv6 addresses are rejected as upstream rejects them.
public struct IPAddress: OpaqueValue, Hashable {
    public var typeName: String { "net.IP" }
    public var bytes: [UInt8]

    public init(bytes: [UInt8]) { self.bytes = bytes }

    /// Parses as Go's netip.ParseAddr does (no leading zeros in IPv4 octets, no zone).
    public init?(_ s: String) {
        if s.contains(":") {
            guard let b = Self.parse6(s) else { return nil }
            bytes = b
        } else {
            guard let b = Self.parse4(Substring(s)) else { return nil }
            bytes = b
        }
    }

    static func parse4(_ s: Substring) -> [UInt8]? {
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var out: [UInt8] = []
        for p in parts {
            guard !p.isEmpty, p.count <= 3, p.allSatisfy({ $0.isASCII && $0.isNumber }),
                p.count == 1 || p.first != "0", let v = UInt8(p)
            else { return nil }
            out.append(v)
        }
        return out
    }

    static func parse6(_ s: String) -> [UInt8]? {
        guard !s.contains("%") else { return nil }
        let halves = s.components(separatedBy: "::")
        guard halves.count <= 2 else { return nil }
        func groups(_ part: String, allowV4: Bool) -> [UInt8]? {
            if part.isEmpty { return [] }
            var out: [UInt8] = []
            let items = part.split(separator: ":", omittingEmptySubsequences: false)
            for (n, g) in items.enumerated() {
                if allowV4 && n == items.count - 1 && g.contains(".") {
                    guard let v4 = parse4(g) else { return nil }
                    out += v4
                } else {
                    guard !g.isEmpty, g.count <= 4, let v = UInt16(g, radix: 16) else { return nil }
                    out += [UInt8(v >> 8), UInt8(v & 0xff)]
                }
            }
            return out
        }
        var result: [UInt8]
        if halves.count == 2 {
            guard let a = groups(halves[0], allowV4: false), let b = groups(halves[1], allowV4: true),
                a.count + b.count <= 14
            else { return nil }
            result = a + Array(repeating: 0, count: 16 - a.count - b.count) + b
        } else {
            guard let a = groups(halves[0], allowV4: true), a.count == 16 else { return nil }
            result = a
        }
        return result
    }

    var isIPv4MappedIPv6: Bool {
        bytes.count == 16 && bytes[0..<10].allSatisfy { $0 == 0 } && bytes[10] == 0xff && bytes[11] == 0xff
    }

    public var description: String {
        if bytes.count == 4 { return bytes.map { String($0) }.joined(separator: ".") }
        let groups = stride(from: 0, to: 16, by: 2).map { UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]) }
        // RFC 5952: compress the longest run (of two or more) of zero groups, leftmost on a tie.
        var best = (start: -1, length: 0)
        var i = 0
        while i < 8 {
            if groups[i] == 0 {
                var j = i
                while j < 8 && groups[j] == 0 { j += 1 }
                if j - i > best.length && j - i >= 2 { best = (i, j - i) }
                i = j
            } else {
                i += 1
            }
        }
        func hex(_ r: ArraySlice<UInt16>) -> String { r.map { String($0, radix: 16) }.joined(separator: ":") }
        if best.start < 0 { return hex(groups[...]) }
        return hex(groups[..<best.start]) + "::" + hex(groups[(best.start + best.length)...])
    }

    var family: Int64 { bytes.count == 4 ? 4 : 6 }

    var isUnspecified: Bool { bytes.allSatisfy { $0 == 0 } }
    var isLoopback: Bool { bytes.count == 4 ? bytes[0] == 127 : bytes == Array(repeating: 0, count: 15) + [1] }
    var isLinkLocalMulticast: Bool {
        bytes.count == 4
            ? bytes[0] == 224 && bytes[1] == 0 && bytes[2] == 0 : bytes[0] == 0xff && bytes[1] & 0x0f == 0x02
    }
    var isLinkLocalUnicast: Bool {
        bytes.count == 4 ? bytes[0] == 169 && bytes[1] == 254 : bytes[0] == 0xfe && bytes[1] & 0xc0 == 0x80
    }
    var isMulticast: Bool { bytes.count == 4 ? bytes[0] & 0xf0 == 0xe0 : bytes[0] == 0xff }
    /// Go's netip.Addr.IsGlobalUnicast: not unspecified, loopback, multicast, link-local or broadcast.
    var isGlobalUnicast: Bool {
        if bytes.count == 4 && bytes == [255, 255, 255, 255] { return false }
        return !isUnspecified && !isLoopback && !isMulticast && !isLinkLocalUnicast
    }

    func masked(_ prefix: Int) -> IPAddress {
        var out = bytes
        for i in 0..<out.count {
            let keep = max(0, min(8, prefix - i * 8))
            out[i] &= keep == 0 ? 0 : UInt8(truncatingIfNeeded: 0xff << (8 - keep))
        }
        return IPAddress(bytes: out)
    }
}

/// An IP prefix (`cidr('10.0.0.0/8')`): the Kubernetes CEL CIDR library's value.
public struct CIDR: OpaqueValue, Hashable {
    public var typeName: String { "net.CIDR" }
    public var address: IPAddress
    public var prefixLength: Int

    public init?(_ s: String) {
        let parts = s.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let a = IPAddress(String(parts[0])), !a.isIPv4MappedIPv6,
            parts[1].allSatisfy({ $0.isASCII && $0.isNumber }), parts[1].count <= 3,
            parts[1].count == 1 || parts[1].first != "0", let n = Int(parts[1]), n <= a.bytes.count * 8
        else { return nil }
        address = a
        prefixLength = n
    }

    init(address: IPAddress, prefixLength: Int) {
        self.address = address
        self.prefixLength = prefixLength
    }

    public var description: String { "\(address.description)/\(prefixLength)" }

    func contains(_ ip: IPAddress) -> Bool {
        ip.bytes.count == address.bytes.count && ip.masked(prefixLength) == address.masked(prefixLength)
    }
}

enum Network {
    static func ip(_ s: String) throws(EvalError) -> IPAddress {
        guard let a = IPAddress(s) else {
            throw EvalError(
                "IP Address '\(s)' parse error during conversion from string: ParseAddr(\"\(s)\"): unable to parse IP")
        }
        if a.isIPv4MappedIPv6 {
            throw EvalError("IPv4-mapped IPv6 address \"\(s)\" is not allowed")
        }
        return a
    }

    static func cidr(_ s: String) throws(EvalError) -> CIDR {
        guard let c = CIDR(s) else {
            throw EvalError(
                "network address parse error during conversion from string: netip.ParsePrefix(\"\(s)\"): bad prefix")
        }
        return c
    }

    static func apply(_ name: String, _ v: [Value]) throws(EvalError) -> Value? {
        switch (name, v.first, v.count) {
        case ("ip", .string(let s)?, 1): return .opaque(try ip(s))
        case ("isIP", .string(let s)?, 1): return .bool(IPAddress(s).map { !$0.isIPv4MappedIPv6 } ?? false)
        case ("ip.isCanonical", .string(let s)?, 1): return .bool(try ip(s).description == s)
        case ("cidr", .string(let s)?, 1): return .opaque(try cidr(s))
        case ("isCIDR", .string(let s)?, 1): return .bool(CIDR(s) != nil)
        case ("string", .opaque(let a as IPAddress)?, 1): return .string(a.description)
        case ("string", .opaque(let c as CIDR)?, 1): return .string(c.description)
        case (_, .opaque(let a as IPAddress)?, 1):
            switch name {
            case "family": return .int(a.family)
            case "isUnspecified": return .bool(a.isUnspecified)
            case "isLoopback": return .bool(a.isLoopback)
            case "isLinkLocalMulticast": return .bool(a.isLinkLocalMulticast)
            case "isLinkLocalUnicast": return .bool(a.isLinkLocalUnicast)
            case "isGlobalUnicast": return .bool(a.isGlobalUnicast)
            default: return nil
            }
        case (_, .opaque(let c as CIDR)?, _):
            switch (name, v.count) {
            case ("ip", 1): return .opaque(c.address)
            case ("masked", 1):
                return .opaque(CIDR(address: c.address.masked(c.prefixLength), prefixLength: c.prefixLength))
            case ("prefixLength", 1): return .int(Int64(c.prefixLength))
            case ("containsIP", 2):
                switch v[1] {
                case .opaque(let a as IPAddress): return .bool(c.contains(a))
                case .string(let s): return .bool(c.contains(try ip(s)))
                default: return nil
                }
            case ("containsCIDR", 2):
                let other: CIDR
                switch v[1] {
                case .opaque(let o as CIDR): other = o
                case .string(let s): other = try cidr(s)
                default: return nil
                }
                return .bool(other.prefixLength >= c.prefixLength && c.contains(other.address))
            default: return nil
            }
        default: return nil
        }
    }
}
