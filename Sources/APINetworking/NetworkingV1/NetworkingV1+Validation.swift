import APIMachinery

// Validation of networking.k8s.io/v1 kinds, after upstream's pkg/apis/networking/validation.

extension NetworkingV1.NetworkPolicy: Validated {
    public func validate() -> ErrorList {
        var errs = MetaValidation.validateObjectMeta(metadata, namespaced: true, nameRule: .dns1123Subdomain)
        let p = FieldPath("spec")
        errs += MetaValidation.validateLabelSelector(spec.podSelector, p.child("podSelector"))
        func peers(_ list: [NetworkingV1.NetworkPolicyPeer], _ path: FieldPath) {
            for (i, peer) in list.enumerated() {
                let pp = path.index(i)
                let set = [peer.podSelector != nil, peer.namespaceSelector != nil, peer.ipBlock != nil].filter { $0 }
                    .count
                if let s = peer.podSelector {
                    errs += MetaValidation.validateLabelSelector(s, pp.child("podSelector"))
                }
                if let s = peer.namespaceSelector {
                    errs += MetaValidation.validateLabelSelector(s, pp.child("namespaceSelector"))
                }
                if let b = peer.ipBlock {
                    if b.cidr.isEmpty {
                        errs.append(.required(pp.child("ipBlock", "cidr")))
                    } else if CIDR.parse(b.cidr) == nil {
                        errs.append(
                            .invalid(
                                pp.child("ipBlock", "cidr"), b.cidr,
                                "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"))
                    }
                }
                if set == 0 {
                    errs.append(.required(pp, "must specify a peer"))
                } else if peer.ipBlock != nil && set > 1 {
                    errs.append(.forbidden(pp, "may not specify both ipBlock and another peer"))
                }
            }
        }
        func ports(_ list: [NetworkingV1.NetworkPolicyPort], _ path: FieldPath) {
            for (i, port) in list.enumerated() {
                if let pr = port.protocol, !["TCP", "UDP", "SCTP"].contains(pr) {
                    errs.append(.notSupported(path.index(i).child("protocol"), .string(pr), ["TCP", "UDP", "SCTP"]))
                }
                switch port.port {
                case .int(let n)?:
                    for m in NameValidation.isValidPortNum(n) {
                        errs.append(.invalid(path.index(i).child("port"), .int(Int64(n)), m))
                    }
                case .string(let name)?:
                    for m in NameValidation.isValidPortName(name) {
                        errs.append(.invalid(path.index(i).child("port"), name, m))
                    }
                case nil: break
                }
            }
        }
        // Each rule's ports are checked before its peers, as upstream does.
        for (i, r) in spec.ingress.enumerated() {
            ports(r.ports, p.child("ingress").index(i).child("ports"))
            peers(r.from, p.child("ingress").index(i).child("from"))
        }
        for (i, r) in spec.egress.enumerated() {
            ports(r.ports, p.child("egress").index(i).child("ports"))
            peers(r.to, p.child("egress").index(i).child("to"))
        }
        if spec.policyTypes.count > 2 {
            errs.append(
                .invalid(
                    p.child("policyTypes"),
                    .json("[" + spec.policyTypes.map(GoQuote.quote).joined(separator: ",") + "]"),
                    "may not specify more than two policyTypes"))
            return errs
        }
        for (i, t) in spec.policyTypes.enumerated() where t != "Ingress" && t != "Egress" {
            errs.append(.notSupported(p.child("policyTypes").index(i), .string(t), ["Ingress", "Egress"]))
        }
        return errs
    }

    public func validateUpdate(from old: NetworkingV1.NetworkPolicy) -> ErrorList {
        MetaValidation.validateObjectMetaUpdate(metadata, old.metadata) + validate()
    }
}

extension NetworkingV1.IngressClass: Validated {
    public func validate() -> ErrorList {
        var errs = MetaValidation.validateObjectMeta(metadata, namespaced: false, nameRule: .dns1123Subdomain)
        let cp = FieldPath("spec", "controller")
        if spec.controller.utf8.count > 250 { errs.append(.tooLong(cp, 250)) }
        errs += IngressValidation.validateDomainPrefixedPath(spec.controller, cp)
        return errs
    }

    public func validateUpdate(from old: NetworkingV1.IngressClass) -> ErrorList {
        var errs = MetaValidation.validateObjectMetaUpdate(metadata, old.metadata)
        if spec.controller != old.spec.controller {
            errs.append(MetaValidation.immutable(FieldPath("spec", "controller"), .string(spec.controller)))
        }
        return errs + validate()
    }
}

extension NetworkingV1.Ingress: Validated {
    public func validate() -> ErrorList {
        var errs = MetaValidation.validateObjectMeta(metadata, namespaced: true, nameRule: .dns1123Subdomain)
        let p = FieldPath("spec")
        if spec.defaultBackend == nil && spec.rules.isEmpty {
            errs.append(.invalid(p.child("rules"), .json("[]"), "either `defaultBackend` or `rules` must be specified"))
        }
        if let b = spec.defaultBackend { errs += IngressValidation.validateBackend(b, p.child("defaultBackend")) }
        for (i, r) in spec.rules.enumerated() {
            errs += IngressValidation.validateRule(r, p.child("rules").index(i))
        }
        return errs
    }

    public func validateUpdate(from old: NetworkingV1.Ingress) -> ErrorList {
        MetaValidation.validateObjectMetaUpdate(metadata, old.metadata) + validate()
    }
}

/// Ingress rules, paths and backends, after upstream's pkg/apis/networking/validation.
enum IngressValidation {
    static let pathTypes = ["Exact", "ImplementationSpecific", "Prefix"]
    static let invalidPathSequences = ["//", "/./", "/../", "%2f", "%2F"]
    static let invalidPathSuffixes = ["/..", "/."]

    /// IsDomainPrefixedPath: a DNS subdomain, a slash, then a path (whose URL-path characters are
    /// not checked here).
    static func validateDomainPrefixedPath(_ value: String, _ path: FieldPath) -> ErrorList {
        if value.isEmpty { return [.required(path)] }
        let parts = value.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
            return [.invalid(path, value, "must be a domain-prefixed path (such as \"acme.io/foo\")")]
        }
        let host = String(parts[0])
        return NameValidation.isDNS1123Subdomain(host).map { .invalid(path, host, $0) }
    }

    /// IsWildcardDNS1123Subdomain: `*.` followed by a DNS-1123 subdomain.
    static func isWildcardDNS1123Subdomain(_ host: String) -> [String] {
        var errs: [String] = []
        if host.utf8.count > 253 { errs.append("must be no more than 253 characters") }
        let rest = host.hasPrefix("*.") ? String(host.dropFirst(2)) : ""
        if rest.isEmpty || !NameValidation.isDNS1123Subdomain(rest).filter({ !$0.hasPrefix("must be no more") }).isEmpty
        {
            errs.append(
                "a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain, which must "
                    + "consist of lower case alphanumeric characters, '-' or '.' and end with an alphanumeric character "
                    + "(e.g. '*.example.com', regex used for validation is "
                    + "'\\*\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
        }
        return errs
    }

    /// validateIngressRules for one rule: its host, then its paths.
    static func validateRule(_ r: NetworkingV1.IngressRule, _ path: FieldPath) -> ErrorList {
        var errs: ErrorList = []
        if !r.host.isEmpty {
            let hp = path.child("host")
            if NameValidation.isValidIP(r.host) {
                errs.append(.invalid(hp, r.host, "must be a DNS name, not an IP address"))
            }
            let messages =
                r.host.contains("*")
                ? isWildcardDNS1123Subdomain(r.host) : NameValidation.isDNS1123Subdomain(r.host)
            for m in messages { errs.append(.invalid(hp, r.host, m)) }
        }
        guard let http = r.ingressRuleValue.http else { return errs }
        let pp = path.child("http", "paths")
        if http.paths.isEmpty { errs.append(.required(pp)) }
        for (j, p) in http.paths.enumerated() { errs += validatePath(p, pp.index(j)) }
        return errs
    }

    /// validateHTTPIngressPath: the path type decides which paths are allowed.
    static func validatePath(_ p: NetworkingV1.HTTPIngressPath, _ path: FieldPath) -> ErrorList {
        guard let type = p.pathType else { return [.required(path.child("pathType"), "pathType must be specified")] }
        var errs: ErrorList = []
        let vp = path.child("path")
        switch type {
        case "Exact", "Prefix":
            if !p.path.hasPrefix("/") { errs.append(.invalid(vp, p.path, "must be an absolute path")) }
            if !p.path.isEmpty {
                for seq in invalidPathSequences where p.path.contains(seq) {
                    errs.append(.invalid(vp, p.path, "must not contain '\(seq)'"))
                }
                for suffix in invalidPathSuffixes where p.path.hasSuffix(suffix) {
                    errs.append(.invalid(vp, p.path, "cannot end with '\(suffix)'"))
                }
            }
        case "ImplementationSpecific":
            if !p.path.isEmpty && !p.path.hasPrefix("/") {
                errs.append(.invalid(vp, p.path, "must be an absolute path"))
            }
        default:
            errs.append(.notSupported(path.child("pathType"), .string(type), pathTypes))
        }
        return errs + validateBackend(p.backend, path.child("backend"))
    }

    /// validateIngressBackend: exactly one of service and resource; a service names one port.
    static func validateBackend(_ b: NetworkingV1.IngressBackend, _ path: FieldPath) -> ErrorList {
        var errs: ErrorList = []
        switch (b.service, b.resource) {
        case (.some, .some):
            errs.append(.invalid(path, "", "cannot set both resource and service backends"))
        case (nil, let r?):
            let rp = path.child("resource")
            if let g = r.apiGroup {
                for m in NameValidation.isDNS1123Subdomain(g) { errs.append(.invalid(rp.child("apiGroup"), g, m)) }
            }
            for (name, value) in [("kind", r.kind), ("name", r.name)] {
                if value.isEmpty {
                    errs.append(.required(rp.child(name), "\(name) is required"))
                } else {
                    for m in NameRule.pathSegment.check(value, prefix: false) {
                        errs.append(.invalid(rp.child(name), value, m))
                    }
                }
            }
        case (let s?, nil):
            let sp = path.child("service")
            if s.name.isEmpty {
                errs.append(.required(sp.child("name")))
            } else {
                for m in NameValidation.isDNS1035Label(s.name) { errs.append(.invalid(sp.child("name"), s.name, m)) }
            }
            let hasName = !s.port.name.isEmpty
            let hasNumber = s.port.number != 0
            if hasName && hasNumber {
                errs.append(.invalid(path, "", "cannot set both port name & port number"))
            } else if hasName {
                for m in NameValidation.isValidPortName(s.port.name) {
                    errs.append(.invalid(sp.child("port", "name"), s.port.name, m))
                }
            } else if hasNumber {
                for m in NameValidation.isValidPortNum(s.port.number) {
                    errs.append(.invalid(sp.child("port", "number"), .int(Int64(s.port.number)), m))
                }
            } else {
                errs.append(.required(path, "port name or number is required"))
            }
        case (nil, nil):
            errs.append(.invalid(path, "", "resource or service backend is required"))
        }
        return errs
    }
}

/// CIDR parsing for validation.
public enum CIDR {
    /// (address bytes, prefix length), or nil when malformed.
    public static func parse(_ s: String) -> ([UInt8], Int)? {
        let parts = s.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let ip = IPAddress.parse(String(parts[0])), let len = Int(parts[1]),
            len >= 0, len <= ip.count * 8
        else { return nil }
        return (ip, len)
    }
}
