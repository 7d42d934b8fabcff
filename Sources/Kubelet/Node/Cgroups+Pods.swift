import Foundation

/// Pod cgroups left behind: the runtime removes each container's cgroup with the container, but the
/// pod's own directory (`/kubepods[/burstable|/besteffort]/pod<uid>`, the sandbox's cgroup parent)
/// stays in every hierarchy until the kubelet removes it, as upstream's kubelet does for pods that
/// are gone.
extension Cgroups {
    static let qosDirectories = ["", "/burstable", "/besteffort"]

    /// The pod cgroups under `cgroupRoot` in any hierarchy, by pod UID (path from the hierarchy's root).
    static func podCgroups(cgroupRoot: String, root: String = Cgroups.root) -> [String: String] {
        var found: [String: String] = [:]
        for h in hierarchies(root: root) {
            for qos in qosDirectories {
                let parent = cgroupRoot + qos
                for name in (try? FileManager.default.contentsOfDirectory(atPath: h + parent)) ?? []
                where name.hasPrefix("pod") && name.count > 3 {
                    found[String(name.dropFirst(3))] = parent + "/" + name
                }
            }
        }
        return found
    }

    /// The pod cgroups to remove: those of pods neither the API nor the runtime knows any more (a
    /// pod whose sandbox or containers the runtime still lists keeps its cgroup until they go).
    static func orphanedPodCgroups(_ found: [String: String], known: Set<String>, inRuntime: Set<String>) -> [String] {
        found.filter { !known.contains($0.key) && !inRuntime.contains($0.key) }.map(\.value).sorted()
    }
}

extension Kubelet {
    /// Removes the cgroups of pods that are gone (a cgroup still holding a process stays, and is tried
    /// again on the next relist). Hollow nodes have no cgroups of their own.
    func cleanUpPodCgroups(_ pods: [String: RuntimePod], known: Set<String>) {
        if options.hollow { return }
        let found = Cgroups.podCgroups(cgroupRoot: options.cgroupRoot)
        guard !found.isEmpty else { return }
        for path in Cgroups.orphanedPodCgroups(found, known: known, inRuntime: Set(pods.keys)) {
            Cgroups.remove(path)
        }
    }
}
