// What bpf_prog_create_from_user(..., io_uring_check_cbpf_filter, false) does with a
// program, in the kernel's order (net/core/filter.c, io_uring/bpf_filter.c):
//   bpf_check_basics_ok   NULL pointer, len 0 or > BPF_MAXINSNS        -> EINVAL
//   copy_from_user        (done by the caller: ReferenceKernel)        -> EFAULT
//   bpf_check_classic     codes, div/mod by K 0, shift K >= 32, M[] index,
//                         jump ranges, ancillary loads, last insn RET,
//                         check_load_and_stores (M[] read before write) -> EINVAL
//   io_uring_check_cbpf_filter  the io_uring whitelist plus its rewrites:
//                         LD|W|ABS -> LDX|W|ABS (a context load; k < 40, k % 4 == 0),
//                         LD|W|LEN -> LD|IMM 40, LDX|W|LEN -> LDX|IMM 40  -> EINVAL
// Every refusal after the copy is EINVAL, so the order decides only the reason text.

public enum FilterChecker {
    /// The codes chk_code_allowed() accepts (net/core/filter.c).
    static let classicCodes: Set<UInt16> = {
        var s: Set<UInt16> = []
        for op in [CBPFCode.add, CBPFCode.sub, CBPFCode.mul, CBPFCode.div, CBPFCode.mod, CBPFCode.and, CBPFCode.or, CBPFCode.xor, CBPFCode.lsh, CBPFCode.rsh] {
            s.insert(CBPFCode.alu | op | CBPFCode.k); s.insert(CBPFCode.alu | op | CBPFCode.x)
        }
        s.insert(CBPFCode.alu | CBPFCode.neg)
        for size in [CBPFCode.w, CBPFCode.h, CBPFCode.b] { s.insert(CBPFCode.ld | size | CBPFCode.abs); s.insert(CBPFCode.ld | size | CBPFCode.ind) }
        s.formUnion([CBPFCode.ld | CBPFCode.w | CBPFCode.len, CBPFCode.ld | CBPFCode.imm, CBPFCode.ld | CBPFCode.mem,
                     CBPFCode.ldx | CBPFCode.w | CBPFCode.len, CBPFCode.ldx | CBPFCode.b | CBPFCode.msh, CBPFCode.ldx | CBPFCode.imm, CBPFCode.ldx | CBPFCode.mem,
                     CBPFCode.st, CBPFCode.stx, CBPFCode.misc | CBPFCode.tax, CBPFCode.misc | CBPFCode.txa, CBPFCode.ret | CBPFCode.k, CBPFCode.ret | CBPFCode.retA,
                     CBPFCode.jmp | CBPFCode.ja])
        for op in [CBPFCode.jeq, CBPFCode.jgt, CBPFCode.jge, CBPFCode.jset] { s.insert(CBPFCode.jmp | op | CBPFCode.k); s.insert(CBPFCode.jmp | op | CBPFCode.x) }
        return s
    }()

    /// The codes io_uring_check_cbpf_filter() lets through unchanged.
    static let ioUringPassThrough: Set<UInt16> = {
        var s: Set<UInt16> = [CBPFCode.ret | CBPFCode.k, CBPFCode.ret | CBPFCode.retA, CBPFCode.alu | CBPFCode.neg, CBPFCode.ld | CBPFCode.imm, CBPFCode.ldx | CBPFCode.imm,
                              CBPFCode.misc | CBPFCode.tax, CBPFCode.misc | CBPFCode.txa, CBPFCode.ld | CBPFCode.mem, CBPFCode.ldx | CBPFCode.mem,
                              CBPFCode.st, CBPFCode.stx, CBPFCode.jmp | CBPFCode.ja]
        for op in [CBPFCode.add, CBPFCode.sub, CBPFCode.mul, CBPFCode.div, CBPFCode.and, CBPFCode.or, CBPFCode.xor, CBPFCode.lsh, CBPFCode.rsh] {
            s.insert(CBPFCode.alu | op | CBPFCode.k); s.insert(CBPFCode.alu | op | CBPFCode.x)
        }
        for op in [CBPFCode.jeq, CBPFCode.jge, CBPFCode.jgt, CBPFCode.jset] { s.insert(CBPFCode.jmp | op | CBPFCode.k); s.insert(CBPFCode.jmp | op | CBPFCode.x) }
        return s
    }()

    /// Every code the whole pipeline accepts (before rewriting).
    public static let acceptedCodes: Set<UInt16> =
        ioUringPassThrough.union([CBPFCode.ld | CBPFCode.w | CBPFCode.abs, CBPFCode.ld | CBPFCode.w | CBPFCode.len, CBPFCode.ldx | CBPFCode.w | CBPFCode.len])

    /// Decodes struct sock_filter[] bytes (8 bytes each, native/little endian).
    public static func decode(_ bytes: [UInt8]) -> [BPFInstruction] {
        stride(from: 0, to: bytes.count - bytes.count % 8, by: 8).map { o in
            let img = ByteImage(bytes: Array(bytes[o..<o + 8]))
            return BPFInstruction(code: img.load(UInt16.self, at: 0), jt: img.load(UInt8.self, at: 2),
                                  jf: img.load(UInt8.self, at: 3), k: img.load(UInt32.self, at: 4))
        }
    }

    /// The program the kernel will run (rewritten), or why it is refused.
    public static func check(_ program: [BPFInstruction]) -> Result<[BPFInstruction], FilterRejection> {
        let flen = program.count
        guard flen > 0, flen <= FilterABI.maxInstructions else {
            return .failure(FilterRejection(errno: Errno.EINVAL, reason: "length \(flen) outside 1...\(FilterABI.maxInstructions)"))
        }
        if let r = checkClassic(program) { return .failure(r) }
        return checkIoUring(program)
    }

    /// bpf_check_classic(): nil when the program passes.
    static func checkClassic(_ filter: [BPFInstruction]) -> FilterRejection? {
        let flen = filter.count
        func fail(_ pc: Int?, _ why: String) -> FilterRejection { FilterRejection(errno: Errno.EINVAL, reason: why, pc: pc) }
        for pc in 0..<flen {
            let f = filter[pc]
            guard classicCodes.contains(f.code) else { return fail(pc, String(format: "code 0x%02x not allowed (chk_code_allowed)", f.code)) }
            switch f.code {
            case CBPFCode.alu | CBPFCode.div | CBPFCode.k, CBPFCode.alu | CBPFCode.mod | CBPFCode.k:
                if f.k == 0 { return fail(pc, "division by constant 0") }
            case CBPFCode.alu | CBPFCode.lsh | CBPFCode.k, CBPFCode.alu | CBPFCode.rsh | CBPFCode.k:
                if f.k >= 32 { return fail(pc, "shift by constant \(f.k) >= 32") }
            case CBPFCode.ld | CBPFCode.mem, CBPFCode.ldx | CBPFCode.mem, CBPFCode.st, CBPFCode.stx:
                if f.k >= UInt32(FilterABI.memWords) { return fail(pc, "scratch memory index \(f.k) >= 16") }
            case CBPFCode.jmp | CBPFCode.ja:
                if f.k >= UInt32(flen - pc - 1) { return fail(pc, "ja +\(f.k) leaves the program") }
            case let c where c & 0x07 == CBPFCode.jmp:
                if pc + Int(f.jt) + 1 >= flen || pc + Int(f.jf) + 1 >= flen { return fail(pc, "conditional jump leaves the program") }
            case CBPFCode.ld | CBPFCode.w | CBPFCode.abs, CBPFCode.ld | CBPFCode.h | CBPFCode.abs, CBPFCode.ld | CBPFCode.b | CBPFCode.abs:
                if f.k >= CBPFCode.skfAdOff && !CBPFCode.isKnownAncillary(f.k) { return fail(pc, "unknown ancillary load") }
            default:
                break
            }
        }
        let last = filter[flen - 1].code
        guard last == CBPFCode.ret | CBPFCode.k || last == CBPFCode.ret | CBPFCode.retA else { return fail(flen - 1, "last instruction is not RET") }
        return checkLoadAndStores(filter)
    }

    /// check_load_and_stores(): every M[] load must follow a store on every path.
    static func checkLoadAndStores(_ filter: [BPFInstruction]) -> FilterRejection? {
        var masks = [UInt16](repeating: 0xffff, count: filter.count)
        var memvalid: UInt16 = 0
        for pc in 0..<filter.count {
            memvalid &= masks[pc]
            let f = filter[pc]
            switch f.code {
            case CBPFCode.st, CBPFCode.stx:
                memvalid |= 1 << UInt16(f.k)
            case CBPFCode.ld | CBPFCode.mem, CBPFCode.ldx | CBPFCode.mem:
                if memvalid & (1 << UInt16(f.k)) == 0 {
                    return FilterRejection(errno: Errno.EINVAL, reason: "M[\(f.k)] read before it is written", pc: pc)
                }
            case CBPFCode.jmp | CBPFCode.ja:
                masks[pc + 1 + Int(f.k)] &= memvalid
                memvalid = 0xffff
            case CBPFCode.jmp | CBPFCode.jeq | CBPFCode.k, CBPFCode.jmp | CBPFCode.jeq | CBPFCode.x, CBPFCode.jmp | CBPFCode.jge | CBPFCode.k, CBPFCode.jmp | CBPFCode.jge | CBPFCode.x,
                 CBPFCode.jmp | CBPFCode.jgt | CBPFCode.k, CBPFCode.jmp | CBPFCode.jgt | CBPFCode.x, CBPFCode.jmp | CBPFCode.jset | CBPFCode.k, CBPFCode.jmp | CBPFCode.jset | CBPFCode.x:
                masks[pc + 1 + Int(f.jt)] &= memvalid
                masks[pc + 1 + Int(f.jf)] &= memvalid
                memvalid = 0xffff
            default:
                break
            }
        }
        return nil
    }

    /// io_uring_check_cbpf_filter(): the whitelist and the rewrites.
    static func checkIoUring(_ filter: [BPFInstruction]) -> Result<[BPFInstruction], FilterRejection> {
        var out = filter
        for pc in 0..<out.count {
            let f = out[pc]
            switch f.code {
            case CBPFCode.ld | CBPFCode.w | CBPFCode.abs:
                out[pc].code = CBPFCode.ldx | CBPFCode.w | CBPFCode.abs
                if f.k >= UInt32(FilterABI.Context.size) || f.k & 3 != 0 {
                    return .failure(FilterRejection(errno: Errno.EINVAL, reason: "ld [\(f.k)] is not an aligned word inside the 40-byte context", pc: pc))
                }
            case CBPFCode.ld | CBPFCode.w | CBPFCode.len:
                out[pc] = BPFInstruction(code: CBPFCode.ld | CBPFCode.imm, jt: f.jt, jf: f.jf, k: UInt32(FilterABI.Context.size))
            case CBPFCode.ldx | CBPFCode.w | CBPFCode.len:
                out[pc] = BPFInstruction(code: CBPFCode.ldx | CBPFCode.imm, jt: f.jt, jf: f.jf, k: UInt32(FilterABI.Context.size))
            default:
                if !ioUringPassThrough.contains(f.code) {
                    return .failure(FilterRejection(errno: Errno.EINVAL, reason: String(format: "code 0x%02x not in the io_uring whitelist", f.code), pc: pc))
                }
            }
        }
        return .success(out)
    }
}
