import APIMachinery

// Validation of core/v1 kinds, after upstream's pkg/apis/core/validation (field paths and messages
// as upstream reports them).

/// Upstream's size limit for ConfigMap and Secret payloads.
public let maxConfigMapOrSecretSize = 1024 * 1024

public enum CoreValidation {
    static let restartPolicies = ["Always", "OnFailure", "Never"]
    static let dnsPolicies = ["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"]
    static let protocols = ["SCTP", "TCP", "UDP"]
    static let pullPolicies = ["Always", "IfNotPresent", "Never"]
    static let terminationMessagePolicies = ["File", "FallbackToLogsOnError"]
    static let serviceTypes = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]

    /// ValidatePodSpec (the parts k8swift checks so far): volumes, containers (regular, init and
    /// ephemeral), policies, security context, scheduling constraints and DNS.
    public static func validatePodSpec(_ spec: CoreV1.PodSpec, _ path: FieldPath, isTemplate: Bool = false) -> ErrorList
    {
        var errs: ErrorList = []
        var volumeNames: Set<String> = []
        for (i, v) in spec.volumes.enumerated() {
            let p = path.child("volumes").index(i)
            if v.name.isEmpty {
                errs.append(.required(p.child("name")))
            } else {
                for m in NameValidation.isDNS1123Label(v.name) { errs.append(.invalid(p.child("name"), v.name, m)) }
                if !volumeNames.insert(v.name).inserted { errs.append(.duplicate(p.child("name"), .string(v.name))) }
            }
            let sources = v.volumeSource.specifiedSourceCount
            if sources == 0 {
                errs.append(.required(p, "must specify a volume type"))
            } else if sources > 1 {
                errs.append(.forbidden(p, "may not specify more than 1 volume type"))
            }
        }
        if spec.containers.isEmpty {
            errs.append(.required(path.child("containers")))
        }
        var containerNames: Set<String> = []
        for (i, c) in spec.initContainers.enumerated() {
            errs += validateContainer(
                c, path.child("initContainers").index(i), volumes: volumeNames, names: &containerNames)
            // Init containers run one by one, so each is checked alone (and, as upstream, reported
            // at index 0 of the list it was passed in).
            errs += checkHostPortConflicts([c], path.child("initContainers"))
        }
        for (i, c) in spec.containers.enumerated() {
            errs += validateContainer(
                c, path.child("containers").index(i), volumes: volumeNames, names: &containerNames)
        }
        errs += checkHostPortConflicts(spec.containers, path.child("containers"))
        errs += validateEphemeralContainers(
            spec.ephemeralContainers, path.child("ephemeralContainers"), volumes: volumeNames, names: &containerNames)
        errs += validateHostNetwork(spec, path)
        if !restartPolicies.contains(spec.restartPolicy) {
            if spec.restartPolicy.isEmpty {
                errs.append(.required(path.child("restartPolicy")))
            } else {
                errs.append(.notSupported(path.child("restartPolicy"), .string(spec.restartPolicy), restartPolicies))
            }
        }
        if !dnsPolicies.contains(spec.dnsPolicy) {
            if spec.dnsPolicy.isEmpty {
                errs.append(.required(path.child("dnsPolicy")))
            } else {
                errs.append(.notSupported(path.child("dnsPolicy"), .string(spec.dnsPolicy), dnsPolicies))
            }
        }
        if let g = spec.terminationGracePeriodSeconds, g < 0 && !isTemplate {
            errs += NumberValidation.nonNegative(g, path.child("terminationGracePeriodSeconds"))
        }
        if let a = spec.activeDeadlineSeconds, a <= 0 {
            errs.append(
                .invalid(path.child("activeDeadlineSeconds"), .int(a), "must be between 1 and 2147483647, inclusive"))
        }
        if !spec.serviceAccountName.isEmpty {
            for m in NameValidation.isDNS1123Subdomain(spec.serviceAccountName) {
                errs.append(.invalid(path.child("serviceAccountName"), spec.serviceAccountName, m))
            }
        }
        if !spec.hostname.isEmpty {
            for m in NameValidation.isDNS1123Label(spec.hostname) {
                errs.append(.invalid(path.child("hostname"), spec.hostname, m))
            }
        }
        for k in spec.nodeSelector.keys.sorted() {
            for m in NameValidation.isQualifiedName(k) { errs.append(.invalid(path.child("nodeSelector"), k, m)) }
            for m in NameValidation.isValidLabelValue(spec.nodeSelector[k]!) {
                errs.append(.invalid(path.child("nodeSelector"), spec.nodeSelector[k]!, m))
            }
        }
        errs += validatePodSecurityContext(spec.securityContext, path.child("securityContext"))
        errs += validateAffinity(spec.affinity, path.child("affinity"))
        errs += validateTolerations(spec.tolerations, path.child("tolerations"))
        errs += validateDNSConfig(spec.dnsConfig, dnsPolicy: spec.dnsPolicy, path.child("dnsConfig"))
        errs += validateTopologySpreadConstraints(
            spec.topologySpreadConstraints, path.child("topologySpreadConstraints"))
        if let pp = spec.preemptionPolicy, !["Never", "PreemptLowerPriority"].contains(pp) {
            errs.append(.notSupported(path.child("preemptionPolicy"), .string(pp), ["Never", "PreemptLowerPriority"]))
        }
        return errs
    }

    static func validateContainer(
        _ c: CoreV1.Container, _ path: FieldPath, volumes: Set<String>, names: inout Set<String>
    ) -> ErrorList {
        var errs: ErrorList = []
        if c.name.isEmpty {
            errs.append(.required(path.child("name")))
        } else {
            for m in NameValidation.isDNS1123Label(c.name) { errs.append(.invalid(path.child("name"), c.name, m)) }
            if !names.insert(c.name).inserted { errs.append(.duplicate(path.child("name"), .string(c.name))) }
        }
        if c.image.isEmpty { errs.append(.required(path.child("image"))) }
        if !c.imagePullPolicy.isEmpty && !pullPolicies.contains(c.imagePullPolicy) {
            errs.append(.notSupported(path.child("imagePullPolicy"), .string(c.imagePullPolicy), pullPolicies))
        }
        if !c.terminationMessagePolicy.isEmpty && !terminationMessagePolicies.contains(c.terminationMessagePolicy) {
            errs.append(
                .notSupported(
                    path.child("terminationMessagePolicy"), .string(c.terminationMessagePolicy),
                    terminationMessagePolicies))
        }
        var portNames: Set<String> = []
        for (i, p) in c.ports.enumerated() {
            let pp = path.child("ports").index(i)
            if !p.name.isEmpty {
                let msgs = NameValidation.isValidPortName(p.name)
                for m in msgs { errs.append(.invalid(pp.child("name"), p.name, m)) }
                if msgs.isEmpty && !portNames.insert(p.name).inserted {
                    errs.append(.duplicate(pp.child("name"), .string(p.name)))
                }
            }
            if p.containerPort == 0 {
                errs.append(.required(pp.child("containerPort")))
            } else {
                for m in NameValidation.isValidPortNum(p.containerPort) {
                    errs.append(.invalid(pp.child("containerPort"), .int(Int64(p.containerPort)), m))
                }
            }
            if p.hostPort != 0 {
                for m in NameValidation.isValidPortNum(p.hostPort) {
                    errs.append(.invalid(pp.child("hostPort"), .int(Int64(p.hostPort)), m))
                }
            }
            if p.protocol.isEmpty {
                errs.append(.required(pp.child("protocol")))
            } else if !protocols.contains(p.protocol) {
                errs.append(.notSupported(pp.child("protocol"), .string(p.protocol), protocols))
            }
        }
        for (i, m) in c.volumeMounts.enumerated() {
            let mp = path.child("volumeMounts").index(i)
            if m.name.isEmpty {
                errs.append(.required(mp.child("name")))
            } else if !volumes.contains(m.name) {
                errs.append(FieldError(.notFound, mp.child("name"), .string(m.name), ""))
            }
            if m.mountPath.isEmpty { errs.append(.required(mp.child("mountPath"))) }
        }
        for (i, e) in c.env.enumerated() {
            let ep = path.child("env").index(i)
            if e.name.isEmpty { errs.append(.required(ep.child("name"))) }
            if e.valueFrom != nil && !e.value.isEmpty {
                errs.append(
                    .invalid(ep.child("valueFrom"), .string(""), "may not be specified when `value` is not empty"))
            }
        }
        for (k, limit) in c.resources.limits {
            if let req = c.resources.requests[k], req.compare(limit) > 0 {
                errs.append(
                    .invalid(
                        path.child("resources", "requests").key(k), .string(req.string),
                        "must be less than or equal to \(k) limit of \(limit.string)"))
            }
        }
        for (k, q) in c.resources.requests.merging(c.resources.limits, uniquingKeysWith: { a, _ in a }) where q.sign < 0
        {
            errs.append(
                .invalid(path.child("resources").key(k), .string(q.string), "must be greater than or equal to 0"))
        }
        for (probe, name) in [
            (c.livenessProbe, "livenessProbe"), (c.readinessProbe, "readinessProbe"), (c.startupProbe, "startupProbe"),
        ] {
            guard let pr = probe else { continue }
            let pp = path.child(name)
            errs += validateProbe(pr, pp)
            if name != "readinessProbe" && pr.successThreshold != 1 && pr.successThreshold != 0 {
                errs.append(.invalid(pp.child("successThreshold"), .int(Int64(pr.successThreshold)), "must be 1"))
            }
            if name == "readinessProbe", let g = pr.terminationGracePeriodSeconds {
                errs.append(
                    .invalid(pp.child("terminationGracePeriodSeconds"), .int(g), "must not be set for readinessProbes"))
            }
        }
        errs += validateSecurityContext(c.securityContext, path.child("securityContext"))
        return errs
    }

    /// ValidatePodTemplateSpec.
    public static func validatePodTemplateSpec(_ t: CoreV1.PodTemplateSpec, _ path: FieldPath) -> ErrorList {
        var errs = MetaValidation.validateLabels(t.metadata.labels, path.child("metadata", "labels"))
        errs += MetaValidation.validateAnnotations(t.metadata.annotations, path.child("metadata", "annotations"))
        errs += validatePodSpec(t.spec, path.child("spec"), isTemplate: true)
        if !t.spec.ephemeralContainers.isEmpty {
            errs.append(
                .forbidden(
                    path.child("spec", "ephemeralContainers"), "ephemeral containers not allowed in pod template"))
        }
        return errs
    }

    static func validateDataKeys(_ keys: [String], _ path: FieldPath) -> ErrorList {
        var errs: ErrorList = []
        for k in keys.sorted() {
            for m in NameValidation.isConfigMapKey(k) { errs.append(.invalid(path, k, m)) }
        }
        return errs
    }
}

extension CoreV1.VolumeSource {
    /// How many volume types are set.
    var specifiedSourceCount: Int {
        let all: [Bool] = [
            hostPath != nil, emptyDir != nil, gcePersistentDisk != nil, awsElasticBlockStore != nil, gitRepo != nil,
            secret != nil, nfs != nil, iscsi != nil, glusterfs != nil, persistentVolumeClaim != nil, rbd != nil,
            flexVolume != nil, cinder != nil, cephfs != nil, flocker != nil, downwardAPI != nil, fc != nil,
            azureFile != nil, configMap != nil, vsphereVolume != nil, quobyte != nil, azureDisk != nil,
            photonPersistentDisk != nil, projected != nil, portworxVolume != nil, scaleIO != nil, storageos != nil,
            csi != nil, ephemeral != nil, image != nil,
        ]
        return all.filter { $0 }.count
    }
}

extension CoreV1.ConfigMap: Validated {
    public func validate() -> ErrorList {
        var errs = MetaValidation.validateObjectMeta(metadata, namespaced: true, nameRule: .dns1123Subdomain)
        errs += CoreValidation.validateDataKeys(Array(data.keys), FieldPath("data"))
        errs += CoreValidation.validateDataKeys(Array(binaryData.keys), FieldPath("binaryData"))
        var total = 0
        for (k, v) in data {
            total += v.utf8.count
            if binaryData[k] != nil {
                errs.append(.invalid(FieldPath("data"), k, "duplicate of key present in binaryData"))
            }
        }
        for (_, v) in binaryData { total += v.count }
        if total > maxConfigMapOrSecretSize { errs.append(.tooLong(FieldPath(""), maxConfigMapOrSecretSize)) }
        return errs
    }

    public func validateUpdate(from old: CoreV1.ConfigMap) -> ErrorList {
        var errs = MetaValidation.validateObjectMetaUpdate(metadata, old.metadata)
        if old.immutable == true {
            if immutable != true {
                errs.append(.forbidden(FieldPath("immutable"), "field is immutable when `immutable` is set"))
            }
            if data != old.data {
                errs.append(.forbidden(FieldPath("data"), "field is immutable when `immutable` is set"))
            }
            if binaryData != old.binaryData {
                errs.append(.forbidden(FieldPath("binaryData"), "field is immutable when `immutable` is set"))
            }
        }
        return errs + validate()
    }
}

extension CoreV1.Secret: Validated {
    public func validate() -> ErrorList {
        var errs = MetaValidation.validateObjectMeta(metadata, namespaced: true, nameRule: .dns1123Subdomain)
        errs += CoreValidation.validateDataKeys(Array(data.keys), FieldPath("data"))
        let total = data.values.reduce(0) { $0 + $1.count }
        if total > maxConfigMapOrSecretSize { errs.append(.tooLong(FieldPath("data"), maxConfigMapOrSecretSize)) }
        switch type {
        case "kubernetes.io/service-account-token":
            if (metadata.annotations["kubernetes.io/service-account.name"] ?? "").isEmpty {
                errs.append(.required(FieldPath("metadata", "annotations").key("kubernetes.io/service-account.name")))
            }
        case "kubernetes.io/dockercfg":
            if data[".dockercfg"] == nil { errs.append(.required(FieldPath("data").key(".dockercfg"))) }
        case "kubernetes.io/dockerconfigjson":
            if data[".dockerconfigjson"] == nil { errs.append(.required(FieldPath("data").key(".dockerconfigjson"))) }
        case "kubernetes.io/basic-auth":
            if data["username"] == nil && data["password"] == nil {
                errs.append(.required(FieldPath("data").key("username")))
                errs.append(.required(FieldPath("data").key("password")))
            }
        case "kubernetes.io/ssh-auth":
            if data["ssh-privatekey"] == nil { errs.append(.required(FieldPath("data").key("ssh-privatekey"))) }
        case "kubernetes.io/tls":
            if data["tls.key"] == nil { errs.append(.required(FieldPath("data").key("tls.key"))) }
            if data["tls.crt"] == nil { errs.append(.required(FieldPath("data").key("tls.crt"))) }
        default: break
        }
        return errs
    }

    public func validateUpdate(from old: CoreV1.Secret) -> ErrorList {
        var errs = MetaValidation.validateObjectMetaUpdate(metadata, old.metadata)
        if type != old.type { errs.append(MetaValidation.immutable(FieldPath("type"), .string(type))) }
        if old.immutable == true {
            if immutable != true {
                errs.append(.forbidden(FieldPath("immutable"), "field is immutable when `immutable` is set"))
            }
            if data != old.data {
                errs.append(.forbidden(FieldPath("data"), "field is immutable when `immutable` is set"))
            }
        }
        return errs + validate()
    }
}

extension CoreV1.Namespace: Validated {
    public func validate() -> ErrorList {
        var errs = MetaValidation.validateObjectMeta(metadata, namespaced: false, nameRule: .dns1123Label)
        for (i, f) in spec.finalizers.enumerated() {
            for m in NameValidation.isQualifiedName(f) {
                errs.append(.invalid(FieldPath("spec", "finalizers").index(i), f, m))
            }
        }
        return errs
    }

    public func validateUpdate(from old: CoreV1.Namespace) -> ErrorList {
        MetaValidation.validateObjectMetaUpdate(metadata, old.metadata) + validate()
    }
}

extension CoreV1.ServiceAccount: Validated {
    public func validate() -> ErrorList {
        MetaValidation.validateObjectMeta(metadata, namespaced: true, nameRule: .dns1123Subdomain)
    }

    public func validateUpdate(from old: CoreV1.ServiceAccount) -> ErrorList {
        MetaValidation.validateObjectMetaUpdate(metadata, old.metadata) + validate()
    }
}

extension CoreV1.Pod: Validated {
    /// ValidatePodCreate: metadata and spec, and no ephemeral containers yet (they are added
    /// through the ephemeralcontainers subresource).
    public func validate() -> ErrorList {
        var errs = validateMetadataAndSpec()
        if !spec.ephemeralContainers.isEmpty {
            errs.append(.forbidden(FieldPath("spec", "ephemeralContainers"), "cannot be set on create"))
        }
        return errs
    }

    /// validatePodMetadataAndSpec, shared by create and update.
    func validateMetadataAndSpec() -> ErrorList {
        MetaValidation.validateObjectMeta(metadata, namespaced: true, nameRule: .dns1123Subdomain)
            + CoreValidation.validatePodSpec(spec, FieldPath("spec"))
    }

    /// Pod updates may change only images, activeDeadlineSeconds, additions to tolerations and a
    /// negative terminationGracePeriodSeconds.
    public func validateUpdate(from old: CoreV1.Pod) -> ErrorList {
        var errs = MetaValidation.validateObjectMetaUpdate(metadata, old.metadata)
        errs += validateMirrorAnnotationUpdate(from: old)
        var a = spec
        var b = old.spec
        b.nodeName = b.nodeName.isEmpty ? a.nodeName : b.nodeName
        for i in a.containers.indices where i < b.containers.count { a.containers[i].image = b.containers[i].image }
        for i in a.initContainers.indices where i < b.initContainers.count {
            a.initContainers[i].image = b.initContainers[i].image
        }
        a.activeDeadlineSeconds = b.activeDeadlineSeconds
        if a.tolerations.count >= b.tolerations.count
            && Array(a.tolerations.prefix(b.tolerations.count)) == b.tolerations
        {
            a.tolerations = b.tolerations
        }
        if let g = b.terminationGracePeriodSeconds, g < 0, a.terminationGracePeriodSeconds == 1 {
            a.terminationGracePeriodSeconds = g
        }
        if a.schedulingGates.isEmpty { b.schedulingGates = [] }  // gates may only be removed
        if a != b {
            errs.append(
                .forbidden(
                    FieldPath("spec"),
                    "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)"
                ))
        }
        return errs + validateMetadataAndSpec()
    }
}

extension CoreV1.Pod {
    /// Part of ValidatePodSpecificAnnotationUpdates: whether a pod is a static pod's mirror is fixed
    /// at creation (the kubelet owns mirror pods; an update may not make or unmake one).
    func validateMirrorAnnotationUpdate(from old: CoreV1.Pod) -> ErrorList {
        let key = "kubernetes.io/config.mirror"
        let path = FieldPath("metadata", "annotations").key(key)
        switch (old.metadata.annotations[key], metadata.annotations[key]) {
        case (.some(let a), let b) where a != b:
            return [.forbidden(path, "may not remove or update mirror pod annotation")]
        case (nil, .some):
            return [.forbidden(path, "may not add mirror pod annotation")]
        default:
            return []
        }
    }
}

extension CoreV1.PodTemplate: Validated {
    public func validate() -> ErrorList {
        MetaValidation.validateObjectMeta(metadata, namespaced: true, nameRule: .dns1123Subdomain)
            + CoreValidation.validatePodTemplateSpec(template, FieldPath("template"))
    }

    public func validateUpdate(from old: CoreV1.PodTemplate) -> ErrorList {
        MetaValidation.validateObjectMetaUpdate(metadata, old.metadata) + validate()
    }
}

extension CoreV1.ReplicationController: Validated {
    public func validate() -> ErrorList {
        var errs = MetaValidation.validateObjectMeta(metadata, namespaced: true, nameRule: .dns1123Subdomain)
        let p = FieldPath("spec")
        errs += NumberValidation.nonNegative(Int64(spec.replicas ?? 0), p.child("replicas"))
        if spec.selector.isEmpty { errs.append(.required(p.child("selector"))) }
        errs += MetaValidation.validateLabels(spec.selector, p.child("selector"))
        if let t = spec.template {
            let labels = t.metadata.labels
            if !spec.selector.isEmpty && !spec.selector.allSatisfy({ labels[$0.key] == $0.value }) {
                errs.append(
                    .invalid(
                        p.child("template", "metadata", "labels"), labels.errorValue,
                        "`selector` does not match template `labels`"))
            }
            errs += CoreValidation.validatePodTemplateSpec(t, p.child("template"))
            if t.spec.restartPolicy != "Always" {
                errs.append(
                    .notSupported(
                        p.child("template", "spec", "restartPolicy"), .string(t.spec.restartPolicy), ["Always"]))
            }
        } else {
            errs.append(.required(p.child("template")))
        }
        return errs
    }

    public func validateUpdate(from old: CoreV1.ReplicationController) -> ErrorList {
        MetaValidation.validateObjectMetaUpdate(metadata, old.metadata) + validate()
    }
}

extension CoreV1.Service: Validated {
    public func validate() -> ErrorList {
        var errs = MetaValidation.validateObjectMeta(metadata, namespaced: true, nameRule: .dns1035Label)
        let p = FieldPath("spec")
        if !CoreValidation.serviceTypes.contains(spec.type) {
            errs.append(.notSupported(p.child("type"), .string(spec.type), CoreValidation.serviceTypes))
        }
        if spec.type == "ExternalName" {
            if spec.externalName.isEmpty {
                errs.append(.required(p.child("externalName")))
            } else {
                let clean = spec.externalName.hasSuffix(".") ? String(spec.externalName.dropLast()) : spec.externalName
                for m in NameValidation.isDNS1123Subdomain(clean) {
                    errs.append(.invalid(p.child("externalName"), spec.externalName, m))
                }
            }
        } else if spec.ports.isEmpty && spec.clusterIP != "None" {
            errs.append(.required(p.child("ports")))
        }
        if !spec.clusterIP.isEmpty && spec.clusterIP != "None" && !NameValidation.isValidIP(spec.clusterIP) {
            errs.append(
                .invalid(
                    p.child("clusterIP"), spec.clusterIP,
                    "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"))
        }
        errs += CoreValidation.validateServiceIPFields(spec, p)
        var names: Set<String> = []
        for (i, port) in spec.ports.enumerated() {
            let pp = p.child("ports").index(i)
            if spec.ports.count > 1 && port.name.isEmpty {
                errs.append(.required(pp.child("name")))
            } else if !port.name.isEmpty {
                for m in NameValidation.isDNS1123Label(port.name) {
                    errs.append(.invalid(pp.child("name"), port.name, m))
                }
                if !names.insert(port.name).inserted { errs.append(.duplicate(pp.child("name"), .string(port.name))) }
            }
            for m in NameValidation.isValidPortNum(port.port) {
                errs.append(.invalid(pp.child("port"), .int(Int64(port.port)), m))
            }
            if port.protocol.isEmpty {
                errs.append(.required(pp.child("protocol")))
            } else if !CoreValidation.protocols.contains(port.protocol) {
                errs.append(.notSupported(pp.child("protocol"), .string(port.protocol), CoreValidation.protocols))
            }
            switch port.targetPort {
            case .int(let t):
                if t != 0 {
                    for m in NameValidation.isValidPortNum(t) {
                        errs.append(.invalid(pp.child("targetPort"), .int(Int64(t)), m))
                    }
                }
            case .string(let s):
                for m in NameValidation.isValidPortName(s) { errs.append(.invalid(pp.child("targetPort"), s, m)) }
            }
            if port.nodePort != 0 && spec.type != "NodePort" && spec.type != "LoadBalancer" {
                errs.append(.forbidden(pp.child("nodePort"), "may not be used when `type` is '\(spec.type)'"))
            }
        }
        errs += CoreValidation.validateServicePortsUnique(spec.ports, p.child("ports"))
        errs += CoreValidation.validateSessionAffinityConfig(spec, p)
        if !["None", "ClientIP"].contains(spec.sessionAffinity) {
            errs.append(.notSupported(p.child("sessionAffinity"), .string(spec.sessionAffinity), ["ClientIP", "None"]))
        }
        errs += MetaValidation.validateLabels(spec.selector, p.child("selector"))
        return errs
    }

    public func validateUpdate(from old: CoreV1.Service) -> ErrorList {
        var errs = MetaValidation.validateObjectMetaUpdate(metadata, old.metadata)
        if !old.spec.clusterIP.isEmpty && spec.clusterIP != old.spec.clusterIP && old.spec.type != "ExternalName"
            && spec.type != "ExternalName"
        {
            errs.append(MetaValidation.immutable(FieldPath("spec", "clusterIPs").index(0), .string(spec.clusterIP)))
        }
        return errs + validate()
    }
}

extension CoreV1.PersistentVolumeClaim: Validated {
    public func validate() -> ErrorList {
        var errs = MetaValidation.validateObjectMeta(metadata, namespaced: true, nameRule: .dns1123Subdomain)
        let p = FieldPath("spec")
        if spec.accessModes.isEmpty {
            errs.append(.required(p.child("accessModes"), "at least 1 access mode is required"))
        }
        let modes = ["ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"]
        for m in spec.accessModes where !modes.contains(m) {
            errs.append(.notSupported(p.child("accessModes"), .string(m), modes))
        }
        if spec.resources.requests["storage"] == nil {
            errs.append(.required(p.child("resources").key("storage")))
        }
        return errs
    }

    public func validateUpdate(from old: CoreV1.PersistentVolumeClaim) -> ErrorList {
        var errs = MetaValidation.validateObjectMetaUpdate(metadata, old.metadata)
        var a = spec
        a.resources = old.spec.resources
        a.volumeAttributesClassName = old.spec.volumeAttributesClassName
        // The binder sets volumeName once (upstream allows that change while it is empty).
        if old.spec.volumeName.isEmpty { a.volumeName = old.spec.volumeName }
        if a != old.spec {
            errs.append(
                .forbidden(
                    FieldPath("spec"),
                    "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims"
                ))
        }
        return errs + validate()
    }
}

extension CoreV1.PersistentVolume: Validated {
    public func validate() -> ErrorList {
        var errs = MetaValidation.validateObjectMeta(metadata, namespaced: false, nameRule: .dns1123Subdomain)
        let p = FieldPath("spec")
        if spec.accessModes.isEmpty { errs.append(.required(p.child("accessModes"))) }
        if spec.capacity["storage"] == nil { errs.append(.required(p.child("capacity").key("storage"))) }
        let sources = [
            spec.persistentVolumeSource.hostPath != nil, spec.persistentVolumeSource.nfs != nil,
            spec.persistentVolumeSource.local != nil, spec.persistentVolumeSource.csi != nil,
            spec.persistentVolumeSource.iscsi != nil, spec.persistentVolumeSource.fc != nil,
            spec.persistentVolumeSource.rbd != nil, spec.persistentVolumeSource.cephfs != nil,
            spec.persistentVolumeSource.gcePersistentDisk != nil,
            spec.persistentVolumeSource.awsElasticBlockStore != nil,
            spec.persistentVolumeSource.azureDisk != nil, spec.persistentVolumeSource.azureFile != nil,
            spec.persistentVolumeSource.glusterfs != nil, spec.persistentVolumeSource.flexVolume != nil,
            spec.persistentVolumeSource.cinder != nil, spec.persistentVolumeSource.flocker != nil,
            spec.persistentVolumeSource.vsphereVolume != nil, spec.persistentVolumeSource.quobyte != nil,
            spec.persistentVolumeSource.photonPersistentDisk != nil, spec.persistentVolumeSource.portworxVolume != nil,
            spec.persistentVolumeSource.scaleIO != nil, spec.persistentVolumeSource.storageos != nil,
        ].filter { $0 }.count
        if sources == 0 { errs.append(.required(p, "must specify a volume type")) }
        if sources > 1 { errs.append(.forbidden(p, "may not specify more than 1 volume type")) }
        return errs
    }

    public func validateUpdate(from old: CoreV1.PersistentVolume) -> ErrorList {
        var errs = MetaValidation.validateObjectMetaUpdate(metadata, old.metadata)
        if spec.persistentVolumeSource != old.spec.persistentVolumeSource {
            errs.append(
                .forbidden(
                    FieldPath("spec", "persistentvolumesource"),
                    "spec.persistentvolumesource is immutable after creation"))
        }
        return errs + validate()
    }
}

extension CoreV1.Endpoints: Validated {
    public func validate() -> ErrorList {
        var errs = MetaValidation.validateObjectMeta(metadata, namespaced: true, nameRule: .dns1123Subdomain)
        for (i, s) in subsets.enumerated() {
            let p = FieldPath("subsets").index(i)
            for (j, a) in s.addresses.enumerated() where !NameValidation.isValidIP(a.ip) {
                errs.append(.invalid(p.child("addresses").index(j).child("ip"), a.ip, "must be a valid IP address"))
            }
            for (j, port) in s.ports.enumerated() {
                for m in NameValidation.isValidPortNum(port.port) {
                    errs.append(.invalid(p.child("ports").index(j).child("port"), .int(Int64(port.port)), m))
                }
            }
        }
        return errs
    }

    public func validateUpdate(from old: CoreV1.Endpoints) -> ErrorList {
        MetaValidation.validateObjectMetaUpdate(metadata, old.metadata) + validate()
    }
}

extension CoreV1.Node: Validated {
    public func validate() -> ErrorList {
        MetaValidation.validateObjectMeta(metadata, namespaced: false, nameRule: .dns1123Subdomain)
    }

    public func validateUpdate(from old: CoreV1.Node) -> ErrorList {
        var errs = MetaValidation.validateObjectMetaUpdate(metadata, old.metadata) + validate()
        // Pod CIDRs and the provider ID may be set once (by the controller manager's node IPAM, the
        // cloud controller), never changed after.
        func cidrs(_ n: CoreV1.Node) -> [String] {
            n.spec.podCIDRs.isEmpty && !n.spec.podCIDR.isEmpty ? [n.spec.podCIDR] : n.spec.podCIDRs
        }
        let oldCIDRs = cidrs(old)
        if !oldCIDRs.isEmpty {
            let detail = "node updates may not change podCIDR except from \"\" to valid"
            let newCIDRs = cidrs(self)
            if oldCIDRs.count != newCIDRs.count {
                errs.append(.forbidden(FieldPath("spec", "podCIDRs"), detail))
            } else {
                for (a, b) in zip(oldCIDRs, newCIDRs) where a != b {
                    errs.append(.forbidden(FieldPath("spec", "podCIDRs"), detail))
                }
            }
        }
        if !old.spec.providerID.isEmpty && old.spec.providerID != spec.providerID {
            errs.append(
                .forbidden(
                    FieldPath("spec", "providerID"), "node updates may not change providerID except from \"\" to valid")
            )
        }
        return errs
    }
}

extension CoreV1.Event: Validated {
    public func validate() -> ErrorList {
        var errs = MetaValidation.validateObjectMeta(metadata, namespaced: true, nameRule: .dns1123Subdomain)
        if involvedObject.namespace != metadata.namespace && !involvedObject.namespace.isEmpty {
            errs.append(
                .invalid(
                    FieldPath("involvedObject", "namespace"), involvedObject.namespace, "does not match event.namespace"
                ))
        }
        return errs
    }

    public func validateUpdate(from old: CoreV1.Event) -> ErrorList {
        MetaValidation.validateObjectMetaUpdate(metadata, old.metadata) + validate()
    }
}
