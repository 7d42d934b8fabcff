import APIMachinery

// Hand-written conversions where resource.k8s.io/v1beta1 differs in shape from the hub: devices
// keep their attributes under `basic`, requests keep their exact-request fields inline, and the
// slice spec's nodeName and allNodes are values rather than optionals.

extension ResourceV1beta1.Device: HubConvertible {
    public func toHub() -> Resource.Device {
        var o = Resource.Device()
        o.name = name
        guard let b = basic?.toHub() else { return o }
        o.attributes = b.attributes
        o.capacity = b.capacity
        o.consumesCounters = b.consumesCounters
        o.nodeName = b.nodeName
        o.nodeSelector = b.nodeSelector
        o.allNodes = b.allNodes
        o.taints = b.taints
        o.bindsToNode = b.bindsToNode
        o.bindingConditions = b.bindingConditions
        o.bindingFailureConditions = b.bindingFailureConditions
        o.allowMultipleAllocations = b.allowMultipleAllocations
        o.nodeAllocatableResourceMappings = b.nodeAllocatableResourceMappings
        return o
    }

    public init(hub h: Resource.Device) {
        self.init()
        name = h.name
        var b = Resource.BasicDevice()
        b.attributes = h.attributes
        b.capacity = h.capacity
        b.consumesCounters = h.consumesCounters
        b.nodeName = h.nodeName
        b.nodeSelector = h.nodeSelector
        b.allNodes = h.allNodes
        b.taints = h.taints
        b.bindsToNode = h.bindsToNode
        b.bindingConditions = h.bindingConditions
        b.bindingFailureConditions = h.bindingFailureConditions
        b.allowMultipleAllocations = h.allowMultipleAllocations
        b.nodeAllocatableResourceMappings = h.nodeAllocatableResourceMappings
        basic = ResourceV1beta1.BasicDevice(hub: b)
    }
}

extension ResourceV1beta1.DeviceRequest: HubConvertible {
    /// A request with a device class is an exact request; one with `firstAvailable` is not.
    public func toHub() -> Resource.DeviceRequest {
        var o = Resource.DeviceRequest()
        o.name = name
        o.firstAvailable = firstAvailable.map { $0.toHub() }
        if !deviceClassName.isEmpty || firstAvailable.isEmpty {
            o.exactly = ResourceV1.ExactDeviceRequest(
                deviceClassName: deviceClassName, selectors: selectors.map { $0.toHub() },
                allocationMode: allocationMode,
                count: count, adminAccess: adminAccess, tolerations: tolerations.map { $0.toHub() },
                capacity: capacity.map { $0.toHub() })
        }
        return o
    }

    public init(hub h: Resource.DeviceRequest) {
        self.init()
        name = h.name
        firstAvailable = h.firstAvailable.map { ResourceV1beta1.DeviceSubRequest(hub: $0) }
        if let e = h.exactly {
            deviceClassName = e.deviceClassName
            selectors = e.selectors.map { ResourceV1beta1.DeviceSelector(hub: $0) }
            allocationMode = e.allocationMode
            count = e.count
            adminAccess = e.adminAccess
            tolerations = e.tolerations.map { ResourceV1beta1.DeviceToleration(hub: $0) }
            capacity = e.capacity.map { ResourceV1beta1.CapacityRequirements(hub: $0) }
        }
    }
}

extension ResourceV1beta1.ResourceSliceSpec: HubConvertible {
    public func toHub() -> Resource.ResourceSliceSpec {
        var o = Resource.ResourceSliceSpec()
        o.driver = driver
        o.pool = pool.toHub()
        o.nodeName = nodeName.isEmpty ? nil : nodeName
        o.nodeSelector = nodeSelector
        o.allNodes = allNodes ? true : nil
        o.devices = devices.map { $0.toHub() }
        o.perDeviceNodeSelection = perDeviceNodeSelection
        o.sharedCounters = sharedCounters.map { $0.toHub() }
        return o
    }

    public init(hub h: Resource.ResourceSliceSpec) {
        self.init()
        driver = h.driver
        pool = ResourceV1beta1.ResourcePool(hub: h.pool)
        nodeName = h.nodeName ?? ""
        nodeSelector = h.nodeSelector
        allNodes = h.allNodes ?? false
        devices = h.devices.map { ResourceV1beta1.Device(hub: $0) }
        perDeviceNodeSelection = h.perDeviceNodeSelection
        sharedCounters = h.sharedCounters.map { ResourceV1beta1.CounterSet(hub: $0) }
    }
}
