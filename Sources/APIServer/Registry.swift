import APIMachinery
import Foundation
import KubernetesAPI

/// Builds a resource store for every enabled resource of the scheme.
enum Registry {
    /// Resources that are not stored (reviews, bindings as a resource, component statuses).
    static let virtual: Set<String> = [
        "bindings", "componentstatuses", "tokenreviews", "subjectaccessreviews", "selfsubjectaccessreviews",
        "localsubjectaccessreviews", "selfsubjectrulesreviews", "selfsubjectreviews",
    ]

    /// Upstream's etcd key prefix of a resource (kept for compatibility with existing stores).
    static func keyPrefix(_ gr: GroupResource) -> String {
        switch (gr.group, gr.resource) {
        case ("", "services"): return "/registry/services/specs/"
        case ("", "endpoints"): return "/registry/services/endpoints/"
        case ("", "nodes"): return "/registry/minions/"
        case ("", "replicationcontrollers"): return "/registry/controllers/"
        case ("networking.k8s.io", "ingresses"): return "/registry/ingress/"
        case ("apiextensions.k8s.io", "customresourcedefinitions"):
            return "/registry/apiextensions.k8s.io/customresourcedefinitions/"
        case ("apiregistration.k8s.io", "apiservices"): return "/registry/apiregistration.k8s.io/apiservices/"
        default: return "/registry/\(gr.resource)/"
        }
    }

    static func build(_ server: ServerContext) {
        let scheme = server.scheme
        var byResource: [GroupResource: [ResourceDescription]] = [:]
        for r in scheme.enabledResources where !virtual.contains(r.resource) {
            byResource[r.groupResource, default: []].append(r)
        }
        // events.k8s.io Events are another view of the core Events (one storage, as upstream).
        let eventsGR = GroupResource(group: "events.k8s.io", resource: "events")
        let eventViews = byResource.removeValue(forKey: eventsGR) ?? []
        for (gr, descs) in byResource {
            guard let storageVersion = scheme.storageVersion(of: gr),
                let storage = scheme.resources.values.first(where: {
                    $0.groupResource == gr && $0.version == storageVersion
                }),
                let st = scheme.type(for: storage.groupVersionKind) as? any StoredKind.Type
            else { continue }
            let primary = descs.first { $0.version == storageVersion } ?? descs[0]
            server.stores[gr] = makeStore(st, resource: primary, versions: descs, server: server)
        }
        if let core = server.stores[GroupResource(group: "", resource: "events")] as? ResourceStore<CoreV1.Event>,
            !eventViews.isEmpty
        {
            core.codecs["events.k8s.io/v1"] = EventConversion.codec()
            server.stores[eventsGR] = core
        }
    }

    static func makeStore<T: StoredKind>(
        _: T.Type, resource: ResourceDescription, versions: [ResourceDescription], server: ServerContext
    ) -> any ResourceHandler {
        let storageCodec = VersionCodec<T>.make(T.self, storage: T.self)
        var codecs: [String: VersionCodec<T>] = [:]
        for v in versions {
            guard let vt = server.scheme.type(for: v.groupVersionKind) as? any StoredKind.Type else { continue }
            codecs[v.groupVersionKind.apiVersion] = makeCodec(vt, storage: T.self)
        }
        let strategy = Strategies.strategy(for: T.self, resource: resource, server: server)
        let store = ResourceStore<T>(
            resource: resource, storageCodec: storageCodec, codecs: codecs,
            keyPrefix: keyPrefix(resource.groupResource),
            server: server, strategy: strategy, fieldLabels: FieldLabels.supported(resource.resource),
            fieldsOf: FieldLabels.extractor(resource.resource, namespaced: resource.namespaced, codec: storageCodec))
        if let schema = server.patchSchemas.applySchema(for: storageCodec.groupVersionKind) {
            store.fieldManager = FieldManager(schema: schema, hasStatus: strategy.hasStatus, zero: store.json(T()))
        }
        return store
    }

    static func makeCodec<V: StoredKind, T: StoredKind>(_ v: V.Type, storage: T.Type) -> VersionCodec<T> {
        VersionCodec<T>.make(V.self, storage: T.self)
    }
}

/// Upstream's registry strategies, where they differ from the generic behaviour.
enum Strategies {
    static let generationTracking: Set<String> = [
        "deployments", "replicasets", "statefulsets", "daemonsets", "replicationcontrollers", "jobs", "cronjobs",
        "pods", "networkpolicies", "ingresses", "poddisruptionbudgets", "customresourcedefinitions",
        "horizontalpodautoscalers", "resourceclaims", "validatingadmissionpolicies", "mutatingadmissionpolicies",
        "flowschemas", "prioritylevelconfigurations", "persistentvolumeclaims",
    ]
    static let createOnUpdate: Set<String> = ["endpoints", "events", "leases", "nodes", "endpointslices"]
    /// Resources whose DELETE answers with the deleted object rather than a `Status` (upstream's
    /// `ReturnDeletedObject`; the OpenAPI spec's DELETE responses name the kind for exactly these).
    static let returnDeletedObject = Set(
        [
            (
                "",
                [
                    "persistentvolumeclaims", "persistentvolumes", "pods", "podtemplates", "resourcequotas",
                    "serviceaccounts", "services",
                ]
            ),
            (
                "resource.k8s.io",
                [
                    "deviceclasses", "resourceclaims", "resourceclaimtemplates", "resourceslices", "devicetaintrules",
                    "resourcepoolstatusrequests",
                ]
            ),
            (
                "storage.k8s.io",
                ["csidrivers", "csinodes", "storageclasses", "volumeattachments", "volumeattributesclasses"]
            ),
        ].flatMap { group, resources in resources.map { GroupResource(group: group, resource: $0) } })

    static func strategy<T: StoredKind>(for _: T.Type, resource: ResourceDescription, server: ServerContext)
        -> ResourceStrategy<T>
    {
        var s = ResourceStrategy<T>()
        s.hasStatus = resource.subresources.contains { $0.name == "status" }
        s.tracksGeneration = generationTracking.contains(resource.resource)
        s.allowCreateOnUpdate = createOnUpdate.contains(resource.resource)
        s.returnsDeletedObject = returnDeletedObject.contains(resource.groupResource)
        switch (resource.group, resource.resource) {
        case ("admissionregistration.k8s.io", let r):
            s.validate = AdmissionValidation.validator(r, T.self)
        case ("apiregistration.k8s.io", "apiservices"):
            s.validate = { obj, old in
                guard let svc = obj as? APIRegistrationV1.APIService else { return [] }
                return Aggregator.validate(svc, old: old as? APIRegistrationV1.APIService)
            }
        case ("", "namespaces"):
            s.prepareForCreate = { obj in
                guard var ns = obj as? CoreV1.Namespace else { return }
                ns.status.phase = "Active"
                if !ns.spec.finalizers.contains("kubernetes") { ns.spec.finalizers.append("kubernetes") }
                ns.metadata.labels["kubernetes.io/metadata.name"] = ns.metadata.name
                obj = ns as! T
            }
            s.admitUpdate = { obj, _ in
                guard var ns = obj as? CoreV1.Namespace else { return }
                ns.metadata.labels["kubernetes.io/metadata.name"] = ns.metadata.name
                obj = ns as! T
            }
            // A namespace with finalizers goes Terminating first.
            s.gracePeriod = { obj, _ in ((obj as? CoreV1.Namespace)?.spec.finalizers.isEmpty ?? true) ? nil : 0 }
            s.finalized = { obj in
                obj.metadata.finalizers.isEmpty && ((obj as? CoreV1.Namespace)?.spec.finalizers.isEmpty ?? true)
            }
            s.returnsDeletedObject = true
        case ("apiextensions.k8s.io", "customresourcedefinitions"):
            // The storage version is recorded in status.storedVersions; a delete waits for the
            // definition's objects to go (the cleanup finalizer the CRD controller releases).
            s.prepareForCreate = { obj in
                guard var crd = obj as? CRD else { return }
                crd.status = APIExtensionsV1.CustomResourceDefinitionStatus()
                let storage = CustomResourceServing.storageVersion(crd)
                if !storage.isEmpty { crd.status.storedVersions = [storage] }
                obj = crd as! T
            }
            s.admitUpdate = { obj, _ in
                guard var crd = obj as? CRD else { return }
                let storage = CustomResourceServing.storageVersion(crd)
                if !storage.isEmpty && !crd.status.storedVersions.contains(storage) {
                    crd.status.storedVersions.append(storage)
                }
                obj = crd as! T
            }
            s.gracePeriod = { _, _ in 0 }
            // Validation rules must compile.
            s.validate = { obj, old in
                guard let crd = obj as? CRD else { return [] }
                var errs = (old as? CRD).map { crd.validateUpdate(from: $0) } ?? crd.validate()
                for (i, v) in crd.spec.versions.enumerated() {
                    guard let schema = v.schema?.openAPIV3Schema else { continue }
                    let at = FieldPath("spec", "versions").index(i).child("schema", "openAPIV3Schema")
                    let compile = ValidationRules.compileErrors(schema, at: at)
                    errs += compile.isEmpty ? ValidationRules.costErrors(schema, at: at) : compile
                }
                return errs
            }
        case ("batch", "jobs"):
            s.prepareForCreate = { obj in
                guard var job = obj as? BatchV1.Job else { return }
                job.generateSelectorIfNeeded()
                obj = job as! T
            }
        case ("", "pods"):
            s.prepareForCreate = { obj in
                guard var p = obj as? CoreV1.Pod else { return }
                p.status = CoreV1.PodStatus()
                p.status.phase = "Pending"
                p.status.qosClass = p.spec.computedQOSClass
                // Upstream marks a gated pod as not scheduled, and why, from the start.
                if !p.spec.schedulingGates.isEmpty {
                    p.status.conditions = [
                        CoreV1.PodCondition(
                            type: "PodScheduled", status: "False",
                            lastTransitionTime: Time(seconds: Int64(Date().timeIntervalSince1970)),
                            reason: "SchedulingGated",
                            message: "Scheduling is blocked due to non-empty scheduling gates")
                    ]
                }
                obj = p as! T
            }
            s.admitCreate = { [unowned server] obj in
                guard var p = obj as? CoreV1.Pod else { return }
                let classes =
                    server.stores[GroupResource(group: "scheduling.k8s.io", resource: "priorityclasses")]
                    as? ResourceStore<SchedulingV1.PriorityClass>
                try MirrorPodAdmission.admit(p)
                try PriorityAdmission.admit(&p, classes: classes)
                DefaultTolerationSeconds.admit(&p)
                obj = p as! T
            }
            s.gracePeriod = { obj, requested in
                guard let p = obj as? CoreV1.Pod else { return nil }
                if p.spec.nodeName.isEmpty { return nil }
                let g = requested ?? p.spec.terminationGracePeriodSeconds ?? 30
                return g <= 0 ? nil : g
            }
        case ("", "services"):
            let ips = server.serviceIPs
            let ports = server.nodePorts
            s.prepareForCreate = { obj in
                guard var svc = obj as? CoreV1.Service else { return }
                svc.status = CoreV1.ServiceStatus()
                obj = svc as! T
            }
            let claims = ServiceAllocations(server: server)
            s.admitCreate = { obj in
                guard let original = obj as? CoreV1.Service else { return }
                // Pick in memory, then claim in the store; what another API server holds already is
                // marked used here and the pick goes round again (a requested one then fails as taken).
                var resynced = false
                for _ in 0..<16 {
                    var svc = original
                    do {
                        try Services.allocate(&svc, old: nil, ips: ips, ports: ports)
                    } catch  where !resynced {
                        // Refused in memory: what other API servers released is learned only now.
                        resynced = true
                        try await claims.resync()
                        continue
                    }
                    let newPorts = svc.spec.ports.map { Int($0.nodePort) }.filter { $0 > 0 }
                    let takenIPs = try await claims.claimIPs(svc)
                    let takenPorts = takenIPs.isEmpty ? try await claims.updatePorts(newPorts, set: true) : []
                    if takenIPs.isEmpty && takenPorts.isEmpty {
                        obj = svc as! T
                        return
                    }
                    if !takenPorts.isEmpty { for ip in svc.spec.clusterIPs { await claims.releaseIP(ip) } }
                    for ip in svc.spec.clusterIPs where !takenIPs.contains(ip) { ips.release(ip) }
                    for p in newPorts where !takenPorts.contains(p) { ports.release(p) }
                }
                throw APIError.internalError("could not allocate a cluster IP or node port")
            }
            s.admitUpdate = { obj, old in
                guard var svc = obj as? CoreV1.Service, let o = old as? CoreV1.Service else { return }
                try Services.allocate(&svc, old: o, ips: ips, ports: ports)
                obj = svc as! T
            }
            s.afterDelete = { obj in
                guard let svc = obj as? CoreV1.Service else { return }
                for ip in svc.spec.clusterIPs {
                    ips.release(ip)
                    await claims.releaseIP(ip)
                }
                let used = svc.spec.ports.map { Int($0.nodePort) }.filter { $0 > 0 }
                for p in used { ports.release(p) }
                _ = try? await claims.updatePorts(used, set: false)
            }
        default:
            break
        }
        return s
    }
}

enum Services {
    static func invalid(_ name: String, _ errs: ErrorList) -> APIError {
        APIError.invalid(GroupKind(group: "", kind: "Service"), name, errs)
    }

    /// Cluster IP and node port allocation, no duplicates; on update the old allocations are kept.
    static func allocate(_ svc: inout CoreV1.Service, old: CoreV1.Service?, ips: IPAllocator, ports: PortAllocator)
        throws
    {
        let name = svc.metadata.name
        if let old {
            if svc.spec.clusterIP.isEmpty { svc.spec.clusterIP = old.spec.clusterIP }
            if svc.spec.clusterIPs.isEmpty { svc.spec.clusterIPs = old.spec.clusterIPs }
            for i in svc.spec.ports.indices where svc.spec.ports[i].nodePort == 0 {
                if let o = old.spec.ports.first(where: {
                    $0.port == svc.spec.ports[i].port && $0.protocol == svc.spec.ports[i].protocol
                }) {
                    svc.spec.ports[i].nodePort = o.nodePort
                }
            }
            return
        }
        if svc.spec.type == "ExternalName" { return }
        if svc.spec.clusterIP != "None" {
            let wanted = svc.spec.clusterIP.isEmpty ? nil : svc.spec.clusterIP
            if let w = wanted, ips.contains(w) == nil {
                throw invalid(
                    name,
                    [
                        .invalid(
                            FieldPath("spec", "clusterIPs").index(0), w,
                            "failed to allocate IP \(w): the provided IP (\(w)) is not in the valid range. The range of valid IPs is \(IPAllocator.text(ips.base))/\(32 - Int(log2(Double(ips.size))))"
                        )
                    ])
            }
            guard let ip = ips.allocate(wanted) else {
                if let w = wanted {
                    throw invalid(
                        name,
                        [
                            .invalid(
                                FieldPath("spec", "clusterIPs").index(0), w,
                                "failed to allocate IP \(w): provided IP is already allocated")
                        ])
                }
                throw APIError.internalError("failed to allocate a serviceIP: range is full")
            }
            svc.spec.clusterIP = ip
            svc.spec.clusterIPs = [ip]
            if svc.spec.ipFamilies.isEmpty { svc.spec.ipFamilies = ["IPv4"] }
            if svc.spec.ipFamilyPolicy == nil { svc.spec.ipFamilyPolicy = "SingleStack" }
        } else {
            svc.spec.clusterIPs = ["None"]
            if svc.spec.ipFamilies.isEmpty { svc.spec.ipFamilies = ["IPv4"] }
            if svc.spec.ipFamilyPolicy == nil { svc.spec.ipFamilyPolicy = "SingleStack" }
        }
        if svc.spec.type == "NodePort" || svc.spec.type == "LoadBalancer" {
            for i in svc.spec.ports.indices {
                let wanted = svc.spec.ports[i].nodePort == 0 ? nil : Int(svc.spec.ports[i].nodePort)
                guard let p = ports.allocate(wanted) else {
                    for ip in svc.spec.clusterIPs { ips.release(ip) }
                    for j in 0..<i where svc.spec.ports[j].nodePort > 0 {
                        ports.release(Int(svc.spec.ports[j].nodePort))
                    }
                    let w = wanted ?? 0
                    throw invalid(
                        name,
                        [
                            .invalid(
                                FieldPath("spec", "ports").index(i).child("nodePort"), .int(Int64(w)),
                                "provided port is already allocated")
                        ])
                }
                svc.spec.ports[i].nodePort = Int32(p)
            }
        }
    }
}
