/// A domain name in wire form (RFC 1035 §3.1: length-prefixed labels ending in the zero-length root
/// label), kept as bytes so a lookup key, a comparison and an encoding need no text conversion.
public struct DNSName: Hashable, Sendable, CustomStringConvertible {
    /// The labels, each preceded by its length, then a zero byte.
    public private(set) var wire: [UInt8]

    /// The most bytes a name may take on the wire (RFC 1035 §2.3.4).
    public static let maxWireLength = 255
    /// The most bytes a label may hold (RFC 1035 §2.3.4).
    public static let maxLabelLength = 63

    public static let root = DNSName(uncheckedWire: [0])

    init(uncheckedWire: [UInt8]) { wire = uncheckedWire }

    /// A name from its presentation form (`a.b.c` or `a.b.c.`); nil when a label is empty, longer
    /// than 63 bytes, or the whole name longer than 255 bytes. No escapes: names here come from
    /// Kubernetes objects, which allow none.
    public init?(_ text: some StringProtocol) {
        if text == "." {
            wire = [0]
            return
        }
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count + 2)
        var labelStart = 0
        out.append(0)
        for b in text.utf8 {
            if b == UInt8(ascii: ".") {
                let len = out.count - labelStart - 1
                guard len > 0, len <= Self.maxLabelLength else { return nil }
                out[labelStart] = UInt8(len)
                labelStart = out.count
                out.append(0)
            } else {
                out.append(b)
            }
        }
        let last = out.count - labelStart - 1
        if last == 0 {
            // A trailing dot (or the root itself): the placeholder is the root label.
            guard out.count == 1 || labelStart > 0 else { return nil }
        } else {
            guard last <= Self.maxLabelLength else { return nil }
            out[labelStart] = UInt8(last)
            out.append(0)
        }
        guard out.count <= Self.maxWireLength else { return nil }
        wire = out
    }

    /// The same name in ASCII lower case: names compare case-insensitively (RFC 4343), and lookup
    /// keys are kept lowered.
    public var lowercased: DNSName {
        guard wire.contains(where: { $0 >= 65 && $0 <= 90 }) else { return self }
        var w = wire
        var i = 0
        while i < w.count {
            let len = Int(w[i])
            if len == 0 { break }
            for j in (i + 1)...(i + len) where w[j] >= 65 && w[j] <= 90 { w[j] |= 0x20 }
            i += len + 1
        }
        return DNSName(uncheckedWire: w)
    }

    /// The labels' start offsets in `wire` (the root label excluded).
    var labelOffsets: [Int] {
        var out: [Int] = []
        var i = 0
        while i < wire.count, wire[i] != 0 {
            out.append(i)
            i += Int(wire[i]) + 1
        }
        return out
    }

    public var labelCount: Int { labelOffsets.count }

    /// The labels as text, leftmost first.
    public var labels: [String] {
        labelOffsets.map { String(decoding: wire[($0 + 1)...($0 + Int(wire[$0]))], as: UTF8.self) }
    }

    /// Whether this name is `zone` or below it, ignoring case.
    public func isSubdomain(of zone: DNSName) -> Bool { labelsBefore(zone) != nil }

    /// How many labels precede `zone` in this name (0 for the zone itself), nil when not under it.
    public func labelsBefore(_ zone: DNSName) -> Int? {
        let n = wire.count, z = zone.wire.count
        guard n >= z else { return nil }
        var offsets = labelOffsets
        offsets.append(n - 1)
        guard let index = offsets.firstIndex(of: n - z) else { return nil }
        for k in 0..<z where Self.lower(wire[n - z + k]) != Self.lower(zone.wire[k]) { return nil }
        return index
    }

    /// The name without its first `count` labels.
    public func dropping(_ count: Int) -> DNSName {
        var i = 0
        for _ in 0..<count where wire[i] != 0 { i += Int(wire[i]) + 1 }
        return DNSName(uncheckedWire: Array(wire[i...]))
    }

    /// The label at `index` (0 = leftmost) as bytes.
    func label(_ index: Int) -> ArraySlice<UInt8> {
        let o = labelOffsets[index]
        return wire[(o + 1)...(o + Int(wire[o]))]
    }

    static func lower(_ b: UInt8) -> UInt8 { b >= 65 && b <= 90 ? b | 0x20 : b }

    /// Presentation form with the trailing dot, as dig prints it.
    public var description: String {
        if wire.count == 1 { return "." }
        return labels.joined(separator: ".") + "."
    }
}
