import Foundation
import XCTest
@testable import RingfenceKit
@testable import RingfenceCore

/// The one results path, on console logs recorded from real boots of Debian
/// 7.3.4 cloud under TCG by `ringfence vm` (Tests/Fixtures/console, see its
/// README): the report, and the four renderings that must agree.
final class VMVerdictRecordedTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// A recorded console log without its `#! ` header (RecordedConsole).
    static func log(_ name: String) throws -> String {
        try RecordedConsole.load(name).log
    }

    static let host = HostFacts(accelerator: "tcg", kernelRelease: "7.3.4+deb13-cloud-amd64", cpus: 2, memoryMB: 448)

    /// Judges a recorded log as `ringfence vm` does: the one judge, VMVerdict.judge(log:plan:host:context:).
    static func judge(_ name: String, plan: [TestCase]? = nil, timedOut: Bool = false, memoryMB: Int? = nil, defaultMemoryMB: Int? = nil,
                      cut: ((String) -> String)? = nil) throws -> VMJudgement {
        var text = try log(name)
        if let cut { text = cut(text) }
        var context = VMVerdict.Context()
        context.timedOut = timedOut
        context.timeoutSeconds = 40
        context.memoryDefaultMB = defaultMemoryMB
        var facts = host
        if let m = memoryMB { facts.memoryMB = m }
        return VMVerdict.judge(log: text, plan: plan, host: facts, context: context)
    }

    /// Every fixture states, in its `#! ` header, how it is judged and the
    /// verdict it must get: the exit code and every case's status.
    func testEveryRecordedLogGetsTheVerdictItsHeaderStates() throws {
        let names = try RecordedConsole.names()
        XCTAssertGreaterThan(names.count, 10)
        for name in names {
            let fixture = try RecordedConsole.load(name)
            let h = fixture.header
            guard let exit = h["expect-exit"].flatMap({ Int32($0) }), let statuses = h["expect-statuses"] else {
                XCTFail("\(name).log: its header lacks '#! expect-exit: N' or '#! expect-statuses: ...' (Tests/Fixtures/console/README.md)")
                continue
            }
            var plan: [TestCase]?
            if let p = h["plan"] {
                let words = p.split(separator: " ").map(String.init)
                switch words.first {
                case "selftest": plan = try Self.selftestPlan(Int(words.last ?? "") ?? 0)
                case "cases": plan = try Self.plan(words.dropFirst().joined(separator: " "))
                default: XCTFail("\(name).log: plan '\(p)': want 'selftest N' or 'cases PREFIX'")
                }
            }
            let memory = h["memory"].map { $0.split(separator: " ").compactMap { Int($0.filter(\.isNumber)) } }
            let o = try Self.judge(name, plan: plan, timedOut: h["timed-out"] == "yes", memoryMB: memory?.first,
                                   defaultMemoryMB: memory.flatMap { $0.count > 1 ? $0[1] : nil })
            XCTAssertEqual(o.exitCode, exit, "\(name).log: \(o.outcome.problems)")
            let got = o.report.cases.map(\.status.rawValue).joined(separator: " ")
            XCTAssertEqual(got.isEmpty ? "none" : got, statuses, "\(name).log")
            XCTAssertEqual(o.report.exitCode, exit, "\(name).log: results.json says the same")
            XCTAssertTrue(o.summary.contains(" exit=\(exit)"), "\(name).log: summary.txt says the same: \(o.summary)")
            if o.outcome.infrastructure != nil {
                XCTAssertFalse(o.ktap.split(separator: "\n").contains { $0.hasPrefix("ok ") || $0.hasPrefix("not ok ") }, "\(name).log: KTAP says the same: \(o.ktap)")
            }
        }
    }

    /// A run has one list of problems (RunProblem.merged): results.json,
    /// summary.txt, the KTAP (`# problem:` or, passed through, `# ringfence-vm:`
    /// lines and the bail-out's own) and the tail (`VMJudgement.problems`)
    /// state the same ones, on every fixture, as recorded and as if the host
    /// had killed the VM at its timeout. (Before, a passed-through run printed
    /// the console's problems in its KTAP and tail, and the report's in
    /// summary.txt: a timed-out fuzz run said "timed out before the
    /// ringfence-exit marker" in one and "timed out: the VM was killed after
    /// 40 s" in the other.)
    func testOneListOfProblemsInEveryOutput() throws {
        for name in try RecordedConsole.names() {
            let fixture = try RecordedConsole.load(name)
            for timedOut in [fixture.header["timed-out"] == "yes", true] {
                let o = try Self.judge(name, timedOut: timedOut)
                let label = "\(name).log (timed out: \(timedOut))"
                let listed = o.problems
                XCTAssertEqual(o.report.problems ?? [], listed, "\(label): results.json")
                let summary = o.summary.split(separator: "\n").filter { $0.hasPrefix("problem: ") }.map { String($0.dropFirst(9)) }
                XCTAssertEqual(summary, listed, "\(label): summary.txt")
                let ktap = o.ktap.split(separator: "\n").map(String.init)
                var stated = ktap.compactMap { l -> String? in
                    for prefix in ["# problem: ", "# ringfence-vm: "] where l.hasPrefix(prefix) { return String(l.dropFirst(prefix.count)) }
                    return nil
                }
                if let bail = o.outcome.consoleEnding.bail, !o.byReport, o.outcome.infrastructure == nil,
                   ktap.contains(bail) { stated.append(String(bail.dropFirst("Bail out! ".count))) }
                // Passed through, trouble in a case that never reported is its own "not ok N … # kernel WARN: …" line.
                for p in listed where !o.byReport && p.hasPrefix("kernel trouble in case ") {
                    let n = p.dropFirst("kernel trouble in case ".count).prefix { $0.isNumber }
                    let trouble = p[p.range(of: "which reported no result: ")!.upperBound...]
                    if ktap.contains(where: { $0.hasPrefix("not ok \(n)") && $0.hasSuffix("# kernel WARN: \(trouble)") }) { stated.append(p) }
                }
                XCTAssertEqual(Set(stated), Set(listed), "\(label): KTAP\n\(o.ktap)")
                XCTAssertEqual(Set(listed).count, listed.count, "\(label): a problem stated twice: \(listed)")
                XCTAssertFalse(timedOut && listed.filter { $0.hasPrefix("timed out") }.count > 1, "\(label): the timeout stated twice: \(listed)")
            }
        }
    }

    /// `ringfence verdict --arch`: a saved log without host facts records the
    /// architecture it was recorded on (results.json, summary.txt); without
    /// --arch none is claimed.
    func testASavedLogRecordsTheArchitectureItIsGiven() throws {
        let log = try Self.log("kselftest-arm64")
        var context = VMVerdict.Context()
        context.arch = "arm64"
        let o = VMVerdict.judge(log: log, plan: nil, host: nil, context: context)
        XCTAssertEqual(o.report.host?.arch, "arm64")
        XCTAssertTrue(o.summary.split(separator: "\n")[0].hasSuffix(" arch=arm64"), o.summary)
        let without = VMVerdict.judge(log: log, plan: nil, host: nil)
        XCTAssertNil(without.report.host?.arch)
        XCTAssertFalse(without.summary.contains("arch="), without.summary)
    }

    /// The status of every case must be the same in KTAP, JSON, JUnit and the summary.
    func assertRenderingsAgree(_ o: VMJudgement, file: StaticString = #filePath, line: UInt = #line) throws {
        let r = o.report
        XCTAssertTrue(o.byReport, "judged through the report", file: file, line: line)
        let ktap = o.ktap
        // Case results are the indented (depth 1) lines of the nested document.
        let caseLines = ktap.split(separator: "\n").filter { $0.hasPrefix("    ok ") || $0.hasPrefix("    not ok ") }
        let notOK = caseLines.filter { $0.hasPrefix("    not ok ") }.count
        let t = r.totals
        XCTAssertEqual(caseLines.count, r.cases.count, "one KTAP case line per case", file: file, line: line)
        XCTAssertEqual(notOK, t.failed + t.errors, "KTAP not-ok lines vs JSON totals", file: file, line: line)
        let json = try JSONDecoder().decode(RunReport.self, from: Data(try r.json().utf8))
        XCTAssertEqual(json.cases.map(\.status), r.cases.map(\.status), file: file, line: line)
        let junit = JUnitWriter().document(r)
        XCTAssertEqual(junit.components(separatedBy: "<failure").count - 1, t.failed, "JUnit failures", file: file, line: line)
        XCTAssertEqual(junit.components(separatedBy: "<skipped").count - 1, t.skipped + t.xfail, "JUnit skipped", file: file, line: line)
        XCTAssertEqual(junit.components(separatedBy: "<error").count - 1, t.errors, "JUnit errors", file: file, line: line)
        XCTAssertTrue(o.summary.contains("passed=\(t.passed) failed=\(t.failed + t.errors) skipped=\(t.skipped)"), o.summary, file: file, line: line)
        XCTAssertTrue(o.summary.contains("exit=\(o.exitCode)"), file: file, line: line)
        XCTAssertTrue(ktap.contains("# Totals: pass:\(t.passed) fail:\(t.failed)"), file: file, line: line)
    }

    func testWarnDuringACaseFailsItInEveryRendering() throws {
        // The guest's results.json says both cases passed; the console shows a
        // WARNING between case 1's kmsg markers.
        let o = try Self.judge("warn-in-case")
        XCTAssertEqual(o.exitCode, 1)
        XCTAssertEqual(o.report.cases.map(\.status), [.fail, .pass])
        XCTAssertTrue(o.report.cases[0].reason?.hasPrefix("kernel: WARNING: CPU: 0 PID:") == true)
        XCTAssertTrue(o.report.cases[0].diagnostics.contains { $0.contains("Call Trace:") || $0.contains("end trace") })
        try assertRenderingsAgree(o)
        XCTAssertTrue(JUnitWriter().document(o.report).contains("<failure message=\"kernel: WARNING"))
        // compare, against the same cases passing, gates on it.
        var clean = o.report
        clean.cases = clean.cases.map { var c = $0; c.status = .pass; c.reason = nil; c.diagnostics = []; return c }
        let diff = ResultsComparison(old: clean, new: o.report)
        XCTAssertEqual(diff.newlyFailing.map(\.id), ["selftest/fault-1"])
        XCTAssertTrue(diff.hasNewFailures)
    }

    func testWarnWhileTwoCasesRanFailsBothAndSaysSo() throws {
        let o = try Self.judge("warn-overlap")
        XCTAssertEqual(o.report.cases.map(\.status), [.fail, .fail])
        XCTAssertTrue(o.report.cases[1].diagnostics[0].contains("while cases 1, 2 ran at once"))
        try assertRenderingsAgree(o)
    }

    func testWarnAfterACaseEndedIsTheEndedCasesWithANote() throws {
        let o = try Self.judge("warn-after-case")
        XCTAssertEqual(o.report.cases.map(\.status), [.fail, .pass])
        XCTAssertTrue(o.report.cases[0].diagnostics[0].contains("after case 1 ended"))
    }

    /// A real WARN_ON() (LKDTM's WARNING crash point, on a tinyconfig-based
    /// kernel) during case 1 of 2 fails case 1 in every rendering, with the
    /// kernel's own splat, and leaves case 2 alone; also from a console
    /// without printk time stamps, where the markers start their own lines.
    func testARealWarnFromLKDTMFailsTheCaseItHappenedIn() throws {
        for name in ["warn-lkdtm", "warn-lkdtm-notime"] {
            let o = try Self.judge(name)
            XCTAssertEqual(o.exitCode, 1, name)
            XCTAssertEqual(o.report.cases.map(\.status), [.fail, .pass], name)
            XCTAssertTrue(o.report.cases[0].reason?.hasPrefix("kernel: WARNING: drivers/misc/lkdtm/bugs.c:") == true,
                          "\(name): \(o.report.cases[0].reason ?? "no reason")")
            XCTAssertTrue(o.report.cases[1].diagnostics.isEmpty, name)
            try assertRenderingsAgree(o)
        }
        let stamped = try Self.judge("warn-lkdtm").report.cases[0].diagnostics
        for part in ["RIP: 0010:", "Call Trace:", "---[ end trace"] {
            XCTAssertTrue(stamped.contains { $0.contains(part) }, "the splat's \(part) line: \(stamped)")
        }
    }

    /// The same WARN on a console without the kmsg markers (a guest that
    /// wrote none) fails the result printed next, case 1, in the report as in
    /// the KTAP, with a plan (`ringfence vm`) and without (`ringfence verdict`);
    /// it used to be ignored where the guest's results.json came back (exit 0).
    func testARealWarnWithoutMarkersFailsTheNextResult() throws {
        let stripped: (String) -> String = { $0.replacingOccurrences(of: "\r\n", with: "\n").components(separatedBy: "\n").filter { !$0.contains("ringfence: begin") && !$0.contains("ringfence: end") }
            .joined(separator: "\n") }
        for plan in [nil, try Self.selftestPlan(2)] {
            let o = try Self.judge("warn-lkdtm", plan: plan, cut: stripped)
            XCTAssertTrue(o.console.caseTrouble.isEmpty, "no markers, no attribution by them")
            XCTAssertEqual(o.exitCode, 1, "plan: \(plan != nil)")
            XCTAssertEqual(o.report.cases.map(\.status), [.fail, .pass], "plan: \(plan != nil)")
            XCTAssertTrue(o.report.cases[0].reason?.hasPrefix("kernel: WARNING: drivers/misc/lkdtm/bugs.c:") == true, o.report.cases[0].reason ?? "")
            try assertRenderingsAgree(o)
        }
    }

    func testRealPanicEndsTheRunAndReportsEveryPlannedCase() throws {
        let plan = try Self.selftestPlan(3)
        let o = try Self.judge("panic-in-case", plan: plan)
        XCTAssertEqual(o.exitCode, 1)
        XCTAssertEqual(o.report.cases.map(\.status), [.pass, .fail, .crash])
        XCTAssertTrue(o.report.cases[1].reason?.contains("sysrq triggered crash") == true || o.report.cases[1].reason?.contains("Oops") == true
                      || o.report.cases[1].reason?.contains("BUG") == true, o.report.cases[1].reason ?? "")
        XCTAssertTrue(o.report.cases[2].reason?.hasPrefix("no result: Kernel panic") == true || o.report.cases[2].reason?.hasPrefix("no result: kernel panic") == true,
                      o.report.cases[2].reason ?? "")
        XCTAssertTrue(o.outcome.problems.contains { $0.contains("panic") })
        try assertRenderingsAgree(o)
    }

    func testPanicWithoutAPlanNamesTheCaseFromItsMarker() throws {
        let o = try Self.judge("panic-in-case")
        XCTAssertEqual(o.report.cases.map(\.id).last, "selftest/fault-2")
        XCTAssertEqual(o.report.cases.last?.status, .fail)
        XCTAssertEqual(o.exitCode, 1)
    }

    func testHarnessCrashIsExit2AndNotAKernelFailure() throws {
        let o = try Self.judge("harness-crash")
        XCTAssertEqual(o.exitCode, 2)
        XCTAssertTrue(o.outcome.problems.contains { $0.hasPrefix("ringfence crashed in the guest: killed by SIGILL") })
        XCTAssertFalse(o.outcome.problems.contains { $0.contains("kernel") && !$0.contains("not the kernel") })
        XCTAssertTrue(o.outcome.guestMessage.contains { $0.contains("Fatal error: Index out of range") })
        XCTAssertFalse(o.outcome.guestMessage.contains { $0.contains("0x0000") }, "stack frames are left out")
    }

    func testGuestUsageErrorsAreExit2WithTheGuestsWords() throws {
        for (name, words) in [("usage-bogus", "Unknown option '--bogus'"), ("usage-filter-nomatch", "no case matches 'nomatch'"),
                              ("usage-fuzz-time0", "--time")] {
            let o = try Self.judge(name)
            XCTAssertEqual(o.exitCode, 2, name)
            XCTAssertTrue(o.outcome.guestMessage.contains { $0.contains(words) }, "\(name): \(o.outcome.guestMessage)")
            XCTAssertTrue(o.report.cases.isEmpty, name)
        }
    }

    func testHangKilledAtTheTimeoutFails() throws {
        let o = try Self.judge("hang-timed-out", timedOut: true)
        XCTAssertEqual(o.exitCode, 1)
        XCTAssertTrue(o.outcome.problems.contains { $0.hasPrefix("timed out") })
    }

    func testCleanRunAndTheHaltedGuestPass() throws {
        let plan = try Self.plan("registration/command-header")
        for name in ["clean-command-header", "halt-acpi-off"] {
            let o = try Self.judge(name, plan: plan)
            XCTAssertEqual(o.exitCode, 0, "\(name): \(o.outcome.problems)")
            XCTAssertEqual(o.report.cases.count, 9)
            XCTAssertEqual(o.report.totals.passed, 9)
            try assertRenderingsAgree(o)
        }
        XCTAssertTrue(ConsoleVerdict.evaluate(log: try Self.log("halt-acpi-off")).haltedInsteadOfPowerOff)
    }

    /// The guest's results cross the console in the transfer form (no name,
    /// file, line or empty diagnostics); the host puts them back from the
    /// plan, by id, so every rendering names and locates each case as before.
    func testTransferFormResultsGetNamesAndLocationsFromThePlan() throws {
        let plan = try Self.plan("registration/command-header")
        let full = try Self.judge("clean-command-header", plan: plan)
        let recorded = try XCTUnwrap(GuestResults.extract(fromConsole: try Self.log("clean-command-header"))[GuestResults.resultsName])
        let guest = try JSONDecoder().decode(RunReport.self, from: recorded)
        let sent = try guest.json(pretty: false, transferForm: true)
        XCTAssertFalse(sent.contains("\"name\"") || sent.contains("\"file\"") || sent.contains("\"line\""), sent)
        XCTAssertLessThan(sent.utf8.count * 2, try guest.json(pretty: false).utf8.count + sent.utf8.count, "the transfer form is the smaller")
        let received = try JSONDecoder().decode(RunReport.self, from: Data(sent.utf8))
        XCTAssertEqual(received.cases.map(\.name), Array(repeating: "", count: 9))

        // The recorded log with its results.json replaced by the transfer form, judged by the one judge.
        let text = try Self.log("clean-command-header").replacingOccurrences(of: "\r\n", with: "\n").components(separatedBy: "\n")
            .filter { !GuestResults.isTransportLine($0) }
        var transport: [String] = []
        GuestResults.emit(name: GuestResults.resultsName, contents: Data(sent.utf8)) { transport.append($0) }
        let exitLine = try XCTUnwrap(text.firstIndex { $0.hasPrefix("# ringfence-exit:") })
        let log = (text[..<exitLine] + transport + text[exitLine...]).joined(separator: "\n")
        func judge(_ plan: [TestCase]?, catalog: [TestCase]? = nil) -> VMJudgement {
            var context = VMVerdict.Context()
            context.catalog = catalog
            return VMVerdict.judge(log: log, plan: plan, host: Self.host, context: context)
        }
        let o = judge(plan)
        XCTAssertEqual(o.exitCode, 0, "\(o.outcome.problems)")
        XCTAssertEqual(o.report.cases.map(\.name), full.report.cases.map(\.name))
        XCTAssertEqual(o.report.cases.map(\.file), plan.map(\.location.file))
        XCTAssertEqual(o.report.cases.map(\.line), plan.map(\.location.line))
        XCTAssertEqual(o.report.cases.map(\.status), full.report.cases.map(\.status))
        XCTAssertTrue(try o.report.json().contains("\"name\" : \"\(plan[0].name)\""))
        try assertRenderingsAgree(o)

        // A case the host never planned is named by its id and is a problem, not a silent row.
        let o2 = judge(Array(plan.dropFirst()))
        XCTAssertEqual(o2.report.cases[0].name, plan[0].id)
        XCTAssertTrue(o2.outcome.problems.contains { $0.contains("did not plan") && $0.contains(plan[0].id) }, "\(o2.outcome.problems)")
        XCTAssertNotEqual(o2.exitCode, 0)

        // `ringfence verdict` has no plan: it names them from the case directory, with no problem.
        let o3 = judge(nil, catalog: try Self.plan(""))
        XCTAssertEqual(o3.report.cases.map(\.name), full.report.cases.map(\.name))
        XCTAssertEqual(o3.report.cases.map(\.line), plan.map(\.location.line))
        XCTAssertEqual(o3.exitCode, 0, "\(o3.outcome.problems)")
        // Without either, each is named by its id.
        XCTAssertEqual(judge(nil).report.cases.map(\.name), plan.map(\.id))
    }

    func testTruncatedConsoleReportsTheMissingCasesAsErrors() throws {
        let plan = try Self.plan("registration/command-header")
        // The log as it stood after the fourth result: no results file, no exit marker.
        let o = try Self.judge("clean-command-header", plan: plan) { text in
            var lines = text.replacingOccurrences(of: "\r\n", with: "\n").components(separatedBy: "\n")
            let fourth = lines.indices.filter { lines[$0].hasPrefix("ok ") }[3]
            lines.removeSubrange((fourth + 1)...)
            return lines.joined(separator: "\n")
        }
        XCTAssertEqual(o.exitCode, 1)
        XCTAssertEqual(o.report.cases.map(\.status), Array(repeating: .pass, count: 4) + Array(repeating: .crash, count: 5))
        XCTAssertTrue(o.report.cases[4].reason?.hasPrefix("no result: the console log ended") == true)
        XCTAssertTrue(o.outcome.problems.contains { $0.contains("after 4 of 9 results") })
        try assertRenderingsAgree(o)
    }

    func testInt3OopsBeforeInitIsABootFailureAndTroubleAfterInitIsNot() throws {
        // Recorded: multi-threaded TCG, 2 CPUs, host busy; the bare /init never ran.
        let boot = ConsoleVerdict.evaluate(log: try Self.log("boot-oops-int3"))
        XCTAssertEqual(VMVerdict.bootFailure(boot)?.hasPrefix("Oops: int3"), true)
        // A WARN after init started is the kernel's, never retried away.
        XCTAssertNil(VMVerdict.bootFailure(ConsoleVerdict.evaluate(log: try Self.log("warn-in-case"))))
        XCTAssertNil(VMVerdict.bootFailure(ConsoleVerdict.evaluate(log: try Self.log("panic-in-case"))))
        XCTAssertNil(VMVerdict.bootFailure(ConsoleVerdict.evaluate(log: try Self.log("clean-command-header"))))
    }

    // MARK: plans

    static func plan(_ prefix: String) throws -> [TestCase] {
        try CaseLoader.load(directory: root.deletingLastPathComponent().appendingPathComponent("cases").path).filter { $0.id.hasPrefix(prefix) }
    }

    static func selftestPlan(_ n: Int) throws -> [TestCase] {
        let names = ["first case", "second case", "third case"]
        let yaml = names.prefix(n).map { "- name: \($0)\n  steps:\n    - register: { opcode: NOP, program: \"ret #1\" }\n" }.joined()
        return try CaseLoader.load(yaml: yaml, file: "selftest/fault.yaml")
    }

    /// A real boot with --memory 24M and the 16.5 MB initramfs: the kernel
    /// dies in silence right after the firmware. Below the default memory
    /// that must name --memory, not only "the console ended".
    func testASilentDeathBelowTheDefaultMemoryNamesMemory() throws {
        let o = try Self.judge("boot-silent-low-memory", memoryMB: 24, defaultMemoryMB: 384)
        XCTAssertNotEqual(o.exitCode, 0)
        XCTAssertTrue(o.outcome.problems.contains { $0.contains("boot died before init with --memory 24M") && $0.contains("384M") }, "\(o.outcome.problems)")
        // At the default memory the same silence is not blamed on memory.
        XCTAssertFalse(try Self.judge("boot-silent-low-memory", memoryMB: 24).outcome.problems.contains { $0.contains("--memory") })
    }

    /// Issue 20: a boot that never reached init is an infrastructure ending:
    /// exit 2, the reason with a hint, and no per-case result at all, even
    /// with a plan of cases (it used to report every planned case as failed).
    func testABootThatNeverReachedInitIsInfrastructureWithNoCaseResults() throws {
        let plan = try Self.plan("registration/command-header")
        XCTAssertFalse(plan.isEmpty)
        for (log, memory, hint) in [("boot-silent-low-memory", 24, "raise --memory"), ("boot-oops-int3", 384, "see console.log")] {
            let o = try Self.judge(log, plan: plan, memoryMB: memory, defaultMemoryMB: memory < 384 ? 384 : nil)
            XCTAssertEqual(o.exitCode, 2, log)
            XCTAssertEqual(o.report.cases.count, 0, log)
            XCTAssertTrue(o.outcome.infrastructure?.contains(hint) == true, "\(log): \(o.outcome.infrastructure ?? "nil")")
            XCTAssertEqual(VMVerdict.Ending(exitCode: o.exitCode).bisectCode, 125)
        }
        // A run whose init started is judged on the kernel, never infrastructure.
        let clean = try Self.judge("panic-in-case", plan: try Self.selftestPlan(3))
        XCTAssertNil(clean.outcome.infrastructure)
        XCTAssertEqual(clean.exitCode, 1)
    }
}
