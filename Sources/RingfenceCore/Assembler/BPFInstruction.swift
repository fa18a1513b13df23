// One classic BPF instruction, laid out as struct sock_filter
// (include/uapi/linux/filter.h): code u16, jt u8, jf u8, k u32.

public struct BPFInstruction: Equatable, Hashable, Sendable {
    public var code: UInt16
    public var jt: UInt8
    public var jf: UInt8
    public var k: UInt32

    public init(code: UInt16, jt: UInt8 = 0, jf: UInt8 = 0, k: UInt32 = 0) {
        self.code = code
        self.jt = jt
        self.jf = jf
        self.k = k
    }

    /// The 8 bytes the kernel reads: the ABI is native-endian and ringfence
    /// only runs on little-endian machines (see ByteImage).
    public var bytes: [UInt8] {
        var image = ByteImage(size: 8)
        image.store(code, at: 0)
        image.store(jt, at: 2)
        image.store(jf, at: 3)
        image.store(k, at: 4)
        return image.bytes
    }

    /// The sock_filter array for a program, as passed in filter_ptr.
    public static func encode(_ program: [BPFInstruction]) -> [UInt8] {
        program.flatMap(\.bytes)
    }
}

/// Field constants of include/uapi/linux/bpf_common.h and filter.h, and the
/// BPF_STMT/BPF_JUMP macros, so tests and code can build instructions the way
/// C programs do.
public enum BPF {
    // Instruction classes.
    public static let LD: UInt16 = 0x00, LDX: UInt16 = 0x01, ST: UInt16 = 0x02, STX: UInt16 = 0x03
    public static let ALU: UInt16 = 0x04, JMP: UInt16 = 0x05, RET: UInt16 = 0x06, MISC: UInt16 = 0x07
    // Load sizes.
    public static let W: UInt16 = 0x00, H: UInt16 = 0x08, B: UInt16 = 0x10
    // Load modes.
    public static let IMM: UInt16 = 0x00, ABS: UInt16 = 0x20, IND: UInt16 = 0x40
    public static let MEM: UInt16 = 0x60, LEN: UInt16 = 0x80, MSH: UInt16 = 0xa0
    // ALU operations.
    public static let ADD: UInt16 = 0x00, SUB: UInt16 = 0x10, MUL: UInt16 = 0x20, DIV: UInt16 = 0x30
    public static let OR: UInt16 = 0x40, AND: UInt16 = 0x50, LSH: UInt16 = 0x60, RSH: UInt16 = 0x70
    public static let NEG: UInt16 = 0x80, MOD: UInt16 = 0x90, XOR: UInt16 = 0xa0
    // Jump operations.
    public static let JA: UInt16 = 0x00, JEQ: UInt16 = 0x10, JGT: UInt16 = 0x20
    public static let JGE: UInt16 = 0x30, JSET: UInt16 = 0x40
    // Operand source; BPF_A is the RET source "accumulator".
    public static let K: UInt16 = 0x00, X: UInt16 = 0x08, A: UInt16 = 0x10
    // MISC operations.
    public static let TAX: UInt16 = 0x00, TXA: UInt16 = 0x80

    /// SKF_AD_OFF: ancillary-data loads use k = SKF_AD_OFF + offset.
    public static let ancillaryBase = UInt32(bitPattern: -0x1000)

    /// BPF_STMT(code, k)
    public static func stmt(_ code: UInt16, _ k: UInt32 = 0) -> BPFInstruction {
        BPFInstruction(code: code, jt: 0, jf: 0, k: k)
    }

    /// BPF_JUMP(code, k, jt, jf)
    public static func jump(_ code: UInt16, _ k: UInt32, _ jt: UInt8, _ jf: UInt8) -> BPFInstruction {
        BPFInstruction(code: code, jt: jt, jf: jf, k: k)
    }
}
