import Foundation

/// A Kubernetes resource quantity (`quantity('1.5Gi')`), exact as a decimal; the Kubernetes CEL
/// quantity library's value.
public struct Quantity: OpaqueValue, Equatable {
    public var typeName: String { "kubernetes.Quantity" }
    /// The amount in base units (bytes, cores, …).
    public var value: Decimal

    public init(value: Decimal) { self.value = value }

    /// Parses upstream's grammar: a signed decimal number, then a binary-SI suffix (`Ki`…`Ei`), a
    /// decimal-SI suffix (`n u m k M G T P E`) or a decimal exponent (`e3`, `E-2`).
    public init?(_ text: String) {
        let chars = Array(text)
        var i = 0
        var sign: Decimal = 1
        if i < chars.count, chars[i] == "+" || chars[i] == "-" {
            if chars[i] == "-" { sign = -1 }
            i += 1
        }
        var number = ""
        var sawDigit = false
        var sawDot = false
        while i < chars.count, chars[i].isASCII, chars[i].isNumber || (chars[i] == "." && !sawDot) {
            if chars[i] == "." { sawDot = true } else { sawDigit = true }
            number.append(chars[i])
            i += 1
        }
        guard sawDigit, let n = Decimal(string: number, locale: Locale(identifier: "en_US_POSIX")) else { return nil }
        let suffix = String(chars[i...])
        let multiplier: Decimal
        switch suffix {
        case "": multiplier = 1
        case "Ki": multiplier = Decimal(1024)
        case "Mi": multiplier = Self.power(1024, 2)
        case "Gi": multiplier = Self.power(1024, 3)
        case "Ti": multiplier = Self.power(1024, 4)
        case "Pi": multiplier = Self.power(1024, 5)
        case "Ei": multiplier = Self.power(1024, 6)
        case "n": multiplier = Decimal(sign: .plus, exponent: -9, significand: 1)
        case "u": multiplier = Decimal(sign: .plus, exponent: -6, significand: 1)
        case "m": multiplier = Decimal(sign: .plus, exponent: -3, significand: 1)
        case "k": multiplier = Decimal(sign: .plus, exponent: 3, significand: 1)
        case "M": multiplier = Decimal(sign: .plus, exponent: 6, significand: 1)
        case "G": multiplier = Decimal(sign: .plus, exponent: 9, significand: 1)
        case "T": multiplier = Decimal(sign: .plus, exponent: 12, significand: 1)
        case "P": multiplier = Decimal(sign: .plus, exponent: 15, significand: 1)
        case "E": multiplier = Decimal(sign: .plus, exponent: 18, significand: 1)
        default:
            guard let e = suffix.first, e == "e" || e == "E", suffix.count > 1 else { return nil }
            let digits = suffix.dropFirst()
            let body = digits.first == "+" || digits.first == "-" ? digits.dropFirst() : digits
            guard !body.isEmpty, body.allSatisfy({ $0.isASCII && $0.isNumber }), let exp = Int(digits),
                abs(exp) < 100
            else { return nil }
            multiplier = Decimal(sign: .plus, exponent: exp, significand: 1)
        }
        value = sign * n * multiplier
    }

    static func power(_ b: Int, _ n: Int) -> Decimal {
        var r: Decimal = 1
        for _ in 0..<n { r *= Decimal(b) }
        return r
    }

    var isInteger: Bool {
        var v = value
        var r = Decimal()
        NSDecimalRound(&r, &v, 0, .plain)
        return r == value
    }

    var asInteger: Int64? {
        guard isInteger, value <= Decimal(Int64.max), value >= Decimal(Int64.min) else { return nil }
        return Int64(exactly: (value as NSDecimalNumber).int64Value).flatMap {
            Decimal($0) == value ? $0 : nil
        }
    }

    var sign: Int64 { value > 0 ? 1 : value < 0 ? -1 : 0 }

    static func apply(_ name: String, _ v: [Value]) throws(EvalError) -> Value? {
        switch (name, v.first, v.count) {
        case ("quantity", .string(let s)?, 1):
            guard let q = Quantity(s) else {
                throw EvalError(
                    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")
            }
            return .opaque(q)
        case ("isQuantity", .string(let s)?, 1): return .bool(Quantity(s) != nil)
        default: break
        }
        guard case .opaque(let o)? = v.first, let q = o as? Quantity else { return nil }
        func other() throws(EvalError) -> Decimal {
            switch v[1] {
            case .opaque(let p as Quantity): return p.value
            case .int(let i): return Decimal(i)
            default: throw Functions.overload(name, v)
            }
        }
        switch (name, v.count) {
        case ("sign", 1): return .int(q.sign)
        case ("isInteger", 1): return .bool(q.asInteger != nil)
        case ("asInteger", 1):
            guard let i = q.asInteger else { throw EvalError("cannot convert value to integer") }
            return .int(i)
        case ("asApproximateFloat", 1): return .double((q.value as NSDecimalNumber).doubleValue)
        case ("add", 2): return .opaque(Quantity(value: q.value + (try other())))
        case ("sub", 2): return .opaque(Quantity(value: q.value - (try other())))
        case ("isLessThan", 2): return .bool(q.value < (try other()))
        case ("isGreaterThan", 2): return .bool(q.value > (try other()))
        case ("compareTo", 2):
            let o = try other()
            return .int(q.value < o ? -1 : q.value > o ? 1 : 0)
        default: return nil
        }
    }
}
