import APIMachinery

// Pod spec checks beyond containers and volumes: security contexts, scheduling constraints,
// probes, ephemeral containers and DNS, after upstream's pkg/apis/core/validation (field paths and
// messages as the API server reports them).

extension CoreValidation {
    static let seccompProfileTypes = ["Localhost", "RuntimeDefault", "Unconfined"]
    static let appArmorProfileTypes = ["Localhost", "RuntimeDefault", "Unconfined"]
    static let taintEffects = ["NoSchedule", "PreferNoSchedule", "NoExecute"]
    static let httpSchemes = ["HTTP", "HTTPS"]
    static let notPositive = "must be greater than zero"
    static let sysctlSegment = "[a-z0-9]([-_a-z0-9]*[a-z0-9])?"

    /// Upstream's IsValidUserID/IsValidGroupID range message.
    static func validateID(_ id: Int64?, _ path: FieldPath) -> ErrorList {
        guard let id, id < 0 || id > 2_147_483_647 else { return [] }
        return [.invalid(path, .int(id), "must be between 0 and 2147483647, inclusive")]
    }

    /// validatePodSpecSecurityContext: ids, sysctls, policies and profiles.
    static func validatePodSecurityContext(_ sc: CoreV1.PodSecurityContext?, _ path: FieldPath) -> ErrorList {
        guard let sc else { return [] }
        var errs: ErrorList = []
        errs += validateID(sc.fsGroup, path.child("fsGroup"))
        errs += validateID(sc.runAsUser, path.child("runAsUser"))
        errs += validateID(sc.runAsGroup, path.child("runAsGroup"))
        for (i, g) in sc.supplementalGroups.enumerated() {
            errs += validateID(g, path.child("supplementalGroups").index(i))
        }
        if let policy = sc.fsGroupChangePolicy, !["Always", "OnRootMismatch"].contains(policy) {
            errs.append(
                .notSupported(path.child("fsGroupChangePolicy"), .string(policy), ["Always", "OnRootMismatch"]))
        }
        errs += validateSysctls(sc.sysctls, path.child("sysctls"))
        if let policy = sc.supplementalGroupsPolicy, !["Merge", "Strict"].contains(policy) {
            errs.append(.notSupported(path.child("supplementalGroupsPolicy"), .string(policy), ["Merge", "Strict"]))
        }
        errs += validateSeccompProfile(sc.seccompProfile, path.child("seccompProfile"))
        errs += validateAppArmorProfile(sc.appArmorProfile, path.child("appArmorProfile"))
        return errs
    }

    /// A lower-case ASCII letter or digit.
    static func isLowerAlnum(_ c: UInt8) -> Bool { (c >= 97 && c <= 122) || (c >= 48 && c <= 57) }

    /// Whether a sysctl name matches upstream's dotted-or-slashed segment pattern.
    static func isValidSysctlName(_ name: String) -> Bool {
        let b = Array(name.utf8)
        guard !b.isEmpty, b.count <= 253 else { return false }
        func isSep(_ c: UInt8) -> Bool { c == UInt8(ascii: ".") || c == UInt8(ascii: "/") }
        var segment: [UInt8] = []
        func segmentOK(_ s: [UInt8]) -> Bool {
            guard let f = s.first, let l = s.last, isLowerAlnum(f),
                isLowerAlnum(l)
            else { return false }
            return s.allSatisfy { isLowerAlnum($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") }
        }
        for c in b {
            if isSep(c) {
                if !segmentOK(segment) { return false }
                segment = []
            } else {
                segment.append(c)
            }
        }
        return segmentOK(segment)
    }

    /// validateSysctls: names present, well-formed and unique.
    static func validateSysctls(_ sysctls: [CoreV1.Sysctl], _ path: FieldPath) -> ErrorList {
        var errs: ErrorList = []
        var names: Set<String> = []
        for (i, s) in sysctls.enumerated() {
            let p = path.index(i).child("name")
            if s.name.isEmpty {
                errs.append(.required(p))
            } else if !isValidSysctlName(s.name) {
                errs.append(
                    .invalid(
                        p, s.name,
                        "must have at most 253 characters and match regex (\(sysctlSegment)[\\./])*\(sysctlSegment)"))
            } else if names.contains(s.name) {
                errs.append(.duplicate(p, .string(s.name)))
            }
            names.insert(s.name)
        }
        return errs
    }

    /// validateSeccompProfileField: a known type, and localhostProfile exactly when Localhost.
    static func validateSeccompProfile(_ sp: CoreV1.SeccompProfile?, _ path: FieldPath) -> ErrorList {
        guard let sp else { return [] }
        var errs: ErrorList = []
        if sp.type.isEmpty {
            errs.append(.required(path.child("type"), "type is required when seccompProfile is set"))
        } else if !seccompProfileTypes.contains(sp.type) {
            errs.append(.notSupported(path.child("type"), .string(sp.type), seccompProfileTypes))
        }
        if sp.type == "Localhost" {
            if sp.localhostProfile == nil {
                errs.append(.required(path.child("localhostProfile"), "must be set when seccomp type is Localhost"))
            }
        } else if let lp = sp.localhostProfile {
            errs.append(
                .invalid(path.child("localhostProfile"), .string(lp), "can only be set when seccomp type is Localhost"))
        }
        return errs
    }

    /// validateAppArmorProfileField: a known type, and a trimmed localhostProfile exactly when Localhost.
    static func validateAppArmorProfile(_ ap: CoreV1.AppArmorProfile?, _ path: FieldPath) -> ErrorList {
        guard let ap else { return [] }
        var errs: ErrorList = []
        if ap.type.isEmpty {
            errs.append(.required(path.child("type"), "type is required when appArmorProfile is set"))
        } else if !appArmorProfileTypes.contains(ap.type) {
            errs.append(.notSupported(path.child("type"), .string(ap.type), appArmorProfileTypes))
        }
        let lpPath = path.child("localhostProfile")
        if ap.type == "Localhost" {
            if let lp = ap.localhostProfile {
                let trimmed = lp.trimmingASCIIWhitespace()
                if trimmed != lp {
                    errs.append(.invalid(lpPath, lp, "must not be padded with whitespace"))
                } else if trimmed.isEmpty {
                    errs.append(.required(lpPath, "must be set when AppArmor type is Localhost"))
                }
                if lp.utf8.count > 4095 { errs.append(.tooLong(lpPath, 4095)) }
            } else {
                errs.append(.required(lpPath, "must be set when AppArmor type is Localhost"))
            }
        } else if let lp = ap.localhostProfile {
            errs.append(.invalid(lpPath, .string(lp), "can only be set when AppArmor type is Localhost"))
        }
        return errs
    }

    /// ValidateSecurityContext for a container: ids, profiles and the privilege-escalation rules.
    static func validateSecurityContext(_ sc: CoreV1.SecurityContext?, _ path: FieldPath) -> ErrorList {
        guard let sc else { return [] }
        var errs: ErrorList = []
        errs += validateID(sc.runAsUser, path.child("runAsUser"))
        errs += validateID(sc.runAsGroup, path.child("runAsGroup"))
        if let pm = sc.procMount, !["Default", "Unmasked"].contains(pm) {
            errs.append(.notSupported(path.child("procMount"), .string(pm), ["Default", "Unmasked"]))
        }
        if sc.allowPrivilegeEscalation == false {
            if sc.privileged == true {
                errs.append(
                    .invalid(path, .omitted, "cannot set `allowPrivilegeEscalation` to false and `privileged` to true"))
            }
            for c in sc.capabilities?.add ?? [] where c == "CAP_SYS_ADMIN" {
                errs.append(
                    .invalid(
                        path, .omitted,
                        "cannot set `allowPrivilegeEscalation` to false and `capabilities.Add` CAP_SYS_ADMIN"))
            }
        }
        errs += validateSeccompProfile(sc.seccompProfile, path.child("seccompProfile"))
        errs += validateAppArmorProfile(sc.appArmorProfile, path.child("appArmorProfile"))
        return errs
    }
}

extension String {
    /// The string without leading and trailing ASCII whitespace (Go's strings.TrimSpace for ASCII).
    func trimmingASCIIWhitespace() -> String {
        let ws: Set<Character> = [" ", "\t", "\n", "\r", "\u{0B}", "\u{0C}"]
        var s = Substring(self)
        while let f = s.first, ws.contains(f) { s = s.dropFirst() }
        while let l = s.last, ws.contains(l) { s = s.dropLast() }
        return String(s)
    }
}

extension CoreValidation {
    /// validateTolerations: keys, operators, values, effects and tolerationSeconds.
    static func validateTolerations(_ tolerations: [CoreV1.Toleration], _ path: FieldPath) -> ErrorList {
        var errs: ErrorList = []
        for (i, t) in tolerations.enumerated() {
            let p = path.index(i)
            if !t.key.isEmpty {
                for m in NameValidation.isQualifiedName(t.key) { errs.append(.invalid(p.child("key"), t.key, m)) }
            }
            if t.key.isEmpty && t.operator != "Exists" {
                errs.append(
                    .invalid(
                        p.child("operator"), .string(t.operator),
                        "operator must be Exists when `key` is empty, which means \"match all values and all keys\""))
            }
            if t.tolerationSeconds != nil && t.effect != "NoExecute" {
                errs.append(
                    .invalid(
                        p.child("effect"), .string(t.effect),
                        "effect must be 'NoExecute' when `tolerationSeconds` is set"))
            }
            switch t.operator {
            case "Equal", "":
                let msgs = NameValidation.isValidLabelValue(t.value)
                if !msgs.isEmpty { errs.append(.invalid(p.child("operator"), t.value, msgs.joined(separator: ";"))) }
            case "Exists":
                if !t.value.isEmpty {
                    errs.append(
                        .invalid(
                            p.child("operator"), goToleration(t), "value must be empty when `operator` is 'Exists'"))
                }
            default:
                errs.append(.notSupported(p.child("operator"), .string(t.operator), ["Equal", "Exists"]))
            }
            if !t.effect.isEmpty && !taintEffects.contains(t.effect) {
                errs.append(.notSupported(p.child("effect"), .string(t.effect), taintEffects))
            }
        }
        return errs
    }

    /// Go's `%#v` of an internal toleration, as upstream renders the whole toleration as the value;
    /// a set tolerationSeconds (a pointer, printed by address upstream) is shown by its value.
    static func goToleration(_ t: CoreV1.Toleration) -> ErrorValue {
        let seconds = t.tolerationSeconds.map { "(*int64)(\($0))" } ?? "(*int64)(nil)"
        return .json(
            "core.Toleration{Key:\(GoQuote.quote(t.key)), Operator:\(GoQuote.quote(t.operator)), "
                + "Value:\(GoQuote.quote(t.value)), Effect:\(GoQuote.quote(t.effect)), TolerationSeconds:\(seconds)}")
    }

    /// validateAffinity: node affinity terms and pod (anti-)affinity terms.
    static func validateAffinity(_ a: CoreV1.Affinity?, _ path: FieldPath) -> ErrorList {
        guard let a else { return [] }
        var errs: ErrorList = []
        if let na = a.nodeAffinity {
            let p = path.child("nodeAffinity")
            if let sel = na.requiredDuringSchedulingIgnoredDuringExecution {
                let rp = p.child("requiredDuringSchedulingIgnoredDuringExecution")
                if sel.nodeSelectorTerms.isEmpty {
                    errs.append(.required(rp.child("nodeSelectorTerms"), "must have at least one node selector term"))
                }
                for (i, term) in sel.nodeSelectorTerms.enumerated() {
                    errs += validateNodeSelectorTerm(term, rp.child("nodeSelectorTerms").index(i))
                }
            }
            for (i, term) in na.preferredDuringSchedulingIgnoredDuringExecution.enumerated() {
                let tp = p.child("preferredDuringSchedulingIgnoredDuringExecution").index(i)
                if term.weight <= 0 || term.weight > 100 {
                    errs.append(.invalid(tp.child("weight"), .int(Int64(term.weight)), "must be in the range 1-100"))
                }
                errs += validateNodeSelectorTerm(term.preference, tp.child("preference"))
            }
        }
        for (terms, weighted, name) in [
            (
                a.podAffinity?.requiredDuringSchedulingIgnoredDuringExecution,
                a.podAffinity?.preferredDuringSchedulingIgnoredDuringExecution, "podAffinity"
            ),
            (
                a.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution,
                a.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution, "podAntiAffinity"
            ),
        ] {
            let p = path.child(name)
            for (i, term) in (terms ?? []).enumerated() {
                errs += validatePodAffinityTerm(
                    term, p.child("requiredDuringSchedulingIgnoredDuringExecution").index(i))
            }
            for (i, w) in (weighted ?? []).enumerated() {
                let wp = p.child("preferredDuringSchedulingIgnoredDuringExecution").index(i)
                if w.weight <= 0 || w.weight > 100 {
                    errs.append(.invalid(wp.child("weight"), .int(Int64(w.weight)), "must be in the range 1-100"))
                }
                errs += validatePodAffinityTerm(w.podAffinityTerm, wp.child("podAffinityTerm"))
            }
        }
        return errs
    }

    /// validateNodeSelectorTerm: label requirements and field requirements (only metadata.name).
    static func validateNodeSelectorTerm(_ term: CoreV1.NodeSelectorTerm, _ path: FieldPath) -> ErrorList {
        var errs: ErrorList = []
        for (j, r) in term.matchExpressions.enumerated() {
            let p = path.child("matchExpressions").index(j)
            switch r.operator {
            case "In", "NotIn":
                if r.values.isEmpty {
                    errs.append(.required(p.child("values"), "must be specified when `operator` is 'In' or 'NotIn'"))
                }
            case "Exists", "DoesNotExist":
                if !r.values.isEmpty {
                    errs.append(
                        .forbidden(
                            p.child("values"), "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"))
                }
            case "Gt", "Lt":
                if r.values.count != 1 {
                    errs.append(
                        .required(p.child("values"), "must be specified single value when `operator` is 'Lt' or 'Gt'"))
                }
            default:
                errs.append(.invalid(p.child("operator"), r.operator, "not a valid selector operator"))
            }
            for m in NameValidation.isQualifiedName(r.key) { errs.append(.invalid(p.child("key"), r.key, m)) }
        }
        for (j, r) in term.matchFields.enumerated() {
            let p = path.child("matchFields").index(j)
            switch r.operator {
            case "In", "NotIn":
                if r.values.count != 1 {
                    errs.append(
                        .required(
                            p.child("values"),
                            "must be only one value when `operator` is 'In' or 'NotIn' for node field selector"))
                }
            default:
                errs.append(.invalid(p.child("operator"), r.operator, "not a valid selector operator"))
            }
            if r.key != "metadata.name" {
                errs.append(.invalid(p.child("key"), r.key, "not a valid field selector key"))
            }
        }
        return errs
    }

    /// validatePodAffinityTerm: selectors, namespaces and a qualified topologyKey.
    static func validatePodAffinityTerm(_ t: CoreV1.PodAffinityTerm, _ path: FieldPath) -> ErrorList {
        var errs = MetaValidation.validateLabelSelector(t.labelSelector, path.child("labelSelector"))
        errs += MetaValidation.validateLabelSelector(t.namespaceSelector, path.child("namespaceSelector"))
        for ns in t.namespaces {
            for m in NameValidation.isDNS1123Label(ns) { errs.append(.invalid(path.child("namespace"), ns, m)) }
        }
        if t.topologyKey.isEmpty {
            errs.append(.required(path.child("topologyKey"), "can not be empty"))
        }
        for m in NameValidation.isQualifiedName(t.topologyKey) {
            errs.append(.invalid(path.child("topologyKey"), t.topologyKey, m))
        }
        return errs
    }

    /// validateTopologySpreadConstraints: skew, key, action, repeats, minDomains and policies.
    static func validateTopologySpreadConstraints(
        _ constraints: [CoreV1.TopologySpreadConstraint], _ path: FieldPath
    ) -> ErrorList {
        var errs: ErrorList = []
        for (i, c) in constraints.enumerated() {
            let p = path.index(i)
            if c.maxSkew <= 0 { errs.append(.invalid(p.child("maxSkew"), .int(Int64(c.maxSkew)), notPositive)) }
            if c.topologyKey.isEmpty { errs.append(.required(p.child("topologyKey"), "can not be empty")) }
            let actions = ["DoNotSchedule", "ScheduleAnyway"]
            if !actions.contains(c.whenUnsatisfiable) {
                errs.append(.notSupported(p.child("whenUnsatisfiable"), .string(c.whenUnsatisfiable), actions))
            }
            if constraints[(i + 1)...].contains(where: {
                $0.topologyKey == c.topologyKey && $0.whenUnsatisfiable == c.whenUnsatisfiable
            }) {
                errs.append(
                    .duplicate(
                        p.child("{topologyKey, whenUnsatisfiable}"),
                        .string("{\(c.topologyKey), \(c.whenUnsatisfiable)}")))
            }
            if let md = c.minDomains {
                if md <= 0 { errs.append(.invalid(p.child("minDomains"), .int(Int64(md)), notPositive)) }
                if c.whenUnsatisfiable != "DoNotSchedule" {
                    errs.append(
                        .invalid(
                            p.child("minDomains"), .int(Int64(md)),
                            "can only use minDomains if whenUnsatisfiable=DoNotSchedule, not \(c.whenUnsatisfiable)"))
                }
            }
            for (policy, name) in [
                (c.nodeAffinityPolicy, "nodeAffinityPolicy"), (c.nodeTaintsPolicy, "nodeTaintsPolicy"),
            ] {
                if let v = policy, !["Honor", "Ignore"].contains(v) {
                    errs.append(.notSupported(p.child(name), .string(v), ["Honor", "Ignore"]))
                }
            }
            let selectorKeys = Set(
                c.labelSelector.map { Array($0.matchLabels.keys) + $0.matchExpressions.map(\.key) } ?? [])
            for (j, k) in c.matchLabelKeys.enumerated() {
                for m in NameValidation.isQualifiedName(k) {
                    errs.append(.invalid(p.child("matchLabelKeys").index(j), k, m))
                }
                if selectorKeys.contains(k) {
                    errs.append(
                        .invalid(
                            p.child("matchLabelKeys").index(j), k, "exists in both matchLabelKeys and labelSelector"))
                }
            }
        }
        return errs
    }

    /// validateProbe: exactly one handler, its ports and scheme, and non-negative timings.
    static func validateProbe(_ pr: CoreV1.Probe, _ path: FieldPath) -> ErrorList {
        var errs: ErrorList = []
        var handlers = 0
        if let e = pr.handler.exec {
            handlers += 1
            if e.command.isEmpty { errs.append(.required(path.child("exec", "command"))) }
        }
        if let h = pr.handler.httpGet {
            let hp = path.child("httpGet")
            if handlers > 0 {
                errs.append(.forbidden(hp, "may not specify more than 1 handler type"))
            } else {
                handlers += 1
                if h.path.isEmpty { errs.append(.required(hp.child("path"))) }
                errs += validatePortNumOrName(h.port, hp.child("port"))
                if !httpSchemes.contains(h.scheme) {
                    errs.append(.notSupported(hp.child("scheme"), .string(h.scheme), httpSchemes))
                }
            }
        }
        if let t = pr.handler.tcpSocket {
            if handlers > 0 {
                errs.append(.forbidden(path.child("tcpSocket"), "may not specify more than 1 handler type"))
            } else {
                handlers += 1
                errs += validatePortNumOrName(t.port, path.child("tcpSocket", "port"))
            }
        }
        if let g = pr.handler.grpc {
            if handlers > 0 {
                errs.append(.forbidden(path.child("grpc"), "may not specify more than 1 handler type"))
            } else {
                handlers += 1
                for m in NameValidation.isValidPortNum(g.port) {
                    errs.append(.invalid(path.child("grpc", "port"), .int(Int64(g.port)), m))
                }
            }
        }
        if handlers == 0 { errs.append(.required(path, "must specify a handler type")) }
        errs += NumberValidation.nonNegative(Int64(pr.initialDelaySeconds), path.child("initialDelaySeconds"))
        errs += NumberValidation.nonNegative(Int64(pr.timeoutSeconds), path.child("timeoutSeconds"))
        errs += NumberValidation.nonNegative(Int64(pr.periodSeconds), path.child("periodSeconds"))
        errs += NumberValidation.nonNegative(Int64(pr.successThreshold), path.child("successThreshold"))
        errs += NumberValidation.nonNegative(Int64(pr.failureThreshold), path.child("failureThreshold"))
        if let g = pr.terminationGracePeriodSeconds, g <= 0 {
            errs.append(.invalid(path.child("terminationGracePeriodSeconds"), .int(g), "must be greater than 0"))
        }
        return errs
    }

    /// ValidatePortNumOrName: a number in 1–65535 or an IANA service name.
    static func validatePortNumOrName(_ port: IntOrString, _ path: FieldPath) -> ErrorList {
        switch port {
        case .int(let n): return NameValidation.isValidPortNum(n).map { .invalid(path, .int(Int64(n)), $0) }
        case .string(let s): return NameValidation.isValidPortName(s).map { .invalid(path, s, $0) }
        }
    }

    /// validatePodDNSConfig: nameservers for dnsPolicy None, limits, IPs, search domains and options.
    static func validateDNSConfig(_ config: CoreV1.PodDNSConfig?, dnsPolicy: String, _ path: FieldPath) -> ErrorList {
        if dnsPolicy == "None" {
            guard let config else {
                return [.required(path, "must provide `dnsConfig` when `dnsPolicy` is None")]
            }
            if config.nameservers.isEmpty {
                return [
                    .required(
                        path.child("nameservers"), "must provide at least one DNS nameserver when `dnsPolicy` is None")
                ]
            }
        }
        guard let config else { return [] }
        var errs: ErrorList = []
        if config.nameservers.count > 3 {
            errs.append(
                .invalid(
                    path.child("nameservers"), config.nameservers.errorValue, "must not have more than 3 nameservers"))
        }
        for (i, ns) in config.nameservers.enumerated() where !NameValidation.isValidIP(ns) {
            errs.append(
                .invalid(
                    path.child("nameservers").index(i), ns,
                    "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"))
        }
        if config.searches.count > 32 {
            errs.append(
                .invalid(path.child("searches"), config.searches.errorValue, "must not have more than 32 search paths"))
        }
        if config.searches.joined(separator: " ").utf8.count > 2048 {
            errs.append(
                .invalid(
                    path.child("searches"), config.searches.errorValue,
                    "must not have more than 2048 characters (including spaces) in the search list"))
        }
        for (i, s) in config.searches.enumerated() {
            let domain = s.hasSuffix(".") ? String(s.dropLast()) : s
            for m in NameValidation.isDNS1123Subdomain(domain) {
                errs.append(.invalid(path.child("searches").index(i), domain, m))
            }
        }
        for (i, o) in config.options.enumerated() where o.name.isEmpty {
            errs.append(.required(path.child("options").index(i), "Option.Name must not be empty"))
        }
        return errs
    }

    /// validateEphemeralContainers: unique names across all containers, a known target, common
    /// container rules, and no fields that only make sense for long-lived containers.
    static func validateEphemeralContainers(
        _ ecs: [CoreV1.EphemeralContainer], _ path: FieldPath, volumes: Set<String>, names: inout Set<String>
    ) -> ErrorList {
        var errs: ErrorList = []
        let regular = names
        for (i, ec) in ecs.enumerated() {
            let p = path.index(i)
            let c = ec.ephemeralContainerCommon
            var asContainer = CoreV1.Container()
            asContainer.name = c.name
            asContainer.image = c.image
            asContainer.env = c.env
            asContainer.volumeMounts = c.volumeMounts
            asContainer.terminationMessagePolicy = c.terminationMessagePolicy
            asContainer.imagePullPolicy = c.imagePullPolicy
            asContainer.securityContext = c.securityContext
            errs += validateContainer(asContainer, p, volumes: volumes, names: &names)
            let forbidden = "cannot be set for an Ephemeral Container"
            let set: [(Bool, String)] = [
                (!c.ports.isEmpty, "ports"),
                (
                    !c.resources.limits.isEmpty || !c.resources.requests.isEmpty || !c.resources.claims.isEmpty,
                    "resources"
                ),
                (!c.resizePolicy.isEmpty, "resizePolicy"), (c.restartPolicy != nil, "restartPolicy"),
                (!c.restartPolicyRules.isEmpty, "restartPolicyRules"), (c.livenessProbe != nil, "livenessProbe"),
                (c.readinessProbe != nil, "readinessProbe"), (c.startupProbe != nil, "startupProbe"),
                (c.lifecycle != nil, "lifecycle"),
            ]
            for (isSet, name) in set where isSet { errs.append(.forbidden(p.child(name), forbidden)) }
            if !ec.targetContainerName.isEmpty && !regular.contains(ec.targetContainerName) {
                errs.append(FieldError(.notFound, p.child("targetContainerName"), .string(ec.targetContainerName), ""))
            }
        }
        return errs
    }

    /// checkHostPortConflicts (upstream's AccumulateUniqueHostPorts): a protocol, host IP and host
    /// port may be claimed once among the given containers.
    static func checkHostPortConflicts(_ containers: [CoreV1.Container], _ path: FieldPath) -> ErrorList {
        var errs: ErrorList = []
        var seen: Set<String> = []
        for (i, c) in containers.enumerated() {
            for (j, port) in c.ports.enumerated() where port.hostPort != 0 {
                let key = "\(port.`protocol`)/\(port.hostIP)/\(port.hostPort)"
                if !seen.insert(key).inserted {
                    errs.append(.duplicate(path.index(i).child("ports").index(j).child("hostPort"), .string(key)))
                }
            }
        }
        return errs
    }

    /// validateHostNetwork: with host networking each container port must equal its hostPort.
    static func validateHostNetwork(_ spec: CoreV1.PodSpec, _ path: FieldPath) -> ErrorList {
        guard spec.hostNetwork else { return [] }
        var errs: ErrorList = []
        for (i, c) in spec.containers.enumerated() {
            for (j, port) in c.ports.enumerated() where port.hostPort != port.containerPort {
                errs.append(
                    .invalid(
                        path.child("containers").index(i).child("ports").index(j).child("containerPort"),
                        .int(Int64(port.containerPort)), "must match `hostPort` when `hostNetwork` is true"))
            }
        }
        return errs
    }
}
