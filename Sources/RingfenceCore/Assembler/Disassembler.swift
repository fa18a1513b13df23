// Instructions -> text: a tcpdump -d style listing for people, and bpf_asm
// source that Assembler.assemble turns back into the same instructions.

public enum Disassembler {
    /// One listing line per instruction, jump targets as absolute indexes.
    public static func listing(_ insns: [BPFInstruction]) -> String {
        insns.enumerated().map { line($1, pc: $0) }.joined(separator: "\n")
    }

    /// `(002) jeq      #0x1             jt 3    jf 4`; a context load is
    /// annotated with the fields it reads on a machine of `byteOrder`.
    public static func line(_ insn: BPFInstruction, pc: Int, byteOrder: ByteOrder = .little) -> String {
        let prefix = "(" + pad(String(pc), 3, zero: true) + ") "
        guard let form = InstructionForm(insn) else { return prefix + pad("raw", 8) + " " + raw(insn) }
        // Like tcpdump: arithmetic and return values in decimal, the rest in hex.
        let decimal = ["ret", "add", "sub", "mul", "div", "mod", "lsh", "rsh"].contains(form.mnemonic)
        var operand = text(form.operand, hexImmediate: !decimal)
        switch form.jump {
        case .none: break
        case .always(let k): operand = String(pc + 1 + Int(k))
        case .conditional(let jt, let jf):
            return prefix + pad(form.mnemonic, 8) + " " + pad(operand, 16)
                + " jt " + pad(String(pc + 1 + Int(jt)), 5) + "jf " + String(pc + 1 + Int(jf))
        }
        let body = operand.isEmpty ? form.mnemonic : pad(form.mnemonic, 8) + " " + operand
        return prefix + body + fieldComment(insn, byteOrder)
    }

    /// bpf_asm text; jumps inside the program get labels `L<pc>`, jumps past
    /// its end keep their offset as `+N`.
    public static func source(_ insns: [BPFInstruction]) -> String {
        var targets = Set<Int>()
        var lines: [String] = []
        for (pc, insn) in insns.enumerated() {
            func dest(_ offset: Int) -> String {
                let t = pc + 1 + offset
                guard t < insns.count else { return "+\(offset)" }
                targets.insert(t)
                return "L\(t)"
            }
            guard let form = InstructionForm(insn) else { lines.append(raw(insn)); continue }
            let operand = text(form.operand, hexImmediate: true)
            switch form.jump {
            case .none: lines.append((operand.isEmpty ? form.mnemonic : form.mnemonic + " " + operand) + fieldComment(insn, .little))
            case .always(let k): lines.append("ja " + dest(Int(k)))
            case .conditional(let jt, let jf):
                lines.append("\(form.mnemonic) \(operand), \(dest(Int(jt))), \(dest(Int(jf)))")
            }
        }
        return lines.enumerated().map { pc, text in
            (targets.contains(pc) ? pad("L\(pc):", 7) : String(repeating: " ", count: 7)) + text
        }.joined(separator: "\n")
    }

    /// `{ 0x06, 0, 0, 0x1 }`, the form the assembler emits verbatim.
    static func raw(_ insn: BPFInstruction) -> String {
        "{ 0x" + pad(String(insn.code, radix: 16), 2, zero: true)
            + ", \(insn.jt), \(insn.jf), " + hex(insn.k) + " }"
    }

    private static func text(_ operand: InstructionForm.Operand, hexImmediate: Bool) -> String {
        switch operand {
        case .none: return ""
        case .immediate(let k): return "#" + (hexImmediate ? hex(k) : String(k))
        case .length: return "#len"
        case .memory(let k): return "M[\(k)]"
        case .absolute(let k): return "[\(k)]"
        case .indirect(let k): return "[x + \(k)]"
        case .nibble(let k): return "4*([\(k)]&0xf)"
        case .x: return "x"
        case .a: return "a"
        }
    }

    /// Names of the context fields an aligned `ld [k]` reads, as a comment.
    private static func fieldComment(_ insn: BPFInstruction, _ order: ByteOrder) -> String {
        guard insn.code == BPF.LD | BPF.W | BPF.ABS else { return "" }
        let names = ContextField.all.filter { $0.access(order).wordOffset == insn.k }.map(\.name)
        return names.isEmpty ? "" : "  // " + names.joined(separator: ", ")
    }

    private static func hex(_ k: UInt32) -> String { "0x" + String(k, radix: 16) }

    private static func pad(_ s: String, _ width: Int, zero: Bool = false) -> String {
        guard s.count < width else { return s }
        let fill = String(repeating: zero ? "0" : " ", count: width - s.count)
        return zero ? fill + s : s + fill
    }
}
