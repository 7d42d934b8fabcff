import APICore
import CRI
import Foundation

/// A terminated container's `message` (upstream's termination message): the end of the file the
/// kubelet mounted at `terminationMessagePath`, or, with `FallbackToLogsOnError`, an error exit and
/// an empty file, the end of its log.
public enum TerminationMessage {
    public static let defaultPath = "/dev/termination-log"
    /// At most this much of the file's end is read.
    public static let maxFileBytes = 4096
    /// The log fallback: the last 80 lines, of which at most the last 2048 bytes.
    public static let maxLogLines = 80
    public static let maxLogBytes = 2048
    /// All messages of a pod together: each container's share of 12 KiB.
    public static let maxPodBytes = 12 * 1024

    /// What reading the termination-message file gave.
    public enum FileRead: Equatable, Sendable {
        /// No mount at the path, or no file.
        case absent
        case content([UInt8])
        case failed(path: String, error: String)
    }

    /// The message: the runtime's own message, then `: ` and the termination message when there is one.
    public static func message(
        runtimeMessage: String, policy: String, exitCode: Int32, reason: String, file: FileRead,
        logTail: () -> String
    ) -> String {
        // A container that could not even start has no logs to fall back to.
        let fallback = policy == "FallbackToLogsOnError" && exitCode != 0 && reason != "ContainerCannotRun"
        var text: String
        var checkLogs: Bool
        switch file {
        case .absent:
            text = ""
            checkLogs = fallback
        case .content(let bytes):
            text = String(decoding: bytes, as: UTF8.self)
            checkLogs = fallback && bytes.isEmpty
        case .failed(let path, let error):
            text = "Error on reading termination log \(path): \(error)"
            checkLogs = false
        }
        if checkLogs { text = logTail() }
        if text.isEmpty { return runtimeMessage }
        return runtimeMessage.isEmpty ? text : runtimeMessage + ": " + text
    }

    /// The content of a CRI log (`<time> <stream> <P|F> <text>` per line, P a partial line continued
    /// by the next) in its last `maxLogLines` lines, cut to its last `maxLogBytes` bytes.
    public static func logTail(_ log: [UInt8]) -> String {
        var lines = log.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true)
        if lines.count > maxLogLines { lines = Array(lines.suffix(maxLogLines)) }
        var out: [UInt8] = []
        for line in lines {
            // time, stream, tag, then the text (which may itself hold spaces).
            var fields: [ArraySlice<UInt8>] = []
            var rest = line[...]
            for _ in 0..<3 {
                guard let sp = rest.firstIndex(of: UInt8(ascii: " ")) else { break }
                fields.append(rest[rest.startIndex..<sp])
                rest = rest[(sp + 1)...]
            }
            guard fields.count == 3 else { continue }
            out += rest
            if fields[2].first != UInt8(ascii: "P") { out.append(UInt8(ascii: "\n")) }
        }
        if out.count > maxLogBytes { out = Array(out.suffix(maxLogBytes)) }
        return String(decoding: out, as: UTF8.self)
    }

    /// Cuts every terminated state's message of a pod to its share of `maxPodBytes` (split evenly
    /// over all containers), as upstream's status manager does.
    public static func limit(_ s: inout CoreV1.PodStatus, containers: Int) {
        let budget = maxPodBytes / max(1, containers)
        func cut(_ st: inout CoreV1.ContainerState) {
            guard var t = st.terminated, t.message.utf8.count > budget else { return }
            t.message = prefix(t.message, bytes: budget)
            st.terminated = t
        }
        for i in s.initContainerStatuses.indices {
            cut(&s.initContainerStatuses[i].state)
            cut(&s.initContainerStatuses[i].lastState)
        }
        for i in s.containerStatuses.indices {
            cut(&s.containerStatuses[i].state)
            cut(&s.containerStatuses[i].lastState)
        }
    }

    /// The longest prefix of at most `bytes` UTF-8 bytes that ends on a character boundary.
    static func prefix(_ s: String, bytes: Int) -> String {
        var n = 0
        var out = ""
        for ch in s {
            let len = ch.utf8.count
            if n + len > bytes { break }
            n += len
            out.append(ch)
        }
        return out
    }

    // MARK: Reading (the shell)

    /// An exited container's status with its termination message filled in from the file mounted at
    /// its termination-message path (found in the status's mounts) or from its log.
    public static func fill(_ status: Runtime_V1_ContainerStatus) -> Runtime_V1_ContainerStatus {
        guard status.state == .containerExited else { return status }
        var path = status.annotations[RuntimeLabels.terminationMessagePath] ?? ""
        if path.isEmpty { path = defaultPath }
        let policy = status.annotations[RuntimeLabels.terminationMessagePolicy] ?? "File"
        var file = FileRead.absent
        if let m = status.mounts.first(where: { $0.containerPath == path }) {
            file = readEnd(m.hostPath)
        }
        var s = status
        s.message = message(
            runtimeMessage: status.message, policy: policy, exitCode: status.exitCode, reason: status.reason,
            file: file, logTail: { logTail(readLogEnd(status.logPath)) })
        return s
    }

    /// The last `maxFileBytes` bytes of a file.
    static func readEnd(_ path: String) -> FileRead {
        guard let h = FileHandle(forReadingAtPath: path) else {
            if !FileManager.default.fileExists(atPath: path) { return .absent }
            return .failed(path: path, error: "permission denied")
        }
        defer { try? h.close() }
        do {
            let size = try h.seekToEnd()
            try h.seek(toOffset: size > UInt64(maxFileBytes) ? size - UInt64(maxFileBytes) : 0)
            return .content([UInt8](try h.readToEnd() ?? Data()))
        } catch {
            return .failed(path: path, error: "\(error)")
        }
    }

    /// Enough of a log's end for its last `maxLogLines` lines (CRI lines are at most 16 KiB).
    static func readLogEnd(_ path: String) -> [UInt8] {
        guard !path.isEmpty, let h = FileHandle(forReadingAtPath: path) else { return [] }
        defer { try? h.close() }
        let window: UInt64 = UInt64(maxLogLines) * 16 * 1024 + 1024
        guard let size = try? h.seekToEnd() else { return [] }
        let start = size > window ? size - window : 0
        guard (try? h.seek(toOffset: start)) != nil, let data = try? h.readToEnd() else { return [] }
        var bytes = [UInt8](data)
        // A window starting mid-line drops that partial line.
        if start > 0, let nl = bytes.firstIndex(of: UInt8(ascii: "\n")) { bytes.removeSubrange(0...nl) }
        return bytes
    }
}
