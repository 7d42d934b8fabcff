/// A byte-level JSON writer producing the exact bytes Go's `encoding/json` produces for Kubernetes
/// objects: compact, fields in struct order, HTML-sensitive characters escaped as `\u003c` etc.
///
/// Commas are inserted automatically: a value written after another value in the same object or
/// array is preceded by `,`. Generated code writes keys as pre-quoted static strings (`"\"name\":"`).
public struct JSONWriter: Sendable {
    public var bytes: [UInt8]

    @inlinable
    public init(capacity: Int = 512) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    // MARK: structure

    /// Writes `,` when the previous byte ends a value (not after `{`, `[`, `:` or at the start).
    @inlinable @inline(__always)
    mutating func separator() {
        if let last = bytes.last, last != UInt8(ascii: "{"), last != UInt8(ascii: "["),
            last != UInt8(ascii: ":")
        {
            bytes.append(UInt8(ascii: ","))
        }
    }

    @inlinable
    public mutating func beginObject() {
        separator()
        bytes.append(UInt8(ascii: "{"))
    }

    @inlinable
    public mutating func endObject() { bytes.append(UInt8(ascii: "}")) }

    @inlinable
    public mutating func beginArray() {
        separator()
        bytes.append(UInt8(ascii: "["))
    }

    @inlinable
    public mutating func endArray() { bytes.append(UInt8(ascii: "]")) }

    /// Writes a key given as pre-quoted static text including the colon, e.g. `"\"name\":"`.
    @inlinable @inline(__always)
    public mutating func quotedKey(_ quotedKeyColon: StaticString) {
        separator()
        quotedKeyColon.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    /// Writes a dynamic key (map keys).
    @inlinable
    public mutating func key(_ k: String) {
        separator()
        appendQuoted(k)
        bytes.append(UInt8(ascii: ":"))
    }

    // MARK: values

    @inlinable
    public mutating func null() {
        separator()
        append(raw: "null")
    }

    @inlinable
    public mutating func string(_ s: String) {
        separator()
        appendQuoted(s)
    }

    @inlinable
    public mutating func bool(_ v: Bool) {
        separator()
        if v { append(raw: "true") } else { append(raw: "false") }
    }

    @inlinable
    public mutating func int(_ v: Int64) {
        separator()
        appendDecimal(v)
    }

    @inlinable
    public mutating func int32(_ v: Int32) { int(Int64(v)) }

    public mutating func double(_ v: Double) {
        separator()
        bytes.append(contentsOf: GoFloat.format(v).utf8)
    }

    /// Writes base64 of bytes (Go's `[]byte` JSON form).
    public mutating func base64(_ v: [UInt8]) {
        separator()
        bytes.append(UInt8(ascii: "\""))
        Base64.encode(v, into: &bytes)
        bytes.append(UInt8(ascii: "\""))
    }

    /// Appends already-encoded JSON (a raw message), after a separator.
    @inlinable
    public mutating func rawValue(_ v: [UInt8]) {
        separator()
        bytes.append(contentsOf: v)
    }

    @inlinable @inline(__always)
    mutating func append(raw: StaticString) {
        raw.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    @inlinable
    mutating func appendDecimal(_ v: Int64) {
        if v >= 0 && v < 10 {
            bytes.append(UInt8(truncatingIfNeeded: v) &+ 48)
            return
        }
        var mag = v.magnitude
        if v < 0 { bytes.append(UInt8(ascii: "-")) }
        let start = bytes.count
        repeat {
            bytes.append(UInt8(truncatingIfNeeded: mag % 10) &+ 48)
            mag /= 10
        } while mag > 0
        bytes[start...].reverse()
    }

    /// Appends `s` quoted and escaped the way Go's encoding/json does (HTML-safe).
    @inlinable
    public mutating func appendQuoted(_ s: String) {
        var s = s
        s.withUTF8 { utf8 in
            bytes.append(UInt8(ascii: "\""))
            var start = 0
            var i = 0
            let n = utf8.count
            while i < n {
                let c = utf8[i]
                if JSONEscapeTable.needsEscape(c) {
                    if c == 0xE2 {
                        // U+2028 / U+2029 are escaped by Go.
                        if i + 2 < n && utf8[i + 1] == 0x80 && (utf8[i + 2] == 0xA8 || utf8[i + 2] == 0xA9) {
                            if start < i { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start..<i])) }
                            append(raw: utf8[i + 2] == 0xA8 ? "\\u2028" : "\\u2029")
                            i += 3
                            start = i
                            continue
                        }
                        i += 1
                        continue
                    }
                    if start < i { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start..<i])) }
                    appendEscape(c)
                    i += 1
                    start = i
                } else {
                    i += 1
                }
            }
            if start < n { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start..<n])) }
            bytes.append(UInt8(ascii: "\""))
        }
    }

    @usableFromInline
    mutating func appendEscape(_ c: UInt8) {
        switch c {
        case UInt8(ascii: "\""): append(raw: "\\\"")
        case UInt8(ascii: "\\"): append(raw: "\\\\")
        case UInt8(ascii: "\n"): append(raw: "\\n")
        case UInt8(ascii: "\r"): append(raw: "\\r")
        case UInt8(ascii: "\t"): append(raw: "\\t")
        case 0x08: append(raw: "\\b")
        case 0x0C: append(raw: "\\f")
        default:
            let hex: [UInt8] = Array("0123456789abcdef".utf8)
            append(raw: "\\u00")
            bytes.append(hex[Int(c >> 4)])
            bytes.append(hex[Int(c & 0xF)])
        }
    }
}

/// Which bytes need attention when writing a JSON string: control characters, `"`, `\`,
/// `<`, `>`, `&` (Go escapes these for HTML safety) and 0xE2 (the lead byte of U+2028/U+2029).
@usableFromInline
enum JSONEscapeTable {
    @inlinable @inline(__always)
    static func needsEscape(_ c: UInt8) -> Bool {
        c < 0x20 || c == 0x22 || c == 0x5C || c == 0x3C || c == 0x3E || c == 0x26 || c == 0xE2
    }
}

extension JSONWriter {
    /// Go orders map keys by their bytes.
    @inlinable
    public static func goLess(_ a: String, _ b: String) -> Bool {
        a.utf8.lexicographicallyPrecedes(b.utf8)
    }

    /// Writes a raw JSON value (from a RawExtension or similar) compacted and HTML-escaped, as
    /// Go's encoding/json does with the output of a `MarshalJSON` method.
    public mutating func rawCompacted(_ raw: [UInt8]) {
        separator()
        appendCompacted(raw)
    }

    /// Appends JSON with whitespace outside strings removed and HTML characters escaped.
    public mutating func appendCompacted(_ raw: [UInt8]) {
        var inString = false
        var i = 0
        let n = raw.count
        while i < n {
            let c = raw[i]
            if inString {
                if c == UInt8(ascii: "\\") {
                    bytes.append(c)
                    if i + 1 < n { bytes.append(raw[i + 1]) }
                    i += 2
                    continue
                }
                if c == UInt8(ascii: "\"") { inString = false }
                if c == UInt8(ascii: "<") || c == UInt8(ascii: ">") || c == UInt8(ascii: "&") {
                    appendEscape(c)
                    i += 1
                    continue
                }
                if c == 0xE2 && i + 2 < n && raw[i + 1] == 0x80 && (raw[i + 2] == 0xA8 || raw[i + 2] == 0xA9) {
                    append(raw: raw[i + 2] == 0xA8 ? "\\u2028" : "\\u2029")
                    i += 3
                    continue
                }
                bytes.append(c)
            } else {
                if c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 {
                    i += 1
                    continue
                }
                if c == UInt8(ascii: "\"") { inString = true }
                bytes.append(c)
            }
            i += 1
        }
    }
}

extension JSONWriter {
    /// A map of base64 values (Go `map[string][]byte`), keys sorted.
    public mutating func bytesMap(_ m: [String: [UInt8]]) {
        beginObject()
        for k in m.keys.sorted(by: JSONWriter.goLess) {
            key(k)
            base64(m[k]!)
        }
        endObject()
    }
}
