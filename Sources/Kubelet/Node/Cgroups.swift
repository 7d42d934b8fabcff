import Foundation

/// The cgroup v1 hierarchies of this host (and the v2 one beside them in hybrid mode), as the node
/// cleans them: a removed pod or a stopped runtime leaves its directories in every hierarchy.
public enum Cgroups {
    public static let root = "/sys/fs/cgroup"

    /// Every hierarchy's mount directory (`cpu`, `memory`, …, `systemd`, `unified`).
    public static func hierarchies(root: String = Cgroups.root) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        return names.sorted().map { root + "/" + $0 }.filter { dir in
            var isDir: ObjCBool = false
            return FileManager.default.fileExists(atPath: dir + "/cgroup.procs", isDirectory: &isDir)
        }
    }

    /// Removes the cgroup `path` (e.g. `/kubepods/pod<uid>`) and its children, deepest first, in every
    /// hierarchy. A cgroup that still holds a process stays; returns the directories that could not go.
    @discardableResult
    public static func remove(_ path: String, root: String = Cgroups.root) -> [String] {
        var left: [String] = []
        for h in hierarchies(root: root) {
            let top = h + (path.hasPrefix("/") ? path : "/" + path)
            guard FileManager.default.fileExists(atPath: top) else { continue }
            var dirs: [String] = [top]
            if let e = FileManager.default.enumerator(atPath: top) {
                while let rel = e.nextObject() as? String {
                    var isDir: ObjCBool = false
                    let full = top + "/" + rel
                    if FileManager.default.fileExists(atPath: full, isDirectory: &isDir), isDir.boolValue,
                        FileManager.default.fileExists(atPath: full + "/cgroup.procs")
                    {
                        dirs.append(full)
                    }
                }
            }
            // Deepest first: a cgroup goes only once its children have.
            for d in dirs.sorted(by: { $0.count > $1.count }) where rmdir(d) != 0 && errno != ENOENT {
                left.append(d)
            }
        }
        return left
    }
}

extension ContainerdProcess {
    /// What containerd leaves outside its own directories even with root, state and socket moved:
    /// shim sockets and runc's state under /run/containerd (removed when empty: another containerd may
    /// use them) and its namespace cgroup in every hierarchy.
    public static func removeLeftovers(namespace: String = "k8s.io") {
        Cgroups.remove("/" + namespace)
        for d in [
            "/run/containerd/runc/" + namespace, "/run/containerd/runc", "/run/containerd/s", "/run/containerd/fifo",
            "/run/containerd",
        ] {
            rmdir(d)
        }
    }
}
