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
                if set == 0 { errs.append(.required(pp, "must specify a peer")) }
                if peer.ipBlock != nil && set > 1 { errs.append(.forbidden(pp, "may not specify more than 1 peer")) }
                if let b = peer.ipBlock, CIDR.parse(b.cidr) == nil {
                    errs.append(
                        .invalid(
                            pp.child("ipBlock", "cidr"), b.cidr,
                            "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"))
                }
            }
        }
        func ports(_ list: [NetworkingV1.NetworkPolicyPort], _ path: FieldPath) {
            for (i, port) in list.enumerated() {
                if let pr = port.protocol, !["TCP", "UDP", "SCTP"].contains(pr) {
                    errs.append(.notSupported(path.index(i).child("protocol"), .string(pr), ["SCTP", "TCP", "UDP"]))
                }
                if case .int(let n)? = port.port {
                    for m in NameValidation.isValidPortNum(n) {
                        errs.append(.invalid(path.index(i).child("port"), .int(Int64(n)), m))
                    }
                }
            }
        }
        for (i, r) in spec.ingress.enumerated() {
            peers(r.from, p.child("ingress").index(i).child("from"))
            ports(r.ports, p.child("ingress").index(i).child("ports"))
        }
        for (i, r) in spec.egress.enumerated() {
            peers(r.to, p.child("egress").index(i).child("to"))
            ports(r.ports, p.child("egress").index(i).child("ports"))
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
        if spec.controller.isEmpty {
            errs.append(.required(FieldPath("spec", "controller")))
        } else if spec.controller.utf8.count > 250 {
            errs.append(.tooLong(FieldPath("spec", "controller"), 250))
        }
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
        for (i, r) in spec.rules.enumerated() {
            for (j, path) in (r.ingressRuleValue.http?.paths ?? []).enumerated() {
                let pp = p.child("rules").index(i).child("http", "paths").index(j)
                if let t = path.pathType, !["Exact", "Prefix", "ImplementationSpecific"].contains(t) {
                    errs.append(
                        .notSupported(pp.child("pathType"), .string(t), ["Exact", "ImplementationSpecific", "Prefix"]))
                }
                if path.pathType == nil { errs.append(.required(pp.child("pathType"), "pathType must be specified")) }
            }
        }
        return errs
    }

    public func validateUpdate(from old: NetworkingV1.Ingress) -> ErrorList {
        MetaValidation.validateObjectMetaUpdate(metadata, old.metadata) + validate()
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
