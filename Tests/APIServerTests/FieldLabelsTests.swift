import APIMachinery
import KubernetesAPI
import Testing

@testable import APIServer

/// The field sets of pods, nodes and events are read from the typed objects on the hot path; they
/// must equal what the generic reading of the object's JSON gives (which follows upstream's
/// `GetAttrs`: e.g. an unset `spec.hostNetwork` is "false", `status.podIPs` is the IPs comma-joined).
@Suite("Field labels")
struct FieldLabelsTests {
    static func json<T: JSONEncodableValue>(_ o: T) throws -> JSONValue {
        var w = JSONWriter()
        o.encodeJSON(&w)
        return try JSONValue.parse(w.bytes)
    }

    @Test("pods: typed fields equal the JSON reading, bound or pending, with and without IPs")
    func pods() throws {
        var bare = CoreV1.Pod()
        bare.metadata.name = "p"
        bare.metadata.namespace = "ns"
        var full = bare
        full.spec.nodeName = "n1"
        full.spec.restartPolicy = "Always"
        full.spec.schedulerName = "default-scheduler"
        full.spec.serviceAccountName = "sa"
        full.spec.hostNetwork = true
        full.status.phase = "Running"
        full.status.podIP = "10.42.0.5"
        full.status.podIPs = [CoreV1.PodIP(ip: "10.42.0.5"), CoreV1.PodIP(ip: "fd00::5")]
        full.status.nominatedNodeName = "n2"
        var ipOnly = bare
        ipOnly.status.podIP = "10.42.0.9"
        for p in [bare, full, ipOnly] {
            let viaJSON = FieldLabels.fromJSON(
                try Self.json(p), resource: "pods", name: p.metadata.name, namespace: p.metadata.namespace,
                namespaced: true)
            #expect(FieldLabels.podFields(p) == viaJSON)
        }
        #expect(FieldLabels.podFields(full)["status.podIPs"] == "10.42.0.5,fd00::5")
        #expect(FieldLabels.podFields(ipOnly)["status.podIP"] == "10.42.0.9")
        #expect(FieldLabels.podFields(bare)["spec.hostNetwork"] == "false")
    }

    @Test("nodes and events: typed fields equal the JSON reading")
    func nodesAndEvents() throws {
        var n = CoreV1.Node()
        n.metadata.name = "n1"
        for unschedulable in [false, true] {
            n.spec.unschedulable = unschedulable
            let viaJSON = FieldLabels.fromJSON(
                try Self.json(n), resource: "nodes", name: "n1", namespace: "", namespaced: false)
            #expect(FieldLabels.nodeFields(n) == viaJSON)
        }
        var e = CoreV1.Event()
        e.metadata.name = "p.1"
        e.metadata.namespace = "ns"
        e.involvedObject = CoreV1.ObjectReference(kind: "Pod", namespace: "ns", name: "p", uid: "u", apiVersion: "v1")
        e.reason = "Scheduled"
        e.type = "Normal"
        e.reportingComponent = "default-scheduler"
        var withSource = e
        withSource.source = CoreV1.EventSource(component: "default-scheduler")
        for ev in [e, withSource] {
            let viaJSON = FieldLabels.fromJSON(
                try Self.json(ev), resource: "events", name: ev.metadata.name, namespace: "ns", namespaced: true)
            #expect(FieldLabels.eventFields(ev) == viaJSON)
        }
    }
}
