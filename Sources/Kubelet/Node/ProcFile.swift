import Foundation

/// Reads a whole file of /proc or /sys. Their files report a size of 0, and Foundation's
/// `String(contentsOfFile:)` then reads once: a page of `/proc/self/mountinfo` on a node with a few
/// dozen mounts, which hid mounts from the volume code. A file handle reads until the end.
public enum ProcFile {
    public static func read(_ path: String) -> String? {
        guard let h = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? h.close() }
        guard let d = try? h.readToEnd() else { return "" }
        return String(decoding: d, as: UTF8.self)
    }
}
