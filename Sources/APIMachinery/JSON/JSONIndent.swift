/// Re-indents compact JSON the way Go's `json.Indent(dst, src, "", indent)` does: one element per
/// line, `": "` after keys, empty objects and arrays kept as `{}` and `[]`.
public enum JSONIndent {
    public static func indent(_ src: [UInt8], indent: String = "  ") -> [UInt8] {
        let ind = Array(indent.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(src.count * 2)
        var depth = 0
        var inString = false
        var needIndent = false
        var i = 0
        func newline() {
            out.append(0x0A)
            for _ in 0..<depth { out.append(contentsOf: ind) }
        }
        while i < src.count {
            let c = src[i]
            if inString {
                out.append(c)
                if c == UInt8(ascii: "\\") {
                    i += 1
                    if i < src.count { out.append(src[i]) }
                } else if c == UInt8(ascii: "\"") {
                    inString = false
                }
                i += 1
                continue
            }
            if c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 {
                i += 1
                continue
            }
            if needIndent && c != UInt8(ascii: "]") && c != UInt8(ascii: "}") {
                needIndent = false
                depth += 1
                newline()
            }
            switch c {
            case UInt8(ascii: "\""):
                inString = true
                out.append(c)
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                out.append(c)
                needIndent = true
            case UInt8(ascii: ","):
                out.append(c)
                newline()
            case UInt8(ascii: ":"):
                out.append(c)
                out.append(0x20)
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                if needIndent {
                    needIndent = false
                } else {
                    depth -= 1
                    newline()
                }
                out.append(c)
            default:
                out.append(c)
            }
            i += 1
        }
        return out
    }
}
