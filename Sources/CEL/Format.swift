import Foundation

/// A named validation format (`format.dns1123Label()`): the Kubernetes CEL format library's value;
/// `validate(s)` answers `optional.none()` when valid, else the list of upstream's messages.
public struct NamedFormat: OpaqueValue, Equatable {
    public var typeName: String { "kubernetes.NamedFormat" }
    public var name: String

    static let names: Set<String> = [
        "dns1123Label", "dns1123Subdomain", "dns1035Label", "qualifiedName", "dns1123LabelPrefix",
        "dns1123SubdomainPrefix", "dns1035LabelPrefix", "labelValue", "uri", "uuid", "byte", "date", "datetime",
    ]

    static func matches(_ s: String, _ pattern: String) -> Bool {
        s.range(of: "^(?:\(pattern))$", options: .regularExpression) != nil
    }

    static let label = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
    static let subdomain = "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
    static let label1035 = "[a-z]([-a-z0-9]*[a-z0-9])?"
    static let qualified = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"

    static func maxLength(_ n: Int) -> String { "must be no more than \(n) characters" }

    static let labelMessage =
        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '\(label)')"
    static let subdomainMessage =
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '\(subdomain)')"
    static let label1035Message =
        "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '\(label1035)')"

    /// apimachinery's IsDNS1123Label and friends.
    static func dns1123Label(_ s: String) -> [String] {
        var errs: [String] = []
        if s.count > 63 { errs.append(maxLength(63)) }
        if !matches(s, label) { errs.append(labelMessage) }
        return errs
    }

    static func dns1123Subdomain(_ s: String) -> [String] {
        var errs: [String] = []
        if s.count > 253 { errs.append(maxLength(253)) }
        if !matches(s, subdomain) { errs.append(subdomainMessage) }
        return errs
    }

    static func dns1035Label(_ s: String) -> [String] {
        var errs: [String] = []
        if s.count > 63 { errs.append(maxLength(63)) }
        if !matches(s, label1035) { errs.append(label1035Message) }
        return errs
    }

    static func qualifiedName(_ s: String) -> [String] {
        let qualifiedMessage =
            "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '\(qualified)')"
        let parts = s.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        var errs: [String] = []
        var name = s
        switch parts.count {
        case 1: break
        case 2:
            name = parts[1]
            if parts[0].isEmpty {
                errs.append("prefix part must be non-empty")
            } else {
                errs += dns1123Subdomain(parts[0]).map { "prefix part \($0)" }
            }
        default:
            return [
                "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '\(qualified)') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
            ]
        }
        if name.isEmpty {
            errs.append("name part must be non-empty")
        } else if name.count > 63 {
            errs.append("name part must be no more than 63 characters")
        }
        if !matches(name, qualified) { errs.append(qualifiedMessage) }
        return errs
    }

    static func labelValue(_ s: String) -> [String] {
        var errs: [String] = []
        if s.count > 63 { errs.append(maxLength(63)) }
        if !matches(s, "(\(qualified))?") {
            errs.append(
                "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(\(qualified))?')"
            )
        }
        return errs
    }

    /// The name-prefix forms (for `generateName`) accept a trailing dash: upstream's maskTrailingDash
    /// replaces the last two characters with `a` before validating.
    static func prefix(_ s: String, _ f: (String) -> [String]) -> [String] {
        f(s.count > 1 && s.hasSuffix("-") ? String(s.dropLast(2)) + "a" : s)
    }

    func validate(_ s: String) -> [String] {
        switch name {
        case "dns1123Label": return Self.dns1123Label(s)
        case "dns1123Subdomain": return Self.dns1123Subdomain(s)
        case "dns1035Label": return Self.dns1035Label(s)
        case "qualifiedName": return Self.qualifiedName(s)
        case "dns1123LabelPrefix": return Self.prefix(s, Self.dns1123Label)
        case "dns1123SubdomainPrefix": return Self.prefix(s, Self.dns1123Subdomain)
        case "dns1035LabelPrefix": return Self.prefix(s, Self.dns1035Label)
        case "labelValue": return Self.labelValue(s)
        case "uri": return CELURL(s) == nil ? ["parse \"\(s)\": invalid URI for request"] : []
        case "uuid":
            return Self.matches(s, "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
                ? [] : ["does not match the UUID format"]
        case "byte": return Data(base64Encoded: s) == nil ? ["invalid base64"] : []
        case "date":
            return (try? Time.parseTimestamp(s + "T00:00:00Z")) == nil ? ["invalid date"] : []
        case "datetime": return (try? Time.parseTimestamp(s)) == nil ? ["invalid datetime"] : []
        default: return []
        }
    }

    static func apply(_ name: String, _ v: [Value]) throws(EvalError) -> Value? {
        if name.hasPrefix("format."), v.isEmpty {
            let n = String(name.dropFirst("format.".count))
            if names.contains(n) { return .opaque(NamedFormat(name: n)) }
        }
        if name == "format.named", v.count == 1, case .string(let n) = v[0] {
            return .optional(names.contains(n) ? .opaque(NamedFormat(name: n)) : nil)
        }
        if name == "validate", v.count == 2, case .opaque(let f as NamedFormat) = v[0], case .string(let s) = v[1] {
            let errs = f.validate(s)
            return .optional(errs.isEmpty ? nil : .list(errs.map { .string($0) }))
        }
        return nil
    }
}
