import Foundation

/// Runs the whole generation: reads the spec and facts, writes every generated file under
/// `Sources/<Module>/<Namespace>/Generated/`, removing stale ones.
public struct Generator {
    public var specDir: URL
    public var factsDir: URL
    public var sourcesDir: URL
    /// When set, only packages whose module is listed are written.
    public var onlyModules: Set<String>?

    public init(specDir: URL, factsDir: URL, sourcesDir: URL, onlyModules: Set<String>? = nil) {
        self.specDir = specDir
        self.factsDir = factsDir
        self.sourcesDir = sourcesDir
        self.onlyModules = onlyModules
    }

    public struct Result {
        public var files: Int
        public var warnings: [String]
        public var moduleDeps: [String: [String]]
    }

    /// Finds hand-written members (`setDefaults()` hooks, `toHub()` conversions): the types of
    /// `extension NS.Type { … <signature> … }` blocks in non-generated sources.
    func scanHandWritten(_ signature: String) throws -> Set<String> {
        var hooks: Set<String> = []
        let fm = FileManager.default
        guard let e = fm.enumerator(atPath: sourcesDir.path) else { return [] }
        while let rel = e.nextObject() as? String {
            guard rel.hasSuffix(".swift"), !rel.contains("/Generated/") else { continue }
            let text = try String(contentsOf: sourcesDir.appendingPathComponent(rel), encoding: .utf8)
            var current: String? = nil
            for line in text.split(separator: "\n") {
                let t = line.trimmingCharacters(in: .whitespaces)
                if t.hasPrefix("extension ") {
                    let name = t.dropFirst("extension ".count).prefix { $0 != " " && $0 != ":" && $0 != "{" }
                    current = String(name)
                } else if t.contains(signature), let c = current {
                    hooks.insert(c)
                }
            }
        }
        return hooks
    }

    public func run() throws -> Result {
        let inputs = try Inputs.load(specDir: specDir, factsDir: factsDir)
        var builder = ModelBuilder(inputs: inputs)
        let models = builder.build()
        var emitter = Emitter(models: models, hooks: try scanHandWritten("func setDefaults()"))
        let gateFacts = try FeatureGateFacts.load(factsDir.deletingLastPathComponent())
        emitter.computeGated(gateFacts)
        var files: [String: String] = [:]
        for m in models {
            if let only = onlyModules, !only.contains(m.package.module) { continue }
            let dir = "\(m.package.module)/\(m.package.namespace)/Generated"
            files["\(dir)/\(m.package.namespace).\(m.name).swift"] = emitter.emit(m)
        }
        for p in builder.packages {
            if let only = onlyModules, !only.contains(p.module) { continue }
            let kinds = models.filter { $0.package.proto == p.proto }
            files["\(p.module)/\(p.namespace)/Generated/\(p.namespace).swift"] = emitter.emitNamespace(p, kinds: kinds)
        }
        if onlyModules?.contains("APIMachinery") ?? true {
            files["APIMachinery/FeatureGates/Generated/FeatureGates+Known.swift"] = gateFacts.emitKnown()
        }
        // Hubs and conversions.
        let hubPlan = HubPlanner(models: models, handWritten: try scanHandWritten("func toHub()")).plan()
        for (ns, module) in hubPlan.modules where onlyModules?.contains(module) ?? true {
            files["\(module)/\(ns)/Generated/\(ns).swift"] = emitter.emitHubNamespace(ns, module: module, plan: hubPlan)
        }
        var byNamespace: [String: [(TypeModel, String)]] = [:]
        for c in hubPlan.conversions {
            byNamespace["\(c.0.package.module)/\(c.0.package.namespace)", default: []].append(c)
        }
        for (key, list) in byNamespace where onlyModules?.contains(list[0].0.package.module) ?? true {
            let ns = list[0].0.package.namespace
            files["\(key)/Generated/\(ns)+Conversion.swift"] = emitter.emitConversions(
                list, namespace: ns, identity: hubPlan.identity)
        }
        if onlyModules == nil {
            files["KubernetesAPI/Generated/KubernetesAPI+Namespaces.swift"] = emitter.emitRegistry(builder.packages)
            files["KubernetesAPI/Generated/KubernetesAPI+PatchFacts.swift"] = PatchFacts.emit(models)
            files.merge(try OpenAPIFacts.emit(specDir: specDir)) { a, _ in a }
            files["KubernetesAPI/Generated/KubernetesAPI+Resources.swift"] = ResourceFacts.emit(
                try ResourceFacts.load(specDir: specDir))
        }
        // Remove stale generated files, then write.
        let fm = FileManager.default
        let generatedDirs = Set(files.keys.map { ($0 as NSString).deletingLastPathComponent })
        for d in generatedDirs {
            let url = sourcesDir.appendingPathComponent(d)
            if let existing = try? fm.contentsOfDirectory(atPath: url.path) {
                for f in existing where f.hasSuffix(".swift") && files["\(d)/\(f)"] == nil {
                    try fm.removeItem(at: url.appendingPathComponent(f))
                }
            }
            try fm.createDirectory(at: url, withIntermediateDirectories: true)
        }
        var written = 0
        for (path, text) in files {
            let url = sourcesDir.appendingPathComponent(path)
            let data = Data(text.utf8)
            if (try? Data(contentsOf: url)) != data {
                try data.write(to: url)
            }
            written += 1
        }
        return Result(
            files: written,
            warnings: builder.warnings + hubPlan.handWrittenNeeded.map { "hand-written conversion needed: \($0)" },
            moduleDeps: emitter.moduleDeps.mapValues { $0.sorted() })
    }
}
