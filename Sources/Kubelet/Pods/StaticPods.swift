import APICore
import APIMachinery
import Foundation

/// Static pods (upstream's file pod source): what a manifest directory holds becomes the pods this
/// node runs on its own, and each gets a mirror pod in the API so that clients can see it.
///
/// Everything here is a function of the files, the node's name and the clock the caller reads, so
/// the same directory always gives the same pods — the UID in particular, which is what lets a
/// restarted kubelet adopt the containers it started before.
public enum StaticPods {
    /// Where the kubelet learnt of a pod: `file` for the manifest directory, `api` for the API.
    public static let sourceAnnotation = "kubernetes.io/config.source"
    /// The hash of the pod's manifest (also its UID): a changed file is a different pod.
    public static let hashAnnotation = "kubernetes.io/config.hash"
    /// When the kubelet first saw the pod (RFC 3339 with nanoseconds).
    public static let seenAnnotation = "kubernetes.io/config.seen"
    /// On a mirror pod: the hash of the static pod it mirrors.
    public static let mirrorAnnotation = "kubernetes.io/config.mirror"
    /// `kubernetes.io/config.source` of static pods read from files.
    public static let fileSource = "file"

    /// One file of the manifest directory as read.
    public struct Manifest: Sendable, Equatable {
        public var path: String
        public var bytes: [UInt8]

        public init(path: String, bytes: [UInt8]) {
            self.path = path
            self.bytes = bytes
        }
    }

    /// A file that gave no pod, and why (the kubelet logs it and goes on with the others).
    public struct Rejection: Sendable, Equatable {
        public var path: String
        public var reason: String
    }

    /// The pods of a directory, in file-name order, and the files that were refused.
    public struct Listing: Sendable {
        public var pods: [CoreV1.Pod] = []
        public var rejected: [Rejection] = []
    }

    /// Whether a directory entry is a manifest at all: names starting with a dot are skipped, as
    /// editors' swap and backup files are.
    public static func isManifestName(_ name: String) -> Bool {
        !name.isEmpty && !name.hasPrefix(".")
    }

    /// The static pods of a manifest directory's files: each file is parsed alone, hidden files are
    /// skipped, and a second file naming a pod already taken (same namespace and name) is refused.
    public static func pods(from manifests: [Manifest], nodeName: String) -> Listing {
        var out = Listing()
        var taken: Set<String> = []
        for m in manifests.sorted(by: { $0.path < $1.path }) {
            let base = m.path.split(separator: "/").last.map(String.init) ?? m.path
            guard isManifestName(base) else { continue }
            do {
                let pod = try pod(fromManifest: m.bytes, path: m.path, nodeName: nodeName)
                let full = pod.metadata.namespace + "/" + pod.metadata.name
                guard taken.insert(full).inserted else {
                    out.rejected.append(Rejection(path: m.path, reason: "duplicate pod \"\(full)\" found; ignoring"))
                    continue
                }
                out.pods.append(pod)
            } catch {
                out.rejected.append(Rejection(path: m.path, reason: error.description))
            }
        }
        return out
    }

    public struct ManifestError: Error, Sendable, CustomStringConvertible, Equatable {
        public var description: String
    }

    /// One manifest (YAML or JSON, a single v1 Pod) as the pod the node runs: defaulted, named
    /// `<name>-<node>`, in `default` when it names no namespace, bound to the node, tolerating
    /// every NoExecute taint, Pending, with a UID that is a hash of the node, the file and the pod.
    public static func pod(fromManifest bytes: [UInt8], path: String, nodeName: String) throws(ManifestError)
        -> CoreV1.Pod
    {
        let json: [UInt8]
        do {
            json = try YAML.toJSON(String(decoding: bytes, as: UTF8.self))
        } catch {
            throw ManifestError(description: "could not read \(path): \(error)")
        }
        var pod: CoreV1.Pod
        do {
            pod = try json.withUnsafeBufferPointer { buf in
                var r = JSONReader(buf)
                return try CoreV1.Pod(json: &r)
            }
        } catch {
            throw ManifestError(description: "\(path) is not a pod: \(error)")
        }
        guard pod.kind == "Pod", pod.apiVersion == "v1" else {
            throw ManifestError(
                description:
                    "\(path) is not a pod: kind \"\(pod.kind)\" of apiVersion \"\(pod.apiVersion)\", want v1 Pod")
        }
        pod.applyDefaults()
        if pod.metadata.uid.isEmpty {
            pod.metadata.uid = uid(of: pod, path: path, nodeName: nodeName)
        }
        pod.metadata.name = name(pod.metadata.name, nodeName: nodeName)
        if pod.metadata.namespace.isEmpty { pod.metadata.namespace = "default" }
        pod.spec.nodeName = nodeName
        pod.metadata.annotations[hashAnnotation] = pod.metadata.uid
        pod.metadata.annotations[sourceAnnotation] = fileSource
        tolerateAllNoExecute(&pod.spec)
        pod.status = CoreV1.PodStatus()
        pod.status.phase = "Pending"
        let errs = pod.validate()
        if !errs.isEmpty {
            throw ManifestError(description: "invalid pod in \(path): \(errs.aggregateMessage)")
        }
        return pod
    }

    /// A static pod's name: the manifest's name and the node's, so that the mirror pods of several
    /// nodes running the same manifest do not collide.
    public static func name(_ name: String, nodeName: String) -> String {
        name + "-" + nodeName.lowercased()
    }

    /// 128 bits of hash, in hex, over the defaulted pod as read and where it was read (the node and
    /// the file): stable across restarts, different for any change of the pod's content.
    public static func uid(of pod: CoreV1.Pod, path: String, nodeName: String) -> String {
        var w = JSONWriter()
        pod.encodeJSON(&w)
        let input = w.bytes + Array("host:\(nodeName)".utf8) + Array("file:\(path)".utf8)
        let a = ContainerHash.fnv1a(input)
        let b = ContainerHash.fnv1a(input.reversed(), basis: 0x8422_2325_cbf2_9ce4)
        return hex(a) + hex(b)
    }

    static func hex(_ v: UInt64) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }

    /// Adds (or replaces an equal-keyed) toleration of every NoExecute taint: a static pod stays on
    /// its node whatever the node's condition.
    static func tolerateAllNoExecute(_ spec: inout CoreV1.PodSpec) {
        let all = CoreV1.Toleration(operator: "Exists", effect: "NoExecute")
        if let i = spec.tolerations.firstIndex(where: {
            $0.key == all.key && $0.operator == all.operator && $0.value == all.value && $0.effect == all.effect
        }) {
            spec.tolerations[i] = all
        } else {
            spec.tolerations.append(all)
        }
    }

    /// The first-seen annotation's value: Go's RFC 3339 with nanoseconds (trailing zeros dropped),
    /// in UTC.
    public static func seenTimestamp(_ date: Date) -> String {
        let t = date.timeIntervalSince1970
        var secs = Int64(t.rounded(.down))
        var nanos = Int64(((t - Double(secs)) * 1e9).rounded())
        if nanos >= 1_000_000_000 {
            secs += 1
            nanos -= 1_000_000_000
        }
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyy-MM-dd'T'HH:mm:ss"
        var s = f.string(from: Date(timeIntervalSince1970: TimeInterval(secs)))
        if nanos > 0 {
            var frac = String(nanos)
            frac = String(repeating: "0", count: 9 - frac.count) + frac
            while frac.hasSuffix("0") { frac.removeLast() }
            s += "." + frac
        }
        return s + "Z"
    }

    /// Whether the kubelet got the pod from a file rather than the API (upstream's `IsStaticPod`).
    public static func isStatic(_ pod: CoreV1.Pod) -> Bool {
        pod.metadata.annotations[sourceAnnotation] == fileSource
    }

    /// Whether an API pod is a mirror pod (it carries the mirror annotation).
    public static func isMirror(_ pod: CoreV1.Pod) -> Bool {
        pod.metadata.annotations[mirrorAnnotation] != nil
    }

    /// Whether `mirror` mirrors this version of the static pod: same namespace and name, and the
    /// mirror annotation holds the static pod's hash (an edited manifest has another).
    public static func isMirror(_ mirror: CoreV1.Pod, of pod: CoreV1.Pod) -> Bool {
        guard mirror.metadata.name == pod.metadata.name, mirror.metadata.namespace == pod.metadata.namespace,
            let hash = mirror.metadata.annotations[mirrorAnnotation]
        else { return false }
        return hash == pod.metadata.annotations[hashAnnotation]
    }

    /// The mirror pod to create for a static pod: the same object with the mirror annotation, owned
    /// by (and controlled by) the Node, without what the API server assigns itself.
    public static func mirrorPod(of pod: CoreV1.Pod, nodeName: String, nodeUID: String) -> CoreV1.Pod {
        var m = pod
        m.metadata.uid = ""
        m.metadata.resourceVersion = ""
        m.metadata.creationTimestamp = nil
        m.metadata.annotations[mirrorAnnotation] = pod.metadata.annotations[hashAnnotation] ?? ""
        var owner = MetaV1.OwnerReference(apiVersion: "v1", kind: "Node", name: nodeName, uid: nodeUID)
        owner.controller = true
        m.metadata.ownerReferences = [owner]
        m.status = CoreV1.PodStatus()
        return m
    }
}
