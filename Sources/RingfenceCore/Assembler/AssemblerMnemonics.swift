// Mnemonic + operands -> instructions, following tools/bpf/bpf_exp.y.
// Only what cannot be encoded is refused: the suite must be able to send
// the kernel every instruction it ought to reject (ldh [0], mod #3, ret x).

/// An encoded instruction whose jump fields may still name a label.
struct PendingInstruction {
    var insn: BPFInstruction
    var jt: String? = nil
    var jf: String? = nil
    var ja: String? = nil
}

enum Mnemonics {
    private typealias O = Operands

    static func encode(_ mnemonic: String, _ ops: [Substring], _ t: AsmTarget) throws -> [PendingInstruction] {
        let m = mnemonic.lowercased()
        switch m {
        case "ld": return try load(ops, t)
        case "ldh", "ldb": return [try narrowLoad(m == "ldh" ? BPF.H : BPF.B, ops)]
        case "ldi", "ldxi":
            // bpf_asm lets ldi/ldxi drop the `#`.
            let op = try single(m, ops, "#k")
            let k = try O.hashImmediate(op, t) ?? O.immediate(op, t)
            return [plain((m == "ldi" ? BPF.LD : BPF.LDX) | BPF.IMM, k)]
        case "ldx": return [try loadX(ops, t)]
        case "ldxb":
            let op = try single(m, ops, "4*([k]&0xf)")
            guard let k = try O.nibble(op) else { throw usage(m, "4*([k]&0xf)", op) }
            return [plain(BPF.LDX | BPF.B | BPF.MSH, k)]
        case "st", "stx":
            let op = try single(m, ops, "M[k]")
            guard let k = try O.memory(op) else { throw usage(m, "M[k]", op) }
            return [plain(m == "st" ? BPF.ST : BPF.STX, k)]
        case "jmp", "ja":
            let op = try single(m, ops, "label or +N")
            switch try O.target(op) {
            case .label(let name): return [PendingInstruction(insn: BPF.stmt(BPF.JMP | BPF.JA), ja: name)]
            case .offset(let k): return [plain(BPF.JMP | BPF.JA, k)]
            }
        case "jeq": return [try conditional(m, BPF.JEQ, ops, negated: false, t)]
        case "jgt": return [try conditional(m, BPF.JGT, ops, negated: false, t)]
        case "jge": return [try conditional(m, BPF.JGE, ops, negated: false, t)]
        case "jset": return [try conditional(m, BPF.JSET, ops, negated: false, t)]
        case "jne", "jneq": return [try conditional(m, BPF.JEQ, ops, negated: true, t)]
        case "jlt": return [try conditional(m, BPF.JGE, ops, negated: true, t)]
        case "jle": return [try conditional(m, BPF.JGT, ops, negated: true, t)]
        case "neg", "tax", "txa":
            guard ops.isEmpty else { throw OperandError("\(m) takes no operand") }
            let code = ["neg": BPF.ALU | BPF.NEG, "tax": BPF.MISC | BPF.TAX, "txa": BPF.MISC | BPF.TXA][m]!
            return [plain(code, 0)]
        case "ret":
            let op = try single(m, ops, "#k, a or x")
            if O.isA(op) { return [plain(BPF.RET | BPF.A, 0)] }
            // RET|X exists in bpf_asm but not in the kernel: kept so cases can send it.
            if O.isX(op) { return [plain(BPF.RET | BPF.X, 0)] }
            guard let k = try O.hashImmediate(op, t) else { throw usage(m, "#k, a or x", op) }
            return [plain(BPF.RET | BPF.K, k)]
        default:
            if let op = aluOps[m] {
                let operand = try single(m, ops, "#k or x")
                if O.isX(operand) { return [plain(BPF.ALU | op | BPF.X, 0)] }
                guard let k = try O.hashImmediate(operand, t) else { throw usage(m, "#k or x", operand) }
                return [plain(BPF.ALU | op | BPF.K, k)]
            }
            throw OperandError("unknown instruction '\(mnemonic)'")
        }
    }

    static let aluOps: [String: UInt16] = [
        "add": BPF.ADD, "sub": BPF.SUB, "mul": BPF.MUL, "div": BPF.DIV, "mod": BPF.MOD,
        "and": BPF.AND, "or": BPF.OR, "xor": BPF.XOR, "lsh": BPF.LSH, "rsh": BPF.RSH,
    ]

    private static func plain(_ code: UInt16, _ k: UInt32) -> PendingInstruction {
        PendingInstruction(insn: BPF.stmt(code, k))
    }

    private static func usage(_ m: String, _ forms: String, _ op: Substring) -> OperandError {
        OperandError("\(m): expected \(forms), got '\(op)'")
    }

    private static func single(_ m: String, _ ops: [Substring], _ forms: String) throws -> Substring {
        guard ops.count == 1 else { throw OperandError("\(m) takes one operand (\(forms)), got \(ops.count)") }
        return ops[0]
    }

    private static let ldForms = "#k, #len, M[k], [k], [x + k], [field] or an extension"

    private static func load(_ ops: [Substring], _ t: AsmTarget) throws -> [PendingInstruction] {
        let op = try single("ld", ops, ldForms)
        if O.isLen(op) { return [plain(BPF.LD | BPF.W | BPF.LEN, 0)] }
        if let k = O.ancillary(op) { return [plain(BPF.LD | BPF.W | BPF.ABS, k)] }
        if let k = try O.hashImmediate(op, t) { return [plain(BPF.LD | BPF.IMM, k)] }
        if let k = try O.memory(op) { return [plain(BPF.LD | BPF.MEM, k)] }
        switch try O.bracket(op) {
        case .absolute(let k): return [plain(BPF.LD | BPF.W | BPF.ABS, k)]
        case .indirect(let k): return [plain(BPF.LD | BPF.W | BPF.IND, k)]
        case .field(let name): return try field(name, t.byteOrder).map { PendingInstruction(insn: $0) }
        case nil: throw usage("ld", ldForms, op)
        }
    }

    private static func narrowLoad(_ size: UInt16, _ ops: [Substring]) throws -> PendingInstruction {
        let m = size == BPF.H ? "ldh" : "ldb"
        let op = try single(m, ops, "[k], [x + k] or an extension")
        if let k = O.ancillary(op) { return plain(BPF.LD | size | BPF.ABS, k) }
        switch try O.bracket(op) {
        case .absolute(let k): return plain(BPF.LD | size | BPF.ABS, k)
        case .indirect(let k): return plain(BPF.LD | size | BPF.IND, k)
        case .field(let name):
            throw OperandError("\(m) [\(name)]: named context fields are 32-bit loads, use ld")
        case nil: throw usage(m, "[k], [x + k] or an extension", op)
        }
    }

    private static func loadX(_ ops: [Substring], _ t: AsmTarget) throws -> PendingInstruction {
        let forms = "#k, #len, M[k] or 4*([k]&0xf)"
        let op = try single("ldx", ops, forms)
        if O.isLen(op) { return plain(BPF.LDX | BPF.W | BPF.LEN, 0) }
        if let k = try O.hashImmediate(op, t) { return plain(BPF.LDX | BPF.IMM, k) }
        if let k = try O.memory(op) { return plain(BPF.LDX | BPF.MEM, k) }
        if let k = try O.nibble(op) { return plain(BPF.LDX | BPF.B | BPF.MSH, k) }
        throw usage("ldx", forms, op)
    }

    /// `ld [field]`: one aligned word load, then shift and mask for sub-word
    /// fields, since io_uring only allows aligned 32-bit context loads; the
    /// word, shift and mask are those of `order` (ContextField.access).
    static func field(_ name: String, _ order: ByteOrder) throws -> [BPFInstruction] {
        guard let f = ContextField.named(name) else {
            let wider = ContextField.all.map(\.name).filter { $0.hasPrefix(name + ".") }
            if !wider.isEmpty {
                throw OperandError("context field '\(name)' is wider than 32 bits: load \(wider.joined(separator: " or "))")
            }
            throw OperandError("unknown context field '\(name)'; known fields: "
                + ContextField.all.map(\.name).joined(separator: ", "))
        }
        let a = f.access(order)
        var insns = [BPF.stmt(BPF.LD | BPF.W | BPF.ABS, a.wordOffset)]
        if a.shift != 0 { insns.append(BPF.stmt(BPF.ALU | BPF.RSH | BPF.K, a.shift)) }
        if let mask = a.mask { insns.append(BPF.stmt(BPF.ALU | BPF.AND | BPF.K, mask)) }
        return insns
    }

    /// `jxx #k|x, Lt[, Lf]`. The negated pseudo-ops (jne, jlt, jle) encode as
    /// jeq/jge/jgt with the targets swapped; with one target it becomes jf and
    /// the true branch falls through, as bpf_asm does.
    private static func conditional(_ m: String, _ op: UInt16, _ ops: [Substring], negated: Bool, _ t: AsmTarget) throws -> PendingInstruction {
        guard ops.count == 2 || ops.count == 3 else {
            throw OperandError("\(m) takes #k or x, then one or two jump targets, got \(ops.count) operands")
        }
        var p: PendingInstruction
        if O.isX(ops[0]) {
            p = plain(BPF.JMP | op | BPF.X, 0)
        } else if let k = try O.hashImmediate(ops[0], t) {
            p = plain(BPF.JMP | op | BPF.K, k)
        } else {
            throw usage(m, "#k or x as first operand", ops[0])
        }
        let first = try O.target(ops[1])
        let second = ops.count == 3 ? try O.target(ops[2]) : .offset(0)
        let (t, f) = negated ? (second, first) : (first, second)
        try assign(t, to: &p.insn.jt, label: &p.jt)
        try assign(f, to: &p.insn.jf, label: &p.jf)
        return p
    }

    private static func assign(_ target: Operands.Target, to field: inout UInt8, label: inout String?) throws {
        switch target {
        case .label(let name): label = name
        case .offset(let n):
            guard n <= 255 else { throw OperandError("jump offset +\(n) does not fit in 8 bits (jt/jf are 0...255)") }
            field = UInt8(n)
        }
    }
}
