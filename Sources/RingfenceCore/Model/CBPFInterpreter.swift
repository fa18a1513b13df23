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
            let src: UInt32 = i.code & CBPFCode.x != 0 ? x : i.k
            switch i.code {
            case CBPFCode.ret | CBPFCode.k: return i.k
            case CBPFCode.ret | CBPFCode.retA: return a
            case CBPFCode.ld | CBPFCode.imm: a = i.k
            case CBPFCode.ldx | CBPFCode.imm: x = i.k
            case CBPFCode.ld | CBPFCode.w | CBPFCode.len: a = UInt32(context.count)
            case CBPFCode.ldx | CBPFCode.w | CBPFCode.len: x = UInt32(context.count)
            case CBPFCode.ld | CBPFCode.w | CBPFCode.abs, CBPFCode.ldx | CBPFCode.w | CBPFCode.abs: a = try word(i.k)
            case CBPFCode.ld | CBPFCode.mem: a = mem[Int(i.k)]
            case CBPFCode.ldx | CBPFCode.mem: x = mem[Int(i.k)]
            case CBPFCode.st: mem[Int(i.k)] = a
            case CBPFCode.stx: mem[Int(i.k)] = x
            case CBPFCode.misc | CBPFCode.tax: x = a
            case CBPFCode.misc | CBPFCode.txa: a = x
            case CBPFCode.alu | CBPFCode.neg: a = 0 &- a
            case CBPFCode.alu | CBPFCode.add | CBPFCode.k, CBPFCode.alu | CBPFCode.add | CBPFCode.x: a = a &+ src
            case CBPFCode.alu | CBPFCode.sub | CBPFCode.k, CBPFCode.alu | CBPFCode.sub | CBPFCode.x: a = a &- src
            case CBPFCode.alu | CBPFCode.mul | CBPFCode.k, CBPFCode.alu | CBPFCode.mul | CBPFCode.x: a = a &* src
            case CBPFCode.alu | CBPFCode.and | CBPFCode.k, CBPFCode.alu | CBPFCode.and | CBPFCode.x: a &= src
            case CBPFCode.alu | CBPFCode.or | CBPFCode.k, CBPFCode.alu | CBPFCode.or | CBPFCode.x: a |= src
            case CBPFCode.alu | CBPFCode.xor | CBPFCode.k, CBPFCode.alu | CBPFCode.xor | CBPFCode.x: a ^= src
            case CBPFCode.alu | CBPFCode.div | CBPFCode.k, CBPFCode.alu | CBPFCode.div | CBPFCode.x:
                if src == 0 { return 0 }
                a /= src
            case CBPFCode.alu | CBPFCode.mod | CBPFCode.k, CBPFCode.alu | CBPFCode.mod | CBPFCode.x:
                if src == 0 { return 0 }
                a %= src
            case CBPFCode.alu | CBPFCode.lsh | CBPFCode.k, CBPFCode.alu | CBPFCode.lsh | CBPFCode.x: a = a << (src & 31)
            case CBPFCode.alu | CBPFCode.rsh | CBPFCode.k, CBPFCode.alu | CBPFCode.rsh | CBPFCode.x: a = a >> (src & 31)
            case CBPFCode.jmp | CBPFCode.ja: pc += Int(i.k)
            case CBPFCode.jmp | CBPFCode.jeq | CBPFCode.k, CBPFCode.jmp | CBPFCode.jeq | CBPFCode.x: pc += Int(a == src ? i.jt : i.jf)
            case CBPFCode.jmp | CBPFCode.jgt | CBPFCode.k, CBPFCode.jmp | CBPFCode.jgt | CBPFCode.x: pc += Int(a > src ? i.jt : i.jf)
            case CBPFCode.jmp | CBPFCode.jge | CBPFCode.k, CBPFCode.jmp | CBPFCode.jge | CBPFCode.x: pc += Int(a >= src ? i.jt : i.jf)
            case CBPFCode.jmp | CBPFCode.jset | CBPFCode.k, CBPFCode.jmp | CBPFCode.jset | CBPFCode.x: pc += Int(a & src != 0 ? i.jt : i.jf)
            default: throw Fault.badInstruction(pc: pc, code: i.code)
            }
            pc += 1
        }
        throw Fault.ranOffEnd
    }
}
