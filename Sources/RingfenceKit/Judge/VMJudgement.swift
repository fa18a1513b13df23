import Foundation

/// The one judge: a console log, the plan (when the host knows it) and the
/// host's facts in, one judged report with its exit code, KTAP and summary
/// out. `ringfence vm`, `ringfence verdict` and every recorded-log test call
/// `VMVerdict.judge(log:plan:host:context:)` (kunit_tool's pattern: `exec`
/// and `parse FILE` share one parser), so a recorded log is judged exactly as
/// the run that recorded it was.
public struct VMJudgement {
    /// What the console showed (kernel trouble, markers, the guest's exit line).
    public var console: ConsoleVerdict
    /// The judged report, its problems and the guest's own words.
    public var outcome: VMVerdict.Outcome
    /// The run's one exit code (`VMVerdict.exitCode`), also in `report.exitCode`.
    public var exitCode: Int32
    /// true: the KTAP, results.json and JUnit come from the report (a `run`
    /// the host planned, or any guest command that sent results.json);
    /// false: another guest command (bench, fuzz, list, a usage error), whose
    /// own KTAP is passed through from the console.
    public var byReport: Bool
    /// Files the guest sent over the console, results.json excluded.
    public var files: [String: Data]
    /// results.ktap and stdout.
    public var ktap: String
    /// summary.txt.
    public var summary: String

    /// The judged report with the run's exit code.
    public var report: RunReport {
        var r = outcome.report
        r.exitCode = exitCode
        return r
    }

    /// The run-level problems as the tail of the output states them.
    public var problems: [String] { byReport ? outcome.problems : console.problems }
}

extension VMVerdict {
    /// What the judge needs besides the log, the plan and the host.
    public struct Context {
        /// Without a plan (`ringfence verdict` on a recorded log): cases to
        /// name and locate the guest's transfer-form results by, by id.
        public var catalog: [TestCase]?
        public var knownBugs: [KnownBug] = []
        /// The guest's architecture, for known bugs scoped with `arches:` (nil: this machine's).
        public var arch: String?
        public var kernelVersion: KernelVersion?
        /// The host killed the VM at its global timeout.
        public var timedOut = false
        public var timeoutSeconds: Double = 0
        /// --strict: known bugs fail the run.
        public var strict = false
        /// The default memory for this initramfs, when the guest was given less.
        public var memoryDefaultMB: Int?
        public init() {}
    }

    /// Judges a whole console log. `plan`: the cases a `run` was asked to
    /// run, in order (nil for other guest commands and recorded logs).
    /// `host`: the host's facts (nil for a recorded log: taken from the
    /// guest's results.json when it sent one).
    public static func judge(log: String, plan: [TestCase]?, host: HostFacts?, context: Context = Context()) -> VMJudgement {
        let console = ConsoleVerdict.evaluate(log: log, timedOut: context.timedOut)
        var files = GuestResults.extract(fromConsole: log)
        let guestReport = files.removeValue(forKey: GuestResults.resultsName).flatMap { try? JSONDecoder().decode(RunReport.self, from: $0) }
        let facts = host ?? guestReport.map { $0.host ?? HostFacts(accelerator: $0.accelerator ?? "unknown", kernelRelease: $0.kernel.release) }
            ?? HostFacts(accelerator: "unknown", kernelRelease: "unknown")
        let outcome = judge(Input(console: console, guestReport: guestReport, plan: plan, host: facts, context: context))
        // A usage or case-file error has no cases to report: the guest's own KTAP then.
        let byReport = (guestReport != nil || plan != nil) && !(outcome.exitCode == 2 && outcome.report.cases.isEmpty)
        let code = exitCode(outcome: outcome, console: console, byReport: byReport, timedOut: context.timedOut)
        let ktap: String
        if let why = outcome.infrastructure {
            // Nothing about the kernel was learnt: no results, as results.json and summary.txt say.
            var lines = ["KTAP version 1"]
            for p in outcome.report.problems ?? [] { lines.append("# problem: " + p) }
            lines.append("Bail out! infrastructure: " + why)
            ktap = lines.joined(separator: "\n") + "\n"
        } else if byReport {
            ktap = VMVerdict.ktap(outcome.report, preamble: console.ktapLines.filter { $0.hasPrefix("# module ") })
        } else {
            var lines = console.ktapLines
            if host != nil || guestReport != nil { lines.insert(contentsOf: hostLines(facts).map { "# " + $0 }, at: min(1, lines.count)) }
            ktap = lines.joined(separator: "\n") + "\n"
        }
        var report = outcome.report
        report.exitCode = code
        return VMJudgement(console: console, outcome: outcome, exitCode: code, byReport: byReport, files: files, ktap: ktap,
                           summary: summary(report, bootSeconds: console.bootSeconds, suiteSeconds: console.suiteSeconds))
    }

    /// The one exit policy (README, "Exit codes"). An infrastructure ending
    /// (the boot never reached init, out of memory) is 2. Judged by the
    /// report: the outcome's code (a harness crash or usage error 2, run-level
    /// problems 1, otherwise `Totals.exitCode` of the cases). Passed through
    /// from another guest command: a harness crash or a usage error is 2, a
    /// console-level problem or a failed result 1, otherwise the guest's own code.
    static func exitCode(outcome: Outcome, console: ConsoleVerdict, byReport: Bool, timedOut: Bool) -> Int32 {
        if byReport || outcome.infrastructure != nil { return outcome.exitCode }
        if console.guestCrash != nil { return 2 }
        if console.guestExitCode == 2 && console.caseLines.isEmpty && !timedOut { return 2 }
        if !console.problems.isEmpty || console.guestBailedOut { return 1 }
        var code = console.guestExitCode ?? 1
        if console.failed > 0 && code != 2 { code = 1 }
        return [0, 1, 2, 4].contains(code) ? code : 1
    }
}
