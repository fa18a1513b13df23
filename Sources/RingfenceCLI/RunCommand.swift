import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import RingfenceCore
import CRingfence

public struct RunCommand: ParsableCommand {
    public init() {}
    public static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run cases against the running kernel and print KTAP (or JSON).")

    @Option(name: .long, help: "Directory of case files, or one case file.")
    public var cases = "cases"

    @Option(name: .long, help: "Run only cases whose id or name contains this text; with * or ? it is a glob over the whole id or name, e.g. 'context/*' (repeatable).")
    public var filter: [String] = []

    @Option(name: .long, help: "Output format: ktap or json.")
    var format: OutputFormat = .ktap

    @Option(name: .long, parsing: .unconditional, help: "Seconds before a case is killed and reported as a timeout.")
    var timeout: Double = 10

    @Option(name: .long, help: "Also write a JSON results file (for ringfence compare).")
    var results: String?

    @Option(name: .long, help: "Known-bug baseline (default: <cases>/known-bugs.yaml; 'none' to ignore).")
    public var knownBugs: String?

    @Flag(name: .long, help: "Write 'ringfence: begin/end N id' markers to /dev/kmsg (the kernel log) around each case, also outside the VM guest (the guest always does when it can).")
    var announce = false

    @Flag(name: .long, help: "Known bugs (xfail) and stale known-bug entries (xpass) fail the run too: gate on 'this kernel is correct', not only 'nothing new broke'.")
    var strict = false

    @Flag(name: .long, help: "Also run the exhaustive tier (e.g. every 16-bit instruction code: about a minute under TCG).")
    var exhaustive = false

    @Option(name: .long, parsing: .unconditional, help: "Cases run at once, each in its own process (default: online CPUs, at most 4). With 1, a shared-worker case that waits on a timer of 20 ms or more runs in a second worker beside the others. KTAP stays in plan order; a taint that appears while several run fails each of them.")
    var jobs: Int?

    @Flag(name: .long, help: "Run every case in a fresh child process. By default a case that only touches its rings (creates them, registers ring filters and restrictions, submits, closes them) runs in a long-lived worker that proves itself clean after each case.")
    var isolateAll = false

    @Flag(name: .long, help: "Print per-case durations and the ten slowest cases, and where the run's time went (# ringfence: phase lines).")
    var verbose = false

    enum OutputFormat: String, ExpressibleByArgument, CaseIterable { case ktap, json, junit }

    static var defaultJobs: Int { max(1, min(4, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))) }

    public func validate() throws {
        guard timeout > 0, timeout <= TestCase.maximumTimeout else {
            throw ValidationError("--timeout must be more than 0 and at most \(Int(TestCase.maximumTimeout)) seconds")
        }
        if let jobs, jobs < 1 || jobs > 64 { throw ValidationError("--jobs must be 1 to 64") }
    }

    public func run() throws {
        // Where the time goes: always in the VM guest, with --verbose elsewhere.
        let showPhases = verbose || rf_is_pid1 != 0
        let plan = try loadPlan()
        if showPhases { plan.phases.forEach { phase($0) } }
        let (runner, taintAtStart) = makeRunner(facts: plan.facts)
        let stream = KTAPStream(ids: plan.selected.map(\.id), facts: plan.facts, taintAtStart: taintAtStart)
        let started = Date()
        let t0 = rf_now_ns()
        let cpu0 = PhaseTimes.machineCPU()
        if format == .ktap { stream.header().forEach { emit($0) } }
        let done = runCases(plan, runner: runner, stream: stream)
        let elapsed = Double(rf_now_ns() - t0) / 1e6
        let runNs = rf_now_ns() - t0
        let totals = Totals(done)
        // The accelerator and the .config digest are the host's facts: `ringfence vm` adds them (VMVerdict).
        var report = RunReport(kernel: plan.facts, accelerator: nil,
                               startedAt: iso8601(secondsSince1970: started.timeIntervalSince1970), durationMs: elapsed, cases: done)
        if let taintAtStart, taintAtStart != 0 { report.taintAtStart = taintAtStart }
        try printReport(report, stream: stream, durationMs: elapsed)
        if showPhases {
            let ran = done.filter { $0.status != .skip }
            let caseNs = UInt64(ran.reduce(0) { $0 + $1.durationMs } * 1e6)
            // The machine's CPU split: in the guest, how much of the time is the
            // kernel's (system) and how much ringfence's own code (user).
            let cpu = PhaseTimes.cpuSplit(cpu0, PhaseTimes.machineCPU()).map { "; \(rf_is_pid1 != 0 ? "guest" : "machine") \($0)" } ?? ""
            phase(PhaseTimes.line("cases-run", runNs, "\(ran.count) run, \(done.count - ran.count) skipped, \(runner.isolationSummary); "
                                  + "sum of case durations \(PhaseTimes.seconds(caseNs)) s" + cpu))
        }
        try writeResults(report, showPhases: showPhases)
        warn("ringfence: \(totals.summary)")
        if strict && totals.xfail + totals.xpass > 0 && totals.exitCode(strict: false) == 0 {
            warn("ringfence: --strict: known bugs (xfail) and stale known-bug entries (xpass) fail the run")
        }
        throw ExitCode(totals.exitCode(strict: strict))
    }

    /// What a run starts from: the selected cases, the known-bug baseline, the kernel's
    /// facts, and the phase lines saying what each took.
    private struct Plan {
        var selected: [TestCase]
        var baseline: [KnownBug]
        var facts: KernelFacts
        var phases: [String]
    }

    private func loadPlan() throws -> Plan {
        var phases: [String] = []
        if let t0 = ProcessInfo.processInfo.environment["RINGFENCE_SUITE_T0_NS"].flatMap(UInt64.init) {
            phases.append(PhaseTimes.line("cli-start", rf_now_ns() &- t0, "supervisor fork, Swift runtime, argument parsing"))
        }
        // Before any case runs: a long run must not end in a failed write.
        if let results { try checkWritableFile(results, flag: "--results") }
        let (all, loadNs) = try PhaseTimes.measure { try loadCases(cases) }
        let selected = filter.isEmpty ? all : all.filter { c in filter.contains { CaseFilter.matches($0, c) } }
        phases.append(PhaseTimes.line("cases-load", loadNs, "\(all.count) cases, \(selected.count) selected; \(CaseLoader.timings.summary)"))
        if selected.isEmpty {
            warn("ringfence: no case matches \(filter.map { "'\($0)'" }.joined(separator: ", "))")
            throw ExitCode(Exit.usage)
        }
        let (baseline, bugsNs) = try PhaseTimes.measure { try loadKnownBugs() }
        phases.append(PhaseTimes.line("known-bugs-load", bugsNs, "\(baseline.count) entries"))
        let (facts, probeNs) = PhaseTimes.measure { KernelProbe.probe() }
        phases.append(PhaseTimes.line("kernel-probe", probeNs, "opcodeLast \(facts.opcodeLast)"))
        return Plan(selected: selected, baseline: baseline, facts: facts, phases: phases)
    }

    /// The runner with this command's options, kernel log markers and taint watch; and
    /// the taint at start (nil where the kernel does not say).
    private func makeRunner(facts: KernelFacts) -> (Runner, UInt64?) {
        var options = RunOptions()
        options.timeout = timeout
        options.exhaustive = exhaustive
        options.isolateAll = isolateAll
        let runner = Runner(facts: facts, options: options)
        runner.loadModule = ModuleHook.load
        if (announce || rf_is_pid1 != 0) && KernelLogMarkers.available() {
            runner.markers = KernelLogMarkers()
            runner.readKernelLog = { KernelLog.read() }
        }
        let taintAtStart = KernelTaint.read()
        if taintAtStart != nil { runner.readTaint = { KernelTaint.read() } }
        return (runner, taintAtStart)
    }

    /// Runs the plan, judging each result against the baseline. Results arrive in
    /// completion order; the stream prints them in plan order.
    private func runCases(_ plan: Plan, runner: Runner, stream: KTAPStream) -> [CaseResult] {
        let kernelVersion = KernelVersion.running(release: plan.facts.release, version: plan.facts.version)
        var collected = [CaseResult?](repeating: nil, count: plan.selected.count)
        var count = 0
        runner.runAll(plan.selected, jobs: jobs ?? Self.defaultJobs, started: { _ in }, finished: { i, r in
            let judged = KnownBugs.apply(plan.baseline, to: r, kernel: kernelVersion)
            collected[i] = judged
            count += 1
            let lines = stream.add(i, judged)
            if format == .ktap {
                lines.forEach { emit($0) }
                if verbose { emit(KTAPWriter.indent + "# \(cFormat("%.1f", judged.durationMs)) ms \(judged.id)") }
            } else if isatty(2) != 0 {
                warn("[\(count)/\(plan.selected.count)] \(judged.status.rawValue) \(judged.id)")
            }
        })
        return collected.compactMap { $0 }
    }

    /// The run's end on stdout: KTAP's totals (with --verbose the slowest cases), or the JSON or JUnit document.
    private func printReport(_ report: RunReport, stream: KTAPStream, durationMs: Double) throws {
        switch format {
        case .ktap:
            if verbose {
                emit("# slowest cases:")
                for r in report.cases.sorted(by: { $0.durationMs > $1.durationMs }).prefix(10) {
                    emit("#   \(cFormat("%8.1f", r.durationMs)) ms  \(r.id)")
                }
            }
            stream.finish(durationMs: durationMs).forEach { emit($0) }
        case .json:
            print(try report.json())
        case .junit:
            print(JUnitWriter().document(report))
        }
    }

    /// --results, and in the VM guest always: the results go out over the console (GuestResults).
    private func writeResults(_ report: RunReport, showPhases: Bool) throws {
        guard let path = results ?? (rf_is_pid1 != 0 ? GuestResults.path : nil) else { return }
        let (_, writeNs) = try PhaseTimes.measure {
            // The guest's own copy crosses the console to the host, which
            // knows each case's name and location: the transfer form.
            let toHost = results == nil
            do {
                try Data(report.json(pretty: rf_is_pid1 == 0, transferForm: toHost).utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
            } catch {
                warn("ringfence: --results \(path): cannot write (\(writableFileProblem(path) ?? "disk full?")); the KTAP above has the results")
                throw ExitCode(Exit.usage)
            }
        }
        if showPhases { phase(PhaseTimes.line("results-write", writeNs)) }
    }

    /// The default baseline may be absent (an empty one); a file named with
    /// --known-bugs must exist: a typo would silently drop the baseline. (In
    /// the VM guest the host has checked it and judges with its own copy.)
    private func loadKnownBugs() throws -> [KnownBug] {
        let path = knownBugs ?? PathText.join(SourceFilesPath.directory(of: cases), KnownBugs.fileName)
        if path == "none" { return [] }
        do { return try KnownBugs.load(path: path, compose: CaseSource.compose, required: knownBugs != nil && rf_is_pid1 == 0) } catch let e as CaseFileError {
            warn("ringfence: \(e)")
            throw ExitCode(Exit.usage)
        }
    }

    /// A phase line: on stdout with KTAP (a diagnostic there), else on stderr so JSON stays clean.
    private func phase(_ line: String) {
        if format == .ktap { emit(line) } else { warn(line) }
    }

    private func emit(_ line: String) {
        print(line)
        fflush(stdout)
    }
}

/// --filter: substring match, or a glob when the pattern has * or ?.
public enum CaseFilter {
    public static func matches(_ pattern: String, _ c: TestCase) -> Bool {
        if pattern.contains("*") || pattern.contains("?") {
            return fnmatch(pattern, c.id, 0) == 0 || fnmatch(pattern, c.name, 0) == 0
        }
        return c.id.contains(pattern) || c.name.contains(pattern)
    }
}

/// Where the guest wires libkmod; nil on the host (a missing module skips the case).
enum ModuleHook {
    nonisolated(unsafe) static var load: ((String) -> String?)? = nil
}
