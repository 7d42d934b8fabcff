import Foundation

/// Group ownership of a pod's volumes for `securityContext.fsGroup` (upstream's volume ownership
/// change): every file and directory of the volume gets the group, files become group-readable
/// (and group-writable unless the volume is read-only), directories also group-searchable and
/// setgid so that files made later inherit the group. Symlinks are left alone: changing one would
/// change what it points to, which may be a file the volume plugin gave its own mode.
public enum VolumeOwnership {
    /// Group bits every file gets on a writable volume (rw for user and group).
    static let writableBits: UInt32 = 0o660
    /// Group bits every file gets on a read-only volume (r for user and group).
    static let readOnlyBits: UInt32 = 0o440
    /// Added to directories so the group can enter them.
    static let searchBits: UInt32 = 0o110

    /// The mode a file or directory gets: its permission bits (and setuid/setgid/sticky) with the
    /// bits fsGroup asks for added, never removed.
    public static func mode(_ current: UInt32, isDirectory: Bool, readOnly: Bool) -> UInt32 {
        var add = readOnly ? readOnlyBits : writableBits
        if isDirectory { add |= searchBits | UInt32(S_ISGID) }
        return (current & 0o7777) | add
    }

    /// Whether a volume's root already looks changed (`fsGroupChangePolicy: OnRootMismatch` then
    /// skips the walk): owned by the group, and a directory with the wanted bits and setgid.
    public static func rootMatches(gid: UInt32, mode: UInt32, isDirectory: Bool, fsGroup: UInt32, readOnly: Bool)
        -> Bool
    {
        guard gid == fsGroup, isDirectory else { return false }
        let want = (readOnly ? readOnlyBits : writableBits) | searchBits
        return mode & want == want && mode & UInt32(S_ISGID) != 0
    }

    /// The pod's fsGroup as a group ID, or nil when it sets none (or an impossible one).
    public static func fsGroup(_ value: Int64?) -> UInt32? {
        guard let value, value >= 0, value <= Int64(UInt32.max) else { return nil }
        return UInt32(value)
    }

    /// Gives `root` and everything under it to the group (children before their directory).
    /// `onRootMismatch` skips the walk when the root already matches. Returns the paths that
    /// could not be changed, with the error number.
    @discardableResult
    public static func apply(_ root: String, fsGroup: UInt32, readOnly: Bool, onRootMismatch: Bool = false)
        -> [String]
    {
        var st = stat()
        guard lstat(root, &st) == 0 else { return ["\(root): errno \(errno)"] }
        if onRootMismatch,
            rootMatches(
                gid: st.st_gid, mode: st.st_mode & 0o7777, isDirectory: st.st_mode & S_IFMT == S_IFDIR,
                fsGroup: fsGroup,
                readOnly: readOnly)
        {
            return []
        }
        var failed: [String] = []
        change(root, st, fsGroup: fsGroup, readOnly: readOnly, failed: &failed)
        return failed
    }

    static func change(_ path: String, _ st: stat, fsGroup: UInt32, readOnly: Bool, failed: inout [String]) {
        let type = st.st_mode & S_IFMT
        if type == S_IFLNK { return }
        if type == S_IFDIR {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [] {
                let child = path + "/" + name
                var cst = stat()
                if lstat(child, &cst) == 0 {
                    change(child, cst, fsGroup: fsGroup, readOnly: readOnly, failed: &failed)
                }
            }
        }
        if st.st_gid != fsGroup, lchown(path, st.st_uid, fsGroup) != 0 { failed.append("\(path): errno \(errno)") }
        let want = mode(st.st_mode, isDirectory: type == S_IFDIR, readOnly: readOnly)
        // chown clears setgid on some file systems: set the mode after it, always.
        if chmod(path, mode_t(want)) != 0 { failed.append("\(path): errno \(errno)") }
    }
}
