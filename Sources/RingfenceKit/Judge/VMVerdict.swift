import Foundation

/// The one results path of a VM run: the host turns the console log, the
/// guest's results file (if it arrived) and its own facts into one
/// `RunReport`, then renders KTAP, results.json, JUnit and the summary from
/// that report alone, so they cannot disagree.
public enum VMVerdict {
    /// The facts one judgement rests on: the console's, the guest's results,
    /// the plan, the host's, and the run's settings (`Context`).
    public struct Input {
        public var console: ConsoleVerdict
        /// The guest's results.json, decoded, when it came back.
        public var guestReport: RunReport?
        /// The cases the guest was asked to run, in plan order, when the host
        /// knows them (the guest command is `run`).
        public var plan: [TestCase]?
        public var host: HostFacts
        public var context: Context

        public init(console: ConsoleVerdict, guestReport: RunReport?, plan: [TestCase]?, host: HostFacts, context: Context = Context()) {
            self.console = console; self.guestReport = guestReport; self.plan = plan; self.host = host; self.context = context
        }

        /// How the console ended (`VMVerdict.consoleEnding`).
        public var consoleEnding: ConsoleEnding { VMVerdict.consoleEnding(console, timedOut: context.timedOut) }
        /// A guest command other than a planned `run` that sent no results.json:
        /// its own KTAP is passed through and its own exit code stands unless
        /// the console or a case says otherwise.
        var passthrough: Bool { plan == nil && guestReport == nil }
        /// The console's panic as a problem ("kernel panic: …").
        var panicProblem: String? { consoleEnding.problems.first { $0.hasPrefix("kernel panic") } }
    }

    public struct Outcome {
        public var report: RunReport
        public var exitCode: Int32
        /// The run's one list of problems (`RunProblem.merged`), also `report.problems`.
        var stated: [RunProblem]
        public var problems: [String] { stated.map(\.text) }
        /// A guest usage or case-file error: the guest's own words.
        public var guestMessage: [String]
        /// Set when the run ended for a reason outside the kernel under test's
        /// io_uring (the boot never reached ringfence's init, the guest ran out
        /// of memory): the reason and what to do. Such a run has no per-case
        /// results and exits 2 (125 under --bisect); see `Ending`.
        public var infrastructure: String? = nil
        /// How the console ended, as a passed-through KTAP states it.
        public var consoleEnding = ConsoleEnding()
        /// The guest's own KTAP is passed through: a guest command other than a
        /// planned `run` that sent no results.json, or a usage or case-file
        /// error (exit 2, no cases). Its problems then include the console's
        /// ending, merged (`RunProblem.merged`).
        public var passedThrough = false
    }

    /// How a run ended, the one classification behind the exit code, the
    /// summary and results.json (README, "Exit codes"): the kernel was judged
    /// (pass, fail, all skipped), or the set-up failed and nothing was judged.
    public enum Ending: Equatable {
        case passed, kernelFailed, allSkipped
        /// Set-up, usage, case-file or infrastructure: nothing about the kernel was learnt.
        case infrastructure
        case interrupted(signal: Int32)

        public init(exitCode: Int32) {
            switch exitCode {
            case 0: self = .passed
            case 1: self = .kernelFailed
            case 4: self = .allSkipped
            case 129...159: self = .interrupted(signal: exitCode - 128)
            default: self = .infrastructure
            }
        }

        /// `git bisect run`'s contract: 0 good, 1 bad, 125 skip (set-up
        /// failures and kernels without the feature cannot be judged); a user's
        /// interrupt keeps its 128+signal so that bisect stops.
        public var bisectCode: Int32 {
            switch self {
            case .passed: return 0
            case .kernelFailed: return 1
            case .allSkipped, .infrastructure: return 125
            case .interrupted(let s): return 128 + s
            }
        }

        public var name: String {
            switch self {
            case .passed: return "good"
            case .kernelFailed: return "bad (the kernel failed a case)"
            case .allSkipped: return "skip (every case skipped: the kernel lacks the feature)"
            case .infrastructure: return "skip (set-up or infrastructure, not the kernel)"
            case .interrupted(let s): return "interrupted (signal \(s))"
            }
        }
    }

    /// Judges the console's facts, the guest's results and the host's facts:
    /// the cases, the run-level problems, the ending and the exit code.
    public static func judge(_ input: Input) -> Outcome {
        let console = input.console
        let endReason = self.endReason(input)
        var (cases, stated, kernel, startedAt, duration) = caseResults(input, endReason: endReason)
        blameKernelTrouble(on: &cases, input: input, endReason: endReason, problems: &stated)
        stated += runProblems(input, cases: cases, problemsSoFar: stated)
        let ending = input.consoleEnding
        // Passed through, the console's ending is stated first (as its KTAP ends), then what only the report knows.
        let withEnding = RunProblem.merged(ending.stated, stated)
        let infrastructure = infrastructureEnding(input)
        let code = exitCode(input, cases: cases, problems: (input.passthrough ? withEnding : stated).map(\.text), infrastructure: infrastructure)
        // A usage or case-file error has no cases to report: the guest's own KTAP then.
        let passedThrough = input.passthrough || (code == 2 && cases.isEmpty && infrastructure == nil)
        if passedThrough { stated = withEnding }
        if let i = infrastructure { stated.insert(RunProblem("infrastructure: " + i), at: 0) }

        var report = RunReport(kernel: kernel, accelerator: input.host.accelerator, startedAt: startedAt,
                               durationMs: duration, cases: infrastructure == nil ? cases : [])
        report.configDigest = input.host.configDigest
        report.host = input.host
        report.problems = stated.map(\.text)
        report.exitCode = code
        // The guest's own words, without a runtime's stack frames.
        let guestMessage = console.guestText.filter { line in
            !(line.first?.isNumber == true && line.contains("0x")) && line != "Current stack trace:"
        }
        var outcome = Outcome(report: report, exitCode: code, stated: stated, guestMessage: guestMessage)
        outcome.infrastructure = infrastructure
        outcome.consoleEnding = ending
        outcome.passedThrough = passedThrough
        return outcome
    }

    /// How the run ended, for the reason of the cases that never reported.
    static func endReason(_ input: Input) -> String {
        let console = input.console
        if let crash = console.guestCrash { return "ringfence crashed in the guest (\(crash))" }
        if let pn = input.panicProblem { return pn }
        if input.context.timedOut { return "the VM was killed at the \(Int(input.context.timeoutSeconds)) s timeout" }
        if console.outOfMemory != nil { return "the guest ran out of memory" }
        return "the console log ended"
    }

    /// The cases: the guest's results.json (named and located from the plan
    /// or the catalog), or else the console's result lines against the plan.
    static func caseResults(_ input: Input, endReason: String)
        -> (cases: [CaseResult], problems: [RunProblem], kernel: KernelFacts, startedAt: String, durationMs: Double) {
        let console = input.console
        var problems: [RunProblem] = []
        if let g = input.guestReport {
            var cases = g.cases
            // The guest sends its results in the transfer form, without name,
            // file and line: they come from the plan, by id.
            if cases.contains(where: { $0.file.isEmpty }) {
                let planned = Dictionary((input.plan ?? input.context.catalog ?? []).map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
                var unplanned: [String] = []
                cases = cases.map { r in
                    guard r.file.isEmpty else { return r }
                    if let c = planned[r.id] { return r.located(by: c) }
                    if input.plan != nil { unplanned.append(r.id) }
                    var named = r
                    if named.name.isEmpty { named.name = r.id }
                    return named
                }
                if !unplanned.isEmpty {
                    problems.append(RunProblem("the guest reported \(unplanned.count) case(s) the host did not plan: \(unplanned.prefix(3).joined(separator: ", "))",
                                               .unplanned))
                }
            }
            return (cases, problems, g.kernel, g.startedAt, g.durationMs)
        }
        var kernel = KernelFacts(release: input.host.kernelRelease, version: "", bpfFilter: false, opcodeLast: 0,
                                 contextSizes: [:], isRoot: true, loadedModules: [])
        // The C kselftest's probe line (`ringfence export --kselftest`): "...; IORING_OP_LAST 65, filters yes".
        if let probe = exportProbe(console.document) { kernel.opcodeLast = UInt32(probe.0); kernel.bpfFilter = probe.1 }
        var cases: [CaseResult] = []
        let lines = console.caseLines
        if let plan = input.plan {
            for (i, c) in plan.enumerated() {
                cases.append(i < lines.count ? fromConsole(lines[i], case: c)
                             : CaseResult(c, status: .crash, reason: "no result: \(endReason) before this case reported"))
            }
            if lines.count < plan.count {
                problems.append(RunProblem("\(endReason) after \(lines.count) of \(plan.count) results; the rest are reported as errors", .missingResults))
            }
        } else {
            cases = lines.map { fromConsole($0, case: nil, name: descriptionOf($0.rest)) }
        }
        cases = cases.map { KnownBugs.apply(input.context.knownBugs, to: $0, kernel: input.context.kernelVersion, arch: input.context.arch ?? input.host.arch) }
        return (cases, problems, kernel, "", (console.suiteSeconds ?? 0) * 1000)
    }

    /// The console overlay: kernel trouble fails the case the console's
    /// markers attribute it to; a case that was running when the run ended
    /// and never reported is known from its marker.
    static func blameKernelTrouble(on cases: inout [CaseResult], input: Input, endReason: String, problems: inout [RunProblem]) {
        let console = input.console
        if input.plan == nil {
            for n in console.caseTrouble.keys.sorted() where n == cases.count + 1 {
                let id = console.markerIDs[n] ?? "case \(n)"
                cases.append(CaseResult(id: id, name: id, file: "", line: 0, status: .crash,
                                        reason: "no result: \(endReason) while this case ran"))
            }
        }
        // Without markers (a guest that wrote none), trouble fails the result the guest printed next.
        for (i, l) in console.caseLines.enumerated() where i < cases.count && console.caseTrouble[l.number] == nil {
            guard let t = l.trouble else { continue }
            cases[i].status = .fail
            cases[i].reason = "kernel: \(t)"
            cases[i].diagnostics = ["kernel: \(t)"] + cases[i].diagnostics
        }
        for (n, t) in console.caseTrouble.sorted(by: { $0.key < $1.key }) {
            guard n >= 1 && n <= cases.count else {
                problems.append(RunProblem("kernel trouble attributed to case \(n), which is not in the plan: \(t.first)",
                                           .troubleOutsidePlan(case: n), .unreportedTrouble(case: n)))
                continue
            }
            var r = cases[n - 1]
            r.status = .fail
            r.reason = "kernel: \(t.first)"
            var diag = ["kernel: \(t.first)" + (t.note.map { " (\($0))" } ?? "")]
            diag += t.lines.dropFirst().map { "kernel:   \($0)" }
            r.diagnostics = diag + r.diagnostics
            cases[n - 1] = r
        }
    }

    /// Run-level problems the cases do not carry, in the order they are reported.
    static func runProblems(_ input: Input, cases: [CaseResult], problemsSoFar: [RunProblem]) -> [RunProblem] {
        let console = input.console
        var problems: [RunProblem] = []
        func anyPanic() -> Bool { (problemsSoFar + problems).contains { $0.text.contains("panic") } }
        if let crash = console.guestCrash { problems.append(RunProblem("ringfence crashed in the guest: \(crash)", .guestCrash)) }
        if let early = console.troubleBeforeInit, !console.initStarted || console.caseLines.isEmpty, console.caseTrouble.isEmpty {
            problems.append(RunProblem("kernel trouble before the suite started: \(early)", .troubleBeforeSuite))
        }
        // Below the default memory a boot that never reached init is most
        // likely short of memory, whether the kernel said so (a splat before
        // init) or died in silence (too little RAM to decompress itself).
        if console.outOfMemory == nil, !console.initStarted, let want = input.context.memoryDefaultMB {
            problems.append(RunProblem("the boot died before init with --memory \(input.host.memoryMB)M, less than the \(want)M this initramfs is given by default: raise --memory",
                                       .lowMemoryBoot))
        }
        if let oom = console.outOfMemory { problems.append(RunProblem(outOfMemoryText(oom, input), .outOfMemory)) }
        if let panic = input.panicProblem, !anyPanic() { problems.append(RunProblem(panic, .panic)) }
        if input.context.timedOut { problems.append(RunProblem("timed out: the VM was killed after \(Int(input.context.timeoutSeconds)) s", .timeout)) }
        // A leak is the kernel's, found after the suite: it fails the run (exit 1),
        // not one case (an allocation is not attributed to a case's markers).
        if let p = ConsoleVerdict.kmemleakProblem(console.kmemleak) { problems.append(RunProblem(p, .kmemleak)) }
        if console.guestExitCode == nil && !input.context.timedOut && console.guestCrash == nil && !anyPanic() {
            problems.append(RunProblem("the guest never printed '# ringfence-exit:' (it did not finish)", .exitMarker))
        }
        if input.guestReport == nil && input.plan == nil && cases.isEmpty && console.guestExitCode != 2 && !console.initStarted {
            problems.append(RunProblem("no output from ringfence's init on the console", .noInitOutput))
        }
        return problems
    }

    static func outOfMemoryText(_ oom: String, _ input: Input) -> String {
        "the guest ran out of memory (\(oom)) with --memory \(input.host.memoryMB)M: give it more, e.g. --memory \(max(1024, input.host.memoryMB * 2))M"
    }

    /// Endings outside the kernel under test (README, "Exit codes", 2): no
    /// per-case verdicts at all. nil when the kernel can be judged.
    static func infrastructureEnding(_ input: Input) -> String? {
        let console = input.console
        if let oom = console.outOfMemory { return outOfMemoryText(oom, input) }
        guard !console.initStarted && input.guestReport == nil && console.caseLines.isEmpty else { return nil }
        let how = console.troubleBeforeInit.map { "the kernel failed before ringfence's init started: \($0)" }
            ?? input.panicProblem.map { "the boot ended before ringfence's init started: \($0)" }
            ?? (input.context.timedOut ? "the kernel did not start ringfence's init within the \(Int(input.context.timeoutSeconds)) s timeout"
                : "the boot ended before ringfence's init started (no output from init)")
        let hint = input.context.memoryDefaultMB.map { "with --memory \(input.host.memoryMB)M, less than the \($0)M this initramfs is given by default: raise --memory" }
            ?? "see console.log; a kernel that does not boot to init cannot be judged (check the image, its config, --append)"
        return how + "; " + hint
    }

    /// The one exit policy (README, "Exit codes"): 2 for an infrastructure
    /// ending, a harness crash or a usage error (no cases); 1 for a run-level
    /// problem (for a passed-through guest command these include the console's
    /// own: trouble no result carries, a missing plan, result or exit marker) or
    /// the guest's own "Bail out!"; then, judged by the report, `Totals.exitCode`
    /// of the cases; passed through, the guest's own code, 1 when a case failed.
    /// (Where this differs from the console-side policy it replaced, the old
    /// verdict was the lie: a guest "Bail out!" beside a results.json fails;
    /// guest exit 2 with kernel trouble in a case is 1; a passed-through
    /// "not ok N # SKIP" is a skip, as KTAP says. No fixture reaches these.)
    static func exitCode(_ input: Input, cases: [CaseResult], problems: [String], infrastructure: String?) -> Int32 {
        let console = input.console
        if infrastructure != nil || console.guestCrash != nil { return 2 }
        if console.guestExitCode == 2 && cases.isEmpty && console.caseTrouble.isEmpty && !input.context.timedOut { return 2 }
        if !problems.isEmpty || console.guestBailOut != nil { return 1 }
        if input.passthrough {
            let code = console.guestExitCode ?? 1
            let t = Totals(cases)
            if t.failed + t.errors > 0 && code != 2 { return 1 }
            return [0, 1, 2, 4].contains(code) ? code : 1
        }
        if cases.isEmpty, let g = console.guestExitCode { return g }
        return Totals(cases).exitCode(strict: input.context.strict)
    }

    /// Kernel trouble before ringfence's init printed anything (multi-threaded
    /// TCG's `Oops: int3` in core kernel code is the known case): the boot
    /// failed, not the kernel under test's io_uring, so the host boots once
    /// more. Trouble after init started is never retried away.
    public static func bootFailure(_ console: ConsoleVerdict) -> String? {
        // Out of memory is the --memory setting, not a flake: booting again would fail the same way.
        guard !console.initStarted, console.outOfMemory == nil else { return nil }
        return console.troubleBeforeInit
    }

    /// A case record from a console result line (no results file came back).
    static func fromConsole(_ l: ConsoleVerdict.ConsoleResult, case c: TestCase?, name: String? = nil) -> CaseResult {
        let rest = l.rest
        var status: CaseStatus = l.ok ? .pass : .fail
        var reason: String?
        if let hash = rest.range(of: " # ") ?? rest.range(of: "# ") {
            let directive = rest[hash.upperBound...].trimmingSpaces()
            let word = directive.prefix { $0 != " " }.uppercased()
            let text = String(directive.dropFirst(word.count)).trimmingSpaces()
            switch word {
            case "SKIP": status = .skip; reason = text
            case "TODO", "XFAIL": status = .xfail; reason = text
            case "XPASS": status = .xpass; reason = text
            case "TIMEOUT": status = .timeout; reason = text
            case "ERROR": status = .crash; reason = text
            default: break
            }
        }
        let diags = l.diagnostics.filter { !$0.hasPrefix("ringfence") }
        if let c { return CaseResult(c, status: status, reason: reason, diagnostics: diags) }
        let n = name ?? ""
        return CaseResult(id: n, name: n, file: "", line: 0, status: status, reason: reason, diagnostics: diags)
    }

    /// IORING_OP_LAST and whether filters register, from the C kselftest's
    /// header line (`# io_uring BPF filter cases (...); IORING_OP_LAST 65, filters yes`).
    static func exportProbe(_ lines: [String]) -> (Int, Bool)? {
        for l in lines.prefix(8) {
            guard let r = l.range(of: "IORING_OP_LAST ") else { continue }
            let rest = l[r.upperBound...]
            guard let n = Int(rest.prefix { $0.isNumber }) else { continue }
            return (n, rest.contains("filters yes"))
        }
        return nil
    }

    static func descriptionOf(_ rest: String) -> String {
        var d = Substring(rest)
        if let hash = d.range(of: " #") { d = d[..<hash.lowerBound] }
        if d.hasPrefix(" - ") { d = d.dropFirst(3) }
        return d.trimmingSpaces()
    }

    // MARK: rendering, all from the report

    /// The KTAP document of a judged run: `KTAPWriter.document` (the same
    /// lines the guest streams), with the host's facts and run-level problems
    /// as diagnostics after the version line.
    public static func ktap(_ report: RunReport, preamble: [String] = []) -> String {
        var lines = KTAPWriter.document(report)
        var extra: [String] = []
        if let h = report.host { extra += hostLines(h).map { "# " + $0 } }
        extra += preamble.map { $0.hasPrefix("#") ? $0 : "# " + $0 }
        extra += (report.problems ?? []).map { "# problem: \($0)" }
        lines.insert(contentsOf: extra, at: min(1, lines.count))
        return lines.joined(separator: "\n") + "\n"
    }

    /// The KTAP document of a guest command other than a planned `run` (its
    /// own, passed through from the console's facts): a result with kernel
    /// trouble becomes "not ok N name # kernel WARN: <trouble>", a case that
    /// hit trouble and never reported gets such a line, and the ending adds
    /// the run's other problems as "# ringfence-vm: <problem>" lines (before
    /// any "Bail out!", the guest's own or the console ending's, which states
    /// its own problem); the host's facts (when known) follow the version line.
    static func passthroughKTAP(_ c: ConsoleVerdict, ending: ConsoleEnding, problems: [RunProblem], host: HostFacts?) -> String {
        var lines = c.sawKTAP ? c.document : ["KTAP version 1"] + c.document
        for r in c.results {
            guard let t = r.trouble else { continue }
            var desc = Substring(r.rest)
            if let hash = desc.firstRange(of: " #") { desc = desc[..<hash.lowerBound] }
            lines[r.index] = "not ok \(r.number)\(desc) # kernel WARN: \(t)"
        }
        for (n, t) in c.unreportedTrouble.sorted(by: { $0.key < $1.key }) {
            let name = c.markerIDs[n].map { $0.isEmpty ? "" : " " + $0 } ?? ""
            lines.append("not ok \(n)\(name) # kernel WARN: \(t)")
        }
        let bailProblem = ending.bail.map { String($0.dropFirst("Bail out! ".count)) }
        // Trouble in a case that never reported is stated by its "not ok" line above.
        let stated = problems.filter { $0.text != bailProblem && !$0.topics.contains { if case .unreportedTrouble = $0 { return true }; return false } }
            .map { "# ringfence-vm: " + $0.text }
        if let guestBail = lines.firstIndex(where: { $0.hasPrefix("Bail out!") }) {
            lines.insert(contentsOf: stated, at: guestBail)
        } else {
            lines += stated
        }
        if let b = ending.bail { lines.append(b) }
        if let h = host { lines.insert(contentsOf: hostLines(h).map { "# " + $0 }, at: min(1, lines.count)) }
        return lines.joined(separator: "\n") + "\n"
    }

    public static func hostLines(_ h: HostFacts) -> [String] {
        var out = ["host: kernel \(h.kernelRelease)" + (h.kernelPackage.map { " (\($0) \(h.kernelPackageVersion ?? ""))" } ?? "")
                   + (h.kernelImage.map { " image \($0)" } ?? ""),
                   "host: " + (h.arch.map { "arch \($0)" + (h.executor.map { " (\($0))" } ?? "") + ", " } ?? "") + "accelerator \(h.accelerator)" + (h.tcgThreads.map { " (\($0)-threaded)" } ?? "")
                   + ", \(h.cpus) CPU(s), \(h.memoryMB) MiB, boot attempts \(h.bootAttempts)"
                   + (h.qemuVersion.map { ", \($0)" } ?? "")]
        if let d = h.configDigest { out.append("host: config sha256 \(d)") }
        out += h.notes.map { "host: note: \($0)" }
        return out
    }

    /// summary.txt: one key=value line, then `problem:` and `note:` lines.
    public static func summary(_ report: RunReport, bootSeconds: Double?, suiteSeconds: Double?) -> String {
        func fmt(_ d: Double?) -> String { d.map { String(format: "%.2f", $0) } ?? "?" }
        let t = report.totals
        var line = "boot=\(fmt(bootSeconds)) suite=\(fmt(suiteSeconds)) passed=\(t.passed) failed=\(t.failed + t.errors) skipped=\(t.skipped) xfail=\(t.xfail) xpass=\(t.xpass)"
        line += " planned=\(report.cases.count) exit=\(report.exitCode ?? -1)"
        if let h = report.host {
            line += " accel=\(h.accelerator) boot_attempts=\(h.bootAttempts)"
            if let a = h.arch { line += " arch=\(a)" }
        }
        line += "\n"
        for p in report.problems ?? [] { line += "problem: \(p)\n" }
        for n in report.host?.notes ?? [] { line += "note: \(n)\n" }
        return line
    }
}
