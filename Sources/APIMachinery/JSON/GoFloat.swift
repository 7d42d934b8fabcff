/// Formats a Double exactly like Go's encoding/json does for float64: the shortest digits that
/// round-trip, in plain notation unless the magnitude is below 1e-6 or at least 1e21, where
/// exponent notation is used with a minimal exponent (`1e-7`, `1e+21`).
enum GoFloat {
    static func format(_ v: Double) -> String {
        if v == 0 { return v.sign == .minus ? "-0" : "0" }
        let (digits, exp10) = shortestDigits(abs(v))  // value = 0.digits × 10^exp10
        let neg = v < 0 ? "-" : ""
        let a = abs(v)
        if a < 1e-6 || a >= 1e21 {
            var s = neg + String(digits.first!)
            if digits.count > 1 { s += "." + digits.dropFirst() }
            let e = exp10 - 1
            s += e < 0 ? "e-" : "e+"
            let ae = abs(e)
            s += ae < 10 && e >= 0 ? "0\(ae)" : "\(ae)"
            return s
        }
        if exp10 <= 0 {
            return neg + "0." + String(repeating: "0", count: -exp10) + digits
        }
        if exp10 >= digits.count {
            return neg + digits + String(repeating: "0", count: exp10 - digits.count)
        }
        let i = digits.index(digits.startIndex, offsetBy: exp10)
        return neg + digits[..<i] + "." + digits[i...]
    }

    /// Go's `strconv.FormatFloat(v, 'g', -1, 64)`: exponent form when the exponent is below -4 or at
    /// least 6 (e.g. `1e+06`), plain otherwise.
    static func formatG(_ v: Double) -> String {
        if v == 0 { return "0" }
        let (digits, exp10) = shortestDigits(abs(v))
        let neg = v < 0 ? "-" : ""
        let exp = exp10 - 1
        if exp < -4 || exp >= 6 {
            var s = neg + String(digits.first!)
            if digits.count > 1 { s += "." + digits.dropFirst() }
            s += exp < 0 ? "e-" : "e+"
            s += abs(exp) < 10 ? "0\(abs(exp))" : "\(abs(exp))"
            return s
        }
        if exp10 <= 0 { return neg + "0." + String(repeating: "0", count: -exp10) + digits }
        if exp10 >= digits.count { return neg + digits + String(repeating: "0", count: exp10 - digits.count) }
        let i = digits.index(digits.startIndex, offsetBy: exp10)
        return neg + digits[..<i] + "." + digits[i...]
    }

    /// Shortest round-trip decimal digits of a positive finite double, via Swift's own printer.
    static func shortestDigits(_ v: Double) -> (String, Int) {
        let text = "\(v)"
        var mantissa = Substring(text)
        var exp = 0
        if let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            exp = Int(text[text.index(after: e)...])!
            mantissa = text[..<e]
        }
        var intPart = mantissa
        var frac: Substring = ""
        if let dot = mantissa.firstIndex(of: ".") {
            intPart = mantissa[..<dot]
            frac = mantissa[mantissa.index(after: dot)...]
        }
        var digits = String(intPart) + frac
        var pointPos = intPart.count + exp
        while digits.hasPrefix("0") {
            digits.removeFirst()
            pointPos -= 1
        }
        while digits.hasSuffix("0") { digits.removeLast() }
        if digits.isEmpty { return ("0", 1) }
        return (digits, pointPos)
    }
}

/// Standard base64 with padding (Go's `encoding/base64.StdEncoding`, used for `[]byte` in JSON).
public enum Base64 {
    static let alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    static let reverse: [UInt8] = {
        var t = [UInt8](repeating: 0xFF, count: 256)
        for (i, c) in alphabet.enumerated() { t[Int(c)] = UInt8(i) }
        return t
    }()

    public static func encode(_ input: [UInt8], into out: inout [UInt8]) {
        out.reserveCapacity(out.count + (input.count + 2) / 3 * 4)
        var i = 0
        let n = input.count
        while i + 3 <= n {
            let v = UInt32(input[i]) << 16 | UInt32(input[i + 1]) << 8 | UInt32(input[i + 2])
            out.append(alphabet[Int(v >> 18 & 63)])
            out.append(alphabet[Int(v >> 12 & 63)])
            out.append(alphabet[Int(v >> 6 & 63)])
            out.append(alphabet[Int(v & 63)])
            i += 3
        }
        let rem = n - i
        if rem == 1 {
            let v = UInt32(input[i]) << 16
            out.append(alphabet[Int(v >> 18 & 63)])
            out.append(alphabet[Int(v >> 12 & 63)])
            out.append(UInt8(ascii: "="))
            out.append(UInt8(ascii: "="))
        } else if rem == 2 {
            let v = UInt32(input[i]) << 16 | UInt32(input[i + 1]) << 8
            out.append(alphabet[Int(v >> 18 & 63)])
            out.append(alphabet[Int(v >> 12 & 63)])
            out.append(alphabet[Int(v >> 6 & 63)])
            out.append(UInt8(ascii: "="))
        }
    }

    public static func encode(_ input: [UInt8]) -> String {
        var out: [UInt8] = []
        encode(input, into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes padded standard base64; Go also ignores `\r` and `\n`. Returns nil when malformed.
    public static func decode(_ input: [UInt8]) -> [UInt8]? {
        var clean: [UInt8] = []
        clean.reserveCapacity(input.count)
        for c in input where c != 0x0A && c != 0x0D { clean.append(c) }
        if clean.count % 4 != 0 { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(clean.count / 4 * 3)
        var i = 0
        while i < clean.count {
            let c0 = reverse[Int(clean[i])], c1 = reverse[Int(clean[i + 1])]
            if c0 == 0xFF || c1 == 0xFF { return nil }
            let p2 = clean[i + 2] == UInt8(ascii: "="), p3 = clean[i + 3] == UInt8(ascii: "=")
            if (p2 || p3) && i + 4 != clean.count { return nil }
            if p2 && !p3 { return nil }
            let c2 = p2 ? 0 : reverse[Int(clean[i + 2])]
            let c3 = p3 ? 0 : reverse[Int(clean[i + 3])]
            if c2 == 0xFF || c3 == 0xFF { return nil }
            let v = UInt32(c0) << 18 | UInt32(c1) << 12 | UInt32(c2) << 6 | UInt32(c3)
            out.append(UInt8(v >> 16 & 0xFF))
            if !p2 { out.append(UInt8(v >> 8 & 0xFF)) }
            if !p3 { out.append(UInt8(v & 0xFF)) }
            i += 4
        }
        return out
    }
}
