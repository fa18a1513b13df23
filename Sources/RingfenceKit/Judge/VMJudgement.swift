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

    /// The run's one list of problems: results.json, summary.txt, the KTAP
    /// and the tail state these (`RunProblem.merged`).
    public var problems: [String] { outcome.problems }
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
        let console = ConsoleVerdict.evaluate(log: log)
        var files = GuestResults.extract(fromConsole: log)
        let guestReport = files.removeValue(forKey: GuestResults.resultsName).flatMap { try? JSONDecoder().decode(RunReport.self, from: $0) }
        var facts = host ?? guestReport.map { $0.host ?? HostFacts(accelerator: $0.accelerator ?? "unknown", kernelRelease: $0.kernel.release) }
            ?? HostFacts(accelerator: "unknown", kernelRelease: "unknown")
        // A saved log judged with `ringfence verdict --arch`: the architecture it was recorded on.
        if facts.arch == nil { facts.arch = context.arch }
        let outcome = judge(Input(console: console, guestReport: guestReport, plan: plan, host: facts, context: context))
        let byReport = !outcome.passedThrough
        let code = outcome.exitCode
        let ktap: String
        if let why = outcome.infrastructure {
            // Nothing about the kernel was learnt: no results, as results.json and summary.txt say.
            var lines = ["KTAP version 1"]
            for p in outcome.report.problems ?? [] { lines.append("# problem: " + p) }
            lines.append("Bail out! infrastructure: " + why)
            ktap = lines.joined(separator: "\n") + "\n"
        } else if byReport {
            ktap = VMVerdict.ktap(outcome.report, preamble: console.document.filter { $0.hasPrefix("# module ") })
        } else {
            ktap = passthroughKTAP(console, ending: outcome.consoleEnding, problems: outcome.stated,
                                   host: host != nil || guestReport != nil ? facts : nil)
        }
        var report = outcome.report
        report.exitCode = code
        return VMJudgement(console: console, outcome: outcome, exitCode: code, byReport: byReport, files: files, ktap: ktap,
                           summary: summary(report, bootSeconds: console.bootSeconds, suiteSeconds: console.suiteSeconds))
    }

    /// How the console ended, as a guest command's own KTAP states it
    /// (`passthroughKTAP`): the problems, and the "Bail out!" line when the
    /// document cannot be complete (a panic, results missing from the plan,
    /// no KTAP at all, the timeout).
    public struct ConsoleEnding: Equatable {
        var stated: [RunProblem] = []
        public var bail: String?
        public var problems: [String] { stated.map(\.text) }
    }

    /// The console's facts as problems and a bail-out: kernel trouble no
    /// result carries, kmemleak, a missing plan, results or exit marker, a
    /// panic, the timeout. A guest usage error (exit 2, no results) has no
    /// KTAP to miss: it has said what is wrong.
    static func consoleEnding(_ c: ConsoleVerdict, timedOut: Bool) -> ConsoleEnding {
        var problems: [RunProblem] = []
        var bail: (text: String, topics: [RunProblem.Topic])?
        let usage = c.guestExitCode == 2 && c.results.isEmpty && c.guestCrash == nil
        if !c.sawKTAP && !usage { problems.append(RunProblem("no KTAP output on the console", .noKTAP)) }
        if let t = c.troubleAfterLastResult { problems.append(RunProblem("kernel trouble after the last result: \(t)", .troubleAfterLastResult)) }
        // kmemleak after the suite: a leak through io_uring fails the run (not one case:
        // the allocation's time is not attributed to a case's markers).
        if let p = ConsoleVerdict.kmemleakProblem(c.kmemleak) { problems.append(RunProblem(p, .kmemleak)) }
        for (n, t) in c.unreportedTrouble.sorted(by: { $0.key < $1.key }) {
            problems.append(RunProblem("kernel trouble in case \(n), which reported no result: \(t)", .unreportedTrouble(case: n)))
        }
        if let t = c.troubleBeforeSuite { problems.append(RunProblem("kernel trouble before the suite started: \(t)", .troubleBeforeSuite)) }
        let numbers = Set(c.results.map(\.number))
        if c.sawKTAP && c.planned == nil { problems.append(RunProblem("no KTAP plan line", .noPlanLine)) }
        let ended: [RunProblem.Topic] = c.panic != nil ? [.panic, .exitMarker] : timedOut ? [.timeout, .exitMarker] : [.exitMarker]
        if let m = c.planned, c.guestBailOut == nil {
            let missing = (1...max(m, 1)).filter { !numbers.contains($0) }.count - (m == 0 ? 1 : 0)
            if missing > 0 {
                let why = c.panic.map { "kernel panic: \($0)" } ?? (timedOut ? "timed out" : "console log ended")
                bail = ("Bail out! \(why) after \(numbers.count) of \(m) results", ended + [.missingResults])
            }
        }
        if bail == nil, let pn = c.panic { bail = ("Bail out! kernel panic: \(pn)", [.panic, .exitMarker]) }
        if bail == nil && (!c.sawKTAP || timedOut) && c.guestExitCode == nil {
            bail = ("Bail out! " + (timedOut ? "timed out" : "console log ended") + (c.sawKTAP ? " before the suite finished" : " before any KTAP output"), ended)
            problems.removeAll { $0.topics.contains(.noKTAP) || $0.topics.contains(.noPlanLine) }
        }
        if bail == nil && c.guestExitCode == nil {
            problems.append(timedOut ? RunProblem("timed out before the ringfence-exit marker", .timeout, .exitMarker)
                                     : RunProblem("no '# ringfence-exit:' marker (guest did not finish)", .exitMarker))
        }
        if bail == nil && timedOut && c.guestExitCode != nil { problems.append(RunProblem("timed out", .timeout)) }
        if let b = bail { problems.append(RunProblem(String(b.text.dropFirst("Bail out! ".count)), topics: b.topics)) }
        return ConsoleEnding(stated: problems, bail: bail?.text)
    }
}
