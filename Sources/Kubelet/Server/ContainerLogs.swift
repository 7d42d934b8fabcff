import Foundation

/// What `pods/log` asks of a container's log (upstream's `PodLogOptions` as the kubelet gets them).
public struct LogOptions: Equatable, Sendable {
    public var follow = false
    public var previous = false
    public var timestamps = false
    public var tailLines: Int?
    /// Only entries at or after this time, in nanoseconds since the epoch (sinceSeconds or sinceTime).
    public var sinceNanos: Int64?
    public var limitBytes: Int?

    public init() {}

    /// From the kubelet's `/containerLogs` query (the API server's parameter names).
    public init(query: [String: String], now: Date) throws {
        func flag(_ k: String) -> Bool { query[k].map { $0 == "true" || $0 == "1" } ?? false }
        follow = flag("follow")
        previous = flag("previous")
        timestamps = flag("timestamps")
        if let t = query["tailLines"] {
            guard let n = Int(t), n >= 0 else { throw LogError.badRequest("tailLines must be a non-negative integer") }
            tailLines = n
        }
        if let l = query["limitBytes"] {
            guard let n = Int(l), n >= 1 else { throw LogError.badRequest("limitBytes must be a positive integer") }
            limitBytes = n
        }
        if let s = query["sinceSeconds"] {
            guard let n = Int64(s), n >= 1 else { throw LogError.badRequest("sinceSeconds must be a positive integer") }
            sinceNanos = Int64(now.timeIntervalSince1970 * 1e9) - n * 1_000_000_000
        } else if let t = query["sinceTime"] {
            guard let n = CRILog.parseTimestamp(Substring(t)) else {
                throw LogError.badRequest("sinceTime must be an RFC 3339 time")
            }
            sinceNanos = n
        }
    }
}

public enum LogError: Error, Equatable, CustomStringConvertible {
    case badRequest(String)
    case notFound(String)

    public var description: String {
        switch self {
        case .badRequest(let m), .notFound(let m): m
        }
    }
}

/// The CRI log format containerd writes (one entry per line: `<RFC 3339 nano time> <stdout|stderr>
/// <P|F> <content>`, P for a partial line continued by the next entry) and the selection `pods/log`
/// makes from it.
public enum CRILog {
    public struct Entry: Equatable, Sendable {
        public var timestamp: Substring
        public var nanos: Int64
        public var stream: Substring
        /// The line ended here (tag F); a partial entry's content continues in the next one.
        public var full: Bool
        public var content: Substring
    }

    /// One line of the file (without its newline), or nil when it is not in the format.
    public static func parse(_ line: Substring) -> Entry? {
        guard let s1 = line.firstIndex(of: " ") else { return nil }
        let ts = line[..<s1]
        let rest1 = line[line.index(after: s1)...]
        guard let s2 = rest1.firstIndex(of: " ") else { return nil }
        let stream = rest1[..<s2]
        let rest2 = rest1[rest1.index(after: s2)...]
        let tag: Substring
        let content: Substring
        if let s3 = rest2.firstIndex(of: " ") {
            tag = rest2[..<s3]
            content = rest2[rest2.index(after: s3)...]
        } else {
            tag = rest2
            content = rest2[rest2.endIndex...]
        }
        guard let nanos = parseTimestamp(ts), stream == "stdout" || stream == "stderr" else { return nil }
        // The tag may carry more flags after `:`; the first is P or F.
        let full = !tag.hasPrefix("P")
        return Entry(timestamp: ts, nanos: nanos, stream: stream, full: full, content: content)
    }

    /// Nanoseconds since the epoch of an RFC 3339 time with optional fraction and a Z or ±hh:mm zone.
    public static func parseTimestamp(_ s: Substring) -> Int64? {
        let b = Array(s.utf8)
        func num(_ from: Int, _ n: Int) -> Int? {
            guard from + n <= b.count else { return nil }
            var v = 0
            for i in from..<(from + n) {
                guard b[i] >= 48 && b[i] <= 57 else { return nil }
                v = v * 10 + Int(b[i] - 48)
            }
            return v
        }
        guard b.count >= 20, let y = num(0, 4), b[4] == 45, let mo = num(5, 2), b[7] == 45, let d = num(8, 2),
            b[10] == 84 || b[10] == 116, let h = num(11, 2), b[13] == 58, let mi = num(14, 2), b[16] == 58,
            let sec = num(17, 2)
        else { return nil }
        var i = 19
        var frac: Int64 = 0
        if i < b.count && b[i] == 46 {
            i += 1
            var digits = 0
            while i < b.count && b[i] >= 48 && b[i] <= 57 {
                if digits < 9 {
                    frac = frac * 10 + Int64(b[i] - 48)
                    digits += 1
                }
                i += 1
            }
            while digits < 9 {
                frac *= 10
                digits += 1
            }
        }
        var offset = 0
        guard i < b.count else { return nil }
        if b[i] == 90 || b[i] == 122 {
            i += 1
        } else if b[i] == 43 || b[i] == 45, let oh = num(i + 1, 2), b.count > i + 3, b[i + 3] == 58,
            let om = num(i + 4, 2)
        {
            offset = (oh * 60 + om) * 60 * (b[i] == 43 ? 1 : -1)
            i += 6
        } else {
            return nil
        }
        guard i == b.count else { return nil }
        // Days since the epoch (civil calendar).
        let yy = mo <= 2 ? y - 1 : y
        let era = (yy >= 0 ? yy : yy - 399) / 400
        let yoe = yy - era * 400
        let doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146097 + doe - 719468
        let seconds = Int64(days) * 86400 + Int64(h * 3600 + mi * 60 + sec) - Int64(offset)
        return seconds * 1_000_000_000 + frac
    }

    /// What an entry contributes to the answer.
    public static func render(_ e: Entry, timestamps: Bool) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(e.content.utf8.count + 40)
        if timestamps {
            out += e.timestamp.utf8
            out.append(32)
        }
        out += e.content.utf8
        if e.full { out.append(10) }
        return out
    }

    /// The entries of a file's complete lines that `options` selects (since, then the last
    /// `tailLines` lines), rendered; limitBytes is applied by the caller across the whole answer.
    public static func select(_ text: Substring, _ options: LogOptions) -> [UInt8] {
        var entries: [Entry] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            guard let e = parse(line) else { continue }
            if let since = options.sinceNanos, e.nanos < since { continue }
            entries.append(e)
        }
        if let tail = options.tailLines {
            // A line is a run of partial entries closed by a full one.
            var lineStarts: [Int] = []
            var atLineStart = true
            for (i, e) in entries.enumerated() {
                if atLineStart { lineStarts.append(i) }
                atLineStart = e.full
            }
            let keep = lineStarts.count - min(tail, lineStarts.count)
            entries = keep < lineStarts.count ? Array(entries[lineStarts[keep]...]) : []
        }
        var out: [UInt8] = []
        for e in entries { out += render(e, timestamps: options.timestamps) }
        return out
    }
}

/// Streams a CRI log file as `options` asks: what is there now, then (following) what is appended
/// until `stillRunning` says the container stopped and the file has been read to its end.
public struct LogStreamer: Sendable {
    public let path: String
    public let options: LogOptions
    public let stillRunning: @Sendable () async -> Bool

    public init(path: String, options: LogOptions, stillRunning: @escaping @Sendable () async -> Bool) {
        self.path = path
        self.options = options
        self.stillRunning = stillRunning
    }

    public func stream() -> AsyncStream<[UInt8]> {
        let (stream, continuation) = AsyncStream<[UInt8]>.makeStream()
        let task = Task {
            await run { continuation.yield($0) }
            continuation.finish()
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    func run(_ emit: ([UInt8]) -> Void) async {
        guard let handle = FileHandle(forReadingAtPath: path) else { return }
        defer { try? handle.close() }
        var left = options.limitBytes ?? Int.max
        func send(_ bytes: [UInt8]) -> Bool {
            guard left > 0, !bytes.isEmpty else { return left > 0 }
            let part = bytes.count <= left ? bytes : Array(bytes.prefix(left))
            left -= part.count
            emit(part)
            return left > 0
        }
        let initial = (try? handle.readToEnd()) ?? Data()
        // An unfinished last line waits for its newline.
        var pending = [UInt8]()
        var complete = [UInt8](initial)
        if let lastNL = complete.lastIndex(of: 10) {
            pending = Array(complete[(lastNL + 1)...])
            complete.removeSubrange((lastNL + 1)...)
        } else {
            pending = complete
            complete = []
        }
        let text = String(decoding: complete, as: UTF8.self)
        guard send(CRILog.select(Substring(text), options)), options.follow else { return }
        var follow = options
        follow.tailLines = nil
        var idleRounds = 0
        while !Task.isCancelled {
            let more = (try? handle.read(upToCount: 1 << 20)) ?? nil
            if let more, !more.isEmpty {
                idleRounds = 0
                pending += more
                guard let lastNL = pending.lastIndex(of: 10) else { continue }
                let chunk = String(decoding: pending[...lastNL], as: UTF8.self)
                pending.removeSubrange(...lastNL)
                guard send(CRILog.select(Substring(chunk), follow)) else { return }
                continue
            }
            idleRounds += 1
            // Every few idle rounds: has the container stopped? Then one last read ends it.
            if idleRounds % 5 == 0, !(await stillRunning()) {
                if let rest = try? handle.readToEnd(), !rest.isEmpty {
                    pending += rest
                }
                if pending.contains(10) {
                    let chunk = String(decoding: pending, as: UTF8.self)
                    _ = send(CRILog.select(Substring(chunk), follow))
                }
                return
            }
            try? await Task.sleep(for: .milliseconds(100))
        }
    }
}
