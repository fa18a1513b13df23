// Runs a checked (and rewritten) classic BPF program on a 40-byte io_uring_bpf_ctx,
// as the kernel does after bpf_convert_filter() (net/core/filter.c) and the eBPF
// interpreter (kernel/bpf/core.c) or JIT:
//  - A and X start at 0 (the converted prologue clears both), all arithmetic is u32;
//  - DIV by X == 0 ends the program returning 0 (the emitted "if X == 0: A = 0; exit");
//  - shifts by X use X & 31 (ALU_LSH_X: DST = (u32) DST << ((u32) SRC & 31));
//  - K operands compare as unsigned 32-bit (negative K is zero-extended through a temp);
//  - a context load (LDX|W|ABS after the rewrite, or LD|W|ABS) reads a native-endian word.
// The program is assumed to have passed FilterChecker; anything else is a model error.

public enum CBPFInterpreter {
    public enum Fault: Error, Equatable { case badInstruction(pc: Int, code: UInt16), ranOffEnd, contextOutOfBounds(pc: Int) }

    public static func run(_ program: [BPFInstruction], context: [UInt8]) throws -> UInt32 {
        var a: UInt32 = 0, x: UInt32 = 0
        var mem = [UInt32](repeating: 0, count: FilterABI.memWords)
        var pc = 0
        func word(_ k: UInt32) throws -> UInt32 {
            let o = Int(k)
            guard k & 3 == 0, o + 4 <= context.count else { throw Fault.contextOutOfBounds(pc: pc) }
            return UInt32(context[o]) | UInt32(context[o + 1]) << 8 | UInt32(context[o + 2]) << 16 | UInt32(context[o + 3]) << 24
        }
        while pc < program.count {
            let i = program[pc]
            let src: UInt32 = i.code & BPF.x != 0 ? x : i.k
            switch i.code {
            case BPF.ret | BPF.k: return i.k
            case BPF.ret | BPF.retA: return a
            case BPF.ld | BPF.imm: a = i.k
            case BPF.ldx | BPF.imm: x = i.k
            case BPF.ld | BPF.w | BPF.len: a = UInt32(context.count)
            case BPF.ldx | BPF.w | BPF.len: x = UInt32(context.count)
            case BPF.ld | BPF.w | BPF.abs, BPF.ldx | BPF.w | BPF.abs: a = try word(i.k)
            case BPF.ld | BPF.mem: a = mem[Int(i.k)]
            case BPF.ldx | BPF.mem: x = mem[Int(i.k)]
            case BPF.st: mem[Int(i.k)] = a
            case BPF.stx: mem[Int(i.k)] = x
            case BPF.misc | BPF.tax: x = a
            case BPF.misc | BPF.txa: a = x
            case BPF.alu | BPF.neg: a = 0 &- a
            case BPF.alu | BPF.add | BPF.k, BPF.alu | BPF.add | BPF.x: a = a &+ src
            case BPF.alu | BPF.sub | BPF.k, BPF.alu | BPF.sub | BPF.x: a = a &- src
            case BPF.alu | BPF.mul | BPF.k, BPF.alu | BPF.mul | BPF.x: a = a &* src
            case BPF.alu | BPF.and | BPF.k, BPF.alu | BPF.and | BPF.x: a &= src
            case BPF.alu | BPF.or | BPF.k, BPF.alu | BPF.or | BPF.x: a |= src
            case BPF.alu | BPF.xor | BPF.k, BPF.alu | BPF.xor | BPF.x: a ^= src
            case BPF.alu | BPF.div | BPF.k, BPF.alu | BPF.div | BPF.x:
                if src == 0 { return 0 }
                a /= src
            case BPF.alu | BPF.mod | BPF.k, BPF.alu | BPF.mod | BPF.x:
                if src == 0 { return 0 }
                a %= src
            case BPF.alu | BPF.lsh | BPF.k, BPF.alu | BPF.lsh | BPF.x: a = a << (src & 31)
            case BPF.alu | BPF.rsh | BPF.k, BPF.alu | BPF.rsh | BPF.x: a = a >> (src & 31)
            case BPF.jmp | BPF.ja: pc += Int(i.k)
            case BPF.jmp | BPF.jeq | BPF.k, BPF.jmp | BPF.jeq | BPF.x: pc += Int(a == src ? i.jt : i.jf)
            case BPF.jmp | BPF.jgt | BPF.k, BPF.jmp | BPF.jgt | BPF.x: pc += Int(a > src ? i.jt : i.jf)
            case BPF.jmp | BPF.jge | BPF.k, BPF.jmp | BPF.jge | BPF.x: pc += Int(a >= src ? i.jt : i.jf)
            case BPF.jmp | BPF.jset | BPF.k, BPF.jmp | BPF.jset | BPF.x: pc += Int(a & src != 0 ? i.jt : i.jf)
            default: throw Fault.badInstruction(pc: pc, code: i.code)
            }
            pc += 1
        }
        throw Fault.ranOffEnd
    }
}
