import XCTest
import Testing
import PropertyBased
@testable import RingfenceKit
@testable import RingfenceCore

final class DisassemblerTests: XCTestCase {
    private func roundTrip(_ program: [BPFInstruction], file: StaticString = #filePath, line: UInt = #line) {
        let text = Disassembler.source(program)
        do {
            let back = try Assembler.assemble(text)
            XCTAssertEqual(back, program, text, file: file, line: line)
        } catch {
            XCTFail("\(error)\n\(text)", file: file, line: line)
        }
    }

    func testListingFormat() throws {
        let program = try Assembler.assemble("""
            ld [opcode]; jeq #1, +1, +2; ret #1; tax
            { 0x08, 0, 0, 0 }; ja +1; ld [user_data.hi]; add #10; ret #1, +1; ret a
            """.replacingOccurrences(of: "ret #1, +1", with: "{ 0x06, 1, 0, 1 }"))
        XCTAssertEqual(Disassembler.listing(program).split(separator: "\n").map(String.init), [
            "(000) ld       [8]  // opcode, sqe_flags, pdu_size, pad.0",
            "(001) and      #0xff",
            "(002) jeq      #0x1             jt 4    jf 5",
            "(003) ret      #1",
            "(004) tax",
            "(005) raw      { 0x08, 0, 0, 0x0 }",
            "(006) ja       8",
            "(007) ld       [4]  // user_data.hi",
            "(008) add      #10",
            "(009) raw      { 0x06, 1, 0, 0x1 }",
            "(010) ret      a",
        ])
        XCTAssertEqual(Disassembler.line(BPF.jump(BPF.JMP | BPF.JEQ | BPF.K, 1, 0, 1), pc: 2),
                       "(002) jeq      #0x1             jt 3    jf 4")
        XCTAssertEqual(Disassembler.line(BPF.stmt(BPF.LD | BPF.W | BPF.ABS, 16), pc: 0),
                       "(000) ld       [16]  // socket.family, open.flags, connect.family")
    }

    func testSourceUsesLabelsInsideAndOffsetsPastTheEnd() {
        let program = [
            BPF.stmt(BPF.LD | BPF.W | BPF.ABS, 8),
            BPF.jump(BPF.JMP | BPF.JEQ | BPF.K, 1, 0, 1),
            BPF.stmt(BPF.RET | BPF.K, 1),
            BPF.jump(BPF.JMP | BPF.JGT | BPF.X, 0, 9, 0),
            BPF.stmt(BPF.JMP | BPF.JA, 7),
            BPFInstruction(code: 0x99, jt: 1, jf: 2, k: 3),
        ]
        XCTAssertEqual(Disassembler.source(program), """
                   ld [8]  // opcode, sqe_flags, pdu_size, pad.0
                   jeq #0x1, L2, L3
            L2:    ret #0x1
            L3:    jgt x, +9, L4
            L4:    ja +7
                   { 0x99, 1, 2, 0x3 }
            """)
        roundTrip(program)
    }

    func testEveryKernelEncodingRoundTrips() {
        for (text, insns) in AssemblerTests.kernelEncodings() {
            XCTAssertEqual(try? Assembler.assemble(Disassembler.source(insns)), insns, text)
        }
        roundTrip(AssemblerTests.kernelEncodings().flatMap(\.insns))
    }

    /// Every instruction io_uring_check_cbpf_filter accepts, in one program.
    func testAcceptedIoUringFormsRoundTrip() throws {
        roundTrip(try Assembler.assemble("""
            ld [opcode]; ld [sqe_flags]; ld [connect.port]; ld #len; ldx #len; ld #1; ldx #2
            ld M[0]; ldx M[1]; st M[2]; stx M[3]; tax; txa; neg
            add #1; add x; sub #1; sub x; mul #3; mul x; div #2; div x
            and #1; and x; or #1; or x; xor #1; xor x; lsh #1; lsh x; rsh #1; rsh x
            ja l1; l1: jeq #1, l2, l3; l2: jeq x, l3; l3: jge #1, l4; l4: jge x, l5, l5
            l5: jgt #1, l6; l6: jgt x, l7; l7: jset #1, l8; l8: jset x, l9; l9: ret a; ret #0
            """))
    }

    func testUnknownAndNonCanonicalCodesStayRaw() {
        let odd: [BPFInstruction] = [
            BPFInstruction(code: 0x08), BPFInstruction(code: 0xffff, jt: 255, jf: 255, k: .max),
            BPFInstruction(code: 0x8c), BPFInstruction(code: 0x0d, k: 1), BPFInstruction(code: 0xb4),
            BPFInstruction(code: 0x104), BPFInstruction(code: 0x16, k: 5), BPFInstruction(code: 0x87, jf: 1),
            BPFInstruction(code: 0x1d, k: 3), BPFInstruction(code: 0x80, k: 40),
        ]
        for insn in odd { XCTAssertTrue(Disassembler.source([insn]).contains("{"), "\(insn)") }
        roundTrip(odd)
    }
}

/// Random programs, biased towards known codes, survive source -> assemble.
@Test func randomProgramsRoundTripThroughSource() async {
    await propertyCheck(count: 300, input: randomInstruction.array(of: 1...40)) { program in
        let text = Disassembler.source(program)
        let back = try Assembler.assemble(text)
        #expect(back == program, "\(text)")
        #expect(Disassembler.listing(program).split(separator: "\n").count == program.count)
    }
}

private let knownCodes: [UInt16] = [
    0x00, 0x20, 0x28, 0x30, 0x40, 0x48, 0x50, 0x60, 0x80, 0x01, 0x61, 0x81, 0xb1, 0x02, 0x03,
    0x04, 0x0c, 0x14, 0x1c, 0x24, 0x2c, 0x34, 0x3c, 0x44, 0x4c, 0x54, 0x5c, 0x64, 0x6c, 0x74, 0x7c,
    0x84, 0x94, 0x9c, 0xa4, 0xac, 0x05, 0x15, 0x1d, 0x25, 0x2d, 0x35, 0x3d, 0x45, 0x4d,
    0x06, 0x0e, 0x16, 0x07, 0x87,
]

/// `shape` decides: a known or arbitrary code, and which fields to zero (so
/// both canonical forms and raw fallbacks appear), and small jump offsets.
private let randomInstruction = zip(Gen.uint16(), Gen.uint8(), Gen.uint8(), Gen.uint32(), Gen.uint8()).map {
    (t: (UInt16, UInt8, UInt8, UInt32, UInt8)) -> BPFInstruction in
    let (code, jt, jf, k, shape) = t
    var insn = BPFInstruction(code: shape & 1 == 0 ? knownCodes[Int(code) % knownCodes.count] : code,
                              jt: jt, jf: jf, k: k)
    if shape & 2 != 0 { insn.jt = 0; insn.jf = 0 }
    if shape & 4 != 0 { insn.k = 0 }
    if shape & 8 != 0 { insn.jt %= 8; insn.jf %= 8; insn.k %= 8 }
    return insn
}
