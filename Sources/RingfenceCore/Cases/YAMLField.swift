#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// A YAML node with its file, line and field path, so every conversion
/// error can say exactly where it is.
struct YAMLField {
    let node: CaseNode
    let file: String
    let path: String

    var line: Int { node.line }

    func error(_ message: String) -> CaseFileError {
        CaseFileError(file: file, line: line, field: path, message: message)
    }

    func child(_ node: CaseNode, _ name: String) -> YAMLField {
        YAMLField(node: node, file: file, path: path.isEmpty ? name : "\(path).\(name)")
    }

    var isNull: Bool { node.kind == .scalar && node.isNull }

    func string() throws -> String {
        guard node.kind == .scalar else { throw error("expected a string, found \(kindName)") }
        return node.text
    }

    func bool() throws -> Bool {
        switch try string().lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default: throw error("expected true or false")
        }
    }

    var kindName: String {
        switch node.kind {
        case .scalar: return "a scalar"
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        }
    }

    /// Key/value pairs in order; rejects keys outside `allowed` (typos must not pass silently).
    /// With `unknown`, an unknown key goes there and is skipped; without, it is thrown.
    func mapping(allowed: Set<String>? = nil, unknown: ((CaseFileError) -> Void)? = nil) throws -> [(String, YAMLField)] {
        guard node.kind == .mapping else { throw error("expected a mapping, found \(kindName)") }
        var out: [(String, YAMLField)] = []
        for (k, v) in node.pairs {
            guard k.kind == .scalar else { throw error("mapping keys must be strings") }
            if let allowed, !allowed.contains(k.text) {
                let f = YAMLField(node: k, file: file, path: path)
                let e = f.error("unknown key '\(k.text)' (expected one of: \(allowed.sorted().joined(separator: ", ")))")
                guard let unknown else { throw e }
                unknown(e)
                continue
            }
            out.append((k.text, child(v, k.text)))
        }
        return out
    }

    func sequence() throws -> [YAMLField] {
        guard node.kind == .sequence else { throw error("expected a list, found \(kindName)") }
        return node.children.enumerated().map { YAMLField(node: $0.element, file: file, path: "\(path)[\($0.offset)]") }
    }

    /// An integer: decimal, 0x hex, 0o octal, 0b binary, negative, or a symbolic constant.
    func integer<T: FixedWidthInteger>(_: T.Type = T.self, symbols: ((String) -> UInt64?)? = nil) throws -> T {
        let text = try string()
        // 0x8000_0000 reads as a number (a plain filter: Foundation's replacingOccurrences
        // bridges to NSString and showed in the loading profile)
        let digits = text.contains("_") ? String(text.filter { $0 != "_" }) : text
        if let value = YAMLField.integerValue(digits, as: T.self) { return value }
        if YAMLField.parseInteger(digits) != nil {
            throw error("\(text) is out of range: this field is \(T.isSigned ? "signed" : "unsigned") \(T.bitWidth)-bit, \(T.min) to \(T.max)")
        }
        if let symbols, let v = symbols(text) {
            if let t = T(exactly: v) { return t }
            throw error("\(text) = \(v) is out of range: this field is \(T.bitWidth)-bit, \(T.min) to \(T.max)")
        }
        throw error("expected an integer, found '\(text)'")
    }

    /// A bitmask: an integer, one name, or a list of names/integers or-ed together.
    func flags<T: FixedWidthInteger>(_: T.Type, names: (String) -> T?, what: String) throws -> T {
        if node.kind == .sequence {
            var v: T = 0
            for item in try sequence() { v |= try item.flags(T.self, names: names, what: what) }
            return v
        }
        let text = try string()
        if let t = YAMLField.integerValue(text, as: T.self) { return t }
        if let t = names(text) { return t }
        if text.contains("|") {   // "SOCK_DGRAM|SOCK_CLOEXEC", as docs/writing-cases.md promises
            var v: T = 0
            for part in text.split(separator: "|") {
                let p = String(part).trimmingBlanks()
                guard let t = YAMLField.integerValue(p, as: T.self) ?? names(p) else { throw error("unknown \(what) '\(p)'") }
                v |= t
            }
            return v
        }
        throw error("unknown \(what) '\(text)'")
    }

    static func integerValue<T: FixedWidthInteger>(_ text: String, as: T.Type) -> T? {
        guard let (magnitude, negative) = parseInteger(text) else { return nil }
        if negative {
            guard magnitude <= UInt64(Int64.max) else { return nil }
            return T(exactly: -Int64(magnitude))
        }
        return T(exactly: magnitude)
    }

    /// Magnitude and sign of an integer literal, nil when `s` is not one.
    static func parseInteger(_ s: String) -> (UInt64, Bool)? {
        var text = Substring(s)
        var negative = false
        if text.hasPrefix("-") { negative = true; text = text.dropFirst() }
        var radix = 10
        if text.hasPrefix("0x") || text.hasPrefix("0X") { radix = 16; text = text.dropFirst(2) }
        else if text.hasPrefix("0b") { radix = 2; text = text.dropFirst(2) }
        else if text.hasPrefix("0o") { radix = 8; text = text.dropFirst(2) }
        guard !text.isEmpty, let u = UInt64(text, radix: radix) else { return nil }
        return (u, negative)
    }
}
