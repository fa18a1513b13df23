// Classic BPF opcode bits (include/uapi/linux/bpf_common.h, filter.h), shared by the
// checker, the interpreter and the fuzzer.
enum CBPFCode {
    // classes
    static let ld: UInt16 = 0x00, ldx: UInt16 = 0x01, st: UInt16 = 0x02, stx: UInt16 = 0x03
    static let alu: UInt16 = 0x04, jmp: UInt16 = 0x05, ret: UInt16 = 0x06, misc: UInt16 = 0x07
    // sizes
    static let w: UInt16 = 0x00, h: UInt16 = 0x08, b: UInt16 = 0x10
    // modes
    static let imm: UInt16 = 0x00, abs: UInt16 = 0x20, ind: UInt16 = 0x40, mem: UInt16 = 0x60
    static let len: UInt16 = 0x80, msh: UInt16 = 0xa0
    // alu ops
    static let add: UInt16 = 0x00, sub: UInt16 = 0x10, mul: UInt16 = 0x20, div: UInt16 = 0x30
    static let or: UInt16 = 0x40, and: UInt16 = 0x50, lsh: UInt16 = 0x60, rsh: UInt16 = 0x70
    static let neg: UInt16 = 0x80, mod: UInt16 = 0x90, xor: UInt16 = 0xa0
    // jumps
    static let ja: UInt16 = 0x00, jeq: UInt16 = 0x10, jgt: UInt16 = 0x20, jge: UInt16 = 0x30, jset: UInt16 = 0x40
    // sources
    static let k: UInt16 = 0x00, x: UInt16 = 0x08
    // ret value source, misc ops
    static let retA: UInt16 = 0x10, tax: UInt16 = 0x00, txa: UInt16 = 0x80

    /// SKF_AD_OFF: ancillary loads start here (include/uapi/linux/filter.h).
    static let skfAdOff: UInt32 = 0xfffff000
    /// The ancillary offsets bpf_anc_helper() knows (SKF_AD_PROTOCOL 0 .. SKF_AD_RANDOM 56, step 4).
    static func isKnownAncillary(_ k: UInt32) -> Bool {
        guard k >= skfAdOff else { return false }
        let off = k - skfAdOff
        return off <= 60 && off % 4 == 0   // SKF_AD_MAX is 64: PROTOCOL..RANDOM (0..56) plus VLAN_TPID 60
    }
}

/// Why a program was refused: the errno the kernel returns and the check that refused it.
public struct FilterRejection: Error, Equatable, Sendable, CustomStringConvertible {
    public var errno: Int32
    public var reason: String
    public var pc: Int?
    public var description: String { pc.map { "insn \($0): \(reason)" } ?? reason }
}
