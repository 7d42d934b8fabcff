import APIMachinery
import Foundation
import KubernetesAPI
import Synchronization

/// Audit logging (`--audit-policy-file`, `--audit-log-path`): one `audit.k8s.io/v1` Event per
/// stage of each request the policy's first matching rule gives a level other than None, as JSON
/// lines, with the annotations admission added (policy failures, audit annotations).
final class AuditLog: Sendable {
    struct Rule: Sendable {
        var level: String
        var users: [String]
        var userGroups: [String]
        var verbs: [String]
        var resources: [(group: String, resources: [String], resourceNames: [String])]
        var namespaces: [String]
        var nonResourceURLs: [String]
        var omitStages: [String]?
    }

    let rules: [Rule]
    let omitStages: [String]
    private let out: Mutex<FileHandle>

    /// What the router knows about a request when it is answered.
    struct Request {
        var user: UserInfo
        var verb: String
        var uri: String
        var sourceIP: String
        var userAgent: String
        var isResource: Bool
        var group: String
        var version: String
        var resource: String
        var subresource: String
        var namespace: String
        var name: String
        var requestBody: [UInt8]
    }

    init(policyFile: String, logPath: String) throws {
        let text = try String(contentsOfFile: policyFile, encoding: .utf8)
        let policy = try JSONValue.parse(try YAML.toJSON(text))
        func strings(_ v: JSONValue?) -> [String] {
            if case .array(let items)? = v { return items.compactMap(\.stringValue) }
            return []
        }
        guard policy["kind"]?.stringValue == "Policy" else {
            throw APIError.badRequest("audit policy \(policyFile): kind must be Policy")
        }
        omitStages = strings(policy["omitStages"])
        var rules: [Rule] = []
        if case .array(let items)? = policy["rules"] {
            for r in items {
                var resources: [(String, [String], [String])] = []
                if case .array(let rs)? = r["resources"] {
                    for g in rs {
                        resources.append(
                            (g["group"]?.stringValue ?? "", strings(g["resources"]), strings(g["resourceNames"])))
                    }
                }
                let level = r["level"]?.stringValue ?? ""
                guard ["None", "Metadata", "Request", "RequestResponse"].contains(level) else {
                    throw APIError.badRequest("audit policy \(policyFile): unknown level \"\(level)\"")
                }
                rules.append(
                    Rule(
                        level: level, users: strings(r["users"]), userGroups: strings(r["userGroups"]),
                        verbs: strings(r["verbs"]), resources: resources, namespaces: strings(r["namespaces"]),
                        nonResourceURLs: strings(r["nonResourceURLs"]),
                        omitStages: r["omitStages"] == nil ? nil : strings(r["omitStages"])))
            }
        }
        self.rules = rules
        let handle: FileHandle
        if logPath == "-" {
            handle = FileHandle.standardOutput
        } else {
            if !FileManager.default.fileExists(atPath: logPath) {
                FileManager.default.createFile(atPath: logPath, contents: nil, attributes: [.posixPermissions: 0o600])
            }
            guard let h = FileHandle(forWritingAtPath: logPath) else {
                throw APIError.badRequest("cannot open audit log \(logPath)")
            }
            h.seekToEndOfFile()
            handle = h
        }
        out = Mutex(handle)
    }

    /// The first matching rule's level and omitted stages (None when nothing matches).
    func decide(_ r: Request) -> (String, [String]) {
        for rule in rules where matches(rule, r) { return (rule.level, rule.omitStages ?? omitStages) }
        return ("None", omitStages)
    }

    func matches(_ rule: Rule, _ r: Request) -> Bool {
        if !rule.users.isEmpty && !rule.users.contains(r.user.name) { return false }
        if !rule.userGroups.isEmpty && !r.user.groups.contains(where: rule.userGroups.contains) { return false }
        if !rule.verbs.isEmpty && !rule.verbs.contains(r.verb) { return false }
        if !rule.resources.isEmpty || !rule.namespaces.isEmpty {
            guard r.isResource else { return false }
            if !rule.namespaces.isEmpty && !rule.namespaces.contains(r.namespace) { return false }
            if !rule.resources.isEmpty {
                let full = r.subresource.isEmpty ? r.resource : "\(r.resource)/\(r.subresource)"
                let hit = rule.resources.contains { g in
                    guard g.group == r.group else { return false }
                    if !g.resourceNames.isEmpty && !g.resourceNames.contains(r.name) { return false }
                    if g.resources.isEmpty { return true }
                    return g.resources.contains { want in
                        want == full || want == "*" && r.subresource.isEmpty || want == "*/*"
                            || (want.hasPrefix("*/") && want.dropFirst(2) == r.subresource)
                            || (want.hasSuffix("/*") && want.dropLast(2) == r.resource && !r.subresource.isEmpty)
                    }
                }
                if !hit { return false }
            }
        }
        if !rule.nonResourceURLs.isEmpty {
            guard !r.isResource else { return false }
            let path = r.uri.split(separator: "?").first.map(String.init) ?? r.uri
            let hit = rule.nonResourceURLs.contains { u in
                u == "*" || u == path || (u.hasSuffix("*") && path.hasPrefix(String(u.dropLast())))
            }
            if !hit { return false }
        }
        return true
    }

    static func timestamp(_ d: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.string(from: d)
    }

    /// Writes the request's events (RequestReceived, ResponseComplete) as its level says.
    func record(
        _ request: Request, received: Date, code: Int, responseBody: [UInt8]?, annotations: AuditAnnotations
    ) {
        var r = request
        let (level, omit) = decide(r)
        if level == "None" { return }
        if let o = annotations.requestObject {
            if r.name.isEmpty { r.name = o.name }
            if r.namespace.isEmpty { r.namespace = o.namespace }
            r.requestBody = o.json
        }
        let auditID = UUID().uuidString.lowercased()
        var user: [(key: String, value: JSONValue)] = [("username", .string(r.user.name))]
        if !r.user.uid.isEmpty { user.append(("uid", .string(r.user.uid))) }
        user.append(("groups", .array(r.user.groups.map { .string($0) })))
        let name = r.name
        let namespace = r.namespace
        var lines: [UInt8] = []
        for stage in ["RequestReceived", "ResponseComplete"] where !omit.contains(stage) {
            var e: [(key: String, value: JSONValue)] = [
                ("kind", .string("Event")), ("apiVersion", .string("audit.k8s.io/v1")), ("level", .string(level)),
                ("auditID", .string(auditID)), ("stage", .string(stage)), ("requestURI", .string(r.uri)),
                ("verb", .string(r.verb)), ("user", .object(user)), ("sourceIPs", .array([.string(r.sourceIP)])),
            ]
            if !r.userAgent.isEmpty { e.append(("userAgent", .string(r.userAgent))) }
            if r.isResource {
                var ref: [(key: String, value: JSONValue)] = [("resource", .string(r.resource))]
                if !namespace.isEmpty { ref.append(("namespace", .string(namespace))) }
                if !name.isEmpty { ref.append(("name", .string(name))) }
                if !r.group.isEmpty { ref.append(("apiGroup", .string(r.group))) }
                ref.append(("apiVersion", .string(r.version)))
                if !r.subresource.isEmpty { ref.append(("subresource", .string(r.subresource))) }
                e.append(("objectRef", .object(ref)))
            }
            if stage == "ResponseComplete" {
                e.append(("responseStatus", .object([("metadata", .object([])), ("code", .number(String(code)))])))
            }
            if level != "Metadata", !r.requestBody.isEmpty, let body = try? JSONValue.parse(r.requestBody) {
                e.append(("requestObject", body))
            }
            if stage == "ResponseComplete", level == "RequestResponse", let b = responseBody,
                let body = try? JSONValue.parse(b)
            {
                e.append(("responseObject", body))
            }
            e.append(("requestReceivedTimestamp", .string(Self.timestamp(received))))
            e.append(("stageTimestamp", .string(Self.timestamp(stage == "RequestReceived" ? received : Date()))))
            let notes = annotations.all
            if stage == "ResponseComplete" && !notes.isEmpty {
                e.append(("annotations", .object(notes.keys.sorted().map { ($0, .string(notes[$0]!)) })))
            }
            lines += JSONValue.object(e).jsonBytes + [0x0A]
        }
        out.withLock { $0.write(Data(lines)) }
    }
}

/// The audit annotations of the request the current task serves.
final class AuditAnnotations: Sendable {
    @TaskLocal static var current: AuditAnnotations?
    private let values = Mutex<[String: String]>([:])
    /// The request's object as decoded (any wire format): its name and namespace complete the
    /// event's object reference, its JSON is the event's requestObject.
    private let object = Mutex<(namespace: String, name: String, json: [UInt8])?>(nil)

    func add(_ key: String, _ value: String) { values.withLock { $0[key] = value } }
    var all: [String: String] { values.withLock { $0 } }

    func setObject(namespace: String, name: String, json: [UInt8]) { object.withLock { $0 = (namespace, name, json) } }
    var requestObject: (namespace: String, name: String, json: [UInt8])? { object.withLock { $0 } }
}
