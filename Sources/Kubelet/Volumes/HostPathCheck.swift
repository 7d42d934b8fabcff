import Foundation

/// What a host path is on disk, as `stat(2)` (following symlinks) says.
public enum HostFileType: Equatable, Sendable {
    case missing, directory, file, socket, charDevice, blockDevice, other

    /// Stats a path (following symlinks).
    public static func of(_ path: String) -> HostFileType {
        var st = stat()
        guard stat(path, &st) == 0 else { return .missing }
        switch st.st_mode & S_IFMT {
        case S_IFDIR: return .directory
        case S_IFREG: return .file
        case S_IFSOCK: return .socket
        case S_IFCHR: return .charDevice
        case S_IFBLK: return .blockDevice
        default: return .other
        }
    }
}

/// Upstream's hostPath `type` check: what to do with a path of a given type before it is mounted.
public enum HostPathCheck: Equatable, Sendable {
    case ok
    /// `DirectoryOrCreate` of a missing path: create it (0755, with its parents).
    case createDirectory
    /// `FileOrCreate` of a missing path: create an empty file (0644).
    case createFile
    case fail(String)

    public static func decide(path: String, type: String?, found: HostFileType) -> HostPathCheck {
        let t = type ?? ""
        switch t {
        case "":
            return .ok
        case "DirectoryOrCreate", "Directory":
            if found == .missing && t == "DirectoryOrCreate" { return .createDirectory }
            return found == .directory ? .ok : .fail("hostPath type check failed: \(path) is not a directory")
        case "FileOrCreate", "File":
            if found == .missing && t == "FileOrCreate" { return .createFile }
            return found == .file ? .ok : .fail("hostPath type check failed: \(path) is not a file")
        case "Socket":
            return found == .socket ? .ok : .fail("hostPath type check failed: \(path) is not a socket file")
        case "CharDevice":
            return found == .charDevice ? .ok : .fail("hostPath type check failed: \(path) is not a character device")
        case "BlockDevice":
            return found == .blockDevice ? .ok : .fail("hostPath type check failed: \(path) is not a block device")
        default:
            return .fail("\(t) is an invalid volume type")
        }
    }

    /// Runs the check against the host: creates what `*OrCreate` asks for; nil when the path may be
    /// mounted, else upstream's message.
    public static func apply(path: String, type: String?) -> String? {
        switch decide(path: path, type: type, found: HostFileType.of(path)) {
        case .ok:
            return nil
        case .createDirectory:
            do {
                try FileManager.default.createDirectory(
                    atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
            } catch {
                return "hostPath type check failed: creating \(path): \(error)"
            }
            return nil
        case .createFile:
            let fd = open(path, O_CREAT | O_WRONLY, 0o644)
            if fd < 0 { return "hostPath type check failed: creating \(path): errno \(errno)" }
            close(fd)
            return nil
        case .fail(let m):
            return m
        }
    }
}
