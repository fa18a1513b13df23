// Parsers for the operand forms of bpf_asm. Operands arrive with all
// whitespace removed ("[x+4]", "#htons(80)"), so each form is a plain
// string match. Structure is matched case-insensitively; label names are
// case-sensitive, as in bpf_asm.

enum Operands {
    /// Decimal, 0x hex, 0b binary or 0o octal, optionally signed; negative
    /// values wrap to u32 (`-1` is 0xffffffff). A bare leading zero ("010")
    /// is refused: bpf_asm reads it as octal, which surprises most readers.
    static func number(_ text: Substring) throws -> UInt32 {
        var s = text
        var negative = false
        if s.first == "-" { negative = true; s = s.dropFirst() } else if s.first == "+" { s = s.dropFirst() }
        let lower = s.lowercased()
        var radix = 10
        var digits = Substring(lower)
        for (prefix, base) in [("0x", 16), ("0b", 2), ("0o", 8)] where lower.hasPrefix(prefix) {
            radix = base
            digits = digits.dropFirst(2)
        }
        if radix == 10, digits.count > 1, digits.first == "0", digits.allSatisfy(\.isNumber) {
            throw OperandError("ambiguous number '\(text)': write 0o\(digits.dropFirst()) for octal or drop the leading zero")
        }
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && ($0.hexDigitValue ?? radix) < radix }) else {
            throw OperandError("bad number '\(text)'")
        }
        guard let value = UInt64(digits, radix: radix), value <= UInt64(UInt32.max) else {
            throw OperandError("number '\(text)' does not fit in 32 bits")
        }
        return negative ? UInt32(truncatingIfNeeded: -Int64(value)) : UInt32(value)
    }

    /// The text after `#`: terms joined by `|`, each a number, a symbolic
    /// constant, `htons(N)` or `ipv4(a.b.c.d)`.
    static func immediate(_ text: Substring, _ t: AsmTarget) throws -> UInt32 {
        guard !text.isEmpty else { throw OperandError("missing value after '#'") }
        var value: UInt32 = 0
        for term in text.split(separator: "|", omittingEmptySubsequences: false) {
            value |= try self.term(term, t)
        }
        return value
    }

    private static func term(_ term: Substring, _ t: AsmTarget) throws -> UInt32 {
        let lower = term.lowercased()
        if lower.hasPrefix("htons("), lower.hasSuffix(")") {
            let port = try number(term.dropFirst(6).dropLast())
            guard port <= 0xffff else { throw OperandError("htons(\(term.dropFirst(6).dropLast())): port must fit in 16 bits") }
            return SymbolicConstant.htons(UInt16(port), t.byteOrder)
        }
        if lower.hasPrefix("ipv4("), lower.hasSuffix(")") {
            guard let addr = SymbolicConstant.ipv4(String(term.dropFirst(5).dropLast()), t.byteOrder) else {
                throw OperandError("bad address in '\(term)': expected ipv4(a.b.c.d)")
            }
            return addr
        }
        if lower.hasPrefix("ipv6("), let close = lower.lastIndex(of: ")") {
            return try ipv6Word(term, close: close, t)
        }
        if lower == "o_largefile" { return t.oLargefile }
        if let v = t.openFlags[term.uppercased()] { return v }
        if let first = term.first, first.isNumber || first == "-" || first == "+" {
            return try number(term)
        }
        if let value = SymbolicConstant.value(String(term)) { return value }
        throw OperandError("unknown constant '\(term)': expected a number, htons(N), ipv4(a.b.c.d), ipv6(ADDR)[N] "
            + "or one of AF_*, SOCK_*, O_*, RESOLVE_*, IOSQE_*, IORING_OP_*")
    }

    /// `ipv6(ADDR)[N]`: word N (0-3) of an IPv6 address as a native load of
    /// its network-order bytes reads it (compare with connect.v6_addr.N).
    private static func ipv6Word(_ term: Substring, close: String.Index, _ t: AsmTarget) throws -> UInt32 {
        let lower = term.lowercased()
        let addr = String(lower[lower.index(lower.startIndex, offsetBy: 5)..<close])
        let rest = lower[lower.index(after: close)...]
        guard rest.hasPrefix("["), rest.hasSuffix("]"), let n = Int(rest.dropFirst().dropLast()), (0...3).contains(n) else {
            throw OperandError("'\(term)': name the word, ipv6(ADDR)[N] with N 0-3 (connect.v6_addr.N)")
        }
        guard let bytes = SymbolicConstant.ipv6(addr) else {
            throw OperandError("bad address in '\(term)': expected an IPv6 address such as fe80::1")
        }
        return t.byteOrder.word(Array(bytes[4 * n..<4 * n + 4]))
    }

    /// `#value`, or nil when the operand does not start with `#`.
    static func hashImmediate(_ op: Substring, _ t: AsmTarget) throws -> UInt32? {
        guard op.first == "#" else { return nil }
        return try immediate(op.dropFirst(), t)
    }

    static func isX(_ op: Substring) -> Bool { ["x", "%x"].contains(op.lowercased()) }
    static func isA(_ op: Substring) -> Bool { ["a", "%a"].contains(op.lowercased()) }
    static func isLen(_ op: Substring) -> Bool { ["len", "#len"].contains(op.lowercased()) }

    /// `M[k]`: scratch memory slot. The kernel checks k < 16, not us.
    static func memory(_ op: Substring) throws -> UInt32? {
        guard op.lowercased().hasPrefix("m["), op.hasSuffix("]") else { return nil }
        return try number(op.dropFirst(2).dropLast())
    }

    enum Bracket { case absolute(UInt32), indirect(UInt32), field(String) }

    /// `[k]`, `[x + k]` or `[field]`.
    static func bracket(_ op: Substring) throws -> Bracket? {
        guard op.first == "[", op.last == "]" else { return nil }
        let inner = op.dropFirst().dropLast()
        let lower = inner.lowercased()
        for prefix in ["x+", "%x+"] where lower.hasPrefix(prefix) {
            return .indirect(try number(inner.dropFirst(prefix.count)))
        }
        guard let first = inner.first else { throw OperandError("empty brackets '[]'") }
        if first.isNumber || first == "-" || first == "+" { return .absolute(try number(inner)) }
        return .field(lower)
    }

    /// `4*([k]&0xf)`, the IP header length idiom (BPF_MSH).
    static func nibble(_ op: Substring) throws -> UInt32? {
        let lower = op.lowercased()
        guard lower.hasPrefix("4*(["), lower.hasSuffix("]&0xf)") else { return nil }
        return try number(op.dropFirst(4).dropLast(6))
    }

    /// bpf_asm's ancillary-data names (`ld proto`, `ld #rand`): loads of
    /// SKF_AD_OFF + offset, which io_uring must refuse.
    static func ancillary(_ op: Substring) -> UInt32? {
        var name = op.lowercased()
        if name.hasPrefix("#") { name.removeFirst() }
        return ancillaryOffsets[name].map { BPF.ancillaryBase &+ $0 }
    }

    static let ancillaryOffsets: [String: UInt32] = [
        "proto": 0, "type": 4, "ifidx": 8, "nla": 12, "nlan": 16, "mark": 20, "queue": 24,
        "hatype": 28, "rxhash": 32, "cpu": 36, "vlan_tci": 44, "vlan_pr": 48, "vlan_avail": 48,
        "poff": 52, "rand": 56, "vlan_tpid": 60,
    ]

    enum Target { case label(String), offset(UInt32) }

    /// A jump target: a label name or a relative offset `+N`.
    static func target(_ op: Substring) throws -> Target {
        if op.first == "+" { return .offset(try number(op.dropFirst())) }
        guard isIdentifier(op) else {
            throw OperandError("bad jump target '\(op)': expected a label or +N")
        }
        return .label(String(op))
    }

    static func isIdentifier(_ s: Substring) -> Bool {
        guard let first = s.first, first.isASCII, first.isLetter || first == "_" else { return false }
        return s.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }
    }
}
