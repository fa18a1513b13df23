import XCTest
import Foundation
@testable import RingfenceKit
@testable import RingfenceCore

/// The loader's promise: a bad case file gives file:line: field: message, never a crash.
final class CaseLoaderTests: XCTestCase {
    private func error(_ yaml: String, file: String = "t.yaml") -> CaseFileError? {
        do { _ = try CaseLoader.load(yaml: yaml, file: file); return nil } catch let e as CaseFileError { return e } catch {
            XCTFail("unexpected error type \(error)"); return nil
        }
    }

    func testMinimalCaseLoads() throws {
        let cases = try CaseLoader.load(yaml: """
            - name: Allow NOP
              steps:
                - register: { opcode: NOP, program: "ret #1" }
            """, file: "area/file.yaml")
        XCTAssertEqual(cases.count, 1)
        XCTAssertEqual(cases[0].id, "area/file:allow-nop")
        XCTAssertEqual(cases[0].location.line, 1)
        XCTAssertEqual(cases[0].requires, [.bpfFilter, .opcode(0)])
        guard case .register(let reg, let expect, let loc) = cases[0].steps[0] else { return XCTFail("not a register step") }
        XCTAssertEqual(reg.program, [BPFInstruction(code: 0x06, jt: 0, jf: 0, k: 1)])
        XCTAssertNil(expect.errno)
        XCTAssertEqual(loc.line, 3)
    }

    func testUnknownKeyNamesLineAndField() {
        let e = error("""
            - name: x
              steps:
                - register: { opcode: NOP, program: "ret #1", cmd_flag: 1 }
            """)
        XCTAssertEqual(e?.line, 3)
        XCTAssertEqual(e?.field, "[0].steps[0].register")
        XCTAssertTrue(e?.message.contains("unknown key 'cmd_flag'") ?? false, e?.message ?? "")
        XCTAssertTrue(e?.description.hasPrefix("t.yaml:3: [0].steps[0].register: unknown key") ?? false)
    }

    func testUnknownErrnoAndOpcode() {
        XCTAssertTrue(error("""
            - name: x
              steps:
                - register: { opcode: NOP, program: "ret #1" }
                  expect: { errno: EWHATEVER }
            """)?.message.contains("unknown errno name 'EWHATEVER'") ?? false)
        let op = error("""
            - name: x
              steps:
                - register: { opcode: NOPE, program: "ret #1" }
            """)
        XCTAssertEqual(op?.field, "[0].steps[0].register.opcode")
        XCTAssertTrue(op?.message.contains("unknown opcode 'NOPE'") ?? false)
    }

    func testAssemblyErrorPointsAtTheProgramLine() {
        let e = error("""
            - name: x
              steps:
                - register:
                    opcode: NOP
                    program: |
                      ld [opcode]
                      jeq #1, nowhere
                      ret #1
            """)
        XCTAssertEqual(e?.line, 7, e?.description ?? "")
        XCTAssertTrue(e?.message.contains("program line 2") ?? false, e?.message ?? "")
    }

    func testMissingPiecesAreNamed() {
        XCTAssertTrue(error("- steps: []")?.message.contains("has no 'name'") ?? false)
        XCTAssertTrue(error("- name: x")?.message.contains("has no 'steps'") ?? false)
        XCTAssertTrue(error("""
            - name: x
              steps:
                - submit: [ { op: NOP } ]
            """)?.message.contains("needs 'expect") ?? false)
        XCTAssertTrue(error("""
            - name: x
              steps:
                - register: { opcode: NOP, program: "ret #1" }
                  submit: []
            """)?.message.contains("exactly one action") ?? false)
    }

    func testHashInNameIsRefused() {
        XCTAssertTrue(error("""
            - name: "bad # name"
              steps: [ { no_new_privs: true } ]
            """)?.message.contains("'#'") ?? false)
    }

    func testYAMLSyntaxErrorHasALine() {
        let e = error("- name: x\n  steps: [\n    - oops: {")
        XCTAssertNotNil(e)
        XCTAssertTrue(e?.message.hasPrefix("YAML syntax") ?? false)
        XCTAssertGreaterThan(e?.line ?? 0, 0)
    }

    func testSweepExpandsAndChecksItsVariable() throws {
        let cases = try CaseLoader.load(yaml: """
            - name: sweep
              steps:
                - for: { off: "0..12 step 4", except: [8] }
                  register: { opcode: NOP, program: "ld [$off]; ret #1" }
            """, file: "s.yaml")
        guard case .sweep(let sweep, _, _, _) = cases[0].steps[0] else { return XCTFail("not a sweep") }
        XCTAssertEqual(sweep.values, [0, 4, 12])
        XCTAssertTrue(error("""
            - name: sweep
              steps:
                - for: { off: "0..3" }
                  register: { opcode: NOP, program: "ret #1" }
            """)?.message.contains("neither the program nor the opcode uses $off") ?? false)
    }

    func testTypedSQEHelpers() throws {
        let cases = try CaseLoader.load(yaml: """
            - name: helpers
              steps:
                - submit:
                    - { op: SOCKET, domain: AF_INET, type: [SOCK_DGRAM, SOCK_CLOEXEC], protocol: 17, user_data: 9 }
                    - { op: OPENAT2, path: /dev/null, open_flags: O_RDONLY, resolve: RESOLVE_BENEATH }
                    - { op: CONNECT, connect: "127.0.0.1:80" }
                  expect: { cqes: [ { user_data: 9, res: ok }, { user_data: 2, res: allowed }, { user_data: 3, res: -ECONNREFUSED } ] }
            """, file: "h.yaml")
        guard case .submit(_, let sqes, let expect, _) = cases[0].steps[0] else { return XCTFail("not a submit") }
        XCTAssertEqual(sqes[0].fd, 2)
        XCTAssertEqual(sqes[0].off, 2 | 0o2000000)
        XCTAssertEqual(sqes[0].len, 17)
        XCTAssertEqual(sqes[1].fd, -100)
        XCTAssertEqual(sqes[1].addrPayload, Array("/dev/null".utf8) + [0])
        XCTAssertEqual(sqes[1].offPayload?.count, 24)
        XCTAssertEqual(sqes[1].len, 24)
        XCTAssertEqual(sqes[2].addrPayload?.count, 16)
        XCTAssertEqual(sqes[2].addrPayload?[2...3], [0, 80])   // port in network order
        XCTAssertEqual(expect.cqes.map(\.res), [.success, .notDenied, .exactly(-111)])
    }

    func testShippedCasesLintClean() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let (cases, errors) = try CaseLoader.loadCollectingErrors(directory: root.appendingPathComponent("cases").path)
        XCTAssertEqual(errors, [])
        XCTAssertGreaterThanOrEqual(cases.count, 40)
        // ringfence lint also wants a why: on every case (CaseLint).
        XCTAssertEqual(CaseLint.missingWhy(cases).map(\.description), [])
    }

    /// Lint's why: rule: a case without one (or with a blank one) is an error
    /// at its name's line that names the case and says what to write.
    func testLintWantsWhyOnEveryCase() throws {
        let cases = try CaseLoader.load(yaml: """
            - name: with a why
              why: __io_uring_run_bpf_filters() denies on 0
              steps:
                - register: { opcode: NOP, program: "ret #1" }
            - name: without a why
              steps:
                - register: { opcode: NOP, program: "ret #1" }
            - name: blank why
              why: "  "
              steps:
                - register: { opcode: NOP, program: "ret #1" }
            """, file: "area/t.yaml")
        let errors = CaseLint.missingWhy(cases)
        XCTAssertEqual(errors.map(\.line), [5, 8])
        XCTAssertEqual(errors.map(\.field), ["why", "why"])
        XCTAssertTrue(errors[0].description.hasPrefix("area/t.yaml:5: why: case 'without a why' has no why:; add one line 'why: ...'"),
                      errors[0].description)
        XCTAssertTrue(errors[0].message.contains("kernel function and file"), errors[0].message)
    }
}
