// Decoding an instruction back to its bpf_asm form, shared by the listing and
// the re-assemblable source. An instruction is "canonical" when the fields
// its form ignores are zero; anything else (unknown codes, `ret #1` with a
// nonzero jt) is shown raw so that re-assembly gives back the same bytes.

struct InstructionForm {
    enum Operand {
        case none
        case immediate(UInt32)   // #k
        case length              // #len
        case memory(UInt32)      // M[k]
        case absolute(UInt32)    // [k]
        case indirect(UInt32)    // [x + k]
        case nibble(UInt32)      // 4*([k]&0xf)
        case x, a
    }
    enum Jump { case none, always(UInt32), conditional(jt: UInt8, jf: UInt8) }

    let mnemonic: String
    let operand: Operand
    let jump: Jump

    /// Nil for codes bpf_asm cannot write, or fields the form does not use.
    init?(_ insn: BPFInstruction) {
        let code = insn.code, k = insn.k
        var usesK = true, usesJumps = false
        switch code {
        case BPF.LD | BPF.IMM: (mnemonic, operand) = ("ld", .immediate(k))
        case BPF.LD | BPF.W | BPF.LEN: (mnemonic, operand) = ("ld", .length); usesK = false
        case BPF.LD | BPF.MEM: (mnemonic, operand) = ("ld", .memory(k))
        case BPF.LD | BPF.W | BPF.ABS: (mnemonic, operand) = ("ld", .absolute(k))
        case BPF.LD | BPF.H | BPF.ABS: (mnemonic, operand) = ("ldh", .absolute(k))
        case BPF.LD | BPF.B | BPF.ABS: (mnemonic, operand) = ("ldb", .absolute(k))
        case BPF.LD | BPF.W | BPF.IND: (mnemonic, operand) = ("ld", .indirect(k))
        case BPF.LD | BPF.H | BPF.IND: (mnemonic, operand) = ("ldh", .indirect(k))
        case BPF.LD | BPF.B | BPF.IND: (mnemonic, operand) = ("ldb", .indirect(k))
        case BPF.LDX | BPF.IMM: (mnemonic, operand) = ("ldx", .immediate(k))
        case BPF.LDX | BPF.W | BPF.LEN: (mnemonic, operand) = ("ldx", .length); usesK = false
        case BPF.LDX | BPF.MEM: (mnemonic, operand) = ("ldx", .memory(k))
        case BPF.LDX | BPF.B | BPF.MSH: (mnemonic, operand) = ("ldxb", .nibble(k))
        case BPF.ST: (mnemonic, operand) = ("st", .memory(k))
        case BPF.STX: (mnemonic, operand) = ("stx", .memory(k))
        case BPF.ALU | BPF.NEG: (mnemonic, operand) = ("neg", .none); usesK = false
        case BPF.MISC | BPF.TAX: (mnemonic, operand) = ("tax", .none); usesK = false
        case BPF.MISC | BPF.TXA: (mnemonic, operand) = ("txa", .none); usesK = false
        case BPF.RET | BPF.K: (mnemonic, operand) = ("ret", .immediate(k))
        case BPF.RET | BPF.A: (mnemonic, operand) = ("ret", .a); usesK = false
        case BPF.RET | BPF.X: (mnemonic, operand) = ("ret", .x); usesK = false
        case BPF.JMP | BPF.JA: (mnemonic, operand) = ("ja", .none)
        default:
            // ALU and conditional jumps: op | src | class, nothing above bit 7.
            let src = code & BPF.X, op = code & 0xf0
            guard code <= 0xff else { return nil }
            switch code & 0x07 {
            case BPF.ALU:
                guard let name = Mnemonics.aluOps.first(where: { $0.value == op })?.key else { return nil }
                mnemonic = name
            case BPF.JMP where op >= BPF.JEQ && op <= BPF.JSET:
                mnemonic = ["jeq", "jgt", "jge", "jset"][Int(op >> 4) - 1]
                usesJumps = true
            default: return nil
            }
            operand = src == BPF.X ? .x : .immediate(k)
            usesK = src == BPF.K
        }
        if code == BPF.JMP | BPF.JA {
            jump = .always(k)
        } else if usesJumps {
            jump = .conditional(jt: insn.jt, jf: insn.jf)
        } else {
            jump = .none
        }
        if !usesK && k != 0 { return nil }
        if !usesJumps && (insn.jt != 0 || insn.jf != 0) { return nil }
    }
}
