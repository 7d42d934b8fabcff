import Foundation
import Testing

@testable import Kubelet

func group(_ path: String) -> UInt32? {
    var st = stat()
    guard lstat(path, &st) == 0 else { return nil }
    return st.st_gid
}

/// fsGroup's ownership change of a volume, as upstream's kubelet makes it: group rw (r on read-only
/// volumes) added to files, plus group x and setgid on directories; symlinks left alone.
@Suite("Volume ownership: securityContext.fsGroup")
struct VolumeOwnershipTests {
    struct ModeCase: Sendable, CustomTestStringConvertible {
        var current: UInt32
        var isDirectory: Bool
        var readOnly: Bool
        var want: UInt32
        var testDescription: String {
            "\(String(current, radix: 8)) \(isDirectory ? "dir" : "file") \(readOnly ? "ro" : "rw") → \(String(want, radix: 8))"
        }
    }

    static let modeCases: [ModeCase] = [
        // Writable volumes (emptyDir): files get 0660 added, directories 0770 and setgid.
        ModeCase(current: 0o644, isDirectory: false, readOnly: false, want: 0o664),
        ModeCase(current: 0o600, isDirectory: false, readOnly: false, want: 0o660),
        ModeCase(current: 0o777, isDirectory: true, readOnly: false, want: 0o2777),
        ModeCase(current: 0o700, isDirectory: true, readOnly: false, want: 0o2770),
        // Read-only volumes (configMap, secret, downwardAPI, projected): 0440, directories 0550 and setgid.
        ModeCase(current: 0o400, isDirectory: false, readOnly: true, want: 0o440),
        ModeCase(current: 0o644, isDirectory: false, readOnly: true, want: 0o644),
        ModeCase(current: 0o755, isDirectory: true, readOnly: true, want: 0o2755),
        ModeCase(current: 0o700, isDirectory: true, readOnly: true, want: 0o2750),
        // Bits are only added: setuid and the sticky bit stay.
        ModeCase(current: 0o4755, isDirectory: false, readOnly: true, want: 0o4755),
        ModeCase(current: 0o1777, isDirectory: true, readOnly: false, want: 0o3777),
    ]

    @Test("the mode a file or directory gets", arguments: modeCases)
    func modeOf(_ c: ModeCase) {
        #expect(VolumeOwnership.mode(c.current, isDirectory: c.isDirectory, readOnly: c.readOnly) == c.want)
    }

    @Test(
        "OnRootMismatch skips only a root directory of the group with the wanted bits and setgid",
        arguments: [
            (UInt32(2000), UInt32(0o2777), true, false, true),
            (2000, 0o2770, true, false, true),
            (2000, 0o2550, true, true, true),
            (2000, 0o2550, true, false, false),  // a writable volume needs group rw
            (2000, 0o777, true, false, false),  // no setgid
            (0, 0o2777, true, false, false),  // another group
            (2000, 0o2777, false, false, false),  // not a directory
        ])
    func rootMatches(_ gid: UInt32, _ mode: UInt32, _ isDirectory: Bool, _ readOnly: Bool, _ matches: Bool) {
        #expect(
            VolumeOwnership.rootMatches(
                gid: gid, mode: mode, isDirectory: isDirectory, fsGroup: 2000, readOnly: readOnly) == matches)
    }

    @Test("fsGroup as a group ID: none, a negative or a too large one is no group")
    func fsGroupValue() {
        #expect(VolumeOwnership.fsGroup(nil) == nil)
        #expect(VolumeOwnership.fsGroup(-1) == nil)
        #expect(VolumeOwnership.fsGroup(Int64(UInt32.max) + 1) == nil)
        #expect(VolumeOwnership.fsGroup(2000) == 2000)
    }

    /// A group the test may give files to: any as root, else the test's own.
    static var testGroup: UInt32 { getuid() == 0 ? 4321 : getegid() }

    @Test("a walk gives every file and directory the group and its bits; a symlink and what it points to stay")
    func walk() throws {
        let dir = try temporaryDirectory("own")
        let outside = try temporaryDirectory("own-outside")
        defer {
            try? FileManager.default.removeItem(atPath: dir)
            try? FileManager.default.removeItem(atPath: outside)
        }
        let g = Self.testGroup
        try FileManager.default.createDirectory(atPath: dir + "/sub", withIntermediateDirectories: true)
        chmod(dir, 0o755)
        chmod(dir + "/sub", 0o700)
        FileManager.default.createFile(atPath: dir + "/sub/f", contents: Data("x".utf8))
        chmod(dir + "/sub/f", 0o600)
        FileManager.default.createFile(atPath: outside + "/target", contents: Data("y".utf8))
        chmod(outside + "/target", 0o600)
        symlink(outside + "/target", dir + "/link")
        let before = group(outside + "/target")

        #expect(VolumeOwnership.apply(dir, fsGroup: g, readOnly: false).isEmpty)
        #expect(group(dir) == g && group(dir + "/sub") == g && group(dir + "/sub/f") == g)
        #expect(mode(dir) == 0o2775)
        #expect(mode(dir + "/sub") == 0o2770)
        #expect(mode(dir + "/sub/f") == 0o660)
        #expect(mode(outside + "/target") == 0o600)
        #expect(group(outside + "/target") == before)
    }

    @Test("OnRootMismatch: a root already the group's is not walked; otherwise everything is")
    func onRootMismatch() throws {
        let dir = try temporaryDirectory("own")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let g = Self.testGroup
        FileManager.default.createFile(atPath: dir + "/f", contents: Data("x".utf8))
        chmod(dir + "/f", 0o600)
        chmod(dir, 0o2777)
        chown(dir, getuid(), g)
        #expect(VolumeOwnership.apply(dir, fsGroup: g, readOnly: false, onRootMismatch: true).isEmpty)
        #expect(mode(dir + "/f") == 0o600)
        chmod(dir, 0o777)
        #expect(VolumeOwnership.apply(dir, fsGroup: g, readOnly: false, onRootMismatch: true).isEmpty)
        #expect(mode(dir + "/f") == 0o660 && group(dir + "/f") == g)
        #expect(mode(dir) == 0o2777)
    }

    @Test(
        "the atomic writer with fsGroup: group-readable files of the group, a setgid directory, no rewrite of the same payload"
    )
    func atomicWriter() throws {
        let dir = try temporaryDirectory("own-aw")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let g = Self.testGroup
        let w = AtomicWriter(targetDir: dir, fsGroup: g)
        let payload = ["password": FileProjection("s3cret", mode: 0o400), "sub/cfg": FileProjection("c", mode: 0o644)]
        #expect(try w.write(payload))
        let data = try #require(link(dir + "/..data"))
        #expect(mode(dir + "/password") == 0o440)
        #expect(group(dir + "/" + data + "/password") == g)
        #expect(mode(dir + "/sub/cfg") == 0o644)
        #expect(group(dir + "/" + data + "/sub") == g)
        #expect(mode(dir + "/" + data) == 0o2755)
        #expect(mode(dir + "/" + data + "/sub") & 0o2550 == 0o2550)
        // The bits fsGroup added do not make the same payload look changed.
        #expect(try w.write(payload) == false)
        #expect(link(dir + "/..data") == data)
    }
}
