import Foundation

/// Timestamps and durations: RFC 3339 and Go duration text, calendar getters in a time zone,
/// arithmetic and comparison, as cel-go implements `google.protobuf.Timestamp` and `Duration`.
enum Time {
    static let nanosPerSecond: Int64 = 1_000_000_000

    // MARK: Civil calendar (proleptic Gregorian), after Howard Hinnant's days-from-civil.

    static func daysFromCivil(_ y0: Int64, _ m: Int64, _ d: Int64) -> Int64 {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146097 + doe - 719468
    }

    static func civilFromDays(_ z0: Int64) -> (year: Int64, month: Int64, day: Int64) {
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

    static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 { a >= 0 ? a / b : -((-a + b - 1) / b) }

    // MARK: Parsing and formatting

    /// RFC 3339 (`2006-01-02T15:04:05.999999999Z07:00`), as Go's time.Parse reads it.
    static func parseTimestamp(_ s: String) throws(EvalError) -> Timestamp {
        let c = Array(s.utf8)
        var i = 0
        func digits(_ n: Int) throws(EvalError) -> Int64 {
            guard i + n <= c.count else { throw bad() }
            var v: Int64 = 0
            for _ in 0..<n {
                guard c[i] >= 48 && c[i] <= 57 else { throw bad() }
                v = v * 10 + Int64(c[i] - 48)
                i += 1
            }
            return v
        }
        func bad() -> EvalError { EvalError("timestamp parse error: \(s)") }
        func lit(_ ch: UInt8) throws(EvalError) {
            guard i < c.count, c[i] == ch || (ch == 84 && c[i] == 116) else { throw bad() }
            i += 1
        }
        let y = try digits(4)
        try lit(45)
        let mo = try digits(2)
        try lit(45)
        let d = try digits(2)
        try lit(84)
        let h = try digits(2)
        try lit(58)
        let mi = try digits(2)
        try lit(58)
        let se = try digits(2)
        var nanos: Int64 = 0
        if i < c.count && c[i] == 46 {
            i += 1
            var n = 0
            while i < c.count && c[i] >= 48 && c[i] <= 57 {
                if n < 9 { nanos = nanos * 10 + Int64(c[i] - 48) }
                n += 1
                i += 1
            }
            guard n > 0 else { throw bad() }
            for _ in n..<max(n, 9) { nanos *= 10 }
        }
        guard i < c.count else { throw bad() }
        var offset: Int64 = 0
        if c[i] == 90 || c[i] == 122 {
            i += 1
        } else if c[i] == 43 || c[i] == 45 {
            let sign: Int64 = c[i] == 45 ? -1 : 1
            i += 1
            let oh = try digits(2)
            try lit(58)
            let om = try digits(2)
            guard oh < 24, om < 60 else { throw bad() }
            offset = sign * (oh * 3600 + om * 60)
        } else {
            throw bad()
        }
        guard i == c.count, (1...12).contains(mo), d >= 1, d <= daysIn(y, mo), h < 24, mi < 60, se < 60 else {
            throw bad()
        }
        let secs = daysFromCivil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - offset
        let t = Timestamp(seconds: secs, nanos: Int32(nanos))
        guard t.inRange else { throw EvalError("timestamp out of range") }
        return t
    }

    static func daysIn(_ y: Int64, _ m: Int64) -> Int64 {
        switch m {
        case 2: return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// RFC 3339 with the shortest fractional seconds (Go's RFC3339Nano), in UTC.
    static func format(_ t: Timestamp) -> String {
        let days = floorDiv(t.seconds, 86400)
        let rem = t.seconds - days * 86400
        let (y, m, d) = civilFromDays(days)
        var s = String(
            format: "%04lld-%02lld-%02lldT%02lld:%02lld:%02lld", y, m, d, rem / 3600, rem / 60 % 60, rem % 60)
        if t.nanos != 0 {
            var frac = String(format: "%09d", t.nanos)
            while frac.hasSuffix("0") { frac.removeLast() }
            s += "." + frac
        }
        return s + "Z"
    }

    /// Go's time.ParseDuration: `1h2m3.5s`, `-1.5h`, `300ms`, units ns, us, µs, ms, s, m, h.
    static func parseDuration(_ s: String) throws(EvalError) -> Int64 {
        func bad() -> EvalError { EvalError("invalid duration: \(s)") }
        var c = Array(s.unicodeScalars)
        var negative = false
        if let f = c.first, f == "-" || f == "+" {
            negative = f == "-"
            c.removeFirst()
        }
        if c == ["0"] { return 0 }
        guard !c.isEmpty else { throw bad() }
        var total: Double = 0
        var exact: Int64 = 0
        var i = 0
        while i < c.count {
            var whole = ""
            var frac = ""
            while i < c.count, c[i].properties.numericType != nil, c[i].isASCII {
                whole.unicodeScalars.append(c[i]); i += 1
            }
            if i < c.count && c[i] == "." {
                i += 1
                while i < c.count, c[i].isASCII, ("0"..."9").contains(c[i]) { frac.unicodeScalars.append(c[i]); i += 1 }
            }
            guard !(whole.isEmpty && frac.isEmpty) else { throw bad() }
            var unit = ""
            while i < c.count, !(("0"..."9").contains(c[i]) || c[i] == ".") { unit.unicodeScalars.append(c[i]); i += 1 }
            let scale: Int64
            switch unit {
            case "ns": scale = 1
            case "us", "µs", "μs": scale = 1000
            case "ms": scale = 1_000_000
            case "s": scale = nanosPerSecond
            case "m": scale = 60 * nanosPerSecond
            case "h": scale = 3600 * nanosPerSecond
            default: throw bad()
            }
            guard let w = Int64(whole.isEmpty ? "0" : whole) else { throw EvalError("invalid duration: overflow") }
            let (p, o1) = w.multipliedReportingOverflow(by: scale)
            let (sum, o2) = exact.addingReportingOverflow(p)
            guard !o1, !o2 else { throw EvalError("invalid duration: overflow") }
            exact = sum
            if !frac.isEmpty { total += (Double("0." + frac) ?? 0) * Double(scale) }
        }
        let (r, o) = exact.addingReportingOverflow(Int64(total))
        guard !o else { throw EvalError("invalid duration: overflow") }
        return negative ? -r : r
    }

    /// cel-go's duration text: seconds with the shortest decimal fraction, then `s`.
    static func format(duration d: Int64) -> String {
        let secs = d / nanosPerSecond
        let nanos = abs(d % nanosPerSecond)
        var s = (d < 0 && secs == 0 ? "-" : "") + String(secs)
        if nanos != 0 {
            var frac = String(format: "%09lld", nanos)
            while frac.hasSuffix("0") { frac.removeLast() }
            s += "." + frac
        }
        return s + "s"
    }

    // MARK: Getters

    /// The offset from UTC, in seconds, of `zone` (an IANA name, `UTC`, or `±HH:MM`) at `t`.
    static func offset(_ zone: String, at t: Timestamp) throws(EvalError) -> Int64 {
        if zone == "UTC" || zone == "Z" || zone.isEmpty { return 0 }
        if let f = zone.first, f == "+" || f == "-" || f.isNumber {
            let parts = zone.drop(while: { $0 == "+" || $0 == "-" }).split(separator: ":")
            guard parts.count == 2, let h = Int64(parts[0]), let m = Int64(parts[1]), h < 24, m < 60 else {
                throw EvalError("invalid time zone: \(zone)")
            }
            return (f == "-" ? -1 : 1) * (h * 3600 + m * 60)
        }
        guard let tz = TimeZone(identifier: zone) else { throw EvalError("unknown time zone \(zone)") }
        return Int64(tz.secondsFromGMT(for: Date(timeIntervalSince1970: Double(t.seconds))))
    }

    static func get(_ name: String, _ t: Timestamp, zone: String?) throws(EvalError) -> Value {
        let local = t.seconds + (try zone.map { z throws(EvalError) in try offset(z, at: t) } ?? 0)
        let days = floorDiv(local, 86400)
        let rem = local - days * 86400
        let (y, m, d) = civilFromDays(days)
        switch name {
        case "getFullYear": return .int(y)
        case "getMonth": return .int(m - 1)
        case "getDayOfYear": return .int(days - daysFromCivil(y, 1, 1))
        case "getDayOfMonth": return .int(d - 1)
        case "getDate": return .int(d)
        case "getDayOfWeek": return .int(((days % 7) + 11) % 7)
        case "getHours": return .int(rem / 3600)
        case "getMinutes": return .int(rem / 60 % 60)
        case "getSeconds": return .int(rem % 60)
        case "getMilliseconds": return .int(Int64(t.nanos) / 1_000_000)
        default: throw EvalError("no such overload: \(name)")
        }
    }

    static func get(_ name: String, duration d: Int64) throws(EvalError) -> Value {
        switch name {
        case "getHours": return .int(d / (3600 * nanosPerSecond))
        case "getMinutes": return .int(d / (60 * nanosPerSecond))
        case "getSeconds": return .int(d / nanosPerSecond)
        case "getMilliseconds": return .int(d % nanosPerSecond / 1_000_000)
        default: throw EvalError("no such overload: \(name)")
        }
    }

    // MARK: Arithmetic

    static func add(_ t: Timestamp, _ d: Int64, negate: Bool = false) throws(EvalError) -> Timestamp {
        var ds = d / nanosPerSecond
        var dn = d % nanosPerSecond
        if negate {
            ds = -ds
            dn = -dn
        }
        var secs = t.seconds + ds
        var nanos = Int64(t.nanos) + dn
        if nanos < 0 {
            nanos += nanosPerSecond
            secs -= 1
        } else if nanos >= nanosPerSecond {
            nanos -= nanosPerSecond
            secs += 1
        }
        let r = Timestamp(seconds: secs, nanos: Int32(nanos))
        guard r.inRange else { throw EvalError("timestamp overflow") }
        return r
    }

    static func difference(_ a: Timestamp, _ b: Timestamp) throws(EvalError) -> Int64 {
        let (s, o1) = (a.seconds - b.seconds).multipliedReportingOverflow(by: nanosPerSecond)
        let (r, o2) = s.addingReportingOverflow(Int64(a.nanos) - Int64(b.nanos))
        guard !o1, !o2 else { throw EvalError("integer overflow") }
        return r
    }

    static func arithmetic(_ name: String, _ a: Value, _ b: Value) throws(EvalError) -> Value? {
        switch (name, a, b) {
        case ("_+_", .timestamp(let t), .duration(let d)), ("_+_", .duration(let d), .timestamp(let t)):
            return .timestamp(try add(t, d))
        case ("_-_", .timestamp(let t), .duration(let d)): return .timestamp(try add(t, d, negate: true))
        case ("_-_", .timestamp(let x), .timestamp(let y)): return .duration(try difference(x, y))
        case ("_+_", .duration(let x), .duration(let y)):
            let (r, o) = x.addingReportingOverflow(y)
            guard !o else { throw EvalError("integer overflow") }
            return .duration(r)
        case ("_-_", .duration(let x), .duration(let y)):
            let (r, o) = x.subtractingReportingOverflow(y)
            guard !o else { throw EvalError("integer overflow") }
            return .duration(r)
        default: return nil
        }
    }
}

extension Timestamp: CustomStringConvertible {
    /// RFC 3339 in UTC with the shortest fractional seconds, as CEL's `string(timestamp)`.
    public var description: String { Time.format(self) }
}

extension Value {
    /// CEL's `string(duration)` text for a duration of `nanoseconds` (`1.5s`, `3600s`).
    public static func durationText(_ nanoseconds: Int64) -> String { Time.format(duration: nanoseconds) }

    /// A schema string of format `date-time` or `duration` as the CEL value Kubernetes gives it
    /// (a timestamp or a duration); nil when the text does not parse.
    public static func formatted(_ text: String, format: String) -> Value? {
        switch format {
        case "date-time": return (try? Time.parseTimestamp(text)).map { .timestamp($0) }
        case "duration": return (try? Time.parseDuration(text)).map { .duration($0) }
        default: return nil
        }
    }
}
