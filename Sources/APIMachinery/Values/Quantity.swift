/// `resource.Quantity`: a fixed-point decimal with a suffix, following upstream's parsing,
/// precision (at most nano, rounding away from zero), capping and canonical serialization rules.
///
/// Examples of canonical forms: `1.5Gi` → `1536Mi`, `0.5` → `500m`, `1000` → `1k`, `1000m` → `1`,
/// `1e3` → `1e3`, `0.0000000001` → `1n`. Equality (`==`) compares the serialized form; use
/// `compare(_:)` for numeric order.
public struct Quantity: Sendable, CustomStringConvertible {
    public enum Format: Sendable, Hashable {
        case decimalExponent  // 12e6
        case binarySI  // Ki, Mi, …
        case decimalSI  // m, k, M, …
    }

    /// value = unscaled × 10^scale
    public private(set) var unscaled: Int128
    public private(set) var scale: Int32
    public private(set) var format: Format
    /// The canonical serialization.
    public private(set) var string: String

    /// Zero.
    public init() {
        unscaled = 0
        scale = 0
        format = .decimalSI
        string = "0"
    }

    init(unscaled: Int128, scale: Int32, format: Format) {
        self.unscaled = unscaled
        self.scale = scale
        self.format = format
        self.string = ""
        self.string = canonical()
    }

    /// An integer quantity with the given format.
    public init(_ value: Int64, format: Format = .decimalSI) {
        self.init(unscaled: Int128(value), scale: 0, format: format)
    }

    /// A quantity of `value × 10^scale`, decimal SI.
    public init(_ value: Int64, scale: Int32) {
        self.init(unscaled: Int128(value), scale: scale, format: .decimalSI)
    }

    public var description: String { string }
    public var isZero: Bool { unscaled == 0 }
    public var sign: Int { unscaled == 0 ? 0 : (unscaled < 0 ? -1 : 1) }

    // MARK: parsing

    public enum ParseError: Error, Sendable, Equatable, CustomStringConvertible {
        case formatInvalid, suffix, numeric
        public var description: String {
            switch self {
            case .formatInvalid:
                return "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
            case .suffix: return "unable to parse quantity's suffix"
            case .numeric: return "unable to parse quantity's numeric part"
            }
        }
    }

    static let maxInt64 = Int128(Int64.max)

    /// Parses a quantity string as upstream's `ParseQuantity` does.
    public init(parsing str: String) throws(ParseError) {
        let b = Array(str.utf8)
        if b.isEmpty { throw .formatInvalid }
        var i = 0
        var positive = true
        if b[0] == UInt8(ascii: "+") || b[0] == UInt8(ascii: "-") {
            positive = b[0] == UInt8(ascii: "+")
            i = 1
        }
        var num: [UInt8] = []
        var denom: [UInt8] = []
        while i < b.count, b[i] >= 48, b[i] <= 57 {
            num.append(b[i])
            i += 1
        }
        if i < b.count, b[i] == UInt8(ascii: ".") {
            i += 1
            while i < b.count, b[i] >= 48, b[i] <= 57 {
                denom.append(b[i])
                i += 1
            }
        }
        if num.isEmpty && denom.isEmpty {
            throw .formatInvalid
        }
        if num.isEmpty { num = [48] }
        // Suffix: the rest must match [eEinumkKMGTP]*[-+]?[0-9]*
        let suffixBytes = Array(b[i...])
        var j = 0
        while j < suffixBytes.count, Array("eEinumkKMGTP".utf8).contains(suffixBytes[j]) { j += 1 }
        if j < suffixBytes.count, suffixBytes[j] == UInt8(ascii: "-") || suffixBytes[j] == UInt8(ascii: "+") { j += 1 }
        while j < suffixBytes.count, suffixBytes[j] >= 48, suffixBytes[j] <= 57 { j += 1 }
        if j != suffixBytes.count { throw .formatInvalid }
        let suffix = String(decoding: suffixBytes, as: UTF8.self)
        guard let (base, exponent, format) = Quantity.interpret(suffix) else { throw .suffix }

        // Upstream's exact int64 fast path (only when precision allows).
        var precision: Int32
        var scale: Int32 = 0
        var mantissa: Int64 = 1
        switch format {
        case .decimalExponent, .decimalSI:
            scale = exponent
            precision = 18 - Int32(num.count + denom.count)
        case .binarySI:
            if exponent >= 0 && denom.isEmpty {
                mantissa = Int64(1) << Int64(exponent)
                precision = 15 - Int32(num.count) - Int32(Float(exponent) * 3 / 10) - 1
            } else {
                precision = -1
            }
        }
        if precision >= 0 {
            scale -= Int32(denom.count)
            if scale >= -9 {
                let shifted = num + denom
                guard let value = Int64(String(decoding: shifted, as: UTF8.self)) else { throw .numeric }
                let (r, o) = value.multipliedReportingOverflow(by: mantissa)
                if !o {
                    self.init(unscaled: Int128(positive ? r : -r), scale: scale, format: format)
                    return
                }
            }
        }

        // General path: exact decimal, rounded up to nano, capped at 2^63-1.
        var digits = (num + denom).drop { $0 == 48 }
        var dscale: Int32 = (base == 10 ? exponent : 0) - Int32(denom.count)
        if digits.isEmpty {
            self.init(unscaled: 0, scale: 0, format: format == .binarySI ? .decimalSI : format)
            return
        }
        // Round up to scale -9.
        if dscale < -9 {
            let drop = Int(-9 - dscale)
            if drop >= digits.count {
                digits = [49][...]  // rounds up to 1n
            } else {
                let kept = digits.prefix(digits.count - drop)
                let dropped = digits.suffix(drop)
                var k = Array(kept)
                if dropped.contains(where: { $0 != 48 }) {
                    // increment decimal string
                    var idx = k.count - 1
                    while idx >= 0 {
                        if k[idx] == 57 {
                            k[idx] = 48
                            idx -= 1
                        } else {
                            k[idx] += 1
                            break
                        }
                    }
                    if idx < 0 { k.insert(49, at: 0) }
                }
                digits = k.drop { $0 == 48 }[...]
                if digits.isEmpty { digits = [49][...] }
            }
            dscale = -9
        }
        // Now value = digits × 10^dscale (× 2^exponent for binary). Cap when clearly too large.
        var capped = false
        var u: Int128 = 0
        let intDigits = digits.count + Int(dscale)
        if intDigits > 19 || digits.count > 37 {
            capped = true
        } else {
            for d in digits { u = u * 10 + Int128(d - 48) }
            if base == 2 {
                let (r, o) = u.multipliedReportingOverflow(by: Int128(1) << Int128(exponent))
                if o { capped = true } else { u = r }
            }
        }
        // Compare against the cap at this scale.
        if !capped {
            if dscale >= 0 {
                var v = u
                var s = dscale
                while s > 0 {
                    let (r, o) = v.multipliedReportingOverflow(by: 10)
                    if o || r > Quantity.maxInt64 {
                        capped = true
                        break
                    }
                    v = r
                    s -= 1
                }
                if v > Quantity.maxInt64 { capped = true }
            } else {
                var limit = Quantity.maxInt64
                var s = -dscale
                while s > 0 {
                    limit *= 10
                    s -= 1
                }
                if u > limit { capped = true }
            }
        }
        if capped {
            u = Quantity.maxInt64
            dscale = 0
        }
        var fmt = format
        if fmt == .binarySI && Quantity.lessThanOne(u, dscale) {
            fmt = .decimalSI
        }
        self.init(unscaled: positive ? u : -u, scale: dscale, format: fmt)
    }

    static func lessThanOne(_ u: Int128, _ scale: Int32) -> Bool {
        if u == 0 || scale >= 0 { return false }
        var limit: Int128 = 1
        var s = -scale
        while s > 0 {
            let (r, o) = limit.multipliedReportingOverflow(by: 10)
            if o { return true }
            limit = r
            s -= 1
        }
        return u < limit
    }

    /// Interprets a suffix: (base, exponent, format); nil when unknown.
    static func interpret(_ s: String) -> (Int32, Int32, Format)? {
        switch s {
        case "": return (10, 0, .decimalSI)
        case "n": return (10, -9, .decimalSI)
        case "u": return (10, -6, .decimalSI)
        case "m": return (10, -3, .decimalSI)
        case "k": return (10, 3, .decimalSI)
        case "M": return (10, 6, .decimalSI)
        case "G": return (10, 9, .decimalSI)
        case "T": return (10, 12, .decimalSI)
        case "P": return (10, 15, .decimalSI)
        case "E": return (10, 18, .decimalSI)
        case "Ki": return (2, 10, .binarySI)
        case "Mi": return (2, 20, .binarySI)
        case "Gi": return (2, 30, .binarySI)
        case "Ti": return (2, 40, .binarySI)
        case "Pi": return (2, 50, .binarySI)
        case "Ei": return (2, 60, .binarySI)
        default:
            guard let f = s.first, f == "e" || f == "E", s.count > 1 else { return nil }
            guard let e = Int32(s.dropFirst()) else { return nil }
            return (10, e, .decimalExponent)
        }
    }

    // MARK: canonical form

    func canonical() -> String {
        if unscaled == 0 { return "0" }
        var format = self.format
        if format == .binarySI {
            if compareMagnitude(toInteger: 1024) < 0 {
                format = .decimalSI
            } else if scale < 0 && !isIntegral() {
                format = .decimalSI
            }
        }
        let neg = unscaled < 0
        var m = unscaled.magnitude
        var e = scale
        if format == .binarySI {
            // Integer value, then remove factors of 1024.
            while e < 0 {
                m /= 10
                e += 1
            }
            while e > 0 {
                m *= 10
                e -= 1
            }
            var exp1024 = 0
            while m % 1024 == 0 && exp1024 < 6 {
                m /= 1024
                exp1024 += 1
            }
            let suffix = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"][exp1024]
            return (neg ? "-" : "") + String(m) + suffix
        }
        while m % 10 == 0 {
            m /= 10
            e += 1
        }
        while e % 3 != 0 {
            m *= 10
            e -= 1
        }
        let suffix: String
        if format == .decimalExponent {
            suffix = e == 0 ? "" : "e\(e)"
        } else {
            switch e {
            case -9: suffix = "n"
            case -6: suffix = "u"
            case -3: suffix = "m"
            case 0: suffix = ""
            case 3: suffix = "k"
            case 6: suffix = "M"
            case 9: suffix = "G"
            case 12: suffix = "T"
            case 15: suffix = "P"
            case 18: suffix = "E"
            default: suffix = "e\(e)"
            }
        }
        return (neg ? "-" : "") + String(m) + suffix
    }

    func isIntegral() -> Bool {
        if scale >= 0 { return true }
        var m = unscaled.magnitude
        var s = scale
        while s < 0 {
            if m % 10 != 0 { return false }
            m /= 10
            s += 1
        }
        return true
    }

    /// Compares |self| with a positive integer.
    func compareMagnitude(toInteger n: Int128) -> Int {
        let other = Quantity(unscaled: n, scale: 0, format: .decimalSI, raw: ())
        return Quantity.compareMagnitudes(self.unscaled.magnitude, self.scale, other.unscaled.magnitude, 0)
    }

    init(unscaled: Int128, scale: Int32, format: Format, raw: Void) {
        self.unscaled = unscaled
        self.scale = scale
        self.format = format
        self.string = ""
    }

    static func compareMagnitudes(_ a: UInt128, _ sa: Int32, _ b: UInt128, _ sb: Int32) -> Int {
        if a == 0 || b == 0 { return a == b ? 0 : (a == 0 ? -1 : 1) }
        // Order of magnitude first.
        let da = Int(sa) + String(a).count
        let db = Int(sb) + String(b).count
        if da != db { return da < db ? -1 : 1 }
        // Same magnitude: align to the smaller scale (no overflow: difference ≤ 38 digits).
        var x = a
        var y = b
        if sa > sb {
            for _ in 0..<Int(sa - sb) {
                let (r, o) = x.multipliedReportingOverflow(by: 10)
                if o { return 1 }
                x = r
            }
        } else if sb > sa {
            for _ in 0..<Int(sb - sa) {
                let (r, o) = y.multipliedReportingOverflow(by: 10)
                if o { return -1 }
                y = r
            }
        }
        return x == y ? 0 : (x < y ? -1 : 1)
    }

    /// Numeric comparison: -1, 0 or 1.
    public func compare(_ other: Quantity) -> Int {
        let sa = sign, sb = other.sign
        if sa != sb { return sa < sb ? -1 : 1 }
        let c = Quantity.compareMagnitudes(unscaled.magnitude, scale, other.unscaled.magnitude, other.scale)
        return sa < 0 ? -c : c
    }

    /// The value scaled to 10^scale, rounded away from zero (upstream `ScaledValue`).
    public func scaledValue(_ targetScale: Int32) -> Int64 {
        var m = unscaled.magnitude
        var s = scale
        var inexact = false
        while s < targetScale {
            if m % 10 != 0 { inexact = true }
            m /= 10
            s += 1
        }
        while s > targetScale {
            let (r, o) = m.multipliedReportingOverflow(by: 10)
            if o { return unscaled < 0 ? Int64.min : Int64.max }
            m = r
            s -= 1
        }
        if inexact { m += 1 }
        if m > UInt128(Int64.max) { return unscaled < 0 ? Int64.min : Int64.max }
        return unscaled < 0 ? -Int64(m) : Int64(m)
    }

    /// Rounds to at most `targetScale` fractional precision, away from zero (upstream `RoundUp`).
    public mutating func roundUp(toScale targetScale: Int32) {
        guard scale < targetScale else { return }
        var m = unscaled.magnitude
        var s = scale
        var inexact = false
        while s < targetScale {
            if m % 10 != 0 { inexact = true }
            m /= 10
            s += 1
        }
        if inexact { m += 1 }
        self = Quantity(unscaled: unscaled < 0 ? -Int128(m) : Int128(m), scale: s, format: format)
    }

    /// Upstream's `SetDefaults_ResourceList`: every quantity rounded up to milli precision.
    public static func roundUpToMilli(_ list: inout [String: Quantity]) {
        for (k, v) in list where v.scale < -3 {
            var q = v
            q.roundUp(toScale: -3)
            list[k] = q
        }
    }

    /// Whole units, rounded up (upstream `Value`).
    public var value: Int64 { scaledValue(0) }
    /// Thousandths, rounded up (upstream `MilliValue`).
    public var milliValue: Int64 { scaledValue(-3) }
}

extension Quantity {
    /// The sum, exact; keeps the left side's format unless the left side is zero (upstream `Add`).
    public static func + (a: Quantity, b: Quantity) -> Quantity {
        combine(a, b, negateRight: false)
    }

    /// The difference, exact; formats as `+` does (upstream `Sub`).
    public static func - (a: Quantity, b: Quantity) -> Quantity {
        combine(a, b, negateRight: true)
    }

    public static func += (a: inout Quantity, b: Quantity) { a = a + b }
    public static func -= (a: inout Quantity, b: Quantity) { a = a - b }

    static func combine(_ a: Quantity, _ b: Quantity, negateRight: Bool) -> Quantity {
        let format = a.isZero ? b.format : a.format
        let s = min(a.scale, b.scale)
        func aligned(_ q: Quantity) -> Int128 {
            var v = q.unscaled
            var k = q.scale
            while k > s {
                let (r, o) = v.multipliedReportingOverflow(by: 10)
                if o { return v < 0 ? Int128.min / 2 : Int128.max / 2 }
                v = r
                k -= 1
            }
            return v
        }
        let x = aligned(a)
        let y = negateRight ? -aligned(b) : aligned(b)
        let (sum, o) = x.addingReportingOverflow(y)
        return Quantity(unscaled: o ? (x < 0 ? Int128.min / 2 : Int128.max / 2) : sum, scale: s, format: format)
    }
}

extension Quantity: Hashable {
    public static func == (a: Quantity, b: Quantity) -> Bool { a.string == b.string }
    public func hash(into h: inout Hasher) { h.combine(string) }
}

extension Quantity: Comparable {
    public static func < (a: Quantity, b: Quantity) -> Bool { a.compare(b) < 0 }
}

extension Quantity: ExpressibleByStringLiteral {
    /// For literals in code and tests; an invalid literal is a programming error.
    public init(stringLiteral s: String) {
        do { try self.init(parsing: s) } catch { fatalError("invalid quantity literal \(s): \(error)") }
    }
}

extension Quantity: JSONCodableValue {
    public init(json r: inout JSONReader) throws {
        // Upstream accepts a JSON number too.
        if let c = r.peek(), c == UInt8(ascii: "-") || (c >= 48 && c <= 57) {
            let text = try r.readNumberText(goType: "resource.Quantity")
            do { try self.init(parsing: text) } catch { throw JSONDecodingError(error.description) }
            return
        }
        let s = try r.readString()
        do { try self.init(parsing: s.trimmingSpaces()) } catch { throw JSONDecodingError(error.description) }
    }

    public func encodeJSON(_ w: inout JSONWriter) { w.string(string) }
}

extension Quantity: ProtoMessage {
    public func encodeProto(_ w: inout ProtoWriter) { w.string(0x0A, string) }

    public mutating func decodeProtoField(_ field: Int, _ r: inout ProtoReader) throws -> Bool {
        guard field == 1 else { return false }
        let s = try r.string()
        do { self = try Quantity(parsing: s) } catch { throw ProtoDecodingError(error.description) }
        return true
    }
}

extension String {
    func trimmingSpaces() -> String {
        var s = Substring(self)
        while s.first == " " { s = s.dropFirst() }
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }
}
