import XCTest
@testable import RingfenceKit
@testable import RingfenceCore

/// Fixture console logs, as a QEMU serial port records them (CRLF, printk
/// time stamps, firmware noise before the kernel): what the console shows
/// (ConsoleVerdict, facts only), and the KTAP and exit code the one judge
/// gives a guest command other than a planned `run` (its own KTAP passed
/// through, VMVerdict.passthroughKTAP).
final class ConsoleVerdictTests: XCTestCase {
    /// The one judge, as `ringfence verdict` calls it on a log without results.json.
    static func judge(_ log: String, timedOut: Bool = false) -> VMJudgement {
        var context = VMVerdict.Context()
        context.timedOut = timedOut
        return VMVerdict.judge(log: log, plan: nil, host: nil, context: context)
    }

    /// The passed-through KTAP document the one judge prints, line by line.
    static func ktapLines(_ log: String, timedOut: Bool = false) -> [String] {
        judge(log, timedOut: timedOut).ktap.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
    }

    /// The problems a passed-through KTAP states.
    static func problems(_ log: String, timedOut: Bool = false) -> [String] {
        judge(log, timedOut: timedOut).problems
    }

    static func crlf(_ s: String) -> String {
        s.split(separator: "\n", omittingEmptySubsequences: false).joined(separator: "\r\n")
    }

    static let bootNoise = """
        \u{1b}c\u{1b}[?7l\u{1b}[2J\u{1b}[0mSeaBIOS (version 1.16.2-debian-1.16.2-1)
        Booting from ROM...
        [    0.016000] tsc: Unable to calibrate against PIT
        [    0.989811] acpi PNP0A03:00: fail to add MMCONFIG information
        # module sctp: loaded
        # ringfence: init at 3.54 s
        """

    static let clean = crlf(bootNoise + """

        KTAP version 1
        1..3
        ok 1 setup-ring
        ok 2 sctp-socket # SKIP module sctp not loadable
        ok 3 deny-openat
        # ringfence: suite took 0.104 s
        # ringfence-exit: 0
        [    3.633805] reboot: Power down
        """)

    func testCleanRunPasses() {
        let v = ConsoleVerdict.evaluate(log: Self.clean)
        XCTAssertEqual(Self.judge(Self.clean).exitCode, 0)
        XCTAssertFalse(Self.judge(Self.clean).byReport, "no plan, no results.json: the guest's KTAP passes through")
        XCTAssertEqual(Self.problems(Self.clean), [])
        XCTAssertEqual(v.document, Self.ktapLines(Self.clean), "nothing to write in: the guest's own lines")
        XCTAssertEqual(Self.ktapLines(Self.clean), [
            "KTAP version 1",
            "# module sctp: loaded",
            "# ringfence: init at 3.54 s",
            "1..3",
            "ok 1 setup-ring",
            "ok 2 sctp-socket # SKIP module sctp not loadable",
            "ok 3 deny-openat",
            "# ringfence: suite took 0.104 s",
            "# ringfence-exit: 0",
        ])
        XCTAssertEqual(v.bootSeconds, 3.54)
        XCTAssertEqual(v.suiteSeconds, 0.104)
        XCTAssertEqual(v.guestExitCode, 0)
        XCTAssertEqual(v.planned, 3)
        let t = Self.judge(Self.clean).report.totals
        XCTAssertEqual([t.passed, t.failed, t.skipped], [2, 0, 1])
    }

    /// ringfence reports known bugs as KTAP TODO (expected failures): not a failure.
    func testTodoResultsAreKnownBugsNotFailures() {
        let log = """
            KTAP version 1
            1..2
            ok 1 a
            not ok 2 b # TODO known bug: io_uring/net: mask socket type (7.3.2)
            # ringfence-exit: 0
            """
        let v = Self.judge(log)
        let t = v.report.totals
        XCTAssertEqual([t.passed, t.failed, t.skipped, t.xfail], [1, 0, 0, 1])
        XCTAssertEqual(v.exitCode, 0)
        let broken = Self.judge(log.replacingOccurrences(of: " # TODO known bug: io_uring/net: mask socket type (7.3.2)", with: ""))
        XCTAssertEqual(broken.report.totals.failed, 1)
        XCTAssertEqual(broken.exitCode, 1)
    }

    func testGuestExitCodesPassThrough() {
        for code: Int32 in [1, 2, 4] {
            var log = Self.clean.replacingFirst("# ringfence-exit: 0", with: "# ringfence-exit: \(code)")
            if code == 1 { log = log.replacingFirst("ok 3 deny-openat", with: "not ok 3 deny-openat") }
            XCTAssertEqual(Self.judge(log).exitCode, code)
        }
        // A guest that claims success but printed a failure fails.
        let lying = Self.clean.replacingFirst("ok 3 deny-openat", with: "not ok 3 deny-openat")
        XCTAssertEqual(Self.judge(lying).exitCode, 1)
    }

    static let warnMidCase = crlf(bootNoise + """

        KTAP version 1
        1..3
        ok 1 setup-ring
        [    4.120001] ------------[ cut here ]------------
        [    4.120002] WARNING: CPU: 0 PID: 57 at io_uring/bpf_filter.c:88 io_uring_run_bpf_filters+0x1a/0x90
        [    4.120003] Modules linked in: sctp
        [    4.120004] Call Trace:
        [    4.120005]  <TASK>
        [    4.120006]  io_issue_sqe+0x2c/0x3c0
        [    4.120009] ---[ end trace 0000000000000000 ]---
        ok 2 deny-openat
        ok 3 allow-read
        # ringfence: suite took 0.304 s
        # ringfence-exit: 0
        [    4.633805] reboot: Power down
        """)

    /// Without kmsg markers (a guest that printed none) trouble goes to the next result.
    func testWarnFailsTheNextResultWithoutMarkers() {
        let v = ConsoleVerdict.evaluate(log: Self.warnMidCase)
        let judged = Self.judge(Self.warnMidCase)
        let lines = Self.ktapLines(Self.warnMidCase)
        XCTAssertEqual(judged.exitCode, 1)
        XCTAssertTrue(lines.contains(
            "not ok 2 deny-openat # kernel WARN: WARNING: CPU: 0 PID: 57 at io_uring/bpf_filter.c:88 io_uring_run_bpf_filters+0x1a/0x90"),
            judged.ktap)
        XCTAssertTrue(v.document.contains("ok 2 deny-openat"), "the facts keep the guest's own line")
        XCTAssertEqual(v.results.map(\.trouble), [nil, "WARNING: CPU: 0 PID: 57 at io_uring/bpf_filter.c:88 io_uring_run_bpf_filters+0x1a/0x90", nil])
        XCTAssertTrue(lines.contains("ok 1 setup-ring"))
        XCTAssertTrue(lines.contains("ok 3 allow-read"))
        XCTAssertFalse(lines.contains { $0.contains("Modules linked in") }, "kernel noise stays out")
        XCTAssertTrue(lines.contains { $0.hasPrefix("# kernel: WARNING: CPU: 0") })
        // The report says what the KTAP says: that case failed.
        XCTAssertEqual(judged.report.cases.map(\.status), [.pass, .fail, .pass])
        XCTAssertTrue(judged.summary.contains("passed=2 failed=1 "), judged.summary)
    }

    func testWarnAfterResultIsAttributedToTheCaseThatEndedLast() {
        // Deferred work (ring teardown) warns after case 1 ended.
        let log = """
            KTAP version 1
            1..2
            [    4.900000] ringfence: begin 1 teardown
            ok 1 teardown
            [    4.950000] ringfence: end 1
            [    5.000000] BUG: KASAN: use-after-free in io_ring_exit_work+0x10/0x20
            [    5.100000] ringfence: begin 2 next
            ok 2 next
            [    5.200000] ringfence: end 2
            # ringfence-exit: 0
            """
        let v = ConsoleVerdict.evaluate(log: log)
        XCTAssertEqual(Self.judge(log).exitCode, 1)
        XCTAssertEqual(v.caseTrouble[1]?.note, "kernel trouble after case 1 ended (deferred work such as io_ring_exit_work)")
        XCTAssertTrue(Self.ktapLines(log).contains("not ok 1 teardown # kernel WARN: BUG: KASAN: use-after-free in io_ring_exit_work+0x10/0x20"), Self.judge(log).ktap)
        XCTAssertTrue(Self.ktapLines(log).contains("ok 2 next"))
    }

    func testWarnWithoutAnnouncementGoesToTheNextResult() {
        let log = """
            KTAP version 1
            1..2
            ok 1 first
            [    5.000000] WARNING: CPU: 0 PID: 9 at mm/slub.c:1 x
            not ok 2 second # SKIP whatever
            # ringfence-exit: 0
            """
        XCTAssertEqual(Self.judge(log).exitCode, 1)
        XCTAssertTrue(Self.ktapLines(log).contains("not ok 2 second # kernel WARN: WARNING: CPU: 0 PID: 9 at mm/slub.c:1 x"), Self.judge(log).ktap)
    }

    static let panic = crlf(bootNoise + """

        KTAP version 1
        1..3
        [    4.100000] ringfence: begin 1 setup-ring
        ok 1 setup-ring
        [    4.150000] ringfence: end 1
        [    4.190000] ringfence: begin 2 crash
        [    4.200000] BUG: kernel NULL pointer dereference, address: 0000000000000008
        [    4.200001] Oops: Oops: 0002 [#1] SMP NOPTI
        [    4.200002] Kernel panic - not syncing: Fatal exception
        [    4.200003] ---[ end Kernel panic - not syncing: Fatal exception ]---
        """)

    func testPanicBailsOut() {
        let v = Self.judge(Self.panic)
        XCTAssertEqual(v.exitCode, 1)
        XCTAssertEqual(Self.ktapLines(Self.panic).suffix(2), ["not ok 2 crash # kernel WARN: BUG: kernel NULL pointer dereference, address: 0000000000000008",
                                                             "Bail out! kernel panic: Kernel panic - not syncing: Fatal exception after 1 of 3 results"])
        XCTAssertEqual(v.console.unreportedTrouble, [2: "BUG: kernel NULL pointer dereference, address: 0000000000000008"])
        XCTAssertEqual(v.report.cases.map(\.status), [.pass, .fail], "case 2 is known from its marker")
        XCTAssertFalse(v.problems.isEmpty)
    }

    static let truncated = crlf(bootNoise + """

        KTAP version 1
        1..4
        ok 1 setup-ring
        ok 2 slow
        """)

    func testTruncatedPlanBailsOut() {
        XCTAssertEqual(Self.judge(Self.truncated).exitCode, 1)
        XCTAssertEqual(Self.ktapLines(Self.truncated).last, "Bail out! console log ended after 2 of 4 results")
        XCTAssertEqual(Self.ktapLines(Self.truncated, timedOut: true).last, "Bail out! timed out after 2 of 4 results")
        XCTAssertEqual(Self.judge(Self.truncated, timedOut: true).exitCode, 1)
    }

    func testMissingPlanOrMarkerNeverPasses() {
        let noPlan = "KTAP version 1\nok 1 a\n# ringfence-exit: 0\n"
        XCTAssertEqual(Self.judge(noPlan).exitCode, 1)
        XCTAssertTrue(Self.problems(noPlan).contains("no KTAP plan line"))

        let noMarker = "KTAP version 1\n1..1\nok 1 a\n"
        XCTAssertEqual(Self.judge(noMarker).exitCode, 1)
        XCTAssertTrue(Self.problems(noMarker).contains { $0.contains("ringfence-exit") }, "\(Self.problems(noMarker))")

        let nothing = "SeaBIOS\n[    0.1] Linux version 7.3.4\n"
        let n = Self.judge(nothing).outcome.consoleEnding
        // Nothing from ringfence's init: the boot never reached it, an infrastructure ending (exit 2).
        XCTAssertEqual(Self.judge(nothing).exitCode, 2)
        XCTAssertNotNil(Self.judge(nothing).outcome.infrastructure)
        XCTAssertEqual(n.bail, "Bail out! console log ended before any KTAP output")
        XCTAssertEqual(VMVerdict.passthroughKTAP(ConsoleVerdict.evaluate(log: nothing), ending: n, problems: n.stated, host: nil),
                       "KTAP version 1\nBail out! console log ended before any KTAP output\n")
    }

    func testEmptyPlanAllSkipped() {
        let log = "# ringfence: init at 1.0 s\nKTAP version 1\n1..0\n# ringfence-exit: 4\n"
        XCTAssertEqual(Self.judge(log).exitCode, 4)
    }

    func testKernelMessageInsideAGuestLine() {
        let log = """
            KTAP version 1
            1..2
            [    5.000000] ringfence: begin 1 racy
            ok 1 ra[    5.100000] WARNING: CPU: 0 PID: 70 at io_uring/register.c:12 x
            cy
            [    5.200000] ringfence: end 1
            [    5.300000] ringfence: begin 2 after
            ok 2 after
            [    5.400000] ringfence: end 2
            # ringfence-exit: 0
            """
        XCTAssertEqual(Self.judge(log).exitCode, 1)
        XCTAssertTrue(Self.ktapLines(log).contains("not ok 1 ra # kernel WARN: WARNING: CPU: 0 PID: 70 at io_uring/register.c:12 x"), Self.judge(log).ktap)
        XCTAssertTrue(Self.ktapLines(log).contains("ok 2 after"))
    }

    /// ConsoleVerdict reports facts only: every line of its document is a
    /// line the console carried (kernel trouble noted as "# kernel: <line>"),
    /// never a rewritten or synthesized result; the rewrite is the judge's
    /// (VMVerdict.passthroughKTAP), on every recorded fixture.
    func testTheConsolesDocumentIsTheGuestsOwnLines() throws {
        for name in try RecordedConsole.names() {
            let log = try RecordedConsole.load(name).log
            let carried = Set(ConsoleVerdict.physicalLines(log).map { String(ConsoleVerdict.stripTimestamp($0).text).trimmingSpaces() })
            let v = ConsoleVerdict.evaluate(log: log)
            for line in v.document {
                let own = line.hasPrefix("# kernel: ") ? String(line.dropFirst("# kernel: ".count)) : line
                XCTAssertTrue(carried.contains(own.trimmingSpaces()), "\(name).log: '\(line)' is not a line of the console")
            }
            for r in v.results {
                XCTAssertEqual(v.document[r.index], (r.ok ? "ok " : "not ok ") + "\(r.number)" + r.rest, "\(name).log")
            }
        }
        // The warned-about result keeps the guest's words in the facts; the judge writes the WARN in.
        let v = ConsoleVerdict.evaluate(log: Self.warnMidCase)
        XCTAssertFalse(v.document.contains { $0.contains("# kernel WARN") }, "\(v.document)")
        XCTAssertTrue(Self.judge(Self.warnMidCase).ktap.contains("not ok 2 deny-openat # kernel WARN: "))
    }

    func testTimestampStripping() {
        XCTAssertEqual(ConsoleVerdict.stripTimestamp("[   12.345678] WARNING: x").text, "WARNING: x")
        XCTAssertEqual(ConsoleVerdict.stripTimestamp("[    1.000000][    T1] BUG: y").text, "BUG: y")
        XCTAssertEqual(ConsoleVerdict.stripTimestamp("<4>[    1.000000] Oops").text, "Oops")
        XCTAssertFalse(ConsoleVerdict.stripTimestamp("[not a stamp] x").kernel)
        XCTAssertFalse(ConsoleVerdict.stripTimestamp("[0.5] x").kernel)
        XCTAssertNil(ConsoleVerdict.embeddedKernelMessage("ok 3 array[0.5] index"))
    }
}

extension String {
    func replacingFirst(_ a: String, with b: String) -> String {
        guard let r = firstRange(of: a) else { return self }
        return replacingCharacters(in: r, with: b)
    }
}
