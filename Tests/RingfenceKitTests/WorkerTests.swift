import XCTest
import Foundation
#if canImport(Glibc)
import Glibc
#endif
@testable import RingfenceKit
@testable import RingfenceCore

final class WorkerTests: XCTestCase {
    private func cases(_ yaml: String) throws -> [TestCase] { try CaseLoader.load(yaml: yaml, file: "w.yaml") }

    private func isolation(_ steps: String) throws -> CaseIsolation {
        CaseIsolation.of(try cases("- name: c\n  steps:\n" + steps)[0])
    }

    // MARK: classification

    func testRingOnlyCasesShareAWorker() throws {
        XCTAssertEqual(try isolation("""
                - setup: { name: a, entries: 4 }
                - register: { ring: a, opcode: NOP, program: "ret #0" }
                - restrict: { ring: a, sqe_ops: [NOP] }
                - submit: [ { op: NOP, user_data: 1 } ]
                  ring: a
                  expect: { cqes: [ { user_data: 1, res: -EACCES } ] }
                - close: a
            """), .sharedWorker)
    }

    func testAnythingThatOutlivesTheRingsGetsAFreshChild() throws {
        func fresh(_ steps: String, _ why: String, file: StaticString = #filePath, line: UInt = #line) throws {
            guard case .freshChild(let reason) = try isolation(steps) else { return XCTFail("shared: \(steps)", file: file, line: line) }
            XCTAssertTrue(reason.contains(why), reason, file: file, line: line)
        }
        try fresh("    - register: { task: true, opcode: NOP, program: \"ret #0\" }\n", "task-level filter")
        try fresh("    - restrict: { task: true, sqe_ops: [NOP] }\n", "task-level restriction")
        try fresh("    - no_new_privs: true\n", "no_new_privs")
        try fresh("    - drop_privileges: true\n", "drops privileges")
        try fresh("    - fork:\n        - submit: [ { op: NOP, user_data: 1 } ]\n          expect: { cqes: [ { user_data: 1, res: 0 } ] }\n", "forks")
        try fresh("    - setup: { register_fd: true }\n", "ring fd")
        try fresh("    - submit: [ { op: NOP, addr: 0x7f0000000000, user_data: 1 } ]\n      expect: { cqes: [ { user_data: 1, res: any } ] }\n", "raw user pointer")
    }

    func testShippedCasesSplitAndTaskFilesNeverShare() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let all = try CaseLoader.load(directory: root.appendingPathComponent("cases").path)
        let shared = all.filter { CaseIsolation.of($0) == .sharedWorker }
        XCTAssertGreaterThan(shared.count, all.count / 2)
        for c in all where c.location.file.hasPrefix("task/") && c.steps.contains(where: { if case .fork = $0 { return true }; return false }) {
            XCTAssertNotEqual(CaseIsolation.of(c), .sharedWorker, c.id)
        }
    }

    // MARK: cleanliness

    func testStateCheckSeesALeftoverFdAndItsClosing() {
        let baseline = WorkerState.current()
        XCTAssertEqual(baseline.problems(comparedTo: baseline), [])
        XCTAssertEqual(WorkerState.current().problems(comparedTo: baseline), [])
        let fd = open("/dev/null", O_RDONLY)
        XCTAssertGreaterThanOrEqual(fd, 0)
        let leaked = WorkerState.current().problems(comparedTo: baseline)
        XCTAssertEqual(leaked, ["fds left open: \(fd) (/dev/null)"])
        close(fd)
        XCTAssertEqual(WorkerState.current().problems(comparedTo: baseline), [])
    }

    func testStateCheckSeesChildrenPlacementsAndCredentials() {
        let base = WorkerState(fds: [0: "/dev/console", 1: "/dev/console", 2: "/dev/console"])
        var now = base
        now.fds[1] = nil
        now.hasChildren = true
        now.placements = 2
        now.noNewPrivs = true
        now.euid = 65534
        XCTAssertEqual(now.problems(comparedTo: base), ["fds closed: 1", "child processes left", "2 memory placements left mapped",
                                                        "no_new_privs changed", "euid changed to 65534"])
    }

    // MARK: the pool, with the scripted backend

    private func pooled(_ kernel: ScriptedKernel, timeout: Double = 10, isolateAll: Bool = false) -> Runner {
        var o = RunOptions()
        o.timeout = timeout
        o.isolateAll = isolateAll
        return Runner(facts: .fake(), options: o, backend: { kernel })
    }

    private let ringCases = (1...6).map { i in """
        - name: ring case \(i)
          steps:
            - register: { opcode: NOP, program: "ret #0" }
            - submit: [ { op: NOP, user_data: \(i) } ]
              expect: { cqes: [ { user_data: \(i), res: -EACCES } ] }
        """ }.joined(separator: "\n")

    private func runAll(_ runner: Runner, _ cs: [TestCase], jobs: Int = 2) -> [CaseResult] {
        var out = [CaseResult?](repeating: nil, count: cs.count)
        var startedOrder: [Int] = []
        runner.runAll(cs, jobs: jobs, started: { startedOrder.append($0) }, finished: { out[$0] = $1 })
        XCTAssertEqual(startedOrder.sorted(), Array(cs.indices))
        return out.map { $0! }
    }

    func testSharedWorkersRunEveryCaseWithTheSameVerdicts() throws {
        let k = ScriptedKernel()
        k.nopResult = -Errno.EACCES
        let cs = try cases(ringCases + "\n" + """
            - name: fresh one
              steps: [ { no_new_privs: true } ]
            """)
        let runner = pooled(k)
        let results = runAll(runner, cs)
        XCTAssertEqual(results.map(\.status), Array(repeating: .pass, count: 7), results.flatMap(\.diagnostics).joined(separator: "\n"))
        XCTAssertEqual(runner.isolation.sharedWorker, 6)
        XCTAssertEqual(runner.isolation.freshChildren, 1)
        XCTAssertLessThanOrEqual(runner.isolation.workersStarted, 2)
        XCTAssertEqual(runner.isolation.dirty.count, 0)

        let all = pooled(k, isolateAll: true)
        XCTAssertEqual(runAll(all, cs).map(\.status), results.map(\.status))
        XCTAssertEqual(all.isolation.sharedWorker, 0)
        XCTAssertEqual(all.isolation.freshChildren, 7)
    }

    func testADirtyWorkerIsReplacedAndTheCaseReported() throws {
        let k = ScriptedKernel()
        k.nopResult = -Errno.EACCES
        // Registering with cmd_flags 2 leaks an fd in the worker.
        k.registerResult = { call in
            if ByteImage(bytes: call.arg).load(UInt16.self, at: 2) == 2 { _ = open("/dev/null", O_RDONLY) }
            return 0
        }
        let cs = try cases("""
            - name: leaks
              steps:
                - register: { opcode: NOP, program: "ret #0", cmd_flags: 2 }
            """ + "\n" + ringCases)
        let runner = pooled(k)
        let results = runAll(runner, cs, jobs: 1)
        XCTAssertEqual(results.map(\.status), Array(repeating: .pass, count: 7))
        XCTAssertEqual(runner.isolation.dirty.map(\.id), [cs[0].id])
        XCTAssertTrue(runner.isolation.dirty[0].problems.contains("/dev/null"), runner.isolation.dirty[0].problems)
        XCTAssertTrue(results[0].diagnostics.last?.contains("not clean after this case") == true, results[0].diagnostics.joined())
        XCTAssertEqual(runner.isolation.workersStarted, 2)
        XCTAssertTrue(results[1...].allSatisfy { $0.diagnostics.isEmpty })
    }

    /// With one job, a case that waits on a timer runs in a second worker
    /// beside the others: the cases after it in the plan finish while it sleeps.
    func testASleeperRunsBesideTheOthers() throws {
        let k = ScriptedKernel()
        k.nopResult = -Errno.EACCES
        k.registerResult = { call in
            if ByteImage(bytes: call.arg).load(UInt16.self, at: 2) == 2 { var ts = timespec(tv_sec: 0, tv_nsec: 400_000_000); nanosleep(&ts, nil) }
            return 0
        }
        let cs = try cases("""
            - name: sleeps on a timer
              steps:
                - submit: [ { op: TIMEOUT, timeout_ms: 300, user_data: 9 } ]
                  expect: { cqes: [ { user_data: 9, res: -EACCES } ] }
                - register: { opcode: NOP, program: "ret #0", cmd_flags: 2 }
            """ + "\n" + ringCases)
        XCTAssertEqual(CaseIsolation.timerMs(cs[0].steps), 300)
        XCTAssertEqual(CaseIsolation.timerMs(cs[1].steps), 0)
        let runner = pooled(k)
        var order: [Int] = []
        var results = [CaseResult?](repeating: nil, count: cs.count)
        runner.runAll(cs, jobs: 1, started: { _ in }, finished: { order.append($0); results[$0] = $1 })
        XCTAssertEqual(results.map { $0?.status }, Array(repeating: .pass, count: 7))
        XCTAssertEqual(order.last, 0, "the sleeper finishes last although it is first in the plan: \(order)")
        XCTAssertEqual(runner.isolation.workersStarted, 2)
        XCTAssertEqual(runner.isolation.sharedWorker, 7)

        // --jobs 2: no lanes, the two workers share one queue in plan order.
        let two = pooled(k)
        var twoOrder: [Int] = []
        two.runAll(cs, jobs: 2, started: { _ in }, finished: { i, _ in twoOrder.append(i) })
        XCTAssertEqual(twoOrder.sorted(), Array(cs.indices))
    }

    /// A sleeper that crashes its worker is reported; the next sleeper gets a
    /// new worker in the same lane and the other lane goes on undisturbed.
    func testACrashingSleeperIsReportedAndItsLaneGoesOn() throws {
        let k = ScriptedKernel()
        k.nopResult = -Errno.EACCES
        k.registerResult = { call in
            if ByteImage(bytes: call.arg).load(UInt16.self, at: 2) == 4 { abort() }
            return 0
        }
        let cs = try cases("""
            - name: sleeper that crashes
              steps:
                - submit: [ { op: TIMEOUT, timeout_ms: 50, user_data: 9 } ]
                  expect: { cqes: [ { user_data: 9, res: -EACCES } ] }
                - register: { opcode: NOP, program: "ret #0", cmd_flags: 4 }
            - name: sleeper that passes
              steps:
                - submit: [ { op: LINK_TIMEOUT, timeout_ms: 50, user_data: 8 } ]
                  expect: { cqes: [ { user_data: 8, res: -EACCES } ] }
            """ + "\n" + ringCases)
        let runner = pooled(k)
        var results = [CaseResult?](repeating: nil, count: cs.count)
        runner.runAll(cs, jobs: 1, started: { _ in }, finished: { results[$0] = $1 })
        XCTAssertEqual(results[0]?.status, .crash)
        XCTAssertEqual(results[0]?.reason, "case process killed by signal \(SIGABRT)")
        XCTAssertEqual(results[1...].map { $0?.status }, Array(repeating: .pass, count: 7))
        XCTAssertEqual(runner.isolation.workersStarted, 3, "one worker per lane, and one more for the crashed sleeper's lane")
    }

    func testAHangingCaseTimesOutAndTheNextCaseGetsANewWorker() throws {
        let k = ScriptedKernel()
        k.registerResult = { call in
            if ByteImage(bytes: call.arg).load(UInt16.self, at: 2) == 2 { var ts = timespec(tv_sec: 3600, tv_nsec: 0); nanosleep(&ts, nil) }
            if ByteImage(bytes: call.arg).load(UInt16.self, at: 2) == 4 { abort() }
            return 0
        }
        let cs = try cases("""
            - name: hangs
              timeout: 0.5
              steps: [ { register: { opcode: NOP, program: "ret #0", cmd_flags: 2 } } ]
            - name: crashes
              steps: [ { register: { opcode: NOP, program: "ret #0", cmd_flags: 4 } } ]
            - name: fine
              steps: [ { register: { opcode: NOP, program: "ret #0" } } ]
            """)
        let runner = pooled(k)
        let results = runAll(runner, cs, jobs: 1)
        XCTAssertEqual(results.map(\.status), [.timeout, .crash, .pass])
        XCTAssertEqual(results[1].reason, "case process killed by signal \(SIGABRT)")
        XCTAssertEqual(runner.isolation.workersStarted, 3)
    }
}

/// What the loading speed-ups (Resolver.basic, no Foundation string
/// replacing) must not change.
final class LoadingSpeedTests: XCTestCase {
    func testDuplicateKeysAreStillRejectedWithoutTagResolution() {
        XCTAssertThrowsError(try CaseLoader.load(yaml: "- name: a\n  name: b\n  steps: [ { no_new_privs: true } ]\n", file: "d.yaml")) { e in
            XCTAssertTrue("\(e)".contains("YAML syntax"), "\(e)")
        }
    }

    func testScalarsReadTheSameWithoutTagResolution() throws {
        let c = try CaseLoader.load(yaml: """
            - name: n
              timeout: 2.5
              steps:
                - setup: { register_fd: yes }
                - submit: [ { op: NOP, user_data: 0x8000_0000 }, { op: NOP, user_data: 1_000 } ]
                  expect: { cqes: [ { user_data: 0x8000_0000, res: 0 }, { user_data: 1_000, res: 0 } ] }
            """, file: "n.yaml")[0]
        XCTAssertEqual(c.timeout, 2.5)
        guard case .ring(let spec, _, _) = c.steps[0], case .submit(_, let sqes, _, _) = c.steps[1] else { return XCTFail("\(c.steps)") }
        XCTAssertTrue(spec.registerFD)
        XCTAssertEqual(sqes.map(\.userData), [0x8000_0000, 1000])
    }

    /// Every sweep in cases/ (exhaustive tier included) gets, for every value,
    /// exactly the program that assembling the substituted text gives.
    func testSweepProgramsEqualAssemblyForEverySweepInTheSuite() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let all = try CaseLoader.load(directory: root.appendingPathComponent("cases").path)
        var sweeps = 0, patched = 0
        func check(_ steps: [Step]) {
            for step in steps {
                if case .fork(let inner, _) = step { check(inner) }
                guard case .sweep(let sweep, let reg, _, _) = step else { continue }
                sweeps += 1
                let programs = SweepProgram(sweep: sweep, source: reg.programSource)
                for value in sweep.resolvedValues(opcodeLast: 65) {
                    let want = try? Assembler.assemble(sweep.substitute(reg.programSource, value))
                    XCTAssertEqual(programs.program(for: value), want, "\(reg.programSource) with \(sweep.variable)=\(value)")
                    patched += 1
                }
            }
        }
        for c in all { check(c.steps) }
        XCTAssertGreaterThan(sweeps, 10)
        XCTAssertGreaterThan(patched, 60_000)   // the 16-bit code sweep alone has 65,280 values
    }

    /// Where the variable is not simply a field, the program is assembled per value.
    func testSweepProgramFallsBackToAssembly() {
        let s = Sweep(variable: "n", values: [])
        for (source, values) in [("ld #$n|1; ret #1", [0, 7, 0xffff_fffe]),          // inside an expression
                                 ("ld #1; jeq #1, $n, 0; ret #0; ret #1; ret #2", [0, 1, 2]),   // a jump offset
                                 ("{ $n, 0, 0, 0 }; ret #1", [0x28, 0xffff, 0x10000]),       // too wide for code
                                 ("st M[$n]; ret #1", [0, 15, 16]),                          // probes refused
                                 ("ret #1", [5])] as [(String, [UInt32])] {
            let programs = SweepProgram(sweep: s, source: source)
            for v in values {
                XCTAssertEqual(programs.program(for: v), try? Assembler.assemble(s.substitute(source, v)), "\(source) n=\(v)")
            }
        }
    }

    func testSweepSubstitutesEveryOccurrence() {
        let s = Sweep(variable: "off", values: [1])
        XCTAssertEqual(s.substitute("ld [$off]; jeq #$off, a; $offset", 0x1f), "ld [0x1f]; jeq #0x1f, a; 0x1fset")
        XCTAssertEqual(s.substitute("ret #0", 3), "ret #0")
    }
}

final class UserMemoryReuseTests: XCTestCase {
    /// A reused `.normal` mapping reads like a fresh one: the bytes, then zeroes to the page's end.
    func testReusedPagesAreZeroedAndCounted() {
        let before = UserMemory.live
        let first = UserMemory(bytes: [UInt8](repeating: 0xAB, count: 100), placement: .normal)
        XCTAssertEqual(UserMemory.live, before + 1)
        first.release()
        XCTAssertEqual(UserMemory.live, before)
        let second = UserMemory(bytes: [1, 2, 3], placement: .normal)
        defer { second.release() }
        let p = UnsafeRawPointer(bitPattern: UInt(second.address))!
        let page = Array(UnsafeRawBufferPointer(start: p, count: Int(sysconf(Int32(_SC_PAGESIZE)))))
        XCTAssertEqual(Array(page.prefix(3)), [1, 2, 3])
        XCTAssertTrue(page.dropFirst(3).allSatisfy { $0 == 0 })
        XCTAssertEqual(second.read(), [1, 2, 3])
    }

    /// Read-only placements are never reused (their protection would carry over).
    func testReadOnlyPlacementsAreUnmapped() {
        let before = UserMemory.live
        let ro = UserMemory(bytes: [7], placement: .readOnly)
        ro.release()
        let rw = UserMemory(bytes: [8], placement: .normal)
        defer { rw.release() }
        XCTAssertEqual(UserMemory.live, before + 1)
        UnsafeMutableRawPointer(bitPattern: UInt(rw.address))!.storeBytes(of: 9, as: UInt8.self)   // writable
    }
}
