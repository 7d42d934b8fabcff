import APICore
import Foundation

/// The environment variables a container gets for the services it may reach (upstream's service
/// links): every service with a cluster IP in the pod's namespace when `enableServiceLinks` (the
/// default), and always the `kubernetes` service of the `default` namespace. Per service NAME
/// (upper case, `-` as `_`): `NAME_SERVICE_HOST`, `NAME_SERVICE_PORT` (its first port),
/// `NAME_SERVICE_PORT_<PORTNAME>` for named ports, and Docker link variables: `NAME_PORT`
/// (`<proto>://<ip>:<first port>`) and per port `NAME_PORT_<port>_<PROTO>` with `_PROTO`, `_PORT`
/// and `_ADDR`. Container variables take precedence over these.
public enum ServiceEnvironment {
    public static let masterNamespace = "default"
    public static let masterServices: Set<String> = ["kubernetes"]

    public static func variables(_ services: [CoreV1.Service], namespace: String, enableServiceLinks: Bool)
        -> [String: String]
    {
        var chosen: [String: CoreV1.Service] = [:]
        for s in services {
            let ip = s.spec.clusterIP
            guard !ip.isEmpty, ip != "None" else { continue }
            let name = s.metadata.name
            if s.metadata.namespace == masterNamespace && masterServices.contains(name) {
                if chosen[name] == nil { chosen[name] = s }
            } else if s.metadata.namespace == namespace && enableServiceLinks {
                chosen[name] = s
            }
        }
        var env: [String: String] = [:]
        for (_, s) in chosen {
            let prefix = envName(s.metadata.name)
            let ip = s.spec.clusterIP
            guard let first = s.spec.ports.first else { continue }
            env[prefix + "_SERVICE_HOST"] = ip
            env[prefix + "_SERVICE_PORT"] = String(first.port)
            for p in s.spec.ports where !p.name.isEmpty {
                env[prefix + "_SERVICE_PORT_" + envName(p.name)] = String(p.port)
            }
            let host = ip.contains(":") ? "[\(ip)]" : ip
            env[prefix + "_PORT"] = "\(proto(first).lowercased())://\(host):\(first.port)"
            for p in s.spec.ports {
                let key = "\(prefix)_PORT_\(p.port)_\(proto(p).uppercased())"
                env[key] = "\(proto(p).lowercased())://\(host):\(p.port)"
                env[key + "_PROTO"] = proto(p).lowercased()
                env[key + "_PORT"] = String(p.port)
                env[key + "_ADDR"] = ip
            }
        }
        return env
    }

    static func proto(_ p: CoreV1.ServicePort) -> String { p.protocol.isEmpty ? "TCP" : p.protocol }

    static func envName(_ s: String) -> String { s.uppercased().replacingOccurrences(of: "-", with: "_") }
}
