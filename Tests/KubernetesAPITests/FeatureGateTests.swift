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

    static func podGroup(priorityClassName: String) -> SchedulingV1alpha2.PodGroup {
        var g = SchedulingV1alpha2.PodGroup(metadata: MetaV1.ObjectMeta(name: "g", namespace: "d"))
        g.spec.priorityClassName = priorityClassName
        g.spec.priority = 7
        g.spec.disruptionMode = "PodGroup"
        return g
    }

    @Test("WorkloadAwarePreemption (alpha, off): a PodGroup's priority fields are dropped on create, kept when on")
    func podGroupPriority() throws {
        var off = Self.podGroup(priorityClassName: "high")
        FeatureGates().dropDisabledFields(&off, old: nil)
        #expect(off.spec.priorityClassName == "")
        #expect(off.spec.priority == nil)
        #expect(off.spec.disruptionMode == nil)
        var on = Self.podGroup(priorityClassName: "high")
        try FeatureGates(flag: "WorkloadAwarePreemption=true").dropDisabledFields(&on, old: nil)
        #expect(on.spec.priorityClassName == "high")
        #expect(on.spec.priority == 7)
        #expect(on.spec.disruptionMode == "PodGroup")
    }

    static func csiDriver() -> StorageV1.CSIDriver {
        var d = StorageV1.CSIDriver(metadata: MetaV1.ObjectMeta(name: "csi.example.com"))
        d.spec.serviceAccountTokenInSecrets = true
        d.spec.nodeAllocatableUpdatePeriodSeconds = 30
        return d
    }

    @Test(
        "CSIServiceAccountTokenSecrets and MutableCSINodeAllocatableCount (GA, on): kept by default, dropped when off")
    func csiDriverFields() throws {
        var on = Self.csiDriver()
        FeatureGates().dropDisabledFields(&on, old: nil)
        #expect(on.spec.serviceAccountTokenInSecrets == true)
        #expect(on.spec.nodeAllocatableUpdatePeriodSeconds == 30)
        var off = Self.csiDriver()
        try FeatureGates(flag: "CSIServiceAccountTokenSecrets=false,MutableCSINodeAllocatableCount=false")
            .dropDisabledFields(&off, old: nil)
        #expect(off.spec.serviceAccountTokenInSecrets == nil)
        #expect(off.spec.nodeAllocatableUpdatePeriodSeconds == nil)
        // Updating a driver that already uses the field keeps it.
        var update = Self.csiDriver()
        try FeatureGates(flag: "CSIServiceAccountTokenSecrets=false")
            .dropDisabledFields(&update, old: Self.csiDriver())
        #expect(update.spec.serviceAccountTokenInSecrets == true)
    }

    @Test("a device's binding conditions need both DRADeviceBindingConditions and DRAResourceClaimDeviceStatus")
    func deviceBindingConditions() throws {
        func slice() -> ResourceV1.ResourceSlice {
            var s = ResourceV1.ResourceSlice(metadata: MetaV1.ObjectMeta(name: "s"))
            var device = ResourceV1.Device()
            device.name = "gpu-0"
            device.bindsToNode = true
            device.bindingConditions = ["attached"]
            s.spec.devices = [device]
            return s
        }
        var both = slice()
        FeatureGates().dropDisabledFields(&both, old: nil)
        #expect(both.spec.devices[0].bindingConditions == ["attached"])
        #expect(both.spec.devices[0].bindsToNode == true)
        for flag in ["DRADeviceBindingConditions=false", "DRAResourceClaimDeviceStatus=false"] {
            var one = slice()
            try FeatureGates(flag: flag).dropDisabledFields(&one, old: nil)
            #expect(one.spec.devices[0].bindingConditions.isEmpty, "\(flag)")
            #expect(one.spec.devices[0].bindsToNode == nil, "\(flag)")
            #expect(one.spec.devices[0].name == "gpu-0")
        }
    }

    @Test("gates that upstream enforces in validation, not by dropping, leave the field alone")
    func validationGatedFieldsAreKept() {
        var p = Self.pod(stopSignal: nil)
        p.spec.tolerations = [CoreV1.Toleration(key: "k", operator: "Gt", value: "5")]
        FeatureGates().dropDisabledFields(&p, old: nil)
        #expect(p.spec.tolerations[0].`operator` == "Gt")
    }
}
