import APICore
import APIMachinery

/// A pod's directory under the kubelet's root, laid out as upstream's:
/// `<root>/pods/<uid>/{volumes/kubernetes.io~<plugin>/<name>, etc-hosts, containers/<name>/<id>}`.
public struct PodDirectory: Equatable, Sendable {
    public var root: String
    public var uid: String

    public init(root: String, uid: String) {
        self.root = root
        self.uid = uid
    }

    public var path: String { "\(root)/pods/\(uid)" }
    public var etcHosts: String { path + "/etc-hosts" }
    public func volume(plugin: String, name: String) -> String { "\(path)/volumes/kubernetes.io~\(plugin)/\(name)" }
    public func container(_ name: String) -> String { "\(path)/containers/\(name)" }

    /// Whether an entry of `<root>/pods` names a pod directory (a UID), not a pod's log directory
    /// (`<namespace>_<name>_<uid>`, which shares the directory when logs are kept under the root).
    public static func isPodUID(_ entry: String) -> Bool {
        !entry.isEmpty && !entry.contains("_") && !entry.hasPrefix(".")
            && entry.allSatisfy { $0.isHexDigit || $0 == "-" }
    }
}

/// One volume of a pod and how the kubelet provides it.
public struct PlannedVolume: Equatable, Sendable {
    public enum Kind: Equatable, Sendable {
        case emptyDir(memory: Bool, sizeLimitBytes: Int64?)
        case hostPath(path: String, type: String?)
        case configMap(CoreV1.ConfigMapVolumeSource)
        case secret(CoreV1.SecretVolumeSource)
        case downwardAPI(CoreV1.DownwardAPIVolumeSource)
        case projected(CoreV1.ProjectedVolumeSource)
        /// The claim's bound volume is looked up when it is set up.
        case persistentVolumeClaim(claimName: String, readOnly: Bool)
        case unsupported(String)
    }

    public var name: String
    public var kind: Kind
    /// Its directory under the pod's (empty for hostPath and claims, whose place is known later).
    public var dir: String

    /// Upstream's plugin directory name.
    public var plugin: String {
        switch kind {
        case .emptyDir: "empty-dir"
        case .hostPath: "host-path"
        case .configMap: "configmap"
        case .secret: "secret"
        case .downwardAPI: "downward-api"
        case .projected: "projected"
        case .persistentVolumeClaim: "local-volume"
        case .unsupported: "unsupported"
        }
    }

    /// Secret, downwardAPI and projected files (and `medium: Memory` emptyDirs) live on a tmpfs.
    public var memoryBacked: Bool {
        switch kind {
        case .emptyDir(let memory, _): memory
        case .secret, .downwardAPI, .projected: true
        default: false
        }
    }

    /// Content that follows API objects or the pod itself, rewritten on every pod sync.
    public var refreshes: Bool {
        switch kind {
        case .configMap, .secret, .downwardAPI, .projected: true
        default: false
        }
    }
}

public enum PodVolumePlan {
    public static func plan(_ pod: CoreV1.Pod, dir: PodDirectory) -> [PlannedVolume] {
        pod.spec.volumes.map { v in
            let s = v.volumeSource
            let kind: PlannedVolume.Kind
            if let e = s.emptyDir {
                kind = .emptyDir(memory: e.medium == "Memory", sizeLimitBytes: e.sizeLimit.map(\.value))
            } else if let h = s.hostPath {
                kind = .hostPath(path: h.path, type: h.type)
            } else if let c = s.configMap {
                kind = .configMap(c)
            } else if let c = s.secret {
                kind = .secret(c)
            } else if let d = s.downwardAPI {
                kind = .downwardAPI(d)
            } else if let p = s.projected {
                kind = .projected(p)
            } else if let c = s.persistentVolumeClaim {
                kind = .persistentVolumeClaim(claimName: c.claimName, readOnly: c.readOnly)
            } else {
                kind = .unsupported(unsupportedName(s))
            }
            var p = PlannedVolume(name: v.name, kind: kind, dir: "")
            switch kind {
            case .hostPath, .persistentVolumeClaim, .unsupported: break
            default: p.dir = dir.volume(plugin: p.plugin, name: v.name)
            }
            return p
        }
    }

    /// Whether any volume of the pod follows API objects (so a periodic resync refreshes it).
    public static func hasRefreshingVolumes(_ pod: CoreV1.Pod) -> Bool {
        pod.spec.volumes.contains { v in
            let s = v.volumeSource
            return s.configMap != nil || s.secret != nil || s.downwardAPI != nil || s.projected != nil
        }
    }

    static func unsupportedName(_ s: CoreV1.VolumeSource) -> String {
        if s.csi != nil { return "csi" }
        if s.ephemeral != nil { return "ephemeral" }
        if s.image != nil { return "image" }
        if s.nfs != nil { return "nfs" }
        if s.iscsi != nil { return "iscsi" }
        if s.gitRepo != nil { return "gitRepo" }
        return "unknown"
    }
}
