import APIMachinery
import Foundation
import KubernetesAPI
import Testing

/// How objects count against ResourceQuotas, per upstream's quota evaluators and the documented
/// resource names of https://kubernetes.io/docs/concepts/policy/resource-quotas/.
@Suite("quota evaluation")
struct QuotaEvaluationTests {
    static func container(_ name: String, requests: [String: Quantity] = [:], limits: [String: Quantity] = [:])
        -> CoreV1.Container
    {
        var c = CoreV1.Container()
        c.name = name
        c.resources.requests = requests
        c.resources.limits = limits
        return c
    }

    static func pod(_ containers: [CoreV1.Container], initContainers: [CoreV1.Container] = []) -> CoreV1.Pod {
        var p = CoreV1.Pod()
        p.metadata.name = "p"
        p.spec.containers = containers
        p.spec.initContainers = initContainers
        return p
    }

    @Test("Quantity sums are exact and keep the left operand's format unless it is zero (upstream Add/Sub)")
    func quantityArithmetic() {
        #expect((Quantity("1Gi") + Quantity("512Mi")).string == "1536Mi")
        #expect((Quantity("500m") + Quantity("500m")).string == "1")
        #expect((Quantity("100m") + Quantity("1")).string == "1100m")
        #expect((Quantity() + Quantity("1Gi")).string == "1Gi")
        #expect((Quantity("2") - Quantity("500m")).string == "1500m")
        #expect((Quantity("1") - Quantity("1")).isZero)
    }

    @Test(
        "pod requests: app containers and sidecars add up; a plain init container counts beside earlier sidecars; the larger phase wins; overhead adds (KEP-753 / PodRequests)"
    )
    func podRequests() {
        var sidecar = Self.container("log", requests: ["cpu": "100m"])
        sidecar.restartPolicy = "Always"
        let bigInit = Self.container("migrate", requests: ["cpu": "2", "memory": "64Mi"])
        var p = Self.pod(
            [
                Self.container("a", requests: ["cpu": "500m", "memory": "128Mi"]),
                Self.container("b", requests: ["cpu": "250m"]),
            ],
            initContainers: [sidecar, bigInit])
        // Steady state: 500m + 250m + 100m = 850m cpu, 128Mi memory. Init phase of `migrate`: 2 + 100m cpu.
        #expect(p.spec.aggregateRequests["cpu"]?.string == "2100m")
        #expect(p.spec.aggregateRequests["memory"]?.string == "128Mi")
        p.spec.initContainers = [bigInit, sidecar]
        // `migrate` now runs before the sidecar starts: 2 cpu alone.
        #expect(p.spec.aggregateRequests["cpu"]?.string == "2")
        p.spec.overhead = ["cpu": "100m"]
        #expect(p.spec.aggregateRequests["cpu"]?.string == "2100m")
    }

    @Test("pod usage names: pods, count/pods, cpu = requests.cpu, limits.*, extended resources as requests.<name>")
    func podUsage() {
        let p = Self.pod([
            Self.container(
                "a", requests: ["cpu": "250m", "memory": "64Mi", "example.com/gpu": "1"],
                limits: ["cpu": "500m", "memory": "128Mi"])
        ])
        let u = QuotaEvaluation.usage(.pod(p), now: Date())
        #expect(u["pods"]?.string == "1")
        #expect(u["count/pods"]?.string == "1")
        #expect(u["cpu"]?.string == "250m")
        #expect(u["requests.cpu"]?.string == "250m")
        #expect(u["requests.memory"]?.string == "64Mi")
        #expect(u["limits.cpu"]?.string == "500m")
        #expect(u["limits.memory"]?.string == "128Mi")
        #expect(u["requests.example.com/gpu"]?.string == "1")
        #expect(u["example.com/gpu"] == nil)
    }

    @Test("terminal pods and pods past their deletion grace period use nothing (QuotaV1Pod)")
    func terminalPods() {
        var p = Self.pod([Self.container("a")])
        #expect(QuotaEvaluation.podCounts(p, now: Date()))
        p.status.phase = "Succeeded"
        #expect(!QuotaEvaluation.podCounts(p, now: Date()))
        p.status.phase = "Running"
        p.metadata.deletionTimestamp = Time(seconds: 1000)
        p.metadata.deletionGracePeriodSeconds = 30
        #expect(QuotaEvaluation.podCounts(p, now: Date(timeIntervalSince1970: 1020)))
        #expect(!QuotaEvaluation.podCounts(p, now: Date(timeIntervalSince1970: 1031)))
    }

    @Test("services: node ports counted per port for NodePort and LoadBalancer, load balancers counted once")
    func services() {
        var s = CoreV1.Service()
        s.spec.type = "NodePort"
        s.spec.ports = [CoreV1.ServicePort(name: "a", port: 80), CoreV1.ServicePort(name: "b", port: 81)]
        var u = QuotaEvaluation.usage(.service(s), now: Date())
        #expect(u["services"]?.string == "1")
        #expect(u["services.nodeports"]?.string == "2")
        #expect(u["services.loadbalancers"]?.isZero == true)
        s.spec.type = "LoadBalancer"
        s.spec.allocateLoadBalancerNodePorts = false
        s.spec.ports[0].nodePort = 30080
        u = QuotaEvaluation.usage(.service(s), now: Date())
        #expect(u["services.loadbalancers"]?.string == "1")
        #expect(u["services.nodeports"]?.string == "1", "only explicit node ports when allocation is off")
    }

    @Test("claims: storage and per-class names <class>.storageclass.storage.k8s.io/…")
    func claims() {
        var c = CoreV1.PersistentVolumeClaim()
        c.spec.storageClassName = "gold"
        c.spec.resources.requests = ["storage": "10Gi"]
        let u = QuotaEvaluation.usage(.claim(c), now: Date())
        #expect(u["persistentvolumeclaims"]?.string == "1")
        #expect(u["requests.storage"]?.string == "10Gi")
        #expect(u["gold.storageclass.storage.k8s.io/requests.storage"]?.string == "10Gi")
        #expect(u["gold.storageclass.storage.k8s.io/persistentvolumeclaims"]?.string == "1")
    }

    @Test("which quota names a resource counts against; count/<resource>.<group> parsing")
    func matching() {
        let hard = [
            "pods", "requests.cpu", "services", "count/deployments.apps", "configmaps", "count/secrets",
            "requests.storage",
        ]
        #expect(QuotaEvaluation.matchingResources(group: "", resource: "pods", hard) == ["pods", "requests.cpu"])
        #expect(
            QuotaEvaluation.matchingResources(group: "apps", resource: "deployments", hard) == [
                "count/deployments.apps"
            ])
        #expect(QuotaEvaluation.matchingResources(group: "", resource: "configmaps", hard) == ["configmaps"])
        #expect(QuotaEvaluation.matchingResources(group: "", resource: "secrets", hard) == ["count/secrets"])
        #expect(
            QuotaEvaluation.matchingResources(group: "", resource: "persistentvolumeclaims", hard) == [
                "requests.storage"
            ])
        #expect(QuotaEvaluation.countedResource("count/deployments.apps")! == ("apps", "deployments"))
        #expect(QuotaEvaluation.countedResource("count/widgets.example.com")! == ("example.com", "widgets"))
        #expect(QuotaEvaluation.countedResource("secrets")! == ("", "secrets"))
        #expect(QuotaEvaluation.countedResource("requests.cpu") == nil)
    }

    @Test(
        "scopes: Terminating by activeDeadlineSeconds, BestEffort by QoS, PriorityClass by selector; scoped quotas count only pods"
    )
    func scopes() {
        var q = CoreV1.ResourceQuota()
        q.spec.scopes = ["BestEffort"]
        let bestEffort = Self.pod([Self.container("a")])
        let burstable = Self.pod([Self.container("a", requests: ["memory": "1Mi"])])
        #expect(QuotaEvaluation.matchesScopes(q, .pod(bestEffort)))
        #expect(!QuotaEvaluation.matchesScopes(q, .pod(burstable)))
        #expect(!QuotaEvaluation.matchesScopes(q, .object(group: "", resource: "configmaps")))
        q.spec.scopes = ["Terminating"]
        var job = bestEffort
        job.spec.activeDeadlineSeconds = 60
        #expect(QuotaEvaluation.matchesScopes(q, .pod(job)))
        #expect(!QuotaEvaluation.matchesScopes(q, .pod(bestEffort)))
        q.spec.scopes = []
        q.spec.scopeSelector = CoreV1.ScopeSelector(matchExpressions: [
            CoreV1.ScopedResourceSelectorRequirement(scopeName: "PriorityClass", operator: "In", values: ["high"])
        ])
        var high = bestEffort
        high.spec.priorityClassName = "high"
        #expect(QuotaEvaluation.matchesScopes(q, .pod(high)))
        #expect(!QuotaEvaluation.matchesScopes(q, .pod(bestEffort)))
    }

    @Test("a quota on cpu or memory requires every container to state it (upstream's message)")
    func requirements() {
        let p = Self.pod(
            [Self.container("web", requests: ["cpu": "1"]), Self.container("log")],
            initContainers: [Self.container("init", limits: ["cpu": "1"])])
        #expect(QuotaEvaluation.missingRequirements(p, required: ["pods"]) == nil)
        #expect(
            QuotaEvaluation.missingRequirements(p, required: ["requests.cpu", "limits.cpu", "pods"])
                == "must specify limits.cpu for: log,web; requests.cpu for: init,log")
    }
}
