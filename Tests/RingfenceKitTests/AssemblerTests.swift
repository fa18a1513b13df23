import XCTest
import CKernelABI
@testable import RingfenceKit
@testable import RingfenceCore

/// The assembler against encodings the C compiler built with the kernel's
/// BPF_STMT/BPF_JUMP macros (Tests/CKernelABI/bpf_encodings.c).
final class AssemblerTests: XCTestCase {
    /// (source text, instructions it must assemble to), from the C table.
    static func kernelEncodings() -> [(text: String, insns: [BPFInstruction])] {
        var n = 0
        let table = UnsafeBufferPointer(start: kbpf_encodings(&n), count: n)
        var out: [(text: String, insns: [BPFInstruction])] = []
        for e in table {
            let insn = BPFInstruction(code: e.code, jt: e.jt, jf: e.jf, k: e.k)
            if let text = e.text {
                out.append((String(cString: text), [insn]))
            } else {
                out[out.count - 1].insns.append(insn)
            }
        }
        return out
    }

    private func asm(_ source: String, file: StaticString = #filePath, line: UInt = #line) -> [BPFInstruction] {
        do { return try Assembler.assemble(source) } catch {
            XCTFail("\(source): \(error)", file: file, line: line)
            return []
        }
    }

    func testEveryFormMatchesKernelMacros() {
        let encodings = Self.kernelEncodings()
        XCTAssertGreaterThan(encodings.count, 100)
        for (text, expected) in encodings {
            XCTAssertEqual(asm(text), expected, text)
        }
    }

    func testBytesAreLittleEndianSockFilter() {
        let insn = BPFInstruction(code: 0x1234, jt: 5, jf: 6, k: 0xaabbccdd)
        XCTAssertEqual(insn.bytes, [0x34, 0x12, 5, 6, 0xdd, 0xcc, 0xbb, 0xaa])
        XCTAssertEqual(BPFInstruction.encode([insn, BPF.stmt(BPF.RET | BPF.K, 1)]).count, 16)
        var c = [UInt8](repeating: 0, count: 8)
        kbpf_sock_filter_bytes(insn.code, insn.jt, insn.jf, insn.k, &c)
        XCTAssertEqual(insn.bytes, c)
    }

    func testSymbolicConstantsMatchHeaders() {
        var checked = 0
        for (name, value) in SymbolicConstant.table {
            let c = kbpf_constant(name)
            if c == -1 {
                // Only io_uring opcodes newer than the installed header may be missing.
                XCTAssertTrue(name.hasPrefix("IORING_OP_"), "\(name) not in the C table")
                continue
            }
            XCTAssertEqual(Int64(value), c, name)
            checked += 1
        }
        XCTAssertGreaterThanOrEqual(checked, 47)
        XCTAssertEqual(SymbolicConstant.value("af_inet"), 2)
        XCTAssertEqual(SymbolicConstant.value("IORING_OP_URING_CMD128"), 64)
        XCTAssertNil(SymbolicConstant.value("AF_BOGUS"))
    }

    func testHtonsAndIPv4MatchC() {
        for port: UInt16 in [0, 1, 80, 443, 8080, 0xffff] {
            XCTAssertEqual(SymbolicConstant.htons(port), kbpf_htons(port), "\(port)")
        }
        XCTAssertEqual(SymbolicConstant.htons(80), 0x5000)
        for addr in ["127.0.0.1", "10.0.0.1", "192.168.1.254", "0.0.0.0", "255.255.255.255"] {
            XCTAssertEqual(SymbolicConstant.ipv4(addr), kbpf_ipv4(addr), addr)
        }
        XCTAssertEqual(SymbolicConstant.ipv4("127.0.0.1"), 0x0100007f)
        for bad in ["1.2.3", "1.2.3.4.5", "256.0.0.1", "a.b.c.d", "1..2.3"] {
            XCTAssertNil(SymbolicConstant.ipv4(bad), bad)
        }
        XCTAssertEqual(try Assembler.immediate("#htons(443)"), 0xbb01)
        XCTAssertEqual(try Assembler.immediate("O_CREAT | O_EXCL"), 0o300)
        XCTAssertEqual(try Assembler.immediate("-1"), 0xffffffff)
        XCTAssertThrowsError(try Assembler.immediate("#htons(70000)"))
    }

    func testOneLinerWithLabels() {
        let program = asm("ld [opcode]; jeq #1, allow, deny; allow: ret #1; deny: ret #0")
        XCTAssertEqual(program, [
            BPF.stmt(BPF.LD | BPF.W | BPF.ABS, 8),
            BPF.stmt(BPF.ALU | BPF.AND | BPF.K, 0xff),
            BPF.jump(BPF.JMP | BPF.JEQ | BPF.K, 1, 0, 1),
            BPF.stmt(BPF.RET | BPF.K, 1),
            BPF.stmt(BPF.RET | BPF.K, 0),
        ])
    }

    func testLabelsResolveAcrossFieldExpansion() {
        let program = asm("""
            // deny SOCKET with IOSQE_ASYNC
            start:  ld [sqe_flags]          // three instructions
                    jset #IOSQE_ASYNC, deny
                    ld [opcode]
                    jeq #IORING_OP_SOCKET, deny, allow
            allow:  ret #1
            deny:
                    ret #0
            """)
        XCTAssertEqual(program.count, 9)
        XCTAssertEqual(program[3], BPF.jump(BPF.JMP | BPF.JSET | BPF.K, 16, 4, 0))   // -> pc 8
        XCTAssertEqual(program[6], BPF.jump(BPF.JMP | BPF.JEQ | BPF.K, 45, 1, 0))    // -> 8, 7
        XCTAssertEqual(program[8], BPF.stmt(BPF.RET | BPF.K, 0))
    }

    func testJumpLabelForms() {
        // ja backwards wraps (the kernel refuses it; the assembler must not).
        XCTAssertEqual(asm("top: ld #1; ja top")[1], BPF.stmt(BPF.JMP | BPF.JA, 0xfffffffe))
        // A trailing label is the end of the program: a jump past the last instruction.
        XCTAssertEqual(asm("jeq #1, end, +0; ret #0; end:")[0], BPF.jump(BPF.JMP | BPF.JEQ | BPF.K, 1, 1, 0))
        XCTAssertEqual(asm("ja next; next: ret #0")[0], BPF.stmt(BPF.JMP | BPF.JA, 0))
        XCTAssertEqual(asm("ja +100000; ret #0")[0].k, 100000)
        // jne with a label: the label is the false branch.
        XCTAssertEqual(asm("jne #3, out; ret #1; out: ret #0")[0], BPF.jump(BPF.JMP | BPF.JEQ | BPF.K, 3, 0, 1))
        // Labels are case-sensitive, mnemonics are not.
        XCTAssertEqual(asm("JEQ #1, Ok, ok\nOk: RET #1\nok: Ret #0")[0], BPF.jump(BPF.JMP | BPF.JEQ | BPF.K, 1, 0, 1))
        // Several labels on one instruction.
        XCTAssertEqual(asm("ja b; a: b: ret #0")[0].k, 0)
    }

    func testKernelRejectedInstructionsStillAssemble() {
        for source in ["ldh [0]", "mod #3", "ld [3]", "div #0", "jmp +300", "ret x", "ld [x + 0]",
                       "ld [40]", "ld M[99]", "ldx 4*([0]&0xf)", "ld proto", "{ 0x08, 0, 0, 0 }"] {
            XCTAssertNoThrow(try Assembler.assemble(source + "; ret #1"), source)
        }
        // 4097 instructions: BPF_MAXINSNS is the kernel's limit to enforce.
        XCTAssertEqual(asm(String(repeating: "ret #1\n", count: 4097)).count, 4097)
    }

    func testNumbers() {
        XCTAssertEqual(asm("ld #0x10")[0].k, 16)
        XCTAssertEqual(asm("ld #0b101")[0].k, 5)
        XCTAssertEqual(asm("ld #0o17")[0].k, 15)
        XCTAssertEqual(asm("ld #-2")[0].k, 0xfffffffe)
        XCTAssertEqual(asm("ld #4294967295")[0].k, 0xffffffff)
        XCTAssertEqual(asm("ld #0")[0].k, 0)
        XCTAssertEqual(asm("ld #0XFF")[0].k, 255)
    }

    /// Every error names the 1-based line of the offending statement.
    func testErrorsReportLine() {
        let cases: [(String, Int, String)] = [
            ("", 1, "empty program"),
            ("// nothing\nlabel:", 1, "empty program"),
            ("ret #1\nfoo #1", 2, "unknown instruction 'foo'"),
            ("ret #1; ret #2\nld [user_data]", 2, "user_data.lo or user_data.hi"),
            ("\n\nld [connect.v6_addr]", 3, "connect.v6_addr.0"),
            ("ld [bogus]", 1, "known fields: user_data.lo"),
            ("ldh [opcode]", 1, "use ld"),
            ("ret #1\n\nja nowhere", 3, "undefined label 'nowhere'"),
            ("a: ret #1\na: ret #0", 2, "duplicate label 'a'"),
            ("x: ld #1\njeq #1, x, +0", 2, "backwards"),
            ("jeq #1, +256", 1, "0...255"),
            ("jeq #1, far\n" + String(repeating: "ret #0\n", count: 256) + "far: ret #1", 1, "at most 255"),
            ("ld #4294967296", 1, "does not fit in 32 bits"),
            ("ld #12abc", 1, "bad number"),
            ("ld #010", 1, "ambiguous number"),
            ("ld #0b102", 1, "bad number"),
            ("ld #AF_BOGUS", 1, "unknown constant 'AF_BOGUS'"),
            ("ld #ipv4(1.2.3)", 1, "ipv4(a.b.c.d)"),
            ("ld #htons(65536)", 1, "16 bits"),
            ("ret", 1, "ret takes one operand"),
            ("ret #1, #2", 1, "ret takes one operand"),
            ("tax x", 1, "tax takes no operand"),
            ("add [4]", 1, "add: expected #k or x"),
            ("jeq #1", 1, "one or two jump targets"),
            ("jeq [4], +1", 1, "#k or x as first operand"),
            ("jeq #1, -1", 1, "bad jump target"),
            ("st #3", 1, "st: expected M[k]"),
            ("ldxb [3]", 1, "4*([k]&0xf)"),
            ("ld [x + y]", 1, "bad number"),
            ("ld []", 1, "empty brackets"),
            ("ret #1\n{ 0x06, 0, 0 }", 2, "4 fields"),
            ("{ 0x10000, 0, 0, 0 }", 1, "16 bits"),
            ("{ 6, 256, 0, 0 }", 1, "0...255"),
            ("{ 6, 0, 0, 0", 1, "{ code, jt, jf, k }"),
            ("ret #1\n9bad: ret #0", 2, "bad label"),
        ]
        for (source, line, message) in cases {
            XCTAssertThrowsError(try Assembler.assemble(source), source) { error in
                guard let e = error as? AssemblyError else { return XCTFail("\(source): \(error)") }
                XCTAssertEqual(e.line, line, "\(source): \(e)")
                XCTAssertTrue(e.message.contains(message), "\(source): '\(e.message)' lacks '\(message)'")
                XCTAssertEqual(e.description, "line \(line): \(e.message)")
            }
        }
    }

    func testCRLFLineEndings() {
        XCTAssertEqual(asm("ld #1\r\nret a\r\n").count, 2)
        XCTAssertThrowsError(try Assembler.assemble("ret #1\r\nbad")) { XCTAssertEqual(($0 as? AssemblyError)?.line, 2) }
    }

    func testCommentsAndBlankStatements() {
        XCTAssertEqual(asm("  ;; ret #1 // ; ret #2\n;\n  // ret #3"), [BPF.stmt(BPF.RET | BPF.K, 1)])
    }
}
