#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import CRingfence
#if canImport(Glibc)
import Glibc
#endif

/// Where the "kernel" side of a differential run comes from.
public protocol FuzzTarget {
    /// Observations for each case, in order. `expected` gives the CQE counts to wait for.
    func run(_ cases: [FuzzCase], expected: [[Int]]) -> [FuzzObservation]
}

/// The running kernel: one forked child per batch (each case on its own ring), and a
/// grandchild for every case that registers task-level filters (they cannot be undone).
public final class LiveFuzzTarget: FuzzTarget {
    /// How long a submit waits for the CQEs the model predicted. The wait ends as soon as
    /// they are there, so it costs nothing unless one is missing. Longer than io-wq's
    /// WORKER_IDLE_TIMEOUT (5 s): before 7.3.2 ("io_uring/io-wq: don't go to sleep on pending
    /// work") an io-wq worker can go to sleep with work queued and take it up only when that
    /// sleep times out, so a correct CQE comes up to 5 s late (7.2.13, seed 2313 case 19570:
    /// missing at a 5 s wait, re-runs 0-2 ms). Load alone stayed far below: a 5-minute
    /// 7.3~rc7 run under load average 9-11 waited at most 147 ms (docs/model-and-fuzzing.md).
    public static let defaultTimeoutMs = 10000
    public var timeoutMs = LiveFuzzTarget.defaultTimeoutMs
    public init() {}

    public func run(_ cases: [FuzzCase], expected: [[Int]]) -> [FuzzObservation] {
        var out = runBatch(cases, expected: expected)
        // A child that died (or hung and met its alarm) leaves the rest of its batch
        // unobserved: run those cases one per child, so only the culprit stays empty.
        if out.count < cases.count && cases.count > 1 {
            for i in out.count..<cases.count { out.append(runBatch([cases[i]], expected: [expected[i]]).first ?? FuzzObservation()) }
        }
        return out + Array(repeating: FuzzObservation(), count: max(0, cases.count - out.count))
    }

    /// Observations for as many leading cases as the child reported.
    private func runBatch(_ cases: [FuzzCase], expected: [[Int]]) -> [FuzzObservation] {
        let kernel = LiveKernel()
        let timeout = timeoutMs
        // generous: every submit may wait its full CQE timeout
        let alarmSeconds = UInt32(10 + cases.count * (timeout / 1000 + 1) * 4)
        // One PipeFrame from the child: a line per case, an observation in its compact
        // form, or "!" where a case's grandchild gave none. (A JSON list of the
        // observations cost about a tenth of the throughput in a TCG guest.)
        let child = PipeFrame.runForked { () -> (value: String, exitCode: Int32) in
            alarm(alarmSeconds)
            var lines: [String] = []
            for (i, c) in cases.enumerated() {
                if c.usesTask {
                    let sub = PipeFrame.runForked { () -> (value: String, exitCode: Int32) in
                        (c.observe(on: kernel, expectedCQEs: expected[i], timeoutMs: timeout).compact, 0)
                    }
                    lines.append((try? sub?.frame.get()) ?? "!")
                } else {
                    lines.append(c.observe(on: kernel, expectedCQEs: expected[i], timeoutMs: timeout).compact)
                }
            }
            return (lines.joined(separator: "\n"), 0)
        }
        guard case .success(let text)? = child?.frame else { return [] }
        var out: [FuzzObservation] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: false).prefix(cases.count) {
            guard line != "!", let o = FuzzObservation(compact: String(line)) else { break }
            out.append(o)
        }
        return out
    }
}

/// Another backend in this process (model against model, for tests and host runs).
public final class BackendFuzzTarget: FuzzTarget {
    let make: () -> KernelBackend
    public init(_ make: @escaping () -> KernelBackend) { self.make = make }
    public func run(_ cases: [FuzzCase], expected: [[Int]]) -> [FuzzObservation] {
        cases.enumerated().map { $0.element.observe(on: make(), expectedCQEs: expected[$0.offset], timeoutMs: 0) }
    }
}

/// The differential loop: generate, run on the model and on the target, compare,
/// shrink and save what differs.
public final class Fuzzer {
    public struct Options {
        public var seed: UInt64 = 0
        /// The index of the first case (case N of a seed is always the same, so
        /// `first: N, count: 1` replays one case a longer run reported).
        public var first = 0
        public var count: Int?
        public var seconds: Double?
        public var saveDirectory: String?
        public var batchSize = 64
        public var shrinkBudget = 300
        /// How often a mismatching case is re-run, unshrunk, to tell a steady mismatch from a flaky one.
        public var reruns = 3
        /// How long the live target waits for the CQEs the model predicted, per submit (only
        /// the informational log line uses it here; LiveFuzzTarget.timeoutMs is the wait).
        public var cqeTimeoutMs = LiveFuzzTarget.defaultTimeoutMs
        public init() {}
    }

    public struct Mismatch {
        public var original: FuzzCase
        public var shrunk: FuzzCase
        public var model: FuzzObservation
        public var target: FuzzObservation
        public var savedAt: String?
        /// False when the shrunk case did not fail again and `shrunk` is the original.
        public var shrinkHeld = true
        /// The original case's first differing event (model vs kernel).
        public var difference: FuzzDifference?
        /// The original case re-run `reruns` times on model and target: how often it differed again.
        public var reproduced = 0
        public var reruns = 0
        /// Differed on the first run but not on every re-run: timing, or a race the model does
        /// not know about. Reported like any other mismatch, only labelled.
        public var flaky: Bool { reproduced < reruns }
        public var reproducedText: String { "reproduced \(reproduced) of \(reruns)" + (flaky ? " (flaky)" : "") }
    }

    public struct Report {
        public var seed: UInt64
        public var cases = 0
        public var mismatches: [Mismatch] = []
        /// Generator features and model outcomes of the cases run.
        public var features = FuzzFeatures()
        /// The kernel side's longest CQE wait per case (LiveKernel): how many cases waited
        /// at least 10 / 100 / 500 ms, the longest, and how many met the CQE timeout.
        public var cqeWaits = CQEWaits()
        public var seconds = 0.0
        /// Time spent shrinking mismatches (included in `seconds`).
        public var shrinkSeconds = 0.0
        public var perMinute: Double { seconds > 0 ? Double(cases) / seconds * 60 : 0 }
        /// Throughput of generation + both runs + comparison alone.
        public var perMinuteWithoutShrinking: Double {
            seconds - shrinkSeconds > 0 ? Double(cases) / (seconds - shrinkSeconds) * 60 : 0
        }
        public var flakyMismatches: Int { mismatches.filter(\.flaky).count }
        public var summary: String {
            "fuzz: seed \(seed), \(cases) cases, \(mismatches.count) mismatches"
                + (flakyMismatches > 0 ? " (\(flakyMismatches) flaky)" : "") + ", \(Int(perMinute.rounded()))/min"
        }
    }

    let options: Options
    let generator: FuzzGenerator
    let model: () -> KernelBackend
    let target: FuzzTarget
    public var log: (String) -> Void = { _ in }

    public init(options: Options, semantics: KernelSemantics = .upstream, target: FuzzTarget,
                model: (() -> KernelBackend)? = nil) {
        self.options = options
        self.generator = FuzzGenerator(semantics: semantics)
        self.model = model ?? { ReferenceKernel(semantics: semantics) }
        self.target = target
    }

    func modelObservation(_ c: FuzzCase) -> FuzzObservation {
        c.observe(on: model(), timeoutMs: 0)
    }

    /// nil when model and target agree.
    func compare(_ c: FuzzCase) -> (FuzzObservation, FuzzObservation)? {
        let m = modelObservation(c)
        let t = target.run([c], expected: [m.cqeCounts])[0]
        return FuzzComparison.firstDifference(model: m, kernel: t, for: c) == nil ? nil : (m, t)
    }

    public func run() -> Report {
        var report = Report(seed: options.seed)
        let start = rf_now_ns()
        func elapsed() -> Double { Double(rf_now_ns() - start) / 1e9 }
        var next = options.first
        while true {
            let done = next - options.first
            if let n = options.count, done >= n { break }
            if let s = options.seconds, elapsed() >= s { break }
            if options.count == nil && options.seconds == nil && done >= 1000 { break }
            let size = min(options.batchSize, options.count.map { $0 - done } ?? options.batchSize)
            let batch = (next..<(next + size)).map { generator.generate(seed: options.seed, index: $0) }
            next += size
            let predictions = batch.map(modelObservation)
            let observed = target.run(batch, expected: predictions.map(\.cqeCounts))
            report.cases += batch.count
            for (i, c) in batch.enumerated() { report.features.add(c, model: predictions[i]); report.cqeWaits.add(observed[i]) }
            for (i, c) in batch.enumerated() {
                guard let difference = FuzzComparison.firstDifference(model: predictions[i], kernel: observed[i], for: c) else { continue }
                let t0 = rf_now_ns()
                report.mismatches.append(handleMismatch(c, model: predictions[i], target: observed[i], difference: difference))
                report.shrinkSeconds += Double(rf_now_ns() - t0) / 1e9
            }
        }
        report.seconds = elapsed()
        return report
    }

    func handleMismatch(_ c: FuzzCase, model m: FuzzObservation, target t: FuzzObservation,
                        difference: FuzzDifference? = nil) -> Mismatch {
        // Re-run the original case (one child, each run on a fresh ring) before shrinking.
        let reruns = max(0, options.reruns)
        let again = reruns > 0 ? target.run(Array(repeating: c, count: reruns), expected: Array(repeating: m.cqeCounts, count: reruns)) : []
        let reproduced = again.filter { FuzzComparison.firstDifference(model: m, kernel: $0, for: c) != nil }.count
        var (shrunk, tries) = FuzzShrinker.shrink(c, budget: options.shrinkBudget) { compare($0) != nil }
        var sm = m, st = t
        let againShrunk = compare(shrunk)
        if let againShrunk {
            (sm, st) = againShrunk
        } else {
            // The shrunk case passed when run once more (timing): keep the original case with
            // its own observations, so a reproducer never pairs one case with another's results.
            shrunk = c
        }
        var mismatch = Mismatch(original: c, shrunk: shrunk, model: sm, target: st)
        mismatch.shrinkHeld = againShrunk != nil
        mismatch.difference = difference ?? FuzzComparison.firstDifference(model: m, kernel: t, for: c)
        mismatch.reproduced = reproduced
        mismatch.reruns = reruns
        let how = mismatch.shrinkHeld ? "shrunk in \(tries) tries" : "not shrunk: the shrunk case did not fail again"
        log("case \(c.index): mismatch\(mismatch.flaky ? " (flaky)" : ""), first differing \(mismatch.difference.map(String.init(describing:)) ?? "event: none")")
        log("case \(c.index):   model:  \(m)")
        log("case \(c.index):   kernel: \(t)")
        log("case \(c.index):   kernel's longest CQE wait \(t.cqeWaitMs) ms" + (t.cqeWaitTimedOut ? ", ended at the \(options.cqeTimeoutMs) ms CQE timeout with completions missing" : "") + "; re-runs: " + again.map { "\($0.cqeWaitMs) ms" + ($0.cqeWaitTimedOut ? " (timed out)" : "") }.joined(separator: ", "))
        log("case \(c.index):   \(mismatch.reproducedText) when re-run; \(how)" + (mismatch.shrinkHeld ? "; shrunk: model \(sm) / kernel \(st)" : ""))
        if let dir = options.saveDirectory {
            let path = PathText.join(dir, "fuzz-seed\(options.seed)-case\(c.index).yaml")
            let text = FuzzCaseWriter.yaml(shrunk, observed: st, seed: options.seed, modelSaid: sm, shrunk: mismatch.shrinkHeld)
            do {
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                try text.write(toFile: path, atomically: true, encoding: .utf8)
                mismatch.savedAt = path
            } catch {
                log("cannot write \(path): \(error)")
            }
        }
        return mismatch
    }
}

/// The distribution of the kernel side's longest CQE wait per case.
public struct CQEWaits: Sendable {
    public var cases = 0, atLeast10ms = 0, atLeast100ms = 0, atLeast500ms = 0, timedOut = 0, maxMs = 0
    public init() {}
    mutating func add(_ o: FuzzObservation) {
        cases += 1
        if o.cqeWaitMs >= 10 { atLeast10ms += 1 }
        if o.cqeWaitMs >= 100 { atLeast100ms += 1 }
        if o.cqeWaitMs >= 500 { atLeast500ms += 1 }
        if o.cqeWaitTimedOut { timedOut += 1 }
        maxMs = max(maxMs, o.cqeWaitMs)
    }
    public var summary: String {
        "\(cases) cases: longest \(maxMs) ms; >= 10 ms: \(atLeast10ms), >= 100 ms: \(atLeast100ms), >= 500 ms: \(atLeast500ms); met the CQE timeout: \(timedOut)"
    }
}
