import XCTest
import CKernelABI
@testable import RingfenceKit
@testable import RingfenceCore

/// The assembler's byte-order handling (issue 26): named context fields and
/// the byte-order constants for little- and big-endian targets.
final class ByteOrderTests: XCTestCase {
    private typealias A = ContextField.Access

    /// Hand-computed: byte b of a word, size s: little shift 8b, big 8(4-b-s);
    /// a mask only where the field does not reach the top of the word.
    func testFieldAccessIsHandComputedForBothOrders() {
        let want: [(String, A, A)] = [
            ("user_data.lo", A(wordOffset: 0, shift: 0, mask: nil), A(wordOffset: 4, shift: 0, mask: nil)),
            ("user_data.hi", A(wordOffset: 4, shift: 0, mask: nil), A(wordOffset: 0, shift: 0, mask: nil)),
            ("opcode", A(wordOffset: 8, shift: 0, mask: 0xff), A(wordOffset: 8, shift: 24, mask: nil)),
            ("sqe_flags", A(wordOffset: 8, shift: 8, mask: 0xff), A(wordOffset: 8, shift: 16, mask: 0xff)),
            ("pdu_size", A(wordOffset: 8, shift: 16, mask: 0xff), A(wordOffset: 8, shift: 8, mask: 0xff)),
            ("pad.0", A(wordOffset: 8, shift: 24, mask: nil), A(wordOffset: 8, shift: 0, mask: 0xff)),
            ("socket.type", A(wordOffset: 20, shift: 0, mask: nil), A(wordOffset: 20, shift: 0, mask: nil)),
            ("open.flags", A(wordOffset: 16, shift: 0, mask: nil), A(wordOffset: 20, shift: 0, mask: nil)),
            ("open.flags.hi", A(wordOffset: 20, shift: 0, mask: nil), A(wordOffset: 16, shift: 0, mask: nil)),
            ("open.mode", A(wordOffset: 24, shift: 0, mask: nil), A(wordOffset: 28, shift: 0, mask: nil)),
            ("open.resolve.hi", A(wordOffset: 36, shift: 0, mask: nil), A(wordOffset: 32, shift: 0, mask: nil)),
            ("connect.port", A(wordOffset: 20, shift: 0, mask: 0xffff), A(wordOffset: 20, shift: 16, mask: nil)),
            ("connect.pad", A(wordOffset: 20, shift: 16, mask: nil), A(wordOffset: 20, shift: 0, mask: 0xffff)),
            ("connect.v4_addr", A(wordOffset: 24, shift: 0, mask: nil), A(wordOffset: 24, shift: 0, mask: nil)),
        ]
        for (name, little, big) in want {
            guard let f = ContextField.named(name) else { XCTFail("no field \(name)"); continue }
            XCTAssertEqual(f.access(.little), little, name)
            XCTAssertEqual(f.access(.big), big, name)
        }
        XCTAssertEqual(try Assembler.assemble("ld [sqe_flags]", byteOrder: .big),
                       [BPF.stmt(BPF.LD | BPF.W | BPF.ABS, 8), BPF.stmt(BPF.ALU | BPF.RSH | BPF.K, 16), BPF.stmt(BPF.ALU | BPF.AND | BPF.K, 0xff)])
        XCTAssertEqual(try Assembler.assemble("ld [sqe_flags]"),
                       [BPF.stmt(BPF.LD | BPF.W | BPF.ABS, 8), BPF.stmt(BPF.ALU | BPF.RSH | BPF.K, 8), BPF.stmt(BPF.ALU | BPF.AND | BPF.K, 0xff)])
    }

    /// Against the C compiler: each field is written at its offsetof() in a
    /// context image of either byte order, with 0xa5 in every other byte; a
    /// program `ld [field]; ret a` assembled for that order must return the
    /// field's value. The big-endian machine is emulated by swapping each
    /// word before the (little-endian) interpreter loads it.
    func testEveryFieldReadsItsValueOnBothOrders() throws {
        let cFields: [String: (String, Int)] = [
            "user_data.lo": ("user_data", 8), "user_data.hi": ("user_data", 8),
            "opcode": ("opcode", 1), "sqe_flags": ("sqe_flags", 1), "pdu_size": ("pdu_size", 1), "pad.0": ("pad", 1),
            "socket.family": ("socket.family", 4), "socket.type": ("socket.type", 4), "socket.protocol": ("socket.protocol", 4),
            "open.flags": ("open.flags", 8), "open.flags.hi": ("open.flags", 8), "open.mode": ("open.mode", 8),
            "open.mode.hi": ("open.mode", 8), "open.resolve": ("open.resolve", 8), "open.resolve.hi": ("open.resolve", 8),
            "connect.family": ("connect.family", 4), "connect.port": ("connect.port", 2), "connect.pad": ("connect.pad", 2),
            "connect.v4_addr": ("connect.v4_addr", 4),
            "connect.v6_addr.0": ("connect.v6_addr", 16), "connect.v6_addr.1": ("connect.v6_addr", 16),
            "connect.v6_addr.2": ("connect.v6_addr", 16), "connect.v6_addr.3": ("connect.v6_addr", 16),
        ]
        XCTAssertEqual(Set(cFields.keys), Set(ContextField.all.map(\.name)), "every named field is checked")
        for order in ByteOrder.allCases {
            for f in ContextField.all {
                let (cName, cSize) = cFields[f.name]!
                let off = kabi_value("io_uring_bpf_ctx." + cName)
                XCTAssertNotEqual(off, -1, cName)
                var image = [UInt8](repeating: 0xa5, count: FilterABI.Context.size)
                let value: UInt64 = 0x0123_4567_89ab_cdef
                let want: UInt32
                if cSize == 16 {
                    // A byte array: network order, the same on both machines.
                    for i in 0..<16 { image[off + i] = UInt8(0x10 + i) }
                    let n = Int(f.name.last!.wholeNumberValue!)
                    want = order.word(Array(image[off + 4 * n..<off + 4 * n + 4]))
                } else {
                    let bytes = (0..<cSize).map { i in
                        UInt8(truncatingIfNeeded: value >> UInt64(8 * (order == .little ? i : cSize - 1 - i)))
                    }
                    for (i, b) in bytes.enumerated() { image[off + i] = b }
                    let mask: UInt64 = cSize == 8 ? ~0 : (1 << UInt64(8 * cSize)) - 1
                    let v = value & mask
                    want = UInt32(truncatingIfNeeded: f.name.hasSuffix(".hi") ? v >> 32 : v)
                }
                let program = try Assembler.assemble("ld [\(f.name)]; ret a", byteOrder: order)
                XCTAssertEqual(program.count, try Assembler.assemble("ld [\(f.name)]; ret a", byteOrder: order == .big ? .little : .big).count,
                               "\(f.name): both orders take as many instructions")
                let seen = order == .little ? image : stride(from: 0, to: image.count, by: 4).flatMap { image[$0..<$0 + 4].reversed() }
                XCTAssertEqual(try CBPFInterpreter.run(program, context: seen), want, "\(f.name) on \(order)")
            }
        }
    }

    func testByteOrderConstants() throws {
        XCTAssertEqual(try Assembler.immediate("#htons(80)"), 0x5000)
        XCTAssertEqual(try Assembler.immediate("#htons(80)", target: AsmTarget(byteOrder: .big)), 80)
        XCTAssertEqual(try Assembler.immediate("#ipv4(127.0.0.1)"), 0x0100007f)
        XCTAssertEqual(try Assembler.immediate("#ipv4(127.0.0.1)", target: AsmTarget(byteOrder: .big)), 0x7f000001)
        // The words of fe80::1 as the kernel's CONNECT context holds them.
        XCTAssertEqual(try (0...3).map { try Assembler.immediate("#ipv6(fe80::1)[\($0)]") }, [0x000080fe, 0, 0, 0x01000000])
        XCTAssertEqual(try (0...3).map { try Assembler.immediate("#ipv6(fe80::1)[\($0)]", target: AsmTarget(byteOrder: .big)) },
                       [0xfe800000, 0, 0, 1])
        XCTAssertEqual(SymbolicConstant.ipv6("::ffff:10.1.2.3"), [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 2, 3])
        XCTAssertEqual(SymbolicConstant.ipv6("2001:db8:0:0:0:0:0:1"), SymbolicConstant.ipv6("2001:db8::1"))
        for bad in ["1::2::3", "fe80:::1", "12345::", "1:2:3:4:5:6:7:8:9", "g::1", "1:2:3:4:5:6:7"] {
            XCTAssertNil(SymbolicConstant.ipv6(bad), bad)
        }
        XCTAssertThrowsError(try Assembler.immediate("#ipv6(::1)[4]"))
        XCTAssertThrowsError(try Assembler.immediate("#ipv6(::1)"))
        XCTAssertEqual(try Assembler.immediate("#O_LARGEFILE"), 0x8000)
        XCTAssertEqual(try Assembler.immediate("#O_RDONLY|O_LARGEFILE", target: AsmTarget(oLargefile: 0x20000)), 0x20000)
        // A colon inside ipv6() is not a label's; a label before it still is.
        let p = try Assembler.assemble("ld [connect.v6_addr.3]; x: jeq #ipv6(::1)[3], ok; ret #0; ok: ret #1", byteOrder: .big)
        XCTAssertEqual(p[1], BPFInstruction(code: BPF.JMP | BPF.JEQ | BPF.K, jt: 1, jf: 0, k: 1))
    }

    func testRawContextLoadsAreFound() {
        let src = "ld [sqe_flags]\nok: ld [8]; rsh #8\nld [x+4]; ld #8; ldh [0]\n  ld [ 20 ] // port"
        XCTAssertEqual(Assembler.rawContextLoads(src).map { [$0.line, Int($0.offset)] }, [[2, 8], [4, 20]])
        XCTAssertNotNil(ContextField.orderDependentWord(8, opcode: 0))
        XCTAssertNil(ContextField.orderDependentWord(20, opcode: Opcode.socket))
        XCTAssertNotNil(ContextField.orderDependentWord(20, opcode: Opcode.connect))
        XCTAssertNil(ContextField.orderDependentWord(16, opcode: Opcode.connect), "connect.family is a whole word")
        XCTAssertNotNil(ContextField.orderDependentWord(16, opcode: Opcode.openat2))
        XCTAssertNil(ContextField.orderDependentWord(12, opcode: nil), "pad[1..4] is a zero word")
    }
}

/// The Swift runner skips a case declared for the other byte order (the
/// guest is little-endian x86_64) and runs one declared for its own.
final class DeclaredByteOrderRunnerTests: XCTestCase {
    func testRunnerSkipsACaseOfTheOtherByteOrder() throws {
        let cases = try CaseLoader.load(yaml: """
            - name: big only
              why: x
              byte_order: { order: big, reason: "the word's big-endian layout" }
              steps:
                - register: { opcode: NOP, program: "ret #1" }
            - name: little only
              why: x
              byte_order: { order: little, reason: "the word's little-endian layout" }
              steps:
                - register: { opcode: NOP, program: "ret #1" }
            """, file: "context/v.yaml")
        let runner = Runner(facts: .fake())
        let other: ByteOrder = ByteOrder.host == .little ? .big : .little
        let (skipped, runs) = cases[0].byteOrder?.order == other ? (cases[0], cases[1]) : (cases[1], cases[0])
        XCTAssertEqual(runner.unmetRequirement(skipped),
                       "the case holds on \(other) machines only (byte_order: \(skipped.byteOrder!.reason))")
        XCTAssertNil(runner.unmetRequirement(runs))
    }

    func testByteOrderNeedsOrderAndReason() {
        for (yaml, message) in [
            ("byte_order: little", "write byte_order: { order: little, reason:"),
            ("byte_order: { order: middle, reason: x }", "order is little or big"),
            ("byte_order: { order: big }", "byte_order needs a 'reason'"),
        ] {
            XCTAssertThrowsError(try CaseLoader.load(yaml: """
                - name: n
                  \(yaml)
                  steps:
                    - register: { opcode: NOP, program: "ret #1" }
                """, file: "context/u.yaml")) { e in
                XCTAssertTrue("\(e)".contains(message), "\(e)")
            }
        }
    }
}
