import Foundation

/// A declared type for a variable, with the size bounds an OpenAPI schema gives (`maxLength`,
/// `maxItems`, `maxProperties`): what the checker and the static cost estimator know before evaluation.
public indirect enum CELType: Sendable, Equatable, CustomStringConvertible {
    case dyn
    case null
    case bool
    case int
    case uint
    case double
    case string(maxLength: UInt64? = nil)
    case bytes(maxLength: UInt64? = nil)
    case list(CELType, maxItems: UInt64? = nil)
    case map(key: CELType, value: CELType, maxProperties: UInt64? = nil)
    /// A message or schema object with known fields (`self` of a CRD schema, `Object.spec`).
    case object(name: String, fields: [String: CELType])
    case timestamp
    case duration
    case optional(CELType)
    /// A library type (`kubernetes.Quantity`, `net.IP`, …) or `type`.
    case opaque(String)

    public static let string = CELType.string(maxLength: nil)
    public static let bytes = CELType.bytes(maxLength: nil)

    /// The type's name as cel-go's checker prints it in overload errors.
    public var description: String {
        switch self {
        case .dyn: return "dyn"
        case .null: return "null_type"
        case .bool: return "bool"
        case .int: return "int"
        case .uint: return "uint"
        case .double: return "double"
        case .string: return "string"
        case .bytes: return "bytes"
        case .list(let e, _): return "list(\(e))"
        case .map(let k, let v, _): return "map(\(k), \(v))"
        case .object(let name, _): return name
        case .timestamp: return "google.protobuf.Timestamp"
        case .duration: return "google.protobuf.Duration"
        case .optional(let t): return "optional_type(\(t))"
        case .opaque(let n): return n
        }
    }

    /// The kind, without parameters or bounds (for overload matching).
    var kind: String {
        switch self {
        case .list: return "list"
        case .map: return "map"
        case .string: return "string"
        case .bytes: return "bytes"
        case .optional: return "optional_type"
        default: return description
        }
    }

    var isDyn: Bool { if case .dyn = self { return true } else { return false } }
}

/// Kubernetes' CEL limits (k8s.io/apiserver/pkg/apis/cel/config.go and the CRD validation limits).
public enum Limits {
    /// The runtime cost limit of one expression evaluation.
    public static let perCallLimit: UInt64 = 1_000_000
    /// The runtime cost budget of all CRD validation rules for one object.
    public static let runtimeCELCostBudget: UInt64 = 10_000_000
    /// The static (estimated) cost limit of one CRD validation rule.
    public static let staticEstimatedCostLimit: UInt64 = 10_000_000
    /// The static (estimated) cost limit of all rules of one CRD.
    public static let staticEstimatedCRDCostLimit: UInt64 = 100_000_000
    /// The request size bound from which unbounded strings, lists and maps are sized.
    public static let maxRequestSizeBytes: UInt64 = 3 * 1024 * 1024

    /// apiextensions' cost message: `costName` is `estimated rule cost`, `estimated messageExpression cost`
    /// or `x-kubernetes-validations estimated rule cost total for entire OpenAPIv3 schema`.
    public static func costExceedsBudget(_ costName: String, cost: UInt64, limit: UInt64) -> String {
        let exceed = Double(cost) / Double(limit)
        let factor: String
        if exceed > 100 {
            factor = "more than 100x"
        } else if exceed < 1.5 {
            factor = String(format: "%fx", exceed)
        } else {
            factor = String(format: "%.1fx", exceed)
        }
        return
            "\(costName) exceeds budget by factor of \(factor) (try simplifying the rule, or adding maxItems, maxProperties, and maxLength where arrays, maps, and strings are declared)"
    }

    /// The per-rule message when a rule pushes the schema's total estimated cost past its limit.
    public static let crdCostTotalExceeded =
        "contributed to estimated rule cost total exceeding cost limit for entire OpenAPIv3 schema"

    /// The runtime message when an object's validation rules exhaust `runtimeCELCostBudget`.
    public static let runtimeBudgetExhausted =
        "validation failed due to running out of cost budget, no further validation rules will be run"
}
