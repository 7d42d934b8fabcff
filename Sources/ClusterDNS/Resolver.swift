/// What the cluster zone says to one question.
public enum Resolution: Equatable, Sendable {
    /// An answer from the zone. `chase` names a CNAME target outside the zone whose records an
    /// upstream server may add (an ExternalName service, spec §2.5).
    case answer(ZoneAnswer, chase: DNSQuestion?)
    /// The name is not ours: ask the upstream servers (CoreDNS's `forward`, or `fallthrough` for
    /// reverse names no service has).
    case forward
}

/// The sections and code of an answer the zone gives.
public struct ZoneAnswer: Equatable, Sendable {
    public var rcode: UInt16
    public var answers: [ResourceRecord] = []
    public var authority: [ResourceRecord] = []
    public var additional: [ResourceRecord] = []

    public init(
        rcode: UInt16, answers: [ResourceRecord] = [], authority: [ResourceRecord] = [],
        additional: [ResourceRecord] = []
    ) {
        self.rcode = rcode
        self.answers = answers
        self.authority = authority
        self.additional = additional
    }

    /// NOERROR with no answer (NODATA) or NXDOMAIN: both carry the zone's SOA (RFC 2308).
    public var isNegative: Bool { answers.isEmpty }
}

extension RecordTable {
    /// The schema version of the specification this zone follows, as CoreDNS serves it.
    public static let schemaVersion = "1.1.0"
    /// The TTL of the `dns-version` TXT record (CoreDNS's).
    static let schemaTTL: UInt32 = 28800

    static let inAddrArpa = DNSName("in-addr.arpa")!
    static let ip6Arpa = DNSName("ip6.arpa")!

    /// The zone's SOA as CoreDNS's kubernetes plugin writes it: `ns.dns.<zone>`,
    /// `hostmaster.<zone>`, refresh 7200, retry 1800, expire 86400, minimum and TTL the zone's TTL
    /// (at most 300).
    public var soa: ResourceRecord {
        ResourceRecord(
            name: zone, ttl: min(ttl, 300),
            data: .soa(
                SOAData(
                    mname: DNSName("ns.dns.\(zoneText)") ?? zone, rname: DNSName("hostmaster.\(zoneText)") ?? zone,
                    serial: serial, refresh: 7200, retry: 1800, expire: 86400, minimum: ttl)))
    }

    func negative(_ rcode: UInt16) -> Resolution { .answer(ZoneAnswer(rcode: rcode, authority: [soa]), chase: nil) }
    var nodata: Resolution { negative(DNSRcode.noError) }
    var nxdomain: Resolution { negative(DNSRcode.nameError) }

    /// Answers one question from the zone (CoreDNS's kubernetes plugin with `pods insecure`,
    /// `fallthrough in-addr.arpa ip6.arpa`); a name outside it is forwarded.
    public func resolve(_ q: DNSQuestion) -> Resolution { resolve(q, depth: 0) }

    func resolve(_ q: DNSQuestion, depth: Int) -> Resolution {
        let key = q.name.lowercased
        guard let k = key.labelsBefore(zone) else {
            if q.type == DNSType.ptr, let a = Self.reverseAddress(key) {
                let targets = reverseTargets(a)
                if !targets.isEmpty {
                    return .answer(
                        ZoneAnswer(
                            rcode: DNSRcode.noError,
                            answers: targets.map { ResourceRecord(name: q.name, ttl: ttl, data: .ptr($0)) }),
                        chase: nil)
                }
            }
            return .forward
        }
        if k == 0 {
            if q.type == DNSType.soa { return .answer(ZoneAnswer(rcode: DNSRcode.noError, answers: [soa]), chase: nil) }
            return nodata
        }
        let labels = key.labels
        let last = labels[k - 1]
        if q.type == DNSType.txt && k == 1 && last == "dns-version" {
            // spec §2.2.
            let txt = ResourceRecord(name: q.name, ttl: Self.schemaTTL, data: .txt([Array(Self.schemaVersion.utf8)]))
            return .answer(ZoneAnswer(rcode: DNSRcode.noError, answers: [txt]), chase: nil)
        }
        guard last == "svc" || last == "pod" else { return nxdomain }
        // `svc.<zone>`, `pod.<zone>` and `<ns>.svc.<zone>` are names without records (NODATA), as
        // CoreDNS's parser decides; more than two labels before the service is never a name.
        if k <= 2 { return nodata }
        if k > 5 { return nxdomain }
        if last == "pod" { return pod(q, label: labels[k - 3]) }
        guard let entry = names[key] else { return nxdomain }
        return answer(q, entry, depth: depth)
    }

    /// `<a-b-c-d>.<ns>.pod.<zone>`: the address in the name, whatever pods exist (CoreDNS's
    /// `pods insecure`, spec §2.6); labels before the pod's are ignored, as CoreDNS does.
    func pod(_ q: DNSQuestion, label: String) -> Resolution {
        let dashes = label.filter { $0 == "-" }.count
        let text =
            dashes == 3 && !label.contains("--")
            ? label.replacingDashes(with: ".") : label.replacingDashes(with: ":")
        guard let a = DNSAddress(text) else { return nxdomain }
        if (q.type == DNSType.a && a.isV4) || (q.type == DNSType.aaaa && !a.isV4) {
            return .answer(
                ZoneAnswer(
                    rcode: DNSRcode.noError, answers: [ResourceRecord(name: q.name, ttl: ttl, data: RData(address: a))]),
                chase: nil)
        }
        return nodata
    }

    func answer(_ q: DNSQuestion, _ e: NameEntry, depth: Int) -> Resolution {
        var out = ZoneAnswer(rcode: DNSRcode.noError)
        switch q.type {
        case DNSType.a, DNSType.aaaa, DNSType.txt:
            if let target = e.cname { return follow(q, target, depth: depth) }
            if q.type == DNSType.txt { return nodata }
            let v4 = q.type == DNSType.a
            for a in e.addresses where a.isV4 == v4 {
                out.answers.append(ResourceRecord(name: q.name, ttl: ttl, data: RData(address: a)))
            }
        case DNSType.cname:
            if let target = e.cname { out.answers = [ResourceRecord(name: q.name, ttl: ttl, data: .cname(target))] }
        case DNSType.srv:
            out.answers = e.srv.map { ResourceRecord(name: q.name, ttl: ttl, data: $0) }
            out.additional = e.srvExtra
        default:
            break
        }
        if out.answers.isEmpty { return nodata }
        return .answer(out, chase: nil)
    }

    /// An ExternalName's CNAME: a target in the zone is answered from it (only when it has records,
    /// as CoreDNS), one outside is left for the upstream servers.
    func follow(_ q: DNSQuestion, _ target: DNSName, depth: Int) -> Resolution {
        let cname = ResourceRecord(name: q.name, ttl: ttl, data: .cname(target))
        if target.lowercased == q.name.lowercased || depth >= 8 { return nodata }
        guard target.isSubdomain(of: zone) else {
            return .answer(
                ZoneAnswer(rcode: DNSRcode.noError, answers: [cname]),
                chase: DNSQuestion(name: target, type: q.type, qclass: q.qclass))
        }
        let next = resolve(DNSQuestion(name: target, type: q.type, qclass: q.qclass), depth: depth + 1)
        guard case .answer(let a, let chase) = next, !a.answers.isEmpty else { return nodata }
        return .answer(ZoneAnswer(rcode: DNSRcode.noError, answers: [cname] + a.answers), chase: chase)
    }

    /// The address a reverse name stands for: `d.c.b.a.in-addr.arpa` or 32 nibbles under ip6.arpa.
    static func reverseAddress(_ name: DNSName) -> DNSAddress? {
        if name.labelsBefore(inAddrArpa) == 4 {
            var v: UInt32 = 0
            for label in name.labels.prefix(4).reversed() {
                guard label.count <= 3, label.allSatisfy({ $0.isASCII && $0.isNumber }), let n = UInt32(label),
                    n < 256
                else { return nil }
                v = v << 8 | n
            }
            return .v4(v)
        }
        if name.labelsBefore(ip6Arpa) == 32 {
            var hi: UInt64 = 0
            var lo: UInt64 = 0
            for (i, label) in name.labels.prefix(32).reversed().enumerated() {
                guard label.count == 1, let n = UInt64(label, radix: 16) else { return nil }
                if i < 16 { hi = hi << 4 | n } else { lo = lo << 4 | n }
            }
            return .v6(hi, lo)
        }
        return nil
    }
}

extension String {
    func replacingDashes(with c: Character) -> String { String(map { $0 == "-" ? c : $0 }) }
}
