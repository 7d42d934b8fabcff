import Foundation

/// One file of an API-data volume (configMap, secret, downwardAPI, projected): its bytes and mode.
public struct FileProjection: Equatable, Sendable {
    public var data: [UInt8]
    public var mode: Int32

    public init(_ data: [UInt8], mode: Int32 = VolumePayloads.defaultMode) {
        self.data = data
        self.mode = mode
    }

    public init(_ text: String, mode: Int32 = VolumePayloads.defaultMode) {
        self.init(Array(text.utf8), mode: mode)
    }
}

/// Writes a set of files into a directory so that a reader never sees a mix of old and new files
/// (upstream's atomic writer layout): the files go into a fresh `..<timestamp>` directory, the
/// `..data` symlink is swapped to it by one rename, and every user-visible top-level name is a
/// symlink through `..data`. Unchanged content is not rewritten.
public struct AtomicWriter: Sendable {
    public static let dataDirName = "..data"
    static let dataDirTmpName = "..data_tmp"

    public let targetDir: String
    /// The pod's `fsGroup`: what is written belongs to that group and is readable by it (as upstream
    /// changes a volume's ownership before the new files become visible).
    public let fsGroup: UInt32?

    public init(targetDir: String, fsGroup: UInt32? = nil) {
        self.targetDir = targetDir
        self.fsGroup = fsGroup
    }

    /// A new timestamped directory holding the payload, not yet visible through `..data`.
    public struct Staged: Sendable {
        public var dirName: String
        public var previousDirName: String?
        public var visibleNames: Set<String>
    }

    public enum WriteError: Error, CustomStringConvertible, Equatable {
        case invalidPath(String, String)
        case io(String)

        public var description: String {
            switch self {
            case .invalidPath(let p, let why): "invalid path \(p): \(why)"
            case .io(let m): m
            }
        }
    }

    /// Checks a payload path as upstream's writer does: relative, no `..` element, not starting
    /// with `..`, at most 4096 bytes with elements of at most 255.
    public static func validate(_ path: String) throws(WriteError) {
        if path.isEmpty { throw .invalidPath(path, "must not be empty") }
        if path.utf8.count > 4096 { throw .invalidPath(path, "must be less than or equal to 4096 characters") }
        if path.hasPrefix("/") { throw .invalidPath(path, "must be relative path") }
        if path.hasPrefix("..") { throw .invalidPath(path, "must not start with '..'") }
        for element in path.split(separator: "/", omittingEmptySubsequences: false) {
            if element == ".." { throw .invalidPath(path, "must not contain '..'") }
            if element.utf8.count > 255 { throw .invalidPath(path, "element must be at most 255 characters") }
        }
    }

    /// The first path element of each payload path: the names a reader sees in the target directory.
    public static func visibleNames(_ paths: some Sequence<String>) -> Set<String> {
        Set(paths.map { p in String(p.split(separator: "/").first ?? Substring(p)) })
    }

    /// Name of a new timestamped directory (`..2006_01_02_15_04_05.<suffix>`, in UTC).
    public static func timestampedName(_ date: Date, suffix: UInt32) -> String {
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = TimeZone(identifier: "UTC")!
        let c = cal.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        func two(_ v: Int?) -> String {
            let s = String(v ?? 0)
            return s.count < 2 ? "0" + s : s
        }
        return
            "..\(c.year ?? 0)_\(two(c.month))_\(two(c.day))_\(two(c.hour))_\(two(c.minute))_\(two(c.second)).\(suffix)"
    }

    /// Writes the payload; true when the content changed (or was written the first time).
    @discardableResult
    public func write(_ payload: [String: FileProjection], now: Date = Date()) throws(WriteError) -> Bool {
        guard let staged = try stage(payload, now: now) else {
            try ensureVisibleLinks(Self.visibleNames(payload.keys))
            return false
        }
        try commit(staged)
        return true
    }

    /// The directory `..data` points at now, if any.
    public func currentDataDir() -> String? {
        try? FileManager.default.destinationOfSymbolicLink(atPath: targetDir + "/" + Self.dataDirName)
    }

    /// Writes the payload into a new timestamped directory, or returns nil when the current one
    /// already holds exactly this payload.
    public func stage(_ payload: [String: FileProjection], now: Date = Date()) throws(WriteError) -> Staged? {
        for p in payload.keys { try Self.validate(p) }
        // With fsGroup the files carry its bits from the start, so an unchanged payload compares equal.
        let payload =
            fsGroup == nil
            ? payload
            : payload.mapValues { f in
                FileProjection(
                    f.data,
                    mode: Int32(VolumeOwnership.mode(UInt32(f.mode & 0o7777), isDirectory: false, readOnly: true)))
            }
        let fm = FileManager.default
        do {
            try fm.createDirectory(atPath: targetDir, withIntermediateDirectories: true)
        } catch {
            throw .io("creating \(targetDir): \(error)")
        }
        let previous = currentDataDir()
        if let previous, Self.holds(targetDir + "/" + previous, payload) { return nil }
        var name = ""
        repeat {
            name = Self.timestampedName(now, suffix: UInt32.random(in: 0..<1_000_000_000))
        } while fm.fileExists(atPath: targetDir + "/" + name)
        let dir = targetDir + "/" + name
        do {
            try fm.createDirectory(atPath: dir, withIntermediateDirectories: false)
            chmod(dir, 0o755)
            for (path, file) in payload.sorted(by: { $0.key < $1.key }) {
                let full = dir + "/" + path
                let parent = (full as NSString).deletingLastPathComponent
                if parent != dir {
                    try fm.createDirectory(atPath: parent, withIntermediateDirectories: true)
                }
                guard fm.createFile(atPath: full, contents: Data(file.data)) else {
                    throw WriteError.io("writing \(full) failed")
                }
                chmod(full, mode_t(file.mode & 0o7777))
            }
            if let fsGroup, let failed = VolumeOwnership.apply(dir, fsGroup: fsGroup, readOnly: true).first {
                throw WriteError.io("setting the volume's group \(fsGroup): \(failed)")
            }
        } catch let e as WriteError {
            try? fm.removeItem(atPath: dir)
            throw e
        } catch {
            try? fm.removeItem(atPath: dir)
            throw .io("writing \(dir): \(error)")
        }
        return Staged(dirName: name, previousDirName: previous, visibleNames: Self.visibleNames(payload.keys))
    }

    /// Makes a staged directory the visible one: `..data` swapped by rename, user-visible links for
    /// new names, names no longer in the payload removed, the old directory removed.
    public func commit(_ staged: Staged) throws(WriteError) {
        let fm = FileManager.default
        let tmp = targetDir + "/" + Self.dataDirTmpName
        unlink(tmp)
        guard symlink(staged.dirName, tmp) == 0 else { throw .io("symlink \(tmp): errno \(errno)") }
        guard rename(tmp, targetDir + "/" + Self.dataDirName) == 0 else {
            throw .io("rename \(tmp): errno \(errno)")
        }
        try ensureVisibleLinks(staged.visibleNames)
        for entry in (try? fm.contentsOfDirectory(atPath: targetDir)) ?? [] {
            if entry.hasPrefix("..") {
                // Old timestamped directories (the previous one, or one left by an interrupted write).
                if entry != staged.dirName && entry != Self.dataDirName && entry != Self.dataDirTmpName {
                    try? fm.removeItem(atPath: targetDir + "/" + entry)
                }
            } else if !staged.visibleNames.contains(entry) {
                try? fm.removeItem(atPath: targetDir + "/" + entry)
            }
        }
    }

    func ensureVisibleLinks(_ names: Set<String>) throws(WriteError) {
        for name in names.sorted() {
            let link = targetDir + "/" + name
            let want = Self.dataDirName + "/" + name
            if (try? FileManager.default.destinationOfSymbolicLink(atPath: link)) == want { continue }
            unlink(link)
            guard symlink(want, link) == 0 else { throw .io("symlink \(link): errno \(errno)") }
        }
    }

    /// Whether a timestamped directory holds exactly the payload (paths, bytes, modes).
    static func holds(_ dir: String, _ payload: [String: FileProjection]) -> Bool {
        let fm = FileManager.default
        guard let e = fm.enumerator(atPath: dir) else { return false }
        var files: Set<String> = []
        while let rel = e.nextObject() as? String {
            var st = stat()
            guard lstat(dir + "/" + rel, &st) == 0 else { return false }
            if st.st_mode & S_IFMT == S_IFREG { files.insert(rel) }
        }
        guard files == Set(payload.keys) else { return false }
        for (path, file) in payload {
            var st = stat()
            guard stat(dir + "/" + path, &st) == 0, Int32(st.st_mode & 0o7777) == file.mode & 0o7777 else {
                return false
            }
            guard let data = fm.contents(atPath: dir + "/" + path), [UInt8](data) == file.data else { return false }
        }
        return true
    }
}
