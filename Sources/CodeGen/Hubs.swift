/// Hub (internal) types and conversions, the star: every served version of a kind converts to and
/// from its hub, never to another version. The hub is a typealias of the storage version when all
/// versions share a shape; otherwise a distinct struct (a clone of the storage version's shape) with
/// hand-written conversions for the types that differ.
struct HubPlanner {
    var models: [TypeModel]
    var byProto: [String: TypeModel] = [:]
    /// Hand-written conversions found in sources (qualified names with `toHub()`).
    var handWritten: Set<String>

    init(models: [TypeModel], handWritten: Set<String>) {
        self.models = models
        self.handWritten = handWritten
        for m in models { byProto[m.protoName] = m }
    }

    /// The hub namespace of a package's group: `Apps`, `Core`, `Resource`.
    static func hubNamespace(_ p: APIPackage) -> String {
        let ns = p.namespace
        var i = ns.endIndex
        // strip the version suffix (V1, V1beta2, V2alpha1)
        while i > ns.startIndex {
            let j = ns.index(before: i)
            if ns[j] == "V" && ns[i...].first?.isNumber == true { return String(ns[..<j]) }
            i = j
        }
        return ns
    }

    /// A version's priority: GA > beta > alpha, then higher numbers.
    static func higher(_ a: String, _ b: String) -> Bool {
        func parse(_ v: String) -> (Int, Int, Int) {
            let rest = v.dropFirst()
            let major = Int(rest.prefix { $0.isNumber }) ?? 0
            let tail = rest.drop { $0.isNumber }
            if tail.hasPrefix("beta") { return (1, major, Int(tail.dropFirst(4)) ?? 0) }
            if tail.hasPrefix("alpha") { return (0, major, Int(tail.dropFirst(5)) ?? 0) }
            return (2, major, 0)
        }
        return parse(a) > parse(b)
    }

    /// Group-local message types reachable from a type (including itself).
    func closure(_ root: TypeModel) -> [TypeModel] {
        var seen: Set<String> = []
        var out: [TypeModel] = []
        var stack = [root]
        while let t = stack.popLast() {
            guard seen.insert(t.protoName).inserted else { continue }
            out.append(t)
            for f in t.fields {
                if case .message(let m) = f.element, let sub = byProto[m], sub.package.proto == root.package.proto {
                    stack.append(sub)
                }
            }
        }
        return out.sorted { $0.name < $1.name }
    }

    /// Whether two types (in different versions) have the same shape, field by field.
    func sameShape(_ a: TypeModel, _ b: TypeModel) -> Bool {
        guard a.fields.count == b.fields.count, a.hasTypeMeta == b.hasTypeMeta else { return false }
        for (x, y) in zip(a.fields, b.fields) {
            guard x.swiftName == y.swiftName, x.container == y.container, x.pointer == y.pointer, x.inline == y.inline
            else { return false }
            switch (x.element, y.element) {
            case (.message(let mx), .message(let my)):
                let px = packageOf(mx), py = packageOf(my)
                if px == a.package.proto && py == b.package.proto {
                    if mx.split(separator: ".").last != my.split(separator: ".").last { return false }
                } else if mx != my {
                    return false
                }
            default:
                if x.element != y.element { return false }
            }
        }
        return true
    }

    struct Plan {
        /// Hub namespace → (type name → hub type expression): typealias targets or real hub names.
        var aliases: [String: [String: String]] = [:]
        /// Real hub structs to emit: hub namespace → models cloned from the storage version.
        var realHubs: [String: [TypeModel]] = [:]
        /// Conversions to emit: (version type, hub qualified name).
        var conversions: [(TypeModel, String)] = []
        /// Types whose conversion must be hand-written (reported for documentation).
        var handWrittenNeeded: [String] = []
        /// Module of each hub namespace.
        var modules: [String: String] = [:]
        /// Version types that are their own hub (typealias targets): converted by copying.
        var identity: Set<String> = []
    }

    func plan() -> Plan {
        var plan = Plan()
        // Served kinds: types with an OpenAPI GVK of their own package; group them by hub namespace.
        var roots: [String: [TypeModel]] = [:]
        for m in models where m.package.module != "APIMachinery" {
            guard m.gvks.contains(where: { $0.version == m.package.version && $0.group == m.package.group }),
                !m.name.hasSuffix("List")
            else { continue }
            let hubNS = Self.hubNamespace(m.package)
            roots[hubNS, default: []].append(m)
            plan.modules[hubNS] = m.package.module
        }
        for (hubNS, kinds) in roots.sorted(by: { $0.key < $1.key }) {
            // Every type reachable from a served kind, per version.
            var byVersion: [String: [String: TypeModel]] = [:]
            for k in kinds {
                for t in closure(k) { byVersion[t.package.version, default: [:]][t.name] = t }
            }
            let versions = byVersion.keys.sorted(by: Self.higher)
            var hubVersion: [String: String] = [:]
            for v in versions.reversed() {
                for name in byVersion[v]!.keys { hubVersion[name] = v }
            }
            func hubModel(_ name: String) -> TypeModel { byVersion[hubVersion[name]!]![name]! }
            func localRefs(_ t: TypeModel) -> [String] {
                t.fields.compactMap { f in
                    if case .message(let m) = f.element, packageOf(m) == t.package.proto, byProto[m] != nil {
                        return String(m.split(separator: ".").last!)
                    }
                    return nil
                }
            }
            // A type needs a real hub when its versions differ in shape, or when it refers to a type
            // whose hub is real or lives in another version.
            var real: Set<String> = []
            for (name, _) in hubVersion {
                let h = hubModel(name)
                for v in versions where v != hubVersion[name] {
                    if let t = byVersion[v]![name], !sameShape(t, h) { real.insert(name) }
                }
            }
            var changed = true
            while changed {
                changed = false
                for (name, hv) in hubVersion where !real.contains(name) {
                    if localRefs(hubModel(name)).contains(where: { real.contains($0) || hubVersion[$0] != hv }) {
                        real.insert(name)
                        changed = true
                    }
                }
            }
            for name in hubVersion.keys.sorted() {
                let h = hubModel(name)
                plan.aliases[hubNS, default: [:]][name] = real.contains(name) ? "\(hubNS).\(name)" : h.qualifiedName
                if !real.contains(name) { plan.identity.insert(h.qualifiedName) }
                if real.contains(name) { plan.realHubs[hubNS, default: []].append(h) }
            }
            for v in versions {
                for (name, t) in byVersion[v]!.sorted(by: { $0.key < $1.key }) {
                    if !real.contains(name) && hubVersion[name] == v { continue }  // the hub itself
                    if handWritten.contains(t.qualifiedName) { continue }
                    if sameShape(t, hubModel(name)) {
                        plan.conversions.append((t, plan.aliases[hubNS]![name]!))
                    } else {
                        plan.handWrittenNeeded.append(t.qualifiedName)
                    }
                }
            }
        }
        return plan
    }
}

extension Emitter {
    /// The hub namespace file of one group: typealiases and real hub structs.
    func emitHubNamespace(_ ns: String, module: String, plan: HubPlanner.Plan) -> String {
        var o = "// Code generated by k8swift-codegen. DO NOT EDIT.\n\n"
        o += "import APIMachinery\n"
        var imports: Set<String> = []
        for t in plan.realHubs[ns] ?? [] {
            for f in t.fields {
                if case .message(let m) = f.element {
                    let mod = self.module(ofMessage: m)
                    if mod != module && mod != "APIMachinery" { imports.insert(mod) }
                }
            }
        }
        for i in imports.sorted() { o += "import \(i)\n" }
        o += "\n/// Hub (internal) names of \(ns) kinds: server code names kinds by group, never by version.\n"
        o += "public enum \(ns) {\n"
        let real = Set((plan.realHubs[ns] ?? []).map(\.name))
        for (name, target) in (plan.aliases[ns] ?? [:]).sorted(by: { $0.key < $1.key }) where !real.contains(name) {
            o += "    public typealias \(name) = \(target)\n"
        }
        o += "}\n"
        // Kinds that are their own hub convert by identity.
        for (_, target) in (plan.aliases[ns] ?? [:]).sorted(by: { $0.key < $1.key })
        where plan.identity.contains(target) {
            guard let m = models.first(where: { $0.qualifiedName == target }), homeGVK(m) != nil else { continue }
            o += "\nextension \(target): HubConvertible {\n"
            o += "    public func toHub() -> \(target) { self }\n"
            o += "    public init(hub: \(target)) { self = hub }\n"
            o += "}\n"
        }
        for t in (plan.realHubs[ns] ?? []).sorted(by: { $0.name < $1.name }) {
            var hub = t
            hub.package.namespace = ns
            o += "\n" + emitStruct(hub, hubNamespace: ns, versionNamespace: t.package.namespace)
        }
        return o
    }

    /// Field-by-field conversions of one version namespace to and from its hub.
    func emitConversions(_ list: [(TypeModel, String)], namespace: String, identity: Set<String>) -> String {
        var o = "// Code generated by k8swift-codegen. DO NOT EDIT.\n\nimport APIMachinery\n"
        var imports: Set<String> = []
        for (t, _) in list {
            for f in t.fields {
                if case .message(let m) = f.element {
                    let mod = module(ofMessage: m)
                    if mod != t.package.module && mod != "APIMachinery" { imports.insert(mod) }
                }
            }
        }
        for i in imports.sorted() { o += "import \(i)\n" }
        for (t, hub) in list.sorted(by: { $0.0.name < $1.0.name }) {
            o += "\nextension \(t.qualifiedName): HubConvertible {\n"
            o += "    /// Converts to the hub type.\n"
            o += "    public func toHub() -> \(hub) {\n"
            o += "        var o = \(hub)()\n"
            if t.hasTypeMeta { o += "        o.kind = kind\n        o.apiVersion = apiVersion\n" }
            for f in t.fields {
                o += "        o.\(f.swiftName) = \(convert("self.\(f.swiftName)", f, t, toHub: true, identity))\n"
            }
            o += "        return o\n    }\n\n"
            o += "    /// Converts from the hub type.\n"
            o += "    public init(hub h: \(hub)) {\n"
            o += "        self.init()\n"
            if t.hasTypeMeta { o += "        self.kind = h.kind\n        self.apiVersion = h.apiVersion\n" }
            for f in t.fields {
                o += "        self.\(f.swiftName) = \(convert("h.\(f.swiftName)", f, t, toHub: false, identity))\n"
            }
            o += "    }\n}\n"
        }
        return o
    }

    /// The expression converting one field value.
    func convert(_ v: String, _ f: FieldModel, _ t: TypeModel, toHub: Bool, _ identity: Set<String>) -> String {
        guard case .message(let m) = f.element, packageOf(m) == t.package.proto, byProto[m] != nil else { return v }
        let typeName = swiftName(ofMessage: m)
        if identity.contains(typeName) { return v }
        let one = toHub ? "$0.toHub()" : "\(typeName)(hub: $0)"
        switch f.container {
        case .array: return "\(v).map { \(one) }"
        case .map: return "\(v).mapValues { \(one) }"
        case .single:
            if f.pointer || f.indirect { return "\(v).map { \(one) }" }
            return toHub ? "\(v).toHub()" : "\(typeName)(hub: \(v))"
        }
    }
}
