#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A JSON decoding failure, with a message in the style of Go's `encoding/json` so that API errors
/// read like upstream's.
public struct JSONDecodingError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// An object key as read: a view of its bytes (valid during `decodeJSONField`) with an FNV-1a hash
/// that generated code switches on, so matching a key costs one integer switch and one compare.
public struct JSONKey {
    @usableFromInline let base: UnsafePointer<UInt8>
    @usableFromInline let count: Int
    public let hash: UInt64

    @inlinable
    init(base: UnsafePointer<UInt8>, count: Int) {
        self.base = base
        self.count = count
        self.hash = JSONKey.fnv1a(UnsafeBufferPointer(start: base, count: count))
    }

    @inlinable
    init(base: UnsafePointer<UInt8>, count: Int, hash: UInt64) {
        self.base = base
        self.count = count
        self.hash = hash
    }

    /// FNV-1a, 64 bit (the generator computes the same hash for every field name).
    @inlinable
    public static func fnv1a(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes {
            h ^= UInt64(b)
            h = h &* 0x0000_0100_0000_01B3
        }
        return h
    }

    /// The key as a String.
    public var string: String { String(decoding: UnsafeBufferPointer(start: base, count: count), as: UTF8.self) }

    @inlinable
    public static func == (k: JSONKey, s: StaticString) -> Bool {
        guard k.count == s.utf8CodeUnitCount else { return false }
        return memcmp(k.base, s.utf8Start, k.count) == 0
    }
}

/// One step of a field path while decoding (used for strict-mode reports and error messages).
@usableFromInline
enum JSONPathElement: Sendable {
    case key(String)
    case index(Int)
}

/// A byte-level, allocation-light JSON reader over a borrowed buffer.
///
/// Generated `decodeJSONField` functions pull values from it. Semantics follow Go's encoding/json as
/// used by Kubernetes (case-sensitive keys): `null` leaves a value at its zero value, unknown keys are
/// skipped (and recorded when `trackFields` is on, for `fieldValidation=Strict|Warn`), the last of
/// duplicate keys wins (and is recorded when tracking).
public struct JSONReader {
    @usableFromInline let base: UnsafePointer<UInt8>
    @usableFromInline let end: Int
    @usableFromInline var pos: Int
    /// When true, unknown and duplicate fields are recorded with their paths.
    public var trackFields: Bool
    @usableFromInline var path: [JSONPathElement] = []
    /// Paths of unknown fields seen (only when `trackFields`), e.g. `spec.foo`.
    public var unknownFields: [String] = []
    /// Paths of duplicate fields seen (only when `trackFields`).
    public var duplicateFields: [String] = []
    @usableFromInline var scratch: [UInt8] = []
    /// Storage for an object key that needed unescaping (kept alive while the key is in use).
    @usableFromInline var keyStorage: [UInt8] = []

    @inlinable
    public init(_ buffer: UnsafeBufferPointer<UInt8>, trackFields: Bool = false) {
        // An empty buffer still needs a valid base pointer.
        base = buffer.baseAddress ?? UnsafePointer(bitPattern: 1)!
        end = buffer.count
        pos = 0
        self.trackFields = trackFields
    }

    /// Decodes one top-level value from `bytes`, requiring only whitespace after it.
    @inlinable
    public static func decode<T: JSONDecodableValue>(
        _ type: T.Type = T.self, from bytes: [UInt8], trackFields: Bool = false
    ) throws -> T {
        try bytes.withUnsafeBufferPointer { buf in
            var r = JSONReader(buf, trackFields: trackFields)
            let v: T = try r.value()
            try r.expectEnd()
            return v
        }
    }

    // MARK: low level

    @inlinable @inline(__always)
    mutating func skipWhitespace() {
        var p = pos
        let e = end
        while p < e {
            let c = base[p]
            if c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 { p &+= 1 } else { break }
        }
        pos = p
    }

    /// Throws unless only whitespace remains.
    public mutating func expectEnd() throws {
        skipWhitespace()
        if pos < end {
            throw JSONDecodingError("invalid character \(Self.describe(base[pos])) after top-level value")
        }
    }

    /// The next non-whitespace byte, without consuming it; nil at the end of input.
    @inlinable
    public mutating func peek() -> UInt8? {
        skipWhitespace()
        return pos < end ? base[pos] : nil
    }

    @usableFromInline
    static func describe(_ c: UInt8) -> String {
        if c == UInt8(ascii: "'") { return "'\\''" }
        if c == UInt8(ascii: "\"") { return "'\"'" }
        if c < 0x20 || c >= 0x7F { return "'\\x\(String(c, radix: 16))'" }
        return "'\(Character(Unicode.Scalar(c)))'"
    }

    @usableFromInline
    func unexpectedEnd() -> JSONDecodingError { JSONDecodingError("unexpected end of JSON input") }

    @usableFromInline
    func invalid(_ c: UInt8, _ context: String) -> JSONDecodingError {
        JSONDecodingError("invalid character \(Self.describe(c)) \(context)")
    }

    /// The current field path as Kubernetes prints it (`spec.containers[0].name`).
    public var currentPath: String {
        var s = ""
        for el in path {
            switch el {
            case .key(let k):
                if !s.isEmpty { s += "." }
                s += k
            case .index(let i): s += "[\(i)]"
            }
        }
        return s
    }

    /// Whether the next value is `null`; consumes it if so.
    @inlinable
    public mutating func consumeNull() throws -> Bool {
        skipWhitespace()
        guard pos < end, base[pos] == UInt8(ascii: "n") else { return false }
        guard pos + 4 <= end, base[pos + 1] == UInt8(ascii: "u"), base[pos + 2] == UInt8(ascii: "l"),
            base[pos + 3] == UInt8(ascii: "l")
        else {
            if pos + 4 > end { throw unexpectedEnd() }
            throw invalid(base[pos + 1], "in literal null (expecting 'u')")
        }
        pos += 4
        return true
    }

    @usableFromInline
    func kindOfNextValue() -> String {
        guard pos < end else { return "end of input" }
        switch base[pos] {
        case UInt8(ascii: "\""): return "string"
        case UInt8(ascii: "{"): return "object"
        case UInt8(ascii: "["): return "array"
        case UInt8(ascii: "t"), UInt8(ascii: "f"): return "bool"
        case UInt8(ascii: "n"): return "null"
        default: return "number"
        }
    }

    /// A type-mismatch error in Go's words.
    @usableFromInline
    mutating func typeMismatch(_ goType: String) -> JSONDecodingError {
        skipWhitespace()
        let kind = kindOfNextValue()
        var kindText = kind
        if kind == "number" {
            let start = pos
            var p = pos
            while p < end, Self.isNumberByte(base[p]) { p += 1 }
            kindText =
                "number " + String(decoding: UnsafeBufferPointer(start: base + start, count: p - start), as: UTF8.self)
        }
        let where_ = path.isEmpty ? "Go value" : "Go struct field \(currentPath)"
        return JSONDecodingError("json: cannot unmarshal \(kindText) into \(where_) of type \(goType)")
    }

    @inlinable @inline(__always)
    static func isNumberByte(_ c: UInt8) -> Bool {
        (c >= 0x30 && c <= 0x39) || c == UInt8(ascii: "-") || c == UInt8(ascii: "+") || c == UInt8(ascii: ".")
            || c == UInt8(ascii: "e") || c == UInt8(ascii: "E")
    }

    // MARK: objects

    /// Reads an object, handing each key to `decodeJSONField` of `target`.
    @inlinable
    public mutating func readObject<T: JSONObjectDecodable>(into target: inout T) throws {
        skipWhitespace()
        guard pos < end else { throw unexpectedEnd() }
        guard base[pos] == UInt8(ascii: "{") else {
            throw typeMismatch(String(describing: T.self))
        }
        pos += 1
        skipWhitespace()
        guard pos < end else { throw unexpectedEnd() }
        if base[pos] == UInt8(ascii: "}") {
            pos += 1
            return
        }
        var seen: Set<String> = []
        while true {
            skipWhitespace()
            guard pos < end else { throw unexpectedEnd() }
            guard base[pos] == UInt8(ascii: "\"") else {
                throw invalid(base[pos], "looking for beginning of object key string")
            }
            let key = try readKey()
            skipWhitespace()
            guard pos < end else { throw unexpectedEnd() }
            guard base[pos] == UInt8(ascii: ":") else { throw invalid(base[pos], "after object key") }
            pos += 1
            if trackFields {
                let name = key.string
                path.append(.key(name))
                if !seen.insert(name).inserted { duplicateFields.append(currentPath) }
                if try !target.decodeJSONField(key, &self) {
                    unknownFields.append(currentPath)
                    try skipValue()
                }
                path.removeLast()
            } else if try !target.decodeJSONField(key, &self) {
                try skipValue()
            }
            skipWhitespace()
            guard pos < end else { throw unexpectedEnd() }
            let c = base[pos]
            pos += 1
            if c == UInt8(ascii: ",") { continue }
            if c == UInt8(ascii: "}") { return }
            throw invalid(c, "after object key:value pair")
        }
    }

    /// Reads an object key (at its opening quote) without allocating when it has no escapes.
    @inlinable
    mutating func readKey() throws -> JSONKey {
        // Scan and hash in one pass, on locals (the reader's fields stay out of the loop).
        let b = base
        let e = end
        var p = pos &+ 1
        let start = p
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        while p < e {
            let c = b[p]
            if c == UInt8(ascii: "\"") {
                pos = p &+ 1
                return JSONKey(base: b + start, count: p &- start, hash: h)
            }
            if c == UInt8(ascii: "\\") || c < 0x20 { break }
            h = (h ^ UInt64(c)) &* 0x0000_0100_0000_01B3
            p &+= 1
        }
        pos = p
        let s = try readEscapedString(from: start)
        keyStorage = Array(s.utf8)
        return keyStorage.withUnsafeBufferPointer { JSONKey(base: $0.baseAddress ?? base, count: $0.count) }
    }

    /// Iterates the keys of an object, calling `body` for each with the reader positioned at its value.
    /// `body` must consume the value.
    @inlinable
    public mutating func forEachKey(
        _ goType: @autoclosure () -> String, _ body: (String, inout JSONReader) throws -> Void
    ) throws {
        skipWhitespace()
        guard pos < end else { throw unexpectedEnd() }
        guard base[pos] == UInt8(ascii: "{") else { throw typeMismatch(goType()) }
        pos += 1
        skipWhitespace()
        guard pos < end else { throw unexpectedEnd() }
        if base[pos] == UInt8(ascii: "}") {
            pos += 1
            return
        }
        while true {
            skipWhitespace()
            guard pos < end else { throw unexpectedEnd() }
            guard base[pos] == UInt8(ascii: "\"") else {
                throw invalid(base[pos], "looking for beginning of object key string")
            }
            let key = try readStringLiteral()
            skipWhitespace()
            guard pos < end else { throw unexpectedEnd() }
            guard base[pos] == UInt8(ascii: ":") else { throw invalid(base[pos], "after object key") }
            pos += 1
            if trackFields { path.append(.key(key)) }
            try body(key, &self)
            if trackFields { path.removeLast() }
            skipWhitespace()
            guard pos < end else { throw unexpectedEnd() }
            let c = base[pos]
            pos += 1
            if c == UInt8(ascii: ",") { continue }
            if c == UInt8(ascii: "}") { return }
            throw invalid(c, "after object key:value pair")
        }
    }

    /// Iterates the elements of an array, calling `body` with the reader positioned at each element.
    @inlinable
    public mutating func forEachElement(_ goType: @autoclosure () -> String, _ body: (inout JSONReader) throws -> Void)
        throws
    {
        skipWhitespace()
        guard pos < end else { throw unexpectedEnd() }
        guard base[pos] == UInt8(ascii: "[") else { throw typeMismatch(goType()) }
        pos += 1
        skipWhitespace()
        guard pos < end else { throw unexpectedEnd() }
        if base[pos] == UInt8(ascii: "]") {
            pos += 1
            return
        }
        var index = 0
        while true {
            if trackFields { path.append(.index(index)) }
            try body(&self)
            if trackFields { path.removeLast() }
            index += 1
            skipWhitespace()
            guard pos < end else { throw unexpectedEnd() }
            let c = base[pos]
            pos += 1
            if c == UInt8(ascii: ",") { continue }
            if c == UInt8(ascii: "]") { return }
            throw invalid(c, "after array element")
        }
    }

    // MARK: typed values (used by generated code)

    /// A value of a decodable type; `null` gives the type's zero value.
    @inlinable
    public mutating func value<T: JSONDecodableValue>() throws -> T {
        if try consumeNull() { return T() }
        return try T(json: &self)
    }

    /// An optional value; `null` gives nil.
    @inlinable
    public mutating func optional<T: JSONDecodableValue>() throws -> T? {
        if try consumeNull() { return nil }
        return try T(json: &self)
    }

    /// An array; `null` gives an empty array.
    @inlinable
    public mutating func array<T: JSONDecodableValue>() throws -> [T] {
        if try consumeNull() { return [] }
        return try readArrayElements()
    }

    /// An array that distinguishes `null` (nil) from `[]`.
    @inlinable
    public mutating func optionalArray<T: JSONDecodableValue>() throws -> [T]? {
        if try consumeNull() { return nil }
        return try readArrayElements()
    }

    @inlinable
    mutating func readArrayElements<T: JSONDecodableValue>() throws -> [T] {
        var out: [T] = []
        try forEachElement("[]" + String(describing: T.self)) { r in
            out.append(try r.value())
        }
        return out
    }

    /// A string-keyed map; `null` gives an empty map.
    @inlinable
    public mutating func map<T: JSONDecodableValue>() throws -> [String: T] {
        if try consumeNull() { return [:] }
        return try readMapEntries()
    }

    /// A map that distinguishes `null` (nil) from `{}`.
    @inlinable
    public mutating func optionalMap<T: JSONDecodableValue>() throws -> [String: T]? {
        if try consumeNull() { return nil }
        return try readMapEntries()
    }

    @inlinable
    mutating func readMapEntries<T: JSONDecodableValue>() throws -> [String: T] {
        var out: [String: T] = [:]
        try forEachKey("map[string]" + String(describing: T.self)) { key, r in
            out[key] = try r.value()
        }
        return out
    }

    /// Base64 bytes (Go `[]byte`); `null` gives empty.
    public mutating func bytes() throws -> [UInt8] {
        try optionalBytes() ?? []
    }

    /// Base64 bytes that distinguish `null` (nil) from `""`.
    public mutating func optionalBytes() throws -> [UInt8]? {
        if try consumeNull() { return nil }
        skipWhitespace()
        guard pos < end, base[pos] == UInt8(ascii: "\"") else { throw typeMismatch("[]uint8") }
        let s = try readStringLiteral()
        guard let decoded = Base64.decode(Array(s.utf8)) else {
            throw JSONDecodingError("illegal base64 data at input byte 0")
        }
        return decoded
    }

    /// Map of base64 byte values (Secret `data`).
    public mutating func bytesMap() throws -> [String: [UInt8]] {
        if try consumeNull() { return [:] }
        var out: [String: [UInt8]] = [:]
        try forEachKey("map[string][]uint8") { key, r in
            out[key] = try r.bytes()
        }
        return out
    }

    // MARK: scalars

    /// Reads a JSON string literal at the current position (which must be `"`).
    @inlinable
    public mutating func readStringLiteral() throws -> String {
        // pos is at the opening quote
        let b = base
        let e = end
        var p = pos &+ 1
        let start = p
        while p < e {
            let c = b[p]
            if c == UInt8(ascii: "\"") {
                pos = p &+ 1
                return String(decoding: UnsafeBufferPointer(start: b + start, count: p &- start), as: UTF8.self)
            }
            if c == UInt8(ascii: "\\") || c < 0x20 { break }
            p &+= 1
        }
        pos = p
        return try readEscapedString(from: start)
    }

    @usableFromInline
    mutating func readEscapedString(from start: Int) throws -> String {
        scratch.removeAll(keepingCapacity: true)
        scratch.append(contentsOf: UnsafeBufferPointer(start: base + start, count: pos - start))
        while pos < end {
            let c = base[pos]
            if c == UInt8(ascii: "\"") {
                pos += 1
                return String(decoding: scratch, as: UTF8.self)
            }
            if c < 0x20 { throw invalid(c, "in string literal") }
            if c != UInt8(ascii: "\\") {
                scratch.append(c)
                pos += 1
                continue
            }
            pos += 1
            guard pos < end else { throw unexpectedEnd() }
            let e = base[pos]
            pos += 1
            switch e {
            case UInt8(ascii: "\""): scratch.append(0x22)
            case UInt8(ascii: "\\"): scratch.append(0x5C)
            case UInt8(ascii: "/"): scratch.append(0x2F)
            case UInt8(ascii: "b"): scratch.append(0x08)
            case UInt8(ascii: "f"): scratch.append(0x0C)
            case UInt8(ascii: "n"): scratch.append(0x0A)
            case UInt8(ascii: "r"): scratch.append(0x0D)
            case UInt8(ascii: "t"): scratch.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try readHex4()
                if scalar >= 0xD800 && scalar < 0xDC00 {
                    // A high surrogate must be followed by \u low surrogate; otherwise U+FFFD.
                    if pos + 6 <= end, base[pos] == UInt8(ascii: "\\"), base[pos + 1] == UInt8(ascii: "u") {
                        let save = pos
                        pos += 2
                        let low = try readHex4()
                        if low >= 0xDC00 && low < 0xE000 {
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        } else {
                            pos = save
                            scalar = 0xFFFD
                        }
                    } else {
                        scalar = 0xFFFD
                    }
                } else if scalar >= 0xDC00 && scalar < 0xE000 {
                    scalar = 0xFFFD
                }
                appendUTF8(scalar)
            default:
                throw invalid(e, "in string escape code")
            }
        }
        throw unexpectedEnd()
    }

    @usableFromInline
    mutating func readHex4() throws -> UInt32 {
        guard pos + 4 <= end else { throw unexpectedEnd() }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = base[pos]
            let d: UInt32
            switch c {
            case 0x30...0x39: d = UInt32(c - 0x30)
            case 0x41...0x46: d = UInt32(c - 0x41 + 10)
            case 0x61...0x66: d = UInt32(c - 0x61 + 10)
            default: throw invalid(c, "in \\u hexadecimal character escape")
            }
            v = v << 4 | d
            pos += 1
        }
        return v
    }

    @usableFromInline
    mutating func appendUTF8(_ s: UInt32) {
        if s < 0x80 {
            scratch.append(UInt8(s))
        } else if s < 0x800 {
            scratch.append(UInt8(0xC0 | (s >> 6)))
            scratch.append(UInt8(0x80 | (s & 0x3F)))
        } else if s < 0x10000 {
            scratch.append(UInt8(0xE0 | (s >> 12)))
            scratch.append(UInt8(0x80 | ((s >> 6) & 0x3F)))
            scratch.append(UInt8(0x80 | (s & 0x3F)))
        } else {
            scratch.append(UInt8(0xF0 | (s >> 18)))
            scratch.append(UInt8(0x80 | ((s >> 12) & 0x3F)))
            scratch.append(UInt8(0x80 | ((s >> 6) & 0x3F)))
            scratch.append(UInt8(0x80 | (s & 0x3F)))
        }
    }

    /// A string value (not null).
    @inlinable
    public mutating func readString() throws -> String {
        skipWhitespace()
        guard pos < end else { throw unexpectedEnd() }
        guard base[pos] == UInt8(ascii: "\"") else { throw typeMismatch("string") }
        return try readStringLiteral()
    }

    @inlinable
    public mutating func readBool() throws -> Bool {
        skipWhitespace()
        guard pos < end else { throw unexpectedEnd() }
        let c = base[pos]
        if c == UInt8(ascii: "t") {
            guard pos + 4 <= end, base[pos + 1] == UInt8(ascii: "r"), base[pos + 2] == UInt8(ascii: "u"),
                base[pos + 3] == UInt8(ascii: "e")
            else { throw invalid(c, "in literal true") }
            pos += 4
            return true
        }
        if c == UInt8(ascii: "f") {
            guard pos + 5 <= end, base[pos + 1] == UInt8(ascii: "a"), base[pos + 2] == UInt8(ascii: "l"),
                base[pos + 3] == UInt8(ascii: "s"), base[pos + 4] == UInt8(ascii: "e")
            else { throw invalid(c, "in literal false") }
            pos += 5
            return false
        }
        throw typeMismatch("bool")
    }

    /// An integer in [min, max]; fractions, exponents and overflow are type errors as in Go.
    @inlinable
    public mutating func readInteger(min: Int64, max: Int64, goType: String) throws -> Int64 {
        skipWhitespace()
        guard pos < end else { throw unexpectedEnd() }
        let start = pos
        var negative = false
        if base[pos] == UInt8(ascii: "-") {
            negative = true
            pos += 1
        }
        guard pos < end else { throw unexpectedEnd() }
        var c = base[pos]
        guard c >= 0x30 && c <= 0x39 else {
            pos = start
            if negative { throw invalid(c, "in numeric literal") }
            throw typeMismatch(goType)
        }
        var mag: UInt64 = 0
        var overflow = false
        if c == 0x30 {
            pos += 1
        } else {
            while pos < end {
                c = base[pos]
                guard c >= 0x30 && c <= 0x39 else { break }
                let (m1, o1) = mag.multipliedReportingOverflow(by: 10)
                let (m2, o2) = m1.addingReportingOverflow(UInt64(c - 0x30))
                overflow = overflow || o1 || o2
                mag = m2
                pos += 1
            }
        }
        if pos < end {
            c = base[pos]
            if c == UInt8(ascii: ".") || c == UInt8(ascii: "e") || c == UInt8(ascii: "E") {
                try validateNumberTail()
                let text = String(decoding: UnsafeBufferPointer(start: base + start, count: pos - start), as: UTF8.self)
                throw mismatchNumber(text, goType)
            }
            if c >= 0x30 && c <= 0x39 { throw invalid(c, "after top-level value") }
        }
        let limit = negative ? UInt64(bitPattern: 0) &- UInt64(bitPattern: min) : UInt64(max)
        if overflow || mag > limit {
            let text = String(decoding: UnsafeBufferPointer(start: base + start, count: pos - start), as: UTF8.self)
            throw mismatchNumber(text, goType)
        }
        return negative ? Int64(bitPattern: 0 &- mag) : Int64(mag)
    }

    @usableFromInline
    func mismatchNumber(_ text: String, _ goType: String) -> JSONDecodingError {
        let where_ = path.isEmpty ? "Go value" : "Go struct field \(currentPath)"
        return JSONDecodingError("json: cannot unmarshal number \(text) into \(where_) of type \(goType)")
    }

    @usableFromInline
    mutating func validateNumberTail() throws {
        // fraction
        if pos < end, base[pos] == UInt8(ascii: ".") {
            pos += 1
            guard pos < end else { throw unexpectedEnd() }
            guard base[pos] >= 0x30 && base[pos] <= 0x39 else {
                throw invalid(base[pos], "after decimal point in numeric literal")
            }
            while pos < end, base[pos] >= 0x30 && base[pos] <= 0x39 { pos += 1 }
        }
        if pos < end, base[pos] == UInt8(ascii: "e") || base[pos] == UInt8(ascii: "E") {
            pos += 1
            if pos < end, base[pos] == UInt8(ascii: "+") || base[pos] == UInt8(ascii: "-") { pos += 1 }
            guard pos < end else { throw unexpectedEnd() }
            guard base[pos] >= 0x30 && base[pos] <= 0x39 else {
                throw invalid(base[pos], "in exponent of numeric literal")
            }
            while pos < end, base[pos] >= 0x30 && base[pos] <= 0x39 { pos += 1 }
        }
    }

    /// Reads a JSON number as a Double.
    public mutating func readDouble() throws -> Double {
        skipWhitespace()
        guard pos < end else { throw unexpectedEnd() }
        let text = try readNumberText(goType: "float64")
        guard let d = Double(text) else { throw mismatchNumber(text, "float64") }
        return d
    }

    /// The literal text of the next number (validated).
    public mutating func readNumberText(goType: String) throws -> String {
        skipWhitespace()
        guard pos < end else { throw unexpectedEnd() }
        let start = pos
        if base[pos] == UInt8(ascii: "-") { pos += 1 }
        guard pos < end else { throw unexpectedEnd() }
        guard base[pos] >= 0x30 && base[pos] <= 0x39 else {
            if base[pos] == UInt8(ascii: "-") || pos > start { throw invalid(base[pos], "in numeric literal") }
            throw typeMismatch(goType)
        }
        if base[pos] == 0x30 {
            pos += 1
        } else {
            while pos < end, base[pos] >= 0x30 && base[pos] <= 0x39 { pos += 1 }
        }
        try validateNumberTail()
        return String(decoding: UnsafeBufferPointer(start: base + start, count: pos - start), as: UTF8.self)
    }

    // MARK: skipping and raw capture

    /// Skips one value of any type, validating its syntax.
    public mutating func skipValue() throws {
        skipWhitespace()
        guard pos < end else { throw unexpectedEnd() }
        let c = base[pos]
        switch c {
        case UInt8(ascii: "{"):
            pos += 1
            skipWhitespace()
            guard pos < end else { throw unexpectedEnd() }
            if base[pos] == UInt8(ascii: "}") {
                pos += 1
                return
            }
            while true {
                skipWhitespace()
                guard pos < end else { throw unexpectedEnd() }
                guard base[pos] == UInt8(ascii: "\"") else {
                    throw invalid(base[pos], "looking for beginning of object key string")
                }
                try skipStringLiteral()
                skipWhitespace()
                guard pos < end else { throw unexpectedEnd() }
                guard base[pos] == UInt8(ascii: ":") else { throw invalid(base[pos], "after object key") }
                pos += 1
                try skipValue()
                skipWhitespace()
                guard pos < end else { throw unexpectedEnd() }
                let d = base[pos]
                pos += 1
                if d == UInt8(ascii: ",") { continue }
                if d == UInt8(ascii: "}") { return }
                throw invalid(d, "after object key:value pair")
            }
        case UInt8(ascii: "["):
            pos += 1
            skipWhitespace()
            guard pos < end else { throw unexpectedEnd() }
            if base[pos] == UInt8(ascii: "]") {
                pos += 1
                return
            }
            while true {
                try skipValue()
                skipWhitespace()
                guard pos < end else { throw unexpectedEnd() }
                let d = base[pos]
                pos += 1
                if d == UInt8(ascii: ",") { continue }
                if d == UInt8(ascii: "]") { return }
                throw invalid(d, "after array element")
            }
        case UInt8(ascii: "\""):
            try skipStringLiteral()
        case UInt8(ascii: "t"), UInt8(ascii: "f"):
            _ = try readBool()
        case UInt8(ascii: "n"):
            _ = try consumeNull()
        case UInt8(ascii: "-"), 0x30...0x39:
            _ = try readNumberText(goType: "number")
        default:
            throw invalid(c, "looking for beginning of value")
        }
    }

    @usableFromInline
    mutating func skipStringLiteral() throws {
        pos += 1
        while pos < end {
            let c = base[pos]
            if c == UInt8(ascii: "\"") {
                pos += 1
                return
            }
            if c < 0x20 { throw invalid(c, "in string literal") }
            if c == UInt8(ascii: "\\") {
                pos += 1
                guard pos < end else { throw unexpectedEnd() }
                let e = base[pos]
                switch e {
                case UInt8(ascii: "u"):
                    pos += 1
                    _ = try readHex4()
                    continue
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"),
                    UInt8(ascii: "f"), UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    break
                default: throw invalid(e, "in string escape code")
                }
            }
            pos += 1
        }
        throw unexpectedEnd()
    }

    /// The next value's bytes with insignificant whitespace removed (raw JSON kept in objects,
    /// such as RawExtension, is stored compact so equal content compares equal).
    public mutating func readCompactedRawValue() throws -> [UInt8] {
        let raw = try readRawValue()
        var w = JSONWriter(capacity: raw.count)
        w.appendCompacted(raw)
        return w.bytes
    }

    /// The raw bytes of the next value, as written (Go `json.RawMessage`).
    public mutating func readRawValue() throws -> [UInt8] {
        skipWhitespace()
        let start = pos
        try skipValue()
        return Array(UnsafeBufferPointer(start: base + start, count: pos - start))
    }
}

// MARK: protocols

/// A type that can be read from JSON. `init()` is its zero value, used for `null`.
public protocol JSONDecodableValue {
    init()
    init(json r: inout JSONReader) throws
}

/// A type that writes itself as one JSON value.
public protocol JSONEncodableValue {
    func encodeJSON(_ w: inout JSONWriter)
}

public typealias JSONCodableValue = JSONDecodableValue & JSONEncodableValue

/// A JSON object type whose fields are decoded one key at a time (generated for every API struct).
public protocol JSONObjectDecodable: JSONDecodableValue {
    /// Decodes the value for `key` into the matching field; returns false for unknown keys
    /// (leaving the value unread).
    mutating func decodeJSONField(_ key: JSONKey, _ r: inout JSONReader) throws -> Bool
}

/// A JSON object type that writes its fields (between braces supplied by the caller).
public protocol JSONObjectEncodable: JSONEncodableValue {
    func encodeJSONFields(_ w: inout JSONWriter)
}

public typealias JSONObjectCodable = JSONObjectDecodable & JSONObjectEncodable

extension JSONObjectDecodable {
    @inlinable
    public init(json r: inout JSONReader) throws {
        self.init()
        try r.readObject(into: &self)
    }
}

extension JSONObjectEncodable {
    @inlinable
    public func encodeJSON(_ w: inout JSONWriter) {
        w.beginObject()
        encodeJSONFields(&w)
        w.endObject()
    }
}

// MARK: scalar conformances

extension String: JSONCodableValue {
    @inlinable
    public init(json r: inout JSONReader) throws { self = try r.readString() }
    @inlinable
    public func encodeJSON(_ w: inout JSONWriter) { w.string(self) }
}

extension Bool: JSONCodableValue {
    @inlinable
    public init(json r: inout JSONReader) throws { self = try r.readBool() }
    @inlinable
    public func encodeJSON(_ w: inout JSONWriter) { w.bool(self) }
}

extension Int32: JSONCodableValue {
    @inlinable
    public init(json r: inout JSONReader) throws {
        self = Int32(
            truncatingIfNeeded: try r.readInteger(min: Int64(Int32.min), max: Int64(Int32.max), goType: "int32"))
    }
    @inlinable
    public func encodeJSON(_ w: inout JSONWriter) { w.int(Int64(self)) }
}

extension Int64: JSONCodableValue {
    @inlinable
    public init(json r: inout JSONReader) throws {
        self = try r.readInteger(min: Int64.min, max: Int64.max, goType: "int64")
    }
    @inlinable
    public func encodeJSON(_ w: inout JSONWriter) { w.int(self) }
}

extension Double: JSONCodableValue {
    public init(json r: inout JSONReader) throws { self = try r.readDouble() }
    public func encodeJSON(_ w: inout JSONWriter) { w.double(self) }
}

extension Array: JSONDecodableValue where Element: JSONDecodableValue {
    @inlinable
    public init(json r: inout JSONReader) throws {
        self = try r.readArrayElements()
    }
}

extension Array: JSONEncodableValue where Element: JSONEncodableValue {
    @inlinable
    public func encodeJSON(_ w: inout JSONWriter) {
        w.beginArray()
        for e in self { e.encodeJSON(&w) }
        w.endArray()
    }
}

extension Dictionary: JSONDecodableValue where Key == String, Value: JSONDecodableValue {
    @inlinable
    public init(json r: inout JSONReader) throws {
        self = try r.readMapEntries()
    }
}

extension Dictionary: JSONEncodableValue where Key == String, Value: JSONEncodableValue {
    /// Writes entries sorted by key, as Go does.
    @inlinable
    public func encodeJSON(_ w: inout JSONWriter) {
        w.beginObject()
        if count == 1 {
            for (k, v) in self {
                w.key(k)
                v.encodeJSON(&w)
            }
        } else {
            for k in keys.sorted(by: JSONWriter.goLess) {
                w.key(k)
                self[k]!.encodeJSON(&w)
            }
        }
        w.endObject()
    }
}
