import Foundation
import Testing

@testable import Kubelet

/// The pod cgroups a node leaves behind and which of them go: upstream's QoS layout under the cgroup
/// root, removed once neither the API nor the runtime knows the pod.
@Suite("Pod cgroups: finding and removing those of pods that are gone")
struct PodCgroupTests {
    @Test("pod cgroups are found under the root and its burstable and besteffort directories, in any hierarchy")
    func find() throws {
        let root = try temporaryDirectory("cgroups")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let fm = FileManager.default
        for h in ["cpu", "memory"] {
            try fm.createDirectory(atPath: "\(root)/\(h)", withIntermediateDirectories: true)
            fm.createFile(atPath: "\(root)/\(h)/cgroup.procs", contents: nil)
        }
        for dir in [
            "cpu/kubepods/podaaa/ctr1", "cpu/kubepods/burstable/podbbb", "memory/kubepods/besteffort/podccc",
            "cpu/kubepods/burstable/notapod", "cpu/other/podddd",
        ] {
            try fm.createDirectory(atPath: "\(root)/\(dir)", withIntermediateDirectories: true)
        }
        let found = Cgroups.podCgroups(cgroupRoot: "/kubepods", root: root)
        #expect(
            found == [
                "aaa": "/kubepods/podaaa", "bbb": "/kubepods/burstable/podbbb", "ccc": "/kubepods/besteffort/podccc",
            ])
    }

    @Test(
        "a cgroup goes only when neither the API nor the runtime knows its pod",
        arguments: [
            (Set(["a"]), Set<String>(), ["/kubepods/burstable/podb"]),
            (Set<String>(), Set(["a"]), ["/kubepods/burstable/podb"]),
            (Set(["a"]), Set(["b"]), []),
            (Set<String>(), Set<String>(), ["/kubepods/burstable/podb", "/kubepods/poda"]),
        ])
    func orphans(_ known: Set<String>, _ inRuntime: Set<String>, _ removed: [String]) {
        let found = ["a": "/kubepods/poda", "b": "/kubepods/burstable/podb"]
        #expect(Cgroups.orphanedPodCgroups(found, known: known, inRuntime: inRuntime) == removed)
    }
}
