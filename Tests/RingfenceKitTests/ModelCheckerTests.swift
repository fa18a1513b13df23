import Testing
import PropertyBased
@testable import RingfenceKit
@testable import RingfenceCore

/// FilterChecker and CBPFInterpreter against independent statements of the rules.
@Suite struct ModelCheckerTests {
    /// io_uring_check_cbpf_filter()'s case labels, written out by hand from io_uring/bpf_filter.c.
    static let whitelist: Set<UInt16> = [
        0x06, 0x16,                                     // ret k, ret a
        0x04, 0x0c, 0x14, 0x1c, 0x24, 0x2c, 0x34, 0x3c, // add sub mul div (k, x)
        0x54, 0x5c, 0x44, 0x4c, 0xa4, 0xac,             // and or xor
        0x64, 0x6c, 0x74, 0x7c, 0x84,                   // lsh rsh neg
        0x00, 0x01, 0x07, 0x87, 0x60, 0x61, 0x02, 0x03, // ld/ldx imm, tax, txa, ld/ldx mem, st, stx
        0x05, 0x15, 0x1d, 0x35, 0x3d, 0x25, 0x2d, 0x45, 0x4d, // ja jeq jge jgt jset
        0x20, 0x80, 0x81,                               // ld [k], ld len, ldx len (rewritten)
    ]

    @Test func acceptedCodesAreExactlyTheWhitelist() {
        #expect(FilterChecker.acceptedCodes == Self.whitelist)
    }

    @Test func checkerAcceptsExactlyTheWhitelist() async {
        await propertyCheck(count: 300, input: Gen.uint16(in: 0...0xff)) { code in
            // M[4] written first so ld/ldx M[4] is legal; k=4 is a legal operand for every
            // whitelisted code except ja (k must stay inside the program).
            let k: UInt32 = code == 0x05 ? 0 : 4
            let program = [M.insn(0x00), M.insn(0x02, 0, 0, 4), M.insn(0x03, 0, 0, 4), M.insn(code, 0, 0, k), M.ret(1)]
            let accepted: Bool
            if case .success = FilterChecker.check(program) { accepted = true } else { accepted = false }
            #expect(accepted == Self.whitelist.contains(code), "code \(code)")
        }
    }

    @Test func classicChecksRefuse() {
        func refused(_ p: [BPFInstruction]) -> Bool { if case .failure(let r) = FilterChecker.check(p) { return r.errno == Errno.EINVAL }; return false }
        #expect(refused([]))
        #expect(refused([M.insn(0x34, 0, 0, 0), M.ret(1)]))          // div #0
        #expect(refused([M.insn(0x64, 0, 0, 32), M.ret(1)]))         // lsh #32
        #expect(refused([M.insn(0x60, 0, 0, 16), M.ret(1)]))         // ld M[16]
        #expect(refused([M.insn(0x60, 0, 0, 1), M.ret(1)]))          // ld M[1] before st
        #expect(refused([M.insn(0x05, 0, 0, 1), M.ret(1)]))          // ja past the end
        #expect(refused([M.insn(0x15, 1, 0, 0), M.ret(1)]))          // jt past the end
        #expect(refused([M.insn(0x00)]))                             // no ret at the end
        #expect(refused([M.insn(0x20, 0, 0, 2), M.ret(1)]))          // unaligned
        #expect(refused([M.insn(0x20, 0, 0, 40), M.ret(1)]))         // past the context
        #expect(refused([M.insn(0x94, 0, 0, 3), M.ret(1)]))          // mod: classic yes, io_uring no
        #expect(refused([M.insn(0x28, 0, 0, 0), M.ret(1)]))          // ldh [0]
        #expect(refused(Array(repeating: M.insn(0x00), count: 4096) + [M.ret(1)]))
        // a jump merging a path without the store makes the load illegal
        #expect(refused([M.insn(0x15, 0, 1, 0), M.insn(0x02, 0, 0, 0), M.insn(0x60, 0, 0, 0), M.ret(1)]))
        if case .success(let p) = FilterChecker.check([M.insn(0x80), M.insn(0x20, 0, 0, 36), M.ret(1)]) {
            #expect(p[0] == M.insn(0x00, 0, 0, 40))
            #expect(p[1].code == 0x21)
        } else { Issue.record("len/abs program refused") }
    }

    enum AluOp: CaseIterable, Sendable { case add, sub, mul, div, and, or, xor, lsh, rsh, neg }

    struct AluStep: Sendable, CustomStringConvertible {
        var op: AluOp; var useX: Bool; var k: UInt32
        var description: String { "\(op)\(useX ? " x" : " #\(k)")" }
    }

    static let stepGen = zip(Gen.element(of: AluOp.allCases).map { $0! }, Gen.bool(), Gen.uint32())
        .map { AluStep(op: $0, useX: $1, k: $2) }

    @Test func interpreterAgreesWithDirectEvaluation() async {
        await propertyCheck(count: 400, input: Gen.uint32(), Gen.uint32(), Self.stepGen.array(of: 0...12)) { a0, x0, steps in
            var program = [M.insn(0x00, 0, 0, a0), M.insn(0x01, 0, 0, x0)]
            var a = a0
            var expected: UInt32?
            for s in steps {
                // keep constant operands legal: no div #0, shifts < 32
                var k = s.k
                if s.op == .div && !s.useX && k == 0 { k = 1 }
                if (s.op == .lsh || s.op == .rsh) && !s.useX { k &= 31 }
                let src = s.useX ? x0 : k
                let opBits: UInt16 = [.add: 0x00, .sub: 0x10, .mul: 0x20, .div: 0x30, .or: 0x40, .and: 0x50,
                                      .lsh: 0x60, .rsh: 0x70, .neg: 0x80, .xor: 0xa0][s.op]!
                program.append(M.insn(0x04 | opBits | (s.useX && s.op != .neg ? 0x08 : 0), 0, 0, k))
                if expected != nil { continue }
                switch s.op {
                case .add: a = a &+ src
                case .sub: a = a &- src
                case .mul: a = UInt32(truncatingIfNeeded: UInt64(a) * UInt64(src))
                case .div: if src == 0 { expected = 0 } else { a = a / src }
                case .and: a &= src
                case .or: a |= src
                case .xor: a ^= src
                case .lsh: a = UInt32(truncatingIfNeeded: UInt64(a) << UInt64(src % 32))
                case .rsh: a = a >> (src % 32)
                case .neg: a = UInt32(truncatingIfNeeded: -Int64(a))
                }
            }
            program.append(M.insn(0x16))   // ret a
            guard case .success(let checked) = FilterChecker.check(program) else {
                Issue.record("program refused: \(steps)"); return
            }
            let got = try? CBPFInterpreter.run(checked, context: Array(repeating: 0, count: 40))
            #expect(got == (expected ?? a), "steps \(steps)")
        }
    }

    @Test func contextLoadsAreNativeEndianWords() throws {
        var ctx = [UInt8](repeating: 0, count: 40)
        ctx[8] = 0x2d; ctx[9] = 0x10; ctx[10] = 12
        let p = try FilterChecker.check([M.insn(0x20, 0, 0, 8), M.insn(0x16)]).get()
        #expect(try CBPFInterpreter.run(p, context: ctx) == 0x000c_102d)
    }

    @Test func jumpsCompareUnsigned() throws {
        // A = 0xffffffff; jgt #0x7fffffff must be taken (unsigned), jge #0x80000000 too
        let p = try FilterChecker.check([M.insn(0x00, 0, 0, 0xffff_ffff), M.insn(0x25, 0, 2, 0x7fff_ffff),
                                         M.insn(0x35, 0, 1, 0x8000_0000), M.ret(7), M.ret(0)]).get()
        #expect(try CBPFInterpreter.run(p, context: Array(repeating: 0, count: 40)) == 7)
    }
}
