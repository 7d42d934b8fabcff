import APICore
import APIMachinery

/// Resource amounts as the scheduler adds them: CPU in millicores, the rest in units, plus every
/// scalar resource (extended, hugepages, attachable volumes) by name (upstream's `framework.Resource`).
public struct Resource: Equatable, Sendable {
    public var milliCPU: Int64 = 0
    public var memory: Int64 = 0
    public var ephemeralStorage: Int64 = 0
    public var allowedPodNumber: Int64 = 0
    public var scalar: [String: Int64] = [:]

    public init(milliCPU: Int64 = 0, memory: Int64 = 0, ephemeralStorage: Int64 = 0, allowedPodNumber: Int64 = 0) {
        self.milliCPU = milliCPU
        self.memory = memory
        self.ephemeralStorage = ephemeralStorage
        self.allowedPodNumber = allowedPodNumber
    }

    /// From a resource list (node allocatable, pod requests); names the scheduler does not count are ignored.
    public init(_ list: [String: Quantity]) {
        for (name, q) in list { add(name, q) }
    }

    /// Which amount of a `Resource` an API resource name stands for.
    public enum Field: Sendable, Equatable {
        case cpu, memory, ephemeralStorage, pods
        case scalar(String)

        public init(_ name: String) {
            switch name {
            case "cpu": self = .cpu
            case "memory": self = .memory
            case "ephemeral-storage": self = .ephemeralStorage
            case "pods": self = .pods
            default: self = .scalar(name)
            }
        }
    }

    mutating func add(_ name: String, _ q: Quantity) {
        switch Field(name) {
        case .cpu: milliCPU += q.milliValue
        case .memory: memory += q.value
        case .ephemeralStorage: ephemeralStorage += q.value
        case .pods: allowedPodNumber += q.value
        case .scalar(let name): if Self.isScalar(name) { scalar[name, default: 0] += q.value }
        }
    }

    /// Extended resources (a domain not under kubernetes.io), hugepages-*, attachable-volumes-* and
    /// kubernetes.io/-prefixed native resources (upstream's `IsScalarResourceName`).
    static func isScalar(_ name: String) -> Bool {
        if name.hasPrefix("hugepages-") || name.hasPrefix("attachable-volumes-") { return true }
        guard let slash = name.firstIndex(of: "/") else { return false }
        let domain = name[..<slash]
        if domain == "requests.kubernetes.io" { return false }
        return true
    }

    public mutating func add(_ r: Resource) {
        milliCPU += r.milliCPU
        memory += r.memory
        ephemeralStorage += r.ephemeralStorage
        allowedPodNumber += r.allowedPodNumber
        for (k, v) in r.scalar { scalar[k, default: 0] += v }
    }

    public mutating func subtract(_ r: Resource) {
        milliCPU -= r.milliCPU
        memory -= r.memory
        ephemeralStorage -= r.ephemeralStorage
        allowedPodNumber -= r.allowedPodNumber
        for (k, v) in r.scalar {
            let n = scalar[k, default: 0] - v
            scalar[k] = n
        }
    }

    /// The amount of one resource.
    @inline(__always)
    public func amount(_ field: Field) -> Int64 {
        switch field {
        case .cpu: return milliCPU
        case .memory: return memory
        case .ephemeralStorage: return ephemeralStorage
        case .pods: return allowedPodNumber
        case .scalar(let name): return scalar[name] ?? 0
        }
    }
}

/// What scoring assumes a container asks for when it names no CPU or memory request
/// (upstream's `DefaultMilliCPURequest` and `DefaultMemoryRequest`).
public enum NonZeroDefaults {
    public static let milliCPU: Int64 = 100
    public static let memory: Int64 = 200 * 1024 * 1024
}

extension CoreV1.PodSpec {
    /// The pod's requests as the scheduler counts them (`PodRequests`: containers, sidecars, init
    /// phases, overhead, pod-level resources).
    public var schedulingRequests: Resource { Resource(aggregateRequests) }

    /// CPU and memory requests with each container's (init containers' too) missing request taken
    /// as the scoring default (`PodRequests` with `NonMissingContainerRequests`), for scoring only.
    public var nonZeroRequests: (milliCPU: Int64, memory: Int64) {
        var copy = self
        func fill(_ c: inout CoreV1.Container) {
            if c.resources.requests["cpu"] == nil {
                c.resources.requests["cpu"] = Quantity(NonZeroDefaults.milliCPU, scale: -3)
            }
            if c.resources.requests["memory"] == nil {
                c.resources.requests["memory"] = Quantity(NonZeroDefaults.memory)
            }
        }
        for i in copy.containers.indices { fill(&copy.containers[i]) }
        for i in copy.initContainers.indices { fill(&copy.initContainers[i]) }
        let r = Resource(copy.aggregateRequests)
        return (r.milliCPU, r.memory)
    }
}
