import Foundation
import Kubelet
import Testing

/// The CRI log format containerd writes and the selection `pods/log` makes from it. Expected epoch
/// values were computed independently (Python's datetime); the line format and the option rules are
/// the CRI logging format's and upstream's PodLogOptions'.
@Suite("container logs")
struct ContainerLogTests {
    @Test(
        "RFC 3339 timestamps with fractions and zones",
        arguments: [
            ("2016-10-06T00:17:09.669794202Z", Int64(1_475_713_029_669_794_202)),
            ("2024-02-29T23:59:59.5+02:00", Int64(1_709_243_999_500_000_000)),
            ("1970-01-01T00:00:00Z", Int64(0)),
        ])
    func timestamps(_ text: String, _ nanos: Int64) {
        #expect(CRILog.parseTimestamp(Substring(text)) == nanos)
    }

    @Test("malformed timestamps and lines are refused")
    func malformed() {
        #expect(CRILog.parseTimestamp("2016-10-06 00:17:09Z") == nil)
        #expect(CRILog.parseTimestamp("2016-10-06T00:17:09") == nil)
        #expect(CRILog.parse("not a log line") == nil)
        #expect(CRILog.parse("2016-10-06T00:17:09Z stdin F x") == nil)
    }

    @Test("entries: stream, partial or full, content with its spaces")
    func entries() throws {
        let e = try #require(CRILog.parse("2016-10-06T00:17:09.669794202Z stderr F  two  spaces"))
        #expect(e.stream == "stderr")
        #expect(e.full)
        #expect(e.content == " two  spaces")
        let p = try #require(CRILog.parse("2016-10-06T00:17:09.669794202Z stdout P part"))
        #expect(!p.full)
        #expect(CRILog.render(p, timestamps: false) == Array("part".utf8))
        #expect(CRILog.render(e, timestamps: true) == Array("2016-10-06T00:17:09.669794202Z  two  spaces\n".utf8))
    }

    static let file = """
        2024-01-01T00:00:01Z stdout F one
        2024-01-01T00:00:02Z stdout P tw
        2024-01-01T00:00:02.5Z stdout F o
        2024-01-01T00:00:03Z stderr F three
        2024-01-01T00:00:04Z stdout F four

        """

    @Test("tailLines counts whole lines (partial entries join the line they end in); sinceTime drops older entries")
    func selection() throws {
        var o = LogOptions()
        #expect(String(decoding: CRILog.select(Substring(Self.file), o), as: UTF8.self) == "one\ntwo\nthree\nfour\n")
        o.tailLines = 3
        #expect(String(decoding: CRILog.select(Substring(Self.file), o), as: UTF8.self) == "two\nthree\nfour\n")
        o.tailLines = 0
        #expect(CRILog.select(Substring(Self.file), o).isEmpty)
        o.tailLines = 10
        #expect(String(decoding: CRILog.select(Substring(Self.file), o), as: UTF8.self) == "one\ntwo\nthree\nfour\n")
        o.tailLines = nil
        o.sinceNanos = try #require(CRILog.parseTimestamp("2024-01-01T00:00:03Z"))
        #expect(String(decoding: CRILog.select(Substring(Self.file), o), as: UTF8.self) == "three\nfour\n")
    }

    @Test("query options as the API server passes them; bad values are refused")
    func options() throws {
        let now = Date(timeIntervalSince1970: 1000)
        let o = try LogOptions(
            query: [
                "follow": "true", "tailLines": "5", "limitBytes": "10", "sinceSeconds": "60", "timestamps": "true",
            ],
            now: now)
        #expect(o.follow && o.timestamps && !o.previous)
        #expect(o.tailLines == 5 && o.limitBytes == 10)
        #expect(o.sinceNanos == Int64(940_000_000_000))
        #expect(throws: LogError.self) { try LogOptions(query: ["tailLines": "-1"], now: now) }
        #expect(throws: LogError.self) { try LogOptions(query: ["limitBytes": "0"], now: now) }
        #expect(throws: LogError.self) { try LogOptions(query: ["sinceTime": "yesterday"], now: now) }
    }

    @Test(
        "the streamer applies limitBytes across the answer and, following, reads what is appended until the container stops"
    )
    func streamer() async throws {
        let path = NSTemporaryDirectory() + "log-\(UUID().uuidString)"
        try Self.file.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        var o = LogOptions()
        o.limitBytes = 6
        var got: [UInt8] = []
        for await c in LogStreamer(path: path, options: o, stillRunning: { false }).stream() { got += c }
        #expect(String(decoding: got, as: UTF8.self) == "one\ntw")

        let running = ManagedFlag()
        var f = LogOptions()
        f.follow = true
        f.tailLines = 1
        let stream = LogStreamer(path: path, options: f, stillRunning: { running.value }).stream()
        let appender = Task {
            try await Task.sleep(for: .milliseconds(300))
            let h = try #require(FileHandle(forWritingAtPath: path))
            h.seekToEndOfFile()
            h.write(Data("2024-01-01T00:00:05Z stdout F five\n".utf8))
            try h.close()
            try await Task.sleep(for: .milliseconds(300))
            running.value = false
        }
        var followed = ""
        for await c in stream { followed += String(decoding: c, as: UTF8.self) }
        try await appender.value
        #expect(followed == "four\nfive\n")
    }
}

final class ManagedFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var v = true
    var value: Bool {
        get { lock.withLock { v } }
        set { lock.withLock { v = newValue } }
    }
}
