import Foundation
import Testing

/// Crash and restart behaviour of `k8swift server` on its embedded store.
@Suite("Durability end to end", .serialized)
struct DurabilityTests {
    @Test("kill -9 during concurrent writes loses no acknowledged write, repeatedly")
    func killNine() throws {
        let rounds = Int(ProcessInfo.processInfo.environment["K8SWIFT_KILL_ROUNDS"] ?? "3") ?? 3
        var c = try TestCluster()
        let dir = c.dataDir
        let port = c.port
        let ns = try c.namespace("crash")
        let acked = dir + "/acked.txt"
        FileManager.default.createFile(atPath: acked, contents: nil)
        guard let py = TestCluster.which("python3") else { throw E2EError("python3 is not installed") }
        let script = TestCluster.repoRoot.appendingPathComponent("Tests/E2ETests/python/e2e.py").path
        for round in 0..<rounds {
            let w = Process()
            w.executableURL = URL(fileURLWithPath: py)
            w.arguments = [
                script, "writer", "--kubeconfig", c.kubeconfig, "--data-dir", dir, "--testdata", upstreamTestData.path,
                "--acked", acked,
                "--namespace", ns,
            ]
            w.standardOutput = FileHandle.nullDevice
            w.standardError = FileHandle.nullDevice
            try w.run()
            // Kill only once this round's writer has had writes acknowledged (its start-up can take
            // seconds on a loaded machine), then after a varying further interval.
            let before = (try? Data(contentsOf: URL(fileURLWithPath: acked)).count) ?? 0
            for _ in 0..<200 {
                if ((try? Data(contentsOf: URL(fileURLWithPath: acked)).count) ?? 0) > before { break }
                Thread.sleep(forTimeInterval: 0.05)
            }
            Thread.sleep(forTimeInterval: 0.4 + Double(round % 3) * 0.4)
            c.kill9()
            w.terminate()
            w.waitUntilExit()
            // Restart on the same data dir and port; every acknowledged name must be there.
            c.removeDataDirOnDeinit = false
            c = try TestCluster(dataDir: dir, port: port, keepDataDir: true)
            let names = Set(
                try c.kubectl(["-n", ns, "get", "configmaps", "-o", "name"]).out.split(separator: "\n").map {
                    String($0.dropFirst("configmap/".count))
                })
            let ackedNames = try String(contentsOfFile: acked, encoding: .utf8).split(separator: "\n").map(String.init)
            #expect(!ackedNames.isEmpty, "no write was acknowledged in round \(round)")
            let lost = ackedNames.filter { !names.contains($0) }
            #expect(lost.isEmpty, "round \(round): \(lost.count) acknowledged writes lost, e.g. \(lost.prefix(5))")
        }
        c.removeDataDirOnDeinit = true
    }

    @Test("after a restart, data is kept and a watch from before the restart gets 410 Expired")
    func restart() throws {
        var c = try TestCluster()
        let dir = c.dataDir
        let port = c.port
        let ns = try c.namespace("restart")
        try c.kubectl(["-n", ns, "create", "configmap", "kept", "--from-literal=a=1"])
        c.stop()
        c.removeDataDirOnDeinit = false
        c = try TestCluster(dataDir: dir, port: port, keepDataDir: true)
        c.removeDataDirOnDeinit = true
        #expect(try c.kubectl(["-n", ns, "get", "cm", "kept", "-o", "jsonpath={.data.a}"]).out == "1")
        // The watch cache starts at the restart revision: older revisions are gone, as upstream's.
        try c.kubectl(["-n", ns, "create", "configmap", "after"])
        let raw = try c.kubectl([
            "get", "--raw", "/api/v1/namespaces/\(ns)/configmaps?watch=1&resourceVersion=1&timeoutSeconds=1",
        ]).out
        let first = try JSONSerialization.jsonObject(with: Data((raw.split(separator: "\n").first ?? "").utf8))
        #expect(dig(first, "type") as? String == "ERROR")
        #expect(dig(first, "object", "code") as? Int == 410)
        #expect(dig(first, "object", "reason") as? String == "Expired")
        #expect((dig(first, "object", "message") as? String)?.hasPrefix("too old resource version: 1 (") == true)
    }
}
