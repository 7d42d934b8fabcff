import KubernetesAPI
import Testing

/// Feature gates: `--feature-gates` parsing with upstream's errors, and alpha fields silently
/// dropped on write while their gate is off (upstream's PrepareForCreate/PrepareForUpdate).
@Suite("Feature gates")
struct FeatureGateTests {
    @Test("defaults: alpha gates off, GA gates on; flags override and are validated")
    func parsing() throws {
        let gates = FeatureGates()
        #expect(gates.enabled("ContainerStopSignals") == false)
        #expect(gates.enabled("DynamicResourceAllocation") == true)
        let on = try FeatureGates(flag: "ContainerStopSignals=true,HostnameOverride=false")
        #expect(on.enabled("ContainerStopSignals"))
        #expect(!on.enabled("HostnameOverride"))
        #expect(throws: FeatureGates.Error(description: "unrecognized feature gate: NoSuchGate")) {
            try FeatureGates(flag: "NoSuchGate=true")
        }
        #expect(throws: FeatureGates.Error(description: "missing bool value for ContainerStopSignals")) {
            try FeatureGates(flag: "ContainerStopSignals")
        }
        #expect(throws: FeatureGates.Error.self) { try FeatureGates(flag: "ContainerStopSignals=maybe") }
        let locked = FeatureGates.kubernetesDefaults.first { $0.lockedToDefault }!
        #expect(
            throws: FeatureGates.Error(
                description:
                    "cannot set feature gate \(locked.name) to \(!locked.defaultEnabled), feature is locked to \(locked.defaultEnabled)"
            )
        ) {
            try FeatureGates(flag: "\(locked.name)=\(!locked.defaultEnabled)")
        }
    }

    static func pod(stopSignal: String?) -> CoreV1.Pod {
        var p = CoreV1.Pod(metadata: MetaV1.ObjectMeta(name: "p", namespace: "d"))
        p.spec.containers = [
            CoreV1.Container(name: "c", image: "i", lifecycle: CoreV1.Lifecycle(stopSignal: stopSignal))
        ]
        return p
    }

    @Test("a field whose gate is off is dropped on create")
    func dropOnCreate() {
        var p = Self.pod(stopSignal: "SIGTERM")
        FeatureGates().dropDisabledFields(&p, old: nil)
        #expect(p.spec.containers[0].lifecycle?.stopSignal == nil)
        // Other fields are untouched.
        #expect(p.spec.containers[0].image == "i")
    }

    @Test("on update the field is kept when the stored object already uses it")
    func keepOnUpdate() {
        let old = Self.pod(stopSignal: "SIGTERM")
        var new = Self.pod(stopSignal: "SIGKILL")
        FeatureGates().dropDisabledFields(&new, old: old)
        #expect(new.spec.containers[0].lifecycle?.stopSignal == "SIGKILL")
        var fresh = Self.pod(stopSignal: "SIGKILL")
        FeatureGates().dropDisabledFields(&fresh, old: Self.pod(stopSignal: nil))
        #expect(fresh.spec.containers[0].lifecycle?.stopSignal == nil)
    }

    @Test("with the gate on, the field is kept")
    func gateOn() throws {
        var p = Self.pod(stopSignal: "SIGTERM")
        try FeatureGates(flag: "ContainerStopSignals=true").dropDisabledFields(&p, old: nil)
        #expect(p.spec.containers[0].lifecycle?.stopSignal == "SIGTERM")
    }
}
