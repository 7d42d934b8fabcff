import APIAuthentication
import APICore
import APIMachinery
import CRI
import ControllerRuntime
import Foundation
import KubeClient
import Synchronization

/// A volume that could not be set up, and upstream's event note for it.
public struct VolumeFailure: Equatable, Sendable {
    public var volume: String
    public var error: VolumeError

    public var note: String { "MountVolume.SetUp failed for volume \"\(volume)\" : \(error.message)" }
}

/// The kubelet's volumes on the host (upstream's volume manager with the emptyDir, hostPath,
/// configMap, secret, downwardAPI, projected and local plugins): sets a pod's volumes up before its
/// containers start, rewrites API-data volumes on every sync, makes each container's mounts
/// (volumes, /etc/hosts, termination-message file), and removes `<root>/pods/<uid>` once the pod is
/// gone, after unmounting what it mounted there.
final class VolumeManager: Sendable {
    struct Token {
        var token: String
        var refreshAt: Date
    }

    /// A pod's pending mount retry and its back-off.
    struct Retry {
        var pending = false
        var delay: Swift.Duration = .zero
    }

    struct State {
        var mountRetries: [String: Retry] = [:]
        /// Volumes set up, by pod UID and volume name.
        var pods: [String: [String: VolumeHostPath]] = [:]
        /// Service account tokens, by pod UID, service account, audience and lifetime.
        var tokens: [String: Token] = [:]
        /// Pods already told that the server does not serve TokenRequest.
        var tokenWarned: Set<String> = []
    }

    let root: String
    let client: KubeClient
    let events: EventRecorder
    let hostIPs: [String]
    let clusterDomain: String
    let log: @Sendable (String) -> Void
    let state = Mutex(State())

    init(
        root: String, client: KubeClient, events: EventRecorder, hostIPs: [String], clusterDomain: String,
        log: @escaping @Sendable (String) -> Void
    ) {
        self.root = root
        self.client = client
        self.events = events
        self.hostIPs = hostIPs
        self.clusterDomain = clusterDomain
        self.log = log
    }

    func directory(_ uid: String) -> PodDirectory { PodDirectory(root: root, uid: uid) }

    // MARK: Set-up and refresh

    /// Sets up every volume not set up yet and rewrites the API-data ones; the failures, each to be
    /// reported as a `FailedMount` event (the pod's containers must not start while there are any).
    func setUp(_ pod: CoreV1.Pod) async -> [VolumeFailure] {
        let dir = directory(pod.metadata.uid)
        do {
            try FileManager.default.createDirectory(
                atPath: dir.path + "/volumes", withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o750])
        } catch {
            return pod.spec.volumes.map { VolumeFailure(volume: $0.name, error: VolumeError("\(error)")) }
        }
        var done = state.withLock { $0.pods[pod.metadata.uid] ?? [:] }
        var failures: [VolumeFailure] = []
        for v in PodVolumePlan.plan(pod, dir: dir) {
            if done[v.name] != nil && !v.refreshes { continue }
            do throws(VolumeError) {
                done[v.name] = try await setUp(v, pod)
            } catch {
                failures.append(VolumeFailure(volume: v.name, error: error))
            }
        }
        let result = done
        state.withLock { $0.pods[pod.metadata.uid] = result }
        return failures
    }

    func setUp(_ v: PlannedVolume, _ pod: CoreV1.Pod) async throws(VolumeError) -> VolumeHostPath {
        let ns = pod.metadata.namespace
        let group = VolumeOwnership.fsGroup(pod.spec.securityContext?.fsGroup)
        switch v.kind {
        case .emptyDir(let memory, let size):
            try makeDirectory(v.dir, memory: memory, sizeBytes: size, fsGroup: group, readOnly: false)
            return VolumeHostPath(v.dir)
        case .hostPath(let path, let type):
            if let why = HostPathCheck.apply(path: path, type: type) { throw VolumeError(why) }
            return VolumeHostPath(path)
        case .configMap(let s):
            let name = s.localObjectReference.name
            let cm = try await fetch(CoreV1.ConfigMap.self, name, ns)
            let files = try VolumePayloads.configMap(
                cm, name: name, items: s.items, defaultMode: s.defaultMode, optional: s.optional ?? false)
            return try write(v, files, fsGroup: group)
        case .secret(let s):
            let secret = try await fetch(CoreV1.Secret.self, s.secretName, ns)
            let files = try VolumePayloads.secret(
                secret, name: s.secretName, items: s.items, defaultMode: s.defaultMode, optional: s.optional ?? false)
            return try write(v, files, fsGroup: group)
        case .downwardAPI(let d):
            let files = try VolumePayloads.downwardAPI(
                d.items, pod: pod, defaultMode: d.defaultMode, hostIPs: hostIPs,
                podIPs: pod.status.podIPs.map(\.ip))
            return try write(v, files, fsGroup: group)
        case .projected(let p):
            var sources: [VolumePayloads.ProjectedSource] = []
            for s in p.sources {
                if let c = s.configMap {
                    sources.append(
                        .configMap(c, try await fetch(CoreV1.ConfigMap.self, c.localObjectReference.name, ns)))
                } else if let c = s.secret {
                    sources.append(.secret(c, try await fetch(CoreV1.Secret.self, c.localObjectReference.name, ns)))
                } else if let d = s.downwardAPI {
                    sources.append(.downwardAPI(d))
                } else if let t = s.serviceAccountToken {
                    sources.append(.serviceAccountToken(t, token: try await token(t, pod)))
                }
            }
            let files = try VolumePayloads.projected(sources, pod: pod, defaultMode: p.defaultMode)
            return try write(v, files, fsGroup: group)
        case .persistentVolumeClaim(let claimName, let readOnly):
            return try await setUpClaim(claimName, readOnly: readOnly, pod, fsGroup: group)
        case .unsupported(let kind):
            throw VolumeError("volume type \(kind) is not supported by this kubelet")
        }
    }

    /// A volume's directory (0777, as upstream's emptyDir), on a tmpfs of its own when memory-backed.
    /// With the pod's fsGroup it is setgid and the group's, and so is all it holds the first time (a
    /// root already the group's, as after a kubelet restart, is not walked again).
    func makeDirectory(_ dir: String, memory: Bool, sizeBytes: Int64?, fsGroup: UInt32?, readOnly: Bool)
        throws(VolumeError)
    {
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        } catch {
            throw VolumeError("\(error)")
        }
        if memory && !MountTable.isMounted(dir, fsType: "tmpfs") {
            try MountTable.mountTmpfs(dir, sizeBytes: sizeBytes)
        }
        guard let fsGroup else {
            chmod(dir, 0o777)
            return
        }
        chmod(dir, mode_t(VolumeOwnership.mode(0o777, isDirectory: true, readOnly: readOnly)))
        if let failed = VolumeOwnership.apply(dir, fsGroup: fsGroup, readOnly: readOnly, onRootMismatch: true).first {
            throw VolumeError("setting the volume's group \(fsGroup): \(failed)")
        }
    }

    /// An API-data volume's files, written atomically (and given to the pod's fsGroup before they
    /// become visible).
    func write(_ v: PlannedVolume, _ files: [String: FileProjection], fsGroup: UInt32?) throws(VolumeError)
        -> VolumeHostPath
    {
        try makeDirectory(v.dir, memory: v.memoryBacked, sizeBytes: nil, fsGroup: fsGroup, readOnly: true)
        do {
            try AtomicWriter(targetDir: v.dir, fsGroup: fsGroup).write(files)
        } catch {
            throw VolumeError("\(error)")
        }
        return VolumeHostPath(v.dir, forceReadOnly: true)
    }

    func fetch<T: KubeObject>(_: T.Type, _ name: String, _ ns: String) async throws(VolumeError) -> T? {
        do {
            return try await client.get(T.self, name, namespace: ns)
        } catch let e as StatusError where e.isNotFound {
            return nil
        } catch {
            throw VolumeError("\(error)")
        }
    }

    /// A claim's bound PersistentVolume: a `local` one is bind-mounted at
    /// `volumes/kubernetes.io~local-volume/<pv>` (and, writable, given to the pod's fsGroup when
    /// first mounted, as the pod's `fsGroupChangePolicy` says), a `hostPath` one used in place after
    /// its type check.
    func setUpClaim(_ claimName: String, readOnly: Bool, _ pod: CoreV1.Pod, fsGroup: UInt32?) async throws(VolumeError)
        -> VolumeHostPath
    {
        let ns = pod.metadata.namespace
        guard let pvc = try await fetch(CoreV1.PersistentVolumeClaim.self, claimName, ns) else {
            throw VolumeError("persistentvolumeclaim \"\(claimName)\" not found")
        }
        guard pvc.status.phase == "Bound", !pvc.spec.volumeName.isEmpty else {
            throw VolumeError(
                "PVC \(ns)/\(claimName) has non-bound phase (\"\(pvc.status.phase)\") or empty pvc.Spec.VolumeName (\"\(pvc.spec.volumeName)\")"
            )
        }
        let pvName = pvc.spec.volumeName
        guard let pv = try await fetch(CoreV1.PersistentVolume.self, pvName, "") else {
            throw VolumeError("persistentvolume \"\(pvName)\" not found")
        }
        let source = pv.spec.persistentVolumeSource
        if let local = source.local {
            let dir = directory(pod.metadata.uid).volume(plugin: "local-volume", name: pvName)
            do {
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            } catch {
                throw VolumeError("\(error)")
            }
            if HostFileType.of(local.path) == .missing { throw VolumeError("path \"\(local.path)\" does not exist") }
            if !MountTable.isMounted(dir) {
                try MountTable.bind(local.path, dir)
                if let fsGroup, !readOnly {
                    let onRoot = pod.spec.securityContext?.fsGroupChangePolicy == "OnRootMismatch"
                    let failed = VolumeOwnership.apply(dir, fsGroup: fsGroup, readOnly: false, onRootMismatch: onRoot)
                    if let first = failed.first { throw VolumeError("setting the volume's group \(fsGroup): \(first)") }
                }
            }
            return VolumeHostPath(dir, forceReadOnly: readOnly)
        }
        if let h = source.hostPath {
            if let why = HostPathCheck.apply(path: h.path, type: h.type) { throw VolumeError(why) }
            return VolumeHostPath(h.path, forceReadOnly: readOnly)
        }
        throw VolumeError("persistentvolume \"\(pvName)\" is neither local nor hostPath: not supported by this kubelet")
    }

    // MARK: Service account tokens

    /// A token for the pod's service account from the TokenRequest API (`serviceaccounts/<name>/token`),
    /// bound to the pod and renewed after 80% of its lifetime; nil when the server does not serve
    /// that subresource (the pod is told once, by a warning event).
    func token(_ p: CoreV1.ServiceAccountTokenProjection, _ pod: CoreV1.Pod) async throws(VolumeError) -> String? {
        let sa = pod.spec.serviceAccountName.isEmpty ? "default" : pod.spec.serviceAccountName
        let lifetime = p.expirationSeconds ?? 3600
        let key = "\(pod.metadata.uid)|\(sa)|\(p.audience)|\(lifetime)"
        let now = Date()
        if let t = state.withLock({ $0.tokens[key] }), now < t.refreshAt { return t.token }
        var req = AuthenticationV1.TokenRequest()
        req.kind = "TokenRequest"
        req.apiVersion = "authentication.k8s.io/v1"
        req.spec.audiences = p.audience.isEmpty ? [] : [p.audience]
        req.spec.expirationSeconds = lifetime
        req.spec.boundObjectRef = AuthenticationV1.BoundObjectReference(
            kind: "Pod", apiVersion: "v1", name: pod.metadata.name, uid: pod.metadata.uid)
        var w = JSONWriter()
        req.encodeJSON(&w)
        let path = KubeClient.path(
            group: "", version: "v1", resource: "serviceaccounts", namespaced: true, namespace: pod.metadata.namespace,
            name: sa, subresource: "token")
        do {
            let resp = try await client.checked(
                KubeRequest(
                    method: "POST", path: path,
                    headers: [("Accept", "application/json"), ("Content-Type", "application/json")], body: w.bytes))
            let answer = try KubeClient.decode(AuthenticationV1.TokenRequest.self, resp)
            var ttl = TimeInterval(lifetime)
            if let exp = answer.status.expirationTimestamp {
                ttl = max(1, TimeInterval(exp.seconds) - now.timeIntervalSince1970)
            }
            let t = Token(token: answer.status.token, refreshAt: now.addingTimeInterval(ttl * 0.8))
            state.withLock { $0.tokens[key] = t }
            return t.token
        } catch let e as StatusError where e.isNotFound {
            // Not found: the service account, or the subresource itself.
            if try await fetch(CoreV1.ServiceAccount.self, sa, pod.metadata.namespace) == nil {
                throw VolumeError("failed to fetch token: serviceaccounts \"\(sa)\" not found")
            }
            let first = state.withLock { $0.tokenWarned.insert(pod.metadata.uid).inserted }
            if first {
                events.warning(
                    pod, reason: "TokenRequestUnavailable",
                    note:
                        "The API server does not serve TokenRequest (serviceaccounts/\(sa)/token): the projected volume gets no service account token at \"\(p.path)\""
                )
            }
            return nil
        } catch {
            throw VolumeError("failed to fetch token: \(error)")
        }
    }

    // MARK: Container mounts

    /// A container's CRI mounts: its volume mounts (sub-paths resolved, a missing one created as a
    /// directory), /etc/hosts written for it, and a new termination-message file for this instance.
    func containerMounts(_ c: CoreV1.Container, _ pod: CoreV1.Pod, podIPs: [String], env: [String: String])
        throws(VolumeError) -> [Runtime_V1_Mount]
    {
        let dir = directory(pod.metadata.uid)
        let volumes = state.withLock { $0.pods[pod.metadata.uid] ?? [:] }
        var hostsFile: String?
        if !podIPs.isEmpty {
            let hostFile =
                pod.spec.hostNetwork ? (try? String(contentsOfFile: "/etc/hosts", encoding: .utf8)) ?? "" : ""
            let text = EtcHosts.content(pod, podIPs: podIPs, clusterDomain: clusterDomain, hostFile: hostFile)
            // Written in place: containers already running bind-mount this very file.
            let fd = open(dir.etcHosts, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            guard fd >= 0 else { throw VolumeError("writing \(dir.etcHosts): errno \(errno)") }
            let bytes = Array(text.utf8)
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            close(fd)
            guard n == bytes.count else { throw VolumeError("writing \(dir.etcHosts) failed") }
            chmod(dir.etcHosts, 0o644)
            hostsFile = dir.etcHosts
        }
        let containerDir = dir.container(c.name)
        let messageFile = containerDir + "/" + Self.instanceID()
        do {
            try FileManager.default.createDirectory(
                atPath: containerDir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o750])
        } catch {
            throw VolumeError("\(error)")
        }
        let fd = open(messageFile, O_WRONLY | O_CREAT | O_TRUNC, 0o666)
        guard fd >= 0 else { throw VolumeError("creating \(messageFile): errno \(errno)") }
        close(fd)
        chmod(messageFile, 0o666)
        let planned = try ContainerMounts.plan(
            c, volumes: volumes, env: env, etcHostsFile: hostsFile, terminationMessageFile: messageFile)
        var out: [Runtime_V1_Mount] = []
        for p in planned { out.append(try Self.resolveSubPath(p).criMount) }
        return out
    }

    /// Eight hex digits naming one container instance's termination-message file.
    static func instanceID() -> String {
        let s = String(UInt32.random(in: 0...UInt32.max), radix: 16)
        return String(repeating: "0", count: 8 - s.count) + s
    }

    /// A sub-path mount's host path: created as a directory (with the volume's mode) when missing,
    /// symlinks resolved, and refused when it leads out of the volume.
    static func resolveSubPath(_ p: PlannedMount) throws(VolumeError) -> PlannedMount {
        guard let sp = p.subPath else { return p }
        let full = sp.volumeRoot + "/" + sp.relative
        var st = stat()
        if lstat(full, &st) != 0 {
            var rootStat = stat()
            let mode = stat(sp.volumeRoot, &rootStat) == 0 ? Int(rootStat.st_mode & 0o7777) : 0o755
            do {
                try FileManager.default.createDirectory(
                    atPath: full, withIntermediateDirectories: true, attributes: [.posixPermissions: mode])
            } catch {
                throw VolumeError("failed to create subPath directory for volumeMount \(p.containerPath): \(error)")
            }
            chmod(full, mode_t(mode))
        }
        guard let real = realPath(full), let realRoot = realPath(sp.volumeRoot) else {
            throw VolumeError("failed to resolve subPath \(sp.relative) of volume \(sp.volumeRoot)")
        }
        guard real == realRoot || real.hasPrefix(realRoot == "/" ? "/" : realRoot + "/") else {
            throw VolumeError("subpath \"\(real)\" not within volume path \"\(realRoot)\"")
        }
        var q = p
        q.hostPath = real
        return q
    }

    static func realPath(_ path: String) -> String? {
        guard let r = realpath(path, nil) else { return nil }
        defer { free(r) }
        return String(cString: r)
    }

    // MARK: Teardown

    /// Unmounts whatever is mounted under the pod's directory and removes it; false (and nothing
    /// removed) when something could not be unmounted.
    @discardableResult
    func tearDown(_ uid: String) -> Bool {
        let dir = directory(uid).path
        state.withLock { s in
            s.pods[uid] = nil
            s.mountRetries[uid] = nil
            s.tokenWarned.remove(uid)
            s.tokens = s.tokens.filter { !$0.key.hasPrefix(uid + "|") }
        }
        guard FileManager.default.fileExists(atPath: dir) else { return true }
        let left = MountTable.unmountAll(under: dir)
        guard left.isEmpty else {
            log("volumes of pod \(uid): still mounted, not removed: \(left.joined(separator: ", "))")
            return false
        }
        do {
            try FileManager.default.removeItem(atPath: dir)
        } catch {
            log("removing \(dir): \(error)")
            return false
        }
        return true
    }

    /// Tears down the directories of pods no API pod owns (`known` is read after listing, so a pod
    /// being set up is always in it) and none of whose containers still runs.
    func cleanUpOrphans(busy: Set<String>, known: () -> Set<String>) {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: root + "/pods")) ?? []
        let uids = entries.filter(PodDirectory.isPodUID)
        let recorded = state.withLock { Set($0.pods.keys) }
        guard !uids.isEmpty || !recorded.isEmpty else { return }
        let live = known()
        for uid in Set(uids).union(recorded) where !live.contains(uid) && !busy.contains(uid) {
            tearDown(uid)
        }
    }
}
