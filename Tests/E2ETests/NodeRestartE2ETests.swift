import Foundation
import Testing

/// The node's process killed with SIGKILL while its pods run: the containers live on in their shims,
/// and the restarted kubelet (with a new containerd on the same root) adopts them, reporting the
/// same containers, start times and restart counts, without starting anything again.
extension NodeE2ETests {
    @Test(
        "kill -9 of the node while pods run: on restart the kubelet adopts the running containers without restarting them"
    )
    func killNineAdopts() throws {
        if let why = Self.missing {
            print("skipped: the node end-to-end suite needs root, containerd, runc and CNI: \(why)")
            return
        }
        var (c, dir, busybox) = try startNode()
        defer {
            c.stop()
            NodeHost.clean(dataDir: dir)
        }
        try c.kubectl([
            "run", "steady", "--image=\(busybox)", "--image-pull-policy=IfNotPresent", "--",
            "sh", "-c", "cat /proc/uptime > /tmp/started; exec sleep 3600",
        ])
        try waitReady(c, "steady")
        let before = try pod(c, "steady")
        let containerID = try #require(dig(before, "status", "containerStatuses", 0, "containerID") as? String)
        let startedAt = try #require(
            dig(before, "status", "containerStatuses", 0, "state", "running", "startedAt") as? String)
        let marker = try c.kubectl(["exec", "steady", "--", "cat", "/tmp/started"]).out

        let port = c.port
        c.kill9()
        c = try TestCluster(dataDir: dir, port: port, keepDataDir: true, node: true)
        // The node comes back: its status is renewed by the new kubelet.
        try eventually(c, "exec into the adopted container", timeout: 90) {
            try c.kubectl(["exec", "steady", "--", "cat", "/tmp/started"], check: false).out == marker
        }
        let after = try pod(c, "steady")
        #expect(dig(after, "status", "phase") as? String == "Running")
        #expect(dig(after, "status", "containerStatuses", 0, "containerID") as? String == containerID)
        #expect(dig(after, "status", "containerStatuses", 0, "restartCount") as? Int == 0)
        #expect(dig(after, "status", "containerStatuses", 0, "state", "running", "startedAt") as? String == startedAt)
        try c.kubectl(["delete", "pod", "steady", "--grace-period=1"])
    }
}
