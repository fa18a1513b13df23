import XCTest
@testable import RingfenceKit
@testable import RingfenceCore

/// The vocabulary extensions: opcode sweeps up to LAST-N, SQE helpers.
final class CaseVocabularyTests: XCTestCase {
    private func steps(_ yaml: String) throws -> [Step] {
        try XCTUnwrap(CaseLoader.load(yaml: yaml, file: "t.yaml").first).steps
    }

    func testSweepToLastResolvesOnTheRunningKernel() throws {
        let s = try steps("""
        - name: n
          steps:
            - for: { op: "0..LAST-1", except: [3] }
              register: { opcode: $op, program: "ret #1" }
        """)
        guard case .sweep(let sweep, _, _, _) = s[0] else { return XCTFail("not a sweep") }
        XCTAssertTrue(sweep.opcodeFromVariable)
        XCTAssertEqual(sweep.resolvedValues(opcodeLast: 6), [0, 1, 2, 4, 5])
        XCTAssertEqual(sweep.resolvedValues(opcodeLast: 0), [])
    }

    func testPlainRangeIsUnchanged() throws {
        let s = try steps("""
        - name: n
          steps:
            - for: { k: "1..3" }
              register: { opcode: NOP, program: "ld #$k; ret #1" }
        """)
        guard case .sweep(let sweep, let reg, _, _) = s[0] else { return XCTFail("not a sweep") }
        XCTAssertFalse(sweep.opcodeFromVariable)
        XCTAssertEqual(sweep.resolvedValues(opcodeLast: 65), [1, 2, 3])
        XCTAssertEqual(reg.opcode, .number(0))
    }

    func testSQEHelpers() throws {
        let s = try steps("""
        - name: n
          steps:
            - submit:
                - { op: TIMEOUT, timeout_ms: 1500 }
                - { op: POLL_ADD, pipe: read, op_flags: 1 }
                - { op: OPENAT2, path: "/", how_size: 32, how_tail: 7 }
                - { op: SOCKET, domain: AF_UNIX, type: SOCK_DGRAM|SOCK_CLOEXEC }
              expect: { cqes: [] }
        """)
        guard case .submit(_, let sqes, _, _) = s[0] else { return XCTFail("not a submit") }
        XCTAssertEqual(sqes[0].len, 1)
        XCTAssertEqual(sqes[0].addrPayload?.count, 16)
        XCTAssertEqual(sqes[0].addrPayload?[0], 1)           // tv_sec = 1
        XCTAssertEqual(sqes[1].pipeEndForFD, 0)
        XCTAssertEqual(sqes[2].len, 32)
        XCTAssertEqual(sqes[2].offPayload?.count, 32)
        XCTAssertEqual(sqes[2].offPayload?[31], 7)
        XCTAssertEqual(sqes[3].off, 2 | 0o2000000)
    }
}
