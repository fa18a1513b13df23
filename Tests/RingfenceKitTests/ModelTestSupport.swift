@testable import RingfenceKit
@testable import RingfenceCore

/// Small builders shared by the model tests.
enum M {
    static func insn(_ code: UInt16, _ jt: UInt8 = 0, _ jf: UInt8 = 0, _ k: UInt32 = 0) -> BPFInstruction {
        BPFInstruction(code: code, jt: jt, jf: jf, k: k)
    }
    static func ret(_ k: UInt32) -> BPFInstruction { insn(0x06, 0, 0, k) }
    /// Allow iff the low word of user_data equals v.
    static func allowIfUserData(_ v: UInt32) -> [BPFInstruction] {
        [insn(0x20, 0, 0, 0), insn(0x15, 0, 1, v), ret(1), ret(0)]
    }
    /// A = sqe_flags (the byte at offset 9 of the context, from the aligned word at 8).
    static let loadSqeFlags = [insn(0x20, 0, 0, 8), insn(0x74, 0, 0, 8), insn(0x54, 0, 0, 0xff)]
    /// Allow iff sqe_flags equals v.
    static func allowIfSqeFlags(_ v: UInt32) -> [BPFInstruction] { loadSqeFlags + [insn(0x15, 0, 1, v), ret(1), ret(0)] }
    /// Allow iff sqe_flags has every bit of v.
    static func allowIfSqeFlagsHave(_ v: UInt32) -> [BPFInstruction] { loadSqeFlags + [insn(0x45, 0, 1, v), ret(1), ret(0)] }
    /// Allow iff sqe_flags equals the low word of user_data.
    static let allowIfSqeFlagsEqualUserData =
        loadSqeFlags + [insn(0x07), insn(0x20, 0, 0, 0), insn(0x1d, 0, 1, 0), ret(1), ret(0)]
    /// Deny iff the low word of user_data equals v.
    static func denyIfUserData(_ v: UInt32) -> [BPFInstruction] {
        [insn(0x20, 0, 0, 0), insn(0x15, 0, 1, v), ret(0), ret(1)]
    }

    static func registration(opcode: String, _ program: [BPFInstruction], flags: UInt32 = 0,
                             pdu: UInt8? = nil, target: RegisterTarget = .ring("main")) -> FilterRegistration {
        var r = FilterRegistration()
        let op = Opcode.number(opcode)!
        r.opcode = .number(op)
        r.program = program
        r.flags = flags
        r.pduSize = pdu ?? KernelSemantics.upstream.contextSize(opcode: op)
        r.target = target
        return r
    }

    @discardableResult
    static func register(_ k: ReferenceKernel, ring: Int32, _ r: FilterRegistration) -> RegisterOutcome {
        let op: UInt32 = { if case .number(let n) = r.opcode { return n }; return 0 }()
        return k.register(r.registerCall(fd: r.target == .task ? -1 : ring, opcode: op))
    }

    static func nop(_ userData: UInt64, flags: UInt8 = 0) -> SQESpec {
        var s = SQESpec()
        s.opcode = .number(0)
        s.userData = userData
        s.flags = SQEFlags(rawValue: flags)
        return s
    }

    static func socket(_ userData: UInt64, domain: Int32 = 2, type: Int32 = 1, proto: Int32 = 0) -> SQESpec {
        var s = SQESpec()
        s.opcode = .number(Opcode.number("SOCKET")!)
        s.userData = userData
        s.fd = domain
        s.off = UInt64(UInt32(bitPattern: type))
        s.len = UInt32(bitPattern: proto)
        return s
    }

    static func results(_ out: SubmitOutcome) -> [UInt64: Int32] {
        Dictionary(out.cqes.map { ($0.userData, $0.res) }, uniquingKeysWith: { a, _ in a })
    }
}
