// The compiled plan's coding: the synthesized Codable conformances of the
// case model, written positionally in a compact binary form. JSON through
// FoundationEssentials took 3.9 s to decode the suite under TCG (the YAML
// trees plus the parser took 0.55 s), so the plan is coded like this:
//
// * a keyed container writes its values in the order the synthesized code
//   encodes them, without keys (decoding asks for them in the same order);
// * an optional (encodeIfPresent / decodeIfPresent) is a byte 0 (nil) or 1
//   and its value;
// * an enum case with associated values (a keyed container's nested
//   container) writes its case name first, which `allKeys` reads back;
// * a list is its count, then its items; integers are LEB128 (signed ones
//   zigzagged), strings their UTF-8 length and bytes, a Double its 8 bytes.
//
// Only the model's own Codable code runs through this: nothing else (no
// superEncoder, no dictionary keyed by strings, no optional as a list item)
// is supported, and an attempt throws rather than writing what cannot be read.

enum PlanCoder {
    struct Unsupported: Error, CustomStringConvertible {
        let what: String
        var description: String { "the plan coder does not support \(what)" }
    }

    static func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        let e = PlanEncoder()
        try value.encode(to: e)
        return e.out
    }

    static func decode<T: Decodable>(_ type: T.Type, from bytes: ArraySlice<UInt8>) throws -> T {
        let d = PlanDecoder(bytes: Array(bytes))
        let v = try T(from: d)
        guard d.at == d.bytes.count else { throw d.corrupt("\(d.bytes.count - d.at) bytes after the plan") }
        return v
    }
}

protocol OptionalMarker {}
extension Optional: OptionalMarker {}

final class PlanEncoder: Encoder {
    var out: [UInt8] = []
    var codingPath: [CodingKey] = []
    var userInfo: [CodingUserInfoKey: Any] = [:]

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        KeyedEncodingContainer(PlanKeyedEncoding<Key>(e: self))
    }
    func unkeyedContainer() -> UnkeyedEncodingContainer { PlanUnkeyedEncoding(e: self) }
    func singleValueContainer() -> SingleValueEncodingContainer { PlanSingleEncoding(e: self) }

    func uint(_ v: UInt64) {
        var u = v
        repeat {
            var b = UInt8(u & 0x7f)
            u >>= 7
            if u != 0 { b |= 0x80 }
            out.append(b)
        } while u != 0
    }
    func int(_ v: Int64) { uint(UInt64(bitPattern: (v << 1) ^ (v >> 63))) }
    func string(_ s: String) {
        var s = s
        s.withUTF8 { u in uint(UInt64(u.count)); out.append(contentsOf: u) }
    }

    /// Any value: the primitives directly, the rest through their own encode(to:).
    func value<T: Encodable>(_ v: T) throws {
        switch v {
        case let x as String: string(x)
        case let x as Bool: out.append(x ? 1 : 0)
        case let x as Double: uint(x.bitPattern)
        case let x as Float: uint(UInt64(x.bitPattern))
        case let x as Int: int(Int64(x))
        case let x as Int8: int(Int64(x))
        case let x as Int16: int(Int64(x))
        case let x as Int32: int(Int64(x))
        case let x as Int64: int(x)
        case let x as UInt: uint(UInt64(x))
        case let x as UInt8: uint(UInt64(x))
        case let x as UInt16: uint(UInt64(x))
        case let x as UInt32: uint(UInt64(x))
        case let x as UInt64: uint(x)
        case is OptionalMarker: throw PlanCoder.Unsupported(what: "an optional outside encodeIfPresent (\(T.self))")
        default: try v.encode(to: self)
        }
    }
}

struct PlanKeyedEncoding<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let e: PlanEncoder
    var codingPath: [CodingKey] { e.codingPath }

    mutating func encodeNil(forKey key: Key) throws { e.out.append(0) }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws { try e.value(value) }
    mutating func encodeIfPresent<T: Encodable>(_ value: T?, forKey key: Key) throws { try present(value) }
    mutating func encodeIfPresent(_ value: Bool?, forKey key: Key) throws { try present(value) }
    mutating func encodeIfPresent(_ value: String?, forKey key: Key) throws { try present(value) }
    mutating func encodeIfPresent(_ value: Double?, forKey key: Key) throws { try present(value) }
    mutating func encodeIfPresent(_ value: Float?, forKey key: Key) throws { try present(value) }
    mutating func encodeIfPresent(_ value: Int?, forKey key: Key) throws { try present(value) }
    mutating func encodeIfPresent(_ value: Int8?, forKey key: Key) throws { try present(value) }
    mutating func encodeIfPresent(_ value: Int16?, forKey key: Key) throws { try present(value) }
    mutating func encodeIfPresent(_ value: Int32?, forKey key: Key) throws { try present(value) }
    mutating func encodeIfPresent(_ value: Int64?, forKey key: Key) throws { try present(value) }
    mutating func encodeIfPresent(_ value: UInt?, forKey key: Key) throws { try present(value) }
    mutating func encodeIfPresent(_ value: UInt8?, forKey key: Key) throws { try present(value) }
    mutating func encodeIfPresent(_ value: UInt16?, forKey key: Key) throws { try present(value) }
    mutating func encodeIfPresent(_ value: UInt32?, forKey key: Key) throws { try present(value) }
    mutating func encodeIfPresent(_ value: UInt64?, forKey key: Key) throws { try present(value) }

    private func present<T: Encodable>(_ value: T?) throws {
        guard let value else { e.out.append(0); return }
        e.out.append(1)
        try e.value(value)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        e.string(key.stringValue)
        return KeyedEncodingContainer(PlanKeyedEncoding<NestedKey>(e: e))
    }
    mutating func nestedUnkeyedContainer(forKey key: Key) -> UnkeyedEncodingContainer {
        e.string(key.stringValue)
        return PlanUnkeyedEncoding(e: e)
    }
    mutating func superEncoder() -> Encoder { PlanUnsupportedEncoder() }
    mutating func superEncoder(forKey key: Key) -> Encoder { PlanUnsupportedEncoder() }
}

/// A list: a 4-byte little-endian count, patched as items are added (items
/// can be containers, so the count is not known before they are written).
struct PlanUnkeyedEncoding: UnkeyedEncodingContainer {
    let e: PlanEncoder
    let countAt: Int
    private(set) var count = 0
    var codingPath: [CodingKey] { e.codingPath }

    init(e: PlanEncoder) {
        self.e = e
        countAt = e.out.count
        e.out += [0, 0, 0, 0]
    }

    private mutating func bump() {
        count += 1
        for i in 0..<4 { e.out[countAt + i] = UInt8(truncatingIfNeeded: count >> (8 * i)) }
    }
    mutating func encodeNil() throws { throw PlanCoder.Unsupported(what: "nil as a list item") }
    mutating func encode<T: Encodable>(_ value: T) throws { bump(); try e.value(value) }
    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        bump()
        return KeyedEncodingContainer(PlanKeyedEncoding<NestedKey>(e: e))
    }
    mutating func nestedUnkeyedContainer() -> UnkeyedEncodingContainer { bump(); return PlanUnkeyedEncoding(e: e) }
    mutating func superEncoder() -> Encoder { PlanUnsupportedEncoder() }
}

struct PlanSingleEncoding: SingleValueEncodingContainer {
    let e: PlanEncoder
    var codingPath: [CodingKey] { e.codingPath }
    mutating func encodeNil() throws { throw PlanCoder.Unsupported(what: "a bare nil") }
    mutating func encode<T: Encodable>(_ value: T) throws { try e.value(value) }
}

/// superEncoder: never used by the model; everything written to it fails.
struct PlanUnsupportedEncoder: Encoder {
    var codingPath: [CodingKey] = []
    var userInfo: [CodingUserInfoKey: Any] = [:]
    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        preconditionFailure("PlanCoder: superEncoder is not supported")
    }
    func unkeyedContainer() -> UnkeyedEncodingContainer { preconditionFailure("PlanCoder: superEncoder is not supported") }
    func singleValueContainer() -> SingleValueEncodingContainer { preconditionFailure("PlanCoder: superEncoder is not supported") }
}

/// The primitives PlanDecoder reads itself, whatever container asks.
protocol PlanPrimitive { static func read(_ d: PlanDecoder) throws -> Self }
extension String: PlanPrimitive { static func read(_ d: PlanDecoder) throws -> String { try d.string() } }
extension Bool: PlanPrimitive {
    static func read(_ d: PlanDecoder) throws -> Bool {
        let b = try d.byte()
        guard b < 2 else { throw d.corrupt("a Bool of \(b)") }
        return b == 1
    }
}
extension Double: PlanPrimitive { static func read(_ d: PlanDecoder) throws -> Double { Double(bitPattern: try d.uint()) } }
extension Float: PlanPrimitive { static func read(_ d: PlanDecoder) throws -> Float { Float(bitPattern: try d.narrow(d.uint())) } }
extension Int: PlanPrimitive { static func read(_ d: PlanDecoder) throws -> Int { try d.narrow(d.int()) } }
extension Int8: PlanPrimitive { static func read(_ d: PlanDecoder) throws -> Int8 { try d.narrow(d.int()) } }
extension Int16: PlanPrimitive { static func read(_ d: PlanDecoder) throws -> Int16 { try d.narrow(d.int()) } }
extension Int32: PlanPrimitive { static func read(_ d: PlanDecoder) throws -> Int32 { try d.narrow(d.int()) } }
extension Int64: PlanPrimitive { static func read(_ d: PlanDecoder) throws -> Int64 { try d.int() } }
extension UInt: PlanPrimitive { static func read(_ d: PlanDecoder) throws -> UInt { try d.narrow(d.uint()) } }
extension UInt8: PlanPrimitive { static func read(_ d: PlanDecoder) throws -> UInt8 { try d.narrow(d.uint()) } }
extension UInt16: PlanPrimitive { static func read(_ d: PlanDecoder) throws -> UInt16 { try d.narrow(d.uint()) } }
extension UInt32: PlanPrimitive { static func read(_ d: PlanDecoder) throws -> UInt32 { try d.narrow(d.uint()) } }
extension UInt64: PlanPrimitive { static func read(_ d: PlanDecoder) throws -> UInt64 { try d.uint() } }

final class PlanDecoder: Decoder {
    let bytes: [UInt8]
    var at = 0
    var depth = 0
    var codingPath: [CodingKey] = []
    var userInfo: [CodingUserInfoKey: Any] = [:]
    init(bytes: [UInt8]) { self.bytes = bytes }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        KeyedDecodingContainer(PlanKeyedDecoding<Key>(d: self))
    }
    func unkeyedContainer() throws -> UnkeyedDecodingContainer { try PlanUnkeyedDecoding(d: self) }
    func singleValueContainer() throws -> SingleValueDecodingContainer { PlanSingleDecoding(d: self) }

    func corrupt(_ what: String) -> DecodingError {
        DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "\(what) at byte \(at + 8)"))
    }
    func byte() throws -> UInt8 {
        guard at < bytes.count else { throw corrupt("the plan ends early") }
        defer { at += 1 }
        return bytes[at]
    }
    func uint() throws -> UInt64 {
        var v: UInt64 = 0, shift: UInt64 = 0
        while true {
            let b = try byte()
            guard shift < 64 else { throw corrupt("an integer too long") }
            v |= UInt64(b & 0x7f) << shift
            if b & 0x80 == 0 { return v }
            shift += 7
        }
    }
    func int() throws -> Int64 {
        let u = try uint()
        return Int64(bitPattern: (u >> 1) ^ (0 &- (u & 1)))
    }
    func narrow<A: BinaryInteger, B: FixedWidthInteger>(_ v: A) throws -> B {
        guard let n = B(exactly: v) else { throw corrupt("\(v) does not fit \(B.self)") }
        return n
    }
    func string() throws -> String {
        let n = try uint()
        guard n <= UInt64(bytes.count - at) else { throw corrupt("a string past the end") }
        defer { at += Int(n) }
        return String(decoding: bytes[at..<at + Int(n)], as: UTF8.self)
    }
    func count() throws -> Int {
        guard bytes.count - at >= 4 else { throw corrupt("the plan ends early") }
        var n = 0
        for i in 0..<4 { n |= Int(bytes[at + i]) << (8 * i) }
        at += 4
        // Every item takes at least a byte, except empty containers; bound it anyway.
        guard n <= bytes.count else { throw corrupt("a list of \(n) items in \(bytes.count) bytes") }
        return n
    }

    func value<T: Decodable>(_ type: T.Type) throws -> T {
        if let p = type as? PlanPrimitive.Type { return try p.read(self) as! T }
        depth += 1
        defer { depth -= 1 }
        guard depth < 256 else { throw corrupt("nesting deeper than 256") }
        return try T(from: self)
    }
}

struct PlanKeyedDecoding<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let d: PlanDecoder
    var codingPath: [CodingKey] { d.codingPath }

    /// Asked only by an enum's synthesized init: the case name its encoder wrote.
    var allKeys: [Key] {
        let saved = d.at
        guard let name = try? d.string(), let key = Key(stringValue: name) else { d.at = saved; return [] }
        return [key]
    }
    func contains(_ key: Key) -> Bool { true }
    /// The presence byte of an optional (decodeIfPresent asks this first).
    func decodeNil(forKey key: Key) throws -> Bool {
        let b = try d.byte()
        guard b < 2 else { throw d.corrupt("a presence byte of \(b) for \(key.stringValue)") }
        return b == 0
    }
    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T { try d.value(type) }
    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        KeyedDecodingContainer(PlanKeyedDecoding<NestedKey>(d: d))
    }
    func nestedUnkeyedContainer(forKey key: Key) throws -> UnkeyedDecodingContainer {
        _ = try d.string()
        return try PlanUnkeyedDecoding(d: d)
    }
    func superDecoder() throws -> Decoder { throw PlanCoder.Unsupported(what: "superDecoder") }
    func superDecoder(forKey key: Key) throws -> Decoder { throw PlanCoder.Unsupported(what: "superDecoder") }
}

struct PlanUnkeyedDecoding: UnkeyedDecodingContainer {
    let d: PlanDecoder
    let total: Int
    var currentIndex = 0
    var codingPath: [CodingKey] { d.codingPath }
    var count: Int? { total }
    var isAtEnd: Bool { currentIndex >= total }

    init(d: PlanDecoder) throws { self.d = d; total = try d.count() }

    private mutating func next() throws {
        guard !isAtEnd else { throw d.corrupt("a list read past its end") }
        currentIndex += 1
    }
    mutating func decodeNil() throws -> Bool { false }
    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { try next(); return try d.value(type) }
    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        try next()
        return KeyedDecodingContainer(PlanKeyedDecoding<NestedKey>(d: d))
    }
    mutating func nestedUnkeyedContainer() throws -> UnkeyedDecodingContainer { try next(); return try PlanUnkeyedDecoding(d: d) }
    mutating func superDecoder() throws -> Decoder { throw PlanCoder.Unsupported(what: "superDecoder") }
}

struct PlanSingleDecoding: SingleValueDecodingContainer {
    let d: PlanDecoder
    var codingPath: [CodingKey] { d.codingPath }
    func decodeNil() -> Bool { false }
    func decode<T: Decodable>(_ type: T.Type) throws -> T { try d.value(type) }
}
