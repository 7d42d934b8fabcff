import APIMachinery

// Service spec checks for IP families, cluster IPs, port uniqueness and session affinity, after
// upstream's pkg/apis/core/validation and the service registry's IP family checks.

extension CoreValidation {
    static let ipFamilies = ["IPv4", "IPv6"]
    static let ipFamilyPolicies = ["PreferDualStack", "RequireDualStack", "SingleStack"]
    static let maxClientIPAffinitySeconds: Int32 = 86400

    /// Go's `%#v` rendering of a string list, as upstream shows list values in messages.
    static func goStringList(_ list: [String]) -> ErrorValue {
        .json("[]string{" + list.map(GoQuote.quote).joined(separator: ", ") + "}")
    }

    /// ValidateServiceClusterIPsRelatedFields, plus the ExternalName prohibitions and the registry's
    /// SingleStack checks.
    static func validateServiceIPFields(_ spec: CoreV1.ServiceSpec, _ path: FieldPath) -> ErrorList {
        var errs: ErrorList = []
        let ipsPath = path.child("clusterIPs")
        if spec.type == "ExternalName" {
            if !spec.clusterIPs.isEmpty {
                errs.append(.forbidden(ipsPath, "may not be set for ExternalName services"))
            }
            if spec.ipFamilyPolicy != nil {
                errs.append(.forbidden(path.child("ipFamilyPolicy"), "may not be set for ExternalName services"))
            }
            if !spec.ipFamilies.isEmpty {
                errs.append(.forbidden(path.child("ipFamilies"), "may not be set for ExternalName services"))
            }
            return errs
        }
        if !spec.clusterIP.isEmpty, let first = spec.clusterIPs.first, first != spec.clusterIP {
            errs.append(.invalid(ipsPath, goStringList(spec.clusterIPs), "first value must match `clusterIP`"))
        }
        var seen: Set<String> = []
        for (i, f) in spec.ipFamilies.enumerated() {
            if !ipFamilies.contains(f) {
                errs.append(.notSupported(path.child("ipFamilies").index(i), .string(f), ipFamilies))
            }
            if !seen.insert(f).inserted { errs.append(.duplicate(path.child("ipFamilies").index(i), .string(f))) }
        }
        if let policy = spec.ipFamilyPolicy, !ipFamilyPolicies.contains(policy) {
            errs.append(.notSupported(path.child("ipFamilyPolicy"), .string(policy), ipFamilyPolicies))
        }
        var invalidIPs = false
        for (i, ip) in spec.clusterIPs.enumerated() {
            if i == 0 && ip == "None" {
                if spec.clusterIPs.count > 1 {
                    invalidIPs = true
                    errs.append(
                        .invalid(ipsPath, goStringList(spec.clusterIPs), "'None' must be the first and only value"))
                }
                continue
            }
            if !NameValidation.isValidIP(ip) {
                invalidIPs = true
                errs.append(
                    .invalid(ipsPath.index(i), ip, "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"))
            }
        }
        if spec.clusterIPs.count > 2 {
            errs.append(.invalid(ipsPath, goStringList(spec.clusterIPs), "may only hold up to 2 values"))
        }
        if invalidIPs { return errs }
        if spec.clusterIPs.count == 2 {
            let v6 = spec.clusterIPs.map { $0.contains(":") }
            if v6[0] == v6[1] {
                errs.append(
                    .invalid(
                        ipsPath, goStringList(spec.clusterIPs), "may specify no more than one IP for each IP family"))
            }
        }
        let headless = spec.clusterIPs == ["None"]
        if !headless {
            for (i, ip) in spec.clusterIPs.enumerated() where i < spec.ipFamilies.count {
                let isV6 = ip.contains(":")
                if spec.ipFamilies[i] == "IPv4" && isV6 {
                    errs.append(
                        .invalid(ipsPath.index(i), ip, "expected an IPv4 value as indicated by `ipFamilies[\(i)]`"))
                }
                if spec.ipFamilies[i] == "IPv6" && !isV6 {
                    errs.append(
                        .invalid(ipsPath.index(i), ip, "expected an IPv6 value as indicated by `ipFamilies[\(i)]`"))
                }
            }
        }
        if spec.ipFamilyPolicy == "SingleStack" {
            let pp = path.child("ipFamilyPolicy")
            if spec.clusterIPs.count == 2 {
                errs.append(
                    .invalid(
                        pp, "SingleStack",
                        "must be 'RequireDualStack' or 'PreferDualStack' when multiple cluster IPs are specified"
                    ))
            }
            if spec.ipFamilies.count == 2 {
                errs.append(
                    .invalid(
                        pp, "SingleStack",
                        "must be 'RequireDualStack' or 'PreferDualStack' when multiple IP families are specified"
                    ))
            }
        }
        return errs
    }

    /// Upstream's duplicate checks on (port, protocol) and (nodePort, protocol).
    static func validateServicePortsUnique(_ ports: [CoreV1.ServicePort], _ path: FieldPath) -> ErrorList {
        var errs: ErrorList = []
        var seen: Set<String> = []
        var nodePorts: Set<String> = []
        for (i, port) in ports.enumerated() {
            let key = "\(port.protocol)/\(port.port)"
            if !seen.insert(key).inserted {
                errs.append(
                    .duplicate(
                        path.index(i),
                        .json(
                            "core.ServicePort{Name:\"\", Protocol:\(GoQuote.quote(port.protocol)), AppProtocol:(*string)(nil), Port:\(port.port), TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:\"\"}, NodePort:0}"
                        )))
            }
        }
        for (i, port) in ports.enumerated() where port.nodePort != 0 {
            if !nodePorts.insert("\(port.protocol)/\(port.nodePort)").inserted {
                errs.append(.duplicate(path.index(i).child("nodePort"), .int(Int64(port.nodePort))))
            }
        }
        return errs
    }

    /// Session affinity config: required timeout for ClientIP, absent for None, in range.
    static func validateSessionAffinityConfig(_ spec: CoreV1.ServiceSpec, _ path: FieldPath) -> ErrorList {
        let cp = path.child("sessionAffinityConfig")
        let why = "when session affinity type is ClientIP"
        switch spec.sessionAffinity {
        case "ClientIP":
            guard let config = spec.sessionAffinityConfig else { return [.required(cp, why)] }
            guard let clientIP = config.clientIP else { return [.required(cp.child("clientIP"), why)] }
            guard let t = clientIP.timeoutSeconds else {
                return [.required(cp.child("clientIP", "timeoutSeconds"), why)]
            }
            if t <= 0 || t > maxClientIPAffinitySeconds {
                return [
                    .invalid(
                        cp.child("clientIP", "timeoutSeconds"), .int(Int64(t)),
                        "must be greater than 0 and less than \(maxClientIPAffinitySeconds)")
                ]
            }
        case "None":
            if spec.sessionAffinityConfig != nil {
                return [.forbidden(cp, "must not be set when session affinity is None")]
            }
        default: break
        }
        return []
    }
}
