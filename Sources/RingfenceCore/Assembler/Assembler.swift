// bpf_asm text -> classic BPF instructions.
//
// Syntax is the kernel's bpf_asm (Documentation/networking/filter.rst,
// tools/bpf/bpf_exp.y) with changes that suit case files:
//   - statements end at a newline or `;`, so a program fits on one YAML line;
//   - comments are `//` to end of line (bpf_asm's `;` comments are gone);
//   - `ld [field]` names an io_uring_bpf_ctx field (see ContextField) and
//     expands to `ld [word]`, `rsh #shift` (if any), `and #mask` (if any);
//   - immediates may be symbolic: `#AF_INET`, `#O_CREAT|O_EXCL`,
//     `#IORING_OP_SOCKET`, `#htons(80)`, `#ipv4(127.0.0.1)`, `#ipv6(::1)[3]`,
//     `#O_LARGEFILE`;
//   - named fields and the byte-order helpers are computed for the target's
//     byte order (`assemble(_:byteOrder:)`, little-endian unless told);
//   - numbers are decimal, 0x hex, 0b binary or 0o octal; `010` is refused
//     because bpf_asm would read it as octal; negative numbers wrap to u32;
//   - jump targets are labels or relative offsets `+N`; a label with no
//     instruction after it marks the end of the program;
//   - `{ code, jt, jf, k }` (bpf_asm -c output) is emitted verbatim.
// Nothing the kernel might refuse is refused here (ldh, mod, ret x, jumps
// past the end, > 4096 instructions): only what cannot be encoded.

/// What a program is assembled for: the byte order (named fields,
/// `#htons`, `#ipv4`, `#ipv6`) and the architecture's `O_LARGEFILE`, which the
/// kernel ORs into open flags (force_o_largefile()): 0x8000 in
/// include/uapi/asm-generic/fcntl.h (x86_64, s390x), 0x20000 in
/// arch/arm64/include/uapi/asm/fcntl.h. The exporter assembles with
/// `oLargefile: 0` as well to find the instructions that carry it.
public struct AsmTarget: Sendable, Equatable {
    public var byteOrder: ByteOrder
    public var oLargefile: UInt32
    /// Values for the open flags whose value is per architecture
    /// (SymbolicConstant.archOpenFlags), where they differ from x86_64's.
    public var openFlags: [String: UInt32] = [:]
    public init(byteOrder: ByteOrder = .little, oLargefile: UInt32 = AsmTarget.x86OLargefile) {
        self.byteOrder = byteOrder
        self.oLargefile = oLargefile
    }
    /// O_LARGEFILE of x86_64 (asm-generic), the host the Swift guest runs on.
    public static let x86OLargefile: UInt32 = 0x8000
    public static let host = AsmTarget(byteOrder: .host)
}

public enum Assembler {
    public static func assemble(_ source: String) throws -> [BPFInstruction] {
        try assemble(source, target: AsmTarget())
    }

    /// The program for a machine of `byteOrder` (little-endian: the host the
    /// Swift guest runs on). Both orders give the same number of instructions.
    public static func assemble(_ source: String, byteOrder: ByteOrder) throws -> [BPFInstruction] {
        try assemble(source, target: AsmTarget(byteOrder: byteOrder))
    }

    public static func assemble(_ source: String, target: AsmTarget) throws -> [BPFInstruction] {
        var program: [(pending: PendingInstruction, line: Int)] = []
        var labels: [String: Int] = [:]
        for statement in statements(source) {
            do {
                var text = statement.text
                while let (label, rest) = try splitLabel(text) {
                    guard labels[label] == nil else { throw OperandError("duplicate label '\(label)'") }
                    // A label with nothing after it marks the end of the program.
                    labels[label] = program.count
                    text = rest
                }
                guard !text.isEmpty else { continue }
                for p in try instruction(text, target) { program.append((p, statement.line)) }
            } catch let e as OperandError {
                throw AssemblyError(line: statement.line, message: e.message)
            }
        }
        guard !program.isEmpty else { throw AssemblyError(line: 1, message: "empty program: no instructions") }
        return try program.enumerated().map { pc, entry in
            try resolve(entry.pending, pc: pc, line: entry.line, labels: labels)
        }
    }

    /// The value of an immediate as a case file writes it, with or without
    /// the leading `#`: "80", "#htons(80)", "O_CREAT|O_EXCL", "ipv4(10.0.0.1)".
    public static func immediate(_ text: String, target: AsmTarget = AsmTarget()) throws -> UInt32 {
        var t = Substring(text.filter { !$0.isWhitespace })
        if t.first == "#" { t = t.dropFirst() }
        do { return try Operands.immediate(t, target) } catch let e as OperandError {
            throw AssemblyError(line: 1, message: e.message)
        }
    }

    /// Every raw `ld [k]` (an absolute context load written as a number, not
    /// a named field) in `source`, with its program line. Lint uses it: such a
    /// load reads the same word on every byte order, which for a sub-word field
    /// or a u64 half is not the same field (ContextField.orderDependentWord).
    public static func rawContextLoads(_ source: String) -> [(line: Int, offset: UInt32)] {
        var out: [(line: Int, offset: UInt32)] = []
        for statement in statements(source) {
            var text = statement.text
            while let colon = text.firstIndex(of: ":"), !text[..<colon].contains("("),
                  Operands.isIdentifier(trim(text[..<colon])) {
                text = trim(text[text.index(after: colon)...])
            }
            let end = text.firstIndex { $0.isWhitespace } ?? text.endIndex
            guard text[..<end].lowercased() == "ld" else { continue }
            let op = Substring(text[end...].filter { !$0.isWhitespace })
            if case .absolute(let k)? = try? Operands.bracket(op) { out.append((statement.line, k)) }
        }
        return out
    }

    struct Statement { let line: Int; let text: Substring }

    /// Comment-free, trimmed, non-empty statements with their line numbers.
    static func statements(_ source: String) -> [Statement] {
        var out: [Statement] = []
        // isNewline, not "\n": Swift reads "\r\n" as one Character.
        for (i, physical) in source.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let code = physical.firstRange(of: "//").map { physical[..<$0.lowerBound] } ?? physical
            for piece in code.split(separator: ";") {
                let text = trim(piece)
                if !text.isEmpty { out.append(Statement(line: i + 1, text: text)) }
            }
        }
        return out
    }

    static func trim(_ s: Substring) -> Substring {
        let start = s.firstIndex { !$0.isWhitespace } ?? s.endIndex
        let end = s.lastIndex { !$0.isWhitespace }.map { s.index(after: $0) } ?? start
        return start < end ? s[start..<end] : s[start..<start]
    }

    /// `name: rest` -> (name, rest); nil when the statement has no label.
    private static func splitLabel(_ text: Substring) throws -> (String, Substring)? {
        // A colon inside an operand (`#ipv6(fe80::1)[0]`) is not a label's.
        guard let colon = text.firstIndex(of: ":"), !text[..<colon].contains("(") else { return nil }
        let name = trim(text[..<colon])
        guard Operands.isIdentifier(name) else { throw OperandError("bad label '\(name)'") }
        return (String(name), trim(text[text.index(after: colon)...]))
    }

    private static func instruction(_ text: Substring, _ t: AsmTarget) throws -> [PendingInstruction] {
        if text.first == "{" { return [PendingInstruction(insn: try raw(text, t))] }
        let mnemonicEnd = text.firstIndex { $0.isWhitespace } ?? text.endIndex
        let mnemonic = String(text[..<mnemonicEnd])
        let rest = text[mnemonicEnd...].filter { !$0.isWhitespace }
        let operands = rest.isEmpty ? [] : rest.split(separator: ",", omittingEmptySubsequences: false)
        return try Mnemonics.encode(mnemonic, operands, t)
    }

    /// `{ code, jt, jf, k }` (bpf_asm -c output, trailing comma allowed):
    /// emitted as written, never validated, so cases can send anything.
    private static func raw(_ text: Substring, _ t: AsmTarget) throws -> BPFInstruction {
        var body = text.filter { !$0.isWhitespace }[...]
        if body.hasSuffix(",") { body = body.dropLast() }
        guard body.hasPrefix("{"), body.hasSuffix("}") else {
            throw OperandError("raw instruction must look like { code, jt, jf, k }")
        }
        let fields = body.dropFirst().dropLast().split(separator: ",", omittingEmptySubsequences: false)
        guard fields.count == 4 else {
            throw OperandError("raw instruction needs 4 fields { code, jt, jf, k }, got \(fields.count)")
        }
        let code = try Operands.number(fields[0])
        let jt = try Operands.number(fields[1])
        let jf = try Operands.number(fields[2])
        guard code <= 0xffff else { throw OperandError("raw code \(fields[0]) does not fit in 16 bits") }
        guard jt <= 0xff, jf <= 0xff else { throw OperandError("raw jt/jf must be 0...255") }
        let k = try Operands.immediate(fields[3].first == "#" ? fields[3].dropFirst() : fields[3], t)
        return BPFInstruction(code: UInt16(code), jt: UInt8(jt), jf: UInt8(jf), k: k)
    }

    /// Label targets become offsets relative to the next instruction.
    private static func resolve(_ p: PendingInstruction, pc: Int, line: Int, labels: [String: Int]) throws -> BPFInstruction {
        var insn = p.insn
        func target(_ name: String) throws -> Int {
            guard let t = labels[name] else { throw AssemblyError(line: line, message: "undefined label '\(name)'") }
            return t - pc - 1
        }
        func offset8(_ name: String) throws -> UInt8 {
            let delta = try target(name)
            guard (0...255).contains(delta) else {
                throw AssemblyError(line: line, message: delta < 0
                    ? "conditional jump to '\(name)' goes backwards; jt/jf only jump forward"
                    : "conditional jump to '\(name)' is \(delta) instructions away; jt/jf reach at most 255")
            }
            return UInt8(delta)
        }
        if let name = p.jt { insn.jt = try offset8(name) }
        if let name = p.jf { insn.jf = try offset8(name) }
        // A backward `ja` wraps like bpf_asm does; the kernel rejects it, which is for the kernel to say.
        if let name = p.ja { insn.k = UInt32(truncatingIfNeeded: try target(name)) }
        return insn
    }
}
