/// A container image reference (`image('registry.k8s.io/pause:3.9')`): the Kubernetes CEL image
/// library's value, parsed as go-containerregistry's `name.ParseReference` does by default (Docker Hub
/// when no registry is named, `library/` for its official images, tag `latest` when neither a tag
/// nor a digest is given).
public struct ImageReference: OpaqueValue, Equatable {
    public var typeName: String { "kubernetes.Image" }
    public var registry: String
    public var repository: String
    /// Empty when the reference names a digest.
    public var tag: String
    public var digest: String

    var identifier: String { digest.isEmpty ? tag : digest }

    public init?(_ s: String) {
        var rest = Substring(s)
        var digest = ""
        if let at = rest.firstIndex(of: "@") {
            digest = String(rest[rest.index(after: at)...])
            rest = rest[..<at]
            guard Self.isDigest(digest) else { return nil }
        }
        var tag = ""
        if let colon = rest.lastIndex(of: ":"), !rest[rest.index(after: colon)...].contains("/") {
            tag = String(rest[rest.index(after: colon)...])
            rest = rest[..<colon]
            guard Self.isTag(tag) else { return nil }
        }
        var parts = rest.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        var registry = "index.docker.io"
        if parts.count > 1, let first = parts.first,
            first.contains(".") || first.contains(":") || first == "localhost"
        {
            registry = first == "docker.io" ? "index.docker.io" : first
            parts.removeFirst()
        }
        guard !parts.isEmpty, parts.allSatisfy(Self.isPathComponent) else { return nil }
        var repository = parts.joined(separator: "/")
        if registry == "index.docker.io" && parts.count == 1 { repository = "library/" + repository }
        guard repository.count <= 255 else { return nil }
        self.registry = registry
        self.repository = repository
        // A digest reference carries no tag; a bare name means `latest`.
        self.tag = digest.isEmpty ? (tag.isEmpty ? "latest" : tag) : ""
        self.digest = digest
    }

    /// Lowercase alphanumerics joined by `.`, `_`, `__` or runs of `-`.
    static func isPathComponent(_ p: String) -> Bool {
        guard let f = p.first, let l = p.last, f.isLowercaseAlnum, l.isLowercaseAlnum else { return false }
        return p.allSatisfy { $0.isLowercaseAlnum || $0 == "." || $0 == "_" || $0 == "-" }
            && !p.contains("..") && !p.contains("___")
    }

    static func isTag(_ t: String) -> Bool {
        guard let f = t.first, t.count <= 128, f.isASCII, f.isLetter || f.isNumber || f == "_" else { return false }
        return t.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "." || $0 == "-") }
    }

    static func isDigest(_ d: String) -> Bool {
        let parts = d.split(separator: ":", maxSplits: 1)
        guard parts.count == 2, parts[0] == "sha256", parts[1].count == 64 else { return false }
        return parts[1].allSatisfy { $0.isHexDigit && !$0.isUppercase }
    }

    static func apply(_ name: String, _ v: [Value]) throws(EvalError) -> Value? {
        switch (name, v.first, v.count) {
        case ("image", .string(let s)?, 1):
            guard let i = ImageReference(s) else { throw EvalError("could not parse reference: \(s)") }
            return .opaque(i)
        case ("isImage", .string(let s)?, 1): return .bool(ImageReference(s) != nil)
        case (_, .opaque(let i as ImageReference)?, 1):
            switch name {
            case "containsDigest": return .bool(!i.digest.isEmpty)
            case "registry": return .string(i.registry)
            case "repository": return .string(i.repository)
            case "tag": return .string(i.tag)
            case "digest": return .string(i.digest)
            case "identifier": return .string(i.identifier)
            default: return nil
            }
        default: return nil
        }
    }
}

extension Character {
    fileprivate var isLowercaseAlnum: Bool { isASCII && (isNumber || (isLetter && isLowercase)) }
}
