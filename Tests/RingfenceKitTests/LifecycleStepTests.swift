import XCTest
@testable import RingfenceKit
@testable import RingfenceCore

/// The lifecycle steps: how they parse, what lint refuses, how an exec'd image gets its
/// steps back, and what the model does with them (verdicts come from the VM).
final class LifecycleStepTests: XCTestCase {
    private func steps(_ yaml: String) throws -> [Step] {
        let cases = try CaseLoader.load(yaml: yaml, file: "t.yaml")
        return try XCTUnwrap(cases.first).steps
    }

    func testExecWithKeepAndBefore() throws {
        let s = try steps("""
        - name: n
          steps:
            - exec:
                keep: [r]
                before: [ { setup: { name: b } } ]
                steps:
                  - submit: [ { op: NOP, user_data: 1 } ]
                    ring: r
                    expect: { cqes: [ { user_data: 1, res: 0 } ] }
            - spawn: [ { no_new_privs: true } ]
        """)
        guard case .exec(let e, _) = s[0], case .exec(let sp, _) = s[1] else { return XCTFail("not exec/spawn") }
        XCTAssertFalse(e.spawn); XCTAssertTrue(sp.spawn)
        XCTAssertEqual(e.keep, ["r"])
        XCTAssertEqual(e.before.count, 1); XCTAssertEqual(e.steps.count, 1)
        XCTAssertEqual(s[0].kind, "exec"); XCTAssertEqual(s[1].kind, "spawn")
        // What the new image decodes: the steps as compiled here, not parsed again.
        let parsed = try CompiledCases.decodeSteps(try CompiledCases.encodeSteps(e.steps))
        XCTAssertEqual(parsed, e.steps)
        guard parsed.count == 1, case .submit(let ring, let sqes, _, let loc) = parsed[0] else { return XCTFail("steps did not survive") }
        XCTAssertEqual(ring, "r"); XCTAssertEqual(sqes.count, 1)
        XCTAssertEqual(loc.file, "t.yaml")
    }

    func testSpawnTakesNoBefore() {
        XCTAssertThrowsError(try steps("""
        - name: n
          steps:
            - spawn: { before: [ { no_new_privs: true } ], steps: [ { no_new_privs: true } ] }
        """))
    }

    func testSendRingOnlyInsideFork() throws {
        XCTAssertThrowsError(try steps("""
        - name: n
          steps:
            - send_ring: c
        """)) { XCTAssertTrue("\($0)".contains("fork")) }
        XCTAssertThrowsError(try steps("""
        - name: n
          steps:
            - fork:
                - exec: [ { send_ring: c } ]
        """))
        let s = try steps("""
        - name: n
          steps:
            - fork:
                - thread: [ { send_ring: { ring: c, as: d, via: pidfd_getfd } } ]
                - send_ring: c
                  expect: { errno: EINVAL }
        """)
        guard case .fork(let inner, _) = s[0], case .thread(let t, _) = inner[0],
              case .sendRing(let r, let alias, let via, nil, _) = t[0],
              case .sendRing(_, _, .scmRights, let e?, _) = inner[1] else { return XCTFail("shape") }
        XCTAssertEqual([r, alias], ["c", "d"]); XCTAssertEqual(via, .pidfdGetfd); XCTAssertEqual(e, Errno.EINVAL)
    }

    func testRingFDHelperAndUserNamespace() throws {
        let s = try steps("""
        - name: n
          steps:
            - user_namespace: true
            - submit: [ { op: MSG_RING, ring_fd: t, off: 7, len: 1 } ]
              ring: s
              expect: { cqes: [ { user_data: 1, res: 0 } ] }
        """)
        guard case .userNamespace = s[0], case .submit(_, let sqes, _, _) = s[1] else { return XCTFail("shape") }
        XCTAssertEqual(sqes[0].ringForFD, "t")
        XCTAssertThrowsError(try steps("- name: n\n  steps:\n    - user_namespace: false\n"))
    }

    /// The model: a thread's rings stay the process's; exec keeps only kept rings and drops
    /// the capabilities of an unmapped user in a new user namespace.
    func testModelLifecycle() throws {
        let s = try steps("""
        - name: n
          steps:
            - thread:
                - register: { task: true, opcode: NOP, program: "ret #0" }
                - setup: { name: t }
            - submit: [ { op: NOP, user_data: 1 } ]
              ring: t
              expect: { cqes: [ { user_data: 1, res: -EACCES } ] }
            - drop_privileges: true
            - user_namespace: true
            - register: { task: true, opcode: NOP, program: "ret #1" }
            - exec:
                - register: { task: true, opcode: NOP, program: "ret #1" }
                  expect: { errno: EACCES }
        """)
        let out = Executor(backend: ReferenceKernel(), opcodeLast: Opcode.lastKnown, cqeTimeoutMs: 0).run(s)
        XCTAssertTrue(out.passed, out.diagnostics.joined(separator: "\n"))
    }
}
