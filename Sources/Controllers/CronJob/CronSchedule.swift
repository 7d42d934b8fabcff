import Foundation

/// A cron schedule as CronJobs accept it: five fields (minute, hour, day of month, month, day of week)
/// with lists, ranges, steps, `*`/`?` and month/day names, or a macro (`@hourly`, `@daily`/`@midnight`,
/// `@weekly`, `@monthly`, `@yearly`/`@annually`). When both day fields are restricted a day matches
/// either (standard cron); when one is `*`, both must match.
struct CronSchedule: Equatable, Sendable {
    var minutes: Set<Int>
    var hours: Set<Int>
    var days: Set<Int>
    var months: Set<Int>
    var weekdays: Set<Int>
    var daysStar: Bool
    var weekdaysStar: Bool

    struct ParseError: Error, Equatable, CustomStringConvertible {
        var description: String
    }

    static let monthNames = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
    static let dayNames = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]

    init(_ text: String) throws {
        let macros = [
            "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
            "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
        ]
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let spec = trimmed.hasPrefix("@") ? macros[trimmed.lowercased()] : trimmed
        guard let spec else { throw ParseError(description: "unrecognized descriptor: \(trimmed)") }
        let fields = spec.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        guard fields.count == 5 else {
            throw ParseError(description: "expected exactly 5 fields, found \(fields.count): \(spec)")
        }
        minutes = try Self.field(fields[0], 0...59, names: [])
        hours = try Self.field(fields[1], 0...23, names: [])
        days = try Self.field(fields[2], 1...31, names: [])
        months = try Self.field(fields[3], 1...12, names: Self.monthNames, nameBase: 1)
        var wd = try Self.field(fields[4], 0...7, names: Self.dayNames)
        if wd.remove(7) != nil { wd.insert(0) }
        weekdays = wd
        daysStar = fields[2] == "*" || fields[2] == "?"
        weekdaysStar = fields[4] == "*" || fields[4] == "?"
    }

    static func field(_ f: String, _ range: ClosedRange<Int>, names: [String], nameBase: Int = 0) throws -> Set<Int> {
        func value(_ s: Substring) throws -> Int {
            if let n = Int(s) {
                guard range.contains(n) else {
                    throw ParseError(description: "value \(n) out of range \(range) in \(f)")
                }
                return n
            }
            if let i = names.firstIndex(of: s.lowercased()) { return i + nameBase }
            throw ParseError(description: "failed to parse int from \(s): in \(f)")
        }
        var out: Set<Int> = []
        for part in f.split(separator: ",", omittingEmptySubsequences: false) {
            let stepParts = part.split(separator: "/", omittingEmptySubsequences: false)
            guard stepParts.count <= 2, !stepParts[0].isEmpty else {
                throw ParseError(description: "invalid field \(f)")
            }
            var step = 1
            if stepParts.count == 2 {
                guard let s = Int(stepParts[1]), s > 0 else { throw ParseError(description: "invalid step in \(f)") }
                step = s
            }
            var lo = range.lowerBound
            var hi = range.upperBound
            if stepParts[0] != "*" && stepParts[0] != "?" {
                let bounds = stepParts[0].split(separator: "-", omittingEmptySubsequences: false)
                guard bounds.count <= 2 else { throw ParseError(description: "invalid range in \(f)") }
                lo = try value(bounds[0])
                hi = bounds.count == 2 ? try value(bounds[1]) : (stepParts.count == 2 ? range.upperBound : lo)
                guard lo <= hi else { throw ParseError(description: "beginning of range after end: \(f)") }
            }
            for v in stride(from: lo, through: hi, by: step) { out.insert(v) }
        }
        return out
    }

    func dayMatches(day: Int, weekday: Int) -> Bool {
        let d = days.contains(day)
        let w = weekdays.contains(weekday)
        return (daysStar || weekdaysStar) ? d && w : d || w
    }

    /// The first scheduled minute strictly after `after`, in `timeZone`; nil when none in five years.
    func next(after: Date, in timeZone: TimeZone) -> Date? {
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = timeZone
        // Start at the next whole minute.
        var t = Date(timeIntervalSince1970: (after.timeIntervalSince1970 / 60).rounded(.down) * 60 + 60)
        let limit = after.addingTimeInterval(5 * 366 * 86400)
        while t < limit {
            let c = cal.dateComponents([.year, .month, .day, .hour, .minute, .weekday], from: t)
            guard let month = c.month, let day = c.day, let hour = c.hour, let minute = c.minute, let wd = c.weekday
            else { return nil }
            if !months.contains(month) {
                // First minute of the next month.
                guard let start = cal.date(from: DateComponents(year: c.year, month: month, day: 1)),
                    let n = cal.date(byAdding: .month, value: 1, to: start)
                else { return nil }
                t = n
                continue
            }
            if !dayMatches(day: day, weekday: wd - 1) {
                guard let start = cal.date(from: DateComponents(year: c.year, month: month, day: day)),
                    let n = cal.date(byAdding: .day, value: 1, to: start)
                else { return nil }
                t = n
                continue
            }
            if !hours.contains(hour) {
                t = Date(timeIntervalSince1970: (t.timeIntervalSince1970 / 3600).rounded(.down) * 3600 + 3600)
                // Offsets that are not whole hours: realign to this zone's hour start.
                if let m = cal.dateComponents([.minute], from: t).minute, m != 0 {
                    t = t.addingTimeInterval(Double(-m * 60))
                }
                continue
            }
            if !minutes.contains(minute) {
                t = t.addingTimeInterval(60)
                continue
            }
            return t
        }
        return nil
    }

    /// The latest scheduled time in (`from`, `to`], and how many there were (counting stops at 101,
    /// upstream's "too many missed start times" threshold).
    func mostRecent(from: Date, to: Date, in tz: TimeZone) -> (time: Date?, missed: Int) {
        var count = 0
        var t = from
        while count <= 100, let n = next(after: t, in: tz), n <= to {
            count += 1
            t = n
        }
        if count <= 100 { return (count > 0 ? t : nil, count) }
        // Many missed: look for the latest in windows ending now, so no schedule is walked in full.
        for window: Double in [3600, 86400, 31 * 86400, 366 * 86400] {
            var u = max(from, to.addingTimeInterval(-window))
            var last: Date?
            while let n = next(after: u, in: tz), n <= to {
                last = n
                u = n
            }
            if let last { return (last, count) }
        }
        return (t, count)
    }
}
