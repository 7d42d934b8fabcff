/// Reads a DNS message from its wire bytes (RFC 1035 §4.1), following name compression pointers.
struct DNSReader {
    let bytes: [UInt8]
    var offset = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    mutating func u8() throws(DNSWireError) -> UInt8 {
        guard offset < bytes.count else { throw .truncated }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func u16() throws(DNSWireError) -> UInt16 {
        guard offset + 2 <= bytes.count else { throw .truncated }
        defer { offset += 2 }
        return UInt16(bytes[offset]) << 8 | UInt16(bytes[offset + 1])
    }

    mutating func u32() throws(DNSWireError) -> UInt32 {
        guard offset + 4 <= bytes.count else { throw .truncated }
        defer { offset += 4 }
        return UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16 | UInt32(bytes[offset + 2]) << 8
            | UInt32(bytes[offset + 3])
    }

    mutating func take(_ n: Int) throws(DNSWireError) -> ArraySlice<UInt8> {
        guard n >= 0, offset + n <= bytes.count else { throw .truncated }
        defer { offset += n }
        return bytes[offset..<(offset + n)]
    }

    /// A name at the current offset; a pointer must point before the label it replaces, so a
    /// malicious loop ends.
    mutating func readName() throws(DNSWireError) -> DNSName {
        var out: [UInt8] = []
        out.reserveCapacity(32)
        var pos = offset
        var jumped = false
        var limit = offset
        while true {
            guard pos < bytes.count else { throw .truncated }
            let len = bytes[pos]
            switch len & 0xC0 {
            case 0xC0:
                guard pos + 1 < bytes.count else { throw .truncated }
                let target = Int(len & 0x3F) << 8 | Int(bytes[pos + 1])
                guard target < limit else { throw .badPointer }
                if !jumped { offset = pos + 2 }
                jumped = true
                limit = target
                pos = target
            case 0x00:
                if len == 0 {
                    out.append(0)
                    if !jumped { offset = pos + 1 }
                    guard out.count <= DNSName.maxWireLength else { throw .nameTooLong }
                    return DNSName(uncheckedWire: out)
                }
                guard pos + 1 + Int(len) <= bytes.count else { throw .truncated }
                out.append(contentsOf: bytes[pos...(pos + Int(len))])
                guard out.count < DNSName.maxWireLength else { throw .nameTooLong }
                pos += 1 + Int(len)
            default:
                throw .badLabel
            }
        }
    }

    mutating func record() throws(DNSWireError) -> (
        name: DNSName, type: UInt16, qclass: UInt16, ttl: UInt32, data: RData
    ) {
        let name = try readName()
        let type = try u16()
        let qclass = try u16()
        let ttl = try u32()
        let length = Int(try u16())
        guard offset + length <= bytes.count else { throw .truncated }
        let end = offset + length
        let data: RData
        switch type {
        case DNSType.a:
            guard length == 4 else { throw .badRecord }
            data = .a(try u32())
        case DNSType.aaaa:
            guard length == 16 else { throw .badRecord }
            let hi = UInt64(try u32()) << 32 | UInt64(try u32())
            let lo = UInt64(try u32()) << 32 | UInt64(try u32())
            data = .aaaa(hi, lo)
        case DNSType.cname: data = .cname(try readName())
        case DNSType.ns: data = .ns(try readName())
        case DNSType.ptr: data = .ptr(try readName())
        case DNSType.srv:
            let priority = try u16(), weight = try u16(), port = try u16()
            data = .srv(priority: priority, weight: weight, port: port, target: try readName())
        case DNSType.soa:
            let m = try readName(), r = try readName()
            data = .soa(
                SOAData(
                    mname: m, rname: r, serial: try u32(), refresh: try u32(), retry: try u32(), expire: try u32(),
                    minimum: try u32()))
        case DNSType.txt:
            var strings: [[UInt8]] = []
            while offset < end {
                let n = Int(try u8())
                strings.append(Array(try take(n)))
            }
            data = .txt(strings)
        default:
            data = .other(type: type, bytes: Array(try take(length)))
        }
        guard offset == end else { throw .badRecord }
        return (name, type, qclass, ttl, data)
    }
}

extension DNSMessage {
    /// Reads a whole message; an OPT record in the additional section becomes `edns`.
    public static func parse(_ bytes: [UInt8]) throws(DNSWireError) -> DNSMessage {
        var r = DNSReader(bytes)
        var m = DNSMessage()
        m.id = try r.u16()
        let flags = try r.u16()
        m.isResponse = flags & 0x8000 != 0
        m.opcode = UInt8(flags >> 11 & 0xF)
        m.authoritative = flags & 0x0400 != 0
        m.truncated = flags & 0x0200 != 0
        m.recursionDesired = flags & 0x0100 != 0
        m.recursionAvailable = flags & 0x0080 != 0
        m.authenticData = flags & 0x0020 != 0
        m.checkingDisabled = flags & 0x0010 != 0
        m.rcode = flags & 0xF
        let qd = try r.u16(), an = try r.u16(), ns = try r.u16(), ar = try r.u16()
        for _ in 0..<qd {
            let name = try r.readName()
            m.questions.append(DNSQuestion(name: name, type: try r.u16(), qclass: try r.u16()))
        }
        func rr(_ r: inout DNSReader) throws(DNSWireError) -> ResourceRecord {
            let x = try r.record()
            return ResourceRecord(name: x.name, ttl: x.ttl, data: x.data)
        }
        for _ in 0..<an { m.answers.append(try rr(&r)) }
        for _ in 0..<ns { m.authority.append(try rr(&r)) }
        for _ in 0..<ar {
            let x = try r.record()
            if x.type == DNSType.opt {
                guard x.name.wire == [0], m.edns == nil else { throw .badRecord }
                m.edns = EDNS(
                    udpSize: x.qclass, extendedRcode: UInt8(x.ttl >> 24), version: UInt8(x.ttl >> 16 & 0xFF),
                    dnssecOK: x.ttl & 0x8000 != 0)
                m.rcode |= UInt16(x.ttl >> 24) << 4
            } else {
                m.additional.append(ResourceRecord(name: x.name, ttl: x.ttl, data: x.data))
            }
        }
        return m
    }

    /// The wire bytes, names compressed; past `maxSize` the additional records that do not fit are
    /// left out silently, and answer or authority records that do not fit are left out with the TC
    /// bit set (RFC 2181 §9). The OPT record always stays.
    public func encode(maxSize: Int = 65535) -> [UInt8] {
        var w = DNSWriter(capacity: min(maxSize, 4096))
        let optSize = edns == nil ? 0 : 11
        let limit = maxSize - optSize
        var m = self
        w.u16(id)
        w.u16(0)  // flags, written last
        w.u16(UInt16(questions.count))
        w.u16(0)
        w.u16(0)
        w.u16(0)
        for q in questions {
            w.name(q.name)
            w.u16(q.type)
            w.u16(q.qclass)
        }
        var counts = (an: 0, ns: 0, ar: 0)
        var full = false
        for r in answers where !full {
            if w.record(r, limit: limit) { counts.an += 1 } else { full = true }
        }
        for r in authority where !full {
            if w.record(r, limit: limit) { counts.ns += 1 } else { full = true }
        }
        if full { m.truncated = true }
        if !full {
            for r in additional {
                if w.record(r, limit: limit) { counts.ar += 1 } else { break }
            }
        }
        if let e = edns {
            w.u8(0)
            w.u16(DNSType.opt)
            w.u16(e.udpSize)
            w.u8(UInt8(truncatingIfNeeded: rcode >> 4))
            w.u8(e.version)
            w.u16(e.dnssecOK ? 0x8000 : 0)
            w.u16(0)
            counts.ar += 1
        }
        var flags: UInt16 = 0
        if m.isResponse { flags |= 0x8000 }
        flags |= UInt16(opcode & 0xF) << 11
        if authoritative { flags |= 0x0400 }
        if m.truncated { flags |= 0x0200 }
        if recursionDesired { flags |= 0x0100 }
        if recursionAvailable { flags |= 0x0080 }
        if authenticData { flags |= 0x0020 }
        if checkingDisabled { flags |= 0x0010 }
        flags |= rcode & 0xF
        w.set16(flags, at: 2)
        w.set16(UInt16(counts.an), at: 6)
        w.set16(UInt16(counts.ns), at: 8)
        w.set16(UInt16(counts.ar), at: 10)
        return w.bytes
    }
}

/// Writes a message, compressing each name against the names already written (RFC 1035 §4.1.4):
/// the longest suffix seen before becomes a pointer.
struct DNSWriter {
    var bytes: [UInt8]
    /// Offsets (below 0x4000) where a name suffix was written, with a hash of the suffix in lower case.
    var suffixes: [(hash: UInt64, offset: Int)] = []

    init(capacity: Int) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u16(_ v: UInt16) {
        bytes.append(UInt8(v >> 8))
        bytes.append(UInt8(v & 0xFF))
    }
    mutating func u32(_ v: UInt32) {
        u16(UInt16(v >> 16))
        u16(UInt16(v & 0xFFFF))
    }
    mutating func set16(_ v: UInt16, at i: Int) {
        bytes[i] = UInt8(v >> 8)
        bytes[i + 1] = UInt8(v & 0xFF)
    }

    static func hash(_ wire: [UInt8], from start: Int) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for i in start..<wire.count {
            h = (h ^ UInt64(DNSName.lower(wire[i]))) &* 0x100_0000_01b3
        }
        return h
    }

    /// Whether the name written at `offset` (following pointers) equals `wire[start...]`, ignoring case.
    func matches(_ wire: [UInt8], from start: Int, at offset: Int) -> Bool {
        var i = start
        var p = offset
        var hops = 0
        while true {
            var len = bytes[p]
            while len & 0xC0 == 0xC0 {
                hops += 1
                if hops > 64 { return false }
                p = Int(len & 0x3F) << 8 | Int(bytes[p + 1])
                len = bytes[p]
            }
            guard wire[i] == len else { return false }
            if len == 0 { return true }
            for k in 1...Int(len) where DNSName.lower(wire[i + k]) != DNSName.lower(bytes[p + k]) { return false }
            i += Int(len) + 1
            p += Int(len) + 1
        }
    }

    mutating func name(_ n: DNSName) {
        let wire = n.wire
        var start = 0
        var written: [(hash: UInt64, offset: Int)] = []
        while wire[start] != 0 {
            let h = Self.hash(wire, from: start)
            if let hit = suffixes.first(where: { $0.hash == h && matches(wire, from: start, at: $0.offset) }) {
                u16(0xC000 | UInt16(hit.offset))
                suffixes += written
                return
            }
            if bytes.count < 0x4000 { written.append((h, bytes.count)) }
            let len = Int(wire[start])
            bytes.append(contentsOf: wire[start...(start + len)])
            start += len + 1
        }
        bytes.append(0)
        suffixes += written
    }

    /// Appends a record unless it would pass `limit`; false (and nothing written) when it would.
    mutating func record(_ r: ResourceRecord, limit: Int) -> Bool {
        let mark = bytes.count
        let suffixMark = suffixes.count
        name(r.name)
        u16(r.data.type)
        u16(dnsClassIN)
        u32(r.ttl)
        let lengthAt = bytes.count
        u16(0)
        switch r.data {
        case .a(let v): u32(v)
        case .aaaa(let hi, let lo):
            u32(UInt32(hi >> 32))
            u32(UInt32(hi & 0xFFFF_FFFF))
            u32(UInt32(lo >> 32))
            u32(UInt32(lo & 0xFFFF_FFFF))
        case .ns(let n), .cname(let n), .ptr(let n): name(n)
        case .srv(let priority, let weight, let port, let target):
            u16(priority)
            u16(weight)
            u16(port)
            // RFC 2782: the target is not compressed.
            bytes.append(contentsOf: target.wire)
        case .txt(let strings):
            for s in strings {
                let chunk = s.prefix(255)
                u8(UInt8(chunk.count))
                bytes.append(contentsOf: chunk)
            }
        case .soa(let s):
            name(s.mname)
            name(s.rname)
            u32(s.serial)
            u32(s.refresh)
            u32(s.retry)
            u32(s.expire)
            u32(s.minimum)
        case .other(_, let b): bytes.append(contentsOf: b)
        }
        if bytes.count > limit {
            bytes.removeSubrange(mark...)
            suffixes.removeSubrange(suffixMark...)
            return false
        }
        set16(UInt16(bytes.count - lengthAt - 2), at: lengthAt)
        return true
    }
}
