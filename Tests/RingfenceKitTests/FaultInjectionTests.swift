import XCTest
@testable import RingfenceKit
@testable import RingfenceCore

/// The `inject:` loop against the model wrapped in a stand-in for fail-nth:
/// each registration makes `calls` fault-injectable calls; an armed N ≤ calls
/// fails it with -ENOMEM. A correct kernel leaves no trace of a failed
/// registration; the "half-installed" kernel installs the filter and still
/// returns -ENOMEM, which the case must catch.
final class FaultInjectionTests: XCTestCase {
    final class FailNthModel: KernelBackend {
        let inner: KernelBackend
        /// How many fault-injectable calls a registration makes in a child armed with N.
        let callsAt: (Int) -> Int
        let halfInstalls: Bool
        /// Told when the armed N was the registration's last call.
        let lastCallFailed: () -> Void
        var armed: Int?
        var injected = false
        init(_ inner: KernelBackend, callsAt: @escaping (Int) -> Int, halfInstalls: Bool, lastCallFailed: @escaping () -> Void = {}) {
            self.inner = inner; self.callsAt = callsAt; self.halfInstalls = halfInstalls; self.lastCallFailed = lastCallFailed
        }
        convenience init(_ inner: KernelBackend, calls: Int, halfInstalls: Bool) {
            self.init(inner, callsAt: { _ in calls }, halfInstalls: halfInstalls)
        }

        func setupRing(entries: UInt32, flags: UInt32) -> Int32 { armed = nil; return inner.setupRing(entries: entries, flags: flags) }
        func registerRingFD(_ ring: Int32) -> Int32 { inner.registerRingFD(ring) }
        func closeRing(_ ring: Int32) { inner.closeRing(ring) }
        func register(_ call: RegisterCall) -> RegisterOutcome {
            guard let n = armed else { return inner.register(call) }
            armed = nil
            let calls = callsAt(n)
            injected = n <= calls
            if !injected { return inner.register(call) }
            if n == calls { lastCallFailed() }
            if halfInstalls { _ = inner.register(call) }
            return RegisterOutcome(ret: -Errno.ENOMEM, argAfter: call.arg)
        }
        func submit(ring: Int32, sqes: [SQESpec], expecting: Int, timeoutMs: Int) -> SubmitOutcome {
            inner.submit(ring: ring, sqes: sqes, expecting: expecting, timeoutMs: timeoutMs)
        }
        func setNoNewPrivs() -> Int32 { inner.setNoNewPrivs() }
        func dropPrivileges() -> Int32 { inner.dropPrivileges() }
        func runInChild(_ body: (KernelBackend) -> (ok: Bool, diagnostics: [String])) -> (ok: Bool, diagnostics: [String]) {
            let callsAt = self.callsAt, half = halfInstalls, last = lastCallFailed
            return inner.runInChild { child in body(FailNthModel(child, callsAt: callsAt, halfInstalls: half, lastCallFailed: last)) }
        }
        func addTaint(_ mask: UInt64) -> Int32 { -95 }
        func armFailNth(_ n: Int) -> Int32 { armed = n; return 0 }
        func failNthInjected() -> Bool { defer { injected = false }; return injected }
    }

    static let yaml = """
    - name: a first filter that runs out of memory leaves the ring unfiltered
      inject:
        step: 2
        if_failed:
          - submit: [ { op: NOP, user_data: 1 } ]
            expect: { cqes: [ { user_data: 1, res: 0 } ] }
      steps:
        - setup: { name: main }
        - register: { opcode: NOP, program: "ret #0" }
        - submit: [ { op: NOP, user_data: 1 } ]
          expect: { cqes: [ { user_data: 1, res: -EACCES } ] }
    """

    func run(calls: Int, halfInstalls: Bool, maxN: Int? = nil) throws -> Executor.Outcome {
        var c = try XCTUnwrap(CaseLoader.load(yaml: Self.yaml, file: "error-paths/t.yaml").first)
        if let m = maxN { c.injection?.maxN = m }
        XCTAssertTrue(c.requires.contains(.faultInjection))
        XCTAssertEqual(CaseIsolation.of(c), .freshChild("fault injection (inject:)"))
        let backend = FailNthModel(ReferenceKernel(), calls: calls, halfInstalls: halfInstalls)
        return Executor(backend: backend, opcodeLast: Opcode.lastKnown, cqeTimeoutMs: 0).run(c)
    }

    func testACorrectKernelPassesEveryN() throws {
        let o = try run(calls: 5, halfInstalls: false)
        XCTAssertTrue(o.passed, "\(o.diagnostics)")
    }

    func testAHalfInstalledFilterFailsTheCaseNamingN() throws {
        let o = try run(calls: 5, halfInstalls: true)
        XCTAssertFalse(o.passed)
        XCTAssertTrue(o.diagnostics.first?.contains("fail-nth 1") == true, "\(o.diagnostics)")
        XCTAssertTrue(o.diagnostics.joined(separator: "\n").contains("not as before"), "\(o.diagnostics)")
    }

    func testAnOperationThatInjectsNothingTestsNothingAndFails() throws {
        let o = try run(calls: 0, halfInstalls: false)
        XCTAssertFalse(o.passed)
        XCTAssertTrue(o.diagnostics.first?.contains("no fault was injected at fail-nth 1") == true, "\(o.diagnostics)")
    }

    func testTheLoopIsBounded() throws {
        let o = try run(calls: 50, halfInstalls: false, maxN: 10)
        XCTAssertFalse(o.passed)
        XCTAssertTrue(o.diagnostics.first?.contains("still hit an injected fault at fail-nth 10") == true, "\(o.diagnostics)")
    }

    /// Children that do not all make the same number of calls
    /// (on a real kernel a page allocation refilling a slab, or vmalloc's
    /// spare vmap_area, adds one now and then): this schedule gives every
    /// child at N = 5 six calls and every child at N = 6 five, so the
    /// regular children never fail the last call. The boundary children
    /// (Executor.boundaryAttempts more at the last N that injected) do.
    final class Schedule {
        var children: [Int: Int] = [:]
        var lastCallFailed = 0
        func calls(at n: Int) -> Int {
            children[n, default: 0] += 1
            return n == 5 && children[n]! <= Executor.injectionAttempts ? 6 : 5
        }
    }

    func testTheStepsLastCallFailsEvenWhenTheChildrenAtItsNMadeOneMore() throws {
        let c = try XCTUnwrap(CaseLoader.load(yaml: Self.yaml, file: "error-paths/t.yaml").first)
        let schedule = Schedule()
        let backend = FailNthModel(ReferenceKernel(), callsAt: schedule.calls(at:), halfInstalls: false, lastCallFailed: { schedule.lastCallFailed += 1 })
        let o = Executor(backend: backend, opcodeLast: Opcode.lastKnown, cqeTimeoutMs: 0).run(c)
        XCTAssertTrue(o.passed, "\(o.diagnostics)")
        XCTAssertEqual(schedule.children[6], Executor.injectionAttempts, "the loop stopped at N = 6, where no child injected")
        XCTAssertGreaterThan(schedule.lastCallFailed, 0, "no child failed the step's last call: the boundary children did not run")
    }

    func testInjectIsCheckedByTheLoader() {
        func error(_ yaml: String) -> String {
            do { _ = try CaseLoader.load(yaml: yaml, file: "t.yaml"); return "" } catch { return "\(error)" }
        }
        let base = "- name: x\n  steps:\n    - setup: { name: main }\n    - submit: [ { op: NOP, user_data: 1 } ]\n      expect: { cqes: [ { user_data: 1, res: 0 } ] }\n"
        XCTAssertTrue(error(base + "  inject: { step: 3, if_failed: [] }").contains("out of range"))
        XCTAssertTrue(error(base + "  inject: { step: 2, if_failed: [] }").contains("only setup, register, restrict and fork"))
        XCTAssertTrue(error(base + "  inject: { step: 1 }").contains("if_failed"))
        XCTAssertTrue(error(base + "  inject: { step: 1, errno: [ENOPE], if_failed: [] }").contains("unknown errno"))
    }

    /// A leak names the case that was running when it was allocated:
    /// kmemleak's jiffies, timer_list's jiffies and time now, the markers' kmsg times.
    func testKmemleakLeakNamesTheCaseThatAllocatedIt() {
        let timerA = "Timer List Version: v0.10\nHRTIMER_MAX_CLOCK_BASES: 8\nnow at 20000000000 nsecs\n\ncpu: 0\njiffies: 4294897296\n"
        let timerB = "now at 20200000000 nsecs\njiffies: 4294897346\n"
        guard let a = KmemleakScan.Timeline.timerList(timerA), let b = KmemleakScan.Timeline.timerList(timerB) else { return XCTFail("timer_list not parsed") }
        XCTAssertEqual(a.jiffies, 4294897296)
        XCTAssertEqual(KmemleakScan.Timeline.hz(a, b), 250)
        let kmsg = """
        4,900,10000000,-;ringfence: begin 1 area/f:first
        4,901,11000000,-;ringfence: end 1
        4,902,12000000,-;ringfence: begin 2 area/f:second
        6,903,12500000,-;some other message
        4,904,13000000,-;ringfence: end 2
        """
        let cases = KmemleakScan.Timeline.cases(kmsg: kmsg)
        XCTAssertEqual(cases.map(\.number), [1, 2])
        XCTAssertEqual(cases[1].endUs, 13_000_000)
        let tl = KmemleakScan.Timeline(jiffiesNow: b.jiffies, nowNs: b.ns, hz: 250, cases: cases)
        // 20.2 s now; 7.7 s ago = 12.5 s: during case 2.
        let j = b.jiffies - UInt64(7.7 * 250)
        let report = "unreferenced object 0xff11 (size 64):\n  comm \"ringfence-guest\", pid 97, jiffies \(j)\n  backtrace (crc 1):\n    [<0>] io_new_bpf_filters+0x19/0x73\n"
        let lines = KmemleakScan.report(report, timeline: tl)
        XCTAssertTrue(lines[0].hasSuffix("allocated at about 12.500 s, during case 2 area/f:second"), lines[0])
        // Between the two cases, before the first, and no timeline at all.
        XCTAssertEqual(tl.describe(jiffies: b.jiffies - UInt64(8.7 * 250)), "allocated at about 11.500 s, between cases")
        XCTAssertEqual(tl.describe(jiffies: b.jiffies - UInt64(15.2 * 250)), "allocated at about 5.000 s, before the first case the kernel log still holds")
        XCTAssertFalse(KmemleakScan.report(report).first!.contains("allocated"))
    }

    /// kmemleak's report format (Documentation/dev-tools/kmemleak.rst): only
    /// objects whose backtrace passes through io_uring are leaks of ours.
    func testKmemleakReportKeepsIoUringObjects() {
        let report = """
        unreferenced object 0xffff888003f2c000 (size 64):
          comm "ringfence-guest", pid 97, jiffies 4294937528
          hex dump (first 32 bytes):
            01 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00  ................
          backtrace (crc 2a9d1c6b):
            [<ffffffff8123a1b0>] __kmalloc_cache_noprof+0x2b0/0x330
            [<ffffffff81512c3e>] io_register_bpf_filter+0x12e/0x3a0
            [<ffffffff8150f0b1>] __do_sys_io_uring_register+0x561/0x7a0
        unreferenced object 0xffff888003f2d000 (size 32):
          comm "swapper/0", pid 1, jiffies 4294937000
          backtrace (crc 00000000):
            [<ffffffff8123a1b0>] __kmalloc_cache_noprof+0x2b0/0x330
            [<ffffffff81700000>] acpi_os_allocate+0x10/0x20
        """
        let lines = KmemleakScan.report(report)
        XCTAssertEqual(lines.filter { $0.hasPrefix(KmemleakScan.prefix + "leak: ") }.count, 1)
        XCTAssertTrue(lines[0].contains("io_register_bpf_filter+0x12e/0x3a0"), lines[0])
        XCTAssertEqual(lines.last, KmemleakScan.prefix + "2 unreferenced object(s), 1 through io_uring")
        // The host fails the run on it.
        let console = "KTAP version 1\n1..1\nok 1 x\n# ringfence: suite took 1.0 s\n" + lines.joined(separator: "\n") + "\n# ringfence-exit: 0\n"
        let v = VMVerdict.judge(log: "# ringfence: init at 1.0 s\n" + console, plan: nil, host: nil)
        XCTAssertTrue(v.problems.contains { $0.hasPrefix("kmemleak: 1 unreferenced object(s) allocated through io_uring") }, "\(v.problems)")
        // ... through the one judge, with a plan: exit 1.
        let plan = try! CaseLoader.load(yaml: "- name: x\n  steps:\n    - register: { opcode: NOP, program: \"ret #1\" }\n", file: "t.yaml")
        let judged = VMVerdict.judge(log: "# ringfence: init at 1.0 s\n" + console, plan: plan,
                                     host: HostFacts(accelerator: "tcg", kernelRelease: "7.3.4", cpus: 1, memoryMB: 1024))
        XCTAssertEqual(judged.exitCode, 1)
        XCTAssertTrue(judged.problems.contains { $0.hasPrefix("kmemleak: 1 unreferenced") }, "\(judged.problems)")
        let clean = VMVerdict.judge(log: "# ringfence: init at 1.0 s\n" + console.replacingOccurrences(of: KmemleakScan.prefix + "leak: ", with: KmemleakScan.prefix + "seen: "),
                                    plan: nil, host: nil)
        XCTAssertFalse(clean.problems.contains { $0.hasPrefix("kmemleak") })
    }

    /// warn_alloc()'s report of a failed allocation (what an injected fault in
    /// vmalloc prints) is not kernel trouble; a WARNING is.
    func testAnAllocationFailureReportIsNotTrouble() {
        let log = """
        # ringfence: init at 1.0 s
        KTAP version 1
        1..1
        [    5.100000] ringfence-guest: vmalloc error: size 4096, vm_struct allocation failed, mode:0xcc0(GFP_KERNEL), nodemask=(null)
        [    5.100001] CPU: 0 UID: 0 PID: 97 Comm: ringfence-guest Not tainted 7.3.4 #1
        [    5.100002] Call Trace:
        [    5.100003]  <TASK>
        [    5.100004]  dump_stack_lvl+0x5d/0x80
        [    5.100005]  warn_alloc+0x164/0x190
        [    5.100006]  </TASK>
        [    5.100007] Mem-Info:
        ok 1 x
        # ringfence-exit: 0
        """
        let v = VMVerdict.judge(log: log, plan: nil, host: nil)
        XCTAssertEqual(v.report.totals.failed, 0, v.ktap)
        XCTAssertEqual(v.exitCode, 0, v.ktap)
        XCTAssertTrue(v.problems.isEmpty, "\(v.problems)")
        let warn = VMVerdict.judge(log: log.replacingOccurrences(of: "[    5.100007] Mem-Info:", with: "[    5.100007] WARNING: io_uring/bpf_filter.c:400 at io_register_bpf_filter"),
                                   plan: nil, host: nil)
        XCTAssertEqual(warn.report.totals.failed, 1, warn.ktap)
        XCTAssertEqual(warn.exitCode, 1, warn.ktap)
    }
}
