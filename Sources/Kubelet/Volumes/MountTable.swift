import Foundation

/// One line of `/proc/self/mountinfo`: where, and what filesystem.
public struct MountEntry: Equatable, Sendable {
    public var mountPoint: String
    public var fsType: String

    public init(_ mountPoint: String, _ fsType: String) {
        self.mountPoint = mountPoint
        self.fsType = fsType
    }
}

/// The host's mounts as `/proc/self/mountinfo` lists them, and the mount calls the volumes need.
public enum MountTable {
    /// Mount points (field 5, octal escapes such as `\040` decoded) with their filesystem types.
    public static func parse(_ mountinfo: String) -> [MountEntry] {
        mountinfo.split(separator: "\n").compactMap { line in
            let f = line.split(separator: " ")
            guard f.count > 5, let dash = f.firstIndex(of: "-"), dash + 1 < f.count else { return nil }
            return MountEntry(unescape(String(f[4])), String(f[dash + 1]))
        }
    }

    static func unescape(_ s: String) -> String {
        guard s.contains("\\") else { return s }
        var out: [UInt8] = []
        let b = Array(s.utf8)
        var i = 0
        while i < b.count {
            if b[i] == UInt8(ascii: "\\"), i + 3 < b.count,
                let v = UInt8(String(decoding: b[(i + 1)...(i + 3)], as: UTF8.self), radix: 8)
            {
                out.append(v)
                i += 4
            } else {
                out.append(b[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Mount points at or below a directory, deepest (and latest) first: the order to unmount them.
    public static func mounts(under dir: String, in table: [MountEntry]) -> [String] {
        let prefix = dir.hasSuffix("/") ? dir : dir + "/"
        let found = table.enumerated().filter {
            $0.element.mountPoint == dir || $0.element.mountPoint.hasPrefix(prefix)
        }
        return found.sorted { a, b in
            let da = a.element.mountPoint.split(separator: "/").count
            let db = b.element.mountPoint.split(separator: "/").count
            return da != db ? da > db : a.offset > b.offset
        }.map(\.element.mountPoint)
    }

    static func current() -> [MountEntry] {
        parse(ProcFile.read("/proc/self/mountinfo") ?? "")
    }

    /// Whether a directory is itself a mount point of the given type.
    static func isMounted(_ dir: String, fsType: String? = nil) -> Bool {
        current().contains { $0.mountPoint == dir && (fsType == nil || $0.fsType == fsType) }
    }

    /// `mount -t tmpfs -o size=N tmpfs DIR`.
    static func mountTmpfs(_ dir: String, sizeBytes: Int64?) throws(VolumeError) {
        let options = sizeBytes.map { "size=\($0)" } ?? ""
        if mount("tmpfs", dir, "tmpfs", 0, options) != 0 {
            throw VolumeError("mount failed: tmpfs on \(dir): \(String(cString: strerror(errno)))")
        }
    }

    /// `mount --bind SOURCE DIR`.
    static func bind(_ source: String, _ dir: String) throws(VolumeError) {
        if mount(source, dir, nil, UInt(MS_BIND), nil) != 0 {
            throw VolumeError("mount failed: bind \(source) on \(dir): \(String(cString: strerror(errno)))")
        }
    }

    /// Unmounts everything at or below a directory; the mount points still there afterwards.
    @discardableResult
    static func unmountAll(under dir: String) -> [String] {
        for m in mounts(under: dir, in: current()) {
            if umount2(m, 0) != 0 { umount2(m, Int32(MNT_DETACH)) }
        }
        return mounts(under: dir, in: current())
    }
}
