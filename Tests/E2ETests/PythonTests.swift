import Foundation
import Testing

/// Python-driven checks against a live server: the official client, replays of upstream's recorded
/// exchanges (an independent oracle for codes, reasons, messages and shapes), and bad input.
@Suite("Python clients end to end", .serialized)
struct PythonTests {
    let c: TestCluster

    init() throws { c = try SharedCluster.get() }

    func python(_ mode: String, _ extra: [String] = [], on cluster: TestCluster? = nil) throws -> TestCluster.Result {
        try (cluster ?? c).e2ePython(mode, extra)
    }

    @Test("the official Python client does CRUD, patch, scale and watch")
    func officialClient() throws {
        let r = try python("client")
        if r.err.contains("No module named 'kubernetes'") {
            Issue.record("the Python client is missing: pip install kubernetes (make test installs it)")
            return
        }
        #expect(r.status == 0, "\(r.out)\n\(r.err)")
    }

    @Test("the official Python client's deployments get pods, and each propagation policy works")
    func controllers() throws {
        let r = try python("controllers")
        #expect(r.status == 0, "\(r.out)\n\(r.err)")
    }

    @Test("upstream's recorded exchanges get the same codes, reasons, messages and shapes")
    func recordedExchanges() throws {
        // Recorded on an API server with no controller manager: nothing may write status meanwhile.
        let r = try python("recorded", on: try APIOnlyCluster.get())
        #expect(r.status == 0, "\(r.out)\n\(r.err)")
    }

    @Test("random mutations of valid requests get 4xx Status answers and lose nothing")
    func badInput() throws {
        let count = ProcessInfo.processInfo.environment["K8SWIFT_FUZZ_COUNT"] ?? "1000"
        let r = try python("fuzz", [count])
        #expect(r.status == 0, "\(r.out)\n\(r.err)")
    }
}
