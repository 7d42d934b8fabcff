import APICore
import APIMachinery

/// Why a volume could not be set up, in upstream's words (the text after
/// `MountVolume.SetUp failed for volume "x" : `).
public struct VolumeError: Error, Equatable, CustomStringConvertible, Sendable {
    public var message: String

    public init(_ message: String) { self.message = message }

    public var description: String { message }

    static func configMapNotFound(_ name: String) -> VolumeError { VolumeError("configmap \"\(name)\" not found") }
    static func secretNotFound(_ name: String) -> VolumeError { VolumeError("secret \"\(name)\" not found") }
    static func configMapKeyMissing(_ key: String) -> VolumeError {
        VolumeError("configmap references non-existent config key: \(key)")
    }
    static func secretKeyMissing(_ key: String) -> VolumeError {
        VolumeError("secret references non-existent secret key: \(key)")
    }
}

/// The files of API-data volumes as pure functions of the objects they project (upstream's
/// `MakePayload` of the configMap, secret, downwardAPI and projected plugins).
public enum VolumePayloads {
    /// 0644, the API's default for `defaultMode`.
    public static let defaultMode: Int32 = 0o644

    /// A ConfigMap's keys (`data` and `binaryData`), as `items` select them.
    public static func configMap(
        _ cm: CoreV1.ConfigMap?, name: String, items: [CoreV1.KeyToPath], defaultMode: Int32?, optional: Bool
    ) throws(VolumeError) -> [String: FileProjection] {
        guard let cm else {
            if optional { return [:] }
            throw .configMapNotFound(name)
        }
        var values: [String: [UInt8]] = cm.binaryData
        for (k, v) in cm.data { values[k] = Array(v.utf8) }
        return try project(
            values, items: items, defaultMode: defaultMode ?? Self.defaultMode, optional: optional,
            missing: VolumeError.configMapKeyMissing)
    }

    /// A Secret's keys, as `items` select them.
    public static func secret(
        _ s: CoreV1.Secret?, name: String, items: [CoreV1.KeyToPath], defaultMode: Int32?, optional: Bool
    ) throws(VolumeError) -> [String: FileProjection] {
        guard let s else {
            if optional { return [:] }
            throw .secretNotFound(name)
        }
        return try project(
            s.data, items: items, defaultMode: defaultMode ?? Self.defaultMode, optional: optional,
            missing: VolumeError.secretKeyMissing)
    }

    static func project(
        _ values: [String: [UInt8]], items: [CoreV1.KeyToPath], defaultMode: Int32, optional: Bool,
        missing: (String) -> VolumeError
    ) throws(VolumeError) -> [String: FileProjection] {
        var out: [String: FileProjection] = [:]
        if items.isEmpty {
            for (k, v) in values { out[k] = FileProjection(v, mode: defaultMode) }
            return out
        }
        for item in items {
            guard let v = values[item.key] else {
                if optional { continue }
                throw missing(item.key)
            }
            out[item.path] = FileProjection(v, mode: item.mode ?? defaultMode)
        }
        return out
    }

    /// Downward API files: pod fields (`metadata.labels` and `metadata.annotations` as sorted
    /// `key="value"` lines) and container resources.
    public static func downwardAPI(
        _ items: [CoreV1.DownwardAPIVolumeFile], pod: CoreV1.Pod, defaultMode: Int32?, hostIPs: [String] = [],
        podIPs: [String] = []
    ) throws(VolumeError) -> [String: FileProjection] {
        var out: [String: FileProjection] = [:]
        let mode = defaultMode ?? Self.defaultMode
        for item in items {
            let value: String
            if let f = item.fieldRef {
                value = fieldValue(f.fieldPath, pod, hostIPs: hostIPs, podIPs: podIPs)
            } else if let r = item.resourceFieldRef {
                let all = pod.spec.containers + pod.spec.initContainers
                guard
                    let c = all.first(where: { $0.name == r.containerName })
                        ?? (r.containerName.isEmpty ? all.first : nil)
                else {
                    throw VolumeError("container \(r.containerName) not found in pod \(pod.metadata.name)")
                }
                value = Kubelet.resourceValue(r, c)
            } else {
                continue
            }
            out[item.path] = FileProjection(value, mode: item.mode ?? mode)
        }
        return out
    }

    static func fieldValue(_ path: String, _ pod: CoreV1.Pod, hostIPs: [String], podIPs: [String]) -> String {
        switch path {
        case "metadata.labels": return formatMap(pod.metadata.labels)
        case "metadata.annotations": return formatMap(pod.metadata.annotations)
        default: return RuntimeConfigs.fieldValue(path, pod, podIPs: podIPs, hostIPs: hostIPs)
        }
    }

    /// `key="value"` per line, keys sorted, values quoted as Go's `%q` does; no final newline.
    public static func formatMap(_ m: [String: String]) -> String {
        m.keys.sorted().map { "\($0)=\(goQuote(m[$0]!))" }.joined(separator: "\n")
    }

    /// A string quoted as Go's `strconv.Quote`: `"` and `\` escaped, control characters as
    /// `\n`, `\t`, … or `\x..`/`\u....`, printable characters as they are.
    public static func goQuote(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\u{07}": out += "\\a"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{0B}": out += "\\v"
            default:
                if u.value < 0x20 || u.value == 0x7F {
                    out += "\\x" + hex(u.value, 2)
                } else if (0x80..<0xA0).contains(u.value) || u.value == 0xAD
                    || u.properties.generalCategory == .unassigned
                {
                    out += u.value > 0xFFFF ? "\\U" + hex(u.value, 8) : "\\u" + hex(u.value, 4)
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out + "\""
    }

    static func hex(_ v: UInt32, _ width: Int) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: max(0, width - s.count)) + s
    }

    /// One source of a projected volume, resolved by the caller (objects fetched, token requested).
    public enum ProjectedSource: Sendable {
        case configMap(CoreV1.ConfigMapProjection, CoreV1.ConfigMap?)
        case secret(CoreV1.SecretProjection, CoreV1.Secret?)
        case downwardAPI(CoreV1.DownwardAPIProjection)
        /// The token, or nil when none could be had (the server does not serve TokenRequest).
        case serviceAccountToken(CoreV1.ServiceAccountTokenProjection, token: String?)
    }

    /// The files of a projected volume: every source's files in one directory, a later source's
    /// file replacing an earlier one of the same path. Errors of all sources are reported together
    /// (one as it is, several as `[a, b]`).
    public static func projected(_ sources: [ProjectedSource], pod: CoreV1.Pod, defaultMode: Int32?)
        throws(VolumeError) -> [String: FileProjection]
    {
        let mode = defaultMode ?? Self.defaultMode
        var out: [String: FileProjection] = [:]
        var errors: [VolumeError] = []
        for source in sources {
            do throws(VolumeError) {
                let files: [String: FileProjection]
                switch source {
                case .configMap(let p, let cm):
                    files = try configMap(
                        cm, name: p.localObjectReference.name, items: p.items, defaultMode: mode,
                        optional: p.optional ?? false)
                case .secret(let p, let s):
                    files = try secret(
                        s, name: p.localObjectReference.name, items: p.items, defaultMode: mode,
                        optional: p.optional ?? false)
                case .downwardAPI(let p):
                    files = try downwardAPI(p.items, pod: pod, defaultMode: mode)
                case .serviceAccountToken(let p, let token):
                    files = token.map { [p.path: FileProjection($0, mode: mode)] } ?? [:]
                }
                out.merge(files) { _, new in new }
            } catch {
                errors.append(error)
            }
        }
        if errors.count == 1 { throw errors[0] }
        if errors.count > 1 { throw VolumeError("[" + errors.map(\.message).joined(separator: ", ") + "]") }
        return out
    }
}
