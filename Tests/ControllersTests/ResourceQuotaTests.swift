import APICore
import APIMachinery
import Foundation
import Testing

@testable import Controllers

/// The resourcequota controller's recount (upstream `CalculateUsage`): every hard name gets a used
/// value, zero when nothing counts.
@Suite("resourcequota controller")
struct ResourceQuotaTests {
    func pod(_ name: String, cpu: Quantity? = nil, phase: String = "Running") -> CoreV1.Pod {
        var p = CoreV1.Pod()
        p.metadata.name = name
        var c = CoreV1.Container()
        c.name = "c"
        if let cpu { c.resources.requests = ["cpu": cpu] }
        p.spec.containers = [c]
        p.status.phase = phase
        return p
    }

    @Test("usage sums counting pods, skips terminal ones, counts services and other objects; hard is copied from spec")
    func recount() {
        var q = CoreV1.ResourceQuota()
        q.spec.hard = [
            "pods": "10", "requests.cpu": "4", "services": "2", "configmaps": "5", "services.nodeports": "3",
        ]
        var np = CoreV1.Service()
        np.spec.type = "NodePort"
        np.spec.ports = [CoreV1.ServicePort(name: "http", port: 80)]
        let status = ResourceQuotaController.status(
            q, pods: [pod("a", cpu: "500m"), pod("b", cpu: "1"), pod("done", cpu: "2", phase: "Succeeded")],
            services: [np, CoreV1.Service()], claims: [], counts: ["configmaps": 3], now: Date())
        #expect(status.hard == q.spec.hard)
        #expect(status.used["pods"]?.string == "2")
        #expect(status.used["requests.cpu"]?.string == "1500m")
        #expect(status.used["services"]?.string == "2")
        #expect(status.used["services.nodeports"]?.string == "1")
        #expect(status.used["configmaps"]?.string == "3")
    }

    @Test("names nothing uses are reported as 0; a scoped quota ignores non-pod counts")
    func zeroesAndScopes() {
        var q = CoreV1.ResourceQuota()
        q.spec.hard = ["pods": "5", "requests.memory": "1Gi"]
        q.spec.scopes = ["NotTerminating"]
        var job = pod("job")
        job.spec.activeDeadlineSeconds = 10
        let status = ResourceQuotaController.status(
            q, pods: [pod("web"), job], services: [], claims: [], counts: [:], now: Date())
        #expect(status.used["pods"]?.string == "1")
        #expect(status.used["requests.memory"]?.isZero == true)
    }

    @Test("a quota whose status lags its spec is recounted")
    func needsRecount() {
        var q = CoreV1.ResourceQuota()
        q.spec.hard = ["pods": "1"]
        #expect(ResourceQuotaController.needsRecount(q))
        q.status.hard = ["pods": "1"]
        q.status.used = ["pods": "0"]
        #expect(!ResourceQuotaController.needsRecount(q))
        q.spec.hard["secrets"] = "2"
        #expect(ResourceQuotaController.needsRecount(q))
    }
}
