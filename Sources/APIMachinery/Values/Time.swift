/// Civil-date arithmetic (days since 1970-01-01 ↔ year/month/day), proleptic Gregorian.
enum CivilDate {
    static func days(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146097 + doe - 719468
    }

    static func civil(days z0: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = z0 + 719468
        let era = (z >= 0 ? z : z - 146096) / 146097
        let doe = z - era * 146097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (m <= 2 ? y + 1 : y, m, d)
    }
}

/// RFC 3339 formatting and parsing shared by `Time` and `MicroTime`.
enum RFC3339 {
    /// Formats seconds since the epoch (UTC) with `fractionDigits` fraction digits (0 or 6).
    static func format(seconds: Int64, nanos: Int32, fractionDigits: Int) -> String {
        let days = seconds >= 0 ? seconds / 86400 : (seconds - 86399) / 86400
        let secOfDay = seconds - days * 86400
        let (y, m, d) = CivilDate.civil(days: days)
        var out: [UInt8] = []
        out.reserveCapacity(32)
        func pad(_ v: Int64, _ width: Int) {
            var digits: [UInt8] = []
            var x = v
            repeat {
                digits.append(UInt8(x % 10) + 48)
                x /= 10
            } while x > 0
            while digits.count < width { digits.append(48) }
            out.append(contentsOf: digits.reversed())
        }
        pad(y, 4)
        out.append(UInt8(ascii: "-"))
        pad(m, 2)
        out.append(UInt8(ascii: "-"))
        pad(d, 2)
        out.append(UInt8(ascii: "T"))
        pad(secOfDay / 3600, 2)
        out.append(UInt8(ascii: ":"))
        pad(secOfDay / 60 % 60, 2)
        out.append(UInt8(ascii: ":"))
        pad(secOfDay % 60, 2)
        if fractionDigits == 6 {
            out.append(UInt8(ascii: "."))
            pad(Int64(nanos / 1000), 6)
        }
        out.append(UInt8(ascii: "Z"))
        return String(decoding: out, as: UTF8.self)
    }

    /// Parses an RFC 3339 timestamp (`2006-01-02T15:04:05[.frac](Z|±hh:mm)`); nil when malformed.
    static func parse(_ s: String) -> (seconds: Int64, nanos: Int32)? {
        let b = Array(s.utf8)
        var i = 0
        func num(_ n: Int) -> Int64? {
            guard i + n <= b.count else { return nil }
            var v: Int64 = 0
            for k in 0..<n {
                let c = b[i + k]
                guard c >= 48 && c <= 57 else { return nil }
                v = v * 10 + Int64(c - 48)
            }
            i += n
            return v
        }
        func lit(_ c: UInt8) -> Bool {
            guard i < b.count, b[i] == c else { return false }
            i += 1
            return true
        }
        guard let y = num(4), lit(UInt8(ascii: "-")), let mo = num(2), lit(UInt8(ascii: "-")), let d = num(2)
        else { return nil }
        guard lit(UInt8(ascii: "T")) || lit(UInt8(ascii: "t")) else { return nil }
        guard let h = num(2), lit(UInt8(ascii: ":")), let mi = num(2), lit(UInt8(ascii: ":")), let se = num(2)
        else { return nil }
        guard (1...12).contains(mo), d >= 1, d <= daysIn(month: mo, year: y), h < 24, mi < 60, se < 60 else {
            return nil
        }
        var nanos: Int64 = 0
        if i < b.count && (b[i] == UInt8(ascii: ".") || b[i] == UInt8(ascii: ",")) {
            i += 1
            var digits = 0
            while i < b.count, b[i] >= 48, b[i] <= 57 {
                if digits < 9 { nanos = nanos * 10 + Int64(b[i] - 48) }
                digits += 1
                i += 1
            }
            if digits == 0 { return nil }
            var k = min(digits, 9)
            while k < 9 {
                nanos *= 10
                k += 1
            }
        }
        var offset: Int64 = 0
        if lit(UInt8(ascii: "Z")) || lit(UInt8(ascii: "z")) {
        } else if i < b.count && (b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-")) {
            let neg = b[i] == UInt8(ascii: "-")
            i += 1
            guard let oh = num(2), lit(UInt8(ascii: ":")), let om = num(2), oh < 24, om < 60 else { return nil }
            offset = (oh * 3600 + om * 60) * (neg ? -1 : 1)
        } else {
            return nil
        }
        guard i == b.count else { return nil }
        let secs = CivilDate.days(year: y, month: mo, day: d) * 86400 + h * 3600 + mi * 60 + se - offset
        return (secs, Int32(nanos))
    }

    static func daysIn(month: Int64, year: Int64) -> Int64 {
        switch month {
        case 2: return (year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }
}

/// Seconds from 0001-01-01 to 1970-01-01: Go's zero `time.Time` as Unix seconds.
let goZeroTimeUnixSeconds: Int64 = -62_135_596_800

/// `metav1.Time`: a timestamp serialized in RFC 3339 with second precision. In API structs it is
/// optional: nil is Go's zero time, written as JSON `null`.
public struct Time: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// Seconds since the Unix epoch.
    public var seconds: Int64
    /// Nanoseconds within the second (kept in memory; JSON carries whole seconds only).
    public var nanos: Int32

    public init() {
        seconds = goZeroTimeUnixSeconds
        nanos = 0
    }

    public init(seconds: Int64, nanos: Int32 = 0) {
        self.seconds = seconds
        self.nanos = nanos
    }

    /// Parses RFC 3339; nil when malformed.
    public init?(rfc3339 s: String) {
        guard let (s, n) = RFC3339.parse(s) else { return nil }
        self.init(seconds: s, nanos: n)
    }

    public var isZero: Bool { seconds == goZeroTimeUnixSeconds && nanos == 0 }
    public var rfc3339: String { RFC3339.format(seconds: seconds, nanos: 0, fractionDigits: 0) }
    public var description: String { rfc3339 }

    public static func < (a: Time, b: Time) -> Bool { (a.seconds, a.nanos) < (b.seconds, b.nanos) }
}

extension Time: JSONCodableValue {
    public init(json r: inout JSONReader) throws {
        let s = try r.readString()
        guard let t = Time(rfc3339: s) else {
            throw JSONDecodingError("parsing time \"\(s)\" as \"2006-01-02T15:04:05Z07:00\": cannot parse")
        }
        self = t
    }

    public func encodeJSON(_ w: inout JSONWriter) {
        if isZero { w.null() } else { w.string(rfc3339) }
    }
}

extension Time: ProtoMessage {
    /// Go writes nothing for a zero time (an empty message).
    public func encodeProto(_ w: inout ProtoWriter) {
        if isZero { return }
        w.int64(0x08, seconds)
        w.int32(0x10, nanos)
    }

    /// Go keeps only whole seconds when reading a Time from protobuf.
    public mutating func decodeProtoField(_ field: Int, _ r: inout ProtoReader) throws -> Bool {
        switch field {
        case 1: seconds = try r.int64()
        case 2: _ = try r.int32()
        default: return false
        }
        nanos = 0
        return true
    }
}

/// `metav1.MicroTime`: a timestamp serialized in RFC 3339 with microsecond precision.
public struct MicroTime: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var seconds: Int64
    public var nanos: Int32

    public init() {
        seconds = goZeroTimeUnixSeconds
        nanos = 0
    }

    public init(seconds: Int64, nanos: Int32 = 0) {
        self.seconds = seconds
        self.nanos = nanos
    }

    public init?(rfc3339 s: String) {
        guard let (s, n) = RFC3339.parse(s) else { return nil }
        self.init(seconds: s, nanos: n)
    }

    public var isZero: Bool { seconds == goZeroTimeUnixSeconds && nanos == 0 }
    public var rfc3339Micro: String { RFC3339.format(seconds: seconds, nanos: nanos, fractionDigits: 6) }
    public var description: String { rfc3339Micro }

    public static func < (a: MicroTime, b: MicroTime) -> Bool { (a.seconds, a.nanos) < (b.seconds, b.nanos) }
}

extension MicroTime: JSONCodableValue {
    public init(json r: inout JSONReader) throws {
        let s = try r.readString()
        guard let t = MicroTime(rfc3339: s) else {
            throw JSONDecodingError("parsing time \"\(s)\" as \"2006-01-02T15:04:05.000000Z07:00\": cannot parse")
        }
        self = t
    }

    public func encodeJSON(_ w: inout JSONWriter) {
        if isZero { w.null() } else { w.string(rfc3339Micro) }
    }
}

extension MicroTime: ProtoMessage {
    public func encodeProto(_ w: inout ProtoWriter) {
        if isZero { return }
        w.int64(0x08, seconds)
        w.int32(0x10, nanos)
    }

    public mutating func decodeProtoField(_ field: Int, _ r: inout ProtoReader) throws -> Bool {
        switch field {
        case 1: seconds = try r.int64()
        case 2: nanos = try r.int32()
        default: return false
        }
        return true
    }
}

/// A value whose zero form is represented as nil in API structs (Time, MicroTime).
public protocol NullableWhenZero: ProtoMessage {
    var isZero: Bool { get }
}

extension Time: NullableWhenZero {}
extension MicroTime: NullableWhenZero {}

extension ProtoReader {
    /// Reads a Time-like message; a zero value becomes nil.
    @inlinable
    public mutating func nullable<T: NullableWhenZero>() throws -> T? {
        let v: T = try message()
        return v.isZero ? nil : v
    }

    /// Appends a repeated scalar, accepting both unpacked and packed encodings.
    @inlinable
    public mutating func appendRepeated<T>(_ a: inout [T], _ read: (inout ProtoReader) throws -> T) throws {
        if wireType == 2 {
            let n = try readLength()
            let savedEnd = end
            end = pos + n
            wireType = 0
            while pos < end { a.append(try read(&self)) }
            pos = end
            end = savedEnd
        } else {
            a.append(try read(&self))
        }
    }
}

/// `metav1.Duration`: JSON is Go's duration string (`1h2m3s`), protobuf carries nanoseconds.
public struct Duration: Hashable, Sendable, CustomStringConvertible {
    public var nanoseconds: Int64

    public init() { nanoseconds = 0 }
    public init(nanoseconds: Int64) { self.nanoseconds = nanoseconds }
    public init(seconds: Int64) { nanoseconds = seconds * 1_000_000_000 }

    public var description: String { GoDuration.format(nanoseconds) }
}

extension Duration: JSONCodableValue {
    public init(json r: inout JSONReader) throws {
        let s = try r.readString()
        guard let n = GoDuration.parse(s) else { throw JSONDecodingError("time: invalid duration \"\(s)\"") }
        nanoseconds = n
    }

    public func encodeJSON(_ w: inout JSONWriter) { w.string(GoDuration.format(nanoseconds)) }
}

extension Duration: ProtoMessage {
    public func encodeProto(_ w: inout ProtoWriter) { w.int64(0x08, nanoseconds) }

    public mutating func decodeProtoField(_ field: Int, _ r: inout ProtoReader) throws -> Bool {
        guard field == 1 else { return false }
        nanoseconds = try r.int64()
        return true
    }
}

/// Go's `time.Duration` text form.
public enum GoDuration {
    public static func format(_ d: Int64) -> String {
        if d == 0 { return "0s" }
        let neg = d < 0
        var u = d.magnitude
        var out = ""
        if u < 1_000_000_000 {
            // Sub-second: ns, µs or ms with a fraction.
            let (unit, scale): (String, UInt64)
            if u < 1000 {
                return (neg ? "-" : "") + "\(u)ns"
            } else if u < 1_000_000 {
                (unit, scale) = ("µs", 1000)
            } else {
                (unit, scale) = ("ms", 1_000_000)
            }
            return (neg ? "-" : "") + fraction(u, scale) + unit
        }
        let h = u / 3_600_000_000_000
        u -= h * 3_600_000_000_000
        let m = u / 60_000_000_000
        u -= m * 60_000_000_000
        if h > 0 { out += "\(h)h" }
        if h > 0 || m > 0 { out += "\(m)m" }
        out += fraction(u, 1_000_000_000) + "s"
        return (neg ? "-" : "") + out
    }

    static func fraction(_ v: UInt64, _ scale: UInt64) -> String {
        let whole = v / scale
        let frac = v % scale
        if frac == 0 { return "\(whole)" }
        var digits = String(frac)
        let width = String(scale).count - 1
        digits = String(repeating: "0", count: width - digits.count) + digits
        while digits.hasSuffix("0") { digits.removeLast() }
        return "\(whole).\(digits)"
    }

    /// Parses `[-+]?([0-9]*(\.[0-9]*)?[a-z]+)+`; nil when malformed.
    public static func parse(_ s: String) -> Int64? {
        var b = Array(s.utf8)[...]
        var neg = false
        if let f = b.first, f == UInt8(ascii: "-") || f == UInt8(ascii: "+") {
            neg = f == UInt8(ascii: "-")
            b = b.dropFirst()
        }
        if b.elementsEqual("0".utf8) { return 0 }
        if b.isEmpty { return nil }
        var total: Double = 0
        while !b.isEmpty {
            var intPart = ""
            while let c = b.first, c >= 48, c <= 57 {
                intPart.append(Character(Unicode.Scalar(c)))
                b = b.dropFirst()
            }
            var fracPart = ""
            if b.first == UInt8(ascii: ".") {
                b = b.dropFirst()
                while let c = b.first, c >= 48, c <= 57 {
                    fracPart.append(Character(Unicode.Scalar(c)))
                    b = b.dropFirst()
                }
            }
            if intPart.isEmpty && fracPart.isEmpty { return nil }
            var unit = ""
            while let c = b.first, !(c >= 48 && c <= 57), c != UInt8(ascii: ".") {
                unit.append(Character(Unicode.Scalar(c)))
                b = b.dropFirst()
                if unit.count > 3 { break }
            }
            let scale: Double
            switch unit {
            case "ns": scale = 1
            case "us", "µs", "μs": scale = 1e3
            case "ms": scale = 1e6
            case "s": scale = 1e9
            case "m": scale = 60e9
            case "h": scale = 3600e9
            default: return nil
            }
            total +=
                (Double((intPart.isEmpty ? "0" : intPart) + "." + (fracPart.isEmpty ? "0" : fracPart)) ?? 0) * scale
        }
        if total > 9.223372036854775807e18 { return nil }
        let v = Int64(total.rounded())
        return neg ? -v : v
    }
}
