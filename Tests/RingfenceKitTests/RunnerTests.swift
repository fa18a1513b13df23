import XCTest
import Foundation
@testable import RingfenceKit
@testable import RingfenceCore

final class RunnerTests: XCTestCase {
    private func cases(_ yaml: String) throws -> [TestCase] { try CaseLoader.load(yaml: yaml, file: "r.yaml") }

    private let denyCase = """
        - name: deny NOP
          steps:
            - register: { opcode: NOP, program: "ret #0" }
            - submit: [ { op: NOP, user_data: 7 } ]
              expect: { cqes: [ { user_data: 7, res: -EACCES } ] }
        """

    private func inProcess(_ kernel: ScriptedKernel, facts: KernelFacts = .fake()) -> Runner {
        var o = RunOptions()
        o.isolate = false
        return Runner(facts: facts, options: o, backend: { kernel })
    }

    func testPassWhenTheBackendDoesWhatTheCaseSays() throws {
        let k = ScriptedKernel()
        k.nopResult = -Errno.EACCES
        let r = inProcess(k).run(try cases(denyCase)[0])
        XCTAssertEqual(r.status, .pass, r.diagnostics.joined(separator: "\n"))
        XCTAssertEqual(k.calls.count, 1)
        XCTAssertEqual(k.calls[0].opcode, 37)
        XCTAssertEqual(k.calls[0].nrArgs, 1)
        XCTAssertEqual(k.calls[0].arg.count, 72)
        XCTAssertEqual(k.calls[0].program, [0x06, 0, 0, 0, 0, 0, 0, 0])
    }

    func testFailureSaysObservedAndExpected() throws {
        let k = ScriptedKernel()   // NOP completes with 0: the deny did not happen
        let r = inProcess(k).run(try cases(denyCase)[0])
        XCTAssertEqual(r.status, .fail)
        XCTAssertTrue(r.diagnostics[0].contains("step 2 (submit, r.yaml:4)"), r.diagnostics[0])
        XCTAssertTrue(r.diagnostics[0].contains("expected res -EACCES, observed 0"), r.diagnostics[0])
    }

    func testRegisterErrnoMismatch() throws {
        let k = ScriptedKernel()
        k.registerResult = { _ in -Errno.EINVAL }
        let r = inProcess(k).run(try cases(denyCase)[0])
        XCTAssertEqual(r.status, .fail)
        XCTAssertTrue(r.diagnostics[0].contains("expected success, observed -EINVAL"), r.diagnostics[0])
    }

    func testUnmetRequirementsSkipWithReason() throws {
        let c = try cases(denyCase)[0]
        XCTAssertEqual(inProcess(ScriptedKernel(), facts: .fake(bpfFilter: false)).run(c).reason, "kernel lacks IORING_REGISTER_BPF_FILTER")
        let socket = try cases("""
            - name: s
              requires: [context:CONNECT, root]
              steps: [ { no_new_privs: true } ]
            """)[0]
        XCTAssertEqual(inProcess(ScriptedKernel()).run(socket).reason, "kernel gives CONNECT no filter context")
        XCTAssertEqual(inProcess(ScriptedKernel(), facts: .fake(root: false, contexts: [16: 24])).run(socket).reason, "needs root (CAP_SYS_ADMIN)")
        let module = try cases("""
            - name: m
              requires: [module:sctp]
              steps: [ { no_new_privs: true } ]
            """)[0]
        let runner = inProcess(ScriptedKernel())
        XCTAssertEqual(runner.run(module).status, .skip)
        runner.loadModule = { _ in nil }
        XCTAssertEqual(runner.run(module).status, .pass)
    }

    func testLastResolvesToTheRunningKernelsOpcodeLast() throws {
        let k = ScriptedKernel()
        k.registerResult = { call in
            let op = ByteImage(bytes: call.arg).load(UInt32.self, at: 8)
            return op >= 60 ? -Errno.EINVAL : 0
        }
        var facts = KernelFacts.fake()
        facts.opcodeLast = 60
        let c = try cases("""
            - name: last
              steps:
                - register: { opcode: LAST, program: "ret #1" }
                  expect: { errno: EINVAL }
            """)[0]
        XCTAssertEqual(inProcess(k, facts: facts).run(c).status, .pass)
    }

    /// The fork-per-case path: a case that hangs is killed at its timeout.
    func testIsolatedCaseTimesOut() throws {
        let k = ScriptedKernel()
        k.hang = true
        var o = RunOptions()
        o.timeout = 0.5
        let runner = Runner(facts: .fake(), options: o, backend: { k })
        let start = Date()
        let r = runner.run(try cases(denyCase)[0])
        XCTAssertEqual(r.status, .timeout)
        XCTAssertLessThan(Date().timeIntervalSince(start), 5)
    }
}

final class KTAPWriterTests: XCTestCase {
    private func result(_ status: CaseStatus, reason: String? = nil, diags: [String] = []) -> CaseResult {
        CaseResult(id: "a/b:c", name: "c", file: "a/b.yaml", line: 3, status: status, reason: reason, diagnostics: diags)
    }

    func testDocumentShape() {
        let w = KTAPWriter()
        let header = w.header(suiteCount: 3, facts: .fake())
        XCTAssertEqual(header.first, "KTAP version 1")
        XCTAssertEqual(header.last, "1..3")
        XCTAssertEqual(w.result(1, result(.pass)), ["ok 1 a/b: c"])
        XCTAssertEqual(w.result(2, result(.skip, reason: "no feature")), ["ok 2 a/b: c # SKIP no feature"])
        XCTAssertEqual(w.result(3, result(.fail, diags: ["expected x, observed y"])),
                       ["# a/b.yaml:3", "# expected x, observed y", "not ok 3 a/b: c"])
        XCTAssertEqual(w.result(4, result(.timeout, reason: "10 seconds")).last, "not ok 4 a/b: c # TIMEOUT 10 seconds")
        XCTAssertEqual(w.result(5, result(.xfail, reason: "fixed by abc")).last, "ok 5 a/b: c # XFAIL known bug: fixed by abc")
        XCTAssertEqual(w.result(6, result(.xpass, reason: "fixed by abc")).last, "ok 6 a/b: c # XPASS known bug entry no longer needed: fixed by abc")
        XCTAssertEqual(w.result(7, result(.crash, reason: "case process killed by signal 9"), indent: "    ", name: "b: c"),
                       ["    # a/b.yaml:3", "    not ok 7 b: c # ERROR case process killed by signal 9"])
    }

    func testTotalsAndExitCodes() {
        XCTAssertEqual(Totals([result(.pass), result(.skip)]).exitCode, 0)
        XCTAssertEqual(Totals([result(.pass), result(.fail)]).exitCode, 1)
        XCTAssertEqual(Totals([result(.crash)]).exitCode, 1)
        XCTAssertEqual(Totals([result(.skip), result(.skip)]).exitCode, 4)
        XCTAssertEqual(Totals([result(.xfail), result(.skip)]).exitCode, 0)
        XCTAssertEqual(Totals([result(.xfail), result(.skip)]).exitCode(strict: true), 1)
        XCTAssertEqual(Totals([result(.xpass)]).exitCode(strict: true), 1)
        XCTAssertEqual(Totals([result(.pass), result(.skip)]).exitCode(strict: true), 0)
        XCTAssertEqual(Totals([result(.skip)]).exitCode(strict: true), 4)
        XCTAssertEqual(Totals([result(.pass), result(.fail), result(.skip)]).summary,
                       "1 passed, 1 failed, 1 skipped, 0 xfail (known bugs), 0 xpass, 0 errors")
        XCTAssertEqual(KTAPWriter().totals([result(.pass), result(.skip)]), "# Totals: pass:1 fail:0 xfail:0 xpass:0 skip:1 error:0")
        XCTAssertEqual(KTAPWriter().totals([result(.xfail), result(.xpass), result(.timeout), result(.crash)]),
                       "# Totals: pass:0 fail:1 xfail:1 xpass:1 skip:0 error:1")
    }
}
