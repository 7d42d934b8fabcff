import APIMachinery
import Foundation
import KubernetesAPI

/// Server-side printing (`as=Table`): upstream's columns for the common kinds, computed from the
/// object's JSON; other kinds get Name and Created At.
enum TableBuilder {
    struct Column {
        var name: String
        var type: String
        var format: String
        var priority: Int
        var cell: (JSONValue, _ now: Int64) -> JSONValue
        var description = ""
    }

    static func s(_ v: String) -> JSONValue { .string(v) }
    static func n(_ v: Int) -> JSONValue { .number(String(v)) }

    static func str(_ v: JSONValue?, _ path: String...) -> String {
        var cur = v
        for p in path { cur = cur?[p] }
        if case .number(let x)? = cur { return x }
        if case .bool(let b)? = cur { return b ? "true" : "false" }
        return cur?.stringValue ?? ""
    }

    static func int(_ v: JSONValue?, _ path: String...) -> Int {
        var cur = v
        for p in path { cur = cur?[p] }
        if case .number(let x)? = cur { return Int(x) ?? Int(Double(x) ?? 0) }
        return 0
    }

    static func array(_ v: JSONValue?) -> [JSONValue] {
        if case .array(let a)? = v { return a }
        return []
    }

    static func pairs(_ v: JSONValue?) -> [(key: String, value: JSONValue)] {
        if case .object(let p)? = v { return p }
        return []
    }

    /// Upstream's human-readable duration (`2s`, `5m10s`, `3h`, `4d5h`, `2y10d`).
    static func humanDuration(_ seconds: Int64) -> String {
        if seconds < -1 { return "<invalid>" }
        let s = max(seconds, 0)
        if s < 120 { return "\(s)s" }
        let m = s / 60
        if m < 10 {
            let rs = s % 60
            return rs == 0 ? "\(m)m" : "\(m)m\(rs)s"
        }
        if m < 180 { return "\(m)m" }
        let h = m / 60
        if h < 8 {
            let rm = m % 60
            return rm == 0 ? "\(h)h" : "\(h)h\(rm)m"
        }
        if h < 48 { return "\(h)h" }
        let d = h / 24
        if h < 192 {
            let rh = h % 24
            return rh == 0 ? "\(d)d" : "\(d)d\(rh)h"
        }
        if d < 730 { return "\(d)d" }
        let y = d / 365
        if y < 8 {
            let rd = d % 365
            return rd == 0 ? "\(y)y" : "\(y)y\(rd)d"
        }
        return "\(y)y"
    }

    static func age(_ o: JSONValue, _ now: Int64) -> JSONValue {
        guard let t = Time(rfc3339: str(o, "metadata", "creationTimestamp")) else { return s("<unknown>") }
        return s(humanDuration(now - t.seconds))
    }

    /// What `kubectl get pods` shows of a pod (upstream's pod printer): ready and total containers
    /// (sidecars included), the status word (an init step, a container's waiting or terminated
    /// reason, Terminating, or the phase), restarts and the last restart's time.
    static func podSummary(_ o: JSONValue) -> (
        ready: Int, total: Int, reason: String, restarts: Int, lastRestart: Int64?
    ) {
        let spec = o["spec"]
        let status = o["status"]
        var total = array(spec?["containers"]).count
        var ready = 0
        var restarts = 0
        var sidecarRestarts = 0
        var lastRestart: Int64?
        let phase = str(status, "phase")
        var reason = str(status, "reason").isEmpty ? phase : str(status, "reason")
        for cond in array(status?["conditions"])
        where str(cond, "type") == "PodScheduled" && str(cond, "reason") == "SchedulingGated" {
            reason = "SchedulingGated"
        }
        func noteRestart(_ cs: JSONValue) {
            if let t = Time(rfc3339: str(cs, "lastState", "terminated", "finishedAt")) {
                lastRestart = max(lastRestart ?? t.seconds, t.seconds)
            }
        }
        let initSpecs = array(spec?["initContainers"])
        let sidecars = Set(initSpecs.filter { str($0, "restartPolicy") == "Always" }.map { str($0, "name") })
        total += sidecars.count
        var initializing = false
        let initStatuses = array(status?["initContainerStatuses"])
        for (i, cs) in initStatuses.enumerated() {
            restarts += int(cs, "restartCount")
            noteRestart(cs)
            let isSidecar = sidecars.contains(str(cs, "name"))
            if isSidecar {
                sidecarRestarts += int(cs, "restartCount")
                if cs["started"] == .bool(true) && cs["ready"] == .bool(true) { ready += 1 }
            }
            let terminated = cs["state"]?["terminated"]
            let waiting = cs["state"]?["waiting"]
            if terminated != nil && int(terminated, "exitCode") == 0 { continue }
            if isSidecar && cs["started"] == .bool(true) { continue }
            if let terminated {
                let r = str(terminated, "reason")
                if r.isEmpty {
                    let sig = int(terminated, "signal")
                    reason = sig != 0 ? "Init:Signal:\(sig)" : "Init:ExitCode:\(int(terminated, "exitCode"))"
                } else {
                    reason = "Init:" + r
                }
            } else if let waiting, !str(waiting, "reason").isEmpty, str(waiting, "reason") != "PodInitializing" {
                reason = "Init:" + str(waiting, "reason")
            } else {
                reason = "Init:\(i)/\(initSpecs.count)"
            }
            initializing = true
            break
        }
        let initializedTrue = array(status?["conditions"]).contains {
            str($0, "type") == "Initialized" && str($0, "status") == "True"
        }
        if !initializing || initializedTrue {
            restarts = sidecarRestarts
            var hasRunning = false
            for cs in array(status?["containerStatuses"]).reversed() {
                restarts += int(cs, "restartCount")
                noteRestart(cs)
                let waiting = cs["state"]?["waiting"]
                let terminated = cs["state"]?["terminated"]
                if let waiting, !str(waiting, "reason").isEmpty {
                    reason = str(waiting, "reason")
                } else if let terminated, !str(terminated, "reason").isEmpty {
                    reason = str(terminated, "reason")
                } else if let terminated {
                    let sig = int(terminated, "signal")
                    reason = sig != 0 ? "Signal:\(sig)" : "ExitCode:\(int(terminated, "exitCode"))"
                } else if cs["ready"] == .bool(true) && cs["state"]?["running"] != nil {
                    hasRunning = true
                    ready += 1
                }
            }
            if reason == "Completed" && hasRunning {
                let podReady = array(status?["conditions"]).contains {
                    str($0, "type") == "Ready" && str($0, "status") == "True"
                }
                reason = podReady ? "Running" : "NotReady"
            }
        }
        if o["metadata"]?["deletionTimestamp"] != nil {
            if str(status, "reason") == "NodeLost" {
                reason = "Unknown"
            } else if phase != "Succeeded" && phase != "Failed" {
                reason = "Terminating"
            }
        }
        return (ready, total, reason, restarts, lastRestart)
    }

    static func selectorText(_ v: JSONValue?) -> String {
        guard let v else { return "<none>" }
        let t = Selectors.labelSelectorString(v)
        return t.isEmpty ? "<none>" : t
    }

    static func mapText(_ v: JSONValue?) -> String {
        let p = pairs(v).sorted { $0.key < $1.key }
        if p.isEmpty { return "<none>" }
        return p.map { "\($0.key)=\($0.value.stringValue ?? "")" }.joined(separator: ",")
    }

    static let name = Column(name: "Name", type: "string", format: "name", priority: 0) { o, _ in
        s(str(o, "metadata", "name"))
    }
    static let ageColumn = Column(name: "Age", type: "string", format: "", priority: 0) { o, now in age(o, now) }

    static func columns(_ resource: String) -> [Column] {
        func c(_ n: String, _ p: Int = 0, type: String = "string", _ f: @escaping (JSONValue, Int64) -> JSONValue)
            -> Column
        {
            Column(name: n, type: type, format: "", priority: p, cell: f)
        }
        switch resource {
        case "configmaps":
            return [name, c("Data") { o, _ in n(pairs(o["data"]).count + pairs(o["binaryData"]).count) }, ageColumn]
        case "secrets":
            return [
                name, c("Type") { o, _ in s(str(o, "type")) },
                c("Data") { o, _ in n(pairs(o["data"]).count) }, ageColumn,
            ]
        case "namespaces":
            return [name, c("Status") { o, _ in s(str(o, "status", "phase")) }, ageColumn]
        case "serviceaccounts":
            return [name, ageColumn]
        case "pods":
            return [
                name,
                c("Ready") { o, _ in
                    let p = podSummary(o)
                    return s("\(p.ready)/\(p.total)")
                },
                c("Status") { o, _ in s(podSummary(o).reason) },
                c("Restarts") { o, now in
                    let p = podSummary(o)
                    guard p.restarts != 0, let last = p.lastRestart else { return s(String(p.restarts)) }
                    return s("\(p.restarts) (\(humanDuration(now - last)) ago)")
                },
                ageColumn,
                c("IP", 1) { o, _ in s(str(o, "status", "podIP").isEmpty ? "<none>" : str(o, "status", "podIP")) },
                c("Node", 1) { o, _ in s(str(o, "spec", "nodeName").isEmpty ? "<none>" : str(o, "spec", "nodeName")) },
                c("Nominated Node", 1) { o, _ in
                    s(str(o, "status", "nominatedNodeName").isEmpty ? "<none>" : str(o, "status", "nominatedNodeName"))
                },
                c("Readiness Gates", 1) { o, _ in
                    let g = array(o["spec"]?["readinessGates"])
                    return s(g.isEmpty ? "<none>" : "0/\(g.count)")
                },
            ]
        case "deployments":
            return [
                name,
                c("Ready") { o, _ in s("\(int(o, "status", "readyReplicas"))/\(int(o, "spec", "replicas"))") },
                c("Up-to-date") { o, _ in n(int(o, "status", "updatedReplicas")) },
                c("Available") { o, _ in n(int(o, "status", "availableReplicas")) },
                ageColumn,
            ] + workloadExtras()
        case "replicasets", "replicationcontrollers":
            return [
                name, c("Desired") { o, _ in n(int(o, "spec", "replicas")) },
                c("Current") { o, _ in n(int(o, "status", "replicas")) },
                c("Ready") { o, _ in n(int(o, "status", "readyReplicas")) }, ageColumn,
            ] + workloadExtras()
        case "statefulsets":
            return [
                name, c("Ready") { o, _ in s("\(int(o, "status", "readyReplicas"))/\(int(o, "spec", "replicas"))") },
                ageColumn,
            ] + workloadExtras().dropLast()
        case "daemonsets":
            return [
                name, c("Desired") { o, _ in n(int(o, "status", "desiredNumberScheduled")) },
                c("Current") { o, _ in n(int(o, "status", "currentNumberScheduled")) },
                c("Ready") { o, _ in n(int(o, "status", "numberReady")) },
                c("Up-to-date") { o, _ in n(int(o, "status", "updatedNumberScheduled")) },
                c("Available") { o, _ in n(int(o, "status", "numberAvailable")) },
                c("Node Selector") { o, _ in s(mapText(o["spec"]?["template"]?["spec"]?["nodeSelector"])) }, ageColumn,
            ] + workloadExtras()
        case "services":
            return [
                name, c("Type") { o, _ in s(str(o, "spec", "type")) },
                c("Cluster-IP") { o, _ in
                    s(str(o, "spec", "clusterIP").isEmpty ? "<none>" : str(o, "spec", "clusterIP"))
                },
                c("External-IP") { o, _ in
                    let ext = array(o["spec"]?["externalIPs"]).compactMap(\.stringValue)
                    let lb = array(o["status"]?["loadBalancer"]?["ingress"]).map { str($0, "ip") }
                    let all = ext + lb
                    if str(o, "spec", "type") == "LoadBalancer" && all.isEmpty { return s("<pending>") }
                    return s(all.isEmpty ? "<none>" : all.joined(separator: ","))
                },
                c("Port(s)") { o, _ in
                    let ps = array(o["spec"]?["ports"]).map { p -> String in
                        let np = int(p, "nodePort")
                        let proto = str(p, "protocol").isEmpty ? "TCP" : str(p, "protocol")
                        return np > 0 ? "\(int(p, "port")):\(np)/\(proto)" : "\(int(p, "port"))/\(proto)"
                    }
                    return s(ps.isEmpty ? "<none>" : ps.joined(separator: ","))
                },
                ageColumn, c("Selector", 1) { o, _ in s(mapText(o["spec"]?["selector"])) },
            ]
        case "endpoints":
            return [
                name,
                c("Endpoints") { o, _ in
                    var out: [String] = []
                    for sub in array(o["subsets"]) {
                        for a in array(sub["addresses"]) {
                            for p in array(sub["ports"]) { out.append("\(str(a, "ip")):\(int(p, "port"))") }
                        }
                    }
                    return s(out.isEmpty ? "<none>" : out.joined(separator: ","))
                }, ageColumn,
            ]
        case "endpointslices":
            return [
                name, c("AddressType") { o, _ in s(str(o, "addressType")) },
                c("Ports") { o, _ in
                    let p = array(o["ports"]).map { String(int($0, "port")) }
                    return s(p.isEmpty ? "<unset>" : p.joined(separator: ","))
                },
                c("Endpoints") { o, _ in
                    let a = array(o["endpoints"]).flatMap { array($0["addresses"]).compactMap(\.stringValue) }
                    return s(a.isEmpty ? "<unset>" : a.joined(separator: ","))
                }, ageColumn,
            ]
        case "leases":
            return [
                name,
                c("Holder") { o, _ in
                    s(str(o, "spec", "holderIdentity").isEmpty ? "<none>" : str(o, "spec", "holderIdentity"))
                },
                ageColumn,
            ]
        case "nodes":
            return [
                name,
                c("Status") { o, _ in
                    let ready = array(o["status"]?["conditions"]).first { str($0, "type") == "Ready" }
                    var st = ready.map { str($0, "status") == "True" ? "Ready" : "NotReady" } ?? "Unknown"
                    if o["spec"]?["unschedulable"] == .bool(true) { st += ",SchedulingDisabled" }
                    return s(st)
                },
                c("Roles") { o, _ in
                    let roles = pairs(o["metadata"]?["labels"]).compactMap { p -> String? in
                        p.key.hasPrefix("node-role.kubernetes.io/") ? String(p.key.dropFirst(24)) : nil
                    }
                    return s(roles.isEmpty ? "<none>" : roles.sorted().joined(separator: ","))
                },
                ageColumn, c("Version") { o, _ in s(str(o, "status", "nodeInfo", "kubeletVersion")) },
            ]
        case "jobs":
            return [
                name,
                c("Status") { o, _ in
                    let conds = array(o["status"]?["conditions"]).filter { str($0, "status") == "True" }.map {
                        str($0, "type")
                    }
                    if conds.contains("Complete") { return s("Complete") }
                    if conds.contains("Failed") { return s("Failed") }
                    return s("Running")
                },
                c("Completions") { o, _ in
                    let comp = o["spec"]?["completions"] == nil ? "1" : String(int(o, "spec", "completions"))
                    return s("\(int(o, "status", "succeeded"))/\(comp)")
                },
                c("Duration") { o, now in
                    guard let st = Time(rfc3339: str(o, "status", "startTime")) else { return s("") }
                    let end = Time(rfc3339: str(o, "status", "completionTime"))?.seconds ?? now
                    return s(humanDuration(end - st.seconds))
                }, ageColumn,
            ]
        case "cronjobs":
            return [
                name, c("Schedule") { o, _ in s(str(o, "spec", "schedule")) },
                c("Timezone") { o, _ in s(str(o, "spec", "timeZone").isEmpty ? "<none>" : str(o, "spec", "timeZone")) },
                c("Suspend") { o, _ in s(o["spec"]?["suspend"] == .bool(true) ? "True" : "False") },
                c("Active") { o, _ in n(array(o["status"]?["active"]).count) },
                c("Last Schedule") { o, now in
                    guard let t = Time(rfc3339: str(o, "status", "lastScheduleTime")) else { return s("<none>") }
                    return s(humanDuration(now - t.seconds))
                }, ageColumn,
            ]
        case "horizontalpodautoscalers":
            return [
                name,
                c("Reference") { o, _ in
                    s("\(str(o, "spec", "scaleTargetRef", "kind"))/\(str(o, "spec", "scaleTargetRef", "name"))")
                },
                c("Targets") { o, _ in s(hpaTargets(o)) },
                c("MinPods") { o, _ in
                    o["spec"]?["minReplicas"] == nil ? s("<unset>") : n(int(o, "spec", "minReplicas"))
                },
                c("MaxPods", type: "integer") { o, _ in n(int(o, "spec", "maxReplicas")) },
                c("Replicas", type: "integer") { o, _ in n(int(o, "status", "currentReplicas")) }, ageColumn,
            ]
        case "persistentvolumeclaims":
            return [
                name,
                c("Status") { o, _ in
                    s(o["metadata"]?["deletionTimestamp"] != nil ? "Terminating" : str(o, "status", "phase"))
                },
                c("Volume") { o, _ in s(str(o, "spec", "volumeName")) },
                c("Capacity") { o, _ in
                    s(str(o, "spec", "volumeName").isEmpty ? "" : str(o, "status", "capacity", "storage"))
                },
                c("Access Modes") { o, _ in
                    s(str(o, "spec", "volumeName").isEmpty ? "" : accessModes(o["status"]?["accessModes"]))
                },
                c("StorageClass") { o, _ in s(str(o, "spec", "storageClassName")) },
                c("VolumeAttributesClass") { o, _ in s(orUnset(str(o, "spec", "volumeAttributesClassName"))) },
                ageColumn, c("VolumeMode", 1) { o, _ in s(str(o, "spec", "volumeMode")) },
            ]
        case "persistentvolumes":
            return [
                name, c("Capacity") { o, _ in s(str(o, "spec", "capacity", "storage")) },
                c("Access Modes") { o, _ in s(accessModes(o["spec"]?["accessModes"])) },
                c("Reclaim Policy") { o, _ in s(str(o, "spec", "persistentVolumeReclaimPolicy")) },
                c("Status") { o, _ in
                    s(o["metadata"]?["deletionTimestamp"] != nil ? "Terminating" : str(o, "status", "phase"))
                },
                c("Claim") { o, _ in
                    o["spec"]?["claimRef"] == nil
                        ? s("") : s("\(str(o, "spec", "claimRef", "namespace"))/\(str(o, "spec", "claimRef", "name"))")
                },
                c("StorageClass") { o, _ in s(str(o, "spec", "storageClassName")) },
                c("VolumeAttributesClass") { o, _ in s(orUnset(str(o, "spec", "volumeAttributesClassName"))) },
                c("Reason") { o, _ in s(str(o, "status", "reason")) }, ageColumn,
                c("VolumeMode", 1) { o, _ in s(str(o, "spec", "volumeMode")) },
            ]
        case "poddisruptionbudgets":
            return [
                name,
                c("Min Available") { o, _ in
                    o["spec"]?["minAvailable"] == nil ? s("N/A") : s(str(o, "spec", "minAvailable"))
                },
                c("Max Unavailable") { o, _ in
                    o["spec"]?["maxUnavailable"] == nil ? s("N/A") : s(str(o, "spec", "maxUnavailable"))
                },
                c("Allowed Disruptions", type: "integer") { o, _ in n(int(o, "status", "disruptionsAllowed")) },
                ageColumn,
            ]
        case "resourcequotas":
            return [
                name, ageColumn,
                c("Request") { o, _ in s(quotaColumn(o, limits: false)) },
                c("Limit") { o, _ in s(quotaColumn(o, limits: true)) },
            ]
        case "priorityclasses":
            return [
                name, c("Value", type: "integer") { o, _ in n(int(o, "value")) },
                c("Global-Default", type: "boolean") { o, _ in .bool(o["globalDefault"] == .bool(true)) }, ageColumn,
                c("PreemptionPolicy") { o, _ in s(str(o, "preemptionPolicy")) },
            ]
        case "events":
            return [
                c("Last Seen") { o, now in
                    // Events written through events.k8s.io have only an eventTime (microseconds).
                    let t =
                        Time(rfc3339: str(o, "lastTimestamp"))
                        ?? MicroTime(rfc3339: str(o, "eventTime")).map { Time(seconds: $0.seconds) }
                    return s(t.map { humanDuration(now - $0.seconds) } ?? "<unknown>")
                },
                c("Type") { o, _ in s(str(o, "type")) }, c("Reason") { o, _ in s(str(o, "reason")) },
                c("Object") { o, _ in
                    s("\(str(o, "involvedObject", "kind").lowercased())/\(str(o, "involvedObject", "name"))")
                },
                c("Subobject", 1) { o, _ in s(str(o, "involvedObject", "fieldPath")) },
                c("Source", 1) { o, _ in s(str(o, "source", "component")) },
                c("Message") { o, _ in s(str(o, "message")) },
                c("First Seen", 1) { o, now in
                    s(Time(rfc3339: str(o, "firstTimestamp")).map { humanDuration(now - $0.seconds) } ?? "<unknown>")
                },
                c("Count", 1) { o, _ in s(String(int(o, "count"))) },
                Column(name: "Name", type: "string", format: "name", priority: 1) { o, _ in
                    s(str(o, "metadata", "name"))
                },
            ]
        default:
            return [
                name,
                Column(name: "Created At", type: "date", format: "", priority: 0) { o, _ in
                    s(str(o, "metadata", "creationTimestamp"))
                },
            ]
        }
    }

    static func orUnset(_ v: String) -> String { v.isEmpty ? "<unset>" : v }

    /// Upstream's short access modes, always in the order RWO, ROX, RWX, RWOP.
    static func accessModes(_ v: JSONValue?) -> String {
        let modes = Set(array(v).compactMap(\.stringValue))
        return [
            ("ReadWriteOnce", "RWO"), ("ReadOnlyMany", "ROX"), ("ReadWriteMany", "RWX"), ("ReadWriteOncePod", "RWOP"),
        ].filter { modes.contains($0.0) }.map(\.1).joined(separator: ",")
    }

    /// `name: used/hard` for each limited resource, sorted; `limits.*` in the Limit column.
    static func quotaColumn(_ o: JSONValue, limits: Bool) -> String {
        pairs(o["status"]?["hard"]).map(\.key).sorted().filter { $0.hasPrefix("limits.") == limits }.map { k in
            let used = str(o["status"]?["used"], k)
            return "\(k): \(used.isEmpty ? "0" : used)/\(str(o["status"]?["hard"], k))"
        }.joined(separator: ", ")
    }

    /// The Targets column: `cpu: 40%/50%`, `<unknown>` where the autoscaler has no value yet; at
    /// most two metrics, then `+ N more...`. Reads autoscaling/v2 and v1 shapes.
    static func hpaTargets(_ o: JSONValue) -> String {
        let specs = array(o["spec"]?["metrics"])
        let statuses = array(o["status"]?["currentMetrics"])
        if specs.isEmpty {
            guard o["spec"]?["targetCPUUtilizationPercentage"] != nil else { return "<none>" }
            let cur =
                o["status"]?["currentCPUUtilizationPercentage"] == nil
                ? "<unknown>" : "\(int(o, "status", "currentCPUUtilizationPercentage"))%"
            return "cpu: \(cur)/\(int(o, "spec", "targetCPUUtilizationPercentage"))%"
        }
        var list: [String] = []
        for (i, m) in specs.enumerated() {
            let st = i < statuses.count ? statuses[i] : nil
            let type = str(m, "type")
            let key = type.prefix(1).lowercased() + type.dropFirst()
            let spec = m[key]
            let cur = st?[key]
            switch type {
            case "Resource", "ContainerResource":
                let rname = str(spec, "name")
                if spec?["target"]?["averageValue"] != nil {
                    let c = cur?["current"]?["averageValue"] == nil ? "<unknown>" : str(cur, "current", "averageValue")
                    list.append("\(rname): \(c)/\(str(spec, "target", "averageValue"))")
                } else {
                    let c =
                        cur?["current"]?["averageUtilization"] == nil
                        ? "<unknown>" : "\(int(cur, "current", "averageUtilization"))%"
                    let t =
                        spec?["target"]?["averageUtilization"] == nil
                        ? "<auto>" : "\(int(spec, "target", "averageUtilization"))%"
                    list.append("\(rname): \(c)/\(t)")
                }
            case "Pods":
                let c = cur == nil ? "<unknown>" : str(cur, "current", "averageValue")
                list.append("\(c)/\(str(spec, "target", "averageValue"))")
            case "Object", "External":
                if spec?["target"]?["averageValue"] != nil {
                    let c = cur?["current"]?["averageValue"] == nil ? "<unknown>" : str(cur, "current", "averageValue")
                    list.append("\(c)/\(str(spec, "target", "averageValue")) (avg)")
                } else {
                    let c = cur == nil ? "<unknown>" : str(cur, "current", "value")
                    list.append("\(c)/\(str(spec, "target", "value"))")
                }
            default:
                list.append("<unknown type>")
            }
        }
        if list.count > 2 { return list.prefix(2).joined(separator: ", ") + " + \(list.count - 2) more..." }
        return list.joined(separator: ", ")
    }

    static func workloadExtras() -> [Column] {
        [
            Column(name: "Containers", type: "string", format: "", priority: 1) { o, _ in
                s(array(o["spec"]?["template"]?["spec"]?["containers"]).map { str($0, "name") }.joined(separator: ","))
            },
            Column(name: "Images", type: "string", format: "", priority: 1) { o, _ in
                s(array(o["spec"]?["template"]?["spec"]?["containers"]).map { str($0, "image") }.joined(separator: ","))
            },
            Column(name: "Selector", type: "string", format: "", priority: 1) { o, _ in
                s(selectorText(o["spec"]?["selector"]))
            },
        ]
    }

    /// The Table JSON for `objects`.
    static func table<T: StoredKind>(
        for objects: [T], resource: ResourceDescription, codec: VersionCodec<T>, listMeta: MetaV1.ListMeta,
        includeObject: String?, columns custom: [Column]? = nil
    ) -> [UInt8] {
        let cols = custom ?? columns(resource.resource)
        let now = Int64(Date().timeIntervalSince1970)
        var w = JSONWriter(capacity: 1024)
        w.beginObject()
        w.key("kind")
        w.string("Table")
        w.key("apiVersion")
        w.string("meta.k8s.io/v1")
        w.key("metadata")
        listMeta.encodeJSON(&w)
        w.key("columnDefinitions")
        w.beginArray()
        for c in cols {
            w.beginObject()
            w.key("name")
            w.string(c.name)
            w.key("type")
            w.string(c.type)
            w.key("format")
            w.string(c.format)
            w.key("description")
            w.string(c.description)
            w.key("priority")
            w.int(Int64(c.priority))
            w.endObject()
        }
        w.endArray()
        w.key("rows")
        w.beginArray()
        for o in objects {
            let json = codec.itemJSON(o)
            let v = (try? JSONValue.parse(json)) ?? .null
            w.beginObject()
            w.key("cells")
            w.beginArray()
            for c in cols { c.cell(v, now).encodeJSON(&w) }
            w.endArray()
            switch includeObject ?? "Metadata" {
            case "None": break
            case "Object":
                w.key("object")
                w.rawValue(codec.typed(json))
            default:
                w.key("object")
                MetaV1.PartialObjectMetadata(
                    kind: "PartialObjectMetadata", apiVersion: "meta.k8s.io/v1", metadata: o.metadata
                )
                .encodeJSON(&w)
            }
            w.endObject()
        }
        w.endArray()
        w.endObject()
        return w.bytes
    }
}
