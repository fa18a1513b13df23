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

public struct FuzzCommand: ParsableCommand {
    public init() {}
    public static let configuration = CommandConfiguration(
        commandName: "fuzz",
        abstract: "Differential fuzzing: random filters, registrations and SQEs on the running kernel vs the reference model.",
        discussion: """
        Each batch runs in a forked child on fresh rings; every difference from the model is
        reported with its first differing event (model vs kernel, raw and normalised) and both
        observations, re-run --reruns times ("reproduced K of N", flaky when K < N), then
        shrunk to a minimal case and, with --save, written as a case file. Ends with
        'fuzz: seed S, N cases, M mismatches, R/min'. Exit codes: 0 no mismatch, 1 mismatches,
        2 usage, 4 the kernel lacks IORING_REGISTER_BPF_FILTER.
        """)

    @Option(name: .long, parsing: .unconditional, help: "Seed; the same seed generates the same cases.")
    var seed: UInt64

    @Option(name: .long, parsing: .unconditional, help: "Index of the first case (with --count 1: replay the case a longer run reported).")
    var from: Int = 0

    @Option(name: .long, parsing: .unconditional, help: "Number of cases.")
    var count: Int?

    @Option(name: .long, help: "Run for this long: seconds, or with a suffix s, m or h (e.g. 90s, 5m).")
    var time: String?

    @Option(name: .long, help: "Write each shrunk mismatch as a case file into this directory.")
    var save: String?

    @Option(name: .long, help: ArgumentHelp("Kernel flavour the model follows: auto (the running kernel's version), upstream (7.3.4), before-7.3.2, or an upstream version such as 7.0.13.", valueName: "flavour"))
    var flavour: String = "auto"

    @Option(name: .long, help: ArgumentHelp("Compare the model against a second model flavour instead of the kernel (for testing the fuzzer on any host).", visibility: .hidden))
    var modelVs: String?

    @Flag(name: .long, help: "Also print each shrunk reproducer (YAML) to standard output, e.g. from a VM console.")
    var printReproducers = false

    @Flag(name: .long, help: "Print a KTAP document (one test, the log as diagnostics); the default in the VM guest, where run-in-vm.sh judges the console as KTAP.")
    var ktap = false

    @Option(name: .long, parsing: .unconditional, help: "Cases per forked child.")
    var batch: Int = 64

    @Option(name: .long, help: "How long to wait for the CQEs the model predicted, per submit, in ms, before the kernel's observation is taken as it is.")
    var cqeTimeout: Int = LiveFuzzTarget.defaultTimeoutMs

    @Option(name: .long, help: "Re-run each mismatching case this many times (unshrunk) to tell a steady mismatch from a flaky one.")
    var reruns: Int = 3

    public func validate() throws {
        if count == nil && time == nil { throw ValidationError("give --count N or --time T") }
        if from < 0 { throw ValidationError("--from must be 0 or more, not \(from)") }
        if let c = count, c <= 0 { throw ValidationError("--count must be positive, not \(c)") }
        if batch < 1 || batch > 1_000_000 { throw ValidationError("--batch must be 1 to 1000000, not \(batch)") }
        if let t = time, Self.seconds(t) == nil { throw ValidationError("--time takes seconds or 90s / 5m / 1h") }
        if flavour != "auto" && Self.semantics(flavour) == nil { throw ValidationError("--flavour is auto, upstream, before-7.3.2 or a version such as 7.1.3 (got '\(flavour)')") }
        if let m = modelVs, Self.semantics(m) == nil { throw ValidationError("--model-vs is upstream, before-7.3.2 or a version such as 7.1.3 (got '\(m)')") }
        if batch <= 0 { throw ValidationError("--batch must be positive") }
        if cqeTimeout < 1 || cqeTimeout > 600_000 { throw ValidationError("--cqe-timeout must be 1 to 600000 ms, not \(cqeTimeout)") }
        if reruns < 0 { throw ValidationError("--reruns must be 0 or more") }
    }

    static func seconds(_ text: String) -> Double? {
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600]
        if let last = text.last, let mult = units[last], let v = Double(text.dropLast()), v > 0 { return v * mult }
        if let v = Double(text), v > 0 { return v }
        return nil
    }

    static func semantics(_ name: String) -> KernelSemantics? {
        switch name {
        case "upstream": return .upstream
        case "before-7.3.2": return .before732
        default: return KernelVersion(name).map { .of(kernel: $0) }
        }
    }

    public func run() throws {
        // In the VM guest: KTAP for the console verdict, reproducers where they travel back to the host.
        let inGuest = rf_is_pid1 != 0
        let asKTAP = ktap || inGuest
        let saveDirectory = save ?? (inGuest ? GuestResults.directory : nil)
        if asKTAP { print("KTAP version 1"); print("1..1") }
        var semantics = Self.semantics(flavour) ?? .upstream   // "auto" is settled below
        let target: FuzzTarget
        if let other = modelVs {
            let s = Self.semantics(other)!
            target = BackendFuzzTarget { ReferenceKernel(semantics: s) }
        } else {
            let facts = KernelProbe.probe()
            guard facts.bpfFilter else {
                warn("ringfence fuzz: kernel \(facts.release) lacks IORING_REGISTER_BPF_FILTER; nothing to fuzz")
                if asKTAP { print("ok 1 fuzz # SKIP kernel lacks IORING_REGISTER_BPF_FILTER") }
                throw ExitCode(Exit.skipped)
            }
            if flavour == "auto", let v = KernelVersion.running(release: facts.release, version: facts.version) {
                semantics = .of(kernel: v)
            }
            semantics.opcodeLast = facts.opcodeLast
            semantics.connectHasContext = (facts.contextSizes[Opcode.connect] ?? 0) > 0
            let live = LiveFuzzTarget()
            live.timeoutMs = cqeTimeout
            target = live
        }
        var options = Fuzzer.Options()
        options.seed = seed
        options.first = from
        options.count = count
        options.seconds = time.flatMap(Self.seconds)
        options.saveDirectory = saveDirectory
        options.batchSize = batch
        options.reruns = reruns
        options.cqeTimeoutMs = cqeTimeout
        let fuzzer = Fuzzer(options: options, semantics: semantics, target: target)
        fuzzer.log = { print("# " + $0); fflush(stdout) }
        fuzzer.log("model flavour: \(semantics)")
        let report = fuzzer.run()
        for m in report.mismatches {
            print("# mismatch: case \(m.original.index), \(m.difference.map(String.init(describing:)) ?? "no differing event"); \(m.reproducedText) when re-run")
            if let p = m.savedAt { print("# saved \(p)") }
            if printReproducers {
                let yaml = FuzzCaseWriter.yaml(m.shrunk, observed: m.target, seed: seed, modelSaid: m.model, shrunk: m.shrinkHeld)
                if asKTAP { yaml.split(separator: "\n").forEach { print("# " + $0) } } else { print(yaml, terminator: "") }
            }
        }
        print("# features reached (cases): \(report.features.summary)")
        if modelVs == nil {
            print("# kernel CQE wait per case (timeout \(cqeTimeout) ms): \(report.cqeWaits.summary)")
            if report.cqeWaits.atLeast500ms > 0 {
                print("# note: \(report.cqeWaits.atLeast500ms) case(s) waited >= 500 ms for a CQE (not a mismatch when it came); before 7.3.2 io-wq can leave queued work for up to WORKER_IDLE_TIMEOUT (5 s): 'io_uring/io-wq: don't go to sleep on pending work' (Debian 7.3.3-1, upstream ChangeLog-7.3.2; docs/model-and-fuzzing.md)")
            }
        }
        print("# \(cFormat("%.1f", report.seconds)) s, of which shrinking \(cFormat("%.1f", report.shrinkSeconds)) s; \(Int(report.perMinuteWithoutShrinking.rounded()))/min without shrinking")
        if asKTAP {
            print("# " + report.summary)
            let flaky = report.flakyMismatches
            print(report.mismatches.isEmpty ? "ok 1 fuzz" : "not ok 1 fuzz # \(report.mismatches.count) mismatches" + (flaky > 0 ? " (\(flaky) flaky)" : ""))
        } else {
            print(report.summary)
        }
        throw ExitCode(report.mismatches.isEmpty ? Exit.ok : Exit.failed)
    }
}
