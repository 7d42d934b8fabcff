import APICore
import CRI

/// Where a pod volume is on the host once set up, as the container mounts see it.
public struct VolumeHostPath: Equatable, Sendable {
    public var path: String
    /// API-data volumes (configMap, secret, downwardAPI, projected) are always mounted read-only.
    public var forceReadOnly: Bool

    public init(_ path: String, forceReadOnly: Bool = false) {
        self.path = path
        self.forceReadOnly = forceReadOnly
    }
}

/// One mount of a container before it becomes a CRI mount; a `subPath` is resolved on the host.
public struct PlannedMount: Equatable, Sendable {
    public var containerPath: String
    public var hostPath: String
    public var readOnly: Bool
    public var propagation: Runtime_V1_MountPropagation
    /// The volume's root and the relative path inside it, for a `subPath`/`subPathExpr` mount.
    public var subPath: SubPath?

    public struct SubPath: Equatable, Sendable {
        public var volumeRoot: String
        public var relative: String
    }

    public var criMount: Runtime_V1_Mount {
        var m = Runtime_V1_Mount()
        m.containerPath = containerPath
        m.hostPath = hostPath
        m.readonly = readOnly
        m.propagation = propagation
        return m
    }
}

/// The mounts of one container (upstream's `makeMounts`): its `volumeMounts` in order, then the
/// kubelet-managed /etc/hosts (unless the container mounts something there), then the
/// termination-message file.
public enum ContainerMounts {
    public static let etcHostsPath = "/etc/hosts"

    public static func plan(
        _ c: CoreV1.Container, volumes: [String: VolumeHostPath], env: [String: String] = [:],
        etcHostsFile: String?, terminationMessageFile: String?
    ) throws(VolumeError) -> [PlannedMount] {
        var out: [PlannedMount] = []
        var mountsEtcHosts = etcHostsFile != nil
        for vm in c.volumeMounts {
            guard let vol = volumes[vm.name] else {
                throw VolumeError("cannot find volume \"\(vm.name)\" to mount into container \"\(c.name)\"")
            }
            if vm.mountPath == etcHostsPath { mountsEtcHosts = false }
            var sub = vm.subPath
            if !vm.subPathExpr.isEmpty { sub = RuntimeConfigs.expand(vm.subPathExpr, env) }
            var host = vol.path
            var subPath: PlannedMount.SubPath?
            if !sub.isEmpty {
                if sub.hasPrefix("/") { throw VolumeError("error SubPath `\(sub)` must not be an absolute path") }
                if sub.split(separator: "/").contains("..") {
                    throw VolumeError("unable to provision SubPath `\(sub)`: must not contain '..'")
                }
                host = vol.path + "/" + sub
                subPath = PlannedMount.SubPath(volumeRoot: vol.path, relative: sub)
            }
            out.append(
                PlannedMount(
                    containerPath: vm.mountPath, hostPath: host, readOnly: vm.readOnly || vol.forceReadOnly,
                    propagation: propagation(vm.mountPropagation), subPath: subPath))
        }
        if mountsEtcHosts, let etcHostsFile {
            out.append(
                PlannedMount(
                    containerPath: etcHostsPath, hostPath: etcHostsFile, readOnly: false,
                    propagation: .propagationPrivate))
        }
        if let terminationMessageFile {
            out.append(
                PlannedMount(
                    containerPath: terminationMessagePath(c), hostPath: terminationMessageFile, readOnly: false,
                    propagation: .propagationPrivate))
        }
        return out
    }

    public static func terminationMessagePath(_ c: CoreV1.Container) -> String {
        c.terminationMessagePath.isEmpty ? TerminationMessage.defaultPath : c.terminationMessagePath
    }

    /// `mountPropagation` as CRI says it: None (the default) is private.
    public static func propagation(_ p: String?) -> Runtime_V1_MountPropagation {
        switch p {
        case "HostToContainer": .propagationHostToContainer
        case "Bidirectional": .propagationBidirectional
        default: .propagationPrivate
        }
    }
}
