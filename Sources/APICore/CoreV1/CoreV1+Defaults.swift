import APIMachinery

// Defaulting hooks of core/v1, mirroring upstream's SetDefaults_* functions. The generated
// `applyDefaults()` calls each hook, parent before children.

/// Upstream's `DefaultTerminationGracePeriodSeconds`.
let defaultTerminationGracePeriodSeconds: Int64 = 30
/// The default file mode of secret, configMap, downwardAPI and projected volumes (0644).
let defaultVolumeFileMode: Int32 = 0o644

extension CoreV1.Pod {
    /// SetDefaults_Pod: requests default to limits; service links on; host-network ports.
    public mutating func setDefaults() {
        for i in spec.containers.indices { spec.containers[i].resources.defaultRequestsToLimits() }
        for i in spec.initContainers.indices { spec.initContainers[i].resources.defaultRequestsToLimits() }
        if spec.enableServiceLinks == nil { spec.enableServiceLinks = true }
        if spec.hostNetwork {
            CoreV1.PodSpec.defaultHostNetworkPorts(&spec.containers)
            CoreV1.PodSpec.defaultHostNetworkPorts(&spec.initContainers)
        }
    }
}

extension CoreV1.ResourceRequirements {
    /// A resource with a limit and no request gets the limit as its request.
    mutating func defaultRequestsToLimits() {
        guard !limits.isEmpty else { return }
        for (k, v) in limits where requests[k] == nil { requests[k] = v }
    }
}

extension CoreV1.PodSpec {
    /// SetDefaults_PodSpec.
    public mutating func setDefaults() {
        if dnsPolicy.isEmpty { dnsPolicy = "ClusterFirst" }
        if restartPolicy.isEmpty { restartPolicy = "Always" }
        if hostNetwork {
            Self.defaultHostNetworkPorts(&containers)
            Self.defaultHostNetworkPorts(&initContainers)
        }
        if securityContext == nil { securityContext = CoreV1.PodSecurityContext() }
        if terminationGracePeriodSeconds == nil { terminationGracePeriodSeconds = defaultTerminationGracePeriodSeconds }
        if schedulerName.isEmpty { schedulerName = "default-scheduler" }
    }

    /// With host networking, a container port's hostPort defaults to the container port.
    static func defaultHostNetworkPorts(_ containers: inout [CoreV1.Container]) {
        for i in containers.indices {
            for j in containers[i].ports.indices where containers[i].ports[j].hostPort == 0 {
                containers[i].ports[j].hostPort = containers[i].ports[j].containerPort
            }
        }
    }
}

extension CoreV1.Container {
    /// SetDefaults_Container.
    public mutating func setDefaults() {
        if imagePullPolicy.isEmpty {
            imagePullPolicy = ImageReference.tag(of: image) == "latest" ? "Always" : "IfNotPresent"
        }
        if terminationMessagePath.isEmpty { terminationMessagePath = "/dev/termination-log" }
        if terminationMessagePolicy.isEmpty { terminationMessagePolicy = "File" }
    }
}

extension CoreV1.EphemeralContainer {
    /// SetDefaults_EphemeralContainer: the same defaults as a container.
    public mutating func setDefaults() {
        var c = CoreV1.Container()
        c.image = ephemeralContainerCommon.image
        c.imagePullPolicy = ephemeralContainerCommon.imagePullPolicy
        c.terminationMessagePath = ephemeralContainerCommon.terminationMessagePath
        c.terminationMessagePolicy = ephemeralContainerCommon.terminationMessagePolicy
        c.setDefaults()
        ephemeralContainerCommon.imagePullPolicy = c.imagePullPolicy
        ephemeralContainerCommon.terminationMessagePath = c.terminationMessagePath
        ephemeralContainerCommon.terminationMessagePolicy = c.terminationMessagePolicy
    }
}

/// Parsing of container image references (`[registry/]repo[:tag][@digest]`).
public enum ImageReference {
    /// The tag of an image reference: its explicit tag, "" when only a digest is given, else "latest".
    public static func tag(of image: String) -> String {
        var name = Substring(image)
        var digest: Substring = ""
        if let at = name.firstIndex(of: "@") {
            digest = name[name.index(after: at)...]
            name = name[..<at]
        }
        let lastSlash = name.lastIndex(of: "/").map { name.index(after: $0) } ?? name.startIndex
        let last = name[lastSlash...]
        if let colon = last.lastIndex(of: ":") {
            return String(last[last.index(after: colon)...])
        }
        return digest.isEmpty ? "latest" : ""
    }
}

extension CoreV1.Probe {
    /// SetDefaults_Probe.
    public mutating func setDefaults() {
        if timeoutSeconds == 0 { timeoutSeconds = 1 }
        if periodSeconds == 0 { periodSeconds = 10 }
        if successThreshold == 0 { successThreshold = 1 }
        if failureThreshold == 0 { failureThreshold = 3 }
    }
}

extension CoreV1.HTTPGetAction {
    /// SetDefaults_HTTPGetAction.
    public mutating func setDefaults() {
        if path.isEmpty { path = "/" }
        if scheme.isEmpty { scheme = "HTTP" }
    }
}

extension CoreV1.Volume {
    /// SetDefaults_Volume: a volume without any source is an emptyDir.
    public mutating func setDefaults() {
        if volumeSource == CoreV1.VolumeSource() {
            volumeSource.emptyDir = CoreV1.EmptyDirVolumeSource()
        }
    }
}

extension CoreV1.SecretVolumeSource {
    public mutating func setDefaults() {
        if defaultMode == nil { defaultMode = defaultVolumeFileMode }
    }
}

extension CoreV1.ConfigMapVolumeSource {
    public mutating func setDefaults() {
        if defaultMode == nil { defaultMode = defaultVolumeFileMode }
    }
}

extension CoreV1.DownwardAPIVolumeSource {
    public mutating func setDefaults() {
        if defaultMode == nil { defaultMode = defaultVolumeFileMode }
    }
}

extension CoreV1.ProjectedVolumeSource {
    public mutating func setDefaults() {
        if defaultMode == nil { defaultMode = defaultVolumeFileMode }
    }
}

extension CoreV1.ServiceAccountTokenProjection {
    public mutating func setDefaults() {
        if expirationSeconds == nil { expirationSeconds = 3600 }
    }
}

extension CoreV1.HostPathVolumeSource {
    public mutating func setDefaults() {
        if type == nil { type = "" }
    }
}

extension CoreV1.ObjectFieldSelector {
    public mutating func setDefaults() {
        if apiVersion.isEmpty { apiVersion = "v1" }
    }
}

extension CoreV1.ReplicationController {
    /// SetDefaults_ReplicationController: selector and labels from the template.
    public mutating func setDefaults() {
        if let labels = spec.template?.metadata.labels, !labels.isEmpty {
            if spec.selector.isEmpty { spec.selector = labels }
            if metadata.labels.isEmpty { metadata.labels = labels }
        }
        if spec.replicas == nil { spec.replicas = 1 }
    }
}

extension CoreV1.Service {
    /// SetDefaults_Service.
    public mutating func setDefaults() {
        if spec.sessionAffinity.isEmpty { spec.sessionAffinity = "None" }
        if spec.sessionAffinity == "None" { spec.sessionAffinityConfig = nil }
        if spec.sessionAffinity == "ClientIP" && spec.sessionAffinityConfig?.clientIP?.timeoutSeconds == nil {
            spec.sessionAffinityConfig = CoreV1.SessionAffinityConfig(
                clientIP: CoreV1.ClientIPConfig(timeoutSeconds: 10800))
        }
        if spec.type.isEmpty { spec.type = "ClusterIP" }
        for i in spec.ports.indices {
            if spec.ports[i].protocol.isEmpty { spec.ports[i].protocol = "TCP" }
            if spec.ports[i].targetPort == .int(0) || spec.ports[i].targetPort == .string("") {
                spec.ports[i].targetPort = .int(spec.ports[i].port)
            }
        }
        let externallyAccessible =
            spec.type == "LoadBalancer" || spec.type == "NodePort"
            || (spec.type == "ClusterIP" && !spec.externalIPs.isEmpty)
        if externallyAccessible && spec.externalTrafficPolicy.isEmpty { spec.externalTrafficPolicy = "Cluster" }
        if spec.internalTrafficPolicy == nil && ["NodePort", "LoadBalancer", "ClusterIP"].contains(spec.type) {
            spec.internalTrafficPolicy = "Cluster"
        }
        if spec.type == "LoadBalancer" {
            if spec.allocateLoadBalancerNodePorts == nil { spec.allocateLoadBalancerNodePorts = true }
            for i in status.loadBalancer.ingress.indices
            where !status.loadBalancer.ingress[i].ip.isEmpty && status.loadBalancer.ingress[i].ipMode == nil {
                status.loadBalancer.ingress[i].ipMode = "VIP"
            }
        }
    }
}

extension CoreV1.Namespace {
    /// SetDefaults_Namespace: the immutable `kubernetes.io/metadata.name` label.
    public mutating func setDefaults() {
        if !metadata.name.isEmpty { metadata.labels["kubernetes.io/metadata.name"] = metadata.name }
    }
}

extension CoreV1.NamespaceStatus {
    public mutating func setDefaults() {
        if phase.isEmpty { phase = "Active" }
    }
}

extension CoreV1.Secret {
    public mutating func setDefaults() {
        if type.isEmpty { type = "Opaque" }
    }
}

extension CoreV1.PersistentVolume {
    /// SetDefaults_PersistentVolume.
    public mutating func setDefaults() {
        if status.phase.isEmpty { status.phase = "Pending" }
        if spec.persistentVolumeReclaimPolicy.isEmpty { spec.persistentVolumeReclaimPolicy = "Retain" }
        if spec.volumeMode == nil { spec.volumeMode = "Filesystem" }
    }
}

extension CoreV1.PersistentVolumeClaim {
    public mutating func setDefaults() {
        if status.phase.isEmpty { status.phase = "Pending" }
    }
}

extension CoreV1.PersistentVolumeClaimSpec {
    public mutating func setDefaults() {
        if volumeMode == nil { volumeMode = "Filesystem" }
    }
}

extension CoreV1.Endpoints {
    public mutating func setDefaults() {
        for i in subsets.indices {
            for j in subsets[i].ports.indices where subsets[i].ports[j].protocol.isEmpty {
                subsets[i].ports[j].protocol = "TCP"
            }
        }
    }
}

extension CoreV1.NodeStatus {
    /// Allocatable defaults to capacity.
    public mutating func setDefaults() {
        if allocatable.isEmpty && !capacity.isEmpty { allocatable = capacity }
    }
}

extension CoreV1.LimitRangeItem {
    /// SetDefaults_LimitRangeItem: container limits default from max, requests from default and min.
    public mutating func setDefaults() {
        guard type == "Container" else { return }
        for (k, v) in max where `default`[k] == nil { `default`[k] = v }
        for (k, v) in `default` where defaultRequest[k] == nil { defaultRequest[k] = v }
        for (k, v) in min where defaultRequest[k] == nil { defaultRequest[k] = v }
    }
}
